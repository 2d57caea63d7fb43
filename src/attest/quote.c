/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TDX quote v4/v5 parsing.  Parsed strictly by the length fields; bytes after
 * the signature data are ignored (real quotes carry padding).
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "internal.h"

static void read_td_report(struct cc_reader *r, struct attest_td_report *td, bool td15)
{
	cc_read_copy(r, td->tee_tcb_svn, 16);
	cc_read_copy(r, td->mr_seam, 48);
	cc_read_copy(r, td->mr_signer_seam, 48);
	cc_read_copy(r, td->seam_attributes, 8);
	cc_read_copy(r, td->td_attributes, 8);
	cc_read_copy(r, td->xfam, 8);
	cc_read_copy(r, td->mr_td, 48);
	cc_read_copy(r, td->mr_config_id, 48);
	cc_read_copy(r, td->mr_owner, 48);
	cc_read_copy(r, td->mr_owner_config, 48);
	for (int i = 0; i < 4; i++)
		cc_read_copy(r, td->rtmr[i], 48);
	cc_read_copy(r, td->report_data, 64);
	if (td15) {
		cc_read_copy(r, td->tee_tcb_svn2, 16);
		cc_read_copy(r, td->mr_service_td, 48);
	}
}

static void read_qe_report(struct cc_reader *r, struct attest_qe_report *qe)
{
	cc_read_copy(r, qe->cpu_svn, 16);
	cc_read_u32le(r, &qe->misc_select);
	cc_reader_skip(r, 28);
	cc_read_copy(r, qe->attributes, 16);
	cc_read_copy(r, qe->mr_enclave, 32);
	cc_reader_skip(r, 32);
	cc_read_copy(r, qe->mr_signer, 32);
	cc_reader_skip(r, 96);
	cc_read_u16le(r, &qe->isv_prod_id);
	cc_read_u16le(r, &qe->isv_svn);
	cc_reader_skip(r, 60);
	cc_read_copy(r, qe->report_data, 64);
}

static int trunc_or(int err)
{
	return err == CC_E_TRUNCATED ? ATTEST_E_QUOTE_TRUNCATED : err;
}

static int parse(struct attest_quote *q)
{
	struct cc_reader r;
	cc_reader_init(&r, q->raw, q->input_len);

	/* header */
	uint16_t reserved;
	cc_read_u16le(&r, &q->version);
	cc_read_u16le(&r, &q->att_key_type);
	cc_read_u32le(&r, &q->tee_type);
	cc_read_u16le(&r, &q->qe_svn);
	cc_read_u16le(&r, &q->pce_svn);
	cc_read_copy(&r, q->qe_vendor_id, 16);
	cc_read_copy(&r, q->user_data, 20);
	(void)reserved;
	if (r.err)
		return ATTEST_E_QUOTE_TRUNCATED;
	if (q->version != 4 && q->version != 5) {
		cc_log(CC_LOG_DEBUG, ATTEST_LOG, "quote version %u", q->version);
		return ATTEST_E_QUOTE_VERSION;
	}
	if (q->tee_type != ATTEST_TEE_TYPE_TDX)
		return ATTEST_E_TEE_TYPE;
	if (q->att_key_type != 2)
		return ATTEST_E_KEY_TYPE;

	/* body */
	if (q->version == 4) {
		q->body_type = 2;
		q->body_size = TD10_BODY_LEN;
	} else {
		cc_read_u16le(&r, &q->body_type);
		cc_read_u32le(&r, &q->body_size);
		if (r.err)
			return ATTEST_E_QUOTE_TRUNCATED;
		if (q->body_type == 2) {
			if (q->body_size != TD10_BODY_LEN)
				return ATTEST_E_BODY_TYPE;
		} else if (q->body_type == 3) {
			if (q->body_size != TD15_BODY_LEN)
				return ATTEST_E_BODY_TYPE;
		} else {
			return ATTEST_E_BODY_TYPE;
		}
	}
	read_td_report(&r, &q->td, q->body_type == 3);
	if (r.err)
		return ATTEST_E_QUOTE_TRUNCATED;
	q->signed_len = r.off;

	/* signature data */
	uint32_t sig_len;
	if (cc_read_u32le(&r, &sig_len) < 0)
		return ATTEST_E_QUOTE_TRUNCATED;
	struct cc_reader s;
	if (sig_len > cc_reader_remaining(&r))
		return ATTEST_E_QUOTE_LENGTH;
	cc_reader_init(&s, r.data + r.off, sig_len);
	q->raw_len = r.off + sig_len;

	cc_read_copy(&s, q->signature, 64);
	cc_read_copy(&s, q->att_key, 64);
	cc_read_u16le(&s, &q->cert_data_type);
	uint32_t cd_len;
	cc_read_u32le(&s, &cd_len);
	if (s.err)
		return ATTEST_E_QUOTE_LENGTH;
	if (q->cert_data_type != 6)
		return ATTEST_E_CERT_DATA_TYPE;
	if (cd_len != cc_reader_remaining(&s))
		return ATTEST_E_QUOTE_LENGTH;

	/* certification data type 6: QE report certification data */
	const uint8_t *p;
	if (cc_read_bytes(&s, QE_REPORT_LEN, &p) < 0)
		return ATTEST_E_QUOTE_LENGTH;
	q->qe_report_raw = p;
	struct cc_reader qr;
	cc_reader_init(&qr, p, QE_REPORT_LEN);
	read_qe_report(&qr, &q->qe_report);
	cc_read_copy(&s, q->qe_report_signature, 64);
	cc_read_u16le(&s, &q->qe_auth_data_len);
	if (s.err)
		return ATTEST_E_QUOTE_LENGTH;
	if (cc_read_bytes(&s, q->qe_auth_data_len, &q->qe_auth_data) < 0)
		return ATTEST_E_QUOTE_LENGTH;
	cc_read_u16le(&s, &q->pck_chain_type);
	cc_read_u32le(&s, &q->pck_chain_len);
	if (s.err)
		return ATTEST_E_QUOTE_LENGTH;
	if (q->pck_chain_type != 5)
		return ATTEST_E_CERT_DATA_TYPE;
	if (q->pck_chain_len != cc_reader_remaining(&s) || q->pck_chain_len == 0)
		return ATTEST_E_QUOTE_LENGTH;
	if (q->pck_chain_len > PCK_CHAIN_MAX)
		return ATTEST_E_QUOTE_TOOBIG;
	if (cc_read_bytes(&s, q->pck_chain_len, &p) < 0)
		return ATTEST_E_QUOTE_LENGTH;
	q->pck_chain_pem = (const char *)p;
	return 0;
}

int attest_quote_parse(const void *data, size_t len, struct attest_quote **ret_quote)
{
	if (!data || !ret_quote)
		return -EINVAL;
	if (len > ATTEST_QUOTE_MAX)
		return ATTEST_E_QUOTE_TOOBIG;
	struct attest_quote *q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->raw = malloc(len ? len : 1);
	if (!q->raw) {
		free(q);
		return -ENOMEM;
	}
	if (len)
		memcpy(q->raw, data, len);
	q->input_len = len;
	int r = parse(q);
	if (r < 0) {
		attest_quote_free(q);
		return trunc_or(r);
	}
	*ret_quote = q;
	return 0;
}

void attest_quote_free(struct attest_quote *q)
{
	if (!q)
		return;
	free(q->raw);
	free(q);
}

static bool all_in(const uint8_t *p, size_t n, const char *set)
{
	for (size_t i = 0; i < n; i++)
		if (!p[i] || !strchr(set, p[i]))
			return false;
	return true;
}

int attest_quote_parse_any(const void *data, size_t len, struct attest_quote **ret_quote)
{
	if (!data || !ret_quote)
		return -EINVAL;
	const uint8_t *p = data;
	/* binary quotes start with version 4 or 5 (little-endian u16) */
	if (len >= 2 && (p[0] == 4 || p[0] == 5) && p[1] == 0)
		return attest_quote_parse(data, len, ret_quote);
	/* text: trim whitespace */
	size_t a = 0, b = len;
	while (a < b && isspace(p[a]))
		a++;
	while (b > a && isspace(p[b - 1]))
		b--;
	size_t n = b - a;
	if (n / 2 > ATTEST_QUOTE_MAX)
		return ATTEST_E_QUOTE_TOOBIG;
	uint8_t *buf = NULL;
	size_t blen = 0;
	int r;
	if (n > 0 && all_in(p + a, n, "0123456789abcdefABCDEF")) {
		buf = malloc(n / 2 + 1);
		if (!buf)
			return -ENOMEM;
		r = cc_hex_decode((const char *)p + a, n, buf, n / 2 + 1, &blen);
	} else if (n > 0 && all_in(p + a, n,
				  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")) {
		r = cc_base64_decode_alloc((const char *)p + a, n, CC_B64_STD, &buf, &blen);
	} else {
		return attest_quote_parse(data, len, ret_quote);
	}
	if (r < 0) {
		free(buf);
		return ATTEST_E_QUOTE_TRUNCATED == r ? r : r;
	}
	r = attest_quote_parse(buf, blen, ret_quote);
	free(buf);
	return r;
}
