/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "ccserve/serve.h"
#include "tensor.pb-c.h"

static Tensorflow__TensorShapeProto__Dim d0 = TENSORFLOW__TENSOR_SHAPE_PROTO__DIM__INIT;
static Tensorflow__TensorShapeProto__Dim d1 = TENSORFLOW__TENSOR_SHAPE_PROTO__DIM__INIT;
static Tensorflow__TensorShapeProto__Dim *dims[2] = { &d0, &d1 };

static void shape(Tensorflow__TensorProto *tp, Tensorflow__TensorShapeProto *sh, int n,
		  int64_t a, int64_t b)
{
	tensorflow__tensor_shape_proto__init(sh);
	d0.size = a;
	d1.size = b;
	sh->n_dim = (size_t)n;
	sh->dim = dims;
	tp->tensor_shape = sh;
}

static void test_typed_and_fill(void **state)
{
	(void)state;
	struct serve_status st;
	Tensorflow__TensorProto tp = TENSORFLOW__TENSOR_PROTO__INIT;
	Tensorflow__TensorShapeProto sh;
	float fv[] = { 1.0f, 2.0f };
	tp.dtype = TENSORFLOW__DATA_TYPE__DT_FLOAT;
	tp.float_val = fv;
	tp.n_float_val = 2;
	shape(&tp, &sh, 2, 2, 2);
	struct serve_tensor t;
	assert_int_equal(serve_tensor_from_proto(&tp, "x", NULL, &t, &st), 0);
	assert_int_equal(t.ndims, 2);
	assert_int_equal(t.nbytes, 16);
	float *o = t.data;
	/* Fewer values than elements: the last one fills the rest. */
	assert_true(o[0] == 1.0f && o[1] == 2.0f && o[2] == 2.0f && o[3] == 2.0f);
	assert_string_equal(t.name, "x");
	serve_tensor_clear(&t);

	/* No values at all: zeros. */
	tp.n_float_val = 0;
	assert_int_equal(serve_tensor_from_proto(&tp, NULL, NULL, &t, &st), 0);
	assert_true(((float *)t.data)[3] == 0.0f);
	serve_tensor_clear(&t);

	/* Too many values. */
	float many[5] = { 0 };
	tp.float_val = many;
	tp.n_float_val = 5;
	assert_int_equal(serve_tensor_from_proto(&tp, "x", NULL, &t, &st), -EINVAL);
	assert_int_equal(st.code, SERVE_INVALID_ARGUMENT);
	assert_non_null(strstr(st.msg, "x"));

	/* int_val carries int8; scalar shape. */
	Tensorflow__TensorProto ti = TENSORFLOW__TENSOR_PROTO__INIT;
	int32_t iv[] = { -3 };
	ti.dtype = TENSORFLOW__DATA_TYPE__DT_INT8;
	ti.int_val = iv;
	ti.n_int_val = 1;
	assert_int_equal(serve_tensor_from_proto(&ti, NULL, NULL, &t, &st), 0);
	assert_int_equal(t.ndims, 0);
	assert_int_equal(((int8_t *)t.data)[0], -3);
	serve_tensor_clear(&t);
}

static void test_content_and_errors(void **state)
{
	(void)state;
	struct serve_status st;
	Tensorflow__TensorProto tp = TENSORFLOW__TENSOR_PROTO__INIT;
	Tensorflow__TensorShapeProto sh;
	int64_t vals[3] = { 1, -2, 3 };
	tp.dtype = TENSORFLOW__DATA_TYPE__DT_INT64;
	shape(&tp, &sh, 1, 3, 0);
	tp.tensor_content.data = (uint8_t *)vals;
	tp.tensor_content.len = sizeof(vals);
	struct serve_tensor t;
	assert_int_equal(serve_tensor_from_proto(&tp, "a", NULL, &t, &st), 0);
	assert_int_equal(((int64_t *)t.data)[1], -2);

	/* Round trip through TensorProto. */
	Tensorflow__TensorProto *out = NULL;
	assert_int_equal(serve_tensor_to_proto(&t, &out), 0);
	assert_int_equal(out->dtype, TENSORFLOW__DATA_TYPE__DT_INT64);
	assert_int_equal(out->tensor_shape->n_dim, 1);
	assert_int_equal(out->tensor_shape->dim[0]->size, 3);
	assert_memory_equal(out->tensor_content.data, vals, sizeof(vals));
	size_t n = tensorflow__tensor_proto__get_packed_size(out);
	uint8_t *buf = malloc(n);
	tensorflow__tensor_proto__pack(out, buf);
	Tensorflow__TensorProto *back = tensorflow__tensor_proto__unpack(NULL, n, buf);
	assert_non_null(back);
	assert_int_equal(back->tensor_content.len, sizeof(vals));
	tensorflow__tensor_proto__free_unpacked(back, NULL);
	free(buf);
	tensorflow__tensor_proto__free_unpacked(out, NULL);
	serve_tensor_clear(&t);

	tp.tensor_content.len = 23;
	assert_int_equal(serve_tensor_from_proto(&tp, "a", NULL, &t, &st), -EINVAL);
	assert_non_null(strstr(st.msg, "tensor_content"));

	shape(&tp, &sh, 2, -1, 2);
	assert_int_equal(serve_tensor_from_proto(&tp, "a", NULL, &t, &st), -EINVAL);
	assert_non_null(strstr(st.msg, "negative"));

	/* Overflowing element count. */
	shape(&tp, &sh, 2, INT64_MAX, INT64_MAX);
	assert_int_equal(serve_tensor_from_proto(&tp, "a", NULL, &t, &st), -EINVAL);

	/* Caps. */
	struct serve_limits lim;
	serve_limits_default(&lim);
	lim.max_tensor_bytes = 16;
	shape(&tp, &sh, 1, 3, 0);
	tp.tensor_content.len = sizeof(vals);
	assert_int_equal(serve_tensor_from_proto(&tp, "a", &lim, &t, &st), -EINVAL);

	tp.dtype = 99;
	assert_int_equal(serve_tensor_from_proto(&tp, "a", NULL, &t, &st), -EINVAL);
	assert_non_null(strstr(st.msg, "unsupported dtype"));

	tp.dtype = TENSORFLOW__DATA_TYPE__DT_FLOAT;
	tp.tensor_shape->unknown_rank = 1;
	assert_int_equal(serve_tensor_from_proto(&tp, "a", NULL, &t, &st), -EINVAL);
}

static void test_strings(void **state)
{
	(void)state;
	struct serve_status st;
	Tensorflow__TensorProto tp = TENSORFLOW__TENSOR_PROTO__INIT;
	Tensorflow__TensorShapeProto sh;
	ProtobufCBinaryData sv[2] = { { 3, (uint8_t *)"abc" }, { 0, NULL } };
	tp.dtype = TENSORFLOW__DATA_TYPE__DT_STRING;
	tp.string_val = sv;
	tp.n_string_val = 1;
	shape(&tp, &sh, 1, 3, 0);
	struct serve_tensor t, c;
	assert_int_equal(serve_tensor_from_proto(&tp, "s", NULL, &t, &st), 0);
	assert_int_equal(t.nstrs, 3);
	assert_memory_equal(t.strs[2].data, "abc", 3);
	assert_int_equal(serve_tensor_copy(&c, &t), 0);
	assert_int_equal(c.strs[1].len, 3);
	serve_tensor_clear(&t);
	Tensorflow__TensorProto *out = NULL;
	assert_int_equal(serve_tensor_to_proto(&c, &out), 0);
	assert_int_equal(out->n_string_val, 3);
	tensorflow__tensor_proto__free_unpacked(out, NULL);
	serve_tensor_clear(&c);
	/* half */
	assert_int_equal(serve_dtype_size(SERVE_DT_HALF), 2);
	assert_string_equal(serve_dtype_name(SERVE_DT_BOOL), "DT_BOOL");
	assert_int_equal(serve_code_http_status(SERVE_NOT_FOUND), 404);
	assert_int_equal(serve_code_http_status(SERVE_FAILED_PRECONDITION), 400);
	assert_int_equal(serve_code_http_status(SERVE_UNAVAILABLE), 503);
	assert_string_equal(serve_code_name(SERVE_DEADLINE_EXCEEDED), "DEADLINE_EXCEEDED");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_typed_and_fill),
		cmocka_unit_test(test_content_and_errors),
		cmocka_unit_test(test_strings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
