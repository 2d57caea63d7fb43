/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ccserve/serve.h"
#include "example.pb-c.h"

static const struct serve_input_spec fspec[] = { { "x", SERVE_DT_FLOAT } };

static void test_row_single(void **state)
{
	(void)state;
	struct serve_rest_request r;
	struct serve_status st;
	const char *body = "{\"instances\": [1.0, 2, 5.0]}";
	assert_int_equal(serve_rest_parse_predict(body, strlen(body), fspec, 1, NULL, &r, &st), 0);
	assert_int_equal(r.format, SERVE_REST_ROW);
	assert_false(r.named);
	assert_int_equal(r.inputs.n, 1);
	struct serve_tensor *t = &r.inputs.t[0];
	assert_int_equal(t->dtype, SERVE_DT_FLOAT);
	assert_int_equal(t->ndims, 1);
	assert_int_equal(t->dims[0], 3);
	assert_true(((float *)t->data)[1] == 2.0f);

	/* Outputs back: y = x/2+2 */
	float *y = t->data;
	for (int i = 0; i < 3; i++)
		y[i] = y[i] * 0.5f + 2.0f;
	char *out = NULL;
	size_t len;
	assert_int_equal(serve_rest_render_predict(&r.inputs, SERVE_REST_ROW, &out, &len, &st), 0);
	assert_string_equal(out, "{\n    \"predictions\": [2.5, 3.0, 4.5\n    ]\n}");
	free(out);
	serve_rest_request_clear(&r);
}

static void test_row_named_and_columnar(void **state)
{
	(void)state;
	struct serve_rest_request r;
	struct serve_status st;
	const struct serve_input_spec specs[] = { { "a", SERVE_DT_INT32 }, { "s", SERVE_DT_STRING } };
	const char *body = "{\"signature_name\": \"sig\", \"instances\": ["
			   "{\"a\": [1, 2], \"s\": {\"b64\": \"aGk=\"}},"
			   "{\"a\": [3, 4], \"s\": \"yo\"}]}";
	assert_int_equal(serve_rest_parse_predict(body, strlen(body), specs, 2, NULL, &r, &st), 0);
	assert_string_equal(r.signature_name, "sig");
	assert_true(r.named);
	assert_int_equal(r.inputs.n, 2);
	struct serve_tensor *a = &r.inputs.t[0], *s = &r.inputs.t[1];
	assert_string_equal(a->name, "a");
	assert_int_equal(a->ndims, 2);
	assert_int_equal(((int32_t *)a->data)[3], 4);
	assert_int_equal(s->ndims, 1);
	assert_int_equal(s->strs[0].len, 2);
	assert_memory_equal(s->strs[0].data, "hi", 2);
	char *out = NULL;
	size_t len;
	assert_int_equal(serve_rest_render_predict(&r.inputs, SERVE_REST_ROW, &out, &len, &st), 0);
	assert_string_equal(out, "{\n    \"predictions\": [{\"a\": [1, 2], \"s\": \"hi\"}, "
				 "{\"a\": [3, 4], \"s\": \"yo\"}\n    ]\n}");
	free(out);
	assert_int_equal(serve_rest_render_predict(&r.inputs, SERVE_REST_COLUMNAR, &out, &len, &st), 0);
	assert_string_equal(out, "{\n    \"outputs\": {\n        \"a\": [[1, 2], [3, 4]],\n"
				 "        \"s\": [\"hi\", \"yo\"]\n    }\n}");
	free(out);
	serve_rest_request_clear(&r);

	body = "{\"inputs\": {\"a\": [[1], [2]], \"s\": [\"\\u00ff\"]}}";
	assert_int_equal(serve_rest_parse_predict(body, strlen(body), specs, 2, NULL, &r, &st), 0);
	assert_int_equal(r.format, SERVE_REST_COLUMNAR);
	assert_int_equal(r.inputs.t[0].dims[0], 2);
	assert_int_equal(r.inputs.t[0].dims[1], 1);
	serve_rest_request_clear(&r);

	body = "{\"inputs\": [[1.5, 2.5]]}";
	assert_int_equal(serve_rest_parse_predict(body, strlen(body), fspec, 1, NULL, &r, &st), 0);
	assert_int_equal(r.inputs.t[0].ndims, 2);
	serve_rest_request_clear(&r);
}

static void bad(const char *body, const struct serve_input_spec *specs, size_t n, const char *want)
{
	struct serve_rest_request r;
	struct serve_status st = { 0 };
	assert_int_equal(serve_rest_parse_predict(body, strlen(body), specs, n, NULL, &r, &st), -EINVAL);
	assert_int_equal(st.code, SERVE_INVALID_ARGUMENT);
	if (!strstr(st.msg, want))
		fail_msg("\"%s\" does not contain \"%s\"", st.msg, want);
}

static void test_errors(void **state)
{
	(void)state;
	const struct serve_input_spec specs[] = { { "a", SERVE_DT_INT32 }, { "b", SERVE_DT_UINT8 } };
	bad("", fspec, 1, "document is empty");
	bad("{\"instances\": [1,", fspec, 1, "JSON Parse error");
	bad("[1]", fspec, 1, "Is not object");
	bad("{}", fspec, 1, "Missing 'inputs' or 'instances' key");
	bad("{\"inputs\": 1, \"instances\": [1]}", fspec, 1, "only one of");
	bad("{\"instances\": 5}", fspec, 1, "list/array");
	bad("{\"instances\": []}", fspec, 1, "No values");
	bad("{\"instances\": [[1, 2], [3]]}", fspec, 1, "unexpected size");
	bad("{\"instances\": [[1, 2], 3]}", fspec, 1, "incorrect level");
	bad("{\"instances\": [\"x\"]}", fspec, 1, "is not of expected type: DT_FLOAT");
	bad("{\"instances\": [1, 2]}", specs, 2, "plain list");
	bad("{\"instances\": [{\"a\": 1.5, \"b\": 1}]}", specs, 2, "DT_INT32");
	bad("{\"instances\": [{\"a\": 1, \"b\": 256}]}", specs, 2, "out of range");
	bad("{\"instances\": [{\"a\": 1, \"b\": 2}, {\"a\": 1}]}", specs, 2, "does not have named input: b");
	bad("{\"signature_name\": 3, \"instances\": [1]}", fspec, 1, "must be a string");
	bad("{\"instances\": [1]} x", fspec, 1, "JSON Parse error");
	const struct serve_input_spec sspec[] = { { "s", SERVE_DT_STRING } };
	bad("{\"instances\": [{\"b64\": \"!!\"}]}", sspec, 1, "base64");
	bad("{\"instances\": [{\"b64\": 5}]}", sspec, 1, "base64");
	/* Deep nesting is refused by the tokenizer's depth cap. */
	char deep[400];
	size_t o = (size_t)snprintf(deep, sizeof(deep), "{\"inputs\": ");
	for (int i = 0; i < 100; i++)
		deep[o++] = '[';
	deep[o] = '\0';
	bad(deep, fspec, 1, "JSON Parse error");

	/* Caps. */
	struct serve_limits lim;
	serve_limits_default(&lim);
	lim.max_elements = 2;
	struct serve_rest_request r;
	struct serve_status st;
	const char *body = "{\"instances\": [1, 2, 3]}";
	assert_int_equal(serve_rest_parse_predict(body, strlen(body), fspec, 1, &lim, &r, &st), -EINVAL);

	char *out = NULL;
	size_t len;
	serve_status_set(&st, SERVE_NOT_FOUND, "Servable not found for request: Latest(\"x\")");
	assert_int_equal(serve_rest_render_error(&st, &out, &len), 0);
	assert_string_equal(out, "{ \"error\": \"Servable not found for request: Latest(\\\"x\\\")\" }");
	free(out);
}

/* :classify / :regress bodies -> serialized tf.Example, read back with the
 * generated decoder. */
static Tensorflow__Example *ex_at(const struct serve_rest_examples *r, size_t i)
{
	const struct serve_bytes *b = i == (size_t)-1 ? &r->context : &r->examples[i];
	Tensorflow__Example *e = tensorflow__example__unpack(NULL, b->len, b->data);
	assert_non_null(e);
	return e;
}

static const Tensorflow__Feature *ex_feature(const Tensorflow__Example *e, const char *k)
{
	if (!e->features)
		return NULL;
	for (size_t i = 0; i < e->features->n_feature; i++)
		if (!strcmp(e->features->feature[i]->key, k))
			return e->features->feature[i]->value;
	return NULL;
}

static void test_examples(void **state)
{
	(void)state;
	struct serve_status st = { 0 };
	struct serve_rest_examples r;
	const char *body =
		"{\"signature_name\": \"regress_x_to_y\", \"context\": {\"c\": \"abc\"},"
		" \"examples\": [{\"x\": 1.5, \"i\": [1, -2, true], \"b\": {\"b64\": \"AAE=\"},"
		" \"e\": []}, {}]}";
	assert_int_equal(serve_rest_parse_examples(body, strlen(body), NULL, &r, &st), 0);
	assert_string_equal(r.signature_name, "regress_x_to_y");
	assert_int_equal(r.n, 2);
	assert_true(r.has_context);
	Tensorflow__Example *e = ex_at(&r, 0);
	const Tensorflow__Feature *f = ex_feature(e, "x");
	assert_non_null(f);
	assert_int_equal(f->kind_case, TENSORFLOW__FEATURE__KIND_FLOAT_LIST);
	assert_int_equal(f->float_list->n_value, 1);
	assert_true(f->float_list->value[0] == 1.5f);
	f = ex_feature(e, "i");
	assert_int_equal(f->kind_case, TENSORFLOW__FEATURE__KIND_INT64_LIST);
	assert_int_equal(f->int64_list->n_value, 3);
	assert_int_equal(f->int64_list->value[1], -2);
	assert_int_equal(f->int64_list->value[2], 1);
	f = ex_feature(e, "b");
	assert_int_equal(f->kind_case, TENSORFLOW__FEATURE__KIND_BYTES_LIST);
	assert_int_equal(f->bytes_list->value[0].len, 2);
	assert_int_equal(f->bytes_list->value[0].data[1], 1);
	f = ex_feature(e, "e");
	assert_non_null(f);
	assert_int_equal(f->kind_case, TENSORFLOW__FEATURE__KIND__NOT_SET);
	tensorflow__example__free_unpacked(e, NULL);
	e = ex_at(&r, 1);
	assert_true(!e->features || e->features->n_feature == 0);
	tensorflow__example__free_unpacked(e, NULL);
	e = ex_at(&r, (size_t)-1);
	f = ex_feature(e, "c");
	assert_int_equal(f->kind_case, TENSORFLOW__FEATURE__KIND_BYTES_LIST);
	assert_memory_equal(f->bytes_list->value[0].data, "abc", 3);
	tensorflow__example__free_unpacked(e, NULL);
	serve_rest_examples_clear(&r);

	static const struct {
		const char *body;
		const char *msg;
	} bad[] = {
		{ "{\"examples\": [{\"x\": [1, 2.0]}]}",
		  "Unexpected element type in feature: x expecting type: int64" },
		{ "{\"examples\": [{\"x\": [[1.0]]}]}", "has element with unexpected JSON type" },
		{ "{\"examples\": [{\"x\": null}]}", "has element with unexpected JSON type: Null" },
		{ "{\"examples\": [1]}", "Example must be JSON object but got JSON Number" },
		{ "{\"examples\": []}", "'examples' value is an empty array" },
		{ "{\"examples\": {}}", "Expecting 'examples' value to be an list/array" },
		{ "{\"signature_name\": \"s\"}", "key 'examples' is expected and was not found" },
		{ "{\"examples\": [{\"x\": 1e300}]}", "as float" },
		{ "{\"examples\": [{\"x\": 18446744073709551615}]}",
		  "Feature: x has uint64 element. Only int64 is supported." },
		{ "{\"examples\": [{\"x\": {\"b64\": \"!\"}}]}", "Unable to base64 decode" },
		{ "{\"context\": 3, \"examples\": [{}]}", "Example must be JSON object" },
		{ "[1]", "Is not object" },
		{ "{\"examples\": [{}]", "JSON Parse error" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&st, 0, sizeof(st));
		int rc = serve_rest_parse_examples(bad[i].body, strlen(bad[i].body), NULL, &r, &st);
		if (rc != -EINVAL || st.code != SERVE_INVALID_ARGUMENT ||
		    !strstr(st.msg, bad[i].msg))
			fail_msg("%s: rc %d code %d msg %s", bad[i].body, rc, st.code, st.msg);
		assert_null(r.examples);
	}

	/* many empty features: the serialized Example is about as large as
	 * its JSON and must still fit the per-Example cap */
	struct cc_buf big;
	cc_buf_init(&big, 0, false);
	cc_buf_puts(&big, "{\"examples\": [{");
	for (int i = 0; i < 2000; i++)
		cc_buf_printf(&big, "%s\"%d\":[]", i ? "," : "", i);
	cc_buf_puts(&big, "}]}");
	assert_int_equal(serve_rest_parse_examples((const char *)big.data, big.len, NULL, &r, &st), 0);
	assert_int_equal(r.n, 1);
	assert_true(r.examples[0].len > big.len / 2);
	serve_rest_examples_clear(&r);
	cc_buf_free(&big);

	/* results */
	float v[4] = { 2.5f, 3.0f, 0.1f, -1.0f };
	char *out;
	size_t len;
	assert_int_equal(serve_rest_render_results(v, 2, 1, false, &out, &len), 0);
	assert_string_equal(out, "{\"results\": [2.5, 3.0]}");
	free(out);
	assert_int_equal(serve_rest_render_results(v, 2, 2, true, &out, &len), 0);
	assert_string_equal(out, "{\"results\": [[[\"\", 2.5], [\"\", 3.0]], "
				 "[[\"\", 0.1], [\"\", -1.0]]]}");
	assert_int_equal(len, strlen(out));
	free(out);
}

/* An empty output with huge leading dimensions would be 2^40 empty JSON
 * lists: refused, while modest empty and non-empty shapes render. */
static void test_render_empty_huge(void **state)
{
	(void)state;
	struct serve_tensor t = { .name = "y", .dtype = SERVE_DT_FLOAT, .ndims = 2,
				  .dims = { (int64_t)1 << 40, 0 } };
	struct serve_tensor_list l = { .t = &t, .n = 1 };
	struct serve_status st = { 0 };
	char *out = NULL;
	size_t len;
	assert_int_equal(serve_rest_render_predict(&l, SERVE_REST_COLUMNAR, &out, &len, &st), -E2BIG);
	assert_int_equal(st.code, SERVE_RESOURCE_EXHAUSTED);
	assert_non_null(strstr(st.msg, "too large"));
	assert_int_equal(serve_rest_render_predict(&l, SERVE_REST_ROW, &out, &len, &st), -E2BIG);
	t.dims[0] = 2;
	assert_int_equal(serve_rest_render_predict(&l, SERVE_REST_COLUMNAR, &out, &len, &st), 0);
	assert_string_equal(out, "{\n    \"outputs\": [[], []]\n}");
	free(out);
	float v[6] = { 1, 2, 3, 4, 5, 6 };
	struct serve_tensor u = { .name = "y", .dtype = SERVE_DT_FLOAT, .ndims = 5,
				  .dims = { 6, 1, 1, 1, 1 }, .data = v, .nbytes = sizeof(v) };
	l.t = &u;
	assert_int_equal(serve_rest_render_predict(&l, SERVE_REST_ROW, &out, &len, &st), 0);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_row_single),
		cmocka_unit_test(test_row_named_and_columnar),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_examples),
		cmocka_unit_test(test_render_empty_huge),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
