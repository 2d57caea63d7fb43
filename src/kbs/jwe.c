/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JWK (EC P-256) and JWE (RFC 7516 flattened JSON serialisation) with
 * alg ECDH-ES or ECDH-ES+A256KW (RFC 7518 §4.6, Concat KDF with SHA-256) and
 * enc A256GCM, on OpenSSL directly.  libcjose was considered: its ECDH-ES
 * derives keys with HKDF rather than the Concat KDF of RFC 7518, so its JWEs
 * do not interoperate with other JOSE implementations.
 */
#include "kbs-internal.h"

#include <errno.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>

#define P256_COORD 32
#define CEK_LEN 32
#define GCM_IV 12
#define GCM_TAG 16

struct kbs_tee_key {
	EVP_PKEY *pkey;
};

static const char ALG_ES[] = "ECDH-ES";
static const char ALG_ES_KW[] = "ECDH-ES+A256KW";

static int b64url(const void *p, size_t n, char **ret)
{
	return cc_base64_encode_alloc(p, n, CC_B64_URL_NOPAD, ret);
}

/* Decode a base64url member into out[exact]; returns KBS_E_JWE/JWK style err. */
static int b64url_exact(const struct kj *s, uint8_t *out, size_t exact, int err)
{
	if (!kj_str(s))
		return err;
	size_t n = 0;
	if (cc_base64_decode(s->str, s->len, CC_B64_URL_NOPAD, out, exact, &n) ||
	    n != exact)
		return err;
	return 0;
}

static EVP_PKEY *p256_from_point(const uint8_t point[65])
{
	EVP_PKEY *pk = NULL;
	OSSL_PARAM params[3];
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
						     (char *)"prime256v1", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
						      (void *)point, 65);
	params[2] = OSSL_PARAM_construct_end();
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (!ctx)
		return NULL;
	if (EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
		EVP_PKEY_CTX_free(ctx);
		return NULL;
	}
	EVP_PKEY_CTX_free(ctx);
	/* Reject points not on the curve (invalid-curve attacks). */
	EVP_PKEY_CTX *cctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
	int ok = cctx && EVP_PKEY_public_check(cctx) == 1;
	EVP_PKEY_CTX_free(cctx);
	if (!ok) {
		EVP_PKEY_free(pk);
		return NULL;
	}
	return pk;
}

/* Import {"kty":"EC","crv":"P-256","x","y"}; require_alg demands an alg we
 * support. */
static int jwk_import(const struct kj *jwk, bool require_alg, EVP_PKEY **ret,
		      const char **ret_alg, int err)
{
	if (!jwk || jwk->t != KJ_OBJECT)
		return err;
	const char *kty = kj_str(kj_get(jwk, "kty"));
	const char *crv = kj_str(kj_get(jwk, "crv"));
	if (!kty || strcmp(kty, "EC") != 0 || !crv || strcmp(crv, "P-256") != 0)
		return err;
	if (kj_get(jwk, "d"))
		return err; /* a private key has no business here */
	const char *alg = kj_str(kj_get(jwk, "alg"));
	if (require_alg) {
		if (!alg)
			return err;
		if (strcmp(alg, ALG_ES) == 0)
			alg = ALG_ES;
		else if (strcmp(alg, ALG_ES_KW) == 0)
			alg = ALG_ES_KW;
		else
			return err;
	}
	uint8_t point[65];
	point[0] = 4;
	if (b64url_exact(kj_get(jwk, "x"), point + 1, P256_COORD, err) ||
	    b64url_exact(kj_get(jwk, "y"), point + 1 + P256_COORD,
			 P256_COORD, err))
		return err;
	EVP_PKEY *pk = p256_from_point(point);
	if (!pk)
		return err;
	*ret = pk;
	if (ret_alg)
		*ret_alg = alg;
	return 0;
}

int kbs_jwk_import_public(const struct kj *jwk, EVP_PKEY **ret,
			  const char **ret_alg)
{
	if (!jwk || !ret)
		return -EINVAL;
	return jwk_import(jwk, true, ret, ret_alg, KBS_E_JWK);
}

static int point_of(EVP_PKEY *pk, uint8_t point[65])
{
	size_t n = 0;
	if (EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
					    point, 65, &n) != 1 ||
	    n != 65 || point[0] != 4)
		return KBS_E_JWK;
	return 0;
}

/* {"alg"?,"crv","kty","x","y"} (members in canonical order) to out. */
static int write_jwk(struct cc_buf *out, EVP_PKEY *pk, const char *alg)
{
	uint8_t point[65];
	if (point_of(pk, point))
		return KBS_E_JWK;
	char x[48], y[48];
	if (cc_base64_encode(point + 1, P256_COORD, CC_B64_URL_NOPAD, x, sizeof x) ||
	    cc_base64_encode(point + 1 + P256_COORD, P256_COORD, CC_B64_URL_NOPAD, y,
			     sizeof y))
		return KBS_E_JWK;
	int r = 0;
	if (alg)
		r = cc_buf_printf(out, "{\"alg\":\"%s\",", alg);
	else
		r = cc_buf_putc(out, '{');
	if (!r)
		r = cc_buf_printf(out, "\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
				  x, y);
	return r;
}

int kbs_tee_key_new(struct kbs_tee_key **ret)
{
	if (!ret)
		return -EINVAL;
	struct kbs_tee_key *k = calloc(1, sizeof *k);
	if (!k)
		return -ENOMEM;
	k->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!k->pkey) {
		free(k);
		return KBS_E_JWK;
	}
	*ret = k;
	return 0;
}

void kbs_tee_key_free(struct kbs_tee_key *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pkey);
	free(k);
}

int kbs_tee_key_public_jwk(const struct kbs_tee_key *k, const char *alg,
			   char **ret)
{
	if (!k || !ret)
		return -EINVAL;
	if (!alg)
		alg = ALG_ES_KW;
	if (strcmp(alg, ALG_ES) != 0 && strcmp(alg, ALG_ES_KW) != 0)
		return KBS_E_JWK;
	struct cc_buf b;
	cc_buf_init(&b, 4096, false);
	int r = write_jwk(&b, k->pkey, alg);
	if (r) {
		cc_buf_free(&b);
		return r;
	}
	*ret = (char *)cc_buf_steal(&b, NULL);
	return 0;
}

int kbs_concat_kdf_sha256(const uint8_t *z, size_t zlen, const char *alg_id,
			  const uint8_t *apu, size_t apu_len,
			  const uint8_t *apv, size_t apv_len,
			  uint8_t *out, size_t out_len)
{
	if (out_len > 64 || out_len == 0)
		return -EINVAL;
	size_t alen = strlen(alg_id);
	uint8_t be[4];
	uint8_t dig[32];
	size_t done = 0;
	int r = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (!md)
		return -ENOMEM;
	for (uint32_t counter = 1; done < out_len; counter++) {
#define PUT32(v) (be[0] = (uint8_t)((v) >> 24), be[1] = (uint8_t)((v) >> 16), \
		  be[2] = (uint8_t)((v) >> 8), be[3] = (uint8_t)(v), be)
		unsigned dl = 0;
		if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
		    EVP_DigestUpdate(md, PUT32(counter), 4) != 1 ||
		    EVP_DigestUpdate(md, z, zlen) != 1 ||
		    EVP_DigestUpdate(md, PUT32((uint32_t)alen), 4) != 1 ||
		    EVP_DigestUpdate(md, alg_id, alen) != 1 ||
		    EVP_DigestUpdate(md, PUT32((uint32_t)apu_len), 4) != 1 ||
		    (apu_len && EVP_DigestUpdate(md, apu, apu_len) != 1) ||
		    EVP_DigestUpdate(md, PUT32((uint32_t)apv_len), 4) != 1 ||
		    (apv_len && EVP_DigestUpdate(md, apv, apv_len) != 1) ||
		    EVP_DigestUpdate(md, PUT32((uint32_t)(out_len * 8)), 4) != 1 ||
		    EVP_DigestFinal_ex(md, dig, &dl) != 1) {
			r = KBS_E_JWE;
			break;
		}
#undef PUT32
		size_t take = out_len - done < 32 ? out_len - done : 32;
		memcpy(out + done, dig, take);
		done += take;
	}
	cc_wipe(dig, sizeof dig);
	EVP_MD_CTX_free(md);
	if (r)
		cc_wipe(out, out_len);
	return r;
}

static int ecdh(EVP_PKEY *priv, EVP_PKEY *peer, uint8_t z[32])
{
	size_t zl = 32;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL);
	int ok = ctx && EVP_PKEY_derive_init(ctx) == 1 &&
		 EVP_PKEY_derive_set_peer(ctx, peer) == 1 &&
		 EVP_PKEY_derive(ctx, z, &zl) == 1 && zl == 32;
	EVP_PKEY_CTX_free(ctx);
	if (!ok) {
		cc_wipe(z, 32);
		return KBS_E_JWE;
	}
	return 0;
}

static int aes_kw(bool enc, const uint8_t kek[32], const uint8_t *in,
		  size_t inlen, uint8_t *out, size_t *outlen)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	if (!c)
		return -ENOMEM;
	EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	int l1 = 0, l2 = 0, ok;
	if (enc)
		ok = EVP_EncryptInit_ex(c, EVP_aes_256_wrap(), NULL, kek, NULL) == 1 &&
		     EVP_EncryptUpdate(c, out, &l1, in, (int)inlen) == 1 &&
		     EVP_EncryptFinal_ex(c, out + l1, &l2) == 1;
	else
		ok = EVP_DecryptInit_ex(c, EVP_aes_256_wrap(), NULL, kek, NULL) == 1 &&
		     EVP_DecryptUpdate(c, out, &l1, in, (int)inlen) == 1 &&
		     EVP_DecryptFinal_ex(c, out + l1, &l2) == 1;
	EVP_CIPHER_CTX_free(c);
	if (!ok)
		return KBS_E_JWE;
	*outlen = (size_t)(l1 + l2);
	return 0;
}

static int gcm(bool enc, const uint8_t key[32], const uint8_t iv[GCM_IV],
	       const void *aad, size_t aadlen, const uint8_t *in, size_t len,
	       uint8_t *out, uint8_t tag[GCM_TAG])
{
	if (len > INT32_MAX || aadlen > INT32_MAX)
		return KBS_E_TOOBIG;
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	if (!c)
		return -ENOMEM;
	int l = 0, ok;
	if (enc) {
		ok = EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
		     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, GCM_IV, NULL) == 1 &&
		     EVP_EncryptInit_ex(c, NULL, NULL, key, iv) == 1 &&
		     EVP_EncryptUpdate(c, NULL, &l, aad, (int)aadlen) == 1 &&
		     (len == 0 || EVP_EncryptUpdate(c, out, &l, in, (int)len) == 1) &&
		     EVP_EncryptFinal_ex(c, out + (len ? l : 0), &l) == 1 &&
		     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, GCM_TAG, tag) == 1;
	} else {
		ok = EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
		     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, GCM_IV, NULL) == 1 &&
		     EVP_DecryptInit_ex(c, NULL, NULL, key, iv) == 1 &&
		     EVP_DecryptUpdate(c, NULL, &l, aad, (int)aadlen) == 1 &&
		     (len == 0 || EVP_DecryptUpdate(c, out, &l, in, (int)len) == 1) &&
		     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, GCM_TAG, tag) == 1 &&
		     EVP_DecryptFinal_ex(c, out + (len ? l : 0), &l) == 1;
	}
	EVP_CIPHER_CTX_free(c);
	if (!ok) {
		if (len)
			cc_wipe(out, len);
		return enc ? KBS_E_JWE : KBS_E_JWE;
	}
	return 0;
}

/* Key material laid out in one secure block. */
struct jwe_keys {
	uint8_t z[32];
	uint8_t kek[32];
	uint8_t cek[CEK_LEN];
};

int kbs_jwe_encrypt_to(EVP_PKEY *peer, const char *alg, const void *pt,
		       size_t len, char **ret, size_t *ret_len)
{
	bool kw;
	if (!peer || !alg || (!pt && len) || !ret || !ret_len)
		return -EINVAL;
	if (strcmp(alg, ALG_ES_KW) == 0)
		kw = true;
	else if (strcmp(alg, ALG_ES) == 0)
		kw = false;
	else
		return KBS_E_JWK;
	if (len > KBS_SECRET_MAX)
		return KBS_E_TOOBIG;

	int r = KBS_E_JWE;
	EVP_PKEY *eph = NULL;
	struct cc_buf hdr, out;
	cc_buf_init(&hdr, 4096, false);
	cc_buf_init(&out, (size_t)KBS_SECRET_MAX * 2, false);
	char *prot = NULL, *ek_s = NULL, *iv_s = NULL, *ct_s = NULL, *tag_s = NULL;
	uint8_t *ct = NULL;
	uint8_t iv[GCM_IV], tag[GCM_TAG], ek[CEK_LEN + 8];
	size_t ek_len = 0;
	struct jwe_keys *k = cc_secure_alloc(sizeof *k);
	if (!k)
		return -ENOMEM;

	eph = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (!eph || ecdh(eph, peer, k->z))
		goto out;
	if (kw) {
		if (kbs_concat_kdf_sha256(k->z, 32, ALG_ES_KW, NULL, 0, NULL, 0,
					  k->kek, 32) ||
		    RAND_bytes(k->cek, CEK_LEN) != 1 ||
		    aes_kw(true, k->kek, k->cek, CEK_LEN, ek, &ek_len))
			goto out;
	} else if (kbs_concat_kdf_sha256(k->z, 32, "A256GCM", NULL, 0, NULL, 0,
					 k->cek, CEK_LEN)) {
		goto out;
	}
	if (cc_buf_printf(&hdr, "{\"alg\":\"%s\",\"enc\":\"A256GCM\",\"epk\":", alg) ||
	    write_jwk(&hdr, eph, NULL) || cc_buf_putc(&hdr, '}') ||
	    b64url(hdr.data, hdr.len, &prot)) {
		r = -ENOMEM;
		goto out;
	}
	if (RAND_bytes(iv, GCM_IV) != 1)
		goto out;
	ct = malloc(len ? len : 1);
	if (!ct) {
		r = -ENOMEM;
		goto out;
	}
	r = gcm(true, k->cek, iv, prot, strlen(prot), pt, len, ct, tag);
	if (r)
		goto out;
	r = -ENOMEM;
	if (b64url(iv, GCM_IV, &iv_s) || b64url(ct, len, &ct_s) ||
	    b64url(tag, GCM_TAG, &tag_s) || (kw && b64url(ek, ek_len, &ek_s)))
		goto out;
	/* Flattened JSON serialisation; encrypted_key absent when empty. */
	if (cc_buf_printf(&out, "{\"protected\":\"%s\",", prot) ||
	    (kw && cc_buf_printf(&out, "\"encrypted_key\":\"%s\",", ek_s)) ||
	    cc_buf_printf(&out, "\"iv\":\"%s\",\"ciphertext\":\"", iv_s) ||
	    cc_buf_puts(&out, ct_s) ||
	    cc_buf_printf(&out, "\",\"tag\":\"%s\"}", tag_s))
		goto out;
	*ret = (char *)cc_buf_steal(&out, ret_len);
	r = 0;
out:
	cc_secure_free(k);
	EVP_PKEY_free(eph);
	cc_buf_free(&hdr);
	cc_buf_free(&out);
	free(prot);
	free(ek_s);
	free(iv_s);
	free(ct_s);
	free(tag_s);
	free(ct);
	return r;
}

int kbs_jwe_encrypt(const char *jwk, size_t jwk_len, const void *plaintext,
		    size_t len, char **ret, size_t *ret_len)
{
	if (!jwk || !ret || !ret_len)
		return -EINVAL;
	struct kj *j = NULL;
	if (kj_parse(jwk, jwk_len, &j))
		return KBS_E_JWK;
	EVP_PKEY *pk = NULL;
	const char *alg = NULL;
	int r = kbs_jwk_import_public(j, &pk, &alg);
	if (!r)
		r = kbs_jwe_encrypt_to(pk, alg, plaintext, len, ret, ret_len);
	EVP_PKEY_free(pk);
	kj_free(j);
	return r;
}

/* Decode a base64url string member into a malloc'ed buffer of at most max. */
static int member_bytes(const struct kj *o, const char *name, size_t max,
			uint8_t **ret, size_t *ret_len)
{
	const struct kj *s = kj_get(o, name);
	if (!kj_str(s) || s->len > (max / 3 + 1) * 4)
		return KBS_E_JWE;
	if (cc_base64_decode_alloc(s->str, s->len, CC_B64_URL_NOPAD, ret, ret_len))
		return KBS_E_JWE;
	return 0;
}

int kbs_jwe_decrypt(const struct kbs_tee_key *key, const char *jwe, size_t len,
		    uint8_t **ret, size_t *ret_len)
{
	if (!key || !jwe || !ret || !ret_len)
		return -EINVAL;
	if (len > KBS_BODY_MAX)
		return KBS_E_JWE;
	int r = KBS_E_JWE;
	struct kj *o = NULL, *hdr = NULL;
	uint8_t *hdr_raw = NULL, *ek = NULL, *iv = NULL, *ct = NULL, *tag = NULL;
	uint8_t *pt = NULL;
	size_t hdr_len = 0, ek_len = 0, iv_len = 0, ct_len = 0, tag_len = 0;
	EVP_PKEY *epk = NULL;
	struct cc_buf aad;
	cc_buf_init(&aad, KBS_BODY_MAX, false);
	struct jwe_keys *k = cc_secure_alloc(sizeof *k);
	if (!k)
		return -ENOMEM;

	if (kj_parse(jwe, len, &o) || o->t != KJ_OBJECT)
		goto out;
	const struct kj *prot = kj_get(o, "protected");
	if (!kj_str(prot) || kj_get(o, "unprotected") || kj_get(o, "header"))
		goto out;
	if (member_bytes(o, "protected", 4096, &hdr_raw, &hdr_len))
		goto out;
	if (kj_parse(hdr_raw, hdr_len, &hdr) || hdr->t != KJ_OBJECT ||
	    kj_get(hdr, "zip") || kj_get(hdr, "crit"))
		goto out;
	const char *alg = kj_str(kj_get(hdr, "alg"));
	const char *enc = kj_str(kj_get(hdr, "enc"));
	if (!alg || !enc || strcmp(enc, "A256GCM") != 0)
		goto out;
	bool kw;
	if (strcmp(alg, ALG_ES_KW) == 0)
		kw = true;
	else if (strcmp(alg, ALG_ES) == 0)
		kw = false;
	else
		goto out;
	if (jwk_import(kj_get(hdr, "epk"), false, &epk, NULL, KBS_E_JWE))
		goto out;
	if (member_bytes(o, "iv", 64, &iv, &iv_len) || iv_len != GCM_IV ||
	    member_bytes(o, "tag", 64, &tag, &tag_len) || tag_len != GCM_TAG ||
	    member_bytes(o, "ciphertext", KBS_SECRET_MAX, &ct, &ct_len))
		goto out;
	if (kw) {
		if (member_bytes(o, "encrypted_key", 64, &ek, &ek_len) ||
		    ek_len != CEK_LEN + 8)
			goto out;
	} else if (kj_get(o, "encrypted_key")) {
		const struct kj *e = kj_get(o, "encrypted_key");
		if (!kj_str(e) || e->len != 0)
			goto out;
	}
	if (ecdh(key->pkey, epk, k->z))
		goto out;
	if (kw) {
		size_t cl = 0;
		if (kbs_concat_kdf_sha256(k->z, 32, ALG_ES_KW, NULL, 0, NULL, 0,
					  k->kek, 32) ||
		    aes_kw(false, k->kek, ek, ek_len, k->cek, &cl) || cl != CEK_LEN)
			goto out;
	} else if (kbs_concat_kdf_sha256(k->z, 32, "A256GCM", NULL, 0, NULL, 0,
					 k->cek, CEK_LEN)) {
		goto out;
	}
	/* AAD = ASCII(protected) [ '.' ASCII(aad) ] (RFC 7516 §5.2 step 14). */
	if (cc_buf_append(&aad, prot->str, prot->len))
		goto out;
	const struct kj *extra = kj_get(o, "aad");
	if (extra) {
		if (!kj_str(extra) || cc_buf_putc(&aad, '.') ||
		    cc_buf_append(&aad, extra->str, extra->len))
			goto out;
	}
	pt = cc_secure_alloc(ct_len + 1);
	if (!pt) {
		r = -ENOMEM;
		goto out;
	}
	if (gcm(false, k->cek, iv, aad.data, aad.len, ct, ct_len, pt, tag))
		goto out;
	*ret = CC_TAKE_PTR(pt);
	*ret_len = ct_len;
	r = 0;
out:
	cc_secure_free(pt);
	cc_secure_free(k);
	EVP_PKEY_free(epk);
	kj_free(o);
	kj_free(hdr);
	free(hdr_raw);
	free(ek);
	free(iv);
	free(ct);
	free(tag);
	cc_buf_free(&aad);
	return r;
}
