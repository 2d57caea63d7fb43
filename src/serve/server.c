/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The TF Serving API over net: gRPC (PredictionService, ModelService,
 * grpc.health.v1.Health) and REST (/v1/models/...), both answered from a
 * pool of worker threads so the I/O threads never wait for inference.
 *
 * One exception, for latency: a request that is the only one in flight,
 * for a (model, API) whose measured cost is below inline_max_us (default
 * 50 us, e.g. a small dense model), runs to completion on the I/O thread.
 * Handing it to a worker costs two cross-thread wake-ups, which on a VM is
 * about as much as the work itself.  Under concurrency, with batching, for
 * a model not yet measured or one that is slower, requests always go to the
 * workers.  The cost estimate rises at once and falls by halves (cost_*).
 *
 * A request's life: the net handler (I/O thread) queues it on the pool (a
 * full queue answers UNAVAILABLE at once); a worker decodes it, holds the
 * servable, checks the deadline and cancellation, then runs it directly or
 * through the batcher, whose completion encodes and sends the answer from a
 * batch thread.  Every path ends in finish(), which sends, records metrics
 * and releases the servable.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "ccserve/net.h"
#include "serve-internal.h"

#include "get_model_metadata.pb-c.h"
#include "get_model_status.pb-c.h"
#include "health.pb-c.h"
#include "classification.pb-c.h"
#include "regression.pb-c.h"
#include "inference.pb-c.h"
#include "example.pb-c.h"
#include "model_management.pb-c.h"
#include "predict.pb-c.h"
#include "google/protobuf/any.pb-c.h"
#include "google/protobuf/wrappers.pb-c.h"

enum api {
	API_PREDICT, API_CLASSIFY, API_REGRESS, API_MULTI, API_METADATA, API_STATUS,
	API_RELOAD, API_HEALTH, API_METRICS, API_OTHER,
};

static const char *const api_names[] = {
	"predict", "classify", "regress", "multi_inference", "get_model_metadata",
	"get_model_status", "reload_config", "health", "metrics", "other",
};

struct rctx {
	struct serve_server *srv;
	struct net_request *req;
	bool grpc;
	enum api api;
	uint64_t t0;
	uint64_t deadline;
	char model[256];
	struct serve_servable_ref ref;
	bool have_ref;
	/* predict state */
	char *sig;               /* resolved signature name */
	struct serve_tensor_list inputs;
	const char **outputs;    /* output names asked (owned array, names
				  * borrowed from the signature) */
	size_t n_outputs;
	enum serve_rest_format rest_fmt;
	uint64_t t_handle;       /* when handle() started; 0: not yet */
	bool inline_run;         /* handled on the I/O thread */
	struct rctx *next;
};

struct pool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct rctx *head, *tail;
	size_t n, max;
	pthread_t *threads;
	size_t nthreads;
	bool stop;
};

/* Measured handle() cost per (transport, API, model): a small open-addressed
 * table (names only of models that answered OK, so clients cannot fill it
 * with made-up names); when full, new keys are simply not tracked (their
 * requests go to the workers). */
#define COST_SLOTS 128
#define COST_NAME_MAX 128

struct cost_slot {
	bool used;
	bool grpc;
	uint8_t api;
	char name[COST_NAME_MAX];
	uint64_t ns;             /* estimate: max-tracking, slow decay */
	uint32_t samples;
};

struct serve_server {
	struct serve_server_opts o;
	struct net_server *grpc, *rest;
	struct pool pool;
	struct serve_batcher *batcher;
	struct serve_limits lim;
	char *prom_path;
	atomic_uint in_flight;   /* requests received and not yet recorded */
	uint64_t inline_max_ns;  /* 0: never inline */
	pthread_mutex_t cost_lock;
	struct cost_slot cost[COST_SLOTS];
};

/* ------------------------------------------------------------------------ */
/* Completion                                                               */

static void rctx_free(struct rctx *c)
{
	if (c->have_ref)
		serve_manager_release(&c->ref);
	free(c->sig);
	serve_tensor_list_clear(&c->inputs);
	free(c->outputs);
	free(c);
}

static void free_body(void *body, void *ud)
{
	(void)ud;
	free(body);
}

static int parse_rest_path(const char *path, char *name, size_t nsz,
			   struct serve_model_request *mr, char *label, size_t lsz, char *verb,
			   size_t vsz);

/* ------------------------------------------------------------------------ */
/* Per-(model, API) cost, for running lone cheap requests inline             */

static bool cost_api(enum api api)
{
	return api == API_PREDICT || api == API_CLASSIFY || api == API_REGRESS ||
	       api == API_METADATA || api == API_STATUS;
}

/* The slot for a key (creating it when create), or NULL. Under cost_lock. */
static struct cost_slot *cost_slot(struct serve_server *s, bool grpc, enum api api,
				   const char *name, bool create)
{
	size_t n = strlen(name);
	if (!n || n >= COST_NAME_MAX)
		return NULL;
	uint32_t h = 2166136261u ^ (uint32_t)api ^ (grpc ? 0x80u : 0u);
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)name[i]) * 16777619u;
	for (size_t i = 0; i < COST_SLOTS; i++) {
		struct cost_slot *e = &s->cost[(h + i) % COST_SLOTS];
		if (!e->used) {
			if (!create)
				return NULL;
			e->used = true;
			e->grpc = grpc;
			e->api = (uint8_t)api;
			memcpy(e->name, name, n + 1);
			return e;
		}
		if (e->grpc == grpc && e->api == (uint8_t)api && !strcmp(e->name, name))
			return e;
	}
	return NULL;
}

/* One finished handle(): the estimate jumps up to a slower sample at once
 * and falls by half the difference on faster ones. */
static void cost_update(struct serve_server *s, bool grpc, enum api api, const char *name,
			uint64_t ns)
{
	pthread_mutex_lock(&s->cost_lock);
	struct cost_slot *e = cost_slot(s, grpc, api, name, true);
	if (e) {
		if (!e->samples || ns >= e->ns)
			e->ns = ns;
		else
			e->ns -= (e->ns - ns) / 2;
		if (e->samples < UINT32_MAX)
			e->samples++;
	}
	pthread_mutex_unlock(&s->cost_lock);
}

static bool cost_cheap(struct serve_server *s, bool grpc, enum api api, const char *name)
{
	bool cheap = false;
	pthread_mutex_lock(&s->cost_lock);
	const struct cost_slot *e = cost_slot(s, grpc, api, name, false);
	if (e && e->samples >= 2 && e->ns <= s->inline_max_ns)
		cheap = true;
	pthread_mutex_unlock(&s->cost_lock);
	return cheap;
}

/* The model name a request names, without decoding it: gRPC requests
 * whose field 1 is a ModelSpec (name = its field 1), REST /v1/models/NAME
 * paths (api from the verb).  false: unknown, do not inline. */
static bool peek_model(struct rctx *c, enum api *api, char *name, size_t cap)
{
	if (c->grpc) {
		if (!cost_api(c->api))
			return false;
		size_t len;
		const uint8_t *body = net_request_body(c->req, &len);
		if (!body || serve_peek_model_name(body, len, name, cap) < 0)
			return false;
		*api = c->api;
		return true;
	}
	const char *method = net_request_method(c->req);
	char label[256], verb[32];
	struct serve_model_request mr = { 0 };
	if (parse_rest_path(net_request_path(c->req), name, cap, &mr, label, sizeof(label), verb,
			    sizeof(verb)) < 0)
		return false;
	if (!strcmp(method, "GET"))
		*api = !verb[0] ? API_STATUS : !strcmp(verb, "metadata") ? API_METADATA : API_OTHER;
	else if (!strcmp(method, "POST"))
		*api = !strcmp(verb, "predict")	   ? API_PREDICT
		       : !strcmp(verb, "classify") ? API_CLASSIFY
		       : !strcmp(verb, "regress")  ? API_REGRESS
						   : API_OTHER;
	else
		return false;
	return cost_api(*api);
}

static void record(struct rctx *c, enum serve_code code)
{
	struct serve_server *s = c->srv;
	serve_metrics_in_flight(s->o.metrics, -1);
	atomic_fetch_sub(&s->in_flight, 1);
	if (code == SERVE_OK && c->t_handle && s->inline_max_ns && cost_api(c->api))
		cost_update(s, c->grpc, c->api, c->model, cc_mono_ns() - c->t_handle);
	if (c->api <= API_STATUS)
		serve_metrics_request(s->o.metrics, c->model, api_names[c->api],
				      c->grpc ? "GRPC" : "REST", code, cc_mono_ns() - c->t0);
	if (cc_log_get_level() >= CC_LOG_DEBUG)
		cc_log(CC_LOG_DEBUG, SERVE_LOG, "%s %s %s model=\"%.64s\" -> %s in %.3f ms%s",
		       net_request_peer(c->req), c->grpc ? "gRPC" : "REST", api_names[c->api],
		       c->model, serve_code_name(code), (double)(cc_mono_ns() - c->t0) / 1e6,
		       c->inline_run ? " (inline)" : "");
}

/* gRPC answer: msg (malloc'ed, taken) or an error status. */
static void finish_grpc(struct rctx *c, const struct serve_status *st, uint8_t *msg, size_t len)
{
	struct net_grpc_response r = { 0 };
	enum serve_code code = st ? st->code : SERVE_OK;
	r.status = (int)code;
	if (code == SERVE_OK) {
		r.has_msg = true;
		r.msg = msg;
		r.msg_len = len;
		r.msg_free = free_body;
		/* Answer gzip-compressed requests with gzip (when the client
		 * accepts it; net checks grpc-accept-encoding). */
		const char *enc = net_request_header(c->req, "grpc-encoding");
		r.compress = enc && !strcmp(enc, "gzip");
	} else {
		free(msg);
		r.message = st->msg;
	}
	record(c, code);
	net_grpc_send(c->req, &r);
	rctx_free(c);
}

static void finish_http(struct rctx *c, int status, const char *ctype, char *body, size_t len,
			enum serve_code code)
{
	struct net_header h[] = { { "Content-Type", ctype } };
	struct net_response r = { .status = status, .headers = h, .n_headers = 1, .body = body,
				  .body_len = len, .body_free = free_body };
	record(c, code);
	net_response_send(c->req, &r);
	rctx_free(c);
}

static void finish_error(struct rctx *c, const struct serve_status *st)
{
	if (c->grpc) {
		finish_grpc(c, st, NULL, 0);
		return;
	}
	char *body = NULL;
	size_t len = 0;
	if (serve_rest_render_error(st, &body, &len) < 0) {
		body = NULL;
		len = 0;
	}
	finish_http(c, serve_code_http_status(st->code), "application/json", body, len, st->code);
}

static void finish_pb(struct rctx *c, const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(n ? n : 1);
	if (!buf) {
		struct serve_status st;
		serve_status_set(&st, SERVE_RESOURCE_EXHAUSTED, "out of memory");
		finish_error(c, &st);
		return;
	}
	protobuf_c_message_pack(m, buf);
	finish_grpc(c, NULL, buf, n);
}

/* ------------------------------------------------------------------------ */
/* Model spec handling                                                      */

static bool deadline_passed(const struct rctx *c)
{
	return c->deadline && cc_mono_ns() >= c->deadline;
}

static int acquire(struct rctx *c, const struct serve_model_request *mr, struct serve_status *st)
{
	snprintf(c->model, sizeof(c->model), "%s", mr->name ? mr->name : "");
	if (!mr->name || !mr->name[0])
		return serve_status_set(st, SERVE_INVALID_ARGUMENT, "Missing ModelSpec"), -EINVAL;
	int rc = serve_manager_acquire(c->srv->o.manager, mr, &c->ref, st);
	if (rc == 0)
		c->have_ref = true;
	return rc;
}

static struct serve_model_request spec_request(const Tensorflow__Serving__ModelSpec *ms)
{
	struct serve_model_request mr = { 0 };
	if (!ms)
		return mr;
	mr.name = ms->name;
	if (ms->version_choice_case == TENSORFLOW__SERVING__MODEL_SPEC__VERSION_CHOICE_VERSION &&
	    ms->version) {
		mr.has_version = true;
		mr.version = ms->version->value;
	} else if (ms->version_choice_case ==
		   TENSORFLOW__SERVING__MODEL_SPEC__VERSION_CHOICE_VERSION_LABEL) {
		mr.label = ms->version_label;
	}
	return mr;
}

static const struct serve_signature *find_sig(struct rctx *c, const char *name)
{
	const struct serve_servable *sv = c->ref.servable;
	const struct serve_engine *e = sv->engine;
	const char *want = name && name[0] ? name : "serving_default";
	size_t n = e->signature_count(e->ud, sv->model);
	for (size_t i = 0; i < n; i++) {
		const struct serve_signature *s = e->signature(e->ud, sv->model, i);
		if (s && !strcmp(s->name, want))
			return s;
	}
	return NULL;
}

/* Model spec echoed in responses. */
static Tensorflow__Serving__ModelSpec *make_spec(struct rctx *c, const char *sig)
{
	Tensorflow__Serving__ModelSpec *ms = malloc(sizeof(*ms));
	Google__Protobuf__Int64Value *v = malloc(sizeof(*v));
	if (!ms || !v) {
		free(ms);
		free(v);
		return NULL;
	}
	tensorflow__serving__model_spec__init(ms);
	google__protobuf__int64_value__init(v);
	v->value = c->ref.version;
	ms->version_choice_case = TENSORFLOW__SERVING__MODEL_SPEC__VERSION_CHOICE_VERSION;
	ms->version = v;
	ms->name = strdup(c->model);
	ms->signature_name = strdup(sig ? sig : "");
	if (!ms->name || !ms->signature_name) {
		tensorflow__serving__model_spec__free_unpacked(ms, NULL);
		return NULL;
	}
	return ms;
}

/* ------------------------------------------------------------------------ */
/* Predict                                                                  */

static void predict_done(struct rctx *c, struct serve_tensor_list *outs,
			 const struct serve_status *err);

static void batch_done(void *ud, struct serve_tensor_list *outs, const struct serve_status *st)
{
	predict_done(ud, outs, st);
}

static void predict_done(struct rctx *c, struct serve_tensor_list *outs,
			 const struct serve_status *err)
{
	struct serve_status st = { 0 };
	if (err) {
		finish_error(c, err);
		return;
	}
	if (deadline_passed(c)) {
		serve_tensor_list_clear(outs);
		serve_status_set(&st, SERVE_DEADLINE_EXCEEDED, "Deadline Exceeded");
		finish_error(c, &st);
		return;
	}
	/* Name outputs by their signature keys, in the asked order. */
	for (size_t i = 0; i < outs->n && i < c->n_outputs; i++) {
		if (!outs->t[i].name || strcmp(outs->t[i].name, c->outputs[i])) {
			free(outs->t[i].name);
			outs->t[i].name = strdup(c->outputs[i]);
			if (!outs->t[i].name) {
				serve_tensor_list_clear(outs);
				serve_status_set(&st, SERVE_RESOURCE_EXHAUSTED, "out of memory");
				finish_error(c, &st);
				return;
			}
		}
	}
	if (!c->grpc) {
		char *body = NULL;
		size_t len = 0;
		int rc = serve_rest_render_predict(outs, c->rest_fmt, &body, &len, &st);
		serve_tensor_list_clear(outs);
		if (rc < 0) {
			finish_error(c, &st);
			return;
		}
		finish_http(c, 200, "application/json", body, len, SERVE_OK);
		return;
	}
	Tensorflow__Serving__PredictResponse resp = TENSORFLOW__SERVING__PREDICT_RESPONSE__INIT;
	Tensorflow__Serving__PredictResponse__OutputsEntry *entries =
		calloc(outs->n ? outs->n : 1, sizeof(*entries));
	Tensorflow__Serving__PredictResponse__OutputsEntry **eps =
		calloc(outs->n ? outs->n : 1, sizeof(*eps));
	resp.model_spec = make_spec(c, c->sig);
	int rc = entries && eps && resp.model_spec ? 0 : -ENOMEM;
	size_t built = 0;
	for (size_t i = 0; i < outs->n && rc == 0; i++) {
		tensorflow__serving__predict_response__outputs_entry__init(&entries[i]);
		entries[i].key = outs->t[i].name;
		rc = serve_tensor_to_proto(&outs->t[i], &entries[i].value);
		if (rc == 0) {
			eps[i] = &entries[i];
			built++;
		}
	}
	resp.n_outputs = built;
	resp.outputs = eps;
	uint8_t *buf = NULL;
	size_t n = 0;
	if (rc == 0) {
		n = tensorflow__serving__predict_response__get_packed_size(&resp);
		if (n > c->srv->o.max_message_bytes) {
			rc = -E2BIG;
		} else {
			buf = malloc(n ? n : 1);
			if (buf)
				tensorflow__serving__predict_response__pack(&resp, buf);
			else
				rc = -ENOMEM;
		}
	}
	for (size_t i = 0; i < built; i++)
		tensorflow__tensor_proto__free_unpacked(entries[i].value, NULL);
	free(entries);
	free(eps);
	if (resp.model_spec)
		tensorflow__serving__model_spec__free_unpacked(resp.model_spec, NULL);
	serve_tensor_list_clear(outs);
	if (rc < 0) {
		if (rc == -E2BIG)
			serve_status_set(&st, SERVE_RESOURCE_EXHAUSTED,
					 "response larger than the %zu-byte message limit",
					 c->srv->o.max_message_bytes);
		else
			serve_status_set(&st, SERVE_RESOURCE_EXHAUSTED, "out of memory");
		finish_error(c, &st);
		return;
	}
	finish_grpc(c, NULL, buf, n);
}

static void set_join(char *buf, size_t n, const struct serve_tensor_info *ti, size_t cnt)
{
	size_t off = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < cnt && off < n; i++) {
		int w = snprintf(buf + off, n - off, "%s%s", i ? ", " : "", ti[i].name);
		if (w < 0)
			break;
		off += (size_t)w;
	}
}

/* Validate c->inputs against the signature, order them as the engine wants
 * and resolve the outputs; then run. */
static void predict_run(struct rctx *c, const struct serve_signature *sig, char *const *filter,
			size_t nfilter, bool unnamed)
{
	struct serve_status st = { 0 };
	char set[256];
	if (!sig->available) {
		serve_status_set(&st, SERVE_UNIMPLEMENTED, "signature \"%s\" cannot run: %s", sig->name,
				 sig->error ? sig->error : "not supported by the engine");
		finish_error(c, &st);
		return;
	}
	if (strcmp(sig->method_name, "tensorflow/serving/predict") &&
	    strcmp(sig->method_name, "tensorflow/serving/classify") &&
	    strcmp(sig->method_name, "tensorflow/serving/regress") && sig->method_name[0]) {
		serve_status_set(&st, SERVE_FAILED_PRECONDITION,
				 "Expected prediction signature method_name to be one of "
				 "{tensorflow/serving/predict, tensorflow/serving/classify, "
				 "tensorflow/serving/regress}. Was: %s", sig->method_name);
		finish_error(c, &st);
		return;
	}
	if (unnamed && c->inputs.n == 1) {
		if (sig->n_inputs != 1) {
			set_join(set, sizeof(set), sig->inputs, sig->n_inputs);
			serve_status_set(&st, SERVE_INVALID_ARGUMENT,
					 "the request has one unnamed input but signature \"%s\" "
					 "takes {%s}", sig->name, set);
			finish_error(c, &st);
			return;
		}
		free(c->inputs.t[0].name);
		c->inputs.t[0].name = strdup(sig->inputs[0].name);
		if (!c->inputs.t[0].name) {
			serve_status_set(&st, SERVE_RESOURCE_EXHAUSTED, "out of memory");
			finish_error(c, &st);
			return;
		}
	}
	/* Every signature input present exactly once, nothing extra. */
	bool bad = c->inputs.n != sig->n_inputs;
	for (size_t i = 0; i < sig->n_inputs && !bad; i++) {
		size_t hits = 0;
		for (size_t j = 0; j < c->inputs.n; j++)
			if (c->inputs.t[j].name && !strcmp(c->inputs.t[j].name, sig->inputs[i].name))
				hits++;
		bad = hits != 1;
	}
	if (bad) {
		char sent[256] = "", extra[256] = "", missing[256] = "";
		size_t so = 0, eo = 0, mo = 0;
		for (size_t j = 0; j < c->inputs.n; j++) {
			const char *nm = c->inputs.t[j].name ? c->inputs.t[j].name : "";
			bool known = false;
			for (size_t i = 0; i < sig->n_inputs; i++)
				known |= !strcmp(nm, sig->inputs[i].name);
			int w = snprintf(sent + so, sizeof(sent) - so, "%s%s", so ? ", " : "", nm);
			if (w > 0 && (size_t)w < sizeof(sent) - so)
				so += (size_t)w;
			if (!known) {
				w = snprintf(extra + eo, sizeof(extra) - eo, "%s%s", eo ? ", " : "", nm);
				if (w > 0 && (size_t)w < sizeof(extra) - eo)
					eo += (size_t)w;
			}
		}
		for (size_t i = 0; i < sig->n_inputs; i++) {
			bool found = false;
			for (size_t j = 0; j < c->inputs.n; j++)
				found |= c->inputs.t[j].name &&
					 !strcmp(c->inputs.t[j].name, sig->inputs[i].name);
			if (!found) {
				int w = snprintf(missing + mo, sizeof(missing) - mo, "%s%s",
						 mo ? ", " : "", sig->inputs[i].name);
				if (w > 0 && (size_t)w < sizeof(missing) - mo)
					mo += (size_t)w;
			}
		}
		set_join(set, sizeof(set), sig->inputs, sig->n_inputs);
		serve_status_set(&st, SERVE_INVALID_ARGUMENT,
				 "input size does not match signature: %zu!=%zu len({%s}) != len({%s}). "
				 "Sent extra: {%s}. Missing but required: {%s}.",
				 c->inputs.n, sig->n_inputs, sent, set, extra, missing);
		finish_error(c, &st);
		return;
	}
	for (size_t j = 0; j < c->inputs.n; j++)
		for (size_t i = 0; i < sig->n_inputs; i++)
			if (!strcmp(c->inputs.t[j].name, sig->inputs[i].name) &&
			    c->inputs.t[j].dtype != sig->inputs[i].dtype) {
				serve_status_set(&st, SERVE_INVALID_ARGUMENT,
						 "Expects arg[%zu] (%s) to be %s but %s is provided", i,
						 sig->inputs[i].name, serve_dtype_name(sig->inputs[i].dtype),
						 serve_dtype_name(c->inputs.t[j].dtype));
				finish_error(c, &st);
				return;
			}
	/* Outputs: the filter, or all. */
	size_t no = nfilter ? nfilter : sig->n_outputs;
	c->outputs = calloc(no ? no : 1, sizeof(char *));
	if (!c->outputs) {
		serve_status_set(&st, SERVE_RESOURCE_EXHAUSTED, "out of memory");
		finish_error(c, &st);
		return;
	}
	for (size_t k = 0; k < no; k++) {
		if (!nfilter) {
			c->outputs[k] = sig->outputs[k].name;
			continue;
		}
		const char *found = NULL;
		for (size_t i = 0; i < sig->n_outputs; i++)
			if (!strcmp(filter[k], sig->outputs[i].name))
				found = sig->outputs[i].name;
		if (!found) {
			set_join(set, sizeof(set), sig->outputs, sig->n_outputs);
			serve_status_set(&st, SERVE_INVALID_ARGUMENT,
					 "output tensor alias not found in signature: %s Outputs "
					 "expected to be in the set {%s}.", filter[k], set);
			finish_error(c, &st);
			return;
		}
		for (size_t j = 0; j < k; j++)
			if (!strcmp(c->outputs[j], found)) {
				serve_status_set(&st, SERVE_INVALID_ARGUMENT,
						 "duplicate output tensor alias: %s", found);
				finish_error(c, &st);
				return;
			}
		c->outputs[k] = found;
	}
	c->n_outputs = no;
	if (!(c->sig = strdup(sig->name))) {
		serve_status_set(&st, SERVE_RESOURCE_EXHAUSTED, "out of memory");
		finish_error(c, &st);
		return;
	}
	if (net_request_cancelled(c->req)) {
		record(c, SERVE_CANCELLED);
		net_request_drop(c->req);
		rctx_free(c);
		return;
	}
	if (deadline_passed(c)) {
		serve_status_set(&st, SERVE_DEADLINE_EXCEEDED, "Deadline Exceeded");
		finish_error(c, &st);
		return;
	}
	const struct serve_servable *sv = c->ref.servable;
	if (c->srv->batcher) {
		char key[1024];
		size_t off = (size_t)snprintf(key, sizeof(key), "%s", c->sig);
		for (size_t k = 0; k < c->n_outputs && off < sizeof(key); k++) {
			int w = snprintf(key + off, sizeof(key) - off, "|%s", c->outputs[k]);
			if (w < 0)
				break;
			off += (size_t)w;
		}
		struct serve_batch_task t = {
			.model_name = c->model, .signature = c->sig, .inputs = c->inputs.t,
			.n_inputs = c->inputs.n, .outputs = c->outputs, .n_outputs = c->n_outputs,
			.done = batch_done, .ud = c,
		};
		if (serve_batcher_submit(c->srv->batcher, (void *)sv, key, &t, &st) < 0)
			finish_error(c, &st);
		return;
	}
	struct serve_tensor_list outs = { 0 };
	int rc = sv->engine->run(sv->engine->ud, sv->model, c->sig, c->inputs.t, c->inputs.n,
				 c->outputs, c->n_outputs, &outs, &st);
	if (rc < 0) {
		if (!st.code)
			serve_status_set(&st, SERVE_INTERNAL, "inference failed");
		finish_error(c, &st);
		return;
	}
	predict_done(c, &outs, NULL);
}

static void grpc_predict(struct rctx *c, const uint8_t *body, size_t len)
{
	struct serve_status st = { 0 };
	Tensorflow__Serving__PredictRequest *rq =
		tensorflow__serving__predict_request__unpack(NULL, len, body);
	if (!rq) {
		serve_status_set(&st, SERVE_INVALID_ARGUMENT, "malformed PredictRequest");
		finish_error(c, &st);
		return;
	}
	struct serve_model_request mr = spec_request(rq->model_spec);
	if (!rq->model_spec) {
		serve_status_set(&st, SERVE_INVALID_ARGUMENT, "Missing ModelSpec");
		goto fail;
	}
	if (acquire(c, &mr, &st) < 0)
		goto fail;
	const struct serve_signature *sig = find_sig(c, rq->model_spec->signature_name);
	if (!sig) {
		serve_status_set(&st, SERVE_FAILED_PRECONDITION,
				 "Serving signature name: \"%s\" not found in signature def",
				 rq->model_spec->signature_name && rq->model_spec->signature_name[0]
					 ? rq->model_spec->signature_name : "serving_default");
		goto fail;
	}
	if (rq->n_inputs > c->srv->lim.max_tensors) {
		serve_status_set(&st, SERVE_INVALID_ARGUMENT, "too many inputs");
		goto fail;
	}
	c->inputs.t = calloc(rq->n_inputs ? rq->n_inputs : 1, sizeof(struct serve_tensor));
	if (!c->inputs.t) {
		serve_status_set(&st, SERVE_RESOURCE_EXHAUSTED, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < rq->n_inputs; i++) {
		const Tensorflow__Serving__PredictRequest__InputsEntry *e = rq->inputs[i];
		if (!e->value) {
			serve_status_set(&st, SERVE_INVALID_ARGUMENT, "input \"%s\" has no tensor",
					 e->key);
			goto fail;
		}
		for (size_t j = 0; j < i; j++)
			if (!strcmp(rq->inputs[j]->key, e->key)) {
				serve_status_set(&st, SERVE_INVALID_ARGUMENT, "input \"%s\" given twice",
						 e->key);
				goto fail;
			}
		if (serve_tensor_from_proto(e->value, e->key, &c->srv->lim, &c->inputs.t[i], &st) < 0) {
			if (!st.code)
				serve_status_set(&st, SERVE_RESOURCE_EXHAUSTED, "out of memory");
			goto fail;
		}
		c->inputs.n++;
	}
	/* Inputs are decoded: the request message can go before the run. */
	char **filter = rq->output_filter;
	size_t nfilter = rq->n_output_filter;
	rq->output_filter = NULL;
	rq->n_output_filter = 0;
	tensorflow__serving__predict_request__free_unpacked(rq, NULL);
	predict_run(c, sig, filter, nfilter, false);
	for (size_t i = 0; i < nfilter; i++)
		free(filter[i]);
	free(filter);
	return;
fail:
	tensorflow__serving__predict_request__free_unpacked(rq, NULL);
	finish_error(c, &st);
}

/* ------------------------------------------------------------------------ */
/* Metadata                                                                 */

static Tensorflow__TensorInfo *make_tinfo(const struct serve_tensor_info *ti)
{
	Tensorflow__TensorInfo *t = malloc(sizeof(*t));
	Tensorflow__TensorShapeProto *sh = malloc(sizeof(*sh));
	if (!t || !sh) {
		free(t);
		free(sh);
		return NULL;
	}
	tensorflow__tensor_info__init(t);
	tensorflow__tensor_shape_proto__init(sh);
	t->dtype = (Tensorflow__DataType)ti->dtype;
	t->tensor_shape = sh;
	t->encoding_case = TENSORFLOW__TENSOR_INFO__ENCODING_NAME;
	t->name = strdup(ti->tensor_name ? ti->tensor_name : "");
	if (!t->name)
		goto oom;
	if (ti->rank < 0) {
		sh->unknown_rank = 1;
	} else if (ti->rank > 0) {
		sh->dim = calloc((size_t)ti->rank, sizeof(*sh->dim));
		if (!sh->dim)
			goto oom;
		for (int i = 0; i < ti->rank; i++) {
			Tensorflow__TensorShapeProto__Dim *d = malloc(sizeof(*d));
			if (!d)
				goto oom;
			tensorflow__tensor_shape_proto__dim__init(d);
			d->size = ti->dims[i];
			sh->dim[sh->n_dim++] = d;
		}
	}
	return t;
oom:
	tensorflow__tensor_info__free_unpacked(t, NULL);
	return NULL;
}

static int add_tinfo_map(const struct serve_tensor_info *ti, size_t n,
			 Tensorflow__SignatureDef__InputsEntry ***ret, size_t *ret_n)
{
	/* InputsEntry and OutputsEntry have the same layout. */
	Tensorflow__SignatureDef__InputsEntry **arr = calloc(n ? n : 1, sizeof(*arr));
	if (!arr)
		return -ENOMEM;
	*ret = arr;
	for (size_t i = 0; i < n; i++) {
		Tensorflow__SignatureDef__InputsEntry *e = malloc(sizeof(*e));
		if (!e)
			return -ENOMEM;
		tensorflow__signature_def__inputs_entry__init(e);
		arr[i] = e;
		(*ret_n)++;
		e->key = strdup(ti[i].name);
		e->value = make_tinfo(&ti[i]);
		if (!e->key || !e->value)
			return -ENOMEM;
	}
	return 0;
}

static int build_sigmap(struct rctx *c, Tensorflow__Serving__SignatureDefMap **ret)
{
	const struct serve_servable *sv = c->ref.servable;
	const struct serve_engine *e = sv->engine;
	size_t n = e->signature_count(e->ud, sv->model);
	Tensorflow__Serving__SignatureDefMap *m = malloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	tensorflow__serving__signature_def_map__init(m);
	m->signature_def = calloc(n ? n : 1, sizeof(*m->signature_def));
	int rc = m->signature_def ? 0 : -ENOMEM;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const struct serve_signature *s = e->signature(e->ud, sv->model, i);
		if (!s)
			continue;
		Tensorflow__Serving__SignatureDefMap__SignatureDefEntry *ent = malloc(sizeof(*ent));
		Tensorflow__SignatureDef *sd = malloc(sizeof(*sd));
		if (!ent || !sd) {
			free(ent);
			free(sd);
			rc = -ENOMEM;
			break;
		}
		tensorflow__serving__signature_def_map__signature_def_entry__init(ent);
		tensorflow__signature_def__init(sd);
		ent->value = sd;
		m->signature_def[m->n_signature_def++] = ent;
		ent->key = strdup(s->name);
		sd->method_name = strdup(s->method_name ? s->method_name : "");
		if (!ent->key || !sd->method_name) {
			rc = -ENOMEM;
			break;
		}
		rc = add_tinfo_map(s->inputs, s->n_inputs, &sd->inputs, &sd->n_inputs);
		if (rc == 0)
			rc = add_tinfo_map(s->outputs, s->n_outputs,
					   (Tensorflow__SignatureDef__InputsEntry ***)&sd->outputs,
					   &sd->n_outputs);
	}
	if (rc < 0) {
		tensorflow__serving__signature_def_map__free_unpacked(m, NULL);
		return rc;
	}
	*ret = m;
	return 0;
}

static void grpc_metadata(struct rctx *c, const uint8_t *body, size_t len)
{
	struct serve_status st = { 0 };
	Tensorflow__Serving__GetModelMetadataRequest *rq =
		tensorflow__serving__get_model_metadata_request__unpack(NULL, len, body);
	if (!rq) {
		serve_status_set(&st, SERVE_INVALID_ARGUMENT, "malformed GetModelMetadataRequest");
		finish_error(c, &st);
		return;
	}
	if (!rq->model_spec) {
		serve_status_set(&st, SERVE_INVALID_ARGUMENT, "Missing ModelSpec");
		goto fail;
	}
	if (rq->n_metadata_field == 0) {
		serve_status_set(&st, SERVE_INVALID_ARGUMENT,
				 "GetModelMetadataRequest must specify at least one metadata_field");
		goto fail;
	}
	for (size_t i = 0; i < rq->n_metadata_field; i++)
		if (strcmp(rq->metadata_field[i], "signature_def")) {
			serve_status_set(&st, SERVE_INVALID_ARGUMENT,
					 "Metadata field %s is not supported", rq->metadata_field[i]);
			goto fail;
		}
	struct serve_model_request mr = spec_request(rq->model_spec);
	if (acquire(c, &mr, &st) < 0)
		goto fail;
	Tensorflow__Serving__SignatureDefMap *map = NULL;
	if (build_sigmap(c, &map) < 0) {
		serve_status_set(&st, SERVE_RESOURCE_EXHAUSTED, "out of memory");
		goto fail;
	}
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	any.type_url = "type.googleapis.com/tensorflow.serving.SignatureDefMap";
	any.value.len = tensorflow__serving__signature_def_map__get_packed_size(map);
	any.value.data = malloc(any.value.len ? any.value.len : 1);
	Tensorflow__Serving__GetModelMetadataResponse resp =
		TENSORFLOW__SERVING__GET_MODEL_METADATA_RESPONSE__INIT;
	Tensorflow__Serving__GetModelMetadataResponse__MetadataEntry ent =
		TENSORFLOW__SERVING__GET_MODEL_METADATA_RESPONSE__METADATA_ENTRY__INIT;
	Tensorflow__Serving__GetModelMetadataResponse__MetadataEntry *eps[1] = { &ent };
	ent.key = "signature_def";
	ent.value = &any;
	resp.model_spec = make_spec(c, "");
	resp.n_metadata = 1;
	resp.metadata = eps;
	if (any.value.data && resp.model_spec) {
		tensorflow__serving__signature_def_map__pack(map, any.value.data);
		finish_pb(c, &resp.base);
	} else {
		serve_status_set(&st, SERVE_RESOURCE_EXHAUSTED, "out of memory");
		finish_error(c, &st);
	}
	free(any.value.data);
	if (resp.model_spec)
		tensorflow__serving__model_spec__free_unpacked(resp.model_spec, NULL);
	tensorflow__serving__signature_def_map__free_unpacked(map, NULL);
	tensorflow__serving__get_model_metadata_request__free_unpacked(rq, NULL);
	return;
fail:
	tensorflow__serving__get_model_metadata_request__free_unpacked(rq, NULL);
	finish_error(c, &st);
}

/* ------------------------------------------------------------------------ */
/* Status, reload, health, example-based APIs                               */

static const char *state_name(enum serve_version_state s)
{
	switch (s) {
	case SERVE_VERSION_START: return "START";
	case SERVE_VERSION_LOADING: return "LOADING";
	case SERVE_VERSION_AVAILABLE: return "AVAILABLE";
	case SERVE_VERSION_UNLOADING: return "UNLOADING";
	case SERVE_VERSION_END: return "END";
	case SERVE_VERSION_UNKNOWN: break;
	}
	return "UNKNOWN";
}

static void grpc_status(struct rctx *c, const uint8_t *body, size_t len)
{
	struct serve_status st = { 0 };
	Tensorflow__Serving__GetModelStatusRequest *rq =
		tensorflow__serving__get_model_status_request__unpack(NULL, len, body);
	if (!rq) {
		serve_status_set(&st, SERVE_INVALID_ARGUMENT, "malformed GetModelStatusRequest");
		finish_error(c, &st);
		return;
	}
	struct serve_model_request mr = spec_request(rq->model_spec);
	snprintf(c->model, sizeof(c->model), "%s", mr.name ? mr.name : "");
	struct serve_version_status *vs = NULL;
	size_t n = 0;
	if (!rq->model_spec || !mr.name || !mr.name[0]) {
		serve_status_set(&st, SERVE_INVALID_ARGUMENT, "Missing ModelSpec");
	} else if (serve_manager_status(c->srv->o.manager, &mr, &vs, &n, &st) == 0) {
		Tensorflow__Serving__GetModelStatusResponse resp =
			TENSORFLOW__SERVING__GET_MODEL_STATUS_RESPONSE__INIT;
		Tensorflow__Serving__ModelVersionStatus *mv = calloc(n, sizeof(*mv));
		Tensorflow__Serving__ModelVersionStatus **mvp = calloc(n, sizeof(*mvp));
		Tensorflow__Serving__StatusProto *sp = calloc(n, sizeof(*sp));
		if (mv && mvp && sp) {
			for (size_t i = 0; i < n; i++) {
				tensorflow__serving__model_version_status__init(&mv[i]);
				tensorflow__serving__status_proto__init(&sp[i]);
				mv[i].version = vs[i].version;
				mv[i].state = (Tensorflow__Serving__ModelVersionStatus__State)vs[i].state;
				sp[i].error_code = (Tensorflow__Error__Code)vs[i].status.code;
				sp[i].error_message = vs[i].status.msg;
				mv[i].status = &sp[i];
				mvp[i] = &mv[i];
			}
			resp.n_model_version_status = n;
			resp.model_version_status = mvp;
			finish_pb(c, &resp.base);
		} else {
			serve_status_set(&st, SERVE_RESOURCE_EXHAUSTED, "out of memory");
			finish_error(c, &st);
		}
		free(mv);
		free(mvp);
		free(sp);
		free(vs);
		tensorflow__serving__get_model_status_request__free_unpacked(rq, NULL);
		return;
	}
	tensorflow__serving__get_model_status_request__free_unpacked(rq, NULL);
	finish_error(c, &st);
}

static void grpc_reload(struct rctx *c, const uint8_t *body, size_t len)
{
	struct serve_status st = { 0 };
	Tensorflow__Serving__ReloadConfigRequest *rq =
		tensorflow__serving__reload_config_request__unpack(NULL, len, body);
	if (!rq) {
		serve_status_set(&st, SERVE_INVALID_ARGUMENT, "malformed ReloadConfigRequest");
		finish_error(c, &st);
		return;
	}
	struct serve_model_config *cfgs = NULL;
	size_t n = 0;
	Tensorflow__Serving__ReloadConfigResponse resp = TENSORFLOW__SERVING__RELOAD_CONFIG_RESPONSE__INIT;
	Tensorflow__Serving__StatusProto sp = TENSORFLOW__SERVING__STATUS_PROTO__INIT;
	resp.status = &sp;
	if (!c->srv->o.reload) {
		serve_status_set(&st, SERVE_UNIMPLEMENTED, "config reload is not enabled");
	} else if (!rq->config) {
		serve_status_set(&st, SERVE_INVALID_ARGUMENT, "ReloadConfigRequest has no config");
	} else if (serve_config_models(rq->config, &cfgs, &n, &st) == 0) {
		c->srv->o.reload(c->srv->o.reload_ud, cfgs, n, &st);
		serve_config_models_free(cfgs, n);
	}
	tensorflow__serving__reload_config_request__free_unpacked(rq, NULL);
	if (st.code != SERVE_OK) {
		/* TF Serving answers the RPC with the failure status. */
		finish_error(c, &st);
		return;
	}
	sp.error_code = TENSORFLOW__ERROR__CODE__OK;
	finish_pb(c, &resp.base);
}

static void grpc_health(struct rctx *c, const uint8_t *body, size_t len)
{
	struct serve_status st = { 0 };
	Grpc__Health__V1__HealthCheckRequest *rq =
		grpc__health__v1__health_check_request__unpack(NULL, len, body);
	if (!rq) {
		serve_status_set(&st, SERVE_INVALID_ARGUMENT, "malformed HealthCheckRequest");
		finish_error(c, &st);
		return;
	}
	const char *svc = rq->service ? rq->service : "";
	bool known = !svc[0] || !strcmp(svc, "tensorflow.serving.PredictionService") ||
		     !strcmp(svc, "tensorflow.serving.ModelService");
	grpc__health__v1__health_check_request__free_unpacked(rq, NULL);
	if (!known) {
		serve_status_set(&st, SERVE_NOT_FOUND, "unknown service");
		finish_error(c, &st);
		return;
	}
	Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
	resp.status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
	finish_pb(c, &resp.base);
}

/* ------------------------------------------------------------------------ */
/* Classify / Regress / MultiInference                                      */

struct ex_task {
	const struct serve_signature *sig;
	bool classify;
	const char *out; /* the output asked: "scores" or "outputs" */
};

static const struct serve_tensor_info *sig_output(const struct serve_signature *s,
						  const char *name)
{
	for (size_t i = 0; i < s->n_outputs; i++)
		if (!strcmp(s->outputs[i].name, name))
			return &s->outputs[i];
	return NULL;
}

/* TF Serving's GetClassificationSignatureDef / PreProcessClassification
 * (and the regression twins), then what this engine can run. */
static int ex_task_check(struct rctx *c, const char *signame, bool classify, bool multi,
			 struct ex_task *t, struct serve_status *st)
{
	const char *nm = signame && signame[0] ? signame : "serving_default";
	const char *api = classify ? "classification" : "regression";
	const char *want = classify ? "tensorflow/serving/classify" : "tensorflow/serving/regress";
	const struct serve_signature *s = find_sig(c, signame);
	t->sig = s;
	t->classify = classify;
	if (!s)
		return serve_status_set(st, SERVE_INVALID_ARGUMENT,
					multi ? "Requested signature not found in model graph: %s"
					      : "No signature was found with the name: %s", nm), -EINVAL;
	if (strcmp(s->method_name, want))
		return serve_status_set(st, SERVE_INVALID_ARGUMENT,
					"Expected %s signature method_name to be %s. Was: %s", api, want,
					s->method_name), -EINVAL;
	if (s->n_inputs != 1)
		return serve_status_set(st, SERVE_INVALID_ARGUMENT, "Expected one input Tensor."),
		       -EINVAL;
	if (classify && s->n_outputs != 1 && s->n_outputs != 2)
		return serve_status_set(st, SERVE_INVALID_ARGUMENT,
					"Expected one or two output Tensors, found %zu", s->n_outputs),
		       -EINVAL;
	if (!classify && s->n_outputs != 1)
		return serve_status_set(st, SERVE_INVALID_ARGUMENT, "Expected one output Tensor."),
		       -EINVAL;
	if (strcmp(s->inputs[0].name, "inputs"))
		return serve_status_set(st, SERVE_FAILED_PRECONDITION,
					"No %s inputs found in SignatureDef: %s (its input is \"%s\")",
					api, s->name, s->inputs[0].name), -EINVAL;
	const struct serve_tensor_info *classes = NULL, *out;
	if (classify) {
		classes = sig_output(s, "classes");
		out = sig_output(s, "scores");
		if (!classes && !out)
			return serve_status_set(st, SERVE_FAILED_PRECONDITION,
						"Expected classification signature outputs to contain at "
						"least one of \"classes\" or \"scores\". Signature was: %s",
						s->name), -EINVAL;
		t->out = "scores";
	} else {
		out = sig_output(s, "outputs");
		if (!out)
			return serve_status_set(st, SERVE_FAILED_PRECONDITION,
						"No regression outputs found in SignatureDef: %s", s->name),
			       -EINVAL;
		t->out = "outputs";
	}
	return 0;
}

/* What TF Serving would run but this engine cannot: UNIMPLEMENTED. */
static int ex_task_runnable(struct rctx *c, const struct ex_task *t, struct serve_status *st)
{
	const struct serve_signature *s = t->sig;
	const char *api = t->classify ? "classification" : "regression";
	const struct serve_tensor_info *classes = t->classify ? sig_output(s, "classes") : NULL;
	if (classes && classes->dtype == SERVE_DT_STRING)
		return serve_status_set(st, SERVE_UNIMPLEMENTED,
					"%s: signature \"%s\" has a \"classes\" output of DT_STRING "
					"labels, which the inference engine cannot compute (it computes "
					"no strings); only \"scores\" can be served", api, s->name),
		       -ENOTSUP;
	if (classes)
		return serve_status_set(st, SERVE_INVALID_ARGUMENT,
					"Expected classes Tensor of DT_STRING. Got: %s",
					serve_dtype_name(classes->dtype)), -EINVAL;
	if (!s->available)
		return serve_status_set(st, SERVE_UNIMPLEMENTED, "signature \"%s\" cannot run: %s",
					s->name, s->error ? s->error : "not supported by the engine"),
		       -ENOTSUP;
	const struct serve_servable *sv = c->ref.servable;
	if (!s->takes_examples || !sv->engine->run_examples)
		return serve_status_set(st, SERVE_UNIMPLEMENTED,
					"%s: signature \"%s\" input \"%s\" is %s, not serialized "
					"tf.Example parsed by the model (ParseExample); only such "
					"signatures can %s: use Predict with tensor inputs", api, s->name,
					s->inputs[0].name, serve_dtype_name(s->inputs[0].dtype),
					t->classify ? "classify" : "regress"), -ENOTSUP;
	if (s->inputs[0].dtype != SERVE_DT_STRING)
		return serve_status_set(st, SERVE_INVALID_ARGUMENT,
					"signature \"%s\" input must be DT_STRING", s->name), -EINVAL;
	return 0;
}

static void shape_debug(const struct serve_tensor *t, char *buf, size_t n)
{
	size_t off = 0;
	int w = snprintf(buf, n, "[");
	off = w > 0 ? (size_t)w : 0;
	for (int d = 0; d < t->ndims && off < n; d++) {
		w = snprintf(buf + off, n - off, "%s%" PRId64, d ? "," : "", t->dims[d]);
		if (w < 0)
			break;
		off += (size_t)w;
	}
	if (off < n)
		snprintf(buf + off, n - off, "]");
}

/* A task's result: n examples x per floats. */
struct ex_result {
	bool classify;
	size_t n, per;
	float *v;
	Tensorflow__Serving__ClassificationResult cr;
	Tensorflow__Serving__RegressionResult rr;
	Tensorflow__Serving__Classifications *cls, **clsp;
	Tensorflow__Serving__Class *cl, **clp;
	Tensorflow__Serving__Regression *r, **rp;
};

static void ex_result_free(struct ex_result *x)
{
	free(x->v);
	free(x->cls);
	free(x->clsp);
	free(x->cl);
	free(x->clp);
	free(x->r);
	free(x->rp);
	memset(x, 0, sizeof(*x));
}

/* Runs task t on the batch; TF Serving's PostProcess*Result checks. */
static int ex_task_run(struct rctx *c, const struct ex_task *t, const struct serve_ex_batch *b,
		       struct ex_result *res, struct serve_status *st)
{
	const struct serve_servable *sv = c->ref.servable;
	const struct serve_engine *e = sv->engine;
	struct serve_tensor_list outs = { 0 };
	const char *const names[1] = { t->out };
	memset(res, 0, sizeof(*res));
	res->classify = t->classify;
	int rc = e->run_examples(e->ud, sv->model, t->sig->name, b->ex, b->n,
				 b->has_ctx ? &b->ctx : NULL, names, 1, &outs, st);
	if (rc < 0) {
		if (!st->code)
			serve_status_set(st, SERVE_INTERNAL, "inference failed");
		return rc;
	}
	char sh[128];
	rc = -EINVAL;
	const struct serve_tensor *o = outs.n == 1 ? &outs.t[0] : NULL;
	if (!o) {
		serve_status_set(st, SERVE_INTERNAL, "the engine returned no output");
		goto out;
	}
	shape_debug(o, sh, sizeof(sh));
	if (t->classify) {
		if (o->ndims != 2) {
			serve_status_set(st, SERVE_INVALID_ARGUMENT,
					 "Expected Tensor shape: [batch_size num_classes] but got %s", sh);
			goto out;
		}
		if (o->dtype != SERVE_DT_FLOAT) {
			serve_status_set(st, SERVE_INVALID_ARGUMENT,
					 "Expected scores Tensor of DT_FLOAT. Got: %s",
					 serve_dtype_name(o->dtype));
			goto out;
		}
		if (o->dims[0] != (int64_t)b->n) {
			serve_status_set(st, SERVE_INVALID_ARGUMENT,
					 "Expected scores output batch size of %zu. Got: %" PRId64, b->n,
					 o->dims[0]);
			goto out;
		}
		res->per = (size_t)o->dims[1];
	} else {
		if (!(o->ndims == 1 || (o->ndims == 2 && o->dims[1] == 1))) {
			serve_status_set(st, SERVE_INVALID_ARGUMENT,
					 "Expected output Tensor shape to be either [batch_size] or "
					 "[batch_size, 1] but got %s", sh);
			goto out;
		}
		if (o->dims[0] != (int64_t)b->n) {
			serve_status_set(st, SERVE_INVALID_ARGUMENT,
					 "Input batch size did not match output batch size: %zu vs. %"
					 PRId64, b->n, o->dims[0]);
			goto out;
		}
		if (o->dtype != SERVE_DT_FLOAT) {
			serve_status_set(st, SERVE_INVALID_ARGUMENT,
					 "Expected output Tensor of DT_FLOAT.  Got: %s",
					 serve_dtype_name(o->dtype));
			goto out;
		}
		res->per = 1;
	}
	res->n = b->n;
	size_t total;
	if (!cc_mul_ok(res->n, res->per, &total) || total > (SIZE_MAX / 64) ||
	    o->nbytes != total * sizeof(float)) {
		serve_status_set(st, SERVE_INTERNAL, "inconsistent output size");
		goto out;
	}
	/* adopt the engine's buffer */
	res->v = o->data;
	outs.t[0].data = NULL;
	rc = 0;
out:
	serve_tensor_list_clear(&outs);
	return rc;
}

/* Protobuf views of res (arrays owned by res). */
static int ex_result_pb(struct ex_result *x)
{
	size_t total = x->n * x->per;
	if (x->classify) {
		tensorflow__serving__classification_result__init(&x->cr);
		x->cls = calloc(x->n ? x->n : 1, sizeof(*x->cls));
		x->clsp = calloc(x->n ? x->n : 1, sizeof(*x->clsp));
		x->cl = calloc(total ? total : 1, sizeof(*x->cl));
		x->clp = calloc(total ? total : 1, sizeof(*x->clp));
		if (!x->cls || !x->clsp || !x->cl || !x->clp)
			return -ENOMEM;
		for (size_t i = 0; i < x->n; i++) {
			tensorflow__serving__classifications__init(&x->cls[i]);
			x->clsp[i] = &x->cls[i];
			x->cls[i].n_classes = x->per;
			x->cls[i].classes = &x->clp[i * x->per];
			for (size_t k = 0; k < x->per; k++) {
				Tensorflow__Serving__Class *cl = &x->cl[i * x->per + k];
				tensorflow__serving__class__init(cl);
				cl->score = x->v[i * x->per + k];
				x->clp[i * x->per + k] = cl;
			}
		}
		x->cr.n_classifications = x->n;
		x->cr.classifications = x->clsp;
		return 0;
	}
	tensorflow__serving__regression_result__init(&x->rr);
	x->r = calloc(x->n ? x->n : 1, sizeof(*x->r));
	x->rp = calloc(x->n ? x->n : 1, sizeof(*x->rp));
	if (!x->r || !x->rp)
		return -ENOMEM;
	for (size_t i = 0; i < x->n; i++) {
		tensorflow__serving__regression__init(&x->r[i]);
		x->r[i].value = x->v[i];
		x->rp[i] = &x->r[i];
	}
	x->rr.n_regressions = x->n;
	x->rr.regressions = x->rp;
	return 0;
}

static bool ex_gate(struct rctx *c, struct serve_status *st)
{
	if (net_request_cancelled(c->req)) {
		record(c, SERVE_CANCELLED);
		net_request_drop(c->req);
		rctx_free(c);
		return false;
	}
	if (deadline_passed(c)) {
		serve_status_set(st, SERVE_DEADLINE_EXCEEDED, "Deadline Exceeded");
		finish_error(c, st);
		return false;
	}
	return true;
}

/* Classify / Regress over gRPC (in: the request's Input, converted after
 * the signature checks as TF Serving does) and REST (b already filled);
 * b is consumed. */
static void ex_single(struct rctx *c, const struct serve_model_request *mr, const char *signame,
		      bool classify, const Tensorflow__Serving__Input *in, struct serve_ex_batch *b)
{
	struct serve_status st = { 0 };
	struct ex_task t;
	struct ex_result res = { 0 };
	if (acquire(c, mr, &st) < 0 || ex_task_check(c, signame, classify, false, &t, &st) < 0 ||
	    ex_task_runnable(c, &t, &st) < 0)
		goto fail;
	if (in && serve_ex_batch_from_input(in, b, &st) < 0)
		goto fail;
	if (!ex_gate(c, &st)) {
		serve_ex_batch_clear(b);
		return;
	}
	if (ex_task_run(c, &t, b, &res, &st) < 0)
		goto fail;
	serve_ex_batch_clear(b);
	if (!c->grpc) {
		char *body = NULL;
		size_t len = 0;
		int rc = serve_rest_render_results(res.v, res.n, res.per, classify, &body, &len);
		ex_result_free(&res);
		if (rc < 0) {
			serve_status_set(&st, SERVE_RESOURCE_EXHAUSTED, "out of memory");
			finish_error(c, &st);
			return;
		}
		finish_http(c, 200, "application/json", body, len, SERVE_OK);
		return;
	}
	Tensorflow__Serving__ModelSpec *ms = make_spec(c, t.sig->name);
	if (!ms || ex_result_pb(&res) < 0) {
		if (ms)
			tensorflow__serving__model_spec__free_unpacked(ms, NULL);
		ex_result_free(&res);
		serve_status_set(&st, SERVE_RESOURCE_EXHAUSTED, "out of memory");
		finish_error(c, &st);
		return;
	}
	if (classify) {
		Tensorflow__Serving__ClassificationResponse r =
			TENSORFLOW__SERVING__CLASSIFICATION_RESPONSE__INIT;
		r.model_spec = ms;
		r.result = &res.cr;
		finish_pb(c, &r.base);
	} else {
		Tensorflow__Serving__RegressionResponse r = TENSORFLOW__SERVING__REGRESSION_RESPONSE__INIT;
		r.model_spec = ms;
		r.result = &res.rr;
		finish_pb(c, &r.base);
	}
	tensorflow__serving__model_spec__free_unpacked(ms, NULL);
	ex_result_free(&res);
	return;
fail:
	serve_ex_batch_clear(b);
	ex_result_free(&res);
	finish_error(c, &st);
}

static void grpc_classify_regress(struct rctx *c, const uint8_t *body, size_t len, bool classify)
{
	struct serve_status st = { 0 };
	ProtobufCMessage *m = protobuf_c_message_unpack(
		classify ? &tensorflow__serving__classification_request__descriptor
			 : &tensorflow__serving__regression_request__descriptor,
		NULL, len, body);
	if (!m) {
		serve_status_set(&st, SERVE_INVALID_ARGUMENT, "malformed %s",
				 classify ? "ClassificationRequest" : "RegressionRequest");
		finish_error(c, &st);
		return;
	}
	const Tensorflow__Serving__ModelSpec *ms;
	const Tensorflow__Serving__Input *in;
	if (classify) {
		ms = ((Tensorflow__Serving__ClassificationRequest *)m)->model_spec;
		in = ((Tensorflow__Serving__ClassificationRequest *)m)->input;
	} else {
		ms = ((Tensorflow__Serving__RegressionRequest *)m)->model_spec;
		in = ((Tensorflow__Serving__RegressionRequest *)m)->input;
	}
	struct serve_model_request mr = spec_request(ms);
	struct serve_ex_batch b = { 0 };
	if (!ms) {
		protobuf_c_message_free_unpacked(m, NULL);
		serve_status_set(&st, SERVE_INVALID_ARGUMENT, "Missing ModelSpec");
		finish_error(c, &st);
		return;
	}
	ex_single(c, &mr, ms->signature_name, classify, in ? in : &(Tensorflow__Serving__Input)
		  TENSORFLOW__SERVING__INPUT__INIT, &b);
	protobuf_c_message_free_unpacked(m, NULL);
}

static void grpc_multi(struct rctx *c, const uint8_t *body, size_t len)
{
	struct serve_status st = { 0 };
	struct serve_ex_batch b = { 0 };
	struct ex_task *tasks = NULL;
	struct ex_result *res = NULL;
	Tensorflow__Serving__InferenceResult *ir = NULL, **irp = NULL;
	Tensorflow__Serving__ModelSpec **specs = NULL;
	size_t nt = 0, built = 0;
	Tensorflow__Serving__MultiInferenceRequest *rq =
		tensorflow__serving__multi_inference_request__unpack(NULL, len, body);
	if (!rq) {
		serve_status_set(&st, SERVE_INVALID_ARGUMENT, "malformed MultiInferenceRequest");
		goto fail;
	}
	nt = rq->n_tasks;
	if (nt == 0) {
		serve_status_set(&st, SERVE_INVALID_ARGUMENT, "Tasks must not be empty.");
		goto fail;
	}
	/* TF Serving's TensorFlowMultiInferenceRunner::Infer, in its order */
	const char *model = NULL;
	for (size_t i = 0; i < nt; i++) {
		const Tensorflow__Serving__ModelSpec *ms = rq->tasks[i]->model_spec;
		if (!ms || !ms->name || !ms->name[0]) {
			serve_status_set(&st, SERVE_INVALID_ARGUMENT,
					 "Found ModelSpec with an empty model name.");
			goto fail;
		}
		if (!model)
			model = ms->name;
		else if (strcmp(model, ms->name)) {
			serve_status_set(&st, SERVE_INVALID_ARGUMENT,
					 "All ModelSpecs in a MultiInferenceRequest must access the same "
					 "model name.");
			goto fail;
		}
	}
	struct serve_model_request mr = spec_request(rq->tasks[0]->model_spec);
	if (acquire(c, &mr, &st) < 0)
		goto fail;
	tasks = calloc(nt, sizeof(*tasks));
	res = calloc(nt, sizeof(*res));
	if (!tasks || !res)
		goto oom;
	const char *input_tensor = NULL;
	for (size_t i = 0; i < nt; i++) {
		const Tensorflow__Serving__InferenceTask *tk = rq->tasks[i];
		const char *sn = tk->model_spec->signature_name && tk->model_spec->signature_name[0]
					 ? tk->model_spec->signature_name : "serving_default";
		for (size_t j = 0; j < i; j++)
			if (!strcmp(tasks[j].sig->name, sn)) {
				serve_status_set(&st, SERVE_INVALID_ARGUMENT,
						 "Duplicate evaluation of signature: %s", sn);
				goto fail;
			}
		const char *method = tk->method_name ? tk->method_name : "";
		bool cls = !strcmp(method, "tensorflow/serving/classify");
		if (!find_sig(c, sn)) {
			serve_status_set(&st, SERVE_INVALID_ARGUMENT,
					 "Requested signature not found in model graph: %s", sn);
			goto fail;
		}
		if (!cls && strcmp(method, "tensorflow/serving/regress")) {
			serve_status_set(&st, SERVE_UNIMPLEMENTED, "Unsupported signature method_name: %s",
					 method);
			goto fail;
		}
		if (ex_task_check(c, sn, cls, true, &tasks[i], &st) < 0)
			goto fail;
		const char *tn = tasks[i].sig->inputs[0].tensor_name ?
				 tasks[i].sig->inputs[0].tensor_name : "";
		if (!input_tensor)
			input_tensor = tn;
		else if (strcmp(input_tensor, tn)) {
			serve_status_set(&st, SERVE_INVALID_ARGUMENT,
					 "Input tensor must be the same for all Signatures.");
			goto fail;
		}
	}
	for (size_t i = 0; i < nt; i++)
		if (ex_task_runnable(c, &tasks[i], &st) < 0)
			goto fail;
	if (serve_ex_batch_from_input(rq->input, &b, &st) < 0)
		goto fail;
	if (!ex_gate(c, &st)) {
		c = NULL;
		goto fail;
	}
	for (size_t i = 0; i < nt; i++)
		if (ex_task_run(c, &tasks[i], &b, &res[i], &st) < 0)
			goto fail;
	ir = calloc(nt, sizeof(*ir));
	irp = calloc(nt, sizeof(*irp));
	specs = calloc(nt, sizeof(*specs));
	if (!ir || !irp || !specs)
		goto oom;
	for (size_t i = 0; i < nt; i++, built++) {
		tensorflow__serving__inference_result__init(&ir[i]);
		specs[i] = make_spec(c, tasks[i].sig->name);
		if (!specs[i] || ex_result_pb(&res[i]) < 0)
			goto oom;
		ir[i].model_spec = specs[i];
		if (tasks[i].classify) {
			ir[i].result_case =
				TENSORFLOW__SERVING__INFERENCE_RESULT__RESULT_CLASSIFICATION_RESULT;
			ir[i].classification_result = &res[i].cr;
		} else {
			ir[i].result_case = TENSORFLOW__SERVING__INFERENCE_RESULT__RESULT_REGRESSION_RESULT;
			ir[i].regression_result = &res[i].rr;
		}
		irp[i] = &ir[i];
	}
	Tensorflow__Serving__MultiInferenceResponse resp =
		TENSORFLOW__SERVING__MULTI_INFERENCE_RESPONSE__INIT;
	resp.n_results = nt;
	resp.results = irp;
	finish_pb(c, &resp.base);
	c = NULL;
	goto done;
oom:
	serve_status_set(&st, SERVE_RESOURCE_EXHAUSTED, "out of memory");
fail:
	if (c)
		finish_error(c, &st);
done:
	for (size_t i = 0; specs && i < built + 1 && i < nt; i++)
		if (specs[i])
			tensorflow__serving__model_spec__free_unpacked(specs[i], NULL);
	for (size_t i = 0; res && i < nt; i++)
		ex_result_free(&res[i]);
	free(specs);
	free(ir);
	free(irp);
	free(res);
	free(tasks);
	serve_ex_batch_clear(&b);
	if (rq)
		tensorflow__serving__multi_inference_request__free_unpacked(rq, NULL);
}

static void rest_examples(struct rctx *c, const struct serve_model_request *mr, const char *body,
			  size_t len, bool classify)
{
	struct serve_status st = { 0 };
	struct serve_rest_examples re;
	if (serve_rest_parse_examples(body, len, &c->srv->lim, &re, &st) < 0) {
		finish_error(c, &st);
		return;
	}
	struct serve_ex_batch b = { re.examples, re.n, re.context, re.has_context };
	char signame[1024];
	snprintf(signame, sizeof(signame), "%s", re.signature_name ? re.signature_name : "");
	free(re.signature_name);
	ex_single(c, mr, signame, classify, NULL, &b);
}

/* ------------------------------------------------------------------------ */
/* REST                                                                     */

static int json_str(struct cc_buf *b, const char *s)
{
	int rc = cc_buf_putc(b, '"');
	for (; *s && rc == 0; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			rc = cc_buf_printf(b, "\\%c", ch);
		else if (ch < 0x20)
			rc = cc_buf_printf(b, "\\u%04x", ch);
		else
			rc = cc_buf_putc(b, (char)ch);
	}
	if (rc == 0)
		rc = cc_buf_putc(b, '"');
	return rc;
}

static void rest_json_tinfo(struct cc_buf *b, const struct serve_tensor_info *ti, size_t n)
{
	cc_buf_puts(b, "{");
	for (size_t i = 0; i < n; i++) {
		cc_buf_puts(b, i ? ", " : "");
		json_str(b, ti[i].name);
		cc_buf_printf(b, ": {\"dtype\": \"%s\", \"tensor_shape\": {\"dim\": [",
			      serve_dtype_name(ti[i].dtype));
		for (int d = 0; d < ti[i].rank; d++)
			cc_buf_printf(b, "%s{\"size\": \"%" PRId64 "\", \"name\": \"\"}", d ? ", " : "",
				      ti[i].dims[d]);
		cc_buf_printf(b, "], \"unknown_rank\": %s}, \"name\": ", ti[i].rank < 0 ? "true" : "false");
		json_str(b, ti[i].tensor_name ? ti[i].tensor_name : "");
		cc_buf_puts(b, "}");
	}
	cc_buf_puts(b, "}");
}

static void rest_metadata(struct rctx *c)
{
	const struct serve_servable *sv = c->ref.servable;
	const struct serve_engine *e = sv->engine;
	struct cc_buf b;
	cc_buf_init(&b, 64u << 20, false);
	cc_buf_puts(&b, "{\n\"model_spec\":{\"name\": ");
	json_str(&b, c->model);
	cc_buf_printf(&b, ", \"signature_name\": \"\", \"version\": \"%" PRId64 "\"},\n"
		      "\"metadata\": {\"signature_def\": {\"signature_def\": {", c->ref.version);
	size_t n = e->signature_count(e->ud, sv->model);
	bool first = true;
	for (size_t i = 0; i < n; i++) {
		const struct serve_signature *s = e->signature(e->ud, sv->model, i);
		if (!s)
			continue;
		cc_buf_puts(&b, first ? "\n" : ",\n");
		first = false;
		json_str(&b, s->name);
		cc_buf_puts(&b, ": {\"inputs\": ");
		rest_json_tinfo(&b, s->inputs, s->n_inputs);
		cc_buf_puts(&b, ", \"outputs\": ");
		rest_json_tinfo(&b, s->outputs, s->n_outputs);
		cc_buf_puts(&b, ", \"method_name\": ");
		json_str(&b, s->method_name ? s->method_name : "");
		cc_buf_puts(&b, ", \"defaults\": {}}");
	}
	int rc = cc_buf_puts(&b, "\n}}}\n}\n");
	size_t len;
	char *body = (char *)cc_buf_steal(&b, &len);
	if (rc < 0 || !body) {
		free(body);
		struct serve_status st;
		serve_status_set(&st, SERVE_RESOURCE_EXHAUSTED, "out of memory");
		finish_error(c, &st);
		return;
	}
	finish_http(c, 200, "application/json", body, len, SERVE_OK);
}

static void rest_status(struct rctx *c, const struct serve_model_request *mr)
{
	struct serve_status st = { 0 };
	struct serve_version_status *vs = NULL;
	size_t n = 0;
	if (serve_manager_status(c->srv->o.manager, mr, &vs, &n, &st) < 0) {
		finish_error(c, &st);
		return;
	}
	struct cc_buf b;
	cc_buf_init(&b, 16u << 20, false);
	cc_buf_puts(&b, "{\n \"model_version_status\": [");
	for (size_t i = 0; i < n; i++) {
		cc_buf_printf(&b, "%s\n  {\n   \"version\": \"%" PRId64 "\",\n   \"state\": \"%s\",\n"
			      "   \"status\": {\n    \"error_code\": \"%s\",\n    \"error_message\": ",
			      i ? "," : "", vs[i].version, state_name(vs[i].state),
			      serve_code_name(vs[i].status.code));
		json_str(&b, vs[i].status.msg);
		cc_buf_puts(&b, "\n   }\n  }");
	}
	int rc = cc_buf_puts(&b, "\n ]\n}\n");
	free(vs);
	size_t len;
	char *body = (char *)cc_buf_steal(&b, &len);
	if (rc < 0 || !body) {
		free(body);
		serve_status_set(&st, SERVE_RESOURCE_EXHAUSTED, "out of memory");
		finish_error(c, &st);
		return;
	}
	finish_http(c, 200, "application/json", body, len, SERVE_OK);
}

struct rest_resolve {
	struct rctx *c;
	const struct serve_signature *sig;
	struct serve_input_spec specs[256];
};

static int rest_resolve(void *ud, const char *signame, const struct serve_input_spec **specs,
			size_t *n, struct serve_status *st)
{
	struct rest_resolve *r = ud;
	r->sig = find_sig(r->c, signame);
	if (!r->sig)
		return serve_status_set(st, SERVE_FAILED_PRECONDITION,
					"Serving signature name: \"%s\" not found in signature def",
					signame && signame[0] ? signame : "serving_default"),
		       -EINVAL;
	size_t k = 0;
	for (size_t i = 0; i < r->sig->n_inputs && k < CC_ARRAY_SIZE(r->specs); i++, k++) {
		r->specs[k].name = r->sig->inputs[i].name;
		r->specs[k].dtype = r->sig->inputs[i].dtype;
	}
	*specs = r->specs;
	*n = k;
	return 0;
}

static void rest_predict(struct rctx *c, const struct serve_model_request *mr, const char *body,
			 size_t len)
{
	struct serve_status st = { 0 };
	if (acquire(c, mr, &st) < 0) {
		finish_error(c, &st);
		return;
	}
	struct rest_resolve *res = calloc(1, sizeof(*res));
	struct serve_rest_request rr = { 0 };
	if (!res) {
		serve_status_set(&st, SERVE_RESOURCE_EXHAUSTED, "out of memory");
		finish_error(c, &st);
		return;
	}
	res->c = c;
	if (serve_rest_parse_predict_cb(body, len, rest_resolve, res, &c->srv->lim, &rr, &st) < 0) {
		free(res);
		finish_error(c, &st);
		return;
	}
	const struct serve_signature *sig = res->sig;
	free(res);
	c->inputs = rr.inputs;
	rr.inputs.t = NULL;
	rr.inputs.n = 0;
	c->rest_fmt = rr.format;
	bool unnamed = !rr.named;
	serve_rest_request_clear(&rr);
	predict_run(c, sig, NULL, 0, unnamed);
}

/* Parse "/v1/models/NAME[/versions/N|/labels/L][:verb|/metadata]". */
static int parse_rest_path(const char *path, char *name, size_t nsz, struct serve_model_request *mr,
			   char *label, size_t lsz, char *verb, size_t vsz)
{
	static const char pre[] = "/v1/models/";
	if (strncmp(path, pre, sizeof(pre) - 1))
		return -1;
	const char *p = path + sizeof(pre) - 1;
	const char *q = strchr(p, '?');
	size_t plen = q ? (size_t)(q - p) : strlen(p);
	char buf[1024];
	if (plen == 0 || plen >= sizeof(buf))
		return -1;
	memcpy(buf, p, plen);
	buf[plen] = '\0';
	verb[0] = '\0';
	char *colon = strrchr(buf, ':');
	if (colon) {
		snprintf(verb, vsz, "%s", colon + 1);
		*colon = '\0';
	}
	char *slash = strchr(buf, '/');
	char *rest = NULL;
	if (slash) {
		*slash = '\0';
		rest = slash + 1;
	}
	if (!buf[0] || strlen(buf) >= nsz)
		return -1;
	memcpy(name, buf, strlen(buf) + 1);
	mr->name = name;
	while (rest && *rest) {
		char *next = strchr(rest, '/');
		if (next)
			*next++ = '\0';
		if (!strcmp(rest, "metadata") && (!next || !*next) && !colon) {
			snprintf(verb, vsz, "metadata");
			break;
		}
		if (!next || !*next)
			return -1;
		char *val = next;
		next = strchr(val, '/');
		if (next)
			*next++ = '\0';
		if (!strcmp(rest, "versions")) {
			uint64_t v;
			if (cc_parse_u64(val, &v) < 0 || v > INT64_MAX)
				return -1;
			mr->has_version = true;
			mr->version = (int64_t)v;
		} else if (!strcmp(rest, "labels")) {
			if (!val[0] || strlen(val) >= lsz)
				return -1;
			memcpy(label, val, strlen(val) + 1);
			mr->label = label;
		} else {
			return -1;
		}
		rest = next;
	}
	return 0;
}

static void handle_rest(struct rctx *c)
{
	struct serve_status st = { 0 };
	const char *method = net_request_method(c->req);
	const char *path = net_request_path(c->req);
	size_t len;
	const uint8_t *body = net_request_body(c->req, &len);
	if (c->srv->prom_path && !strcmp(method, "GET") && !strcmp(path, c->srv->prom_path)) {
		c->api = API_METRICS;
		char *text = NULL;
		size_t tl = 0;
		if (serve_metrics_render(c->srv->o.metrics, &text, &tl) < 0) {
			serve_status_set(&st, SERVE_INTERNAL, "cannot render metrics");
			finish_error(c, &st);
			return;
		}
		finish_http(c, 200, "text/plain; version=0.0.4", text, tl, SERVE_OK);
		return;
	}
	char name[256], label[256], verb[32];
	struct serve_model_request mr = { 0 };
	if (parse_rest_path(path, name, sizeof(name), &mr, label, sizeof(label), verb,
			    sizeof(verb)) < 0) {
		serve_status_set(&st, SERVE_INVALID_ARGUMENT, "Malformed request: %s %.200s", method,
				 path);
		finish_error(c, &st);
		return;
	}
	snprintf(c->model, sizeof(c->model), "%s", name);
	if (!strcmp(method, "GET") && !verb[0]) {
		c->api = API_STATUS;
		rest_status(c, &mr);
		return;
	}
	if (!strcmp(method, "GET") && !strcmp(verb, "metadata")) {
		c->api = API_METADATA;
		if (acquire(c, &mr, &st) < 0) {
			finish_error(c, &st);
			return;
		}
		rest_metadata(c);
		return;
	}
	if (!strcmp(method, "POST") && !strcmp(verb, "predict")) {
		c->api = API_PREDICT;
		rest_predict(c, &mr, (const char *)body, len);
		return;
	}
	if (!strcmp(method, "POST") && (!strcmp(verb, "classify") || !strcmp(verb, "regress"))) {
		bool cls = !strcmp(verb, "classify");
		c->api = cls ? API_CLASSIFY : API_REGRESS;
		rest_examples(c, &mr, (const char *)body, len, cls);
		return;
	}
	serve_status_set(&st, SERVE_INVALID_ARGUMENT, "Malformed request: %s %.200s", method, path);
	finish_error(c, &st);
}

/* ------------------------------------------------------------------------ */
/* Dispatch                                                                 */

static void handle(struct rctx *c)
{
	struct serve_status st = { 0 };
	c->t_handle = cc_mono_ns();
	if (net_request_cancelled(c->req)) {
		record(c, SERVE_CANCELLED);
		net_request_drop(c->req);
		rctx_free(c);
		return;
	}
	if (deadline_passed(c)) {
		serve_status_set(&st, SERVE_DEADLINE_EXCEEDED, "Deadline Exceeded");
		finish_error(c, &st);
		return;
	}
	if (!c->grpc) {
		handle_rest(c);
		return;
	}
	size_t len;
	const uint8_t *body = net_request_body(c->req, &len);
	switch (c->api) {
	case API_PREDICT: grpc_predict(c, body, len); return;
	case API_METADATA: grpc_metadata(c, body, len); return;
	case API_STATUS: grpc_status(c, body, len); return;
	case API_RELOAD: grpc_reload(c, body, len); return;
	case API_HEALTH: grpc_health(c, body, len); return;
	case API_CLASSIFY: grpc_classify_regress(c, body, len, true); return;
	case API_REGRESS: grpc_classify_regress(c, body, len, false); return;
	case API_MULTI: grpc_multi(c, body, len); return;
	default:
		break;
	}
	serve_status_set(&st, SERVE_UNIMPLEMENTED, "unknown method %.200s",
			 net_request_path(c->req));
	finish_error(c, &st);
}

static void *worker(void *arg)
{
	struct pool *p = arg;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->head && !p->stop)
			pthread_cond_wait(&p->cond, &p->lock);
		if (!p->head && p->stop)
			break;
		struct rctx *c = p->head;
		p->head = c->next;
		if (!p->head)
			p->tail = NULL;
		p->n--;
		pthread_mutex_unlock(&p->lock);
		handle(c);
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static enum api grpc_api(const char *path)
{
	static const struct {
		const char *path;
		enum api api;
	} m[] = {
		{ "/tensorflow.serving.PredictionService/Predict", API_PREDICT },
		{ "/tensorflow.serving.PredictionService/GetModelMetadata", API_METADATA },
		{ "/tensorflow.serving.PredictionService/Classify", API_CLASSIFY },
		{ "/tensorflow.serving.PredictionService/Regress", API_REGRESS },
		{ "/tensorflow.serving.PredictionService/MultiInference", API_MULTI },
		{ "/tensorflow.serving.ModelService/GetModelStatus", API_STATUS },
		{ "/tensorflow.serving.ModelService/HandleReloadConfigRequest", API_RELOAD },
		{ "/grpc.health.v1.Health/Check", API_HEALTH },
	};
	for (size_t i = 0; i < CC_ARRAY_SIZE(m); i++)
		if (!strcmp(path, m[i].path))
			return m[i].api;
	return API_OTHER;
}

/* I/O thread: classify and queue; never blocks. */
static void on_request(void *ud, struct net_request *req)
{
	struct serve_server *s = ud;
	bool grpc = net_request_is_grpc(req);
	const char *path = net_request_path(req);
	struct rctx *c = calloc(1, sizeof(*c));
	if (!c) {
		net_request_drop(req);
		return;
	}
	c->srv = s;
	c->req = req;
	c->grpc = grpc;
	c->t0 = cc_mono_ns();
	c->api = grpc ? grpc_api(path) : API_OTHER;
	serve_metrics_in_flight(s->o.metrics, 1);
	unsigned alone = atomic_fetch_add(&s->in_flight, 1) == 0;
	if (grpc) {
		c->deadline = net_request_deadline_ns(req);
	} else if (s->o.rest_timeout_ms) {
		c->deadline = c->t0 + s->o.rest_timeout_ms * 1000000u;
	}
	if (!grpc && !strncmp(path, "/tensorflow.serving.", 20)) {
		/* gRPC path without gRPC framing (wrong content-type). */
		struct net_header h[] = { { "Content-Type", "text/plain" } };
		static const char msg[] = "gRPC methods need content-type application/grpc\n";
		struct net_response r = { .status = 415, .headers = h, .n_headers = 1, .body = msg,
					  .body_len = sizeof(msg) - 1 };
		record(c, SERVE_INVALID_ARGUMENT);
		net_response_send(req, &r);
		free(c);
		return;
	}
	if (grpc && c->api == API_OTHER) {
		struct serve_status st;
		serve_status_set(&st, SERVE_UNIMPLEMENTED, "unknown method %.200s", path);
		finish_error(c, &st);
		return;
	}
	if (alone && s->inline_max_ns && !s->batcher) {
		enum api api;
		char name[COST_NAME_MAX];
		if (peek_model(c, &api, name, sizeof(name)) && cost_cheap(s, grpc, api, name)) {
			c->inline_run = true;
			handle(c);
			return;
		}
	}
	struct pool *p = &s->pool;
	pthread_mutex_lock(&p->lock);
	if (p->n >= p->max || p->stop) {
		pthread_mutex_unlock(&p->lock);
		struct serve_status st;
		serve_status_set(&st, SERVE_UNAVAILABLE, "server overloaded: %zu requests queued",
				 p->max);
		finish_error(c, &st);
		return;
	}
	if (p->tail)
		p->tail->next = c;
	else
		p->head = c;
	p->tail = c;
	p->n++;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

/* ------------------------------------------------------------------------ */
/* Batched runs go straight to the engine. */

static int batch_run(void *ud, void *servable, const char *sig, const struct serve_tensor *in,
		     size_t n_in, const char *const *outs, size_t n_outs,
		     struct serve_tensor_list *ret, struct serve_status *st)
{
	(void)ud;
	const struct serve_servable *sv = servable;
	return sv->engine->run(sv->engine->ud, sv->model, sig, in, n_in, outs, n_outs, ret, st);
}

static int make_net(struct serve_server *s, const char *listen, bool disable_h2,
		    struct net_server **ret)
{
	const char *l[1] = { listen };
	struct net_server_opts o = {
		.listen = l, .n_listen = 1, .tls = s->o.tls, .insecure = s->o.insecure,
		.disable_h2 = disable_h2, .io_threads = s->o.io_threads ? s->o.io_threads : 1,
		.handler = on_request, .userdata = s,
	};
	o.limits.max_grpc_message = s->o.max_message_bytes;
	o.limits.max_body = s->o.max_message_bytes < ((size_t)64 << 20) ? s->o.max_message_bytes
									    : ((size_t)64 << 20);
	o.limits.max_concurrent_streams = s->o.max_concurrent_streams;
	return net_server_new(ret, &o);
}

int serve_server_new(struct serve_server **ret, const struct serve_server_opts *opts)
{
	if (!opts || !opts->engine || !opts->manager || (!opts->tls && !opts->insecure) ||
	    (!opts->grpc_listen && !opts->rest_listen))
		return -EINVAL;
	struct serve_server *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->o = *opts;
	if (!s->o.max_message_bytes)
		s->o.max_message_bytes = NET_GRPC_DEFAULT_MAX_MESSAGE;
	serve_limits_default(&s->lim);
	if (s->lim.max_total_bytes > s->o.max_message_bytes)
		s->lim.max_total_bytes = s->o.max_message_bytes;
	if (s->lim.max_tensor_bytes > s->o.max_message_bytes)
		s->lim.max_tensor_bytes = s->o.max_message_bytes;
	if (opts->prometheus_path && !(s->prom_path = strdup(opts->prometheus_path))) {
		free(s);
		return -ENOMEM;
	}
	s->o.prometheus_path = s->prom_path;
	pthread_mutex_init(&s->cost_lock, NULL);
	atomic_init(&s->in_flight, 0);
	if (opts->inline_max_us >= 0)
		s->inline_max_ns = (uint64_t)(opts->inline_max_us ? opts->inline_max_us
								: SERVE_INLINE_MAX_US_DEFAULT) *
				   1000u;
	struct pool *p = &s->pool;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->max = opts->max_queued ? opts->max_queued : 4096;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	size_t nthreads = opts->grpc_threads ? opts->grpc_threads : (size_t)(cores > 0 ? cores : 2);
	nthreads += opts->rest_threads;
	int rc = 0;
	if (opts->batching) {
		rc = serve_batcher_new(&s->batcher, opts->batching, batch_run, s, opts->metrics);
		if (rc < 0)
			goto fail;
	}
	p->threads = calloc(nthreads, sizeof(pthread_t));
	if (!p->threads) {
		rc = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < nthreads; i++) {
		rc = -pthread_create(&p->threads[i], NULL, worker, p);
		if (rc < 0)
			goto fail;
		p->nthreads++;
	}
	if (opts->grpc_listen && (rc = make_net(s, opts->grpc_listen, false, &s->grpc)) < 0)
		goto fail;
	if (opts->rest_listen && (rc = make_net(s, opts->rest_listen, false, &s->rest)) < 0)
		goto fail;
	if (s->grpc && (rc = net_server_start(s->grpc)) < 0)
		goto fail;
	if (s->rest && (rc = net_server_start(s->rest)) < 0)
		goto fail;
	*ret = s;
	return 0;
fail:
	serve_server_free(s);
	return rc;
}

uint16_t serve_server_grpc_port(const struct serve_server *s)
{
	return s->grpc ? net_server_port(s->grpc, 0) : 0;
}

uint16_t serve_server_rest_port(const struct serve_server *s)
{
	return s->rest ? net_server_port(s->rest, 0) : 0;
}

struct shut {
	struct net_server *ns;
	uint32_t grace_ms;
	int rc;
};

static void *shut_thread(void *arg)
{
	struct shut *sh = arg;
	sh->rc = net_server_shutdown(sh->ns, sh->grace_ms);
	return NULL;
}

int serve_server_shutdown(struct serve_server *s, uint32_t grace_ms)
{
	/* Both listeners drain at the same time: the grace period is one
	 * period, not one per port. */
	struct shut rest = { s->rest, grace_ms, 0 };
	pthread_t t;
	bool threaded = s->rest && s->grpc && pthread_create(&t, NULL, shut_thread, &rest) == 0;
	int rc = 0;
	if (s->grpc)
		rc = net_server_shutdown(s->grpc, grace_ms);
	if (threaded) {
		pthread_join(t, NULL);
	} else if (s->rest) {
		shut_thread(&rest);
	}
	return rc ? rc : rest.rc;
}

void serve_server_free(struct serve_server *s)
{
	if (!s)
		return;
	/* Stop the listeners first (cancels what is left), then drain the
	 * workers and the batcher, whose completions answer (no-ops for
	 * cancelled requests), then free the servers. */
	if (s->grpc)
		net_server_shutdown(s->grpc, 0);
	if (s->rest)
		net_server_shutdown(s->rest, 0);
	struct pool *p = &s->pool;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (size_t i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	free(p->threads);
	serve_batcher_free(s->batcher);
	net_server_free(s->grpc);
	net_server_free(s->rest);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&s->cost_lock);
	free(s->prom_path);
	free(s);
}
