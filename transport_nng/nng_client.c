/* The nng dialer: one req socket per peer, one nng context per call (so a
 * peer may pull while it streams), and a long-poll loop for subscribe. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>

#include "nng_internal.h"
#include "grove/sys/error.h"

#define NNGT_CLIENT_RECV_MAX ((size_t)1 << 30) /* replies are pages; refuse absurd ones */
#define NNGT_STOP_CHECK_MS   200
/* A stream request waits for the server's keep-alive (15 s by default) plus slack. */
#define NNGT_STREAM_WAIT_MS 120000

struct nngc_peer {
    nng_socket sock;
    pthread_mutex_t lock; /* guards dialed */
    bool dialed;
    char address[512];
    nng_tls_config *tls_config; /* nng+tls+tcp; NULL otherwise */
    char *authorization;        /* "Bearer <token>", sent in every frame; NULL: none */
    int timeout_ms;
};

/* One request's completion, signalled by nng's callback. */
struct nngc_wait {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
};

static void nngc_wait_done(void *arg)
{
    struct nngc_wait *c = arg;
    pthread_mutex_lock(&c->lock);
    c->done = true;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

/* Waits for the aio; cancels it when *stop turns true (checked every 200 ms). */
static void nngc_wait_for(struct nngc_wait *c, nng_aio *aio, const atomic_bool *stop)
{
    bool cancelled = false;
    pthread_mutex_lock(&c->lock);
    while (!c->done) {
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        t.tv_nsec += NNGT_STOP_CHECK_MS * 1000000L;
        if (t.tv_nsec >= 1000000000L) {
            t.tv_sec++;
            t.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&c->cond, &c->lock, &t);
        if (!c->done && !cancelled && stop && atomic_load(stop)) {
            cancelled = true;
            pthread_mutex_unlock(&c->lock);
            nng_aio_cancel(aio);
            pthread_mutex_lock(&c->lock);
        }
    }
    c->done = false;
    pthread_mutex_unlock(&c->lock);
}

static grove_err nngc_peer_open(const struct grove_url *url, const struct grove_dial_options *opts,
                                const struct grove_codec **codec, void **self_out)
{
    (void)codec;
    *self_out = NULL;
    struct nngc_peer *p = calloc(1, sizeof *p);
    if (!p)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    grove_err err = grove_nng_url_address(url, p->address, sizeof p->address);
    if (err)
        goto fail_free;
    if (grove_nng_url_is_tls(url) && (err = grove_nng_tls_client_config(url, opts, &p->tls_config)))
        goto fail_free;
    p->timeout_ms = opts->timeout_ms;
    if (opts->token && !(p->authorization = grove_bearer_value(opts->token))) {
        err = grove_error_set(GROVE_ENOMEM, "out of memory");
        goto fail_free;
    }
    int rv = nng_req0_open(&p->sock);
    if (rv) {
        err = grove_nng_error_map(rv, "nng req socket");
        goto fail_free;
    }
    /* Calls carry their own deadlines; these are the socket-wide bounds. */
    if ((rv = nng_socket_set_ms(p->sock, NNG_OPT_SENDTIMEO, p->timeout_ms)) ||
        (rv = nng_socket_set_ms(p->sock, NNG_OPT_RECVTIMEO, p->timeout_ms)) ||
        (rv = nng_socket_set_ms(p->sock, NNG_OPT_RECONNMINT, 100)) ||
        (rv = nng_socket_set_ms(p->sock, NNG_OPT_RECONNMAXT, 2000)) ||
        (rv = nng_socket_set_size(p->sock, NNG_OPT_RECVMAXSZ, NNGT_CLIENT_RECV_MAX))) {
        err = grove_nng_error_map(rv, "nng socket options");
        goto fail_close;
    }
    pthread_mutex_init(&p->lock, NULL);
    *self_out = p;
    return GROVE_OK;
fail_close:
    nng_close(p->sock);
fail_free:
    if (p->tls_config)
        nng_tls_config_free(p->tls_config);
    free(p->authorization);
    free(p);
    return err;
}

static void nngc_peer_close(void *self)
{
    struct nngc_peer *p = self;
    if (!p)
        return;
    nng_close(p->sock);
    pthread_mutex_destroy(&p->lock);
    if (p->tls_config)
        nng_tls_config_free(p->tls_config);
    free(p->authorization);
    free(p);
}

/* nng_dial, with the TLS configuration set first when there is one. */
static int nngc_dial(struct nngc_peer *p)
{
    if (!p->tls_config)
        return nng_dial(p->sock, p->address, NULL, 0);
    nng_dialer dialer;
    int rv = nng_dialer_create(&dialer, p->sock, p->address);
    if (!rv && (rv = nng_dialer_set_ptr(dialer, NNG_OPT_TLS_CONFIG, p->tls_config)))
        nng_dialer_close(dialer);
    if (!rv && (rv = nng_dialer_start(dialer, 0)))
        nng_dialer_close(dialer);
    return rv;
}

/* Connects once, synchronously, so a refused or unreachable peer is an
 * error now rather than a timeout later; afterwards nng reconnects by itself. */
static grove_err nngc_peer_dial(struct nngc_peer *p)
{
    grove_err err = GROVE_OK;
    pthread_mutex_lock(&p->lock);
    if (!p->dialed) {
        int rv = nngc_dial(p);
        if (rv) {
            err = grove_nng_error_map(rv, "dial");
            if (err != GROVE_ETIMEOUT && err != GROVE_EINVAL)
                err = grove_error_set(GROVE_EUNAVAIL, "dial: %s", nng_strerror(rv));
        } else {
            p->dialed = true;
        }
    }
    pthread_mutex_unlock(&p->lock);
    return err;
}

/* One request/reply exchange: sends op, the token and json; on success *reply
 * is nng's reply message (caller frees). stop may be NULL. */
static grove_err nngc_request(struct nngc_peer *p, char op, const struct grove_buf *json,
                              int timeout_ms, const atomic_bool *stop, nng_msg **reply)
{
    *reply = NULL;
    grove_err err = nngc_peer_dial(p);
    if (err)
        return err;
    const char *token = p->authorization ? p->authorization : "";
    size_t token_len = strlen(token);
    nng_msg *msg = NULL;
    nng_aio *aio = NULL;
    nng_ctx ctx;
    bool ctx_open = false;
    struct nngc_wait call = {.done = false};
    pthread_mutex_init(&call.lock, NULL);
    pthread_cond_init(&call.cond, NULL);
    int rv = nng_msg_alloc(&msg, 3 + token_len + json->len);
    if (rv) {
        err = grove_nng_error_map(rv, "nng");
        goto done;
    }
    char *body = nng_msg_body(msg);
    body[0] = op;
    body[1] = '\n';
    memcpy(body + 2, token, token_len);
    body[2 + token_len] = '\n';
    if (json->len)
        memcpy(body + 3 + token_len, json->data, json->len);
    if ((rv = nng_aio_alloc(&aio, nngc_wait_done, &call)) || (rv = nng_ctx_open(&ctx, p->sock))) {
        err = grove_nng_error_map(rv, "nng");
        goto done;
    }
    ctx_open = true;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    nng_aio_set_timeout(aio, timeout_ms);
    nng_aio_set_msg(aio, msg);
    nng_ctx_send(ctx, aio);
    nngc_wait_for(&call, aio, stop);
    if ((rv = nng_aio_result(aio)))
        goto failed; /* msg is still ours */
    msg = NULL;
    /* timeout_ms bounds the whole call, not each half. */
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long elapsed_ms =
        (now.tv_sec - start.tv_sec) * 1000L + (now.tv_nsec - start.tv_nsec) / 1000000L;
    nng_aio_set_timeout(aio,
                        elapsed_ms >= timeout_ms ? 1 : (nng_duration)(timeout_ms - elapsed_ms));
    nng_ctx_recv(ctx, aio);
    nngc_wait_for(&call, aio, stop);
    if ((rv = nng_aio_result(aio)))
        goto failed;
    *reply = nng_aio_get_msg(aio);
    goto done;
failed:
    if (rv == NNG_ECANCELED && stop && atomic_load(stop))
        err = grove_error_set(GROVE_ESHUTDOWN, "stopped");
    else
        err = grove_nng_error_map(rv, "nng");
done:
    if (ctx_open)
        nng_ctx_close(ctx);
    if (aio)
        nng_aio_free(aio); /* waits for the callback */
    if (msg)
        nng_msg_free(msg);
    pthread_cond_destroy(&call.cond);
    pthread_mutex_destroy(&call.lock);
    return err;
}

static void nngc_msg_free(void *msg)
{
    nng_msg_free(msg);
}

static grove_err nngc_exchange(struct nngc_peer *p, char op, const struct grove_buf *request,
                               int timeout_ms, const atomic_bool *stop, struct grove_reply *reply,
                               bool *idle)
{
    nng_msg *msg = NULL;
    const char *body = NULL; /* stays NULL for an idle stream reply */
    size_t len = 0;
    bool was_idle = false;
    grove_err err = nngc_request(p, op, request, timeout_ms, stop, &msg);
    if (!err)
        err = grove_nng_reply_parse(nng_msg_body(msg), nng_msg_len(msg), &body, &len, &was_idle);
    if (!err && was_idle && !idle)
        err = grove_error_set(GROVE_EPROTO, "an idle reply to a call that is no stream");
    if (idle)
        *idle = was_idle;
    if (err) {
        if (msg)
            nng_msg_free(msg);
        return err;
    }
    *reply = (struct grove_reply){.data = body, .len = len, .release = nngc_msg_free, .owner = msg};
    return GROVE_OK;
}

static grove_err nngc_call(void *self, enum grove_call_kind kind, const struct grove_buf *request,
                           struct grove_reply *reply)
{
    struct nngc_peer *p = self;
    char op = kind == GROVE_CALL_PULL ? NNGT_OP_PULL : NNGT_OP_PUSH;
    return nngc_exchange(p, op, request, p->timeout_ms, NULL, reply, NULL);
}

/* Passes non-empty batches on and remembers where the last one ended. */
struct nngc_stream {
    grove_batch_fn fn;
    void *user;
    struct grove_hlc latest;
};

static grove_err nngc_stream_batch(void *user, const struct grove_pull_response *batch)
{
    struct nngc_stream *s = user;
    s->latest = batch->latest_hlc;
    return batch->count > 0 ? s->fn(s->user, batch) : GROVE_OK;
}

/* Long-poll: each 'S' request carries the cursor; the server answers with the
 * next batch or 'K' after its keep-alive interval. A server restart is just a
 * slower answer, since nng reconnects and resends. */
static grove_err nngc_peer_subscribe(void *self, const struct grove_pull_request *req,
                                     grove_batch_fn fn, void *user, const atomic_bool *stop)
{
    struct nngc_peer *p = self;
    struct grove_pull_request cur = *req;
    struct nngc_stream stream = {.fn = fn, .user = user};
    grove_err err = GROVE_OK;
    while (!err && !atomic_load(stop)) {
        struct grove_buf request = {0};
        struct grove_reply reply = {0};
        bool idle = false;
        err = grove_codec_json.encode_pull_request(&cur, &request);
        if (!err)
            err = nngc_exchange(p, NNGT_OP_STREAM, &request, NNGT_STREAM_WAIT_MS, stop, &reply,
                                &idle);
        stream.latest = cur.since;
        if (!err && !idle)
            err = grove_stream_deliver(&grove_codec_json, reply.data, reply.len, nngc_stream_batch,
                                       &stream);
        if (grove_hlc_compare(&stream.latest, &cur.since) > 0)
            cur.since = stream.latest;
        grove_reply_release(&reply);
        grove_buf_free(&request);
    }
    if (atomic_load(stop) && (!err || err == GROVE_ESHUTDOWN)) {
        grove_error_clear();
        return GROVE_OK;
    }
    return err;
}

const struct grove_dialer_ops grove_nng_dialer_ops = {
    .open = nngc_peer_open,
    .call = nngc_call,
    .subscribe = nngc_peer_subscribe,
    .close = nngc_peer_close,
};
