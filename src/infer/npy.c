/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NumPy .npy files: magic "\x93NUMPY", version (1.0, 2.0, 3.0), header
 * length (u16 for 1.0, u32 after), then a Python dict literal with 'descr',
 * 'fortran_order' and 'shape', padded with spaces and a newline.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define NPY_MAX_HEADER 65536

static const struct {
	const char *descr;
	enum infer_dtype dt;
} npy_types[] = {
	{ "<f4", INFER_DT_FLOAT }, { "<f8", INFER_DT_DOUBLE },
	{ "<i4", INFER_DT_INT32 }, { "<i8", INFER_DT_INT64 },
	{ "|u1", INFER_DT_UINT8 }, { "|i1", INFER_DT_INT8 },
	{ "<i2", INFER_DT_INT16 }, { "<u2", INFER_DT_UINT16 },
	{ "<u4", INFER_DT_UINT32 }, { "<u8", INFER_DT_UINT64 },
	{ "|b1", INFER_DT_BOOL }, { "<f2", INFER_DT_HALF },
};

/* Finds 'key': in the header and returns a pointer after the colon. */
static const char *dict_value(const char *h, size_t len, const char *key)
{
	size_t kl = strlen(key);
	for (size_t i = 0; i + kl + 2 < len; i++) {
		if ((h[i] == '\'' || h[i] == '"') && !memcmp(h + i + 1, key, kl) &&
		    h[i + 1 + kl] == h[i]) {
			const char *p = h + i + 2 + kl;
			const char *end = h + len;
			while (p < end && (*p == ' ' || *p == ':'))
				p++;
			return p < end ? p : NULL;
		}
	}
	return NULL;
}

int infer_npy_parse(const void *buf, size_t len, struct infer_tensor *ret)
{
	const uint8_t *b = buf;
	if (!buf || len < 10 || memcmp(b, "\x93NUMPY", 6))
		return INFER_E_FORMAT;
	uint8_t major = b[6];
	size_t hl, off;
	if (major == 1) {
		hl = (size_t)b[8] | (size_t)b[9] << 8;
		off = 10;
	} else if (major == 2 || major == 3) {
		if (len < 12)
			return INFER_E_FORMAT;
		hl = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 |
		     (size_t)b[11] << 24;
		off = 12;
	} else {
		return INFER_E_UNSUPPORTED;
	}
	if (hl > NPY_MAX_HEADER || hl > len - off)
		return INFER_E_FORMAT;
	const char *h = (const char *)b + off;
	const char *end = h + hl;
	const char *d = dict_value(h, hl, "descr");
	const char *fo = dict_value(h, hl, "fortran_order");
	const char *sh = dict_value(h, hl, "shape");
	if (!d || !fo || !sh)
		return INFER_E_FORMAT;
	if ((size_t)(end - fo) >= 4 && !memcmp(fo, "True", 4))
		return INFER_E_UNSUPPORTED;
	if ((size_t)(end - fo) < 5 || memcmp(fo, "False", 5))
		return INFER_E_FORMAT;
	if (*d != '\'' && *d != '"')
		return INFER_E_FORMAT;
	char q = *d++;
	const char *de = memchr(d, q, (size_t)(end - d));
	if (!de)
		return INFER_E_FORMAT;
	size_t dl = (size_t)(de - d);
	enum infer_dtype dt = INFER_DT_INVALID;
	for (size_t i = 0; i < CC_ARRAY_SIZE(npy_types); i++) {
		const char *t = npy_types[i].descr;
		/* '<' and '|' are equivalent for 1-byte types; '=' means native (LE) */
		if (dl == 3 && (d[0] == t[0] || d[0] == '=' ||
				(t[0] == '|' && d[0] == '<')) &&
		    !memcmp(d + 1, t + 1, 2))
			dt = npy_types[i].dt;
	}
	if (dt == INFER_DT_INVALID || dt == INFER_DT_HALF)
		return INFER_E_UNSUPPORTED;
	if (*sh != '(')
		return INFER_E_FORMAT;
	sh++;
	memset(ret, 0, sizeof(*ret));
	ret->dtype = dt;
	int64_t n = 1;
	for (;;) {
		while (sh < end && *sh == ' ')
			sh++;
		if (sh >= end)
			return INFER_E_FORMAT;
		if (*sh == ')')
			break;
		if (*sh < '0' || *sh > '9')
			return INFER_E_FORMAT;
		int64_t v = 0;
		while (sh < end && *sh >= '0' && *sh <= '9') {
			v = v * 10 + (*sh - '0');
			if (v > IR_MAX_DIM)
				return INFER_E_LIMIT;
			sh++;
		}
		while (sh < end && (*sh == 'L' || *sh == ' '))
			sh++;
		if (ret->rank >= INFER_MAX_RANK)
			return INFER_E_UNSUPPORTED;
		ret->dims[ret->rank++] = v;
		if (__builtin_mul_overflow(n, v, &n) || n > IR_MAX_ELEMS)
			return INFER_E_LIMIT;
		if (sh < end && *sh == ',')
			sh++;
	}
	size_t need = (size_t)n * infer_dtype_size(dt);
	size_t data_off = off + hl;
	if (len - data_off != need)
		return INFER_E_FORMAT;
	ret->data = (void *)(b + data_off);
	ret->size = need;
	return 0;
}

int infer_npy_write(const struct infer_tensor *t, void **ret_buf, size_t *ret_len)
{
	const char *descr = NULL;
	for (size_t i = 0; i < CC_ARRAY_SIZE(npy_types); i++)
		if (npy_types[i].dt == t->dtype)
			descr = npy_types[i].descr;
	if (!descr || t->rank < 0 || t->rank > INFER_MAX_RANK)
		return INFER_E_UNSUPPORTED;
	char hdr[512];
	int o = snprintf(hdr, sizeof(hdr), "{'descr': '%s', 'fortran_order': False, 'shape': (",
			 descr);
	int64_t n = 1;
	for (int i = 0; i < t->rank; i++) {
		if (t->dims[i] < 0 || __builtin_mul_overflow(n, t->dims[i], &n) ||
		    n > IR_MAX_ELEMS)
			return INFER_E_LIMIT;
		o += snprintf(hdr + o, sizeof(hdr) - (size_t)o, "%lld%s",
			      (long long)t->dims[i], t->rank == 1 ? "," : i + 1 < t->rank ? ", " : "");
	}
	o += snprintf(hdr + o, sizeof(hdr) - (size_t)o, "), }");
	size_t need = (size_t)n * infer_dtype_size(t->dtype);
	if (t->size < need || (need && !t->data))
		return INFER_E_BAD_INPUT;
	size_t hl = (size_t)o + 1; /* newline */
	size_t total_hdr = 10 + hl;
	size_t pad = (64 - total_hdr % 64) % 64;
	hl += pad;
	size_t len = 10 + hl + need;
	uint8_t *buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, "\x93NUMPY\x01\x00", 8);
	buf[8] = (uint8_t)(hl & 0xff);
	buf[9] = (uint8_t)(hl >> 8);
	memcpy(buf + 10, hdr, (size_t)o);
	memset(buf + 10 + o, ' ', pad);
	buf[10 + hl - 1] = '\n';
	if (need)
		memcpy(buf + 10 + hl, t->data, need);
	*ret_buf = buf;
	*ret_len = len;
	return 0;
}
