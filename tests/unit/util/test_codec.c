/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ccserve/util.h"

static void test_hex_roundtrip(void **state)
{
	(void)state;
	uint8_t in[256];
	for (int i = 0; i < 256; i++)
		in[i] = (uint8_t)i;
	char hex[513];
	assert_int_equal(cc_hex_encode(in, sizeof(in), hex, sizeof(hex)), 0);
	assert_int_equal(strlen(hex), 512);
	assert_memory_equal(hex, "000102", 6);
	uint8_t out[256];
	size_t n = 0;
	assert_int_equal(cc_hex_decode(hex, 512, out, sizeof(out), &n), 0);
	assert_int_equal(n, 256);
	assert_memory_equal(in, out, 256);
	/* Upper case accepted. */
	assert_int_equal(cc_hex_decode("ABcdEF", 6, out, sizeof(out), &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(out[0], 0xab);
	assert_int_equal(out[2], 0xef);
}

static void test_hex_errors(void **state)
{
	(void)state;
	uint8_t out[8];
	size_t n = 99;
	assert_int_equal(cc_hex_decode("abc", 3, out, sizeof(out), &n), CC_E_ODDLEN);
	assert_int_equal(cc_hex_decode("zz", 2, out, sizeof(out), &n), CC_E_BADCHAR);
	assert_int_equal(cc_hex_decode("0g", 2, out, sizeof(out), &n), CC_E_BADCHAR);
	assert_int_equal(cc_hex_decode(" 0", 2, out, sizeof(out), &n), CC_E_BADCHAR);
	assert_int_equal(cc_hex_decode("0x00", 4, out, sizeof(out), &n), CC_E_BADCHAR);
	assert_int_equal(cc_hex_decode("001122334455667788", 18, out, sizeof(out), &n),
			 CC_E_SHORTBUF);
	assert_int_equal(n, 99); /* untouched on error */
	/* Partial output is wiped on error. */
	memset(out, 0x55, sizeof(out));
	assert_int_equal(cc_hex_decode("aabbccxx", 8, out, sizeof(out), &n), CC_E_BADCHAR);
	for (size_t i = 0; i < sizeof(out); i++)
		assert_int_equal(out[i], 0);
	char small[4];
	assert_int_equal(cc_hex_encode("ab", 2, small, sizeof(small)), CC_E_SHORTBUF);
}

/* RFC 4648 §10 test vectors. */
static void test_base64_rfc4648(void **state)
{
	(void)state;
	static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const b64[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
					   "Zm9vYmFy" };
	static const char *const b64url[] = { "", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE",
					      "Zm9vYmFy" };
	for (size_t i = 0; i < CC_ARRAY_SIZE(plain); i++) {
		char enc[32];
		uint8_t dec[32];
		size_t n;
		assert_int_equal(cc_base64_encode(plain[i], strlen(plain[i]), CC_B64_STD, enc,
						  sizeof(enc)), 0);
		assert_string_equal(enc, b64[i]);
		assert_int_equal(cc_base64_encode(plain[i], strlen(plain[i]), CC_B64_URL_NOPAD,
						  enc, sizeof(enc)), 0);
		assert_string_equal(enc, b64url[i]);
		assert_int_equal(cc_base64_decode(b64[i], strlen(b64[i]), CC_B64_STD, dec,
						  sizeof(dec), &n), 0);
		assert_int_equal(n, strlen(plain[i]));
		assert_memory_equal(dec, plain[i], n);
		/* URL variant accepts both padded and unpadded. */
		assert_int_equal(cc_base64_decode(b64[i], strlen(b64[i]), CC_B64_URL, dec,
						  sizeof(dec), &n), 0);
		assert_int_equal(n, strlen(plain[i]));
		assert_int_equal(cc_base64_decode(b64url[i], strlen(b64url[i]), CC_B64_URL, dec,
						  sizeof(dec), &n), 0);
		assert_int_equal(n, strlen(plain[i]));
		assert_int_equal(cc_base64_decode(b64url[i], strlen(b64url[i]), CC_B64_URL_NOPAD,
						  dec, sizeof(dec), &n), 0);
		assert_memory_equal(dec, plain[i], n);
	}
}

static void test_base64_alphabets(void **state)
{
	(void)state;
	const uint8_t raw[] = { 0xfb, 0xff, 0xbf };
	char enc[8];
	assert_int_equal(cc_base64_encode(raw, 3, CC_B64_STD, enc, sizeof(enc)), 0);
	assert_string_equal(enc, "+/+/");
	assert_int_equal(cc_base64_encode(raw, 3, CC_B64_URL, enc, sizeof(enc)), 0);
	assert_string_equal(enc, "-_-_");
	uint8_t dec[8];
	size_t n;
	assert_int_equal(cc_base64_decode("-_-_", 4, CC_B64_STD, dec, sizeof(dec), &n),
			 CC_E_BADCHAR);
	assert_int_equal(cc_base64_decode("+/+/", 4, CC_B64_URL, dec, sizeof(dec), &n),
			 CC_E_BADCHAR);
}

static void test_base64_errors(void **state)
{
	(void)state;
	uint8_t dec[16];
	size_t n;
	struct {
		const char *in;
		enum cc_b64_variant v;
		int err;
	} cases[] = {
		{ "Zg", CC_B64_STD, CC_E_BADPAD },       /* std needs padding */
		{ "Zg=", CC_B64_STD, CC_E_BADPAD },      /* incomplete padding */
		{ "Zg===", CC_B64_STD, CC_E_BADPAD },    /* too much padding */
		{ "Z===", CC_B64_STD, CC_E_BADPAD },
		{ "Zm9v=", CC_B64_STD, CC_E_BADPAD },    /* padding after a full quantum */
		{ "Zh==", CC_B64_STD, CC_E_BADPAD },     /* non-zero trailing bits */
		{ "Zm9=", CC_B64_STD, CC_E_BADPAD },     /* non-zero trailing bits */
		{ "Zg=a", CC_B64_STD, CC_E_BADCHAR },    /* padding in the middle */
		{ "Zm 9", CC_B64_STD, CC_E_BADCHAR },    /* whitespace */
		{ "Zm9v\n", CC_B64_STD, CC_E_BADPAD },
		{ "Zm9*", CC_B64_STD, CC_E_BADCHAR },
		{ "Z", CC_B64_URL, CC_E_BADPAD },        /* 1 char cannot encode a byte */
		{ "Zg==", CC_B64_URL_NOPAD, CC_E_BADPAD },
		{ "Zg=", CC_B64_URL, CC_E_BADPAD },
	};
	for (size_t i = 0; i < CC_ARRAY_SIZE(cases); i++) {
		int r = cc_base64_decode(cases[i].in, strlen(cases[i].in), cases[i].v, dec,
					 sizeof(dec), &n);
		if (r != cases[i].err)
			fail_msg("case %zu (%s): got %d (%s), want %d", i, cases[i].in, r,
				 cc_strerror(r), cases[i].err);
	}
	assert_int_equal(cc_base64_decode("Zm9vYmFy", 8, CC_B64_STD, dec, 5, &n), CC_E_SHORTBUF);
}

static void test_base64_alloc(void **state)
{
	(void)state;
	uint8_t data[1000];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 3);
	for (size_t len = 0; len < sizeof(data); len += 37) {
		for (int v = CC_B64_STD; v <= CC_B64_URL_NOPAD; v++) {
			char *enc = NULL;
			assert_int_equal(cc_base64_encode_alloc(data, len, v, &enc), 0);
			assert_int_equal(strlen(enc) + 1, cc_base64_encoded_size(len, v));
			uint8_t *dec = NULL;
			size_t n = 0;
			assert_int_equal(cc_base64_decode_alloc(enc, strlen(enc), v, &dec, &n), 0);
			assert_int_equal(n, len);
			assert_memory_equal(dec, data, len);
			free(dec);
			free(enc);
		}
	}
	char *hex;
	assert_int_equal(cc_hex_encode_alloc("\x01\xff", 2, &hex), 0);
	assert_string_equal(hex, "01ff");
	free(hex);
}

static void test_strerror(void **state)
{
	(void)state;
	assert_string_equal(cc_strerror(0), "success");
	assert_string_equal(cc_strerror(CC_E_BADPAD), "bad or non-canonical base64 padding");
	assert_non_null(strstr(cc_strerror(-ENOENT), "No such file"));
	assert_string_equal(cc_strerror(-999999), "unknown error");
	assert_string_equal(cc_strerror(12345), "unknown error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hex_roundtrip),
		cmocka_unit_test(test_hex_errors),
		cmocka_unit_test(test_base64_rfc4648),
		cmocka_unit_test(test_base64_alphabets),
		cmocka_unit_test(test_base64_errors),
		cmocka_unit_test(test_base64_alloc),
		cmocka_unit_test(test_strerror),
	};
	return cmocka_run_group_tests_name("util_codec", tests, NULL, NULL);
}
