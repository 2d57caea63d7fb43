/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A bounded scanner that finds the exact byte span of a top-level member's
 * value in a JSON object.  Intel signs the TCB Info / QE Identity value as
 * served, so verification needs those bytes, not a re-serialisation.  The
 * scanner checks the structure it walks over (strings, escapes, nesting,
 * literals) but leaves value semantics to the JSON parser.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

#define SPAN_MAX_DEPTH 64

struct scan {
	const char *s;
	size_t len;
	size_t pos;
};

static void skip_ws(struct scan *sc)
{
	while (sc->pos < sc->len) {
		char c = sc->s[sc->pos];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		sc->pos++;
	}
}

static int is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* At a '"': advance past the closing quote. */
static int scan_string(struct scan *sc)
{
	if (sc->pos >= sc->len || sc->s[sc->pos] != '"')
		return ATTEST_E_BAD_JSON;
	sc->pos++;
	while (sc->pos < sc->len) {
		unsigned char c = (unsigned char)sc->s[sc->pos];
		if (c == '"') {
			sc->pos++;
			return 0;
		}
		if (c < 0x20)
			return ATTEST_E_BAD_JSON;
		if (c == '\\') {
			if (sc->len - sc->pos < 2)
				return ATTEST_E_BAD_JSON;
			char e = sc->s[sc->pos + 1];
			if (e == 'u') {
				if (sc->len - sc->pos < 6)
					return ATTEST_E_BAD_JSON;
				for (size_t i = 2; i < 6; i++)
					if (!is_hex(sc->s[sc->pos + i]))
						return ATTEST_E_BAD_JSON;
				sc->pos += 6;
				continue;
			}
			if (!strchr("\"\\/bfnrt", e) || e == '\0')
				return ATTEST_E_BAD_JSON;
			sc->pos += 2;
			continue;
		}
		sc->pos++;
	}
	return ATTEST_E_BAD_JSON;
}

static int scan_literal(struct scan *sc)
{
	static const char *const lits[] = { "true", "false", "null" };
	for (size_t i = 0; i < CC_ARRAY_SIZE(lits); i++) {
		size_t n = strlen(lits[i]);
		if (sc->len - sc->pos >= n && memcmp(sc->s + sc->pos, lits[i], n) == 0) {
			sc->pos += n;
			return 0;
		}
	}
	/* number: -?digits[.digits][e[+-]digits] */
	size_t start = sc->pos;
	if (sc->pos < sc->len && sc->s[sc->pos] == '-')
		sc->pos++;
	size_t d0 = sc->pos;
	while (sc->pos < sc->len && sc->s[sc->pos] >= '0' && sc->s[sc->pos] <= '9')
		sc->pos++;
	if (sc->pos == d0)
		return ATTEST_E_BAD_JSON;
	if (sc->pos < sc->len && sc->s[sc->pos] == '.') {
		sc->pos++;
		size_t f0 = sc->pos;
		while (sc->pos < sc->len && sc->s[sc->pos] >= '0' && sc->s[sc->pos] <= '9')
			sc->pos++;
		if (sc->pos == f0)
			return ATTEST_E_BAD_JSON;
	}
	if (sc->pos < sc->len && (sc->s[sc->pos] == 'e' || sc->s[sc->pos] == 'E')) {
		sc->pos++;
		if (sc->pos < sc->len && (sc->s[sc->pos] == '+' || sc->s[sc->pos] == '-'))
			sc->pos++;
		size_t e0 = sc->pos;
		while (sc->pos < sc->len && sc->s[sc->pos] >= '0' && sc->s[sc->pos] <= '9')
			sc->pos++;
		if (sc->pos == e0)
			return ATTEST_E_BAD_JSON;
	}
	return sc->pos > start ? 0 : ATTEST_E_BAD_JSON;
}

/* Iterative value scan with an explicit bounded stack: no recursion depth
 * controlled by input. */
static int scan_value(struct scan *sc)
{
	char stack[SPAN_MAX_DEPTH];
	size_t depth = 0;
	/* expecting: 0 = value, 1 = after value (',' or close) */
	for (;;) {
		skip_ws(sc);
		if (sc->pos >= sc->len)
			return ATTEST_E_BAD_JSON;
		char c = sc->s[sc->pos];
		if (c == '{' || c == '[') {
			if (depth >= SPAN_MAX_DEPTH)
				return ATTEST_E_BAD_JSON;
			stack[depth++] = c;
			sc->pos++;
			skip_ws(sc);
			if (sc->pos >= sc->len)
				return ATTEST_E_BAD_JSON;
			char close = c == '{' ? '}' : ']';
			if (sc->s[sc->pos] == close) {
				sc->pos++;
				depth--;
				goto after_value;
			}
			if (c == '{')
				goto member_key;
			continue;
		}
		if (c == '"') {
			int r = scan_string(sc);
			if (r < 0)
				return r;
		} else {
			int r = scan_literal(sc);
			if (r < 0)
				return r;
		}
after_value:
		for (;;) {
			if (depth == 0)
				return 0;
			skip_ws(sc);
			if (sc->pos >= sc->len)
				return ATTEST_E_BAD_JSON;
			char d = sc->s[sc->pos];
			char top = stack[depth - 1];
			if (d == ',') {
				sc->pos++;
				if (top == '{')
					goto member_key;
				break; /* next array element */
			}
			if ((top == '{' && d == '}') || (top == '[' && d == ']')) {
				sc->pos++;
				depth--;
				continue;
			}
			return ATTEST_E_BAD_JSON;
		}
		continue;
member_key:
		skip_ws(sc);
		{
			int r = scan_string(sc);
			if (r < 0)
				return r;
		}
		skip_ws(sc);
		if (sc->pos >= sc->len || sc->s[sc->pos] != ':')
			return ATTEST_E_BAD_JSON;
		sc->pos++;
	}
}

int attest_json_value_span(const char *json, size_t len, const char *key,
			   size_t *ret_off, size_t *ret_len)
{
	struct scan sc = { .s = json, .len = len, .pos = 0 };
	size_t klen = strlen(key);
	bool found = false;
	size_t voff = 0, vlen = 0;

	skip_ws(&sc);
	if (sc.pos >= sc.len || sc.s[sc.pos] != '{')
		return ATTEST_E_BAD_JSON;
	sc.pos++;
	skip_ws(&sc);
	if (sc.pos < sc.len && sc.s[sc.pos] == '}') {
		sc.pos++;
		goto done;
	}
	for (;;) {
		skip_ws(&sc);
		size_t kstart = sc.pos;
		int r = scan_string(&sc);
		if (r < 0)
			return r;
		/* keys compared raw (without unescaping): Intel's keys are plain */
		bool match = sc.pos - kstart == klen + 2 &&
			     memcmp(sc.s + kstart + 1, key, klen) == 0;
		skip_ws(&sc);
		if (sc.pos >= sc.len || sc.s[sc.pos] != ':')
			return ATTEST_E_BAD_JSON;
		sc.pos++;
		skip_ws(&sc);
		size_t vstart = sc.pos;
		r = scan_value(&sc);
		if (r < 0)
			return r;
		if (match) {
			if (found)
				return ATTEST_E_BAD_JSON; /* duplicate key: ambiguous */
			found = true;
			voff = vstart;
			vlen = sc.pos - vstart;
		}
		skip_ws(&sc);
		if (sc.pos >= sc.len)
			return ATTEST_E_BAD_JSON;
		if (sc.s[sc.pos] == ',') {
			sc.pos++;
			continue;
		}
		if (sc.s[sc.pos] == '}') {
			sc.pos++;
			break;
		}
		return ATTEST_E_BAD_JSON;
	}
done:
	skip_ws(&sc);
	if (sc.pos != sc.len)
		return ATTEST_E_BAD_JSON;
	if (!found)
		return -ENOENT;
	*ret_off = voff;
	*ret_len = vlen;
	return 0;
}
