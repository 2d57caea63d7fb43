/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TensorFlow tensor bundles (the variables/ directory of a SavedModel):
 * the .index file is a LevelDB-format sorted table (blocks optionally
 * Snappy-compressed, each with a masked CRC-32C) mapping tensor names to
 * BundleEntryProto records; the empty key holds the BundleHeaderProto.
 * Tensor bytes live in data shards "<prefix>.data-NNNNN-of-MMMMM" and carry
 * a masked CRC-32C that is verified on load.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "tensor_bundle.pb-c.h"

#define BUNDLE_MAX_ENTRIES 1000000
#define BUNDLE_MAX_SHARDS 1024
#define TABLE_MAGIC 0xdb4775248b80fb57ULL

/* ------------------------------------------------------------------------ */
/* CRC-32C (Castagnoli), reflected polynomial 0x82F63B78                    */

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
		crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^
					  crc_table[0][crc_table[t - 1][i] & 0xff];
}

uint32_t ir_crc32c(uint32_t crc, const void *data, size_t len)
{
	pthread_once(&crc_once, crc_init);
	const uint8_t *p = data;
	crc = ~crc;
	while (len >= 8) {
		uint32_t lo = (uint32_t)p[0] | (uint32_t)p[1] << 8 |
			      (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
		lo ^= crc;
		crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		      crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
		      crc_table[3][p[4]] ^ crc_table[2][p[5]] ^
		      crc_table[1][p[6]] ^ crc_table[0][p[7]];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
	return ~crc;
}

static uint32_t crc_unmask(uint32_t m)
{
	uint32_t r = m - 0xa282ead8u;
	return (r >> 17) | (r << 15);
}

/* ------------------------------------------------------------------------ */
/* Snappy (raw format: varint length, then literal/copy elements)           */

static int varint64(const uint8_t **p, const uint8_t *end, uint64_t *ret)
{
	uint64_t v = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (*p >= end)
			return INFER_E_FORMAT;
		uint8_t b = *(*p)++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*ret = v;
			return 0;
		}
	}
	return INFER_E_FORMAT;
}

int ir_snappy_uncompress(const uint8_t *in, size_t in_len, uint8_t **ret,
			 size_t *ret_len, size_t max)
{
	const uint8_t *p = in, *end = in + in_len;
	uint64_t n;
	if (varint64(&p, end, &n) || n > 0xffffffffu)
		return INFER_E_FORMAT;
	if (n > max)
		return INFER_E_LIMIT;
	uint8_t *out = malloc(n ? n : 1);
	if (!out)
		return -ENOMEM;
	size_t o = 0;
	while (p < end) {
		uint8_t tag = *p++;
		size_t len, off = 0;
		switch (tag & 3) {
		case 0:
			len = (size_t)(tag >> 2) + 1;
			if (len > 60) {
				size_t nb = len - 60;
				if ((size_t)(end - p) < nb)
					goto bad;
				len = 0;
				for (size_t i = 0; i < nb; i++)
					len |= (size_t)p[i] << (8 * i);
				len += 1;
				p += nb;
			}
			if ((size_t)(end - p) < len || n - o < len)
				goto bad;
			memcpy(out + o, p, len);
			p += len;
			o += len;
			continue;
		case 1:
			if (end - p < 1)
				goto bad;
			len = (size_t)((tag >> 2) & 7) + 4;
			off = ((size_t)(tag >> 5) << 8) | p[0];
			p += 1;
			break;
		case 2:
			if (end - p < 2)
				goto bad;
			len = (size_t)(tag >> 2) + 1;
			off = (size_t)p[0] | (size_t)p[1] << 8;
			p += 2;
			break;
		default:
			if (end - p < 4)
				goto bad;
			len = (size_t)(tag >> 2) + 1;
			off = (size_t)p[0] | (size_t)p[1] << 8 |
			      (size_t)p[2] << 16 | (size_t)p[3] << 24;
			p += 4;
			break;
		}
		if (off == 0 || off > o || n - o < len)
			goto bad;
		for (size_t i = 0; i < len; i++, o++)
			out[o] = out[o - off];
	}
	if (o != n)
		goto bad;
	*ret = out;
	*ret_len = n;
	return 0;
bad:
	free(out);
	return INFER_E_FORMAT;
}

/* ------------------------------------------------------------------------ */
/* Sorted table                                                             */

struct kv {
	char *key;
	size_t klen;
	const uint8_t *val; /* into a block */
	size_t vlen;
};

struct tf_bundle {
	const struct ir_load_ctx *ctx;
	char *prefix;
	uint8_t **blocks;
	size_t n_blocks;
	struct kv *kv;
	size_t n_kv, cap_kv;
	int num_shards;
	void **shard;
	size_t *shard_len;
};

static int read_block(const uint8_t *file, size_t flen, uint64_t off,
		      uint64_t size, uint8_t **ret, size_t *ret_len)
{
	if (off > flen || size > flen - off || flen - off - size < 5)
		return INFER_E_FORMAT;
	const uint8_t *b = file + off;
	uint8_t type = b[size];
	uint32_t stored = (uint32_t)b[size + 1] | (uint32_t)b[size + 2] << 8 |
			  (uint32_t)b[size + 3] << 16 |
			  (uint32_t)b[size + 4] << 24;
	uint32_t crc = ir_crc32c(0, b, size + 1);
	if (crc != crc_unmask(stored))
		return INFER_E_FORMAT;
	if (type == 0) {
		uint8_t *c = malloc(size ? size : 1);
		if (!c)
			return -ENOMEM;
		memcpy(c, b, size);
		*ret = c;
		*ret_len = size;
		return 0;
	}
	if (type == 1)
		return ir_snappy_uncompress(b, size, ret, ret_len, 1u << 30);
	return INFER_E_FORMAT;
}

/* Iterates the entries of a block, calling fn(key, value).  Keys are
 * prefix-compressed against the previous entry. */
static int block_iter(const uint8_t *blk, size_t len,
		      int (*fn)(void *, const char *, size_t, const uint8_t *,
				size_t),
		      void *ud)
{
	if (len < 4)
		return INFER_E_FORMAT;
	uint32_t nr = (uint32_t)blk[len - 4] | (uint32_t)blk[len - 3] << 8 |
		      (uint32_t)blk[len - 2] << 16 | (uint32_t)blk[len - 1] << 24;
	if ((uint64_t)nr * 4 + 4 > len)
		return INFER_E_FORMAT;
	const uint8_t *p = blk, *end = blk + len - 4 - (size_t)nr * 4;
	char *key = NULL;
	size_t klen = 0;
	int r = 0;
	while (p < end) {
		uint64_t shared, nonshared, vlen;
		if (varint64(&p, end, &shared) || varint64(&p, end, &nonshared) ||
		    varint64(&p, end, &vlen) || shared > klen ||
		    nonshared > (uint64_t)(end - p) ||
		    vlen > (uint64_t)(end - p) - nonshared) {
			r = INFER_E_FORMAT;
			break;
		}
		char *nk = realloc(key, shared + nonshared + 1);
		if (!nk) {
			r = -ENOMEM;
			break;
		}
		key = nk;
		memcpy(key + shared, p, nonshared);
		klen = shared + nonshared;
		key[klen] = 0;
		p += nonshared;
		r = fn(ud, key, klen, p, vlen);
		if (r)
			break;
		p += vlen;
	}
	free(key);
	return r;
}

static int add_kv(void *ud, const char *k, size_t kl, const uint8_t *v,
		  size_t vl)
{
	struct tf_bundle *b = ud;
	if (b->n_kv >= BUNDLE_MAX_ENTRIES)
		return INFER_E_LIMIT;
	if (b->n_kv == b->cap_kv) {
		size_t nc = b->cap_kv ? b->cap_kv * 2 : 64;
		struct kv *n = realloc(b->kv, nc * sizeof(*n));
		if (!n)
			return -ENOMEM;
		b->kv = n;
		b->cap_kv = nc;
	}
	char *kc = malloc(kl + 1);
	if (!kc)
		return -ENOMEM;
	memcpy(kc, k, kl);
	kc[kl] = 0;
	b->kv[b->n_kv++] = (struct kv){ kc, kl, v, vl };
	return 0;
}

struct idx_ctx {
	struct tf_bundle *b;
	const uint8_t *file;
	size_t flen;
};

static int keep_block(struct tf_bundle *b, uint8_t *blk)
{
	uint8_t **n = realloc(b->blocks, (b->n_blocks + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	b->blocks = n;
	b->blocks[b->n_blocks++] = blk;
	return 0;
}

static int on_index(void *ud, const char *k, size_t kl, const uint8_t *v,
		    size_t vl)
{
	struct idx_ctx *c = ud;
	const uint8_t *p = v;
	uint64_t off, size;
	if (varint64(&p, v + vl, &off) || varint64(&p, v + vl, &size))
		return INFER_E_FORMAT;
	uint8_t *blk;
	size_t blen;
	int r = read_block(c->file, c->flen, off, size, &blk, &blen);
	if (r)
		return r;
	if ((r = keep_block(c->b, blk))) {
		free(blk);
		return r;
	}
	return block_iter(blk, blen, add_kv, c->b);
}

static int kv_cmp(const void *a, const void *b)
{
	const struct kv *x = a, *y = b;
	size_t n = x->klen < y->klen ? x->klen : y->klen;
	int c = memcmp(x->key, y->key, n);
	if (c)
		return c;
	return x->klen < y->klen ? -1 : x->klen > y->klen;
}

int tf_bundle_raw(struct tf_bundle *b, const char *key, const uint8_t **ret,
		  size_t *ret_len)
{
	struct kv k = { (char *)key, strlen(key), NULL, 0 };
	struct kv *f = bsearch(&k, b->kv, b->n_kv, sizeof(struct kv), kv_cmp);
	if (!f)
		return -ENOENT;
	*ret = f->val;
	*ret_len = f->vlen;
	return 0;
}

void tf_bundle_free(struct tf_bundle *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n_kv; i++)
		free(b->kv[i].key);
	free(b->kv);
	for (size_t i = 0; i < b->n_blocks; i++)
		free(b->blocks[i]);
	free(b->blocks);
	if (b->shard) {
		for (int i = 0; i < b->num_shards; i++)
			if (b->shard[i])
				ir_fs_release(b->ctx, b->shard[i],
					      b->shard_len[i]);
	}
	free(b->shard);
	free(b->shard_len);
	free(b->prefix);
	free(b);
}

int tf_bundle_open(const struct ir_load_ctx *c, const char *prefix,
		   struct tf_bundle **ret)
{
	struct tf_bundle *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->ctx = c;
	b->prefix = strdup(prefix);
	char path[IR_MAX_NAME];
	void *file = NULL;
	size_t flen = 0;
	int r;
	if (!b->prefix) {
		r = -ENOMEM;
		goto fail;
	}
	snprintf(path, sizeof(path), "%s.index", prefix);
	r = ir_fs_read(c, path, &file, &flen);
	if (r) {
		ir_fail(c->err, r, "cannot read %s: %s", path,
			r == -ENOENT ? "missing variables index" : infer_strerror(r));
		goto fail;
	}
	const uint8_t *f = file;
	if (flen < 48) {
		r = ir_fail(c->err, INFER_E_FORMAT, "%s: truncated table", path);
		goto fail;
	}
	const uint8_t *ft = f + flen - 48;
	uint64_t magic = 0;
	for (int i = 0; i < 8; i++)
		magic |= (uint64_t)ft[40 + i] << (8 * i);
	if (magic != TABLE_MAGIC) {
		r = ir_fail(c->err, INFER_E_FORMAT, "%s: bad table magic", path);
		goto fail;
	}
	const uint8_t *p = ft;
	uint64_t moff, msz, ioff, isz;
	if (varint64(&p, ft + 40, &moff) || varint64(&p, ft + 40, &msz) ||
	    varint64(&p, ft + 40, &ioff) || varint64(&p, ft + 40, &isz)) {
		r = ir_fail(c->err, INFER_E_FORMAT, "%s: bad table footer", path);
		goto fail;
	}
	uint8_t *iblk;
	size_t ilen;
	r = read_block(f, flen - 48, ioff, isz, &iblk, &ilen);
	if (r) {
		ir_fail(c->err, r, "%s: bad index block (%s)", path,
			infer_strerror(r));
		goto fail;
	}
	if ((r = keep_block(b, iblk))) {
		free(iblk);
		goto fail;
	}
	struct idx_ctx ic = { b, f, flen - 48 };
	r = block_iter(iblk, ilen, on_index, &ic);
	if (r) {
		ir_fail(c->err, r, "%s: bad table block (%s)", path,
			infer_strerror(r));
		goto fail;
	}
	ir_fs_release(c, file, flen);
	file = NULL;
	qsort(b->kv, b->n_kv, sizeof(struct kv), kv_cmp);

	const uint8_t *hv;
	size_t hl;
	if (tf_bundle_raw(b, "", &hv, &hl)) {
		r = ir_fail(c->err, INFER_E_FORMAT, "%s: no bundle header", path);
		goto fail;
	}
	Tensorflow__BundleHeaderProto *h =
		tensorflow__bundle_header_proto__unpack(NULL, hl, hv);
	if (!h) {
		r = ir_fail(c->err, INFER_E_FORMAT, "%s: bad bundle header", path);
		goto fail;
	}
	int ns = h->num_shards;
	bool big = h->endianness != TENSORFLOW__BUNDLE_HEADER_PROTO__ENDIANNESS__LITTLE;
	tensorflow__bundle_header_proto__free_unpacked(h, NULL);
	if (ns < 1 || ns > BUNDLE_MAX_SHARDS || big) {
		r = ir_fail(c->err, big ? INFER_E_UNSUPPORTED : INFER_E_FORMAT,
			    "%s: %s", path,
			    big ? "big-endian bundle" : "bad shard count");
		goto fail;
	}
	b->num_shards = ns;
	b->shard = calloc((size_t)ns, sizeof(void *));
	b->shard_len = calloc((size_t)ns, sizeof(size_t));
	if (!b->shard || !b->shard_len) {
		r = -ENOMEM;
		goto fail;
	}
	*ret = b;
	return 0;
fail:
	if (file)
		ir_fs_release(c, file, flen);
	tf_bundle_free(b);
	return r;
}

int tf_bundle_get(struct tf_bundle *b, const char *key, struct ir_tensor **ret)
{
	struct ir_err *e = b->ctx->err;
	const uint8_t *v;
	size_t vl;
	if (tf_bundle_raw(b, key, &v, &vl))
		return -ENOENT;
	Tensorflow__BundleEntryProto *be =
		tensorflow__bundle_entry_proto__unpack(NULL, vl, v);
	if (!be)
		return ir_fail(e, INFER_E_FORMAT, "variable '%s': bad entry", key);
	int r = 0;
	struct ir_tensor *t = NULL;
	struct ir_shape s = { 0 };
	enum infer_dtype dt = (enum infer_dtype)be->dtype;
	if (be->n_slices) {
		r = ir_fail(e, INFER_E_UNSUPPORTED,
			    "variable '%s': partitioned variables are not supported", key);
		goto out;
	}
	if (!infer_dtype_size(dt)) {
		r = ir_fail(e, INFER_E_UNSUPPORTED, "variable '%s': dtype %s",
			    key, infer_dtype_name(dt));
		goto out;
	}
	if (!be->shape || be->shape->n_dim > IR_MAX_RANK ||
	    be->shape->unknown_rank) {
		r = ir_fail(e, INFER_E_FORMAT, "variable '%s': bad shape", key);
		goto out;
	}
	s.rank = (int)be->shape->n_dim;
	for (int i = 0; i < s.rank; i++) {
		s.d[i] = be->shape->dim[i]->size;
		if (s.d[i] < 0 || s.d[i] > IR_MAX_DIM) {
			r = ir_fail(e, INFER_E_FORMAT, "variable '%s': bad shape", key);
			goto out;
		}
	}
	r = ir_tensor_new(dt, &s, &t);
	if (r) {
		ir_fail(e, r, "variable '%s': %s", key, infer_strerror(r));
		goto out;
	}
	if (be->shard_id < 0 || be->shard_id >= b->num_shards || be->offset < 0 ||
	    be->size < 0 || (uint64_t)be->size != t->size) {
		r = ir_fail(e, INFER_E_FORMAT, "variable '%s': bad location", key);
		goto out;
	}
	int sid = be->shard_id;
	if (!b->shard[sid]) {
		char path[IR_MAX_NAME];
		snprintf(path, sizeof(path), "%s.data-%05d-of-%05d", b->prefix,
			 sid, b->num_shards);
		r = ir_fs_read(b->ctx, path, &b->shard[sid], &b->shard_len[sid]);
		if (r) {
			b->shard[sid] = NULL;
			ir_fail(e, r, "cannot read %s: %s", path, infer_strerror(r));
			goto out;
		}
	}
	if ((uint64_t)be->offset > b->shard_len[sid] ||
	    (uint64_t)be->size > b->shard_len[sid] - (uint64_t)be->offset) {
		r = ir_fail(e, INFER_E_FORMAT, "variable '%s': data out of range", key);
		goto out;
	}
	const uint8_t *src = (const uint8_t *)b->shard[sid] + be->offset;
	if (ir_crc32c(0, src, t->size) != crc_unmask(be->crc32c)) {
		r = ir_fail(e, INFER_E_FORMAT, "variable '%s': checksum mismatch", key);
		goto out;
	}
	memcpy(t->data, src, t->size);
	*ret = t;
	t = NULL;
out:
	ir_tensor_unref(t);
	tensorflow__bundle_entry_proto__free_unpacked(be, NULL);
	return r;
}
