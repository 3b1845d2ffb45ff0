/* Stream and Watch calls on the gRPC listener (docs/design.md "Serving
 * streams"), served by the listener's workers and one pump thread instead of
 * a thread each.
 *
 * One party at a time holds a stream: the completion of its send in
 * flight, the pump's list of parked streams, or whoever is polling it. The holder polls the source, which reads and
 * encodes each commit once for every subscription at the head
 * (grove_serve_stream_poll); a message goes out as a send batch, whose
 * completion holds the stream next and polls again. With nothing to send
 * the stream parks with the pump, which on the next commit hands every
 * parked stream back to be polled. A commit between a poll and the park is
 * caught by the pump's commit count, taken before the poll. The pump does
 * not poll them all itself: it moves them to a chain, and every worker that
 * completes a send meanwhile takes its share of the chain, so a commit's
 * fan-out runs on every worker, not behind one thread.
 *
 * The close batch (RECV_CLOSE_ON_SERVER) completes when the client goes or
 * the status went out; a parked stream is then taken from the list and
 * ended. A call is freed when both the close batch and the holder have let
 * go of it (refs). */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grove/server.h"
#include "grove/sys/error.h"
#include "grpc_server.h"

/* How long the pump waits for a commit before looking at its stop flag. */
#define GSRV_PUMP_TICK_MS 100
/* Streams taken off the chain at a time, by the pump or a worker helping. */
#define GSRV_PUMP_HELP 16

struct gsrv_pump {
    struct gsrv *srv;
    pthread_mutex_t lock;
    pthread_t thread;
    bool stopping;
    uint64_t commits;        /* commits seen: a stream parks only if none came since its poll */
    struct gsrv_call *first; /* the parked streams */
    /* Woken, not yet polled (through parked_next): the chain holds them
     * until someone takes them off it. */
    struct gsrv_call *waking;
    atomic_bool has_waking;
};

static void gstream_run(struct gsrv_call *c);

/* ---- the sync service's Stream as a stream source ---- */

static grove_err gstream_sync_poll(void *self, struct grove_buf *out)
{
    return grove_serve_stream_poll(self, &grove_codec_protobuf, out);
}

static void gstream_sync_close(void *self)
{
    grove_server_stream_close(self);
}

static const struct gt_stream_ops gstream_sync_ops = {
    .poll = gstream_sync_poll,
    .close = gstream_sync_close,
};

static grove_err gstream_open(struct gsrv_call *c, const char *data, size_t len)
{
    if ((int)c->method == GT_DATA_WATCH)
        return grove_grpc_watch_open(c->srv->core, &c->caller, data, len, &c->stream_ops,
                                     &c->stream);
    c->stream_ops = &gstream_sync_ops;
    struct grove_server_stream *stream;
    grove_err err = grove_serve_stream_open_as(c->srv->core, &c->caller, &grove_codec_protobuf,
                                               data, len, &stream);
    c->stream = err ? NULL : stream;
    return err;
}

/* ---- a stream's life ---- */

/* Lets go of one reference: the last one frees the call. */
static void gstream_release(struct gsrv_call *c)
{
    pthread_mutex_lock(&c->lock);
    int left = --c->refs;
    pthread_mutex_unlock(&c->lock);
    if (left > 0)
        return;
    struct gsrv *srv = c->srv;
    gsrv_call_free(c);
    pthread_mutex_lock(&srv->lock);
    srv->streams--;
    pthread_cond_broadcast(&srv->cond);
    pthread_mutex_unlock(&srv->lock);
}

static bool gstream_closed(struct gsrv_call *c)
{
    pthread_mutex_lock(&c->lock);
    bool closed = c->closed;
    pthread_mutex_unlock(&c->lock);
    return closed;
}

/* The holder ends the stream: the source closes, the status goes out (why
 * it ended: err, the listener stopping, or OK) unless the client is gone. */
static void gstream_end(struct gsrv_call *c, grove_err err)
{
    grpc_status_code status = GRPC_STATUS_OK;
    const char *message = NULL;
    if (err && err != GROVE_ETIMEOUT) {
        status = grove_err_to_grpc(err);
        message = grove_errmsg();
    } else if (atomic_load(&c->srv->stopping)) {
        status = GRPC_STATUS_UNAVAILABLE;
        message = "server shutting down";
    }
    if (message && !c->has_details) {
        c->details = grpc_slice_from_copied_string(message);
        c->has_details = true;
    }
    c->stream_ops->close(c->stream);
    c->stream = NULL;
    gsrv_count_subscriber(c, -1);
    c->ending = true;
    if (!gstream_closed(c)) {
        grpc_op op;
        memset(&op, 0, sizeof op);
        op.op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        op.data.send_status_from_server.status = status;
        op.data.send_status_from_server.status_details = c->has_details ? &c->details : NULL;
        if (grove_grpc_start_batch(c->call, &op, 1, &c->send_tag) == GRPC_CALL_OK)
            return; /* its completion lets go */
    }
    gstream_release(c);
}

/* Starts a send batch of ops; its completion holds the stream next. */
static void gstream_send(struct gsrv_call *c, const grpc_op *ops, size_t n)
{
    if (grove_grpc_start_batch(c->call, ops, n, &c->send_tag) != GRPC_CALL_OK)
        gstream_end(c, GROVE_OK); /* the call is gone */
}

/* Parks a stream that had nothing to send, unless a commit came since the
 * poll that found nothing (commits_before), the client went or the pump
 * stops: false then, and the caller polls again. */
static bool gstream_park(struct gsrv_pump *p, struct gsrv_call *c, uint64_t commits_before)
{
    pthread_mutex_lock(&p->lock);
    bool park = !p->stopping && p->commits == commits_before && !gstream_closed(c);
    if (park) {
        c->parked = true;
        c->parked_prev = NULL;
        c->parked_next = p->first;
        if (p->first)
            p->first->parked_prev = c;
        p->first = c;
    }
    pthread_mutex_unlock(&p->lock);
    return park;
}

/* Takes c from the parked list; under the pump's lock. */
static void gstream_unpark(struct gsrv_pump *p, struct gsrv_call *c)
{
    if (c->parked_prev)
        c->parked_prev->parked_next = c->parked_next;
    else
        p->first = c->parked_next;
    if (c->parked_next)
        c->parked_next->parked_prev = c->parked_prev;
    c->parked_next = c->parked_prev = NULL;
    c->parked = false;
}

static uint64_t gstream_commits(struct gsrv_pump *p)
{
    pthread_mutex_lock(&p->lock);
    uint64_t n = p->commits;
    pthread_mutex_unlock(&p->lock);
    return n;
}

/* The holder polls: a message goes out, nothing parks, an error ends. */
static void gstream_run(struct gsrv_call *c)
{
    struct gsrv_pump *p = c->srv->pump;
    for (;;) {
        if (atomic_load(&c->srv->stopping) || gstream_closed(c)) {
            gstream_end(c, GROVE_OK);
            return;
        }
        uint64_t commits = gstream_commits(p);
        struct grove_buf out = {0};
        grove_err err = c->stream_ops->poll(c->stream, &out);
        if (err == GROVE_OK) {
            c->sending = grove_grpc_buffer_take(&out);
            grpc_op op;
            memset(&op, 0, sizeof op);
            op.op = GRPC_OP_SEND_MESSAGE;
            op.data.send_message.send_message = c->sending;
            gstream_send(c, &op, 1);
            return;
        }
        grove_buf_free(&out);
        if (err != GROVE_ETIMEOUT) {
            gstream_end(c, err);
            return;
        }
        if (gstream_park(p, c, commits))
            return;
    }
}

static bool gstream_wake_some(struct gsrv_pump *p);

static void gstream_on_send(struct gsrv_tag *tag, bool ok)
{
    struct gsrv_call *c = (struct gsrv_call *)((char *)tag - offsetof(struct gsrv_call, send_tag));
    struct gsrv_pump *p = c->srv->pump;
    if (atomic_load(&p->has_waking)) /* a commit is being handed out: take a share */
        gstream_wake_some(p);
    if (c->ending) { /* the status went out (or could not) */
        gstream_release(c);
        return;
    }
    if (c->sending) {
        grpc_byte_buffer_destroy(c->sending);
        c->sending = NULL;
    }
    if (!ok) /* cancelled, past its deadline, or the listener stops */
        gstream_end(c, GROVE_OK);
    else
        gstream_run(c);
}

static void gstream_on_close(struct gsrv_tag *tag, bool ok)
{
    (void)ok;
    struct gsrv_call *c = (struct gsrv_call *)((char *)tag - offsetof(struct gsrv_call, close_tag));
    struct gsrv_pump *p = c->srv->pump;
    pthread_mutex_lock(&c->lock);
    c->closed = true;
    pthread_mutex_unlock(&c->lock);
    pthread_mutex_lock(&p->lock);
    bool parked = c->parked;
    if (parked)
        gstream_unpark(p, c);
    pthread_mutex_unlock(&p->lock);
    if (parked)
        gstream_end(c, GROVE_OK);
    gstream_release(c);
}

void gsrv_stream_start(struct gsrv_call *c, const char *data, size_t len)
{
    struct gsrv *srv = c->srv;
    grove_err err = gstream_open(c, data, len);
    if (err) {
        gsrv_finish(c, grove_err_to_grpc(err), grove_errmsg());
        return;
    }
    c->send_tag.done = gstream_on_send;
    c->close_tag.done = gstream_on_close;
    c->refs = 2; /* the close batch's and the holder's */
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &c->cancelled;
    if (grove_grpc_start_batch(c->call, &op, 1, &c->close_tag) != GRPC_CALL_OK) {
        gsrv_call_free(c);
        return;
    }
    pthread_mutex_lock(&srv->lock);
    srv->streams++;
    pthread_mutex_unlock(&srv->lock);
    gsrv_count(c, GROVE_OK);
    gsrv_count_subscriber(c, 1);
    /* A watch says where it goes on from, so a client that saw no event yet
     * can still resume without a gap. */
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_INITIAL_METADATA;
    const char *cursor = c->stream_ops->cursor ? c->stream_ops->cursor(c->stream) : NULL;
    if (cursor && *cursor) {
        c->cursor_md.key = grpc_slice_from_static_string("grove-cursor");
        c->cursor_md.value = grpc_slice_from_copied_string(cursor);
        c->has_cursor_md = true;
        op.data.send_initial_metadata.count = 1;
        op.data.send_initial_metadata.metadata = &c->cursor_md;
    }
    gstream_send(c, &op, 1);
}

/* ---- the pump ---- */

/* Polls up to GSRV_PUMP_HELP streams of the chain, on this thread; false
 * when it was empty. */
static bool gstream_wake_some(struct gsrv_pump *p)
{
    pthread_mutex_lock(&p->lock);
    struct gsrv_call *c = p->waking, *last = NULL;
    for (int n = 0; p->waking && n < GSRV_PUMP_HELP; n++) {
        last = p->waking;
        p->waking = last->parked_next;
    }
    if (last)
        last->parked_next = NULL;
    atomic_store(&p->has_waking, p->waking != NULL);
    pthread_mutex_unlock(&p->lock);
    while (c) {
        struct gsrv_call *next = c->parked_next;
        c->parked_next = c->parked_prev = NULL;
        gstream_run(c);
        c = next;
    }
    return last != NULL;
}

/* Hands every parked stream back to be polled: onto the chain, which this
 * thread works through with whichever workers help. */
static void gstream_wake_all(struct gsrv_pump *p)
{
    pthread_mutex_lock(&p->lock);
    if (p->first) {
        struct gsrv_call *tail = p->first;
        for (;; tail = tail->parked_next) {
            tail->parked = false; /* the chain holds it now: a close leaves it to the holder */
            if (!tail->parked_next)
                break;
        }
        tail->parked_next = p->waking;
        p->waking = p->first;
        p->first = NULL;
        atomic_store(&p->has_waking, true);
    }
    pthread_mutex_unlock(&p->lock);
    while (gstream_wake_some(p))
        ;
}

static void *gstream_pump_main(void *arg)
{
    struct gsrv_pump *p = arg;
    struct grove_commit_wait commits;
    grove_commit_wait_init(&commits, grove_server_store(p->srv->core));
    pthread_mutex_lock(&p->lock);
    while (!p->stopping) {
        pthread_mutex_unlock(&p->lock);
        grove_err err = grove_commit_wait_next(&commits, GSRV_PUMP_TICK_MS);
        pthread_mutex_lock(&p->lock);
        /* A commit, or the server shutting down (the streams end when they
         * poll): every parked stream looks. */
        if (err != GROVE_ETIMEOUT) {
            p->commits++;
            pthread_mutex_unlock(&p->lock);
            gstream_wake_all(p);
            pthread_mutex_lock(&p->lock);
        }
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

grove_err gsrv_pump_start(struct gsrv *srv)
{
    struct gsrv_pump *p = calloc(1, sizeof *p);
    if (!p)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    p->srv = srv;
    pthread_mutex_init(&p->lock, NULL);
    if (pthread_create(&p->thread, NULL, gstream_pump_main, p) != 0) {
        pthread_mutex_destroy(&p->lock);
        free(p);
        return grove_error_set(GROVE_ENOMEM, "cannot start the gRPC stream thread");
    }
    srv->pump = p;
    return GROVE_OK;
}

void gsrv_pump_stop(struct gsrv *srv)
{
    struct gsrv_pump *p = srv->pump;
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    gstream_wake_all(p); /* each sees the listener stopping and ends */
}

void gsrv_pump_free(struct gsrv *srv)
{
    struct gsrv_pump *p = srv->pump;
    if (!p)
        return;
    pthread_mutex_destroy(&p->lock);
    free(p);
    srv->pump = NULL;
}
