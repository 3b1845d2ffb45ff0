/* The nng listener: one rep socket served by a pool of worker threads, each
 * with its own nng context, so several requests are in flight at once; and
 * a publisher (nng_pub.c) for the streams. */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/tls/tls.h>

#include "grove/metrics.h"
#include "grove/sys/error.h"
#include "nng_internal.h"
#include "nng_tls_names.h"

#define NNGT_WORKERS 16
/* How often an idle worker checks for close. Workers end on their own before
 * the socket closes: closing it under a context that is mid-call crashes nng. */
#define NNGT_IDLE_SLICE_MS   200
#define NNGT_SEND_TIMEOUT_MS 5000

struct nngs_listener;

struct nngs_worker {
    struct nngs_listener *l;
    pthread_t thread;
    nng_ctx ctx;
    nng_aio *aio;
    bool started;
};

struct nngs_listener {
    nng_socket sock;
    nng_tls_config *tls_config; /* nng+tls+tcp; NULL otherwise */
    bool client_ca;             /* TLS with ca_file: client certificates name identities */
    struct grove_nng_publisher *publisher;
    struct grove_server *server;
    char url[512];
    struct grove_guard *guard; /* the core's: who may ask */
    size_t max_body;
    atomic_bool closing;
    struct nngs_worker workers[NNGT_WORKERS];
};

/* The address of the client that sent msg, for the server's hooks (grove_serve_from). */
static void nngs_peer_addr(nng_msg *msg, char *out, size_t size)
{
    nng_sockaddr sa;
    if (size)
        out[0] = '\0';
    if (nng_pipe_get_addr(nng_msg_get_pipe(msg), NNG_OPT_REMADDR, &sa) != 0)
        return;
    if (sa.s_family == NNG_AF_INET)
        grove_peer_addr_format(out, size, &sa.s_in.sa_addr, 4, ntohs(sa.s_in.sa_port));
    else if (sa.s_family == NNG_AF_INET6)
        grove_peer_addr_format(out, size, sa.s_in6.sa_addr, 16, ntohs(sa.s_in6.sa_port));
}

/* Answers one request (body, len) from peer (may be NULL) into out; errors
 * become error frames. cert: the verified client certificate's names. */
static void nngs_serve(struct nngs_listener *l, const char *peer,
                       const struct grove_cert_names *cert, const char *body, size_t len,
                       struct grove_buf *out)
{
    int64_t started_us = grove_metrics_now_us();
    struct grove_nng_request req = {0};
    struct grove_caller caller = {0};
    grove_err err = grove_nng_request_parse(body, len, &req);
    if (err)
        goto fail;
    struct grove_credentials cred = {.op = req.op == NNGT_OP_PULL   ? "pull"
                                           : req.op == NNGT_OP_PUSH ? "push"
                                                                    : "-",
                                     .peer_addr = peer,
                                     .authorization = req.auth_len ? req.auth : NULL,
                                     .authorization_len = req.auth_len,
                                     .cert = cert};
    if ((err = grove_guard_admit(l->guard, &cred, GROVE_NEED_SYNC, &caller)))
        goto fail;
    if (req.json_len > l->max_body) {
        err = grove_error_set(GROVE_ETOOBIG, "request of %zu bytes exceeds the limit of %zu",
                              req.json_len, l->max_body);
        goto fail;
    }
    char ok = NNGT_REPLY_OK;
    if (req.op == NNGT_OP_STREAM) {
        err = grove_error_set(GROVE_ENOTSUP, "streams are on the pub socket (docs/protocol.md)");
    } else if (req.op == NNGT_OP_PULL || req.op == NNGT_OP_PUSH) {
        err = grove_buf_append(out, &ok, 1);
        if (!err)
            err = grove_serve_as(l->server, &caller, &grove_codec_json,
                                 req.op == NNGT_OP_PULL ? GROVE_CALL_PULL : GROVE_CALL_PUSH,
                                 req.json, req.json_len, out);
    } else {
        err = grove_error_set(GROVE_ENOTSUP, "unknown operation '%c'", req.op);
    }
fail:
    grove_caller_release(&caller);
    if (err && grove_nng_reply_error(err, out))
        out->len = 0; /* out of memory: an empty reply reads as a protocol error */
    /* A request that did not parse counts as a pull: it names no op. */
    grove_metrics_request(grove_store_metrics(grove_server_store(l->server)), GROVE_METRICS_NNG,
                          req.op == NNGT_OP_STREAM ? GROVE_METRICS_OP_STREAM
                          : req.op == NNGT_OP_PUSH ? GROVE_METRICS_OP_PUSH
                                                   : GROVE_METRICS_OP_PULL,
                          err, req.op == NNGT_OP_STREAM ? 0 : started_us);
}

static void *nngs_worker_main(void *arg)
{
    struct nngs_worker *w = arg;
    struct nngs_listener *l = w->l;
    while (!atomic_load(&l->closing)) {
        nng_aio_set_timeout(w->aio, NNGT_IDLE_SLICE_MS);
        nng_ctx_recv(w->ctx, w->aio);
        nng_aio_wait(w->aio);
        int rv = nng_aio_result(w->aio);
        if (rv == NNG_ECLOSED)
            break;
        if (rv)
            continue; /* NNG_ETIMEDOUT: look at closing again */
        nng_msg *msg = nng_aio_get_msg(w->aio);
        struct grove_buf out = {0};
        char peer[GROVE_PEER_ADDR_MAX];
        nngs_peer_addr(msg, peer, sizeof peer);
        struct grove_cert_names cert = {.count = 0};
        if (l->client_ca)
            grove_nng_tls_pipe_names(&cert, nng_msg_get_pipe(msg));
        nngs_serve(l, peer[0] ? peer : NULL, &cert, nng_msg_body(msg), nng_msg_len(msg), &out);
        /* Reuse the request message for the reply. */
        nng_msg_clear(msg);
        if (nng_msg_append(msg, out.data, out.len) != 0) {
            nng_msg_free(msg);
            grove_buf_free(&out);
            continue; /* the client times out */
        }
        grove_buf_free(&out);
        nng_aio_set_msg(w->aio, msg);
        nng_aio_set_timeout(w->aio, NNGT_SEND_TIMEOUT_MS);
        nng_ctx_send(w->ctx, w->aio);
        nng_aio_wait(w->aio);
        if (nng_aio_result(w->aio))
            nng_msg_free(msg);
    }
    return NULL;
}

static void nngs_listener_close(void *self);

static void nngs_listener_free(struct nngs_listener *l)
{
    if (l->tls_config)
        nng_tls_config_free(l->tls_config);
    free(l);
}

/* nng_listen, with the TLS configuration set first when there is one. */
static int nngs_listen(struct nngs_listener *l, const char *address)
{
    if (!l->tls_config)
        return nng_listen(l->sock, address, NULL, 0);
    nng_listener listener;
    int rv = nng_listener_create(&listener, l->sock, address);
    if (!rv && (rv = nng_listener_set_ptr(listener, NNG_OPT_TLS_CONFIG, l->tls_config)))
        nng_listener_close(listener);
    if (!rv && (rv = nng_listener_start(listener, 0)))
        nng_listener_close(listener);
    return rv;
}

static grove_err nngs_listener_open(const struct grove_url *url, struct grove_server *server,
                                    const struct grove_listen_options *opts, void **self_out)
{
    *self_out = NULL;
    char address[512];
    grove_err err = grove_nng_url_address(url, address, sizeof address);
    if (err)
        return err;
    /* Plain nng+tcp and nng+ipc ignore TLS files, as http:// and grpc:// do
     * (groved gives every listener the same options). */
    nng_tls_config *tls_config = NULL;
    if (grove_nng_url_is_tls(url) && (err = grove_nng_tls_server_config(opts, &tls_config)))
        return err;
    struct nngs_listener *l = calloc(1, sizeof *l);
    if (!l) {
        if (tls_config)
            nng_tls_config_free(tls_config);
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    }
    l->tls_config = tls_config;
    l->client_ca = tls_config && opts->ca_file;
    l->server = server;
    snprintf(l->url, sizeof l->url, "%s", url->text);
    l->max_body = opts->max_body;
    atomic_init(&l->closing, false);
    l->guard = opts->guard;
    int rv = nng_rep0_open(&l->sock);
    if (rv) {
        nngs_listener_free(l);
        return grove_nng_error_map(rv, "nng rep socket");
    }
    /* Requests somewhat over max_body still arrive, so the client hears
     * ETOOBIG; nng drops the connection of anything past this bound. */
    size_t recv_max = l->max_body > SIZE_MAX / 4 ? SIZE_MAX : 2 * l->max_body + (1u << 20);
    if ((rv = nng_socket_set_size(l->sock, NNG_OPT_RECVMAXSZ, recv_max))) {
        err = grove_nng_error_map(rv, "nng socket options");
        goto fail;
    }
    if ((rv = nngs_listen(l, address))) {
        err = grove_nng_error_map(rv, "listen");
        if (rv == NNG_EADDRINUSE)
            err = grove_error_set(GROVE_EUNAVAIL, "listen: %s", nng_strerror(rv));
        goto fail;
    }
    char pub_address[512];
    if ((err = grove_nng_pub_address(url, pub_address, sizeof pub_address)) ||
        (err =
             grove_nng_publisher_open(server, pub_address, l->tls_config, l->guard, &l->publisher)))
        goto fail;
    for (size_t i = 0; i < NNGT_WORKERS; i++) {
        struct nngs_worker *w = &l->workers[i];
        w->l = l;
        if ((rv = nng_aio_alloc(&w->aio, NULL, NULL)) || (rv = nng_ctx_open(&w->ctx, l->sock))) {
            err = grove_nng_error_map(rv, "nng context");
            goto fail;
        }
        if (pthread_create(&w->thread, NULL, nngs_worker_main, w) != 0) {
            err = grove_error_set(GROVE_ENOMEM, "cannot start a worker thread");
            goto fail;
        }
        w->started = true;
    }
    grove_log(GROVE_LOG_INFO, "nng listening on %s", url->text);
    *self_out = l;
    return GROVE_OK;
fail:
    nngs_listener_close(l);
    return err;
}

static void nngs_listener_close(void *self)
{
    struct nngs_listener *l = self;
    if (!l)
        return;
    atomic_store(&l->closing, true);
    grove_nng_publisher_close(l->publisher);
    for (size_t i = 0; i < NNGT_WORKERS; i++)
        if (l->workers[i].started)
            pthread_join(l->workers[i].thread, NULL);
    nng_close(l->sock);
    for (size_t i = 0; i < NNGT_WORKERS; i++)
        if (l->workers[i].aio)
            nng_aio_free(l->workers[i].aio);
    nngs_listener_free(l);
}

const struct grove_listener_ops grove_nng_listener_ops = {
    .open = nngs_listener_open,
    .close = nngs_listener_close,
};
