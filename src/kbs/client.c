/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client side of the KBS flow, over any transport: auth, fresh TEE key,
 * quote over the bound REPORTDATA, attest, resource, JWE unwrap.  The secret
 * only ever exists in secure memory.
 */
#include "kbs-internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#define REPLY_MAX (1u << 20)

static void reply_clear(struct kbs_http_reply *r)
{
	free(r->body);
	memset(r, 0, sizeof *r);
}

/* Log the server's problem document (rule and detail) and map to an error. */
static int server_error(const char *step, const struct kbs_http_reply *r)
{
	const char *rule = NULL, *detail = NULL, *title = NULL;
	struct kj *p = NULL;
	if (r->body && r->body_len < REPLY_MAX && kj_parse(r->body, r->body_len, &p) == 0) {
		rule = kj_str(kj_get(p, "rule"));
		detail = kj_str(kj_get(p, "detail"));
		title = kj_str(kj_get(p, "title"));
	}
	cc_log(CC_LOG_ERROR, KBS_LOG, "broker refused %s: HTTP %d, rule %s: %s%s%s",
	       step, r->status, rule ? rule : "?", title ? title : "(no problem document)",
	       detail ? " — " : "", detail ? detail : "");
	kj_free(p);
	return r->status >= 500 ? KBS_E_HTTP : KBS_E_REFUSED;
}

static int call(const struct kbs_transport *t, const char *method,
		const char *path, const char *cookie, const void *body,
		size_t len, struct kbs_http_reply *r)
{
	memset(r, 0, sizeof *r);
	int e = t->request(t->userdata, method, path, cookie, body, len, r);
	if (e) {
		cc_log(CC_LOG_ERROR, KBS_LOG, "%s %s: transport failed: %s", method,
		       path, kbs_strerror(e));
		reply_clear(r);
		return e < 0 ? e : KBS_E_HTTP;
	}
	if (r->body_len > REPLY_MAX) {
		reply_clear(r);
		return KBS_E_PROTOCOL;
	}
	return 0;
}

/* "kbs-session-id=VALUE" from a Set-Cookie value. */
static int cookie_from(const char *set_cookie, char *out, size_t outsz)
{
	size_t n = strcspn(set_cookie, ";");
	if (n == 0 || n >= outsz || strncmp(set_cookie, "kbs-session-id=", 15) != 0)
		return KBS_E_PROTOCOL;
	memcpy(out, set_cookie, n);
	out[n] = 0;
	return 0;
}

int kbs_client_fetch(const struct kbs_transport *t,
		     const struct kbs_quote_provider *p, const char *resource,
		     uint8_t **ret, size_t *ret_len)
{
	if (!t || !t->request || !p || !p->quote || !p->tee || !ret || !ret_len)
		return -EINVAL;
	if (!kbs_name_valid(resource))
		return KBS_E_BADNAME;
	int r;
	struct kbs_http_reply rep = {0};
	struct kbs_tee_key *key = NULL;
	char cookie[128];
	char *jwk = NULL, *qb64 = NULL;
	struct kj *j = NULL, *rd = NULL;
	struct cc_buf rdb, body;
	cc_buf_init(&rdb, 8192, false);
	cc_buf_init(&body, KBS_BODY_MAX, false);
	uint8_t *quote = NULL;
	size_t quote_len = 0;
	uint8_t report_data[KBS_REPORT_DATA_LEN];

	/* 1. auth */
	char auth[96];
	snprintf(auth, sizeof auth, "{\"version\":\"0.4.0\",\"tee\":\"%s\"}",
		 strcmp(p->tee, "sim") == 0 ? "sim" : "tdx");
	if ((r = call(t, "POST", "/kbs/v0/auth", NULL, auth, strlen(auth), &rep)))
		goto out;
	if (rep.status != 200) {
		r = server_error("auth", &rep);
		goto out;
	}
	if ((r = cookie_from(rep.set_cookie, cookie, sizeof cookie)))
		goto out;
	const char *nonce = NULL;
	if (kj_parse(rep.body, rep.body_len, &j) == 0)
		nonce = kj_str(kj_get(j, "nonce"));
	if (!nonce || strlen(nonce) > 128) {
		r = KBS_E_PROTOCOL;
		goto out;
	}

	/* 2. fresh key, runtime-data, REPORTDATA, quote */
	if ((r = kbs_tee_key_new(&key)) ||
	    (r = kbs_tee_key_public_jwk(key, "ECDH-ES+A256KW", &jwk)))
		goto out;
	/* runtime-data as sent; the broker hashes its canonical form, so do we. */
	if ((r = cc_buf_puts(&rdb, "{\"nonce\":")) || (r = kj_write_cstr(&rdb, nonce)) ||
	    (r = cc_buf_printf(&rdb, ",\"tee-pubkey\":%s}", jwk)))
		goto out;
	if ((r = kj_parse(rdb.data, rdb.len, &rd)) ||
	    (r = kbs_report_data_from_json(rd, report_data)))
		goto out;
	if ((r = p->quote(p->userdata, report_data, &quote, &quote_len))) {
		cc_log(CC_LOG_ERROR, KBS_LOG, "quote from the %s provider failed: %d",
		       p->tee, r);
		goto out;
	}
	if ((r = cc_base64_encode_alloc(quote, quote_len, CC_B64_STD, &qb64)))
		goto out;
	if ((r = cc_buf_puts(&body, "{\"runtime-data\":")) ||
	    (r = cc_buf_append(&body, rdb.data, rdb.len)) ||
	    (r = cc_buf_puts(&body, ",\"tee-evidence\":{\"quote\":\"")) ||
	    (r = cc_buf_puts(&body, qb64)) || (r = cc_buf_puts(&body, "\"}}")))
		goto out;

	/* 3. attest */
	reply_clear(&rep);
	if ((r = call(t, "POST", "/kbs/v0/attest", cookie, body.data, body.len, &rep)))
		goto out;
	if (rep.status != 200) {
		r = server_error("attest", &rep);
		goto out;
	}

	/* 4. resource */
	char path[KBS_NAME_MAX + 32];
	snprintf(path, sizeof path, "/kbs/v0/resource/%s", resource);
	reply_clear(&rep);
	if ((r = call(t, "GET", path, cookie, NULL, 0, &rep)))
		goto out;
	if (rep.status != 200) {
		r = server_error("resource", &rep);
		goto out;
	}
	r = kbs_jwe_decrypt(key, rep.body, rep.body_len, ret, ret_len);
	if (r)
		cc_log(CC_LOG_ERROR, KBS_LOG, "the released JWE does not decrypt with the TEE key");
out:
	reply_clear(&rep);
	kbs_tee_key_free(key);
	free(jwk);
	free(qb64);
	free(quote);
	kj_free(j);
	kj_free(rd);
	cc_buf_free(&rdb);
	cc_buf_free(&body);
	return r;
}

int kbs_client_get_resource(const struct kbs_client_opts *o, uint8_t **ret,
			    size_t *ret_len)
{
	if (!o || !o->url || !o->ca_path || !o->resource || !o->provider || !ret ||
	    !ret_len)
		return -EINVAL;
	if (!kbs_name_valid(o->resource))
		return KBS_E_BADNAME;
	/* EC private keys then live in locked, non-dumpable memory. */
	if (!CRYPTO_secure_malloc_initialized() &&
	    CRYPTO_secure_malloc_init(64 * 1024, 32) == 0)
		cc_log(CC_LOG_WARN, KBS_LOG, "OpenSSL secure heap unavailable; "
					     "the TEE key uses ordinary memory");
	struct kbs_quote_provider *p = NULL;
	struct kbs_transport *t = NULL;
	int r = kbs_attest_provider_new(&p, o->provider, o->sim_dir, o->sim_flaw);
	if (!r)
		r = kbs_https_transport_new(&t, o->url, o->ca_path, o->timeout_ms);
	if (!r)
		r = kbs_client_fetch(t, p, o->resource, ret, ret_len);
	kbs_https_transport_free(t);
	kbs_attest_provider_free(p);
	return r;
}
