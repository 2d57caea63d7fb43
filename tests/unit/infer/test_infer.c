/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the inference engine's public API: the two half_plus_two
 * SavedModels written by TensorFlow (TF1 with a variables bundle, TF2 with
 * a function library and resource variables), signature metadata, input
 * validation, the file callback, .npy round trips, the tensor bundle's
 * Snappy/CRC helpers and bad-model rejection.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <ccserve/infer.h>
#include <ccserve/util.h>

#include "ccserve-config.h"
#include "internal.h"
#include "example.pb-c.h"

static char tf1[4096], tf2[4096];

static int setup(void **state)
{
	const char *sh = getenv("CCSERVE_SHARED_TESTDATA");
	if (!sh)
		sh = CCSERVE_SHARED_TESTDATA;
	snprintf(tf1, sizeof(tf1), "%s/tfserving/saved_model_half_plus_two_cpu/00000123", sh);
	snprintf(tf2, sizeof(tf2), "%s/tfserving/saved_model_half_plus_two_tf2_cpu/00000123", sh);
	cc_log_set_level(CC_LOG_ERROR);
	(void)state;
	return 0;
}

static void run_hp2(struct infer_model *m, const char *sig, const char *in,
		    const char *out, float add)
{
	float x[4] = { 1.0f, 2.0f, 5.0f, -3.5f };
	const struct infer_signature_info *si = infer_model_find_signature(m, sig);
	assert_non_null(si);
	assert_true(si->available);
	int rank = si->inputs[0].rank;
	struct infer_tensor t = { in, INFER_DT_FLOAT, rank, { 4, 1 }, x, sizeof(x) };
	struct infer_tensor o = { out, 0, 0, { 0 }, NULL, 0 };
	char err[512];
	int r = infer_model_run(m, sig, &t, 1, &o, 1, err, sizeof(err));
	if (r)
		fail_msg("run %s: %s", sig, err);
	assert_int_equal(o.dtype, INFER_DT_FLOAT);
	assert_int_equal(o.rank, rank);
	assert_int_equal(o.dims[0], 4);
	assert_int_equal(o.size, sizeof(x));
	for (int i = 0; i < 4; i++)
		assert_float_equal(((float *)o.data)[i], 0.5f * x[i] + add, 1e-6);
	free(o.data);
}

static void test_tf1_half_plus_two(void **state)
{
	(void)state;
	struct infer_model *m;
	char err[1024];
	int r = infer_model_load_path(tf1, NULL, err, sizeof(err), &m);
	if (r)
		fail_msg("load: %s", err);
	assert_int_equal(infer_model_format(m), INFER_FORMAT_SAVED_MODEL);
	run_hp2(m, NULL, "x", "y", 2.0f);
	run_hp2(m, "serving_default", "x", "y", 2.0f);
	run_hp2(m, "regress_x2_to_y3", "inputs", "outputs", 3.0f);
	/* metadata */
	const struct infer_signature_info *s = infer_model_find_signature(m, NULL);
	assert_string_equal(s->name, "serving_default");
	assert_string_equal(s->method_name, "tensorflow/serving/predict");
	assert_int_equal(s->n_inputs, 1);
	assert_string_equal(s->inputs[0].name, "x");
	assert_string_equal(s->inputs[0].tensor_name, "x:0");
	assert_int_equal(s->inputs[0].rank, 2);
	assert_int_equal(s->inputs[0].dims[0], -1);
	assert_int_equal(s->inputs[0].dims[1], 1);
	assert_int_equal(s->n_features, 0);
	assert_null(s->features);
	/* tf.Example signatures: the string input feeds ParseExample, whose
	 * dense features are listed */
	s = infer_model_find_signature(m, "classify_x_to_y");
	assert_non_null(s);
	assert_true(s->available);
	assert_int_equal(s->inputs[0].dtype, INFER_DT_STRING);
	assert_int_equal(s->n_features, 2);
	assert_string_equal(s->features[0].name, "x");
	assert_int_equal(s->features[0].dtype, INFER_DT_FLOAT);
	assert_int_equal(s->features[0].rank, 1);
	assert_int_equal(s->features[0].dims[0], 1);
	assert_true(s->features[0].required);
	assert_string_equal(s->features[1].name, "x2");
	assert_false(s->features[1].required);
	float x = 1;
	struct infer_tensor t = { "inputs", INFER_DT_FLOAT, 1, { 1 }, &x, 4 };
	r = infer_model_run(m, "classify_x_to_y", &t, 1, NULL, 0, err, sizeof(err));
	assert_int_equal(r, INFER_E_BAD_INPUT);
	assert_non_null(strstr(err, "tf.Example"));
	assert_null(infer_model_find_signature(m, "nope"));
	size_t n = infer_model_signature_count(m);
	assert_int_equal(n, 5);
	for (size_t i = 1; i < n; i++)
		assert_true(strcmp(infer_model_signature(m, i - 1)->name,
				   infer_model_signature(m, i)->name) < 0);
	infer_model_free(m);
}

static void test_tf2_half_plus_two(void **state)
{
	(void)state;
	struct infer_model *m;
	char err[1024];
	int r = infer_model_load_path(tf2, NULL, err, sizeof(err), &m);
	if (r)
		fail_msg("load: %s", err);
	const struct infer_signature_info *s = infer_model_find_signature(m, NULL);
	assert_int_equal(s->inputs[0].rank, 1);
	/* the TF2 signatures take [1]-shaped inputs */
	float x = 3.0f;
	struct infer_tensor t = { "x", INFER_DT_FLOAT, 1, { 1 }, &x, 4 };
	float y = 0;
	struct infer_tensor o = { "y", 0, 0, { 0 }, &y, sizeof(y) };
	r = infer_model_run(m, NULL, &t, 1, &o, 1, err, sizeof(err));
	if (r)
		fail_msg("run: %s", err);
	assert_float_equal(y, 3.5f, 1e-6);
	t.name = "inputs";
	o.name = "outputs";
	r = infer_model_run(m, "regress_x2_to_y3", &t, 1, &o, 1, err, sizeof(err));
	assert_int_equal(r, 0);
	assert_float_equal(y, 4.5f, 1e-6);
	o.name = "scores";
	r = infer_model_run(m, "classify_x2_to_y3", &t, 1, &o, 1, err, sizeof(err));
	assert_int_equal(r, 0);
	assert_float_equal(y, 4.5f, 1e-6);
	infer_model_free(m);
}

static void test_bad_inputs(void **state)
{
	(void)state;
	struct infer_model *m;
	char err[1024];
	assert_int_equal(infer_model_load_path(tf1, NULL, err, sizeof(err), &m), 0);
	float x[2] = { 1, 2 };
	int32_t xi[2] = { 1, 2 };
	struct infer_tensor t = { "x", INFER_DT_INT32, 2, { 2, 1 }, xi, sizeof(xi) };
	assert_int_equal(infer_model_run(m, NULL, &t, 1, NULL, 0, err, sizeof(err)),
			 INFER_E_BAD_INPUT);
	assert_non_null(strstr(err, "DT_FLOAT"));
	t = (struct infer_tensor){ "x", INFER_DT_FLOAT, 2, { 1, 2 }, x, sizeof(x) };
	assert_int_equal(infer_model_run(m, NULL, &t, 1, NULL, 0, err, sizeof(err)),
			 INFER_E_BAD_INPUT); /* dim 1 must be 1 */
	/* another rank than declared: TensorFlow feeds it as it is (TF Serving
	 * answers {"instances": [1.0, 2.0, 5.0]} on x [-1, 1]) */
	t = (struct infer_tensor){ "x", INFER_DT_FLOAT, 1, { 2 }, x, sizeof(x) };
	float y2[2];
	struct infer_tensor o2 = { "y", 0, 0, { 0 }, y2, sizeof(y2) };
	assert_int_equal(infer_model_run(m, NULL, &t, 1, &o2, 1, err, sizeof(err)), 0);
	assert_int_equal(o2.rank, 1);
	assert_int_equal(o2.dims[0], 2);
	assert_float_equal(y2[0], 2.5f, 1e-6);
	assert_float_equal(y2[1], 3.0f, 1e-6);
	t = (struct infer_tensor){ "x", INFER_DT_FLOAT, 3, { 2, 1, 1 }, x, sizeof(x) };
	assert_int_equal(infer_model_run(m, NULL, &t, 1, NULL, 0, err, sizeof(err)), 0);
	t = (struct infer_tensor){ "x", INFER_DT_FLOAT, 2, { 2, 1 }, x, 4 };
	assert_int_equal(infer_model_run(m, NULL, &t, 1, NULL, 0, err, sizeof(err)),
			 INFER_E_BAD_INPUT); /* size */
	t = (struct infer_tensor){ "z", INFER_DT_FLOAT, 2, { 2, 1 }, x, sizeof(x) };
	assert_int_equal(infer_model_run(m, NULL, &t, 1, NULL, 0, err, sizeof(err)),
			 INFER_E_BAD_INPUT); /* name */
	t = (struct infer_tensor){ "x", INFER_DT_FLOAT, 2, { 100000, 1 }, NULL, 400000 };
	assert_int_equal(infer_model_run(m, NULL, &t, 1, NULL, 0, err, sizeof(err)),
			 INFER_E_LIMIT); /* batch above max_batch */
	t = (struct infer_tensor){ "x", INFER_DT_FLOAT, 2, { 2, 1 }, x, sizeof(x) };
	float small;
	struct infer_tensor o = { "y", 0, 0, { 0 }, &small, sizeof(small) };
	assert_int_equal(infer_model_run(m, NULL, &t, 1, &o, 1, err, sizeof(err)),
			 INFER_E_BAD_INPUT); /* output buffer too small */
	assert_int_equal(o.dims[0], 2);
	o = (struct infer_tensor){ "nope", 0, 0, { 0 }, NULL, 0 };
	assert_int_equal(infer_model_run(m, NULL, &t, 1, &o, 1, err, sizeof(err)),
			 INFER_E_NOT_FOUND);
	assert_null(o.data);
	assert_int_equal(infer_model_run(m, "nope", &t, 1, NULL, 0, err, sizeof(err)),
			 INFER_E_NOT_FOUND);
	/* batch 0 is a valid, empty run */
	t = (struct infer_tensor){ "x", INFER_DT_FLOAT, 2, { 0, 1 }, x, 0 };
	o = (struct infer_tensor){ "y", 0, 0, { 0 }, NULL, 0 };
	assert_int_equal(infer_model_run(m, NULL, &t, 1, &o, 1, err, sizeof(err)), 0);
	assert_int_equal(o.dims[0], 0);
	free(o.data);
	assert_int_equal(infer_model_prepare(m, NULL, 8, err, sizeof(err)), 0);
	infer_model_free(m);
}

/* ------------------------------------------------------------------------ */
/* tf.Example                                                               */

/* Serialises an Example with one feature: kind 'f' (float_list), 'i'
 * (int64_list), 'b' (bytes_list) or 0 (no feature). */
static uint8_t *make_example(const char *key, char kind, const double *v, size_t n,
			     size_t *ret_len)
{
	Tensorflow__Example ex = TENSORFLOW__EXAMPLE__INIT;
	Tensorflow__Features fs = TENSORFLOW__FEATURES__INIT;
	Tensorflow__Features__FeatureEntry en = TENSORFLOW__FEATURES__FEATURE_ENTRY__INIT;
	Tensorflow__Features__FeatureEntry *enp = &en;
	Tensorflow__Feature f = TENSORFLOW__FEATURE__INIT;
	Tensorflow__FloatList fl = TENSORFLOW__FLOAT_LIST__INIT;
	Tensorflow__Int64List il = TENSORFLOW__INT64_LIST__INIT;
	Tensorflow__BytesList bl = TENSORFLOW__BYTES_LIST__INIT;
	float fv[8];
	int64_t iv[8];
	ProtobufCBinaryData bv[8];
	for (size_t i = 0; i < n && i < 8; i++) {
		fv[i] = (float)v[i];
		iv[i] = (int64_t)v[i];
		bv[i] = (ProtobufCBinaryData){ 3, (uint8_t *)"abc" };
	}
	if (kind) {
		ex.features = &fs;
		fs.n_feature = 1;
		fs.feature = &enp;
		en.key = (char *)key;
		en.value = &f;
	}
	if (kind == 'f') {
		f.kind_case = TENSORFLOW__FEATURE__KIND_FLOAT_LIST;
		f.float_list = &fl;
		fl.n_value = n;
		fl.value = fv;
	} else if (kind == 'i') {
		f.kind_case = TENSORFLOW__FEATURE__KIND_INT64_LIST;
		f.int64_list = &il;
		il.n_value = n;
		il.value = iv;
	} else if (kind == 'b') {
		f.kind_case = TENSORFLOW__FEATURE__KIND_BYTES_LIST;
		f.bytes_list = &bl;
		bl.n_value = n;
		bl.value = bv;
	}
	size_t len = tensorflow__example__get_packed_size(&ex);
	uint8_t *buf = malloc(len + 1);
	assert_non_null(buf);
	tensorflow__example__pack(&ex, buf);
	*ret_len = len;
	return buf;
}

static int run_ex(struct infer_model *m, const char *sig, const char *out,
		  struct infer_bytes *ex, size_t n, const struct infer_bytes *ctx,
		  float *y, char *err, size_t errlen)
{
	struct infer_tensor o = { out, 0, 0, { 0 }, NULL, 0 };
	int r = infer_model_run_examples(m, sig, ex, n, ctx, &o, 1, err, errlen);
	if (r)
		return r;
	assert_int_equal(o.dtype, INFER_DT_FLOAT);
	assert_int_equal(o.rank, 2);
	assert_int_equal(o.dims[0], (int64_t)n);
	assert_int_equal(o.dims[1], 1);
	memcpy(y, o.data, n * sizeof(float));
	free(o.data);
	return 0;
}

static void test_examples(void **state)
{
	(void)state;
	struct infer_model *m;
	char err[1024];
	assert_int_equal(infer_model_load_path(tf1, NULL, err, sizeof(err), &m), 0);
	double one = 1, two = 2, five = 5, pair[2] = { 1, 2 };
	size_t l0, l1, lc, le;
	uint8_t *e1 = make_example("x", 'f', &one, 1, &l0);
	uint8_t *e2 = make_example("x", 'f', &two, 1, &l1);
	uint8_t *enone = make_example(NULL, 0, NULL, 0, &le);
	uint8_t *c5 = make_example("x", 'f', &five, 1, &lc);
	struct infer_bytes ex[3] = { { e1, l0 }, { e2, l1 }, { enone, le } };
	float y[3];
	/* TF Serving: Regress examples [{x: 1.0}, {x: 2.0}] -> [2.5, 3.0] */
	int r = run_ex(m, "regress_x_to_y", "outputs", ex, 2, NULL, y, err, sizeof(err));
	if (r)
		fail_msg("regress: %s", err);
	assert_float_equal(y[0], 2.5f, 1e-6);
	assert_float_equal(y[1], 3.0f, 1e-6);
	assert_int_equal(run_ex(m, "regress_x_to_y2", "outputs", ex, 2, NULL, y, err,
				sizeof(err)), 0);
	assert_float_equal(y[0], 3.5f, 1e-6);
	assert_float_equal(y[1], 4.0f, 1e-6);
	assert_int_equal(run_ex(m, "classify_x_to_y", "scores", ex, 1, NULL, y, err,
				sizeof(err)), 0);
	assert_float_equal(y[0], 2.5f, 1e-6);
	/* context: its features go to every Example, the Example's own win */
	struct infer_bytes ctx = { c5, lc };
	assert_int_equal(run_ex(m, "regress_x_to_y", "outputs", ex, 3, &ctx, y, err,
				sizeof(err)), 0);
	assert_float_equal(y[0], 2.5f, 1e-6);
	assert_float_equal(y[1], 3.0f, 1e-6);
	assert_float_equal(y[2], 4.5f, 1e-6);
	/* required feature missing in example 2 */
	assert_int_equal(run_ex(m, "regress_x_to_y", "outputs", ex, 3, NULL, y, err,
				sizeof(err)), INFER_E_BAD_INPUT);
	assert_non_null(strstr(err, "Feature: x (data type: float) is required"));
	assert_non_null(strstr(err, "example 2"));
	/* wrong kind, wrong count, bytes, garbage */
	size_t lb;
	uint8_t *bad = make_example("x", 'i', &one, 1, &lb);
	struct infer_bytes b1[2] = { { e1, l0 }, { bad, lb } };
	assert_int_equal(run_ex(m, "regress_x_to_y", "outputs", b1, 2, NULL, y, err,
				sizeof(err)), INFER_E_BAD_INPUT);
	assert_non_null(strstr(err, "Key: x, Index: 1.  Data types don't match"));
	free(bad);
	bad = make_example("x", 'f', pair, 2, &lb);
	b1[1] = (struct infer_bytes){ bad, lb };
	assert_int_equal(run_ex(m, "regress_x_to_y", "outputs", b1, 2, NULL, y, err,
				sizeof(err)), INFER_E_BAD_INPUT);
	assert_non_null(strstr(err, "Values size: 2 but output shape: [1]"));
	free(bad);
	bad = make_example("x", 'b', pair, 2, &lb);
	b1[1] = (struct infer_bytes){ bad, lb };
	assert_int_equal(run_ex(m, "regress_x_to_y", "outputs", b1, 2, NULL, y, err,
				sizeof(err)), INFER_E_BAD_INPUT);
	assert_non_null(strstr(err, "bytes_list"));
	free(bad);
	static const uint8_t junk[] = { 0x0a, 0x05, 0x0a, 0x03 };
	b1[1] = (struct infer_bytes){ junk, sizeof(junk) };
	assert_int_equal(run_ex(m, "regress_x_to_y", "outputs", b1, 2, NULL, y, err,
				sizeof(err)), INFER_E_BAD_INPUT);
	assert_non_null(strstr(err, "example input 1"));
	struct infer_bytes badctx = { junk, sizeof(junk) };
	assert_int_equal(run_ex(m, "regress_x_to_y", "outputs", ex, 1, &badctx, y, err,
				sizeof(err)), INFER_E_BAD_INPUT);
	/* no examples; too many; a tensor signature; unknown names */
	assert_int_equal(run_ex(m, "regress_x_to_y", "outputs", ex, 0, NULL, y, err,
				sizeof(err)), INFER_E_BAD_INPUT);
	assert_int_equal(infer_model_run_examples(m, "regress_x_to_y", ex, 5000, NULL, NULL, 0,
						  err, sizeof(err)), INFER_E_LIMIT);
	assert_int_equal(run_ex(m, NULL, "y", ex, 1, NULL, y, err, sizeof(err)),
			 INFER_E_BAD_INPUT);
	assert_non_null(strstr(err, "does not take serialized tf.Example"));
	assert_int_equal(run_ex(m, "regress_x_to_y", "nope", ex, 1, NULL, y, err, sizeof(err)),
			 INFER_E_NOT_FOUND);
	assert_int_equal(run_ex(m, "nope", "y", ex, 1, NULL, y, err, sizeof(err)),
			 INFER_E_NOT_FOUND);
	/* warm-up of an Example signature works on its features */
	assert_int_equal(infer_model_prepare(m, "classify_x_to_y", 4, err, sizeof(err)), 0);
	free(e1);
	free(e2);
	free(enone);
	free(c5);
	infer_model_free(m);
}

/* A file callback over memory: the model never touches the file system. */
struct memfs {
	const char *name;
	const void *data;
	size_t len;
	int reads;
};

static int mem_read(void *ud, const char *path, size_t max, void **ret, size_t *ret_len)
{
	struct memfs *m = ud;
	if (strcmp(path, m->name))
		return -ENOENT;
	if (m->len > max)
		return CC_E_TOOBIG;
	void *c = malloc(m->len ? m->len : 1);
	if (!c)
		return -ENOMEM;
	memcpy(c, m->data, m->len);
	*ret = c;
	*ret_len = m->len;
	m->reads++;
	return 0;
}

static void test_callback_and_bad_models(void **state)
{
	(void)state;
	char path[4200];
	snprintf(path, sizeof(path), "%s/saved_model.pb", tf1);
	uint8_t *pb;
	size_t len;
	assert_int_equal(cc_file_read(path, 1 << 24, false, &pb, &len), 0);
	struct memfs mf = { "saved_model.pb", pb, len, 0 };
	struct infer_fs fs = { &mf, mem_read, NULL };
	struct infer_model *m;
	char err[1024];
	/* variables are missing from this file system */
	int r = infer_model_load(&fs, NULL, err, sizeof(err), &m);
	assert_int_not_equal(r, 0);
	assert_non_null(strstr(err, "variables"));
	/* truncated protobuf */
	for (size_t cut = 1; cut < len; cut += len / 7) {
		mf.len = cut;
		r = infer_model_load(&fs, NULL, err, sizeof(err), &m);
		assert_int_not_equal(r, 0);
	}
	/* nothing there */
	mf.name = "other";
	r = infer_model_load(&fs, NULL, err, sizeof(err), &m);
	assert_int_equal(r, INFER_E_NOT_FOUND);
	/* garbage ONNX */
	mf.name = "model.onnx";
	mf.len = 64;
	r = infer_model_load(&fs, NULL, err, sizeof(err), &m);
	assert_int_not_equal(r, 0);
	/* size cap */
	struct infer_model_opts o = { 0 };
	o.max_file_size = 10;
	mf.name = "saved_model.pb";
	mf.len = len;
	r = infer_model_load(&fs, &o, err, sizeof(err), &m);
	assert_int_not_equal(r, 0);
	free(pb);
}

static void test_npy(void **state)
{
	(void)state;
	int32_t v[6] = { 1, 2, 3, 4, 5, 6 };
	struct infer_tensor t = { NULL, INFER_DT_INT32, 2, { 2, 3 }, v, sizeof(v) };
	void *buf;
	size_t len;
	assert_int_equal(infer_npy_write(&t, &buf, &len), 0);
	assert_int_equal(len % 64, sizeof(v) % 64);
	struct infer_tensor p;
	assert_int_equal(infer_npy_parse(buf, len, &p), 0);
	assert_int_equal(p.dtype, INFER_DT_INT32);
	assert_int_equal(p.rank, 2);
	assert_int_equal(p.dims[1], 3);
	assert_memory_equal(p.data, v, sizeof(v));
	for (size_t cut = 0; cut < len; cut++)
		assert_int_not_equal(infer_npy_parse(buf, cut, &p), 0);
	((char *)buf)[8] = (char)0xff; /* header length past the end */
	assert_int_not_equal(infer_npy_parse(buf, len, &p), 0);
	free(buf);
}

static void test_snappy_crc(void **state)
{
	(void)state;
	/* crc32c("123456789") = 0xE3069283 */
	assert_int_equal(ir_crc32c(0, "123456789", 9), 0xE3069283u);
	/* literal "abc" then copy (offset 3, length 6) */
	const uint8_t s[] = { 9, 2 << 2, 'a', 'b', 'c', (uint8_t)(((6 - 4) << 2) | 1), 3 };
	uint8_t *out;
	size_t n;
	assert_int_equal(ir_snappy_uncompress(s, sizeof(s), &out, &n, 100), 0);
	assert_int_equal(n, 9);
	assert_memory_equal(out, "abcabcabc", 9);
	free(out);
	const uint8_t bad1[] = { 9, 2 << 2, 'a', 'b', 'c', (uint8_t)(((6 - 4) << 2) | 1), 4 };
	assert_int_equal(ir_snappy_uncompress(bad1, sizeof(bad1), &out, &n, 100), INFER_E_FORMAT);
	const uint8_t bad2[] = { 20, 2 << 2, 'a', 'b', 'c' };
	assert_int_equal(ir_snappy_uncompress(bad2, sizeof(bad2), &out, &n, 100), INFER_E_FORMAT);
	assert_int_equal(ir_snappy_uncompress(bad2, sizeof(bad2), &out, &n, 10), INFER_E_LIMIT);
}

struct worker {
	struct infer_model *m;
	int id, bad;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < 60; i++) {
		int64_t batch = 1 + (w->id + i) % 5; /* several plans, evictions */
		float x[5], y[5];
		for (int k = 0; k < batch; k++)
			x[k] = (float)(w->id * 100 + i + k);
		struct infer_tensor t = { "x", INFER_DT_FLOAT, 2, { batch, 1 }, x,
					  (size_t)batch * sizeof(float) };
		struct infer_tensor o = { "y", 0, 0, { 0 }, y, sizeof(y) };
		if (infer_model_run(w->m, NULL, &t, 1, &o, 1, NULL, 0)) {
			w->bad++;
			continue;
		}
		for (int k = 0; k < batch; k++)
			if (y[k] != 0.5f * x[k] + 2.0f)
				w->bad++;
	}
	return NULL;
}

static void test_concurrent_runs(void **state)
{
	(void)state;
	struct infer_model_opts o = { 0 };
	o.threads = 1;
	o.max_concurrency = 2;
	o.max_plans = 2;
	struct infer_model *m;
	char err[1024];
	assert_int_equal(infer_model_load_path(tf1, &o, err, sizeof(err), &m), 0);
	pthread_t th[4];
	struct worker w[4];
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ m, i, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].bad, 0);
	}
	infer_model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tf1_half_plus_two),
		cmocka_unit_test(test_tf2_half_plus_two),
		cmocka_unit_test(test_bad_inputs),
		cmocka_unit_test(test_examples),
		cmocka_unit_test(test_concurrent_runs),
		cmocka_unit_test(test_callback_and_bad_models),
		cmocka_unit_test(test_npy),
		cmocka_unit_test(test_snappy_crc),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
