/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Real TDX quotes and Intel collateral (testdata/tdx, see its README for the
 * origin of each file): each gives the stated status inside its validity
 * window and fails after it.
 */
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "helpers.h"

struct vec {
	const char *quote, *collateral, *at, *after;
	int want;
	enum attest_tcb_status status;
	bool debug;
};

static const struct vec vecs[] = {
	{ "v4-uptodate.dat", "dqvl-2025-06/collateral.json", "2025-07-01T00:00:00Z",
	  "2025-07-20T00:00:00Z", 0, ATTEST_TCB_UP_TO_DATE, false },
	{ "v5-uptodate.dat", "dqvl-2026-02/collateral.json", "2026-03-01T00:00:00Z",
	  "2026-03-21T00:00:00Z", 0, ATTEST_TCB_UP_TO_DATE, false },
	{ "v5-tcb-not-supported.dat", "dqvl-2026-02/collateral.json", "2026-03-01T00:00:00Z",
	  "2026-03-21T00:00:00Z", ATTEST_E_TCB_NOT_SUPPORTED, ATTEST_TCB_NOT_SUPPORTED, false },
	{ "v4-debug-td.dat", "gtg-2023", "2023-07-01T01:00:00Z", "2023-07-09T00:00:00Z", 0,
	  ATTEST_TCB_UP_TO_DATE, true },
};

static void test_vectors(void **state)
{
	(void)state;
	struct attest_verifier *v;
	assert_int_equal(attest_verifier_new(&v, NULL), 0);
	struct attest_policy *pol;
	assert_int_equal(attest_policy_new_default(&pol), 0);
	for (size_t i = 0; i < CC_ARRAY_SIZE(vecs); i++) {
		const struct vec *t = &vecs[i];
		print_message("%s with %s at %s\n", t->quote, t->collateral, t->at);
		struct attest_quote *q = td_quote(t->quote);
		struct attest_collateral *c = td_collateral(t->collateral);
		struct attest_result res;
		assert_err(attest_verify(v, q, c, t_at(t->at), &res), t->want);
		assert_int_equal(res.status, t->status);
		assert_int_equal(res.n_advisories, 0);
		assert_int_equal(res.debug, t->debug);
		assert_memory_equal(res.td.mr_td, q->td.mr_td, 48);
		assert_memory_equal(res.td.report_data, q->td.report_data, 64);
		uint8_t fm[6];
		assert_int_equal(attest_collateral_info(c, fm, NULL, NULL), 0);
		assert_memory_equal(res.fmspc, fm, 6);
		struct attest_policy_verdict vd;
		if (t->want == 0) {
			/* debug TD: the default policy refuses it, naming the rule */
			int pr = attest_policy_eval(pol, &res, &vd);
			if (t->debug) {
				assert_int_equal(pr, ATTEST_E_POLICY_REJECTED);
				assert_int_equal(vd.n_failed, 1);
				assert_string_equal(vd.failed[0], "debug");
			} else {
				assert_int_equal(pr, 0);
			}
		}
		/* after the window: collateral expired */
		assert_err(attest_verify(v, q, c, t_at(t->after), &res), ATTEST_E_COLLATERAL_EXPIRED);
		/* and at the real time now (long expired) */
		assert_true(attest_verify(v, q, c, cc_wall_s(), &res) < 0);
		/* before the window */
		assert_err(attest_verify(v, q, c, t_at("2020-01-01T00:00:00Z"), &res),
			   ATTEST_E_COLLATERAL_EXPIRED);
		/* verification is repeatable with the cached collateral checks */
		assert_err(attest_verify(v, q, c, t_at(t->at), &res), t->want);
		attest_collateral_free(c);
		attest_quote_free(q);
	}
	attest_policy_free(pol);
	attest_verifier_free(v);
}

/* The exact validity window of v4-uptodate's collateral. */
static void test_window_edges(void **state)
{
	(void)state;
	struct attest_verifier *v;
	assert_int_equal(attest_verifier_new(&v, NULL), 0);
	struct attest_quote *q = td_quote("v4-uptodate.dat");
	struct attest_collateral *c = td_collateral("dqvl-2025-06/collateral.json");
	int64_t nb, na;
	assert_int_equal(attest_collateral_info(c, NULL, &nb, &na), 0);
	assert_int_equal(nb, t_at("2025-06-19T10:32:27Z"));
	assert_int_equal(na, t_at("2025-07-19T10:00:35Z"));
	assert_err(attest_verify(v, q, c, nb, NULL), 0);
	assert_err(attest_verify(v, q, c, na, NULL), 0);
	assert_err(attest_verify(v, q, c, nb - 1, NULL), ATTEST_E_COLLATERAL_EXPIRED);
	/* the PCK CRL's nextUpdate ends the window before the TCB Info does */
	assert_err(attest_verify(v, q, c, na + 1, NULL), ATTEST_E_CRL_EXPIRED);
	attest_collateral_free(c);
	attest_quote_free(q);
	attest_verifier_free(v);
}

static int copy(const char *src, const char *dir, const char *name)
{
	uint8_t *b;
	size_t n;
	int r = cc_file_read(src, 1u << 20, false, &b, &n);
	if (r < 0)
		return r;
	char p[4096];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	r = cc_file_write_atomic(p, b, n, 0644);
	free(b);
	return r;
}

/* Intel's synthetic sample: parses; Intel's root refuses it; with its own
 * root, the QE identity does not match. */
static void test_intel_synthetic(void **state)
{
	(void)state;
	char dir[] = "/tmp/attest-synth-XXXXXX";
	assert_non_null(mkdtemp(dir));
	static const char *const map[][2] = {
		{ "tcbInfo.json", "tcb_info.json" },
		{ "qeIdentity.json", "qe_identity.json" },
		{ "tcbSignChain.pem", "tcb_info_issuer_chain.pem" },
		{ "tcbSignChain.pem", "qe_identity_issuer_chain.pem" },
		{ "pckSignChain.pem", "pck_crl_issuer_chain.pem" },
		{ "intermediateCaCrl.der", "pck_crl.der" },
		{ "rootCaCrl.der", "root_ca_crl.der" },
	};
	char rel[256];
	for (size_t i = 0; i < CC_ARRAY_SIZE(map); i++) {
		snprintf(rel, sizeof(rel), "intel-qvl-synthetic/%s", map[i][0]);
		assert_int_equal(copy(td_path(rel), dir, map[i][1]), 0);
	}
	size_t n;
	uint8_t *b = td_read("intel-qvl-synthetic/quote.dat", &n);
	struct attest_quote *q;
	assert_int_equal(attest_quote_parse(b, n, &q), 0);
	free(b);
	assert_int_equal(q->version, 4);
	uint8_t fm[6];
	assert_int_equal(attest_quote_pck_info(q, fm, NULL), 0);
	struct attest_collateral *c;
	assert_int_equal(attest_collateral_load(dir, &c), 0);
	struct attest_verifier *intel, *own;
	assert_int_equal(attest_verifier_new(&intel, NULL), 0);
	assert_int_equal(attest_verifier_new_root_file(&own, td_path("intel-qvl-synthetic/trustedRootCaCert.pem")), 0);
	int64_t at = t_at("2025-01-01T00:00:00Z");
	assert_err(attest_verify(intel, q, c, at, NULL), ATTEST_E_UNTRUSTED_ROOT);
	assert_err(attest_verify(own, q, c, at, NULL), ATTEST_E_QE_IDENTITY_MISMATCH);
	/* the cache is per root: switching back still refuses */
	assert_err(attest_verify(intel, q, c, at, NULL), ATTEST_E_UNTRUSTED_ROOT);
	attest_verifier_free(intel);
	attest_verifier_free(own);
	attest_collateral_free(c);
	attest_quote_free(q);
	for (size_t i = 0; i < CC_ARRAY_SIZE(map); i++) {
		char p[4096];
		snprintf(p, sizeof(p), "%s/%s", dir, map[i][1]);
		unlink(p);
	}
	rmdir(dir);
}

static void to_pem_crl(const char *der_path, const char *pem_path)
{
	uint8_t *b;
	size_t n;
	assert_int_equal(cc_file_read(der_path, 1 << 20, false, &b, &n), 0);
	const unsigned char *p = b;
	X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)n);
	assert_non_null(crl);
	FILE *f = fopen(pem_path, "w");
	assert_non_null(f);
	assert_true(PEM_write_X509_CRL(f, crl));
	fclose(f);
	X509_CRL_free(crl);
	free(b);
}

/* The PCS directory layout with the CRLs in PEM gives the same result. */
static void test_pem_crls(void **state)
{
	(void)state;
	char dir[] = "/tmp/attest-pemcrl-XXXXXX";
	assert_non_null(mkdtemp(dir));
	static const char *const files[] = { "tcb_info.json", "tcb_info_issuer_chain.pem", "qe_identity.json",
		"qe_identity_issuer_chain.pem", "pck_crl_issuer_chain.pem" };
	char rel[256], dst[512];
	for (size_t i = 0; i < CC_ARRAY_SIZE(files); i++) {
		snprintf(rel, sizeof(rel), "collateral/gtg-2023/%s", files[i]);
		assert_int_equal(copy(td_path(rel), dir, files[i]), 0);
	}
	snprintf(dst, sizeof(dst), "%s/pck_crl.pem", dir);
	to_pem_crl(td_path("collateral/gtg-2023/pck_crl.der"), dst);
	snprintf(dst, sizeof(dst), "%s/root_ca_crl.pem", dir);
	to_pem_crl(td_path("collateral/gtg-2023/root_ca_crl.der"), dst);
	struct attest_collateral *c;
	assert_int_equal(attest_collateral_load(dir, &c), 0);
	struct attest_verifier *v;
	assert_int_equal(attest_verifier_new(&v, NULL), 0);
	struct attest_quote *q = td_quote("v4-debug-td.dat");
	struct attest_result res;
	assert_err(attest_verify(v, q, c, t_at("2023-07-01T01:00:00Z"), &res), 0);
	assert_int_equal(res.status, ATTEST_TCB_UP_TO_DATE);
	assert_true(res.debug);
	attest_quote_free(q);
	attest_verifier_free(v);
	attest_collateral_free(c);
	for (size_t i = 0; i < CC_ARRAY_SIZE(files); i++) {
		snprintf(dst, sizeof(dst), "%s/%s", dir, files[i]);
		unlink(dst);
	}
	snprintf(dst, sizeof(dst), "%s/pck_crl.pem", dir);
	unlink(dst);
	snprintf(dst, sizeof(dst), "%s/root_ca_crl.pem", dir);
	unlink(dst);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_window_edges),
		cmocka_unit_test(test_intel_synthetic),
		cmocka_unit_test(test_pem_crls),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
