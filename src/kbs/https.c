/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTPS transport of the KBS client, on the net library's blocking
 * HTTP/1.1 client: TLS 1.3 only, the broker's CA pinned (no system store),
 * host name or IP checked, one kept-alive connection, sizes capped and
 * every wait bounded by the net client.
 */
#include "kbs-internal.h"

#include <ccserve/net.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define BODY_MAX (1u << 20)

struct https {
	struct kbs_transport pub;
	char *url;
	uint8_t *ca;
	size_t ca_len;
	unsigned timeout_ms;
	struct net_http_client *c;
	unsigned connects;
};

static int ensure_client(struct https *h)
{
	if (h->c)
		return 0;
	struct net_tls_opts tls = {
		.ca_pem = (const char *)h->ca,
		.ca_pem_len = h->ca_len,
		.tls13_only = true,
	};
	struct net_http_client_opts o = {
		.url = h->url,
		.tls = &tls,
		.connect_timeout_ms = h->timeout_ms,
		.timeout_ms = h->timeout_ms,
		.max_header_bytes = 16384,
		.max_body = BODY_MAX,
	};
	int r = net_http_client_new(&h->c, &o);
	if (r) {
		cc_log(CC_LOG_ERROR, KBS_LOG, "HTTPS client for %s: %s", h->url, net_strerror(r));
		return KBS_E_HTTP;
	}
	h->connects++;
	return 0;
}

static int https_request(void *ud, const char *method, const char *path,
			 const char *cookie, const void *body, size_t len,
			 struct kbs_http_reply *ret)
{
	struct https *h = ud;
	int r = ensure_client(h);
	if (r)
		return r;
	/* A resource request ends the flow (the next fetch starts with a new
	 * auth): let the connection close after it. */
	bool last = strncmp(path, "/kbs/v0/resource/", 17) == 0;
	struct net_header hd[4] = {
		{"Accept", "application/json"},
		{"Content-Type", "application/json"},
		{"Connection", last ? "close" : "keep-alive"},
		{"Cookie", cookie},
	};
	struct net_http_response resp = {0};
	r = net_http_client_request(h->c, method, path, hd, cookie ? 4 : 3, body, len, &resp);
	if (r) {
		cc_log(CC_LOG_ERROR, KBS_LOG, "%s %s: %s", method, path, net_strerror(r));
		return KBS_E_HTTP;
	}
	memset(ret, 0, sizeof *ret);
	ret->status = resp.status;
	const char *sc = net_http_response_header(&resp, "set-cookie");
	if (sc && strlen(sc) < sizeof ret->set_cookie)
		snprintf(ret->set_cookie, sizeof ret->set_cookie, "%s", sc);
	ret->body = (char *)CC_TAKE_PTR(resp.body);
	ret->body_len = resp.body_len;
	net_http_response_clear(&resp);
	if (!ret->body) {
		ret->body = calloc(1, 1);
		if (!ret->body)
			return -ENOMEM;
	}
	return 0;
}

int kbs_https_transport_new(struct kbs_transport **ret, const char *url,
			    const char *ca_path, unsigned timeout_ms)
{
	if (!ret || !url || !ca_path || strncmp(url, "https://", 8) != 0)
		return -EINVAL;
	struct https *h = calloc(1, sizeof *h);
	if (!h)
		return -ENOMEM;
	h->timeout_ms = timeout_ms ? timeout_ms : 30000;
	h->url = strdup(url);
	int r = h->url ? cc_file_read(ca_path, 1u << 20, false, &h->ca, &h->ca_len) : -ENOMEM;
	if (r) {
		cc_log(CC_LOG_ERROR, KBS_LOG, "CA certificates %s: %s", ca_path, cc_strerror(r));
		free(h->url);
		free(h);
		return r;
	}
	h->pub.userdata = h;
	h->pub.request = https_request;
	/* Validate the URL and the CA now rather than at the first request. */
	if ((r = ensure_client(h))) {
		kbs_https_transport_free(&h->pub);
		return r;
	}
	*ret = &h->pub;
	return 0;
}

void kbs_https_transport_disconnect(struct kbs_transport *t)
{
	struct https *h = (struct https *)t;
	if (!h)
		return;
	net_http_client_free(h->c);
	h->c = NULL;
}

void kbs_https_transport_free(struct kbs_transport *t)
{
	struct https *h = (struct https *)t;
	if (!h)
		return;
	net_http_client_free(h->c);
	free(h->ca);
	free(h->url);
	free(h);
}

unsigned kbs_https_transport_handshakes(const struct kbs_transport *t)
{
	return t ? ((const struct https *)t)->connects : 0;
}
