/* The syncer (docs/design.md §10): per peer, pull pages and merge them, then push what
 * the peer has not seen; cursors persist in the store. Background mode runs
 * one thread per peer (so a slow peer delays no other), wakes on local
 * commits for real-time push, and optionally consumes the peer's stream. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "grove/log.h"
#include "grove/metrics.h"
#include "grove/syncer.h"
#include "grove/sys/error.h"
#include "inbound.h"
#include "store_echo.h"
#include "syncer_internal.h"

static int64_t syncer_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

grove_err grove_syncer_new(struct grove_syncer **out, struct grove_store *store,
                           const struct grove_syncer_options *opts)
{
    static const struct grove_syncer_options defaults;
    if (!opts)
        opts = &defaults;
    *out = NULL;
    struct grove_syncer *s = calloc(1, sizeof *s);
    if (!s)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    s->store = store;
    s->opts = *opts;
    s->opts.hooks = NULL;
    s->opts.interval_ms = opts->interval_ms > 0 ? opts->interval_ms : 30000;
    atomic_store(&s->interval_ms, s->opts.interval_ms);
    s->opts.page_limit = opts->page_limit ? opts->page_limit : 5000;
    s->opts.push_batch = opts->push_batch ? opts->push_batch : 1000;
    s->opts.backoff_min_ms = opts->backoff_min_ms > 0 ? opts->backoff_min_ms : 500;
    s->opts.backoff_max_ms = opts->backoff_max_ms > 0 ? opts->backoff_max_ms : 30000;
    grove_err err = grove_hook_chain_extend(&s->hooks, opts->hooks);
    const struct grove_schema *schema = grove_store_schema(store);
    size_t n = opts->table_count;
    if (!err && !(s->tables = calloc(n + 1, sizeof *s->tables)))
        err = grove_error_set(GROVE_ENOMEM, "out of memory");
    for (size_t i = 0; !err && i < n; i++) {
        if (!grove_schema_has_table(schema, opts->tables[i]))
            err =
                grove_error_set(GROVE_EINVAL, "sync table \"%s\" is not declared", opts->tables[i]);
        else if (!(s->tables[i] = strdup(opts->tables[i])))
            err = grove_error_set(GROVE_ENOMEM, "out of memory");
        s->table_count = i + 1;
    }
    if (err) {
        grove_syncer_free(s);
        return err;
    }
    s->opts.tables = NULL;
    *out = s;
    return GROVE_OK;
}

void grove_syncer_free(struct grove_syncer *s)
{
    if (!s)
        return;
    grove_syncer_stop(s);
    for (size_t i = 0; i < s->peer_count; i++) {
        struct syncer_peer *p = s->peers[i];
        grove_peer_close(p->conn);
        grove_peer_close(p->stream_conn);
        grove_metrics_peer_release(p->metrics);
        pthread_mutex_destroy(&p->lock);
        pthread_mutex_destroy(&p->status_lock);
        free(p->url);
        grove_msg_free(p->scope);
        free(p);
    }
    for (size_t i = 0; i < s->table_count; i++)
        free((char *)s->tables[i]);
    free(s->tables);
    free(s->peers);
    grove_hook_chain_free(&s->hooks);
    free(s);
}

grove_err grove_syncer_add_peer(struct grove_syncer *s, const char *url,
                                const struct grove_dial_options *opts)
{
    return grove_syncer_add_peer_scoped(s, url, opts, NULL);
}

grove_err grove_syncer_add_peer_scoped(struct grove_syncer *s, const char *url,
                                       const struct grove_dial_options *opts,
                                       const struct grove_sync_scope *scope)
{
    if (s->running)
        return grove_error_set(GROVE_EINVAL, "add peers before starting the syncer");
    struct syncer_peer *p = calloc(1, sizeof *p);
    struct syncer_peer **grown = realloc(s->peers, (s->peer_count + 1) * sizeof *grown);
    if (!p || !grown || !(p->url = strdup(url))) {
        free(p);
        if (grown)
            s->peers = grown;
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    }
    s->peers = grown;
    grove_err err = grove_syncer_scope_new(s, scope, &p->scope);
    p->scoped_tables = scope && scope->table_count;
    if (!err)
        err = grove_peer_open(&p->conn, url, opts);
    if (!err && s->opts.stream && grove_peer_can_subscribe(p->conn))
        err = grove_peer_open(&p->stream_conn, url, opts);
    if (err) {
        grove_peer_close(p->conn);
        grove_msg_free(p->scope);
        free(p->url);
        free(p);
        return err;
    }
    p->syncer = s;
    p->metrics = grove_metrics_peer_add(grove_store_metrics(s->store), url);
    p->index = s->peer_count;
    p->rand_state = (unsigned)grove_syncer_now_us() ^ (unsigned)(s->peer_count * 2654435761u);
    pthread_mutex_init(&p->lock, NULL);
    pthread_mutex_init(&p->status_lock, NULL);
    p->stream = p->stream_conn ? GROVE_STREAM_CONNECTING : GROVE_STREAM_OFF;
    s->peers[s->peer_count++] = p;
    return GROVE_OK;
}

size_t grove_syncer_peer_count(const struct grove_syncer *s)
{
    return s->peer_count;
}

long grove_syncer_peer_find(const struct grove_syncer *s, const char *url)
{
    for (size_t i = 0; i < s->peer_count; i++)
        if (strcmp(s->peers[i]->url, url) == 0)
            return (long)i;
    return -1;
}

const char *grove_stream_state_name(enum grove_stream_state state)
{
    switch (state) {
    case GROVE_STREAM_CONNECTING:
        return "connecting";
    case GROVE_STREAM_OPEN:
        return "open";
    default:
        return "off";
    }
}

/* Pending changes are counted up to this many: a status call must stay cheap. */
#define SYNCER_PENDING_CAP 10000

grove_err grove_syncer_peer_status(struct grove_syncer *s, size_t i, struct grove_peer_status *out)
{
    memset(out, 0, sizeof *out);
    if (i >= s->peer_count)
        return grove_error_set(GROVE_EINVAL, "no peer %zu", i);
    struct syncer_peer *p = s->peers[i];
    out->url = p->url;
    out->tables = p->scope->tables;
    out->table_count = p->scope->table_count;
    out->pk_prefix = p->scope->filter.pk_prefix;
    pthread_mutex_lock(&p->status_lock);
    out->tried = p->tried;
    out->up = p->up;
    out->last_success_ms = p->last_success_ms;
    out->last_error_ms = p->last_error_ms;
    out->last_err = p->last_err;
    memcpy(out->last_error, p->last_error, sizeof out->last_error);
    out->stream = p->stream;
    pthread_mutex_unlock(&p->status_lock);
    struct grove_peer_cursors c;
    grove_err err = grove_store_cursors_get(s->store, p->url, &c);
    if (err)
        return err;
    memcpy(out->node_id, c.peer_node, sizeof out->node_id);
    if (s->opts.mode == GROVE_SYNC_PULL_ONLY)
        return GROVE_OK;
    struct grove_store_query q = {.tables = p->scope->tables,
                                  .table_count = p->scope->table_count,
                                  .since = c.push,
                                  .limit = SYNCER_PENDING_CAP,
                                  .exclude_node = grove_store_echo_push_exclude(&c),
                                  .filter = grove_syncer_peer_filter(p)};
    struct grove_pull_response *batch;
    err = grove_store_changes(s->store, &q, &batch);
    if (err)
        return err;
    out->pending = batch->count;
    out->pending_more = batch->has_more;
    grove_msg_free(batch);
    return GROVE_OK;
}

/* Records a round's outcome; an up/down transition is logged once. */
static void syncer_note_round(struct syncer_peer *p, const struct grove_sync_report *r)
{
    pthread_mutex_lock(&p->status_lock);
    bool was_up = p->up, was_tried = p->tried;
    p->tried = true;
    p->up = r->err == GROVE_OK;
    if (p->up) {
        p->last_success_ms = syncer_wall_ms();
    } else {
        p->last_error_ms = syncer_wall_ms();
        p->last_err = r->err;
        snprintf(p->last_error, sizeof p->last_error, "%s", r->error);
    }
    pthread_mutex_unlock(&p->status_lock);
    if (p->up && (!was_up || !was_tried))
        grove_log_kv(GROVE_LOG_INFO, "peer up", "peer=%s", p->url);
    else if (!p->up && (was_up || !was_tried))
        grove_log_kv(GROVE_LOG_WARN, "peer down", "peer=%s error=%s", p->url,
                     grove_err_name(r->err));
}

void grove_syncer_note_stream(struct syncer_peer *p, enum grove_stream_state state)
{
    pthread_mutex_lock(&p->status_lock);
    p->stream = state;
    pthread_mutex_unlock(&p->status_lock);
}

static void syncer_report_error(struct grove_sync_report *r, grove_err err)
{
    if (r->err)
        return; /* keep the first */
    r->err = err;
    snprintf(r->error, sizeof r->error, "%s", grove_errmsg());
}

/* Learns the peer's node id from a stamp of its own clock. A stamp naming
 * another node than the one learned means the URL now reaches another node:
 * the cursors in hand are not that node's, so nothing is learned and the
 * next exchange identifies the peer again (syncer_identify). */
static bool syncer_learn_peer(struct grove_syncer *s, struct syncer_peer *p,
                              struct grove_peer_cursors *c, const struct grove_hlc *stamp)
{
    if (!stamp->node[0] || strcmp(stamp->node, grove_store_node_id(s->store)) == 0)
        return true;
    if (c->peer_node[0] && strcmp(c->peer_node, stamp->node) != 0) {
        p->identified = false;
        return false;
    }
    memcpy(c->peer_node, stamp->node, sizeof c->peer_node);
    return true;
}

/* The node id a pull's latest_hlc names when it is an arrival stamp
 * (groved), else NULL. Grove's Go server puts the last change's own stamp
 * there instead, whose node is that change's origin: trusting it would filter
 * the wrong changes out of our pushes, so a latest_hlc equal to a returned
 * change's stamp is ignored (an arrival stamp never equals a change's: they
 * are different ticks). */
static const struct grove_hlc *syncer_pull_stamp(const struct grove_pull_response *resp)
{
    if (resp->count == 0)
        return NULL;
    for (size_t i = 0; i < resp->count; i++)
        if (grove_hlc_compare(&resp->changes[i].hlc, &resp->latest_hlc) == 0)
            return NULL;
    return &resp->latest_hlc;
}

static bool syncer_learn_peer_from_pull(struct grove_syncer *s, struct syncer_peer *p,
                                        struct grove_peer_cursors *c,
                                        const struct grove_pull_response *resp)
{
    const struct grove_hlc *stamp = syncer_pull_stamp(resp);
    return stamp ? syncer_learn_peer(s, p, c, stamp) : true;
}

/* Which node answers at the URL, asked with an empty push (its answer's
 * latest_hlc names the peer; no change moves, no cursor is read) before the
 * cursors are used: a link whose URL changed (another transport to the same
 * node) takes that node's state, and a URL that now reaches another node gets
 * that node's own, reported in r->notice. A peer whose answer names no node
 * keeps its state under its URL until a page or push answer names it.
 * Failures are left to the halves. */
static void syncer_identify(struct grove_syncer *s, struct syncer_peer *p,
                            struct grove_sync_report *r)
{
    if (p->identified)
        return;
    struct grove_push_request req = {.node_id = grove_store_node_id(s->store)};
    struct grove_push_response *resp;
    if (grove_peer_push(p->conn, &req, &resp) != GROVE_OK)
        return;
    char node[GROVE_NODE_ID_MAX + 1] = "";
    if (strcmp(resp->latest_hlc.node, grove_store_node_id(s->store)) != 0)
        snprintf(node, sizeof node, "%s", resp->latest_hlc.node);
    grove_msg_free(resp);
    p->identified = true;
    if (!node[0])
        return;
    struct grove_peer_cursors c, bound;
    if (grove_store_cursors_get(s->store, p->url, &c) != GROVE_OK)
        return;
    if (strcmp(c.peer_node, node) == 0)
        return;
    if (grove_store_cursors_bind(s->store, p->url, node, &bound) != GROVE_OK) {
        char why[300];
        grove_log_kv(GROVE_LOG_WARN, "peer not bound", "peer=%s node=%s error=%s", p->url, node,
                     grove_log_quote(why, sizeof why, grove_errmsg()));
        p->identified = false;
        return;
    }
    if (c.peer_node[0]) {
        snprintf(r->notice, sizeof r->notice, "%s answers as node %s, no longer %s", p->url,
                 node, c.peer_node);
        grove_log_kv(GROVE_LOG_WARN, "peer node changed", "peer=%s node=%s was=%s", p->url, node,
                     c.peer_node);
    } else {
        grove_log_kv(GROVE_LOG_INFO, "peer identified", "peer=%s node=%s resumed=%s", p->url,
                     node, grove_hlc_is_zero(&bound.pull) ? "false" : "true");
    }
}

/* Merges changes from the peer (hooks around the apply) and stores *c, the
 * cursors past them, in the same transaction; counts go to r. */
static grove_err syncer_merge(struct grove_syncer *s, struct syncer_peer *p,
                              enum grove_hook_path path, struct grove_peer_cursors *c,
                              const struct grove_change *changes, size_t count,
                              struct grove_sync_report *r)
{
    r->pulled += count;
    struct grove_change *kept = NULL;
    grove_err err = grove_syncer_scope_keep(p, &changes, &count, &kept);
    if (err)
        return err;
    struct grove_apply_report applied = {0};
    struct inbound_source from = {.path = path, .peer = p->url, .cursors = c};
    err = grove_inbound_apply(s->store, &s->hooks, changes, count, &from, &applied);
    free(kept);
    if (err)
        return err;
    r->merged += applied.merged;
    r->conflicts += applied.conflicts;
    return GROVE_OK;
}

/* The next page, fetched on another thread while this one merges the
 * current page: the peer's read and the wire overlap our write. */
struct syncer_fetch {
    struct grove_peer *conn;
    struct grove_pull_request req;
    struct grove_pull_response *resp;
    grove_err err;
    char errmsg[512]; /* grove_errmsg() is per thread */
    pthread_t thread;
};

static void *syncer_fetch_main(void *arg)
{
    struct syncer_fetch *f = arg;
    f->err = grove_peer_pull(f->conn, &f->req, &f->resp);
    if (f->err)
        snprintf(f->errmsg, sizeof f->errmsg, "%s", grove_errmsg());
    return NULL;
}

/* Starts fetching; fetches here when no thread can be had. */
static void syncer_fetch_start(struct syncer_fetch *f, bool *threaded)
{
    *threaded = pthread_create(&f->thread, NULL, syncer_fetch_main, f) == 0;
    if (!*threaded)
        syncer_fetch_main(f);
}

static grove_err syncer_fetch_finish(struct syncer_fetch *f, bool threaded,
                                     struct grove_pull_response **out)
{
    if (threaded)
        pthread_join(f->thread, NULL);
    *out = f->resp;
    f->resp = NULL;
    return f->err ? grove_error_set(f->err, "%s", f->errmsg) : GROVE_OK;
}

/* A pull running this long logs its progress, and again every as long. */
#define SYNCER_PROGRESS_US (5 * 1000000LL)

static grove_err syncer_pull_locked(struct grove_syncer *s, struct syncer_peer *p,
                                    struct grove_sync_report *r)
{
    struct grove_peer_cursors c;
    grove_err err = grove_store_cursors_get(s->store, p->url, &c);
    if (err)
        return err;
    struct syncer_fetch fetch = {.conn = p->conn,
                                 .req = {.tables = p->scope->tables,
                                         .table_count = p->scope->table_count,
                                         .since = c.pull,
                                         .limit = s->opts.page_limit,
                                         .node_id = grove_store_echo_pull_node(s->store, &c),
                                         .filter = p->scope->filter}};
    struct grove_pull_response *resp;
    int64_t started = grove_syncer_now_us(), progress_at = started;
    err = grove_peer_pull(p->conn, &fetch.req, &resp);
    while (!err) {
        struct grove_hlc since = fetch.req.since;
        if (!syncer_learn_peer_from_pull(s, p, &c, resp)) {
            /* Another node answers: its page is not merged under these cursors. */
            grove_msg_free(resp);
            break;
        }
        /* !moved: a peer that says more but moves nowhere is not asked again. */
        bool moved = grove_hlc_compare(&resp->latest_hlc, &since) > 0;
        bool more = resp->has_more && moved, threaded = false;
        if (more) {
            fetch.req.since = resp->latest_hlc;
            syncer_fetch_start(&fetch, &threaded);
        }
        if (moved)
            c.pull = resp->latest_hlc;
        if (!more) /* the last page: later pulls are echo-filtered (store_echo.h) */
            c.catching_up = false;
        /* Stored with the page, or (on failure) neither is. */
        err = syncer_merge(s, p, GROVE_HOOK_PULL_MADE, &c, resp->changes, resp->count, r);
        grove_msg_free(resp);
        resp = NULL;
        int64_t now = grove_syncer_now_us();
        if (now - progress_at >= SYNCER_PROGRESS_US) { /* a long pull says how it goes */
            progress_at = now;
            grove_log_kv(GROVE_LOG_INFO, "sync progress",
                         "peer=%s direction=pull pulled=%" PRIu64 " rate_per_s=%.0f more=%s",
                         p->url, r->pulled, (double)r->pulled * 1e6 / (double)(now - started),
                         more ? "true" : "false");
        }
        if (!more)
            break;
        grove_err fetched = syncer_fetch_finish(&fetch, threaded, &resp);
        if (err) { /* the merge failed: the page fetched meanwhile is dropped */
            grove_msg_free(resp);
            break;
        }
        err = fetched;
    }
    return err;
}

static grove_err syncer_push_locked(struct grove_syncer *s, struct syncer_peer *p,
                                    struct grove_sync_report *r)
{
    struct grove_peer_cursors c;
    grove_err err = grove_store_cursors_get(s->store, p->url, &c);
    if (err)
        return err;
    int64_t started = grove_syncer_now_us(), progress_at = started;
    for (;;) {
        struct grove_store_query q = {.tables = p->scope->tables,
                                      .table_count = p->scope->table_count,
                                      .since = c.push,
                                      .limit = s->opts.push_batch,
                                      .exclude_node = grove_store_echo_push_exclude(&c),
                                      .filter = grove_syncer_peer_filter(p)};
        struct grove_pull_response *batch;
        err = grove_store_changes(s->store, &q, &batch);
        if (err)
            return err;
        size_t count = batch->count;
        struct grove_hook_context ctx = {
            .path = GROVE_HOOK_PUSH_MADE, .peer_url = p->url, .count = count};
        err = grove_hook_chain_before_outbound(&s->hooks, &ctx, batch->changes, &count);
        if (!err && count) {
            struct grove_push_request req = {.changes = batch->changes,
                                             .count = count,
                                             .node_id = grove_store_node_id(s->store)};
            struct grove_push_response *resp;
            err = grove_peer_push(p->conn, &req, &resp);
            if (!err) {
                syncer_learn_peer(s, p, &c, &resp->latest_hlc);
                r->pushed += count;
                grove_msg_free(resp);
            }
        }
        bool more = batch->has_more;
        bool moved = grove_hlc_compare(&batch->latest_hlc, &c.push) > 0;
        if (!err && moved) {
            c.push = batch->latest_hlc;
            err = grove_store_cursors_set(s->store, p->url, &c);
        }
        grove_msg_free(batch);
        if (err || !more || !moved)
            return err;
        int64_t now = grove_syncer_now_us();
        if (now - progress_at >= SYNCER_PROGRESS_US) { /* a long push says how it goes */
            progress_at = now;
            grove_log_kv(GROVE_LOG_INFO, "sync progress",
                         "peer=%s direction=push pushed=%" PRIu64 " rate_per_s=%.0f more=true",
                         p->url, r->pushed, (double)r->pushed * 1e6 / (double)(now - started));
        }
    }
}

grove_err grove_syncer_exchange(struct grove_syncer *s, size_t i, int halves,
                                struct grove_sync_report *out)
{
    if (i >= s->peer_count)
        return grove_error_set(GROVE_EINVAL, "no peer %zu", i);
    struct syncer_peer *p = s->peers[i];
    struct grove_sync_report r = {.peer = p->url};
    int64_t start = grove_syncer_now_us();
    pthread_mutex_lock(&p->lock);
    if (halves & SYNCER_PULL) /* a round checks who answers: a pushed commit need not */
        p->identified = false;
    syncer_identify(s, p, &r);
    /* After identify: the cursors it settles are the node's. */
    grove_err err = grove_syncer_scope_settle(s, p);
    bool settled = !err;
    if (settled && (halves & SYNCER_PULL) && s->opts.mode != GROVE_SYNC_PUSH_ONLY)
        err = syncer_pull_locked(s, p, &r);
    /* Push even when the pull failed: the two directions fail independently. */
    if (err)
        syncer_report_error(&r, err);
    if (settled && (halves & SYNCER_PUSH) && s->opts.mode != GROVE_SYNC_PULL_ONLY) {
        grove_err push_err = syncer_push_locked(s, p, &r);
        if (push_err)
            syncer_report_error(&r, push_err);
    }
    if (r.err && grove_err_retryable(r.err))
        p->identified = false; /* it may come back as another node */
    pthread_mutex_unlock(&p->lock);
    r.duration_us = grove_syncer_now_us() - start;
    grove_metrics_peer_exchange(p->metrics, &r, halves == (SYNCER_PULL | SYNCER_PUSH));
    if ((halves & SYNCER_PULL) || r.err || r.pushed)
        syncer_note_round(p, &r);
    if (out)
        *out = r;
    return GROVE_OK;
}

grove_err grove_syncer_sync_peer(struct grove_syncer *s, size_t i, struct grove_sync_report *r)
{
    return grove_syncer_exchange(s, i, SYNCER_PULL | SYNCER_PUSH, r);
}

grove_err grove_syncer_pull_peer(struct grove_syncer *s, size_t i, struct grove_sync_report *r)
{
    return grove_syncer_exchange(s, i, SYNCER_PULL, r);
}

grove_err grove_syncer_push_peer(struct grove_syncer *s, size_t i, struct grove_sync_report *r)
{
    return grove_syncer_exchange(s, i, SYNCER_PUSH, r);
}

grove_err grove_syncer_sync(struct grove_syncer *s, struct grove_sync_report *reports)
{
    for (size_t i = 0; i < s->peer_count; i++)
        grove_syncer_exchange(s, i, SYNCER_PULL | SYNCER_PUSH, reports ? &reports[i] : NULL);
    return GROVE_OK;
}

grove_err grove_syncer_apply_stream_batch(struct grove_syncer *s, size_t i,
                                          const struct grove_pull_response *batch)
{
    if (i >= s->peer_count)
        return grove_error_set(GROVE_EINVAL, "no peer %zu", i);
    struct syncer_peer *p = s->peers[i];
    struct grove_sync_report r = {.peer = p->url};
    pthread_mutex_lock(&p->lock);
    struct grove_peer_cursors c;
    grove_err err = grove_store_cursors_get(s->store, p->url, &c);
    if (!err) {
        grove_syncer_note_stream(p, GROVE_STREAM_OPEN);
        if (!syncer_learn_peer_from_pull(s, p, &c, batch))
            err = grove_error_set(GROVE_EPROTO, "%s: the stream answers as another node", p->url);
    }
    if (!err) {
        /* Only a batch that follows on from the cursor may move it: after a
         * gap the next pull fetches what the stream lost. */
        if (grove_hlc_compare(&batch->since, &c.pull) == 0 &&
            grove_hlc_compare(&batch->latest_hlc, &c.pull) > 0)
            c.pull = batch->latest_hlc;
        err = syncer_merge(s, p, GROVE_HOOK_STREAM_APPLIED, &c, batch->changes, batch->count, &r);
    }
    grove_log_kv(GROVE_LOG_DEBUG, "stream batch", "peer=%s changes=%zu merged=%" PRIu64 " error=%s",
                 p->url, batch->count, r.merged, err ? grove_err_name(err) : "none");
    pthread_mutex_unlock(&p->lock);
    if (!err)
        grove_metrics_peer_streamed(p->metrics, r.pulled);
    return err;
}
