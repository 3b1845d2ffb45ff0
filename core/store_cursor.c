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
    pthread_mutex_lock(&store->lock);
    sqlite3_stmt *st = store->cursor_get;
    sqlite3_bind_text(st, 1, peer, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    grove_err err = GROVE_OK;
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
        err = grove_store_sqlite_error(store, "read cursors");
    }
    sqlite3_reset(st);
    pthread_mutex_unlock(&store->lock);
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

grove_err grove_store_write_cursors(struct grove_store *store, const char *peer,
                                    const struct grove_peer_cursors *cursors)
{
    sqlite3_stmt *st = store->cursor_put;
    sqlite3_bind_text(st, 1, peer, -1, SQLITE_STATIC);
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

/* ---- waiting ----------------------------------------------------------------- */

void grove_store_commit_notify(struct grove_store *store, const struct grove_hlc *latest)
{
    if (grove_hlc_compare(latest, &store->latest) > 0)
        store->latest = *latest;
    pthread_cond_broadcast(&store->committed);
}

grove_err grove_store_latest(struct grove_store *store, struct grove_hlc *out)
{
    pthread_mutex_lock(&store->lock);
    *out = store->latest;
    pthread_mutex_unlock(&store->lock);
    return GROVE_OK;
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
    pthread_mutex_lock(&store->lock);
    while ((store->latest.ts < after->ts ||
            (store->latest.ts == after->ts && store->latest.c <= after->c))) {
        if (store->waits_refused) {
            err = grove_error_set(GROVE_ESHUTDOWN, "store is shutting down");
            break;
        }
        if (pthread_cond_timedwait(&store->committed, &store->lock, &deadline)) {
            err = grove_error_set(GROVE_ETIMEOUT, "no change within %d ms", timeout_ms);
            break;
        }
    }
    pthread_mutex_unlock(&store->lock);
    return err;
}

void grove_store_wake_all(struct grove_store *store)
{
    pthread_mutex_lock(&store->lock);
    store->waits_refused = true;
    pthread_cond_broadcast(&store->committed);
    pthread_mutex_unlock(&store->lock);
}
