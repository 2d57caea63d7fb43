/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ccserve/util.h"

static void *xalloc(size_t n, bool secure)
{
	return secure ? cc_secure_alloc(n) : malloc(n);
}

static void xfree(void *p, bool secure)
{
	if (secure)
		cc_secure_free(p);
	else
		free(p);
}

int cc_file_read(const char *path, size_t max, bool secure, uint8_t **ret, size_t *ret_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	if (S_ISDIR(st.st_mode)) {
		close(fd);
		return -EISDIR;
	}
	if (max >= SIZE_MAX - 1)
		max = SIZE_MAX - 2;

	size_t cap;
	if (S_ISREG(st.st_mode)) {
		if ((uint64_t)st.st_size > max) {
			close(fd);
			return CC_E_TOOBIG;
		}
		cap = (size_t)st.st_size + 1;
	} else {
		/* Pipes, character devices: read until EOF under the cap. */
		cap = 4096 < max + 1 ? 4096 : max + 1;
	}

	uint8_t *buf = xalloc(cap, secure);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	size_t len = 0;
	int rc = 0;
	for (;;) {
		if (len + 1 >= cap) {
			if (len >= max) {
				/* One more byte would exceed the cap: probe for EOF. */
				char probe;
				ssize_t n = read(fd, &probe, 1);
				if (n > 0)
					rc = CC_E_TOOBIG;
				else if (n < 0)
					rc = -errno;
				break;
			}
			size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			uint8_t *nb = xalloc(ncap, secure);
			if (!nb) {
				rc = -ENOMEM;
				break;
			}
			memcpy(nb, buf, len);
			cc_wipe(buf, len);
			xfree(buf, secure);
			buf = nb;
			cap = ncap;
		}
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (rc < 0) {
		cc_wipe(buf, cap);
		xfree(buf, secure);
		return rc;
	}
	buf[len] = '\0';
	if (secure) {
		/* Record the real length for cc_secure_size users. */
		uint8_t *exact = cc_secure_alloc(len + 1);
		if (!exact) {
			cc_secure_free(buf);
			return -ENOMEM;
		}
		memcpy(exact, buf, len + 1);
		cc_secure_free(buf);
		buf = exact;
	}
	*ret = buf;
	if (ret_len)
		*ret_len = len;
	return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
	const uint8_t *p = data;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int fsync_parent(const char *path)
{
	char *copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	const char *dir = dirname(copy);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;
	if (dfd < 0)
		rc = -errno;
	else {
		if (fsync(dfd) < 0 && errno != EINVAL)
			rc = -errno;
		close(dfd);
	}
	free(copy);
	return rc;
}

int cc_file_write_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
	size_t plen = strlen(path);
	char *tmp = malloc(plen + 16);
	if (!tmp)
		return -ENOMEM;
	snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		int e = -errno;
		free(tmp);
		return e;
	}
	int rc = 0;
	if (fchmod(fd, (mode_t)mode) < 0)
		rc = -errno;
	if (!rc)
		rc = write_all(fd, data, len);
	if (!rc && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path) < 0)
		rc = -errno;
	if (rc) {
		unlink(tmp);
		free(tmp);
		return rc;
	}
	free(tmp);
	return fsync_parent(path);
}

int cc_file_write_new(const char *path, const void *data, size_t len, unsigned mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)mode);
	if (fd < 0)
		return -errno;
	int rc = write_all(fd, data, len);
	if (!rc && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && !rc)
		rc = -errno;
	if (rc)
		unlink(path);
	return rc;
}
