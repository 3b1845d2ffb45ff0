/* nng+tls+tcp:// with the TLS options https and grpcs take: a listener with
 * ca_file requires a client certificate its CA signed; a dialer verifies the
 * server against ca_file (or not at all with insecure); a bad file is a clear
 * error when opening. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>
#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

#include "support/certs.h"
#include "support/node.h"
#include "grove/transport_nng.h"
#include "grove/sys/error.h"
#include "nng_tls_names.h"

static void register_once(void)
{
    grove_transport_register(grove_transport_nng());
}

static void setup(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, register_once);
}

static void start(struct support_node *n, const struct grove_listen_options *lo)
{
    static const char *const tables[] = {"docs:title=lww", NULL};
    support_node_start(n, &(struct support_node_options){
                              .tables = tables, .listen = lo, .url = "nng+tls+tcp://127.0.0.1:%d"});
}

/* One empty pull from url with opts: its error code. */
static grove_err pull(const char *url, const struct grove_dial_options *opts)
{
    struct grove_peer *peer = NULL;
    grove_err err = grove_peer_open(&peer, url, opts);
    if (err)
        return err;
    struct grove_pull_request *req = NULL;
    cr_assert_eq(grove_pull_request_new(&req), GROVE_OK);
    static const char *tables[] = {"docs"};
    req->tables = tables;
    req->table_count = 1;
    req->node_id = "reader";
    struct grove_pull_response *resp = NULL;
    err = grove_peer_pull(peer, req, &resp);
    grove_msg_free(req);
    grove_msg_free(resp);
    grove_peer_close(peer);
    return err;
}

Test(transport_nng_tls, client_certificate_required, .init = setup, .timeout = 60)
{
    const struct support_certs *c = support_certs();
    struct support_node n;
    start(&n, &(struct grove_listen_options){
                  .cert_file = c->cert, .key_file = c->key, .ca_file = c->ca});
    grove_err err = pull(n.url, &(struct grove_dial_options){.ca_file = c->ca, .timeout_ms = 5000});
    cr_assert_eq(err, GROVE_EUNAVAIL, "no client certificate: %s (%s)", grove_err_name(err),
                 grove_errmsg());
    err =
        pull(n.url, &(struct grove_dial_options){
                        .ca_file = c->ca, .cert_file = c->client_cert, .key_file = c->client_key});
    cr_assert_eq(err, GROVE_OK, "with a client certificate: %s", grove_errmsg());
    support_node_stop(&n);
}

/* Both ends run on groved's engine (nng_tls_engine.c), not nng's own, which
 * would not tell the listener a client certificate's names. */
Test(transport_nng_tls, our_engine, .init = setup, .timeout = 60)
{
    const struct support_certs *c = support_certs();
    struct support_node n;
    start(&n, &(struct grove_listen_options){
                  .cert_file = c->cert, .key_file = c->key, .ca_file = c->ca});
    cr_assert_str_eq(nng_tls_engine_name(), GROVE_NNG_TLS_ENGINE_NAME);
    grove_err err =
        pull(n.url, &(struct grove_dial_options){
                        .ca_file = c->ca, .cert_file = c->client_cert, .key_file = c->client_key});
    cr_assert_eq(err, GROVE_OK, "with a client certificate: %s", grove_errmsg());
    cr_assert_str_eq(nng_tls_engine_name(), GROVE_NNG_TLS_ENGINE_NAME);
    support_node_stop(&n);
}

Test(transport_nng_tls, server_verified, .init = setup, .timeout = 60)
{
    const struct support_certs *c = support_certs();
    struct support_node n;
    start(&n, &(struct grove_listen_options){.cert_file = c->cert, .key_file = c->key});
    /* The server's certificate is its own CA's, not the system's. */
    grove_err err = pull(n.url, &(struct grove_dial_options){.timeout_ms = 5000});
    cr_assert_eq(err, GROVE_EUNAVAIL, "system CAs: %s (%s)", grove_err_name(err), grove_errmsg());
    err = pull(n.url, &(struct grove_dial_options){.insecure = true});
    cr_assert_eq(err, GROVE_OK, "insecure: %s", grove_errmsg());
    /* By name: the certificate names localhost. */
    char url[256];
    snprintf(url, sizeof url, "nng+tls+tcp://localhost:%s", strrchr(n.url, ':') + 1);
    err = pull(url, &(struct grove_dial_options){.ca_file = c->ca});
    cr_assert_eq(err, GROVE_OK, "localhost: %s", grove_errmsg());
    support_node_stop(&n);
}

Test(transport_nng_tls, bad_files, .init = setup, .timeout = 60)
{
    const struct support_certs *c = support_certs();
    struct grove_peer *peer = NULL;
    grove_err err = grove_peer_open(&peer, "nng+tls+tcp://127.0.0.1:1",
                                    &(struct grove_dial_options){.ca_file = "/nonexistent/ca"});
    cr_assert_eq(err, GROVE_EINVAL, "missing CA: %s", grove_err_name(err));
    cr_assert(strstr(grove_errmsg(), "/nonexistent/ca"), "%s", grove_errmsg());
    err = grove_peer_open(&peer, "nng+tls+tcp://127.0.0.1:1",
                          &(struct grove_dial_options){.cert_file = c->client_cert});
    cr_assert_eq(err, GROVE_EINVAL, "certificate without key: %s", grove_err_name(err));
}
