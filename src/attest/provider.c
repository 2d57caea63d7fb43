/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Evidence providers behind one interface: "tsm" (Linux configfs-tsm inside
 * a TD) and "sim" (software TD, see sim.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "internal.h"
#include "sim.h"

#define TSM_DEFAULT_ROOT "/sys/kernel/config/tsm/report"

enum { PROV_TSM = 1, PROV_SIM = 2 };

struct attest_provider {
	int kind;
	char *tsm_root;
	struct sim_td *sim;
};

int (*attest_tsm_mkdir_hook)(const char *path);
int (*attest_tsm_rmdir_hook)(const char *path);

int attest_provider_new(const char *name, const struct attest_provider_opts *opts,
			struct attest_provider **ret)
{
	if (!name || !ret)
		return -EINVAL;
	struct attest_provider *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	int r = 0;
	if (strcmp(name, "tsm") == 0) {
		p->kind = PROV_TSM;
		const char *root = opts && opts->tsm_root ? opts->tsm_root : TSM_DEFAULT_ROOT;
		p->tsm_root = strdup(root);
		if (!p->tsm_root)
			r = -ENOMEM;
		else if (access(root, W_OK | X_OK) < 0) {
			r = -errno;
			cc_log(CC_LOG_ERROR, ATTEST_LOG, "tsm: cannot use '%s': %s (not in a TD, or configfs-tsm not mounted?)",
			       root, cc_strerror(r));
		}
	} else if (strcmp(name, "sim") == 0) {
		p->kind = PROV_SIM;
		if (!opts || !opts->sim_dir) {
			cc_log(CC_LOG_ERROR, ATTEST_LOG, "sim: no sim directory given");
			r = -EINVAL;
		} else {
			r = sim_td_new(opts, &p->sim);
		}
	} else {
		r = ATTEST_E_UNSUPPORTED;
	}
	if (r < 0) {
		attest_provider_free(p);
		return r;
	}
	*ret = p;
	return 0;
}

void attest_provider_free(struct attest_provider *p)
{
	if (!p)
		return;
	free(p->tsm_root);
	sim_td_free(p->sim);
	free(p);
}

/* ---- configfs-tsm ---- */

static int attr_path(char *buf, size_t n, const char *entry, const char *attr)
{
	return (size_t)snprintf(buf, n, "%s/%s", entry, attr) >= n ? -ENAMETOOLONG : 0;
}

static int read_attr(const char *entry, const char *attr, size_t max, uint8_t **ret, size_t *ret_len)
{
	char path[4096];
	int r = attr_path(path, sizeof(path), entry, attr);
	if (r < 0)
		return r;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct cc_buf b;
	cc_buf_init(&b, max, false);
	for (;;) {
		uint8_t tmp[4096];
		ssize_t k = read(fd, tmp, sizeof(tmp));
		if (k < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (k == 0)
			break;
		if ((r = cc_buf_append(&b, tmp, (size_t)k)) < 0)
			break;
	}
	close(fd);
	if (r < 0) {
		cc_buf_free(&b);
		return r == CC_E_TOOBIG ? ATTEST_E_QUOTE_TOOBIG : r;
	}
	*ret = cc_buf_steal(&b, ret_len);
	if (!*ret) {
		*ret = calloc(1, 1);
		*ret_len = 0;
		if (!*ret)
			return -ENOMEM;
	}
	return 0;
}

static int read_u64_attr(const char *entry, const char *attr, uint64_t *ret)
{
	uint8_t *b;
	size_t n;
	int r = read_attr(entry, attr, 64, &b, &n);
	if (r < 0)
		return r;
	while (n && (b[n - 1] == '\n' || b[n - 1] == ' '))
		b[--n] = 0;
	r = cc_parse_u64((const char *)b, ret);
	free(b);
	return r < 0 ? ATTEST_E_PROVIDER : 0;
}

static int write_attr(const char *entry, const char *attr, const void *data, size_t len)
{
	char path[4096];
	int r = attr_path(path, sizeof(path), entry, attr);
	if (r < 0)
		return r;
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t k;
	do {
		k = write(fd, data, len);
	} while (k < 0 && errno == EINTR);
	r = k < 0 ? -errno : (size_t)k != len ? -EIO : 0;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

static int tsm_quote(struct attest_provider *p, const uint8_t report_data[64], uint8_t **ret,
		     size_t *ret_len)
{
	char entry[4096];
	uint8_t rnd[8];
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return -EIO;
	char rh[17];
	cc_hex_encode(rnd, sizeof(rnd), rh, sizeof(rh));
	if ((size_t)snprintf(entry, sizeof(entry), "%s/ccserve-%d-%s", p->tsm_root, (int)getpid(), rh) >=
	    sizeof(entry))
		return -ENAMETOOLONG;
	int r = attest_tsm_mkdir_hook ? attest_tsm_mkdir_hook(entry) : (mkdir(entry, 0700) < 0 ? -errno : 0);
	if (r < 0) {
		cc_log(CC_LOG_ERROR, ATTEST_LOG, "tsm: cannot create report entry: %s", cc_strerror(r));
		return r;
	}
	uint8_t *prov = NULL, *out = NULL;
	size_t plen = 0, olen = 0;
	uint64_t g1 = 0, g2 = 0;
	if ((r = write_attr(entry, "inblob", report_data, 64)) < 0) {
		cc_log(CC_LOG_ERROR, ATTEST_LOG, "tsm: writing inblob: %s", cc_strerror(r));
		goto out;
	}
	if ((r = read_attr(entry, "provider", 64, &prov, &plen)) < 0)
		goto out;
	while (plen && (prov[plen - 1] == '\n'))
		prov[--plen] = 0;
	if (strcmp((const char *)prov, "tdx_guest") != 0) {
		cc_log(CC_LOG_ERROR, ATTEST_LOG, "tsm: provider is \"%.32s\", not tdx_guest", (const char *)prov);
		r = ATTEST_E_PROVIDER;
		goto out;
	}
	if ((r = read_u64_attr(entry, "generation", &g1)) < 0)
		goto out;
	if ((r = read_attr(entry, "outblob", ATTEST_QUOTE_MAX, &out, &olen)) < 0) {
		cc_log(CC_LOG_ERROR, ATTEST_LOG, "tsm: reading outblob: %s", attest_strerror(r));
		goto out;
	}
	if ((r = read_u64_attr(entry, "generation", &g2)) < 0)
		goto out;
	/* one write to a fresh entry: generation 1, unchanged across the read */
	if (g1 != 1 || g2 != g1) {
		cc_log(CC_LOG_ERROR, ATTEST_LOG, "tsm: report entry written concurrently (generation %llu/%llu)",
		       (unsigned long long)g1, (unsigned long long)g2);
		r = ATTEST_E_PROVIDER_RACE;
		goto out;
	}
	if (olen == 0) {
		r = ATTEST_E_PROVIDER;
		goto out;
	}
	*ret = out;
	*ret_len = olen;
	out = NULL;
out:
	free(prov);
	free(out);
	int rr = attest_tsm_rmdir_hook ? attest_tsm_rmdir_hook(entry) : (rmdir(entry) < 0 ? -errno : 0);
	if (rr < 0)
		cc_log(CC_LOG_WARN, ATTEST_LOG, "tsm: cannot remove report entry: %s", cc_strerror(rr));
	return r;
}

int attest_provider_get_quote(struct attest_provider *p, const uint8_t report_data[64],
			      uint8_t **ret_quote, size_t *ret_len)
{
	if (!p || !report_data || !ret_quote || !ret_len)
		return -EINVAL;
	if (p->kind == PROV_TSM)
		return tsm_quote(p, report_data, ret_quote, ret_len);
	if (p->kind == PROV_SIM)
		return sim_td_quote(p->sim, report_data, ret_quote, ret_len);
	return ATTEST_E_UNSUPPORTED;
}
