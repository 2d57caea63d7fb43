/* SPDX-License-Identifier: Apache-2.0 */
/* Shared helpers for the attest tests. */
#ifndef ATTEST_TEST_HELPERS_H
#define ATTEST_TEST_HELPERS_H
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <ccserve/attest.h>
#include <ccserve/util.h>

static inline char *td_path(const char *rel)
{
	const char *root = getenv("CCSERVE_SHARED_TESTDATA");
	static char buf[8][4096];
	static int k;
	char *b = buf[k++ % 8];
	snprintf(b, 4096, "%s/tdx/%s", root ? root : "../shared/testdata", rel);
	return b;
}

static inline uint8_t *td_read(const char *rel, size_t *len)
{
	uint8_t *b = NULL;
	int r = cc_file_read(td_path(rel), 1u << 20, false, &b, len);
	assert_int_equal(r, 0);
	return b;
}

static inline struct attest_quote *td_quote(const char *name)
{
	char rel[256];
	snprintf(rel, sizeof(rel), "quotes/%s", name);
	size_t n;
	uint8_t *b = td_read(rel, &n);
	struct attest_quote *q = NULL;
	assert_int_equal(attest_quote_parse(b, n, &q), 0);
	free(b);
	return q;
}

static inline struct attest_collateral *td_collateral(const char *name)
{
	char rel[256];
	snprintf(rel, sizeof(rel), "collateral/%s", name);
	struct attest_collateral *c = NULL;
	int r = attest_collateral_load(td_path(rel), &c);
	assert_int_equal(r, 0);
	return c;
}

static inline int64_t t_at(const char *s)
{
	int64_t t;
	assert_int_equal(cc_time_parse(s, &t), 0);
	return t;
}

#define assert_err(expr, want)                                                                     \
	do {                                                                                       \
		int _r = (expr);                                                                   \
		if (_r != (want))                                                                  \
			print_error("got %d (%s), want %d (%s)\n", _r, attest_strerror(_r),        \
				    (int)(want), attest_strerror(want));                           \
		assert_int_equal(_r, (want));                                                      \
	} while (0)

#endif
