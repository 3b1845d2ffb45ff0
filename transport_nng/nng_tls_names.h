/* The names of a TLS peer's certificate (nng_tls_names.c) and how the nng
 * listener learns them from its TLS engine (nng_tls_engine.c). */
#ifndef GROVE_NNG_TLS_NAMES_H
#define GROVE_NNG_TLS_NAMES_H

#include <stddef.h>

#include <nng/nng.h>

#include "grove/error.h"

/* As many names as https hands the core: subject DN, common name, SANs. */
#define GROVE_NNG_CERT_NAMES    8
#define GROVE_NNG_CERT_NAME_MAX 256

struct grove_nng_cert_names {
    char text[GROVE_NNG_CERT_NAMES][GROVE_NNG_CERT_NAME_MAX];
    size_t count;
};

/* The subject DN (RFC 4514, as GnuTLS writes it), the first common name and
 * the DNS, email and URI SANs of a certificate; a name that does not fit is
 * left out. */
typedef struct mbedtls_x509_crt mbedtls_x509_crt;
void grove_nng_cert_names_of(struct grove_nng_cert_names *out, const mbedtls_x509_crt *crt);
/* The same for a DER certificate; GROVE_EINVAL when it does not parse. */
grove_err grove_nng_cert_names_der(struct grove_nng_cert_names *out, const unsigned char *der,
                                   size_t len);

/* The name nng_tls_engine_name() gives once ours is installed. */
#define GROVE_NNG_TLS_ENGINE_NAME "grove-mbedtls"

/* Installs groved's TLS engine in nng (once; later calls return the first
 * answer). Every nng_tls_config must be allocated after it. */
grove_err grove_nng_tls_engine_install(void);
/* The names of the certificate the peer at the other end of pipe presented
 * and our engine verified; none for a plain pipe, an unverified peer or one
 * without a certificate. */
void grove_nng_tls_pipe_names(struct grove_nng_cert_names *out, nng_pipe pipe);

#endif
