/* Local writes: each one change stamped with a fresh HLC of this node's
 * clock, merged like a remote one in its own transaction. */
#include <stdint.h>
#include <string.h>

#include "grove/json.h"
#include "grove/sys/error.h"
#include "store_internal.h"

static grove_err store_write_local(struct grove_store *store, struct grove_change *change)
{
    change->node_id = store->node_id;
    struct grove_apply_report report;
    grove_clock_now(&store->clock, &change->hlc);
    grove_err err = grove_store_apply_locked(store, change, 1, "", false, NULL, &report);
    return err;
}

static grove_err store_local(struct grove_store *store, struct grove_change *change)
{
    pthread_mutex_lock(&store->lock);
    grove_err err = store_write_local(store, change);
    pthread_mutex_unlock(&store->lock);
    return err;
}

grove_err grove_store_set(struct grove_store *store, const char *table, const char *pk,
                          const char *field, const char *value, size_t value_len)
{
    grove_err err = grove_json_validate(value, value_len);
    if (err)
        return grove_error_prefix(err, "value: ");
    struct grove_change c = {.table = table,
                             .pk = pk,
                             .field = field,
                             .crdt = GROVE_CRDT_LWW,
                             .value = {value, value_len}};
    return store_local(store, &c);
}

grove_err grove_store_increment(struct grove_store *store, const char *table, const char *pk,
                                const char *field, int64_t delta)
{
    struct grove_change c = {
        .table = table, .pk = pk, .field = field, .crdt = GROVE_CRDT_COUNTER, .has_counter = true};
    pthread_mutex_lock(&store->lock);
    sqlite3_stmt *st = store->own_counter;
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, pk, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, field, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 4, store->node_id, (int)strlen(store->node_id), SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        c.counter_inc = sqlite3_column_int64(st, 0);
        c.counter_dec = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    grove_err err = GROVE_OK;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        err = grove_store_sqlite_error(store, "read counter");
    else if (delta == INT64_MIN ||
             __builtin_add_overflow(delta >= 0 ? c.counter_inc : c.counter_dec,
                                    delta >= 0 ? delta : -delta,
                                    delta >= 0 ? &c.counter_inc : &c.counter_dec))
        err = grove_error_set(GROVE_EINVAL, "counter %s.%s: total would overflow", table, field);
    if (!err)
        err = store_write_local(store, &c);
    pthread_mutex_unlock(&store->lock);
    return err;
}

static grove_err store_set_op(struct grove_store *store, const char *table, const char *pk,
                              const char *field, enum grove_set_op op, const char *element,
                              size_t element_len)
{
    grove_err err = grove_json_validate(element, element_len);
    if (err)
        return grove_error_prefix(err, "element: ");
    struct grove_slice el = {element, element_len};
    struct grove_change c = {.table = table,
                             .pk = pk,
                             .field = field,
                             .crdt = GROVE_CRDT_SET,
                             .set_op = op,
                             .elements = &el,
                             .element_count = 1};
    return store_local(store, &c);
}

grove_err grove_store_set_add(struct grove_store *store, const char *table, const char *pk,
                              const char *field, const char *element, size_t element_len)
{
    return store_set_op(store, table, pk, field, GROVE_SET_ADD, element, element_len);
}

grove_err grove_store_set_remove(struct grove_store *store, const char *table, const char *pk,
                                 const char *field, const char *element, size_t element_len)
{
    return store_set_op(store, table, pk, field, GROVE_SET_REMOVE, element, element_len);
}

grove_err grove_store_delete(struct grove_store *store, const char *table, const char *pk)
{
    struct grove_change c = {.table = table,
                             .pk = pk,
                             .field = STATE_TOMBSTONE_FIELD,
                             .crdt = GROVE_CRDT_NONE,
                             .tombstone = true};
    return store_local(store, &c);
}
