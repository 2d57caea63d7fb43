/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "opts.h"

static int parse(struct cl_opts *o, char *err, size_t errsz, int argc, const char **argv)
{
	cl_opts_defaults(o);
	return cl_opts_parse(o, argc, (char **)argv, err, errsz);
}

#define PARSE(o, err, ...)                                                     \
	({                                                                     \
		const char *_a[] = { "ccclient", __VA_ARGS__ };                \
		parse(o, err, sizeof(err), (int)(sizeof(_a) / sizeof(_a[0])), _a); \
	})

static void test_defaults(void **state)
{
	struct cl_opts o;
	char err[256];
	const char *argv[] = { "ccclient" };
	assert_int_equal(parse(&o, err, sizeof(err), 1, argv), 0);
	assert_string_equal(o.host, "localhost");
	assert_int_equal(o.port, 8500);
	assert_int_equal(o.batch, 1);
	assert_int_equal(o.cnum, 1);
	assert_int_equal(o.loop, 200);
	assert_int_equal(o.warmup, 5);
	assert_string_equal(o.model, "resnet50-v15-fp32");
	assert_string_equal(o.signature, "serving_default");
	assert_null(o.input);
	assert_true(o.version < 0);
	assert_false(o.insecure);
	assert_false(o.rest);
	assert_int_equal(o.pre.filter, CL_FILTER_BILINEAR);
}

static void test_reference_flags(void **state)
{
	struct cl_opts o;
	char err[256];
	/* The reference client's single-dash spellings. */
	assert_int_equal(PARSE(&o, err, "-url", "127.0.0.1:9000", "-crt", "ca.pem", "-batch", "8",
			       "-cnum", "4", "-loop", "0", "-img", "cat.jpg"), 0);
	assert_string_equal(o.host, "127.0.0.1");
	assert_int_equal(o.port, 9000);
	assert_string_equal(o.crt, "ca.pem");
	assert_int_equal(o.batch, 8);
	assert_int_equal(o.cnum, 4);
	assert_int_equal(o.loop, 0);
	assert_string_equal(o.img, "cat.jpg");
}

static void test_long_forms(void **state)
{
	struct cl_opts o;
	char err[256];
	assert_int_equal(PARSE(&o, err, "--url=[::1]:8443", "--servername", "grpc.tf.service.com",
			       "--key", "k.pem", "--cert", "c.pem", "--crt=ca.pem", "--model", "m",
			       "--signature", "sig", "--input", "x", "--version", "3", "--warmup=0",
			       "--timeout", "2.5", "--json", "--quiet", "--labels", "l.txt", "--top",
			       "3", "--plot", "p.svg", "--mean", "1,2,3", "--std", "2", "--resize",
			       "lanczos3", "--crop", "1", "--size", "300x200", "--seed", "9"), 0);
	assert_string_equal(o.host, "::1");
	assert_int_equal(o.port, 8443);
	assert_string_equal(o.servername, "grpc.tf.service.com");
	assert_string_equal(o.key, "k.pem");
	assert_string_equal(o.cert, "c.pem");
	assert_int_equal(o.version, 3);
	assert_int_equal(o.warmup, 0);
	assert_true(o.timeout_s > 2.49 && o.timeout_s < 2.51);
	assert_true(o.json && o.quiet && o.top_set);
	assert_int_equal(o.top, 3);
	assert_true(o.pre.mean[0] == 1 && o.pre.mean[1] == 2 && o.pre.mean[2] == 3);
	assert_true(o.pre.std[0] == 2 && o.pre.std[1] == 2 && o.pre.std[2] == 2);
	assert_int_equal(o.pre.filter, CL_FILTER_LANCZOS3);
	assert_true(o.pre.crop == 1.0);
	assert_true(o.size_set && o.pre.out_w == 300 && o.pre.out_h == 200);
	assert_int_equal(o.seed, 9);
}

static void test_version_flag(void **state)
{
	struct cl_opts o;
	char err[256];
	assert_int_equal(PARSE(&o, err, "--version"), 0);
	assert_true(o.show_version);
	assert_int_equal(PARSE(&o, err, "--version", "--insecure"), 0);
	assert_true(o.show_version);
	assert_int_equal(PARSE(&o, err, "--version", "12", "--insecure"), 0);
	assert_false(o.show_version);
	assert_int_equal(o.version, 12);
	assert_int_equal(PARSE(&o, err, "--version", "x1"), -EINVAL);
}

static void test_rest_port(void **state)
{
	struct cl_opts o;
	char err[256];
	assert_int_equal(PARSE(&o, err, "--rest"), 0);
	assert_int_equal(o.port, 8501);
	assert_int_equal(PARSE(&o, err, "--rest", "--url", "h:8500"), 0);
	assert_int_equal(o.port, 8500);
}

static void expect_error(const char *flag, const char *value, const char *needle)
{
	struct cl_opts o;
	char err[256];
	const char *argv[] = { "ccclient", flag, value };
	int argc = value ? 3 : 2;
	assert_int_equal(parse(&o, err, sizeof(err), argc, argv), -EINVAL);
	if (!strstr(err, needle))
		fail_msg("error for %s %s: \"%s\" lacks \"%s\"", flag, value ? value : "", err, needle);
}

static void test_errors(void **state)
{
	expect_error("--batch", "0", "--batch");
	expect_error("--batch", "4097", "--batch");
	expect_error("--batch", "-1", "--batch");
	expect_error("--batch", "1x", "--batch");
	expect_error("--cnum", "0", "--cnum");
	expect_error("--loop", "99999999999", "--loop");
	expect_error("--url", "host:0", "--url");
	expect_error("--url", "host:65536", "--url");
	expect_error("--url", "::1:80", "--url");
	expect_error("--url", "a b:1", "--url");
	expect_error("--url", "", "--url");
	expect_error("--timeout", "0", "--timeout");
	expect_error("--timeout", "nan", "--timeout");
	expect_error("--timeout", "1e9", "--timeout");
	expect_error("--mean", "1,2", "--mean");
	expect_error("--mean", "1,2,3,4", "--mean");
	expect_error("--std", "0", "--std");
	expect_error("--std", "1,0,1", "--std");
	expect_error("--resize", "cubic", "--resize");
	expect_error("--crop", "0", "--crop");
	expect_error("--crop", "1.5", "--crop");
	expect_error("--size", "224", "--size");
	expect_error("--size", "0x5", "--size");
	expect_error("--model", "a/b", "--model");
	expect_error("--top", "0", "--top");
	expect_error("--nosuch", NULL, "unknown option");
	expect_error("--batch", NULL, "needs a value");
	expect_error("--json=1", NULL, "takes no value");
	expect_error("stray", NULL, "unexpected argument");
}

static void test_cross_checks(void **state)
{
	struct cl_opts o;
	char err[256];
	assert_int_equal(PARSE(&o, err, "--insecure", "--crt", "x.pem"), -EINVAL);
	assert_non_null(strstr(err, "--insecure"));
	assert_int_equal(PARSE(&o, err, "--key", "k.pem"), -EINVAL);
	assert_non_null(strstr(err, "--key and --cert"));
	assert_int_equal(PARSE(&o, err, "--insecure", "--servername", "a"), -EINVAL);
	assert_int_equal(PARSE(&o, err, "--insecure"), 0);
	assert_true(o.insecure);
}

static void test_streams_shape(void **state)
{
	struct cl_opts o;
	char err[256];
	assert_int_equal(PARSE(&o, err, "--streams", "64", "--shape", "1", "--dump-request", "r.bin"), 0);
	assert_int_equal(o.streams, 64);
	assert_int_equal(o.shape_n, 1);
	assert_int_equal(o.shape[0], 1);
	assert_string_equal(o.dump_request, "r.bin");
	assert_int_equal(PARSE(&o, err, "--shape", "224,224,3"), 0);
	assert_int_equal(o.shape_n, 3);
	assert_int_equal(o.shape[2], 3);
	assert_int_equal(PARSE(&o, err, "--shape", "1,0"), -EINVAL);
	assert_int_equal(PARSE(&o, err, "--shape", "1,,2"), -EINVAL);
	assert_int_equal(PARSE(&o, err, "--shape", "1,2,3,4,5,6,7,8"), -EINVAL);
	assert_int_equal(PARSE(&o, err, "--shape", "100000,100000"), -EINVAL);
	assert_int_equal(PARSE(&o, err, "--streams", "0"), -EINVAL);
	assert_int_equal(PARSE(&o, err, "--rest", "--streams", "2"), -EINVAL);
	assert_non_null(strstr(err, "REST"));
	assert_int_equal(PARSE(&o, err, "--img", "a.png", "--shape", "3"), -EINVAL);
}

static void test_hostport(void **state)
{
	char h[64];
	uint16_t p;
	assert_int_equal(cl_parse_hostport("example.com", h, sizeof(h), &p, 8500), 0);
	assert_string_equal(h, "example.com");
	assert_int_equal(p, 8500);
	assert_int_equal(cl_parse_hostport("[fe80::1]", h, sizeof(h), &p, 7), 0);
	assert_string_equal(h, "fe80::1");
	assert_int_equal(p, 7);
	assert_int_equal(cl_parse_hostport("[]:80", h, sizeof(h), &p, 7), -EINVAL);
	assert_int_equal(cl_parse_hostport("[::1]x", h, sizeof(h), &p, 7), -EINVAL);
	assert_int_equal(cl_parse_hostport("h:", h, sizeof(h), &p, 7), -EINVAL);
	char longhost[100];
	memset(longhost, 'a', sizeof(longhost) - 1);
	longhost[99] = '\0';
	assert_int_equal(cl_parse_hostport(longhost, h, sizeof(h), &p, 7), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_reference_flags),
		cmocka_unit_test(test_long_forms),
		cmocka_unit_test(test_version_flag),
		cmocka_unit_test(test_rest_port),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_cross_checks),
		cmocka_unit_test(test_streams_shape),
		cmocka_unit_test(test_hostport),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
