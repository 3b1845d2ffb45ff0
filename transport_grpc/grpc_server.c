/* The gRPC listener: one completion queue served by a small pool of worker
 * threads. Every tag is a struct gsrv_tag whose callback runs on the worker
 * that dequeued it. Unary calls (Pull, Push) run on the worker: they block on
 * the store, so a few workers keep several calls in flight. Each Stream call
 * gets its own thread, because grove_serve_stream_next blocks until a commit;
 * the thread hands its sends to the completion queue and waits for the worker
 * to report them. Close shuts the server down, cancels every call and joins
 * every thread before destroying anything, so no call outlives the listener.
 * The bytes are the protobuf codec's: grove_serve decodes, serves, encodes.
 * The Data service's calls run the same way (grpc_data.c gives their bytes
 * meaning; a Watch is a stream). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>

#include "grove/metrics.h"
#include "grove/sys/error.h"
#include "grpc_internal.h"

/* Unary calls block their worker until the store answers, and a Data API
 * write until its group commits: 16 workers let 16 writers share a commit
 * (with 4, at most 4 did, and 16 clients got a third fewer writes/s). */
enum { GSRV_WORKERS = 16, GSRV_SLOTS_UNARY = 16, GSRV_SLOTS_STREAM = 4 };

/* How long a stream thread waits for a commit before checking for
 * cancellation and shutdown. */
enum { GSRV_STREAM_POLL_MS = 200 };

/* GSRV_OTHER: any method we do not serve, answered UNIMPLEMENTED (left
 * unrequested, such calls would hang until their deadline). */
enum gsrv_method {
    GSRV_PULL = GT_PULL,
    GSRV_PUSH = GT_PUSH,
    GSRV_STREAM = GT_STREAM,
    GSRV_OTHER = GT_METHODS
};

struct gsrv_tag {
    void (*done)(struct gsrv_tag *tag, bool ok);
};

struct gsrv {
    grpc_server *server;
    grpc_completion_queue *cq;
    struct grove_server *core;
    struct grove_guard *guard; /* the core's: who may call */
    void *methods[GT_METHODS];
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
    /* GSRV_STREAM, GT_DATA_WATCH: opened before its thread starts */
    const struct gt_stream_ops *stream_ops;
    void *stream;
    int64_t started_us;         /* when the call matched (grove_metrics_now_us) */
    struct grove_caller caller; /* who calls, once admitted */
};

/* The client's address, for the server's hooks (grove_serve_from) and the request log. */
static void gsrv_peer_addr(const struct gsrv_call *c, char *out, size_t size)
{
    char *uri = grpc_call_get_peer(c->call);
    grove_peer_addr_from_uri(out, size, uri ? uri : "");
    gpr_free(uri);
}

/* Counts a call in the node's metrics (health checks and unknown methods
 * are not); a stream is counted once it starts, untimed. */
static void gsrv_count(const struct gsrv_call *c, grove_err err)
{
    if ((int)c->method >= GT_HEALTH_CHECK)
        return;
    bool stream = c->method == GSRV_STREAM || (int)c->method == GT_DATA_WATCH;
    enum grove_metrics_op op = c->method == GSRV_PULL     ? GROVE_METRICS_OP_PULL
                               : c->method == GSRV_PUSH   ? GROVE_METRICS_OP_PUSH
                               : c->method == GSRV_STREAM ? GROVE_METRICS_OP_STREAM
                                                          : GROVE_METRICS_OP_DATA;
    grove_metrics_request(grove_store_metrics(grove_server_store(c->srv->core)), GROVE_METRICS_GRPC,
                          op, err, stream ? 0 : c->started_us);
    if (op == GROVE_METRICS_OP_DATA && grove_log_enabled(GROVE_LOG_DEBUG)) {
        char peer[GROVE_PEER_ADDR_MAX];
        gsrv_peer_addr(c, peer, sizeof peer);
        grove_log_request("grpc", grove_grpc_method_paths[c->method], peer,
                          grove_grpc_status_name(grove_err_to_grpc(err)),
                          (double)(grove_metrics_now_us() - c->started_us) / 1000.0);
    }
}

static void gsrv_count_subscriber(const struct gsrv_call *c, int delta)
{
    grove_metrics_subscribers_add(grove_store_metrics(grove_server_store(c->srv->core)),
                                  GROVE_METRICS_GRPC, delta);
}

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
    if (c->stream)
        c->stream_ops->close(c->stream);
    grove_caller_release(&c->caller);
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
    gsrv_count(c, grove_err_from_grpc(status));
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
    grpc_call_error rc = grove_grpc_start_batch(c->call, ops, n, &c->finish_tag);
    if (rc != GRPC_CALL_OK) {
        grove_log(GROVE_LOG_WARN, "grpc: cannot finish call: %s", grpc_call_error_to_string(rc));
        gsrv_call_free(c);
    }
}

static bool gsrv_deadline_passed(const struct gsrv_call *c)
{
    return gpr_time_cmp(c->deadline, gpr_now(c->deadline.clock_type)) < 0;
}

#define GSRV_CERT_NAMES 8

/* Admits the call (c->caller): the core is handed its "authorization"
 * metadata, its address and, on grpcs with a CA, the names gRPC verified in
 * the client certificate (subject, common name, SANs). */
static grove_err gsrv_admit(struct gsrv_call *c)
{
    static const char *const ops[] = {"pull", "push", "stream"};
    char peer[GROVE_PEER_ADDR_MAX];
    gsrv_peer_addr(c, peer, sizeof peer);
    struct grove_credentials cred = {.op = (int)c->method <= GSRV_STREAM ? ops[c->method] : "data",
                                     .peer_addr = peer[0] ? peer : NULL};
    const grpc_metadata_array *md = &c->metadata;
    for (size_t i = 0; i < md->count && !cred.authorization; i++)
        if (!grpc_slice_str_cmp(md->metadata[i].key, "authorization")) {
            cred.authorization = (const char *)GRPC_SLICE_START_PTR(md->metadata[i].value);
            cred.authorization_len = GRPC_SLICE_LENGTH(md->metadata[i].value);
        }
    char names[GSRV_CERT_NAMES][256];
    const char *name_ptrs[GSRV_CERT_NAMES];
    grpc_auth_context *auth = grpc_call_auth_context(c->call);
    if (auth) {
        grpc_auth_property_iterator it = grpc_auth_context_property_iterator(auth);
        const grpc_auth_property *p;
        while ((p = grpc_auth_property_iterator_next(&it)) &&
               cred.cert_name_count < GSRV_CERT_NAMES) {
            if (strcmp(p->name, GRPC_X509_SUBJECT_PROPERTY_NAME) != 0 &&
                strcmp(p->name, GRPC_X509_CN_PROPERTY_NAME) != 0 &&
                strcmp(p->name, GRPC_X509_SAN_PROPERTY_NAME) != 0)
                continue;
            if (p->value_length == 0 || p->value_length >= sizeof names[0])
                continue;
            char *n = names[cred.cert_name_count];
            memcpy(n, p->value, p->value_length);
            n[p->value_length] = '\0';
            name_ptrs[cred.cert_name_count++] = n;
        }
        grpc_auth_context_release(auth);
    }
    cred.cert_names = name_ptrs;
    return grove_guard_admit(c->srv->guard, &cred, GROVE_NEED_SYNC, &c->caller);
}

static grove_err gsrv_serve_unary(struct gsrv_call *c, const char *data, size_t len)
{
    struct grove_buf out = {0};
    grove_err err;
    if (c->method == GSRV_PULL || c->method == GSRV_PUSH) {
        err = grove_serve_as(c->srv->core, &c->caller, &grove_codec_protobuf,
                             c->method == GSRV_PULL ? GROVE_CALL_PULL : GROVE_CALL_PUSH, data, len,
                             &out);
    } else if ((int)c->method == GT_HEALTH_CHECK) {
        err = grove_grpc_health_check(c->srv->core, data, len, &out);
    } else {
        err = grove_grpc_data_serve(c->srv->core, &c->caller, (enum gt_method)c->method, data, len,
                                    &out);
    }
    if (err) {
        grove_buf_free(&out);
        return err;
    }
    c->reply = grove_grpc_buffer_take(&out);
    return GROVE_OK;
}

static void gsrv_stream_start(struct gsrv_call *c, const char *data, size_t len);

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
    c->started_us = grove_metrics_now_us();
    if (c->method == GSRV_OTHER) {
        char message[300];
        snprintf(message, sizeof message, "unknown method %.*s",
                 (int)GRPC_SLICE_LENGTH(c->call_details.method),
                 (const char *)GRPC_SLICE_START_PTR(c->call_details.method));
        gsrv_finish(c, GRPC_STATUS_UNIMPLEMENTED, message);
        return;
    }

    /* Health probes carry no token. */
    grove_err err = (int)c->method == GT_HEALTH_CHECK ? GROVE_OK : gsrv_admit(c);
    if (err) {
        gsrv_finish(c, grove_err_to_grpc(err), grove_errmsg());
        return;
    }
    if (gsrv_deadline_passed(c)) {
        gsrv_finish(c, GRPC_STATUS_DEADLINE_EXCEEDED, "deadline passed before the call ran");
        return;
    }
    grpc_slice body;
    if ((int)c->method == GT_HEALTH_CHECK && c->payload &&
        grpc_byte_buffer_length(c->payload) == 0) /* an empty message: the whole server */
        body = grpc_empty_slice();
    else if (!c->payload || !grove_grpc_buffer_slice(c->payload, &body)) {
        gsrv_finish(c, GRPC_STATUS_INVALID_ARGUMENT, "missing request message");
        return;
    }
    const char *data = (const char *)GRPC_SLICE_START_PTR(body);
    size_t len = GRPC_SLICE_LENGTH(body);
    if (c->method == GSRV_STREAM || (int)c->method == GT_DATA_WATCH) {
        gsrv_stream_start(c, data, len);
        grpc_slice_unref(body);
        return;
    }
    err = gsrv_serve_unary(c, data, len);
    grpc_slice_unref(body);
    if (err)
        gsrv_finish(c, grove_err_to_grpc(err), grove_errmsg());
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
    GT_TAG_SENT(&c->request_tag);
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
    if (grove_grpc_start_batch(c->call, ops, n, &c->send_tag) != GRPC_CALL_OK)
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
    grpc_status_code status = GRPC_STATUS_OK;
    char message[512] = "";
    grpc_op op;

    grove_err err = GROVE_OK;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_INITIAL_METADATA;
    /* A watch says where it goes on from, so a client that saw no event yet
     * can still resume without a gap. */
    grpc_metadata cursor_md;
    const char *cursor = c->stream_ops->cursor ? c->stream_ops->cursor(c->stream) : NULL;
    if (cursor && *cursor) {
        cursor_md.key = grpc_slice_from_static_string("grove-cursor");
        cursor_md.value = grpc_slice_from_copied_string(cursor);
        op.data.send_initial_metadata.count = 1;
        op.data.send_initial_metadata.metadata = &cursor_md;
    }
    gsrv_count(c, GROVE_OK);
    gsrv_count_subscriber(c, 1);
    bool started = gsrv_stream_send(c, &op, 1);
    if (op.data.send_initial_metadata.count)
        grpc_slice_unref(cursor_md.value);
    if (!started)
        goto status;
    while (!gsrv_stream_closed(c)) {
        struct grove_buf out = {0};
        err = c->stream_ops->next(c->stream, GSRV_STREAM_POLL_MS, &out);
        if (err == GROVE_ETIMEOUT)
            continue;
        if (err) {
            grove_buf_free(&out);
            break;
        }
        grpc_byte_buffer *bb = grove_grpc_buffer_take(&out);
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
        status = grove_err_to_grpc(err);
        snprintf(message, sizeof message, "%s", grove_errmsg());
    } else if (atomic_load(&srv->stopping)) {
        status = GRPC_STATUS_UNAVAILABLE;
        snprintf(message, sizeof message, "server shutting down");
    }
    c->stream_ops->close(c->stream);
    c->stream = NULL;
    gsrv_count_subscriber(c, -1);
    if (!gsrv_stream_closed(c) || atomic_load(&srv->stopping)) {
        grpc_slice details = grpc_slice_from_copied_string(message);
        memset(&op, 0, sizeof op);
        op.op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        op.data.send_status_from_server.status = status;
        op.data.send_status_from_server.status_details = &details;
        gsrv_stream_send(c, &op, 1);
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

/* The sync service's Stream as a gt_stream_ops source. */
static grove_err gsrv_sync_next(void *self, int timeout_ms, struct grove_buf *out)
{
    return grove_serve_stream_next(self, &grove_codec_protobuf, timeout_ms, out);
}

static void gsrv_sync_close(void *self)
{
    grove_server_stream_close(self);
}

static const struct gt_stream_ops gsrv_sync_stream_ops = {
    .next = gsrv_sync_next,
    .close = gsrv_sync_close,
};

static grove_err gsrv_stream_open(struct gsrv_call *c, const char *data, size_t len)
{
    if ((int)c->method == GT_DATA_WATCH)
        return grove_grpc_watch_open(c->srv->core, &c->caller, data, len, &c->stream_ops,
                                     &c->stream);
    c->stream_ops = &gsrv_sync_stream_ops;
    struct grove_server_stream *stream;
    grove_err err = grove_serve_stream_open_as(c->srv->core, &c->caller, &grove_codec_protobuf,
                                               data, len, &stream);
    c->stream = err ? NULL : stream;
    return err;
}

static void gsrv_stream_start(struct gsrv_call *c, const char *data, size_t len)
{
    struct gsrv *srv = c->srv;
    grove_err err = gsrv_stream_open(c, data, len);
    if (err) {
        gsrv_finish(c, grove_err_to_grpc(err), grove_errmsg());
        return;
    }
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &c->cancelled;
    c->send_tag.done = gsrv_on_send;
    c->close_tag.done = gsrv_on_close;
    if (grove_grpc_start_batch(c->call, &op, 1, &c->close_tag) != GRPC_CALL_OK) {
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
        grpc_event ev = grove_grpc_cq_next(srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME));
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
static grove_err gsrv_credentials(const struct grove_listen_options *opts, bool tls,
                                  grpc_server_credentials **out)
{
    *out = NULL;
    if (!tls) {
        *out = grpc_insecure_server_credentials_create();
        return GROVE_OK;
    }
    if (!opts->cert_file || !opts->key_file)
        return grove_error_set(GROVE_EINVAL, "grpcs:// needs a certificate and a key");
    char *cert = NULL, *key = NULL, *ca = NULL;
    grove_err err;
    if ((err = grove_file_read(opts->cert_file, "certificate", &cert, NULL)) ||
        (err = grove_file_read(opts->key_file, "key", &key, NULL)) ||
        (opts->ca_file && (err = grove_file_read(opts->ca_file, "CA file", &ca, NULL))))
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

static grove_err gsrv_open(const struct grove_url *url, struct grove_server *server,
                           const struct grove_listen_options *opts, void **self_out)
{
    *self_out = NULL;
    grove_err err;
    bool tls = strcmp(url->scheme, "grpcs") == 0;
    char addr[300];
    grove_grpc_target(url, addr, sizeof addr);

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
    srv->guard = opts->guard;
    if ((err = gsrv_credentials(opts, tls, &srv->creds)))
        goto fail;

    size_t max_body = opts->max_body > INT32_MAX ? INT32_MAX : opts->max_body;
    int keepalive = opts->keepalive_ms;
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
    for (int m = 0; m < GT_METHODS; m++)
        srv->methods[m] = grpc_server_register_method(srv->server, grove_grpc_method_paths[m], NULL,
                                                      GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
    if (!grpc_server_add_http2_port(srv->server, addr, srv->creds)) {
        err = grove_error_set(GROVE_EUNAVAIL, "cannot listen on %s (address in use or invalid)",
                              addr);
        goto fail;
    }
    grpc_server_start(srv->server);
    for (int m = 0; m < GT_METHODS; m++) {
        bool stream = m == GT_STREAM || m == GT_DATA_WATCH;
        for (int i = 0; i < (stream ? GSRV_SLOTS_STREAM : GSRV_SLOTS_UNARY); i++)
            gsrv_arm(srv, (enum gsrv_method)m);
    }
    for (int i = 0; i < GSRV_SLOTS_STREAM; i++)
        gsrv_arm(srv, GSRV_OTHER);
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
        GT_TAG_SENT(&srv->shutdown_tag);
        grpc_server_shutdown_and_notify(srv->server, srv->cq, &srv->shutdown_tag);
        grpc_server_cancel_all_calls(srv->server);
        if (srv->worker_count == 0) { /* failed open: drain the queue here */
            while (!srv->shutdown_done) {
                grpc_event ev = grove_grpc_cq_next(srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME));
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
            while (grove_grpc_cq_next(srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME)).type !=
                   GRPC_QUEUE_SHUTDOWN) {
            }
        }
        grpc_server_destroy(srv->server);
        grpc_completion_queue_destroy(srv->cq);
    }
    if (srv->creds)
        grpc_server_credentials_release(srv->creds);
    pthread_mutex_destroy(&srv->lock);
    pthread_cond_destroy(&srv->cond);
    free(srv);
    grpc_shutdown();
}

const struct grove_listener_ops grove_grpc_listener_ops = {
    .open = gsrv_open,
    .close = gsrv_close,
};
