/* SPDX-License-Identifier: Apache-2.0 */
/* The protobuf wire codec, cross-checked with the Python protobuf runtime
 * (messages described there from the published field numbers). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pb.h"
#include "testutil.h"

static void decode_with_python(const struct cc_buf *b, const char *name, char *out, size_t outsz)
{
	char path[300];
	tu_path(path, sizeof(path), name);
	assert_int_equal(tu_write(path, b->data, b->len), 0);
	assert_int_equal(tu_ref(out, outsz, "pbdecode-request %s", path), 0);
}

static void test_encode_predict(void **state)
{
	const int64_t dims[4] = { 2, 3, 4, 3 };
	float data[72];
	double sum = 0;
	for (int i = 0; i < 72; i++) {
		data[i] = (float)i * 0.25f - 3;
		sum += data[i];
	}
	struct cl_model_spec spec = { .name = "resnet50-v15-fp32", .signature_name = "serving_default",
				      .version = -1 };
	struct cc_buf b;
	char out[4096], want[256];
	cc_buf_init(&b, 0, false);
	assert_int_equal(cl_pb_encode_predict(&b, &spec, "input", dims, 4, data), 0);
	decode_with_python(&b, "req.bin", out, sizeof(out));
	assert_non_null(strstr(out, "\"model\": \"resnet50-v15-fp32\""));
	assert_non_null(strstr(out, "\"signature\": \"serving_default\""));
	assert_non_null(strstr(out, "\"has_version\": false"));
	assert_non_null(strstr(out, "\"input\": {\"dtype\": 1, \"dims\": [2, 3, 4, 3], \"count\": 72"));
	snprintf(want, sizeof(want), "\"sum\": %.1f", sum);
	assert_non_null(strstr(out, want));
	assert_non_null(strstr(out, "\"first\": [-3.0, -2.75, -2.5, -2.25]"));
	/* Byte-identical to the protobuf runtime's deterministic encoding. */
	assert_non_null(strstr(out, "\"reserialized_equal\": true"));

	/* Version 0 is an explicit (empty) Int64Value; 7 carries the value. */
	for (int64_t v = 0; v <= 7; v += 7) {
		cc_buf_reset(&b);
		spec.version = v;
		spec.signature_name = NULL;
		assert_int_equal(cl_pb_encode_predict(&b, &spec, "x", dims, 1, data), 0);
		decode_with_python(&b, "req.bin", out, sizeof(out));
		assert_non_null(strstr(out, "\"has_version\": true"));
		snprintf(want, sizeof(want), "\"version\": %lld", (long long)v);
		assert_non_null(strstr(out, want));
		assert_non_null(strstr(out, "\"signature\": \"\""));
		assert_non_null(strstr(out, "\"reserialized_equal\": true"));
	}

	/* A zero dimension is omitted in Dim (proto3 default) and no content. */
	cc_buf_reset(&b);
	const int64_t zdims[2] = { 0, 3 };
	assert_int_equal(cl_pb_encode_predict(&b, &spec, "x", zdims, 2, NULL), 0);
	decode_with_python(&b, "req.bin", out, sizeof(out));
	assert_non_null(strstr(out, "\"dims\": [0, 3], \"count\": 0"));
	assert_non_null(strstr(out, "\"reserialized_equal\": true"));

	/* Bad arguments. */
	const int64_t neg[1] = { -1 };
	assert_int_equal(cl_pb_encode_predict(&b, &spec, "x", neg, 1, data), -EINVAL);
	assert_int_equal(cl_pb_encode_predict(&b, &spec, "", dims, 1, data), -EINVAL);
	const int64_t huge[3] = { INT64_MAX, INT64_MAX, 2 };
	assert_int_equal(cl_pb_encode_predict(&b, &spec, "x", huge, 3, data), CC_E_OVERFLOW);
	struct cl_model_spec nospec = { .name = "", .version = -1 };
	assert_int_equal(cl_pb_encode_predict(&b, &nospec, "x", dims, 1, data), -EINVAL);
	cc_buf_free(&b);
}

static void test_encode_metadata(void **state)
{
	struct cl_model_spec spec = { .name = "m", .signature_name = "serving_default", .version = 3 };
	struct cc_buf b;
	char out[1024];
	cc_buf_init(&b, 0, false);
	assert_int_equal(cl_pb_encode_metadata_req(&b, &spec), 0);
	decode_with_python(&b, "req.meta", out, sizeof(out));
	assert_non_null(strstr(out, "\"model\": \"m\""));
	assert_non_null(strstr(out, "\"version\": 3"));
	assert_non_null(strstr(out, "\"fields\": [\"signature_def\"]"));
	assert_non_null(strstr(out, "\"reserialized_equal\": true"));
	cc_buf_free(&b);
}

static uint8_t *python_message(const char *cmd, const char *kind, size_t *len)
{
	char path[300];
	tu_path(path, sizeof(path), kind);
	assert_int_equal(tu_ref(NULL, 0, "%s %s %s", cmd, kind, path), 0);
	uint8_t *p = tu_read(path, len);
	assert_non_null(p);
	return p;
}

static void expect_resp(const char *kind, float scale, float offset)
{
	size_t len;
	uint8_t *msg = python_message("pbencode-response", kind, &len);
	struct cl_predict_resp r;
	int e = cl_pb_decode_predict_resp(msg, len, &r);
	if (e < 0)
		fail_msg("%s: %s", kind, cc_strerror(e));
	assert_true(r.n >= 1);
	const struct cl_tensor *t = NULL;
	for (size_t i = 0; i < r.n; i++)
		if (!strcmp(r.t[i].name, "predict"))
			t = &r.t[i];
	if (!t) {
		fail_msg("%s: no output \"predict\"", kind);
		return;
	}
	assert_int_equal(t->ndims, 2);
	assert_int_equal(t->dims[0], 2);
	assert_int_equal(t->dims[1], 5);
	assert_int_equal(t->count, 10);
	for (int i = 0; i < 10; i++) {
		float want = strcmp(kind, "compact") == 0 ? 1.5f : ((float)i * 0.5f - 1) * scale + offset;
		if (fabsf(t->vals[i] - want) > 1e-6f)
			fail_msg("%s: value %d is %g, expected %g", kind, i, t->vals[i], want);
	}
	cl_predict_resp_free(&r);

	/* Every prefix either parses or fails cleanly (ASan checks reads). */
	for (size_t cut = 0; cut < len; cut++) {
		uint8_t *p = malloc(cut ? cut : 1);
		memcpy(p, msg, cut);
		if (cl_pb_decode_predict_resp(p, cut, &r) == 0)
			cl_predict_resp_free(&r);
		free(p);
	}
	free(msg);
}

static void test_decode_predict(void **state)
{
	expect_resp("content", 1, 0);
	expect_resp("float_val", 1, 0);
	expect_resp("double_val", 1, 0);
	expect_resp("unpacked", 1, 0);
	expect_resp("int64_val", 2, 0);
	expect_resp("compact", 1, 0);
	expect_resp("two_outputs", 1, 0);

	size_t len;
	uint8_t *msg = python_message("pbencode-response", "two_outputs", &len);
	struct cl_predict_resp r;
	assert_int_equal(cl_pb_decode_predict_resp(msg, len, &r), 0);
	assert_int_equal(r.n, 2);
	const struct cl_tensor *c = !strcmp(r.t[0].name, "classes") ? &r.t[0] : &r.t[1];
	assert_string_equal(c->name, "classes");
	assert_int_equal(c->count, 2);
	assert_true(c->vals[0] == 3 && c->vals[1] == 4);
	cl_predict_resp_free(&r);
	free(msg);

	msg = python_message("pbencode-response", "mismatch", &len);
	assert_int_equal(cl_pb_decode_predict_resp(msg, len, &r), CC_E_SYNTAX);
	free(msg);
}

static void test_decode_malformed(void **state)
{
	struct cl_predict_resp r;
	/* Wire types 3 (group), 4, 6 and 7 are refused. */
	const uint8_t group[] = { 0x0b, 0x0c };
	assert_int_equal(cl_pb_decode_predict_resp(group, sizeof(group), &r), CC_E_SYNTAX);
	const uint8_t wt7[] = { 0x0f };
	assert_int_equal(cl_pb_decode_predict_resp(wt7, sizeof(wt7), &r), CC_E_SYNTAX);
	/* Field number 0. */
	const uint8_t f0[] = { 0x02, 0x00 };
	assert_int_equal(cl_pb_decode_predict_resp(f0, sizeof(f0), &r), CC_E_SYNTAX);
	/* A length beyond the end. */
	const uint8_t longlen[] = { 0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00 };
	assert_int_equal(cl_pb_decode_predict_resp(longlen, sizeof(longlen), &r), CC_E_TRUNCATED);
	/* An 11-byte varint. */
	const uint8_t overlong[] = { 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
	assert_true(cl_pb_decode_predict_resp(overlong, sizeof(overlong), &r) < 0);
	/* outputs entry whose value is a varint (wrong wire type). */
	const uint8_t wrongwt[] = { 0x0a, 0x02, 0x10, 0x01 };
	assert_int_equal(cl_pb_decode_predict_resp(wrongwt, sizeof(wrongwt), &r), CC_E_SYNTAX);
	/* A shape of 2^40 x 2^40 with one float: refused, no huge allocation. */
	const uint8_t bigshape[] = { 0x0a, 0x1a, 0x0a, 0x01, 'y', 0x12, 0x15, 0x08, 0x01, 0x12, 0x10,
				     0x12, 0x07, 0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 0x00,
				     0x12, 0x05, 0x08, 0x80, 0x80, 0x80, 0x01 };
	assert_true(cl_pb_decode_predict_resp(bigshape, sizeof(bigshape), &r) < 0);
	/* Empty message: no outputs, fine. */
	assert_int_equal(cl_pb_decode_predict_resp((const uint8_t *)"", 0, &r), 0);
	assert_int_equal(r.n, 0);
	/* Too many outputs. */
	uint8_t many[(CL_PB_MAX_OUTPUTS + 1) * 5];
	for (size_t i = 0; i <= CL_PB_MAX_OUTPUTS; i++) {
		const uint8_t e[5] = { 0x0a, 0x03, 0x0a, 0x01, (uint8_t)('a' + i) };
		memcpy(many + 5 * i, e, 5);
	}
	assert_int_equal(cl_pb_decode_predict_resp(many, sizeof(many), &r), CC_E_TOOBIG);
}

static void test_decode_metadata(void **state)
{
	size_t len;
	struct cl_sig_input si;
	uint8_t *msg = python_message("pbencode-metadata", "one", &len);
	assert_int_equal(cl_pb_decode_metadata(msg, len, NULL, &si), 0);
	assert_string_equal(si.alias, "input");
	assert_int_equal(si.dtype, CL_DT_FLOAT);
	assert_int_equal(si.ndims, 4);
	assert_int_equal(si.dims[0], -1);
	assert_int_equal(si.dims[1], 299);
	assert_int_equal(si.dims[2], 320);
	assert_int_equal(si.dims[3], 3);
	assert_int_equal(si.n_inputs, 1);
	assert_int_equal(si.n_outputs, 1);
	assert_int_equal(cl_pb_decode_metadata(msg, len, "other", &si), 0);
	assert_string_equal(si.alias, "x");
	assert_int_equal(si.dtype, CL_DT_INT32);
	assert_int_equal(cl_pb_decode_metadata(msg, len, "missing", &si), -ENOENT);
	for (size_t cut = 0; cut < len; cut++)
		(void)cl_pb_decode_metadata(msg, cut, NULL, &si);
	free(msg);

	msg = python_message("pbencode-metadata", "two_inputs", &len);
	assert_int_equal(cl_pb_decode_metadata(msg, len, "serving_default", &si), -E2BIG);
	assert_int_equal(si.n_inputs, 2);
	free(msg);
	assert_int_equal(cl_pb_decode_metadata((const uint8_t *)"", 0, NULL, &si), -ENOENT);
}

static void test_varint(void **state)
{
	const uint64_t vals[] = { 0, 1, 127, 128, 300, UINT32_MAX, UINT64_MAX };
	for (size_t i = 0; i < CC_ARRAY_SIZE(vals); i++) {
		struct cc_buf b;
		cc_buf_init(&b, 0, false);
		assert_int_equal(cl_pb_put_varint(&b, vals[i]), 0);
		struct cc_reader r;
		cc_reader_init(&r, b.data, b.len);
		uint64_t v;
		assert_int_equal(cl_pb_get_varint(&r, &v), 0);
		assert_true(v == vals[i]);
		assert_int_equal(cc_reader_remaining(&r), 0);
		cc_buf_free(&b);
	}
	/* Ten bytes whose last carries more than bit 63. */
	const uint8_t over[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02 };
	struct cc_reader r;
	uint64_t v;
	cc_reader_init(&r, over, sizeof(over));
	assert_int_equal(cl_pb_get_varint(&r, &v), CC_E_SYNTAX);
}

static int teardown(void **state)
{
	tu_cleanup();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_predict),
		cmocka_unit_test(test_encode_metadata),
		cmocka_unit_test(test_decode_predict),
		cmocka_unit_test(test_decode_malformed),
		cmocka_unit_test(test_decode_metadata),
		cmocka_unit_test(test_varint),
	};
	return cmocka_run_group_tests(tests, NULL, teardown);
}
