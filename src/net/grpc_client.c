/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/2 gRPC client on a net_loop: one connection (TLS with ALPN h2, or
 * plaintext prior knowledge), unary calls multiplexed as streams up to the
 * server's SETTINGS_MAX_CONCURRENT_STREAMS, the rest queued.  Calls are
 * created on any thread and handed to the loop as tasks.
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

enum gc_state {
	GC_IDLE = 0,   /* no connection */
	GC_CONNECTING, /* TCP connect in progress */
	GC_HANDSHAKE,  /* TLS */
	GC_READY,
};

struct call {
	struct net_grpc_client *c;
	struct call *prev, *next; /* pending or active list */
	int32_t stream_id;
	struct cc_buf hb;  /* header pairs */
	nghttp2_nv *nva;
	size_t nnv;
	uint8_t *body;     /* prefix + message */
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
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool freed_on_loop;
};

static nghttp2_session_callbacks *gc_callbacks(void);
static void gc_flush(struct net_grpc_client *c);
static void gc_kick(struct net_grpc_client *c);

static void call_free(struct call *k)
{
	cc_buf_free(&k->hb);
	cc_buf_free(&k->data);
	free(k->nva);
	free(k->body);
	free(k->message);
	free(k);
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
	call_free(k);
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
	}
}

static void gc_flush(struct net_grpc_client *c)
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
	free(c);
	return r;
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

static int pairs_add(struct cc_buf *b, const char *name, const char *value, size_t *n)
{
	int r = cc_buf_append(b, name, strlen(name) + 1);
	if (r == 0)
		r = cc_buf_append(b, value, strlen(value) + 1);
	if (r == 0)
		(*n)++;
	return r;
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
	struct call *k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->c = c;
	k->done = done;
	k->ud = userdata;
	cc_buf_init(&k->hb, 0, false);
	cc_buf_init(&k->data, (size_t)c->max_message + NET_GRPC_PREFIX_LEN, false);
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
	k->body = malloc(total);
	if (!k->body) {
		r = -ENOMEM;
		goto fail;
	}
	if ((r = net_grpc_prefix_encode(k->body, c->compress, plen)) < 0)
		goto fail;
	if (plen)
		memcpy(k->body + NET_GRPC_PREFIX_LEN, payload, plen);
	k->body_len = total;
	size_t n = 0;
	r = pairs_add(&k->hb, ":method", "POST", &n);
	if (r == 0)
		r = pairs_add(&k->hb, ":scheme", c->tls ? "https" : "http", &n);
	if (r == 0)
		r = pairs_add(&k->hb, ":path", method, &n);
	if (r == 0)
		r = pairs_add(&k->hb, ":authority", c->authority, &n);
	if (r == 0)
		r = pairs_add(&k->hb, "content-type", "application/grpc", &n);
	if (r == 0)
		r = pairs_add(&k->hb, "te", "trailers", &n);
	if (r == 0)
		r = pairs_add(&k->hb, "grpc-accept-encoding", "identity,gzip", &n);
	if (r == 0 && c->compress)
		r = pairs_add(&k->hb, "grpc-encoding", "gzip", &n);
	if (r == 0 && timeout_ms) {
		char tb[16];
		net_grpc_timeout_format((uint64_t)timeout_ms * 1000000u, tb, sizeof(tb));
		r = pairs_add(&k->hb, "grpc-timeout", tb, &n);
		k->deadline_ns = cc_mono_ns() + (uint64_t)timeout_ms * 1000000u;
	}
	for (size_t i = 0; r == 0 && i < n_md; i++)
		r = pairs_add(&k->hb, md[i].name, md[i].value, &n);
	if (r < 0)
		goto fail;
	k->nva = calloc(n, sizeof(*k->nva));
	if (!k->nva) {
		r = -ENOMEM;
		goto fail;
	}
	const uint8_t *p = k->hb.data;
	for (size_t i = 0; i < n; i++) {
		size_t nl = strlen((const char *)p);
		const uint8_t *v = p + nl + 1;
		size_t vl = strlen((const char *)v);
		k->nva[i] = (nghttp2_nv){(uint8_t *)p, (uint8_t *)v, nl, vl,
					 NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE};
		p = v + vl + 1;
	}
	k->nnv = n;
	free(gz);
	if (atomic_fetch_add(&c->n_queued, 1) >= c->max_queued) {
		atomic_fetch_sub(&c->n_queued, 1);
		call_free(k);
		return NET_E_STATE;
	}
	k->task.fn = call_task;
	loop_post_task(c->loop, &k->task);
	return 0;
fail:
	free(gz);
	call_free(k);
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
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c);
}
