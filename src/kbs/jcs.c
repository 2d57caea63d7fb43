/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RFC 8785 JSON Canonicalization Scheme over jansson values, and the KBS
 * REPORTDATA rule built on it.
 */
#include "kbs-internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

json_t *kbs_json_parse(const void *text, size_t len, int *ret_err)
{
	json_error_t jerr;
	json_t *v = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!v) {
		cc_log(CC_LOG_DEBUG, KBS_LOG, "JSON rejected at line %d column %d: %s",
		       jerr.line, jerr.column, jerr.text);
		if (ret_err)
			*ret_err = KBS_E_BADREQ;
	}
	return v;
}

static int put_string(struct cc_buf *out, const char *s, size_t n)
{
	static const char hexd[] = "0123456789abcdef";
	int r = cc_buf_putc(out, '"');
	for (size_t i = 0; r == 0 && i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '"': r = cc_buf_puts(out, "\\\""); break;
		case '\\': r = cc_buf_puts(out, "\\\\"); break;
		case '\b': r = cc_buf_puts(out, "\\b"); break;
		case '\f': r = cc_buf_puts(out, "\\f"); break;
		case '\n': r = cc_buf_puts(out, "\\n"); break;
		case '\r': r = cc_buf_puts(out, "\\r"); break;
		case '\t': r = cc_buf_puts(out, "\\t"); break;
		default:
			if (c < 0x20) {
				char e[7] = {'\\', 'u', '0', '0', hexd[c >> 4], hexd[c & 15], 0};
				r = cc_buf_puts(out, e);
			} else {
				r = cc_buf_putc(out, (char)c);
			}
		}
	}
	return r ? r : cc_buf_putc(out, '"');
}

/* ECMAScript Number::toString for a finite double. */
static int put_double(struct cc_buf *out, double d)
{
	if (!isfinite(d))
		return KBS_E_BADREQ;
	if (d == 0)
		return cc_buf_putc(out, '0');
	char tmp[40];
	int prec;
	for (prec = 1; prec <= 17; prec++) {
		snprintf(tmp, sizeof tmp, "%.*e", prec - 1, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	/* tmp = [-]D[.DDD]e[+-]XX */
	char digits[24];
	size_t k = 0;
	const char *p = tmp;
	bool neg = false;
	if (*p == '-') {
		neg = true;
		p++;
	}
	for (; *p && *p != 'e'; p++)
		if (*p >= '0' && *p <= '9' && k < sizeof digits - 1)
			digits[k++] = *p;
	if (*p != 'e')
		return KBS_E_BADREQ;
	long e = strtol(p + 1, NULL, 10);
	while (k > 1 && digits[k - 1] == '0')
		k--;
	digits[k] = 0;
	long n = e + 1; /* value = 0.digits * 10^n */
	int r = neg ? cc_buf_putc(out, '-') : 0;
	if (r)
		return r;
	if ((long)k <= n && n <= 21) {
		r = cc_buf_append(out, digits, k);
		for (long i = 0; r == 0 && i < n - (long)k; i++)
			r = cc_buf_putc(out, '0');
	} else if (0 < n && n <= 21) {
		r = cc_buf_append(out, digits, (size_t)n);
		if (!r)
			r = cc_buf_putc(out, '.');
		if (!r)
			r = cc_buf_append(out, digits + n, k - (size_t)n);
	} else if (-6 < n && n <= 0) {
		r = cc_buf_puts(out, "0.");
		for (long i = 0; r == 0 && i < -n; i++)
			r = cc_buf_putc(out, '0');
		if (!r)
			r = cc_buf_append(out, digits, k);
	} else {
		r = cc_buf_putc(out, digits[0]);
		if (!r && k > 1) {
			r = cc_buf_putc(out, '.');
			if (!r)
				r = cc_buf_append(out, digits + 1, k - 1);
		}
		if (!r)
			r = cc_buf_printf(out, "e%c%ld", n - 1 < 0 ? '-' : '+',
					  labs(n - 1));
	}
	return r;
}

/* Next UTF-16 code unit of a UTF-8 string (already validated by jansson). */
struct u16it {
	const unsigned char *s;
	size_t n, i;
	unsigned pending; /* low surrogate to emit next, 0 if none */
};

static int u16_next(struct u16it *it)
{
	if (it->pending) {
		int u = (int)it->pending;
		it->pending = 0;
		return u;
	}
	if (it->i >= it->n)
		return -1;
	unsigned c = it->s[it->i];
	unsigned cp;
	size_t len;
	if (c < 0x80) {
		cp = c;
		len = 1;
	} else if ((c & 0xe0) == 0xc0) {
		cp = c & 0x1f;
		len = 2;
	} else if ((c & 0xf0) == 0xe0) {
		cp = c & 0x0f;
		len = 3;
	} else {
		cp = c & 0x07;
		len = 4;
	}
	for (size_t j = 1; j < len && it->i + j < it->n; j++)
		cp = (cp << 6) | (it->s[it->i + j] & 0x3f);
	it->i += len;
	if (cp >= 0x10000) {
		cp -= 0x10000;
		it->pending = 0xdc00 | (cp & 0x3ff);
		return (int)(0xd800 | (cp >> 10));
	}
	return (int)cp;
}

static int key_cmp(const void *a, const void *b)
{
	const char *ka = *(const char *const *)a, *kb = *(const char *const *)b;
	struct u16it x = {(const unsigned char *)ka, strlen(ka), 0, 0};
	struct u16it y = {(const unsigned char *)kb, strlen(kb), 0, 0};
	for (;;) {
		int ua = u16_next(&x), ub = u16_next(&y);
		if (ua != ub)
			return ua < ub ? -1 : 1;
		if (ua < 0)
			return 0;
	}
}

static int jcs(const json_t *v, struct cc_buf *out, unsigned depth)
{
	if (depth > KBS_JCS_MAX_DEPTH)
		return KBS_E_BADREQ;
	switch (json_typeof(v)) {
	case JSON_NULL: return cc_buf_puts(out, "null");
	case JSON_TRUE: return cc_buf_puts(out, "true");
	case JSON_FALSE: return cc_buf_puts(out, "false");
	case JSON_STRING:
		return put_string(out, json_string_value(v), json_string_length(v));
	case JSON_INTEGER: {
		json_int_t i = json_integer_value(v);
		/* I-JSON: integers must be exact as IEEE doubles. */
		if (i > (1LL << 53) || i < -(1LL << 53))
			return KBS_E_BADREQ;
		return put_double(out, (double)i);
	}
	case JSON_REAL: return put_double(out, json_real_value(v));
	case JSON_ARRAY: {
		int r = cc_buf_putc(out, '[');
		for (size_t i = 0; r == 0 && i < json_array_size(v); i++) {
			if (i)
				r = cc_buf_putc(out, ',');
			if (!r)
				r = jcs(json_array_get(v, i), out, depth + 1);
		}
		return r ? r : cc_buf_putc(out, ']');
	}
	case JSON_OBJECT: {
		size_t n = json_object_size(v);
		const char **keys = NULL;
		if (n) {
			keys = calloc(n, sizeof *keys);
			if (!keys)
				return -ENOMEM;
		}
		size_t k = 0;
		const char *key;
		json_t *val;
		json_object_foreach((json_t *)v, key, val) {
			if (k < n)
				keys[k++] = key;
		}
		if (k)
			qsort(keys, k, sizeof *keys, key_cmp);
		int r = cc_buf_putc(out, '{');
		for (size_t i = 0; r == 0 && i < k; i++) {
			if (i)
				r = cc_buf_putc(out, ',');
			if (!r)
				r = put_string(out, keys[i], strlen(keys[i]));
			if (!r)
				r = cc_buf_putc(out, ':');
			if (!r)
				r = jcs(json_object_get(v, keys[i]), out, depth + 1);
		}
		free(keys);
		return r ? r : cc_buf_putc(out, '}');
	}
	}
	return KBS_E_BADREQ;
}

int kbs_jcs_value(const json_t *v, struct cc_buf *out)
{
	if (!v || !out)
		return -EINVAL;
	return jcs(v, out, 0);
}

int kbs_jcs_canonicalize(const char *json, size_t len, char **ret,
			 size_t *ret_len)
{
	if (!json || !ret)
		return -EINVAL;
	if (len > KBS_BODY_MAX)
		return KBS_E_TOOBIG;
	int err = 0;
	json_t *v = kbs_json_parse(json, len, &err);
	if (!v)
		return err;
	struct cc_buf b;
	cc_buf_init(&b, KBS_BODY_MAX * 2, false);
	int r = jcs(v, &b, 0);
	json_decref(v);
	if (!r && !b.data)
		r = cc_buf_append(&b, "", 0);
	if (r) {
		cc_buf_free(&b);
		return r;
	}
	*ret = (char *)cc_buf_steal(&b, ret_len);
	return 0;
}

int kbs_report_data_from_json(const json_t *runtime_data,
			      uint8_t ret[KBS_REPORT_DATA_LEN])
{
	struct cc_buf b;
	cc_buf_init(&b, KBS_BODY_MAX * 2, false);
	int r = jcs(runtime_data, &b, 0);
	if (!r) {
		memset(ret, 0, KBS_REPORT_DATA_LEN);
		SHA384(b.data, b.len, ret);
	}
	cc_buf_free(&b);
	return r;
}

int kbs_report_data(const char *runtime_data, size_t len,
		    uint8_t ret[KBS_REPORT_DATA_LEN])
{
	if (!runtime_data || !ret)
		return -EINVAL;
	int err = 0;
	json_t *v = kbs_json_parse(runtime_data, len, &err);
	if (!v)
		return err;
	int r = kbs_report_data_from_json(v, ret);
	json_decref(v);
	return r;
}
