/* SPDX-License-Identifier: Apache-2.0 */
/*
 * --kbs_url: get the volume key from the key broker.  The kbs client runs
 * the attestation flow (nonce, quote binding a fresh TEE key, attest,
 * resource, JWE unwrap) over an HTTPS transport built on net.  While the
 * broker cannot be reached the fetch is retried with exponential backoff;
 * an answer from the broker refusing the key (a policy denial) is final.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ccserve/util.h"
#include "kbs_fetch.h"

#ifdef CCSERVE_HAVE_KBS
#include "ccserve/kbs.h"
#include "ccserve/net.h"

#define RETRY_TOTAL_S 600
#define RETRY_MAX_SLEEP_S 30

struct https {
	struct net_http_client *c;
	int last_status;      /* HTTP status of the last reply (0: none) */
	int last_transport;   /* last transport error (0: none) */
};

static int https_request(void *ud, const char *method, const char *path, const char *cookie,
			 const void *body, size_t len, struct kbs_http_reply *ret)
{
	struct https *h = ud;
	struct net_header hdr[2];
	size_t nh = 0;
	hdr[nh++] = (struct net_header){ "Content-Type", "application/json" };
	if (cookie)
		hdr[nh++] = (struct net_header){ "Cookie", cookie };
	struct net_http_response r = { 0 };
	int rc = net_http_client_request(h->c, method, path, hdr, nh, body, len, &r);
	if (rc < 0) {
		h->last_transport = rc;
		h->last_status = 0;
		return rc;
	}
	h->last_transport = 0;
	h->last_status = r.status;
	memset(ret, 0, sizeof(*ret));
	ret->status = r.status;
	ret->body = (char *)r.body;
	ret->body_len = r.body_len;
	r.body = NULL;
	const char *sc = net_http_response_header(&r, "set-cookie");
	if (sc) {
		size_t n = strcspn(sc, ";");
		if (n >= sizeof(ret->set_cookie))
			n = sizeof(ret->set_cookie) - 1;
		memcpy(ret->set_cookie, sc, n);
		ret->set_cookie[n] = '\0';
	}
	net_http_response_clear(&r);
	return 0;
}

int ccserve_kbs_fetch(const struct serve_flags *f, uint8_t **ret, size_t *ret_len)
{
	uint8_t *ca = NULL;
	size_t ca_len = 0;
	int rc = cc_file_read(f->kbs_ca, 1u << 20, false, &ca, &ca_len);
	if (rc < 0) {
		fprintf(stderr, "ccserve: cannot read --kbs_ca \"%s\": %s\n", f->kbs_ca, cc_strerror(rc));
		return rc;
	}
	struct kbs_quote_provider *qp = NULL;
	const char *sim_dir = getenv("CCSERVE_SIM_DIR");
	rc = kbs_attest_provider_new(&qp, f->attestation_provider, sim_dir, NULL);
	if (rc < 0) {
		fprintf(stderr, "ccserve: --attestation_provider \"%s\": %s%s\n", f->attestation_provider,
			kbs_strerror(rc),
			!strcmp(f->attestation_provider, "sim") && !sim_dir
				? " (the sim provider needs CCSERVE_SIM_DIR)" : "");
		free(ca);
		return rc;
	}
	struct net_tls_opts tls = { .ca_pem = (const char *)ca, .ca_pem_len = ca_len };
	struct net_http_client_opts ho = { .url = f->kbs_url, .tls = &tls,
					   .connect_timeout_ms = 5000, .timeout_ms = 30000,
					   .cookies = false };
	struct https h = { 0 };
	rc = net_http_client_new(&h.c, &ho);
	if (rc < 0) {
		fprintf(stderr, "ccserve: --kbs_url \"%s\": %s\n", f->kbs_url, net_strerror(rc));
		kbs_attest_provider_free(qp);
		free(ca);
		return rc;
	}
	struct kbs_transport t = { .userdata = &h, .request = https_request };
	uint64_t start = cc_mono_ns();
	unsigned sleep_s = 1;
	for (;;) {
		rc = kbs_client_fetch(&t, qp, f->kbs_resource, ret, ret_len);
		if (rc == 0)
			break;
		bool unreachable = h.last_transport != 0 || h.last_status >= 500;
		if (!unreachable) {
			fprintf(stderr, "ccserve: the key broker refused the volume key for \"%s\": %s "
					"(HTTP %d)\n", f->kbs_resource, kbs_strerror(rc), h.last_status);
			break;
		}
		if ((cc_mono_ns() - start) / 1000000000u > RETRY_TOTAL_S) {
			fprintf(stderr, "ccserve: key broker %s unreachable for %d s, giving up: %s\n",
				f->kbs_url, RETRY_TOTAL_S,
				h.last_transport ? net_strerror(h.last_transport) : kbs_strerror(rc));
			break;
		}
		cc_log(CC_LOG_WARN, "ccserve", "key broker %s unreachable (%s); retrying in %u s",
		       f->kbs_url, h.last_transport ? net_strerror(h.last_transport) : kbs_strerror(rc),
		       sleep_s);
		struct timespec ts = { .tv_sec = sleep_s };
		nanosleep(&ts, NULL);
		sleep_s = sleep_s * 2 > RETRY_MAX_SLEEP_S ? RETRY_MAX_SLEEP_S : sleep_s * 2;
	}
	if (rc == 0)
		cc_log(CC_LOG_INFO, "ccserve", "volume key released by the key broker after attestation");
	net_http_client_free(h.c);
	kbs_attest_provider_free(qp);
	free(ca);
	return rc;
}

#else

int ccserve_kbs_fetch(const struct serve_flags *f, uint8_t **ret, size_t *ret_len)
{
	(void)ret;
	(void)ret_len;
	fprintf(stderr, "ccserve: --kbs_url %s: this build has no key broker client\n", f->kbs_url);
	return -ENOTSUP;
}

#endif
