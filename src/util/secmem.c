/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Secure memory.  Each allocation is its own anonymous mapping so that it can
 * be locked, excluded from core dumps and unmapped after a wipe regardless of
 * what the rest of the heap does.  Secrets are few and small (keys,
 * passphrases, PEM private keys), so a page per allocation is cheap.
 *
 * Layout:       [guard?][ ... header | user bytes ... ][guard?]
 * The header (64 bytes) sits immediately before the user pointer.  In guard
 * mode the user bytes end exactly at the trailing PROT_NONE page (up to 15
 * bytes of slack to keep 16-byte alignment), so overruns fault at once.
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "ccserve/util.h"

#define SECMEM_MAGIC 0x63635345434d454dULL /* "ccSECMEM" */
#define HDR_SIZE 64

struct secmem_hdr {
	uint64_t magic;
	void *map_base;
	size_t map_len;
	size_t size;
	size_t lock_off;  /* start of the locked/accessible region in the map */
	size_t lock_len;
};
_Static_assert(sizeof(struct secmem_hdr) <= HDR_SIZE, "secmem header too big");

static _Atomic bool guard_mode;
static _Atomic bool warned_mlock;
static _Atomic(cc_secure_free_hook_fn) free_hook;

void cc_wipe(void *p, size_t len)
{
	if (p && len)
		OPENSSL_cleanse(p, len);
}

bool cc_ct_equal(const void *a, const void *b, size_t len)
{
	if (len == 0)
		return true;
	return CRYPTO_memcmp(a, b, len) == 0;
}

void cc_secure_set_guard_mode(bool on)
{
	atomic_store(&guard_mode, on);
}

void cc_secure_set_free_hook(cc_secure_free_hook_fn fn)
{
	atomic_store(&free_hook, fn);
}

static size_t page_size(void)
{
	static size_t ps;
	if (!ps) {
		long v = sysconf(_SC_PAGESIZE);
		ps = v > 0 ? (size_t)v : 4096;
	}
	return ps;
}

static bool round_up(size_t v, size_t align, size_t *ret)
{
	size_t t;
	if (!cc_add_ok(v, align - 1, &t))
		return false;
	*ret = t & ~(align - 1);
	return true;
}

void *cc_secure_alloc(size_t size)
{
	const size_t ps = page_size();
	const bool guard = atomic_load(&guard_mode);
	size_t usz, need, data_len, map_len;

	if (!round_up(size ? size : 1, 16, &usz) || !cc_add_ok(usz, HDR_SIZE, &need) ||
	    !round_up(need, ps, &data_len) ||
	    !cc_add_ok(data_len, guard ? 2 * ps : 0, &map_len)) {
		errno = ENOMEM;
		return NULL;
	}

	uint8_t *base = mmap(NULL, map_len, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		return NULL;

	size_t lock_off = guard ? ps : 0;
	if (guard) {
		if (mprotect(base, ps, PROT_NONE) < 0 ||
		    mprotect(base + ps + data_len, ps, PROT_NONE) < 0) {
			int e = errno;
			munmap(base, map_len);
			errno = e;
			return NULL;
		}
	}
	uint8_t *region = base + lock_off;
	(void)madvise(region, data_len, MADV_DONTDUMP);
	(void)madvise(region, data_len, MADV_DONTFORK);
	if (mlock(region, data_len) < 0 && !atomic_exchange(&warned_mlock, true))
		cc_log(CC_LOG_WARN, "util",
		       "cannot lock secret memory (%s); raise RLIMIT_MEMLOCK so secrets never reach swap",
		       strerror(errno));

	uint8_t *user = guard ? region + data_len - usz : region + HDR_SIZE;
	struct secmem_hdr *h = (struct secmem_hdr *)(user - HDR_SIZE);
	h->magic = SECMEM_MAGIC;
	h->map_base = base;
	h->map_len = map_len;
	h->size = size;
	h->lock_off = lock_off;
	h->lock_len = data_len;
	return user;
}

static struct secmem_hdr *hdr_of(const void *p)
{
	struct secmem_hdr *h = (struct secmem_hdr *)((uint8_t *)(uintptr_t)p - HDR_SIZE);
	if (h->magic != SECMEM_MAGIC) {
		/* Not input-reachable: a programming error corrupting secrets. */
		fputs("cc_secure: pointer not from cc_secure_alloc or header corrupted\n", stderr);
		abort();
	}
	return h;
}

size_t cc_secure_size(const void *p)
{
	return p ? hdr_of(p)->size : 0;
}

void cc_secure_free(void *p)
{
	if (!p)
		return;
	struct secmem_hdr *h = hdr_of(p);
	struct secmem_hdr copy = *h;
	uint8_t *region = (uint8_t *)copy.map_base + copy.lock_off;

	/* Wipe the whole accessible region: user bytes, slack and header. */
	cc_wipe(region, copy.lock_len);
	cc_secure_free_hook_fn hook = atomic_load(&free_hook);
	if (hook)
		hook(p, copy.size);
	(void)munlock(region, copy.lock_len);
	munmap(copy.map_base, copy.map_len);
}

char *cc_secure_strndup(const char *src, size_t len)
{
	size_t n;
	if (!cc_add_ok(len, 1, &n)) {
		errno = ENOMEM;
		return NULL;
	}
	char *d = cc_secure_alloc(n);
	if (!d)
		return NULL;
	if (len)
		memcpy(d, src, len);
	d[len] = '\0';
	hdr_of(d)->size = len;
	return d;
}

void *cc_secure_realloc(void *p, size_t size)
{
	if (!p)
		return cc_secure_alloc(size);
	void *n = cc_secure_alloc(size);
	if (!n)
		return NULL;
	size_t old = cc_secure_size(p);
	memcpy(n, p, old < size ? old : size);
	cc_secure_free(p);
	return n;
}

int cc_disable_core_dumps(void)
{
	struct rlimit rl = { 0, 0 };
	if (setrlimit(RLIMIT_CORE, &rl) < 0)
		return -errno;
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return -errno;
	return 0;
}
