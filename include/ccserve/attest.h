/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ccserve attest: Intel TDX quotes (v4 and v5), complete DCAP verification
 * against Intel PCS collateral, release policies, and evidence providers
 * (Linux configfs-tsm inside a TD; "sim", a software TD with a test PKI).
 *
 * Error model: functions return 0 on success or a negative value: either a
 * negative errno (-ENOMEM, -ENOENT, -EIO ... for system failures) or one of
 * the ATTEST_E_* codes below.  attest_strerror() names both.  Codes are never
 * renumbered.
 *
 * Fail closed: attest_verify() returns 0 only when every signature, chain,
 * CRL and validity window checked out and a TCB level matched.  A 0 return is
 * still not a release decision: the TCB status, the TD attributes (DEBUG!) and
 * the measurements must be judged by a policy (attest_policy_eval()).
 *
 * Thread safety: a struct attest_collateral and a struct attest_verifier may
 * be shared by threads that call attest_verify() concurrently (their caches
 * are locked internally).  Quotes, policies and providers are not shared.
 *
 * Ownership: every *_new / *_load / *_parse hands the caller an object to
 * release with the matching *_free (NULL-safe).  Input buffers are copied
 * where the object needs them later; the caller keeps ownership of its
 * arguments.  NULL required arguments return -EINVAL.
 */
#ifndef CCSERVE_ATTEST_H
#define CCSERVE_ATTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */

enum attest_error {
	ATTEST_E_BASE = 2000,
	/* quote format */
	ATTEST_E_QUOTE_TRUNCATED = -2001,   /* a field runs past the end */
	ATTEST_E_QUOTE_TOOBIG = -2002,      /* above ATTEST_QUOTE_MAX */
	ATTEST_E_QUOTE_VERSION = -2003,     /* not v4 or v5 */
	ATTEST_E_TEE_TYPE = -2004,          /* not TDX (0x81) */
	ATTEST_E_KEY_TYPE = -2005,          /* attestation key not ECDSA-P256 */
	ATTEST_E_BODY_TYPE = -2006,         /* v5 body type not 2 or 3 / size mismatch */
	ATTEST_E_QUOTE_LENGTH = -2007,      /* inconsistent length fields */
	ATTEST_E_CERT_DATA_TYPE = -2008,    /* certification data not type 6 with nested type 5 */
	/* encodings */
	ATTEST_E_BAD_PEM = -2010,           /* PEM/DER certificate or CRL does not parse */
	ATTEST_E_BAD_JSON = -2011,          /* JSON malformed or a field has the wrong type */
	ATTEST_E_COLLATERAL_MISSING = -2012,/* a required collateral item is absent */
	ATTEST_E_COLLATERAL_FORMAT = -2013, /* collateral field has a bad value (id, version, hex...) */
	/* certificates and CRLs */
	ATTEST_E_UNTRUSTED_ROOT = -2020,    /* chain does not end at the pinned root */
	ATTEST_E_CHAIN = -2021,             /* chain signature/structure invalid */
	ATTEST_E_CERT_EXPIRED = -2022,      /* a certificate not valid at the verification time */
	ATTEST_E_CERT_REVOKED = -2023,      /* PCK or intermediate certificate listed in a CRL */
	ATTEST_E_CRL_INVALID = -2024,       /* CRL signature or issuer wrong */
	ATTEST_E_CRL_EXPIRED = -2025,       /* CRL not valid at the verification time */
	ATTEST_E_PCK_EXTENSIONS = -2026,    /* PCK certificate SGX extensions missing or malformed */
	/* signed collateral */
	ATTEST_E_TCB_INFO_SIGNATURE = -2030,
	ATTEST_E_QE_IDENTITY_SIGNATURE = -2031,
	ATTEST_E_COLLATERAL_EXPIRED = -2032,/* TCB Info / QE Identity outside issueDate..nextUpdate */
	ATTEST_E_FMSPC_MISMATCH = -2033,    /* TCB Info is for another FMSPC */
	ATTEST_E_PCEID_MISMATCH = -2034,
	/* quote signatures and identities */
	ATTEST_E_QE_REPORT_SIGNATURE = -2040, /* QE report not signed by the PCK key */
	ATTEST_E_QE_REPORT_DATA = -2041,      /* QE report data != SHA-256(att key || auth data) || 0 */
	ATTEST_E_QUOTE_SIGNATURE = -2042,     /* quote not signed by the attestation key */
	ATTEST_E_QE_IDENTITY_MISMATCH = -2043,/* QE MRSIGNER/ISVPRODID/MISCSELECT/ATTRIBUTES */
	ATTEST_E_TDX_MODULE_MISMATCH = -2044, /* MRSIGNERSEAM/SEAMATTRIBUTES or no module identity */
	/* TCB outcome (the result is filled in for these) */
	ATTEST_E_TCB_NOT_SUPPORTED = -2050,   /* no TCB level matches the platform */
	ATTEST_E_TCB_REVOKED = -2051,         /* the matching TCB level is Revoked */
	/* policy and providers */
	ATTEST_E_POLICY = -2060,              /* policy file malformed */
	ATTEST_E_POLICY_REJECTED = -2061,     /* evaluation refused the evidence */
	ATTEST_E_PROVIDER = -2070,            /* evidence provider failed (see log) */
	ATTEST_E_PROVIDER_RACE = -2071,       /* configfs-tsm generation changed under us */
	ATTEST_E_UNSUPPORTED = -2072,         /* unknown provider / option */
	ATTEST_E_FETCH = -2080,               /* collateral fetch: HTTP or transport failure */
};

/* Static description of err (negative errno, CC_E_* or ATTEST_E_*); never NULL. */
const char *attest_strerror(int err);

/* ------------------------------------------------------------------------ */
/* Quotes                                                                   */

#define ATTEST_QUOTE_MAX (64u * 1024u)   /* hard cap on quote input */
#define ATTEST_TEE_TYPE_TDX 0x81u
#define ATTEST_TDATTR_DEBUG 0x1u         /* bit 0 of TDATTRIBUTES byte 0 */

struct attest_td_report {                /* TD report body, TDREPORT10/15 */
	uint8_t tee_tcb_svn[16];
	uint8_t mr_seam[48];
	uint8_t mr_signer_seam[48];
	uint8_t seam_attributes[8];
	uint8_t td_attributes[8];
	uint8_t xfam[8];
	uint8_t mr_td[48];
	uint8_t mr_config_id[48];
	uint8_t mr_owner[48];
	uint8_t mr_owner_config[48];
	uint8_t rtmr[4][48];
	uint8_t report_data[64];
	/* body type 3 (TDX 1.5) only; zero otherwise */
	uint8_t tee_tcb_svn2[16];
	uint8_t mr_service_td[48];
};

struct attest_qe_report {                /* SGX enclave report body of the QE */
	uint8_t cpu_svn[16];
	uint32_t misc_select;
	uint8_t attributes[16];
	uint8_t mr_enclave[32];
	uint8_t mr_signer[32];
	uint16_t isv_prod_id;
	uint16_t isv_svn;
	uint8_t report_data[64];
};

/* A parsed quote.  All pointers point into raw (owned by the quote). */
struct attest_quote {
	uint8_t *raw;                    /* copy of the input, raw_len bytes */
	size_t raw_len;                  /* bytes used by the quote (trailing bytes dropped) */
	size_t input_len;                /* bytes given to the parser */
	uint16_t version;                /* 4 or 5 */
	uint16_t att_key_type;           /* 2 = ECDSA-256-with-P-256 */
	uint32_t tee_type;               /* 0x81 */
	uint16_t qe_svn, pce_svn;        /* header reserved fields as QE/PCE SVN */
	uint8_t qe_vendor_id[16];
	uint8_t user_data[20];
	uint16_t body_type;              /* 2 (TD 1.0) or 3 (TD 1.5); v4 = 2 */
	uint32_t body_size;              /* 584 or 648 */
	struct attest_td_report td;
	size_t signed_len;               /* quote signature covers raw[0, signed_len) */
	uint8_t signature[64];           /* r || s, big-endian */
	uint8_t att_key[64];             /* x || y, big-endian */
	uint16_t cert_data_type;         /* 6 */
	const uint8_t *qe_report_raw;    /* 384 bytes */
	struct attest_qe_report qe_report;
	uint8_t qe_report_signature[64];
	const uint8_t *qe_auth_data;
	uint16_t qe_auth_data_len;
	uint16_t pck_chain_type;         /* 5 */
	const char *pck_chain_pem;       /* pck_chain_len bytes, not NUL-terminated */
	uint32_t pck_chain_len;
};

/* Parse a binary quote.  data is copied (caller keeps ownership).  Trailing
 * bytes after the signature data are ignored.  *ret_quote is freed with
 * attest_quote_free().  Errors: ATTEST_E_QUOTE_* / ATTEST_E_TEE_TYPE /
 * ATTEST_E_KEY_TYPE / ATTEST_E_BODY_TYPE / ATTEST_E_CERT_DATA_TYPE, -ENOMEM.
 * The PCK chain is only located here; it is parsed by attest_verify(). */
int attest_quote_parse(const void *data, size_t len, struct attest_quote **ret_quote);
/* Accepts binary, hex text or base64 text (whitespace around is trimmed). */
int attest_quote_parse_any(const void *data, size_t len, struct attest_quote **ret_quote);
void attest_quote_free(struct attest_quote *q);  /* NULL-safe */

/* FMSPC (6 bytes) and PCE-ID (2 bytes) from the quote's PCK certificate.
 * Errors: ATTEST_E_BAD_PEM, ATTEST_E_PCK_EXTENSIONS. */
int attest_quote_pck_info(const struct attest_quote *q, uint8_t ret_fmspc[6],
			  uint8_t ret_pceid[2]);

/* ------------------------------------------------------------------------ */
/* Collateral                                                               */

/*
 * Collateral is parsed, and the parts that do not depend on a quote are
 * checked once at load (signatures of TCB Info / QE Identity by their signing
 * chain, CRL signatures); attest_verify() re-checks time validity every call.
 * Intel PCS directory layout: tcb_info.json, tcb_info_issuer_chain.pem,
 * qe_identity.json, qe_identity_issuer_chain.pem, pck_crl.der (or .pem),
 * pck_crl_issuer_chain.pem, root_ca_crl.der (or .pem).
 * dcap-qvl JSON bundle: one object with pck_crl_issuer_chain, root_ca_crl
 * (hex DER), pck_crl (hex DER), tcb_info_issuer_chain, tcb_info (string),
 * tcb_info_signature (hex), qe_identity_issuer_chain, qe_identity (string),
 * qe_identity_signature (hex).
 */
struct attest_collateral;

#define ATTEST_COLLATERAL_FILE_MAX (1u << 20)

/* Loads from path: a directory (PCS layout) or a JSON bundle file.
 * Errors: -errno, ATTEST_E_BAD_JSON, ATTEST_E_BAD_PEM, ATTEST_E_COLLATERAL_*. */
int attest_collateral_load(const char *path, struct attest_collateral **ret);
int attest_collateral_load_dir(const char *dir, struct attest_collateral **ret);
/* bundle: caller-owned bytes (copied). */
int attest_collateral_load_bundle(const void *json, size_t len, struct attest_collateral **ret);
void attest_collateral_free(struct attest_collateral *c);  /* NULL-safe */
/* FMSPC the TCB Info is for (6 bytes), and the window in which every part of
 * the collateral is valid (max issue/thisUpdate .. min nextUpdate). */
int attest_collateral_info(const struct attest_collateral *c, uint8_t ret_fmspc[6],
			   int64_t *ret_not_before, int64_t *ret_not_after);

/* ------------------------------------------------------------------------ */
/* Verification                                                             */

enum attest_tcb_status {
	ATTEST_TCB_UNKNOWN = 0,
	ATTEST_TCB_UP_TO_DATE,
	ATTEST_TCB_SW_HARDENING_NEEDED,
	ATTEST_TCB_CONFIGURATION_NEEDED,
	ATTEST_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED,
	ATTEST_TCB_OUT_OF_DATE,
	ATTEST_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED,
	ATTEST_TCB_REVOKED,
	ATTEST_TCB_NOT_SUPPORTED,
};
/* Intel's spelling ("UpToDate", ...); "TcbLevelNotSupported" for NOT_SUPPORTED. */
const char *attest_tcb_status_name(enum attest_tcb_status s);
/* Inverse of attest_tcb_status_name; -EINVAL for unknown names. */
int attest_tcb_status_parse(const char *name, enum attest_tcb_status *ret);

#define ATTEST_MAX_ADVISORIES 64
#define ATTEST_ADVISORY_LEN 32

/* Everything a relying party needs, by value (no pointers, no free). */
struct attest_result {
	enum attest_tcb_status status;        /* combined status */
	enum attest_tcb_status platform_status; /* TCB level (SGX + TDX components) */
	enum attest_tcb_status qe_status;     /* QE identity TCB level */
	enum attest_tcb_status module_status; /* TDX module identity level */
	size_t n_advisories;
	char advisory_ids[ATTEST_MAX_ADVISORIES][ATTEST_ADVISORY_LEN];
	int64_t tcb_date;                     /* tcbDate of the matched level, epoch s */
	uint32_t tcb_eval_data_number;
	int64_t collateral_expiry;            /* earliest nextUpdate/notAfter, epoch s */
	int64_t verified_at;                  /* the verification time used */
	/* the quote */
	uint16_t quote_version;
	uint16_t body_type;
	struct attest_td_report td;           /* all TD measurements, REPORTDATA, ... */
	bool debug;                           /* TDATTRIBUTES.DEBUG */
	/* from the PCK certificate */
	uint8_t fmspc[6];
	uint8_t pce_id[2];
	uint16_t pce_svn;
	uint8_t cpu_svn[16];
	uint8_t sgx_tcb_comp[16];
	uint16_t qe_isv_svn;
	uint8_t qe_mr_signer[32];
};

/* Trust anchors and options for attest_verify(). */
struct attest_verifier;

struct attest_verifier_opts {
	/* Root CA certificate, DER or PEM (NULL: the built-in Intel SGX Root CA).
	 * Pinning another root (e.g. the sim root) is an explicit operator act. */
	const void *root_cert;
	size_t root_cert_len;
};
/* opts may be NULL.  Errors: ATTEST_E_BAD_PEM, -ENOMEM. */
int attest_verifier_new(struct attest_verifier **ret, const struct attest_verifier_opts *opts);
/* Pin a root from a file (DER or PEM). */
int attest_verifier_new_root_file(struct attest_verifier **ret, const char *root_path);
void attest_verifier_free(struct attest_verifier *v);  /* NULL-safe */

/* Verify quote q with collateral c at time at (epoch seconds; pass
 * cc_wall_s() for now).  The quote-independent collateral checks against v's
 * root are cached in c (per root); parsed PCK chains (with their signature
 * checks) and attestation keys are cached in v.  Validity windows,
 * revocation and both quote signatures are checked on every call, so a
 * repeated call costs little more than two ECDSA verifications.
 * ret_result (may be NULL) is filled as far as verification got: it is fully
 * valid on 0, ATTEST_E_TCB_NOT_SUPPORTED and ATTEST_E_TCB_REVOKED.
 * Errors: every ATTEST_E_* of the certificate/collateral/quote groups. */
int attest_verify(const struct attest_verifier *v, const struct attest_quote *q,
		  struct attest_collateral *c, int64_t at, struct attest_result *ret_result);

/* ------------------------------------------------------------------------ */
/* Policy                                                                   */

/*
 * JSON document (every key optional; unknown keys are an error):
 * {
 *   "mrtd": ["hex48", ...],            allowed MRTD values
 *   "rtmr0".."rtmr3": "hex48",         expected RTMRs
 *   "mrconfigid", "mrowner", "mrownerconfig": "hex48",
 *   "xfam": "hex8", "tdattributes": "hex8",
 *   "allow_debug": false,              DEBUG TDs refused unless true (never in production)
 *   "min_tee_tcb_svn": "hex16",        each byte >= the given byte
 *   "accepted_tcb_status": ["UpToDate", ...]   default ["UpToDate"]
 *   "allowed_advisories": ["INTEL-SA-00837", ...]  default none
 *   "report_data": "hex64"
 * }
 */
struct attest_policy;

#define ATTEST_POLICY_MAX (256u * 1024u)
int attest_policy_load(const char *path, struct attest_policy **ret);
int attest_policy_parse(const void *json, size_t len, struct attest_policy **ret);
/* The default policy: UpToDate only, no debug, no advisories, nothing pinned. */
int attest_policy_new_default(struct attest_policy **ret);
/* Pin REPORTDATA (e.g. the hash binding a nonce and a TEE key) for the next
 * evaluations.  report_data is 64 bytes. */
void attest_policy_set_report_data(struct attest_policy *p, const uint8_t report_data[64]);
void attest_policy_free(struct attest_policy *p);  /* NULL-safe */

#define ATTEST_POLICY_MAX_FAILURES 32
struct attest_policy_verdict {
	bool accepted;
	size_t n_failed;
	/* rule names: "tcb_status", "advisories", "debug", "mrtd", "rtmr0".. */
	char failed[ATTEST_POLICY_MAX_FAILURES][24];
	/* one human-readable line per failed rule */
	char reason[ATTEST_POLICY_MAX_FAILURES][160];
};
/* Judge a verified result.  Returns 0 when accepted,
 * ATTEST_E_POLICY_REJECTED otherwise (verdict lists every failed rule). */
int attest_policy_eval(const struct attest_policy *p, const struct attest_result *r,
		       struct attest_policy_verdict *ret_verdict);

/* ------------------------------------------------------------------------ */
/* Evidence providers                                                       */

struct attest_provider;

enum attest_sim_flaw {
	ATTEST_SIM_NONE = 0,
	ATTEST_SIM_DEBUG_TD,         /* TDATTRIBUTES.DEBUG set */
	ATTEST_SIM_OTHER_MRTD,       /* MRTD differs from the configured one */
	ATTEST_SIM_REVOKED_PCK,      /* signed by a PCK listed in the sim PCK CRL */
	ATTEST_SIM_WRONG_QE,         /* QE report with another MRSIGNER */
	ATTEST_SIM_OUT_OF_DATE_TCB,  /* platform SVNs match only an OutOfDate level */
	ATTEST_SIM_BAD_SIGNATURE,    /* quote signature corrupted */
	ATTEST_SIM_OUT_OF_DATE_MODULE, /* TDX module 1.x whose identity level is OutOfDate */
};

struct attest_provider_opts {
	/* "tsm": configfs root (NULL: /sys/kernel/config/tsm/report). */
	const char *tsm_root;
	/* "sim": directory made by attest_sim_init() (required). */
	const char *sim_dir;
	enum attest_sim_flaw sim_flaw;
	/* sim measurements; NULL means the values stored at sim init */
	const uint8_t *sim_mrtd;               /* 48 bytes */
	const uint8_t *sim_rtmr[4];            /* each 48 bytes or NULL */
	const uint8_t *sim_td_attributes;      /* 8 bytes */
};

/* name: "tsm" or "sim".  Errors: ATTEST_E_UNSUPPORTED, -ENOENT, ATTEST_E_PROVIDER. */
int attest_provider_new(const char *name, const struct attest_provider_opts *opts,
			struct attest_provider **ret);
void attest_provider_free(struct attest_provider *p);  /* NULL-safe */
/* A quote over report_data (64 bytes).  *ret_quote is malloc'd (caller
 * frees), *ret_len its size. */
int attest_provider_get_quote(struct attest_provider *p, const uint8_t report_data[64],
			      uint8_t **ret_quote, size_t *ret_len);

/* Create a sim PKI and signed collateral in dir (created 0700 if absent; key
 * files 0600).  Files: root_ca.pem (pin this), root_ca.key, platform_ca.*,
 * pck.*, pck_revoked.*, tcb_signing.*, attestation.key, sim.json (sim
 * configuration and measurements), collateral/ (PCS layout, valid from now
 * for validity_days), collateral-expired/ (already expired).
 * Errors: -errno, -EEXIST when dir already holds a PKI. */
int attest_sim_init(const char *dir, unsigned validity_days);

/* ------------------------------------------------------------------------ */
/* Collateral fetch (PCS v4 / PCCS)                                         */

/* Fetch collateral for quote q from base_url (e.g.
 * "https://pccs.example:8081" — the "/tdx/certification/v4" and
 * "/sgx/certification/v4" paths are appended) into out_dir (PCS layout).
 * cache_dir (may be NULL) keeps earlier responses, reused until their
 * nextUpdate passes.  Errors: ATTEST_E_FETCH, -errno, collateral errors. */
int attest_collateral_fetch(const char *base_url, const struct attest_quote *q,
			    const char *out_dir, const char *cache_dir, int64_t now);

struct attest_fetch_opts {
	const char *base_url;   /* required */
	const char *out_dir;    /* required */
	const char *cache_dir;  /* NULL: no cache */
	const char *ca_file;    /* PEM CA bundle for https (NULL: system store),
				 * e.g. a PCCS's self-signed certificate */
	int64_t now;            /* judges cache freshness */
};
/* The same with options.  Errors as attest_collateral_fetch(). */
int attest_collateral_fetch_opts(const struct attest_fetch_opts *o, const struct attest_quote *q);

#ifdef __cplusplus
}
#endif

#endif /* CCSERVE_ATTEST_H */
