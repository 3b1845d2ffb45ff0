/* inproc://name — listeners and dialers in one process. Every request and
 * answer is encoded to JSON and decoded again, so tests and the simulator run
 * the same wire path as a network transport. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "grove/metrics.h"
#include "grove/sys/error.h"
#include "grove/sys/transport.h"

struct inproc_listener {
    struct inproc_listener *next;
    char *name;
    struct grove_server *server;
    struct grove_guard *guard; /* the core's, for the listener's life */
    size_t max_body;
    int refs;    /* calls in flight */
    bool closed; /* removed from the list; streams end */
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t idle;
    struct inproc_listener *head;
} inproc = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL};

struct inproc_dialer {
    char *name;
    char *authorization; /* "Bearer <token>" or NULL */
};

static const char *inproc_name(const struct grove_url *url)
{
    return url->text + strlen("inproc://");
}

/* Finds and pins a listener and admits the call (*caller, released by the
 * caller); GROVE_EUNAVAIL as for a refused connection. */
static grove_err inproc_acquire(const struct inproc_dialer *d, const char *op,
                                struct inproc_listener **out, struct grove_caller *caller)
{
    pthread_mutex_lock(&inproc.lock);
    struct inproc_listener *l = inproc.head;
    while (l && strcmp(l->name, d->name) != 0)
        l = l->next;
    if (l)
        l->refs++;
    pthread_mutex_unlock(&inproc.lock);
    *out = l;
    memset(caller, 0, sizeof *caller);
    if (!l)
        return grove_error_set(GROVE_EUNAVAIL, "inproc://%s: no listener", d->name);
    const char *auth = d->authorization;
    struct grove_credentials cred = {
        .op = op, .authorization = auth, .authorization_len = auth ? strlen(auth) : 0};
    return grove_guard_admit(l->guard, &cred, GROVE_NEED_SYNC, caller);
}

static void inproc_release(struct inproc_listener *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&inproc.lock);
    l->refs--;
    pthread_cond_broadcast(&inproc.idle);
    pthread_mutex_unlock(&inproc.lock);
}

static grove_err inproc_open(const struct grove_url *url, const struct grove_dial_options *opts,
                             const struct grove_codec **codec, void **self_out)
{
    (void)codec;
    struct inproc_dialer *d = calloc(1, sizeof *d);
    if (!d)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    d->name = strdup(inproc_name(url));
    d->authorization = opts->token ? grove_bearer_value(opts->token) : NULL;
    if (!d->name || (opts->token && !d->authorization)) {
        free(d->name);
        free(d->authorization);
        free(d);
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    }
    *self_out = d;
    return GROVE_OK;
}

static void inproc_close(void *self)
{
    struct inproc_dialer *d = self;
    free(d->name);
    free(d->authorization);
    free(d);
}

/* The listener's side of a call runs on the caller's thread: the request
 * bytes are served as a network listener would serve them. */
static grove_err inproc_call(void *self, enum grove_call_kind kind, const struct grove_buf *request,
                             struct grove_reply *reply)
{
    struct inproc_listener *l = NULL;
    struct grove_buf answer = {0};
    int64_t started_us = grove_metrics_now_us();
    struct grove_caller caller;
    grove_err err = inproc_acquire(self, kind == GROVE_CALL_PULL ? "pull" : "push", &l, &caller);
    if (!err && request->len > l->max_body)
        err = grove_error_set(GROVE_ETOOBIG, "request of %zu bytes exceeds the limit of %zu",
                              request->len, l->max_body);
    if (!err)
        err = grove_serve_as(l->server, &caller, &grove_codec_json, kind, request->data,
                             request->len, &answer);
    grove_caller_release(&caller);
    if (l)
        grove_metrics_request(
            grove_store_metrics(grove_server_store(l->server)), GROVE_METRICS_INPROC,
            kind == GROVE_CALL_PULL ? GROVE_METRICS_OP_PULL : GROVE_METRICS_OP_PUSH, err,
            started_us);
    inproc_release(l);
    if (err) {
        grove_buf_free(&answer);
        return err;
    }
    *reply = (struct grove_reply){
        .data = answer.data, .len = answer.len, .release = free, .owner = answer.data};
    return GROVE_OK;
}

static grove_err inproc_subscribe(void *self, const struct grove_pull_request *req,
                                  grove_batch_fn fn, void *user, const atomic_bool *stop)
{
    struct inproc_listener *l = NULL;
    struct grove_server_stream *stream = NULL;
    struct grove_buf frame = {0};
    struct grove_caller caller;
    grove_err err = inproc_acquire(self, "stream", &l, &caller);
    if (!err) {
        struct grove_pull_request as = *req;
        as.caller = &caller;
        err = grove_server_stream_open(l->server, &as, &stream);
    }
    grove_caller_release(&caller);
    struct grove_metrics *metrics = l ? grove_store_metrics(grove_server_store(l->server)) : NULL;
    if (metrics)
        grove_metrics_request(metrics, GROVE_METRICS_INPROC, GROVE_METRICS_OP_STREAM, err, 0);
    if (stream)
        grove_metrics_subscribers_add(metrics, GROVE_METRICS_INPROC, 1);
    while (!err && !atomic_load(stop)) {
        pthread_mutex_lock(&inproc.lock);
        bool closed = l->closed;
        pthread_mutex_unlock(&inproc.lock);
        if (closed) {
            err = grove_error_set(GROVE_EUNAVAIL, "inproc://%s: listener closed", l->name);
            break;
        }
        frame.len = 0;
        err = grove_serve_stream_next(stream, &grove_codec_json, 200, &frame);
        if (err == GROVE_ETIMEOUT) {
            err = GROVE_OK; /* a keep-alive: look at *stop again */
            continue;
        }
        if (!err)
            err = grove_stream_deliver(&grove_codec_json, frame.data, frame.len, fn, user);
    }
    grove_buf_free(&frame);
    if (stream)
        grove_metrics_subscribers_add(metrics, GROVE_METRICS_INPROC, -1);
    grove_server_stream_close(stream);
    inproc_release(l);
    return err;
}

static grove_err inproc_listen(const struct grove_url *url, struct grove_server *server,
                               const struct grove_listen_options *opts, void **self_out)
{
    const char *name = inproc_name(url);
    struct inproc_listener *l = calloc(1, sizeof *l);
    if (!l || !(l->name = strdup(name))) {
        free(l);
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    }
    l->server = server;
    l->guard = opts->guard;
    l->max_body = opts->max_body;
    grove_err err = GROVE_OK;
    pthread_mutex_lock(&inproc.lock);
    for (struct inproc_listener *o = inproc.head; o; o = o->next)
        if (strcmp(o->name, name) == 0)
            err = grove_error_set(GROVE_EUNAVAIL, "address in use");
    if (!err) {
        l->next = inproc.head;
        inproc.head = l;
    }
    pthread_mutex_unlock(&inproc.lock);
    if (err) {
        free(l->name);
        free(l);
        return err;
    }
    *self_out = l;
    return GROVE_OK;
}

static void inproc_unlisten(void *self)
{
    struct inproc_listener *l = self;
    pthread_mutex_lock(&inproc.lock);
    for (struct inproc_listener **p = &inproc.head; *p; p = &(*p)->next)
        if (*p == l) {
            *p = l->next;
            break;
        }
    l->closed = true;
    while (l->refs > 0) /* in-flight calls finish; streams notice `closed` */
        pthread_cond_wait(&inproc.idle, &inproc.lock);
    pthread_mutex_unlock(&inproc.lock);
    free(l->name);
    free(l);
}

static const struct grove_dialer_ops inproc_dialer_ops = {
    .open = inproc_open,
    .call = inproc_call,
    .subscribe = inproc_subscribe,
    .close = inproc_close,
};

static const struct grove_listener_ops inproc_listener_ops = {
    .open = inproc_listen,
    .close = inproc_unlisten,
};

static const char *const inproc_schemes[] = {"inproc", NULL};

const struct grove_transport grove_transport_inproc = {
    .name = "inproc",
    .schemes = inproc_schemes,
    .codec = &grove_codec_json,
    .dialer = &inproc_dialer_ops,
    .listener = &inproc_listener_ops,
};
