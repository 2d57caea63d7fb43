/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The broker's verifier on top of the attest library: DCAP verification of
 * TDX quotes (Intel root, or the sim root when the operator pins it) and the
 * attest policy language for release decisions.  Also the attest-backed quote
 * provider used by the client.
 */
#include "kbs-internal.h"

#include <ccserve/attest.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/sha.h>

struct kbs_attest_verifier {
	struct attest_verifier *tdx;
	struct attest_collateral *tdx_coll;
	struct attest_verifier *sim;
	struct attest_collateral *sim_coll;
	int64_t verify_at;
	struct kbs_verifier ops;
};

static const char *verify_rule(int err)
{
	switch (err) {
	case ATTEST_E_UNTRUSTED_ROOT: return "untrusted-root";
	case ATTEST_E_TCB_NOT_SUPPORTED: return "tcb-not-supported";
	case ATTEST_E_TCB_REVOKED: return "tcb-revoked";
	case ATTEST_E_COLLATERAL_EXPIRED:
	case ATTEST_E_CRL_EXPIRED: return "collateral-expired";
	case ATTEST_E_CERT_EXPIRED: return "certificate-expired";
	case ATTEST_E_CERT_REVOKED: return "pck-revoked";
	case ATTEST_E_QUOTE_SIGNATURE:
	case ATTEST_E_QE_REPORT_SIGNATURE:
	case ATTEST_E_QE_REPORT_DATA: return "quote-signature";
	case ATTEST_E_QE_IDENTITY_MISMATCH: return "qe-identity";
	case ATTEST_E_FMSPC_MISMATCH: return "collateral-mismatch";
	}
	if (err <= ATTEST_E_QUOTE_TRUNCATED && err >= ATTEST_E_CERT_DATA_TYPE)
		return "quote-malformed";
	return "evidence-invalid";
}

static int v_verify(void *ud, const char *tee, const uint8_t *quote, size_t len,
		    struct kbs_evidence *ev, char *rule, size_t rule_sz,
		    char *detail, size_t detail_sz)
{
	struct kbs_attest_verifier *v = ud;
	bool sim = strcmp(tee, "sim") == 0;
	struct attest_verifier *av = sim ? v->sim : v->tdx;
	struct attest_collateral *coll = sim ? v->sim_coll : v->tdx_coll;
	if (!av || !coll) {
		snprintf(rule, rule_sz, "tee-not-trusted");
		snprintf(detail, detail_sz, "this broker is not configured to verify \"%s\" evidence",
			 sim ? "sim" : "tdx");
		return KBS_E_TEE;
	}
	struct attest_quote *q = NULL;
	int r = attest_quote_parse(quote, len, &q);
	if (r) {
		snprintf(rule, rule_sz, "quote-malformed");
		snprintf(detail, detail_sz, "quote does not parse: %s", attest_strerror(r));
		return KBS_E_EVIDENCE;
	}
	struct attest_result *res = calloc(1, sizeof *res);
	if (!res) {
		attest_quote_free(q);
		return -ENOMEM;
	}
	r = attest_verify(av, q, coll, v->verify_at ? v->verify_at : cc_wall_s(), res);
	attest_quote_free(q);
	if (r) {
		snprintf(rule, rule_sz, "%s", verify_rule(r));
		snprintf(detail, detail_sz, "%s evidence: %s", sim ? "sim" : "tdx",
			 attest_strerror(r));
		free(res);
		return KBS_E_EVIDENCE;
	}
	memcpy(ev->report_data, res->td.report_data, KBS_REPORT_DATA_LEN);
	uint8_t m[sizeof res->td.mr_td + sizeof res->td.rtmr];
	uint8_t d[SHA384_DIGEST_LENGTH];
	memcpy(m, res->td.mr_td, sizeof res->td.mr_td);
	memcpy(m + sizeof res->td.mr_td, res->td.rtmr, sizeof res->td.rtmr);
	SHA384(m, sizeof m, d);
	cc_hex_encode(d, sizeof d, ev->measurement, sizeof ev->measurement);
	ev->opaque = res;
	return 0;
}

static const char *policy_rule(const char *failed, char *buf, size_t sz)
{
	if (strcmp(failed, "debug") == 0)
		return "debug-td";
	if (strcmp(failed, "mrtd") == 0)
		return "mrtd-not-allowed";
	if (strcmp(failed, "tcb_status") == 0)
		return "tcb-status-not-accepted";
	if (strcmp(failed, "advisories") == 0)
		return "advisory-not-allowed";
	if (strncmp(failed, "rtmr", 4) == 0) {
		snprintf(buf, sz, "%.8s-mismatch", failed);
		return buf;
	}
	snprintf(buf, sz, "policy-%.20s", failed);
	return buf;
}

static int v_check(void *ud, const char *policy_json,
		   const struct kbs_evidence *ev, char *rule, size_t rule_sz,
		   char *detail, size_t detail_sz)
{
	(void)ud;
	const struct attest_result *res = ev->opaque;
	struct attest_policy *p = NULL;
	int r = attest_policy_parse(policy_json, strlen(policy_json), &p);
	if (r) {
		snprintf(rule, rule_sz, "policy-invalid");
		snprintf(detail, detail_sz, "stored policy does not parse: %s",
			 attest_strerror(r));
		return KBS_E_POLICY;
	}
	struct attest_policy_verdict *vd = calloc(1, sizeof *vd);
	if (!vd) {
		attest_policy_free(p);
		return -ENOMEM;
	}
	r = res ? attest_policy_eval(p, res, vd) : ATTEST_E_POLICY_REJECTED;
	attest_policy_free(p);
	if (r == 0 && vd->accepted) {
		free(vd);
		return 0;
	}
	char tmp[40];
	snprintf(rule, rule_sz, "%s",
		 vd->n_failed ? policy_rule(vd->failed[0], tmp, sizeof tmp) : "policy-denied");
	size_t off = 0;
	detail[0] = 0;
	for (size_t i = 0; i < vd->n_failed && i < ATTEST_POLICY_MAX_FAILURES; i++) {
		int w = snprintf(detail + off, detail_sz - off, "%s%s", i ? "; " : "",
				 vd->reason[i]);
		if (w < 0 || (size_t)w >= detail_sz - off)
			break;
		off += (size_t)w;
	}
	free(vd);
	return KBS_E_POLICY_DENY;
}

static int v_validate(void *ud, const char *policy_json, char *detail,
		      size_t detail_sz)
{
	(void)ud;
	return kbs_policy_validate(policy_json, strlen(policy_json), detail, detail_sz);
}

static void v_release(void *ud, struct kbs_evidence *ev)
{
	(void)ud;
	if (ev->opaque) {
		cc_wipe(ev->opaque, sizeof(struct attest_result));
		free(ev->opaque);
	}
	ev->opaque = NULL;
}

int kbs_policy_validate(const char *json, size_t len, char *detail,
			size_t detail_sz)
{
	if (!json)
		return -EINVAL;
	struct attest_policy *p = NULL;
	int r = attest_policy_parse(json, len, &p);
	attest_policy_free(p);
	if (r) {
		if (detail && detail_sz)
			snprintf(detail, detail_sz, "%s", attest_strerror(r));
		return KBS_E_POLICY;
	}
	return 0;
}

void kbs_attest_verifier_free(struct kbs_attest_verifier *v)
{
	if (!v)
		return;
	attest_verifier_free(v->tdx);
	attest_verifier_free(v->sim);
	attest_collateral_free(v->tdx_coll);
	attest_collateral_free(v->sim_coll);
	free(v);
}

int kbs_attest_verifier_new(struct kbs_attest_verifier **ret,
			    const struct kbs_attest_verifier_opts *o)
{
	if (!ret || !o || (!o->collateral_path && !o->sim_root_path) ||
	    (o->sim_root_path && !o->sim_collateral_path))
		return -EINVAL;
	struct kbs_attest_verifier *v = calloc(1, sizeof *v);
	if (!v)
		return -ENOMEM;
	int r = 0;
	if (o->collateral_path) {
		if ((r = attest_verifier_new(&v->tdx, NULL)) ||
		    (r = attest_collateral_load(o->collateral_path, &v->tdx_coll))) {
			cc_log(CC_LOG_ERROR, KBS_LOG, "TDX collateral %s: %s",
			       o->collateral_path, attest_strerror(r));
			goto fail;
		}
	}
	if (o->sim_root_path) {
		if ((r = attest_verifier_new_root_file(&v->sim, o->sim_root_path))) {
			cc_log(CC_LOG_ERROR, KBS_LOG, "sim root %s: %s", o->sim_root_path,
			       attest_strerror(r));
			goto fail;
		}
		if ((r = attest_collateral_load(o->sim_collateral_path, &v->sim_coll))) {
			cc_log(CC_LOG_ERROR, KBS_LOG, "sim collateral %s: %s",
			       o->sim_collateral_path, attest_strerror(r));
			goto fail;
		}
		cc_log(CC_LOG_WARN, KBS_LOG,
		       "the sim root is pinned: simulated TDs can attest (never in production)");
	}
	v->verify_at = o->verify_at;
	v->ops = (struct kbs_verifier){
		.userdata = v,
		.verify = v_verify,
		.check = v_check,
		.validate_policy = v_validate,
		.release = v_release,
	};
	*ret = v;
	return 0;
fail:
	kbs_attest_verifier_free(v);
	return r;
}

const struct kbs_verifier *kbs_attest_verifier_ops(struct kbs_attest_verifier *v)
{
	return v ? &v->ops : NULL;
}

bool kbs_attest_verifier_trusts_sim(const struct kbs_attest_verifier *v)
{
	return v && v->sim && v->sim_coll;
}

/* --- provider ------------------------------------------------------------ */

struct provider {
	struct kbs_quote_provider pub;
	struct attest_provider *ap;
};

static int p_quote(void *ud, const uint8_t report_data[KBS_REPORT_DATA_LEN],
		   uint8_t **ret, size_t *ret_len)
{
	struct provider *p = ud;
	int r = attest_provider_get_quote(p->ap, report_data, ret, ret_len);
	if (r)
		cc_log(CC_LOG_ERROR, KBS_LOG, "quote: %s", attest_strerror(r));
	return r;
}

int kbs_attest_provider_new(struct kbs_quote_provider **ret, const char *name,
			    const char *sim_dir, const char *sim_flaw)
{
	if (!ret || !name)
		return -EINVAL;
	static const struct {
		const char *name;
		enum attest_sim_flaw flaw;
	} flaws[] = {
		{"debug-td", ATTEST_SIM_DEBUG_TD},
		{"other-mrtd", ATTEST_SIM_OTHER_MRTD},
		{"revoked-pck", ATTEST_SIM_REVOKED_PCK},
		{"wrong-qe", ATTEST_SIM_WRONG_QE},
		{"out-of-date-tcb", ATTEST_SIM_OUT_OF_DATE_TCB},
		{"bad-signature", ATTEST_SIM_BAD_SIGNATURE},
		{"out-of-date-module", ATTEST_SIM_OUT_OF_DATE_MODULE},
	};
	struct attest_provider_opts ao = {0};
	bool sim = strcmp(name, "sim") == 0;
	if (!sim && strcmp(name, "tsm") != 0)
		return -EINVAL;
	if (sim) {
		if (!sim_dir)
			return -EINVAL;
		ao.sim_dir = sim_dir;
	}
	if (sim_flaw) {
		size_t i;
		for (i = 0; i < CC_ARRAY_SIZE(flaws); i++)
			if (strcmp(flaws[i].name, sim_flaw) == 0)
				break;
		if (i == CC_ARRAY_SIZE(flaws) || !sim)
			return -EINVAL;
		ao.sim_flaw = flaws[i].flaw;
	}
	struct provider *p = calloc(1, sizeof *p);
	if (!p)
		return -ENOMEM;
	int r = attest_provider_new(name, &ao, &p->ap);
	if (r) {
		cc_log(CC_LOG_ERROR, KBS_LOG, "provider %s: %s", name, attest_strerror(r));
		free(p);
		return r;
	}
	p->pub = (struct kbs_quote_provider){
		.userdata = p,
		.tee = sim ? "sim" : "tdx",
		.quote = p_quote,
	};
	*ret = &p->pub;
	return 0;
}

void kbs_attest_provider_free(struct kbs_quote_provider *qp)
{
	if (!qp)
		return;
	struct provider *p = (struct provider *)qp;
	attest_provider_free(p->ap);
	free(p);
}
