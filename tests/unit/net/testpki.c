/* SPDX-License-Identifier: Apache-2.0 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "testpki.h"

static char *bio_str(BIO *b)
{
	char *data;
	long n = BIO_get_mem_data(b, &data);
	char *s = malloc((size_t)n + 1);
	if (s) {
		memcpy(s, data, (size_t)n);
		s[n] = 0;
	}
	BIO_free(b);
	return s;
}

static char *cert_pem(X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	PEM_write_bio_X509(b, x);
	return bio_str(b);
}

static char *key_pem(EVP_PKEY *k)
{
	BIO *b = BIO_new(BIO_s_mem());
	PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
	return bio_str(b);
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ex)
		return -1;
	X509_add_ext(cert, ex, -1);
	X509_EXTENSION_free(ex);
	return 0;
}

static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
		       bool ca, const char *san, long serial)
{
	X509 *x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	X509_NAME *name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	X509 *iss = issuer ? issuer : x;
	if (ca) {
		add_ext(x, iss, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, iss, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		add_ext(x, iss, NID_basic_constraints, "critical,CA:FALSE");
		add_ext(x, iss, NID_key_usage, "critical,digitalSignature");
		if (san)
			add_ext(x, iss, NID_subject_alt_name, san);
	}
	add_ext(x, iss, NID_subject_key_identifier, "hash");
	X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256());
	return x;
}

int test_pki_make(struct test_pki *p)
{
	memset(p, 0, sizeof(*p));
	EVP_PKEY *cak = EVP_EC_gen("P-256");
	EVP_PKEY *sk = EVP_EC_gen("P-256");
	EVP_PKEY *ck = EVP_EC_gen("P-256");
	EVP_PKEY *ok = EVP_EC_gen("P-256");
	if (!cak || !sk || !ck || !ok)
		return -1;
	X509 *ca = make_cert("net test CA", cak, NULL, NULL, true, NULL, 1);
	X509 *srv = make_cert("localhost", sk, ca, cak, false, "DNS:localhost,IP:127.0.0.1", 2);
	X509 *cli = make_cert("test client", ck, ca, cak, false, NULL, 3);
	X509 *other = make_cert("other CA", ok, NULL, NULL, true, NULL, 4);
	p->ca_pem = cert_pem(ca);
	p->server_cert_pem = cert_pem(srv);
	p->server_key_pem = key_pem(sk);
	p->client_cert_pem = cert_pem(cli);
	p->client_key_pem = key_pem(ck);
	p->other_ca_pem = cert_pem(other);
	X509_free(ca);
	X509_free(srv);
	X509_free(cli);
	X509_free(other);
	EVP_PKEY_free(cak);
	EVP_PKEY_free(sk);
	EVP_PKEY_free(ck);
	EVP_PKEY_free(ok);
	return p->ca_pem && p->server_cert_pem && p->server_key_pem && p->client_cert_pem &&
			       p->client_key_pem && p->other_ca_pem
		       ? 0
		       : -1;
}

void test_pki_free(struct test_pki *p)
{
	free(p->ca_pem);
	free(p->server_cert_pem);
	free(p->server_key_pem);
	free(p->client_cert_pem);
	free(p->client_key_pem);
	free(p->other_ca_pem);
	memset(p, 0, sizeof(*p));
}
