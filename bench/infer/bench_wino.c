/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Winograd F(4x4,3x3) (src/infer/winograd.c) against oneDNN's direct
 * convolution on the four 3x3 stride-1 convolution shapes of ResNet-50
 * (bias + ReLU fused, nChw8c activations on both sides, as the engine
 * runs them).  Both are timed interleaved, round after round, so drift of
 * a shared machine hits both alike; the table gives the median time of
 * each, the ratio direct/Winograd (> 1: Winograd is faster), the number of
 * 4x4 tiles, and the largest difference of the two outputs relative to
 * the largest output.  The last line sums each side over ResNet-50's
 * 13 stride-1 3x3 convs (3, 3, 5 and 2 of the shapes).
 *
 *   bench_wino [--batch N] [--threads T] [--rounds R] [--reps K]
 *              [--block-kb B] [--smoke]
 */
#include <ccserve/util.h>

#include <dnnl.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "internal.h"

struct shape {
	const char *name;
	int c, hw, count;
};

static const struct shape shapes[] = {
	{ "s1.c2", 64, 56, 3 },
	{ "s2.c2", 128, 28, 3 },
	{ "s3.c2", 256, 14, 5 },
	{ "s4.c2", 512, 7, 2 },
};

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static float frand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (float)((rng >> 40) & 0xffffff) / (float)0x1000000 * 2.0f - 1.0f;
}

static void *xalloc(size_t n)
{
	void *p = aligned_alloc(64, (n + 63) & ~(size_t)63);
	if (!p) {
		fprintf(stderr, "bench_wino: out of memory\n");
		exit(1);
	}
	memset(p, 0, n);
	return p;
}

#define CHECK(x)                                                              \
	do {                                                                  \
		if ((x) != dnnl_success) {                                    \
			fprintf(stderr, "bench_wino: oneDNN failed: %s\n", #x); \
			exit(1);                                              \
		}                                                             \
	} while (0)


int main(int argc, char **argv)
{
	int batch = 1, threads = 2, rounds = 5, reps = 10, block_kb = 0;
	bool smoke = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int *num = !strcmp(a, "--batch") ? &batch : !strcmp(a, "--threads") ? &threads :
			   !strcmp(a, "--rounds") ? &rounds : !strcmp(a, "--reps") ? &reps :
			   !strcmp(a, "--block-kb") ? &block_kb : NULL;
		if (!strcmp(a, "--smoke")) {
			smoke = true;
		} else if (num) {
			uint64_t hi = num == &batch || num == &threads ? 256 :
				      num == &block_kb ? (1u << 20) : 100000;
			if (!bench_parse_arg("bench_wino", a, v, num == &block_kb ? 0 : 1, hi, num))
				return 2;
			i++;
		} else {
			fprintf(stderr, "usage: bench_wino [--batch N] [--threads T] [--rounds R] "
					"[--reps K] [--block-kb B] [--smoke]\n");
			return 2;
		}
	}
	if (smoke) {
		rounds = 1;
		reps = 1;
	}
	if ((int64_t)rounds * reps > 100000) {
		fprintf(stderr, "bench_wino: --rounds x --reps above 100000\n");
		return 2;
	}
	size_t block = (size_t)block_kb << 10;
	if (!wino_cpu_ok()) {
		printf("bench_wino: this CPU has no AVX2+FMA; the Winograd kernels do not run "
		       "here\n");
		return 0;
	}
	omp_set_num_threads(threads);
	dnnl_engine_t eng;
	dnnl_stream_t st;
	CHECK(dnnl_engine_create(&eng, dnnl_cpu, 0));
	CHECK(dnnl_stream_create(&st, eng, dnnl_stream_default_flags));
	printf("batch %d, threads %d, %d rounds x %d reps, median ms\n", batch, threads, rounds,
	       reps);
	printf("%-6s %5s %4s %9s | %6s %9s %6s %9s | %6s %9s %6s %9s\n", "shape", "C=K", "HW",
	       "direct", "tiles", "F(2x2)", "ratio", "rel.diff", "tiles", "F(4x4)", "ratio",
	       "rel.diff");
	double sum_d = 0, sum_w = 0, sum_2 = 0, sum_b = 0;
	for (size_t si = 0; si < sizeof(shapes) / sizeof(shapes[0]); si++) {
		const struct shape *sh = &shapes[si];
		int64_t C = sh->c, K = sh->c, H = sh->hw, W = sh->hw, N = batch;
		size_t in_n = (size_t)(N * C * H * W), out_n = (size_t)(N * K * H * W);
		float *x = xalloc(in_n * 4), *wt = xalloc((size_t)(K * C * 9) * 4),
		      *bias = xalloc((size_t)K * 4), *yd = xalloc(out_n * 4),
		      *yw = xalloc(out_n * 4);
		for (size_t i = 0; i < in_n; i++)
			x[i] = frand();
		for (int64_t i = 0; i < K * C * 9; i++)
			wt[i] = frand() * 0.1f;
		for (int64_t i = 0; i < K; i++)
			bias[i] = frand() * 0.1f;
		/* oneDNN direct, nChw8c in and out */
		dnnl_memory_desc_t src, dst, wany, wsrc, bmd;
		dnnl_dims_t sd = { N, C, H, W }, dd = { N, K, H, W }, wd = { K, C, 3, 3 },
			    bd = { K };
		CHECK(dnnl_memory_desc_init_by_tag(&src, 4, sd, dnnl_f32, dnnl_aBcd8b));
		CHECK(dnnl_memory_desc_init_by_tag(&dst, 4, dd, dnnl_f32, dnnl_aBcd8b));
		CHECK(dnnl_memory_desc_init_by_tag(&wany, 4, wd, dnnl_f32, dnnl_format_tag_any));
		CHECK(dnnl_memory_desc_init_by_tag(&wsrc, 4, wd, dnnl_f32, dnnl_oihw));
		CHECK(dnnl_memory_desc_init_by_tag(&bmd, 1, bd, dnnl_f32, dnnl_a));
		dnnl_convolution_desc_t cd;
		dnnl_dims_t s1 = { 1, 1 }, p1 = { 1, 1 };
		CHECK(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference,
							 dnnl_convolution_direct, &src, &wany,
							 &bmd, &dst, s1, p1, p1));
		dnnl_primitive_attr_t attr;
		dnnl_post_ops_t po;
		CHECK(dnnl_primitive_attr_create(&attr));
		CHECK(dnnl_post_ops_create(&po));
		CHECK(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0, 0));
		CHECK(dnnl_primitive_attr_set_post_ops(attr, po));
		dnnl_primitive_desc_t pd;
		CHECK(dnnl_primitive_desc_create(&pd, &cd, attr, eng, NULL));
		const dnnl_memory_desc_t *wm = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
		void *wre = xalloc(dnnl_memory_desc_get_size(wm));
		dnnl_memory_t mws, mw, mx, my, mb;
		CHECK(dnnl_memory_create(&mws, &wsrc, eng, wt));
		CHECK(dnnl_memory_create(&mw, wm, eng, wre));
		CHECK(dnnl_memory_create(&mx, &src, eng, x));
		CHECK(dnnl_memory_create(&my, &dst, eng, yd));
		CHECK(dnnl_memory_create(&mb, &bmd, eng, bias));
		dnnl_primitive_desc_t rpd;
		dnnl_primitive_t rp, conv;
		CHECK(dnnl_reorder_primitive_desc_create(&rpd, &wsrc, eng, wm, eng, NULL));
		CHECK(dnnl_primitive_create(&rp, rpd));
		dnnl_exec_arg_t ra[2] = { { DNNL_ARG_FROM, mws }, { DNNL_ARG_TO, mw } };
		CHECK(dnnl_primitive_execute(rp, st, 2, ra));
		CHECK(dnnl_stream_wait(st));
		CHECK(dnnl_primitive_create(&conv, pd));
		dnnl_exec_arg_t ca[4] = { { DNNL_ARG_SRC, mx }, { DNNL_ARG_WEIGHTS, mw },
					  { DNNL_ARG_BIAS, mb }, { DNNL_ARG_DST, my } };
		/* Winograd */
		struct wino_conv wc = { .N = N, .C = C, .H = H, .W = W, .K = K, .OH = H, .OW = W,
					.pt = 1, .pl = 1, .bias = bias, .n_act = 1 };
		wc.act[0] = (struct wino_act){ WINO_CLAMP, 0, INFINITY };
		struct wino_conv w2 = wc;
		w2.m = 2;
		wc.m = 4;
		float *u = xalloc(wino_weights_size(C, K, 4)), *u2 = xalloc(wino_weights_size(C, K, 2));
		wino_transform_weights(wt, K, C, 4, u);
		wino_transform_weights(wt, K, C, 2, u2);
		wc.u = u;
		w2.u = u2;
		wino_plan(&wc, block);
		wino_plan(&w2, block);
		void *scr = xalloc(wino_scratch_size(&wc)), *scr2 = xalloc(wino_scratch_size(&w2));
		float *y2 = xalloc(out_n * 4);

		double *td = calloc((size_t)(rounds * reps), sizeof(double)),
		       *tw = calloc((size_t)(rounds * reps), sizeof(double)),
		       *t2 = calloc((size_t)(rounds * reps), sizeof(double));
		if (!td || !tw || !t2)
			return 1;
		CHECK(dnnl_primitive_execute(conv, st, 4, ca)); /* warm */
		CHECK(dnnl_stream_wait(st));
		wino_run(&wc, x, yw, scr, threads);
		wino_run(&w2, x, y2, scr2, threads);
		for (int r = 0; r < rounds; r++) {
			for (int k = 0; k < reps; k++) {
				uint64_t t0 = cc_mono_ns();
				CHECK(dnnl_primitive_execute(conv, st, 4, ca));
				CHECK(dnnl_stream_wait(st));
				td[r * reps + k] = (double)(cc_mono_ns() - t0) / 1e6;
			}
			for (int k = 0; k < reps; k++) {
				uint64_t t0 = cc_mono_ns();
				wino_run(&wc, x, yw, scr, threads);
				tw[r * reps + k] = (double)(cc_mono_ns() - t0) / 1e6;
			}
			for (int k = 0; k < reps; k++) {
				uint64_t t0 = cc_mono_ns();
				wino_run(&w2, x, y2, scr2, threads);
				t2[r * reps + k] = (double)(cc_mono_ns() - t0) / 1e6;
			}
		}
		qsort(td, (size_t)(rounds * reps), sizeof(double), bench_cmp_dbl);
		qsort(tw, (size_t)(rounds * reps), sizeof(double), bench_cmp_dbl);
		qsort(t2, (size_t)(rounds * reps), sizeof(double), bench_cmp_dbl);
		double md = td[rounds * reps / 2], mwn = tw[rounds * reps / 2],
		       m2 = t2[rounds * reps / 2];
		double maxa = 0, maxd = 0, maxd2 = 0;
		for (size_t i = 0; i < out_n; i++) {
			maxa = fmax(maxa, fabs(yd[i]));
			maxd = fmax(maxd, fabs(yd[i] - yw[i]));
			maxd2 = fmax(maxd2, fabs(yd[i] - y2[i]));
		}
		double rel = maxa > 0 ? maxd / maxa : maxd, rel2 = maxa > 0 ? maxd2 / maxa : maxd2;
		printf("%-6s %5d %4d %9.3f %6lld %9.3f %6.2f %9.2e %6lld %9.3f %6.2f %9.2e\n",
		       sh->name, sh->c, sh->hw, md, (long long)w2.tiles, m2, md / m2, rel2,
		       (long long)wc.tiles, mwn, md / mwn, rel);
		sum_d += md * sh->count;
		sum_w += mwn * sh->count;
		sum_2 += m2 * sh->count;
		sum_b += fmin(md, fmin(m2, mwn)) * sh->count;
		if (!(rel < 1e-4) || !(rel2 < 1e-4)) {
			fprintf(stderr, "bench_wino: %s: outputs differ by %.3g / %.3g relative\n",
				sh->name, rel2, rel);
			return 1;
		}
		free(td);
		free(tw);
		free(t2);
		free(u2);
		free(scr2);
		free(y2);
		dnnl_primitive_destroy(conv);
		dnnl_primitive_destroy(rp);
		dnnl_primitive_desc_destroy(rpd);
		dnnl_primitive_desc_destroy(pd);
		dnnl_post_ops_destroy(po);
		dnnl_primitive_attr_destroy(attr);
		dnnl_memory_destroy(mws);
		dnnl_memory_destroy(mw);
		dnnl_memory_destroy(mx);
		dnnl_memory_destroy(my);
		dnnl_memory_destroy(mb);
		free(x);
		free(wt);
		free(bias);
		free(yd);
		free(yw);
		free(u);
		free(wre);
		free(scr);
	}
	printf("ResNet-50 13 convs: direct %.3f ms, F(2x2) %.3f ms (%.2f), F(4x4) %.3f ms (%.2f), "
	       "fastest per shape %.3f ms (%.2f)\n",
	       sum_d, sum_2, sum_d / sum_2, sum_w, sum_d / sum_w, sum_b, sum_d / sum_b);
	dnnl_stream_destroy(st);
	dnnl_engine_destroy(eng);
	return 0;
}
