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

static void gcli_cancel(void *self, bool on)
{
    struct gcli *c = self;
    atomic_store(&c->cancelled, on);
}

static grove_err gcli_call(void *self, enum grove_call_kind kind, const struct grove_buf *request,
                           struct grove_reply *reply)
{
    struct gcli *c = self;
    grpc_slice *answer = malloc(sizeof *answer);
    if (!answer)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    grpc_slice payload = grpc_slice_from_copied_buffer(request->data, request->len);
    grove_err err =
        grove_grpc_unary(c->channel, c->methods[kind == GROVE_CALL_PULL ? GT_PULL : GT_PUSH],
                         c->timeout_ms, c->authorization, payload, &c->cancelled, answer);
    grpc_slice_unref(payload);
    if (err) {
        free(answer);
        return err;
    }
    *reply = (struct grove_reply){.data = (const char *)GRPC_SLICE_START_PTR(*answer),
                                  .len = GRPC_SLICE_LENGTH(*answer),
                                  .release = gcli_slice_release,
                                  .owner = answer};
    return GROVE_OK;
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
