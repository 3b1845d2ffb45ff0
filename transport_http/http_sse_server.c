/* Server-sent event responses of the HTTP listener, for any source of events:
 * the sync stream (GET {base}/stream, http_server.c) and the Data API's watch
 * (GET /v1/tables/{table}/watch, http_data.c). The content reader runs on one
 * of the listener's pool threads and never waits: it polls the source, and
 * with nothing to send it parks the stream with the pump (http_pump.c),
 * which suspends the connection. On each commit the pump's threads deliver
 * to the parked streams: they poll them and write the events to the socket
 * themselves, so a stream at the head costs libmicrohttpd nothing. What the
 * socket does not take, and a stream that is behind, go back to the reader,
 * which libmicrohttpd calls as the client reads (docs/design.md "Serving
 * streams"). A stream holds at most one poll's events that the client has
 * not read yet; a client that stops reading leaves its connection unresumed
 * by the socket and is dropped by MHD's idle timeout. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "grove/sys/error.h"
#include "http_internal.h"

/* The reader's buffer (the response's, allocated for every stream, idle or
 * not, so it is small): what goes through libmicrohttpd, a stream's first
 * bytes and a late one's, goes 1 KiB a call. */
#define HTTP_SSE_BLOCK 1024

/* One open SSE response. */
struct http_sse {
    struct http_listener *listener;
    struct grove_http_sse_source src;
    struct grove_http_parked parked; /* with the pump while there is nothing to send */
    int fd;                          /* the connection's socket, written by deliver while parked */
    struct grove_buf pending;        /* bytes not yet sent: one poll's events at most */
    size_t pending_off;
    int64_t next_keepalive_ms;
    bool failed;  /* deliver could not write to the socket: the reader ends the response */
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

/* Appends what the stream has to send now: its source's events, or a
 * keep-alive comment when one is due. GROVE_ETIMEOUT: nothing yet;
 * GROVE_ESHUTDOWN: the stream is over; any other error: it failed. */
static grove_err http_sse_next(struct http_sse *s, struct grove_buf *out)
{
    struct http_listener *l = s->listener;
    if (atomic_load(&l->closing))
        return GROVE_ESHUTDOWN;
    grove_err err = s->src.poll(s->src.self, out);
    if (err != GROVE_OK && err != GROVE_ETIMEOUT)
        return err;
    int64_t now = http_sse_now_ms();
    if (err == GROVE_ETIMEOUT) {
        if (now < s->next_keepalive_ms)
            return GROVE_ETIMEOUT;
        err = grove_buf_append(out, ": keep-alive\n\n", 14);
    }
    s->next_keepalive_ms = now + l->keepalive_ms;
    return err;
}

static ssize_t http_sse_read(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    struct http_sse *s = cls;
    if (s->failed)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    while (s->pending_off == s->pending.len) {
        s->pending.len = s->pending_off = 0;
        uint64_t commits = grove_http_pump_commits(s->listener->pump);
        grove_err err = http_sse_next(s, &s->pending);
        if (err == GROVE_OK)
            break;
        if (err == GROVE_ESHUTDOWN)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (err != GROVE_ETIMEOUT)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        /* Nothing yet: the pump delivers what comes, or resumes us
         * (returning 0 without suspending would spin). An idle stream
         * holds no buffer. */
        grove_buf_free(&s->pending);
        if (grove_http_pump_park(s->listener->pump, &s->parked, commits, s->next_keepalive_ms))
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

/* The pump's deliver (http_pump.c), on a parked stream: sends its events to
 * the socket while it takes them all and the stream is at the head. Whatever
 * is left, and a failed send, go to the reader. */
static bool http_sse_deliver(struct grove_http_parked *e, struct grove_buf *scratch)
{
    struct http_sse *s = (struct http_sse *)(void *)((char *)e - offsetof(struct http_sse, parked));
    if (s->fd < 0)
        return false;
    scratch->len = 0;
    size_t sent = 0;
    grove_err err = http_sse_next(s, scratch);
    if (!err) {
        ssize_t n;
        do
            n = send(s->fd, scratch->data, scratch->len, MSG_DONTWAIT | MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            s->failed = true;
            return false;
        }
        sent = n > 0 ? (size_t)n : 0;
        if (sent == scratch->len) { /* all taken: at the head if the next poll finds nothing */
            scratch->len = sent = 0;
            err = http_sse_next(s, scratch);
        }
    }
    if (err == GROVE_ETIMEOUT) {
        e->due_ms = s->next_keepalive_ms;
        return true;
    }
    if (err)
        return false; /* the reader polls again, and ends the response */
    /* The socket is full, or the stream is behind: libmicrohttpd sends the
     * rest as the client reads. */
    if (grove_buf_append(&s->pending, scratch->data + sent, scratch->len - sent))
        s->failed = true;
    return false;
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
    s->parked.deliver = http_sse_deliver;
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    s->fd = info ? info->connect_fd : -1;
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
    /* Unchunked, ended by the close: deliver writes events to the socket
     * between libmicrohttpd's writes, and what a socket took only part of
     * could not be finished inside a chunk of libmicrohttpd's. */
    MHD_set_response_options(resp, MHD_RF_HTTP_1_0_COMPATIBLE_STRICT, MHD_RO_END);
    s->counted = true;
    grove_http_metrics_subscribers_add(l, 1);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    return grove_http_queue_response(l, conn, MHD_HTTP_OK, resp);
}
