/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ccserve vol: encrypted model volumes read and written in userspace.
 *
 * A volume is a standard LUKS2 image (aes-xts-plain64, 512-bit volume key,
 * 4096-byte sectors by default) whose data segment holds an ext4 filesystem.
 * The header, keyslots and KDF are handled by libcryptsetup, the data path by
 * OpenSSL AES-XTS, the filesystem by libext2fs through an encrypting
 * io_manager.  No device-mapper, no mount, no plaintext on disk.
 *
 * Error model: functions return 0 (or a count) on success, a negative errno
 * for system failures (-ENOENT, -ENOTDIR, -EISDIR, -ENOMEM, -EIO, -ENOSPC,
 * -EEXIST, ...) or a negative VOL_E_* code below for format failures.
 * vol_strerror() names both (and the CC_E_* codes of util).  Codes are never
 * renumbered.
 *
 * Threads: a struct vol may be used from several threads at once.  Path
 * operations (stat, readdir, readlink, file open) serialise on an internal
 * lock; vol_file_pread() on open files runs in parallel without the lock.
 * vol_close() must not race with any other call on the same volume, and all
 * files must be closed before it.
 *
 * Paths inside the volume are absolute or relative to the root ("/a/b" and
 * "a/b" are the same); ".." never leaves the root; symbolic links resolve
 * inside the volume (at most 8 nested links, then -ELOOP).  Path length is
 * capped at VOL_PATH_MAX bytes.
 *
 * Secrets: the volume key lives in util secure memory and is wiped by
 * vol_close(); passphrases passed in are never copied outside secure memory
 * and never logged.
 *
 * Reads decrypt straight from a read-only mapping of the image (pread when it
 * cannot be mapped): the image file must not be truncated while a volume is
 * open (as with any mapped file, that would raise SIGBUS).
 */
#ifndef CCSERVE_VOL_H
#define CCSERVE_VOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */

enum vol_error {
	VOL_E_NOT_LUKS = -2001,         /* no LUKS2 header (bad magic/version) */
	VOL_E_BAD_KEY = -2002,          /* passphrase, key file or volume key does not unlock */
	VOL_E_HEADER_CORRUPT = -2003,   /* both LUKS2 header copies damaged */
	VOL_E_UNSUPPORTED = -2004,      /* cipher, mode, key size or sector size not supported */
	VOL_E_TRUNCATED = -2005,        /* image shorter than its header or data segment */
	VOL_E_FS_CORRUPT = -2006,       /* ext4 metadata inconsistent or unreadable */
	VOL_E_UNSAFE_PATH = -2007,      /* a name or link that would escape the target */
	VOL_E_NO_KEYSLOT = -2008,       /* keyslot absent / no free keyslot */
	VOL_E_LAST_KEYSLOT = -2009,     /* refusing to remove the only keyslot */
	VOL_E_TOO_LARGE = -2010,        /* a file or tree above the caller's cap */
	VOL_E_NOT_EXT4 = -2011,         /* data segment holds no ext2/3/4 filesystem */
	VOL_E_FS_FEATURE = -2012,       /* ext4 feature this reader does not support */
};

/* Static description of err (negative errno, CC_E_* or VOL_E_*).  Never
 * NULL. */
const char *vol_strerror(int err);

/* ------------------------------------------------------------------------ */
/* Limits                                                                   */

#define VOL_PATH_MAX 4096u           /* a path inside the volume */
#define VOL_NAME_MAX 255u            /* one directory entry name */
#define VOL_KEY_FILE_MAX (8u << 20)  /* cryptsetup's default key file cap */
#define VOL_PASSPHRASE_MAX 512u      /* cryptsetup's interactive cap */
#define VOL_VOLUME_KEY_MAX 64u       /* AES-256-XTS */

/* ------------------------------------------------------------------------ */
/* Opening                                                                  */

struct vol;
struct vol_file;

struct vol_open_opts {
	/* Reserved, set to 0.  NULL opts (or a zeroed struct) means defaults:
	 * any keyslot. */
	uint32_t flags;
	/* When keyslot_set, only keyslot `keyslot` is tried. */
	bool keyslot_set;
	int keyslot;
};
#define VOL_ANY_KEYSLOT (-1)

/*
 * Unlock image (a LUKS2 image file path, borrowed) with a passphrase
 * (pass/pass_len bytes, borrowed, may contain NUL bytes; the caller keeps it
 * in secure memory).  On success *ret is a new volume; free with vol_close().
 * A damaged primary header falls back to the secondary copy (as cryptsetup).
 * Errors: -ENOENT / -EACCES / -EIO, VOL_E_NOT_LUKS, VOL_E_HEADER_CORRUPT,
 * VOL_E_TRUNCATED, VOL_E_UNSUPPORTED, VOL_E_BAD_KEY, VOL_E_NOT_EXT4,
 * VOL_E_FS_CORRUPT, VOL_E_FS_FEATURE, -ENOMEM.
 */
int vol_open_passphrase(const char *image, const void *pass, size_t pass_len,
			const struct vol_open_opts *opts, struct vol **ret);

/* As vol_open_passphrase, with the passphrase read from key_file (raw bytes,
 * the whole file up to VOL_KEY_FILE_MAX, like cryptsetup --key-file without
 * --keyfile-size; "-" is not accepted).  The bytes go to secure memory. */
int vol_open_key_file(const char *image, const char *key_file,
		      const struct vol_open_opts *opts, struct vol **ret);

/* Unlock with the raw volume key (key_len must be the volume's key size, 64
 * for AES-256-XTS), e.g. as released by the key broker.  The key is checked
 * against the header digest; VOL_E_BAD_KEY if it does not match.  The caller
 * keeps and wipes its copy; the volume keeps its own in secure memory. */
int vol_open_volume_key(const char *image, const void *key, size_t key_len,
			const struct vol_open_opts *opts, struct vol **ret);

/* Wipe the volume key, close the image.  NULL accepted.  All vol_file handles
 * must have been closed. */
void vol_close(struct vol *v);

/* ------------------------------------------------------------------------ */
/* Reading                                                                  */

enum vol_ftype {
	VOL_FT_UNKNOWN = 0,
	VOL_FT_REG = 1,
	VOL_FT_DIR = 2,
	VOL_FT_SYMLINK = 3,
	VOL_FT_OTHER = 4, /* device, fifo, socket */
};

struct vol_stat {
	uint32_t ino;
	enum vol_ftype type;
	uint32_t mode;   /* full st_mode: type bits | permission bits */
	uint32_t uid, gid;
	uint32_t nlink;
	uint64_t size;
	int64_t atime, mtime, ctime; /* seconds since the epoch */
	uint32_t mtime_nsec;
};

/* lstat-style: a symlink as the final component is not followed.
 * Errors: -ENOENT, -ENOTDIR, -ELOOP, -ENAMETOOLONG, VOL_E_FS_CORRUPT. */
int vol_lstat(struct vol *v, const char *path, struct vol_stat *ret);
/* stat-style: a final symlink is followed (inside the volume). */
int vol_stat(struct vol *v, const char *path, struct vol_stat *ret);

/* By inode number, as passed to vol_readdir callbacks: like vol_lstat /
 * vol_file_open / vol_readlink without a path lookup (walks of large
 * directories stay linear).  Errors: -ENOENT (number out of range or inode
 * not in use), otherwise as the path forms. */
int vol_lstat_ino(struct vol *v, uint32_t ino, struct vol_stat *ret);
int vol_file_open_ino(struct vol *v, uint32_t ino, struct vol_file **ret);
int vol_readlink_ino(struct vol *v, uint32_t ino, char **ret, size_t *ret_len);

/* Directory listing: fn is called for each entry except "." and "..", with
 * name NUL-terminated (valid only during the call), in on-disk order.  fn runs
 * under the volume lock, which is recursive: it may call vol_stat,
 * vol_lstat, vol_readlink, vol_file_open or vol_read_file on the same volume
 * (other threads' path calls wait meanwhile; vol_file_pread never does).  A
 * non-zero return from fn stops the walk and is returned.  type is from the
 * directory entry (VOL_FT_UNKNOWN when the filesystem lacks filetype).
 * Errors: -ENOENT, -ENOTDIR, VOL_E_FS_CORRUPT (bad name length),
 * VOL_E_UNSAFE_PATH (a name containing '/' or NUL). */
typedef int (*vol_readdir_fn)(void *userdata, const char *name, uint32_t ino,
			      enum vol_ftype type);
int vol_readdir(struct vol *v, const char *path, vol_readdir_fn fn,
		void *userdata);

/* Target of the symlink at path (not followed).  *ret is malloc()ed,
 * NUL-terminated, caller frees; *ret_len excludes the NUL.
 * Errors: -ENOENT, -EINVAL (not a symlink), VOL_E_FS_CORRUPT. */
int vol_readlink(struct vol *v, const char *path, char **ret, size_t *ret_len);

/* Open a regular file for reading (symlinks followed).  The file's block map
 * is resolved here, so later reads do not take the volume lock.  Free with
 * vol_file_close().  Errors: -ENOENT, -EISDIR, -EINVAL (not regular),
 * VOL_E_FS_CORRUPT, -ENOMEM. */
int vol_file_open(struct vol *v, const char *path, struct vol_file **ret);

/* pread: up to len bytes at off into buf (caller-owned).  Returns the number
 * of bytes read (0 at or past end of file) or a negative error (-EIO,
 * VOL_E_FS_CORRUPT).  Thread-safe: several threads may read the same or
 * different files at once. */
long long vol_file_pread(struct vol_file *f, void *buf, size_t len,
			 uint64_t off);
uint64_t vol_file_size(const struct vol_file *f);
/* NULL accepted. */
void vol_file_close(struct vol_file *f);

/* Read a whole regular file of at most max bytes (CC_E_TOOBIG above).
 * secure=true puts it in secure memory (free with cc_secure_free), else
 * malloc (free).  *ret is NUL-terminated (not counted in *ret_len). */
int vol_read_file(struct vol *v, const char *path, size_t max, bool secure,
		  uint8_t **ret, size_t *ret_len);

/* ------------------------------------------------------------------------ */
/* Information and checking                                                 */

struct vol_info {
	char uuid[40];
	char label[48];
	char cipher[32];        /* "aes" */
	char cipher_mode[32];   /* "xts-plain64" */
	uint32_t key_size;      /* bytes */
	uint32_t sector_size;   /* bytes */
	uint64_t data_offset;   /* bytes */
	uint64_t data_size;     /* bytes */
	uint64_t iv_offset;     /* 512-byte units */
	uint32_t active_keyslots;
	uint64_t fs_blocks, fs_free_blocks;
	uint32_t fs_block_size;
	uint32_t fs_inodes, fs_free_inodes;
};
/* Summary of an open volume (never any secret). */
int vol_get_info(struct vol *v, struct vol_info *ret);

/* Header-only description, without unlocking (like luksDump): appends text to
 * *ret (malloc, caller frees).  Errors: as for opening, minus key errors. */
int vol_dump_header(const char *image, char **ret);

struct vol_check_report {
	uint64_t files, dirs, symlinks, others;
	uint64_t bytes;
	uint32_t problems;       /* inconsistencies found */
};
/* Consistency check: header, ext4 superblock and group descriptors, then a
 * walk of every directory and inode: each block inside the filesystem, claimed
 * by one inode only and marked in the block bitmap, every used inode marked in
 * the inode bitmap, link counts equal to the directory references, free
 * counts consistent; and a read of every file.  Problems are logged (cc_log, component "vol") and counted;
 * returns 0 when none, VOL_E_FS_CORRUPT when some. */
int vol_check(struct vol *v, struct vol_check_report *ret);

/* ------------------------------------------------------------------------ */
/* Creating and keyslots                                                    */

enum vol_kdf {
	VOL_KDF_ARGON2ID = 0,   /* default */
	VOL_KDF_ARGON2I = 1,
	VOL_KDF_PBKDF2 = 2,
};

struct vol_kdf_params {
	enum vol_kdf type;
	/* 0 = cryptsetup's defaults / benchmark to iter_time_ms. */
	uint32_t iter_time_ms;    /* --iter-time */
	uint32_t iterations;      /* pbkdf2 iterations or argon2 time cost (--pbkdf-force-iterations) */
	uint32_t memory_kib;      /* argon2 --pbkdf-memory */
	uint32_t parallel;        /* argon2 --pbkdf-parallel */
	const char *hash;         /* pbkdf2 hash, NULL = sha256 */
};

typedef void (*vol_progress_fn)(void *userdata, uint64_t done_bytes,
				uint64_t total_bytes);

struct vol_create_opts {
	const char *from_dir;     /* tree to copy (borrowed) */
	const char *out;          /* image path; must not exist (-EEXIST) */
	uint64_t size;            /* total image bytes; 0 = sized to fit */
	const char *label;        /* ext4 and LUKS label, NULL = none */
	struct vol_kdf_params kdf;
	uint32_t sector_size;     /* 0 = 4096 */
	vol_progress_fn progress; /* NULL = none */
	void *progress_userdata;
};
/*
 * Build a new volume from opts->from_dir: a fresh random 512-bit volume key,
 * a LUKS2 header with one keyslot for the passphrase (pass/pass_len,
 * borrowed), ext4 inside, the tree copied (regular files, directories,
 * symlinks, modes, owners, mtimes) straight through the encrypting layer.
 * The image is written under a temporary name and renamed into place only
 * when complete; on any failure nothing is left at opts->out.
 * Errors: -EEXIST, -ENOSPC / -EFBIG (disk full; partial image removed),
 * -ENOENT/-ENOTDIR (source), VOL_E_TOO_LARGE (tree larger than size),
 * -EINVAL (options), -ENOMEM, -EIO.
 */
int vol_create(const struct vol_create_opts *opts, const void *pass,
	       size_t pass_len);

/* Add a keyslot for new_pass, authorised by an existing passphrase (or, if
 * volume_key is non-NULL, by the raw volume key and pass ignored).
 * *ret_slot gets the new slot number (may be NULL). */
int vol_add_key(const char *image, const void *pass, size_t pass_len,
		const void *volume_key, size_t volume_key_len,
		const void *new_pass, size_t new_pass_len,
		const struct vol_kdf_params *kdf, int *ret_slot);
/* Remove the keyslot that pass unlocks.  Refuses to remove the last one
 * (VOL_E_LAST_KEYSLOT).  *ret_slot gets the removed slot (may be NULL). */
int vol_remove_key(const char *image, const void *pass, size_t pass_len,
		   int *ret_slot);

#ifdef __cplusplus
}
#endif

#endif /* CCSERVE_VOL_H */
