/* The serving half of the codec exchange, and the decoding of stream frames
 * a dialer receives (grove/sys/transport.h): bytes in, decode, serve, encode,
 * bytes out, the same way for every transport. */
#include "grove/sys/transport.h"
#include "grove/sys/error.h"

static grove_err exchange_pull(struct grove_server *server, const char *peer_addr,
                               const struct grove_codec *codec, const char *data, size_t len,
                               struct grove_buf *out)
{
    struct grove_pull_request *req = NULL;
    struct grove_pull_response *resp = NULL;
    grove_err err = codec->decode_pull_request(data, len, &req);
    if (!err) {
        req->peer_addr = peer_addr;
        err = grove_server_pull(server, req, &resp);
    }
    if (!err)
        err = codec->encode_pull_response(resp, out);
    grove_msg_free(req);
    grove_msg_free(resp);
    return err;
}

static grove_err exchange_push(struct grove_server *server, const char *peer_addr,
                               const struct grove_codec *codec, const char *data, size_t len,
                               struct grove_buf *out)
{
    struct grove_push_request *req = NULL;
    struct grove_push_response *resp = NULL;
    grove_err err = codec->decode_push_request(data, len, &req);
    if (!err) {
        req->peer_addr = peer_addr;
        err = grove_server_push(server, req, &resp);
    }
    if (!err)
        err = codec->encode_push_response(resp, out);
    grove_msg_free(req);
    grove_msg_free(resp);
    return err;
}

grove_err grove_serve_from(struct grove_server *server, const char *peer_addr,
                           const struct grove_codec *codec, enum grove_call_kind kind,
                           const char *data, size_t len, struct grove_buf *out)
{
    size_t had = out->len;
    grove_err err = kind == GROVE_CALL_PULL
                        ? exchange_pull(server, peer_addr, codec, data, len, out)
                        : exchange_push(server, peer_addr, codec, data, len, out);
    if (err)
        out->len = had; /* nothing half-encoded goes out */
    return err;
}

grove_err grove_serve(struct grove_server *server, const struct grove_codec *codec,
                      enum grove_call_kind kind, const char *data, size_t len,
                      struct grove_buf *out)
{
    return grove_serve_from(server, NULL, codec, kind, data, len, out);
}

grove_err grove_serve_stream_open(struct grove_server *server, const struct grove_codec *codec,
                                  const char *data, size_t len, struct grove_server_stream **out)
{
    struct grove_pull_request *req = NULL;
    *out = NULL;
    grove_err err = codec->decode_pull_request(data, len, &req);
    if (!err)
        err = grove_server_stream_open(server, req, out);
    grove_msg_free(req);
    return err;
}

grove_err grove_serve_stream_next(struct grove_server_stream *stream,
                                  const struct grove_codec *codec, int timeout_ms,
                                  struct grove_buf *out)
{
    struct grove_pull_response *batch = NULL;
    size_t had = out->len;
    grove_err err = grove_server_stream_next(stream, timeout_ms, &batch);
    if (!err)
        err = codec->encode_stream_batch(batch, out);
    if (err)
        out->len = had;
    grove_msg_free(batch);
    return err;
}

grove_err grove_stream_deliver(const struct grove_codec *codec, const char *data, size_t len,
                               grove_batch_fn fn, void *user)
{
    struct grove_pull_response *batch = NULL;
    grove_err err = codec->decode_stream_batch(data, len, &batch);
    if (err)
        return grove_error_prefix(GROVE_EPROTO, "bad stream batch: ");
    err = fn(user, batch);
    grove_msg_free(batch);
    return err;
}
