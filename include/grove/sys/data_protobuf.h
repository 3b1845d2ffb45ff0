/* Serving the Data service of proto/grove/data/v1/data.proto (docs/data-api.md
 * "gRPC"), for a transport: the core decodes each request's protobuf bytes,
 * calls the Data API (grove/data.h) and encodes the answer, so a transport
 * only moves bytes and maps a grove_err to its status (grove_err_to_grpc).
 * Decoding refuses what protobuf-c would let through unseen (a NUL byte in a
 * string, a field write with no op); the Data API checks the rest (schema,
 * JSON values, sizes) with its located messages. */
#ifndef GROVE_SYS_DATA_PROTOBUF_H
#define GROVE_SYS_DATA_PROTOBUF_H

#include "grove/data.h"

/* The unary methods of grove.data.v1.Data (Watch is a stream: below). */
enum grove_data_call {
    GROVE_DATA_CALL_WRITE,      /* WriteRequest -> WriteResponse */
    GROVE_DATA_CALL_WRITE_MANY, /* WriteManyRequest -> WriteManyResponse */
    GROVE_DATA_CALL_DELETE,     /* DeleteRequest -> DeleteResponse */
    GROVE_DATA_CALL_GET,        /* GetRequest -> GetResponse */
    GROVE_DATA_CALL_LIST,       /* ListRequest -> ListResponse */
};

/* Decodes a request of `call`, serves it on store for caller (grove/data.h,
 * "As a caller"; NULL: the node) and appends the encoded response to out. On
 * failure out is left as it was and grove_errmsg() says why (GROVE_EINVAL for
 * bytes that do not decode). */
grove_err grove_data_pb_serve(struct grove_store *store, const struct grove_caller *caller,
                              enum grove_data_call call, const char *data, size_t len,
                              struct grove_buf *out);

/* Decodes a WriteRequest, WriteManyRequest or DeleteRequest (call says which)
 * into a write of the Data API; *out is freed with grove_msg_free. The write
 * is not checked against a schema yet: grove_data_write does that. */
grove_err grove_data_pb_decode_write(enum grove_data_call call, const char *data, size_t len,
                                     struct grove_write_msg **out);

/* Decodes a WatchRequest and opens the watch it asks for. */
grove_err grove_data_pb_watch_open(struct grove_store *store, const struct grove_caller *caller,
                                   const char *data, size_t len, struct grove_watch **out);
/* Appends one event of a watch as a RowEvent. */
grove_err grove_data_pb_encode_event(const struct grove_row_event *event, struct grove_buf *out);

#endif
