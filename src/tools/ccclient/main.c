/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ccclient: TensorFlow Serving Predict client and benchmark.
 *
 * gRPC: one event loop thread drives every client's connection (like
 * h2load), so the client's own cost stays small next to a server on the same
 * cores.  Each client keeps exactly one call in flight on its own
 * connection.  REST: one thread per client with a blocking HTTP/1.1
 * connection.
 *
 * A run has three phases, each finished by every client before the next
 * begins: connection set-up (one GetModelMetadata call per connection,
 * which also tells the input name and size), warm-up (--warmup calls per
 * client) and the measured phase (--loop calls per client).  Only the last
 * one enters the summary.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ccserve-config.h"
#include "ccserve/net.h"
#include "ccserve/util.h"

#include "image.h"
#include "labels.h"
#include "opts.h"
#include "pb.h"
#include "plot.h"
#include "report.h"
#include "rest.h"
#include "results.h"

#define PREDICT_METHOD "/tensorflow.serving.PredictionService/Predict"
#define METADATA_METHOD "/tensorflow.serving.PredictionService/GetModelMetadata"
#define MAX_PEM (1u << 20)
#define MAX_ERROR_LINES 20
#define MAX_CONSECUTIVE_TRANSPORT_ERRORS 10

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	if (g_stop) {
		/* A second Ctrl-C: leave now. */
		signal(sig, SIG_DFL);
		raise(sig);
	}
	g_stop = 1;
}

enum phase { PH_SETUP, PH_WARMUP, PH_MEASURE };

struct run;

struct client;

/* One call in flight (gRPC keeps --streams of them per connection). */
struct slot {
	struct client *c;
	uint64_t idx;         /* loop_idx of the call */
	uint64_t t_start;
};

struct client {
	struct run *run;
	unsigned task;
	struct net_grpc_client *gc;
	struct net_http_client *hc;
	bool alive;           /* its set-up call reached the server */
	bool gave_up;
	uint64_t next_idx;    /* calls started in the current phase */
	uint64_t target;      /* calls to make in the phase; 0 = until stopped */
	unsigned inflight;    /* gRPC: loop thread only */
	struct slot *slots;
	uint64_t t_start;     /* REST and set-up */
	unsigned transport_errs;
	pthread_t th;
	bool has_thread;
};

struct run {
	const struct cl_opts *o;
	bool tls;
	char url[CL_MAX_HOST + 16];
	uint32_t timeout_ms;
	struct client *clients;

	/* Phase state, guarded by mu. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned active;
	enum phase phase;
	uint64_t phase_t0;
	unsigned error_lines;

	struct cl_results warm, meas;
	double *setup_ms;
	size_t n_setup, setup_failed;
	char setup_err[256];

	/* The request (gRPC message or REST body) every client sends. */
	const uint8_t *req;
	size_t req_len;
	char rest_path[512];

	/* Client 0's metadata answer and the first successful predict answer. */
	uint8_t *meta;
	size_t meta_len;
	int meta_status;     /* gRPC status or HTTP status */
	char meta_msg[256];
	uint8_t *first_resp;
	size_t first_resp_len;
	bool want_resp;

	FILE *qout;          /* per-query lines; NULL with --quiet */
};

/* ------------------------------------------------------------------------ */
/* Shared bookkeeping                                                       */

static void client_finished(struct run *run)
{
	pthread_mutex_lock(&run->mu);
	run->active--;
	if (run->active == 0)
		pthread_cond_broadcast(&run->cv);
	pthread_mutex_unlock(&run->mu);
}

static void wait_phase(struct run *run)
{
	pthread_mutex_lock(&run->mu);
	while (run->active > 0)
		pthread_cond_wait(&run->cv, &run->mu);
	pthread_mutex_unlock(&run->mu);
}

static void error_line(struct run *run, unsigned task, uint64_t idx, const char *what,
		       const char *detail)
{
	pthread_mutex_lock(&run->mu);
	unsigned n = run->error_lines++;
	pthread_mutex_unlock(&run->mu);
	if (n < MAX_ERROR_LINES)
		fprintf(stderr, "ccclient: task %u, loop_idx %" PRIu64 ": %s%s%s\n", task, idx, what,
			detail && *detail ? ": " : "", detail ? detail : "");
	else if (n == MAX_ERROR_LINES)
		fprintf(stderr, "ccclient: further errors are counted but not printed\n");
}

static void keep_copy(uint8_t **dst, size_t *dst_len, const void *src, size_t len)
{
	uint8_t *p = malloc(len ? len : 1);
	if (!p)
		return;
	if (len)
		memcpy(p, src, len);
	*dst = p;
	*dst_len = len;
}

/* Record one finished predict call; returns true when the client should
 * go on. */
static bool record(struct client *c, uint64_t idx, uint64_t t_start, uint64_t now,
		   const char *errkey, const char *detail, bool transport, const void *resp,
		   size_t resp_len)
{
	struct run *run = c->run;
	struct cl_rec rec = {
		.start_ns = t_start - run->phase_t0,
		.latency_ns = now - t_start,
		.task = c->task,
		.ok = errkey == NULL,
	};
	struct cl_results *res = run->phase == PH_MEASURE ? &run->meas : &run->warm;
	cl_results_add(res, &rec, errkey);
	if (!errkey) {
		c->transport_errs = 0;
		if (run->phase == PH_MEASURE && run->qout)
			cl_print_query(run->qout, run->tls, c->task, run->o->batch, idx,
				       (double)rec.latency_ns / 1e6);
		if (run->want_resp && resp) {
			pthread_mutex_lock(&run->mu);
			if (!run->first_resp)
				keep_copy(&run->first_resp, &run->first_resp_len, resp, resp_len);
			pthread_mutex_unlock(&run->mu);
		}
	} else {
		error_line(run, c->task, idx, errkey, detail);
		if (transport && ++c->transport_errs >= MAX_CONSECUTIVE_TRANSPORT_ERRORS &&
		    !c->gave_up) {
			fprintf(stderr, "ccclient: task %u: giving up after %u consecutive connection failures\n",
				c->task, c->transport_errs);
			c->gave_up = true;
		}
	}
	return !c->gave_up;
}

static bool more(const struct client *c)
{
	return !g_stop && !c->gave_up && (c->target == 0 || c->next_idx < c->target);
}

/* ------------------------------------------------------------------------ */
/* gRPC                                                                     */

static void grpc_issue(struct slot *sl, uint64_t now);

static void slot_finished(struct client *c)
{
	if (--c->inflight == 0)
		client_finished(c->run);
}

static void grpc_done(void *userdata, const struct net_grpc_result *res)
{
	struct slot *sl = userdata;
	struct client *c = sl->c;
	uint64_t now = cc_mono_ns();
	char key[CL_ERR_KEY_LEN];
	const char *errkey = NULL;
	bool transport = false;
	if (res->err) {
		snprintf(key, sizeof(key), "%s", net_strerror(res->err));
		errkey = key;
		transport = true;
	} else if (res->status != NET_GRPC_OK) {
		snprintf(key, sizeof(key), "%s", net_grpc_status_name(res->status));
		errkey = key;
	}
	record(c, sl->idx, sl->t_start, now, errkey, res->message, transport, res->msg, res->msg_len);
	if (more(c))
		/* The next call starts now, unless record() printed a line
		 * (that time is not the next call's). */
		grpc_issue(sl, c->run->qout ? cc_mono_ns() : now);
	else
		slot_finished(c);
}

/* On the loop thread; now is the call's start time. */
static void grpc_issue(struct slot *sl, uint64_t now)
{
	struct client *c = sl->c;
	struct run *run = c->run;
	sl->idx = c->next_idx++;
	sl->t_start = now;
	int e = net_grpc_client_call_async(c->gc, PREDICT_METHOD, NULL, 0, run->req, run->req_len,
					   run->timeout_ms, grpc_done, sl);
	if (e < 0) {
		record(c, sl->idx, sl->t_start, cc_mono_ns(), net_strerror(e), NULL, true, NULL, 0);
		slot_finished(c);
	}
}

/* Start a client's calls for the phase; posted to the loop thread so that
 * every client's state is touched by that thread only. */
static void grpc_start_client(void *userdata)
{
	struct client *c = userdata;
	unsigned n = 0;
	for (unsigned s = 0; s < c->run->o->streams; s++)
		if (c->target == 0 || s < c->target)
			n++;
	if (g_stop)
		n = 0;
	c->inflight = n;
	if (n == 0) {
		client_finished(c->run);
		return;
	}
	for (unsigned s = 0; s < n; s++)
		grpc_issue(&c->slots[s], cc_mono_ns());
}

static void grpc_setup_done(void *userdata, const struct net_grpc_result *res)
{
	struct client *c = userdata;
	struct run *run = c->run;
	double ms = (double)(cc_mono_ns() - c->t_start) / 1e6;
	pthread_mutex_lock(&run->mu);
	if (res->err) {
		run->setup_failed++;
		if (!run->setup_err[0])
			snprintf(run->setup_err, sizeof(run->setup_err), "%s", net_strerror(res->err));
	} else {
		/* Any gRPC status means the connection works. */
		c->alive = true;
		run->setup_ms[run->n_setup++] = ms;
		if (c->task == 0) {
			run->meta_status = res->status;
			snprintf(run->meta_msg, sizeof(run->meta_msg), "%s",
				 res->message ? res->message : "");
			if (res->status == NET_GRPC_OK && res->msg)
				keep_copy(&run->meta, &run->meta_len, res->msg, res->msg_len);
		}
	}
	pthread_mutex_unlock(&run->mu);
	client_finished(run);
}

static int grpc_setup(struct run *run, struct net_loop *loop, const struct net_tls_opts *tls,
		      const uint8_t *meta_req, size_t meta_len)
{
	const struct cl_opts *o = run->o;
	char addr[CL_MAX_HOST + 16];
	if (strchr(o->host, ':'))
		snprintf(addr, sizeof(addr), "[%s]:%u", o->host, o->port);
	else
		snprintf(addr, sizeof(addr), "%s:%u", o->host, o->port);
	struct net_grpc_client_opts copts = {
		.address = addr,
		.tls = o->insecure ? NULL : tls,
		.insecure = o->insecure,
		.connect_timeout_ms = run->timeout_ms,
		.max_message = 256u << 20,
	};
	for (unsigned i = 0; i < o->cnum; i++) {
		int e = net_grpc_client_new(&run->clients[i].gc, loop, &copts);
		if (e < 0) {
			fprintf(stderr, "ccclient: cannot set up a gRPC client for %s: %s\n", addr,
				net_strerror(e));
			return e;
		}
	}
	run->phase = PH_SETUP;
	run->active = o->cnum;
	for (unsigned i = 0; i < o->cnum; i++) {
		struct client *c = &run->clients[i];
		c->t_start = cc_mono_ns();
		int e = net_grpc_client_call_async(c->gc, METADATA_METHOD, NULL, 0, meta_req,
						   meta_len, run->timeout_ms, grpc_setup_done, c);
		if (e < 0) {
			pthread_mutex_lock(&run->mu);
			run->setup_failed++;
			snprintf(run->setup_err, sizeof(run->setup_err), "%s", net_strerror(e));
			pthread_mutex_unlock(&run->mu);
			client_finished(run);
		}
	}
	wait_phase(run);
	return 0;
}

static void grpc_phase(struct run *run, struct net_loop *loop, enum phase ph, uint64_t per_client)
{
	const struct cl_opts *o = run->o;
	unsigned n = 0;
	for (unsigned i = 0; i < o->cnum; i++)
		n += run->clients[i].alive && !run->clients[i].gave_up;
	pthread_mutex_lock(&run->mu);
	run->phase = ph;
	run->active = n;
	run->phase_t0 = cc_mono_ns();
	pthread_mutex_unlock(&run->mu);
	if (n == 0)
		return;
	for (unsigned i = 0; i < o->cnum; i++) {
		struct client *c = &run->clients[i];
		if (!c->alive || c->gave_up)
			continue;
		c->next_idx = 0;
		c->target = per_client;
		if (net_loop_post(loop, grpc_start_client, c) < 0) {
			fprintf(stderr, "ccclient: out of memory starting client %u\n", i);
			client_finished(run);
		}
	}
	wait_phase(run);
}

/* Let the loop finish what the last answers queued (a deferred flush per
 * connection) before the clients are freed: a task that posts a second task
 * runs after the whole loop iteration of the first, deferred work included.
 * net_grpc_client_free() does not cancel a flush still queued for the
 * client, so freeing a client with one pending would let the loop touch
 * freed memory. */
struct quiesce {
	struct net_loop *loop;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stage;
};

static void quiesce_second(void *userdata)
{
	struct quiesce *q = userdata;
	pthread_mutex_lock(&q->mu);
	q->stage = 2;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

static void quiesce_first(void *userdata)
{
	struct quiesce *q = userdata;
	if (net_loop_post(q->loop, quiesce_second, q) < 0)
		quiesce_second(q);
}

static void loop_quiesce(struct net_loop *loop)
{
	struct quiesce q = { .loop = loop, .mu = PTHREAD_MUTEX_INITIALIZER,
			     .cv = PTHREAD_COND_INITIALIZER };
	if (net_loop_post(loop, quiesce_first, &q) < 0)
		return;
	pthread_mutex_lock(&q.mu);
	while (q.stage != 2)
		pthread_cond_wait(&q.cv, &q.mu);
	pthread_mutex_unlock(&q.mu);
}

/* ------------------------------------------------------------------------ */
/* REST                                                                     */

static void *rest_setup_thread(void *arg)
{
	struct client *c = arg;
	struct run *run = c->run;
	const struct cl_opts *o = run->o;
	char path[600];
	struct net_http_response resp = {0};
	if (o->version >= 0)
		snprintf(path, sizeof(path), "/v1/models/%s/versions/%" PRId64 "/metadata", o->model,
			 o->version);
	else
		snprintf(path, sizeof(path), "/v1/models/%s/metadata", o->model);
	c->t_start = cc_mono_ns();
	int e = net_http_client_request(c->hc, "GET", path, NULL, 0, NULL, 0, &resp);
	double ms = (double)(cc_mono_ns() - c->t_start) / 1e6;
	pthread_mutex_lock(&run->mu);
	if (e < 0) {
		run->setup_failed++;
		if (!run->setup_err[0])
			snprintf(run->setup_err, sizeof(run->setup_err), "%s", net_strerror(e));
	} else {
		c->alive = true;
		run->setup_ms[run->n_setup++] = ms;
		if (c->task == 0) {
			run->meta_status = resp.status;
			if (resp.status == 200)
				keep_copy(&run->meta, &run->meta_len, resp.body, resp.body_len);
		}
	}
	pthread_mutex_unlock(&run->mu);
	net_http_response_clear(&resp);
	return NULL;
}

static void *rest_phase_thread(void *arg)
{
	struct client *c = arg;
	struct run *run = c->run;
	static const struct net_header hdr[] = { { "Content-Type", "application/json" } };
	while (more(c)) {
		struct net_http_response resp = {0};
		char key[CL_ERR_KEY_LEN], detail[200] = "";
		const char *errkey = NULL;
		bool transport = false;
		uint64_t idx = c->next_idx++;
		c->t_start = cc_mono_ns();
		int e = net_http_client_request(c->hc, "POST", run->rest_path, hdr, 1, run->req,
						run->req_len, &resp);
		uint64_t now = cc_mono_ns();
		if (e < 0) {
			snprintf(key, sizeof(key), "%s", net_strerror(e));
			errkey = key;
			transport = true;
		} else if (resp.status != 200) {
			snprintf(key, sizeof(key), "HTTP %d", resp.status);
			errkey = key;
			snprintf(detail, sizeof(detail), "%.*s",
				 (int)(resp.body_len < 160 ? resp.body_len : 160),
				 resp.body ? (const char *)resp.body : "");
		}
		bool go = record(c, idx, c->t_start, now, errkey, detail, transport, resp.body,
				 resp.body_len);
		net_http_response_clear(&resp);
		if (!go)
			break;
	}
	return NULL;
}

static void rest_run_threads(struct run *run, void *(*fn)(void *), uint64_t per_client)
{
	const struct cl_opts *o = run->o;
	run->phase_t0 = cc_mono_ns();
	for (unsigned i = 0; i < o->cnum; i++) {
		struct client *c = &run->clients[i];
		c->has_thread = false;
		if (!c->alive || c->gave_up)
			continue;
		c->next_idx = 0;
		c->target = per_client;
		if (pthread_create(&c->th, NULL, fn, c) != 0) {
			fprintf(stderr, "ccclient: cannot start client thread %u\n", i);
			continue;
		}
		c->has_thread = true;
	}
	for (unsigned i = 0; i < o->cnum; i++)
		if (run->clients[i].has_thread)
			pthread_join(run->clients[i].th, NULL);
}

static int rest_setup(struct run *run, const struct net_tls_opts *tls)
{
	const struct cl_opts *o = run->o;
	char url[CL_MAX_HOST + 32];
	snprintf(url, sizeof(url), "%s://%s%s%s:%u", o->insecure ? "http" : "https",
		 strchr(o->host, ':') ? "[" : "", o->host, strchr(o->host, ':') ? "]" : "", o->port);
	struct net_http_client_opts hopts = {
		.url = url,
		.tls = o->insecure ? NULL : tls,
		.insecure = o->insecure,
		.connect_timeout_ms = run->timeout_ms,
		.timeout_ms = run->timeout_ms,
		.max_body = 256u << 20,
	};
	for (unsigned i = 0; i < o->cnum; i++) {
		int e = net_http_client_new(&run->clients[i].hc, &hopts);
		if (e < 0) {
			fprintf(stderr, "ccclient: cannot set up an HTTP client for %s: %s\n", url,
				net_strerror(e));
			return e;
		}
	}
	/* Set-up: every client's first request, concurrently. */
	run->phase = PH_SETUP;
	for (unsigned i = 0; i < o->cnum; i++) {
		struct client *c = &run->clients[i];
		c->has_thread = pthread_create(&c->th, NULL, rest_setup_thread, c) == 0;
		if (!c->has_thread)
			run->setup_failed++;
	}
	for (unsigned i = 0; i < o->cnum; i++)
		if (run->clients[i].has_thread)
			pthread_join(run->clients[i].th, NULL);
	if (o->version >= 0)
		snprintf(run->rest_path, sizeof(run->rest_path), "/v1/models/%s/versions/%" PRId64 ":predict",
			 o->model, o->version);
	else
		snprintf(run->rest_path, sizeof(run->rest_path), "/v1/models/%s:predict", o->model);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Input                                                                    */

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* What to send: the input alias and the tensor's shape (dims[0] = batch). */
struct input_plan {
	char name[CL_PB_MAX_NAME]; /* "" = REST row form without a name */
	bool image;                /* NHWC RGB: dims = [batch, h, w, 3] */
	size_t ndims;
	int64_t dims[CL_PB_MAX_DIMS];
};

static void plan_image(struct input_plan *p, uint32_t batch, int64_t h, int64_t w)
{
	p->image = true;
	p->ndims = 4;
	p->dims[0] = batch;
	p->dims[1] = h;
	p->dims[2] = w;
	p->dims[3] = 3;
}

/* Fill the batch: the decoded image repeated, or random pixels in [0, 254]
 * like the reference client (np.random.randint(0, 255)). */
static int build_input(const struct cl_opts *o, const struct input_plan *plan, float **ret,
		       size_t *ret_n)
{
	size_t total = 1;
	for (size_t i = 0; i < plan->ndims; i++)
		if (!cc_mul_ok(total, (size_t)plan->dims[i], &total))
			total = SIZE_MAX;
	if (total > (256u << 20) / sizeof(float)) {
		fprintf(stderr, "ccclient: an input of %zu floats is too large\n", total);
		return CC_E_TOOBIG;
	}
	float *data = malloc(total * sizeof(float));
	if (!data)
		return -ENOMEM;
	size_t per = total / o->batch;
	if (o->img) {
		uint8_t *file = NULL;
		size_t flen = 0;
		int e = cc_file_read(o->img, CL_IMG_MAX_FILE, false, &file, &flen);
		if (e < 0) {
			fprintf(stderr, "ccclient: cannot read --img \"%s\": %s\n", o->img, cc_strerror(e));
			free(data);
			return e;
		}
		struct cl_rgb img;
		char why[200];
		e = cl_image_decode(file, flen, &img, why, sizeof(why));
		free(file);
		if (e < 0) {
			fprintf(stderr, "ccclient: --img \"%s\": %s\n", o->img, why);
			free(data);
			return e;
		}
		struct cl_preproc p = o->pre;
		p.out_h = (uint32_t)plan->dims[1];
		p.out_w = (uint32_t)plan->dims[2];
		e = cl_image_preprocess(&img, &p, data);
		cl_rgb_free(&img);
		if (e < 0) {
			fprintf(stderr, "ccclient: cannot resize --img: %s\n", cc_strerror(e));
			free(data);
			return e;
		}
		for (uint32_t b = 1; b < o->batch; b++)
			memcpy(data + b * per, data, per * sizeof(float));
	} else {
		uint64_t s = o->seed * 0x9E3779B97F4A7C15ULL + 1;
		for (size_t i = 0; i < total; i++)
			data[i] = (float)((xorshift(&s) >> 33) % 255);
		if (plan->image) {
			/* --mean/--std apply to random pixels as to an image. */
			for (size_t i = 0; i < total; i++)
				data[i] = (data[i] - o->pre.mean[i % 3]) / o->pre.std[i % 3];
		}
	}
	*ret = data;
	*ret_n = total;
	return 0;
}

/* Input name and shape: the flags first, then the model's metadata, then
 * the reference's 224x224 RGB image. */
static int resolve_input(struct run *run, struct input_plan *plan)
{
	const struct cl_opts *o = run->o;
	struct cl_sig_input si;
	int e = -ENOENT;
	bool got = false;
	memset(plan, 0, sizeof(*plan));
	if (run->meta) {
		e = o->rest ? cl_rest_parse_metadata((const char *)run->meta, run->meta_len, o->signature, &si)
			    : cl_pb_decode_metadata(run->meta, run->meta_len, o->signature, &si);
		got = e == 0;
	}
	if (o->input) {
		snprintf(plan->name, sizeof(plan->name), "%s", o->input);
	} else if (got) {
		snprintf(plan->name, sizeof(plan->name), "%s", si.alias);
	} else if (!o->rest) {
		if (!run->meta)
			fprintf(stderr, "ccclient: GetModelMetadata for \"%s\" answered %s%s%s; "
				"give the input name with --input\n", o->model,
				net_grpc_status_name(run->meta_status), run->meta_msg[0] ? ": " : "",
				run->meta_msg);
		else if (e == -E2BIG)
			fprintf(stderr, "ccclient: signature \"%s\" has %zu inputs; choose one with --input\n",
				o->signature, si.n_inputs);
		else
			fprintf(stderr, "ccclient: no usable signature \"%s\" in the model's metadata (%s); "
				"give --input\n", o->signature, cc_strerror(e));
		return -ENOENT;
	} /* REST without metadata: the row form needs no input name. */
	if (got && si.dtype != CL_DT_INVALID && si.dtype != CL_DT_FLOAT && !o->input) {
		fprintf(stderr, "ccclient: input \"%s\" has dtype %d; ccclient sends float32 only\n",
			si.alias, si.dtype);
		return -EINVAL;
	}
	bool meta_image = got && si.ndims == 4 && (si.dims[3] == 3 || si.dims[3] == -1);
	if (o->shape_n) {
		plan->ndims = o->shape_n + 1;
		plan->dims[0] = o->batch;
		memcpy(plan->dims + 1, o->shape, o->shape_n * sizeof(int64_t));
	} else if (o->size_set) {
		plan_image(plan, o->batch, o->pre.out_h, o->pre.out_w);
	} else if (meta_image || o->img || !got || si.ndims == 0) {
		int64_t h = 224, w = 224;
		if (meta_image && si.dims[1] > 0 && si.dims[2] > 0 && si.dims[1] <= 8192 &&
		    si.dims[2] <= 8192) {
			h = si.dims[1];
			w = si.dims[2];
		}
		if (got && si.ndims != 0 && !meta_image) {
			fprintf(stderr, "ccclient: input \"%s\" is not an RGB image (rank %zu); use --shape "
				"with random input\n", si.alias, si.ndims);
			return -EINVAL;
		}
		plan_image(plan, o->batch, h, w);
	} else {
		plan->ndims = si.ndims;
		plan->dims[0] = o->batch;
		for (size_t i = 1; i < si.ndims; i++) {
			if (si.dims[i] <= 0 || si.dims[i] > (1 << 24)) {
				fprintf(stderr, "ccclient: input \"%s\" has a dimension of unknown size; "
					"give the shape with --shape\n", si.alias);
				return -EINVAL;
			}
			plan->dims[i] = si.dims[i];
		}
		if (si.ndims == 1)
			plan->dims[0] = o->batch; /* [batch] */
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Top-K                                                                    */

static int top_classes(struct run *run, struct cl_labels *labels, struct cl_report *rep,
		       struct cl_top_item *items, char *outname, size_t outsz)
{
	const struct cl_opts *o = run->o;
	struct cl_predict_resp resp;
	char why[200] = "";
	int e;
	if (!run->first_resp) {
		fprintf(stderr, "ccclient: no successful answer to take the top classes from\n");
		return -ENOENT;
	}
	if (o->rest)
		e = cl_rest_parse_predict((const char *)run->first_resp, run->first_resp_len, &resp,
					  why, sizeof(why));
	else
		e = cl_pb_decode_predict_resp(run->first_resp, run->first_resp_len, &resp);
	if (e < 0) {
		fprintf(stderr, "ccclient: cannot decode the prediction: %s%s%s\n", cc_strerror(e),
			why[0] ? ": " : "", why);
		return e;
	}
	const struct cl_tensor *t = NULL;
	for (size_t i = 0; i < resp.n; i++) {
		if (o->output ? !strcmp(resp.t[i].name, o->output)
			      : (!t || resp.t[i].count > t->count))
			t = &resp.t[i];
	}
	if (!t || t->count == 0) {
		fprintf(stderr, "ccclient: the answer has no output %s%s%s\n", o->output ? "\"" : "",
			o->output ? o->output : "with values", o->output ? "\"" : "");
		cl_predict_resp_free(&resp);
		return -ENOENT;
	}
	/* Scores of the first image: the last dimension. */
	size_t nclasses = t->ndims ? (size_t)(t->dims[t->ndims - 1] > 0 ? t->dims[t->ndims - 1] : 0)
				   : t->count;
	if (nclasses == 0 || nclasses > t->count)
		nclasses = t->count;
	size_t idx[CL_MAX_TOP];
	size_t k = cl_topk(t->vals, nclasses, o->top, idx);
	for (size_t i = 0; i < k; i++) {
		items[i].cls = idx[i];
		items[i].score = t->vals[idx[i]];
		items[i].label = labels->n ? cl_labels_get(labels, nclasses, idx[i]) : NULL;
	}
	snprintf(outname, outsz, "%s", t->name);
	rep->top_output = outname;
	rep->top = items;
	rep->ntop = k;
	rep->top_classes = nclasses;
	cl_predict_resp_free(&resp);
	return 0;
}

/* ------------------------------------------------------------------------ */

static int load_pem(const char *what, const char *path, bool secret, uint8_t **ret, size_t *ret_len)
{
	int e = cc_file_read(path, MAX_PEM, secret, ret, ret_len);
	if (e < 0)
		fprintf(stderr, "ccclient: cannot read %s \"%s\": %s\n", what, path, cc_strerror(e));
	return e;
}

static void log_sink(void *ud, enum cc_log_level level, const char *component, const char *msg)
{
	(void)ud;
	if (level <= CC_LOG_WARN)
		fprintf(stderr, "ccclient: %s: %s\n", component, msg);
}

int main(int argc, char **argv)
{
	struct cl_opts o;
	char err[256];
	int rc = 1, e;
	cl_opts_defaults(&o);
	if (cl_opts_parse(&o, argc, argv, err, sizeof(err)) < 0) {
		fprintf(stderr, "ccclient: %s\n", err);
		return 1;
	}
	if (o.help) {
		cl_opts_usage(stdout);
		return 0;
	}
	if (o.show_version) {
		printf("ccclient %s\n", CCSERVE_VERSION);
		return 0;
	}
	cc_log_set_sink(log_sink, NULL);

	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	uint8_t *crt = NULL, *cert = NULL, *key = NULL;
	size_t crt_len = 0, cert_len = 0, key_len = 0;
	struct net_loop *loop = NULL;
	bool loop_running = false;
	struct run run;
	struct cl_labels labels = {0};
	float *input = NULL;
	struct cc_buf reqbuf, metabuf, out;
	cc_buf_init(&reqbuf, 0, false);
	cc_buf_init(&metabuf, 1u << 16, false);
	cc_buf_init(&out, 0, false);
	memset(&run, 0, sizeof(run));
	pthread_mutex_init(&run.mu, NULL);
	pthread_cond_init(&run.cv, NULL);
	cl_results_init(&run.warm);
	cl_results_init(&run.meas);
	run.o = &o;
	run.tls = !o.insecure;
	run.timeout_ms = (uint32_t)ceil(o.timeout_s * 1000);
	run.qout = o.quiet ? NULL : o.json ? stderr : stdout;
	run.want_resp = o.labels || o.top_set;
	snprintf(run.url, sizeof(run.url), "%s%s%s:%u", strchr(o.host, ':') ? "[" : "", o.host,
		 strchr(o.host, ':') ? "]" : "", o.port);

	if (o.labels && (e = cl_labels_load(o.labels, &labels)) < 0) {
		fprintf(stderr, "ccclient: cannot load --labels \"%s\": %s\n", o.labels, cc_strerror(e));
		goto out;
	}
	if (o.crt && load_pem("--crt", o.crt, false, &crt, &crt_len) < 0)
		goto out;
	if (o.cert && load_pem("--cert", o.cert, false, &cert, &cert_len) < 0)
		goto out;
	if (o.key && load_pem("--key", o.key, true, &key, &key_len) < 0)
		goto out;
	struct net_tls_opts tls = {
		.cert_pem = (const char *)cert, .cert_pem_len = cert_len,
		.key_pem = (const char *)key, .key_pem_len = key_len,
		.ca_pem = (const char *)crt, .ca_pem_len = crt_len,
		.server_name = o.servername,
	};

	run.clients = calloc(o.cnum, sizeof(*run.clients));
	run.setup_ms = calloc(o.cnum, sizeof(double));
	if (!run.clients || !run.setup_ms) {
		fprintf(stderr, "ccclient: out of memory\n");
		goto out;
	}
	for (unsigned i = 0; i < o.cnum; i++) {
		struct client *c = &run.clients[i];
		c->run = &run;
		c->task = i;
		c->slots = calloc(o.streams, sizeof(*c->slots));
		if (!c->slots) {
			fprintf(stderr, "ccclient: out of memory\n");
			goto out;
		}
		for (unsigned k = 0; k < o.streams; k++)
			c->slots[k].c = c;
	}

	/* Phase 1: connections. */
	struct cl_model_spec spec = { .name = o.model, .signature_name = o.signature,
				      .version = o.version };
	if (o.rest) {
		if (rest_setup(&run, &tls) < 0)
			goto out;
	} else {
		if ((e = net_loop_new(&loop)) < 0 || (e = net_loop_start(loop)) < 0) {
			fprintf(stderr, "ccclient: cannot start the event loop: %s\n", net_strerror(e));
			goto out;
		}
		loop_running = true;
		if ((e = cl_pb_encode_metadata_req(&metabuf, &spec)) < 0) {
			fprintf(stderr, "ccclient: cannot encode the metadata request: %s\n", cc_strerror(e));
			goto out;
		}
		if (grpc_setup(&run, loop, &tls, metabuf.data, metabuf.len) < 0)
			goto out;
	}
	/* The key is no longer needed once the TLS contexts hold it. */
	cc_secure_free(key);
	key = NULL;
	if (run.n_setup == 0) {
		fprintf(stderr, "ccclient: cannot connect to %s: %s\n", run.url,
			run.setup_err[0] ? run.setup_err : "no connection came up");
		goto out;
	}
	if (run.setup_failed)
		fprintf(stderr, "ccclient: %zu of %u connections failed (%s); going on with %zu\n",
			run.setup_failed, o.cnum, run.setup_err, run.n_setup);

	/* The request. */
	struct input_plan plan;
	if (resolve_input(&run, &plan) < 0)
		goto out;
	size_t nvals;
	if (build_input(&o, &plan, &input, &nvals) < 0)
		goto out;
	if (o.rest)
		e = cl_rest_predict_body(&reqbuf, o.signature, plan.name[0] ? plan.name : NULL,
					 plan.dims, plan.ndims, input);
	else
		e = cl_pb_encode_predict(&reqbuf, &spec, plan.name, plan.dims, plan.ndims, input);
	if (e < 0) {
		fprintf(stderr, "ccclient: cannot encode the request: %s\n", cc_strerror(e));
		goto out;
	}
	free(input);
	input = NULL;
	run.req = reqbuf.data;
	run.req_len = reqbuf.len;
	if (!o.quiet && !o.json) {
		fprintf(stderr, "ccclient: %s %s, input \"%s\" [", o.rest ? "REST" : "gRPC", run.url,
			plan.name[0] ? plan.name : "instances");
		for (size_t i = 0; i < plan.ndims; i++)
			fprintf(stderr, "%s%" PRId64, i ? "," : "", plan.dims[i]);
		fprintf(stderr, "] float32%s, %zu-byte request\n", o.img ? " from --img" : " random",
			run.req_len);
	}
	if (o.dump_request) {
		/* The exact request body: a gRPC frame (5-byte prefix and the
		 * message) or the REST JSON, e.g. for h2load -d. */
		struct cc_buf frame;
		cc_buf_init(&frame, 0, false);
		uint8_t prefix[NET_GRPC_PREFIX_LEN];
		e = 0;
		if (!o.rest) {
			e = net_grpc_prefix_encode(prefix, false, run.req_len);
			if (e >= 0)
				e = cc_buf_append(&frame, prefix, sizeof(prefix));
		}
		if (e >= 0)
			e = cc_buf_append(&frame, run.req, run.req_len);
		if (e >= 0)
			e = cc_file_write_atomic(o.dump_request, frame.data, frame.len, 0644);
		cc_buf_free(&frame);
		if (e < 0) {
			fprintf(stderr, "ccclient: cannot write --dump-request \"%s\": %s\n",
				o.dump_request, cc_strerror(e));
			goto out;
		}
		rc = 0;
		goto out;
	}

	/* Phases 2 and 3. */
	uint64_t t_end;
	if (o.rest) {
		run.phase = PH_WARMUP;
		if (o.warmup)
			rest_run_threads(&run, rest_phase_thread, o.warmup);
		run.phase = PH_MEASURE;
		rest_run_threads(&run, rest_phase_thread, o.loop);
	} else {
		if (o.warmup)
			grpc_phase(&run, loop, PH_WARMUP, o.warmup);
		grpc_phase(&run, loop, PH_MEASURE, o.loop);
	}
	t_end = cc_mono_ns();
	if (run.qout)
		fflush(run.qout);

	struct cl_report rep = {
		.url = run.url,
		.model = o.model,
		.transport = o.rest ? "rest" : "grpc",
		.tls = run.tls,
		.batch = o.batch,
		.cnum = o.cnum,
		.loop = o.loop,
		.warmup = o.warmup,
		.e2e_s = (double)(t_end - run.phase_t0) / 1e9,
		.interrupted = g_stop != 0,
		.meas = &run.meas,
		.warm = o.warmup ? &run.warm : NULL,
		.setup_ms = run.setup_ms,
		.n_setup = run.n_setup,
		.setup_failed = run.setup_failed,
	};
	struct cl_top_item items[CL_MAX_TOP];
	char outname[CL_PB_MAX_NAME];
	bool top_failed = false;
	if (run.want_resp && top_classes(&run, &labels, &rep, items, outname, sizeof(outname)) < 0)
		top_failed = true;

	if (o.json) {
		if ((e = cl_report_json(&out, &rep)) < 0 ||
		    fwrite(out.data, 1, out.len, stdout) != out.len) {
			fprintf(stderr, "ccclient: cannot write the JSON report\n");
			goto out;
		}
	} else if (cl_report_text(stdout, &rep) < 0) {
		goto out;
	}
	fflush(stdout);

	if (o.plot) {
		struct cl_point *pts = calloc(run.meas.n ? run.meas.n : 1, sizeof(*pts));
		cc_buf_reset(&out);
		if (!pts) {
			fprintf(stderr, "ccclient: out of memory for --plot\n");
			goto out;
		}
		for (size_t i = 0; i < run.meas.n; i++) {
			pts[i].t_s = (double)run.meas.recs[i].start_ns / 1e9;
			pts[i].latency_ms = (double)run.meas.recs[i].latency_ns / 1e6;
			pts[i].ok = run.meas.recs[i].ok;
		}
		char title[512];
		snprintf(title, sizeof(title), "ccclient: %s on %s (%s%s), batch %u, %u client%s",
			 o.model, run.url, o.rest ? "REST" : "gRPC", run.tls ? "+TLS" : "", o.batch,
			 o.cnum, o.cnum == 1 ? "" : "s");
		e = cl_plot_svg(&out, title, pts, run.meas.n);
		free(pts);
		if (e >= 0)
			e = cc_file_write_atomic(o.plot, out.data, out.len, 0644);
		if (e < 0) {
			fprintf(stderr, "ccclient: cannot write --plot \"%s\": %s\n", o.plot, cc_strerror(e));
			goto out;
		}
	}
	rc = (run.meas.failed || top_failed || run.meas.ok == 0) ? 2 : 0;
out:
	if (loop_running)
		loop_quiesce(loop);
	if (run.clients) {
		for (unsigned i = 0; i < o.cnum; i++) {
			net_grpc_client_free(run.clients[i].gc);
			net_http_client_free(run.clients[i].hc);
			free(run.clients[i].slots);
		}
	}
	net_loop_free(loop);
	free(run.clients);
	free(run.setup_ms);
	free(run.meta);
	free(run.first_resp);
	free(input);
	free(crt);
	free(cert);
	cc_secure_free(key);
	cl_labels_free(&labels);
	cc_buf_free(&reqbuf);
	cc_buf_free(&metabuf);
	cc_buf_free(&out);
	cl_results_free(&run.warm);
	cl_results_free(&run.meas);
	pthread_mutex_destroy(&run.mu);
	pthread_cond_destroy(&run.cv);
	return rc;
}
