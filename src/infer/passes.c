/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Load-time graph optimisation:
 *  - identities removed (uses rewired to the source value);
 *  - BatchNorm after a conv folded into its weights and bias;
 *  - per-channel constant adds (BiasAdd) and multiplies folded into conv /
 *    matmul weights and bias;
 *  - activations after a conv or matmul become oneDNN eltwise post-ops;
 *  - a residual Add of a conv output and another tensor of the same shape
 *    becomes a oneDNN sum post-op (accumulating into the conv's output);
 *  - a zero Pad before a conv, or before a max pool of a non-negative
 *    tensor (after a ReLU), becomes the op's own padding.
 * A value that is a signature input or output (pinned) is never fused away.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int set_inputs(struct ir_node *n, const int *in, int n_in)
{
	int *ni = calloc((size_t)n_in, sizeof(int));
	if (!ni)
		return -ENOMEM;
	memcpy(ni, in, (size_t)n_in * sizeof(int));
	free(n->in);
	n->in = ni;
	n->n_in = n_in;
	return 0;
}

/* Replace every use of value from by value to. */
static void rewire(struct ir_graph *g, int from, int to)
{
	for (int i = 0; i < g->n_nodes; i++) {
		struct ir_node *n = &g->nodes[i];
		if (n->dead)
			continue;
		for (int k = 0; k < n->n_in; k++)
			if (n->in[k] == from)
				n->in[k] = to;
	}
}

/* The only live consumer of v, or -1. */
static int sole_consumer(const struct ir_graph *g, const int *cons, int v)
{
	if (g->values[v].uses != 1 || g->values[v].pinned)
		return -1;
	return cons[v];
}

/* Per-channel constant of exactly c floats broadcasting along the last
 * axis (shape [c], [1,..,1,c]). */
static const float *chan_const(const struct ir_graph *g, int v, int64_t c)
{
	if (v < 0)
		return NULL;
	const struct ir_tensor *t = g->values[v].cval;
	if (!t || t->dtype != INFER_DT_FLOAT || t->shape.rank < 1 ||
	    ir_shape_elems(&t->shape) != c || t->shape.d[t->shape.rank - 1] != c)
		return NULL;
	return t->data;
}

/* Makes the conv's weights and bias private copies (they may be shared). */
static int own_params(struct ir_graph *g, int ni, int64_t oc, float **w,
		      float **b)
{
	struct ir_node *n = &g->nodes[ni];
	struct ir_tensor *wt = g->values[n->in[1]].cval, *nw, *nb;
	int r = ir_tensor_new(INFER_DT_FLOAT, &wt->shape, &nw);
	if (r)
		return r;
	memcpy(nw->data, wt->data, wt->size);
	struct ir_shape bs = { 1, { oc } };
	r = ir_tensor_new(INFER_DT_FLOAT, &bs, &nb);
	if (r) {
		ir_tensor_unref(nw);
		return r;
	}
	if (n->n_in > 2 && n->in[2] >= 0) {
		const float *ob = chan_const(g, n->in[2], oc);
		if (!ob) {
			ir_tensor_unref(nw);
			ir_tensor_unref(nb);
			return 1; /* non-constant bias: cannot fold */
		}
		memcpy(nb->data, ob, (size_t)oc * sizeof(float));
	}
	int wv = ir_add_const(g, g->values[n->in[1]].name, nw);
	int bv = wv >= 0 ? ir_add_const(g, "bias", nb) : wv;
	ir_tensor_unref(nw);
	ir_tensor_unref(nb);
	if (bv < 0)
		return bv;
	n = &g->nodes[ni]; /* adding constants may move the node array */
	int in[4] = { n->in[0], wv, bv, n->n_in > 3 ? n->in[3] : -1 };
	r = set_inputs(n, in, n->n_in > 3 ? 4 : 3);
	if (r)
		return r;
	/* a CONST node was added: g->nodes may have moved; caller re-fetches */
	*w = g->values[wv].cval->data;
	*b = g->values[bv].cval->data;
	return 0;
}

/* consumer of each value (the last one seen; used with uses == 1) */
static int build_cons(struct ir_graph *g, int **cons)
{
	free(*cons);
	*cons = malloc((size_t)(g->n_values ? g->n_values : 1) * sizeof(int));
	if (!*cons)
		return -ENOMEM;
	for (int i = 0; i < g->n_values; i++)
		(*cons)[i] = -1;
	for (int i = 0; i < g->n_nodes; i++) {
		const struct ir_node *q = &g->nodes[i];
		if (q->dead)
			continue;
		for (int k = 0; k < q->n_in; k++)
			if (q->in[k] >= 0)
				(*cons)[q->in[k]] = i;
	}
	ir_count_uses(g);
	return 0;
}

static bool act_fusable(enum ir_unop u)
{
	switch (u) {
	case IR_RELU: case IR_RELU6: case IR_CLIP: case IR_ELU:
	case IR_LEAKY_RELU: case IR_SIGMOID: case IR_TANH: case IR_HARD_SWISH:
	case IR_SILU: case IR_GELU: case IR_SQRT:
	case IR_ABS: case IR_EXP: case IR_LOG: case IR_SQUARE: case IR_SOFTPLUS:
		return true;
	default:
		return false;
	}
}

static int fuse_conv(struct ir_graph *g, int ni, int **consp)
{
	for (int guard = 0; guard < 16; guard++) {
		struct ir_node *n = &g->nodes[ni];
		int v = n->out[0];
		int ci = sole_consumer(g, *consp, v);
		if (ci < 0)
			return 0;
		struct ir_node *c = &g->nodes[ci];
		if (c->dead)
			return 0;
		struct ir_tensor *wt = g->values[n->in[1]].cval;
		int64_t oc = wt ? wt->shape.d[0] : -1;
		bool clean = n->a.conv.n_post == 0 && n->a.conv.sum_at < 0;
		int r;
		if (c->op == IR_BATCHNORM && c->in[0] == v && clean && wt) {
			const float *sc = chan_const(g, c->in[1], oc),
				    *of = chan_const(g, c->in[2], oc),
				    *mu = chan_const(g, c->in[3], oc),
				    *va = chan_const(g, c->in[4], oc);
			if (!sc || !of || !mu || !va)
				return 0;
			float eps = c->a.bn.eps;
			float *w, *b;
			float *scale = malloc((size_t)oc * 2 * sizeof(float));
			if (!scale)
				return -ENOMEM;
			for (int64_t o = 0; o < oc; o++) {
				scale[o] = sc[o] / sqrtf(va[o] + eps);
				scale[oc + o] = of[o] - mu[o] * scale[o];
			}
			r = own_params(g, ni, oc, &w, &b);
			if (r) {
				free(scale);
				return r > 0 ? 0 : r;
			}
			n = &g->nodes[ni];
			c = &g->nodes[ci];
			int64_t per = ir_shape_elems(&wt->shape) / oc;
			for (int64_t o = 0; o < oc; o++) {
				for (int64_t k = 0; k < per; k++)
					w[o * per + k] *= scale[o];
				b[o] = b[o] * scale[o] + scale[oc + o];
			}
			free(scale);
		} else if (c->op == IR_BINARY && clean && wt &&
			   (c->a.bin.op == IR_ADD || c->a.bin.op == IR_SUB ||
			    c->a.bin.op == IR_MUL) &&
			   c->in[0] == v && chan_const(g, c->in[1], oc)) {
			const float *k = chan_const(g, c->in[1], oc);
			float *w, *b;
			float *kc = malloc((size_t)oc * sizeof(float));
			if (!kc)
				return -ENOMEM;
			memcpy(kc, k, (size_t)oc * sizeof(float));
			enum ir_binop bo = c->a.bin.op;
			r = own_params(g, ni, oc, &w, &b);
			if (r) {
				free(kc);
				return r > 0 ? 0 : r;
			}
			n = &g->nodes[ni];
			c = &g->nodes[ci];
			int64_t per = ir_shape_elems(&wt->shape) / oc;
			for (int64_t o = 0; o < oc; o++) {
				if (bo == IR_ADD)
					b[o] += kc[o];
				else if (bo == IR_SUB)
					b[o] -= kc[o];
				else {
					b[o] *= kc[o];
					for (int64_t q = 0; q < per; q++)
						w[o * per + q] *= kc[o];
				}
			}
			free(kc);
		} else if (c->op == IR_BINARY && c->a.bin.op == IR_ADD &&
			   n->a.conv.sum_at < 0 && c->in[0] != c->in[1] &&
			   !g->values[c->in[c->in[0] == v ? 1 : 0]].cval &&
			   n->a.conv.n_post < IR_MAX_POST) {
			/* residual: shapes are checked at plan time (the
			 * conv reports a mismatch there) */
			int other = c->in[c->in[0] == v ? 1 : 0];
			int in[4] = { n->in[0], n->in[1], n->n_in > 2 ? n->in[2] : -1, other };
			if ((r = set_inputs(n, in, 4)))
				return r;
			n->a.conv.sum_at = n->a.conv.n_post;
			n->a.conv.sum_in = 3;
		} else if (c->op == IR_UNARY && act_fusable(c->a.un.op) &&
			   n->a.conv.n_post < IR_MAX_POST) {
			n->a.conv.post[n->a.conv.n_post++] = c->a.un;
		} else {
			return 0;
		}
		/* the conv now produces c's output */
		int cout = c->out[0];
		c->dead = true;
		g->values[v].producer = -1;
		n->out[0] = cout;
		g->values[cout].producer = ni;
		if ((r = build_cons(g, consp)))
			return r;
	}
	return 0;
}

static int fuse_matmul(struct ir_graph *g, int ni, int **consp)
{
	for (int guard = 0; guard < 8; guard++) {
		struct ir_node *n = &g->nodes[ni];
		int v = n->out[0];
		int ci = sole_consumer(g, *consp, v);
		if (ci < 0)
			return 0;
		struct ir_node *c = &g->nodes[ci];
		const struct ir_tensor *bt = g->values[n->in[1]].cval;
		if (!bt || bt->shape.rank != 2)
			return 0;
		int64_t nn = n->a.mm.tb ? bt->shape.d[0] : bt->shape.d[1];
		if (c->op == IR_BINARY && c->a.bin.op == IR_ADD && c->in[0] == v &&
		    n->a.mm.n_post == 0 && n->a.mm.alpha == 1 &&
		    (n->n_in < 3 || n->in[2] < 0) && chan_const(g, c->in[1], nn)) {
			int in[3] = { n->in[0], n->in[1], c->in[1] };
			int r = set_inputs(n, in, 3);
			if (r)
				return r;
			n->a.mm.beta = 1;
		} else if (c->op == IR_UNARY && act_fusable(c->a.un.op) &&
			   n->a.mm.n_post < IR_MAX_POST) {
			n->a.mm.post[n->a.mm.n_post++] = c->a.un;
		} else {
			return 0;
		}
		int cout = c->out[0];
		c->dead = true;
		g->values[v].producer = -1;
		n->out[0] = cout;
		g->values[cout].producer = ni;
		int r = build_cons(g, consp);
		if (r)
			return r;
	}
	return 0;
}

/* A constant zero Pad of only the spatial dims (H, W) of an NHWC tensor:
 * fills the pads before (b) and after (a) each dim. */
static bool zero_pad_hw(const struct ir_graph *g, const struct ir_node *pn,
			int64_t b[4], int64_t a[4])
{
	if (pn->dead || pn->op != IR_PAD || pn->a.pad.mode != IR_PAD_CONSTANT ||
	    pn->a.pad.value != 0 || pn->n_in < 2 || pn->a.pad.n_pads)
		return false;
	if (pn->n_in > 2 && pn->in[2] >= 0) {
		const struct ir_tensor *vt = g->values[pn->in[2]].cval;
		if (!vt || ir_shape_elems(&vt->shape) != 1 || ir_tensor_getf(vt, 0) != 0)
			return false;
	}
	const struct ir_tensor *pt = pn->in[1] >= 0 ? g->values[pn->in[1]].cval : NULL;
	if (!pt || !ir_dtype_is_int(pt->dtype) || ir_shape_elems(&pt->shape) != 8)
		return false;
	for (int d = 0; d < 4; d++) {
		if (pt->shape.rank == 2) {
			b[d] = ir_tensor_geti(pt, 2 * d);
			a[d] = ir_tensor_geti(pt, 2 * d + 1);
		} else {
			b[d] = ir_tensor_geti(pt, d);
			a[d] = ir_tensor_geti(pt, 4 + d);
		}
	}
	return !(b[0] || a[0] || b[3] || a[3] || b[1] < 0 || a[1] < 0 || b[2] < 0 ||
		 a[2] < 0 || b[1] > 65536 || a[1] > 65536 || b[2] > 65536 || a[2] > 65536);
}

/* The zero Pad of H and W (amounts in b, a) that produces node i's first
 * input and feeds nothing else, or NULL. */
static struct ir_node *pad_feeding(struct ir_graph *g, const int *cons, int i, int64_t b[4],
				   int64_t a[4])
{
	int pv = g->nodes[i].in[0];
	int pi = g->values[pv].producer;
	if (pi < 0 || sole_consumer(g, cons, pv) != i)
		return NULL;
	struct ir_node *pn = &g->nodes[pi];
	return zero_pad_hw(g, pn, b, a) ? pn : NULL;
}

/* Adds the H and W amounts of a Pad (NHWC b, a) to explicit pads t, b, l, r. */
static void add_hw_pad(int64_t pad[4], const int64_t b[4], const int64_t a[4])
{
	pad[0] += b[1];
	pad[1] += a[1];
	pad[2] += b[2];
	pad[3] += a[2];
}

/* Zero Pad of the spatial dims of an NHWC tensor feeding only a conv
 * becomes the conv's explicit padding. */
static void fold_pad_into_conv(struct ir_graph *g, const int *cons)
{
	for (int i = 0; i < g->n_nodes; i++) {
		struct ir_node *c = &g->nodes[i];
		if (c->dead || c->op != IR_CONV || c->n_in < 2 || c->in[0] < 0 ||
		    (c->a.conv.padding != IR_PADDING_VALID &&
		     c->a.conv.padding != IR_PADDING_EXPLICIT))
			continue;
		int64_t b[4], a[4];
		struct ir_node *pn = pad_feeding(g, cons, i, b, a);
		if (!pn)
			continue;
		if (c->a.conv.padding == IR_PADDING_VALID)
			memset(c->a.conv.pad, 0, sizeof(c->a.conv.pad));
		add_hw_pad(c->a.conv.pad, b, a);
		c->a.conv.padding = IR_PADDING_EXPLICIT;
		c->in[0] = pn->in[0];
		pn->dead = true;
	}
}

/* Whether every element of v is >= 0 by construction: the output of a
 * ReLU / ReLU6 / Clip(lo >= 0), alone or as a conv's last post-op (after
 * its residual sum). */
static bool non_negative(const struct ir_graph *g, int v)
{
	int pi = g->values[v].producer;
	if (pi < 0)
		return false;
	const struct ir_node *n = &g->nodes[pi];
	const struct ir_act *act = NULL;
	if (n->dead)
		return false;
	if (n->op == IR_UNARY)
		act = &n->a.un;
	else if (n->op == IR_CONV && n->a.conv.n_post > 0 &&
		 n->a.conv.sum_at < n->a.conv.n_post)
		act = &n->a.conv.post[n->a.conv.n_post - 1];
	else
		return false;
	return (act->op == IR_RELU && act->alpha == 0) || act->op == IR_RELU6 ||
	       (act->op == IR_CLIP && act->alpha >= 0);
}

/* Zero Pad feeding only a max pool whose input cannot be negative: the
 * zeros never win over a window's real elements, so the pool's own
 * padding (which oneDNN ignores in the max) gives the same result; kept
 * only while every window still overlaps the input. */
static void fold_pad_into_maxpool(struct ir_graph *g, const int *cons)
{
	for (int i = 0; i < g->n_nodes; i++) {
		struct ir_node *c = &g->nodes[i];
		if (c->dead || c->op != IR_POOL || !c->a.pool.max || c->a.pool.global ||
		    c->n_in < 1 || c->in[0] < 0 ||
		    (c->a.pool.padding != IR_PADDING_VALID &&
		     c->a.pool.padding != IR_PADDING_EXPLICIT))
			continue;
		int64_t b[4], a[4], pad[4];
		struct ir_node *pn = pad_feeding(g, cons, i, b, a);
		if (!pn || pn->in[0] < 0 || !non_negative(g, pn->in[0]))
			continue;
		if (c->a.pool.padding == IR_PADDING_VALID)
			memset(pad, 0, sizeof(pad));
		else
			memcpy(pad, c->a.pool.pad, sizeof(pad));
		add_hw_pad(pad, b, a);
		if (pad[0] >= c->a.pool.kh || pad[1] >= c->a.pool.kh ||
		    pad[2] >= c->a.pool.kw || pad[3] >= c->a.pool.kw)
			continue;
		memcpy(c->a.pool.pad, pad, sizeof(pad));
		c->a.pool.padding = IR_PADDING_EXPLICIT;
		c->in[0] = pn->in[0];
		pn->dead = true;
	}
}

int ir_optimize(struct ir_graph *g, struct ir_err *e)
{
	(void)e;
	/* identities */
	for (int i = 0; i < g->n_nodes; i++) {
		struct ir_node *n = &g->nodes[i];
		if (n->dead || n->op != IR_IDENTITY || n->n_in != 1 || n->in[0] < 0)
			continue;
		int out = n->out[0];
		if (g->values[out].pinned)
			continue;
		n->dead = true;
		rewire(g, out, n->in[0]);
	}
	int *cons = NULL;
	if (build_cons(g, &cons))
		return -ENOMEM;
	fold_pad_into_conv(g, cons);
	if (build_cons(g, &cons)) {
		free(cons);
		return -ENOMEM;
	}
	int r = 0;
	int nn = g->n_nodes; /* nodes added by folding are constants */
	for (int i = 0; i < nn && !r; i++) {
		if (g->nodes[i].dead)
			continue;
		if (g->nodes[i].op == IR_CONV)
			r = fuse_conv(g, i, &cons);
		else if (g->nodes[i].op == IR_MATMUL)
			r = fuse_matmul(g, i, &cons);
	}
	if (!r && !(r = build_cons(g, &cons)))
		fold_pad_into_maxpool(g, cons);
	free(cons);
	ir_count_uses(g);
	return r;
}
