/* TLS for nng+tls+tcp:// (nng's tls+tcp transport over groved's own engine
 * on mbedTLS, nng_tls_engine.c), with the options https and grpcs take. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

#include "nng_internal.h"
#include "nng_tls_names.h"
#include "grove/sys/error.h"

/* Where Debian keeps the system's CAs, for a dialer without ca_file. */
#define NNGT_SYSTEM_CA_FILE "/etc/ssl/certs/ca-certificates.crt"

bool grove_nng_url_is_tls(const struct grove_url *url)
{
    return strcmp(url->scheme, "nng+tls+tcp") == 0;
}

/* Loads the certificate and key from their own files (nng's file call wants
 * both in one). */
static grove_err nngt_tls_own_cert(nng_tls_config *cfg, const char *cert_file, const char *key_file)
{
    char *cert = NULL;
    char *key = NULL;
    size_t len;
    grove_err err = grove_file_read(cert_file, "TLS certificate", &cert, &len);
    if (!err)
        err = grove_file_read(key_file, "TLS key", &key, &len);
    if (!err) {
        int rv = nng_tls_config_own_cert(cfg, cert, key, NULL);
        if (rv)
            err = grove_error_set(GROVE_EINVAL, "TLS certificate %s with key %s: %s", cert_file,
                                  key_file, nng_strerror(rv));
    }
    free(cert);
    free(key);
    return err;
}

static grove_err nngt_tls_ca(nng_tls_config *cfg, const char *ca_file)
{
    int rv = nng_tls_config_ca_file(cfg, ca_file);
    if (rv)
        return grove_error_set(GROVE_EINVAL, "TLS CA file %s: %s", ca_file, nng_strerror(rv));
    return GROVE_OK;
}

grove_err grove_nng_tls_server_config(const struct grove_listen_options *opts, nng_tls_config **out)
{
    *out = NULL;
    if (!opts->cert_file || !opts->key_file)
        return grove_error_set(GROVE_EINVAL, "nng+tls+tcp needs a certificate and a key");
    grove_err err = grove_nng_tls_engine_install();
    if (err)
        return err;
    nng_tls_config *cfg;
    int rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_SERVER);
    if (rv)
        return grove_nng_error_map(rv, "TLS configuration");
    err = nngt_tls_own_cert(cfg, opts->cert_file, opts->key_file);
    /* A CA: clients must present a certificate it signed. */
    if (!err && opts->ca_file && !(err = nngt_tls_ca(cfg, opts->ca_file)) &&
        (rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED)))
        err = grove_nng_error_map(rv, "TLS client authentication");
    if (!err && !opts->ca_file && (rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_NONE)))
        err = grove_nng_error_map(rv, "TLS authentication mode");
    if (err) {
        nng_tls_config_free(cfg);
        return err;
    }
    *out = cfg;
    return GROVE_OK;
}

grove_err grove_nng_tls_client_config(const struct grove_url *url,
                                      const struct grove_dial_options *opts, nng_tls_config **out)
{
    *out = NULL;
    if (!opts->cert_file != !opts->key_file)
        return grove_error_set(GROVE_EINVAL, "a TLS client certificate needs its key, and a key "
                                             "its certificate");
    grove_err err = grove_nng_tls_engine_install();
    if (err)
        return err;
    nng_tls_config *cfg;
    int rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_CLIENT);
    if (rv)
        return grove_nng_error_map(rv, "TLS configuration");
    /* mbedTLS 2.28 matches names against DNS entries only, never an IP
     * address entry: for an IP literal the chain is verified, not the name. */
    struct in6_addr ip;
    bool ip_literal =
        inet_pton(AF_INET, url->host, &ip) == 1 || inet_pton(AF_INET6, url->host, &ip) == 1;
    if (!ip_literal && (rv = nng_tls_config_server_name(cfg, url->host)))
        err = grove_nng_error_map(rv, "TLS server name");
    if (!err && opts->insecure) {
        if ((rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_NONE)))
            err = grove_nng_error_map(rv, "TLS authentication mode");
    } else if (!err) {
        err = nngt_tls_ca(cfg, opts->ca_file ? opts->ca_file : NNGT_SYSTEM_CA_FILE);
        if (!err && (rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED)))
            err = grove_nng_error_map(rv, "TLS authentication mode");
    }
    if (!err && opts->cert_file)
        err = nngt_tls_own_cert(cfg, opts->cert_file, opts->key_file);
    if (err) {
        nng_tls_config_free(cfg);
        return err;
    }
    *out = cfg;
    return GROVE_OK;
}
