/* Relaying through a hub: the cases where Grove's change-HLC cursor and its
 * single sync cursor lose writes (scenario tests 1-3). */
#include "sync_fixture.h"

TestSuite(sync_relay, .init = fx_setup, .fini = fx_teardown);

/* 1. A writes offline; C's newer write reaches H and B pulls it, moving B's
 * cursor past A's (older) HLC; then A comes online: B still gets A's write,
 * because cursors are arrival stamps, not change HLCs. */
Test(sync_relay, relay_after_cursor_moved)
{
    struct fx_node h, a, b, c;
    fx_node_init(&h, "H");
    fx_serve(&h);
    struct fx_node *edges[] = {&a, &b, &c};
    const char *names[] = {"A", "B", "C"};
    for (int i = 0; i < 3; i++) {
        fx_node_init(edges[i], names[i]);
        fx_syncer(edges[i], NULL);
        fx_add_peer(edges[i], h.url);
    }

    fx_set(&a, "docs", "from-a", "title", "\"offline edit\"");
    fx_set(&c, "docs", "from-c", "title", "\"newer edit\"");
    fx_sync(&c, 0);
    struct grove_sync_report r = fx_sync(&b, 0);
    cr_assert_eq(r.pulled, 1);
    fx_assert_row(&b, "docs", "from-c", "{\"title\":\"newer edit\"}");
    fx_assert_row(&b, "docs", "from-a", "(absent)");

    fx_sync(&a, 0); /* A comes online */
    r = fx_sync(&b, 0);
    cr_assert_eq(r.pulled, 1, "B pulled %llu", (unsigned long long)r.pulled);
    fx_assert_row(&b, "docs", "from-a", "{\"title\":\"offline edit\"}");

    fx_close(&a);
    fx_close(&b);
    fx_close(&c);
    fx_close(&h);
}

/* 2. A stream batch moves A's pull cursor past a local write made earlier;
 * the write is still pushed, because pushing follows its own cursor. */
Test(sync_relay, local_writes_pushed_after_stream_moved_pull_cursor)
{
    struct fx_node h, a, x;
    fx_node_init(&h, "H");
    fx_serve(&h);
    fx_node_init(&a, "A");
    fx_syncer(&a, NULL);
    fx_add_peer(&a, h.url);
    fx_node_init(&x, "X");
    fx_syncer(&x, NULL);
    fx_add_peer(&x, h.url);

    fx_sync(&a, 0); /* cursors exist */
    fx_set(&a, "docs", "local", "title", "\"written before the stream\"");
    fx_set(&x, "docs", "remote", "title", "\"streamed\"");
    fx_sync(&x, 0);

    struct grove_peer_cursors before, after;
    fx_ok(grove_store_cursors_get(a.node.store, h.url, &before));
    const char *tables[] = {"docs"};
    struct grove_pull_request req = {
        .tables = tables, .table_count = 1, .since = before.pull, .node_id = "A"};
    struct grove_server_stream *stream = NULL;
    struct grove_pull_response *batch = NULL;
    fx_ok(grove_server_stream_open(h.node.server, &req, &stream));
    fx_ok(grove_server_stream_next(stream, 5000, &batch));
    cr_assert_geq(batch->count, 1);
    fx_ok(grove_syncer_apply_stream_batch(a.node.syncer, 0, batch));
    grove_pull_response_free(batch);
    grove_server_stream_close(stream);

    fx_ok(grove_store_cursors_get(a.node.store, h.url, &after));
    cr_assert_gt(grove_hlc_compare(&after.pull, &before.pull), 0, "stream did not move the cursor");
    fx_assert_row(&a, "docs", "remote", "{\"title\":\"streamed\"}");
    fx_assert_row(&h, "docs", "local", "(absent)");

    struct grove_sync_report r = fx_push(&a, 0);
    cr_assert_eq(r.pushed, 1, "pushed %llu", (unsigned long long)r.pushed);
    fx_assert_row(&h, "docs", "local", "{\"title\":\"written before the stream\"}");

    fx_close(&a);
    fx_close(&x);
    fx_close(&h);
}

/* 3. The hub runs the syncer and the edges only serve: what the hub pulls
 * from edge 1 it pushes to edge 2 (a relayed change is not an echo). */
Test(sync_relay, hub_syncer_relays_between_passive_edges)
{
    struct fx_node h, e1, e2;
    fx_node_init(&e1, "E1");
    fx_serve(&e1);
    fx_node_init(&e2, "E2");
    fx_serve(&e2);
    fx_node_init(&h, "H");
    fx_syncer(&h, NULL);
    fx_add_peer(&h, e1.url);
    fx_add_peer(&h, e2.url);

    fx_set(&e1, "docs", "d1", "title", "\"from edge 1\"");
    fx_set(&e2, "docs", "d2", "title", "\"from edge 2\"");
    struct grove_sync_report reports[2];
    fx_ok(grove_syncer_sync(h.node.syncer, reports));
    fx_ok(grove_syncer_sync(h.node.syncer, reports));
    for (int i = 0; i < 2; i++)
        cr_assert_eq(reports[i].err, GROVE_OK, "%s", reports[i].error);

    fx_assert_row(&e2, "docs", "d1", "{\"title\":\"from edge 1\"}");
    fx_assert_row(&e1, "docs", "d2", "{\"title\":\"from edge 2\"}");
    fx_assert_row(&h, "docs", "d1", "{\"title\":\"from edge 1\"}");

    /* Nothing is echoed back: a further round moves nothing. */
    fx_ok(grove_syncer_sync(h.node.syncer, reports));
    for (int i = 0; i < 2; i++)
        cr_assert_eq(reports[i].pulled + reports[i].pushed, 0, "peer %d moved %llu+%llu", i,
                     (unsigned long long)reports[i].pulled, (unsigned long long)reports[i].pushed);

    fx_close(&h);
    fx_close(&e1);
    fx_close(&e2);
}
