/* One client call's state, from creation to release, for the sync dialer
 * (grpc_client.c) and the Data API client (client/client_grpc.c): a unary
 * call on a pluck queue, or a server stream on a next queue. */
#include <string.h>

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
