/* The gRPC transport on the gRPC C core (DESIGN §5).
 *
 * Server: one completion queue served by a small pool of worker threads.
 * Every tag is a struct gsrv_tag whose callback runs on the worker that
 * dequeued it. Unary calls (Pull, Push) run on the worker: they block on the
 * store, so a few workers keep several calls in flight. Each Stream call gets
 * its own thread, because grove_server_stream_next blocks until a commit; the
 * thread hands its sends to the completion queue and waits for the worker to
 * report them. Close shuts the server down, cancels every call and joins
 * every thread before destroying anything, so no call outlives the listener.
 *
 * Client: one channel per peer; each unary call has its own pluck queue and
 * a deadline from the dial options; Stream is consumed with short cq_next
 * waits so *stop is honoured within 200 ms. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "mapping.h"
#include "transport_grpc.h"

#define GT_METHOD_PULL   "/grove.sync.v1.Sync/Pull"
#define GT_METHOD_PUSH   "/grove.sync.v1.Sync/Push"
#define GT_METHOD_STREAM "/grove.sync.v1.Sync/Stream"

/* ---- shared helpers ---------------------------------------------------- */

static const char *gt_status_name(grpc_status_code s)
{
    static const char *const names[] = {
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    };
    if ((unsigned)s < sizeof names / sizeof names[0])
        return names[s];
    return "UNKNOWN";
}

static grpc_status_code gt_status_from_err(grove_err err)
{
    switch (err) {
    case GROVE_OK:
        return GRPC_STATUS_OK;
    case GROVE_EINVAL:
        return GRPC_STATUS_INVALID_ARGUMENT;
    case GROVE_EAUTH:
        return GRPC_STATUS_UNAUTHENTICATED;
    case GROVE_EFORBIDDEN:
        return GRPC_STATUS_PERMISSION_DENIED;
    case GROVE_ENOTFOUND:
        return GRPC_STATUS_NOT_FOUND;
    case GROVE_ETOOBIG:
        return GRPC_STATUS_RESOURCE_EXHAUSTED;
    case GROVE_ENOTSUP:
        return GRPC_STATUS_UNIMPLEMENTED;
    case GROVE_EUNAVAIL:
    case GROVE_ESHUTDOWN:
        return GRPC_STATUS_UNAVAILABLE;
    case GROVE_ETIMEOUT:
        return GRPC_STATUS_DEADLINE_EXCEEDED;
    default: /* storage, memory, protocol: worth a retry */
        return GRPC_STATUS_INTERNAL;
    }
}

static grove_err gt_err_from_status(grpc_status_code s)
{
    switch (s) {
    case GRPC_STATUS_OK:
        return GROVE_OK;
    case GRPC_STATUS_INVALID_ARGUMENT:
    case GRPC_STATUS_OUT_OF_RANGE:
    case GRPC_STATUS_FAILED_PRECONDITION:
        return GROVE_EINVAL;
    case GRPC_STATUS_UNAUTHENTICATED:
        return GROVE_EAUTH;
    case GRPC_STATUS_PERMISSION_DENIED:
        return GROVE_EFORBIDDEN;
    case GRPC_STATUS_NOT_FOUND:
        return GROVE_ENOTFOUND;
    case GRPC_STATUS_RESOURCE_EXHAUSTED:
        return GROVE_ETOOBIG;
    case GRPC_STATUS_UNIMPLEMENTED:
        return GROVE_ENOTSUP;
    case GRPC_STATUS_DEADLINE_EXCEEDED:
        return GROVE_ETIMEOUT;
    case GRPC_STATUS_INTERNAL:
        return GROVE_ESTORE;
    case GRPC_STATUS_UNAVAILABLE:
    case GRPC_STATUS_CANCELLED:
    case GRPC_STATUS_ABORTED:
        return GROVE_EUNAVAIL;
    default:
        return GROVE_EPROTO;
    }
}

/* Hands a grove_buf's bytes to gRPC without a copy; buf is left empty. */
static grpc_byte_buffer *gt_buffer_take(struct grove_buf *buf)
{
    grpc_slice slice = grpc_slice_new(buf->data, buf->len, free);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);
    buf->data = NULL;
    buf->len = buf->cap = 0;
    return bb;
}

/* The received message as one slice (no copy when it arrived in one piece).
 * The caller unrefs the slice. */
static bool gt_buffer_slice(grpc_byte_buffer *bb, grpc_slice *out)
{
    grpc_byte_buffer_reader reader;
    if (!grpc_byte_buffer_reader_init(&reader, bb))
        return false;
    *out = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    return true;
}

static grove_err gt_read_file(const char *path, char **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return grove_error_set(GROVE_EINVAL, "cannot open %s: %s", path, strerror(errno));
    struct grove_buf buf = {0};
    char chunk[4096];
    size_t n;
    grove_err err = GROVE_OK;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if ((err = grove_buf_append(&buf, chunk, n)))
            break;
    }
    if (!err && ferror(f))
        err = grove_error_set(GROVE_EINVAL, "cannot read %s", path);
    if (!err && !buf.data)
        err = grove_error_set(GROVE_EINVAL, "%s is empty", path);
    fclose(f);
    if (err) {
        grove_buf_free(&buf);
        return err;
    }
    *out = buf.data;
    return GROVE_OK;
}

static gpr_timespec gt_deadline_ms(int ms)
{
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

/* ---- server ------------------------------------------------------------ */

enum { GSRV_WORKERS = 4, GSRV_SLOTS_UNARY = 8, GSRV_SLOTS_STREAM = 4 };

/* How long a stream thread waits for a commit before checking for
 * cancellation and shutdown. */
enum { GSRV_STREAM_POLL_MS = 200 };

/* GSRV_OTHER: any method we do not serve, answered UNIMPLEMENTED (left
 * unrequested, such calls would hang until their deadline). */
enum gsrv_method { GSRV_PULL, GSRV_PUSH, GSRV_STREAM, GSRV_OTHER, GSRV_METHODS = GSRV_OTHER };

struct gsrv_tag {
    void (*done)(struct gsrv_tag *tag, bool ok);
};

struct gsrv {
    grpc_server *server;
    grpc_completion_queue *cq;
    struct grove_server *core;
    char *token;
    void *methods[GSRV_METHODS];
    pthread_t workers[GSRV_WORKERS];
    size_t worker_count;
    atomic_bool stopping;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* streams or shutdown_done changed */
    size_t streams;      /* live stream threads */
    size_t calls;        /* live struct gsrv_call, slots included */
    bool shutdown_done;
    struct gsrv_tag shutdown_tag;
    grpc_server_credentials *creds;
};

struct gsrv_call {
    struct gsrv_tag request_tag; /* a new call matched this slot */
    struct gsrv_tag finish_tag;  /* unary: the final batch completed */
    struct gsrv_tag send_tag;    /* stream: one send batch completed */
    struct gsrv_tag close_tag;   /* stream: RECV_CLOSE_ON_SERVER completed */
    struct gsrv *srv;
    enum gsrv_method method;
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array metadata;
    grpc_call_details call_details; /* GSRV_OTHER only */
    grpc_byte_buffer *payload;
    grpc_byte_buffer *reply;
    grpc_slice details;
    bool has_details;
    int cancelled;
    /* Stream thread <-> worker handshake. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool send_done, send_ok, closed;
    struct grove_pull_request *stream_req;
};

static void gsrv_arm(struct gsrv *srv, enum gsrv_method method);

/* Close waits until every call struct is freed: a worker may still be
 * inside a handler after gRPC considers the cancelled call gone, and its
 * final batch must find the completion queue alive. */
static void gsrv_call_free(struct gsrv_call *c)
{
    struct gsrv *srv = c->srv;
    if (c->call)
        grpc_call_unref(c->call);
    grpc_metadata_array_destroy(&c->metadata);
    if (c->method == GSRV_OTHER)
        grpc_call_details_destroy(&c->call_details);
    if (c->payload)
        grpc_byte_buffer_destroy(c->payload);
    if (c->reply)
        grpc_byte_buffer_destroy(c->reply);
    if (c->has_details)
        grpc_slice_unref(c->details);
    grove_msg_free(c->stream_req);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->cond);
    free(c);
    pthread_mutex_lock(&srv->lock);
    srv->calls--;
    pthread_cond_broadcast(&srv->cond);
    pthread_mutex_unlock(&srv->lock);
}

static void gsrv_on_finish(struct gsrv_tag *tag, bool ok)
{
    (void)ok;
    struct gsrv_call *c =
        (struct gsrv_call *)((char *)tag - offsetof(struct gsrv_call, finish_tag));
    gsrv_call_free(c);
}

/* Ends a call with `status`, sending c->reply first when set. The call is
 * freed when the batch completes. */
static void gsrv_finish(struct gsrv_call *c, grpc_status_code status, const char *message)
{
    grpc_op ops[4];
    memset(ops, 0, sizeof ops);
    size_t n = 0;
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (c->reply && status == GRPC_STATUS_OK) {
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = c->reply;
    }
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = status;
    if (message && *message) {
        c->details = grpc_slice_from_copied_string(message);
        c->has_details = true;
        ops[n].data.send_status_from_server.status_details = &c->details;
    }
    n++;
    ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;
    c->finish_tag.done = gsrv_on_finish;
    grpc_call_error rc = grpc_call_start_batch(c->call, ops, n, &c->finish_tag, NULL);
    if (rc != GRPC_CALL_OK) {
        grove_log(GROVE_LOG_WARN, "grpc: cannot finish call: %s", grpc_call_error_to_string(rc));
        gsrv_call_free(c);
    }
}

/* UNAUTHENTICATED unless the call carries "authorization: Bearer <token>". */
static grove_err gsrv_check_auth(const struct gsrv *srv, const grpc_metadata_array *md)
{
    if (!srv->token)
        return GROVE_OK;
    static const char bearer[] = "Bearer ";
    for (size_t i = 0; i < md->count; i++) {
        if (!grpc_slice_str_cmp(md->metadata[i].key, "authorization")) {
            const char *v = (const char *)GRPC_SLICE_START_PTR(md->metadata[i].value);
            size_t len = GRPC_SLICE_LENGTH(md->metadata[i].value);
            if (len > sizeof bearer - 1 && strncasecmp(v, bearer, sizeof bearer - 1) == 0 &&
                grove_token_equal(srv->token, v + sizeof bearer - 1, len - (sizeof bearer - 1)))
                return GROVE_OK;
            return grove_error_set(GROVE_EAUTH, "invalid bearer token");
        }
    }
    return grove_error_set(GROVE_EAUTH, "missing \"authorization: Bearer <token>\" metadata");
}

static bool gsrv_deadline_passed(const struct gsrv_call *c)
{
    return gpr_time_cmp(c->deadline, gpr_now(c->deadline.clock_type)) < 0;
}

static grove_err gsrv_serve_unary(struct gsrv_call *c, const uint8_t *data, size_t len)
{
    struct grove_buf out = {0};
    grove_err err;
    if (c->method == GSRV_PULL) {
        struct grove_pull_request *req = NULL;
        struct grove_pull_response *resp = NULL;
        if (!(err = grove_grpc_decode_pull_request(data, len, &req)) &&
            !(err = grove_server_pull(c->srv->core, req, &resp)))
            err = grove_grpc_encode_pull_response(resp, &out);
        grove_msg_free(req);
        grove_msg_free(resp);
    } else {
        struct grove_push_request *req = NULL;
        struct grove_push_response *resp = NULL;
        if (!(err = grove_grpc_decode_push_request(data, len, &req)) &&
            !(err = grove_server_push(c->srv->core, req, &resp)))
            err = grove_grpc_encode_push_response(resp, &out);
        grove_msg_free(req);
        grove_msg_free(resp);
    }
    if (err) {
        grove_buf_free(&out);
        return err;
    }
    c->reply = gt_buffer_take(&out);
    return GROVE_OK;
}

static void gsrv_stream_start(struct gsrv_call *c, const uint8_t *data, size_t len);

static void gsrv_on_request(struct gsrv_tag *tag, bool ok)
{
    struct gsrv_call *c =
        (struct gsrv_call *)((char *)tag - offsetof(struct gsrv_call, request_tag));
    struct gsrv *srv = c->srv;
    if (!ok) { /* the server is shutting down: this slot never matched a call */
        gsrv_call_free(c);
        return;
    }
    gsrv_arm(srv, c->method); /* keep the slot count while this call runs */
    if (c->method == GSRV_OTHER) {
        char message[300];
        snprintf(message, sizeof message, "unknown method %.*s",
                 (int)GRPC_SLICE_LENGTH(c->call_details.method),
                 (const char *)GRPC_SLICE_START_PTR(c->call_details.method));
        gsrv_finish(c, GRPC_STATUS_UNIMPLEMENTED, message);
        return;
    }

    grove_err err = gsrv_check_auth(srv, &c->metadata);
    if (err) {
        gsrv_finish(c, gt_status_from_err(err), grove_errmsg());
        return;
    }
    if (gsrv_deadline_passed(c)) {
        gsrv_finish(c, GRPC_STATUS_DEADLINE_EXCEEDED, "deadline passed before the call ran");
        return;
    }
    grpc_slice body;
    if (!c->payload || !gt_buffer_slice(c->payload, &body)) {
        gsrv_finish(c, GRPC_STATUS_INVALID_ARGUMENT, "missing request message");
        return;
    }
    const uint8_t *data = GRPC_SLICE_START_PTR(body);
    size_t len = GRPC_SLICE_LENGTH(body);
    if (c->method == GSRV_STREAM) {
        gsrv_stream_start(c, data, len);
        grpc_slice_unref(body);
        return;
    }
    err = gsrv_serve_unary(c, data, len);
    grpc_slice_unref(body);
    if (err)
        gsrv_finish(c, gt_status_from_err(err), grove_errmsg());
    else
        gsrv_finish(c, GRPC_STATUS_OK, NULL);
}

/* Offers one more slot for `method` to the server. */
static void gsrv_arm(struct gsrv *srv, enum gsrv_method method)
{
    if (atomic_load(&srv->stopping))
        return;
    struct gsrv_call *c = calloc(1, sizeof *c);
    if (!c) {
        grove_log(GROVE_LOG_ERROR, "grpc: out of memory for a call slot");
        return;
    }
    c->srv = srv;
    c->method = method;
    pthread_mutex_lock(&srv->lock);
    srv->calls++;
    pthread_mutex_unlock(&srv->lock);
    c->request_tag.done = gsrv_on_request;
    grpc_metadata_array_init(&c->metadata);
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    grpc_call_error rc;
    if (method == GSRV_OTHER) {
        grpc_call_details_init(&c->call_details);
        rc = grpc_server_request_call(srv->server, &c->call, &c->call_details, &c->metadata,
                                      srv->cq, srv->cq, &c->request_tag);
    } else {
        rc = grpc_server_request_registered_call(srv->server, srv->methods[method], &c->call,
                                                 &c->deadline, &c->metadata, &c->payload, srv->cq,
                                                 srv->cq, &c->request_tag);
    }
    if (rc != GRPC_CALL_OK) {
        grove_log(GROVE_LOG_WARN, "grpc: cannot request a call: %s", grpc_call_error_to_string(rc));
        gsrv_call_free(c);
    }
}

/* -- streams -- */

static void gsrv_on_send(struct gsrv_tag *tag, bool ok)
{
    struct gsrv_call *c = (struct gsrv_call *)((char *)tag - offsetof(struct gsrv_call, send_tag));
    pthread_mutex_lock(&c->lock);
    c->send_done = true;
    c->send_ok = ok;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

static void gsrv_on_close(struct gsrv_tag *tag, bool ok)
{
    (void)ok;
    struct gsrv_call *c = (struct gsrv_call *)((char *)tag - offsetof(struct gsrv_call, close_tag));
    pthread_mutex_lock(&c->lock);
    c->closed = true;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

/* Runs one send batch from the stream thread and waits for its completion.
 * False when the call is gone (cancelled, deadline, shutdown). */
static bool gsrv_stream_send(struct gsrv_call *c, const grpc_op *ops, size_t n)
{
    pthread_mutex_lock(&c->lock);
    c->send_done = false;
    pthread_mutex_unlock(&c->lock);
    if (grpc_call_start_batch(c->call, ops, n, &c->send_tag, NULL) != GRPC_CALL_OK)
        return false;
    pthread_mutex_lock(&c->lock);
    while (!c->send_done)
        pthread_cond_wait(&c->cond, &c->lock);
    bool ok = c->send_ok;
    pthread_mutex_unlock(&c->lock);
    return ok;
}

static bool gsrv_stream_closed(struct gsrv_call *c)
{
    pthread_mutex_lock(&c->lock);
    bool closed = c->closed;
    pthread_mutex_unlock(&c->lock);
    return closed || atomic_load(&c->srv->stopping);
}

static void *gsrv_stream_main(void *arg)
{
    struct gsrv_call *c = arg;
    struct gsrv *srv = c->srv;
    struct grove_server_stream *stream = NULL;
    grpc_status_code status = GRPC_STATUS_OK;
    char message[512] = "";
    grpc_op op;

    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_INITIAL_METADATA;
    grove_err err = grove_server_stream_open(srv->core, c->stream_req, &stream);
    if (err)
        goto status;
    if (!gsrv_stream_send(c, &op, 1))
        goto status;
    while (!gsrv_stream_closed(c)) {
        struct grove_pull_response *batch = NULL;
        err = grove_server_stream_next(stream, GSRV_STREAM_POLL_MS, &batch);
        if (err == GROVE_ETIMEOUT)
            continue;
        if (err)
            break;
        struct grove_buf out = {0};
        err = grove_grpc_encode_stream_batch(batch, &out);
        grove_msg_free(batch);
        if (err) {
            grove_buf_free(&out);
            break;
        }
        grpc_byte_buffer *bb = gt_buffer_take(&out);
        memset(&op, 0, sizeof op);
        op.op = GRPC_OP_SEND_MESSAGE;
        op.data.send_message.send_message = bb;
        bool sent = gsrv_stream_send(c, &op, 1);
        grpc_byte_buffer_destroy(bb);
        if (!sent)
            break;
    }
status:
    if (err && err != GROVE_ETIMEOUT) {
        status = gt_status_from_err(err);
        snprintf(message, sizeof message, "%s", grove_errmsg());
    } else if (atomic_load(&srv->stopping)) {
        status = GRPC_STATUS_UNAVAILABLE;
        snprintf(message, sizeof message, "server shutting down");
    }
    grove_server_stream_close(stream);
    if (!gsrv_stream_closed(c) || atomic_load(&srv->stopping)) {
        grpc_op ops[2];
        memset(ops, 0, sizeof ops);
        size_t n = 0;
        if (!stream) /* initial metadata not sent yet */
            ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
        ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        ops[n].data.send_status_from_server.status = status;
        grpc_slice details = grpc_slice_from_copied_string(message);
        ops[n++].data.send_status_from_server.status_details = &details;
        gsrv_stream_send(c, ops, n);
        grpc_slice_unref(details);
    }
    /* RECV_CLOSE_ON_SERVER completes once the status went out or the call
     * was cancelled; only then may the call be released. */
    pthread_mutex_lock(&c->lock);
    while (!c->closed)
        pthread_cond_wait(&c->cond, &c->lock);
    pthread_mutex_unlock(&c->lock);
    gsrv_call_free(c);

    pthread_mutex_lock(&srv->lock);
    srv->streams--;
    pthread_cond_broadcast(&srv->cond);
    pthread_mutex_unlock(&srv->lock);
    return NULL;
}

static void gsrv_on_close_free(struct gsrv_tag *tag, bool ok)
{
    (void)ok;
    gsrv_call_free((struct gsrv_call *)((char *)tag - offsetof(struct gsrv_call, close_tag)));
}

static void gsrv_stream_start(struct gsrv_call *c, const uint8_t *data, size_t len)
{
    struct gsrv *srv = c->srv;
    grove_err err = grove_grpc_decode_pull_request(data, len, &c->stream_req);
    if (err) {
        gsrv_finish(c, gt_status_from_err(err), grove_errmsg());
        return;
    }
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &c->cancelled;
    c->send_tag.done = gsrv_on_send;
    c->close_tag.done = gsrv_on_close;
    if (grpc_call_start_batch(c->call, &op, 1, &c->close_tag, NULL) != GRPC_CALL_OK) {
        gsrv_call_free(c);
        return;
    }
    pthread_mutex_lock(&srv->lock);
    srv->streams++;
    pthread_mutex_unlock(&srv->lock);
    pthread_t thread;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&thread, &attr, gsrv_stream_main, c);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        pthread_mutex_lock(&srv->lock);
        srv->streams--;
        pthread_mutex_unlock(&srv->lock);
        /* No thread to own the call: the close completion frees it. */
        c->close_tag.done = gsrv_on_close_free;
        grpc_call_cancel_with_status(c->call, GRPC_STATUS_UNAVAILABLE, "no thread for the stream",
                                     NULL);
    }
}

static void *gsrv_worker(void *arg)
{
    struct gsrv *srv = arg;
    for (;;) {
        grpc_event ev =
            grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type == GRPC_OP_COMPLETE)
            ((struct gsrv_tag *)ev.tag)->done(ev.tag, ev.success != 0);
    }
    return NULL;
}

static void gsrv_on_shutdown(struct gsrv_tag *tag, bool ok)
{
    (void)ok;
    struct gsrv *srv = (struct gsrv *)((char *)tag - offsetof(struct gsrv, shutdown_tag));
    pthread_mutex_lock(&srv->lock);
    srv->shutdown_done = true;
    pthread_cond_broadcast(&srv->cond);
    pthread_mutex_unlock(&srv->lock);
}

/* "host:port" for gRPC, with brackets back around an IPv6 literal. */
static void gt_target(const struct grove_url *u, char *out, size_t size)
{
    if (strchr(u->host, ':'))
        snprintf(out, size, "[%s]:%d", u->host, u->port);
    else
        snprintf(out, size, "%s:%d", u->host, u->port);
}

static grove_err gsrv_credentials(const struct grove_listen_options *opts, bool tls,
                                  grpc_server_credentials **out)
{
    *out = NULL;
    if (!tls) {
        *out = grpc_insecure_server_credentials_create();
        return GROVE_OK;
    }
    if (!opts || !opts->cert_file || !opts->key_file)
        return grove_error_set(GROVE_EINVAL, "grpcs:// needs a certificate and a key");
    char *cert = NULL, *key = NULL, *ca = NULL;
    grove_err err;
    if ((err = gt_read_file(opts->cert_file, &cert)) ||
        (err = gt_read_file(opts->key_file, &key)) ||
        (opts->ca_file && (err = gt_read_file(opts->ca_file, &ca))))
        goto done;
    grpc_ssl_pem_key_cert_pair pair = {.private_key = key, .cert_chain = cert};
    *out = grpc_ssl_server_credentials_create_ex(
        ca, &pair, 1,
        ca ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
           : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
        NULL);
    if (!*out)
        err = grove_error_set(GROVE_EINVAL, "cannot create TLS credentials from %s and %s",
                              opts->cert_file, opts->key_file);
done:
    free(cert);
    free(key);
    free(ca);
    return err;
}

static void gsrv_close(void *self);

static grove_err gsrv_open(const char *url, struct grove_server *server,
                           const struct grove_listen_options *opts, void **self_out)
{
    *self_out = NULL;
    struct grove_url u;
    grove_err err = grove_url_parse(url, &u);
    if (err)
        return err;
    bool tls = strcmp(u.scheme, "grpcs") == 0;
    char addr[300];
    gt_target(&u, addr, sizeof addr);

    grpc_init();
    struct gsrv *srv = calloc(1, sizeof *srv);
    if (!srv) {
        grpc_shutdown();
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    }
    srv->core = server;
    pthread_mutex_init(&srv->lock, NULL);
    pthread_cond_init(&srv->cond, NULL);
    srv->shutdown_tag.done = gsrv_on_shutdown;
    if (opts && opts->token && !(srv->token = strdup(opts->token))) {
        err = grove_error_set(GROVE_ENOMEM, "out of memory");
        goto fail;
    }
    if ((err = gsrv_credentials(opts, tls, &srv->creds)))
        goto fail;

    size_t max_body = opts && opts->max_body ? opts->max_body : (size_t)64 << 20;
    if (max_body > INT32_MAX)
        max_body = INT32_MAX;
    int keepalive = opts && opts->keepalive_ms ? opts->keepalive_ms : 15000;
    grpc_arg arg_list[] = {
        {.type = GRPC_ARG_INTEGER,
         .key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
         .value.integer = (int)max_body},
        {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, .value.integer = -1},
        /* gRPC sets SO_REUSEPORT by default: a second listener on a taken
         * port would then start silently instead of failing. */
        {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_ALLOW_REUSEPORT, .value.integer = 0},
        {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_KEEPALIVE_TIME_MS, .value.integer = keepalive},
    };
    grpc_channel_args args = {.num_args = sizeof arg_list / sizeof arg_list[0], .args = arg_list};
    srv->server = grpc_server_create(&args, NULL);
    srv->cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(srv->server, srv->cq, NULL);
    static const char *const paths[GSRV_METHODS] = {GT_METHOD_PULL, GT_METHOD_PUSH,
                                                    GT_METHOD_STREAM};
    for (int m = 0; m < GSRV_METHODS; m++)
        srv->methods[m] = grpc_server_register_method(srv->server, paths[m], NULL,
                                                      GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
    if (!grpc_server_add_http2_port(srv->server, addr, srv->creds)) {
        err =
            grove_error_set(GROVE_EUNAVAIL, "cannot listen on %s (address in use or invalid)", url);
        goto fail;
    }
    grpc_server_start(srv->server);
    for (int i = 0; i < GSRV_SLOTS_UNARY; i++) {
        gsrv_arm(srv, GSRV_PULL);
        gsrv_arm(srv, GSRV_PUSH);
    }
    for (int i = 0; i < GSRV_SLOTS_STREAM; i++) {
        gsrv_arm(srv, GSRV_STREAM);
        gsrv_arm(srv, GSRV_OTHER);
    }
    for (; srv->worker_count < GSRV_WORKERS; srv->worker_count++) {
        if (pthread_create(&srv->workers[srv->worker_count], NULL, gsrv_worker, srv) != 0) {
            err = grove_error_set(GROVE_ENOMEM, "cannot start gRPC worker threads");
            goto fail;
        }
    }
    *self_out = srv;
    return GROVE_OK;
fail:
    gsrv_close(srv);
    return err;
}

static void gsrv_close(void *self)
{
    struct gsrv *srv = self;
    if (!srv)
        return;
    atomic_store(&srv->stopping, true);
    if (srv->server) {
        grpc_server_shutdown_and_notify(srv->server, srv->cq, &srv->shutdown_tag);
        grpc_server_cancel_all_calls(srv->server);
        if (srv->worker_count == 0) { /* failed open: drain the queue here */
            while (!srv->shutdown_done) {
                grpc_event ev =
                    grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
                if (ev.type == GRPC_OP_COMPLETE)
                    ((struct gsrv_tag *)ev.tag)->done(ev.tag, ev.success != 0);
            }
        }
        pthread_mutex_lock(&srv->lock);
        while (srv->streams > 0 || srv->calls > 0 || !srv->shutdown_done)
            pthread_cond_wait(&srv->cond, &srv->lock);
        pthread_mutex_unlock(&srv->lock);
        grpc_completion_queue_shutdown(srv->cq);
        for (size_t i = 0; i < srv->worker_count; i++)
            pthread_join(srv->workers[i], NULL);
        if (srv->worker_count == 0) {
            while (grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
                       .type != GRPC_QUEUE_SHUTDOWN) {
            }
        }
        grpc_server_destroy(srv->server);
        grpc_completion_queue_destroy(srv->cq);
    }
    if (srv->creds)
        grpc_server_credentials_release(srv->creds);
    pthread_mutex_destroy(&srv->lock);
    pthread_cond_destroy(&srv->cond);
    free(srv->token);
    free(srv);
    grpc_shutdown();
}

/* ---- client ------------------------------------------------------------ */

struct gcli {
    grpc_channel *channel;
    void *methods[GSRV_METHODS];
    char *authorization; /* "Bearer <token>" or NULL */
    int timeout_ms;
    char url[600];
};

static grove_err gcli_credentials(const struct grove_dial_options *opts, bool tls,
                                  grpc_channel_credentials **out)
{
    *out = NULL;
    if (!tls) {
        *out = grpc_insecure_credentials_create();
        return GROVE_OK;
    }
    if (opts && opts->insecure) {
        /* Development only: encrypt, but accept any server certificate. */
        grpc_tls_credentials_options *o = grpc_tls_credentials_options_create();
        grpc_tls_credentials_options_set_verify_server_cert(o, 0);
        grpc_tls_certificate_verifier *verifier = grpc_tls_certificate_verifier_no_op_create();
        grpc_tls_credentials_options_set_certificate_verifier(o, verifier);
        grpc_tls_certificate_verifier_release(verifier); /* the options hold their own ref */
        grpc_tls_credentials_options_set_check_call_host(o, 0);
        *out = grpc_tls_credentials_create(o);
        return *out ? GROVE_OK : grove_error_set(GROVE_EINVAL, "cannot create TLS credentials");
    }
    char *ca = NULL, *cert = NULL, *key = NULL;
    grove_err err;
    if ((opts && opts->ca_file && (err = gt_read_file(opts->ca_file, &ca))) ||
        (opts && opts->cert_file && (err = gt_read_file(opts->cert_file, &cert))) ||
        (opts && opts->key_file && (err = gt_read_file(opts->key_file, &key))))
        goto done;
    err = GROVE_OK;
    grpc_ssl_pem_key_cert_pair pair = {.private_key = key, .cert_chain = cert};
    *out = grpc_ssl_credentials_create_ex(ca, cert && key ? &pair : NULL, NULL, NULL);
    if (!*out)
        err = grove_error_set(GROVE_EINVAL, "cannot create TLS credentials");
done:
    free(ca);
    free(cert);
    free(key);
    return err;
}

static void gcli_close(void *self)
{
    struct gcli *c = self;
    if (!c)
        return;
    if (c->channel)
        grpc_channel_destroy(c->channel);
    free(c->authorization);
    free(c);
    grpc_shutdown();
}

static grove_err gcli_open(const char *url, const struct grove_dial_options *opts, void **self_out)
{
    *self_out = NULL;
    struct grove_url u;
    grove_err err = grove_url_parse(url, &u);
    if (err)
        return err;
    if (u.port == 0)
        return grove_error_set(GROVE_EINVAL, "%s: a gRPC peer needs a port", url);
    bool tls = strcmp(u.scheme, "grpcs") == 0;
    char target[300];
    gt_target(&u, target, sizeof target);

    grpc_init();
    struct gcli *c = calloc(1, sizeof *c);
    grpc_channel_credentials *creds = NULL;
    if (!c) {
        grpc_shutdown();
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    }
    snprintf(c->url, sizeof c->url, "%s", url);
    c->timeout_ms = opts && opts->timeout_ms > 0 ? opts->timeout_ms : 30000;
    if (opts && opts->token) {
        size_t n = strlen(opts->token) + sizeof "Bearer ";
        if (!(c->authorization = malloc(n))) {
            err = grove_error_set(GROVE_ENOMEM, "out of memory");
            goto fail;
        }
        snprintf(c->authorization, n, "Bearer %s", opts->token);
    }
    if ((err = gcli_credentials(opts, tls, &creds)))
        goto fail;
    int connect_ms = opts && opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 5000;
    grpc_arg arg_list[] = {
        {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, .value.integer = -1},
        /* A restarted peer should be found again within seconds, not after
         * gRPC's default two-minute reconnect backoff; the syncer has its own. */
        {.type = GRPC_ARG_INTEGER,
         .key = GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
         .value.integer = 200},
        /* gRPC uses the minimum backoff as the connect timeout as well. */
        {.type = GRPC_ARG_INTEGER,
         .key = GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
         .value.integer = connect_ms},
        {.type = GRPC_ARG_INTEGER,
         .key = GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
         .value.integer = connect_ms > 2000 ? connect_ms : 2000},
        /* Each peer gets its own connection even when two point at one host. */
        {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, .value.integer = 1},
    };
    grpc_channel_args args = {.num_args = sizeof arg_list / sizeof arg_list[0], .args = arg_list};
    c->channel = grpc_channel_create(target, creds, &args);
    grpc_channel_credentials_release(creds);
    if (!c->channel) {
        err = grove_error_set(GROVE_EUNAVAIL, "cannot create a gRPC channel to %s", url);
        goto fail;
    }
    c->methods[GSRV_PULL] = grpc_channel_register_call(c->channel, GT_METHOD_PULL, NULL, NULL);
    c->methods[GSRV_PUSH] = grpc_channel_register_call(c->channel, GT_METHOD_PUSH, NULL, NULL);
    c->methods[GSRV_STREAM] = grpc_channel_register_call(c->channel, GT_METHOD_STREAM, NULL, NULL);
    *self_out = c;
    return GROVE_OK;
fail:
    gcli_close(c);
    return err;
}

/* Initial metadata carrying the bearer token, if any. */
static size_t gcli_metadata(const struct gcli *c, grpc_metadata *md)
{
    if (!c->authorization)
        return 0;
    memset(md, 0, sizeof *md);
    md->key = grpc_slice_from_static_string("authorization");
    md->value = grpc_slice_from_static_string(c->authorization);
    return 1;
}

static grove_err gcli_status_error(const struct gcli *c, grpc_status_code status,
                                   const grpc_slice *details)
{
    return grove_error_set(gt_err_from_status(status), "grpc peer %s: %s: %.*s", c->url,
                           gt_status_name(status), (int)GRPC_SLICE_LENGTH(*details),
                           (const char *)GRPC_SLICE_START_PTR(*details));
}

/* One unary call. req holds the request as encoded and `encoded` is the
 * encoder's result: req is consumed either way, and a failed encoding is
 * returned without a call. On success *reply is the response slice (the
 * caller releases it with gcli_reply_done). */
static grove_err gcli_unary(struct gcli *c, enum gsrv_method method, grove_err encoded,
                            struct grove_buf *req, grpc_slice *reply)
{
    if (encoded) {
        grove_buf_free(req);
        return encoded;
    }
    grove_err err = GROVE_OK;
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_call *call = grpc_channel_create_registered_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS,
                                                          cq, c->methods[method],
                                                          gt_deadline_ms(c->timeout_ms), NULL);
    grpc_byte_buffer *send = gt_buffer_take(req);
    grpc_byte_buffer *recv = NULL;
    grpc_metadata md;
    grpc_metadata_array initial, trailing;
    grpc_metadata_array_init(&initial);
    grpc_metadata_array_init(&trailing);
    grpc_status_code status = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = gcli_metadata(c, &md);
    ops[0].data.send_initial_metadata.metadata = &md;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trailing;
    ops[5].data.recv_status_on_client.status = &status;
    ops[5].data.recv_status_on_client.status_details = &details;
    grpc_call_error rc = grpc_call_start_batch(call, ops, 6, call, NULL);
    if (rc != GRPC_CALL_OK) {
        err = grove_error_set(GROVE_EPROTO, "grpc peer %s: %s", c->url,
                              grpc_call_error_to_string(rc));
        goto done;
    }
    grpc_event ev = grpc_completion_queue_pluck(cq, call, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (ev.type != GRPC_OP_COMPLETE || !ev.success) {
        err = grove_error_set(GROVE_EUNAVAIL, "grpc peer %s: call failed", c->url);
        goto done;
    }
    if (status != GRPC_STATUS_OK) {
        err = gcli_status_error(c, status, &details);
        goto done;
    }
    if (!recv || !gt_buffer_slice(recv, reply)) {
        err = grove_error_set(GROVE_EPROTO, "grpc peer %s: OK without a response message", c->url);
        goto done;
    }
done:
    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&initial);
    grpc_metadata_array_destroy(&trailing);
    grpc_byte_buffer_destroy(send);
    if (recv)
        grpc_byte_buffer_destroy(recv);
    grpc_call_unref(call);
    grpc_completion_queue_shutdown(cq);
    grpc_completion_queue_destroy(cq);
    return err;
}

static grove_err gcli_decode_error(const struct gcli *c, grove_err err)
{
    return grove_error_prefix(err == GROVE_EINVAL ? GROVE_EPROTO : err,
                              "grpc peer %s: bad response: ", c->url);
}

/* Releases a unary reply; `decoded` is its decoder's result. */
static grove_err gcli_reply_done(const struct gcli *c, grpc_slice reply, grove_err decoded)
{
    grpc_slice_unref(reply);
    return decoded ? gcli_decode_error(c, decoded) : GROVE_OK;
}

static grove_err gcli_pull(void *self, const struct grove_pull_request *req,
                           struct grove_pull_response **out)
{
    struct gcli *c = self;
    *out = NULL;
    struct grove_buf buf = {0};
    grpc_slice reply;
    grove_err err =
        gcli_unary(c, GSRV_PULL, grove_grpc_encode_pull_request(req, &buf), &buf, &reply);
    if (err)
        return err;
    err =
        grove_grpc_decode_pull_response(GRPC_SLICE_START_PTR(reply), GRPC_SLICE_LENGTH(reply), out);
    return gcli_reply_done(c, reply, err);
}

static grove_err gcli_push(void *self, const struct grove_push_request *req,
                           struct grove_push_response **out)
{
    struct gcli *c = self;
    *out = NULL;
    struct grove_buf buf = {0};
    grpc_slice reply;
    grove_err err =
        gcli_unary(c, GSRV_PUSH, grove_grpc_encode_push_request(req, &buf), &buf, &reply);
    if (err)
        return err;
    err =
        grove_grpc_decode_push_response(GRPC_SLICE_START_PTR(reply), GRPC_SLICE_LENGTH(reply), out);
    return gcli_reply_done(c, reply, err);
}

/* Tags of the stream consumer's batches. */
enum { GCLI_TAG_START = 1, GCLI_TAG_STATUS, GCLI_TAG_MESSAGE, GCLI_TAGS };

static grove_err gcli_subscribe(void *self, const struct grove_pull_request *req, grove_batch_fn fn,
                                void *user, const atomic_bool *stop)
{
    struct gcli *c = self;
    struct grove_buf buf = {0};
    grove_err err = grove_grpc_encode_pull_request(req, &buf);
    if (err) {
        grove_buf_free(&buf);
        return err;
    }
    grpc_completion_queue *cq = grpc_completion_queue_create_for_next(NULL);
    grpc_call *call = grpc_channel_create_registered_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS,
                                                          cq, c->methods[GSRV_STREAM],
                                                          gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    grpc_byte_buffer *send = gt_buffer_take(&buf);
    grpc_byte_buffer *recv = NULL;
    grpc_metadata md;
    grpc_metadata_array initial, trailing;
    grpc_metadata_array_init(&initial);
    grpc_metadata_array_init(&trailing);
    grpc_status_code status = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    bool pending[GCLI_TAGS] = {false};
    bool cancelled = false, ended = false;

    grpc_op ops[4];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = gcli_metadata(c, &md);
    ops[0].data.send_initial_metadata.metadata = &md;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial;
    if (grpc_call_start_batch(call, ops, 4, (void *)GCLI_TAG_START, NULL) == GRPC_CALL_OK)
        pending[GCLI_TAG_START] = true;
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[0].data.recv_status_on_client.trailing_metadata = &trailing;
    ops[0].data.recv_status_on_client.status = &status;
    ops[0].data.recv_status_on_client.status_details = &details;
    if (grpc_call_start_batch(call, ops, 1, (void *)GCLI_TAG_STATUS, NULL) == GRPC_CALL_OK)
        pending[GCLI_TAG_STATUS] = true;
    if (!pending[GCLI_TAG_START] || !pending[GCLI_TAG_STATUS]) {
        err = grove_error_set(GROVE_EPROTO, "grpc peer %s: cannot start the stream", c->url);
        grpc_call_cancel(call, NULL);
        cancelled = true;
    }

    /* Keep one RECV_MESSAGE outstanding; wake every 200 ms to honour *stop. */
    while (pending[GCLI_TAG_START] || pending[GCLI_TAG_STATUS] || pending[GCLI_TAG_MESSAGE]) {
        if (!cancelled && !ended && !pending[GCLI_TAG_MESSAGE]) {
            memset(ops, 0, sizeof ops);
            ops[0].op = GRPC_OP_RECV_MESSAGE;
            ops[0].data.recv_message.recv_message = &recv;
            if (grpc_call_start_batch(call, ops, 1, (void *)GCLI_TAG_MESSAGE, NULL) == GRPC_CALL_OK)
                pending[GCLI_TAG_MESSAGE] = true;
            else
                ended = true;
        }
        if (!cancelled && atomic_load(stop)) {
            grpc_call_cancel(call, NULL);
            cancelled = true;
        }
        grpc_event ev = grpc_completion_queue_next(cq, gt_deadline_ms(200), NULL);
        if (ev.type != GRPC_OP_COMPLETE)
            continue;
        intptr_t tag = (intptr_t)ev.tag;
        pending[tag] = false;
        if (tag != GCLI_TAG_MESSAGE)
            continue;
        if (!recv) { /* the server ended the stream; the status follows */
            ended = true;
            continue;
        }
        grpc_slice body;
        bool have = gt_buffer_slice(recv, &body);
        grpc_byte_buffer_destroy(recv);
        recv = NULL;
        if (cancelled || !have)
            continue;
        struct grove_pull_response *batch = NULL;
        grove_err e = grove_grpc_decode_stream_batch(GRPC_SLICE_START_PTR(body),
                                                     GRPC_SLICE_LENGTH(body), &batch);
        grpc_slice_unref(body);
        if (e)
            e = gcli_decode_error(c, e);
        else
            e = fn(user, batch);
        grove_msg_free(batch);
        if (e) {
            err = e;
            grpc_call_cancel(call, NULL);
            cancelled = true;
        }
    }
    if (!err && !atomic_load(stop)) {
        if (status != GRPC_STATUS_OK)
            err = gcli_status_error(c, status, &details);
        else
            err = grove_error_set(GROVE_EUNAVAIL, "grpc peer %s: stream ended", c->url);
    }
    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&initial);
    grpc_metadata_array_destroy(&trailing);
    grpc_byte_buffer_destroy(send);
    grpc_call_unref(call);
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(cq);
    return err;
}

/* ---- registration ------------------------------------------------------ */

static const struct grove_dialer_ops gt_dialer = {
    .open = gcli_open,
    .pull = gcli_pull,
    .push = gcli_push,
    .subscribe = gcli_subscribe,
    .close = gcli_close,
};

static const struct grove_listener_ops gt_listener = {
    .open = gsrv_open,
    .close = gsrv_close,
};

static const char *const gt_schemes[] = {"grpc", "grpcs", NULL};

static const struct grove_transport gt_transport = {
    .name = "grpc",
    .schemes = gt_schemes,
    .dialer = &gt_dialer,
    .listener = &gt_listener,
};

const struct grove_transport *grove_transport_grpc(void)
{
    return &gt_transport;
}
