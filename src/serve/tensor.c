/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tensors: element sizes, deep copy, and conversion from/to
 * tensorflow.TensorProto with TensorFlow's rules (typed *_val fields or
 * tensor_content; a short *_val list is filled with its last value).
 */
#include <errno.h>

#include "serve-internal.h"
#include "tensor.pb-c.h"

void serve_limits_default(struct serve_limits *l)
{
	l->max_tensor_bytes = (size_t)1 << 30;
	l->max_total_bytes = (size_t)2 << 30;
	l->max_elements = (size_t)1 << 28;
	l->max_tensors = 4096;
}

size_t serve_dtype_size(enum serve_dtype dtype)
{
	switch (dtype) {
	case SERVE_DT_FLOAT:
	case SERVE_DT_INT32:
	case SERVE_DT_UINT32:
		return 4;
	case SERVE_DT_DOUBLE:
	case SERVE_DT_INT64:
	case SERVE_DT_UINT64:
		return 8;
	case SERVE_DT_UINT8:
	case SERVE_DT_INT8:
	case SERVE_DT_BOOL:
		return 1;
	case SERVE_DT_INT16:
	case SERVE_DT_UINT16:
	case SERVE_DT_HALF:
	case SERVE_DT_BFLOAT16:
		return 2;
	case SERVE_DT_STRING:
	case SERVE_DT_INVALID:
		return 0;
	}
	return 0;
}

const char *serve_dtype_name(enum serve_dtype dtype)
{
	switch (dtype) {
	case SERVE_DT_INVALID: return "DT_INVALID";
	case SERVE_DT_FLOAT: return "DT_FLOAT";
	case SERVE_DT_DOUBLE: return "DT_DOUBLE";
	case SERVE_DT_INT32: return "DT_INT32";
	case SERVE_DT_UINT8: return "DT_UINT8";
	case SERVE_DT_INT16: return "DT_INT16";
	case SERVE_DT_INT8: return "DT_INT8";
	case SERVE_DT_STRING: return "DT_STRING";
	case SERVE_DT_INT64: return "DT_INT64";
	case SERVE_DT_BOOL: return "DT_BOOL";
	case SERVE_DT_BFLOAT16: return "DT_BFLOAT16";
	case SERVE_DT_UINT16: return "DT_UINT16";
	case SERVE_DT_HALF: return "DT_HALF";
	case SERVE_DT_UINT32: return "DT_UINT32";
	case SERVE_DT_UINT64: return "DT_UINT64";
	}
	return "DT_UNSUPPORTED";
}

static bool dtype_supported(int d)
{
	return d == SERVE_DT_STRING || serve_dtype_size((enum serve_dtype)d) != 0;
}

int serve_tensor_elements(const struct serve_tensor *t, size_t *ret)
{
	size_t n = 1;
	if (t->ndims < 0 || t->ndims > SERVE_MAX_DIMS)
		return -EINVAL;
	for (int i = 0; i < t->ndims; i++) {
		if (t->dims[i] < 0)
			return -EINVAL;
		if (!cc_mul_ok(n, (size_t)t->dims[i], &n))
			return -EOVERFLOW;
	}
	*ret = n;
	return 0;
}

void serve_tensor_clear(struct serve_tensor *t)
{
	if (!t)
		return;
	free(t->name);
	free(t->data);
	for (size_t i = 0; i < t->nstrs; i++)
		free(t->strs[i].data);
	free(t->strs);
	memset(t, 0, sizeof(*t));
}

void serve_tensor_list_clear(struct serve_tensor_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		serve_tensor_clear(&l->t[i]);
	free(l->t);
	l->t = NULL;
	l->n = 0;
}

int serve_tensor_copy(struct serve_tensor *dst, const struct serve_tensor *src)
{
	struct serve_tensor t = *src;
	t.name = NULL;
	t.data = NULL;
	t.strs = NULL;
	t.nstrs = 0;
	if (src->name && !(t.name = strdup(src->name)))
		goto oom;
	if (src->nbytes) {
		t.data = malloc(src->nbytes);
		if (!t.data)
			goto oom;
		memcpy(t.data, src->data, src->nbytes);
	}
	if (src->nstrs) {
		t.strs = calloc(src->nstrs, sizeof(*t.strs));
		if (!t.strs)
			goto oom;
		t.nstrs = src->nstrs;
		for (size_t i = 0; i < src->nstrs; i++) {
			t.strs[i].data = malloc(src->strs[i].len ? src->strs[i].len : 1);
			if (!t.strs[i].data)
				goto oom;
			if (src->strs[i].len)
				memcpy(t.strs[i].data, src->strs[i].data, src->strs[i].len);
			t.strs[i].len = src->strs[i].len;
		}
	}
	*dst = t;
	return 0;
oom:
	serve_tensor_clear(&t);
	return -ENOMEM;
}

/* Fill dst (n elements of esz bytes) from a typed value list of in_n values,
 * converting each with conv; TF's rule: 0 values -> zeros, fewer -> repeat
 * the last, more -> error. */
#define FILL_FROM(TYPE_OUT, SRC, SRC_N)                                        \
	do {                                                                   \
		TYPE_OUT *o = (TYPE_OUT *)data;                                \
		if ((SRC_N) > 0) {                                             \
			for (size_t i = 0; i < n; i++)                         \
				o[i] = (TYPE_OUT)(SRC)[i < (SRC_N) ? i : (SRC_N) - 1]; \
		}                                                              \
	} while (0)

static size_t typed_count(const Tensorflow__TensorProto *tp, enum serve_dtype d)
{
	switch (d) {
	case SERVE_DT_FLOAT: return tp->n_float_val;
	case SERVE_DT_DOUBLE: return tp->n_double_val;
	case SERVE_DT_INT32:
	case SERVE_DT_INT16:
	case SERVE_DT_INT8:
	case SERVE_DT_UINT8:
	case SERVE_DT_UINT16:
		return tp->n_int_val;
	case SERVE_DT_INT64: return tp->n_int64_val;
	case SERVE_DT_UINT32: return tp->n_uint32_val;
	case SERVE_DT_UINT64: return tp->n_uint64_val;
	case SERVE_DT_BOOL: return tp->n_bool_val;
	case SERVE_DT_HALF:
	case SERVE_DT_BFLOAT16:
		return tp->n_half_val;
	case SERVE_DT_STRING: return tp->n_string_val;
	case SERVE_DT_INVALID: return 0;
	}
	return 0;
}

int serve_tensor_from_proto(const Tensorflow__TensorProto *tp, const char *name,
			    const struct serve_limits *lim, struct serve_tensor *dst,
			    struct serve_status *st)
{
	struct serve_limits dl;
	if (!lim) {
		serve_limits_default(&dl);
		lim = &dl;
	}
	const char *nm = name ? name : "";
	if (!dtype_supported((int)tp->dtype)) {
		serve_status_set(st, SERVE_INVALID_ARGUMENT,
				 "tensor parsing error: %s: unsupported dtype %d", nm, (int)tp->dtype);
		return -EINVAL;
	}
	struct serve_tensor t = { .dtype = (enum serve_dtype)tp->dtype };
	if (tp->tensor_shape) {
		if (tp->tensor_shape->unknown_rank) {
			serve_status_set(st, SERVE_INVALID_ARGUMENT,
					 "tensor parsing error: %s: shape of unknown rank", nm);
			return -EINVAL;
		}
		if (tp->tensor_shape->n_dim > SERVE_MAX_DIMS) {
			serve_status_set(st, SERVE_INVALID_ARGUMENT,
					 "tensor parsing error: %s: %zu dimensions (at most %d)", nm,
					 tp->tensor_shape->n_dim, SERVE_MAX_DIMS);
			return -EINVAL;
		}
		t.ndims = (int)tp->tensor_shape->n_dim;
		for (int i = 0; i < t.ndims; i++) {
			int64_t d = tp->tensor_shape->dim[i]->size;
			if (d < 0) {
				serve_status_set(st, SERVE_INVALID_ARGUMENT,
						 "tensor parsing error: %s: negative dimension %" PRId64,
						 nm, d);
				return -EINVAL;
			}
			t.dims[i] = d;
		}
	}
	size_t n;
	int rc = serve_tensor_elements(&t, &n);
	if (rc < 0 || n > lim->max_elements) {
		serve_status_set(st, SERVE_INVALID_ARGUMENT,
				 "tensor parsing error: %s: too many elements", nm);
		return -EINVAL;
	}
	size_t given = typed_count(tp, t.dtype);
	if (t.dtype == SERVE_DT_STRING) {
		if (given > n || (given == 0 && n > 0 && tp->tensor_content.len)) {
			serve_status_set(st, SERVE_INVALID_ARGUMENT,
					 "tensor parsing error: %s: %zu string values for %zu elements",
					 nm, given, n);
			return -EINVAL;
		}
		size_t total = 0;
		for (size_t i = 0; i < given; i++)
			if (!cc_add_ok(total, tp->string_val[i].len, &total))
				total = SIZE_MAX;
		if (total > lim->max_tensor_bytes) {
			serve_status_set(st, SERVE_INVALID_ARGUMENT,
					 "tensor parsing error: %s: larger than %zu bytes", nm,
					 lim->max_tensor_bytes);
			return -EINVAL;
		}
		if (n) {
			t.strs = calloc(n, sizeof(*t.strs));
			if (!t.strs)
				return -ENOMEM;
			t.nstrs = n;
		}
		for (size_t i = 0; i < n; i++) {
			const ProtobufCBinaryData *s = given ? &tp->string_val[i < given ? i : given - 1] : NULL;
			size_t len = s ? s->len : 0;
			t.strs[i].data = malloc(len ? len : 1);
			if (!t.strs[i].data) {
				serve_tensor_clear(&t);
				return -ENOMEM;
			}
			if (len)
				memcpy(t.strs[i].data, s->data, len);
			t.strs[i].len = len;
		}
		goto done;
	}
	size_t esz = serve_dtype_size(t.dtype), bytes;
	if (!cc_mul_ok(n, esz, &bytes) || bytes > lim->max_tensor_bytes) {
		serve_status_set(st, SERVE_INVALID_ARGUMENT,
				 "tensor parsing error: %s: larger than %zu bytes", nm,
				 lim->max_tensor_bytes);
		return -EINVAL;
	}
	if (tp->tensor_content.len) {
		if (tp->tensor_content.len != bytes) {
			serve_status_set(st, SERVE_INVALID_ARGUMENT,
					 "tensor parsing error: %s: tensor_content has %zu bytes, "
					 "shape and dtype need %zu", nm, tp->tensor_content.len, bytes);
			return -EINVAL;
		}
		t.data = malloc(bytes);
		if (!t.data)
			return -ENOMEM;
		memcpy(t.data, tp->tensor_content.data, bytes);
		t.nbytes = bytes;
		goto done;
	}
	if (given > n) {
		serve_status_set(st, SERVE_INVALID_ARGUMENT,
				 "tensor parsing error: %s: %zu values for %zu elements", nm, given, n);
		return -EINVAL;
	}
	t.data = calloc(1, bytes ? bytes : 1);
	if (!t.data)
		return -ENOMEM;
	t.nbytes = bytes;
	void *data = t.data;
	switch (t.dtype) {
	case SERVE_DT_FLOAT: FILL_FROM(float, tp->float_val, given); break;
	case SERVE_DT_DOUBLE: FILL_FROM(double, tp->double_val, given); break;
	case SERVE_DT_INT32: FILL_FROM(int32_t, tp->int_val, given); break;
	case SERVE_DT_INT16: FILL_FROM(int16_t, tp->int_val, given); break;
	case SERVE_DT_INT8: FILL_FROM(int8_t, tp->int_val, given); break;
	case SERVE_DT_UINT8: FILL_FROM(uint8_t, tp->int_val, given); break;
	case SERVE_DT_UINT16: FILL_FROM(uint16_t, tp->int_val, given); break;
	case SERVE_DT_INT64: FILL_FROM(int64_t, tp->int64_val, given); break;
	case SERVE_DT_UINT32: FILL_FROM(uint32_t, tp->uint32_val, given); break;
	case SERVE_DT_UINT64: FILL_FROM(uint64_t, tp->uint64_val, given); break;
	case SERVE_DT_BOOL: FILL_FROM(uint8_t, tp->bool_val, given); break;
	case SERVE_DT_HALF:
	case SERVE_DT_BFLOAT16:
		FILL_FROM(uint16_t, tp->half_val, given);
		break;
	case SERVE_DT_STRING:
	case SERVE_DT_INVALID:
		break;
	}
	if (t.dtype == SERVE_DT_BOOL)
		for (size_t i = 0; i < n; i++)
			((uint8_t *)data)[i] = ((uint8_t *)data)[i] != 0;
done:
	if (name && !(t.name = strdup(name))) {
		serve_tensor_clear(&t);
		return -ENOMEM;
	}
	*dst = t;
	return 0;
}

int serve_tensor_to_proto(const struct serve_tensor *t, Tensorflow__TensorProto **ret)
{
	Tensorflow__TensorProto *tp = malloc(sizeof(*tp));
	Tensorflow__TensorShapeProto *sh = malloc(sizeof(*sh));
	if (!tp || !sh) {
		free(tp);
		free(sh);
		return -ENOMEM;
	}
	tensorflow__tensor_proto__init(tp);
	tensorflow__tensor_shape_proto__init(sh);
	tp->tensor_shape = sh;
	tp->dtype = (Tensorflow__DataType)t->dtype;
	if (t->ndims > 0) {
		sh->dim = calloc((size_t)t->ndims, sizeof(*sh->dim));
		if (!sh->dim)
			goto oom;
		for (int i = 0; i < t->ndims; i++) {
			Tensorflow__TensorShapeProto__Dim *d = malloc(sizeof(*d));
			if (!d)
				goto oom;
			tensorflow__tensor_shape_proto__dim__init(d);
			d->size = t->dims[i];
			sh->dim[i] = d;
			sh->n_dim++;
		}
	}
	if (t->dtype == SERVE_DT_STRING) {
		if (t->nstrs) {
			tp->string_val = calloc(t->nstrs, sizeof(*tp->string_val));
			if (!tp->string_val)
				goto oom;
			for (size_t i = 0; i < t->nstrs; i++) {
				tp->string_val[i].data = malloc(t->strs[i].len ? t->strs[i].len : 1);
				if (!tp->string_val[i].data)
					goto oom;
				if (t->strs[i].len)
					memcpy(tp->string_val[i].data, t->strs[i].data, t->strs[i].len);
				tp->string_val[i].len = t->strs[i].len;
				tp->n_string_val++;
			}
		}
	} else if (t->nbytes) {
		tp->tensor_content.data = malloc(t->nbytes);
		if (!tp->tensor_content.data)
			goto oom;
		memcpy(tp->tensor_content.data, t->data, t->nbytes);
		tp->tensor_content.len = t->nbytes;
	}
	*ret = tp;
	return 0;
oom:
	tensorflow__tensor_proto__free_unpacked(tp, NULL);
	return -ENOMEM;
}
