/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Opening volumes and reading files.  Path operations go through libext2fs
 * under the volume lock (libext2fs is not thread-safe); an open file keeps
 * its own copy of the block map so vol_file_pread() only needs the data path.
 */
#include "vol-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ext2fs/ext2fs.h>
#include <et/com_err.h>

#define VOL_MAX_RUNS (64u << 20)        /* block runs in one file's map */
#define VOL_SYMLINK_MAX 4096u

struct vol {
	int fd;
	struct vol_crypt crypt;
	char ioname[32];
	ext2_filsys fs;
	pthread_mutex_t lock;
	struct vol_luks luks;   /* key moved into crypt */
	unsigned open_files;
};

struct run {
	uint64_t lblk, pblk, len;
};

struct vol_file {
	struct vol *v;
	uint64_t size;
	uint32_t bs;
	struct run *runs;
	size_t nruns, cap;
	uint8_t *inline_data;   /* inline-data files: the whole content */
	size_t inline_len;
};

int vol_ext2_err(long code, const char *ctx)
{
	switch (code) {
	case 0:
		return 0;
	case EXT2_ET_FILE_NOT_FOUND:
		return -ENOENT;
	case EXT2_ET_NO_DIRECTORY:
		return -ENOTDIR;
	case EXT2_ET_SYMLINK_LOOP:
		return -ELOOP;
	case EXT2_ET_NO_MEMORY:
		return -ENOMEM;
	case EXT2_ET_BAD_MAGIC:
		cc_log(CC_LOG_ERROR, VOL_LOG, "%s: no ext2/3/4 superblock in the data segment", ctx);
		return VOL_E_NOT_EXT4;
	case EXT2_ET_UNSUPP_FEATURE:
	case EXT2_ET_RO_UNSUPP_FEATURE:
		cc_log(CC_LOG_ERROR, VOL_LOG, "%s: %s", ctx, error_message(code));
		return VOL_E_FS_FEATURE;
	default:
		break;
	}
	if (code > 0 && code < 256 && code != EIO)
		return -(int)code;
	cc_log(CC_LOG_ERROR, VOL_LOG, "%s: ext4 metadata: %s", ctx, error_message(code));
	return VOL_E_FS_CORRUPT;
}

static int finish_open(struct vol *v);

static int vol_open_common(const char *image, enum vol_unlock_kind kind,
			   const void *secret, size_t len,
			   const struct vol_open_opts *opts, struct vol **ret)
{
	if (!image || !ret || (!secret && len))
		return -EINVAL;
	struct vol *v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->fd = open(image, O_RDONLY | O_CLOEXEC);
	if (v->fd < 0) {
		int e = -errno;
		free(v);
		return e;
	}
	struct stat st;
	if (fstat(v->fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))) {
		close(v->fd);
		free(v);
		return -EINVAL;
	}
	int slot = opts && opts->keyslot_set ? opts->keyslot : VOL_ANY_KEYSLOT;
	int r = vol_luks_unlock(image, v->fd, kind, secret, len, slot, &v->luks);
	if (r < 0) {
		close(v->fd);
		free(v);
		return r;
	}
	r = finish_open(v);
	if (r < 0)
		return r;
	*ret = v;
	return 0;
}

/* Set up the data path and the filesystem for v (fd and luks filled in).
 * Frees v on failure. */
static int finish_open(struct vol *v)
{
	int r = vol_crypt_init(&v->crypt, v->fd, v->luks.data_offset, v->luks.data_size,
			   v->luks.sector_size, v->luks.iv_offset,
			   CC_TAKE_PTR(v->luks.key), v->luks.key_len);
	if (r < 0) {
		close(v->fd);
		free(v);
		return r;
	}
	/* Recursive: a readdir callback may stat or open entries of the same
	 * volume from the same thread (libext2fs reads are reentrant). */
	pthread_mutexattr_t ma;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&v->lock, &ma);
	pthread_mutexattr_destroy(&ma);
	r = vol_io_register(&v->crypt, v->ioname, sizeof(v->ioname));
	if (r < 0)
		goto fail;
	errcode_t e = ext2fs_open2(v->ioname, NULL, EXT2_FLAG_64BITS, 0, 0,
				   &vol_io_manager_s, &v->fs);
	if (e) {
		v->fs = NULL;
		r = vol_ext2_err(e, "open filesystem");
		goto fail;
	}
	/* Group descriptors: locations inside their groups, no overlaps,
	 * checksums (what e2fsck checks first). */
	e = ext2fs_check_desc(v->fs);
	if (e) {
		r = vol_ext2_err(e, "group descriptors");
		if (r == VOL_E_NOT_EXT4)
			r = VOL_E_FS_CORRUPT;
		goto fail;
	}
	uint64_t fsbytes;
	if (__builtin_mul_overflow(ext2fs_blocks_count(v->fs->super),
				   (uint64_t)v->fs->blocksize, &fsbytes) ||
	    fsbytes > v->luks.data_size) {
		cc_log(CC_LOG_ERROR, VOL_LOG,
		       "filesystem needs %llu blocks of %u bytes but the data segment holds %llu bytes",
		       (unsigned long long)ext2fs_blocks_count(v->fs->super),
		       v->fs->blocksize, (unsigned long long)v->luks.data_size);
		r = VOL_E_TRUNCATED;
		goto fail;
	}
	if (vol_crypt_map(&v->crypt) < 0)
		cc_log(CC_LOG_DEBUG, VOL_LOG, "image not mappable; reading with pread");
	return 0;
fail:
	vol_close(v);
	return r;
}

int vol_open_segment(int fd, uint64_t data_offset, uint64_t data_size, uint32_t sector_size,
		     uint64_t iv_offset, const uint8_t *key, size_t key_len, struct vol **ret)
{
	struct vol *v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	v->luks.key = cc_secure_alloc(key_len);
	if (v->fd < 0 || !v->luks.key) {
		if (v->fd >= 0)
			close(v->fd);
		cc_secure_free(v->luks.key);
		free(v);
		return -ENOMEM;
	}
	memcpy(v->luks.key, key, key_len);
	v->luks.key_len = key_len;
	v->luks.data_offset = data_offset;
	v->luks.data_size = data_size;
	v->luks.sector_size = sector_size;
	v->luks.iv_offset = iv_offset;
	snprintf(v->luks.cipher, sizeof(v->luks.cipher), "aes");
	snprintf(v->luks.cipher_mode, sizeof(v->luks.cipher_mode), "xts-plain64");
	int r = finish_open(v);
	if (r < 0)
		return r;
	*ret = v;
	return 0;
}

int vol_open_passphrase(const char *image, const void *pass, size_t pass_len,
			const struct vol_open_opts *opts, struct vol **ret)
{
	return vol_open_common(image, VOL_UNLOCK_PASS, pass, pass_len, opts, ret);
}

int vol_read_key_file(const char *path, uint8_t **ret, size_t *ret_len)
{
	int r = cc_file_read(path, VOL_KEY_FILE_MAX, true, ret, ret_len);
	if (r == CC_E_TOOBIG)
		cc_log(CC_LOG_ERROR, VOL_LOG, "key file larger than %u bytes", VOL_KEY_FILE_MAX);
	return r;
}

int vol_open_key_file(const char *image, const char *key_file,
		      const struct vol_open_opts *opts, struct vol **ret)
{
	uint8_t *k = NULL;
	size_t klen = 0;
	if (!key_file)
		return -EINVAL;
	int r = vol_read_key_file(key_file, &k, &klen);
	if (r < 0)
		return r;
	r = vol_open_common(image, VOL_UNLOCK_PASS, k, klen, opts, ret);
	cc_secure_free(k);
	return r;
}

int vol_open_volume_key(const char *image, const void *key, size_t key_len,
			const struct vol_open_opts *opts, struct vol **ret)
{
	if (!key)
		return -EINVAL;
	return vol_open_common(image, VOL_UNLOCK_VK, key, key_len, opts, ret);
}

void vol_close(struct vol *v)
{
	if (!v)
		return;
	if (v->open_files)
		cc_log(CC_LOG_WARN, VOL_LOG, "closing a volume with %u open file(s)", v->open_files);
	if (v->fs)
		ext2fs_close_free(&v->fs);
	if (v->ioname[0])
		vol_io_unregister(v->ioname);
	vol_crypt_destroy(&v->crypt);
	cc_secure_free(v->luks.key);
	pthread_mutex_destroy(&v->lock);
	if (v->fd >= 0)
		close(v->fd);
	cc_wipe(v, sizeof(*v));
	free(v);
}

/* ------------------------------------------------------------------------ */

static int clean_path(const char *path, const char **ret)
{
	if (!path)
		return -EINVAL;
	size_t n = strnlen(path, VOL_PATH_MAX + 1);
	if (n > VOL_PATH_MAX)
		return -ENAMETOOLONG;
	while (*path == '/')
		path++;
	*ret = path;
	return 0;
}

static int read_inode(struct vol *v, ext2_ino_t ino, struct ext2_inode_large *in)
{
	memset(in, 0, sizeof(*in));
	errcode_t e = ext2fs_read_inode_full(v->fs, ino, (struct ext2_inode *)in, sizeof(*in));
	return e ? vol_ext2_err(e, "read inode") : 0;
}

static int read_link(struct vol *v, ext2_ino_t ino, struct ext2_inode_large *in,
		     char **ret, size_t *ret_len);

/*
 * Under v->lock.  Component-by-component lookup with our own symlink
 * handling (libext2fs's namei trusts symlink sizes): ".." at the root stays
 * at the root, absolute link targets restart at the volume root, at most
 * VOL_MAX_LINKS links are followed.
 */
#define VOL_MAX_LINKS 8
static int resolve(struct vol *v, const char *path, bool follow, ext2_ino_t *ret)
{
	const char *p;
	int r = clean_path(path, &p);
	if (r < 0)
		return r;
	ext2_filsys fs = v->fs;
	const size_t cap = 2 * VOL_PATH_MAX + 2;
	char *rem = malloc(cap), *tmp = malloc(cap);
	if (!rem || !tmp) {
		free(rem);
		free(tmp);
		return -ENOMEM;
	}
	snprintf(rem, cap, "%s", p);
	ext2_ino_t cur = EXT2_ROOT_INO;
	unsigned links = 0;
	size_t pos = 0;
	for (;;) {
		while (rem[pos] == '/')
			pos++;
		if (!rem[pos])
			break;
		size_t n = strcspn(rem + pos, "/");
		const char *name = rem + pos;
		pos += n;
		if (n == 1 && name[0] == '.')
			continue;
		if (n > VOL_NAME_MAX) {
			r = -ENAMETOOLONG;
			break;
		}
		struct ext2_inode_large din;
		r = read_inode(v, cur, &din);
		if (r)
			break;
		if (!LINUX_S_ISDIR(din.i_mode)) {
			r = -ENOTDIR;
			break;
		}
		ext2_ino_t child;
		if (n == 2 && name[0] == '.' && name[1] == '.' && cur == EXT2_ROOT_INO) {
			child = EXT2_ROOT_INO;
		} else {
			errcode_t e = ext2fs_lookup(fs, cur, name, (int)n, NULL, &child);
			if (e) {
				r = vol_ext2_err(e, "path lookup");
				break;
			}
		}
		if (child < 1 || child > fs->super->s_inodes_count) {
			cc_log(CC_LOG_ERROR, VOL_LOG, "directory %u names inode %u, out of range", cur, child);
			r = VOL_E_FS_CORRUPT;
			break;
		}
		struct ext2_inode_large cin;
		r = read_inode(v, child, &cin);
		if (r)
			break;
		while (rem[pos] == '/')
			pos++;
		bool last = rem[pos] == '\0';
		if (LINUX_S_ISLNK(cin.i_mode) && (!last || follow)) {
			if (++links > VOL_MAX_LINKS) {
				r = -ELOOP;
				break;
			}
			char *target;
			size_t tl;
			r = read_link(v, child, &cin, &target, &tl);
			if (r)
				break;
			int k = snprintf(tmp, cap, "%s/%s", target, rem + pos);
			free(target);
			if (k < 0 || (size_t)k >= cap) {
				r = -ENAMETOOLONG;
				break;
			}
			if (tmp[0] == '/')
				cur = EXT2_ROOT_INO;
			char *sw = rem;
			rem = tmp;
			tmp = sw;
			pos = 0;
			continue;
		}
		cur = child;
	}
	free(rem);
	free(tmp);
	if (r)
		return r;
	*ret = cur;
	return 0;
}

/* resolve() and read_inode() of what it finds. */
static int lookup(struct vol *v, const char *path, bool follow, ext2_ino_t *ino,
		  struct ext2_inode_large *in)
{
	int r = resolve(v, path, follow, ino);
	return r ? r : read_inode(v, *ino, in);
}

static enum vol_ftype mode_type(uint32_t mode)
{
	if (LINUX_S_ISREG(mode))
		return VOL_FT_REG;
	if (LINUX_S_ISDIR(mode))
		return VOL_FT_DIR;
	if (LINUX_S_ISLNK(mode))
		return VOL_FT_SYMLINK;
	return mode ? VOL_FT_OTHER : VOL_FT_UNKNOWN;
}


static void fill_stat(struct vol *v, ext2_ino_t ino, struct ext2_inode_large *inp,
		      struct vol_stat *ret);

/* Under lock: a valid, in-use inode number from outside. */
static int ino_ok(struct vol *v, uint32_t ino, struct ext2_inode_large *in)
{
	if (ino < 1 || ino > v->fs->super->s_inodes_count)
		return -ENOENT;
	int r = read_inode(v, ino, in);
	if (r)
		return r;
	if (in->i_mode == 0 || (in->i_links_count == 0 && ino != EXT2_ROOT_INO))
		return -ENOENT;
	return 0;
}

int vol_lstat_ino(struct vol *v, uint32_t ino, struct vol_stat *ret)
{
	if (!v || !ret)
		return -EINVAL;
	struct ext2_inode_large in;
	pthread_mutex_lock(&v->lock);
	int r = ino_ok(v, ino, &in);
	pthread_mutex_unlock(&v->lock);
	if (r < 0)
		return r;
	fill_stat(v, ino, &in, ret);
	return 0;
}

static int do_stat(struct vol *v, const char *path, bool follow, struct vol_stat *ret)
{
	if (!v || !ret)
		return -EINVAL;
	pthread_mutex_lock(&v->lock);
	ext2_ino_t ino;
	struct ext2_inode_large in;
	int r = lookup(v, path, follow, &ino, &in);
	pthread_mutex_unlock(&v->lock);
	if (r < 0)
		return r;
	fill_stat(v, ino, &in, ret);
	return 0;
}

static void fill_stat(struct vol *v, ext2_ino_t ino, struct ext2_inode_large *inp,
		      struct vol_stat *ret)
{
	struct ext2_inode_large in = *inp;
	memset(ret, 0, sizeof(*ret));
	ret->ino = ino;
	ret->mode = in.i_mode;
	ret->type = mode_type(in.i_mode);
	ret->uid = inode_uid(in);
	ret->gid = inode_gid(in);
	ret->nlink = in.i_links_count;
	ret->size = EXT2_I_SIZE(&in);
	ret->atime = (int64_t)(int32_t)in.i_atime;
	ret->mtime = (int64_t)(int32_t)in.i_mtime;
	ret->ctime = (int64_t)(int32_t)in.i_ctime;
	if (EXT2_INODE_SIZE(v->fs->super) > EXT2_GOOD_OLD_INODE_SIZE &&
	    in.i_extra_isize >= 24 && in.i_extra_isize <= EXT2_INODE_SIZE(v->fs->super) - EXT2_GOOD_OLD_INODE_SIZE) {
		/* Extra epoch bits extend the 32-bit seconds (ext4 encoding). */
		ret->mtime += (int64_t)(in.i_mtime_extra & 3) << 32;
		ret->mtime_nsec = in.i_mtime_extra >> 2;
		if (ret->mtime_nsec >= 1000000000u)
			ret->mtime_nsec = 0;
	}
}

int vol_lstat(struct vol *v, const char *path, struct vol_stat *ret)
{
	return do_stat(v, path, false, ret);
}

int vol_stat(struct vol *v, const char *path, struct vol_stat *ret)
{
	return do_stat(v, path, true, ret);
}

struct rd_ctx {
	vol_readdir_fn fn;
	void *ud;
	int ret;
};

static int rd_cb(ext2_ino_t dir, int entry, struct ext2_dir_entry *de,
		 int offset, int blocksize, char *buf, void *priv)
{
	(void)dir;
	(void)entry;
	(void)offset;
	(void)blocksize;
	(void)buf;
	struct rd_ctx *c = priv;
	int nl = ext2fs_dirent_name_len(de);
	if (de->inode == 0)
		return 0;
	if ((nl == 1 && de->name[0] == '.') ||
	    (nl == 2 && de->name[0] == '.' && de->name[1] == '.'))
		return 0;
	char name[VOL_NAME_MAX + 1];
	if (nl <= 0 || (unsigned)nl > VOL_NAME_MAX) {
		c->ret = VOL_E_FS_CORRUPT;
		cc_log(CC_LOG_ERROR, VOL_LOG, "directory entry with an invalid name length %d", nl);
		return DIRENT_ABORT;
	}
	if (memchr(de->name, '/', (size_t)nl) || memchr(de->name, '\0', (size_t)nl)) {
		/* Such a name could address something outside a target
		 * directory: refuse it rather than pass it on. */
		c->ret = VOL_E_UNSAFE_PATH;
		cc_log(CC_LOG_ERROR, VOL_LOG, "directory entry name contains '/' or NUL (inode %u)",
		       de->inode);
		return DIRENT_ABORT;
	}
	memcpy(name, de->name, (size_t)nl);
	name[nl] = '\0';
	enum vol_ftype t;
	switch (ext2fs_dirent_file_type(de)) {
	case EXT2_FT_REG_FILE:
		t = VOL_FT_REG;
		break;
	case EXT2_FT_DIR:
		t = VOL_FT_DIR;
		break;
	case EXT2_FT_SYMLINK:
		t = VOL_FT_SYMLINK;
		break;
	case EXT2_FT_UNKNOWN:
		t = VOL_FT_UNKNOWN;
		break;
	default:
		t = VOL_FT_OTHER;
		break;
	}
	int r = c->fn(c->ud, name, de->inode, t);
	if (r) {
		c->ret = r;
		return DIRENT_ABORT;
	}
	return 0;
}

int vol_readdir(struct vol *v, const char *path, vol_readdir_fn fn, void *userdata)
{
	if (!v || !fn)
		return -EINVAL;
	pthread_mutex_lock(&v->lock);
	ext2_ino_t ino;
	struct ext2_inode_large in;
	int r = lookup(v, path, true, &ino, &in);
	if (!r && !LINUX_S_ISDIR(in.i_mode))
		r = -ENOTDIR;
	if (!r) {
		/* The callback runs under the (recursive) lock. */
		struct rd_ctx c = { fn, userdata, 0 };
		errcode_t e = ext2fs_dir_iterate2(v->fs, ino, 0, NULL, rd_cb, &c);
		r = c.ret ? c.ret : (e ? vol_ext2_err(e, "read directory") : 0);
	}
	pthread_mutex_unlock(&v->lock);
	return r;
}

/* Under lock. */
static int read_link(struct vol *v, ext2_ino_t ino, struct ext2_inode_large *in,
		     char **ret, size_t *ret_len)
{
	uint64_t size = EXT2_I_SIZE(in);
	if (size == 0 || size > VOL_SYMLINK_MAX) {
		cc_log(CC_LOG_ERROR, VOL_LOG, "symlink inode %u has size %llu", ino,
		       (unsigned long long)size);
		return VOL_E_FS_CORRUPT;
	}
	char *buf = calloc(1, (size_t)size + 1);
	if (!buf)
		return -ENOMEM;
	errcode_t e = 0;
	if (in->i_flags & EXT4_INLINE_DATA_FL) {
		size_t isz = 0;
		e = ext2fs_inline_data_size(v->fs, ino, &isz);
		if (!e && isz != size)
			e = EXT2_ET_INLINE_DATA_CANT_ITERATE;
		if (!e) {
			char *tmp = calloc(1, isz + 64);
			if (!tmp) {
				free(buf);
				return -ENOMEM;
			}
			e = ext2fs_inline_data_get(v->fs, ino, (struct ext2_inode *)in, tmp, &isz);
			if (!e)
				memcpy(buf, tmp, (size_t)size);
			free(tmp);
		}
	} else if (ext2fs_is_fast_symlink((struct ext2_inode *)in)) {
		if (size >= sizeof(in->i_block)) {
			free(buf);
			return VOL_E_FS_CORRUPT;
		}
		memcpy(buf, in->i_block, (size_t)size);
	} else {
		ext2_file_t f;
		e = ext2fs_file_open2(v->fs, ino, (struct ext2_inode *)in, 0, &f);
		if (!e) {
			unsigned got = 0;
			e = ext2fs_file_read(f, buf, (unsigned)size, &got);
			if (!e && got != size)
				e = EXT2_ET_SHORT_READ;
			ext2fs_file_close(f);
		}
	}
	if (e) {
		free(buf);
		return vol_ext2_err(e, "read symlink");
	}
	if (memchr(buf, '\0', (size_t)size)) {
		free(buf);
		cc_log(CC_LOG_ERROR, VOL_LOG, "symlink inode %u contains a NUL byte", ino);
		return VOL_E_FS_CORRUPT;
	}
	*ret = buf;
	*ret_len = (size_t)size;
	return 0;
}

/* The target of symlink `ino` (whose inode is `in`); -EINVAL if it is not one. */
static int link_target(struct vol *v, ext2_ino_t ino, struct ext2_inode_large *in,
		       char **ret, size_t *ret_len)
{
	if (!LINUX_S_ISLNK(in->i_mode))
		return -EINVAL;
	return read_link(v, ino, in, ret, ret_len);
}

int vol_readlink_ino(struct vol *v, uint32_t ino, char **ret, size_t *ret_len)
{
	if (!v || !ret || !ret_len)
		return -EINVAL;
	struct ext2_inode_large in;
	pthread_mutex_lock(&v->lock);
	int r = ino_ok(v, ino, &in);
	if (!r)
		r = link_target(v, ino, &in, ret, ret_len);
	pthread_mutex_unlock(&v->lock);
	return r;
}

int vol_readlink(struct vol *v, const char *path, char **ret, size_t *ret_len)
{
	if (!v || !ret || !ret_len)
		return -EINVAL;
	pthread_mutex_lock(&v->lock);
	ext2_ino_t ino;
	struct ext2_inode_large in;
	int r = lookup(v, path, false, &ino, &in);
	if (!r)
		r = link_target(v, ino, &in, ret, ret_len);
	pthread_mutex_unlock(&v->lock);
	return r;
}

/* ------------------------------------------------------------------------ */
/* Files                                                                    */

static int add_run(struct vol_file *f, uint64_t lblk, uint64_t pblk, uint64_t len,
		   uint64_t fs_blocks)
{
	uint64_t end;
	if (len == 0)
		return 0;
	if (__builtin_add_overflow(pblk, len, &end) || end > fs_blocks || pblk == 0) {
		cc_log(CC_LOG_ERROR, VOL_LOG, "file block run %llu+%llu outside the filesystem",
		       (unsigned long long)pblk, (unsigned long long)len);
		return VOL_E_FS_CORRUPT;
	}
	if (f->nruns) {
		struct run *last = &f->runs[f->nruns - 1];
		if (lblk < last->lblk + last->len) {
			cc_log(CC_LOG_ERROR, VOL_LOG, "file block map overlaps or is out of order");
			return VOL_E_FS_CORRUPT;
		}
		if (last->lblk + last->len == lblk && last->pblk + last->len == pblk) {
			last->len += len;
			return 0;
		}
	}
	if (f->nruns == f->cap) {
		size_t nc = f->cap ? f->cap * 2 : 16, bytes;
		if (nc > VOL_MAX_RUNS || !cc_mul_ok(nc, sizeof(struct run), &bytes))
			return VOL_E_TOO_LARGE;
		struct run *n = realloc(f->runs, bytes);
		if (!n)
			return -ENOMEM;
		f->runs = n;
		f->cap = nc;
	}
	f->runs[f->nruns++] = (struct run){ lblk, pblk, len };
	return 0;
}

struct bi_ctx {
	struct vol_file *f;
	uint64_t fs_blocks, max_lblk;
	int ret;
};

static int bi_cb(ext2_filsys fs, blk64_t *blocknr, e2_blkcnt_t blockcnt,
		 blk64_t ref_blk, int ref_offset, void *priv)
{
	(void)fs;
	(void)ref_blk;
	(void)ref_offset;
	struct bi_ctx *c = priv;
	if (blockcnt < 0)
		return 0;
	if ((uint64_t)blockcnt >= c->max_lblk)
		return 0;
	int r = add_run(c->f, (uint64_t)blockcnt, *blocknr, 1, c->fs_blocks);
	if (r) {
		c->ret = r;
		return BLOCK_ABORT;
	}
	return 0;
}

/* Under lock: fill f->runs (or f->inline_data) for inode ino. */
static int build_map(struct vol *v, ext2_ino_t ino, struct ext2_inode_large *in,
		     struct vol_file *f)
{
	ext2_filsys fs = v->fs;
	uint64_t fs_blocks = ext2fs_blocks_count(fs->super);
	uint64_t max_lblk = (f->size + fs->blocksize - 1) / fs->blocksize;
	errcode_t e;

	if (in->i_flags & EXT4_INLINE_DATA_FL) {
		size_t isz = 0;
		e = ext2fs_inline_data_size(fs, ino, &isz);
		if (e)
			return vol_ext2_err(e, "inline data");
		if (isz > 65536 || isz < f->size)
			return VOL_E_FS_CORRUPT;
		f->inline_data = calloc(1, isz + 64);
		if (!f->inline_data)
			return -ENOMEM;
		e = ext2fs_inline_data_get(fs, ino, (struct ext2_inode *)in, f->inline_data, &isz);
		if (e)
			return vol_ext2_err(e, "inline data");
		f->inline_len = (size_t)f->size;
		return 0;
	}
	if (in->i_flags & EXT4_EXTENTS_FL) {
		ext2_extent_handle_t h;
		e = ext2fs_extent_open2(fs, ino, (struct ext2_inode *)in, &h);
		if (e)
			return vol_ext2_err(e, "extent tree");
		int op = EXT2_EXTENT_ROOT, r = 0;
		uint64_t steps = 0;
		for (;;) {
			struct ext2fs_extent ex;
			e = ext2fs_extent_get(h, op, &ex);
			if (e) {
				if (e == EXT2_ET_EXTENT_NO_NEXT || e == EXT2_ET_NO_CURRENT_NODE)
					e = 0;
				break;
			}
			op = EXT2_EXTENT_NEXT;
			if (++steps > 4 * (uint64_t)VOL_MAX_RUNS) {
				r = VOL_E_FS_CORRUPT;
				break;
			}
			if (!(ex.e_flags & EXT2_EXTENT_FLAGS_LEAF) ||
			    (ex.e_flags & EXT2_EXTENT_FLAGS_SECOND_VISIT))
				continue;
			if (ex.e_lblk >= max_lblk)
				continue;
			uint64_t len = ex.e_len;
			if (ex.e_lblk + len > max_lblk)
				len = max_lblk - ex.e_lblk;
			if (ex.e_flags & EXT2_EXTENT_FLAGS_UNINIT) {
				/* Allocated, never written: reads as zeros. Keep order checks. */
				if (f->nruns && ex.e_lblk < f->runs[f->nruns - 1].lblk + f->runs[f->nruns - 1].len) {
					r = VOL_E_FS_CORRUPT;
					break;
				}
				continue;
			}
			r = add_run(f, ex.e_lblk, ex.e_pblk, len, fs_blocks);
			if (r)
				break;
		}
		ext2fs_extent_free(h);
		if (r)
			return r;
		return e ? vol_ext2_err(e, "extent tree") : 0;
	}
	struct bi_ctx c = { f, fs_blocks, max_lblk, 0 };
	e = ext2fs_block_iterate3(fs, ino, BLOCK_FLAG_READ_ONLY | BLOCK_FLAG_DATA_ONLY,
				  NULL, bi_cb, &c);
	if (c.ret)
		return c.ret;
	return e ? vol_ext2_err(e, "block map") : 0;
}

static int file_open(struct vol *v, const char *path, uint32_t by_ino, struct vol_file **ret)
{
	if (!v || !ret)
		return -EINVAL;
	struct vol_file *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->v = v;
	pthread_mutex_lock(&v->lock);
	ext2_ino_t ino = by_ino;
	struct ext2_inode_large in;
	int r;
	if (path) {
		r = resolve(v, path, true, &ino);
		if (!r)
			r = read_inode(v, ino, &in);
	} else {
		r = ino_ok(v, ino, &in);
	}
	if (!r && LINUX_S_ISDIR(in.i_mode))
		r = -EISDIR;
	else if (!r && !LINUX_S_ISREG(in.i_mode))
		r = -EINVAL;
	if (!r) {
		/* Sparse files may be larger than the filesystem; only absurd
		 * sizes are refused. */
		f->size = EXT2_I_SIZE(&in);
		f->bs = v->fs->blocksize;
		if (f->size > (1ull << 60))
			r = VOL_E_FS_CORRUPT;
	}
	if (!r)
		r = build_map(v, ino, &in, f);
	if (!r)
		v->open_files++;
	pthread_mutex_unlock(&v->lock);
	if (r < 0) {
		free(f->runs);
		free(f->inline_data);
		free(f);
		return r;
	}
	*ret = f;
	return 0;
}

int vol_file_open(struct vol *v, const char *path, struct vol_file **ret)
{
	if (!path)
		return -EINVAL;
	return file_open(v, path, 0, ret);
}

int vol_file_open_ino(struct vol *v, uint32_t ino, struct vol_file **ret)
{
	return file_open(v, NULL, ino, ret);
}

uint64_t vol_file_size(const struct vol_file *f)
{
	return f ? f->size : 0;
}

void vol_file_close(struct vol_file *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->v->lock);
	f->v->open_files--;
	pthread_mutex_unlock(&f->v->lock);
	free(f->runs);
	free(f->inline_data);
	free(f);
}

/* Index of the run containing lblk, or of the first run after it (nruns if
 * none). */
static size_t find_run(const struct vol_file *f, uint64_t lblk)
{
	size_t lo = 0, hi = f->nruns;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct run *r = &f->runs[mid];
		if (lblk < r->lblk)
			hi = mid;
		else if (lblk >= r->lblk + r->len)
			lo = mid + 1;
		else
			return mid;
	}
	return lo;
}

long long vol_file_pread(struct vol_file *f, void *buf, size_t len, uint64_t off)
{
	if (!f || (!buf && len))
		return -EINVAL;
	if (off >= f->size || len == 0)
		return 0;
	if (len > f->size - off)
		len = (size_t)(f->size - off);
	if (len > (size_t)LLONG_MAX)
		len = (size_t)LLONG_MAX;
	if (f->inline_data) {
		memcpy(buf, f->inline_data + off, len);
		return (long long)len;
	}
	uint8_t *out = buf;
	size_t done = 0;
	const uint64_t bs = f->bs;
	while (done < len) {
		uint64_t lblk = off / bs, inblk = off % bs;
		size_t i = find_run(f, lblk);
		size_t n;
		if (i < f->nruns && f->runs[i].lblk <= lblk) {
			const struct run *r = &f->runs[i];
			uint64_t avail = (r->lblk + r->len - lblk) * bs - inblk;
			n = avail < len - done ? (size_t)avail : len - done;
			uint64_t phys = (r->pblk + (lblk - r->lblk)) * bs + inblk;
			int e = vol_crypt_read(&f->v->crypt, out, n, phys);
			if (e < 0)
				return e == VOL_E_TRUNCATED ? VOL_E_TRUNCATED : e;
		} else {
			/* A hole up to the next run (or the end). */
			uint64_t next = i < f->nruns ? f->runs[i].lblk * bs : UINT64_MAX;
			uint64_t avail = next - off;
			n = avail < len - done ? (size_t)avail : len - done;
			memset(out, 0, n);
		}
		out += n;
		done += n;
		off += n;
	}
	return (long long)done;
}

int vol_read_file(struct vol *v, const char *path, size_t max, bool secure,
		  uint8_t **ret, size_t *ret_len)
{
	if (!ret || !ret_len)
		return -EINVAL;
	struct vol_file *f;
	int r = vol_file_open(v, path, &f);
	if (r < 0)
		return r;
	if (f->size > max || f->size >= SIZE_MAX) {
		vol_file_close(f);
		return CC_E_TOOBIG;
	}
	size_t n = (size_t)f->size;
	uint8_t *b = secure ? cc_secure_alloc(n + 1) : malloc(n + 1);
	if (!b) {
		vol_file_close(f);
		return -ENOMEM;
	}
	long long got = vol_file_pread(f, b, n, 0);
	vol_file_close(f);
	if (got < 0 || (size_t)got != n) {
		if (secure)
			cc_secure_free(b);
		else
			free(b);
		return got < 0 ? (int)got : -EIO;
	}
	b[n] = '\0';
	*ret = b;
	*ret_len = n;
	return 0;
}

int vol_get_info(struct vol *v, struct vol_info *ret)
{
	if (!v || !ret)
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	memcpy(ret->uuid, v->luks.uuid, sizeof(ret->uuid));
	memcpy(ret->label, v->luks.label, sizeof(ret->label));
	memcpy(ret->cipher, v->luks.cipher, sizeof(ret->cipher));
	memcpy(ret->cipher_mode, v->luks.cipher_mode, sizeof(ret->cipher_mode));
	ret->key_size = (uint32_t)v->crypt.key_len;
	ret->sector_size = v->luks.sector_size;
	ret->data_offset = v->luks.data_offset;
	ret->data_size = v->luks.data_size;
	ret->iv_offset = v->luks.iv_offset;
	ret->active_keyslots = v->luks.active_keyslots;
	pthread_mutex_lock(&v->lock);
	ret->fs_blocks = ext2fs_blocks_count(v->fs->super);
	ret->fs_free_blocks = ext2fs_free_blocks_count(v->fs->super);
	ret->fs_block_size = v->fs->blocksize;
	ret->fs_inodes = v->fs->super->s_inodes_count;
	ret->fs_free_inodes = v->fs->super->s_free_inodes_count;
	pthread_mutex_unlock(&v->lock);
	return 0;
}

/* Internal accessors for check.c / create.c. */
ext2_filsys vol_fs(struct vol *v);
pthread_mutex_t *vol_lock(struct vol *v);
ext2_filsys vol_fs(struct vol *v)
{
	return v->fs;
}
pthread_mutex_t *vol_lock(struct vol *v)
{
	return &v->lock;
}
