/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TensorFlow importer: SavedModel (MetaGraphDef + variables bundle) and
 * frozen GraphDef to the graph IR.
 *
 * 1. The graph is flattened: calls to library functions ((Stateful)
 *    PartitionedCall or a function name used as op) are inlined, their
 *    arguments bound to the caller's inputs and their results exposed
 *    through an IdentityN node.
 * 2. Variables are bound to checkpoint keys by following the restore
 *    graph, as TensorFlow does when it loads: every Assign /
 *    AssignVariableOp fed (through identities) by RestoreV2 output i binds
 *    its variable to tensor_names[i].
 * 3. Each signature is converted from its outputs back to its inputs; fed
 *    tensors cut the graph there (so ops upstream of them, such as
 *    ParseExample, are pruned), control edges are dropped.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "saved_model.pb-c.h"
#include "graph.pb-c.h"

struct tref {
	int node;
	int idx;
};

struct tfn {
	char *name;
	const char *op;
	const Tensorflow__NodeDef *def;
	int n_in;
	struct tref *in;
	char **raw_in;   /* unresolved input strings (borrowed from def) */
	int depth;
	/* function-body scope for name resolution, -1 for the main graph */
	int scope;
	/* variable binding */
	char *var_key;
	struct ir_tensor *var;
};

/* One inlined function instance: arg names -> trefs, body names -> nodes. */
struct scope {
	const Tensorflow__FunctionDef *fn;
	struct tref *args; /* one per input arg */
	int first, count;  /* flat node range of the body */
	char *prefix;
};

struct tfctx {
	const struct ir_load_ctx *lc;
	struct ir_err *e;
	const Tensorflow__GraphDef *gd;
	struct tfn *n;
	int nn, capn;
	struct scope *sc;
	int nsc, capsc;
	struct name_map names; /* main-graph name -> node */
	struct tf_bundle *bundle;
	struct ir_model *im;
	/* per-conversion state */
	int *memo;        /* flat node -> first IR value id of its outputs map */
	int **outmap;     /* flat node -> IR value ids per output */
	int *nout;
	char *unsup;      /* list of unsupported ops found */
	size_t unsup_len, unsup_cap;
	int n_unsup;
	struct tref *fed;
	int *fed_val;
	int n_fed;
};

static int ht_get(const struct tfctx *c, const char *k)
{
	return name_map_get(&c->names, k);
}

/* ------------------------------------------------------------------------ */
/* Attributes                                                               */

static const Tensorflow__AttrValue *attr(const Tensorflow__NodeDef *d,
					 const char *name)
{
	for (size_t i = 0; i < d->n_attr; i++)
		if (d->attr[i]->key && !strcmp(d->attr[i]->key, name))
			return d->attr[i]->value;
	return NULL;
}

static int64_t attr_i(const Tensorflow__NodeDef *d, const char *name, int64_t def)
{
	const Tensorflow__AttrValue *a = attr(d, name);
	if (a && a->value_case == TENSORFLOW__ATTR_VALUE__VALUE_I)
		return a->i;
	return def;
}

static float attr_f(const Tensorflow__NodeDef *d, const char *name, float def)
{
	const Tensorflow__AttrValue *a = attr(d, name);
	if (a && a->value_case == TENSORFLOW__ATTR_VALUE__VALUE_F)
		return a->f;
	return def;
}

static bool attr_b(const Tensorflow__NodeDef *d, const char *name, bool def)
{
	const Tensorflow__AttrValue *a = attr(d, name);
	if (a && a->value_case == TENSORFLOW__ATTR_VALUE__VALUE_B)
		return a->b;
	return def;
}

static int attr_type(const Tensorflow__NodeDef *d, const char *name, int def)
{
	const Tensorflow__AttrValue *a = attr(d, name);
	if (a && a->value_case == TENSORFLOW__ATTR_VALUE__VALUE_TYPE)
		return a->type;
	return def;
}

/* String attribute compared with want. */
static bool attr_s_is(const Tensorflow__NodeDef *d, const char *name,
		      const char *want, bool def)
{
	const Tensorflow__AttrValue *a = attr(d, name);
	if (!a || a->value_case != TENSORFLOW__ATTR_VALUE__VALUE_S)
		return def;
	size_t l = strlen(want);
	return a->s.len == l && !memcmp(a->s.data, want, l);
}

static bool attr_s_eq(const Tensorflow__NodeDef *d, const char *name,
		      const char *want)
{
	const Tensorflow__AttrValue *a = attr(d, name);
	if (!a || a->value_case != TENSORFLOW__ATTR_VALUE__VALUE_S)
		return false;
	size_t l = strlen(want);
	return a->s.len == l && !memcmp(a->s.data, want, l);
}

/* list(int) attribute; returns count or -1 when absent. */
static int attr_ints(const Tensorflow__NodeDef *d, const char *name,
		     int64_t *out, int max)
{
	const Tensorflow__AttrValue *a = attr(d, name);
	if (!a || a->value_case != TENSORFLOW__ATTR_VALUE__VALUE_LIST || !a->list)
		return -1;
	if (a->list->n_i > (size_t)max)
		return -2;
	for (size_t i = 0; i < a->list->n_i; i++)
		out[i] = a->list->i[i];
	return (int)a->list->n_i;
}

/* ------------------------------------------------------------------------ */
/* Tensors from TensorProto                                                 */

static int shape_from_proto(const Tensorflow__TensorShapeProto *p,
			    struct ir_shape *s)
{
	if (!p) {
		s->rank = 0;
		return 0;
	}
	if (p->unknown_rank) {
		s->rank = -1;
		return 0;
	}
	if (p->n_dim > IR_MAX_RANK)
		return INFER_E_UNSUPPORTED;
	s->rank = (int)p->n_dim;
	for (size_t i = 0; i < p->n_dim; i++) {
		int64_t v = p->dim[i]->size;
		if (v < -1 || v > IR_MAX_DIM)
			return INFER_E_INVALID_MODEL;
		s->d[i] = v;
	}
	return 0;
}

static int tensor_from_proto(const Tensorflow__TensorProto *p,
			     struct ir_tensor **ret, struct ir_err *e,
			     const char *what)
{
	struct ir_shape s;
	int r = shape_from_proto(p->tensor_shape, &s);
	if (r || !ir_shape_known(&s))
		return ir_fail(e, INFER_E_INVALID_MODEL, "%s: bad tensor shape", what);
	enum infer_dtype dt = (enum infer_dtype)p->dtype;
	size_t es = infer_dtype_size(dt);
	if (!es)
		return ir_fail(e, INFER_E_UNSUPPORTED, "%s: tensor dtype %s",
			       what, infer_dtype_name(dt));
	struct ir_tensor *t;
	r = ir_tensor_new(dt, &s, &t);
	if (r)
		return ir_fail(e, r, "%s: tensor too large", what);
	size_t n = t->size / es;
	if (p->tensor_content.len) {
		if (p->tensor_content.len != t->size) {
			size_t need = t->size;
			ir_tensor_unref(t);
			return ir_fail(e, INFER_E_INVALID_MODEL,
				       "%s: tensor_content has %zu bytes, shape needs %zu",
				       what, p->tensor_content.len, need);
		}
		if (t->size)
			memcpy(t->data, p->tensor_content.data, t->size);
		*ret = t;
		return 0;
	}
	size_t have = 0;
#define FILL(field, ctype, conv)                                            \
	do {                                                                \
		have = p->n_##field;                                        \
		if (have > n)                                               \
			goto bad;                                           \
		for (size_t i = 0; i < n && have; i++)                     \
			((ctype *)t->data)[i] =                             \
				(ctype)conv(p->field[i < have ? i : have - 1]); \
	} while (0)
#define ID(x) (x)
	switch (dt) {
	case INFER_DT_FLOAT: FILL(float_val, float, ID); break;
	case INFER_DT_DOUBLE: FILL(double_val, double, ID); break;
	case INFER_DT_INT32: FILL(int_val, int32_t, ID); break;
	case INFER_DT_INT16: FILL(int_val, int16_t, ID); break;
	case INFER_DT_INT8: FILL(int_val, int8_t, ID); break;
	case INFER_DT_UINT8: FILL(int_val, uint8_t, ID); break;
	case INFER_DT_UINT16: FILL(int_val, uint16_t, ID); break;
	case INFER_DT_INT64: FILL(int64_val, int64_t, ID); break;
	case INFER_DT_BOOL: FILL(bool_val, uint8_t, ID); break;
	case INFER_DT_UINT32: FILL(uint32_val, uint32_t, ID); break;
	case INFER_DT_UINT64: FILL(uint64_val, uint64_t, ID); break;
	case INFER_DT_HALF:
	case INFER_DT_BFLOAT16: FILL(half_val, uint16_t, ID); break;
	default:
		ir_tensor_unref(t);
		return ir_fail(e, INFER_E_UNSUPPORTED, "%s: tensor dtype %s",
			       what, infer_dtype_name(dt));
	}
#undef FILL
#undef ID
	*ret = t;
	return 0;
bad:
	ir_tensor_unref(t);
	return ir_fail(e, INFER_E_INVALID_MODEL,
		       "%s: more values than the shape holds", what);
}

/* ------------------------------------------------------------------------ */
/* Flattening                                                               */

static const Tensorflow__FunctionDef *find_fn(const struct tfctx *c,
					      const char *name)
{
	const Tensorflow__FunctionDefLibrary *lib = c->gd->library;
	if (!lib || !name)
		return NULL;
	for (size_t i = 0; i < lib->n_function; i++) {
		const Tensorflow__FunctionDef *f = lib->function[i];
		if (f->signature && f->signature->name &&
		    !strcmp(f->signature->name, name))
			return f;
	}
	return NULL;
}

/* The function a node calls, or NULL. */
static const Tensorflow__FunctionDef *called_fn(const struct tfctx *c,
						const Tensorflow__NodeDef *d)
{
	if (!strcmp(d->op, "StatefulPartitionedCall") ||
	    !strcmp(d->op, "PartitionedCall")) {
		const Tensorflow__AttrValue *a = attr(d, "f");
		if (a && a->value_case == TENSORFLOW__ATTR_VALUE__VALUE_FUNC &&
		    a->func)
			return find_fn(c, a->func->name);
		return NULL;
	}
	return find_fn(c, d->op);
}

static int add_flat(struct tfctx *c, const char *prefix,
		    const Tensorflow__NodeDef *d, int scope, int depth)
{
	if (c->nn >= IR_MAX_NODES)
		return ir_fail(c->e, INFER_E_LIMIT, "graph has more than %d nodes",
			       IR_MAX_NODES);
	if (c->nn == c->capn) {
		int nc = c->capn ? c->capn * 2 : 256;
		struct tfn *n = realloc(c->n, (size_t)nc * sizeof(*n));
		if (!n)
			return -ENOMEM;
		c->n = n;
		c->capn = nc;
	}
	if (!d->name || !d->op || !d->name[0])
		return ir_fail(c->e, INFER_E_INVALID_MODEL, "node without name or op");
	struct tfn *f = &c->n[c->nn];
	memset(f, 0, sizeof(*f));
	size_t l = strlen(prefix) + strlen(d->name) + 1;
	if (l > IR_MAX_NAME)
		return ir_fail(c->e, INFER_E_LIMIT, "node name too long");
	f->name = malloc(l);
	if (!f->name)
		return -ENOMEM;
	snprintf(f->name, l, "%s%s", prefix, d->name);
	f->op = d->op;
	f->def = d;
	f->scope = scope;
	f->depth = depth;
	if (d->n_input > IR_MAX_INPUTS)
		return ir_fail(c->e, INFER_E_LIMIT, "node '%s' has too many inputs",
			       f->name);
	f->raw_in = d->input;
	f->n_in = 0;
	for (size_t i = 0; i < d->n_input; i++)
		if (d->input[i] && d->input[i][0] != '^')
			f->n_in++;
	f->in = calloc((size_t)(f->n_in ? f->n_in : 1), sizeof(struct tref));
	if (!f->in)
		return -ENOMEM;
	c->nn++;
	return 0;
}

/* Output index of "out_arg:k" for a node inside a function body. */
static int out_arg_index(const struct tfctx *c, const struct tfn *n,
			 const char *arg, int k)
{
	const Tensorflow__FunctionDef *f = called_fn(c, n->def);
	if (f && strcmp(n->op, "StatefulPartitionedCall") &&
	    strcmp(n->op, "PartitionedCall")) {
		const Tensorflow__OpDef *sig = f->signature;
		for (size_t i = 0; i < sig->n_output_arg; i++)
			if (sig->output_arg[i]->name &&
			    !strcmp(sig->output_arg[i]->name, arg))
				return (int)i + k;
		return -1;
	}
	static const char *const bn[] = { "y", "batch_mean", "batch_variance",
					  "reserve_space_1", "reserve_space_2",
					  "reserve_space_3" };
	if (!strncmp(n->op, "FusedBatchNorm", 14)) {
		for (size_t i = 0; i < CC_ARRAY_SIZE(bn); i++)
			if (!strcmp(arg, bn[i]))
				return (int)i + k;
		return -1;
	}
	if (!strcmp(n->op, "Unique") || !strcmp(n->op, "TopKV2"))
		return (!strcmp(arg, "idx") || !strcmp(arg, "indices")) + k;
	return k;
}

static int parse_ref(const char *s, char *name, size_t nlen, int *idx)
{
	const char *colon = strrchr(s, ':');
	size_t l = colon ? (size_t)(colon - s) : strlen(s);
	if (l + 1 > nlen)
		return INFER_E_LIMIT;
	memcpy(name, s, l);
	name[l] = 0;
	*idx = 0;
	if (colon) {
		uint64_t v;
		if (cc_parse_u64(colon + 1, &v) || v > 1000000)
			return INFER_E_INVALID_MODEL;
		*idx = (int)v;
	}
	return 0;
}

static int flatten_fn(struct tfctx *c, int call, const Tensorflow__FunctionDef *f,
		      int depth);

/* Resolve the inputs of flat nodes [first, last) of a scope. */
static int resolve_inputs(struct tfctx *c, int first, int last, int scope)
{
	char name[IR_MAX_NAME];
	for (int i = first; i < last; i++) {
		struct tfn *n = &c->n[i];
		const Tensorflow__NodeDef *d = n->def;
		int k = 0;
		for (size_t j = 0; j < d->n_input; j++) {
			const char *s = d->input[j];
			if (!s || s[0] == '^')
				continue;
			struct tref t = { -1, 0 };
			if (scope < 0) {
				int idx;
				if (parse_ref(s, name, sizeof(name), &idx))
					return ir_fail(c->e, INFER_E_INVALID_MODEL,
						       "node '%s': bad input '%s'", n->name, s);
				t.node = ht_get(c, name);
				t.idx = idx;
			} else {
				/* "arg", "arg:k", "node:out", "node:out:k" */
				struct scope *sc = &c->sc[scope];
				const Tensorflow__OpDef *sig = sc->fn->signature;
				const char *c1 = strchr(s, ':');
				size_t l = c1 ? (size_t)(c1 - s) : strlen(s);
				if (l + 1 > sizeof(name))
					return INFER_E_LIMIT;
				memcpy(name, s, l);
				name[l] = 0;
				bool found = false;
				for (size_t a = 0; a < sig->n_input_arg; a++) {
					if (sig->input_arg[a]->name &&
					    !strcmp(sig->input_arg[a]->name, name)) {
						t = sc->args[a];
						found = true;
						break;
					}
				}
				if (!found) {
					int body = -1;
					for (int b = sc->first; b < sc->first + sc->count; b++) {
						if (c->n[b].scope == scope &&
						    !strcmp(c->n[b].def->name, name)) {
							body = b;
							break;
						}
					}
					if (body < 0)
						return ir_fail(c->e, INFER_E_INVALID_MODEL,
							       "function '%s': unknown input '%s'",
							       sig->name, s);
					int kk = 0;
					char arg[256] = "";
					if (c1) {
						const char *c2 = strchr(c1 + 1, ':');
						size_t al = c2 ? (size_t)(c2 - c1 - 1) : strlen(c1 + 1);
						if (al >= sizeof(arg))
							return INFER_E_LIMIT;
						memcpy(arg, c1 + 1, al);
						arg[al] = 0;
						if (c2) {
							uint64_t v;
							if (cc_parse_u64(c2 + 1, &v) || v > 100000)
								return ir_fail(c->e, INFER_E_INVALID_MODEL,
									       "bad input '%s'", s);
							kk = (int)v;
						}
					}
					t.node = body;
					t.idx = out_arg_index(c, &c->n[body], arg, kk);
				}
			}
			if (t.node < 0 || t.idx < 0)
				return ir_fail(c->e, INFER_E_INVALID_MODEL,
					       "node '%s': input '%s' names no node",
					       n->name, s);
			n->in[k++] = t;
		}
	}
	return 0;
}

/* Inline function calls among flat nodes [first, last). */
static int expand_calls(struct tfctx *c, int first, int last, int depth)
{
	for (int i = first; i < last; i++) {
		const Tensorflow__FunctionDef *f = called_fn(c, c->n[i].def);
		if (!f)
			continue;
		if (depth >= IR_MAX_INLINE_DEPTH)
			return ir_fail(c->e, INFER_E_LIMIT,
				       "function calls nested deeper than %d (recursion?)",
				       IR_MAX_INLINE_DEPTH);
		int r = flatten_fn(c, i, f, depth + 1);
		if (r)
			return r;
	}
	return 0;
}

static int flatten_fn(struct tfctx *c, int call, const Tensorflow__FunctionDef *f,
		      int depth)
{
	const Tensorflow__OpDef *sig = f->signature;
	if (!sig)
		return ir_fail(c->e, INFER_E_INVALID_MODEL, "function without signature");
	for (size_t a = 0; a < sig->n_input_arg; a++)
		if (sig->input_arg[a]->number_attr[0] ||
		    sig->input_arg[a]->type_list_attr[0])
			return ir_fail(c->e, INFER_E_UNSUPPORTED,
				       "function '%s': list arguments", sig->name);
	if ((size_t)c->n[call].n_in != sig->n_input_arg)
		return ir_fail(c->e, INFER_E_INVALID_MODEL,
			       "call '%s' passes %d inputs to '%s' which takes %zu",
			       c->n[call].name, c->n[call].n_in, sig->name,
			       sig->n_input_arg);
	if (c->nsc == c->capsc) {
		int nc = c->capsc ? c->capsc * 2 : 16;
		struct scope *ns = realloc(c->sc, (size_t)nc * sizeof(*ns));
		if (!ns)
			return -ENOMEM;
		c->sc = ns;
		c->capsc = nc;
	}
	int sid = c->nsc++;
	struct scope *sc = &c->sc[sid];
	memset(sc, 0, sizeof(*sc));
	sc->fn = f;
	sc->args = calloc(sig->n_input_arg + 1, sizeof(struct tref));
	size_t pl = strlen(c->n[call].name) + 2;
	sc->prefix = malloc(pl);
	if (!sc->args || !sc->prefix)
		return -ENOMEM;
	snprintf(sc->prefix, pl, "%s/", c->n[call].name);
	memcpy(sc->args, c->n[call].in, sig->n_input_arg * sizeof(struct tref));
	int first = c->nn;
	for (size_t i = 0; i < f->n_node_def; i++) {
		int r = add_flat(c, c->sc[sid].prefix, f->node_def[i], sid, depth);
		if (r)
			return r;
	}
	c->sc[sid].first = first;
	c->sc[sid].count = c->nn - first;
	int r = resolve_inputs(c, first, c->nn, sid);
	if (r)
		return r;
	r = expand_calls(c, first, first + (int)f->n_node_def, depth);
	if (r)
		return r;
	/* The call node becomes IdentityN over the function's results. */
	struct tfn *cn = &c->n[call];
	struct tref *outs = calloc(sig->n_output_arg + 1, sizeof(struct tref));
	if (!outs)
		return -ENOMEM;
	for (size_t o = 0; o < sig->n_output_arg; o++) {
		const char *an = sig->output_arg[o]->name;
		const char *rv = NULL;
		for (size_t k = 0; k < f->n_ret; k++)
			if (an && f->ret[k]->key && !strcmp(f->ret[k]->key, an))
				rv = f->ret[k]->value;
		if (!rv) {
			free(outs);
			return ir_fail(c->e, INFER_E_INVALID_MODEL,
				       "function '%s': no result for '%s'", sig->name,
				       an ? an : "?");
		}
		/* Resolve rv in the function scope using a temporary node. */
		Tensorflow__NodeDef tmp = TENSORFLOW__NODE_DEF__INIT;
		char *ins[1] = { (char *)rv };
		tmp.name = (char *)"";
		tmp.op = (char *)"";
		tmp.n_input = 1;
		tmp.input = ins;
		struct tfn tn = { 0 };
		struct tref tr;
		tn.def = &tmp;
		tn.name = (char *)"";
		tn.in = &tr;
		tn.n_in = 1;
		/* resolve_inputs works on c->n: emulate with a local copy */
		int save_nn = c->nn;
		if (c->nn == c->capn) {
			int nc = c->capn * 2;
			struct tfn *nn2 = realloc(c->n, (size_t)nc * sizeof(*nn2));
			if (!nn2) {
				free(outs);
				return -ENOMEM;
			}
			c->n = nn2;
			c->capn = nc;
			cn = &c->n[call];
		}
		c->n[c->nn] = tn;
		c->n[c->nn].scope = -2; /* not matched by body lookups */
		r = resolve_inputs(c, c->nn, c->nn + 1, sid);
		outs[o] = c->n[c->nn].in[0];
		c->nn = save_nn;
		if (r) {
			free(outs);
			return r;
		}
	}
	cn = &c->n[call];
	free(cn->in);
	cn->in = outs;
	cn->n_in = (int)sig->n_output_arg;
	cn->op = "IdentityN";
	return 0;
}

/* Follow identities back to the producing node output. */
static struct tref trace(const struct tfctx *c, struct tref t)
{
	for (int guard = 0; guard < 10000 && t.node >= 0; guard++) {
		const struct tfn *n = &c->n[t.node];
		if (!strcmp(n->op, "IdentityN")) {
			if (t.idx >= n->n_in)
				return (struct tref){ -1, 0 };
			t = n->in[t.idx];
			continue;
		}
		if ((!strcmp(n->op, "Identity") || !strcmp(n->op, "Snapshot") ||
		     !strcmp(n->op, "StopGradient") ||
		     !strcmp(n->op, "PreventGradient")) && n->n_in == 1 && t.idx == 0) {
			t = n->in[0];
			continue;
		}
		break;
	}
	return t;
}

/* Bind variables to checkpoint keys through the restore graph. */
static int bind_variables(struct tfctx *c)
{
	for (int i = 0; i < c->nn; i++) {
		struct tfn *n = &c->n[i];
		if (strcmp(n->op, "Assign") && strcmp(n->op, "AssignVariableOp"))
			continue;
		if (n->n_in < 2)
			continue;
		struct tref var = trace(c, n->in[0]);
		struct tref val = trace(c, n->in[1]);
		if (var.node < 0 || val.node < 0)
			continue;
		const struct tfn *rv = &c->n[val.node];
		if (strcmp(rv->op, "RestoreV2") || rv->n_in < 2)
			continue;
		struct tref names = trace(c, rv->in[1]);
		if (names.node < 0 || strcmp(c->n[names.node].op, "Const"))
			continue;
		const Tensorflow__AttrValue *a = attr(c->n[names.node].def, "value");
		if (!a || a->value_case != TENSORFLOW__ATTR_VALUE__VALUE_TENSOR ||
		    !a->tensor)
			continue;
		const Tensorflow__TensorProto *tp = a->tensor;
		if ((size_t)val.idx >= tp->n_string_val)
			continue;
		struct tfn *vn = &c->n[var.node];
		if (strcmp(vn->op, "VariableV2") && strcmp(vn->op, "VarHandleOp") &&
		    strcmp(vn->op, "Variable"))
			continue;
		ProtobufCBinaryData s = tp->string_val[val.idx];
		if (s.len > IR_MAX_NAME)
			continue;
		free(vn->var_key);
		vn->var_key = malloc(s.len + 1);
		if (!vn->var_key)
			return -ENOMEM;
		memcpy(vn->var_key, s.data, s.len);
		vn->var_key[s.len] = 0;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Conversion to IR                                                         */

static void note_unsupported(struct tfctx *c, const struct tfn *n,
			     const char *why)
{
	char line[IR_MAX_NAME + 256];
	int l = snprintf(line, sizeof(line), "%s%s (node '%s'%s%s)",
			 c->n_unsup ? ", " : "", n->op, n->name, why ? ": " : "",
			 why ? why : "");
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

static int fed_value(const struct tfctx *c, struct tref t)
{
	for (int i = 0; i < c->n_fed; i++)
		if (c->fed[i].node == t.node && c->fed[i].idx == t.idx)
			return c->fed_val[i];
	return -1;
}

#define UNSUP_OUT (-2)

/* Value id of input k of flat node n (after conversion of producers). */
static int in_val(const struct tfctx *c, const struct tfn *n, int k)
{
	struct tref t = n->in[k];
	int fv = fed_value(c, t);
	if (fv >= 0)
		return fv;
	if (!c->outmap[t.node] || t.idx >= c->nout[t.node])
		return -1;
	return c->outmap[t.node][t.idx];
}

static int set_outs(struct tfctx *c, int fi, const int *vals, int n)
{
	c->outmap[fi] = malloc((size_t)(n ? n : 1) * sizeof(int));
	if (!c->outmap[fi])
		return -ENOMEM;
	memcpy(c->outmap[fi], vals, (size_t)n * sizeof(int));
	c->nout[fi] = n;
	return 0;
}

/* Emits an IR node of op over the given input values; single output. */
static int emit(struct tfctx *c, const struct tfn *f, enum ir_op op,
		const int *in, int n_in, const char *suffix)
{
	char name[IR_MAX_NAME + 32];
	snprintf(name, sizeof(name), "%s%s", f->name, suffix ? suffix : "");
	int id = ir_add_node(&c->im->g, op, name, f->op, in, n_in, 1, NULL);
	return id;
}

static int const_from_attr(struct tfctx *c, const struct tfn *f, int *ret)
{
	const Tensorflow__AttrValue *a = attr(f->def, "value");
	if (!a || a->value_case != TENSORFLOW__ATTR_VALUE__VALUE_TENSOR || !a->tensor)
		return ir_fail(c->e, INFER_E_INVALID_MODEL, "Const '%s' without value",
			       f->name);
	struct ir_tensor *t = NULL;
	int r = tensor_from_proto(a->tensor, &t, c->e, f->name);
	if (r)
		return r;
	char name[IR_MAX_NAME + 8];
	snprintf(name, sizeof(name), "%s", f->name);
	int v = ir_add_const(&c->im->g, name, t);
	ir_tensor_unref(t);
	if (v < 0)
		return v;
	*ret = v;
	return 0;
}

/* Constant tensor behind a value, or NULL. */
static struct ir_tensor *cval(struct tfctx *c, int v)
{
	return v >= 0 ? c->im->g.values[v].cval : NULL;
}

/* Conv filter HWIO [KH,KW,I,O] -> OIHW; depthwise [KH,KW,C,M] -> [C*M,1,KH,KW]. */
static int filter_to_oihw(struct tfctx *c, const struct tfn *f, int wv,
			  bool depthwise, int *ret)
{
	struct ir_tensor *w = cval(c, wv);
	if (!w || w->dtype != INFER_DT_FLOAT || w->shape.rank != 4)
		return ir_fail(c->e, INFER_E_UNSUPPORTED,
			       "%s '%s': filter must be a constant float 4-D tensor",
			       f->op, f->name);
	int64_t kh = w->shape.d[0], kw = w->shape.d[1], ci = w->shape.d[2],
		co = w->shape.d[3];
	struct ir_shape s = { 4, { depthwise ? ci * co : co, depthwise ? 1 : ci,
				   kh, kw } };
	struct ir_tensor *o;
	int r = ir_tensor_new(INFER_DT_FLOAT, &s, &o);
	if (r)
		return r;
	const float *src = w->data;
	float *dst = o->data;
	for (int64_t y = 0; y < kh; y++)
		for (int64_t x = 0; x < kw; x++)
			for (int64_t i = 0; i < ci; i++)
				for (int64_t j = 0; j < co; j++) {
					float v = src[((y * kw + x) * ci + i) * co + j];
					if (depthwise)
						dst[((i * co + j) * kh + y) * kw + x] = v;
					else
						dst[((j * ci + i) * kh + y) * kw + x] = v;
				}
	char name[IR_MAX_NAME + 16];
	snprintf(name, sizeof(name), "%s/oihw", f->name);
	int v = ir_add_const(&c->im->g, name, o);
	ir_tensor_unref(o);
	if (v < 0)
		return v;
	*ret = v;
	return 0;
}

static int padding_attr(struct tfctx *c, const struct tfn *f, enum ir_padding *p,
			int64_t pad[4], bool nchw)
{
	if (attr_s_eq(f->def, "padding", "SAME")) {
		*p = IR_PADDING_SAME_UPPER;
		return 0;
	}
	if (attr_s_eq(f->def, "padding", "VALID")) {
		*p = IR_PADDING_VALID;
		return 0;
	}
	if (attr_s_eq(f->def, "padding", "EXPLICIT")) {
		int64_t e[8];
		if (attr_ints(f->def, "explicit_paddings", e, 8) != 8)
			return ir_fail(c->e, INFER_E_INVALID_MODEL,
				       "'%s': bad explicit_paddings", f->name);
		int h = nchw ? 2 : 1, w = nchw ? 3 : 2;
		pad[0] = e[2 * h];
		pad[1] = e[2 * h + 1];
		pad[2] = e[2 * w];
		pad[3] = e[2 * w + 1];
		for (int i = 0; i < 4; i++)
			if (pad[i] < 0 || pad[i] > 65536)
				return ir_fail(c->e, INFER_E_INVALID_MODEL,
					       "'%s': bad explicit_paddings", f->name);
		*p = IR_PADDING_EXPLICIT;
		return 0;
	}
	return ir_fail(c->e, INFER_E_UNSUPPORTED, "'%s': unknown padding", f->name);
}

/* Adds Transpose(x, perm) with a constant perm. */
static int add_transpose(struct tfctx *c, const char *name, int x,
			 const int64_t *perm)
{
	int id = ir_add_node(&c->im->g, IR_TRANSPOSE, name, "Transpose", &x, 1,
			     1, NULL);
	if (id < 0)
		return id;
	struct ir_node *n = &c->im->g.nodes[id];
	n->a.tr.n = 4;
	memcpy(n->a.tr.perm, perm, 4 * sizeof(int64_t));
	return n->out[0];
}

static const int64_t TO_NHWC[4] = { 0, 2, 3, 1 }, TO_NCHW[4] = { 0, 3, 1, 2 };

static bool is_nchw(const struct tfn *f)
{
	return attr_s_eq(f->def, "data_format", "NCHW");
}

static int unary_of(const char *op, enum ir_unop *u)
{
	static const struct { const char *n; enum ir_unop u; } t[] = {
		{ "Relu", IR_RELU }, { "Relu6", IR_RELU6 }, { "Sigmoid", IR_SIGMOID },
		{ "Tanh", IR_TANH }, { "Elu", IR_ELU }, { "Selu", IR_SELU },
		{ "LeakyRelu", IR_LEAKY_RELU }, { "Exp", IR_EXP }, { "Log", IR_LOG },
		{ "Sqrt", IR_SQRT }, { "Rsqrt", IR_RSQRT }, { "Neg", IR_NEG },
		{ "Abs", IR_ABS }, { "Square", IR_SQUARE },
		{ "Reciprocal", IR_RECIPROCAL }, { "Inv", IR_RECIPROCAL },
		{ "Floor", IR_FLOOR }, { "Ceil", IR_CEIL }, { "Round", IR_ROUND },
		{ "Softplus", IR_SOFTPLUS }, { "Erf", IR_ERF }, { "Sign", IR_SIGN },
		{ "LogicalNot", IR_NOT },
	};
	for (size_t i = 0; i < CC_ARRAY_SIZE(t); i++)
		if (!strcmp(op, t[i].n)) {
			*u = t[i].u;
			return 1;
		}
	return 0;
}

static int binary_of(const char *op, enum ir_binop *b)
{
	static const struct { const char *n; enum ir_binop b; } t[] = {
		{ "Add", IR_ADD }, { "AddV2", IR_ADD }, { "BiasAdd", IR_ADD },
		{ "BiasAddV1", IR_ADD }, { "Sub", IR_SUB }, { "Mul", IR_MUL },
		{ "RealDiv", IR_DIV }, { "Div", IR_DIV }, { "Maximum", IR_MAX },
		{ "Minimum", IR_MIN }, { "Pow", IR_POW },
		{ "SquaredDifference", IR_SQDIFF }, { "FloorDiv", IR_FLOORDIV },
		{ "FloorMod", IR_MOD }, { "Equal", IR_EQUAL }, { "Less", IR_LESS },
		{ "Greater", IR_GREATER }, { "LessEqual", IR_LESS_EQUAL },
		{ "GreaterEqual", IR_GREATER_EQUAL }, { "LogicalAnd", IR_AND },
		{ "LogicalOr", IR_OR },
	};
	for (size_t i = 0; i < CC_ARRAY_SIZE(t); i++)
		if (!strcmp(op, t[i].n)) {
			*b = t[i].b;
			return 1;
		}
	return 0;
}

/* Converts flat node fi whose inputs are converted.  Returns 0, or a
 * negative code; unsupported ops are noted and return 1. */
static int convert(struct tfctx *c, int fi)
{
	struct tfn *f = &c->n[fi];
	struct ir_graph *g = &c->im->g;
	const char *op = f->op;
	int in[IR_MAX_INPUTS > 64 ? 64 : IR_MAX_INPUTS];
	int nin = f->n_in;
	int *inp = in;
	int *heap = NULL;
	if (nin > 64) {
		heap = malloc((size_t)nin * sizeof(int));
		if (!heap)
			return -ENOMEM;
		inp = heap;
	}
	for (int k = 0; k < nin; k++) {
		inp[k] = in_val(c, f, k);
		if (inp[k] == UNSUP_OUT) {
			free(heap);
			note_unsupported(c, f, "uses an unsupported output of its input");
			return 1;
		}
	}
	int out = -1, r = 0, id;
	enum ir_unop u;
	enum ir_binop b;

	if (!strcmp(op, "Const")) {
		r = const_from_attr(c, f, &out);
	} else if (!strcmp(op, "Identity") || !strcmp(op, "Snapshot") ||
		   !strcmp(op, "StopGradient") || !strcmp(op, "PreventGradient") ||
		   !strcmp(op, "ReadVariableOp") || !strcmp(op, "PlaceholderWithDefault") ||
		   !strcmp(op, "EnsureShape") || !strcmp(op, "CheckNumerics")) {
		if (nin < 1)
			r = ir_fail(c->e, INFER_E_INVALID_MODEL, "'%s' has no input", f->name);
		else
			out = inp[0];
	} else if (!strcmp(op, "IdentityN")) {
		r = set_outs(c, fi, inp, nin);
		free(heap);
		return r;
	} else if (!strcmp(op, "VariableV2") || !strcmp(op, "VarHandleOp") ||
		   !strcmp(op, "Variable")) {
		if (!f->var_key) {
			r = ir_fail(c->e, INFER_E_INVALID_MODEL,
				    "variable '%s' is not restored from the checkpoint",
				    f->name);
		} else if (!c->bundle) {
			r = ir_fail(c->e, INFER_E_NOT_FOUND,
				    "variable '%s' needs variables/ which is missing", f->name);
		} else {
			if (!f->var) {
				r = tf_bundle_get(c->bundle, f->var_key, &f->var);
				if (r == -ENOENT)
					r = ir_fail(c->e, INFER_E_NOT_FOUND,
						    "variable '%s': key '%s' missing from the checkpoint",
						    f->name, f->var_key);
			}
			if (!r) {
				out = ir_add_const(g, f->name, f->var);
				if (out < 0)
					r = out;
			}
		}
	} else if (!strcmp(op, "Placeholder")) {
		r = ir_fail(c->e, INFER_E_INVALID_MODEL,
			    "placeholder '%s' is needed but not fed by the signature",
			    f->name);
	} else if (!strcmp(op, "Conv2D") || !strcmp(op, "DepthwiseConv2dNative")) {
		bool dw = op[0] == 'D';
		bool nchw = is_nchw(f);
		int wv = -1;
		int64_t st[8], dl[8];
		if (nin != 2) {
			r = ir_fail(c->e, INFER_E_INVALID_MODEL, "'%s': needs 2 inputs", f->name);
			goto done;
		}
		r = filter_to_oihw(c, f, inp[1], dw, &wv);
		if (r)
			goto done;
		int ns = attr_ints(f->def, "strides", st, 8);
		int nd = attr_ints(f->def, "dilations", dl, 8);
		if (ns != 4 || (nd != -1 && nd != 4)) {
			r = ir_fail(c->e, INFER_E_INVALID_MODEL, "'%s': bad strides", f->name);
			goto done;
		}
		if (nd == -1)
			dl[0] = dl[1] = dl[2] = dl[3] = 1;
		int x = inp[0];
		char tn[IR_MAX_NAME + 16];
		if (nchw) {
			snprintf(tn, sizeof(tn), "%s/to_nhwc", f->name);
			x = add_transpose(c, tn, x, TO_NHWC);
			if (x < 0) {
				r = x;
				goto done;
			}
		}
		int cin[2] = { x, wv };
		id = emit(c, f, IR_CONV, cin, 2, NULL);
		if (id < 0) {
			r = id;
			goto done;
		}
		struct ir_node *n = &g->nodes[id];
		struct ir_tensor *w = g->values[wv].cval;
		int h = nchw ? 2 : 1, wi = nchw ? 3 : 2;
		n->a.conv.kh = w->shape.d[2];
		n->a.conv.kw = w->shape.d[3];
		n->a.conv.sh = st[h];
		n->a.conv.sw = st[wi];
		n->a.conv.dh = dl[h];
		n->a.conv.dw = dl[wi];
		const struct ir_tensor *fw = cval(c, inp[1]);
		n->a.conv.groups = dw && fw ? fw->shape.d[2] : 0;
		if (n->a.conv.sh < 1 || n->a.conv.sw < 1 || n->a.conv.dh < 1 ||
		    n->a.conv.dw < 1 || n->a.conv.sh > 1024 || n->a.conv.sw > 1024 ||
		    n->a.conv.dh > 1024 || n->a.conv.dw > 1024) {
			r = ir_fail(c->e, INFER_E_INVALID_MODEL, "'%s': bad strides", f->name);
			goto done;
		}
		r = padding_attr(c, f, &n->a.conv.padding, n->a.conv.pad, nchw);
		if (r)
			goto done;
		out = n->out[0];
		if (nchw) {
			snprintf(tn, sizeof(tn), "%s/to_nchw", f->name);
			out = add_transpose(c, tn, out, TO_NCHW);
		}
	} else if (!strcmp(op, "MaxPool") || !strcmp(op, "AvgPool")) {
		bool nchw = is_nchw(f);
		int64_t ks[8], st[8];
		if (attr_ints(f->def, "ksize", ks, 8) != 4 ||
		    attr_ints(f->def, "strides", st, 8) != 4 || nin != 1) {
			r = ir_fail(c->e, INFER_E_INVALID_MODEL, "'%s': bad ksize/strides", f->name);
			goto done;
		}
		int x = inp[0];
		char tn[IR_MAX_NAME + 16];
		if (nchw) {
			snprintf(tn, sizeof(tn), "%s/to_nhwc", f->name);
			x = add_transpose(c, tn, x, TO_NHWC);
		}
		id = emit(c, f, IR_POOL, &x, 1, NULL);
		if (id < 0) {
			r = id;
			goto done;
		}
		struct ir_node *n = &g->nodes[id];
		int h = nchw ? 2 : 1, w = nchw ? 3 : 2;
		n->a.pool.max = op[0] == 'M';
		n->a.pool.kh = ks[h];
		n->a.pool.kw = ks[w];
		n->a.pool.sh = st[h];
		n->a.pool.sw = st[w];
		if (ks[0] != 1 || ks[nchw ? 1 : 3] != 1 || n->a.pool.kh < 1 ||
		    n->a.pool.kw < 1 || n->a.pool.sh < 1 || n->a.pool.sw < 1 ||
		    n->a.pool.kh > 65536 || n->a.pool.kw > 65536 ||
		    n->a.pool.sh > 65536 || n->a.pool.sw > 65536) {
			note_unsupported(c, f, "pooling over batch or channels");
			free(heap);
			return 1;
		}
		r = padding_attr(c, f, &n->a.pool.padding, n->a.pool.pad, nchw);
		n->a.pool.count_include_pad = false;
		out = n->out[0];
		if (nchw) {
			snprintf(tn, sizeof(tn), "%s/to_nchw", f->name);
			out = add_transpose(c, tn, out, TO_NCHW);
		}
	} else if (!strncmp(op, "FusedBatchNorm", 14)) {
		if (attr_b(f->def, "is_training", false) || nin != 5) {
			note_unsupported(c, f, "training mode");
			free(heap);
			return 1;
		}
		bool nchw = is_nchw(f);
		int x = inp[0];
		char tn[IR_MAX_NAME + 16];
		if (nchw) {
			snprintf(tn, sizeof(tn), "%s/to_nhwc", f->name);
			x = add_transpose(c, tn, x, TO_NHWC);
		}
		int bi[5] = { x, inp[1], inp[2], inp[3], inp[4] };
		id = emit(c, f, IR_BATCHNORM, bi, 5, NULL);
		if (id < 0) {
			r = id;
			goto done;
		}
		g->nodes[id].a.bn.eps = attr_f(f->def, "epsilon", 1e-4f);
		out = g->nodes[id].out[0];
		if (nchw) {
			snprintf(tn, sizeof(tn), "%s/to_nchw", f->name);
			out = add_transpose(c, tn, out, TO_NCHW);
		}
		int outs[6] = { out, UNSUP_OUT, UNSUP_OUT, UNSUP_OUT, UNSUP_OUT, UNSUP_OUT };
		if (out < 0) {
			r = out;
			goto done;
		}
		r = set_outs(c, fi, outs, 6);
		free(heap);
		return r;
	} else if (unary_of(op, &u)) {
		id = emit(c, f, IR_UNARY, inp, 1, NULL);
		if (id < 0) {
			r = id;
			goto done;
		}
		g->nodes[id].a.un.op = u;
		g->nodes[id].a.un.alpha = u == IR_LEAKY_RELU ?
			attr_f(f->def, "alpha", 0.2f) : 0;
		if (u == IR_SELU) {
			g->nodes[id].a.un.alpha = 1.67326319217681884765625f;
			g->nodes[id].a.un.beta = 1.05070102214813232421875f;
		}
		if (u == IR_ELU)
			g->nodes[id].a.un.alpha = 1.0f;
		out = g->nodes[id].out[0];
	} else if (binary_of(op, &b)) {
		if (nin != 2) {
			r = ir_fail(c->e, INFER_E_INVALID_MODEL, "'%s': needs 2 inputs", f->name);
			goto done;
		}
		int bi[2] = { inp[0], inp[1] };
		if (!strncmp(op, "BiasAdd", 7) && is_nchw(f)) {
			/* bias [C] on NCHW: view it as [C,1,1] */
			char tn[IR_MAX_NAME + 16];
			snprintf(tn, sizeof(tn), "%s/bias_chw", f->name);
			int rid = ir_add_node(g, IR_RESHAPE, tn, "Reshape", &inp[1], 1, 1, NULL);
			if (rid < 0) {
				r = rid;
				goto done;
			}
			g->nodes[rid].a.reshape.n = 3;
			g->nodes[rid].a.reshape.shape[0] = -1;
			g->nodes[rid].a.reshape.shape[1] = 1;
			g->nodes[rid].a.reshape.shape[2] = 1;
			bi[1] = g->nodes[rid].out[0];
		}
		id = emit(c, f, IR_BINARY, bi, 2, NULL);
		if (id < 0) {
			r = id;
			goto done;
		}
		g->nodes[id].a.bin.op = b;
		out = g->nodes[id].out[0];
	} else if (!strcmp(op, "MatMul") || !strcmp(op, "BatchMatMul") ||
		   !strcmp(op, "BatchMatMulV2") || !strcmp(op, "BatchMatMulV3")) {
		if (nin != 2) {
			r = ir_fail(c->e, INFER_E_INVALID_MODEL, "'%s': needs 2 inputs", f->name);
			goto done;
		}
		id = emit(c, f, IR_MATMUL, inp, 2, NULL);
		if (id < 0) {
			r = id;
			goto done;
		}
		struct ir_node *n = &g->nodes[id];
		if (op[0] == 'M') {
			n->a.mm.ta = attr_b(f->def, "transpose_a", false);
			n->a.mm.tb = attr_b(f->def, "transpose_b", false);
		} else {
			n->a.mm.ta = attr_b(f->def, "adj_x", false);
			n->a.mm.tb = attr_b(f->def, "adj_y", false);
		}
		n->a.mm.alpha = 1;
		n->a.mm.beta = 1;
		out = n->out[0];
	} else if (!strcmp(op, "Mean") || !strcmp(op, "Sum") || !strcmp(op, "Max") ||
		   !strcmp(op, "Min") || !strcmp(op, "Prod")) {
		id = emit(c, f, IR_REDUCE, inp, nin < 2 ? nin : 2, NULL);
		if (id < 0) {
			r = id;
			goto done;
		}
		struct ir_node *n = &g->nodes[id];
		n->a.red.op = op[1] == 'e' ? IR_RMEAN : op[1] == 'u' ? IR_RSUM :
			      op[1] == 'a' ? IR_RMAX : op[1] == 'i' ? IR_RMIN : IR_RPROD;
		n->a.red.keepdims = attr_b(f->def, "keep_dims", false);
		out = n->out[0];
	} else if (!strcmp(op, "Softmax") || !strcmp(op, "LogSoftmax")) {
		id = emit(c, f, IR_SOFTMAX, inp, 1, NULL);
		if (id < 0) {
			r = id;
			goto done;
		}
		g->nodes[id].a.sm.axis = -1;
		g->nodes[id].a.sm.log = op[0] == 'L';
		out = g->nodes[id].out[0];
	} else if (!strcmp(op, "Pad") || !strcmp(op, "PadV2") || !strcmp(op, "MirrorPad")) {
		id = emit(c, f, IR_PAD, inp, nin, NULL);
		if (id < 0) {
			r = id;
			goto done;
		}
		struct ir_node *n = &g->nodes[id];
		n->a.pad.mode = IR_PAD_CONSTANT;
		if (op[0] == 'M')
			n->a.pad.mode = attr_s_is(f->def, "mode", "REFLECT", true) ?
					IR_PAD_REFLECT : IR_PAD_SYMMETRIC;
		out = n->out[0];
	} else if (!strcmp(op, "Reshape")) {
		id = emit(c, f, IR_RESHAPE, inp, 2, NULL);
		if (id < 0) {
			r = id;
			goto done;
		}
		out = g->nodes[id].out[0];
	} else if (!strcmp(op, "Squeeze")) {
		id = emit(c, f, IR_SQUEEZE, inp, 1, NULL);
		if (id < 0) {
			r = id;
			goto done;
		}
		struct ir_node *n = &g->nodes[id];
		int na = attr_ints(f->def, "squeeze_dims", n->a.sq.axes, IR_MAX_RANK);
		if (na == -1)
			na = attr_ints(f->def, "axis", n->a.sq.axes, IR_MAX_RANK);
		if (na < -1) {
			r = ir_fail(c->e, INFER_E_INVALID_MODEL, "'%s': bad axes", f->name);
			goto done;
		}
		n->a.sq.n_axes = na < 0 ? 0 : na;
		out = n->out[0];
	} else if (!strcmp(op, "ExpandDims")) {
		id = emit(c, f, IR_UNSQUEEZE, inp, 2, NULL);
		if (id < 0) {
			r = id;
			goto done;
		}
		out = g->nodes[id].out[0];
	} else if (!strcmp(op, "ConcatV2") || !strcmp(op, "Concat")) {
		if (nin < 2) {
			r = ir_fail(c->e, INFER_E_INVALID_MODEL, "'%s': needs inputs", f->name);
			goto done;
		}
		/* IR Concat takes the axis as its last input */
		if (op[6] != 'V') {
			int t0 = inp[0];
			memmove(inp, inp + 1, (size_t)(nin - 1) * sizeof(int));
			inp[nin - 1] = t0;
		}
		id = emit(c, f, IR_CONCAT, inp, nin, NULL);
		if (id < 0) {
			r = id;
			goto done;
		}
		g->nodes[id].a.cat.axis = INT64_MIN; /* from the last input */
		out = g->nodes[id].out[0];
	} else if (!strcmp(op, "Pack")) {
		id = emit(c, f, IR_PACK, inp, nin, NULL);
		if (id < 0) {
			r = id;
			goto done;
		}
		g->nodes[id].a.cat.axis = attr_i(f->def, "axis", 0);
		out = g->nodes[id].out[0];
	} else if (!strcmp(op, "Shape")) {
		id = emit(c, f, IR_SHAPE, inp, 1, NULL);
		if (id < 0) {
			r = id;
			goto done;
		}
		g->nodes[id].a.shape.out = (enum infer_dtype)attr_type(f->def, "out_type",
								       INFER_DT_INT32);
		out = g->nodes[id].out[0];
	} else if (!strcmp(op, "Cast")) {
		id = emit(c, f, IR_CAST, inp, 1, NULL);
		if (id < 0) {
			r = id;
			goto done;
		}
		g->nodes[id].a.cast.to = (enum infer_dtype)attr_type(f->def, "DstT", 0);
		out = g->nodes[id].out[0];
	} else if (!strcmp(op, "ArgMax") || !strcmp(op, "ArgMin")) {
		id = emit(c, f, IR_ARGMAX, inp, 2, NULL);
		if (id < 0) {
			r = id;
			goto done;
		}
		struct ir_node *n = &g->nodes[id];
		n->a.arg.min = op[3] == 'M' && op[4] == 'i';
		n->a.arg.out = (enum infer_dtype)attr_type(f->def, "output_type",
							   INFER_DT_INT64);
		n->a.arg.has_axis = false;
		out = n->out[0];
	} else if (!strcmp(op, "Transpose")) {
		id = emit(c, f, IR_TRANSPOSE, inp, 2, NULL);
		if (id < 0) {
			r = id;
			goto done;
		}
		out = g->nodes[id].out[0];
	} else if (!strcmp(op, "Slice")) {
		id = emit(c, f, IR_TF_SLICE, inp, 3, NULL);
		if (id < 0) {
			r = id;
			goto done;
		}
		out = g->nodes[id].out[0];
	} else if (!strcmp(op, "StridedSlice")) {
		id = emit(c, f, IR_STRIDED_SLICE, inp, 4, NULL);
		if (id < 0) {
			r = id;
			goto done;
		}
		struct ir_node *n = &g->nodes[id];
		n->a.ss.begin_mask = attr_i(f->def, "begin_mask", 0);
		n->a.ss.end_mask = attr_i(f->def, "end_mask", 0);
		n->a.ss.ellipsis_mask = attr_i(f->def, "ellipsis_mask", 0);
		n->a.ss.new_axis_mask = attr_i(f->def, "new_axis_mask", 0);
		n->a.ss.shrink_axis_mask = attr_i(f->def, "shrink_axis_mask", 0);
		out = n->out[0];
	} else if (!strcmp(op, "GatherV2") || !strcmp(op, "Gather")) {
		id = emit(c, f, IR_GATHER, inp, op[6] == 'V' ? 3 : 2, NULL);
		if (id < 0) {
			r = id;
			goto done;
		}
		g->nodes[id].a.gather.has_axis = false;
		g->nodes[id].a.gather.axis = 0;
		out = g->nodes[id].out[0];
	} else if (!strcmp(op, "Fill")) {
		id = emit(c, f, IR_FILL, inp, 2, NULL);
		if (id < 0) {
			r = id;
			goto done;
		}
		out = g->nodes[id].out[0];
	} else if (!strcmp(op, "Range")) {
		id = emit(c, f, IR_RANGE, inp, 3, NULL);
		if (id < 0) {
			r = id;
			goto done;
		}
		out = g->nodes[id].out[0];
	} else if (!strcmp(op, "Tile")) {
		id = emit(c, f, IR_TILE, inp, 2, NULL);
		if (id < 0) {
			r = id;
			goto done;
		}
		out = g->nodes[id].out[0];
	} else if (!strcmp(op, "Select") || !strcmp(op, "SelectV2")) {
		id = emit(c, f, IR_WHERE, inp, 3, NULL);
		if (id < 0) {
			r = id;
			goto done;
		}
		out = g->nodes[id].out[0];
	} else {
		free(heap);
		note_unsupported(c, f, NULL);
		return 1;
	}
done:
	free(heap);
	if (r)
		return r;
	if (out < 0)
		return out;
	/* checks on input counts for ops emitted with a fixed count */
	return set_outs(c, fi, &out, 1);
}

/* Op types convert() handles (to report every unsupported op even when its
 * inputs are unsupported too). */
static bool tf_op_known(const char *op)
{
	static const char *const known[] = {
		"Const", "Identity", "Snapshot", "StopGradient", "PreventGradient",
		"ReadVariableOp", "PlaceholderWithDefault", "EnsureShape", "CheckNumerics",
		"IdentityN", "VariableV2", "VarHandleOp", "Variable", "Placeholder",
		"Conv2D", "DepthwiseConv2dNative", "MaxPool", "AvgPool", "MatMul",
		"BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "Mean", "Sum", "Max", "Min",
		"Prod", "Softmax", "LogSoftmax", "Pad", "PadV2", "MirrorPad", "Reshape",
		"Squeeze", "ExpandDims", "ConcatV2", "Concat", "Pack", "Shape", "Cast",
		"ArgMax", "ArgMin", "Transpose", "Slice", "StridedSlice", "GatherV2",
		"Gather", "Fill", "Range", "Tile", "Select", "SelectV2",
	};
	enum ir_unop u;
	enum ir_binop b;
	if (unary_of(op, &u) || binary_of(op, &b) || !strncmp(op, "FusedBatchNorm", 14))
		return true;
	for (size_t i = 0; i < CC_ARRAY_SIZE(known); i++)
		if (!strcmp(op, known[i]))
			return true;
	return false;
}

/* Expected data-input counts (min) of ops converted with fixed counts. */
static int min_inputs(const char *op)
{
	static const struct { const char *n; int k; } t[] = {
		{ "Reshape", 2 }, { "ExpandDims", 2 }, { "ArgMax", 2 },
		{ "ArgMin", 2 }, { "Transpose", 2 }, { "Slice", 3 },
		{ "StridedSlice", 4 }, { "GatherV2", 3 }, { "Gather", 2 },
		{ "Fill", 2 }, { "Range", 3 }, { "Tile", 2 }, { "Select", 3 },
		{ "SelectV2", 3 }, { "Pad", 2 }, { "PadV2", 3 }, { "MirrorPad", 2 },
		{ "Mean", 2 }, { "Sum", 2 }, { "Max", 2 }, { "Min", 2 },
		{ "Prod", 2 }, { "Shape", 1 }, { "Cast", 1 }, { "Softmax", 1 },
		{ "LogSoftmax", 1 }, { "Squeeze", 1 }, { "Relu", 1 },
	};
	for (size_t i = 0; i < CC_ARRAY_SIZE(t); i++)
		if (!strcmp(op, t[i].n))
			return t[i].k;
	return 0;
}

/* Converts everything the given outputs need, iteratively (post-order). */
static int convert_needed(struct tfctx *c, const struct tref *outs, int n_outs)
{
	int *state = calloc((size_t)c->nn, sizeof(int));
	int *stack = malloc((size_t)(c->nn + 1) * 2 * sizeof(int));
	int r = 0;
	if (!state || !stack) {
		r = -ENOMEM;
		goto out;
	}
	for (int o = 0; o < n_outs; o++) {
		if (fed_value(c, outs[o]) >= 0 || c->outmap[outs[o].node])
			continue;
		int sp = 0;
		stack[sp++] = outs[o].node;
		stack[sp++] = 0;
		while (sp) {
			int node = stack[sp - 2];
			int k = stack[sp - 1];
			struct tfn *f = &c->n[node];
			if (k == 0) {
				if (c->outmap[node] || state[node] == 2) {
					sp -= 2;
					continue;
				}
				if (state[node] == 1) {
					r = ir_fail(c->e, INFER_E_INVALID_MODEL,
						    "cycle through node '%s'", f->name);
					goto out;
				}
				state[node] = 1;
				if (f->n_in < min_inputs(f->op)) {
					r = ir_fail(c->e, INFER_E_INVALID_MODEL,
						    "node '%s' (%s) has %d inputs, needs %d",
						    f->name, f->op, f->n_in, min_inputs(f->op));
					goto out;
				}
			}
			if (k < f->n_in) {
				stack[sp - 1] = k + 1;
				struct tref t = f->in[k];
				if (fed_value(c, t) >= 0 || c->outmap[t.node])
					continue;
				if (state[t.node] == 1) {
					r = ir_fail(c->e, INFER_E_INVALID_MODEL,
						    "cycle through node '%s'", c->n[t.node].name);
					goto out;
				}
				if (state[t.node] == 2)
					continue; /* failed or unsupported before */
				stack[sp++] = t.node;
				stack[sp++] = 0;
				continue;
			}
			sp -= 2;
			state[node] = 2;
			bool ready = true;
			for (int j = 0; j < f->n_in; j++) {
				struct tref t = f->in[j];
				if (fed_value(c, t) < 0 && !c->outmap[t.node])
					ready = false;
			}
			if (!ready) {
				/* an input was unsupported (already noted); list this
				 * op too when it is unsupported itself */
				if (!tf_op_known(f->op))
					note_unsupported(c, f, NULL);
				continue;
			}
			r = convert(c, node);
			if (r == 1) {
				r = 0;
				continue;
			}
			if (r)
				goto out;
		}
	}
out:
	free(state);
	free(stack);
	return r;
}

static void reset_conversion(struct tfctx *c)
{
	for (int i = 0; i < c->nn; i++) {
		free(c->outmap[i]);
		c->outmap[i] = NULL;
		c->nout[i] = 0;
	}
	free(c->unsup);
	c->unsup = NULL;
	c->unsup_len = c->unsup_cap = 0;
	c->n_unsup = 0;
}

static int parse_tensor_name(const struct tfctx *c, const char *s, struct tref *t)
{
	char name[IR_MAX_NAME];
	int idx;
	if (!s || parse_ref(s, name, sizeof(name), &idx))
		return INFER_E_INVALID_MODEL;
	t->node = ht_get(c, name);
	t->idx = idx;
	return t->node < 0 ? INFER_E_NOT_FOUND : 0;
}

static int sig_tensor(const char *key, const Tensorflow__TensorInfo *ti,
		      struct ir_sig_tensor *st)
{
	memset(st, 0, sizeof(*st));
	st->key = strdup(key ? key : "");
	if (!ti) {
		st->tensor_name = strdup("");
		st->shape.rank = -1;
		st->value = -1;
		return st->key && st->tensor_name ? 1 : -ENOMEM;
	}
	st->tensor_name = strdup(ti->encoding_case ==
				 TENSORFLOW__TENSOR_INFO__ENCODING_NAME && ti->name ?
				 ti->name : "");
	if (!st->key || !st->tensor_name)
		return -ENOMEM;
	st->dtype = (enum infer_dtype)ti->dtype;
	st->value = -1;
	if (shape_from_proto(ti->tensor_shape, &st->shape))
		st->shape.rank = -1;
	if (!ti->tensor_shape)
		st->shape.rank = -1;
	return 0;
}

static int st_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ir_sig_tensor *)a)->key,
		      ((const struct ir_sig_tensor *)b)->key);
}

static int set_sig_error(struct ir_signature *s, const char *msg)
{
	free(s->error);
	s->error = strdup(msg && msg[0] ? msg : "signature cannot be compiled");
	return s->error ? 0 : -ENOMEM;
}

/* ------------------------------------------------------------------------ */
/* tf.Example signatures                                                    */

/* The DT_STRING tensor proto of a Const reached from t (through
 * identities), or NULL. */
static const Tensorflow__TensorProto *const_strings(const struct tfctx *c, struct tref t)
{
	t = trace(c, t);
	if (t.node < 0 || t.idx != 0 || strcmp(c->n[t.node].op, "Const"))
		return NULL;
	const Tensorflow__AttrValue *a = attr(c->n[t.node].def, "value");
	if (!a || a->value_case != TENSORFLOW__ATTR_VALUE__VALUE_TENSOR || !a->tensor ||
	    a->tensor->dtype != TENSORFLOW__DATA_TYPE__DT_STRING)
		return NULL;
	return a->tensor;
}

/* The constant behind a dense default: a Const, possibly reshaped (the
 * TF1 feature-column code wraps defaults in Reshape). */
static int const_default(struct tfctx *c, struct tref t, struct ir_tensor **ret)
{
	for (int guard = 0; guard < 16; guard++) {
		t = trace(c, t);
		if (t.node < 0)
			return INFER_E_UNSUPPORTED;
		const struct tfn *n = &c->n[t.node];
		if (!strcmp(n->op, "Reshape") || !strcmp(n->op, "ExpandDims") ||
		    !strcmp(n->op, "Squeeze")) {
			if (n->n_in < 1 || t.idx != 0)
				return INFER_E_UNSUPPORTED;
			t = n->in[0];
			continue;
		}
		if (strcmp(n->op, "Const") || t.idx != 0)
			return INFER_E_UNSUPPORTED;
		const Tensorflow__AttrValue *a = attr(n->def, "value");
		if (!a || a->value_case != TENSORFLOW__ATTR_VALUE__VALUE_TENSOR || !a->tensor)
			return INFER_E_UNSUPPORTED;
		return tensor_from_proto(a->tensor, ret, c->e, n->name);
	}
	return INFER_E_UNSUPPORTED;
}

static int key_string(const ProtobufCBinaryData *b, char **ret)
{
	if (b->len > IR_MAX_NAME || memchr(b->data, 0, b->len))
		return INFER_E_UNSUPPORTED;
	char *k = malloc(b->len + 1);
	if (!k)
		return -ENOMEM;
	memcpy(k, b->data, b->len);
	k[b->len] = 0;
	*ret = k;
	return 0;
}

void ir_example_spec_free(struct ir_example_spec *x)
{
	if (!x)
		return;
	for (int i = 0; i < x->n; i++) {
		free(x->in[i].key);
		free(x->in[i].tensor_name);
		if (x->def)
			ir_tensor_unref(x->def[i]);
	}
	free(x->in);
	free(x->elems);
	free(x->def);
	free(x);
}

/*
 * The signature's only input t is a DT_STRING tensor: when it feeds one
 * ParseExample / ParseExampleV2 with dense features only, build the
 * Example spec and feed the parser's dense outputs as graph inputs.
 * Returns 0 (spec set), 1 (not an Example input: the caller reports the
 * string input), an error written to se (signature unavailable), or
 * -ENOMEM.
 */
static int example_input(struct tfctx *c, struct ir_signature *s, struct tref t,
			 struct ir_err *se)
{
	struct tref src = trace(c, t);
	int pe = -1;
	for (int i = 0; i < c->nn; i++) {
		const struct tfn *n = &c->n[i];
		if (strcmp(n->op, "ParseExample") && strcmp(n->op, "ParseExampleV2"))
			continue;
		if (n->n_in < 1)
			continue;
		struct tref in0 = trace(c, n->in[0]);
		if (in0.node != src.node || in0.idx != src.idx)
			continue;
		if (pe >= 0)
			return ir_fail(se, INFER_E_UNSUPPORTED,
				       "input '%s' feeds more than one ParseExample", s->in[0].key);
		pe = i;
	}
	if (pe < 0)
		return 1;
	const struct tfn *n = &c->n[pe];
	const Tensorflow__NodeDef *d = n->def;
	bool v2 = !strcmp(n->op, "ParseExampleV2");
	int64_t nsparse = attr_i(d, v2 ? "num_sparse" : "Nsparse", 0);
	const Tensorflow__AttrValue *td = attr(d, "Tdense");
	const Tensorflow__AttrValue *ds = attr(d, "dense_shapes");
	if (nsparse != 0)
		return ir_fail(se, INFER_E_UNSUPPORTED,
			       "ParseExample '%s' has sparse features, which are not supported",
			       n->name);
	if (v2) {
		const Tensorflow__AttrValue *rv = attr(d, "ragged_value_types");
		if (rv && rv->value_case == TENSORFLOW__ATTR_VALUE__VALUE_LIST && rv->list &&
		    rv->list->n_type)
			return ir_fail(se, INFER_E_UNSUPPORTED,
				       "ParseExampleV2 '%s' has ragged features, which are not "
				       "supported", n->name);
	}
	if (!td || td->value_case != TENSORFLOW__ATTR_VALUE__VALUE_LIST || !td->list ||
	    !ds || ds->value_case != TENSORFLOW__ATTR_VALUE__VALUE_LIST || !ds->list ||
	    td->list->n_type != ds->list->n_shape || td->list->n_type == 0 ||
	    td->list->n_type > 64)
		return ir_fail(se, INFER_E_INVALID_MODEL,
			       "ParseExample '%s': Tdense / dense_shapes missing or inconsistent "
			       "(1 to 64 dense features supported)", n->name);
	int nd = (int)td->list->n_type;
	/* dense keys: V1 one scalar Const per key after the sparse keys; V2
	 * one vector Const (input 3) */
	const Tensorflow__TensorProto *keys[64] = { 0 };
	const Tensorflow__TensorProto *kv = NULL;
	int first_def;
	if (v2) {
		if (n->n_in < 5 + nd || !(kv = const_strings(c, n->in[3])) ||
		    kv->n_string_val != (size_t)nd)
			return ir_fail(se, INFER_E_UNSUPPORTED,
				       "ParseExampleV2 '%s': dense keys are not a constant vector "
				       "of %d strings", n->name, nd);
		first_def = 5;
	} else {
		if (n->n_in < 2 + 2 * nd)
			return ir_fail(se, INFER_E_INVALID_MODEL,
				       "ParseExample '%s' has %d inputs, needs %d", n->name,
				       n->n_in, 2 + 2 * nd);
		for (int k = 0; k < nd; k++)
			if (!(keys[k] = const_strings(c, n->in[2 + k])) ||
			    keys[k]->n_string_val != 1)
				return ir_fail(se, INFER_E_UNSUPPORTED,
					       "ParseExample '%s': dense key %d is not a constant "
					       "string", n->name, k);
		first_def = 2 + nd;
	}
	struct ir_example_spec *x = calloc(1, sizeof(*x));
	int r = -ENOMEM;
	if (!x)
		return -ENOMEM;
	x->in = calloc((size_t)nd, sizeof(*x->in));
	x->elems = calloc((size_t)nd, sizeof(*x->elems));
	x->def = calloc((size_t)nd, sizeof(*x->def));
	if (!x->in || !x->elems || !x->def)
		goto fail;
	for (int k = 0; k < nd; k++) {
		struct ir_sig_tensor *st = &x->in[k];
		x->n = k + 1;
		st->value = -1;
		r = key_string(v2 ? &kv->string_val[k] : &keys[k]->string_val[0], &st->key);
		if (r == INFER_E_UNSUPPORTED) {
			r = ir_fail(se, r, "ParseExample '%s': dense key %d is not a usable name",
				    n->name, k);
			goto fail;
		}
		if (r)
			goto fail;
		for (int j = 0; j < k; j++)
			if (!strcmp(x->in[j].key, st->key)) {
				r = ir_fail(se, INFER_E_INVALID_MODEL,
					    "ParseExample '%s': feature '%s' listed twice", n->name,
					    st->key);
				goto fail;
			}
		char tn[IR_MAX_NAME + 32];
		snprintf(tn, sizeof(tn), "%s:%d", n->name, (int)(3 * nsparse) + k);
		if (!(st->tensor_name = strdup(tn))) {
			r = -ENOMEM;
			goto fail;
		}
		st->dtype = (enum infer_dtype)td->list->type[k];
		if (st->dtype != INFER_DT_FLOAT && st->dtype != INFER_DT_INT64) {
			r = ir_fail(se, INFER_E_UNSUPPORTED,
				    "feature '%s' has dtype %s; only DT_FLOAT and DT_INT64 dense "
				    "features are supported", st->key, infer_dtype_name(st->dtype));
			goto fail;
		}
		struct ir_shape dsh;
		if (shape_from_proto(ds->list->shape[k], &dsh) || dsh.rank < 0 ||
		    dsh.rank + 1 > IR_MAX_RANK || !ir_shape_known(&dsh)) {
			r = ir_fail(se, INFER_E_UNSUPPORTED,
				    "feature '%s': only fully defined dense shapes are supported "
				    "(no variable-length features)", st->key);
			goto fail;
		}
		x->elems[k] = ir_shape_elems(&dsh);
		if (x->elems[k] < 0 || x->elems[k] > IR_MAX_ELEMS) {
			r = ir_fail(se, INFER_E_LIMIT, "feature '%s': dense shape too large",
				    st->key);
			goto fail;
		}
		st->shape.rank = dsh.rank + 1;
		st->shape.d[0] = -1;
		for (int j = 0; j < dsh.rank; j++)
			st->shape.d[j + 1] = dsh.d[j];
		struct ir_tensor *dt = NULL;
		char eb[512] = "";
		struct ir_err de = { eb, sizeof(eb) };
		struct ir_err *saved = c->e;
		c->e = &de;
		r = const_default(c, n->in[first_def + k], &dt);
		c->e = saved;
		if (r == -ENOMEM)
			goto fail;
		if (r) {
			r = ir_fail(se, INFER_E_UNSUPPORTED,
				    "feature '%s': the dense default is not a constant%s%s",
				    st->key, eb[0] ? ": " : "", eb);
			goto fail;
		}
		int64_t dn = ir_shape_elems(&dt->shape);
		if (dt->dtype != st->dtype || (dn != 0 && dn != x->elems[k])) {
			ir_tensor_unref(dt);
			r = ir_fail(se, INFER_E_INVALID_MODEL,
				    "feature '%s': the dense default does not match the dtype / "
				    "dense shape", st->key);
			goto fail;
		}
		if (dn == 0)
			ir_tensor_unref(dt);
		else
			x->def[k] = dt;
	}
	/* the parser's dense outputs become graph inputs */
	for (int k = 0; k < nd; k++) {
		struct ir_sig_tensor *st = &x->in[k];
		int id = ir_add_node(&c->im->g, IR_INPUT, st->tensor_name, n->op, NULL, 0, 1,
				     NULL);
		if (id < 0) {
			r = id;
			goto fail;
		}
		int v = c->im->g.nodes[id].out[0];
		c->im->g.values[v].dtype = st->dtype;
		c->im->g.values[v].shape = st->shape;
		c->im->g.values[v].pinned = true;
		st->value = v;
		c->fed[c->n_fed] = (struct tref){ pe, (int)(3 * nsparse) + k };
		c->fed_val[c->n_fed++] = v;
	}
	s->ex = x;
	return 0;
fail:
	ir_example_spec_free(x);
	return r;
}

/* Converts one signature. */
static int convert_signature(struct tfctx *c, struct ir_signature *s)
{
	struct ir_graph *g = &c->im->g;
	char eb[2048] = "";
	struct ir_err se = { eb, sizeof(eb) };
	struct ir_err *saved = c->e;
	int r = 0;
	struct tref *outs = calloc((size_t)s->n_out + 1, sizeof(*outs));
	/* room for the signature inputs or the Example features (<= 64) */
	c->fed = calloc((size_t)s->n_in + 65, sizeof(struct tref));
	c->fed_val = calloc((size_t)s->n_in + 65, sizeof(int));
	if (!outs || !c->fed || !c->fed_val) {
		r = -ENOMEM;
		goto out;
	}
	c->n_fed = 0;
	c->e = &se;
	for (int i = 0; i < s->n_in; i++) {
		struct ir_sig_tensor *st = &s->in[i];
		struct tref t;
		if (parse_tensor_name(c, st->tensor_name, &t)) {
			r = set_sig_error(s, "input tensor not in the graph");
			ir_fail(&se, 0, "input '%s': tensor '%s' not in the graph",
				st->key, st->tensor_name);
			r = set_sig_error(s, eb);
			goto out;
		}
		if (st->dtype == INFER_DT_STRING && s->n_in == 1) {
			r = example_input(c, s, t, &se);
			if (r == 0)
				break;
			if (r < 0) {
				if (r != -ENOMEM)
					r = set_sig_error(s, eb);
				goto out;
			}
			r = 0;
		}
		if (st->dtype == INFER_DT_STRING || !infer_dtype_size(st->dtype)) {
			ir_fail(&se, 0, "input '%s' has dtype %s, which is not supported%s",
				st->key, infer_dtype_name(st->dtype),
				st->dtype == INFER_DT_STRING ?
				" (a string input must feed ParseExample)" : "");
			r = set_sig_error(s, eb);
			goto out;
		}
		int id = ir_add_node(g, IR_INPUT, st->key, "Placeholder", NULL, 0, 1,
				     NULL);
		if (id < 0) {
			r = id;
			goto out;
		}
		int v = g->nodes[id].out[0];
		g->values[v].dtype = st->dtype;
		g->values[v].shape = st->shape;
		g->values[v].pinned = true;
		st->value = v;
		c->fed[c->n_fed] = t;
		c->fed_val[c->n_fed++] = v;
	}
	for (int i = 0; i < s->n_out; i++) {
		if (parse_tensor_name(c, s->out[i].tensor_name, &outs[i])) {
			ir_fail(&se, 0, "output '%s': tensor '%s' not in the graph",
				s->out[i].key, s->out[i].tensor_name);
			r = set_sig_error(s, eb);
			goto out;
		}
	}
	reset_conversion(c);
	r = convert_needed(c, outs, s->n_out);
	if (r < 0 && r != -ENOMEM) {
		r = set_sig_error(s, eb);
		goto out;
	}
	if (r)
		goto out;
	if (c->n_unsup) {
		char *m = malloc(c->unsup_len + 64);
		if (!m) {
			r = -ENOMEM;
			goto out;
		}
		snprintf(m, c->unsup_len + 64, "unsupported ops: %s", c->unsup);
		free(s->error);
		s->error = m;
		goto out;
	}
	for (int i = 0; i < s->n_out; i++) {
		int v = fed_value(c, outs[i]);
		if (v < 0 && c->outmap[outs[i].node] && outs[i].idx < c->nout[outs[i].node])
			v = c->outmap[outs[i].node][outs[i].idx];
		if (v < 0) {
			ir_fail(&se, 0, "output '%s' (%s) cannot be computed",
				s->out[i].key, s->out[i].tensor_name);
			r = set_sig_error(s, eb);
			goto out;
		}
		s->out[i].value = v;
		g->values[v].pinned = true;
	}
out:
	c->e = saved;
	free(outs);
	free(c->fed);
	free(c->fed_val);
	c->fed = NULL;
	c->fed_val = NULL;
	c->n_fed = 0;
	return r;
}

static void ctx_free(struct tfctx *c)
{
	for (int i = 0; i < c->nn; i++) {
		free(c->n[i].name);
		free(c->n[i].in);
		free(c->n[i].var_key);
		ir_tensor_unref(c->n[i].var);
		if (c->outmap)
			free(c->outmap[i]);
	}
	for (int i = 0; i < c->nsc; i++) {
		free(c->sc[i].args);
		free(c->sc[i].prefix);
	}
	free(c->sc);
	free(c->n);
	name_map_free(&c->names);
	free(c->outmap);
	free(c->nout);
	free(c->unsup);
	tf_bundle_free(c->bundle);
}

static int hist_add(struct ir_model *im, const char *op)
{
	for (size_t i = 0; i < im->n_hist; i++)
		if (!strcmp(im->hist_op[i], op)) {
			im->hist_n[i]++;
			return 0;
		}
	char **no = realloc(im->hist_op, (im->n_hist + 1) * sizeof(char *));
	if (!no)
		return -ENOMEM;
	im->hist_op = no;
	size_t *nn = realloc(im->hist_n, (im->n_hist + 1) * sizeof(size_t));
	if (!nn)
		return -ENOMEM;
	im->hist_n = nn;
	im->hist_op[im->n_hist] = strdup(op);
	if (!im->hist_op[im->n_hist])
		return -ENOMEM;
	im->hist_n[im->n_hist++] = 1;
	return 0;
}

static int hist_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int import_graph(struct tfctx *c, const Tensorflow__GraphDef *gd,
			struct ir_model *im)
{
	int r;
	c->gd = gd;
	c->im = im;
	for (size_t i = 0; i < gd->n_node; i++) {
		if ((r = add_flat(c, "", gd->node[i], -1, 0)))
			return r;
		if ((r = hist_add(im, gd->node[i]->op ? gd->node[i]->op : "?")))
			return r;
	}
	for (int i = 0; i < c->nn; i++) {
		r = name_map_put(&c->names, c->n[i].name, i);
		if (r == -EEXIST)
			return ir_fail(c->e, INFER_E_INVALID_MODEL, "duplicate node name '%s'",
				       c->n[i].name);
		if (r)
			return r;
	}
	if ((r = resolve_inputs(c, 0, c->nn, -1)))
		return r;
	int nmain = c->nn;
	if ((r = expand_calls(c, 0, nmain, 0)))
		return r;
	/* sort histogram by op name (counts move with names) */
	for (size_t i = 0; i < im->n_hist; i++)
		for (size_t j = i + 1; j < im->n_hist; j++)
			if (hist_cmp(&im->hist_op[j], &im->hist_op[i]) < 0) {
				char *t = im->hist_op[i];
				im->hist_op[i] = im->hist_op[j];
				im->hist_op[j] = t;
				size_t tn = im->hist_n[i];
				im->hist_n[i] = im->hist_n[j];
				im->hist_n[j] = tn;
			}
	if ((r = bind_variables(c)))
		return r;
	c->outmap = calloc((size_t)c->nn, sizeof(int *));
	c->nout = calloc((size_t)c->nn, sizeof(int));
	if (!c->outmap || !c->nout)
		return -ENOMEM;
	for (int i = 0; i < im->n_sigs; i++)
		if ((r = convert_signature(c, &im->sigs[i])))
			return r;
	return 0;
}

static bool has_tags(const Tensorflow__MetaGraphDef *mg, const char *tags)
{
	const char *p = tags;
	while (*p) {
		const char *end = strchr(p, ',');
		size_t l = end ? (size_t)(end - p) : strlen(p);
		bool found = l == 0;
		if (mg->meta_info_def)
			for (size_t i = 0; i < mg->meta_info_def->n_tags && !found; i++)
				found = strlen(mg->meta_info_def->tags[i]) == l &&
					!memcmp(mg->meta_info_def->tags[i], p, l);
		if (!found)
			return false;
		p += l;
		if (*p)
			p++;
	}
	return true;
}

int tf_import_saved_model(const struct ir_load_ctx *lc, const uint8_t *pb,
			  size_t len, struct ir_model *im)
{
	struct ir_err *e = lc->err;
	Tensorflow__SavedModel *sm = tensorflow__saved_model__unpack(NULL, len, pb);
	if (!sm)
		return ir_fail(e, INFER_E_FORMAT,
			       "saved_model.pb is not a valid SavedModel protobuf");
	const char *tags = lc->tags ? lc->tags : "serve";
	const Tensorflow__MetaGraphDef *mg = NULL;
	for (size_t i = 0; i < sm->n_meta_graphs; i++)
		if (has_tags(sm->meta_graphs[i], tags)) {
			mg = sm->meta_graphs[i];
			break;
		}
	struct tfctx c = { 0 };
	c.lc = lc;
	c.e = e;
	int r = 0;
	if (!mg) {
		r = ir_fail(e, INFER_E_NOT_FOUND, "no MetaGraph with tags '%s'", tags);
		goto out;
	}
	if (!mg->graph_def) {
		r = ir_fail(e, INFER_E_INVALID_MODEL, "MetaGraph without a graph");
		goto out;
	}
	/* Signatures with plain tensor inputs/outputs. */
	im->sigs = calloc(mg->n_signature_def + 1, sizeof(struct ir_signature));
	if (!im->sigs) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < mg->n_signature_def; i++) {
		const char *key = mg->signature_def[i]->key;
		const Tensorflow__SignatureDef *sd = mg->signature_def[i]->value;
		if (!key || !sd || !strncmp(key, "__saved_model", 13))
			continue; /* init ops, not callable */
		struct ir_signature *s = &im->sigs[im->n_sigs++];
		s->name = strdup(key);
		s->method = strdup(sd->method_name ? sd->method_name : "");
		s->in = calloc(sd->n_inputs + 1, sizeof(struct ir_sig_tensor));
		s->out = calloc(sd->n_outputs + 1, sizeof(struct ir_sig_tensor));
		if (!s->name || !s->method || !s->in || !s->out) {
			r = -ENOMEM;
			goto out;
		}
		bool bad = false;
		for (size_t k = 0; k < sd->n_inputs; k++) {
			r = sig_tensor(sd->inputs[k]->key, sd->inputs[k]->value, &s->in[s->n_in++]);
			if (r < 0)
				goto out;
			bad |= r > 0;
		}
		for (size_t k = 0; k < sd->n_outputs; k++) {
			r = sig_tensor(sd->outputs[k]->key, sd->outputs[k]->value, &s->out[s->n_out++]);
			if (r < 0)
				goto out;
			bad |= r > 0;
		}
		r = 0;
		if (bad) {
			set_sig_error(s, "a signature tensor has no TensorInfo");
			continue;
		}
		qsort(s->in, (size_t)s->n_in, sizeof(*s->in), st_cmp);
		qsort(s->out, (size_t)s->n_out, sizeof(*s->out), st_cmp);
		for (size_t k = 0; k < sd->n_inputs; k++)
			if (sd->inputs[k]->value->encoding_case !=
			    TENSORFLOW__TENSOR_INFO__ENCODING_NAME)
				set_sig_error(s, "sparse or composite inputs are not supported");
		for (size_t k = 0; k < sd->n_outputs; k++)
			if (sd->outputs[k]->value->encoding_case !=
			    TENSORFLOW__TENSOR_INFO__ENCODING_NAME)
				set_sig_error(s, "sparse or composite outputs are not supported");
	}
	if (!im->n_sigs) {
		r = ir_fail(e, INFER_E_NOT_FOUND, "the MetaGraph has no signatures");
		goto out;
	}
	r = tf_bundle_open(lc, "variables/variables", &c.bundle);
	if (r == -ENOENT) {
		r = 0; /* no variables: the graph must not need any */
		if (e->buf && e->len)
			e->buf[0] = 0;
	}
	if (r)
		goto out;
	/* Signatures already failed keep their error: convert the others. */
	{
		char **saved = calloc((size_t)im->n_sigs, sizeof(char *));
		if (!saved) {
			r = -ENOMEM;
			goto out;
		}
		for (int i = 0; i < im->n_sigs; i++) {
			saved[i] = im->sigs[i].error;
			im->sigs[i].error = NULL;
		}
		r = import_graph(&c, mg->graph_def, im);
		for (int i = 0; i < im->n_sigs; i++) {
			if (saved[i]) {
				free(im->sigs[i].error);
				im->sigs[i].error = saved[i];
			}
		}
		free(saved);
	}
out:
	ctx_free(&c);
	tensorflow__saved_model__free_unpacked(sm, NULL);
	return r;
}

int tf_import_graphdef(const struct ir_load_ctx *lc, const uint8_t *pb,
		       size_t len, struct ir_model *im)
{
	struct ir_err *e = lc->err;
	Tensorflow__GraphDef *gd = tensorflow__graph_def__unpack(NULL, len, pb);
	if (!gd)
		return ir_fail(e, INFER_E_FORMAT, "not a valid GraphDef protobuf");
	struct tfctx c = { 0 };
	c.lc = lc;
	c.e = e;
	int r = 0;
	/* One signature: Placeholders in, unconsumed nodes out. */
	bool *consumed = calloc(gd->n_node + 1, 1);
	im->sigs = calloc(1, sizeof(struct ir_signature));
	if (!consumed || !im->sigs) {
		r = -ENOMEM;
		goto out;
	}
	struct ir_signature *s = &im->sigs[0];
	im->n_sigs = 1;
	s->name = strdup("serving_default");
	s->method = strdup("tensorflow/serving/predict");
	s->in = calloc(gd->n_node + 1, sizeof(struct ir_sig_tensor));
	s->out = calloc(gd->n_node + 1, sizeof(struct ir_sig_tensor));
	if (!s->name || !s->method || !s->in || !s->out) {
		r = -ENOMEM;
		goto out;
	}
	char name[IR_MAX_NAME];
	for (size_t i = 0; i < gd->n_node; i++) {
		const Tensorflow__NodeDef *d = gd->node[i];
		for (size_t k = 0; k < d->n_input; k++) {
			int idx;
			const char *in = d->input[k];
			if (!in || parse_ref(in[0] == '^' ? in + 1 : in, name, sizeof(name), &idx))
				continue;
			for (size_t j = 0; j < gd->n_node; j++)
				if (gd->node[j]->name && !strcmp(gd->node[j]->name, name)) {
					consumed[j] = true;
					break;
				}
		}
	}
	for (size_t i = 0; i < gd->n_node; i++) {
		const Tensorflow__NodeDef *d = gd->node[i];
		if (!d->name || !d->op)
			continue;
		bool ph = !strcmp(d->op, "Placeholder");
		if (!ph && (consumed[i] || !strcmp(d->op, "NoOp") ||
			    !strcmp(d->op, "Const")))
			continue;
		struct ir_sig_tensor *st = ph ? &s->in[s->n_in++] : &s->out[s->n_out++];
		char tn[IR_MAX_NAME + 4];
		snprintf(tn, sizeof(tn), "%s:0", d->name);
		st->key = strdup(d->name);
		st->tensor_name = strdup(tn);
		if (!st->key || !st->tensor_name) {
			r = -ENOMEM;
			goto out;
		}
		st->value = -1;
		st->dtype = (enum infer_dtype)(ph ? attr_type(d, "dtype", 0) :
					       attr_type(d, "T", INFER_DT_FLOAT));
		st->shape.rank = -1;
		if (ph) {
			const Tensorflow__AttrValue *a = attr(d, "shape");
			if (a && a->value_case == TENSORFLOW__ATTR_VALUE__VALUE_SHAPE &&
			    shape_from_proto(a->shape, &st->shape))
				st->shape.rank = -1;
		}
	}
	if (!s->n_out) {
		r = ir_fail(e, INFER_E_INVALID_MODEL, "the graph has no outputs");
		goto out;
	}
	qsort(s->in, (size_t)s->n_in, sizeof(*s->in), st_cmp);
	qsort(s->out, (size_t)s->n_out, sizeof(*s->out), st_cmp);
	r = hist_add(im, "Placeholder"); /* keeps the histogram non-empty */
	if (!r) {
		im->n_hist = 0;
		free(im->hist_op[0]);
	}
	r = import_graph(&c, gd, im);
out:
	free(consumed);
	ctx_free(&c);
	tensorflow__graph_def__free_unpacked(gd, NULL);
	return r;
}
