/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Server and clients of the net library against each other on 127.0.0.1,
 * in one process (so ASan sees both sides): TLS verification paths, HTTP/1.1
 * keep-alive and cookies, asynchronous answers from other threads, gRPC
 * unary calls, compression, status and message encoding, deadlines and
 * cancellation, many concurrent streams, graceful shutdown.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "ccserve/net.h"
#include "ccserve/util.h"
#include "testpki.h"

static struct test_pki pki;

/* ------------------------------------------------------------------------ */
/* The server under test                                                    */

#define MAX_HELD 1024
static pthread_mutex_t held_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t held_cv = PTHREAD_COND_INITIALIZER;
static struct net_request *held[MAX_HELD];
static int n_held;
static int n_cancelled;
static int max_inflight, inflight;

static void hold(struct net_request *req)
{
	pthread_mutex_lock(&held_mu);
	if (n_held < MAX_HELD)
		held[n_held++] = req;
	pthread_cond_broadcast(&held_cv);
	pthread_mutex_unlock(&held_mu);
}

static struct net_request *take_held(void)
{
	struct net_request *r = NULL;
	pthread_mutex_lock(&held_mu);
	if (n_held)
		r = held[--n_held];
	pthread_mutex_unlock(&held_mu);
	return r;
}

/* Wait (bounded, not a timing assert) for n held requests. */
static bool wait_held(int n)
{
	bool ok = true;
	pthread_mutex_lock(&held_mu);
	uint64_t until = cc_mono_ns() + 20ull * 1000000000ull;
	while (n_held < n) {
		if (cc_mono_ns() > until) {
			ok = false;
			break;
		}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 10000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&held_cv, &held_mu, &ts);
	}
	pthread_mutex_unlock(&held_mu);
	return ok;
}

static bool wait_cancelled(int n)
{
	bool ok = true;
	pthread_mutex_lock(&held_mu);
	uint64_t until = cc_mono_ns() + 20ull * 1000000000ull;
	while (n_cancelled < n) {
		if (cc_mono_ns() > until) {
			ok = false;
			break;
		}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 10000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&held_cv, &held_mu, &ts);
	}
	pthread_mutex_unlock(&held_mu);
	return ok;
}

static void on_cancel(void *ud, struct net_request *req)
{
	pthread_mutex_lock(&held_mu);
	n_cancelled++;
	pthread_cond_broadcast(&held_cv);
	pthread_mutex_unlock(&held_mu);
}

static void body_free_cb(void *body, void *ud)
{
	free(body);
}

/* Answers /async requests from another thread. */
static void *async_answer(void *arg)
{
	struct net_request *req = arg;
	usleep(2000);
	size_t len;
	const uint8_t *b = net_request_body(req, &len);
	struct net_header h = {"x-async", "yes"};
	/* Zero-copy body: a malloc'ed copy handed over with a free callback. */
	uint8_t *copy = malloc(len ? len : 1);
	memcpy(copy, b, len);
	struct net_response r = {.status = 201, .headers = &h, .n_headers = 1, .body = copy,
				 .body_len = len, .body_free = body_free_cb};
	net_response_send(req, &r);
	return NULL;
}


static void *grpc_async_answer(void *arg)
{
	struct net_request *req = arg;
	size_t len;
	const uint8_t *b = net_request_body(req, &len);
	uint8_t *copy = malloc(len + 1);
	memcpy(copy, b, len);
	struct net_grpc_response g = {.status = 0, .has_msg = true, .msg = copy, .msg_len = len,
				      .msg_free = body_free_cb};
	pthread_mutex_lock(&held_mu);
	inflight--;
	pthread_mutex_unlock(&held_mu);
	net_grpc_send(req, &g);
	return NULL;
}

static void handler(void *ud, struct net_request *req)
{
	const char *path = net_request_path(req);
	if (net_request_is_grpc(req)) {
		size_t len;
		const uint8_t *body = net_request_body(req, &len);
		if (strcmp(path, "/test.Echo/Hold") == 0) {
			hold(req);
			return;
		}
		if (strncmp(path, "/test.Hdr/", 10) == 0) {
			/* Tell what arrived: path, grpc-timeout, x-md, body. */
			const char *to = net_request_header(req, "grpc-timeout");
			const char *md = net_request_header(req, "x-md");
			char out[512];
			int n = snprintf(out, sizeof(out), "%s|%s|%s|%.*s", path, to ? to : "-",
					 md ? md : "-", (int)len, (const char *)body);
			struct net_grpc_response g = {.status = 0, .has_msg = true, .msg = out,
						      .msg_len = (size_t)n};
			net_grpc_send(req, &g);
			return;
		}
		if (strcmp(path, "/test.Echo/Async") == 0) {
			pthread_mutex_lock(&held_mu);
			if (++inflight > max_inflight)
				max_inflight = inflight;
			pthread_mutex_unlock(&held_mu);
			pthread_t t;
			pthread_create(&t, NULL, grpc_async_answer, req);
			pthread_detach(t);
			return;
		}
		if (strcmp(path, "/test.Echo/Echo") != 0) {
			struct net_grpc_response g = {.status = NET_GRPC_UNIMPLEMENTED,
						      .message = "unknown method"};
			net_grpc_send(req, &g);
			return;
		}
		const char *st = net_request_header(req, "x-status");
		if (st) {
			uint64_t v = 2;
			cc_parse_u64(st, &v);
			struct net_grpc_response g = {.status = (int)v,
						      .message = "bad input: 100% \xc3\xbc\n"};
			net_grpc_send(req, &g);
			return;
		}
		const char *cz = net_request_header(req, "x-compress");
		const char *rep = net_request_header(req, "x-repeat");
		uint64_t nrep = 0;
		if (rep)
			cc_parse_u64(rep, &nrep);
		struct net_grpc_response g = {.status = 0, .has_msg = true, .msg = body,
					      .msg_len = len, .compress = cz != NULL};
		uint8_t *big = NULL;
		if (nrep) {
			big = malloc(nrep);
			memset(big, 'r', nrep);
			g.msg = big;
			g.msg_len = nrep;
		}
		struct net_header tr = {"x-trailer", "t"};
		g.trailers = &tr;
		g.n_trailers = 1;
		net_grpc_send(req, &g);
		free(big);
		return;
	}
	if (strcmp(path, "/async") == 0) {
		pthread_t t;
		pthread_create(&t, NULL, async_answer, req);
		pthread_detach(t);
		return;
	}
	if (strcmp(path, "/hold") == 0) {
		hold(req);
		return;
	}
	struct net_response r = {.status = 200};
	struct net_header hs[2];
	size_t nh = 0;
	if (strcmp(path, "/hello") == 0) {
		r.body = "hello";
		r.body_len = 5;
	} else if (strcmp(path, "/echo") == 0) {
		r.body = net_request_body(req, &r.body_len);
	} else if (strcmp(path, "/setcookie") == 0) {
		hs[nh++] = (struct net_header){"set-cookie", "sid=abc123; Path=/; HttpOnly"};
	} else if (strcmp(path, "/cookie") == 0) {
		const char *c = net_request_header(req, "cookie");
		r.body = c ? c : "";
		r.body_len = strlen(r.body);
	} else if (strcmp(path, "/peer") == 0) {
		r.body = net_request_peer_verified(req) ? "verified" : "anonymous";
		r.body_len = strlen(r.body);
	} else if (strcmp(path, "/bad-header") == 0) {
		hs[nh++] = (struct net_header){"content-length", "5"};
	} else {
		r.status = 404;
	}
	r.headers = hs;
	r.n_headers = nh;
	bool expect_bad = strcmp(path, "/bad-header") == 0;
	int rc = net_response_send(req, &r); /* req (and path) gone after this */
	if (expect_bad)
		assert_int_equal(rc, NET_E_CONFIG);
	else
		assert_int_equal(rc, 0);
}

struct srv_cfg {
	bool insecure;
	enum net_client_verify cv;
	uint32_t max_streams;
	unsigned threads;
	size_t conn_buffer;
};

static struct net_server *start_server(const struct srv_cfg *cfg, uint16_t *port)
{
	struct net_tls_opts tls = {
		.cert_pem = pki.server_cert_pem,
		.key_pem = pki.server_key_pem,
		.ca_pem = cfg->cv ? pki.ca_pem : NULL,
		.client_verify = cfg->cv,
	};
	const char *listen[] = {"127.0.0.1:0"};
	struct net_server_opts o = {
		.listen = listen,
		.n_listen = 1,
		.tls = cfg->insecure ? NULL : &tls,
		.insecure = cfg->insecure,
		.io_threads = cfg->threads ? cfg->threads : 2,
		.limits = {.max_concurrent_streams = cfg->max_streams,
			   .max_conn_buffer = cfg->conn_buffer},
		.handler = handler,
		.on_cancel = on_cancel,
	};
	struct net_server *srv = NULL;
	assert_int_equal(net_server_new(&srv, &o), 0);
	assert_int_equal(net_server_start(srv), 0);
	*port = net_server_port(srv, 0);
	assert_true(*port > 0);
	pthread_mutex_lock(&held_mu);
	n_cancelled = 0;
	n_held = 0;
	max_inflight = inflight = 0;
	pthread_mutex_unlock(&held_mu);
	return srv;
}

static struct net_http_client *http_client(uint16_t port, const struct net_tls_opts *tls,
					   const char *host, bool insecure)
{
	char url[128];
	snprintf(url, sizeof(url), "%s://%s:%u", insecure ? "http" : "https", host, port);
	struct net_http_client_opts o = {.url = url, .tls = tls, .insecure = insecure,
					 .cookies = true, .timeout_ms = 20000};
	struct net_http_client *c = NULL;
	assert_int_equal(net_http_client_new(&c, &o), 0);
	return c;
}

/* ------------------------------------------------------------------------ */

static void test_config_errors(void **state)
{
	struct net_server *srv = NULL;
	const char *listen[] = {"127.0.0.1:0"};
	struct net_server_opts o = {.listen = listen, .n_listen = 1, .handler = handler};
	/* neither TLS nor explicit insecure */
	assert_int_equal(net_server_new(&srv, &o), NET_E_CONFIG);
	/* key that does not match the certificate */
	struct net_tls_opts tls = {.cert_pem = pki.server_cert_pem, .key_pem = pki.client_key_pem};
	o.tls = &tls;
	assert_int_equal(net_server_new(&srv, &o), NET_E_TLS);
	/* garbage PEM */
	tls.cert_pem = "not a certificate";
	assert_int_equal(net_server_new(&srv, &o), NET_E_TLS);
	/* bad address */
	const char *bad[] = {"localhost:80"};
	o.tls = NULL;
	o.insecure = true;
	o.listen = bad;
	assert_int_equal(net_server_new(&srv, &o), NET_E_ADDRESS);
	const char *bad2[] = {"127.0.0.1:99999"};
	o.listen = bad2;
	assert_int_equal(net_server_new(&srv, &o), NET_E_ADDRESS);
	/* client: http:// without insecure */
	struct net_http_client *c = NULL;
	struct net_http_client_opts co = {.url = "http://127.0.0.1:1"};
	assert_int_equal(net_http_client_new(&c, &co), NET_E_CONFIG);
	co.url = "ftp://x";
	assert_int_equal(net_http_client_new(&c, &co), NET_E_ADDRESS);
	net_server_free(NULL);
	net_http_client_free(NULL);
	net_grpc_client_free(NULL);
}

static void test_http1_tls(void **state)
{
	uint16_t port;
	struct srv_cfg cfg = {0};
	struct net_server *srv = start_server(&cfg, &port);
	struct net_tls_opts ctls = {.ca_pem = pki.ca_pem};
	struct net_http_client *c = http_client(port, &ctls, "localhost", false);
	struct net_http_response r;
	assert_int_equal(net_http_client_request(c, "GET", "/hello", NULL, 0, NULL, 0, &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, 5);
	assert_string_equal((char *)r.body, "hello");
	assert_string_equal(net_http_response_header(&r, "Content-Length"), "5");
	net_http_response_clear(&r);
	/* POST with a body, on the kept-alive connection */
	char big[100000];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	struct net_header h = {"content-type", "application/octet-stream"};
	assert_int_equal(net_http_client_request(c, "POST", "/echo", &h, 1, big, sizeof(big), &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, sizeof(big));
	assert_memory_equal(r.body, big, sizeof(big));
	net_http_response_clear(&r);
	/* cookies */
	assert_int_equal(net_http_client_request(c, "GET", "/setcookie", NULL, 0, NULL, 0, &r), 0);
	net_http_response_clear(&r);
	assert_string_equal(net_http_client_cookie(c, "sid"), "abc123");
	assert_int_equal(net_http_client_request(c, "GET", "/cookie", NULL, 0, NULL, 0, &r), 0);
	assert_string_equal((char *)r.body, "sid=abc123");
	net_http_response_clear(&r);
	/* asynchronous answer from another thread, zero-copy body */
	assert_int_equal(net_http_client_request(c, "POST", "/async", NULL, 0, "xyz", 3, &r), 0);
	assert_int_equal(r.status, 201);
	assert_string_equal((char *)r.body, "xyz");
	assert_string_equal(net_http_response_header(&r, "x-async"), "yes");
	net_http_response_clear(&r);
	/* HEAD: headers only */
	assert_int_equal(net_http_client_request(c, "HEAD", "/hello", NULL, 0, NULL, 0, &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, 0);
	net_http_response_clear(&r);
	/* a handler's forbidden header becomes a 500 */
	assert_int_equal(net_http_client_request(c, "GET", "/bad-header", NULL, 0, NULL, 0, &r), 0);
	assert_int_equal(r.status, 500);
	net_http_response_clear(&r);
	assert_int_equal(net_http_client_request(c, "GET", "/nope", NULL, 0, NULL, 0, &r), 0);
	assert_int_equal(r.status, 404);
	net_http_response_clear(&r);
	/* bad arguments */
	assert_int_equal(net_http_client_request(c, "get", "/", NULL, 0, NULL, 0, &r), NET_E_CONFIG);
	assert_int_equal(net_http_client_request(c, "GET", "x", NULL, 0, NULL, 0, &r), NET_E_CONFIG);
	struct net_header bad = {"x", "a\r\nb"};
	assert_int_equal(net_http_client_request(c, "GET", "/", &bad, 1, NULL, 0, &r), NET_E_CONFIG);
	net_http_client_free(c);
	net_server_free(srv);
}

static int verify_calls;
static int verify_cb(void *ud, bool chain_ok, const uint8_t *der, size_t len)
{
	verify_calls++;
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	int ok = x != NULL && chain_ok;
	X509_free(x);
	return ok ? *(int *)ud : -1;
}

static void spki_hash(const char *pem, uint8_t out[32])
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	unsigned char *der = NULL;
	int n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
	unsigned ml;
	EVP_Digest(der, (size_t)n, out, &ml, EVP_sha256(), NULL);
	OPENSSL_free(der);
	X509_free(x);
	BIO_free(b);
}

static void test_tls_verify(void **state)
{
	uint16_t port;
	struct srv_cfg cfg = {0};
	struct net_server *srv = start_server(&cfg, &port);
	struct net_http_response r;
	/* unrelated CA */
	struct net_tls_opts other = {.ca_pem = pki.other_ca_pem};
	struct net_http_client *c = http_client(port, &other, "localhost", false);
	assert_int_equal(net_http_client_request(c, "GET", "/hello", NULL, 0, NULL, 0, &r), NET_E_VERIFY);
	net_http_client_free(c);
	/* wrong host name */
	struct net_tls_opts wrong = {.ca_pem = pki.ca_pem, .server_name = "example.com"};
	c = http_client(port, &wrong, "127.0.0.1", false);
	assert_int_equal(net_http_client_request(c, "GET", "/hello", NULL, 0, NULL, 0, &r), NET_E_VERIFY);
	net_http_client_free(c);
	/* IP literal checked against the IP SAN */
	struct net_tls_opts byip = {.ca_pem = pki.ca_pem};
	c = http_client(port, &byip, "127.0.0.1", false);
	assert_int_equal(net_http_client_request(c, "GET", "/hello", NULL, 0, NULL, 0, &r), 0);
	net_http_response_clear(&r);
	net_http_client_free(c);
	/* SPKI pin: right and wrong */
	uint8_t pin[32];
	spki_hash(pki.server_cert_pem, pin);
	struct net_tls_opts pinned = {.ca_pem = pki.ca_pem, .spki_sha256 = pin};
	c = http_client(port, &pinned, "localhost", false);
	assert_int_equal(net_http_client_request(c, "GET", "/hello", NULL, 0, NULL, 0, &r), 0);
	net_http_response_clear(&r);
	net_http_client_free(c);
	pin[0] ^= 1;
	c = http_client(port, &pinned, "localhost", false);
	assert_int_equal(net_http_client_request(c, "GET", "/hello", NULL, 0, NULL, 0, &r), NET_E_VERIFY);
	net_http_client_free(c);
	/* custom verify callback: sees the leaf, its verdict is final */
	int accept = 0;
	struct net_tls_opts cb = {.ca_pem = pki.ca_pem, .verify = verify_cb, .verify_userdata = &accept};
	verify_calls = 0;
	c = http_client(port, &cb, "localhost", false);
	assert_int_equal(net_http_client_request(c, "GET", "/hello", NULL, 0, NULL, 0, &r), 0);
	net_http_response_clear(&r);
	net_http_client_free(c);
	assert_int_equal(verify_calls, 1);
	accept = -1;
	c = http_client(port, &cb, "localhost", false);
	assert_int_equal(net_http_client_request(c, "GET", "/hello", NULL, 0, NULL, 0, &r), NET_E_VERIFY);
	net_http_client_free(c);
	/* gRPC client with the wrong CA */
	struct net_grpc_client_opts go = {.tls = &other};
	char addr[64];
	snprintf(addr, sizeof(addr), "localhost:%u", port);
	go.address = addr;
	struct net_grpc_client *g = NULL;
	assert_int_equal(net_grpc_client_new(&g, NULL, &go), 0);
	struct net_grpc_reply rep;
	assert_int_equal(net_grpc_client_call(g, "/test.Echo/Echo", NULL, 0, "x", 1, 5000, &rep), NET_E_VERIFY);
	assert_int_equal(rep.status, NET_GRPC_UNAVAILABLE);
	net_grpc_reply_clear(&rep);
	net_grpc_client_free(g);
	net_server_free(srv);
}

/* Custom TLS extension through ctx_hook on both sides (the mechanism an
 * attested-TLS mode will use to carry evidence). */
#define TEST_EXT_TYPE 1000 /* unassigned in the IANA registry */
static int ext_seen;

static int ext_add(SSL *s, unsigned int type, unsigned int context, const unsigned char **out,
		   size_t *outlen, X509 *x, size_t chainidx, int *al, void *add_arg)
{
	static const unsigned char payload[] = "evidence";
	*out = payload;
	*outlen = sizeof(payload) - 1;
	return 1;
}

static int ext_parse(SSL *s, unsigned int type, unsigned int context, const unsigned char *in,
		     size_t inlen, X509 *x, size_t chainidx, int *al, void *parse_arg)
{
	if (inlen == 8 && memcmp(in, "evidence", 8) == 0)
		__atomic_add_fetch(&ext_seen, 1, __ATOMIC_SEQ_CST);
	return 1;
}

static int client_hook(void *ud, struct ssl_ctx_st *ctx)
{
	return SSL_CTX_add_custom_ext(ctx, TEST_EXT_TYPE, SSL_EXT_CLIENT_HELLO, ext_add, NULL, NULL,
				      NULL, NULL) == 1 ? 0 : -1;
}

static int server_hook(void *ud, struct ssl_ctx_st *ctx)
{
	return SSL_CTX_add_custom_ext(ctx, TEST_EXT_TYPE, SSL_EXT_CLIENT_HELLO, NULL, NULL, NULL,
				      ext_parse, NULL) == 1 ? 0 : -1;
}

static int failing_hook(void *ud, struct ssl_ctx_st *ctx)
{
	return -EPERM;
}

static void test_tls_hooks(void **state)
{
	struct net_tls_opts tls = {.cert_pem = pki.server_cert_pem, .key_pem = pki.server_key_pem,
				   .ctx_hook = server_hook};
	const char *listen[] = {"127.0.0.1:0"};
	struct net_server_opts o = {.listen = listen, .n_listen = 1, .tls = &tls, .io_threads = 1,
				    .handler = handler};
	struct net_server *srv = NULL;
	assert_int_equal(net_server_new(&srv, &o), 0);
	assert_int_equal(net_server_start(srv), 0);
	uint16_t port = net_server_port(srv, 0);
	struct net_tls_opts ctls = {.ca_pem = pki.ca_pem, .ctx_hook = client_hook};
	struct net_http_client *c = http_client(port, &ctls, "localhost", false);
	struct net_http_response r;
	ext_seen = 0;
	assert_int_equal(net_http_client_request(c, "GET", "/hello", NULL, 0, NULL, 0, &r), 0);
	net_http_response_clear(&r);
	net_http_client_free(c);
	assert_int_equal(__atomic_load_n(&ext_seen, __ATOMIC_SEQ_CST), 1);
	net_server_free(srv);
	/* a hook's error fails the constructor with it */
	tls.ctx_hook = failing_hook;
	assert_int_equal(net_server_new(&srv, &o), -EPERM);
}

static void test_mtls(void **state)
{
	uint16_t port;
	struct srv_cfg cfg = {.cv = NET_CLIENT_VERIFY_REQUIRE};
	struct net_server *srv = start_server(&cfg, &port);
	struct net_http_response r;
	struct net_tls_opts anon = {.ca_pem = pki.ca_pem};
	struct net_http_client *c = http_client(port, &anon, "localhost", false);
	int rc = net_http_client_request(c, "GET", "/peer", NULL, 0, NULL, 0, &r);
	/* TLS 1.3: the refusal arrives after the client's handshake ends. */
	assert_true(rc == NET_E_TLS || rc == NET_E_CLOSED || rc == NET_E_PROTO);
	net_http_client_free(c);
	struct net_tls_opts withcert = {.ca_pem = pki.ca_pem, .cert_pem = pki.client_cert_pem,
					.key_pem = pki.client_key_pem};
	c = http_client(port, &withcert, "localhost", false);
	assert_int_equal(net_http_client_request(c, "GET", "/peer", NULL, 0, NULL, 0, &r), 0);
	assert_string_equal((char *)r.body, "verified");
	net_http_response_clear(&r);
	net_http_client_free(c);
	net_server_free(srv);
}

/* Also the regression test for SIGPIPE: this process does not ignore it, and
 * the refused client writes to a socket the server closed. */
static void test_max_connections(void **state)
{
	struct net_tls_opts tls = {.cert_pem = pki.server_cert_pem, .key_pem = pki.server_key_pem};
	const char *listen[] = {"127.0.0.1:0", "[::1]:0"};
	struct net_server_opts o = {.listen = listen, .n_listen = 1, .tls = &tls, .io_threads = 2,
				    .limits = {.max_connections = 1}, .handler = handler};
	struct net_server *srv = NULL;
	assert_int_equal(net_server_new(&srv, &o), 0);
	assert_int_equal(net_server_start(srv), 0);
	uint16_t port = net_server_port(srv, 0);
	assert_int_equal(net_server_port(srv, 1), 0); /* out of range */
	struct net_tls_opts ctls = {.ca_pem = pki.ca_pem};
	struct net_http_client *a = http_client(port, &ctls, "localhost", false);
	struct net_http_client *b = http_client(port, &ctls, "localhost", false);
	struct net_http_response r;
	assert_int_equal(net_http_client_request(a, "GET", "/hello", NULL, 0, NULL, 0, &r), 0);
	net_http_response_clear(&r);
	/* a's kept-alive connection holds the only slot */
	int rc = net_http_client_request(b, "GET", "/hello", NULL, 0, NULL, 0, &r);
	assert_true(rc == NET_E_TLS || rc == NET_E_CLOSED || rc == -ECONNRESET);
	net_http_client_free(a);
	/* the slot frees once the server has seen a go (asynchronous) */
	for (int i = 0; i < 200; i++) {
		rc = net_http_client_request(b, "GET", "/hello", NULL, 0, NULL, 0, &r);
		if (rc == 0)
			break;
		usleep(20000);
	}
	assert_int_equal(rc, 0);
	net_http_response_clear(&r);
	net_http_client_free(b);
	net_server_free(srv);
}

static void test_grpc_unary(void **state)
{
	uint16_t port;
	struct srv_cfg cfg = {0};
	struct net_server *srv = start_server(&cfg, &port);
	char addr[64];
	snprintf(addr, sizeof(addr), "localhost:%u", port);
	struct net_tls_opts tls = {.ca_pem = pki.ca_pem};
	struct net_grpc_client_opts go = {.address = addr, .tls = &tls};
	struct net_grpc_client *g = NULL;
	assert_int_equal(net_grpc_client_new(&g, NULL, &go), 0);
	struct net_grpc_reply rep;
	assert_int_equal(net_grpc_client_call(g, "/test.Echo/Echo", NULL, 0, "ping", 4, 10000, &rep), 0);
	assert_int_equal(rep.status, 0);
	assert_int_equal(rep.msg_len, 4);
	assert_memory_equal(rep.msg, "ping", 4);
	assert_int_equal(rep.http_status, 200);
	net_grpc_reply_clear(&rep);
	/* empty message */
	assert_int_equal(net_grpc_client_call(g, "/test.Echo/Echo", NULL, 0, NULL, 0, 0, &rep), 0);
	assert_int_equal(rep.status, 0);
	assert_int_equal(rep.msg_len, 0);
	net_grpc_reply_clear(&rep);
	/* error status with a percent-encoded message */
	struct net_header md = {"x-status", "9"};
	assert_int_equal(net_grpc_client_call(g, "/test.Echo/Echo", &md, 1, "", 0, 0, &rep), 0);
	assert_int_equal(rep.status, NET_GRPC_FAILED_PRECONDITION);
	assert_string_equal(rep.message, "bad input: 100% \xc3\xbc\n");
	assert_null(rep.msg);
	net_grpc_reply_clear(&rep);
	/* unknown method */
	assert_int_equal(net_grpc_client_call(g, "/test.Echo/Nope", NULL, 0, "", 0, 0, &rep), 0);
	assert_int_equal(rep.status, NET_GRPC_UNIMPLEMENTED);
	net_grpc_reply_clear(&rep);
	/* a large message, both directions */
	size_t n = 3u << 20;
	uint8_t *big = malloc(n);
	for (size_t i = 0; i < n; i++)
		big[i] = (uint8_t)(i * 31);
	assert_int_equal(net_grpc_client_call(g, "/test.Echo/Echo", NULL, 0, big, n, 0, &rep), 0);
	assert_int_equal(rep.status, 0);
	assert_int_equal(rep.msg_len, n);
	assert_memory_equal(rep.msg, big, n);
	net_grpc_reply_clear(&rep);
	net_grpc_client_free(g);

	/* gzip both ways */
	go.compress = true;
	assert_int_equal(net_grpc_client_new(&g, NULL, &go), 0);
	struct net_header cz = {"x-compress", "1"};
	memset(big, 'z', n);
	assert_int_equal(net_grpc_client_call(g, "/test.Echo/Echo", &cz, 1, big, n, 0, &rep), 0);
	assert_int_equal(rep.status, 0);
	assert_int_equal(rep.msg_len, n);
	assert_memory_equal(rep.msg, big, n);
	net_grpc_reply_clear(&rep);
	net_grpc_client_free(g);

	/* the client's response cap */
	go.compress = false;
	go.max_message = 1000;
	assert_int_equal(net_grpc_client_new(&g, NULL, &go), 0);
	struct net_header rp = {"x-repeat", "5000"};
	assert_int_equal(net_grpc_client_call(g, "/test.Echo/Echo", &rp, 1, "", 0, 0, &rep), NET_E_TOOBIG);
	assert_int_equal(rep.status, NET_GRPC_RESOURCE_EXHAUSTED);
	net_grpc_reply_clear(&rep);
	/* the connection is still usable */
	assert_int_equal(net_grpc_client_call(g, "/test.Echo/Echo", NULL, 0, "ok", 2, 0, &rep), 0);
	assert_int_equal(rep.status, 0);
	net_grpc_reply_clear(&rep);
	assert_int_equal(net_grpc_client_call(g, "/test.Echo/Echo", NULL, 0, big, 2000, 0, &rep), NET_E_TOOBIG);
	net_grpc_client_free(g);
	free(big);
	net_server_free(srv);
}

struct many_ctx {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done, ok, started, total, window, issue_errors;
	struct net_grpc_client *g;
};

static void many_done(void *ud, const struct net_grpc_result *res);

static void many_issue(struct many_ctx *m)
{
	char msg[32];
	int n = snprintf(msg, sizeof(msg), "call-%d", m->started);
	m->started++;
	/* May run on the loop thread: no cmocka assertion here (it would
	 * longjmp across threads); record and check on the test thread. */
	int rc = net_grpc_client_call_async(m->g, "/test.Echo/Async", NULL, 0, msg, (size_t)n,
					    20000, many_done, m);
	if (rc != 0) {
		print_message("call_async: %s\n", net_strerror(rc));
		m->issue_errors++;
		m->done++; /* never completes */
	}
}

static void many_done(void *ud, const struct net_grpc_result *res)
{
	struct many_ctx *m = ud;
	/* runs on the loop thread: keep the window full from here */
	pthread_mutex_lock(&m->mu);
	m->done++;
	if (res->err == 0 && res->status == 0 && res->msg_len >= 6 && memcmp(res->msg, "call-", 5) == 0)
		m->ok++;
	else
		print_message("call failed: err %d status %d (%s)\n", res->err, res->status, res->message);
	bool more = m->started < m->total;
	if (more)
		many_issue(m);
	pthread_cond_signal(&m->cv);
	pthread_mutex_unlock(&m->mu);
}

static void test_grpc_many_streams(void **state)
{
	uint16_t port;
	struct srv_cfg cfg = {.max_streams = 8, .threads = 1};
	struct net_server *srv = start_server(&cfg, &port);
	char addr[64];
	snprintf(addr, sizeof(addr), "localhost:%u", port);
	struct net_tls_opts tls = {.ca_pem = pki.ca_pem};
	struct net_grpc_client_opts go = {.address = addr, .tls = &tls};
	struct net_loop *loop;
	assert_int_equal(net_loop_new(&loop), 0);
	assert_int_equal(net_loop_start(loop), 0);
	struct many_ctx m = {.total = 400, .window = 64};
	pthread_mutex_init(&m.mu, NULL);
	pthread_cond_init(&m.cv, NULL);
	assert_int_equal(net_grpc_client_new(&m.g, loop, &go), 0);
	pthread_mutex_lock(&m.mu);
	for (int i = 0; i < m.window; i++)
		many_issue(&m);
	while (m.done < m.total)
		pthread_cond_wait(&m.cv, &m.mu);
	pthread_mutex_unlock(&m.mu);
	assert_int_equal(m.issue_errors, 0);
	assert_int_equal(m.ok, m.total);
	/* the server's SETTINGS_MAX_CONCURRENT_STREAMS held */
	pthread_mutex_lock(&held_mu);
	int mi = max_inflight;
	pthread_mutex_unlock(&held_mu);
	assert_true(mi >= 1);
	assert_true(mi <= 8);
	net_grpc_client_free(m.g);
	net_loop_free(loop);
	net_server_free(srv);
}

/* Calls over many (method, timeout, metadata) combinations, more than the
 * client caches header blocks for, chained from the loop thread (each done
 * callback starts the next call): every call must arrive with its own
 * path, grpc-timeout, metadata and body. */
#define HDR_CALLS 120
struct hdr_ctx {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct net_grpc_client *g;
	int next, done, ok, issue_errors;
	char bad[256];
};

static void hdr_done(void *ud, const struct net_grpc_result *res);

static void hdr_expect(int i, char *method, size_t msz, uint32_t *timeout_ms, char *md,
		       size_t mdsz, char *body, size_t bsz, char *want, size_t wsz)
{
	snprintf(method, msz, "/test.Hdr/m%d", i % 24);
	*timeout_ms = (i / 24) % 3 == 0 ? 0 : 20000u + (uint32_t)(i % 5);
	if (i % 2)
		snprintf(md, mdsz, "v%d", i);
	else
		md[0] = 0;
	snprintf(body, bsz, "b%d", i);
	char to[16] = "-";
	if (*timeout_ms)
		net_grpc_timeout_format((uint64_t)*timeout_ms * 1000000u, to, sizeof(to));
	snprintf(want, wsz, "%s|%s|%s|%s", method, to, md[0] ? md : "-", body);
}

static void hdr_issue(struct hdr_ctx *h)
{
	char method[64], md[32], body[32], want[160];
	uint32_t to;
	int i = h->next++;
	hdr_expect(i, method, sizeof(method), &to, md, sizeof(md), body, sizeof(body), want,
		   sizeof(want));
	struct net_header mh = {"x-md", md};
	int rc = net_grpc_client_call_async(h->g, method, md[0] ? &mh : NULL, md[0] ? 1 : 0, body,
					    strlen(body), to, hdr_done, (void *)(intptr_t)i);
	if (rc != 0) {
		h->issue_errors++;
		h->done++;
	}
}

static struct hdr_ctx *g_hdr;

static void hdr_done(void *ud, const struct net_grpc_result *res)
{
	struct hdr_ctx *h = g_hdr;
	int i = (int)(intptr_t)ud;
	char method[64], md[32], body[32], want[160];
	uint32_t to;
	hdr_expect(i, method, sizeof(method), &to, md, sizeof(md), body, sizeof(body), want,
		   sizeof(want));
	pthread_mutex_lock(&h->mu);
	h->done++;
	if (res->err == 0 && res->status == 0 && res->msg_len == strlen(want) &&
	    memcmp(res->msg, want, res->msg_len) == 0)
		h->ok++;
	else if (!h->bad[0])
		snprintf(h->bad, sizeof(h->bad), "call %d: err %d status %d got \"%.*s\" want \"%s\"", i,
			 res->err, res->status, res->msg ? (int)res->msg_len : 0,
			 res->msg ? (const char *)res->msg : "", want);
	if (h->next < HDR_CALLS)
		hdr_issue(h);
	pthread_cond_signal(&h->cv);
	pthread_mutex_unlock(&h->mu);
}

static void test_grpc_header_blocks_and_reuse(void **state)
{
	uint16_t port;
	struct srv_cfg cfg = {0};
	struct net_server *srv = start_server(&cfg, &port);
	char addr[64];
	snprintf(addr, sizeof(addr), "localhost:%u", port);
	struct net_tls_opts tls = {.ca_pem = pki.ca_pem};
	struct net_grpc_client_opts go = {.address = addr, .tls = &tls};
	struct net_loop *loop;
	assert_int_equal(net_loop_new(&loop), 0);
	assert_int_equal(net_loop_start(loop), 0);
	struct hdr_ctx h = {0};
	pthread_mutex_init(&h.mu, NULL);
	pthread_cond_init(&h.cv, NULL);
	g_hdr = &h;
	assert_int_equal(net_grpc_client_new(&h.g, loop, &go), 0);
	/* Four chains in flight: the first calls from this thread, the rest
	 * from done callbacks on the loop thread. */
	pthread_mutex_lock(&h.mu);
	for (int i = 0; i < 4; i++)
		hdr_issue(&h);
	while (h.done < HDR_CALLS)
		pthread_cond_wait(&h.cv, &h.mu);
	pthread_mutex_unlock(&h.mu);
	if (h.bad[0])
		print_message("%s\n", h.bad);
	assert_int_equal(h.issue_errors, 0);
	assert_int_equal(h.ok, HDR_CALLS);

	/* Reused call objects: bodies and answers of changing sizes (above
	 * and below what a pooled call keeps) never leak into each other. */
	static const size_t sizes[] = {70000, 5, 0, 65536, 100, 3, 200000, 1};
	uint8_t *buf = malloc(200000);
	assert_non_null(buf);
	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < CC_ARRAY_SIZE(sizes); i++) {
			for (size_t j = 0; j < sizes[i]; j++)
				buf[j] = (uint8_t)(j * 7 + i + (size_t)round);
			struct net_grpc_reply rep;
			assert_int_equal(net_grpc_client_call(h.g, "/test.Echo/Echo", NULL, 0, buf,
							      sizes[i], 10000, &rep), 0);
			assert_int_equal(rep.status, 0);
			assert_int_equal(rep.msg_len, sizes[i]);
			if (sizes[i])
				assert_memory_equal(rep.msg, buf, sizes[i]);
			net_grpc_reply_clear(&rep);
		}
	}
	free(buf);
	net_grpc_client_free(h.g);
	net_loop_free(loop);
	net_server_free(srv);
	pthread_mutex_destroy(&h.mu);
	pthread_cond_destroy(&h.cv);
	g_hdr = NULL;
}

static void test_grpc_deadline_cancel(void **state)
{
	uint16_t port;
	struct srv_cfg cfg = {0};
	struct net_server *srv = start_server(&cfg, &port);
	char addr[64];
	snprintf(addr, sizeof(addr), "localhost:%u", port);
	struct net_tls_opts tls = {.ca_pem = pki.ca_pem};
	struct net_grpc_client_opts go = {.address = addr, .tls = &tls};
	struct net_grpc_client *g = NULL;
	assert_int_equal(net_grpc_client_new(&g, NULL, &go), 0);
	struct net_grpc_reply rep;
	/* connect and handshake first, so the held call surely reaches the
	 * server before its deadline */
	assert_int_equal(net_grpc_client_call(g, "/test.Echo/Echo", NULL, 0, "w", 1, 0, &rep), 0);
	net_grpc_reply_clear(&rep);
	assert_int_equal(net_grpc_client_call(g, "/test.Echo/Hold", NULL, 0, "x", 1, 1000, &rep), NET_E_TIMEOUT);
	assert_int_equal(rep.status, NET_GRPC_DEADLINE_EXCEEDED);
	net_grpc_reply_clear(&rep);
	/* the server saw the reset and told the application */
	assert_true(wait_cancelled(1));
	struct net_request *req = take_held();
	assert_non_null(req);
	assert_true(net_request_cancelled(req));
	assert_true(net_request_deadline_ns(req) > 0);
	/* answering a cancelled request is allowed and frees it */
	struct net_grpc_response gr = {.status = 0, .has_msg = true, .msg = "late", .msg_len = 4};
	assert_int_equal(net_grpc_send(req, &gr), 0);
	net_grpc_client_free(g);
	/* async call on a fresh client, then free the client while held */
	assert_int_equal(net_grpc_client_new(&g, NULL, &go), 0);
	struct many_ctx m = {0};
	pthread_mutex_init(&m.mu, NULL);
	pthread_cond_init(&m.cv, NULL);
	m.total = 0;
	assert_int_equal(net_grpc_client_call_async(g, "/test.Echo/Hold", NULL, 0, "y", 1, 0,
						    many_done, &m), 0);
	assert_true(wait_held(1));
	net_grpc_client_free(g); /* done runs with CANCELLED; connection closes */
	assert_int_equal(m.done, 1);
	assert_int_equal(m.ok, 0);
	assert_true(wait_cancelled(2));
	req = take_held();
	assert_non_null(req);
	net_request_drop(req);
	net_server_free(srv);
}

static void test_conn_buffer_cap(void **state)
{
	uint16_t port;
	struct srv_cfg cfg = {.conn_buffer = 10000};
	struct net_server *srv = start_server(&cfg, &port);
	char addr[64];
	snprintf(addr, sizeof(addr), "localhost:%u", port);
	struct net_tls_opts tls = {.ca_pem = pki.ca_pem};
	struct net_grpc_client_opts go = {.address = addr, .tls = &tls};
	struct net_grpc_client *g = NULL;
	assert_int_equal(net_grpc_client_new(&g, NULL, &go), 0);
	uint8_t msg[6000];
	memset(msg, 'b', sizeof(msg));
	struct many_ctx m = {0};
	pthread_mutex_init(&m.mu, NULL);
	pthread_cond_init(&m.cv, NULL);
	/* the first request's body stays buffered while the handler holds it */
	assert_int_equal(net_grpc_client_call_async(g, "/test.Echo/Hold", NULL, 0, msg, sizeof(msg),
						    0, many_done, &m), 0);
	assert_true(wait_held(1));
	struct net_grpc_reply rep;
	assert_int_equal(net_grpc_client_call(g, "/test.Echo/Echo", NULL, 0, msg, sizeof(msg), 0, &rep), 0);
	assert_int_equal(rep.status, NET_GRPC_RESOURCE_EXHAUSTED);
	net_grpc_reply_clear(&rep);
	struct net_request *req = take_held();
	struct net_grpc_response gr = {.status = 0};
	assert_int_equal(net_grpc_send(req, &gr), 0);
	pthread_mutex_lock(&m.mu);
	while (m.done < 1)
		pthread_cond_wait(&m.cv, &m.mu);
	pthread_mutex_unlock(&m.mu);
	/* released: the same upload fits again */
	assert_int_equal(net_grpc_client_call(g, "/test.Echo/Echo", NULL, 0, msg, sizeof(msg), 0, &rep), 0);
	assert_int_equal(rep.status, 0);
	assert_int_equal(rep.msg_len, sizeof(msg));
	net_grpc_reply_clear(&rep);
	net_grpc_client_free(g);
	net_server_free(srv);
}

struct shut_arg {
	struct net_server *srv;
	int rc;
};

static void *shutdown_thread(void *arg)
{
	struct shut_arg *a = arg;
	a->rc = net_server_shutdown(a->srv, 20000);
	return NULL;
}

static void test_graceful_shutdown(void **state)
{
	uint16_t port;
	struct srv_cfg cfg = {0};
	struct net_server *srv = start_server(&cfg, &port);
	char addr[64];
	snprintf(addr, sizeof(addr), "localhost:%u", port);
	struct net_tls_opts tls = {.ca_pem = pki.ca_pem};
	struct net_grpc_client_opts go = {.address = addr, .tls = &tls};
	struct net_grpc_client *g = NULL;
	assert_int_equal(net_grpc_client_new(&g, NULL, &go), 0);
	struct many_ctx m = {0};
	pthread_mutex_init(&m.mu, NULL);
	pthread_cond_init(&m.cv, NULL);
	assert_int_equal(net_grpc_client_call_async(g, "/test.Echo/Hold", NULL, 0, "call-1", 6, 0,
						    many_done, &m), 0);
	assert_true(wait_held(1));
	struct shut_arg a = {.srv = srv};
	pthread_t t;
	pthread_create(&t, NULL, shutdown_thread, &a);
	usleep(50000); /* let the drain start; correctness does not depend on it */
	struct net_request *req = take_held();
	size_t len;
	const uint8_t *b = net_request_body(req, &len);
	struct net_grpc_response gr = {.status = 0, .has_msg = true, .msg = b, .msg_len = len};
	assert_int_equal(net_grpc_send(req, &gr), 0);
	pthread_join(t, NULL);
	assert_int_equal(a.rc, 0);
	pthread_mutex_lock(&m.mu);
	while (m.done < 1)
		pthread_cond_wait(&m.cv, &m.mu);
	pthread_mutex_unlock(&m.mu);
	assert_int_equal(m.ok, 1);
	/* new connections are refused now */
	struct net_grpc_reply rep;
	assert_true(net_grpc_client_call(g, "/test.Echo/Echo", NULL, 0, "x", 1, 5000, &rep) < 0);
	net_grpc_reply_clear(&rep);
	net_grpc_client_free(g);
	net_server_free(srv);
}

static void test_plaintext(void **state)
{
	uint16_t port;
	struct srv_cfg cfg = {.insecure = true};
	struct net_server *srv = start_server(&cfg, &port);
	struct net_http_client *c = http_client(port, NULL, "127.0.0.1", true);
	struct net_http_response r;
	assert_int_equal(net_http_client_request(c, "POST", "/echo", NULL, 0, "plain", 5, &r), 0);
	assert_string_equal((char *)r.body, "plain");
	net_http_response_clear(&r);
	net_http_client_free(c);
	char addr[64];
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	struct net_grpc_client_opts go = {.address = addr, .insecure = true};
	struct net_grpc_client *g = NULL;
	assert_int_equal(net_grpc_client_new(&g, NULL, &go), 0);
	struct net_grpc_reply rep;
	assert_int_equal(net_grpc_client_call(g, "/test.Echo/Echo", NULL, 0, "h2c", 3, 0, &rep), 0);
	assert_int_equal(rep.status, 0);
	assert_memory_equal(rep.msg, "h2c", 3);
	net_grpc_reply_clear(&rep);
	net_grpc_client_free(g);
	net_server_free(srv);
	/* nothing listening any more */
	assert_int_equal(net_grpc_client_new(&g, NULL, &go), 0);
	assert_int_equal(net_grpc_client_call(g, "/test.Echo/Echo", NULL, 0, "x", 1, 0, &rep), -ECONNREFUSED);
	assert_int_equal(rep.status, NET_GRPC_UNAVAILABLE);
	net_grpc_reply_clear(&rep);
	net_grpc_client_free(g);
}

static int setup(void **state)
{
	return test_pki_make(&pki);
}

static int teardown(void **state)
{
	test_pki_free(&pki);
	return 0;
}

int main(void)
{
	if (getenv("NET_DEBUG"))
		cc_log_set_level(CC_LOG_DEBUG);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_http1_tls),
		cmocka_unit_test(test_tls_verify),
		cmocka_unit_test(test_mtls),
		cmocka_unit_test(test_tls_hooks),
		cmocka_unit_test(test_max_connections),
		cmocka_unit_test(test_grpc_unary),
		cmocka_unit_test(test_grpc_many_streams),
		cmocka_unit_test(test_grpc_header_blocks_and_reuse),
		cmocka_unit_test(test_grpc_deadline_cancel),
		cmocka_unit_test(test_conn_buffer_cap),
		cmocka_unit_test(test_graceful_shutdown),
		cmocka_unit_test(test_plaintext),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
