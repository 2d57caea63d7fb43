/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Allocation-failure injection for the replay driver.  Linked into a
 * non-sanitizer replay binary, these definitions take the place of the C
 * library's allocator entry points for the whole process (the executable's
 * symbols come first in symbol resolution, and glibc routes its own internal
 * allocations through them too).  Each forwards to glibc's real allocator
 * (__libc_malloc and friends); when armed, the Nth allocation after arming
 * that the executable's own code makes (our libraries are linked in
 * statically; allocations made inside shared libraries such as json-c or
 * OpenSSL are not counted, their behaviour on ENOMEM is theirs) returns NULL
 * with errno = ENOMEM instead, and every later one succeeds.
 *
 * The driver counts the allocations one input makes, then replays the input
 * once per allocation site with that allocation failing: the code under test
 * must report an error and carry on, never crash or hang.
 */
#include <errno.h>
#include <stdatomic.h>
#include <malloc.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "failalloc.h"

void *__libc_malloc(size_t size);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t size);
void *__libc_memalign(size_t align, size_t size);

/* Count of allocations since failalloc_arm(); the one numbered fail_at
 * (1-based) fails; 0 = never. */
static _Atomic uint64_t counter;
static _Atomic uint64_t fail_at;
static _Atomic int failed;

void failalloc_arm(uint64_t n)
{
	atomic_store(&fail_at, 0);
	atomic_store(&counter, 0);
	atomic_store(&failed, 0);
	atomic_store(&fail_at, n);
}

uint64_t failalloc_count(void)
{
	return atomic_load(&counter);
}

bool failalloc_fired(void)
{
	return atomic_load(&failed) != 0;
}

/* Bounds of the executable's text, from the linker. */
extern char __executable_start[];
extern char etext[];

static bool ours(const void *caller)
{
	return (const char *)caller >= __executable_start && (const char *)caller < etext;
}

#define should_fail() (ours(__builtin_return_address(0)) && fail_now())

static bool fail_now(void)
{
	uint64_t n = atomic_fetch_add(&counter, 1) + 1;
	uint64_t at = atomic_load(&fail_at);
	if (at && n == at) {
		atomic_store(&failed, 1);
		errno = ENOMEM;
		return true;
	}
	return false;
}

void *malloc(size_t size)
{
	return should_fail() ? NULL : __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
	return should_fail() ? NULL : __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
	/* realloc(p, 0) frees; failing it would leak, which is not a failure
	 * mode the C library has. */
	if (p && size == 0)
		return __libc_realloc(p, size);
	return should_fail() ? NULL : __libc_realloc(p, size);
}

void *aligned_alloc(size_t align, size_t size)
{
	return should_fail() ? NULL : __libc_memalign(align, size);
}

void *memalign(size_t align, size_t size)
{
	return should_fail() ? NULL : __libc_memalign(align, size);
}

int posix_memalign(void **ret, size_t align, size_t size)
{
	if (align < sizeof(void *) || (align & (align - 1)))
		return EINVAL;
	if (should_fail())
		return ENOMEM;
	void *p = __libc_memalign(align, size);
	if (!p)
		return ENOMEM;
	*ret = p;
	return 0;
}

/* strdup and strndup allocate inside the C library, where the caller check
 * would not see our code: count them here instead. */
char *strdup(const char *s)
{
	if (should_fail())
		return NULL;
	size_t n = strlen(s) + 1;
	char *p = __libc_malloc(n);
	if (p)
		memcpy(p, s, n);
	return p;
}

char *strndup(const char *s, size_t max)
{
	if (should_fail())
		return NULL;
	size_t n = strnlen(s, max);
	char *p = __libc_malloc(n + 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}
