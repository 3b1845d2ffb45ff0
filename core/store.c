/* The SQLite store: opening it (schema, pragmas, prepared statements) and
 * reading a state unit back (docs/design.md, "Store layout"). State is
 * compacted by construction: one row per (table, pk, field, kind, sub) where
 * sub is the origin node for counters and the element for sets. Each state
 * row carries the arrival stamp of its last change, and pulls read by arrival
 * ("Arrival stamps and cursors"). Nothing else is written per change: a
 * row's resolved document is made from its units when it is read
 * (core/data_read.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "grove/log.h"
#include "grove/metrics.h"
#include "grove/sys/error.h"
#include "store_internal.h"

static const char store_schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS state("
    " tbl TEXT NOT NULL, pk TEXT NOT NULL, field TEXT NOT NULL, kind INTEGER NOT NULL,"
    " sub BLOB NOT NULL, ts INTEGER NOT NULL, c INTEGER NOT NULL, node TEXT NOT NULL,"
    " origin TEXT NOT NULL, src TEXT NOT NULL, value BLOB, inc INTEGER NOT NULL,"
    " dec INTEGER NOT NULL, ats INTEGER NOT NULL, ac INTEGER NOT NULL,"
    " PRIMARY KEY(tbl, pk, field, kind, sub)) WITHOUT ROWID;"
    /* The arrival log (docs/design.md, "Arrival stamps and cursors"): an
     * entry per unit written, appended in arrival order (seq and stamp grow
     * together). A unit written again leaves its old entry stale: readers
     * pass over entries whose stamp is no longer the unit's, and the sweep
     * (core/store_sweep.c) drops them. */
    "CREATE TABLE IF NOT EXISTS arrivals(seq INTEGER PRIMARY KEY, ats INTEGER NOT NULL,"
    " ac INTEGER NOT NULL, tbl TEXT NOT NULL, pk TEXT NOT NULL, field TEXT NOT NULL,"
    " kind INTEGER NOT NULL, sub BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS cursors(peer TEXT PRIMARY KEY, pull_ts INTEGER NOT NULL,"
    " pull_c INTEGER NOT NULL, pull_node TEXT NOT NULL, push_ts INTEGER NOT NULL,"
    " push_c INTEGER NOT NULL, peer_node TEXT NOT NULL, catching_up INTEGER NOT NULL);"
    /* Cursors belong to the peer's node id once it is known (core/store_cursor.c):
     * peer_urls says which node a URL answered as; a row keyed by a URL is a
     * peer not identified yet. Rows of older files, keyed by URL with a known
     * node, move to their node's key (one URL's row per node survives). */
    "CREATE TABLE IF NOT EXISTS peer_urls(url TEXT PRIMARY KEY, node TEXT NOT NULL) WITHOUT ROWID;"
    "INSERT OR IGNORE INTO peer_urls(url, node) SELECT peer, peer_node FROM cursors"
    " WHERE peer_node != '' AND peer != peer_node;"
    "UPDATE OR IGNORE cursors SET peer = peer_node WHERE peer_node != '' AND peer != peer_node;"
    "DELETE FROM cursors WHERE peer_node != '' AND peer != peer_node;"
    /* Data API writes by idempotency key (core/data.c): what the write was
     * (a fingerprint) and the HLC it got, kept a day. */
    "CREATE TABLE IF NOT EXISTS idempotency(key TEXT PRIMARY KEY, fingerprint INTEGER NOT NULL,"
    " ts INTEGER NOT NULL, c INTEGER NOT NULL, created INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS idempotency_created ON idempotency(created);"
    /* Counter operations applied once each (core/store_counter_ops.c). */
    "CREATE TABLE IF NOT EXISTS counter_ops(tbl TEXT NOT NULL, pk TEXT NOT NULL,"
    " field TEXT NOT NULL, origin TEXT NOT NULL, ts INTEGER NOT NULL, c INTEGER NOT NULL,"
    " PRIMARY KEY(tbl, pk, field, origin, ts, c)) WITHOUT ROWID;";

grove_err grove_store_sqlite_error(struct grove_store *store, const char *what)
{
    return grove_error_set(GROVE_ESTORE, "store: %s: %s", what, sqlite3_errmsg(store->db));
}

grove_err grove_store_exec(struct grove_store *store, const char *sql)
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
        return grove_store_sqlite_error(store, "prepare");
    return GROVE_OK;
}

/* "<head>" then `rows` copies of "(?,...)" with `params` placeholders each, then "<tail>". */
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
    grove_err err = store_prepare_rows(store, &store->load_rows,
                                       "SELECT " STORE_UNIT_COLUMNS
                                       ", ats, ac FROM state WHERE tbl = ? AND pk IN ",
                                       "", 1, STORE_CHUNK);
    if (!err)
        err = store_prepare_rows(store, &store->put_states,
                                 "INSERT OR REPLACE INTO state(tbl, pk, field, kind, sub, ts, c,"
                                 " node, origin, src, value, inc, dec, ats, ac) VALUES",
                                 "", STORE_CHUNK, 15);
    if (!err)
        err = store_prepare_rows(store, &store->put_arrivals,
                                 "INSERT INTO arrivals(ats, ac, tbl, pk, field, kind, sub) VALUES",
                                 "", STORE_CHUNK, 7);
    return err;
}

static grove_err store_prepare_all(struct grove_store *store)
{
    struct {
        sqlite3_stmt **stmt;
        const char *sql;
    } all[] = {
        /* Loads for a merge: a unit's arrival stamp tells which recent
         * unit it replaces (store_recent.h). */
        {&store->load_row,
         "SELECT " STORE_UNIT_COLUMNS ", ats, ac FROM state WHERE tbl = ?1 AND pk = ?2"},
        {&store->load_span, "SELECT " STORE_UNIT_COLUMNS ", ats, ac FROM state WHERE tbl = ?1"
                            " AND pk >= ?2 AND pk <= ?3 LIMIT ?4"},
        {&store->put_state,
         "INSERT OR REPLACE INTO state(tbl, pk, field, kind, sub, ts, c, node, origin, src,"
         " value, inc, dec, ats, ac) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15)"},
        {&store->put_arrival, "INSERT INTO arrivals(ats, ac, tbl, pk, field, kind, sub)"
                              " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)"},
        {&store->own_counter, "SELECT inc, dec FROM state WHERE tbl = ?1 AND pk = ?2 AND"
                              " field = ?3 AND kind = 2 AND sub = ?4"},
        {&store->counter_op_put, "INSERT OR IGNORE INTO counter_ops(tbl, pk, field, origin, ts, c)"
                                 " VALUES(?1, ?2, ?3, ?4, ?5, ?6)"},
        {&store->idem_get, "SELECT fingerprint, ts, c FROM idempotency WHERE key = ?1"},
        {&store->idem_put, "INSERT INTO idempotency(key, fingerprint, ts, c, created)"
                           " VALUES(?1, ?2, ?3, ?4, ?5)"},
        {&store->idem_prune, "DELETE FROM idempotency WHERE created < ?1"},
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

/* Whether the file has a table or index of that name: what an older groved
 * made. */
static grove_err store_schema_has(struct grove_store *store, const char *type, const char *name,
                                  bool *has)
{
    sqlite3_stmt *st = NULL;
    grove_err err = store_prepare(
        store, &st, "SELECT count(*) FROM sqlite_master WHERE type = ?1 AND name = ?2");
    if (err)
        return err;
    sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    *has = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) > 0;
    sqlite3_finalize(st);
    return GROVE_OK;
}

/* Files made before rows were resolved as they are read kept every row's
 * resolved document in a table of its own, which cost each update of a row a
 * page in a third b-tree: it goes, once (a large one takes a while). */
static grove_err store_drop_resolved_rows(struct grove_store *store)
{
    bool old;
    grove_err err = store_schema_has(store, "table", "rows", &old);
    if (err || !old)
        return err;
    grove_log(GROVE_LOG_INFO, "store: dropping the resolved rows of an older file (once)");
    err = grove_store_exec(store, "DROP TABLE rows");
    if (!err)
        grove_log(GROVE_LOG_INFO, "store: resolved rows dropped");
    return err ? grove_error_prefix(err, "dropping the older resolved rows: ") : GROVE_OK;
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
                err = grove_store_sqlite_error(store, "record node id");
        }
    } else {
        err = grove_store_sqlite_error(store, "read node id");
    }
    sqlite3_finalize(st);
    return err;
}

/* The newest arrival stamp: the clock restarts after it. */
static grove_err store_restore_clock(struct grove_store *store)
{
    sqlite3_stmt *st = NULL;
    grove_err err =
        store_prepare(store, &st, "SELECT ats, ac FROM arrivals ORDER BY seq DESC LIMIT 1");
    if (err)
        return err;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        store->latest.ts = sqlite3_column_int64(st, 0);
        store->latest.c = (uint32_t)sqlite3_column_int64(st, 1);
        memcpy(store->latest.node, store->node_id, sizeof store->latest.node);
        grove_clock_restore(&store->clock, store->latest.ts, store->latest.c);
    } else if (rc != SQLITE_DONE) {
        err = grove_store_sqlite_error(store, "read newest arrival");
    }
    sqlite3_finalize(st);
    return err;
}

/* Files made before the arrival log kept an index of state by arrival
 * stamp, which cost each update of a unit a second page spread over the
 * file (its old entry's): the log takes its place, filled from state in
 * arrival order, once (a large file takes a few seconds). */
static grove_err store_log_arrivals(struct grove_store *store)
{
    bool old;
    grove_err err = store_schema_has(store, "index", "state_arrival", &old);
    if (err || !old)
        return err;
    grove_log(GROVE_LOG_INFO,
              "store: moving an older file's arrival index to the arrival log (once)");
    err = grove_store_exec(store, "BEGIN IMMEDIATE; DELETE FROM arrivals;"
                                  "INSERT INTO arrivals(ats, ac, tbl, pk, field, kind, sub)"
                                  " SELECT ats, ac, tbl, pk, field, kind, sub FROM state"
                                  " INDEXED BY state_arrival ORDER BY ats, ac;"
                                  "DROP INDEX state_arrival; COMMIT;");
    if (err)
        sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
    else
        grove_log(GROVE_LOG_INFO, "store: arrival log made");
    return err;
}

/* A checkpoint copies each page once however often the WAL rewrote it, so
 * the rarer they are the less a bulk sync copies, at the cost of disk: one
 * every 128 MiB of WAL by default, whatever the file's page size (older
 * files have 8 KiB pages). */
static grove_err store_set_checkpoints(struct grove_store *store, size_t bytes)
{
    sqlite3_stmt *st = NULL;
    grove_err err = store_prepare(store, &st, "PRAGMA page_size");
    if (err)
        return err;
    int page = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    if (page <= 0)
        return grove_store_sqlite_error(store, "read page size");
    size_t frames = (bytes ? bytes : (size_t)128 << 20) / (size_t)page;
    store->checkpoints.threshold = frames < INT32_MAX ? (int)frames : INT32_MAX;
    return GROVE_OK;
}

/* SQLite says only "unable to open database file"; at start-up the cause is
 * most often the directory, so name it when it is missing or no directory,
 * and add the system's reason otherwise. */
static grove_err store_open_failed(sqlite3 *db, const char *path)
{
    if (!db)
        return grove_error_set(GROVE_ESTORE, "cannot open store %s: out of memory", path);
    const char *slash = strrchr(path, '/');
    struct stat st;
    char dir[4096];
    if (slash)
        snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    int dir_errno = slash && stat(dir, &st) != 0 ? errno : 0;
    if (dir_errno == ENOENT)
        return grove_error_set(
            GROVE_ESTORE, "cannot open store %s: store directory %s does not exist", path, dir);
    if (slash && !dir_errno && !S_ISDIR(st.st_mode))
        return grove_error_set(GROVE_ESTORE, "cannot open store %s: %s is not a directory", path,
                               dir);
    int os_errno = sqlite3_system_errno(db);
    if (os_errno)
        return grove_error_set(GROVE_ESTORE, "cannot open store %s: %s (%s)", path,
                               sqlite3_errmsg(db), strerror(os_errno));
    return grove_error_set(GROVE_ESTORE, "cannot open store %s: %s", path, sqlite3_errmsg(db));
}

/* A transaction rolled back: what it staged for pages goes too. */
static void store_rolled_back(void *arg)
{
    struct grove_store *store = arg;
    grove_store_recent_rolled_back(&store->recent);
}

/* Pages at the head are read from memory where readers' connections would
 * read them afresh from the file (store_recent.h): a store with readers
 * keeps the newest commits' units, published after each commit by its WAL
 * hook (store_checkpoint.c). */
static void store_keep_recent(struct grove_store *store, int64_t bytes)
{
    if (!store->readers.path || bytes < 0)
        return;
    grove_store_recent_start(&store->recent, bytes ? (size_t)bytes : STORE_RECENT_BYTES,
                             &store->latest);
    sqlite3_rollback_hook(store->db, store_rolled_back, store);
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
    pthread_mutex_init(&store->notify_lock, NULL);
    pthread_cond_init(&store->committed, NULL);
    pthread_mutex_init(&store->writes.lock, NULL);
    pthread_cond_init(&store->writes.done, NULL);
    grove_store_recent_init(&store->recent);
    strcpy(store->node_id, opts->node_id);
    store->schema = opts->schema;
    store->metrics = grove_metrics_new(opts->schema);
    store->table_counts =
        calloc(grove_schema_table_count(opts->schema) + 1, sizeof *store->table_counts);
    grove_clock_init(&store->clock, opts->node_id, opts->max_drift_ns);
    grove_err err;
    if (!store->metrics || !store->table_counts) {
        err = grove_error_set(GROVE_ENOMEM, "out of memory");
        goto fail;
    }
    if (sqlite3_open_v2(opts->path, &store->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        err = store_open_failed(store->db, opts->path);
        goto fail;
    }
    sqlite3_busy_timeout(store->db, STORE_BUSY_TIMEOUT_MS);
    /* WAL with FULL sync: an acknowledged write survives a crash or power cut.
     * 4 KiB pages (for a new file): an update of a row among many dirties
     * its unit's page, spread over the file, and the WAL writes, checksums
     * and syncs whole pages, so a small round costs about half what it did
     * with 8 KiB pages; bulk applies cost the same by CPU time
     * (docs/design.md, "Store layout"). */
    err = grove_store_exec(store, "PRAGMA page_size=4096; PRAGMA journal_mode=WAL;"
                                  "PRAGMA synchronous=FULL; PRAGMA cache_size=-65536;"
                                  "PRAGMA temp_store=MEMORY;");
    if (!err)
        err = grove_store_exec(store, store_schema_sql);
    if (!err)
        err = store_drop_resolved_rows(store);
    if (!err)
        err = store_log_arrivals(store);
    if (!err)
        err = store_set_checkpoints(store, opts->checkpoint_bytes);
    if (!err)
        err = store_claim_node(store, opts->path);
    if (!err)
        err = store_restore_clock(store);
    if (!err)
        err = store_prepare_all(store);
    if (!err)
        err = grove_store_readers_init(store, opts->path, opts->readers);
    if (!err)
        store_keep_recent(store, opts->recent_bytes);
    if (!err)
        err = grove_store_checkpoints_start(store);
    if (!err)
        err = grove_store_sweep_start(store);
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
    /* The sweep, the checkpoint thread and readers first: the writer's
     * connection, closed last, checkpoints. */
    grove_store_sweep_stop(store);
    grove_store_checkpoints_stop(store);
    grove_store_readers_close(store);
    pthread_mutex_lock(&store->lock);
    sqlite3_stmt *all[] = {store->load_row,    store->put_state,     store->put_arrival,
                           store->own_counter, store->cursor_put,    store->cursor_skip,
                           store->load_rows,   store->put_states,    store->put_arrivals,
                           store->load_span,   store->idem_get,      store->idem_put,
                           store->idem_prune,  store->counter_op_put};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        sqlite3_finalize(all[i]);
    sqlite3_close(store->db);
    pthread_mutex_unlock(&store->lock);
    grove_store_recent_free(&store->recent);
    for (size_t i = 0; i < STORE_CHUNK; i++)
        grove_state_units_free(&store->rows[i].units);
    free(store->dirty);
    free(store->table_counts);
    grove_metrics_free(store->metrics);
    grove_clock_destroy(&store->clock);
    pthread_cond_destroy(&store->committed);
    pthread_mutex_destroy(&store->notify_lock);
    pthread_mutex_destroy(&store->lock);
    pthread_cond_destroy(&store->writes.done);
    pthread_mutex_destroy(&store->writes.lock);
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

struct grove_metrics *grove_store_metrics(struct grove_store *store)
{
    return store->metrics;
}

grove_err grove_store_now(struct grove_store *store, struct grove_hlc *out)
{
    grove_clock_now(&store->clock, out);
    return GROVE_OK;
}

/* Copies a node id column into an HLC's node (hot: every unit read). */
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

grove_err grove_store_borrow_unit_key(sqlite3_stmt *st, struct state_unit *u)
{
    memset(u, 0, sizeof *u);
    u->field = (const char *)sqlite3_column_text(st, STORE_COL_FIELD);
    u->kind = sqlite3_column_int(st, STORE_COL_KIND);
    u->origin = (const char *)sqlite3_column_text(st, STORE_COL_ORIGIN);
    u->src = (const char *)sqlite3_column_text(st, STORE_COL_SRC);
    /* Columns that are never NULL read as NULL only when out of memory. */
    return u->field && u->origin && u->src ? GROVE_OK
                                           : grove_error_set(GROVE_ENOMEM, "out of memory");
}

void grove_store_borrow_unit_rest(sqlite3_stmt *st, struct state_unit *u)
{
    u->sub.ptr = sqlite3_column_blob(st, STORE_COL_SUB);
    u->sub.len = (size_t)sqlite3_column_bytes(st, STORE_COL_SUB);
    if (!u->sub.ptr)
        u->sub.ptr = ""; /* an empty blob */
    u->hlc.ts = sqlite3_column_int64(st, STORE_COL_TS);
    u->hlc.c = (uint32_t)sqlite3_column_int64(st, STORE_COL_C);
    store_copy_node(u->hlc.node, st, STORE_COL_NODE);
    if (sqlite3_column_type(st, STORE_COL_VALUE) != SQLITE_NULL) {
        u->value.ptr = sqlite3_column_blob(st, STORE_COL_VALUE);
        u->value.len = (size_t)sqlite3_column_bytes(st, STORE_COL_VALUE);
        if (!u->value.ptr)
            u->value.ptr = "";
    }
    u->inc = sqlite3_column_int64(st, STORE_COL_INC);
    u->dec = sqlite3_column_int64(st, STORE_COL_DEC);
}

grove_err grove_store_copy_unit(void *arena, const struct state_unit *from, struct state_unit *to)
{
    *to = *from;
    to->field = grove_msg_strndup(arena, from->field, strlen(from->field));
    to->sub.ptr = grove_msg_strndup(arena, from->sub.ptr, from->sub.len);
    to->origin = grove_msg_strndup(arena, from->origin, strlen(from->origin));
    to->src = from->src[0] ? grove_msg_strndup(arena, from->src, strlen(from->src)) : "";
    if (from->value.ptr)
        to->value.ptr = grove_msg_strndup(arena, from->value.ptr, from->value.len);
    if (!to->field || !to->sub.ptr || !to->origin || !to->src ||
        (from->value.ptr && !to->value.ptr))
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    return GROVE_OK;
}

grove_err grove_store_read_unit(sqlite3_stmt *st, void *arena, struct state_unit *r)
{
    struct state_unit borrowed;
    grove_err err = grove_store_borrow_unit_key(st, &borrowed);
    if (err)
        return err;
    grove_store_borrow_unit_rest(st, &borrowed);
    return grove_store_copy_unit(arena, &borrowed, r);
}
