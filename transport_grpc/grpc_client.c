/* The gRPC dialer: one channel per peer; each unary call has its own pluck
 * queue and a deadline from the dial options; Stream is consumed with short
 * cq_next waits so *stop is honoured within 200 ms. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc_security.h>

#include "grpc_internal.h"
#include "grove/sys/error.h"

struct gcli {
    grpc_channel *channel;
    void *methods[GT_METHODS];
    char *authorization; /* "Bearer <token>" or NULL */
    int timeout_ms;
};

static grove_err gcli_credentials(const struct grove_dial_options *opts, bool tls,
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

static void gcli_close(void *self)
{
    struct gcli *c = self;
    if (!c)
        return;
    if (c->channel)
        grpc_channel_destroy(c->channel);
    free(c->authorization);
    free(c);
    grpc_shutdown();
}

static grove_err gcli_open(const struct grove_url *url, const struct grove_dial_options *opts,
                           const struct grove_codec **codec, void **self_out)
{
    (void)codec;
    *self_out = NULL;
    grove_err err;
    if (url->port == 0)
        return grove_error_set(GROVE_EINVAL, "a gRPC peer needs a port");
    bool tls = strcmp(url->scheme, "grpcs") == 0;
    char target[300];
    grove_grpc_target(url, target, sizeof target);

    grpc_init();
    struct gcli *c = calloc(1, sizeof *c);
    grpc_channel_credentials *creds = NULL;
    if (!c) {
        grpc_shutdown();
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    }
    c->timeout_ms = opts->timeout_ms;
    if (opts->token && !(c->authorization = grove_bearer_value(opts->token))) {
        err = grove_error_set(GROVE_ENOMEM, "out of memory");
        goto fail;
    }
    if ((err = gcli_credentials(opts, tls, &creds)))
        goto fail;
    int connect_ms = opts->connect_timeout_ms;
    grpc_arg arg_list[] = {
        {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, .value.integer = -1},
        /* A restarted peer should be found again within seconds, not after
         * gRPC's default two-minute reconnect backoff; the syncer has its own. */
        {.type = GRPC_ARG_INTEGER,
         .key = GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
         .value.integer = 200},
        /* gRPC uses the minimum backoff as the connect timeout as well. */
        {.type = GRPC_ARG_INTEGER,
         .key = GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
         .value.integer = connect_ms},
        {.type = GRPC_ARG_INTEGER,
         .key = GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
         .value.integer = connect_ms > 2000 ? connect_ms : 2000},
        /* Each peer gets its own connection even when two point at one host. */
        {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, .value.integer = 1},
    };
    grpc_channel_args args = {.num_args = sizeof arg_list / sizeof arg_list[0], .args = arg_list};
    c->channel = grpc_channel_create(target, creds, &args);
    grpc_channel_credentials_release(creds);
    if (!c->channel) {
        err = grove_error_set(GROVE_EUNAVAIL, "cannot create a gRPC channel to %s", target);
        goto fail;
    }
    for (int m = 0; m < GT_METHODS; m++)
        c->methods[m] =
            grpc_channel_register_call(c->channel, grove_grpc_method_paths[m], NULL, NULL);
    *self_out = c;
    return GROVE_OK;
fail:
    gcli_close(c);
    return err;
}

/* Initial metadata carrying the bearer token, if any. */
static size_t gcli_metadata(const struct gcli *c, grpc_metadata *md)
{
    if (!c->authorization)
        return 0;
    memset(md, 0, sizeof *md);
    md->key = grpc_slice_from_static_string("authorization");
    md->value = grpc_slice_from_static_string(c->authorization);
    return 1;
}

static grove_err gcli_status_error(grpc_status_code status, const grpc_slice *details)
{
    return grove_error_set_native(grove_err_from_grpc(status), status, "%s: %.*s",
                                  grove_grpc_status_name(status), (int)GRPC_SLICE_LENGTH(*details),
                                  (const char *)GRPC_SLICE_START_PTR(*details));
}

static void gcli_slice_release(void *owner)
{
    grpc_slice *slice = owner;
    grpc_slice_unref(*slice);
    free(slice);
}

/* What one call holds, unary or stream, from creation to release. */
struct gcli_call {
    grpc_completion_queue *cq;
    grpc_call *call;
    grpc_byte_buffer *send; /* the request message */
    grpc_byte_buffer *recv; /* the last message received */
    grpc_metadata md;       /* the bearer token */
    grpc_metadata_array initial, trailing;
    grpc_status_code status;
    grpc_slice details;
    bool stream; /* a Stream call on a next queue, else unary on a pluck queue */
};

static void gcli_call_open(struct gcli_call *x, const struct gcli *c, enum gt_method method,
                           gpr_timespec deadline, grpc_byte_buffer *send)
{
    memset(x, 0, sizeof *x);
    x->stream = method == GT_STREAM;
    grpc_completion_queue *cq = x->stream ? grpc_completion_queue_create_for_next(NULL)
                                          : grpc_completion_queue_create_for_pluck(NULL);
    x->cq = cq;
    x->call = grpc_channel_create_registered_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq,
                                                  c->methods[method], deadline, NULL);
    x->send = send;
    grpc_metadata_array_init(&x->initial);
    grpc_metadata_array_init(&x->trailing);
    x->status = GRPC_STATUS_UNKNOWN;
    x->details = grpc_empty_slice();
}

/* Fills ops[0..3]: initial metadata with the token, the request, the close
 * and the answer's initial metadata. Returns 4. */
static size_t gcli_request_ops(struct gcli_call *x, const struct gcli *c, grpc_op *ops)
{
    memset(ops, 0, 4 * sizeof *ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = gcli_metadata(c, &x->md);
    ops[0].data.send_initial_metadata.metadata = &x->md;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = x->send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &x->initial;
    return 4;
}

static void gcli_recv_op(struct gcli_call *x, grpc_op *op)
{
    memset(op, 0, sizeof *op);
    op->op = GRPC_OP_RECV_MESSAGE;
    op->data.recv_message.recv_message = &x->recv;
}

static void gcli_status_op(struct gcli_call *x, grpc_op *op)
{
    memset(op, 0, sizeof *op);
    op->op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    op->data.recv_status_on_client.trailing_metadata = &x->trailing;
    op->data.recv_status_on_client.status = &x->status;
    op->data.recv_status_on_client.status_details = &x->details;
}

/* Releases the call and its queue, once nothing of it is pending. */
static void gcli_call_close(struct gcli_call *x)
{
    grpc_slice_unref(x->details);
    grpc_metadata_array_destroy(&x->initial);
    grpc_metadata_array_destroy(&x->trailing);
    grpc_byte_buffer_destroy(x->send);
    if (x->recv)
        grpc_byte_buffer_destroy(x->recv);
    grpc_call_unref(x->call);
    grpc_completion_queue_shutdown(x->cq);
    while (x->stream && grove_grpc_cq_next(x->cq, gpr_inf_future(GPR_CLOCK_REALTIME)).type !=
                            GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(x->cq);
}

/* One unary call: the request's bytes out, the answer's slice back. */
static grove_err gcli_call(void *self, enum grove_call_kind kind, const struct grove_buf *request,
                           struct grove_reply *reply)
{
    struct gcli *c = self;
    grpc_slice *answer = malloc(sizeof *answer);
    if (!answer)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    grpc_slice payload = grpc_slice_from_copied_buffer(request->data, request->len);
    struct gcli_call x;
    gcli_call_open(&x, c, kind == GROVE_CALL_PULL ? GT_PULL : GT_PUSH,
                   grove_grpc_deadline_ms(c->timeout_ms), grpc_raw_byte_buffer_create(&payload, 1));
    grpc_slice_unref(payload);
    grove_err err = GROVE_OK;
    grpc_op ops[6];
    size_t n = gcli_request_ops(&x, c, ops);
    gcli_recv_op(&x, &ops[n++]);
    gcli_status_op(&x, &ops[n++]);
    grpc_call_error rc = grove_grpc_start_batch(x.call, ops, n, x.call);
    if (rc != GRPC_CALL_OK) {
        err = grove_error_set(GROVE_EPROTO, "%s", grpc_call_error_to_string(rc));
        goto done;
    }
    grpc_event ev = grove_grpc_cq_pluck(x.cq, x.call, gpr_inf_future(GPR_CLOCK_REALTIME));
    if (ev.type != GRPC_OP_COMPLETE || !ev.success) {
        err = grove_error_set(GROVE_EUNAVAIL, "call failed");
        goto done;
    }
    if (x.status != GRPC_STATUS_OK) {
        err = gcli_status_error(x.status, &x.details);
        goto done;
    }
    if (!x.recv || !grove_grpc_buffer_slice(x.recv, answer)) {
        err = grove_error_set(GROVE_EPROTO, "OK without a response message");
        goto done;
    }
    *reply = (struct grove_reply){.data = (const char *)GRPC_SLICE_START_PTR(*answer),
                                  .len = GRPC_SLICE_LENGTH(*answer),
                                  .release = gcli_slice_release,
                                  .owner = answer};
    answer = NULL;
done:
    gcli_call_close(&x);
    free(answer);
    return err;
}

/* Tags of the stream consumer's batches. */
enum { GCLI_TAG_START = 1, GCLI_TAG_STATUS, GCLI_TAG_MESSAGE, GCLI_TAGS };

static grove_err gcli_subscribe(void *self, const struct grove_pull_request *req, grove_batch_fn fn,
                                void *user, const atomic_bool *stop)
{
    struct gcli *c = self;
    struct grove_buf buf = {0};
    grove_err err = grove_codec_protobuf.encode_pull_request(req, &buf);
    if (err) {
        grove_buf_free(&buf);
        return err;
    }
    struct gcli_call x;
    gcli_call_open(&x, c, GT_STREAM, gpr_inf_future(GPR_CLOCK_REALTIME),
                   grove_grpc_buffer_take(&buf));
    bool pending[GCLI_TAGS] = {false};
    bool cancelled = false, ended = false;
    grpc_op ops[4];
    size_t n = gcli_request_ops(&x, c, ops);
    if (grove_grpc_start_batch(x.call, ops, n, (void *)GCLI_TAG_START) == GRPC_CALL_OK)
        pending[GCLI_TAG_START] = true;
    gcli_status_op(&x, &ops[0]);
    if (grove_grpc_start_batch(x.call, ops, 1, (void *)GCLI_TAG_STATUS) == GRPC_CALL_OK)
        pending[GCLI_TAG_STATUS] = true;
    if (!pending[GCLI_TAG_START] || !pending[GCLI_TAG_STATUS]) {
        err = grove_error_set(GROVE_EPROTO, "cannot start the stream");
        grpc_call_cancel(x.call, NULL);
        cancelled = true;
    }

    /* Keep one RECV_MESSAGE outstanding; wake every 200 ms to honour *stop. */
    while (pending[GCLI_TAG_START] || pending[GCLI_TAG_STATUS] || pending[GCLI_TAG_MESSAGE]) {
        if (!cancelled && !ended && !pending[GCLI_TAG_MESSAGE]) {
            gcli_recv_op(&x, &ops[0]);
            if (grove_grpc_start_batch(x.call, ops, 1, (void *)GCLI_TAG_MESSAGE) == GRPC_CALL_OK)
                pending[GCLI_TAG_MESSAGE] = true;
            else
                ended = true;
        }
        if (!cancelled && atomic_load(stop)) {
            grpc_call_cancel(x.call, NULL);
            cancelled = true;
        }
        grpc_event ev = grove_grpc_cq_next(x.cq, grove_grpc_deadline_ms(200));
        if (ev.type != GRPC_OP_COMPLETE)
            continue;
        intptr_t tag = (intptr_t)ev.tag;
        pending[tag] = false;
        if (tag != GCLI_TAG_MESSAGE)
            continue;
        if (!x.recv) { /* the server ended the stream; the status follows */
            ended = true;
            continue;
        }
        grpc_slice body;
        bool have = grove_grpc_buffer_slice(x.recv, &body);
        grpc_byte_buffer_destroy(x.recv);
        x.recv = NULL;
        if (cancelled || !have)
            continue;
        grove_err e =
            grove_stream_deliver(&grove_codec_protobuf, (const char *)GRPC_SLICE_START_PTR(body),
                                 GRPC_SLICE_LENGTH(body), fn, user);
        grpc_slice_unref(body);
        if (e) {
            err = e;
            grpc_call_cancel(x.call, NULL);
            cancelled = true;
        }
    }
    if (!err && !atomic_load(stop)) {
        if (x.status != GRPC_STATUS_OK)
            err = gcli_status_error(x.status, &x.details);
        else
            err = grove_error_set(GROVE_EUNAVAIL, "stream ended");
    }
    gcli_call_close(&x);
    return err;
}

const struct grove_dialer_ops grove_grpc_dialer_ops = {
    .open = gcli_open,
    .call = gcli_call,
    .subscribe = gcli_subscribe,
    .close = gcli_close,
};
