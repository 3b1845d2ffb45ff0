/* The checks every codec's decoded messages pass, and the JSON codec's table
 * (grove/codec.h). The protobuf codec is in codec_protobuf.c. */
#include <string.h>

#include "grove/codec.h"
#include "grove/json.h"
#include "grove/sys/error.h"

/* min 0 lets a puller name no node: nothing it pulls is then echo-filtered. */
static grove_err check_node_id(const char *id, size_t min, const char *where)
{
    size_t n = id ? strlen(id) : 0;
    if (n < min || n > GROVE_NODE_ID_MAX)
        return grove_error_set(GROVE_EINVAL, "%s: must be %zu to %d bytes (got %zu)", where, min,
                               GROVE_NODE_ID_MAX, n);
    return GROVE_OK;
}

static grove_err check_hlc(const struct grove_hlc *h, const char *where)
{
    if (h->ts < 0)
        return grove_error_set(GROVE_EINVAL, "%s.ts: negative", where);
    return GROVE_OK;
}

static grove_err check_changes(const struct grove_change *changes, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        grove_err err = check_node_id(changes[i].node_id, 1, "node_id");
        if (!err)
            err = check_hlc(&changes[i].hlc, "hlc");
        if (err)
            return grove_error_prefix(err, "changes[%zu].", i);
    }
    return GROVE_OK;
}

grove_err grove_pull_request_check(const struct grove_pull_request *req)
{
    grove_err err = check_node_id(req->node_id, 0, "node_id");
    if (!err)
        err = check_hlc(&req->since, "since");
    return err ? err : grove_pull_filter_check(&req->filter);
}

grove_err grove_pull_response_check(const struct grove_pull_response *resp)
{
    grove_err err = check_hlc(&resp->since, "since");
    if (!err)
        err = check_hlc(&resp->latest_hlc, "latest_hlc");
    return err ? err : check_changes(resp->changes, resp->count);
}

grove_err grove_push_request_check(const struct grove_push_request *req)
{
    grove_err err = check_node_id(req->node_id, 1, "node_id");
    return err ? err : check_changes(req->changes, req->count);
}

grove_err grove_push_response_check(const struct grove_push_response *resp)
{
    return check_hlc(&resp->latest_hlc, "latest_hlc");
}

/* The JSON decoders followed by the checks, so the JSON codec accepts what
 * the protobuf codec accepts and nothing more. */
#define CODEC_JSON_CHECKED(name, type, check)                                                      \
    static grove_err codec_json_decode_##name(const char *data, size_t len,                        \
                                              struct grove_##type **out)                           \
    {                                                                                              \
        grove_err err = grove_json_decode_##name(data, len, out);                                  \
        if (!err && (err = check(*out))) {                                                         \
            grove_msg_free(*out);                                                                  \
            *out = NULL;                                                                           \
        }                                                                                          \
        return err;                                                                                \
    }
CODEC_JSON_CHECKED(pull_request, pull_request, grove_pull_request_check)
CODEC_JSON_CHECKED(pull_response, pull_response, grove_pull_response_check)
CODEC_JSON_CHECKED(push_request, push_request, grove_push_request_check)
CODEC_JSON_CHECKED(push_response, push_response, grove_push_response_check)
CODEC_JSON_CHECKED(stream_batch, pull_response, grove_pull_response_check)

const struct grove_codec grove_codec_json = {
    .name = "json",
    .encode_pull_request = grove_json_encode_pull_request,
    .encode_pull_response = grove_json_encode_pull_response,
    .encode_push_request = grove_json_encode_push_request,
    .encode_push_response = grove_json_encode_push_response,
    .encode_stream_batch = grove_json_encode_stream_batch,
    .decode_pull_request = codec_json_decode_pull_request,
    .decode_pull_response = codec_json_decode_pull_response,
    .decode_push_request = codec_json_decode_push_request,
    .decode_push_response = codec_json_decode_push_response,
    .decode_stream_batch = codec_json_decode_stream_batch,
};
