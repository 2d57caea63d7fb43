/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Execution plans: one per (signature, input shapes).
 *
 * Building a plan walks the signature's subgraph in topological order,
 * infers every shape, folds what is constant (Shape -> Gather -> Reshape
 * chains resolve here), creates the oneDNN primitives (convolutions with
 * format_tag_any weights reordered once and cached per engine, pooling,
 * matmul), plans activation memory by liveness into one arena per
 * concurrent run, and pre-faults everything.
 *
 * Layouts: convolutions take format_tag_any sources and destinations, so
 * oneDNN picks the activation layouts (nChw8c / nChw16c blocked on x86).
 * A value stays in the layout its producer wrote (vinfo.md); convolutions,
 * pooling and global pools read it there, reordering a conv's input only
 * when the conv asked for another layout.  Every other consumer (reference
 * kernels, views, graph outputs) reads the plain layout of the IR, made
 * by one reorder step per value the first time it is needed.
 *
 * Running a plan copies the inputs in, executes the steps and copies the
 * outputs out: no allocation.
 */
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <dnnl.h>

#include "internal.h"

#define ALIGN 64

struct wcache_entry {
	const struct ir_tensor *src; /* identity of the constant */
	int wino;                    /* Winograd transform for tile m (2, 4), not md */
	dnnl_memory_desc_t md;
	void *data;
	size_t size;
};

struct infer_engine {
	dnnl_engine_t eng;
	int threads;
	enum infer_precision prec;
	int wino; /* Winograd 3x3 convs: 0 never, 1 by the size rule, 2 or 4: always F(mxm) */
	pthread_mutex_t lock; /* weight cache */
	struct wcache_entry *wc;
	size_t n_wc, cap_wc;
};

/* Where a tensor lives during a run. */
struct loc {
	int storage;       /* arena storage id, -1 for constants */
	const void *cptr;  /* constant data */
};

enum step_kind { STEP_DNNL, STEP_KERNEL, STEP_COPY, STEP_WINO };

struct dnnl_arg {
	int arg;
	dnnl_memory_desc_t md;
	struct loc loc;
	bool scratch;
};

struct step {
	enum step_kind kind;
	const struct ir_node *node;
	bool reorder;      /* a layout change inserted by the plan */
	/* DNNL */
	dnnl_primitive_t prim;
	int nargs;
	struct dnnl_arg *args;
	/* KERNEL */
	struct ir_params p;
	int n_in, n_out;
	enum infer_dtype *in_dt, *out_dt;
	struct ir_shape *in_sh, *out_sh;
	struct loc *in_loc, *out_loc;
	/* COPY: in_loc[0] -> out_loc[0], size bytes */
	size_t size;
	/* WINO: in_loc[0] -> out_loc[0], scratch in the arena's scratchpad */
	struct wino_conv *wino;
};

struct storage {
	size_t size;
	int first, last; /* step range where live */
	size_t off;
};

struct arena {
	uint8_t *base;
	size_t size;
	dnnl_stream_t stream;
	dnnl_exec_arg_t **exec; /* per step */
	dnnl_memory_t *mems;
	int n_mems;
	bool busy;
};

struct infer_plan {
	struct infer_engine *en;
	int n_steps;
	struct step *steps;
	int n_storage;
	struct storage *st;
	size_t arena_size, scratch_off, scratch_size;
	/* signature I/O */
	int n_in, n_out;
	struct loc *in_loc, *out_loc;
	size_t *in_size, *out_size;
	enum infer_dtype *out_dt;
	struct ir_shape *out_sh;
	/* constants folded for this plan */
	struct ir_tensor **consts;
	int n_consts, cap_consts;
	/* arenas */
	int n_arenas;
	struct arena *ar;
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

/* ------------------------------------------------------------------------ */

int engine_new(int threads, enum infer_precision prec,
	       struct infer_engine **ret, struct ir_err *e)
{
	struct infer_engine *en = calloc(1, sizeof(*en));
	if (!en)
		return -ENOMEM;
	if (dnnl_engine_create(&en->eng, dnnl_cpu, 0) != dnnl_success) {
		free(en);
		return ir_fail(e, INFER_E_BACKEND, "oneDNN: cannot create a CPU engine");
	}
	en->threads = threads;
	en->prec = prec;
	if (prec == INFER_PRECISION_BF16 &&
	    dnnl_get_effective_cpu_isa() < dnnl_cpu_isa_avx512_core_bf16) {
		dnnl_engine_destroy(en->eng);
		free(en);
		return ir_fail(e, INFER_E_UNSUPPORTED,
			       "bf16 needs a CPU with avx512_bf16 or AMX; this one has neither");
	}
	/* CCINFER_WINOGRAD: "0" never; "2" / "4" F(2x2) / F(4x4) for every
	 * eligible conv; unset or "auto": by the size rule (docs/ccinfer.md) */
	const char *wv = getenv("CCINFER_WINOGRAD");
	en->wino = 1;
	if (wv && (!strcmp(wv, "0") || !strcmp(wv, "2") || !strcmp(wv, "4")))
		en->wino = wv[0] - '0';
	else if (wv && *wv && strcmp(wv, "auto"))
		cc_log(CC_LOG_WARN, "infer",
		       "CCINFER_WINOGRAD='%.16s' is not 0, 2, 4 or auto; using auto", wv);
	if (prec != INFER_PRECISION_FP32 || !wino_cpu_ok())
		en->wino = 0;
	pthread_mutex_init(&en->lock, NULL);
	*ret = en;
	return 0;
}

void engine_free(struct infer_engine *en)
{
	if (!en)
		return;
	for (size_t i = 0; i < en->n_wc; i++)
		free(en->wc[i].data);
	free(en->wc);
	dnnl_engine_destroy(en->eng);
	pthread_mutex_destroy(&en->lock);
	free(en);
}

static void *alloc_prefault(size_t size)
{
	size_t sz = (size + 4095) & ~(size_t)4095;
	if (!sz)
		sz = 4096;
	void *p = aligned_alloc(4096, sz);
	if (!p)
		return NULL;
#ifdef MADV_HUGEPAGE
	if (sz >= (2u << 20))
		madvise(p, sz, MADV_HUGEPAGE);
#endif
	memset(p, 0, sz); /* touch every page now, not on the first run */
	return p;
}

/* Makes room for one more weight cache entry (en->lock held). */
static int wcache_reserve(struct infer_engine *en)
{
	if (en->n_wc < en->cap_wc)
		return 0;
	size_t nc = en->cap_wc ? en->cap_wc * 2 : 64;
	struct wcache_entry *n = realloc(en->wc, nc * sizeof(*n));
	if (!n)
		return -ENOMEM;
	en->wc = n;
	en->cap_wc = nc;
	return 0;
}

/* Weights in the layout a primitive wants, reordered once per engine. */
static int cached_weights(struct infer_engine *en, const struct ir_tensor *src,
			  const dnnl_memory_desc_t *src_md,
			  const dnnl_memory_desc_t *want, const void **ret,
			  struct ir_err *e)
{
	if (dnnl_memory_desc_equal(src_md, want)) {
		*ret = src->data;
		return 0;
	}
	pthread_mutex_lock(&en->lock);
	for (size_t i = 0; i < en->n_wc; i++)
		if (en->wc[i].src == src && !en->wc[i].wino &&
		    dnnl_memory_desc_equal(&en->wc[i].md, want)) {
			*ret = en->wc[i].data;
			pthread_mutex_unlock(&en->lock);
			return 0;
		}
	int r = 0;
	size_t sz = dnnl_memory_desc_get_size(want);
	void *dst = alloc_prefault(sz);
	dnnl_memory_t ms = NULL, md = NULL;
	dnnl_primitive_desc_t rpd = NULL;
	dnnl_primitive_t rp = NULL;
	dnnl_stream_t s = NULL;
	if (!dst) {
		r = -ENOMEM;
		goto out;
	}
	if (dnnl_memory_create(&ms, src_md, en->eng, src->data) ||
	    dnnl_memory_create(&md, want, en->eng, dst) ||
	    dnnl_reorder_primitive_desc_create(&rpd, src_md, en->eng, want, en->eng, NULL) ||
	    dnnl_primitive_create(&rp, rpd) ||
	    dnnl_stream_create(&s, en->eng, dnnl_stream_default_flags)) {
		r = ir_fail(e, INFER_E_BACKEND, "oneDNN: weight reorder failed");
		goto out;
	}
	dnnl_exec_arg_t args[2] = { { DNNL_ARG_FROM, ms }, { DNNL_ARG_TO, md } };
	if (dnnl_primitive_execute(rp, s, 2, args) || dnnl_stream_wait(s)) {
		r = ir_fail(e, INFER_E_BACKEND, "oneDNN: weight reorder failed");
		goto out;
	}
	if ((r = wcache_reserve(en)))
		goto out;
	en->wc[en->n_wc++] = (struct wcache_entry){ src, 0, *want, dst, sz };
	*ret = dst;
	dst = NULL;
out:
	free(dst);
	if (s)
		dnnl_stream_destroy(s);
	if (rp)
		dnnl_primitive_destroy(rp);
	if (rpd)
		dnnl_primitive_desc_destroy(rpd);
	if (ms)
		dnnl_memory_destroy(ms);
	if (md)
		dnnl_memory_destroy(md);
	pthread_mutex_unlock(&en->lock);
	return r;
}

/* Winograd-transformed weights of a K x C x 3 x 3 constant, once per
 * engine. */
static int cached_wino_weights(struct infer_engine *en, const struct ir_tensor *src,
			       int64_t K, int64_t C, int m, const float **ret)
{
	int r = 0;
	pthread_mutex_lock(&en->lock);
	for (size_t i = 0; i < en->n_wc; i++)
		if (en->wc[i].src == src && en->wc[i].wino == m) {
			*ret = en->wc[i].data;
			goto out;
		}
	size_t sz = wino_weights_size(C, K, m);
	if ((r = wcache_reserve(en)))
		goto out;
	float *u = alloc_prefault(sz);
	if (!u) {
		r = -ENOMEM;
		goto out;
	}
	wino_transform_weights(src->data, K, C, m, u);
	en->wc[en->n_wc++] = (struct wcache_entry){ src, m, { 0 }, u, sz };
	*ret = u;
out:
	pthread_mutex_unlock(&en->lock);
	return r;
}

/* ------------------------------------------------------------------------ */

struct vinfo {
	enum infer_dtype dt;
	struct ir_shape sh;
	const struct ir_tensor *cval; /* constant (model or plan folded) */
	int storage;                  /* -1 when none */
	bool needed;
	/* Layouts.  A value lives in storage in its native layout: md when
	 * md != NULL (a layout oneDNN chose, e.g. nChw8c, channels padded),
	 * else plain (dense row-major, NHWC for spatial values).  plain is
	 * the storage of its plain copy, made once by a reorder when some
	 * consumer needs it; alt the storage of its copy in alt_md (the
	 * source layout a conv asked for). */
	dnnl_memory_desc_t *md, *alt_md;
	int plain, alt;
};

struct builder {
	int *vuses;    /* remaining consumers of each value */
	int *srem;     /* remaining consumers of each storage */
	struct infer_engine *en;
	struct ir_model *im;
	struct infer_plan *p;
	struct vinfo *v;
	struct ir_err *e;
	int cap_steps, cap_storage;
	size_t scratch;
};

static int new_storage(struct builder *b, size_t size)
{
	struct infer_plan *p = b->p;
	if (p->n_storage == b->cap_storage) {
		int nc = b->cap_storage ? b->cap_storage * 2 : 64;
		struct storage *n = realloc(p->st, (size_t)nc * sizeof(*n));
		if (!n)
			return -ENOMEM;
		p->st = n;
		b->cap_storage = nc;
	}
	p->st[p->n_storage] = (struct storage){ size, -1, -1, 0 };
	return p->n_storage++;
}

static struct step *new_step(struct builder *b, enum step_kind k,
			     const struct ir_node *n)
{
	struct infer_plan *p = b->p;
	if (p->n_steps == b->cap_steps) {
		int nc = b->cap_steps ? b->cap_steps * 2 : 64;
		struct step *s = realloc(p->steps, (size_t)nc * sizeof(*s));
		if (!s)
			return NULL;
		p->steps = s;
		b->cap_steps = nc;
	}
	struct step *s = &p->steps[p->n_steps++];
	memset(s, 0, sizeof(*s));
	s->kind = k;
	s->node = n;
	return s;
}

/* Where value v is in the plain layout (want_plain() made the copy of a
 * value that lives in a oneDNN layout). */
static struct loc loc_of(const struct builder *b, int v)
{
	struct loc l = { -1, NULL };
	if (v < 0)
		return l;
	if (b->v[v].cval)
		l.cptr = b->v[v].cval->data;
	else
		l.storage = b->v[v].md ? b->v[v].plain : b->v[v].storage;
	return l;
}

static int keep_const(struct infer_plan *p, struct ir_tensor *t)
{
	if (p->n_consts == p->cap_consts) {
		int nc = p->cap_consts ? p->cap_consts * 2 : 16;
		struct ir_tensor **n = realloc(p->consts, (size_t)nc * sizeof(*n));
		if (!n)
			return -ENOMEM;
		p->consts = n;
		p->cap_consts = nc;
	}
	p->consts[p->n_consts++] = t;
	return 0;
}

static dnnl_alg_kind_t act_alg(const struct ir_act *a, float *alpha, float *beta)
{
	*alpha = 0;
	*beta = 0;
	switch (a->op) {
	case IR_RELU: return dnnl_eltwise_relu;
	case IR_LEAKY_RELU: *alpha = a->alpha; return dnnl_eltwise_relu;
	case IR_RELU6: *alpha = 0; *beta = 6; return dnnl_eltwise_clip_v2;
	case IR_CLIP: *alpha = a->alpha; *beta = a->beta; return dnnl_eltwise_clip_v2;
	case IR_ELU: *alpha = a->alpha; return dnnl_eltwise_elu;
	case IR_SIGMOID: return dnnl_eltwise_logistic;
	case IR_TANH: return dnnl_eltwise_tanh;
	case IR_HARD_SWISH: return dnnl_eltwise_hardswish;
	case IR_SILU: *alpha = 1; return dnnl_eltwise_swish;
	case IR_GELU: return dnnl_eltwise_gelu_erf;
	case IR_SQRT: return dnnl_eltwise_sqrt;
	case IR_ABS: return dnnl_eltwise_abs;
	case IR_EXP: return dnnl_eltwise_exp;
	case IR_LOG: return dnnl_eltwise_log;
	case IR_SQUARE: return dnnl_eltwise_square;
	case IR_SOFTPLUS: return dnnl_eltwise_soft_relu;
	default: return dnnl_alg_kind_undef;
	}
}

static int make_attr(struct builder *b, const struct ir_act *post, int n_post,
		     int sum_at, dnnl_primitive_attr_t *ret)
{
	dnnl_primitive_attr_t attr = NULL;
	dnnl_post_ops_t po = NULL;
	if (dnnl_primitive_attr_create(&attr) ||
	    dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user))
		goto fail;
	if (b->en->prec == INFER_PRECISION_BF16 &&
	    dnnl_primitive_attr_set_fpmath_mode(attr, dnnl_fpmath_mode_bf16))
		goto fail;
	if (n_post || sum_at >= 0) {
		if (dnnl_post_ops_create(&po))
			goto fail;
		for (int i = 0; i <= n_post; i++) {
			if (i == sum_at && dnnl_post_ops_append_sum(po, 1.0f))
				goto fail;
			if (i == n_post)
				break;
			float al, be;
			dnnl_alg_kind_t alg = act_alg(&post[i], &al, &be);
			if (alg == dnnl_alg_kind_undef ||
			    dnnl_post_ops_append_eltwise(po, 1.0f, alg, al, be))
				goto fail;
		}
		if (dnnl_primitive_attr_set_post_ops(attr, po))
			goto fail;
		dnnl_post_ops_destroy(po);
	}
	*ret = attr;
	return 0;
fail:
	if (po)
		dnnl_post_ops_destroy(po);
	if (attr)
		dnnl_primitive_attr_destroy(attr);
	return INFER_E_BACKEND;
}

static int add_arg(struct step *s, int arg, const dnnl_memory_desc_t *md,
		   struct loc l, bool scratch)
{
	struct dnnl_arg *na = realloc(s->args, (size_t)(s->nargs + 1) * sizeof(*na));
	if (!na)
		return -ENOMEM;
	s->args = na;
	s->args[s->nargs++] = (struct dnnl_arg){ arg, *md, l, scratch };
	return 0;
}

static int finish_prim(struct builder *b, struct step *s, dnnl_primitive_desc_t pd)
{
	const dnnl_memory_desc_t *sp = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
	size_t ss = sp ? dnnl_memory_desc_get_size(sp) : 0;
	if (ss) {
		if (ss > b->scratch)
			b->scratch = ss;
		int r = add_arg(s, DNNL_ARG_SCRATCHPAD, sp, (struct loc){ -1, NULL }, true);
		if (r)
			return r;
	}
	if (dnnl_primitive_create(&s->prim, pd))
		return INFER_E_BACKEND;
	return 0;
}

static int dims_md(dnnl_memory_desc_t *md, int nd, const int64_t *d,
		   dnnl_format_tag_t tag)
{
	dnnl_dims_t dims;
	for (int i = 0; i < nd; i++)
		dims[i] = d[i];
	return dnnl_memory_desc_init_by_tag(md, nd, dims, dnnl_f32, tag) ? INFER_E_BACKEND : 0;
}

/* A storage of size bytes with rem pending consumers (for the in-place
 * decision; copies made by the plan never qualify). */
static int add_storage(struct builder *b, size_t size, int rem)
{
	if (size > ((size_t)1 << 38))
		return ir_fail(b->e, INFER_E_LIMIT, "tensor too large");
	int s = new_storage(b, size);
	if (s < 0)
		return s;
	int *nr = realloc(b->srem, ((size_t)s + 1) * sizeof(int));
	if (!nr)
		return -ENOMEM;
	b->srem = nr;
	b->srem[s] = rem;
	return s;
}

static int value_storage(struct builder *b, int v);

#define COPY_REM (1 << 28) /* srem of plan-made copies: never reused in place */

/* The plain layout of a 4-D float value (IR order NHWC) as oneDNN sees
 * it: dims N, C, H, W with tag nhwc. */
static int plain_md(const struct builder *b, int v, dnnl_memory_desc_t *md)
{
	const struct ir_shape *s = &b->v[v].sh;
	if (s->rank != 4 || b->v[v].dt != INFER_DT_FLOAT)
		return INFER_E_UNSUPPORTED;
	int64_t d[4] = { s->d[0], s->d[3], s->d[1], s->d[2] };
	return dims_md(md, 4, d, dnnl_nhwc);
}

/* The layout value v is stored in. */
static int native_md(const struct builder *b, int v, dnnl_memory_desc_t *md)
{
	if (b->v[v].md) {
		*md = *b->v[v].md;
		return 0;
	}
	return plain_md(b, v, md);
}

static struct loc loc_native(const struct builder *b, int v)
{
	struct loc l = { -1, NULL };
	if (b->v[v].cval)
		l.cptr = b->v[v].cval->data;
	else
		l.storage = b->v[v].storage;
	return l;
}

/* Appends a reorder step src (layout sm) -> dst (layout dm). */
static int emit_reorder(struct builder *b, const struct ir_node *n,
			const dnnl_memory_desc_t *sm, struct loc src,
			const dnnl_memory_desc_t *dm, struct loc dst)
{
	dnnl_primitive_attr_t attr = NULL;
	dnnl_primitive_desc_t pd = NULL;
	if (dnnl_primitive_attr_create(&attr) ||
	    dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) ||
	    dnnl_reorder_primitive_desc_create(&pd, sm, b->en->eng, dm, b->en->eng, attr)) {
		if (attr)
			dnnl_primitive_attr_destroy(attr);
		return ir_fail(b->e, INFER_E_BACKEND, "'%s': oneDNN has no layout reorder",
			       n->name);
	}
	dnnl_primitive_attr_destroy(attr);
	struct step *s = new_step(b, STEP_DNNL, n);
	int r = s ? 0 : -ENOMEM;
	if (s)
		s->reorder = true;
	r = r ? r : add_arg(s, DNNL_ARG_FROM, sm, src, false);
	r = r ? r : add_arg(s, DNNL_ARG_TO, dm, dst, false);
	r = r ? r : finish_prim(b, s, pd);
	dnnl_primitive_desc_destroy(pd);
	return r;
}

/* Makes sure value v has a plain copy when it lives in a oneDNN layout
 * (inserted once, before the first consumer that needs it). */
static int want_plain(struct builder *b, int v, const struct ir_node *n)
{
	if (v < 0 || !b->v[v].md || b->v[v].plain >= 0)
		return 0;
	dnnl_memory_desc_t pm;
	if (plain_md(b, v, &pm))
		return ir_fail(b->e, INFER_E_BACKEND, "'%s': no plain layout", n->name);
	int s = add_storage(b, dnnl_memory_desc_get_size(&pm), COPY_REM);
	if (s < 0)
		return s;
	b->v[v].plain = s;
	return emit_reorder(b, n, b->v[v].md, loc_native(b, v), &pm, (struct loc){ s, NULL });
}

/* The location of value v in layout want, reordering into a copy kept
 * with the value when its native layout differs. */
static int loc_in(struct builder *b, int v, const dnnl_memory_desc_t *want,
		  const struct ir_node *n, struct loc *ret)
{
	struct vinfo *x = &b->v[v];
	dnnl_memory_desc_t nm;
	if (native_md(b, v, &nm))
		return ir_fail(b->e, INFER_E_UNSUPPORTED, "'%s': input is not a 4-D float tensor",
			       n->name);
	if (dnnl_memory_desc_equal(&nm, want)) {
		*ret = loc_native(b, v);
		return 0;
	}
	if (x->alt >= 0 && dnnl_memory_desc_equal(x->alt_md, want)) {
		*ret = (struct loc){ x->alt, NULL };
		return 0;
	}
	if (!x->alt_md && !(x->alt_md = malloc(sizeof(*x->alt_md))))
		return -ENOMEM;
	int s = add_storage(b, dnnl_memory_desc_get_size(want), COPY_REM);
	if (s < 0)
		return s;
	x->alt = s;
	*x->alt_md = *want;
	*ret = (struct loc){ s, NULL };
	return emit_reorder(b, n, &nm, loc_native(b, v), want, *ret);
}

/* Gives value v a storage in layout md (plain when md is the plain one). */
static int out_storage(struct builder *b, int v, const dnnl_memory_desc_t *md)
{
	dnnl_memory_desc_t pm;
	int s = add_storage(b, dnnl_memory_desc_get_size(md), b->vuses[v]);
	if (s < 0)
		return s;
	b->v[v].storage = s;
	if (!plain_md(b, v, &pm) && dnnl_memory_desc_equal(&pm, md))
		return 0;
	if (!(b->v[v].md = malloc(sizeof(*b->v[v].md))))
		return -ENOMEM;
	*b->v[v].md = *md;
	return 0;
}

static bool is_sig_input(const struct builder *b, int sid)
{
	for (int i = 0; i < b->p->n_in; i++)
		if (b->p->in_loc[i].storage == sid)
			return true;
	return false;
}

/* A 3x3 stride-1 convolution through our Winograd kernels (winograd.c)
 * instead of oneDNN's direct one, when oneDNN chose nChw8c for both sides
 * (AVX2), the channels fit the kernels' blocking, the post-ops are clamps
 * or leaky ReLUs and there is no fused residual.  Size rule (unless
 * CCINFER_WINOGRAD forces a variant): F(4x4,3x3) when that makes at least
 * 16 tiles (all images of the batch), else F(2x2,3x3) when that does,
 * else oneDNN: with fewer tiles the products are too small to pay for
 * reading the larger transformed weights (bench/infer/bench_wino).
 * Returns 1 when not taken. */
static int build_wino(struct builder *b, const struct ir_node *n, const struct ir_params *pp,
		      int out, const dnnl_memory_desc_t *src, const dnnl_memory_desc_t *dst)
{
	const struct vinfo *x = &b->v[n->in[0]];
	const struct ir_shape *os = &b->v[out].sh;
	const struct ir_tensor *wt = b->v[n->in[1]].cval;
	if (!b->en->wino || pp->groups != 1 || n->a.conv.kh != 3 || n->a.conv.kw != 3 ||
	    n->a.conv.sh != 1 || n->a.conv.sw != 1 || n->a.conv.dh != 1 || n->a.conv.dw != 1 ||
	    n->a.conv.sum_in >= 0 || x->dt != INFER_DT_FLOAT || !wt ||
	    wt->dtype != INFER_DT_FLOAT)
		return 1;
	struct wino_conv wc = {
		.N = x->sh.d[0], .C = x->sh.d[3], .H = x->sh.d[1], .W = x->sh.d[2],
		.K = os->d[3], .OH = os->d[1], .OW = os->d[2], .pt = pp->pad[0], .pl = pp->pad[2],
	};
	if (!wino_shape_ok(wc.C, wc.K) || wc.N < 1 || wc.OH < 1 || wc.OW < 1 ||
	    wc.OH != wc.H + pp->pad[0] + pp->pad[1] - 2 ||
	    wc.OW != wc.W + pp->pad[2] + pp->pad[3] - 2 || pp->pad[0] > 2 || pp->pad[2] > 2 ||
	    ir_shape_elems(&wt->shape) != wc.K * wc.C * 9)
		return 1;
	for (int i = 0; i < n->a.conv.n_post; i++) {
		const struct ir_act *a = &n->a.conv.post[i];
		struct wino_act *wa = &wc.act[wc.n_act++];
		switch (a->op) {
		case IR_RELU: *wa = (struct wino_act){ WINO_CLAMP, 0, INFINITY }; break;
		case IR_RELU6: *wa = (struct wino_act){ WINO_CLAMP, 0, 6 }; break;
		case IR_CLIP: *wa = (struct wino_act){ WINO_CLAMP, a->alpha, a->beta }; break;
		case IR_LEAKY_RELU: *wa = (struct wino_act){ WINO_LEAKY, a->alpha, 0 }; break;
		default: return 1;
		}
	}
	dnnl_memory_desc_t s8, d8;
	int64_t sd[4] = { wc.N, wc.C, wc.H, wc.W }, dd[4] = { wc.N, wc.K, wc.OH, wc.OW };
	if (dims_md(&s8, 4, sd, dnnl_aBcd8b) || dims_md(&d8, 4, dd, dnnl_aBcd8b) ||
	    !dnnl_memory_desc_equal(src, &s8) || !dnnl_memory_desc_equal(dst, &d8))
		return 1;
	if (n->n_in > 2 && n->in[2] >= 0) {
		const struct ir_tensor *bt = b->v[n->in[2]].cval;
		if (!bt || bt->dtype != INFER_DT_FLOAT || ir_shape_elems(&bt->shape) != wc.K)
			return 1;
		wc.bias = bt->data;
	}
	if (b->en->wino == 1) {
		wc.m = 4;
		wino_plan(&wc, 0);
		if (wc.tiles < 16) {
			wc.m = 2;
			wino_plan(&wc, 0);
			if (wc.tiles < 16)
				return 1;
		}
	} else {
		wc.m = b->en->wino;
		wino_plan(&wc, 0);
	}
	struct loc sloc;
	int r = cached_wino_weights(b->en, wt, wc.K, wc.C, wc.m, &wc.u);
	r = r ? r : loc_in(b, n->in[0], src, n, &sloc);
	r = r ? r : out_storage(b, out, dst);
	if (r)
		return r;
	for (int k = 0; k < n->n_in; k++)
		if (n->in[k] >= 0 && b->v[n->in[k]].storage >= 0)
			b->srem[b->v[n->in[k]].storage]--;
	struct step *stp = new_step(b, STEP_WINO, n);
	if (!stp || !(stp->wino = malloc(sizeof(wc))) ||
	    !(stp->in_loc = calloc(1, sizeof(struct loc))) ||
	    !(stp->out_loc = calloc(1, sizeof(struct loc))))
		return -ENOMEM;
	*stp->wino = wc;
	stp->n_in = stp->n_out = 1;
	stp->in_loc[0] = sloc;
	stp->out_loc[0] = loc_native(b, out);
	size_t ss = wino_scratch_size(&wc);
	if (ss > b->scratch)
		b->scratch = ss;
	return 0;
}

/* Convolution with the source and destination layouts oneDNN picks
 * (format_tag_any); the input is reordered when its layout differs, the
 * fused residual must be in the destination's layout (accumulated in
 * place when nothing else reads it later, else copied or reordered into
 * the output first). */
static int build_conv(struct builder *b, const struct ir_node *n,
		      const struct ir_params *pp, int out)
{
	const struct vinfo *x = &b->v[n->in[0]], *w = &b->v[n->in[1]];
	const struct ir_shape *os = &b->v[out].sh;
	int64_t N = x->sh.d[0], H = x->sh.d[1], W = x->sh.d[2], C = x->sh.d[3];
	int64_t O = os->d[3], OH = os->d[1], OW = os->d[2], g = pp->groups;
	int64_t KH = n->a.conv.kh, KW = n->a.conv.kw;
	dnnl_memory_desc_t src, dst, wany, wsrc, bias;
	int64_t sd[4] = { N, C, H, W }, dd[4] = { N, O, OH, OW };
	int r = dims_md(&src, 4, sd, dnnl_format_tag_any);
	r = r ? r : dims_md(&dst, 4, dd, dnnl_format_tag_any);
	if (g == 1) {
		int64_t wd[4] = { O, C, KH, KW };
		r = r ? r : dims_md(&wany, 4, wd, dnnl_format_tag_any);
		r = r ? r : dims_md(&wsrc, 4, wd, dnnl_oihw);
	} else {
		int64_t wd[5] = { g, O / g, C / g, KH, KW };
		r = r ? r : dims_md(&wany, 5, wd, dnnl_format_tag_any);
		r = r ? r : dims_md(&wsrc, 5, wd, dnnl_goihw);
	}
	bool has_bias = n->n_in > 2 && n->in[2] >= 0;
	int64_t bd[1] = { O };
	r = r ? r : dims_md(&bias, 1, bd, dnnl_a);
	if (r)
		return ir_fail(b->e, r, "Conv '%s': bad dims", n->name);
	if (!w->cval)
		return ir_fail(b->e, INFER_E_UNSUPPORTED, "Conv '%s': weights must be constant",
			       n->name);
	dnnl_convolution_desc_t cd;
	dnnl_dims_t st = { n->a.conv.sh, n->a.conv.sw },
		    dl = { n->a.conv.dh - 1, n->a.conv.dw - 1 },
		    pl = { pp->pad[0], pp->pad[2] }, pr = { pp->pad[1], pp->pad[3] };
	if (dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_inference,
						       dnnl_convolution_direct, &src, &wany,
						       has_bias ? &bias : NULL, &dst, st, dl,
						       pl, pr))
		return ir_fail(b->e, INFER_E_BACKEND, "Conv '%s': oneDNN rejected the descriptor",
			       n->name);
	dnnl_primitive_attr_t attr;
	if (make_attr(b, n->a.conv.post, n->a.conv.n_post, n->a.conv.sum_at, &attr))
		return ir_fail(b->e, INFER_E_BACKEND, "Conv '%s': post-ops", n->name);
	dnnl_primitive_desc_t pd;
	dnnl_status_t s = dnnl_primitive_desc_create(&pd, &cd, attr, b->en->eng, NULL);
	dnnl_primitive_attr_destroy(attr);
	if (s)
		return ir_fail(b->e, INFER_E_BACKEND, "Conv '%s': no oneDNN implementation",
			       n->name);
	src = *dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
	dst = *dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
	if ((r = build_wino(b, n, pp, out, &src, &dst)) <= 0) {
		dnnl_primitive_desc_destroy(pd);
		return r;
	}
	const dnnl_memory_desc_t *wm = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
	const void *wdata;
	struct loc sloc;
	r = cached_weights(b->en, w->cval, &wsrc, wm, &wdata, b->e);
	r = r ? r : loc_in(b, n->in[0], &src, n, &sloc);
	/* output storage: the residual's, when it can accumulate in place */
	int res = n->a.conv.sum_in >= 0 ? n->in[n->a.conv.sum_in] : -1;
	dnnl_memory_desc_t rm;
	bool inplace = false;
	if (!r && res >= 0) {
		if (native_md(b, res, &rm))
			r = ir_fail(b->e, INFER_E_UNSUPPORTED,
				    "Conv '%s': residual is not a 4-D float tensor", n->name);
		int sid = b->v[res].storage;
		if (!r && sid >= 0 && !b->v[res].cval && !is_sig_input(b, sid) &&
		    b->srem[sid] == 1 && sloc.storage != sid &&
		    dnnl_memory_desc_equal(&rm, &dst)) {
			b->v[out].storage = sid;
			b->srem[sid] += b->vuses[out];
			if (b->v[res].md) {
				b->v[out].md = b->v[res].md;
				b->v[res].md = NULL; /* the residual is dead after this step */
			}
			inplace = true;
		}
	}
	if (!r && !inplace)
		r = out_storage(b, out, &dst);
	for (int k = 0; !r && k < n->n_in; k++)
		if (n->in[k] >= 0 && b->v[n->in[k]].storage >= 0)
			b->srem[b->v[n->in[k]].storage]--;
	struct loc oloc = loc_native(b, out);
	if (!r && res >= 0 && !inplace) {
		if (dnnl_memory_desc_equal(&rm, &dst)) {
			struct step *cs = new_step(b, STEP_COPY, n);
			if (!cs || !(cs->in_loc = calloc(1, sizeof(struct loc))) ||
			    !(cs->out_loc = calloc(1, sizeof(struct loc)))) {
				r = -ENOMEM;
			} else {
				cs->in_loc[0] = loc_native(b, res);
				cs->out_loc[0] = oloc;
				cs->n_in = cs->n_out = 1;
				cs->size = dnnl_memory_desc_get_size(&dst);
			}
		} else {
			r = emit_reorder(b, n, &rm, loc_native(b, res), &dst, oloc);
		}
	}
	struct step *stp = r ? NULL : new_step(b, STEP_DNNL, n);
	if (!r && !stp)
		r = -ENOMEM;
	if (!r) {
		r = add_arg(stp, DNNL_ARG_SRC, &src, sloc, false);
		r = r ? r : add_arg(stp, DNNL_ARG_WEIGHTS, wm, (struct loc){ -1, wdata }, false);
		if (!r && has_bias)
			r = add_arg(stp, DNNL_ARG_BIAS, &bias, loc_of(b, n->in[2]), false);
		r = r ? r : add_arg(stp, DNNL_ARG_DST, &dst, oloc, false);
		r = r ? r : finish_prim(b, stp, pd);
	}
	dnnl_primitive_desc_destroy(pd);
	return r;
}

/* Pooling reads its input in the producer's layout and writes the layout
 * oneDNN picks for that. */
static int build_pool(struct builder *b, const struct ir_node *n,
		      const struct ir_params *pp, int out)
{
	const struct vinfo *x = &b->v[n->in[0]];
	const struct ir_shape *os = &b->v[out].sh;
	int64_t N = x->sh.d[0], H = x->sh.d[1], W = x->sh.d[2], C = x->sh.d[3];
	dnnl_memory_desc_t src, dst;
	int64_t dd[4] = { N, C, os->d[1], os->d[2] };
	if (x->cval || native_md(b, n->in[0], &src) || dims_md(&dst, 4, dd, dnnl_format_tag_any))
		return ir_fail(b->e, INFER_E_BACKEND, "Pool '%s': bad dims", n->name);
	bool gl = n->a.pool.global;
	dnnl_dims_t st = { gl ? 1 : n->a.pool.sh, gl ? 1 : n->a.pool.sw },
		    k = { gl ? H : n->a.pool.kh, gl ? W : n->a.pool.kw }, dl = { 0, 0 },
		    pl = { pp->pad[0], pp->pad[2] }, pr = { pp->pad[1], pp->pad[3] };
	dnnl_alg_kind_t alg = n->a.pool.max ? dnnl_pooling_max :
			      n->a.pool.count_include_pad ? dnnl_pooling_avg_include_padding :
							     dnnl_pooling_avg_exclude_padding;
	dnnl_pooling_v2_desc_t pdsc;
	if (dnnl_pooling_v2_forward_desc_init(&pdsc, dnnl_forward_inference, alg, &src, &dst,
					      st, k, dl, pl, pr))
		return ir_fail(b->e, INFER_E_BACKEND, "Pool '%s': oneDNN rejected the descriptor",
			       n->name);
	dnnl_primitive_attr_t attr;
	if (make_attr(b, NULL, 0, -1, &attr))
		return INFER_E_BACKEND;
	dnnl_primitive_desc_t pd;
	dnnl_status_t s = dnnl_primitive_desc_create(&pd, &pdsc, attr, b->en->eng, NULL);
	dnnl_primitive_attr_destroy(attr);
	if (s)
		return ir_fail(b->e, INFER_E_BACKEND, "Pool '%s': no oneDNN implementation",
			       n->name);
	dst = *dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
	int r = out_storage(b, out, &dst);
	if (!r && x->storage >= 0)
		b->srem[x->storage]--;
	struct step *stp = r ? NULL : new_step(b, STEP_DNNL, n);
	r = r ? r : stp ? 0 : -ENOMEM;
	r = r ? r : add_arg(stp, DNNL_ARG_SRC, &src, loc_native(b, n->in[0]), false);
	r = r ? r : add_arg(stp, DNNL_ARG_DST, &dst, loc_native(b, out), false);
	r = r ? r : finish_prim(b, stp, pd);
	dnnl_primitive_desc_destroy(pd);
	return r;
}
/* Mean or max over H and W of a 4-D float tensor (a global pool) through
 * oneDNN pooling on the input's own layout; the result is reordered to
 * the plain output when oneDNN writes another layout.  Returns 1 when the
 * reduction is not of that form (the reference kernel runs it). */
static int build_global_pool(struct builder *b, const struct ir_node *n,
			     const struct ir_params *pp, int out)
{
	int xv = n->in[0];
	if (xv < 0 || b->v[xv].cval || b->v[xv].sh.rank != 4 || b->v[xv].dt != INFER_DT_FLOAT ||
	    (n->a.red.op != IR_RMEAN && n->a.red.op != IR_RMAX) ||
	    pp->mask[0] || !pp->mask[1] || !pp->mask[2] || pp->mask[3] ||
	    b->v[out].dt != INFER_DT_FLOAT)
		return 1;
	const struct ir_shape *xs = &b->v[xv].sh;
	int64_t N = xs->d[0], H = xs->d[1], W = xs->d[2], C = xs->d[3];
	if (H < 1 || W < 1 || ir_shape_elems(&b->v[out].sh) != N * C)
		return 1;
	dnnl_memory_desc_t src, dst, pm;
	int64_t dd[4] = { N, C, 1, 1 };
	if (native_md(b, xv, &src) || dims_md(&dst, 4, dd, dnnl_format_tag_any) ||
	    dims_md(&pm, 4, dd, dnnl_nhwc))
		return 1;
	dnnl_dims_t st = { 1, 1 }, k = { H, W }, dl = { 0, 0 }, pz = { 0, 0 };
	dnnl_pooling_v2_desc_t pdsc;
	if (dnnl_pooling_v2_forward_desc_init(&pdsc, dnnl_forward_inference,
					      n->a.red.op == IR_RMAX ? dnnl_pooling_max :
					      dnnl_pooling_avg_exclude_padding,
					      &src, &dst, st, k, dl, pz, pz))
		return 1;
	dnnl_primitive_attr_t attr;
	if (make_attr(b, NULL, 0, -1, &attr))
		return 1;
	dnnl_primitive_desc_t pd;
	dnnl_status_t s = dnnl_primitive_desc_create(&pd, &pdsc, attr, b->en->eng, NULL);
	dnnl_primitive_attr_destroy(attr);
	if (s)
		return 1;
	dst = *dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
	bool plain = dnnl_memory_desc_equal(&dst, &pm);
	int r = value_storage(b, out);
	int tmp = -1;
	if (!r && !plain && (tmp = add_storage(b, dnnl_memory_desc_get_size(&dst), COPY_REM)) < 0)
		r = tmp;
	if (!r && b->v[xv].storage >= 0)
		b->srem[b->v[xv].storage]--;
	struct loc oloc = plain ? loc_native(b, out) : (struct loc){ tmp, NULL };
	struct step *stp = r ? NULL : new_step(b, STEP_DNNL, n);
	r = r ? r : stp ? 0 : -ENOMEM;
	r = r ? r : add_arg(stp, DNNL_ARG_SRC, &src, loc_native(b, xv), false);
	r = r ? r : add_arg(stp, DNNL_ARG_DST, &dst, oloc, false);
	r = r ? r : finish_prim(b, stp, pd);
	dnnl_primitive_desc_destroy(pd);
	if (!r && !plain)
		r = emit_reorder(b, n, &dst, oloc, &pm, loc_native(b, out));
	return r;
}

/* 2-D matmul with constant B (and vector bias) through oneDNN; returns 1
 * when the case is not covered (the reference kernel runs it). */
static int build_matmul(struct builder *b, const struct ir_node *n, int out)
{
	const struct vinfo *a = &b->v[n->in[0]], *w = &b->v[n->in[1]];
	if (a->sh.rank != 2 || w->sh.rank != 2 || !w->cval || n->a.mm.alpha != 1)
		return 1;
	int64_t M = b->v[out].sh.d[0], N = b->v[out].sh.d[1];
	int64_t K = n->a.mm.ta ? a->sh.d[0] : a->sh.d[1];
	bool has_bias = n->n_in > 2 && n->in[2] >= 0;
	const struct ir_tensor *bt = has_bias ? b->v[n->in[2]].cval : NULL;
	if (has_bias && (!bt || ir_shape_elems(&bt->shape) != N ||
			 bt->shape.d[bt->shape.rank - 1] != N))
		return 1;
	struct ir_tensor *bias = NULL;
	if (bt) {
		struct ir_shape bs = { 2, { 1, N } };
		int r = ir_tensor_new(INFER_DT_FLOAT, &bs, &bias);
		if (r)
			return r;
		for (int64_t j = 0; j < N; j++)
			((float *)bias->data)[j] = n->a.mm.beta * ((const float *)bt->data)[j];
		if ((r = keep_const(b->p, bias))) {
			ir_tensor_unref(bias);
			return r;
		}
	}
	dnnl_memory_desc_t src, dst, wany, wsrc, bmd;
	int64_t sd[2] = { M, K }, wd[2] = { K, N }, dd[2] = { M, N }, bd[2] = { 1, N };
	int r = dims_md(&src, 2, sd, n->a.mm.ta ? dnnl_ba : dnnl_ab);
	r = r ? r : dims_md(&wany, 2, wd, dnnl_format_tag_any);
	r = r ? r : dims_md(&wsrc, 2, wd, n->a.mm.tb ? dnnl_ba : dnnl_ab);
	r = r ? r : dims_md(&dst, 2, dd, dnnl_ab);
	r = r ? r : dims_md(&bmd, 2, bd, dnnl_ab);
	if (r)
		return r;
	dnnl_matmul_desc_t md;
	if (dnnl_matmul_desc_init(&md, &src, &wany, bias ? &bmd : NULL, &dst))
		return 1;
	dnnl_primitive_attr_t attr;
	if (make_attr(b, n->a.mm.post, n->a.mm.n_post, -1, &attr))
		return 1;
	dnnl_primitive_desc_t pd;
	dnnl_status_t s = dnnl_primitive_desc_create(&pd, &md, attr, b->en->eng, NULL);
	dnnl_primitive_attr_destroy(attr);
	if (s)
		return 1;
	const dnnl_memory_desc_t *wm = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
	const void *wdata;
	r = cached_weights(b->en, w->cval, &wsrc, wm, &wdata, b->e);
	struct step *stp = r ? NULL : new_step(b, STEP_DNNL, n);
	if (!r && !stp)
		r = -ENOMEM;
	if (!r) {
		r = add_arg(stp, DNNL_ARG_SRC, &src, loc_of(b, n->in[0]), false);
		r = r ? r : add_arg(stp, DNNL_ARG_WEIGHTS, wm, (struct loc){ -1, wdata }, false);
		if (!r && bias)
			r = add_arg(stp, DNNL_ARG_BIAS, &bmd, (struct loc){ -1, bias->data }, false);
		r = r ? r : add_arg(stp, DNNL_ARG_DST, &dst, loc_of(b, out), false);
		r = r ? r : finish_prim(b, stp, pd);
	}
	dnnl_primitive_desc_destroy(pd);
	return r;
}

static int build_kernel(struct builder *b, const struct ir_node *n,
			const struct ir_params *pp)
{
	struct step *s = new_step(b, STEP_KERNEL, n);
	if (!s)
		return -ENOMEM;
	s->p = *pp;
	s->n_in = n->n_in;
	s->n_out = n->n_out;
	int ni = n->n_in ? n->n_in : 1, no = n->n_out ? n->n_out : 1;
	s->in_dt = calloc((size_t)ni, sizeof(*s->in_dt));
	s->in_sh = calloc((size_t)ni, sizeof(*s->in_sh));
	s->in_loc = calloc((size_t)ni, sizeof(*s->in_loc));
	s->out_dt = calloc((size_t)no, sizeof(*s->out_dt));
	s->out_sh = calloc((size_t)no, sizeof(*s->out_sh));
	s->out_loc = calloc((size_t)no, sizeof(*s->out_loc));
	if (!s->in_dt || !s->in_sh || !s->in_loc || !s->out_dt || !s->out_sh || !s->out_loc)
		return -ENOMEM;
	for (int k = 0; k < n->n_in; k++) {
		int v = n->in[k];
		s->in_loc[k] = loc_of(b, v);
		if (v >= 0) {
			s->in_dt[k] = b->v[v].dt;
			s->in_sh[k] = b->v[v].sh;
		}
	}
	for (int k = 0; k < n->n_out; k++) {
		int v = n->out[k];
		s->out_loc[k] = loc_of(b, v);
		s->out_dt[k] = b->v[v].dt;
		s->out_sh[k] = b->v[v].sh;
	}
	return 0;
}

static bool is_view(const struct ir_node *n, const struct ir_params *p,
		    const struct ir_shape *x)
{
	switch (n->op) {
	case IR_IDENTITY: case IR_RESHAPE: case IR_SQUEEZE: case IR_UNSQUEEZE:
	case IR_FLATTEN:
		return true;
	case IR_TRANSPOSE: {
		/* moves only size-1 dims: same bytes */
		int last = -1;
		for (int i = 0; i < x->rank; i++) {
			int64_t a = p->perm[i];
			if (x->d[a] == 1)
				continue;
			if (a < last)
				return false;
			last = (int)a;
		}
		return true;
	}
	default:
		return false;
	}
}

/* Topological order of the nodes the outputs need (iterative DFS). */
static int topo(const struct ir_graph *g, const struct ir_signature *s,
		int **ret, int *ret_n, struct ir_err *e)
{
	int *state = calloc((size_t)g->n_nodes + 1, sizeof(int));
	int *order = malloc(((size_t)g->n_nodes + 1) * sizeof(int));
	int *stack = malloc(((size_t)g->n_nodes + 1) * 2 * sizeof(int));
	bool *fed = calloc((size_t)g->n_values + 1, 1);
	int no = 0, r = 0;
	if (!state || !order || !stack || !fed) {
		r = -ENOMEM;
		goto out;
	}
	for (int i = 0; i < s->n_in; i++)
		fed[s->in[i].value] = true;
	for (int o = 0; o < s->n_out; o++) {
		int v = s->out[o].value;
		if (v < 0 || fed[v] || g->values[v].producer < 0)
			continue;
		int sp = 0;
		stack[sp++] = g->values[v].producer;
		stack[sp++] = 0;
		while (sp) {
			int ni = stack[sp - 2], k = stack[sp - 1];
			const struct ir_node *n = &g->nodes[ni];
			if (k == 0) {
				if (state[ni] == 2) {
					sp -= 2;
					continue;
				}
				state[ni] = 1;
			}
			if (k < n->n_in) {
				stack[sp - 1] = k + 1;
				int iv = n->in[k];
				if (iv < 0 || fed[iv])
					continue;
				int pn = g->values[iv].producer;
				if (pn < 0) {
					r = ir_fail(e, INFER_E_INVALID_MODEL,
						    "value '%s' has no producer",
						    g->values[iv].name ? g->values[iv].name : "?");
					goto out;
				}
				if (state[pn] == 1) {
					r = ir_fail(e, INFER_E_INVALID_MODEL,
						    "cycle through node '%s'", g->nodes[pn].name);
					goto out;
				}
				if (state[pn] == 0) {
					stack[sp++] = pn;
					stack[sp++] = 0;
				}
				continue;
			}
			state[ni] = 2;
			order[no++] = ni;
			sp -= 2;
		}
	}
	*ret = order;
	*ret_n = no;
	order = NULL;
out:
	free(state);
	free(order);
	free(stack);
	free(fed);
	return r;
}

static void mark_use(struct infer_plan *p, struct loc l, int step)
{
	if (l.storage < 0)
		return;
	struct storage *s = &p->st[l.storage];
	if (s->first < 0 || step < s->first)
		s->first = step;
	if (step > s->last)
		s->last = step;
}

static int plan_memory(struct infer_plan *p)
{
	/* lifetimes */
	for (int i = 0; i < p->n_in; i++)
		mark_use(p, p->in_loc[i], 0);
	for (int i = 0; i < p->n_steps; i++) {
		struct step *s = &p->steps[i];
		if (s->kind == STEP_DNNL) {
			for (int k = 0; k < s->nargs; k++)
				if (!s->args[k].scratch)
					mark_use(p, s->args[k].loc, i);
		} else {
			for (int k = 0; k < s->n_in; k++)
				mark_use(p, s->in_loc[k], i);
			for (int k = 0; k < s->n_out; k++)
				mark_use(p, s->out_loc[k], i);
		}
	}
	for (int i = 0; i < p->n_out; i++)
		mark_use(p, p->out_loc[i], p->n_steps);
	/* greedy placement, largest first */
	int *ord = malloc(((size_t)p->n_storage + 1) * sizeof(int));
	if (!ord)
		return -ENOMEM;
	for (int i = 0; i < p->n_storage; i++)
		ord[i] = i;
	for (int i = 1; i < p->n_storage; i++) {
		int t = ord[i], j = i;
		while (j > 0 && p->st[ord[j - 1]].size < p->st[t].size) {
			ord[j] = ord[j - 1];
			j--;
		}
		ord[j] = t;
	}
	size_t total = 0;
	for (int i = 0; i < p->n_storage; i++) {
		struct storage *s = &p->st[ord[i]];
		size_t sz = (s->size + ALIGN - 1) & ~(size_t)(ALIGN - 1);
		if (s->first < 0) {
			s->off = 0;
			continue;
		}
		size_t off = 0;
		bool moved = true;
		while (moved) {
			moved = false;
			for (int j = 0; j < i; j++) {
				const struct storage *o = &p->st[ord[j]];
				if (o->first < 0 || o->last < s->first || s->last < o->first)
					continue;
				size_t osz = (o->size + ALIGN - 1) & ~(size_t)(ALIGN - 1);
				if (off < o->off + osz && o->off < off + sz) {
					off = o->off + osz;
					moved = true;
				}
			}
		}
		s->off = off;
		if (off + sz > total)
			total = off + sz;
	}
	free(ord);
	p->scratch_off = total;
	p->arena_size = total + p->scratch_size + ALIGN;
	return 0;
}

static void *loc_ptr(const struct infer_plan *p, const struct arena *a, struct loc l)
{
	if (l.storage >= 0)
		return a->base + p->st[l.storage].off;
	return (void *)l.cptr;
}

static int make_arena(struct infer_plan *p, struct arena *a, struct ir_err *e)
{
	a->size = p->arena_size;
	a->base = alloc_prefault(a->size);
	if (!a->base)
		return -ENOMEM;
	if (dnnl_stream_create(&a->stream, p->en->eng, dnnl_stream_default_flags))
		return ir_fail(e, INFER_E_BACKEND, "oneDNN: cannot create a stream");
	a->exec = calloc((size_t)p->n_steps + 1, sizeof(*a->exec));
	int nm = 0;
	for (int i = 0; i < p->n_steps; i++)
		nm += p->steps[i].kind == STEP_DNNL ? p->steps[i].nargs : 0;
	a->mems = calloc((size_t)nm + 1, sizeof(*a->mems));
	if (!a->exec || !a->mems)
		return -ENOMEM;
	for (int i = 0; i < p->n_steps; i++) {
		const struct step *s = &p->steps[i];
		if (s->kind != STEP_DNNL)
			continue;
		a->exec[i] = calloc((size_t)s->nargs, sizeof(dnnl_exec_arg_t));
		if (!a->exec[i])
			return -ENOMEM;
		for (int k = 0; k < s->nargs; k++) {
			void *ptr = s->args[k].scratch ? a->base + p->scratch_off :
							 loc_ptr(p, a, s->args[k].loc);
			dnnl_memory_t m;
			if (dnnl_memory_create(&m, &s->args[k].md, p->en->eng, ptr))
				return ir_fail(e, INFER_E_BACKEND, "oneDNN: memory object");
			a->mems[a->n_mems++] = m;
			a->exec[i][k] = (dnnl_exec_arg_t){ s->args[k].arg, m };
		}
	}
	return 0;
}

void plan_free(struct infer_plan *p)
{
	if (!p)
		return;
	for (int i = 0; p->ar && i < p->n_arenas; i++) {
		struct arena *a = &p->ar[i];
		for (int k = 0; k < a->n_mems; k++)
			dnnl_memory_destroy(a->mems[k]);
		free(a->mems);
		if (a->exec)
			for (int s = 0; s < p->n_steps; s++)
				free(a->exec[s]);
		free(a->exec);
		if (a->stream)
			dnnl_stream_destroy(a->stream);
		free(a->base);
	}
	free(p->ar);
	for (int i = 0; i < p->n_steps; i++) {
		struct step *s = &p->steps[i];
		if (s->prim)
			dnnl_primitive_destroy(s->prim);
		free(s->args);
		free(s->wino);
		free(s->in_dt);
		free(s->in_sh);
		free(s->in_loc);
		free(s->out_dt);
		free(s->out_sh);
		free(s->out_loc);
	}
	free(p->steps);
	free(p->st);
	free(p->in_loc);
	free(p->out_loc);
	free(p->in_size);
	free(p->out_size);
	free(p->out_dt);
	free(p->out_sh);
	for (int i = 0; i < p->n_consts; i++)
		ir_tensor_unref(p->consts[i]);
	free(p->consts);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p);
}

static int value_storage(struct builder *b, int v)
{
	int64_t n = ir_shape_elems(&b->v[v].sh);
	size_t es = infer_dtype_size(b->v[v].dt);
	size_t bytes;
	if (n < 0 || !es || !cc_mul_ok((size_t)n, es, &bytes) || bytes > ((size_t)1 << 38))
		return ir_fail(b->e, INFER_E_LIMIT, "tensor too large");
	int s = add_storage(b, bytes, b->vuses[v]);
	if (s < 0)
		return s;
	b->v[v].storage = s;
	return 0;
}

static void free_vinfo(struct builder *b, int n)
{
	for (int i = 0; b->v && i < n; i++) {
		free(b->v[i].md);
		free(b->v[i].alt_md);
	}
}

int plan_build(struct infer_engine *en, struct ir_model *im,
	       const struct ir_signature *sig, const struct ir_shape *in_shapes,
	       int max_conc, size_t max_bytes, struct infer_plan **ret,
	       struct ir_err *e)
{
	size_t folded = 0;
	struct ir_graph *g = &im->g;
	struct infer_plan *p = calloc(1, sizeof(*p));
	struct builder b = { NULL, NULL, en, im, p, NULL, e, 0, 0, 0 };
	int *order = NULL, n_order = 0, r = 0;
	if (!p)
		return -ENOMEM;
	/* oneDNN's JIT kernels fix their thread count when the primitive
	 * descriptor is created (from omp_get_max_threads()) and pass it as
	 * num_threads at execution, so the engine's team size must be in force
	 * here, not only in plan_run. */
	omp_set_num_threads(en->threads);
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->en = en;
	b.v = calloc((size_t)g->n_values + 1, sizeof(*b.v));
	b.vuses = calloc((size_t)g->n_values + 1, sizeof(int));
	p->n_in = sig->n_in;
	p->n_out = sig->n_out;
	p->in_loc = calloc((size_t)sig->n_in + 1, sizeof(*p->in_loc));
	p->in_size = calloc((size_t)sig->n_in + 1, sizeof(*p->in_size));
	p->out_loc = calloc((size_t)sig->n_out + 1, sizeof(*p->out_loc));
	p->out_size = calloc((size_t)sig->n_out + 1, sizeof(*p->out_size));
	p->out_dt = calloc((size_t)sig->n_out + 1, sizeof(*p->out_dt));
	p->out_sh = calloc((size_t)sig->n_out + 1, sizeof(*p->out_sh));
	if (!b.v || !b.vuses || !p->in_loc || !p->in_size || !p->out_loc || !p->out_size ||
	    !p->out_dt || !p->out_sh) {
		r = -ENOMEM;
		goto fail;
	}
	for (int i = 0; i < g->n_values; i++) {
		b.v[i].storage = -1;
		b.v[i].plain = -1;
		b.v[i].alt = -1;
		b.v[i].cval = g->values[i].cval;
		if (b.v[i].cval) {
			b.v[i].dt = b.v[i].cval->dtype;
			b.v[i].sh = b.v[i].cval->shape;
		}
	}
	for (int i = 0; i < sig->n_in; i++) {
		int v = sig->in[i].value;
		b.v[v].dt = sig->in[i].dtype;
		b.v[v].sh = in_shapes[i];
		if ((r = value_storage(&b, v)))
			goto fail;
		p->in_loc[i] = loc_of(&b, v);
		p->in_size[i] = p->st[b.v[v].storage].size;
	}
	if ((r = topo(g, sig, &order, &n_order, e)))
		goto fail;
	/* consumers per value: nodes of the plan and the signature outputs */
	for (int oi = 0; oi < n_order; oi++) {
		const struct ir_node *n = &g->nodes[order[oi]];
		for (int k = 0; k < n->n_in; k++)
			if (n->in[k] >= 0)
				b.vuses[n->in[k]]++;
	}
	for (int i = 0; i < sig->n_out; i++)
		b.vuses[sig->out[i].value]++;
	for (int i = 0; i < sig->n_in; i++) /* inputs got storage earlier */
		b.srem[b.v[sig->in[i].value].storage] += b.vuses[sig->in[i].value];
	for (int oi = 0; oi < n_order; oi++) {
		const struct ir_node *n = &g->nodes[order[oi]];
		if (n->op == IR_CONST || n->op == IR_INPUT) {
			if (n->op == IR_INPUT && b.v[n->out[0]].storage < 0) {
				r = ir_fail(e, INFER_E_INVALID_MODEL, "input '%s' is not fed",
					    n->name);
				goto fail;
			}
			continue;
		}
		enum infer_dtype idt[IR_MAX_INPUTS > 64 ? 64 : IR_MAX_INPUTS];
		struct ir_shape ish[64];
		const struct ir_tensor *ic[64];
		const void *idata[64];
		enum infer_dtype odt[64];
		struct ir_shape osh[64];
		if (n->n_in > 64 || n->n_out > 64) {
			r = ir_fail(e, INFER_E_UNSUPPORTED, "node '%s': too many inputs", n->name);
			goto fail;
		}
		bool all_const = true;
		for (int k = 0; k < n->n_in; k++) {
			int v = n->in[k];
			if (v < 0) {
				idt[k] = INFER_DT_INVALID;
				ish[k] = (struct ir_shape){ 0 };
				ic[k] = NULL;
				idata[k] = NULL;
				continue;
			}
			idt[k] = b.v[v].dt;
			ish[k] = b.v[v].sh;
			ic[k] = b.v[v].cval;
			idata[k] = ic[k] ? ic[k]->data : NULL;
			if (!ic[k])
				all_const = false;
		}
		struct ir_params pp;
		r = ir_infer_node(n, idt, ish, ic, odt, osh, &pp, e);
		if (r)
			goto fail;
		for (int k = 0; k < n->n_out; k++) {
			b.v[n->out[k]].dt = odt[k];
			b.v[n->out[k]].sh = osh[k];
			if (ir_shape_elems(&osh[k]) < 0) {
				r = ir_fail(e, INFER_E_LIMIT, "node '%s': output too large",
					    n->name);
				goto fail;
			}
		}
		if (n->op == IR_SHAPE) {
			all_const = true;
			idata[0] = NULL;
		}
		if (all_const) {
			/* fold now */
			struct ir_tensor *ot[64];
			void *od[64];
			for (int k = 0; k < n->n_out; k++) {
				size_t fb = (size_t)ir_shape_elems(&osh[k]) * infer_dtype_size(odt[k]);
				if (fb > max_bytes - folded) {
					r = ir_fail(e, INFER_E_LIMIT,
						    "node '%s': constant of %zu bytes above the plan budget",
						    n->name, fb);
					goto fail;
				}
				folded += fb;
				r = ir_tensor_new(odt[k], &osh[k], &ot[k]);
				if (!r && (r = keep_const(p, ot[k])))
					ir_tensor_unref(ot[k]);
				if (r) {
					ir_fail(e, r, "node '%s': cannot fold", n->name);
					goto fail;
				}
				od[k] = ot[k]->data;
				b.v[n->out[k]].cval = ot[k];
			}
			r = ir_kernel_run(n, &pp, idt, ish, idata, odt, osh, od);
			if (r) {
				ir_fail(e, r, "node '%s' (%s): cannot evaluate", n->name, n->type);
				goto fail;
			}
			continue;
		}
		/* oneDNN convolutions and pooling take their inputs in the
		 * layout oneDNN chose; everything else reads plain tensors */
		if (n->op == IR_CONV && b.v[n->in[1]].cval) {
			if ((r = build_conv(&b, n, &pp, n->out[0])))
				goto fail;
			continue;
		}
		if (n->op == IR_POOL) {
			if ((r = build_pool(&b, n, &pp, n->out[0])))
				goto fail;
			continue;
		}
		if (n->op == IR_REDUCE && n->n_out == 1) {
			r = build_global_pool(&b, n, &pp, n->out[0]);
			if (r < 0 || (r > 1))
				goto fail;
			if (r == 0)
				continue;
		}
		/* NCHW -> NHWC transpose (ONNX graph inputs): no copy, the
		 * result is the same bytes in oneDNN's nchw layout */
		if (n->op == IR_TRANSPOSE && n->in[0] >= 0 && !b.v[n->in[0]].cval &&
		    !b.v[n->in[0]].md && ish[0].rank == 4 && idt[0] == INFER_DT_FLOAT &&
		    pp.perm[0] == 0 && pp.perm[1] == 2 && pp.perm[2] == 3 && pp.perm[3] == 1) {
			int sid = b.v[n->in[0]].storage, ov = n->out[0];
			int64_t d[4] = { osh[0].d[0], osh[0].d[3], osh[0].d[1], osh[0].d[2] };
			b.v[ov].md = malloc(sizeof(*b.v[ov].md));
			if (!b.v[ov].md || dims_md(b.v[ov].md, 4, d, dnnl_nchw)) {
				r = b.v[ov].md ? ir_fail(e, INFER_E_BACKEND, "'%s': bad dims", n->name) :
						 -ENOMEM;
				goto fail;
			}
			b.v[ov].storage = sid;
			b.srem[sid] += b.vuses[ov] - 1;
			continue;
		}
		for (int k = 0; k < n->n_in; k++)
			if ((r = want_plain(&b, n->in[k], n)))
				goto fail;
		if (is_view(n, &pp, &ish[0]) && n->in[0] >= 0 && !b.v[n->in[0]].cval) {
			int sid = loc_of(&b, n->in[0]).storage;
			b.v[n->out[0]].storage = sid;
			b.srem[sid] += b.vuses[n->out[0]] - 1;
			continue;
		}
		/* the residual of a conv run by the reference kernel
		 * accumulates in place when nothing else reads it later */
		bool inplace = false;
		if (n->op == IR_CONV && n->a.conv.sum_in >= 0) {
			int res = n->in[n->a.conv.sum_in];
			int sid = b.v[res].storage;
			if (sid >= 0 && !b.v[res].cval && !b.v[res].md && !is_sig_input(&b, sid) &&
			    b.srem[sid] == 1 && loc_of(&b, n->in[0]).storage != sid) {
				b.v[n->out[0]].storage = sid;
				b.srem[sid] += b.vuses[n->out[0]];
				inplace = true;
			}
		}
		for (int k = 0; k < n->n_out; k++)
			if (!inplace && (r = value_storage(&b, n->out[k])))
				goto fail;
		for (int k = 0; k < n->n_in; k++)
			if (n->in[k] >= 0 && b.v[n->in[k]].storage >= 0)
				b.srem[b.v[n->in[k]].storage]--;
		if (n->op == IR_CONV && n->a.conv.sum_in >= 0 && !inplace) {
			int res = n->in[n->a.conv.sum_in];
			struct step *cs = new_step(&b, STEP_COPY, n);
			if (!cs) {
				r = -ENOMEM;
				goto fail;
			}
			cs->in_loc = calloc(1, sizeof(struct loc));
			cs->out_loc = calloc(1, sizeof(struct loc));
			if (!cs->in_loc || !cs->out_loc) {
				r = -ENOMEM;
				goto fail;
			}
			cs->in_loc[0] = loc_of(&b, res);
			cs->out_loc[0] = loc_of(&b, n->out[0]);
			cs->n_in = cs->n_out = 1;
			cs->size = p->st[b.v[n->out[0]].storage].size;
		}
		if (n->op == IR_MATMUL) {
			r = build_matmul(&b, n, n->out[0]);
			if (r == 1)
				r = build_kernel(&b, n, &pp);
		} else
			r = build_kernel(&b, n, &pp);
		if (r)
			goto fail;
	}
	/* graph outputs leave in the plain layout */
	for (int i = 0; i < sig->n_out; i++) {
		int v = sig->out[i].value;
		if (b.v[v].md && (r = want_plain(&b, v, &g->nodes[g->values[v].producer])))
			goto fail;
	}
	for (int i = 0; i < sig->n_out; i++) {
		int v = sig->out[i].value;
		p->out_loc[i] = loc_of(&b, v);
		p->out_dt[i] = b.v[v].dt;
		p->out_sh[i] = b.v[v].sh;
		p->out_size[i] = (size_t)ir_shape_elems(&b.v[v].sh) * infer_dtype_size(b.v[v].dt);
		if (p->out_loc[i].storage < 0 && !p->out_loc[i].cptr) {
			r = ir_fail(e, INFER_E_INVALID_MODEL, "output '%s' is not computed",
				    sig->out[i].key);
			goto fail;
		}
	}
	p->scratch_size = b.scratch;
	if ((r = plan_memory(p)))
		goto fail;
	int n_reorder = 0, n_w4 = 0, n_w2 = 0;
	for (int i = 0; i < p->n_steps; i++) {
		n_reorder += p->steps[i].reorder;
		if (p->steps[i].kind == STEP_WINO)
			*(p->steps[i].wino->m == 2 ? &n_w2 : &n_w4) += 1;
	}
	cc_log(CC_LOG_DEBUG, "infer",
	       "plan: %d steps (%d layout reorders; Winograd: %d F(4x4), %d F(2x2)), "
	       "%zu bytes per run", p->n_steps, n_reorder, n_w4, n_w2, p->arena_size);
	p->n_arenas = max_conc > 0 ? max_conc : 1;
	if (p->arena_size > (max_bytes - folded) / (size_t)p->n_arenas) {
		r = ir_fail(e, INFER_E_LIMIT, "plan needs %zu bytes per run, above the budget",
			    p->arena_size);
		goto fail;
	}
	p->ar = calloc((size_t)p->n_arenas, sizeof(*p->ar));
	if (!p->ar) {
		r = -ENOMEM;
		goto fail;
	}
	for (int i = 0; i < p->n_arenas; i++)
		if ((r = make_arena(p, &p->ar[i], e)))
			goto fail;
	free(order);
	free_vinfo(&b, g->n_values);
	free(b.v);
	free(b.vuses);
	free(b.srem);
	*ret = p;
	return 0;
fail:
	free(order);
	free_vinfo(&b, g->n_values);
	free(b.v);
	free(b.vuses);
	free(b.srem);
	plan_free(p);
	return r;
}

void plan_output(const struct infer_plan *p, int i, enum infer_dtype *dt,
		 struct ir_shape *sh)
{
	*dt = p->out_dt[i];
	*sh = p->out_sh[i];
}

/* Runs step i of p on arena a. */
static int run_step(struct infer_plan *p, struct arena *a, int i, struct ir_err *e)
{
	struct step *s = &p->steps[i];
	if (s->kind == STEP_DNNL) {
		if (dnnl_primitive_execute(s->prim, a->stream, s->nargs, a->exec[i]))
			return ir_fail(e, INFER_E_BACKEND, "oneDNN failed on '%s'", s->node->name);
		return 0;
	}
	if (s->kind == STEP_WINO) {
		wino_run(s->wino, loc_ptr(p, a, s->in_loc[0]), loc_ptr(p, a, s->out_loc[0]),
			 a->base + p->scratch_off, p->en->threads);
		return 0;
	}
	if (s->kind == STEP_COPY) {
		void *d = loc_ptr(p, a, s->out_loc[0]);
		const void *src = loc_ptr(p, a, s->in_loc[0]);
		if (d != src && s->size)
			memcpy(d, src, s->size);
		return 0;
	}
	const void *in[64];
	void *out[64];
	for (int k = 0; k < s->n_in; k++)
		in[k] = s->in_loc[k].storage >= 0 || s->in_loc[k].cptr ?
			loc_ptr(p, a, s->in_loc[k]) : NULL;
	for (int k = 0; k < s->n_out; k++)
		out[k] = loc_ptr(p, a, s->out_loc[k]);
	int r = ir_kernel_run(s->node, &s->p, s->in_dt, s->in_sh, in, s->out_dt, s->out_sh,
			      out);
	if (r)
		return ir_fail(e, r, "'%s' (%s) failed: %s", s->node->name, s->node->type,
			       r == INFER_E_BAD_INPUT ? "index out of range" : infer_strerror(r));
	return 0;
}

static int run_steps(struct infer_plan *p, struct arena *a, struct ir_err *e)
{
	for (int i = 0; i < p->n_steps; i++) {
		int r = run_step(p, a, i, e);
		if (r)
			return r;
	}
	return 0;
}

int plan_run(struct infer_plan *p, const void *const *in_data,
	     void *const *out_data, struct ir_err *e)
{
	pthread_mutex_lock(&p->lock);
	struct arena *a = NULL;
	for (;;) {
		for (int i = 0; i < p->n_arenas; i++)
			if (!p->ar[i].busy) {
				a = &p->ar[i];
				break;
			}
		if (a)
			break;
		pthread_cond_wait(&p->cond, &p->lock);
	}
	a->busy = true;
	pthread_mutex_unlock(&p->lock);

	omp_set_num_threads(p->en->threads);
	for (int i = 0; i < p->n_in; i++)
		if (p->in_size[i])
			memcpy(loc_ptr(p, a, p->in_loc[i]), in_data[i], p->in_size[i]);
	int r = run_steps(p, a, e);
	if (!r && a->stream && dnnl_stream_wait(a->stream))
		r = ir_fail(e, INFER_E_BACKEND, "oneDNN stream failed");
	if (!r)
		for (int i = 0; i < p->n_out; i++)
			if (out_data[i] && p->out_size[i])
				memcpy(out_data[i], loc_ptr(p, a, p->out_loc[i]),
				       p->out_size[i]);

	pthread_mutex_lock(&p->lock);
	a->busy = false;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	return r;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int plan_profile(struct infer_plan *p, int iterations, double *conv_ms,
		 double *steps_ms, int *n_conv, struct ir_err *e)
{
	if (iterations < 1 || iterations > 100000)
		return ir_fail(e, INFER_E_LIMIT, "bad iteration count");
	double *t = calloc((size_t)iterations, sizeof(double));
	if (!t)
		return -ENOMEM;
	pthread_mutex_lock(&p->lock);
	while (p->ar[0].busy)
		pthread_cond_wait(&p->cond, &p->lock);
	struct arena *a = &p->ar[0];
	a->busy = true;
	pthread_mutex_unlock(&p->lock);
	omp_set_num_threads(p->en->threads);
	int r = run_steps(p, a, e); /* warm: buffers hold plausible values */
	/* in sequence: each step timed inside whole runs too (caches hold what
	 * the previous steps left, as in a real run, not this step's data) */
	double *seq = calloc((size_t)p->n_steps * (size_t)iterations + 1, sizeof(double));
	if (!r && !seq)
		r = -ENOMEM;
	for (int k = 0; !r && k < iterations; k++)
		for (int i = 0; !r && i < p->n_steps; i++) {
			uint64_t t0 = cc_mono_ns();
			r = run_step(p, a, i, e);
			if (!r && p->steps[i].kind == STEP_DNNL && dnnl_stream_wait(a->stream))
				r = ir_fail(e, INFER_E_BACKEND, "oneDNN failed on '%s'",
					    p->steps[i].node->name);
			seq[(size_t)i * (size_t)iterations + (size_t)k] =
				(double)(cc_mono_ns() - t0) / 1e6;
		}
	double conv = 0, all = 0, seq_all = 0;
	int nc = 0;
	for (int i = 0; !r && i < p->n_steps; i++) {
		struct step *s = &p->steps[i];
		for (int k = 0; k < iterations && !r; k++) {
			uint64_t t0 = cc_mono_ns();
			r = run_step(p, a, i, e);
			if (!r && s->kind == STEP_DNNL && dnnl_stream_wait(a->stream))
				r = ir_fail(e, INFER_E_BACKEND, "oneDNN failed on '%s'", s->node->name);
			t[k] = (double)(cc_mono_ns() - t0) / 1e6;
		}
		qsort(t, (size_t)iterations, sizeof(double), cmp_dbl);
		double med = t[iterations / 2];
		all += med;
		if ((s->kind == STEP_DNNL || s->kind == STEP_WINO) && !s->reorder &&
		    s->node->op == IR_CONV) {
			conv += med;
			nc++;
		}
		double *sq = seq + (size_t)i * (size_t)iterations;
		qsort(sq, (size_t)iterations, sizeof(double), cmp_dbl);
		double sm = sq[iterations / 2];
		seq_all += sm;
		cc_log(CC_LOG_DEBUG, "infer", "step %d %s%s%s '%s': %.3f ms alone, %.3f ms in sequence",
		       i, s->reorder ? "reorder before " : "", ir_op_name(s->node->op),
		       s->kind != STEP_WINO ? "" : s->wino->m == 2 ? " (winograd 2x2)" :
		       " (winograd 4x4)", s->node->name, med, sm);
	}
	pthread_mutex_lock(&p->lock);
	a->busy = false;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	free(t);
	free(seq);
	if (r)
		return r;
	cc_log(CC_LOG_DEBUG, "infer", "steps: %.3f ms alone, %.3f ms in sequence", all, seq_all);
	*conv_ms = conv;
	*steps_ms = all;
	*n_conv = nc;
	return 0;
}
