/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "ccserve/util.h"

void cc_reader_init(struct cc_reader *r, const void *data, size_t len)
{
	r->data = data;
	r->len = data ? len : 0;
	r->off = 0;
	r->err = 0;
}

size_t cc_reader_remaining(const struct cc_reader *r)
{
	return r->err ? 0 : r->len - r->off;
}

/* Reserve n bytes: returns a pointer to them or NULL (sticky error). */
static const uint8_t *take(struct cc_reader *r, size_t n)
{
	if (r->err)
		return NULL;
	if (n > r->len - r->off) {
		r->err = CC_E_TRUNCATED;
		return NULL;
	}
	const uint8_t *p = r->data + r->off;
	r->off += n;
	return p;
}

int cc_read_u8(struct cc_reader *r, uint8_t *ret)
{
	const uint8_t *p = take(r, 1);
	if (!p)
		return r->err;
	*ret = p[0];
	return 0;
}

int cc_read_u16le(struct cc_reader *r, uint16_t *ret)
{
	const uint8_t *p = take(r, 2);
	if (!p)
		return r->err;
	*ret = (uint16_t)(p[0] | p[1] << 8);
	return 0;
}

int cc_read_u32le(struct cc_reader *r, uint32_t *ret)
{
	const uint8_t *p = take(r, 4);
	if (!p)
		return r->err;
	*ret = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
	return 0;
}

int cc_read_u64le(struct cc_reader *r, uint64_t *ret)
{
	const uint8_t *p = take(r, 8);
	if (!p)
		return r->err;
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	*ret = v;
	return 0;
}

int cc_read_u16be(struct cc_reader *r, uint16_t *ret)
{
	const uint8_t *p = take(r, 2);
	if (!p)
		return r->err;
	*ret = (uint16_t)(p[0] << 8 | p[1]);
	return 0;
}

int cc_read_u32be(struct cc_reader *r, uint32_t *ret)
{
	const uint8_t *p = take(r, 4);
	if (!p)
		return r->err;
	*ret = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
	return 0;
}

int cc_read_u64be(struct cc_reader *r, uint64_t *ret)
{
	const uint8_t *p = take(r, 8);
	if (!p)
		return r->err;
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	*ret = v;
	return 0;
}

int cc_read_bytes(struct cc_reader *r, size_t n, const uint8_t **ret)
{
	const uint8_t *p = take(r, n);
	if (!p)
		return r->err;
	*ret = p;
	return 0;
}

int cc_read_copy(struct cc_reader *r, void *dst, size_t n)
{
	const uint8_t *p = take(r, n);
	if (!p)
		return r->err;
	if (n)
		memcpy(dst, p, n);
	return 0;
}

int cc_reader_skip(struct cc_reader *r, size_t n)
{
	return take(r, n) ? 0 : r->err;
}

int cc_reader_sub(struct cc_reader *r, size_t n, struct cc_reader *ret_sub)
{
	const uint8_t *p = take(r, n);
	if (!p)
		return r->err;
	cc_reader_init(ret_sub, p, n);
	return 0;
}
