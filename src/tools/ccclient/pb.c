/* SPDX-License-Identifier: Apache-2.0 */
#include "pb.h"

#include <errno.h>
#include <math.h>
#include <string.h>

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

/* ------------------------------------------------------------------------ */
/* Encoding                                                                 */

static size_t varint_size(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

int cl_pb_put_varint(struct cc_buf *b, uint64_t v)
{
	uint8_t tmp[10];
	size_t n = 0;
	while (v >= 0x80) {
		tmp[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	tmp[n++] = (uint8_t)v;
	return cc_buf_append(b, tmp, n);
}

static int put_tag(struct cc_buf *b, uint32_t field, unsigned wt)
{
	return cl_pb_put_varint(b, ((uint64_t)field << 3) | wt);
}

/* Size of a LEN field (tag + length prefix + payload). */
static size_t len_field_size(uint32_t field, size_t payload)
{
	return varint_size((uint64_t)field << 3) + varint_size(payload) + payload;
}

static int put_bytes(struct cc_buf *b, uint32_t field, const void *p, size_t n)
{
	int r = put_tag(b, field, WT_LEN);
	if (r >= 0)
		r = cl_pb_put_varint(b, n);
	if (r >= 0 && n)
		r = cc_buf_append(b, p, n);
	return r;
}

static size_t model_spec_size(const struct cl_model_spec *s)
{
	size_t n = len_field_size(1, strlen(s->name));
	if (s->version >= 0) {
		size_t inner = s->version ? 1 + varint_size((uint64_t)s->version) : 0;
		n += len_field_size(2, inner);
	}
	if (s->signature_name && *s->signature_name)
		n += len_field_size(3, strlen(s->signature_name));
	return n;
}

static int put_model_spec(struct cc_buf *b, uint32_t field, const struct cl_model_spec *s)
{
	int r = put_tag(b, field, WT_LEN);
	if (r >= 0)
		r = cl_pb_put_varint(b, model_spec_size(s));
	if (r >= 0)
		r = put_bytes(b, 1, s->name, strlen(s->name));
	if (r >= 0 && s->version >= 0) {
		/* google.protobuf.Int64Value: value = 1, omitted when 0. */
		size_t inner = s->version ? 1 + varint_size((uint64_t)s->version) : 0;
		r = put_tag(b, 2, WT_LEN);
		if (r >= 0)
			r = cl_pb_put_varint(b, inner);
		if (r >= 0 && s->version) {
			r = put_tag(b, 1, WT_VARINT);
			if (r >= 0)
				r = cl_pb_put_varint(b, (uint64_t)s->version);
		}
	}
	if (r >= 0 && s->signature_name && *s->signature_name)
		r = put_bytes(b, 3, s->signature_name, strlen(s->signature_name));
	return r;
}

static bool spec_ok(const struct cl_model_spec *s)
{
	return s && s->name && *s->name && strlen(s->name) < CL_PB_MAX_NAME &&
	       (!s->signature_name || strlen(s->signature_name) < CL_PB_MAX_NAME);
}

int cl_pb_encode_predict(struct cc_buf *out, const struct cl_model_spec *spec,
			 const char *input_name, const int64_t *dims, size_t ndims,
			 const float *data)
{
	if (!out || !spec_ok(spec) || !input_name || !*input_name ||
	    strlen(input_name) >= CL_PB_MAX_NAME || ndims > CL_PB_MAX_DIMS ||
	    (ndims && !dims))
		return -EINVAL;

	size_t count = 1;
	for (size_t i = 0; i < ndims; i++) {
		if (dims[i] < 0)
			return -EINVAL;
		if (!cc_mul_ok(count, (size_t)dims[i], &count))
			return CC_E_OVERFLOW;
	}
	size_t content;
	if (!cc_mul_ok(count, sizeof(float), &content))
		return CC_E_OVERFLOW;
	if (content && !data)
		return -EINVAL;

	/* TensorShapeProto: repeated Dim dim = 2; Dim.size = 1 (omitted if 0). */
	size_t shape = 0;
	for (size_t i = 0; i < ndims; i++) {
		size_t dim = dims[i] ? 1 + varint_size((uint64_t)dims[i]) : 0;
		shape += len_field_size(2, dim);
	}
	/* TensorProto: dtype = 1, tensor_shape = 2, tensor_content = 4. */
	size_t tensor = 1 + varint_size(CL_DT_FLOAT) + len_field_size(2, shape);
	if (content)
		tensor += len_field_size(4, content);
	size_t entry = len_field_size(1, strlen(input_name)) + len_field_size(2, tensor);

	size_t total = model_spec_size(spec) + entry + 64;
	if (!cc_add_ok(total, content, &total))
		return CC_E_OVERFLOW;
	int r = cc_buf_reserve(out, total);
	if (r < 0)
		return r;

	r = put_model_spec(out, 1, spec);
	if (r >= 0)
		r = put_tag(out, 2, WT_LEN);
	if (r >= 0)
		r = cl_pb_put_varint(out, entry);
	if (r >= 0)
		r = put_bytes(out, 1, input_name, strlen(input_name));
	if (r >= 0)
		r = put_tag(out, 2, WT_LEN);
	if (r >= 0)
		r = cl_pb_put_varint(out, tensor);
	if (r >= 0)
		r = put_tag(out, 1, WT_VARINT);
	if (r >= 0)
		r = cl_pb_put_varint(out, CL_DT_FLOAT);
	if (r >= 0)
		r = put_tag(out, 2, WT_LEN);
	if (r >= 0)
		r = cl_pb_put_varint(out, shape);
	for (size_t i = 0; r >= 0 && i < ndims; i++) {
		size_t dim = dims[i] ? 1 + varint_size((uint64_t)dims[i]) : 0;
		r = put_tag(out, 2, WT_LEN);
		if (r >= 0)
			r = cl_pb_put_varint(out, dim);
		if (r >= 0 && dims[i]) {
			r = put_tag(out, 1, WT_VARINT);
			if (r >= 0)
				r = cl_pb_put_varint(out, (uint64_t)dims[i]);
		}
	}
	if (r >= 0 && content) {
		r = put_tag(out, 4, WT_LEN);
		if (r >= 0)
			r = cl_pb_put_varint(out, content);
		if (r >= 0)
			r = cc_buf_reserve(out, content);
		if (r >= 0) {
			/* float32 little-endian; this host is little-endian x86-64
			 * or aarch64, checked at compile time below. */
			_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
				       "tensor_content is little-endian");
			r = cc_buf_append(out, data, content);
		}
	}
	return r < 0 ? r : 0;
}

int cl_pb_encode_metadata_req(struct cc_buf *out, const struct cl_model_spec *spec)
{
	if (!out || !spec_ok(spec))
		return -EINVAL;
	int r = put_model_spec(out, 1, spec);
	if (r >= 0)
		r = put_bytes(out, 2, "signature_def", strlen("signature_def"));
	return r < 0 ? r : 0;
}

/* ------------------------------------------------------------------------ */
/* Decoding                                                                 */

int cl_pb_get_varint(struct cc_reader *r, uint64_t *ret)
{
	uint64_t v = 0;
	for (unsigned shift = 0; shift < 70; shift += 7) {
		uint8_t byte;
		int e = cc_read_u8(r, &byte);
		if (e < 0)
			return e;
		if (shift == 63 && byte > 1)
			return CC_E_SYNTAX; /* more than 64 bits */
		v |= (uint64_t)(byte & 0x7f) << shift;
		if (!(byte & 0x80)) {
			*ret = v;
			return 0;
		}
	}
	return CC_E_SYNTAX;
}

struct field {
	uint32_t num;
	unsigned wt;
	uint64_t v;            /* WT_VARINT, WT_I64, WT_I32 */
	struct cc_reader sub;  /* WT_LEN */
};

/* Read the next field; returns 1 when one was read, 0 at the end, < 0 on
 * error. */
static int next_field(struct cc_reader *r, struct field *f)
{
	if (cc_reader_remaining(r) == 0)
		return 0;
	uint64_t tag;
	int e = cl_pb_get_varint(r, &tag);
	if (e < 0)
		return e;
	if ((tag >> 3) == 0 || (tag >> 3) > 0x1fffffff)
		return CC_E_SYNTAX;
	f->num = (uint32_t)(tag >> 3);
	f->wt = (unsigned)(tag & 7);
	switch (f->wt) {
	case WT_VARINT:
		return cl_pb_get_varint(r, &f->v) < 0 ? CC_E_TRUNCATED : 1;
	case WT_I64:
		return cc_read_u64le(r, &f->v) < 0 ? CC_E_TRUNCATED : 1;
	case WT_I32: {
		uint32_t v32;
		if (cc_read_u32le(r, &v32) < 0)
			return CC_E_TRUNCATED;
		f->v = v32;
		return 1;
	}
	case WT_LEN: {
		uint64_t n;
		e = cl_pb_get_varint(r, &n);
		if (e < 0)
			return e;
		if (n > cc_reader_remaining(r))
			return CC_E_TRUNCATED;
		return cc_reader_sub(r, (size_t)n, &f->sub) < 0 ? CC_E_TRUNCATED : 1;
	}
	default:
		return CC_E_SYNTAX; /* groups and reserved wire types */
	}
}

static int copy_name(const struct field *f, char *dst, size_t dstsz)
{
	size_t n = f->sub.len - f->sub.off;
	if (n >= dstsz)
		return CC_E_TOOBIG;
	memcpy(dst, f->sub.data + f->sub.off, n);
	dst[n] = '\0';
	if (memchr(dst, '\0', n))
		return CC_E_SYNTAX;
	return 0;
}

static int decode_shape(struct cc_reader *r, size_t *ret_ndims, int64_t *dims)
{
	struct field f;
	int e;
	size_t nd = 0;
	while ((e = next_field(r, &f)) > 0) {
		if (f.num != 2)
			continue; /* unknown_rank and future fields */
		if (f.wt != WT_LEN)
			return CC_E_SYNTAX;
		if (nd >= CL_PB_MAX_DIMS)
			return CC_E_TOOBIG;
		int64_t size = 0;
		struct field g;
		while ((e = next_field(&f.sub, &g)) > 0) {
			if (g.num == 1) {
				if (g.wt != WT_VARINT)
					return CC_E_SYNTAX;
				size = (int64_t)g.v;
			}
		}
		if (e < 0)
			return e;
		if (size < -1)
			return CC_E_SYNTAX;
		dims[nd++] = size;
	}
	if (e < 0)
		return e;
	*ret_ndims = nd;
	return 0;
}

static float half_to_float(uint16_t h)
{
	unsigned sign = h >> 15, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
	float v;
	if (exp == 0)
		v = ldexpf((float)man, -24);
	else if (exp == 31)
		v = man ? NAN : INFINITY;
	else
		v = ldexpf((float)(man | 0x400), (int)exp - 25);
	return sign ? -v : v;
}

/* Values accumulate in a capped buffer of floats. */
static int push_val(struct cc_buf *vals, float v)
{
	return cc_buf_append(vals, &v, sizeof(v));
}

/* A repeated scalar field, packed or not. kind: 'f' float, 'd' double,
 * 'i' int32 varint, 'l' int64 varint, 'h' half in int32 varint. */
static int decode_repeated(const struct field *f, char kind, struct cc_buf *vals)
{
	int e;
	if (f->wt == WT_LEN) {
		struct cc_reader r = f->sub;
		while (cc_reader_remaining(&r)) {
			uint64_t v;
			if (kind == 'f') {
				uint32_t u;
				if (cc_read_u32le(&r, &u) < 0)
					return CC_E_TRUNCATED;
				float x;
				memcpy(&x, &u, 4);
				e = push_val(vals, x);
			} else if (kind == 'd') {
				if (cc_read_u64le(&r, &v) < 0)
					return CC_E_TRUNCATED;
				double x;
				memcpy(&x, &v, 8);
				e = push_val(vals, (float)x);
			} else {
				e = cl_pb_get_varint(&r, &v);
				if (e < 0)
					return e;
				if (kind == 'h')
					e = push_val(vals, half_to_float((uint16_t)v));
				else if (kind == 'i')
					e = push_val(vals, (float)(int32_t)(uint32_t)v);
				else
					e = push_val(vals, (float)(int64_t)v);
			}
			if (e < 0)
				return e;
		}
		return 0;
	}
	switch (kind) {
	case 'f': {
		if (f->wt != WT_I32)
			return CC_E_SYNTAX;
		uint32_t u = (uint32_t)f->v;
		float x;
		memcpy(&x, &u, 4);
		return push_val(vals, x);
	}
	case 'd': {
		if (f->wt != WT_I64)
			return CC_E_SYNTAX;
		double x;
		memcpy(&x, &f->v, 8);
		return push_val(vals, (float)x);
	}
	default:
		if (f->wt != WT_VARINT)
			return CC_E_SYNTAX;
		if (kind == 'h')
			return push_val(vals, half_to_float((uint16_t)f->v));
		if (kind == 'i')
			return push_val(vals, (float)(int32_t)(uint32_t)f->v);
		return push_val(vals, (float)(int64_t)f->v);
	}
}

static int convert_content(int dtype, const uint8_t *p, size_t n, struct cc_buf *vals)
{
	size_t esz;
	switch (dtype) {
	case CL_DT_FLOAT: case CL_DT_INT32: esz = 4; break;
	case CL_DT_DOUBLE: case CL_DT_INT64: esz = 8; break;
	case CL_DT_UINT8: esz = 1; break;
	case CL_DT_HALF: esz = 2; break;
	default: return CC_E_SYNTAX;
	}
	if (n % esz)
		return CC_E_SYNTAX;
	if (n / esz > CL_PB_MAX_VALUES)
		return CC_E_TOOBIG;
	int e = cc_buf_reserve(vals, n / esz * sizeof(float));
	if (e < 0)
		return e;
	for (size_t i = 0; i < n; i += esz) {
		float x;
		switch (dtype) {
		case CL_DT_FLOAT: memcpy(&x, p + i, 4); break;
		case CL_DT_INT32: { int32_t v; memcpy(&v, p + i, 4); x = (float)v; break; }
		case CL_DT_DOUBLE: { double v; memcpy(&v, p + i, 8); x = (float)v; break; }
		case CL_DT_INT64: { int64_t v; memcpy(&v, p + i, 8); x = (float)v; break; }
		case CL_DT_UINT8: x = p[i]; break;
		default: { uint16_t v; memcpy(&v, p + i, 2); x = half_to_float(v); break; }
		}
		if ((e = push_val(vals, x)) < 0)
			return e;
	}
	return 0;
}

static int decode_tensor(struct cc_reader *r, struct cl_tensor *t)
{
	struct field f;
	int e;
	const uint8_t *content = NULL;
	size_t content_len = 0;
	bool have_content = false, have_shape = false;
	struct cc_buf vals;
	cc_buf_init(&vals, (size_t)CL_PB_MAX_VALUES * sizeof(float), false);

	while ((e = next_field(r, &f)) > 0) {
		switch (f.num) {
		case 1:
			if (f.wt != WT_VARINT) { e = CC_E_SYNTAX; goto fail; }
			t->dtype = (int)f.v;
			break;
		case 2:
			if (f.wt != WT_LEN) { e = CC_E_SYNTAX; goto fail; }
			if ((e = decode_shape(&f.sub, &t->ndims, t->dims)) < 0)
				goto fail;
			have_shape = true;
			break;
		case 4:
			if (f.wt != WT_LEN) { e = CC_E_SYNTAX; goto fail; }
			content = f.sub.data + f.sub.off;
			content_len = f.sub.len - f.sub.off;
			have_content = true;
			break;
		case 5: case 6: case 7: case 10: case 13: {
			char kind = f.num == 5 ? 'f' : f.num == 6 ? 'd' : f.num == 7 ? 'i' :
				    f.num == 10 ? 'l' : 'h';
			if ((e = decode_repeated(&f, kind, &vals)) < 0)
				goto fail;
			break;
		}
		default:
			break; /* string_val, complex, resource, variant: ignored */
		}
	}
	if (e < 0)
		goto fail;
	if (have_content) {
		cc_buf_reset(&vals);
		if ((e = convert_content(t->dtype, content, content_len, &vals)) < 0)
			goto fail;
	}
	size_t count = vals.len / sizeof(float);
	size_t want = 1;
	bool known = have_shape;
	for (size_t i = 0; i < t->ndims; i++) {
		if (t->dims[i] < 0) {
			known = false;
			break;
		}
		if (!cc_mul_ok(want, (size_t)t->dims[i], &want) || want > CL_PB_MAX_VALUES) {
			e = CC_E_TOOBIG;
			goto fail;
		}
	}
	if (known && count != want) {
		/* TensorFlow's compact form: fewer typed values than the shape
		 * holds means "repeat the last one".  Not for tensor_content. */
		if (have_content || count == 0 || count > want) {
			e = CC_E_SYNTAX;
			goto fail;
		}
		float last = ((float *)vals.data)[count - 1];
		while (count < want) {
			if ((e = push_val(&vals, last)) < 0)
				goto fail;
			count++;
		}
	}
	t->count = count;
	t->vals = (float *)cc_buf_steal(&vals, NULL);
	return 0;
fail:
	cc_buf_free(&vals);
	return e;
}

void cl_predict_resp_free(struct cl_predict_resp *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		free(r->t[i].vals);
		r->t[i].vals = NULL;
	}
	r->n = 0;
}

int cl_pb_decode_predict_resp(const uint8_t *data, size_t len, struct cl_predict_resp *ret)
{
	struct cc_reader r;
	struct field f;
	int e;
	if (!ret || (len && !data))
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	cc_reader_init(&r, data, len);
	while ((e = next_field(&r, &f)) > 0) {
		if (f.num != 1)
			continue; /* model_spec = 2 */
		if (f.wt != WT_LEN) {
			e = CC_E_SYNTAX;
			break;
		}
		if (ret->n >= CL_PB_MAX_OUTPUTS) {
			e = CC_E_TOOBIG;
			break;
		}
		struct cl_tensor *t = &ret->t[ret->n];
		memset(t, 0, sizeof(*t));
		struct field g;
		bool have_value = false;
		struct cl_tensor tmp = {0};
		while ((e = next_field(&f.sub, &g)) > 0) {
			if (g.wt != WT_LEN) {
				if (g.num == 1 || g.num == 2)
					e = CC_E_SYNTAX;
				if (e < 0)
					break;
				continue;
			}
			if (g.num == 1) {
				if ((e = copy_name(&g, t->name, sizeof(t->name))) < 0)
					break;
			} else if (g.num == 2) {
				if (have_value) {
					/* A repeated value field: the last one wins. */
					free(tmp.vals);
					tmp.vals = NULL;
				}
				memset(&tmp, 0, sizeof(tmp));
				if ((e = decode_tensor(&g.sub, &tmp)) < 0)
					break;
				have_value = true;
			}
		}
		if (e < 0) {
			free(tmp.vals);
			break;
		}
		char name[CL_PB_MAX_NAME];
		memcpy(name, t->name, sizeof(name));
		*t = tmp;
		memcpy(t->name, name, sizeof(name));
		ret->n++;
	}
	if (e < 0) {
		cl_predict_resp_free(ret);
		return e;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Model metadata                                                           */

static bool name_is(const struct field *f, const char *s)
{
	size_t n = f->sub.len - f->sub.off;
	return n == strlen(s) && memcmp(f->sub.data + f->sub.off, s, n) == 0;
}

static bool ends_with(const struct field *f, const char *s)
{
	size_t n = f->sub.len - f->sub.off, m = strlen(s);
	return n >= m && memcmp(f->sub.data + f->sub.off + n - m, s, m) == 0;
}

/* A map entry: key = 1 (string), value = 2 (message). */
static int map_entry(struct cc_reader *r, struct field *key, struct field *val, bool *has_val)
{
	struct field g;
	int e;
	bool has_key = false;
	*has_val = false;
	while ((e = next_field(r, &g)) > 0) {
		if (g.num != 1 && g.num != 2)
			continue;
		if (g.wt != WT_LEN)
			return CC_E_SYNTAX;
		if (g.num == 1) {
			*key = g;
			has_key = true;
		} else {
			*val = g;
			*has_val = true;
		}
	}
	if (e < 0)
		return e;
	if (!has_key) {
		/* An empty key is legal protobuf: represent it as length 0. */
		memset(key, 0, sizeof(*key));
		cc_reader_init(&key->sub, "", 0);
	}
	return 0;
}

static int decode_tensor_info(struct cc_reader *r, struct cl_sig_input *ret)
{
	struct field f;
	int e;
	while ((e = next_field(r, &f)) > 0) {
		if (f.num == 2) {
			if (f.wt != WT_VARINT)
				return CC_E_SYNTAX;
			ret->dtype = (int)f.v;
		} else if (f.num == 3) {
			if (f.wt != WT_LEN)
				return CC_E_SYNTAX;
			if ((e = decode_shape(&f.sub, &ret->ndims, ret->dims)) < 0)
				return e;
		}
	}
	return e;
}

static int decode_signature(struct cc_reader *r, struct cl_sig_input *ret)
{
	struct field f, key, val;
	int e;
	bool has_val, chosen = false;
	struct cl_sig_input first = {0};
	while ((e = next_field(r, &f)) > 0) {
		if (f.num != 1 && f.num != 2)
			continue;
		if (f.wt != WT_LEN)
			return CC_E_SYNTAX;
		if ((e = map_entry(&f.sub, &key, &val, &has_val)) < 0)
			return e;
		if (f.num == 2) {
			ret->n_outputs++;
			continue;
		}
		ret->n_inputs++;
		struct cl_sig_input cur = {0};
		if ((e = copy_name(&key, cur.alias, sizeof(cur.alias))) < 0)
			return e;
		if (has_val && (e = decode_tensor_info(&val.sub, &cur)) < 0)
			return e;
		if (ret->n_inputs == 1)
			first = cur;
		if (strcmp(cur.alias, "input") == 0 && !chosen) {
			first = cur;
			chosen = true;
		}
	}
	if (e < 0)
		return e;
	if (ret->n_inputs == 0)
		return -ENOENT;
	if (ret->n_inputs > 1 && !chosen)
		return -E2BIG;
	memcpy(ret->alias, first.alias, sizeof(ret->alias));
	ret->dtype = first.dtype;
	ret->ndims = first.ndims;
	memcpy(ret->dims, first.dims, sizeof(ret->dims));
	return 0;
}

int cl_pb_decode_metadata(const uint8_t *data, size_t len, const char *signature,
			  struct cl_sig_input *ret)
{
	struct cc_reader r;
	struct field f, key, val;
	int e;
	bool has_val;
	if (!ret || (len && !data))
		return -EINVAL;
	if (!signature || !*signature)
		signature = "serving_default";
	memset(ret, 0, sizeof(*ret));
	cc_reader_init(&r, data, len);
	while ((e = next_field(&r, &f)) > 0) {
		if (f.num != 2)
			continue;
		if (f.wt != WT_LEN)
			return CC_E_SYNTAX;
		if ((e = map_entry(&f.sub, &key, &val, &has_val)) < 0)
			return e;
		if (!name_is(&key, "signature_def") || !has_val)
			continue;
		/* google.protobuf.Any: type_url = 1, value = 2. */
		struct field g, any_val;
		bool has_any_val = false;
		while ((e = next_field(&val.sub, &g)) > 0) {
			if (g.num != 1 && g.num != 2)
				continue;
			if (g.wt != WT_LEN)
				return CC_E_SYNTAX;
			if (g.num == 1 && !ends_with(&g, "tensorflow.serving.SignatureDefMap"))
				return CC_E_SYNTAX;
			if (g.num == 2) {
				any_val = g;
				has_any_val = true;
			}
		}
		if (e < 0)
			return e;
		if (!has_any_val)
			return -ENOENT;
		/* SignatureDefMap: map<string, SignatureDef> signature_def = 1. */
		struct field s;
		while ((e = next_field(&any_val.sub, &s)) > 0) {
			if (s.num != 1)
				continue;
			if (s.wt != WT_LEN)
				return CC_E_SYNTAX;
			struct field skey, sval;
			bool has_sval;
			if ((e = map_entry(&s.sub, &skey, &sval, &has_sval)) < 0)
				return e;
			if (!name_is(&skey, signature))
				continue;
			if (!has_sval)
				return -ENOENT;
			return decode_signature(&sval.sub, ret);
		}
		return e < 0 ? e : -ENOENT;
	}
	return e < 0 ? e : -ENOENT;
}
