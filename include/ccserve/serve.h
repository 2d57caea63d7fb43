/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ccserve serve: the TensorFlow-Serving-compatible API over the inference
 * engine — request decoding (TensorProto and REST JSON), TF Serving's status
 * codes, tensorflow_model_server flags and text-proto config files, the model
 * manager (version directories, version policies, labels, hot swap), request
 * batching and Prometheus metrics.
 *
 * Error model: functions return 0 or a negative value: a negative errno for
 * system failures (-ENOMEM, -ENOENT ...) or a CC_E_* code from util.h for
 * malformed input.  Request-level failures that a client sees are carried in
 * a struct serve_status with TF Serving's canonical code and message.
 *
 * Thread safety: the parsers and converters are reentrant; the manager,
 * batcher and metrics objects are internally locked.
 */
#ifndef CCSERVE_SERVE_H
#define CCSERVE_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "ccserve/util.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Status: TF Serving's canonical codes (= gRPC status codes)               */

enum serve_code {
	SERVE_OK = 0,
	SERVE_CANCELLED = 1,
	SERVE_UNKNOWN = 2,
	SERVE_INVALID_ARGUMENT = 3,
	SERVE_DEADLINE_EXCEEDED = 4,
	SERVE_NOT_FOUND = 5,
	SERVE_ALREADY_EXISTS = 6,
	SERVE_PERMISSION_DENIED = 7,
	SERVE_RESOURCE_EXHAUSTED = 8,
	SERVE_FAILED_PRECONDITION = 9,
	SERVE_ABORTED = 10,
	SERVE_OUT_OF_RANGE = 11,
	SERVE_UNIMPLEMENTED = 12,
	SERVE_INTERNAL = 13,
	SERVE_UNAVAILABLE = 14,
	SERVE_DATA_LOSS = 15,
	SERVE_UNAUTHENTICATED = 16,
};

#define SERVE_STATUS_MSG_MAX 512

struct serve_status {
	enum serve_code code;
	char msg[SERVE_STATUS_MSG_MAX];  /* NUL-terminated; "" when OK */
};

/* Set *st (NULL ignored) and return the negated code for convenience
 * (0 for SERVE_OK).  The message is truncated to fit. */
int serve_status_set(struct serve_status *st, enum serve_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* "INVALID_ARGUMENT" etc.; never NULL. */
const char *serve_code_name(enum serve_code code);
/* The HTTP status TF Serving's REST API answers for code (400, 404, 500...). */
int serve_code_http_status(enum serve_code code);

/* ------------------------------------------------------------------------ */
/* Text-format protocol buffers                                             */

#define SERVE_TEXTPROTO_MAX_INPUT (16u << 20)

/*
 * Parse text in protobuf text format into a new message of type desc.
 * text need not be NUL-terminated; len is capped at
 * SERVE_TEXTPROTO_MAX_INPUT.  On success *ret owns a message freed with
 * protobuf_c_message_free_unpacked(*ret, NULL).  On failure err (if not NULL)
 * receives "line L col C: cause" and CC_E_SYNTAX, CC_E_TOOBIG, -ENOMEM or
 * -EINVAL (NULL desc/ret) comes back; *ret is untouched.
 */
int serve_textproto_parse(const ProtobufCMessageDescriptor *desc, const char *text, size_t len,
			  ProtobufCMessage **ret, char *err, size_t errlen);
/* Same, reading the file at path (errors from cc_file_read also come back,
 * with err naming the file). */
int serve_textproto_parse_file(const ProtobufCMessageDescriptor *desc, const char *path,
			       ProtobufCMessage **ret, char *err, size_t errlen);

/* ------------------------------------------------------------------------ */
/* Tensors as the server sees them                                          */

/* Same numbering as tensorflow.DataType. */
enum serve_dtype {
	SERVE_DT_INVALID = 0,
	SERVE_DT_FLOAT = 1,
	SERVE_DT_DOUBLE = 2,
	SERVE_DT_INT32 = 3,
	SERVE_DT_UINT8 = 4,
	SERVE_DT_INT16 = 5,
	SERVE_DT_INT8 = 6,
	SERVE_DT_STRING = 7,
	SERVE_DT_INT64 = 9,
	SERVE_DT_BOOL = 10,
	SERVE_DT_BFLOAT16 = 14,
	SERVE_DT_UINT16 = 17,
	SERVE_DT_HALF = 19,
	SERVE_DT_UINT32 = 22,
	SERVE_DT_UINT64 = 23,
};

#define SERVE_MAX_DIMS 16

struct serve_bytes {
	uint8_t *data;
	size_t len;
};

/*
 * A dense tensor.  Fixed-size types keep their elements row-major in data
 * (nbytes = elements * element size, little-endian like tensor_content);
 * DT_STRING keeps one serve_bytes per element in strs.  A tensor owns data,
 * strs and every strs[i].data; serve_tensor_clear() frees them.
 */
struct serve_tensor {
	char *name;             /* owned; NULL for unnamed */
	enum serve_dtype dtype;
	int ndims;
	int64_t dims[SERVE_MAX_DIMS];
	void *data;
	size_t nbytes;
	struct serve_bytes *strs;
	size_t nstrs;
};

struct serve_tensor_list {
	struct serve_tensor *t;
	size_t n;
};

/* Size of one element of dtype (0 for STRING and unknown types). */
size_t serve_dtype_size(enum serve_dtype dtype);
/* "DT_FLOAT" etc.; never NULL. */
const char *serve_dtype_name(enum serve_dtype dtype);
/* Element count of t's shape with overflow checks; -EOVERFLOW / -EINVAL
 * (negative dimension). */
int serve_tensor_elements(const struct serve_tensor *t, size_t *ret);
void serve_tensor_clear(struct serve_tensor *t);
void serve_tensor_list_clear(struct serve_tensor_list *l);
/* Deep copy of src into *dst (dst overwritten without freeing). */
int serve_tensor_copy(struct serve_tensor *dst, const struct serve_tensor *src);

/* Caps applied to every decoded request. */
struct serve_limits {
	size_t max_tensor_bytes;   /* one tensor's payload; default 1 GiB */
	size_t max_total_bytes;    /* a whole request; default 2 GiB */
	size_t max_elements;       /* elements per tensor; default 1<<28 */
	size_t max_tensors;        /* named inputs; default 4096 */
};
void serve_limits_default(struct serve_limits *l);

/* Opaque here so the public header does not pull generated headers in:
 * the argument is a Tensorflow__TensorProto *. */
struct Tensorflow__TensorProto;

/*
 * TensorProto -> tensor.  Accepts tensor_content or the typed *_val field of
 * dtype; a *_val field with fewer values than the shape needs is filled with
 * its last value (TF's rule; one value broadcast), more is an error; an
 * empty *_val with a non-empty shape is zeros.  Errors come back in st as
 * INVALID_ARGUMENT naming the cause; return value is -EINVAL then, or
 * -ENOMEM.  dst is written only on success (caller clears it).
 */
int serve_tensor_from_proto(const struct Tensorflow__TensorProto *tp, const char *name,
			    const struct serve_limits *lim, struct serve_tensor *dst,
			    struct serve_status *st);
/* tensor -> TensorProto (allocated; free with
 * tensorflow__tensor_proto__free_unpacked(.., NULL)).  Numbers go into
 * tensor_content (as TF Serving answers), strings into string_val. */
int serve_tensor_to_proto(const struct serve_tensor *t, struct Tensorflow__TensorProto **ret);

/* ------------------------------------------------------------------------ */
/* REST JSON bodies                                                          */

enum serve_rest_format { SERVE_REST_ROW = 1, SERVE_REST_COLUMNAR = 2 };

/* What a REST :predict body asks for. */
struct serve_rest_request {
	char *signature_name;   /* owned; NULL when absent */
	enum serve_rest_format format;
	bool named;             /* inputs given by name (object) or a single
				   unnamed input (bare list) */
	struct serve_tensor_list inputs;
};
void serve_rest_request_clear(struct serve_rest_request *r);

/* Type information the decoder needs for each input: JSON numbers are typed
 * by the signature, as TF Serving does. */
struct serve_input_spec {
	const char *name;
	enum serve_dtype dtype;
};

/*
 * Parse a TF Serving REST predict body ("instances" row format or "inputs"
 * columnar format; {"b64": "..."} values for strings).  specs gives each
 * input's dtype (nspecs may be 0: numbers then decode as DT_FLOAT, integers
 * too, and strings as DT_STRING).  Errors: st = INVALID_ARGUMENT with
 * TF Serving's wording and -EINVAL, or -ENOMEM.
 */
int serve_rest_parse_predict(const char *body, size_t len, const struct serve_input_spec *specs,
			     size_t nspecs, const struct serve_limits *lim,
			     struct serve_rest_request *ret, struct serve_status *st);
/* Typing through a callback: called once with the body's signature_name
 * (NULL when absent) to get the input specs (borrowed until the parse
 * returns).  A negative return aborts the parse (st set by the callback). */
typedef int (*serve_spec_resolve_fn)(void *ud, const char *signature_name,
				     const struct serve_input_spec **specs, size_t *n,
				     struct serve_status *st);
int serve_rest_parse_predict_cb(const char *body, size_t len, serve_spec_resolve_fn resolve,
				void *ud, const struct serve_limits *lim,
				struct serve_rest_request *ret, struct serve_status *st);
/*
 * Render outputs as TF Serving does: row format -> {"predictions": [...]}
 * (one entry per batch row; an object per row when several outputs), columnar
 * -> {"outputs": ...}.  Strings come out as {"b64": ...} when not valid
 * UTF-8 or when the output name ends in "_bytes".  *ret is malloc'ed and
 * NUL-terminated.
 */
int serve_rest_render_predict(const struct serve_tensor_list *outputs, enum serve_rest_format fmt,
			      char **ret, size_t *ret_len, struct serve_status *st);

/* A :classify / :regress body as TF Serving's FillClassificationRequestFromJson
 * reads it: {"signature_name": "...", "context": {features},
 * "examples": [{features}, ...]} where each feature is a value or a list of
 * values of one kind: JSON integers and booleans -> int64_list, other
 * numbers -> float_list, strings and {"b64": "..."} -> bytes_list. */
struct serve_rest_examples {
	char *signature_name;          /* owned; NULL when absent */
	struct serve_bytes *examples;  /* n serialized tf.Example (owned) */
	size_t n;                      /* >= 1 on success */
	struct serve_bytes context;    /* serialized; owned */
	bool has_context;
};
void serve_rest_examples_clear(struct serve_rest_examples *r);
/* Parse body (len bytes, capped by lim->max_total_bytes; lim NULL =
 * defaults) into *ret.  Errors: -EINVAL with st INVALID_ARGUMENT and TF
 * Serving's message; -ENOMEM (st RESOURCE_EXHAUSTED). */
int serve_rest_parse_examples(const char *body, size_t len, const struct serve_limits *lim,
			      struct serve_rest_examples *ret, struct serve_status *st);
/* {"results": [...]}: regress (classify false) -> one number per example
 * (per must be 1); classify -> per example a list of per ["label", score]
 * pairs with empty labels (v holds n * per scores).  *ret malloc'ed.
 * Errors: -ENOMEM, -EOVERFLOW. */
int serve_rest_render_results(const float *v, size_t n, size_t per, bool classify, char **ret,
			      size_t *ret_len);

/* {"error": "msg"} with JSON escaping; *ret malloc'ed. */
int serve_rest_render_error(const struct serve_status *st, char **ret, size_t *ret_len);

/* ------------------------------------------------------------------------ */
/* tensorflow_model_server flags                                            */

struct serve_flags {
	/* TF Serving's flags */
	uint16_t port;                     /* --port, default 8500; 0 disables */
	uint16_t rest_api_port;            /* --rest_api_port, default 0 (off) */
	char *model_name;                  /* --model_name, default "default" */
	char *model_base_path;
	char *model_config_file;
	int64_t model_config_file_poll_wait_seconds;
	int64_t file_system_poll_wait_seconds;  /* default 1 */
	char *ssl_config_file;
	bool enable_batching;
	char *batching_parameters_file;
	char *monitoring_config_file;
	bool enable_model_warmup;          /* default true */
	int64_t tensorflow_intra_op_parallelism;
	int64_t tensorflow_inter_op_parallelism;
	int64_t rest_api_num_threads;
	int64_t rest_api_timeout_in_ms;    /* default 30000 */
	int64_t grpc_max_threads;
	uint64_t max_message_bytes;        /* --grpc_max_message_bytes (ours too) */
	char *grpc_channel_arguments;
	char *rest_api_bind_address;       /* --rest_api_bind_address? ours: --bind */
	char *platform_config_file;
	int64_t num_load_threads;
	int64_t num_unload_threads;
	int64_t max_num_load_retries;
	int64_t load_retry_interval_micros;
	/* ccserve's own */
	bool insecure;                     /* --insecure: plaintext, warned */
	char *bind_address;                /* --bind, default 127.0.0.1?  see docs */
	char *volume;                      /* --volume IMG */
	char *volume_key_file;
	char *kbs_url;
	char *kbs_ca;
	char *kbs_resource;
	char *attestation_provider;        /* tsm | sim */
	char *log_level;
	bool log_json;
	int64_t grace_period_seconds;      /* SIGTERM drain, default 10 */
	int64_t inline_max_us;             /* --inline_max_us, default 50; 0 off */
	bool help;
	bool version;
};

/*
 * Parse argv (argv[0] is skipped) into *ret, which is first set to the
 * defaults.  Accepts --flag=value and --flag value, and for booleans --flag,
 * --flag=true|false|1|0, --noflag.  Unknown flags, missing values and bad
 * numbers are errors: CC_E_SYNTAX with err = "unknown flag --foo" etc.
 * Strings in *ret are malloc'ed: serve_flags_clear() frees them.
 */
int serve_flags_parse(int argc, char *const *argv, struct serve_flags *ret, char *err,
		      size_t errlen);
void serve_flags_clear(struct serve_flags *f);
/* Help text for every flag (static). */
const char *serve_flags_usage(void);

/* ------------------------------------------------------------------------ */
/* Version policy and version directories                                   */

enum serve_policy_kind { SERVE_POLICY_LATEST = 0, SERVE_POLICY_ALL = 1, SERVE_POLICY_SPECIFIC = 2 };

struct serve_version_policy {
	enum serve_policy_kind kind;
	uint32_t latest_n;       /* LATEST: how many newest (0 means 1) */
	int64_t *specific;       /* SPECIFIC: owned list */
	size_t nspecific;
};

/*
 * Numeric version sub-directories of base_path ("00000123" -> 123), sorted
 * ascending, through the listing callback (so volumes work like
 * directories).  Non-numeric names are skipped.  *ret malloc'ed.
 */
typedef int (*serve_list_dir_fn)(void *ud, const char *path,
				 int (*each)(void *ctx, const char *name, bool is_dir), void *ctx);
int serve_scan_versions(serve_list_dir_fn list, void *ud, const char *base_path,
			int64_t **ret, size_t *ret_n);
/* The local-filesystem listing function. */
int serve_list_dir_local(void *ud, const char *path,
			 int (*each)(void *ctx, const char *name, bool is_dir), void *ctx);
/* Which of the available versions the policy serves (subset, ascending). */
int serve_policy_select(const struct serve_version_policy *p, const int64_t *avail, size_t navail,
			int64_t **ret, size_t *ret_n);

/* Directory name of version under base_path (it may carry leading zeros:
 * "00000123"), into buf as "base_path/name".  -ENOENT when absent,
 * CC_E_SHORTBUF when buf is too small. */
int serve_version_dir(serve_list_dir_fn list, void *ud, const char *base_path, int64_t version,
		      char *buf, size_t bufsz);

/* ------------------------------------------------------------------------ */
/* Model manager                                                            */

/* ModelVersionStatus.State numbers. */
enum serve_version_state {
	SERVE_VERSION_UNKNOWN = 0,
	SERVE_VERSION_START = 10,
	SERVE_VERSION_LOADING = 20,
	SERVE_VERSION_AVAILABLE = 30,
	SERVE_VERSION_UNLOADING = 40,
	SERVE_VERSION_END = 50,
};

struct serve_label {
	char *label;
	int64_t version;
};

/* One model_config_list entry. */
struct serve_model_config {
	char *name;
	char *base_path;
	char *platform;          /* unused by the manager; kept for logs */
	struct serve_version_policy policy;
	struct serve_label *labels;
	size_t nlabels;
};
void serve_model_config_clear(struct serve_model_config *c);
int serve_model_config_copy(struct serve_model_config *dst, const struct serve_model_config *src);

/*
 * How the manager reaches models.  load() builds a servable from the
 * version directory at path (and warms it up); it runs on the polling
 * thread and may take long.  On failure it returns a negative value and a
 * one-line cause in err.  unload() frees a servable once no request holds
 * it.  list() enumerates directories (see serve_list_dir_local).
 */
struct serve_loader {
	void *ud;
	int (*load)(void *ud, const char *model, const char *path, int64_t version,
		    void **ret_servable, char *err, size_t errlen);
	void (*unload)(void *ud, void *servable);
	/* optional: time a load took (for metrics) */
	void (*on_load_time)(void *ud, const char *model, uint64_t ns);
	serve_list_dir_fn list;
	void *list_ud;
	unsigned max_load_retries;
};

/* Which servable a request addresses (ModelSpec). */
struct serve_model_request {
	const char *name;
	bool has_version;
	int64_t version;
	const char *label;       /* NULL or "" for none */
};

/* A held servable: valid until serve_manager_release(). */
struct serve_servable_ref {
	void *servable;
	int64_t version;
	void *priv;
	struct serve_manager *mgr;
};

struct serve_version_status {
	int64_t version;
	enum serve_version_state state;
	struct serve_status status;
};

struct serve_manager;

/* loader is copied.  Errors: -EINVAL (missing callbacks), -ENOMEM. */
int serve_manager_new(struct serve_manager **ret, const struct serve_loader *loader);
/* Replace the configured models (validated: names unique and non-empty,
 * base paths set, labels unique).  Loading happens at the next poll.
 * Models no longer listed are unloaded then.  st gets the cause. */
int serve_manager_set_config(struct serve_manager *m, const struct serve_model_config *cfgs,
			     size_t n, struct serve_status *st);
/* One synchronous pass: scan, load, swap, unload.  Returns the first
 * system error (per-version load failures are recorded, not returned). */
int serve_manager_poll(struct serve_manager *m);
/* Poll every poll_ms on a background thread (0: never). */
int serve_manager_start(struct serve_manager *m, uint64_t poll_ms);
/* Make the background thread poll now. */
void serve_manager_wake(struct serve_manager *m);
/* Stops polling, unloads everything (waiting for held servables), frees.
 * NULL accepted. */
void serve_manager_free(struct serve_manager *m);
/* Find the servable for req and hold it: NOT_FOUND (unknown model or
 * version, with TF Serving's "Servable not found for request: ..."),
 * INVALID_ARGUMENT (unknown label).  Returns 0 or a negative value with st
 * set. */
int serve_manager_acquire(struct serve_manager *m, const struct serve_model_request *req,
			  struct serve_servable_ref *ret, struct serve_status *st);
void serve_manager_release(struct serve_servable_ref *ref);
/* Status of every version of req->name (or the one version asked for),
 * newest first; *ret malloc'ed. */
int serve_manager_status(struct serve_manager *m, const struct serve_model_request *req,
			 struct serve_version_status **ret, size_t *ret_n, struct serve_status *st);
/* Names of the configured models (malloc'ed array of malloc'ed strings). */
size_t serve_manager_models(struct serve_manager *m, char ***ret);

/* ------------------------------------------------------------------------ */
/* Metrics (Prometheus text format, TF Serving's metric names)              */

struct serve_metrics;
int serve_metrics_new(struct serve_metrics **ret);
void serve_metrics_free(struct serve_metrics *m);
/* All recorders accept m == NULL (metrics off).  api: "predict",
 * "classify", "regress", "multi_inference", "get_model_metadata",
 * "get_model_status"; entrypoint: "GRPC" or "REST". */
void serve_metrics_request(struct serve_metrics *m, const char *model, const char *api,
			   const char *entrypoint, enum serve_code code, uint64_t latency_ns);
void serve_metrics_load(struct serve_metrics *m, const char *model, uint64_t ns);
void serve_metrics_warmup(struct serve_metrics *m, const char *model, uint64_t ns);
void serve_metrics_batch(struct serve_metrics *m, const char *model, size_t batch_size,
			 uint64_t queue_ns);
void serve_metrics_in_flight(struct serve_metrics *m, int delta);
/* The exposition text; *ret malloc'ed. */
int serve_metrics_render(struct serve_metrics *m, char **ret, size_t *ret_len);

/* ------------------------------------------------------------------------ */
/* Batching                                                                 */

/* BatchingParameters (int64 values; n_allowed entries ascending, the last
 * equal to max_batch_size). */
struct serve_batch_params {
	int64_t max_batch_size;
	int64_t batch_timeout_micros;
	int64_t max_enqueued_batches;
	int64_t num_batch_threads;
	int64_t allowed_batch_sizes[64];
	size_t n_allowed;
	bool pad_variable_length_inputs;   /* accepted; not implemented */
};
void serve_batch_params_default(struct serve_batch_params *p);

/* Runs merged inputs on a servable; fills *ret (caller-owned tensors) or
 * returns a negative value with st set. */
typedef int (*serve_batch_run_fn)(void *ud, void *servable, const char *signature,
				  const struct serve_tensor *inputs, size_t n_inputs,
				  const char *const *outputs, size_t n_outputs,
				  struct serve_tensor_list *ret, struct serve_status *st);

/* One request.  inputs/outputs/signature/model_name are borrowed until done
 * is called (exactly once, on a batch thread, or never when submit fails).
 * done gets the task's own rows of every output (ownership passes to done:
 * clear the list) or NULL and the error. */
struct serve_batch_task {
	const char *model_name;
	const char *signature;
	const struct serve_tensor *inputs;
	size_t n_inputs;
	const char *const *outputs;
	size_t n_outputs;
	void (*done)(void *ud, struct serve_tensor_list *outputs, const struct serve_status *st);
	void *ud;
};

struct serve_batcher;
/* Errors: -EINVAL (bad parameters), -ENOMEM, -errno from pthread_create. */
int serve_batcher_new(struct serve_batcher **ret, const struct serve_batch_params *p,
		      serve_batch_run_fn run, void *run_ud, struct serve_metrics *metrics);
/* Queue task for servable under key (signature + output set).  Errors (st
 * set, done not called): INVALID_ARGUMENT (no batch dimension, rows differ,
 * larger than max_batch_size), UNAVAILABLE (queue full, shutting down). */
int serve_batcher_submit(struct serve_batcher *bt, void *servable, const char *key,
			 const struct serve_batch_task *task, struct serve_status *st);
/* Stops the threads; queued tasks complete with UNAVAILABLE.  NULL ok. */
void serve_batcher_free(struct serve_batcher *bt);

/* ------------------------------------------------------------------------ */
/* Config files (text protos already parsed) into the structures above      */

/* Opaque generated types (ModelServerConfig, BatchingParameters). */
struct Tensorflow__Serving__ModelServerConfig;
struct Tensorflow__Serving__BatchingParameters;

/* model_config_list -> configs.  Errors (st set): INVALID_ARGUMENT for a
 * custom_model_config, a missing list, a platform other than
 * "tensorflow"/"onnx"/"", a bad version policy; -ENOMEM.  *ret malloc'ed;
 * free each with serve_model_config_clear() then the array. */
int serve_config_models(const struct Tensorflow__Serving__ModelServerConfig *c,
			struct serve_model_config **ret, size_t *ret_n, struct serve_status *st);
void serve_config_models_free(struct serve_model_config *cfgs, size_t n);
/* BatchingParameters -> params (defaults for absent fields). */
int serve_config_batching(const struct Tensorflow__Serving__BatchingParameters *b,
			  struct serve_batch_params *ret, struct serve_status *st);

/* ------------------------------------------------------------------------ */
/* Engine interface (implemented over infer, or by a test double)           */

struct serve_tensor_info {
	const char *name;        /* signature key */
	const char *tensor_name; /* graph tensor "x:0" */
	enum serve_dtype dtype;
	int rank;                /* -1 unknown */
	int64_t dims[SERVE_MAX_DIMS];
};

struct serve_signature {
	const char *name;
	const char *method_name;
	size_t n_inputs;
	const struct serve_tensor_info *inputs;
	size_t n_outputs;
	const struct serve_tensor_info *outputs;
	bool available;
	const char *error;
	/* The one input is serialized tf.Example the engine parses itself
	 * (Classify / Regress / MultiInference run through run_examples). */
	bool takes_examples;
};

/* A file-reading callback for models inside volumes: read path (absolute
 * within the store, e.g. "/models/m/1/saved_model.pb"). */
struct serve_store {
	void *ud;
	int (*read)(void *ud, const char *path, size_t max, uint8_t **ret, size_t *ret_len);
	serve_list_dir_fn list;
};

struct serve_engine {
	void *ud;
	/* Load the model in directory path; *ret_model opaque. */
	int (*load)(void *ud, const char *path, void **ret_model, char *err, size_t errlen);
	void (*unload)(void *ud, void *model);
	size_t (*signature_count)(void *ud, void *model);
	const struct serve_signature *(*signature)(void *ud, void *model, size_t i);
	/* Run signature sig on inputs (matched by name, data borrowed); the
	 * outputs asked for (n_outputs names) come back owned in *ret. */
	int (*run)(void *ud, void *model, const char *sig, const struct serve_tensor *inputs,
		   size_t n_inputs, const char *const *outputs, size_t n_outputs,
		   struct serve_tensor_list *ret, struct serve_status *st);
	/* Run a signature with takes_examples on n serialized tf.Examples
	 * (borrowed; context NULL or an Example whose features each Example
	 * inherits); outputs as run().  NULL when the engine cannot parse
	 * Examples. */
	int (*run_examples)(void *ud, void *model, const char *sig,
			    const struct serve_bytes *examples, size_t n,
			    const struct serve_bytes *context, const char *const *outputs,
			    size_t n_outputs, struct serve_tensor_list *ret,
			    struct serve_status *st);
};

/* ------------------------------------------------------------------------ */
/* Server                                                                   */

struct net_tls_opts;

#define SERVE_INLINE_MAX_US_DEFAULT 50

struct serve_server_opts {
	const char *grpc_listen;        /* "0.0.0.0:8500"; NULL: no gRPC */
	const char *rest_listen;        /* NULL: no REST */
	const struct net_tls_opts *tls; /* NULL requires insecure */
	bool insecure;
	const struct serve_engine *engine;
	struct serve_manager *manager;  /* borrowed */
	struct serve_metrics *metrics;  /* borrowed; NULL: off */
	const char *prometheus_path;    /* NULL: no metrics endpoint */
	const struct serve_batch_params *batching; /* NULL: off */
	unsigned grpc_threads;          /* workers; 0 = cores */
	unsigned rest_threads;          /* extra REST workers; 0 = share */
	uint64_t rest_timeout_ms;       /* 0: none */
	size_t max_message_bytes;       /* gRPC; 0 = 2 GiB */
	size_t max_queued;              /* worker queue cap; 0 = 4096 */
	unsigned io_threads;            /* 0: 1 */
	uint32_t max_concurrent_streams; /* 0: net default */
	/* A request that is alone in flight, for a (model, API) measured to
	 * take at most this many microseconds, runs on the I/O thread instead
	 * of a worker (saves two thread wake-ups).  0: the default
	 * (SERVE_INLINE_MAX_US_DEFAULT); negative: never.  Never with batching. */
	int32_t inline_max_us;
	/* HandleReloadConfigRequest: apply a new model list (the tool's
	 * handler, which also remembers it for SIGHUP); NULL: UNIMPLEMENTED. */
	int (*reload)(void *ud, const struct serve_model_config *cfgs, size_t n,
		      struct serve_status *st);
	void *reload_ud;
};

struct serve_server;
/* Binds and starts serving.  Errors: net errors (NET_E_*, -EADDRINUSE),
 * -EINVAL for inconsistent options, -ENOMEM. */
int serve_server_new(struct serve_server **ret, const struct serve_server_opts *opts);
uint16_t serve_server_grpc_port(const struct serve_server *s);
uint16_t serve_server_rest_port(const struct serve_server *s);
/* Stop accepting, let in-flight requests finish within grace_ms. */
int serve_server_shutdown(struct serve_server *s, uint32_t grace_ms);
void serve_server_free(struct serve_server *s);

/* Loader for the manager over an engine: loads, warms up (when warmup is
 * set, from assets.extra/tf_serving_warmup_requests) and unloads. */
struct serve_servable {
	void *model;
	const struct serve_engine *engine;
	char *name;
	int64_t version;
};
struct serve_engine_loader {
	const struct serve_engine *engine;
	const struct serve_store *store; /* NULL: local files */
	struct serve_metrics *metrics;
	bool warmup;
};
/* Fills a struct serve_loader whose ud is el (borrowed, must outlive it). */
void serve_engine_loader_init(struct serve_engine_loader *el, struct serve_loader *ret);

/* Run the records of a TFRecord file of PredictionLog (warmup) against a
 * servable.  Returns the number of requests replayed or a negative error
 * with err set (bad record, CRC mismatch, a failed request). */
int serve_warmup_replay(const struct serve_servable *sv, const uint8_t *data, size_t len,
			char *err, size_t errlen);

/* The model name of a serialized request whose field 1 is a ModelSpec
 * (Predict, Classify, Regress, GetModelMetadata, GetModelStatus requests),
 * found by a wire scan without decoding it: the last occurrence wins at
 * both levels, as in protobuf decoding.  The scan does not check that the
 * rest of the message is valid protobuf.  name (cap bytes) gets the
 * NUL-terminated name.  -ENOENT: no name (or not scannable), -EINVAL: it
 * does not fit or holds a NUL byte. */
int serve_peek_model_name(const uint8_t *msg, size_t len, char *name, size_t cap);

/* Decode one request as the server would (for fuzzing): kind 0 = gRPC
 * PredictRequest bytes, 1 = REST predict JSON.  Never crashes; returns 0 or
 * a negative value. */
int serve_decode_request(int kind, const uint8_t *data, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* CCSERVE_SERVE_H */
