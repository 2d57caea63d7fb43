/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The KBS protocol state machine: (request, session table, store, verifier)
 * -> response.  No HTTP and no sockets here, so every rule is testable
 * directly and the server is a thin adapter.
 *
 * Sessions: 32 random bytes named by the kbs-session-id cookie, in a hash
 * table bounded by max_sessions; when full the oldest session is evicted.
 * A session's nonce is single-use: the first /attest consumes it whatever the
 * outcome, so a replayed or retried attestation needs a new /auth.
 */
#include "kbs-internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#define COOKIE_NAME "kbs-session-id"
#define SID_LEN 32
#define SID_B64 43
#define NONCE_B64 44
#define AUTH_BODY_MAX 4096
#define QUOTE_MAX (128u << 10)
#define PROTOCOL_MAJOR_MINOR "0.4."

struct attestation {
	atomic_int ref;
	EVP_PKEY *pub;
	const char *alg;   /* static string */
	struct kbs_evidence ev;
	struct kbs_verifier v;
	char tee[8];
};

enum sess_state { S_CHALLENGED, S_ATTESTED };

struct session {
	uint8_t id[SID_LEN];
	struct session *hnext;
	struct session *prev, *next; /* creation order, oldest first */
	enum sess_state state;
	char tee[8];
	char nonce_b64[NONCE_B64 + 1];
	uint64_t nonce_expiry_ms;
	bool nonce_used;
	uint64_t attested_expiry_ms;
	struct attestation *att;
};

struct policy_entry {
	char *name;
	char *json;
};

struct policy_set {
	atomic_int ref;
	size_t n;
	struct policy_entry *e; /* sorted by name */
};

struct kbs_broker {
	struct kbs_broker_opts o;
	struct kbs_verifier v;
	pthread_mutex_t lock;          /* sessions */
	struct session **buckets;
	size_t nbuckets;
	struct session *oldest, *newest;
	size_t nsessions;
	pthread_mutex_t plock;         /* policies pointer */
	struct policy_set *policies;
};

/* ------------------------------------------------------------------------ */

static uint64_t now_ms(struct kbs_broker *b)
{
	if (b->o.clock_ms)
		return b->o.clock_ms(b->o.clock_ud);
	return cc_mono_ns() / 1000000u;
}

static void att_unref(struct attestation *a)
{
	if (!a || atomic_fetch_sub(&a->ref, 1) != 1)
		return;
	if (a->v.release)
		a->v.release(a->v.userdata, &a->ev);
	EVP_PKEY_free(a->pub);
	free(a);
}

static void pset_unref(struct policy_set *p)
{
	if (!p || atomic_fetch_sub(&p->ref, 1) != 1)
		return;
	for (size_t i = 0; i < p->n; i++) {
		free(p->e[i].name);
		free(p->e[i].json);
	}
	free(p->e);
	free(p);
}

static int pset_cmp(const void *a, const void *b)
{
	return strcmp(((const struct policy_entry *)a)->name,
		      ((const struct policy_entry *)b)->name);
}

struct pset_build {
	struct policy_set *p;
	size_t cap;
	struct kbs_broker *b;
};

static int pset_add(void *ud, const char *name, const char *json)
{
	struct pset_build *pb = ud;
	if (pb->p->n == pb->cap) {
		size_t nc = pb->cap ? pb->cap * 2 : 16, bytes;
		if (!cc_mul_ok(nc, sizeof(struct policy_entry), &bytes))
			return -ENOMEM;
		struct policy_entry *e = realloc(pb->p->e, bytes);
		if (!e)
			return -ENOMEM;
		pb->p->e = e;
		pb->cap = nc;
	}
	char *n = strdup(name), *j = strdup(json);
	if (!n || !j) {
		free(n);
		free(j);
		return -ENOMEM;
	}
	pb->p->e[pb->p->n++] = (struct policy_entry){n, j};
	return 0;
}

int kbs_broker_reload_policies(struct kbs_broker *b)
{
	if (!b)
		return -EINVAL;
	struct policy_set *p = calloc(1, sizeof *p);
	if (!p)
		return -ENOMEM;
	atomic_init(&p->ref, 1);
	struct pset_build pb = {p, 0, b};
	int r = kbs_store_policy_list(b->o.store, pset_add, &pb);
	if (r) {
		pset_unref(p);
		cc_log(CC_LOG_ERROR, KBS_LOG, "policy reload failed (%s); keeping %s",
		       kbs_strerror(r), b->policies ? "the previous set" : "none");
		return r;
	}
	if (p->n)
		qsort(p->e, p->n, sizeof *p->e, pset_cmp);
	pthread_mutex_lock(&b->plock);
	struct policy_set *old = b->policies;
	b->policies = p;
	pthread_mutex_unlock(&b->plock);
	pset_unref(old);
	cc_log(CC_LOG_INFO, KBS_LOG, "loaded %zu release polic%s", p->n,
	       p->n == 1 ? "y" : "ies");
	return 0;
}

static struct policy_set *pset_get(struct kbs_broker *b)
{
	pthread_mutex_lock(&b->plock);
	struct policy_set *p = b->policies;
	if (p)
		atomic_fetch_add(&p->ref, 1);
	pthread_mutex_unlock(&b->plock);
	return p;
}

static const char *pset_find(const struct policy_set *p, const char *name)
{
	if (!p || !p->n)
		return NULL;
	struct policy_entry key = {(char *)name, NULL};
	const struct policy_entry *e =
		bsearch(&key, p->e, p->n, sizeof *p->e, pset_cmp);
	return e ? e->json : NULL;
}

int kbs_broker_new(struct kbs_broker **ret, const struct kbs_broker_opts *o)
{
	if (!ret || !o || !o->store || !o->verifier || !o->verifier->verify ||
	    !o->verifier->check)
		return -EINVAL;
	struct kbs_broker *b = calloc(1, sizeof *b);
	if (!b)
		return -ENOMEM;
	b->o = *o;
	b->v = *o->verifier;
	b->o.verifier = &b->v;
	if (!b->o.nonce_ttl_s)
		b->o.nonce_ttl_s = 60;
	if (!b->o.attested_ttl_s)
		b->o.attested_ttl_s = 300;
	if (!b->o.max_sessions)
		b->o.max_sessions = 4096;
	if (b->o.max_sessions > (1u << 24))
		b->o.max_sessions = 1u << 24;
	b->nbuckets = 64;
	while (b->nbuckets < b->o.max_sessions)
		b->nbuckets *= 2;
	b->buckets = calloc(b->nbuckets, sizeof *b->buckets);
	pthread_mutex_init(&b->lock, NULL);
	pthread_mutex_init(&b->plock, NULL);
	int r = b->buckets ? kbs_broker_reload_policies(b) : -ENOMEM;
	if (r) {
		kbs_broker_free(b);
		return r;
	}
	*ret = b;
	return 0;
}

static void session_free(struct session *s)
{
	if (!s)
		return;
	att_unref(s->att);
	cc_wipe(s, sizeof *s);
	free(s);
}

void kbs_broker_free(struct kbs_broker *b)
{
	if (!b)
		return;
	struct session *s = b->oldest;
	while (s) {
		struct session *n = s->next;
		session_free(s);
		s = n;
	}
	free(b->buckets);
	pset_unref(b->policies);
	pthread_mutex_destroy(&b->lock);
	pthread_mutex_destroy(&b->plock);
	free(b);
}

size_t kbs_broker_session_count(struct kbs_broker *b)
{
	if (!b)
		return 0;
	pthread_mutex_lock(&b->lock);
	size_t n = b->nsessions;
	pthread_mutex_unlock(&b->lock);
	return n;
}

/* --- session table (callers hold b->lock) -------------------------------- */

static size_t bucket_of(const struct kbs_broker *b, const uint8_t *id)
{
	uint64_t h;
	memcpy(&h, id, sizeof h);
	return (size_t)(h & (b->nbuckets - 1));
}

static struct session *sess_find(struct kbs_broker *b, const uint8_t *id)
{
	for (struct session *s = b->buckets[bucket_of(b, id)]; s; s = s->hnext)
		if (cc_ct_equal(s->id, id, SID_LEN))
			return s;
	return NULL;
}

static void sess_unlink(struct kbs_broker *b, struct session *s)
{
	struct session **pp = &b->buckets[bucket_of(b, s->id)];
	while (*pp && *pp != s)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = s->hnext;
	if (s->prev)
		s->prev->next = s->next;
	else
		b->oldest = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		b->newest = s->prev;
	b->nsessions--;
}

static bool sess_dead(const struct session *s, uint64_t now)
{
	if (s->state == S_ATTESTED)
		return now > s->attested_expiry_ms;
	return s->nonce_used || now > s->nonce_expiry_ms;
}

/* Make room: drop dead sessions from the old end, then the oldest if full.
 * Returns the sessions to free (outside the lock) as a list via next. */
static struct session *sess_make_room(struct kbs_broker *b, uint64_t now)
{
	struct session *freed = NULL;
	while (b->oldest && (sess_dead(b->oldest, now) ||
			     b->nsessions >= b->o.max_sessions)) {
		struct session *s = b->oldest;
		if (!sess_dead(s, now))
			cc_log(CC_LOG_INFO, KBS_LOG,
			       "session table full (%u): evicting the oldest session",
			       b->o.max_sessions);
		sess_unlink(b, s);
		s->next = freed;
		freed = s;
	}
	return freed;
}

static void free_list(struct session *s)
{
	while (s) {
		struct session *n = s->next;
		session_free(s);
		s = n;
	}
}

static void sess_insert(struct kbs_broker *b, struct session *s)
{
	size_t i = bucket_of(b, s->id);
	s->hnext = b->buckets[i];
	b->buckets[i] = s;
	s->prev = b->newest;
	s->next = NULL;
	if (b->newest)
		b->newest->next = s;
	else
		b->oldest = s;
	b->newest = s;
	b->nsessions++;
}

/* Session id from a Cookie header; false when absent or malformed. */
static bool cookie_sid(const char *cookie, uint8_t id[SID_LEN])
{
	if (!cookie)
		return false;
	const char *p = cookie;
	const size_t nl = sizeof COOKIE_NAME - 1;
	while (*p) {
		while (*p == ' ' || *p == ';')
			p++;
		const char *end = strchr(p, ';');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len > nl + 1 && memcmp(p, COOKIE_NAME, nl) == 0 && p[nl] == '=') {
			size_t vl = len - nl - 1;
			while (vl && p[nl + 1 + vl - 1] == ' ')
				vl--;
			size_t got = 0;
			return vl == SID_B64 &&
			       cc_base64_decode(p + nl + 1, vl, CC_B64_URL_NOPAD, id,
						SID_LEN, &got) == 0 &&
			       got == SID_LEN;
		}
		if (!end)
			break;
		p = end + 1;
	}
	return false;
}

/* --- responses ----------------------------------------------------------- */

static int status_of(int err)
{
	switch (err) {
	case 0: return 200;
	case KBS_E_BADREQ: case KBS_E_BADNAME: case KBS_E_JWK: case KBS_E_VERSION:
		return 400;
	case KBS_E_NOSESSION: case KBS_E_NONCE_EXPIRED: case KBS_E_NONCE_USED:
	case KBS_E_NONCE_MISMATCH: case KBS_E_BINDING: case KBS_E_EVIDENCE:
	case KBS_E_NOT_ATTESTED: case KBS_E_ATTEST_EXPIRED:
		return 401;
	case KBS_E_TEE: case KBS_E_NO_POLICY: case KBS_E_POLICY_DENY:
		return 403;
	case KBS_E_NO_RESOURCE: case KBS_E_NOTFOUND:
		return 404;
	case KBS_E_METHOD: return 405;
	case KBS_E_TOOBIG: return 413;
	}
	return 500;
}

/* Take b's bytes as the body (500 if b failed to build). */
static void set_body(struct kbs_response *r, struct cc_buf *b, int build_err)
{
	if (build_err || !b->data) {
		static const char oom[] =
			"{\"type\":\"urn:ccserve:kbs:internal-error\",\"title\":\"out of memory\",\"status\":500}";
		cc_buf_free(b);
		r->status = 500;
		r->err = -ENOMEM;
		r->content_type = "application/problem+json";
		r->body = strdup(oom);
		r->body_len = r->body ? strlen(oom) : 0;
		return;
	}
	r->body = (char *)cc_buf_steal(b, &r->body_len);
}

/* Fill an RFC 7807 problem document. */
static int problem(struct kbs_response *r, int err, const char *rule,
		   const char *detail)
{
	free(r->body);
	r->body = NULL;
	r->err = err;
	r->status = status_of(err);
	r->content_type = "application/problem+json";
	if (!rule || !*rule)
		rule = kbs_rule_name(err);
	struct cc_buf b;
	cc_buf_init(&b, 8192, false);
	int e = cc_buf_puts(&b, "{\"type\":");
	char type[96];
	snprintf(type, sizeof type, "urn:ccserve:kbs:%s", rule);
	if (!e) e = kj_write_cstr(&b, type);
	if (!e) e = cc_buf_puts(&b, ",\"title\":");
	if (!e) e = kj_write_cstr(&b, kbs_strerror(err));
	if (!e) e = cc_buf_printf(&b, ",\"status\":%d,\"rule\":", r->status);
	if (!e) e = kj_write_cstr(&b, rule);
	if (!e && detail && *detail) {
		e = cc_buf_puts(&b, ",\"detail\":");
		if (!e) e = kj_write_cstr(&b, detail);
	}
	if (!e) e = cc_buf_putc(&b, '}');
	set_body(r, &b, e);
	r->err = err;
	return err;
}

void kbs_response_clear(struct kbs_response *r)
{
	if (!r)
		return;
	free(r->body);
	memset(r, 0, sizeof *r);
}

/* --- audit --------------------------------------------------------------- */

static void audit(struct kbs_broker *b, const struct kbs_request *req,
		  const char *event, const char *resource,
		  const char *measurement, int err, const char *rule,
		  const char *detail)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct kbs_audit_record rec = {
		.time_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
		.peer = req->peer,
		.event = err ? (strcmp(event, "release") == 0 ? "deny" : event) : event,
		.resource = resource,
		.measurement = measurement && *measurement ? measurement : NULL,
		.decision = err ? "deny" : "allow",
		.reason = rule && *rule ? rule : kbs_rule_name(err),
		.detail = detail && *detail ? detail : NULL,
	};
	if (b->o.audit)
		b->o.audit(b->o.audit_ud, &rec);
	if (b->o.audit_to_store) {
		int r = kbs_store_audit_append(b->o.store, &rec);
		if (r)
			cc_log(CC_LOG_ERROR, KBS_LOG, "audit record not stored: %s",
			       kbs_strerror(r));
	}
}

/* --- endpoints ----------------------------------------------------------- */

static int handle_auth(struct kbs_broker *b, const struct kbs_request *req,
		       struct kbs_response *resp)
{
	char detail[160] = "";
	int err = 0;
	struct kj *j = NULL;
	if (req->body_len > AUTH_BODY_MAX) {
		err = KBS_E_TOOBIG;
		snprintf(detail, sizeof detail, "auth body of %zu bytes exceeds %u",
			 req->body_len, AUTH_BODY_MAX);
		goto out;
	}
	if ((err = kj_parse(req->body, req->body_len, &j)) || j->t != KJ_OBJECT) {
		err = err == -ENOMEM ? err : KBS_E_BADREQ;
		snprintf(detail, sizeof detail, "body is not a JSON object (strict JSON, no duplicate names)");
		goto out;
	}
	const char *version = kj_str(kj_get(j, "version"));
	const char *tee = kj_str(kj_get(j, "tee"));
	if (!version || !tee) {
		err = KBS_E_BADREQ;
		snprintf(detail, sizeof detail, "\"version\" and \"tee\" strings are required");
		goto out;
	}
	if (strncmp(version, PROTOCOL_MAJOR_MINOR, strlen(PROTOCOL_MAJOR_MINOR)) != 0) {
		err = KBS_E_VERSION;
		snprintf(detail, sizeof detail, "protocol version must be 0.4.x");
		goto out;
	}
	if (strcmp(tee, "tdx") != 0 && strcmp(tee, "sim") != 0) {
		err = KBS_E_TEE;
		snprintf(detail, sizeof detail, "tee must be \"tdx\" or \"sim\"");
		goto out;
	}
	if (strcmp(tee, "sim") == 0 && !b->o.allow_sim) {
		err = KBS_E_TEE;
		snprintf(detail, sizeof detail,
			 "simulated TDs are not trusted by this broker (no sim root pinned)");
		goto out;
	}
	struct session *s = calloc(1, sizeof *s);
	uint8_t nonce[KBS_NONCE_LEN];
	if (!s) {
		err = -ENOMEM;
		goto out;
	}
	if (RAND_bytes(s->id, SID_LEN) != 1 || RAND_bytes(nonce, sizeof nonce) != 1) {
		free(s);
		err = -EIO;
		goto out;
	}
	cc_base64_encode(nonce, sizeof nonce, CC_B64_STD, s->nonce_b64,
			 sizeof s->nonce_b64);
	snprintf(s->tee, sizeof s->tee, "%s", tee);
	uint64_t now = now_ms(b);
	s->state = S_CHALLENGED;
	s->nonce_expiry_ms = now + (uint64_t)b->o.nonce_ttl_s * 1000u;
	char sid[SID_B64 + 1];
	cc_base64_encode(s->id, SID_LEN, CC_B64_URL_NOPAD, sid, sizeof sid);
	struct cc_buf ob;
	cc_buf_init(&ob, 1024, false);
	int be = cc_buf_printf(&ob, "{\"nonce\":\"%s\",\"extra-params\":{}}", s->nonce_b64);
	pthread_mutex_lock(&b->lock);
	struct session *freed = sess_make_room(b, now);
	sess_insert(b, s);
	pthread_mutex_unlock(&b->lock);
	free_list(freed);

	resp->status = 200;
	resp->err = 0;
	resp->content_type = "application/json";
	set_body(resp, &ob, be);
	snprintf(resp->set_cookie, sizeof resp->set_cookie,
		 COOKIE_NAME "=%s; Path=/kbs; Max-Age=%u; Secure; HttpOnly; SameSite=Strict",
		 sid, b->o.nonce_ttl_s + b->o.attested_ttl_s);
	cc_wipe(nonce, sizeof nonce);
out:
	if (err)
		problem(resp, err, NULL, detail);
	if (!err)
		snprintf(detail, sizeof detail, "tee %s", kj_str(kj_get(j, "tee")));
	audit(b, req, "auth", NULL, NULL, err, NULL, detail);
	kj_free(j);
	return err;
}

static int handle_attest(struct kbs_broker *b, const struct kbs_request *req,
			 struct kbs_response *resp)
{
	char rule[64] = "", detail[256] = "";
	int err = 0;
	struct kj *j = NULL;
	uint8_t *quote = NULL;
	size_t quote_len = 0;
	EVP_PKEY *pub = NULL;
	const char *alg = NULL;
	struct attestation *att = NULL;
	char tee[8] = "";
	uint8_t id[SID_LEN];

	if (!cookie_sid(req->cookie, id)) {
		err = KBS_E_NOSESSION;
		snprintf(detail, sizeof detail, "no kbs-session-id cookie: call /kbs/v0/auth first");
		goto out;
	}
	if (req->body_len > KBS_BODY_MAX) {
		err = KBS_E_TOOBIG;
		snprintf(detail, sizeof detail, "attest body of %zu bytes exceeds %u",
			 req->body_len, KBS_BODY_MAX);
		goto out;
	}
	if ((err = kj_parse(req->body, req->body_len, &j)) || j->t != KJ_OBJECT) {
		err = err == -ENOMEM ? err : KBS_E_BADREQ;
		snprintf(detail, sizeof detail, "body is not a JSON object (strict JSON, no duplicate names)");
		goto out;
	}
	const struct kj *rd = kj_get(j, "runtime-data");
	const struct kj *ev = kj_get(j, "tee-evidence");
	const struct kj *init = kj_get(j, "init-data");
	const struct kj *nonce_v = kj_get(rd, "nonce");
	const char *nonce = kj_str(nonce_v);
	const struct kj *jwk = kj_get(rd, "tee-pubkey");
	const struct kj *q = kj_get(ev, "quote");
	if (!rd || rd->t != KJ_OBJECT || !nonce || !jwk || jwk->t != KJ_OBJECT ||
	    !ev || ev->t != KJ_OBJECT || !kj_str(q)) {
		err = KBS_E_BADREQ;
		snprintf(detail, sizeof detail,
			 "want {\"runtime-data\":{\"nonce\",\"tee-pubkey\"},"
			 "\"tee-evidence\":{\"quote\"}}");
		goto out;
	}
	if (init && init->t != KJ_NULL) {
		err = KBS_E_BADREQ;
		snprintf(detail, sizeof detail, "init-data is not supported");
		goto out;
	}

	/* Consume the nonce first: one attempt per challenge, whatever happens. */
	uint64_t now = now_ms(b);
	pthread_mutex_lock(&b->lock);
	struct session *s = sess_find(b, id);
	if (!s) {
		err = KBS_E_NOSESSION;
		snprintf(detail, sizeof detail, "unknown, expired or evicted session");
	} else if (s->nonce_used) {
		err = KBS_E_NONCE_USED;
		snprintf(detail, sizeof detail, "this session's nonce was already used");
	} else {
		s->nonce_used = true;
		snprintf(tee, sizeof tee, "%s", s->tee);
		if (now > s->nonce_expiry_ms) {
			err = KBS_E_NONCE_EXPIRED;
			snprintf(detail, sizeof detail, "nonce expired %llu ms ago",
				 (unsigned long long)(now - s->nonce_expiry_ms));
		} else if (nonce_v->len != NONCE_B64 ||
			   !cc_ct_equal(nonce, s->nonce_b64, NONCE_B64)) {
			err = KBS_E_NONCE_MISMATCH;
			snprintf(detail, sizeof detail,
				 "runtime-data.nonce is not the nonce issued to this session");
		}
	}
	pthread_mutex_unlock(&b->lock);
	if (err)
		goto out;

	if ((err = kbs_jwk_import_public(jwk, &pub, &alg))) {
		snprintf(detail, sizeof detail,
			 "tee-pubkey must be an EC P-256 JWK with alg ECDH-ES or ECDH-ES+A256KW");
		goto out;
	}
	uint8_t expect[KBS_REPORT_DATA_LEN];
	if ((err = kbs_report_data_from_json(rd, expect))) {
		snprintf(detail, sizeof detail, "runtime-data cannot be canonicalised (RFC 8785)");
		goto out;
	}
	if (q->len > (QUOTE_MAX / 3 + 1) * 4 ||
	    cc_base64_decode_alloc(q->str, q->len, CC_B64_STD, &quote, &quote_len) ||
	    quote_len == 0 || quote_len > QUOTE_MAX) {
		err = KBS_E_BADREQ;
		snprintf(detail, sizeof detail, "tee-evidence.quote must be base64 of at most %u bytes",
			 QUOTE_MAX);
		goto out;
	}
	att = calloc(1, sizeof *att);
	if (!att) {
		err = -ENOMEM;
		goto out;
	}
	atomic_init(&att->ref, 1);
	att->v = b->v;
	snprintf(att->tee, sizeof att->tee, "%s", tee);
	err = b->v.verify(b->v.userdata, tee, quote, quote_len, &att->ev, rule,
			  sizeof rule, detail, sizeof detail);
	if (err) {
		att->v.release = NULL; /* nothing to release on failure */
		if (err != KBS_E_TEE)
			err = KBS_E_EVIDENCE;
		goto out;
	}
	if (!cc_ct_equal(att->ev.report_data, expect, sizeof expect)) {
		err = KBS_E_BINDING;
		snprintf(detail, sizeof detail,
			 "quote REPORTDATA is not SHA-384 of the canonical runtime-data "
			 "(nonce or tee-pubkey differ from what the TD quoted)");
		goto out;
	}
	att->pub = CC_TAKE_PTR(pub);
	att->alg = alg;

	pthread_mutex_lock(&b->lock);
	s = sess_find(b, id);
	if (!s) {
		err = KBS_E_NOSESSION;
		snprintf(detail, sizeof detail, "session evicted during attestation");
	} else {
		att_unref(s->att);
		s->att = att;
		atomic_fetch_add(&att->ref, 1);
		s->state = S_ATTESTED;
		s->attested_expiry_ms = now_ms(b) + (uint64_t)b->o.attested_ttl_s * 1000u;
	}
	pthread_mutex_unlock(&b->lock);
	if (err)
		goto out;
	struct cc_buf ob;
	cc_buf_init(&ob, 256, false);
	int be = cc_buf_printf(&ob, "{\"attested\":true,\"expires-in\":%u}",
			       b->o.attested_ttl_s);
	resp->status = 200;
	resp->err = 0;
	resp->content_type = "application/json";
	set_body(resp, &ob, be);
	snprintf(detail, sizeof detail, "tee %s", tee);
out:
	if (err)
		problem(resp, err, rule, detail);
	audit(b, req, "attest", NULL, att ? att->ev.measurement : NULL, err, rule,
	      detail);
	att_unref(att);
	EVP_PKEY_free(pub);
	free(quote);
	kj_free(j);
	return err;
}

static int handle_resource(struct kbs_broker *b, const struct kbs_request *req,
			   const char *name, struct kbs_response *resp)
{
	char rule[64] = "", detail[256] = "";
	int err = 0;
	struct attestation *att = NULL;
	struct policy_set *ps = NULL;
	uint8_t *secret = NULL;
	size_t secret_len = 0;
	uint8_t id[SID_LEN];
	bool name_ok = kbs_name_valid(name);

	if (!name_ok) {
		err = KBS_E_BADNAME;
		snprintf(detail, sizeof detail, "resource path must be /kbs/v0/resource/repo/type/tag");
		goto out;
	}
	if (!cookie_sid(req->cookie, id)) {
		err = KBS_E_NOSESSION;
		snprintf(detail, sizeof detail, "no kbs-session-id cookie");
		goto out;
	}
	uint64_t now = now_ms(b);
	pthread_mutex_lock(&b->lock);
	struct session *s = sess_find(b, id);
	if (!s) {
		err = KBS_E_NOSESSION;
		snprintf(detail, sizeof detail, "unknown, expired or evicted session");
	} else if (s->state != S_ATTESTED || !s->att) {
		err = KBS_E_NOT_ATTESTED;
		snprintf(detail, sizeof detail, "POST /kbs/v0/attest first");
	} else if (now > s->attested_expiry_ms) {
		err = KBS_E_ATTEST_EXPIRED;
		snprintf(detail, sizeof detail, "attest again with a new nonce");
	} else {
		att = s->att;
		atomic_fetch_add(&att->ref, 1);
	}
	pthread_mutex_unlock(&b->lock);
	if (err)
		goto out;

	ps = pset_get(b);
	const char *policy = pset_find(ps, name);
	err = kbs_store_secret_get(b->o.store, name, &secret, &secret_len);
	if (err) {
		if (err == KBS_E_NO_RESOURCE)
			snprintf(detail, sizeof detail, "no secret named \"%.200s\"", name);
		goto out;
	}
	if (!policy) {
		err = KBS_E_NO_POLICY;
		snprintf(detail, sizeof detail, "\"%.200s\" has no release policy", name);
		goto out;
	}
	err = b->v.check(b->v.userdata, policy, &att->ev, rule, sizeof rule,
			 detail, sizeof detail);
	if (err) {
		if (err != KBS_E_POLICY)
			err = KBS_E_POLICY_DENY;
		goto out;
	}
	char *jwe = NULL;
	size_t jwe_len = 0;
	err = kbs_jwe_encrypt_to(att->pub, att->alg, secret, secret_len, &jwe, &jwe_len);
	if (err) {
		snprintf(detail, sizeof detail, "cannot encrypt to the tee-pubkey");
		goto out;
	}
	resp->status = 200;
	resp->err = 0;
	resp->content_type = "application/json";
	resp->body = jwe;
	resp->body_len = jwe_len;
	snprintf(detail, sizeof detail, "%zu bytes released as JWE %s", secret_len, att->alg);
out:
	cc_secure_free(secret);
	if (err)
		problem(resp, err, rule, detail);
	audit(b, req, "release", name_ok ? name : NULL,
	      att ? att->ev.measurement : NULL, err, rule, detail);
	pset_unref(ps);
	att_unref(att);
	return err;
}

int kbs_broker_handle(struct kbs_broker *b, const struct kbs_request *req,
		      struct kbs_response *resp)
{
	if (!resp)
		return -EINVAL;
	memset(resp, 0, sizeof *resp);
	if (!b || !req || !req->method || !req->path || (!req->body && req->body_len))
		return problem(resp, KBS_E_BADREQ, NULL, "incomplete request");
	char path[KBS_NAME_MAX + 64];
	size_t pl = strcspn(req->path, "?#");
	if (pl >= sizeof path)
		return problem(resp, KBS_E_NOTFOUND, NULL, "path too long");
	memcpy(path, req->path, pl);
	path[pl] = 0;
	bool get = strcmp(req->method, "GET") == 0;
	bool post = strcmp(req->method, "POST") == 0;
	static const char res_prefix[] = "/kbs/v0/resource/";
	if (strcmp(path, "/kbs/v0/auth") == 0) {
		if (!post)
			return problem(resp, KBS_E_METHOD, NULL, "use POST");
		return handle_auth(b, req, resp);
	}
	if (strcmp(path, "/kbs/v0/attest") == 0) {
		if (!post)
			return problem(resp, KBS_E_METHOD, NULL, "use POST");
		return handle_attest(b, req, resp);
	}
	if (strncmp(path, res_prefix, sizeof res_prefix - 1) == 0) {
		if (!get)
			return problem(resp, KBS_E_METHOD, NULL, "use GET");
		return handle_resource(b, req, path + sizeof res_prefix - 1, resp);
	}
	return problem(resp, KBS_E_NOTFOUND, NULL, "no such endpoint");
}
