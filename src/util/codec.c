/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Strict hex and base64.  Decoders are table-driven without data-dependent
 * branches on the decoded values beyond validity, so decoding key material
 * does not leak it through obvious timing differences.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "ccserve/util.h"

static const char hexdig[] = "0123456789abcdef";

int cc_hex_encode(const void *in, size_t len, char *out, size_t outsz)
{
	size_t need;
	if (!cc_mul_ok(len, 2, &need) || !cc_add_ok(need, 1, &need) || outsz < need)
		return CC_E_SHORTBUF;
	const uint8_t *p = in;
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hexdig[p[i] >> 4];
		out[2 * i + 1] = hexdig[p[i] & 15];
	}
	out[2 * len] = '\0';
	return 0;
}

int cc_hex_encode_alloc(const void *in, size_t len, char **ret)
{
	size_t need;
	if (!cc_mul_ok(len, 2, &need) || !cc_add_ok(need, 1, &need))
		return CC_E_OVERFLOW;
	char *o = malloc(need);
	if (!o)
		return -ENOMEM;
	int r = cc_hex_encode(in, len, o, need);
	if (r < 0) {
		free(o);
		return r;
	}
	*ret = o;
	return 0;
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int cc_hex_decode(const char *in, size_t inlen, void *out, size_t outsz, size_t *ret_len)
{
	if (inlen % 2)
		return CC_E_ODDLEN;
	size_t n = inlen / 2;
	if (outsz < n)
		return CC_E_SHORTBUF;
	uint8_t *o = out;
	for (size_t i = 0; i < n; i++) {
		int hi = hexval((unsigned char)in[2 * i]);
		int lo = hexval((unsigned char)in[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			cc_wipe(out, outsz);
			return CC_E_BADCHAR;
		}
		o[i] = (uint8_t)(hi << 4 | lo);
	}
	if (ret_len)
		*ret_len = n;
	return 0;
}

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static bool variant_pads(enum cc_b64_variant v)
{
	return v == CC_B64_STD;
}

size_t cc_base64_encoded_size(size_t len, enum cc_b64_variant v)
{
	if (len > (SIZE_MAX / 4) * 3 - 3)
		return 0;
	size_t full = len / 3, rem = len % 3;
	size_t n = full * 4;
	if (rem)
		n += variant_pads(v) ? 4 : rem + 1;
	return n + 1;
}

int cc_base64_encode(const void *in, size_t len, enum cc_b64_variant v, char *out, size_t outsz)
{
	size_t need = cc_base64_encoded_size(len, v);
	if (need == 0)
		return CC_E_OVERFLOW;
	if (outsz < need)
		return CC_E_SHORTBUF;
	const char *alpha = v == CC_B64_STD ? b64_std : b64_url;
	const uint8_t *p = in;
	size_t o = 0, i = 0;
	for (; i + 3 <= len; i += 3) {
		uint32_t w = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		out[o++] = alpha[w >> 18 & 63];
		out[o++] = alpha[w >> 12 & 63];
		out[o++] = alpha[w >> 6 & 63];
		out[o++] = alpha[w & 63];
	}
	size_t rem = len - i;
	if (rem) {
		uint32_t w = (uint32_t)p[i] << 16 | (rem == 2 ? (uint32_t)p[i + 1] << 8 : 0);
		out[o++] = alpha[w >> 18 & 63];
		out[o++] = alpha[w >> 12 & 63];
		if (rem == 2)
			out[o++] = alpha[w >> 6 & 63];
		if (variant_pads(v)) {
			if (rem == 1)
				out[o++] = '=';
			out[o++] = '=';
		}
	}
	out[o] = '\0';
	return 0;
}

int cc_base64_encode_alloc(const void *in, size_t len, enum cc_b64_variant v, char **ret)
{
	size_t need = cc_base64_encoded_size(len, v);
	if (need == 0)
		return CC_E_OVERFLOW;
	char *o = malloc(need);
	if (!o)
		return -ENOMEM;
	int r = cc_base64_encode(in, len, v, o, need);
	if (r < 0) {
		free(o);
		return r;
	}
	*ret = o;
	return 0;
}

size_t cc_base64_decoded_max(size_t inlen)
{
	return inlen / 4 * 3 + (inlen % 4 ? 3 : 0);
}

/* 256-entry decode tables (-1 = not in the alphabet), built once. */
static int8_t dec_std[256], dec_url[256];
static pthread_once_t dec_once = PTHREAD_ONCE_INIT;

static void build_tables(void)
{
	memset(dec_std, -1, sizeof(dec_std));
	memset(dec_url, -1, sizeof(dec_url));
	for (int i = 0; i < 64; i++) {
		dec_std[(unsigned char)b64_std[i]] = (int8_t)i;
		dec_url[(unsigned char)b64_url[i]] = (int8_t)i;
	}
}

int cc_base64_decode(const char *in, size_t inlen, enum cc_b64_variant v, void *out,
		     size_t outsz, size_t *ret_len)
{
	/* Split off padding. */
	size_t pad = 0;
	while (pad < inlen && pad < 3 && in[inlen - 1 - pad] == '=')
		pad++;
	size_t body = inlen - pad;
	int rc = 0;

	if (pad) {
		if (v == CC_B64_URL_NOPAD)
			return CC_E_BADPAD;
		if (inlen % 4 != 0 || pad > 2)
			return CC_E_BADPAD;
	} else if (v == CC_B64_STD && inlen % 4 != 0) {
		return CC_E_BADPAD;
	}
	if (body % 4 == 1)
		return CC_E_BADPAD;
	/* The padding must complete exactly the last quantum. */
	if (pad && (body % 4) + pad != 4)
		return CC_E_BADPAD;

	size_t n = body / 4 * 3 + (body % 4 ? body % 4 - 1 : 0);
	if (outsz < n)
		return CC_E_SHORTBUF;

	pthread_once(&dec_once, build_tables);
	const int8_t *t = v == CC_B64_STD ? dec_std : dec_url;
	const unsigned char *u = (const unsigned char *)in;
	uint8_t *o = out;
	size_t oi = 0, i = 0;
	for (; i + 4 <= body; i += 4) {
		int a = t[u[i]], b = t[u[i + 1]], c = t[u[i + 2]], d = t[u[i + 3]];
		if ((a | b | c | d) < 0) {
			rc = CC_E_BADCHAR;
			goto fail;
		}
		uint32_t w = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
		o[oi++] = (uint8_t)(w >> 16);
		o[oi++] = (uint8_t)(w >> 8);
		o[oi++] = (uint8_t)w;
	}
	size_t rem = body - i;
	if (rem) {
		int a = t[u[i]], b = t[u[i + 1]];
		int c = rem == 3 ? t[u[i + 2]] : 0;
		if ((a | b | c) < 0) {
			rc = CC_E_BADCHAR;
			goto fail;
		}
		uint32_t w = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6;
		o[oi++] = (uint8_t)(w >> 16);
		if (rem == 3)
			o[oi++] = (uint8_t)(w >> 8);
		/* Canonical form: the unused low bits must be zero. */
		uint32_t spare = rem == 2 ? (w & 0xffff) : (w & 0xff);
		if (spare) {
			rc = CC_E_BADPAD;
			goto fail;
		}
	}
	if (ret_len)
		*ret_len = oi;
	return 0;
fail:
	cc_wipe(out, outsz);
	return rc;
}

int cc_base64_decode_alloc(const char *in, size_t inlen, enum cc_b64_variant v, uint8_t **ret,
			   size_t *ret_len)
{
	size_t max = cc_base64_decoded_max(inlen);
	uint8_t *o = malloc(max + 1);
	if (!o)
		return -ENOMEM;
	size_t n = 0;
	int r = cc_base64_decode(in, inlen, v, o, max, &n);
	if (r < 0) {
		free(o);
		return r;
	}
	o[n] = '\0';
	*ret = o;
	if (ret_len)
		*ret_len = n;
	return 0;
}
