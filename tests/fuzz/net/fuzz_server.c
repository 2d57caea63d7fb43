/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target: a whole plaintext server connection (HTTP/1.1 parser and
 * state machine, the HTTP/2 preface switch, nghttp2 session handling, gRPC
 * unframing/decompression and the answer path), driven over a socketpair.
 * Byte 0 bit 0 prepends the HTTP/2 preface and an empty SETTINGS frame so
 * the fuzzer starts inside HTTP/2.  The server must answer or close; any
 * crash, leak or hang (the connection never closing) is a finding.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server.h"
#include "../fuzz_fail.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct net_server *srv;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void handler(void *ud, struct net_request *req)
{
	size_t len;
	const uint8_t *body = net_request_body(req, &len);
	if (net_request_is_grpc(req)) {
		struct net_grpc_response g = {.status = len ? 0 : 3, .message = "empty",
					      .has_msg = len != 0, .msg = body, .msg_len = len,
					      .compress = len > 100};
		net_grpc_send(req, &g);
		return;
	}
	if (strcmp(net_request_path(req), "/drop") == 0) {
		net_request_drop(req);
		return;
	}
	struct net_header h = {"x-len", "1"};
	struct net_response r = {.status = 200, .headers = &h, .n_headers = 1, .body = body,
				 .body_len = len};
	net_response_send(req, &r);
}

static void start(void)
{
	signal(SIGPIPE, SIG_IGN);
	cc_log_set_level(CC_LOG_ERROR);
	const char *listen[] = {"127.0.0.1:0"};
	struct net_server_opts o = {
		.listen = listen,
		.n_listen = 1,
		.insecure = true,
		.io_threads = 1,
		.limits = {.max_body = 1 << 16, .max_grpc_message = 1 << 16,
			   .max_header_bytes = 8192, .max_concurrent_streams = 16,
			   .header_timeout_ms = 2000, .read_timeout_ms = 2000,
			   .idle_timeout_ms = 2000},
		.handler = handler,
	};
	if (net_server_new(&srv, &o) < 0 || net_server_start(srv) < 0)
		fuzz_fail();
}

static const uint8_t preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
				 "\x00\x00\x00\x04\x00\x00\x00\x00\x00";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pthread_once(&once, start);
	if (size < 1)
		return 0;
	bool h2 = data[0] & 1;
	data++;
	size--;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;
	if (net_server_adopt_fd(srv, sv[0]) < 0) {
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	/* Write everything (reading answers meanwhile), half-close, then read
	 * until the server closes. */
	const uint8_t *parts[2] = {h2 ? preface : NULL, data};
	size_t lens[2] = {h2 ? sizeof(preface) - 1 : 0, size};
	size_t pi = 0, off = 0;
	bool wr_done = false;
	uint8_t buf[65536];
	uint64_t deadline = cc_mono_ns() + 10ull * 1000000000ull;
	for (;;) {
		while (!wr_done && pi < 2 && off == lens[pi]) {
			pi++;
			off = 0;
		}
		if (!wr_done && pi == 2) {
			shutdown(sv[1], SHUT_WR);
			wr_done = true;
		}
		struct pollfd p = {.fd = sv[1], .events = POLLIN | (wr_done ? 0 : POLLOUT)};
		if (poll(&p, 1, 100) < 0 && errno != EINTR)
			break;
		if (p.revents & POLLIN) {
			ssize_t n = recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT);
			if (n == 0 || (n < 0 && errno != EAGAIN))
				break; /* closed by the server: done */
		}
		if (!wr_done && (p.revents & POLLOUT)) {
			ssize_t n = send(sv[1], parts[pi] + off, lens[pi] - off,
					 MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n > 0)
				off += (size_t)n;
			else if (n < 0 && errno != EAGAIN)
				wr_done = true;
		}
		if (cc_mono_ns() > deadline)
			fuzz_fail(); /* the server neither answered nor closed: a hang */
	}
	close(sv[1]);
	return 0;
}
