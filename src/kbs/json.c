/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small strict JSON reader (RFC 8259 + I-JSON, RFC 7493) and the RFC 8785
 * canonical writer.  The broker parses only hostile input, so the reader is
 * strict where general libraries are lenient: duplicate member names, invalid
 * UTF-8, lone surrogates, NUL characters, numbers that overflow a double,
 * nesting deeper than KJ_MAX_DEPTH and more than KJ_MAX_NODES values are all
 * errors.  (The project's attest library links json-c; jansson would clash
 * with it on exported symbols, so kbs carries this reader instead.)
 */
#include "kbs-internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

struct parser {
	const unsigned char *s;
	size_t n, i;
	size_t nodes;
};

static void skip_ws(struct parser *p)
{
	while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' ||
			       p->s[p->i] == '\n' || p->s[p->i] == '\r'))
		p->i++;
}

void kj_free(struct kj *v)
{
	if (!v)
		return;
	free(v->str);
	for (size_t i = 0; i < v->n; i++) {
		if (v->t == KJ_OBJECT)
			free(v->keys[i]);
		kj_free(v->items[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->klens);
	free(v);
}

static int hex4(struct parser *p, unsigned *ret)
{
	if (p->n - p->i < 4)
		return -1;
	unsigned v = 0;
	for (int k = 0; k < 4; k++) {
		unsigned char c = p->s[p->i++];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	*ret = v;
	return 0;
}

static int put_utf8(struct cc_buf *b, unsigned cp)
{
	char o[4];
	size_t n;
	if (cp < 0x80) {
		o[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		o[0] = (char)(0xc0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		o[0] = (char)(0xe0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		o[0] = (char)(0xf0 | (cp >> 18));
		o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return cc_buf_append(b, o, n);
}

/* Length of a valid UTF-8 sequence at s[0..n), 0 if invalid (overlongs,
 * surrogates and > U+10FFFF rejected). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	if (c < 0x80)
		return 1;
	size_t len;
	unsigned cp, min;
	if ((c & 0xe0) == 0xc0) {
		len = 2, cp = c & 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3, cp = c & 0x0f, min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		len = 4, cp = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t k = 1; k < len; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[k] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* p->s[p->i] is the opening quote. */
static int parse_string(struct parser *p, char **ret, size_t *ret_len)
{
	struct cc_buf b;
	cc_buf_init(&b, KBS_BODY_MAX, false);
	p->i++;
	int r = -1;
	while (p->i < p->n) {
		unsigned char c = p->s[p->i];
		if (c == '"') {
			p->i++;
			r = 0;
			break;
		}
		if (c < 0x20)
			break;
		if (c == '\\') {
			if (++p->i >= p->n)
				break;
			unsigned char e = p->s[p->i++];
			unsigned cp;
			int rr = 0;
			switch (e) {
			case '"': rr = cc_buf_putc(&b, '"'); break;
			case '\\': rr = cc_buf_putc(&b, '\\'); break;
			case '/': rr = cc_buf_putc(&b, '/'); break;
			case 'b': rr = cc_buf_putc(&b, '\b'); break;
			case 'f': rr = cc_buf_putc(&b, '\f'); break;
			case 'n': rr = cc_buf_putc(&b, '\n'); break;
			case 'r': rr = cc_buf_putc(&b, '\r'); break;
			case 't': rr = cc_buf_putc(&b, '\t'); break;
			case 'u':
				if (hex4(p, &cp))
					goto out;
				if (cp >= 0xdc00 && cp <= 0xdfff)
					goto out; /* lone low surrogate */
				if (cp >= 0xd800 && cp <= 0xdbff) {
					unsigned lo;
					if (p->n - p->i < 6 || p->s[p->i] != '\\' ||
					    p->s[p->i + 1] != 'u')
						goto out;
					p->i += 2;
					if (hex4(p, &lo) || lo < 0xdc00 || lo > 0xdfff)
						goto out;
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				}
				if (cp == 0)
					goto out; /* NUL: refused everywhere */
				rr = put_utf8(&b, cp);
				break;
			default:
				goto out;
			}
			if (rr)
				goto out;
			continue;
		}
		size_t l = utf8_len(p->s + p->i, p->n - p->i);
		if (!l || cc_buf_append(&b, p->s + p->i, l))
			goto out;
		p->i += l;
	}
out:
	if (r) {
		cc_buf_free(&b);
		return KBS_E_BADREQ;
	}
	if (!b.data && cc_buf_append(&b, "", 0)) {
		cc_buf_free(&b);
		return -ENOMEM;
	}
	*ret = (char *)cc_buf_steal(&b, ret_len);
	return 0;
}

static int parse_number(struct parser *p, struct kj *v)
{
	size_t st = p->i;
	if (p->i < p->n && p->s[p->i] == '-')
		p->i++;
	if (p->i >= p->n)
		return KBS_E_BADREQ;
	if (p->s[p->i] == '0') {
		p->i++;
	} else if (p->s[p->i] >= '1' && p->s[p->i] <= '9') {
		while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
			p->i++;
	} else {
		return KBS_E_BADREQ;
	}
	if (p->i < p->n && p->s[p->i] == '.') {
		p->i++;
		size_t d = p->i;
		while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
			p->i++;
		if (p->i == d)
			return KBS_E_BADREQ;
	}
	if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
		p->i++;
		if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-'))
			p->i++;
		size_t d = p->i;
		while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
			p->i++;
		if (p->i == d)
			return KBS_E_BADREQ;
	}
	size_t len = p->i - st;
	if (len > 400)
		return KBS_E_BADREQ;
	char tmp[401];
	memcpy(tmp, p->s + st, len);
	tmp[len] = 0;
	errno = 0;
	double d = strtod(tmp, NULL);
	if (!isfinite(d))
		return KBS_E_BADREQ;
	v->num = d;
	return 0;
}

static int key_sort_cmp(const void *a, const void *b);

static int parse_value(struct parser *p, struct kj **ret, unsigned depth)
{
	if (depth > KJ_MAX_DEPTH || ++p->nodes > KJ_MAX_NODES)
		return KBS_E_BADREQ;
	skip_ws(p);
	if (p->i >= p->n)
		return KBS_E_BADREQ;
	struct kj *v = calloc(1, sizeof *v);
	if (!v)
		return -ENOMEM;
	int r = 0;
	unsigned char c = p->s[p->i];
	if (c == '{' || c == '[') {
		bool obj = c == '{';
		v->t = obj ? KJ_OBJECT : KJ_ARRAY;
		p->i++;
		size_t cap = 0;
		skip_ws(p);
		if (p->i < p->n && p->s[p->i] == (obj ? '}' : ']')) {
			p->i++;
			*ret = v;
			return 0;
		}
		for (;;) {
			if (v->n == cap) {
				size_t nc = cap ? cap * 2 : 4;
				struct kj **it = realloc(v->items, nc * sizeof *it);
				if (!it) {
					r = -ENOMEM;
					break;
				}
				v->items = it;
				if (obj) {
					char **k = realloc(v->keys, nc * sizeof *k);
					if (!k) {
						r = -ENOMEM;
						break;
					}
					v->keys = k;
					size_t *kl = realloc(v->klens, nc * sizeof *kl);
					if (!kl) {
						r = -ENOMEM;
						break;
					}
					v->klens = kl;
				}
				cap = nc;
			}
			if (obj) {
				skip_ws(p);
				if (p->i >= p->n || p->s[p->i] != '"') {
					r = KBS_E_BADREQ;
					break;
				}
				char *k = NULL;
				size_t kl = 0;
				if ((r = parse_string(p, &k, &kl)))
					break;
				skip_ws(p);
				if (p->i >= p->n || p->s[p->i] != ':') {
					free(k);
					r = KBS_E_BADREQ;
					break;
				}
				p->i++;
				struct kj *val = NULL;
				if ((r = parse_value(p, &val, depth + 1))) {
					free(k);
					break;
				}
				v->keys[v->n] = k;
				v->klens[v->n] = kl;
				v->items[v->n++] = val;
			} else {
				struct kj *val = NULL;
				if ((r = parse_value(p, &val, depth + 1)))
					break;
				v->items[v->n++] = val;
			}
			skip_ws(p);
			if (p->i < p->n && p->s[p->i] == ',') {
				p->i++;
				continue;
			}
			if (p->i < p->n && p->s[p->i] == (obj ? '}' : ']')) {
				p->i++;
				break;
			}
			r = KBS_E_BADREQ;
			break;
		}
		if (!r && obj && v->n > 1) {
			/* Duplicate names: sort a copy of the key pointers. */
			const char **ks = malloc(v->n * sizeof *ks);
			if (!ks) {
				r = -ENOMEM;
			} else {
				for (size_t i = 0; i < v->n; i++)
					ks[i] = v->keys[i];
				qsort(ks, v->n, sizeof *ks, key_sort_cmp);
				for (size_t i = 1; i < v->n && !r; i++)
					if (strcmp(ks[i - 1], ks[i]) == 0)
						r = KBS_E_BADREQ;
				free(ks);
			}
		}
	} else if (c == '"') {
		v->t = KJ_STRING;
		r = parse_string(p, &v->str, &v->len);
		if (!r && memchr(v->str, 0, v->len))
			r = KBS_E_BADREQ;
	} else if (c == '-' || (c >= '0' && c <= '9')) {
		v->t = KJ_NUMBER;
		r = parse_number(p, v);
	} else if (p->n - p->i >= 4 && memcmp(p->s + p->i, "true", 4) == 0) {
		v->t = KJ_TRUE;
		p->i += 4;
	} else if (p->n - p->i >= 5 && memcmp(p->s + p->i, "false", 5) == 0) {
		v->t = KJ_FALSE;
		p->i += 5;
	} else if (p->n - p->i >= 4 && memcmp(p->s + p->i, "null", 4) == 0) {
		v->t = KJ_NULL;
		p->i += 4;
	} else {
		r = KBS_E_BADREQ;
	}
	if (r) {
		kj_free(v);
		return r;
	}
	*ret = v;
	return 0;
}

int kj_parse(const void *text, size_t len, struct kj **ret)
{
	if (!ret || (!text && len))
		return -EINVAL;
	if (len > KBS_BODY_MAX)
		return KBS_E_TOOBIG;
	struct parser p = {text, len, 0, 0};
	/* A UTF-8 byte order mark is not JSON (RFC 8259 §8.1 allows refusing). */
	struct kj *v = NULL;
	int r = parse_value(&p, &v, 0);
	if (r)
		return r;
	skip_ws(&p);
	if (p.i != p.n) {
		kj_free(v);
		return KBS_E_BADREQ;
	}
	*ret = v;
	return 0;
}

const struct kj *kj_get(const struct kj *o, const char *key)
{
	if (!o || o->t != KJ_OBJECT)
		return NULL;
	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->keys[i], key) == 0)
			return o->items[i];
	return NULL;
}

const char *kj_str(const struct kj *v)
{
	return v && v->t == KJ_STRING ? v->str : NULL;
}

/* ------------------------------------------------------------------------ */
/* Writing                                                                  */

int kj_write_string(struct cc_buf *out, const char *s, size_t n)
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

int kj_write_cstr(struct cc_buf *out, const char *s)
{
	return kj_write_string(out, s, strlen(s));
}

/* ECMAScript Number::toString for a finite double (RFC 8785 §3.2.2.3). */
int kj_write_number(struct cc_buf *out, double d)
{
	if (!isfinite(d))
		return KBS_E_BADREQ;
	if (d == 0)
		return cc_buf_putc(out, '0');
	char tmp[40];
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(tmp, sizeof tmp, "%.*e", prec - 1, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	char digits[24];
	size_t k = 0;
	const char *q = tmp;
	bool neg = false;
	if (*q == '-') {
		neg = true;
		q++;
	}
	for (; *q && *q != 'e'; q++)
		if (*q >= '0' && *q <= '9' && k < sizeof digits - 1)
			digits[k++] = *q;
	if (*q != 'e' || k == 0)
		return KBS_E_BADREQ;
	long e = strtol(q + 1, NULL, 10);
	while (k > 1 && digits[k - 1] == '0')
		k--;
	digits[k] = 0;
	long n = e + 1; /* value = 0.DIGITS x 10^n */
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
			r = cc_buf_printf(out, "e%c%ld", n - 1 < 0 ? '-' : '+', labs(n - 1));
	}
	return r;
}

/* Next UTF-16 code unit of a valid UTF-8 string. */
struct u16it {
	const unsigned char *s;
	size_t n, i;
	unsigned pending;
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
	if (c < 0x80)
		cp = c, len = 1;
	else if ((c & 0xe0) == 0xc0)
		cp = c & 0x1f, len = 2;
	else if ((c & 0xf0) == 0xe0)
		cp = c & 0x0f, len = 3;
	else
		cp = c & 0x07, len = 4;
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

static int u16_cmp(const char *ka, const char *kb)
{
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

static int key_sort_cmp(const void *a, const void *b)
{
	return u16_cmp(*(const char *const *)a, *(const char *const *)b);
}

struct idx_key {
	const char *k;
	size_t i;
};

static int idx_cmp(const void *a, const void *b)
{
	return u16_cmp(((const struct idx_key *)a)->k, ((const struct idx_key *)b)->k);
}

static int canon(const struct kj *v, struct cc_buf *out, unsigned depth)
{
	if (depth > KJ_MAX_DEPTH)
		return KBS_E_BADREQ;
	switch (v->t) {
	case KJ_NULL: return cc_buf_puts(out, "null");
	case KJ_TRUE: return cc_buf_puts(out, "true");
	case KJ_FALSE: return cc_buf_puts(out, "false");
	case KJ_NUMBER: return kj_write_number(out, v->num);
	case KJ_STRING: return kj_write_string(out, v->str, v->len);
	case KJ_ARRAY: {
		int r = cc_buf_putc(out, '[');
		for (size_t i = 0; r == 0 && i < v->n; i++) {
			if (i)
				r = cc_buf_putc(out, ',');
			if (!r)
				r = canon(v->items[i], out, depth + 1);
		}
		return r ? r : cc_buf_putc(out, ']');
	}
	case KJ_OBJECT: {
		struct idx_key *ks = NULL;
		if (v->n) {
			ks = calloc(v->n, sizeof *ks);
			if (!ks)
				return -ENOMEM;
			for (size_t i = 0; i < v->n; i++)
				ks[i] = (struct idx_key){v->keys[i], i};
			qsort(ks, v->n, sizeof *ks, idx_cmp);
		}
		int r = cc_buf_putc(out, '{');
		for (size_t i = 0; r == 0 && i < v->n; i++) {
			if (i)
				r = cc_buf_putc(out, ',');
			if (!r)
				r = kj_write_string(out, v->keys[ks[i].i], v->klens[ks[i].i]);
			if (!r)
				r = cc_buf_putc(out, ':');
			if (!r)
				r = canon(v->items[ks[i].i], out, depth + 1);
		}
		free(ks);
		return r ? r : cc_buf_putc(out, '}');
	}
	}
	return KBS_E_BADREQ;
}

int kj_canon(const struct kj *v, struct cc_buf *out)
{
	if (!v || !out)
		return -EINVAL;
	return canon(v, out, 0);
}

int kbs_jcs_canonicalize(const char *json, size_t len, char **ret,
			 size_t *ret_len)
{
	if (!json || !ret)
		return -EINVAL;
	struct kj *v = NULL;
	int r = kj_parse(json, len, &v);
	if (r)
		return r;
	struct cc_buf b;
	cc_buf_init(&b, (size_t)KBS_BODY_MAX * 2, false);
	r = canon(v, &b, 0);
	kj_free(v);
	if (!r && !b.data)
		r = cc_buf_append(&b, "", 0);
	if (r) {
		cc_buf_free(&b);
		return r;
	}
	size_t n = 0;
	*ret = (char *)cc_buf_steal(&b, &n);
	if (ret_len)
		*ret_len = n;
	return 0;
}

int kbs_report_data_from_json(const struct kj *runtime_data,
			      uint8_t ret[KBS_REPORT_DATA_LEN])
{
	struct cc_buf b;
	cc_buf_init(&b, (size_t)KBS_BODY_MAX * 2, false);
	int r = canon(runtime_data, &b, 0);
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
	struct kj *v = NULL;
	int r = kj_parse(runtime_data, len, &v);
	if (r)
		return r;
	r = kbs_report_data_from_json(v, ret);
	kj_free(v);
	return r;
}
