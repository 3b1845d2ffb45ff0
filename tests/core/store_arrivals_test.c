/* The arrival log: pages walk it from a cursor's seq and pass over stale
 * entries, the sweep drops those, and an older file's arrival index becomes
 * a log. */
#include <time.h>

#include "store_inside.h"

TestSuite(core_store_arrivals, .init = support_setup, .fini = support_teardown);

static int64_t count_of(struct grove_store *s, const char *sql)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(s->db, sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql,
                 sqlite3_errmsg(s->db));
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s", sql);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return n;
}

/* An entry of `arrivals` whose unit has been written again since. */
#define STALE                                                                                      \
    "NOT EXISTS(SELECT 1 FROM state s WHERE s.tbl = arrivals.tbl AND s.pk = arrivals.pk AND"       \
    " s.field = arrivals.field AND s.kind = arrivals.kind AND s.sub = arrivals.sub AND"            \
    " s.ats = arrivals.ats AND s.ac = arrivals.ac)"
static const char stale_sql[] = "SELECT count(*) FROM arrivals WHERE " STALE;

/* Writes title = round into rows first..first+count-1, one batch. */
static void write_titles(struct grove_store *s, int first, int count, int round)
{
    struct grove_change *batch = calloc((size_t)count, sizeof *batch);
    char(*pks)[16] = calloc((size_t)count, sizeof *pks);
    char value[16];
    snprintf(value, sizeof value, "%d", round);
    cr_assert(batch && pks);
    for (int i = 0; i < count; i++) {
        snprintf(pks[i], sizeof pks[i], "r%05d", first + i);
        batch[i] = (struct grove_change){
            .table = "docs",
            .pk = pks[i],
            .field = "title",
            .crdt = GROVE_CRDT_LWW,
            .value = {value, strlen(value)},
            .hlc = {.ts = 1000 + round},
            .node_id = "b",
        };
        grove_hlc_set_node(&batch[i].hlc, "b");
    }
    cr_assert_eq(grove_store_apply(s, batch, (size_t)count, "b", NULL), GROVE_OK, "%s",
                 grove_errmsg());
    free(pks);
    free(batch);
}

/* Every change from `since` on, page by page: the pks in order, and the
 * cursor each change left. */
struct read_all {
    char (*pks)[16];
    char (*values)[16];
    struct grove_hlc *after;
    size_t count;
};

static struct read_all read_from(struct grove_store *s, struct grove_hlc since, size_t limit)
{
    struct read_all all = {0};
    size_t cap = 0;
    for (;;) {
        struct grove_store_query q = {.since = since, .limit = limit};
        struct grove_pull_response *page;
        cr_assert_eq(grove_store_changes(s, &q, &page), GROVE_OK, "%s", grove_errmsg());
        for (size_t i = 0; i < page->count; i++) {
            if (all.count == cap) {
                cap = cap ? 2 * cap : 256;
                all.pks = realloc(all.pks, cap * sizeof *all.pks);
                all.values = realloc(all.values, cap * sizeof *all.values);
                all.after = realloc(all.after, cap * sizeof *all.after);
                cr_assert(all.pks && all.values && all.after);
            }
            snprintf(all.pks[all.count], sizeof all.pks[0], "%s", page->changes[i].pk);
            snprintf(all.values[all.count], sizeof all.values[0], "%.*s",
                     (int)page->changes[i].value.len, page->changes[i].value.ptr);
            all.count++;
        }
        bool more = page->has_more;
        since = page->latest_hlc;
        if (all.count)
            all.after[all.count - 1] = since;
        grove_msg_free(page);
        if (!more)
            return all;
    }
}

static void read_all_free(struct read_all *all)
{
    free(all->pks);
    free(all->values);
    free(all->after);
}

Test(core_store_arrivals, a_unit_written_again_is_read_once_at_its_newest_arrival)
{
    struct grove_store *s = support_store(support_dir, "a", support_docs_schema);
    write_titles(s, 0, 300, 1);
    write_titles(s, 100, 50, 2); /* r00100..r00149 again */
    write_titles(s, 120, 10, 3); /* r00120..r00129 a third time */
    cr_expect_eq(count_of(s, "SELECT count(*) FROM arrivals"), 360);
    cr_expect_eq(count_of(s, stale_sql), 60);
    struct read_all all = read_from(s, (struct grove_hlc){0}, 32);
    cr_assert_eq(all.count, 300);
    /* Rows written once first, in their order, then those written twice,
     * then those written three times: each at its newest write. */
    int want[300], rounds[300], n = 0;
    for (int round = 1; round <= 3; round++)
        for (int row = 0; row < 300; row++) {
            int last = row >= 120 && row < 130 ? 3 : row >= 100 && row < 150 ? 2 : 1;
            if (last == round) {
                want[n] = row;
                rounds[n++] = round;
            }
        }
    for (size_t i = 0; i < all.count; i++) {
        char pk[16], value[16];
        snprintf(pk, sizeof pk, "r%05d", want[i]);
        snprintf(value, sizeof value, "%d", rounds[i]);
        cr_expect_str_eq(all.pks[i], pk, "change %zu", i);
        cr_expect_str_eq(all.values[i], value, "change %zu", i);
    }
    read_all_free(&all);
    grove_store_close(s);
}

/* From every stamp in the log, stale entries' included, and with the gaps
 * the sweep leaves, a page starts right after that stamp. */
Test(core_store_arrivals, a_cursor_anywhere_in_a_log_with_gaps_starts_right_after_itself)
{
    struct grove_store *s = support_store(support_dir, "a", support_docs_schema);
    write_titles(s, 0, 200, 1);
    write_titles(s, 50, 60, 2);
    write_titles(s, 0, 10, 3);
    write_titles(s, 190, 10, 4);
    struct grove_hlc stamps[300];
    size_t n = store_inside_log_stamps(s, stamps, 300);
    cr_assert_eq(n, 280);
    /* Gaps: the stale entries dropped, as the sweep does. */
    pthread_mutex_lock(&s->lock);
    cr_assert_eq(sqlite3_exec(s->db, "DELETE FROM arrivals WHERE " STALE, NULL, NULL, NULL),
                 SQLITE_OK);
    pthread_mutex_unlock(&s->lock);
    cr_assert_eq(count_of(s, "SELECT count(*) FROM arrivals"), 200);
    /* One change a page: each change's own cursor. */
    struct read_all one = read_from(s, (struct grove_hlc){0}, 1);
    cr_assert_eq(one.count, 200);
    for (size_t k = 0; k < n; k++) {
        struct read_all rest = read_from(s, stamps[k], 7);
        size_t first = 0;
        while (first < one.count && grove_hlc_compare(&one.after[first], &stamps[k]) <= 0)
            first++;
        cr_expect_eq(rest.count, one.count - first, "from stamp %zu: %zu changes, not %zu", k,
                     rest.count, one.count - first);
        for (size_t i = 0; i < rest.count && first + i < one.count; i++)
            cr_expect_str_eq(rest.pks[i], one.pks[first + i], "from stamp %zu, change %zu", k, i);
        read_all_free(&rest);
    }
    /* A cursor past the newest entry reads nothing. */
    struct grove_hlc ahead = one.after[one.count - 1];
    ahead.c++;
    struct read_all none = read_from(s, ahead, 10);
    cr_expect_eq(none.count, 0);
    read_all_free(&none);
    read_all_free(&one);
    grove_store_close(s);
}

Test(core_store_arrivals, the_sweep_drops_stale_entries_after_writes_pause, .timeout = 60)
{
    struct grove_store *s = support_store(support_dir, "a", support_docs_schema);
    write_titles(s, 0, 3000, 1);
    struct read_all before = read_from(s, (struct grove_hlc){0}, 1000);
    write_titles(s, 0, 3000, 2); /* every entry of the first write goes stale */
    cr_expect_eq(count_of(s, "SELECT count(*) FROM arrivals"), 6000);
    /* Two entries examined per stale one: the whole first write's 3,000,
     * once writes have paused. */
    int64_t stale = 0;
    for (int i = 0; i < 200 && (stale = count_of(s, stale_sql)) > 0; i++)
        nanosleep(&(struct timespec){0, 50 * 1000000L}, NULL);
    cr_expect_eq(stale, 0);
    cr_expect_eq(count_of(s, "SELECT count(*) FROM arrivals"), 3000);
    /* Where the round got to is kept for a restart. */
    cr_expect_gt(count_of(s, "SELECT count(*) FROM meta WHERE key = 'arrivals_swept'"), 0);
    struct read_all after = read_from(s, (struct grove_hlc){0}, 1000);
    cr_assert_eq(after.count, 3000);
    for (size_t i = 0; i < after.count; i++) {
        cr_expect_str_eq(after.pks[i], before.pks[i], "change %zu", i);
        cr_expect_str_eq(after.values[i], "2", "change %zu", i);
    }
    read_all_free(&before);
    read_all_free(&after);
    grove_store_close(s);
}

/* Closes s, runs sql on its file (to leave it as an older groved would
 * have), and opens it again: the older index is gone, and the log holds
 * `entries`. */
static struct grove_store *reopen_after(struct grove_store *s, const char *sql, int64_t entries)
{
    grove_store_close(s);
    support_sql_on_store_file(support_dir, "a", sql);
    s = support_store(support_dir, "a", support_docs_schema);
    cr_expect_eq(count_of(s, "SELECT count(*) FROM sqlite_master WHERE name = 'state_arrival'"), 0);
    cr_expect_eq(count_of(s, "SELECT count(*) FROM arrivals"), entries);
    return s;
}

/* A file of an earlier groved indexed state by arrival stamp: opened, it
 * gets a log in the same order, and pages read as they did. */
Test(core_store_arrivals, an_older_files_arrival_index_becomes_the_log)
{
    struct grove_store *s = support_store(support_dir, "a", support_docs_schema);
    write_titles(s, 0, 100, 1);
    write_titles(s, 40, 20, 2);
    cr_assert_eq(grove_store_increment(s, "docs", "r00010", "views", 3), GROVE_OK);
    struct read_all before = read_from(s, (struct grove_hlc){0}, 1);
    cr_assert_eq(before.count, 101);
    s = reopen_after(s,
                     "DROP TABLE arrivals; DELETE FROM meta WHERE key = 'arrivals_swept';"
                     "CREATE UNIQUE INDEX state_arrival ON state(ats, ac)",
                     101);
    struct read_all after = read_from(s, (struct grove_hlc){0}, 1);
    cr_assert_eq(after.count, before.count);
    for (size_t i = 0; i < after.count; i++) {
        cr_expect_str_eq(after.pks[i], before.pks[i], "change %zu", i);
        cr_expect_eq(grove_hlc_compare(&after.after[i], &before.after[i]), 0, "change %zu", i);
    }
    /* And from a cursor in the middle. */
    struct read_all rest = read_from(s, before.after[49], 10);
    cr_expect_eq(rest.count, 51);
    if (rest.count)
        cr_expect_str_eq(rest.pks[0], before.pks[50]);
    /* New writes go on after the old ones. */
    write_titles(s, 0, 1, 3);
    struct read_all newest = read_from(s, before.after[100], 10);
    cr_expect_eq(newest.count, 1);
    read_all_free(&before);
    read_all_free(&after);
    read_all_free(&rest);
    read_all_free(&newest);
    grove_store_close(s);
}

/* An older groved opened a file that has the log: it made its index again
 * and wrote units the log does not know. The next open makes the log afresh
 * from the index: every unit at its stamp, the older groved's last. */
Test(core_store_arrivals, a_file_an_older_groved_wrote_to_gets_its_log_made_afresh)
{
    struct grove_store *s = support_store(support_dir, "a", support_docs_schema);
    write_titles(s, 0, 50, 1);
    write_titles(s, 10, 10, 2);
    struct read_all before = read_from(s, (struct grove_hlc){0}, 1);
    cr_assert_eq(before.count, 50);
    s = reopen_after(
        s,
        "CREATE UNIQUE INDEX state_arrival ON state(ats, ac);"
        "INSERT INTO state SELECT tbl, 'z-older', field, kind, sub, ts, c, node, origin, src,"
        " value, inc, dec, (SELECT max(ats) FROM state) + 1, 0 FROM state WHERE pk = 'r00000'",
        51);
    struct read_all after = read_from(s, (struct grove_hlc){0}, 7);
    cr_assert_eq(after.count, 51);
    for (size_t i = 0; i < before.count; i++)
        cr_expect_str_eq(after.pks[i], before.pks[i], "change %zu", i);
    cr_expect_str_eq(after.pks[50], "z-older");
    read_all_free(&before);
    read_all_free(&after);
    grove_store_close(s);
}
