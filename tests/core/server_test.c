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
