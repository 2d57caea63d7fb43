/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/2 gRPC client on a net_loop: one connection (TLS with ALPN h2, or
 * plaintext prior knowledge), unary calls multiplexed as streams up to the
 * server's SETTINGS_MAX_CONCURRENT_STREAMS, the rest queued.  Calls are
 * created on any thread and handed to the loop as tasks; a call started on
 * the loop's own thread (from a done callback, as a load generator does)
 * joins the queue directly.
 *
 * Per-call cost is kept small: the constant part of a call's header list
 * (:method, :scheme, :path, :authority, content-type, te,
 * grpc-accept-encoding, grpc-encoding, grpc-timeout) is built once per
 * (method, timeout) and shared by every call as an nghttp2 nv array over
 * stable storage; call objects and their buffers are pooled per client; all
 * output produced in one loop iteration leaves in one write (one TLS
 * record sequence per SSL_write); TLS reads use read-ahead, so a burst of
 * answers costs one read() rather than two per record.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>
#include <openssl/err.h>

#include "internal.h"

#define GC_OUT_HIGH (256u * 1024u)
/* Constant headers per call: see const_pairs(). */
#define GC_CONST_HDRS 9
/* Distinct (method, timeout) header blocks cached per client; calls beyond
 * that build their header list per call. */
#define GC_HDR_CACHE 16
/* Pooled call objects per client, and the largest buffers a pooled call
 * keeps (bigger ones are freed when the call ends). */
#define GC_POOL_MAX 256
#define GC_POOL_KEEP_BUF (64u * 1024u)
#define GC_POOL_KEEP_NV 64

enum gc_state {
	GC_IDLE = 0,   /* no connection */
	GC_CONNECTING, /* TCP connect in progress */
	GC_HANDSHAKE,  /* TLS */
	GC_READY,
};

/* The constant header list of calls to one method with one timeout.
 * Immutable once published; lives as long as its client. */
struct hdr_block {
	uint32_t timeout_ms;
	size_t nnv;
	nghttp2_nv nva[GC_CONST_HDRS];
	char timeout[16];
	char method[]; /* NUL-terminated */
};

struct call {
	struct net_grpc_client *c;
	struct call *prev, *next; /* pending or active list; pool link */
	int32_t stream_id;
	struct cc_buf hb;        /* per-call header strings (metadata, uncached) */
	const nghttp2_nv *nva;   /* a cached block's array, or nv_own */
	size_t nnv;
	nghttp2_nv *nv_own;      /* per-call header list when one is needed */
	size_t nv_cap;
	uint8_t *body;           /* prefix + message */
	size_t body_cap;
	size_t body_len, body_off;
	uint64_t deadline_ns;
	net_grpc_done_fn done;
	void *ud;
	int http_status;
	int grpc_status;
	bool have_status;
	unsigned refused; /* REFUSED_STREAM retries */
	bool resp_gzip;
	char *message;
	struct cc_buf data;
	struct net_task task;
};

struct net_grpc_client {
	struct net_loop *loop;
	bool own_loop;
	char host[256];
	uint16_t port;
	char authority[300];
	bool tls;
	SSL_CTX *ctx;
	char *server_name;
	struct net_tls_opts tls_opts;
	uint32_t connect_timeout_ms;
	size_t max_message;
	bool compress;
	uint32_t max_queued;
	atomic_uint n_queued;
	atomic_bool closing;

	enum gc_state st;
	struct net_io io;
	SSL *ssl;
	nghttp2_session *h2;
	uint32_t ev;
	struct cc_buf out;
	size_t out_off;
	uint64_t connect_deadline;
	struct call *pending_head, *pending_tail;
	struct call *active;
	unsigned n_active;
	struct net_timer timer;
	struct net_defer flush_d;
	struct net_task free_task;
	bool in_flush; /* gc_flush is on the stack */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool freed_on_loop;

	/* Header blocks: entries [0, n_hblocks) are published (readers need
	 * no lock); new ones are added under hmu. */
	struct hdr_block *hblocks[GC_HDR_CACHE];
	atomic_uint n_hblocks;
	pthread_mutex_t hmu;
	/* Finished call objects kept for reuse (any thread takes, the loop
	 * thread gives back). */
	pthread_mutex_t pool_mu;
	struct call *pool;
	unsigned n_pool;
};

static nghttp2_session_callbacks *gc_callbacks(void);
static void gc_flush(struct net_grpc_client *c);
static void gc_kick(struct net_grpc_client *c);

static void call_free(struct call *k)
{
	cc_buf_free(&k->hb);
	cc_buf_free(&k->data);
	free(k->nv_own);
	free(k->body);
	free(k->message);
	free(k);
}

/* A call object for c: from the pool, or new.  Per-call fields are zero;
 * pooled buffers keep their storage. */
static struct call *call_get(struct net_grpc_client *c)
{
	pthread_mutex_lock(&c->pool_mu);
	struct call *k = c->pool;
	if (k) {
		c->pool = k->next;
		c->n_pool--;
	}
	pthread_mutex_unlock(&c->pool_mu);
	if (!k) {
		k = calloc(1, sizeof(*k));
		if (!k)
			return NULL;
		cc_buf_init(&k->hb, 0, false);
		cc_buf_init(&k->data, (size_t)c->max_message + NET_GRPC_PREFIX_LEN, false);
	}
	k->c = c;
	k->prev = k->next = NULL;
	return k;
}

/* Give k back to its client's pool (or free it), clearing what it held. */
static void call_put(struct call *k)
{
	struct net_grpc_client *c = k->c;
	free(k->message);
	k->message = NULL;
	if (k->data.cap > GC_POOL_KEEP_BUF) {
		size_t max = k->data.max;
		cc_buf_free(&k->data);
		cc_buf_init(&k->data, max, false);
	}
	cc_buf_reset(&k->data);
	if (k->hb.cap > GC_POOL_KEEP_BUF) {
		cc_buf_free(&k->hb);
		cc_buf_init(&k->hb, 0, false);
	}
	cc_buf_reset(&k->hb);
	if (k->body_cap > GC_POOL_KEEP_BUF) {
		free(k->body);
		k->body = NULL;
		k->body_cap = 0;
	}
	if (k->nv_cap > GC_POOL_KEEP_NV) {
		free(k->nv_own);
		k->nv_own = NULL;
		k->nv_cap = 0;
	}
	k->nva = NULL;
	k->nnv = 0;
	k->stream_id = 0;
	k->body_len = k->body_off = 0;
	k->deadline_ns = 0;
	k->done = NULL;
	k->ud = NULL;
	k->http_status = k->grpc_status = 0;
	k->have_status = k->resp_gzip = false;
	k->refused = 0;
	pthread_mutex_lock(&c->pool_mu);
	if (c->n_pool < GC_POOL_MAX) {
		k->prev = NULL;
		k->next = c->pool;
		c->pool = k;
		c->n_pool++;
		k = NULL;
	}
	pthread_mutex_unlock(&c->pool_mu);
	if (k)
		call_free(k);
}

static void list_remove(struct call **head, struct call **tail, struct call *k)
{
	if (k->prev)
		k->prev->next = k->next;
	else
		*head = k->next;
	if (k->next)
		k->next->prev = k->prev;
	else if (tail)
		*tail = k->prev;
	k->prev = k->next = NULL;
}

static int http_to_grpc(int http)
{
	switch (http) {
	case 400: return NET_GRPC_INTERNAL;
	case 401: return NET_GRPC_UNAUTHENTICATED;
	case 403: return NET_GRPC_PERMISSION_DENIED;
	case 404: return NET_GRPC_UNIMPLEMENTED;
	case 429:
	case 502:
	case 503:
	case 504: return NET_GRPC_UNAVAILABLE;
	default: return NET_GRPC_UNKNOWN;
	}
}

/* Finish a call: decode the answer and run done (loop thread). */
static void call_finish(struct call *k, int err, int status_if_err, const char *why)
{
	struct net_grpc_client *c = k->c;
	struct net_grpc_result res = {0};
	uint8_t *plain = NULL;
	res.http_status = k->http_status;
	res.message = "";
	if (err) {
		res.err = err;
		res.status = status_if_err;
		res.message = why ? why : net_strerror(err);
	} else if (!k->have_status) {
		res.err = k->http_status && k->http_status != 200 ? NET_E_STATUS : NET_E_PROTO;
		res.status = k->http_status && k->http_status != 200 ? http_to_grpc(k->http_status)
								       : NET_GRPC_INTERNAL;
		res.message = "response without grpc-status";
	} else {
		res.status = k->grpc_status;
		res.message = k->message ? k->message : "";
		if (k->data.len) {
			bool comp;
			const uint8_t *m;
			size_t ml, used;
			int r = net_grpc_frame_decode(k->data.data, k->data.len, c->max_message, &comp,
						      &m, &ml, &used);
			if (r != 1 || used != k->data.len) {
				res.err = r == NET_E_TOOBIG ? NET_E_TOOBIG : NET_E_PROTO;
				res.status = r == NET_E_TOOBIG ? NET_GRPC_RESOURCE_EXHAUSTED
							       : NET_GRPC_INTERNAL;
				res.message = "malformed response message framing";
			} else if (comp) {
				size_t pl;
				r = k->resp_gzip ? net_gzip_decompress(m, ml, c->max_message, &plain, &pl)
						 : NET_E_ENCODING;
				if (r < 0) {
					res.err = r;
					res.status = NET_GRPC_INTERNAL;
					res.message = "response message could not be decompressed";
				} else {
					res.msg = plain;
					res.msg_len = pl;
				}
			} else {
				res.msg = m;
				res.msg_len = ml;
			}
		}
	}
	k->done(k->ud, &res);
	free(plain);
	call_put(k);
}

static void fail_all(struct net_grpc_client *c, int err, bool pending_too)
{
	while (c->active) {
		struct call *k = c->active;
		list_remove(&c->active, NULL, k);
		c->n_active--;
		call_finish(k, err, err == NET_E_CANCELLED ? NET_GRPC_CANCELLED : NET_GRPC_UNAVAILABLE,
			    NULL);
	}
	if (!pending_too)
		return;
	while (c->pending_head) {
		struct call *k = c->pending_head;
		list_remove(&c->pending_head, &c->pending_tail, k);
		atomic_fetch_sub(&c->n_queued, 1);
		call_finish(k, err, err == NET_E_CANCELLED ? NET_GRPC_CANCELLED : NET_GRPC_UNAVAILABLE,
			    NULL);
	}
}

static void gc_disconnect(struct net_grpc_client *c)
{
	if (c->st == GC_IDLE)
		return;
	loop_del(c->loop, &c->io);
	if (c->h2) {
		nghttp2_session_del(c->h2);
		c->h2 = NULL;
	}
	if (c->ssl) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->io.fd >= 0)
		close(c->io.fd);
	c->io.fd = -1;
	c->st = GC_IDLE;
	c->out.len = c->out_off = 0;
	c->ev = 0;
}

/* Connection lost or failed: fail what was on it, then maybe reconnect. */
static void gc_broken(struct net_grpc_client *c, int err, bool during_connect)
{
	gc_disconnect(c);
	fail_all(c, err, during_connect);
	if (!during_connect && c->pending_head)
		gc_kick(c);
}

static void gc_set_events(struct net_grpc_client *c, bool want_write)
{
	uint32_t ev = EPOLLIN;
	if (want_write || c->out.len > c->out_off || c->st == GC_CONNECTING)
		ev |= EPOLLOUT;
	if (c->st == GC_CONNECTING)
		ev = EPOLLOUT;
	if (ev != c->ev && loop_mod(c->loop, &c->io, ev) == 0)
		c->ev = ev;
}

static ssize_t data_read_cb(nghttp2_session *s, int32_t stream_id, uint8_t *buf, size_t length,
			    uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	struct call *k = src->ptr;
	/* A call ended locally (deadline) and recycled is no longer this
	 * stream's: never read another call's body (the stream is being
	 * reset anyway). */
	if (nghttp2_session_get_stream_user_data(s, stream_id) != k)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	size_t n = k->body_len - k->body_off;
	if (n > length)
		n = length;
	memcpy(buf, k->body + k->body_off, n);
	k->body_off += n;
	if (k->body_off == k->body_len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

static void start_pending_now(struct net_grpc_client *c)
{
	if (c->st != GC_READY)
		return;
	uint32_t maxs = nghttp2_session_get_remote_settings(c->h2,
							    NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
	while (c->pending_head && c->n_active < maxs) {
		struct call *k = c->pending_head;
		list_remove(&c->pending_head, &c->pending_tail, k);
		atomic_fetch_sub(&c->n_queued, 1);
		nghttp2_data_provider dp = {.source.ptr = k, .read_callback = data_read_cb};
		int32_t id = nghttp2_submit_request(c->h2, NULL, k->nva, k->nnv, &dp, k);
		if (id < 0) {
			call_finish(k, NET_E_HTTP2, NET_GRPC_UNAVAILABLE, nghttp2_strerror(id));
			continue;
		}
		k->stream_id = id;
		k->next = c->active;
		if (c->active)
			c->active->prev = k;
		c->active = k;
		c->n_active++;
	}
}

static void start_pending(struct net_grpc_client *c)
{
	if (c->st == GC_READY)
		loop_defer(c->loop, &c->flush_d);
}

static void gc_ready(struct net_grpc_client *c)
{
	if (c->ssl) {
		const unsigned char *alpn = NULL;
		unsigned alen = 0;
		SSL_get0_alpn_selected(c->ssl, &alpn, &alen);
		if (alen != 2 || memcmp(alpn, "h2", 2) != 0) {
			cc_log(CC_LOG_WARN, NET_LOG, "gRPC server %s did not select HTTP/2 (ALPN)",
			       c->authority);
			gc_broken(c, NET_E_PROTO, true);
			return;
		}
	}
	if (nghttp2_session_client_new(&c->h2, gc_callbacks(), c) != 0) {
		gc_broken(c, -ENOMEM, true);
		return;
	}
	nghttp2_settings_entry iv[] = {
		{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
		{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1u << 20},
	};
	nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, CC_ARRAY_SIZE(iv));
	nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0, 16u << 20);
	c->st = GC_READY;
	start_pending(c);
}

static void gc_handshake(struct net_grpc_client *c)
{
	ERR_clear_error();
	int r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		gc_ready(c);
		return;
	}
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		gc_set_events(c, e == SSL_ERROR_WANT_WRITE);
		return;
	}
	long vr = SSL_get_verify_result(c->ssl);
	int err = NET_E_TLS;
	if (vr != X509_V_OK) {
		cc_log(CC_LOG_WARN, NET_LOG, "TLS to %s: certificate rejected: %s", c->authority,
		       X509_verify_cert_error_string(vr));
		err = NET_E_VERIFY;
	} else {
		cc_log(CC_LOG_WARN, NET_LOG, "TLS handshake with %s failed", c->authority);
	}
	tls_log_errors("gRPC client handshake");
	gc_broken(c, err, true);
}

static void gc_read(struct net_grpc_client *c)
{
	uint8_t buf[16384];
	for (;;) {
		ssize_t n;
		if (c->ssl) {
			size_t got = 0;
			ERR_clear_error();
			int r = SSL_read_ex(c->ssl, buf, sizeof(buf), &got);
			if (r == 1) {
				n = (ssize_t)got;
			} else {
				int e = SSL_get_error(c->ssl, r);
				if (e == SSL_ERROR_WANT_READ)
					return;
				if (e == SSL_ERROR_WANT_WRITE) {
					gc_set_events(c, true);
					return;
				}
				n = 0;
			}
		} else {
			n = recv(c->io.fd, buf, sizeof(buf), 0);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return;
			if (n < 0)
				n = 0;
		}
		if (n == 0) {
			gc_broken(c, NET_E_CLOSED, false);
			return;
		}
		ssize_t rv = nghttp2_session_mem_recv(c->h2, buf, (size_t)n);
		if (rv < 0) {
			cc_log(CC_LOG_DEBUG, NET_LOG, "gRPC client HTTP/2: %s", nghttp2_strerror((int)rv));
			gc_broken(c, NET_E_HTTP2, false);
			return;
		}
		if (c->st != GC_READY)
			return;
		if (tls_read_drained(c->ssl, (size_t)n, sizeof(buf)))
			return;
	}
}

static void gc_flush_now(struct net_grpc_client *c);

static void gc_flush(struct net_grpc_client *c)
{
	bool outer = !c->in_flush;
	c->in_flush = true;
	gc_flush_now(c);
	if (outer)
		c->in_flush = false;
}

static void gc_flush_now(struct net_grpc_client *c)
{
	if (c->st != GC_READY)
		return;
	if (c->pending_head)
		start_pending_now(c);
	for (;;) {
		while (c->out.len - c->out_off < GC_OUT_HIGH) {
			const uint8_t *data;
			ssize_t n = nghttp2_session_mem_send(c->h2, &data);
			if (n < 0) {
				gc_broken(c, NET_E_HTTP2, false);
				return;
			}
			if (n == 0)
				break;
			if (c->out_off == c->out.len)
				c->out.len = c->out_off = 0;
			if (cc_buf_append(&c->out, data, (size_t)n) < 0) {
				gc_broken(c, -ENOMEM, false);
				return;
			}
		}
		size_t pending = c->out.len - c->out_off;
		if (!pending)
			break;
		ssize_t n;
		bool want_write = true;
		if (c->ssl) {
			size_t w = 0;
			ERR_clear_error();
			int r = SSL_write_ex(c->ssl, c->out.data + c->out_off, pending, &w);
			if (r == 1) {
				n = (ssize_t)w;
			} else {
				int e = SSL_get_error(c->ssl, r);
				if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ) {
					gc_broken(c, NET_E_CLOSED, false);
					return;
				}
				want_write = e == SSL_ERROR_WANT_WRITE;
				n = -1;
			}
		} else {
			n = send(c->io.fd, c->out.data + c->out_off, pending, MSG_NOSIGNAL);
			if (n < 0 && errno != EAGAIN && errno != EINTR) {
				gc_broken(c, NET_E_CLOSED, false);
				return;
			}
		}
		if (n <= 0) {
			gc_set_events(c, want_write);
			return;
		}
		c->out_off += (size_t)n;
		if (c->out_off == c->out.len)
			c->out.len = c->out_off = 0;
	}
	if (!nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2)) {
		gc_broken(c, NET_E_CLOSED, false); /* GOAWAY and nothing left */
		return;
	}
	gc_set_events(c, false);
}

static void flush_cb(struct net_defer *d)
{
	struct net_grpc_client *c =
		(struct net_grpc_client *)((char *)d - offsetof(struct net_grpc_client, flush_d));
	gc_flush(c);
}

static void gc_io_cb(struct net_io *io, uint32_t events)
{
	struct net_grpc_client *c =
		(struct net_grpc_client *)((char *)io - offsetof(struct net_grpc_client, io));
	if (c->st == GC_CONNECTING) {
		int err = 0;
		socklen_t el = sizeof(err);
		getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err || (events & EPOLLERR)) {
			cc_log(CC_LOG_WARN, NET_LOG, "connect to %s: %s", c->authority,
			       cc_strerror(err ? -err : -ECONNREFUSED));
			gc_broken(c, err ? -err : -ECONNREFUSED, true);
			return;
		}
		if (c->tls) {
			c->st = GC_HANDSHAKE;
			gc_handshake(c);
		} else {
			gc_ready(c);
		}
		return;
	}
	if (c->st == GC_HANDSHAKE) {
		gc_handshake(c);
		return;
	}
	if (c->st != GC_READY)
		return;
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		gc_read(c);
	if (c->st == GC_READY)
		gc_flush(c);
}

static void gc_timer_cb(struct net_timer *t)
{
	struct net_grpc_client *c =
		(struct net_grpc_client *)((char *)t - offsetof(struct net_grpc_client, timer));
	uint64_t now = cc_mono_ns();
	if ((c->st == GC_CONNECTING || c->st == GC_HANDSHAKE) && now >= c->connect_deadline) {
		cc_log(CC_LOG_WARN, NET_LOG, "connect to %s timed out", c->authority);
		gc_broken(c, NET_E_TIMEOUT, true);
	}
	uint64_t next = 0;
	for (struct call *k = c->active, *nk; k; k = nk) {
		nk = k->next;
		if (k->deadline_ns && k->deadline_ns <= now) {
			list_remove(&c->active, NULL, k);
			c->n_active--;
			nghttp2_session_set_stream_user_data(c->h2, k->stream_id, NULL);
			nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, k->stream_id, NGHTTP2_CANCEL);
			call_finish(k, NET_E_TIMEOUT, NET_GRPC_DEADLINE_EXCEEDED, "deadline exceeded");
		} else if (k->deadline_ns && (!next || k->deadline_ns < next)) {
			next = k->deadline_ns;
		}
	}
	for (struct call *k = c->pending_head, *nk; k; k = nk) {
		nk = k->next;
		if (k->deadline_ns && k->deadline_ns <= now) {
			list_remove(&c->pending_head, &c->pending_tail, k);
			atomic_fetch_sub(&c->n_queued, 1);
			call_finish(k, NET_E_TIMEOUT, NET_GRPC_DEADLINE_EXCEEDED, "deadline exceeded");
		} else if (k->deadline_ns && (!next || k->deadline_ns < next)) {
			next = k->deadline_ns;
		}
	}
	if (c->st == GC_CONNECTING || c->st == GC_HANDSHAKE)
		if (!next || c->connect_deadline < next)
			next = c->connect_deadline;
	if (next)
		loop_timer_set(c->loop, &c->timer, next);
	start_pending(c);
}

static void gc_arm_timer(struct net_grpc_client *c, uint64_t d)
{
	if (!d)
		return;
	if (!c->timer.deadline_ns || d < c->timer.deadline_ns)
		loop_timer_set(c->loop, &c->timer, d);
}

static void gc_kick(struct net_grpc_client *c)
{
	if (c->st == GC_READY) {
		start_pending(c);
		return;
	}
	if (c->st != GC_IDLE || !c->pending_head)
		return;
	int fd;
	int r = addr_connect(c->host, c->port, &fd);
	if (r < 0) {
		fail_all(c, r, true);
		return;
	}
	c->io.fd = fd;
	c->st = GC_CONNECTING;
	c->connect_deadline = cc_mono_ns() + (uint64_t)c->connect_timeout_ms * 1000000u;
	gc_arm_timer(c, c->connect_deadline);
	if (c->tls) {
		c->ssl = SSL_new(c->ctx);
		if (!c->ssl || tls_set_socket(c->ssl, fd) < 0 ||
		    tls_client_ssl(c->ssl, &c->tls_opts, c->host) < 0) {
			gc_broken(c, -ENOMEM, true);
			return;
		}
		SSL_set_connect_state(c->ssl);
		/* Read whole bursts of records per read(), not a header and a
		 * body per record. */
		SSL_set_read_ahead(c->ssl, 1);
	}
	c->ev = EPOLLOUT;
	if ((r = loop_add(c->loop, &c->io, c->ev)) < 0) {
		close(fd);
		c->io.fd = -1;
		if (c->ssl) {
			SSL_free(c->ssl);
			c->ssl = NULL;
		}
		c->st = GC_IDLE;
		fail_all(c, r, true);
	}
}

/* nghttp2 callbacks */

static int cb_on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
			size_t nl, const uint8_t *value, size_t vl, uint8_t flags, void *ud)
{
	if (f->hd.type != NGHTTP2_HEADERS)
		return 0;
	struct call *k = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
	if (!k)
		return 0;
	if (nl == 7 && memcmp(name, ":status", 7) == 0) {
		int st = 0;
		for (size_t i = 0; i < vl && i < 3; i++)
			st = st * 10 + (value[i] - '0');
		k->http_status = st;
	} else if (nl == 11 && memcmp(name, "grpc-status", 11) == 0) {
		int st = 0;
		for (size_t i = 0; i < vl && i < 4; i++) {
			if (value[i] < '0' || value[i] > '9') {
				st = NET_GRPC_UNKNOWN;
				break;
			}
			st = st * 10 + (value[i] - '0');
		}
		k->grpc_status = st;
		k->have_status = true;
	} else if (nl == 12 && memcmp(name, "grpc-message", 12) == 0) {
		free(k->message);
		k->message = NULL;
		net_pct_decode((const char *)value, vl, &k->message, NULL);
	} else if (nl == 13 && memcmp(name, "grpc-encoding", 13) == 0) {
		k->resp_gzip = vl == 4 && memcmp(value, "gzip", 4) == 0;
	}
	return 0;
}

static int cb_on_data(nghttp2_session *s, uint8_t flags, int32_t stream_id, const uint8_t *data,
		      size_t len, void *ud)
{
	struct call *k = nghttp2_session_get_stream_user_data(s, stream_id);
	if (!k)
		return 0;
	if (cc_buf_append(&k->data, data, len) < 0) {
		nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL);
		k->data.len = 0;
		k->have_status = false;
		k->http_status = -1; /* marks "too big" for on_close */
	}
	return 0;
}

static int cb_on_close(nghttp2_session *s, int32_t stream_id, uint32_t error_code, void *ud)
{
	struct net_grpc_client *c = ud;
	struct call *k = nghttp2_session_get_stream_user_data(s, stream_id);
	if (!k)
		return 0;
	nghttp2_session_set_stream_user_data(s, stream_id, NULL);
	list_remove(&c->active, NULL, k);
	c->n_active--;
	if (error_code == NGHTTP2_REFUSED_STREAM && k->http_status == 0 && k->refused < 8) {
		/* Not processed by the server (over its stream limit before its
		 * SETTINGS reached us): safe to send again. */
		k->refused++;
		k->body_off = 0;
		k->data.len = 0;
		k->prev = NULL;
		k->next = c->pending_head;
		if (c->pending_head)
			c->pending_head->prev = k;
		else
			c->pending_tail = k;
		c->pending_head = k;
		atomic_fetch_add(&c->n_queued, 1);
		loop_defer(c->loop, &c->flush_d);
		return 0;
	}
	if (k->http_status == -1) {
		k->http_status = 0;
		call_finish(k, NET_E_TOOBIG, NET_GRPC_RESOURCE_EXHAUSTED,
			    "response message larger than the client's limit");
	} else if (!k->have_status && error_code != NGHTTP2_NO_ERROR) {
		int st = error_code == NGHTTP2_REFUSED_STREAM ? NET_GRPC_UNAVAILABLE
			 : error_code == NGHTTP2_CANCEL      ? NET_GRPC_CANCELLED
			 : error_code == NGHTTP2_ENHANCE_YOUR_CALM ? NET_GRPC_RESOURCE_EXHAUSTED
							      : NET_GRPC_INTERNAL;
		call_finish(k, NET_E_CLOSED, st, "stream reset by the server");
	} else {
		call_finish(k, 0, 0, NULL);
	}
	/* A slot freed: start queued calls once this callback returns. */
	loop_defer(c->loop, &c->flush_d);
	return 0;
}

static nghttp2_session_callbacks *g_cbs;
static pthread_once_t g_cbs_once = PTHREAD_ONCE_INIT;

static void make_cbs(void)
{
	if (nghttp2_session_callbacks_new(&g_cbs) != 0)
		return;
	nghttp2_session_callbacks_set_on_header_callback(g_cbs, cb_on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(g_cbs, cb_on_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(g_cbs, cb_on_close);
}

static nghttp2_session_callbacks *gc_callbacks(void)
{
	pthread_once(&g_cbs_once, make_cbs);
	return g_cbs;
}

/* Public API */

int net_grpc_client_new(struct net_grpc_client **ret, struct net_loop *loop,
			const struct net_grpc_client_opts *o)
{
	if (!ret || !o || !o->address)
		return NET_E_CONFIG;
	if (o->insecure && o->tls)
		return NET_E_CONFIG;
	pthread_once(&g_cbs_once, make_cbs);
	if (!g_cbs)
		return -ENOMEM;
	struct net_grpc_client *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->io.fd = -1;
	c->io.fn = gc_io_cb;
	c->timer.fn = gc_timer_cb;
	c->flush_d.fn = flush_cb;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	pthread_mutex_init(&c->hmu, NULL);
	pthread_mutex_init(&c->pool_mu, NULL);
	cc_buf_init(&c->out, 64u << 20, false);
	int r = addr_split(o->address, c->host, sizeof(c->host), &c->port);
	if (r < 0 || !c->host[0]) {
		r = NET_E_ADDRESS;
		goto fail;
	}
	snprintf(c->authority, sizeof(c->authority), "%s", o->authority ? o->authority : o->address);
	c->tls = !o->insecure;
	c->connect_timeout_ms = o->connect_timeout_ms ? o->connect_timeout_ms : 10000;
	c->max_message = o->max_message ? o->max_message : NET_GRPC_DEFAULT_MAX_MESSAGE;
	if (c->max_message > UINT32_MAX)
		c->max_message = UINT32_MAX;
	c->compress = o->compress;
	c->max_queued = o->max_queued ? o->max_queued : 65536;
	if (c->tls) {
		if ((r = tls_ctx_new(&c->ctx, o->tls, false, true, false)) < 0)
			goto fail;
		if (o->tls && o->tls->server_name) {
			c->server_name = strdup(o->tls->server_name);
			if (!c->server_name) {
				r = -ENOMEM;
				goto fail;
			}
		}
		c->tls_opts.server_name = c->server_name;
	}
	if (loop) {
		c->loop = loop;
	} else {
		if ((r = net_loop_new(&c->loop)) < 0)
			goto fail;
		c->own_loop = true;
		if ((r = net_loop_start(c->loop)) < 0)
			goto fail;
	}
	*ret = c;
	return 0;
fail:
	if (c->own_loop)
		net_loop_free(c->loop);
	SSL_CTX_free(c->ctx);
	free(c->server_name);
	cc_buf_free(&c->out);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->hmu);
	pthread_mutex_destroy(&c->pool_mu);
	free(c);
	return r;
}

/* Queue k and get it going (loop thread). */
static void call_enqueue(struct net_grpc_client *c, struct call *k)
{
	k->prev = c->pending_tail;
	k->next = NULL;
	if (c->pending_tail)
		c->pending_tail->next = k;
	else
		c->pending_head = k;
	c->pending_tail = k;
	gc_arm_timer(c, k->deadline_ns);
	gc_kick(c);
}

static void call_task(struct net_task *t)
{
	struct call *k = (struct call *)((char *)t - offsetof(struct call, task));
	struct net_grpc_client *c = k->c;
	if (atomic_load(&c->closing)) {
		atomic_fetch_sub(&c->n_queued, 1);
		call_finish(k, NET_E_CANCELLED, NET_GRPC_CANCELLED, "client closed");
		return;
	}
	call_enqueue(c, k);
}

static int pairs_add(struct cc_buf *b, const char *name, const char *value, size_t *n)
{
	int r = cc_buf_append(b, name, strlen(name) + 1);
	if (r == 0)
		r = cc_buf_append(b, value, strlen(value) + 1);
	if (r == 0)
		(*n)++;
	return r;
}

struct hdr_pair {
	const char *name, *value;
};

/* The headers every call of (method, timeout) sends, in this order;
 * timeout is the formatted grpc-timeout or NULL. */
static size_t const_pairs(const struct net_grpc_client *c, const char *method,
			  const char *timeout, struct hdr_pair p[GC_CONST_HDRS])
{
	size_t n = 0;
	p[n++] = (struct hdr_pair){":method", "POST"};
	p[n++] = (struct hdr_pair){":scheme", c->tls ? "https" : "http"};
	p[n++] = (struct hdr_pair){":path", method};
	p[n++] = (struct hdr_pair){":authority", c->authority};
	p[n++] = (struct hdr_pair){"content-type", "application/grpc"};
	p[n++] = (struct hdr_pair){"te", "trailers"};
	p[n++] = (struct hdr_pair){"grpc-accept-encoding", "identity,gzip"};
	if (c->compress)
		p[n++] = (struct hdr_pair){"grpc-encoding", "gzip"};
	if (timeout)
		p[n++] = (struct hdr_pair){"grpc-timeout", timeout};
	return n;
}

static nghttp2_nv make_nv(const char *name, const char *value)
{
	return (nghttp2_nv){(uint8_t *)name, (uint8_t *)value, strlen(name), strlen(value),
			    NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE};
}

static struct hdr_block *hdr_block_new(const struct net_grpc_client *c, const char *method,
				       size_t method_len, uint32_t timeout_ms)
{
	size_t sz;
	if (!cc_add_ok(sizeof(struct hdr_block) + 1, method_len, &sz))
		return NULL;
	struct hdr_block *b = calloc(1, sz);
	if (!b)
		return NULL;
	b->timeout_ms = timeout_ms;
	memcpy(b->method, method, method_len + 1);
	if (timeout_ms)
		net_grpc_timeout_format((uint64_t)timeout_ms * 1000000u, b->timeout,
					sizeof(b->timeout));
	/* Names and constant values are literals; method, authority and the
	 * timeout live in the block or the client, as long as the block. */
	struct hdr_pair p[GC_CONST_HDRS];
	b->nnv = const_pairs(c, b->method, timeout_ms ? b->timeout : NULL, p);
	for (size_t i = 0; i < b->nnv; i++)
		b->nva[i] = make_nv(p[i].name, p[i].value);
	return b;
}

static const struct hdr_block *hdr_find(struct net_grpc_client *c, unsigned from, unsigned to,
					const char *method, uint32_t timeout_ms)
{
	for (unsigned i = from; i < to; i++) {
		const struct hdr_block *b = c->hblocks[i];
		if (b->timeout_ms == timeout_ms && strcmp(b->method, method) == 0)
			return b;
	}
	return NULL;
}

/* The shared header block for (method, timeout_ms), built on first use;
 * NULL when the cache is full or memory ran out (the caller then builds
 * the list per call). */
static const struct hdr_block *hdr_lookup(struct net_grpc_client *c, const char *method,
					  uint32_t timeout_ms)
{
	unsigned n = atomic_load_explicit(&c->n_hblocks, memory_order_acquire);
	const struct hdr_block *b = hdr_find(c, 0, n, method, timeout_ms);
	if (b || n == GC_HDR_CACHE)
		return b;
	pthread_mutex_lock(&c->hmu);
	unsigned n2 = atomic_load_explicit(&c->n_hblocks, memory_order_relaxed);
	b = hdr_find(c, n, n2, method, timeout_ms);
	if (!b && n2 < GC_HDR_CACHE) {
		struct hdr_block *nb = hdr_block_new(c, method, strlen(method), timeout_ms);
		if (nb) {
			c->hblocks[n2] = nb;
			atomic_store_explicit(&c->n_hblocks, n2 + 1, memory_order_release);
		}
		b = nb;
	}
	pthread_mutex_unlock(&c->hmu);
	return b;
}

/* Point k's header list at the shared block when there is no metadata,
 * else build it per call: the block's entries (or, without a block, copies
 * of every pair) followed by copies of the metadata. */
static int call_headers(struct net_grpc_client *c, struct call *k, const struct hdr_block *blk,
			const char *method, uint32_t timeout_ms, const struct net_header *md,
			size_t n_md)
{
	if (blk && n_md == 0) {
		k->nva = blk->nva;
		k->nnv = blk->nnv;
		return 0;
	}
	size_t want;
	if (!cc_add_ok(n_md, GC_CONST_HDRS, &want) || want > SIZE_MAX / sizeof(nghttp2_nv))
		return NET_E_TOOBIG;
	if (k->nv_cap < want) {
		nghttp2_nv *nv = realloc(k->nv_own, want * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		k->nv_own = nv;
		k->nv_cap = want;
	}
	size_t n = 0, copied = 0;
	int r = 0;
	cc_buf_reset(&k->hb);
	if (blk) {
		memcpy(k->nv_own, blk->nva, blk->nnv * sizeof(*k->nv_own));
		n = blk->nnv;
	} else {
		char tb[16];
		struct hdr_pair p[GC_CONST_HDRS];
		if (timeout_ms)
			net_grpc_timeout_format((uint64_t)timeout_ms * 1000000u, tb, sizeof(tb));
		size_t np = const_pairs(c, method, timeout_ms ? tb : NULL, p);
		for (size_t i = 0; r == 0 && i < np; i++)
			r = pairs_add(&k->hb, p[i].name, p[i].value, &copied);
	}
	for (size_t i = 0; r == 0 && i < n_md; i++)
		r = pairs_add(&k->hb, md[i].name, md[i].value, &copied);
	if (r < 0)
		return r;
	/* hb no longer moves: point the entries into it. */
	const uint8_t *p = k->hb.data;
	for (size_t i = 0; i < copied; i++) {
		const char *name = (const char *)p;
		const char *value = name + strlen(name) + 1;
		k->nv_own[n++] = make_nv(name, value);
		p = (const uint8_t *)value + strlen(value) + 1;
	}
	k->nva = k->nv_own;
	k->nnv = n;
	return 0;
}

int net_grpc_client_call_async(struct net_grpc_client *c, const char *method,
			       const struct net_header *md, size_t n_md, const void *msg,
			       size_t msg_len, uint32_t timeout_ms, net_grpc_done_fn done,
			       void *userdata)
{
	if (!c || !method || method[0] != '/' || !done || (n_md && !md) || (msg_len && !msg))
		return NET_E_CONFIG;
	if (atomic_load(&c->closing))
		return NET_E_STATE;
	if (msg_len > c->max_message || msg_len > UINT32_MAX)
		return NET_E_TOOBIG;
	for (size_t i = 0; i < n_md; i++) {
		if (!md[i].name || !md[i].value || !md[i].name[0] || md[i].name[0] == ':')
			return NET_E_CONFIG;
		for (const char *p = md[i].name; *p; p++)
			if ((*p >= 'A' && *p <= 'Z') || (unsigned char)*p <= 0x20 ||
			    (unsigned char)*p >= 0x7f)
				return NET_E_CONFIG;
		for (const char *p = md[i].value; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
				return NET_E_CONFIG;
	}
	struct call *k = call_get(c);
	if (!k)
		return -ENOMEM;
	k->done = done;
	k->ud = userdata;
	int r = 0;
	uint8_t *gz = NULL;
	size_t gzlen = 0;
	const void *payload = msg;
	size_t plen = msg_len;
	if (c->compress) {
		if ((r = net_gzip_compress(msg, msg_len, &gz, &gzlen)) < 0)
			goto fail;
		payload = gz;
		plen = gzlen;
	}
	size_t total;
	if (!cc_add_ok(plen, NET_GRPC_PREFIX_LEN, &total)) {
		r = NET_E_TOOBIG;
		goto fail;
	}
	if (k->body_cap < total) {
		uint8_t *nb = malloc(total);
		if (!nb) {
			r = -ENOMEM;
			goto fail;
		}
		free(k->body);
		k->body = nb;
		k->body_cap = total;
	}
	if ((r = net_grpc_prefix_encode(k->body, c->compress, plen)) < 0)
		goto fail;
	if (plen)
		memcpy(k->body + NET_GRPC_PREFIX_LEN, payload, plen);
	k->body_len = total;
	free(gz);
	gz = NULL;
	if ((r = call_headers(c, k, hdr_lookup(c, method, timeout_ms), method, timeout_ms, md,
			      n_md)) < 0)
		goto fail;
	if (timeout_ms)
		k->deadline_ns = cc_mono_ns() + (uint64_t)timeout_ms * 1000000u;
	if (atomic_fetch_add(&c->n_queued, 1) >= c->max_queued) {
		atomic_fetch_sub(&c->n_queued, 1);
		call_put(k);
		return NET_E_STATE;
	}
	k->task.fn = call_task;
	if (net_loop_is_current(c->loop) && c->st != GC_IDLE && !c->in_flush &&
	    !atomic_load(&c->closing)) {
		/* On the loop thread with a connection up or coming: queue it
		 * now; the flush at the end of this iteration sends it with
		 * every other call started in it.  Otherwise the task runs it
		 * later, so done is never called from inside this function
		 * (a failing connect or a closing client), and a call that
		 * fails as it is submitted (inside the flush) cannot start
		 * its successor in the same flush, again and again. */
		call_enqueue(c, k);
	} else {
		loop_post_task(c->loop, &k->task);
	}
	return 0;
fail:
	free(gz);
	call_put(k);
	return r;
}

struct sync_call {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	int err;
	struct net_grpc_reply *out;
};

static void sync_done(void *ud, const struct net_grpc_result *res)
{
	struct sync_call *s = ud;
	struct net_grpc_reply *o = s->out;
	o->status = res->status;
	o->http_status = res->http_status;
	o->message = strdup(res->message ? res->message : "");
	if (res->msg) {
		o->msg = malloc(res->msg_len + 1);
		if (o->msg) {
			memcpy(o->msg, res->msg, res->msg_len);
			o->msg[res->msg_len] = 0;
			o->msg_len = res->msg_len;
		}
	}
	int err = res->err;
	if (!o->message || (res->msg && !o->msg))
		err = -ENOMEM;
	pthread_mutex_lock(&s->mu);
	s->err = err;
	s->done = true;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

int net_grpc_client_call(struct net_grpc_client *c, const char *method,
			 const struct net_header *md, size_t n_md, const void *msg,
			 size_t msg_len, uint32_t timeout_ms, struct net_grpc_reply *ret)
{
	if (!c || !ret)
		return NET_E_CONFIG;
	if (net_loop_is_current(c->loop))
		return NET_E_STATE;
	memset(ret, 0, sizeof(*ret));
	struct sync_call s = {.out = ret};
	pthread_mutex_init(&s.mu, NULL);
	pthread_cond_init(&s.cv, NULL);
	int r = net_grpc_client_call_async(c, method, md, n_md, msg, msg_len, timeout_ms,
					   sync_done, &s);
	if (r == 0) {
		pthread_mutex_lock(&s.mu);
		while (!s.done)
			pthread_cond_wait(&s.cv, &s.mu);
		pthread_mutex_unlock(&s.mu);
		r = s.err;
	}
	pthread_mutex_destroy(&s.mu);
	pthread_cond_destroy(&s.cv);
	return r;
}

void net_grpc_reply_clear(struct net_grpc_reply *r)
{
	if (!r)
		return;
	free(r->message);
	free(r->msg);
	memset(r, 0, sizeof(*r));
}

static void free_task(struct net_task *t)
{
	struct net_grpc_client *c =
		(struct net_grpc_client *)((char *)t - offsetof(struct net_grpc_client, free_task));
	loop_timer_set(c->loop, &c->timer, 0);
	gc_disconnect(c);
	fail_all(c, NET_E_CANCELLED, true);
	/* A flush queued for this iteration would run after c is freed. */
	loop_defer_cancel(c->loop, &c->flush_d);
	pthread_mutex_lock(&c->mu);
	c->freed_on_loop = true;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

void net_grpc_client_free(struct net_grpc_client *c)
{
	if (!c)
		return;
	atomic_store(&c->closing, true);
	c->free_task.fn = free_task;
	if (net_loop_is_current(c->loop)) {
		free_task(&c->free_task);
	} else {
		loop_post_task(c->loop, &c->free_task);
		pthread_mutex_lock(&c->mu);
		while (!c->freed_on_loop)
			pthread_cond_wait(&c->cv, &c->mu);
		pthread_mutex_unlock(&c->mu);
	}
	/* Calls posted before closing was seen ran as tasks above (their
	 * task precedes ours in the queue) and were failed. */
	if (c->own_loop)
		net_loop_free(c->loop);
	SSL_CTX_free(c->ctx);
	free(c->server_name);
	cc_buf_free(&c->out);
	for (unsigned i = 0; i < atomic_load(&c->n_hblocks); i++)
		free(c->hblocks[i]);
	while (c->pool) {
		struct call *k = c->pool;
		c->pool = k->next;
		call_free(k);
	}
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->hmu);
	pthread_mutex_destroy(&c->pool_mu);
	free(c);
}
