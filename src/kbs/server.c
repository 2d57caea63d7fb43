/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The broker behind the net library's HTTPS server.  The net handler runs on
 * an I/O thread and must not block, while attestation costs a few ECDSA
 * verifications and the audit trail writes to the store, so requests go
 * through a bounded queue to a pool of worker threads that run the broker
 * and answer with net_response_send().  A full queue answers 503 at once.
 */
#include "kbs-internal.h"

#include <ccserve/net.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct job {
	struct net_request *req;
	struct job *next;
};

struct kbs_server {
	struct net_server *net;
	struct kbs_broker *broker;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job *head, *tail;
	size_t queued, queue_max;
	bool stopping;
	pthread_t *threads;
	unsigned nthreads;
	bool started;
};

static void send_simple(struct net_request *req, int status, const char *body)
{
	struct net_header h[] = {
		{"Content-Type", "application/problem+json"},
		{"Cache-Control", "no-store"},
	};
	struct net_response r = {.status = status, .headers = h, .n_headers = 2,
				 .body = body, .body_len = strlen(body)};
	net_response_send(req, &r);
}

static void free_body(void *body, void *ud)
{
	(void)ud;
	free(body);
}

static void serve_one(struct kbs_server *s, struct net_request *req)
{
	if (net_request_cancelled(req)) {
		net_request_drop(req);
		return;
	}
	size_t len = 0;
	const uint8_t *body = net_request_body(req, &len);
	struct kbs_request kr = {
		.method = net_request_method(req),
		.path = net_request_path(req),
		.cookie = net_request_header(req, "cookie"),
		.body = body,
		.body_len = len,
		.peer = net_request_peer(req),
	};
	struct kbs_response rs;
	kbs_broker_handle(s->broker, &kr, &rs);
	struct net_header h[3] = {
		{"Content-Type", rs.content_type ? rs.content_type : "application/json"},
		{"Cache-Control", "no-store"},
		{"Set-Cookie", rs.set_cookie},
	};
	struct net_response r = {
		.status = rs.status,
		.headers = h,
		.n_headers = rs.set_cookie[0] ? 3 : 2,
		.body = rs.body,
		.body_len = rs.body_len,
		.body_free = rs.body ? free_body : NULL,
	};
	rs.body = NULL; /* owned by net now (also on error) */
	int e = net_response_send(req, &r);
	if (e)
		cc_log(CC_LOG_WARN, KBS_LOG, "response not sent: %s", net_strerror(e));
	kbs_response_clear(&rs);
}

static void *worker(void *ud)
{
	struct kbs_server *s = ud;
	for (;;) {
		pthread_mutex_lock(&s->lock);
		while (!s->head && !s->stopping)
			pthread_cond_wait(&s->cond, &s->lock);
		struct job *j = s->head;
		if (!j) { /* stopping and drained */
			pthread_mutex_unlock(&s->lock);
			return NULL;
		}
		s->head = j->next;
		if (!s->head)
			s->tail = NULL;
		s->queued--;
		pthread_mutex_unlock(&s->lock);
		serve_one(s, j->req);
		free(j);
	}
}

static void on_request(void *ud, struct net_request *req)
{
	struct kbs_server *s = ud;
	struct job *j = malloc(sizeof *j);
	if (!j) {
		send_simple(req, 503, "{\"title\":\"out of memory\",\"status\":503}");
		return;
	}
	j->req = req;
	j->next = NULL;
	pthread_mutex_lock(&s->lock);
	if (s->queued >= s->queue_max || s->stopping) {
		pthread_mutex_unlock(&s->lock);
		free(j);
		send_simple(req, 503, "{\"type\":\"urn:ccserve:kbs:busy\",\"title\":"
				      "\"broker busy\",\"status\":503,\"rule\":\"busy\"}");
		return;
	}
	if (s->tail)
		s->tail->next = j;
	else
		s->head = j;
	s->tail = j;
	s->queued++;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static void stop_workers(struct kbs_server *s)
{
	if (!s->started)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	for (unsigned i = 0; i < s->nthreads; i++)
		pthread_join(s->threads[i], NULL);
	s->started = false;
}

int kbs_server_new(struct kbs_server **ret, const struct kbs_server_opts *o)
{
	if (!ret || !o || !o->listen || !o->cert_path || !o->key_path || !o->broker)
		return -EINVAL;
	uint8_t *cert = NULL, *key = NULL;
	size_t cl = 0, kl = 0;
	int r = cc_file_read(o->cert_path, 1u << 20, false, &cert, &cl);
	if (r) {
		cc_log(CC_LOG_ERROR, KBS_LOG, "certificate %s: %s", o->cert_path, cc_strerror(r));
		return r;
	}
	r = cc_file_read(o->key_path, 1u << 20, true, &key, &kl);
	if (r) {
		cc_log(CC_LOG_ERROR, KBS_LOG, "private key %s: %s", o->key_path, cc_strerror(r));
		free(cert);
		return r;
	}
	struct kbs_server *s = calloc(1, sizeof *s);
	if (!s) {
		free(cert);
		cc_secure_free(key);
		return -ENOMEM;
	}
	s->broker = o->broker;
	s->queue_max = o->queue_max ? o->queue_max : 1024;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	s->nthreads = o->workers ? o->workers : (unsigned)(ncpu > 0 ? ncpu : 2);
	if (s->nthreads > 64)
		s->nthreads = 64;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	struct net_tls_opts tls = {
		.cert_pem = (const char *)cert,
		.cert_pem_len = cl,
		.key_pem = (const char *)key,
		.key_pem_len = kl,
		.tls13_only = true,
	};
	const char *listen[] = {o->listen};
	struct net_server_opts no = {
		.listen = listen,
		.n_listen = 1,
		.tls = &tls,
		.disable_h2 = true,
		.io_threads = o->io_threads ? o->io_threads : 1,
		.limits = {
			.max_header_bytes = 16384,
			.max_headers = 64,
			.max_body = KBS_BODY_MAX,
			.max_connections = o->max_connections ? o->max_connections : 1024,
			.header_timeout_ms = o->header_timeout_ms ? o->header_timeout_ms : 10000,
			.read_timeout_ms = o->read_timeout_ms ? o->read_timeout_ms : 10000,
			.idle_timeout_ms = o->idle_timeout_ms ? o->idle_timeout_ms : 60000,
		},
		.handler = on_request,
		.userdata = s,
	};
	r = net_server_new(&s->net, &no);
	free(cert);
	cc_secure_free(key);
	if (r) {
		cc_log(CC_LOG_ERROR, KBS_LOG, "HTTPS server on %s: %s", o->listen, net_strerror(r));
		kbs_server_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

uint16_t kbs_server_port(const struct kbs_server *s)
{
	return s ? net_server_port(s->net, 0) : 0;
}

int kbs_server_start(struct kbs_server *s)
{
	if (!s || s->started)
		return -EINVAL;
	s->threads = calloc(s->nthreads, sizeof *s->threads);
	if (!s->threads)
		return -ENOMEM;
	for (unsigned i = 0; i < s->nthreads; i++) {
		int e = pthread_create(&s->threads[i], NULL, worker, s);
		if (e) {
			s->nthreads = i;
			s->started = true;
			stop_workers(s);
			return -e;
		}
	}
	s->started = true;
	int r = net_server_start(s->net);
	if (r)
		stop_workers(s);
	return r;
}

int kbs_server_shutdown(struct kbs_server *s, uint32_t grace_ms)
{
	if (!s)
		return -EINVAL;
	/* net waits for in-flight requests (which the workers answer), then
	 * closes; the workers then drain nothing and stop. */
	int r = s->net ? net_server_shutdown(s->net, grace_ms) : 0;
	stop_workers(s);
	return r;
}

void kbs_server_free(struct kbs_server *s)
{
	if (!s)
		return;
	if (s->net)
		net_server_shutdown(s->net, 0);
	stop_workers(s); /* workers drain the queue before they exit */
	struct job *j = s->head;
	while (j) {
		struct job *n = j->next;
		net_request_drop(j->req);
		free(j);
		j = n;
	}
	s->head = s->tail = NULL;
	net_server_free(s->net);
	free(s->threads);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	free(s);
}
