#include "support.h"

#include "core/store_echo.h"
#include "core/store_internal.h"

TestSuite(core_store, .init = support_setup, .fini = support_teardown);

static void expect_row(struct grove_store *s, const char *pk, const char *want)
{
    char *doc = support_get(s, "docs", pk);
    cr_expect_str_eq(doc, want, "row %s", pk);
    free(doc);
}

Test(core_store, local_writes_resolve_each_crdt)
{
    struct grove_store *s = support_store(support_dir, "a", support_docs_schema);
    cr_assert_eq(grove_store_set(s, "docs", "d1", "title", "\"Hello\"", 7), GROVE_OK);
    cr_assert_eq(grove_store_increment(s, "docs", "d1", "views", 5), GROVE_OK);
    cr_assert_eq(grove_store_increment(s, "docs", "d1", "views", -2), GROVE_OK);
    cr_assert_eq(grove_store_set_add(s, "docs", "d1", "tags", "\"b\"", 3), GROVE_OK);
    cr_assert_eq(grove_store_set_add(s, "docs", "d1", "tags", "\"a\"", 3), GROVE_OK);
    cr_assert_eq(grove_store_set_remove(s, "docs", "d1", "tags", "\"b\"", 3), GROVE_OK);
    expect_row(s, "d1", "{\"tags\":[\"a\"],\"title\":\"Hello\",\"views\":3}");
    cr_assert_eq(grove_store_delete(s, "docs", "d1"), GROVE_OK);
    expect_row(s, "d1", "");
    /* A later write revives the row, showing only what was written after the delete. */
    cr_assert_eq(grove_store_set(s, "docs", "d1", "body", "{\"x\": [1, 2.50]}", 16), GROVE_OK);
    expect_row(s, "d1", "{\"body\":{\"x\": [1, 2.50]}}");
    grove_store_close(s);
}

Test(core_store, refuses_undeclared_and_mistyped_writes)
{
    struct grove_store *s = support_store(support_dir, "a", support_docs_schema);
    cr_expect_eq(grove_store_set(s, "secrets", "k", "f", "1", 1), GROVE_EFORBIDDEN);
    cr_expect(strstr(grove_errmsg(), "secrets") != NULL, "%s", grove_errmsg());
    cr_expect_eq(grove_store_increment(s, "docs", "d", "title", 1), GROVE_EINVAL);
    cr_expect(strstr(grove_errmsg(), "declared lww") != NULL, "%s", grove_errmsg());
    cr_expect_eq(grove_store_set(s, "docs", "d", "title", "{bad", 4), GROVE_EINVAL);
    cr_expect_eq(grove_store_set(s, "docs", "d", "nope", "1", 1), GROVE_EINVAL);
    /* A loosely typed table takes any field. */
    cr_expect_eq(grove_store_set(s, "notes", "n", "anything", "1", 1), GROVE_OK);
    grove_store_close(s);
}

Test(core_store, changes_read_back_in_arrival_order_with_pages)
{
    struct grove_store *s = support_store(support_dir, "a", support_docs_schema);
    char pk[16];
    for (int i = 0; i < 25; i++) {
        snprintf(pk, sizeof pk, "p%02d", i);
        cr_assert_eq(grove_store_set(s, "docs", pk, "title", "1", 1), GROVE_OK);
    }
    struct grove_store_query q = {.limit = 10};
    int seen = 0;
    for (int page = 0; page < 3; page++) {
        struct grove_pull_response *r;
        cr_assert_eq(grove_store_changes(s, &q, &r), GROVE_OK, "%s", grove_errmsg());
        for (size_t i = 0; i < r->count; i++, seen++) {
            snprintf(pk, sizeof pk, "p%02d", seen);
            cr_expect_str_eq(r->changes[i].pk, pk);
        }
        cr_expect_eq(r->has_more, page < 2, "page %d", page);
        cr_expect_gt(grove_hlc_compare(&r->latest_hlc, &q.since), 0);
        q.since = r->latest_hlc;
        grove_msg_free(r);
    }
    cr_expect_eq(seen, 25);
    grove_store_close(s);
}

static struct grove_change lww(const char *pk, const char *value, int64_t ts, const char *node)
{
    struct grove_change c = {.table = "docs",
                             .pk = pk,
                             .field = "title",
                             .crdt = GROVE_CRDT_LWW,
                             .node_id = node,
                             .value = {value, strlen(value)}};
    c.hlc.ts = ts;
    grove_hlc_set_node(&c.hlc, node);
    return c;
}

Test(core_store, batch_with_one_invalid_change_changes_nothing)
{
    struct grove_store *s = support_store(support_dir, "a", support_docs_schema);
    struct grove_change batch[3] = {lww("x", "1", 1000, "b"), lww("y", "2", 1000, "b"),
                                    lww("z", "3", 1000, "b")};
    batch[1].crdt = GROVE_CRDT_COUNTER; /* contradicts the declared type */
    struct grove_apply_report rep;
    cr_expect_eq(grove_store_apply(s, batch, 3, "b", &rep), GROVE_EINVAL);
    cr_expect(strstr(grove_errmsg(), "changes[1]") != NULL, "%s", grove_errmsg());
    expect_row(s, "x", "");
    struct grove_hlc latest;
    grove_store_latest(s, &latest);
    cr_expect(grove_hlc_is_zero(&latest));
    grove_store_close(s);
}

Test(core_store, future_stamps_are_rejected)
{
    struct grove_store *s = support_store(support_dir, "a", support_docs_schema);
    struct grove_hlc now;
    grove_store_now(s, &now);
    struct grove_change c = lww("x", "1", now.ts + 3600LL * 1000000000LL, "b");
    cr_expect_eq(grove_store_apply(s, &c, 1, "b", NULL), GROVE_EINVAL);
    cr_expect(strstr(grove_errmsg(), "ahead") != NULL, "%s", grove_errmsg());
    c = lww("x", "1", now.ts + 1000000000LL, "b"); /* 1 s ahead is within the drift */
    cr_expect_eq(grove_store_apply(s, &c, 1, "b", NULL), GROVE_OK, "%s", grove_errmsg());
    grove_store_close(s);
}

Test(core_store, reopen_keeps_state_clock_and_cursors)
{
    struct grove_store *s = support_store(support_dir, "a", support_docs_schema);
    cr_assert_eq(grove_store_set(s, "docs", "d", "title", "\"t\"", 3), GROVE_OK);
    struct grove_peer_cursors c = {.pull = {.ts = 42, .c = 7, .node = "hub"}, .peer_node = "hub"};
    c.push.ts = 99;
    cr_assert_eq(grove_store_cursors_set(s, "http://hub", &c), GROVE_OK);
    /* Far-future remote stamps (within drift) push the clock; it must stay there. */
    struct grove_hlc now;
    grove_store_now(s, &now);
    struct grove_change ahead = lww("e", "1", now.ts + 2000000000LL, "b");
    cr_assert_eq(grove_store_apply(s, &ahead, 1, "b", NULL), GROVE_OK);
    struct grove_hlc before;
    grove_store_latest(s, &before);
    cr_assert_gt(before.ts, now.ts + 2000000000LL - 1, "arrival did not follow the remote stamp");
    grove_store_close(s);

    s = support_store(support_dir, "a", support_docs_schema);
    expect_row(s, "d", "{\"title\":\"t\"}");
    struct grove_peer_cursors back;
    cr_assert_eq(grove_store_cursors_get(s, "http://hub", &back), GROVE_OK);
    cr_expect_eq(back.pull.ts, 42);
    cr_expect_eq(back.pull.c, 7);
    cr_expect_str_eq(back.pull.node, "hub");
    cr_expect_eq(back.push.ts, 99);
    cr_expect_str_eq(back.peer_node, "hub");
    struct grove_hlc after;
    grove_store_now(s, &after);
    cr_expect_gt(grove_hlc_compare(&after, &before), 0, "clock went backwards across reopen");
    grove_store_close(s);
}

Test(core_store, refuses_to_open_under_another_node_id)
{
    struct grove_store *s = support_store(support_dir, "a", support_docs_schema);
    grove_store_close(s);
    char path[512];
    snprintf(path, sizeof path, "%s/a.db", support_dir);
    struct grove_store_options o = {.path = path, .node_id = "b", .schema = support_docs_schema};
    cr_expect_eq(grove_store_open(&s, &o), GROVE_EINVAL);
    cr_expect(strstr(grove_errmsg(), "belongs to node \"a\"") != NULL, "%s", grove_errmsg());
}

/* SQLite alone says "unable to open database file" for both. */
Test(core_store, a_store_in_a_missing_directory_names_the_directory)
{
    char path[512], want[600];
    snprintf(path, sizeof path, "%s/missing/sub/a.db", support_dir);
    struct grove_store *s = (struct grove_store *)1;
    struct grove_store_options o = {.path = path, .node_id = "a", .schema = support_docs_schema};
    cr_assert_eq(grove_store_open(&s, &o), GROVE_ESTORE);
    cr_expect_null(s);
    snprintf(want, sizeof want,
             "cannot open store %s: store directory %s/missing/sub does not exist", path,
             support_dir);
    cr_expect_str_eq(grove_errmsg(), want);
    snprintf(path, sizeof path, "%s/missing", support_dir);
    cr_expect_neq(access(path, F_OK), 0, "opening created %s", path);

    /* A file where the directory should be. */
    snprintf(path, sizeof path, "%s/file", support_dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fclose(f);
    snprintf(path, sizeof path, "%s/file/a.db", support_dir);
    cr_assert_eq(grove_store_open(&s, &o), GROVE_ESTORE);
    snprintf(want, sizeof want, "cannot open store %s: %s/file is not a directory", path,
             support_dir);
    cr_expect_str_eq(grove_errmsg(), want);
}

Test(core_store, echo_filter_leaves_out_what_came_from_the_node_but_moves_cursor)
{
    struct grove_store *s = support_store(support_dir, "a", support_docs_schema);
    struct grove_change from_b = lww("x", "1", 1000, "b");
    struct grove_change via_b = lww("y", "1", 1000, "c");
    cr_assert_eq(grove_store_apply(s, &from_b, 1, "b", NULL), GROVE_OK);
    cr_assert_eq(grove_store_apply(s, &via_b, 1, "b", NULL), GROVE_OK);
    cr_assert_eq(grove_store_set(s, "docs", "z", "title", "1", 1), GROVE_OK);
    struct grove_store_query q = {.exclude_node = "b"};
    struct grove_pull_response *r;
    cr_assert_eq(grove_store_changes(s, &q, &r), GROVE_OK);
    cr_expect_eq(r->count, 1);
    cr_expect_str_eq(r->changes[0].pk, "z");
    struct grove_hlc latest;
    grove_store_latest(s, &latest);
    cr_expect_eq(grove_hlc_compare(&r->latest_hlc, &latest), 0);
    grove_msg_free(r);
    /* c made y, but y came from b: anyone may claim c's id, so y goes to c. */
    q.exclude_node = "c";
    cr_assert_eq(grove_store_changes(s, &q, &r), GROVE_OK);
    cr_expect_eq(r->count, 3);
    grove_msg_free(r);
    grove_store_close(s);
}

Test(core_store, a_pulled_page_commits_with_its_cursors_and_moves_a_caught_up_push_cursor)
{
    struct grove_store *s = support_store(support_dir, "a", support_docs_schema);
    struct grove_peer_cursors c = {.pull = {.ts = 5, .node = "b"}, .peer_node = "b"};
    struct grove_change page[2] = {lww("x", "1", 1000, "b"), lww("y", "2", 1000, "b")};
    cr_assert_eq(grove_store_apply_pulled(s, page, 2, "http://b", &c, NULL), GROVE_OK);
    struct grove_hlc latest;
    grove_store_latest(s, &latest);
    /* Nothing but b's page was stored since the push cursor: it moves past it. */
    cr_expect_eq(grove_hlc_compare(&c.push, &latest), 0);
    struct grove_peer_cursors stored;
    grove_store_cursors_get(s, "http://b", &stored);
    cr_expect_eq(stored.pull.ts, 5);
    cr_expect_eq(grove_hlc_compare(&stored.push, &latest), 0);

    /* A local write is pending for b: the push cursor stays before it. */
    cr_assert_eq(grove_store_set(s, "docs", "z", "title", "3", 1), GROVE_OK);
    struct grove_hlc pushed = c.push;
    c.pull.ts = 6;
    struct grove_change more = lww("w", "4", 1000, "b");
    cr_assert_eq(grove_store_apply_pulled(s, &more, 1, "http://b", &c, NULL), GROVE_OK);
    cr_expect_eq(grove_hlc_compare(&c.push, &pushed), 0);
    struct grove_store_query q = {.since = c.push, .exclude_node = "b"};
    struct grove_pull_response *r;
    cr_assert_eq(grove_store_changes(s, &q, &r), GROVE_OK);
    cr_expect_eq(r->count, 1);
    cr_expect_str_eq(r->changes[0].pk, "z");
    grove_msg_free(r);

    /* A page that fails stores neither its changes nor its cursor. */
    struct grove_peer_cursors before = c;
    c.pull.ts = 7;
    struct grove_change bad = lww("v", "5", 1000, "b");
    bad.crdt = GROVE_CRDT_COUNTER;
    cr_expect_eq(grove_store_apply_pulled(s, &bad, 1, "http://b", &c, NULL), GROVE_EINVAL);
    grove_store_cursors_get(s, "http://b", &stored);
    cr_expect_eq(stored.pull.ts, before.pull.ts);
    expect_row(s, "v", "");

    /* An empty page still moves the pull cursor. */
    c.pull.ts = 8;
    cr_assert_eq(grove_store_apply_pulled(s, NULL, 0, "http://b", &c, NULL), GROVE_OK);
    grove_store_cursors_get(s, "http://b", &stored);
    cr_expect_eq(stored.pull.ts, 8);
    grove_store_close(s);
}

/* Rows r0000..r0799 hold "1" at ts 1000; then 64 rows a `step` apart get an
 * older "2" (must lose) and the row after each a newer "3" (must win). The
 * step decides how a chunk is loaded: by its pk span, passing over the
 * neighbours in it (step 3), or by IN once the span holds too many (step 10). */
static void check_merge_into_existing_rows(int step)
{
    struct grove_store *s = support_store(support_dir, "a", support_docs_schema);
    enum { ROWS = 800 };
    static char pks[ROWS][8];
    struct grove_change *batch = calloc(ROWS, sizeof *batch);
    for (int i = 0; i < ROWS; i++) {
        snprintf(pks[i], sizeof pks[i], "r%04d", i);
        batch[i] = lww(pks[i], "\"1\"", 1000, "b");
    }
    cr_assert_eq(grove_store_apply(s, batch, ROWS, "b", NULL), GROVE_OK, "%s", grove_errmsg());
    size_t n = 0;
    for (int i = 0; i + 1 < ROWS && n + 2 <= 128; i += step) {
        batch[n++] = lww(pks[i], "\"2\"", 500, "c");
        batch[n++] = lww(pks[i + 1], "\"3\"", 2000, "c");
    }
    struct grove_apply_report rep;
    cr_assert_eq(grove_store_apply(s, batch, n, "c", &rep), GROVE_OK, "%s", grove_errmsg());
    cr_expect_eq(rep.merged, n / 2);
    for (int i = 0; i + 1 < ROWS && i / step < 64; i += step) {
        expect_row(s, pks[i], "{\"title\":\"1\"}");
        expect_row(s, pks[i + 1], "{\"title\":\"3\"}");
    }
    free(batch);
    grove_store_close(s);
}

Test(core_store, a_chunk_loaded_by_its_span_merges_with_stored_rows)
{
    check_merge_into_existing_rows(3);
}

Test(core_store, a_chunk_whose_span_holds_many_other_rows_merges_with_stored_rows)
{
    check_merge_into_existing_rows(10);
}

Test(core_store, a_push_from_a_peer_moves_that_peers_caught_up_push_cursor_only)
{
    struct grove_store *s = support_store(support_dir, "a", support_docs_schema);
    cr_assert_eq(grove_store_set(s, "docs", "mine", "title", "1", 1), GROVE_OK);
    struct grove_hlc latest;
    grove_store_latest(s, &latest);
    /* b and c are caught up. */
    struct grove_peer_cursors b = {.push = latest, .peer_node = "b"};
    struct grove_peer_cursors c = {.push = latest, .peer_node = "c"};
    cr_assert_eq(grove_store_cursors_set(s, "http://b", &b), GROVE_OK);
    cr_assert_eq(grove_store_cursors_set(s, "http://c", &c), GROVE_OK);
    struct grove_change from_b = lww("x", "2", 1000, "b");
    cr_assert_eq(grove_store_apply(s, &from_b, 1, "b", NULL), GROVE_OK);
    struct grove_hlc after;
    grove_store_latest(s, &after);
    struct grove_peer_cursors got;
    grove_store_cursors_get(s, "http://b", &got);
    cr_expect_eq(grove_hlc_compare(&got.push, &after), 0, "b's push cursor skips b's own batch");
    grove_store_cursors_get(s, "http://c", &got);
    cr_expect_eq(got.push.ts, latest.ts, "c has yet to get b's batch");
    /* Now b still has our write to get: b's next batch leaves its cursor. */
    struct grove_peer_cursors behind = {.peer_node = "b"};
    cr_assert_eq(grove_store_cursors_set(s, "http://b", &behind), GROVE_OK);
    struct grove_change again = lww("y", "3", 2000, "b");
    cr_assert_eq(grove_store_apply(s, &again, 1, "b", NULL), GROVE_OK);
    grove_store_cursors_get(s, "http://b", &got);
    cr_expect_eq(got.push.ts, 0, "a cursor with something left to send stays: %lld",
                 (long long)got.push.ts);
    grove_store_close(s);
}

Test(core_store, echoes_are_passed_over_without_filling_the_page)
{
    struct grove_store *s = support_store(support_dir, "a", support_docs_schema);
    enum { ECHOES = 100 };
    static char pks[ECHOES][8];
    struct grove_change batch[ECHOES];
    for (int i = 0; i < ECHOES; i++) {
        snprintf(pks[i], sizeof pks[i], "e%03d", i);
        batch[i] = lww(pks[i], "\"1\"", 1000, "b");
    }
    cr_assert_eq(grove_store_apply(s, batch, ECHOES, "b", NULL), GROVE_OK);
    cr_assert_eq(grove_store_set(s, "docs", "mine", "title", "1", 1), GROVE_OK);
    /* A page of 10 reaches past 100 echoes (within 16 x 10 rows) to our write. */
    struct grove_store_query q = {.limit = 10, .exclude_node = "b"};
    struct grove_pull_response *r;
    cr_assert_eq(grove_store_changes(s, &q, &r), GROVE_OK);
    cr_expect_eq(r->count, 1);
    cr_expect_eq(r->has_more, false);
    struct grove_hlc latest;
    grove_store_latest(s, &latest);
    cr_expect_eq(grove_hlc_compare(&r->latest_hlc, &latest), 0);
    grove_msg_free(r);
    /* A page of 5 may read 80 rows: it stops there, past echoes only. */
    q.limit = 5;
    cr_assert_eq(grove_store_changes(s, &q, &r), GROVE_OK);
    cr_expect_eq(r->count, 0);
    cr_expect_eq(r->has_more, true);
    q.since = r->latest_hlc;
    grove_msg_free(r);
    cr_assert_eq(grove_store_changes(s, &q, &r), GROVE_OK);
    cr_assert_eq(r->count, 1);
    cr_expect_str_eq(r->changes[0].pk, "mine");
    cr_expect_eq(r->has_more, false);
    grove_msg_free(r);
    grove_store_close(s);
}

/* The query plan SQLite makes for `sql` on the store's connection, its steps
 * joined by "; " into out. */
/* The plan of a read, on a reader's connection (where pages are read). */
static void plan_of(struct grove_store *s, const char *sql, char *out, size_t size)
{
    char explain[1024];
    snprintf(explain, sizeof explain, "EXPLAIN QUERY PLAN %s", sql);
    struct store_reader *r;
    cr_assert_eq(grove_store_reader_get(s, &r), GROVE_OK, "%s", grove_errmsg());
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(r->db, explain, -1, &st, NULL), SQLITE_OK, "%s: %s", sql,
                 sqlite3_errmsg(r->db));
    size_t n = 0;
    out[0] = '\0';
    while (sqlite3_step(st) == SQLITE_ROW && n < size)
        n += (size_t)snprintf(out + n, size - n, "%s; ", sqlite3_column_text(st, 3));
    sqlite3_finalize(st);
    grove_store_reader_put(s, r);
}

/* Every page of changes, whatever its table list and echo filter, walks the
 * arrival log from the cursor's seq and looks each entry's unit up by its
 * key: a sort would read every row the WHERE clause admits before returning
 * the first. */
static void expect_arrival_plans(struct grove_store *s)
{
    const char *tables[] = {"docs", "notes", "docs", "notes", "docs", "notes", "docs", "notes"};
    const size_t table_counts[] = {0, 1, 2, 8};
    const char *excludes[] = {NULL, "b"};
    for (size_t t = 0; t < sizeof table_counts / sizeof table_counts[0]; t++) {
        for (size_t e = 0; e < 2; e++) {
            struct grove_store_query q = {
                .tables = tables, .table_count = table_counts[t], .exclude_node = excludes[e]};
            struct grove_buf sql = {0};
            cr_assert_eq(grove_store_changes_sql(s, &q, &sql), GROVE_OK, "%s", grove_errmsg());
            char plan[1024];
            plan_of(s, sql.data, plan, sizeof plan);
            cr_expect(strstr(plan, "USE TEMP B-TREE") == NULL, "%zu tables: %s", table_counts[t],
                      plan);
            cr_expect(strstr(plan, "SEARCH a USING INTEGER PRIMARY KEY (rowid>?)") == plan,
                      "%zu tables: %s", table_counts[t], plan);
            cr_expect(strstr(plan, "SEARCH s USING PRIMARY KEY (tbl=? AND pk=? AND field=? AND"
                                   " kind=? AND sub=?)") != NULL,
                      "%zu tables: %s", table_counts[t], plan);
            grove_buf_free(&sql);
        }
    }
}

/* `count` remote lww changes to `table` from node b, one row each. */
static void apply_rows(struct grove_store *s, const char *table, const char *prefix, int count)
{
    struct grove_change *batch = calloc((size_t)count, sizeof *batch);
    char(*pks)[16] = calloc((size_t)count, sizeof *pks);
    cr_assert(batch && pks);
    for (int i = 0; i < count; i++) {
        snprintf(pks[i], sizeof pks[i], "%s%05d", prefix, i);
        batch[i] = lww(pks[i], "\"v\"", 1000, "b");
        batch[i].table = table;
    }
    cr_assert_eq(grove_store_apply(s, batch, (size_t)count, "b", NULL), GROVE_OK, "%s",
                 grove_errmsg());
    free(pks);
    free(batch);
}

Test(core_store, pages_of_changes_walk_the_arrival_log_without_sorting)
{
    struct grove_store *s = support_store(support_dir, "a", support_docs_schema);
    expect_arrival_plans(s);
    /* Statistics on a filled store must not talk the planner into a sort. */
    apply_rows(s, "docs", "d", 500);
    apply_rows(s, "notes", "n", 50);
    cr_assert_eq(sqlite3_exec(s->db, "ANALYZE", NULL, NULL, NULL), SQLITE_OK);
    expect_arrival_plans(s);
    grove_store_close(s);
}

/* One page read through the store's own statement, and what reading it cost. */
struct page_cost {
    struct grove_pull_response *page;
    int vm_steps, sorts, fullscan_steps;
};

static struct page_cost read_page(struct grove_store *s, const struct grove_store_query *q)
{
    struct page_cost cost = {0};
    struct grove_buf sql = {0};
    sqlite3_stmt *st;
    cr_assert_eq(grove_store_changes_sql(s, q, &sql), GROVE_OK, "%s", grove_errmsg());
    cr_assert_eq(grove_pull_response_new(&cost.page), GROVE_OK);
    cost.page->since = cost.page->latest_hlc = q->since;
    struct store_reader *r;
    cr_assert_eq(grove_store_reader_get(s, &r), GROVE_OK, "%s", grove_errmsg());
    cr_assert_eq(grove_store_changes_prepare(r, q, &sql, &st), GROVE_OK, "%s", grove_errmsg());
    /* A kept statement's counters run on from its earlier pages. */
    sqlite3_stmt_status(st, SQLITE_STMTSTATUS_VM_STEP, 1);
    sqlite3_stmt_status(st, SQLITE_STMTSTATUS_SORT, 1);
    sqlite3_stmt_status(st, SQLITE_STMTSTATUS_FULLSCAN_STEP, 1);
    cr_assert_eq(grove_store_changes_read(s, r, st, q, cost.page), GROVE_OK, "%s", grove_errmsg());
    cost.vm_steps = sqlite3_stmt_status(st, SQLITE_STMTSTATUS_VM_STEP, 0);
    cost.sorts = sqlite3_stmt_status(st, SQLITE_STMTSTATUS_SORT, 0);
    cost.fullscan_steps = sqlite3_stmt_status(st, SQLITE_STMTSTATUS_FULLSCAN_STEP, 0);
    grove_store_changes_done(r, st);
    grove_store_reader_put(s, r);
    grove_buf_free(&sql);
    return cost;
}

static bool names_table(const struct grove_store_query *q, const char *table)
{
    for (size_t i = 0; i < q->table_count; i++)
        if (strcmp(q->tables[i], table) == 0)
            return true;
    return false;
}

Test(core_store, a_table_filtered_page_costs_what_it_reads_not_the_whole_table)
{
    struct grove_store *s = support_store(support_dir, "a", support_docs_schema);
    enum { ROWS = 2000, PAGE = 10, SLACK = 3 };
    apply_rows(s, "docs", "d", ROWS); /* arrive first */
    apply_rows(s, "notes", "n", ROWS);
    /* The measure: an unfiltered page reads PAGE + 1 rows and skips none. */
    struct page_cost all = read_page(s, &(struct grove_store_query){.limit = PAGE});
    cr_assert_eq(all.page->count, PAGE);
    int per_row = all.vm_steps / (PAGE + 1);

    const char *docs[] = {"docs"}, *both[] = {"notes", "docs"}, *notes[] = {"notes"};
    struct {
        struct grove_store_query q;
        size_t count;
        int rows_read; /* rows the page has to pass over, skipped ones included */
    } cases[] = {
        /* docs' rows come first: the page must stop after PAGE + 1 of ROWS. */
        {{.tables = docs, .table_count = 1, .limit = PAGE}, PAGE, PAGE + 1},
        {{.tables = both, .table_count = 2, .limit = PAGE}, PAGE, PAGE + 1},
        /* Every row is b's: the page passes over PAGE * 16 echoes, not ROWS. */
        {{.tables = docs, .table_count = 1, .limit = PAGE, .exclude_node = "b"},
         0,
         PAGE * STORE_ECHO_SCAN + 1},
        /* notes' rows come after docs': the ROWS skipped ones are the cost. */
        {{.tables = notes, .table_count = 1, .limit = PAGE}, PAGE, ROWS + PAGE + 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct page_cost got = read_page(s, &cases[i].q);
        cr_expect_eq(got.page->count, cases[i].count, "case %zu", i);
        cr_expect(got.page->has_more, "case %zu", i);
        for (size_t k = 0; k < got.page->count; k++)
            cr_expect(names_table(&cases[i].q, got.page->changes[k].table), "case %zu: %s", i,
                      got.page->changes[k].table);
        cr_expect_eq(got.sorts, 0, "case %zu sorted", i);
        cr_expect_eq(got.fullscan_steps, 0, "case %zu scanned a whole table", i);
        cr_expect_leq(got.vm_steps, SLACK * per_row * cases[i].rows_read,
                      "case %zu: %d VM steps, %d per row read unfiltered", i, got.vm_steps,
                      per_row);
        grove_msg_free(got.page);
    }
    grove_msg_free(all.page);
    grove_store_close(s);
}

Test(core_store, echo_rules_name_who_a_page_or_push_leaves_out)
{
    struct grove_store *s = support_store(support_dir, "a", support_docs_schema);
    struct grove_hlc zero = {0}, later = {.ts = 5, .node = "a"};
    /* A pull from the zero cursor is not echo-filtered; nor one that names no node. */
    cr_expect_null(grove_store_echo_pull_exclude(&zero, "b"));
    cr_expect_null(grove_store_echo_pull_exclude(&later, ""));
    cr_expect_null(grove_store_echo_pull_exclude(&later, NULL));
    cr_expect_str_eq(grove_store_echo_pull_exclude(&later, "b"), "b");
    /* Received from b: an echo for b; made by b but received from c is not
     * (the origin could be claimed); a change c made travels on to b. */
    cr_expect(!grove_store_echo_is("b", "c", "b"));
    cr_expect(grove_store_echo_is("c", "b", "b"));
    cr_expect(!grove_store_echo_is("c", "d", "b"));
    cr_expect(!grove_store_echo_is("b", "", NULL));
    /* A push leaves out the peer's node once it is known. */
    struct grove_peer_cursors c = {0};
    cr_expect_null(grove_store_echo_push_exclude(&c));
    strcpy(c.peer_node, "b");
    cr_expect_str_eq(grove_store_echo_push_exclude(&c), "b");
    /* An empty store pulling from zero catches up naming no node, until cleared. */
    cr_expect_str_eq(grove_store_echo_pull_node(s, &c), "");
    cr_expect(c.catching_up);
    c.catching_up = false;
    c.pull = later;
    cr_expect_str_eq(grove_store_echo_pull_node(s, &c), "a");
    /* A store with rows of its own pulling from zero is no rebuilt replica. */
    cr_assert_eq(grove_store_set(s, "docs", "d", "title", "1", 1), GROVE_OK);
    c.pull = zero;
    cr_expect_str_eq(grove_store_echo_pull_node(s, &c), "a");
    cr_expect(!c.catching_up);
    grove_store_close(s);
}

static int pragma_int(struct grove_store *s, const char *sql)
{
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(s->db, sql, -1, &st, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    int v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* New files get 4 KiB pages (docs/design.md, "Store layout"); a file made
 * with 8 KiB pages keeps them; either checkpoints every 128 MiB of WAL. */
Test(core_store, pages_of_4_kib_and_a_checkpoint_every_128_mib)
{
    struct grove_store *s = support_store(support_dir, "a", support_docs_schema);
    cr_expect_eq(pragma_int(s, "PRAGMA page_size"), 4096);
    cr_expect_eq(s->checkpoints.threshold, 32768, "frames of 4 KiB");
    grove_store_close(s);
    char path[512];
    snprintf(path, sizeof path, "%s/old.db", support_dir);
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, "PRAGMA page_size=8192; CREATE TABLE t(x)", NULL, NULL, NULL),
                 SQLITE_OK);
    sqlite3_close(db);
    s = support_store(support_dir, "old", support_docs_schema);
    cr_expect_eq(pragma_int(s, "PRAGMA page_size"), 8192);
    cr_expect_eq(s->checkpoints.threshold, 16384, "frames of 8 KiB");
    grove_store_close(s);
}

/* A write stores its units only, and reads resolve them (docs/design.md,
 * "Store layout"): a file made when every resolved row was kept in a table
 * `rows` of its own opens without it, and reads the same rows from its
 * units whatever that table held. */
Test(core_store, an_older_file_drops_its_resolved_rows_and_reads_them_from_units)
{
    struct grove_store *s = support_store(support_dir, "a", support_docs_schema);
    cr_assert_eq(grove_store_set(s, "docs", "d1", "title", "\"one\"", 5), GROVE_OK);
    cr_assert_eq(grove_store_increment(s, "docs", "d1", "views", 2), GROVE_OK);
    cr_assert_eq(grove_store_set(s, "docs", "d2", "title", "\"two\"", 5), GROVE_OK);
    cr_assert_eq(grove_store_delete(s, "docs", "d2"), GROVE_OK);
    cr_expect_eq(pragma_int(s, "SELECT count(*) FROM sqlite_master WHERE name = 'rows'"), 0);
    grove_store_close(s);
    support_sql_on_store_file(support_dir, "a",
                              "CREATE TABLE rows(tbl TEXT NOT NULL, pk TEXT NOT NULL,"
                              " doc TEXT NOT NULL, PRIMARY KEY(tbl, pk)) WITHOUT ROWID;"
                              "INSERT INTO rows VALUES('docs', 'd1', '{\"stale\":1}'),"
                              " ('docs', 'd2', '{\"stale\":2}')");
    s = support_store(support_dir, "a", support_docs_schema);
    cr_expect_eq(pragma_int(s, "SELECT count(*) FROM sqlite_master WHERE name = 'rows'"), 0);
    expect_row(s, "d1", "{\"title\":\"one\",\"views\":2}");
    expect_row(s, "d2", "");
    struct grove_row_page *page = NULL;
    cr_assert_eq(grove_data_list(s, &(struct grove_list_query){.table = "docs"}, &page), GROVE_OK,
                 "%s", grove_errmsg());
    cr_expect_eq(page->count, 1);
    cr_expect_str_eq(page->rows[0].pk, "d1");
    grove_msg_free(page);
    grove_store_close(s);
}

/* Pages of rows walk the state in pk order, passing over deleted rows, and
 * say there are more only when a visible row follows. */
Test(core_store, pages_of_rows_resolve_units_in_pk_order_and_pass_over_deleted_rows)
{
    struct grove_store *s = support_store(support_dir, "a", support_docs_schema);
    char pk[16];
    for (int i = 0; i < 9; i++) {
        snprintf(pk, sizeof pk, "p%d", i);
        cr_assert_eq(grove_store_set(s, "docs", pk, "title", "\"t\"", 3), GROVE_OK);
        cr_assert_eq(grove_store_increment(s, "docs", pk, "views", i), GROVE_OK);
        if (i % 3 == 1 || i == 8)
            cr_assert_eq(grove_store_delete(s, "docs", pk), GROVE_OK);
    }
    const char *want[] = {"p0", "p2", "p3", "p5", "p6"};
    size_t seen = 0;
    struct grove_list_query q = {.table = "docs", .limit = 2};
    char after[16] = "";
    for (int round = 0; round < 3; round++) {
        struct grove_row_page *page = NULL;
        q.after = after;
        cr_assert_eq(grove_data_list(s, &q, &page), GROVE_OK, "%s", grove_errmsg());
        for (size_t i = 0; i < page->count && seen < 5; i++, seen++) {
            cr_expect_str_eq(page->rows[i].pk, want[seen]);
            char doc[64];
            snprintf(doc, sizeof doc, "{\"title\":\"t\",\"views\":%c}", want[seen][1]);
            cr_expect_eq(page->rows[i].row.len, strlen(doc));
            cr_expect(memcmp(page->rows[i].row.ptr, doc, strlen(doc)) == 0, "%s",
                      page->rows[i].row.ptr);
        }
        /* The last page ends at p6: p7 and p8 are deleted. */
        cr_expect_eq(page->next != NULL, round < 2, "page %d", round);
        if (page->next)
            snprintf(after, sizeof after, "%s", page->next);
        grove_msg_free(page);
    }
    cr_expect_eq(seen, 5);
    struct store_reader *r;
    cr_assert_eq(grove_store_reader_get(s, &r), GROVE_OK);
    char plan[1024];
    plan_of(s, sqlite3_sql(r->list_rows), plan, sizeof plan);
    grove_store_reader_put(s, r);
    cr_expect(strstr(plan, "USE TEMP B-TREE") == NULL, "%s", plan);
    cr_expect(strstr(plan, "USING PRIMARY KEY") != NULL, "%s", plan);
    grove_store_close(s);
}
