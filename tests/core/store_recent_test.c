/* Pages at the head read from memory (core/store_recent.h): a page the
 * recent commits answer is exactly the page the arrival log gives for the
 * same store and query, whatever was rewritten, dropped past the bound or
 * rolled back; a store without readers' connections keeps nothing. */
#include <inttypes.h>

#include "grove/data.h"
#include "grove/json.h"
#include "store_inside.h"

TestSuite(core_store_recent, .init = support_setup, .fini = support_teardown);

/* ---- the two ways to read a page ------------------------------------------------ */

static struct grove_pull_response *new_page(const struct grove_store_query *q)
{
    struct grove_pull_response *resp;
    cr_assert_eq(grove_pull_response_new(&resp), GROVE_OK);
    resp->since = resp->latest_hlc = q->since;
    return resp;
}

/* The page from the recent commits, as grove_store_changes reads it first;
 * *answered false when they do not hold it. */
static struct grove_pull_response *memory_page(struct grove_store *s,
                                               const struct grove_store_query *q, bool *answered)
{
    struct grove_pull_response *resp = new_page(q);
    struct store_page p;
    grove_store_page_start(&p, s, q, resp);
    cr_assert_eq(grove_store_recent_page(&s->recent, &p, answered), GROVE_OK, "%s", grove_errmsg());
    return resp;
}

/* The page from the arrival log, on a reader's connection. */
static struct grove_pull_response *log_page(struct grove_store *s,
                                            const struct grove_store_query *q)
{
    struct grove_buf sql = {0};
    sqlite3_stmt *st;
    cr_assert_eq(grove_store_changes_sql(s, q, &sql), GROVE_OK, "%s", grove_errmsg());
    struct grove_pull_response *resp = new_page(q);
    struct store_reader *r;
    cr_assert_eq(grove_store_reader_get(s, &r), GROVE_OK, "%s", grove_errmsg());
    cr_assert_eq(grove_store_changes_prepare(r, q, &sql, &st), GROVE_OK, "%s", grove_errmsg());
    cr_assert_eq(grove_store_changes_read(s, r, st, q, resp), GROVE_OK, "%s", grove_errmsg());
    grove_store_changes_done(r, st);
    grove_store_reader_put(s, r);
    grove_buf_free(&sql);
    return resp;
}

static struct grove_hlc recent_low(struct grove_store *s)
{
    pthread_rwlock_rdlock(&s->recent.lock);
    struct grove_hlc low = s->recent.low;
    pthread_rwlock_unlock(&s->recent.lock);
    return low;
}

static bool at_or_after(const struct grove_hlc *a, const struct grove_hlc *b)
{
    return a->ts != b->ts ? a->ts > b->ts : a->c >= b->c;
}

static bool same_slice(struct grove_slice a, struct grove_slice b)
{
    return (a.ptr == NULL) == (b.ptr == NULL) && a.len == b.len &&
           (!a.len || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static void expect_same_hlc(const struct grove_hlc *a, const struct grove_hlc *b, const char *what,
                            const char *where)
{
    cr_assert(a->ts == b->ts && a->c == b->c && strcmp(a->node, b->node) == 0,
              "%s: %s (%" PRId64 ",%" PRIu32 ",%s) from memory, (%" PRId64 ",%" PRIu32
              ",%s) from the log",
              where, what, a->ts, a->c, a->node, b->ts, b->c, b->node);
}

/* Both pages, field by field, then as the JSON pull response a peer gets. */
static void expect_same_page(const struct grove_pull_response *a,
                             const struct grove_pull_response *b,
                             const struct grove_store_sources *sa,
                             const struct grove_store_sources *sb, const char *where)
{
    struct grove_buf ja = {0}, jb = {0};
    cr_assert_eq(grove_json_encode_pull_response(a, &ja), GROVE_OK);
    cr_assert_eq(grove_json_encode_pull_response(b, &jb), GROVE_OK);
    cr_assert(ja.len == jb.len && memcmp(ja.data, jb.data, ja.len) == 0,
              "%s: the pages differ\nfrom memory: %.*s\nfrom the log: %.*s", where,
              (int)(ja.len < 3000 ? ja.len : 3000), ja.data, (int)(jb.len < 3000 ? jb.len : 3000),
              jb.data);
    grove_buf_free(&ja);
    grove_buf_free(&jb);
    cr_assert_eq(a->count, b->count, "%s: %zu changes from memory, %zu from the log", where,
                 a->count, b->count);
    cr_assert_eq(a->has_more, b->has_more, "%s: has_more %d from memory, %d from the log", where,
                 a->has_more, b->has_more);
    expect_same_hlc(&a->latest_hlc, &b->latest_hlc, "latest_hlc", where);
    expect_same_hlc(&a->since, &b->since, "since", where);
    for (size_t i = 0; i < a->count; i++) {
        const struct grove_change *x = &a->changes[i], *y = &b->changes[i];
        cr_assert(strcmp(x->table, y->table) == 0 && strcmp(x->pk, y->pk) == 0 &&
                      strcmp(x->field, y->field) == 0 && strcmp(x->node_id, y->node_id) == 0,
                  "%s: change %zu: %s/%s.%s by %s from memory, %s/%s.%s by %s from the log", where,
                  i, x->table, x->pk, x->field, x->node_id, y->table, y->pk, y->field, y->node_id);
        cr_assert(x->crdt == y->crdt && x->set_op == y->set_op && x->tombstone == y->tombstone &&
                      x->has_counter == y->has_counter && x->counter_inc == y->counter_inc &&
                      x->counter_dec == y->counter_dec,
                  "%s: change %zu (%s/%s.%s): its kind or totals differ", where, i, x->table, x->pk,
                  x->field);
        expect_same_hlc(&x->hlc, &y->hlc, "a change's hlc", where);
        cr_assert(same_slice(x->value, y->value), "%s: change %zu (%s/%s.%s): values differ", where,
                  i, x->table, x->pk, x->field);
        cr_assert_eq(x->element_count, y->element_count, "%s: change %zu: elements", where, i);
        for (size_t k = 0; k < x->element_count; k++)
            cr_assert(same_slice(x->elements[k], y->elements[k]), "%s: change %zu: element %zu",
                      where, i, k);
    }
    if (!sa)
        return;
    cr_assert(sa->count == sb->count && sa->more == sb->more,
              "%s: sources: %zu (more %d) from memory, %zu (more %d) from the log", where,
              sa->count, sa->more, sb->count, sb->more);
    for (size_t i = 0; i < sa->count; i++)
        cr_assert_str_eq(sa->nodes[i], sb->nodes[i], "%s: source %zu", where, i);
}

/* What the comparisons came to. */
struct tally {
    size_t answered, fell_back;
    size_t holding, more; /* answered pages holding changes, and saying more remain */
};

/* Reads q both ways: when memory answers, its page must be the log's; it
 * answers exactly when the cursor is at or after its low mark. Returns the
 * log's page (the caller frees it). */
static struct grove_pull_response *compare(struct grove_store *s, const struct grove_store_query *q,
                                           struct tally *t, const char *where)
{
    struct grove_store_sources sa = {0}, sb = {0};
    struct grove_store_query qa = *q, qb = *q;
    if (q->sources) {
        qa.sources = &sa;
        qb.sources = &sb;
    }
    struct grove_hlc low = recent_low(s);
    bool answered;
    struct grove_pull_response *a = memory_page(s, &qa, &answered);
    struct grove_pull_response *b = log_page(s, &qb);
    cr_assert_eq(answered, at_or_after(&q->since, &low),
                 "%s: answered %d, the cursor (%" PRId64 ",%" PRIu32 ") against low (%" PRId64
                 ",%" PRIu32 ")",
                 where, answered, q->since.ts, q->since.c, low.ts, low.c);
    if (answered) {
        expect_same_page(a, b, q->sources ? &sa : NULL, q->sources ? &sb : NULL, where);
        t->answered++;
        t->holding += a->count > 0;
        t->more += a->has_more;
    } else {
        cr_assert_eq(a->count, 0, "%s: a page not answered holds changes", where);
        t->fell_back++;
    }
    grove_msg_free(a);
    return b;
}

/* ---- query shapes ---------------------------------------------------------------- */

static const char *docs_only[] = {"docs"}, *notes_only[] = {"notes"}, *both[] = {"notes", "docs"};
static const char *filter_pks[] = {"d1", "d3", "n2"}, *filter_fields[] = {"title", "x", "views"};
static const struct grove_pull_filter filters[] = {
    {.pks = filter_pks, .pk_count = 3},
    {.fields = filter_fields, .field_count = 3},
    {.pk_prefix = "d"},
};
static const size_t limits[] = {1, 3, 1000};
static const size_t max_bytes[] = {0, 700};

enum { SHAPES = 4 * 3 * 2 * 2 * 4 * 2 };

/* Shape n of SHAPES: tables, limit, byte bound, echo filter, filter, sources. */
static struct grove_store_query shape(size_t n, struct grove_hlc since,
                                      struct grove_store_sources *sources, char *what, size_t size)
{
    struct grove_store_query q = {.since = since};
    size_t tables = n % 4, limit = n / 4 % 3, bytes = n / 12 % 2, exclude = n / 24 % 2,
           filter = n / 48 % 4, with_sources = n / 192 % 2;
    static const char *const *table_lists[] = {NULL, docs_only, notes_only, both};
    static const size_t table_counts[] = {0, 1, 1, 2};
    q.tables = table_lists[tables];
    q.table_count = table_counts[tables];
    q.limit = limits[limit];
    q.max_bytes = max_bytes[bytes];
    q.exclude_node = exclude ? "b" : NULL;
    q.filter = filter ? &filters[filter - 1] : NULL;
    q.sources = with_sources ? sources : NULL;
    snprintf(what, size,
             "cursor (%" PRId64 ",%" PRIu32 ") tables %zu limit %zu max_bytes %zu exclude %s"
             " filter %zu sources %zu",
             since.ts, since.c, tables, q.limit, q.max_bytes, exclude ? "b" : "-", filter,
             with_sources);
    return q;
}

/* ---- the workload ---------------------------------------------------------------- */

enum {
    PKS = 6,
    BATCH_MAX = 48,
    SEEN_MAX = 4096,
};
static const char *const doc_pks[PKS] = {"d0", "d1", "d2", "d3", "d4", "d5"};
static const char *const note_pks[PKS] = {"n0", "n1", "n2", "n3", "n4", "n5"};
static const char *const origins[] = {"b", "c", "e"};
static const char *const elements[] = {"\"t0\"", "\"t1\"", "\"t2\""};

struct workload {
    uint64_t rand;
    int step;
    int64_t totals[2][PKS][3][2]; /* counter totals per (table, pk, origin) */
    struct grove_slice element_slices[3];
    /* Cursors pages ended at, for later pages to start from. */
    struct grove_hlc seen[SEEN_MAX];
    size_t seen_count;
    struct tally tally;
};

static uint32_t next_rand(struct workload *w)
{
    w->rand = w->rand * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(w->rand >> 33);
}

static void note_seen(struct workload *w, const struct grove_hlc *h)
{
    w->seen[w->seen_count++ % SEEN_MAX] = *h;
}

/* A batch from node b or c: lww values over a few rows of both tables
 * (older stamps lose, equal ones tie-break), counter totals, set adds and
 * removes, row deletes; now and then a large one. */
static void remote_batch(struct grove_store *s, struct workload *w)
{
    static struct grove_change batch[BATCH_MAX];
    static char values[BATCH_MAX][32];
    size_t n = w->step % 17 == 16 ? BATCH_MAX : 1 + next_rand(w) % 14;
    const char *src = next_rand(w) % 2 ? "b" : "c";
    struct grove_hlc now;
    cr_assert_eq(grove_store_now(s, &now), GROVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct grove_change *c = &batch[i];
        size_t o = next_rand(w) % 4 ? (src[0] == 'b' ? 0 : 1) : 2; /* e: relayed */
        size_t pk = next_rand(w) % PKS;
        bool notes = next_rand(w) % 3 == 0;
        *c = (struct grove_change){.table = notes ? "notes" : "docs",
                                   .pk = notes ? note_pks[pk] : doc_pks[pk],
                                   .node_id = origins[o]};
        /* Mostly newer than what the store holds, sometimes older or tied. */
        uint32_t age = next_rand(w) % 8;
        c->hlc.ts = age < 5 ? now.ts + (int64_t)i : now.ts - (int64_t)age * 500000;
        grove_hlc_set_node(&c->hlc, origins[o]);
        snprintf(values[i], sizeof values[i], "\"s%d.%zu\"", w->step, i);
        switch (next_rand(w) % 8) {
        case 0:
        case 1:
        case 2:
            c->field =
                notes ? (next_rand(w) % 2 ? "x" : "y") : (next_rand(w) % 2 ? "title" : "body");
            c->crdt = GROVE_CRDT_LWW;
            c->value = (struct grove_slice){values[i], strlen(values[i])};
            break;
        case 3:
        case 4: {
            c->field = notes ? "k" : "views";
            c->crdt = GROVE_CRDT_COUNTER;
            c->has_counter = true;
            int64_t *t = w->totals[notes][pk][o];
            uint32_t which = next_rand(w) % 2, by = next_rand(w) % 3;
            t[which] += by; /* totals only grow; by 0: no change unless newer */
            c->counter_inc = t[0];
            c->counter_dec = t[1];
            break;
        }
        case 5:
        case 6:
            c->field = "tags";
            c->crdt = GROVE_CRDT_SET;
            c->set_op = next_rand(w) % 3 ? GROVE_SET_ADD : GROVE_SET_REMOVE;
            c->elements = &w->element_slices[next_rand(w) % 3];
            c->element_count = 1;
            break;
        default:
            c->field = "_tombstone";
            c->tombstone = true;
            break;
        }
    }
    /* Mostly a push; now and then one whose counter records are operations,
     * or a pulled page committed with its peer's cursors. */
    grove_err err;
    uint32_t how = next_rand(w) % 6;
    if (how == 0) {
        err = grove_store_apply_operations(s, batch, n, src, NULL);
    } else if (how == 1) {
        struct grove_peer_cursors cursors = {0};
        snprintf(cursors.peer_node, sizeof cursors.peer_node, "%s", src);
        err = grove_store_apply_pulled(s, batch, n, src[0] == 'b' ? "http://b" : "http://c",
                                       &cursors, NULL);
    } else {
        err = grove_store_apply(s, batch, n, src, NULL);
    }
    cr_assert_eq(err, GROVE_OK, "step %d: %s", w->step, grove_errmsg());
}

/* Local writes through the Data API (core/data.c), each its own commit. */
static void local_writes(struct grove_store *s, struct workload *w)
{
    size_t n = 1 + next_rand(w) % 4;
    for (size_t i = 0; i < n; i++) {
        const char *pk = doc_pks[next_rand(w) % PKS];
        char value[32];
        snprintf(value, sizeof value, "\"l%d.%zu\"", w->step, i);
        const char *el = elements[next_rand(w) % 3];
        grove_err err;
        switch (next_rand(w) % 7) {
        case 0:
        case 1:
            err = grove_store_set(s, "docs", pk, next_rand(w) % 2 ? "title" : "body", value,
                                  strlen(value));
            break;
        case 2:
            err = grove_store_increment(s, "docs", pk, "views", 1 + next_rand(w) % 3);
            break;
        case 3:
            err = grove_store_set_add(s, "docs", pk, "tags", el, strlen(el));
            break;
        case 4:
            err = grove_store_set_remove(s, "docs", pk, "tags", el, strlen(el));
            break;
        case 5:
            err = grove_store_delete(s, next_rand(w) % 2 ? "docs" : "notes",
                                     note_pks[next_rand(w) % PKS]);
            break;
        default: { /* two rows in one write */
            struct grove_slice add = {el, strlen(el)};
            struct grove_field_write doc[] = {
                {.field = "title", .crdt = GROVE_CRDT_LWW, .value = {value, strlen(value)}},
                {.field = "views", .crdt = GROVE_CRDT_COUNTER, .delta = 2},
                {.field = "tags", .crdt = GROVE_CRDT_SET, .add = &add, .add_count = 1},
            };
            struct grove_field_write note[] = {
                {.field = "x", .crdt = GROVE_CRDT_LWW, .value = {value, strlen(value)}}};
            struct grove_row_write rows[] = {
                {.table = "docs", .pk = pk, .fields = doc, .field_count = 3},
                {.table = "notes",
                 .pk = note_pks[next_rand(w) % PKS],
                 .fields = note,
                 .field_count = 1},
            };
            struct grove_write write = {.rows = rows, .row_count = 2};
            err = grove_data_write(s, &write, NULL);
            break;
        }
        }
        cr_assert_eq(err, GROVE_OK, "step %d: %s", w->step, grove_errmsg());
    }
}

/* The stamp just before h. */
static struct grove_hlc before(struct grove_hlc h)
{
    if (h.c)
        h.c--;
    else if (h.ts > 0) {
        h.ts--;
        h.c = UINT32_MAX;
    }
    return h;
}

/* Pages from `since` in `shape_count` shapes drawn from the workload's
 * generator, each compared; the cursors they end at are kept. */
static void compare_from(struct grove_store *s, struct workload *w, struct grove_hlc since,
                         size_t shape_count)
{
    for (size_t k = 0; k < shape_count; k++) {
        struct grove_store_sources sources;
        char what[256], where[320];
        struct grove_store_query q = shape(shape_count == SHAPES ? k : next_rand(w) % SHAPES, since,
                                           &sources, what, sizeof what);
        snprintf(where, sizeof where, "step %d, %s", w->step, what);
        struct grove_pull_response *b = compare(s, &q, &w->tally, where);
        note_seen(w, &b->latest_hlc);
        grove_msg_free(b);
    }
}

/* Pages from `since` to the end in one shape, each compared. */
static void compare_paging(struct grove_store *s, struct workload *w, struct grove_hlc since,
                           size_t n)
{
    for (int pages = 0;; pages++) {
        struct grove_store_sources sources;
        char what[256], where[320];
        struct grove_store_query q = shape(n, since, &sources, what, sizeof what);
        snprintf(where, sizeof where, "step %d, paging, page %d, %s", w->step, pages, what);
        struct grove_pull_response *b = compare(s, &q, &w->tally, where);
        bool more = b->has_more;
        since = b->latest_hlc;
        grove_msg_free(b);
        cr_assert_lt(pages, 10000, "%s: paging does not end", where);
        if (!more)
            return;
    }
}

/* One step: a batch and local writes, then pages from the zero cursor, from
 * the newest stamp and the one before it, from where this step began, from
 * cursors earlier pages ended at and from stamps of the arrival log. */
static void workload_step(struct grove_store *s, struct workload *w)
{
    static struct grove_hlc stamps[8192];
    struct grove_hlc start, newest;
    grove_store_latest(s, &start);
    if (next_rand(w) % 4)
        remote_batch(s, w);
    if (next_rand(w) % 3)
        local_writes(s, w);
    if (next_rand(w) % 2)
        remote_batch(s, w);
    grove_store_latest(s, &newest);
    compare_from(s, w, (struct grove_hlc){0}, 24);
    compare_from(s, w, newest, 12);
    compare_from(s, w, before(newest), SHAPES);
    compare_from(s, w, start, 24);
    size_t seen = w->seen_count < SEEN_MAX ? w->seen_count : SEEN_MAX;
    for (int i = 0; i < 8; i++)
        compare_from(s, w, w->seen[next_rand(w) % seen], 6);
    size_t logged = store_inside_log_stamps(s, stamps, sizeof stamps / sizeof stamps[0]);
    for (int i = 0; logged && i < 6; i++) {
        struct grove_hlc h = stamps[next_rand(w) % logged];
        compare_from(s, w, h, 6);
        compare_from(s, w, before(h), 3);
    }
    compare_paging(s, w, (struct grove_hlc){0}, next_rand(w) % SHAPES);
    compare_paging(s, w, start, next_rand(w) % SHAPES);
}

static void workload_init(struct workload *w, uint64_t seed)
{
    memset(w, 0, sizeof *w);
    w->rand = seed;
    for (int i = 0; i < 3; i++)
        w->element_slices[i] = (struct grove_slice){elements[i], strlen(elements[i])};
    note_seen(w, &(struct grove_hlc){0});
}

Test(core_store_recent, a_page_from_memory_is_the_page_the_arrival_log_gives, .timeout = 240)
{
    static struct workload w;
    workload_init(&w, 20240611);
    struct grove_store *s = store_inside_open(0, 0);
    for (w.step = 0; w.step < 60; w.step++) {
        if (w.step == 30) {
            /* Memory starts afresh at the newest stamp: what came before is
             * read from the log, and rewrites of it have nothing to mark. */
            grove_store_close(s);
            s = store_inside_open(0, 0);
            struct grove_hlc latest = {0}, low = recent_low(s);
            grove_store_latest(s, &latest);
            cr_assert(latest.ts > 0 && low.ts == latest.ts && low.c == latest.c,
                      "memory should start at the newest stamp");
        }
        workload_step(s, &w);
    }
    pthread_rwlock_rdlock(&s->recent.lock);
    size_t stale = 0, kept = s->recent.count;
    for (size_t i = s->recent.first; i < s->recent.first + s->recent.count; i++)
        stale += s->recent.slots[i].stale;
    pthread_rwlock_unlock(&s->recent.lock);
    cr_log_info("%zu pages read from memory (%zu holding changes, %zu with more), %zu from the"
                " log only; %zu units kept, %zu of them written again",
                w.tally.answered, w.tally.holding, w.tally.more, w.tally.fell_back, kept, stale);
    cr_expect_gt(stale, 100, "memory holds only %zu units written again", stale);
    cr_expect_gt(w.tally.holding, 5000);
    cr_expect_gt(w.tally.more, 2000);
    struct grove_hlc low = recent_low(s);
    cr_expect(low.ts > 0, "memory did not start afresh at the reopening");
    cr_expect_gt(w.tally.answered, 10000, "only %zu pages were read from memory", w.tally.answered);
    cr_expect_gt(w.tally.fell_back, 100, "only %zu cursors were before memory's low mark",
                 w.tally.fell_back);
    grove_store_close(s);
}

/* ---- memory's bound ---------------------------------------------------------------- */

/* A unit of the state table, as a page should show it. */
struct unit_row {
    char table[16], pk[16], field[16], sub[32], value[64];
    int kind;
    bool has_value;
    int64_t ts, ats;
    uint32_t c, ac;
};

static size_t state_units(struct grove_store *s, struct unit_row *out, size_t max)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(s->db,
                                    "SELECT tbl, pk, field, kind, sub, ts, c, value, ats, ac"
                                    " FROM state ORDER BY ats, ac",
                                    -1, &st, NULL),
                 SQLITE_OK);
    size_t n = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        cr_assert_lt(n, max);
        struct unit_row *u = &out[n++];
        snprintf(u->table, sizeof u->table, "%s", (const char *)sqlite3_column_text(st, 0));
        snprintf(u->pk, sizeof u->pk, "%s", (const char *)sqlite3_column_text(st, 1));
        snprintf(u->field, sizeof u->field, "%s", (const char *)sqlite3_column_text(st, 2));
        u->kind = sqlite3_column_int(st, 3);
        snprintf(u->sub, sizeof u->sub, "%.*s", sqlite3_column_bytes(st, 4),
                 (const char *)sqlite3_column_blob(st, 4));
        u->ts = sqlite3_column_int64(st, 5);
        u->c = (uint32_t)sqlite3_column_int64(st, 6);
        u->has_value = sqlite3_column_type(st, 7) != SQLITE_NULL;
        snprintf(u->value, sizeof u->value, "%.*s", sqlite3_column_bytes(st, 7),
                 u->has_value ? (const char *)sqlite3_column_blob(st, 7) : "");
        u->ats = sqlite3_column_int64(st, 8);
        u->ac = (uint32_t)sqlite3_column_int64(st, 9);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return n;
}

static int change_kind(const struct grove_change *c)
{
    if (c->tombstone)
        return STATE_TOMBSTONE;
    switch (c->crdt) {
    case GROVE_CRDT_LWW:
        return STATE_LWW;
    case GROVE_CRDT_COUNTER:
        return STATE_COUNTER;
    default:
        return c->set_op == GROVE_SET_ADD ? STATE_SET_ADD : STATE_SET_REMOVE;
    }
}

/* The public call, from the zero cursor to the end: each unit once, at its
 * last write, in arrival order; its pages partly from the log, partly
 * from memory. */
static void expect_every_unit_once(struct grove_store *s, size_t limit, size_t bytes,
                                   struct tally *t)
{
    static struct unit_row units[4096];
    size_t n = state_units(s, units, sizeof units / sizeof units[0]), at = 0;
    struct grove_hlc since = {0}, low = recent_low(s);
    for (int pages = 0;; pages++) {
        struct grove_store_query q = {.since = since, .limit = limit, .max_bytes = bytes};
        bool answered;
        struct grove_pull_response *m = memory_page(s, &q, &answered);
        grove_msg_free(m);
        if (answered)
            t->answered++;
        else
            t->fell_back++;
        cr_assert_eq(answered, at_or_after(&since, &low));
        struct grove_pull_response *page;
        cr_assert_eq(grove_store_changes(s, &q, &page), GROVE_OK, "%s", grove_errmsg());
        for (size_t i = 0; i < page->count; i++, at++) {
            const struct grove_change *c = &page->changes[i];
            cr_assert_lt(at, n, "page %d: more changes than units", pages);
            const struct unit_row *u = &units[at];
            const char *field = c->tombstone ? "" : c->field;
            char sub[32] = "";
            if (c->crdt == GROVE_CRDT_COUNTER)
                snprintf(sub, sizeof sub, "%s", c->node_id);
            else if (c->element_count)
                snprintf(sub, sizeof sub, "%.*s", (int)c->elements[0].len, c->elements[0].ptr);
            cr_assert(strcmp(c->table, u->table) == 0 && strcmp(c->pk, u->pk) == 0 &&
                          strcmp(field, u->field) == 0 && change_kind(c) == u->kind &&
                          strcmp(sub, u->sub) == 0,
                      "page %d, change %zu: %s/%s.%s [%s] kind %d, the unit %s/%s.%s [%s] kind %d",
                      pages, at, c->table, c->pk, field, sub, change_kind(c), u->table, u->pk,
                      u->field, u->sub, u->kind);
            cr_assert(c->hlc.ts == u->ts && c->hlc.c == u->c, "change %zu: not its last write", at);
            if (u->has_value)
                cr_assert(c->value.ptr && c->value.len == strlen(u->value) &&
                              memcmp(c->value.ptr, u->value, c->value.len) == 0,
                          "change %zu: value", at);
            else
                cr_assert_null(c->value.ptr, "change %zu: a value", at);
        }
        bool more = page->has_more;
        if (page->count)
            cr_assert(page->latest_hlc.ts == units[at - 1].ats &&
                          page->latest_hlc.c == units[at - 1].ac,
                      "page %d ends past its last change", pages);
        since = page->latest_hlc;
        grove_msg_free(page);
        cr_assert_lt(pages, 100000);
        if (!more)
            break;
    }
    cr_assert_eq(at, n, "%zu of %zu units read", at, n);
}

Test(core_store_recent, pages_read_from_memory_past_its_bound_fall_back_to_the_log, .timeout = 240)
{
    static struct workload w;
    workload_init(&w, 77);
    struct grove_store *s = store_inside_open(0, 8 << 10);
    struct tally paged = {0};
    size_t low_moves = 0;
    struct grove_hlc last_low = recent_low(s);
    for (w.step = 0; w.step < 60; w.step++) {
        workload_step(s, &w);
        struct grove_hlc low = recent_low(s);
        cr_assert(at_or_after(&low, &last_low), "step %d: low went back", w.step);
        low_moves += low.ts != last_low.ts || low.c != last_low.c;
        last_low = low;
        if (w.step % 10 == 9) {
            expect_every_unit_once(s, 5, 0, &paged);
            expect_every_unit_once(s, 1000, 700, &paged);
        }
    }
    cr_log_info("%zu pages read from memory, %zu from the log only; public pages %zu and %zu;"
                " low moved %zu times",
                w.tally.answered, w.tally.fell_back, paged.answered, paged.fell_back, low_moves);
    cr_expect(last_low.ts > 0, "memory kept everything under its bound");
    cr_expect_gt(low_moves, 20, "low moved %zu times", low_moves);
    /* Both sides of low, in the comparisons and in the public pages. */
    cr_expect_gt(w.tally.answered, 5000, "only %zu pages read from memory", w.tally.answered);
    cr_expect_gt(w.tally.fell_back, 1000, "only %zu pages fell back", w.tally.fell_back);
    cr_expect_gt(paged.answered, 0);
    cr_expect_gt(paged.fell_back, 0);
    /* What memory holds fits its bound. */
    pthread_rwlock_rdlock(&s->recent.lock);
    cr_expect_leq(s->recent.bytes, (size_t)8 << 10);
    pthread_rwlock_unlock(&s->recent.lock);
    grove_store_close(s);
}

/* ---- rollbacks ------------------------------------------------------------------------ */

static struct grove_change change_lww(const char *table, const char *pk, const char *field,
                                      const char *value, int64_t ts)
{
    struct grove_change c = {.table = table,
                             .pk = pk,
                             .field = field,
                             .crdt = GROVE_CRDT_LWW,
                             .node_id = "b",
                             .value = {value, strlen(value)},
                             .hlc = {.ts = ts}};
    grove_hlc_set_node(&c.hlc, "b");
    return c;
}

/* Merges the changes (all of them newer) in the transaction under way:
 * the arrival stamp of the last one. */
static struct grove_hlc merge_locked(struct grove_store *s, const struct grove_change *changes,
                                     size_t n)
{
    struct grove_apply_report report;
    cr_assert_eq(grove_store_merge_locked(s, changes, n, "b", true, &report), GROVE_OK, "%s",
                 grove_errmsg());
    cr_assert_eq(report.merged, n);
    return report.latest;
}

static void exec_locked(struct grove_store *s, const char *sql)
{
    cr_assert_eq(grove_store_exec(s, sql), GROVE_OK, "%s: %s", sql, grove_errmsg());
}

/* The page from `since` read from memory, equal to the log's; the caller
 * frees it. */
static struct grove_pull_response *answered_page(struct grove_store *s, struct grove_hlc since,
                                                 const char *where)
{
    struct grove_store_query q = {.since = since};
    bool answered;
    struct grove_pull_response *a = memory_page(s, &q, &answered);
    cr_assert(answered, "%s: not read from memory", where);
    struct grove_pull_response *b = log_page(s, &q);
    expect_same_page(a, b, NULL, NULL, where);
    grove_msg_free(b);
    return a;
}

static void expect_changes(const struct grove_pull_response *page, const char *const *want,
                           size_t n, const char *where)
{
    cr_assert_eq(page->count, n, "%s: %zu changes, want %zu", where, page->count, n);
    for (size_t i = 0; i < n; i++) {
        char got[64];
        snprintf(got, sizeof got, "%s.%s=%.*s", page->changes[i].pk, page->changes[i].field,
                 (int)page->changes[i].value.len, page->changes[i].value.ptr);
        cr_assert_str_eq(got, want[i], "%s: change %zu", where, i);
    }
}

Test(core_store_recent, a_rolled_back_transaction_leaves_nothing_in_memory)
{
    struct grove_store *s = store_inside_open(0, 0);
    struct grove_hlc now;
    cr_assert_eq(grove_store_now(s, &now), GROVE_OK);
    int64_t ts = now.ts;
    struct grove_change first[] = {
        change_lww("docs", "d0", "title", "\"v0\"", ts),
        change_lww("docs", "d1", "title", "\"v0\"", ts),
        change_lww("notes", "n0", "x", "\"v0\"", ts),
    };
    cr_assert_eq(grove_store_apply(s, first, 3, "b", NULL), GROVE_OK, "%s", grove_errmsg());
    struct grove_hlc c0;
    grove_store_latest(s, &c0);

    /* A transaction rolled back: rewrites of d0 and n0, a new unit, a tombstone. */
    struct grove_change rolled[] = {
        change_lww("docs", "d0", "title", "\"rolled\"", ts + 10),
        change_lww("docs", "d5", "body", "\"rolled\"", ts + 10),
        change_lww("notes", "n0", "x", "\"rolled\"", ts + 10),
        {.table = "notes",
         .pk = "n1",
         .field = "_tombstone",
         .tombstone = true,
         .node_id = "b",
         .hlc = {.ts = ts + 10, .node = "b"}},
    };
    pthread_mutex_lock(&s->lock);
    exec_locked(s, "BEGIN IMMEDIATE");
    merge_locked(s, rolled, 4);
    cr_assert_eq(grove_store_recent_mark(&s->recent), 4, "the merge staged its units");
    cr_assert_eq(sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    cr_expect_eq(grove_store_recent_mark(&s->recent), 0, "the rollback left units staged");
    pthread_mutex_unlock(&s->lock);

    /* The next batch rewrites d1 and n0, and adds d4. */
    struct grove_change second[] = {
        change_lww("docs", "d1", "title", "\"v2\"", ts + 20),
        change_lww("docs", "d4", "title", "\"v2\"", ts + 20),
        change_lww("notes", "n0", "x", "\"v2\"", ts + 20),
    };
    cr_assert_eq(grove_store_apply(s, second, 3, "b", NULL), GROVE_OK, "%s", grove_errmsg());
    struct grove_pull_response *page = answered_page(s, c0, "after the rollback");
    expect_changes(page, (const char *const[]){"d1.title=\"v2\"", "d4.title=\"v2\"", "n0.x=\"v2\""},
                   3, "after the rollback");
    grove_msg_free(page);
    page = answered_page(s, (struct grove_hlc){0}, "from the start, after the rollback");
    expect_changes(page,
                   (const char *const[]){"d0.title=\"v0\"", "d1.title=\"v2\"", "d4.title=\"v2\"",
                                         "n0.x=\"v2\""},
                   4, "from the start, after the rollback");
    grove_msg_free(page);

    /* Savepoints as core/data.c uses them, one job a savepoint: the one
     * rolled back leaves nothing; kept ones before and after it stay, and
     * what a later job rewrites of an earlier one's is read once. */
    struct grove_hlc c1;
    grove_store_latest(s, &c1);
    struct grove_change job1[] = {
        change_lww("docs", "d2", "title", "\"j1\"", ts + 30),
        change_lww("docs", "d3", "body", "\"j1\"", ts + 30),
        change_lww("notes", "n2", "x", "\"j1\"", ts + 30),
    };
    struct grove_change job2[] = {
        change_lww("docs", "d2", "title", "\"rolled\"", ts + 40), /* job1's, staged */
        change_lww("docs", "d1", "title", "\"rolled\"", ts + 40), /* committed before */
        change_lww("docs", "d7", "title", "\"rolled\"", ts + 40), /* new */
    };
    struct grove_change job3[] = {
        change_lww("docs", "d3", "body", "\"j3\"", ts + 50), /* job1's, staged */
        change_lww("docs", "d0", "title", "\"j3\"", ts + 50),
    };
    pthread_mutex_lock(&s->lock);
    exec_locked(s, "BEGIN IMMEDIATE");
    size_t mark = grove_store_recent_mark(&s->recent);
    cr_assert_eq(mark, 0);
    exec_locked(s, "SAVEPOINT data_write");
    merge_locked(s, job1, 3);
    exec_locked(s, "RELEASE data_write");
    mark = grove_store_recent_mark(&s->recent);
    cr_assert_eq(mark, 3);
    exec_locked(s, "SAVEPOINT data_write");
    merge_locked(s, job2, 3);
    grove_store_recent_rewind(&s->recent, mark);
    exec_locked(s, "ROLLBACK TO data_write");
    exec_locked(s, "RELEASE data_write");
    cr_assert_eq(grove_store_recent_mark(&s->recent), 3);
    exec_locked(s, "SAVEPOINT data_write");
    struct grove_hlc latest = merge_locked(s, job3, 2);
    exec_locked(s, "RELEASE data_write");
    exec_locked(s, "COMMIT");
    grove_store_commit_notify(s, &latest); /* as data_commit_group does */
    pthread_mutex_unlock(&s->lock);
    struct grove_pull_response *tail = answered_page(s, c1, "after a savepoint rolled back");
    expect_changes(tail,
                   (const char *const[]){"d2.title=\"j1\"", "n2.x=\"j1\"", "d0.title=\"j3\"",
                                         "d3.body=\"j3\""},
                   4, "after a savepoint rolled back");
    cr_assert(tail->latest_hlc.ts == latest.ts && tail->latest_hlc.c == latest.c);
    grove_msg_free(tail);

    /* A transaction whose first savepoint rolls back (the mark is 0). */
    struct grove_hlc c2 = latest;
    struct grove_change job4[] = {change_lww("docs", "d4", "title", "\"j4\"", ts + 60)};
    pthread_mutex_lock(&s->lock);
    exec_locked(s, "BEGIN IMMEDIATE");
    mark = grove_store_recent_mark(&s->recent);
    exec_locked(s, "SAVEPOINT data_write");
    merge_locked(s, job2, 3);
    grove_store_recent_rewind(&s->recent, mark);
    exec_locked(s, "ROLLBACK TO data_write");
    exec_locked(s, "RELEASE data_write");
    exec_locked(s, "SAVEPOINT data_write");
    latest = merge_locked(s, job4, 1);
    exec_locked(s, "RELEASE data_write");
    exec_locked(s, "COMMIT");
    grove_store_commit_notify(s, &latest);
    pthread_mutex_unlock(&s->lock);
    tail = answered_page(s, c2, "after the first savepoint rolled back");
    expect_changes(tail, (const char *const[]){"d4.title=\"j4\""}, 1,
                   "after the first savepoint rolled back");
    grove_msg_free(tail);

    page = answered_page(s, (struct grove_hlc){0}, "from the start, at the end");
    expect_changes(page,
                   (const char *const[]){"d1.title=\"v2\"", "n0.x=\"v2\"", "d2.title=\"j1\"",
                                         "n2.x=\"j1\"", "d0.title=\"j3\"", "d3.body=\"j3\"",
                                         "d4.title=\"j4\""},
                   7, "from the start, at the end");
    grove_msg_free(page);
    grove_store_close(s);
}

/* A job too large to keep (a bulk merge, as grove_store_recent_expect
 * judges it) and then a later job's savepoint rolled back, in one
 * transaction: the large one stays lost, so the kept commits start over
 * after the transaction instead of leaving it out of pages read from memory. */
Test(core_store_recent, a_savepoint_rolled_back_after_a_bulk_job_leaves_it_lost)
{
    struct grove_store *s = store_inside_open(0, 0);
    struct grove_hlc now;
    cr_assert_eq(grove_store_now(s, &now), GROVE_OK);
    struct grove_change first[] = {change_lww("docs", "d0", "title", "\"v0\"", now.ts)};
    cr_assert_eq(grove_store_apply(s, first, 1, "b", NULL), GROVE_OK, "%s", grove_errmsg());
    struct grove_hlc c0;
    grove_store_latest(s, &c0);
    struct grove_change bulk[] = {change_lww("docs", "d1", "title", "\"bulk\"", now.ts + 10)};
    struct grove_change failed[] = {change_lww("docs", "d2", "title", "\"no\"", now.ts + 10)};
    pthread_mutex_lock(&s->lock);
    exec_locked(s, "BEGIN IMMEDIATE");
    exec_locked(s, "SAVEPOINT job");
    grove_store_recent_expect(&s->recent, SIZE_MAX); /* as a merge of that many would */
    merge_locked(s, bulk, 1);
    exec_locked(s, "RELEASE job");
    size_t mark = grove_store_recent_mark(&s->recent);
    exec_locked(s, "SAVEPOINT job");
    merge_locked(s, failed, 1);
    grove_store_recent_rewind(&s->recent, mark);
    exec_locked(s, "ROLLBACK TO job");
    exec_locked(s, "RELEASE job");
    exec_locked(s, "COMMIT");
    pthread_mutex_unlock(&s->lock);
    struct grove_store_query q = {.since = c0};
    bool answered;
    struct grove_pull_response *a = memory_page(s, &q, &answered);
    struct grove_pull_response *b = log_page(s, &q);
    expect_changes(b, (const char *const[]){"d1.title=\"bulk\""}, 1, "the log after c0");
    cr_expect_not(answered, "memory answered a page it lacks the bulk job of (%zu changes)",
                  a->count);
    grove_msg_free(a);
    grove_msg_free(b);
    grove_store_close(s);
}

/* ---- stores that keep nothing ---------------------------------------------------------- */

Test(core_store_recent, a_store_without_readers_keeps_nothing)
{
    struct {
        int readers;
        int64_t recent;
    } cases[] = {{-1, 0}, {-1, 1 << 20}, {0, -1}, {4, -1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct grove_store *s = store_inside_open(cases[i].readers, cases[i].recent);
        static struct workload w;
        workload_init(&w, 5 + i);
        size_t pages = 0;
        for (w.step = 0; w.step < 6; w.step++) {
            remote_batch(s, &w);
            local_writes(s, &w);
            struct grove_hlc newest;
            grove_store_latest(s, &newest);
            struct grove_hlc cursors[] = {{0}, before(newest), newest};
            for (size_t k = 0; k < 3; k++) {
                struct grove_store_query q = {.since = cursors[k]};
                bool answered;
                struct grove_pull_response *a = memory_page(s, &q, &answered);
                cr_assert(!answered, "case %zu, step %d: a page was read from memory", i, w.step);
                cr_assert_eq(a->count, 0);
                grove_msg_free(a);
                /* The public call reads the log. */
                struct grove_pull_response *p, *b = log_page(s, &q);
                cr_assert_eq(grove_store_changes(s, &q, &p), GROVE_OK, "%s", grove_errmsg());
                expect_same_page(p, b, NULL, NULL, "the public call");
                pages += p->count;
                grove_msg_free(p);
                grove_msg_free(b);
            }
        }
        cr_assert_gt(pages, 0);
        cr_assert_eq(s->recent.count, 0, "case %zu: units kept", i);
        grove_store_close(s);
        char path[512];
        snprintf(path, sizeof path, "%s/a.db", support_dir);
        unlink(path);
        snprintf(path, sizeof path, "%s/a.db-wal", support_dir);
        unlink(path);
        snprintf(path, sizeof path, "%s/a.db-shm", support_dir);
        unlink(path);
    }
}
