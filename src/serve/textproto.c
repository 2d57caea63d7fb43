/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Protocol-buffer text format, parsed into protobuf-c messages through their
 * descriptors (protobuf-c has no text format).  Generic: any message type
 * works, so every tensorflow_model_server config file goes through this one
 * bounded parser.
 *
 * Grammar accepted (the subset TensorFlow Serving's files use, which is the
 * whole of the everyday text format):
 *   message := (field [',' | ';'])*
 *   field   := NAME [':'] ( scalar | '[' [scalar (',' scalar)*] ']' )
 *            | NAME [':'] ( '{' message '}' | '<' message '>'
 *                         | '[' [msg (',' msg)*] ']' )
 *   scalar  := STRING+ | ['-'] NUMBER | IDENT (enum name, true/false, inf, nan)
 * '#' starts a comment.  Map fields are repeated {key: .. value: ..} entries.
 * Extensions and Any expansion ("[type.googleapis.com/...]") are rejected
 * with a clear error.
 *
 * Bounds: input size, nesting depth and total number of values are capped;
 * every error names the line and column.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "serve-internal.h"

#define TP_MAX_DEPTH 64
#define TP_MAX_VALUES (1u << 20)

struct tp {
	const char *p, *end, *start;
	unsigned line;
	const char *line_start;
	unsigned depth;
	size_t values;
	char *err;
	size_t errlen;
	bool failed;
};

__attribute__((format(printf, 2, 3))) static int tp_fail(struct tp *t, const char *fmt, ...)
{
	if (t->failed)
		return CC_E_SYNTAX;
	t->failed = true;
	if (t->err && t->errlen) {
		int n = snprintf(t->err, t->errlen, "line %u col %u: ", t->line,
				 (unsigned)(t->p - t->line_start) + 1);
		if (n >= 0 && (size_t)n < t->errlen) {
			va_list ap;
			va_start(ap, fmt);
			vsnprintf(t->err + n, t->errlen - (size_t)n, fmt, ap);
			va_end(ap);
		}
	}
	return CC_E_SYNTAX;
}

static void tp_skip(struct tp *t)
{
	while (t->p < t->end) {
		char c = *t->p;
		if (c == '\n') {
			t->line++;
			t->p++;
			t->line_start = t->p;
		} else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
			t->p++;
		} else if (c == '#') {
			while (t->p < t->end && *t->p != '\n')
				t->p++;
		} else {
			break;
		}
	}
}

static int tp_peek(struct tp *t)
{
	tp_skip(t);
	return t->p < t->end ? (unsigned char)*t->p : -1;
}

static bool tp_accept(struct tp *t, char c)
{
	if (tp_peek(t) == (unsigned char)c) {
		t->p++;
		return true;
	}
	return false;
}

static bool is_ident_start(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_ident_char(int c)
{
	return is_ident_start(c) || (c >= '0' && c <= '9');
}

/* Identifier into buf (NUL-terminated).  Identifiers longer than the buffer
 * are an error: no field or enum name we know is that long. */
static int tp_ident(struct tp *t, char *buf, size_t bufsz)
{
	if (!is_ident_start(tp_peek(t)))
		return tp_fail(t, "expected a name");
	size_t n = 0;
	while (t->p < t->end && is_ident_char((unsigned char)*t->p)) {
		if (n + 1 >= bufsz)
			return tp_fail(t, "name too long");
		buf[n++] = *t->p++;
	}
	buf[n] = '\0';
	return 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* One or more adjacent quoted strings, unescaped and concatenated into out. */
static int tp_string(struct tp *t, struct cc_buf *out)
{
	int q = tp_peek(t);
	if (q != '"' && q != '\'')
		return tp_fail(t, "expected a quoted string");
	while ((q = tp_peek(t)) == '"' || q == '\'') {
		t->p++;
		for (;;) {
			if (t->p >= t->end || *t->p == '\n')
				return tp_fail(t, "unterminated string");
			char c = *t->p++;
			if (c == q)
				break;
			if (c != '\\') {
				if (cc_buf_putc(out, c) < 0)
					return tp_fail(t, "string too long");
				continue;
			}
			if (t->p >= t->end)
				return tp_fail(t, "unterminated string");
			c = *t->p++;
			int v;
			switch (c) {
			case 'n': v = '\n'; break;
			case 't': v = '\t'; break;
			case 'r': v = '\r'; break;
			case 'a': v = '\a'; break;
			case 'b': v = '\b'; break;
			case 'f': v = '\f'; break;
			case 'v': v = '\v'; break;
			case '\\': case '\'': case '"': case '?': v = c; break;
			case 'x': case 'X': {
				int h1 = t->p < t->end ? hexval((unsigned char)*t->p) : -1;
				if (h1 < 0)
					return tp_fail(t, "bad \\x escape");
				t->p++;
				v = h1;
				int h2 = t->p < t->end ? hexval((unsigned char)*t->p) : -1;
				if (h2 >= 0) {
					t->p++;
					v = v * 16 + h2;
				}
				break;
			}
			default:
				if (c >= '0' && c <= '7') {
					v = c - '0';
					for (int i = 0; i < 2 && t->p < t->end && *t->p >= '0' && *t->p <= '7'; i++)
						v = v * 8 + (*t->p++ - '0');
					if (v > 255)
						return tp_fail(t, "octal escape out of range");
					break;
				}
				return tp_fail(t, "unknown escape '\\%c'", c);
			}
			if (cc_buf_putc(out, (char)v) < 0)
				return tp_fail(t, "string too long");
		}
	}
	return 0;
}

/* A numeric or identifier token (after an optional '-'), copied into buf. */
static int tp_word(struct tp *t, char *buf, size_t bufsz)
{
	tp_skip(t);
	size_t n = 0;
	while (t->p < t->end) {
		char c = *t->p;
		if (!(is_ident_char((unsigned char)c) || c == '.' || c == '+' ||
		      (c == '-' && n > 0 && (buf[n - 1] == 'e' || buf[n - 1] == 'E'))))
			break;
		if (n + 1 >= bufsz)
			return tp_fail(t, "value too long");
		buf[n++] = c;
		t->p++;
	}
	buf[n] = '\0';
	if (n == 0)
		return tp_fail(t, "expected a value");
	return 0;
}

static bool word_is(const char *w, const char *a)
{
	return strcasecmp(w, a) == 0;
}

/* Integer literal: decimal, 0x hex or 0 octal, with optional sign already
 * consumed into neg.  Returns the magnitude in *mag. */
static int parse_uint_word(struct tp *t, const char *w, uint64_t *mag)
{
	int base = 10;
	const char *s = w;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	} else if (s[0] == '0' && s[1] != '\0') {
		base = 8;
		s += 1;
	}
	if (*s == '\0')
		return tp_fail(t, "bad integer '%s'", w);
	uint64_t v = 0;
	for (; *s; s++) {
		int d = hexval((unsigned char)*s);
		if (d < 0 || d >= base)
			return tp_fail(t, "bad integer '%s'", w);
		if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
			return tp_fail(t, "integer '%s' out of range", w);
		v = v * (uint64_t)base + (uint64_t)d;
	}
	*mag = v;
	return 0;
}

static int parse_float_word(struct tp *t, bool neg, const char *w, double *ret)
{
	double v;
	if (word_is(w, "inf") || word_is(w, "infinity")) {
		v = INFINITY;
	} else if (word_is(w, "nan")) {
		v = NAN;
	} else {
		char tmp[128];
		size_t n = strlen(w);
		if (n >= sizeof(tmp))
			return tp_fail(t, "bad number '%s'", w);
		memcpy(tmp, w, n + 1);
		if (n > 1 && (tmp[n - 1] == 'f' || tmp[n - 1] == 'F') &&
		    !(tmp[0] == '0' && (tmp[1] == 'x' || tmp[1] == 'X')))
			tmp[n - 1] = '\0';
		bool ok = tmp[0] != '\0';
		for (const char *c = tmp; *c; c++)
			if (!((*c >= '0' && *c <= '9') || *c == '.' || *c == 'e' || *c == 'E' ||
			      *c == '+' || *c == '-'))
				ok = false;
		if (!ok)
			return tp_fail(t, "bad number '%s'", w);
		char *endp = NULL;
		errno = 0;
		v = strtod(tmp, &endp);
		if (!endp || *endp != '\0')
			return tp_fail(t, "bad number '%s'", w);
	}
	*ret = neg ? -v : v;
	return 0;
}

/* Where a value of field f goes: the scalar slot for singular fields, a new
 * element of the repeated array for repeated ones. */
static void *field_slot(struct tp *t, ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f,
			int *rc)
{
	uint8_t *base = (uint8_t *)msg;
	*rc = 0;
	if (++t->values > TP_MAX_VALUES) {
		*rc = tp_fail(t, "too many values");
		return NULL;
	}
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		size_t *n = (size_t *)(base + f->quantifier_offset);
		void **arr = (void **)(base + f->offset);
		size_t esz = serve_pb_elt_size(f->type);
		/* Capacity is the next power of two: grow when n is 0 or one. */
		if (*n == 0 || (*n & (*n - 1)) == 0) {
			size_t cap = *n ? *n * 2 : 1, bytes;
			if (!cc_mul_ok(cap, esz, &bytes)) {
				*rc = tp_fail(t, "too many values");
				return NULL;
			}
			void *na = realloc(*arr, bytes);
			if (!na) {
				*rc = -ENOMEM;
				return NULL;
			}
			*arr = na;
		}
		void *slot = (uint8_t *)*arr + *n * esz;
		memset(slot, 0, esz);
		(*n)++;
		return slot;
	}
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
		uint32_t *c = (uint32_t *)(base + f->quantifier_offset);
		if (*c != 0 && *c != f->id) {
			*rc = tp_fail(t, "field '%s': another member of its oneof is already set",
				      f->name);
			return NULL;
		}
		if (*c == f->id) {
			*rc = tp_fail(t, "field '%s' specified more than once", f->name);
			return NULL;
		}
		*c = f->id;
		/* The slot holds the proto3 default; nothing to free. */
		if (f->type == PROTOBUF_C_TYPE_STRING)
			*(char **)(base + f->offset) = NULL;
		return base + f->offset;
	}
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset) {
		protobuf_c_boolean *has = (protobuf_c_boolean *)(base + f->quantifier_offset);
		if (*has) {
			*rc = tp_fail(t, "field '%s' specified more than once", f->name);
			return NULL;
		}
		*has = 1;
	}
	return base + f->offset;
}

static int parse_message_body(struct tp *t, ProtobufCMessage *msg, int close);

static int set_scalar(struct tp *t, const ProtobufCFieldDescriptor *f, void *slot)
{
	if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_BYTES) {
		struct cc_buf b;
		cc_buf_init(&b, SERVE_TEXTPROTO_MAX_INPUT, false);
		int rc = tp_string(t, &b);
		if (rc < 0) {
			cc_buf_free(&b);
			return rc;
		}
		size_t len = b.len;
		uint8_t *data = cc_buf_steal(&b, &len);
		if (!data) {
			data = calloc(1, 1);
			if (!data)
				return -ENOMEM;
			len = 0;
		}
		if (f->type == PROTOBUF_C_TYPE_STRING) {
			if (memchr(data, '\0', len)) {
				free(data);
				return tp_fail(t, "field '%s': NUL byte in a string", f->name);
			}
			char **s = slot;
			if (*s && *s != (const char *)f->default_value &&
			    *s != protobuf_c_empty_string)
				free(*s);
			*s = (char *)data;
		} else {
			ProtobufCBinaryData *bd = slot;
			free(bd->data);
			bd->data = data;
			bd->len = len;
		}
		return 0;
	}

	bool neg = tp_accept(t, '-');
	char w[128];
	int rc = tp_word(t, w, sizeof(w));
	if (rc < 0)
		return rc;
	uint64_t mag = 0;
	switch (f->type) {
	case PROTOBUF_C_TYPE_BOOL:
		if (neg)
			return tp_fail(t, "field '%s': bad bool", f->name);
		if (word_is(w, "true") || !strcmp(w, "t") || !strcmp(w, "1"))
			*(protobuf_c_boolean *)slot = 1;
		else if (word_is(w, "false") || !strcmp(w, "f") || !strcmp(w, "0"))
			*(protobuf_c_boolean *)slot = 0;
		else
			return tp_fail(t, "field '%s': expected true or false, got '%s'", f->name, w);
		return 0;
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE: {
		double d = 0;
		rc = parse_float_word(t, neg, w, &d);
		if (rc < 0)
			return rc;
		if (f->type == PROTOBUF_C_TYPE_FLOAT)
			*(float *)slot = (float)d;
		else
			*(double *)slot = d;
		return 0;
	}
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumDescriptor *ed = f->descriptor;
		if (is_ident_start((unsigned char)w[0]) && !neg) {
			const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value_by_name(ed, w);
			if (!ev)
				return tp_fail(t, "field '%s': unknown enum value '%s'", f->name, w);
			*(int *)slot = ev->value;
			return 0;
		}
		rc = parse_uint_word(t, w, &mag);
		if (rc < 0)
			return rc;
		if (mag > (neg ? 2147483648u : 2147483647u))
			return tp_fail(t, "field '%s': enum number out of range", f->name);
		int v = neg ? (int)(-(int64_t)mag) : (int)mag;
		if (!protobuf_c_enum_descriptor_get_value(ed, v))
			return tp_fail(t, "field '%s': unknown enum number %d", f->name, v);
		*(int *)slot = v;
		return 0;
	}
	default:
		break;
	}
	rc = parse_uint_word(t, w, &mag);
	if (rc < 0)
		return rc;
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		if (mag > (neg ? 2147483648u : 2147483647u))
			return tp_fail(t, "field '%s': value out of int32 range", f->name);
		*(int32_t *)slot = neg ? (int32_t)(-(int64_t)mag) : (int32_t)mag;
		return 0;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		if (mag > (neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX))
			return tp_fail(t, "field '%s': value out of int64 range", f->name);
		*(int64_t *)slot = neg ? (int64_t)(0 - mag) : (int64_t)mag;
		return 0;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		if (neg || mag > UINT32_MAX)
			return tp_fail(t, "field '%s': value out of uint32 range", f->name);
		*(uint32_t *)slot = (uint32_t)mag;
		return 0;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		if (neg)
			return tp_fail(t, "field '%s': negative value for uint64", f->name);
		*(uint64_t *)slot = mag;
		return 0;
	default:
		return tp_fail(t, "field '%s': unsupported type", f->name);
	}
}

static int set_message(struct tp *t, const ProtobufCFieldDescriptor *f, void *slot)
{
	int open = tp_peek(t);
	int close;
	if (open == '{')
		close = '}';
	else if (open == '<')
		close = '>';
	else
		return tp_fail(t, "field '%s': expected '{'", f->name);
	t->p++;
	ProtobufCMessage **pm = slot;
	if (!*pm) {
		const ProtobufCMessageDescriptor *md = f->descriptor;
		ProtobufCMessage *m = calloc(1, md->sizeof_message);
		if (!m)
			return -ENOMEM;
		md->message_init(m);
		*pm = m;
	}
	if (++t->depth > TP_MAX_DEPTH)
		return tp_fail(t, "nesting deeper than %d", TP_MAX_DEPTH);
	int rc = parse_message_body(t, *pm, close);
	t->depth--;
	return rc;
}

static int parse_value(struct tp *t, ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
	int rc;
	void *slot = field_slot(t, msg, f, &rc);
	if (!slot)
		return rc;
	if (f->type == PROTOBUF_C_TYPE_MESSAGE)
		return set_message(t, f, slot);
	return set_scalar(t, f, slot);
}

static int parse_field(struct tp *t, ProtobufCMessage *msg)
{
	if (tp_peek(t) == '[')
		return tp_fail(t, "extensions and Any expansion are not supported");
	char name[128];
	const char *name_at = t->p;
	int rc = tp_ident(t, name, sizeof(name));
	if (rc < 0)
		return rc;
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field_by_name(msg->descriptor, name);
	if (!f) {
		t->p = name_at;
		return tp_fail(t, "unknown field '%s' in %s", name, msg->descriptor->name);
	}
	bool colon = tp_accept(t, ':');
	if (f->type != PROTOBUF_C_TYPE_MESSAGE && !colon)
		return tp_fail(t, "expected ':' after '%s'", name);
	if (tp_peek(t) == '[') {
		if (f->label != PROTOBUF_C_LABEL_REPEATED)
			return tp_fail(t, "field '%s' is not repeated", name);
		t->p++;
		if (tp_accept(t, ']'))
			return 0;
		do {
			rc = parse_value(t, msg, f);
			if (rc < 0)
				return rc;
		} while (tp_accept(t, ','));
		if (!tp_accept(t, ']'))
			return tp_fail(t, "expected ']' after the values of '%s'", name);
		return 0;
	}
	if (f->label != PROTOBUF_C_LABEL_REPEATED && f->type == PROTOBUF_C_TYPE_MESSAGE &&
	    !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
	    *(ProtobufCMessage **)((uint8_t *)msg + f->offset))
		return tp_fail(t, "field '%s' specified more than once", name);
	return parse_value(t, msg, f);
}

static int parse_message_body(struct tp *t, ProtobufCMessage *msg, int close)
{
	/* Seen mask for presence-less proto3 scalars (duplicates are errors). */
	const ProtobufCMessageDescriptor *md = msg->descriptor;
	uint64_t seen_small = 0;
	uint8_t *seen = NULL;
	int rc = 0;
	if (md->n_fields > 64) {
		seen = calloc(md->n_fields, 1);
		if (!seen)
			return -ENOMEM;
	}
	for (;;) {
		int c = tp_peek(t);
		if (c == -1) {
			if (close != -1)
				rc = tp_fail(t, "missing '%c'", close);
			break;
		}
		if (close != -1 && c == close) {
			t->p++;
			break;
		}
		const char *before = t->p;
		unsigned line_before = t->line;
		const char *ls_before = t->line_start;
		char name[128];
		if (is_ident_start(c)) {
			/* Peek the name to enforce single occurrence. */
			rc = tp_ident(t, name, sizeof(name));
			if (rc < 0)
				break;
			const ProtobufCFieldDescriptor *f =
				protobuf_c_message_descriptor_get_field_by_name(md, name);
			if (f && f->label != PROTOBUF_C_LABEL_REPEATED &&
			    !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
			    f->type != PROTOBUF_C_TYPE_MESSAGE) {
				size_t idx = (size_t)(f - md->fields);
				bool dup;
				if (seen) {
					dup = seen[idx];
					seen[idx] = 1;
				} else {
					dup = (seen_small >> idx) & 1;
					seen_small |= (uint64_t)1 << idx;
				}
				if (dup) {
					rc = tp_fail(t, "field '%s' specified more than once", name);
					break;
				}
			}
			t->p = before;
			t->line = line_before;
			t->line_start = ls_before;
		}
		rc = parse_field(t, msg);
		if (rc < 0)
			break;
		if (!tp_accept(t, ','))
			tp_accept(t, ';');
	}
	free(seen);
	return rc;
}

int serve_textproto_parse(const ProtobufCMessageDescriptor *desc, const char *text, size_t len,
			  ProtobufCMessage **ret, char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	if (!desc || !ret || (!text && len))
		return -EINVAL;
	struct tp t = {
		.p = text, .end = text + len, .start = text, .line = 1,
		.line_start = text, .err = err, .errlen = errlen,
	};
	if (len > SERVE_TEXTPROTO_MAX_INPUT)
		return tp_fail(&t, "input larger than %u bytes", SERVE_TEXTPROTO_MAX_INPUT),
		       CC_E_TOOBIG;
	ProtobufCMessage *m = calloc(1, desc->sizeof_message);
	if (!m)
		return -ENOMEM;
	desc->message_init(m);
	int rc = parse_message_body(&t, m, -1);
	if (rc < 0) {
		if (rc == -ENOMEM && err && errlen && !t.failed)
			snprintf(err, errlen, "out of memory");
		protobuf_c_message_free_unpacked(m, NULL);
		return rc;
	}
	*ret = m;
	return 0;
}

int serve_textproto_parse_file(const ProtobufCMessageDescriptor *desc, const char *path,
			       ProtobufCMessage **ret, char *err, size_t errlen)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int rc = cc_file_read(path, SERVE_TEXTPROTO_MAX_INPUT, false, &data, &len);
	if (rc < 0) {
		if (err && errlen)
			snprintf(err, errlen, "cannot read \"%s\": %s", path, cc_strerror(rc));
		return rc;
	}
	rc = serve_textproto_parse(desc, (const char *)data, len, ret, err, errlen);
	free(data);
	return rc;
}
