/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Building a volume from a directory tree.  The image is written under a
 * temporary name next to the target and renamed into place (without
 * replacing anything) only when complete and synced; any failure removes it.
 *
 * Layout: LUKS2 header (libcryptsetup's default 16 MiB area), then ext4
 * built by libext2fs through the encrypting io_manager.  File contents are
 * allocated with ext2fs_fallocate() and streamed straight to their blocks in
 * 1 MiB encrypted chunks, so no plaintext touches the disk.
 */
#include "vol-internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ext2fs/ext2fs.h>
#include <libcryptsetup.h>
#include <openssl/rand.h>

#define VOL_MAX_DEPTH 128u
#define VOL_MAX_ENTRIES (16u << 20)
#define FS_BLOCK 4096u

struct scan {
	uint64_t files, dirs, symlinks, skipped;
	uint64_t data_blocks;   /* file contents, rounded to blocks */
	uint64_t meta_blocks;   /* directory blocks, long symlinks, extent blocks */
	uint64_t data_bytes;
};

struct cctx {
	ext2_filsys fs;
	struct vol_crypt *crypt;
	const struct vol_create_opts *opts;
	uint64_t total, done;
	uint8_t *buf;           /* 1 MiB copy buffer */
	int64_t now;
	char path[PATH_MAX];
};

static bool name_ok(const char *n)
{
	size_t l = strlen(n);
	return l > 0 && l <= VOL_NAME_MAX;
}

static int scan_dir(int dfd, unsigned depth, struct scan *s)
{
	if (depth > VOL_MAX_DEPTH) {
		cc_log(CC_LOG_ERROR, VOL_LOG, "source tree deeper than %u levels", VOL_MAX_DEPTH);
		return VOL_E_TOO_LARGE;
	}
	DIR *d = fdopendir(dfd);
	if (!d) {
		int e = -errno;
		close(dfd);
		return e;
	}
	uint64_t entries = 2, namebytes = 24;
	int r = 0;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!name_ok(de->d_name)) {
			r = -ENAMETOOLONG;
			break;
		}
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = -errno;
			break;
		}
		if (s->files + s->dirs + s->symlinks > VOL_MAX_ENTRIES) {
			r = VOL_E_TOO_LARGE;
			break;
		}
		entries++;
		namebytes += 8 + ((strlen(de->d_name) + 3) & ~3u);
		if (S_ISREG(st.st_mode)) {
			uint64_t nb = ((uint64_t)st.st_size + FS_BLOCK - 1) / FS_BLOCK;
			s->files++;
			s->data_blocks += nb;
			s->data_bytes += (uint64_t)st.st_size;
			/* Extent tree: 4 extents in the inode, 340 per leaf
			 * block, each extent up to 32768 blocks; allow for
			 * fragmentation at group boundaries. */
			s->meta_blocks += nb / (32768 * 64) + (nb > 4 * 8192 ? 2 : 0);
		} else if (S_ISDIR(st.st_mode)) {
			s->dirs++;
			int cfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd < 0) {
				r = -errno;
				break;
			}
			r = scan_dir(cfd, depth + 1, s);
			if (r < 0)
				break;
		} else if (S_ISLNK(st.st_mode)) {
			s->symlinks++;
			if (st.st_size >= 60)
				s->meta_blocks++;
		} else {
			s->skipped++;
		}
		errno = 0;
	}
	if (!r && errno)
		r = -errno;
	closedir(d);
	(void)entries;
	s->meta_blocks += namebytes / (FS_BLOCK - 64) + 1 + 1;
	return r;
}

static int ext_err(errcode_t e, const char *what, const char *path)
{
	switch (e) {
	case EXT2_ET_BLOCK_ALLOC_FAIL:
	case EXT2_ET_INODE_ALLOC_FAIL:
	case EXT2_ET_DIR_NO_SPACE:
	case EXT2_ET_TOOSMALL:
		cc_log(CC_LOG_ERROR, VOL_LOG, "volume too small while %s \"%s\"", what, path);
		return VOL_E_TOO_LARGE;
	case EXT2_ET_SHORT_WRITE:
		return -EIO;
	default:
		break;
	}
	if (e > 0 && e < 256) {
		cc_log(CC_LOG_ERROR, VOL_LOG, "while %s \"%s\": %s", what, path, strerror((int)e));
		return -(int)e;
	}
	int r = vol_ext2_err(e, what);
	return r == VOL_E_FS_CORRUPT ? -EIO : r;
}

static void set_times(struct ext2_inode_large *in, const struct stat *st, int64_t now)
{
	in->i_atime = (uint32_t)st->st_atim.tv_sec;
	in->i_mtime = (uint32_t)st->st_mtim.tv_sec;
	in->i_ctime = (uint32_t)now;
	in->i_extra_isize = sizeof(struct ext2_inode_large) - EXT2_GOOD_OLD_INODE_SIZE;
	in->i_atime_extra = (uint32_t)((((uint64_t)st->st_atim.tv_sec >> 32) & 3) |
				       ((uint64_t)st->st_atim.tv_nsec << 2));
	in->i_mtime_extra = (uint32_t)((((uint64_t)st->st_mtim.tv_sec >> 32) & 3) |
				       ((uint64_t)st->st_mtim.tv_nsec << 2));
	in->i_ctime_extra = (uint32_t)(((uint64_t)now >> 32) & 3);
	in->i_crtime = (uint32_t)now;
	in->i_crtime_extra = in->i_ctime_extra;
}

/* Apply owner, permission bits and times of st to inode ino. */
static errcode_t set_attrs(struct cctx *c, ext2_ino_t ino, const struct stat *st)
{
	struct ext2_inode_large in;
	memset(&in, 0, sizeof(in));
	errcode_t e = ext2fs_read_inode_full(c->fs, ino, (struct ext2_inode *)&in, sizeof(in));
	if (e)
		return e;
	in.i_mode = (uint16_t)((in.i_mode & LINUX_S_IFMT) | (st->st_mode & 07777));
	in.i_uid = (uint16_t)st->st_uid;
	ext2fs_set_i_uid_high(in, st->st_uid >> 16);
	in.i_gid = (uint16_t)st->st_gid;
	ext2fs_set_i_gid_high(in, st->st_gid >> 16);
	set_times(&in, st, c->now);
	return ext2fs_write_inode_full(c->fs, ino, (struct ext2_inode *)&in, sizeof(in));
}

static errcode_t link_retry(ext2_filsys fs, ext2_ino_t parent, const char *name,
			    ext2_ino_t ino, int ft)
{
	errcode_t e = ext2fs_link(fs, parent, name, ino, ft);
	if (e == EXT2_ET_DIR_NO_SPACE) {
		e = ext2fs_expand_dir(fs, parent);
		if (!e)
			e = ext2fs_link(fs, parent, name, ino, ft);
	}
	return e;
}

static int read_full(int fd, uint8_t *p, size_t n, size_t *got)
{
	size_t d = 0;
	while (d < n) {
		ssize_t r = read(fd, p + d, n - d);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		d += (size_t)r;
	}
	*got = d;
	return 0;
}

static void progress(struct cctx *c)
{
	if (c->opts->progress)
		c->opts->progress(c->opts->progress_userdata, c->done, c->total);
}

static int copy_file(struct cctx *c, ext2_ino_t parent, int dfd, const char *name,
		     const struct stat *st0)
{
	ext2_filsys fs = c->fs;
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size != st0->st_size) {
		close(fd);
		cc_log(CC_LOG_ERROR, VOL_LOG, "\"%s\" changed while copying", c->path);
		return -EAGAIN;
	}
	uint64_t size = (uint64_t)st.st_size;
	ext2_ino_t ino;
	errcode_t e = ext2fs_new_inode(fs, parent, LINUX_S_IFREG | 0600, NULL, &ino);
	if (!e)
		e = link_retry(fs, parent, name, ino, EXT2_FT_REG_FILE);
	if (e) {
		close(fd);
		return ext_err(e, "creating", c->path);
	}
	ext2fs_inode_alloc_stats2(fs, ino, +1, 0);
	struct ext2_inode_large in;
	memset(&in, 0, sizeof(in));
	in.i_mode = LINUX_S_IFREG | 0600;
	in.i_links_count = 1;
	ext2fs_inode_size_set(fs, (struct ext2_inode *)&in, size);
	in.i_flags |= EXT4_EXTENTS_FL;
	ext2_extent_handle_t h;
	e = ext2fs_extent_open2(fs, ino, (struct ext2_inode *)&in, &h);
	if (!e) {
		ext2fs_extent_free(h);
		e = ext2fs_write_new_inode(fs, ino, (struct ext2_inode *)&in);
	}
	uint64_t nblocks = (size + fs->blocksize - 1) / fs->blocksize;
	if (!e && nblocks) {
		e = ext2fs_read_inode_full(fs, ino, (struct ext2_inode *)&in, sizeof(in));
		if (!e)
			e = ext2fs_fallocate(fs, EXT2_FALLOCATE_FORCE_INIT, ino,
					     (struct ext2_inode *)&in, ~0ULL, 0, nblocks);
	}
	if (e) {
		close(fd);
		return ext_err(e, "allocating", c->path);
	}
	/* Stream the contents to the allocated blocks. */
	int r = 0;
	if (nblocks) {
		e = ext2fs_extent_open2(fs, ino, (struct ext2_inode *)&in, &h);
		if (e) {
			close(fd);
			return ext_err(e, "mapping", c->path);
		}
		uint64_t next_lblk = 0;
		int op = EXT2_EXTENT_ROOT;
		for (;;) {
			struct ext2fs_extent ex;
			e = ext2fs_extent_get(h, op, &ex);
			if (e) {
				if (e == EXT2_ET_EXTENT_NO_NEXT)
					e = 0;
				break;
			}
			op = EXT2_EXTENT_NEXT;
			if (!(ex.e_flags & EXT2_EXTENT_FLAGS_LEAF) ||
			    (ex.e_flags & EXT2_EXTENT_FLAGS_SECOND_VISIT))
				continue;
			if (ex.e_lblk != next_lblk || (ex.e_flags & EXT2_EXTENT_FLAGS_UNINIT)) {
				r = -EIO;
				break;
			}
			uint64_t left = (uint64_t)ex.e_len * fs->blocksize;
			uint64_t phys = ex.e_pblk * (uint64_t)fs->blocksize;
			while (left && !r) {
				size_t want = left < VOL_WBUF ? (size_t)left : VOL_WBUF, got = 0;
				r = read_full(fd, c->buf, want, &got);
				if (r)
					break;
				if (got < want) {
					/* Short only at the end of the file. */
					if (next_lblk * fs->blocksize + got != size) {
						cc_log(CC_LOG_ERROR, VOL_LOG, "\"%s\" shrank while copying", c->path);
						r = -EAGAIN;
						break;
					}
					memset(c->buf + got, 0, want - got);
				}
				r = vol_crypt_write(c->crypt, c->buf, want, phys);
				phys += want;
				left -= want;
				next_lblk += want / fs->blocksize;
				c->done += got;
				progress(c);
			}
			if (r)
				break;
		}
		ext2fs_extent_free(h);
		if (!r && !e && next_lblk != nblocks)
			r = -EIO;
	}
	close(fd);
	if (r)
		return r;
	if (e)
		return ext_err(e, "mapping", c->path);
	e = set_attrs(c, ino, &st);
	return e ? ext_err(e, "writing inode of", c->path) : 0;
}

static int cmp_dirent(const void *a, const void *b)
{
	return strcmp((*(struct dirent *const *)a)->d_name, (*(struct dirent *const *)b)->d_name);
}

static int copy_tree(struct cctx *c, ext2_ino_t dir, int dfd, unsigned depth)
{
	if (depth > VOL_MAX_DEPTH)
		return VOL_E_TOO_LARGE;
	DIR *d = fdopendir(dfd);
	if (!d) {
		int e = -errno;
		close(dfd);
		return e;
	}
	rewinddir(d); /* the descriptor may share its offset with the scan */
	/* Sorted for a reproducible layout. */
	struct dirent **list = NULL;
	int n = 0, r = 0;
	{
		size_t cap = 0;
		struct dirent *de;
		errno = 0;
		while ((de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			if ((size_t)n == cap) {
				size_t nc = cap ? cap * 2 : 32, bytes;
				if (!cc_mul_ok(nc, sizeof(*list), &bytes) || nc > VOL_MAX_ENTRIES) {
					r = VOL_E_TOO_LARGE;
					break;
				}
				struct dirent **nl = realloc(list, bytes);
				if (!nl) {
					r = -ENOMEM;
					break;
				}
				list = nl;
				cap = nc;
			}
			size_t dl = offsetof(struct dirent, d_name) + strlen(de->d_name) + 1;
			list[n] = malloc(dl < sizeof(*de) ? sizeof(*de) : dl);
			if (!list[n]) {
				r = -ENOMEM;
				break;
			}
			memcpy(list[n], de, dl);
			n++;
		}
	}
	if (!r && n > 1)
		qsort(list, (size_t)n, sizeof(*list), cmp_dirent);
	size_t base = strlen(c->path);
	for (int i = 0; i < n && !r; i++) {
		const char *name = list[i]->d_name;
		if (!name_ok(name)) {
			r = -ENAMETOOLONG;
			break;
		}
		snprintf(c->path + base, sizeof(c->path) - base, "/%s", name);
		struct stat st;
		if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = -errno;
			break;
		}
		errcode_t e = 0;
		if (S_ISREG(st.st_mode)) {
			r = copy_file(c, dir, dirfd(d), name, &st);
		} else if (S_ISDIR(st.st_mode)) {
			ext2_ino_t ino;
			e = ext2fs_new_inode(c->fs, dir, LINUX_S_IFDIR | 0755, NULL, &ino);
			if (!e) {
				e = ext2fs_mkdir(c->fs, dir, ino, name);
				if (e == EXT2_ET_DIR_NO_SPACE) {
					e = ext2fs_expand_dir(c->fs, dir);
					if (!e)
						e = ext2fs_mkdir(c->fs, dir, ino, name);
				}
			}
			if (e) {
				r = ext_err(e, "creating directory", c->path);
				break;
			}
			int cfd = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd < 0) {
				r = -errno;
				break;
			}
			r = copy_tree(c, ino, cfd, depth + 1);
			if (!r) {
				e = set_attrs(c, ino, &st);
				if (e)
					r = ext_err(e, "writing inode of", c->path);
			}
		} else if (S_ISLNK(st.st_mode)) {
			char target[PATH_MAX];
			ssize_t tl = readlinkat(dirfd(d), name, target, sizeof(target) - 1);
			if (tl < 0) {
				r = -errno;
				break;
			}
			if (tl == 0 || (size_t)tl >= sizeof(target) - 1 || (size_t)tl >= FS_BLOCK) {
				r = -ENAMETOOLONG;
				break;
			}
			target[tl] = '\0';
			ext2_ino_t ino;
			e = ext2fs_new_inode(c->fs, dir, LINUX_S_IFLNK | 0777, NULL, &ino);
			if (!e) {
				e = ext2fs_symlink(c->fs, dir, ino, name, target);
				if (e == EXT2_ET_DIR_NO_SPACE) {
					e = ext2fs_expand_dir(c->fs, dir);
					if (!e)
						e = ext2fs_symlink(c->fs, dir, ino, name, target);
				}
			}
			if (!e) {
				st.st_mode = (st.st_mode & ~07777u) | 0777;
				e = set_attrs(c, ino, &st);
			}
			if (e)
				r = ext_err(e, "creating symlink", c->path);
		} else {
			cc_log(CC_LOG_WARN, VOL_LOG, "skipping \"%s\": not a file, directory or symlink", c->path);
		}
	}
	c->path[base] = '\0';
	for (int i = 0; i < n; i++)
		free(list[i]);
	free(list);
	closedir(d);
	return r;
}

static uint64_t fs_blocks_for(const struct scan *s, uint32_t *ret_inodes)
{
	uint64_t inodes = s->files + s->dirs + s->symlinks + 64;
	inodes += inodes / 8;
	uint64_t base = s->data_blocks + s->meta_blocks + 64;
	/* Groups of 32768 blocks; per group bitmaps, descriptors and sparse
	 * superblock backups, plus the inode tables (256-byte inodes). */
	uint64_t blocks = base + base / 64 + 1024;
	uint64_t groups = blocks / 32768 + 1;
	if (inodes < groups * 16)
		inodes = groups * 16;
	blocks += groups * 8 + (inodes * 256 + FS_BLOCK - 1) / FS_BLOCK + groups * 2;
	if (inodes > UINT32_MAX - 1024)
		inodes = UINT32_MAX - 1024;
	*ret_inodes = (uint32_t)inodes;
	return blocks;
}

static errcode_t make_fs(struct cctx *c, const char *ioname, uint64_t blocks,
			 uint32_t inodes, const char *label, const struct stat *root_st)
{
	struct ext2_super_block param;
	memset(&param, 0, sizeof(param));
	ext2fs_blocks_count_set(&param, blocks);
	param.s_log_block_size = 2; /* 4096 */
	param.s_rev_level = EXT2_DYNAMIC_REV;
	param.s_inode_size = 256;
	param.s_inodes_count = inodes;
	param.s_log_groups_per_flex = 4;
	param.s_feature_compat = EXT2_FEATURE_COMPAT_DIR_INDEX;
	param.s_feature_incompat = EXT2_FEATURE_INCOMPAT_FILETYPE |
				   EXT3_FEATURE_INCOMPAT_EXTENTS |
				   EXT4_FEATURE_INCOMPAT_64BIT |
				   EXT4_FEATURE_INCOMPAT_FLEX_BG;
	param.s_feature_ro_compat = EXT2_FEATURE_RO_COMPAT_SPARSE_SUPER |
				    EXT2_FEATURE_RO_COMPAT_LARGE_FILE |
				    EXT4_FEATURE_RO_COMPAT_HUGE_FILE |
				    EXT4_FEATURE_RO_COMPAT_DIR_NLINK |
				    EXT4_FEATURE_RO_COMPAT_EXTRA_ISIZE |
				    EXT4_FEATURE_RO_COMPAT_METADATA_CSUM;
	param.s_desc_size = EXT2_MIN_DESC_SIZE_64BIT;
	param.s_min_extra_isize = param.s_want_extra_isize =
		sizeof(struct ext2_inode_large) - EXT2_GOOD_OLD_INODE_SIZE;

	ext2_filsys fs;
	errcode_t e = ext2fs_initialize(ioname, EXT2_FLAG_64BITS, &param, &vol_io_manager_s, &fs);
	if (e)
		return e;
	c->fs = fs;
	struct ext2_super_block *sb = fs->super;
	sb->s_checksum_type = EXT2_CRC32C_CHKSUM;
	if (RAND_bytes(sb->s_uuid, sizeof(sb->s_uuid)) != 1 ||
	    RAND_bytes((uint8_t *)sb->s_hash_seed, sizeof(sb->s_hash_seed)) != 1)
		return EXT2_ET_NO_MEMORY;
	sb->s_uuid[6] = (uint8_t)((sb->s_uuid[6] & 0x0f) | 0x40);
	sb->s_uuid[8] = (uint8_t)((sb->s_uuid[8] & 0x3f) | 0x80);
	ext2fs_init_csum_seed(fs);
	sb->s_def_hash_version = EXT2_HASH_HALF_MD4;
	sb->s_flags |= ((char)-1 < 0) ? EXT2_FLAGS_SIGNED_HASH : EXT2_FLAGS_UNSIGNED_HASH;
	sb->s_max_mnt_count = (uint16_t)-1;
	sb->s_mkfs_time = sb->s_wtime = sb->s_lastcheck = (uint32_t)c->now;
	sb->s_r_blocks_count = 0;
	if (label)
		snprintf((char *)sb->s_volume_name, sizeof(sb->s_volume_name), "%s", label);

	e = ext2fs_allocate_tables(fs);
	if (e)
		return e;
	/* Zero every inode table (encrypted zeros), so unused and reserved
	 * inodes read as empty, exactly as a non-lazy mke2fs leaves them. */
	for (dgrp_t g = 0; g < fs->group_desc_count; g++) {
		blk64_t t = ext2fs_inode_table_loc(fs, g);
		e = ext2fs_zero_blocks2(fs, t, (int)fs->inode_blocks_per_group, NULL, NULL);
		if (e)
			return e;
		ext2fs_bg_flags_set(fs, g, EXT2_BG_INODE_ZEROED);
		ext2fs_group_desc_csum_set(fs, g);
	}
	e = ext2fs_mkdir(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, 0);
	if (e)
		return e;
	for (ext2_ino_t i = EXT2_ROOT_INO + 1; i < EXT2_FIRST_INODE(sb); i++)
		ext2fs_inode_alloc_stats2(fs, i, +1, 0);
	ext2fs_mark_inode_bitmap2(fs->inode_map, EXT2_BAD_INO);
	ext2fs_inode_alloc_stats2(fs, EXT2_BAD_INO, +1, 0);
	e = ext2fs_update_bb_inode(fs, NULL);
	if (e)
		return e;
	ext2_ino_t lpf;
	e = ext2fs_new_inode(fs, EXT2_ROOT_INO, LINUX_S_IFDIR | 0700, NULL, &lpf);
	if (!e)
		e = ext2fs_mkdir(fs, EXT2_ROOT_INO, lpf, "lost+found");
	if (e)
		return e;
	{
		struct ext2_inode_large in;
		e = ext2fs_read_inode_full(fs, lpf, (struct ext2_inode *)&in, sizeof(in));
		if (e)
			return e;
		in.i_mode = LINUX_S_IFDIR | 0700;
		e = ext2fs_write_inode_full(fs, lpf, (struct ext2_inode *)&in, sizeof(in));
		if (e)
			return e;
	}
	(void)root_st;
	return 0;
}

static int tmp_name(const char *out, char *buf, size_t bufsz)
{
	uint8_t rnd[6];
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return -EIO;
	int n = snprintf(buf, bufsz, "%s.tmp-%02x%02x%02x%02x%02x%02x", out, rnd[0], rnd[1],
			 rnd[2], rnd[3], rnd[4], rnd[5]);
	return n < 0 || (size_t)n >= bufsz ? -ENAMETOOLONG : 0;
}

int vol_create(const struct vol_create_opts *opts, const void *pass, size_t pass_len)
{
	if (!opts || !opts->from_dir || !opts->out || (!pass && pass_len))
		return -EINVAL;
	if (opts->label && strlen(opts->label) > 16) {
		cc_log(CC_LOG_ERROR, VOL_LOG, "label longer than 16 bytes");
		return -EINVAL;
	}
	if (opts->sector_size && opts->sector_size != 4096 && opts->sector_size != 512 &&
	    opts->sector_size != 1024 && opts->sector_size != 2048)
		return -EINVAL;
	vol_luks_setup_logging();
	struct stat st;
	if (lstat(opts->out, &st) == 0) {
		cc_log(CC_LOG_ERROR, VOL_LOG, "output \"%s\" already exists", opts->out);
		return -EEXIST;
	}
	int srcfd = open(opts->from_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (srcfd < 0)
		return -errno;
	struct stat root_st;
	if (fstat(srcfd, &root_st) < 0) {
		int e = -errno;
		close(srcfd);
		return e;
	}
	struct scan s = { 0 };
	int dupfd = dup(srcfd);
	int r = dupfd < 0 ? -errno : scan_dir(dupfd, 0, &s);
	if (r < 0) {
		close(srcfd);
		return r;
	}
	uint32_t inodes;
	uint64_t blocks = fs_blocks_for(&s, &inodes);
	if (opts->size) {
		uint64_t need = blocks * FS_BLOCK + (16u << 20);
		if (opts->size < (16u << 20) + (1u << 20)) {
			close(srcfd);
			cc_log(CC_LOG_ERROR, VOL_LOG, "--size below the 17 MiB minimum");
			return -EINVAL;
		}
		if (opts->size < need)
			cc_log(CC_LOG_WARN, VOL_LOG, "requested size may be too small (estimate %llu bytes)",
			       (unsigned long long)need);
	}

	char tmp[PATH_MAX];
	r = tmp_name(opts->out, tmp, sizeof(tmp));
	if (r < 0) {
		close(srcfd);
		return r;
	}
	int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		close(srcfd);
		return r;
	}
	struct crypt_device *cd = NULL;
	uint8_t *vk = NULL;
	struct vol_crypt crypt;
	bool crypt_ok = false;
	char ioname[32] = "";
	struct cctx c = { .opts = opts, .total = s.data_bytes, .now = (int64_t)time(NULL) };

	/* LUKS2 header first: with the file sized, libcryptsetup lays out its
	 * default 16 MiB metadata + keyslots area. */
	uint64_t hdr = 16u << 20;
	uint64_t img = opts->size ? opts->size : hdr + blocks * FS_BLOCK;
	if (ftruncate(fd, (off_t)img) < 0) {
		r = -errno;
		goto fail;
	}
	r = crypt_init(&cd, tmp);
	if (r < 0)
		goto fail;
	crypt_metadata_locking(cd, 0);
	r = vol_luks_set_pbkdf(cd, &opts->kdf);
	if (r < 0)
		goto fail;
	vk = cc_secure_alloc(64);
	if (!vk || RAND_priv_bytes(vk, 64) != 1) {
		r = -ENOMEM;
		goto fail;
	}
	struct crypt_params_luks2 lp = {
		.sector_size = opts->sector_size ? opts->sector_size : 4096,
		.label = opts->label,
	};
	r = crypt_format(cd, CRYPT_LUKS2, "aes", "xts-plain64", NULL, (const char *)vk, 64, &lp);
	if (r < 0) {
		cc_log(CC_LOG_ERROR, VOL_LOG, "writing the LUKS2 header failed: %s", strerror(-r));
		goto fail;
	}
	r = crypt_keyslot_add_by_volume_key(cd, CRYPT_ANY_SLOT, (const char *)vk, 64, pass, pass_len);
	if (r < 0) {
		cc_log(CC_LOG_ERROR, VOL_LOG, "adding the keyslot failed: %s", strerror(-r));
		goto fail;
	}
	uint64_t data_offset = crypt_get_data_offset(cd) * 512;
	uint64_t iv_offset = crypt_get_iv_offset(cd);
	crypt_free(cd);
	cd = NULL;
	if (img <= data_offset + 64 * FS_BLOCK) {
		r = VOL_E_TOO_LARGE;
		goto fail;
	}
	uint64_t fs_blocks = (img - data_offset) / FS_BLOCK;
	uint64_t data_size = fs_blocks * FS_BLOCK;
	if (opts->size) {
		/* Keep the inode estimate, use all the space given. */
		blocks = fs_blocks;
	}
	blocks = blocks < fs_blocks ? blocks : fs_blocks;

	uint8_t *key = cc_secure_alloc(64);
	if (!key) {
		r = -ENOMEM;
		goto fail;
	}
	memcpy(key, vk, 64);
	r = vol_crypt_init(&crypt, fd, data_offset, data_size, lp.sector_size, iv_offset, key, 64);
	if (r < 0)
		goto fail;
	crypt_ok = true;
	r = vol_io_register(&crypt, ioname, sizeof(ioname));
	if (r < 0) {
		ioname[0] = '\0';
		goto fail;
	}
	c.crypt = &crypt;
	c.buf = malloc(VOL_WBUF);
	if (!c.buf) {
		r = -ENOMEM;
		goto fail;
	}
	errcode_t e = make_fs(&c, ioname, blocks, inodes, opts->label, &root_st);
	if (e) {
		r = ext_err(e, "creating the filesystem", "/");
		goto fail;
	}
	snprintf(c.path, sizeof(c.path), "%s", "");
	progress(&c);
	r = copy_tree(&c, EXT2_ROOT_INO, srcfd, 0);
	srcfd = -1; /* closed by copy_tree */
	if (r < 0)
		goto fail;
	e = set_attrs(&c, EXT2_ROOT_INO, &root_st);
	if (!e) {
		c.fs->super->s_state = EXT2_VALID_FS;
		ext2fs_mark_super_dirty(c.fs);
		e = ext2fs_close_free(&c.fs);
	}
	if (e) {
		r = ext_err(e, "writing the filesystem metadata", "/");
		goto fail;
	}
	if (fsync(fd) < 0) {
		r = -errno;
		goto fail;
	}
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, opts->out, RENAME_NOREPLACE) < 0) {
		r = -errno;
		if (r == -EEXIST)
			cc_log(CC_LOG_ERROR, VOL_LOG, "output \"%s\" appeared while creating", opts->out);
		goto fail;
	}
	r = 0;
	goto out;
fail:
	if (c.fs)
		ext2fs_free(c.fs);
	c.fs = NULL;
	if (unlink(tmp) < 0)
		cc_log(CC_LOG_WARN, VOL_LOG, "could not remove the partial image \"%s\"", tmp);
out:
	if (c.fs)
		ext2fs_free(c.fs);
	if (c.buf) {
		cc_wipe(c.buf, VOL_WBUF);
		free(c.buf);
	}
	if (ioname[0])
		vol_io_unregister(ioname);
	if (crypt_ok)
		vol_crypt_destroy(&crypt);
	crypt_free(cd);
	cc_secure_free(vk);
	if (srcfd >= 0)
		close(srcfd);
	close(fd);
	if (r == -ENOSPC || r == -EFBIG || r == -EDQUOT)
		cc_log(CC_LOG_ERROR, VOL_LOG, "no space left for the image; partial image removed");
	return r;
}
