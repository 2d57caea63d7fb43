/* SPDX-License-Identifier: Apache-2.0 */
/* X.509, CRL and ECDSA helpers on OpenSSL 3, and the PCK SGX extensions. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "internal.h"

#define PEM_CERTS_MAX 8

int attest_pem_certs(const void *pem, size_t len, STACK_OF(X509) **ret)
{
	if (len > INT32_MAX)
		return ATTEST_E_BAD_PEM;
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio)
		return -ENOMEM;
	STACK_OF(X509) *sk = sk_X509_new_null();
	if (!sk) {
		BIO_free(bio);
		return -ENOMEM;
	}
	int r = 0;
	for (;;) {
		X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		if (!x) {
			unsigned long e = ERR_peek_last_error();
			if (ERR_GET_REASON(e) == PEM_R_NO_START_LINE && sk_X509_num(sk) > 0)
				ERR_clear_error();
			else
				r = ATTEST_E_BAD_PEM;
			break;
		}
		if (sk_X509_num(sk) >= PEM_CERTS_MAX || !sk_X509_push(sk, x)) {
			X509_free(x);
			r = sk_X509_num(sk) >= PEM_CERTS_MAX ? ATTEST_E_BAD_PEM : -ENOMEM;
			break;
		}
	}
	ERR_clear_error();
	BIO_free(bio);
	if (r < 0) {
		sk_X509_pop_free(sk, X509_free);
		return r;
	}
	*ret = sk;
	return 0;
}

static bool looks_pem(const void *data, size_t len)
{
	static const char tag[] = "-----BEGIN";
	const char *p = data;
	for (size_t i = 0; i + sizeof(tag) - 1 <= len && i < 64; i++)
		if (memcmp(p + i, tag, sizeof(tag) - 1) == 0)
			return true;
	return false;
}

static bool looks_pem(const void *data, size_t len);

/* Concatenated DER certificates (some producers write type 5 data so). */
static int der_certs(const uint8_t *p, size_t len, STACK_OF(X509) **ret)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	if (!sk)
		return -ENOMEM;
	const uint8_t *end = p + len;
	while (p < end) {
		const unsigned char *q = p;
		X509 *x = d2i_X509(NULL, &q, (long)(end - p));
		if (!x || sk_X509_num(sk) >= PEM_CERTS_MAX || !sk_X509_push(sk, x)) {
			X509_free(x);
			sk_X509_pop_free(sk, X509_free);
			ERR_clear_error();
			return ATTEST_E_BAD_PEM;
		}
		p = q;
	}
	*ret = sk;
	return 0;
}

/* Leaf first, each certificate followed by its issuer. */
static int order_chain(STACK_OF(X509) *sk)
{
	int n = sk_X509_num(sk);
	X509 *v[PEM_CERTS_MAX], *out[PEM_CERTS_MAX];
	bool used[PEM_CERTS_MAX] = { false };
	for (int i = 0; i < n; i++)
		v[i] = sk_X509_value(sk, i);
	int leaf = -1;
	for (int i = 0; i < n && leaf < 0; i++) {
		bool issues = false;
		for (int k = 0; k < n; k++)
			if (k != i && X509_check_issued(v[i], v[k]) == X509_V_OK)
				issues = true;
		if (!issues)
			leaf = i;
	}
	if (leaf < 0)
		return ATTEST_E_CHAIN;
	out[0] = v[leaf];
	used[leaf] = true;
	for (int m = 1; m < n; m++) {
		int next = -1;
		for (int k = 0; k < n && next < 0; k++)
			if (!used[k] && X509_check_issued(v[k], out[m - 1]) == X509_V_OK)
				next = k;
		if (next < 0)
			return ATTEST_E_CHAIN;
		out[m] = v[next];
		used[next] = true;
	}
	for (int i = 0; i < n; i++)
		sk_X509_set(sk, i, out[i]);
	return 0;
}

/* Split PEM certificates into DER blobs without OpenSSL's decoder, so
 * known certificates can be recognised by their bytes before any costly
 * parse.  Each blob is malloc'd. */
static int pem_split(const char *p, size_t len, uint8_t **ders, size_t *lens, int max, int *ret_n)
{
	static const char beg[] = "-----BEGIN CERTIFICATE-----";
	static const char end[] = "-----END CERTIFICATE-----";
	int n = 0;
	size_t off = 0;
	for (;;) {
		const char *b = memmem(p + off, len - off, beg, sizeof(beg) - 1);
		if (!b)
			break;
		size_t bs = (size_t)(b - p) + sizeof(beg) - 1;
		const char *e = memmem(p + bs, len - bs, end, sizeof(end) - 1);
		if (!e || n >= max)
			return ATTEST_E_BAD_PEM;
		size_t es = (size_t)(e - p);
		char *txt = malloc(es - bs + 1);
		if (!txt)
			return -ENOMEM;
		size_t t = 0;
		for (size_t i = bs; i < es; i++) {
			char ch = p[i];
			if (ch == '\n' || ch == '\r' || ch == ' ' || ch == '\t')
				continue;
			txt[t++] = ch;
		}
		int r = cc_base64_decode_alloc(txt, t, CC_B64_STD, &ders[n], &lens[n]);
		free(txt);
		if (r < 0)
			return r == -ENOMEM ? r : ATTEST_E_BAD_PEM;
		n++;
		off = es + sizeof(end) - 1;
	}
	*ret_n = n;
	return n > 0 ? 0 : ATTEST_E_BAD_PEM;
}

int attest_chain_certs_known(const void *data, size_t len, const struct known_cert *known,
			     size_t n_known, STACK_OF(X509) **ret)
{
	if (!looks_pem(data, len) || len > PCK_CHAIN_MAX)
		return attest_chain_certs(data, len, ret);
	uint8_t *ders[PEM_CERTS_MAX] = { NULL };
	size_t lens[PEM_CERTS_MAX];
	int n = 0;
	int r = pem_split(data, len, ders, lens, PEM_CERTS_MAX, &n);
	STACK_OF(X509) *sk = r == 0 ? sk_X509_new_null() : NULL;
	if (r == 0 && !sk)
		r = -ENOMEM;
	for (int i = 0; i < n && r == 0; i++) {
		X509 *x = NULL;
		for (size_t k = 0; k < n_known && !x; k++)
			if (known[k].x && known[k].der_len == lens[i] &&
			    memcmp(known[k].der, ders[i], lens[i]) == 0 && X509_up_ref(known[k].x))
				x = known[k].x;
		if (!x) {
			const unsigned char *q = ders[i];
			x = d2i_X509(NULL, &q, (long)lens[i]);
			if (x && q != ders[i] + lens[i]) {
				X509_free(x);
				x = NULL;
			}
			ERR_clear_error();
		}
		if (!x)
			r = ATTEST_E_BAD_PEM;
		else if (!sk_X509_push(sk, x)) {
			X509_free(x);
			r = -ENOMEM;
		}
	}
	for (int i = 0; i < PEM_CERTS_MAX; i++)
		free(ders[i]);
	if (r == 0)
		r = order_chain(sk);
	if (r < 0) {
		sk_X509_pop_free(sk, X509_free);
		return r;
	}
	*ret = sk;
	return 0;
}

int attest_chain_certs(const void *data, size_t len, STACK_OF(X509) **ret)
{
	STACK_OF(X509) *sk = NULL;
	int r = looks_pem(data, len) ? attest_pem_certs(data, len, &sk) : der_certs(data, len, &sk);
	if (r < 0)
		return r;
	if (sk_X509_num(sk) == 0 || (r = order_chain(sk)) < 0) {
		sk_X509_pop_free(sk, X509_free);
		return r < 0 ? r : ATTEST_E_BAD_PEM;
	}
	*ret = sk;
	return 0;
}

int attest_load_crl(const void *data, size_t len, X509_CRL **ret)
{
	if (len > INT32_MAX || len == 0)
		return ATTEST_E_BAD_PEM;
	X509_CRL *crl = NULL;
	if (looks_pem(data, len)) {
		BIO *bio = BIO_new_mem_buf(data, (int)len);
		if (!bio)
			return -ENOMEM;
		crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
		BIO_free(bio);
	} else {
		const unsigned char *p = data;
		crl = d2i_X509_CRL(NULL, &p, (long)len);
		if (crl && p != (const unsigned char *)data + len) {
			X509_CRL_free(crl);
			crl = NULL;
		}
	}
	ERR_clear_error();
	if (!crl)
		return ATTEST_E_BAD_PEM;
	*ret = crl;
	return 0;
}

int attest_load_cert(const void *data, size_t len, X509 **ret)
{
	if (len > INT32_MAX || len == 0)
		return ATTEST_E_BAD_PEM;
	X509 *x = NULL;
	if (looks_pem(data, len)) {
		BIO *bio = BIO_new_mem_buf(data, (int)len);
		if (!bio)
			return -ENOMEM;
		x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		BIO_free(bio);
	} else {
		const unsigned char *p = data;
		x = d2i_X509(NULL, &p, (long)len);
		if (x && p != (const unsigned char *)data + len) {
			X509_free(x);
			x = NULL;
		}
	}
	ERR_clear_error();
	if (!x)
		return ATTEST_E_BAD_PEM;
	*ret = x;
	return 0;
}

int attest_asn1_time_to_epoch(const ASN1_TIME *t, int64_t *ret)
{
	struct tm tm;
	if (!t || !ASN1_TIME_to_tm(t, &tm))
		return ATTEST_E_BAD_PEM;
	time_t e = timegm(&tm);
	if (e == (time_t)-1)
		return ATTEST_E_BAD_PEM;
	*ret = (int64_t)e;
	return 0;
}

/* ---- minimal DER walker for the SGX extension ---- */

struct der {
	const uint8_t *p;
	size_t len;
};

/* Read one TLV: tag must be a single byte.  Definite lengths only. */
static int der_next(struct der *d, uint8_t *ret_tag, struct der *ret_val)
{
	if (d->len < 2)
		return ATTEST_E_PCK_EXTENSIONS;
	uint8_t tag = d->p[0];
	size_t l = d->p[1];
	size_t hdr = 2;
	if (l & 0x80) {
		size_t n = l & 0x7f;
		if (n == 0 || n > 3 || d->len < 2 + n)
			return ATTEST_E_PCK_EXTENSIONS;
		l = 0;
		for (size_t i = 0; i < n; i++)
			l = (l << 8) | d->p[2 + i];
		hdr += n;
	}
	if (l > d->len - hdr)
		return ATTEST_E_PCK_EXTENSIONS;
	*ret_tag = tag;
	ret_val->p = d->p + hdr;
	ret_val->len = l;
	d->p += hdr + l;
	d->len -= hdr + l;
	return 0;
}

static int der_uint(const struct der *v, uint32_t max, uint32_t *ret)
{
	if (v->len == 0 || v->len > 5 || (v->p[0] & 0x80))
		return ATTEST_E_PCK_EXTENSIONS;
	uint64_t x = 0;
	for (size_t i = 0; i < v->len; i++)
		x = (x << 8) | v->p[i];
	if (x > max)
		return ATTEST_E_PCK_EXTENSIONS;
	*ret = (uint32_t)x;
	return 0;
}

/* 1.2.840.113741.1.13.1 */
static const uint8_t sgx_oid[] = { 0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01 };

/* Is oid == sgx_oid . a [. b]?  Returns the arc count matched. */
static bool oid_is(const struct der *oid, int a, int b)
{
	size_t n = sizeof(sgx_oid);
	size_t want = n + 1 + (b > 0 ? 1 : 0);
	if (oid->len != want || memcmp(oid->p, sgx_oid, n) != 0)
		return false;
	if (oid->p[n] != a)
		return false;
	return b <= 0 || oid->p[n + 1] == b;
}

int attest_pck_ext_parse(X509 *pck, struct pck_ext *ret)
{
	ASN1_OBJECT *obj = OBJ_txt2obj("1.2.840.113741.1.13.1", 1);
	if (!obj)
		return -ENOMEM;
	int idx = X509_get_ext_by_OBJ(pck, obj, -1);
	int idx2 = idx >= 0 ? X509_get_ext_by_OBJ(pck, obj, idx) : -1;
	ASN1_OBJECT_free(obj);
	if (idx < 0 || idx2 >= 0)
		return ATTEST_E_PCK_EXTENSIONS;
	X509_EXTENSION *ext = X509_get_ext(pck, idx);
	ASN1_OCTET_STRING *os = X509_EXTENSION_get_data(ext);
	struct der top = { ASN1_STRING_get0_data(os), (size_t)ASN1_STRING_length(os) };
	struct der seq;
	uint8_t tag;
	if (der_next(&top, &tag, &seq) < 0 || tag != 0x30 || top.len != 0)
		return ATTEST_E_PCK_EXTENSIONS;

	struct pck_ext e;
	memset(&e, 0, sizeof(e));
	uint32_t seen = 0; /* bits: 0 tcb comps (all), 1 pcesvn, 2 cpusvn, 3 pceid, 4 fmspc */
	uint32_t comps_seen = 0;
	while (seq.len) {
		struct der item, oid, val;
		if (der_next(&seq, &tag, &item) < 0 || tag != 0x30)
			return ATTEST_E_PCK_EXTENSIONS;
		if (der_next(&item, &tag, &oid) < 0 || tag != 0x06)
			return ATTEST_E_PCK_EXTENSIONS;
		uint8_t vtag;
		if (der_next(&item, &vtag, &val) < 0 || item.len != 0)
			return ATTEST_E_PCK_EXTENSIONS;
		if (oid_is(&oid, 2, 0)) {
			if (vtag != 0x30 || (seen & 1))
				return ATTEST_E_PCK_EXTENSIONS;
			seen |= 1;
			while (val.len) {
				struct der c, coid, cval;
				uint8_t ctag;
				if (der_next(&val, &tag, &c) < 0 || tag != 0x30 ||
				    der_next(&c, &tag, &coid) < 0 || tag != 0x06 ||
				    der_next(&c, &ctag, &cval) < 0 || c.len != 0)
					return ATTEST_E_PCK_EXTENSIONS;
				if (coid.len != sizeof(sgx_oid) + 2 ||
				    memcmp(coid.p, sgx_oid, sizeof(sgx_oid)) != 0 ||
				    coid.p[sizeof(sgx_oid)] != 2)
					return ATTEST_E_PCK_EXTENSIONS;
				uint8_t arc = coid.p[sizeof(sgx_oid) + 1];
				uint32_t v;
				if (arc >= 1 && arc <= 16) {
					if (ctag != 0x02 || der_uint(&cval, 255, &v) < 0 ||
					    (comps_seen & (1u << arc)))
						return ATTEST_E_PCK_EXTENSIONS;
					comps_seen |= 1u << arc;
					e.comp_svn[arc - 1] = (uint8_t)v;
				} else if (arc == 17) {
					if (ctag != 0x02 || der_uint(&cval, 65535, &v) < 0 || (seen & 2))
						return ATTEST_E_PCK_EXTENSIONS;
					seen |= 2;
					e.pce_svn = (uint16_t)v;
				} else if (arc == 18) {
					if (ctag != 0x04 || cval.len != 16 || (seen & 4))
						return ATTEST_E_PCK_EXTENSIONS;
					seen |= 4;
					memcpy(e.cpu_svn, cval.p, 16);
				} else {
					return ATTEST_E_PCK_EXTENSIONS;
				}
			}
		} else if (oid_is(&oid, 3, 0)) {
			if (vtag != 0x04 || val.len != 2 || (seen & 8))
				return ATTEST_E_PCK_EXTENSIONS;
			seen |= 8;
			memcpy(e.pce_id, val.p, 2);
		} else if (oid_is(&oid, 4, 0)) {
			if (vtag != 0x04 || val.len != 6 || (seen & 16))
				return ATTEST_E_PCK_EXTENSIONS;
			seen |= 16;
			memcpy(e.fmspc, val.p, 6);
		}
		/* other members (PPID, SGX type, platform instance...) not needed */
	}
	if (seen != 31 || comps_seen != 0x1fffe)
		return ATTEST_E_PCK_EXTENSIONS;
	*ret = e;
	return 0;
}

/* ---- ECDSA ---- */

int attest_sig_raw_to_der(const uint8_t raw[64], uint8_t **ret, size_t *ret_len)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(raw, 32, NULL);
	BIGNUM *s = BN_bin2bn(raw + 32, 32, NULL);
	if (!sig || !r || !s || !ECDSA_SIG_set0(sig, r, s)) {
		ECDSA_SIG_free(sig);
		BN_free(r);
		BN_free(s);
		return -ENOMEM;
	}
	unsigned char *der = NULL;
	int n = i2d_ECDSA_SIG(sig, &der);
	ECDSA_SIG_free(sig);
	if (n <= 0)
		return -ENOMEM;
	*ret = der;
	*ret_len = (size_t)n;
	return 0;
}

int attest_sig_der_to_raw(const uint8_t *der, size_t len, uint8_t ret[64])
{
	const unsigned char *p = der;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
	if (!sig)
		return ATTEST_E_BAD_PEM;
	const BIGNUM *r, *s;
	ECDSA_SIG_get0(sig, &r, &s);
	int ok = BN_bn2binpad(r, ret, 32) == 32 && BN_bn2binpad(s, ret + 32, 32) == 32;
	ECDSA_SIG_free(sig);
	return ok ? 0 : ATTEST_E_BAD_PEM;
}

/* Returns 1 valid, 0 invalid, <0 error. */
int attest_ecdsa_verify_raw(EVP_PKEY *key, const uint8_t sig[64], const void *msg, size_t len)
{
	uint8_t *der = NULL;
	size_t dlen;
	int r = attest_sig_raw_to_der(sig, &der, &dlen);
	if (r < 0)
		return r;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = 0;
	if (ctx && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1)
		ok = EVP_DigestVerify(ctx, der, dlen, msg, len) == 1;
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	ERR_clear_error();
	return ok;
}

int attest_pkey_from_raw(const uint8_t xy[64], EVP_PKEY **ret)
{
	uint8_t pub[65];
	pub[0] = 0x04;
	memcpy(pub + 1, xy, 64);
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0),
		OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub)),
		OSSL_PARAM_construct_end(),
	};
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *key = NULL;
	int r = -ENOMEM;
	if (ctx && EVP_PKEY_fromdata_init(ctx) == 1) {
		r = EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) == 1 ? 0
										    : ATTEST_E_QUOTE_SIGNATURE;
	}
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	if (r == 0)
		*ret = key;
	return r;
}
