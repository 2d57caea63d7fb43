/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The server: listeners shared by every I/O thread (EPOLLEXCLUSIVE), one
 * net_loop per I/O thread, TLS connections with ALPN, HTTP/1.1, request
 * objects and the thread-safe hand-off of responses back to the connection's
 * I/O thread.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "server.h"

#define OUT_HIGH_WATER (256u * 1024u)  /* stop generating HTTP/2 output above */
#define H1_PIPELINE_CAP (64u * 1024u)  /* buffered input beyond the head cap */
#define REQ_FREELIST_MAX 256
#define REQ_KEEP_CAP (64u * 1024u)     /* buffers kept by recycled requests */

static const char h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

static void conn_flush(struct conn *c);
static void h1_process(struct conn *c);
static void conn_read(struct conn *c);
static void conn_rearm(struct conn *c);

/* ------------------------------------------------------------------------ */
/* Requests                                                                 */

struct net_request *req_new(struct conn *c, enum net_transport t)
{
	struct worker *w = c->w;
	struct net_request *req = w->free_reqs;
	if (req) {
		w->free_reqs = req->free_next;
		w->n_free_reqs--;
		struct cc_buf hb = req->hbuf, body = req->body;
		struct net_header *hdrs = req->hdrs;
		size_t hcap = req->hdrs_cap;
		memset(req, 0, sizeof(*req));
		req->hbuf = hb;
		req->body = body;
		req->hdrs = hdrs;
		req->hdrs_cap = hcap;
		cc_buf_reset(&req->hbuf);
		cc_buf_reset(&req->body);
	} else {
		req = calloc(1, sizeof(*req));
		if (!req)
			return NULL;
		cc_buf_init(&req->hbuf, 0, false);
		cc_buf_init(&req->body, 0, false);
	}
	/* Pseudo-headers and fields share the header cap (plus a little for
	 * the NULs we add). */
	req->hbuf.max = c->srv->lim.max_header_bytes + 1024;
	req->body.max = c->srv->lim.max_body;
	req->conn = c;
	req->srv = c->srv;
	req->transport = t;
	atomic_init(&req->cancelled, false);
	cc_buf_init(&req->r.hb, 0, false);
	cc_buf_init(&req->r.tb, 0, false);
	/* Link into the connection's list. */
	req->next = c->reqs;
	if (c->reqs)
		c->reqs->prev = req;
	c->reqs = req;
	return req;
}

static void resp_clear(struct resp *r)
{
	cc_buf_free(&r->hb);
	cc_buf_free(&r->tb);
	free(r->nva);
	free(r->tnv);
	free(r->owned);
	if (r->body_free) {
		r->body_free((void *)r->body, r->body_ud);
		r->body_free = NULL;
	}
	r->nva = r->tnv = NULL;
	r->owned = NULL;
}

void req_free(struct net_request *req)
{
	struct conn *c = req->conn;
	if (c) {
		c->buffered -= req->accounted < c->buffered ? req->accounted : c->buffered;
		req->accounted = 0;
		if (req->prev)
			req->prev->next = req->next;
		else if (c->reqs == req)
			c->reqs = req->next;
		if (req->next)
			req->next->prev = req->prev;
	}
	resp_clear(&req->r);
	struct worker *w = c ? c->w : NULL;
	if (w && w->n_free_reqs < REQ_FREELIST_MAX && req->hbuf.cap <= REQ_KEEP_CAP &&
	    req->body.cap <= REQ_KEEP_CAP && req->hdrs_cap <= 256) {
		req->free_next = w->free_reqs;
		w->free_reqs = req;
		w->n_free_reqs++;
		return;
	}
	free(req->hdrs);
	cc_buf_free(&req->hbuf);
	cc_buf_free(&req->body);
	free(req);
}

int req_add_header(struct net_request *req, const char *name, size_t nl,
		   const char *value, size_t vl, bool lower)
{
	size_t need;
	if (!cc_add_ok(nl, vl, &need) || !cc_add_ok(need, 2, &need))
		return CC_E_TOOBIG;
	int r = cc_buf_reserve(&req->hbuf, need);
	if (r < 0)
		return r;
	uint8_t *p = req->hbuf.data + req->hbuf.len;
	for (size_t i = 0; i < nl; i++) {
		char ch = name[i];
		if (lower && ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		p[i] = (uint8_t)ch;
	}
	p[nl] = 0;
	memcpy(p + nl + 1, value, vl);
	p[nl + 1 + vl] = 0;
	req->hbuf.len += need;
	req->hbuf.data[req->hbuf.len] = 0;
	req->n_pairs++;
	if (req->n_pairs > req->srv->lim.max_headers + 8)
		return CC_E_TOOBIG;
	return 0;
}

/* Build the header array and method/path pointers (hbuf no longer grows). */
static int req_index_headers(struct net_request *req)
{
	size_t n = 0;
	const char *p = (const char *)req->hbuf.data;
	const char *end = p + req->hbuf.len;
	if (req->hdrs_cap < req->n_pairs || !req->hdrs) {
		size_t cap = req->n_pairs < 16 ? 16 : req->n_pairs;
		struct net_header *h = realloc(req->hdrs, cap * sizeof(*h));
		if (!h)
			return -ENOMEM;
		req->hdrs = h;
		req->hdrs_cap = cap;
	}
	while (p && p < end) {
		const char *name = p;
		const char *value = name + strlen(name) + 1;
		p = value + strlen(value) + 1;
		if (name[0] == ':') {
			if (strcmp(name, ":method") == 0)
				req->method = value;
			else if (strcmp(name, ":path") == 0)
				req->path = value;
			continue;
		}
		req->hdrs[n].name = name;
		req->hdrs[n].value = value;
		n++;
	}
	req->n_hdrs = n;
	return 0;
}

const char *net_request_method(const struct net_request *req)
{
	return req->method ? req->method : "";
}

const char *net_request_path(const struct net_request *req)
{
	return req->path ? req->path : "";
}

const char *net_request_header(const struct net_request *req, const char *name)
{
	for (size_t i = 0; i < req->n_hdrs; i++)
		if (strcasecmp(req->hdrs[i].name, name) == 0)
			return req->hdrs[i].value;
	return NULL;
}

const struct net_header *net_request_headers(const struct net_request *req, size_t *ret_n)
{
	*ret_n = req->n_hdrs;
	return req->hdrs;
}

const uint8_t *net_request_body(const struct net_request *req, size_t *ret_len)
{
	static const uint8_t empty[1];
	if (ret_len)
		*ret_len = req->body.len;
	return req->body.data ? req->body.data : empty;
}

const char *net_request_peer(const struct net_request *req)
{
	return req->conn->peer;
}

size_t net_request_listener(const struct net_request *req)
{
	return req->conn->listener;
}

enum net_transport net_request_transport(const struct net_request *req)
{
	return req->transport;
}

bool net_request_is_grpc(const struct net_request *req)
{
	return req->is_grpc;
}

bool net_request_is_tls(const struct net_request *req)
{
	return req->conn->ssl != NULL;
}

bool net_request_peer_verified(const struct net_request *req)
{
	return req->conn->peer_verified;
}

uint64_t net_request_deadline_ns(const struct net_request *req)
{
	return req->deadline_ns;
}

bool net_request_cancelled(const struct net_request *req)
{
	return atomic_load(&req->cancelled);
}

void net_request_set_userdata(struct net_request *req, void *userdata)
{
	req->userdata = userdata;
}

void *net_request_get_userdata(const struct net_request *req)
{
	return req->userdata;
}

static void outstanding_dec(struct net_server *srv)
{
	if (atomic_fetch_sub(&srv->outstanding, 1) == 1) {
		pthread_mutex_lock(&srv->mu);
		pthread_cond_broadcast(&srv->cv);
		pthread_mutex_unlock(&srv->mu);
	}
}

static void conn_unref(struct conn *c);

static void h1_submit(struct conn *c, struct net_request *req);

/* On the I/O thread: the application completed req. */
static void req_completed(struct net_request *req)
{
	struct conn *c = req->conn;
	struct net_server *srv = req->srv;
	req->handler_done = true;
	if (req->stream_done || c->dead) {
		req_free(req);
	} else if (req->transport == NET_TRANSPORT_H1) {
		h1_submit(c, req);
	} else {
		h2_submit(c, req);
	}
	outstanding_dec(srv);
	conn_unref(c);
}

static void completion_task(struct net_task *t)
{
	struct net_request *req = (struct net_request *)((char *)t - offsetof(struct net_request, task));
	req_completed(req);
}

static void req_hand_back(struct net_request *req)
{
	struct net_loop *l = req->conn->w->loop;
	if (net_loop_is_current(l)) {
		req_completed(req);
	} else {
		req->task.fn = completion_task;
		loop_post_task(l, &req->task);
	}
}

/* ------------------------------------------------------------------------ */
/* Building responses (on the answering thread)                             */

static bool header_forbidden(const char *name)
{
	static const char *const bad[] = {"content-length", "connection", "transfer-encoding",
					  "keep-alive", "upgrade", "proxy-connection", "te"};
	if (!name || !name[0] || name[0] == ':')
		return true;
	for (size_t i = 0; i < CC_ARRAY_SIZE(bad); i++)
		if (strcasecmp(name, bad[i]) == 0)
			return true;
	return false;
}

static bool header_valid(const struct net_header *h)
{
	if (!h->name || !h->value)
		return false;
	for (const char *p = h->name; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch <= 0x20 || ch >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", ch))
			return false;
	}
	for (const char *p = h->value; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return false;
	}
	return true;
}

static int pairs_add(struct cc_buf *b, const char *name, const char *value, size_t *n)
{
	size_t nl = strlen(name), vl = strlen(value);
	size_t start = b->len;
	int r = cc_buf_append(b, name, nl + 1);
	if (r == 0)
		r = cc_buf_append(b, value, vl + 1);
	if (r < 0)
		return r;
	for (size_t i = start; i < start + nl; i++)
		if (b->data[i] >= 'A' && b->data[i] <= 'Z')
			b->data[i] = (uint8_t)(b->data[i] - 'A' + 'a');
	(*n)++;
	return 0;
}

static int pairs_to_nv(struct cc_buf *b, size_t n, nghttp2_nv **ret)
{
	nghttp2_nv *nv = calloc(n ? n : 1, sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	const uint8_t *p = b->data;
	for (size_t i = 0; i < n; i++) {
		size_t nl = strlen((const char *)p);
		const uint8_t *v = p + nl + 1;
		size_t vl = strlen((const char *)v);
		nv[i] = (nghttp2_nv){(uint8_t *)p, (uint8_t *)v, nl, vl,
				     NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE};
		p = v + vl + 1;
	}
	*ret = nv;
	return 0;
}

static int resp_set_body(struct resp *r, const void *body, size_t len, net_free_fn f, void *ud)
{
	if (f) {
		r->body = body;
		r->body_len = len;
		r->body_free = f;
		r->body_ud = ud;
		return 0;
	}
	if (len) {
		r->owned = malloc(len);
		if (!r->owned)
			return -ENOMEM;
		memcpy(r->owned, body, len);
	}
	r->body = r->owned;
	r->body_len = len;
	return 0;
}

static int prepare_http(struct net_request *req, int status, const struct net_header *hdrs,
			size_t nh, const void *body, size_t blen, net_free_fn f, void *fud)
{
	struct resp *r = &req->r;
	int rc;
	if (status < 101 || status > 599)
		return NET_E_CONFIG;
	if (nh && !hdrs)
		return NET_E_CONFIG;
	for (size_t i = 0; i < nh; i++)
		if (!header_valid(&hdrs[i]) || header_forbidden(hdrs[i].name))
			return NET_E_CONFIG;
	r->status = status;
	snprintf(r->status_str, sizeof(r->status_str), "%d", status);
	/* One allocation for the usual head instead of several doublings. */
	if ((rc = cc_buf_reserve(&r->hb, 256)) < 0)
		return rc;
	bool no_body = status == 204 || status == 304 || status / 100 == 1;
	if (no_body)
		blen = 0;
	if (req->transport == NET_TRANSPORT_H1) {
		rc = cc_buf_printf(&r->hb, "HTTP/1.1 %d %s\r\n", status, h1_reason(status));
		for (size_t i = 0; rc == 0 && i < nh; i++)
			rc = cc_buf_printf(&r->hb, "%s: %s\r\n", hdrs[i].name, hdrs[i].value);
		if (rc == 0 && !no_body)
			rc = cc_buf_printf(&r->hb, "content-length: %zu\r\n", blen);
		/* "connection: close" and the final CRLF are added when sent,
		 * when the I/O thread knows whether the connection stays. */
	} else {
		size_t n = 0;
		rc = pairs_add(&r->hb, ":status", r->status_str, &n);
		for (size_t i = 0; rc == 0 && i < nh; i++)
			rc = pairs_add(&r->hb, hdrs[i].name, hdrs[i].value, &n);
		char cl[24];
		snprintf(cl, sizeof(cl), "%zu", blen);
		if (rc == 0 && !no_body)
			rc = pairs_add(&r->hb, "content-length", cl, &n);
		if (rc == 0)
			rc = pairs_to_nv(&r->hb, n, &r->nva);
		r->nnv = n;
	}
	if (rc < 0)
		return rc;
	if (req->head)
		blen = 0;
	if (f && (req->head || no_body)) {
		f((void *)body, fud);
		f = NULL;
		body = NULL;
	}
	rc = resp_set_body(r, body, blen, f, fud);
	if (rc == 0)
		r->ready = true;
	return rc;
}

static int prepare_grpc(struct net_request *req, const struct net_grpc_response *g)
{
	struct resp *r = &req->r;
	int rc = 0;
	if (g->n_headers && !g->headers)
		return NET_E_CONFIG;
	if (g->n_trailers && !g->trailers)
		return NET_E_CONFIG;
	for (size_t i = 0; i < g->n_headers; i++)
		if (!header_valid(&g->headers[i]) || header_forbidden(g->headers[i].name) ||
		    strncasecmp(g->headers[i].name, "grpc-", 5) == 0 ||
		    strcasecmp(g->headers[i].name, "content-type") == 0)
			return NET_E_CONFIG;
	for (size_t i = 0; i < g->n_trailers; i++)
		if (!header_valid(&g->trailers[i]) || header_forbidden(g->trailers[i].name) ||
		    strncasecmp(g->trailers[i].name, "grpc-", 5) == 0)
			return NET_E_CONFIG;
	if (g->status < 0 || g->status > 16)
		return NET_E_CONFIG;
	r->grpc = true;
	r->status = 200;
	memcpy(r->status_str, "200", 4);
	if ((rc = cc_buf_reserve(&r->hb, 256)) < 0)
		return rc;

	uint8_t *gz = NULL;
	size_t gzlen = 0;
	bool compressed = false;
	if (g->has_msg && g->compress && req->grpc_accept_gzip) {
		rc = net_gzip_compress(g->msg, g->msg_len, &gz, &gzlen);
		if (rc < 0)
			return rc;
		compressed = true;
	}

	size_t n = 0;
	rc = pairs_add(&r->hb, ":status", "200", &n);
	if (rc == 0)
		rc = pairs_add(&r->hb, "content-type", "application/grpc", &n);
	if (rc == 0 && compressed)
		rc = pairs_add(&r->hb, "grpc-encoding", "gzip", &n);
	if (rc == 0 && req->grpc_accept_gzip)
		rc = pairs_add(&r->hb, "grpc-accept-encoding", "identity,gzip", &n);
	for (size_t i = 0; rc == 0 && i < g->n_headers; i++)
		rc = pairs_add(&r->hb, g->headers[i].name, g->headers[i].value, &n);

	/* Status in trailers, or in the headers for trailers-only. */
	struct cc_buf *tb = g->has_msg ? &r->tb : &r->hb;
	size_t tn = 0;
	size_t *np = g->has_msg ? &tn : &n;
	char st[8];
	snprintf(st, sizeof(st), "%d", g->status);
	if (rc == 0)
		rc = pairs_add(tb, "grpc-status", st, np);
	if (rc == 0 && g->message && g->message[0]) {
		char *enc = NULL;
		rc = net_pct_encode(g->message, strnlen(g->message, 1u << 20), &enc);
		if (rc == 0)
			rc = pairs_add(tb, "grpc-message", enc, np);
		free(enc);
	}
	for (size_t i = 0; rc == 0 && i < g->n_trailers; i++)
		rc = pairs_add(tb, g->trailers[i].name, g->trailers[i].value, np);
	if (rc == 0)
		rc = pairs_to_nv(&r->hb, n, &r->nva);
	r->nnv = n;
	if (rc == 0 && g->has_msg) {
		rc = pairs_to_nv(&r->tb, tn, &r->tnv);
		r->ntnv = tn;
	}
	if (rc < 0) {
		free(gz);
		return rc;
	}
	if (!g->has_msg) {
		r->trailers_only = true;
		if (g->msg_free)
			g->msg_free((void *)g->msg, g->msg_userdata);
		r->ready = true;
		return 0;
	}
	size_t mlen = compressed ? gzlen : g->msg_len;
	if ((rc = net_grpc_prefix_encode(r->prefix, compressed, mlen)) < 0) {
		free(gz);
		return rc;
	}
	r->prefix_len = NET_GRPC_PREFIX_LEN;
	if (compressed) {
		r->owned = gz;
		r->body = gz;
		r->body_len = gzlen;
		if (g->msg_free)
			g->msg_free((void *)g->msg, g->msg_userdata);
		rc = 0;
	} else {
		rc = resp_set_body(r, g->msg, g->msg_len, g->msg_free, g->msg_userdata);
	}
	if (rc == 0)
		r->ready = true;
	return rc;
}

static void resp_reset(struct resp *r)
{
	resp_clear(r);
	memset(r, 0, sizeof(*r));
	cc_buf_init(&r->hb, 0, false);
	cc_buf_init(&r->tb, 0, false);
}

/* Fallback when the application's answer could not be built. */
static void prepare_fallback(struct net_request *req)
{
	resp_reset(&req->r);
	int rc;
	if (req->is_grpc) {
		struct net_grpc_response g = {.status = NET_GRPC_INTERNAL,
					      .message = "server failed to build the response"};
		rc = prepare_grpc(req, &g);
	} else {
		rc = prepare_http(req, 500, NULL, 0, NULL, 0, NULL, NULL);
	}
	if (rc < 0) {
		resp_reset(&req->r);
		req->r.drop = true;
		req->r.ready = true;
	}
}

int net_response_send(struct net_request *req, const struct net_response *resp)
{
	if (!req)
		return NET_E_CONFIG;
	int rc;
	if (!resp) {
		rc = NET_E_CONFIG;
	} else if (atomic_load(&req->cancelled)) {
		if (resp->body_free)
			resp->body_free((void *)resp->body, resp->body_userdata);
		rc = 0;
	} else {
		rc = prepare_http(req, resp->status, resp->headers, resp->n_headers, resp->body,
				  resp->body_len, resp->body_free, resp->body_userdata);
		if (rc < 0 && resp->body_free && !req->r.body_free)
			resp->body_free((void *)resp->body, resp->body_userdata);
	}
	if (rc < 0) {
		cc_log(CC_LOG_WARN, NET_LOG, "response to %s \"%s\" not sendable: %s",
		       net_request_method(req), net_request_path(req), net_strerror(rc));
		prepare_fallback(req);
	}
	req_hand_back(req);
	return rc;
}

int net_grpc_send(struct net_request *req, const struct net_grpc_response *resp)
{
	if (!req)
		return NET_E_CONFIG;
	int rc;
	if (!resp) {
		rc = NET_E_CONFIG;
	} else if (!req->is_grpc) {
		rc = NET_E_STATE;
		if (resp->msg_free)
			resp->msg_free((void *)resp->msg, resp->msg_userdata);
	} else if (atomic_load(&req->cancelled)) {
		if (resp->msg_free)
			resp->msg_free((void *)resp->msg, resp->msg_userdata);
		rc = 0;
	} else {
		rc = prepare_grpc(req, resp);
		if (rc < 0 && resp->msg_free && !req->r.body_free && !req->r.trailers_only)
			resp->msg_free((void *)resp->msg, resp->msg_userdata);
	}
	if (rc < 0) {
		cc_log(CC_LOG_WARN, NET_LOG, "gRPC response to \"%s\" not sendable: %s",
		       net_request_path(req), net_strerror(rc));
		prepare_fallback(req);
	}
	req_hand_back(req);
	return rc;
}

void net_request_drop(struct net_request *req)
{
	if (!req)
		return;
	resp_reset(&req->r);
	req->r.drop = true;
	req->r.ready = true;
	req_hand_back(req);
}

/* ------------------------------------------------------------------------ */
/* Dispatch                                                                 */

void req_reject(struct net_request *req, int http_status, int grpc_status, const char *msg)
{
	struct conn *c = req->conn;
	req->rejected = true;
	resp_reset(&req->r);
	int rc;
	if (req->is_grpc) {
		struct net_grpc_response g = {.status = grpc_status, .message = msg};
		rc = prepare_grpc(req, &g);
	} else {
		struct net_header h = {"content-type", "text/plain"};
		rc = prepare_http(req, http_status, &h, 1, msg, strlen(msg), NULL, NULL);
	}
	if (rc < 0) {
		resp_reset(&req->r);
		req->r.drop = true;
		req->r.ready = true;
	}
	req->handler_done = true;
	if (req->transport == NET_TRANSPORT_H1) {
		c->h1_keepalive = false;
		h1_submit(c, req);
	} else {
		h2_submit(c, req);
	}
}

/* Unframe (and decompress) the single gRPC request message. */
static int grpc_unwrap(struct net_request *req, const char **ret_msg)
{
	size_t max = req->srv->lim.max_grpc_message;
	bool compressed;
	const uint8_t *m;
	size_t mlen, used;
	int r = net_grpc_frame_decode(req->body.data, req->body.len, max, &compressed, &m, &mlen,
				      &used);
	if (r == 0 || r == NET_E_PROTO) {
		*ret_msg = "malformed gRPC message framing";
		return NET_GRPC_INTERNAL;
	}
	if (r == NET_E_TOOBIG) {
		*ret_msg = "request message larger than the server's limit";
		return NET_GRPC_RESOURCE_EXHAUSTED;
	}
	if (used != req->body.len) {
		*ret_msg = "more than one request message (streaming is not supported)";
		return NET_GRPC_UNIMPLEMENTED;
	}
	if (compressed) {
		if (!req->grpc_gzip_in) {
			*ret_msg = "compressed message without a supported grpc-encoding";
			return NET_GRPC_UNIMPLEMENTED;
		}
		uint8_t *out;
		size_t olen;
		r = net_gzip_decompress(m, mlen, max, &out, &olen);
		if (r == NET_E_TOOBIG) {
			*ret_msg = "decompressed request message larger than the server's limit";
			return NET_GRPC_RESOURCE_EXHAUSTED;
		}
		if (r < 0) {
			*ret_msg = "request message could not be decompressed";
			return NET_GRPC_INTERNAL;
		}
		cc_buf_free(&req->body);
		req->body.data = out;
		req->body.len = olen;
		req->body.cap = olen + 1;
		req->body.max = max;
		return NET_GRPC_OK;
	}
	memmove(req->body.data, m, mlen);
	req->body.len = mlen;
	req->body.data[mlen] = 0;
	return NET_GRPC_OK;
}

void req_dispatch(struct net_request *req)
{
	struct conn *c = req->conn;
	struct net_server *srv = c->srv;
	if (req_index_headers(req) < 0) {
		req_reject(req, 500, NET_GRPC_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	if (!req->method || !req->path) {
		req_reject(req, 400, NET_GRPC_INTERNAL, "missing method or path");
		return;
	}
	req->head = strcmp(req->method, "HEAD") == 0;
	if (req->body.data == NULL) {
		if (cc_buf_reserve(&req->body, 0) < 0) {
			req_reject(req, 500, NET_GRPC_RESOURCE_EXHAUSTED, "out of memory");
			return;
		}
		req->body.data[0] = 0;
	}
	if (req->is_grpc) {
		if (strcmp(req->method, "POST") != 0) {
			req_reject(req, 405, NET_GRPC_UNIMPLEMENTED, "gRPC needs POST");
			return;
		}
		const char *enc = net_request_header(req, "grpc-encoding");
		req->grpc_gzip_in = enc && strcasecmp(enc, "gzip") == 0;
		if (enc && !req->grpc_gzip_in && strcasecmp(enc, "identity") != 0) {
			req_reject(req, 200, NET_GRPC_UNIMPLEMENTED, "unsupported grpc-encoding");
			return;
		}
		req->grpc_accept_gzip = grpc_accepts(net_request_header(req, "grpc-accept-encoding"),
						     "gzip");
		const char *to = net_request_header(req, "grpc-timeout");
		if (to) {
			uint64_t ns;
			if (net_grpc_timeout_parse(to, &ns) < 0) {
				req_reject(req, 200, NET_GRPC_INTERNAL, "malformed grpc-timeout");
				return;
			}
			uint64_t now = cc_mono_ns();
			req->deadline_ns = ns > UINT64_MAX - now ? UINT64_MAX : now + ns;
		}
		const char *why = NULL;
		int gs = grpc_unwrap(req, &why);
		if (gs != NET_GRPC_OK) {
			req_reject(req, 200, gs, why);
			return;
		}
	}
	req->dispatched = true;
	c->refs++;
	atomic_fetch_add(&srv->outstanding, 1);
	srv->handler(srv->ud, req);
}

/* The request will never be answered on the wire: tell the application. */
void req_cancel(struct net_request *req)
{
	req->stream_done = true;
	if (req->dispatched && !req->handler_done) {
		atomic_store(&req->cancelled, true);
		/* Detach from the connection list: it is freed on completion. */
		struct conn *c = req->conn;
		if (req->prev)
			req->prev->next = req->next;
		else if (c->reqs == req)
			c->reqs = req->next;
		if (req->next)
			req->next->prev = req->prev;
		req->prev = req->next = NULL;
		if (req->srv->on_cancel)
			req->srv->on_cancel(req->srv->ud, req);
		return;
	}
	req_free(req);
}

/* ------------------------------------------------------------------------ */
/* Connections                                                              */

static void conn_free_deferred(struct net_defer *d)
{
	struct conn *c = (struct conn *)((char *)d - offsetof(struct conn, free_d));
	cc_buf_free(&c->in);
	cc_buf_free(&c->out);
	free(c);
}

static void conn_unref(struct conn *c)
{
	if (--c->refs > 0)
		return;
	/* Freed at the end of the loop iteration: events already fetched
	 * for this fd may still name it. */
	c->freed_pending = true;
	c->free_d.fn = conn_free_deferred;
	loop_defer_last(c->w->loop, &c->free_d);
}

void conn_release_requests(struct conn *c)
{
	while (c->reqs) {
		struct net_request *req = c->reqs;
		/* req_cancel unlinks or frees req */
		req_cancel(req);
	}
}

void conn_close(struct conn *c)
{
	if (c->dead)
		return;
	c->dead = true;
	struct worker *w = c->w;
	loop_timer_set(w->loop, &c->timer, 0);
	loop_del(w->loop, &c->io);
	if (c->ssl) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	close(c->io.fd);
	c->io.fd = -1;
	/* Requests: cancel those with the handler, free the rest. */
	conn_release_requests(c);
	if (c->h2) {
		nghttp2_session_del(c->h2);
		c->h2 = NULL;
	}
	if (c->prev)
		c->prev->next = c->next;
	else if (w->conns == c)
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	struct net_server *srv = c->srv;
	if (atomic_fetch_sub(&srv->n_open, 1) == 1) {
		pthread_mutex_lock(&srv->mu);
		pthread_cond_broadcast(&srv->cv);
		pthread_mutex_unlock(&srv->mu);
	}
	conn_unref(c);
}

static void flush_cb(struct net_defer *d)
{
	struct conn *c = (struct conn *)((char *)d - offsetof(struct conn, flush_d));
	conn_flush(c);
}

void conn_schedule_flush(struct conn *c)
{
	if (c->dead || c->freed_pending)
		return;
	c->flush_d.fn = flush_cb;
	loop_defer(c->w->loop, &c->flush_d);
}

static void conn_set_events(struct conn *c)
{
	if (c->dead)
		return;
	/* Paused: no read interest at all (level-triggered RDHUP would spin). */
	uint32_t ev = c->read_paused ? 0 : EPOLLIN | EPOLLRDHUP;
	if (c->out.len > c->out_off || c->want_write)
		ev |= EPOLLOUT;
	if (ev != c->ev) {
		if (loop_mod(c->w->loop, &c->io, ev) == 0)
			c->ev = ev;
	}
}

/* Returns bytes, 0 on EOF, -EAGAIN, or another negative error. */
static ssize_t conn_recv(struct conn *c, void *buf, size_t len)
{
	if (c->ssl) {
		size_t n = 0;
		ERR_clear_error();
		int r = SSL_read_ex(c->ssl, buf, len, &n);
		if (r == 1)
			return (ssize_t)n;
		int e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_WANT_READ)
			return -EAGAIN;
		if (e == SSL_ERROR_WANT_WRITE) {
			c->want_write = true;
			return -EAGAIN;
		}
		if (e == SSL_ERROR_ZERO_RETURN)
			return 0;
		if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
			return 0;
		tls_log_errors("TLS read");
		return NET_E_TLS;
	}
	ssize_t n = recv(c->io.fd, buf, len, 0);
	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return -EAGAIN;
	return -errno;
}

static ssize_t conn_send(struct conn *c, const void *buf, size_t len)
{
	if (c->ssl) {
		size_t n = 0;
		ERR_clear_error();
		int r = SSL_write_ex(c->ssl, buf, len, &n);
		if (r == 1)
			return (ssize_t)n;
		int e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
			return -EAGAIN;
		tls_log_errors("TLS write");
		return NET_E_TLS;
	}
	ssize_t n = send(c->io.fd, buf, len, MSG_NOSIGNAL);
	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return -EAGAIN;
	return -errno;
}

static bool conn_can_close_h2(struct conn *c)
{
	if (!c->h2)
		return true;
	if (!nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2))
		return true;
	/* Draining: GOAWAY sent and every stream we own is finished. */
	return c->goaway && c->h2_open == 0 && !nghttp2_session_want_write(c->h2);
}

static void conn_flush(struct conn *c)
{
	if (c->dead)
		return;
	for (;;) {
		if (c->st == CS_H2 && c->h2) {
			while (c->out.len - c->out_off < OUT_HIGH_WATER) {
				const uint8_t *data;
				ssize_t n = nghttp2_session_mem_send(c->h2, &data);
				if (n < 0) {
					cc_log(CC_LOG_DEBUG, NET_LOG, "%s: HTTP/2 send: %s", c->peer,
					       nghttp2_strerror((int)n));
					conn_close(c);
					return;
				}
				if (n == 0)
					break;
				if (c->out_off == c->out.len) {
					c->out.len = 0;
					c->out_off = 0;
				}
				if (cc_buf_append(&c->out, data, (size_t)n) < 0) {
					conn_close(c);
					return;
				}
			}
			if (c->dead)
				return;
		}
		size_t pending = c->out.len - c->out_off;
		if (pending == 0)
			break;
		ssize_t n = conn_send(c, c->out.data + c->out_off, pending);
		if (n == -EAGAIN) {
			if (!c->write_stall_ns)
				c->write_stall_ns = cc_mono_ns();
			break;
		}
		if (n <= 0) {
			conn_close(c);
			return;
		}
		c->write_stall_ns = 0;
		c->out_off += (size_t)n;
		if (c->out_off == c->out.len) {
			c->out.len = 0;
			c->out_off = 0;
			if (c->out.cap > 1024 * 1024) {
				cc_buf_free(&c->out);
				cc_buf_init(&c->out, 64u << 20, false);
			}
		}
	}
	bool empty = c->out.len == c->out_off;
	if (empty && c->st != CS_HANDSHAKE) {
		if (c->closing || (c->st == CS_H2 && conn_can_close_h2(c))) {
			if (c->ssl)
				SSL_shutdown(c->ssl); /* best effort close_notify */
			conn_close(c);
			return;
		}
	}
	conn_set_events(c);
	conn_rearm(c);
}

static uint64_t ms(uint32_t v)
{
	return (uint64_t)v * 1000000u;
}

static uint64_t conn_deadline(struct conn *c)
{
	const struct net_limits *L = &c->srv->lim;
	uint64_t d = 0;
	switch (c->st) {
	case CS_HANDSHAKE:
	case CS_DETECT:
		d = c->accepted_ns + ms(L->header_timeout_ms);
		break;
	case CS_H1:
		if (c->phase == H1_HEAD) {
			if (c->in.len > c->in_off)
				d = c->head_start_ns + ms(L->header_timeout_ms);
			else
				d = c->last_active_ns + ms(L->idle_timeout_ms);
		} else if (c->phase == H1_BODY) {
			d = c->last_read_ns + ms(L->read_timeout_ms);
		}
		break;
	case CS_H2:
		if (c->h2_receiving)
			d = c->last_read_ns + ms(L->read_timeout_ms);
		else if (c->h2_open == 0)
			d = c->last_active_ns + ms(L->idle_timeout_ms);
		break;
	}
	if (c->write_stall_ns) {
		uint64_t w = c->write_stall_ns + ms(L->read_timeout_ms);
		if (!d || w < d)
			d = w;
	}
	return d;
}

static void conn_rearm(struct conn *c)
{
	if (c->dead)
		return;
	loop_timer_set(c->w->loop, &c->timer, conn_deadline(c));
}

static void conn_timer_cb(struct net_timer *t)
{
	struct conn *c = (struct conn *)((char *)t - offsetof(struct conn, timer));
	uint64_t d = conn_deadline(c);
	if (d && d <= cc_mono_ns()) {
		cc_log(CC_LOG_DEBUG, NET_LOG, "%s: connection timed out", c->peer);
		if (c->st == CS_H2 && c->h2 && !c->goaway) {
			/* Tell an idle HTTP/2 client why, then close. */
			nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE,
					      nghttp2_session_get_last_proc_stream_id(c->h2),
					      NGHTTP2_NO_ERROR, NULL, 0);
			const uint8_t *data;
			ssize_t n;
			while ((n = nghttp2_session_mem_send(c->h2, &data)) > 0)
				(void)conn_send(c, data, (size_t)n);
		}
		conn_close(c);
		return;
	}
	loop_timer_set(c->w->loop, t, d);
}

static int conn_start_h2(struct conn *c)
{
	c->st = CS_H2;
	int r = h2_conn_start(c);
	if (r < 0)
		return r;
	if (atomic_load(&c->srv->draining))
		h2_drain(c);
	return 0;
}

static void conn_established(struct conn *c)
{
	if (c->ssl) {
		const unsigned char *alpn = NULL;
		unsigned alen = 0;
		SSL_get0_alpn_selected(c->ssl, &alpn, &alen);
		c->peer_verified = SSL_get0_peer_certificate(c->ssl) != NULL &&
				   SSL_get_verify_result(c->ssl) == X509_V_OK;
		if (alen == 2 && memcmp(alpn, "h2", 2) == 0) {
			if (conn_start_h2(c) < 0) {
				conn_close(c);
				return;
			}
		} else {
			c->st = CS_H1;
			c->h1_keepalive = true;
		}
	} else {
		c->st = CS_DETECT;
	}
}

static void conn_handshake(struct conn *c)
{
	ERR_clear_error();
	int r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		c->want_write = false;
		conn_established(c);
		if (!c->dead)
			conn_read(c);
		return;
	}
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ) {
		c->want_write = false;
	} else if (e == SSL_ERROR_WANT_WRITE) {
		c->want_write = true;
	} else {
		long vr = SSL_get_verify_result(c->ssl);
		if (vr != X509_V_OK)
			cc_log(CC_LOG_INFO, NET_LOG, "%s: TLS handshake failed: client certificate: %s",
			       c->peer, X509_verify_cert_error_string(vr));
		else
			cc_log(CC_LOG_DEBUG, NET_LOG, "%s: TLS handshake failed", c->peer);
		tls_log_errors("TLS handshake");
		conn_close(c);
		return;
	}
	conn_schedule_flush(c);
}

/* Plaintext: decide between HTTP/1.1 and the HTTP/2 preface. */
static void conn_detect(struct conn *c)
{
	size_t have = c->in.len - c->in_off;
	size_t cmp = have < sizeof(h2_preface) - 1 ? have : sizeof(h2_preface) - 1;
	if (memcmp(c->in.data + c->in_off, h2_preface, cmp) == 0) {
		if (cmp < sizeof(h2_preface) - 1)
			return; /* need more */
		if (c->srv->disable_h2) {
			conn_close(c);
			return;
		}
		if (conn_start_h2(c) < 0) {
			conn_close(c);
			return;
		}
		int r = h2_conn_recv(c, c->in.data + c->in_off, have);
		cc_buf_free(&c->in);
		cc_buf_init(&c->in, 0, false);
		c->in_off = 0;
		if (r < 0)
			conn_close(c);
		return;
	}
	c->st = CS_H1;
	c->h1_keepalive = true;
	h1_process(c);
}

static void conn_read(struct conn *c)
{
	struct worker *w = c->w;
	size_t in_cap = c->srv->lim.max_header_bytes + H1_PIPELINE_CAP;
	for (int rounds = 0; !c->dead && !c->read_paused; rounds++) {
		if (c->st == CS_H2) {
			ssize_t n = conn_recv(c, w->rbuf, sizeof(w->rbuf));
			if (n == -EAGAIN)
				break;
			if (n <= 0) {
				conn_close(c);
				return;
			}
			c->last_read_ns = c->last_active_ns = cc_mono_ns();
			if (h2_conn_recv(c, w->rbuf, (size_t)n) < 0) {
				/* GOAWAY queued by nghttp2: try to send it. */
				c->closing = true;
				conn_flush(c);
				conn_close(c);
				return;
			}
			if (tls_read_drained(c->ssl, (size_t)n, sizeof(w->rbuf)))
				break;
			continue;
		}
		/* HTTP/1.1 and detection read into c->in. */
		if (c->in_off && c->in_off == c->in.len) {
			c->in.len = 0;
			c->in_off = 0;
		}
		if (c->in.len >= in_cap) {
			c->read_paused = true;
			break;
		}
		size_t room = in_cap - c->in.len;
		if (room > 16384)
			room = 16384;
		if (cc_buf_reserve(&c->in, room) < 0) {
			conn_close(c);
			return;
		}
		ssize_t n = conn_recv(c, c->in.data + c->in.len, room);
		if (n == -EAGAIN)
			break;
		if (n <= 0) {
			/* EOF or error: a request still with the handler is
			 * cancelled (a client that went away, including one that
			 * half-closed: answers to those are not worth keeping
			 * resources for). */
			conn_close(c);
			return;
		}
		uint64_t now = cc_mono_ns();
		if (c->in.len == c->in_off)
			c->head_start_ns = now;
		c->last_read_ns = c->last_active_ns = now;
		c->in.len += (size_t)n;
		c->in.data[c->in.len] = 0;
		if (c->st == CS_DETECT)
			conn_detect(c);
		else
			h1_process(c);
	}
	conn_schedule_flush(c);
}

static void conn_io_cb(struct net_io *io, uint32_t events)
{
	struct conn *c = (struct conn *)io;
	if (c->dead)
		return;
	if ((events & EPOLLERR) || ((events & EPOLLHUP) && c->read_paused)) {
		conn_close(c);
		return;
	}
	if (c->st == CS_HANDSHAKE) {
		conn_handshake(c);
		return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP)) {
		c->want_write = false;
		conn_read(c);
	}
	if (!c->dead && (events & EPOLLOUT)) {
		c->want_write = false;
		conn_flush(c);
		/* TLS may have been waiting for writability to read. */
		if (!c->dead && !c->read_paused)
			conn_read(c);
	}
}

static void conn_new(struct worker *w, int fd, const struct sockaddr *sa, size_t lidx)
{
	struct net_server *srv = w->srv;
	struct conn *c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->io.fd = fd;
	c->io.fn = conn_io_cb;
	c->w = w;
	c->srv = srv;
	c->listener = lidx;
	c->refs = 1;
	c->timer.fn = conn_timer_cb;
	cc_buf_init(&c->in, 0, false);
	cc_buf_init(&c->out, 64u << 20, false);
	addr_format(sa, c->peer, sizeof(c->peer));
	c->accepted_ns = c->last_active_ns = cc_mono_ns();
	if (srv->ssl_ctx) {
		c->ssl = SSL_new(srv->ssl_ctx);
		if (!c->ssl || tls_set_socket(c->ssl, fd) < 0) {
			SSL_free(c->ssl);
			free(c);
			close(fd);
			return;
		}
		SSL_set_accept_state(c->ssl);
		/* Read whole bursts of records per read(), not a header and a
		 * body per record. */
		SSL_set_read_ahead(c->ssl, 1);
		c->st = CS_HANDSHAKE;
	} else {
		c->st = CS_DETECT;
	}
	c->ev = EPOLLIN | EPOLLRDHUP;
	if (loop_add(w->loop, &c->io, c->ev) < 0) {
		SSL_free(c->ssl);
		free(c);
		close(fd);
		return;
	}
	atomic_fetch_add(&srv->n_open, 1);
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	conn_rearm(c);
}

/* ------------------------------------------------------------------------ */
/* HTTP/1.1                                                                 */

static void h1_write_error(struct conn *c, int status, const char *msg)
{
	/* Not tied to a request (the head did not parse): write directly. */
	cc_buf_printf(&c->out,
		      "HTTP/1.1 %d %s\r\ncontent-type: text/plain\r\ncontent-length: %zu\r\n"
		      "connection: close\r\n\r\n%s",
		      status, h1_reason(status), strlen(msg), msg);
	c->closing = true;
	c->read_paused = true;
	c->phase = H1_WAIT;
	conn_schedule_flush(c);
}

static void h1_resume_cb(struct net_defer *d)
{
	struct conn *c = (struct conn *)((char *)d - offsetof(struct conn, resume_d));
	if (c->dead)
		return;
	h1_process(c);
	if (!c->dead && !c->read_paused)
		conn_read(c); /* TLS may hold decrypted bytes epoll cannot see */
	if (!c->dead)
		conn_flush(c);
}

static void h1_submit(struct conn *c, struct net_request *req)
{
	struct resp *r = &req->r;
	if (r->drop || atomic_load(&c->srv->draining))
		c->h1_keepalive = false;
	if (r->drop) {
		req_free(req);
		c->closing = true;
		c->out.len = c->out_off; /* nothing more to say */
		conn_schedule_flush(c);
		return;
	}
	int rc = cc_buf_append(&c->out, r->hb.data, r->hb.len);
	if (rc == 0 && !c->h1_keepalive)
		rc = cc_buf_puts(&c->out, "connection: close\r\n");
	if (rc == 0)
		rc = cc_buf_puts(&c->out, "\r\n");
	if (rc == 0 && r->body_len)
		rc = cc_buf_append(&c->out, r->body, r->body_len);
	req_free(req);
	if (rc < 0) {
		conn_close(c);
		return;
	}
	c->last_active_ns = cc_mono_ns();
	if (!c->h1_keepalive) {
		c->closing = true;
		c->read_paused = true;
		conn_schedule_flush(c);
		return;
	}
	c->phase = H1_HEAD;
	c->scanned = 0;
	if (c->in.len > c->in_off)
		c->head_start_ns = c->last_active_ns;
	c->read_paused = false;
	/* Parse what is already buffered, and pull what TLS holds, after
	 * the current callback returns. */
	c->resume_d.fn = h1_resume_cb;
	loop_defer(c->w->loop, &c->resume_d);
}

static int h1_start_request(struct conn *c)
{
	struct net_server *srv = c->srv;
	const uint8_t *base = c->in.data + c->in_off;
	struct h1_head *hh = &c->hh;
	struct net_request *req = req_new(c, NET_TRANSPORT_H1);
	if (!req)
		return -ENOMEM;
	int r = req_add_header(req, ":method", 7, (const char *)base + hh->method.off,
			       hh->method.len, false);
	if (r == 0)
		r = req_add_header(req, ":path", 5, (const char *)base + hh->target.off,
				   hh->target.len, false);
	for (size_t i = 0; r == 0 && i < hh->n_fields; i++) {
		const struct h1_field *f = &c->w->fields[i];
		r = req_add_header(req, (const char *)base + f->name.off, f->name.len,
				   (const char *)base + f->value.off, f->value.len, true);
	}
	c->h1_keepalive = hh->keep_alive;
	if (r < 0) {
		req_free(req);
		h1_write_error(c, 431, "request header fields too large\n");
		return 0;
	}
	c->in_off += hh->head_len;
	c->scanned = 0;
	c->phase = H1_BODY;
	if (hh->body == H1_BODY_LENGTH) {
		if (hh->content_length > srv->lim.max_body) {
			req_free(req);
			h1_write_error(c, 413, "request body larger than the server's limit\n");
			return 0;
		}
		c->body_left = hh->content_length;
		if (cc_buf_reserve(&req->body, (size_t)hh->content_length) < 0) {
			req_free(req);
			h1_write_error(c, 500, "out of memory\n");
			return 0;
		}
	} else if (hh->body == H1_BODY_CHUNKED) {
		memset(&c->chunk, 0, sizeof(c->chunk));
	} else {
		c->body_left = 0;
	}
	if (hh->expect_continue && hh->body != H1_BODY_NONE && c->in.len == c->in_off)
		cc_buf_puts(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
	return 1;
}

static void h1_process(struct conn *c)
{
	struct net_server *srv = c->srv;
	while (!c->dead && c->phase != H1_WAIT) {
		if (c->phase == H1_HEAD) {
			size_t have = c->in.len - c->in_off;
			if (have == 0)
				break;
			int r = h1_parse_head(c->in.data + c->in_off, have, false,
					      srv->lim.max_header_bytes, &c->scanned, c->w->fields,
					      srv->lim.max_headers, &c->hh);
			if (r == 0)
				break;
			if (r < 0) {
				if (r == NET_E_TOOBIG)
					h1_write_error(c, 431, "request header fields too large\n");
				else if (r == -ENOTSUP)
					h1_write_error(c, 501, "transfer coding not implemented\n");
				else
					h1_write_error(c, 400, "malformed HTTP/1.1 request\n");
				return;
			}
			if (memcmp(c->in.data + c->in_off, "PRI * HTTP/2.0", 14) == 0) {
				h1_write_error(c, 400, "unexpected HTTP/2 preface\n");
				return;
			}
			r = h1_start_request(c);
			if (r <= 0) {
				if (r < 0)
					conn_close(c);
				return;
			}
		}
		struct net_request *req = c->reqs;
		if (!req) {
			conn_close(c);
			return;
		}
		/* H1_BODY */
		size_t have = c->in.len - c->in_off;
		if (c->hh.body == H1_BODY_CHUNKED) {
			size_t used = 0;
			int r = h1_chunked_feed(&c->chunk, c->in.data + c->in_off, have, &used,
						&req->body);
			c->in_off += used;
			if (r == 0)
				break;
			if (r < 0) {
				req_free(req);
				if (r == CC_E_TOOBIG)
					h1_write_error(c, 413, "request body larger than the server's limit\n");
				else
					h1_write_error(c, 400, "malformed chunked body\n");
				return;
			}
		} else if (c->body_left) {
			size_t take = have < c->body_left ? have : (size_t)c->body_left;
			if (take == 0)
				break;
			if (cc_buf_append(&req->body, c->in.data + c->in_off, take) < 0) {
				req_free(req);
				h1_write_error(c, 500, "out of memory\n");
				return;
			}
			c->in_off += take;
			c->body_left -= take;
			if (c->body_left)
				break;
		}
		/* Complete request. */
		c->phase = H1_WAIT;
		if (c->in_off == c->in.len) {
			c->in.len = c->in_off = 0;
		}
		if (atomic_load(&srv->draining))
			c->h1_keepalive = false;
		req_dispatch(req);
	}
	/* Compact pipelined input. */
	if (!c->dead && c->in_off && c->phase != H1_BODY) {
		size_t rest = c->in.len - c->in_off;
		memmove(c->in.data, c->in.data + c->in_off, rest);
		c->in.len = rest;
		c->in_off = 0;
		if (c->scanned > 0)
			c->scanned = 0;
	}
}

/* ------------------------------------------------------------------------ */
/* Listeners, workers, lifecycle                                            */

static void lsn_arm(struct worker *w, struct lsn_io *li, bool on)
{
	if (on == li->armed)
		return;
	if (on) {
		if (loop_add(w->loop, &li->io, EPOLLIN | EPOLLEXCLUSIVE) == 0)
			li->armed = true;
	} else {
		loop_del(w->loop, &li->io);
		li->armed = false;
	}
}

static void accept_retry_cb(struct net_timer *t)
{
	struct worker *w = (struct worker *)((char *)t - offsetof(struct worker, accept_retry));
	if (!atomic_load(&w->srv->accepting))
		return;
	for (size_t i = 0; i < w->srv->n_ls; i++)
		lsn_arm(w, &w->lio[i], true);
}

static void accept_cb(struct net_io *io, uint32_t events)
{
	struct lsn_io *li = (struct lsn_io *)io;
	struct worker *w = li->w;
	struct net_server *srv = w->srv;
	for (int k = 0; k < 64; k++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(io->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/* Out of descriptors: back off instead of spinning on
				 * a level-triggered listener. */
				cc_log(CC_LOG_WARN, NET_LOG, "accept: %s; pausing accepts for 100 ms",
				       cc_strerror(-errno));
				for (size_t i = 0; i < srv->n_ls; i++)
					lsn_arm(w, &w->lio[i], false);
				loop_timer_set(w->loop, &w->accept_retry, cc_mono_ns() + ms(100));
			}
			return;
		}
		if (!atomic_load(&srv->accepting) ||
		    atomic_load(&srv->n_open) >= srv->lim.max_connections) {
			close(fd);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		conn_new(w, fd, (struct sockaddr *)&ss, li->idx);
	}
}

struct adopt {
	struct worker *w;
	int fd;
};

static void adopt_task(void *arg)
{
	struct adopt *a = arg;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	if (getpeername(a->fd, (struct sockaddr *)&ss, &sl) < 0)
		ss.ss_family = AF_UNIX;
	if (atomic_load(&a->w->srv->accepting))
		conn_new(a->w, a->fd, (struct sockaddr *)&ss, 0);
	else
		close(a->fd);
	free(a);
}

int net_server_adopt_fd(struct net_server *srv, int fd)
{
	if (!srv || !srv->started || !atomic_load(&srv->accepting))
		return NET_E_STATE;
	struct adopt *a = malloc(sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->w = &srv->workers[0];
	a->fd = fd;
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	int r = net_loop_post(a->w->loop, adopt_task, a);
	if (r < 0)
		free(a);
	return r;
}

static void fill_limits(struct net_limits *L, const struct net_limits *in)
{
	*L = *in;
	if (!L->max_header_bytes)
		L->max_header_bytes = 64 * 1024;
	if (L->max_header_bytes > (64u << 20))
		L->max_header_bytes = 64u << 20;
	if (!L->max_headers)
		L->max_headers = 128;
	if (L->max_headers > 65536)
		L->max_headers = 65536;
	if (!L->max_body)
		L->max_body = 64u << 20;
	if (!L->max_grpc_message)
		L->max_grpc_message = NET_GRPC_DEFAULT_MAX_MESSAGE;
	if (L->max_grpc_message > UINT32_MAX)
		L->max_grpc_message = UINT32_MAX;
	if (!L->max_concurrent_streams)
		L->max_concurrent_streams = 128;
	if (!L->max_connections)
		L->max_connections = 10000;
	if (!L->header_timeout_ms)
		L->header_timeout_ms = 10000;
	if (!L->read_timeout_ms)
		L->read_timeout_ms = 30000;
	if (!L->idle_timeout_ms)
		L->idle_timeout_ms = 120000;
	if (!L->max_conn_buffer) {
		size_t big = L->max_body > L->max_grpc_message ? L->max_body : L->max_grpc_message;
		L->max_conn_buffer = big + (64u << 20);
	}
}

static int listen_on(const char *addr, struct listener *ret)
{
	char host[256];
	uint16_t port;
	int r = addr_split(addr, host, sizeof(host), &port);
	if (r < 0)
		return r;
	struct sockaddr_storage ss;
	socklen_t sl;
	memset(&ss, 0, sizeof(ss));
	int family;
	if (host[0] == 0) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_any;
		s6->sin6_port = htons(port);
		sl = sizeof(*s6);
		family = AF_INET6;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
			s4->sin_family = AF_INET;
			s4->sin_port = htons(port);
			sl = sizeof(*s4);
			family = AF_INET;
		} else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
			s6->sin6_family = AF_INET6;
			s6->sin6_port = htons(port);
			sl = sizeof(*s6);
			family = AF_INET6;
		} else {
			cc_log(CC_LOG_ERROR, NET_LOG, "listen address \"%s\": not an IP literal", addr);
			return NET_E_ADDRESS;
		}
	}
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 && errno == EAFNOSUPPORT && host[0] == 0) {
		/* ":port" on a host without IPv6: all IPv4 addresses. */
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		memset(&ss, 0, sizeof(ss));
		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = htonl(INADDR_ANY);
		s4->sin_port = htons(port);
		sl = sizeof(*s4);
		family = AF_INET;
		fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	}
	if (fd < 0)
		return -errno;
	int one = 1, zero = 0;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6 && host[0] == 0) /* ":port": IPv6 and IPv4 */
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 1024) < 0) {
		int e = -errno;
		cc_log(CC_LOG_ERROR, NET_LOG, "listen on \"%s\": %s", addr, cc_strerror(e));
		close(fd);
		return e;
	}
	struct sockaddr_storage bound;
	socklen_t bl = sizeof(bound);
	getsockname(fd, (struct sockaddr *)&bound, &bl);
	ret->fd = fd;
	ret->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
						      : ((struct sockaddr_in *)&bound)->sin_port);
	return 0;
}

static void server_destroy(struct net_server *srv)
{
	if (srv->workers) {
		for (unsigned i = 0; i < srv->n_workers; i++) {
			struct worker *w = &srv->workers[i];
			while (w->free_reqs) {
				struct net_request *q = w->free_reqs;
				w->free_reqs = q->free_next;
				free(q->hdrs);
				cc_buf_free(&q->hbuf);
				cc_buf_free(&q->body);
				free(q);
			}
			net_loop_free(w->loop);
			free(w->lio);
			free(w->fields);
		}
		free(srv->workers);
	}
	for (size_t i = 0; i < srv->n_ls; i++)
		if (srv->ls[i].fd >= 0)
			close(srv->ls[i].fd);
	free(srv->ls);
	SSL_CTX_free(srv->ssl_ctx);
	if (srv->h2cbs)
		nghttp2_session_callbacks_del(srv->h2cbs);
	if (srv->h2opt)
		nghttp2_option_del(srv->h2opt);
	pthread_mutex_destroy(&srv->mu);
	pthread_cond_destroy(&srv->cv);
	free(srv);
}

int net_server_new(struct net_server **ret, const struct net_server_opts *o)
{
	if (!ret || !o || !o->handler || !o->listen || o->n_listen == 0 || o->n_listen > 64)
		return NET_E_CONFIG;
	if (!o->tls && !o->insecure) {
		cc_log(CC_LOG_ERROR, NET_LOG, "server without TLS needs the explicit insecure option");
		return NET_E_CONFIG;
	}
	if (o->tls && o->insecure)
		return NET_E_CONFIG;
	struct net_server *srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	pthread_mutex_init(&srv->mu, NULL);
	pthread_cond_init(&srv->cv, NULL);
	fill_limits(&srv->lim, &o->limits);
	srv->handler = o->handler;
	srv->on_cancel = o->on_cancel;
	srv->ud = o->userdata;
	srv->insecure = o->insecure;
	srv->disable_h2 = o->disable_h2;
	int r;
	if (o->tls) {
		r = tls_ctx_new(&srv->ssl_ctx, o->tls, true, !o->disable_h2, true);
		if (r < 0)
			goto fail;
		SSL_CTX_set_options(srv->ssl_ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	}
	if ((r = h2_server_callbacks(&srv->h2cbs)) < 0)
		goto fail;
	if (nghttp2_option_new(&srv->h2opt) != 0) {
		r = -ENOMEM;
		goto fail;
	}
	nghttp2_option_set_max_send_header_block_length(srv->h2opt, 1u << 20);
	srv->ls = calloc(o->n_listen, sizeof(*srv->ls));
	if (!srv->ls) {
		r = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < o->n_listen; i++)
		srv->ls[i].fd = -1;
	srv->n_ls = o->n_listen;
	for (size_t i = 0; i < o->n_listen; i++) {
		if (!o->listen[i]) {
			r = NET_E_CONFIG;
			goto fail;
		}
		if ((r = listen_on(o->listen[i], &srv->ls[i])) < 0)
			goto fail;
	}
	unsigned n = o->io_threads;
	if (n == 0) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);
		n = c > 0 ? (unsigned)c : 1;
	}
	if (n > 64)
		n = 64;
	srv->workers = calloc(n, sizeof(*srv->workers));
	if (!srv->workers) {
		r = -ENOMEM;
		goto fail;
	}
	srv->n_workers = n;
	for (unsigned i = 0; i < n; i++) {
		struct worker *w = &srv->workers[i];
		w->srv = srv;
		w->idx = i;
		w->accept_retry.fn = accept_retry_cb;
		if ((r = net_loop_new(&w->loop)) < 0)
			goto fail;
		w->lio = calloc(srv->n_ls, sizeof(*w->lio));
		w->fields = calloc(srv->lim.max_headers, sizeof(*w->fields));
		if (!w->lio || !w->fields) {
			r = -ENOMEM;
			goto fail;
		}
		for (size_t k = 0; k < srv->n_ls; k++) {
			w->lio[k].io.fd = srv->ls[k].fd;
			w->lio[k].io.fn = accept_cb;
			w->lio[k].w = w;
			w->lio[k].idx = k;
		}
	}
	*ret = srv;
	return 0;
fail:
	server_destroy(srv);
	return r;
}

uint16_t net_server_port(const struct net_server *srv, size_t i)
{
	if (!srv || i >= srv->n_ls)
		return 0;
	return srv->ls[i].port;
}

int net_server_start(struct net_server *srv)
{
	if (!srv || srv->started)
		return NET_E_STATE;
	atomic_store(&srv->accepting, true);
	for (unsigned i = 0; i < srv->n_workers; i++) {
		struct worker *w = &srv->workers[i];
		for (size_t k = 0; k < srv->n_ls; k++)
			lsn_arm(w, &w->lio[k], true);
	}
	for (unsigned i = 0; i < srv->n_workers; i++) {
		int r = net_loop_start(srv->workers[i].loop);
		if (r < 0) {
			for (unsigned k = 0; k < i; k++)
				net_loop_stop(srv->workers[k].loop);
			return r;
		}
	}
	srv->started = true;
	return 0;
}

static void ack(struct net_server *srv)
{
	pthread_mutex_lock(&srv->mu);
	srv->acks++;
	pthread_cond_broadcast(&srv->cv);
	pthread_mutex_unlock(&srv->mu);
}

static void drain_task(void *arg)
{
	struct worker *w = arg;
	for (size_t k = 0; k < w->srv->n_ls; k++)
		lsn_arm(w, &w->lio[k], false);
	loop_timer_set(w->loop, &w->accept_retry, 0);
	struct conn *c = w->conns;
	while (c) {
		struct conn *next = c->next;
		if (c->st == CS_H2 && c->h2) {
			h2_drain(c);
			conn_schedule_flush(c);
		} else if (c->st == CS_H1 && c->phase == H1_HEAD && c->in.len == c->in_off) {
			conn_close(c); /* idle keep-alive connection */
		} else if (c->st == CS_HANDSHAKE || c->st == CS_DETECT) {
			conn_close(c);
		} else {
			c->h1_keepalive = false;
		}
		c = next;
	}
	ack(w->srv);
}

static void close_all_task(void *arg)
{
	struct worker *w = arg;
	while (w->conns)
		conn_close(w->conns);
	ack(w->srv);
}

static void post_all_and_wait(struct net_server *srv, void (*fn)(void *))
{
	pthread_mutex_lock(&srv->mu);
	srv->acks = 0;
	pthread_mutex_unlock(&srv->mu);
	unsigned posted = 0;
	for (unsigned i = 0; i < srv->n_workers; i++)
		if (net_loop_post(srv->workers[i].loop, fn, &srv->workers[i]) == 0)
			posted++;
	pthread_mutex_lock(&srv->mu);
	while (srv->acks < posted)
		pthread_cond_wait(&srv->cv, &srv->mu);
	pthread_mutex_unlock(&srv->mu);
}

int net_server_shutdown(struct net_server *srv, uint32_t grace_ms)
{
	if (!srv)
		return NET_E_CONFIG;
	if (srv->shut_done)
		return 0;
	srv->shut_done = true;
	atomic_store(&srv->accepting, false);
	atomic_store(&srv->draining, true);
	if (!srv->started)
		return 0;
	for (unsigned i = 0; i < srv->n_workers; i++)
		if (net_loop_is_current(srv->workers[i].loop))
			return NET_E_STATE;
	post_all_and_wait(srv, drain_task);
	uint64_t deadline = cc_mono_ns() + ms(grace_ms);
	pthread_mutex_lock(&srv->mu);
	while (atomic_load(&srv->n_open) > 0) {
		uint64_t now = cc_mono_ns();
		if (now >= deadline)
			break;
		uint64_t left = deadline - now;
		if (left > ms(20))
			left = ms(20);
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t ns = (uint64_t)ts.tv_nsec + left;
		ts.tv_sec += (time_t)(ns / 1000000000u);
		ts.tv_nsec = (long)(ns % 1000000000u);
		pthread_cond_timedwait(&srv->cv, &srv->mu, &ts);
	}
	bool left_open = atomic_load(&srv->n_open) > 0;
	pthread_mutex_unlock(&srv->mu);
	post_all_and_wait(srv, close_all_task);
	for (size_t i = 0; i < srv->n_ls; i++) {
		if (srv->ls[i].fd >= 0) {
			close(srv->ls[i].fd);
			srv->ls[i].fd = -1;
		}
	}
	return left_open ? NET_E_TIMEOUT : 0;
}

void net_server_free(struct net_server *srv)
{
	if (!srv)
		return;
	if (srv->started) {
		net_server_shutdown(srv, 0);
		pthread_mutex_lock(&srv->mu);
		while (atomic_load(&srv->outstanding) > 0)
			pthread_cond_wait(&srv->cv, &srv->mu);
		pthread_mutex_unlock(&srv->mu);
		for (unsigned i = 0; i < srv->n_workers; i++)
			net_loop_stop(srv->workers[i].loop);
	}
	server_destroy(srv);
}
