/* SPDX-License-Identifier: Apache-2.0 */
/* Server internals shared by server.c (connections, HTTP/1.1, requests)
 * and h2server.c (HTTP/2). */
#ifndef CCSERVE_NET_SERVER_H
#define CCSERVE_NET_SERVER_H

#include <nghttp2/nghttp2.h>

#include "internal.h"

struct conn;
struct worker;

/* A prepared response (built on the answering thread, sent by the I/O
 * thread). */
struct resp {
	bool ready;
	bool drop;          /* reset the stream / close the connection */
	bool trailers_only; /* gRPC: one HEADERS frame with the status */
	bool grpc;
	int status;
	char status_str[4];
	struct cc_buf hb;   /* h1: head text; h2: "name\0value\0" pairs */
	nghttp2_nv *nva;
	size_t nnv;
	struct cc_buf tb;   /* h2 trailers pairs */
	nghttp2_nv *tnv;
	size_t ntnv;
	uint8_t prefix[NET_GRPC_PREFIX_LEN];
	size_t prefix_len, prefix_off;
	const uint8_t *body;
	size_t body_len, body_off;
	void *owned;        /* malloc'ed body copy */
	net_free_fn body_free;
	void *body_ud;
};

struct net_request {
	struct conn *conn;
	struct net_server *srv;
	struct net_request *prev, *next; /* conn's request list */
	struct net_request *free_next;   /* worker free list */
	int32_t stream_id;
	enum net_transport transport;
	bool is_grpc;
	bool grpc_gzip_in;   /* request messages may be gzip */
	bool grpc_accept_gzip;
	bool head;
	bool dispatched;     /* handed to the handler */
	bool handler_done;   /* completed by the application (or internally) */
	bool stream_done;    /* stream closed / connection gone */
	bool rejected;       /* answered early by the library; input ignored */
	bool headers_done;
	bool end_stream;
	bool reset_sent;
	size_t discarded;    /* bytes dropped after an early answer */
	size_t accounted;    /* bytes counted in conn->buffered */
	atomic_bool cancelled;
	int early_status;    /* 431/413... decided while receiving */
	struct cc_buf hbuf;  /* "name\0value\0" pairs, pseudo-headers included */
	size_t n_pairs;
	struct net_header *hdrs;
	size_t n_hdrs, hdrs_cap; /* hdrs is kept when the request is recycled */
	const char *method, *path;
	struct cc_buf body;
	uint64_t deadline_ns;
	void *userdata;
	struct net_task task;
	struct resp r;
};

enum conn_state {
	CS_HANDSHAKE = 0,
	CS_DETECT,  /* plaintext: HTTP/1.1 or the HTTP/2 preface? */
	CS_H1,
	CS_H2,
};

enum h1_phase {
	H1_HEAD = 0,
	H1_BODY,
	H1_WAIT, /* request with the handler */
};

struct conn {
	struct net_io io;
	struct worker *w;
	struct net_server *srv;
	struct conn *prev, *next;
	SSL *ssl;
	enum conn_state st;
	uint32_t ev;
	size_t listener;
	char peer[64];
	bool peer_verified;
	bool want_write;    /* TLS needs writability to make progress */
	bool closing;       /* close once output is flushed */
	bool dead;          /* fd closed */
	bool read_paused;
	bool freed_pending;
	int refs;           /* 1 for the I/O side + requests with the handler */
	struct cc_buf in;
	size_t in_off;
	struct cc_buf out;
	size_t out_off;
	struct net_timer timer;
	struct net_defer flush_d, resume_d, free_d;
	uint64_t accepted_ns, last_read_ns, last_active_ns, head_start_ns, write_stall_ns;
	/* HTTP/1.1 */
	enum h1_phase phase;
	struct h1_head hh;
	size_t scanned;
	struct h1_chunked chunk;
	uint64_t body_left;
	bool h1_keepalive;
	struct net_request *reqs; /* list: h1 at most one; h2 one per stream */
	/* HTTP/2 */
	nghttp2_session *h2;
	unsigned h2_open, h2_receiving;
	size_t buffered;    /* request body bytes held (max_conn_buffer) */
	bool goaway;
	uint32_t resets;    /* client resets of streams, for rapid-reset abuse */
	uint64_t resets_window_ns;
};

struct lsn_io {
	struct net_io io;
	struct worker *w;
	size_t idx;
	bool armed;
};

struct worker {
	struct net_server *srv;
	struct net_loop *loop;
	unsigned idx;
	struct lsn_io *lio;
	struct net_timer accept_retry;
	struct conn *conns;
	struct net_request *free_reqs;
	unsigned n_free_reqs;
	struct h1_field *fields;
	uint8_t rbuf[65536];
};

struct listener {
	int fd;
	uint16_t port;
};

struct net_server {
	struct net_limits lim;
	net_handler_fn handler;
	net_cancel_fn on_cancel;
	void *ud;
	bool insecure, disable_h2;
	SSL_CTX *ssl_ctx;
	struct listener *ls;
	size_t n_ls;
	struct worker *workers;
	unsigned n_workers;
	atomic_uint n_open;
	atomic_long outstanding;
	atomic_bool accepting;
	atomic_bool draining;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned acks;
	bool started, shut_done;
	nghttp2_session_callbacks *h2cbs;
	nghttp2_option *h2opt;
};

/* server.c */
struct net_request *req_new(struct conn *c, enum net_transport t);
void req_free(struct net_request *req);
int req_add_header(struct net_request *req, const char *name, size_t nl,
		   const char *value, size_t vl, bool lower);
void req_dispatch(struct net_request *req);
/* Answer a request the handler never saw (limits, bad framing). */
void req_reject(struct net_request *req, int http_status, int grpc_status, const char *msg);
void req_cancel(struct net_request *req);
void conn_close(struct conn *c);
void conn_schedule_flush(struct conn *c);

/* Serve an already connected stream socket (any family) on I/O thread 0,
 * as if accepted on listener 0.  For tests and fuzzing (socketpairs).
 * Thread-safe; takes fd.  Errors: NET_E_STATE (not started), -ENOMEM. */
int net_server_adopt_fd(struct net_server *srv, int fd);

/* h2server.c */
int h2_server_callbacks(nghttp2_session_callbacks **ret);
int h2_conn_start(struct conn *c);
/* Feed input.  Returns 0 or a negative error (close). */
int h2_conn_recv(struct conn *c, const uint8_t *data, size_t len);
void h2_submit(struct conn *c, struct net_request *req);
void h2_drain(struct conn *c);
/* Free every request of the connection, cancelling those still with the
 * handler. */
void conn_release_requests(struct conn *c);

#endif
