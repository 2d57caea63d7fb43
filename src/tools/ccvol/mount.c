/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ccvol mount: the volume as a read-only FUSE filesystem.  The volume is
 * unlocked before mounting (so a passphrase prompt happens in the
 * foreground); reads go through the same library path as the server's.
 * Unmounting (fusermount3 -u) or SIGINT/SIGTERM/SIGHUP ends the process
 * cleanly, wiping the volume key.
 */
#define FUSE_USE_VERSION 31
#include "ccvol.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fuse.h>

static struct vol *g_vol;

static void fill_stat(const struct vol_stat *vs, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = vs->ino;
	st->st_mode = vs->mode;
	st->st_nlink = vs->nlink;
	st->st_uid = vs->uid;
	st->st_gid = vs->gid;
	st->st_size = (off_t)vs->size;
	st->st_blocks = (blkcnt_t)((vs->size + 511) / 512);
	st->st_blksize = 4096;
	st->st_atim.tv_sec = (time_t)vs->atime;
	st->st_mtim.tv_sec = (time_t)vs->mtime;
	st->st_mtim.tv_nsec = (long)vs->mtime_nsec;
	st->st_ctim.tv_sec = (time_t)vs->ctime;
}

/* Library errors become errno values for the kernel. */
static int to_errno(int r)
{
	if (r > -1000)
		return r;
	return r == VOL_E_UNSAFE_PATH ? -EPERM : -EIO;
}

static int fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	(void)fi;
	struct vol_stat vs;
	int r = vol_lstat(g_vol, path, &vs);
	if (r < 0)
		return to_errno(r);
	fill_stat(&vs, st);
	return 0;
}

static int fs_readlink(const char *path, char *buf, size_t size)
{
	char *t;
	size_t tl;
	if (size == 0)
		return -EINVAL;
	int r = vol_readlink(g_vol, path, &t, &tl);
	if (r < 0)
		return to_errno(r);
	size_t n = tl < size - 1 ? tl : size - 1;
	memcpy(buf, t, n);
	buf[n] = '\0';
	free(t);
	return 0;
}

struct fill {
	void *buf;
	fuse_fill_dir_t filler;
};

static int fill_cb(void *ud, const char *name, uint32_t ino, enum vol_ftype t)
{
	(void)ino;
	(void)t;
	struct fill *f = ud;
	return f->filler(f->buf, name, NULL, 0, 0) ? -ENOMEM : 0;
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	(void)off;
	(void)fi;
	(void)flags;
	filler(buf, ".", NULL, 0, 0);
	filler(buf, "..", NULL, 0, 0);
	struct fill f = { buf, filler };
	int r = vol_readdir(g_vol, path, fill_cb, &f);
	return r < 0 ? to_errno(r) : 0;
}

static int fs_open(const char *path, struct fuse_file_info *fi)
{
	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return -EROFS;
	struct vol_file *f;
	int r = vol_file_open(g_vol, path, &f);
	if (r < 0)
		return to_errno(r);
	fi->fh = (uint64_t)(uintptr_t)f;
	fi->keep_cache = 1;
	return 0;
}

static int fs_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)path;
	struct vol_file *f = (struct vol_file *)(uintptr_t)fi->fh;
	if (off < 0)
		return -EINVAL;
	long long n = vol_file_pread(f, buf, size, (uint64_t)off);
	return n < 0 ? to_errno((int)n) : (int)n;
}

static int fs_release(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	vol_file_close((struct vol_file *)(uintptr_t)fi->fh);
	return 0;
}

static int fs_statfs(const char *path, struct statvfs *sv)
{
	(void)path;
	struct vol_info in;
	memset(sv, 0, sizeof(*sv));
	if (vol_get_info(g_vol, &in) == 0) {
		sv->f_bsize = sv->f_frsize = in.fs_block_size;
		sv->f_blocks = in.fs_blocks;
		sv->f_bfree = sv->f_bavail = in.fs_free_blocks;
		sv->f_files = in.fs_inodes;
		sv->f_ffree = sv->f_favail = in.fs_free_inodes;
	}
	sv->f_namemax = VOL_NAME_MAX;
	sv->f_flag = ST_RDONLY;
	return 0;
}

static void *fs_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	(void)conn;
	cfg->use_ino = 1;
	cfg->kernel_cache = 1;
	cfg->entry_timeout = cfg->attr_timeout = 3600;
	return NULL;
}

static const struct fuse_operations ops = {
	.init = fs_init,
	.getattr = fs_getattr,
	.readlink = fs_readlink,
	.readdir = fs_readdir,
	.open = fs_open,
	.read = fs_read,
	.release = fs_release,
	.statfs = fs_statfs,
};

static const char mount_help[] =
	"Usage: ccvol mount [key options] [-f] [-o OPTS] IMG MOUNTPOINT\n"
	"Mount the volume read-only with FUSE.  The key is asked/read before\n"
	"mounting.  Unmount with 'fusermount3 -u MOUNTPOINT' or stop the process\n"
	"(SIGINT/SIGTERM/SIGHUP); either ends it cleanly and wipes the key.\n"
	"  -f, --foreground   stay in the foreground (default: detach once mounted)\n"
	"  -o OPTS            extra FUSE mount options (e.g. allow_other)\n"
	"  --key-file / --passphrase-file / --volume-key-file FILE, --key-slot N\n";

int cmd_mount(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "key-file", required_argument, NULL, 1000 },
		{ "passphrase-file", required_argument, NULL, 1001 },
		{ "volume-key-file", required_argument, NULL, 1002 },
		{ "key-slot", required_argument, NULL, 1003 },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct key_opts ko = { .keyslot = -1 };
	bool fg = false;
	const char *extra = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "fo:", lo, NULL)) != -1) {
		switch (c) {
		case 'f':
			fg = true;
			break;
		case 'o':
			extra = optarg;
			break;
		case 1000:
			ko.key_file = optarg;
			break;
		case 1001:
			ko.passphrase_file = optarg;
			break;
		case 1002:
			ko.volume_key_file = optarg;
			break;
		case 1003: {
			uint64_t v;
			if (cc_parse_u64(optarg, &v) < 0 || v > 31) {
				die_msg(0, "bad --key-slot \"%s\"", optarg);
				return EX_USAGE;
			}
			ko.keyslot = (int)v;
			break;
		}
		case 'h':
			fputs(mount_help, stdout);
			return EX_OK;
		default:
			fprintf(stderr, "Try 'ccvol mount --help'.\n");
			return EX_USAGE;
		}
	}
	if (argc - optind != 2) {
		die_msg(0, "mount needs IMG and MOUNTPOINT");
		return EX_USAGE;
	}
	const char *img = argv[optind], *mnt = argv[optind + 1];
	struct stat st;
	if (stat(mnt, &st) < 0 || !S_ISDIR(st.st_mode)) {
		die_msg(0, "mount point \"%s\" is not a directory", mnt);
		return EX_USAGE;
	}
	int ex = ccvol_unlock(img, &ko, &g_vol);
	if (ex)
		return ex;

	char opts[512];
	snprintf(opts, sizeof(opts), "ro,default_permissions,fsname=ccvol,subtype=ccvol%s%s",
		 extra ? "," : "", extra ? extra : "");
	char *fargv[] = { (char *)"ccvol", (char *)"-o", opts, NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, fargv);
	struct fuse *f = fuse_new(&args, &ops, sizeof(ops), NULL);
	int rc = EX_FAIL;
	if (!f) {
		die_msg(0, "cannot set up FUSE (bad -o options?)");
		goto out;
	}
	if (fuse_mount(f, mnt) != 0) {
		die_msg(0, "cannot mount on \"%s\" (is /dev/fuse available?)", mnt);
		fuse_destroy(f);
		goto out;
	}
	if (fuse_daemonize(fg ? 1 : 0) != 0 || fuse_set_signal_handlers(fuse_get_session(f)) != 0) {
		fuse_unmount(f);
		fuse_destroy(f);
		goto out;
	}
	int r = fuse_loop_mt(f, 0);
	fuse_remove_signal_handlers(fuse_get_session(f));
	fuse_unmount(f);
	fuse_destroy(f);
	/* A signal ends the loop with a non-zero status; that is a clean stop. */
	rc = r < 0 ? EX_FAIL : EX_OK;
out:
	fuse_opt_free_args(&args);
	vol_close(g_vol);
	g_vol = NULL;
	return rc;
}
