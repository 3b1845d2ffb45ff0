/* The gRPC transport on the gRPC C core (grpc://, grpcs://): its ops table
 * and what both roles share. The dialer is in grpc_client.c, the listener in
 * grpc_server.c; the protobuf codec in the core gives the bytes meaning. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/support/log.h>

#include "grove/transport_grpc.h"
#include "grpc_internal.h"

const char *const grove_grpc_method_paths[GT_METHODS] = {
    [GT_PULL] = "/grove.sync.v1.Sync/Pull",
    [GT_PUSH] = "/grove.sync.v1.Sync/Push",
    [GT_STREAM] = "/grove.sync.v1.Sync/Stream",
    [GT_DATA_WRITE] = "/grove.data.v1.Data/Write",
    [GT_DATA_WRITE_MANY] = "/grove.data.v1.Data/WriteMany",
    [GT_DATA_DELETE] = "/grove.data.v1.Data/Delete",
    [GT_DATA_GET] = "/grove.data.v1.Data/Get",
    [GT_DATA_LIST] = "/grove.data.v1.Data/List",
    [GT_DATA_WATCH] = "/grove.data.v1.Data/Watch",
    [GT_HEALTH_CHECK] = "/grpc.health.v1.Health/Check",
};

grpc_slice grove_grpc_slice_take(struct grove_buf *buf)
{
    grpc_slice slice = grpc_slice_new(buf->data, buf->len, free);
    buf->data = NULL;
    buf->len = buf->cap = 0;
    return slice;
}

grpc_byte_buffer *grove_grpc_buffer_take(struct grove_buf *buf)
{
    grpc_slice slice = grove_grpc_slice_take(buf);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);
    return bb;
}

bool grove_grpc_buffer_slice(grpc_byte_buffer *bb, grpc_slice *out)
{
    grpc_byte_buffer_reader reader;
    if (!grpc_byte_buffer_reader_init(&reader, bb))
        return false;
    *out = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    return true;
}

gpr_timespec grove_grpc_deadline_ms(int ms)
{
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

void grove_grpc_target(const struct grove_url *u, char *out, size_t size)
{
    if (strchr(u->host, ':'))
        snprintf(out, size, "[%s]:%d", u->host, u->port);
    else
        snprintf(out, size, "%s:%d", u->host, u->port);
}

grpc_call_error grove_grpc_start_batch(grpc_call *call, const grpc_op *ops, size_t n, void *tag)
{
    GT_TAG_SENT(tag);
    return grpc_call_start_batch(call, ops, n, tag, NULL);
}

grpc_event grove_grpc_cq_next(grpc_completion_queue *cq, gpr_timespec deadline)
{
    grpc_event ev = grpc_completion_queue_next(cq, deadline, NULL);
    if (ev.type == GRPC_OP_COMPLETE)
        GT_TAG_RECEIVED(ev.tag);
    return ev;
}

grpc_event grove_grpc_cq_pluck(grpc_completion_queue *cq, void *tag, gpr_timespec deadline)
{
    grpc_event ev = grpc_completion_queue_pluck(cq, tag, deadline, NULL);
    if (ev.type == GRPC_OP_COMPLETE)
        GT_TAG_RECEIVED(ev.tag);
    return ev;
}

static const char *const gt_schemes[] = {"grpc", "grpcs", NULL};

static const struct grove_transport gt_transport = {
    .name = "grpc",
    .schemes = gt_schemes,
    .codec = &grove_codec_protobuf,
    .dialer = &grove_grpc_dialer_ops,
    .listener = &grove_grpc_listener_ops,
};

/* The gRPC core's own log lines ("E1201 12:00:00 chttp2_server.cc:...")
 * would break the one-event-per-line format: they go through ours, at
 * debug, since every failure that matters comes back as our own error
 * (a port in use is the listener's error, a refused call the peer's). */
static void gt_log(gpr_log_func_args *args)
{
    if (!grove_log_enabled(GROVE_LOG_DEBUG))
        return;
    char where[256], source[300], message[1024];
    snprintf(where, sizeof where, "%s:%d", args->file ? args->file : "?", args->line);
    grove_log_kv(GROVE_LOG_DEBUG, "grpc core", "severity=%s source=%s message=%s",
                 gpr_log_severity_string(args->severity),
                 grove_log_quote(source, sizeof source, where),
                 grove_log_quote(message, sizeof message, args->message ? args->message : ""));
}

static pthread_once_t gt_log_once = PTHREAD_ONCE_INIT;

static void gt_log_install(void)
{
    gpr_set_log_function(gt_log);
}

const struct grove_transport *grove_transport_grpc(void)
{
    pthread_once(&gt_log_once, gt_log_install);
    return &gt_transport;
}
