/* The HTTP listener: libmicrohttpd serving POST {base}/pull, POST {base}/push
 * and GET {base}/stream (SSE, http_sync_stream.c) for a grove_server
 * (docs/protocol.md), and at the root of the address the Data API under /v1/
 * (http_data.c), the admin API (http_admin.c), /metrics (http_metrics.c)
 * and the health probes. Connections are admitted by http_admit.c, and all
 * but a stream's pass through the relay (http_relay.c: every head checked,
 * TLS); every answer is queued through http_reply.c.
 *
 * A fixed pool of threads, each with its own epoll loop, serves every
 * connection (docs/design.md "Serving streams"). An ordinary request holds
 * its pool thread while it runs (a write waits for its group commit there);
 * a stream holds none while it has nothing to send: its content reader never
 * waits, and its connection is suspended until the pump (http_pump.c)
 * resumes it on a commit. Nothing is locked across network I/O: each
 * connection only touches its own state and the thread-safe grove_server. */
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

#include "grove/log.h"
#include "grove/sys/error.h"
#include "http_internal.h"

/* Threads serving the connections. A request that waits (a write for its
 * group commit, a pull page) holds one while it does, so as many as the
 * concurrent writers a group commit should gather: 16 keep `grove-bench
 * write`'s 16 clients at the rate a thread per connection had (README,
 * benchmarks). Streams waiting for changes hold none. */
#define HTTP_POOL_THREADS 16

/* Each connection's memory pool in libmicrohttpd: it holds a request head
 * (up to 32 KiB, docs/protocol.md) and the answer's head, and bodies pass
 * through it in pieces. libmicrohttpd zeroes what it gives back after the
 * head, so most of it is resident for every connection, an idle stream's
 * too: 36 KiB keeps a 32 KiB head whole and an idle subscriber near 31 KiB
 * (a bigger pool reads big bodies in fewer pieces: 256 KiB was about a
 * tenth faster for 130 KB bodies, README's benchmarks). */
#define HTTP_CONNECTION_MEMORY ((size_t)36 << 10)

enum http_route { ROUTE_NONE, ROUTE_PULL, ROUTE_PUSH, ROUTE_STREAM, ROUTE_DATA };
/* Each route's op in the metrics (-1: told by the path, grove_http_metrics_count). */
static const int http_route_ops[] = {-1, GROVE_METRICS_OP_PULL, GROVE_METRICS_OP_PUSH,
                                     GROVE_METRICS_OP_STREAM, GROVE_METRICS_OP_DATA};

/* Per-request state, from the request line (http_on_uri) to its end. */
struct http_call {
    char *target;    /* the request target as sent: path and query, not decoded */
    char method[16]; /* for the request log */
    bool started;    /* the headers have been seen */
    bool collecting; /* the body is wanted and arriving */
    enum http_route route;
    struct http_data_request *data; /* ROUTE_DATA */
    struct grove_buf body;
    bool too_big;
    int64_t started_us;         /* at the request line (grove_metrics_now_us) */
    struct grove_caller caller; /* who asks, once the head is admitted */
    struct http_pull *pull;     /* a pull on the read threads (http_pull.c) */
};

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

/* ---- pull / push --------------------------------------------------------- */

/* A pull or push (call->route) with its whole body. */
static enum MHD_Result http_handle_unary(struct http_listener *l, struct MHD_Connection *conn,
                                         struct http_call *call)
{
    if (call->route == ROUTE_PULL &&
        grove_http_pull_start(l, conn, &call->caller, &call->body, &call->pull))
        return MHD_YES; /* answered when MHD calls again, after the read */
    struct grove_buf out = {0};
    grove_err err = grove_serve_as(l->server, &call->caller, &grove_codec_json,
                                   call->route == ROUTE_PULL ? GROVE_CALL_PULL : GROVE_CALL_PUSH,
                                   call->body.data, call->body.len, &out);
    if (err) {
        grove_buf_free(&out);
        return grove_http_queue_grove_error(l, conn, err);
    }
    return grove_http_queue_json(l, conn, MHD_HTTP_OK, &out);
}

/* The request line is in: the call's state starts here, with the request
 * target as sent (MHD hands the handler a decoded path, in which a pk's %2F
 * could not be told from a '/'). NULL when out of memory: the request is
 * then refused. */
static void *http_on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    (void)conn;
    struct http_call *call = calloc(1, sizeof *call);
    if (call && !(call->target = strdup(uri))) {
        free(call);
        call = NULL;
    }
    if (call)
        call->started_us = grove_metrics_now_us();
    return call;
}

/* Liveness and readiness probes at the root of the address, answered
 * without a token (probes carry none) and before anything else: /healthz is
 * 200 while the listener serves, /readyz 200 once the node is ready (every
 * part open, grove_server_ready) and 503 while it starts or shuts down. */
static enum MHD_Result http_health(const struct http_listener *l, struct MHD_Connection *conn,
                                   const char *method, bool readiness)
{
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return grove_http_queue_error(l, conn, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET", "GET, HEAD");
    if (readiness && (atomic_load(&l->closing) || !grove_server_ready(l->server)))
        return grove_http_queue_error(l, conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                                      "not ready: starting or shutting down", NULL);
    struct grove_buf body = {0};
    if (grove_buf_append(&body, "{\"status\":\"ok\"}", 15))
        return MHD_NO;
    return grove_http_queue_json(l, conn, MHD_HTTP_OK, &body);
}

/* A request the relay refused (http_relay.c), from its header or, for a
 * chunked body, its trailer: answered here, in order, and the connection
 * closed. false: none. */
static bool http_relay_refused(struct http_listener *l, struct MHD_Connection *conn,
                               enum MHD_ValueKind kind, enum MHD_Result *ret)
{
    int status;
    const char *message;
    const char *value = MHD_lookup_connection_value(conn, kind, "X-Grove-Refusal");
    if (!grove_http_relay_refusal(l->relay, value, &status, &message))
        return false;
    char peer[GROVE_PEER_ADDR_MAX];
    grove_http_peer_addr(conn, peer, sizeof peer);
    grove_http_count_refusal(grove_store_metrics(grove_server_store(l->server)), status, peer,
                             message);
    *ret = grove_http_queue_refusal(l, conn, status, message);
    return true;
}

/* First call for a request: headers only. Everything that can be refused
 * without reading the body is refused here; call->collecting when the body
 * is wanted. */
static enum MHD_Result http_on_headers(struct http_listener *l, struct MHD_Connection *conn,
                                       const char *url, const char *method, struct http_call *call)
{
    call->started = true;
    enum MHD_Result refused;
    if (http_relay_refused(l, conn, MHD_HEADER_KIND, &refused))
        return refused;
    enum http_route route = http_route_of(l, url);
    bool admin = route == ROUTE_NONE && grove_http_admin_is_path(l, call->target);
    if (route == ROUTE_NONE && !admin && grove_http_data_is_path(call->target))
        route = ROUTE_DATA;
    if (l->admin_only)
        route = ROUTE_NONE;
    call->route = route;
    /* An admin call (a sync round, a backup) may take long: no deadline. */
    grove_http_deadlines_enter(l->deadlines, conn, route == ROUTE_STREAM || admin);
    if (admin)
        return grove_http_admin_serve(l, conn, method, call->target);
    if (route == ROUTE_NONE && (strcmp(url, "/healthz") == 0 || strcmp(url, "/readyz") == 0))
        return http_health(l, conn, method, url[1] == 'r');
    if (route == ROUTE_NONE && strcmp(url, "/metrics") == 0)
        return grove_http_metrics_serve(l, conn, method);
    if (route == ROUTE_NONE)
        return grove_http_queue_error(l, conn, MHD_HTTP_NOT_FOUND, "no such path", NULL);
    if (strcmp(method, MHD_HTTP_METHOD_OPTIONS) == 0 &&
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Access-Control-Request-Method"))
        return grove_http_preflight(l, conn);
    bool is_get = strcmp(method, MHD_HTTP_METHOD_GET) == 0;
    bool is_post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
    if (route == ROUTE_DATA) {
        enum MHD_Result ret = grove_http_data_route(l, conn, method, call->target, &call->data);
        if (!call->data)
            return ret;
    } else if (route == ROUTE_STREAM && !is_get) {
        return grove_http_queue_error(l, conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                                      "use GET for the stream", "GET");
    } else if (route != ROUTE_STREAM && !is_post) {
        return grove_http_queue_error(l, conn, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST", "POST");
    }
    if (atomic_load(&l->closing))
        return grove_http_queue_error(l, conn, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down", NULL);
    static const char *const ops[] = {"-", "pull", "push", "stream", "data"};
    grove_err err = grove_http_authorize(l, conn, ops[route], GROVE_NEED_SYNC, &call->caller);
    if (err)
        return grove_http_queue_grove_error(l, conn, err);
    if (route == ROUTE_STREAM)
        return grove_http_sync_stream_start(l, conn, &call->caller);
    if (route == ROUTE_DATA)
        call->data->caller = &call->caller;
    if (route == ROUTE_DATA && !grove_http_data_takes_body(call->data))
        return grove_http_data_serve(l, conn, call->data, NULL, 0);
    if (!http_content_type_ok(conn))
        return grove_http_queue_error(l, conn, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                      "Content-Type must be application/json", NULL);
    const char *length =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (length && strtoull(length, NULL, 10) > l->max_body) {
        char msg[128];
        snprintf(msg, sizeof msg, "request body of %s bytes exceeds the limit of %zu", length,
                 l->max_body);
        return grove_http_queue_error(l, conn, MHD_HTTP_CONTENT_TOO_LARGE, msg, NULL);
    }
    if (length) {
        /* Size the buffer once: big pushes otherwise realloc their way up. */
        unsigned long long want = strtoull(length, NULL, 10);
        if (want > 0 && grove_buf_reserve(&call->body, (size_t)want + 1))
            return MHD_NO;
    }
    call->collecting = true;
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
        return MHD_NO; /* out of memory at the request line */
    if (!call->started) {
        snprintf(call->method, sizeof call->method, "%s", method);
        return http_on_headers(l, conn, url, method, call);
    }
    if (call->pull)
        return grove_http_pull_answer(l, conn, call->pull);
    if (!call->collecting) {
        *upload_data_size = 0; /* answered already: the body is not read */
        return MHD_YES;
    }
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
    call->collecting = false;
    enum MHD_Result refused;
    if (http_relay_refused(l, conn, MHD_FOOTER_KIND, &refused))
        return refused;
    if (call->too_big) {
        char msg[96];
        snprintf(msg, sizeof msg, "request body exceeds the limit of %zu bytes", l->max_body);
        return grove_http_queue_error(l, conn, MHD_HTTP_CONTENT_TOO_LARGE, msg, NULL);
    }
    if (call->body.len == 0)
        return grove_http_queue_error(l, conn, MHD_HTTP_BAD_REQUEST, "empty request body", NULL);
    if (call->route == ROUTE_DATA)
        return grove_http_data_serve(l, conn, call->data, call->body.data, call->body.len);
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
        grove_http_metrics_count(l, conn, call->method, call->target, http_route_ops[call->route],
                                 call->started_us);
        grove_http_data_free(call->data);
        grove_http_pull_free(call->pull);
        grove_caller_release(&call->caller);
        grove_buf_free(&call->body);
        free(call->target);
        free(call);
        *con_cls = NULL;
    }
}

/* ---- open / close -------------------------------------------------------- */

/* MHD's connection notifications: the deadlines' list, and admission's
 * counts, which end when MHD closes the connection. */
static void http_on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                               enum MHD_ConnectionNotificationCode code)
{
    struct http_listener *l = cls;
    grove_http_deadlines_on_connection(l->deadlines, conn, socket_context, code);
    if (code == MHD_CONNECTION_NOTIFY_CLOSED && l->admit) {
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        grove_http_admit_release(l->admit, info ? info->client_addr : NULL);
    }
}

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
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, SOMAXCONN) == 0) {
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

unsigned grove_http_threads_per_core(unsigned max)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores < 1)
        return 1;
    return cores > (long)max ? max : (unsigned)cores;
}

static void http_listener_free(struct http_listener *l)
{
    if (!l)
        return;
    grove_http_deadlines_stop(l->deadlines);
    grove_http_admit_free(l->admit);
    grove_http_relay_free(l->relay);
    grove_http_pump_free(l->pump);
    for (size_t i = 0; i < l->cors_origin_count; i++)
        free(l->cors_origins[i]);
    free(l->cors_origins);
    free(l->cert_pem);
    free(l->key_pem);
    free(l->ca_pem);
    grove_http_pulls_destroy(l);
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
    l = calloc(1, sizeof *l);
    if (!l)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    grove_http_pulls_init(l);
    l->fd = -1;
    l->server = server;
    l->max_body = opts->max_body;
    l->keepalive_ms = opts->keepalive_ms;
    snprintf(l->base, sizeof l->base, "%s", u->path);
    size_t n = strlen(l->base);
    while (n > 0 && l->base[n - 1] == '/')
        l->base[--n] = '\0';
    l->guard = opts->guard;
    l->tls = tls;
    l->admin = opts->admin;
    l->admin_only = opts->admin_only;
    if (opts->cors_origin_count &&
        !(l->cors_origins = calloc(opts->cors_origin_count, sizeof *l->cors_origins))) {
        err = grove_error_set(GROVE_ENOMEM, "out of memory");
        goto fail;
    }
    for (; l->cors_origin_count < opts->cors_origin_count; l->cors_origin_count++)
        if (!(l->cors_origins[l->cors_origin_count] =
                  strdup(opts->cors_origins[l->cors_origin_count]))) {
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
    err = grove_http_pump_start(&l->pump, grove_server_store(server));
    if (err)
        goto fail;
    /* Admission accepts (http_admit.c) and hands each connection over
     * (MHD_add_connection), directly or through the relay (http_relay.c),
     * which does TLS: libmicrohttpd listens on nothing and speaks plain HTTP. */
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_NO_LISTEN_SOCKET;
    if (v6)
        flags |= MHD_USE_IPv6;
    /* Idle connections (and SSE clients that stopped reading: the socket
     * buffer plus one batch is all we hold for them) are dropped after this. */
    unsigned timeout_s = (unsigned)(2 * l->keepalive_ms / 1000 + 5);
    /* The caps are admission's; MHD counts a connection until its own
     * cleanup, a little after NOTIFY_CLOSED, so at the same limit it would
     * drop a client admission has just let in: its limit is only a backstop. */
    l->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, http_on_request, l, MHD_OPTION_URI_LOG_CALLBACK, http_on_uri, NULL,
        MHD_OPTION_NOTIFY_COMPLETED, http_on_completed, l, MHD_OPTION_NOTIFY_CONNECTION,
        http_on_connection, l, MHD_OPTION_CONNECTION_TIMEOUT, timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONNECTION_MEMORY,
        MHD_OPTION_CONNECTION_LIMIT, 2 * opts->max_connections, MHD_OPTION_THREAD_POOL_SIZE,
        HTTP_POOL_THREADS, MHD_OPTION_END);
    if (!l->daemon) {
        err = grove_error_set(GROVE_EUNAVAIL, "cannot start the HTTP server on %s", u->text);
        goto fail;
    }
    err = grove_http_relay_start(&l->relay, l->daemon, tls ? l->cert_pem : NULL,
                                 tls ? l->key_pem : NULL, tls ? l->ca_pem : NULL);
    if (!err)
        err = grove_http_admit_start(&l->admit, l->fd, l->daemon, l->relay, tls, l->base,
                                     grove_store_metrics(grove_server_store(server)),
                                     opts->max_connections, opts->max_connections_per_address,
                                     opts->head_timeout_ms);
    if (err) {
        MHD_stop_daemon(l->daemon);
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
    /* Stop accepting first. */
    grove_http_admit_stop(l->admit);
    close(l->fd);
    /* Resumes every suspended stream, which sees `closing` and ends, and
     * waits for the pulls on the read threads: MHD must find no connection
     * suspended when it stops. Then the pool threads are joined: calls in
     * flight finish. */
    grove_http_pulls_wait(l);
    grove_http_pump_stop(l->pump);
    MHD_stop_daemon(l->daemon);
    /* After MHD: the relay passes on what it answered to the end. */
    http_listener_free(l);
}
