/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store above its backend: master key handling and sealing.
 *
 * Keys: the master key (32 bytes from the key file, in secure memory) is
 * never used directly.  HKDF-SHA256 with the store's random id as salt
 * derives a sealing key and a check key.  meta.key_check holds
 * HMAC-SHA256(check key, "ccserve-kbs key check") so a wrong key file is
 * refused at open with a clear error instead of failing each unseal.
 *
 * Sealed row: 0x01 || nonce(12) || AES-256-GCM(value) || tag(16), with
 * AAD = "ccserve-kbs/secret/v1" NUL name, so a row copied under another
 * name (or a tampered one) fails authentication.
 */
#include "kbs-internal.h"
#include "store-backend.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/core_names.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#define MASTER_LEN 32
#define SEAL_VERSION 1
#define SEAL_NONCE 12
#define SEAL_TAG 16
#define SEAL_OVERHEAD (1 + SEAL_NONCE + SEAL_TAG)
static const char SEAL_AAD_PREFIX[] = "ccserve-kbs/secret/v1";

struct store_keys {
	uint8_t seal[32];
	uint8_t check[32];
};

struct kbs_store {
	struct kbs_backend *be;
	struct store_keys *keys;  /* secure memory; NULL when audit_only */
};

bool kbs_name_valid(const char *name)
{
	if (!name)
		return false;
	size_t total = strlen(name);
	if (total == 0 || total > KBS_NAME_MAX)
		return false;
	int parts = 0;
	const char *p = name;
	for (;;) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n == 0 || n > KBS_NAME_PART_MAX)
			return false;
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		for (size_t i = 0; i < n; i++) {
			char c = p[i];
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
				return false;
		}
		parts++;
		if (!e)
			break;
		p = e + 1;
	}
	return parts == 3;
}

int kbs_master_key_generate(const char *path)
{
	if (!path)
		return -EINVAL;
	uint8_t *k = cc_secure_alloc(MASTER_LEN);
	if (!k)
		return -ENOMEM;
	int r = RAND_bytes(k, MASTER_LEN) == 1 ? 0 : -EIO;
	if (!r)
		r = cc_file_write_new(path, k, MASTER_LEN, 0600);
	cc_secure_free(k);
	return r;
}

/* Read the key file: 32 raw bytes or 64 hex digits (+ optional newline). */
static int read_master(const char *path, uint8_t **ret)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return -errno;
	if (!S_ISREG(st.st_mode)) {
		cc_log(CC_LOG_ERROR, KBS_LOG, "master key file is not a regular file");
		return KBS_E_MASTER_KEY;
	}
	if (st.st_mode & 077) {
		cc_log(CC_LOG_ERROR, KBS_LOG,
		       "master key file is readable by group or others (mode %03o); "
		       "chmod 600 it", (unsigned)(st.st_mode & 0777));
		return KBS_E_MASTER_KEY;
	}
	uint8_t *raw = NULL;
	size_t n = 0;
	int r = cc_file_read(path, 256, true, &raw, &n);
	if (r)
		return r == CC_E_TOOBIG ? KBS_E_MASTER_KEY : r;
	uint8_t *key = cc_secure_alloc(MASTER_LEN);
	if (!key) {
		cc_secure_free(raw);
		return -ENOMEM;
	}
	size_t kl = 0;
	if (n == MASTER_LEN) {
		memcpy(key, raw, MASTER_LEN);
		r = 0;
	} else {
		size_t hl = n;
		if (hl && raw[hl - 1] == '\n')
			hl--;
		r = hl == 2 * MASTER_LEN &&
				    cc_hex_decode((const char *)raw, hl, key, MASTER_LEN, &kl) == 0 &&
				    kl == MASTER_LEN
			    ? 0
			    : KBS_E_MASTER_KEY;
	}
	cc_secure_free(raw);
	if (r) {
		cc_log(CC_LOG_ERROR, KBS_LOG,
		       "master key file must hold 32 bytes or 64 hex digits");
		cc_secure_free(key);
		return r;
	}
	*ret = key;
	return 0;
}

static int hkdf(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt,
		size_t salt_len, const char *info, uint8_t *out, size_t out_len)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	EVP_KDF_free(kdf);
	if (!ctx)
		return -ENOMEM;
	OSSL_PARAM p[5];
	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len);
	p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len);
	p[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, strlen(info));
	p[4] = OSSL_PARAM_construct_end();
	int ok = EVP_KDF_derive(ctx, out, out_len, p) == 1;
	EVP_KDF_CTX_free(ctx);
	return ok ? 0 : KBS_E_STORE;
}

static int key_check_hex(const struct store_keys *k, char out[65])
{
	uint8_t mac[32];
	unsigned ml = 0;
	static const char label[] = "ccserve-kbs key check";
	if (!HMAC(EVP_sha256(), k->check, sizeof k->check, (const uint8_t *)label,
		  sizeof label - 1, mac, &ml) || ml != 32)
		return KBS_E_STORE;
	return cc_hex_encode(mac, 32, out, 65);
}

/* Derive keys from master for this store; create the store's id and key
 * check on first use. */
static int setup_keys(struct kbs_store *s, const uint8_t *master)
{
	char *id_hex = NULL;
	uint8_t id[16];
	size_t idl = 0;
	bool fresh = false;
	int r = s->be->ops->meta_get(s->be, "store_id", &id_hex);
	if (r == -ENOENT) {
		if (RAND_bytes(id, sizeof id) != 1)
			return -EIO;
		fresh = true;
		r = 0;
	} else if (r) {
		return r;
	} else {
		r = cc_hex_decode(id_hex, strlen(id_hex), id, sizeof id, &idl);
		free(id_hex);
		if (r || idl != sizeof id)
			return KBS_E_SCHEMA;
	}
	s->keys = cc_secure_alloc(sizeof *s->keys);
	if (!s->keys)
		return -ENOMEM;
	if ((r = hkdf(master, MASTER_LEN, id, sizeof id, "ccserve-kbs seal v1",
		      s->keys->seal, 32)) ||
	    (r = hkdf(master, MASTER_LEN, id, sizeof id, "ccserve-kbs check v1",
		      s->keys->check, 32)))
		return r;
	char check[65];
	if ((r = key_check_hex(s->keys, check)))
		return r;
	if (fresh) {
		char idh[33];
		cc_hex_encode(id, sizeof id, idh, sizeof idh);
		/* key_check first: a store with an id has a check. */
		if ((r = s->be->ops->meta_set(s->be, "key_check", check)) ||
		    (r = s->be->ops->meta_set(s->be, "store_id", idh)))
			return r;
		return 0;
	}
	char *stored = NULL;
	r = s->be->ops->meta_get(s->be, "key_check", &stored);
	if (r)
		return r == -ENOENT ? KBS_E_SCHEMA : r;
	bool ok = strlen(stored) == 64 && cc_ct_equal(stored, check, 64);
	free(stored);
	if (!ok) {
		cc_log(CC_LOG_ERROR, KBS_LOG,
		       "the master key does not open this store (wrong key file?)");
		return KBS_E_MASTER_KEY;
	}
	return 0;
}

int kbs_store_open(struct kbs_store **ret, const struct kbs_store_opts *o)
{
	if (!ret || !o || !o->path || (!o->audit_only && !o->master_key_path))
		return -EINVAL;
	uint8_t *master = NULL;
	int r;
	if (!o->audit_only && (r = read_master(o->master_key_path, &master)))
		return r;
	struct kbs_store *s = calloc(1, sizeof *s);
	if (!s) {
		cc_secure_free(master);
		return -ENOMEM;
	}
	r = kbs_backend_sqlite_open(o->path, o->create, &s->be);
	if (!r && master)
		r = setup_keys(s, master);
	cc_secure_free(master);
	if (r) {
		kbs_store_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

void kbs_store_free(struct kbs_store *s)
{
	if (!s)
		return;
	if (s->be)
		s->be->ops->close(s->be);
	cc_secure_free(s->keys);
	free(s);
}

static int seal_aad(const char *name, struct cc_buf *aad)
{
	int r = cc_buf_append(aad, SEAL_AAD_PREFIX, sizeof SEAL_AAD_PREFIX);
	return r ? r : cc_buf_puts(aad, name);
}

static int gcm_seal(const uint8_t key[32], bool enc, const uint8_t *nonce,
		    const struct cc_buf *aad, const uint8_t *in, size_t len,
		    uint8_t *out, uint8_t *tag)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	if (!c)
		return -ENOMEM;
	int l = 0, ok;
	if (enc)
		ok = EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce) == 1 &&
		     EVP_EncryptUpdate(c, NULL, &l, aad->data, (int)aad->len) == 1 &&
		     EVP_EncryptUpdate(c, out, &l, in, (int)len) == 1 &&
		     EVP_EncryptFinal_ex(c, out + l, &l) == 1 &&
		     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, SEAL_TAG, tag) == 1;
	else
		ok = EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, nonce) == 1 &&
		     EVP_DecryptUpdate(c, NULL, &l, aad->data, (int)aad->len) == 1 &&
		     EVP_DecryptUpdate(c, out, &l, in, (int)len) == 1 &&
		     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, SEAL_TAG, tag) == 1 &&
		     EVP_DecryptFinal_ex(c, out + l, &l) == 1;
	EVP_CIPHER_CTX_free(c);
	if (!ok) {
		cc_wipe(out, len);
		return enc ? KBS_E_STORE : KBS_E_CORRUPT;
	}
	return 0;
}

int kbs_store_secret_put(struct kbs_store *s, const char *name,
			 const void *value, size_t len)
{
	if (!s || !value)
		return -EINVAL;
	if (!kbs_name_valid(name))
		return KBS_E_BADNAME;
	if (len == 0 || len > KBS_SECRET_MAX)
		return KBS_E_TOOBIG;
	if (!s->keys)
		return KBS_E_MASTER_KEY;
	size_t n = len + SEAL_OVERHEAD;
	uint8_t *row = malloc(n);
	if (!row)
		return -ENOMEM;
	struct cc_buf aad;
	cc_buf_init(&aad, 1024, false);
	row[0] = SEAL_VERSION;
	int r = RAND_bytes(row + 1, SEAL_NONCE) == 1 ? 0 : -EIO;
	if (!r)
		r = seal_aad(name, &aad);
	if (!r)
		r = gcm_seal(s->keys->seal, true, row + 1, &aad, value, len,
			     row + 1 + SEAL_NONCE, row + 1 + SEAL_NONCE + len);
	if (!r)
		r = s->be->ops->secret_put(s->be, name, row, n, len, cc_wall_s());
	cc_buf_free(&aad);
	free(row);
	return r;
}

int kbs_store_secret_get(struct kbs_store *s, const char *name, uint8_t **ret,
			 size_t *ret_len)
{
	if (!s || !ret || !ret_len)
		return -EINVAL;
	if (!kbs_name_valid(name))
		return KBS_E_BADNAME;
	if (!s->keys)
		return KBS_E_MASTER_KEY;
	uint8_t *row = NULL;
	size_t n = 0;
	int r = s->be->ops->secret_get(s->be, name, &row, &n);
	if (r)
		return r;
	if (n <= SEAL_OVERHEAD || n - SEAL_OVERHEAD > KBS_SECRET_MAX ||
	    row[0] != SEAL_VERSION) {
		free(row);
		cc_log(CC_LOG_ERROR, KBS_LOG, "store: sealed row of \"%s\" is malformed", name);
		return KBS_E_CORRUPT;
	}
	size_t len = n - SEAL_OVERHEAD;
	uint8_t *pt = cc_secure_alloc(len + 1);
	struct cc_buf aad;
	cc_buf_init(&aad, 1024, false);
	r = pt ? seal_aad(name, &aad) : -ENOMEM;
	if (!r)
		r = gcm_seal(s->keys->seal, false, row + 1, &aad, row + 1 + SEAL_NONCE,
			     len, pt, row + 1 + SEAL_NONCE + len);
	cc_buf_free(&aad);
	free(row);
	if (r) {
		cc_secure_free(pt);
		if (r == KBS_E_CORRUPT)
			cc_log(CC_LOG_ERROR, KBS_LOG,
			       "store: sealed value of \"%s\" fails authentication", name);
		return r;
	}
	*ret = pt;
	*ret_len = len;
	return 0;
}

int kbs_store_secret_rm(struct kbs_store *s, const char *name)
{
	if (!s)
		return -EINVAL;
	if (!kbs_name_valid(name))
		return KBS_E_BADNAME;
	return s->be->ops->secret_rm(s->be, name);
}

struct list_ctx {
	kbs_secret_list_fn fn;
	void *ud;
};

static int list_cb(void *ud, const char *name, size_t size, int64_t updated,
		   bool has_policy)
{
	struct list_ctx *c = ud;
	struct kbs_secret_info i = {name, size, updated, has_policy};
	return c->fn(c->ud, &i);
}

int kbs_store_secret_list(struct kbs_store *s, kbs_secret_list_fn fn, void *ud)
{
	if (!s || !fn)
		return -EINVAL;
	struct list_ctx c = {fn, ud};
	return s->be->ops->secret_list(s->be, list_cb, &c);
}

int kbs_store_policy_set(struct kbs_store *s, const char *name,
			 const char *json, size_t len)
{
	if (!s || !json)
		return -EINVAL;
	if (!kbs_name_valid(name))
		return KBS_E_BADNAME;
	if (len > KBS_POLICY_MAX)
		return KBS_E_TOOBIG;
	struct kj *v = NULL;
	if (kj_parse(json, len, &v) || v->t != KJ_OBJECT) {
		kj_free(v);
		return KBS_E_POLICY;
	}
	/* Store the canonical (RFC 8785) form. */
	struct cc_buf b;
	cc_buf_init(&b, (size_t)KBS_POLICY_MAX * 2, false);
	int r = kj_canon(v, &b);
	kj_free(v);
	if (!r)
		r = s->be->ops->policy_put(s->be, name, (const char *)b.data, cc_wall_s());
	cc_buf_free(&b);
	return r;
}

int kbs_store_policy_get(struct kbs_store *s, const char *name, char **ret,
			 size_t *ret_len)
{
	if (!s || !ret)
		return -EINVAL;
	if (!kbs_name_valid(name))
		return KBS_E_BADNAME;
	char *p = NULL;
	int r = s->be->ops->policy_get(s->be, name, &p);
	if (r)
		return r;
	if (ret_len)
		*ret_len = strlen(p);
	*ret = p;
	return 0;
}

int kbs_store_policy_rm(struct kbs_store *s, const char *name)
{
	if (!s)
		return -EINVAL;
	if (!kbs_name_valid(name))
		return KBS_E_BADNAME;
	return s->be->ops->policy_rm(s->be, name);
}

int kbs_store_policy_list(struct kbs_store *s, kbs_policy_list_fn fn, void *ud)
{
	if (!s || !fn)
		return -EINVAL;
	return s->be->ops->policy_list(s->be, fn, ud);
}

int kbs_store_audit_append(struct kbs_store *s,
			   const struct kbs_audit_record *rec)
{
	if (!s || !rec || !rec->event || !rec->decision || !rec->reason)
		return -EINVAL;
	return s->be->ops->audit_append(s->be, rec);
}

int kbs_store_audit_query(struct kbs_store *s, const struct kbs_audit_filter *f,
			  kbs_audit_fn fn, void *ud)
{
	if (!s || !fn)
		return -EINVAL;
	struct kbs_audit_filter d = {0};
	if (f)
		d = *f;
	if (d.limit == 0)
		d.limit = 1000;
	return s->be->ops->audit_query(s->be, &d, fn, ud);
}

int kbs_audit_format_json(const struct kbs_audit_record *rec, char **ret)
{
	if (!rec || !ret)
		return -EINVAL;
	char ts[32] = "";
	int64_t sec = rec->time_ms / 1000;
	if (cc_time_format(sec, ts, sizeof ts) == 0 && strlen(ts) == 20) {
		char t2[32];
		snprintf(t2, sizeof t2, "%.19s.%03dZ", ts, (int)(rec->time_ms % 1000));
		memcpy(ts, t2, sizeof t2);
	}
	const char *names[] = {"peer", "event", "resource", "measurement",
			       "decision", "reason", "detail"};
	const char *vals[] = {rec->peer, rec->event, rec->resource, rec->measurement,
			      rec->decision, rec->reason, rec->detail};
	struct cc_buf b;
	cc_buf_init(&b, 16384, false);
	int r = cc_buf_puts(&b, "{\"time\":");
	if (!r)
		r = kj_write_cstr(&b, ts);
	for (size_t i = 0; !r && i < CC_ARRAY_SIZE(names); i++) {
		if (!vals[i])
			continue;
		r = cc_buf_printf(&b, ",\"%s\":", names[i]);
		if (!r)
			r = kj_write_cstr(&b, vals[i]);
	}
	if (!r)
		r = cc_buf_puts(&b, "}\n");
	if (r) {
		cc_buf_free(&b);
		return r;
	}
	*ret = (char *)cc_buf_steal(&b, NULL);
	return 0;
}
