/* Merging batches of changes (docs/design.md, "Store layout"): a batch is
 * sorted by row and merged STORE_CHUNK rows at a time, each chunk loaded,
 * merged and written back with multi-row statements, in one transaction. */
#include <stdlib.h>
#include <string.h>

#include "grove/metrics.h"
#include "grove/sys/error.h"
#include "store_internal.h"

/* The row of a loaded unit: rows are sorted by pk within one table. */
static struct store_row *store_row_of(struct store_row *rows, size_t n, const char *pk)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(rows[mid].pk, pk);
        if (c == 0)
            return &rows[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Steps a loading statement, adding each unit to its row; units of rows
 * outside the chunk (a span's neighbours) are passed over. *read counts the
 * units stepped. */
static grove_err store_load_step(struct grove_store *store, sqlite3_stmt *st,
                                 struct store_row *rows, size_t n, void *arena, size_t *read)
{
    int rc;
    grove_err err = GROVE_OK;
    *read = 0;
    while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        ++*read;
        struct store_row *g =
            n == 1 ? rows
                   : store_row_of(rows, n, (const char *)sqlite3_column_text(st, STORE_COL_PK));
        if (!g)
            continue;
        struct state_unit *r = grove_state_units_push(&g->units);
        err = r ? grove_store_read_unit(st, arena, r)
                : grove_error_set(GROVE_ENOMEM, "out of memory");
        if (!err) {
            r->ats = sqlite3_column_int64(st, STORE_COL_ATS);
            r->ac = (uint32_t)sqlite3_column_int64(st, STORE_COL_AC);
        }
    }
    if (!err && rc != SQLITE_DONE)
        err = grove_store_sqlite_error(store, "load rows");
    sqlite3_reset(st);
    return err;
}

/* Loads a full chunk of one table by the span of its pks: one b-tree descent
 * where IN (...) makes one per row. New rows and keys that grow in order
 * leave the span nearly empty. *fits is false when the span holds more than
 * STORE_SPAN_MAX units, most of them other rows': the caller loads by IN. */
static grove_err store_load_span(struct grove_store *store, struct store_row *rows, size_t n,
                                 void *arena, bool *fits)
{
    sqlite3_stmt *st = store->load_span;
    sqlite3_bind_text(st, 1, rows[0].table, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, rows[0].pk, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, rows[n - 1].pk, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, STORE_SPAN_MAX + 1);
    size_t read;
    grove_err err = store_load_step(store, st, rows, n, arena, &read);
    *fits = read <= STORE_SPAN_MAX;
    for (size_t i = 0; !*fits && i < n; i++)
        rows[i].units.count = 0;
    return err;
}

/* Loads the stored units of n rows: a full chunk of one table by its span
 * (until a span overflows in this batch: *by_span) or in one IN statement,
 * else row by row. */
static grove_err store_load_rows(struct grove_store *store, struct store_row *rows, size_t n,
                                 bool *by_span, void *arena)
{
    bool one_table = n == STORE_CHUNK;
    for (size_t i = 1; one_table && i < n; i++)
        one_table = strcmp(rows[i].table, rows[0].table) == 0;
    size_t read;
    if (one_table && *by_span) {
        grove_err err = store_load_span(store, rows, n, arena, by_span);
        if (err || *by_span)
            return err;
    }
    if (one_table) {
        sqlite3_stmt *st = store->load_rows;
        sqlite3_bind_text(st, 1, rows[0].table, -1, SQLITE_STATIC);
        for (size_t i = 0; i < n; i++)
            sqlite3_bind_text(st, 2 + (int)i, rows[i].pk, -1, SQLITE_STATIC);
        return store_load_step(store, st, rows, n, arena, &read);
    }
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *st = store->load_row;
        sqlite3_bind_text(st, 1, rows[i].table, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, rows[i].pk, -1, SQLITE_STATIC);
        grove_err err = store_load_step(store, st, &rows[i], 1, arena, &read);
        if (err)
            return err;
    }
    return GROVE_OK;
}

static void store_bind_unit(sqlite3_stmt *st, int base, const struct store_dirty *d)
{
    const struct state_unit *r = d->unit;
    sqlite3_bind_text(st, base + 1, d->table, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, base + 2, d->pk, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, base + 3, r->field, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, base + 4, r->kind);
    sqlite3_bind_blob(st, base + 5, r->sub.ptr, (int)r->sub.len, SQLITE_STATIC);
    sqlite3_bind_int64(st, base + 6, r->hlc.ts);
    sqlite3_bind_int64(st, base + 7, r->hlc.c);
    sqlite3_bind_text(st, base + 8, r->hlc.node, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, base + 9, r->origin, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, base + 10, r->src, -1, SQLITE_STATIC);
    if (r->value.ptr)
        sqlite3_bind_blob(st, base + 11, r->value.ptr, (int)r->value.len, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, base + 11);
    sqlite3_bind_int64(st, base + 12, r->inc);
    sqlite3_bind_int64(st, base + 13, r->dec);
    sqlite3_bind_int64(st, base + 14, d->arrival.ts);
    sqlite3_bind_int64(st, base + 15, d->arrival.c);
}

/* The unit's entry in the arrival log. */
static void store_bind_arrival(sqlite3_stmt *st, int base, const struct store_dirty *d)
{
    const struct state_unit *r = d->unit;
    sqlite3_bind_int64(st, base + 1, d->arrival.ts);
    sqlite3_bind_int64(st, base + 2, d->arrival.c);
    sqlite3_bind_text(st, base + 3, d->table, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, base + 4, d->pk, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, base + 5, r->field, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, base + 6, r->kind);
    sqlite3_bind_blob(st, base + 7, r->sub.ptr, (int)r->sub.len, SQLITE_STATIC);
}

/* Writes n units and their arrival entries: STORE_CHUNK at a time in one
 * statement each, the rest one by one. */
static grove_err store_write_units(struct grove_store *store, const struct store_dirty *dirty,
                                   size_t n)
{
    for (size_t i = 0; i < n;) {
        bool chunk = n - i >= STORE_CHUNK;
        sqlite3_stmt *unit = chunk ? store->put_states : store->put_state;
        sqlite3_stmt *arrival = chunk ? store->put_arrivals : store->put_arrival;
        size_t take = chunk ? STORE_CHUNK : 1;
        for (size_t k = 0; k < take; k++) {
            store_bind_unit(unit, (int)k * 15, &dirty[i + k]);
            store_bind_arrival(arrival, (int)k * 7, &dirty[i + k]);
        }
        int rc = sqlite3_step(unit);
        sqlite3_reset(unit);
        if (rc == SQLITE_DONE) {
            rc = sqlite3_step(arrival);
            sqlite3_reset(arrival);
        }
        if (rc != SQLITE_DONE)
            return grove_store_sqlite_error(store, "write state");
        for (size_t k = 0; k < take; k++) {
            const struct store_dirty *d = &dirty[i + k];
            grove_store_recent_stage(&store->recent, d->table, d->pk, d->unit, &d->arrival);
        }
        i += take;
    }
    return GROVE_OK;
}

static int store_cmp_by_row(const void *a, const void *b, void *ctx)
{
    const struct grove_change *changes = ctx;
    const struct grove_change *x = &changes[*(const size_t *)a];
    const struct grove_change *y = &changes[*(const size_t *)b];
    int n = strcmp(x->table, y->table);
    if (!n)
        n = strcmp(x->pk, y->pk);
    if (!n) /* stable: keep the batch order within a row */
        n = (*(const size_t *)a > *(const size_t *)b) - (*(const size_t *)a < *(const size_t *)b);
    return n;
}

static grove_err store_validate(struct grove_store *store, const struct grove_change *changes,
                                size_t count, bool check_drift)
{
    for (size_t i = 0; i < count; i++) {
        const struct grove_change *c = &changes[i];
        grove_err err = grove_schema_check_change(store->schema, c);
        if (!err && (!c->node_id || !c->node_id[0] || strlen(c->node_id) > GROVE_NODE_ID_MAX))
            err =
                grove_error_set(GROVE_EINVAL, "node_id: must be 1 to %d bytes", GROVE_NODE_ID_MAX);
        if (!err && c->hlc.ts < 0)
            err = grove_error_set(GROVE_EINVAL, "hlc.ts: negative");
        if (!err && check_drift)
            err = grove_clock_check_drift(&store->clock, &c->hlc);
        if (err)
            return grove_error_prefix(err, "changes[%zu]: ", i);
    }
    return GROVE_OK;
}

/* Adds a row's merges and conflicts to its table's counts for the metrics
 * (store->table_counts, handed over once the apply commits). */
static void store_count_table(struct grove_store *store, const char *table, uint64_t merged,
                              uint64_t conflicts)
{
    size_t n = grove_schema_table_count(store->schema);
    for (size_t i = 0; i < n; i++)
        if (strcmp(grove_schema_table_name(store->schema, i), table) == 0) {
            store->table_counts[i].merged += merged;
            store->table_counts[i].conflicts += conflicts;
            return;
        }
}

/* Merges a chunk of rows: loads their units, merges their changes, writes
 * the changed units with fresh arrival stamps. */
static grove_err store_apply_chunk(struct grove_store *store, const struct grove_change *changes,
                                   struct store_row *rows, size_t n, const char *src, bool *by_span,
                                   void *arena, struct grove_apply_report *report)
{
    grove_err err = store_load_rows(store, rows, n, by_span, arena);
    size_t dirty = 0, rewritten = 0;
    for (size_t g = 0; !err && g < n; g++) {
        struct store_row *row = &rows[g];
        size_t stored = row->units.count; /* merges append new units after these */
        uint64_t merged = report->merged, conflicts = report->conflicts;
        for (size_t k = 0; !err && k < row->count; k++) {
            struct state_merge m = {0};
            err = grove_state_units_merge(&row->units, &changes[row->idx[k]], src, &m);
            report->merged += m.changed;
            report->conflicts += m.conflicts;
        }
        if (report->merged != merged || report->conflicts != conflicts)
            store_count_table(store, row->table, report->merged - merged,
                              report->conflicts - conflicts);
        for (size_t i = 0; !err && i < row->units.count; i++) {
            dirty += row->units.items[i].dirty;
            rewritten += i < stored && row->units.items[i].dirty;
        }
    }
    if (err || dirty == 0)
        return err;
    grove_store_sweep_owe(store, rewritten);
    if (dirty > store->dirty_cap) {
        struct store_dirty *grown = realloc(store->dirty, dirty * sizeof *grown);
        if (!grown)
            return grove_error_set(GROVE_ENOMEM, "out of memory");
        store->dirty = grown;
        store->dirty_cap = dirty;
    }
    size_t d = 0;
    for (size_t g = 0; g < n; g++)
        for (size_t i = 0; i < rows[g].units.count; i++) {
            if (!rows[g].units.items[i].dirty)
                continue;
            struct store_dirty *x = &store->dirty[d++];
            x->table = rows[g].table;
            x->pk = rows[g].pk;
            x->unit = &rows[g].units.items[i];
            grove_clock_now(&store->clock, &x->arrival);
            report->latest = x->arrival;
        }
    return store_write_units(store, store->dirty, dirty);
}

/* Applies the changes, sorted by row through idx, a chunk of rows at a time
 * (inside the caller's transaction). */
static grove_err store_apply_rows(struct grove_store *store, const struct grove_change *changes,
                                  const size_t *idx, size_t count, const char *src,
                                  struct grove_apply_report *report)
{
    grove_err err = GROVE_OK;
    bool by_span = true;
    for (size_t start = 0; start < count && !err;) {
        size_t n = 0;
        while (start < count && n < STORE_CHUNK) {
            struct store_row *g = &store->rows[n++];
            g->table = changes[idx[start]].table;
            g->pk = changes[idx[start]].pk;
            g->idx = idx + start;
            g->count = 1;
            g->units.count = 0;
            while (start + g->count < count &&
                   strcmp(changes[idx[start + g->count]].table, g->table) == 0 &&
                   strcmp(changes[idx[start + g->count]].pk, g->pk) == 0)
                g->count++;
            start += g->count;
        }
        /* The chunk's scratch strings go once it is written. */
        struct grove_pull_response *arena = NULL;
        if (grove_pull_response_new(&arena))
            return grove_error_set(GROVE_ENOMEM, "out of memory");
        err = store_apply_chunk(store, changes, store->rows, n, src, &by_span, arena, report);
        grove_msg_free(arena);
    }
    return err;
}

grove_err grove_store_merge_locked(struct grove_store *store, const struct grove_change *changes,
                                   size_t count, const char *src, bool remote,
                                   struct grove_apply_report *report)
{
    memset(report, 0, sizeof *report);
    if (count == 0)
        return GROVE_OK;
    size_t *idx = malloc(count * sizeof *idx);
    if (!idx)
        return grove_error_set(GROVE_ENOMEM, "out of memory for %zu changes", count);
    const struct grove_hlc *newest = &changes[0].hlc;
    for (size_t i = 0; i < count; i++) {
        idx[i] = i;
        if (grove_hlc_compare(&changes[i].hlc, newest) > 0)
            newest = &changes[i].hlc;
    }
    if (remote) /* arrival stamps then order after everything in the batch */
        grove_clock_observe(&store->clock, newest);
    grove_store_recent_expect(&store->recent, count);
    qsort_r(idx, count, sizeof *idx, store_cmp_by_row, (void *)changes);
    grove_err err = store_apply_rows(store, changes, idx, count, src, report);
    free(idx);
    return err;
}

grove_err grove_store_apply_locked(struct grove_store *store, const struct grove_change *changes,
                                   size_t count, const char *src, bool remote,
                                   const struct store_pulled *pulled, bool counter_ops,
                                   struct grove_apply_report *report)
{
    memset(report, 0, sizeof *report);
    size_t tables = grove_schema_table_count(store->schema);
    memset(store->table_counts, 0, tables * sizeof *store->table_counts);
    grove_err err = store_validate(store, changes, count, remote);
    if (err || (count == 0 && !pulled))
        return err;
    struct grove_hlc before = store->latest;
    struct grove_peer_cursors cursors;
    struct grove_change *folded = NULL;
    err = grove_store_exec(store, "BEGIN IMMEDIATE");
    if (!err && counter_ops)
        err = grove_store_fold_counter_ops(store, changes, &count, &folded);
    if (!err)
        err =
            grove_store_merge_locked(store, folded ? folded : changes, count, src, remote, report);
    if (!err && remote)
        err = grove_store_skip_echoes(store, src, &before, report);
    if (!err && pulled)
        err = grove_store_pulled_cursors(store, pulled, &before, report, &cursors);
    if (!err)
        err = grove_store_exec(store, "COMMIT");
    if (err) {
        sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
        memset(report, 0, sizeof *report);
    } else {
        if (pulled)
            *pulled->cursors = cursors;
        if (report->merged)
            grove_store_commit_notify(store, &report->latest);
        for (size_t i = 0; remote && i < tables; i++)
            grove_metrics_table_merged(store->metrics, i, store->table_counts[i].merged,
                                       store->table_counts[i].conflicts);
    }
    free(folded);
    return err;
}

grove_err grove_store_apply_pulled(struct grove_store *store, const struct grove_change *changes,
                                   size_t count, const char *peer,
                                   struct grove_peer_cursors *cursors,
                                   struct grove_apply_report *report)
{
    struct grove_apply_report local;
    struct store_pulled pulled = {peer, cursors};
    pthread_mutex_lock(&store->lock);
    grove_err err = grove_store_apply_locked(store, changes, count, cursors->peer_node, true,
                                             &pulled, false, report ? report : &local);
    pthread_mutex_unlock(&store->lock);
    return err;
}

/* A push's batch, its counter records read as totals or as operations. */
static grove_err store_apply_pushed(struct grove_store *store, const struct grove_change *changes,
                                    size_t count, const char *from_node, bool counter_ops,
                                    struct grove_apply_report *report)
{
    struct grove_apply_report local;
    pthread_mutex_lock(&store->lock);
    grove_err err = grove_store_apply_locked(store, changes, count, from_node ? from_node : "",
                                             true, NULL, counter_ops, report ? report : &local);
    pthread_mutex_unlock(&store->lock);
    return err;
}

grove_err grove_store_apply(struct grove_store *store, const struct grove_change *changes,
                            size_t count, const char *from_node, struct grove_apply_report *report)
{
    return store_apply_pushed(store, changes, count, from_node, false, report);
}

grove_err grove_store_apply_operations(struct grove_store *store,
                                       const struct grove_change *changes, size_t count,
                                       const char *from_node, struct grove_apply_report *report)
{
    return store_apply_pushed(store, changes, count, from_node, true, report);
}
