/* The server's stream: batches carry the stamps around them. */
#include "support.h"

TestSuite(core_server, .init = support_setup, .fini = support_teardown);

static void apply_from(struct grove_store *store, const char *origin, const char *pk, int64_t ts)
{
    struct grove_change c = {.table = "docs",
                             .pk = pk,
                             .field = "title",
                             .crdt = GROVE_CRDT_LWW,
                             .node_id = origin,
                             .value = {"1", 1},
                             .hlc = {.ts = ts}};
    cr_assert_eq(grove_hlc_set_node(&c.hlc, origin), GROVE_OK);
    cr_assert_eq(grove_store_apply(store, &c, 1, origin, NULL), GROVE_OK, "%s", grove_errmsg());
}

/* A stream passes over changes the subscriber must not get back (its own);
 * the batch that follows still starts where the previous one ended, so the
 * subscriber sees no gap where there was only its own echo. */
Test(core_server, a_batch_after_skipped_echoes_starts_at_the_previous_cursor)
{
    struct grove_store *store = support_store(support_dir, "srv", support_docs_schema);
    struct grove_server *server;
    cr_assert_eq(grove_server_new(&server, store, NULL), GROVE_OK);
    apply_from(store, "y", "first", 1000);
    struct grove_pull_request req = {.node_id = "x"};
    struct grove_server_stream *stream;
    cr_assert_eq(grove_server_stream_open(server, &req, &stream), GROVE_OK);
    struct grove_pull_response *batch;
    cr_assert_eq(grove_server_stream_next(stream, 1000, &batch), GROVE_OK);
    cr_assert_eq(batch->count, 1);
    struct grove_hlc cursor = batch->latest_hlc;
    grove_msg_free(batch);
    for (int i = 0; i < 3; i++) { /* the subscriber's own changes: echoes for it */
        char pk[16];
        snprintf(pk, sizeof pk, "echo-%d", i);
        apply_from(store, "x", pk, 2000 + i);
    }
    /* Woken by the echoes' commit, the stream finds nothing to send. */
    cr_assert_eq(grove_server_stream_next(stream, 100, &batch), GROVE_ETIMEOUT);
    apply_from(store, "y", "second", 3000);
    cr_assert_eq(grove_server_stream_next(stream, 1000, &batch), GROVE_OK);
    cr_assert_eq(batch->count, 1);
    cr_expect_str_eq(batch->changes[0].pk, "second");
    cr_expect_eq(grove_hlc_compare(&batch->since, &cursor), 0,
                 "the batch starts at the previous batch's end, not after the echoes");
    grove_msg_free(batch);
    grove_server_stream_close(stream);
    grove_server_free(server);
    grove_store_close(store);
}

/* Writes n rows (pk "r00000"...) with a value of value_len bytes each. */
static void write_rows(struct grove_store *store, size_t n, size_t value_len)
{
    char *value = malloc(value_len + 1);
    cr_assert_not_null(value);
    memset(value, 'x', value_len);
    value[0] = value[value_len - 1] = '"';
    struct grove_field_write field = {.field = "title", .value = {value, value_len}};
    struct grove_row_write *rows = calloc(n, sizeof *rows);
    char (*pks)[32] = calloc(n, sizeof *pks);
    cr_assert(rows && pks);
    for (size_t i = 0; i < n; i++) {
        snprintf(pks[i], sizeof pks[i], "r%05zu", i);
        rows[i] = (struct grove_row_write){
            .table = "docs", .pk = pks[i], .fields = &field, .field_count = 1};
    }
    struct grove_write w = {.rows = rows, .row_count = n};
    cr_assert_eq(grove_data_write(store, &w, NULL), GROVE_OK, "%s", grove_errmsg());
    free(pks);
    free(rows);
    free(value);
}

/* Grove's clients send no limit, ignore has_more and pull from the start on
 * every sync: a pull without a limit brings every row of an ordinary store. */
Test(core_server, a_pull_without_limit_brings_twelve_thousand_rows_at_once)
{
    struct grove_store *store = support_store(support_dir, "srv", support_docs_schema);
    struct grove_server *server;
    cr_assert_eq(grove_server_new(&server, store, NULL), GROVE_OK);
    write_rows(store, 12000, 24);
    struct grove_pull_request req = {.node_id = "ts-client"};
    struct grove_pull_response *resp;
    cr_assert_eq(grove_server_pull(server, &req, &resp), GROVE_OK);
    cr_expect_eq(resp->count, 12000);
    cr_expect(!resp->has_more);
    grove_msg_free(resp);
    req.limit = 500; /* a limit asked for is kept */
    cr_assert_eq(grove_server_pull(server, &req, &resp), GROVE_OK);
    cr_expect_eq(resp->count, 500);
    cr_expect(resp->has_more);
    grove_msg_free(resp);
    grove_server_free(server);
    grove_store_close(store);
}

/* Big values end a page by size, limit or not; the pages still bring all. */
Test(core_server, pages_are_bounded_by_size)
{
    struct grove_store *store = support_store(support_dir, "srv", support_docs_schema);
    struct grove_server *server;
    struct grove_server_options opts = {.page_bytes = 1 << 20};
    cr_assert_eq(grove_server_new(&server, store, &opts), GROVE_OK);
    write_rows(store, 40, 100 << 10); /* 4 MB */
    struct grove_pull_request req = {.node_id = "ts-client", .limit = 1000};
    size_t total = 0, pages = 0;
    bool more = true;
    while (more) {
        struct grove_pull_response *resp;
        cr_assert_eq(grove_server_pull(server, &req, &resp), GROVE_OK);
        cr_assert_leq(resp->count, 11, "page %zu holds %zu records of 100 KiB", pages, resp->count);
        cr_assert_gt(resp->count, 0);
        total += resp->count;
        pages++;
        more = resp->has_more;
        req.since = resp->latest_hlc;
        grove_msg_free(resp);
    }
    cr_expect_eq(total, 40);
    cr_expect_geq(pages, 4);
    /* A record bigger than the bound still goes, alone. */
    write_rows(store, 1, 2 << 20);
    req = (struct grove_pull_request){.node_id = "ts-client", .since = req.since};
    struct grove_pull_response *resp;
    cr_assert_eq(grove_server_pull(server, &req, &resp), GROVE_OK);
    cr_expect_eq(resp->count, 1);
    grove_msg_free(resp);
    grove_server_free(server);
    grove_store_close(store);
}
