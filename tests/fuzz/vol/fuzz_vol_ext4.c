/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the decrypt + ext4 read path.  The input is a plaintext
 * filesystem image (hostile ext2/3/4 metadata); the harness encrypts it with
 * a fixed key into an in-memory data segment exactly as a volume stores it,
 * then opens it through the encrypting io_manager and exercises every read
 * entry point: stat, readdir, readlink, file open + pread, read_file and the
 * consistency check.  (The LUKS2 header parser is libcryptsetup's and is
 * fuzzed there.)
 */
#include "vol-internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define FUZZ_MAX_INPUT (8u << 20)
#define FUZZ_MAX_ENTRIES 2000
#define FUZZ_MAX_DEPTH 12
#define FUZZ_MAX_READ (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t fuzz_key[64] = {
	0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe,
	0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00,
	0xf0, 0xe1, 0xd2, 0xc3, 0xb4, 0xa5, 0x96, 0x87, 0x78, 0x69, 0x5a, 0x4b, 0x3c, 0x2d, 0x1e, 0x0f,
	0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x69, 0x78, 0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2, 0xe1, 0xf0,
};

static void quiet(void *ud, enum cc_log_level l, const char *c, const char *m)
{
	(void)ud;
	(void)l;
	(void)c;
	(void)m;
}

struct walk {
	struct vol *v;
	unsigned entries;
	uint8_t *buf;
};

struct names {
	char name[64][VOL_NAME_MAX + 1];
	uint32_t ino[64];
	unsigned n;
};

static int collect(void *ud, const char *name, uint32_t ino, enum vol_ftype t)
{
	(void)t;
	struct names *l = ud;
	if (l->n >= 64)
		return 1;
	l->ino[l->n] = ino;
	snprintf(l->name[l->n++], VOL_NAME_MAX + 1, "%s", name);
	return 0;
}

static void walk(struct walk *w, const char *path, unsigned depth)
{
	if (depth > FUZZ_MAX_DEPTH || w->entries > FUZZ_MAX_ENTRIES)
		return;
	struct names *l = calloc(1, sizeof(*l));
	if (!l)
		return;
	(void)vol_readdir(w->v, path, collect, l);
	for (unsigned i = 0; i < l->n && w->entries <= FUZZ_MAX_ENTRIES; i++) {
		w->entries++;
		char p[VOL_PATH_MAX + 1];
		int n = snprintf(p, sizeof(p), "%s/%s", strcmp(path, "/") ? path : "", l->name[i]);
		if (n < 0 || (size_t)n >= sizeof(p))
			continue;
		struct vol_stat st;
		if (vol_lstat_ino(w->v, l->ino[i], &st) == 0 && st.type == VOL_FT_REG) {
			struct vol_file *fi;
			if (vol_file_open_ino(w->v, l->ino[i], &fi) == 0) {
				(void)vol_file_pread(fi, w->buf, 4096, 0);
				vol_file_close(fi);
			}
		}
		if (vol_lstat(w->v, p, &st) < 0)
			continue;
		(void)vol_stat(w->v, p, &st);
		if (st.type == VOL_FT_DIR) {
			walk(w, p, depth + 1);
		} else if (st.type == VOL_FT_SYMLINK) {
			char *t;
			size_t tl;
			if (vol_readlink(w->v, p, &t, &tl) == 0)
				free(t);
		} else if (st.type == VOL_FT_REG) {
			struct vol_file *f;
			if (vol_file_open(w->v, p, &f) == 0) {
				uint64_t sz = vol_file_size(f);
				(void)vol_file_pread(f, w->buf, FUZZ_MAX_READ, 0);
				if (sz > 10)
					(void)vol_file_pread(f, w->buf, 4096, sz - 10);
				vol_file_close(f);
			}
			uint8_t *b;
			size_t bl;
			if (vol_read_file(w->v, p, 65536, false, &b, &bl) == 0)
				free(b);
		}
	}
	free(l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool init;
	if (!init) {
		cc_log_set_sink(quiet, NULL);
		init = true;
	}
	if (size < 2048 || size > FUZZ_MAX_INPUT)
		return 0;
	size_t seg = (size + 4095) / 4096 * 4096;
	int fd = memfd_create("fuzz-vol", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (ftruncate(fd, (off_t)seg) < 0) {
		close(fd);
		return 0;
	}
	/* Encrypt the plaintext image into the segment with the library's
	 * own writer, so the read side sees real ciphertext. */
	struct vol_crypt c;
	uint8_t *key = cc_secure_alloc(64);
	if (!key) {
		close(fd);
		return 0;
	}
	memcpy(key, fuzz_key, 64);
	if (vol_crypt_init(&c, fd, 0, seg, 4096, 0, key, 64) == 0) {
		uint8_t *pad = calloc(1, seg);
		if (pad) {
			memcpy(pad, data, size);
			(void)vol_crypt_write(&c, pad, seg, 0);
			free(pad);
		}
		vol_crypt_destroy(&c);
	}
	struct vol *v;
	if (vol_open_segment(fd, 0, seg, 4096, 0, fuzz_key, 64, &v) == 0) {
		struct walk w = { .v = v, .buf = malloc(FUZZ_MAX_READ) };
		if (w.buf) {
			walk(&w, "/", 0);
			free(w.buf);
		}
		struct vol_info info;
		(void)vol_get_info(v, &info);
		struct vol_check_report rep;
		(void)vol_check(v, &rep);
		vol_close(v);
	}
	close(fd);
	return 0;
}
