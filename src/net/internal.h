/* SPDX-License-Identifier: Apache-2.0 */
/* Private interfaces shared by the net library's sources. */
#ifndef CCSERVE_NET_INTERNAL_H
#define CCSERVE_NET_INTERNAL_H

#include <stdatomic.h>
#include <pthread.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "ccserve/net.h"
#include "ccserve/util.h"

#define NET_LOG "net"

/* ------------------------------------------------------------------------ */
/* Loop internals (loop.c)                                                  */

struct net_io;
typedef void (*net_io_fn)(struct net_io *io, uint32_t events);
struct net_io {
	int fd;
	net_io_fn fn;
};

struct net_timer;
typedef void (*net_timer_fn)(struct net_timer *t);
struct net_timer {
	uint64_t deadline_ns; /* 0: not armed */
	net_timer_fn fn;
	struct net_timer *prev, *next;
	bool linked;
};

/* An intrusive task: posted from any thread, run on the loop thread. */
struct net_task {
	void (*fn)(struct net_task *t);
	struct net_task *next;
	void *ud; /* for net_loop_post's allocated tasks */
	void (*ud_fn)(void *ud);
};

/* An intrusive end-of-iteration callback (loop thread only). */
struct net_defer {
	void (*fn)(struct net_defer *d);
	struct net_defer *next;
	bool queued;
};

/* Timers fire with this granularity (coarse on purpose: they guard idle,
 * read and call deadlines, not latencies). */
#define NET_TIMER_TICK_MS 50

int loop_add(struct net_loop *l, struct net_io *io, uint32_t events);
int loop_mod(struct net_loop *l, struct net_io *io, uint32_t events);
void loop_del(struct net_loop *l, struct net_io *io);
/* deadline 0 disarms. */
void loop_timer_set(struct net_loop *l, struct net_timer *t, uint64_t deadline_ns);
void loop_post_task(struct net_loop *l, struct net_task *t);
void loop_defer(struct net_loop *l, struct net_defer *d);
/* Unqueue d if queued (its owner is going away).  Loop thread only. */
void loop_defer_cancel(struct net_loop *l, struct net_defer *d);
/* Queue d to run after every regular defer of this iteration (frees). */
void loop_defer_last(struct net_loop *l, struct net_defer *d);
/* Join a background thread started by net_loop_start (after stop). */
void net_loop_join(struct net_loop *l);
int loop_epfd(const struct net_loop *l);

/* ------------------------------------------------------------------------ */
/* TLS (tls.c)                                                              */

/* Build an SSL_CTX.  server selects server or client mode.  alpn_h2 /
 * alpn_h1 select what is offered/accepted. */
int tls_ctx_new(SSL_CTX **ret, const struct net_tls_opts *o, bool server,
		bool alpn_h2, bool alpn_h1);
/* Set up a client SSL: SNI and host check for host (hostname or IP). */
int tls_client_ssl(SSL *ssl, const struct net_tls_opts *o, const char *host);
/* Attach fd to ssl through a socket BIO that never raises SIGPIPE. */
int tls_set_socket(SSL *ssl, int fd);
/* Log the OpenSSL error queue at debug level and clear it. */
void tls_log_errors(const char *what);
/* After a read that returned got of asked bytes: true when the socket (and,
 * with TLS (ssl not NULL), OpenSSL's read-ahead buffer) is drained for now.
 * The epoll loops are level-triggered, so they then wait for readiness
 * instead of reading again only to see EAGAIN. */
bool tls_read_drained(SSL *ssl, size_t got, size_t asked);

/* ------------------------------------------------------------------------ */
/* Address helpers (addr.c)                                                 */

#include <sys/socket.h>
/* Parse "host:port", "[v6]:port", ":port".  host is copied into hostbuf
 * (empty for ":port").  Errors: NET_E_ADDRESS. */
int addr_split(const char *s, char *hostbuf, size_t hostsz, uint16_t *ret_port);
/* Resolve and connect a non-blocking socket (connect in progress allowed:
 * returns the fd with *ret_inprogress).  Blocking resolution. */
int addr_connect(const char *host, uint16_t port, int *ret_fd);
void addr_format(const struct sockaddr *sa, char *buf, size_t sz);
/* Wait for fd to become readable/writable up to deadline (mono ns).
 * Returns 0, NET_E_TIMEOUT or -errno. */
int fd_wait(int fd, bool write, uint64_t deadline_ns);

/* ------------------------------------------------------------------------ */
/* HTTP/1.1 parser (h1parse.c) -- pure functions, fuzzed                    */

struct h1_span {
	uint32_t off, len;
};
struct h1_field {
	struct h1_span name, value;
};
enum h1_body {
	H1_BODY_NONE = 0,
	H1_BODY_LENGTH = 1,
	H1_BODY_CHUNKED = 2,
	H1_BODY_EOF = 3, /* responses only: read until close */
};
struct h1_head {
	struct h1_span method, target; /* requests */
	int status;                    /* responses */
	int minor;                     /* HTTP/1.<minor> */
	size_t n_fields;
	enum h1_body body;
	uint64_t content_length;
	bool keep_alive;
	bool expect_continue;
	size_t head_len; /* bytes of the head including the final CRLFCRLF */
};

/* Parse a request (response=false) or response head at the start of buf.
 * *scanned carries the search position between calls on a growing buffer
 * (start with 0).  fields has room for max_fields.
 * Returns 1 (complete), 0 (need more; len < max_head), NET_E_TOOBIG (no end
 * within max_head or too many fields), NET_E_PROTO (syntax or semantics:
 * bad line, obs-fold, CL+TE, conflicting lengths, missing Host),
 * -ENOTSUP (a transfer coding other than chunked). */
int h1_parse_head(const uint8_t *buf, size_t len, bool response, size_t max_head,
		  size_t *scanned, struct h1_field *fields, size_t max_fields,
		  struct h1_head *out);

struct h1_chunked {
	int state;
	uint64_t remaining;
	size_t line_len;
	size_t trailer_len;
};
/* Decode chunked data: consumes from in, appends payload to out (capped).
 * Returns 1 when the terminating chunk and trailers were consumed, 0 when
 * more input is needed, NET_E_PROTO on bad framing, CC_E_TOOBIG when out's
 * cap is hit, -ENOMEM. */
int h1_chunked_feed(struct h1_chunked *st, const uint8_t *in, size_t len,
		    size_t *ret_consumed, struct cc_buf *out);

bool h1_token_eq(const uint8_t *p, size_t n, const char *lit);
const char *h1_reason(int status);

/* ------------------------------------------------------------------------ */
/* gRPC helpers (grpc.c)                                                    */

bool grpc_content_type(const char *ct);
/* True if a grpc-accept-encoding list contains token. */
bool grpc_accepts(const char *list, const char *token);

#endif
