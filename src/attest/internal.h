/* SPDX-License-Identifier: Apache-2.0 */
/* Private declarations shared by the attest library's sources. */
#ifndef CCSERVE_ATTEST_INTERNAL_H
#define CCSERVE_ATTEST_INTERNAL_H

#include <ccserve/attest.h>
#include <ccserve/util.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>

#define ATTEST_LOG "attest"

#define QUOTE_HEADER_LEN 48u
#define TD10_BODY_LEN 584u
#define TD15_BODY_LEN 648u
#define QE_REPORT_LEN 384u
#define PCK_CHAIN_MAX (32u * 1024u)

/* ---- JSON span scanner (json_span.c) ---- */
/* Find the value of key in the top-level object of json[0, len): sets
 * ret_off and ret_len to the exact bytes of the value.  Only top-level members
 * are considered; nesting is bounded (64).  Returns 0, -ENOENT (no such key),
 * ATTEST_E_BAD_JSON (not a well-formed object). */
int attest_json_value_span(const char *json, size_t len, const char *key,
			   size_t *ret_off, size_t *ret_len);

/* ---- X.509 helpers (x509.c) ---- */
struct pck_ext {
	uint8_t fmspc[6];
	uint8_t pce_id[2];
	uint8_t cpu_svn[16];
	uint8_t comp_svn[16];
	uint16_t pce_svn;
};
/* Parse every certificate of a PEM bundle (at most 8). */
int attest_pem_certs(const void *pem, size_t len, STACK_OF(X509) **ret);
/* PEM or concatenated DER certificates, ordered leaf first. */
int attest_chain_certs(const void *data, size_t len, STACK_OF(X509) **ret);
/* The same, reusing already parsed certificates recognised by their DER
 * bytes (OpenSSL 3's certificate parse costs several ECDSA verifies). */
struct known_cert {
	const uint8_t *der;
	size_t der_len;
	X509 *x;
};
int attest_chain_certs_known(const void *data, size_t len, const struct known_cert *known,
			     size_t n_known, STACK_OF(X509) **ret);
/* DER or PEM CRL. */
int attest_load_crl(const void *data, size_t len, X509_CRL **ret);
/* DER or PEM certificate. */
int attest_load_cert(const void *data, size_t len, X509 **ret);
int attest_pck_ext_parse(X509 *pck, struct pck_ext *ret);
/* ECDSA P-256 over SHA-256 with a raw r||s signature. */
int attest_ecdsa_verify_raw(EVP_PKEY *key, const uint8_t sig[64], const void *msg, size_t len);
/* EVP_PKEY from raw x||y. */
int attest_pkey_from_raw(const uint8_t xy[64], EVP_PKEY **ret);
int attest_asn1_time_to_epoch(const ASN1_TIME *t, int64_t *ret);
/* Convert a DER ECDSA signature to raw r||s (and back). */
int attest_sig_der_to_raw(const uint8_t *der, size_t len, uint8_t ret[64]);
int attest_sig_raw_to_der(const uint8_t raw[64], uint8_t **ret, size_t *ret_len);
/* Built-in Intel SGX Root CA (DER). */
extern const uint8_t attest_intel_root_der[];
extern const size_t attest_intel_root_der_len;

/* ---- collateral internals (collateral.c) ---- */
struct tcb_level {
	uint16_t sgx[16];
	uint16_t tdx[16];
	uint16_t pcesvn;
	int64_t tcb_date;
	enum attest_tcb_status status;
	size_t adv_first, n_adv;   /* slice of the collateral's advisory pool */
};
struct isv_level {
	uint16_t isvsvn;
	int64_t tcb_date;
	enum attest_tcb_status status;
	size_t adv_first, n_adv;
};
struct module_identity {
	char id[16];
	uint8_t mrsigner[48];
	uint8_t attributes[8];
	uint8_t attributes_mask[8];
	struct isv_level *levels;
	size_t n_levels;
};

#define TCB_LEVELS_MAX 256
#define MODULE_IDS_MAX 16
#define ADVISORY_POOL_MAX 4096

struct attest_collateral {
	/* raw material */
	uint8_t *tcb_info_raw; size_t tcb_info_len;     /* signed bytes */
	uint8_t tcb_info_sig[64];
	uint8_t *qe_id_raw; size_t qe_id_len;
	uint8_t qe_id_sig[64];
	STACK_OF(X509) *tcb_chain;
	STACK_OF(X509) *qe_chain;
	STACK_OF(X509) *pck_crl_chain;
	X509_CRL *pck_crl;
	X509_CRL *root_crl;
	/* parsed TCB info */
	uint8_t fmspc[6];
	uint8_t pce_id[2];
	int tcb_info_version;
	uint32_t tcb_eval_num;
	int64_t tcb_issue, tcb_next;
	bool has_module;
	uint8_t module_mrsigner[48];
	uint8_t module_attributes[8];
	uint8_t module_attributes_mask[8];
	struct module_identity *modules; size_t n_modules;
	struct tcb_level *levels; size_t n_levels;
	/* parsed QE identity */
	int64_t qe_issue, qe_next;
	uint32_t qe_misc, qe_misc_mask;
	uint8_t qe_attr[16], qe_attr_mask[16];
	uint8_t qe_mrsigner[32];
	uint16_t qe_prodid;
	struct isv_level *qe_levels; size_t n_qe_levels;
	/* advisory IDs pool */
	char (*adv)[ATTEST_ADVISORY_LEN]; size_t n_adv;
	/* window */
	int64_t not_before, not_after;
	/* cached trust decision: DER hash of the root these were checked against */
	uint8_t checked_root[32];
	bool checked;
	int checked_err;
	pthread_mutex_t lock;
};

int attest_collateral_check_trust(struct attest_collateral *c, X509 *root, const uint8_t root_hash[32]);

/* Per-verifier caches: a platform sends the same PCK chain and attestation
 * key with every quote, so parsing them and the time-independent chain
 * signature checks are done once per distinct chain (keyed by SHA-256 of its
 * bytes).  Validity times, revocation and CRL checks run on every call. */
#define CHAIN_CACHE_MAX 32
#define KEY_CACHE_MAX 32
struct chain_entry {
	bool used;
	uint8_t hash[32];
	STACK_OF(X509) *chain;     /* ordered leaf first; NULL when err < 0 */
	int err;                   /* structure / signature result */
	struct pck_ext ext;
	int ext_err;
};
struct key_entry {
	bool used;
	uint8_t xy[64];
	EVP_PKEY *key;
};

#define CA_CACHE_MAX 8
struct ca_entry {
	uint8_t *der;
	size_t der_len;
	X509 *x;           /* a PCK CA whose signature by the root checked out */
};

struct attest_verifier {
	X509 *root;
	uint8_t root_hash[32];
	uint8_t *root_der;
	size_t root_der_len;
	pthread_mutex_t lock;
	struct ca_entry cas[CA_CACHE_MAX];
	size_t next_ca;
	struct chain_entry chains[CHAIN_CACHE_MAX];
	size_t next_chain;
	struct key_entry keys[KEY_CACHE_MAX];
	size_t next_key;
};

/* Test seams for the configfs-tsm provider (NULL: real mkdir/rmdir). */
extern int (*attest_tsm_mkdir_hook)(const char *path);
extern int (*attest_tsm_rmdir_hook)(const char *path);

int attest_tcb_status_from_string(const char *s, enum attest_tcb_status *ret);

#endif
