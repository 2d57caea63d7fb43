/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vol benchmarks, each against a baseline measured in the same run:
 *   1. sequential read of one large file through the volume (1 and 2
 *      threads) vs `openssl speed -evp aes-256-xts` at 4 KiB blocks (one
 *      core) and vs reading the same bytes from a plain file;
 *   2. creating a volume from the tree (ccvol's create path) vs
 *      `mke2fs -d` + `cryptsetup reencrypt --encrypt` of the same tree;
 *   3. unlock time with argon2id vs `cryptsetup open --test-passphrase` on the
 *      same header.
 * Full run: 1 GiB file, cryptsetup's default argon2id costs.  --smoke: 8 MiB,
 * small argon2 costs, seconds; nothing judged.  Both sides read from the page
 * cache (the files were just written): this measures the CPU path.
 * Usage: bench_vol [--smoke] [--dir SCRATCH] [--size MIB]
 */
#include <ccserve/util.h>
#include <ccserve/vol.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

static const char pass[] = "bench passphrase";
static char dir[256], src[300], img[300], keyf[300];
static uint64_t fsize;

static double now_s(void)
{
	return (double)cc_mono_ns() / 1e9;
}

static int sh(const char *cmd)
{
	fflush(stdout);
	int r = system(cmd);
	if (r != 0)
		fprintf(stderr, "bench_vol: command failed (%d): %s\n", r, cmd);
	return r;
}

static double timed_sh(const char *cmd)
{
	double t = now_s();
	if (sh(cmd) != 0)
		return -1;
	return now_s() - t;
}

static int make_tree(void)
{
	snprintf(src, sizeof(src), "%s/src", dir);
	if (mkdir(src, 0755) < 0)
		return -errno;
	char p[400];
	snprintf(p, sizeof(p), "%s/model.bin", src);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -errno;
	size_t chunk = 1 << 20;
	uint8_t *b = malloc(chunk);
	if (!b) {
		close(fd);
		return -ENOMEM;
	}
	for (uint64_t done = 0; done < fsize; done += chunk) {
		RAND_bytes(b, (int)chunk);
		if (write(fd, b, chunk) != (ssize_t)chunk) {
			free(b);
			close(fd);
			return -EIO;
		}
	}
	free(b);
	fsync(fd);
	close(fd);
	/* A few small files, like a SavedModel's. */
	for (int i = 0; i < 20; i++) {
		snprintf(p, sizeof(p), "%s/small-%02d.pb", src, i);
		fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || write(fd, p, strlen(p)) < 0) {
			if (fd >= 0)
				close(fd);
			return -EIO;
		}
		close(fd);
	}
	return 0;
}

struct rd {
	struct vol_file *f;
	int fd;
	uint64_t off, len;
	int err;
	double cpu_s;
};

static double thread_cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *read_range(void *arg)
{
	struct rd *r = arg;
	double c0 = thread_cpu_s();
	size_t bs = 1 << 20;
	uint8_t *b = malloc(bs);
	if (!b) {
		r->err = -ENOMEM;
		return NULL;
	}
	for (uint64_t o = r->off; o < r->off + r->len; o += bs) {
		size_t n = r->off + r->len - o < bs ? (size_t)(r->off + r->len - o) : bs;
		long long k = r->f ? vol_file_pread(r->f, b, n, o) : (long long)pread(r->fd, b, n, (off_t)o);
		if (k != (long long)n) {
			r->err = -EIO;
			break;
		}
	}
	free(b);
	r->cpu_s = thread_cpu_s() - c0;
	return NULL;
}

static double last_cpu_gbps;

/* Read [0, fsize) with nthreads threads, each its own contiguous part. */
static double read_gbps(struct vol_file *f, int fd, int nthreads)
{
	pthread_t th[2];
	struct rd rd[2];
	uint64_t part = fsize / (uint64_t)nthreads;
	double t = now_s();
	for (int i = 0; i < nthreads; i++) {
		rd[i] = (struct rd){ f, fd, part * (uint64_t)i, i == nthreads - 1 ? fsize - part * (uint64_t)i : part, 0, 0 };
		pthread_create(&th[i], NULL, read_range, &rd[i]);
	}
	int err = 0;
	double cpu = 0;
	for (int i = 0; i < nthreads; i++) {
		pthread_join(th[i], NULL);
		err |= rd[i].err;
		cpu += rd[i].cpu_s;
	}
	t = now_s() - t;
	last_cpu_gbps = (double)fsize / cpu / 1e9;
	return err ? -1 : (double)fsize / t / 1e9;
}

static double openssl_xts_gbps(bool smoke)
{
	char cmd[200];
	snprintf(cmd, sizeof(cmd),
		 "openssl speed -evp aes-256-xts -bytes 4096 -seconds %d 2>/dev/null | grep -i '^aes-256-xts'",
		 smoke ? 1 : 3);
	FILE *p = popen(cmd, "r");
	if (!p)
		return -1;
	char line[256] = "";
	double k = -1;
	if (fgets(line, sizeof(line), p)) {
		char *last = strrchr(line, ' ');
		if (last)
			k = strtod(last + 1, NULL); /* 1000s of bytes per second */
	}
	pclose(p);
	return k > 0 ? k * 1000 / 1e9 : -1;
}

int main(int argc, char **argv)
{
	bool smoke = false;
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	uint64_t mib = 1024;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--smoke"))
			smoke = true;
		else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			base = argv[++i];
		else if (!strcmp(argv[i], "--size") && i + 1 < argc && cc_parse_u64(argv[++i], &mib) == 0 && mib)
			;
		else {
			fprintf(stderr, "usage: bench_vol [--smoke] [--dir SCRATCH] [--size MIB]\n");
			return 2;
		}
	}
	if (smoke)
		mib = 8;
	fsize = mib << 20;
	snprintf(dir, sizeof(dir), "%s/bench-vol-XXXXXX", base);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	cc_log_set_level(CC_LOG_ERROR);
	int rc = 1;
	char cmd[2048];
	printf("bench_vol: %s run, file %" PRIu64 " MiB, scratch %s\n", smoke ? "smoke" : "full", mib, dir);
	if (make_tree() < 0)
		goto out;
	snprintf(keyf, sizeof(keyf), "%s/key", dir);
	if (cc_file_write_new(keyf, pass, strlen(pass), 0600) < 0)
		goto out;

	/* ---- 2. create ---- */
	snprintf(img, sizeof(img), "%s/vol.img", dir);
	struct vol_create_opts o = { .from_dir = src, .out = img };
	o.kdf.type = VOL_KDF_PBKDF2;
	o.kdf.iterations = 1000; /* same cheap KDF on both sides: the data path is measured */
	double t = now_s();
	int r = vol_create(&o, pass, strlen(pass));
	double t_create = now_s() - t;
	if (r) {
		fprintf(stderr, "create: %s\n", vol_strerror(r));
		goto out;
	}
	struct stat st;
	stat(img, &st);
	/* mke2fs needs room for its journal and reserved blocks. */
	uint64_t fs_mib = ((uint64_t)st.st_size >> 20) + ((uint64_t)st.st_size >> 23) + 80;
	snprintf(cmd, sizeof(cmd),
		 "truncate -s %" PRIu64 "M '%s/stock.img' && mke2fs -q -F -t ext4 -b 4096 -d '%s' '%s/stock.img' %" PRIu64 "M",
		 fs_mib + 32, dir, src, dir, fs_mib);
	double t_mke2fs = timed_sh(cmd);
	snprintf(cmd, sizeof(cmd),
		 "cryptsetup reencrypt --encrypt --type luks2 --reduce-device-size 32M --sector-size 4096 "
		 "--pbkdf pbkdf2 --pbkdf-force-iterations 1000 --batch-mode --key-file '%s' '%s/stock.img'",
		 keyf, dir);
	double t_reenc = timed_sh(cmd);
	if (t_mke2fs < 0 || t_reenc < 0)
		goto out;
	printf("create: ccvol %.3f s; mke2fs -d %.3f s + cryptsetup reencrypt %.3f s = %.3f s; "
	       "speedup %.2fx\n",
	       t_create, t_mke2fs, t_reenc, t_mke2fs + t_reenc, (t_mke2fs + t_reenc) / t_create);

	/* ---- 1. sequential read ---- */
	struct vol *v;
	r = vol_open_passphrase(img, pass, strlen(pass), NULL, &v);
	if (r) {
		fprintf(stderr, "open: %s\n", vol_strerror(r));
		goto out;
	}
	struct vol_file *f;
	if (vol_file_open(v, "/model.bin", &f)) {
		vol_close(v);
		goto out;
	}
	char p[400];
	snprintf(p, sizeof(p), "%s/model.bin", src);
	int pfd = open(p, O_RDONLY);
	read_gbps(f, -1, 1); /* warm the page cache for the image */
	read_gbps(NULL, pfd, 1);
	double plain1 = read_gbps(NULL, pfd, 1);
	double plain1_cpu = last_cpu_gbps;
	double vol1 = read_gbps(f, -1, 1);
	double vol1_cpu = last_cpu_gbps;
	double vol2 = read_gbps(f, -1, 2);
	double vol2_cpu = last_cpu_gbps;
	double ossl = openssl_xts_gbps(smoke);
	close(pfd);
	vol_file_close(f);
	vol_close(v);
	printf("read: volume 1 thread %.2f GB/s, 2 threads %.2f GB/s (scaling %.2fx); "
	       "plain file 1 thread %.2f GB/s; openssl aes-256-xts 4 KiB 1 core %.2f GB/s\n",
	       vol1, vol2, vol2 / vol1, plain1, ossl);
	printf("read per CPU-second (openssl speed divides by CPU time too): volume %.2f GB/s "
	       "(2 threads: %.2f GB/s per CPU-second, i.e. no contention cost when ~equal), "
	       "plain file %.2f GB/s\n", vol1_cpu, vol2_cpu, plain1_cpu);
	printf("read ratios: volume/openssl %.0f%% wall, %.0f%% CPU (target >= 50%%); volume/plain %.0f%% wall\n",
	       100 * vol1 / ossl, 100 * vol1_cpu / ossl, 100 * vol1 / plain1);

	/* ---- 3. unlock with argon2id ---- */
	char small[400], simg[400];
	snprintf(small, sizeof(small), "%s/small", dir);
	snprintf(simg, sizeof(simg), "%s/argon.img", dir);
	mkdir(small, 0755);
	struct vol_create_opts ao = { .from_dir = small, .out = simg };
	ao.kdf.type = VOL_KDF_ARGON2ID;
	if (smoke) {
		ao.kdf.iterations = 4;
		ao.kdf.memory_kib = 32 * 1024;
		ao.kdf.parallel = 2;
	}
	if ((r = vol_create(&ao, pass, strlen(pass)))) {
		fprintf(stderr, "create argon2id: %s\n", vol_strerror(r));
		goto out;
	}
	t = now_s();
	r = vol_open_passphrase(simg, pass, strlen(pass), NULL, &v);
	double t_unlock = now_s() - t;
	if (r)
		goto out;
	vol_close(v);
	snprintf(cmd, sizeof(cmd), "cryptsetup open --test-passphrase --key-file '%s' '%s'", keyf, simg);
	double t_cs = timed_sh(cmd);
	snprintf(cmd, sizeof(cmd), "cryptsetup luksDump '%s' | grep -E 'PBKDF|Time cost|Memory|Threads' | tr -s ' \\t' ' ' | paste -sd' '", simg);
	printf("unlock argon2id (%s): vol_open_passphrase %.3f s; cryptsetup open --test-passphrase %.3f s; ratio %.2f\n",
	       smoke ? "small costs" : "cryptsetup defaults", t_unlock, t_cs, t_unlock / t_cs);
	fflush(stdout);
	sh(cmd);
	rc = 0;
out:
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	sh(cmd);
	return rc;
}
