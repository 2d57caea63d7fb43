/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DCAP quote verification, in the order and with the rules of Intel's Quote
 * Verification Library: PCK chain to the pinned root with CRLs, collateral
 * validity, PCK extensions vs TCB Info, QE report signature and binding of
 * the attestation key, quote signature, QE identity, TDX module identity,
 * TCB level selection and status convergence.
 *
 * Not implemented: the TD 1.5 "TDRelaunchAdvised" refinement (TCB Info v3
 * does not carry it; body type 3 quotes are judged on TEE_TCB_SVN alone).
 */
#include <errno.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/sha.h>

#include "internal.h"

static int cert_time_ok(X509 *x, int64_t at)
{
	int64_t nb, na;
	if (attest_asn1_time_to_epoch(X509_get0_notBefore(x), &nb) < 0 ||
	    attest_asn1_time_to_epoch(X509_get0_notAfter(x), &na) < 0)
		return ATTEST_E_BAD_PEM;
	if (at < nb || at > na)
		return ATTEST_E_CERT_EXPIRED;
	return 0;
}

static int chain_time_ok(STACK_OF(X509) *sk, int64_t at)
{
	for (int i = 0; i < sk_X509_num(sk); i++) {
		int r = cert_time_ok(sk_X509_value(sk, i), at);
		if (r < 0)
			return r;
	}
	return 0;
}

static int crl_time_ok(X509_CRL *crl, int64_t at)
{
	int64_t tu, nu;
	if (attest_asn1_time_to_epoch(X509_CRL_get0_lastUpdate(crl), &tu) < 0 ||
	    attest_asn1_time_to_epoch(X509_CRL_get0_nextUpdate(crl), &nu) < 0)
		return ATTEST_E_CRL_INVALID;
	if (at < tu || at > nu)
		return ATTEST_E_CRL_EXPIRED;
	return 0;
}

static int collateral_time_ok(const struct attest_collateral *c, int64_t at)
{
	int r;
	if (at < c->tcb_issue || at > c->tcb_next || at < c->qe_issue || at > c->qe_next)
		return ATTEST_E_COLLATERAL_EXPIRED;
	if ((r = crl_time_ok(c->root_crl, at)) < 0 || (r = crl_time_ok(c->pck_crl, at)) < 0)
		return r;
	if ((r = chain_time_ok(c->tcb_chain, at)) < 0 || (r = chain_time_ok(c->qe_chain, at)) < 0 ||
	    (r = chain_time_ok(c->pck_crl_chain, at)) < 0)
		return r;
	return 0;
}

/* Time-independent checks of the quote's PCK chain [PCK, PCK CA, root?]:
 * structure, the pinned root, CA and leaf signatures. */
static bool ca_known(struct attest_verifier *v, X509 *ca)
{
	bool k = false;
	pthread_mutex_lock(&v->lock);
	for (size_t i = 0; i < CA_CACHE_MAX && !k; i++)
		k = v->cas[i].x == ca;
	pthread_mutex_unlock(&v->lock);
	return k;
}

static void ca_remember(struct attest_verifier *v, X509 *ca)
{
	unsigned char *der = NULL;
	int dl = i2d_X509(ca, &der);
	if (dl <= 0)
		return;
	uint8_t *copy = malloc((size_t)dl);
	if (!copy) {
		OPENSSL_free(der);
		return;
	}
	memcpy(copy, der, (size_t)dl);
	OPENSSL_free(der);
	pthread_mutex_lock(&v->lock);
	for (size_t i = 0; i < CA_CACHE_MAX; i++)
		if (v->cas[i].der_len == (size_t)dl && memcmp(v->cas[i].der, copy, (size_t)dl) == 0) {
			pthread_mutex_unlock(&v->lock);
			free(copy);
			return;
		}
	struct ca_entry *e = &v->cas[v->next_ca];
	v->next_ca = (v->next_ca + 1) % CA_CACHE_MAX;
	free(e->der);
	X509_free(e->x);
	X509_up_ref(ca);
	e->x = ca;
	e->der = copy;
	e->der_len = (size_t)dl;
	pthread_mutex_unlock(&v->lock);
}

static int pck_chain_static(struct attest_verifier *v, STACK_OF(X509) *chain)
{
	int n = sk_X509_num(chain);
	if (n < 2 || n > 3)
		return ATTEST_E_CHAIN;
	X509 *leaf = sk_X509_value(chain, 0);
	X509 *ca = sk_X509_value(chain, 1);
	if (n == 3 && X509_cmp(sk_X509_value(chain, 2), v->root) != 0)
		return ATTEST_E_UNTRUSTED_ROOT;
	if (X509_check_issued(v->root, ca) != X509_V_OK || X509_check_ca(ca) < 1)
		return ATTEST_E_UNTRUSTED_ROOT;
	if (!ca_known(v, ca)) {
		EVP_PKEY *rk = X509_get0_pubkey(v->root);
		if (!rk || X509_verify(ca, rk) != 1) {
			ERR_clear_error();
			return ATTEST_E_CHAIN;
		}
		ca_remember(v, ca);
	}
	if (X509_check_issued(ca, leaf) != X509_V_OK)
		return ATTEST_E_CHAIN;
	EVP_PKEY *ck = X509_get0_pubkey(ca);
	if (!ck || X509_verify(leaf, ck) != 1) {
		ERR_clear_error();
		return ATTEST_E_CHAIN;
	}
	return 0;
}

static STACK_OF(X509) *chain_ref(STACK_OF(X509) *sk)
{
	STACK_OF(X509) *d = sk_X509_dup(sk);
	if (!d)
		return NULL;
	for (int i = 0; i < sk_X509_num(d); i++)
		X509_up_ref(sk_X509_value(d, i));
	return d;
}

static void chain_entry_clear(struct chain_entry *e)
{
	sk_X509_pop_free(e->chain, X509_free);
	memset(e, 0, sizeof(*e));
}

/* The parsed, statically checked PCK chain of q (cached per verifier).
 * On 0, *ret_chain holds references the caller frees. */
static int pck_chain_get(struct attest_verifier *v, const struct attest_quote *q,
			 STACK_OF(X509) **ret_chain, struct pck_ext *ret_ext, int *ret_ext_err)
{
	uint8_t h[32];
	SHA256((const uint8_t *)q->pck_chain_pem, q->pck_chain_len, h);
	pthread_mutex_lock(&v->lock);
	for (size_t i = 0; i < CHAIN_CACHE_MAX; i++) {
		struct chain_entry *e = &v->chains[i];
		if (!e->used || memcmp(e->hash, h, 32) != 0)
			continue;
		int r = e->err;
		if (r == 0) {
			*ret_chain = chain_ref(e->chain);
			*ret_ext = e->ext;
			*ret_ext_err = e->ext_err;
			if (!*ret_chain)
				r = -ENOMEM;
		}
		pthread_mutex_unlock(&v->lock);
		return r;
	}
	pthread_mutex_unlock(&v->lock);

	STACK_OF(X509) *chain = NULL;
	struct pck_ext ext;
	memset(&ext, 0, sizeof(ext));
	int ext_err = 0;
	/* the root and known PCK CAs are recognised by their bytes, not
	 * parsed again (references taken under the lock) */
	struct known_cert known[1 + CA_CACHE_MAX];
	size_t nk = 0;
	known[nk++] = (struct known_cert){ v->root_der, v->root_der_len, v->root };
	pthread_mutex_lock(&v->lock);
	for (size_t i = 0; i < CA_CACHE_MAX; i++)
		if (v->cas[i].x && X509_up_ref(v->cas[i].x))
			known[nk++] = (struct known_cert){ v->cas[i].der, v->cas[i].der_len, v->cas[i].x };
	/* the DER copies stay alive: entries are only replaced under the
	 * lock, so hold it across the parse of this one chain */
	int r = attest_chain_certs_known(q->pck_chain_pem, q->pck_chain_len, known, nk, &chain);
	pthread_mutex_unlock(&v->lock);
	for (size_t i = 1; i < nk; i++)
		X509_free(known[i].x);
	if (r == 0)
		r = pck_chain_static(v, chain);
	if (r == 0)
		ext_err = attest_pck_ext_parse(sk_X509_value(chain, 0), &ext);
	if (r == -ENOMEM || ext_err == -ENOMEM) {
		sk_X509_pop_free(chain, X509_free);
		return -ENOMEM;
	}
	if (r < 0) {
		sk_X509_pop_free(chain, X509_free);
		chain = NULL;
	}
	pthread_mutex_lock(&v->lock);
	struct chain_entry *e = &v->chains[v->next_chain];
	v->next_chain = (v->next_chain + 1) % CHAIN_CACHE_MAX;
	chain_entry_clear(e);
	e->used = true;
	memcpy(e->hash, h, 32);
	e->chain = chain;
	e->err = r;
	e->ext = ext;
	e->ext_err = ext_err;
	if (r == 0) {
		*ret_chain = chain_ref(chain);
		*ret_ext = ext;
		*ret_ext_err = ext_err;
		if (!*ret_chain)
			r = -ENOMEM;
	}
	pthread_mutex_unlock(&v->lock);
	return r;
}

/* The attestation key as an EVP_PKEY (cached per verifier). */
static int att_key_get(struct attest_verifier *v, const uint8_t xy[64], EVP_PKEY **ret)
{
	pthread_mutex_lock(&v->lock);
	for (size_t i = 0; i < KEY_CACHE_MAX; i++) {
		struct key_entry *e = &v->keys[i];
		if (e->used && memcmp(e->xy, xy, 64) == 0) {
			EVP_PKEY_up_ref(e->key);
			*ret = e->key;
			pthread_mutex_unlock(&v->lock);
			return 0;
		}
	}
	pthread_mutex_unlock(&v->lock);
	EVP_PKEY *k = NULL;
	int r = attest_pkey_from_raw(xy, &k);
	if (r < 0)
		return r;
	pthread_mutex_lock(&v->lock);
	struct key_entry *e = &v->keys[v->next_key];
	v->next_key = (v->next_key + 1) % KEY_CACHE_MAX;
	EVP_PKEY_free(e->key);
	e->used = true;
	memcpy(e->xy, xy, 64);
	e->key = k;
	EVP_PKEY_up_ref(k);
	pthread_mutex_unlock(&v->lock);
	*ret = k;
	return 0;
}

/* Per-call checks of the PCK chain against the collateral and the time. */
static int pck_chain_dynamic(const struct attest_verifier *v, struct attest_collateral *c,
			     STACK_OF(X509) *chain, int64_t at)
{
	X509 *leaf = sk_X509_value(chain, 0);
	X509 *ca = sk_X509_value(chain, 1);
	if (X509_cmp(ca, sk_X509_value(c->pck_crl_chain, 0)) != 0) {
		/* not the CA the collateral check covered: the PCK CRL must
		 * still come from this CA */
		EVP_PKEY *ck = X509_get0_pubkey(ca);
		if (X509_NAME_cmp(X509_CRL_get_issuer(c->pck_crl), X509_get_subject_name(ca)) != 0 ||
		    !ck || X509_CRL_verify(c->pck_crl, ck) != 1) {
			ERR_clear_error();
			cc_log(CC_LOG_DEBUG, ATTEST_LOG, "PCK CRL is not issued by the quote's PCK CA");
			return ATTEST_E_CRL_INVALID;
		}
	}
	X509_REVOKED *rev = NULL;
	if (X509_CRL_get0_by_cert(c->root_crl, &rev, ca) == 1)
		return ATTEST_E_CERT_REVOKED;
	if (X509_CRL_get0_by_cert(c->pck_crl, &rev, leaf) == 1)
		return ATTEST_E_CERT_REVOKED;
	int r;
	if ((r = cert_time_ok(v->root, at)) < 0 || (r = cert_time_ok(ca, at)) < 0 ||
	    (r = cert_time_ok(leaf, at)) < 0)
		return r;
	return 0;
}

static bool masked_eq(const uint8_t *a, const uint8_t *b, const uint8_t *mask, size_t n)
{
	uint8_t d = 0;
	for (size_t i = 0; i < n; i++)
		d |= (uint8_t)((a[i] & mask[i]) ^ (b[i] & mask[i]));
	return d == 0;
}

static const struct isv_level *isv_match(const struct isv_level *lv, size_t n, unsigned svn)
{
	for (size_t i = 0; i < n; i++)
		if (svn >= lv[i].isvsvn)
			return &lv[i];
	return NULL;
}

static void add_advisories(struct attest_result *res, const struct attest_collateral *c,
			   size_t first, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *id = c->adv[first + i];
		bool dup = false;
		for (size_t k = 0; k < res->n_advisories; k++)
			if (strcmp(res->advisory_ids[k], id) == 0)
				dup = true;
		if (!dup && res->n_advisories < ATTEST_MAX_ADVISORIES)
			snprintf(res->advisory_ids[res->n_advisories++], ATTEST_ADVISORY_LEN, "%s", id);
	}
}

static enum attest_tcb_status converge(enum attest_tcb_status level, enum attest_tcb_status other)
{
	if (other == ATTEST_TCB_OUT_OF_DATE) {
		if (level == ATTEST_TCB_UP_TO_DATE || level == ATTEST_TCB_SW_HARDENING_NEEDED)
			return ATTEST_TCB_OUT_OF_DATE;
		if (level == ATTEST_TCB_CONFIGURATION_NEEDED ||
		    level == ATTEST_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED)
			return ATTEST_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED;
	}
	if (other == ATTEST_TCB_REVOKED)
		return ATTEST_TCB_REVOKED;
	if (other == ATTEST_TCB_NOT_SUPPORTED)
		return ATTEST_TCB_NOT_SUPPORTED;
	return level;
}

static int tcb_eval(const struct attest_quote *q, const struct attest_collateral *c,
		    const struct pck_ext *pck, struct attest_result *res)
{
	const uint8_t *svn = q->td.tee_tcb_svn;

	/* QE identity */
	const struct attest_qe_report *qe = &q->qe_report;
	/* collateral miscselect is the field's value written as hex */
	uint32_t m = qe->misc_select & c->qe_misc_mask;
	if (m != (c->qe_misc & c->qe_misc_mask) ||
	    !masked_eq(qe->attributes, c->qe_attr, c->qe_attr_mask, 16) ||
	    memcmp(qe->mr_signer, c->qe_mrsigner, 32) != 0 || qe->isv_prod_id != c->qe_prodid) {
		cc_log(CC_LOG_DEBUG, ATTEST_LOG, "QE report does not match the QE identity");
		return ATTEST_E_QE_IDENTITY_MISMATCH;
	}
	const struct isv_level *ql = isv_match(c->qe_levels, c->n_qe_levels, qe->isv_svn);
	res->qe_status = ql ? ql->status : ATTEST_TCB_NOT_SUPPORTED;

	/* TDX module identity */
	const uint8_t *mrsigner = c->module_mrsigner, *attr = c->module_attributes,
		      *mask = c->module_attributes_mask;
	const struct module_identity *mid = NULL;
	if (svn[1] > 0) {
		char want[16];
		snprintf(want, sizeof(want), "TDX_%02X", svn[1]);
		for (size_t i = 0; i < c->n_modules; i++)
			if (strcasecmp(c->modules[i].id, want) == 0)
				mid = &c->modules[i];
		if (!mid) {
			cc_log(CC_LOG_DEBUG, ATTEST_LOG, "no TDX module identity %s", want);
			return ATTEST_E_TDX_MODULE_MISMATCH;
		}
		mrsigner = mid->mrsigner;
		attr = mid->attributes;
		mask = mid->attributes_mask;
	} else if (!c->has_module) {
		return ATTEST_E_TDX_MODULE_MISMATCH;
	}
	if (memcmp(q->td.mr_signer_seam, mrsigner, 48) != 0 ||
	    !masked_eq(q->td.seam_attributes, attr, mask, 8))
		return ATTEST_E_TDX_MODULE_MISMATCH;
	const struct isv_level *ml = NULL;
	if (mid) {
		ml = isv_match(mid->levels, mid->n_levels, svn[0]);
		res->module_status = ml ? ml->status : ATTEST_TCB_NOT_SUPPORTED;
	} else {
		res->module_status = ATTEST_TCB_UP_TO_DATE;
	}

	/* TCB level: first whose SGX components + PCESVN the PCK meets, then
	 * (from there on) the first whose TDX components TEE_TCB_SVN meets. */
	const struct tcb_level *sgx_lv = NULL, *tdx_lv = NULL;
	for (size_t i = 0; i < c->n_levels && !tdx_lv; i++) {
		const struct tcb_level *lv = &c->levels[i];
		bool ok = pck->pce_svn >= lv->pcesvn;
		for (int k = 0; k < 16 && ok; k++)
			ok = pck->comp_svn[k] >= lv->sgx[k];
		if (!ok)
			continue;
		if (!sgx_lv)
			sgx_lv = lv;
		bool tok = true;
		for (int k = svn[1] > 0 ? 2 : 0; k < 16 && tok; k++)
			tok = svn[k] >= lv->tdx[k];
		if (tok)
			tdx_lv = lv;
	}
	res->status = ATTEST_TCB_NOT_SUPPORTED;
	res->platform_status = ATTEST_TCB_NOT_SUPPORTED;
	if (!sgx_lv || !tdx_lv) {
		cc_log(CC_LOG_DEBUG, ATTEST_LOG, "no TCB level matches the platform");
		return ATTEST_E_TCB_NOT_SUPPORTED;
	}
	res->platform_status = tdx_lv->status;
	res->tcb_date = tdx_lv->tcb_date;
	if (res->module_status == ATTEST_TCB_NOT_SUPPORTED)
		return ATTEST_E_TCB_NOT_SUPPORTED;

	enum attest_tcb_status st = converge(tdx_lv->status, res->module_status);
	if (st != ATTEST_TCB_REVOKED)
		st = converge(st, res->qe_status);
	res->status = st;
	add_advisories(res, c, tdx_lv->adv_first, tdx_lv->n_adv);
	if (ml)
		add_advisories(res, c, ml->adv_first, ml->n_adv);
	if (ql)
		add_advisories(res, c, ql->adv_first, ql->n_adv);
	if (st == ATTEST_TCB_REVOKED)
		return ATTEST_E_TCB_REVOKED;
	if (st == ATTEST_TCB_NOT_SUPPORTED)
		return ATTEST_E_TCB_NOT_SUPPORTED;
	return 0;
}

int attest_verify(const struct attest_verifier *v, const struct attest_quote *q,
		  struct attest_collateral *c, int64_t at, struct attest_result *ret_result)
{
	if (!v || !q || !c)
		return -EINVAL;
	struct attest_result res;
	memset(&res, 0, sizeof(res));
	res.verified_at = at;
	res.quote_version = q->version;
	res.body_type = q->body_type;
	res.td = q->td;
	res.debug = (q->td.td_attributes[0] & ATTEST_TDATTR_DEBUG) != 0;
	res.qe_isv_svn = q->qe_report.isv_svn;
	memcpy(res.qe_mr_signer, q->qe_report.mr_signer, 32);
	res.tcb_eval_data_number = c->tcb_eval_num;
	res.collateral_expiry = c->not_after;

	STACK_OF(X509) *chain = NULL;
	EVP_PKEY *akey = NULL;
	struct pck_ext pck;
	int ext_err = 0;
	/* the caches are an implementation detail: v is logically const */
	struct attest_verifier *mv = (struct attest_verifier *)v;
	int r = attest_collateral_check_trust(c, v->root, v->root_hash);
	if (r < 0)
		goto out;
	if ((r = collateral_time_ok(c, at)) < 0)
		goto out;
	if ((r = pck_chain_get(mv, q, &chain, &pck, &ext_err)) < 0)
		goto out;
	if ((r = pck_chain_dynamic(v, c, chain, at)) < 0)
		goto out;
	X509 *leaf = sk_X509_value(chain, 0);
	if ((r = ext_err) < 0)
		goto out;
	memcpy(res.fmspc, pck.fmspc, 6);
	memcpy(res.pce_id, pck.pce_id, 2);
	res.pce_svn = pck.pce_svn;
	memcpy(res.cpu_svn, pck.cpu_svn, 16);
	memcpy(res.sgx_tcb_comp, pck.comp_svn, 16);
	if (memcmp(pck.fmspc, c->fmspc, 6) != 0) {
		r = ATTEST_E_FMSPC_MISMATCH;
		goto out;
	}
	if (memcmp(pck.pce_id, c->pce_id, 2) != 0) {
		r = ATTEST_E_PCEID_MISMATCH;
		goto out;
	}
	/* QE report signed by the PCK key */
	r = attest_ecdsa_verify_raw(X509_get0_pubkey(leaf), q->qe_report_signature,
				    q->qe_report_raw, QE_REPORT_LEN);
	if (r <= 0) {
		r = r < 0 ? r : ATTEST_E_QE_REPORT_SIGNATURE;
		goto out;
	}
	/* QE report data binds the attestation key and QE auth data */
	{
		uint8_t h[32];
		unsigned hl = 0;
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		bool ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
			  EVP_DigestUpdate(md, q->att_key, 64) == 1 &&
			  EVP_DigestUpdate(md, q->qe_auth_data, q->qe_auth_data_len) == 1 &&
			  EVP_DigestFinal_ex(md, h, &hl) == 1 && hl == 32;
		EVP_MD_CTX_free(md);
		if (!ok) {
			r = -ENOMEM;
			goto out;
		}
		static const uint8_t zero[32];
		if (!cc_ct_equal(h, q->qe_report.report_data, 32) ||
		    !cc_ct_equal(zero, q->qe_report.report_data + 32, 32)) {
			r = ATTEST_E_QE_REPORT_DATA;
			goto out;
		}
	}
	/* quote signed by the attestation key */
	if ((r = att_key_get(mv, q->att_key, &akey)) < 0)
		goto out;
	r = attest_ecdsa_verify_raw(akey, q->signature, q->raw, q->signed_len);
	if (r <= 0) {
		r = r < 0 ? r : ATTEST_E_QUOTE_SIGNATURE;
		goto out;
	}
	r = tcb_eval(q, c, &pck, &res);
out:
	EVP_PKEY_free(akey);
	sk_X509_pop_free(chain, X509_free);
	if (ret_result)
		*ret_result = res;
	return r;
}

/* ---- verifier ---- */

int attest_verifier_new(struct attest_verifier **ret, const struct attest_verifier_opts *opts)
{
	if (!ret)
		return -EINVAL;
	const void *der = attest_intel_root_der;
	size_t len = attest_intel_root_der_len;
	if (opts && opts->root_cert) {
		der = opts->root_cert;
		len = opts->root_cert_len;
	}
	X509 *root = NULL;
	int r = attest_load_cert(der, len, &root);
	if (r < 0)
		return r;
	/* the root must be a self-signed CA */
	EVP_PKEY *k = X509_get0_pubkey(root);
	if (!k || X509_check_issued(root, root) != X509_V_OK || X509_verify(root, k) != 1 ||
	    X509_check_ca(root) < 1) {
		ERR_clear_error();
		X509_free(root);
		return ATTEST_E_CHAIN;
	}
	struct attest_verifier *v = calloc(1, sizeof(*v));
	if (!v) {
		X509_free(root);
		return -ENOMEM;
	}
	v->root = root;
	pthread_mutex_init(&v->lock, NULL);
	unsigned char *d = NULL;
	int dl = i2d_X509(root, &d);
	if (dl <= 0 || !(v->root_der = malloc((size_t)dl))) {
		OPENSSL_free(d);
		attest_verifier_free(v);
		return -ENOMEM;
	}
	memcpy(v->root_der, d, (size_t)dl);
	v->root_der_len = (size_t)dl;
	SHA256(d, (size_t)dl, v->root_hash);
	OPENSSL_free(d);
	*ret = v;
	return 0;
}

int attest_verifier_new_root_file(struct attest_verifier **ret, const char *root_path)
{
	uint8_t *b;
	size_t n;
	int r = cc_file_read(root_path, 64 * 1024, false, &b, &n);
	if (r < 0)
		return r;
	struct attest_verifier_opts o = { .root_cert = b, .root_cert_len = n };
	r = attest_verifier_new(ret, &o);
	free(b);
	return r;
}

void attest_verifier_free(struct attest_verifier *v)
{
	if (!v)
		return;
	X509_free(v->root);
	free(v->root_der);
	for (size_t i = 0; i < CA_CACHE_MAX; i++) {
		free(v->cas[i].der);
		X509_free(v->cas[i].x);
	}
	for (size_t i = 0; i < CHAIN_CACHE_MAX; i++)
		chain_entry_clear(&v->chains[i]);
	for (size_t i = 0; i < KEY_CACHE_MAX; i++)
		EVP_PKEY_free(v->keys[i].key);
	pthread_mutex_destroy(&v->lock);
	free(v);
}

int attest_quote_pck_info(const struct attest_quote *q, uint8_t ret_fmspc[6], uint8_t ret_pceid[2])
{
	STACK_OF(X509) *chain = NULL;
	int r = attest_chain_certs(q->pck_chain_pem, q->pck_chain_len, &chain);
	if (r < 0)
		return r;
	struct pck_ext e;
	r = attest_pck_ext_parse(sk_X509_value(chain, 0), &e);
	sk_X509_pop_free(chain, X509_free);
	if (r < 0)
		return r;
	if (ret_fmspc)
		memcpy(ret_fmspc, e.fmspc, 6);
	if (ret_pceid)
		memcpy(ret_pceid, e.pce_id, 2);
	return 0;
}
