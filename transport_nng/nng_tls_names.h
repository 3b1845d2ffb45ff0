/* How the nng listener learns the names of a TLS peer's certificate
 * (grove/sys/cert_names.h) from its TLS engine (nng_tls_engine.c), and how
 * a dialer ends a TLS connection's reads before it closes it. */
#ifndef GROVE_NNG_TLS_NAMES_H
#define GROVE_NNG_TLS_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#include <nng/nng.h>

#include "grove/error.h"
#include "grove/sys/cert_names.h"

/* The name nng_tls_engine_name() gives once ours is installed. */
#define GROVE_NNG_TLS_ENGINE_NAME "grove-mbedtls"

/* Installs groved's TLS engine in nng (once; later calls return the first
 * answer). Every nng_tls_config must be allocated after it. */
grove_err grove_nng_tls_engine_install(void);
/* The names of the certificate the peer at the other end of pipe presented
 * and our engine verified; none for a plain pipe, an unverified peer or one
 * without a certificate. */
void grove_nng_tls_pipe_names(struct grove_cert_names *out, nng_pipe pipe);
/* Makes the next read of pipe's TLS connection fail, as a lost connection
 * would (nng_quiet.h says why); false when pipe is not one of our engine's. */
bool grove_nng_tls_pipe_end(nng_pipe pipe);

#endif
