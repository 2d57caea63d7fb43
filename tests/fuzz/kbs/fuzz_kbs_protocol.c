/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the broker's handling of untrusted JSON and headers.  The first byte
 * picks the surface:
 *   0  strict JSON reader + RFC 8785 writer: a parsed document must
 *      canonicalise, and its canonical form must parse and canonicalise to
 *      itself (idempotence);
 *   1  POST /kbs/v0/auth body;
 *   2  POST /kbs/v0/attest body on a fresh session (the fuzz verifier takes
 *      the quote's first 64 bytes as REPORTDATA, so bound evidence reaches
 *      the release path);
 *   3  the Cookie header of a resource request;
 *   4  a JWE for a fixed TEE key;
 *   5  the request path.
 * Any input must produce a well-formed response or error, never a crash, a
 * leak or a hang.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../../src/kbs/kbs-internal.h"
#include "../fuzz_fail.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct kbs_store *store;
static struct kbs_broker *broker;
static struct kbs_tee_key *tee_key;
static char dir[] = "/tmp/kbs-fuzz-XXXXXX";

static int fv_verify(void *ud, const char *tee, const uint8_t *q, size_t len,
		     struct kbs_evidence *ev, char *rule, size_t rule_sz, char *detail,
		     size_t detail_sz)
{
	(void)ud;
	(void)tee;
	if (len < KBS_REPORT_DATA_LEN) {
		snprintf(rule, rule_sz, "quote-malformed");
		snprintf(detail, detail_sz, "short");
		return KBS_E_EVIDENCE;
	}
	memcpy(ev->report_data, q, KBS_REPORT_DATA_LEN);
	snprintf(ev->measurement, sizeof ev->measurement, "00");
	ev->opaque = malloc(1);
	return 0;
}

static int fv_check(void *ud, const char *policy, const struct kbs_evidence *ev,
		    char *rule, size_t rule_sz, char *detail, size_t detail_sz)
{
	(void)ud;
	(void)ev;
	(void)detail;
	(void)detail_sz;
	if (strstr(policy, "deny")) {
		snprintf(rule, rule_sz, "policy-denied");
		return KBS_E_POLICY_DENY;
	}
	return 0;
}

static void fv_release(void *ud, struct kbs_evidence *ev)
{
	(void)ud;
	free(ev->opaque);
	ev->opaque = NULL;
}

static const struct kbs_verifier fverifier = {NULL, fv_verify, fv_check, NULL, fv_release};

static void quiet(void *ud, enum cc_log_level l, const char *c, const char *m)
{
	(void)ud;
	(void)l;
	(void)c;
	(void)m;
}

static void cleanup(void)
{
	kbs_broker_free(broker);
	kbs_store_free(store);
	kbs_tee_key_free(tee_key);
	static const char *const files[] = {"kbs.db", "kbs.db-wal", "kbs.db-shm"};
	char path[64];
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
}

static void init(void)
{
	if (broker)
		return;
	cc_log_set_sink(quiet, NULL);
	if (!mkdtemp(dir))
		fuzz_fail();
	char db[64], key[64];
	snprintf(db, sizeof db, "%s/kbs.db", dir);
	snprintf(key, sizeof key, "%s/master.key", dir);
	if (kbs_master_key_generate(key))
		fuzz_fail();
	struct kbs_store_opts so = {.path = db, .master_key_path = key, .create = true};
	if (kbs_store_open(&store, &so))
		fuzz_fail();
	/* The files stay open; unlink them so runs leave nothing behind. */
	unlink(key);
	if (kbs_store_secret_put(store, "a/b/c", "fuzz-secret", 11) ||
	    kbs_store_policy_set(store, "a/b/c", "{}", 2) ||
	    kbs_store_secret_put(store, "a/b/d", "fuzz-secret", 11) ||
	    kbs_store_policy_set(store, "a/b/d", "{\"deny\":1}", 10))
		fuzz_fail();
	struct kbs_broker_opts bo = {.store = store, .verifier = &fverifier, .allow_sim = true,
				     .max_sessions = 64};
	if (kbs_broker_new(&broker, &bo) || kbs_tee_key_new(&tee_key))
		fuzz_fail();
	atexit(cleanup);
}

static void handle(const char *method, const char *path, const char *cookie,
		   const uint8_t *body, size_t len, struct kbs_response *rs)
{
	struct kbs_request rq = {method, path, cookie, body, len, "fuzz"};
	kbs_broker_handle(broker, &rq, rs);
	if (rs->status < 200 || rs->status > 599 || (rs->body_len && !rs->body))
		fuzz_fail();
	/* Every answer is JSON the strict reader accepts. */
	struct kj *v = NULL;
	if (rs->body && kj_parse(rs->body, rs->body_len, &v) != 0)
		fuzz_fail();
	kj_free(v);
}

/* auth a session; returns its cookie in out and its nonce in nonce. */
static void new_session(char out[160], char nonce[64])
{
	struct kbs_response rs;
	const char *b = "{\"version\":\"0.4.0\",\"tee\":\"sim\"}";
	handle("POST", "/kbs/v0/auth", NULL, (const uint8_t *)b, strlen(b), &rs);
	size_t n = strcspn(rs.set_cookie, ";");
	memcpy(out, rs.set_cookie, n);
	out[n] = 0;
	struct kj *v = NULL;
	nonce[0] = 0;
	if (kj_parse(rs.body, rs.body_len, &v) == 0 && kj_str(kj_get(v, "nonce")))
		snprintf(nonce, 64, "%s", kj_str(kj_get(v, "nonce")));
	kj_free(v);
	kbs_response_clear(&rs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	init();
	if (size < 1)
		return 0;
	uint8_t mode = data[0] % 6;
	data++;
	size--;
	struct kbs_response rs;
	switch (mode) {
	case 0: {
		struct kj *v = NULL;
		if (kj_parse(data, size, &v) != 0)
			return 0;
		struct cc_buf a, b;
		cc_buf_init(&a, 0, false);
		cc_buf_init(&b, 0, false);
		if (kj_canon(v, &a) != 0)
			fuzz_fail();
		struct kj *w = NULL;
		if (kj_parse(a.data, a.len, &w) != 0 || kj_canon(w, &b) != 0 || a.len != b.len ||
		    memcmp(a.data, b.data, a.len) != 0)
			fuzz_fail();
		uint8_t rd[64];
		kbs_report_data_from_json(v, rd);
		kj_free(v);
		kj_free(w);
		cc_buf_free(&a);
		cc_buf_free(&b);
		break;
	}
	case 1:
		handle("POST", "/kbs/v0/auth", NULL, data, size, &rs);
		kbs_response_clear(&rs);
		break;
	case 2: {
		char cookie[160], nonce[64];
		new_session(cookie, nonce);
		handle("POST", "/kbs/v0/attest", cookie, data, size, &rs);
		bool ok = rs.status == 200;
		kbs_response_clear(&rs);
		if (ok) {
			handle("GET", "/kbs/v0/resource/a/b/c", cookie, NULL, 0, &rs);
			kbs_response_clear(&rs);
			handle("GET", "/kbs/v0/resource/a/b/d", cookie, NULL, 0, &rs);
			kbs_response_clear(&rs);
		}
		break;
	}
	case 3: {
		char *c = malloc(size + 1);
		if (!c)
			break;
		memcpy(c, data, size);
		c[size] = 0;
		handle("GET", "/kbs/v0/resource/a/b/c", c, NULL, 0, &rs);
		kbs_response_clear(&rs);
		free(c);
		break;
	}
	case 4: {
		uint8_t *pt = NULL;
		size_t n = 0;
		if (kbs_jwe_decrypt(tee_key, (const char *)data, size, &pt, &n) == 0)
			fuzz_fail(); /* nobody else can encrypt to this fresh key */
		break;
	}
	case 5: {
		char *p = malloc(size + 1);
		if (!p)
			break;
		memcpy(p, data, size);
		p[size] = 0;
		handle("GET", p, NULL, NULL, 0, &rs);
		kbs_response_clear(&rs);
		handle("POST", p, NULL, (const uint8_t *)"{}", 2, &rs);
		kbs_response_clear(&rs);
		free(p);
		break;
	}
	}
	return 0;
}
