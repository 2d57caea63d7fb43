/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private structures of the inference engine: the graph IR the importers
 * produce, the load-time passes, and the per-shape execution plans.
 *
 * Conventions of the IR:
 *  - every tensor is dense and row-major in its logical shape (a plan
 *    may keep activations in oneDNN's blocked layouts between oneDNN ops
 *    and reorders them back wherever this plain form is read: plan.c);
 *  - spatial ops (conv, pool, batch norm) work on NHWC tensors, with conv
 *    weights in OIHW order (grouped: O = groups * O/g, I = C/groups).  The
 *    TF importer maps NHWC graphs directly; the ONNX importer keeps NCHW
 *    values in NHWC storage between spatial ops and inserts transposes only
 *    where a layout-sensitive op needs the NCHW view;
 *  - shapes are resolved per plan: the importers record what the graph
 *    says (for metadata), plans compute concrete shapes from the inputs.
 */
#ifndef CCSERVE_INFER_INTERNAL_H
#define CCSERVE_INFER_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ccserve/infer.h>
#include <ccserve/util.h>

#define IR_MAX_RANK INFER_MAX_RANK
/* Caps on untrusted model contents. */
#define IR_MAX_NODES 200000
#define IR_MAX_INPUTS 4096         /* inputs of one node */
#define IR_MAX_ELEMS (1LL << 31)   /* elements of one tensor */
#define IR_MAX_DIM (1LL << 31)
#define IR_MAX_INLINE_DEPTH 32
#define IR_MAX_NAME 4096

/* Error reporting into a caller buffer. */
struct ir_err {
	char *buf;
	size_t len;
};
int ir_fail(struct ir_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------------------ */
/* Tensors                                                                  */

struct ir_shape {
	int rank; /* -1 unknown */
	int64_t d[IR_MAX_RANK]; /* -1 unknown */
};

/* A host tensor owning its data (malloc). */
struct ir_tensor {
	enum infer_dtype dtype;
	struct ir_shape shape; /* fully known */
	void *data;
	size_t size; /* bytes */
	unsigned refs;
};

int64_t ir_shape_elems(const struct ir_shape *s); /* -1 if unknown/overflow */
bool ir_shape_known(const struct ir_shape *s);
bool ir_shape_eq(const struct ir_shape *a, const struct ir_shape *b);
void ir_shape_str(const struct ir_shape *s, char *buf, size_t len);
int ir_tensor_new(enum infer_dtype dt, const struct ir_shape *s,
		  struct ir_tensor **ret);
struct ir_tensor *ir_tensor_ref(struct ir_tensor *t);
void ir_tensor_unref(struct ir_tensor *t);
/* Read element i of an integer tensor (INT32/INT64/UINT8/...) as int64. */
int64_t ir_tensor_geti(const struct ir_tensor *t, int64_t i);
double ir_tensor_getf(const struct ir_tensor *t, int64_t i);
bool ir_dtype_is_float(enum infer_dtype dt);
bool ir_dtype_is_int(enum infer_dtype dt);

/* ------------------------------------------------------------------------ */
/* Graph                                                                    */

enum ir_op {
	IR_INPUT = 0,
	IR_CONST,
	IR_IDENTITY,
	IR_CONV,       /* in: x NHWC, w OIHW [, bias] */
	IR_POOL,
	IR_MATMUL,     /* in: a, b [, bias] */
	IR_BINARY,
	IR_UNARY,
	IR_BATCHNORM,  /* in: x (channels last), scale, offset, mean, var */
	IR_REDUCE,     /* in: x [, axes] */
	IR_SOFTMAX,
	IR_PAD,        /* in: x, pads [, value] */
	IR_RESHAPE,    /* in: x [, shape] */
	IR_SQUEEZE,    /* in: x [, axes] */
	IR_UNSQUEEZE,  /* in: x [, axes] */
	IR_FLATTEN,
	IR_CONCAT,     /* in: xs... */
	IR_PACK,       /* in: xs... (stack along a new axis) */
	IR_TRANSPOSE,  /* in: x [, perm] */
	IR_CAST,
	IR_ARGMAX,     /* in: x [, axis] */
	IR_SLICE,      /* in: x, starts, ends [, axes, steps] (ONNX form) */
	IR_STRIDED_SLICE, /* in: x, begin, end, strides (TF form + masks) */
	IR_TF_SLICE,   /* in: x, begin, size (TF Slice, size -1 = to end) */
	IR_GATHER,     /* in: x, indices [, axis] */
	IR_SHAPE,
	IR_FILL,       /* in: dims, value */
	IR_RANGE,      /* in: start, limit, delta */
	IR_TILE,       /* in: x, multiples */
	IR_EXPAND,     /* in: x, shape (ONNX Expand) */
	IR_WHERE,      /* in: cond, x, y */
	IR_OP_COUNT,
};

enum ir_binop {
	IR_ADD, IR_SUB, IR_MUL, IR_DIV, IR_MAX, IR_MIN, IR_POW, IR_SQDIFF,
	IR_FLOORDIV, IR_MOD, IR_FMOD, IR_PRELU,
	IR_EQUAL, IR_LESS, IR_GREATER, IR_LESS_EQUAL, IR_GREATER_EQUAL,
	IR_AND, IR_OR,
};

enum ir_unop {
	IR_RELU, IR_RELU6, IR_SIGMOID, IR_TANH, IR_ELU, IR_LEAKY_RELU,
	IR_HARD_SIGMOID, IR_HARD_SWISH, IR_SILU, IR_CLIP, IR_EXP, IR_LOG,
	IR_SQRT, IR_RSQRT, IR_NEG, IR_ABS, IR_SQUARE, IR_RECIPROCAL,
	IR_FLOOR, IR_CEIL, IR_ROUND, IR_SOFTPLUS, IR_ERF, IR_SELU, IR_GELU,
	IR_NOT, IR_SIGN,
};

enum ir_reduce { IR_RMEAN, IR_RSUM, IR_RMAX, IR_RMIN, IR_RPROD };

enum ir_pad_mode { IR_PAD_CONSTANT, IR_PAD_REFLECT, IR_PAD_SYMMETRIC, IR_PAD_EDGE };

/* Spatial padding of convs and pools. */
enum ir_padding { IR_PADDING_EXPLICIT, IR_PADDING_SAME_UPPER,
		  IR_PADDING_SAME_LOWER, IR_PADDING_VALID };

/* A fused elementwise activation (applied by oneDNN as a post-op). */
struct ir_act {
	enum ir_unop op;
	float alpha, beta;
};
#define IR_MAX_POST 4

struct ir_node {
	char *name;        /* node name in the source graph */
	const char *type;  /* source op type ("Conv2D", "Conv"), interned */
	enum ir_op op;
	int n_in;
	int *in;           /* value ids; -1 for an absent optional input */
	int n_out;
	int *out;          /* value ids */
	bool dead;         /* removed by a pass */
	union {
		struct {
			int64_t kh, kw, sh, sw, dh, dw;
			int64_t pad[4]; /* top, bottom, left, right */
			enum ir_padding padding;
			int64_t groups;
			/* Fusion results */
			int n_post;
			struct ir_act post[IR_MAX_POST];
			int sum_at;   /* post-op index of the residual add, -1 */
			int sum_in;   /* index in in[] of the residual, -1 */
		} conv;
		struct {
			bool max;
			int64_t kh, kw, sh, sw;
			int64_t pad[4];
			enum ir_padding padding;
			bool count_include_pad;
			bool global;
		} pool;
		struct {
			bool ta, tb;
			float alpha, beta; /* Gemm: alpha*A*B + beta*C */
			int n_post;
			struct ir_act post[IR_MAX_POST];
		} mm;
		struct { enum ir_binop op; } bin;
		struct ir_act un;
		struct { float eps; } bn;
		struct {
			enum ir_reduce op;
			bool keepdims;
			bool noop_empty; /* ONNX noop_with_empty_axes */
			int n_axes;
			int64_t axes[IR_MAX_RANK];
		} red;
		struct { int64_t axis; bool log; bool onnx_legacy; } sm;
		struct {
			enum ir_pad_mode mode;
			float value;
			int n_pads; /* from attribute (ONNX < 11), else 0 */
			int64_t pads[2 * IR_MAX_RANK];
		} pad;
		struct {
			int n; /* from attribute, else 0 */
			int64_t shape[IR_MAX_RANK];
			bool allowzero;
		} reshape;
		struct { int n_axes; int64_t axes[IR_MAX_RANK]; } sq;
		struct { int64_t axis; } flat;
		struct { int64_t axis; } cat;
		struct { int n; int64_t perm[IR_MAX_RANK]; } tr;
		struct { enum infer_dtype to; } cast;
		struct { int64_t axis; bool keepdims; bool min;
			 bool select_last; enum infer_dtype out; bool has_axis; } arg;
		struct {
			int64_t begin_mask, end_mask, ellipsis_mask,
				new_axis_mask, shrink_axis_mask;
		} ss;
		struct { int64_t axis; bool has_axis; } gather;
		struct { enum infer_dtype out; } shape;
	} a;
};

struct ir_value {
	char *name;        /* "node:k" (TF) or the ONNX value name */
	int producer;      /* node index, -1 for none */
	enum infer_dtype dtype; /* INVALID when unknown before planning */
	struct ir_shape shape;  /* static information, may be partial */
	struct ir_tensor *cval; /* constant data (IR_CONST outputs) */
	int uses;          /* filled by ir_graph_count_uses */
	bool pinned;       /* a signature input/output: never fused away */
};

struct ir_graph {
	struct ir_node *nodes;
	int n_nodes, cap_nodes;
	struct ir_value *values;
	int n_values, cap_values;
	/* Interned op-type strings. */
	char **types;
	int n_types, cap_types;
};

void ir_graph_init(struct ir_graph *g);
void ir_graph_free(struct ir_graph *g);
/* Adds a value (name copied, may be NULL) and returns its id or < 0. */
int ir_add_value(struct ir_graph *g, const char *name, enum infer_dtype dt);
/* Adds a node with n_in inputs and n_out fresh outputs named
 * "<name>:k" (or the given names when out_names != NULL).  Returns the
 * node id or < 0. */
int ir_add_node(struct ir_graph *g, enum ir_op op, const char *name,
		const char *type, const int *in, int n_in, int n_out,
		const char *const *out_names);
/* Adds a CONST node holding t (reference taken) and returns the value id. */
int ir_add_const(struct ir_graph *g, const char *name, struct ir_tensor *t);
const char *ir_intern(struct ir_graph *g, const char *s);
void ir_count_uses(struct ir_graph *g);
const char *ir_op_name(enum ir_op op);

/* Load-time optimisation: BatchNorm folding, bias/activation/residual
 * fusion into convs and matmuls, identity removal.  Values marked pinned
 * are kept. */
int ir_optimize(struct ir_graph *g, struct ir_err *e);

/* ------------------------------------------------------------------------ */
/* Importers                                                                */

struct ir_sig_tensor {
	char *key;          /* logical name */
	char *tensor_name;  /* graph name ("x:0") */
	int value;          /* value id */
	enum infer_dtype dtype;
	struct ir_shape shape;
};

/* A signature whose single input is a DT_STRING tensor of serialized
 * tf.Example feeding ParseExample(V2): the graph is cut at the parser's
 * dense outputs, which become the plan's inputs (one per feature, batch
 * dimension first).  Built by the TF importer, used by example.c. */
struct ir_example_spec {
	int n;                    /* dense features */
	struct ir_sig_tensor *in; /* key = feature name; dtype FLOAT or INT64;
				   * shape [-1, dense_shape...]; value = the
				   * graph input */
	int64_t *elems;           /* values per example */
	struct ir_tensor **def;   /* default values (elems of them), NULL
				   * for a required feature */
};

struct ir_signature {
	char *name;
	char *method;
	int n_in, n_out;
	struct ir_sig_tensor *in, *out;
	char *error;        /* non-NULL: unavailable */
	struct ir_example_spec *ex; /* non-NULL: takes serialized Examples */
};

void ir_example_spec_free(struct ir_example_spec *x);

struct ir_model {
	struct ir_graph g;
	struct ir_signature *sigs;
	int n_sigs;
	/* op histogram of the source graph */
	char **hist_op;
	size_t *hist_n;
	size_t n_hist;
};

void ir_model_free(struct ir_model *im);

struct ir_load_ctx {
	const struct infer_fs *fs;
	size_t max_file;
	const char *tags;
	struct ir_err *err;
};

int ir_fs_read(const struct ir_load_ctx *c, const char *path, void **ret,
	       size_t *ret_len);
void ir_fs_release(const struct ir_load_ctx *c, void *data, size_t len);

/* Map from borrowed name strings (the caller keeps them alive) to ints.
 * Zero-initialise; get returns -1 when absent; put returns -EEXIST for a
 * name already present, -ENOMEM, or 0. */
struct name_map {
	struct name_map_slot *slot;
	size_t cap, count;
};
int name_map_get(const struct name_map *m, const char *key);
int name_map_put(struct name_map *m, const char *key, int val);
void name_map_free(struct name_map *m);

int tf_import_saved_model(const struct ir_load_ctx *c, const uint8_t *pb,
			  size_t len, struct ir_model *im);
int tf_import_graphdef(const struct ir_load_ctx *c, const uint8_t *pb,
		       size_t len, struct ir_model *im);
int onnx_import(const struct ir_load_ctx *c, const uint8_t *pb, size_t len,
		struct ir_model *im);

/* Checks the signatures' subgraphs for unsupported ops / missing inputs
 * and marks signatures unavailable.  Fails when none is available. */
int ir_check_signatures(struct ir_model *im, struct ir_err *e);

/* Tensor bundle (variables/) reader. */
struct tf_bundle;
int tf_bundle_open(const struct ir_load_ctx *c, const char *prefix,
		   struct tf_bundle **ret);
/* Loads the tensor stored under key; -ENOENT when absent. */
int tf_bundle_get(struct tf_bundle *b, const char *key,
		  struct ir_tensor **ret);
/* Raw value of key in the index table (borrowed); -ENOENT when absent. */
int tf_bundle_raw(struct tf_bundle *b, const char *key, const uint8_t **ret,
		  size_t *ret_len);
void tf_bundle_free(struct tf_bundle *b);

/* Decompression and checksums used by the bundle (exposed for tests). */
int ir_snappy_uncompress(const uint8_t *in, size_t in_len, uint8_t **ret,
			 size_t *ret_len, size_t max);
uint32_t ir_crc32c(uint32_t crc, const void *data, size_t len);

/* ------------------------------------------------------------------------ */
/* Reference kernels (also used for constant folding)                       */

/* Per-plan parameters of a node whose attributes depend on input shapes
 * (padding, axes, slices), computed by ir_infer_node(). */
struct ir_params {
	int64_t pad[4];          /* conv/pool explicit pads t, b, l, r */
	int64_t groups;          /* conv */
	int64_t oh, ow;          /* conv/pool output spatial size */
	int n_axes;              /* reduce/squeeze/unsqueeze */
	bool mask[IR_MAX_RANK];  /* reduce: reduced dims */
	int64_t perm[IR_MAX_RANK]; /* transpose */
	int64_t axis;            /* concat, softmax, gather, argmax, pack,
				  * flatten */
	int64_t start[IR_MAX_RANK], step[IR_MAX_RANK], len[IR_MAX_RANK]; /* slices */
	int64_t pads[2 * IR_MAX_RANK]; /* pad: begin..., end... */
	double value;            /* pad constant, fill value */
	double rstart, rdelta;   /* range */
	int n_data;              /* concat: data inputs */
};

/* Shape/dtype inference of node n from its inputs' dtypes and shapes and
 * the constant inputs (in_const[k] non-NULL), filling out_dt/out_sh and
 * the per-plan parameters p.  Inputs with in[k] < 0 have INVALID dtype. */
int ir_infer_node(const struct ir_node *n, const enum infer_dtype *in_dt,
		  const struct ir_shape *in_sh,
		  const struct ir_tensor *const *in_const,
		  enum infer_dtype *out_dt, struct ir_shape *out_sh,
		  struct ir_params *p, struct ir_err *e);

/* Runs node with the reference implementation.  in/out data dense. */
int ir_kernel_run(const struct ir_node *n, const struct ir_params *p,
		  const enum infer_dtype *in_dt, const struct ir_shape *in_sh,
		  const void *const *in_data, const enum infer_dtype *out_dt,
		  const struct ir_shape *out_sh, void *const *out_data);

/* ------------------------------------------------------------------------ */
/* Plans                                                                    */

struct infer_plan;
struct infer_engine;

int engine_new(int threads, enum infer_precision prec,
	       struct infer_engine **ret, struct ir_err *e);
void engine_free(struct infer_engine *en);

/* Compiles the plan of signature s of im for the given input shapes. */
int plan_build(struct infer_engine *en, struct ir_model *im,
	       const struct ir_signature *s, const struct ir_shape *in_shapes,
	       int max_concurrency, size_t max_bytes, struct infer_plan **ret,
	       struct ir_err *e);
void plan_free(struct infer_plan *p);
/* Output dtype/shape i (signature order) of a plan. */
void plan_output(const struct infer_plan *p, int i, enum infer_dtype *dt,
		 struct ir_shape *sh);
/* Executes with inputs (signature order, dense data) into out_data
 * (signature order; NULL entries are skipped). */
int plan_run(struct infer_plan *p, const void *const *in_data,
	     void *const *out_data, struct ir_err *e);
int plan_profile(struct infer_plan *p, int iterations, double *conv_ms,
		 double *steps_ms, int *n_conv, struct ir_err *e);

/* ------------------------------------------------------------------------ */
/* Winograd F(2x2,3x3) / F(4x4,3x3) convolution on nChw8c (winograd.c)    */

enum wino_act_kind { WINO_CLAMP, WINO_LEAKY };
struct wino_act {
	enum wino_act_kind kind;
	float lo, hi; /* CLAMP: bounds; LEAKY: lo is the negative slope */
};

struct wino_conv {
	int64_t N, C, H, W, K, OH, OW, pt, pl; /* stride 1, 3x3, no dilation */
	int m;             /* output tile: 2 (F(2x2,3x3)) or 4 (F(4x4,3x3)) */
	const float *u;    /* wino_transform_weights() output for this m */
	const float *bias; /* K floats or NULL */
	int n_act;
	struct wino_act act[IR_MAX_POST];
	/* wino_plan() */
	int64_t th, tw, tiles, blk, vstride, mstride;
};

/* Whether this CPU runs the kernels (AVX2 and FMA). */
bool wino_cpu_ok(void);
/* Whether C input and K output channels are supported. */
bool wino_shape_ok(int64_t C, int64_t K);
size_t wino_weights_size(int64_t C, int64_t K, int m);
/* oihw: K x C x 3 x 3 floats; u: wino_weights_size() bytes. */
void wino_transform_weights(const float *oihw, int64_t K, int64_t C, int m, float *u);
/* Fills the tiling fields of w from its sizes: tiles are processed in
 * blocks whose transformed input and products take about block_bytes
 * (0: chosen from the size of the transformed weights). */
void wino_plan(struct wino_conv *w, size_t block_bytes);
size_t wino_scratch_size(const struct wino_conv *w);
/* src: N x C/8 x H x W x 8, dst: N x K/8 x OH x OW x 8. */
void wino_run(const struct wino_conv *w, const float *src, float *dst, void *scratch,
	      int threads);

/* ------------------------------------------------------------------------ */
/* Runs over explicit plan inputs (model.c), used by the Example path       */

/* Runs signature index si of m with x (a signature's plan-input view: in[]
 * and n_in replaced, e.g. by the Example features) on inputs, as
 * infer_model_run() does. */
int model_run_view(struct infer_model *m, int si, const struct ir_signature *x,
		   const struct infer_tensor *inputs, size_t n_inputs,
		   struct infer_tensor *outputs, size_t n_outputs, struct ir_err *e);
/* The signature as its plan sees it: s itself, or for a tf.Example signature
 * a copy in *view whose inputs are the parser's dense outputs. */
const struct ir_signature *sig_plan_view(const struct ir_signature *s,
					 struct ir_signature *view);
/* Index of signature name (NULL/"" = serving_default) and its IR, or -1. */
int model_find_sig(const struct infer_model *m, const char *name,
		   const struct ir_signature **ret);
int64_t model_max_batch(const struct infer_model *m);

#endif /* CCSERVE_INFER_INTERNAL_H */
