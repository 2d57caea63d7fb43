/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Collateral loading (Intel PCS directory layout or dcap-qvl JSON bundle),
 * TCB Info v3 / QE Identity v2 parsing, and the quote-independent trust
 * checks (chains to the pinned root, CRL signatures, collateral signatures),
 * which are done once per root and cached.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>
#include <openssl/err.h>
#include <openssl/sha.h>

#include "internal.h"

#define JSON_DEPTH 16

static const struct {
	const char *name;
	enum attest_tcb_status st;
} status_names[] = {
	{ "UpToDate", ATTEST_TCB_UP_TO_DATE },
	{ "SWHardeningNeeded", ATTEST_TCB_SW_HARDENING_NEEDED },
	{ "ConfigurationNeeded", ATTEST_TCB_CONFIGURATION_NEEDED },
	{ "ConfigurationAndSWHardeningNeeded", ATTEST_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED },
	{ "OutOfDate", ATTEST_TCB_OUT_OF_DATE },
	{ "OutOfDateConfigurationNeeded", ATTEST_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED },
	{ "Revoked", ATTEST_TCB_REVOKED },
	{ "TcbLevelNotSupported", ATTEST_TCB_NOT_SUPPORTED },
};

const char *attest_tcb_status_name(enum attest_tcb_status s)
{
	for (size_t i = 0; i < CC_ARRAY_SIZE(status_names); i++)
		if (status_names[i].st == s)
			return status_names[i].name;
	return "Unknown";
}

int attest_tcb_status_parse(const char *name, enum attest_tcb_status *ret)
{
	for (size_t i = 0; i < CC_ARRAY_SIZE(status_names); i++)
		if (strcmp(status_names[i].name, name) == 0) {
			*ret = status_names[i].st;
			return 0;
		}
	return -EINVAL;
}

int attest_tcb_status_from_string(const char *s, enum attest_tcb_status *ret)
{
	/* TCB Info levels never say "TcbLevelNotSupported" */
	if (attest_tcb_status_parse(s, ret) < 0 || *ret == ATTEST_TCB_NOT_SUPPORTED)
		return ATTEST_E_COLLATERAL_FORMAT;
	return 0;
}

/* ---- json helpers ---- */

static json_object *parse_json(const char *s, size_t len, int *err)
{
	if (len > ATTEST_COLLATERAL_FILE_MAX || len > INT32_MAX) {
		*err = ATTEST_E_BAD_JSON;
		return NULL;
	}
	json_tokener *tok = json_tokener_new_ex(JSON_DEPTH);
	if (!tok) {
		*err = -ENOMEM;
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	json_object *o = json_tokener_parse_ex(tok, s, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len) {
		json_object_put(o);
		o = NULL;
		*err = ATTEST_E_BAD_JSON;
	}
	json_tokener_free(tok);
	return o;
}

static json_object *get(json_object *o, const char *key, json_type t, int *err)
{
	json_object *v;
	if (*err)
		return NULL;
	if (!json_object_object_get_ex(o, key, &v)) {
		cc_log(CC_LOG_DEBUG, ATTEST_LOG, "collateral: missing \"%s\"", key);
		*err = ATTEST_E_COLLATERAL_FORMAT;
		return NULL;
	}
	if (!json_object_is_type(v, t)) {
		cc_log(CC_LOG_DEBUG, ATTEST_LOG, "collateral: \"%s\" has the wrong type", key);
		*err = ATTEST_E_BAD_JSON;
		return NULL;
	}
	return v;
}

static const char *get_str(json_object *o, const char *key, int *err)
{
	json_object *v = get(o, key, json_type_string, err);
	return v ? json_object_get_string(v) : NULL;
}

static int64_t get_int(json_object *o, const char *key, int64_t min, int64_t max, int *err)
{
	json_object *v = get(o, key, json_type_int, err);
	if (!v)
		return 0;
	int64_t x = json_object_get_int64(v);
	if (x < min || x > max) {
		*err = ATTEST_E_COLLATERAL_FORMAT;
		return 0;
	}
	return x;
}

static void get_hex(json_object *o, const char *key, uint8_t *out, size_t n, int *err)
{
	const char *s = get_str(o, key, err);
	if (!s)
		return;
	size_t got;
	if (strlen(s) != 2 * n || cc_hex_decode(s, 2 * n, out, n, &got) < 0 || got != n) {
		cc_log(CC_LOG_DEBUG, ATTEST_LOG, "collateral: \"%s\" is not %zu hex bytes", key, n);
		*err = ATTEST_E_COLLATERAL_FORMAT;
	}
}

static int64_t get_time(json_object *o, const char *key, int *err)
{
	const char *s = get_str(o, key, err);
	int64_t t = 0;
	if (s && cc_time_parse(s, &t) < 0)
		*err = ATTEST_E_COLLATERAL_FORMAT;
	return t;
}

static void get_status(json_object *o, enum attest_tcb_status *st, int *err)
{
	const char *s = get_str(o, "tcbStatus", err);
	if (s && attest_tcb_status_from_string(s, st) < 0) {
		cc_log(CC_LOG_DEBUG, ATTEST_LOG, "collateral: unknown tcbStatus");
		*err = ATTEST_E_COLLATERAL_FORMAT;
	}
}

static void get_advisories(struct attest_collateral *c, json_object *lvl, size_t *first,
			   size_t *n, int *err)
{
	*first = c->n_adv;
	*n = 0;
	json_object *arr;
	if (*err || !json_object_object_get_ex(lvl, "advisoryIDs", &arr))
		return;
	if (!json_object_is_type(arr, json_type_array)) {
		*err = ATTEST_E_BAD_JSON;
		return;
	}
	size_t k = json_object_array_length(arr);
	if (k > ATTEST_MAX_ADVISORIES || c->n_adv + k > ADVISORY_POOL_MAX) {
		*err = ATTEST_E_COLLATERAL_FORMAT;
		return;
	}
	if (!c->adv) {
		c->adv = calloc(ADVISORY_POOL_MAX, sizeof(*c->adv));
		if (!c->adv) {
			*err = -ENOMEM;
			return;
		}
	}
	for (size_t i = 0; i < k; i++) {
		json_object *a = json_object_array_get_idx(arr, i);
		if (!json_object_is_type(a, json_type_string) ||
		    (size_t)json_object_get_string_len(a) >= ATTEST_ADVISORY_LEN ||
		    json_object_get_string_len(a) == 0) {
			*err = ATTEST_E_COLLATERAL_FORMAT;
			return;
		}
		const char *s = json_object_get_string(a);
		for (const char *q = s; *q; q++)
			if (!((*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') || *q == '-' ||
			      (*q >= 'a' && *q <= 'z'))) {
				*err = ATTEST_E_COLLATERAL_FORMAT;
				return;
			}
		snprintf(c->adv[c->n_adv], ATTEST_ADVISORY_LEN, "%s", s);
		c->n_adv++;
	}
	*n = k;
}

static json_object *get_array(json_object *o, const char *key, size_t min, size_t max,
			      size_t *ret_n, int *err)
{
	json_object *a = get(o, key, json_type_array, err);
	if (!a)
		return NULL;
	size_t n = json_object_array_length(a);
	if (n < min || n > max) {
		*err = ATTEST_E_COLLATERAL_FORMAT;
		return NULL;
	}
	*ret_n = n;
	return a;
}

static int parse_isv_levels(struct attest_collateral *c, json_object *o,
			    struct isv_level **ret, size_t *ret_n)
{
	int err = 0;
	size_t n = 0;
	json_object *arr = get_array(o, "tcbLevels", 1, TCB_LEVELS_MAX, &n, &err);
	if (err)
		return err;
	struct isv_level *lv = calloc(n, sizeof(*lv));
	if (!lv)
		return -ENOMEM;
	for (size_t i = 0; i < n && !err; i++) {
		json_object *l = json_object_array_get_idx(arr, i);
		if (!json_object_is_type(l, json_type_object)) {
			err = ATTEST_E_BAD_JSON;
			break;
		}
		json_object *tcb = get(l, "tcb", json_type_object, &err);
		if (tcb)
			lv[i].isvsvn = (uint16_t)get_int(tcb, "isvsvn", 0, 65535, &err);
		lv[i].tcb_date = get_time(l, "tcbDate", &err);
		get_status(l, &lv[i].status, &err);
		get_advisories(c, l, &lv[i].adv_first, &lv[i].n_adv, &err);
	}
	if (err) {
		free(lv);
		return err;
	}
	*ret = lv;
	*ret_n = n;
	return 0;
}

static void get_svn16(json_object *tcb, const char *key, uint16_t out[16], int *err)
{
	size_t n;
	json_object *arr = get_array(tcb, key, 16, 16, &n, err);
	if (!arr)
		return;
	for (size_t i = 0; i < 16 && !*err; i++) {
		json_object *e = json_object_array_get_idx(arr, i);
		if (!json_object_is_type(e, json_type_object)) {
			*err = ATTEST_E_BAD_JSON;
			return;
		}
		out[i] = (uint16_t)get_int(e, "svn", 0, 65535, err);
	}
}

static int parse_tcb_info(struct attest_collateral *c)
{
	int err = 0;
	json_object *o = parse_json((const char *)c->tcb_info_raw, c->tcb_info_len, &err);
	if (!o)
		return err;
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return ATTEST_E_BAD_JSON;
	}
	const char *id = get_str(o, "id", &err);
	if (id && strcmp(id, "TDX") != 0) {
		cc_log(CC_LOG_DEBUG, ATTEST_LOG, "TCB Info id is not TDX");
		err = ATTEST_E_COLLATERAL_FORMAT;
	}
	c->tcb_info_version = (int)get_int(o, "version", 3, 3, &err);
	c->tcb_issue = get_time(o, "issueDate", &err);
	c->tcb_next = get_time(o, "nextUpdate", &err);
	get_hex(o, "fmspc", c->fmspc, 6, &err);
	get_hex(o, "pceId", c->pce_id, 2, &err);
	get_int(o, "tcbType", 0, 0, &err);
	c->tcb_eval_num = (uint32_t)get_int(o, "tcbEvaluationDataNumber", 0, UINT32_MAX, &err);
	json_object *mod = get(o, "tdxModule", json_type_object, &err);
	if (mod) {
		c->has_module = true;
		get_hex(mod, "mrsigner", c->module_mrsigner, 48, &err);
		get_hex(mod, "attributes", c->module_attributes, 8, &err);
		get_hex(mod, "attributesMask", c->module_attributes_mask, 8, &err);
	}
	json_object *mids;
	if (!err && json_object_object_get_ex(o, "tdxModuleIdentities", &mids)) {
		size_t n = 0;
		mids = get_array(o, "tdxModuleIdentities", 0, MODULE_IDS_MAX, &n, &err);
		if (mids && n) {
			c->modules = calloc(n, sizeof(*c->modules));
			if (!c->modules)
				err = -ENOMEM;
			for (size_t i = 0; i < n && !err; i++) {
				struct module_identity *m = &c->modules[i];
				json_object *e = json_object_array_get_idx(mids, i);
				c->n_modules = i + 1;
				if (!json_object_is_type(e, json_type_object)) {
					err = ATTEST_E_BAD_JSON;
					break;
				}
				const char *mid = get_str(e, "id", &err);
				if (mid && (strlen(mid) >= sizeof(m->id) || !*mid))
					err = ATTEST_E_COLLATERAL_FORMAT;
				else if (mid)
					snprintf(m->id, sizeof(m->id), "%s", mid);
				get_hex(e, "mrsigner", m->mrsigner, 48, &err);
				get_hex(e, "attributes", m->attributes, 8, &err);
				get_hex(e, "attributesMask", m->attributes_mask, 8, &err);
				if (!err)
					err = parse_isv_levels(c, e, &m->levels, &m->n_levels);
			}
		}
	}
	size_t n = 0;
	json_object *levels = get_array(o, "tcbLevels", 1, TCB_LEVELS_MAX, &n, &err);
	if (levels) {
		c->levels = calloc(n, sizeof(*c->levels));
		if (!c->levels)
			err = -ENOMEM;
		else
			c->n_levels = n;
		for (size_t i = 0; i < n && !err; i++) {
			struct tcb_level *lv = &c->levels[i];
			json_object *l = json_object_array_get_idx(levels, i);
			if (!json_object_is_type(l, json_type_object)) {
				err = ATTEST_E_BAD_JSON;
				break;
			}
			json_object *tcb = get(l, "tcb", json_type_object, &err);
			if (tcb) {
				get_svn16(tcb, "sgxtcbcomponents", lv->sgx, &err);
				get_svn16(tcb, "tdxtcbcomponents", lv->tdx, &err);
				lv->pcesvn = (uint16_t)get_int(tcb, "pcesvn", 0, 65535, &err);
			}
			lv->tcb_date = get_time(l, "tcbDate", &err);
			get_status(l, &lv->status, &err);
			get_advisories(c, l, &lv->adv_first, &lv->n_adv, &err);
		}
	}
	json_object_put(o);
	return err;
}

static int parse_qe_identity(struct attest_collateral *c)
{
	int err = 0;
	json_object *o = parse_json((const char *)c->qe_id_raw, c->qe_id_len, &err);
	if (!o)
		return err;
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return ATTEST_E_BAD_JSON;
	}
	const char *id = get_str(o, "id", &err);
	if (id && strcmp(id, "TD_QE") != 0) {
		cc_log(CC_LOG_DEBUG, ATTEST_LOG, "QE Identity id is not TD_QE");
		err = ATTEST_E_COLLATERAL_FORMAT;
	}
	get_int(o, "version", 2, 2, &err);
	c->qe_issue = get_time(o, "issueDate", &err);
	c->qe_next = get_time(o, "nextUpdate", &err);
	uint8_t b4[4];
	get_hex(o, "miscselect", b4, 4, &err);
	c->qe_misc = (uint32_t)b4[0] << 24 | (uint32_t)b4[1] << 16 | (uint32_t)b4[2] << 8 | b4[3];
	get_hex(o, "miscselectMask", b4, 4, &err);
	c->qe_misc_mask = (uint32_t)b4[0] << 24 | (uint32_t)b4[1] << 16 | (uint32_t)b4[2] << 8 | b4[3];
	get_hex(o, "attributes", c->qe_attr, 16, &err);
	get_hex(o, "attributesMask", c->qe_attr_mask, 16, &err);
	get_hex(o, "mrsigner", c->qe_mrsigner, 32, &err);
	c->qe_prodid = (uint16_t)get_int(o, "isvprodid", 0, 65535, &err);
	if (!err)
		err = parse_isv_levels(c, o, &c->qe_levels, &c->n_qe_levels);
	json_object_put(o);
	return err;
}

/* ---- assembling ---- */

void attest_collateral_free(struct attest_collateral *c)
{
	if (!c)
		return;
	free(c->tcb_info_raw);
	free(c->qe_id_raw);
	sk_X509_pop_free(c->tcb_chain, X509_free);
	sk_X509_pop_free(c->qe_chain, X509_free);
	sk_X509_pop_free(c->pck_crl_chain, X509_free);
	X509_CRL_free(c->pck_crl);
	X509_CRL_free(c->root_crl);
	for (size_t i = 0; i < c->n_modules; i++)
		free(c->modules[i].levels);
	free(c->modules);
	free(c->levels);
	free(c->qe_levels);
	free(c->adv);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static struct attest_collateral *collateral_new(void)
{
	struct attest_collateral *c = calloc(1, sizeof(*c));
	if (c)
		pthread_mutex_init(&c->lock, NULL);
	return c;
}

static int upd_window(struct attest_collateral *c, int64_t nb, int64_t na)
{
	if (nb > c->not_before)
		c->not_before = nb;
	if (na < c->not_after)
		c->not_after = na;
	return 0;
}

static int chain_window(struct attest_collateral *c, STACK_OF(X509) *sk)
{
	for (int i = 0; i < sk_X509_num(sk); i++) {
		int64_t nb, na;
		X509 *x = sk_X509_value(sk, i);
		if (attest_asn1_time_to_epoch(X509_get0_notBefore(x), &nb) < 0 ||
		    attest_asn1_time_to_epoch(X509_get0_notAfter(x), &na) < 0)
			return ATTEST_E_BAD_PEM;
		upd_window(c, nb, na);
	}
	return 0;
}

static int crl_window(struct attest_collateral *c, X509_CRL *crl)
{
	int64_t nb, na;
	if (!X509_CRL_get0_nextUpdate(crl))
		return ATTEST_E_CRL_INVALID;
	if (attest_asn1_time_to_epoch(X509_CRL_get0_lastUpdate(crl), &nb) < 0 ||
	    attest_asn1_time_to_epoch(X509_CRL_get0_nextUpdate(crl), &na) < 0)
		return ATTEST_E_CRL_INVALID;
	return upd_window(c, nb, na);
}

/* Issuer chains are served signing-cert first; some tools write the root
 * first.  Put the one non-self-issued certificate first. */
static void normalize_chain(STACK_OF(X509) *sk)
{
	if (sk_X509_num(sk) == 2 &&
	    X509_check_issued(sk_X509_value(sk, 0), sk_X509_value(sk, 0)) == X509_V_OK &&
	    X509_check_issued(sk_X509_value(sk, 1), sk_X509_value(sk, 1)) != X509_V_OK) {
		X509 *a = sk_X509_value(sk, 0);
		sk_X509_set(sk, 0, sk_X509_value(sk, 1));
		sk_X509_set(sk, 1, a);
	}
}

/* Final stage common to both layouts: parse documents, compute the window. */
static int collateral_finish(struct attest_collateral *c)
{
	normalize_chain(c->tcb_chain);
	normalize_chain(c->qe_chain);
	normalize_chain(c->pck_crl_chain);
	int r = parse_tcb_info(c);
	if (r < 0)
		return r;
	r = parse_qe_identity(c);
	if (r < 0)
		return r;
	c->not_before = INT64_MIN;
	c->not_after = INT64_MAX;
	upd_window(c, c->tcb_issue, c->tcb_next);
	upd_window(c, c->qe_issue, c->qe_next);
	if ((r = chain_window(c, c->tcb_chain)) < 0 || (r = chain_window(c, c->qe_chain)) < 0 ||
	    (r = chain_window(c, c->pck_crl_chain)) < 0 || (r = crl_window(c, c->pck_crl)) < 0 ||
	    (r = crl_window(c, c->root_crl)) < 0)
		return r;
	return 0;
}

static int sig_hex(const char *s, size_t len, uint8_t out[64])
{
	size_t got;
	if (len != 128 || cc_hex_decode(s, len, out, 64, &got) < 0 || got != 64)
		return ATTEST_E_COLLATERAL_FORMAT;
	return 0;
}

static int der_hex(const char *s, size_t len, X509_CRL **ret)
{
	if (len == 0 || len % 2 || len / 2 > ATTEST_COLLATERAL_FILE_MAX)
		return ATTEST_E_COLLATERAL_FORMAT;
	uint8_t *b = malloc(len / 2);
	if (!b)
		return -ENOMEM;
	size_t got;
	int r = cc_hex_decode(s, len, b, len / 2, &got);
	if (r == 0)
		r = attest_load_crl(b, got, ret);
	else
		r = ATTEST_E_COLLATERAL_FORMAT;
	free(b);
	return r;
}

static int dup_bytes(const void *p, size_t n, uint8_t **ret, size_t *ret_len)
{
	uint8_t *b = malloc(n + 1);
	if (!b)
		return -ENOMEM;
	memcpy(b, p, n);
	b[n] = 0;
	*ret = b;
	*ret_len = n;
	return 0;
}

static int chain_str(json_object *o, const char *key, STACK_OF(X509) **ret)
{
	int err = 0;
	json_object *v = get(o, key, json_type_string, &err);
	if (!v)
		return err == ATTEST_E_COLLATERAL_FORMAT ? ATTEST_E_COLLATERAL_MISSING : err;
	return attest_pem_certs(json_object_get_string(v), (size_t)json_object_get_string_len(v), ret);
}

int attest_collateral_load_bundle(const void *json, size_t len, struct attest_collateral **ret)
{
	if (!json || !ret)
		return -EINVAL;
	int err = 0;
	json_object *o = parse_json(json, len, &err);
	if (!o)
		return err;
	struct attest_collateral *c = collateral_new();
	if (!c) {
		json_object_put(o);
		return -ENOMEM;
	}
	if (!json_object_is_type(o, json_type_object)) {
		err = ATTEST_E_BAD_JSON;
		goto out;
	}
	static const char *const keys[] = { "pck_crl_issuer_chain", "root_ca_crl", "pck_crl",
		"tcb_info_issuer_chain", "tcb_info", "tcb_info_signature",
		"qe_identity_issuer_chain", "qe_identity", "qe_identity_signature" };
	for (size_t i = 0; i < CC_ARRAY_SIZE(keys); i++) {
		json_object *v;
		if (!json_object_object_get_ex(o, keys[i], &v)) {
			cc_log(CC_LOG_DEBUG, ATTEST_LOG, "collateral bundle: missing \"%s\"", keys[i]);
			err = ATTEST_E_COLLATERAL_MISSING;
			goto out;
		}
		if (!json_object_is_type(v, json_type_string)) {
			err = ATTEST_E_BAD_JSON;
			goto out;
		}
	}
	json_object *v;
	if ((err = chain_str(o, "pck_crl_issuer_chain", &c->pck_crl_chain)) < 0 ||
	    (err = chain_str(o, "tcb_info_issuer_chain", &c->tcb_chain)) < 0 ||
	    (err = chain_str(o, "qe_identity_issuer_chain", &c->qe_chain)) < 0)
		goto out;
	json_object_object_get_ex(o, "root_ca_crl", &v);
	if ((err = der_hex(json_object_get_string(v), (size_t)json_object_get_string_len(v), &c->root_crl)) < 0)
		goto out;
	json_object_object_get_ex(o, "pck_crl", &v);
	if ((err = der_hex(json_object_get_string(v), (size_t)json_object_get_string_len(v), &c->pck_crl)) < 0)
		goto out;
	json_object_object_get_ex(o, "tcb_info_signature", &v);
	if ((err = sig_hex(json_object_get_string(v), (size_t)json_object_get_string_len(v), c->tcb_info_sig)) < 0)
		goto out;
	json_object_object_get_ex(o, "qe_identity_signature", &v);
	if ((err = sig_hex(json_object_get_string(v), (size_t)json_object_get_string_len(v), c->qe_id_sig)) < 0)
		goto out;
	json_object_object_get_ex(o, "tcb_info", &v);
	if ((err = dup_bytes(json_object_get_string(v), (size_t)json_object_get_string_len(v),
			     &c->tcb_info_raw, &c->tcb_info_len)) < 0)
		goto out;
	json_object_object_get_ex(o, "qe_identity", &v);
	if ((err = dup_bytes(json_object_get_string(v), (size_t)json_object_get_string_len(v),
			     &c->qe_id_raw, &c->qe_id_len)) < 0)
		goto out;
	err = collateral_finish(c);
out:
	json_object_put(o);
	if (err < 0) {
		attest_collateral_free(c);
		return err;
	}
	*ret = c;
	return 0;
}

/* {"<key>": {...}, "signature": "hex"} as Intel PCS serves it. */
static int signed_doc(const uint8_t *doc, size_t len, const char *key, uint8_t **ret_raw,
		      size_t *ret_len, uint8_t sig[64])
{
	size_t off, vlen;
	int r = attest_json_value_span((const char *)doc, len, key, &off, &vlen);
	if (r == -ENOENT)
		return ATTEST_E_COLLATERAL_MISSING;
	if (r < 0)
		return r;
	int err = 0;
	json_object *o = parse_json((const char *)doc, len, &err);
	if (!o)
		return err;
	const char *s = json_object_is_type(o, json_type_object) ? get_str(o, "signature", &err) : NULL;
	if (!s && !err)
		err = ATTEST_E_BAD_JSON;
	if (!err)
		err = sig_hex(s, strlen(s), sig);
	json_object_put(o);
	if (err)
		return err;
	return dup_bytes(doc + off, vlen, ret_raw, ret_len);
}

static int read_file(const char *dir, const char *name, uint8_t **ret, size_t *ret_len)
{
	char path[4096];
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return -ENAMETOOLONG;
	int r = cc_file_read(path, ATTEST_COLLATERAL_FILE_MAX, false, ret, ret_len);
	if (r == CC_E_TOOBIG)
		return ATTEST_E_COLLATERAL_FORMAT;
	return r;
}

static int read_any(const char *dir, const char *a, const char *b, uint8_t **ret, size_t *ret_len)
{
	int r = read_file(dir, a, ret, ret_len);
	if (r == -ENOENT && b)
		r = read_file(dir, b, ret, ret_len);
	if (r == -ENOENT) {
		cc_log(CC_LOG_DEBUG, ATTEST_LOG, "collateral: %s missing", a);
		return ATTEST_E_COLLATERAL_MISSING;
	}
	return r;
}

int attest_collateral_load_dir(const char *dir, struct attest_collateral **ret)
{
	if (!dir || !ret)
		return -EINVAL;
	struct attest_collateral *c = collateral_new();
	if (!c)
		return -ENOMEM;
	uint8_t *b = NULL;
	size_t n;
	int r;
#define STEP(expr)                                                                                 \
	do {                                                                                       \
		r = (expr);                                                                        \
		free(b);                                                                           \
		b = NULL;                                                                          \
		if (r < 0)                                                                         \
			goto fail;                                                                 \
	} while (0)
	STEP(read_any(dir, "tcb_info.json", NULL, &b, &n) ?:
	     signed_doc(b, n, "tcbInfo", &c->tcb_info_raw, &c->tcb_info_len, c->tcb_info_sig));
	STEP(read_any(dir, "qe_identity.json", NULL, &b, &n) ?:
	     signed_doc(b, n, "enclaveIdentity", &c->qe_id_raw, &c->qe_id_len, c->qe_id_sig));
	STEP(read_any(dir, "tcb_info_issuer_chain.pem", NULL, &b, &n) ?:
	     attest_pem_certs(b, n, &c->tcb_chain));
	STEP(read_any(dir, "qe_identity_issuer_chain.pem", NULL, &b, &n) ?:
	     attest_pem_certs(b, n, &c->qe_chain));
	STEP(read_any(dir, "pck_crl_issuer_chain.pem", NULL, &b, &n) ?:
	     attest_pem_certs(b, n, &c->pck_crl_chain));
	STEP(read_any(dir, "pck_crl.der", "pck_crl.pem", &b, &n) ?: attest_load_crl(b, n, &c->pck_crl));
	STEP(read_any(dir, "root_ca_crl.der", "root_ca_crl.pem", &b, &n) ?:
	     attest_load_crl(b, n, &c->root_crl));
#undef STEP
	r = collateral_finish(c);
	if (r < 0)
		goto fail;
	*ret = c;
	return 0;
fail:
	attest_collateral_free(c);
	return r;
}

int attest_collateral_load(const char *path, struct attest_collateral **ret)
{
	struct stat st;
	if (!path || !ret)
		return -EINVAL;
	if (stat(path, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return attest_collateral_load_dir(path, ret);
	uint8_t *b;
	size_t n;
	int r = cc_file_read(path, ATTEST_COLLATERAL_FILE_MAX, false, &b, &n);
	if (r == CC_E_TOOBIG)
		return ATTEST_E_COLLATERAL_FORMAT;
	if (r < 0)
		return r;
	r = attest_collateral_load_bundle(b, n, ret);
	free(b);
	return r;
}

int attest_collateral_info(const struct attest_collateral *c, uint8_t ret_fmspc[6],
			   int64_t *ret_not_before, int64_t *ret_not_after)
{
	if (!c)
		return -EINVAL;
	if (ret_fmspc)
		memcpy(ret_fmspc, c->fmspc, 6);
	if (ret_not_before)
		*ret_not_before = c->not_before;
	if (ret_not_after)
		*ret_not_after = c->not_after;
	return 0;
}

/* ---- trust checks (quote-independent, cached per root) ---- */

/* chain = [leaf, ..., root?]: exactly one certificate below the root, issued
 * and signed by the pinned root, not revoked by the root CA CRL; a root in
 * the chain must be the pinned root. */
static int check_root_chain(STACK_OF(X509) *chain, X509 *root, X509_CRL *root_crl)
{
	int n = sk_X509_num(chain);
	if (n < 1 || n > 2)
		return ATTEST_E_CHAIN;
	if (n == 2 && X509_cmp(sk_X509_value(chain, 1), root) != 0)
		return ATTEST_E_UNTRUSTED_ROOT;
	X509 *leaf = sk_X509_value(chain, 0);
	if (X509_check_issued(root, leaf) != X509_V_OK)
		return ATTEST_E_UNTRUSTED_ROOT;
	EVP_PKEY *rk = X509_get0_pubkey(root);
	if (!rk || X509_verify(leaf, rk) != 1) {
		ERR_clear_error();
		return ATTEST_E_CHAIN;
	}
	X509_REVOKED *rev = NULL;
	if (root_crl && X509_CRL_get0_by_cert(root_crl, &rev, leaf) == 1)
		return ATTEST_E_CERT_REVOKED;
	return 0;
}

static int check_crl(X509_CRL *crl, X509 *issuer)
{
	if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(issuer)) != 0)
		return ATTEST_E_CRL_INVALID;
	EVP_PKEY *k = X509_get0_pubkey(issuer);
	if (!k || X509_CRL_verify(crl, k) != 1) {
		ERR_clear_error();
		return ATTEST_E_CRL_INVALID;
	}
	return 0;
}

static int check_trust(struct attest_collateral *c, X509 *root)
{
	int r;
	/* structure and signatures first (a foreign root shows as untrusted),
	 * then the root CA CRL, then revocation through it */
	if ((r = check_root_chain(c->tcb_chain, root, NULL)) < 0 ||
	    (r = check_root_chain(c->qe_chain, root, NULL)) < 0 ||
	    (r = check_root_chain(c->pck_crl_chain, root, NULL)) < 0)
		return r;
	if ((r = check_crl(c->root_crl, root)) < 0)
		return r;
	if ((r = check_root_chain(c->tcb_chain, root, c->root_crl)) < 0 ||
	    (r = check_root_chain(c->qe_chain, root, c->root_crl)) < 0 ||
	    (r = check_root_chain(c->pck_crl_chain, root, c->root_crl)) < 0)
		return r;
	if ((r = check_crl(c->pck_crl, sk_X509_value(c->pck_crl_chain, 0))) < 0)
		return r;
	r = attest_ecdsa_verify_raw(X509_get0_pubkey(sk_X509_value(c->tcb_chain, 0)),
				    c->tcb_info_sig, c->tcb_info_raw, c->tcb_info_len);
	if (r < 0)
		return r;
	if (r == 0)
		return ATTEST_E_TCB_INFO_SIGNATURE;
	r = attest_ecdsa_verify_raw(X509_get0_pubkey(sk_X509_value(c->qe_chain, 0)), c->qe_id_sig,
				    c->qe_id_raw, c->qe_id_len);
	if (r < 0)
		return r;
	if (r == 0)
		return ATTEST_E_QE_IDENTITY_SIGNATURE;
	return 0;
}

int attest_collateral_check_trust(struct attest_collateral *c, X509 *root,
				  const uint8_t root_hash[32])
{
	pthread_mutex_lock(&c->lock);
	if (!c->checked || memcmp(c->checked_root, root_hash, 32) != 0) {
		int r = check_trust(c, root);
		if (r == -ENOMEM) { /* transient: do not cache */
			pthread_mutex_unlock(&c->lock);
			return r;
		}
		c->checked_err = r;
		memcpy(c->checked_root, root_hash, 32);
		c->checked = true;
	}
	int r = c->checked_err;
	pthread_mutex_unlock(&c->lock);
	return r;
}
