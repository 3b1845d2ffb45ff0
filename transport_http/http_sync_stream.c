/* GET {base}/stream: the sync protocol's stream as server-sent events
 * (docs/protocol.md), its request read from the query (tables, since_*,
 * node_id, the filter) or Last-Event-ID, its batches from a grove_server_stream. */
#include <errno.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

#include "grove/json.h"
#include "grove/sys/error.h"
#include "http_internal.h"

/* Records in one SSE event at most, in bytes of their JSON (the rest of the
 * line: the array's brackets and commas). */
enum { HTTP_SSE_BATCH_BYTES = 60 << 10 };

/* The sync stream as a source of SSE events: `event: changes`, its id the
 * batch's latest_hlc. */
static grove_err http_sync_format_batch(const struct grove_pull_response *b, struct grove_buf *out)
{
    struct grove_buf json = {0};
    grove_err err = grove_json_encode_changes(b->changes, b->count, &json);
    if (err)
        goto fail;
    err = grove_buf_append(out, "event: changes\nid: ", 19);
    if (!err)
        err = grove_http_hlc_format(&b->latest_hlc, out);
    if (!err)
        err = grove_buf_append(out, "\n", 1);
    if (!err)
        err = grove_http_sse_append_data(out, json.data, json.len);
    if (!err)
        err = grove_buf_append(out, "\n", 1);
fail:
    grove_buf_free(&json);
    return err;
}

/* Streams at the same place share this formatting's bytes (server_stream.c). */
static grove_err http_sync_poll(void *self, struct grove_buf *out)
{
    return grove_server_stream_poll(self, http_sync_format_batch, out);
}

static void http_sync_close(void *self)
{
    grove_server_stream_close(self);
}

/* since from since_ts/since_count/since_node, or from Last-Event-ID when a
 * browser-style client reconnects on its own. */
grove_err grove_http_sse_since_parse(const char *ts, const char *c, const char *node,
                                     const char *last, struct grove_hlc *since)
{
    memset(since, 0, sizeof *since);
    if (!ts && !c && !node && last && *last)
        return grove_http_hlc_parse(last, strlen(last), since);
    char *end;
    if (ts && *ts) {
        errno = 0;
        long long v = strtoll(ts, &end, 10);
        if (errno || *end || v < 0)
            return grove_error_set(GROVE_EINVAL,
                                   "since_ts: expected a non-negative integer, got \"%.40s\"", ts);
        since->ts = v;
    }
    if (c && *c) {
        errno = 0;
        unsigned long long v = strtoull(c, &end, 10);
        if (errno || *end || v > UINT32_MAX || c[0] == '-')
            return grove_error_set(
                GROVE_EINVAL, "since_count: expected unsigned 32-bit integer, got \"%.40s\"", c);
        since->c = (uint32_t)v;
    }
    if (node)
        return grove_hlc_set_node(since, node);
    return GROVE_OK;
}

static grove_err http_sse_since(struct MHD_Connection *conn, struct grove_hlc *since)
{
    const char *ts = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "since_ts");
    const char *c = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "since_count");
    const char *node = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "since_node");
    const char *last = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Last-Event-ID");
    return grove_http_sse_since_parse(ts, c, node, last, since);
}

static grove_err http_sse_request(struct MHD_Connection *conn, struct grove_pull_request **out)
{
    struct grove_pull_request *req = NULL;
    grove_err err = grove_pull_request_new(&req);
    if (err)
        goto fail;
    err = http_sse_since(conn, &req->since);
    if (err)
        goto fail;
    const char *tables = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "tables");
    if (tables && *tables) {
        size_t n = 1;
        for (const char *p = tables; *p; p++)
            n += *p == ',';
        req->tables = grove_msg_alloc(req, n * sizeof *req->tables);
        if (!req->tables) {
            err = grove_error_set(GROVE_ENOMEM, "out of memory");
            goto fail;
        }
        const char *p = tables;
        for (;;) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            if (len > 0) {
                char *name = grove_msg_strndup(req, p, len);
                if (!name) {
                    err = grove_error_set(GROVE_ENOMEM, "out of memory");
                    goto fail;
                }
                req->tables[req->table_count++] = name;
            }
            if (!comma)
                break;
            p = comma + 1;
        }
    }
    const char *node_id = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "node_id");
    if (node_id && strlen(node_id) > GROVE_NODE_ID_MAX) {
        err = grove_error_set(GROVE_EINVAL, "node_id: longer than %d bytes", GROVE_NODE_ID_MAX);
        goto fail;
    }
    if (node_id) {
        req->node_id = grove_msg_strndup(req, node_id, strlen(node_id));
        if (!req->node_id) {
            err = grove_error_set(GROVE_ENOMEM, "out of memory");
            goto fail;
        }
    }
    if ((err = grove_http_sse_filter_parse(conn, req)))
        goto fail;
    *out = req;
    return GROVE_OK;
fail:
    grove_msg_free(req);
    return err;
}

enum MHD_Result grove_http_sync_stream_start(struct http_listener *l, struct MHD_Connection *conn,
                                             const struct grove_caller *caller)
{
    struct grove_pull_request *req = NULL;
    struct grove_server_stream *stream = NULL;
    grove_err err = http_sse_request(conn, &req);
    if (!err) {
        req->caller = caller;
        err = grove_server_stream_open(l->server, req, &stream);
    }
    grove_msg_free(req);
    if (err)
        return grove_http_queue_grove_error(l, conn, err);
    /* Every event's data line under 64 KiB, Grove's Go client's line limit:
     * a big batch goes as several events, each with its own cursor. */
    grove_server_stream_set_batch_bytes(stream, HTTP_SSE_BATCH_BYTES);
    /* A first comment flushes the headers at once, so the client knows the
     * subscription is live before any change arrives. */
    struct grove_http_sse_source src = {
        .poll = http_sync_poll, .close = http_sync_close, .self = stream};
    return grove_http_sse_respond(l, conn, &src, ": ok\n\n", 6);
}
