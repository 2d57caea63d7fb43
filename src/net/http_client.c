/* SPDX-License-Identifier: Apache-2.0 */
/* A blocking HTTP/1.1 client over TLS (or explicit plaintext), with
 * keep-alive, deadlines, response caps and a minimal cookie jar. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "internal.h"

#define MAX_COOKIES 64
#define MAX_COOKIE_LEN 4096

struct cookie {
	char *name;
	char *value;
};

struct net_http_client {
	char host[256];
	uint16_t port;
	char host_hdr[300];
	bool tls;
	SSL_CTX *ctx;
	char *server_name; /* copy of tls->server_name */
	struct net_tls_opts tls_opts; /* only server_name is read later */
	uint32_t connect_timeout_ms, timeout_ms;
	size_t max_header_bytes, max_body;
	bool cookies;
	struct cookie jar[MAX_COOKIES];
	size_t n_jar;
	int fd;
	SSL *ssl;
	bool reused; /* the connection already carried a request */
	struct cc_buf in;
	size_t in_off;
};

static void client_disconnect(struct net_http_client *c)
{
	if (c->ssl) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	c->reused = false;
	cc_buf_reset(&c->in);
	c->in_off = 0;
}

int net_http_client_new(struct net_http_client **ret, const struct net_http_client_opts *o)
{
	if (!ret || !o || !o->url)
		return NET_E_CONFIG;
	const char *rest;
	bool tls;
	if (strncmp(o->url, "https://", 8) == 0) {
		tls = true;
		rest = o->url + 8;
	} else if (strncmp(o->url, "http://", 7) == 0) {
		tls = false;
		rest = o->url + 7;
		if (!o->insecure) {
			cc_log(CC_LOG_ERROR, NET_LOG, "plain http:// needs the explicit insecure option");
			return NET_E_CONFIG;
		}
	} else {
		return NET_E_ADDRESS;
	}
	struct net_http_client *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->fd = -1;
	c->tls = tls;
	size_t rl = strlen(rest);
	if (rl && rest[rl - 1] == '/')
		rl--;
	if (rl == 0 || rl >= sizeof(c->host_hdr) || memchr(rest, '/', rl)) {
		free(c);
		return NET_E_ADDRESS;
	}
	char hp[300];
	memcpy(hp, rest, rl);
	hp[rl] = 0;
	int r;
	bool has_port = hp[rl - 1] != ']' && strrchr(hp, ':') &&
			(hp[0] != '[' || strstr(hp, "]:"));
	if (has_port) {
		r = addr_split(hp, c->host, sizeof(c->host), &c->port);
	} else {
		c->port = tls ? 443 : 80;
		if (hp[0] == '[') {
			if (rl < 3 || rl - 2 >= sizeof(c->host)) {
				free(c);
				return NET_E_ADDRESS;
			}
			memcpy(c->host, hp + 1, rl - 2);
			c->host[rl - 2] = 0;
		} else {
			if (rl >= sizeof(c->host)) {
				free(c);
				return NET_E_ADDRESS;
			}
			memcpy(c->host, hp, rl + 1);
		}
		r = 0;
	}
	if (r < 0 || !c->host[0]) {
		free(c);
		return NET_E_ADDRESS;
	}
	snprintf(c->host_hdr, sizeof(c->host_hdr), "%s", hp);
	c->connect_timeout_ms = o->connect_timeout_ms ? o->connect_timeout_ms : 10000;
	c->timeout_ms = o->timeout_ms ? o->timeout_ms : 60000;
	c->max_header_bytes = o->max_header_bytes ? o->max_header_bytes : 64 * 1024;
	c->max_body = o->max_body ? o->max_body : 64u << 20;
	c->cookies = o->cookies;
	cc_buf_init(&c->in, 0, false);
	if (tls) {
		r = tls_ctx_new(&c->ctx, o->tls, false, false, true);
		if (r < 0) {
			free(c);
			return r;
		}
		if (o->tls && o->tls->server_name) {
			c->server_name = strdup(o->tls->server_name);
			if (!c->server_name) {
				SSL_CTX_free(c->ctx);
				free(c);
				return -ENOMEM;
			}
		}
		c->tls_opts.server_name = c->server_name;
	}
	*ret = c;
	return 0;
}

static uint64_t deadline_after(uint32_t ms)
{
	return cc_mono_ns() + (uint64_t)ms * 1000000u;
}

static int client_connect(struct net_http_client *c, uint64_t req_deadline)
{
	uint64_t dl = deadline_after(c->connect_timeout_ms);
	if (dl > req_deadline)
		dl = req_deadline;
	int fd;
	int r = addr_connect(c->host, c->port, &fd);
	if (r < 0)
		return r;
	c->fd = fd;
	if ((r = fd_wait(fd, true, dl)) < 0)
		goto fail;
	int err = 0;
	socklen_t el = sizeof(err);
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
	if (err) {
		r = -err;
		goto fail;
	}
	if (!c->tls)
		return 0;
	c->ssl = SSL_new(c->ctx);
	if (!c->ssl || tls_set_socket(c->ssl, fd) < 0) {
		r = -ENOMEM;
		goto fail;
	}
	if ((r = tls_client_ssl(c->ssl, &c->tls_opts, c->host)) < 0)
		goto fail;
	SSL_set_connect_state(c->ssl);
	for (;;) {
		ERR_clear_error();
		int hr = SSL_do_handshake(c->ssl);
		if (hr == 1)
			break;
		int e = SSL_get_error(c->ssl, hr);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			if ((r = fd_wait(fd, e == SSL_ERROR_WANT_WRITE, dl)) < 0)
				goto fail;
			continue;
		}
		long vr = SSL_get_verify_result(c->ssl);
		if (vr != X509_V_OK) {
			cc_log(CC_LOG_WARN, NET_LOG, "TLS to %s: certificate rejected: %s", c->host_hdr,
			       X509_verify_cert_error_string(vr));
			r = NET_E_VERIFY;
		} else {
			cc_log(CC_LOG_WARN, NET_LOG, "TLS handshake with %s failed", c->host_hdr);
			r = NET_E_TLS;
		}
		tls_log_errors("TLS client handshake");
		goto fail;
	}
	return 0;
fail:
	client_disconnect(c);
	return r;
}

static int client_write_all(struct net_http_client *c, const uint8_t *p, size_t len,
			    uint64_t dl)
{
	while (len) {
		ssize_t n;
		bool want_write = true;
		if (c->ssl) {
			size_t w = 0;
			ERR_clear_error();
			int r = SSL_write_ex(c->ssl, p, len, &w);
			if (r == 1) {
				n = (ssize_t)w;
			} else {
				int e = SSL_get_error(c->ssl, r);
				if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ)
					return NET_E_CLOSED;
				want_write = e == SSL_ERROR_WANT_WRITE;
				n = -1;
			}
		} else {
			n = send(c->fd, p, len, MSG_NOSIGNAL);
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				return errno == EPIPE || errno == ECONNRESET ? NET_E_CLOSED : -errno;
		}
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		int r = fd_wait(c->fd, want_write, dl);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Read more into c->in.  Returns bytes (>0), 0 on EOF, or an error. */
static ssize_t client_read_some(struct net_http_client *c, uint64_t dl)
{
	if (c->in_off && c->in_off == c->in.len) {
		c->in.len = 0;
		c->in_off = 0;
	}
	if (cc_buf_reserve(&c->in, 16384) < 0)
		return -ENOMEM;
	for (;;) {
		uint8_t *dst = c->in.data + c->in.len;
		size_t room = 16384;
		ssize_t n;
		bool want_write = false;
		if (c->ssl) {
			size_t got = 0;
			ERR_clear_error();
			int r = SSL_read_ex(c->ssl, dst, room, &got);
			if (r == 1) {
				n = (ssize_t)got;
			} else {
				int e = SSL_get_error(c->ssl, r);
				if (e == SSL_ERROR_ZERO_RETURN)
					return 0;
				if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
					tls_log_errors("TLS client read");
					/* Includes an EOF without close_notify: treated
					 * as truncation by callers that need the length. */
					return NET_E_CLOSED;
				}
				want_write = e == SSL_ERROR_WANT_WRITE;
				n = -1;
			}
		} else {
			n = recv(c->fd, dst, room, 0);
			if (n == 0)
				return 0;
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				return errno == ECONNRESET ? NET_E_CLOSED : -errno;
		}
		if (n > 0) {
			c->in.len += (size_t)n;
			c->in.data[c->in.len] = 0;
			return n;
		}
		int r = fd_wait(c->fd, want_write, dl);
		if (r < 0)
			return r;
	}
}

static void jar_set(struct net_http_client *c, const char *v, size_t vl)
{
	/* name=value[; attributes] */
	size_t i = 0;
	while (i < vl && (v[i] == ' ' || v[i] == '\t'))
		i++;
	size_t ns = i;
	while (i < vl && v[i] != '=' && v[i] != ';')
		i++;
	if (i >= vl || v[i] != '=' || i == ns)
		return;
	size_t nl = i - ns;
	i++;
	size_t vs = i;
	while (i < vl && v[i] != ';')
		i++;
	size_t val_len = i - vs;
	while (val_len && (v[vs + val_len - 1] == ' '))
		val_len--;
	if (nl + val_len > MAX_COOKIE_LEN)
		return;
	bool delete = false;
	while (i < vl) {
		i++;
		while (i < vl && v[i] == ' ')
			i++;
		size_t as = i;
		while (i < vl && v[i] != ';')
			i++;
		if (i - as >= 10 && strncasecmp(v + as, "max-age=", 8) == 0 &&
		    (v[as + 8] == '0' || v[as + 8] == '-'))
			delete = true;
	}
	for (const char *p = v + ns; p < v + ns + nl; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return;
	for (const char *p = v + vs; p < v + vs + val_len; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == ';')
			return;
	size_t k;
	for (k = 0; k < c->n_jar; k++)
		if (strlen(c->jar[k].name) == nl && memcmp(c->jar[k].name, v + ns, nl) == 0)
			break;
	if (delete) {
		if (k < c->n_jar) {
			free(c->jar[k].name);
			free(c->jar[k].value);
			c->jar[k] = c->jar[--c->n_jar];
		}
		return;
	}
	char *val = strndup(v + vs, val_len);
	if (!val)
		return;
	if (k < c->n_jar) {
		free(c->jar[k].value);
		c->jar[k].value = val;
		return;
	}
	if (c->n_jar >= MAX_COOKIES) {
		free(val);
		return;
	}
	char *name = strndup(v + ns, nl);
	if (!name) {
		free(val);
		return;
	}
	c->jar[c->n_jar].name = name;
	c->jar[c->n_jar].value = val;
	c->n_jar++;
}

const char *net_http_client_cookie(const struct net_http_client *c, const char *name)
{
	if (!c || !name)
		return NULL;
	for (size_t k = 0; k < c->n_jar; k++)
		if (strcmp(c->jar[k].name, name) == 0)
			return c->jar[k].value;
	return NULL;
}

static bool user_header_ok(const struct net_header *h)
{
	if (!h->name || !h->value || !h->name[0])
		return false;
	for (const char *p = h->name; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == ':')
			return false;
	for (const char *p = h->value; *p; p++)
		if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
			return false;
	if (strcasecmp(h->name, "host") == 0 || strcasecmp(h->name, "content-length") == 0 ||
	    strcasecmp(h->name, "transfer-encoding") == 0)
		return false;
	return true;
}

/* One attempt on the current (or a new) connection.  *ret_sent tells
 * whether any response byte arrived (no retry after that). */
static int do_exchange(struct net_http_client *c, const struct cc_buf *reqbuf, bool is_head,
		       uint64_t dl, struct net_http_response *ret, bool *ret_any)
{
	int r = client_write_all(c, reqbuf->data, reqbuf->len, dl);
	if (r < 0)
		return r;
	size_t nf = 256;
	struct h1_field *fields = calloc(nf, sizeof(*fields));
	if (!fields)
		return -ENOMEM;
	struct h1_head hh;
	size_t scanned;
	for (;;) {
		scanned = 0;
		for (;;) {
			r = h1_parse_head(c->in.data ? c->in.data + c->in_off : NULL,
					  c->in.len - c->in_off, true, c->max_header_bytes, &scanned,
					  fields, nf, &hh);
			if (r != 0)
				break;
			ssize_t n = client_read_some(c, dl);
			if (n == 0 && c->in.len == c->in_off && !*ret_any) {
				r = NET_E_CLOSED;
				goto out;
			}
			if (n <= 0) {
				r = n == 0 ? NET_E_PROTO : (int)n;
				goto out;
			}
			*ret_any = true;
		}
		if (r < 0)
			goto out;
		if (hh.status / 100 == 1 && hh.status != 101) {
			c->in_off += hh.head_len; /* interim response */
			continue;
		}
		break;
	}
	if (hh.status == 101) {
		r = NET_E_PROTO;
		goto out;
	}
	/* Headers: one allocation for the array and the strings. */
	const uint8_t *base = c->in.data + c->in_off;
	size_t strbytes = 0;
	for (size_t i = 0; i < hh.n_fields; i++)
		strbytes += fields[i].name.len + fields[i].value.len + 2;
	struct net_header *hdrs = malloc(hh.n_fields * sizeof(*hdrs) + strbytes + 1);
	if (!hdrs) {
		r = -ENOMEM;
		goto out;
	}
	char *sp = (char *)(hdrs + hh.n_fields);
	for (size_t i = 0; i < hh.n_fields; i++) {
		hdrs[i].name = sp;
		for (size_t k = 0; k < fields[i].name.len; k++) {
			char ch = (char)base[fields[i].name.off + k];
			*sp++ = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
		}
		*sp++ = 0;
		hdrs[i].value = sp;
		memcpy(sp, base + fields[i].value.off, fields[i].value.len);
		sp += fields[i].value.len;
		*sp++ = 0;
		if (c->cookies && strcmp(hdrs[i].name, "set-cookie") == 0)
			jar_set(c, hdrs[i].value, fields[i].value.len);
	}
	ret->status = hh.status;
	ret->headers = hdrs;
	ret->n_headers = hh.n_fields;
	c->in_off += hh.head_len;

	struct cc_buf body;
	cc_buf_init(&body, c->max_body, false);
	enum h1_body kind = is_head ? H1_BODY_NONE : hh.body;
	if (kind == H1_BODY_LENGTH) {
		if (hh.content_length > c->max_body) {
			r = NET_E_TOOBIG;
			goto body_fail;
		}
		uint64_t left = hh.content_length;
		if ((r = cc_buf_reserve(&body, (size_t)left)) < 0)
			goto body_fail;
		while (left) {
			size_t have = c->in.len - c->in_off;
			if (have == 0) {
				ssize_t n = client_read_some(c, dl);
				if (n <= 0) {
					r = n == 0 ? NET_E_PROTO : (int)n;
					goto body_fail;
				}
				continue;
			}
			size_t take = have < left ? have : (size_t)left;
			cc_buf_append(&body, c->in.data + c->in_off, take);
			c->in_off += take;
			left -= take;
		}
	} else if (kind == H1_BODY_CHUNKED) {
		struct h1_chunked st;
		memset(&st, 0, sizeof(st));
		for (;;) {
			size_t used = 0;
			r = h1_chunked_feed(&st, c->in.data + c->in_off, c->in.len - c->in_off, &used,
					    &body);
			c->in_off += used;
			if (r == 1)
				break;
			if (r < 0) {
				if (r == CC_E_TOOBIG)
					r = NET_E_TOOBIG;
				goto body_fail;
			}
			ssize_t n = client_read_some(c, dl);
			if (n <= 0) {
				r = n == 0 ? NET_E_PROTO : (int)n;
				goto body_fail;
			}
		}
	} else if (kind == H1_BODY_EOF) {
		for (;;) {
			size_t have = c->in.len - c->in_off;
			if (have) {
				if ((r = cc_buf_append(&body, c->in.data + c->in_off, have)) < 0) {
					if (r == CC_E_TOOBIG)
						r = NET_E_TOOBIG;
					goto body_fail;
				}
				c->in_off += have;
			}
			ssize_t n = client_read_some(c, dl);
			if (n == 0)
				break;
			if (n < 0) {
				r = (int)n;
				goto body_fail;
			}
		}
	}
	if (cc_buf_reserve(&body, 0) < 0) {
		r = -ENOMEM;
		goto body_fail;
	}
	ret->body = cc_buf_steal(&body, &ret->body_len);
	ret->body[ret->body_len] = 0;
	if (!hh.keep_alive || kind == H1_BODY_EOF)
		client_disconnect(c);
	r = 0;
	goto out;
body_fail:
	cc_buf_free(&body);
	free(ret->headers);
	ret->headers = NULL;
	ret->n_headers = 0;
out:
	free(fields);
	return r;
}

int net_http_client_request(struct net_http_client *c, const char *method, const char *path,
			    const struct net_header *headers, size_t n_headers, const void *body,
			    size_t body_len, struct net_http_response *ret)
{
	if (!c || !method || !path || path[0] != '/' || !ret || (n_headers && !headers) ||
	    (body_len && !body))
		return NET_E_CONFIG;
	for (const char *p = method; *p; p++)
		if (*p < 'A' || *p > 'Z')
			return NET_E_CONFIG;
	for (const char *p = path; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return NET_E_CONFIG;
	for (size_t i = 0; i < n_headers; i++)
		if (!user_header_ok(&headers[i]))
			return NET_E_CONFIG;
	memset(ret, 0, sizeof(*ret));
	uint64_t dl = deadline_after(c->timeout_ms);
	struct cc_buf rq;
	cc_buf_init(&rq, 0, false);
	int r = cc_buf_printf(&rq, "%s %s HTTP/1.1\r\nhost: %s\r\n", method, path, c->host_hdr);
	for (size_t i = 0; r == 0 && i < n_headers; i++)
		r = cc_buf_printf(&rq, "%s: %s\r\n", headers[i].name, headers[i].value);
	if (r == 0 && c->cookies && c->n_jar) {
		r = cc_buf_puts(&rq, "cookie: ");
		for (size_t k = 0; r == 0 && k < c->n_jar; k++)
			r = cc_buf_printf(&rq, "%s%s=%s", k ? "; " : "", c->jar[k].name,
					  c->jar[k].value);
		if (r == 0)
			r = cc_buf_puts(&rq, "\r\n");
	}
	bool send_len = body_len || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
			strcmp(method, "PATCH") == 0;
	if (r == 0 && send_len)
		r = cc_buf_printf(&rq, "content-length: %zu\r\n", body_len);
	if (r == 0)
		r = cc_buf_puts(&rq, "\r\n");
	if (r == 0 && body_len)
		r = cc_buf_append(&rq, body, body_len);
	if (r < 0) {
		cc_buf_free(&rq);
		return r;
	}
	bool is_head = strcmp(method, "HEAD") == 0;
	for (int attempt = 0; attempt < 2; attempt++) {
		bool reused = c->fd >= 0 && c->reused;
		if (c->fd < 0 && (r = client_connect(c, dl)) < 0)
			break;
		bool any = false;
		r = do_exchange(c, &rq, is_head, dl, ret, &any);
		if (r == 0) {
			if (c->fd >= 0)
				c->reused = true;
			break;
		}
		client_disconnect(c);
		/* A kept-alive connection the server closed meanwhile: retry
		 * once on a fresh one if nothing of the answer arrived. */
		if (!(reused && !any && r == NET_E_CLOSED))
			break;
	}
	cc_buf_free(&rq);
	return r;
}

const char *net_http_response_header(const struct net_http_response *r, const char *name)
{
	if (!r || !name)
		return NULL;
	for (size_t i = 0; i < r->n_headers; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}

void net_http_response_clear(struct net_http_response *r)
{
	if (!r)
		return;
	free(r->headers);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

void net_http_client_free(struct net_http_client *c)
{
	if (!c)
		return;
	client_disconnect(c);
	cc_buf_free(&c->in);
	for (size_t k = 0; k < c->n_jar; k++) {
		free(c->jar[k].name);
		free(c->jar[k].value);
	}
	SSL_CTX_free(c->ctx);
	free(c->server_name);
	free(c);
}
