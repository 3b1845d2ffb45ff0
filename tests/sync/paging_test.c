/* Pagination (scenario test 4). */
#include "sync_fixture.h"

TestSuite(sync_paging, .init = fx_setup, .fini = fx_teardown);

/* 4. 25,000 changes in one table, then later ones in a second table, pulled
 * with a page limit of 1,000: every one arrives (a per-table cursor or a
 * page boundary must not skip the second table). */
Test(sync_paging, many_changes_two_tables_page_1000)
{
    enum { BIG = 25000, LATER = 37 };
    struct fx_node a, b;
    fx_node_init(&a, "A");
    fx_serve(&a);

    /* The bulk arrives at A in one transaction, as a merged push would. */
    struct grove_push_request *req = fx_lww_push("d", BIG, fx_now_ns() - 3600LL * 1000000000LL);
    struct grove_apply_report ar;
    fx_ok(grove_store_apply(a.node.store, req->changes, BIG, "X", &ar));
    cr_assert_eq(ar.merged, BIG);
    grove_push_request_free(req);
    for (int i = 0; i < LATER; i++) {
        char pk[16];
        snprintf(pk, sizeof pk, "n%02d", i);
        fx_set(&a, "notes", pk, "text", "\"later\"");
    }

    fx_node_init(&b, "B");
    struct grove_syncer_options o = {.page_limit = 1000};
    fx_syncer(&b, &o);
    fx_add_peer(&b, a.url);
    struct grove_sync_report r = fx_pull(&b, 0);
    cr_assert_eq(r.pulled, BIG + LATER, "pulled %llu", (unsigned long long)r.pulled);
    cr_assert_eq(fx_count_rows(&b, "docs", 1000), BIG);
    cr_assert_eq(fx_count_rows(&b, "notes", 1000), LATER);
    fx_assert_row(&b, "docs", "d24999", "{\"title\":24999}");
    fx_assert_row(&b, "notes", "n36", "{\"text\":\"later\"}");

    /* A second pull finds nothing new. */
    r = fx_pull(&b, 0);
    cr_assert_eq(r.pulled, 0);
    fx_close(&b);
    fx_close(&a);
}
