/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A strict HTTP/1.1 head parser (RFC 9112) and chunked decoder.  Strict on
 * purpose: CRLF line ends only, no obs-fold, no whitespace before the colon,
 * one Content-Length value, never both Content-Length and
 * Transfer-Encoding -- the ambiguities request smuggling lives on.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

static bool is_tchar(uint8_t c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_vchar_or_obs(uint8_t c)
{
	return (c >= 0x21 && c <= 0x7e) || c >= 0x80;
}

bool h1_token_eq(const uint8_t *p, size_t n, const char *lit)
{
	size_t l = strlen(lit);
	return n == l && strncasecmp((const char *)p, lit, l) == 0;
}

/* Find "\r\n\r\n" in buf[from, len).  Returns the offset after it or 0. */
static size_t find_end(const uint8_t *buf, size_t len, size_t from)
{
	for (size_t i = from; i + 3 < len; i++) {
		if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n')
			return i + 4;
	}
	return 0;
}

/* Parse a comma-separated list value, calling tokens one by one. */
static bool list_has(const uint8_t *v, size_t n, const char *tok)
{
	size_t i = 0;
	while (i < n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		size_t s = i;
		while (i < n && v[i] != ',')
			i++;
		size_t e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e > s && h1_token_eq(v + s, e - s, tok))
			return true;
	}
	return false;
}

static int parse_u64_dec(const uint8_t *p, size_t n, uint64_t *ret)
{
	if (n == 0 || n > 19)
		return NET_E_PROTO;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return NET_E_PROTO;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	*ret = v;
	return 0;
}

int h1_parse_head(const uint8_t *buf, size_t len, bool response, size_t max_head,
		  size_t *scanned, struct h1_field *fields, size_t max_fields,
		  struct h1_head *out)
{
	if (max_head > UINT32_MAX)
		max_head = UINT32_MAX;
	size_t lim = len < max_head ? len : max_head;
	size_t from = *scanned > 3 ? *scanned - 3 : 0;
	/* Tolerate (RFC 9112 2.2) empty lines before a request line. */
	size_t start = 0;
	if (!response) {
		while (start + 1 < lim && buf[start] == '\r' && buf[start + 1] == '\n')
			start += 2;
		if (start > 8)
			return NET_E_PROTO;
		if (from < start)
			from = start;
	}
	size_t end = find_end(buf, lim, from);
	if (!end) {
		*scanned = lim;
		return len >= max_head ? NET_E_TOOBIG : 0;
	}
	memset(out, 0, sizeof(*out));
	out->head_len = end;
	const uint8_t *p = buf;
	size_t i = start;
	size_t stop = end - 2; /* the final CRLF */

	/* Start line. */
	if (!response) {
		size_t s = i;
		while (i < stop && is_tchar(p[i]))
			i++;
		if (i == s || i >= stop || p[i] != ' ')
			return NET_E_PROTO;
		out->method = (struct h1_span){(uint32_t)s, (uint32_t)(i - s)};
		i++;
		s = i;
		while (i < stop && p[i] >= 0x21 && p[i] <= 0x7e)
			i++;
		if (i == s || i >= stop || p[i] != ' ')
			return NET_E_PROTO;
		out->target = (struct h1_span){(uint32_t)s, (uint32_t)(i - s)};
		if (p[s] != '/' && !(i - s == 1 && p[s] == '*'))
			return NET_E_PROTO; /* origin-form only (and "*") */
		i++;
		if (stop - i < 10 || memcmp(p + i, "HTTP/1.", 7) != 0 ||
		    (p[i + 7] != '0' && p[i + 7] != '1') || p[i + 8] != '\r' || p[i + 9] != '\n')
			return NET_E_PROTO;
		out->minor = p[i + 7] - '0';
		i += 10;
	} else {
		if (stop - i < 14 || memcmp(p + i, "HTTP/1.", 7) != 0 ||
		    (p[i + 7] != '0' && p[i + 7] != '1') || p[i + 8] != ' ')
			return NET_E_PROTO;
		out->minor = p[i + 7] - '0';
		i += 9;
		int st = 0;
		for (int k = 0; k < 3; k++) {
			if (p[i + k] < '0' || p[i + k] > '9')
				return NET_E_PROTO;
			st = st * 10 + (p[i + k] - '0');
		}
		if (st < 100)
			return NET_E_PROTO;
		out->status = st;
		i += 3;
		if (p[i] != ' ' && p[i] != '\r')
			return NET_E_PROTO;
		while (i < stop && p[i] != '\r') {
			if (p[i] != '\t' && p[i] < 0x20 && p[i] != ' ')
				return NET_E_PROTO;
			if (p[i] == 0x7f)
				return NET_E_PROTO;
			i++;
		}
		if (i >= stop || p[i + 1] != '\n')
			return NET_E_PROTO;
		i += 2;
	}

	/* Header fields. */
	bool have_cl = false, have_te = false, chunked = false, te_other = false;
	bool conn_close = false, conn_keep = false;
	int hosts = 0;
	uint64_t cl = 0;
	size_t n = 0;
	while (i < stop + 2 && i < stop) {
		if (p[i] == ' ' || p[i] == '\t')
			return NET_E_PROTO; /* obs-fold */
		size_t s = i;
		while (i < stop && is_tchar(p[i]))
			i++;
		if (i == s || i >= stop || p[i] != ':')
			return NET_E_PROTO;
		size_t ne = i;
		i++;
		while (i < stop && (p[i] == ' ' || p[i] == '\t'))
			i++;
		size_t vs = i;
		while (i < stop && p[i] != '\r') {
			if (!is_vchar_or_obs(p[i]) && p[i] != ' ' && p[i] != '\t')
				return NET_E_PROTO;
			i++;
		}
		if (i > stop || p[i] != '\r' || p[i + 1] != '\n')
			return NET_E_PROTO;
		size_t ve = i;
		while (ve > vs && (p[ve - 1] == ' ' || p[ve - 1] == '\t'))
			ve--;
		i += 2;
		if (n >= max_fields)
			return NET_E_TOOBIG;
		fields[n].name = (struct h1_span){(uint32_t)s, (uint32_t)(ne - s)};
		fields[n].value = (struct h1_span){(uint32_t)vs, (uint32_t)(ve - vs)};
		n++;
		const uint8_t *name = p + s, *val = p + vs;
		size_t nl = ne - s, vl = ve - vs;
		if (h1_token_eq(name, nl, "content-length")) {
			uint64_t v;
			if (parse_u64_dec(val, vl, &v) < 0)
				return NET_E_PROTO;
			if (have_cl && v != cl)
				return NET_E_PROTO;
			have_cl = true;
			cl = v;
		} else if (h1_token_eq(name, nl, "transfer-encoding")) {
			/* Only "chunked", once and last, is understood. */
			if (have_te)
				return NET_E_PROTO;
			have_te = true;
			if (h1_token_eq(val, vl, "chunked"))
				chunked = true;
			else
				te_other = true;
		} else if (h1_token_eq(name, nl, "connection")) {
			if (list_has(val, vl, "close"))
				conn_close = true;
			if (list_has(val, vl, "keep-alive"))
				conn_keep = true;
		} else if (!response && h1_token_eq(name, nl, "host")) {
			hosts++;
		} else if (!response && h1_token_eq(name, nl, "expect")) {
			if (h1_token_eq(val, vl, "100-continue"))
				out->expect_continue = true;
		}
	}
	out->n_fields = n;
	if (have_cl && have_te)
		return NET_E_PROTO;
	if (te_other)
		return response ? NET_E_PROTO : -ENOTSUP;
	if (!response && (hosts > 1 || (out->minor == 1 && hosts == 0)))
		return NET_E_PROTO;
	out->keep_alive = out->minor == 1 ? !conn_close : (conn_keep && !conn_close);
	if (chunked) {
		if (out->minor == 0)
			return NET_E_PROTO;
		out->body = H1_BODY_CHUNKED;
	} else if (have_cl) {
		out->content_length = cl;
		out->body = cl ? H1_BODY_LENGTH : H1_BODY_NONE;
	} else {
		out->body = response ? H1_BODY_EOF : H1_BODY_NONE;
	}
	if (response && (out->status / 100 == 1 || out->status == 204 || out->status == 304)) {
		out->body = H1_BODY_NONE;
		out->content_length = 0;
	}
	if (response && out->body == H1_BODY_EOF)
		out->keep_alive = false;
	return 1;
}

enum {
	CH_SIZE = 0,  /* hex digits */
	CH_EXT,       /* chunk extension until CR */
	CH_SIZE_LF,
	CH_DATA,
	CH_DATA_CR,
	CH_DATA_LF,
	CH_TRAILER,   /* start of a trailer line (or the final CRLF) */
	CH_TRAILER_LINE,
	CH_TRAILER_LF,
	CH_FINAL_LF,
	CH_DONE,
};

#define CH_MAX_LINE 1024
#define CH_MAX_TRAILERS 8192

int h1_chunked_feed(struct h1_chunked *st, const uint8_t *in, size_t len,
		    size_t *ret_consumed, struct cc_buf *out)
{
	size_t i = 0;
	int r = 0;
	while (i < len && st->state != CH_DONE) {
		uint8_t c = in[i];
		switch (st->state) {
		case CH_SIZE: {
			int v = -1;
			if (c >= '0' && c <= '9')
				v = c - '0';
			else if (c >= 'a' && c <= 'f')
				v = c - 'a' + 10;
			else if (c >= 'A' && c <= 'F')
				v = c - 'A' + 10;
			if (v >= 0) {
				if (st->remaining >> 60)
					return NET_E_PROTO; /* size overflow */
				st->remaining = st->remaining << 4 | (uint64_t)v;
				st->line_len++;
			} else if (st->line_len == 0) {
				return NET_E_PROTO;
			} else if (c == ';' || c == ' ' || c == '\t') {
				st->state = CH_EXT;
			} else if (c == '\r') {
				st->state = CH_SIZE_LF;
			} else {
				return NET_E_PROTO;
			}
			if (st->line_len > 16)
				return NET_E_PROTO;
			i++;
			break;
		}
		case CH_EXT:
			if (c == '\r')
				st->state = CH_SIZE_LF;
			else if (c == '\n' || (c < 0x20 && c != '\t') || c == 0x7f)
				return NET_E_PROTO;
			if (++st->line_len > CH_MAX_LINE)
				return NET_E_PROTO;
			i++;
			break;
		case CH_SIZE_LF:
			if (c != '\n')
				return NET_E_PROTO;
			i++;
			st->line_len = 0;
			st->state = st->remaining ? CH_DATA : CH_TRAILER;
			break;
		case CH_DATA: {
			size_t take = len - i;
			if ((uint64_t)take > st->remaining)
				take = (size_t)st->remaining;
			if ((r = cc_buf_append(out, in + i, take)) < 0) {
				*ret_consumed = i;
				return r;
			}
			i += take;
			st->remaining -= take;
			if (st->remaining == 0)
				st->state = CH_DATA_CR;
			break;
		}
		case CH_DATA_CR:
			if (c != '\r')
				return NET_E_PROTO;
			st->state = CH_DATA_LF;
			i++;
			break;
		case CH_DATA_LF:
			if (c != '\n')
				return NET_E_PROTO;
			st->state = CH_SIZE;
			st->line_len = 0;
			i++;
			break;
		case CH_TRAILER:
			if (c == '\r') {
				st->state = CH_FINAL_LF;
			} else if (is_tchar(c)) {
				st->state = CH_TRAILER_LINE;
				st->trailer_len++;
			} else {
				return NET_E_PROTO;
			}
			i++;
			break;
		case CH_TRAILER_LINE:
			if (c == '\r')
				st->state = CH_TRAILER_LF;
			else if (c == '\n' || (c < 0x20 && c != '\t') || c == 0x7f)
				return NET_E_PROTO;
			if (++st->trailer_len > CH_MAX_TRAILERS)
				return NET_E_PROTO;
			i++;
			break;
		case CH_TRAILER_LF:
			if (c != '\n')
				return NET_E_PROTO;
			st->state = CH_TRAILER;
			i++;
			break;
		case CH_FINAL_LF:
			if (c != '\n')
				return NET_E_PROTO;
			st->state = CH_DONE;
			i++;
			break;
		default:
			return NET_E_PROTO;
		}
	}
	*ret_consumed = i;
	return st->state == CH_DONE ? 1 : 0;
}

const char *h1_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return "Status";
	}
}
