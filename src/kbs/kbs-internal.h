/* SPDX-License-Identifier: Apache-2.0 */
/* Private declarations shared by the kbs library's sources. */
#ifndef CCSERVE_KBS_INTERNAL_H
#define CCSERVE_KBS_INTERNAL_H

#include <ccserve/kbs.h>
#include <ccserve/util.h>
#include <jansson.h>
#include <openssl/evp.h>

#define KBS_LOG "kbs"
#define KBS_JCS_MAX_DEPTH 64

/* jcs.c */
int kbs_jcs_value(const json_t *v, struct cc_buf *out);
json_t *kbs_json_parse(const void *text, size_t len, int *ret_err);
int kbs_report_data_from_json(const json_t *runtime_data,
			      uint8_t ret[KBS_REPORT_DATA_LEN]);

/* jwe.c */
/* Parse and validate a P-256 public JWK object; *ret_alg points into jwk. */
int kbs_jwk_import_public(const json_t *jwk, EVP_PKEY **ret,
			  const char **ret_alg);
int kbs_jwe_encrypt_to(EVP_PKEY *peer, const char *alg, const void *pt,
		       size_t len, char **ret, size_t *ret_len);
int kbs_concat_kdf_sha256(const uint8_t *z, size_t zlen, const char *alg_id,
			  const uint8_t *apu, size_t apu_len,
			  const uint8_t *apv, size_t apv_len,
			  uint8_t *out, size_t out_len);

/* problem.c */
const char *kbs_rule_name(int err);

#endif
