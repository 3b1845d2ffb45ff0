/* The sweep of the arrival log (docs/design.md, "Arrival stamps and
 * cursors"). A unit written again leaves its old entry in the log stale;
 * readers pass over stale entries, so each costs a page that walks it, and
 * the sweep drops them, off the write path: a thread of the store's that,
 * once commits have left enough stale entries behind, takes the writer's
 * lock for one short transaction at a time and deletes the stale entries of
 * the log's next stretch, going round the log from its oldest entry to its
 * newest and over again.
 *
 * It examines two entries for each one left stale, so a round over the log
 * (live entries L plus stale ones S) comes within (L + S) / 2 rewrites, which
 * leave as many stale entries: S stays at most L (plus what it waits to make
 * up, at most STORE_SWEEP_OWED_MAX), and a page walks at most about as many
 * stale entries as live ones. Where a round stands is kept in `meta`, so a
 * restart goes on from there. The newest entry is never examined: a log
 * that keeps it has seqs that only grow. */
#include <inttypes.h>
#include <time.h>

#include "grove/log.h"
#include "grove/sys/error.h"
#include "store_internal.h"

/* Entries one transaction examines: a few milliseconds under the lock. */
#define STORE_SWEEP_SPAN 1024
/* Between two transactions, so writes waiting for the lock come first. */
#define STORE_SWEEP_GAP_MS 2
/* The sweep waits for a pause in the writes this long, so a burst of small
 * writes and the reads that follow it (a peer's next pull) do not share the
 * machine with it; entries owed past STORE_SWEEP_OWED_MAX are swept between
 * writes that never pause. */
#define STORE_SWEEP_IDLE_MS  250
#define STORE_SWEEP_OWED_MAX 65536

static int64_t store_sweep_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* The sweep's statements, on the writer's connection. */
static grove_err store_sweep_prepare(struct grove_store *store)
{
    struct store_sweep *w = &store->sweep;
    struct {
        sqlite3_stmt **stmt;
        const char *sql;
    } all[] = {
        /* What the view `arrived` leaves out of the stretch is stale. */
        {&w->sweep, "DELETE FROM arrivals WHERE seq >= ?1 AND seq < ?2 AND seq NOT IN("
                    "SELECT seq FROM arrived WHERE seq >= ?1 AND seq < ?2)"},
        /* The seq STORE_SWEEP_SPAN entries on from ?1: where a stretch ends. */
        {&w->stretch_end,
         "SELECT seq FROM arrivals WHERE seq >= ?1 ORDER BY seq LIMIT 1 OFFSET ?2"},
        {&w->newest, "SELECT max(seq) FROM arrivals"},
        {&w->save, "INSERT OR REPLACE INTO meta(key, value) VALUES('arrivals_swept', ?1)"},
    };
    if (!grove_store_view_arrived(store->db))
        return grove_store_sqlite_error(store, "make the arrival view");
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (sqlite3_prepare_v3(store->db, all[i].sql, -1, SQLITE_PREPARE_PERSISTENT, all[i].stmt,
                               NULL) != SQLITE_OK)
            return grove_store_sqlite_error(store, "prepare the arrival sweep");
    return GROVE_OK;
}

/* The single integer a statement answers with; `none` when it has no row
 * or a NULL. */
static sqlite3_int64 store_sweep_int(sqlite3_stmt *st, sqlite3_int64 none)
{
    sqlite3_int64 v = none;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return v;
}

static grove_err store_sweep_step(struct grove_store *store, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? GROVE_OK : grove_store_sqlite_error(store, what);
}

/* One transaction of the sweep, under the writer's lock. Its commit is not
 * synced: a sweep lost to a power cut only leaves stale entries, and the
 * next synced commit syncs it too. */
static grove_err store_sweep_turn(struct grove_store *store)
{
    struct store_sweep *w = &store->sweep;
    sqlite3_int64 newest = store_sweep_int(w->newest, -1);
    sqlite3_bind_int64(w->stretch_end, 1, w->next_seq);
    sqlite3_bind_int(w->stretch_end, 2, STORE_SWEEP_SPAN);
    sqlite3_int64 end = store_sweep_int(w->stretch_end, newest);
    bool round_done = end >= newest;
    if (round_done)
        end = newest;
    grove_err err = grove_store_exec(store, "PRAGMA synchronous=NORMAL; BEGIN IMMEDIATE");
    if (!err) {
        sqlite3_bind_int64(w->sweep, 1, w->next_seq);
        sqlite3_bind_int64(w->sweep, 2, end);
        err = store_sweep_step(store, w->sweep, "sweep the arrival log");
    }
    int dropped = err ? 0 : sqlite3_changes(store->db);
    sqlite3_int64 next = round_done ? 0 : end;
    if (!err) {
        sqlite3_bind_int64(w->save, 1, next);
        err = store_sweep_step(store, w->save, "note the arrival sweep");
    }
    if (!err)
        err = grove_store_exec(store, "COMMIT");
    if (err)
        sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_exec(store->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
    if (err)
        return err;
    w->next_seq = next;
    w->dropped += (uint64_t)dropped;
    if (round_done) {
        grove_log(GROVE_LOG_DEBUG,
                  "store: the arrival sweep went round the log: %" PRIu64 " stale entries dropped",
                  w->dropped);
        w->dropped = 0;
    }
    w->owed = w->owed > STORE_SWEEP_SPAN / 2 ? w->owed - STORE_SWEEP_SPAN / 2 : 0;
    return GROVE_OK;
}

/* Waits on w->wake (w->lock held) until `ms` from now, or a stop. */
static void store_sweep_pause(struct store_sweep *w, int64_t ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += (time_t)(ms / 1000);
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while (!w->stopping && pthread_cond_timedwait(&w->wake, &w->lock, &until) == 0)
        ;
}

static void *store_sweep_main(void *arg)
{
    struct grove_store *store = arg;
    struct store_sweep *w = &store->sweep;
    bool warned = false;
    pthread_mutex_lock(&w->lock);
    while (!w->stopping) {
        if (!w->wanted) {
            pthread_cond_wait(&w->wake, &w->lock);
            continue;
        }
        w->wanted = false;
        pthread_mutex_unlock(&w->lock);
        pthread_mutex_lock(&store->lock);
        int64_t quiet = store_sweep_now_ms() - w->last_write_ms;
        bool now = w->owed >= STORE_SWEEP_OWED_MAX || quiet >= STORE_SWEEP_IDLE_MS;
        grove_err err = now && w->owed ? store_sweep_turn(store) : GROVE_OK;
        bool more = !err && w->owed >= STORE_SWEEP_SPAN / 2;
        pthread_mutex_unlock(&store->lock);
        if (err && !warned) /* the stale entries stay until a later turn */
            grove_log(GROVE_LOG_WARN, "store: %s", grove_errmsg());
        warned = warned || err;
        pthread_mutex_lock(&w->lock);
        store_sweep_pause(w, now ? STORE_SWEEP_GAP_MS : STORE_SWEEP_IDLE_MS - quiet);
        w->wanted = w->wanted || more;
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

grove_err grove_store_sweep_start(struct grove_store *store)
{
    struct store_sweep *w = &store->sweep;
    grove_err err = store_sweep_prepare(store);
    if (err)
        return err;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(store->db, "SELECT value FROM meta WHERE key = 'arrivals_swept'", -1,
                           &st, NULL) != SQLITE_OK)
        return grove_store_sqlite_error(store, "read the arrival sweep");
    w->next_seq = store_sweep_int(st, 0);
    sqlite3_finalize(st);
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_t monotonic;
    pthread_condattr_init(&monotonic);
    pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC);
    pthread_cond_init(&w->wake, &monotonic);
    pthread_condattr_destroy(&monotonic);
    if (pthread_create(&w->thread, NULL, store_sweep_main, store) != 0) {
        pthread_cond_destroy(&w->wake);
        pthread_mutex_destroy(&w->lock);
        return grove_error_set(GROVE_ENOMEM, "cannot start the arrival sweep's thread");
    }
    w->running = true;
    return GROVE_OK;
}

void grove_store_sweep_stop(struct grove_store *store)
{
    struct store_sweep *w = &store->sweep;
    if (w->running) {
        pthread_mutex_lock(&w->lock);
        w->stopping = true;
        pthread_cond_signal(&w->wake);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->thread, NULL);
        pthread_cond_destroy(&w->wake);
        pthread_mutex_destroy(&w->lock);
        w->running = false;
    }
    sqlite3_stmt *all[] = {w->sweep, w->stretch_end, w->newest, w->save};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        sqlite3_finalize(all[i]);
}

void grove_store_sweep_owe(struct grove_store *store, uint64_t stale)
{
    struct store_sweep *w = &store->sweep;
    if (!w->running)
        return;
    w->last_write_ms = store_sweep_now_ms();
    w->owed += stale;
    if (!stale || w->owed < STORE_SWEEP_SPAN / 2)
        return;
    /* Woken once: the thread goes on by itself while more is owed. */
    pthread_mutex_lock(&w->lock);
    if (!w->wanted) {
        w->wanted = true;
        pthread_cond_signal(&w->wake);
    }
    pthread_mutex_unlock(&w->lock);
}
