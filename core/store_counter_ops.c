/* Counter records sent as operations (grove_store_apply_operations): Grove's
 * TypeScript client sends one record per increment, its counter_delta that
 * operation's own delta, and sends pending records again on later syncs.
 * Read as running totals (the wire's meaning, and Grove's Go server's), the
 * maximum would win and increments would be lost. Here each operation is
 * applied once, by its (origin, HLC), added to the origin's stored totals
 * and merged, and so relayed, in the state-based form. */
#include <stdlib.h>
#include <string.h>

#include "grove/sys/error.h"
#include "store_internal.h"

static int ops_cmp(const void *a, const void *b, void *ctx)
{
    const struct grove_change *changes = ctx;
    const struct grove_change *x = &changes[*(const size_t *)a];
    const struct grove_change *y = &changes[*(const size_t *)b];
    int n = strcmp(x->table, y->table);
    if (!n)
        n = strcmp(x->pk, y->pk);
    if (!n)
        n = strcmp(x->field, y->field);
    if (!n)
        n = strcmp(x->node_id, y->node_id);
    if (!n)
        n = grove_hlc_compare(&x->hlc, &y->hlc);
    return n;
}

static bool ops_same_counter(const struct grove_change *a, const struct grove_change *b)
{
    return strcmp(a->table, b->table) == 0 && strcmp(a->pk, b->pk) == 0 &&
           strcmp(a->field, b->field) == 0 && strcmp(a->node_id, b->node_id) == 0;
}

grove_err grove_store_counter_totals(struct grove_store *store, const struct grove_change *c,
                                     const char *origin, int64_t *inc, int64_t *dec)
{
    sqlite3_stmt *st = store->own_counter;
    sqlite3_bind_text(st, 1, c->table, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, c->pk, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, c->field, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 4, origin, (int)strlen(origin), SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *inc = *dec = 0;
    if (rc == SQLITE_ROW) {
        *inc = sqlite3_column_int64(st, 0);
        *dec = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? GROVE_OK
                                                 : grove_store_sqlite_error(store, "read counter");
}

/* Records the operation as applied; *fresh is false when it was already. */
static grove_err ops_mark_applied(struct grove_store *store, const struct grove_change *c,
                                  bool *fresh)
{
    sqlite3_stmt *st = store->counter_op_put;
    sqlite3_bind_text(st, 1, c->table, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, c->pk, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, c->field, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, c->node_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, c->hlc.ts);
    sqlite3_bind_int64(st, 6, c->hlc.c);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return grove_store_sqlite_error(store, "record counter operation");
    *fresh = sqlite3_changes(store->db) > 0;
    return GROVE_OK;
}

grove_err grove_store_fold_counter_ops(struct grove_store *store, const struct grove_change *changes,
                                       size_t *count, struct grove_change **folded)
{
    *folded = NULL;
    size_t n = *count, ops = 0;
    for (size_t i = 0; i < n; i++)
        ops += changes[i].crdt == GROVE_CRDT_COUNTER && !changes[i].tombstone;
    if (ops == 0)
        return GROVE_OK;
    struct grove_change *out = malloc(n * sizeof *out);
    size_t *idx = malloc(ops * sizeof *idx);
    if (!out || !idx) {
        free(out);
        free(idx);
        return grove_error_set(GROVE_ENOMEM, "out of memory for %zu changes", n);
    }
    size_t kept = 0, k = 0;
    for (size_t i = 0; i < n; i++) {
        if (changes[i].crdt == GROVE_CRDT_COUNTER && !changes[i].tombstone)
            idx[k++] = i;
        else
            out[kept++] = changes[i];
    }
    /* By counter and origin, then HLC: each origin's stored totals are read
     * once, and a record sent twice in one batch sits next to its twin. */
    qsort_r(idx, ops, sizeof *idx, ops_cmp, (void *)changes);
    grove_err err = GROVE_OK;
    int64_t inc = 0, dec = 0;
    for (size_t j = 0; !err && j < ops; j++) {
        const struct grove_change *c = &changes[idx[j]];
        if (j == 0 || !ops_same_counter(c, &changes[idx[j - 1]]))
            err = grove_store_counter_totals(store, c, c->node_id, &inc, &dec);
        bool fresh = false;
        if (!err)
            err = ops_mark_applied(store, c, &fresh);
        if (err || !fresh)
            continue;
        if (__builtin_add_overflow(inc, c->counter_inc, &inc) ||
            __builtin_add_overflow(dec, c->counter_dec, &dec)) {
            err = grove_error_set(GROVE_EINVAL, "changes[%zu]: counter %s.%s: total would overflow",
                                  idx[j], c->table, c->field);
            break;
        }
        out[kept] = *c;
        out[kept].counter_inc = inc;
        out[kept].counter_dec = dec;
        kept++;
    }
    free(idx);
    if (err) {
        free(out);
        return err;
    }
    *count = kept;
    *folded = out;
    return GROVE_OK;
}
