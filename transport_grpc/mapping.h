/* Protobuf wire (proto/grove/sync/v1/sync.proto) <-> core model. The one place
 * that knows both the protobuf-c structs and struct grove_*: the transport
 * moves bytes, this file gives them meaning. Decoders validate like the JSON
 * codec (crdt_type, node ids, `value` and set elements must be valid JSON)
 * and fail with GROVE_EINVAL and a located message; on success *out is a new
 * message owned by the caller (grove_msg_free), on failure NULL. Encoders
 * append the packed bytes to `out`. */
#ifndef GROVE_TRANSPORT_GRPC_MAPPING_H
#define GROVE_TRANSPORT_GRPC_MAPPING_H

#include <stdint.h>

#include "grove/transport.h"

grove_err grove_grpc_encode_pull_request(const struct grove_pull_request *req,
                                         struct grove_buf *out);
grove_err grove_grpc_encode_pull_response(const struct grove_pull_response *resp,
                                          struct grove_buf *out);
grove_err grove_grpc_encode_push_request(const struct grove_push_request *req,
                                         struct grove_buf *out);
grove_err grove_grpc_encode_push_response(const struct grove_push_response *resp,
                                          struct grove_buf *out);
/* A StreamBatch: resp->since, resp->changes, resp->latest_hlc. */
grove_err grove_grpc_encode_stream_batch(const struct grove_pull_response *batch,
                                         struct grove_buf *out);

grove_err grove_grpc_decode_pull_request(const uint8_t *data, size_t len,
                                         struct grove_pull_request **out);
grove_err grove_grpc_decode_pull_response(const uint8_t *data, size_t len,
                                          struct grove_pull_response **out);
grove_err grove_grpc_decode_push_request(const uint8_t *data, size_t len,
                                         struct grove_push_request **out);
grove_err grove_grpc_decode_push_response(const uint8_t *data, size_t len,
                                          struct grove_push_response **out);
/* Into a pull response with `since` set from the batch. */
grove_err grove_grpc_decode_stream_batch(const uint8_t *data, size_t len,
                                         struct grove_pull_response **out);

#endif
