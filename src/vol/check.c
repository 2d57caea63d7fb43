/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vol_check: an offline consistency check of the ext4 filesystem inside a
 * volume, in the spirit of e2fsck's passes but read-only and never fixing:
 *   1. superblock, group descriptors and bitmaps load (checksums verified
 *      by libext2fs when metadata_csum is on);
 *   2. a walk of the directory tree from the root: every entry names an
 *      inode in range, in use in the inode bitmap, with a valid type;
 *   3. every block of every reached inode (data, extent tree, indirect and
 *      xattr blocks) lies inside the filesystem, is claimed by one inode
 *      only and is marked in the block bitmap;
 *   4. link counts equal the directory references;
 *   5. no in-use inode is unreachable, group free counts match bitmaps;
 *   6. every regular file reads back completely through the data path.
 * Each problem is logged once (with inode numbers, never contents).
 */
#include "vol-internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <ext2fs/ext2fs.h>

ext2_filsys vol_fs(struct vol *v);
pthread_mutex_t *vol_lock(struct vol *v);

#define CHECK_MAX_INODES (32u << 20)
#define CHECK_MAX_PROBLEMS_LOGGED 50

struct ck {
	ext2_filsys fs;
	ext2fs_block_bitmap seen_blocks;
	uint32_t *refs;          /* directory references per inode */
	uint8_t *reached;        /* 1 = inode visited */
	ext2_ino_t *stack;       /* directories still to walk */
	size_t sp, scap;
	struct vol_check_report *rep;
	ext2_ino_t cur;
	int fatal;
};

static void problem(struct ck *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct ck *c, const char *fmt, ...)
{
	if (c->rep->problems++ < CHECK_MAX_PROBLEMS_LOGGED) {
		char msg[512];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		cc_log(CC_LOG_ERROR, VOL_LOG, "check: %s", msg);
	}
}

static int blk_cb(ext2_filsys fs, blk64_t *blocknr, e2_blkcnt_t blockcnt, blk64_t ref_blk,
		  int ref_offset, void *priv)
{
	(void)ref_blk;
	(void)ref_offset;
	(void)blockcnt;
	struct ck *c = priv;
	blk64_t b = *blocknr;
	if (b < fs->super->s_first_data_block || b >= ext2fs_blocks_count(fs->super)) {
		problem(c, "inode %u: block %llu outside the filesystem", c->cur, (unsigned long long)b);
		return BLOCK_ABORT;
	}
	if (ext2fs_test_block_bitmap2(c->seen_blocks, b))
		problem(c, "inode %u: block %llu claimed by more than one inode", c->cur,
			(unsigned long long)b);
	else
		ext2fs_mark_block_bitmap2(c->seen_blocks, b);
	if (!ext2fs_test_block_bitmap2(fs->block_map, b))
		problem(c, "inode %u: block %llu in use but marked free", c->cur, (unsigned long long)b);
	return 0;
}

static void check_blocks(struct ck *c, ext2_ino_t ino, struct ext2_inode_large *in)
{
	ext2_filsys fs = c->fs;
	c->cur = ino;
	if (ext2fs_inode_has_valid_blocks2(fs, (struct ext2_inode *)in)) {
		errcode_t e = ext2fs_block_iterate3(fs, ino, BLOCK_FLAG_READ_ONLY, NULL, blk_cb, c);
		if (e)
			problem(c, "inode %u: block map unreadable (%ld)", ino, (long)e);
	}
	blk64_t acl = ext2fs_file_acl_block(fs, (struct ext2_inode *)in);
	if (acl) {
		blk64_t b = acl;
		blk_cb(fs, &b, BLOCK_COUNT_IND, 0, 0, c);
	}
}

struct dir_walk {
	struct ck *c;
	ext2_ino_t dir;
};

static int push(struct ck *c, ext2_ino_t ino)
{
	if (c->sp == c->scap) {
		size_t nc = c->scap ? c->scap * 2 : 64, bytes;
		if (!cc_mul_ok(nc, sizeof(ext2_ino_t), &bytes))
			return -ENOMEM;
		ext2_ino_t *n = realloc(c->stack, bytes);
		if (!n)
			return -ENOMEM;
		c->stack = n;
		c->scap = nc;
	}
	c->stack[c->sp++] = ino;
	return 0;
}

static int visit(struct ck *c, ext2_ino_t ino)
{
	ext2_filsys fs = c->fs;
	if (c->reached[ino])
		return 0;
	c->reached[ino] = 1;
	struct ext2_inode_large in;
	memset(&in, 0, sizeof(in));
	errcode_t e = ext2fs_read_inode_full(fs, ino, (struct ext2_inode *)&in, sizeof(in));
	if (e) {
		problem(c, "inode %u unreadable", ino);
		return 0;
	}
	if (!ext2fs_test_inode_bitmap2(fs->inode_map, ino))
		problem(c, "inode %u in use but marked free", ino);
	if (in.i_links_count == 0 || in.i_dtime)
		problem(c, "inode %u referenced but deleted", ino);
	if (LINUX_S_ISDIR(in.i_mode)) {
		c->rep->dirs++;
		if (push(c, ino) < 0)
			return -ENOMEM;
	} else if (LINUX_S_ISREG(in.i_mode)) {
		c->rep->files++;
	} else if (LINUX_S_ISLNK(in.i_mode)) {
		c->rep->symlinks++;
		if (EXT2_I_SIZE(&in) == 0 || EXT2_I_SIZE(&in) > 4096)
			problem(c, "symlink inode %u has size %llu", ino,
				(unsigned long long)EXT2_I_SIZE(&in));
	} else if (LINUX_S_ISCHR(in.i_mode) || LINUX_S_ISBLK(in.i_mode) ||
		   LINUX_S_ISFIFO(in.i_mode) || LINUX_S_ISSOCK(in.i_mode)) {
		c->rep->others++;
	} else {
		problem(c, "inode %u has invalid mode 0%o", ino, in.i_mode);
		return 0;
	}
	check_blocks(c, ino, &in);
	return 0;
}

static int dir_cb(ext2_ino_t dir, int entry, struct ext2_dir_entry *de, int offset,
		  int blocksize, char *buf, void *priv)
{
	(void)dir;
	(void)entry;
	(void)offset;
	(void)blocksize;
	(void)buf;
	struct dir_walk *w = priv;
	struct ck *c = w->c;
	if (!de->inode)
		return 0;
	int nl = ext2fs_dirent_name_len(de);
	if (de->inode > c->fs->super->s_inodes_count ||
	    (de->inode < EXT2_FIRST_INODE(c->fs->super) && de->inode != EXT2_ROOT_INO)) {
		problem(c, "directory %u: entry points to invalid inode %u", w->dir, de->inode);
		return 0;
	}
	if (nl <= 0 || memchr(de->name, '/', (size_t)nl) || memchr(de->name, '\0', (size_t)nl))
		problem(c, "directory %u: entry with an invalid name", w->dir);
	c->refs[de->inode]++;
	bool dot = (nl == 1 && de->name[0] == '.') || (nl == 2 && de->name[0] == '.' && de->name[1] == '.');
	if (!dot && visit(c, de->inode) < 0) {
		c->fatal = -ENOMEM;
		return DIRENT_ABORT;
	}
	return 0;
}

static int meta_pass(struct vol *v, struct vol_check_report *rep)
{
	ext2_filsys fs = vol_fs(v);
	struct ck c = { .fs = fs, .rep = rep };
	uint32_t ninodes = fs->super->s_inodes_count;
	if (ninodes > CHECK_MAX_INODES) {
		cc_log(CC_LOG_ERROR, VOL_LOG, "check: %u inodes, above the %u limit", ninodes,
		       CHECK_MAX_INODES);
		return VOL_E_TOO_LARGE;
	}
	errcode_t e = ext2fs_read_bitmaps(fs);
	if (e)
		return vol_ext2_err(e, "check: bitmaps");
	c.refs = calloc((size_t)ninodes + 1, sizeof(uint32_t));
	c.reached = calloc((size_t)ninodes + 1, 1);
	e = ext2fs_allocate_block_bitmap(fs, "seen", &c.seen_blocks);
	int r = 0;
	if (!c.refs || !c.reached || e) {
		r = -ENOMEM;
		goto out;
	}
	/* Filesystem metadata: group bitmaps and inode tables. */
	for (dgrp_t g = 0; g < fs->group_desc_count; g++) {
		blk64_t bb = ext2fs_block_bitmap_loc(fs, g), ib = ext2fs_inode_bitmap_loc(fs, g);
		blk64_t it = ext2fs_inode_table_loc(fs, g);
		uint64_t total = ext2fs_blocks_count(fs->super);
		if (bb >= total || ib >= total || it + fs->inode_blocks_per_group > total || it == 0) {
			problem(&c, "group %u: metadata outside the filesystem", g);
			continue;
		}
		c.cur = 0;
		blk_cb(fs, &bb, BLOCK_COUNT_IND, 0, 0, &c);
		blk_cb(fs, &ib, BLOCK_COUNT_IND, 0, 0, &c);
		for (blk64_t b = it; b < it + fs->inode_blocks_per_group; b++) {
			blk64_t x = b;
			blk_cb(fs, &x, BLOCK_COUNT_IND, 0, 0, &c);
		}
	}
	/* Reserved inodes other than the root and the resize inode (whose
	 * "blocks" are the reserved descriptor areas). */
	for (ext2_ino_t i = 1; i < EXT2_FIRST_INODE(fs->super) && i <= ninodes; i++) {
		if (i == EXT2_ROOT_INO || i == EXT2_RESIZE_INO)
			continue;
		struct ext2_inode_large in;
		memset(&in, 0, sizeof(in));
		if (ext2fs_read_inode_full(fs, i, (struct ext2_inode *)&in, sizeof(in)))
			continue;
		if (in.i_mode || in.i_blocks) {
			c.reached[i] = 1;
			check_blocks(&c, i, &in);
		}
	}
	c.refs[EXT2_ROOT_INO]++; /* the root is its own anchor */
	c.reached[EXT2_ROOT_INO] = 0;
	r = visit(&c, EXT2_ROOT_INO);
	while (!r && c.sp) {
		ext2_ino_t d = c.stack[--c.sp];
		struct dir_walk w = { &c, d };
		e = ext2fs_dir_iterate2(fs, d, DIRENT_FLAG_INCLUDE_EMPTY, NULL, dir_cb, &w);
		if (c.fatal)
			r = c.fatal;
		else if (e)
			problem(&c, "directory %u unreadable (%ld)", d, (long)e);
	}
	if (r)
		goto out;
	/* Link counts and unreachable inodes. */
	for (ext2_ino_t i = EXT2_ROOT_INO; i <= ninodes; i++) {
		if (i != EXT2_ROOT_INO && i < EXT2_FIRST_INODE(fs->super))
			continue;
		bool used = ext2fs_test_inode_bitmap2(fs->inode_map, i);
		if (c.reached[i]) {
			struct ext2_inode in;
			if (ext2fs_read_inode(fs, i, &in) == 0) {
				uint32_t want = c.refs[i];
				if (i == EXT2_ROOT_INO)
					want--; /* the anchor reference above */
				bool ok = in.i_links_count == want ||
					  (LINUX_S_ISDIR(in.i_mode) && in.i_links_count == 1 && want >= EXT2_LINK_MAX);
				if (!ok)
					problem(&c, "inode %u: link count %u, %u references", i,
						in.i_links_count, want);
			}
		} else if (used) {
			problem(&c, "inode %u in use but not reachable from the root", i);
		}
	}
	/* Group summaries against the bitmaps. */
	for (dgrp_t g = 0; g < fs->group_desc_count; g++) {
		uint64_t first = ext2fs_group_first_block2(fs, g), last = ext2fs_group_last_block2(fs, g);
		uint64_t freeb = 0;
		for (uint64_t b = first; b <= last; b++)
			if (!ext2fs_test_block_bitmap2(fs->block_map, b))
				freeb++;
		if (!(ext2fs_bg_flags_test(fs, g, EXT2_BG_BLOCK_UNINIT)) &&
		    freeb != ext2fs_bg_free_blocks_count(fs, g))
			problem(&c, "group %u: %llu free blocks in the bitmap, %u in the descriptor", g,
				(unsigned long long)freeb, ext2fs_bg_free_blocks_count(fs, g));
		uint32_t freei = 0;
		for (uint32_t k = 0; k < fs->super->s_inodes_per_group; k++) {
			ext2_ino_t ino = g * fs->super->s_inodes_per_group + k + 1;
			if (ino <= ninodes && !ext2fs_test_inode_bitmap2(fs->inode_map, ino))
				freei++;
		}
		if (freei != ext2fs_bg_free_inodes_count(fs, g))
			problem(&c, "group %u: %u free inodes in the bitmap, %u in the descriptor", g,
				freei, ext2fs_bg_free_inodes_count(fs, g));
	}
out:
	if (c.seen_blocks)
		ext2fs_free_block_bitmap(c.seen_blocks);
	free(c.refs);
	free(c.reached);
	free(c.stack);
	return r;
}

/* ---- pass 6: read every file through the public read path ---- */

struct rd {
	char **names;
	uint32_t *inos;
	size_t n, cap;
};

static int rd_add(void *ud, const char *name, uint32_t ino, enum vol_ftype t)
{
	(void)t;
	struct rd *l = ud;
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 32, b1, b2;
		if (nc > (16u << 20) || !cc_mul_ok(nc, sizeof(char *), &b1) ||
		    !cc_mul_ok(nc, sizeof(uint32_t), &b2))
			return VOL_E_TOO_LARGE;
		char **a = realloc(l->names, b1);
		if (!a)
			return -ENOMEM;
		l->names = a;
		uint32_t *b = realloc(l->inos, b2);
		if (!b)
			return -ENOMEM;
		l->inos = b;
		l->cap = nc;
	}
	if (!(l->names[l->n] = strdup(name)))
		return -ENOMEM;
	l->inos[l->n++] = ino;
	return 0;
}

static int read_tree(struct vol *v, char *path, size_t cap, unsigned depth, uint8_t *buf,
		     uint8_t *seen, uint32_t nseen, struct vol_check_report *rep)
{
	if (depth > 512)
		return VOL_E_FS_CORRUPT;
	struct rd l = { 0 };
	int r = vol_readdir(v, path, rd_add, &l);
	size_t base = strlen(path);
	for (size_t i = 0; i < l.n && r == 0; i++) {
		int n = snprintf(path + base, cap - base, "%s%s", base > 1 ? "/" : "", l.names[i]);
		if (n < 0 || (size_t)n >= cap - base) {
			r = -ENAMETOOLONG;
			break;
		}
		struct vol_stat st;
		r = vol_lstat_ino(v, l.inos[i], &st);
		if (r == -ENOENT) {
			/* The entry names an unused inode: reported by the
			 * metadata pass; keep going. */
			rep->problems++;
			r = 0;
			path[base] = '\0';
			continue;
		}
		if (!r && st.type == VOL_FT_DIR) {
			/* A directory reachable twice is a loop (directories
			 * cannot be hard-linked): report, do not descend. */
			if (st.ino > nseen || seen[st.ino]) {
				rep->problems++;
				cc_log(CC_LOG_ERROR, VOL_LOG, "check: directory inode %u reached twice (loop)", st.ino);
			} else {
				seen[st.ino] = 1;
				r = read_tree(v, path, cap, depth + 1, buf, seen, nseen, rep);
			}
		} else if (!r && st.type == VOL_FT_REG) {
			struct vol_file *f = NULL;
			r = vol_file_open_ino(v, st.ino, &f);
			uint64_t off = 0;
			while (!r && off < vol_file_size(f)) {
				long long k = vol_file_pread(f, buf, VOL_WBUF, off);
				if (k <= 0)
					r = k < 0 ? (int)k : -EIO;
				else
					off += (uint64_t)k;
			}
			if (f)
				vol_file_close(f);
			if (r == 0)
				rep->bytes += off;
			if (r < 0 && r != -ENOMEM) {
				rep->problems++;
				cc_log(CC_LOG_ERROR, VOL_LOG, "check: cannot read \"%s\": %s", path,
				       vol_strerror(r));
				r = 0;
			}
		} else if (!r && st.type == VOL_FT_SYMLINK) {
			char *t;
			size_t tl;
			if (vol_readlink_ino(v, st.ino, &t, &tl) == 0)
				free(t);
			else
				rep->problems++;
		}
		path[base] = '\0';
	}
	path[base] = '\0';
	for (size_t i = 0; i < l.n; i++)
		free(l.names[i]);
	free(l.names);
	free(l.inos);
	return r;
}

int vol_check(struct vol *v, struct vol_check_report *ret)
{
	if (!v || !ret)
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	pthread_mutex_lock(vol_lock(v));
	int r = meta_pass(v, ret);
	pthread_mutex_unlock(vol_lock(v));
	if (r < 0 && r != VOL_E_FS_CORRUPT)
		return r;
	if (r == VOL_E_FS_CORRUPT)
		ret->problems++;
	struct vol_info info;
	vol_get_info(v, &info);
	uint8_t *buf = malloc(VOL_WBUF);
	char *path = malloc(VOL_PATH_MAX + 1);
	uint8_t *seen = calloc((size_t)info.fs_inodes + 1, 1);
	if (!buf || !path || !seen) {
		free(buf);
		free(path);
		free(seen);
		return -ENOMEM;
	}
	snprintf(path, VOL_PATH_MAX + 1, "/");
	seen[EXT2_ROOT_INO] = 1;
	int r2 = read_tree(v, path, VOL_PATH_MAX + 1, 0, buf, seen, info.fs_inodes, ret);
	free(buf);
	free(path);
	free(seen);
	if (r2 < 0) {
		if (r2 == -ENOMEM)
			return r2;
		ret->problems++;
		cc_log(CC_LOG_ERROR, VOL_LOG, "check: tree walk failed: %s", vol_strerror(r2));
	}
	return ret->problems ? VOL_E_FS_CORRUPT : 0;
}
