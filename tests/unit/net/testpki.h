/* SPDX-License-Identifier: Apache-2.0 */
/* A throw-away PKI made in memory for TLS tests: a CA, a server leaf for
 * "localhost" + 127.0.0.1, a client leaf, and an unrelated CA. */
#ifndef NET_TESTPKI_H
#define NET_TESTPKI_H

struct test_pki {
	char *ca_pem;
	char *server_cert_pem;
	char *server_key_pem;
	char *client_cert_pem;
	char *client_key_pem;
	char *other_ca_pem;
};

int test_pki_make(struct test_pki *p);
void test_pki_free(struct test_pki *p);

#endif
