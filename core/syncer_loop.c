/* The syncer's background mode (grove_syncer_start): one thread per peer,
 * syncing at start and every interval with backoff on retryable errors, and
 * waking on local commits for real-time push; a stream consumer per peer
 * that can stream. The rounds themselves are syncer.c's. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "grove/log.h"
#include "grove/syncer.h"
#include "grove/sys/error.h"
#include "syncer_internal.h"

static void *syncer_push_one(void *arg)
{
    struct syncer_peer *p = arg;
    struct grove_sync_report r;
    grove_syncer_exchange(p->syncer, p->index, SYNCER_PUSH, &r);
    if (r.err) {
        char why[300];
        grove_log_kv(GROVE_LOG_WARN, "push failed", "peer=%s error=%s", p->url,
                     grove_log_quote(why, sizeof why, r.error));
    }
    return NULL;
}

grove_err grove_syncer_push_now(struct grove_syncer *s)
{
    if (s->running)
        return GROVE_OK; /* peer threads wake on every commit and push already */
    pthread_t *threads = calloc(s->peer_count, sizeof *threads);
    if (!threads)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    /* All peers at once: a dead peer must not hold up the others. */
    bool *started = calloc(s->peer_count, sizeof *started);
    for (size_t i = 0; started && i < s->peer_count; i++)
        started[i] = pthread_create(&threads[i], NULL, syncer_push_one, s->peers[i]) == 0;
    for (size_t i = 0; i < s->peer_count; i++) {
        if (started && started[i])
            pthread_join(threads[i], NULL);
        else /* no thread to be had: push from here */
            syncer_push_one(s->peers[i]);
    }
    free(started);
    free(threads);
    return GROVE_OK;
}

/* An unreachable peer is tried again at least this often: trying costs a
 * refused connect, and a returning peer is used again within it. */
#define SYNCER_UNREACHABLE_RETRY_MS 2000

/* Exponential backoff with jitter: half to all of min * 2^attempt, capped at
 * backoff_max_ms, and at SYNCER_UNREACHABLE_RETRY_MS when the peer could not
 * be reached (err: what failed). */
static int syncer_backoff_ms(struct syncer_peer *p, int attempt, grove_err err)
{
    const struct grove_syncer_options *o = &p->syncer->opts;
    int64_t cap = o->backoff_max_ms;
    if ((err == GROVE_EUNAVAIL || err == GROVE_ETIMEOUT) && cap > SYNCER_UNREACHABLE_RETRY_MS)
        cap = SYNCER_UNREACHABLE_RETRY_MS;
    int64_t delay = o->backoff_min_ms;
    for (int i = 0; i < attempt && delay < cap; i++)
        delay *= 2;
    if (delay > cap)
        delay = cap;
    return (int)(delay / 2 + rand_r(&p->rand_state) % (delay / 2 + 1));
}

static void syncer_report(struct grove_syncer *s, const struct grove_sync_report *r)
{
    if (s->report_fn)
        s->report_fn(s->report_user, r);
}

static void *syncer_peer_main(void *arg)
{
    struct syncer_peer *p = arg;
    struct grove_syncer *s = p->syncer;
    size_t index = p->index;
    int attempt = 0;
    int64_t next_round = 0; /* sync at start */
    struct grove_hlc pushed_upto;
    grove_store_latest(s->store, &pushed_upto);
    while (!atomic_load(&s->stop)) {
        int64_t now = grove_syncer_now_us();
        struct grove_sync_report r;
        if (now >= next_round) {
            grove_store_latest(s->store, &pushed_upto);
            grove_syncer_exchange(s, index, SYNCER_PULL | SYNCER_PUSH, &r);
            syncer_report(s, &r);
            if (r.err && grove_err_retryable(r.err)) {
                next_round = now + (int64_t)syncer_backoff_ms(p, attempt++, r.err) * 1000;
            } else {
                attempt = 0;
                next_round = now + (int64_t)atomic_load(&s->interval_ms) * 1000;
            }
            continue;
        }
        /* Sleep in short slices until the round is due, a local commit wants
         * pushing, or stop. */
        int64_t left_ms = (next_round - now) / 1000 + 1;
        grove_err err =
            grove_store_wait(s->store, &pushed_upto, left_ms < 200 ? (int)left_ms : 200);
        if (err == GROVE_OK && !atomic_load(&s->stop) && s->opts.mode != GROVE_SYNC_PULL_ONLY) {
            grove_store_latest(s->store, &pushed_upto);
            grove_syncer_exchange(s, index, SYNCER_PUSH, &r);
            if (r.pushed || r.err)
                syncer_report(s, &r);
            if (r.err && grove_err_retryable(r.err))
                next_round = now + (int64_t)syncer_backoff_ms(p, attempt++, r.err) * 1000;
        }
    }
    return NULL;
}

static grove_err syncer_on_batch(void *user, const struct grove_pull_response *batch)
{
    struct syncer_peer *p = user;
    return grove_syncer_apply_stream_batch(p->syncer, p->index, batch);
}

static void *syncer_stream_main(void *arg)
{
    struct syncer_peer *p = arg;
    struct grove_syncer *s = p->syncer;
    int attempt = 0;
    grove_err refused = GROVE_OK; /* the refusal last reported, so it is reported once */
    while (!atomic_load(&s->stop)) {
        struct grove_peer_cursors c;
        grove_err err = grove_store_cursors_get(s->store, p->url, &c);
        struct grove_pull_request req = {.tables = p->scope->tables,
                                         .table_count = p->scope->table_count,
                                         .since = c.pull,
                                         .node_id = grove_store_node_id(s->store),
                                         .limit = s->opts.page_limit,
                                         .filter = p->scope->filter};
        int64_t started = grove_syncer_now_us();
        if (!err)
            err = grove_peer_subscribe(p->stream_conn, &req, syncer_on_batch, p, &s->stop);
        if (atomic_load(&s->stop))
            break;
        grove_syncer_note_stream(p, GROVE_STREAM_CONNECTING);
        if (grove_syncer_now_us() - started > 10 * 1000000LL)
            attempt = 0; /* it ran a while: a fresh failure, not a flapping one */
        char why[300];
        int delay;
        if (err && !grove_err_retryable(err)) {
            /* Refused (a bad token, no permission...): asking again at once
             * cannot help, so it is asked again at the sync interval. */
            delay = atomic_load(&s->interval_ms);
            grove_log_kv(err == refused ? GROVE_LOG_DEBUG : GROVE_LOG_WARN, "stream refused",
                         "peer=%s error=%s reason=%s retry_ms=%d", p->url, grove_err_name(err),
                         grove_log_quote(why, sizeof why, grove_errmsg()), delay);
            refused = err;
        } else {
            delay = syncer_backoff_ms(p, attempt++, err);
            refused = GROVE_OK;
            grove_log_kv(GROVE_LOG_WARN, "stream ended", "peer=%s reason=%s reconnect_ms=%d",
                         p->url, grove_log_quote(why, sizeof why, err ? grove_errmsg() : "closed"),
                         delay);
        }
        for (int waited = 0; waited < delay && !atomic_load(&s->stop); waited += 50)
            nanosleep(&(struct timespec){0, 50 * 1000000L}, NULL);
    }
    return NULL;
}

grove_err grove_syncer_start(struct grove_syncer *s, grove_report_fn report_fn, void *user)
{
    if (s->running)
        return grove_error_set(GROVE_EINVAL, "syncer already started");
    s->report_fn = report_fn;
    s->report_user = user;
    atomic_store(&s->stop, false);
    s->running = true;
    for (size_t i = 0; i < s->peer_count; i++) {
        struct syncer_peer *p = s->peers[i];
        if (pthread_create(&p->thread, NULL, syncer_peer_main, p) == 0)
            p->has_thread = true;
        if (p->stream_conn && pthread_create(&p->stream_thread, NULL, syncer_stream_main, p) == 0)
            p->has_stream_thread = true;
        if (!p->has_thread || (p->stream_conn && !p->has_stream_thread)) {
            grove_syncer_stop(s);
            return grove_error_set(GROVE_ENOMEM, "cannot start sync threads");
        }
    }
    return GROVE_OK;
}

void grove_syncer_set_interval(struct grove_syncer *s, int ms)
{
    if (ms > 0)
        atomic_store(&s->interval_ms, ms);
}

void grove_syncer_stop(struct grove_syncer *s)
{
    if (!s->running)
        return;
    atomic_store(&s->stop, true);
    /* A round waiting on a peer that accepted and never answers would hold
     * the join for the call's whole timeout. */
    for (size_t i = 0; i < s->peer_count; i++)
        grove_peer_cancel(s->peers[i]->conn, true);
    for (size_t i = 0; i < s->peer_count; i++) {
        struct syncer_peer *p = s->peers[i];
        if (p->has_thread)
            pthread_join(p->thread, NULL);
        if (p->has_stream_thread)
            pthread_join(p->stream_thread, NULL);
        p->has_thread = p->has_stream_thread = false;
        grove_peer_cancel(p->conn, false); /* grove_syncer_sync may still be called */
    }
    s->running = false;
}
