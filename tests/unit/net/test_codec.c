/* SPDX-License-Identifier: Apache-2.0 */
/* gRPC framing, grpc-timeout, grpc-message percent-encoding, gzip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "ccserve/net.h"
#include "ccserve/util.h"

static void test_frame_decode(void **state)
{
	const uint8_t f[] = {0, 0, 0, 0, 3, 'a', 'b', 'c', 0xff};
	bool comp = true;
	const uint8_t *m = NULL;
	size_t ml = 0, used = 0;
	assert_int_equal(net_grpc_frame_decode(f, sizeof(f), 100, &comp, &m, &ml, &used), 1);
	assert_false(comp);
	assert_ptr_equal(m, f + 5);
	assert_int_equal(ml, 3);
	assert_int_equal(used, 8);
	/* every strict prefix is incomplete */
	for (size_t i = 0; i < 8; i++)
		assert_int_equal(net_grpc_frame_decode(f, i, 100, &comp, &m, &ml, &used), 0);
	/* cap */
	assert_int_equal(net_grpc_frame_decode(f, sizeof(f), 2, &comp, &m, &ml, &used), NET_E_TOOBIG);
	/* flag byte */
	const uint8_t bad[] = {2, 0, 0, 0, 0};
	assert_int_equal(net_grpc_frame_decode(bad, sizeof(bad), 100, &comp, &m, &ml, &used), NET_E_PROTO);
	assert_int_equal(net_grpc_frame_decode(bad, 1, 100, &comp, &m, &ml, &used), NET_E_PROTO);
	/* compressed flag, empty message */
	const uint8_t c1[] = {1, 0, 0, 0, 0};
	assert_int_equal(net_grpc_frame_decode(c1, sizeof(c1), 0, &comp, &m, &ml, &used), 1);
	assert_true(comp);
	assert_int_equal(ml, 0);
	/* huge declared length (4 GiB - 1) against the default cap */
	const uint8_t big[] = {0, 0xff, 0xff, 0xff, 0xff};
	assert_int_equal(net_grpc_frame_decode(big, sizeof(big), NET_GRPC_DEFAULT_MAX_MESSAGE, &comp,
					       &m, &ml, &used), NET_E_TOOBIG);
	/* a length just at the default cap is only incomplete */
	const uint8_t at[] = {0, 0x80, 0, 0, 0};
	assert_int_equal(net_grpc_frame_decode(at, sizeof(at), NET_GRPC_DEFAULT_MAX_MESSAGE, &comp,
					       &m, &ml, &used), 0);
}

static void test_prefix_encode(void **state)
{
	uint8_t p[5];
	assert_int_equal(net_grpc_prefix_encode(p, true, 0x01020304), 0);
	const uint8_t want[] = {1, 1, 2, 3, 4};
	assert_memory_equal(p, want, 5);
	assert_int_equal(net_grpc_prefix_encode(p, false, (size_t)UINT32_MAX + 1), NET_E_TOOBIG);
}

static void test_timeout(void **state)
{
	uint64_t ns;
	assert_int_equal(net_grpc_timeout_parse("1S", &ns), 0);
	assert_int_equal(ns, 1000000000ull);
	assert_int_equal(net_grpc_timeout_parse("100m", &ns), 0);
	assert_int_equal(ns, 100000000ull);
	assert_int_equal(net_grpc_timeout_parse("7u", &ns), 0);
	assert_int_equal(ns, 7000ull);
	assert_int_equal(net_grpc_timeout_parse("5n", &ns), 0);
	assert_int_equal(ns, 5ull);
	assert_int_equal(net_grpc_timeout_parse("2M", &ns), 0);
	assert_int_equal(ns, 120000000000ull);
	assert_int_equal(net_grpc_timeout_parse("99999999H", &ns), 0);
	assert_int_equal(ns, UINT64_MAX); /* saturates */
	assert_int_equal(net_grpc_timeout_parse("99999999S", &ns), 0);
	assert_int_equal(ns, 99999999ull * 1000000000ull);
	assert_int_equal(net_grpc_timeout_parse("0m", &ns), 0);
	assert_int_equal(ns, 0);
	const char *bad[] = {"", "S", "1", "123456789S", "1s", "1h", "-1S", "1 S", " 1S", "1SS",
			     "1.5S", "0x1S", "+1S"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(net_grpc_timeout_parse(bad[i], &ns), CC_E_SYNTAX);
	assert_int_equal(net_grpc_timeout_parse(NULL, &ns), CC_E_SYNTAX);

	char buf[16];
	assert_int_equal(net_grpc_timeout_format(1500, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "1500n");
	assert_int_equal(net_grpc_timeout_format(100000000000ull, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "100000m");
	assert_int_equal(net_grpc_timeout_format(UINT64_MAX, buf, sizeof(buf)), 0);
	assert_int_equal(net_grpc_timeout_parse(buf, &ns), 0);
	assert_true(ns >= 5000000000000000ull);
	assert_int_equal(net_grpc_timeout_format(1, buf, 4), CC_E_SHORTBUF);
	/* round trip never shortens */
	const uint64_t vals[] = {0, 1, 999, 123456789, 100000000001ull, 86400ull * 1000000000ull};
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		assert_int_equal(net_grpc_timeout_format(vals[i], buf, sizeof(buf)), 0);
		assert_true(strlen(buf) <= 9);
		assert_int_equal(net_grpc_timeout_parse(buf, &ns), 0);
		assert_true(ns >= vals[i]);
	}
}

static void test_pct(void **state)
{
	char *e = NULL, *d = NULL;
	size_t dl;
	const char in[] = "a b%c\xc3\xbc\n\x7f~";
	assert_int_equal(net_pct_encode(in, strlen(in), &e), 0);
	assert_string_equal(e, "a b%25c%C3%BC%0A%7F~");
	assert_int_equal(net_pct_decode(e, strlen(e), &d, &dl), 0);
	assert_int_equal(dl, strlen(in));
	assert_memory_equal(d, in, dl);
	free(e);
	free(d);
	/* lenient decode of invalid escapes */
	assert_int_equal(net_pct_decode("100%", 4, &d, &dl), 0);
	assert_string_equal(d, "100%");
	free(d);
	assert_int_equal(net_pct_decode("%zz%4", 5, &d, &dl), 0);
	assert_string_equal(d, "%zz%4");
	free(d);
	assert_int_equal(net_pct_decode("%41%62", 6, &d, &dl), 0);
	assert_string_equal(d, "Ab");
	free(d);
	/* embedded NUL survives with its length */
	assert_int_equal(net_pct_decode("a%00b", 5, &d, &dl), 0);
	assert_int_equal(dl, 3);
	assert_int_equal(d[1], 0);
	free(d);
	assert_int_equal(net_pct_encode("", 0, &e), 0);
	assert_string_equal(e, "");
	free(e);
	assert_int_equal(net_pct_encode("x", (1u << 20) + 1, &e), CC_E_TOOBIG);
}

static void test_gzip(void **state)
{
	size_t n = 100000;
	uint8_t *in = malloc(n);
	for (size_t i = 0; i < n; i++)
		in[i] = (uint8_t)(i % 251 < 100 ? 'a' : i * 7);
	uint8_t *z = NULL, *out = NULL;
	size_t zl, ol;
	assert_int_equal(net_gzip_compress(in, n, &z, &zl), 0);
	assert_true(zl < n);
	assert_int_equal(z[0], 0x1f);
	assert_int_equal(z[1], 0x8b);
	assert_int_equal(net_gzip_decompress(z, zl, n, &out, &ol), 0);
	assert_int_equal(ol, n);
	assert_memory_equal(out, in, n);
	free(out);
	/* one byte under the size: too big */
	assert_int_equal(net_gzip_decompress(z, zl, n - 1, &out, &ol), NET_E_TOOBIG);
	/* truncated */
	assert_int_equal(net_gzip_decompress(z, zl - 3, n, &out, &ol), NET_E_ENCODING);
	/* trailing garbage */
	uint8_t *zz = malloc(zl + 2);
	memcpy(zz, z, zl);
	zz[zl] = 'x';
	zz[zl + 1] = 'y';
	assert_int_equal(net_gzip_decompress(zz, zl + 2, n, &out, &ol), NET_E_ENCODING);
	/* corrupt CRC */
	memcpy(zz, z, zl);
	zz[zl - 6] ^= 0x55;
	assert_int_equal(net_gzip_decompress(zz, zl, n, &out, &ol), NET_E_ENCODING);
	free(zz);
	free(z);
	/* not gzip at all */
	assert_int_equal(net_gzip_decompress("hello world", 11, 100, &out, &ol), NET_E_ENCODING);
	assert_int_equal(net_gzip_decompress("", 0, 100, &out, &ol), NET_E_ENCODING);
	/* empty payload round trip */
	assert_int_equal(net_gzip_compress("", 0, &z, &zl), 0);
	assert_int_equal(net_gzip_decompress(z, zl, 0, &out, &ol), 0);
	assert_int_equal(ol, 0);
	free(out);
	free(z);
	/* decompression bomb: 64 MiB of zeros capped at 1 MiB */
	size_t big = 64u << 20;
	uint8_t *zeros = calloc(1, big);
	assert_int_equal(net_gzip_compress(zeros, big, &z, &zl), 0);
	free(zeros);
	assert_true(zl < (1u << 20));
	assert_int_equal(net_gzip_decompress(z, zl, 1u << 20, &out, &ol), NET_E_TOOBIG);
	free(z);
	/* interoperates with zlib's own gzip writer */
	z_stream s;
	memset(&s, 0, sizeof(s));
	assert_int_equal(deflateInit2(&s, 9, Z_DEFLATED, 31, 9, Z_DEFAULT_STRATEGY), Z_OK);
	uint8_t zbuf[1024];
	s.next_in = (Bytef *)"interop";
	s.avail_in = 7;
	s.next_out = zbuf;
	s.avail_out = sizeof(zbuf);
	assert_int_equal(deflate(&s, Z_FINISH), Z_STREAM_END);
	size_t zn = sizeof(zbuf) - s.avail_out;
	deflateEnd(&s);
	assert_int_equal(net_gzip_decompress(zbuf, zn, 100, &out, &ol), 0);
	assert_int_equal(ol, 7);
	assert_memory_equal(out, "interop", 7);
	free(out);
	free(in);
}

static void test_names(void **state)
{
	assert_string_equal(net_grpc_status_name(0), "OK");
	assert_string_equal(net_grpc_status_name(16), "UNAUTHENTICATED");
	assert_string_equal(net_grpc_status_name(17), "UNKNOWN_STATUS");
	assert_string_equal(net_grpc_status_name(-1), "UNKNOWN_STATUS");
	for (int e = -3001; e >= -3013; e--)
		assert_non_null(strstr(net_strerror(e), "") );
	assert_string_equal(net_strerror(NET_E_TOOBIG), "size above the configured limit");
	assert_non_null(net_strerror(-12345));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame_decode),
		cmocka_unit_test(test_prefix_encode),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_pct),
		cmocka_unit_test(test_gzip),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
