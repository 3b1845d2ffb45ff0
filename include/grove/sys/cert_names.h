/* The names of a TLS client certificate, as identities match them
 * (core/cert_names.c): the subject DN (as GnuTLS writes it), the first
 * common name, and the DNS, email and URI SANs. Every TLS listener hands the
 * core these, made by these functions from the certificate its TLS library
 * verified, so the same certificate has the same names on every transport. */
#ifndef GROVE_SYS_CERT_NAMES_H
#define GROVE_SYS_CERT_NAMES_H

#include <stddef.h>

#include "grove/error.h"

#define GROVE_CERT_NAMES    8
#define GROVE_CERT_NAME_MAX 256

struct grove_cert_names {
    char text[GROVE_CERT_NAMES][GROVE_CERT_NAME_MAX];
    size_t count;
};

/* A name that does not fit is left out. */
typedef struct mbedtls_x509_crt mbedtls_x509_crt;
void grove_cert_names_of(struct grove_cert_names *out, const mbedtls_x509_crt *crt);
/* The same for a DER or PEM certificate; GROVE_EINVAL when it does not parse. */
grove_err grove_cert_names_der(struct grove_cert_names *out, const unsigned char *der, size_t len);
grove_err grove_cert_names_pem(struct grove_cert_names *out, const char *pem, size_t len);

#endif
