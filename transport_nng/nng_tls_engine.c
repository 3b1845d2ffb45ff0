/* groved's TLS engine for nng, on mbedTLS 2.28 (as nng's own): the same TLS,
 * plus the names of a verified client certificate, which the nng of Debian 12
 * (1.5.2) has no option for (docs/protocol.md §8).
 *
 * How the names reach the listener without touching nng's internals: after
 * the handshake the connection keeps its verified peer's names. nng answers
 * nng_pipe_get_bool(pipe, NNG_OPT_TLS_VERIFIED) synchronously, in the
 * caller's thread, by calling this engine's verified() under the
 * connection's lock. grove_nng_tls_pipe_names points a thread-local at the
 * caller's buffer, asks that question, and verified() copies the names
 * there; a verified() from any other call (nng's own threads) finds the
 * thread-local NULL and copies nothing. grove_nng_tls_pipe_end asks the same
 * way, to mark the connection ending. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_crl.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/engine.h>

#include "grove/sys/error.h"
#include "nng_internal.h"
#include "nng_tls_names.h"

/* Certificate and key pairs one configuration holds (nng lets a server add
 * one per key type). */
#define NNGE_OWN_CERTS 4

struct nng_tls_engine_config {
    mbedtls_ssl_config ssl;
    mbedtls_x509_crt ca;
    mbedtls_x509_crl crl;
    mbedtls_x509_crt certs[NNGE_OWN_CERTS];
    mbedtls_pk_context keys[NNGE_OWN_CERTS];
    size_t cert_count;
    char *server_name;
};

struct nng_tls_engine_conn {
    void *tls; /* nng's connection, for nng_tls_engine_send/recv */
    mbedtls_ssl_context ssl;
    /* The verified peer certificate's names, set when the handshake ends. */
    struct grove_cert_names names;
    /* Set by grove_nng_tls_pipe_end: the next read fails. */
    bool ending;
};

/* Where verified() copies the names (see the top of this file), and
 * whether it ends the connection's reads (grove_nng_tls_pipe_end). */
static _Thread_local struct grove_cert_names *nnge_names_wanted;
static _Thread_local bool nnge_end_wanted;

/* The kernel's generator: no state to share between nng's threads. */
static int nnge_random(void *arg, unsigned char *buf, size_t len)
{
    (void)arg;
    while (len) {
        ssize_t n = getrandom(buf, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return MBEDTLS_ERR_SSL_INTERNAL_ERROR;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* An nng error for an mbedTLS one: a failed peer check reads as
 * NNG_EPEERAUTH, as with nng's engine. */
static int nnge_error(int rv)
{
    switch (rv) {
    case MBEDTLS_ERR_SSL_WANT_READ:
    case MBEDTLS_ERR_SSL_WANT_WRITE:
        return NNG_EAGAIN;
    case MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE:
    case MBEDTLS_ERR_SSL_CA_CHAIN_REQUIRED:
    case MBEDTLS_ERR_SSL_PEER_VERIFY_FAILED:
    case MBEDTLS_ERR_SSL_NO_USABLE_CIPHERSUITE:
    case MBEDTLS_ERR_X509_CERT_VERIFY_FAILED:
        return NNG_EPEERAUTH;
    case MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY:
        return NNG_ECONNREFUSED;
    case MBEDTLS_ERR_SSL_ALLOC_FAILED:
    case MBEDTLS_ERR_X509_ALLOC_FAILED:
    case MBEDTLS_ERR_PK_ALLOC_FAILED:
        return NNG_ENOMEM;
    case MBEDTLS_ERR_SSL_TIMEOUT:
        return NNG_ETIMEDOUT;
    case MBEDTLS_ERR_SSL_CONN_EOF:
        return NNG_ECLOSED;
    default:
        return NNG_ECRYPTO;
    }
}

/* mbedTLS's I/O callbacks: the bytes go through nng's TCP stream. */
static int nnge_bio_send(void *tls, const unsigned char *buf, size_t len)
{
    size_t n = len;
    int rv = nng_tls_engine_send(tls, buf, &n);
    if (rv == NNG_EAGAIN)
        return MBEDTLS_ERR_SSL_WANT_WRITE;
    return rv ? MBEDTLS_ERR_NET_SEND_FAILED : (int)n;
}

static int nnge_bio_recv(void *tls, unsigned char *buf, size_t len)
{
    size_t n = len;
    int rv = nng_tls_engine_recv(tls, buf, &n);
    if (rv == NNG_EAGAIN)
        return MBEDTLS_ERR_SSL_WANT_READ;
    return rv ? MBEDTLS_ERR_NET_RECV_FAILED : (int)n;
}

static int nnge_conn_init(nng_tls_engine_conn *c, void *tls, nng_tls_engine_config *cfg)
{
    c->tls = tls;
    mbedtls_ssl_init(&c->ssl);
    mbedtls_ssl_set_bio(&c->ssl, tls, nnge_bio_send, nnge_bio_recv, NULL);
    int rv = mbedtls_ssl_setup(&c->ssl, &cfg->ssl);
    if (!rv && cfg->server_name)
        rv = mbedtls_ssl_set_hostname(&c->ssl, cfg->server_name);
    return rv ? nnge_error(rv) : 0;
}

static void nnge_conn_fini(nng_tls_engine_conn *c)
{
    mbedtls_ssl_free(&c->ssl);
}

/* A close-notify, best effort; nng closes the TCP stream itself. */
static void nnge_conn_close(nng_tls_engine_conn *c)
{
    (void)mbedtls_ssl_close_notify(&c->ssl);
}

static bool nnge_conn_verified(nng_tls_engine_conn *c)
{
    bool verified = mbedtls_ssl_get_verify_result(&c->ssl) == 0;
    if (verified && nnge_names_wanted)
        *nnge_names_wanted = c->names;
    if (nnge_end_wanted && !c->ending) {
        c->ending = true;
        /* An empty record, which the listener passes over: nng reads
         * again when its send completes, and that read fails now, at once
         * rather than when the next frame arrives (a listener in the middle
         * of sending that frame has nng's close flaw on its side). */
        (void)mbedtls_ssl_write(&c->ssl, (const unsigned char *)"", 0);
    }
    return verified;
}

static int nnge_conn_handshake(nng_tls_engine_conn *c)
{
    int rv = mbedtls_ssl_handshake(&c->ssl);
    if (rv)
        return nnge_error(rv);
    const mbedtls_x509_crt *peer = mbedtls_ssl_get_peer_cert(&c->ssl);
    c->names.count = 0;
    if (peer && mbedtls_ssl_get_verify_result(&c->ssl) == 0)
        grove_cert_names_of(&c->names, peer);
    return 0;
}

static int nnge_conn_recv(nng_tls_engine_conn *c, uint8_t *buf, size_t *len)
{
    if (c->ending)
        return NNG_ECONNSHUT;
    int rv = mbedtls_ssl_read(&c->ssl, buf, *len);
    if (rv < 0)
        return nnge_error(rv);
    *len = (size_t)rv;
    return 0;
}

static int nnge_conn_send(nng_tls_engine_conn *c, const uint8_t *buf, size_t *len)
{
    int rv = mbedtls_ssl_write(&c->ssl, buf, *len);
    if (rv < 0)
        return nnge_error(rv);
    *len = (size_t)rv;
    return 0;
}

static void nnge_config_fini(nng_tls_engine_config *cfg)
{
    mbedtls_ssl_config_free(&cfg->ssl);
    mbedtls_x509_crt_free(&cfg->ca);
    mbedtls_x509_crl_free(&cfg->crl);
    for (size_t i = 0; i < cfg->cert_count; i++) {
        mbedtls_x509_crt_free(&cfg->certs[i]);
        mbedtls_pk_free(&cfg->keys[i]);
    }
    free(cfg->server_name);
}

/* TLS 1.2 only, as nng's engine: mbedTLS 2.28's 1.3 is a preview. */
static int nnge_config_init(nng_tls_engine_config *cfg, nng_tls_mode mode)
{
    bool server = mode == NNG_TLS_MODE_SERVER;
    mbedtls_ssl_config_init(&cfg->ssl);
    mbedtls_x509_crt_init(&cfg->ca);
    mbedtls_x509_crl_init(&cfg->crl);
    int rv = mbedtls_ssl_config_defaults(&cfg->ssl,
                                         server ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT,
                                         MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
    if (rv) {
        nnge_config_fini(cfg);
        return nnge_error(rv);
    }
    mbedtls_ssl_conf_authmode(&cfg->ssl,
                              server ? MBEDTLS_SSL_VERIFY_NONE : MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_min_version(&cfg->ssl, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_max_version(&cfg->ssl, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_rng(&cfg->ssl, nnge_random, NULL);
    return 0;
}

static int nnge_config_server(nng_tls_engine_config *cfg, const char *name)
{
    char *copy = strdup(name);
    if (!copy)
        return NNG_ENOMEM;
    free(cfg->server_name);
    cfg->server_name = copy;
    return 0;
}

static int nnge_config_auth(nng_tls_engine_config *cfg, nng_tls_auth_mode mode)
{
    switch (mode) {
    case NNG_TLS_AUTH_MODE_NONE:
        mbedtls_ssl_conf_authmode(&cfg->ssl, MBEDTLS_SSL_VERIFY_NONE);
        return 0;
    case NNG_TLS_AUTH_MODE_OPTIONAL:
        mbedtls_ssl_conf_authmode(&cfg->ssl, MBEDTLS_SSL_VERIFY_OPTIONAL);
        return 0;
    case NNG_TLS_AUTH_MODE_REQUIRED:
        mbedtls_ssl_conf_authmode(&cfg->ssl, MBEDTLS_SSL_VERIFY_REQUIRED);
        return 0;
    }
    return NNG_EINVAL;
}

/* PEM text, NUL included, as mbedTLS's PEM parsers want it. */
static int nnge_config_ca_chain(nng_tls_engine_config *cfg, const char *certs, const char *crl)
{
    int rv = mbedtls_x509_crt_parse(&cfg->ca, (const unsigned char *)certs, strlen(certs) + 1);
    if (!rv && crl)
        rv = mbedtls_x509_crl_parse(&cfg->crl, (const unsigned char *)crl, strlen(crl) + 1);
    if (rv)
        return nnge_error(rv);
    mbedtls_ssl_conf_ca_chain(&cfg->ssl, &cfg->ca, crl ? &cfg->crl : NULL);
    return 0;
}

static int nnge_config_own_cert(nng_tls_engine_config *cfg, const char *cert, const char *key,
                                const char *pass)
{
    if (cfg->cert_count == NNGE_OWN_CERTS)
        return NNG_ENOSPC;
    mbedtls_x509_crt *crt = &cfg->certs[cfg->cert_count];
    mbedtls_pk_context *pk = &cfg->keys[cfg->cert_count];
    mbedtls_x509_crt_init(crt);
    mbedtls_pk_init(pk);
    int rv = mbedtls_x509_crt_parse(crt, (const unsigned char *)cert, strlen(cert) + 1);
    if (!rv)
        rv = mbedtls_pk_parse_key(pk, (const unsigned char *)key, strlen(key) + 1,
                                  (const unsigned char *)pass, pass ? strlen(pass) : 0);
    if (!rv)
        rv = mbedtls_ssl_conf_own_cert(&cfg->ssl, crt, pk);
    if (rv) {
        mbedtls_x509_crt_free(crt);
        mbedtls_pk_free(pk);
        return nnge_error(rv);
    }
    cfg->cert_count++;
    return 0;
}

/* Only TLS 1.2 is offered: a range without it is not supported. */
static int nnge_config_version(nng_tls_engine_config *cfg, nng_tls_version min, nng_tls_version max)
{
    (void)cfg;
    if (min > max || min > NNG_TLS_1_2 || max < NNG_TLS_1_2)
        return NNG_ENOTSUP;
    return 0;
}

static nng_tls_engine_config_ops nnge_config_ops = {
    .size = sizeof(nng_tls_engine_config),
    .init = nnge_config_init,
    .fini = nnge_config_fini,
    .server = nnge_config_server,
    .auth = nnge_config_auth,
    .ca_chain = nnge_config_ca_chain,
    .own_cert = nnge_config_own_cert,
    .version = nnge_config_version,
};

static nng_tls_engine_conn_ops nnge_conn_ops = {
    .size = sizeof(nng_tls_engine_conn),
    .init = nnge_conn_init,
    .fini = nnge_conn_fini,
    .close = nnge_conn_close,
    .handshake = nnge_conn_handshake,
    .recv = nnge_conn_recv,
    .send = nnge_conn_send,
    .verified = nnge_conn_verified,
};

static const nng_tls_engine nnge_engine = {
    .version = NNG_TLS_ENGINE_VERSION,
    .config_ops = &nnge_config_ops,
    .conn_ops = &nnge_conn_ops,
    .name = GROVE_NNG_TLS_ENGINE_NAME,
    .description = "groved's engine on " MBEDTLS_VERSION_STRING_FULL,
    .fips_mode = false,
};

static int nnge_install_rv;

/* nng's first call initialises it, and its initialisation registers its own
 * engine over any other: so a throwaway configuration first, then ours.
 * (nng_fini would undo this; groved never calls it.) */
static void nnge_install_once(void)
{
    nng_tls_config *cfg;
    nnge_install_rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_CLIENT);
    if (!nnge_install_rv) {
        nng_tls_config_free(cfg);
        nnge_install_rv = nng_tls_engine_register(&nnge_engine);
    }
}

grove_err grove_nng_tls_engine_install(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, nnge_install_once);
    return nnge_install_rv ? grove_nng_error_map(nnge_install_rv, "TLS engine") : GROVE_OK;
}

void grove_nng_tls_pipe_names(struct grove_cert_names *out, nng_pipe pipe)
{
    out->count = 0;
    bool verified = false;
    nnge_names_wanted = out;
    int rv = nng_pipe_get_bool(pipe, NNG_OPT_TLS_VERIFIED, &verified);
    nnge_names_wanted = NULL;
    if (rv || !verified)
        out->count = 0;
}

bool grove_nng_tls_pipe_end(nng_pipe pipe)
{
    bool verified = false;
    nnge_end_wanted = true;
    int rv = nng_pipe_get_bool(pipe, NNG_OPT_TLS_VERIFIED, &verified);
    nnge_end_wanted = false;
    return rv == 0;
}
