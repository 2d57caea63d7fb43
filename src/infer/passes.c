/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Load-time graph optimisation:
 *  - identities removed (uses rewired to the source value);
 *  - BatchNorm after a conv folded into its weights and bias;
 *  - per-channel constant adds (BiasAdd) and multiplies folded into conv /
 *    matmul weights and bias;
 *  - activations after a conv or matmul become oneDNN eltwise post-ops;
 *  - a residual Add of a conv output and another tensor of the same shape
 *    becomes a oneDNN sum post-op (accumulating into the conv's output).
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
	free(cons);
	ir_count_uses(g);
	return r;
}
