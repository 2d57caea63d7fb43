/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ccserve net: TLS (OpenSSL 3), an epoll event loop, an HTTP/1.1 and HTTP/2
 * (nghttp2) server with ALPN on one port, gRPC framing and status, a blocking
 * HTTP/1.1 client and an HTTP/2 gRPC client.
 *
 * Error model: functions return int, 0 (or a count) on success, a negative
 * errno value for system failures (-ENOMEM, -ECONNREFUSED, ...), a negative
 * CC_E_* code from util for format failures, or a negative NET_E_* code
 * below for protocol failures.  net_strerror() names all three.  Codes are
 * never renumbered.
 *
 * Threads: a server runs its own I/O threads.  Handlers are called on an I/O
 * thread and must not block it: they answer at once or hand the request to
 * another thread, which answers later with net_response_send() or
 * net_grpc_send() (thread-safe; the I/O thread is woken through an eventfd).
 *
 * Strings in this header are NUL-terminated UTF-8/ASCII unless a length is
 * given.  Header names the library hands out are lower-case.
 */
#ifndef CCSERVE_NET_H
#define CCSERVE_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* OpenSSL types, forward-declared so this header does not pull OpenSSL in. */
struct ssl_ctx_st;

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */

enum net_error {
	NET_E_BASE = 3000,
	NET_E_TLS = -3001,       /* TLS handshake or record layer failure */
	NET_E_PROTO = -3002,     /* peer broke HTTP/1.1, HTTP/2 or gRPC framing */
	NET_E_CLOSED = -3003,    /* connection closed by the peer */
	NET_E_TIMEOUT = -3004,   /* a connect, read or call deadline passed */
	NET_E_TOOBIG = -3005,    /* a header, body or message above its limit */
	NET_E_CANCELLED = -3006, /* request cancelled (stream reset, disconnect, shutdown) */
	NET_E_CONFIG = -3007,    /* invalid or inconsistent options */
	NET_E_VERIFY = -3008,    /* peer certificate verification failed */
	NET_E_ADDRESS = -3009,   /* address could not be parsed or resolved */
	NET_E_STATE = -3010,     /* not allowed now (already answered, shutting down) */
	NET_E_ENCODING = -3011,  /* unsupported or corrupt message compression */
	NET_E_HTTP2 = -3012,     /* HTTP/2 session failure (nghttp2) */
	NET_E_STATUS = -3013,    /* unexpected HTTP status from a peer */
};

/* Static description of err (NET_E_*, CC_E_* or negative errno).  Never NULL. */
const char *net_strerror(int err);

/* ------------------------------------------------------------------------ */
/* Headers                                                                  */

/* A header field.  Both strings NUL-terminated.  Names the library returns
 * are lower-case; names given to the library are sent as given for HTTP/1.1
 * and lower-cased for HTTP/2. */
struct net_header {
	const char *name;
	const char *value;
};

/* ------------------------------------------------------------------------ */
/* TLS                                                                      */

enum net_client_verify {
	NET_CLIENT_VERIFY_NONE = 0,     /* do not ask for a client certificate */
	NET_CLIENT_VERIFY_OPTIONAL = 1, /* ask; verify one if sent */
	NET_CLIENT_VERIFY_REQUIRE = 2,  /* ask; refuse the handshake without a valid one */
};

/*
 * Custom peer verification, for certificates that carry evidence (attested
 * TLS) or for extra policy.  Called once per handshake on the I/O thread
 * after the standard chain (and, on a client, host name) check, with its
 * result in chain_ok and the peer's leaf certificate in DER.  Return 0 to
 * accept, a negative value to refuse.  When set, this decision is final: a
 * callback may accept a chain that failed (self-signed attested certs) and
 * must then check the certificate itself.  leaf_der is valid only during the
 * call.
 */
typedef int (*net_tls_verify_fn)(void *userdata, bool chain_ok,
				 const uint8_t *leaf_der, size_t leaf_len);

/* Called once with the SSL_CTX the library built, before any connection uses
 * it: add certificate extensions handlers (SSL_CTX_add_custom_ext), a
 * certificate callback, session settings...  Return 0 or a negative error
 * (the constructor then fails with it).  The library keeps ownership. */
typedef int (*net_tls_ctx_fn)(void *userdata, struct ssl_ctx_st *ctx);

struct net_tls_opts {
	/* PEM certificate chain, leaf first.  Server: required.  Client:
	 * optional client certificate.  Copied; the caller keeps ownership. */
	const char *cert_pem;
	size_t cert_pem_len;
	/* PEM private key matching cert_pem.  Read from memory only (keys
	 * come from the encrypted volume); never retained by the library
	 * after the constructor returns: the caller may wipe it. */
	const char *key_pem;
	size_t key_pem_len;
	/* PEM trust anchors.  Server: CAs for client certificates.  Client:
	 * the only trusted CAs (pinning); NULL uses the system store. */
	const char *ca_pem;
	size_t ca_pem_len;
	/* Server only. */
	enum net_client_verify client_verify;
	/* Client only: name for SNI and the certificate host check.  NULL:
	 * the host part of the address (an IP literal is checked against
	 * the certificate's IP SANs and no SNI is sent). */
	const char *server_name;
	/* Client only: refuse the peer unless the SHA-256 of its leaf
	 * certificate's SubjectPublicKeyInfo equals these 32 bytes (in
	 * addition to the chain check).  NULL: no pin. */
	const uint8_t *spki_sha256;
	/* Require TLS 1.3 (default: TLS 1.2 or later, 1.3 preferred). */
	bool tls13_only;
	net_tls_verify_fn verify;
	void *verify_userdata;
	net_tls_ctx_fn ctx_hook;
	void *ctx_hook_userdata;
};

/* ------------------------------------------------------------------------ */
/* Event loop                                                               */

/*
 * One epoll instance and one thread.  Clients attach connections to a loop;
 * the server runs its own loops (one per I/O thread).  A loop never spins:
 * it sleeps in epoll_wait until an fd, a deadline or a posted task wakes it.
 */
struct net_loop;

/* Errors: -ENOMEM, -errno from epoll_create1/eventfd. */
int net_loop_new(struct net_loop **ret);
/* Run in the calling thread until net_loop_stop().  Returns 0, or
 * NET_E_STATE if the loop already runs. */
int net_loop_run(struct net_loop *loop);
/* Run in a new background thread (joined by net_loop_stop or _free). */
int net_loop_start(struct net_loop *loop);
/* Thread-safe; returns at once.  A background thread is joined by
 * net_loop_free(). */
void net_loop_stop(struct net_loop *loop);
/* Run fn(userdata) on the loop's thread soon.  Thread-safe.  -ENOMEM. */
int net_loop_post(struct net_loop *loop, void (*fn)(void *userdata), void *userdata);
/* True when called on loop's own thread. */
bool net_loop_is_current(const struct net_loop *loop);
/* Stops and joins a background thread, then frees.  Everything attached to
 * the loop (clients) must have been freed first.  NULL accepted. */
void net_loop_free(struct net_loop *loop);

/* ------------------------------------------------------------------------ */
/* Server                                                                   */

struct net_server;
struct net_request;

enum net_transport {
	NET_TRANSPORT_H1 = 1, /* HTTP/1.1 (or 1.0) */
	NET_TRANSPORT_H2 = 2, /* HTTP/2 (ALPN "h2", or prior knowledge when plaintext) */
};

/* Zero fields take the default shown. */
struct net_limits {
	size_t max_header_bytes;         /* request line + headers / header list: 64 KiB */
	uint32_t max_headers;            /* header fields per request: 128 */
	size_t max_body;                 /* non-gRPC request body: 64 MiB */
	size_t max_grpc_message;         /* gRPC request message, before and after
					  * decompression: 2 GiB */
	uint32_t max_concurrent_streams; /* per HTTP/2 connection: 128 */
	uint32_t max_connections;        /* per server: 10000 */
	uint32_t header_timeout_ms;      /* TLS handshake + a request's headers
					  * must arrive within: 10 s (slowloris) */
	uint32_t read_timeout_ms;        /* max silence while a request body is
					  * incomplete: 30 s */
	uint32_t idle_timeout_ms;        /* keep-alive with nothing in flight: 120 s */
	size_t max_conn_buffer;          /* request bytes one HTTP/2 connection may
					  * hold (bodies received and not yet
					  * completed): the larger of max_body and
					  * max_grpc_message, plus 64 MiB */
};

/*
 * Request handler.  Called on an I/O thread once a request (headers and the
 * whole body) has arrived.  The request belongs to the library; the handler
 * (or whichever thread it hands req to) must complete it exactly once with
 * net_response_send(), net_grpc_send() or net_request_drop() -- also after a
 * cancellation.  Must not block.
 */
typedef void (*net_handler_fn)(void *userdata, struct net_request *req);
/* Called on the I/O thread when the client resets the stream or the
 * connection closes (or the server's grace period ends) before req was
 * completed.  req stays valid until it is completed; answering it is then a
 * no-op that frees it.  May run concurrently with a worker still computing
 * the answer: use net_request_cancelled() to stop early. */
typedef void (*net_cancel_fn)(void *userdata, struct net_request *req);

struct net_server_opts {
	/* Listen addresses: "127.0.0.1:8500", "[::1]:8500", "0.0.0.0:8500",
	 * ":8500" (all IPv6 and IPv4), port 0 picks a free port (see
	 * net_server_port()).  At least one. */
	const char *const *listen;
	size_t n_listen;
	/* TLS (ALPN offers h2 and http/1.1).  NULL requires insecure. */
	const struct net_tls_opts *tls;
	/* Explicitly allow plaintext HTTP/1.1 and HTTP/2 with prior
	 * knowledge (h2c), told apart by the HTTP/2 connection preface. */
	bool insecure;
	/* Refuse HTTP/2 (ALPN offers http/1.1 only, preface rejected). */
	bool disable_h2;
	/* I/O threads; 0 means the number of online CPUs (max 64). */
	unsigned io_threads;
	struct net_limits limits;
	net_handler_fn handler; /* required */
	net_cancel_fn on_cancel; /* optional */
	void *userdata;
};

/* Validate opts, build the TLS context and bind and listen on every address
 * (nothing is accepted until net_server_start()).  opts and everything it
 * points to may be freed after the call.
 * Errors: NET_E_CONFIG, NET_E_TLS (bad cert/key/CA PEM, key mismatch),
 * NET_E_ADDRESS, -EADDRINUSE and other -errno, -ENOMEM. */
int net_server_new(struct net_server **ret, const struct net_server_opts *opts);
/* Bound port of listen address i (useful with port 0); 0 if out of range. */
uint16_t net_server_port(const struct net_server *srv, size_t i);
/* Start the I/O threads.  Errors: -errno from pthread_create, NET_E_STATE. */
int net_server_start(struct net_server *srv);
/* Graceful shutdown: stop accepting, send GOAWAY on HTTP/2 and
 * "Connection: close" on HTTP/1.1, wait up to grace_ms for in-flight
 * requests to be answered and flushed, then close every connection
 * (cancelling what is left).  The I/O threads keep running, so late
 * answers from workers are still received (and dropped), until
 * net_server_free().  Blocks; call from any thread but an I/O thread.
 * Idempotent.  Returns 0, or NET_E_TIMEOUT when requests were cancelled
 * because the grace period ended. */
int net_server_shutdown(struct net_server *srv, uint32_t grace_ms);
/* Shuts down (grace 0) if still running, waits until every request handed
 * to a handler has been completed (the application must complete them all,
 * cancelled or not), joins the I/O threads and frees.  NULL accepted. */
void net_server_free(struct net_server *srv);

/* Request accessors.  Valid from the handler call until the request is
 * completed, from any thread; the returned pointers live as long as req. */
const char *net_request_method(const struct net_request *req);
/* Request target as sent (path and query), e.g. "/v1/models/m:predict". */
const char *net_request_path(const struct net_request *req);
/* First header with that name (case-insensitive), or NULL. */
const char *net_request_header(const struct net_request *req, const char *name);
/* All headers (lower-case names, pseudo-headers excluded), count in *ret_n. */
const struct net_header *net_request_headers(const struct net_request *req, size_t *ret_n);
/* The body.  For gRPC requests: the single request message, unframed and
 * decompressed.  Never NULL (an empty body gives a pointer to "\0").  The
 * bytes are followed by a NUL (not counted) for text parsers. */
const uint8_t *net_request_body(const struct net_request *req, size_t *ret_len);
/* Peer as "1.2.3.4:5678" or "[::1]:5678". */
const char *net_request_peer(const struct net_request *req);
/* Index of the listen address the connection came in on. */
size_t net_request_listener(const struct net_request *req);
enum net_transport net_request_transport(const struct net_request *req);
/* True for HTTP/2 requests with content-type application/grpc[+...]. */
bool net_request_is_grpc(const struct net_request *req);
bool net_request_is_tls(const struct net_request *req);
/* True when a client certificate was presented and verified. */
bool net_request_peer_verified(const struct net_request *req);
/* Absolute CLOCK_MONOTONIC deadline (ns, cc_mono_ns() scale) from
 * grpc-timeout, or 0 when the client sent none. */
uint64_t net_request_deadline_ns(const struct net_request *req);
/* True once the client reset the stream or disconnected.  Any thread. */
bool net_request_cancelled(const struct net_request *req);
void net_request_set_userdata(struct net_request *req, void *userdata);
void *net_request_get_userdata(const struct net_request *req);

/* Called by the library when it is done with a body it was given
 * ownership of (on an I/O thread). */
typedef void (*net_free_fn)(void *body, void *userdata);

struct net_response {
	int status; /* 100 < status < 600 */
	/* Extra headers (copied).  content-length, connection,
	 * transfer-encoding and pseudo-headers are set by the library and
	 * refused here (NET_E_CONFIG). */
	const struct net_header *headers;
	size_t n_headers;
	const void *body;
	size_t body_len;
	/* NULL: body is copied during the call.  Else the library takes the
	 * body (also on error) and calls body_free(body, body_userdata) when
	 * it has been sent or dropped. */
	net_free_fn body_free;
	void *body_userdata;
};

/* Complete req with an HTTP response.  Thread-safe: from the handler it is
 * queued directly, from another thread it is handed to req's I/O thread.
 * req must not be used after the call (whatever it returns).  Returns 0
 * also when the request was cancelled meanwhile (the answer is dropped).
 * Errors: NET_E_CONFIG (bad status or forbidden header), -ENOMEM; req is
 * then still completed, with a 500 (an empty answer closes the connection
 * or resets the stream if even that fails).  A HEAD request gets the
 * headers only. */
int net_response_send(struct net_request *req, const struct net_response *resp);
/* Complete req without an answer: HTTP/2 resets the stream (CANCEL),
 * HTTP/1.1 closes the connection.  Thread-safe; req is gone after. */
void net_request_drop(struct net_request *req);

/* ------------------------------------------------------------------------ */
/* gRPC                                                                     */

enum net_grpc_status {
	NET_GRPC_OK = 0,
	NET_GRPC_CANCELLED = 1,
	NET_GRPC_UNKNOWN = 2,
	NET_GRPC_INVALID_ARGUMENT = 3,
	NET_GRPC_DEADLINE_EXCEEDED = 4,
	NET_GRPC_NOT_FOUND = 5,
	NET_GRPC_ALREADY_EXISTS = 6,
	NET_GRPC_PERMISSION_DENIED = 7,
	NET_GRPC_RESOURCE_EXHAUSTED = 8,
	NET_GRPC_FAILED_PRECONDITION = 9,
	NET_GRPC_ABORTED = 10,
	NET_GRPC_OUT_OF_RANGE = 11,
	NET_GRPC_UNIMPLEMENTED = 12,
	NET_GRPC_INTERNAL = 13,
	NET_GRPC_UNAVAILABLE = 14,
	NET_GRPC_DATA_LOSS = 15,
	NET_GRPC_UNAUTHENTICATED = 16,
};
/* "OK", "CANCELLED", ... ; "UNKNOWN_STATUS" outside 0..16. */
const char *net_grpc_status_name(int status);

struct net_grpc_response {
	int status;          /* enum net_grpc_status */
	const char *message; /* grpc-message, plain text (the library
			      * percent-encodes it); NULL for none */
	/* The response message (unframed).  Sent only when has_msg (a
	 * status other than OK normally carries none: trailers-only). */
	bool has_msg;
	const void *msg;
	size_t msg_len;
	net_free_fn msg_free; /* as net_response.body_free */
	void *msg_userdata;
	/* Compress msg with gzip when the client accepts it. */
	bool compress;
	/* Extra response headers / trailers (copied; lower-case names;
	 * grpc-* reserved names are refused with NET_E_CONFIG). */
	const struct net_header *headers;
	size_t n_headers;
	const struct net_header *trailers;
	size_t n_trailers;
};

/* Complete a gRPC request (net_request_is_grpc()).  Same threading and
 * ownership rules as net_response_send().  Errors: NET_E_CONFIG (status
 * outside 0..16, reserved or invalid header), NET_E_STATE (not a gRPC
 * request), -ENOMEM; req is then still completed (gRPC INTERNAL, or 500). */
int net_grpc_send(struct net_request *req, const struct net_grpc_response *resp);

/* Framing: 1 byte compressed flag, 4 bytes big-endian length, message. */
#define NET_GRPC_PREFIX_LEN 5
/* Default cap on one message (2 GiB). */
#define NET_GRPC_DEFAULT_MAX_MESSAGE ((size_t)2 << 30)

/* Decode one frame at the start of buf.  Returns 1 and sets the outputs
 * (*ret_msg points into buf; *ret_consumed = 5 + length), 0 when buf holds
 * an incomplete frame, or an error: NET_E_PROTO (flag byte not 0/1),
 * NET_E_TOOBIG (length above max).  No output is set unless 1. */
int net_grpc_frame_decode(const uint8_t *buf, size_t len, size_t max,
			  bool *ret_compressed, const uint8_t **ret_msg,
			  size_t *ret_msg_len, size_t *ret_consumed);
/* Write the 5-byte prefix.  NET_E_TOOBIG when msg_len > UINT32_MAX. */
int net_grpc_prefix_encode(uint8_t out[NET_GRPC_PREFIX_LEN], bool compressed,
			   size_t msg_len);

/* grpc-timeout: 1 to 8 digits and a unit H M S m u n.  *ret_ns saturates
 * at UINT64_MAX.  Errors: CC_E_SYNTAX. */
int net_grpc_timeout_parse(const char *s, uint64_t *ret_ns);
/* Format ns as the shortest exact-or-rounded-up grpc-timeout ("100m").
 * buf must hold 10 bytes.  CC_E_SHORTBUF. */
int net_grpc_timeout_format(uint64_t ns, char *buf, size_t bufsz);

/* grpc-message percent-encoding: bytes outside 0x20..0x7E and '%' become
 * %XX.  Allocating (malloc, caller frees); -ENOMEM, CC_E_TOOBIG above
 * 1 MiB input. */
int net_pct_encode(const char *in, size_t len, char **ret);
/* Lenient decode per the gRPC spec: a '%' not followed by two hex digits is
 * kept as is.  Output NUL-terminated; -ENOMEM, CC_E_TOOBIG. */
int net_pct_decode(const char *in, size_t len, char **ret, size_t *ret_len);

/* gzip (RFC 1952) with zlib.  Output malloc'ed (caller frees), NUL-padded
 * by one byte not counted.  Decompression stops with NET_E_TOOBIG once the
 * output would exceed max (a decompression bomb) and NET_E_ENCODING on
 * corrupt or trailing data. */
int net_gzip_compress(const void *in, size_t len, uint8_t **ret, size_t *ret_len);
int net_gzip_decompress(const void *in, size_t len, size_t max, uint8_t **ret,
			size_t *ret_len);

/* ------------------------------------------------------------------------ */
/* Blocking HTTP/1.1 client (one thread at a time per client)               */

struct net_http_client;

struct net_http_client_opts {
	/* "https://host:port" or "http://host:port" (the latter needs
	 * insecure).  The port defaults to 443/80.  No path. */
	const char *url;
	const struct net_tls_opts *tls; /* NULL: system CAs, no client cert */
	bool insecure;
	uint32_t connect_timeout_ms; /* default 10 s */
	uint32_t timeout_ms;         /* per request, whole exchange; default 60 s */
	size_t max_header_bytes;     /* default 64 KiB */
	size_t max_body;             /* response body; default 64 MiB */
	/* Keep cookies the server sets (name=value, this host only, no
	 * expiry handling beyond Max-Age=0 deleting) and send them back. */
	bool cookies;
};

struct net_http_response {
	int status;
	struct net_header *headers; /* lower-case names */
	size_t n_headers;
	uint8_t *body;              /* NUL-terminated (not counted) */
	size_t body_len;
};

/* No I/O yet (connects on the first request).  Errors: NET_E_CONFIG,
 * NET_E_ADDRESS, NET_E_TLS, -ENOMEM. */
int net_http_client_new(struct net_http_client **ret,
			const struct net_http_client_opts *opts);
/* Send one request and read the whole response, reusing the connection
 * when possible (reconnecting once if a kept-alive connection was closed
 * before the request went out).  method e.g. "GET"; path starts with '/'.
 * Host, Content-Length and cookies are added.  On success *ret is filled
 * (free with net_http_response_clear()); any status counts as success.
 * Errors: NET_E_TIMEOUT, NET_E_TLS, NET_E_VERIFY, NET_E_PROTO,
 * NET_E_TOOBIG, NET_E_CLOSED, -ECONNREFUSED and other -errno, -ENOMEM. */
int net_http_client_request(struct net_http_client *c, const char *method,
			    const char *path, const struct net_header *headers,
			    size_t n_headers, const void *body, size_t body_len,
			    struct net_http_response *ret);
/* First response header with that name (case-insensitive) or NULL. */
const char *net_http_response_header(const struct net_http_response *r,
				     const char *name);
void net_http_response_clear(struct net_http_response *r);
/* Cookie value held for name, or NULL (valid until the next request). */
const char *net_http_client_cookie(const struct net_http_client *c, const char *name);
void net_http_client_free(struct net_http_client *c);

/* ------------------------------------------------------------------------ */
/* HTTP/2 gRPC client                                                       */

struct net_grpc_client;

struct net_grpc_client_opts {
	const char *address;            /* "host:port" */
	const struct net_tls_opts *tls; /* NULL: system CAs */
	bool insecure;                  /* plaintext h2 (prior knowledge) */
	const char *authority;          /* :authority; default address */
	uint32_t connect_timeout_ms;    /* default 10 s */
	size_t max_message;             /* response cap; default 2 GiB */
	bool compress;                  /* gzip request messages */
	/* Calls beyond the server's SETTINGS_MAX_CONCURRENT_STREAMS wait in
	 * a queue of at most this many (default 65536; NET_E_STATE after). */
	uint32_t max_queued;
};

/* Result of one call.  Pointers valid only during the callback. */
struct net_grpc_result {
	int err;             /* 0, or NET_E_* / -errno when the transport failed */
	int status;          /* grpc-status (UNAVAILABLE etc. when err != 0) */
	const char *message; /* decoded grpc-message, "" when none */
	const uint8_t *msg;  /* response message (NULL when none) */
	size_t msg_len;
	int http_status;     /* :status, 0 when none arrived */
};

/* Called exactly once per accepted call, on the loop thread. */
typedef void (*net_grpc_done_fn)(void *userdata, const struct net_grpc_result *res);

/* Create a client on loop (NULL: the client runs a private loop thread).
 * Connects lazily, and again after the connection is lost.
 * Errors: NET_E_CONFIG, NET_E_ADDRESS, NET_E_TLS, -ENOMEM. */
int net_grpc_client_new(struct net_grpc_client **ret, struct net_loop *loop,
			const struct net_grpc_client_opts *opts);
/* Start a unary call on method ("/pkg.Service/Method").  metadata, msg are
 * copied.  timeout_ms 0 = none (else sent as grpc-timeout and enforced).
 * Thread-safe.  done is called exactly once, also on failure, unless this
 * returns an error (-ENOMEM, NET_E_STATE after free began or queue full,
 * NET_E_TOOBIG). */
int net_grpc_client_call_async(struct net_grpc_client *c, const char *method,
			       const struct net_header *metadata, size_t n_metadata,
			       const void *msg, size_t msg_len, uint32_t timeout_ms,
			       net_grpc_done_fn done, void *userdata);

/* Blocking wrapper result (owned; release with net_grpc_reply_clear()). */
struct net_grpc_reply {
	int status;
	char *message;
	uint8_t *msg;
	size_t msg_len;
	int http_status;
};
/* Blocking unary call; not from the loop's thread (NET_E_STATE).  Returns 0
 * when a gRPC status arrived (check ret->status), else the transport error
 * (NET_E_TIMEOUT with status DEADLINE_EXCEEDED, NET_E_CLOSED, NET_E_VERIFY,
 * -ECONNREFUSED...).  Unless it fails before the call starts (NET_E_CONFIG,
 * NET_E_STATE, -ENOMEM, NET_E_TOOBIG), *ret is filled in every case and must
 * be released with net_grpc_reply_clear(). */
int net_grpc_client_call(struct net_grpc_client *c, const char *method,
			 const struct net_header *metadata, size_t n_metadata,
			 const void *msg, size_t msg_len, uint32_t timeout_ms,
			 struct net_grpc_reply *ret);
void net_grpc_reply_clear(struct net_grpc_reply *r);
/* Fails calls still in flight (done gets NET_E_CANCELLED), closes the
 * connection and frees.  The loop must be running (or this be called on
 * it); no call_async may race with it.  NULL accepted. */
void net_grpc_client_free(struct net_grpc_client *c);

#ifdef __cplusplus
}
#endif

#endif /* CCSERVE_NET_H */
