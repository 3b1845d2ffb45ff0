/* Checkpoints (docs/design.md, "Store layout"). SQLite's autocheckpoint
 * copies the WAL back into the database file inside the commit that crosses
 * its threshold, and while readers keep snapshots open (a checkpoint cannot
 * copy frames they may still need, so the WAL stays past the threshold) it
 * tries again after every commit, syncing the file each time: beside 16
 * readers the writer lost about half its rate to that (README, `readers`).
 *
 * Here a thread of the store's makes a pass over the WAL on a connection
 * of its own (PASSIVE: it never waits for, nor holds back, the writer or a
 * reader), and then the writer copies only what was committed during that
 * pass and waits a moment for readers to leave the WAL, which lets the next
 * write start it over from its beginning (a WAL written over in place costs
 * half the sync of one that grows). A round that readers kept from
 * finishing is repeated only after another quarter of the threshold. A
 * store without readers' connections (not a WAL file) keeps SQLite's own. */
#include <stdlib.h>
#include <time.h>

#include "grove/sys/error.h"
#include "store_internal.h"

/* The thread's passes come at most this often. */
#define STORE_CHECKPOINT_GAP_MS 50
/* How long the writer's round waits for readers to leave the WAL. Readers
 * take their snapshots at its newest frame, which a passive copy must leave
 * in place, so beside readers that never stop the WAL would never start
 * over and would grow with every commit: beside 16 clients pulling as fast
 * as they can the writer kept 0.77-0.80 of its rate alone that way, and
 * 0.89-0.92 waiting here (README, `readers`). A page is read in a few
 * milliseconds; a longer read (a backup's) makes the round give up, to come
 * again after another quarter of the threshold. */
#define STORE_CHECKPOINT_READERS_WAIT_MS 25

/* On the writer's connection after each commit, under the writer's lock:
 * publishes the units it wrote to pages at the head (store_recent.h).
 * Then, past the threshold, asks the thread for a pass, and once it has
 * made one copies what came since and waits for readers to read from the
 * file only (RESTART, bounded by the busy timeout set here), so the next
 * commit starts the WAL over. */
static int store_committed(void *arg, sqlite3 *db, const char *name, int frames)
{
    struct grove_store *store = arg;
    grove_store_recent_publish(&store->recent);
    struct store_checkpoints *c = &store->checkpoints;
    if (frames < c->last_frames) { /* the WAL started over */
        c->next_try = c->threshold;
        c->asked = false;
    }
    c->last_frames = frames;
    if (frames < c->next_try)
        return SQLITE_OK;
    pthread_mutex_lock(&c->lock);
    unsigned passes = c->passes;
    if (!c->asked) {
        c->wanted = true;
        pthread_cond_signal(&c->wake);
    }
    pthread_mutex_unlock(&c->lock);
    if (!c->asked) {
        c->asked = true;
        c->asked_at = passes;
    } else if (passes != c->asked_at) {
        int log = 0, done = 0;
        sqlite3_busy_timeout(db, STORE_CHECKPOINT_READERS_WAIT_MS);
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_RESTART, &log, &done);
        sqlite3_busy_timeout(db, STORE_BUSY_TIMEOUT_MS);
        c->asked = false;
        c->next_try = frames + c->threshold / 4;
    }
    return SQLITE_OK;
}

static void *store_checkpoint_main(void *arg)
{
    struct store_checkpoints *c = arg;
    pthread_mutex_lock(&c->lock);
    while (!c->stopping) {
        if (!c->wanted) {
            pthread_cond_wait(&c->wake, &c->lock);
            continue;
        }
        c->wanted = false;
        pthread_mutex_unlock(&c->lock);
        /* SQLITE_BUSY (the writer is checkpointing) still counts as a pass:
         * the writer then copies the rest itself. */
        int frames = 0, copied = 0;
        sqlite3_wal_checkpoint_v2(c->db, "main", SQLITE_CHECKPOINT_PASSIVE, &frames, &copied);
        pthread_mutex_lock(&c->lock);
        c->passes++;
        pthread_mutex_unlock(&c->lock);
        struct timespec gap = {0, STORE_CHECKPOINT_GAP_MS * 1000000L};
        nanosleep(&gap, NULL);
        pthread_mutex_lock(&c->lock);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

grove_err grove_store_checkpoints_start(struct grove_store *store)
{
    struct store_checkpoints *c = &store->checkpoints;
    if (c->threshold < 16)
        c->threshold = 16;
    c->next_try = c->threshold;
    if (!store->readers.path) {
        sqlite3_wal_autocheckpoint(store->db, c->threshold);
        return GROVE_OK;
    }
    if (sqlite3_open_v2(store->readers.path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        grove_err err =
            grove_error_set(GROVE_ESTORE, "store: opening the checkpointer on %s: %s",
                            store->readers.path, c->db ? sqlite3_errmsg(c->db) : "out of memory");
        sqlite3_close(c->db);
        c->db = NULL;
        return err;
    }
    /* Its copies are synced as the writer's commits are. */
    sqlite3_busy_timeout(c->db, STORE_BUSY_TIMEOUT_MS);
    sqlite3_exec(c->db, "PRAGMA synchronous=FULL;", NULL, NULL, NULL);
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->wake, NULL);
    if (pthread_create(&c->thread, NULL, store_checkpoint_main, c) != 0) {
        pthread_cond_destroy(&c->wake);
        pthread_mutex_destroy(&c->lock);
        sqlite3_close(c->db);
        c->db = NULL;
        return grove_error_set(GROVE_ENOMEM, "cannot start the checkpoint thread");
    }
    /* Replaces SQLite's autocheckpoint, which is a WAL hook too. */
    sqlite3_wal_hook(store->db, store_committed, store);
    return GROVE_OK;
}

void grove_store_checkpoints_stop(struct grove_store *store)
{
    struct store_checkpoints *c = &store->checkpoints;
    if (!c->db)
        return;
    pthread_mutex_lock(&store->lock);
    sqlite3_wal_hook(store->db, NULL, NULL);
    pthread_mutex_unlock(&store->lock);
    pthread_mutex_lock(&c->lock);
    c->stopping = true;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    sqlite3_close(c->db);
    c->db = NULL;
    pthread_cond_destroy(&c->wake);
    pthread_mutex_destroy(&c->lock);
}
