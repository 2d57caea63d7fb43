/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ccserve/util.h"

static char tmpdir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/ccutil-test-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void path_in(char *out, const char *name)
{
	snprintf(out, PATH_MAX, "%s/%s", tmpdir, name);
}

static void test_file_roundtrip(void **state)
{
	(void)state;
	char p[PATH_MAX];
	path_in(p, "a.bin");
	assert_int_equal(cc_file_write_atomic(p, "hello\0world", 11, 0600), 0);
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	uint8_t *d;
	size_t n;
	assert_int_equal(cc_file_read(p, 100, false, &d, &n), 0);
	assert_int_equal(n, 11);
	assert_memory_equal(d, "hello\0world", 11);
	assert_int_equal(d[11], 0);
	free(d);
	/* Exactly at the cap is fine, one over is not. */
	assert_int_equal(cc_file_read(p, 11, false, &d, &n), 0);
	free(d);
	assert_int_equal(cc_file_read(p, 10, false, &d, &n), CC_E_TOOBIG);
	/* Secure read. */
	assert_int_equal(cc_file_read(p, 100, true, &d, &n), 0);
	assert_int_equal(cc_secure_size(d), 12);
	assert_memory_equal(d, "hello\0world", 11);
	cc_secure_free(d);
	/* Atomic replace leaves no temp file. */
	assert_int_equal(cc_file_write_atomic(p, "x", 1, 0644), 0);
	assert_int_equal(cc_file_read(p, 100, false, &d, &n), 0);
	assert_int_equal(n, 1);
	free(d);
	char cmd[PATH_MAX + 64];
	snprintf(cmd, sizeof(cmd), "test $(ls -A '%s' | wc -l) -eq 1", tmpdir);
	assert_int_equal(system(cmd), 0);
}

static void test_file_errors(void **state)
{
	(void)state;
	char p[PATH_MAX];
	uint8_t *d = NULL;
	size_t n;
	path_in(p, "missing");
	assert_int_equal(cc_file_read(p, 100, false, &d, &n), -ENOENT);
	assert_int_equal(cc_file_read(tmpdir, 100, false, &d, &n), -EISDIR);
	/* Non-regular files are read up to the cap. */
	assert_int_equal(cc_file_read("/dev/zero", 5000, false, &d, &n), CC_E_TOOBIG);
	assert_int_equal(cc_file_read("/dev/null", 5000, false, &d, &n), 0);
	assert_int_equal(n, 0);
	free(d);
	path_in(p, "new");
	assert_int_equal(cc_file_write_new(p, "1", 1, 0600), 0);
	assert_int_equal(cc_file_write_new(p, "2", 1, 0600), -EEXIST);
	/* Atomic write into a missing directory fails cleanly. */
	path_in(p, "nodir/x");
	assert_int_equal(cc_file_write_atomic(p, "1", 1, 0600), -ENOENT);
}

static void test_parse_numbers(void **state)
{
	(void)state;
	uint64_t u;
	int64_t i;
	assert_int_equal(cc_parse_u64("0", &u), 0);
	assert_true(u == 0);
	assert_int_equal(cc_parse_u64("18446744073709551615", &u), 0);
	assert_true(u == UINT64_MAX);
	assert_int_equal(cc_parse_u64("18446744073709551616", &u), -ERANGE);
	assert_int_equal(cc_parse_u64("", &u), CC_E_SYNTAX);
	assert_int_equal(cc_parse_u64(" 1", &u), CC_E_SYNTAX);
	assert_int_equal(cc_parse_u64("1x", &u), CC_E_SYNTAX);
	assert_int_equal(cc_parse_u64("-1", &u), CC_E_SYNTAX);
	assert_int_equal(cc_parse_u64("+1", &u), CC_E_SYNTAX);
	assert_int_equal(cc_parse_i64("-9223372036854775808", &i), 0);
	assert_true(i == INT64_MIN);
	assert_int_equal(cc_parse_i64("9223372036854775807", &i), 0);
	assert_true(i == INT64_MAX);
	assert_int_equal(cc_parse_i64("9223372036854775808", &i), -ERANGE);
	assert_int_equal(cc_parse_i64("-", &i), CC_E_SYNTAX);
}

static void test_time(void **state)
{
	(void)state;
	int64_t t;
	assert_int_equal(cc_time_parse("1970-01-01T00:00:00Z", &t), 0);
	assert_true(t == 0);
	assert_int_equal(cc_time_parse("2025-07-01T00:00:00Z", &t), 0);
	assert_true(t == 1751328000);
	assert_int_equal(cc_time_parse("2025-06-19T10:32:27.123Z", &t), 0);
	assert_true(t == 1750329147);
	assert_int_equal(cc_time_parse("2025-07-01T02:00:00+02:00", &t), 0);
	assert_true(t == 1751328000);
	assert_int_equal(cc_time_parse("2024-02-29T00:00:00Z", &t), 0);
	assert_int_equal(cc_time_parse("2023-02-29T00:00:00Z", &t), CC_E_SYNTAX);
	assert_int_equal(cc_time_parse("2025-13-01T00:00:00Z", &t), CC_E_SYNTAX);
	assert_int_equal(cc_time_parse("2025-07-01T00:00:00", &t), CC_E_SYNTAX);
	assert_int_equal(cc_time_parse("2025-07-01T00:00:00Zjunk", &t), CC_E_SYNTAX);
	assert_int_equal(cc_time_parse("2025-07-01", &t), CC_E_SYNTAX);
	assert_int_equal(cc_time_parse("", &t), CC_E_SYNTAX);
	char buf[32];
	assert_int_equal(cc_time_format(1751328000, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "2025-07-01T00:00:00Z");
	assert_int_equal(cc_time_format(0, buf, 5), CC_E_SHORTBUF);
	uint64_t a = cc_mono_ns(), b = cc_mono_ns();
	assert_true(b >= a);
	assert_true(cc_wall_s() > 1700000000);
	assert_true(cc_wall_ms() / 1000 >= cc_wall_s() - 1);
}

struct captured {
	int calls;
	enum cc_log_level level;
	char comp[32];
	char msg[5000];
};

static void capture(void *ud, enum cc_log_level level, const char *component, const char *msg)
{
	struct captured *c = ud;
	c->calls++;
	c->level = level;
	snprintf(c->comp, sizeof(c->comp), "%s", component);
	snprintf(c->msg, sizeof(c->msg), "%s", msg);
}

static void test_log(void **state)
{
	(void)state;
	struct captured c = { 0 };
	cc_log_set_sink(capture, &c);
	cc_log_set_level(CC_LOG_INFO);
	cc_log(CC_LOG_DEBUG, "t", "dropped %d", 1);
	assert_int_equal(c.calls, 0);
	cc_log(CC_LOG_WARN, "vol", "bad thing %s", "x\ny");
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.level, CC_LOG_WARN);
	assert_string_equal(c.comp, "vol");
	assert_string_equal(c.msg, "bad thing x y"); /* no forged lines */
	char big[6000];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	cc_log(CC_LOG_ERROR, "t", "%s", big);
	assert_int_equal(strlen(c.msg), 4095);
	enum cc_log_level l;
	assert_int_equal(cc_log_level_parse("DEBUG", &l), 0);
	assert_int_equal(l, CC_LOG_DEBUG);
	assert_int_equal(cc_log_level_parse("warning", &l), 0);
	assert_int_equal(l, CC_LOG_WARN);
	assert_int_equal(cc_log_level_parse("loud", &l), -EINVAL);
	cc_log_set_level(CC_LOG_DEBUG);
	assert_int_equal(cc_log_get_level(), CC_LOG_DEBUG);
	cc_log_set_sink(NULL, NULL);
	/* Default sink, both formats, to stderr. */
	cc_log_set_json(true);
	cc_log(CC_LOG_INFO, "test", "json \"quoted\" line");
	cc_log_set_json(false);
	cc_log(CC_LOG_INFO, "test", "text line");
	cc_log_set_level(CC_LOG_INFO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_roundtrip),
		cmocka_unit_test(test_file_errors),
		cmocka_unit_test(test_parse_numbers),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_log),
	};
	return cmocka_run_group_tests_name("util_file_time_log", tests, setup, teardown);
}
