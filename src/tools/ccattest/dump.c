/* SPDX-License-Identifier: Apache-2.0 */
/* Human-readable and JSON renderings of quotes and verification results. */
#include <string.h>

#include <json-c/json.h>
#include <ccserve/util.h>

#include "tool.h"

static void hexline(FILE *f, const char *name, const uint8_t *p, size_t n)
{
	char buf[2 * 512 + 1];
	cc_hex_encode(p, n, buf, sizeof(buf));
	fprintf(f, "  %-18s %s\n", name, buf);
}

static void td_fields(FILE *f, const struct attest_td_report *td, bool td15)
{
	hexline(f, "TEE_TCB_SVN", td->tee_tcb_svn, 16);
	hexline(f, "MRSEAM", td->mr_seam, 48);
	hexline(f, "MRSIGNERSEAM", td->mr_signer_seam, 48);
	hexline(f, "SEAMATTRIBUTES", td->seam_attributes, 8);
	hexline(f, "TDATTRIBUTES", td->td_attributes, 8);
	hexline(f, "XFAM", td->xfam, 8);
	hexline(f, "MRTD", td->mr_td, 48);
	hexline(f, "MRCONFIGID", td->mr_config_id, 48);
	hexline(f, "MROWNER", td->mr_owner, 48);
	hexline(f, "MROWNERCONFIG", td->mr_owner_config, 48);
	for (int i = 0; i < 4; i++) {
		char n[8];
		snprintf(n, sizeof(n), "RTMR%d", i);
		hexline(f, n, td->rtmr[i], 48);
	}
	hexline(f, "REPORTDATA", td->report_data, 64);
	if (td15) {
		hexline(f, "TEE_TCB_SVN2", td->tee_tcb_svn2, 16);
		hexline(f, "MRSERVICETD", td->mr_service_td, 48);
	}
	fprintf(f, "  %-18s %s\n", "DEBUG", (td->td_attributes[0] & ATTEST_TDATTR_DEBUG) ? "yes (debug TD: not confidential)" : "no");
}

void dump_quote(FILE *f, const struct attest_quote *q)
{
	uint8_t fmspc[6], pceid[2];
	fprintf(f, "Header\n");
	fprintf(f, "  %-18s %u\n", "version", q->version);
	fprintf(f, "  %-18s %u (ECDSA-256-with-P-256)\n", "att_key_type", q->att_key_type);
	fprintf(f, "  %-18s 0x%x (TDX)\n", "tee_type", q->tee_type);
	fprintf(f, "  %-18s %u\n", "qe_svn", q->qe_svn);
	fprintf(f, "  %-18s %u\n", "pce_svn", q->pce_svn);
	hexline(f, "qe_vendor_id", q->qe_vendor_id, 16);
	hexline(f, "user_data", q->user_data, 20);
	fprintf(f, "Body (type %u, %u bytes)\n", q->body_type, q->body_size);
	td_fields(f, &q->td, q->body_type == 3);
	fprintf(f, "Signature data\n");
	fprintf(f, "  %-18s %zu bytes (+%zu trailing)\n", "quote length", q->raw_len, q->input_len - q->raw_len);
	hexline(f, "signature", q->signature, 64);
	hexline(f, "attestation_key", q->att_key, 64);
	fprintf(f, "  %-18s %u\n", "cert_data_type", q->cert_data_type);
	fprintf(f, "QE report\n");
	hexline(f, "CPUSVN", q->qe_report.cpu_svn, 16);
	fprintf(f, "  %-18s 0x%08x\n", "MISCSELECT", q->qe_report.misc_select);
	hexline(f, "ATTRIBUTES", q->qe_report.attributes, 16);
	hexline(f, "MRENCLAVE", q->qe_report.mr_enclave, 32);
	hexline(f, "MRSIGNER", q->qe_report.mr_signer, 32);
	fprintf(f, "  %-18s %u\n", "ISVPRODID", q->qe_report.isv_prod_id);
	fprintf(f, "  %-18s %u\n", "ISVSVN", q->qe_report.isv_svn);
	hexline(f, "REPORTDATA", q->qe_report.report_data, 64);
	hexline(f, "signature", q->qe_report_signature, 64);
	fprintf(f, "  %-18s %u bytes\n", "qe_auth_data", q->qe_auth_data_len);
	fprintf(f, "PCK chain (type %u, %u bytes PEM)\n", q->pck_chain_type, q->pck_chain_len);
	if (attest_quote_pck_info(q, fmspc, pceid) == 0) {
		hexline(f, "FMSPC", fmspc, 6);
		hexline(f, "PCE-ID", pceid, 2);
	} else {
		fprintf(f, "  (PCK certificate does not parse)\n");
	}
}

static void jhex(json_object *o, const char *k, const uint8_t *p, size_t n)
{
	char buf[2 * 512 + 1];
	cc_hex_encode(p, n, buf, sizeof(buf));
	json_object_object_add(o, k, json_object_new_string(buf));
}

static json_object *td_json(const struct attest_td_report *td, bool td15)
{
	json_object *o = json_object_new_object();
	jhex(o, "tee_tcb_svn", td->tee_tcb_svn, 16);
	jhex(o, "mrseam", td->mr_seam, 48);
	jhex(o, "mrsignerseam", td->mr_signer_seam, 48);
	jhex(o, "seam_attributes", td->seam_attributes, 8);
	jhex(o, "td_attributes", td->td_attributes, 8);
	jhex(o, "xfam", td->xfam, 8);
	jhex(o, "mrtd", td->mr_td, 48);
	jhex(o, "mrconfigid", td->mr_config_id, 48);
	jhex(o, "mrowner", td->mr_owner, 48);
	jhex(o, "mrownerconfig", td->mr_owner_config, 48);
	for (int i = 0; i < 4; i++) {
		char n[8];
		snprintf(n, sizeof(n), "rtmr%d", i);
		jhex(o, n, td->rtmr[i], 48);
	}
	jhex(o, "report_data", td->report_data, 64);
	if (td15) {
		jhex(o, "tee_tcb_svn2", td->tee_tcb_svn2, 16);
		jhex(o, "mrservicetd", td->mr_service_td, 48);
	}
	json_object_object_add(o, "debug", json_object_new_boolean(td->td_attributes[0] & ATTEST_TDATTR_DEBUG));
	return o;
}

void dump_quote_json(FILE *f, const struct attest_quote *q)
{
	json_object *o = json_object_new_object();
	json_object *h = json_object_new_object();
	json_object_object_add(h, "version", json_object_new_int(q->version));
	json_object_object_add(h, "att_key_type", json_object_new_int(q->att_key_type));
	json_object_object_add(h, "tee_type", json_object_new_int((int32_t)q->tee_type));
	json_object_object_add(h, "qe_svn", json_object_new_int(q->qe_svn));
	json_object_object_add(h, "pce_svn", json_object_new_int(q->pce_svn));
	jhex(h, "qe_vendor_id", q->qe_vendor_id, 16);
	jhex(h, "user_data", q->user_data, 20);
	json_object_object_add(o, "header", h);
	json_object_object_add(o, "body_type", json_object_new_int(q->body_type));
	json_object_object_add(o, "body_size", json_object_new_int((int32_t)q->body_size));
	json_object_object_add(o, "td_report", td_json(&q->td, q->body_type == 3));
	json_object_object_add(o, "quote_length", json_object_new_int64((int64_t)q->raw_len));
	json_object_object_add(o, "trailing_bytes", json_object_new_int64((int64_t)(q->input_len - q->raw_len)));
	jhex(o, "signature", q->signature, 64);
	jhex(o, "attestation_key", q->att_key, 64);
	json_object_object_add(o, "cert_data_type", json_object_new_int(q->cert_data_type));
	json_object *qe = json_object_new_object();
	jhex(qe, "cpusvn", q->qe_report.cpu_svn, 16);
	json_object_object_add(qe, "miscselect", json_object_new_int64(q->qe_report.misc_select));
	jhex(qe, "attributes", q->qe_report.attributes, 16);
	jhex(qe, "mrenclave", q->qe_report.mr_enclave, 32);
	jhex(qe, "mrsigner", q->qe_report.mr_signer, 32);
	json_object_object_add(qe, "isvprodid", json_object_new_int(q->qe_report.isv_prod_id));
	json_object_object_add(qe, "isvsvn", json_object_new_int(q->qe_report.isv_svn));
	jhex(qe, "report_data", q->qe_report.report_data, 64);
	jhex(qe, "signature", q->qe_report_signature, 64);
	jhex(qe, "auth_data", q->qe_auth_data, q->qe_auth_data_len > 512 ? 512 : q->qe_auth_data_len);
	json_object_object_add(o, "qe_report", qe);
	json_object_object_add(o, "pck_chain_pem",
			       json_object_new_string_len(q->pck_chain_pem, (int)q->pck_chain_len));
	uint8_t fmspc[6], pceid[2];
	if (attest_quote_pck_info(q, fmspc, pceid) == 0) {
		jhex(o, "fmspc", fmspc, 6);
		jhex(o, "pce_id", pceid, 2);
	}
	fprintf(f, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

static const char *tstr(int64_t t, char *buf, size_t n)
{
	if (cc_time_format(t, buf, n) < 0)
		snprintf(buf, n, "%lld", (long long)t);
	return buf;
}

void dump_result(FILE *f, const struct attest_result *r)
{
	char tb[32];
	fprintf(f, "TCB status:         %s\n", attest_tcb_status_name(r->status));
	fprintf(f, "  platform level:   %s\n", attest_tcb_status_name(r->platform_status));
	fprintf(f, "  QE identity:      %s\n", attest_tcb_status_name(r->qe_status));
	fprintf(f, "  TDX module:       %s\n", attest_tcb_status_name(r->module_status));
	fprintf(f, "Advisories:        ");
	if (!r->n_advisories)
		fprintf(f, " none");
	for (size_t i = 0; i < r->n_advisories; i++)
		fprintf(f, " %s", r->advisory_ids[i]);
	fprintf(f, "\n");
	if (r->tcb_date)
		fprintf(f, "TCB date:           %s\n", tstr(r->tcb_date, tb, sizeof(tb)));
	fprintf(f, "TCB eval number:    %u\n", r->tcb_eval_data_number);
	fprintf(f, "Verified at:        %s\n", tstr(r->verified_at, tb, sizeof(tb)));
	fprintf(f, "Collateral expires: %s\n", tstr(r->collateral_expiry, tb, sizeof(tb)));
	char h[33];
	cc_hex_encode(r->fmspc, 6, h, sizeof(h));
	fprintf(f, "FMSPC:              %s\n", h);
	fprintf(f, "Quote:              v%u, body type %u\n", r->quote_version, r->body_type);
	fprintf(f, "TD report\n");
	td_fields(f, &r->td, r->body_type == 3);
}

char *result_json(const struct attest_result *r, int err, const struct attest_policy_verdict *v)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "verified", json_object_new_boolean(err == 0));
	if (err)
		json_object_object_add(o, "error", json_object_new_string(attest_strerror(err)));
	json_object_object_add(o, "tcb_status", json_object_new_string(attest_tcb_status_name(r->status)));
	json_object_object_add(o, "platform_status", json_object_new_string(attest_tcb_status_name(r->platform_status)));
	json_object_object_add(o, "qe_status", json_object_new_string(attest_tcb_status_name(r->qe_status)));
	json_object_object_add(o, "module_status", json_object_new_string(attest_tcb_status_name(r->module_status)));
	json_object *adv = json_object_new_array();
	for (size_t i = 0; i < r->n_advisories; i++)
		json_object_array_add(adv, json_object_new_string(r->advisory_ids[i]));
	json_object_object_add(o, "advisory_ids", adv);
	char tb[32];
	if (r->tcb_date)
		json_object_object_add(o, "tcb_date", json_object_new_string(tstr(r->tcb_date, tb, sizeof(tb))));
	json_object_object_add(o, "verified_at", json_object_new_string(tstr(r->verified_at, tb, sizeof(tb))));
	json_object_object_add(o, "collateral_expiry", json_object_new_string(tstr(r->collateral_expiry, tb, sizeof(tb))));
	jhex(o, "fmspc", r->fmspc, 6);
	json_object_object_add(o, "quote_version", json_object_new_int(r->quote_version));
	json_object_object_add(o, "td_report", td_json(&r->td, r->body_type == 3));
	if (v) {
		json_object_object_add(o, "accepted", json_object_new_boolean(v->accepted));
		json_object *fl = json_object_new_array();
		for (size_t i = 0; i < v->n_failed; i++) {
			json_object *e = json_object_new_object();
			json_object_object_add(e, "rule", json_object_new_string(v->failed[i]));
			json_object_object_add(e, "reason", json_object_new_string(v->reason[i]));
			json_object_array_add(fl, e);
		}
		json_object_object_add(o, "failed_rules", fl);
	}
	char *s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return s;
}
