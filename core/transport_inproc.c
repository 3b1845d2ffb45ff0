/* inproc://name — listeners and dialers in one process. Every request and
 * answer is encoded to JSON and decoded again, so tests and the simulator run
 * the same wire path as a network transport. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "grove/transport.h"

#define INPROC_DEFAULT_MAX_BODY ((size_t)64 << 20)

struct inproc_listener {
    struct inproc_listener *next;
    char *name;
    struct grove_server *server;
    char *token;
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
    char *token;
};

static const char *inproc_name(const char *url)
{
    return url + strlen("inproc://");
}

/* Finds and pins a listener; GROVE_EUNAVAIL as for a refused connection. */
static grove_err inproc_acquire(const struct inproc_dialer *d, struct inproc_listener **out)
{
    pthread_mutex_lock(&inproc.lock);
    struct inproc_listener *l = inproc.head;
    while (l && strcmp(l->name, d->name) != 0)
        l = l->next;
    if (l)
        l->refs++;
    pthread_mutex_unlock(&inproc.lock);
    *out = l;
    if (!l)
        return grove_error_set(GROVE_EUNAVAIL, "inproc://%s: no listener", d->name);
    if (l->token &&
        !grove_token_equal(l->token, d->token ? d->token : "", d->token ? strlen(d->token) : 0))
        return grove_error_set(GROVE_EAUTH, "inproc://%s: missing or wrong token", d->name);
    return GROVE_OK;
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

static grove_err inproc_open(const char *url, const struct grove_dial_options *opts,
                             void **self_out)
{
    struct inproc_dialer *d = calloc(1, sizeof *d);
    if (!d)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    d->name = strdup(inproc_name(url));
    d->token = opts->token ? strdup(opts->token) : NULL;
    if (!d->name || (opts->token && !d->token)) {
        free(d->name);
        free(d->token);
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
    free(d->token);
    free(d);
}

/* A request larger than the listener accepts is refused, as on a network. */
static grove_err inproc_check_size(const struct inproc_listener *l, const struct grove_buf *wire)
{
    if (wire->len > l->max_body)
        return grove_error_set(GROVE_ETOOBIG, "request of %zu bytes exceeds the limit of %zu",
                               wire->len, l->max_body);
    return GROVE_OK;
}

/* Each call encodes the request, decodes it as the server would, serves it,
 * and encodes and decodes the answer: what a network peer would have seen. */
static grove_err inproc_pull(void *self, const struct grove_pull_request *req,
                             struct grove_pull_response **out)
{
    struct inproc_listener *l = NULL;
    struct grove_pull_request *sent = NULL;
    struct grove_pull_response *answer = NULL;
    struct grove_buf wire = {0};
    grove_err err = inproc_acquire(self, &l);
    if (!err)
        err = grove_json_encode_pull_request(req, &wire);
    if (!err)
        err = inproc_check_size(l, &wire);
    if (!err)
        err = grove_json_decode_pull_request(wire.data, wire.len, &sent);
    if (!err)
        err = grove_server_pull(l->server, sent, &answer);
    wire.len = 0;
    if (!err)
        err = grove_json_encode_pull_response(answer, &wire);
    if (!err)
        err = grove_json_decode_pull_response(wire.data, wire.len, out);
    grove_buf_free(&wire);
    grove_msg_free(sent);
    grove_msg_free(answer);
    inproc_release(l);
    return err;
}

static grove_err inproc_push(void *self, const struct grove_push_request *req,
                             struct grove_push_response **out)
{
    struct inproc_listener *l = NULL;
    struct grove_push_request *sent = NULL;
    struct grove_push_response *answer = NULL;
    struct grove_buf wire = {0};
    grove_err err = inproc_acquire(self, &l);
    if (!err)
        err = grove_json_encode_push_request(req, &wire);
    if (!err)
        err = inproc_check_size(l, &wire);
    if (!err)
        err = grove_json_decode_push_request(wire.data, wire.len, &sent);
    if (!err)
        err = grove_server_push(l->server, sent, &answer);
    wire.len = 0;
    if (!err)
        err = grove_json_encode_push_response(answer, &wire);
    if (!err)
        err = grove_json_decode_push_response(wire.data, wire.len, out);
    grove_buf_free(&wire);
    grove_msg_free(sent);
    grove_msg_free(answer);
    inproc_release(l);
    return err;
}

/* A streamed batch crosses the "wire" as its changes array; the stamps
 * around it travel beside it, as network transports send them in framing. */
static grove_err inproc_deliver(const struct grove_pull_response *batch, grove_batch_fn fn,
                                void *user)
{
    struct grove_buf buf = {0};
    struct grove_pull_response *copy = NULL;
    grove_err err = grove_json_encode_changes(batch->changes, batch->count, &buf);
    if (!err)
        err = grove_json_decode_changes(buf.data, buf.len, &copy);
    grove_buf_free(&buf);
    if (!err) {
        copy->since = batch->since;
        copy->latest_hlc = batch->latest_hlc;
        err = fn(user, copy);
    }
    grove_msg_free(copy);
    return err;
}

static grove_err inproc_subscribe(void *self, const struct grove_pull_request *req,
                                  grove_batch_fn fn, void *user, const atomic_bool *stop)
{
    struct inproc_listener *l = NULL;
    struct grove_server_stream *stream = NULL;
    grove_err err = inproc_acquire(self, &l);
    if (!err)
        err = grove_server_stream_open(l->server, req, &stream);
    while (!err && !atomic_load(stop)) {
        if (l->closed) {
            err = grove_error_set(GROVE_EUNAVAIL, "inproc://%s: listener closed", l->name);
            break;
        }
        struct grove_pull_response *batch = NULL;
        err = grove_server_stream_next(stream, 200, &batch);
        if (err == GROVE_ETIMEOUT) {
            err = GROVE_OK; /* a keep-alive: look at *stop again */
            continue;
        }
        if (!err)
            err = inproc_deliver(batch, fn, user);
        grove_msg_free(batch);
    }
    grove_server_stream_close(stream);
    inproc_release(l);
    return err;
}

static grove_err inproc_listen(const char *url, struct grove_server *server,
                               const struct grove_listen_options *opts, void **self_out)
{
    const char *name = inproc_name(url);
    if (!*name)
        return grove_error_set(GROVE_EINVAL, "%s: inproc needs a name", url);
    struct inproc_listener *l = calloc(1, sizeof *l);
    if (!l || !(l->name = strdup(name)) || (opts->token && !(l->token = strdup(opts->token)))) {
        if (l)
            free(l->name);
        free(l);
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    }
    l->server = server;
    l->max_body = opts->max_body ? opts->max_body : INPROC_DEFAULT_MAX_BODY;
    grove_err err = GROVE_OK;
    pthread_mutex_lock(&inproc.lock);
    for (struct inproc_listener *o = inproc.head; o; o = o->next)
        if (strcmp(o->name, name) == 0)
            err = grove_error_set(GROVE_EUNAVAIL, "%s: address in use", url);
    if (!err) {
        l->next = inproc.head;
        inproc.head = l;
    }
    pthread_mutex_unlock(&inproc.lock);
    if (err) {
        free(l->token);
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
    free(l->token);
    free(l->name);
    free(l);
}

static const struct grove_dialer_ops inproc_dialer_ops = {
    .open = inproc_open,
    .pull = inproc_pull,
    .push = inproc_push,
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
    .dialer = &inproc_dialer_ops,
    .listener = &inproc_listener_ops,
};
