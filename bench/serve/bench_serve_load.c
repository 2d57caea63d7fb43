/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers of bench_serve.py:
 *   load ADDR CA_PEM MSG_FILE STREAMS SECONDS
 *       unary gRPC Predict calls over one TLS HTTP/2 connection with STREAMS
 *       calls in flight for SECONDS; prints one JSON line: requests/s,
 *       p50/p99 latency (µs), errors.
 *   engine MODEL_DIR INPUT ROWS ITERATIONS [COLS]
 *       the engine's in-process call on MODEL_DIR's serving_default with a
 *       float input named INPUT of shape [ROWS, COLS] (COLS defaults to 1;
 *       [-ROWS, 224, 224, 3] when ROWS is negative: ResNet-50 at batch
 *       -ROWS); prints p50/p99.
 *   --smoke: runs nothing heavy (the Python driver passes tiny values).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccserve/infer.h"
#include "ccserve/net.h"
#include "ccserve/util.h"

struct load {
	struct net_grpc_client *c;
	const uint8_t *msg;
	size_t msg_len;
	uint64_t end_ns;
	uint64_t *lat;
	size_t nlat, cap;
	size_t errors;
	unsigned in_flight;
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

struct call {
	struct load *l;
	uint64_t t0;
};

static void start_call(struct load *l, struct call *c);

static void done(void *ud, const struct net_grpc_result *res)
{
	struct call *c = ud;
	struct load *l = c->l;
	uint64_t now = cc_mono_ns();
	pthread_mutex_lock(&l->lock);
	if (res->err || res->status != 0) {
		if (l->errors++ < 3)
			fprintf(stderr, "call failed: err %d status %d %s\n", res->err, res->status,
				res->message);
	} else if (l->nlat < l->cap) {
		l->lat[l->nlat++] = now - c->t0;
	}
	bool more = now < l->end_ns && l->nlat < l->cap;
	if (!more) {
		l->in_flight--;
		pthread_cond_broadcast(&l->cond);
		pthread_mutex_unlock(&l->lock);
		free(c);
		return;
	}
	pthread_mutex_unlock(&l->lock);
	start_call(l, c);
}

static void start_call(struct load *l, struct call *c)
{
	c->t0 = cc_mono_ns();
	int rc = net_grpc_client_call_async(l->c, "/tensorflow.serving.PredictionService/Predict",
					    NULL, 0, l->msg, l->msg_len, 30000, done, c);
	if (rc < 0) {
		pthread_mutex_lock(&l->lock);
		l->errors++;
		l->in_flight--;
		pthread_cond_broadcast(&l->cond);
		pthread_mutex_unlock(&l->lock);
		free(c);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

static double pct(const uint64_t *v, size_t n, double p)
{
	if (!n)
		return 0;
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);
	return (double)v[i] / 1000.0;
}

static int cmd_load(int argc, char **argv)
{
	if (argc != 7) {
		fprintf(stderr, "usage: load ADDR CA_PEM MSG_FILE STREAMS SECONDS\n");
		return 2;
	}
	uint8_t *ca = NULL, *msg = NULL;
	size_t ca_len = 0, msg_len = 0;
	uint64_t streams, secs;
	if (cc_file_read(argv[3], 1 << 20, false, &ca, &ca_len) < 0 ||
	    cc_file_read(argv[4], 64 << 20, false, &msg, &msg_len) < 0 ||
	    cc_parse_u64(argv[5], &streams) < 0 || cc_parse_u64(argv[6], &secs) < 0 || !streams ||
	    streams > 4096) {
		fprintf(stderr, "load: bad arguments\n");
		return 2;
	}
	struct net_tls_opts tls = { .ca_pem = (char *)ca, .ca_pem_len = ca_len };
	struct net_grpc_client_opts o = { .address = argv[2], .tls = &tls };
	struct load l = { .msg = msg, .msg_len = msg_len, .cap = 4u << 20 };
	l.lat = malloc(l.cap * sizeof(*l.lat));
	pthread_mutex_init(&l.lock, NULL);
	pthread_cond_init(&l.cond, NULL);
	int rc = net_grpc_client_new(&l.c, NULL, &o);
	if (rc < 0 || !l.lat) {
		fprintf(stderr, "load: client: %s\n", net_strerror(rc));
		return 1;
	}
	/* Warm the connection up. */
	struct net_grpc_reply rep = { 0 };
	rc = net_grpc_client_call(l.c, "/tensorflow.serving.PredictionService/Predict", NULL, 0, msg,
				  msg_len, 30000, &rep);
	if (rc < 0 || rep.status != 0) {
		fprintf(stderr, "load: first call failed: %s status %d %s\n", net_strerror(rc),
			rep.status, rep.message ? rep.message : "");
		return 1;
	}
	net_grpc_reply_clear(&rep);
	uint64_t t0 = cc_mono_ns();
	l.end_ns = t0 + secs * 1000000000u;
	pthread_mutex_lock(&l.lock);
	l.in_flight = (unsigned)streams;
	pthread_mutex_unlock(&l.lock);
	for (uint64_t i = 0; i < streams; i++) {
		struct call *c = calloc(1, sizeof(*c));
		c->l = &l;
		start_call(&l, c);
	}
	pthread_mutex_lock(&l.lock);
	while (l.in_flight)
		pthread_cond_wait(&l.cond, &l.lock);
	pthread_mutex_unlock(&l.lock);
	double el = (double)(cc_mono_ns() - t0) / 1e9;
	qsort(l.lat, l.nlat, sizeof(*l.lat), cmp_u64);
	printf("{\"requests\": %zu, \"rps\": %.1f, \"p50_us\": %.1f, \"p99_us\": %.1f, \"errors\": %zu}\n",
	       l.nlat, (double)l.nlat / el, pct(l.lat, l.nlat, 0.50), pct(l.lat, l.nlat, 0.99), l.errors);
	net_grpc_client_free(l.c);
	free(l.lat);
	free(ca);
	free(msg);
	return l.errors ? 1 : 0;
}

static int cmd_engine(int argc, char **argv)
{
	if (argc != 6 && argc != 7) {
		fprintf(stderr, "usage: engine MODEL_DIR INPUT ROWS ITERATIONS [COLS]\n");
		return 2;
	}
	int64_t rows;
	uint64_t iters, cols = 1;
	if (cc_parse_i64(argv[4], &rows) < 0 || cc_parse_u64(argv[5], &iters) < 0 || !iters ||
	    iters > 10000000 || rows == 0 || rows > 1024 || rows < -1024 ||
	    (argc == 7 && (cc_parse_u64(argv[6], &cols) < 0 || !cols || cols > 65536)))
		return 2;
	char err[512];
	struct infer_model *m = NULL;
	int rc = infer_model_load_path(argv[2], NULL, err, sizeof(err), &m);
	if (rc < 0) {
		fprintf(stderr, "engine: %s\n", err);
		return 1;
	}
	struct infer_tensor in = { .name = argv[3], .dtype = INFER_DT_FLOAT };
	if (rows > 0) {
		in.rank = 2;
		in.dims[0] = rows;
		in.dims[1] = (int64_t)cols;
	} else {
		in.rank = 4;
		in.dims[0] = -rows;
		in.dims[1] = 224;
		in.dims[2] = 224;
		in.dims[3] = 3;
	}
	size_t n = 1;
	for (int i = 0; i < in.rank; i++)
		n *= (size_t)in.dims[i];
	in.size = n * 4;
	in.data = calloc(n, 4);
	uint64_t *lat = calloc(iters, sizeof(*lat));
	if (!in.data || !lat)
		return 1;
	for (size_t i = 0; i < n; i++)
		((float *)in.data)[i] = (float)(i % 255) / 255.0f;
	for (uint64_t i = 0; i < iters + 1; i++) {
		struct infer_tensor out = { 0 };
		uint64_t t0 = cc_mono_ns();
		rc = infer_model_run(m, NULL, &in, 1, &out, 1, err, sizeof(err));
		uint64_t t = cc_mono_ns() - t0;
		if (rc < 0) {
			fprintf(stderr, "engine: run: %s\n", err);
			return 1;
		}
		free(out.data);
		if (i)
			lat[i - 1] = t;   /* the first run compiles the plan */
	}
	qsort(lat, iters, sizeof(*lat), cmp_u64);
	printf("{\"p50_us\": %.1f, \"p99_us\": %.1f}\n", pct(lat, iters, 0.5), pct(lat, iters, 0.99));
	free(lat);
	free(in.data);
	infer_model_free(m);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "load"))
		return cmd_load(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "engine"))
		return cmd_engine(argc, argv);
	fprintf(stderr, "usage: bench_serve_load load|engine ...\n");
	return 2;
}
