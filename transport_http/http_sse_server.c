/* Server-sent event responses of the HTTP listener, for any source of events:
 * the sync stream (GET {base}/stream, http_server.c) and the Data API's watch
 * (GET /v1/tables/{table}/watch, http_data.c). The content reader runs on one
 * of the listener's pool threads and never waits: it polls the source, and
 * with nothing to send it parks the stream with the pump (http_pump.c),
 * which suspends the connection until the next commit or keep-alive
 * (docs/design.md "Serving streams"). It holds at most one poll's events
 * that the client has not read yet; a client that stops reading leaves its
 * connection unresumed by the socket and is dropped by MHD's idle timeout. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "grove/sys/error.h"
#include "http_internal.h"

/* The reader's buffer of an HTTP/1.0 response (chunked ones write into the
 * connection's memory pool). Allocated for every stream, idle or not, so it
 * is small: an HTTP/1.0 client gets its events 1 KiB a call. */
#define HTTP_SSE_BLOCK 1024

/* One open SSE response. */
struct http_sse {
    struct http_listener *listener;
    struct grove_http_sse_source src;
    struct grove_http_parked parked; /* with the pump while there is nothing to send */
    struct grove_buf pending;        /* bytes not yet handed to MHD: one poll's events at most */
    size_t pending_off;
    int64_t next_keepalive_ms;
    bool counted; /* in the listener's subscribers (grove_stream_subscribers) */
};

static int64_t http_sse_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

grove_err grove_http_sse_append_data(struct grove_buf *out, const char *data, size_t len)
{
    grove_err err = GROVE_OK;
    const char *p = data, *end = data + len;
    while (!err) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        err = grove_buf_append(out, "data: ", 6);
        if (!err)
            err = grove_buf_append(out, p, n);
        if (!err)
            err = grove_buf_append(out, "\n", 1);
        if (!nl)
            break;
        p = nl + 1;
    }
    return err;
}

static ssize_t http_sse_read(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    struct http_sse *s = cls;
    struct http_listener *l = s->listener;
    grove_http_pump_help(l->pump);
    while (s->pending_off == s->pending.len) {
        s->pending.len = s->pending_off = 0;
        if (atomic_load(&l->closing))
            return MHD_CONTENT_READER_END_OF_STREAM;
        uint64_t commits = grove_http_pump_commits(l->pump);
        grove_err err = s->src.poll(s->src.self, &s->pending);
        if (err == GROVE_OK) {
            s->next_keepalive_ms = http_sse_now_ms() + l->keepalive_ms;
            break;
        }
        if (err == GROVE_ESHUTDOWN)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (err != GROVE_ETIMEOUT)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        int64_t now = http_sse_now_ms();
        if (now >= s->next_keepalive_ms) {
            s->next_keepalive_ms = now + l->keepalive_ms;
            if (grove_buf_append(&s->pending, ": keep-alive\n\n", 14))
                return MHD_CONTENT_READER_END_WITH_ERROR;
            break;
        }
        /* Nothing yet: MHD calls us again once the pump resumes us
         * (returning 0 without suspending would spin). */
        if (grove_http_pump_park(l->pump, &s->parked, commits, s->next_keepalive_ms))
            return 0;
        /* a commit came since the poll, or the listener is closing: look again */
    }
    size_t n = s->pending.len - s->pending_off;
    if (n > max)
        n = max;
    memcpy(out, s->pending.data + s->pending_off, n);
    s->pending_off += n;
    return (ssize_t)n;
}

static void http_sse_free(void *cls)
{
    struct http_sse *s = cls;
    grove_http_pump_forget(s->listener->pump, &s->parked);
    if (s->counted)
        grove_http_metrics_subscribers_add(s->listener, -1);
    s->src.close(s->src.self);
    grove_buf_free(&s->pending);
    free(s);
}

enum MHD_Result grove_http_sse_respond(struct http_listener *l, struct MHD_Connection *conn,
                                       const struct grove_http_sse_source *src, const char *first,
                                       size_t first_len)
{
    struct http_sse *s = calloc(1, sizeof *s);
    if (!s) {
        src->close(src->self);
        return grove_http_queue_grove_error(l, conn,
                                            grove_error_set(GROVE_ENOMEM, "out of memory"));
    }
    s->listener = l;
    s->src = *src;
    s->parked.conn = conn;
    if (grove_buf_append(&s->pending, first, first_len)) {
        http_sse_free(s);
        return grove_http_queue_grove_error(l, conn, GROVE_ENOMEM);
    }
    s->next_keepalive_ms = http_sse_now_ms() + l->keepalive_ms;
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, HTTP_SSE_BLOCK,
                                                                  http_sse_read, s, http_sse_free);
    if (!resp) {
        http_sse_free(s);
        return grove_http_queue_grove_error(
            l, conn, grove_error_set(GROVE_ENOMEM, "cannot create stream response"));
    }
    s->counted = true;
    grove_http_metrics_subscribers_add(l, 1);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    return grove_http_queue_response(l, conn, MHD_HTTP_OK, resp);
}
