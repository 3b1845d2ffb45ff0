/* The nng dialer: one req socket per peer, one nng context per call (so a
 * peer may pull while it streams), and a sub socket per subscription. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>

#include "nng_internal.h"
#include "nng_quiet.h"
#include "grove/sys/error.h"

#define NNGT_CLIENT_RECV_MAX ((size_t)1 << 30) /* replies are pages; refuse absurd ones */
#define NNGT_STOP_CHECK_MS   200

struct nngc_peer {
    nng_socket sock;
    pthread_mutex_t lock; /* guards dialed */
    bool dialed;
    char address[512];
    char pub_address[512];      /* the listener's pub socket (nng_internal.h) */
    nng_tls_config *tls_config; /* nng+tls+tcp; NULL otherwise */
    char *authorization;        /* "Bearer <token>", sent in every frame; NULL: none */
    int timeout_ms;
    atomic_bool cancelled;        /* nngc_cancel: calls in flight end, new ones fail */
    pthread_mutex_t dialing_lock; /* guards dialing */
    nng_dialer dialing;           /* the dial in progress, for nngc_cancel to close */
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
    if (!err)
        err = grove_nng_pub_address(url, p->pub_address, sizeof p->pub_address);
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
    pthread_mutex_init(&p->dialing_lock, NULL);
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
    nng_close(p->sock); /* replies come only when asked: nothing to read at a close */
    pthread_mutex_destroy(&p->lock);
    pthread_mutex_destroy(&p->dialing_lock);
    if (p->tls_config)
        nng_tls_config_free(p->tls_config);
    free(p->authorization);
    free(p);
}

/* nng_dial, with the TLS configuration set first when there is one. The
 * dialer is kept in p->dialing while it connects, so nngc_cancel can close
 * it: a peer that accepts and never answers the handshake holds a
 * synchronous dial for 20 s. */
static int nngc_dial(struct nngc_peer *p)
{
    nng_dialer dialer;
    int rv = nng_dialer_create(&dialer, p->sock, p->address);
    if (rv)
        return rv;
    if (p->tls_config && (rv = nng_dialer_set_ptr(dialer, NNG_OPT_TLS_CONFIG, p->tls_config))) {
        nng_dialer_close(dialer);
        return rv;
    }
    pthread_mutex_lock(&p->dialing_lock);
    p->dialing = dialer;
    bool cancelled = atomic_load(&p->cancelled);
    pthread_mutex_unlock(&p->dialing_lock);
    rv = cancelled ? NNG_ECLOSED : nng_dialer_start(dialer, 0);
    pthread_mutex_lock(&p->dialing_lock);
    p->dialing = (nng_dialer)NNG_DIALER_INITIALIZER;
    pthread_mutex_unlock(&p->dialing_lock);
    if (rv)
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
        if (rv && atomic_load(&p->cancelled)) {
            err = grove_error_set(GROVE_ESHUTDOWN, "stopped");
        } else if (rv) {
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

/* One call: its 'R' reply's JSON in *reply, or the error its 'E' frame
 * carries. */
static grove_err nngc_exchange(struct nngc_peer *p, char op, const struct grove_buf *request,
                               int timeout_ms, const atomic_bool *stop, struct grove_reply *reply)
{
    nng_msg *msg = NULL;
    const char *body = NULL;
    size_t len = 0;
    bool idle = false;
    grove_err err = nngc_request(p, op, request, timeout_ms, stop, &msg);
    if (!err)
        err = grove_nng_reply_parse(nng_msg_body(msg), nng_msg_len(msg), &body, &len, &idle);
    if (!err && idle)
        err = grove_error_set(GROVE_EPROTO, "an idle reply ('K') to a %c call", op);
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
    return nngc_exchange(p, op, request, p->timeout_ms, &p->cancelled, reply);
}

static void nngc_cancel(void *self, bool on)
{
    struct nngc_peer *p = self;
    pthread_mutex_lock(&p->dialing_lock);
    atomic_store(&p->cancelled, on);
    if (on && nng_dialer_id(p->dialing) > 0)
        nng_dialer_close(p->dialing); /* ends the synchronous dial at once */
    pthread_mutex_unlock(&p->dialing_lock);
}

/* A subscription: batches from the listener's pub socket, filtered to the
 * subscriber's tables, gaps repaired with pulls over req/rep. */
struct nngc_sub {
    struct nngc_peer *p;
    const struct grove_pull_request *req;
    grove_batch_fn fn;
    void *user;
    const atomic_bool *stop;
    /* What the caller has: the latest stamp of the last batch handed on
     * (every batch handed on starts from it, so the caller sees no gap). */
    struct grove_hlc cursor;
    /* Every change of the subscriber's tables up to here was handed on. */
    struct grove_hlc covered;
    char kind; /* of the publish frame being delivered */
};

atomic_uint grove_nng_sub_drop_every;
atomic_uint grove_nng_sub_repairs;

static void nngc_hlc_raise(struct grove_hlc *to, const struct grove_hlc *from)
{
    if (grove_hlc_compare(from, to) > 0)
        *to = *from;
}

/* Hands batch on as following from the cursor, when it has changes. */
static grove_err nngc_sub_hand_on(struct nngc_sub *s, struct grove_pull_response *batch)
{
    grove_err err = GROVE_OK;
    if (batch->count > 0 && grove_hlc_compare(&batch->latest_hlc, &s->cursor) > 0) {
        batch->since = s->cursor;
        if (!(err = s->fn(s->user, batch)))
            s->cursor = batch->latest_hlc;
    }
    if (!err)
        nngc_hlc_raise(&s->covered, &batch->latest_hlc);
    return err;
}

/* Pulls everything after the cursor, page by page, and hands it on; then
 * everything published up to seen (received before the pull) is covered. */
static grove_err nngc_sub_repair(struct nngc_sub *s, const struct grove_hlc *seen)
{
    bool has_more = true;
    grove_err err = GROVE_OK;
    while (!err && has_more && !atomic_load(s->stop)) {
        struct grove_pull_request page = *s->req;
        page.since = s->cursor;
        struct grove_buf request = {0};
        struct grove_reply reply = {0};
        struct grove_pull_response *resp = NULL;
        err = grove_codec_json.encode_pull_request(&page, &request);
        if (!err)
            err = nngc_exchange(s->p, NNGT_OP_PULL, &request, s->p->timeout_ms, s->stop, &reply);
        if (!err)
            err = grove_codec_json.decode_pull_response(reply.data, reply.len, &resp);
        if (!err) {
            has_more = resp->has_more && grove_hlc_compare(&resp->latest_hlc, &s->cursor) > 0;
            err = nngc_sub_hand_on(s, resp);
        }
        grove_msg_free(resp);
        grove_reply_release(&reply);
        grove_buf_free(&request);
    }
    if (!err)
        nngc_hlc_raise(&s->covered, seen);
    return err;
}

/* No tables asked for: every table (as a pull takes it). The publisher
 * sends one stream for all: the request's filter is applied here, as the
 * serving side applies it to a pull (docs/protocol.md §4). */
static bool nngc_sub_wants(const struct nngc_sub *s, const struct grove_change *c)
{
    if (!grove_pull_filter_match(&s->req->filter, c->pk, c->field, c->tombstone))
        return false;
    if (s->req->table_count == 0)
        return true;
    for (size_t i = 0; i < s->req->table_count; i++)
        if (strcmp(s->req->tables[i], c->table) == 0)
            return true;
    return false;
}

/* One published batch: handed on when it follows on from what is covered,
 * ignored when it is covered already, a gap to repair otherwise. */
static grove_err nngc_sub_frame(void *user, const struct grove_pull_response *batch)
{
    struct nngc_sub *s = user;
    if (grove_hlc_compare(&batch->latest_hlc, &s->covered) <= 0)
        return GROVE_OK;
    if (s->kind != NNGT_PUB_BATCH || grove_hlc_compare(&batch->since, &s->covered) != 0) {
        atomic_fetch_add(&grove_nng_sub_repairs, 1);
        return nngc_sub_repair(s, &batch->latest_hlc);
    }
    struct grove_pull_response mine = {.latest_hlc = batch->latest_hlc};
    mine.changes = malloc((batch->count + 1) * sizeof *mine.changes);
    if (!mine.changes)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    for (size_t i = 0; i < batch->count; i++)
        if (nngc_sub_wants(s, &batch->changes[i]))
            mine.changes[mine.count++] = batch->changes[i];
    grove_err err = nngc_sub_hand_on(s, &mine);
    free(mine.changes);
    return err;
}

/* A sub socket dialed to the listener's pub address (TLS alike), its pipes
 * watched for grove_nng_quiet_close. */
static grove_err nngc_sub_open(struct nngc_peer *p, nng_socket *sock, struct grove_nng_quiet *quiet)
{
    int rv = nng_sub0_open(sock);
    if (rv)
        return grove_nng_error_map(rv, "nng sub socket");
    grove_err err = grove_nng_quiet_watch(quiet, *sock);
    if (err) {
        grove_nng_quiet_close(quiet, *sock);
        return err;
    }
    nng_dialer dialer;
    if ((rv = nng_socket_set(*sock, NNG_OPT_SUB_SUBSCRIBE, "", 0)) ||
        (rv = nng_socket_set_ms(*sock, NNG_OPT_RECVTIMEO, NNGT_STOP_CHECK_MS)) ||
        (rv = nng_socket_set_ms(*sock, NNG_OPT_RECONNMINT, 100)) ||
        (rv = nng_socket_set_ms(*sock, NNG_OPT_RECONNMAXT, 2000)) ||
        (rv = nng_socket_set_size(*sock, NNG_OPT_RECVMAXSZ, NNGT_CLIENT_RECV_MAX))) {
        grove_nng_quiet_close(quiet, *sock);
        return grove_nng_error_map(rv, "nng socket options");
    }
    if (!(rv = nng_dialer_create(&dialer, *sock, p->pub_address)) && p->tls_config)
        rv = nng_dialer_set_ptr(dialer, NNG_OPT_TLS_CONFIG, p->tls_config);
    if (!rv)
        rv = nng_dialer_start(dialer, 0);
    if (rv) {
        grove_nng_quiet_close(quiet, *sock);
        grove_nng_error_map(rv, "subscribe");
        return grove_error_set(GROVE_EUNAVAIL, "subscribe to %s: %s", p->pub_address,
                               nng_strerror(rv));
    }
    return GROVE_OK;
}

/* Subscribes first, then pulls what came before, so nothing falls between;
 * afterwards every publish frame is checked against the stamps. Silence
 * (no heartbeat) for NNGT_SUB_SILENCE_MS ends the stream, for the caller to
 * reconnect. */
static grove_err nngc_peer_subscribe(void *self, const struct grove_pull_request *req,
                                     grove_batch_fn fn, void *user, const atomic_bool *stop)
{
    struct nngc_peer *p = self;
    struct nngc_sub s = {
        .p = p, .req = req, .fn = fn, .user = user, .stop = stop, .cursor = req->since};
    s.covered = s.cursor;
    nng_socket sock;
    struct grove_nng_quiet quiet;
    grove_err err = nngc_peer_dial(p);
    if (!err)
        err = nngc_sub_open(p, &sock, &quiet);
    if (err)
        return err;
    err = nngc_sub_repair(&s, &s.cursor);
    unsigned received = 0;
    int silent_ms = 0;
    while (!err && !atomic_load(stop)) {
        char *frame = NULL;
        size_t len = 0;
        int rv = nng_recv(sock, &frame, &len, NNG_FLAG_ALLOC);
        if (rv == NNG_ETIMEDOUT) {
            if ((silent_ms += NNGT_STOP_CHECK_MS) >= NNGT_SUB_SILENCE_MS)
                err = grove_error_set(GROVE_EUNAVAIL, "no word from %s for %d ms", p->pub_address,
                                      silent_ms);
            continue;
        }
        if (rv) {
            err = grove_nng_error_map(rv, "subscription");
            break;
        }
        silent_ms = 0;
        unsigned drop = atomic_load(&grove_nng_sub_drop_every);
        if (len < 1 || (drop && ++received % drop == 0)) {
            nng_free(frame, len);
            continue;
        }
        s.kind = frame[0];
        err = grove_stream_deliver(&grove_codec_json, frame + 1, len - 1, nngc_sub_frame, &s);
        nng_free(frame, len);
    }
    grove_nng_quiet_close(&quiet, sock);
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
    .cancel = nngc_cancel,
    .close = nngc_peer_close,
};
