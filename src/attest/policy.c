/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Release policies: which TD measurements, attributes, TCB statuses and
 * advisories are acceptable.  Evaluation checks every rule and names each
 * one that failed.  DEBUG TDs are refused unless a policy says otherwise.
 */
#include <errno.h>
#include <string.h>

#include <json-c/json.h>

#include "internal.h"

#define POLICY_MAX_MRTD 64
#define POLICY_MAX_ADV 128

struct attest_policy {
	size_t n_mrtd;
	uint8_t mrtd[POLICY_MAX_MRTD][48];
	bool has_rtmr[4];
	uint8_t rtmr[4][48];
	bool has_mrconfigid, has_mrowner, has_mrownerconfig, has_xfam, has_tdattr;
	uint8_t mrconfigid[48], mrowner[48], mrownerconfig[48], xfam[8], tdattr[8];
	bool allow_debug;
	bool has_min_svn;
	uint8_t min_svn[16];
	uint32_t status_mask; /* bit per enum attest_tcb_status */
	size_t n_adv;
	char adv[POLICY_MAX_ADV][ATTEST_ADVISORY_LEN];
	bool has_report_data;
	uint8_t report_data[64];
};

int attest_policy_new_default(struct attest_policy **ret)
{
	struct attest_policy *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->status_mask = 1u << ATTEST_TCB_UP_TO_DATE;
	*ret = p;
	return 0;
}

void attest_policy_free(struct attest_policy *p)
{
	free(p);
}

void attest_policy_set_report_data(struct attest_policy *p, const uint8_t report_data[64])
{
	memcpy(p->report_data, report_data, 64);
	p->has_report_data = true;
}

static int hexval(json_object *v, uint8_t *out, size_t n, const char *key)
{
	size_t got;
	if (!json_object_is_type(v, json_type_string) ||
	    (size_t)json_object_get_string_len(v) != 2 * n ||
	    cc_hex_decode(json_object_get_string(v), 2 * n, out, n, &got) < 0) {
		cc_log(CC_LOG_ERROR, ATTEST_LOG, "policy: \"%s\" must be %zu bytes of hex", key, n);
		return ATTEST_E_POLICY;
	}
	return 0;
}

int attest_policy_parse(const void *json, size_t len, struct attest_policy **ret)
{
	if (!json || !ret)
		return -EINVAL;
	if (len > ATTEST_POLICY_MAX)
		return ATTEST_E_POLICY;
	json_tokener *tok = json_tokener_new_ex(8);
	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	json_object *o = json_tokener_parse_ex(tok, json, (int)len);
	bool ok = o && json_tokener_get_error(tok) == json_tokener_success &&
		  json_tokener_get_parse_end(tok) == len && json_object_is_type(o, json_type_object);
	json_tokener_free(tok);
	if (!ok) {
		json_object_put(o);
		cc_log(CC_LOG_ERROR, ATTEST_LOG, "policy: not a JSON object");
		return ATTEST_E_POLICY;
	}
	struct attest_policy *p;
	int r = attest_policy_new_default(&p);
	if (r < 0) {
		json_object_put(o);
		return r;
	}
	json_object_object_foreach(o, key, v)
	{
		if (r < 0)
			break;
		if (strcmp(key, "mrtd") == 0) {
			if (!json_object_is_type(v, json_type_array) ||
			    json_object_array_length(v) > POLICY_MAX_MRTD ||
			    json_object_array_length(v) == 0) {
				cc_log(CC_LOG_ERROR, ATTEST_LOG, "policy: \"mrtd\" must be a non-empty list (at most %d)", POLICY_MAX_MRTD);
				r = ATTEST_E_POLICY;
				break;
			}
			p->n_mrtd = json_object_array_length(v);
			for (size_t i = 0; i < p->n_mrtd && r == 0; i++)
				r = hexval(json_object_array_get_idx(v, i), p->mrtd[i], 48, key);
		} else if (strncmp(key, "rtmr", 4) == 0 && key[4] >= '0' && key[4] <= '3' && !key[5]) {
			int i = key[4] - '0';
			p->has_rtmr[i] = true;
			r = hexval(v, p->rtmr[i], 48, key);
		} else if (strcmp(key, "mrconfigid") == 0) {
			p->has_mrconfigid = true;
			r = hexval(v, p->mrconfigid, 48, key);
		} else if (strcmp(key, "mrowner") == 0) {
			p->has_mrowner = true;
			r = hexval(v, p->mrowner, 48, key);
		} else if (strcmp(key, "mrownerconfig") == 0) {
			p->has_mrownerconfig = true;
			r = hexval(v, p->mrownerconfig, 48, key);
		} else if (strcmp(key, "xfam") == 0) {
			p->has_xfam = true;
			r = hexval(v, p->xfam, 8, key);
		} else if (strcmp(key, "tdattributes") == 0) {
			p->has_tdattr = true;
			r = hexval(v, p->tdattr, 8, key);
		} else if (strcmp(key, "min_tee_tcb_svn") == 0) {
			p->has_min_svn = true;
			r = hexval(v, p->min_svn, 16, key);
		} else if (strcmp(key, "report_data") == 0) {
			p->has_report_data = true;
			r = hexval(v, p->report_data, 64, key);
		} else if (strcmp(key, "allow_debug") == 0) {
			if (!json_object_is_type(v, json_type_boolean)) {
				cc_log(CC_LOG_ERROR, ATTEST_LOG, "policy: \"allow_debug\" must be true or false");
				r = ATTEST_E_POLICY;
			} else {
				p->allow_debug = json_object_get_boolean(v);
			}
		} else if (strcmp(key, "accepted_tcb_status") == 0) {
			if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) > 16) {
				r = ATTEST_E_POLICY;
				break;
			}
			p->status_mask = 0;
			for (size_t i = 0; i < json_object_array_length(v); i++) {
				json_object *e = json_object_array_get_idx(v, i);
				enum attest_tcb_status st;
				if (!json_object_is_type(e, json_type_string) ||
				    attest_tcb_status_parse(json_object_get_string(e), &st) < 0 ||
				    st == ATTEST_TCB_REVOKED || st == ATTEST_TCB_NOT_SUPPORTED) {
					cc_log(CC_LOG_ERROR, ATTEST_LOG, "policy: \"accepted_tcb_status\" entry %zu is not an acceptable TCB status", i);
					r = ATTEST_E_POLICY;
					break;
				}
				p->status_mask |= 1u << st;
			}
		} else if (strcmp(key, "allowed_advisories") == 0) {
			if (!json_object_is_type(v, json_type_array) ||
			    json_object_array_length(v) > POLICY_MAX_ADV) {
				r = ATTEST_E_POLICY;
				break;
			}
			p->n_adv = json_object_array_length(v);
			for (size_t i = 0; i < p->n_adv; i++) {
				json_object *e = json_object_array_get_idx(v, i);
				if (!json_object_is_type(e, json_type_string) ||
				    json_object_get_string_len(e) >= ATTEST_ADVISORY_LEN) {
					r = ATTEST_E_POLICY;
					break;
				}
				snprintf(p->adv[i], ATTEST_ADVISORY_LEN, "%s", json_object_get_string(e));
			}
		} else {
			cc_log(CC_LOG_ERROR, ATTEST_LOG, "policy: unknown key \"%.64s\"", key);
			r = ATTEST_E_POLICY;
		}
	}
	json_object_put(o);
	if (r < 0) {
		attest_policy_free(p);
		return r;
	}
	*ret = p;
	return 0;
}

int attest_policy_load(const char *path, struct attest_policy **ret)
{
	uint8_t *b;
	size_t n;
	int r = cc_file_read(path, ATTEST_POLICY_MAX, false, &b, &n);
	if (r == CC_E_TOOBIG)
		return ATTEST_E_POLICY;
	if (r < 0)
		return r;
	r = attest_policy_parse(b, n, ret);
	free(b);
	return r;
}

__attribute__((format(printf, 3, 4)))
static void fail(struct attest_policy_verdict *v, const char *rule, const char *fmt, ...)
{
	if (v->n_failed >= ATTEST_POLICY_MAX_FAILURES)
		return;
	snprintf(v->failed[v->n_failed], sizeof(v->failed[0]), "%s", rule);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(v->reason[v->n_failed], sizeof(v->reason[0]), fmt, ap);
	va_end(ap);
	v->n_failed++;
}

static void check48(struct attest_policy_verdict *v, const char *rule, const uint8_t *want,
		    const uint8_t *got, size_t n)
{
	if (!cc_ct_equal(want, got, n)) {
		char h[2 * 48 + 1];
		cc_hex_encode(got, n > 48 ? 48 : n, h, sizeof(h));
		fail(v, rule, "%s %s is not the expected value", rule, h);
	}
}

int attest_policy_eval(const struct attest_policy *p, const struct attest_result *r,
		       struct attest_policy_verdict *ret_verdict)
{
	struct attest_policy_verdict v;
	memset(&v, 0, sizeof(v));
	if (!p || !r) {
		fail(&v, "input", "no policy or no result");
		goto out;
	}
	if (!(p->status_mask & (1u << r->status)) || r->status == ATTEST_TCB_REVOKED ||
	    r->status == ATTEST_TCB_NOT_SUPPORTED || r->status == ATTEST_TCB_UNKNOWN)
		fail(&v, "tcb_status", "TCB status %s is not accepted", attest_tcb_status_name(r->status));
	for (size_t i = 0; i < r->n_advisories; i++) {
		bool ok = false;
		for (size_t k = 0; k < p->n_adv && !ok; k++)
			ok = strcmp(p->adv[k], r->advisory_ids[i]) == 0;
		if (!ok)
			fail(&v, "advisories", "advisory %s is not allowed", r->advisory_ids[i]);
	}
	if (r->debug && !p->allow_debug)
		fail(&v, "debug", "TD is a debug TD (TDATTRIBUTES.DEBUG=1): its memory is not confidential");
	if (p->n_mrtd) {
		bool ok = false;
		for (size_t i = 0; i < p->n_mrtd; i++)
			ok |= cc_ct_equal(p->mrtd[i], r->td.mr_td, 48);
		if (!ok) {
			char h[97];
			cc_hex_encode(r->td.mr_td, 48, h, sizeof(h));
			fail(&v, "mrtd", "MRTD %s is not in the allowed list", h);
		}
	}
	static const char *const rn[] = { "rtmr0", "rtmr1", "rtmr2", "rtmr3" };
	for (int i = 0; i < 4; i++)
		if (p->has_rtmr[i])
			check48(&v, rn[i], p->rtmr[i], r->td.rtmr[i], 48);
	if (p->has_mrconfigid)
		check48(&v, "mrconfigid", p->mrconfigid, r->td.mr_config_id, 48);
	if (p->has_mrowner)
		check48(&v, "mrowner", p->mrowner, r->td.mr_owner, 48);
	if (p->has_mrownerconfig)
		check48(&v, "mrownerconfig", p->mrownerconfig, r->td.mr_owner_config, 48);
	if (p->has_xfam)
		check48(&v, "xfam", p->xfam, r->td.xfam, 8);
	if (p->has_tdattr)
		check48(&v, "tdattributes", p->tdattr, r->td.td_attributes, 8);
	if (p->has_min_svn) {
		for (int i = 0; i < 16; i++)
			if (r->td.tee_tcb_svn[i] < p->min_svn[i]) {
				fail(&v, "min_tee_tcb_svn", "TEE_TCB_SVN byte %d is %u, below %u", i,
				     r->td.tee_tcb_svn[i], p->min_svn[i]);
				break;
			}
	}
	if (p->has_report_data && !cc_ct_equal(p->report_data, r->td.report_data, 64))
		fail(&v, "report_data", "REPORTDATA does not match the expected value");
out:
	v.accepted = v.n_failed == 0;
	if (ret_verdict)
		*ret_verdict = v;
	return v.accepted ? 0 : ATTEST_E_POLICY_REJECTED;
}
