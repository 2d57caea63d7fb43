/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ccserve infer: load TensorFlow SavedModels, frozen GraphDefs and ONNX
 * models and run them on the CPU through oneDNN.
 *
 * A model is loaded once (parsed, validated, optimised: constant folding,
 * BatchNorm folding, conv + bias + activation + residual-add fusion, weights
 * reordered once into the layouts oneDNN picks).  Each signature is compiled
 * into an execution plan per set of input shapes (in practice: per batch
 * size) on first use, or ahead of time with infer_model_prepare(); a plan
 * owns pre-faulted buffers planned by liveness, so running it allocates
 * nothing but the outputs the caller asks the engine to allocate.
 *
 * Files are read through a caller-supplied callback (struct infer_fs), so a
 * model can live anywhere, e.g. inside an encrypted volume read in user
 * space; infer_fs_dir() gives a callback over a plain directory.
 *
 * Threading: every function taking a const struct infer_model * and
 * infer_model_run() / infer_model_prepare() may be called concurrently on
 * one model.  Each run uses an OpenMP team of opts.threads threads (set on
 * the calling thread); concurrent runs of the same plan beyond
 * opts.max_concurrency wait for a free set of buffers rather than
 * oversubscribing the cores.  libgomp reads OMP_WAIT_POLICY when the process
 * starts: services that share cores with I/O threads should start with
 * OMP_WAIT_POLICY=passive (see docs/ccinfer.md).
 *
 * Errors: functions return 0 or a negative value: -errno (ENOMEM, EIO,
 * ENOENT from the file callback, ...) or an INFER_E_* code below;
 * infer_strerror() names both.  Functions taking an errbuf also write a
 * one-line, human-readable cause there (NUL-terminated, truncated to
 * errlen; errbuf may be NULL).  The library logs through cc_log() with the
 * component "infer" and never prints.
 */
#ifndef CCSERVE_INFER_H
#define CCSERVE_INFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum infer_error {
	INFER_E_BASE = 2000,
	INFER_E_FORMAT = -2001,       /* malformed file: protobuf, bundle, npy */
	INFER_E_UNSUPPORTED = -2002,  /* op, attribute or dtype not supported */
	INFER_E_INVALID_MODEL = -2003,/* inconsistent graph: cycle, dangling
				       * input, shape or dtype mismatch */
	INFER_E_NOT_FOUND = -2004,    /* no such signature, input, output,
				       * variable or model file */
	INFER_E_BAD_INPUT = -2005,    /* a run's inputs: wrong name, dtype,
				       * shape, size, or missing */
	INFER_E_LIMIT = -2006,        /* a size or count above a cap */
	INFER_E_BACKEND = -2007,      /* oneDNN refused a primitive */
	INFER_E_UNAVAILABLE = -2008,  /* the signature could not be compiled
				       * (infer_signature_info.error says why) */
};

/* Static description of err (a negative errno or INFER_E_*); never NULL. */
const char *infer_strerror(int err);

/* Element types, numbered as TensorFlow's DataType so that a server can map
 * them to and from TensorProto without a table. */
enum infer_dtype {
	INFER_DT_INVALID = 0,
	INFER_DT_FLOAT = 1,
	INFER_DT_DOUBLE = 2,
	INFER_DT_INT32 = 3,
	INFER_DT_UINT8 = 4,
	INFER_DT_INT16 = 5,
	INFER_DT_INT8 = 6,
	INFER_DT_STRING = 7, /* appears in signatures only; never computed */
	INFER_DT_INT64 = 9,
	INFER_DT_BOOL = 10,  /* one byte per element, 0 or 1 */
	INFER_DT_BFLOAT16 = 14,
	INFER_DT_UINT16 = 17,
	INFER_DT_HALF = 19,
	INFER_DT_UINT32 = 22,
	INFER_DT_UINT64 = 23,
};

/* Bytes per element; 0 for INVALID, STRING and unknown values. */
size_t infer_dtype_size(enum infer_dtype dt);
/* "DT_FLOAT", ... ; "DT_INVALID" for unknown values.  Never NULL. */
const char *infer_dtype_name(enum infer_dtype dt);

#define INFER_MAX_RANK 8

/* ------------------------------------------------------------------------ */
/* File access                                                              */

/*
 * How the engine reads a model's files.  Paths are relative to the model
 * directory, '/'-separated ("saved_model.pb", "variables/variables.index").
 * read() returns 0 and a buffer of *ret_len bytes that stays valid until
 * release(userdata, data, len) is called (release may be NULL when the
 * buffer is to be free()d); -ENOENT when the file does not exist;
 * CC_E_TOOBIG (from util.h) or INFER_E_LIMIT when it is larger than max; any
 * other negative value on failure.  The engine never keeps a buffer beyond
 * infer_model_load().  read() may be called from the loading thread only.
 */
struct infer_fs {
	void *userdata;
	int (*read)(void *userdata, const char *path, size_t max,
		    void **ret_data, size_t *ret_len);
	void (*release)(void *userdata, void *data, size_t len);
};

/* A struct infer_fs over a plain directory (regular files only, no symlinks
 * out of it are followed specially).  dir is copied.  Free with
 * infer_fs_dir_free(); NULL is accepted there.  Errors: -ENOMEM. */
int infer_fs_dir(const char *dir, struct infer_fs **ret);
void infer_fs_dir_free(struct infer_fs *fs);

/* ------------------------------------------------------------------------ */
/* Loading                                                                  */

enum infer_format {
	INFER_FORMAT_AUTO = 0,       /* probe: saved_model.pb, model.onnx,
				      * frozen_graph.pb / model.pb */
	INFER_FORMAT_SAVED_MODEL = 1,
	INFER_FORMAT_GRAPHDEF = 2,   /* frozen GraphDef */
	INFER_FORMAT_ONNX = 3,
};

enum infer_precision {
	INFER_PRECISION_FP32 = 0,
	INFER_PRECISION_BF16 = 1,    /* bf16 convolutions and matmuls with fp32
				      * accumulation; needs avx512_bf16 or AMX,
				      * else the load fails INFER_E_UNSUPPORTED */
};

struct infer_model_opts {
	enum infer_format format;     /* default AUTO */
	/* For AUTO/GRAPHDEF/ONNX: the file name in the model directory; NULL
	 * probes the default names. */
	const char *file;
	/* SavedModel MetaGraph tag set, comma-separated; NULL means "serve". */
	const char *tags;
	int threads;                  /* intra-op threads; 0 = all online CPUs */
	int max_concurrency;          /* buffer sets per plan; 0 = 1 */
	size_t max_plans;             /* cached plans per signature; 0 = 8 */
	size_t max_file_size;         /* per file read; 0 = 4 GiB */
	int64_t max_batch;            /* largest accepted batch; 0 = 1024 */
	enum infer_precision precision;
	/* Memory one plan may use (activation arenas and tensors folded at
	 * plan time); above it compilation fails INFER_E_LIMIT.  0 = 16 GiB. */
	size_t max_plan_bytes;
};

struct infer_model;

/*
 * Load a model from fs (borrowed for the duration of the call).  opts may
 * be NULL (all defaults).  For a frozen GraphDef, the single signature
 * "serving_default" has the graph's Placeholders (without consumers
 * upstream) as inputs and the nodes nothing consumes as outputs; for ONNX,
 * "serving_default" has the graph inputs (minus initializers) and outputs,
 * keyed by their names.  A SavedModel keeps its SignatureDefs; a signature
 * whose subgraph cannot be compiled (unsupported op, string inputs other
 * than serialized tf.Example feeding ParseExample) is
 * listed with available = false and the cause, and the load fails only
 * when no signature is available.
 * Errors: -ENOENT / INFER_E_NOT_FOUND (no model file), INFER_E_FORMAT,
 * INFER_E_UNSUPPORTED (with the op types, node names and the full list of
 * unsupported ops in errbuf), INFER_E_INVALID_MODEL, INFER_E_LIMIT,
 * INFER_E_BACKEND, -ENOMEM.
 */
int infer_model_load(const struct infer_fs *fs,
		     const struct infer_model_opts *opts, char *errbuf,
		     size_t errlen, struct infer_model **ret);
/* Convenience: infer_model_load() over a plain directory, or over a single
 * .onnx / .pb file when path names a regular file. */
int infer_model_load_path(const char *path,
			  const struct infer_model_opts *opts, char *errbuf,
			  size_t errlen, struct infer_model **ret);
/* Frees the model and every plan; NULL is accepted.  No run may be in
 * progress. */
void infer_model_free(struct infer_model *m);

enum infer_format infer_model_format(const struct infer_model *m);

/* ------------------------------------------------------------------------ */
/* Metadata (for GetModelMetadata): owned by the model, valid until
 * infer_model_free(). */

struct infer_tensor_info {
	const char *name;        /* logical name (signature key) */
	const char *tensor_name; /* graph tensor, e.g. "x:0" */
	enum infer_dtype dtype;
	int rank;                /* -1: unknown rank */
	int64_t dims[INFER_MAX_RANK]; /* -1: unknown dimension */
};

/* A dense feature a tf.Example signature reads from each Example. */
struct infer_feature_info {
	const char *name;        /* feature key in Features.feature */
	enum infer_dtype dtype;  /* FLOAT (float_list) or INT64 (int64_list) */
	int rank;                /* of one example's value (dense_shape) */
	int64_t dims[INFER_MAX_RANK]; /* all known; rank 0 = one value */
	bool required;           /* no default: every Example must carry it */
};

struct infer_signature_info {
	const char *name;        /* "serving_default", ... */
	const char *method_name; /* "tensorflow/serving/predict", ... */
	size_t n_inputs;
	const struct infer_tensor_info *inputs;   /* sorted by name */
	size_t n_outputs;
	const struct infer_tensor_info *outputs;  /* sorted by name */
	bool available;
	const char *error;       /* why not available; NULL when available */
	/* Signatures whose single input is a DT_STRING tensor of serialized
	 * tf.Example feeding ParseExample / ParseExampleV2 (dense features
	 * only): the features, in the parser's order, and features != NULL.
	 * Run them with infer_model_run_examples().  A parser with sparse or
	 * ragged features, string features or variable-length dense shapes
	 * leaves the signature unavailable with the reason in error. */
	size_t n_features;
	const struct infer_feature_info *features;
};

/* Signatures sorted by name.  Out-of-range index returns NULL. */
size_t infer_model_signature_count(const struct infer_model *m);
const struct infer_signature_info *
infer_model_signature(const struct infer_model *m, size_t i);
/* name NULL or "" finds "serving_default".  NULL when absent. */
const struct infer_signature_info *
infer_model_find_signature(const struct infer_model *m, const char *name);

/* Op histogram of the imported graph (all signatures), sorted by op type.
 * Returns false when i is out of range. */
bool infer_model_op_stat(const struct infer_model *m, size_t i,
			 const char **ret_op, size_t *ret_count);

/* ------------------------------------------------------------------------ */
/* Running                                                                  */

/*
 * A tensor passed to or returned from a run.  Data is dense, row-major,
 * little-endian, of infer_dtype_size(dtype) * prod(dims) bytes.
 */
struct infer_tensor {
	const char *name;        /* logical name (signature key) */
	enum infer_dtype dtype;
	int rank;
	int64_t dims[INFER_MAX_RANK];
	void *data;
	size_t size;             /* bytes available at data */
};

/*
 * Run signature sig (NULL = "serving_default") on inputs (n_inputs tensors,
 * one per signature input, matched by name; data borrowed).  For TensorFlow
 * models an input may have another rank than the signature declares (as
 * TensorFlow feeds it); when the graph cannot run on that shape the run
 * fails INFER_E_BAD_INPUT.  Signatures over serialized tf.Example
 * (features != NULL) fail INFER_E_BAD_INPUT here: use
 * infer_model_run_examples().
 *
 * outputs: n_outputs entries.  If n_outputs == 0 nothing is returned (the
 * run still happens).  Each entry names the signature output it wants
 * (name NULL takes the signature's i-th output in name order).  On
 * success each entry gets dtype, rank and dims; if its data was NULL the
 * engine malloc()s the buffer (the caller free()s it) and sets size,
 * otherwise data must hold at least the output's bytes (else
 * INFER_E_BAD_INPUT with the needed size in errbuf; dims are still set).
 *
 * The first run with a new set of input shapes compiles and caches a plan
 * (cost: 0.1-0.5 s for ResNet-50); later runs allocate nothing else.
 * Errors: INFER_E_NOT_FOUND (signature or output name), INFER_E_BAD_INPUT,
 * INFER_E_UNAVAILABLE, INFER_E_LIMIT (batch above max_batch), INFER_E_BACKEND,
 * -ENOMEM.  On error, buffers the engine allocated are freed and data
 * pointers it set are reset to NULL.
 */
int infer_model_run(struct infer_model *m, const char *sig,
		    const struct infer_tensor *inputs, size_t n_inputs,
		    struct infer_tensor *outputs, size_t n_outputs,
		    char *errbuf, size_t errlen);

/* A borrowed byte string. */
struct infer_bytes {
	const void *data;
	size_t len;
};

/* Caps of infer_model_run_examples(). */
#define INFER_MAX_EXAMPLE_BYTES ((size_t)64 << 20) /* one serialized Example */

/*
 * Run a signature that takes serialized tf.Example (its info has
 * features != NULL) on n_examples serialized Examples (borrowed; 1 to
 * opts.max_batch of them), as TensorFlow's ParseExample and TF Serving do:
 * each dense feature is read from the Example, else from context (a
 * serialized Example whose features every Example inherits, as TF
 * Serving's example_list_with_context; NULL or len 0 = none), else from
 * the model's default; then the graph runs on the batch.
 *
 * outputs / n_outputs as for infer_model_run(); the batch dimension of the
 * outputs is n_examples.
 *
 * Errors: INFER_E_BAD_INPUT with the example index and feature name in
 * errbuf for a malformed Example, a required feature missing, a feature of
 * the wrong kind (e.g. int64_list where the model reads floats) or with a
 * number of values other than the dense shape holds; INFER_E_BAD_INPUT also
 * when sig takes tensors, not Examples; INFER_E_LIMIT (an Example above
 * INFER_MAX_EXAMPLE_BYTES, n_examples above max_batch or 0 is
 * INFER_E_BAD_INPUT); the errors of infer_model_run(); -ENOMEM.
 */
int infer_model_run_examples(struct infer_model *m, const char *sig,
			     const struct infer_bytes *examples, size_t n_examples,
			     const struct infer_bytes *context,
			     struct infer_tensor *outputs, size_t n_outputs,
			     char *errbuf, size_t errlen);

/*
 * Compile (and cache) the plan of signature sig for a batch size: every
 * input's unknown leading dimension is set to batch (other unknown
 * dimensions must not exist).  Use it to warm up.  Errors as for
 * infer_model_run().
 */
int infer_model_prepare(struct infer_model *m, const char *sig, int64_t batch,
			char *errbuf, size_t errlen);

/*
 * Benchmark aid: compiles the plan of sig for batch, then times every step
 * on its own (iterations runs each, median taken) on the plan's buffers.
 * *ret_conv_ms is the sum over the oneDNN convolution steps (the
 * near-limit bound of the model), *ret_steps_ms the sum over all steps;
 * *ret_n_conv the number of convolutions.  Not for serving paths.
 */
int infer_model_profile(struct infer_model *m, const char *sig, int64_t batch,
			int iterations, double *ret_conv_ms, double *ret_steps_ms,
			int *ret_n_conv, char *errbuf, size_t errlen);

/* Threads a run uses (opts.threads resolved). */
int infer_model_threads(const struct infer_model *m);

/* ------------------------------------------------------------------------ */
/* .npy files (NumPy format 1.0-3.0, little-endian, C order): used by
 * ccinfer and the tests. */

/* Parse an .npy image (borrowed).  On success *ret describes it with data
 * pointing into buf (no copy); name is NULL.  Errors: INFER_E_FORMAT,
 * INFER_E_UNSUPPORTED (dtype, Fortran order, big-endian), INFER_E_LIMIT. */
int infer_npy_parse(const void *buf, size_t len, struct infer_tensor *ret);
/* Serialise t into a new malloc()ed buffer.  Errors: INFER_E_UNSUPPORTED,
 * INFER_E_LIMIT, -ENOMEM. */
int infer_npy_write(const struct infer_tensor *t, void **ret_buf,
		    size_t *ret_len);

#ifdef __cplusplus
}
#endif

#endif /* CCSERVE_INFER_H */
