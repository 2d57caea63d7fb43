/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test and benchmark peer for the net library: an HTTP/1.1 + HTTP/2 + gRPC
 * echo server.  Prints "PORT <n>" on stdout once listening, then serves until
 * stdin closes (or SIGTERM), then shuts down gracefully.
 *
 *   echo_server [--tls DIR] [--client-verify none|optional|require]
 *               [--threads N] [--async] [--max-body N] [--max-msg N]
 *               [--max-streams N] [--header-timeout-ms N] [--read-timeout-ms N]
 *               [--idle-timeout-ms N] [--grace-ms N]
 *
 * --tls DIR reads DIR/server.crt, DIR/server.key and DIR/ca.crt (test
 * material only; the library itself takes PEM from memory).
 *
 * Routes:
 *   gRPC /test.Echo/Echo     echo the message; metadata "x-status: N" and
 *                            "x-message: text" answer with that status;
 *                            "x-compress: 1" asks for a gzip answer
 *   gRPC /test.Echo/Sleep    answer after "x-sleep-ms" (default 10 s) unless
 *                            cancelled first
 *   HTTP /echo               echo the body
 *   HTTP /hello              "hello\n"
 *   HTTP /slow               "slow\n" after 100 ms, from a worker thread
 *   HTTP /sleep              like /slow but waits "x-sleep-ms"
 *   HTTP /stats              counters as JSON
 *   HTTP /peer               "verified" or "anonymous"
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <poll.h>

#include "ccserve/net.h"
#include "ccserve/util.h"

static atomic_long n_cancel, n_inflight, max_inflight, n_requests;
static bool opt_async;

/* A tiny delayed work queue: one worker thread. */
struct job {
	struct net_request *req;
	uint64_t due_ns;
	int kind; /* 0 echo-grpc, 1 http slow, 2 grpc sleep */
	struct job *next;
};
static pthread_mutex_t q_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cv = PTHREAD_COND_INITIALIZER;
static struct job *q_head;
static bool q_stop;

static void inflight_up(void)
{
	long v = atomic_fetch_add(&n_inflight, 1) + 1;
	long m = atomic_load(&max_inflight);
	while (v > m && !atomic_compare_exchange_weak(&max_inflight, &m, v))
		;
}

static void inflight_down(void)
{
	atomic_fetch_sub(&n_inflight, 1);
}

static uint64_t header_ms(struct net_request *req, const char *name, uint64_t dflt)
{
	const char *v = net_request_header(req, name);
	uint64_t ms;
	if (!v || cc_parse_u64(v, &ms) < 0)
		return dflt;
	return ms;
}

static void grpc_echo_answer(struct net_request *req)
{
	const char *st = net_request_header(req, "x-status");
	size_t len;
	const uint8_t *body = net_request_body(req, &len);
	struct net_grpc_response g = {0};
	if (st) {
		g.status = (int)header_ms(req, "x-status", NET_GRPC_UNKNOWN);
		g.message = net_request_header(req, "x-message");
		/* Metadata cannot carry these bytes: a fixed text exercises the
		 * grpc-message percent-encoding. */
		if (g.message && strcmp(g.message, "special") == 0)
			g.message = "not here: 100% \xc3\xbc\n\x01";
	} else {
		g.status = NET_GRPC_OK;
		g.has_msg = true;
		g.msg = body;
		g.msg_len = len;
		const char *cz = net_request_header(req, "x-compress");
		g.compress = cz && strcmp(cz, "1") == 0;
		struct net_header tr = {"x-echo-len", NULL};
		char lb[32];
		snprintf(lb, sizeof(lb), "%zu", len);
		tr.value = lb;
		g.trailers = &tr;
		g.n_trailers = 1;
		inflight_down();
		net_grpc_send(req, &g);
		return;
	}
	inflight_down();
	net_grpc_send(req, &g);
}

static void queue_job(struct net_request *req, int kind, uint64_t delay_ns)
{
	struct job *j = calloc(1, sizeof(*j));
	if (!j) {
		inflight_down();
		net_request_drop(req);
		return;
	}
	j->req = req;
	j->kind = kind;
	j->due_ns = cc_mono_ns() + delay_ns;
	pthread_mutex_lock(&q_mu);
	j->next = q_head;
	q_head = j;
	pthread_cond_signal(&q_cv);
	pthread_mutex_unlock(&q_mu);
}

static void *worker(void *arg)
{
	pthread_mutex_lock(&q_mu);
	for (;;) {
		uint64_t now = cc_mono_ns();
		struct job **pp = &q_head, *ready = NULL;
		uint64_t next_due = 0;
		while (*pp) {
			struct job *j = *pp;
			bool cancelled = net_request_cancelled(j->req);
			if (j->due_ns <= now || cancelled || q_stop) {
				*pp = j->next;
				j->next = ready;
				ready = j;
			} else {
				if (!next_due || j->due_ns < next_due)
					next_due = j->due_ns;
				pp = &j->next;
			}
		}
		if (ready) {
			pthread_mutex_unlock(&q_mu);
			while (ready) {
				struct job *j = ready;
				ready = j->next;
				if (j->kind == 0) {
					grpc_echo_answer(j->req);
				} else if (j->kind == 1) {
					struct net_response r = {.status = 200, .body = "slow\n", .body_len = 5};
					inflight_down();
					net_response_send(j->req, &r);
				} else {
					struct net_grpc_response g = {.status = NET_GRPC_OK, .has_msg = true,
								      .msg = "slept", .msg_len = 5};
					inflight_down();
					net_grpc_send(j->req, &g);
				}
				free(j);
			}
			pthread_mutex_lock(&q_mu);
			continue;
		}
		if (q_stop && !q_head)
			break;
		if (next_due) {
			/* Wake periodically to notice cancellations. */
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			uint64_t wait = next_due - now;
			if (wait > 20000000u)
				wait = 20000000u;
			uint64_t ns = (uint64_t)ts.tv_nsec + wait;
			ts.tv_sec += (time_t)(ns / 1000000000u);
			ts.tv_nsec = (long)(ns % 1000000000u);
			pthread_cond_timedwait(&q_cv, &q_mu, &ts);
		} else {
			pthread_cond_wait(&q_cv, &q_mu);
		}
	}
	pthread_mutex_unlock(&q_mu);
	return NULL;
}

static void handler(void *ud, struct net_request *req)
{
	atomic_fetch_add(&n_requests, 1);
	inflight_up();
	const char *path = net_request_path(req);
	if (net_request_is_grpc(req)) {
		if (strcmp(path, "/test.Echo/Echo") == 0) {
			if (opt_async)
				queue_job(req, 0, 0);
			else
				grpc_echo_answer(req);
			return;
		}
		if (strcmp(path, "/test.Echo/Sleep") == 0) {
			queue_job(req, 2, header_ms(req, "x-sleep-ms", 10000) * 1000000u);
			return;
		}
		struct net_grpc_response g = {.status = NET_GRPC_UNIMPLEMENTED,
					      .message = "no such method"};
		inflight_down();
		net_grpc_send(req, &g);
		return;
	}
	struct net_response r = {.status = 200};
	char buf[512];
	if (strcmp(path, "/echo") == 0) {
		size_t len;
		const uint8_t *b = net_request_body(req, &len);
		r.body = b;
		r.body_len = len;
	} else if (strcmp(path, "/hello") == 0) {
		r.body = "hello\n";
		r.body_len = 6;
	} else if (strcmp(path, "/slow") == 0) {
		queue_job(req, 1, 100000000u);
		return;
	} else if (strcmp(path, "/sleep") == 0) {
		queue_job(req, 1, header_ms(req, "x-sleep-ms", 10000) * 1000000u);
		return;
	} else if (strcmp(path, "/stats") == 0) {
		int n = snprintf(buf, sizeof(buf),
				 "{\"requests\":%ld,\"cancelled\":%ld,\"inflight\":%ld,\"max_inflight\":%ld}\n",
				 atomic_load(&n_requests), atomic_load(&n_cancel),
				 atomic_load(&n_inflight) - 1, atomic_load(&max_inflight));
		r.body = buf;
		r.body_len = (size_t)n;
	} else if (strcmp(path, "/peer") == 0) {
		r.body = net_request_peer_verified(req) ? "verified\n" : "anonymous\n";
		r.body_len = strlen(r.body);
	} else if (strcmp(path, "/reset-stats") == 0) {
		atomic_store(&max_inflight, 0);
		atomic_store(&n_cancel, 0);
		r.body = "ok\n";
		r.body_len = 3;
	} else {
		r.status = 404;
		r.body = "not found\n";
		r.body_len = 10;
	}
	struct net_header h = {"content-type", "text/plain"};
	r.headers = &h;
	r.n_headers = 1;
	inflight_down();
	net_response_send(req, &r);
}

static void on_cancel(void *ud, struct net_request *req)
{
	atomic_fetch_add(&n_cancel, 1);
	/* Wake the worker so it completes the cancelled request now. */
	pthread_mutex_lock(&q_mu);
	pthread_cond_signal(&q_cv);
	pthread_mutex_unlock(&q_mu);
}

static char *read_file(const char *dir, const char *name, size_t *len)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = calloc(1, 1 << 20);
	size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
	fclose(f);
	*len = n;
	return buf;
}

static uint64_t num_arg(const char *s)
{
	uint64_t v;
	if (cc_parse_u64(s, &v) < 0) {
		fprintf(stderr, "bad number: %s\n", s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	const char *tls_dir = NULL, *verify = "none";
	unsigned threads = 1;
	uint32_t grace = 2000;
	struct net_limits lim = {0};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--async") == 0) {
			opt_async = true;
			continue;
		}
		if (!v) {
			fprintf(stderr, "usage: see the source\n");
			return 2;
		}
		i++;
		if (strcmp(a, "--tls") == 0)
			tls_dir = v;
		else if (strcmp(a, "--client-verify") == 0)
			verify = v;
		else if (strcmp(a, "--threads") == 0)
			threads = (unsigned)num_arg(v);
		else if (strcmp(a, "--max-body") == 0)
			lim.max_body = num_arg(v);
		else if (strcmp(a, "--max-msg") == 0)
			lim.max_grpc_message = num_arg(v);
		else if (strcmp(a, "--max-streams") == 0)
			lim.max_concurrent_streams = (uint32_t)num_arg(v);
		else if (strcmp(a, "--max-header") == 0)
			lim.max_header_bytes = num_arg(v);
		else if (strcmp(a, "--header-timeout-ms") == 0)
			lim.header_timeout_ms = (uint32_t)num_arg(v);
		else if (strcmp(a, "--read-timeout-ms") == 0)
			lim.read_timeout_ms = (uint32_t)num_arg(v);
		else if (strcmp(a, "--idle-timeout-ms") == 0)
			lim.idle_timeout_ms = (uint32_t)num_arg(v);
		else if (strcmp(a, "--grace-ms") == 0)
			grace = (uint32_t)num_arg(v);
		else {
			fprintf(stderr, "unknown option %s\n", a);
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	if (getenv("NET_DEBUG"))
		cc_log_set_level(CC_LOG_DEBUG);

	struct net_tls_opts tls = {0};
	char *cert = NULL, *key = NULL, *ca = NULL;
	if (tls_dir) {
		cert = read_file(tls_dir, "server.crt", &tls.cert_pem_len);
		key = read_file(tls_dir, "server.key", &tls.key_pem_len);
		ca = read_file(tls_dir, "ca.crt", &tls.ca_pem_len);
		if (!cert || !key) {
			fprintf(stderr, "cannot read TLS files in %s\n", tls_dir);
			return 1;
		}
		tls.cert_pem = cert;
		tls.key_pem = key;
		tls.ca_pem = ca;
		if (strcmp(verify, "optional") == 0)
			tls.client_verify = NET_CLIENT_VERIFY_OPTIONAL;
		else if (strcmp(verify, "require") == 0)
			tls.client_verify = NET_CLIENT_VERIFY_REQUIRE;
		else
			tls.ca_pem = NULL;
	}
	const char *listen[] = {"127.0.0.1:0"};
	struct net_server_opts o = {
		.listen = listen,
		.n_listen = 1,
		.tls = tls_dir ? &tls : NULL,
		.insecure = !tls_dir,
		.io_threads = threads,
		.limits = lim,
		.handler = handler,
		.on_cancel = on_cancel,
	};
	struct net_server *srv;
	int r = net_server_new(&srv, &o);
	if (key) {
		cc_wipe(key, tls.key_pem_len);
		free(key);
	}
	free(cert);
	free(ca);
	if (r < 0) {
		fprintf(stderr, "server: %s\n", net_strerror(r));
		return 1;
	}
	pthread_t wt;
	pthread_create(&wt, NULL, worker, NULL);
	if ((r = net_server_start(srv)) < 0) {
		fprintf(stderr, "start: %s\n", net_strerror(r));
		return 1;
	}
	printf("PORT %u\n", net_server_port(srv, 0));
	fflush(stdout);

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	/* Serve until stdin closes or a signal arrives. */
	for (;;) {
		struct pollfd p = {.fd = 0, .events = POLLIN};
		int pr = poll(&p, 1, 100);
		if (pr > 0) {
			char b[64];
			ssize_t n = read(0, b, sizeof(b));
			if (n <= 0)
				break;
		}
		sigset_t pend;
		sigpending(&pend);
		if (sigismember(&pend, SIGTERM) || sigismember(&pend, SIGINT))
			break;
	}
	r = net_server_shutdown(srv, grace);
	fprintf(stderr, "shutdown: %s\n", net_strerror(r));
	pthread_mutex_lock(&q_mu);
	q_stop = true;
	pthread_cond_signal(&q_cv);
	pthread_mutex_unlock(&q_mu);
	pthread_join(wt, NULL);
	net_server_free(srv);
	printf("STATS requests=%ld cancelled=%ld max_inflight=%ld\n", atomic_load(&n_requests),
	       atomic_load(&n_cancel), atomic_load(&max_inflight));
	return 0;
}
