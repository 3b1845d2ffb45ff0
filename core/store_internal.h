/* The store's insides, shared by its files: store.c opens it (schema,
 * prepared statements) and reads a state unit, store_apply.c merges
 * batches (data.c's local writes too), store_read.c reads pages of changes,
 * store_recent.c keeps the newest commits' units for pages at the head,
 * store_reader.c keeps the readers' connections,
 * store_sweep.c drops the arrival log's stale entries,
 * store_cursor.c keeps the per-peer cursors and the waiters, store_echo.c
 * applies the echo rules (store_echo.h). The functions below that take a
 * store expect its lock held; those that take a reader, a reader checked
 * out. */
#ifndef GROVE_CORE_STORE_INTERNAL_H
#define GROVE_CORE_STORE_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>

#include "clock.h"
#include "crdt.h"
#include "grove/store.h"
#include "store_recent.h"

enum {
    STORE_CHUNK = 64,     /* rows or units per multi-row statement */
    STORE_SPAN_MAX = 256, /* units a chunk's pk span may hold and still be read whole */
    STORE_ECHO_SCAN = 16, /* rows a changes page may scan, per change it may return */
    /* How long a connection waits for another's lock before SQLITE_BUSY. */
    STORE_BUSY_TIMEOUT_MS = 5000,
};
/* Memory for the newest commits' units, unless the options say otherwise. */
#define STORE_RECENT_BYTES ((size_t)8 << 20)

/* One row of a batch being applied: its changes and its state units. */
struct store_row {
    const char *table, *pk;
    const size_t *idx; /* its changes, as indices into the batch */
    size_t count;
    struct state_units units;
};

/* A unit to write, with the arrival stamp it gets. */
struct store_dirty {
    const char *table, *pk;
    const struct state_unit *unit;
    struct grove_hlc arrival;
};

/* Group commit (core/data.c): writers queue their writes; one of them, the
 * leader, commits everything queued in one transaction while the others
 * wait, so concurrent writers share an fsync. */
struct store_write_job;
struct store_write_queue {
    pthread_mutex_t lock;
    pthread_cond_t done;
    struct store_write_job *head, *tail;
    bool leading; /* a leader is committing */
};

/* A connection reads go through (store_reader.c), with its own statements:
 * one of the pool's read-only connections, or the writer's own (under the
 * writer's lock) for a store without a pool. */
enum { STORE_READER_PAGE_SHAPES = 4 }; /* pages' statements kept, by table count */
struct store_reader {
    sqlite3 *db;
    sqlite3_stmt *get_row, *list_rows, *watch_scan, *cursor_get;
    /* The arrival log's newest entry, and its first entry at or after a seq
     * (grove_store_arrivals_after). */
    sqlite3_stmt *arrival_last, *arrival_at;
    /* A page of changes naming i tables (0: all), prepared when first read. */
    sqlite3_stmt *changes[STORE_READER_PAGE_SHAPES];
    struct store_reader *next; /* in the idle list */
};

/* The readers' connections: opened as concurrent reads need them, up to max
 * (0: no pool). */
struct store_reader_pool {
    pthread_mutex_t lock;
    pthread_cond_t returned; /* a reader came back */
    struct store_reader *idle;
    size_t open, idle_count, max;
    char *path; /* the file, as the writer opened it */
    bool initialized;
};

/* Checkpoints (store_checkpoint.c). The writer's, under its lock: WAL
 * frames that call for a checkpoint, the count after which the next round
 * comes, the count the last commit left, and whether a pass was asked for
 * (when the thread had made asked_at). The thread's, under `lock`. */
struct store_checkpoints {
    int threshold, next_try, last_frames;
    bool asked;
    unsigned asked_at;
    sqlite3 *db; /* the thread's connection; NULL: SQLite's autocheckpoint */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool wanted, stopping;
    unsigned passes; /* made so far */
};

/* The sweep of the arrival log (store_sweep.c). Under the writer's lock:
 * entries left stale by commits since the last turn (owed), when the last
 * write was (CLOCK_MONOTONIC, ms), the seq the next turn starts at and what
 * the round dropped so far. The thread's wake-ups, under `lock`. */
struct store_sweep {
    uint64_t owed;
    int64_t last_write_ms;
    sqlite3_int64 next_seq;
    uint64_t dropped; /* in the round under way */
    sqlite3_stmt *sweep, *stretch_end, *newest, *save;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool wanted, stopping, running;
};

/* Remote changes merged, and conflicts, in one table. */
struct store_table_counts {
    uint64_t merged, conflicts;
};

struct grove_store {
    pthread_mutex_t lock; /* the writer's connection: every write holds it */
    /* Guards what readers and waiters see of the writer's commits: latest,
     * waits_refused and committed. latest is written under both locks, so
     * the writer may read it under its own. Taken after `lock`, never
     * before it. */
    pthread_mutex_t notify_lock;
    pthread_cond_t committed;
    bool waits_refused; /* grove_store_wake_all was called: waits end at once */
    sqlite3 *db;
    struct store_reader_pool readers;
    struct store_reader own_reader; /* reads on db, when there is no pool */
    struct store_checkpoints checkpoints;
    struct store_sweep sweep;
    struct store_recent recent; /* the newest commits' units (store_recent.h) */
    struct grove_clock clock;
    const struct grove_schema *schema;
    char node_id[GROVE_NODE_ID_MAX + 1];
    struct grove_hlc latest; /* newest arrival stamp */
    /* Publications of latest (grove_store_commit_notify), bumped under
     * notify_lock after latest: read without a lock (grove_store_commits). */
    atomic_uint_fast64_t commits;
    sqlite3_stmt *load_row, *put_state, *put_arrival, *own_counter;
    sqlite3_stmt *cursor_put, *cursor_skip;
    sqlite3_stmt *idem_get, *idem_put, *idem_prune, *counter_op_put;
    struct store_write_queue writes;
    int64_t idem_pruned_at; /* seconds, when the idempotency table was last pruned */
    /* The same for STORE_CHUNK rows or units at once: SQLite's per-statement
     * cost is about half of a small write, so big batches go in chunks. */
    sqlite3_stmt *load_rows, *put_states, *put_arrivals;
    sqlite3_stmt *load_span;
    /* Scratch reused by apply, under the lock. */
    struct store_row rows[STORE_CHUNK];
    struct store_dirty *dirty;
    size_t dirty_cap;
    /* Per declared table, the apply under way's remote merges, handed to
     * the metrics once it commits. */
    struct store_table_counts *table_counts;
    struct grove_metrics *metrics; /* grove/metrics.h */
};

/* The columns of a state unit, as every statement that reads units selects
 * them first, and their indices in its result. */
#define STORE_UNIT_COLUMNS "tbl, pk, field, kind, sub, ts, c, node, origin, src, value, inc, dec"
enum {
    STORE_COL_TABLE,
    STORE_COL_PK,
    STORE_COL_FIELD,
    STORE_COL_KIND,
    STORE_COL_SUB,
    STORE_COL_TS,
    STORE_COL_C,
    STORE_COL_NODE,
    STORE_COL_ORIGIN,
    STORE_COL_SRC,
    STORE_COL_VALUE,
    STORE_COL_INC,
    STORE_COL_DEC,
    STORE_UNIT_COLUMN_COUNT,
    /* Statements that need a unit's arrival stamp select it next. */
    STORE_COL_ATS = STORE_UNIT_COLUMN_COUNT,
    STORE_COL_AC
};

/* ---- store.c: SQLite plumbing and the unit reader ---------------------------- */

/* GROVE_ESTORE with SQLite's message for the connection's last error. */
grove_err grove_store_sqlite_error(struct grove_store *store, const char *what);
grove_err grove_store_exec(struct grove_store *store, const char *sql);
/* The unit at the statement's current row (STORE_UNIT_COLUMNS first), its
 * strings borrowed from the statement until its next step: what names it
 * and where it came from (field, kind, origin, src), then the rest (a page
 * passes over most rows on the first part alone). */
grove_err grove_store_borrow_unit_key(sqlite3_stmt *st, struct state_unit *u);
void grove_store_borrow_unit_rest(sqlite3_stmt *st, struct state_unit *u);
/* *to = *from, with from's strings copied into the arena. */
grove_err grove_store_copy_unit(void *arena, const struct state_unit *from, struct state_unit *to);
/* The unit at the statement's current row, its strings copied into the arena. */
grove_err grove_store_read_unit(sqlite3_stmt *st, void *arena, struct state_unit *r);

/* ---- store_checkpoint.c ------------------------------------------------------- */

/* After the readers, with checkpoints.threshold set: checkpoints on a thread
 * of the store's when it has readers' connections (a WAL file), else
 * SQLite's autocheckpoint at the threshold. Stopped first when the store
 * closes (the writer's close checkpoints last). */
grove_err grove_store_checkpoints_start(struct grove_store *store);
void grove_store_checkpoints_stop(struct grove_store *store);

/* ---- store_sweep.c ------------------------------------------------------------ */

/* After the schema and the statements: the thread that drops the arrival
 * log's stale entries. Stopped before the statements are finalized. */
grove_err grove_store_sweep_start(struct grove_store *store);
void grove_store_sweep_stop(struct grove_store *store);
/* During a write, under the writer's lock: the write is under way (the
 * sweep waits for a pause in them) and leaves `stale` entries behind (units
 * it writes over), for the sweep to make up. */
void grove_store_sweep_owe(struct grove_store *store, uint64_t stale);

/* ---- store_reader.c ----------------------------------------------------------- */

/* After the writer's connection is open and its schema made: a pool of up to
 * `readers` connections (0: 4; below 0: none) when the file is in WAL mode,
 * else reads on the writer's connection. */
grove_err grove_store_readers_init(struct grove_store *store, const char *path, int readers);
/* Waits until every reader is back, then closes them. */
void grove_store_readers_close(struct grove_store *store);
/* A reader for one read: an idle one, a new one below the bound, else the
 * next one handed back. Without a pool, the writer's connection with the
 * writer's lock held until grove_store_reader_put. */
grove_err grove_store_reader_get(struct grove_store *store, struct store_reader **out);
/* Hands r back, ending a transaction it left open. */
void grove_store_reader_put(struct grove_store *store, struct store_reader *r);
grove_err grove_store_reader_exec(struct store_reader *r, const char *sql);
/* Makes the view `arrived` on db: the arrival log's live entries with their
 * units, what every read by arrival walks (and the sweep keeps). */
bool grove_store_view_arrived(sqlite3 *db);
/* GROVE_ESTORE with SQLite's message for the reader's last error. */
grove_err grove_store_reader_error(struct store_reader *r, const char *what);

/* ---- store_apply.c ------------------------------------------------------------ */

/* A pulled page's peer and the cursors to store with it. */
struct store_pulled {
    const char *peer;
    struct grove_peer_cursors *cursors;
};

/* Merges `count` changes (already valid) from `src` inside the caller's
 * transaction: the part of grove_store_apply_locked that local writes share
 * (core/data.c commits many writes in one transaction). */
grove_err grove_store_merge_locked(struct grove_store *store, const struct grove_change *changes,
                                   size_t count, const char *src, bool remote,
                                   struct grove_apply_report *report);

/* Validates and merges `count` changes from `src` ("" for local writes) in
 * one transaction, with a pulled page's cursors when `pulled` is set. Remote
 * changes are checked for drift and move the clock past their stamps. */
grove_err grove_store_apply_locked(struct grove_store *store, const struct grove_change *changes,
                                   size_t count, const char *src, bool remote,
                                   const struct store_pulled *pulled, bool counter_ops,
                                   struct grove_apply_report *report);

/* ---- store_counter_ops.c ------------------------------------------------------ */

/* The running totals origin holds for c's counter (table, pk, field); 0 and
 * 0 when none is stored. */
grove_err grove_store_counter_totals(struct grove_store *store, const struct grove_change *c,
                                     const char *origin, int64_t *inc, int64_t *dec);

/* Inside an apply's transaction: the batch with its counter records read as
 * operations, in *folded (malloc'ed; NULL when the batch has no counter
 * record, the batch then stands as it is): each applied before dropped, the
 * others carrying their origin's running totals. *count is updated. */
grove_err grove_store_fold_counter_ops(struct grove_store *store,
                                       const struct grove_change *changes, size_t *count,
                                       struct grove_change **folded);

/* ---- store_read.c ------------------------------------------------------------- */

/* A record a page may take, borrowed: an entry of the arrival log (a row of
 * its statement) or a unit of the recent commits (store_recent.h). */
struct store_page_entry {
    const char *table, *pk;
    const struct state_unit *unit;
    int64_t ats;
    uint32_t ac;
};

/* A page being filled: its query and bounds, and what it took so far. */
struct store_page {
    const struct grove_store_query *q;
    struct grove_pull_response *resp; /* since and latest_hlc set to q->since */
    const char *node_id;              /* the store's, for latest_hlc */
    size_t limit, scan_max, cap, scanned, bytes;
};

void grove_store_page_start(struct store_page *p, const struct grove_store *store,
                            const struct grove_store_query *q, struct grove_pull_response *resp);
/* Whether the page reads the table (q names it, or names none). */
bool grove_store_page_names(const struct store_page *p, const char *table);
/* The next entry stamped after the cursor: false when the page passes over
 * it (an echo, or left out by the filter: the cursor moves past it either
 * way; e->unit needs only field, kind, origin and src), or when it takes no
 * more (*full: has_more is set and the entry left to the next page). */
bool grove_store_page_wants(struct store_page *p, const struct store_page_entry *e, bool *full);
/* Takes an entry the page wants, its unit whole. */
grove_err grove_store_page_add(struct store_page *p, const struct store_page_entry *e);

/* A page of changes in three steps, so tests can read the statement's plan
 * and its counters (sqlite3_stmt_status): the SQL for q (checking q's tables,
 * no lock needed), the statement prepared (or the reader's kept one for
 * pages of that shape) and bound, and the page read from it into resp (made
 * by the caller, since and latest_hlc set to q->since). The statement
 * belongs to the reader: the caller hands it to grove_store_changes_done. */
grove_err grove_store_changes_sql(struct grove_store *store, const struct grove_store_query *q,
                                  struct grove_buf *sql);
grove_err grove_store_changes_prepare(struct store_reader *r, const struct grove_store_query *q,
                                      const struct grove_buf *sql, sqlite3_stmt **out);
grove_err grove_store_changes_read(struct grove_store *store, struct store_reader *r,
                                   sqlite3_stmt *st, const struct grove_store_query *q,
                                   struct grove_pull_response *resp);
/* The first seq of the arrival log whose entry is stamped after `since`:
 * every entry before it is stamped at or before it (seqs and stamps grow
 * together), so a page starts its walk there. Found in a snapshot of its
 * own, it holds in any later one too: entries are only appended (with
 * higher seqs) and only stale ones deleted, never the newest. */
grove_err grove_store_arrivals_after(struct store_reader *r, const struct grove_hlc *since,
                                     sqlite3_int64 *seq);
/* Resets a kept statement, finalizes another. */
void grove_store_changes_done(struct store_reader *r, sqlite3_stmt *st);

/* ---- store_echo.c: the cursor moves of the echo rules (store_echo.h) --------- */

/* Inside an apply's transaction, `before` being the newest arrival stamp
 * before the batch: moves the caught-up push cursors of the peers known as
 * `src` past it. */
grove_err grove_store_skip_echoes(struct grove_store *store, const char *src,
                                  const struct grove_hlc *before,
                                  const struct grove_apply_report *report);
/* Inside a pulled page's transaction: stores its cursors (as *out), the push
 * cursor moved past the page when it was caught up. */
grove_err grove_store_pulled_cursors(struct grove_store *store, const struct store_pulled *pulled,
                                     const struct grove_hlc *before,
                                     const struct grove_apply_report *report,
                                     struct grove_peer_cursors *out);

/* ---- store_cursor.c ----------------------------------------------------------- */

grove_err grove_store_write_cursors(struct grove_store *store, const char *peer,
                                    const struct grove_peer_cursors *cursors);
/* Publishes a committed arrival stamp and wakes grove_store_wait. */
void grove_store_commit_notify(struct grove_store *store, const struct grove_hlc *latest);

#endif
