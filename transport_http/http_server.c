/* The HTTP listener: libmicrohttpd serving POST {base}/pull, POST {base}/push
 * and GET {base}/stream (SSE) for a grove_server (docs/protocol.md).
 *
 * One thread per connection: an SSE response blocks in its content reader on
 * grove_server_stream_next (a condvar woken by commits), which would stall
 * every other connection of a shared polling thread. Nothing is locked across
 * network I/O: each connection only touches its own state and the
 * thread-safe grove_server. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http_internal.h"
#include "grove/sys/error.h"

/* How often a blocked SSE reader looks at the listener's closing flag. Changes
 * themselves wake it at once; this only bounds how long a close waits. */
#define HTTP_CLOSE_CHECK_MS 200

struct http_listener {
    struct MHD_Daemon *daemon;
    struct grove_server *server;
    char base[512]; /* path prefix, no trailing slash ("" or "/sync") */
    char *token;
    size_t max_body;
    int keepalive_ms;
    int fd;
    atomic_bool closing;
    struct grove_http_deadlines *deadlines;
    char *cert_pem;
    char *key_pem;
    char *ca_pem;
};

enum http_route { ROUTE_NONE, ROUTE_PULL, ROUTE_PUSH, ROUTE_STREAM };

/* Per-request state while a POST body arrives. */
struct http_call {
    enum http_route route;
    struct grove_buf body;
    bool too_big;
};

/* Records in one SSE event at most, in bytes of their JSON (the rest of the
 * line: the array's brackets and commas). */
enum { HTTP_SSE_BATCH_BYTES = 60 << 10 };

/* One open SSE response. */
struct http_sse {
    struct http_listener *listener;
    struct grove_server_stream *stream;
    struct grove_buf pending; /* encoded bytes not yet handed to MHD: one batch at most */
    size_t pending_off;
    int64_t next_keepalive_ms;
};

static int64_t http_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static enum MHD_Result http_queue_json(struct MHD_Connection *conn, int status,
                                       struct grove_buf *body)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(body->len, body->data, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        grove_buf_free(body);
        return MHD_NO;
    }
    /* MHD owns the bytes now. */
    body->data = NULL;
    body->len = body->cap = 0;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result http_queue_error(struct MHD_Connection *conn, int status,
                                        const char *message, const char *allow)
{
    struct grove_buf body = {0};
    if (grove_json_encode_error(message, &body) != GROVE_OK) {
        grove_buf_free(&body);
        return MHD_NO;
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(body.len, body.data, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        grove_buf_free(&body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result http_queue_grove_error(struct MHD_Connection *conn, grove_err err)
{
    return http_queue_error(conn, grove_err_to_http(err), grove_errmsg(), NULL);
}

static enum http_route http_route_of(const struct http_listener *l, const char *url)
{
    size_t n = strlen(l->base);
    if (strncmp(url, l->base, n) != 0)
        return ROUTE_NONE;
    const char *rest = url + n;
    if (strcmp(rest, "/pull") == 0)
        return ROUTE_PULL;
    if (strcmp(rest, "/push") == 0)
        return ROUTE_PUSH;
    if (strcmp(rest, "/stream") == 0)
        return ROUTE_STREAM;
    return ROUTE_NONE;
}

static grove_err http_authorize(const struct http_listener *l, struct MHD_Connection *conn)
{
    const char *auth =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    return grove_bearer_check(l->token, auth, auth ? strlen(auth) : 0);
}

/* Absent Content-Type is accepted (curl -d sends a form type, Grove's clients
 * send JSON); a present one must be JSON. */
static bool http_content_type_ok(struct MHD_Connection *conn)
{
    const char *ct =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (!ct)
        return true;
    while (*ct == ' ')
        ct++;
    static const char json[] = "application/json";
    if (strncasecmp(ct, json, sizeof json - 1) != 0)
        return false;
    char next = ct[sizeof json - 1];
    return next == '\0' || next == ';' || next == ' ';
}

/* ---- SSE ---------------------------------------------------------------- */

/* Appends the data lines of one event: a value may hold raw newlines (JSON
 * whitespace), and SSE joins consecutive data lines back with LF. */
static grove_err http_sse_append_data(struct grove_buf *out, const char *data, size_t len)
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

static grove_err http_sse_format_batch(struct http_sse *s, const struct grove_pull_response *b)
{
    struct grove_buf json = {0};
    grove_err err = grove_json_encode_changes(b->changes, b->count, &json);
    if (err)
        goto fail;
    err = grove_buf_append(&s->pending, "event: changes\nid: ", 19);
    if (!err)
        err = grove_http_hlc_format(&b->latest_hlc, &s->pending);
    if (!err)
        err = grove_buf_append(&s->pending, "\n", 1);
    if (!err)
        err = http_sse_append_data(&s->pending, json.data, json.len);
    if (!err)
        err = grove_buf_append(&s->pending, "\n", 1);
fail:
    grove_buf_free(&json);
    return err;
}

static ssize_t http_sse_read(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    struct http_sse *s = cls;
    while (s->pending_off == s->pending.len) {
        s->pending.len = s->pending_off = 0;
        if (atomic_load(&s->listener->closing))
            return MHD_CONTENT_READER_END_OF_STREAM;
        int64_t now = http_now_ms();
        if (now >= s->next_keepalive_ms) {
            s->next_keepalive_ms = now + s->listener->keepalive_ms;
            if (grove_buf_append(&s->pending, ": keep-alive\n\n", 14))
                return MHD_CONTENT_READER_END_WITH_ERROR;
            break;
        }
        int64_t wait = s->next_keepalive_ms - now;
        if (wait > HTTP_CLOSE_CHECK_MS)
            wait = HTTP_CLOSE_CHECK_MS;
        struct grove_pull_response *batch = NULL;
        grove_err err = grove_server_stream_next(s->stream, (int)wait, &batch);
        if (err == GROVE_ETIMEOUT)
            continue;
        if (err == GROVE_ESHUTDOWN)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (err)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if (batch->count == 0) {
            grove_msg_free(batch);
            continue;
        }
        err = http_sse_format_batch(s, batch);
        grove_msg_free(batch);
        if (err)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        s->next_keepalive_ms = http_now_ms() + s->listener->keepalive_ms;
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
    grove_server_stream_close(s->stream);
    grove_buf_free(&s->pending);
    free(s);
}

/* since from since_ts/since_count/since_node, or from Last-Event-ID when a
 * browser-style client reconnects on its own. */
static grove_err http_sse_since(struct MHD_Connection *conn, struct grove_hlc *since)
{
    const char *ts = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "since_ts");
    const char *c = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "since_count");
    const char *node = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "since_node");
    const char *last = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Last-Event-ID");
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
    *out = req;
    return GROVE_OK;
fail:
    grove_msg_free(req);
    return err;
}

static enum MHD_Result http_stream_start(struct http_listener *l, struct MHD_Connection *conn)
{
    struct grove_pull_request *req = NULL;
    struct http_sse *s = NULL;
    grove_err err = http_sse_request(conn, &req);
    if (err)
        goto fail;
    s = calloc(1, sizeof *s);
    if (!s) {
        err = grove_error_set(GROVE_ENOMEM, "out of memory");
        goto fail;
    }
    s->listener = l;
    err = grove_server_stream_open(l->server, req, &s->stream);
    if (err)
        goto fail;
    /* Every event's data line under 64 KiB, Grove's Go client's line limit:
     * a big batch goes as several events, each with its own cursor. */
    grove_server_stream_set_batch_bytes(s->stream, HTTP_SSE_BATCH_BYTES);
    grove_msg_free(req);
    req = NULL;
    /* A first comment flushes the headers at once, so the client knows the
     * subscription is live before any change arrives. */
    if (grove_buf_append(&s->pending, ": ok\n\n", 6)) {
        err = grove_error_set(GROVE_ENOMEM, "out of memory");
        goto fail;
    }
    s->next_keepalive_ms = http_now_ms() + l->keepalive_ms;
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024,
                                                                  http_sse_read, s, http_sse_free);
    if (!resp) {
        err = grove_error_set(GROVE_ENOMEM, "cannot create stream response");
        goto fail;
    }
    s = NULL; /* the response frees it */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
fail:
    if (s) {
        if (s->stream)
            grove_server_stream_close(s->stream);
        grove_buf_free(&s->pending);
        free(s);
    }
    grove_msg_free(req);
    return http_queue_grove_error(conn, err);
}

/* ---- pull / push --------------------------------------------------------- */

/* A pull or push (call->route) with its whole body. */
static enum MHD_Result http_handle_unary(struct http_listener *l, struct MHD_Connection *conn,
                                         struct http_call *call)
{
    struct grove_buf out = {0};
    grove_err err = grove_serve(l->server, &grove_codec_json,
                                call->route == ROUTE_PULL ? GROVE_CALL_PULL : GROVE_CALL_PUSH,
                                call->body.data, call->body.len, &out);
    if (err) {
        grove_buf_free(&out);
        return http_queue_grove_error(conn, err);
    }
    return http_queue_json(conn, MHD_HTTP_OK, &out);
}

/* First call for a request: headers only. Everything that can be refused
 * without reading the body is refused here. */
static enum MHD_Result http_on_headers(struct http_listener *l, struct MHD_Connection *conn,
                                       const char *url, const char *method, void **con_cls)
{
    enum http_route route = http_route_of(l, url);
    grove_http_deadlines_enter(l->deadlines, conn, route == ROUTE_STREAM);
    if (route == ROUTE_NONE)
        return http_queue_error(conn, MHD_HTTP_NOT_FOUND, "no such path", NULL);
    bool is_get = strcmp(method, MHD_HTTP_METHOD_GET) == 0;
    bool is_post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
    if (route == ROUTE_STREAM && !is_get)
        return http_queue_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET for the stream", "GET");
    if (route != ROUTE_STREAM && !is_post)
        return http_queue_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST", "POST");
    if (atomic_load(&l->closing))
        return http_queue_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down", NULL);
    grove_err err = http_authorize(l, conn);
    if (err)
        return http_queue_grove_error(conn, err);
    if (route == ROUTE_STREAM)
        return http_stream_start(l, conn);
    if (!http_content_type_ok(conn))
        return http_queue_error(conn, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                "Content-Type must be application/json", NULL);
    const char *length =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (length && strtoull(length, NULL, 10) > l->max_body) {
        char msg[128];
        snprintf(msg, sizeof msg, "request body of %s bytes exceeds the limit of %zu", length,
                 l->max_body);
        return http_queue_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, msg, NULL);
    }
    struct http_call *call = calloc(1, sizeof *call);
    if (!call)
        return MHD_NO;
    call->route = route;
    if (length) {
        /* Size the buffer once: big pushes otherwise realloc their way up. */
        unsigned long long want = strtoull(length, NULL, 10);
        if (want > 0 && grove_buf_reserve(&call->body, (size_t)want + 1)) {
            free(call);
            return MHD_NO;
        }
    }
    *con_cls = call;
    return MHD_YES;
}

static enum MHD_Result http_on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                       const char *method, const char *version,
                                       const char *upload_data, size_t *upload_data_size,
                                       void **con_cls)
{
    (void)version;
    struct http_listener *l = cls;
    struct http_call *call = *con_cls;
    if (!call)
        return http_on_headers(l, conn, url, method, con_cls);
    if (*upload_data_size > 0) {
        /* Chunked bodies have no Content-Length: count as they come, keep
         * reading (so the client sees the answer) but stop storing. */
        if (!call->too_big && call->body.len + *upload_data_size > l->max_body) {
            call->too_big = true;
            grove_buf_free(&call->body);
        }
        if (!call->too_big && grove_buf_append(&call->body, upload_data, *upload_data_size))
            return MHD_NO;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (call->too_big) {
        char msg[96];
        snprintf(msg, sizeof msg, "request body exceeds the limit of %zu bytes", l->max_body);
        return http_queue_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, msg, NULL);
    }
    if (call->body.len == 0)
        return http_queue_error(conn, MHD_HTTP_BAD_REQUEST, "empty request body", NULL);
    return http_handle_unary(l, conn, call);
}

static void http_on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    struct http_listener *l = cls;
    (void)toe;
    grove_http_deadlines_leave(l->deadlines, conn);
    struct http_call *call = *con_cls;
    if (call) {
        grove_buf_free(&call->body);
        free(call);
        *con_cls = NULL;
    }
}

/* ---- open / close -------------------------------------------------------- */

/* Binds the socket ourselves: a clear "address in use" message, and a host
 * given by name or as [v6]. */
static grove_err http_bind(const struct grove_url *u, int *fd_out, bool *v6)
{
    char port[16];
    int p = u->port ? u->port : (strcmp(u->scheme, "https") == 0 ? 443 : 80);
    snprintf(port, sizeof port, "%d", p);
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    const char *host = u->host[0] ? u->host : NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0)
        return grove_error_set(GROVE_EINVAL, "cannot resolve listen host \"%s\": %s", u->host,
                               gai_strerror(rc));
    grove_err err = GROVE_OK;
    int fd = -1, last_errno = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            last_errno = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 128) == 0) {
            *v6 = ai->ai_family == AF_INET6;
            break;
        }
        last_errno = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        err = grove_error_set(last_errno == EADDRINUSE ? GROVE_EUNAVAIL : GROVE_EINVAL,
                              "cannot listen on %s:%s: %s", u->host[0] ? u->host : "*", port,
                              strerror(last_errno));
        return err;
    }
    *fd_out = fd;
    return GROVE_OK;
}

static void http_listener_free(struct http_listener *l)
{
    if (!l)
        return;
    grove_http_deadlines_stop(l->deadlines);
    free(l->token);
    free(l->cert_pem);
    free(l->key_pem);
    free(l->ca_pem);
    free(l);
}

grove_err grove_http_listener_open(const struct grove_url *u, struct grove_server *server,
                                   const struct grove_listen_options *opts, void **self_out)
{
    struct http_listener *l = NULL;
    grove_err err;
    *self_out = NULL;
    bool tls = strcmp(u->scheme, "https") == 0;
    if (tls && (!opts->cert_file || !opts->key_file))
        return grove_error_set(GROVE_EINVAL, "https needs a certificate and a key file");
    if (tls && !MHD_is_feature_supported(MHD_FEATURE_TLS))
        return grove_error_set(GROVE_ENOTSUP, "libmicrohttpd was built without TLS");
    l = calloc(1, sizeof *l);
    if (!l)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    l->fd = -1;
    l->server = server;
    l->max_body = opts->max_body;
    l->keepalive_ms = opts->keepalive_ms;
    snprintf(l->base, sizeof l->base, "%s", u->path);
    size_t n = strlen(l->base);
    while (n > 0 && l->base[n - 1] == '/')
        l->base[--n] = '\0';
    if (opts->token && !(l->token = strdup(opts->token))) {
        err = grove_error_set(GROVE_ENOMEM, "out of memory");
        goto fail;
    }
    if (tls) {
        if ((err = grove_file_read(opts->cert_file, "certificate", &l->cert_pem, NULL)) ||
            (err = grove_file_read(opts->key_file, "key", &l->key_pem, NULL)) ||
            (opts->ca_file && (err = grove_file_read(opts->ca_file, "CA file", &l->ca_pem, NULL))))
            goto fail;
    }
    err = grove_http_deadlines_start(&l->deadlines, opts->head_timeout_ms, opts->body_timeout_ms);
    if (err)
        goto fail;
    bool v6 = false;
    err = http_bind(u, &l->fd, &v6);
    if (err)
        goto fail;
    unsigned flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ITC;
    if (v6)
        flags |= MHD_USE_IPv6;
    if (tls)
        flags |= MHD_USE_TLS;
    /* Idle connections (and SSE clients that stopped reading: the socket
     * buffer plus one batch is all we hold for them) are dropped after this. */
    unsigned timeout_s = (unsigned)(2 * l->keepalive_ms / 1000 + 5);
    struct MHD_OptionItem tls_opts[4];
    size_t t = 0;
    if (tls) {
        tls_opts[t++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, l->cert_pem};
        tls_opts[t++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, l->key_pem};
        if (l->ca_pem)
            tls_opts[t++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, l->ca_pem};
    }
    tls_opts[t] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    l->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, http_on_request, l, MHD_OPTION_LISTEN_SOCKET, l->fd,
        MHD_OPTION_NOTIFY_COMPLETED, http_on_completed, l, MHD_OPTION_NOTIFY_CONNECTION,
        grove_http_deadlines_on_connection, l->deadlines, MHD_OPTION_CONNECTION_TIMEOUT, timeout_s,
        MHD_OPTION_CONNECTION_LIMIT, opts->max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        opts->max_connections_per_address, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)256 * 1024,
        MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
    if (!l->daemon) {
        err = grove_error_set(tls ? GROVE_EINVAL : GROVE_EUNAVAIL,
                              "cannot start the HTTP server on %s%s", u->text,
                              tls ? " (check the certificate and key)" : "");
        goto fail;
    }
    *self_out = l;
    return GROVE_OK;
fail:
    if (l && l->fd >= 0)
        close(l->fd);
    http_listener_free(l);
    return err;
}

void grove_http_listener_close(void *self)
{
    struct http_listener *l = self;
    if (!l)
        return;
    atomic_store(&l->closing, true);
    /* Stop accepting first; MHD then hands the listen socket back to us. */
    MHD_socket fd = MHD_quiesce_daemon(l->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    /* Joins every connection thread: calls in flight finish, streams see
     * `closing` within HTTP_CLOSE_CHECK_MS and end. */
    MHD_stop_daemon(l->daemon);
    http_listener_free(l);
}
