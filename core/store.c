/* The SQLite store (DESIGN §2, §3). State is compacted by construction: one
 * row per (table, pk, field, kind, sub) where sub is the origin node for
 * counters and the element for sets. Each state row carries the arrival stamp
 * of its last change, and pulls read by arrival. Resolved rows are kept in
 * `rows`, rebuilt inside the write transaction, so reads never merge. */
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "crdt.h"
#include "grove/json.h"
#include "grove/store.h"

enum {
    STORE_CHUNK = 64,     /* rows or units per multi-row statement */
    STORE_SPAN_MAX = 256, /* units a chunk's pk span may hold and still be read whole */
    STORE_ECHO_SCAN = 16, /* rows a changes page may scan, per change it may return */
};

/* One row of a batch being applied: its changes and its state units. */
struct store_group {
    const char *table, *pk;
    const size_t *idx; /* its changes, as indices into the batch */
    size_t count;
    struct state_rows units;
    bool changed;
};

/* A unit to write, with the arrival stamp it gets. */
struct store_dirty {
    const char *table, *pk;
    const struct state_row *unit;
    struct grove_hlc arrival;
};

/* A resolved row to write. */
struct store_doc {
    const char *table, *pk;
    size_t offset, len; /* in grove_store.doc */
};

struct grove_store {
    pthread_mutex_t lock; /* one connection, one writer: every call holds it */
    pthread_cond_t committed;
    uint64_t wake_generation;
    sqlite3 *db;
    struct clock clock;
    const struct grove_schema *schema;
    char node_id[GROVE_NODE_ID_MAX + 1];
    struct grove_hlc latest; /* newest arrival stamp */
    sqlite3_stmt *load_row, *put_state, *put_row, *del_row, *get_row, *list_rows, *own_counter;
    sqlite3_stmt *cursor_get, *cursor_put, *cursor_skip;
    /* The same for STORE_CHUNK rows or units at once: SQLite's per-statement
     * cost is about half of a small write, so big batches go in chunks. */
    sqlite3_stmt *load_rows, *put_states, *put_rows;
    sqlite3_stmt *load_span;
    /* Scratch reused by apply, under the lock. */
    struct store_group groups[STORE_CHUNK];
    struct store_dirty *dirty;
    size_t dirty_cap;
    struct store_doc docs[STORE_CHUNK];
    struct grove_buf doc;
};

static const char store_schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS state("
    " tbl TEXT NOT NULL, pk TEXT NOT NULL, field TEXT NOT NULL, kind INTEGER NOT NULL,"
    " sub BLOB NOT NULL, ts INTEGER NOT NULL, c INTEGER NOT NULL, node TEXT NOT NULL,"
    " origin TEXT NOT NULL, src TEXT NOT NULL, value BLOB, inc INTEGER NOT NULL,"
    " dec INTEGER NOT NULL, ats INTEGER NOT NULL, ac INTEGER NOT NULL,"
    " PRIMARY KEY(tbl, pk, field, kind, sub)) WITHOUT ROWID;"
    "CREATE UNIQUE INDEX IF NOT EXISTS state_arrival ON state(ats, ac);"
    "CREATE TABLE IF NOT EXISTS rows(tbl TEXT NOT NULL, pk TEXT NOT NULL, doc TEXT NOT NULL,"
    " PRIMARY KEY(tbl, pk)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS cursors(peer TEXT PRIMARY KEY, pull_ts INTEGER NOT NULL,"
    " pull_c INTEGER NOT NULL, pull_node TEXT NOT NULL, push_ts INTEGER NOT NULL,"
    " push_c INTEGER NOT NULL, peer_node TEXT NOT NULL, catching_up INTEGER NOT NULL);";

static grove_err store_sqlite_error(struct grove_store *store, const char *what)
{
    return grove_error_set(GROVE_ESTORE, "store: %s: %s", what, sqlite3_errmsg(store->db));
}

static grove_err store_exec(struct grove_store *store, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(store->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        grove_err err = grove_error_set(GROVE_ESTORE, "store: %s", msg ? msg : "error");
        sqlite3_free(msg);
        return err;
    }
    return GROVE_OK;
}

static grove_err store_prepare(struct grove_store *store, sqlite3_stmt **out, const char *sql)
{
    if (sqlite3_prepare_v3(store->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL) != SQLITE_OK)
        return store_sqlite_error(store, "prepare");
    return GROVE_OK;
}

/* Columns of a state unit as store_read_unit reads them. */
#define STORE_UNIT_COLUMNS "tbl, pk, field, kind, sub, ts, c, node, origin, src, value, inc, dec"

/* "<head>" then `rows` copies of "(?,...)" with `params` placeholders each. */
static grove_err store_prepare_rows(struct grove_store *store, sqlite3_stmt **out, const char *head,
                                    const char *tail, int rows, int params)
{
    struct grove_buf sql = {0};
    grove_err err = grove_buf_append(&sql, head, strlen(head));
    for (int r = 0; !err && r < rows; r++) {
        err = grove_buf_append(&sql, r ? ",(" : "(", r ? 2 : 1);
        for (int k = 0; !err && k < params; k++)
            err = grove_buf_append(&sql, k ? ",?" : "?", k ? 2 : 1);
        if (!err)
            err = grove_buf_append(&sql, ")", 1);
    }
    if (!err)
        err = grove_buf_append(&sql, tail, strlen(tail));
    if (!err)
        err = store_prepare(store, out, sql.data);
    grove_buf_free(&sql);
    return err;
}

static grove_err store_prepare_chunked(struct grove_store *store)
{
    /* pk IN (...) under one table uses the primary key; a row-value IN does not. */
    grove_err err = store_prepare_rows(
        store, &store->load_rows,
        "SELECT " STORE_UNIT_COLUMNS " FROM state WHERE tbl = ? AND pk IN ", "", 1, STORE_CHUNK);
    if (!err)
        err = store_prepare_rows(store, &store->put_states,
                                 "INSERT OR REPLACE INTO state(tbl, pk, field, kind, sub, ts, c,"
                                 " node, origin, src, value, inc, dec, ats, ac) VALUES",
                                 "", STORE_CHUNK, 15);
    if (!err)
        err = store_prepare_rows(store, &store->put_rows,
                                 "INSERT OR REPLACE INTO rows(tbl, pk, doc) VALUES", "",
                                 STORE_CHUNK, 3);
    return err;
}

static grove_err store_prepare_all(struct grove_store *store)
{
    struct {
        sqlite3_stmt **stmt;
        const char *sql;
    } all[] = {
        {&store->load_row, "SELECT " STORE_UNIT_COLUMNS " FROM state WHERE tbl = ?1 AND pk = ?2"},
        {&store->load_span, "SELECT " STORE_UNIT_COLUMNS " FROM state WHERE tbl = ?1 AND pk >= ?2"
                            " AND pk <= ?3 LIMIT ?4"},
        {&store->put_state,
         "INSERT OR REPLACE INTO state(tbl, pk, field, kind, sub, ts, c, node, origin, src,"
         " value, inc, dec, ats, ac) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15)"},
        {&store->put_row, "INSERT OR REPLACE INTO rows(tbl, pk, doc) VALUES(?1, ?2, ?3)"},
        {&store->del_row, "DELETE FROM rows WHERE tbl = ?1 AND pk = ?2"},
        {&store->get_row, "SELECT doc FROM rows WHERE tbl = ?1 AND pk = ?2"},
        {&store->list_rows,
         "SELECT pk, doc FROM rows WHERE tbl = ?1 AND pk > ?2 ORDER BY pk LIMIT ?3"},
        {&store->own_counter, "SELECT inc, dec FROM state WHERE tbl = ?1 AND pk = ?2 AND"
                              " field = ?3 AND kind = 2 AND sub = ?4"},
        {&store->cursor_get, "SELECT pull_ts, pull_c, pull_node, push_ts, push_c, peer_node,"
                             " catching_up FROM cursors WHERE peer = ?1"},
        {&store->cursor_put,
         "INSERT OR REPLACE INTO cursors(peer, pull_ts, pull_c, pull_node,"
         " push_ts, push_c, peer_node, catching_up) VALUES(?1,?2,?3,?4,?5,?6,?7,?8)"},
        {&store->cursor_skip, "UPDATE cursors SET push_ts = ?1, push_c = ?2 WHERE peer_node = ?3"
                              " AND push_ts = ?4 AND push_c = ?5"},
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        grove_err err = store_prepare(store, all[i].stmt, all[i].sql);
        if (err)
            return err;
    }
    return store_prepare_chunked(store);
}

/* Binds the created-by node id, or refuses a store made for another node. */
static grove_err store_claim_node(struct grove_store *store, const char *path)
{
    sqlite3_stmt *st = NULL;
    grove_err err = store_prepare(store, &st, "SELECT value FROM meta WHERE key = 'node_id'");
    if (err)
        return err;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *owner = (const char *)sqlite3_column_text(st, 0);
        if (strcmp(owner, store->node_id) != 0)
            err = grove_error_set(GROVE_EINVAL,
                                  "store %s belongs to node \"%s\"; refusing to open it as \"%s\"",
                                  path, owner, store->node_id);
    } else if (rc == SQLITE_DONE) {
        sqlite3_finalize(st);
        st = NULL;
        err = store_prepare(store, &st, "INSERT INTO meta(key, value) VALUES('node_id', ?1)");
        if (!err) {
            sqlite3_bind_text(st, 1, store->node_id, -1, SQLITE_STATIC);
            if (sqlite3_step(st) != SQLITE_DONE)
                err = store_sqlite_error(store, "record node id");
        }
    } else {
        err = store_sqlite_error(store, "read node id");
    }
    sqlite3_finalize(st);
    return err;
}

/* The newest arrival stamp: the clock restarts after it. */
static grove_err store_restore_clock(struct grove_store *store)
{
    sqlite3_stmt *st = NULL;
    grove_err err =
        store_prepare(store, &st, "SELECT ats, ac FROM state ORDER BY ats DESC, ac DESC LIMIT 1");
    if (err)
        return err;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        store->latest.ts = sqlite3_column_int64(st, 0);
        store->latest.c = (uint32_t)sqlite3_column_int64(st, 1);
        memcpy(store->latest.node, store->node_id, sizeof store->latest.node);
        clock_restore(&store->clock, store->latest.ts, store->latest.c);
    } else if (rc != SQLITE_DONE) {
        err = store_sqlite_error(store, "read newest arrival");
    }
    sqlite3_finalize(st);
    return err;
}

/* Before SQLite's first use in the process: without memory statistics its
 * allocator takes no global mutex (a few percent of a bulk apply). */
static void store_configure_sqlite(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

grove_err grove_store_open(struct grove_store **out, const struct grove_store_options *opts)
{
    static pthread_once_t configured = PTHREAD_ONCE_INIT;
    pthread_once(&configured, store_configure_sqlite);
    *out = NULL;
    if (!opts->path || !opts->node_id || !opts->node_id[0] || !opts->schema)
        return grove_error_set(GROVE_EINVAL, "store: path, node_id and schema are required");
    if (strlen(opts->node_id) > GROVE_NODE_ID_MAX)
        return grove_error_set(GROVE_EINVAL, "node id longer than %d bytes", GROVE_NODE_ID_MAX);
    struct grove_store *store = calloc(1, sizeof *store);
    if (!store)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    pthread_mutex_init(&store->lock, NULL);
    pthread_cond_init(&store->committed, NULL);
    strcpy(store->node_id, opts->node_id);
    store->schema = opts->schema;
    clock_init(&store->clock, opts->node_id, opts->max_drift_ns);
    grove_err err;
    if (sqlite3_open_v2(opts->path, &store->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        err = grove_error_set(GROVE_ESTORE, "cannot open store %s: %s", opts->path,
                              store->db ? sqlite3_errmsg(store->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(store->db, 5000);
    /* WAL with FULL sync: an acknowledged write survives a crash or power cut.
     * 8 KiB pages (for a new file) make a change's b-tree inserts about a
     * fifth cheaper than 4 KiB ones. A checkpoint copies each page once
     * however often the WAL rewrote it, so the rarer they are (here every
     * 128 MiB of WAL) the less a bulk sync copies, at the cost of disk. */
    err = store_exec(store, "PRAGMA page_size=8192; PRAGMA journal_mode=WAL;"
                            "PRAGMA synchronous=FULL; PRAGMA cache_size=-65536;"
                            "PRAGMA temp_store=MEMORY; PRAGMA wal_autocheckpoint=16384;");
    if (!err)
        err = store_exec(store, store_schema_sql);
    if (!err)
        err = store_claim_node(store, opts->path);
    if (!err)
        err = store_restore_clock(store);
    if (!err)
        err = store_prepare_all(store);
    if (err) {
        grove_error_prefix(err, "opening %s: ", opts->path);
        goto fail;
    }
    *out = store;
    return GROVE_OK;
fail:
    grove_store_close(store);
    return err;
}

void grove_store_close(struct grove_store *store)
{
    if (!store)
        return;
    pthread_mutex_lock(&store->lock);
    sqlite3_stmt *all[] = {store->load_row,    store->put_state,  store->put_row,
                           store->del_row,     store->get_row,    store->list_rows,
                           store->own_counter, store->cursor_get, store->cursor_put,
                           store->cursor_skip, store->load_rows,  store->put_states,
                           store->put_rows,    store->load_span};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        sqlite3_finalize(all[i]);
    sqlite3_close(store->db);
    pthread_mutex_unlock(&store->lock);
    for (size_t i = 0; i < STORE_CHUNK; i++)
        state_rows_free(&store->groups[i].units);
    free(store->dirty);
    grove_buf_free(&store->doc);
    clock_destroy(&store->clock);
    pthread_cond_destroy(&store->committed);
    pthread_mutex_destroy(&store->lock);
    free(store);
}

const char *grove_store_node_id(const struct grove_store *store)
{
    return store->node_id;
}

const struct grove_schema *grove_store_schema(const struct grove_store *store)
{
    return store->schema;
}

grove_err grove_store_now(struct grove_store *store, struct grove_hlc *out)
{
    clock_now(&store->clock, out);
    return GROVE_OK;
}

/* ---- apply ---------------------------------------------------------------- */

/* Copies a node id column into an HLC's node (hot: every change read). */
static void store_copy_node(char out[GROVE_NODE_ID_MAX + 1], sqlite3_stmt *st, int col)
{
    const unsigned char *text = sqlite3_column_text(st, col);
    size_t n = (size_t)sqlite3_column_bytes(st, col);
    if (n > GROVE_NODE_ID_MAX)
        n = GROVE_NODE_ID_MAX;
    if (n)
        memcpy(out, text, n);
    out[n] = '\0';
}

/* Reads one unit (columns STORE_UNIT_COLUMNS) into r, copying its strings
 * into the arena. */
static grove_err store_read_unit(sqlite3_stmt *st, void *arena, struct state_row *r)
{
    const char *field = (const char *)sqlite3_column_text(st, 2);
    r->field = grove_msg_strndup(arena, field, strlen(field));
    r->kind = sqlite3_column_int(st, 3);
    r->sub.len = (size_t)sqlite3_column_bytes(st, 4);
    r->sub.ptr = grove_msg_strndup(arena, sqlite3_column_blob(st, 4), r->sub.len);
    r->hlc.ts = sqlite3_column_int64(st, 5);
    r->hlc.c = (uint32_t)sqlite3_column_int64(st, 6);
    store_copy_node(r->hlc.node, st, 7);
    const char *origin = (const char *)sqlite3_column_text(st, 8);
    r->origin = grove_msg_strndup(arena, origin, strlen(origin));
    const char *src = (const char *)sqlite3_column_text(st, 9);
    r->src = grove_msg_strndup(arena, src, strlen(src));
    if (sqlite3_column_type(st, 10) != SQLITE_NULL) {
        r->value.len = (size_t)sqlite3_column_bytes(st, 10);
        r->value.ptr = grove_msg_strndup(arena, sqlite3_column_blob(st, 10), r->value.len);
    }
    r->inc = sqlite3_column_int64(st, 11);
    r->dec = sqlite3_column_int64(st, 12);
    if (!r->field || !r->sub.ptr || !r->origin || !r->src || (r->value.len && !r->value.ptr))
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    return GROVE_OK;
}

/* The group of a loaded unit: groups are sorted by pk within one table. */
static struct store_group *store_group_of(struct store_group *groups, size_t n, const char *pk)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(groups[mid].pk, pk);
        if (c == 0)
            return &groups[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Steps a loading statement, adding each unit to its group; units of rows
 * outside the chunk (a span's neighbours) are passed over. *read counts the
 * units stepped. */
static grove_err store_load_step(struct grove_store *store, sqlite3_stmt *st,
                                 struct store_group *groups, size_t n, void *arena, size_t *read)
{
    int rc;
    grove_err err = GROVE_OK;
    *read = 0;
    while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        ++*read;
        struct store_group *g =
            n == 1 ? groups : store_group_of(groups, n, (const char *)sqlite3_column_text(st, 1));
        if (!g)
            continue;
        struct state_row *r = state_rows_push(&g->units);
        err = r ? store_read_unit(st, arena, r) : grove_error_set(GROVE_ENOMEM, "out of memory");
    }
    if (!err && rc != SQLITE_DONE)
        err = store_sqlite_error(store, "load rows");
    sqlite3_reset(st);
    return err;
}

/* Loads a full chunk of one table by the span of its pks: one b-tree descent
 * where IN (...) makes one per row. New rows and keys that grow in order
 * leave the span nearly empty. *fits is false when the span holds more than
 * STORE_SPAN_MAX units, most of them other rows': the caller loads by IN. */
static grove_err store_load_span(struct grove_store *store, struct store_group *groups, size_t n,
                                 void *arena, bool *fits)
{
    sqlite3_stmt *st = store->load_span;
    sqlite3_bind_text(st, 1, groups[0].table, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, groups[0].pk, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, groups[n - 1].pk, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, STORE_SPAN_MAX + 1);
    size_t read;
    grove_err err = store_load_step(store, st, groups, n, arena, &read);
    *fits = read <= STORE_SPAN_MAX;
    for (size_t i = 0; !*fits && i < n; i++)
        groups[i].units.count = 0;
    return err;
}

/* Loads the stored units of n rows: a full chunk of one table by its span
 * (until a span overflows in this batch: *by_span) or in one IN statement,
 * else row by row. */
static grove_err store_load_groups(struct grove_store *store, struct store_group *groups, size_t n,
                                   bool *by_span, void *arena)
{
    bool one_table = n == STORE_CHUNK;
    for (size_t i = 1; one_table && i < n; i++)
        one_table = strcmp(groups[i].table, groups[0].table) == 0;
    size_t read;
    if (one_table && *by_span) {
        grove_err err = store_load_span(store, groups, n, arena, by_span);
        if (err || *by_span)
            return err;
    }
    if (one_table) {
        sqlite3_stmt *st = store->load_rows;
        sqlite3_bind_text(st, 1, groups[0].table, -1, SQLITE_STATIC);
        for (size_t i = 0; i < n; i++)
            sqlite3_bind_text(st, 2 + (int)i, groups[i].pk, -1, SQLITE_STATIC);
        return store_load_step(store, st, groups, n, arena, &read);
    }
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *st = store->load_row;
        sqlite3_bind_text(st, 1, groups[i].table, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, groups[i].pk, -1, SQLITE_STATIC);
        grove_err err = store_load_step(store, st, &groups[i], 1, arena, &read);
        if (err)
            return err;
    }
    return GROVE_OK;
}

typedef void (*store_bind_fn)(struct grove_store *store, sqlite3_stmt *st, int base,
                              const void *item);

/* Writes n items: STORE_CHUNK at a time with `many`, the rest with `one`. */
static grove_err store_write_all(struct grove_store *store, sqlite3_stmt *many, sqlite3_stmt *one,
                                 int params, const void *items, size_t stride, size_t n,
                                 store_bind_fn bind, const char *what)
{
    const char *item = items;
    for (size_t i = 0; i < n;) {
        bool chunk = n - i >= STORE_CHUNK;
        sqlite3_stmt *st = chunk ? many : one;
        size_t take = chunk ? STORE_CHUNK : 1;
        for (size_t k = 0; k < take; k++)
            bind(store, st, (int)k * params, item + (i + k) * stride);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return store_sqlite_error(store, what);
        i += take;
    }
    return GROVE_OK;
}

static void store_bind_unit(struct grove_store *store, sqlite3_stmt *st, int base, const void *item)
{
    (void)store;
    const struct store_dirty *d = item;
    const struct state_row *r = d->unit;
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

static void store_bind_doc(struct grove_store *store, sqlite3_stmt *st, int base, const void *item)
{
    const struct store_doc *d = item;
    sqlite3_bind_text(st, base + 1, d->table, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, base + 2, d->pk, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, base + 3, store->doc.data + d->offset, (int)d->len, SQLITE_STATIC);
}

static grove_err store_delete_doc(struct grove_store *store, const char *table, const char *pk)
{
    sqlite3_stmt *st = store->del_row;
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, pk, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? GROVE_OK : store_sqlite_error(store, "delete row");
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
            err = clock_check_drift(&store->clock, &c->hlc);
        if (err)
            return grove_error_prefix(err, "changes[%zu]: ", i);
    }
    return GROVE_OK;
}

/* Merges a chunk of rows: loads their units, merges their changes, writes
 * the changed units with fresh arrival stamps, then their resolved rows. */
static grove_err store_apply_chunk(struct grove_store *store, const struct grove_change *changes,
                                   struct store_group *groups, size_t n, const char *src,
                                   bool *by_span, void *arena, struct grove_apply_report *report)
{
    grove_err err = store_load_groups(store, groups, n, by_span, arena);
    size_t dirty = 0;
    for (size_t g = 0; !err && g < n; g++) {
        struct store_group *group = &groups[g];
        for (size_t k = 0; !err && k < group->count; k++) {
            struct state_merge m = {0};
            err = state_rows_merge(&group->units, &changes[group->idx[k]], src, &m);
            report->merged += m.changed;
            report->conflicts += m.conflicts;
            group->changed |= m.changed;
        }
        for (size_t i = 0; !err && i < group->units.count; i++)
            dirty += group->units.items[i].dirty;
    }
    if (err || dirty == 0)
        return err;
    if (dirty > store->dirty_cap) {
        struct store_dirty *grown = realloc(store->dirty, dirty * sizeof *grown);
        if (!grown)
            return grove_error_set(GROVE_ENOMEM, "out of memory");
        store->dirty = grown;
        store->dirty_cap = dirty;
    }
    size_t d = 0;
    for (size_t g = 0; g < n; g++)
        for (size_t i = 0; i < groups[g].units.count; i++) {
            if (!groups[g].units.items[i].dirty)
                continue;
            struct store_dirty *x = &store->dirty[d++];
            x->table = groups[g].table;
            x->pk = groups[g].pk;
            x->unit = &groups[g].units.items[i];
            clock_now(&store->clock, &x->arrival);
            report->latest = x->arrival;
        }
    err = store_write_all(store, store->put_states, store->put_state, 15, store->dirty,
                          sizeof *store->dirty, dirty, store_bind_unit, "write state");
    /* Resolving sorts the units, so it comes after they were written. */
    size_t docs = 0;
    store->doc.len = 0;
    for (size_t g = 0; !err && g < n; g++) {
        if (!groups[g].changed)
            continue;
        size_t offset = store->doc.len;
        bool visible;
        err = state_rows_resolve(&groups[g].units, &store->doc, &visible);
        if (!err && visible)
            store->docs[docs++] =
                (struct store_doc){groups[g].table, groups[g].pk, offset, store->doc.len - offset};
        else if (!err)
            err = store_delete_doc(store, groups[g].table, groups[g].pk);
    }
    if (!err)
        err = store_write_all(store, store->put_rows, store->put_row, 3, store->docs,
                              sizeof *store->docs, docs, store_bind_doc, "write rows");
    return err;
}

static grove_err store_write_cursors(struct grove_store *store, const char *peer,
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
    return rc == SQLITE_DONE ? GROVE_OK : store_sqlite_error(store, "write cursors");
}

/* A batch from node `src` (pushed to us or pulled) is an echo for every peer
 * known as src. Such a peer's push cursor that was at `before`, the newest
 * arrival stamp before the batch, had nothing left to send: it moves past the
 * batch instead of reading it back only to filter it out. */
static grove_err store_skip_echoes(struct grove_store *store, const char *src,
                                   const struct grove_hlc *before,
                                   const struct grove_apply_report *report)
{
    if (!src[0] || !report->merged)
        return GROVE_OK;
    sqlite3_stmt *st = store->cursor_skip;
    sqlite3_bind_int64(st, 1, report->latest.ts);
    sqlite3_bind_int64(st, 2, report->latest.c);
    sqlite3_bind_text(st, 3, src, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, before->ts);
    sqlite3_bind_int64(st, 5, before->c);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? GROVE_OK : store_sqlite_error(store, "move push cursors");
}

/* A pulled page's peer and the cursors to store with it. */
struct store_pulled {
    const char *peer;
    struct grove_peer_cursors *cursors;
};

/* Stores the pulled page's cursors in its transaction; its push cursor moves
 * past the page as in store_skip_echoes, also while the peer's node id is
 * not known yet. */
static grove_err store_pulled_cursors(struct grove_store *store, const struct store_pulled *pulled,
                                      const struct grove_hlc *before,
                                      const struct grove_apply_report *report,
                                      struct grove_peer_cursors *out)
{
    *out = *pulled->cursors;
    if (report->merged && out->push.ts == before->ts && out->push.c == before->c)
        out->push = report->latest;
    return store_write_cursors(store, pulled->peer, out);
}

static void store_commit_notify(struct grove_store *store, const struct grove_hlc *latest)
{
    if (grove_hlc_compare(latest, &store->latest) > 0)
        store->latest = *latest;
    pthread_cond_broadcast(&store->committed);
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
            struct store_group *g = &store->groups[n++];
            g->table = changes[idx[start]].table;
            g->pk = changes[idx[start]].pk;
            g->idx = idx + start;
            g->count = 1;
            g->units.count = 0;
            g->changed = false;
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
        err = store_apply_chunk(store, changes, store->groups, n, src, &by_span, arena, report);
        grove_msg_free(arena);
    }
    return err;
}

/* Applies under the lock in one transaction, with a pulled page's cursors
 * when `pulled` is set. */
static grove_err store_apply_locked(struct grove_store *store, const struct grove_change *changes,
                                    size_t count, const char *src, bool remote,
                                    const struct store_pulled *pulled,
                                    struct grove_apply_report *report)
{
    memset(report, 0, sizeof *report);
    grove_err err = store_validate(store, changes, count, remote);
    if (err || (count == 0 && !pulled))
        return err;
    size_t *idx = malloc((count ? count : 1) * sizeof *idx);
    if (!idx)
        return grove_error_set(GROVE_ENOMEM, "out of memory for %zu changes", count);
    const struct grove_hlc *newest = count ? &changes[0].hlc : NULL;
    for (size_t i = 0; i < count; i++) {
        idx[i] = i;
        if (grove_hlc_compare(&changes[i].hlc, newest) > 0)
            newest = &changes[i].hlc;
    }
    if (remote && newest) /* arrival stamps then order after everything in the batch */
        clock_observe(&store->clock, newest);
    qsort_r(idx, count, sizeof *idx, store_cmp_by_row, (void *)changes);
    struct grove_hlc before = store->latest;
    struct grove_peer_cursors cursors;
    err = store_exec(store, "BEGIN IMMEDIATE");
    if (!err)
        err = store_apply_rows(store, changes, idx, count, src, report);
    if (!err && remote)
        err = store_skip_echoes(store, src, &before, report);
    if (!err && pulled)
        err = store_pulled_cursors(store, pulled, &before, report, &cursors);
    if (!err)
        err = store_exec(store, "COMMIT");
    if (err) {
        sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
        memset(report, 0, sizeof *report);
    } else {
        if (pulled)
            *pulled->cursors = cursors;
        if (report->merged)
            store_commit_notify(store, &report->latest);
    }
    free(idx);
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
    grove_err err = store_apply_locked(store, changes, count, cursors->peer_node, true, &pulled,
                                       report ? report : &local);
    pthread_mutex_unlock(&store->lock);
    return err;
}

grove_err grove_store_apply(struct grove_store *store, const struct grove_change *changes,
                            size_t count, const char *from_node, struct grove_apply_report *report)
{
    struct grove_apply_report local;
    pthread_mutex_lock(&store->lock);
    grove_err err = store_apply_locked(store, changes, count, from_node ? from_node : "", true,
                                       NULL, report ? report : &local);
    pthread_mutex_unlock(&store->lock);
    return err;
}

/* ---- local writes ------------------------------------------------------- */

static grove_err store_write_local(struct grove_store *store, struct grove_change *change)
{
    change->node_id = store->node_id;
    struct grove_apply_report report;
    clock_now(&store->clock, &change->hlc);
    grove_err err = store_apply_locked(store, change, 1, "", false, NULL, &report);
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
        err = store_sqlite_error(store, "read counter");
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

/* ---- reads ------------------------------------------------------------------ */

static grove_err store_check_table(struct grove_store *store, const char *table)
{
    if (!grove_schema_has_table(store->schema, table))
        return grove_error_set(GROVE_EFORBIDDEN, "table \"%s\" is not declared", table);
    return GROVE_OK;
}

grove_err grove_store_get(struct grove_store *store, const char *table, const char *pk, char **out)
{
    *out = NULL;
    grove_err err = store_check_table(store, table);
    if (err)
        return err;
    pthread_mutex_lock(&store->lock);
    sqlite3_stmt *st = store->get_row;
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, pk, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = strdup((const char *)sqlite3_column_text(st, 0));
        err = *out ? GROVE_OK : grove_error_set(GROVE_ENOMEM, "out of memory");
    } else if (rc == SQLITE_DONE) {
        err = grove_error_set(GROVE_ENOTFOUND, "no row %s/%s", table, pk);
    } else {
        err = store_sqlite_error(store, "read row");
    }
    sqlite3_reset(st);
    pthread_mutex_unlock(&store->lock);
    return err;
}

grove_err grove_store_list(struct grove_store *store, const char *table, const char *after_pk,
                           size_t limit, char **out, bool *more)
{
    *out = NULL;
    *more = false;
    grove_err err = store_check_table(store, table);
    if (err)
        return err;
    if (limit == 0)
        limit = 100;
    struct grove_buf buf = {0};
    err = grove_buf_append(&buf, "[", 1);
    pthread_mutex_lock(&store->lock);
    sqlite3_stmt *st = store->list_rows;
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, after_pk ? after_pk : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)limit + 1);
    size_t n = 0;
    int rc;
    while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == limit) {
            *more = true;
            break;
        }
        const char *pk = (const char *)sqlite3_column_text(st, 0);
        const char *doc = (const char *)sqlite3_column_text(st, 1);
        if (n++)
            err = grove_buf_append(&buf, ",", 1);
        if (!err)
            err = grove_buf_append(&buf, "{\"pk\":", 6);
        if (!err)
            err = grove_json_encode_string(pk, strlen(pk), &buf);
        if (!err)
            err = grove_buf_append(&buf, ",\"fields\":", 10);
        if (!err)
            err = grove_buf_append(&buf, doc, strlen(doc));
        if (!err)
            err = grove_buf_append(&buf, "}", 1);
    }
    if (!err && rc != SQLITE_ROW && rc != SQLITE_DONE)
        err = store_sqlite_error(store, "list rows");
    sqlite3_reset(st);
    pthread_mutex_unlock(&store->lock);
    if (!err)
        err = grove_buf_append(&buf, "]", 1);
    if (err) {
        grove_buf_free(&buf);
        return err;
    }
    *out = buf.data;
    return GROVE_OK;
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
    uint64_t generation = store->wake_generation;
    while ((store->latest.ts < after->ts ||
            (store->latest.ts == after->ts && store->latest.c <= after->c))) {
        if (store->wake_generation != generation) {
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
    store->wake_generation++;
    pthread_cond_broadcast(&store->committed);
    pthread_mutex_unlock(&store->lock);
}

/* ---- cursors ------------------------------------------------------------------ */

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
        err = store_sqlite_error(store, "read cursors");
    }
    sqlite3_reset(st);
    pthread_mutex_unlock(&store->lock);
    return err;
}

grove_err grove_store_cursors_set(struct grove_store *store, const char *peer,
                                  const struct grove_peer_cursors *cursors)
{
    pthread_mutex_lock(&store->lock);
    grove_err err = store_write_cursors(store, peer, cursors);
    pthread_mutex_unlock(&store->lock);
    return err;
}

/* ---- changes by arrival ------------------------------------------------------ */

static grove_err store_changes_sql(struct grove_store *store, const struct grove_store_query *q,
                                   struct grove_buf *sql)
{
    static const char head[] =
        "SELECT tbl, pk, field, kind, sub, ts, c, node, origin, src, value, inc, dec, ats, ac"
        " FROM state WHERE (ats, ac) > (?1, ?2)";
    grove_err err = grove_buf_append(sql, head, sizeof head - 1);
    for (size_t i = 0; !err && i < q->table_count; i++) {
        if (!grove_schema_has_table(store->schema, q->tables[i]))
            return grove_error_set(GROVE_EFORBIDDEN, "table \"%s\" is not declared", q->tables[i]);
        /* Numbered: a bare "?" here would take number 3, the LIMIT's. */
        char param[32];
        int n = snprintf(param, sizeof param, "%s?%zu", i ? "," : " AND tbl IN (", i + 4);
        err = grove_buf_append(sql, param, (size_t)n);
    }
    if (!err && q->table_count)
        err = grove_buf_append(sql, ")", 1);
    if (!err)
        err = grove_buf_append(sql, " ORDER BY ats, ac LIMIT ?3", 26);
    return err;
}

/* Copies one stored unit into the response's arena as a wire record. */
static grove_err store_read_change(sqlite3_stmt *st, struct grove_pull_response *resp,
                                   struct grove_change *out)
{
    struct state_row row = {0};
    char *strings[6];
    for (int col = 0; col < 3; col++) {
        const char *text = (const char *)sqlite3_column_text(st, col);
        strings[col] = grove_msg_strndup(resp, text, (size_t)sqlite3_column_bytes(st, col));
    }
    row.kind = sqlite3_column_int(st, 3);
    row.sub.len = (size_t)sqlite3_column_bytes(st, 4);
    row.sub.ptr = strings[3] = grove_msg_strndup(resp, sqlite3_column_blob(st, 4), row.sub.len);
    row.hlc.ts = sqlite3_column_int64(st, 5);
    row.hlc.c = (uint32_t)sqlite3_column_int64(st, 6);
    store_copy_node(row.hlc.node, st, 7);
    row.origin = strings[4] = grove_msg_strndup(resp, (const char *)sqlite3_column_text(st, 8),
                                                (size_t)sqlite3_column_bytes(st, 8));
    strings[5] = "";
    if (sqlite3_column_type(st, 10) != SQLITE_NULL) {
        row.value.len = (size_t)sqlite3_column_bytes(st, 10);
        row.value.ptr = strings[5] =
            grove_msg_strndup(resp, sqlite3_column_blob(st, 10), row.value.len);
    }
    row.inc = sqlite3_column_int64(st, 11);
    row.dec = sqlite3_column_int64(st, 12);
    row.field = strings[2];
    for (int i = 0; i < 6; i++)
        if (!strings[i])
            return grove_error_set(GROVE_ENOMEM, "out of memory");
    state_row_to_change(&row, strings[0], strings[1], out);
    if (out->set_op != GROVE_SET_NONE) {
        out->elements = grove_msg_alloc(resp, sizeof *out->elements);
        if (!out->elements)
            return grove_error_set(GROVE_ENOMEM, "out of memory");
        out->elements[0] = row.sub;
        out->element_count = 1;
    }
    return GROVE_OK;
}

static bool store_is_echo(sqlite3_stmt *st, const char *exclude)
{
    return exclude && (strcmp((const char *)sqlite3_column_text(st, 8), exclude) == 0 ||
                       strcmp((const char *)sqlite3_column_text(st, 9), exclude) == 0);
}

grove_err grove_store_changes(struct grove_store *store, const struct grove_store_query *q,
                              struct grove_pull_response **out)
{
    *out = NULL;
    size_t limit = q->limit ? q->limit : 1000;
    struct grove_buf sql = {0};
    struct grove_pull_response *resp = NULL;
    sqlite3_stmt *st = NULL;
    /* Echoes are passed over without counting against the page, up to a
     * bound that keeps the lock short: a peer's own changes cost no round
     * trips to skip. */
    size_t cap = 0, scanned = 0, scan_max = limit * STORE_ECHO_SCAN;
    grove_err err = store_changes_sql(store, q, &sql);
    if (!err)
        err = grove_pull_response_new(&resp);
    if (err)
        goto fail;
    resp->since = q->since;
    resp->latest_hlc = q->since;
    pthread_mutex_lock(&store->lock);
    if (sqlite3_prepare_v2(store->db, sql.data, (int)sql.len, &st, NULL) != SQLITE_OK) {
        err = store_sqlite_error(store, "prepare changes query");
        goto unlock;
    }
    sqlite3_bind_int64(st, 1, q->since.ts);
    sqlite3_bind_int64(st, 2, q->since.c);
    /* One row beyond what may be read tells whether more remain. */
    sqlite3_bind_int64(st, 3, (sqlite3_int64)scan_max + 1);
    for (size_t i = 0; i < q->table_count; i++)
        sqlite3_bind_text(st, 4 + (int)i, q->tables[i], -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (resp->count == limit || scanned == scan_max) {
            resp->has_more = true;
            break;
        }
        scanned++;
        /* The cursor moves past echoes too: the peer has them already. */
        resp->latest_hlc.ts = sqlite3_column_int64(st, 13);
        resp->latest_hlc.c = (uint32_t)sqlite3_column_int64(st, 14);
        memcpy(resp->latest_hlc.node, store->node_id, sizeof resp->latest_hlc.node);
        if (store_is_echo(st, q->exclude_node))
            continue;
        err = grove_msg_reserve_changes(resp, &resp->changes, &cap, resp->count + 1);
        if (!err)
            err = store_read_change(st, resp, &resp->changes[resp->count]);
        if (err)
            goto unlock;
        resp->count++;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        err = store_sqlite_error(store, "read changes");
unlock:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&store->lock);
fail:
    grove_buf_free(&sql);
    if (err) {
        grove_msg_free(resp);
        return err;
    }
    *out = resp;
    return GROVE_OK;
}
