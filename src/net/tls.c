/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS contexts: TLS 1.2+ (1.3 preferred, AEAD + forward-secret suites only
 * for 1.2), certificates and keys from memory, ALPN, client certificate
 * verification, host name checks and a pluggable verify callback.
 */
#include <errno.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "internal.h"

#define TLS12_CIPHERS                                                          \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"           \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"           \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

/* Per-context state reachable from OpenSSL callbacks. */
struct tls_ctx_data {
	net_tls_verify_fn verify;
	void *verify_ud;
	bool has_pin;
	uint8_t pin[32];
	bool server;
	bool alpn_h2, alpn_h1;
};

static int ctx_data_idx = -1;
static pthread_once_t idx_once = PTHREAD_ONCE_INIT;

static void ctx_data_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
			  long argl, void *argp)
{
	free(ptr);
}

static void init_idx(void)
{
	ctx_data_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, ctx_data_free);
}

void tls_log_errors(const char *what)
{
	unsigned long e;
	char buf[256];
	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		cc_log(CC_LOG_DEBUG, NET_LOG, "%s: %s", what, buf);
	}
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	struct tls_ctx_data *d = arg;
	/* Prefer h2, then http/1.1, in the server's order. */
	static const struct {
		const char *name;
		unsigned char len;
	} prefs[] = {{"h2", 2}, {"http/1.1", 8}};
	for (size_t p = 0; p < CC_ARRAY_SIZE(prefs); p++) {
		if (p == 0 && !d->alpn_h2)
			continue;
		if (p == 1 && !d->alpn_h1)
			continue;
		for (unsigned i = 0; i < inlen;) {
			unsigned l = in[i];
			if (i + 1 + l > inlen)
				break;
			if (l == prefs[p].len && memcmp(in + i + 1, prefs[p].name, l) == 0) {
				*out = in + i + 1;
				*outlen = (unsigned char)l;
				return SSL_TLSEXT_ERR_OK;
			}
			i += 1 + l;
		}
	}
	/* Nothing we speak: continue without ALPN (served as HTTP/1.1). */
	return SSL_TLSEXT_ERR_NOACK;
}

static int spki_matches(X509 *leaf, const uint8_t pin[32])
{
	X509_PUBKEY *pk = X509_get_X509_PUBKEY(leaf);
	unsigned char *der = NULL;
	int len = i2d_X509_PUBKEY(pk, &der);
	if (len <= 0)
		return 0;
	uint8_t md[32];
	unsigned mdlen = 0;
	int ok = EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL) == 1 &&
		 mdlen == 32 && cc_ct_equal(md, pin, 32);
	OPENSSL_free(der);
	return ok;
}

static int cert_verify_cb(X509_STORE_CTX *sctx, void *arg)
{
	struct tls_ctx_data *d = arg;
	int chain_ok = X509_verify_cert(sctx) == 1;
	X509 *leaf = X509_STORE_CTX_get0_cert(sctx);
	if (!chain_ok) {
		int e = X509_STORE_CTX_get_error(sctx);
		cc_log(CC_LOG_DEBUG, NET_LOG, "peer certificate chain rejected: %s",
		       X509_verify_cert_error_string(e));
	}
	if (chain_ok && d->has_pin && (!leaf || !spki_matches(leaf, d->pin))) {
		cc_log(CC_LOG_WARN, NET_LOG, "peer public key does not match the pinned SPKI hash");
		X509_STORE_CTX_set_error(sctx, X509_V_ERR_APPLICATION_VERIFICATION);
		chain_ok = 0;
		if (!d->verify)
			return 0;
	}
	if (!d->verify)
		return chain_ok;
	unsigned char *der = NULL;
	int len = leaf ? i2d_X509(leaf, &der) : -1;
	if (len <= 0) {
		X509_STORE_CTX_set_error(sctx, X509_V_ERR_APPLICATION_VERIFICATION);
		return 0;
	}
	int r = d->verify(d->verify_ud, chain_ok, der, (size_t)len);
	OPENSSL_free(der);
	if (r < 0) {
		X509_STORE_CTX_set_error(sctx, X509_V_ERR_APPLICATION_VERIFICATION);
		return 0;
	}
	X509_STORE_CTX_set_error(sctx, X509_V_OK);
	return 1;
}

static int load_chain(SSL_CTX *ctx, const char *pem, size_t len)
{
	if (len > INT32_MAX)
		return NET_E_CONFIG;
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	if (!b)
		return -ENOMEM;
	int r = NET_E_TLS;
	X509 *leaf = PEM_read_bio_X509(b, NULL, NULL, NULL);
	if (!leaf) {
		cc_log(CC_LOG_ERROR, NET_LOG, "certificate PEM: no certificate could be read");
		goto out;
	}
	if (SSL_CTX_use_certificate(ctx, leaf) != 1) {
		cc_log(CC_LOG_ERROR, NET_LOG, "certificate PEM: certificate not usable");
		X509_free(leaf);
		goto out;
	}
	X509_free(leaf);
	X509 *extra;
	while ((extra = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		if (SSL_CTX_add0_chain_cert(ctx, extra) != 1) {
			X509_free(extra);
			goto out;
		}
	}
	ERR_clear_error(); /* end of PEM input */
	r = 0;
out:
	BIO_free(b);
	return r;
}

static int load_key(SSL_CTX *ctx, const char *pem, size_t len)
{
	if (len > INT32_MAX)
		return NET_E_CONFIG;
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	if (!b)
		return -ENOMEM;
	/* No passphrase callback: encrypted keys must be decrypted by the
	 * caller (a prompt would be wrong in a library). */
	EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, (void *)"");
	BIO_free(b);
	if (!k) {
		cc_log(CC_LOG_ERROR, NET_LOG, "private key PEM: no usable unencrypted key");
		return NET_E_TLS;
	}
	int ok = SSL_CTX_use_PrivateKey(ctx, k) == 1;
	EVP_PKEY_free(k);
	if (!ok || SSL_CTX_check_private_key(ctx) != 1) {
		cc_log(CC_LOG_ERROR, NET_LOG, "private key does not match the certificate");
		return NET_E_TLS;
	}
	return 0;
}

static int load_ca(SSL_CTX *ctx, const char *pem, size_t len)
{
	if (len > INT32_MAX)
		return NET_E_CONFIG;
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	if (!b)
		return -ENOMEM;
	X509_STORE *st = SSL_CTX_get_cert_store(ctx);
	int n = 0;
	X509 *c;
	while ((c = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		if (X509_STORE_add_cert(st, c) != 1) {
			X509_free(c);
			BIO_free(b);
			return NET_E_TLS;
		}
		X509_free(c);
		n++;
	}
	ERR_clear_error();
	BIO_free(b);
	if (n == 0) {
		cc_log(CC_LOG_ERROR, NET_LOG, "CA PEM: no certificate found");
		return NET_E_TLS;
	}
	return 0;
}

int tls_ctx_new(SSL_CTX **ret, const struct net_tls_opts *o, bool server,
		bool alpn_h2, bool alpn_h1)
{
	pthread_once(&idx_once, init_idx);
	if (ctx_data_idx < 0)
		return -ENOMEM;
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (!ctx)
		return -ENOMEM;
	struct tls_ctx_data *d = calloc(1, sizeof(*d));
	if (!d || SSL_CTX_set_ex_data(ctx, ctx_data_idx, d) != 1) {
		free(d);
		SSL_CTX_free(ctx);
		return -ENOMEM;
	}
	d->server = server;
	d->alpn_h2 = alpn_h2;
	d->alpn_h1 = alpn_h1;
	int r = NET_E_TLS;
	SSL_CTX_set_min_proto_version(ctx, o && o->tls13_only ? TLS1_3_VERSION : TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
					 SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
				      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				      SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1)
		goto fail;

	if (o && o->cert_pem) {
		if ((r = load_chain(ctx, o->cert_pem, o->cert_pem_len ? o->cert_pem_len
								      : strlen(o->cert_pem))) < 0)
			goto fail;
		if (!o->key_pem) {
			cc_log(CC_LOG_ERROR, NET_LOG, "TLS certificate given without a private key");
			r = NET_E_CONFIG;
			goto fail;
		}
		if ((r = load_key(ctx, o->key_pem, o->key_pem_len ? o->key_pem_len
								   : strlen(o->key_pem))) < 0)
			goto fail;
	} else if (server) {
		cc_log(CC_LOG_ERROR, NET_LOG, "TLS server needs a certificate and key");
		r = NET_E_CONFIG;
		goto fail;
	}
	r = NET_E_TLS;
	if (o && o->ca_pem) {
		if ((r = load_ca(ctx, o->ca_pem, o->ca_pem_len ? o->ca_pem_len
							       : strlen(o->ca_pem))) < 0)
			goto fail;
	} else if (!server) {
		if (SSL_CTX_set_default_verify_paths(ctx) != 1)
			goto fail;
	}

	if (o && o->spki_sha256) {
		d->has_pin = true;
		memcpy(d->pin, o->spki_sha256, 32);
	}
	if (o) {
		d->verify = o->verify;
		d->verify_ud = o->verify_userdata;
	}
	SSL_CTX_set_cert_verify_callback(ctx, cert_verify_cb, d);

	if (server) {
		int mode = SSL_VERIFY_NONE;
		if (o && o->client_verify != NET_CLIENT_VERIFY_NONE) {
			if (!o->ca_pem && !o->verify) {
				cc_log(CC_LOG_ERROR, NET_LOG,
				       "client certificate verification needs a CA or a verify callback");
				r = NET_E_CONFIG;
				goto fail;
			}
			mode = SSL_VERIFY_PEER;
			if (o->client_verify == NET_CLIENT_VERIFY_REQUIRE)
				mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
			static const unsigned char sid[] = "ccserve-net";
			SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
		}
		SSL_CTX_set_verify(ctx, mode, NULL);
		SSL_CTX_set_alpn_select_cb(ctx, alpn_select, d);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		unsigned char protos[16];
		size_t pl = 0;
		if (alpn_h2) {
			memcpy(protos + pl, "\x02h2", 3);
			pl += 3;
		}
		if (alpn_h1) {
			memcpy(protos + pl, "\x08http/1.1", 9);
			pl += 9;
		}
		if (pl && SSL_CTX_set_alpn_protos(ctx, protos, (unsigned)pl) != 0)
			goto fail;
	}
	if (o && o->ctx_hook) {
		r = o->ctx_hook(o->ctx_hook_userdata, ctx);
		if (r < 0)
			goto fail;
	}
	*ret = ctx;
	return 0;
fail:
	tls_log_errors("TLS setup");
	SSL_CTX_free(ctx);
	return r < 0 ? r : NET_E_TLS;
}

int tls_client_ssl(SSL *ssl, const struct net_tls_opts *o, const char *host)
{
	const char *name = o && o->server_name ? o->server_name : host;
	unsigned char tmp[16];
	bool is_ip = inet_pton(AF_INET, name, tmp) == 1 || inet_pton(AF_INET6, name, tmp) == 1;
	if (is_ip) {
		X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
		if (X509_VERIFY_PARAM_set1_ip_asc(vp, name) != 1)
			return NET_E_CONFIG;
	} else {
		if (SSL_set_tlsext_host_name(ssl, name) != 1)
			return NET_E_CONFIG;
		if (SSL_set1_host(ssl, name) != 1)
			return NET_E_CONFIG;
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	}
	return 0;
}

/*
 * A socket BIO whose writes use send(MSG_NOSIGNAL): a peer that went away
 * must give EPIPE, never a SIGPIPE that kills a process which did not ignore
 * it (a library cannot change the process's signal dispositions).
 */
static BIO_METHOD *nosig_method;
static pthread_once_t nosig_once = PTHREAD_ONCE_INIT;

static int nosig_write(BIO *b, const char *buf, int len)
{
	int fd = -1;
	BIO_get_fd(b, &fd);
	BIO_clear_retry_flags(b);
	ssize_t n = send(fd, buf, (size_t)len, MSG_NOSIGNAL);
	if (n <= 0 && BIO_sock_should_retry((int)n))
		BIO_set_retry_write(b);
	return (int)n;
}

static void nosig_init(void)
{
	const BIO_METHOD *sock = BIO_s_socket();
	BIO_METHOD *m = BIO_meth_new(BIO_TYPE_SOCKET, "ccserve socket");
	if (!m)
		return;
	if (BIO_meth_set_write(m, nosig_write) != 1 ||
	    BIO_meth_set_read(m, BIO_meth_get_read(sock)) != 1 ||
	    BIO_meth_set_puts(m, BIO_meth_get_puts(sock)) != 1 ||
	    BIO_meth_set_ctrl(m, BIO_meth_get_ctrl(sock)) != 1 ||
	    BIO_meth_set_create(m, BIO_meth_get_create(sock)) != 1 ||
	    BIO_meth_set_destroy(m, BIO_meth_get_destroy(sock)) != 1) {
		BIO_meth_free(m);
		return;
	}
	nosig_method = m;
}

bool tls_read_drained(SSL *ssl, size_t got, size_t asked)
{
	return got < asked && !(ssl && SSL_has_pending(ssl));
}

int tls_set_socket(SSL *ssl, int fd)
{
	pthread_once(&nosig_once, nosig_init);
	if (!nosig_method)
		return -ENOMEM;
	BIO *b = BIO_new(nosig_method);
	if (!b)
		return -ENOMEM;
	BIO_set_fd(b, fd, BIO_NOCLOSE);
	SSL_set_bio(ssl, b, b);
	return 0;
}
