/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small blocking HTTPS/1.1 client for the KBS flow: TLS 1.3 only, the
 * broker's CA pinned (no system store), host name or IP checked, one
 * kept-alive connection, every size capped and every wait bounded.
 */
#include "kbs-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define HDR_MAX 16384
#define BODY_MAX (1u << 20)

struct https {
	struct kbs_transport pub;
	char host[256];
	char port[8];
	bool host_is_ip;
	unsigned timeout_ms;
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;
	unsigned handshakes;
};

static void conn_close(struct https *h)
{
	if (h->ssl) {
		SSL_shutdown(h->ssl);
		SSL_free(h->ssl);
		h->ssl = NULL;
	}
	if (h->fd >= 0) {
		close(h->fd);
		h->fd = -1;
	}
}

static int tcp_connect(struct https *h)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *ai = NULL;
	int g = getaddrinfo(h->host, h->port, &hints, &ai);
	if (g) {
		cc_log(CC_LOG_ERROR, KBS_LOG, "cannot resolve \"%s\": %s", h->host, gai_strerror(g));
		return -EHOSTUNREACH;
	}
	int r = -ECONNREFUSED;
	for (struct addrinfo *a = ai; a; a = a->ai_next) {
		int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0) {
			r = -errno;
			continue;
		}
		if (connect(fd, a->ai_addr, a->ai_addrlen) < 0 && errno != EINPROGRESS) {
			r = -errno;
			close(fd);
			continue;
		}
		struct pollfd p = {fd, POLLOUT, 0};
		int pr = poll(&p, 1, (int)h->timeout_ms);
		int soerr = 0;
		socklen_t sl = sizeof soerr;
		if (pr <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr) {
			r = pr == 0 ? -ETIMEDOUT : -(soerr ? soerr : errno);
			close(fd);
			continue;
		}
		/* Blocking from here, with per-call timeouts. */
		int fl = fcntl(fd, F_GETFL);
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
		struct timeval tv = {h->timeout_ms / 1000, (h->timeout_ms % 1000) * 1000};
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		h->fd = fd;
		r = 0;
		break;
	}
	freeaddrinfo(ai);
	return r;
}

static int tls_connect(struct https *h)
{
	int r = tcp_connect(h);
	if (r)
		return r;
	h->ssl = SSL_new(h->ctx);
	if (!h->ssl) {
		conn_close(h);
		return -ENOMEM;
	}
	SSL_set_fd(h->ssl, h->fd);
	X509_VERIFY_PARAM *vp = SSL_get0_param(h->ssl);
	if (h->host_is_ip) {
		X509_VERIFY_PARAM_set1_ip_asc(vp, h->host);
	} else {
		SSL_set_tlsext_host_name(h->ssl, h->host);
		SSL_set1_host(h->ssl, h->host);
	}
	if (SSL_connect(h->ssl) != 1) {
		long vr = SSL_get_verify_result(h->ssl);
		unsigned long e = ERR_get_error();
		char buf[256];
		ERR_error_string_n(e, buf, sizeof buf);
		cc_log(CC_LOG_ERROR, KBS_LOG, "TLS handshake with %s:%s failed: %s%s%s", h->host,
		       h->port, vr != X509_V_OK ? "certificate: " : "",
		       vr != X509_V_OK ? X509_verify_cert_error_string(vr) : "", e ? buf : "");
		ERR_clear_error();
		conn_close(h);
		return KBS_E_HTTP;
	}
	h->handshakes++;
	return 0;
}

static int write_all(struct https *h, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n) {
		int w = SSL_write(h->ssl, b, n > INT32_MAX ? INT32_MAX : (int)n);
		if (w <= 0)
			return KBS_E_HTTP;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read the response.  got_any tells whether any byte arrived (for retry on a
 * closed kept-alive connection). */
static int read_response(struct https *h, struct kbs_http_reply *ret, bool *got_any,
			 bool *close_after)
{
	struct cc_buf b;
	cc_buf_init(&b, HDR_MAX + BODY_MAX, false);
	char tmp[16384];
	size_t hdr_end = 0;
	*got_any = false;
	int r = KBS_E_HTTP;
	for (;;) {
		int n = SSL_read(h->ssl, tmp, sizeof tmp);
		if (n <= 0)
			goto out;
		*got_any = true;
		if (cc_buf_append(&b, tmp, (size_t)n))
			goto out;
		char *e = memmem(b.data, b.len, "\r\n\r\n", 4);
		if (e) {
			hdr_end = (size_t)(e - (char *)b.data) + 4;
			break;
		}
		if (b.len > HDR_MAX)
			goto out;
	}
	/* Status line. */
	const char *p = (const char *)b.data;
	if (b.len < 12 || strncmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ')
		goto out;
	int status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
	if (status < 100 || status > 599)
		goto out;
	size_t clen = 0;
	bool have_len = false;
	*close_after = false;
	/* Headers. */
	const char *line = strstr(p, "\r\n");
	while (line && (size_t)(line - p) + 2 < hdr_end - 2) {
		line += 2;
		const char *eol = strstr(line, "\r\n");
		if (!eol)
			goto out;
		size_t ll = (size_t)(eol - line);
		const char *colon = memchr(line, ':', ll);
		if (colon) {
			size_t nl = (size_t)(colon - line);
			const char *v = colon + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			size_t vl = (size_t)(eol - v);
			if (nl == 14 && strncasecmp(line, "content-length", 14) == 0) {
				char num[24];
				if (vl == 0 || vl >= sizeof num)
					goto out;
				memcpy(num, v, vl);
				num[vl] = 0;
				uint64_t cl;
				if (cc_parse_u64(num, &cl) || cl > BODY_MAX)
					goto out;
				clen = (size_t)cl;
				have_len = true;
			} else if (nl == 10 && strncasecmp(line, "set-cookie", 10) == 0) {
				if (vl < sizeof ret->set_cookie) {
					memcpy(ret->set_cookie, v, vl);
					ret->set_cookie[vl] = 0;
				}
			} else if (nl == 10 && strncasecmp(line, "connection", 10) == 0) {
				if (vl >= 5 && strncasecmp(v, "close", 5) == 0)
					*close_after = true;
			} else if (nl == 17 && strncasecmp(line, "transfer-encoding", 17) == 0) {
				goto out; /* the broker always sends Content-Length */
			}
		}
		line = eol;
	}
	if (!have_len)
		goto out;
	while (b.len - hdr_end < clen) {
		size_t want = clen - (b.len - hdr_end);
		int n = SSL_read(h->ssl, tmp, want < sizeof tmp ? (int)want : (int)sizeof tmp);
		if (n <= 0)
			goto out;
		if (cc_buf_append(&b, tmp, (size_t)n))
			goto out;
	}
	if (b.len - hdr_end != clen)
		goto out;
	ret->status = status;
	ret->body = malloc(clen + 1);
	if (!ret->body) {
		r = -ENOMEM;
		goto out;
	}
	memcpy(ret->body, b.data + hdr_end, clen);
	ret->body[clen] = 0;
	ret->body_len = clen;
	r = 0;
out:
	cc_wipe(tmp, sizeof tmp);
	cc_buf_free(&b);
	return r;
}

static int https_request(void *ud, const char *method, const char *path,
			 const char *cookie, const void *body, size_t len,
			 struct kbs_http_reply *ret)
{
	struct https *h = ud;
	if (strpbrk(path, "\r\n ") || (cookie && strpbrk(cookie, "\r\n")))
		return -EINVAL;
	struct cc_buf req;
	cc_buf_init(&req, (size_t)KBS_BODY_MAX + 4096, false);
	int r = cc_buf_printf(&req, "%s %s HTTP/1.1\r\nHost: %s%s%s:%s\r\n", method, path,
			      h->host_is_ip && strchr(h->host, ':') ? "[" : "", h->host,
			      h->host_is_ip && strchr(h->host, ':') ? "]" : "", h->port);
	if (!r && cookie)
		r = cc_buf_printf(&req, "Cookie: %s\r\n", cookie);
	if (!r)
		r = cc_buf_printf(&req, "Accept: application/json\r\n"
					"Content-Type: application/json\r\n"
					"Content-Length: %zu\r\n\r\n", len);
	if (!r && len)
		r = cc_buf_append(&req, body, len);
	if (r) {
		cc_buf_free(&req);
		return r;
	}
	for (int attempt = 0; attempt < 2; attempt++) {
		bool reused = h->ssl != NULL;
		if (!h->ssl && (r = tls_connect(h)))
			break;
		memset(ret, 0, sizeof *ret);
		bool got_any = false, close_after = false;
		r = write_all(h, req.data, req.len);
		if (!r)
			r = read_response(h, ret, &got_any, &close_after);
		if (r == 0) {
			if (close_after)
				conn_close(h);
			break;
		}
		conn_close(h);
		/* A kept-alive connection the server closed: retry once. */
		if (!(reused && !got_any))
			break;
	}
	cc_buf_free(&req);
	return r;
}

int kbs_https_transport_new(struct kbs_transport **ret, const char *url,
			    const char *ca_path, unsigned timeout_ms)
{
	if (!ret || !url || !ca_path || strncmp(url, "https://", 8) != 0)
		return -EINVAL;
	struct https *h = calloc(1, sizeof *h);
	if (!h)
		return -ENOMEM;
	h->fd = -1;
	h->timeout_ms = timeout_ms ? timeout_ms : 30000;
	const char *a = url + 8;
	const char *hs = a, *he;
	if (*a == '[') {
		hs = a + 1;
		he = strchr(hs, ']');
		if (!he)
			goto bad;
		a = he + 1;
		h->host_is_ip = true;
	} else {
		he = a + strcspn(a, ":/");
		a = he;
	}
	size_t hl = (size_t)(he - hs);
	if (hl == 0 || hl >= sizeof h->host)
		goto bad;
	memcpy(h->host, hs, hl);
	h->host[hl] = 0;
	if (*a == ':') {
		a++;
		size_t pl = strspn(a, "0123456789");
		if (pl == 0 || pl >= sizeof h->port)
			goto bad;
		memcpy(h->port, a, pl);
		h->port[pl] = 0;
		a += pl;
	} else {
		snprintf(h->port, sizeof h->port, "443");
	}
	if (*a && strcmp(a, "/") != 0)
		goto bad;
	if (!h->host_is_ip) {
		struct in_addr ia;
		h->host_is_ip = inet_pton(AF_INET, h->host, &ia) == 1;
	}
	h->ctx = SSL_CTX_new(TLS_client_method());
	if (!h->ctx || SSL_CTX_set_min_proto_version(h->ctx, TLS1_3_VERSION) != 1) {
		kbs_https_transport_free(&h->pub);
		return KBS_E_HTTP;
	}
	if (SSL_CTX_load_verify_locations(h->ctx, ca_path, NULL) != 1) {
		cc_log(CC_LOG_ERROR, KBS_LOG, "cannot load CA certificates from %s", ca_path);
		ERR_clear_error();
		h->pub.userdata = h;
		kbs_https_transport_free(&h->pub);
		return KBS_E_HTTP;
	}
	SSL_CTX_set_verify(h->ctx, SSL_VERIFY_PEER, NULL);
	h->pub.userdata = h;
	h->pub.request = https_request;
	*ret = &h->pub;
	return 0;
bad:
	cc_log(CC_LOG_ERROR, KBS_LOG, "bad broker URL (want https://host:port)");
	free(h);
	return -EINVAL;
}

void kbs_https_transport_free(struct kbs_transport *t)
{
	if (!t)
		return;
	struct https *h = (struct https *)t;
	conn_close(h);
	SSL_CTX_free(h->ctx);
	free(h);
}

unsigned kbs_https_transport_handshakes(const struct kbs_transport *t)
{
	return t ? ((const struct https *)t)->handshakes : 0;
}
