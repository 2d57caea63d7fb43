/* SPDX-License-Identifier: Apache-2.0 */
/* The HTTP/1.1 head parser and chunked decoder: accepted forms and the
 * rejections that close request-smuggling ambiguities. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "internal.h"

static struct h1_field fields[16];

static int parse(const char *s, bool response, struct h1_head *hh)
{
	size_t scanned = 0;
	return h1_parse_head((const uint8_t *)s, strlen(s), response, 4096, &scanned, fields, 16, hh);
}

static void test_request_ok(void **state)
{
	struct h1_head hh;
	const char *r = "POST /v1/models/m:predict?x=1 HTTP/1.1\r\nHost: a\r\n"
			"Content-Length: 5\r\nX-Y:  v  \r\n\r\nhello";
	assert_int_equal(parse(r, false, &hh), 1);
	assert_int_equal(hh.head_len, strlen(r) - 5);
	assert_int_equal(hh.method.len, 4);
	assert_memory_equal(r + hh.target.off, "/v1/models/m:predict?x=1", hh.target.len);
	assert_int_equal(hh.minor, 1);
	assert_int_equal(hh.n_fields, 3);
	assert_memory_equal(r + fields[2].value.off, "v", fields[2].value.len);
	assert_int_equal(hh.body, H1_BODY_LENGTH);
	assert_int_equal(hh.content_length, 5);
	assert_true(hh.keep_alive);

	assert_int_equal(parse("GET / HTTP/1.0\r\n\r\n", false, &hh), 1);
	assert_false(hh.keep_alive);
	assert_int_equal(hh.body, H1_BODY_NONE);
	assert_int_equal(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", false, &hh), 1);
	assert_true(hh.keep_alive);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n", false, &hh), 1);
	assert_false(hh.keep_alive);
	assert_int_equal(parse("PUT /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
			       "Expect: 100-continue\r\n\r\n", false, &hh), 1);
	assert_int_equal(hh.body, H1_BODY_CHUNKED);
	assert_true(hh.expect_continue);
	/* leading empty lines tolerated */
	assert_int_equal(parse("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", false, &hh), 1);
	/* equal duplicate Content-Length accepted */
	assert_int_equal(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
			       false, &hh), 1);
	assert_int_equal(parse("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", false, &hh), 1);
}

static void test_request_incremental(void **state)
{
	const char *r = "GET /abc HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n";
	size_t n = strlen(r), scanned = 0;
	struct h1_head hh;
	for (size_t i = 0; i < n; i++)
		assert_int_equal(h1_parse_head((const uint8_t *)r, i, false, 4096, &scanned, fields, 16, &hh), 0);
	assert_int_equal(h1_parse_head((const uint8_t *)r, n, false, 4096, &scanned, fields, 16, &hh), 1);
	assert_int_equal(hh.head_len, n);
}

static void test_request_reject(void **state)
{
	struct h1_head hh;
	static const struct {
		const char *req;
		int err;
	} cases[] = {
		{"GET / HTTP/1.1\r\n\r\n", NET_E_PROTO},                                  /* no Host */
		{"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", NET_E_PROTO},             /* two Hosts */
		{"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", NET_E_PROTO},             /* obs-fold */
		{"GET / HTTP/1.1\r\nHost : a\r\n\r\n", NET_E_PROTO},                       /* space before colon */
		{"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", NET_E_PROTO},
		{"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", NET_E_PROTO},
		{"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", NET_E_PROTO},
		{"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1,1\r\n\r\n", NET_E_PROTO},
		{"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", NET_E_PROTO},
		{"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", -ENOTSUP},
		{"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", NET_E_PROTO},
		{"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", NET_E_PROTO},
		{"GET / HTTP/2.0\r\nHost: a\r\n\r\n", NET_E_PROTO},
		{"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", NET_E_PROTO},
		{"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", NET_E_PROTO},
		{"GET http://x/ HTTP/1.1\r\nHost: a\r\n\r\n", NET_E_PROTO},               /* absolute-form */
		{"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", NET_E_PROTO},
		{"GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", NET_E_PROTO},
		{"GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n", NET_E_PROTO},
		{"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", NET_E_PROTO},
		{"GET / HTTP/1.1\nHost: a\r\n\r\n", NET_E_PROTO},                          /* bare LF */
		{"GET / HTTP/1.1\r\n: a\r\n\r\n", NET_E_PROTO},
		{"\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", NET_E_PROTO},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = parse(cases[i].req, false, &hh);
		if (r != cases[i].err)
			fail_msg("case %zu: got %d want %d", i, r, cases[i].err);
	}
	/* too big: no end within the cap */
	char big[5000];
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET /", 5);
	size_t scanned = 0;
	assert_int_equal(h1_parse_head((const uint8_t *)big, sizeof(big), false, 4096, &scanned,
				       fields, 16, &hh), NET_E_TOOBIG);
	/* too many fields */
	char many[2048];
	size_t o = (size_t)snprintf(many, sizeof(many), "GET / HTTP/1.1\r\nHost: a\r\n");
	for (int i = 0; i < 20; i++)
		o += (size_t)snprintf(many + o, sizeof(many) - o, "X: y\r\n");
	snprintf(many + o, sizeof(many) - o, "\r\n");
	assert_int_equal(parse(many, false, &hh), NET_E_TOOBIG);
}

static void test_response(void **state)
{
	struct h1_head hh;
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", true, &hh), 1);
	assert_int_equal(hh.status, 200);
	assert_int_equal(hh.body, H1_BODY_LENGTH);
	assert_int_equal(parse("HTTP/1.1 204 No Content\r\n\r\n", true, &hh), 1);
	assert_int_equal(hh.body, H1_BODY_NONE);
	assert_int_equal(parse("HTTP/1.1 200\r\n\r\n", true, &hh), 1);
	assert_int_equal(hh.body, H1_BODY_EOF);
	assert_false(hh.keep_alive);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true, &hh), 1);
	assert_int_equal(hh.body, H1_BODY_CHUNKED);
	assert_int_equal(parse("HTTP/1.1 099 X\r\n\r\n", true, &hh), NET_E_PROTO);
	assert_int_equal(parse("HTTP/1.1 2000 X\r\n\r\n", true, &hh), NET_E_PROTO);
	assert_int_equal(parse("HTTX/1.1 200 X\r\n\r\n", true, &hh), NET_E_PROTO);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", true, &hh), NET_E_PROTO);
}

static int chunked(const char *in, size_t cap, struct cc_buf *out, size_t *used)
{
	struct h1_chunked st;
	memset(&st, 0, sizeof(st));
	cc_buf_init(out, cap, false);
	return h1_chunked_feed(&st, (const uint8_t *)in, strlen(in), used, out);
}

static void test_chunked(void **state)
{
	struct cc_buf b;
	size_t used;
	const char *ok = "5\r\nhello\r\nA;ext=1\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\nNEXT";
	assert_int_equal(chunked(ok, 100, &b, &used), 1);
	assert_int_equal(b.len, 15);
	assert_memory_equal(b.data, "hello0123456789", 15);
	assert_int_equal(used, strlen(ok) - 4);
	cc_buf_free(&b);
	/* byte at a time */
	struct h1_chunked st;
	memset(&st, 0, sizeof(st));
	cc_buf_init(&b, 100, false);
	int r = 0;
	for (size_t i = 0; i < strlen(ok) - 4; i++) {
		r = h1_chunked_feed(&st, (const uint8_t *)ok + i, 1, &used, &b);
		assert_int_equal(used, 1);
		if (i + 1 < strlen(ok) - 4)
			assert_int_equal(r, 0);
	}
	assert_int_equal(r, 1);
	assert_int_equal(b.len, 15);
	cc_buf_free(&b);
	/* cap */
	assert_int_equal(chunked("5\r\nhello\r\n0\r\n\r\n", 4, &b, &used), CC_E_TOOBIG);
	cc_buf_free(&b);
	const char *bad[] = {"x\r\n", "5\r\nhelloX\r\n", "5\nhello", "\r\n", "-1\r\n",
			     "11111111111111111\r\n", "5\r\nhello\r\n0\r\n\x01\r\n",
			     "5\r\nhello\r\n0\r\nX\r\r\n"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = chunked(bad[i], 100, &b, &used);
		if (r != NET_E_PROTO)
			fail_msg("bad chunked case %zu: got %d", i, r);
		cc_buf_free(&b);
	}
	/* size overflow */
	assert_int_equal(chunked("fffffffffffffffff\r\n", 100, &b, &used), NET_E_PROTO);
	cc_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_ok),
		cmocka_unit_test(test_request_incremental),
		cmocka_unit_test(test_request_reject),
		cmocka_unit_test(test_response),
		cmocka_unit_test(test_chunked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
