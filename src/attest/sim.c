/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The "sim" TD: a test PKI shaped like Intel's (root CA, PCK platform CA, PCK
 * certificates carrying the SGX extensions, TCB signing certificate), signed
 * collateral in the Intel PCS layout, and v4 quotes produced in software that
 * the verifier accepts only when the sim root is pinned.  Keys are test keys:
 * they are written to files (0600) in the sim directory by design.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "internal.h"
#include "sim.h"

#define SIM_QE_VENDOR "939a7233f79c4ca9940a0db3957f0607"
static const uint8_t sim_fmspc[6] = { 0x5c, 0xc5, 0x00, 0x00, 0x00, 0x00 };
static const uint8_t sim_comp_svn[16] = { 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0 };
static const uint16_t sim_pcesvn = 13;
/* TEE_TCB_SVN of an up-to-date sim TD and of an out-of-date one */
static const uint8_t sim_tee_svn[16] = { 5, 0, 3, 0 };
static const uint8_t sim_tee_svn_old[16] = { 4, 0, 3, 0 };
/* module major version 1 (identity TDX_01), module SVN 3: OutOfDate there */
static const uint8_t sim_tee_svn_mod[16] = { 3, 1, 3, 0 };
#define SIM_QE_ISVSVN 4
#define SIM_QE_PRODID 2

/* ---- DER writer for the SGX extension ---- */

static int der_tlv(struct cc_buf *out, uint8_t tag, const void *p, size_t n)
{
	uint8_t hdr[6];
	size_t h = 0;
	hdr[h++] = tag;
	if (n < 0x80) {
		hdr[h++] = (uint8_t)n;
	} else if (n < 0x100) {
		hdr[h++] = 0x81;
		hdr[h++] = (uint8_t)n;
	} else if (n < 0x10000) {
		hdr[h++] = 0x82;
		hdr[h++] = (uint8_t)(n >> 8);
		hdr[h++] = (uint8_t)n;
	} else {
		return CC_E_TOOBIG;
	}
	int r = cc_buf_append(out, hdr, h);
	return r < 0 ? r : cc_buf_append(out, p, n);
}

static const uint8_t sgx_oid_prefix[] = { 0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01 };

/* SEQUENCE { OID sgx.a[.b], value(tag, p, n) } appended to out */
static int der_member(struct cc_buf *out, int a, int b, uint8_t tag, const void *p, size_t n)
{
	uint8_t oid[sizeof(sgx_oid_prefix) + 2];
	size_t ol = sizeof(sgx_oid_prefix);
	memcpy(oid, sgx_oid_prefix, ol);
	oid[ol++] = (uint8_t)a;
	if (b > 0)
		oid[ol++] = (uint8_t)b;
	struct cc_buf m;
	cc_buf_init(&m, 1 << 16, false);
	int r = der_tlv(&m, 0x06, oid, ol);
	if (r == 0)
		r = der_tlv(&m, tag, p, n);
	if (r == 0)
		r = der_tlv(out, 0x30, m.data, m.len);
	cc_buf_free(&m);
	return r;
}

static int der_int_member(struct cc_buf *out, int a, int b, unsigned v)
{
	/* minimal big-endian two's complement of a non-negative value */
	uint8_t x[5];
	size_t n = 0;
	bool started = false;
	for (int sh = 24; sh >= 0; sh -= 8) {
		uint8_t byte = (uint8_t)(v >> sh);
		if (!started && byte == 0 && sh > 0)
			continue;
		if (!started && (byte & 0x80))
			x[n++] = 0;
		started = true;
		x[n++] = byte;
	}
	return der_member(out, a, b, 0x02, x, n);
}

static int sgx_extension(X509 *x, const uint8_t comp[16], uint16_t pcesvn)
{
	struct cc_buf tcb, all, seq;
	cc_buf_init(&tcb, 1 << 16, false);
	cc_buf_init(&all, 1 << 16, false);
	cc_buf_init(&seq, 1 << 16, false);
	uint8_t ppid[16], pceid[2] = { 0, 0 }, enm = 0;
	RAND_bytes(ppid, sizeof(ppid));
	int r = 0;
	for (int i = 0; i < 16 && r == 0; i++)
		r = der_int_member(&tcb, 2, i + 1, comp[i]);
	if (r == 0)
		r = der_int_member(&tcb, 2, 17, pcesvn);
	if (r == 0)
		r = der_member(&tcb, 2, 18, 0x04, comp, 16);
	if (r == 0)
		r = der_member(&all, 1, 0, 0x04, ppid, 16);
	if (r == 0) {
		struct cc_buf t;
		cc_buf_init(&t, 1 << 16, false);
		r = der_tlv(&t, 0x30, tcb.data, tcb.len);
		if (r == 0) {
			/* member .2 whose value is the SEQUENCE of components */
			uint8_t oid[sizeof(sgx_oid_prefix) + 1];
			memcpy(oid, sgx_oid_prefix, sizeof(sgx_oid_prefix));
			oid[sizeof(sgx_oid_prefix)] = 2;
			struct cc_buf m;
			cc_buf_init(&m, 1 << 16, false);
			r = der_tlv(&m, 0x06, oid, sizeof(oid));
			if (r == 0)
				r = cc_buf_append(&m, t.data, t.len);
			if (r == 0)
				r = der_tlv(&all, 0x30, m.data, m.len);
			cc_buf_free(&m);
		}
		cc_buf_free(&t);
	}
	if (r == 0)
		r = der_member(&all, 3, 0, 0x04, pceid, 2);
	if (r == 0)
		r = der_member(&all, 4, 0, 0x04, sim_fmspc, 6);
	if (r == 0)
		r = der_member(&all, 5, 0, 0x0a, &enm, 1);
	if (r == 0)
		r = der_tlv(&seq, 0x30, all.data, all.len);
	if (r == 0) {
		ASN1_OBJECT *obj = OBJ_txt2obj("1.2.840.113741.1.13.1", 1);
		ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
		X509_EXTENSION *ext = NULL;
		if (obj && os && ASN1_OCTET_STRING_set(os, seq.data, (int)seq.len))
			ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os);
		if (!ext || !X509_add_ext(x, ext, -1))
			r = -ENOMEM;
		X509_EXTENSION_free(ext);
		ASN1_OCTET_STRING_free(os);
		ASN1_OBJECT_free(obj);
	}
	cc_buf_free(&tcb);
	cc_buf_free(&all);
	cc_buf_free(&seq);
	return r;
}

/* ---- keys, certificates, CRLs ---- */

static EVP_PKEY *new_key(void)
{
	return EVP_EC_gen("P-256");
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!e)
		return -ENOMEM;
	int ok = X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	return ok ? 0 : -ENOMEM;
}

static X509_NAME *sim_name(const char *cn)
{
	X509_NAME *n = X509_NAME_new();
	if (!n)
		return NULL;
	if (!X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC, (const unsigned char *)"ccserve sim (TEST ONLY)", -1, -1, 0)) {
		X509_NAME_free(n);
		return NULL;
	}
	return n;
}

static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
		       int64_t nb, int64_t na, const char *bc, const char *ku, uint64_t serial)
{
	X509 *x = X509_new();
	X509_NAME *name = sim_name(cn);
	bool ok = x && name && X509_set_version(x, 2) &&
		  ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial) &&
		  X509_set_subject_name(x, name) &&
		  X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) &&
		  ASN1_TIME_set(X509_getm_notBefore(x), (time_t)nb) &&
		  ASN1_TIME_set(X509_getm_notAfter(x), (time_t)na) && X509_set_pubkey(x, key);
	X509_NAME_free(name);
	if (ok)
		ok = add_ext(x, issuer ? issuer : x, NID_basic_constraints, bc) == 0 &&
		     add_ext(x, issuer ? issuer : x, NID_key_usage, ku) == 0 &&
		     add_ext(x, issuer ? issuer : x, NID_subject_key_identifier, "hash") == 0 &&
		     add_ext(x, issuer ? issuer : x, NID_authority_key_identifier, "keyid:always") == 0;
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static int sign_cert(X509 *x, EVP_PKEY *k)
{
	return X509_sign(x, k, EVP_sha256()) > 0 ? 0 : -ENOMEM;
}

static X509_CRL *make_crl(X509 *issuer, EVP_PKEY *key, int64_t tu, int64_t nu,
			  const ASN1_INTEGER *revoked)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *t1 = ASN1_TIME_set(NULL, (time_t)tu), *t2 = ASN1_TIME_set(NULL, (time_t)nu);
	bool ok = crl && t1 && t2 && X509_CRL_set_version(crl, 1) &&
		  X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer)) &&
		  X509_CRL_set1_lastUpdate(crl, t1) && X509_CRL_set1_nextUpdate(crl, t2);
	if (ok && revoked) {
		X509_REVOKED *rv = X509_REVOKED_new();
		ok = rv && X509_REVOKED_set_serialNumber(rv, (ASN1_INTEGER *)revoked) &&
		     X509_REVOKED_set_revocationDate(rv, t1) && X509_CRL_add0_revoked(crl, rv);
		if (!ok)
			X509_REVOKED_free(rv);
	}
	if (ok)
		ok = X509_CRL_sort(crl) && X509_CRL_sign(crl, key, EVP_sha256()) > 0;
	ASN1_TIME_free(t1);
	ASN1_TIME_free(t2);
	if (!ok) {
		X509_CRL_free(crl);
		return NULL;
	}
	return crl;
}

/* ---- files ---- */

static int path_of(char *buf, size_t n, const char *dir, const char *name)
{
	return (size_t)snprintf(buf, n, "%s/%s", dir, name) >= n ? -ENAMETOOLONG : 0;
}

static int write_bio(const char *dir, const char *name, BIO *bio, unsigned mode)
{
	char path[4096];
	int r = path_of(path, sizeof(path), dir, name);
	if (r < 0)
		return r;
	char *p;
	long n = BIO_get_mem_data(bio, &p);
	if (n < 0)
		return -EIO;
	return cc_file_write_atomic(path, p, (size_t)n, mode);
}

static int write_text(const char *dir, const char *name, const char *s, size_t n, unsigned mode)
{
	char path[4096];
	int r = path_of(path, sizeof(path), dir, name);
	return r < 0 ? r : cc_file_write_atomic(path, s, n, mode);
}

static int write_key(const char *dir, const char *name, EVP_PKEY *k)
{
	BIO *b = BIO_new(BIO_s_mem());
	int r = b && PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) ? write_bio(dir, name, b, 0600) : -ENOMEM;
	BIO_free(b);
	return r;
}

static int write_certs(const char *dir, const char *name, X509 *a, X509 *b2)
{
	BIO *b = BIO_new(BIO_s_mem());
	int r = -ENOMEM;
	if (b && PEM_write_bio_X509(b, a) && (!b2 || PEM_write_bio_X509(b, b2)))
		r = write_bio(dir, name, b, 0644);
	BIO_free(b);
	return r;
}

static int write_crl(const char *dir, const char *name, X509_CRL *crl)
{
	BIO *b = BIO_new(BIO_s_mem());
	int r = b && i2d_X509_CRL_bio(b, crl) ? write_bio(dir, name, b, 0644) : -ENOMEM;
	BIO_free(b);
	return r;
}

static void hex_into(char *out, size_t outsz, const uint8_t *p, size_t n)
{
	cc_hex_encode(p, n, out, outsz);
}

static int sign_doc(EVP_PKEY *key, const char *doc, uint8_t sig[64])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t der[80];
	size_t dl = sizeof(der);
	int r = -ENOMEM;
	if (ctx && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
	    EVP_DigestSign(ctx, der, &dl, (const uint8_t *)doc, strlen(doc)) == 1)
		r = attest_sig_der_to_raw(der, dl, sig);
	EVP_MD_CTX_free(ctx);
	return r;
}

static int write_signed(const char *dir, const char *name, const char *key, const char *doc,
			EVP_PKEY *signer)
{
	uint8_t sig[64];
	char sh[129];
	int r = sign_doc(signer, doc, sig);
	if (r < 0)
		return r;
	hex_into(sh, sizeof(sh), sig, 64);
	struct cc_buf b;
	cc_buf_init(&b, 1 << 20, false);
	r = cc_buf_printf(&b, "{\"%s\":%s,\"signature\":\"%s\"}", key, doc, sh);
	if (r == 0)
		r = write_text(dir, name, (const char *)b.data, b.len, 0644);
	cc_buf_free(&b);
	return r;
}

static void fmt_time(int64_t t, char out[32])
{
	if (cc_time_format(t, out, 32) < 0)
		snprintf(out, 32, "1970-01-01T00:00:00Z");
}

static int tcb_info_doc(struct cc_buf *b, int64_t issue, int64_t next)
{
	char ti[32], tn[32], fm[13];
	fmt_time(issue, ti);
	fmt_time(next, tn);
	hex_into(fm, sizeof(fm), sim_fmspc, 6);
	int r = cc_buf_printf(b,
		"{\"id\":\"TDX\",\"version\":3,\"issueDate\":\"%s\",\"nextUpdate\":\"%s\","
		"\"fmspc\":\"%s\",\"pceId\":\"0000\",\"tcbType\":0,\"tcbEvaluationDataNumber\":17,"
		"\"tdxModule\":{\"mrsigner\":\"%096d\",\"attributes\":\"0000000000000000\","
		"\"attributesMask\":\"FFFFFFFFFFFFFFFF\"},"
		"\"tdxModuleIdentities\":[{\"id\":\"TDX_01\",\"mrsigner\":\"%096d\","
		"\"attributes\":\"0000000000000000\",\"attributesMask\":\"FFFFFFFFFFFFFFFF\","
		"\"tcbLevels\":[{\"tcb\":{\"isvsvn\":5},\"tcbDate\":\"2025-01-01T00:00:00Z\","
		"\"tcbStatus\":\"UpToDate\"},{\"tcb\":{\"isvsvn\":2},\"tcbDate\":\"2024-01-01T00:00:00Z\","
		"\"tcbStatus\":\"OutOfDate\",\"advisoryIDs\":[\"INTEL-SA-01079\"]}]}],"
		"\"tcbLevels\":[",
		ti, tn, fm, 0, 0);
	/* level 0: up to date; level 1: older TDX module (OutOfDate) */
	for (int lvl = 0; lvl < 2 && r == 0; lvl++) {
		const uint8_t *tdx = lvl == 0 ? sim_tee_svn : sim_tee_svn_old;
		r = cc_buf_printf(b, "%s{\"tcb\":{\"sgxtcbcomponents\":[", lvl ? "," : "");
		for (int i = 0; i < 16 && r == 0; i++)
			r = cc_buf_printf(b, "%s{\"svn\":%u}", i ? "," : "", sim_comp_svn[i]);
		if (r == 0)
			r = cc_buf_printf(b, "],\"pcesvn\":%u,\"tdxtcbcomponents\":[", sim_pcesvn);
		for (int i = 0; i < 16 && r == 0; i++)
			r = cc_buf_printf(b, "%s{\"svn\":%u}", i ? "," : "", tdx[i]);
		if (r == 0)
			r = cc_buf_printf(b, "]},\"tcbDate\":\"%s\",\"tcbStatus\":\"%s\"%s}",
					  lvl == 0 ? "2025-01-01T00:00:00Z" : "2024-01-01T00:00:00Z",
					  lvl == 0 ? "UpToDate" : "OutOfDate",
					  lvl == 0 ? "" : ",\"advisoryIDs\":[\"INTEL-SA-00837\"]");
	}
	if (r == 0)
		r = cc_buf_puts(b, "]}");
	return r;
}

static int qe_identity_doc(struct cc_buf *b, int64_t issue, int64_t next, const uint8_t mrsigner[32])
{
	char ti[32], tn[32], ms[65];
	fmt_time(issue, ti);
	fmt_time(next, tn);
	hex_into(ms, sizeof(ms), mrsigner, 32);
	return cc_buf_printf(b,
		"{\"id\":\"TD_QE\",\"version\":2,\"issueDate\":\"%s\",\"nextUpdate\":\"%s\","
		"\"tcbEvaluationDataNumber\":17,\"miscselect\":\"00000000\",\"miscselectMask\":\"FFFFFFFF\","
		"\"attributes\":\"11000000000000000000000000000000\","
		"\"attributesMask\":\"FBFFFFFFFFFFFFFF0000000000000000\",\"mrsigner\":\"%s\","
		"\"isvprodid\":%d,\"tcbLevels\":[{\"tcb\":{\"isvsvn\":%d},\"tcbDate\":\"2025-01-01T00:00:00Z\","
		"\"tcbStatus\":\"UpToDate\"}]}",
		ti, tn, ms, SIM_QE_PRODID, SIM_QE_ISVSVN);
}

struct sim_pki {
	EVP_PKEY *root_k, *ca_k, *tcb_k;
	X509 *root, *ca, *tcb, *pck_revoked;
	uint8_t qe_mrsigner[32];
};

static int write_collateral(const char *dir, const struct sim_pki *p, int64_t from, int64_t to)
{
	int r;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	X509_CRL *root_crl = make_crl(p->root, p->root_k, from, to, NULL);
	X509_CRL *pck_crl = make_crl(p->ca, p->ca_k, from, to, X509_get0_serialNumber(p->pck_revoked));
	struct cc_buf ti, qi;
	cc_buf_init(&ti, 1 << 20, false);
	cc_buf_init(&qi, 1 << 20, false);
	if (!root_crl || !pck_crl) {
		r = -ENOMEM;
		goto out;
	}
	if ((r = write_crl(dir, "root_ca_crl.der", root_crl)) < 0 ||
	    (r = write_crl(dir, "pck_crl.der", pck_crl)) < 0 ||
	    (r = write_certs(dir, "pck_crl_issuer_chain.pem", p->ca, p->root)) < 0 ||
	    (r = write_certs(dir, "tcb_info_issuer_chain.pem", p->tcb, p->root)) < 0 ||
	    (r = write_certs(dir, "qe_identity_issuer_chain.pem", p->tcb, p->root)) < 0)
		goto out;
	if ((r = tcb_info_doc(&ti, from, to)) < 0 || (r = qe_identity_doc(&qi, from, to, p->qe_mrsigner)) < 0)
		goto out;
	if ((r = write_signed(dir, "tcb_info.json", "tcbInfo", (const char *)ti.data, p->tcb_k)) < 0 ||
	    (r = write_signed(dir, "qe_identity.json", "enclaveIdentity", (const char *)qi.data, p->tcb_k)) < 0)
		goto out;
out:
	cc_buf_free(&ti);
	cc_buf_free(&qi);
	X509_CRL_free(root_crl);
	X509_CRL_free(pck_crl);
	return r;
}

static void sha384_str(const char *s, int i, uint8_t out[48])
{
	char buf[64];
	snprintf(buf, sizeof(buf), "%s%d", s, i);
	SHA384((const uint8_t *)buf, strlen(buf), out);
}

static int write_config(const char *dir, const uint8_t qe_mrsigner[32])
{
	uint8_t v[48];
	char h[97];
	json_object *o = json_object_new_object();
	if (!o)
		return -ENOMEM;
	json_object_object_add(o, "version", json_object_new_int(1));
	sha384_str("ccserve-sim-mrtd", 0, v);
	hex_into(h, sizeof(h), v, 48);
	json_object_object_add(o, "mrtd", json_object_new_string(h));
	for (int i = 0; i < 4; i++) {
		char k[8];
		snprintf(k, sizeof(k), "rtmr%d", i);
		sha384_str("ccserve-sim-rtmr", i, v);
		hex_into(h, sizeof(h), v, 48);
		json_object_object_add(o, k, json_object_new_string(h));
	}
	sha384_str("ccserve-sim-mrseam", 0, v);
	hex_into(h, sizeof(h), v, 48);
	json_object_object_add(o, "mrseam", json_object_new_string(h));
	json_object_object_add(o, "td_attributes", json_object_new_string("0000001000000000"));
	json_object_object_add(o, "xfam", json_object_new_string("e702060000000000"));
	hex_into(h, sizeof(h), qe_mrsigner, 32);
	json_object_object_add(o, "qe_mrsigner", json_object_new_string(h));
	const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
	int r = write_text(dir, "sim.json", s, strlen(s), 0644);
	json_object_put(o);
	return r;
}

int attest_sim_init(const char *dir, unsigned validity_days)
{
	if (!dir || validity_days == 0 || validity_days > 3650)
		return -EINVAL;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	char path[4096];
	int r = path_of(path, sizeof(path), dir, "root_ca.pem");
	if (r < 0)
		return r;
	if (access(path, F_OK) == 0)
		return -EEXIST;

	int64_t now = cc_wall_s();
	int64_t day = 86400;
	struct sim_pki p;
	memset(&p, 0, sizeof(p));
	EVP_PKEY *pck_k = NULL, *pckr_k = NULL, *att_k = NULL;
	X509 *pck = NULL;
	uint64_t serial;
	RAND_bytes((uint8_t *)&serial, sizeof(serial));
	serial = (serial >> 2) | 1;
	RAND_bytes(p.qe_mrsigner, sizeof(p.qe_mrsigner));

	p.root_k = new_key();
	p.ca_k = new_key();
	p.tcb_k = new_key();
	pck_k = new_key();
	pckr_k = new_key();
	att_k = new_key();
	if (!p.root_k || !p.ca_k || !p.tcb_k || !pck_k || !pckr_k || !att_k) {
		r = -ENOMEM;
		goto out;
	}
	p.root = make_cert("ccserve sim SGX Root CA", p.root_k, NULL, NULL, now - day, now + 3650 * day,
			   "critical,CA:TRUE", "critical,keyCertSign,cRLSign", serial);
	if (!p.root || (r = sign_cert(p.root, p.root_k)) < 0)
		goto fail_mem;
	p.ca = make_cert("ccserve sim SGX PCK Platform CA", p.ca_k, p.root, p.root_k, now - day,
			 now + 3650 * day, "critical,CA:TRUE,pathlen:0", "critical,keyCertSign,cRLSign",
			 serial + 1);
	if (!p.ca || (r = sign_cert(p.ca, p.root_k)) < 0)
		goto fail_mem;
	p.tcb = make_cert("ccserve sim SGX TCB Signing", p.tcb_k, p.root, p.root_k, now - day,
			  now + 3650 * day, "critical,CA:FALSE", "critical,digitalSignature,nonRepudiation",
			  serial + 2);
	if (!p.tcb || (r = sign_cert(p.tcb, p.root_k)) < 0)
		goto fail_mem;
	pck = make_cert("ccserve sim SGX PCK Certificate", pck_k, p.ca, p.ca_k, now - day,
			now + 3650 * day, "critical,CA:FALSE", "critical,digitalSignature,nonRepudiation",
			serial + 3);
	if (!pck || sgx_extension(pck, sim_comp_svn, sim_pcesvn) < 0 || (r = sign_cert(pck, p.ca_k)) < 0)
		goto fail_mem;
	p.pck_revoked = make_cert("ccserve sim SGX PCK Certificate", pckr_k, p.ca, p.ca_k, now - day,
				  now + 3650 * day, "critical,CA:FALSE",
				  "critical,digitalSignature,nonRepudiation", serial + 4);
	if (!p.pck_revoked || sgx_extension(p.pck_revoked, sim_comp_svn, sim_pcesvn) < 0 ||
	    (r = sign_cert(p.pck_revoked, p.ca_k)) < 0)
		goto fail_mem;

	if ((r = write_key(dir, "root_ca.key", p.root_k)) < 0 ||
	    (r = write_key(dir, "platform_ca.key", p.ca_k)) < 0 ||
	    (r = write_key(dir, "tcb_signing.key", p.tcb_k)) < 0 ||
	    (r = write_key(dir, "pck.key", pck_k)) < 0 ||
	    (r = write_key(dir, "pck_revoked.key", pckr_k)) < 0 ||
	    (r = write_key(dir, "attestation.key", att_k)) < 0 ||
	    (r = write_certs(dir, "platform_ca.pem", p.ca, NULL)) < 0 ||
	    (r = write_certs(dir, "tcb_signing.pem", p.tcb, NULL)) < 0 ||
	    (r = write_certs(dir, "pck.pem", pck, NULL)) < 0 ||
	    (r = write_certs(dir, "pck_revoked.pem", p.pck_revoked, NULL)) < 0 ||
	    (r = write_config(dir, p.qe_mrsigner)) < 0)
		goto out;
	char sub[4096];
	if ((r = path_of(sub, sizeof(sub), dir, "collateral")) < 0 ||
	    (r = write_collateral(sub, &p, now - 3600, now + (int64_t)validity_days * day)) < 0)
		goto out;
	if ((r = path_of(sub, sizeof(sub), dir, "collateral-expired")) < 0 ||
	    (r = write_collateral(sub, &p, now - 60 * day, now - 30 * day)) < 0)
		goto out;
	/* the root last: its presence marks a complete sim directory */
	r = write_certs(dir, "root_ca.pem", p.root, NULL);
	goto out;
fail_mem:
	if (r == 0)
		r = -ENOMEM;
out:
	ERR_clear_error();
	EVP_PKEY_free(p.root_k);
	EVP_PKEY_free(p.ca_k);
	EVP_PKEY_free(p.tcb_k);
	EVP_PKEY_free(pck_k);
	EVP_PKEY_free(pckr_k);
	EVP_PKEY_free(att_k);
	X509_free(p.root);
	X509_free(p.ca);
	X509_free(p.tcb);
	X509_free(pck);
	X509_free(p.pck_revoked);
	return r;
}

/* ---- sim quotes ---- */

struct sim_td {
	uint8_t mrtd[48], rtmr[4][48], mrseam[48], td_attributes[8], xfam[8], qe_mrsigner[32];
	EVP_PKEY *att_key, *pck_key;
	char *chain;
	size_t chain_len;
	enum attest_sim_flaw flaw;
};

static int cfg_hex(json_object *o, const char *k, uint8_t *out, size_t n)
{
	json_object *v;
	size_t got;
	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string) ||
	    (size_t)json_object_get_string_len(v) != 2 * n ||
	    cc_hex_decode(json_object_get_string(v), 2 * n, out, n, &got) < 0) {
		cc_log(CC_LOG_ERROR, ATTEST_LOG, "sim.json: \"%s\" missing or not %zu hex bytes", k, n);
		return ATTEST_E_PROVIDER;
	}
	return 0;
}

static int load_key(const char *dir, const char *name, EVP_PKEY **ret)
{
	char path[4096];
	int r = path_of(path, sizeof(path), dir, name);
	if (r < 0)
		return r;
	uint8_t *b;
	size_t n;
	if ((r = cc_file_read(path, 16384, true, &b, &n)) < 0)
		return r;
	BIO *bio = BIO_new_mem_buf(b, (int)n);
	EVP_PKEY *k = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	cc_secure_free(b);
	ERR_clear_error();
	if (!k)
		return ATTEST_E_PROVIDER;
	*ret = k;
	return 0;
}

static int append_file(struct cc_buf *b, const char *dir, const char *name)
{
	char path[4096];
	int r = path_of(path, sizeof(path), dir, name);
	if (r < 0)
		return r;
	uint8_t *d;
	size_t n;
	if ((r = cc_file_read(path, 65536, false, &d, &n)) < 0)
		return r;
	r = cc_buf_append(b, d, n);
	free(d);
	return r;
}

void sim_td_free(struct sim_td *s)
{
	if (!s)
		return;
	EVP_PKEY_free(s->att_key);
	EVP_PKEY_free(s->pck_key);
	free(s->chain);
	free(s);
}

int sim_td_new(const struct attest_provider_opts *o, struct sim_td **ret)
{
	if (!o || !o->sim_dir)
		return -EINVAL;
	const char *dir = o->sim_dir;
	struct sim_td *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->flaw = o->sim_flaw;
	char path[4096];
	uint8_t *b = NULL;
	size_t n;
	int r = path_of(path, sizeof(path), dir, "sim.json");
	if (r == 0)
		r = cc_file_read(path, 65536, false, &b, &n);
	if (r < 0)
		goto fail;
	json_object *cfg = json_tokener_parse((const char *)b);
	free(b);
	if (!cfg || !json_object_is_type(cfg, json_type_object)) {
		json_object_put(cfg);
		r = ATTEST_E_PROVIDER;
		goto fail;
	}
	r = cfg_hex(cfg, "mrtd", s->mrtd, 48);
	for (int i = 0; i < 4 && r == 0; i++) {
		char k[8];
		snprintf(k, sizeof(k), "rtmr%d", i);
		r = cfg_hex(cfg, k, s->rtmr[i], 48);
	}
	if (r == 0)
		r = cfg_hex(cfg, "mrseam", s->mrseam, 48);
	if (r == 0)
		r = cfg_hex(cfg, "td_attributes", s->td_attributes, 8);
	if (r == 0)
		r = cfg_hex(cfg, "xfam", s->xfam, 8);
	if (r == 0)
		r = cfg_hex(cfg, "qe_mrsigner", s->qe_mrsigner, 32);
	json_object_put(cfg);
	if (r < 0)
		goto fail;
	if (o->sim_mrtd)
		memcpy(s->mrtd, o->sim_mrtd, 48);
	for (int i = 0; i < 4; i++)
		if (o->sim_rtmr[i])
			memcpy(s->rtmr[i], o->sim_rtmr[i], 48);
	if (o->sim_td_attributes)
		memcpy(s->td_attributes, o->sim_td_attributes, 8);
	bool revoked = s->flaw == ATTEST_SIM_REVOKED_PCK;
	if ((r = load_key(dir, "attestation.key", &s->att_key)) < 0 ||
	    (r = load_key(dir, revoked ? "pck_revoked.key" : "pck.key", &s->pck_key)) < 0)
		goto fail;
	struct cc_buf chain;
	cc_buf_init(&chain, PCK_CHAIN_MAX, false);
	if ((r = append_file(&chain, dir, revoked ? "pck_revoked.pem" : "pck.pem")) < 0 ||
	    (r = append_file(&chain, dir, "platform_ca.pem")) < 0 ||
	    (r = append_file(&chain, dir, "root_ca.pem")) < 0) {
		cc_buf_free(&chain);
		goto fail;
	}
	s->chain = (char *)cc_buf_steal(&chain, &s->chain_len);
	*ret = s;
	return 0;
fail:
	if (r == -ENOENT)
		cc_log(CC_LOG_ERROR, ATTEST_LOG, "sim: '%s' is not a sim directory (run 'ccattest sim init')", dir);
	sim_td_free(s);
	return r;
}

static int sign_raw(EVP_PKEY *k, const uint8_t *msg, size_t len, uint8_t sig[64])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t der[80];
	size_t dl = sizeof(der);
	int r = ATTEST_E_PROVIDER;
	if (ctx && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k) == 1 &&
	    EVP_DigestSign(ctx, der, &dl, msg, len) == 1)
		r = attest_sig_der_to_raw(der, dl, sig);
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return r;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

int sim_td_quote(struct sim_td *s, const uint8_t report_data[64], uint8_t **ret, size_t *ret_len)
{
	uint8_t attkey[65];
	size_t al = sizeof(attkey);
	if (EVP_PKEY_get_octet_string_param(s->att_key, "encoded-pub-key", attkey, sizeof(attkey), &al) != 1 ||
	    al != 65)
		return ATTEST_E_PROVIDER;
	static const uint8_t auth[32] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
					  16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31 };
	size_t sig_len = 64 + 64 + 2 + 4 + QE_REPORT_LEN + 64 + 2 + sizeof(auth) + 2 + 4 + s->chain_len;
	size_t total = QUOTE_HEADER_LEN + TD10_BODY_LEN + 4 + sig_len;
	uint8_t *q = calloc(1, total);
	if (!q)
		return -ENOMEM;
	/* header */
	put16(q, 4);
	put16(q + 2, 2);
	put32(q + 4, ATTEST_TEE_TYPE_TDX);
	put16(q + 8, SIM_QE_ISVSVN);
	put16(q + 10, sim_pcesvn);
	size_t got;
	cc_hex_decode(SIM_QE_VENDOR, 32, q + 12, 16, &got);
	/* TD report */
	uint8_t *b = q + QUOTE_HEADER_LEN;
	memcpy(b, s->flaw == ATTEST_SIM_OUT_OF_DATE_TCB      ? sim_tee_svn_old
		  : s->flaw == ATTEST_SIM_OUT_OF_DATE_MODULE ? sim_tee_svn_mod
							     : sim_tee_svn,
	       16);
	memcpy(b + 16, s->mrseam, 48);
	/* mrsignerseam zero, seamattributes zero */
	memcpy(b + 120, s->td_attributes, 8);
	if (s->flaw == ATTEST_SIM_DEBUG_TD)
		b[120] |= ATTEST_TDATTR_DEBUG;
	memcpy(b + 128, s->xfam, 8);
	memcpy(b + 136, s->mrtd, 48);
	if (s->flaw == ATTEST_SIM_OTHER_MRTD)
		b[136] ^= 0xff;
	/* mrconfigid, mrowner, mrownerconfig zero */
	for (int i = 0; i < 4; i++)
		memcpy(b + 328 + 48 * i, s->rtmr[i], 48);
	memcpy(b + 520, report_data, 64);
	/* signature data */
	uint8_t *p = q + QUOTE_HEADER_LEN + TD10_BODY_LEN;
	put32(p, (uint32_t)sig_len);
	p += 4;
	uint8_t *quote_sig = p;
	memcpy(p + 64, attkey + 1, 64);
	put16(p + 128, 6);
	put32(p + 130, (uint32_t)(sig_len - 134));
	uint8_t *qe = p + 134;
	/* QE report */
	qe[48] = 0x11; /* attributes: INIT | MODE64BIT */
	SHA256(s->qe_mrsigner, 32, qe + 64); /* a stable MRENCLAVE */
	memcpy(qe + 128, s->qe_mrsigner, 32);
	if (s->flaw == ATTEST_SIM_WRONG_QE)
		qe[128] ^= 0x5a;
	put16(qe + 256, SIM_QE_PRODID);
	put16(qe + 258, SIM_QE_ISVSVN);
	{
		uint8_t tmp[64 + sizeof(auth)];
		memcpy(tmp, attkey + 1, 64);
		memcpy(tmp + 64, auth, sizeof(auth));
		SHA256(tmp, sizeof(tmp), qe + 320);
	}
	int r = sign_raw(s->pck_key, qe, QE_REPORT_LEN, qe + QE_REPORT_LEN);
	uint8_t *ad = qe + QE_REPORT_LEN + 64;
	put16(ad, sizeof(auth));
	memcpy(ad + 2, auth, sizeof(auth));
	uint8_t *cd = ad + 2 + sizeof(auth);
	put16(cd, 5);
	put32(cd + 2, (uint32_t)s->chain_len);
	memcpy(cd + 6, s->chain, s->chain_len);
	if (r == 0)
		r = sign_raw(s->att_key, q, QUOTE_HEADER_LEN + TD10_BODY_LEN, quote_sig);
	if (r < 0) {
		free(q);
		return r;
	}
	if (s->flaw == ATTEST_SIM_BAD_SIGNATURE)
		quote_sig[5] ^= 0x01;
	*ret = q;
	*ret_len = total;
	return 0;
}
