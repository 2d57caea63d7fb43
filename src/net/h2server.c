/* SPDX-License-Identifier: Apache-2.0 */
/* HTTP/2 server side on nghttp2: one session per connection, fed from memory
 * (the connection does TLS), one net_request per stream. */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "server.h"

#define H2_WINDOW (1u << 20)        /* per-stream receive window */
#define H2_CONN_WINDOW (16u << 20)  /* connection receive window */
/* Client stream resets tolerated per second before the connection is closed
 * (HTTP/2 rapid reset, CVE-2023-44487). */
#define H2_MAX_RESETS_PER_S 200
/* Bytes of a rejected request body read and dropped before RST_STREAM. */
#define H2_DISCARD_MAX (1u << 20)

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	struct conn *c = ud;
	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	struct net_request *req = req_new(c, NET_TRANSPORT_H2);
	if (!req)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	req->stream_id = f->hd.stream_id;
	if (nghttp2_session_set_stream_user_data(s, f->hd.stream_id, req) != 0) {
		req_free(req);
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	}
	c->h2_open++;
	c->h2_receiving++;
	return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
		     size_t nl, const uint8_t *value, size_t vl, uint8_t flags, void *ud)
{
	if (f->hd.type != NGHTTP2_HEADERS)
		return 0;
	struct net_request *req = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
	if (!req || req->rejected || req->early_status)
		return 0;
	if (req->headers_done)
		return 0; /* request trailers: accepted and ignored */
	int r = req_add_header(req, (const char *)name, nl, (const char *)value, vl, false);
	if (r < 0) {
		req->early_status = 431;
		return 0;
	}
	if (nl == 12 && memcmp(name, "content-type", 12) == 0)
		req->is_grpc = grpc_content_type((const char *)value);
	return 0;
}

static void stream_received_all(struct conn *c, struct net_request *req)
{
	if (req->end_stream)
		return;
	req->end_stream = true;
	if (c->h2_receiving)
		c->h2_receiving--;
}

static void headers_complete(struct conn *c, struct net_request *req)
{
	req->headers_done = true;
	if (req->early_status == 431) {
		req_reject(req, 431, NET_GRPC_RESOURCE_EXHAUSTED, "request headers too large");
		return;
	}
	if (req->is_grpc) {
		/* One message, its prefix, and nothing else. */
		size_t cap;
		if (!cc_add_ok(c->srv->lim.max_grpc_message, NET_GRPC_PREFIX_LEN, &cap))
			cap = SIZE_MAX / 2;
		req->body.max = cap;
	}
	/* Refuse early on a declared length above the limit. */
	const char *p = (const char *)req->hbuf.data;
	const char *end = p + req->hbuf.len;
	while (p < end) {
		const char *name = p;
		const char *value = name + strlen(name) + 1;
		p = value + strlen(value) + 1;
		if (strcmp(name, "content-length") == 0) {
			uint64_t v;
			if (cc_parse_u64(value, &v) == 0 && v > req->body.max) {
				req_reject(req, 413, NET_GRPC_RESOURCE_EXHAUSTED,
					   "request body larger than the server's limit");
			}
			break;
		}
	}
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	struct conn *c = ud;
	if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA)
		return 0;
	struct net_request *req = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
	if (!req)
		return 0;
	if (f->hd.type == NGHTTP2_HEADERS && !req->headers_done)
		headers_complete(c, req);
	if (f->hd.flags & NGHTTP2_FLAG_END_STREAM) {
		stream_received_all(c, req);
		if (!req->rejected && !req->dispatched)
			req_dispatch(req);
	}
	return 0;
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t stream_id,
			 const uint8_t *data, size_t len, void *ud)
{
	struct net_request *req = nghttp2_session_get_stream_user_data(s, stream_id);
	if (!req || req->dispatched)
		return 0;
	if (req->rejected) {
		/* Answered early (a limit): the rest is read and dropped so the
		 * client sees a clean end; past 1 MiB it is asked to stop with
		 * RST_STREAM(NO_ERROR), by then well after the answer went out. */
		req->discarded += len;
		if (req->discarded > H2_DISCARD_MAX && !req->reset_sent) {
			req->reset_sent = true;
			nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_NO_ERROR);
		}
		return 0;
	}
	struct conn *c = ud;
	if (c->buffered + len > c->srv->lim.max_conn_buffer) {
		/* Too much held across this connection's streams. */
		req_reject(req, 503, NET_GRPC_RESOURCE_EXHAUSTED,
			   "too much request data buffered on this connection");
		return 0;
	}
	int r = cc_buf_append(&req->body, data, len);
	if (r == 0) {
		c->buffered += len;
		req->accounted += len;
	}
	if (r == CC_E_TOOBIG) {
		req_reject(req, 413, NET_GRPC_RESOURCE_EXHAUSTED,
			   req->is_grpc ? "request message larger than the server's limit"
					: "request body larger than the server's limit");
		return 0;
	}
	if (r < 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	if (req->is_grpc && req->body.len >= NET_GRPC_PREFIX_LEN) {
		const uint8_t *b = req->body.data;
		uint32_t n = (uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 8 | b[4];
		if (n > req->srv->lim.max_grpc_message)
			req_reject(req, 413, NET_GRPC_RESOURCE_EXHAUSTED,
				   "request message larger than the server's limit");
	}
	return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t stream_id, uint32_t error_code, void *ud)
{
	struct conn *c = ud;
	struct net_request *req = nghttp2_session_get_stream_user_data(s, stream_id);
	if (!req)
		return 0;
	nghttp2_session_set_stream_user_data(s, stream_id, NULL);
	if (c->h2_open)
		c->h2_open--;
	if (!req->end_stream && c->h2_receiving)
		c->h2_receiving--;
	req->end_stream = true;
	if (!req->handler_done) {
		/* Reset by the client before we answered. */
		uint64_t now = cc_mono_ns();
		if (now - c->resets_window_ns > 1000000000u) {
			c->resets_window_ns = now;
			c->resets = 0;
		}
		if (++c->resets > H2_MAX_RESETS_PER_S) {
			cc_log(CC_LOG_WARN, NET_LOG, "%s: too many stream resets; closing", c->peer);
			nghttp2_session_terminate_session(s, NGHTTP2_ENHANCE_YOUR_CALM);
		}
	}
	req_cancel(req);
	return 0;
}

static ssize_t data_read_cb(nghttp2_session *s, int32_t stream_id, uint8_t *buf, size_t length,
			    uint32_t *data_flags, nghttp2_data_source *source, void *ud)
{
	struct net_request *req = source->ptr;
	struct resp *r = &req->r;
	size_t n = 0;
	if (r->prefix_off < r->prefix_len) {
		size_t take = r->prefix_len - r->prefix_off;
		if (take > length)
			take = length;
		memcpy(buf, r->prefix + r->prefix_off, take);
		r->prefix_off += take;
		n += take;
	}
	if (n < length && r->body_off < r->body_len) {
		size_t take = r->body_len - r->body_off;
		if (take > length - n)
			take = length - n;
		memcpy(buf + n, r->body + r->body_off, take);
		r->body_off += take;
		n += take;
	}
	if (r->prefix_off == r->prefix_len && r->body_off == r->body_len) {
		*data_flags |= NGHTTP2_DATA_FLAG_EOF;
		if (r->grpc && r->ntnv) {
			*data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
			if (nghttp2_submit_trailer(s, stream_id, r->tnv, r->ntnv) != 0)
				return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
		}
	}
	return (ssize_t)n;
}

int h2_server_callbacks(nghttp2_session_callbacks **ret)
{
	nghttp2_session_callbacks *cb;
	if (nghttp2_session_callbacks_new(&cb) != 0)
		return -ENOMEM;
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
	*ret = cb;
	return 0;
}

int h2_conn_start(struct conn *c)
{
	struct net_server *srv = c->srv;
	if (nghttp2_session_server_new2(&c->h2, srv->h2cbs, c, srv->h2opt) != 0)
		return -ENOMEM;
	uint32_t hl = srv->lim.max_header_bytes > UINT32_MAX ? UINT32_MAX
							    : (uint32_t)srv->lim.max_header_bytes;
	nghttp2_settings_entry iv[] = {
		{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, srv->lim.max_concurrent_streams},
		{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_WINDOW},
		{NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, hl},
		{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
	};
	if (nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, CC_ARRAY_SIZE(iv)) != 0)
		return NET_E_HTTP2;
	nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0, H2_CONN_WINDOW);
	conn_schedule_flush(c);
	return 0;
}

int h2_conn_recv(struct conn *c, const uint8_t *data, size_t len)
{
	ssize_t n = nghttp2_session_mem_recv(c->h2, data, len);
	if (n < 0) {
		cc_log(CC_LOG_DEBUG, NET_LOG, "%s: HTTP/2: %s", c->peer, nghttp2_strerror((int)n));
		return NET_E_HTTP2;
	}
	conn_schedule_flush(c);
	return 0;
}

void h2_submit(struct conn *c, struct net_request *req)
{
	struct resp *r = &req->r;
	int rv;
	if (r->drop) {
		rv = nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, req->stream_id,
					       NGHTTP2_CANCEL);
	} else if (r->trailers_only || (r->prefix_len == 0 && r->body_len == 0 && !r->grpc)) {
		rv = nghttp2_submit_response(c->h2, req->stream_id, r->nva, r->nnv, NULL);
	} else {
		nghttp2_data_provider dp = {.source.ptr = req, .read_callback = data_read_cb};
		rv = nghttp2_submit_response(c->h2, req->stream_id, r->nva, r->nnv, &dp);
	}
	if (rv != 0) {
		cc_log(CC_LOG_DEBUG, NET_LOG, "%s: HTTP/2 submit: %s", c->peer, nghttp2_strerror(rv));
		nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, req->stream_id,
					  NGHTTP2_INTERNAL_ERROR);
	}
	conn_schedule_flush(c);
}

void h2_drain(struct conn *c)
{
	if (c->goaway || !c->h2)
		return;
	c->goaway = true;
	nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE,
			      nghttp2_session_get_last_proc_stream_id(c->h2), NGHTTP2_NO_ERROR,
			      NULL, 0);
}
