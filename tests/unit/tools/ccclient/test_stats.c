/* SPDX-License-Identifier: Apache-2.0 */
/* Statistics, top-K, labels, the report (text and JSON) and the SVG plot. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "labels.h"
#include "plot.h"
#include "report.h"
#include "results.h"
#include "stats.h"
#include "testutil.h"

static void check_against_numpy(const double *v, size_t n)
{
	char in[300], out[300];
	tu_path(in, sizeof(in), "pct.in");
	tu_path(out, sizeof(out), "pct.out");
	assert_int_equal(tu_write(in, v, n * sizeof(double)), 0);
	assert_int_equal(tu_ref(NULL, 0, "percentiles %s %s", in, out), 0);
	size_t len;
	double *ref = tu_read(out, &len);
	assert_non_null(ref);
	assert_int_equal(len, 7 * sizeof(double));
	struct cl_summary s;
	assert_int_equal(cl_summarize(v, n, &s), 0);
	const double got[7] = { s.mean, s.p50, s.p90, s.p99, s.min, s.max, s.stddev };
	for (int i = 0; i < 7; i++) {
		double tol = 1e-9 * (1 + fabs(ref[i]));
		if (fabs(got[i] - ref[i]) > tol)
			fail_msg("n=%zu stat %d: got %.17g, numpy %.17g", n, i, got[i], ref[i]);
	}
	free(ref);
}

static void test_percentiles_numpy(void **state)
{
	const size_t sizes[] = { 1, 2, 3, 7, 100, 1001, 20000 };
	srand(7);
	for (size_t k = 0; k < CC_ARRAY_SIZE(sizes); k++) {
		size_t n = sizes[k];
		double *v = malloc(n * sizeof(double));
		for (size_t i = 0; i < n; i++) {
			/* Skewed like latencies, with repeats. */
			double u = (rand() + 1.0) / ((double)RAND_MAX + 2.0);
			v[i] = round(-log(u) * 1000) / 100 + 5;
		}
		check_against_numpy(v, n);
		free(v);
	}
}

static void test_percentile_edges(void **state)
{
	const double v[] = { 1, 2, 3, 4 };
	assert_true(isnan(cl_percentile_sorted(v, 0, 50)));
	assert_true(cl_percentile_sorted(v, 4, 0) == 1);
	assert_true(cl_percentile_sorted(v, 4, 100) == 4);
	assert_true(fabs(cl_percentile_sorted(v, 4, 50) - 2.5) < 1e-12);
	assert_true(fabs(cl_percentile_sorted(v, 4, 90) - 3.7) < 1e-12);
	struct cl_summary s;
	assert_int_equal(cl_summarize(NULL, 0, &s), 0);
	assert_int_equal(s.n, 0);
}

static void test_histogram(void **state)
{
	const double v[] = { 0, 0.5, 1, 9.99, 10, 11, -3 };
	uint64_t c[10];
	assert_int_equal(cl_histogram(v, 7, 0, 10, 10, c), 0);
	assert_int_equal(c[0], 3); /* 0, 0.5 and the clamped -3 */
	assert_int_equal(c[1], 1);
	assert_int_equal(c[9], 3); /* 9.99, 10 and the clamped 11 */
	uint64_t total = 0;
	for (int i = 0; i < 10; i++)
		total += c[i];
	assert_int_equal(total, 7);
	assert_int_equal(cl_histogram(v, 7, 1, 0, 10, c), -EINVAL);
	assert_int_equal(cl_histogram(v, 7, 0, 1, 0, c), -EINVAL);
	/* Zero-width range: everything in bin 0. */
	assert_int_equal(cl_histogram(v, 7, 5, 5, 10, c), 0);
	assert_int_equal(c[0] + c[9], 7);
}

static void test_nice_step(void **state)
{
	assert_true(fabs(cl_nice_step(10, 5) - 2) < 1e-12);
	assert_true(fabs(cl_nice_step(1, 8) - 0.1) < 1e-12);
	assert_true(fabs(cl_nice_step(730, 5) - 100) < 1e-9);
	assert_true(fabs(cl_nice_step(900, 5) - 200) < 1e-9);
	assert_true(cl_nice_step(0, 5) == 1);
	assert_true(cl_nice_step(NAN, 5) == 1);
}

static void test_topk(void **state)
{
	const float v[] = { 0.1f, 0.7f, NAN, 0.7f, 0.05f, 0.9f };
	size_t idx[6];
	assert_int_equal(cl_topk(v, 6, 3, idx), 3);
	assert_int_equal(idx[0], 5);
	assert_int_equal(idx[1], 1); /* tie: lower index first */
	assert_int_equal(idx[2], 3);
	assert_int_equal(cl_topk(v, 6, 10, idx), 6);
	assert_int_equal(idx[5], 2); /* NaN last */
	assert_int_equal(cl_topk(v, 6, 0, idx), 0);
	assert_int_equal(cl_topk(v, 0, 3, idx), 0);
}

static void test_labels(void **state)
{
	struct cl_labels l;
	const char *txt = "cat\r\ndog\n\nfish";
	assert_int_equal(cl_labels_parse(txt, strlen(txt), &l), 0);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.names[0], "cat");
	assert_string_equal(l.names[1], "dog");
	assert_string_equal(l.names[2], "");
	assert_string_equal(l.names[3], "fish");
	/* 5 classes with 4 labels: class 0 is the background. */
	assert_string_equal(cl_labels_get(&l, 5, 0), "background");
	assert_string_equal(cl_labels_get(&l, 5, 1), "cat");
	assert_string_equal(cl_labels_get(&l, 4, 0), "cat");
	assert_null(cl_labels_get(&l, 4, 4));
	assert_null(cl_labels_get(&l, 10, 7));
	cl_labels_free(&l);

	assert_int_equal(cl_labels_parse("a\nb\n", 4, &l), 0);
	assert_int_equal(l.n, 2);
	cl_labels_free(&l);
	assert_int_equal(cl_labels_parse("a\0b", 3, &l), CC_E_SYNTAX);
	assert_int_equal(cl_labels_parse("", 0, &l), 0);
	assert_int_equal(l.n, 0);
	cl_labels_free(&l);
	char *big = malloc(CL_LABEL_MAX_LEN + 10);
	memset(big, 'x', CL_LABEL_MAX_LEN + 10);
	assert_int_equal(cl_labels_parse(big, CL_LABEL_MAX_LEN + 10, &l), CC_E_TOOBIG);
	free(big);
}

static void test_query_line(void **state)
{
	char path[300];
	tu_path(path, sizeof(path), "q.txt");
	FILE *f = fopen(path, "w");
	cl_print_query(f, true, 3, 8, 41, 12.345);
	cl_print_query(f, false, 0, 1, 0, 2.0);
	fclose(f);
	size_t len;
	char *s = tu_read(path, &len);
	s = realloc(s, len + 1);
	s[len] = '\0';
	assert_string_equal(s,
		"query: secure channel, task 3, batch 8, loop_idx 41, latency(ms) 12.3, tps: 648.0\n"
		"query: insecure channel, task 0, batch 1, loop_idx 0, latency(ms) 2.0, tps: 500.0\n");
	free(s);
}

static void fill_results(struct cl_results *r, size_t n, size_t nfail)
{
	cl_results_init(r);
	for (size_t i = 0; i < n; i++) {
		struct cl_rec rec = { .start_ns = i * 1000000, .latency_ns = (i % 50 + 1) * 100000,
				      .task = (uint32_t)(i % 4), .ok = i >= nfail };
		cl_results_add(r, &rec, i < nfail ? (i % 2 ? "UNAVAILABLE" : "bad \"x\"\n") : NULL);
	}
}

static void test_report(void **state)
{
	struct cl_results meas, warm;
	fill_results(&meas, 400, 3);
	fill_results(&warm, 8, 0);
	assert_int_equal(meas.sent, 400);
	assert_int_equal(meas.ok, 397);
	assert_int_equal(meas.nerr, 2);
	const double setup[] = { 3.0, 5.0 };
	struct cl_top_item top[2] = { { 7, 0.5f, "tabby \"cat\"\t" }, { 1, 0.25f, NULL } };
	struct cl_report r = {
		.url = "127.0.0.1:8500", .model = "resnet", .transport = "grpc", .tls = true,
		.batch = 8, .cnum = 4, .loop = 100, .warmup = 2, .e2e_s = 2.0,
		.meas = &meas, .warm = &warm, .setup_ms = setup, .n_setup = 2, .setup_failed = 1,
		.top_output = "predict", .top = top, .ntop = 2, .top_classes = 1001,
	};
	char path[300];
	tu_path(path, sizeof(path), "report.txt");
	FILE *f = fopen(path, "w");
	assert_int_equal(cl_report_text(f, &r), 0);
	fclose(f);
	size_t len;
	char *s = tu_read(path, &len);
	s = realloc(s, len + 1);
	s[len] = '\0';
	assert_non_null(strstr(s, "summary: cnum 4, batch 8, e2e time(s) 2.000, average latency(ms) "));
	assert_non_null(strstr(s, "requests: 400 sent, 397 ok, 3 failed\n"));
	assert_non_null(strstr(s, "UNAVAILABLE: 1"));
	assert_non_null(strstr(s, "1588.0 images/s, 198.5 requests/s"));
	assert_non_null(strstr(s, "warm-up (excluded): 8 requests"));
	assert_non_null(strstr(s, "connection set-up (excluded): 3 connection(s), 1 failed"));
	assert_non_null(strstr(s, "1. class 7"));
	free(s);

	struct cc_buf b;
	cc_buf_init(&b, 0, false);
	assert_int_equal(cl_report_json(&b, &r), 0);
	tu_path(path, sizeof(path), "report.json");
	assert_int_equal(tu_write(path, b.data, b.len), 0);
	char out[8192];
	assert_int_equal(tu_ref(out, sizeof(out), "jsoncheck %s", path), 0);
	assert_non_null(strstr(out, "\"failed\": 3"));
	assert_non_null(strstr(out, "\"bad \\\"x\\\"\\n\": 2"));
	assert_non_null(strstr(out, "\"label\": \"tabby \\\"cat\\\"\\t\""));
	assert_non_null(strstr(out, "\"images_per_s\": 1588"));
	cc_buf_free(&b);
	cl_results_free(&meas);
	cl_results_free(&warm);
}

static void check_svg(size_t n, size_t nfail, const char *title)
{
	struct cl_point *pts = calloc(n ? n : 1, sizeof(*pts));
	for (size_t i = 0; i < n; i++) {
		pts[i].t_s = i * 0.01;
		pts[i].latency_ms = 10 + (double)(i % 37) * 0.3;
		pts[i].ok = i >= nfail;
	}
	struct cc_buf b;
	cc_buf_init(&b, 0, false);
	assert_int_equal(cl_plot_svg(&b, title, pts, n), 0);
	char path[300], out[4096];
	tu_path(path, sizeof(path), "plot.svg");
	assert_int_equal(tu_write(path, b.data, b.len), 0);
	assert_int_equal(tu_ref(out, sizeof(out), "xmlcheck %s", path), 0);
	if (n - nfail > 0) {
		char want[64];
		snprintf(want, sizeof(want), "\"hist_total\": %zu", n - nfail);
		if (!strstr(out, want))
			fail_msg("histogram does not count every request: %s", out);
		size_t shown = n > CL_PLOT_MAX_POINTS ? (n + (n + CL_PLOT_MAX_POINTS - 1) / CL_PLOT_MAX_POINTS - 1) /
						       ((n + CL_PLOT_MAX_POINTS - 1) / CL_PLOT_MAX_POINTS)
						 : n;
		snprintf(want, sizeof(want), "\"circles\": %zu", shown);
		if (!strstr(out, want))
			fail_msg("expected %s in %s", want, out);
	} else {
		assert_non_null(strstr(out, "\"rects\": 0"));
	}
	cc_buf_free(&b);
	free(pts);
}

static void test_svg(void **state)
{
	check_svg(0, 0, "empty");
	check_svg(5, 5, "all failed");
	check_svg(1, 0, "one <request> & \"quotes\" \x01");
	check_svg(500, 20, "normal");
	check_svg(50001, 0, "many");
}

static int teardown(void **state)
{
	tu_cleanup();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_percentiles_numpy),
		cmocka_unit_test(test_percentile_edges),
		cmocka_unit_test(test_histogram),
		cmocka_unit_test(test_nice_step),
		cmocka_unit_test(test_topk),
		cmocka_unit_test(test_labels),
		cmocka_unit_test(test_query_line),
		cmocka_unit_test(test_report),
		cmocka_unit_test(test_svg),
	};
	return cmocka_run_group_tests(tests, NULL, teardown);
}
