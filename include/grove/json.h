/* The JSON wire codec (docs/protocol.md §9). Decoders validate strictly and fail
 * with GROVE_EINVAL and a located message ("changes[3].hlc.ts: expected
 * integer"); on success *out is a new message the caller frees with
 * grove_msg_free, on failure *out is NULL. Integers are exact; `value` and set
 * elements are kept as the sender's bytes. Encoders append to `out`. */
#ifndef GROVE_JSON_H
#define GROVE_JSON_H

#include "grove/model.h"

#define GROVE_JSON_MAX_DEPTH 64 /* deeper nesting is rejected */

grove_err grove_json_decode_pull_request(const char *json, size_t len,
                                         struct grove_pull_request **out);
grove_err grove_json_decode_pull_response(const char *json, size_t len,
                                          struct grove_pull_response **out);
grove_err grove_json_decode_push_request(const char *json, size_t len,
                                         struct grove_push_request **out);
grove_err grove_json_decode_push_response(const char *json, size_t len,
                                          struct grove_push_response **out);
/* A stream batch: a pull response object with the batch's "since" HLC. */
grove_err grove_json_decode_stream_batch(const char *json, size_t len,
                                         struct grove_pull_response **out);
/* A bare JSON array of change records (SSE `event: changes`, or one object
 * for `event: change`), decoded into a pull response with only `changes` set. */
grove_err grove_json_decode_changes(const char *json, size_t len, struct grove_pull_response **out);
/* Decodes a standalone HLC object. */
grove_err grove_json_decode_hlc(const char *json, size_t len, struct grove_hlc *out);

grove_err grove_json_encode_pull_request(const struct grove_pull_request *req,
                                         struct grove_buf *out);
/* Writes "changes" (always an array), "latest_hlc", and "has_more" when true. */
grove_err grove_json_encode_pull_response(const struct grove_pull_response *resp,
                                          struct grove_buf *out);
/* {"since":HLC,"changes":[...],"latest_hlc":HLC}: a streamed batch with the
 * stamps around it. */
grove_err grove_json_encode_stream_batch(const struct grove_pull_response *batch,
                                         struct grove_buf *out);
grove_err grove_json_encode_push_request(const struct grove_push_request *req,
                                         struct grove_buf *out);
grove_err grove_json_encode_push_response(const struct grove_push_response *resp,
                                          struct grove_buf *out);
/* A JSON array of change records. */
grove_err grove_json_encode_changes(const struct grove_change *changes, size_t count,
                                    struct grove_buf *out);
grove_err grove_json_encode_change(const struct grove_change *change, struct grove_buf *out);
grove_err grove_json_encode_hlc(const struct grove_hlc *hlc, struct grove_buf *out);
/* {"error":"<message>"} with the message escaped. */
grove_err grove_json_encode_error(const char *message, struct grove_buf *out);
/* Appends s as a JSON string literal (quotes and escapes added). */
grove_err grove_json_encode_string(const char *s, size_t len, struct grove_buf *out);

/* Checks that text is exactly one valid JSON value (RFC 8259: grammar, UTF-8,
 * escapes, depth limit). GROVE_EINVAL with the reason and byte offset. */
grove_err grove_json_validate(const char *json, size_t len);

#endif
