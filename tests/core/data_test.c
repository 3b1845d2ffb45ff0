/* The Data API over one store (core/data.c, core/data_read.c): writes of
 * many fields and rows, their checks, idempotency, group commit from many
 * threads, lists and watches. The surfaces (HTTP, gRPC, grovectl) have
 * tests of their own against running nodes. */
#include <pthread.h>

#include "support.h"

TestSuite(core_data, .init = support_setup, .fini = support_teardown);

#define S(text) ((struct grove_slice){text, sizeof text - 1})

static char *row_of(struct grove_store *s, const char *table, const char *pk)
{
    char *row = NULL;
    grove_err err = grove_data_get(s, table, pk, &row);
    if (err == GROVE_ENOTFOUND)
        return strdup("(absent)");
    cr_assert_eq(err, GROVE_OK, "get %s/%s: %s", table, pk, grove_errmsg());
    return row;
}

#define expect_row(s, pk, want)                                                                    \
    do {                                                                                           \
        char *got_ = row_of((s), "docs", (pk));                                                    \
        cr_expect_str_eq(got_, (want), "docs/%s", (pk));                                           \
        free(got_);                                                                                \
    } while (0)

static grove_err write_row(struct grove_store *s, const char *pk,
                           const struct grove_field_write *fields, size_t n, const char *key,
                           struct grove_hlc *hlc)
{
    struct grove_row_write row = {.table = "docs", .pk = pk, .fields = fields, .field_count = n};
    struct grove_write w = {.rows = &row, .row_count = 1, .idempotency_key = key};
    return grove_data_write(s, &w, hlc);
}

Test(core_data, one_write_sets_every_kind_of_field_with_one_hlc)
{
    struct grove_store *s = support_store(support_dir, "a", support_docs_schema);
    struct grove_slice tags[] = {S("\"red\""), S("\"blue\""), S("\"green\"")};
    struct grove_field_write f[] = {
        {.field = "title", .value = S("\"Hello\"")},
        {.field = "views", .delta = 5},
        {.field = "tags", .add = tags, .add_count = 3},
    };
    struct grove_hlc hlc;
    cr_assert_eq(write_row(s, "d 1/x", f, 3, NULL, &hlc), GROVE_OK, "%s", grove_errmsg());
    expect_row(s, "d 1/x", "{\"tags\":[\"blue\",\"green\",\"red\"],\"title\":\"Hello\",\"views\":5}");
    cr_expect_str_eq(hlc.node, "a");
    /* Every record of the write carries that one HLC. */
    struct grove_store_query q = {0};
    struct grove_pull_response *page;
    cr_assert_eq(grove_store_changes(s, &q, &page), GROVE_OK);
    cr_assert_eq(page->count, 5);
    for (size_t i = 0; i < page->count; i++)
        cr_expect_eq(grove_hlc_compare(&page->changes[i].hlc, &hlc), 0, "change %zu", i);
    grove_msg_free(page);

    struct grove_slice red = S("\"red\"");
    struct grove_field_write more[] = {{.field = "views", .delta = 2},
                                       {.field = "tags", .remove = &red, .remove_count = 1}};
    cr_assert_eq(write_row(s, "d 1/x", more, 2, NULL, NULL), GROVE_OK);
    expect_row(s, "d 1/x", "{\"tags\":[\"blue\",\"green\"],\"title\":\"Hello\",\"views\":7}");
    struct grove_field_write down = {.field = "views", .delta = -10};
    cr_assert_eq(write_row(s, "d 1/x", &down, 1, NULL, NULL), GROVE_OK);
    expect_row(s, "d 1/x", "{\"tags\":[\"blue\",\"green\"],\"title\":\"Hello\",\"views\":-3}");
    grove_store_close(s);
}

Test(core_data, delete_then_a_later_write_revives)
{
    struct grove_store *s = support_store(support_dir, "a", support_docs_schema);
    struct grove_field_write title = {.field = "title", .value = S("1")};
    cr_assert_eq(write_row(s, "d", &title, 1, NULL, NULL), GROVE_OK);
    struct grove_row_write del = {.table = "docs", .pk = "d", .delete_row = true};
    struct grove_write w = {.rows = &del, .row_count = 1};
    cr_assert_eq(grove_data_write(s, &w, NULL), GROVE_OK);
    expect_row(s, "d", "(absent)");
    char *row;
    cr_expect_eq(grove_data_get(s, "docs", "d", &row), GROVE_ENOTFOUND);
    struct grove_field_write body = {.field = "body", .value = S("[1]")};
    cr_assert_eq(write_row(s, "d", &body, 1, NULL, NULL), GROVE_OK);
    expect_row(s, "d", "{\"body\":[1]}");
    grove_store_close(s);
}

/* Each bad write is refused with its place named, and nothing of it (nor of
 * the rows beside it) is stored. */
Test(core_data, bad_writes_are_located_and_change_nothing)
{
    struct grove_store *s = support_store(support_dir, "a", support_docs_schema);
    struct grove_slice el = S("\"x\"");
    struct grove_field_write ok = {.field = "title", .value = S("1")};
    const struct {
        struct grove_field_write field;
        grove_err err;
        const char *says;
    } bad[] = {
        {{.field = "nope", .value = S("1")}, GROVE_EINVAL, "field \"nope\": not declared"},
        {{.field = "views", .crdt = GROVE_CRDT_LWW, .value = S("1")},
         GROVE_EINVAL,
         "declared counter, written as lww"},
        {{.field = "title", .value = S("{bad")}, GROVE_EINVAL, "field \"title\""},
        {{.field = "title"}, GROVE_EINVAL, "field \"title\": missing"},
        {{.field = "tags"}, GROVE_EINVAL, "adds or removes"},
        {{.field = "tags", .add = &el, .add_count = 1, .remove = &el, .remove_count = 1},
         GROVE_EINVAL,
         "remove[0] is also added"},
        {{.field = "_tombstone", .value = S("1")}, GROVE_EINVAL, "reserved"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct grove_field_write fields[] = {ok, bad[i].field};
        struct grove_row_write rows[] = {
            {.table = "docs", .pk = "fine", .fields = &ok, .field_count = 1},
            {.table = "docs", .pk = "p", .fields = fields, .field_count = 2},
        };
        struct grove_write w = {.rows = rows, .row_count = 2};
        cr_expect_eq(grove_data_write(s, &w, NULL), bad[i].err, "case %zu: %s", i, grove_errmsg());
        cr_expect(strstr(grove_errmsg(), "rows[1]: ") == grove_errmsg(), "case %zu: %s", i,
                  grove_errmsg());
        cr_expect(strstr(grove_errmsg(), bad[i].says) != NULL, "case %zu: %s", i, grove_errmsg());
    }
    struct grove_row_write other = {.table = "secrets", .pk = "k", .fields = &ok, .field_count = 1};
    struct grove_write w = {.rows = &other, .row_count = 1};
    cr_expect_eq(grove_data_write(s, &w, NULL), GROVE_EFORBIDDEN);
    struct grove_row_write twice[] = {
        {.table = "docs", .pk = "p", .fields = &ok, .field_count = 1},
        {.table = "docs", .pk = "p", .fields = &ok, .field_count = 1},
    };
    w = (struct grove_write){.rows = twice, .row_count = 2};
    cr_expect_eq(grove_data_write(s, &w, NULL), GROVE_EINVAL);
    cr_expect(strstr(grove_errmsg(), "the same row") != NULL, "%s", grove_errmsg());
    struct grove_row_write del_fields = {
        .table = "docs", .pk = "p", .delete_row = true, .fields = &ok, .field_count = 1};
    w = (struct grove_write){.rows = &del_fields, .row_count = 1};
    cr_expect_eq(grove_data_write(s, &w, NULL), GROVE_EINVAL);
    struct grove_field_write huge = {.field = "views", .delta = INT64_MAX};
    cr_assert_eq(write_row(s, "c", &huge, 1, NULL, NULL), GROVE_OK);
    cr_expect_eq(write_row(s, "c", &huge, 1, NULL, NULL), GROVE_EINVAL);
    cr_expect(strstr(grove_errmsg(), "overflow") != NULL, "%s", grove_errmsg());

    expect_row(s, "fine", "(absent)");
    expect_row(s, "p", "(absent)");
    struct grove_store_query q = {0};
    struct grove_pull_response *page;
    cr_assert_eq(grove_store_changes(s, &q, &page), GROVE_OK);
    cr_expect_eq(page->count, 1, "only the first counter write is stored");
    grove_msg_free(page);
    grove_store_close(s);
}

Test(core_data, a_table_without_fields_takes_the_written_kind)
{
    struct grove_store *s = support_store(support_dir, "a", support_docs_schema);
    struct grove_slice el = S("2");
    struct grove_field_write f[] = {
        {.field = "any", .value = S("{\"k\":1}")},
        {.field = "hits", .crdt = GROVE_CRDT_COUNTER, .delta = 3},
        {.field = "set", .crdt = GROVE_CRDT_SET, .add = &el, .add_count = 1},
    };
    struct grove_row_write row = {.table = "notes", .pk = "n", .fields = f, .field_count = 3};
    struct grove_write w = {.rows = &row, .row_count = 1};
    cr_assert_eq(grove_data_write(s, &w, NULL), GROVE_OK, "%s", grove_errmsg());
    char *got = row_of(s, "notes", "n");
    cr_expect_str_eq(got, "{\"any\":{\"k\":1},\"hits\":3,\"set\":[2]}");
    free(got);
    grove_store_close(s);
}

/* A retried write changes nothing and answers the first HLC; the key with
 * another write is a conflict. The key survives a restart. */
Test(core_data, idempotency_key_makes_a_retry_harmless)
{
    struct grove_store *s = support_store(support_dir, "a", support_docs_schema);
    struct grove_field_write inc = {.field = "views", .delta = 1};
    struct grove_hlc first, again;
    cr_assert_eq(write_row(s, "d", &inc, 1, "req-1", &first), GROVE_OK);
    cr_assert_eq(write_row(s, "d", &inc, 1, "req-1", &again), GROVE_OK);
    cr_expect_eq(grove_hlc_compare(&first, &again), 0);
    expect_row(s, "d", "{\"views\":1}");
    struct grove_field_write inc2 = {.field = "views", .delta = 2};
    cr_expect_eq(write_row(s, "d", &inc2, 1, "req-1", NULL), GROVE_ECONFLICT);
    cr_expect(strstr(grove_errmsg(), "req-1") != NULL, "%s", grove_errmsg());
    grove_store_close(s);
    s = support_store(support_dir, "a", support_docs_schema);
    cr_assert_eq(write_row(s, "d", &inc, 1, "req-1", &again), GROVE_OK);
    cr_expect_eq(grove_hlc_compare(&first, &again), 0);
    cr_assert_eq(write_row(s, "d", &inc, 1, "req-2", NULL), GROVE_OK);
    expect_row(s, "d", "{\"views\":2}");
    grove_store_close(s);
}

struct writer {
    struct grove_store *store;
    int id;
    int writes;
    grove_err err;
};

static void *writer_run(void *arg)
{
    struct writer *w = arg;
    char pk[32];
    for (int i = 0; i < w->writes && !w->err; i++) {
        struct grove_field_write f[] = {{.field = "views", .delta = 1},
                                        {.field = "title", .value = S("\"w\"")}};
        snprintf(pk, sizeof pk, "own-%d", w->id);
        /* one row all writers share, one of this writer's own */
        w->err = write_row(w->store, "shared", f, 1, NULL, NULL);
        if (!w->err)
            w->err = write_row(w->store, pk, f, 2, NULL, NULL);
    }
    return NULL;
}

/* Sixteen threads writing at once: every increment counts (the group's
 * writes see each other's running totals), none is lost. */
Test(core_data, concurrent_writers_share_commits_and_lose_nothing)
{
    struct grove_store *s = support_store(support_dir, "a", support_docs_schema);
    enum { THREADS = 16, WRITES = 50 };
    struct writer w[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct writer){s, i, WRITES, GROVE_OK};
        pthread_create(&t[i], NULL, writer_run, &w[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        cr_expect_eq(w[i].err, GROVE_OK, "writer %d", i);
    }
    char want[64];
    snprintf(want, sizeof want, "{\"views\":%d}", THREADS * WRITES);
    expect_row(s, "shared", want);
    snprintf(want, sizeof want, "{\"title\":\"w\",\"views\":%d}", WRITES);
    for (int i = 0; i < THREADS; i++) {
        char pk[32];
        snprintf(pk, sizeof pk, "own-%d", i);
        expect_row(s, pk, want);
    }
    grove_store_close(s);
}

static void put(struct grove_store *s, const char *pk)
{
    struct grove_field_write f = {.field = "title", .value = S("1")};
    cr_assert_eq(write_row(s, pk, &f, 1, NULL, NULL), GROVE_OK, "%s", grove_errmsg());
}

Test(core_data, list_pages_in_pk_byte_order_with_a_prefix)
{
    struct grove_store *s = support_store(support_dir, "a", support_docs_schema);
    const char *pks[] = {"b/2", "a", "b/1", "b\xc3\xbf", "b/10", "c", "b", "\xf4\x8f\xbf\xbf"};
    for (size_t i = 0; i < sizeof pks / sizeof pks[0]; i++)
        put(s, pks[i]);
    struct grove_list_query q = {.table = "docs", .prefix = "b/", .limit = 2};
    struct grove_row_page *page;
    cr_assert_eq(grove_data_list(s, &q, &page), GROVE_OK);
    cr_assert_eq(page->count, 2);
    cr_expect_str_eq(page->rows[0].pk, "b/1");
    cr_expect_str_eq(page->rows[1].pk, "b/10");
    cr_expect_eq(page->rows[0].row.len, strlen("{\"title\":1}"));
    cr_assert_not_null(page->next);
    cr_expect_str_eq(page->next, "b/10");
    q.after = "b/10";
    struct grove_row_page *last;
    cr_assert_eq(grove_data_list(s, &q, &last), GROVE_OK);
    cr_assert_eq(last->count, 1);
    cr_expect_str_eq(last->rows[0].pk, "b/2");
    cr_expect_null(last->next);
    grove_msg_free(last);
    grove_msg_free(page);

    q = (struct grove_list_query){.table = "docs", .prefix = "\xf4\x8f"};
    cr_assert_eq(grove_data_list(s, &q, &page), GROVE_OK);
    cr_expect_eq(page->count, 1);
    grove_msg_free(page);
    q.prefix = "\xff"; /* no pk holds it, and its range has no upper end */
    cr_assert_eq(grove_data_list(s, &q, &page), GROVE_OK);
    cr_expect_eq(page->count, 0);
    grove_msg_free(page);
    q = (struct grove_list_query){.table = "docs"};
    cr_assert_eq(grove_data_list(s, &q, &page), GROVE_OK);
    cr_expect_eq(page->count, 8);
    cr_expect_str_eq(page->rows[0].pk, "a");
    cr_expect_str_eq(page->rows[7].pk, "\xf4\x8f\xbf\xbf");
    grove_msg_free(page);
    q.limit = GROVE_DATA_LIST_MAX + 1;
    cr_expect_eq(grove_data_list(s, &q, &page), GROVE_EINVAL);
    q = (struct grove_list_query){.table = "secrets"};
    cr_expect_eq(grove_data_list(s, &q, &page), GROVE_EFORBIDDEN);
    grove_store_close(s);
}

/* Events of one wait, as "pk=row" lines (or "pk deleted"). */
static struct grove_watch_batch *next_events(struct grove_watch *w, char *out, size_t cap)
{
    struct grove_watch_batch *b;
    cr_assert_eq(grove_data_watch_next(w, 2000, &b), GROVE_OK, "%s", grove_errmsg());
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < b->count; i++) {
        const struct grove_row_event *e = &b->events[i];
        len += (size_t)snprintf(out + len, cap - len, "%s%s%s%.*s", i ? " " : "", e->pk,
                                e->deleted ? " deleted" : "=", (int)e->row.len,
                                e->row.ptr ? e->row.ptr : "");
    }
    return b;
}

Test(core_data, watch_sends_each_changed_row_once_and_resumes_without_gap_or_repeat)
{
    struct grove_store *s = support_store(support_dir, "a", support_docs_schema);
    put(s, "before");
    struct grove_watch_options o = {.table = "docs", .prefix = "p"};
    struct grove_watch *w;
    cr_assert_eq(grove_data_watch_open(s, &o, &w), GROVE_OK);
    struct grove_watch_batch *b;
    cr_expect_eq(grove_data_watch_next(w, 50, &b), GROVE_ETIMEOUT, "nothing new yet");

    put(s, "p1");
    put(s, "p2");
    put(s, "x-other"); /* outside the prefix */
    struct grove_field_write f = {.field = "views", .delta = 4};
    cr_assert_eq(write_row(s, "p1", &f, 1, NULL, NULL), GROVE_OK);
    char text[512];
    b = next_events(w, text, sizeof text);
    cr_expect_str_eq(text, "p2={\"title\":1} p1={\"title\":1,\"views\":4}");
    char mid[GROVE_DATA_CURSOR_MAX];
    memcpy(mid, b->events[0].cursor, sizeof mid);
    grove_msg_free(b);
    struct grove_row_write del = {.table = "docs", .pk = "p2", .delete_row = true};
    struct grove_write dw = {.rows = &del, .row_count = 1};
    cr_assert_eq(grove_data_write(s, &dw, NULL), GROVE_OK);
    b = next_events(w, text, sizeof text);
    cr_expect_str_eq(text, "p2 deleted");
    grove_msg_free(b);
    grove_data_watch_close(w);

    /* Resumed after the first event: what came after it, nothing before. */
    o.since = mid;
    cr_assert_eq(grove_data_watch_open(s, &o, &w), GROVE_OK);
    b = next_events(w, text, sizeof text);
    cr_expect_str_eq(text, "p1={\"title\":1,\"views\":4} p2 deleted");
    grove_msg_free(b);
    grove_data_watch_close(w);

    o.since = "12x";
    cr_expect_eq(grove_data_watch_open(s, &o, &w), GROVE_EINVAL);
    cr_expect(strstr(grove_errmsg(), "cursor") != NULL, "%s", grove_errmsg());
    o.since = "99999999999999999999.1";
    cr_expect_eq(grove_data_watch_open(s, &o, &w), GROVE_EINVAL);
    o = (struct grove_watch_options){.table = "secrets"};
    cr_expect_eq(grove_data_watch_open(s, &o, &w), GROVE_EFORBIDDEN);
    grove_store_close(s);
}

Test(core_data, watch_snapshot_then_changes_and_shutdown_wakes_it)
{
    struct grove_store *s = support_store(support_dir, "a", support_docs_schema);
    char pk[32];
    for (int i = 0; i < 1200; i++) {
        snprintf(pk, sizeof pk, "r%04d", i);
        put(s, pk);
    }
    struct grove_watch_options o = {.table = "docs", .snapshot = true};
    struct grove_watch *w;
    cr_assert_eq(grove_data_watch_open(s, &o, &w), GROVE_OK);
    size_t seen = 0;
    while (seen < 1200) {
        struct grove_watch_batch *b;
        cr_assert_eq(grove_data_watch_next(w, 2000, &b), GROVE_OK);
        cr_assert_gt(b->count, 0);
        for (size_t i = 0; i < b->count; i++) {
            snprintf(pk, sizeof pk, "r%04zu", seen + i);
            cr_expect_str_eq(b->events[i].pk, pk);
            cr_expect_str_eq(b->events[i].cursor, grove_data_watch_cursor(w));
        }
        seen += b->count;
        grove_msg_free(b);
    }
    put(s, "after");
    char text[256];
    struct grove_watch_batch *b = next_events(w, text, sizeof text);
    cr_expect_str_eq(text, "after={\"title\":1}");
    grove_msg_free(b);
    grove_store_wake_all(s);
    cr_expect_eq(grove_data_watch_next(w, 5000, &b), GROVE_ESHUTDOWN);
    grove_data_watch_close(w);
    grove_store_close(s);
}

/* Duplicates are found however far apart, in big writes too (sorted checks:
 * a loosely typed table takes any number of fields). */
Test(core_data, big_writes_find_duplicate_fields_and_elements_anywhere)
{
    struct grove_store *s = support_store(support_dir, "a", support_docs_schema);
    enum { N = 5000 };
    struct grove_field_write *f = calloc(N, sizeof *f);
    char (*names)[16] = calloc(N, sizeof *names);
    struct grove_slice *adds = calloc(N, sizeof *adds), *removes = calloc(N, sizeof *removes);
    char (*texts)[16] = calloc(2 * N, sizeof *texts);
    cr_assert(f && names && adds && removes && texts);
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "f%d", i);
        f[i] = (struct grove_field_write){.field = names[i], .value = S("1")};
        snprintf(texts[i], sizeof texts[i], "%d", i);
        snprintf(texts[N + i], sizeof texts[N + i], "%d", N + i);
        adds[i] = (struct grove_slice){texts[i], strlen(texts[i])};
        removes[i] = (struct grove_slice){texts[N + i], strlen(texts[N + i])};
    }
    f[N - 1].field = "f0";
    struct grove_row_write row = {.table = "notes", .pk = "n", .fields = f, .field_count = N};
    struct grove_write w = {.rows = &row, .row_count = 1};
    cr_expect_eq(grove_data_write(s, &w, NULL), GROVE_EINVAL);
    cr_expect(strstr(grove_errmsg(), "field \"f0\": written twice") != NULL, "%s", grove_errmsg());

    struct grove_field_write tags = {
        .field = "tags", .add = adds, .add_count = N, .remove = removes, .remove_count = N};
    cr_assert_eq(write_row(s, "t", &tags, 1, NULL, NULL), GROVE_OK, "%s", grove_errmsg());
    removes[N - 1] = adds[7];
    cr_expect_eq(write_row(s, "t", &tags, 1, NULL, NULL), GROVE_EINVAL);
    cr_expect(strstr(grove_errmsg(), "remove[4999] is also added (add[7])") != NULL, "%s",
              grove_errmsg());
    free(texts);
    free(removes);
    free(adds);
    free(names);
    free(f);
    grove_store_close(s);
}
