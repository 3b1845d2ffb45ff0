/* Reads beside writes (docs/design.md, "Reads beside writes"): reads go
 * through their own connections, so they neither wait for a write nor hold
 * one back, and a cursor paging through changes while writers commit (and
 * checkpoints run) sees every change exactly once. */
#include <stdatomic.h>

#include "grove/data.h"
#include "store_inside.h"

TestSuite(core_store_readers, .init = support_setup, .fini = support_teardown);

/* ---- many writers, many cursors --------------------------------------------- */

enum {
    WRITERS = 2,
    READERS = 4,
    PER_WRITER = 3000, /* distinct units each: none is written twice */
    UNITS = WRITERS * PER_WRITER,
};

struct race {
    struct grove_store *store;
    atomic_int writers_left;
    atomic_bool stop_checkpoints;
    atomic_int checkpoints;
    /* Each reader's findings, checked by the test's own thread. */
    struct {
        int seen, duplicates, bad_pk, backwards;
        char error[256];
    } readers[READERS];
    char writer_error[WRITERS][256];
};

/* Unit w*PER_WRITER+i is docs/w<w>-<i>.title, written once. */
static void *race_writer(void *arg)
{
    struct race *race = ((void **)arg)[0];
    int w = (int)(intptr_t)((void **)arg)[1];
    for (int i = 0; i < PER_WRITER;) {
        /* Batches of 1 to 37, through both write paths. */
        int n = 1 + (i * 7 + w) % 37;
        if (n > PER_WRITER - i)
            n = PER_WRITER - i;
        struct grove_change batch[37];
        char pks[37][16];
        for (int k = 0; k < n; k++) {
            snprintf(pks[k], sizeof pks[k], "w%d-%05d", w, i + k);
            batch[k] = (struct grove_change){.table = "docs",
                                             .pk = pks[k],
                                             .field = "title",
                                             .crdt = GROVE_CRDT_LWW,
                                             .node_id = "b",
                                             .value = {"\"v\"", 3},
                                             .hlc = {.ts = 1000 + i + k, .c = (uint32_t)w}};
            strcpy(batch[k].hlc.node, "b");
        }
        grove_err err = n == 1 ? grove_store_set(race->store, "docs", pks[0], "title", "1", 1)
                               : grove_store_apply(race->store, batch, (size_t)n, "b", NULL);
        if (err) {
            snprintf(race->writer_error[w], sizeof race->writer_error[w], "%s", grove_errmsg());
            break;
        }
        i += n;
    }
    atomic_fetch_sub(&race->writers_left, 1);
    return NULL;
}

/* The WAL restarted under the cursors: wrap-around is where a reader that
 * trusted an old WAL index would go wrong. */
static void *race_checkpointer(void *arg)
{
    struct race *race = arg;
    int mode = 0;
    while (!atomic_load(&race->stop_checkpoints)) {
        pthread_mutex_lock(&race->store->lock);
        int modes[] = {SQLITE_CHECKPOINT_PASSIVE, SQLITE_CHECKPOINT_RESTART,
                       SQLITE_CHECKPOINT_TRUNCATE};
        if (sqlite3_wal_checkpoint_v2(race->store->db, NULL, modes[mode++ % 3], NULL, NULL) ==
            SQLITE_OK)
            atomic_fetch_add(&race->checkpoints, 1);
        pthread_mutex_unlock(&race->store->lock);
        usleep(2000);
    }
    return NULL;
}

/* The index of a unit from its pk, -1 when it is none of ours. */
static int race_unit(const char *pk)
{
    int w, i;
    if (sscanf(pk, "w%d-%d", &w, &i) != 2 || w < 0 || w >= WRITERS || i < 0 || i >= PER_WRITER)
        return -1;
    return w * PER_WRITER + i;
}

/* Pages from the zero cursor with small pages until the writers are done and
 * a page after that says nothing more remains. */
static void *race_reader(void *arg)
{
    struct race *race = ((void **)arg)[0];
    int id = (int)(intptr_t)((void **)arg)[1];
    __typeof__(race->readers[0]) *me = &race->readers[id];
    unsigned char *seen = calloc(UNITS, 1);
    struct grove_store_query q = {.limit = (size_t)(3 + id * 11)};
    for (;;) {
        bool writers_done = atomic_load(&race->writers_left) == 0;
        struct grove_pull_response *page;
        if (grove_store_changes(race->store, &q, &page)) {
            snprintf(me->error, sizeof me->error, "%s", grove_errmsg());
            break;
        }
        for (size_t i = 0; i < page->count; i++) {
            int u = race_unit(page->changes[i].pk);
            if (u < 0)
                me->bad_pk++;
            else if (seen[u]++)
                me->duplicates++;
            else
                me->seen++;
        }
        if (page->count && grove_hlc_compare(&page->latest_hlc, &q.since) <= 0)
            me->backwards++;
        q.since = page->latest_hlc;
        bool more = page->has_more;
        grove_msg_free(page);
        if (writers_done && !more)
            break;
    }
    free(seen);
    return NULL;
}

static void race_run(int64_t recent)
{
    struct race race = {.store = store_inside_open(0, recent)};
    atomic_init(&race.writers_left, WRITERS);
    atomic_init(&race.stop_checkpoints, false);
    atomic_init(&race.checkpoints, 0);
    pthread_t writers[WRITERS], readers[READERS], checkpointer;
    void *wargs[WRITERS][2], *rargs[READERS][2];
    for (int i = 0; i < READERS; i++) {
        rargs[i][0] = &race;
        rargs[i][1] = (void *)(intptr_t)i;
        pthread_create(&readers[i], NULL, race_reader, rargs[i]);
    }
    pthread_create(&checkpointer, NULL, race_checkpointer, &race);
    for (int i = 0; i < WRITERS; i++) {
        wargs[i][0] = &race;
        wargs[i][1] = (void *)(intptr_t)i;
        pthread_create(&writers[i], NULL, race_writer, wargs[i]);
    }
    for (int i = 0; i < WRITERS; i++)
        pthread_join(writers[i], NULL);
    for (int i = 0; i < READERS; i++)
        pthread_join(readers[i], NULL);
    atomic_store(&race.stop_checkpoints, true);
    pthread_join(checkpointer, NULL);
    for (int i = 0; i < WRITERS; i++)
        cr_expect_str_empty(race.writer_error[i], "writer %d: %s", i, race.writer_error[i]);
    for (int i = 0; i < READERS; i++) {
        cr_expect_str_empty(race.readers[i].error, "reader %d: %s", i, race.readers[i].error);
        cr_expect_eq(race.readers[i].duplicates, 0, "reader %d saw changes twice", i);
        cr_expect_eq(race.readers[i].bad_pk, 0, "reader %d", i);
        cr_expect_eq(race.readers[i].backwards, 0, "reader %d's cursor went back", i);
        cr_expect_eq(race.readers[i].seen, UNITS, "reader %d saw %d of %d changes", i,
                     race.readers[i].seen, UNITS);
    }
    cr_expect_gt(atomic_load(&race.checkpoints), 0);
    /* The pool grew to what concurrent reads needed, and not past its bound. */
    cr_expect_gt(race.store->readers.open, 0);
    cr_expect_leq(race.store->readers.open, 4);
    grove_store_close(race.store);
}

Test(core_store_readers, cursors_never_skip_nor_repeat_a_change_while_writers_commit,
     .timeout = 120)
{
    race_run(-1); /* every page on a reader's connection */
}

/* Pages at the head from memory; with room for about 60 units there (and
 * commits of more than 15 not kept), the cursors that fall behind page on
 * readers' connections. */
Test(core_store_readers, cursors_never_skip_nor_repeat_a_change_read_from_recent_commits,
     .timeout = 120)
{
    race_run(16 << 10);
}

/* ---- units written over and over, their stale entries swept ----------------- */

enum {
    REWRITE_UNITS = 400,
    REWRITE_ROUNDS = 12,
    REWRITE_READERS = 4,
};

struct rewrite_race {
    struct grove_store *store;
    atomic_bool writer_done;
    char writer_error[256];
    struct {
        int backwards, older, bad_pk, last[REWRITE_UNITS];
        char error[256];
    } readers[REWRITE_READERS];
};

/* Round r writes title = r into every unit, in one batch; every third round
 * writes pause for longer than the sweep waits for, so it sweeps while the
 * readers page. */
static void *rewrite_writer(void *arg)
{
    struct rewrite_race *race = arg;
    static struct grove_change batch[REWRITE_UNITS];
    static char pks[REWRITE_UNITS][16], value[16];
    for (int round = 1; round <= REWRITE_ROUNDS && !race->writer_error[0]; round++) {
        snprintf(value, sizeof value, "%d", round);
        for (int i = 0; i < REWRITE_UNITS; i++) {
            snprintf(pks[i], sizeof pks[i], "u%03d", i);
            batch[i] = (struct grove_change){.table = "docs",
                                             .pk = pks[i],
                                             .field = "title",
                                             .crdt = GROVE_CRDT_LWW,
                                             .node_id = "b",
                                             .value = {value, strlen(value)},
                                             .hlc = {.ts = 1000 + round}};
            strcpy(batch[i].hlc.node, "b");
        }
        if (grove_store_apply(race->store, batch, REWRITE_UNITS, "b", NULL))
            snprintf(race->writer_error, sizeof race->writer_error, "%s", grove_errmsg());
        usleep(round % 3 == 0 ? 400000 : 20000);
    }
    atomic_store(&race->writer_done, true);
    return NULL;
}

/* Small pages, the even readers slowly (they stay behind the sweep): a unit
 * never comes back at an older write than one already seen, and in the end
 * every unit was seen at its last write. */
static void *rewrite_reader(void *arg)
{
    struct rewrite_race *race = ((void **)arg)[0];
    int id = (int)(intptr_t)((void **)arg)[1];
    __typeof__(race->readers[0]) *me = &race->readers[id];
    struct grove_store_query q = {.limit = (size_t)(3 + id * 5)};
    for (;;) {
        bool writer_done = atomic_load(&race->writer_done);
        struct grove_pull_response *page;
        if (grove_store_changes(race->store, &q, &page)) {
            snprintf(me->error, sizeof me->error, "%s", grove_errmsg());
            break;
        }
        for (size_t i = 0; i < page->count; i++) {
            const struct grove_change *c = &page->changes[i];
            int u, round;
            char value[16];
            snprintf(value, sizeof value, "%.*s", (int)c->value.len, c->value.ptr);
            if (sscanf(c->pk, "u%d", &u) != 1 || u < 0 || u >= REWRITE_UNITS ||
                sscanf(value, "%d", &round) != 1) {
                me->bad_pk++;
                continue;
            }
            if (round < me->last[u])
                me->older++;
            me->last[u] = round;
        }
        if (page->count && grove_hlc_compare(&page->latest_hlc, &q.since) <= 0)
            me->backwards++;
        q.since = page->latest_hlc;
        bool more = page->has_more;
        grove_msg_free(page);
        if (writer_done && !more)
            break;
        if (id % 2 == 0)
            usleep(2000);
    }
    return NULL;
}

static void rewrite_run(int64_t recent)
{
    static struct rewrite_race race;
    memset(&race, 0, sizeof race);
    race.store = store_inside_open(0, recent);
    atomic_init(&race.writer_done, false);
    pthread_t writer, readers[REWRITE_READERS];
    void *rargs[REWRITE_READERS][2];
    for (int i = 0; i < REWRITE_READERS; i++) {
        rargs[i][0] = &race;
        rargs[i][1] = (void *)(intptr_t)i;
        pthread_create(&readers[i], NULL, rewrite_reader, rargs[i]);
    }
    pthread_create(&writer, NULL, rewrite_writer, &race);
    pthread_join(writer, NULL);
    for (int i = 0; i < REWRITE_READERS; i++)
        pthread_join(readers[i], NULL);
    cr_expect_str_empty(race.writer_error, "%s", race.writer_error);
    for (int i = 0; i < REWRITE_READERS; i++) {
        cr_expect_str_empty(race.readers[i].error, "reader %d: %s", i, race.readers[i].error);
        cr_expect_eq(race.readers[i].bad_pk, 0, "reader %d", i);
        cr_expect_eq(race.readers[i].older, 0, "reader %d saw a unit go back", i);
        cr_expect_eq(race.readers[i].backwards, 0, "reader %d's cursor went back", i);
        int stale = 0;
        for (int u = 0; u < REWRITE_UNITS; u++)
            stale += race.readers[i].last[u] != REWRITE_ROUNDS;
        cr_expect_eq(stale, 0, "reader %d missed the last write of %d units", i, stale);
    }
    /* The sweep did run beside the readers: of the 4,800 entries written,
     * the rounds before the last pause are gone. */
    pthread_mutex_lock(&race.store->lock);
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(race.store->db, "SELECT count(*) FROM arrivals", -1, &st, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    int entries = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    pthread_mutex_unlock(&race.store->lock);
    cr_expect_lt(entries, REWRITE_UNITS * REWRITE_ROUNDS / 2, "%d entries left", entries);
    grove_store_close(race.store);
}

Test(core_store_readers, cursors_see_each_unit_at_its_last_write_while_stale_entries_are_swept,
     .timeout = 120)
{
    rewrite_run(-1);
}

/* The same with pages at the head from memory: room for about five rounds
 * of units (a round's commit is under a quarter of it, so it is kept), and a
 * slow cursor falls behind them to page on a reader's connection. */
Test(core_store_readers, cursors_see_each_unit_at_its_last_write_read_from_recent_commits,
     .timeout = 120)
{
    rewrite_run(512 << 10);
}

/* ---- reads and writes do not wait for each other ------------------------------ */

Test(core_store_readers, a_write_commits_while_a_read_holds_its_snapshot, .timeout = 30)
{
    struct grove_store *s = store_inside_open(0, 0);
    cr_assert_eq(grove_store_set(s, "docs", "d1", "title", "1", 1), GROVE_OK);
    /* A read in the middle of its statement, as a slow page would be. */
    struct store_reader *r;
    cr_assert_eq(grove_store_reader_get(s, &r), GROVE_OK, "%s", grove_errmsg());
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(r->db, "SELECT pk FROM state", -1, &st, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    /* Were reads on the writer's connection under its lock, this would wait
     * for the read (here: forever, the read being on this thread). */
    cr_assert_eq(grove_store_set(s, "docs", "d2", "title", "2", 1), GROVE_OK, "%s", grove_errmsg());
    cr_assert_eq(grove_store_set(s, "docs", "d3", "title", "3", 1), GROVE_OK, "%s", grove_errmsg());
    /* The held read goes on in its snapshot: d1 only. */
    cr_expect_eq(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    /* Other reads meanwhile check out another reader and see the writes. */
    struct grove_pull_response *page;
    cr_assert_eq(grove_store_changes(s, &(struct grove_store_query){0}, &page), GROVE_OK);
    cr_expect_eq(page->count, 3);
    grove_msg_free(page);
    grove_store_reader_put(s, r);
    grove_store_close(s);
}

Test(core_store_readers, reads_go_on_while_a_write_transaction_is_open, .timeout = 30)
{
    struct grove_store *s = store_inside_open(0, 0);
    cr_assert_eq(grove_store_set(s, "docs", "d1", "title", "\"one\"", 5), GROVE_OK);
    struct grove_hlc before;
    grove_store_latest(s, &before);
    /* A writer in the middle of a long transaction: its lock held, its
     * changes not committed. */
    pthread_mutex_lock(&s->lock);
    cr_assert_eq(sqlite3_exec(s->db,
                              "BEGIN IMMEDIATE; UPDATE state SET value = '\"two\"', ats = ats + 1;"
                              " INSERT INTO state SELECT tbl, 'd2', field, kind, sub, ts, c, node,"
                              " origin, src, value, inc, dec, ats + 1, ac FROM state",
                              NULL, NULL, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(s->db));
    /* Each read would wait for the lock (forever: this thread holds it)
     * were it on the writer's connection. They see the committed state. */
    char *row = NULL;
    cr_expect_eq(grove_data_get(s, "docs", "d1", &row), GROVE_OK, "%s", grove_errmsg());
    cr_expect_str_eq(row, "{\"title\":\"one\"}");
    free(row);
    struct grove_row_page *rows = NULL;
    cr_expect_eq(grove_data_list(s, &(struct grove_list_query){.table = "docs"}, &rows), GROVE_OK);
    cr_expect_eq(rows ? rows->count : 0, 1);
    grove_msg_free(rows);
    struct grove_pull_response *page = NULL;
    cr_expect_eq(grove_store_changes(s, &(struct grove_store_query){0}, &page), GROVE_OK);
    cr_expect_eq(page ? page->count : 0, 1);
    cr_expect(page && grove_hlc_compare(&page->latest_hlc, &before) == 0);
    grove_msg_free(page);
    struct grove_hlc latest;
    grove_store_latest(s, &latest);
    cr_expect_eq(grove_hlc_compare(&latest, &before), 0);
    struct grove_peer_cursors cursors;
    cr_expect_eq(grove_store_cursors_get(s, "http://peer", &cursors), GROVE_OK, "%s",
                 grove_errmsg());
    struct grove_watch *w;
    cr_assert_eq(grove_data_watch_open(
                     s, &(struct grove_watch_options){.table = "docs", .snapshot = true}, &w),
                 GROVE_OK);
    struct grove_watch_batch *batch = NULL;
    cr_expect_eq(grove_data_watch_next(w, 1000, &batch), GROVE_OK, "%s", grove_errmsg());
    cr_expect_eq(batch ? batch->count : 0, 1);
    grove_msg_free(batch);
    grove_data_watch_close(w);
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    pthread_mutex_unlock(&s->lock);
    grove_store_close(s);
}

/* ---- the pool's bound ---------------------------------------------------------- */

struct borrower {
    struct grove_store *store;
    atomic_bool got;
};

static void *borrow(void *arg)
{
    struct borrower *b = arg;
    struct store_reader *r;
    if (grove_store_reader_get(b->store, &r) == GROVE_OK) {
        atomic_store(&b->got, true);
        grove_store_reader_put(b->store, r);
    }
    return NULL;
}

Test(core_store_readers, a_read_past_the_bound_waits_for_a_reader_to_come_back, .timeout = 30)
{
    struct grove_store *s = store_inside_open(2, 0);
    struct store_reader *a, *b;
    cr_assert_eq(grove_store_reader_get(s, &a), GROVE_OK, "%s", grove_errmsg());
    cr_assert_eq(grove_store_reader_get(s, &b), GROVE_OK, "%s", grove_errmsg());
    cr_expect_neq(a, b);
    cr_expect_neq(a->db, s->db);
    struct borrower third = {.store = s};
    atomic_init(&third.got, false);
    pthread_t t;
    pthread_create(&t, NULL, borrow, &third);
    usleep(100000); /* not a timing assertion: it must not have a reader, however long */
    cr_expect_not(atomic_load(&third.got), "a third reader past a bound of 2");
    grove_store_reader_put(s, a);
    pthread_join(t, NULL);
    cr_expect(atomic_load(&third.got));
    cr_expect_eq(s->readers.open, 2);
    grove_store_reader_put(s, b);
    grove_store_close(s);
}

/* Reads pages of changes from the start, over and over, until told to stop:
 * a reader always in the middle of a snapshot or about to take one. */
struct wal_reader {
    struct grove_store *store;
    atomic_bool stop;
    atomic_int pages;
};

static void *wal_reader_main(void *arg)
{
    struct wal_reader *w = arg;
    while (!atomic_load(&w->stop)) {
        struct grove_pull_response *page = NULL;
        if (grove_store_changes(w->store, &(struct grove_store_query){.limit = 50}, &page) ==
            GROVE_OK)
            atomic_fetch_add(&w->pages, 1);
        grove_msg_free(page);
    }
    return NULL;
}

/* 3,000 commits of about 1 KiB (3 or more frames each) with a 256 KiB
 * threshold (64 frames), beside `readers` threads reading all along; the
 * frames left in the WAL after them. */
static int wal_frames_after_commits(int readers)
{
    char path[512];
    snprintf(path, sizeof path, "%s/a.db", support_dir);
    struct grove_store_options o = {
        .path = path, .node_id = "a", .schema = support_docs_schema, .checkpoint_bytes = 256 << 10};
    struct grove_store *s;
    cr_assert_eq(grove_store_open(&s, &o), GROVE_OK, "%s", grove_errmsg());
    struct wal_reader w = {.store = s};
    pthread_t threads[4];
    cr_assert_leq(readers, 4);
    for (int i = 0; i < readers; i++)
        cr_assert_eq(pthread_create(&threads[i], NULL, wal_reader_main, &w), 0);
    char value[1024];
    memset(value, 'x', sizeof value);
    value[0] = value[sizeof value - 2] = '"';
    value[sizeof value - 1] = '\0';
    for (int i = 0; i < 3000; i++) {
        char pk[32];
        snprintf(pk, sizeof pk, "row-%d", i);
        cr_assert_eq(grove_store_set(s, "docs", pk, "title", value, strlen(value)), GROVE_OK, "%s",
                     grove_errmsg());
    }
    atomic_store(&w.stop, true);
    for (int i = 0; i < readers; i++)
        pthread_join(threads[i], NULL);
    cr_expect(readers == 0 || atomic_load(&w.pages) > 0);
    /* The WAL's frames now, read by a checkpoint of our own. */
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA wal_checkpoint(PASSIVE)", -1, &st, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    int frames = sqlite3_column_int(st, 1);
    sqlite3_finalize(st);
    sqlite3_close(db);
    grove_store_close(s);
    return frames;
}

/* Checkpoints run beside the writer (core/store_checkpoint.c), and the WAL
 * still starts over: 3,000 commits leave a WAL of a few thresholds at most
 * (none at all when the last commit's round finished), fewer frames than
 * commits; one that never started over holds all of them. */
Test(core_store_readers, the_wal_is_checkpointed_and_starts_over, .timeout = 60)
{
    int frames = wal_frames_after_commits(0);
    cr_expect_lt(frames, 3000, "the WAL holds %d frames", frames);
}

/* Readers that always hold or are about to take a snapshot keep a passive
 * checkpoint from copying the WAL's last frames, so it would never start
 * over and would grow by every commit; the writer's round waits briefly for
 * them to leave it instead. */
Test(core_store_readers, the_wal_starts_over_beside_readers_that_never_stop, .timeout = 60)
{
    int frames = wal_frames_after_commits(2);
    cr_expect_lt(frames, 3000, "the WAL holds %d frames", frames);
}

Test(core_store_readers, an_in_memory_store_reads_through_its_writer)
{
    struct grove_store_options o = {
        .path = ":memory:", .node_id = "a", .schema = support_docs_schema};
    struct grove_store *s;
    cr_assert_eq(grove_store_open(&s, &o), GROVE_OK, "%s", grove_errmsg());
    cr_expect_eq(s->readers.max, 0);
    cr_assert_eq(grove_store_set(s, "docs", "d1", "title", "1", 1), GROVE_OK);
    struct grove_pull_response *page;
    cr_assert_eq(grove_store_changes(s, &(struct grove_store_query){0}, &page), GROVE_OK, "%s",
                 grove_errmsg());
    cr_expect_eq(page->count, 1);
    grove_msg_free(page);
    char *row = support_get(s, "docs", "d1");
    cr_expect_str_eq(row, "{\"title\":1}");
    free(row);
    grove_store_close(s);
}

Test(core_store_readers, no_pool_when_asked_for_none)
{
    struct grove_store *s = store_inside_open(-1, 0);
    cr_expect_eq(s->readers.max, 0);
    cr_assert_eq(grove_store_set(s, "docs", "d1", "title", "1", 1), GROVE_OK);
    char *row = support_get(s, "docs", "d1");
    cr_expect_str_eq(row, "{\"title\":1}");
    free(row);
    grove_store_close(s);
}
