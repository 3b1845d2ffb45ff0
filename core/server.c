/* The server side of pull/push/stream, shared by every transport. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "grove/server.h"
#include "grove/sys/error.h"
#include "guard.h"
#include "inbound.h"
#include "read_pool.h"
#include "server_stream.h"
#include "store_echo.h"

struct grove_server {
    struct grove_store *store;
    struct grove_hook_chain hooks;
    uint32_t max_page, default_page;
    size_t page_bytes;
    enum grove_counter_deltas counter_deltas;
    atomic_bool closing;
    atomic_bool ready;
    struct grove_server_stream_cache *stream_cache; /* server_stream.c */
    struct grove_read_pool *reads;                  /* pulls are served here; NULL: inline */
};

grove_err grove_server_new(struct grove_server **out, struct grove_store *store,
                           const struct grove_server_options *opts)
{
    static const struct grove_server_options defaults;
    if (!opts)
        opts = &defaults;
    struct grove_server *server = calloc(1, sizeof *server);
    if (!server)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    server->store = store;
    server->max_page = opts->max_page ? opts->max_page : 10000;
    server->default_page = opts->default_page ? opts->default_page : 100000;
    server->page_bytes = opts->page_bytes ? opts->page_bytes : (size_t)8 << 20;
    server->counter_deltas = opts->counter_deltas;
    grove_err err = grove_hook_chain_extend(&server->hooks, opts->hooks);
    if (!err)
        err = grove_server_stream_cache_new(&server->stream_cache);
    size_t readers = grove_store_readers(store);
    if (!err && readers)
        err = grove_read_pool_new(&server->reads, readers);
    if (err) {
        grove_server_free(server);
        return err;
    }
    *out = server;
    return GROVE_OK;
}

void grove_server_free(struct grove_server *server)
{
    if (!server)
        return;
    grove_read_pool_free(server->reads); /* first: its jobs use the rest */
    grove_hook_chain_free(&server->hooks);
    grove_server_stream_cache_free(server->stream_cache);
    free(server);
}

void grove_server_shutdown(struct grove_server *server)
{
    atomic_store(&server->closing, true);
    grove_store_wake_all(server->store);
}

struct grove_read_pool *grove_server_read_pool(const struct grove_server *server)
{
    return server->reads;
}

struct grove_store *grove_server_store(struct grove_server *server)
{
    return server->store;
}

static grove_err server_check_open(struct grove_server *server)
{
    if (atomic_load(&server->closing))
        return grove_error_set(GROVE_EUNAVAIL, "server is shutting down");
    return GROVE_OK;
}

/* The query for a pull: page size capped, echoes left out by the rules of
 * store_echo.h. `since` was snapped by server_snap_since. */
static void server_query(struct grove_server *server, const struct grove_pull_request *req,
                         const struct grove_hlc *since, struct grove_store_query *q)
{
    memset(q, 0, sizeof *q);
    q->tables = (const char *const *)req->tables;
    q->table_count = req->table_count;
    if (!q->table_count) /* every table the caller may read */
        grove_caller_read_tables(req->caller, &q->tables, &q->table_count);
    q->since = *since;
    q->limit = req->limit ? (req->limit < server->max_page ? req->limit : server->max_page)
                          : server->default_page;
    q->max_bytes = server->page_bytes;
    /* Only a node id the caller is known by spares it echoes: a claimed one
     * could keep changes away from the node that lacks them
     * (docs/protocol.md, "Echo rule"). */
    q->exclude_node =
        grove_store_echo_pull_exclude(since, grove_caller_node(req->caller, req->node_id));
    q->filter = grove_pull_filter_active(&req->filter) ? &req->filter : NULL;
}

/* A pull's tables must be inside the caller's read scope. */
static grove_err server_check_tables(const struct grove_pull_request *req)
{
    grove_err err = GROVE_OK;
    for (size_t i = 0; !err && i < req->table_count; i++)
        err = grove_caller_check_table(req->caller, req->tables[i], false);
    return err;
}

/* Leaves out the rows outside the caller's read scope; the page's cursor
 * still moves past them, as past echoes. */
static void server_scope_filter(const struct grove_pull_request *req,
                                struct grove_pull_response *page)
{
    if (!grove_caller_limited(req->caller, false))
        return;
    size_t kept = 0;
    for (size_t i = 0; i < page->count; i++)
        if (grove_caller_may(req->caller, page->changes[i].table, page->changes[i].pk, false))
            page->changes[kept++] = page->changes[i];
    page->count = kept;
}

/* The changes of a push this node applies: never one stamped with its own
 * id, which no one else can make (docs/protocol.md, "Echo rule"). *out is
 * NULL when every change stays, else a malloc'ed array of those that do. */
static grove_err server_skip_own(struct grove_server *server, const struct grove_push_request *req,
                                 struct grove_change **out, size_t *count)
{
    const char *self = grove_store_node_id(server->store);
    *out = NULL;
    *count = req->count;
    size_t own = 0;
    for (size_t i = 0; i < req->count; i++)
        own += strcmp(req->changes[i].hlc.node, self) == 0 ||
               (req->changes[i].node_id && strcmp(req->changes[i].node_id, self) == 0);
    if (!own)
        return GROVE_OK;
    struct grove_change *kept = malloc((req->count - own + 1) * sizeof *kept);
    if (!kept)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < req->count; i++)
        if (strcmp(req->changes[i].hlc.node, self) != 0 &&
            !(req->changes[i].node_id && strcmp(req->changes[i].node_id, self) == 0))
            kept[n++] = req->changes[i];
    *out = kept;
    *count = n;
    return GROVE_OK;
}

static void server_snap_since(struct grove_server *server, const struct grove_hlc *in,
                              struct grove_hlc *out)
{
    *out = *in;
    if (strcmp(in->node, grove_store_node_id(server->store)) == 0)
        out->ts = grove_clock_snap_us(in->ts);
}

/* A page for req after `since`, for a pull or a stream (path); max_bytes
 * bounds it more tightly than the server's page bound (0: no tighter). With
 * `sources` set it leaves no echoes out and says where its records came
 * from instead (a stream's shared batch). */
static grove_err server_read(struct grove_server *server, const struct grove_pull_request *req,
                             enum grove_hook_path path, const struct grove_hlc *since,
                             size_t max_bytes, struct grove_store_sources *sources,
                             struct grove_pull_response **out)
{
    struct grove_store_query q;
    server_query(server, req, since, &q);
    if (max_bytes && max_bytes < q.max_bytes)
        q.max_bytes = max_bytes;
    if (sources) {
        q.exclude_node = NULL;
        q.sources = sources;
    }
    struct grove_pull_filter sorted;
    const char **sorted_lists = NULL;
    grove_err err = q.filter ? grove_pull_filter_sort(q.filter, &sorted, &sorted_lists) : GROVE_OK;
    if (!err && q.filter)
        q.filter = &sorted;
    if (!err)
        err = grove_store_changes(server->store, &q, out);
    free(sorted_lists);
    struct grove_hook_context ctx = {
        .path = path, .peer_addr = req->peer_addr, .node = req->node_id};
    if (!err)
        server_scope_filter(req, *out);
    if (!err) {
        ctx.count = (*out)->count;
        err = grove_hook_chain_before_outbound_read(&server->hooks, &ctx, (*out)->changes,
                                                    &(*out)->count);
    }
    if (err) {
        grove_msg_free(*out);
        *out = NULL;
    }
    return err;
}

grove_err grove_server_pull(struct grove_server *server, const struct grove_pull_request *req,
                            struct grove_pull_response **out)
{
    *out = NULL;
    grove_err err = server_check_open(server);
    if (err)
        return err;
    if ((err = server_check_tables(req)))
        return err;
    struct grove_hlc since;
    server_snap_since(server, &req->since, &since);
    return server_read(server, req, GROVE_HOOK_PULL_SERVED, &since, 0, NULL, out);
}

grove_err grove_server_push(struct grove_server *server, const struct grove_push_request *req,
                            struct grove_push_response **out)
{
    *out = NULL;
    grove_err err = server_check_open(server);
    if (err)
        return err;
    struct grove_change *kept = NULL;
    size_t count;
    if ((err = grove_caller_check_push(req->caller, req)) ||
        (err = server_skip_own(server, req, &kept, &count)))
        return err;
    const char *src = grove_caller_source(req->caller, req->node_id);
    struct grove_apply_report report;
    err = grove_inbound_apply(
        server->store, &server->hooks, kept ? kept : req->changes, count,
        &(struct inbound_source){.path = GROVE_HOOK_PUSH_SERVED,
                                 .node = src ? src : "",
                                 .peer_addr = req->peer_addr,
                                 .counter_operations =
                                     server->counter_deltas == GROVE_COUNTER_DELTAS_OPERATIONS},
        &report);
    free(kept);
    struct grove_push_response *resp = NULL;
    if (!err)
        err = grove_push_response_new(&resp);
    if (err)
        return err;
    resp->merged = report.merged;
    if (report.merged)
        resp->latest_hlc = report.latest;
    else
        grove_store_latest(server->store, &resp->latest_hlc);
    if (grove_hlc_is_zero(&resp->latest_hlc)) /* still tell the pusher who we are */
        grove_store_now(server->store, &resp->latest_hlc);
    *out = resp;
    return GROVE_OK;
}

grove_err grove_server_stream_open(struct grove_server *server,
                                   const struct grove_pull_request *req,
                                   struct grove_server_stream **out)
{
    *out = NULL;
    grove_err err = server_check_open(server);
    if (err)
        return err;
    struct grove_server_stream *s = calloc(1, sizeof *s);
    if (!s || grove_pull_request_new(&s->req)) {
        free(s);
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    }
    s->server = server;
    if (req->caller) {
        grove_caller_copy(&s->caller, req->caller);
        s->req->caller = &s->caller;
    }
    s->req->limit = req->limit;
    s->req->table_count = req->table_count;
    s->req->node_id = grove_msg_strndup(s->req, req->node_id ? req->node_id : "",
                                        req->node_id ? strlen(req->node_id) : 0);
    s->req->tables = grove_msg_alloc(s->req, (req->table_count + 1) * sizeof(char *));
    err = s->req->node_id && s->req->tables ? GROVE_OK
                                            : grove_error_set(GROVE_ENOMEM, "out of memory");
    if (!err)
        err = grove_pull_filter_copy(s->req, &req->filter, &s->req->filter);
    for (size_t i = 0; !err && i < req->table_count; i++) {
        if (!grove_schema_has_table(grove_store_schema(server->store), req->tables[i]))
            err = grove_error_set(GROVE_EFORBIDDEN, "table \"%s\" is not declared", req->tables[i]);
        else if ((err = grove_caller_check_table(req->caller, req->tables[i], false)))
            break;
        else if (!(s->req->tables[i] =
                       grove_msg_strndup(s->req, req->tables[i], strlen(req->tables[i]))))
            err = grove_error_set(GROVE_ENOMEM, "out of memory");
    }
    if (err) {
        grove_server_stream_close(s);
        return err;
    }
    server_snap_since(server, &req->since, &s->cursor);
    s->sent = s->cursor;
    *out = s;
    return GROVE_OK;
}

grove_err grove_server_stream_next(struct grove_server_stream *s, int timeout_ms,
                                   struct grove_pull_response **out)
{
    *out = NULL;
    for (;;) {
        if (atomic_load(&s->server->closing))
            return grove_error_set(GROVE_ESHUTDOWN, "server is shutting down");
        struct grove_pull_response *batch;
        struct grove_hlc seen; /* the newest commit before the read */
        grove_store_latest(s->server->store, &seen);
        grove_err err = server_read(s->server, s->req, GROVE_HOOK_STREAM_SERVED, &s->cursor,
                                    s->batch_bytes, NULL, &batch);
        if (err)
            return err;
        bool moved = grove_hlc_compare(&batch->latest_hlc, &s->cursor) != 0;
        s->cursor = batch->latest_hlc;
        if (batch->count) {
            /* What the cursor passed over since the last batch (echoes,
             * hooks' drops) is nothing the subscriber needs: the batch
             * follows on from the last one, so it sees no gap. */
            batch->since = s->sent;
            s->sent = batch->latest_hlc;
            *out = batch;
            return GROVE_OK;
        }
        grove_msg_free(batch);
        if (moved)
            continue; /* only echoes or filtered changes: look again from the new cursor */
        /* Nothing of ours up to `seen` (commits to other tables only): wait
         * past it, or the store, already past the cursor, ends the wait at
         * once and the read spins. */
        err = grove_store_wait(s->server->store,
                               grove_hlc_compare(&seen, &s->cursor) > 0 ? &seen : &s->cursor,
                               timeout_ms);
        if (err)
            return err;
    }
}

void grove_server_stream_close(struct grove_server_stream *s)
{
    if (!s)
        return;
    grove_msg_free(s->req);
    grove_caller_release(&s->caller);
    free(s);
}

void grove_server_stream_set_batch_bytes(struct grove_server_stream *s, size_t bytes)
{
    s->batch_bytes = bytes;
    s->key = NULL; /* the cache's key names the bound: built again */
}

void grove_server_set_ready(struct grove_server *server, bool ready)
{
    atomic_store(&server->ready, ready);
}

bool grove_server_ready(struct grove_server *server)
{
    return atomic_load(&server->ready) && !atomic_load(&server->closing);
}

/* ---- for server_stream.c ------------------------------------------------------ */

grove_err grove_server_stream_read(struct grove_server_stream *s,
                                   struct grove_store_sources *sources,
                                   struct grove_pull_response **out)
{
    return server_read(s->server, s->req, GROVE_HOOK_STREAM_SERVED, &s->cursor, s->batch_bytes,
                       sources, out);
}

const char *grove_server_stream_echoes_of(const struct grove_server_stream *s)
{
    return grove_store_echo_pull_exclude(&s->cursor,
                                         grove_caller_node(s->req->caller, s->req->node_id));
}

bool grove_server_stream_shares_echoes(const struct grove_server_stream *s)
{
    const struct grove_hook_chain *hooks = &s->server->hooks;
    for (size_t i = 0; i < hooks->count; i++)
        if (hooks->hooks[i].before_outbound_read)
            return false;
    return true;
}

bool grove_server_stream_closing(const struct grove_server_stream *s)
{
    return atomic_load(&s->server->closing);
}

struct grove_server_stream_cache *grove_server_stream_cache_of(const struct grove_server_stream *s)
{
    return s->server->stream_cache;
}
