/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ccvol: create, inspect, unlock and read encrypted model volumes (LUKS2 +
 * ext4) in userspace.  See docs/ccvol.md.
 */
#include "ccvol.h"
#include "ccserve-config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

static const char *prog = "ccvol";

void die_msg(int err, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (err)
		fprintf(stderr, "%s: %s: %s\n", prog, msg, vol_strerror(err));
	else
		fprintf(stderr, "%s: %s\n", prog, msg);
}

int ccvol_exit_code(int err)
{
	switch (err) {
	case 0:
		return EX_OK;
	case VOL_E_BAD_KEY:
		return EX_BADKEY;
	case VOL_E_NOT_LUKS:
		return EX_NOTLUKS;
	case VOL_E_TRUNCATED:
		return EX_TRUNCATED;
	case VOL_E_HEADER_CORRUPT:
		return EX_HDRCORRUPT;
	case VOL_E_UNSUPPORTED:
		return EX_UNSUPPORTED;
	case VOL_E_FS_CORRUPT:
	case VOL_E_NOT_EXT4:
	case VOL_E_FS_FEATURE:
		return EX_FSCORRUPT;
	case VOL_E_UNSAFE_PATH:
		return EX_UNSAFE;
	case -EEXIST:
	case -ENOTEMPTY:
		return EX_EXISTS;
	case -ENOSPC:
	case -EFBIG:
	case -EDQUOT:
	case VOL_E_TOO_LARGE:
		return EX_NOSPACE;
	case VOL_E_NO_KEYSLOT:
	case VOL_E_LAST_KEYSLOT:
		return EX_KEYSLOT;
	case -EINVAL:
		return EX_USAGE;
	default:
		return EX_FAIL;
	}
}

/* ------------------------------------------------------------------------ */
/* Keys                                                                     */

struct secret {
	uint8_t *p; /* secure memory */
	size_t len;
};

static void secret_free(struct secret *s)
{
	cc_secure_free(s->p);
	s->p = NULL;
	s->len = 0;
}

/* While echo is off, a signal must not leave the terminal silent. */
static volatile sig_atomic_t tty_saved;
static int tty_fd = -1;
static struct termios tty_old;

static void tty_signal(int sig)
{
	if (tty_saved)
		tcsetattr(tty_fd, TCSANOW, &tty_old);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Prompt on the controlling terminal with echo off. */
static int tty_read(const char *prompt, struct secret *out)
{
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 || !isatty(fd)) {
		if (fd >= 0)
			close(fd);
		return -ENOTTY;
	}
	struct termios old, noecho;
	if (tcgetattr(fd, &old) < 0) {
		close(fd);
		return -ENOTTY;
	}
	noecho = old;
	noecho.c_lflag &= (tcflag_t)~(ECHO | ECHONL);
	noecho.c_lflag |= ICANON;
	/* Echo off before the prompt, so nothing typed after it is lost. */
	tty_fd = fd;
	tty_old = old;
	tty_saved = 1;
	struct sigaction sa = { .sa_handler = tty_signal }, oint, oterm, ohup;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &oint);
	sigaction(SIGTERM, &sa, &oterm);
	sigaction(SIGHUP, &sa, &ohup);
	tcsetattr(fd, TCSAFLUSH, &noecho);
	if (write(fd, prompt, strlen(prompt)) < 0) {
		tcsetattr(fd, TCSAFLUSH, &old);
		tty_saved = 0;
		sigaction(SIGINT, &oint, NULL);
		sigaction(SIGTERM, &oterm, NULL);
		sigaction(SIGHUP, &ohup, NULL);
		close(fd);
		return -EIO;
	}
	uint8_t *buf = cc_secure_alloc(VOL_PASSPHRASE_MAX + 1);
	size_t n = 0;
	int r = 0;
	if (!buf)
		r = -ENOMEM;
	while (!r) {
		char ch;
		ssize_t k = read(fd, &ch, 1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0 || ch == '\n' || ch == '\r')
			break;
		if (n >= VOL_PASSPHRASE_MAX) {
			r = -E2BIG;
			continue;
		}
		buf[n++] = (uint8_t)ch;
		ch = 0;
	}
	tcsetattr(fd, TCSAFLUSH, &old);
	tty_saved = 0;
	sigaction(SIGINT, &oint, NULL);
	sigaction(SIGTERM, &oterm, NULL);
	sigaction(SIGHUP, &ohup, NULL);
	if (write(fd, "\n", 1) < 0) {
		/* nothing to do */
	}
	close(fd);
	if (r) {
		cc_secure_free(buf);
		return r;
	}
	out->p = buf;
	out->len = n;
	return 0;
}

static int ask_passphrase(const char *what, bool confirm, struct secret *out)
{
	char prompt[256];
	snprintf(prompt, sizeof(prompt), "Enter passphrase for %s: ", what);
	int r = tty_read(prompt, out);
	if (r == -ENOTTY) {
		die_msg(0, "no key given: use --key-file, --passphrase-file or run on a terminal");
		return EX_USAGE;
	}
	if (r == -E2BIG) {
		die_msg(0, "passphrase longer than %u bytes", VOL_PASSPHRASE_MAX);
		return EX_USAGE;
	}
	if (r < 0) {
		die_msg(r, "reading the passphrase");
		return EX_FAIL;
	}
	if (out->len == 0) {
		secret_free(out);
		die_msg(0, "empty passphrase");
		return EX_USAGE;
	}
	if (confirm) {
		struct secret again = { 0 };
		r = tty_read("Verify passphrase: ", &again);
		bool same = r == 0 && again.len == out->len && cc_ct_equal(again.p, out->p, out->len);
		secret_free(&again);
		if (!same) {
			secret_free(out);
			die_msg(0, "passphrases do not match");
			return EX_USAGE;
		}
	}
	return EX_OK;
}

static int read_secret_file(const char *path, bool passphrase, struct secret *out)
{
	uint8_t *p = NULL;
	size_t n = 0;
	int r = cc_file_read(path, VOL_KEY_FILE_MAX, true, &p, &n);
	if (r < 0) {
		die_msg(r, "cannot read key file \"%s\"", path);
		return r == CC_E_TOOBIG ? EX_USAGE : EX_FAIL;
	}
	if (passphrase) {
		/* A passphrase file holds one line: what a terminal would
		 * have given, without the newline. */
		uint8_t *nl = memchr(p, '\n', n);
		if (nl)
			n = (size_t)(nl - p);
		if (n && p[n - 1] == '\r')
			n--;
		if (n > VOL_PASSPHRASE_MAX) {
			cc_secure_free(p);
			die_msg(0, "passphrase in \"%s\" longer than %u bytes", path, VOL_PASSPHRASE_MAX);
			return EX_USAGE;
		}
	}
	if (n == 0) {
		cc_secure_free(p);
		die_msg(0, "key file \"%s\" is empty", path);
		return EX_USAGE;
	}
	out->p = p;
	out->len = n;
	return EX_OK;
}

/* Passphrase/key for unlocking (or for a new keyslot when confirm). */
static int get_pass(const struct key_opts *ko, const char *what, bool confirm,
		    struct secret *out)
{
	if (ko->key_file)
		return read_secret_file(ko->key_file, false, out);
	if (ko->passphrase_file)
		return read_secret_file(ko->passphrase_file, true, out);
	return ask_passphrase(what, confirm, out);
}

int ccvol_unlock(const char *image, const struct key_opts *ko, struct vol **ret)
{
	struct secret s = { 0 };
	int ex;
	int n = !!ko->key_file + !!ko->passphrase_file + !!ko->volume_key_file;
	if (n > 1) {
		die_msg(0, "give only one of --key-file, --passphrase-file, --volume-key-file");
		return EX_USAGE;
	}
	struct vol_open_opts oo = { .keyslot_set = ko->keyslot >= 0, .keyslot = ko->keyslot };
	int r;
	if (ko->volume_key_file) {
		ex = read_secret_file(ko->volume_key_file, false, &s);
		if (ex)
			return ex;
		r = vol_open_volume_key(image, s.p, s.len, &oo, ret);
	} else {
		ex = get_pass(ko, image, false, &s);
		if (ex)
			return ex;
		r = vol_open_passphrase(image, s.p, s.len, &oo, ret);
	}
	secret_free(&s);
	if (r < 0) {
		die_msg(r, "cannot unlock \"%s\"", image);
		return ccvol_exit_code(r);
	}
	return EX_OK;
}

/* ------------------------------------------------------------------------ */
/* Option helpers                                                           */

enum {
	OPT_KEY_FILE = 1000,
	OPT_PASS_FILE,
	OPT_VK_FILE,
	OPT_KEY_SLOT,
	OPT_NEW_KEY_FILE,
	OPT_NEW_PASS_FILE,
	OPT_PBKDF,
	OPT_ITER_TIME,
	OPT_FORCE_ITER,
	OPT_PBKDF_MEM,
	OPT_PBKDF_PAR,
	OPT_SECTOR,
	OPT_LABEL,
	OPT_NO_PROGRESS,
	OPT_HELP,
};

#define KEY_LONGOPTS                                                           \
	{ "key-file", required_argument, NULL, OPT_KEY_FILE },                 \
	{ "passphrase-file", required_argument, NULL, OPT_PASS_FILE },         \
	{ "volume-key-file", required_argument, NULL, OPT_VK_FILE },           \
	{ "key-slot", required_argument, NULL, OPT_KEY_SLOT },                 \
	{ "help", no_argument, NULL, OPT_HELP }

#define KEY_HELP                                                               \
	"  --key-file FILE          unlock with the raw bytes of FILE (like cryptsetup --key-file)\n" \
	"  --passphrase-file FILE   unlock with the first line of FILE (newline stripped)\n" \
	"  --volume-key-file FILE   unlock with the raw volume key in FILE (64 bytes)\n" \
	"  --key-slot N             only try keyslot N\n"                   \
	"  Without a key option the passphrase is asked on the terminal.\n"

static int parse_u64_suffix(const char *s, uint64_t *ret)
{
	char num[32];
	size_t n = strlen(s);
	if (n == 0 || n >= sizeof(num))
		return -EINVAL;
	memcpy(num, s, n + 1);
	uint64_t mul = 1;
	char last = num[n - 1];
	if (last == 'K' || last == 'k')
		mul = 1024;
	else if (last == 'M' || last == 'm')
		mul = 1024 * 1024;
	else if (last == 'G' || last == 'g')
		mul = 1024ull * 1024 * 1024;
	else if (last == 'T' || last == 't')
		mul = 1024ull * 1024 * 1024 * 1024;
	if (mul != 1)
		num[n - 1] = '\0';
	uint64_t v;
	if (cc_parse_u64(num, &v) < 0 || __builtin_mul_overflow(v, mul, ret))
		return -EINVAL;
	return 0;
}

static int parse_u32(const char *s, uint32_t *ret)
{
	uint64_t v;
	if (cc_parse_u64(s, &v) < 0 || v > UINT32_MAX)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

static bool key_opt(int c, const char *arg, struct key_opts *ko, int *ex)
{
	switch (c) {
	case OPT_KEY_FILE:
		ko->key_file = arg;
		return true;
	case OPT_PASS_FILE:
		ko->passphrase_file = arg;
		return true;
	case OPT_VK_FILE:
		ko->volume_key_file = arg;
		return true;
	case OPT_KEY_SLOT: {
		uint32_t v = 0;
		if (parse_u32(arg, &v) < 0 || v > 31) {
			die_msg(0, "bad --key-slot \"%s\"", arg);
			*ex = EX_USAGE;
		}
		ko->keyslot = (int)v;
		return true;
	}
	default:
		return false;
	}
}

static int usage_err(const char *cmd)
{
	fprintf(stderr, "Try '%s %s --help'.\n", prog, cmd);
	return EX_USAGE;
}

/* ------------------------------------------------------------------------ */
/* create                                                                   */

struct progress {
	bool on;
	uint64_t last_ns;
	int last_pct;
};

static void progress_cb(void *ud, uint64_t done, uint64_t total)
{
	struct progress *p = ud;
	if (!p->on || total == 0)
		return;
	uint64_t now = cc_mono_ns();
	int pct = (int)(done * 100 / total);
	if (pct == p->last_pct || (now - p->last_ns < 100000000ull && pct != 100))
		return;
	p->last_ns = now;
	p->last_pct = pct;
	char bar[41];
	int fill = pct * 40 / 100;
	for (int i = 0; i < 40; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[40] = '\0';
	fprintf(stderr, "\r[%s] %3d%%  %" PRIu64 " / %" PRIu64 " MiB", bar, pct, done >> 20, total >> 20);
	if (pct == 100)
		fputc('\n', stderr);
	fflush(stderr);
}

static const char create_help[] =
	"Usage: ccvol create --from DIR --out IMG [options]\n"
	"Build an encrypted volume (LUKS2, aes-xts-plain64, ext4 inside) holding a copy\n"
	"of DIR (files, directories, symlinks, modes, owners, mtimes).\n"
	"  --from DIR               source tree\n"
	"  --out IMG                image to create (must not exist)\n"
	"  --size BYTES             image size (suffix K/M/G/T); default: sized to fit\n"
	"  --label NAME             LUKS and ext4 label (up to 16 bytes)\n"
	"  --key-file FILE          protect with the raw bytes of FILE\n"
	"  --passphrase-file FILE   protect with the first line of FILE\n"
	"  (neither: the passphrase is asked twice on the terminal)\n"
	"  --pbkdf argon2id|argon2i|pbkdf2   keyslot KDF (default argon2id)\n"
	"  --iter-time MS           KDF time cost in milliseconds (benchmarked)\n"
	"  --pbkdf-force-iterations N  fixed iterations (pbkdf2) or time cost (argon2)\n"
	"  --pbkdf-memory KIB       argon2 memory cost\n"
	"  --pbkdf-parallel N       argon2 threads\n"
	"  --sector-size N          encryption sector size (512..4096, default 4096)\n"
	"  --no-progress            no progress bar on a terminal\n";

static int parse_kdf(const char *s, enum vol_kdf *ret)
{
	if (!strcmp(s, "argon2id"))
		*ret = VOL_KDF_ARGON2ID;
	else if (!strcmp(s, "argon2i"))
		*ret = VOL_KDF_ARGON2I;
	else if (!strcmp(s, "pbkdf2"))
		*ret = VOL_KDF_PBKDF2;
	else
		return -EINVAL;
	return 0;
}

/* Shared by create and add-key: returns true if c was a KDF option. */
static bool kdf_opt(int c, const char *arg, struct vol_kdf_params *k, int *ex)
{
	int r = 0;
	switch (c) {
	case OPT_PBKDF:
		r = parse_kdf(arg, &k->type);
		break;
	case OPT_ITER_TIME:
		r = parse_u32(arg, &k->iter_time_ms);
		break;
	case OPT_FORCE_ITER:
		r = parse_u32(arg, &k->iterations);
		break;
	case OPT_PBKDF_MEM:
		r = parse_u32(arg, &k->memory_kib);
		break;
	case OPT_PBKDF_PAR:
		r = parse_u32(arg, &k->parallel);
		break;
	default:
		return false;
	}
	if (r < 0) {
		die_msg(0, "bad KDF option value \"%s\"", arg);
		*ex = EX_USAGE;
	}
	return true;
}

#define KDF_LONGOPTS                                                           \
	{ "pbkdf", required_argument, NULL, OPT_PBKDF },                       \
	{ "iter-time", required_argument, NULL, OPT_ITER_TIME },               \
	{ "pbkdf-force-iterations", required_argument, NULL, OPT_FORCE_ITER }, \
	{ "pbkdf-memory", required_argument, NULL, OPT_PBKDF_MEM },            \
	{ "pbkdf-parallel", required_argument, NULL, OPT_PBKDF_PAR }

static int cmd_create(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "from", required_argument, NULL, 'f' },
		{ "out", required_argument, NULL, 'o' },
		{ "size", required_argument, NULL, 's' },
		{ "label", required_argument, NULL, OPT_LABEL },
		{ "sector-size", required_argument, NULL, OPT_SECTOR },
		{ "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
		KDF_LONGOPTS,
		KEY_LONGOPTS,
		{ 0 },
	};
	struct vol_create_opts o = { 0 };
	struct key_opts ko = { .keyslot = -1 };
	bool no_progress = false;
	int c, ex = 0;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (key_opt(c, optarg, &ko, &ex) || kdf_opt(c, optarg, &o.kdf, &ex)) {
			if (ex)
				return ex;
			continue;
		}
		switch (c) {
		case 'f':
			o.from_dir = optarg;
			break;
		case 'o':
			o.out = optarg;
			break;
		case 's':
			if (parse_u64_suffix(optarg, &o.size) < 0) {
				die_msg(0, "bad --size \"%s\"", optarg);
				return EX_USAGE;
			}
			break;
		case OPT_LABEL:
			o.label = optarg;
			break;
		case OPT_SECTOR:
			if (parse_u32(optarg, &o.sector_size) < 0) {
				die_msg(0, "bad --sector-size \"%s\"", optarg);
				return EX_USAGE;
			}
			break;
		case OPT_NO_PROGRESS:
			no_progress = true;
			break;
		case OPT_HELP:
			fputs(create_help, stdout);
			return EX_OK;
		default:
			return usage_err("create");
		}
	}
	if (!o.from_dir || !o.out || optind != argc) {
		die_msg(0, "create needs --from DIR and --out IMG");
		return usage_err("create");
	}
	if (ko.volume_key_file) {
		die_msg(0, "create makes a new volume key; use --key-file or --passphrase-file");
		return EX_USAGE;
	}
	struct stat st;
	if (lstat(o.out, &st) == 0) {
		die_msg(0, "output \"%s\" already exists", o.out);
		return EX_EXISTS;
	}
	struct secret s = { 0 };
	ex = get_pass(&ko, o.out, true, &s);
	if (ex)
		return ex;
	struct progress p = { .on = !no_progress && isatty(STDERR_FILENO), .last_pct = -1 };
	o.progress = progress_cb;
	o.progress_userdata = &p;
	/* A file size limit must surface as EFBIG, not kill us mid-write. */
	signal(SIGXFSZ, SIG_IGN);
	int r = vol_create(&o, s.p, s.len);
	secret_free(&s);
	if (r < 0) {
		if (p.on && p.last_pct >= 0 && p.last_pct < 100)
			fputc('\n', stderr);
		die_msg(r, "cannot create \"%s\"", o.out);
		return ccvol_exit_code(r);
	}
	return EX_OK;
}

/* ------------------------------------------------------------------------ */
/* Read commands                                                            */

struct entry {
	char *name;
	uint32_t ino;
	enum vol_ftype type;
};

struct names {
	struct entry *e;
	size_t n, cap;
};

static int names_add(void *ud, const char *name, uint32_t ino, enum vol_ftype type)
{
	struct names *l = ud;
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 32, bytes;
		if (nc > (16u << 20) || !cc_mul_ok(nc, sizeof(struct entry), &bytes))
			return VOL_E_TOO_LARGE;
		struct entry *ne = realloc(l->e, bytes);
		if (!ne)
			return -ENOMEM;
		l->e = ne;
		l->cap = nc;
	}
	l->e[l->n].name = strdup(name);
	if (!l->e[l->n].name)
		return -ENOMEM;
	l->e[l->n].type = type;
	l->e[l->n].ino = ino;
	l->n++;
	return 0;
}

static void names_free(struct names *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->e[i].name);
	free(l->e);
	memset(l, 0, sizeof(*l));
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

/* Directory inodes already visited: a hostile volume can link a directory
 * into itself, which would make recursive walks loop or explode. */
struct inoset {
	uint32_t *slot;
	size_t cap, n;
};

/* 1 if newly added, 0 if already present, <0 on error. */
static int inoset_add(struct inoset *s, uint32_t ino)
{
	if (ino == 0)
		return -EINVAL;
	if (2 * (s->n + 1) > s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 256, bytes;
		if (!cc_mul_ok(nc, sizeof(uint32_t), &bytes) || nc > (64u << 20))
			return VOL_E_TOO_LARGE;
		uint32_t *ns = calloc(nc, sizeof(uint32_t));
		if (!ns)
			return -ENOMEM;
		for (size_t i = 0; i < s->cap; i++) {
			if (!s->slot[i])
				continue;
			size_t h = (s->slot[i] * 2654435761u) & (nc - 1);
			while (ns[h])
				h = (h + 1) & (nc - 1);
			ns[h] = s->slot[i];
		}
		free(s->slot);
		s->slot = ns;
		s->cap = nc;
	}
	size_t h = (ino * 2654435761u) & (s->cap - 1);
	while (s->slot[h]) {
		if (s->slot[h] == ino)
			return 0;
		h = (h + 1) & (s->cap - 1);
	}
	s->slot[h] = ino;
	s->n++;
	return 1;
}

static int enter_dir(struct inoset *s, struct vol *v, const char *path)
{
	struct vol_stat st;
	int r = vol_lstat(v, path, &st);
	if (r < 0)
		return r;
	r = inoset_add(s, st.ino);
	if (r == 0) {
		fprintf(stderr, "%s: directory \"%s\" is reachable twice (a directory loop)\n", prog, path);
		return VOL_E_FS_CORRUPT;
	}
	return r < 0 ? r : 0;
}

static int join(char *out, size_t outsz, const char *dir, const char *name)
{
	int n = snprintf(out, outsz, "%s%s%s", dir,
			 (dir[0] && dir[strlen(dir) - 1] == '/') ? "" : "/", name);
	return n < 0 || (size_t)n >= outsz ? -ENAMETOOLONG : 0;
}

static void mode_string(uint32_t mode, char out[11])
{
	const char *rwx = "rwxrwxrwx";
	out[0] = (mode & 0170000) == 0040000 ? 'd' : (mode & 0170000) == 0120000 ? 'l' :
		 (mode & 0170000) == 0100000 ? '-' : '?';
	for (int i = 0; i < 9; i++)
		out[1 + i] = (mode & (1u << (8 - i))) ? rwx[i] : '-';
	out[10] = '\0';
}

static int print_long(struct vol *v, const char *path, const char *name)
{
	struct vol_stat st;
	int r = vol_lstat(v, path, &st);
	if (r < 0)
		return r;
	char m[11], tb[32];
	mode_string(st.mode, m);
	time_t t = (time_t)st.mtime;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(tb, sizeof(tb), "%Y-%m-%d %H:%M", &tm);
	printf("%s %3u %5u %5u %12" PRIu64 " %s %s", m, st.nlink, st.uid, st.gid, st.size, tb, name);
	if (st.type == VOL_FT_SYMLINK) {
		char *target;
		size_t tl;
		if (vol_readlink(v, path, &target, &tl) == 0) {
			printf(" -> %s", target);
			free(target);
		}
	}
	putchar('\n');
	return 0;
}

static int ls_dir(struct vol *v, const char *path, bool lng, bool rec, unsigned depth,
		  struct inoset *seen)
{
	struct names l = { 0 };
	int r = rec ? enter_dir(seen, v, path) : 0;
	if (r < 0)
		return r;
	r = vol_readdir(v, path, names_add, &l);
	if (r < 0) {
		names_free(&l);
		return r;
	}
	if (l.n > 1)
		qsort(l.e, l.n, sizeof(*l.e), cmp_entry);
	char full[VOL_PATH_MAX + 1];
	for (size_t i = 0; i < l.n && !r; i++) {
		r = join(full, sizeof(full), path, l.e[i].name);
		if (r)
			break;
		if (lng)
			r = print_long(v, full, rec ? full : l.e[i].name);
		else
			printf("%s\n", rec ? full : l.e[i].name);
	}
	for (size_t i = 0; i < l.n && !r && rec; i++) {
		if (l.e[i].type != VOL_FT_DIR)
			continue;
		if (depth > 256) {
			r = VOL_E_FS_CORRUPT;
			break;
		}
		r = join(full, sizeof(full), path, l.e[i].name);
		if (!r)
			r = ls_dir(v, full, lng, rec, depth + 1, seen);
	}
	names_free(&l);
	return r;
}

static const char ls_help[] =
	"Usage: ccvol ls [-l] [-R] [key options] IMG [PATH]\n"
	"List a directory inside the volume (default /).\n"
	"  -l, --long      mode, links, owner, size, mtime (UTC), symlink targets\n"
	"  -R, --recursive list subdirectories too (full paths)\n" KEY_HELP;

static const char cat_help[] =
	"Usage: ccvol cat [key options] IMG PATH\n"
	"Write a file from the volume to standard output.\n" KEY_HELP;

static const char stat_help[] =
	"Usage: ccvol stat [key options] IMG PATH\n"
	"Show inode number, type, mode, owner, size and times of PATH (not following a\n"
	"final symlink).\n" KEY_HELP;

static const char extract_help[] =
	"Usage: ccvol extract [key options] IMG DIR\n"
	"Copy the whole volume into DIR (which must not exist, or be empty).  The\n"
	"copy is made under a temporary name and renamed to DIR when complete.\n"
	"Symlinks that are absolute or would resolve outside DIR are refused (exit 9)\n"
	"and nothing is left behind.\n" KEY_HELP;

static const char check_help[] =
	"Usage: ccvol check [key options] IMG\n"
	"Check the LUKS header, the ext4 filesystem's consistency, and read every file.\n" KEY_HELP;

static const char dump_help[] =
	"Usage: ccvol dump [key options] IMG\n"
	"Print the LUKS header (like cryptsetup luksDump, never any key).  With a key\n"
	"option the volume is unlocked and the filesystem summary is printed too.\n"
	"  --key-file / --passphrase-file / --volume-key-file FILE  (optional)\n";

typedef int (*read_cmd_fn)(struct vol *v, int argc, char **argv, bool lng, bool rec);

static int run_read_cmd(const char *name, const char *help, int argc, char **argv,
			int min_args, int max_args, read_cmd_fn fn, bool lsopts)
{
	static const struct option lo[] = {
		{ "long", no_argument, NULL, 'l' },
		{ "recursive", no_argument, NULL, 'R' },
		KEY_LONGOPTS,
		{ 0 },
	};
	struct key_opts ko = { .keyslot = -1 };
	bool lng = false, rec = false;
	int c, ex = 0;
	while ((c = getopt_long(argc, argv, lsopts ? "lR" : "", lo, NULL)) != -1) {
		if (key_opt(c, optarg, &ko, &ex)) {
			if (ex)
				return ex;
			continue;
		}
		switch (c) {
		case 'l':
			lng = true;
			break;
		case 'R':
			rec = true;
			break;
		case OPT_HELP:
			fputs(help, stdout);
			return EX_OK;
		default:
			return usage_err(name);
		}
	}
	int n = argc - optind;
	if (n < min_args || n > max_args) {
		die_msg(0, "%s: wrong number of arguments", name);
		return usage_err(name);
	}
	struct vol *v;
	ex = ccvol_unlock(argv[optind], &ko, &v);
	if (ex)
		return ex;
	ex = fn(v, n - 1, argv + optind + 1, lng, rec);
	vol_close(v);
	return ex;
}

static int do_ls(struct vol *v, int argc, char **argv, bool lng, bool rec)
{
	const char *path = argc ? argv[0] : "/";
	struct vol_stat st;
	int r = vol_stat(v, path, &st);
	if (!r && st.type != VOL_FT_DIR)
		r = lng ? print_long(v, path, path) : (printf("%s\n", path), 0);
	else if (!r) {
		struct inoset seen = { 0 };
		r = ls_dir(v, path, lng, rec, 0, &seen);
		free(seen.slot);
	}
	if (r < 0) {
		die_msg(r, "ls \"%s\"", path);
		return r == -ENOENT || r == -ENOTDIR ? EX_NOTFOUND : ccvol_exit_code(r);
	}
	return EX_OK;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Copy an open volume file to fd. */
static int copy_out(struct vol_file *f, int fd)
{
	enum { BUF = 1 << 20 };
	uint8_t *buf = malloc(BUF);
	if (!buf)
		return -ENOMEM;
	uint64_t off = 0, size = vol_file_size(f);
	int r = 0;
	while (off < size) {
		long long n = vol_file_pread(f, buf, BUF, off);
		if (n < 0) {
			r = (int)n;
			break;
		}
		if (n == 0) {
			r = -EIO;
			break;
		}
		r = write_all(fd, buf, (size_t)n);
		if (r)
			break;
		off += (uint64_t)n;
	}
	free(buf);
	return r;
}

static int do_cat(struct vol *v, int argc, char **argv, bool lng, bool rec)
{
	(void)argc;
	(void)lng;
	(void)rec;
	struct vol_file *f;
	int r = vol_file_open(v, argv[0], &f);
	if (r < 0) {
		die_msg(r, "cat \"%s\"", argv[0]);
		return r == -ENOENT || r == -ENOTDIR || r == -EISDIR || r == -EINVAL ? EX_NOTFOUND
										   : ccvol_exit_code(r);
	}
	r = copy_out(f, STDOUT_FILENO);
	vol_file_close(f);
	if (r < 0) {
		die_msg(r, "cat \"%s\"", argv[0]);
		return ccvol_exit_code(r);
	}
	return EX_OK;
}

static const char *type_name(enum vol_ftype t)
{
	switch (t) {
	case VOL_FT_REG:
		return "regular file";
	case VOL_FT_DIR:
		return "directory";
	case VOL_FT_SYMLINK:
		return "symbolic link";
	case VOL_FT_OTHER:
		return "special file";
	default:
		return "unknown";
	}
}

static int do_stat(struct vol *v, int argc, char **argv, bool lng, bool rec)
{
	(void)argc;
	(void)lng;
	(void)rec;
	struct vol_stat st;
	int r = vol_lstat(v, argv[0], &st);
	if (r < 0) {
		die_msg(r, "stat \"%s\"", argv[0]);
		return r == -ENOENT || r == -ENOTDIR ? EX_NOTFOUND : ccvol_exit_code(r);
	}
	char m[11], tb[3][40];
	mode_string(st.mode, m);
	int64_t ts[3] = { st.atime, st.mtime, st.ctime };
	for (int i = 0; i < 3; i++) {
		time_t t = (time_t)ts[i];
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(tb[i], sizeof(tb[i]), "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	printf("  File: %s\n  Type: %s\n  Size: %" PRIu64 "\n Inode: %u\n Links: %u\n"
	       "Access: (%04o/%s)  Uid: %u  Gid: %u\nAccess: %s\nModify: %s (%09u ns)\nChange: %s\n",
	       argv[0], type_name(st.type), st.size, st.ino, st.nlink, st.mode & 07777, m, st.uid,
	       st.gid, tb[0], tb[1], st.mtime_nsec, tb[2]);
	if (st.type == VOL_FT_SYMLINK) {
		char *t;
		size_t tl;
		if (vol_readlink(v, argv[0], &t, &tl) == 0) {
			printf("Target: %s\n", t);
			free(t);
		}
	}
	return EX_OK;
}

/* ---- extract ---- */

/* Does a symlink at depth (components below the target root) pointing to
 * target stay inside the root? */
static bool link_safe(const char *target, unsigned depth)
{
	if (target[0] == '/' || target[0] == '\0')
		return false;
	long d = (long)depth;
	const char *p = target;
	while (*p) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (--d < 0)
				return false;
		} else if (n && !(n == 1 && p[0] == '.')) {
			d++;
		}
		p += n;
		while (*p == '/')
			p++;
	}
	return true;
}

struct xctx {
	struct vol *v;
	struct inoset seen;
	char vpath[VOL_PATH_MAX + 1];
	uint64_t files, bytes;
};

static int set_meta(int dfd, const char *name, const struct vol_stat *st, bool is_link)
{
	struct timespec ts[2] = {
		{ .tv_sec = (time_t)st->atime, .tv_nsec = 0 },
		{ .tv_sec = (time_t)st->mtime, .tv_nsec = (long)st->mtime_nsec },
	};
	if (geteuid() == 0 && fchownat(dfd, name, st->uid, st->gid, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (!is_link && fchmodat(dfd, name, st->mode & 07777, 0) < 0)
		return -errno;
	if (utimensat(dfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

static int extract_dir(struct xctx *x, int dfd, unsigned depth)
{
	if (depth > 256)
		return VOL_E_FS_CORRUPT;
	struct names l = { 0 };
	int r = enter_dir(&x->seen, x->v, x->vpath);
	if (r < 0)
		return r;
	r = vol_readdir(x->v, x->vpath, names_add, &l);
	size_t base = strlen(x->vpath);
	for (size_t i = 0; i < l.n && !r; i++) {
		const char *name = l.e[i].name;
		/* The library refuses '/' and NUL in names; "." and ".." never
		 * reach here.  Check again: this is the last line of defence. */
		if (!strcmp(name, ".") || !strcmp(name, "..") || strchr(name, '/')) {
			r = VOL_E_UNSAFE_PATH;
			break;
		}
		int pn = snprintf(x->vpath + base, sizeof(x->vpath) - base, "%s%s",
				  base > 1 ? "/" : "", name);
		if (pn < 0 || (size_t)pn >= sizeof(x->vpath) - base) {
			r = -ENAMETOOLONG;
			break;
		}
		struct vol_stat st;
		r = vol_lstat_ino(x->v, l.e[i].ino, &st);
		if (r)
			break;
		if (st.type == VOL_FT_DIR) {
			if (mkdirat(dfd, name, 0700) < 0) {
				r = -errno;
				break;
			}
			int cfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd < 0) {
				r = -errno;
				break;
			}
			r = extract_dir(x, cfd, depth + 1);
			close(cfd);
			if (!r)
				r = set_meta(dfd, name, &st, false);
		} else if (st.type == VOL_FT_REG) {
			struct vol_file *f;
			r = vol_file_open_ino(x->v, st.ino, &f);
			if (r)
				break;
			int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
			if (fd < 0) {
				r = -errno;
				vol_file_close(f);
				break;
			}
			r = copy_out(f, fd);
			x->bytes += vol_file_size(f);
			x->files++;
			vol_file_close(f);
			if (close(fd) < 0 && !r)
				r = -errno;
			if (!r)
				r = set_meta(dfd, name, &st, false);
		} else if (st.type == VOL_FT_SYMLINK) {
			char *t;
			size_t tl;
			r = vol_readlink_ino(x->v, st.ino, &t, &tl);
			if (r)
				break;
			if (!link_safe(t, depth)) {
				fprintf(stderr, "%s: symlink \"%s\" -> \"%s\" points outside the target\n",
					prog, x->vpath, t);
				free(t);
				r = VOL_E_UNSAFE_PATH;
				break;
			}
			if (symlinkat(t, dfd, name) < 0)
				r = -errno;
			free(t);
			if (!r)
				r = set_meta(dfd, name, &st, true);
		} else {
			fprintf(stderr, "%s: skipping special file \"%s\"\n", prog, x->vpath);
		}
		x->vpath[base] = '\0';
	}
	x->vpath[base] = '\0';
	names_free(&l);
	return r;
}

static int rm_tree_at(int dfd, const char *name, unsigned depth)
{
	if (depth > 300)
		return -ELOOP;
	int cfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (cfd >= 0) {
		DIR *d = fdopendir(cfd);
		if (!d) {
			close(cfd);
			return -errno;
		}
		struct dirent *de;
		while ((de = readdir(d))) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			rm_tree_at(dirfd(d), de->d_name, depth + 1);
		}
		closedir(d);
		return unlinkat(dfd, name, AT_REMOVEDIR) < 0 ? -errno : 0;
	}
	return unlinkat(dfd, name, 0) < 0 ? -errno : 0;
}

static int do_extract(struct vol *v, int argc, char **argv, bool lng, bool rec)
{
	(void)argc;
	(void)lng;
	(void)rec;
	const char *out = argv[0];
	struct stat st;
	if (lstat(out, &st) == 0) {
		bool empty = false;
		if (S_ISDIR(st.st_mode)) {
			DIR *d = opendir(out);
			empty = d != NULL;
			struct dirent *de;
			while (d && (de = readdir(d)))
				if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
					empty = false;
			if (d)
				closedir(d);
		}
		if (!empty) {
			die_msg(0, "output \"%s\" already exists", out);
			return EX_EXISTS;
		}
		if (rmdir(out) < 0) {
			die_msg(-errno, "cannot replace empty directory \"%s\"", out);
			return EX_FAIL;
		}
	}
	char tmp[PATH_MAX];
	uint8_t rnd[4];
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return EX_FAIL;
	int n = snprintf(tmp, sizeof(tmp), "%s.tmp-%02x%02x%02x%02x", out, rnd[0], rnd[1], rnd[2], rnd[3]);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		die_msg(-ENAMETOOLONG, "extract");
		return EX_USAGE;
	}
	if (mkdir(tmp, 0700) < 0) {
		die_msg(-errno, "cannot create \"%s\"", tmp);
		return EX_FAIL;
	}
	int dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int r = dfd < 0 ? -errno : 0;
	struct xctx x = { .v = v };
	snprintf(x.vpath, sizeof(x.vpath), "/");
	if (!r)
		r = extract_dir(&x, dfd, 0);
	if (dfd >= 0)
		close(dfd);
	free(x.seen.slot);
	if (!r) {
		struct vol_stat rst;
		if (vol_lstat(v, "/", &rst) == 0) {
			/* root's mode and times go to DIR itself */
			set_meta(AT_FDCWD, tmp, &rst, false);
		}
		if (renameat2(AT_FDCWD, tmp, AT_FDCWD, out, RENAME_NOREPLACE) < 0)
			r = errno == EEXIST ? -EEXIST : -errno;
	}
	if (r) {
		rm_tree_at(AT_FDCWD, tmp, 0);
		die_msg(r, "extract to \"%s\" failed (nothing left behind)", out);
		return ccvol_exit_code(r);
	}
	fprintf(stderr, "%s: extracted %" PRIu64 " files, %" PRIu64 " bytes to %s\n", prog, x.files,
		x.bytes, out);
	return EX_OK;
}

static int do_check(struct vol *v, int argc, char **argv, bool lng, bool rec)
{
	(void)argc;
	(void)argv;
	(void)lng;
	(void)rec;
	struct vol_check_report rep;
	int r = vol_check(v, &rep);
	if (r < 0 && r != VOL_E_FS_CORRUPT) {
		die_msg(r, "check");
		return ccvol_exit_code(r);
	}
	printf("files %" PRIu64 ", directories %" PRIu64 ", symlinks %" PRIu64 ", other %" PRIu64
	       ", %" PRIu64 " bytes read, %u problem(s)\n",
	       rep.files, rep.dirs, rep.symlinks, rep.others, rep.bytes, rep.problems);
	if (r < 0) {
		die_msg(r, "check found problems");
		return EX_FSCORRUPT;
	}
	printf("clean\n");
	return EX_OK;
}

/* Parse a command whose only options are the key options and --help.
 * Returns -1 to go on, else the exit code (EX_OK after --help). */
static int key_opts_only(int argc, char **argv, struct key_opts *ko, const char *help,
			 const char *cmd)
{
	static const struct option lo[] = { KEY_LONGOPTS, { 0 } };
	int c, ex = 0;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (key_opt(c, optarg, ko, &ex)) {
			if (ex)
				return ex;
			continue;
		}
		if (c == OPT_HELP) {
			fputs(help, stdout);
			return EX_OK;
		}
		return usage_err(cmd);
	}
	return -1;
}

static int cmd_dump(int argc, char **argv)
{
	struct key_opts ko = { .keyslot = -1 };
	int ex = key_opts_only(argc, argv, &ko, dump_help, "dump");
	if (ex >= 0)
		return ex;
	if (argc - optind != 1)
		return usage_err("dump");
	const char *img = argv[optind];
	char *text = NULL;
	int r = vol_dump_header(img, &text);
	if (r < 0) {
		die_msg(r, "cannot read the header of \"%s\"", img);
		return ccvol_exit_code(r);
	}
	fputs(text, stdout);
	free(text);
	if (!ko.key_file && !ko.passphrase_file && !ko.volume_key_file)
		return EX_OK;
	struct vol *v;
	ex = ccvol_unlock(img, &ko, &v);
	if (ex)
		return ex;
	struct vol_info in;
	vol_get_info(v, &in);
	printf("\nFilesystem (ext4):\n\tblock size: %u\n\tblocks: %" PRIu64 " (%" PRIu64
	       " free)\n\tinodes: %u (%u free)\n\tdata segment: %" PRIu64 " bytes at %" PRIu64 "\n",
	       in.fs_block_size, in.fs_blocks, in.fs_free_blocks, in.fs_inodes, in.fs_free_inodes,
	       in.data_size, in.data_offset);
	vol_close(v);
	return EX_OK;
}

/* ---- keyslots ---- */

static const char add_key_help[] =
	"Usage: ccvol add-key [key options] [--new-key-file F | --new-passphrase-file F] [kdf options] IMG\n"
	"Add a keyslot.  The existing key (any key option, including --volume-key-file)\n"
	"authorises it; the new passphrase comes from --new-key-file (raw bytes),\n"
	"--new-passphrase-file (first line) or is asked twice on the terminal.\n"
	"KDF options as for create: --pbkdf, --iter-time, --pbkdf-force-iterations,\n"
	"--pbkdf-memory, --pbkdf-parallel.\n" KEY_HELP;

static const char remove_key_help[] =
	"Usage: ccvol remove-key [--key-file F | --passphrase-file F] IMG\n"
	"Remove the keyslot that the given passphrase opens.  The last keyslot is\n"
	"never removed (exit 13).\n";

static int cmd_add_key(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "new-key-file", required_argument, NULL, OPT_NEW_KEY_FILE },
		{ "new-passphrase-file", required_argument, NULL, OPT_NEW_PASS_FILE },
		KDF_LONGOPTS,
		KEY_LONGOPTS,
		{ 0 },
	};
	struct key_opts ko = { .keyslot = -1 }, nko = { .keyslot = -1 };
	struct vol_kdf_params kdf = { 0 };
	int c, ex = 0;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (key_opt(c, optarg, &ko, &ex) || kdf_opt(c, optarg, &kdf, &ex)) {
			if (ex)
				return ex;
			continue;
		}
		switch (c) {
		case OPT_NEW_KEY_FILE:
			nko.key_file = optarg;
			break;
		case OPT_NEW_PASS_FILE:
			nko.passphrase_file = optarg;
			break;
		case OPT_HELP:
			fputs(add_key_help, stdout);
			return EX_OK;
		default:
			return usage_err("add-key");
		}
	}
	if (argc - optind != 1)
		return usage_err("add-key");
	const char *img = argv[optind];
	struct secret old = { 0 }, neu = { 0 };
	if (ko.volume_key_file)
		ex = read_secret_file(ko.volume_key_file, false, &old);
	else
		ex = get_pass(&ko, img, false, &old);
	if (ex)
		return ex;
	ex = get_pass(&nko, "the new keyslot", true, &neu);
	if (ex) {
		secret_free(&old);
		return ex;
	}
	int slot = -1, r;
	if (ko.volume_key_file)
		r = vol_add_key(img, NULL, 0, old.p, old.len, neu.p, neu.len, &kdf, &slot);
	else
		r = vol_add_key(img, old.p, old.len, NULL, 0, neu.p, neu.len, &kdf, &slot);
	secret_free(&old);
	secret_free(&neu);
	if (r < 0) {
		die_msg(r, "add-key on \"%s\"", img);
		return ccvol_exit_code(r);
	}
	printf("added keyslot %d\n", slot);
	return EX_OK;
}

static int cmd_remove_key(int argc, char **argv)
{
	struct key_opts ko = { .keyslot = -1 };
	int ex = key_opts_only(argc, argv, &ko, remove_key_help, "remove-key");
	if (ex >= 0)
		return ex;
	if (argc - optind != 1 || ko.volume_key_file)
		return usage_err("remove-key");
	const char *img = argv[optind];
	struct secret s = { 0 };
	ex = get_pass(&ko, img, false, &s);
	if (ex)
		return ex;
	int slot = -1;
	int r = vol_remove_key(img, s.p, s.len, &slot);
	secret_free(&s);
	if (r < 0) {
		die_msg(r, "remove-key on \"%s\"", img);
		return ccvol_exit_code(r);
	}
	printf("removed keyslot %d\n", slot);
	return EX_OK;
}

/* ------------------------------------------------------------------------ */

static const char main_help[] =
	"Usage: ccvol [-v] COMMAND [options] ...\n"
	"Encrypted model volumes (LUKS2 + ext4), read and written in userspace.\n"
	"Commands:\n"
	"  create      build a volume from a directory tree\n"
	"  ls          list a directory\n"
	"  cat         write a file to standard output\n"
	"  stat        show a file's metadata\n"
	"  extract     copy the whole volume to a new directory\n"
	"  check       check header and filesystem, read every file\n"
	"  dump        print the LUKS header summary (no secrets)\n"
	"  add-key     add a keyslot\n"
	"  remove-key  remove a keyslot\n"
	"  mount       mount read-only with FUSE\n"
	"Run 'ccvol COMMAND --help' for each command's options.  Exit codes are listed\n"
	"in docs/ccvol.md.\n";

int main(int argc, char **argv)
{
	int ai = 1;
	cc_log_set_level(CC_LOG_WARN);
	while (ai < argc && argv[ai][0] == '-') {
		if (!strcmp(argv[ai], "-v") || !strcmp(argv[ai], "--verbose")) {
			cc_log_set_level(cc_log_get_level() == CC_LOG_WARN ? CC_LOG_INFO : CC_LOG_DEBUG);
			ai++;
		} else if (!strcmp(argv[ai], "--help") || !strcmp(argv[ai], "-h")) {
			fputs(main_help, stdout);
			return EX_OK;
		} else if (!strcmp(argv[ai], "--version")) {
			printf("ccvol %s\n", CCSERVE_VERSION);
			return EX_OK;
		} else {
			break;
		}
	}
	if (ai >= argc) {
		fputs(main_help, stderr);
		return EX_USAGE;
	}
	cc_disable_core_dumps();
	const char *cmd = argv[ai];
	int cargc = argc - ai;
	char **cargv = argv + ai;
	optind = 1;
	if (!strcmp(cmd, "create"))
		return cmd_create(cargc, cargv);
	if (!strcmp(cmd, "ls"))
		return run_read_cmd("ls", ls_help, cargc, cargv, 1, 2, do_ls, true);
	if (!strcmp(cmd, "cat"))
		return run_read_cmd("cat", cat_help, cargc, cargv, 2, 2, do_cat, false);
	if (!strcmp(cmd, "stat"))
		return run_read_cmd("stat", stat_help, cargc, cargv, 2, 2, do_stat, false);
	if (!strcmp(cmd, "extract"))
		return run_read_cmd("extract", extract_help, cargc, cargv, 2, 2, do_extract, false);
	if (!strcmp(cmd, "check"))
		return run_read_cmd("check", check_help, cargc, cargv, 1, 1, do_check, false);
	if (!strcmp(cmd, "dump"))
		return cmd_dump(cargc, cargv);
	if (!strcmp(cmd, "add-key"))
		return cmd_add_key(cargc, cargv);
	if (!strcmp(cmd, "remove-key"))
		return cmd_remove_key(cargc, cargv);
	if (!strcmp(cmd, "mount"))
		return cmd_mount(cargc, cargv);
	die_msg(0, "unknown command \"%s\"", cmd);
	fputs(main_help, stderr);
	return EX_USAGE;
}
