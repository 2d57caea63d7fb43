/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where ccserve reads models and config files from: paths starting with
 * "vol:" are inside the encrypted volume unlocked in memory (read in user
 * space by the vol library; no plaintext touches a disk), other paths are
 * host files.
 */
#include <errno.h>
#include <string.h>

#include "ccserve/vol.h"
#include "store.h"

static const char *vol_path(const char *p)
{
	return strncmp(p, "vol:", 4) == 0 ? p + 4 : NULL;
}

static int st_read(void *ud, const char *path, size_t max, uint8_t **ret, size_t *ret_len)
{
	struct vol *v = ud;
	const char *vp = vol_path(path);
	if (!vp)
		return cc_file_read(path, max, false, ret, ret_len);
	if (!v)
		return -ENOENT;
	return vol_read_file(v, vp, max, false, ret, ret_len);
}

struct ls_ctx {
	struct vol *v;
	const char *dir;
	int (*each)(void *ctx, const char *name, bool is_dir);
	void *ctx;
};

static int ls_each(void *ud, const char *name, uint32_t ino, enum vol_ftype type)
{
	(void)ino;
	struct ls_ctx *c = ud;
	bool is_dir = type == VOL_FT_DIR;
	if (type == VOL_FT_UNKNOWN || type == VOL_FT_SYMLINK) {
		char full[4200];
		struct vol_stat st;
		snprintf(full, sizeof(full), "%s/%s", c->dir, name);
		is_dir = vol_stat(c->v, full, &st) == 0 && st.type == VOL_FT_DIR;
	}
	return c->each(c->ctx, name, is_dir);
}

static int st_list(void *ud, const char *path, int (*each)(void *ctx, const char *name, bool is_dir),
		   void *ctx)
{
	struct vol *v = ud;
	const char *vp = vol_path(path);
	if (!vp)
		return serve_list_dir_local(NULL, path, each, ctx);
	if (!v)
		return -ENOENT;
	struct ls_ctx c = { v, vp, each, ctx };
	return vol_readdir(v, vp, ls_each, &c);
}

void ccserve_store_init(struct serve_store *s, struct vol *v)
{
	s->ud = v;
	s->read = st_read;
	s->list = st_list;
}

int ccserve_store_read_secure(struct vol *v, const char *path, size_t max, uint8_t **ret,
			      size_t *ret_len)
{
	const char *vp = vol_path(path);
	if (!vp)
		return cc_file_read(path, max, true, ret, ret_len);
	if (!v)
		return -ENOENT;
	return vol_read_file(v, vp, max, true, ret, ret_len);
}
