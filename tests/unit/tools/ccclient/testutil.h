/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by ccclient's unit tests: temp files and the Python
 * reference (tests/unit/tools/ccclient/ref.py run by /usr/bin/python3). */
#ifndef CCCLIENT_TESTUTIL_H
#define CCCLIENT_TESTUTIL_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define TU_UNUSED __attribute__((unused))

static char tu_dir[256];

/* A private temp directory for this test process. */
static TU_UNUSED const char *tu_tmpdir(void)
{
	if (!tu_dir[0]) {
		snprintf(tu_dir, sizeof(tu_dir), "/tmp/ccclient-test-XXXXXX");
		if (!mkdtemp(tu_dir)) {
			perror("mkdtemp");
			exit(1);
		}
	}
	return tu_dir;
}

static TU_UNUSED void tu_path(char *buf, size_t sz, const char *name)
{
	snprintf(buf, sz, "%s/%s", tu_tmpdir(), name);
}

static TU_UNUSED void tu_cleanup(void)
{
	if (tu_dir[0]) {
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tu_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", tu_dir);
	}
}

/* Run ref.py with the arguments; stdout (if out != NULL) into out.
 * Returns the exit status (0 = success). */
static TU_UNUSED int tu_ref(char *out, size_t outsz, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static TU_UNUSED int tu_ref(char *out, size_t outsz, const char *fmt, ...)
{
	const char *root = getenv("CCSERVE_SOURCE_ROOT");
	char args[2048], cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 '%s/tests/unit/tools/ccclient/ref.py' %s",
		 root ? root : ".", args);
	FILE *p = popen(cmd, "r");
	if (!p)
		return -1;
	size_t n = 0;
	if (out && outsz) {
		n = fread(out, 1, outsz - 1, p);
		out[n] = '\0';
	} else {
		char sink[256];
		while (fread(sink, 1, sizeof(sink), p) > 0)
			;
	}
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static TU_UNUSED int tu_write(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -errno;
	size_t w = fwrite(data, 1, len, f);
	fclose(f);
	return w == len ? 0 : -EIO;
}

/* Read a whole file (malloc); *len set. */
static TU_UNUSED void *tu_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	void *p = malloc(n > 0 ? (size_t)n : 1);
	if (p && n > 0 && fread(p, 1, (size_t)n, f) != (size_t)n) {
		free(p);
		p = NULL;
	}
	fclose(f);
	*len = n > 0 ? (size_t)n : 0;
	return p;
}

#endif
