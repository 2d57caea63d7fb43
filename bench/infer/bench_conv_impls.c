/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Convolution implementation survey for ResNet-50 v1.5 (fp32).
 *
 * For every distinct convolution of the network (24 shapes, 53 convs) this
 * builds every oneDNN implementation the library offers for the
 * descriptor (bias + the network's post-ops: ReLU, residual sum), with
 * format_tag_any and with sources/destinations forced to nhwc and nChw8c,
 * plus the matmul primitive over an NHWC view for 1x1 stride-1 convs; then
 * times all of them interleaved (round after round, so that drift of a
 * shared machine hits every candidate alike) and prints, per shape, each
 * candidate's time, and the sum over the network of oneDNN's default pick
 * (format_tag_any) against the per-shape fastest candidate.
 *
 * The default implementation is timed twice (as "default" and as the same
 * entry of the implementation list): the difference between those two
 * identical primitives is the noise floor of the run, and a "best" below
 * default by less than that is not a real gain.
 *
 *   bench_conv_impls [--batch N] [--threads T] [--rounds R] [--reps K]
 *                    [--stat min|median] [--smoke]
 */
#include <ccserve/util.h>

#include "bench_common.h"

#include <dnnl.h>
#include <omp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct shape {
	const char *name;
	int ic, oc, hw, k, s, p, count;
	bool sum, relu;
};

/* ResNet-50 v1.5 (stride on the 3x3 conv of each stage's first block). */
static const struct shape shapes[] = {
	{ "stem", 3, 64, 224, 7, 2, 3, 1, false, true },
	{ "s1.b1.c1", 64, 64, 56, 1, 1, 0, 1, false, true },
	{ "s1.c2", 64, 64, 56, 3, 1, 1, 3, false, true },
	{ "s1.c3", 64, 256, 56, 1, 1, 0, 3, true, true },
	{ "s1.short", 64, 256, 56, 1, 1, 0, 1, false, false },
	{ "s1.c1", 256, 64, 56, 1, 1, 0, 2, false, true },
	{ "s2.b1.c1", 256, 128, 56, 1, 1, 0, 1, false, true },
	{ "s2.b1.c2", 128, 128, 56, 3, 2, 1, 1, false, true },
	{ "s2.short", 256, 512, 56, 1, 2, 0, 1, false, false },
	{ "s2.c2", 128, 128, 28, 3, 1, 1, 3, false, true },
	{ "s2.c3", 128, 512, 28, 1, 1, 0, 4, true, true },
	{ "s2.c1", 512, 128, 28, 1, 1, 0, 3, false, true },
	{ "s3.b1.c1", 512, 256, 28, 1, 1, 0, 1, false, true },
	{ "s3.b1.c2", 256, 256, 28, 3, 2, 1, 1, false, true },
	{ "s3.short", 512, 1024, 28, 1, 2, 0, 1, false, false },
	{ "s3.c2", 256, 256, 14, 3, 1, 1, 5, false, true },
	{ "s3.c3", 256, 1024, 14, 1, 1, 0, 6, true, true },
	{ "s3.c1", 1024, 256, 14, 1, 1, 0, 5, false, true },
	{ "s4.b1.c1", 1024, 512, 14, 1, 1, 0, 1, false, true },
	{ "s4.b1.c2", 512, 512, 14, 3, 2, 1, 1, false, true },
	{ "s4.short", 1024, 2048, 14, 1, 2, 0, 1, false, false },
	{ "s4.c2", 512, 512, 7, 3, 1, 1, 2, false, true },
	{ "s4.c3", 512, 2048, 7, 1, 1, 0, 3, true, true },
	{ "s4.c1", 2048, 512, 7, 1, 1, 0, 2, false, true },
};
#define N_SHAPES ((int)(sizeof(shapes) / sizeof(shapes[0])))

#define MAX_CANDS 512
#define MAX_SAMPLES 256
#define MAX_ARGS 5

struct cand {
	int shape;
	bool is_default;
	char name[96];
	dnnl_primitive_t prim;
	int na;
	dnnl_exec_arg_t args[MAX_ARGS];
	dnnl_memory_t mems[MAX_ARGS];
	void *bufs[MAX_ARGS];
	int ns;
	double samples[MAX_SAMPLES];
	double t;
};

static struct cand *cands;
static int n_cands;
static dnnl_engine_t eng;
static dnnl_stream_t strm;

static int out_hw(const struct shape *s)
{
	return (s->hw + 2 * s->p - s->k) / s->s + 1;
}

static double gflop(const struct shape *s, int n)
{
	double o = out_hw(s);
	return 2.0 * n * s->oc * o * o * s->ic * s->k * s->k / 1e9;
}

/* A buffer for md filled with a fixed pattern in [-0.5, 0.5). */
static void *make_buf(const dnnl_memory_desc_t *md, dnnl_memory_t *m)
{
	size_t sz = dnnl_memory_desc_get_size(md);
	size_t al = (sz + 63) / 64 * 64 + 64;
	float *p = aligned_alloc(64, al);
	if (!p)
		return NULL;
	for (size_t i = 0; i < sz / sizeof(float); i++)
		p[i] = (float)((i * 2654435761u) % 1000u) / 1000.0f - 0.5f;
	if (dnnl_memory_create(m, md, eng, p)) {
		free(p);
		return NULL;
	}
	return p;
}

static const char *layout_name(const dnnl_memory_desc_t *md)
{
	static const dnnl_format_tag_t tags[] = { dnnl_nhwc, dnnl_nChw8c, dnnl_nchw, dnnl_nChw16c };
	static const char *const names[] = { "nhwc", "nChw8c", "nchw", "nChw16c" };
	dnnl_memory_desc_t t;
	if (md->ndims != 4)
		return md->ndims == 2 ? "nhwc-view" : "other";
	for (int i = 0; i < 4; i++)
		if (!dnnl_memory_desc_init_by_tag(&t, 4, md->dims, dnnl_f32, tags[i]) &&
		    dnnl_memory_desc_equal(&t, md))
			return names[i];
	return "other";
}

/* Adds pd as a candidate (dedup by label); false on allocation failure. */
static bool add_cand(int si, const_dnnl_primitive_desc_t pd, const char *prefix, bool is_def)
{
	const char *impl = "?";
	dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
	if (strstr(impl, "ref") || strstr(impl, "sse41"))
		return true; /* reference and SSE4.1 kernels: never competitive */
	char label[96];
	snprintf(label, sizeof(label), "%s%s %s/%s", prefix, impl,
		 layout_name(dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0)),
		 layout_name(dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0)));
	for (int k = 0; k < n_cands; k++)
		if (cands[k].shape == si && cands[k].is_default == is_def &&
		    !strcmp(cands[k].name, label))
			return true;
	if (n_cands == MAX_CANDS)
		return true;
	struct cand *c = &cands[n_cands];
	memset(c, 0, sizeof(*c));
	c->shape = si;
	c->is_default = is_def;
	snprintf(c->name, sizeof(c->name), "%s", label);
	static const dnnl_query_t qs[4] = { dnnl_query_src_md, dnnl_query_weights_md,
					    dnnl_query_weights_md, dnnl_query_dst_md };
	static const int idx[4] = { 0, 0, 1, 0 };
	static const int an[4] = { DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_BIAS, DNNL_ARG_DST };
	for (int i = 0; i < 5; i++) {
		const dnnl_memory_desc_t *md =
			i < 4 ? dnnl_primitive_desc_query_md(pd, qs[i], idx[i]) :
				dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
		if (!md || !md->ndims || !dnnl_memory_desc_get_size(md))
			continue;
		c->bufs[c->na] = make_buf(md, &c->mems[c->na]);
		if (!c->bufs[c->na])
			return false;
		c->args[c->na] = (dnnl_exec_arg_t){ i < 4 ? an[i] : DNNL_ARG_SCRATCHPAD,
						    c->mems[c->na] };
		c->na++;
	}
	if (dnnl_primitive_create(&c->prim, pd))
		return false;
	n_cands++;
	return true;
}

static void free_cand(struct cand *c)
{
	for (int i = 0; i < c->na; i++) {
		dnnl_memory_destroy(c->mems[i]);
		free(c->bufs[i]);
	}
	if (c->prim)
		dnnl_primitive_destroy(c->prim);
}

static dnnl_primitive_attr_t make_attr(const struct shape *s)
{
	dnnl_primitive_attr_t a = NULL;
	dnnl_post_ops_t po = NULL;
	if (dnnl_primitive_attr_create(&a) ||
	    dnnl_primitive_attr_set_scratchpad_mode(a, dnnl_scratchpad_mode_user) ||
	    dnnl_post_ops_create(&po) ||
	    (s->sum && dnnl_post_ops_append_sum(po, 1.0f)) ||
	    (s->relu && dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0, 0)) ||
	    dnnl_primitive_attr_set_post_ops(a, po)) {
		if (po)
			dnnl_post_ops_destroy(po);
		if (a)
			dnnl_primitive_attr_destroy(a);
		return NULL;
	}
	dnnl_post_ops_destroy(po);
	return a;
}

static bool build_shape(int si, int n)
{
	const struct shape *s = &shapes[si];
	int o = out_hw(s);
	static const dnnl_format_tag_t tags[] = { dnnl_format_tag_any, dnnl_nhwc, dnnl_nChw8c };
	bool ok = true;
	for (int ti = 0; ok && ti < 3; ti++) {
		dnnl_memory_desc_t src, dst, wei, bias;
		dnnl_dims_t sd = { n, s->ic, s->hw, s->hw }, dd = { n, s->oc, o, o },
			    wd = { s->oc, s->ic, s->k, s->k }, bd = { s->oc };
		dnnl_dims_t st = { s->s, s->s }, pad = { s->p, s->p };
		dnnl_convolution_desc_t cd;
		if (dnnl_memory_desc_init_by_tag(&src, 4, sd, dnnl_f32, tags[ti]) ||
		    dnnl_memory_desc_init_by_tag(&dst, 4, dd, dnnl_f32, tags[ti]) ||
		    dnnl_memory_desc_init_by_tag(&wei, 4, wd, dnnl_f32, dnnl_format_tag_any) ||
		    dnnl_memory_desc_init_by_tag(&bias, 1, bd, dnnl_f32, dnnl_a) ||
		    dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference,
						       dnnl_convolution_direct, &src, &wei, &bias,
						       &dst, st, pad, pad))
			return false;
		dnnl_primitive_attr_t attr = make_attr(s);
		if (!attr)
			return false;
		if (ti == 0) {
			dnnl_primitive_desc_t pd;
			if (dnnl_primitive_desc_create(&pd, &cd, attr, eng, NULL)) {
				dnnl_primitive_attr_destroy(attr);
				return false;
			}
			ok = add_cand(si, pd, "default ", true);
			dnnl_primitive_desc_destroy(pd);
		}
		dnnl_primitive_desc_iterator_t it;
		if (ok && !dnnl_primitive_desc_iterator_create(&it, &cd, attr, eng, NULL)) {
			do {
				dnnl_primitive_desc_t pd = dnnl_primitive_desc_iterator_fetch(it);
				if (!pd)
					break;
				ok = add_cand(si, pd, "", false);
				dnnl_primitive_desc_destroy(pd);
			} while (ok && dnnl_primitive_desc_iterator_next(it) == dnnl_success);
			dnnl_primitive_desc_iterator_destroy(it);
		}
		dnnl_primitive_attr_destroy(attr);
	}
	if (ok && s->k == 1 && s->s == 1) {
		/* 1x1 stride 1 over NHWC is [N*H*W, C] x [C, O] */
		dnnl_memory_desc_t a, w, bm, d;
		dnnl_dims_t ad = { (dnnl_dim_t)n * s->hw * s->hw, s->ic }, wd = { s->ic, s->oc },
			    bd = { 1, s->oc }, dd = { (dnnl_dim_t)n * s->hw * s->hw, s->oc };
		dnnl_matmul_desc_t md;
		if (dnnl_memory_desc_init_by_tag(&a, 2, ad, dnnl_f32, dnnl_ab) ||
		    dnnl_memory_desc_init_by_tag(&w, 2, wd, dnnl_f32, dnnl_format_tag_any) ||
		    dnnl_memory_desc_init_by_tag(&bm, 2, bd, dnnl_f32, dnnl_ab) ||
		    dnnl_memory_desc_init_by_tag(&d, 2, dd, dnnl_f32, dnnl_ab) ||
		    dnnl_matmul_desc_init(&md, &a, &w, &bm, &d))
			return false;
		dnnl_primitive_attr_t attr = make_attr(s);
		dnnl_primitive_desc_t pd;
		if (!attr)
			return false;
		if (!dnnl_primitive_desc_create(&pd, &md, attr, eng, NULL)) {
			ok = add_cand(si, pd, "matmul:", false);
			dnnl_primitive_desc_destroy(pd);
		}
		dnnl_primitive_attr_destroy(attr);
	}
	return ok;
}

static bool run_once(struct cand *c, double *ms)
{
	uint64_t t0 = cc_mono_ns();
	if (dnnl_primitive_execute(c->prim, strm, c->na, c->args) || dnnl_stream_wait(strm))
		return false;
	*ms = (double)(cc_mono_ns() - t0) / 1e6;
	return true;
}

/* Median time of a reorder between two layouts of one activation. */
static double reorder_ms(int n, int c, int hw, dnnl_format_tag_t from, dnnl_format_tag_t to,
			 int reps)
{
	dnnl_memory_desc_t sm, dm;
	dnnl_dims_t d = { n, c, hw, hw };
	dnnl_primitive_desc_t pd = NULL;
	dnnl_primitive_t prim = NULL;
	dnnl_memory_t m1 = NULL, m2 = NULL;
	void *b1 = NULL, *b2 = NULL;
	double t[MAX_SAMPLES], res = -1;
	if (reps > MAX_SAMPLES)
		reps = MAX_SAMPLES;
	if (dnnl_memory_desc_init_by_tag(&sm, 4, d, dnnl_f32, from) ||
	    dnnl_memory_desc_init_by_tag(&dm, 4, d, dnnl_f32, to) ||
	    dnnl_reorder_primitive_desc_create(&pd, &sm, eng, &dm, eng, NULL) ||
	    dnnl_primitive_create(&prim, pd) || !(b1 = make_buf(&sm, &m1)) ||
	    !(b2 = make_buf(&dm, &m2)))
		goto out;
	dnnl_exec_arg_t args[2] = { { DNNL_ARG_FROM, m1 }, { DNNL_ARG_TO, m2 } };
	for (int i = -2; i < reps; i++) {
		uint64_t t0 = cc_mono_ns();
		if (dnnl_primitive_execute(prim, strm, 2, args) || dnnl_stream_wait(strm))
			goto out;
		if (i >= 0)
			t[i] = (double)(cc_mono_ns() - t0) / 1e6;
	}
	qsort(t, (size_t)reps, sizeof(double), bench_cmp_dbl);
	res = t[reps / 2];
out:
	if (m1)
		dnnl_memory_destroy(m1);
	if (m2)
		dnnl_memory_destroy(m2);
	free(b1);
	free(b2);
	if (prim)
		dnnl_primitive_destroy(prim);
	if (pd)
		dnnl_primitive_desc_destroy(pd);
	return res;
}

static bool parse_arg(const char *flag, const char *v, uint64_t lo, uint64_t hi, int *ret)
{
	return bench_parse_arg("bench_conv_impls", flag, v, lo, hi, ret);
}

int main(int argc, char **argv)
{
	int batch = 1, threads = 2, rounds = 10, reps = 3;
	bool smoke = false, median = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			printf("usage: bench_conv_impls [--batch N] [--threads T] [--rounds R]"
			       " [--reps K] [--stat min|median] [--smoke]\n"
			       "Times every oneDNN implementation and layout of each ResNet-50"
			       " convolution shape,\ninterleaved, against oneDNN's default pick"
			       " (defaults: batch 1, 2 threads,\n10 rounds x 3 reps, min time;"
			       " --smoke: two shapes, one pass, nothing judged).\n");
			return 0;
		} else if (!strcmp(a, "--smoke")) {
			smoke = true;
		} else if (!strcmp(a, "--batch")) {
			if (!parse_arg(a, v, 1, 256, &batch))
				return 2;
			i++;
		} else if (!strcmp(a, "--threads")) {
			if (!parse_arg(a, v, 1, 256, &threads))
				return 2;
			i++;
		} else if (!strcmp(a, "--rounds")) {
			if (!parse_arg(a, v, 1, 1000, &rounds))
				return 2;
			i++;
		} else if (!strcmp(a, "--reps")) {
			if (!parse_arg(a, v, 1, 1000, &reps))
				return 2;
			i++;
		} else if (!strcmp(a, "--stat") && v && (!strcmp(v, "min") || !strcmp(v, "median"))) {
			median = !strcmp(v, "median");
			i++;
		} else {
			fprintf(stderr, "%s: unknown or incomplete option '%s'\n", argv[0], a);
			fprintf(stderr, "usage: bench_conv_impls [--batch N] [--threads T] [--rounds R]"
				" [--reps K] [--stat min|median] [--smoke]\n");
			return 2;
		}
	}
	if (smoke) {
		batch = 1;
		rounds = 1;
		reps = 1;
	}
	omp_set_num_threads(threads);
	cands = calloc(MAX_CANDS, sizeof(*cands));
	if (!cands || dnnl_engine_create(&eng, dnnl_cpu, 0) ||
	    dnnl_stream_create(&strm, eng, dnnl_stream_default_flags)) {
		fprintf(stderr, "bench_conv_impls: cannot set up oneDNN\n");
		return 1;
	}
	int rc = 1;
	for (int si = 0; si < N_SHAPES; si++) {
		if (smoke && strcmp(shapes[si].name, "s4.c2") && strcmp(shapes[si].name, "s4.c3"))
			continue;
		if (!build_shape(si, batch)) {
			fprintf(stderr, "bench_conv_impls: %s: cannot build the candidates\n",
				shapes[si].name);
			goto out;
		}
	}
	for (int c = 0; c < n_cands; c++) { /* warm up: weights, JIT code, pages */
		double ms;
		for (int k = 0; k < 2; k++)
			if (!run_once(&cands[c], &ms))
				goto fail_exec;
	}
	for (int r = 0; r < rounds; r++)
		for (int c = 0; c < n_cands; c++)
			for (int k = 0; k < reps; k++) {
				double ms;
				if (!run_once(&cands[c], &ms))
					goto fail_exec;
				if (cands[c].ns < MAX_SAMPLES)
					cands[c].samples[cands[c].ns++] = ms;
			}
	for (int c = 0; c < n_cands; c++) {
		struct cand *x = &cands[c];
		qsort(x->samples, (size_t)x->ns, sizeof(double), bench_cmp_dbl);
		x->t = median ? x->samples[x->ns / 2] : x->samples[0];
	}
	printf("# ResNet-50 convolutions, batch %d, %d threads, %d rounds x %d reps, %s time;"
	       " %d candidates\n", batch, threads, rounds, reps, median ? "median" : "min", n_cands);
	double t_def = 0, t_best = 0, t_b8 = 0, noise = 0;
	for (int si = 0; si < N_SHAPES; si++) {
		const struct shape *s = &shapes[si];
		double gf = gflop(s, batch), def = -1, same = -1, best = 1e300, b8 = 1e300;
		const char *def_name = NULL, *best_name = "?";
		for (int c = 0; c < n_cands; c++)
			if (cands[c].shape == si && cands[c].is_default) {
				def = cands[c].t;
				def_name = cands[c].name + strlen("default ");
			}
		if (!def_name)
			continue;
		printf("%-9s %4d->%-4d %3dx%-3d k%d s%d x%d (%.3f GFLOP)\n", s->name, s->ic, s->oc,
		       s->hw, s->hw, s->k, s->s, s->count, gf);
		for (int c = 0; c < n_cands; c++) {
			const struct cand *x = &cands[c];
			if (x->shape != si)
				continue;
			printf("    %-44s %9.3f ms %6.1f GFLOP/s\n", x->name, x->t, gf / x->t * 1e3);
			if (!x->is_default && !strcmp(x->name, def_name))
				same = x->t;
			if (x->t < best) {
				best = x->t;
				best_name = x->name;
			}
			if (strstr(x->name, " nChw8c/nChw8c") && x->t < b8)
				b8 = x->t;
		}
		if (b8 > def)
			b8 = def; /* the stem reads nchw: its default is the nChw8c-compatible pick */
		if (same > 0)
			noise += (same > def ? same - def : def - same) * s->count;
		printf("  best %s: %.3f vs default %.3f ms (ratio %.3f)\n", best_name, best, def,
		       best / def);
		t_def += def * s->count;
		t_best += best * s->count;
		t_b8 += b8 * s->count;
	}
	printf("network sum (each shape x its count): default %.2f ms, per-shape best %.2f ms"
	       " (ratio %.3f), best keeping nChw8c %.2f ms (ratio %.3f); |default - same impl"
	       " timed again| summed: %.2f ms (noise floor)\n",
	       t_def, t_best, t_best / t_def, t_b8, t_b8 / t_def, noise);
	static const int acts[][2] = { { 64, 56 }, { 256, 56 }, { 128, 28 }, { 512, 28 },
				       { 256, 14 }, { 1024, 14 }, { 512, 7 }, { 2048, 7 } };
	for (int i = 0; i < (smoke ? 1 : 8); i++)
		printf("reorder %dx%dx%dx%d: nChw8c->nhwc %.3f ms, nhwc->nChw8c %.3f ms\n", batch,
		       acts[i][0], acts[i][1], acts[i][1],
		       reorder_ms(batch, acts[i][0], acts[i][1], dnnl_nChw8c, dnnl_nhwc, smoke ? 1 : 15),
		       reorder_ms(batch, acts[i][0], acts[i][1], dnnl_nhwc, dnnl_nChw8c, smoke ? 1 : 15));
	rc = 0;
	goto out;
fail_exec:
	fprintf(stderr, "bench_conv_impls: a primitive failed to execute\n");
out:
	for (int c = 0; c < n_cands; c++)
		free_cand(&cands[c]);
	free(cands);
	dnnl_stream_destroy(strm);
	dnnl_engine_destroy(eng);
	return rc;
}
