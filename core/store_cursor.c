/* Per-peer cursors (docs/design.md, "Arrival stamps and cursors"), and the
 * waiters that commits wake. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "grove/sys/error.h"
#include "store_internal.h"

grove_err grove_store_cursors_get(struct grove_store *store, const char *peer,
                                  struct grove_peer_cursors *out)
{
    memset(out, 0, sizeof *out);
    /* On a reader (docs/design.md, "Reads beside writes"): a round's start,
     * a stream batch or a scrape never waits for a write. What a commit
     * wrote before this call is in the reader's snapshot. */
    struct store_reader *r;
    grove_err err = grove_store_reader_get(store, &r);
    if (err)
        return err;
    sqlite3_stmt *st = r->cursor_get;
    sqlite3_bind_text(st, 1, peer, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->pull.ts = sqlite3_column_int64(st, 0);
        out->pull.c = (uint32_t)sqlite3_column_int64(st, 1);
        snprintf(out->pull.node, sizeof out->pull.node, "%s", sqlite3_column_text(st, 2));
        out->push.ts = sqlite3_column_int64(st, 3);
        out->push.c = (uint32_t)sqlite3_column_int64(st, 4);
        snprintf(out->push.node, sizeof out->push.node, "%s", store->node_id);
        snprintf(out->peer_node, sizeof out->peer_node, "%s", sqlite3_column_text(st, 5));
        out->catching_up = sqlite3_column_int(st, 6) != 0;
    } else if (rc != SQLITE_DONE) {
        err = grove_store_reader_error(r, "read cursors");
    }
    sqlite3_reset(st);
    grove_store_reader_put(store, r);
    return err;
}

grove_err grove_store_cursors_set(struct grove_store *store, const char *peer,
                                  const struct grove_peer_cursors *cursors)
{
    pthread_mutex_lock(&store->lock);
    grove_err err = grove_store_write_cursors(store, peer, cursors);
    pthread_mutex_unlock(&store->lock);
    return err;
}

/* Runs one statement with up to two text parameters; a row's first column
 * (text) goes to out when given. */
static grove_err cursor_sql(struct grove_store *store, const char *sql, const char *a,
                            const char *b, char *out, size_t out_size)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(store->db, sql, -1, &st, NULL) != SQLITE_OK)
        return grove_store_sqlite_error(store, "prepare cursor statement");
    sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
    if (b)
        sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
    if (out)
        out[0] = '\0';
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && out)
        snprintf(out, out_size, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? GROVE_OK
                                                 : grove_store_sqlite_error(store, "cursors");
}

static grove_err cursor_put(struct grove_store *store, const char *key,
                            const struct grove_peer_cursors *cursors)
{
    sqlite3_stmt *st = store->cursor_put;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, cursors->pull.ts);
    sqlite3_bind_int64(st, 3, cursors->pull.c);
    sqlite3_bind_text(st, 4, cursors->pull.node, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, cursors->push.ts);
    sqlite3_bind_int64(st, 6, cursors->push.c);
    sqlite3_bind_text(st, 7, cursors->peer_node, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 8, cursors->catching_up);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? GROVE_OK : grove_store_sqlite_error(store, "write cursors");
}

/* The row stored under key (URL or node id), zero when none; the caller
 * holds the lock. */
static grove_err cursor_row(struct grove_store *store, const char *key,
                            struct grove_peer_cursors *out, bool *found)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(store->db,
                           "SELECT pull_ts, pull_c, pull_node, push_ts, push_c, peer_node,"
                           " catching_up FROM cursors WHERE peer = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return grove_store_sqlite_error(store, "prepare cursor statement");
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *found = rc == SQLITE_ROW;
    if (*found) {
        out->pull.ts = sqlite3_column_int64(st, 0);
        out->pull.c = (uint32_t)sqlite3_column_int64(st, 1);
        snprintf(out->pull.node, sizeof out->pull.node, "%s", sqlite3_column_text(st, 2));
        out->push.ts = sqlite3_column_int64(st, 3);
        out->push.c = (uint32_t)sqlite3_column_int64(st, 4);
        snprintf(out->peer_node, sizeof out->peer_node, "%s", sqlite3_column_text(st, 5));
        out->catching_up = sqlite3_column_int(st, 6) != 0;
    }
    sqlite3_finalize(st);
    snprintf(out->push.node, sizeof out->push.node, "%s", store->node_id);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? GROVE_OK
                                                 : grove_store_sqlite_error(store, "read cursors");
}

static void cursor_take_later(struct grove_hlc *into, const struct grove_hlc *other)
{
    if (grove_hlc_compare(other, into) > 0)
        *into = *other;
}

/* Binds url to node (the caller holds the lock and runs the transaction):
 * a URL seen for the first time brings its row, which is merged into the
 * node's (each cursor the later one: both count on the same clocks); a URL
 * that answered as another node before leaves that node's row alone. *out
 * becomes the node's state. */
static grove_err cursor_bind(struct grove_store *store, const char *url, const char *node,
                             struct grove_peer_cursors *out)
{
    char bound[GROVE_NODE_ID_MAX + 1];
    struct grove_peer_cursors by_url, by_node;
    bool url_found, node_found;
    grove_err err = cursor_sql(store, "SELECT node FROM peer_urls WHERE url = ?1", url, NULL,
                               bound, sizeof bound);
    if (!err)
        err = cursor_row(store, url, &by_url, &url_found);
    if (!err)
        err = cursor_row(store, node, &by_node, &node_found);
    if (err)
        return err;
    if (!bound[0] && url_found && node_found) {
        cursor_take_later(&by_node.pull, &by_url.pull);
        cursor_take_later(&by_node.push, &by_url.push);
        by_node.catching_up = by_node.catching_up && by_url.catching_up;
    } else if (!bound[0] && url_found) {
        by_node = by_url;
    }
    snprintf(by_node.peer_node, sizeof by_node.peer_node, "%s", node);
    err = cursor_sql(store, "INSERT OR REPLACE INTO peer_urls(url, node) VALUES(?1, ?2)", url,
                     node, NULL, 0);
    if (!err && url_found)
        err = cursor_sql(store, "DELETE FROM cursors WHERE peer = ?1", url, NULL, NULL, 0);
    if (!err)
        err = cursor_put(store, node, &by_node);
    if (!err)
        *out = by_node;
    return err;
}

grove_err grove_store_cursors_bind(struct grove_store *store, const char *url, const char *node,
                                   struct grove_peer_cursors *out)
{
    pthread_mutex_lock(&store->lock);
    grove_err err = grove_store_exec(store, "SAVEPOINT cursor_bind");
    if (!err) {
        err = cursor_bind(store, url, node, out);
        grove_store_exec(store, err ? "ROLLBACK TO cursor_bind; RELEASE cursor_bind"
                                    : "RELEASE cursor_bind");
    }
    pthread_mutex_unlock(&store->lock);
    return err;
}

/* Cursors naming a node the URL is not bound to yet bind it first, inside
 * the caller's transaction: the page that taught the node id and the move of
 * the row to that id commit together. */
grove_err grove_store_write_cursors(struct grove_store *store, const char *peer,
                                    const struct grove_peer_cursors *cursors)
{
    char bound[GROVE_NODE_ID_MAX + 1];
    grove_err err = cursor_sql(store, "SELECT node FROM peer_urls WHERE url = ?1", peer, NULL,
                               bound, sizeof bound);
    if (err)
        return err;
    struct grove_peer_cursors put = *cursors;
    if (!put.peer_node[0] && !bound[0])
        return cursor_put(store, peer, &put);
    if (!put.peer_node[0]) /* a URL bound already keeps its node */
        snprintf(put.peer_node, sizeof put.peer_node, "%s", bound);
    if (strcmp(bound, put.peer_node) != 0) {
        struct grove_peer_cursors known;
        err = cursor_bind(store, peer, put.peer_node, &known);
        if (err)
            return err;
        if (!bound[0]) { /* the node's state from another URL is kept as well */
            cursor_take_later(&put.pull, &known.pull);
            cursor_take_later(&put.push, &known.push);
            put.catching_up = put.catching_up && known.catching_up;
        }
    }
    return cursor_put(store, put.peer_node, &put);
}

/* ---- waiting ----------------------------------------------------------------- */

/* Waiters and readers take notify_lock, not the writer's lock: a wait or a
 * look at the newest stamp never waits for a write to finish. */
void grove_store_commit_notify(struct grove_store *store, const struct grove_hlc *latest)
{
    pthread_mutex_lock(&store->notify_lock);
    if (grove_hlc_compare(latest, &store->latest) > 0)
        store->latest = *latest;
    atomic_fetch_add_explicit(&store->commits, 1, memory_order_release);
    pthread_cond_broadcast(&store->committed);
    pthread_mutex_unlock(&store->notify_lock);
}

grove_err grove_store_latest(struct grove_store *store, struct grove_hlc *out)
{
    pthread_mutex_lock(&store->notify_lock);
    *out = store->latest;
    pthread_mutex_unlock(&store->notify_lock);
    return GROVE_OK;
}

uint64_t grove_store_commits(struct grove_store *store)
{
    return atomic_load_explicit(&store->commits, memory_order_acquire);
}

grove_err grove_store_wait(struct grove_store *store, const struct grove_hlc *after, int timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    grove_err err = GROVE_OK;
    pthread_mutex_lock(&store->notify_lock);
    while ((store->latest.ts < after->ts ||
            (store->latest.ts == after->ts && store->latest.c <= after->c))) {
        if (store->waits_refused) {
            err = grove_error_set(GROVE_ESHUTDOWN, "store is shutting down");
            break;
        }
        if (pthread_cond_timedwait(&store->committed, &store->notify_lock, &deadline)) {
            err = grove_error_set(GROVE_ETIMEOUT, "no change within %d ms", timeout_ms);
            break;
        }
    }
    pthread_mutex_unlock(&store->notify_lock);
    return err;
}

void grove_commit_wait_init(struct grove_commit_wait *w, struct grove_store *store)
{
    *w = (struct grove_commit_wait){.store = store};
    grove_store_latest(store, &w->seen);
}

grove_err grove_commit_wait_next(struct grove_commit_wait *w, int timeout_ms)
{
    if (w->shut_down) { /* every wait would end at once: do not spin */
        struct timespec pause = {.tv_sec = timeout_ms / 1000,
                                 .tv_nsec = (long)(timeout_ms % 1000) * 1000000L};
        nanosleep(&pause, NULL);
        return GROVE_ETIMEOUT;
    }
    grove_err err = grove_store_wait(w->store, &w->seen, timeout_ms);
    if (err == GROVE_OK)
        grove_store_latest(w->store, &w->seen);
    else if (err == GROVE_ESHUTDOWN)
        w->shut_down = true;
    return err;
}

void grove_store_wake_all(struct grove_store *store)
{
    pthread_mutex_lock(&store->notify_lock);
    store->waits_refused = true;
    pthread_cond_broadcast(&store->committed);
    pthread_mutex_unlock(&store->notify_lock);
}
