/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ONNX importer (default domain, opsets 7-18).
 *
 * Spatial ops run on NHWC tensors in the IR, so an NCHW value produced by a
 * conv, pool or batch norm is kept in NHWC storage ("nhwc" entries below):
 * elementwise ops, broadcasts against constants (which are permuted at
 * import), channel concats and spatial reductions stay in that storage;
 * layout-sensitive consumers (reshape, flatten, gather, ...) get an
 * explicit Transpose back to NCHW, which plans turn into a no-op view when
 * it only moves dimensions of size 1 (the usual GlobalAveragePool ->
 * Flatten).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "onnx.pb-c.h"

struct oval {
	char *name;
	int v;        /* IR value */
	bool nhwc;    /* v holds the NHWC permutation of a 4-D NCHW tensor */
	int rank;     /* static rank, -1 unknown */
	int nchw_v;   /* cached transpose back to NCHW, -1 */
};

struct octx {
	const struct ir_load_ctx *lc;
	struct ir_err *e;
	struct ir_model *im;
	struct oval *vals;
	size_t n_vals, cap_vals;
	struct name_map names; /* value name -> index in vals */
	int64_t opset;
	char *unsup;
	size_t unsup_len, unsup_cap;
	int n_unsup;
	int tmp;
};

static int find(const struct octx *c, const char *name)
{
	return name_map_get(&c->names, name);
}

/* Defines (or redefines) name -> IR value. */
static int define(struct octx *c, const char *name, int v, bool nhwc, int rank)
{
	if (!name || !name[0])
		return 0;
	if (strlen(name) > IR_MAX_NAME)
		return ir_fail(c->e, INFER_E_LIMIT, "value name too long");
	int idx = find(c, name);
	if (idx >= 0) {
		c->vals[idx].v = v;
		c->vals[idx].nhwc = nhwc;
		c->vals[idx].rank = rank;
		c->vals[idx].nchw_v = -1;
		return 0;
	}
	if (c->n_vals >= (size_t)IR_MAX_NODES * 4)
		return ir_fail(c->e, INFER_E_LIMIT, "too many values");
	if (c->n_vals == c->cap_vals) {
		size_t nc = c->cap_vals ? c->cap_vals * 2 : 256;
		struct oval *n = realloc(c->vals, nc * sizeof(*n));
		if (!n)
			return -ENOMEM;
		c->vals = n;
		c->cap_vals = nc;
	}
	struct oval *o = &c->vals[c->n_vals];
	o->name = strdup(name);
	if (!o->name)
		return -ENOMEM;
	o->v = v;
	o->nhwc = nhwc;
	o->rank = rank;
	o->nchw_v = -1;
	int r = name_map_put(&c->names, o->name, (int)c->n_vals);
	if (r < 0) {
		free(o->name);
		return r;
	}
	c->n_vals++;
	return 0;
}

static enum infer_dtype onnx_dtype(int32_t t)
{
	switch (t) {
	case 1: return INFER_DT_FLOAT;
	case 2: return INFER_DT_UINT8;
	case 3: return INFER_DT_INT8;
	case 4: return INFER_DT_UINT16;
	case 5: return INFER_DT_INT16;
	case 6: return INFER_DT_INT32;
	case 7: return INFER_DT_INT64;
	case 9: return INFER_DT_BOOL;
	case 10: return INFER_DT_HALF;
	case 11: return INFER_DT_DOUBLE;
	case 12: return INFER_DT_UINT32;
	case 13: return INFER_DT_UINT64;
	case 16: return INFER_DT_BFLOAT16;
	default: return INFER_DT_INVALID;
	}
}

int onnx_tensor_from_proto(const Onnx__TensorProto *p, struct ir_tensor **ret,
			   struct ir_err *e);
int onnx_tensor_from_proto(const Onnx__TensorProto *p, struct ir_tensor **ret,
			   struct ir_err *e)
{
	const char *nm = p->name ? p->name : "";
	enum infer_dtype dt = onnx_dtype(p->data_type);
	if (dt == INFER_DT_INVALID)
		return ir_fail(e, INFER_E_UNSUPPORTED, "tensor '%s': data type %d", nm,
			       p->data_type);
	if (p->has_data_location && p->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
		return ir_fail(e, INFER_E_UNSUPPORTED, "tensor '%s': external data", nm);
	if (p->segment)
		return ir_fail(e, INFER_E_UNSUPPORTED, "tensor '%s': segments", nm);
	if (p->n_dims > IR_MAX_RANK)
		return ir_fail(e, INFER_E_UNSUPPORTED, "tensor '%s': rank %zu", nm, p->n_dims);
	struct ir_shape s = { (int)p->n_dims, { 0 } };
	for (size_t i = 0; i < p->n_dims; i++) {
		if (p->dims[i] < 0 || p->dims[i] > IR_MAX_DIM)
			return ir_fail(e, INFER_E_INVALID_MODEL, "tensor '%s': bad dims", nm);
		s.d[i] = p->dims[i];
	}
	struct ir_tensor *t;
	int r = ir_tensor_new(dt, &s, &t);
	if (r)
		return ir_fail(e, r, "tensor '%s': too large", nm);
	size_t es = infer_dtype_size(dt), n = t->size / es;
	if (p->has_raw_data) {
		if (p->raw_data.len != t->size) {
			size_t need = t->size;
			ir_tensor_unref(t);
			return ir_fail(e, INFER_E_INVALID_MODEL,
				       "tensor '%s': raw_data has %zu bytes, shape needs %zu", nm,
				       p->raw_data.len, need);
		}
		if (t->size)
			memcpy(t->data, p->raw_data.data, t->size);
		*ret = t;
		return 0;
	}
	size_t have;
	switch (dt) {
	case INFER_DT_FLOAT:
		have = p->n_float_data;
		if (have != n)
			goto bad;
		if (n)
			memcpy(t->data, p->float_data, n * 4);
		break;
	case INFER_DT_DOUBLE:
		have = p->n_double_data;
		if (have != n)
			goto bad;
		if (n)
			memcpy(t->data, p->double_data, n * 8);
		break;
	case INFER_DT_INT64:
		have = p->n_int64_data;
		if (have != n)
			goto bad;
		if (n)
			memcpy(t->data, p->int64_data, n * 8);
		break;
	case INFER_DT_UINT32:
	case INFER_DT_UINT64:
		have = p->n_uint64_data;
		if (have != n)
			goto bad;
		for (size_t i = 0; i < n; i++) {
			if (dt == INFER_DT_UINT32)
				((uint32_t *)t->data)[i] = (uint32_t)p->uint64_data[i];
			else
				((uint64_t *)t->data)[i] = p->uint64_data[i];
		}
		break;
	default:
		have = p->n_int32_data;
		if (have != n)
			goto bad;
		for (size_t i = 0; i < n; i++) {
			int32_t v = p->int32_data[i];
			switch (es) {
			case 1: ((uint8_t *)t->data)[i] = (uint8_t)v; break;
			case 2: ((uint16_t *)t->data)[i] = (uint16_t)v; break;
			default: ((int32_t *)t->data)[i] = v; break;
			}
		}
		break;
	}
	*ret = t;
	return 0;
bad:
	ir_tensor_unref(t);
	return ir_fail(e, INFER_E_INVALID_MODEL, "tensor '%s': %zu values, shape needs %zu",
		       nm, have, n);
}

/* ------------------------------------------------------------------------ */

static const Onnx__AttributeProto *oattr(const Onnx__NodeProto *n, const char *name)
{
	for (size_t i = 0; i < n->n_attribute; i++)
		if (n->attribute[i]->name && !strcmp(n->attribute[i]->name, name))
			return n->attribute[i];
	return NULL;
}

static int64_t oattr_i(const Onnx__NodeProto *n, const char *name, int64_t def)
{
	const Onnx__AttributeProto *a = oattr(n, name);
	return a && a->has_i ? a->i : def;
}

static float oattr_f(const Onnx__NodeProto *n, const char *name, float def)
{
	const Onnx__AttributeProto *a = oattr(n, name);
	return a && a->has_f ? a->f : def;
}

static int oattr_ints(const Onnx__NodeProto *n, const char *name, int64_t *v, int max)
{
	const Onnx__AttributeProto *a = oattr(n, name);
	if (!a)
		return -1;
	if (a->n_ints > (size_t)max)
		return -2;
	for (size_t i = 0; i < a->n_ints; i++)
		v[i] = a->ints[i];
	return (int)a->n_ints;
}

static bool oattr_s_is(const Onnx__NodeProto *n, const char *name, const char *want)
{
	const Onnx__AttributeProto *a = oattr(n, name);
	if (!a || !a->has_s)
		return false;
	size_t l = strlen(want);
	return a->s.len == l && !memcmp(a->s.data, want, l);
}

static void note_unsupported(struct octx *c, const Onnx__NodeProto *n, const char *why)
{
	char line[IR_MAX_NAME + 256];
	int l = snprintf(line, sizeof(line), "%s%s (node '%s'%s%s)", c->n_unsup ? ", " : "",
			 n->op_type ? n->op_type : "?", n->name ? n->name : "",
			 why ? ": " : "", why ? why : "");
	if (l < 0)
		return;
	c->n_unsup++;
	if (c->unsup_len + (size_t)l + 1 > c->unsup_cap) {
		size_t nc = (c->unsup_cap + (size_t)l + 1) * 2;
		if (nc > (1u << 20))
			return;
		char *p = realloc(c->unsup, nc);
		if (!p)
			return;
		c->unsup = p;
		c->unsup_cap = nc;
	}
	memcpy(c->unsup + c->unsup_len, line, (size_t)l + 1);
	c->unsup_len += (size_t)l;
}

static const int64_t TO_NHWC[4] = { 0, 2, 3, 1 }, TO_NCHW[4] = { 0, 3, 1, 2 };

static int add1(struct octx *c, enum ir_op op, const char *name, const char *type,
		const int *in, int n_in)
{
	struct ir_graph *g = &c->im->g;
	char nm[IR_MAX_NAME + 32];
	snprintf(nm, sizeof(nm), "%s", name && name[0] ? name : "");
	if (!nm[0])
		snprintf(nm, sizeof(nm), "%s_%d", type, c->tmp++);
	return ir_add_node(g, op, nm, type, in, n_in, 1, NULL);
}

static int transpose4(struct octx *c, int v, const int64_t *perm, const char *name)
{
	int id = add1(c, IR_TRANSPOSE, name, "Transpose", &v, 1);
	if (id < 0)
		return id;
	struct ir_node *n = &c->im->g.nodes[id];
	n->a.tr.n = 4;
	memcpy(n->a.tr.perm, perm, sizeof(int64_t) * 4);
	return n->out[0];
}

/* IR value of ONNX value `name` in NCHW (plain) form. */
static int get_plain(struct octx *c, const char *name)
{
	if (!name || !name[0])
		return -1;
	int i = find(c, name);
	if (i < 0)
		return INT32_MIN;
	struct oval *o = &c->vals[i];
	if (!o->nhwc)
		return o->v;
	if (o->nchw_v >= 0)
		return o->nchw_v;
	char nm[IR_MAX_NAME + 16];
	snprintf(nm, sizeof(nm), "%s/nchw", name);
	int v = transpose4(c, o->v, TO_NCHW, nm);
	if (v >= 0)
		c->vals[i].nchw_v = v;
	return v;
}

/* IR value of `name` in NHWC storage (inserting a transpose if plain). */
static int get_nhwc(struct octx *c, const char *name)
{
	int i = find(c, name);
	if (i < 0)
		return INT32_MIN;
	struct oval *o = &c->vals[i];
	if (o->nhwc)
		return o->v;
	char nm[IR_MAX_NAME + 16];
	snprintf(nm, sizeof(nm), "%s/nhwc", name);
	int v = transpose4(c, o->v, TO_NHWC, nm);
	if (v < 0)
		return v;
	/* later NHWC consumers reuse it */
	int nv = v;
	c->vals[i].nchw_v = c->vals[i].v;
	c->vals[i].v = nv;
	c->vals[i].nhwc = true;
	return nv;
}

static bool is_nhwc(const struct octx *c, const char *name)
{
	int i = find(c, name);
	return i >= 0 && c->vals[i].nhwc;
}

static int rank_of(const struct octx *c, const char *name)
{
	int i = find(c, name);
	return i >= 0 ? c->vals[i].rank : -1;
}

static struct ir_tensor *const_of(struct octx *c, const char *name)
{
	int i = find(c, name);
	if (i < 0 || c->vals[i].nhwc)
		return NULL;
	return c->im->g.values[c->vals[i].v].cval;
}

/* A constant broadcast to rank 4 and permuted to NHWC, for binary ops with
 * an NHWC operand. */
static int const_to_nhwc(struct octx *c, struct ir_tensor *t, int *ret)
{
	if (t->shape.rank > 4)
		return 1;
	struct ir_shape s4 = { 4, { 1, 1, 1, 1 } };
	for (int i = 0; i < t->shape.rank; i++)
		s4.d[4 - t->shape.rank + i] = t->shape.d[i];
	struct ir_shape o = { 4, { s4.d[0], s4.d[2], s4.d[3], s4.d[1] } };
	struct ir_tensor *n;
	int r = ir_tensor_new(t->dtype, &o, &n);
	if (r)
		return r;
	size_t es = infer_dtype_size(t->dtype);
	for (int64_t a = 0; a < o.d[0]; a++)
		for (int64_t h = 0; h < o.d[1]; h++)
			for (int64_t w = 0; w < o.d[2]; w++)
				for (int64_t ch = 0; ch < o.d[3]; ch++) {
					int64_t src = ((a * s4.d[1] + ch) * s4.d[2] + h) * s4.d[3] + w;
					int64_t dst = ((a * o.d[1] + h) * o.d[2] + w) * o.d[3] + ch;
					memcpy((char *)n->data + dst * (int64_t)es,
					       (char *)t->data + src * (int64_t)es, es);
				}
	int v = ir_add_const(&c->im->g, "nhwc_const", n);
	ir_tensor_unref(n);
	if (v < 0)
		return v;
	*ret = v;
	return 0;
}

static int const_i64(struct octx *c, const int64_t *v, int n, int *ret)
{
	struct ir_shape s = { 1, { n } };
	struct ir_tensor *t;
	int r = ir_tensor_new(INFER_DT_INT64, &s, &t);
	if (r)
		return r;
	memcpy(t->data, v, (size_t)n * sizeof(int64_t));
	int id = ir_add_const(&c->im->g, "ints", t);
	ir_tensor_unref(t);
	if (id < 0)
		return id;
	*ret = id;
	return 0;
}

static int onnx_unary(const char *op, enum ir_unop *u)
{
	static const struct { const char *n; enum ir_unop u; } t[] = {
		{ "Relu", IR_RELU }, { "Sigmoid", IR_SIGMOID }, { "Tanh", IR_TANH },
		{ "Elu", IR_ELU }, { "Selu", IR_SELU }, { "LeakyRelu", IR_LEAKY_RELU },
		{ "HardSigmoid", IR_HARD_SIGMOID }, { "HardSwish", IR_HARD_SWISH },
		{ "Softplus", IR_SOFTPLUS }, { "Exp", IR_EXP }, { "Log", IR_LOG },
		{ "Sqrt", IR_SQRT }, { "Neg", IR_NEG }, { "Abs", IR_ABS },
		{ "Reciprocal", IR_RECIPROCAL }, { "Floor", IR_FLOOR }, { "Ceil", IR_CEIL },
		{ "Round", IR_ROUND }, { "Erf", IR_ERF }, { "Sign", IR_SIGN },
		{ "Not", IR_NOT }, { "Clip", IR_CLIP },
	};
	for (size_t i = 0; i < CC_ARRAY_SIZE(t); i++)
		if (!strcmp(op, t[i].n)) {
			*u = t[i].u;
			return 1;
		}
	return 0;
}

static int onnx_binary(const char *op, enum ir_binop *b)
{
	static const struct { const char *n; enum ir_binop b; } t[] = {
		{ "Add", IR_ADD }, { "Sub", IR_SUB }, { "Mul", IR_MUL }, { "Div", IR_DIV },
		{ "Pow", IR_POW }, { "Max", IR_MAX }, { "Min", IR_MIN }, { "PRelu", IR_PRELU },
		{ "Equal", IR_EQUAL }, { "Less", IR_LESS }, { "Greater", IR_GREATER },
		{ "LessOrEqual", IR_LESS_EQUAL }, { "GreaterOrEqual", IR_GREATER_EQUAL },
		{ "And", IR_AND }, { "Or", IR_OR }, { "Mod", IR_MOD }, { "Mean", IR_ADD },
	};
	for (size_t i = 0; i < CC_ARRAY_SIZE(t); i++)
		if (!strcmp(op, t[i].n)) {
			*b = t[i].b;
			return 1;
		}
	return 0;
}

#define IN(k) (k < (int)n->n_input ? n->input[k] : NULL)
#define HAS(k) (IN(k) && IN(k)[0])

static int pads_attr(struct octx *c, const Onnx__NodeProto *n, enum ir_padding *pm,
		     int64_t pad[4])
{
	int64_t p[8];
	pad[0] = pad[1] = pad[2] = pad[3] = 0;
	*pm = IR_PADDING_EXPLICIT;
	if (oattr_s_is(n, "auto_pad", "SAME_UPPER"))
		*pm = IR_PADDING_SAME_UPPER;
	else if (oattr_s_is(n, "auto_pad", "SAME_LOWER"))
		*pm = IR_PADDING_SAME_LOWER;
	else if (oattr_s_is(n, "auto_pad", "VALID"))
		*pm = IR_PADDING_VALID;
	int np = oattr_ints(n, "pads", p, 8);
	if (np == 4 && *pm == IR_PADDING_EXPLICIT) {
		pad[0] = p[0];
		pad[2] = p[1];
		pad[1] = p[2];
		pad[3] = p[3];
		for (int i = 0; i < 4; i++)
			if (pad[i] < 0 || pad[i] > 65536)
				return ir_fail(c->e, INFER_E_INVALID_MODEL, "node '%s': bad pads",
					       n->name ? n->name : "");
	} else if (np != -1 && np != 4) {
		return 1;
	}
	return 0;
}

/* Converts one node; returns 1 for unsupported (noted), <0 on error. */
static int convert(struct octx *c, const Onnx__NodeProto *n)
{
	struct ir_graph *g = &c->im->g;
	const char *op = n->op_type ? n->op_type : "";
	const char *nm = n->name ? n->name : "";
	if (n->domain && n->domain[0] && strcmp(n->domain, "ai.onnx")) {
		note_unsupported(c, n, "custom domain");
		return 1;
	}
	if (n->n_input > IR_MAX_INPUTS || n->n_output > 64)
		return ir_fail(c->e, INFER_E_LIMIT, "node '%s': too many inputs", nm);
	for (size_t k = 0; k < n->n_input; k++)
		if (n->input[k] && n->input[k][0] && find(c, n->input[k]) < 0)
			return ir_fail(c->e, INFER_E_INVALID_MODEL,
				       "node '%s' (%s): input '%s' is not defined before it "
				       "(graph not sorted, or a cycle)", nm, op, n->input[k]);
	if (n->n_output < 1)
		return ir_fail(c->e, INFER_E_INVALID_MODEL, "node '%s' has no output", nm);
	{
		static const struct { const char *op; int k; } need[] = {
			{ "Conv", 2 }, { "BatchNormalization", 5 }, { "Gemm", 2 },
			{ "MatMul", 2 }, { "Reshape", 2 }, { "Gather", 2 }, { "Slice", 1 },
			{ "Expand", 2 }, { "Tile", 2 }, { "Where", 3 }, { "Range", 3 },
			{ "Add", 2 }, { "Sub", 2 }, { "Mul", 2 }, { "Div", 2 }, { "Pow", 2 },
			{ "PRelu", 2 }, { "Equal", 2 }, { "Less", 2 }, { "Greater", 2 },
			{ "LessOrEqual", 2 }, { "GreaterOrEqual", 2 }, { "And", 2 },
			{ "Or", 2 }, { "Mod", 2 }, { "Constant", 0 }, { "ConstantOfShape", 1 },
		};
		static const char *const one[] = {
			"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Identity",
			"Dropout", "Flatten", "Squeeze", "Unsqueeze", "Concat", "Transpose",
			"Softmax", "LogSoftmax", "Pad", "ReduceMean", "ReduceSum", "ReduceMax",
			"ReduceMin", "ReduceProd", "Cast", "Shape", "ArgMax", "ArgMin", "Sum",
			"Mean", "Max", "Min",
		};
		enum ir_unop uu;
		int k = onnx_unary(op, &uu) ? 1 : 0;
		for (size_t i = 0; i < CC_ARRAY_SIZE(one); i++)
			if (!strcmp(op, one[i]))
				k = 1;
		for (size_t i = 0; i < CC_ARRAY_SIZE(need); i++)
			if (!strcmp(op, need[i].op))
				k = need[i].k;
		if (!strcmp(op, "Slice") && c->opset >= 10)
			k = 3;
		for (int i = 0; i < k; i++)
			if (!HAS(i))
				return ir_fail(c->e, INFER_E_INVALID_MODEL,
					       "node '%s' (%s): input %d missing", nm, op, i);
	}
	const char *out = n->output[0];
	int id, v;
	enum ir_unop u;
	enum ir_binop b;

	if (!strcmp(op, "Conv")) {
		int64_t ks[4], st[4] = { 1, 1 }, dl[4] = { 1, 1 };
		int nk = oattr_ints(n, "kernel_shape", ks, 4);
		struct ir_tensor *w = HAS(1) ? const_of(c, IN(1)) : NULL;
		if (w && (w->shape.rank != 4 || w->dtype != INFER_DT_FLOAT)) {
			note_unsupported(c, n, "only 2-D convolutions with float weights");
			return 1;
		}
		if (nk == -1 && w) {
			ks[0] = w->shape.d[2];
			ks[1] = w->shape.d[3];
			nk = 2;
		}
		if (nk != 2 || (oattr_ints(n, "strides", st, 4) > 0 && st[0] < 1) ||
		    oattr_ints(n, "strides", st, 4) == -2 || oattr_ints(n, "dilations", dl, 4) == -2) {
			note_unsupported(c, n, "only 2-D convolutions");
			return 1;
		}
		int x = get_nhwc(c, IN(0));
		if (x < 0)
			return x;
		int in[3] = { x, get_plain(c, IN(1)), HAS(2) ? get_plain(c, IN(2)) : -1 };
		id = add1(c, IR_CONV, nm, op, in, 3);
		if (id < 0)
			return id;
		struct ir_node *cn = &g->nodes[id];
		cn->a.conv.kh = ks[0];
		cn->a.conv.kw = ks[1];
		cn->a.conv.sh = st[0];
		cn->a.conv.sw = st[1];
		cn->a.conv.dh = dl[0];
		cn->a.conv.dw = dl[1];
		cn->a.conv.groups = oattr_i(n, "group", 1);
		if (cn->a.conv.groups < 1 || st[0] < 1 || st[1] < 1 || dl[0] < 1 || dl[1] < 1 ||
		    st[0] > 1024 || st[1] > 1024 || dl[0] > 1024 || dl[1] > 1024)
			return ir_fail(c->e, INFER_E_INVALID_MODEL, "Conv '%s': bad attributes", nm);
		int r = pads_attr(c, n, &cn->a.conv.padding, cn->a.conv.pad);
		if (r)
			return r < 0 ? r : (note_unsupported(c, n, "pads"), 1);
		return define(c, out, g->nodes[id].out[0], true, 4);
	}
	if (!strcmp(op, "MaxPool") || !strcmp(op, "AveragePool")) {
		int64_t ks[4], st[4] = { 1, 1 }, dl[4] = { 1, 1 };
		if (oattr_ints(n, "kernel_shape", ks, 4) != 2 || n->n_output > 1 ||
		    oattr_i(n, "ceil_mode", 0) || oattr_ints(n, "strides", st, 4) == -2 ||
		    (oattr_ints(n, "dilations", dl, 4) > 0 && (dl[0] != 1 || dl[1] != 1))) {
			note_unsupported(c, n, "only 2-D pooling without ceil_mode, dilation or indices");
			return 1;
		}
		int x = get_nhwc(c, IN(0));
		if (x < 0)
			return x;
		id = add1(c, IR_POOL, nm, op, &x, 1);
		if (id < 0)
			return id;
		struct ir_node *pn = &g->nodes[id];
		pn->a.pool.max = op[0] == 'M';
		pn->a.pool.kh = ks[0];
		pn->a.pool.kw = ks[1];
		pn->a.pool.sh = st[0];
		pn->a.pool.sw = st[1];
		pn->a.pool.count_include_pad = oattr_i(n, "count_include_pad", 0) != 0;
		if (ks[0] < 1 || ks[1] < 1 || st[0] < 1 || st[1] < 1 || ks[0] > 65536 ||
		    ks[1] > 65536 || st[0] > 65536 || st[1] > 65536)
			return ir_fail(c->e, INFER_E_INVALID_MODEL, "%s '%s': bad attributes", op, nm);
		int r = pads_attr(c, n, &pn->a.pool.padding, pn->a.pool.pad);
		if (r)
			return r < 0 ? r : (note_unsupported(c, n, "pads"), 1);
		return define(c, out, g->nodes[id].out[0], true, 4);
	}
	if (!strcmp(op, "GlobalAveragePool") || !strcmp(op, "GlobalMaxPool")) {
		int x = get_nhwc(c, IN(0));
		if (x < 0)
			return x;
		id = add1(c, IR_POOL, nm, op, &x, 1);
		if (id < 0)
			return id;
		g->nodes[id].a.pool.global = true;
		g->nodes[id].a.pool.max = op[6] == 'M';
		return define(c, out, g->nodes[id].out[0], true, 4);
	}
	if (!strcmp(op, "BatchNormalization")) {
		if (n->n_input != 5 || n->n_output > 1 || oattr_i(n, "training_mode", 0)) {
			note_unsupported(c, n, "training mode");
			return 1;
		}
		bool four = rank_of(c, IN(0)) != 2;
		int x = four ? get_nhwc(c, IN(0)) : get_plain(c, IN(0));
		if (x < 0)
			return x;
		int in[5] = { x, get_plain(c, IN(1)), get_plain(c, IN(2)), get_plain(c, IN(3)),
			      get_plain(c, IN(4)) };
		id = add1(c, IR_BATCHNORM, nm, op, in, 5);
		if (id < 0)
			return id;
		g->nodes[id].a.bn.eps = oattr_f(n, "epsilon", 1e-5f);
		return define(c, out, g->nodes[id].out[0], four, four ? 4 : 2);
	}
	if (onnx_unary(op, &u)) {
		bool nh = is_nhwc(c, IN(0));
		int x = nh ? get_nhwc(c, IN(0)) : get_plain(c, IN(0));
		if (x < 0)
			return x;
		id = add1(c, IR_UNARY, nm, op, &x, 1);
		if (id < 0)
			return id;
		struct ir_act *a = &g->nodes[id].a.un;
		a->op = u;
		switch (u) {
		case IR_ELU: a->alpha = oattr_f(n, "alpha", 1.0f); break;
		case IR_LEAKY_RELU: a->alpha = oattr_f(n, "alpha", 0.01f); break;
		case IR_SELU:
			a->alpha = oattr_f(n, "alpha", 1.67326319217681884765625f);
			a->beta = oattr_f(n, "gamma", 1.05070102214813232421875f);
			break;
		case IR_HARD_SIGMOID:
			a->alpha = oattr_f(n, "alpha", 0.2f);
			a->beta = oattr_f(n, "beta", 0.5f);
			break;
		case IR_CLIP:
			a->alpha = -INFINITY;
			a->beta = INFINITY;
			if (c->opset < 11) {
				a->alpha = oattr_f(n, "min", -3.402823e38f);
				a->beta = oattr_f(n, "max", 3.402823e38f);
			} else {
				for (int k = 1; k <= 2; k++) {
					if (!HAS(k))
						continue;
					struct ir_tensor *t = const_of(c, IN(k));
					if (!t || ir_shape_elems(&t->shape) != 1) {
						/* runtime bounds: Min(Max(x, lo), hi) */
						g->nodes[id].dead = true;
						int acc = x;
						for (int q = 1; q <= 2; q++) {
							if (!HAS(q))
								continue;
							int in2[2] = { acc, get_plain(c, IN(q)) };
							if (nh && const_of(c, IN(q)))
								in2[1] = get_plain(c, IN(q));
							int bid = add1(c, IR_BINARY, NULL, "Clip", in2, 2);
							if (bid < 0)
								return bid;
							g->nodes[bid].a.bin.op = q == 1 ? IR_MAX : IR_MIN;
							acc = g->nodes[bid].out[0];
						}
						return define(c, out, acc, nh, rank_of(c, IN(0)));
					}
					float val = (float)ir_tensor_getf(t, 0);
					if (k == 1)
						a->alpha = val;
					else
						a->beta = val;
				}
			}
			break;
		default: break;
		}
		return define(c, out, g->nodes[id].out[0], nh, rank_of(c, IN(0)));
	}
	if (onnx_binary(op, &b) || !strcmp(op, "Sum")) {
		if (!strcmp(op, "Sum"))
			b = IR_ADD;
		if (b == IR_MOD && oattr_i(n, "fmod", 0))
			b = IR_FMOD;
		bool mean = !strcmp(op, "Mean");
		int ni = (int)n->n_input;
		if (ni < 1 || (ni != 2 && strcmp(op, "Max") && strcmp(op, "Min") && strcmp(op, "Sum") &&
			       !mean)) {
			note_unsupported(c, n, "input count");
			return 1;
		}
		bool any = false;
		for (int k = 0; k < ni; k++)
			any |= is_nhwc(c, IN(k));
		/* NHWC operands need every other operand in NHWC too */
		int vals[64];
		if (ni > 64) {
			note_unsupported(c, n, "too many inputs");
			return 1;
		}
		bool nh = any;
		for (int k = 0; k < ni && nh; k++) {
			if (is_nhwc(c, IN(k)))
				continue;
			struct ir_tensor *t = const_of(c, IN(k));
			if (!t && rank_of(c, IN(k)) != 4)
				nh = false;
			if (t && t->shape.rank > 4)
				nh = false;
		}
		for (int k = 0; k < ni; k++) {
			if (!nh) {
				vals[k] = get_plain(c, IN(k));
			} else if (is_nhwc(c, IN(k))) {
				vals[k] = get_nhwc(c, IN(k));
			} else {
				struct ir_tensor *t = const_of(c, IN(k));
				if (t) {
					int r = const_to_nhwc(c, t, &vals[k]);
					if (r)
						return r < 0 ? r : ir_fail(c->e, INFER_E_INVALID_MODEL, "x");
				} else {
					vals[k] = get_nhwc(c, IN(k));
				}
			}
			if (vals[k] < 0)
				return vals[k] == INT32_MIN ? INFER_E_INVALID_MODEL : vals[k];
		}
		int acc = vals[0];
		if (ni == 1) {
			return define(c, out, acc, nh, rank_of(c, IN(0)));
		}
		for (int k = 1; k < ni; k++) {
			int in2[2] = { acc, vals[k] };
			id = add1(c, IR_BINARY, k + 1 == ni && !mean ? nm : NULL, op, in2, 2);
			if (id < 0)
				return id;
			g->nodes[id].a.bin.op = b;
			acc = g->nodes[id].out[0];
		}
		if (mean) {
			struct ir_shape s0 = { 0, { 0 } };
			struct ir_tensor *t;
			int r = ir_tensor_new(INFER_DT_FLOAT, &s0, &t);
			if (r)
				return r;
			*(float *)t->data = 1.0f / (float)ni;
			int cv = ir_add_const(g, "mean_scale", t);
			ir_tensor_unref(t);
			if (cv < 0)
				return cv;
			int in2[2] = { acc, cv };
			id = add1(c, IR_BINARY, nm, op, in2, 2);
			if (id < 0)
				return id;
			g->nodes[id].a.bin.op = IR_MUL;
			acc = g->nodes[id].out[0];
		}
		int rk = rank_of(c, IN(0)) > rank_of(c, IN(1)) ? rank_of(c, IN(0)) : rank_of(c, IN(1));
		return define(c, out, acc, nh, nh ? 4 : (rank_of(c, IN(0)) < 0 || rank_of(c, IN(1)) < 0 ? -1 : rk));
	}
	if (!strcmp(op, "Identity") || !strcmp(op, "Dropout")) {
		int i = find(c, IN(0));
		if (op[0] == 'D' && (HAS(2) || (c->opset < 7 && oattr_i(n, "is_test", 0) == 0))) {
			struct ir_tensor *tm = HAS(2) ? const_of(c, IN(2)) : NULL;
			if (!tm || ir_tensor_geti(tm, 0) != 0) {
				note_unsupported(c, n, "training mode");
				return 1;
			}
		}
		if (n->n_output > 1 && n->output[1] && n->output[1][0]) {
			note_unsupported(c, n, "mask output");
			return 1;
		}
		return define(c, out, c->vals[i].v, c->vals[i].nhwc, c->vals[i].rank);
	}
	if (!strcmp(op, "Gemm") || !strcmp(op, "MatMul")) {
		int in[3] = { get_plain(c, IN(0)), get_plain(c, IN(1)), HAS(2) ? get_plain(c, IN(2)) : -1 };
		if (in[0] < 0 || in[1] < 0)
			return INFER_E_INVALID_MODEL;
		id = add1(c, IR_MATMUL, nm, op, in, op[0] == 'G' ? 3 : 2);
		if (id < 0)
			return id;
		struct ir_node *mn = &g->nodes[id];
		mn->a.mm.alpha = 1;
		mn->a.mm.beta = 1;
		if (op[0] == 'G') {
			mn->a.mm.ta = oattr_i(n, "transA", 0) != 0;
			mn->a.mm.tb = oattr_i(n, "transB", 0) != 0;
			mn->a.mm.alpha = oattr_f(n, "alpha", 1.0f);
			mn->a.mm.beta = oattr_f(n, "beta", 1.0f);
		}
		return define(c, out, mn->out[0], false, op[0] == 'G' ? 2 : -1);
	}
	if (!strcmp(op, "Flatten")) {
		int x = get_plain(c, IN(0));
		id = add1(c, IR_FLATTEN, nm, op, &x, 1);
		if (id < 0)
			return id;
		g->nodes[id].a.flat.axis = oattr_i(n, "axis", 1);
		return define(c, out, g->nodes[id].out[0], false, 2);
	}
	if (!strcmp(op, "Reshape")) {
		int in[2] = { get_plain(c, IN(0)), -1 };
		int nin = 1;
		if (c->opset < 5) {
			note_unsupported(c, n, "opset < 5");
			return 1;
		}
		in[1] = get_plain(c, IN(1));
		nin = 2;
		id = add1(c, IR_RESHAPE, nm, op, in, nin);
		if (id < 0)
			return id;
		g->nodes[id].a.reshape.allowzero = oattr_i(n, "allowzero", 0) != 0;
		struct ir_tensor *t = const_of(c, IN(1));
		return define(c, out, g->nodes[id].out[0], false,
			      t ? (int)ir_shape_elems(&t->shape) : -1);
	}
	if (!strcmp(op, "Squeeze") || !strcmp(op, "Unsqueeze")) {
		int in[2] = { get_plain(c, IN(0)), HAS(1) ? get_plain(c, IN(1)) : -1 };
		id = add1(c, op[0] == 'S' ? IR_SQUEEZE : IR_UNSQUEEZE, nm, op, in, HAS(1) ? 2 : 1);
		if (id < 0)
			return id;
		struct ir_node *sn = &g->nodes[id];
		int na = oattr_ints(n, "axes", sn->a.sq.axes, IR_MAX_RANK);
		if (na == -2)
			return ir_fail(c->e, INFER_E_INVALID_MODEL, "'%s': too many axes", nm);
		sn->a.sq.n_axes = na < 0 ? 0 : na;
		if (op[0] == 'U' && na <= 0 && !HAS(1))
			return ir_fail(c->e, INFER_E_INVALID_MODEL, "Unsqueeze '%s': no axes", nm);
		return define(c, out, sn->out[0], false, -1);
	}
	if (!strcmp(op, "Concat")) {
		int ni = (int)n->n_input;
		int64_t axis = oattr_i(n, "axis", INT64_MIN);
		if (axis == INT64_MIN || ni < 1 || ni > 64)
			return ir_fail(c->e, INFER_E_INVALID_MODEL, "Concat '%s': bad axis/inputs", nm);
		bool all = true;
		for (int k = 0; k < ni; k++)
			all &= is_nhwc(c, IN(k));
		bool nh = all && (axis == 1 || axis == -3);
		int in[65];
		for (int k = 0; k < ni; k++) {
			in[k] = nh ? get_nhwc(c, IN(k)) : get_plain(c, IN(k));
			if (in[k] < 0)
				return INFER_E_INVALID_MODEL;
		}
		int64_t ax = nh ? 3 : axis;
		if (const_i64(c, &ax, 1, &in[ni]))
			return -ENOMEM;
		id = add1(c, IR_CONCAT, nm, op, in, ni + 1);
		if (id < 0)
			return id;
		g->nodes[id].a.cat.axis = INT64_MIN;
		return define(c, out, g->nodes[id].out[0], nh, rank_of(c, IN(0)));
	}
	if (!strcmp(op, "Transpose")) {
		int64_t perm[IR_MAX_RANK];
		int np = oattr_ints(n, "perm", perm, IR_MAX_RANK);
		if (np == 4 && is_nhwc(c, IN(0)) && perm[0] == 0 && perm[1] == 2 &&
		    perm[2] == 3 && perm[3] == 1)
			return define(c, out, get_nhwc(c, IN(0)), false, 4);
		int x = get_plain(c, IN(0));
		id = add1(c, IR_TRANSPOSE, nm, op, &x, 1);
		if (id < 0)
			return id;
		if (np == -2)
			return ir_fail(c->e, INFER_E_INVALID_MODEL, "Transpose '%s': perm", nm);
		if (np > 0) {
			g->nodes[id].a.tr.n = np;
			memcpy(g->nodes[id].a.tr.perm, perm, sizeof(int64_t) * (size_t)np);
		}
		return define(c, out, g->nodes[id].out[0], false, rank_of(c, IN(0)));
	}
	if (!strcmp(op, "Softmax") || !strcmp(op, "LogSoftmax")) {
		int64_t axis = oattr_i(n, "axis", c->opset < 13 ? 1 : -1);
		int x = get_plain(c, IN(0));
		bool lg = op[0] == 'L';
		if (c->opset < 13 && !(axis == -1 || axis == rank_of(c, IN(0)) - 1)) {
			/* legacy: softmax over the flattened trailing dims */
			id = add1(c, IR_FLATTEN, NULL, "Flatten", &x, 1);
			if (id < 0)
				return id;
			g->nodes[id].a.flat.axis = axis;
			int f = g->nodes[id].out[0];
			id = add1(c, IR_SOFTMAX, NULL, op, &f, 1);
			if (id < 0)
				return id;
			g->nodes[id].a.sm.axis = 1;
			g->nodes[id].a.sm.log = lg;
			int sm = g->nodes[id].out[0];
			id = add1(c, IR_SHAPE, NULL, "Shape", &x, 1);
			if (id < 0)
				return id;
			g->nodes[id].a.shape.out = INFER_DT_INT64;
			int in2[2] = { sm, g->nodes[id].out[0] };
			id = add1(c, IR_RESHAPE, nm, "Reshape", in2, 2);
			if (id < 0)
				return id;
			g->nodes[id].a.reshape.allowzero = true;
			return define(c, out, g->nodes[id].out[0], false, rank_of(c, IN(0)));
		}
		id = add1(c, IR_SOFTMAX, nm, op, &x, 1);
		if (id < 0)
			return id;
		g->nodes[id].a.sm.axis = axis;
		g->nodes[id].a.sm.log = lg;
		return define(c, out, g->nodes[id].out[0], false, rank_of(c, IN(0)));
	}
	if (!strcmp(op, "Pad")) {
		int in[3] = { get_plain(c, IN(0)), -1, -1 };
		int nin = 1;
		if (c->opset >= 11) {
			in[1] = get_plain(c, IN(1));
			nin = 2;
			if (HAS(2)) {
				in[2] = get_plain(c, IN(2));
				nin = 3;
			}
		}
		id = add1(c, IR_PAD, nm, op, in, nin);
		if (id < 0)
			return id;
		struct ir_node *pn = &g->nodes[id];
		pn->a.pad.mode = oattr_s_is(n, "mode", "reflect") ? IR_PAD_REFLECT :
				 oattr_s_is(n, "mode", "edge") ? IR_PAD_EDGE : IR_PAD_CONSTANT;
		if (c->opset < 11) {
			int np = oattr_ints(n, "pads", pn->a.pad.pads, 2 * IR_MAX_RANK);
			if (np < 0)
				return ir_fail(c->e, INFER_E_INVALID_MODEL, "Pad '%s': pads", nm);
			pn->a.pad.n_pads = np;
			pn->a.pad.value = oattr_f(n, "value", 0);
		}
		return define(c, out, pn->out[0], false, rank_of(c, IN(0)));
	}
	if (!strncmp(op, "Reduce", 6)) {
		enum ir_reduce ro;
		if (!strcmp(op, "ReduceMean"))
			ro = IR_RMEAN;
		else if (!strcmp(op, "ReduceSum"))
			ro = IR_RSUM;
		else if (!strcmp(op, "ReduceMax"))
			ro = IR_RMAX;
		else if (!strcmp(op, "ReduceMin"))
			ro = IR_RMIN;
		else if (!strcmp(op, "ReduceProd"))
			ro = IR_RPROD;
		else {
			note_unsupported(c, n, NULL);
			return 1;
		}
		int64_t ax[IR_MAX_RANK];
		int na = oattr_ints(n, "axes", ax, IR_MAX_RANK);
		if (na == -2)
			return ir_fail(c->e, INFER_E_INVALID_MODEL, "'%s': axes", nm);
		bool keep = oattr_i(n, "keepdims", 1) != 0;
		bool nh = false;
		if (is_nhwc(c, IN(0)) && na == 2 && keep) {
			int64_t a0 = ax[0] < 0 ? ax[0] + 4 : ax[0], a1 = ax[1] < 0 ? ax[1] + 4 : ax[1];
			if ((a0 == 2 && a1 == 3) || (a0 == 3 && a1 == 2)) {
				nh = true;
				ax[0] = 1;
				ax[1] = 2;
			}
		}
		int in[2] = { nh ? get_nhwc(c, IN(0)) : get_plain(c, IN(0)),
			      HAS(1) ? get_plain(c, IN(1)) : -1 };
		id = add1(c, IR_REDUCE, nm, op, in, HAS(1) ? 2 : 1);
		if (id < 0)
			return id;
		struct ir_node *rn = &g->nodes[id];
		rn->a.red.op = ro;
		rn->a.red.keepdims = keep;
		rn->a.red.noop_empty = oattr_i(n, "noop_with_empty_axes", 0) != 0;
		if (na > 0) {
			rn->a.red.n_axes = na;
			memcpy(rn->a.red.axes, ax, sizeof(int64_t) * (size_t)na);
		}
		return define(c, out, rn->out[0], nh, nh ? 4 : -1);
	}
	if (!strcmp(op, "Cast")) {
		bool nh = is_nhwc(c, IN(0));
		int x = nh ? get_nhwc(c, IN(0)) : get_plain(c, IN(0));
		id = add1(c, IR_CAST, nm, op, &x, 1);
		if (id < 0)
			return id;
		g->nodes[id].a.cast.to = onnx_dtype((int32_t)oattr_i(n, "to", 0));
		if (g->nodes[id].a.cast.to == INFER_DT_HALF || g->nodes[id].a.cast.to == INFER_DT_BFLOAT16 ||
		    g->nodes[id].a.cast.to == INFER_DT_INVALID) {
			note_unsupported(c, n, "target type");
			return 1;
		}
		return define(c, out, g->nodes[id].out[0], nh, rank_of(c, IN(0)));
	}
	if (!strcmp(op, "Shape")) {
		if (oattr(n, "start") || oattr(n, "end")) {
			note_unsupported(c, n, "start/end");
			return 1;
		}
		bool nh = is_nhwc(c, IN(0));
		int x = nh ? get_nhwc(c, IN(0)) : get_plain(c, IN(0));
		id = add1(c, IR_SHAPE, nh ? NULL : nm, op, &x, 1);
		if (id < 0)
			return id;
		g->nodes[id].a.shape.out = INFER_DT_INT64;
		v = g->nodes[id].out[0];
		if (nh) { /* NHWC dims -> NCHW order */
			int idx;
			int64_t perm[4] = { 0, 3, 1, 2 };
			if (const_i64(c, perm, 4, &idx))
				return -ENOMEM;
			int in2[2] = { v, idx };
			id = add1(c, IR_GATHER, nm, "Gather", in2, 2);
			if (id < 0)
				return id;
			g->nodes[id].a.gather.has_axis = true;
			v = g->nodes[id].out[0];
		}
		return define(c, out, v, false, 1);
	}
	if (!strcmp(op, "Gather")) {
		int in[2] = { get_plain(c, IN(0)), get_plain(c, IN(1)) };
		id = add1(c, IR_GATHER, nm, op, in, 2);
		if (id < 0)
			return id;
		g->nodes[id].a.gather.has_axis = true;
		g->nodes[id].a.gather.axis = oattr_i(n, "axis", 0);
		return define(c, out, g->nodes[id].out[0], false, -1);
	}
	if (!strcmp(op, "Slice")) {
		int in[5] = { get_plain(c, IN(0)), -1, -1, -1, -1 };
		int nin = 3;
		if (c->opset < 10) {
			int64_t st[IR_MAX_RANK], en[IR_MAX_RANK], ax[IR_MAX_RANK];
			int ns = oattr_ints(n, "starts", st, IR_MAX_RANK);
			int ne = oattr_ints(n, "ends", en, IR_MAX_RANK);
			int na = oattr_ints(n, "axes", ax, IR_MAX_RANK);
			if (ns < 0 || ne != ns || (na != -1 && na != ns))
				return ir_fail(c->e, INFER_E_INVALID_MODEL, "Slice '%s': attributes", nm);
			if (const_i64(c, st, ns, &in[1]) || const_i64(c, en, ne, &in[2]))
				return -ENOMEM;
			if (na > 0) {
				if (const_i64(c, ax, na, &in[3]))
					return -ENOMEM;
				nin = 4;
			}
		} else {
			for (int k = 1; k < 5 && k < (int)n->n_input; k++) {
				in[k] = HAS(k) ? get_plain(c, IN(k)) : -1;
				nin = k + 1;
			}
		}
		id = add1(c, IR_SLICE, nm, op, in, nin);
		if (id < 0)
			return id;
		return define(c, out, g->nodes[id].out[0], false, rank_of(c, IN(0)));
	}
	if (!strcmp(op, "ArgMax") || !strcmp(op, "ArgMin")) {
		int x = get_plain(c, IN(0));
		id = add1(c, IR_ARGMAX, nm, op, &x, 1);
		if (id < 0)
			return id;
		struct ir_node *an = &g->nodes[id];
		an->a.arg.has_axis = true;
		an->a.arg.axis = oattr_i(n, "axis", 0);
		an->a.arg.keepdims = oattr_i(n, "keepdims", 1) != 0;
		an->a.arg.select_last = oattr_i(n, "select_last_index", 0) != 0;
		an->a.arg.min = op[3] == 'M' && op[4] == 'i';
		an->a.arg.out = INFER_DT_INT64;
		return define(c, out, an->out[0], false, -1);
	}
	if (!strcmp(op, "Constant")) {
		const Onnx__AttributeProto *a = n->n_attribute == 1 ? n->attribute[0] : NULL;
		struct ir_tensor *t = NULL;
		int r;
		if (!a || !a->name)
			return ir_fail(c->e, INFER_E_INVALID_MODEL, "Constant '%s': no value", nm);
		if (!strcmp(a->name, "value") && a->t) {
			r = onnx_tensor_from_proto(a->t, &t, c->e);
		} else if (!strcmp(a->name, "value_float") || !strcmp(a->name, "value_int")) {
			bool f = a->name[6] == 'f';
			struct ir_shape s = { 0, { 0 } };
			r = ir_tensor_new(f ? INFER_DT_FLOAT : INFER_DT_INT64, &s, &t);
			if (!r) {
				if (f)
					*(float *)t->data = a->f;
				else
					*(int64_t *)t->data = a->i;
			}
		} else if (!strcmp(a->name, "value_floats") || !strcmp(a->name, "value_ints")) {
			bool f = a->name[6] == 'f';
			size_t cnt = f ? a->n_floats : a->n_ints;
			if (cnt > (size_t)IR_MAX_DIM)
				return ir_fail(c->e, INFER_E_LIMIT, "Constant '%s': too large", nm);
			struct ir_shape s = { 1, { (int64_t)cnt } };
			r = ir_tensor_new(f ? INFER_DT_FLOAT : INFER_DT_INT64, &s, &t);
			if (!r && cnt)
				memcpy(t->data, f ? (void *)a->floats : (void *)a->ints,
				       cnt * (f ? 4 : 8));
		} else {
			note_unsupported(c, n, "value kind");
			return 1;
		}
		if (r)
			return r;
		v = ir_add_const(g, nm[0] ? nm : out, t);
		int rk = t->shape.rank;
		ir_tensor_unref(t);
		if (v < 0)
			return v;
		return define(c, out, v, false, rk);
	}
	if (!strcmp(op, "ConstantOfShape")) {
		struct ir_tensor *t = NULL;
		const Onnx__AttributeProto *a = oattr(n, "value");
		int r;
		if (a && a->t) {
			r = onnx_tensor_from_proto(a->t, &t, c->e);
			if (!r && ir_shape_elems(&t->shape) != 1) {
				ir_tensor_unref(t);
				return ir_fail(c->e, INFER_E_INVALID_MODEL,
					       "ConstantOfShape '%s': value must have one element", nm);
			}
		} else {
			struct ir_shape s = { 0, { 0 } };
			r = ir_tensor_new(INFER_DT_FLOAT, &s, &t);
		}
		if (r)
			return r;
		t->shape.rank = 0;
		int cv = ir_add_const(g, "value", t);
		ir_tensor_unref(t);
		if (cv < 0)
			return cv;
		int in[2] = { get_plain(c, IN(0)), cv };
		id = add1(c, IR_FILL, nm, op, in, 2);
		if (id < 0)
			return id;
		return define(c, out, g->nodes[id].out[0], false, -1);
	}
	if (!strcmp(op, "Expand") || !strcmp(op, "Tile") || !strcmp(op, "Where") ||
	    !strcmp(op, "Range")) {
		int in[3];
		int ni = !strcmp(op, "Where") || !strcmp(op, "Range") ? 3 : 2;
		if ((int)n->n_input != ni)
			return ir_fail(c->e, INFER_E_INVALID_MODEL, "%s '%s': input count", op, nm);
		for (int k = 0; k < ni; k++)
			in[k] = get_plain(c, IN(k));
		enum ir_op io = op[0] == 'E' ? IR_EXPAND : op[0] == 'T' ? IR_TILE :
				op[0] == 'W' ? IR_WHERE : IR_RANGE;
		id = add1(c, io, nm, op, in, ni);
		if (id < 0)
			return id;
		return define(c, out, g->nodes[id].out[0], false, -1);
	}
	note_unsupported(c, n, NULL);
	return 1;
}

static void octx_free(struct octx *c)
{
	for (size_t i = 0; i < c->n_vals; i++)
		free(c->vals[i].name);
	free(c->vals);
	name_map_free(&c->names);
	free(c->unsup);
}

static int sig_from_value_info(const Onnx__ValueInfoProto *vi, struct ir_sig_tensor *st)
{
	memset(st, 0, sizeof(*st));
	st->key = strdup(vi->name ? vi->name : "");
	st->tensor_name = strdup(vi->name ? vi->name : "");
	if (!st->key || !st->tensor_name)
		return -ENOMEM;
	st->value = -1;
	st->shape.rank = -1;
	const Onnx__TypeProto *tp = vi->type;
	if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
		return INFER_E_UNSUPPORTED;
	st->dtype = onnx_dtype(tp->tensor_type->elem_type);
	if (st->dtype == INFER_DT_HALF || st->dtype == INFER_DT_BFLOAT16)
		return INFER_E_UNSUPPORTED; /* no 16-bit float computation */
	const Onnx__TensorShapeProto *sp = tp->tensor_type->shape;
	if (sp) {
		if (sp->n_dim > IR_MAX_RANK)
			return INFER_E_UNSUPPORTED;
		st->shape.rank = (int)sp->n_dim;
		for (size_t i = 0; i < sp->n_dim; i++) {
			const Onnx__TensorShapeProto__Dimension *d = sp->dim[i];
			st->shape.d[i] = d->value_case ==
						 ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
						 d->dim_value >= 0 && d->dim_value <= IR_MAX_DIM ?
					 d->dim_value : -1;
		}
	}
	return 0;
}

static int st_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ir_sig_tensor *)a)->key,
		      ((const struct ir_sig_tensor *)b)->key);
}

int onnx_import(const struct ir_load_ctx *lc, const uint8_t *pb, size_t len,
		struct ir_model *im)
{
	struct ir_err *e = lc->err;
	Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, pb);
	if (!mp)
		return ir_fail(e, INFER_E_FORMAT, "not a valid ONNX ModelProto");
	struct octx c = { 0 };
	c.lc = lc;
	c.e = e;
	c.im = im;
	c.opset = -1;
	int r = 0;
	const Onnx__GraphProto *gp = mp->graph;
	if (!gp) {
		r = ir_fail(e, INFER_E_INVALID_MODEL, "ONNX model without a graph");
		goto out;
	}
	for (size_t i = 0; i < mp->n_opset_import; i++) {
		const char *d = mp->opset_import[i]->domain;
		if (!d || !d[0] || !strcmp(d, "ai.onnx"))
			c.opset = mp->opset_import[i]->version;
	}
	if (c.opset < 0 && mp->ir_version && mp->ir_version < 3)
		c.opset = 1;
	if (c.opset < 7 || c.opset > 18) {
		r = ir_fail(e, INFER_E_UNSUPPORTED, "ONNX opset %lld is not supported (7-18)",
			    (long long)c.opset);
		goto out;
	}
	if (gp->n_node > IR_MAX_NODES || gp->n_initializer > IR_MAX_NODES) {
		r = ir_fail(e, INFER_E_LIMIT, "graph too large");
		goto out;
	}
	/* histogram */
	for (size_t i = 0; i < gp->n_node; i++) {
		const char *op = gp->node[i]->op_type ? gp->node[i]->op_type : "?";
		size_t k;
		for (k = 0; k < im->n_hist; k++)
			if (!strcmp(im->hist_op[k], op))
				break;
		if (k == im->n_hist) {
			char **no = realloc(im->hist_op, (im->n_hist + 1) * sizeof(char *));
			if (!no) {
				r = -ENOMEM;
				goto out;
			}
			im->hist_op = no;
			size_t *nn = realloc(im->hist_n, (im->n_hist + 1) * sizeof(size_t));
			if (!nn) {
				r = -ENOMEM;
				goto out;
			}
			im->hist_n = nn;
			im->hist_op[k] = strdup(op);
			if (!im->hist_op[k]) {
				r = -ENOMEM;
				goto out;
			}
			im->hist_n[k] = 0;
			im->n_hist++;
		}
		im->hist_n[k]++;
	}
	for (size_t i = 0; i < im->n_hist; i++)
		for (size_t j = i + 1; j < im->n_hist; j++)
			if (strcmp(im->hist_op[j], im->hist_op[i]) < 0) {
				char *t = im->hist_op[i];
				im->hist_op[i] = im->hist_op[j];
				im->hist_op[j] = t;
				size_t tn = im->hist_n[i];
				im->hist_n[i] = im->hist_n[j];
				im->hist_n[j] = tn;
			}
	for (size_t i = 0; i < gp->n_initializer; i++) {
		struct ir_tensor *t;
		const Onnx__TensorProto *tp = gp->initializer[i];
		if (!tp->name || !tp->name[0]) {
			r = ir_fail(e, INFER_E_INVALID_MODEL, "initializer without a name");
			goto out;
		}
		if ((r = onnx_tensor_from_proto(tp, &t, e)))
			goto out;
		int v = ir_add_const(&im->g, tp->name, t);
		int rk = t->shape.rank;
		ir_tensor_unref(t);
		if (v < 0) {
			r = v;
			goto out;
		}
		if ((r = define(&c, tp->name, v, false, rk)))
			goto out;
	}
	im->sigs = calloc(1, sizeof(struct ir_signature));
	if (!im->sigs) {
		r = -ENOMEM;
		goto out;
	}
	im->n_sigs = 1;
	struct ir_signature *s = &im->sigs[0];
	s->name = strdup("serving_default");
	s->method = strdup("tensorflow/serving/predict");
	s->in = calloc(gp->n_input + 1, sizeof(struct ir_sig_tensor));
	s->out = calloc(gp->n_output + 1, sizeof(struct ir_sig_tensor));
	if (!s->name || !s->method || !s->in || !s->out) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < gp->n_input; i++) {
		const Onnx__ValueInfoProto *vi = gp->input[i];
		if (!vi->name || find(&c, vi->name) >= 0)
			continue; /* initializer listed as input (IR < 4) */
		struct ir_sig_tensor *st = &s->in[s->n_in++];
		r = sig_from_value_info(vi, st);
		if (r || !infer_dtype_size(st->dtype)) {
			r = ir_fail(e, r == -ENOMEM ? r : INFER_E_UNSUPPORTED,
				    "graph input '%s': only tensors of numeric types are supported",
				    vi->name);
			goto out;
		}
		int id = ir_add_node(&im->g, IR_INPUT, vi->name, "Input", NULL, 0, 1, NULL);
		if (id < 0) {
			r = id;
			goto out;
		}
		int v = im->g.nodes[id].out[0];
		im->g.values[v].dtype = st->dtype;
		im->g.values[v].shape = st->shape;
		im->g.values[v].pinned = true;
		st->value = v;
		if ((r = define(&c, vi->name, v, false, st->shape.rank)))
			goto out;
	}
	for (size_t i = 0; i < gp->n_node; i++) {
		r = convert(&c, gp->node[i]);
		if (r == 1) {
			/* define outputs as unavailable so later nodes fail clearly */
			r = 0;
			for (size_t k = 0; k < gp->node[i]->n_output; k++) {
				int id = ir_add_node(&im->g, IR_INPUT, gp->node[i]->output[k],
						     "Unsupported", NULL, 0, 1, NULL);
				if (id < 0) {
					r = id;
					goto out;
				}
				if ((r = define(&c, gp->node[i]->output[k], im->g.nodes[id].out[0],
						false, -1)))
					goto out;
			}
			continue;
		}
		if (r)
			goto out;
		for (size_t k = 1; k < gp->node[i]->n_output; k++)
			if (gp->node[i]->output[k] && gp->node[i]->output[k][0] &&
			    find(&c, gp->node[i]->output[k]) < 0) {
				note_unsupported(&c, gp->node[i], "extra outputs");
				break;
			}
	}
	if (c.n_unsup) {
		r = ir_fail(e, INFER_E_UNSUPPORTED, "unsupported ops: %s", c.unsup);
		goto out;
	}
	for (size_t i = 0; i < gp->n_output; i++) {
		const Onnx__ValueInfoProto *vi = gp->output[i];
		struct ir_sig_tensor *st = &s->out[s->n_out++];
		r = sig_from_value_info(vi, st);
		if (r == INFER_E_UNSUPPORTED)
			r = 0; /* outputs may omit types */
		if (r)
			goto out;
		int v = get_plain(&c, vi->name);
		if (v < 0) {
			r = ir_fail(e, INFER_E_INVALID_MODEL, "graph output '%s' is not produced",
				    vi->name ? vi->name : "");
			goto out;
		}
		st->value = v;
		im->g.values[v].pinned = true;
		if (!st->dtype && im->g.values[v].cval)
			st->dtype = im->g.values[v].cval->dtype;
	}
	if (!s->n_out) {
		r = ir_fail(e, INFER_E_INVALID_MODEL, "graph has no outputs");
		goto out;
	}
	qsort(s->in, (size_t)s->n_in, sizeof(*s->in), st_cmp);
	qsort(s->out, (size_t)s->n_out, sizeof(*s->out), st_cmp);
out:
	octx_free(&c);
	onnx__model_proto__free_unpacked(mp, NULL);
	return r;
}
