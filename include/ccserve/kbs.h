/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ccserve kbs: the key broker.  It holds secrets (volume keys) sealed in a
 * store and releases one only to a trust domain whose fresh attestation
 * evidence satisfies that secret's release policy, encrypted to a key that the
 * evidence binds.  The wire shape is the Confidential Containers KBS protocol:
 *
 *   POST /kbs/v0/auth      {"version":"0.4.0","tee":"tdx"|"sim"}
 *                          -> {"nonce": base64(32 random bytes)} + session cookie
 *   POST /kbs/v0/attest    {"runtime-data": {"nonce":..., "tee-pubkey": JWK},
 *                           "tee-evidence": {"quote": base64}}
 *                          REPORTDATA = SHA-384(RFC 8785 JSON of runtime-data)
 *                          || 16 zero bytes
 *   GET  /kbs/v0/resource/<repo>/<type>/<tag>
 *                          -> flattened JWE (ECDH-ES or ECDH-ES+A256KW, A256GCM)
 *
 * Errors are RFC 7807 problem documents naming the failed rule.  A resource
 * without a policy is never released.
 *
 * Parts:
 *   - store: secrets sealed with AES-256-GCM under a master key, policies,
 *     audit records (SQLite by default; a backend interface leaves room for
 *     others);
 *   - broker: the protocol state machine, a pure function of (request,
 *     session table, store, verifier) -> response, independent of HTTP;
 *   - server: the broker over HTTPS (net library);
 *   - client: the whole flow for a TD (used by ccserve to unlock its volume).
 *
 * Error model: 0 on success, a negative errno for system failures or a
 * negative KBS_E_* code; kbs_strerror() names both (and CC_E_* codes).
 */
#ifndef CCSERVE_KBS_H
#define CCSERVE_KBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum kbs_error {
	KBS_E_BASE = 5000,             /* codes are -5001 and below */
	KBS_E_BADREQ = -5001,          /* malformed request (JSON, fields) */
	KBS_E_VERSION = -5002,         /* unsupported protocol version */
	KBS_E_TEE = -5003,             /* unsupported or untrusted TEE type */
	KBS_E_NOSESSION = -5004,       /* no session, unknown or evicted */
	KBS_E_NONCE_EXPIRED = -5005,   /* challenge nonce expired */
	KBS_E_NONCE_USED = -5006,      /* challenge nonce already used */
	KBS_E_NONCE_MISMATCH = -5007,  /* nonce is not this session's */
	KBS_E_BINDING = -5008,         /* REPORTDATA does not bind runtime-data */
	KBS_E_EVIDENCE = -5009,        /* evidence failed verification */
	KBS_E_NOT_ATTESTED = -5010,    /* session has not attested */
	KBS_E_ATTEST_EXPIRED = -5011,  /* attestation of the session expired */
	KBS_E_NO_POLICY = -5012,       /* resource has no release policy */
	KBS_E_POLICY_DENY = -5013,     /* policy refused the evidence */
	KBS_E_NO_RESOURCE = -5014,     /* unknown resource */
	KBS_E_BADNAME = -5015,         /* invalid resource name */
	KBS_E_TOOBIG = -5016,          /* request body or value too large */
	KBS_E_MASTER_KEY = -5017,      /* bad key file / key does not open store */
	KBS_E_CORRUPT = -5018,         /* a sealed value failed authentication */
	KBS_E_STORE = -5019,           /* store backend failure */
	KBS_E_SCHEMA = -5020,          /* store schema unknown to this build */
	KBS_E_JWE = -5021,             /* JWE malformed or does not decrypt */
	KBS_E_JWK = -5022,             /* JWK malformed or unsupported */
	KBS_E_METHOD = -5023,          /* HTTP method not allowed */
	KBS_E_NOTFOUND = -5024,        /* no such endpoint */
	KBS_E_PROTOCOL = -5025,        /* peer broke the protocol (client side) */
	KBS_E_HTTP = -5026,            /* transport failure or HTTP error */
	KBS_E_POLICY = -5027,          /* policy document invalid */
	KBS_E_REFUSED = -5028,         /* client: the broker refused (rule logged) */
};

/* Static description of err (KBS_E_*, CC_E_* or negative errno).  Never
 * NULL. */
const char *kbs_strerror(int err);

/* ------------------------------------------------------------------------ */
/* Names and limits                                                         */

#define KBS_NAME_MAX 200           /* "repo/type/tag" */
#define KBS_NAME_PART_MAX 64       /* each of repo, type, tag */
#define KBS_SECRET_MAX (64u << 10) /* a secret value */
#define KBS_POLICY_MAX (64u << 10) /* a policy document */
#define KBS_NONCE_LEN 32
#define KBS_REPORT_DATA_LEN 64

/* true when name is "repo/type/tag", each part 1..64 characters of
 * [A-Za-z0-9._-] and not "." or "..".  NULL -> false. */
bool kbs_name_valid(const char *name);

/* ------------------------------------------------------------------------ */
/* Canonical JSON and the REPORTDATA rule                                   */

/*
 * RFC 8785 (JCS) serialisation of the JSON text json[0..len): members sorted
 * by UTF-16 code units, no whitespace, ECMAScript number form, minimal string
 * escapes.  Input must be I-JSON: duplicate member names, non-UTF-8 text, NUL
 * in strings, numbers outside IEEE double, and nesting deeper than 64 are
 * rejected (KBS_E_BADREQ).  *ret is malloc'ed, NUL-terminated; caller frees.
 */
int kbs_jcs_canonicalize(const char *json, size_t len, char **ret,
			 size_t *ret_len);

/* REPORTDATA for runtime_data (JSON text of the runtime-data object):
 * SHA-384 of its RFC 8785 form, then 16 zero bytes.  Errors as above. */
int kbs_report_data(const char *runtime_data, size_t len,
		    uint8_t ret[KBS_REPORT_DATA_LEN]);

/* ------------------------------------------------------------------------ */
/* TEE keys and JWE                                                         */

/* An EC P-256 key pair held by the client (private part in OpenSSL's secure
 * heap when the caller initialised it; kbs_client does).  Opaque. */
struct kbs_tee_key;

/* Fresh P-256 key.  Errors: -ENOMEM, KBS_E_JWK. */
int kbs_tee_key_new(struct kbs_tee_key **ret);
void kbs_tee_key_free(struct kbs_tee_key *k);
/* Public JWK {"alg":alg,"crv":"P-256","kty":"EC","x":..,"y":..}; alg is
 * "ECDH-ES" or "ECDH-ES+A256KW" (NULL = the latter).  *ret malloc'ed. */
int kbs_tee_key_public_jwk(const struct kbs_tee_key *k, const char *alg,
			   char **ret);

/* Encrypt plaintext to the public JWK jwk (JSON text, as received in
 * tee-pubkey) as a flattened JSON JWE, enc A256GCM, alg from the JWK's "alg"
 * (ECDH-ES or ECDH-ES+A256KW).  *ret malloc'ed (no secret inside).
 * Errors: KBS_E_JWK, -ENOMEM, KBS_E_JWE (crypto failure). */
int kbs_jwe_encrypt(const char *jwk, size_t jwk_len, const void *plaintext,
		    size_t len, char **ret, size_t *ret_len);

/* Decrypt a flattened JSON JWE with k.  *ret is in secure memory (free with
 * cc_secure_free), NUL-terminated (not counted).  Any failure -> KBS_E_JWE
 * (or -ENOMEM), with nothing left in memory. */
int kbs_jwe_decrypt(const struct kbs_tee_key *k, const char *jwe, size_t len,
		    uint8_t **ret, size_t *ret_len);

/* ------------------------------------------------------------------------ */
/* Store                                                                    */

struct kbs_store;

struct kbs_store_opts {
	const char *path;            /* SQLite file (required) */
	const char *master_key_path; /* 32-byte key file (required unless
					audit_only) */
	bool create;                 /* create the store if missing */
	bool audit_only;             /* open without the master key: only
					audit and listing work */
};

/*
 * Open (or create) a store.  The master key is read into secure memory; the
 * key file must be a regular file not readable by group or others, holding
 * 32 raw bytes or 64 hex digits (one trailing newline allowed).  Schema
 * migrations run in one transaction.  Errors: -ENOENT (no store and !create),
 * KBS_E_MASTER_KEY (bad file, wrong key for this store), KBS_E_SCHEMA,
 * KBS_E_STORE, -errno.
 */
int kbs_store_open(struct kbs_store **ret, const struct kbs_store_opts *opts);
void kbs_store_free(struct kbs_store *s);  /* NULL-safe */

/* Create a new key file (O_EXCL, mode 0600) with 32 random bytes. */
int kbs_master_key_generate(const char *path);

/* Insert or replace the secret name (kbs_name_valid) with value[0..len),
 * 1..KBS_SECRET_MAX bytes, sealed.  Atomic: a crash leaves the old or the new
 * value.  Errors: KBS_E_BADNAME, KBS_E_TOOBIG, KBS_E_STORE. */
int kbs_store_secret_put(struct kbs_store *s, const char *name,
			 const void *value, size_t len);
/* Unseal name into secure memory (*ret, free with cc_secure_free).  Errors:
 * KBS_E_NO_RESOURCE, KBS_E_CORRUPT (tampered, swapped row, wrong key). */
int kbs_store_secret_get(struct kbs_store *s, const char *name, uint8_t **ret,
			 size_t *ret_len);
/* KBS_E_NO_RESOURCE when absent. */
int kbs_store_secret_rm(struct kbs_store *s, const char *name);

struct kbs_secret_info {
	const char *name;
	size_t size;          /* plaintext bytes */
	int64_t updated_s;    /* epoch seconds */
	bool has_policy;
};
typedef int (*kbs_secret_list_fn)(void *ud, const struct kbs_secret_info *i);
/* Calls fn for each secret in name order; a non-zero return stops and is
 * returned. */
int kbs_store_secret_list(struct kbs_store *s, kbs_secret_list_fn fn,
			  void *ud);

/* Set the policy (JSON text, at most KBS_POLICY_MAX, must parse as a JSON
 * object) of resource name.  The secret need not exist yet.  Errors:
 * KBS_E_BADNAME, KBS_E_POLICY, KBS_E_TOOBIG, KBS_E_STORE. */
int kbs_store_policy_set(struct kbs_store *s, const char *name,
			 const char *json, size_t len);
/* *ret malloc'ed, NUL-terminated.  KBS_E_NO_POLICY when none. */
int kbs_store_policy_get(struct kbs_store *s, const char *name, char **ret,
			 size_t *ret_len);
int kbs_store_policy_rm(struct kbs_store *s, const char *name);
typedef int (*kbs_policy_list_fn)(void *ud, const char *name,
				  const char *json);
int kbs_store_policy_list(struct kbs_store *s, kbs_policy_list_fn fn,
			  void *ud);

/* ------------------------------------------------------------------------ */
/* Audit                                                                    */

/* One audited event.  Never holds a secret, key or whole quote. */
struct kbs_audit_record {
	int64_t time_ms;          /* epoch ms */
	const char *peer;         /* "ip:port" or NULL */
	const char *event;        /* "auth" | "attest" | "release" | "deny" */
	const char *resource;     /* NULL when none */
	const char *measurement;  /* hex digest of the TD measurements or NULL */
	const char *decision;     /* "allow" | "deny" */
	const char *reason;       /* rule name ("ok" on success) */
	const char *detail;       /* human text or NULL */
};

/* One JSON line (with '\n') for rec.  *ret malloc'ed. */
int kbs_audit_format_json(const struct kbs_audit_record *rec, char **ret);
int kbs_store_audit_append(struct kbs_store *s,
			   const struct kbs_audit_record *rec);

struct kbs_audit_filter {
	int64_t since_ms;       /* 0 = all */
	const char *resource;   /* NULL = all */
	const char *decision;   /* NULL = all */
	unsigned limit;         /* 0 = 1000 */
};
typedef int (*kbs_audit_fn)(void *ud, const struct kbs_audit_record *rec);
/* Oldest first among the newest `limit` records matching f (NULL = all). */
int kbs_store_audit_query(struct kbs_store *s, const struct kbs_audit_filter *f,
			  kbs_audit_fn fn, void *ud);

/* ------------------------------------------------------------------------ */
/* Verifier interface                                                       */

/* What the broker learns from verified evidence.  Filled by the verifier. */
struct kbs_evidence {
	uint8_t report_data[KBS_REPORT_DATA_LEN];
	char measurement[97];    /* hex SHA-384 of MRTD||RTMR0..3 */
	void *opaque;            /* verifier's result, for policy checks */
};

/*
 * How the broker verifies evidence and evaluates policies.  The attest
 * library provides the production implementation (kbs_attest_verifier_*);
 * tests may provide others.  All callbacks must be thread-safe.
 *   verify:  quote bytes for tee ("tdx" | "sim") -> ev (opaque owned by the
 *            verifier until release).  On failure return KBS_E_EVIDENCE or
 *            KBS_E_TEE and write a rule name to rule ("tcb-out-of-date"...)
 *            and a human reason to detail.
 *   check:   policy JSON text vs ev.  0 = allow; KBS_E_POLICY_DENY with rule
 *            and detail filled; KBS_E_POLICY when the policy is broken.
 *   validate_policy: may be NULL; checks a policy document at set time.
 *   release: frees ev->opaque.
 */
struct kbs_verifier {
	void *userdata;
	int (*verify)(void *ud, const char *tee, const uint8_t *quote,
		      size_t len, struct kbs_evidence *ev, char *rule,
		      size_t rule_sz, char *detail, size_t detail_sz);
	int (*check)(void *ud, const char *policy_json,
		     const struct kbs_evidence *ev, char *rule, size_t rule_sz,
		     char *detail, size_t detail_sz);
	int (*validate_policy)(void *ud, const char *policy_json, char *detail,
			       size_t detail_sz);
	void (*release)(void *ud, struct kbs_evidence *ev);
};

/* The production verifier, built on the attest library (DCAP verification
 * and its policy language).  TDX evidence is checked against Intel's root and
 * the collateral at collateral_path; "sim" evidence only when sim_root_path
 * pins the sim PKI's root (with sim_collateral_path signed by it). */
struct kbs_attest_verifier;
struct kbs_quote_provider;

struct kbs_attest_verifier_opts {
	const char *collateral_path;     /* dir (PCS layout) or JSON bundle;
					    NULL: "tdx" evidence is refused */
	const char *sim_root_path;       /* NULL: "sim" evidence is refused */
	const char *sim_collateral_path; /* required with sim_root_path */
	int64_t verify_at;               /* epoch s; 0 = the current time */
};

/* Errors: attest errors (collateral, root), -ENOMEM, -EINVAL (nothing
 * trusted at all). */
int kbs_attest_verifier_new(struct kbs_attest_verifier **ret,
			    const struct kbs_attest_verifier_opts *o);
void kbs_attest_verifier_free(struct kbs_attest_verifier *v);  /* NULL-safe */
/* The callbacks for kbs_broker_opts.verifier (valid while v lives). */
const struct kbs_verifier *kbs_attest_verifier_ops(struct kbs_attest_verifier *v);
bool kbs_attest_verifier_trusts_sim(const struct kbs_attest_verifier *v);
/* Check a policy document with the attest policy parser (for `policy set`).
 * detail (may be NULL) receives the reason.  0 or KBS_E_POLICY. */
int kbs_policy_validate(const char *json, size_t len, char *detail,
			size_t detail_sz);

/* A quote provider backed by attest_provider ("tsm" or "sim").  sim_dir is
 * required for "sim"; sim_flaw names an attest_sim_flaw ("debug-td",
 * "other-mrtd", "out-of-date-tcb", "out-of-date-module", "bad-signature",
 * "revoked-pck", "wrong-qe") or NULL.  Free with kbs_attest_provider_free. */
int kbs_attest_provider_new(struct kbs_quote_provider **ret, const char *name,
			    const char *sim_dir, const char *sim_flaw);
void kbs_attest_provider_free(struct kbs_quote_provider *p);

/* ------------------------------------------------------------------------ */
/* Broker (protocol state machine)                                          */

struct kbs_broker;

typedef void (*kbs_audit_sink_fn)(void *ud,
				  const struct kbs_audit_record *rec);

struct kbs_broker_opts {
	struct kbs_store *store;             /* required, not owned */
	const struct kbs_verifier *verifier; /* required, copied */
	unsigned nonce_ttl_s;        /* 0 = 60 */
	unsigned attested_ttl_s;     /* 0 = 300 */
	unsigned max_sessions;       /* 0 = 4096; oldest evicted when full */
	bool allow_sim;              /* accept "tee":"sim" (tests/dev only) */
	kbs_audit_sink_fn audit;     /* extra sink (JSON lines...), may be NULL */
	void *audit_ud;
	bool audit_to_store;         /* also append each record to the store */
	/* Clock in ms for expiries; NULL = CLOCK_MONOTONIC.  For tests. */
	uint64_t (*clock_ms)(void *ud);
	void *clock_ud;
};

/* Policies are loaded from the store into memory now and on
 * kbs_broker_reload_policies().  Errors: -EINVAL, -ENOMEM, store errors. */
int kbs_broker_new(struct kbs_broker **ret, const struct kbs_broker_opts *o);
void kbs_broker_free(struct kbs_broker *b);
/* Atomically replace the in-memory policies with the store's.  On error the
 * old set stays. */
int kbs_broker_reload_policies(struct kbs_broker *b);
/* Number of live sessions (for tests and metrics). */
size_t kbs_broker_session_count(struct kbs_broker *b);

struct kbs_request {
	const char *method;     /* "GET", "POST"... */
	const char *path;       /* request target, without query */
	const char *cookie;     /* the Cookie header value or NULL */
	const uint8_t *body;
	size_t body_len;
	const char *peer;       /* for the audit log, may be NULL */
};

struct kbs_response {
	int status;             /* HTTP status */
	const char *content_type;
	char *body;             /* malloc'ed (kbs_response_clear) */
	size_t body_len;
	char set_cookie[160];   /* Set-Cookie value or "" */
	int err;                /* 0 or the KBS_E_* behind an error status */
};

/* Handle one request.  Always fills ret (errors become RFC 7807 bodies);
 * returns ret->err.  Thread-safe. */
int kbs_broker_handle(struct kbs_broker *b, const struct kbs_request *req,
		      struct kbs_response *ret);
void kbs_response_clear(struct kbs_response *r);

/* Largest body the broker accepts on any endpoint (the HTTP layer caps
 * earlier). */
#define KBS_BODY_MAX (256u << 10)

/* ------------------------------------------------------------------------ */
/* HTTPS server (the broker over the net library)                           */

struct kbs_server;

struct kbs_server_opts {
	const char *listen;          /* "127.0.0.1:8443"; port 0 picks one */
	const char *cert_path;       /* PEM chain, leaf first */
	const char *key_path;        /* PEM private key (read into secure
					memory, wiped after the TLS context
					is built) */
	struct kbs_broker *broker;   /* required, not owned */
	unsigned io_threads;         /* 0 = online CPUs */
	unsigned workers;            /* broker threads; 0 = online CPUs */
	unsigned queue_max;          /* pending requests; 0 = 1024 (then 503) */
	uint32_t header_timeout_ms;  /* handshake + headers; 0 = 10 s */
	uint32_t read_timeout_ms;    /* body silence; 0 = 10 s */
	uint32_t idle_timeout_ms;    /* keep-alive; 0 = 60 s */
	uint32_t max_connections;    /* 0 = 1024 */
};

/* TLS 1.3 only, HTTP/1.1 only.  Bodies above KBS_BODY_MAX are refused (413)
 * by the broker, and audited; above 4 x KBS_BODY_MAX by the HTTP layer.  Errors: -EINVAL, -errno reading files, net errors
 * (bind, TLS). */
int kbs_server_new(struct kbs_server **ret, const struct kbs_server_opts *o);
uint16_t kbs_server_port(const struct kbs_server *s);
int kbs_server_start(struct kbs_server *s);
/* Stop accepting, answer what is in flight (up to grace_ms), then close. */
int kbs_server_shutdown(struct kbs_server *s, uint32_t grace_ms);
void kbs_server_free(struct kbs_server *s);  /* NULL-safe; shuts down */

/* ------------------------------------------------------------------------ */
/* Client                                                                   */

/* A reply from a transport: status, body (malloc'ed, caller frees),
 * Set-Cookie value. */
struct kbs_http_reply {
	int status;
	char *body;
	size_t body_len;
	char set_cookie[160];
};

/* How the client reaches the broker.  request: method, path, cookie (NULL or
 * "kbs-session-id=..."), body -> reply.  Returns 0 when an HTTP reply came
 * back (any status), negative on transport failure. */
struct kbs_transport {
	void *userdata;
	int (*request)(void *ud, const char *method, const char *path,
		       const char *cookie, const void *body, size_t len,
		       struct kbs_http_reply *ret);
};

/* Where quotes come from: fills a quote (malloc'ed) over report_data. */
struct kbs_quote_provider {
	void *userdata;
	const char *tee;        /* "tdx" or "sim" */
	int (*quote)(void *ud, const uint8_t report_data[KBS_REPORT_DATA_LEN],
		     uint8_t **ret, size_t *ret_len);
};

/* HTTPS transport (net library client): HTTP/1.1 over TLS 1.3 to url
 * ("https://host:port"), trusting only the CA certificates in ca_path (the
 * broker's CA is pinned; the certificate must name host, or its IP).  One
 * connection, kept alive from auth to the resource request, closed after
 * it (a fetch is one flow).  timeout_ms bounds connect and each
 * request (0 = 30 s).  Errors: -EINVAL (bad URL), -errno reading ca_path,
 * KBS_E_HTTP (client setup; the cause is logged). */
int kbs_https_transport_new(struct kbs_transport **ret, const char *url,
			    const char *ca_path, unsigned timeout_ms);
void kbs_https_transport_free(struct kbs_transport *t);  /* NULL-safe */
/* Close the connection and the TLS context (the next request builds a new
 * client and makes a full TLS handshake). */
void kbs_https_transport_disconnect(struct kbs_transport *t);
/* Clients (hence connections) set up so far, for benchmarks and tests. */
unsigned kbs_https_transport_handshakes(const struct kbs_transport *t);

/* The whole flow over a transport: auth, fresh TEE key, quote over the bound
 * REPORTDATA, attest, get resource, JWE unwrap.  *ret in secure memory
 * (cc_secure_free).  Errors: KBS_E_HTTP / KBS_E_PROTOCOL (the server's
 * problem detail is logged), KBS_E_JWE, provider errors. */
int kbs_client_fetch(const struct kbs_transport *t,
		     const struct kbs_quote_provider *p, const char *resource,
		     uint8_t **ret, size_t *ret_len);

/* Everything the server needs to unlock its volume: HTTPS to the broker with
 * its CA pinned, a quote from provider ("tsm" inside a TD, "sim" for tests)
 * and the whole flow.  The TEE private key lives in OpenSSL's secure heap
 * (initialised here if the process has not), the secret in util secure
 * memory (*ret, free with cc_secure_free). */
struct kbs_client_opts {
	const char *url;        /* "https://host:port" */
	const char *ca_path;    /* PEM CA(s) that issued the broker's cert */
	const char *resource;   /* "repo/type/tag" */
	const char *provider;   /* "tsm" or "sim" */
	const char *sim_dir;    /* for "sim" */
	const char *sim_flaw;   /* for tests of the broker's refusals; NULL */
	unsigned timeout_ms;    /* per request; 0 = 30 s */
};
int kbs_client_get_resource(const struct kbs_client_opts *o, uint8_t **ret,
			    size_t *ret_len);

#ifdef __cplusplus
}
#endif

#endif /* CCSERVE_KBS_H */
