/* One client call's state, from creation to release, for the sync dialer
 * (grpc_client.c) and the Data API client (client/client_grpc.c): a unary
 * call on a pluck queue (grove_grpc_unary, made once more when it found no
 * connection), or a server stream on a next queue. */
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc_security.h>

#include "grove/sys/error.h"
#include "grpc_internal.h"

void grove_grpc_call_open(struct grove_grpc_call *x, grpc_channel *channel, void *method,
                          bool stream, gpr_timespec deadline, const char *authorization,
                          grpc_byte_buffer *send)
{
    memset(x, 0, sizeof *x);
    x->stream = stream;
    x->cq = stream ? grpc_completion_queue_create_for_next(NULL)
                   : grpc_completion_queue_create_for_pluck(NULL);
    x->call = grpc_channel_create_registered_call(channel, NULL, GRPC_PROPAGATE_DEFAULTS, x->cq,
                                                  method, deadline, NULL);
    x->send = send;
    grpc_metadata_array_init(&x->initial);
    grpc_metadata_array_init(&x->trailing);
    x->status = GRPC_STATUS_UNKNOWN;
    x->details = grpc_empty_slice();
    if (authorization) {
        x->md.key = grpc_slice_from_static_string("authorization");
        x->md.value = grpc_slice_from_static_string(authorization);
        x->md_count = 1;
    }
}

size_t grove_grpc_call_request_ops(struct grove_grpc_call *x, grpc_op *ops)
{
    memset(ops, 0, 4 * sizeof *ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = x->md_count;
    ops[0].data.send_initial_metadata.metadata = &x->md;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = x->send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &x->initial;
    return 4;
}

void grove_grpc_call_recv_op(struct grove_grpc_call *x, grpc_op *op)
{
    memset(op, 0, sizeof *op);
    op->op = GRPC_OP_RECV_MESSAGE;
    op->data.recv_message.recv_message = &x->recv;
}

void grove_grpc_call_status_op(struct grove_grpc_call *x, grpc_op *op)
{
    memset(op, 0, sizeof *op);
    op->op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    op->data.recv_status_on_client.trailing_metadata = &x->trailing;
    op->data.recv_status_on_client.status = &x->status;
    op->data.recv_status_on_client.status_details = &x->details;
}

grove_err grove_grpc_call_error(const struct grove_grpc_call *x)
{
    return grove_error_set_native(grove_err_from_grpc(x->status), x->status, "%s: %.*s",
                                  grove_grpc_status_name(x->status),
                                  (int)GRPC_SLICE_LENGTH(x->details),
                                  (const char *)GRPC_SLICE_START_PTR(x->details));
}

/* Whether the call failed without a connection to send it on, in the
 * pick_first policy's words. */
static bool grpc_call_unconnected(const struct grove_grpc_call *x)
{
    static const char unconnected[] = "failed to connect to all addresses";
    return x->status == GRPC_STATUS_UNAVAILABLE &&
           GRPC_SLICE_LENGTH(x->details) >= sizeof unconnected - 1 &&
           memcmp(GRPC_SLICE_START_PTR(x->details), unconnected, sizeof unconnected - 1) == 0;
}

/* Waits while the channel stays in failure, at most past its next attempt,
 * so that a call made next waits for that attempt instead of failing. */
static void grpc_channel_await_attempt(grpc_channel *channel)
{
    grpc_connectivity_state state = grpc_channel_check_connectivity_state(channel, 0);
    if (state != GRPC_CHANNEL_TRANSIENT_FAILURE)
        return;
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    void *tag = &state;
    /* gRPC adds up to 20% to the backoff: half again is past it. */
    grpc_channel_watch_connectivity_state(
        channel, state, grove_grpc_deadline_ms(GROVE_GRPC_RECONNECT_MS * 3 / 2), cq, tag);
    grove_grpc_cq_pluck(cq, tag, gpr_inf_future(GPR_CLOCK_REALTIME));
    grpc_completion_queue_shutdown(cq);
    grpc_completion_queue_destroy(cq);
}

/* How often a waiting call looks at its cancel flag. */
#define GRPC_CANCEL_CHECK_MS 200

/* The call's completion; once *cancelled is set the call is cancelled (its
 * completion still comes, at once). */
static grpc_event grpc_unary_wait(struct grove_grpc_call *x, const atomic_bool *cancelled)
{
    if (!cancelled)
        return grove_grpc_cq_pluck(x->cq, x->call, gpr_inf_future(GPR_CLOCK_REALTIME));
    for (;;) {
        if (atomic_load(cancelled))
            grpc_call_cancel(x->call, NULL);
        grpc_event ev =
            grove_grpc_cq_pluck(x->cq, x->call, grove_grpc_deadline_ms(GRPC_CANCEL_CHECK_MS));
        if (ev.type != GRPC_QUEUE_TIMEOUT)
            return ev;
    }
}

/* One attempt of grove_grpc_unary; *unconnected when it found no connection. */
static grove_err grpc_unary_attempt(grpc_channel *channel, void *method, int timeout_ms,
                                    const char *authorization, grpc_slice request,
                                    const atomic_bool *cancelled, grpc_slice *answer,
                                    bool *unconnected)
{
    struct grove_grpc_call x;
    grove_grpc_call_open(&x, channel, method, false, grove_grpc_deadline_ms(timeout_ms),
                         authorization, grpc_raw_byte_buffer_create(&request, 1));
    grpc_op ops[6];
    size_t n = grove_grpc_call_request_ops(&x, ops);
    grove_grpc_call_recv_op(&x, &ops[n++]);
    grove_grpc_call_status_op(&x, &ops[n++]);
    grove_err err = GROVE_OK;
    grpc_call_error rc = grove_grpc_start_batch(x.call, ops, n, x.call);
    grpc_event ev = {.type = GRPC_QUEUE_TIMEOUT};
    if (rc == GRPC_CALL_OK)
        ev = grpc_unary_wait(&x, cancelled);
    if (rc != GRPC_CALL_OK) {
        err = grove_error_set(GROVE_EPROTO, "%s", grpc_call_error_to_string(rc));
    } else if (cancelled && atomic_load(cancelled)) {
        err = grove_error_set(GROVE_ESHUTDOWN, "stopped");
    } else if (ev.type != GRPC_OP_COMPLETE || !ev.success) {
        err = grove_error_set(GROVE_EUNAVAIL, "call failed");
    } else if (x.status != GRPC_STATUS_OK) {
        *unconnected = grpc_call_unconnected(&x);
        err = grove_grpc_call_error(&x);
    } else if (!x.recv || !grove_grpc_buffer_slice(x.recv, answer)) {
        err = grove_error_set(GROVE_EPROTO, "OK without a response message");
    }
    grove_grpc_call_close(&x);
    return err;
}

grove_err grove_grpc_unary(grpc_channel *channel, void *method, int timeout_ms,
                           const char *authorization, grpc_slice request,
                           const atomic_bool *cancelled, grpc_slice *answer)
{
    bool unconnected = false;
    grove_err err = grpc_unary_attempt(channel, method, timeout_ms, authorization, request,
                                       cancelled, answer, &unconnected);
    if (err && unconnected && !(cancelled && atomic_load(cancelled))) {
        grpc_channel_await_attempt(channel);
        unconnected = false;
        err = grpc_unary_attempt(channel, method, timeout_ms, authorization, request, cancelled,
                                 answer, &unconnected);
    }
    return err;
}

void grove_grpc_call_close(struct grove_grpc_call *x)
{
    grpc_slice_unref(x->details);
    grpc_metadata_array_destroy(&x->initial);
    grpc_metadata_array_destroy(&x->trailing);
    grpc_byte_buffer_destroy(x->send);
    if (x->recv)
        grpc_byte_buffer_destroy(x->recv);
    grpc_call_unref(x->call);
    grpc_completion_queue_shutdown(x->cq);
    /* A stream's queue may still hold events: drained before it goes. */
    while (x->stream && grove_grpc_cq_next(x->cq, gpr_inf_future(GPR_CLOCK_REALTIME)).type !=
                            GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(x->cq);
}

static grove_err grpc_channel_credentials_for(const struct grove_dial_options *opts, bool tls,
                                  grpc_channel_credentials **out)
{
    *out = NULL;
    if (!tls) {
        *out = grpc_insecure_credentials_create();
        return GROVE_OK;
    }
    if (opts->insecure) {
        /* Development only: encrypt, but accept any server certificate. */
        grpc_tls_credentials_options *o = grpc_tls_credentials_options_create();
        grpc_tls_credentials_options_set_verify_server_cert(o, 0);
        grpc_tls_certificate_verifier *verifier = grpc_tls_certificate_verifier_no_op_create();
        grpc_tls_credentials_options_set_certificate_verifier(o, verifier);
        grpc_tls_certificate_verifier_release(verifier); /* the options hold their own ref */
        grpc_tls_credentials_options_set_check_call_host(o, 0);
        *out = grpc_tls_credentials_create(o);
        return *out ? GROVE_OK : grove_error_set(GROVE_EINVAL, "cannot create TLS credentials");
    }
    char *ca = NULL, *cert = NULL, *key = NULL;
    grove_err err;
    if ((opts->ca_file && (err = grove_file_read(opts->ca_file, "CA file", &ca, NULL))) ||
        (opts->cert_file && (err = grove_file_read(opts->cert_file, "certificate", &cert, NULL))) ||
        (opts->key_file && (err = grove_file_read(opts->key_file, "key", &key, NULL))))
        goto done;
    err = GROVE_OK;
    grpc_ssl_pem_key_cert_pair pair = {.private_key = key, .cert_chain = cert};
    *out = grpc_ssl_credentials_create_ex(ca, cert && key ? &pair : NULL, NULL, NULL);
    if (!*out)
        err = grove_error_set(GROVE_EINVAL, "cannot create TLS credentials");
done:
    free(ca);
    free(cert);
    free(key);
    return err;
}

grove_err grove_grpc_channel_open(const struct grove_url *url, const struct grove_dial_options *opts,
                                  grpc_channel **out)
{
    *out = NULL;
    char target[300];
    grove_grpc_target(url, target, sizeof target);
    grpc_channel_credentials *creds = NULL;
    grove_err err = grpc_channel_credentials_for(opts, strcmp(url->scheme, "grpcs") == 0, &creds);
    if (err)
        return err;
    int connect_ms = opts->connect_timeout_ms;
    grpc_arg arg_list[] = {
        {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, .value.integer = -1},
        /* A restarted peer should be found again within seconds, not after
         * gRPC's default two-minute reconnect backoff; the syncer has its own. */
        {.type = GRPC_ARG_INTEGER,
         .key = GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
         .value.integer = GROVE_GRPC_RECONNECT_MS},
        /* The minimum time between connection attempts, which gRPC takes
         * as the connect timeout as well: at most a second, so a returning
         * peer does not wait out the 5 s connect timeout between attempts.
         * The cost: a link whose TCP and TLS setup takes over a second
         * (gRPC's jitter aside) cannot connect over gRPC. */
        {.type = GRPC_ARG_INTEGER,
         .key = GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
         .value.integer = connect_ms > 0 && connect_ms < 1000 ? connect_ms : 1000},
        /* At most a second (gRPC adds 20% jitter) between connection
         * attempts: a returning peer is used again within about 2 s, with
         * the syncer's own retry (core/syncer.c). */
        {.type = GRPC_ARG_INTEGER,
         .key = GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
         .value.integer = 1000},
        /* Each peer gets its own connection even when two point at one host. */
        {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, .value.integer = 1},
    };
    grpc_channel_args args = {.num_args = sizeof arg_list / sizeof arg_list[0], .args = arg_list};
    *out = grpc_channel_create(target, creds, &args);
    grpc_channel_credentials_release(creds);
    if (!*out)
        return grove_error_set(GROVE_EUNAVAIL, "cannot create a gRPC channel to %s", target);
    return GROVE_OK;
}

/* Tags of a stream's batches. */
enum { CALL_TAG_START = 1, CALL_TAG_STATUS, CALL_TAG_MESSAGE, CALL_TAGS };

grove_err grove_grpc_call_read_stream(struct grove_grpc_call *x, int poll_ms,
                                      const atomic_bool *stop, grove_grpc_message_fn fn,
                                      void *user, const char *what)
{
    bool pending[CALL_TAGS] = {false};
    bool cancelled = false, ended = false, done = false;
    grove_err err = GROVE_OK;
    grpc_op ops[4];
    size_t n = grove_grpc_call_request_ops(x, ops);
    if (grove_grpc_start_batch(x->call, ops, n, (void *)CALL_TAG_START) == GRPC_CALL_OK)
        pending[CALL_TAG_START] = true;
    grove_grpc_call_status_op(x, &ops[0]);
    if (grove_grpc_start_batch(x->call, ops, 1, (void *)CALL_TAG_STATUS) == GRPC_CALL_OK)
        pending[CALL_TAG_STATUS] = true;
    if (!pending[CALL_TAG_START] || !pending[CALL_TAG_STATUS]) {
        err = grove_error_set(GROVE_EPROTO, "cannot start the %s", what);
        grpc_call_cancel(x->call, NULL);
        cancelled = true;
    }
    /* One RECV_MESSAGE outstanding at a time; wake every poll_ms for *stop. */
    while (pending[CALL_TAG_START] || pending[CALL_TAG_STATUS] || pending[CALL_TAG_MESSAGE]) {
        if (!cancelled && !ended && !pending[CALL_TAG_MESSAGE]) {
            grove_grpc_call_recv_op(x, &ops[0]);
            if (grove_grpc_start_batch(x->call, ops, 1, (void *)CALL_TAG_MESSAGE) == GRPC_CALL_OK)
                pending[CALL_TAG_MESSAGE] = true;
            else
                ended = true;
        }
        if (!cancelled && (done || atomic_load(stop))) {
            grpc_call_cancel(x->call, NULL);
            cancelled = true;
        }
        grpc_event ev = grove_grpc_cq_next(x->cq, grove_grpc_deadline_ms(poll_ms));
        if (ev.type != GRPC_OP_COMPLETE)
            continue;
        intptr_t tag = (intptr_t)ev.tag;
        pending[tag] = false;
        if (tag != CALL_TAG_MESSAGE)
            continue;
        if (!x->recv) { /* the server ended the stream; the status follows */
            ended = true;
            continue;
        }
        grpc_slice body;
        bool have = grove_grpc_buffer_slice(x->recv, &body);
        grpc_byte_buffer_destroy(x->recv);
        x->recv = NULL;
        if (cancelled)
            continue;
        bool more = true;
        grove_err e = have ? fn(user, (const char *)GRPC_SLICE_START_PTR(body),
                                GRPC_SLICE_LENGTH(body), &more)
                           : grove_error_set(GROVE_EPROTO, "unreadable %s message", what);
        if (have)
            grpc_slice_unref(body);
        if (e)
            err = e;
        if (e || !more)
            done = true;
    }
    if (!err && !done && !atomic_load(stop)) {
        if (x->status != GRPC_STATUS_OK)
            err = grove_grpc_call_error(x);
        else
            err = grove_error_set(GROVE_EUNAVAIL, "the server ended the %s", what);
    }
    return err;
}
