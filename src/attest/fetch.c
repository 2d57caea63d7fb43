/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Collateral fetch from an Intel PCS v4 compatible service (Intel PCS or a
 * PCCS), with a cache keyed by FMSPC that is reused until the earliest
 * nextUpdate of its parts.  Everything fetched is parsed (and must load as
 * collateral) before it is written; signatures are checked at verification
 * time against the pinned root.
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <curl/curl.h>
#include <openssl/x509.h>

#include "internal.h"

#define FETCH_BODY_MAX (1u << 20)
#define FETCH_HEADER_MAX (64u * 1024u)
#define URL_MAX 2048

struct response {
	struct cc_buf body;
	struct cc_buf header; /* value of the wanted header */
	const char *want_header;
	bool overflow;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct response *r = ud;
	size_t len;
	if (!cc_mul_ok(size, n, &len) || cc_buf_append(&r->body, p, len) < 0) {
		r->overflow = true;
		return 0;
	}
	return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct response *r = ud;
	size_t len;
	if (!cc_mul_ok(size, n, &len))
		return 0;
	size_t wl = r->want_header ? strlen(r->want_header) : 0;
	if (wl && len > wl + 1 && strncasecmp(p, r->want_header, wl) == 0 && p[wl] == ':') {
		const char *v = p + wl + 1;
		size_t vl = len - wl - 1;
		while (vl && (*v == ' ' || *v == '\t')) {
			v++;
			vl--;
		}
		while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
			vl--;
		cc_buf_reset(&r->header);
		if (cc_buf_append(&r->header, v, vl) < 0) {
			r->overflow = true;
			return 0;
		}
	}
	return len;
}

static int hexdig(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Percent-decoding in place (issuer chains come URL-encoded). */
static int url_decode(struct cc_buf *b)
{
	size_t o = 0;
	for (size_t i = 0; i < b->len; i++) {
		if (b->data[i] == '%') {
			if (i + 2 >= b->len)
				return ATTEST_E_FETCH;
			int h = hexdig(b->data[i + 1]), l = hexdig(b->data[i + 2]);
			if (h < 0 || l < 0)
				return ATTEST_E_FETCH;
			b->data[o++] = (uint8_t)(h << 4 | l);
			i += 2;
		} else {
			b->data[o++] = b->data[i];
		}
	}
	b->len = o;
	if (b->data)
		b->data[o] = 0;
	return 0;
}

static int http_get(const char *url, const char *ca_file, const char *want_header, struct response *r)
{
	cc_buf_init(&r->body, FETCH_BODY_MAX, false);
	cc_buf_init(&r->header, FETCH_HEADER_MAX, false);
	r->want_header = want_header;
	r->overflow = false;
	CURL *c = curl_easy_init();
	if (!c)
		return -ENOMEM;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE, (long)FETCH_BODY_MAX);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "ccattest/1");
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
	CURLcode cr = curl_easy_perform(c);
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	if (cr != CURLE_OK || r->overflow) {
		cc_log(CC_LOG_ERROR, ATTEST_LOG, "fetch %s: %s", url,
		       r->overflow ? "response too large" : curl_easy_strerror(cr));
		return ATTEST_E_FETCH;
	}
	if (status != 200) {
		cc_log(CC_LOG_ERROR, ATTEST_LOG, "fetch %s: HTTP status %ld", url, status);
		return ATTEST_E_FETCH;
	}
	if (want_header && r->header.len == 0) {
		cc_log(CC_LOG_ERROR, ATTEST_LOG, "fetch %s: response lacks the %s header", url, want_header);
		return ATTEST_E_FETCH;
	}
	if (want_header)
		return url_decode(&r->header);
	return 0;
}

static void response_free(struct response *r)
{
	cc_buf_free(&r->body);
	cc_buf_free(&r->header);
}

static int write_in(const char *dir, const char *name, const void *d, size_t n)
{
	char p[4096];
	if ((size_t)snprintf(p, sizeof(p), "%s/%s", dir, name) >= sizeof(p))
		return -ENAMETOOLONG;
	return cc_file_write_atomic(p, d, n, 0644);
}

static int mkdirs(const char *dir)
{
	char p[4096];
	if ((size_t)snprintf(p, sizeof(p), "%s", dir) >= sizeof(p))
		return -ENAMETOOLONG;
	for (char *s = p + 1; *s; s++) {
		if (*s == '/') {
			*s = 0;
			if (mkdir(p, 0755) < 0 && errno != EEXIST)
				return -errno;
			*s = '/';
		}
	}
	if (mkdir(p, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static const char *const coll_files[] = {
	"tcb_info.json", "tcb_info_issuer_chain.pem", "qe_identity.json",
	"qe_identity_issuer_chain.pem", "pck_crl.der", "pck_crl_issuer_chain.pem", "root_ca_crl.der",
};

static int copy_dir(const char *from, const char *to)
{
	int r = mkdirs(to);
	for (size_t i = 0; i < CC_ARRAY_SIZE(coll_files) && r == 0; i++) {
		char p[4096];
		if ((size_t)snprintf(p, sizeof(p), "%s/%s", from, coll_files[i]) >= sizeof(p))
			return -ENAMETOOLONG;
		uint8_t *b;
		size_t n;
		if ((r = cc_file_read(p, ATTEST_COLLATERAL_FILE_MAX, false, &b, &n)) < 0)
			return r;
		r = write_in(to, coll_files[i], b, n);
		free(b);
	}
	return r;
}

/* "platform" or "processor", from the quote's PCK CA name. */
static int pck_ca_kind(const struct attest_quote *q, const char **ret)
{
	STACK_OF(X509) *chain = NULL;
	int r = attest_chain_certs(q->pck_chain_pem, q->pck_chain_len, &chain);
	if (r < 0)
		return r;
	if (sk_X509_num(chain) < 2) {
		sk_X509_pop_free(chain, X509_free);
		return ATTEST_E_CHAIN;
	}
	char cn[256] = "";
	X509_NAME_get_text_by_NID(X509_get_subject_name(sk_X509_value(chain, 1)), NID_commonName, cn,
				  sizeof(cn));
	sk_X509_pop_free(chain, X509_free);
	if (strstr(cn, "Processor"))
		*ret = "processor";
	else if (strstr(cn, "Platform"))
		*ret = "platform";
	else
		return ATTEST_E_CHAIN;
	return 0;
}

/* Root CA CRL bodies come as DER, PEM or (older PCCS) hex text. */
static int crl_body_to_der(struct cc_buf *b)
{
	size_t n = b->len;
	while (n && isspace(b->data[n - 1]))
		n--;
	bool hex = n > 0 && n % 2 == 0;
	for (size_t i = 0; i < n && hex; i++)
		hex = isxdigit(b->data[i]);
	if (!hex)
		return 0;
	size_t got;
	if (cc_hex_decode((const char *)b->data, n, b->data, n, &got) < 0)
		return ATTEST_E_FETCH;
	b->len = got;
	return 0;
}

static int fetch_all(const char *base, const char *ca_file, const uint8_t fmspc[6], const char *ca,
		     const char *dir)
{
	char url[URL_MAX], fm[13];
	cc_hex_encode(fmspc, 6, fm, sizeof(fm));
	for (char *s = fm; *s; s++)
		*s = (char)toupper(*s);
	size_t bl = strlen(base);
	while (bl && base[bl - 1] == '/')
		bl--;
	struct response r;
	int rc;
	memset(&r, 0, sizeof(r));

#define GET(fmt, ...)                                                                              \
	do {                                                                                       \
		if ((size_t)snprintf(url, sizeof(url), fmt, (int)bl, base, ##__VA_ARGS__) >= sizeof(url)) \
			return ATTEST_E_FETCH;                                                     \
	} while (0)

	GET("%.*s/tdx/certification/v4/tcb?fmspc=%s", fm);
	if ((rc = http_get(url, ca_file, "TCB-Info-Issuer-Chain", &r)) < 0 ||
	    (rc = write_in(dir, "tcb_info.json", r.body.data, r.body.len)) < 0 ||
	    (rc = write_in(dir, "tcb_info_issuer_chain.pem", r.header.data, r.header.len)) < 0)
		goto out;
	response_free(&r);
	GET("%.*s/tdx/certification/v4/qe/identity");
	if ((rc = http_get(url, ca_file, "SGX-Enclave-Identity-Issuer-Chain", &r)) < 0 ||
	    (rc = write_in(dir, "qe_identity.json", r.body.data, r.body.len)) < 0 ||
	    (rc = write_in(dir, "qe_identity_issuer_chain.pem", r.header.data, r.header.len)) < 0)
		goto out;
	response_free(&r);
	GET("%.*s/sgx/certification/v4/pckcrl?ca=%s&encoding=der", ca);
	if ((rc = http_get(url, ca_file, "SGX-PCK-CRL-Issuer-Chain", &r)) < 0 ||
	    (rc = crl_body_to_der(&r.body)) < 0 ||
	    (rc = write_in(dir, "pck_crl.der", r.body.data, r.body.len)) < 0 ||
	    (rc = write_in(dir, "pck_crl_issuer_chain.pem", r.header.data, r.header.len)) < 0)
		goto out;
	response_free(&r);
	GET("%.*s/sgx/certification/v4/rootcacrl");
	if ((rc = http_get(url, ca_file, NULL, &r)) < 0 || (rc = crl_body_to_der(&r.body)) < 0 ||
	    (rc = write_in(dir, "root_ca_crl.der", r.body.data, r.body.len)) < 0)
		goto out;
#undef GET
out:
	response_free(&r);
	return rc;
}

int attest_collateral_fetch(const char *base_url, const struct attest_quote *q,
			    const char *out_dir, const char *cache_dir, int64_t now)
{
	struct attest_fetch_opts o = { .base_url = base_url, .out_dir = out_dir,
				       .cache_dir = cache_dir, .now = now };
	return attest_collateral_fetch_opts(&o, q);
}

int attest_collateral_fetch_opts(const struct attest_fetch_opts *o, const struct attest_quote *q)
{
	if (!o || !o->base_url || !q || !o->out_dir)
		return -EINVAL;
	const char *base_url = o->base_url, *out_dir = o->out_dir, *cache_dir = o->cache_dir;
	int64_t now = o->now;
	if (strncmp(base_url, "https://", 8) != 0 && strncmp(base_url, "http://", 7) != 0)
		return ATTEST_E_FETCH;
	uint8_t fmspc[6];
	const char *ca;
	int r = attest_quote_pck_info(q, fmspc, NULL);
	if (r < 0)
		return r;
	if ((r = pck_ca_kind(q, &ca)) < 0)
		return r;
	char fm[13], cdir[4096];
	cc_hex_encode(fmspc, 6, fm, sizeof(fm));
	if (cache_dir) {
		if ((size_t)snprintf(cdir, sizeof(cdir), "%s/%s-%s", cache_dir, fm, ca) >= sizeof(cdir))
			return -ENAMETOOLONG;
		struct attest_collateral *c = NULL;
		if (attest_collateral_load_dir(cdir, &c) == 0) {
			int64_t nb, na;
			attest_collateral_info(c, NULL, &nb, &na);
			attest_collateral_free(c);
			if (now < na) {
				cc_log(CC_LOG_INFO, ATTEST_LOG, "collateral for FMSPC %s from cache (valid until nextUpdate)", fm);
				return copy_dir(cdir, out_dir);
			}
		}
	}
	static bool curl_ready;
	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return -ENOMEM;
		curl_ready = true;
	}
	if ((r = mkdirs(out_dir)) < 0)
		return r;
	if ((r = fetch_all(base_url, o->ca_file, fmspc, ca, out_dir)) < 0)
		return r;
	/* it must load as collateral, and be for this FMSPC */
	struct attest_collateral *c = NULL;
	if ((r = attest_collateral_load_dir(out_dir, &c)) < 0)
		return r;
	uint8_t cf[6];
	attest_collateral_info(c, cf, NULL, NULL);
	attest_collateral_free(c);
	if (memcmp(cf, fmspc, 6) != 0)
		return ATTEST_E_FMSPC_MISMATCH;
	if (cache_dir && (r = copy_dir(out_dir, cdir)) < 0)
		cc_log(CC_LOG_WARN, ATTEST_LOG, "cannot update the collateral cache: %s", cc_strerror(r));
	return 0;
}
