/* The readers' connections (docs/design.md, "Reads beside writes"): a small
 * pool of read-only SQLite connections to the store's WAL file, opened as
 * concurrent reads first need them, each with its own prepared statements.
 * A read checks one out, reads a committed snapshot and hands it back; it
 * never takes the writer's lock, so reads and writes never wait for each
 * other. A store whose file is not in WAL mode (an in-memory one) has no
 * pool: its reads share the writer's connection under the writer's lock. */
#include <stdlib.h>
#include <string.h>

#include "grove/sys/error.h"
#include "store_internal.h"

enum {
    STORE_READERS_DEFAULT = 4,
    STORE_READERS_MAX = 64,
};

grove_err grove_store_reader_error(struct store_reader *r, const char *what)
{
    return grove_error_set(GROVE_ESTORE, "store: %s: %s", what, sqlite3_errmsg(r->db));
}

/* The arrival log's live entries, with their units (an entry whose stamp
 * is no longer its unit's is passed over). The log is walked first (CROSS
 * JOIN), by seq, so a page costs the entries it walks, and the table filter
 * is the log's column, tested before the unit is looked up. A view of the
 * connection's own: nothing in the file. */
bool grove_store_view_arrived(sqlite3 *db)
{
    static const char view[] =
        "CREATE TEMP VIEW IF NOT EXISTS arrived AS SELECT a.seq AS seq, a.tbl AS tbl,"
        " a.pk AS pk, a.field AS field, a.kind AS kind, a.sub AS sub, s.ts AS ts, s.c AS c,"
        " s.node AS node, s.origin AS origin, s.src AS src, s.value AS value, s.inc AS inc,"
        " s.dec AS dec, a.ats AS ats, a.ac AS ac FROM arrivals a CROSS JOIN state s"
        " ON s.tbl = a.tbl AND s.pk = a.pk AND s.field = a.field AND s.kind = a.kind"
        " AND s.sub = a.sub AND s.ats = a.ats AND s.ac = a.ac";
    return sqlite3_exec(db, view, NULL, NULL, NULL) == SQLITE_OK;
}

/* The statements every reader prepares, on its own connection. */
static grove_err store_reader_prepare(struct store_reader *r)
{
    if (!grove_store_view_arrived(r->db))
        return grove_store_reader_error(r, "make the arrival view");
    struct {
        sqlite3_stmt **stmt;
        const char *sql;
    } all[] = {
        /* A row's units, resolved as they are read (core/data_read.c). */
        {&r->get_row, "SELECT " STORE_UNIT_COLUMNS " FROM state WHERE tbl = ?1 AND pk = ?2"},
        /* After ?2, from the prefix ?3, below its upper bound ?4 (a blob,
         * above every text, when there is none): both bounds of one range. */
        {&r->list_rows, "SELECT " STORE_UNIT_COLUMNS " FROM state WHERE tbl = ?1 AND pk > ?2"
                        " AND pk >= ?3 AND pk < ?4 ORDER BY pk"},
        /* A watch's scan (core/data_read.c): what changed, by arrival. */
        {&r->watch_scan, "SELECT tbl, pk, ats, ac FROM arrived WHERE seq >= ?4"
                         " AND (ats, ac) > (?1, ?2) ORDER BY seq LIMIT ?3"},
        {&r->arrival_last, "SELECT seq, ats, ac FROM arrivals ORDER BY seq DESC LIMIT 1"},
        {&r->arrival_at, "SELECT seq, ats, ac FROM arrivals WHERE seq >= ?1 ORDER BY seq LIMIT 1"},
        /* A peer's cursors (core/store_cursor.c), by URL or by its node once bound. */
        {&r->cursor_get,
         "SELECT pull_ts, pull_c, pull_node, push_ts, push_c, peer_node, catching_up FROM cursors"
         " WHERE peer = coalesce((SELECT node FROM peer_urls WHERE url = ?1), ?1)"},
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (sqlite3_prepare_v3(r->db, all[i].sql, -1, SQLITE_PREPARE_PERSISTENT, all[i].stmt,
                               NULL) != SQLITE_OK)
            return grove_store_reader_error(r, "prepare");
    return GROVE_OK;
}

/* Finalizes r's statements (not its connection). */
static void store_reader_finalize(struct store_reader *r)
{
    sqlite3_finalize(r->get_row);
    sqlite3_finalize(r->list_rows);
    sqlite3_finalize(r->watch_scan);
    sqlite3_finalize(r->arrival_last);
    sqlite3_finalize(r->arrival_at);
    sqlite3_finalize(r->cursor_get);
    for (size_t i = 0; i < STORE_READER_PAGE_SHAPES; i++)
        sqlite3_finalize(r->changes[i]);
}

static void store_reader_free(struct store_reader *r)
{
    if (!r)
        return;
    store_reader_finalize(r);
    sqlite3_close(r->db);
    free(r);
}

/* A new read-only connection to the store's file. */
static grove_err store_reader_open(struct grove_store *store, struct store_reader **out)
{
    *out = NULL;
    struct store_reader *r = calloc(1, sizeof *r);
    if (!r)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    grove_err err;
    char *msg = NULL;
    if (sqlite3_open_v2(store->readers.path, &r->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        err = grove_error_set(GROVE_ESTORE, "store: opening a reader on %s: %s",
                              store->readers.path, r->db ? sqlite3_errmsg(r->db) : "out of memory");
        goto fail;
    }
    /* A reader waits only while the WAL index is rebuilt or a checkpoint
     * restarts the WAL: rare and short. Its cache holds what pages walk
     * (the arrival log and the units it points at); the OS holds the rest. */
    sqlite3_busy_timeout(r->db, STORE_BUSY_TIMEOUT_MS);
    if (sqlite3_exec(r->db, "PRAGMA cache_size=-8192; PRAGMA temp_store=MEMORY;", NULL, NULL,
                     &msg) != SQLITE_OK) {
        err = grove_error_set(GROVE_ESTORE, "store: setting up a reader: %s", msg ? msg : "error");
        sqlite3_free(msg);
        goto fail;
    }
    err = store_reader_prepare(r);
    if (err)
        goto fail;
    *out = r;
    return GROVE_OK;
fail:
    store_reader_free(r);
    return err;
}

size_t grove_store_readers(const struct grove_store *store)
{
    return store->readers.max;
}

grove_err grove_store_readers_init(struct grove_store *store, const char *path, int readers)
{
    struct store_reader_pool *p = &store->readers;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->returned, NULL);
    p->initialized = true;
    /* Readers need the WAL: without it (":memory:", a file system without
     * shared memory) a reader would block the writer or see nothing. */
    sqlite3_stmt *st = NULL;
    bool wal = false;
    if (sqlite3_prepare_v2(store->db, "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        wal = strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
    sqlite3_finalize(st);
    if (readers == 0)
        readers = STORE_READERS_DEFAULT;
    p->max = wal && readers > 0
                 ? (size_t)(readers < STORE_READERS_MAX ? readers : STORE_READERS_MAX)
                 : 0;
    if (p->max) {
        /* The file SQLite opened, so a relative path means the same file
         * whatever the working directory later. */
        const char *file = sqlite3_db_filename(store->db, "main");
        if (!(p->path = strdup(file && file[0] ? file : path)))
            return grove_error_set(GROVE_ENOMEM, "out of memory");
        return GROVE_OK;
    }
    store->own_reader.db = store->db;
    return store_reader_prepare(&store->own_reader);
}

void grove_store_readers_close(struct grove_store *store)
{
    struct store_reader_pool *p = &store->readers;
    if (!p->initialized)
        return;
    pthread_mutex_lock(&p->lock);
    while (p->idle_count < p->open) /* in-flight reads end first */
        pthread_cond_wait(&p->returned, &p->lock);
    while (p->idle) {
        struct store_reader *r = p->idle;
        p->idle = r->next;
        store_reader_free(r);
    }
    pthread_mutex_unlock(&p->lock);
    store_reader_finalize(&store->own_reader);
    free(p->path);
    pthread_cond_destroy(&p->returned);
    pthread_mutex_destroy(&p->lock);
}

grove_err grove_store_reader_get(struct grove_store *store, struct store_reader **out)
{
    struct store_reader_pool *p = &store->readers;
    if (!p->max) {
        pthread_mutex_lock(&store->lock);
        *out = &store->own_reader;
        return GROVE_OK;
    }
    pthread_mutex_lock(&p->lock);
    while (!p->idle && p->open == p->max) /* more reads at once than the bound */
        pthread_cond_wait(&p->returned, &p->lock);
    struct store_reader *r = p->idle;
    if (r) {
        p->idle = r->next;
        p->idle_count--;
        pthread_mutex_unlock(&p->lock);
        *out = r;
        return GROVE_OK;
    }
    p->open++; /* counted now, opened outside the lock */
    pthread_mutex_unlock(&p->lock);
    grove_err err = store_reader_open(store, &r);
    if (err) {
        pthread_mutex_lock(&p->lock);
        p->open--;
        pthread_cond_signal(&p->returned);
        pthread_mutex_unlock(&p->lock);
        return err;
    }
    *out = r;
    return GROVE_OK;
}

void grove_store_reader_put(struct grove_store *store, struct store_reader *r)
{
    /* A read that failed inside its transaction leaves no snapshot held. */
    if (!sqlite3_get_autocommit(r->db))
        sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
    if (r == &store->own_reader) {
        pthread_mutex_unlock(&store->lock);
        return;
    }
    struct store_reader_pool *p = &store->readers;
    pthread_mutex_lock(&p->lock);
    r->next = p->idle;
    p->idle = r;
    p->idle_count++;
    /* Broadcast: a close waits for every reader, a read for any one. */
    pthread_cond_broadcast(&p->returned);
    pthread_mutex_unlock(&p->lock);
}

grove_err grove_store_reader_exec(struct store_reader *r, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(r->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        grove_err err = grove_error_set(GROVE_ESTORE, "store: %s", msg ? msg : "error");
        sqlite3_free(msg);
        return err;
    }
    return GROVE_OK;
}
