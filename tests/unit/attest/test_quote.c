/* SPDX-License-Identifier: Apache-2.0 */
/* Quote parsing (every bad-input class gives its specific error), text
 * input forms, the JSON span scanner, and policies. */
#include <errno.h>

#include "helpers.h"
#include "internal.h"

static uint8_t *v4(size_t *n)
{
	return td_read("quotes/v4-uptodate.dat", n);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void test_parse_fields(void **state)
{
	(void)state;
	struct attest_quote *q = td_quote("v4-uptodate.dat");
	assert_int_equal(q->version, 4);
	assert_int_equal(q->tee_type, 0x81);
	assert_int_equal(q->body_type, 2);
	assert_int_equal(q->signed_len, 632);
	assert_int_equal(q->cert_data_type, 6);
	assert_int_equal(q->pck_chain_type, 5);
	assert_true(q->raw_len < q->input_len); /* trailing bytes dropped */
	uint8_t fm[6], pce[2];
	assert_int_equal(attest_quote_pck_info(q, fm, pce), 0);
	static const uint8_t want[6] = { 0xb0, 0xc0, 0x6f, 0, 0, 0 };
	assert_memory_equal(fm, want, 6);
	attest_quote_free(q);

	q = td_quote("v5-uptodate.dat");
	assert_int_equal(q->version, 5);
	assert_int_equal(q->body_type, 3);
	assert_int_equal(q->body_size, 648);
	assert_int_equal(q->signed_len, 54 + 648);
	attest_quote_free(q);
}

/* A v5 container with a TD 1.0 body (type 2) parses: the body is located by
 * the v5 type/size fields and the signature covers [0, 54 + 584). */
static void test_v5_type2(void **state)
{
	(void)state;
	size_t n;
	uint8_t *b = v4(&n);
	uint8_t *c = malloc(n + 6);
	memcpy(c, b, 48);
	c[0] = 5;
	c[48] = 2;
	c[49] = 0;
	put32(c + 50, 584);
	memcpy(c + 54, b + 48, n - 48);
	struct attest_quote *q;
	assert_int_equal(attest_quote_parse(c, n + 6, &q), 0);
	assert_int_equal(q->version, 5);
	assert_int_equal(q->body_type, 2);
	assert_int_equal(q->signed_len, 54 + 584);
	struct attest_quote *q4 = td_quote("v4-uptodate.dat");
	assert_memory_equal(&q->td, &q4->td, sizeof(q->td));
	assert_memory_equal(q->qe_report_raw, q4->qe_report_raw, 384);
	/* the signature no longer covers the same bytes */
	struct attest_verifier *v;
	assert_int_equal(attest_verifier_new(&v, NULL), 0);
	struct attest_collateral *col = td_collateral("dqvl-2025-06/collateral.json");
	assert_err(attest_verify(v, q, col, t_at("2025-07-01T00:00:00Z"), NULL), ATTEST_E_QUOTE_SIGNATURE);
	attest_collateral_free(col);
	attest_verifier_free(v);
	attest_quote_free(q4);
	attest_quote_free(q);
	free(c);
	free(b);
}

/* Every truncation of a real quote is refused without crashing. */
static void test_truncations(void **state)
{
	(void)state;
	size_t n;
	uint8_t *b = v4(&n);
	struct attest_quote *q0;
	assert_int_equal(attest_quote_parse(b, n, &q0), 0);
	size_t used = q0->raw_len;
	attest_quote_free(q0);
	for (size_t len = 0; len < used; len++) {
		struct attest_quote *q = NULL;
		int r = attest_quote_parse(b, len, &q);
		assert_true(r < 0);
		assert_null(q);
		assert_true(r == ATTEST_E_QUOTE_TRUNCATED || r == ATTEST_E_QUOTE_LENGTH);
	}
	/* exactly the used length parses */
	struct attest_quote *q;
	assert_int_equal(attest_quote_parse(b, used, &q), 0);
	attest_quote_free(q);
	free(b);
}

static void test_bad_headers(void **state)
{
	(void)state;
	size_t n;
	uint8_t *b = v4(&n);
	struct attest_quote *q = NULL;
	uint8_t *c = malloc(n);

	memcpy(c, b, n);
	c[0] = 3;
	assert_err(attest_quote_parse(c, n, &q), ATTEST_E_QUOTE_VERSION);
	memcpy(c, b, n);
	c[4] = 0x00; /* SGX */
	assert_err(attest_quote_parse(c, n, &q), ATTEST_E_TEE_TYPE);
	memcpy(c, b, n);
	c[2] = 3; /* ECDSA-384 */
	assert_err(attest_quote_parse(c, n, &q), ATTEST_E_KEY_TYPE);
	/* signature data length beyond the input */
	memcpy(c, b, n);
	put32(c + 632, (uint32_t)n);
	assert_err(attest_quote_parse(c, n, &q), ATTEST_E_QUOTE_LENGTH);
	/* certification data type */
	memcpy(c, b, n);
	c[636 + 128] = 5;
	assert_err(attest_quote_parse(c, n, &q), ATTEST_E_CERT_DATA_TYPE);
	/* certification data length inconsistent with the signature data */
	memcpy(c, b, n);
	put32(c + 636 + 130, 100);
	assert_err(attest_quote_parse(c, n, &q), ATTEST_E_QUOTE_LENGTH);
	/* QE auth data length past the end */
	memcpy(c, b, n);
	c[636 + 134 + 384 + 64] = 0xff;
	c[636 + 134 + 384 + 64 + 1] = 0xff;
	assert_err(attest_quote_parse(c, n, &q), ATTEST_E_QUOTE_LENGTH);
	/* oversized input */
	uint8_t *big = calloc(1, ATTEST_QUOTE_MAX + 1);
	memcpy(big, b, n);
	assert_err(attest_quote_parse(big, ATTEST_QUOTE_MAX + 1, &q), ATTEST_E_QUOTE_TOOBIG);
	free(big);
	assert_null(q);
	free(c);
	free(b);

	/* v5: body type and size */
	b = td_read("quotes/v5-uptodate.dat", &n);
	c = malloc(n);
	memcpy(c, b, n);
	c[48] = 4;
	assert_err(attest_quote_parse(c, n, &q), ATTEST_E_BODY_TYPE);
	memcpy(c, b, n);
	put32(c + 50, 584); /* type 3 with a TD 1.0 size */
	assert_err(attest_quote_parse(c, n, &q), ATTEST_E_BODY_TYPE);
	free(c);
	free(b);
}

static void test_parse_any(void **state)
{
	(void)state;
	size_t n;
	uint8_t *b = v4(&n);
	char *hex, *b64;
	assert_int_equal(cc_hex_encode_alloc(b, n, &hex), 0);
	assert_int_equal(cc_base64_encode_alloc(b, n, CC_B64_STD, &b64), 0);
	struct attest_quote *q;
	assert_int_equal(attest_quote_parse_any(hex, strlen(hex), &q), 0);
	assert_int_equal(q->version, 4);
	attest_quote_free(q);
	/* with surrounding whitespace */
	size_t bl = strlen(b64);
	char *b64n = malloc(bl + 3);
	b64n[0] = '\n';
	memcpy(b64n + 1, b64, bl);
	b64n[bl + 1] = '\n';
	assert_int_equal(attest_quote_parse_any(b64n, bl + 2, &q), 0);
	attest_quote_free(q);
	assert_int_equal(attest_quote_parse_any(b, n, &q), 0);
	attest_quote_free(q);
	/* broken hex */
	hex[10] = 'g';
	assert_true(attest_quote_parse_any(hex, strlen(hex), &q) < 0);
	free(b64n);
	free(hex);
	free(b64);
	free(b);
}

static void test_bad_pck_chain(void **state)
{
	(void)state;
	size_t n;
	uint8_t *b = v4(&n);
	struct attest_quote *q;
	assert_int_equal(attest_quote_parse(b, n, &q), 0);
	/* damage the PEM body of the PCK certificate */
	size_t off = (size_t)((const uint8_t *)q->pck_chain_pem - q->raw) + 100;
	attest_quote_free(q);
	b[off] = '*';
	assert_int_equal(attest_quote_parse(b, n, &q), 0);
	assert_err(attest_quote_pck_info(q, NULL, NULL), ATTEST_E_BAD_PEM);
	struct attest_verifier *v;
	assert_int_equal(attest_verifier_new(&v, NULL), 0);
	struct attest_collateral *c = td_collateral("dqvl-2025-06/collateral.json");
	assert_err(attest_verify(v, q, c, t_at("2025-07-01T00:00:00Z"), NULL), ATTEST_E_BAD_PEM);
	attest_collateral_free(c);
	attest_verifier_free(v);
	attest_quote_free(q);
	free(b);
}

/* ---- JSON span scanner ---- */

static void span_is(const char *json, const char *key, const char *want)
{
	size_t off, len;
	assert_int_equal(attest_json_value_span(json, strlen(json), key, &off, &len), 0);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(json + off, want, len);
}

static void test_json_span(void **state)
{
	(void)state;
	span_is("{\"tcbInfo\":{\"a\":[1,2,{\"b\":\"}\"}]},\"signature\":\"ab\"}", "tcbInfo",
		"{\"a\":[1,2,{\"b\":\"}\"}]}");
	span_is(" { \"signature\" : \"x\\\"y\" , \"tcbInfo\" :  {\"k\":\"v\\u00e9\"} } ", "tcbInfo",
		"{\"k\":\"v\\u00e9\"}");
	span_is("{\"a\":-1.5e+3,\"b\":true,\"c\":null}", "a", "-1.5e+3");
	span_is("{\"a\":{\"tcbInfo\":1},\"tcbInfo\":2}", "tcbInfo", "2"); /* top level only */
	size_t off, len;
	static const char *const bad[] = {
		"", "[]", "{", "{\"a\":}", "{\"a\":1,}", "{\"a\" 1}", "{\"a\":[1,]}", "{\"a\":\"x}",
		"{\"a\":1} x", "{\"a\":01x}", "{\"a\":\"\\q\"}", "{\"a\":\"\\u12\"}", "{\"a\":tru}",
		"{\"tcbInfo\":1,\"tcbInfo\":2}", "{\"a\":[}", "{\"a\":{\"b\"}}", "{\"a\":\"\x01\"}",
	};
	for (size_t i = 0; i < CC_ARRAY_SIZE(bad); i++) {
		int r = attest_json_value_span(bad[i], strlen(bad[i]), "tcbInfo", &off, &len);
		if (r != ATTEST_E_BAD_JSON)
			print_error("case %zu '%s' gave %d\n", i, bad[i], r);
		assert_int_equal(r, ATTEST_E_BAD_JSON);
	}
	assert_int_equal(attest_json_value_span("{\"a\":1}", 7, "tcbInfo", &off, &len), -ENOENT);
	/* nesting deeper than the bound is refused, not recursed into */
	char deep[300];
	size_t k = 0;
	k += (size_t)snprintf(deep, sizeof(deep), "{\"tcbInfo\":");
	for (int i = 0; i < 100; i++)
		deep[k++] = '[';
	for (int i = 0; i < 100; i++)
		deep[k++] = ']';
	deep[k++] = '}';
	assert_int_equal(attest_json_value_span(deep, k, "tcbInfo", &off, &len), ATTEST_E_BAD_JSON);
}

/* ---- policy ---- */

static struct attest_result sample_result(void)
{
	struct attest_result r;
	memset(&r, 0, sizeof(r));
	r.status = ATTEST_TCB_UP_TO_DATE;
	memset(r.td.mr_td, 0xaa, 48);
	for (int i = 0; i < 4; i++)
		memset(r.td.rtmr[i], 0x10 + i, 48);
	r.td.tee_tcb_svn[0] = 5;
	return r;
}

static struct attest_policy *pol(const char *json)
{
	struct attest_policy *p = NULL;
	assert_err(attest_policy_parse(json, strlen(json), &p), 0);
	return p;
}

static void test_policy(void **state)
{
	(void)state;
	char aa[97], r1[97];
	memset(aa, 'a', 96);
	aa[96] = 0;
	memset(r1, '1', 96);
	r1[96] = 0;
	r1[1] = '1';
	struct attest_result res = sample_result();
	struct attest_policy_verdict v;

	struct attest_policy *p = pol("{}");
	assert_int_equal(attest_policy_eval(p, &res, &v), 0);
	assert_true(v.accepted);
	/* debug refused by default */
	res.debug = true;
	assert_int_equal(attest_policy_eval(p, &res, &v), ATTEST_E_POLICY_REJECTED);
	assert_string_equal(v.failed[0], "debug");
	res.debug = false;
	/* only UpToDate by default; advisories named */
	res.status = ATTEST_TCB_SW_HARDENING_NEEDED;
	res.n_advisories = 1;
	snprintf(res.advisory_ids[0], ATTEST_ADVISORY_LEN, "INTEL-SA-00615");
	assert_int_equal(attest_policy_eval(p, &res, &v), ATTEST_E_POLICY_REJECTED);
	assert_int_equal(v.n_failed, 2);
	assert_string_equal(v.failed[0], "tcb_status");
	assert_string_equal(v.failed[1], "advisories");
	attest_policy_free(p);

	p = pol("{\"accepted_tcb_status\":[\"UpToDate\",\"SWHardeningNeeded\"],"
		"\"allowed_advisories\":[\"INTEL-SA-00615\"]}");
	assert_int_equal(attest_policy_eval(p, &res, &v), 0);
	attest_policy_free(p);
	res = sample_result();

	/* every measurement rule fails and is named */
	char buf[2048];
	snprintf(buf, sizeof(buf),
		 "{\"mrtd\":[\"%s\"],\"rtmr0\":\"%s\",\"rtmr3\":\"%s\",\"mrconfigid\":\"%s\","
		 "\"mrowner\":\"%s\",\"mrownerconfig\":\"%s\",\"xfam\":\"ffffffffffffffff\","
		 "\"tdattributes\":\"0100000000000000\",\"min_tee_tcb_svn\":\"06000000000000000000000000000000\","
		 "\"report_data\":\"%0128d\"}",
		 r1, r1, r1, r1, r1, r1, 1);
	p = pol(buf);
	assert_int_equal(attest_policy_eval(p, &res, &v), ATTEST_E_POLICY_REJECTED);
	static const char *const want[] = { "mrtd", "rtmr0", "rtmr3", "mrconfigid", "mrowner",
		"mrownerconfig", "xfam", "tdattributes", "min_tee_tcb_svn", "report_data" };
	assert_int_equal(v.n_failed, CC_ARRAY_SIZE(want));
	for (size_t i = 0; i < CC_ARRAY_SIZE(want); i++)
		assert_string_equal(v.failed[i], want[i]);
	attest_policy_free(p);

	/* matching values pass */
	char r0[97];
	cc_hex_encode(res.td.rtmr[0], 48, r0, sizeof(r0));
	snprintf(buf, sizeof(buf), "{\"mrtd\":[\"%s\",\"%s\"],\"rtmr0\":\"%s\",\"min_tee_tcb_svn\":\"05000000000000000000000000000000\"}", r1, aa, r0);
	p = pol(buf);
	assert_int_equal(attest_policy_eval(p, &res, &v), 0);
	/* REPORTDATA pinned at run time */
	uint8_t rd[64] = { 1 };
	attest_policy_set_report_data(p, rd);
	assert_int_equal(attest_policy_eval(p, &res, &v), ATTEST_E_POLICY_REJECTED);
	assert_string_equal(v.failed[0], "report_data");
	attest_policy_free(p);

	/* bad policies */
	static const char *const bad[] = {
		"", "[]", "{\"unknown\":1}", "{\"mrtd\":\"aa\"}", "{\"mrtd\":[]}", "{\"rtmr0\":\"zz\"}",
		"{\"allow_debug\":\"yes\"}", "{\"accepted_tcb_status\":[\"Revoked\"]}",
		"{\"accepted_tcb_status\":[\"Fine\"]}", "{\"xfam\":\"00\"}", "{\"rtmr4\":\"00\"}",
	};
	for (size_t i = 0; i < CC_ARRAY_SIZE(bad); i++) {
		p = NULL;
		assert_int_equal(attest_policy_parse(bad[i], strlen(bad[i]), &p), ATTEST_E_POLICY);
		assert_null(p);
	}
	/* revoked or unsupported results never pass, whatever the policy */
	p = pol("{\"accepted_tcb_status\":[\"UpToDate\",\"OutOfDate\"],\"allow_debug\":true}");
	res.status = ATTEST_TCB_REVOKED;
	assert_int_equal(attest_policy_eval(p, &res, &v), ATTEST_E_POLICY_REJECTED);
	res.status = ATTEST_TCB_OUT_OF_DATE;
	res.debug = true;
	assert_int_equal(attest_policy_eval(p, &res, &v), 0);
	attest_policy_free(p);
}

static void test_strerror(void **state)
{
	(void)state;
	for (int e = -2000; e > -2100; e--)
		assert_non_null(attest_strerror(e));
	assert_non_null(attest_strerror(-ENOENT));
	assert_string_equal(attest_tcb_status_name(ATTEST_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED),
			    "OutOfDateConfigurationNeeded");
	enum attest_tcb_status s;
	assert_int_equal(attest_tcb_status_parse("ConfigurationAndSWHardeningNeeded", &s), 0);
	assert_int_equal(s, ATTEST_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED);
	assert_int_equal(attest_tcb_status_parse("nope", &s), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_fields),
		cmocka_unit_test(test_v5_type2),
		cmocka_unit_test(test_truncations),
		cmocka_unit_test(test_bad_headers),
		cmocka_unit_test(test_parse_any),
		cmocka_unit_test(test_bad_pck_chain),
		cmocka_unit_test(test_json_span),
		cmocka_unit_test(test_policy),
		cmocka_unit_test(test_strerror),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
