/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "ccserve/util.h"

static size_t hook_calls;
static size_t hook_nonzero;
static size_t hook_size;

static void check_wiped(const void *p, size_t size)
{
	const uint8_t *b = p;
	hook_calls++;
	hook_size = size;
	for (size_t i = 0; i < size; i++)
		if (b[i])
			hook_nonzero++;
}

static void test_alloc_zeroed_and_sized(void **state)
{
	(void)state;
	for (size_t sz = 0; sz < 10000; sz = sz * 3 + 1) {
		uint8_t *p = cc_secure_alloc(sz);
		assert_non_null(p);
		assert_int_equal(cc_secure_size(p), sz);
		for (size_t i = 0; i < sz; i++)
			assert_int_equal(p[i], 0);
		memset(p, 0xa5, sz);
		assert_int_equal((uintptr_t)p % 16, 0);
		cc_secure_free(p);
	}
	cc_secure_free(NULL);
}

/* The point of the allocator: what was freed is zero before it is released. */
static void test_free_wipes(void **state)
{
	(void)state;
	cc_secure_set_free_hook(check_wiped);
	for (int guard = 0; guard < 2; guard++) {
		cc_secure_set_guard_mode(guard);
		hook_calls = hook_nonzero = 0;
		uint8_t *p = cc_secure_alloc(777);
		assert_non_null(p);
		memset(p, 0xff, 777);
		cc_secure_free(p);
		assert_int_equal(hook_calls, 1);
		assert_int_equal(hook_size, 777);
		assert_int_equal(hook_nonzero, 0);
	}
	cc_secure_set_guard_mode(false);

	/* Growing buffers and strndup go through the same path. */
	hook_calls = hook_nonzero = 0;
	char *s = cc_secure_strndup("correct horse battery staple", 28);
	assert_string_equal(s, "correct horse battery staple");
	assert_int_equal(cc_secure_size(s), 28);
	s = cc_secure_realloc(s, 4096);
	assert_non_null(s);
	assert_string_equal(s, "correct horse battery staple");
	cc_secure_free(s);
	assert_int_equal(hook_calls, 2);
	assert_int_equal(hook_nonzero, 0);

	struct cc_buf b;
	cc_buf_init(&b, 0, true);
	hook_calls = hook_nonzero = 0;
	for (int i = 0; i < 1000; i++)
		assert_int_equal(cc_buf_puts(&b, "secret"), 0);
	cc_buf_free(&b);
	assert_true(hook_calls >= 2); /* every growth freed the old block */
	assert_int_equal(hook_nonzero, 0);
	cc_secure_set_free_hook(NULL);
}

static bool smaps_has_flags(const void *p, const char *flag)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	if (!f)
		return false;
	char line[512];
	bool in = false, found = false;
	uintptr_t a = (uintptr_t)p;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
			in = a >= lo && a < hi;
			continue;
		}
		if (in && strncmp(line, "VmFlags:", 8) == 0) {
			char needle[8];
			snprintf(needle, sizeof(needle), " %s", flag);
			found = strstr(line, needle) != NULL;
			break;
		}
	}
	fclose(f);
	return found;
}

static void test_dontdump_and_locked(void **state)
{
	(void)state;
	uint8_t *p = cc_secure_alloc(100);
	assert_non_null(p);
	assert_true(smaps_has_flags(p, "dd")); /* excluded from core dumps */
	assert_true(smaps_has_flags(p, "dc")); /* not copied on fork */
#if defined(__SANITIZE_ADDRESS__)
	/* ASan intercepts mlock() and makes it a no-op. */
	print_message("ASan build: not checking the locked flag\n");
#else
	if (geteuid() == 0)
		assert_true(smaps_has_flags(p, "lo")); /* locked */
#endif
	cc_secure_free(p);
}

static void test_guard_page_faults(void **state)
{
	(void)state;
	cc_secure_set_guard_mode(true);
	uint8_t *p = cc_secure_alloc(64);
	cc_secure_set_guard_mode(false);
	assert_non_null(p);
	p[63] = 1; /* last byte is fine */
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* MADV_DONTFORK: the child does not even have the mapping, so use a
		 * fresh guarded allocation here. */
		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		cc_secure_set_guard_mode(true);
		volatile uint8_t *q = cc_secure_alloc(64);
		q[64] = 1; /* one past the end: must fault */
		_exit(0); /* not reached when the guard works */
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_false(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	cc_secure_free(p);
}

static void test_ct_equal_and_wipe(void **state)
{
	(void)state;
	uint8_t a[32], b[32];
	memset(a, 7, sizeof(a));
	memcpy(b, a, sizeof(b));
	assert_true(cc_ct_equal(a, b, 32));
	b[31] ^= 1;
	assert_false(cc_ct_equal(a, b, 32));
	b[31] ^= 1;
	b[0] ^= 0x80;
	assert_false(cc_ct_equal(a, b, 32));
	assert_true(cc_ct_equal(a, b, 0));
	cc_wipe(a, sizeof(a));
	for (size_t i = 0; i < sizeof(a); i++)
		assert_int_equal(a[i], 0);
	cc_wipe(NULL, 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alloc_zeroed_and_sized),
		cmocka_unit_test(test_free_wipes),
		cmocka_unit_test(test_dontdump_and_locked),
		cmocka_unit_test(test_guard_page_faults),
		cmocka_unit_test(test_ct_equal_and_wipe),
	};
	return cmocka_run_group_tests_name("util_secmem", tests, NULL, NULL);
}
