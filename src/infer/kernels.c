/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shape inference and reference kernels of the IR ops.  The kernels run the
 * ops oneDNN does not cover (shape manipulation, gathers, small reductions)
 * and fold constants at plan time; they favour clarity over speed except
 * for the float elementwise paths.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define FAIL(...) ir_fail(e, INFER_E_INVALID_MODEL, __VA_ARGS__)

/* `#pragma omp parallel for if (c)` still enters libgomp when c is false (a
 * team of one, and two futex system calls per loop); small loops skip it. */
#define PAR_FOR(c, ...)                                 \
	do {                                            \
		if (c) {                                \
			_Pragma("omp parallel for") __VA_ARGS__ \
		} else {                                \
			__VA_ARGS__                     \
		}                                       \
	} while (0)

static int norm_axis(int64_t a, int rank, int64_t *ret)
{
	if (a < -rank || a >= rank)
		return -1;
	*ret = a < 0 ? a + rank : a;
	return 0;
}

static int broadcast(const struct ir_shape *a, const struct ir_shape *b,
		     struct ir_shape *o)
{
	int r = a->rank > b->rank ? a->rank : b->rank;
	o->rank = r;
	for (int i = 0; i < r; i++) {
		int ia = i - (r - a->rank), ib = i - (r - b->rank);
		int64_t da = ia >= 0 ? a->d[ia] : 1, db = ib >= 0 ? b->d[ib] : 1;
		if (da == db || db == 1)
			o->d[i] = da;
		else if (da == 1)
			o->d[i] = db;
		else
			return -1;
	}
	return 0;
}

/* Reads a 1-D integer constant into v (max n); returns count or -1. */
static int const_ints(const struct ir_tensor *t, int64_t *v, int max)
{
	if (!t || !ir_dtype_is_int(t->dtype) || t->shape.rank > 1)
		return -1;
	int64_t n = ir_shape_elems(&t->shape);
	if (n < 0 || n > max)
		return -1;
	for (int64_t i = 0; i < n; i++)
		v[i] = ir_tensor_geti(t, i);
	return (int)n;
}

static int conv_out(int64_t in, int64_t k, int64_t s, int64_t d,
		    enum ir_padding pm, int64_t *pb, int64_t *pa, int64_t *out)
{
	int64_t ek = (k - 1) * d + 1;
	if (pm == IR_PADDING_VALID) {
		*pb = *pa = 0;
		if (in < ek)
			return -1;
		*out = (in - ek) / s + 1;
		return 0;
	}
	if (pm == IR_PADDING_EXPLICIT) {
		int64_t t = in + *pb + *pa;
		if (t < ek)
			return -1;
		*out = (t - ek) / s + 1;
		return 0;
	}
	*out = (in + s - 1) / s;
	int64_t tot = (*out - 1) * s + ek - in;
	if (tot < 0)
		tot = 0;
	if (pm == IR_PADDING_SAME_UPPER) {
		*pb = tot / 2;
		*pa = tot - *pb;
	} else {
		*pa = tot / 2;
		*pb = tot - *pa;
	}
	return 0;
}

static bool is_cmp(enum ir_binop b)
{
	return b >= IR_EQUAL && b <= IR_GREATER_EQUAL;
}

/* TF StridedSlice → per-dim start/step and output shape. */
static int strided_slice(const struct ir_node *n, const struct ir_shape *x,
			 const struct ir_tensor *bt, const struct ir_tensor *et,
			 const struct ir_tensor *st, struct ir_params *p,
			 struct ir_shape *out, int64_t *final_dims, int *n_final,
			 struct ir_err *e)
{
	int64_t b[IR_MAX_RANK], en[IR_MAX_RANK], s[IR_MAX_RANK];
	int nb = const_ints(bt, b, IR_MAX_RANK), ne = const_ints(et, en, IR_MAX_RANK),
	    ns = const_ints(st, s, IR_MAX_RANK);
	if (nb < 0 || ne != nb || ns != nb)
		return ir_fail(e, INFER_E_UNSUPPORTED,
			       "StridedSlice '%s': begin/end/strides must be constant",
			       n->name);
	const int64_t bm = n->a.ss.begin_mask, em = n->a.ss.end_mask,
		      elm = n->a.ss.ellipsis_mask, nam = n->a.ss.new_axis_mask,
		      sam = n->a.ss.shrink_axis_mask;
	/* Expand the sparse spec to the dense one. */
	int dim = 0;
	int nf = 0;
	out->rank = x->rank;
	for (int i = 0; i < nb; i++) {
		if (elm & (1LL << i)) {
			int after = 0;
			for (int j = i + 1; j < nb; j++)
				if (!(nam & (1LL << j)))
					after++;
			int fill = x->rank - dim - after;
			for (int k = 0; k < fill && dim < x->rank; k++, dim++) {
				p->start[dim] = 0;
				p->step[dim] = 1;
				out->d[dim] = x->d[dim];
				if (nf >= IR_MAX_RANK)
					return FAIL("StridedSlice '%s': rank", n->name);
				final_dims[nf++] = x->d[dim];
			}
			continue;
		}
		if (nam & (1LL << i)) {
			if (nf >= IR_MAX_RANK)
				return FAIL("StridedSlice '%s': rank", n->name);
			final_dims[nf++] = 1;
			continue;
		}
		if (dim >= x->rank)
			return FAIL("StridedSlice '%s': too many dims", n->name);
		int64_t d = x->d[dim], st1 = s[i];
		if (st1 == 0)
			return FAIL("StridedSlice '%s': zero stride", n->name);
		int64_t lo = st1 > 0 ? 0 : -1, hi = st1 > 0 ? d : d - 1;
		int64_t bb = b[i], ee = en[i];
		if (sam & (1LL << i)) {
			if (bb < 0)
				bb += d;
			if (bb < 0 || bb >= d)
				return FAIL("StridedSlice '%s': index out of range", n->name);
			p->start[dim] = bb;
			p->step[dim] = 1;
			out->d[dim] = 1;
			dim++;
			continue;
		}
		if (bm & (1LL << i))
			bb = st1 > 0 ? lo : hi;
		else {
			if (bb < 0)
				bb += d;
			bb = bb < lo ? lo : bb > hi ? hi : bb;
		}
		if (em & (1LL << i))
			ee = st1 > 0 ? hi : lo;
		else {
			if (ee < 0)
				ee += d;
			ee = ee < lo ? lo : ee > hi ? hi : ee;
		}
		int64_t len = st1 > 0 ? (ee - bb + st1 - 1) / st1 : (bb - ee - st1 - 1) / -st1;
		if (len < 0)
			len = 0;
		p->start[dim] = bb;
		p->step[dim] = st1;
		out->d[dim] = len;
		if (nf >= IR_MAX_RANK)
			return FAIL("StridedSlice '%s': rank", n->name);
		final_dims[nf++] = len;
		dim++;
	}
	for (; dim < x->rank; dim++) {
		p->start[dim] = 0;
		p->step[dim] = 1;
		out->d[dim] = x->d[dim];
		if (nf >= IR_MAX_RANK)
			return FAIL("StridedSlice '%s': rank", n->name);
		final_dims[nf++] = x->d[dim];
	}
	*n_final = nf;
	return 0;
}

int ir_infer_node(const struct ir_node *n, const enum infer_dtype *in_dt,
		  const struct ir_shape *in_sh,
		  const struct ir_tensor *const *in_const,
		  enum infer_dtype *out_dt, struct ir_shape *out_sh,
		  struct ir_params *p, struct ir_err *e)
{
	const struct ir_shape *x = &in_sh[0];
	struct ir_shape *o = &out_sh[0];
	memset(p, 0, sizeof(*p));
	out_dt[0] = n->n_in ? in_dt[0] : INFER_DT_INVALID;
	*o = n->n_in ? *x : (struct ir_shape){ 0 };
	for (int k = 0; k < n->n_in; k++)
		if (n->in[k] >= 0 && !ir_shape_known(&in_sh[k]))
			return FAIL("'%s': input %d has an unknown shape", n->name, k);

	switch (n->op) {
	case IR_INPUT:
	case IR_CONST:
	case IR_IDENTITY:
		return 0;
	case IR_CONV: {
		const struct ir_shape *w = &in_sh[1];
		if (in_dt[0] != INFER_DT_FLOAT || in_dt[1] != INFER_DT_FLOAT)
			return ir_fail(e, INFER_E_UNSUPPORTED, "Conv '%s': dtype %s", n->name,
				       infer_dtype_name(in_dt[0]));
		if (x->rank != 4 || w->rank != 4)
			return FAIL("Conv '%s': needs a 4-D input and weights (got rank %d)",
				    n->name, x->rank);
		int64_t c = x->d[3], oc = w->d[0], ic = w->d[1];
		int64_t g = n->a.conv.groups ? n->a.conv.groups : (ic ? c / ic : 0);
		if (g < 1 || ic * g != c || oc % g)
			return FAIL("Conv '%s': %lld input channels do not match weights [%lld,%lld,...]",
				    n->name, (long long)c, (long long)oc, (long long)ic);
		if (w->d[2] != n->a.conv.kh || w->d[3] != n->a.conv.kw)
			return FAIL("Conv '%s': kernel shape mismatch", n->name);
		p->groups = g;
		memcpy(p->pad, n->a.conv.pad, sizeof(p->pad));
		if (conv_out(x->d[1], n->a.conv.kh, n->a.conv.sh, n->a.conv.dh,
			     n->a.conv.padding, &p->pad[0], &p->pad[1], &p->oh) ||
		    conv_out(x->d[2], n->a.conv.kw, n->a.conv.sw, n->a.conv.dw,
			     n->a.conv.padding, &p->pad[2], &p->pad[3], &p->ow))
			return FAIL("Conv '%s': input %lldx%lld smaller than the kernel",
				    n->name, (long long)x->d[1], (long long)x->d[2]);
		*o = (struct ir_shape){ 4, { x->d[0], p->oh, p->ow, oc } };
		if (n->n_in > 2 && n->in[2] >= 0 && n->a.conv.sum_in != 2 &&
		    (ir_shape_elems(&in_sh[2]) != oc))
			return FAIL("Conv '%s': bias size mismatch", n->name);
		if (n->a.conv.sum_in >= 0 && !ir_shape_eq(&in_sh[n->a.conv.sum_in], o))
			return FAIL("Conv '%s': residual shape mismatch", n->name);
		return 0;
	}
	case IR_POOL: {
		if (in_dt[0] != INFER_DT_FLOAT)
			return ir_fail(e, INFER_E_UNSUPPORTED, "Pool '%s': dtype %s", n->name,
				       infer_dtype_name(in_dt[0]));
		if (x->rank != 4)
			return FAIL("Pool '%s': needs a 4-D input", n->name);
		if (n->a.pool.global) {
			*o = (struct ir_shape){ 4, { x->d[0], 1, 1, x->d[3] } };
			p->oh = p->ow = 1;
			return 0;
		}
		memcpy(p->pad, n->a.pool.pad, sizeof(p->pad));
		if (conv_out(x->d[1], n->a.pool.kh, n->a.pool.sh, 1, n->a.pool.padding,
			     &p->pad[0], &p->pad[1], &p->oh) ||
		    conv_out(x->d[2], n->a.pool.kw, n->a.pool.sw, 1, n->a.pool.padding,
			     &p->pad[2], &p->pad[3], &p->ow))
			return FAIL("Pool '%s': input smaller than the window", n->name);
		if (p->pad[0] >= n->a.pool.kh || p->pad[1] >= n->a.pool.kh ||
		    p->pad[2] >= n->a.pool.kw || p->pad[3] >= n->a.pool.kw)
			return FAIL("Pool '%s': padding as large as the window", n->name);
		*o = (struct ir_shape){ 4, { x->d[0], p->oh, p->ow, x->d[3] } };
		return 0;
	}
	case IR_MATMUL: {
		const struct ir_shape *b = &in_sh[1];
		if (x->rank < 2 || b->rank < 2 || in_dt[0] != INFER_DT_FLOAT ||
		    in_dt[1] != INFER_DT_FLOAT)
			return FAIL("MatMul '%s': needs float inputs of rank >= 2", n->name);
		int64_t m = n->a.mm.ta ? x->d[x->rank - 1] : x->d[x->rank - 2];
		int64_t k = n->a.mm.ta ? x->d[x->rank - 2] : x->d[x->rank - 1];
		int64_t k2 = n->a.mm.tb ? b->d[b->rank - 1] : b->d[b->rank - 2];
		int64_t nn = n->a.mm.tb ? b->d[b->rank - 2] : b->d[b->rank - 1];
		if (k != k2)
			return FAIL("MatMul '%s': inner dimensions %lld and %lld differ",
				    n->name, (long long)k, (long long)k2);
		struct ir_shape ba = *x, bb = *b;
		ba.rank -= 2;
		bb.rank -= 2;
		if (broadcast(&ba, &bb, o))
			return FAIL("MatMul '%s': batch dims do not broadcast", n->name);
		o->d[o->rank++] = m;
		o->d[o->rank++] = nn;
		if (n->n_in > 2 && n->in[2] >= 0) {
			struct ir_shape t;
			if (broadcast(o, &in_sh[2], &t) || !ir_shape_eq(&t, o))
				return FAIL("Gemm '%s': C does not broadcast", n->name);
		}
		return 0;
	}
	case IR_BINARY:
		if (in_dt[0] != in_dt[1] && n->a.bin.op != IR_PRELU && n->a.bin.op != IR_POW)
			return FAIL("'%s' (%s): input dtypes %s and %s differ", n->name,
				    n->type, infer_dtype_name(in_dt[0]),
				    infer_dtype_name(in_dt[1]));
		if (broadcast(x, &in_sh[1], o)) {
			char a[128], b[128];
			ir_shape_str(x, a, sizeof(a));
			ir_shape_str(&in_sh[1], b, sizeof(b));
			return FAIL("'%s' (%s): shapes %s and %s do not broadcast",
				    n->name, n->type, a, b);
		}
		if (n->a.bin.op == IR_PRELU && !ir_shape_eq(o, x))
			return FAIL("PRelu '%s': slope does not broadcast to the input", n->name);
		if (is_cmp(n->a.bin.op))
			out_dt[0] = INFER_DT_BOOL;
		if (n->a.bin.op == IR_AND || n->a.bin.op == IR_OR) {
			if (in_dt[0] != INFER_DT_BOOL)
				return FAIL("'%s': logical op on non-bool", n->name);
		} else if (!is_cmp(n->a.bin.op) &&
			   (in_dt[0] == INFER_DT_BOOL || !infer_dtype_size(in_dt[0]) ||
			    in_dt[0] == INFER_DT_HALF || in_dt[0] == INFER_DT_BFLOAT16 ||
			    in_dt[1] == INFER_DT_HALF || in_dt[1] == INFER_DT_BFLOAT16))
			return ir_fail(e, INFER_E_UNSUPPORTED, "'%s' (%s): dtype %s",
				       n->name, n->type, infer_dtype_name(in_dt[0]));
		return 0;
	case IR_UNARY:
		if (n->a.un.op == IR_NOT) {
			if (in_dt[0] != INFER_DT_BOOL)
				return FAIL("'%s': Not on non-bool", n->name);
			return 0;
		}
		if (in_dt[0] != INFER_DT_FLOAT && !(n->a.un.op == IR_NEG || n->a.un.op == IR_ABS ||
						    n->a.un.op == IR_SQUARE || n->a.un.op == IR_RELU ||
						    n->a.un.op == IR_CLIP || n->a.un.op == IR_SIGN))
			return ir_fail(e, INFER_E_UNSUPPORTED, "'%s' (%s): dtype %s",
				       n->name, n->type, infer_dtype_name(in_dt[0]));
		if (in_dt[0] != INFER_DT_FLOAT && in_dt[0] != INFER_DT_INT32 &&
		    in_dt[0] != INFER_DT_INT64)
			return ir_fail(e, INFER_E_UNSUPPORTED, "'%s' (%s): dtype %s",
				       n->name, n->type, infer_dtype_name(in_dt[0]));
		return 0;
	case IR_BATCHNORM: {
		if (x->rank < 2 || in_dt[0] != INFER_DT_FLOAT)
			return FAIL("BatchNorm '%s': needs a float input", n->name);
		int64_t c = x->d[x->rank - 1];
		for (int k = 1; k < 5; k++)
			if (ir_shape_elems(&in_sh[k]) != c || in_dt[k] != INFER_DT_FLOAT)
				return FAIL("BatchNorm '%s': parameter %d must be float[%lld]",
					    n->name, k, (long long)c);
		return 0;
	}
	case IR_REDUCE: {
		int64_t ax[IR_MAX_RANK];
		int na = n->a.red.n_axes;
		if (na)
			memcpy(ax, n->a.red.axes, sizeof(ax));
		else if (n->n_in > 1 && n->in[1] >= 0) {
			na = const_ints(in_const[1], ax, IR_MAX_RANK);
			if (na < 0)
				return ir_fail(e, INFER_E_UNSUPPORTED,
					       "'%s': reduction axes must be constant", n->name);
		}
		if (in_dt[0] != INFER_DT_FLOAT && n->a.red.op != IR_RMAX &&
		    n->a.red.op != IR_RMIN && n->a.red.op != IR_RSUM)
			return ir_fail(e, INFER_E_UNSUPPORTED, "'%s': dtype %s", n->name,
				       infer_dtype_name(in_dt[0]));
		if (!na && !n->a.red.noop_empty) {
			for (int i = 0; i < x->rank; i++)
				p->mask[i] = true;
		}
		for (int i = 0; i < na; i++) {
			int64_t a;
			if (norm_axis(ax[i], x->rank, &a))
				return FAIL("'%s': axis %lld out of range", n->name,
					    (long long)ax[i]);
			p->mask[a] = true;
		}
		o->rank = 0;
		for (int i = 0; i < x->rank; i++) {
			if (!p->mask[i])
				o->d[o->rank++] = x->d[i];
			else if (n->a.red.keepdims)
				o->d[o->rank++] = 1;
		}
		return 0;
	}
	case IR_SOFTMAX:
		if (in_dt[0] != INFER_DT_FLOAT || x->rank < 1)
			return FAIL("Softmax '%s': needs a float input", n->name);
		if (norm_axis(n->a.sm.axis, x->rank, &p->axis))
			return FAIL("Softmax '%s': bad axis", n->name);
		return 0;
	case IR_PAD: {
		int r = x->rank;
		if (n->a.pad.n_pads) {
			if (n->a.pad.n_pads != 2 * r)
				return FAIL("Pad '%s': %d pads for rank %d", n->name,
					    n->a.pad.n_pads, r);
			memcpy(p->pads, n->a.pad.pads, sizeof(int64_t) * 2 * (size_t)r);
		} else {
			const struct ir_tensor *pt = in_const[1];
			int64_t v[2 * IR_MAX_RANK];
			if (!pt || !ir_dtype_is_int(pt->dtype))
				return ir_fail(e, INFER_E_UNSUPPORTED,
					       "Pad '%s': pads must be constant", n->name);
			int64_t cnt = ir_shape_elems(&pt->shape);
			if (cnt != 2 * r)
				return FAIL("Pad '%s': %lld pads for rank %d", n->name,
					    (long long)cnt, r);
			for (int i = 0; i < 2 * r; i++)
				v[i] = ir_tensor_geti(pt, i);
			if (pt->shape.rank == 2) { /* TF: [[b, a], ...] */
				for (int i = 0; i < r; i++) {
					p->pads[i] = v[2 * i];
					p->pads[r + i] = v[2 * i + 1];
				}
			} else {
				memcpy(p->pads, v, sizeof(int64_t) * 2 * (size_t)r);
			}
		}
		p->value = n->a.pad.value;
		if (n->n_in > 2 && n->in[2] >= 0) {
			if (!in_const[2] || ir_shape_elems(&in_const[2]->shape) != 1)
				return ir_fail(e, INFER_E_UNSUPPORTED,
					       "Pad '%s': value must be a constant scalar", n->name);
			p->value = ir_tensor_getf(in_const[2], 0);
		}
		for (int i = 0; i < r; i++) {
			int64_t b = p->pads[i], a = p->pads[r + i];
			if (b < -x->d[i] || a < -x->d[i] || b > IR_MAX_DIM || a > IR_MAX_DIM)
				return FAIL("Pad '%s': bad pads", n->name);
			if (n->a.pad.mode != IR_PAD_CONSTANT &&
			    (b < 0 || a < 0 ||
			     b > x->d[i] - (n->a.pad.mode == IR_PAD_REFLECT) ||
			     a > x->d[i] - (n->a.pad.mode == IR_PAD_REFLECT) || x->d[i] == 0))
				return FAIL("Pad '%s': reflect pads larger than the input", n->name);
			o->d[i] = x->d[i] + b + a;
			if (o->d[i] < 0)
				return FAIL("Pad '%s': negative size", n->name);
		}
		return 0;
	}
	case IR_RESHAPE: {
		int64_t sh[IR_MAX_RANK];
		int ns = n->a.reshape.n;
		if (ns)
			memcpy(sh, n->a.reshape.shape, sizeof(sh));
		else {
			ns = n->n_in > 1 ? const_ints(in_const[1], sh, IR_MAX_RANK) : -1;
			if (ns < 0)
				return ir_fail(e, INFER_E_UNSUPPORTED,
					       "Reshape '%s': shape must be constant", n->name);
		}
		int64_t total = ir_shape_elems(x), known = 1;
		int neg = -1;
		o->rank = ns;
		for (int i = 0; i < ns; i++) {
			int64_t d = sh[i];
			if (d == 0 && !n->a.reshape.allowzero) {
				if (i >= x->rank)
					return FAIL("Reshape '%s': 0 past the input rank", n->name);
				d = x->d[i];
			}
			if (d == -1) {
				if (neg >= 0)
					return FAIL("Reshape '%s': two -1 dims", n->name);
				neg = i;
				o->d[i] = 1;
				continue;
			}
			if (d < 0 || d > IR_MAX_DIM)
				return FAIL("Reshape '%s': bad dim %lld", n->name, (long long)d);
			o->d[i] = d;
			if (__builtin_mul_overflow(known, d, &known) || known > IR_MAX_ELEMS)
				return ir_fail(e, INFER_E_LIMIT, "Reshape '%s': too large", n->name);
		}
		if (neg >= 0) {
			if (known == 0 || total % known)
				return FAIL("Reshape '%s': %lld elements do not fit", n->name,
					    (long long)total);
			o->d[neg] = total / known;
		}
		if (ir_shape_elems(o) != total) {
			char a[128], b[128];
			ir_shape_str(x, a, sizeof(a));
			ir_shape_str(o, b, sizeof(b));
			return FAIL("Reshape '%s': cannot reshape %s to %s", n->name, a, b);
		}
		return 0;
	}
	case IR_SQUEEZE: {
		int64_t ax[IR_MAX_RANK];
		int na = n->a.sq.n_axes;
		bool m[IR_MAX_RANK] = { 0 };
		if (na)
			memcpy(ax, n->a.sq.axes, sizeof(ax));
		else if (n->n_in > 1 && n->in[1] >= 0) {
			na = const_ints(in_const[1], ax, IR_MAX_RANK);
			if (na < 0)
				return ir_fail(e, INFER_E_UNSUPPORTED,
					       "Squeeze '%s': axes must be constant", n->name);
		}
		for (int i = 0; i < na; i++) {
			int64_t a;
			if (norm_axis(ax[i], x->rank, &a) || x->d[a] != 1)
				return FAIL("Squeeze '%s': axis %lld is not of size 1", n->name,
					    (long long)ax[i]);
			m[a] = true;
		}
		o->rank = 0;
		for (int i = 0; i < x->rank; i++)
			if (!(na ? m[i] : x->d[i] == 1))
				o->d[o->rank++] = x->d[i];
		return 0;
	}
	case IR_UNSQUEEZE: {
		int64_t ax[IR_MAX_RANK];
		int na = n->a.sq.n_axes;
		if (na)
			memcpy(ax, n->a.sq.axes, sizeof(ax));
		else {
			na = n->n_in > 1 ? const_ints(in_const[1], ax, IR_MAX_RANK) : -1;
			if (na < 0)
				return ir_fail(e, INFER_E_UNSUPPORTED,
					       "'%s': axes must be constant", n->name);
		}
		int r = x->rank + na;
		if (r > IR_MAX_RANK)
			return ir_fail(e, INFER_E_UNSUPPORTED, "'%s': rank above %d",
				       n->name, IR_MAX_RANK);
		bool m[IR_MAX_RANK] = { 0 };
		for (int i = 0; i < na; i++) {
			int64_t a;
			if (norm_axis(ax[i], r, &a) || m[a])
				return FAIL("'%s': bad axis %lld", n->name, (long long)ax[i]);
			m[a] = true;
		}
		o->rank = r;
		for (int i = 0, j = 0; i < r; i++)
			o->d[i] = m[i] ? 1 : x->d[j++];
		return 0;
	}
	case IR_FLATTEN: {
		int64_t a = n->a.flat.axis;
		if (a < 0)
			a += x->rank;
		if (a < 0 || a > x->rank)
			return FAIL("Flatten '%s': bad axis", n->name);
		int64_t l = 1, r = 1;
		for (int i = 0; i < x->rank; i++) {
			if (i < a)
				l *= x->d[i];
			else
				r *= x->d[i];
		}
		*o = (struct ir_shape){ 2, { l, r } };
		return 0;
	}
	case IR_CONCAT:
	case IR_PACK: {
		int nd = n->n_in;
		int64_t axis = n->a.cat.axis;
		if (n->op == IR_CONCAT && axis == INT64_MIN) {
			nd--;
			int64_t av[1];
			if (nd < 1 || const_ints(in_const[nd], av, 1) != 1)
				return ir_fail(e, INFER_E_UNSUPPORTED,
					       "Concat '%s': axis must be constant", n->name);
			axis = av[0];
		}
		if (nd < 1)
			return FAIL("'%s': no inputs", n->name);
		int r = x->rank + (n->op == IR_PACK);
		if (r > IR_MAX_RANK || r < 1 || norm_axis(axis, r, &p->axis))
			return FAIL("'%s': bad axis %lld", n->name, (long long)axis);
		p->n_data = nd;
		int64_t sum = 0;
		for (int k = 0; k < nd; k++) {
			if (in_dt[k] != in_dt[0] || in_sh[k].rank != x->rank)
				return FAIL("'%s': input %d is %s of rank %d, input 0 %s of rank %d",
					    n->name, k, infer_dtype_name(in_dt[k]), in_sh[k].rank,
					    infer_dtype_name(in_dt[0]), x->rank);
			for (int i = 0; i < x->rank; i++)
				if (i != p->axis || n->op == IR_PACK)
					if (in_sh[k].d[i] != x->d[i])
						return FAIL("'%s': input shapes differ", n->name);
			sum += n->op == IR_PACK ? 1 : in_sh[k].d[p->axis];
		}
		if (n->op == IR_PACK) {
			o->rank = r;
			for (int i = 0, j = 0; i < r; i++)
				o->d[i] = i == p->axis ? nd : x->d[j++];
		} else {
			o->d[p->axis] = sum;
		}
		return 0;
	}
	case IR_TRANSPOSE: {
		int64_t perm[IR_MAX_RANK];
		int np = n->a.tr.n;
		if (np)
			memcpy(perm, n->a.tr.perm, sizeof(perm));
		else if (n->n_in > 1 && n->in[1] >= 0) {
			np = const_ints(in_const[1], perm, IR_MAX_RANK);
			if (np < 0)
				return ir_fail(e, INFER_E_UNSUPPORTED,
					       "Transpose '%s': perm must be constant", n->name);
		} else {
			np = x->rank;
			for (int i = 0; i < np; i++)
				perm[i] = np - 1 - i;
		}
		if (np != x->rank)
			return FAIL("Transpose '%s': perm of %d for rank %d", n->name, np,
				    x->rank);
		bool seen[IR_MAX_RANK] = { 0 };
		for (int i = 0; i < np; i++) {
			int64_t a;
			if (norm_axis(perm[i], np, &a) || seen[a])
				return FAIL("Transpose '%s': bad perm", n->name);
			seen[a] = true;
			p->perm[i] = a;
			o->d[i] = x->d[a];
		}
		return 0;
	}
	case IR_CAST:
		if (!infer_dtype_size(n->a.cast.to) || n->a.cast.to == INFER_DT_HALF ||
		    n->a.cast.to == INFER_DT_BFLOAT16 || in_dt[0] == INFER_DT_HALF ||
		    in_dt[0] == INFER_DT_BFLOAT16)
			return ir_fail(e, INFER_E_UNSUPPORTED, "Cast '%s': %s to %s",
				       n->name, infer_dtype_name(in_dt[0]),
				       infer_dtype_name(n->a.cast.to));
		out_dt[0] = n->a.cast.to;
		return 0;
	case IR_ARGMAX: {
		int64_t a = n->a.arg.axis;
		if (!n->a.arg.has_axis) {
			int64_t av[1];
			if (n->n_in < 2 || const_ints(in_const[1], av, 1) != 1)
				return ir_fail(e, INFER_E_UNSUPPORTED,
					       "ArgMax '%s': axis must be constant", n->name);
			a = av[0];
		}
		if (norm_axis(a, x->rank, &p->axis))
			return FAIL("ArgMax '%s': bad axis", n->name);
		if (n->a.arg.out != INFER_DT_INT32 && n->a.arg.out != INFER_DT_INT64)
			return ir_fail(e, INFER_E_UNSUPPORTED, "ArgMax '%s': output type", n->name);
		if (in_dt[0] != INFER_DT_FLOAT && in_dt[0] != INFER_DT_INT32 &&
		    in_dt[0] != INFER_DT_INT64)
			return ir_fail(e, INFER_E_UNSUPPORTED, "ArgMax '%s': dtype", n->name);
		out_dt[0] = n->a.arg.out;
		o->rank = 0;
		for (int i = 0; i < x->rank; i++) {
			if (i != p->axis)
				o->d[o->rank++] = x->d[i];
			else if (n->a.arg.keepdims)
				o->d[o->rank++] = 1;
		}
		return 0;
	}
	case IR_SLICE: {
		int64_t st[IR_MAX_RANK], en[IR_MAX_RANK], ax[IR_MAX_RANK], sp[IR_MAX_RANK];
		int ns = const_ints(in_const[1], st, IR_MAX_RANK);
		int ne = const_ints(in_const[2], en, IR_MAX_RANK);
		int na = n->n_in > 3 && n->in[3] >= 0 ? const_ints(in_const[3], ax, IR_MAX_RANK) : ns;
		int nsp = n->n_in > 4 && n->in[4] >= 0 ? const_ints(in_const[4], sp, IR_MAX_RANK) : ns;
		if (ns < 0 || ne != ns || na != ns || nsp != ns)
			return ir_fail(e, INFER_E_UNSUPPORTED,
				       "Slice '%s': starts/ends/axes/steps must be constant", n->name);
		if (!(n->n_in > 3 && n->in[3] >= 0))
			for (int i = 0; i < ns; i++)
				ax[i] = i;
		if (!(n->n_in > 4 && n->in[4] >= 0))
			for (int i = 0; i < ns; i++)
				sp[i] = 1;
		for (int i = 0; i < x->rank; i++) {
			p->start[i] = 0;
			p->step[i] = 1;
		}
		bool seen[IR_MAX_RANK] = { 0 };
		for (int i = 0; i < ns; i++) {
			int64_t a;
			if (norm_axis(ax[i], x->rank, &a) || seen[a] || sp[i] == 0)
				return FAIL("Slice '%s': bad axes or steps", n->name);
			seen[a] = true;
			int64_t d = x->d[a], s = st[i], en1 = en[i], step = sp[i];
			if (s < 0)
				s += d;
			if (en1 < 0)
				en1 += d;
			if (step > 0) {
				s = s < 0 ? 0 : s > d ? d : s;
				en1 = en1 < 0 ? 0 : en1 > d ? d : en1;
			} else {
				s = s < 0 ? -1 : s > d - 1 ? d - 1 : s;
				en1 = en1 < -1 ? -1 : en1 > d - 1 ? d - 1 : en1;
			}
			int64_t len = step > 0 ? (en1 - s + step - 1) / step :
						 (s - en1 - step - 1) / -step;
			if (len < 0)
				len = 0;
			p->start[a] = s;
			p->step[a] = step;
			o->d[a] = len;
		}
		return 0;
	}
	case IR_TF_SLICE: {
		int64_t b[IR_MAX_RANK], sz[IR_MAX_RANK];
		int nb = const_ints(in_const[1], b, IR_MAX_RANK);
		int ns = const_ints(in_const[2], sz, IR_MAX_RANK);
		if (nb != x->rank || ns != x->rank)
			return ir_fail(e, INFER_E_UNSUPPORTED,
				       "Slice '%s': begin/size must be constant", n->name);
		for (int i = 0; i < x->rank; i++) {
			int64_t s = sz[i] == -1 ? x->d[i] - b[i] : sz[i];
			if (b[i] < 0 || s < 0 || b[i] > x->d[i] || s > x->d[i] - b[i])
				return FAIL("Slice '%s': out of range", n->name);
			p->start[i] = b[i];
			p->step[i] = 1;
			o->d[i] = s;
		}
		return 0;
	}
	case IR_STRIDED_SLICE: {
		int64_t fd[IR_MAX_RANK];
		int nf = 0;
		int r = strided_slice(n, x, in_const[1], in_const[2], in_const[3], p, o,
				      fd, &nf, e);
		if (r)
			return r;
		/* o describes the slice over x's dims; the final shape drops
		 * shrunk axes and adds new ones.  The kernel copies the same
		 * elements, so only the reported shape changes. */
		memcpy(p->len, o->d, sizeof(p->len));
		o->rank = nf;
		memcpy(o->d, fd, sizeof(int64_t) * (size_t)nf);
		return 0;
	}
	case IR_GATHER: {
		int64_t a = n->a.gather.axis;
		if (!n->a.gather.has_axis && n->n_in > 2) {
			int64_t av[1];
			if (const_ints(in_const[2], av, 1) != 1)
				return ir_fail(e, INFER_E_UNSUPPORTED,
					       "Gather '%s': axis must be constant", n->name);
			a = av[0];
		}
		if (norm_axis(a, x->rank, &p->axis))
			return FAIL("Gather '%s': bad axis", n->name);
		if (in_dt[1] != INFER_DT_INT32 && in_dt[1] != INFER_DT_INT64)
			return FAIL("Gather '%s': indices must be int32/int64", n->name);
		const struct ir_shape *is = &in_sh[1];
		int r = x->rank - 1 + is->rank;
		if (r > IR_MAX_RANK)
			return ir_fail(e, INFER_E_UNSUPPORTED, "Gather '%s': rank", n->name);
		o->rank = 0;
		for (int i = 0; i < p->axis; i++)
			o->d[o->rank++] = x->d[i];
		for (int i = 0; i < is->rank; i++)
			o->d[o->rank++] = is->d[i];
		for (int i = (int)p->axis + 1; i < x->rank; i++)
			o->d[o->rank++] = x->d[i];
		return 0;
	}
	case IR_SHAPE:
		out_dt[0] = n->a.shape.out ? n->a.shape.out : INFER_DT_INT64;
		if (out_dt[0] != INFER_DT_INT32 && out_dt[0] != INFER_DT_INT64)
			return FAIL("Shape '%s': bad out_type", n->name);
		*o = (struct ir_shape){ 1, { x->rank } };
		return 0;
	case IR_FILL:
	case IR_EXPAND: {
		int64_t d[IR_MAX_RANK];
		int nd = const_ints(in_const[n->op == IR_FILL ? 0 : 1], d, IR_MAX_RANK);
		if (nd < 0)
			return ir_fail(e, INFER_E_UNSUPPORTED, "'%s': shape must be constant",
				       n->name);
		struct ir_shape s = { nd, { 0 } };
		for (int i = 0; i < nd; i++) {
			if (d[i] < 0 || d[i] > IR_MAX_DIM)
				return FAIL("'%s': bad dim", n->name);
			s.d[i] = d[i];
		}
		if (n->op == IR_FILL) {
			if (ir_shape_elems(&in_sh[1]) != 1)
				return FAIL("Fill '%s': value must be a scalar", n->name);
			out_dt[0] = in_dt[1];
			*o = s;
		} else if (broadcast(x, &s, o)) {
			return FAIL("Expand '%s': shapes do not broadcast", n->name);
		}
		if (ir_shape_elems(o) < 0)
			return ir_fail(e, INFER_E_LIMIT, "'%s': too large", n->name);
		return 0;
	}
	case IR_RANGE: {
		for (int k = 0; k < 3; k++)
			if (!in_const[k] || ir_shape_elems(&in_sh[k]) != 1)
				return ir_fail(e, INFER_E_UNSUPPORTED,
					       "Range '%s': inputs must be constant scalars", n->name);
		double s = ir_tensor_getf(in_const[0], 0), l = ir_tensor_getf(in_const[1], 0),
		       d = ir_tensor_getf(in_const[2], 0);
		if (d == 0 || !isfinite(s) || !isfinite(l) || !isfinite(d))
			return FAIL("Range '%s': bad delta", n->name);
		double cnt = ceil((l - s) / d);
		if (cnt < 0)
			cnt = 0;
		if (cnt > (double)IR_MAX_ELEMS)
			return ir_fail(e, INFER_E_LIMIT, "Range '%s': too large", n->name);
		p->rstart = s;
		p->rdelta = d;
		*o = (struct ir_shape){ 1, { (int64_t)cnt } };
		return 0;
	}
	case IR_TILE: {
		int64_t m[IR_MAX_RANK];
		if (const_ints(in_const[1], m, IR_MAX_RANK) != x->rank)
			return ir_fail(e, INFER_E_UNSUPPORTED,
				       "Tile '%s': multiples must be constant", n->name);
		for (int i = 0; i < x->rank; i++) {
			if (m[i] < 0 || (x->d[i] && m[i] > IR_MAX_DIM / x->d[i]))
				return FAIL("Tile '%s': bad multiples", n->name);
			o->d[i] = x->d[i] * m[i];
		}
		if (ir_shape_elems(o) < 0)
			return ir_fail(e, INFER_E_LIMIT, "Tile '%s': too large", n->name);
		return 0;
	}
	case IR_WHERE: {
		struct ir_shape t;
		if (in_dt[0] != INFER_DT_BOOL || in_dt[1] != in_dt[2])
			return FAIL("Where '%s': dtypes", n->name);
		if (broadcast(x, &in_sh[1], &t) || broadcast(&t, &in_sh[2], o))
			return FAIL("Where '%s': shapes do not broadcast", n->name);
		out_dt[0] = in_dt[1];
		return 0;
	}
	default:
		return ir_fail(e, INFER_E_UNSUPPORTED, "op %s", ir_op_name(n->op));
	}
}

/* ------------------------------------------------------------------------ */
/* Kernels                                                                  */

static double ld(const void *p, enum infer_dtype dt, int64_t i)
{
	switch (dt) {
	case INFER_DT_FLOAT: return ((const float *)p)[i];
	case INFER_DT_DOUBLE: return ((const double *)p)[i];
	case INFER_DT_INT32: return ((const int32_t *)p)[i];
	case INFER_DT_INT64: return (double)((const int64_t *)p)[i];
	case INFER_DT_UINT8: case INFER_DT_BOOL: return ((const uint8_t *)p)[i];
	case INFER_DT_INT8: return ((const int8_t *)p)[i];
	case INFER_DT_INT16: return ((const int16_t *)p)[i];
	case INFER_DT_UINT16: return ((const uint16_t *)p)[i];
	case INFER_DT_UINT32: return ((const uint32_t *)p)[i];
	case INFER_DT_UINT64: return (double)((const uint64_t *)p)[i];
	default: return 0;
	}
}

static int64_t ldi(const void *p, enum infer_dtype dt, int64_t i)
{
	switch (dt) {
	case INFER_DT_INT32: return ((const int32_t *)p)[i];
	case INFER_DT_INT64: return ((const int64_t *)p)[i];
	case INFER_DT_UINT8: case INFER_DT_BOOL: return ((const uint8_t *)p)[i];
	case INFER_DT_INT8: return ((const int8_t *)p)[i];
	case INFER_DT_INT16: return ((const int16_t *)p)[i];
	case INFER_DT_UINT16: return ((const uint16_t *)p)[i];
	case INFER_DT_UINT32: return ((const uint32_t *)p)[i];
	case INFER_DT_UINT64: return (int64_t)((const uint64_t *)p)[i];
	default: {
		double v = ld(p, dt, i);
		if (!(v == v))
			return 0;
		if (v >= 9.2e18)
			return INT64_MAX;
		if (v <= -9.2e18)
			return INT64_MIN;
		return (int64_t)v;
	}
	}
}

static void st(void *p, enum infer_dtype dt, int64_t i, double v)
{
	switch (dt) {
	case INFER_DT_FLOAT: ((float *)p)[i] = (float)v; break;
	case INFER_DT_DOUBLE: ((double *)p)[i] = v; break;
	case INFER_DT_BOOL: ((uint8_t *)p)[i] = v != 0; break;
	default: {
		int64_t iv;
		if (!(v == v))
			iv = 0;
		else if (v >= 9.2e18)
			iv = INT64_MAX;
		else if (v <= -9.2e18)
			iv = INT64_MIN;
		else
			iv = (int64_t)v;
		switch (dt) {
		case INFER_DT_INT32: ((int32_t *)p)[i] = (int32_t)iv; break;
		case INFER_DT_INT64: ((int64_t *)p)[i] = iv; break;
		case INFER_DT_UINT8: ((uint8_t *)p)[i] = (uint8_t)iv; break;
		case INFER_DT_INT8: ((int8_t *)p)[i] = (int8_t)iv; break;
		case INFER_DT_INT16: ((int16_t *)p)[i] = (int16_t)iv; break;
		case INFER_DT_UINT16: ((uint16_t *)p)[i] = (uint16_t)iv; break;
		case INFER_DT_UINT32: ((uint32_t *)p)[i] = (uint32_t)iv; break;
		case INFER_DT_UINT64: ((uint64_t *)p)[i] = (uint64_t)iv; break;
		default: break;
		}
	}
	}
}

static void sti(void *p, enum infer_dtype dt, int64_t i, int64_t v)
{
	switch (dt) {
	case INFER_DT_INT32: ((int32_t *)p)[i] = (int32_t)v; break;
	case INFER_DT_INT64: ((int64_t *)p)[i] = v; break;
	default: st(p, dt, i, (double)v); break;
	}
}

/* Strides (in elements) of a dense shape, right-aligned to rank r with
 * broadcast dims (size 1 against a larger output) set to 0. */
static void bstrides(const struct ir_shape *s, const struct ir_shape *o,
		     int64_t *str)
{
	int r = o->rank;
	int64_t acc = 1;
	for (int i = r - 1; i >= 0; i--) {
		int j = i - (r - s->rank);
		if (j < 0) {
			str[i] = 0;
			continue;
		}
		str[i] = s->d[j] == 1 && o->d[i] != 1 ? 0 : acc;
		acc *= s->d[j];
	}
}

static float unf(const struct ir_act *a, float x)
{
	switch (a->op) {
	case IR_RELU: return x > 0 ? x : 0;
	case IR_RELU6: return x < 0 ? 0 : x > 6 ? 6 : x;
	case IR_SIGMOID: return 1.0f / (1.0f + expf(-x));
	case IR_TANH: return tanhf(x);
	case IR_ELU: return x > 0 ? x : a->alpha * (expf(x) - 1);
	case IR_SELU: return a->beta * (x > 0 ? x : a->alpha * (expf(x) - 1));
	case IR_LEAKY_RELU: return x >= 0 ? x : a->alpha * x;
	case IR_HARD_SIGMOID: {
		float v = a->alpha * x + a->beta;
		return v < 0 ? 0 : v > 1 ? 1 : v;
	}
	case IR_HARD_SWISH: {
		float v = x / 6.0f + 0.5f;
		return x * (v < 0 ? 0 : v > 1 ? 1 : v);
	}
	case IR_SILU: return x / (1.0f + expf(-x));
	case IR_CLIP: return x < a->alpha ? a->alpha : x > a->beta ? a->beta : x;
	case IR_EXP: return expf(x);
	case IR_LOG: return logf(x);
	case IR_SQRT: return sqrtf(x);
	case IR_RSQRT: return 1.0f / sqrtf(x);
	case IR_NEG: return -x;
	case IR_ABS: return fabsf(x);
	case IR_SQUARE: return x * x;
	case IR_RECIPROCAL: return 1.0f / x;
	case IR_FLOOR: return floorf(x);
	case IR_CEIL: return ceilf(x);
	case IR_ROUND: return nearbyintf(x);
	case IR_SOFTPLUS: return x > 20 ? x : log1pf(expf(x));
	case IR_ERF: return erff(x);
	case IR_GELU: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
	case IR_SIGN: return (float)((x > 0) - (x < 0));
	case IR_NOT: return x == 0;
	}
	return x;
}

float ir_act_apply(const struct ir_act *a, float x);
float ir_act_apply(const struct ir_act *a, float x)
{
	return unf(a, x);
}

static double binf(enum ir_binop op, double a, double b, bool isint)
{
	switch (op) {
	case IR_ADD: return a + b;
	case IR_SUB: return a - b;
	case IR_MUL: return a * b;
	case IR_DIV:
		if (isint)
			return b == 0 ? 0 : trunc(a / b);
		return a / b;
	case IR_MAX: return a > b ? a : b;
	case IR_MIN: return a < b ? a : b;
	case IR_POW: return pow(a, b);
	case IR_SQDIFF: return (a - b) * (a - b);
	case IR_FLOORDIV: return b == 0 ? 0 : floor(a / b);
	case IR_MOD:
		if (b == 0)
			return 0;
		return isint ? a - floor(a / b) * b : fmod(a, b);
	case IR_FMOD:
		return b == 0 ? 0 : fmod(a, b);
	case IR_PRELU: return a >= 0 ? a : a * b;
	case IR_EQUAL: return a == b;
	case IR_LESS: return a < b;
	case IR_GREATER: return a > b;
	case IR_LESS_EQUAL: return a <= b;
	case IR_GREATER_EQUAL: return a >= b;
	case IR_AND: return a != 0 && b != 0;
	case IR_OR: return a != 0 || b != 0;
	}
	return 0;
}

static float binff(enum ir_binop op, float a, float b)
{
	switch (op) {
	case IR_ADD: return a + b;
	case IR_SUB: return a - b;
	case IR_MUL: return a * b;
	case IR_DIV: return a / b;
	case IR_MAX: return a > b ? a : b;
	case IR_MIN: return a < b ? a : b;
	case IR_PRELU: return a >= 0 ? a : a * b;
	case IR_SQDIFF: return (a - b) * (a - b);
	default: return (float)binf(op, a, b, false);
	}
}

/* Iterates a dense output of shape o; calls body with flat index and the
 * offsets into up to 3 inputs with strides s[k]. */
#define ITER_BEGIN(o, NIN, s)                                                 \
	{                                                                     \
		int64_t _idx[IR_MAX_RANK] = { 0 }, _off[3] = { 0 };           \
		int64_t _n = ir_shape_elems(o);                               \
		for (int64_t _i = 0; _i < _n; _i++) {
#define ITER_END(o, NIN, s)                                                   \
			for (int _d = (o)->rank - 1; _d >= 0; _d--) {         \
				_idx[_d]++;                                   \
				for (int _k = 0; _k < (NIN); _k++)            \
					_off[_k] += s[_k][_d];                \
				if (_idx[_d] < (o)->d[_d])                    \
					break;                                \
				for (int _k = 0; _k < (NIN); _k++)            \
					_off[_k] -= s[_k][_d] * (o)->d[_d];   \
				_idx[_d] = 0;                                 \
			}                                                     \
		}                                                             \
	}

static void k_binary(enum ir_binop op, enum infer_dtype dt, enum infer_dtype odt,
		     const struct ir_shape *a, const void *pa,
		     const struct ir_shape *b, const void *pb,
		     const struct ir_shape *o, void *po, enum infer_dtype bdt)
{
	int64_t n = ir_shape_elems(o);
	if (dt == INFER_DT_FLOAT && odt == INFER_DT_FLOAT && bdt == INFER_DT_FLOAT) {
		const float *x = pa, *y = pb;
		float *z = po;
		int64_t na = ir_shape_elems(a), nb = ir_shape_elems(b);
		if (na == n && nb == n) {
			PAR_FOR(n > 65536,
				for (int64_t i = 0; i < n; i++)
					z[i] = binff(op, x[i], y[i]););
			return;
		}
		if (na == n && nb == 1) {
			float yv = y[0];
			PAR_FOR(n > 65536,
				for (int64_t i = 0; i < n; i++)
					z[i] = binff(op, x[i], yv););
			return;
		}
		/* trailing-vector broadcast, e.g. bias over channels */
		if (na == n && nb > 0 && n % nb == 0 && b->rank >= 1 &&
		    b->d[b->rank - 1] == nb && o->d[o->rank - 1] == nb) {
			int64_t rows = n / nb;
			PAR_FOR(n > 65536,
				for (int64_t r = 0; r < rows; r++)
					for (int64_t j = 0; j < nb; j++)
						z[r * nb + j] = binff(op, x[r * nb + j], y[j]););
			return;
		}
	}
	int64_t s0[IR_MAX_RANK], s1[IR_MAX_RANK];
	bstrides(a, o, s0);
	bstrides(b, o, s1);
	const int64_t *s[3] = { s0, s1, s1 };
	bool isint = ir_dtype_is_int(dt);
	if (dt == INFER_DT_INT64 && odt == INFER_DT_INT64 && bdt == INFER_DT_INT64) {
		const int64_t *x = pa, *y = pb;
		int64_t *z = po;
		ITER_BEGIN(o, 2, s)
		int64_t u = x[_off[0]], v = y[_off[1]], w;
		switch (op) {
		case IR_ADD: w = (int64_t)((uint64_t)u + (uint64_t)v); break;
		case IR_SUB: w = (int64_t)((uint64_t)u - (uint64_t)v); break;
		case IR_MUL: w = (int64_t)((uint64_t)u * (uint64_t)v); break;
		case IR_DIV: w = v == 0 || (u == INT64_MIN && v == -1) ? 0 : u / v; break;
		case IR_MAX: w = u > v ? u : v; break;
		case IR_MIN: w = u < v ? u : v; break;
		default: w = (int64_t)binf(op, (double)u, (double)v, true); break;
		}
		z[_i] = w;
		ITER_END(o, 2, s)
		return;
	}
	ITER_BEGIN(o, 2, s)
	st(po, odt, _i, binf(op, ld(pa, dt, _off[0]), ld(pb, bdt, _off[1]), isint));
	ITER_END(o, 2, s)
}

static void k_copy_strided(const void *src, const struct ir_shape *os,
			   const int64_t *sstr, int64_t base, size_t es,
			   void *dst)
{
	/* dst dense of shape os; element i reads src[base + sum(idx*sstr)] */
	int64_t n = ir_shape_elems(os);
	int r = os->rank;
	if (r == 0) {
		if (n)
			memcpy(dst, (const char *)src + base * (int64_t)es, es);
		return;
	}
	int64_t inner = os->d[r - 1];
	int64_t istr = sstr[r - 1];
	int64_t rows = inner ? n / inner : 0;
	PAR_FOR(n > 65536,
		for (int64_t row = 0; row < rows; row++) {
			int64_t off = base, rem = row;
			for (int k = r - 2; k >= 0; k--) {
				off += (rem % os->d[k]) * sstr[k];
				rem /= os->d[k];
			}
			char *d = (char *)dst + row * inner * (int64_t)es;
			const char *s = (const char *)src;
			if (istr == 1) {
				memcpy(d, s + off * (int64_t)es, (size_t)(inner * (int64_t)es));
			} else if (es == 4) {
				const uint32_t *s4 = (const uint32_t *)s + off;
				uint32_t *d4 = (uint32_t *)d;
				for (int64_t j = 0; j < inner; j++)
					d4[j] = s4[j * istr];
			} else {
				for (int64_t j = 0; j < inner; j++)
					memcpy(d + j * (int64_t)es, s + (off + j * istr) * (int64_t)es, es);
			}
		});
}

static void dense_strides(const struct ir_shape *s, int64_t *str)
{
	int64_t acc = 1;
	for (int i = s->rank - 1; i >= 0; i--) {
		str[i] = acc;
		acc *= s->d[i];
	}
}

static void k_transpose(const struct ir_shape *x, const void *src,
			const int64_t *perm, const struct ir_shape *o, void *dst,
			size_t es)
{
	int64_t xs[IR_MAX_RANK], ss[IR_MAX_RANK];
	dense_strides(x, xs);
	for (int i = 0; i < o->rank; i++)
		ss[i] = xs[perm[i]];
	k_copy_strided(src, o, ss, 0, es, dst);
}

static void k_reduce(enum ir_reduce op, const struct ir_shape *x, const void *src,
		     enum infer_dtype dt, const bool *mask, void *dst)
{
	/* Output iterates non-reduced dims; inner loop over reduced dims. */
	struct ir_shape os = { 0 }, rs = { 0 };
	int64_t xs[IR_MAX_RANK], ost[IR_MAX_RANK], rst[IR_MAX_RANK];
	dense_strides(x, xs);
	for (int i = 0; i < x->rank; i++) {
		if (mask[i]) {
			rst[rs.rank] = xs[i];
			rs.d[rs.rank++] = x->d[i];
		} else {
			ost[os.rank] = xs[i];
			os.d[os.rank++] = x->d[i];
		}
	}
	int64_t no = ir_shape_elems(&os), nr = ir_shape_elems(&rs);
	const int64_t *so[3] = { ost, ost, ost };
	const int64_t *sr[3] = { rst, rst, rst };
	ITER_BEGIN(&os, 1, so)
	double acc = op == IR_RPROD ? 1 : op == IR_RMAX ? -INFINITY :
		     op == IR_RMIN ? INFINITY : 0;
	int64_t base = _off[0];
	if (rs.rank == 1 && dt == INFER_DT_FLOAT && (op == IR_RSUM || op == IR_RMEAN)) {
		const float *f = (const float *)src + base;
		float a = 0;
		for (int64_t j = 0; j < nr; j++)
			a += f[j * rst[0]];
		acc = a;
	} else {
		int64_t ri[IR_MAX_RANK] = { 0 }, roff = 0;
		for (int64_t j = 0; j < nr; j++) {
			double v = ld(src, dt, base + roff);
			switch (op) {
			case IR_RMEAN:
			case IR_RSUM: acc += v; break;
			case IR_RMAX: if (v > acc || v != v) acc = v; break;
			case IR_RMIN: if (v < acc || v != v) acc = v; break;
			case IR_RPROD: acc *= v; break;
			}
			for (int d = rs.rank - 1; d >= 0; d--) {
				ri[d]++;
				roff += sr[0][d];
				if (ri[d] < rs.d[d])
					break;
				roff -= sr[0][d] * rs.d[d];
				ri[d] = 0;
			}
		}
	}
	if (op == IR_RMEAN)
		acc = nr ? acc / (double)nr : NAN;
	st(dst, dt, _i, acc);
	ITER_END(&os, 1, so)
	(void)no;
}

static void k_softmax(const struct ir_shape *x, const float *src, int64_t axis,
		      bool lg, float *dst)
{
	int64_t outer = 1, len = x->d[axis], inner = 1;
	for (int i = 0; i < axis; i++)
		outer *= x->d[i];
	for (int i = (int)axis + 1; i < x->rank; i++)
		inner *= x->d[i];
	PAR_FOR(outer * inner > 64,
		for (int64_t o = 0; o < outer; o++)
			for (int64_t in = 0; in < inner; in++) {
				const float *s = src + o * len * inner + in;
				float *d = dst + o * len * inner + in;
				float m = -INFINITY;
				for (int64_t j = 0; j < len; j++)
					m = s[j * inner] > m ? s[j * inner] : m;
				double sum = 0;
				for (int64_t j = 0; j < len; j++) {
					float v = expf(s[j * inner] - m);
					sum += v;
					if (!lg)
						d[j * inner] = v;
				}
				float ls = (float)log(sum);
				for (int64_t j = 0; j < len; j++) {
					if (lg)
						d[j * inner] = s[j * inner] - m - ls;
					else
						d[j * inner] = (float)(d[j * inner] / sum);
				}
			});
}

/* Reference convolution with the node's post-ops.  res (may be NULL or
 * alias y: each element is read before it is written) is the fused
 * residual, added after the first sum_at post-ops. */
static void k_conv_ref(const struct ir_node *n, const struct ir_params *p,
		       const struct ir_shape *xs, const float *x, const float *w,
		       const float *bias, const float *res, const struct ir_shape *os, float *y)
{
	int sum_at = res ? n->a.conv.sum_at : n->a.conv.n_post;
	int64_t N = xs->d[0], H = xs->d[1], W = xs->d[2], C = xs->d[3];
	int64_t OH = os->d[1], OW = os->d[2], O = os->d[3];
	int64_t g = p->groups, ic = C / g, oc = O / g;
	int64_t KH = n->a.conv.kh, KW = n->a.conv.kw;
	for (int64_t b = 0; b < N; b++)
		for (int64_t oy = 0; oy < OH; oy++)
			for (int64_t ox = 0; ox < OW; ox++)
				for (int64_t o = 0; o < O; o++) {
					int64_t gi = o / oc;
					double acc = bias ? bias[o] : 0;
					for (int64_t ky = 0; ky < KH; ky++) {
						int64_t iy = oy * n->a.conv.sh - p->pad[0] + ky * n->a.conv.dh;
						if (iy < 0 || iy >= H)
							continue;
						for (int64_t kx = 0; kx < KW; kx++) {
							int64_t ix = ox * n->a.conv.sw - p->pad[2] + kx * n->a.conv.dw;
							if (ix < 0 || ix >= W)
								continue;
							const float *xp = x + ((b * H + iy) * W + ix) * C + gi * ic;
							const float *wp = w + o * ic * KH * KW + ky * KW + kx;
							for (int64_t i = 0; i < ic; i++)
								acc += (double)xp[i] * wp[i * KH * KW];
						}
					}
					int64_t yi = ((b * OH + oy) * OW + ox) * O + o;
					float v = (float)acc;
					for (int q = 0; q < sum_at; q++)
						v = unf(&n->a.conv.post[q], v);
					if (res) {
						v += res[yi];
						for (int q = sum_at; q < n->a.conv.n_post; q++)
							v = unf(&n->a.conv.post[q], v);
					}
					y[yi] = v;
				}
}

static void k_pool_ref(const struct ir_node *n, const struct ir_params *p,
		       const struct ir_shape *xs, const float *x,
		       const struct ir_shape *os, float *y)
{
	int64_t N = xs->d[0], H = xs->d[1], W = xs->d[2], C = xs->d[3];
	int64_t OH = os->d[1], OW = os->d[2];
	int64_t KH = n->a.pool.global ? H : n->a.pool.kh;
	int64_t KW = n->a.pool.global ? W : n->a.pool.kw;
	int64_t SH = n->a.pool.global ? 1 : n->a.pool.sh;
	int64_t SW = n->a.pool.global ? 1 : n->a.pool.sw;
	for (int64_t b = 0; b < N; b++)
		for (int64_t oy = 0; oy < OH; oy++)
			for (int64_t ox = 0; ox < OW; ox++)
				for (int64_t c = 0; c < C; c++) {
					double acc = n->a.pool.max ? -INFINITY : 0;
					int64_t cnt = 0;
					for (int64_t ky = 0; ky < KH; ky++)
						for (int64_t kx = 0; kx < KW; kx++) {
							int64_t iy = oy * SH - p->pad[0] + ky;
							int64_t ix = ox * SW - p->pad[2] + kx;
							if (iy < 0 || iy >= H || ix < 0 || ix >= W) {
								if (n->a.pool.count_include_pad &&
								    iy < H + p->pad[1] && ix < W + p->pad[3])
									cnt++;
								continue;
							}
							float v = x[((b * H + iy) * W + ix) * C + c];
							if (n->a.pool.max)
								acc = v > acc ? v : acc;
							else
								acc += v;
							cnt++;
						}
					if (!n->a.pool.max)
						acc = cnt ? acc / (double)cnt : 0;
					y[((b * OH + oy) * OW + ox) * C + c] = (float)acc;
				}
}

static void k_matmul_ref(const struct ir_node *n, const struct ir_shape *as,
			 const float *a, const struct ir_shape *bs, const float *b,
			 const struct ir_shape *cs, const float *c,
			 const struct ir_shape *os, float *y)
{
	int r = os->rank;
	int64_t M = os->d[r - 2], N = os->d[r - 1];
	int64_t K = n->a.mm.ta ? as->d[as->rank - 2] : as->d[as->rank - 1];
	struct ir_shape bo = *os, ba = *as, bb = *bs;
	bo.rank -= 2;
	ba.rank -= 2;
	bb.rank -= 2;
	int64_t sa[IR_MAX_RANK], sb[IR_MAX_RANK];
	bstrides(&ba, &bo, sa);
	bstrides(&bb, &bo, sb);
	int64_t nbatch = ir_shape_elems(&bo);
	int64_t idx[IR_MAX_RANK] = { 0 };
	int64_t cstr[IR_MAX_RANK];
	if (c)
		bstrides(cs, os, cstr);
	for (int64_t bi = 0; bi < nbatch; bi++) {
		int64_t oa = 0, ob = 0, rem = bi;
		for (int d = bo.rank - 1; d >= 0; d--) {
			idx[d] = rem % bo.d[d];
			rem /= bo.d[d];
			oa += idx[d] * sa[d];
			ob += idx[d] * sb[d];
		}
		const float *A = a + oa * M * K, *B = b + ob * K * N;
		float *Y = y + bi * M * N;
		PAR_FOR(M * N * K > 1000000,
			for (int64_t i = 0; i < M; i++)
				for (int64_t j = 0; j < N; j++) {
					double acc = 0;
					for (int64_t k = 0; k < K; k++) {
						float av = n->a.mm.ta ? A[k * M + i] : A[i * K + k];
						float bv = n->a.mm.tb ? B[j * K + k] : B[k * N + j];
						acc += (double)av * bv;
					}
					acc *= n->a.mm.alpha;
					if (c) {
						int64_t co = 0, rem2 = (bi * M + i) * N + j;
						for (int d = r - 1; d >= 0; d--) {
							co += (rem2 % os->d[d]) * cstr[d];
							rem2 /= os->d[d];
						}
						acc += (double)n->a.mm.beta * c[co];
					}
					float v = (float)acc;
					for (int q = 0; q < n->a.mm.n_post; q++)
						v = unf(&n->a.mm.post[q], v);
					Y[i * N + j] = v;
				});
	}
}

int ir_kernel_run(const struct ir_node *n, const struct ir_params *p,
		  const enum infer_dtype *in_dt, const struct ir_shape *in_sh,
		  const void *const *in, const enum infer_dtype *out_dt,
		  const struct ir_shape *out_sh, void *const *out)
{
	const struct ir_shape *x = &in_sh[0], *o = &out_sh[0];
	int64_t no = ir_shape_elems(o);
	size_t es = infer_dtype_size(out_dt[0]);
	switch (n->op) {
	case IR_IDENTITY:
	case IR_RESHAPE:
	case IR_SQUEEZE:
	case IR_UNSQUEEZE:
	case IR_FLATTEN:
		if (out[0] != in[0])
			memcpy(out[0], in[0], (size_t)no * es);
		return 0;
	case IR_CONV: {
		const float *bias = n->n_in > 2 && n->in[2] >= 0 && n->a.conv.sum_in != 2 ?
				    in[2] : NULL;
		float *y = out[0];
		const float *res = n->a.conv.sum_in >= 0 && n->a.conv.sum_at >= 0
					   ? in[n->a.conv.sum_in]
					   : NULL;
		k_conv_ref(n, p, x, in[0], in[1], bias, res, o, y);
		return 0;
	}
	case IR_POOL:
		k_pool_ref(n, p, x, in[0], o, out[0]);
		return 0;
	case IR_MATMUL:
		k_matmul_ref(n, x, in[0], &in_sh[1], in[1],
			     n->n_in > 2 && n->in[2] >= 0 ? &in_sh[2] : NULL,
			     n->n_in > 2 && n->in[2] >= 0 ? in[2] : NULL, o, out[0]);
		return 0;
	case IR_BINARY:
		k_binary(n->a.bin.op, in_dt[0], out_dt[0], x, in[0], &in_sh[1], in[1],
			 o, out[0], in_dt[1]);
		return 0;
	case IR_UNARY:
		if (in_dt[0] == INFER_DT_FLOAT) {
			const float *s = in[0];
			float *d = out[0];
			PAR_FOR(no > 65536,
				for (int64_t i = 0; i < no; i++)
					d[i] = unf(&n->a.un, s[i]););
		} else {
			for (int64_t i = 0; i < no; i++) {
				double v = ld(in[0], in_dt[0], i);
				switch (n->a.un.op) {
				case IR_NEG: v = -v; break;
				case IR_ABS: v = fabs(v); break;
				case IR_SQUARE: v = v * v; break;
				case IR_RELU: v = v > 0 ? v : 0; break;
				case IR_SIGN: v = (v > 0) - (v < 0); break;
				case IR_NOT: v = v == 0; break;
				case IR_CLIP: v = v < n->a.un.alpha ? n->a.un.alpha :
						  v > n->a.un.beta ? n->a.un.beta : v; break;
				default: break;
				}
				st(out[0], out_dt[0], i, v);
			}
		}
		return 0;
	case IR_BATCHNORM: {
		int64_t c = x->d[x->rank - 1], rows = c ? no / c : 0;
		const float *s = in[0], *sc = in[1], *of = in[2], *mu = in[3], *var = in[4];
		float *d = out[0];
		/* Per-channel scale and shift in chunks of 512 channels on the
		 * stack: nothing is allocated while a plan runs. */
		enum { BN_CHUNK = 512 };
		float a[2 * BN_CHUNK];
		for (int64_t j0 = 0; j0 < c; j0 += BN_CHUNK) {
			int64_t m = c - j0 < BN_CHUNK ? c - j0 : BN_CHUNK;
			for (int64_t j = 0; j < m; j++) {
				a[j] = sc[j0 + j] / sqrtf(var[j0 + j] + n->a.bn.eps);
				a[BN_CHUNK + j] = of[j0 + j] - mu[j0 + j] * a[j];
			}
			PAR_FOR(no > 65536,
				for (int64_t r = 0; r < rows; r++)
					for (int64_t j = 0; j < m; j++)
						d[r * c + j0 + j] = s[r * c + j0 + j] * a[j] + a[BN_CHUNK + j];);
		}
		return 0;
	}
	case IR_REDUCE:
		k_reduce(n->a.red.op, x, in[0], in_dt[0], p->mask, out[0]);
		return 0;
	case IR_SOFTMAX:
		k_softmax(x, in[0], p->axis, n->a.sm.log, out[0]);
		return 0;
	case IR_PAD: {
		int r = x->rank;
		int64_t xs[IR_MAX_RANK], idx[IR_MAX_RANK] = { 0 };
		dense_strides(x, xs);
		if (n->a.pad.mode == IR_PAD_CONSTANT && r >= 1 && p->pads[r - 1] >= 0 &&
		    p->pads[2 * r - 1] >= 0) {
			/* row by row: fill, then copy the source row if inside */
			int64_t ow = o->d[r - 1], iw = x->d[r - 1], lb = p->pads[r - 1];
			int64_t rows = ow ? no / ow : 0;
			char *dst = out[0];
			for (int64_t row = 0; row < rows; row++) {
				int64_t off = 0;
				bool inside = true;
				for (int d = 0; d < r - 1; d++) {
					int64_t v = idx[d] - p->pads[d];
					if (v < 0 || v >= x->d[d]) {
						inside = false;
						break;
					}
					off += v * xs[d];
				}
				char *drow = dst + row * ow * (int64_t)es;
				if (p->value == 0) {
					if (!inside)
						memset(drow, 0, (size_t)(ow * (int64_t)es));
					else {
						memset(drow, 0, (size_t)(lb * (int64_t)es));
						memset(drow + (lb + iw) * (int64_t)es, 0,
						       (size_t)((ow - lb - iw) * (int64_t)es));
					}
				} else {
					for (int64_t j = 0; j < ow; j++)
						if (!inside || j < lb || j >= lb + iw)
							st(out[0], out_dt[0], row * ow + j, p->value);
				}
				if (inside && iw)
					memcpy(drow + lb * (int64_t)es,
					       (const char *)in[0] + off * (int64_t)es,
					       (size_t)(iw * (int64_t)es));
				for (int d = r - 2; d >= 0; d--) {
					if (++idx[d] < o->d[d])
						break;
					idx[d] = 0;
				}
			}
			return 0;
		}
		for (int64_t i = 0; i < no; i++) {
			int64_t off = 0;
			bool inside = true;
			for (int d = 0; d < r; d++) {
				int64_t v = idx[d] - p->pads[d], len = x->d[d];
				if (v < 0 || v >= len) {
					if (n->a.pad.mode == IR_PAD_CONSTANT) {
						inside = false;
						break;
					}
					if (n->a.pad.mode == IR_PAD_EDGE)
						v = v < 0 ? 0 : len - 1;
					else {
						int64_t sym = n->a.pad.mode == IR_PAD_SYMMETRIC;
						while (v < 0 || v >= len) {
							if (v < 0)
								v = -v - sym;
							if (v >= len)
								v = 2 * len - 2 - v + sym;
						}
					}
				}
				off += v * xs[d];
			}
			if (inside)
				memcpy((char *)out[0] + i * (int64_t)es,
				       (const char *)in[0] + off * (int64_t)es, es);
			else
				st(out[0], out_dt[0], i, p->value);
			for (int d = r - 1; d >= 0; d--) {
				if (++idx[d] < o->d[d])
					break;
				idx[d] = 0;
			}
		}
		return 0;
	}
	case IR_CONCAT:
	case IR_PACK: {
		int64_t outer = 1, inner = 1;
		int r = n->op == IR_PACK ? o->rank : x->rank;
		for (int i = 0; i < p->axis; i++)
			outer *= o->d[i];
		for (int i = (int)p->axis + 1; i < r; i++)
			inner *= o->d[i];
		int64_t orow = o->d[p->axis] * inner;
		int64_t col = 0;
		for (int k = 0; k < p->n_data; k++) {
			int64_t len = (n->op == IR_PACK ? 1 : in_sh[k].d[p->axis]) * inner;
			for (int64_t q = 0; q < outer; q++)
				memcpy((char *)out[0] + (q * orow + col) * (int64_t)es,
				       (const char *)in[k] + q * len * (int64_t)es,
				       (size_t)(len * (int64_t)es));
			col += len;
		}
		return 0;
	}
	case IR_TRANSPOSE:
		k_transpose(x, in[0], p->perm, o, out[0], es);
		return 0;
	case IR_CAST:
		if (ir_dtype_is_int(in_dt[0]) && ir_dtype_is_int(out_dt[0]) &&
		    out_dt[0] != INFER_DT_BOOL) {
			for (int64_t i = 0; i < no; i++)
				sti(out[0], out_dt[0], i, ldi(in[0], in_dt[0], i));
		} else {
			for (int64_t i = 0; i < no; i++)
				st(out[0], out_dt[0], i, ld(in[0], in_dt[0], i));
		}
		return 0;
	case IR_ARGMAX: {
		int64_t outer = 1, len = x->d[p->axis], inner = 1;
		for (int i = 0; i < p->axis; i++)
			outer *= x->d[i];
		for (int i = (int)p->axis + 1; i < x->rank; i++)
			inner *= x->d[i];
		for (int64_t q = 0; q < outer; q++)
			for (int64_t in2 = 0; in2 < inner; in2++) {
				int64_t best = 0;
				double bv = 0;
				for (int64_t j = 0; j < len; j++) {
					double v = ld(in[0], in_dt[0], (q * len + j) * inner + in2);
					bool better = j == 0 || (n->a.arg.min ? v < bv : v > bv) ||
						      (n->a.arg.select_last && v == bv);
					if (better) {
						bv = v;
						best = j;
					}
				}
				sti(out[0], out_dt[0], q * inner + in2, best);
			}
		return 0;
	}
	case IR_SLICE:
	case IR_TF_SLICE:
	case IR_STRIDED_SLICE: {
		int64_t xs[IR_MAX_RANK], ss[IR_MAX_RANK], base = 0;
		dense_strides(x, xs);
		struct ir_shape sl = *x;
		for (int i = 0; i < x->rank; i++) {
			ss[i] = xs[i] * p->step[i];
			base += p->start[i] * xs[i];
			sl.d[i] = n->op == IR_STRIDED_SLICE ? p->len[i] : o->d[i];
		}
		k_copy_strided(in[0], &sl, ss, base, es, out[0]);
		return 0;
	}
	case IR_GATHER: {
		int64_t outer = 1, len = x->d[p->axis], inner = 1;
		for (int i = 0; i < p->axis; i++)
			outer *= x->d[i];
		for (int i = (int)p->axis + 1; i < x->rank; i++)
			inner *= x->d[i];
		int64_t ni = ir_shape_elems(&in_sh[1]);
		for (int64_t q = 0; q < outer; q++)
			for (int64_t j = 0; j < ni; j++) {
				int64_t ix = ldi(in[1], in_dt[1], j);
				if (ix < 0)
					ix += len;
				if (ix < 0 || ix >= len)
					return INFER_E_BAD_INPUT;
				memcpy((char *)out[0] + ((q * ni + j) * inner) * (int64_t)es,
				       (const char *)in[0] + ((q * len + ix) * inner) * (int64_t)es,
				       (size_t)(inner * (int64_t)es));
			}
		return 0;
	}
	case IR_SHAPE:
		for (int i = 0; i < x->rank; i++)
			sti(out[0], out_dt[0], i, x->d[i]);
		return 0;
	case IR_FILL:
		for (int64_t i = 0; i < no; i++)
			memcpy((char *)out[0] + i * (int64_t)es, in[1], es);
		return 0;
	case IR_EXPAND:
	case IR_TILE: {
		int64_t xs[IR_MAX_RANK];
		if (n->op == IR_EXPAND) {
			bstrides(x, o, xs);
			k_copy_strided(in[0], o, xs, 0, es, out[0]);
			return 0;
		}
		dense_strides(x, xs);
		int64_t idx[IR_MAX_RANK] = { 0 };
		for (int64_t i = 0; i < no; i++) {
			int64_t off = 0;
			for (int d = 0; d < o->rank; d++)
				off += (idx[d] % x->d[d]) * xs[d];
			memcpy((char *)out[0] + i * (int64_t)es,
			       (const char *)in[0] + off * (int64_t)es, es);
			for (int d = o->rank - 1; d >= 0; d--) {
				if (++idx[d] < o->d[d])
					break;
				idx[d] = 0;
			}
		}
		return 0;
	}
	case IR_RANGE:
		for (int64_t i = 0; i < no; i++)
			st(out[0], out_dt[0], i, p->rstart + (double)i * p->rdelta);
		return 0;
	case IR_WHERE: {
		int64_t s0[IR_MAX_RANK], s1[IR_MAX_RANK], s2[IR_MAX_RANK];
		bstrides(x, o, s0);
		bstrides(&in_sh[1], o, s1);
		bstrides(&in_sh[2], o, s2);
		const int64_t *s[3] = { s0, s1, s2 };
		ITER_BEGIN(o, 3, s)
		const uint8_t *cnd = in[0];
		const void *src = cnd[_off[0]] ? in[1] : in[2];
		int64_t off = cnd[_off[0]] ? _off[1] : _off[2];
		memcpy((char *)out[0] + _i * (int64_t)es,
		       (const char *)src + off * (int64_t)es, es);
		ITER_END(o, 3, s)
		return 0;
	}
	default:
		return INFER_E_UNSUPPORTED;
	}
}
