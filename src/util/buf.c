/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ccserve/util.h"

void cc_buf_init(struct cc_buf *b, size_t max, bool secure)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max ? max : SIZE_MAX / 2;
	b->secure = secure;
}

int cc_buf_reserve(struct cc_buf *b, size_t extra)
{
	size_t want;
	/* +1 keeps room for the NUL terminator after len. */
	if (!cc_add_ok(b->len, extra, &want) || want > b->max)
		return CC_E_TOOBIG;
	if (want + 1 <= b->cap)
		return 0;
	size_t ncap = b->cap ? b->cap : 64;
	while (ncap < want + 1) {
		if (ncap > SIZE_MAX / 2) {
			ncap = want + 1;
			break;
		}
		ncap *= 2;
	}
	/* Do not overshoot the cap by more than the terminator. */
	if (ncap > b->max + 1)
		ncap = b->max + 1;
	uint8_t *n;
	if (b->secure) {
		n = cc_secure_alloc(ncap);
		if (!n)
			return -ENOMEM;
		if (b->data) {
			memcpy(n, b->data, b->len + 1);
			cc_secure_free(b->data);
		}
	} else {
		n = realloc(b->data, ncap);
		if (!n)
			return -ENOMEM;
	}
	b->data = n;
	b->cap = ncap;
	b->data[b->len] = '\0';
	return 0;
}

int cc_buf_append(struct cc_buf *b, const void *p, size_t n)
{
	int r = cc_buf_reserve(b, n);
	if (r < 0)
		return r;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int cc_buf_putc(struct cc_buf *b, char c)
{
	return cc_buf_append(b, &c, 1);
}

int cc_buf_puts(struct cc_buf *b, const char *s)
{
	return cc_buf_append(b, s, strlen(s));
}

int cc_buf_printf(struct cc_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	int r = cc_buf_reserve(b, (size_t)n);
	if (r < 0)
		return r;
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void cc_buf_reset(struct cc_buf *b)
{
	if (b->data) {
		if (b->secure)
			cc_wipe(b->data, b->len);
		b->data[0] = '\0';
	}
	b->len = 0;
}

void cc_buf_free(struct cc_buf *b)
{
	if (b->secure)
		cc_secure_free(b->data);
	else
		free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

uint8_t *cc_buf_steal(struct cc_buf *b, size_t *ret_len)
{
	uint8_t *d = b->data;
	if (ret_len)
		*ret_len = b->len;
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return d;
}
