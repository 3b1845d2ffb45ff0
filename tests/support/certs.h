/* TLS files for tests, made with GnuTLS's certtool (gnutls-bin, installed by
 * scripts/setup.sh): one CA and the certificates it signs. */
#ifndef GROVE_TESTS_SUPPORT_CERTS_H
#define GROVE_TESTS_SUPPORT_CERTS_H

struct support_certs {
    const char *ca;   /* the CA's certificate: what clients and servers trust */
    const char *cert; /* server certificate for 127.0.0.1 and localhost */
    const char *key;
    const char *client_cert; /* client certificate (for client authentication) */
    const char *client_key;
};

/* Made once per process in a temporary directory of its own (removed at
 * exit, see tmpdir.h); every path stays valid until then. Asserts when
 * certtool fails. */
const struct support_certs *support_certs(void);

#endif
