/* SPDX-License-Identifier: Apache-2.0 */
/* REST (JSON) request bodies and answer parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rest.h"
#include "testutil.h"

static void test_bodies(void **state)
{
	const int64_t dims[4] = { 2, 1, 2, 3 };
	float data[12];
	for (int i = 0; i < 12; i++)
		data[i] = i == 5 ? 0.1f : (float)i;
	struct cc_buf b;
	cc_buf_init(&b, 0, false);
	assert_int_equal(cl_rest_predict_body(&b, "serving_default", NULL, dims, 4, data), 0);
	assert_string_equal((const char *)b.data,
		"{\"signature_name\":\"serving_default\",\"instances\":"
		"[[[[0,1,2],[3,4,0.100000001]]],[[[6,7,8],[9,10,11]]]]}");
	cc_buf_reset(&b);
	assert_int_equal(cl_rest_predict_body(&b, "s", "input", dims, 2, data), 0);
	assert_string_equal((const char *)b.data,
		"{\"signature_name\":\"s\",\"inputs\":{\"input\":[[0],[1]]}}");
	/* Python's JSON parser agrees it is JSON. */
	char path[300], out[512];
	tu_path(path, sizeof(path), "body.json");
	assert_int_equal(tu_write(path, b.data, b.len), 0);
	assert_int_equal(tu_ref(out, sizeof(out), "jsoncheck %s", path), 0);
	assert_non_null(strstr(out, "\"inputs\": {\"input\": [[0], [1]]}"));
	assert_int_equal(cl_rest_predict_body(&b, "a\"b", NULL, dims, 4, data), -EINVAL);
	assert_int_equal(cl_rest_predict_body(&b, "s", "x\\", dims, 4, data), -EINVAL);
	const int64_t zero[1] = { 0 };
	assert_int_equal(cl_rest_predict_body(&b, "s", NULL, zero, 1, data), -EINVAL);
	cc_buf_free(&b);
}

static int parse(const char *s, struct cl_predict_resp *r, char *why, size_t whysz)
{
	return cl_rest_parse_predict(s, strlen(s), r, why, whysz);
}

static void test_parse_predict(void **state)
{
	struct cl_predict_resp r;
	char why[200];
	assert_int_equal(parse("{\"predictions\": [[0.1, 0.7, 0.2], [1, 2, 3]]}", &r, why, sizeof(why)), 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.t[0].ndims, 2);
	assert_int_equal(r.t[0].dims[0], 2);
	assert_int_equal(r.t[0].dims[1], 3);
	assert_int_equal(r.t[0].count, 6);
	assert_true(fabsf(r.t[0].vals[1] - 0.7f) < 1e-7f && r.t[0].vals[5] == 3);
	cl_predict_resp_free(&r);

	assert_int_equal(parse(" {\"outputs\": {\"a\": [1, 2], \"b\": 5}} \n", &r, why, sizeof(why)), 0);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.t[0].name, "a");
	assert_int_equal(r.t[1].ndims, 0);
	assert_int_equal(r.t[1].count, 1);
	cl_predict_resp_free(&r);

	assert_int_equal(parse("{\"error\": \"Servable not found for request\"}", &r, why, sizeof(why)), -EPROTO);
	assert_string_equal(why, "Servable not found for request");
	assert_int_equal(parse("{\"predictions\": [[1, 2], [3]]}", &r, why, sizeof(why)), CC_E_SYNTAX);
	assert_int_equal(parse("{\"predictions\": [[1, \"x\"]]}", &r, why, sizeof(why)), CC_E_SYNTAX);
	assert_int_equal(parse("{\"predictions\": [1] } x", &r, why, sizeof(why)), CC_E_SYNTAX);
	assert_int_equal(parse("{\"predictions\": {\"a\": 1}}", &r, why, sizeof(why)), CC_E_SYNTAX);
	assert_int_equal(parse("{\"other\": 1}", &r, why, sizeof(why)), CC_E_SYNTAX);
	assert_int_equal(parse("[1, 2]", &r, why, sizeof(why)), CC_E_SYNTAX);
	assert_int_equal(parse("", &r, why, sizeof(why)), CC_E_SYNTAX);
	/* Nesting deeper than the parser's limit. */
	char deep[400] = "{\"predictions\":";
	size_t dl = strlen(deep);
	memset(deep + dl, '[', 100);
	deep[dl + 100] = '\0';
	assert_true(parse(deep, &r, why, sizeof(why)) < 0);
	/* Nine dimensions: above the cap. */
	assert_int_equal(parse("{\"predictions\": [[[[[[[[[1]]]]]]]]]}", &r, why, sizeof(why)), CC_E_TOOBIG);
}

static void test_parse_metadata(void **state)
{
	const char *md =
		"{\"model_spec\":{\"name\":\"resnet\",\"signature_name\":\"\",\"version\":\"1\"},"
		"\"metadata\":{\"signature_def\":{\"signature_def\":{\"serving_default\":{"
		"\"inputs\":{\"input\":{\"dtype\":\"DT_FLOAT\",\"tensor_shape\":{\"dim\":["
		"{\"size\":\"-1\",\"name\":\"\"},{\"size\":\"224\",\"name\":\"\"},"
		"{\"size\":\"224\",\"name\":\"\"},{\"size\":\"3\",\"name\":\"\"}],"
		"\"unknown_rank\":false},\"name\":\"input:0\"}},"
		"\"outputs\":{\"predict\":{\"dtype\":\"DT_FLOAT\",\"name\":\"p:0\"}},"
		"\"method_name\":\"tensorflow/serving/predict\"}}}}}";
	struct cl_sig_input si;
	assert_int_equal(cl_rest_parse_metadata(md, strlen(md), NULL, &si), 0);
	assert_string_equal(si.alias, "input");
	assert_int_equal(si.dtype, CL_DT_FLOAT);
	assert_int_equal(si.ndims, 4);
	assert_int_equal(si.dims[0], -1);
	assert_int_equal(si.dims[1], 224);
	assert_int_equal(si.n_outputs, 1);
	assert_int_equal(cl_rest_parse_metadata(md, strlen(md), "nope", &si), -ENOENT);
	assert_int_equal(cl_rest_parse_metadata("{}", 2, NULL, &si), -ENOENT);
	assert_int_equal(cl_rest_parse_metadata("{", 1, NULL, &si), CC_E_SYNTAX);

	/* The shared TF Serving example answer for half_plus_two. */
	const char *shared = getenv("CCSERVE_SHARED_TESTDATA");
	if (shared) {
		char path[512];
		snprintf(path, sizeof(path), "%s/tfserving/half_plus_two_model_metadata.json", shared);
		size_t len;
		char *body = tu_read(path, &len);
		if (body) {
			assert_int_equal(cl_rest_parse_metadata(body, len, "serving_default", &si), 0);
			assert_string_equal(si.alias, "x");
			assert_int_equal(si.dtype, CL_DT_FLOAT);
			free(body);
		}
	}
}

static int teardown(void **state)
{
	tu_cleanup();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bodies),
		cmocka_unit_test(test_parse_predict),
		cmocka_unit_test(test_parse_metadata),
	};
	return cmocka_run_group_tests(tests, NULL, teardown);
}
