/* SPDX-License-Identifier: Apache-2.0 */
/* Private declarations shared by the kbs library's sources. */
#ifndef CCSERVE_KBS_INTERNAL_H
#define CCSERVE_KBS_INTERNAL_H

#include <ccserve/kbs.h>
#include <ccserve/util.h>
#include <openssl/evp.h>

#define KBS_LOG "kbs"

/* json.c: strict JSON reader and canonical writer. */
#define KJ_MAX_DEPTH 64
#define KJ_MAX_NODES 20000

enum kj_type { KJ_NULL, KJ_FALSE, KJ_TRUE, KJ_NUMBER, KJ_STRING, KJ_ARRAY, KJ_OBJECT };

struct kj {
	enum kj_type t;
	double num;          /* KJ_NUMBER */
	char *str;           /* KJ_STRING, NUL-terminated, no NUL inside */
	size_t len;
	size_t n;            /* KJ_ARRAY / KJ_OBJECT members */
	struct kj **items;
	char **keys;         /* KJ_OBJECT */
	size_t *klens;
};

/* Errors: KBS_E_BADREQ (any syntax or I-JSON violation), KBS_E_TOOBIG,
 * -ENOMEM. */
int kj_parse(const void *text, size_t len, struct kj **ret);
void kj_free(struct kj *v);
const struct kj *kj_get(const struct kj *obj, const char *key);
const char *kj_str(const struct kj *v);
int kj_canon(const struct kj *v, struct cc_buf *out);
int kj_write_string(struct cc_buf *out, const char *s, size_t n);
int kj_write_cstr(struct cc_buf *out, const char *s);
int kj_write_number(struct cc_buf *out, double d);
int kbs_report_data_from_json(const struct kj *runtime_data,
			      uint8_t ret[KBS_REPORT_DATA_LEN]);

/* jwe.c */
/* Parse and validate a P-256 public JWK object; *ret_alg points into jwk. */
int kbs_jwk_import_public(const struct kj *jwk, EVP_PKEY **ret,
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
