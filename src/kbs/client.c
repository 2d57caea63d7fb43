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
	json_t *p = r->body && r->body_len < REPLY_MAX
			    ? kbs_json_parse(r->body, r->body_len, NULL)
			    : NULL;
	if (json_is_object(p)) {
		rule = json_string_value(json_object_get(p, "rule"));
		detail = json_string_value(json_object_get(p, "detail"));
		title = json_string_value(json_object_get(p, "title"));
	}
	cc_log(CC_LOG_ERROR, KBS_LOG, "broker refused %s: HTTP %d, rule %s: %s%s%s",
	       step, r->status, rule ? rule : "?", title ? title : "(no problem document)",
	       detail ? " — " : "", detail ? detail : "");
	json_decref(p);
	return KBS_E_HTTP;
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
	char *jwk = NULL, *qb64 = NULL, *body = NULL;
	json_t *j = NULL, *rd = NULL, *att = NULL;
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
	j = kbs_json_parse(rep.body, rep.body_len, NULL);
	const char *nonce = json_string_value(json_object_get(j, "nonce"));
	if (!nonce || json_string_length(json_object_get(j, "nonce")) > 128) {
		r = KBS_E_PROTOCOL;
		goto out;
	}

	/* 2. fresh key, runtime-data, REPORTDATA, quote */
	if ((r = kbs_tee_key_new(&key)) ||
	    (r = kbs_tee_key_public_jwk(key, "ECDH-ES+A256KW", &jwk)))
		goto out;
	rd = json_object();
	json_t *pk = kbs_json_parse(jwk, strlen(jwk), NULL);
	if (!rd || !pk || json_object_set_new(rd, "nonce", json_string(nonce)) ||
	    json_object_set_new(rd, "tee-pubkey", pk)) {
		r = -ENOMEM;
		goto out;
	}
	if ((r = kbs_report_data_from_json(rd, report_data)))
		goto out;
	if ((r = p->quote(p->userdata, report_data, &quote, &quote_len))) {
		cc_log(CC_LOG_ERROR, KBS_LOG, "quote from the %s provider failed: %s",
		       p->tee, kbs_strerror(r));
		goto out;
	}
	if ((r = cc_base64_encode_alloc(quote, quote_len, CC_B64_STD, &qb64)))
		goto out;
	att = json_object();
	json_t *ev = json_object();
	if (!att || !ev || json_object_set(att, "runtime-data", rd) ||
	    json_object_set_new(ev, "quote", json_string(qb64)) ||
	    json_object_set_new(att, "tee-evidence", ev)) {
		r = -ENOMEM;
		goto out;
	}
	body = json_dumps(att, JSON_COMPACT);
	if (!body) {
		r = -ENOMEM;
		goto out;
	}

	/* 3. attest */
	reply_clear(&rep);
	if ((r = call(t, "POST", "/kbs/v0/attest", cookie, body, strlen(body), &rep)))
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
	free(body);
	free(quote);
	json_decref(j);
	json_decref(rd);
	json_decref(att);
	return r;
}
