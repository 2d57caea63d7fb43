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
#include <stdlib.h>

#include "ccserve/kbs.h"

#define RETRY_TOTAL_S 600
#define RETRY_MAX_SLEEP_S 30

/* The broker's HTTPS transport, watched: did the last request reach it? */
struct watched {
	struct kbs_transport *inner;
	int last_status;      /* HTTP status of the last reply (0: none) */
	int last_transport;   /* last transport error (0: none) */
};

static int watched_request(void *ud, const char *method, const char *path, const char *cookie,
			   const void *body, size_t len, struct kbs_http_reply *ret)
{
	struct watched *w = ud;
	int rc = w->inner->request(w->inner->userdata, method, path, cookie, body, len, ret);
	w->last_transport = rc < 0 ? rc : 0;
	w->last_status = rc < 0 ? 0 : ret->status;
	return rc;
}

int ccserve_kbs_fetch(const struct serve_flags *f, uint8_t **ret, size_t *ret_len)
{
	struct kbs_quote_provider *qp = NULL;
	const char *sim_dir = getenv("CCSERVE_SIM_DIR");
	int rc = kbs_attest_provider_new(&qp, f->attestation_provider, sim_dir, NULL);
	if (rc < 0) {
		fprintf(stderr, "ccserve: --attestation_provider \"%s\": %s%s\n", f->attestation_provider,
			kbs_strerror(rc),
			!strcmp(f->attestation_provider, "sim") && !sim_dir
				? " (the sim provider needs CCSERVE_SIM_DIR)" : "");
		return rc;
	}
	struct watched w = { 0 };
	rc = kbs_https_transport_new(&w.inner, f->kbs_url, f->kbs_ca, 10000);
	if (rc < 0) {
		fprintf(stderr, "ccserve: --kbs_url \"%s\" / --kbs_ca \"%s\": %s\n", f->kbs_url, f->kbs_ca,
			kbs_strerror(rc));
		kbs_attest_provider_free(qp);
		return rc;
	}
	struct kbs_transport t = { .userdata = &w, .request = watched_request };
	uint64_t start = cc_mono_ns();
	unsigned sleep_s = 1;
	for (;;) {
		rc = kbs_client_fetch(&t, qp, f->kbs_resource, ret, ret_len);
		if (rc == 0)
			break;
		bool unreachable = w.last_transport != 0 || w.last_status >= 500;
		if (!unreachable) {
			fprintf(stderr, "ccserve: the key broker refused the volume key \"%s\": %s "
					"(HTTP %d)\n", f->kbs_resource, kbs_strerror(rc), w.last_status);
			break;
		}
		if ((cc_mono_ns() - start) / 1000000000u > RETRY_TOTAL_S) {
			fprintf(stderr, "ccserve: key broker %s unreachable for %d s, giving up: %s\n",
				f->kbs_url, RETRY_TOTAL_S, kbs_strerror(rc));
			break;
		}
		cc_log(CC_LOG_WARN, "ccserve", "key broker %s unreachable (%s); retrying in %u s",
		       f->kbs_url, kbs_strerror(w.last_transport ? w.last_transport : rc), sleep_s);
		struct timespec ts = { .tv_sec = sleep_s };
		nanosleep(&ts, NULL);
		sleep_s = sleep_s * 2 > RETRY_MAX_SLEEP_S ? RETRY_MAX_SLEEP_S : sleep_s * 2;
	}
	if (rc == 0)
		cc_log(CC_LOG_INFO, "ccserve", "volume key released by the key broker after attestation");
	kbs_https_transport_free(w.inner);
	kbs_attest_provider_free(qp);
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
