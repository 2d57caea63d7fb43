/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kbs: strict JSON reader, RFC 8785 canonical form, REPORTDATA rule, the
 * Concat KDF (RFC 7518 Appendix C vector) and JWE round trips.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kbs-internal.h"

#include <openssl/sha.h>

static void canon_is(const char *in, const char *want)
{
	char *out = NULL;
	size_t n = 0;
	int r = kbs_jcs_canonicalize(in, strlen(in), &out, &n);
	if (r)
		fail_msg("canonicalize(%s) failed: %s", in, kbs_strerror(r));
	assert_string_equal(out, want);
	assert_int_equal(n, strlen(want));
	free(out);
}

static void test_jcs_vectors(void **state)
{
	(void)state;
	/* RFC 8785 §3.2.3 sorting example (UTF-16 code unit order). */
	canon_is("{\"\\u20ac\":\"Euro Sign\",\"\\r\":\"Carriage Return\","
		 "\"\\ufb33\":\"Hebrew Letter Dalet With Dagesh\",\"1\":\"One\","
		 "\"\\ud83d\\ude00\":\"Emoji: Grinning Face\",\"\\u0080\":\"Control\","
		 "\"\\u00f6\":\"Latin Small Letter O With Diaeresis\"}",
		 "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\xc2\x80\":\"Control\","
		 "\"\xc3\xb6\":\"Latin Small Letter O With Diaeresis\","
		 "\"\xe2\x82\xac\":\"Euro Sign\",\"\xf0\x9f\x98\x80\":\"Emoji: Grinning Face\","
		 "\"\xef\xac\xb3\":\"Hebrew Letter Dalet With Dagesh\"}");
	/* RFC 8785 §3.2.2 numbers and literals example. */
	canon_is("{\"numbers\": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],"
		 " \"string\": \"\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\\"\\/\","
		 " \"literals\": [null, true, false]}",
		 "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],"
		 "\"string\":\"\xe2\x82\xac$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}");
	/* ECMAScript number forms (RFC 8785 Appendix B). */
	canon_is("[0, -0, 1, -1, 1e21, 1e20, 123456789012345680000, 0.000001, 1e-7, 5e-324,"
		 " 1.7976931348623157e308, 9007199254740992, 295147905179352830000]",
		 "[0,0,1,-1,1e+21,100000000000000000000,123456789012345680000,0.000001,1e-7,"
		 "5e-324,1.7976931348623157e+308,9007199254740992,295147905179352830000]");
	canon_is("  {\"b\" : [ {} , [] ], \"a\":\"x\"}\n", "{\"a\":\"x\",\"b\":[{},[]]}");
}

static void test_json_rejects(void **state)
{
	(void)state;
	const char *bad[] = {
		"", "{", "}", "{\"a\":1,\"a\":2}", "{\"a\":1,}", "[1,]", "01", "1.", ".5",
		"-", "1e", "1e999", "-1e400", "\"\\ud800\"", "\"\\udc00\"", "\"\\u0000\"",
		"\"a\x01\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"",
		"nul", "truex", "{\"a\" 1}", "{1:2}", "[1 2]", "\"\\x\"", "{} {}",
		"\xef\xbb\xbf{}", "NaN", "Infinity", "'a'",
	};
	for (size_t i = 0; i < CC_ARRAY_SIZE(bad); i++) {
		struct kj *v = NULL;
		int r = kj_parse(bad[i], strlen(bad[i]), &v);
		if (r != KBS_E_BADREQ)
			fail_msg("input %zu (%s) not rejected: %d", i, bad[i], r);
		assert_null(v);
	}
	/* Nesting limit. */
	char deep[2 * (KJ_MAX_DEPTH + 5) + 1];
	size_t d = KJ_MAX_DEPTH + 5;
	memset(deep, '[', d);
	memset(deep + d, ']', d);
	deep[2 * d] = 0;
	struct kj *v = NULL;
	assert_int_equal(kj_parse(deep, strlen(deep), &v), KBS_E_BADREQ);
	/* Oversized input. */
	size_t big = KBS_BODY_MAX + 1;
	char *b = malloc(big);
	assert_non_null(b);
	memset(b, ' ', big);
	b[0] = '1';
	assert_int_equal(kj_parse(b, big, &v), KBS_E_TOOBIG);
	free(b);
}

static void test_report_data(void **state)
{
	(void)state;
	const char *rd = "{\"tee-pubkey\":{\"y\":\"Y\",\"x\":\"X\",\"kty\":\"EC\"},\"nonce\":\"abc=\"}";
	const char *canon = "{\"nonce\":\"abc=\",\"tee-pubkey\":{\"kty\":\"EC\",\"x\":\"X\",\"y\":\"Y\"}}";
	uint8_t got[64], want[64] = {0};
	SHA384((const uint8_t *)canon, strlen(canon), want);
	assert_int_equal(kbs_report_data(rd, strlen(rd), got), 0);
	assert_memory_equal(got, want, 64);
	for (int i = 48; i < 64; i++)
		assert_int_equal(got[i], 0);
	/* Whitespace and member order do not change the binding... */
	const char *rd2 = "{ \"nonce\" : \"abc=\", \"tee-pubkey\" : {\"kty\":\"EC\",\"x\":\"X\",\"y\":\"Y\"} }";
	uint8_t got2[64];
	assert_int_equal(kbs_report_data(rd2, strlen(rd2), got2), 0);
	assert_memory_equal(got, got2, 64);
	/* ...a different key does. */
	const char *rd3 = "{\"nonce\":\"abc=\",\"tee-pubkey\":{\"kty\":\"EC\",\"x\":\"Z\",\"y\":\"Y\"}}";
	assert_int_equal(kbs_report_data(rd3, strlen(rd3), got2), 0);
	assert_memory_not_equal(got, got2, 64);
}

static void test_concat_kdf_rfc7518(void **state)
{
	(void)state;
	/* RFC 7518 Appendix C: Z, "A128GCM", apu "Alice", apv "Bob" -> 128 bits. */
	static const uint8_t z[32] = {158, 86, 217, 29, 129, 113, 53, 211, 114, 131, 66,
				      131, 191, 132, 38, 156, 251, 49, 110, 163, 218, 128,
				      106, 72, 246, 218, 167, 121, 140, 254, 144, 196};
	uint8_t out[16];
	assert_int_equal(kbs_concat_kdf_sha256(z, 32, "A128GCM", (const uint8_t *)"Alice", 5,
					       (const uint8_t *)"Bob", 3, out, 16), 0);
	char b64[32];
	cc_base64_encode(out, 16, CC_B64_URL_NOPAD, b64, sizeof b64);
	assert_string_equal(b64, "VqqN6vgjbSBcIijNcacQGg");
}

static void roundtrip(const char *alg, size_t len)
{
	struct kbs_tee_key *k = NULL;
	assert_int_equal(kbs_tee_key_new(&k), 0);
	char *jwk = NULL;
	assert_int_equal(kbs_tee_key_public_jwk(k, alg, &jwk), 0);
	uint8_t *pt = malloc(len + 1);
	assert_non_null(pt);
	for (size_t i = 0; i < len; i++)
		pt[i] = (uint8_t)(i * 7 + 3);
	char *jwe = NULL;
	size_t jl = 0;
	assert_int_equal(kbs_jwe_encrypt(jwk, strlen(jwk), pt, len, &jwe, &jl), 0);
	assert_int_equal(strlen(jwe), jl);
	uint8_t *out = NULL;
	size_t ol = 0;
	assert_int_equal(kbs_jwe_decrypt(k, jwe, jl, &out, &ol), 0);
	assert_int_equal(ol, len);
	if (len)
		assert_memory_equal(out, pt, len);
	cc_secure_free(out);

	/* Flip one character of each member: must fail, nothing returned. */
	for (size_t i = 0; i < jl; i++) {
		if (jwe[i] != '"' || i + 4 >= jl || jwe[i + 1] == ':' || jwe[i - 1] != ':')
			continue;
		char *t = strdup(jwe);
		assert_non_null(t);
		t[i + 2] = t[i + 2] == 'A' ? 'B' : 'A';
		out = NULL;
		int r = kbs_jwe_decrypt(k, t, jl, &out, &ol);
		if (r == 0)
			fail_msg("tampered JWE at %zu decrypted: %s", i, t);
		assert_null(out);
		free(t);
	}
	/* Another key cannot decrypt. */
	struct kbs_tee_key *k2 = NULL;
	assert_int_equal(kbs_tee_key_new(&k2), 0);
	assert_int_equal(kbs_jwe_decrypt(k2, jwe, jl, &out, &ol), KBS_E_JWE);
	kbs_tee_key_free(k2);
	kbs_tee_key_free(k);
	free(jwk);
	free(jwe);
	free(pt);
}

static void test_jwe_roundtrip(void **state)
{
	(void)state;
	roundtrip("ECDH-ES+A256KW", 32);
	roundtrip("ECDH-ES", 32);
	roundtrip("ECDH-ES+A256KW", 1);
	roundtrip("ECDH-ES", 4096);
}

static void test_jwk_rejects(void **state)
{
	(void)state;
	const char *bad[] = {
		"{}",
		"{\"kty\":\"RSA\",\"alg\":\"RSA-OAEP\",\"n\":\"AQAB\",\"e\":\"AQAB\"}",
		"{\"kty\":\"EC\",\"crv\":\"P-384\",\"alg\":\"ECDH-ES\",\"x\":\"AA\",\"y\":\"AA\"}",
		/* point not on the curve */
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"alg\":\"ECDH-ES\","
		"\"x\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\","
		"\"y\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\"}",
		/* short coordinate */
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"alg\":\"ECDH-ES\",\"x\":\"AA\",\"y\":\"AA\"}",
		/* unsupported alg */
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"alg\":\"A256KW\","
		"\"x\":\"gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5SV0\","
		"\"y\":\"SLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFpps\"}",
		/* a private key */
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"alg\":\"ECDH-ES\","
		"\"x\":\"gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5SV0\","
		"\"y\":\"SLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFpps\","
		"\"d\":\"0_NxaRPUMQoAJt50Gz8YiTr8gRTwyEaCumd-MToTmIo\"}",
	};
	for (size_t i = 0; i < CC_ARRAY_SIZE(bad); i++) {
		char *jwe = NULL;
		size_t jl = 0;
		int r = kbs_jwe_encrypt(bad[i], strlen(bad[i]), "x", 1, &jwe, &jl);
		if (r != KBS_E_JWK)
			fail_msg("JWK %zu not rejected: %d", i, r);
		assert_null(jwe);
	}
	/* The RFC 7518 key itself is fine. */
	const char *good = "{\"kty\":\"EC\",\"crv\":\"P-256\",\"alg\":\"ECDH-ES\","
			   "\"x\":\"gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5SV0\","
			   "\"y\":\"SLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFpps\"}";
	char *jwe = NULL;
	size_t jl = 0;
	assert_int_equal(kbs_jwe_encrypt(good, strlen(good), "x", 1, &jwe, &jl), 0);
	free(jwe);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jcs_vectors),
		cmocka_unit_test(test_json_rejects),
		cmocka_unit_test(test_report_data),
		cmocka_unit_test(test_concat_kdf_rfc7518),
		cmocka_unit_test(test_jwe_roundtrip),
		cmocka_unit_test(test_jwk_rejects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
