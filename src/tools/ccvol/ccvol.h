/* SPDX-License-Identifier: Apache-2.0 */
#ifndef CCVOL_TOOL_H
#define CCVOL_TOOL_H

#include <ccserve/util.h>
#include <ccserve/vol.h>

/* Exit codes (documented in docs/ccvol.md; never renumbered). */
enum {
	EX_OK = 0,
	EX_FAIL = 1,          /* any other failure (I/O, memory) */
	EX_USAGE = 2,         /* bad command line / no key source */
	EX_BADKEY = 3,        /* wrong passphrase or key */
	EX_NOTLUKS = 4,       /* not a LUKS volume */
	EX_TRUNCATED = 5,     /* image truncated */
	EX_HDRCORRUPT = 6,    /* both LUKS header copies damaged */
	EX_UNSUPPORTED = 7,   /* unsupported cipher / mode / sizes */
	EX_FSCORRUPT = 8,     /* ext4 inside damaged, missing or unsupported; check found problems */
	EX_UNSAFE = 9,        /* name or symlink escaping the extraction target */
	EX_EXISTS = 10,       /* output already exists */
	EX_NOSPACE = 11,      /* disk full / volume too small */
	EX_NOTFOUND = 12,     /* path not found in the volume (or wrong type) */
	EX_KEYSLOT = 13,      /* no free keyslot / refusing to remove the last one */
};

int ccvol_exit_code(int err);

struct key_opts {
	const char *key_file;
	const char *passphrase_file;
	const char *volume_key_file;
	int keyslot;
};

/* Unlock image with the key source in ko (or a TTY prompt). Prints the cause
 * and returns an exit code on failure, EX_OK on success. */
int ccvol_unlock(const char *image, const struct key_opts *ko, struct vol **ret);

int cmd_mount(int argc, char **argv);

void die_msg(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
