/* The gRPC dialer: one channel per peer; each unary call has its own pluck
 * queue and a deadline from the dial options; Stream is consumed with short
 * cq_next waits so *stop is honoured within 200 ms. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc_security.h>

#include "grpc_internal.h"
#include "grove/sys/error.h"

/* How often a waiting call looks at its peer's cancel flag. */
#define GCLI_CANCEL_CHECK_MS 200

struct gcli {
    grpc_channel *channel;
    void *methods[GT_METHODS];
    char *authorization; /* "Bearer <token>" or NULL */
    int timeout_ms;
    atomic_bool cancelled; /* gcli_cancel: calls in flight end, new ones fail */
};

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

    grpc_init();
    struct gcli *c = calloc(1, sizeof *c);
    if (!c) {
        grpc_shutdown();
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    }
    c->timeout_ms = opts->timeout_ms;
    if (opts->token && !(c->authorization = grove_bearer_value(opts->token))) {
        err = grove_error_set(GROVE_ENOMEM, "out of memory");
        goto fail;
    }
    if ((err = grove_grpc_channel_open(url, opts, &c->channel)))
        goto fail;
    for (int m = 0; m < GT_METHODS; m++)
        c->methods[m] =
            grpc_channel_register_call(c->channel, grove_grpc_method_paths[m], NULL, NULL);
    *self_out = c;
    return GROVE_OK;
fail:
    gcli_close(c);
    return err;
}

static void gcli_slice_release(void *owner)
{
    grpc_slice *slice = owner;
    grpc_slice_unref(*slice);
    free(slice);
}

/* The call's completion; a cancelled peer's call is cancelled (its
 * completion still comes, at once). */
static grpc_event gcli_wait(struct gcli *c, struct grove_grpc_call *x)
{
    for (;;) {
        if (atomic_load(&c->cancelled))
            grpc_call_cancel(x->call, NULL);
        grpc_event ev =
            grove_grpc_cq_pluck(x->cq, x->call, grove_grpc_deadline_ms(GCLI_CANCEL_CHECK_MS));
        if (ev.type != GRPC_QUEUE_TIMEOUT)
            return ev;
    }
}

static void gcli_cancel(void *self, bool on)
{
    struct gcli *c = self;
    atomic_store(&c->cancelled, on);
}

/* One attempt at a unary call; *unconnected when it found no connection
 * (grove_grpc_call_unconnected). */
static grove_err gcli_attempt(struct gcli *c, enum grove_call_kind kind, grpc_slice payload,
                              struct grove_reply *reply, bool *unconnected)
{
    grpc_slice *answer = malloc(sizeof *answer);
    if (!answer)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    struct grove_grpc_call x;
    grove_grpc_call_open(&x, c->channel, c->methods[kind == GROVE_CALL_PULL ? GT_PULL : GT_PUSH],
                         false, grove_grpc_deadline_ms(c->timeout_ms), c->authorization,
                         grpc_raw_byte_buffer_create(&payload, 1));
    grove_err err = GROVE_OK;
    grpc_op ops[6];
    size_t n = grove_grpc_call_request_ops(&x, ops);
    grove_grpc_call_recv_op(&x, &ops[n++]);
    grove_grpc_call_status_op(&x, &ops[n++]);
    grpc_call_error rc = grove_grpc_start_batch(x.call, ops, n, x.call);
    if (rc != GRPC_CALL_OK) {
        err = grove_error_set(GROVE_EPROTO, "%s", grpc_call_error_to_string(rc));
        goto done;
    }
    grpc_event ev = gcli_wait(c, &x);
    if (atomic_load(&c->cancelled)) {
        err = grove_error_set(GROVE_ESHUTDOWN, "stopped");
        goto done;
    }
    if (ev.type != GRPC_OP_COMPLETE || !ev.success) {
        err = grove_error_set(GROVE_EUNAVAIL, "call failed");
        goto done;
    }
    if (x.status != GRPC_STATUS_OK) {
        *unconnected = grove_grpc_call_unconnected(&x);
        err = grove_grpc_call_error(&x);
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
    grove_grpc_call_close(&x);
    free(answer);
    return err;
}

static grove_err gcli_call(void *self, enum grove_call_kind kind, const struct grove_buf *request,
                           struct grove_reply *reply)
{
    struct gcli *c = self;
    grpc_slice payload = grpc_slice_from_copied_buffer(request->data, request->len);
    bool unconnected = false;
    grove_err err = gcli_attempt(c, kind, payload, reply, &unconnected);
    if (err && unconnected && !atomic_load(&c->cancelled)) {
        grove_grpc_channel_await_attempt(c->channel);
        unconnected = false;
        err = gcli_attempt(c, kind, payload, reply, &unconnected);
    }
    grpc_slice_unref(payload);
    return err;
}

/* The subscriber's batch fn, for each message of the stream. */
struct gcli_stream {
    grove_batch_fn fn;
    void *user;
};

static grove_err gcli_on_message(void *user, const char *data, size_t len, bool *more)
{
    const struct gcli_stream *st = user;
    (void)more;
    return grove_stream_deliver(&grove_codec_protobuf, data, len, st->fn, st->user);
}

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
    struct grove_grpc_call x;
    grove_grpc_call_open(&x, c->channel, c->methods[GT_STREAM], true,
                         gpr_inf_future(GPR_CLOCK_REALTIME), c->authorization,
                         grove_grpc_buffer_take(&buf));
    struct gcli_stream st = {fn, user};
    err = grove_grpc_call_read_stream(&x, 200, stop, gcli_on_message, &st, "stream");
    grove_grpc_call_close(&x);
    return err;
}

const struct grove_dialer_ops grove_grpc_dialer_ops = {
    .open = gcli_open,
    .call = gcli_call,
    .cancel = gcli_cancel,
    .subscribe = gcli_subscribe,
    .close = gcli_close,
};
