/* Wire codecs: the two encodings of the sync messages (docs/protocol.md §9
 * for JSON, §11 for protobuf). A transport names the codec it speaks; the
 * core's exchange (grove/sys/transport.h) encodes, decodes and checks with it,
 * so no transport decodes a message itself.
 *
 * Decoders validate strictly and fail with GROVE_EINVAL and a located message
 * ("changes[3].hlc.ts: expected integer"); on success *out is a new message
 * the caller frees with grove_msg_free, on failure NULL. Encoders append to
 * `out`. A stream batch is a pull response whose `since` is set: the cursor
 * the batch starts after. */
#ifndef GROVE_CODEC_H
#define GROVE_CODEC_H

#include "grove/model.h"

struct grove_codec {
    const char *name; /* "json", "protobuf" */
    grove_err (*encode_pull_request)(const struct grove_pull_request *req, struct grove_buf *out);
    grove_err (*encode_pull_response)(const struct grove_pull_response *resp,
                                      struct grove_buf *out);
    grove_err (*encode_push_request)(const struct grove_push_request *req, struct grove_buf *out);
    grove_err (*encode_push_response)(const struct grove_push_response *resp,
                                      struct grove_buf *out);
    grove_err (*encode_stream_batch)(const struct grove_pull_response *batch,
                                     struct grove_buf *out);
    grove_err (*decode_pull_request)(const char *data, size_t len, struct grove_pull_request **out);
    grove_err (*decode_pull_response)(const char *data, size_t len,
                                      struct grove_pull_response **out);
    grove_err (*decode_push_request)(const char *data, size_t len, struct grove_push_request **out);
    grove_err (*decode_push_response)(const char *data, size_t len,
                                      struct grove_push_response **out);
    grove_err (*decode_stream_batch)(const char *data, size_t len,
                                     struct grove_pull_response **out);
};

/* Grove's JSON wire format (HTTP, nng, inproc). */
extern const struct grove_codec grove_codec_json;
/* proto/grove/sync/v1/sync.proto (gRPC). */
extern const struct grove_codec grove_codec_protobuf;

/* What every codec's decoded message must satisfy beyond its own grammar, so
 * that each codec and transport accepts exactly the same messages: node ids
 * of 1 to GROVE_NODE_ID_MAX bytes (a pull request may name none: it is then
 * not echo-filtered), HLC timestamps not negative. GROVE_EINVAL
 * with a located message. Every decoder of both codecs ends with these. */
grove_err grove_pull_request_check(const struct grove_pull_request *req);
grove_err grove_pull_response_check(const struct grove_pull_response *resp);
grove_err grove_push_request_check(const struct grove_push_request *req);
grove_err grove_push_response_check(const struct grove_push_response *resp);

#endif
