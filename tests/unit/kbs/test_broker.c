/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kbs broker: every protocol rule, with real sim evidence verified by the
 * attest library (the sim PKI is created per run) and a controllable clock.
 * Each refusal must carry its rule name and be audited.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kbs-internal.h"

#include <ccserve/attest.h>
#include "ccserve-config.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

static const char SECRET[] = "volume-key-0123456789abcdef-XYZ";
static const char RES[] = "model/volume/key";

struct fx {
	char dir[64];
	char sim[96];
	char db[128];
	char key[128];
	char mrtd[97], rtmr1[97];
	struct kbs_store *store;
	struct kbs_attest_verifier *ver;
	struct kbs_broker *b;
	uint64_t now_ms;
	struct cc_buf audit_lines;
	int audits;
};

static uint64_t clock_cb(void *ud)
{
	return ((struct fx *)ud)->now_ms;
}

static void audit_cb(void *ud, const struct kbs_audit_record *rec)
{
	struct fx *f = ud;
	char *line = NULL;
	assert_int_equal(kbs_audit_format_json(rec, &line), 0);
	assert_int_equal(cc_buf_puts(&f->audit_lines, line), 0);
	free(line);
	f->audits++;
}

static void read_sim_value(struct fx *f, const char *name, char out[97])
{
	char path[160];
	snprintf(path, sizeof path, "%s/sim.json", f->sim);
	uint8_t *t = NULL;
	size_t n = 0;
	assert_int_equal(cc_file_read(path, 65536, false, &t, &n), 0);
	struct kj *j = NULL;
	assert_int_equal(kj_parse(t, n, &j), 0);
	const char *v = kj_str(kj_get(j, name));
	assert_non_null(v);
	snprintf(out, 97, "%s", v);
	kj_free(j);
	free(t);
}

static void new_broker(struct fx *f, unsigned max_sessions, bool allow_sim)
{
	kbs_broker_free(f->b);
	f->b = NULL;
	struct kbs_broker_opts bo = {
		.store = f->store,
		.verifier = kbs_attest_verifier_ops(f->ver),
		.max_sessions = max_sessions,
		.allow_sim = allow_sim,
		.audit = audit_cb,
		.audit_ud = f,
		.audit_to_store = true,
		.clock_ms = clock_cb,
		.clock_ud = f,
	};
	assert_int_equal(kbs_broker_new(&f->b, &bo), 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/kbs-broker-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->sim, sizeof f->sim, "%s/sim", f->dir);
	snprintf(f->db, sizeof f->db, "%s/kbs.db", f->dir);
	snprintf(f->key, sizeof f->key, "%s/master.key", f->dir);
	if (attest_sim_init(f->sim, 30) || kbs_master_key_generate(f->key))
		return -1;
	read_sim_value(f, "mrtd", f->mrtd);
	read_sim_value(f, "rtmr1", f->rtmr1);
	struct kbs_store_opts so = {.path = f->db, .master_key_path = f->key, .create = true};
	if (kbs_store_open(&f->store, &so))
		return -1;
	char root[160], coll[160];
	snprintf(root, sizeof root, "%s/root_ca.pem", f->sim);
	snprintf(coll, sizeof coll, "%s/collateral", f->sim);
	struct kbs_attest_verifier_opts vo = {.sim_root_path = root, .sim_collateral_path = coll};
	if (kbs_attest_verifier_new(&f->ver, &vo))
		return -1;
	cc_buf_init(&f->audit_lines, 1u << 24, false);
	f->now_ms = 1000000;
	if (kbs_store_secret_put(f->store, RES, SECRET, sizeof SECRET - 1))
		return -1;
	char pol[512];
	snprintf(pol, sizeof pol, "{\"mrtd\":[\"%s\"],\"allow_debug\":false,"
		 "\"accepted_tcb_status\":[\"UpToDate\"]}", f->mrtd);
	if (kbs_store_policy_set(f->store, RES, pol, strlen(pol)))
		return -1;
	new_broker(f, 0, true);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	/* No log line and no audit row may hold the secret. */
	assert_null(memmem(f->audit_lines.data ? (void *)f->audit_lines.data : (void *)"", f->audit_lines.len,
			   SECRET, sizeof SECRET - 1));
	kbs_broker_free(f->b);
	kbs_store_free(f->store);
	uint8_t *raw = NULL;
	size_t rl = 0;
	assert_int_equal(cc_file_read(f->db, 64u << 20, false, &raw, &rl), 0);
	assert_null(memmem(raw, rl, SECRET, sizeof SECRET - 1));
	free(raw);
	kbs_attest_verifier_free(f->ver);
	cc_buf_free(&f->audit_lines);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/* --- a hand-driven client ------------------------------------------------ */

struct resp {
	int status;
	char rule[64];
	char *body;
	size_t len;
	char cookie[128];
};

static void do_req(struct fx *f, const char *method, const char *path,
		   const char *cookie, const void *body, size_t len, struct resp *out)
{
	struct kbs_request rq = {method, path, cookie, body, len, "127.0.0.1:4242"};
	struct kbs_response rs;
	int audits = f->audits;
	int err = kbs_broker_handle(f->b, &rq, &rs);
	memset(out, 0, sizeof *out);
	out->status = rs.status;
	out->body = rs.body;
	out->len = rs.body_len;
	rs.body = NULL;
	size_t n = strcspn(rs.set_cookie, ";");
	if (n < sizeof out->cookie) {
		memcpy(out->cookie, rs.set_cookie, n);
		out->cookie[n] = 0;
	}
	if (err) {
		struct kj *p = NULL;
		assert_int_equal(kj_parse(out->body, out->len, &p), 0);
		const char *rule = kj_str(kj_get(p, "rule"));
		assert_non_null(rule);
		assert_non_null(kj_str(kj_get(p, "title")));
		assert_non_null(kj_str(kj_get(p, "type")));
		snprintf(out->rule, sizeof out->rule, "%s", rule);
		kj_free(p);
		assert_string_equal(rs.content_type, "application/problem+json");
	}
	/* Every protocol request (not routing errors) is audited. */
	if (strncmp(path, "/kbs/v0/", 8) == 0 && err != KBS_E_METHOD && err != KBS_E_NOTFOUND)
		assert_int_equal(f->audits, audits + 1);
	kbs_response_clear(&rs);
}

static void resp_clear(struct resp *r)
{
	free(r->body);
	r->body = NULL;
}

/* auth -> nonce (malloc) and cookie */
static char *auth(struct fx *f, const char *tee, char cookie[128])
{
	char body[64];
	snprintf(body, sizeof body, "{\"version\":\"0.4.0\",\"tee\":\"%s\"}", tee);
	struct resp r;
	do_req(f, "POST", "/kbs/v0/auth", NULL, body, strlen(body), &r);
	assert_int_equal(r.status, 200);
	struct kj *j = NULL;
	assert_int_equal(kj_parse(r.body, r.len, &j), 0);
	const char *n = kj_str(kj_get(j, "nonce"));
	assert_non_null(n);
	uint8_t raw[64];
	size_t rl = 0;
	assert_int_equal(cc_base64_decode(n, strlen(n), CC_B64_STD, raw, sizeof raw, &rl), 0);
	assert_int_equal(rl, 32);
	char *nonce = strdup(n);
	kj_free(j);
	memcpy(cookie, r.cookie, 128);
	assert_true(strncmp(cookie, "kbs-session-id=", 15) == 0);
	resp_clear(&r);
	return nonce;
}

/* Attestation body for nonce, key `jwk` in runtime-data, quote bound to
 * `quoted_jwk` (normally the same), from the sim provider with flaw. */
static char *attest_body(struct fx *f, const char *nonce, const char *jwk,
			 const char *quoted_jwk, const char *flaw)
{
	char rd[1024], qrd[1024];
	snprintf(rd, sizeof rd, "{\"nonce\":\"%s\",\"tee-pubkey\":%s}", nonce, jwk);
	snprintf(qrd, sizeof qrd, "{\"nonce\":\"%s\",\"tee-pubkey\":%s}", nonce, quoted_jwk);
	uint8_t report[64];
	assert_int_equal(kbs_report_data(qrd, strlen(qrd), report), 0);
	struct kbs_quote_provider *p = NULL;
	assert_int_equal(kbs_attest_provider_new(&p, "sim", f->sim, flaw), 0);
	uint8_t *q = NULL;
	size_t ql = 0;
	assert_int_equal(p->quote(p->userdata, report, &q, &ql), 0);
	kbs_attest_provider_free(p);
	char *qb = NULL;
	assert_int_equal(cc_base64_encode_alloc(q, ql, CC_B64_STD, &qb), 0);
	free(q);
	size_t need = strlen(rd) + strlen(qb) + 64;
	char *body = malloc(need);
	snprintf(body, need, "{\"runtime-data\":%s,\"tee-evidence\":{\"quote\":\"%s\"}}", rd, qb);
	free(qb);
	return body;
}

static char *new_jwk(struct kbs_tee_key **k)
{
	assert_int_equal(kbs_tee_key_new(k), 0);
	char *jwk = NULL;
	assert_int_equal(kbs_tee_key_public_jwk(*k, NULL, &jwk), 0);
	return jwk;
}

/* auth + attest with a flaw; returns the attest response. */
static void attest_with(struct fx *f, const char *flaw, struct kbs_tee_key **key,
			char cookie[128], struct resp *out)
{
	char *nonce = auth(f, "sim", cookie);
	char *jwk = new_jwk(key);
	char *body = attest_body(f, nonce, jwk, jwk, flaw);
	do_req(f, "POST", "/kbs/v0/attest", cookie, body, strlen(body), out);
	free(body);
	free(jwk);
	free(nonce);
}

static void expect(struct resp *r, int status, const char *rule)
{
	if (r->status != status || strcmp(r->rule, rule) != 0)
		fail_msg("want %d %s, got %d %s: %.*s", status, rule, r->status, r->rule,
			 (int)r->len, r->body ? r->body : "");
	resp_clear(r);
}

static void get_resource(struct fx *f, const char *cookie, const char *name, struct resp *out)
{
	char path[256];
	snprintf(path, sizeof path, "/kbs/v0/resource/%s", name);
	do_req(f, "GET", path, cookie, NULL, 0, out);
}

/* --- tests --------------------------------------------------------------- */

static void test_release(void **state)
{
	struct fx *f = *state;
	struct kbs_tee_key *k = NULL;
	char cookie[128];
	struct resp r;
	attest_with(f, NULL, &k, cookie, &r);
	expect(&r, 200, "");
	get_resource(f, cookie, RES, &r);
	assert_int_equal(r.status, 200);
	assert_null(memmem(r.body, r.len, SECRET, sizeof SECRET - 1));
	uint8_t *pt = NULL;
	size_t pl = 0;
	assert_int_equal(kbs_jwe_decrypt(k, r.body, r.len, &pt, &pl), 0);
	assert_int_equal(pl, sizeof SECRET - 1);
	assert_memory_equal(pt, SECRET, pl);
	cc_secure_free(pt);
	resp_clear(&r);
	/* The session stays attested for more releases until it expires. */
	f->now_ms += 299 * 1000;
	get_resource(f, cookie, RES, &r);
	expect(&r, 200, "");
	f->now_ms += 2 * 1000;
	get_resource(f, cookie, RES, &r);
	expect(&r, 401, "attestation-expired");
	kbs_tee_key_free(k);
}

static void test_replayed_nonce(void **state)
{
	struct fx *f = *state;
	char cookie[128];
	char *nonce = auth(f, "sim", cookie);
	struct kbs_tee_key *k = NULL;
	char *jwk = new_jwk(&k);
	char *body = attest_body(f, nonce, jwk, jwk, NULL);
	struct resp r;
	do_req(f, "POST", "/kbs/v0/attest", cookie, body, strlen(body), &r);
	expect(&r, 200, "");
	do_req(f, "POST", "/kbs/v0/attest", cookie, body, strlen(body), &r);
	expect(&r, 401, "nonce-replayed");
	/* Replayed into a fresh session: that session's nonce differs. */
	char cookie2[128];
	char *nonce2 = auth(f, "sim", cookie2);
	do_req(f, "POST", "/kbs/v0/attest", cookie2, body, strlen(body), &r);
	expect(&r, 401, "nonce-mismatch");
	free(nonce2);
	free(body);
	free(jwk);
	free(nonce);
	kbs_tee_key_free(k);
}

static void test_expired_nonce(void **state)
{
	struct fx *f = *state;
	char cookie[128];
	char *nonce = auth(f, "sim", cookie);
	struct kbs_tee_key *k = NULL;
	char *jwk = new_jwk(&k);
	char *body = attest_body(f, nonce, jwk, jwk, NULL);
	f->now_ms += 61 * 1000;
	struct resp r;
	do_req(f, "POST", "/kbs/v0/attest", cookie, body, strlen(body), &r);
	expect(&r, 401, "nonce-expired");
	/* and it stays consumed */
	do_req(f, "POST", "/kbs/v0/attest", cookie, body, strlen(body), &r);
	assert_int_equal(r.status, 401);
	resp_clear(&r);
	free(body);
	free(jwk);
	free(nonce);
	kbs_tee_key_free(k);
}

static void test_evidence_from_other_session(void **state)
{
	struct fx *f = *state;
	char ca[128], cb[128];
	char *na = auth(f, "sim", ca);
	char *nb = auth(f, "sim", cb);
	struct kbs_tee_key *k = NULL;
	char *jwk = new_jwk(&k);
	char *body = attest_body(f, na, jwk, jwk, NULL);
	struct resp r;
	do_req(f, "POST", "/kbs/v0/attest", cb, body, strlen(body), &r);
	expect(&r, 401, "nonce-mismatch");
	free(body);
	/* Session b's nonce in the runtime-data, but the quote bound a's. */
	char rd_a[1024];
	snprintf(rd_a, sizeof rd_a, "%s", jwk);
	char *body2 = attest_body(f, nb, jwk, jwk, NULL);
	char *p = strstr(body2, nb);
	assert_non_null(p);
	memcpy(p, na, strlen(na)); /* same length: swap nonce after quoting */
	do_req(f, "POST", "/kbs/v0/attest", ca, body2, strlen(body2), &r);
	expect(&r, 401, "report-data-mismatch");
	free(body2);
	free(jwk);
	free(na);
	free(nb);
	kbs_tee_key_free(k);
}

static void test_pubkey_swap(void **state)
{
	struct fx *f = *state;
	char cookie[128];
	char *nonce = auth(f, "sim", cookie);
	struct kbs_tee_key *k1 = NULL, *k2 = NULL;
	char *j1 = new_jwk(&k1), *j2 = new_jwk(&k2);
	char *body = attest_body(f, nonce, j2, j1, NULL); /* quote binds k1, sends k2 */
	struct resp r;
	do_req(f, "POST", "/kbs/v0/attest", cookie, body, strlen(body), &r);
	expect(&r, 401, "report-data-mismatch");
	get_resource(f, cookie, RES, &r);
	expect(&r, 401, "not-attested");
	free(body);
	free(j1);
	free(j2);
	free(nonce);
	kbs_tee_key_free(k1);
	kbs_tee_key_free(k2);
}

static void release_refused(struct fx *f, const char *flaw, const char *rule)
{
	struct kbs_tee_key *k = NULL;
	char cookie[128];
	struct resp r;
	attest_with(f, flaw, &k, cookie, &r);
	expect(&r, 200, "");
	get_resource(f, cookie, RES, &r);
	expect(&r, 403, rule);
	kbs_tee_key_free(k);
}

static void test_policy_rules(void **state)
{
	struct fx *f = *state;
	release_refused(f, "debug-td", "debug-td");
	release_refused(f, "other-mrtd", "mrtd-not-allowed");
	release_refused(f, "out-of-date-tcb", "tcb-status-not-accepted");
	/* RTMR pinned to another value. */
	char pol[512];
	snprintf(pol, sizeof pol, "{\"mrtd\":[\"%s\"],\"rtmr1\":\"%096d\"}", f->mrtd, 7);
	assert_int_equal(kbs_store_policy_set(f->store, RES, pol, strlen(pol)), 0);
	/* Not visible until reload... */
	struct kbs_tee_key *k = NULL;
	char cookie[128];
	struct resp r;
	attest_with(f, NULL, &k, cookie, &r);
	expect(&r, 200, "");
	get_resource(f, cookie, RES, &r);
	expect(&r, 200, "");
	/* ...then applies to the same attested session. */
	assert_int_equal(kbs_broker_reload_policies(f->b), 0);
	get_resource(f, cookie, RES, &r);
	expect(&r, 403, "rtmr1-mismatch");
	kbs_tee_key_free(k);
	/* With the right RTMR it releases again. */
	snprintf(pol, sizeof pol, "{\"mrtd\":[\"%s\"],\"rtmr1\":\"%s\"}", f->mrtd, f->rtmr1);
	assert_int_equal(kbs_store_policy_set(f->store, RES, pol, strlen(pol)), 0);
	assert_int_equal(kbs_broker_reload_policies(f->b), 0);
	get_resource(f, cookie, RES, &r);
	expect(&r, 200, "");
}

static void test_bad_evidence(void **state)
{
	struct fx *f = *state;
	struct kbs_tee_key *k = NULL;
	char cookie[128];
	struct resp r;
	attest_with(f, "bad-signature", &k, cookie, &r);
	expect(&r, 401, "quote-signature");
	kbs_tee_key_free(k);
	attest_with(f, "revoked-pck", &k, cookie, &r);
	expect(&r, 401, "pck-revoked");
	kbs_tee_key_free(k);
	/* Garbage quote. */
	char *nonce = auth(f, "sim", cookie);
	char *jwk = new_jwk(&k);
	char body[2048];
	snprintf(body, sizeof body, "{\"runtime-data\":{\"nonce\":\"%s\",\"tee-pubkey\":%s},"
		 "\"tee-evidence\":{\"quote\":\"AAAA\"}}", nonce, jwk);
	do_req(f, "POST", "/kbs/v0/attest", cookie, body, strlen(body), &r);
	expect(&r, 401, "quote-malformed");
	free(nonce);
	free(jwk);
	kbs_tee_key_free(k);
}

static void test_sim_not_trusted(void **state)
{
	struct fx *f = *state;
	/* The broker refuses sim at auth when it trusts no sim root... */
	new_broker(f, 0, false);
	struct resp r;
	const char *b = "{\"version\":\"0.4.0\",\"tee\":\"sim\"}";
	do_req(f, "POST", "/kbs/v0/auth", NULL, b, strlen(b), &r);
	expect(&r, 403, "tee-not-trusted");
	/* ...and sim evidence passed off as tdx meets a verifier without TDX
	 * collateral / Intel's root: refused. */
	char cookie[128];
	char *nonce = auth(f, "tdx", cookie);
	struct kbs_tee_key *k = NULL;
	char *jwk = new_jwk(&k);
	char *body = attest_body(f, nonce, jwk, jwk, NULL);
	do_req(f, "POST", "/kbs/v0/attest", cookie, body, strlen(body), &r);
	expect(&r, 403, "tee-not-trusted");
	free(body);
	free(jwk);
	free(nonce);
	kbs_tee_key_free(k);

	/* A verifier with real TDX collateral and Intel's root, no sim root. */
	char coll[512];
	snprintf(coll, sizeof coll, "%s/tdx/collateral/dqvl-2025-06/collateral.json",
		 getenv("CCSERVE_SHARED_TESTDATA") ? getenv("CCSERVE_SHARED_TESTDATA")
						   : CCSERVE_SHARED_TESTDATA);
	struct kbs_attest_verifier *v = NULL;
	struct kbs_attest_verifier_opts vo = {.collateral_path = coll, .verify_at = 1751328000};
	assert_int_equal(kbs_attest_verifier_new(&v, &vo), 0);
	struct kbs_attest_verifier *keep = f->ver;
	f->ver = v;
	new_broker(f, 0, kbs_attest_verifier_trusts_sim(v));
	nonce = auth(f, "tdx", cookie);
	jwk = new_jwk(&k);
	body = attest_body(f, nonce, jwk, jwk, NULL);
	do_req(f, "POST", "/kbs/v0/attest", cookie, body, strlen(body), &r);
	assert_int_equal(r.status, 401);
	assert_true(strcmp(r.rule, "untrusted-root") == 0 ||
		    strcmp(r.rule, "collateral-mismatch") == 0);
	resp_clear(&r);
	free(body);
	free(jwk);
	free(nonce);
	kbs_tee_key_free(k);
	kbs_broker_free(f->b);
	f->b = NULL;
	kbs_attest_verifier_free(v);
	f->ver = keep;
	new_broker(f, 0, true);
}

static void test_resource_rules(void **state)
{
	struct fx *f = *state;
	assert_int_equal(kbs_store_secret_put(f->store, "model/volume/nopolicy", "zz", 2), 0);
	struct kbs_tee_key *k = NULL;
	char cookie[128];
	struct resp r;
	attest_with(f, NULL, &k, cookie, &r);
	expect(&r, 200, "");
	get_resource(f, cookie, "model/volume/nopolicy", &r);
	expect(&r, 403, "no-policy");
	get_resource(f, cookie, "model/volume/unknown", &r);
	expect(&r, 404, "unknown-resource");
	get_resource(f, cookie, "model/../key", &r);
	expect(&r, 400, "invalid-resource-name");
	get_resource(f, cookie, "a/b", &r);
	expect(&r, 400, "invalid-resource-name");
	get_resource(f, NULL, RES, &r);
	expect(&r, 401, "no-session");
	get_resource(f, "kbs-session-id=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", RES, &r);
	expect(&r, 401, "no-session");
	get_resource(f, "kbs-session-id=garbage", RES, &r);
	expect(&r, 401, "no-session");
	kbs_tee_key_free(k);
}

static void test_bad_requests(void **state)
{
	struct fx *f = *state;
	struct resp r;
	char cookie[128];
	do_req(f, "POST", "/kbs/v0/auth", NULL, "{", 1, &r);
	expect(&r, 400, "malformed-request");
	const char *dup = "{\"version\":\"0.4.0\",\"tee\":\"sim\",\"tee\":\"tdx\"}";
	do_req(f, "POST", "/kbs/v0/auth", NULL, dup, strlen(dup), &r);
	expect(&r, 400, "malformed-request");
	const char *ver = "{\"version\":\"0.1.0\",\"tee\":\"sim\"}";
	do_req(f, "POST", "/kbs/v0/auth", NULL, ver, strlen(ver), &r);
	expect(&r, 400, "unsupported-version");
	const char *tee = "{\"version\":\"0.4.0\",\"tee\":\"snp\"}";
	do_req(f, "POST", "/kbs/v0/auth", NULL, tee, strlen(tee), &r);
	expect(&r, 403, "tee-not-trusted");
	char *big = malloc(KBS_BODY_MAX + 10);
	memset(big, ' ', KBS_BODY_MAX + 10);
	do_req(f, "POST", "/kbs/v0/auth", NULL, big, 5000, &r);
	expect(&r, 413, "body-too-large");
	char *nonce = auth(f, "sim", cookie);
	do_req(f, "POST", "/kbs/v0/attest", cookie, big, KBS_BODY_MAX + 10, &r);
	expect(&r, 413, "body-too-large");
	free(big);
	do_req(f, "POST", "/kbs/v0/attest", cookie, "[]", 2, &r);
	expect(&r, 400, "malformed-request");
	do_req(f, "POST", "/kbs/v0/attest", cookie, "{\"runtime-data\":{}}", 19, &r);
	expect(&r, 400, "malformed-request");
	char body[512];
	snprintf(body, sizeof body, "{\"runtime-data\":{\"nonce\":\"%s\",\"tee-pubkey\":"
		 "{\"kty\":\"RSA\",\"alg\":\"RSA-OAEP\",\"n\":\"AQAB\",\"e\":\"AQAB\"}},"
		 "\"tee-evidence\":{\"quote\":\"AAAA\"}}", nonce);
	do_req(f, "POST", "/kbs/v0/attest", cookie, body, strlen(body), &r);
	expect(&r, 400, "invalid-tee-pubkey");
	free(nonce);
	do_req(f, "GET", "/kbs/v0/auth", NULL, NULL, 0, &r);
	expect(&r, 405, "method-not-allowed");
	do_req(f, "POST", "/kbs/v0/resource/a/b/c", NULL, NULL, 0, &r);
	expect(&r, 405, "method-not-allowed");
	do_req(f, "GET", "/kbs/v1/auth", NULL, NULL, 0, &r);
	expect(&r, 404, "not-found");
	do_req(f, "POST", "/kbs/v0/attest", NULL, "{}", 2, &r);
	expect(&r, 401, "no-session");
}

static void test_session_table_full(void **state)
{
	struct fx *f = *state;
	new_broker(f, 4, true);
	char cookies[6][128];
	char *nonces[6];
	for (int i = 0; i < 6; i++)
		nonces[i] = auth(f, "sim", cookies[i]);
	assert_int_equal(kbs_broker_session_count(f->b), 4);
	struct kbs_tee_key *k = NULL;
	char *jwk = new_jwk(&k);
	struct resp r;
	/* The two oldest were evicted... */
	char *body = attest_body(f, nonces[0], jwk, jwk, NULL);
	do_req(f, "POST", "/kbs/v0/attest", cookies[0], body, strlen(body), &r);
	expect(&r, 401, "no-session");
	free(body);
	/* ...the newest still works. */
	body = attest_body(f, nonces[5], jwk, jwk, NULL);
	do_req(f, "POST", "/kbs/v0/attest", cookies[5], body, strlen(body), &r);
	expect(&r, 200, "");
	free(body);
	for (int i = 0; i < 6; i++)
		free(nonces[i]);
	free(jwk);
	kbs_tee_key_free(k);
	new_broker(f, 0, true);
}

/* The client library over an in-process transport. */
static int transport(void *ud, const char *method, const char *path,
		     const char *cookie, const void *body, size_t len,
		     struct kbs_http_reply *ret)
{
	struct fx *f = ud;
	struct kbs_request rq = {method, path, cookie, body, len, "in-process"};
	struct kbs_response rs;
	kbs_broker_handle(f->b, &rq, &rs);
	ret->status = rs.status;
	ret->body = rs.body;
	ret->body_len = rs.body_len;
	snprintf(ret->set_cookie, sizeof ret->set_cookie, "%s", rs.set_cookie);
	return 0;
}

static void test_client_flow(void **state)
{
	struct fx *f = *state;
	struct kbs_transport t = {f, transport};
	struct kbs_quote_provider *p = NULL;
	assert_int_equal(kbs_attest_provider_new(&p, "sim", f->sim, NULL), 0);
	uint8_t *s = NULL;
	size_t n = 0;
	assert_int_equal(kbs_client_fetch(&t, p, RES, &s, &n), 0);
	assert_int_equal(n, sizeof SECRET - 1);
	assert_memory_equal(s, SECRET, n);
	cc_secure_free(s);
	s = NULL;
	assert_int_equal(kbs_client_fetch(&t, p, "model/volume/unknown", &s, &n), KBS_E_REFUSED);
	assert_null(s);
	kbs_attest_provider_free(p);
	assert_int_equal(kbs_attest_provider_new(&p, "sim", f->sim, "debug-td"), 0);
	assert_int_equal(kbs_client_fetch(&t, p, RES, &s, &n), KBS_E_REFUSED);
	assert_null(s);
	kbs_attest_provider_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_release, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replayed_nonce, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expired_nonce, setup, teardown),
		cmocka_unit_test_setup_teardown(test_evidence_from_other_session, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pubkey_swap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_evidence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sim_not_trusted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resource_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_table_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_flow, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
