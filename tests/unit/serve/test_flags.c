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

static char err[256];

static void test_defaults_and_values(void **state)
{
	(void)state;
	struct serve_flags f;
	char *argv0[] = { "ccserve" };
	assert_int_equal(serve_flags_parse(1, argv0, &f, err, sizeof(err)), 0);
	assert_int_equal(f.port, 8500);
	assert_int_equal(f.rest_api_port, 0);
	assert_true(f.enable_model_warmup);
	assert_int_equal(f.file_system_poll_wait_seconds, 1);
	assert_int_equal(f.rest_api_timeout_in_ms, 30000);
	assert_null(f.model_name);
	serve_flags_clear(&f);

	char *argv[] = { "ccserve", "--port=9000", "--rest_api_port", "9001",
			 "--model_name=half_plus_two", "--model_base_path=/models/hp2",
			 "--enable_batching", "--noenable_model_warmup",
			 "--batching_parameters_file=/b.txt", "--tensorflow_intra_op_parallelism=2",
			 "--rest_api_num_threads=4", "--rest_api_timeout_in_ms=500",
			 "--grpc_max_threads=3", "--model_config_file_poll_wait_seconds=60",
			 "--file_system_poll_wait_seconds=0", "--ssl_config_file=/s.txt",
			 "--monitoring_config_file=/m.txt", "--insecure=false",
			 "--volume", "/v.img", "--kbs_url=https://127.0.0.1:8443" };
	assert_int_equal(serve_flags_parse((int)CC_ARRAY_SIZE(argv), argv, &f, err, sizeof(err)), 0);
	assert_int_equal(f.port, 9000);
	assert_int_equal(f.rest_api_port, 9001);
	assert_string_equal(f.model_name, "half_plus_two");
	assert_string_equal(f.model_base_path, "/models/hp2");
	assert_true(f.enable_batching);
	assert_false(f.enable_model_warmup);
	assert_string_equal(f.batching_parameters_file, "/b.txt");
	assert_int_equal(f.tensorflow_intra_op_parallelism, 2);
	assert_int_equal(f.rest_api_num_threads, 4);
	assert_int_equal(f.rest_api_timeout_in_ms, 500);
	assert_int_equal(f.grpc_max_threads, 3);
	assert_int_equal(f.model_config_file_poll_wait_seconds, 60);
	assert_int_equal(f.file_system_poll_wait_seconds, 0);
	assert_string_equal(f.ssl_config_file, "/s.txt");
	assert_string_equal(f.monitoring_config_file, "/m.txt");
	assert_false(f.insecure);
	assert_string_equal(f.volume, "/v.img");
	serve_flags_clear(&f);
}

static void bad(int argc, char **argv, const char *want)
{
	struct serve_flags f;
	assert_int_equal(serve_flags_parse(argc, argv, &f, err, sizeof(err)), CC_E_SYNTAX);
	if (!strstr(err, want))
		fail_msg("\"%s\" does not contain \"%s\"", err, want);
}

static void test_errors(void **state)
{
	(void)state;
	char *a1[] = { "ccserve", "--model_nme=x" };
	bad(2, a1, "unknown flag --model_nme");
	char *a2[] = { "ccserve", "--port=70000" };
	bad(2, a2, "port number");
	char *a3[] = { "ccserve", "--port" };
	bad(2, a3, "needs a value");
	char *a4[] = { "ccserve", "--enable_batching=maybe" };
	bad(2, a4, "true or false");
	char *a5[] = { "ccserve", "stray" };
	bad(2, a5, "unexpected argument");
	char *a6[] = { "ccserve", "--rest_api_timeout_in_ms=-5" };
	bad(2, a6, "--rest_api_timeout_in_ms");
	char *a7[] = { "ccserve", "--nomodel_name" };
	bad(2, a7, "unknown flag --nomodel_name");
	char *a8[] = { "ccserve", "--grpc_max_threads=1x" };
	bad(2, a8, "not an integer");
	assert_non_null(strstr(serve_flags_usage(), "--model_config_file"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_and_values),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
