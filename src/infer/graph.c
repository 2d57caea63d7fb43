/* SPDX-License-Identifier: Apache-2.0 */
/* Graph IR containers, tensors and error helpers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int ir_fail(struct ir_err *e, int code, const char *fmt, ...)
{
	if (e && e->buf && e->len) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(e->buf, e->len, fmt, ap);
		va_end(ap);
	}
	return code;
}

/* ------------------------------------------------------------------------ */

int64_t ir_shape_elems(const struct ir_shape *s)
{
	if (s->rank < 0)
		return -1;
	int64_t n = 1;
	for (int i = 0; i < s->rank; i++) {
		if (s->d[i] < 0)
			return -1;
		if (__builtin_mul_overflow(n, s->d[i], &n) || n > IR_MAX_ELEMS)
			return -1;
	}
	return n;
}

bool ir_shape_known(const struct ir_shape *s)
{
	if (s->rank < 0)
		return false;
	for (int i = 0; i < s->rank; i++)
		if (s->d[i] < 0)
			return false;
	return true;
}

bool ir_shape_eq(const struct ir_shape *a, const struct ir_shape *b)
{
	if (a->rank != b->rank)
		return false;
	for (int i = 0; i < a->rank; i++)
		if (a->d[i] != b->d[i])
			return false;
	return true;
}

void ir_shape_str(const struct ir_shape *s, char *buf, size_t len)
{
	if (!len)
		return;
	if (s->rank < 0) {
		snprintf(buf, len, "[?]");
		return;
	}
	size_t o = 0;
	buf[0] = 0;
	o += (size_t)snprintf(buf + o, len - o, "[");
	for (int i = 0; i < s->rank && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%lld", i ? "," : "",
				      (long long)s->d[i]);
	if (o < len)
		snprintf(buf + o, len - o, "]");
}

bool ir_dtype_is_float(enum infer_dtype dt)
{
	return dt == INFER_DT_FLOAT || dt == INFER_DT_DOUBLE ||
	       dt == INFER_DT_HALF || dt == INFER_DT_BFLOAT16;
}

bool ir_dtype_is_int(enum infer_dtype dt)
{
	switch (dt) {
	case INFER_DT_INT8: case INFER_DT_INT16: case INFER_DT_INT32:
	case INFER_DT_INT64: case INFER_DT_UINT8: case INFER_DT_UINT16:
	case INFER_DT_UINT32: case INFER_DT_UINT64: case INFER_DT_BOOL:
		return true;
	default:
		return false;
	}
}

int ir_tensor_new(enum infer_dtype dt, const struct ir_shape *s,
		  struct ir_tensor **ret)
{
	size_t es = infer_dtype_size(dt);
	int64_t n = ir_shape_elems(s);
	if (!es || n < 0)
		return INFER_E_LIMIT;
	size_t bytes;
	if (!cc_mul_ok((size_t)n, es, &bytes))
		return INFER_E_LIMIT;
	struct ir_tensor *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->data = calloc(1, bytes ? bytes : 1);
	if (!t->data) {
		free(t);
		return -ENOMEM;
	}
	t->dtype = dt;
	t->shape = *s;
	t->size = bytes;
	t->refs = 1;
	*ret = t;
	return 0;
}

struct ir_tensor *ir_tensor_ref(struct ir_tensor *t)
{
	if (t)
		t->refs++;
	return t;
}

void ir_tensor_unref(struct ir_tensor *t)
{
	if (!t || --t->refs)
		return;
	free(t->data);
	free(t);
}

int64_t ir_tensor_geti(const struct ir_tensor *t, int64_t i)
{
	const void *p = t->data;
	switch (t->dtype) {
	case INFER_DT_INT32: return ((const int32_t *)p)[i];
	case INFER_DT_INT64: return ((const int64_t *)p)[i];
	case INFER_DT_UINT8: case INFER_DT_BOOL: return ((const uint8_t *)p)[i];
	case INFER_DT_INT8: return ((const int8_t *)p)[i];
	case INFER_DT_INT16: return ((const int16_t *)p)[i];
	case INFER_DT_UINT16: return ((const uint16_t *)p)[i];
	case INFER_DT_UINT32: return ((const uint32_t *)p)[i];
	case INFER_DT_UINT64: return (int64_t)((const uint64_t *)p)[i];
	case INFER_DT_FLOAT: return (int64_t)((const float *)p)[i];
	case INFER_DT_DOUBLE: return (int64_t)((const double *)p)[i];
	default: return 0;
	}
}

double ir_tensor_getf(const struct ir_tensor *t, int64_t i)
{
	if (t->dtype == INFER_DT_FLOAT)
		return ((const float *)t->data)[i];
	if (t->dtype == INFER_DT_DOUBLE)
		return ((const double *)t->data)[i];
	return (double)ir_tensor_geti(t, i);
}

/* ------------------------------------------------------------------------ */

void ir_graph_init(struct ir_graph *g)
{
	memset(g, 0, sizeof(*g));
}

void ir_graph_free(struct ir_graph *g)
{
	for (int i = 0; i < g->n_nodes; i++) {
		free(g->nodes[i].name);
		free(g->nodes[i].in);
		free(g->nodes[i].out);
	}
	for (int i = 0; i < g->n_values; i++) {
		free(g->values[i].name);
		ir_tensor_unref(g->values[i].cval);
	}
	for (int i = 0; i < g->n_types; i++)
		free(g->types[i]);
	free(g->nodes);
	free(g->values);
	free(g->types);
	memset(g, 0, sizeof(*g));
}

static int grow(void **p, int *cap, int need, size_t elem)
{
	if (need <= *cap)
		return 0;
	int nc = *cap ? *cap * 2 : 64;
	while (nc < need)
		nc *= 2;
	void *np = realloc(*p, (size_t)nc * elem);
	if (!np)
		return -ENOMEM;
	memset((char *)np + (size_t)*cap * elem, 0, (size_t)(nc - *cap) * elem);
	*p = np;
	*cap = nc;
	return 0;
}

const char *ir_intern(struct ir_graph *g, const char *s)
{
	for (int i = 0; i < g->n_types; i++)
		if (!strcmp(g->types[i], s))
			return g->types[i];
	if (grow((void **)&g->types, &g->cap_types, g->n_types + 1,
		 sizeof(char *)))
		return NULL;
	char *c = strdup(s);
	if (!c)
		return NULL;
	g->types[g->n_types++] = c;
	return c;
}

int ir_add_value(struct ir_graph *g, const char *name, enum infer_dtype dt)
{
	if (g->n_values >= IR_MAX_NODES * 4)
		return INFER_E_LIMIT;
	if (grow((void **)&g->values, &g->cap_values, g->n_values + 1,
		 sizeof(struct ir_value)))
		return -ENOMEM;
	struct ir_value *v = &g->values[g->n_values];
	memset(v, 0, sizeof(*v));
	if (name) {
		v->name = strdup(name);
		if (!v->name)
			return -ENOMEM;
	}
	v->producer = -1;
	v->dtype = dt;
	v->shape.rank = -1;
	return g->n_values++;
}

int ir_add_node(struct ir_graph *g, enum ir_op op, const char *name,
		const char *type, const int *in, int n_in, int n_out,
		const char *const *out_names)
{
	if (g->n_nodes >= IR_MAX_NODES)
		return INFER_E_LIMIT;
	if (n_in < 0 || n_in > IR_MAX_INPUTS || n_out < 0 || n_out > 64)
		return INFER_E_LIMIT;
	if (grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes + 1,
		 sizeof(struct ir_node)))
		return -ENOMEM;
	const char *ty = ir_intern(g, type ? type : ir_op_name(op));
	if (!ty)
		return -ENOMEM;
	int id = g->n_nodes;
	struct ir_node *n = &g->nodes[id];
	memset(n, 0, sizeof(*n));
	n->op = op;
	n->type = ty;
	n->name = strdup(name ? name : "");
	n->in = calloc((size_t)(n_in ? n_in : 1), sizeof(int));
	n->out = calloc((size_t)(n_out ? n_out : 1), sizeof(int));
	if (!n->name || !n->in || !n->out) {
		free(n->name);
		free(n->in);
		free(n->out);
		return -ENOMEM;
	}
	if (n_in)
		memcpy(n->in, in, (size_t)n_in * sizeof(int));
	n->n_in = n_in;
	g->n_nodes++;
	if (op == IR_CONV) {
		n->a.conv.sum_at = -1;
		n->a.conv.sum_in = -1;
		n->a.conv.groups = 1;
	}
	for (int k = 0; k < n_out; k++) {
		char buf[IR_MAX_NAME + 24];
		const char *vn = buf;
		if (out_names)
			vn = out_names[k];
		else
			snprintf(buf, sizeof(buf), "%s:%d", n->name, k);
		int v = ir_add_value(g, vn, INFER_DT_INVALID);
		if (v < 0)
			return v;
		/* g->nodes may not move here: values are a separate array. */
		g->values[v].producer = id;
		g->nodes[id].out[k] = v;
		g->nodes[id].n_out = k + 1;
	}
	return id;
}

int ir_add_const(struct ir_graph *g, const char *name, struct ir_tensor *t)
{
	int id = ir_add_node(g, IR_CONST, name, "Const", NULL, 0, 1, NULL);
	if (id < 0)
		return id;
	int v = g->nodes[id].out[0];
	g->values[v].cval = ir_tensor_ref(t);
	g->values[v].dtype = t->dtype;
	g->values[v].shape = t->shape;
	return v;
}

void ir_count_uses(struct ir_graph *g)
{
	for (int i = 0; i < g->n_values; i++)
		g->values[i].uses = 0;
	for (int i = 0; i < g->n_nodes; i++) {
		const struct ir_node *n = &g->nodes[i];
		if (n->dead)
			continue;
		for (int k = 0; k < n->n_in; k++)
			if (n->in[k] >= 0)
				g->values[n->in[k]].uses++;
	}
}

const char *ir_op_name(enum ir_op op)
{
	static const char *const names[IR_OP_COUNT] = {
		"Input", "Const", "Identity", "Conv", "Pool", "MatMul",
		"Binary", "Unary", "BatchNorm", "Reduce", "Softmax", "Pad",
		"Reshape", "Squeeze", "Unsqueeze", "Flatten", "Concat",
		"Pack", "Transpose", "Cast", "ArgMax", "Slice",
		"StridedSlice", "TfSlice", "Gather", "Shape", "Fill", "Range", "Tile",
		"Expand", "Where",
	};
	if ((unsigned)op < IR_OP_COUNT)
		return names[op];
	return "?";
}

void ir_model_free(struct ir_model *im)
{
	if (!im)
		return;
	for (int i = 0; i < im->n_sigs; i++) {
		struct ir_signature *s = &im->sigs[i];
		for (int k = 0; k < s->n_in; k++) {
			free(s->in[k].key);
			free(s->in[k].tensor_name);
		}
		for (int k = 0; k < s->n_out; k++) {
			free(s->out[k].key);
			free(s->out[k].tensor_name);
		}
		free(s->in);
		free(s->out);
		free(s->name);
		free(s->method);
		free(s->error);
		ir_example_spec_free(s->ex);
	}
	free(im->sigs);
	for (size_t i = 0; i < im->n_hist; i++)
		free(im->hist_op[i]);
	free(im->hist_op);
	free(im->hist_n);
	ir_graph_free(&im->g);
	memset(im, 0, sizeof(*im));
}
