/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ccserve/util.h"

static void test_reader_ints(void **state)
{
	(void)state;
	const uint8_t d[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09,
			      0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12,
			      0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b };
	struct cc_reader r;
	cc_reader_init(&r, d, sizeof(d));
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;
	assert_int_equal(cc_read_u8(&r, &u8), 0);
	assert_int_equal(u8, 0x01);
	assert_int_equal(cc_read_u16le(&r, &u16), 0);
	assert_int_equal(u16, 0x0302);
	assert_int_equal(cc_read_u32le(&r, &u32), 0);
	assert_int_equal(u32, 0x07060504);
	assert_int_equal(cc_read_u64le(&r, &u64), 0);
	assert_true(u64 == 0x0f0e0d0c0b0a0908ull);
	assert_int_equal(cc_read_u16be(&r, &u16), 0);
	assert_int_equal(u16, 0x1011);
	assert_int_equal(cc_read_u32be(&r, &u32), 0);
	assert_int_equal(u32, 0x12131415);
	assert_int_equal(cc_reader_remaining(&r), 6);
	assert_int_equal(cc_read_u64be(&r, &u64), CC_E_TRUNCATED);
	/* Sticky: everything fails after the first overrun. */
	assert_int_equal(cc_read_u8(&r, &u8), CC_E_TRUNCATED);
	assert_int_equal(cc_reader_remaining(&r), 0);
	assert_int_equal(r.err, CC_E_TRUNCATED);
}

static void test_reader_bytes_and_sub(void **state)
{
	(void)state;
	const char *s = "headerPAYLOADtrailer";
	uint8_t u8b;
	struct cc_reader r, sub;
	cc_reader_init(&r, s, strlen(s));
	const uint8_t *p;
	assert_int_equal(cc_read_bytes(&r, 6, &p), 0);
	assert_memory_equal(p, "header", 6);
	assert_int_equal(cc_reader_sub(&r, 7, &sub), 0);
	char buf[8] = { 0 };
	assert_int_equal(cc_read_copy(&sub, buf, 7), 0);
	assert_string_equal(buf, "PAYLOAD");
	assert_int_equal(cc_read_copy(&sub, buf, 1), CC_E_TRUNCATED);
	assert_int_equal(cc_reader_skip(&r, 7), 0);
	assert_int_equal(cc_reader_remaining(&r), 0);
	/* A length that would wrap must not. */
	cc_reader_init(&r, s, strlen(s));
	assert_int_equal(cc_reader_skip(&r, 3), 0);
	assert_int_equal(cc_read_bytes(&r, SIZE_MAX - 1, &p), CC_E_TRUNCATED);
	cc_reader_init(&r, NULL, 100);
	assert_int_equal(cc_reader_remaining(&r), 0);
	assert_int_equal(cc_read_u8(&r, &u8b), CC_E_TRUNCATED);
}

static void test_buf_cap(void **state)
{
	(void)state;
	struct cc_buf b;
	cc_buf_init(&b, 10, false);
	assert_int_equal(cc_buf_puts(&b, "hello"), 0);
	assert_int_equal(cc_buf_printf(&b, "%d", 1234), 0);
	assert_string_equal((char *)b.data, "hello1234");
	assert_int_equal(cc_buf_putc(&b, '!'), 0);
	assert_int_equal(b.len, 10);
	assert_int_equal(cc_buf_putc(&b, '?'), CC_E_TOOBIG);
	assert_int_equal(cc_buf_printf(&b, "x"), CC_E_TOOBIG);
	assert_int_equal(b.len, 10); /* failed appends change nothing */
	assert_string_equal((char *)b.data, "hello1234!");
	cc_buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_int_equal(cc_buf_append(&b, "0123456789", 10), 0);
	assert_int_equal(cc_buf_append(&b, "", 0), 0);
	size_t n;
	uint8_t *d = cc_buf_steal(&b, &n);
	assert_int_equal(n, 10);
	assert_memory_equal(d, "0123456789", 10);
	assert_null(b.data);
	free(d);
	cc_buf_free(&b);

	cc_buf_init(&b, 0, false);
	for (int i = 0; i < 10000; i++)
		assert_int_equal(cc_buf_append(&b, "abc", 3), 0);
	assert_int_equal(b.len, 30000);
	assert_int_equal(cc_buf_append(&b, "x", SIZE_MAX), CC_E_TOOBIG);
	cc_buf_free(&b);
	assert_null(cc_buf_steal(&b, &n));
	assert_int_equal(n, 0);
}

static void test_buf_secure(void **state)
{
	(void)state;
	struct cc_buf b;
	cc_buf_init(&b, 100000, true);
	for (int i = 0; i < 5000; i++)
		assert_int_equal(cc_buf_printf(&b, "%04d", i), 0);
	assert_int_equal(b.len, 20000);
	assert_memory_equal(b.data + 19996, "4999", 4);
	size_t n;
	uint8_t *d = cc_buf_steal(&b, &n);
	assert_int_equal(cc_secure_size(d) >= n, 1);
	cc_secure_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reader_ints),
		cmocka_unit_test(test_reader_bytes_and_sub),
		cmocka_unit_test(test_buf_cap),
		cmocka_unit_test(test_buf_secure),
	};
	return cmocka_run_group_tests_name("util_reader_buf", tests, NULL, NULL);
}
