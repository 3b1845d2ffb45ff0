/* The Data service (grove.data.v1.Data, docs/data-api.md "gRPC") on the gRPC
 * listener, beside the sync service and behind the same bearer token. The
 * listener (grpc_server.c) runs the calls; this file hands their bytes to the
 * core's Data service mapping (grove/sys/data_protobuf.h) and feeds a Watch
 * stream one RowEvent per message. */
#include <stdlib.h>

#include "grove/server.h"
#include "grove/sys/data_protobuf.h"
#include "grpc_internal.h"

static const enum grove_data_call gdata_calls[GT_METHODS] = {
    [GT_DATA_WRITE] = GROVE_DATA_CALL_WRITE,   [GT_DATA_WRITE_MANY] = GROVE_DATA_CALL_WRITE_MANY,
    [GT_DATA_DELETE] = GROVE_DATA_CALL_DELETE, [GT_DATA_GET] = GROVE_DATA_CALL_GET,
    [GT_DATA_LIST] = GROVE_DATA_CALL_LIST,
};

grove_err grove_grpc_data_serve(struct grove_server *server, const struct grove_caller *caller,
                                enum gt_method method, const char *data, size_t len,
                                struct grove_buf *out)
{
    return grove_data_pb_serve(grove_server_store(server), caller, gdata_calls[method], data, len,
                               out);
}

/* A watch hands over its events a batch at a time; the stream sends them one
 * message each. */
struct gdata_watch {
    struct grove_watch *watch;
    struct grove_watch_batch *batch;
    size_t sent; /* events of batch already sent */
};

static grove_err gdata_watch_poll(void *self, struct grove_buf *out)
{
    struct gdata_watch *w = self;
    if (!w->batch || w->sent == w->batch->count) {
        grove_msg_free(w->batch);
        w->batch = NULL;
        w->sent = 0;
        grove_err err = grove_data_watch_next(w->watch, 0, &w->batch); /* 0: no wait */
        if (err)
            return err;
        if (w->batch->count == 0)
            return GROVE_ETIMEOUT;
    }
    return grove_data_pb_encode_event(&w->batch->events[w->sent++], out);
}

static const char *gdata_watch_cursor(void *self)
{
    struct gdata_watch *w = self;
    return grove_data_watch_cursor(w->watch);
}

static void gdata_watch_close(void *self)
{
    struct gdata_watch *w = self;
    grove_msg_free(w->batch);
    grove_data_watch_close(w->watch);
    free(w);
}

static const struct gt_stream_ops gdata_watch_ops = {
    .poll = gdata_watch_poll,
    .cursor = gdata_watch_cursor,
    .close = gdata_watch_close,
};

grove_err grove_grpc_watch_open(struct grove_server *server, const struct grove_caller *caller,
                                const char *data, size_t len, const struct gt_stream_ops **ops,
                                void **self)
{
    *self = NULL;
    struct gdata_watch *w = calloc(1, sizeof *w);
    if (!w)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    grove_err err =
        grove_data_pb_watch_open(grove_server_store(server), caller, data, len, &w->watch);
    if (err) {
        free(w);
        return err;
    }
    *ops = &gdata_watch_ops;
    *self = w;
    return GROVE_OK;
}
