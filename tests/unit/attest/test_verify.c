/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Verification failures, each with its specific error: tampered quote
 * parts, wrong root, collateral for another FMSPC, expired CRL, revoked PCK,
 * tampered TCB Info, bad collateral encodings; the sim TD end to end; the
 * configfs-tsm provider against a fake configfs tree.
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>

#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"
#include "internal.h"

static const char *AT_2025 = "2025-07-01T00:00:00Z";

static int verify_bytes(const uint8_t *b, size_t n, const char *coll, const char *at)
{
	struct attest_quote *q;
	int r = attest_quote_parse(b, n, &q);
	if (r < 0)
		return r;
	struct attest_verifier *v;
	assert_int_equal(attest_verifier_new(&v, NULL), 0);
	struct attest_collateral *c = td_collateral(coll);
	r = attest_verify(v, q, c, t_at(at), NULL);
	attest_collateral_free(c);
	attest_verifier_free(v);
	attest_quote_free(q);
	return r;
}

static void test_tampered_quote(void **state)
{
	(void)state;
	size_t n;
	uint8_t *b = td_read("quotes/v4-uptodate.dat", &n);
	const char *coll = "dqvl-2025-06/collateral.json";
	assert_err(verify_bytes(b, n, coll, AT_2025), 0);
	static const struct {
		size_t off;
		int want;
		const char *what;
	} cases[] = {
		{ 520 + 48 + 3, ATTEST_E_QUOTE_SIGNATURE, "REPORTDATA" },
		{ 48 + 136, ATTEST_E_QUOTE_SIGNATURE, "MRTD" },
		{ 48 + 120, ATTEST_E_QUOTE_SIGNATURE, "TDATTRIBUTES" },
		{ 20, ATTEST_E_QUOTE_SIGNATURE, "header" },
		{ 636 + 10, ATTEST_E_QUOTE_SIGNATURE, "quote signature" },
		{ 636 + 64 + 5, ATTEST_E_QE_REPORT_DATA, "attestation key" },
		{ 770 + 30, ATTEST_E_QE_REPORT_SIGNATURE, "QE report" },
		{ 770 + 384 + 7, ATTEST_E_QE_REPORT_SIGNATURE, "QE report signature" },
		{ 1220 + 1, ATTEST_E_QE_REPORT_DATA, "QE auth data" },
	};
	uint8_t *c = malloc(n);
	for (size_t i = 0; i < CC_ARRAY_SIZE(cases); i++) {
		print_message("tamper %s\n", cases[i].what);
		memcpy(c, b, n);
		c[cases[i].off] ^= 0x01;
		assert_err(verify_bytes(c, n, coll, AT_2025), cases[i].want);
	}
	free(c);
	/* the v5 quote signs [0, 54 + body) */
	b = realloc(b, 1);
	free(b);
	b = td_read("quotes/v5-uptodate.dat", &n);
	b[54 + 648 - 1] ^= 0x80;
	assert_err(verify_bytes(b, n, "dqvl-2026-02/collateral.json", "2026-03-01T00:00:00Z"),
		   ATTEST_E_QUOTE_SIGNATURE);
	free(b);
}

static void test_wrong_collateral(void **state)
{
	(void)state;
	size_t n;
	uint8_t *b = td_read("quotes/v4-uptodate.dat", &n);
	/* collateral for another FMSPC (its window in 2026) */
	assert_err(verify_bytes(b, n, "dqvl-2026-02/collateral.json", "2026-03-01T00:00:00Z"),
		   ATTEST_E_FMSPC_MISMATCH);
	/* expired CRL: after the PCK CRL's nextUpdate, before TCB Info's */
	assert_err(verify_bytes(b, n, "dqvl-2025-06/collateral.json", "2025-07-19T10:05:00Z"),
		   ATTEST_E_CRL_EXPIRED);
	free(b);
}

static void test_wrong_root(void **state)
{
	(void)state;
	struct attest_quote *q = td_quote("v4-uptodate.dat");
	struct attest_collateral *c = td_collateral("dqvl-2025-06/collateral.json");
	struct attest_verifier *v;
	assert_int_equal(attest_verifier_new_root_file(&v, td_path("intel-qvl-synthetic/trustedRootCaCert.pem")), 0);
	assert_err(attest_verify(v, q, c, t_at(AT_2025), NULL), ATTEST_E_UNTRUSTED_ROOT);
	attest_verifier_free(v);
	/* a root that is not a self-signed CA is refused as a trust anchor */
	size_t n;
	uint8_t *pem = td_read("intel-qvl-synthetic/pckCert.pem", &n);
	struct attest_verifier_opts o = { .root_cert = pem, .root_cert_len = n };
	assert_err(attest_verifier_new(&v, &o), ATTEST_E_CHAIN);
	o.root_cert_len = 10;
	assert_err(attest_verifier_new(&v, &o), ATTEST_E_BAD_PEM);
	free(pem);
	attest_collateral_free(c);
	attest_quote_free(q);
}

/* Rewrite one string member of the dcap-qvl bundle. */
static char *bundle_edit(const char *find, const char *repl)
{
	size_t n;
	uint8_t *raw = NULL;
	assert_int_equal(cc_file_read(td_path("collateral/dqvl-2025-06/collateral.json"), 1u << 20,
				      false, &raw, &n), 0);
	char *b = (char *)raw;
	const char *hit = strstr(b, find);
	assert_non_null(hit);
	size_t pre = (size_t)(hit - b);
	size_t fl = strlen(find), rl = strlen(repl);
	char *o = malloc(n - fl + rl + 1);
	memcpy(o, b, pre);
	memcpy(o + pre, repl, rl);
	memcpy(o + pre + rl, b + pre + fl, n - pre - fl);
	o[n - fl + rl] = 0;
	free(b);
	return o;
}

static int verify_bundle(const char *json)
{
	struct attest_collateral *c;
	int r = attest_collateral_load_bundle(json, strlen(json), &c);
	if (r < 0)
		return r;
	struct attest_quote *q = td_quote("v4-uptodate.dat");
	struct attest_verifier *v;
	assert_int_equal(attest_verifier_new(&v, NULL), 0);
	r = attest_verify(v, q, c, t_at(AT_2025), NULL);
	attest_verifier_free(v);
	attest_quote_free(q);
	attest_collateral_free(c);
	return r;
}

static void test_bad_collateral(void **state)
{
	(void)state;
	char *j;
	/* tampered TCB Info (a value changed, still valid JSON) */
	j = bundle_edit("\"tcbEvaluationDataNumber\\\":17", "\"tcbEvaluationDataNumber\\\":18");
	assert_err(verify_bundle(j), ATTEST_E_TCB_INFO_SIGNATURE);
	free(j);
	/* tampered QE Identity */
	j = bundle_edit("\"isvprodid\\\":2", "\"isvprodid\\\":3");
	assert_err(verify_bundle(j), ATTEST_E_QE_IDENTITY_SIGNATURE);
	free(j);
	/* TCB Info made for another FMSPC is caught by its signature first */
	j = bundle_edit("B0C06F000000", "B0C06F000001");
	assert_err(verify_bundle(j), ATTEST_E_TCB_INFO_SIGNATURE);
	free(j);
	/* bad JSON */
	assert_err(verify_bundle("{\"pck_crl\":"), ATTEST_E_BAD_JSON);
	assert_err(verify_bundle("{}"), ATTEST_E_COLLATERAL_MISSING);
	j = bundle_edit("\"tcb_info\": \"{", "\"tcb_info\": \"[{");
	assert_err(verify_bundle(j), ATTEST_E_BAD_JSON);
	free(j);
	/* bad DER in a CRL, bad PEM in a chain */
	j = bundle_edit("\"pck_crl\": \"30820a63", "\"pck_crl\": \"30820a64");
	assert_err(verify_bundle(j), ATTEST_E_BAD_PEM);
	free(j);
	j = bundle_edit("MIICjTCCAjKgAwIBAgIUfjiC", "MIICjTCCAjKgAwIBAgIUfji!");
	assert_err(verify_bundle(j), ATTEST_E_BAD_PEM);
	free(j);
	/* bad signature encoding */
	j = bundle_edit("\"tcb_info_signature\": \"02", "\"tcb_info_signature\": \"2");
	assert_err(verify_bundle(j), ATTEST_E_COLLATERAL_FORMAT);
	free(j);
	/* missing directory item */
	struct attest_collateral *c;
	assert_err(attest_collateral_load("/nonexistent-dir-xyz", &c), -ENOENT);
	char dir[] = "/tmp/attest-empty-XXXXXX";
	assert_non_null(mkdtemp(dir));
	assert_err(attest_collateral_load(dir, &c), ATTEST_E_COLLATERAL_MISSING);
	rmdir(dir);
}

/* ---- sim TD ---- */

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void rm_rf(const char *dir)
{
	nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static char simdir[64];

static int sim_setup(void **state)
{
	(void)state;
	snprintf(simdir, sizeof(simdir), "/tmp/attest-sim-XXXXXX");
	if (!mkdtemp(simdir))
		return -1;
	return attest_sim_init(simdir, 30);
}

static int sim_teardown(void **state)
{
	(void)state;
	rm_rf(simdir);
	return 0;
}

static int sim_verify(enum attest_sim_flaw flaw, const char *coll, bool pin, struct attest_result *res)
{
	struct attest_provider_opts o = { .sim_dir = simdir, .sim_flaw = flaw };
	struct attest_provider *p;
	assert_int_equal(attest_provider_new("sim", &o, &p), 0);
	uint8_t rd[64];
	for (int i = 0; i < 64; i++)
		rd[i] = (uint8_t)i;
	uint8_t *qb;
	size_t qn;
	assert_int_equal(attest_provider_get_quote(p, rd, &qb, &qn), 0);
	attest_provider_free(p);
	struct attest_quote *q;
	assert_int_equal(attest_quote_parse(qb, qn, &q), 0);
	free(qb);
	assert_memory_equal(q->td.report_data, rd, 64);
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", simdir, coll);
	struct attest_collateral *c;
	assert_int_equal(attest_collateral_load(path, &c), 0);
	struct attest_verifier *v;
	if (pin) {
		snprintf(path, sizeof(path), "%s/root_ca.pem", simdir);
		assert_int_equal(attest_verifier_new_root_file(&v, path), 0);
	} else {
		assert_int_equal(attest_verifier_new(&v, NULL), 0);
	}
	int r = attest_verify(v, q, c, cc_wall_s(), res);
	attest_verifier_free(v);
	attest_collateral_free(c);
	attest_quote_free(q);
	return r;
}

static void test_sim(void **state)
{
	(void)state;
	struct attest_result res;
	struct attest_policy *pol;
	struct attest_policy_verdict vd;
	assert_int_equal(attest_policy_new_default(&pol), 0);

	assert_err(sim_verify(ATTEST_SIM_NONE, "collateral", true, &res), 0);
	assert_int_equal(res.status, ATTEST_TCB_UP_TO_DATE);
	assert_int_equal(attest_policy_eval(pol, &res, &vd), 0);
	/* never accepted without the sim root pinned */
	assert_err(sim_verify(ATTEST_SIM_NONE, "collateral", false, &res), ATTEST_E_UNTRUSTED_ROOT);
	/* expired collateral */
	assert_err(sim_verify(ATTEST_SIM_NONE, "collateral-expired", true, &res), ATTEST_E_COLLATERAL_EXPIRED);
	/* each flaw */
	assert_err(sim_verify(ATTEST_SIM_REVOKED_PCK, "collateral", true, &res), ATTEST_E_CERT_REVOKED);
	assert_err(sim_verify(ATTEST_SIM_WRONG_QE, "collateral", true, &res), ATTEST_E_QE_IDENTITY_MISMATCH);
	assert_err(sim_verify(ATTEST_SIM_BAD_SIGNATURE, "collateral", true, &res), ATTEST_E_QUOTE_SIGNATURE);
	assert_err(sim_verify(ATTEST_SIM_OUT_OF_DATE_TCB, "collateral", true, &res), 0);
	assert_int_equal(res.status, ATTEST_TCB_OUT_OF_DATE);
	assert_int_equal(res.n_advisories, 1);
	assert_string_equal(res.advisory_ids[0], "INTEL-SA-00837");
	assert_int_equal(attest_policy_eval(pol, &res, &vd), ATTEST_E_POLICY_REJECTED);
	/* TDX module 1.x: platform level matched on TEE_TCB_SVN bytes 2..15,
	 * the module identity's OutOfDate level pulls the result down */
	assert_err(sim_verify(ATTEST_SIM_OUT_OF_DATE_MODULE, "collateral", true, &res), 0);
	assert_int_equal(res.platform_status, ATTEST_TCB_UP_TO_DATE);
	assert_int_equal(res.module_status, ATTEST_TCB_OUT_OF_DATE);
	assert_int_equal(res.status, ATTEST_TCB_OUT_OF_DATE);
	assert_int_equal(res.n_advisories, 1);
	assert_string_equal(res.advisory_ids[0], "INTEL-SA-01079");
	assert_err(sim_verify(ATTEST_SIM_DEBUG_TD, "collateral", true, &res), 0);
	assert_true(res.debug);
	assert_int_equal(attest_policy_eval(pol, &res, &vd), ATTEST_E_POLICY_REJECTED);
	assert_string_equal(vd.failed[0], "debug");
	/* MRTD pinned by policy */
	struct attest_result good;
	assert_err(sim_verify(ATTEST_SIM_NONE, "collateral", true, &good), 0);
	char buf[256], h[97];
	cc_hex_encode(good.td.mr_td, 48, h, sizeof(h));
	snprintf(buf, sizeof(buf), "{\"mrtd\":[\"%s\"]}", h);
	struct attest_policy *mp;
	assert_int_equal(attest_policy_parse(buf, strlen(buf), &mp), 0);
	assert_int_equal(attest_policy_eval(mp, &good, &vd), 0);
	assert_err(sim_verify(ATTEST_SIM_OTHER_MRTD, "collateral", true, &res), 0);
	assert_int_equal(attest_policy_eval(mp, &res, &vd), ATTEST_E_POLICY_REJECTED);
	assert_string_equal(vd.failed[0], "mrtd");
	attest_policy_free(mp);
	attest_policy_free(pol);

	/* keys are 0600; a second init refuses to overwrite */
	char path[256];
	struct stat st;
	snprintf(path, sizeof(path), "%s/attestation.key", simdir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(attest_sim_init(simdir, 30), -EEXIST);
	/* unknown provider, sim without a directory */
	struct attest_provider *p;
	assert_int_equal(attest_provider_new("sgx", NULL, &p), ATTEST_E_UNSUPPORTED);
	assert_int_equal(attest_provider_new("sim", NULL, &p), -EINVAL);
	struct attest_provider_opts o = { .sim_dir = "/nonexistent-sim" };
	assert_true(attest_provider_new("sim", &o, &p) < 0);
}

static uint8_t *sim_quote(enum attest_sim_flaw flaw, size_t *len)
{
	struct attest_provider_opts o = { .sim_dir = simdir, .sim_flaw = flaw };
	struct attest_provider *p;
	assert_int_equal(attest_provider_new("sim", &o, &p), 0);
	uint8_t rd[64] = { 0 };
	uint8_t *qb;
	assert_int_equal(attest_provider_get_quote(p, rd, &qb, len), 0);
	attest_provider_free(p);
	return qb;
}

static void copy_file(const char *from, const char *to)
{
	uint8_t *b;
	size_t n;
	assert_int_equal(cc_file_read(from, 1 << 20, false, &b, &n), 0);
	assert_int_equal(cc_file_write_atomic(to, b, n, 0644), 0);
	free(b);
}

/* Revocation is judged per call, even when the PCK chain comes from the
 * verifier's cache: the same revoked-PCK quote passes with a PCK CRL that
 * does not list it and fails with one that does. */
static void test_revocation_after_cache(void **state)
{
	(void)state;
	char src[512], dst[512], alt[128];
	snprintf(alt, sizeof(alt), "%s/collateral-norevoke", simdir);
	assert_int_equal(mkdir(alt, 0700), 0);
	static const char *const files[] = { "tcb_info.json", "tcb_info_issuer_chain.pem", "qe_identity.json",
		"qe_identity_issuer_chain.pem", "pck_crl_issuer_chain.pem", "root_ca_crl.der" };
	for (size_t i = 0; i < CC_ARRAY_SIZE(files); i++) {
		snprintf(src, sizeof(src), "%s/collateral/%s", simdir, files[i]);
		snprintf(dst, sizeof(dst), "%s/%s", alt, files[i]);
		copy_file(src, dst);
	}
	/* an empty PCK CRL from the sim platform CA */
	snprintf(src, sizeof(src), "%s/platform_ca.key", simdir);
	FILE *f = fopen(src, "r");
	assert_non_null(f);
	EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	snprintf(src, sizeof(src), "%s/platform_ca.pem", simdir);
	f = fopen(src, "r");
	X509 *ca = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(k);
	assert_non_null(ca);
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *t1 = ASN1_TIME_set(NULL, (time_t)(cc_wall_s() - 3600));
	ASN1_TIME *t2 = ASN1_TIME_set(NULL, (time_t)(cc_wall_s() + 86400));
	assert_true(X509_CRL_set_version(crl, 1) && X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) &&
		    X509_CRL_set1_lastUpdate(crl, t1) && X509_CRL_set1_nextUpdate(crl, t2) &&
		    X509_CRL_sign(crl, k, EVP_sha256()) > 0);
	unsigned char *der = NULL;
	int dl = i2d_X509_CRL(crl, &der);
	assert_true(dl > 0);
	snprintf(dst, sizeof(dst), "%s/pck_crl.der", alt);
	assert_int_equal(cc_file_write_atomic(dst, der, (size_t)dl, 0644), 0);
	OPENSSL_free(der);
	ASN1_TIME_free(t1);
	ASN1_TIME_free(t2);
	X509_CRL_free(crl);
	X509_free(ca);
	EVP_PKEY_free(k);

	size_t n;
	uint8_t *qb = sim_quote(ATTEST_SIM_REVOKED_PCK, &n);
	struct attest_quote *q;
	assert_int_equal(attest_quote_parse(qb, n, &q), 0);
	free(qb);
	struct attest_verifier *v;
	snprintf(src, sizeof(src), "%s/root_ca.pem", simdir);
	assert_int_equal(attest_verifier_new_root_file(&v, src), 0);
	struct attest_collateral *c_ok, *c_rev;
	assert_int_equal(attest_collateral_load(alt, &c_ok), 0);
	snprintf(src, sizeof(src), "%s/collateral", simdir);
	assert_int_equal(attest_collateral_load(src, &c_rev), 0);
	int64_t now = cc_wall_s();
	assert_err(attest_verify(v, q, c_ok, now, NULL), 0);
	assert_err(attest_verify(v, q, c_rev, now, NULL), ATTEST_E_CERT_REVOKED);
	assert_err(attest_verify(v, q, c_ok, now, NULL), 0);
	/* a PCK certificate outside its validity is refused on a cache hit too:
	 * the sim PCK is valid from yesterday, the CRL from an hour ago */
	assert_true(attest_verify(v, q, c_ok, now - 2 * 86400, NULL) < 0);
	attest_collateral_free(c_ok);
	attest_collateral_free(c_rev);
	attest_verifier_free(v);
	attest_quote_free(q);
}

struct thr {
	struct attest_verifier *v;
	struct attest_collateral *c;
	const uint8_t *q;
	size_t n;
	int failures;
};

static void *verify_thread(void *arg)
{
	struct thr *t = arg;
	for (int i = 0; i < 25; i++) {
		struct attest_quote *q;
		struct attest_result res;
		if (attest_quote_parse(t->q, t->n, &q) < 0 ||
		    attest_verify(t->v, q, t->c, cc_wall_s(), &res) != 0 ||
		    res.status != ATTEST_TCB_UP_TO_DATE)
			t->failures++;
		attest_quote_free(q);
	}
	return NULL;
}

/* One verifier and one collateral shared by threads. */
static void test_threads(void **state)
{
	(void)state;
	size_t n;
	uint8_t *qb = sim_quote(ATTEST_SIM_NONE, &n);
	char p[256];
	struct thr t;
	memset(&t, 0, sizeof(t));
	snprintf(p, sizeof(p), "%s/root_ca.pem", simdir);
	assert_int_equal(attest_verifier_new_root_file(&t.v, p), 0);
	snprintf(p, sizeof(p), "%s/collateral", simdir);
	assert_int_equal(attest_collateral_load(p, &t.c), 0);
	t.q = qb;
	t.n = n;
	struct thr a = t, b = t;
	pthread_t ta, tb;
	assert_int_equal(pthread_create(&ta, NULL, verify_thread, &a), 0);
	assert_int_equal(pthread_create(&tb, NULL, verify_thread, &b), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	assert_int_equal(a.failures + b.failures, 0);
	attest_collateral_free(t.c);
	attest_verifier_free(t.v);
	free(qb);
}

/* ---- configfs-tsm against a fake tree ---- */

static const uint8_t *fake_quote;
static size_t fake_quote_len;
static const char *fake_provider = "tdx_guest\n";
static const char *fake_generation = "1\n";

static void put_file(const char *dir, const char *name, const void *d, size_t n)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	assert_int_equal(cc_file_write_atomic(p, d, n, 0644), 0);
}

/* What the kernel does on mkdir: the entry appears with its attributes. */
static int fake_mkdir(const char *path)
{
	if (mkdir(path, 0700) < 0)
		return -errno;
	put_file(path, "inblob", "", 0);
	put_file(path, "outblob", fake_quote, fake_quote_len);
	put_file(path, "provider", fake_provider, strlen(fake_provider));
	put_file(path, "generation", fake_generation, strlen(fake_generation));
	return 0;
}

static int fake_rmdir(const char *path)
{
	static const char *const f[] = { "inblob", "outblob", "provider", "generation" };
	for (size_t i = 0; i < CC_ARRAY_SIZE(f); i++) {
		char p[4096];
		snprintf(p, sizeof(p), "%s/%s", path, f[i]);
		unlink(p);
	}
	return rmdir(path) < 0 ? -errno : 0;
}

static bool dir_empty(const char *d)
{
	DIR *dd = opendir(d);
	struct dirent *e;
	bool empty = true;
	while ((e = readdir(dd)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			empty = false;
	closedir(dd);
	return empty;
}

static void test_tsm(void **state)
{
	(void)state;
	size_t n;
	uint8_t *qb = td_read("quotes/v4-uptodate.dat", &n);
	fake_quote = qb;
	fake_quote_len = n;
	char root[] = "/tmp/attest-tsm-XXXXXX";
	assert_non_null(mkdtemp(root));
	attest_tsm_mkdir_hook = fake_mkdir;
	attest_tsm_rmdir_hook = fake_rmdir;
	struct attest_provider_opts o = { .tsm_root = root };
	struct attest_provider *p;
	assert_int_equal(attest_provider_new("tsm", &o, &p), 0);
	uint8_t rd[64] = { 9 };
	uint8_t *out = NULL;
	size_t on = 0;
	assert_int_equal(attest_provider_get_quote(p, rd, &out, &on), 0);
	assert_int_equal(on, n);
	assert_memory_equal(out, qb, n);
	free(out);
	assert_true(dir_empty(root)); /* entry removed */

	/* generation moved: another writer raced us */
	fake_generation = "2\n";
	assert_err(attest_provider_get_quote(p, rd, &out, &on), ATTEST_E_PROVIDER_RACE);
	fake_generation = "1\n";
	/* not a TDX provider */
	fake_provider = "sev_guest\n";
	assert_err(attest_provider_get_quote(p, rd, &out, &on), ATTEST_E_PROVIDER);
	fake_provider = "tdx_guest\n";
	/* empty or oversized outblob */
	fake_quote_len = 0;
	assert_err(attest_provider_get_quote(p, rd, &out, &on), ATTEST_E_PROVIDER);
	uint8_t *big = calloc(1, ATTEST_QUOTE_MAX + 10);
	fake_quote = big;
	fake_quote_len = ATTEST_QUOTE_MAX + 10;
	assert_err(attest_provider_get_quote(p, rd, &out, &on), ATTEST_E_QUOTE_TOOBIG);
	free(big);
	assert_true(dir_empty(root));
	attest_provider_free(p);
	attest_tsm_mkdir_hook = NULL;
	attest_tsm_rmdir_hook = NULL;
	/* no configfs at all */
	o.tsm_root = "/nonexistent/tsm/report";
	assert_int_equal(attest_provider_new("tsm", &o, &p), -ENOENT);
	rmdir(root);
	free(qb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tampered_quote),
		cmocka_unit_test(test_wrong_collateral),
		cmocka_unit_test(test_wrong_root),
		cmocka_unit_test(test_bad_collateral),
		cmocka_unit_test_setup_teardown(test_sim, sim_setup, sim_teardown),
		cmocka_unit_test_setup_teardown(test_revocation_after_cache, sim_setup, sim_teardown),
		cmocka_unit_test_setup_teardown(test_threads, sim_setup, sim_teardown),
		cmocka_unit_test(test_tsm),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
