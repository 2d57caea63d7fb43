/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Plain driver for libFuzzer-style targets: replays every file of the corpus
 * directories (or files) given on the command line through
 * LLVMFuzzerTestOneInput, so the normal test run exercises each fuzz target's
 * committed corpus without libFuzzer.  Sanitizers report any crash.
 *
 * Built with -DFUZZ_FAILALLOC (and failalloc.c), it also replays every input
 * once per allocation it makes, with that allocation failing: error paths
 * must hold up when memory runs out (no crash, no hang; leaks are the ASan
 * build's job, which runs the plain replay).
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

#define REPLAY_MAX_INPUT (64u << 20)

#ifdef FUZZ_FAILALLOC
#include "failalloc.h"

/* At most this many failure points per input (spread evenly over its
 * allocations), so large inputs keep the run short. */
#define FAILALLOC_MAX_POINTS 150u

static unsigned long long failalloc_runs;

static void run_failing(const uint8_t *buf, size_t n)
{
	/* Twice unarmed: the first call may initialise library state once. */
	failalloc_arm(0);
	LLVMFuzzerTestOneInput(buf, n);
	failalloc_arm(0);
	LLVMFuzzerTestOneInput(buf, n);
	uint64_t total = failalloc_count();
	uint64_t step = total > FAILALLOC_MAX_POINTS ? total / FAILALLOC_MAX_POINTS : 1;
	for (uint64_t at = 1; at <= total; at += step) {
		failalloc_arm(at);
		LLVMFuzzerTestOneInput(buf, n);
		failalloc_arm(0);
		failalloc_runs++;
	}
}
#endif

static int replay_file(const char *path, unsigned *count)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "replay: cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fileno(f), &st) < 0 || st.st_size < 0 || (uint64_t)st.st_size > REPLAY_MAX_INPUT) {
		fprintf(stderr, "replay: %s: bad size\n", path);
		fclose(f);
		return -1;
	}
	size_t n = (size_t)st.st_size;
	/* Exact-size heap copy so ASan catches any read past the input. */
	uint8_t *buf = malloc(n ? n : 1);
	if (!buf) {
		fclose(f);
		return -1;
	}
	if (n && fread(buf, 1, n, f) != n) {
		fprintf(stderr, "replay: short read on %s\n", path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
#ifdef FUZZ_FAILALLOC
	run_failing(buf, n);
#else
	LLVMFuzzerTestOneInput(buf, n);
#endif
	free(buf);
	(*count)++;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int replay_path(const char *path, unsigned *count)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return replay_file(path, count);

	DIR *d = opendir(path);
	if (!d)
		return -1;
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int rc = 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			char **nn = realloc(names, cap * sizeof(*names));
			if (!nn) {
				rc = -1;
				break;
			}
			names = nn;
		}
		names[n] = strdup(de->d_name);
		if (!names[n]) {
			rc = -1;
			break;
		}
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(path) + strlen(names[i]) + 2;
		char *full = malloc(len);
		if (full) {
			snprintf(full, len, "%s/%s", path, names[i]);
			if (replay_path(full, count) < 0)
				rc = -1;
			free(full);
		} else {
			rc = -1;
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

int main(int argc, char **argv)
{
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
		return 2;
	}
	unsigned count = 0;
	int rc = 0;
	for (int i = 1; i < argc; i++)
		if (replay_path(argv[i], &count) < 0)
			rc = 1;
#ifdef FUZZ_FAILALLOC
	printf("replayed %u inputs, %llu times with one allocation failing\n", count,
	       failalloc_runs);
#else
	printf("replayed %u inputs\n", count);
#endif
	if (count == 0) {
		fprintf(stderr, "replay: empty corpus\n");
		return 1;
	}
	return rc;
}
