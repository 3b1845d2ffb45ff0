/* The gRPC listener: one completion queue served by a small pool of worker
 * threads, and a few more, a worker each, that Stream and Watch calls are
 * bound to (grpc_server.h). Every tag is a struct gsrv_tag whose callback
 * runs on the worker that dequeued it. Unary calls (Pull, Push) run on the worker: they block on
 * the store, so a few workers keep several calls in flight. Stream and Watch
 * calls (grpc_stream.c) hold no thread: their sends complete on the workers,
 * and one pump thread wakes the idle ones on each commit. Close shuts the
 * server down, cancels every call and waits for every call to be freed
 * before destroying anything, so no call outlives the listener. The bytes
 * are the protobuf codec's: grove_serve decodes, serves, encodes. The Data
 * service's calls run the same way (grpc_data.c gives their bytes meaning). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/support/alloc.h>

#include "grove/metrics.h"
#include "grove/sys/cert_names.h"
#include "grove/sys/error.h"
#include "grpc_server.h"

/* The client's address, for the server's hooks (grove_serve_from) and the request log. */
static void gsrv_peer_addr(const struct gsrv_call *c, char *out, size_t size)
{
    char *uri = grpc_call_get_peer(c->call);
    grove_peer_addr_from_uri(out, size, uri ? uri : "");
    gpr_free(uri);
}

/* Counts a call in the node's metrics (health checks and unknown methods
 * are not); a stream is counted once it starts, untimed. */
void gsrv_count(const struct gsrv_call *c, grove_err err)
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

void gsrv_count_subscriber(const struct gsrv_call *c, int delta)
{
    grove_metrics_subscribers_add(grove_store_metrics(grove_server_store(c->srv->core)),
                                  GROVE_METRICS_GRPC, delta);
}

static void gsrv_arm(struct gsrv *srv, enum gsrv_method method);

/* Close waits until every call struct is freed: a worker may still be
 * inside a handler after gRPC considers the cancelled call gone, and its
 * final batch must find the completion queue alive. */
void gsrv_call_free(struct gsrv_call *c)
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
    if (c->sending)
        grpc_byte_buffer_destroy(c->sending);
    if (c->has_cursor_md)
        grpc_slice_unref(c->cursor_md.value);
    pthread_mutex_destroy(&c->lock);
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
void gsrv_finish(struct gsrv_call *c, grpc_status_code status, const char *message)
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

/* Admits the call (c->caller): the core is handed its "authorization"
 * metadata, its address and, on grpcs with a CA, the names of the client
 * certificate gRPC verified (core/cert_names.c makes them from its PEM, as
 * for every transport: gRPC's own subject property is OpenSSL's form). */
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
    struct grove_cert_names names = {.count = 0};
    grpc_auth_context *auth = grpc_call_auth_context(c->call);
    if (auth) {
        grpc_auth_property_iterator it =
            grpc_auth_context_find_properties_by_name(auth, GRPC_X509_PEM_CERT_PROPERTY_NAME);
        const grpc_auth_property *p = grpc_auth_property_iterator_next(&it);
        if (p && grove_cert_names_pem(&names, p->value, p->value_length))
            names.count = 0;
        grpc_auth_context_release(auth);
    }
    cred.cert = &names;
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
    grpc_call_error rc;
    GT_TAG_SENT(&c->request_tag);
    /* The request completes on the shared queue; a stream's batches then
     * complete on its own queue. */
    grpc_completion_queue *bound = srv->cq;
    if ((int)method == GT_STREAM || (int)method == GT_DATA_WATCH)
        bound = srv->stream_cqs[atomic_fetch_add(&srv->next_stream_cq, 1) % GSRV_STREAM_QUEUES];
    if (method == GSRV_OTHER) {
        grpc_call_details_init(&c->call_details);
        rc = grpc_server_request_call(srv->server, &c->call, &c->call_details, &c->metadata,
                                      srv->cq, srv->cq, &c->request_tag);
    } else {
        rc = grpc_server_request_registered_call(srv->server, srv->methods[method], &c->call,
                                                 &c->deadline, &c->metadata, &c->payload, bound,
                                                 srv->cq, &c->request_tag);
    }
    if (rc != GRPC_CALL_OK) {
        grove_log(GROVE_LOG_WARN, "grpc: cannot request a call: %s", grpc_call_error_to_string(rc));
        gsrv_call_free(c);
    }
}

/* Serves one completion queue (arg) until it shuts down. */
static void *gsrv_worker(void *arg)
{
    grpc_completion_queue *cq = arg;
    for (;;) {
        grpc_event ev = grove_grpc_cq_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME));
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
    for (int q = 0; q < GSRV_STREAM_QUEUES; q++) {
        srv->stream_cqs[q] = grpc_completion_queue_create_for_next(NULL);
        grpc_server_register_completion_queue(srv->server, srv->stream_cqs[q], NULL);
    }
    for (int m = 0; m < GT_METHODS; m++)
        srv->methods[m] = grpc_server_register_method(srv->server, grove_grpc_method_paths[m], NULL,
                                                      GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
    if (!grpc_server_add_http2_port(srv->server, addr, srv->creds)) {
        err = grove_error_set(GROVE_EUNAVAIL, "cannot listen on %s (address in use or invalid)",
                              addr);
        goto fail;
    }
    if ((err = gsrv_pump_start(srv)))
        goto fail;
    /* Before any call is bound to their queues. */
    for (; srv->stream_worker_count < GSRV_STREAM_QUEUES; srv->stream_worker_count++) {
        size_t q = srv->stream_worker_count;
        if (pthread_create(&srv->stream_workers[q], NULL, gsrv_worker, srv->stream_cqs[q]) != 0) {
            err = grove_error_set(GROVE_ENOMEM, "cannot start gRPC worker threads");
            goto fail;
        }
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
        if (pthread_create(&srv->workers[srv->worker_count], NULL, gsrv_worker, srv->cq) != 0) {
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
        gsrv_pump_stop(srv);
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
        for (int q = 0; q < GSRV_STREAM_QUEUES; q++)
            grpc_completion_queue_shutdown(srv->stream_cqs[q]);
        for (size_t i = 0; i < srv->worker_count; i++)
            pthread_join(srv->workers[i], NULL);
        for (size_t q = 0; q < srv->stream_worker_count; q++)
            pthread_join(srv->stream_workers[q], NULL);
        if (srv->worker_count == 0) {
            while (grove_grpc_cq_next(srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME)).type !=
                   GRPC_QUEUE_SHUTDOWN) {
            }
        }
        gpr_timespec forever = gpr_inf_future(GPR_CLOCK_REALTIME);
        for (size_t q = srv->stream_worker_count; q < GSRV_STREAM_QUEUES; q++) /* failed open */
            while (grove_grpc_cq_next(srv->stream_cqs[q], forever).type != GRPC_QUEUE_SHUTDOWN) {
            }
        grpc_server_destroy(srv->server);
        grpc_completion_queue_destroy(srv->cq);
        for (int q = 0; q < GSRV_STREAM_QUEUES; q++)
            grpc_completion_queue_destroy(srv->stream_cqs[q]);
    }
    gsrv_pump_free(srv);
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
