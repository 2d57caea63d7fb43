/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vol library tests: create from a generated tree, read back through every
 * entry point, unlock by passphrase / key file / volume key, concurrent
 * readers, keyslots, and every bad-input case of the volume format.
 * Key material is generated here; KDFs use pbkdf2 with 1000 iterations.
 */
#include <ccserve/util.h>
#include <ccserve/vol.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libcryptsetup.h>
#include <openssl/rand.h>

#define BIG_SIZE (5u * 1024 * 1024 + 123)

static char tmpdir[256];
static char src[300], img[300];
static uint8_t *big;          /* contents of src/models/big.bin */
static const char pass[] = "correct horse battery staple";

static void pathf(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void pathf(char *out, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(out, n, fmt, ap);
	va_end(ap);
	assert_true(k > 0 && (size_t)k < n);
}

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	chmod(path, mode);
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void make_tree(void)
{
	char p[400];
	pathf(src, sizeof(src), "%s/src", tmpdir);
	assert_int_equal(mkdir(src, 0755), 0);
	pathf(p, sizeof(p), "%s/models", src);
	assert_int_equal(mkdir(p, 0750), 0);
	pathf(p, sizeof(p), "%s/models/1", src);
	assert_int_equal(mkdir(p, 0755), 0);
	pathf(p, sizeof(p), "%s/models/big.bin", src);
	write_file(p, big, BIG_SIZE, 0644);
	pathf(p, sizeof(p), "%s/models/1/saved_model.pb", src);
	write_file(p, "model-bytes", 11, 0640);
	pathf(p, sizeof(p), "%s/empty", src);
	write_file(p, "", 0, 0600);
	/* A sparse file: data, a 3 MiB hole, data. */
	pathf(p, sizeof(p), "%s/sparse", src);
	int fd = open(p, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "head", 4, 0), 4);
	assert_int_equal(pwrite(fd, "tail", 4, 3 * 1024 * 1024 + 5), 4);
	close(fd);
	pathf(p, sizeof(p), "%s/tls.key", src);
	write_file(p, "-----BEGIN PRIVATE KEY-----\n", 28, 0600);
	/* Symlinks: relative, absolute (inside the volume), long, a loop. */
	pathf(p, sizeof(p), "%s/models/latest", src);
	assert_int_equal(symlink("1", p), 0);
	pathf(p, sizeof(p), "%s/abs", src);
	assert_int_equal(symlink("/models/1/saved_model.pb", p), 0);
	char longt[200];
	memset(longt, 'q', sizeof(longt) - 1);
	longt[sizeof(longt) - 1] = '\0';
	pathf(p, sizeof(p), "%s/longlink", src);
	assert_int_equal(symlink(longt, p), 0);
	pathf(p, sizeof(p), "%s/loop1", src);
	assert_int_equal(symlink("loop2", p), 0);
	pathf(p, sizeof(p), "%s/loop2", src);
	assert_int_equal(symlink("loop1", p), 0);
	/* Many entries: the directory needs more than one block. */
	pathf(p, sizeof(p), "%s/many", src);
	assert_int_equal(mkdir(p, 0755), 0);
	for (int i = 0; i < 200; i++) {
		char q[500];
		pathf(q, sizeof(q), "%s/many/entry-with-a-fairly-long-name-%03d", src, i);
		write_file(q, q, strlen(q), 0644);
	}
	/* Known mtime with nanoseconds. */
	pathf(p, sizeof(p), "%s/models/1/saved_model.pb", src);
	struct timespec ts[2] = { { 1600000000, 5 }, { 1700000000, 123456789 } };
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
}

static struct vol_create_opts fast_opts(const char *from, const char *out)
{
	struct vol_create_opts o = { .from_dir = from, .out = out };
	o.kdf.type = VOL_KDF_PBKDF2;
	o.kdf.iterations = 1000;
	return o;
}

static void quiet(void *ud, enum cc_log_level l, const char *c, const char *m)
{
	(void)ud;
	(void)l;
	(void)c;
	(void)m;
}

static int group_setup(void **state)
{
	(void)state;
	cc_log_set_sink(quiet, NULL);
	const char *t = getenv("TMPDIR");
	snprintf(tmpdir, sizeof(tmpdir), "%s/vol-test-XXXXXX", t ? t : "/tmp");
	if (!mkdtemp(tmpdir))
		return -1;
	big = malloc(BIG_SIZE);
	if (!big || RAND_bytes(big, BIG_SIZE) != 1)
		return -1;
	make_tree();
	pathf(img, sizeof(img), "%s/vol.img", tmpdir);
	struct vol_create_opts o = fast_opts(src, img);
	o.label = "models";
	int r = vol_create(&o, pass, strlen(pass));
	if (r) {
		fprintf(stderr, "create: %s\n", vol_strerror(r));
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(big);
	return 0;
}

static struct vol *open_ok(const char *image)
{
	struct vol *v = NULL;
	int r = vol_open_passphrase(image, pass, strlen(pass), NULL, &v);
	if (r)
		fprintf(stderr, "open: %s\n", vol_strerror(r));
	assert_int_equal(r, 0);
	return v;
}

static void copy_img(const char *to)
{
	uint8_t *d;
	size_t n;
	assert_int_equal(cc_file_read(img, 1u << 30, false, &d, &n), 0);
	write_file(to, d, n, 0644);
	free(d);
}

static void patch(const char *file, uint64_t off, const void *data, size_t n)
{
	int fd = open(file, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, data, n, (off_t)off), (ssize_t)n);
	close(fd);
}

/* ------------------------------------------------------------------------ */

static void test_read_back(void **state)
{
	(void)state;
	struct vol *v = open_ok(img);
	struct vol_stat st;
	assert_int_equal(vol_stat(v, "/models/big.bin", &st), 0);
	assert_int_equal(st.type, VOL_FT_REG);
	assert_int_equal(st.size, BIG_SIZE);
	assert_int_equal(st.mode & 07777, 0644);

	uint8_t *d;
	size_t n;
	assert_int_equal(vol_read_file(v, "models/big.bin", BIG_SIZE, false, &d, &n), 0);
	assert_int_equal(n, BIG_SIZE);
	assert_memory_equal(d, big, BIG_SIZE);
	free(d);
	assert_int_equal(vol_read_file(v, "/models/big.bin", BIG_SIZE - 1, false, &d, &n), CC_E_TOOBIG);

	/* Secure read of the TLS key. */
	assert_int_equal(vol_read_file(v, "/tls.key", 4096, true, &d, &n), 0);
	assert_int_equal(n, 28);
	assert_memory_equal(d, "-----BEGIN PRIVATE KEY-----\n", 28);
	cc_secure_free(d);

	/* pread at awkward offsets and lengths. */
	struct vol_file *f;
	assert_int_equal(vol_file_open(v, "/models/big.bin", &f), 0);
	assert_int_equal(vol_file_size(f), BIG_SIZE);
	uint8_t buf[70000];
	const uint64_t offs[] = { 0, 1, 511, 4095, 4096, 4097, 65535, 1234567, BIG_SIZE - 70000, BIG_SIZE - 5 };
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		long long k = vol_file_pread(f, buf, sizeof(buf), offs[i]);
		size_t want = BIG_SIZE - offs[i] < sizeof(buf) ? BIG_SIZE - offs[i] : sizeof(buf);
		assert_int_equal(k, (long long)want);
		assert_memory_equal(buf, big + offs[i], want);
	}
	assert_int_equal(vol_file_pread(f, buf, sizeof(buf), BIG_SIZE), 0);
	assert_int_equal(vol_file_pread(f, buf, sizeof(buf), UINT64_MAX), 0);
	vol_file_close(f);

	/* Sparse file: the hole reads as zeros. */
	assert_int_equal(vol_read_file(v, "/sparse", 8u << 20, false, &d, &n), 0);
	assert_int_equal(n, 3 * 1024 * 1024 + 9);
	assert_memory_equal(d, "head", 4);
	assert_memory_equal(d + 3 * 1024 * 1024 + 5, "tail", 4);
	for (size_t i = 4; i < 3 * 1024 * 1024 + 5; i++)
		if (d[i]) {
			fail_msg("hole byte %zu not zero", i);
		}
	free(d);

	assert_int_equal(vol_read_file(v, "/empty", 10, false, &d, &n), 0);
	assert_int_equal(n, 0);
	free(d);

	/* Metadata: mode, mtime with nanoseconds, symlinks. */
	assert_int_equal(vol_lstat(v, "/models/1/saved_model.pb", &st), 0);
	assert_int_equal(st.mode & 07777, 0640);
	assert_int_equal(st.mtime, 1700000000);
	assert_int_equal(st.mtime_nsec, 123456789);
	assert_int_equal(vol_lstat(v, "/models", &st), 0);
	assert_int_equal(st.type, VOL_FT_DIR);
	assert_int_equal(st.mode & 07777, 0750);
	char *t;
	size_t tl;
	assert_int_equal(vol_readlink(v, "/models/latest", &t, &tl), 0);
	assert_string_equal(t, "1");
	free(t);
	assert_int_equal(vol_readlink(v, "/longlink", &t, &tl), 0);
	assert_int_equal(tl, 199);
	free(t);
	assert_int_equal(vol_stat(v, "/models/latest/saved_model.pb", &st), 0);
	assert_int_equal(st.size, 11);
	assert_int_equal(vol_stat(v, "/abs", &st), 0);
	assert_int_equal(st.type, VOL_FT_REG);
	assert_int_equal(vol_lstat(v, "/abs", &st), 0);
	assert_int_equal(st.type, VOL_FT_SYMLINK);
	/* ".." never leaves the root. */
	assert_int_equal(vol_stat(v, "/../../models/../tls.key", &st), 0);
	assert_int_equal(st.size, 28);

	struct vol_info info;
	assert_int_equal(vol_get_info(v, &info), 0);
	assert_string_equal(info.cipher, "aes");
	assert_string_equal(info.cipher_mode, "xts-plain64");
	assert_int_equal(info.key_size, 64);
	assert_int_equal(info.sector_size, 4096);
	assert_string_equal(info.label, "models");
	vol_close(v);
}

struct cnt {
	unsigned n;
	bool saw_big, saw_1;
	uint32_t big_ino, latest_ino, one_ino;
};

static int count_cb(void *ud, const char *name, uint32_t ino, enum vol_ftype t)
{
	struct cnt *c = ud;
	assert_true(ino >= 2);
	c->n++;
	if (!strcmp(name, "big.bin")) {
		c->saw_big = t == VOL_FT_REG;
		c->big_ino = ino;
	}
	if (!strcmp(name, "1")) {
		c->saw_1 = t == VOL_FT_DIR;
		c->one_ino = ino;
	}
	if (!strcmp(name, "latest"))
		c->latest_ino = ino;
	return 0;
}

static int stop_cb(void *ud, const char *name, uint32_t ino, enum vol_ftype t)
{
	(void)ud;
	(void)name;
	(void)ino;
	(void)t;
	return 42;
}

struct nested {
	struct vol *v;
	unsigned dirs;
};

/* A callback that calls back into the volume (the lock is recursive). */
static int nested_cb(void *ud, const char *name, uint32_t ino, enum vol_ftype t)
{
	(void)ino;
	(void)t;
	struct nested *n = ud;
	char p[300];
	snprintf(p, sizeof(p), "/models/%s", name);
	struct vol_stat st;
	int r = vol_stat(n->v, p, &st);
	if (r)
		return r;
	if (st.type == VOL_FT_DIR)
		n->dirs++;
	return 0;
}

static void test_readdir(void **state)
{
	(void)state;
	struct vol *v = open_ok(img);
	struct cnt c = { 0 };
	assert_int_equal(vol_readdir(v, "/models", count_cb, &c), 0);
	assert_int_equal(c.n, 3); /* 1, big.bin, latest */
	assert_true(c.saw_big && c.saw_1);
	/* The same objects by inode number. */
	struct vol_stat st, st2;
	assert_int_equal(vol_lstat_ino(v, c.big_ino, &st), 0);
	assert_int_equal(vol_lstat(v, "/models/big.bin", &st2), 0);
	assert_int_equal(st.ino, st2.ino);
	assert_int_equal(st.size, BIG_SIZE);
	struct vol_file *f;
	assert_int_equal(vol_file_open_ino(v, c.big_ino, &f), 0);
	uint8_t b[100];
	assert_int_equal(vol_file_pread(f, b, sizeof(b), 1000), 100);
	assert_memory_equal(b, big + 1000, 100);
	vol_file_close(f);
	char *t;
	size_t tl;
	assert_int_equal(vol_readlink_ino(v, c.latest_ino, &t, &tl), 0);
	assert_string_equal(t, "1");
	free(t);
	assert_int_equal(vol_file_open_ino(v, c.one_ino, &f), -EISDIR);
	assert_int_equal(vol_file_open_ino(v, c.latest_ino, &f), -EINVAL);
	assert_int_equal(vol_lstat_ino(v, 0, &st), -ENOENT);
	assert_int_equal(vol_lstat_ino(v, UINT32_MAX, &st), -ENOENT);
	assert_int_equal(vol_readlink_ino(v, c.big_ino, &t, &tl), -EINVAL);
	memset(&c, 0, sizeof(c));
	assert_int_equal(vol_readdir(v, "/many", count_cb, &c), 0);
	assert_int_equal(c.n, 200);
	assert_int_equal(vol_readdir(v, "/", stop_cb, NULL), 42);
	struct nested nn = { v, 0 };
	assert_int_equal(vol_readdir(v, "/models", nested_cb, &nn), 0);
	assert_int_equal(nn.dirs, 2); /* "1" and "latest" -> 1 */
	assert_int_equal(vol_readdir(v, "/tls.key", count_cb, &c), -ENOTDIR);
	vol_close(v);
}

static void test_path_errors(void **state)
{
	(void)state;
	struct vol *v = open_ok(img);
	struct vol_stat st;
	struct vol_file *f;
	char *t;
	size_t tl;
	assert_int_equal(vol_stat(v, "/nope", &st), -ENOENT);
	assert_int_equal(vol_stat(v, "/tls.key/x", &st), -ENOTDIR);
	assert_int_equal(vol_file_open(v, "/models", &f), -EISDIR);
	assert_int_equal(vol_readlink(v, "/tls.key", &t, &tl), -EINVAL);
	assert_int_equal(vol_stat(v, "/loop1", &st), -ELOOP);
	assert_int_equal(vol_file_open(v, "/loop1", &f), -ELOOP);
	char *longp = malloc(VOL_PATH_MAX + 10);
	memset(longp, 'a', VOL_PATH_MAX + 9);
	longp[VOL_PATH_MAX + 9] = '\0';
	assert_int_equal(vol_stat(v, longp, &st), -ENAMETOOLONG);
	free(longp);
	assert_int_equal(vol_stat(v, NULL, &st), -EINVAL);
	vol_close(v);
	vol_close(NULL);
	vol_file_close(NULL);
}

struct thr {
	struct vol *v;
	unsigned seed;
	int bad;
};

static void *reader(void *arg)
{
	struct thr *t = arg;
	struct vol_file *f;
	if (vol_file_open(t->v, "/models/big.bin", &f)) {
		t->bad = 1;
		return NULL;
	}
	uint8_t *buf = malloc(300000);
	for (int i = 0; i < 60 && buf; i++) {
		uint64_t off = (uint64_t)rand_r(&t->seed) % BIG_SIZE;
		size_t len = (size_t)rand_r(&t->seed) % 300000;
		long long k = vol_file_pread(f, buf, len, off);
		size_t want = BIG_SIZE - off < len ? BIG_SIZE - off : len;
		if (k != (long long)want || memcmp(buf, big + off, want))
			t->bad = 1;
	}
	free(buf);
	vol_file_close(f);
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	struct vol *v = open_ok(img);
	pthread_t th[4];
	struct thr ts[4];
	for (int i = 0; i < 4; i++) {
		ts[i] = (struct thr){ v, (unsigned)i * 7919u + 1, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, reader, &ts[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(ts[i].bad, 0);
	}
	vol_close(v);
}

static int get_vk(const char *image, uint8_t vk[64])
{
	struct crypt_device *cd;
	if (crypt_init(&cd, image) < 0)
		return -1;
	size_t n = 64;
	int r = crypt_load(cd, CRYPT_LUKS2, NULL);
	if (r == 0)
		r = crypt_volume_key_get(cd, CRYPT_ANY_SLOT, (char *)vk, &n, pass, strlen(pass));
	crypt_free(cd);
	return r < 0 ? r : 0;
}

static void test_unlock_forms(void **state)
{
	(void)state;
	struct vol *v;
	char kf[400];
	pathf(kf, sizeof(kf), "%s/pass.key", tmpdir);
	write_file(kf, pass, strlen(pass), 0600);
	assert_int_equal(vol_open_key_file(img, kf, NULL, &v), 0);
	vol_close(v);

	uint8_t *vk = cc_secure_alloc(64);
	assert_int_equal(get_vk(img, vk), 0);
	assert_int_equal(vol_open_volume_key(img, vk, 64, NULL, &v), 0);
	struct vol_stat st;
	assert_int_equal(vol_stat(v, "/tls.key", &st), 0);
	vol_close(v);
	assert_int_equal(vol_open_volume_key(img, vk, 32, NULL, &v), VOL_E_BAD_KEY);
	vk[17] ^= 1;
	assert_int_equal(vol_open_volume_key(img, vk, 64, NULL, &v), VOL_E_BAD_KEY);
	cc_secure_free(vk);

	assert_int_equal(vol_open_passphrase(img, "wrong", 5, NULL, &v), VOL_E_BAD_KEY);
	assert_int_equal(vol_open_passphrase(img, pass, strlen(pass) - 1, NULL, &v), VOL_E_BAD_KEY);
	write_file(kf, "nope", 4, 0600);
	assert_int_equal(vol_open_key_file(img, kf, NULL, &v), VOL_E_BAD_KEY);
	pathf(kf, sizeof(kf), "%s/missing.key", tmpdir);
	assert_int_equal(vol_open_key_file(img, kf, NULL, &v), -ENOENT);
}

static unsigned wiped_64;
static void free_hook(const void *p, size_t size)
{
	if (size != 64)
		return;
	const uint8_t *b = p;
	for (size_t i = 0; i < size; i++)
		if (b[i])
			return;
	wiped_64++;
}

static void test_key_wiped_on_close(void **state)
{
	(void)state;
	struct vol *v = open_ok(img);
	wiped_64 = 0;
	cc_secure_set_free_hook(free_hook);
	vol_close(v);
	cc_secure_set_free_hook(NULL);
	assert_true(wiped_64 >= 1);
}

static void test_not_luks_and_truncated(void **state)
{
	(void)state;
	struct vol *v;
	char p[400];
	pathf(p, sizeof(p), "%s/random.img", tmpdir);
	uint8_t junk[65536];
	RAND_bytes(junk, sizeof(junk));
	write_file(p, junk, sizeof(junk), 0644);
	assert_int_equal(vol_open_passphrase(p, pass, strlen(pass), NULL, &v), VOL_E_NOT_LUKS);
	write_file(p, "", 0, 0644);
	assert_int_equal(vol_open_passphrase(p, pass, strlen(pass), NULL, &v), VOL_E_NOT_LUKS);
	pathf(p, sizeof(p), "%s/missing.img", tmpdir);
	assert_int_equal(vol_open_passphrase(p, pass, strlen(pass), NULL, &v), -ENOENT);

	/* Cut inside the header area. */
	pathf(p, sizeof(p), "%s/trunc.img", tmpdir);
	copy_img(p);
	assert_int_equal(truncate(p, 20000), 0);
	assert_int_equal(vol_open_passphrase(p, pass, strlen(pass), NULL, &v), VOL_E_TRUNCATED);
	/* Cut inside the filesystem. */
	copy_img(p);
	assert_int_equal(truncate(p, (16 << 20) + (1 << 20)), 0);
	assert_int_equal(vol_open_passphrase(p, pass, strlen(pass), NULL, &v), VOL_E_TRUNCATED);
	/* Cut right after the header (no data at all). */
	copy_img(p);
	assert_int_equal(truncate(p, 16 << 20), 0);
	assert_int_equal(vol_open_passphrase(p, pass, strlen(pass), NULL, &v), VOL_E_TRUNCATED);
	unlink(p);
}

static void test_header_copies(void **state)
{
	(void)state;
	struct vol *v;
	char p[400];
	pathf(p, sizeof(p), "%s/hdr.img", tmpdir);
	copy_img(p);
	uint8_t junk[512];
	memset(junk, 0x5a, sizeof(junk));
	/* Primary JSON area damaged: the secondary copy is used. */
	patch(p, 4096 + 64, junk, sizeof(junk));
	assert_int_equal(vol_open_passphrase(p, pass, strlen(pass), NULL, &v), 0);
	vol_close(v);
	/* Both copies damaged (re-damage the primary: opening may repair it). */
	patch(p, 4096 + 64, junk, sizeof(junk));
	patch(p, 16384 + 4096 + 64, junk, sizeof(junk));
	assert_int_equal(vol_open_passphrase(p, pass, strlen(pass), NULL, &v), VOL_E_HEADER_CORRUPT);
	char *text;
	assert_int_equal(vol_dump_header(p, &text), VOL_E_HEADER_CORRUPT);
	unlink(p);
}

static void test_unsupported_cipher(void **state)
{
	(void)state;
	char p[400];
	pathf(p, sizeof(p), "%s/cbc.img", tmpdir);
	int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 20 << 20), 0);
	close(fd);
	struct crypt_device *cd;
	assert_int_equal(crypt_init(&cd, p), 0);
	struct crypt_pbkdf_type pb = { .type = CRYPT_KDF_PBKDF2, .hash = "sha256", .iterations = 1000,
				       .time_ms = 1, .flags = CRYPT_PBKDF_NO_BENCHMARK };
	assert_int_equal(crypt_set_pbkdf_type(cd, &pb), 0);
	assert_int_equal(crypt_format(cd, CRYPT_LUKS2, "aes", "cbc-essiv:sha256", NULL, NULL, 32, NULL), 0);
	assert_true(crypt_keyslot_add_by_volume_key(cd, CRYPT_ANY_SLOT, NULL, 0, pass, strlen(pass)) >= 0);
	crypt_free(cd);
	struct vol *v;
	assert_int_equal(vol_open_passphrase(p, pass, strlen(pass), NULL, &v), VOL_E_UNSUPPORTED);
	unlink(p);
}

static void test_fs_corrupt(void **state)
{
	(void)state;
	struct vol *v;
	char p[400];
	pathf(p, sizeof(p), "%s/fs.img", tmpdir);
	uint8_t junk[4096];
	RAND_bytes(junk, sizeof(junk));
	/* Group descriptors (fs block 1) scrambled. */
	copy_img(p);
	patch(p, (16 << 20) + 4096, junk, sizeof(junk));
	assert_int_equal(vol_open_passphrase(p, pass, strlen(pass), NULL, &v), VOL_E_FS_CORRUPT);
	/* Superblock scrambled: no filesystem found. */
	copy_img(p);
	patch(p, 16 << 20, junk, sizeof(junk));
	assert_int_equal(vol_open_passphrase(p, pass, strlen(pass), NULL, &v), VOL_E_NOT_EXT4);
	unlink(p);
}

static void test_check(void **state)
{
	(void)state;
	struct vol *v = open_ok(img);
	struct vol_check_report rep;
	assert_int_equal(vol_check(v, &rep), 0);
	assert_int_equal(rep.problems, 0);
	assert_int_equal(rep.files, 205); /* big, pb, empty, sparse, tls.key, 200 in many */
	assert_int_equal(rep.symlinks, 5);
	vol_close(v);
}

static void test_dump(void **state)
{
	(void)state;
	char *text = NULL;
	assert_int_equal(vol_dump_header(img, &text), 0);
	assert_non_null(strstr(text, "LUKS header information"));
	assert_non_null(strstr(text, "aes-xts-plain64"));
	assert_null(strstr(text, "MK dump"));
	free(text);
}

static void test_create_errors(void **state)
{
	(void)state;
	struct vol_create_opts o = fast_opts(src, img);
	assert_int_equal(vol_create(&o, pass, strlen(pass)), -EEXIST);
	char p[400], q[400];
	pathf(p, sizeof(p), "%s/none", tmpdir);
	pathf(q, sizeof(q), "%s/new.img", tmpdir);
	o = fast_opts(p, q);
	assert_int_equal(vol_create(&o, pass, strlen(pass)), -ENOENT);
	/* Too small for the tree: nothing left behind. */
	o = fast_opts(src, q);
	o.size = 18u << 20;
	assert_int_equal(vol_create(&o, pass, strlen(pass)), VOL_E_TOO_LARGE);
	struct stat st;
	assert_int_equal(lstat(q, &st), -1);
	assert_int_equal(vol_create(NULL, pass, 1), -EINVAL);
}

static unsigned count_dir(const char *d)
{
	char cmd[600];
	pathf(cmd, sizeof(cmd), "ls -A '%s' | wc -l", d);
	FILE *f = popen(cmd, "r");
	unsigned n = 0;
	if (f) {
		if (fscanf(f, "%u", &n) != 1)
			n = 9999;
		pclose(f);
	}
	return n;
}

static void test_disk_full(void **state)
{
	(void)state;
	char d[400], q[500];
	pathf(d, sizeof(d), "%s/full", tmpdir);
	assert_int_equal(mkdir(d, 0755), 0);
	pathf(q, sizeof(q), "%s/out.img", d);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* Room for the header and part of the data only. */
		struct rlimit rl = { 20u << 20, 20u << 20 };
		signal(SIGXFSZ, SIG_IGN);
		setrlimit(RLIMIT_FSIZE, &rl);
		struct vol_create_opts o = fast_opts(src, q);
		int r = vol_create(&o, pass, strlen(pass));
		_exit(r == -EFBIG ? 0 : 1);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(count_dir(d), 0);
}

static void test_keyslots(void **state)
{
	(void)state;
	char p[400];
	pathf(p, sizeof(p), "%s/keys.img", tmpdir);
	copy_img(p);
	struct vol_kdf_params kdf = { .type = VOL_KDF_PBKDF2, .iterations = 1000 };
	int slot = -1;
	assert_int_equal(vol_add_key(p, pass, strlen(pass), NULL, 0, "second", 6, &kdf, &slot), 0);
	assert_int_equal(slot, 1);
	assert_int_equal(vol_add_key(p, "bad", 3, NULL, 0, "third", 5, &kdf, &slot), VOL_E_BAD_KEY);
	uint8_t *vk = cc_secure_alloc(64);
	assert_int_equal(get_vk(p, vk), 0);
	assert_int_equal(vol_add_key(p, NULL, 0, vk, 64, "third", 5, &kdf, &slot), 0);
	assert_int_equal(slot, 2);
	vk[0] ^= 0xff;
	assert_int_equal(vol_add_key(p, NULL, 0, vk, 64, "fourth", 6, &kdf, &slot), VOL_E_BAD_KEY);
	cc_secure_free(vk);
	struct vol *v;
	assert_int_equal(vol_open_passphrase(p, "second", 6, NULL, &v), 0);
	vol_close(v);
	assert_int_equal(vol_remove_key(p, pass, strlen(pass), &slot), 0);
	assert_int_equal(slot, 0);
	assert_int_equal(vol_open_passphrase(p, pass, strlen(pass), NULL, &v), VOL_E_BAD_KEY);
	assert_int_equal(vol_remove_key(p, "third", 5, &slot), 0);
	assert_int_equal(vol_remove_key(p, "nope", 4, &slot), VOL_E_BAD_KEY);
	assert_int_equal(vol_remove_key(p, "second", 6, &slot), VOL_E_LAST_KEYSLOT);
	assert_int_equal(vol_open_passphrase(p, "second", 6, NULL, &v), 0);
	vol_close(v);
	unlink(p);
}

static void test_strerror(void **state)
{
	(void)state;
	for (int e = VOL_E_NOT_LUKS; e >= VOL_E_FS_FEATURE; e--)
		assert_non_null(strstr(vol_strerror(e), " "));
	assert_string_equal(vol_strerror(-ENOENT), strerror(ENOENT));
	assert_non_null(vol_strerror(CC_E_TOOBIG));
	assert_non_null(vol_strerror(-99999));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_back),
		cmocka_unit_test(test_readdir),
		cmocka_unit_test(test_path_errors),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_unlock_forms),
		cmocka_unit_test(test_key_wiped_on_close),
		cmocka_unit_test(test_not_luks_and_truncated),
		cmocka_unit_test(test_header_copies),
		cmocka_unit_test(test_unsupported_cipher),
		cmocka_unit_test(test_fs_corrupt),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_dump),
		cmocka_unit_test(test_create_errors),
		cmocka_unit_test(test_disk_full),
		cmocka_unit_test(test_keyslots),
		cmocka_unit_test(test_strerror),
	};
	return cmocka_run_group_tests_name("vol", tests, group_setup, group_teardown);
}
