/* The listener's publisher: one server stream over every declared table,
 * each batch sent on a pub socket with the stamps around it, and a
 * heartbeat (the last stamp sent) every second, so a subscriber that missed
 * the last batch sees the gap without waiting for the next commit. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/supplemental/tls/tls.h>

#include "nng_internal.h"
#include "grove/metrics.h"
#include "grove/server.h"
#include "grove/sys/error.h"

struct grove_nng_publisher {
    nng_socket sock;
    struct grove_server *server;
    struct grove_server_stream *stream;
    struct grove_guard *guard; /* the listener's: while it is not open, notices only */
    atomic_bool closing;
    pthread_t thread;
};

/* Sends kind and the stream batch; a pub socket never blocks (a slow
 * subscriber loses messages, and repairs the gap with a pull). */
static void nngp_send(struct grove_nng_publisher *p, char kind,
                      const struct grove_pull_response *batch)
{
    struct grove_buf out = {0};
    if (!grove_buf_append(&out, &kind, 1) && !grove_codec_json.encode_stream_batch(batch, &out))
        nng_send(p->sock, out.data, out.len, NNG_FLAG_NONBLOCK);
    grove_buf_free(&out);
}

/* Subscribers are the pub socket's connections, for the metrics. */
static void nngp_pipe_event(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
    (void)pipe;
    struct grove_nng_publisher *p = arg;
    grove_metrics_subscribers_add(grove_store_metrics(grove_server_store(p->server)),
                                  GROVE_METRICS_NNG, ev == NNG_PIPE_EV_ADD_POST ? 1 : -1);
}

static void *nngp_main(void *arg)
{
    struct grove_nng_publisher *p = arg;
    struct grove_pull_response beat = {0};
    grove_store_latest(grove_server_store(p->server), &beat.latest_hlc);
    beat.since = beat.latest_hlc;
    int quiet_ms = 0;
    while (!atomic_load(&p->closing)) {
        struct grove_pull_response *batch = NULL;
        grove_err err = grove_server_stream_next(p->stream, NNGT_PUB_SLICE_MS, &batch);
        if (err == GROVE_ESHUTDOWN)
            break;
        if (!err) {
            char kind = NNGT_PUB_BATCH;
            if (!grove_guard_open(p->guard)) {
                /* The changes go only to authenticated pulls. */
                batch->count = 0;
                kind = NNGT_PUB_NOTICE;
            }
            nngp_send(p, kind, batch);
            beat.since = beat.latest_hlc = batch->latest_hlc;
            grove_msg_free(batch);
            quiet_ms = 0;
            continue;
        }
        /* GROVE_ETIMEOUT; another error is retried the same way. */
        grove_error_clear();
        if ((quiet_ms += NNGT_PUB_SLICE_MS) >= NNGT_PUB_HEARTBEAT_MS) {
            nngp_send(p, NNGT_PUB_BATCH, &beat);
            quiet_ms = 0;
        }
    }
    return NULL;
}

grove_err grove_nng_publisher_open(struct grove_server *server, const char *address,
                                   nng_tls_config *tls_config, struct grove_guard *guard,
                                   struct grove_nng_publisher **out)
{
    *out = NULL;
    struct grove_nng_publisher *p = calloc(1, sizeof *p);
    if (!p)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    p->server = server;
    p->guard = guard;
    atomic_init(&p->closing, false);
    /* Every declared table, from the store's latest stamp on. */
    const struct grove_schema *schema = grove_store_schema(grove_server_store(server));
    size_t count = grove_schema_table_count(schema);
    const char **tables = calloc(count + 1, sizeof *tables);
    if (!tables) {
        free(p);
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < count; i++)
        tables[i] = grove_schema_table_name(schema, i);
    struct grove_pull_request req = {.tables = tables, .table_count = count, .node_id = ""};
    grove_err err = grove_store_latest(grove_server_store(server), &req.since);
    if (!err)
        err = grove_server_stream_open(server, &req, &p->stream);
    free(tables);
    if (err) {
        free(p);
        return err;
    }
    int rv = nng_pub0_open(&p->sock);
    if (rv) {
        grove_server_stream_close(p->stream);
        free(p);
        return grove_nng_error_map(rv, "nng pub socket");
    }
    nng_listener listener;
    if (!(rv = nng_pipe_notify(p->sock, NNG_PIPE_EV_ADD_POST, nngp_pipe_event, p)))
        rv = nng_pipe_notify(p->sock, NNG_PIPE_EV_REM_POST, nngp_pipe_event, p);
    if (!rv && !(rv = nng_listener_create(&listener, p->sock, address)) && tls_config)
        rv = nng_listener_set_ptr(listener, NNG_OPT_TLS_CONFIG, tls_config);
    if (!rv)
        rv = nng_listener_start(listener, 0);
    if (rv) {
        err = rv == NNG_EADDRINUSE
                  ? grove_error_set(GROVE_EUNAVAIL, "publish on %s: %s", address, nng_strerror(rv))
                  : grove_nng_error_map(rv, "publish");
    } else if (pthread_create(&p->thread, NULL, nngp_main, p) != 0) {
        err = grove_error_set(GROVE_ENOMEM, "cannot start the publisher thread");
    }
    if (err) {
        nng_close(p->sock);
        grove_server_stream_close(p->stream);
        free(p);
        return err;
    }
    *out = p;
    return GROVE_OK;
}

void grove_nng_publisher_close(struct grove_nng_publisher *p)
{
    if (!p)
        return;
    atomic_store(&p->closing, true);
    pthread_join(p->thread, NULL);
    nng_close(p->sock);
    grove_server_stream_close(p->stream);
    free(p);
}
