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
    /* Another client certificate of the same CA, common name grove-stranger. */
    const char *stranger_cert;
    const char *stranger_key;
    /* A client certificate with several RDNs, characters RFC 4514 escapes and
     * SANs of every kind https names (SUPPORT_RICH_* below). */
    const char *rich_cert;
    const char *rich_key;
};

/* rich_cert's subject DN as https (GnuTLS) writes it, and its SANs. */
#define SUPPORT_RICH_DN    "C=CH,O=Acme\\, Inc.,OU=sync,OU=edge,CN=grove-rich \\\"2\\\" \\<x\\>"
#define SUPPORT_RICH_DNS   "rich.example.com"
#define SUPPORT_RICH_EMAIL "rich@example.com"
#define SUPPORT_RICH_URI   "spiffe://example.com/rich"

/* Made once per process in a temporary directory of its own (removed at
 * exit, see tmpdir.h); every path stays valid until then. Asserts when
 * certtool fails. */
const struct support_certs *support_certs(void);

#endif
