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
