/* What a server refuses in a push (scenario tests 8-9). */
#include "sync_fixture.h"

TestSuite(sync_push, .init = fx_setup, .fini = fx_teardown);

static void assert_empty(struct fx_node *n)
{
    struct grove_hlc latest;
    fx_ok(grove_store_latest(n->node.store, &latest));
    cr_assert(grove_hlc_is_zero(&latest), "%s stored something", n->name);
    cr_assert_eq(fx_count_rows(n, "docs", 100), 0);
}

/* 8. One bad record in 500: nothing is applied, and the error names it, both
 * from the handler and through a transport. */
Test(sync_push, invalid_500th_record_changes_nothing)
{
    struct fx_node h;
    fx_node_init(&h, "H");
    fx_serve(&h);
    struct grove_push_request *req = fx_lww_push("p", 500, fx_now_ns() - 60 * 1000000000LL);
    req->changes[499].value.ptr = NULL; /* an lww change without a value */
    req->changes[499].value.len = 0;

    struct grove_push_response *resp = NULL;
    grove_err err = grove_server_push(h.node.server, req, &resp);
    cr_assert_eq(err, GROVE_EINVAL, "got %s", grove_err_name(err));
    cr_assert_null(resp);
    cr_assert_not_null(strstr(grove_errmsg(), "changes[499]"), "message: %s", grove_errmsg());
    assert_empty(&h);

    struct grove_peer *peer = NULL;
    fx_ok(grove_peer_open(&peer, h.url, NULL));
    err = grove_peer_push(peer, req, &resp);
    cr_assert_eq(err, GROVE_EINVAL, "got %s", grove_err_name(err));
    cr_assert_not_null(strstr(grove_errmsg(), "changes[499]"), "message: %s", grove_errmsg());
    assert_empty(&h);

    /* Repaired, the same request applies entirely. */
    req->changes[499].value.ptr = "\"fixed\"";
    req->changes[499].value.len = 7;
    fx_ok(grove_peer_push(peer, req, &resp));
    cr_assert_eq(resp->merged, 500);
    cr_assert_eq(fx_count_rows(&h, "docs", 1000), 500);
    fx_assert_row(&h, "docs", "p00499", "{\"title\":\"fixed\"}");
    grove_push_response_free(resp);
    grove_peer_close(peer);
    grove_push_request_free(req);
    fx_close(&h);
}

/* 9. A change stamped an hour ahead would win every LWW field forever: it is
 * refused, and the link keeps working for normal changes. */
Test(sync_push, future_stamp_rejected_normal_changes_flow)
{
    struct fx_node h, a;
    fx_node_init(&h, "H");
    fx_serve(&h);
    fx_node_init(&a, "A");
    fx_syncer(&a, NULL);
    fx_add_peer(&a, h.url);

    struct grove_push_request *req = fx_lww_push("p", 1, fx_now_ns() + 3600LL * 1000000000LL);
    struct grove_push_response *resp = NULL;
    struct grove_peer *peer = NULL;
    fx_ok(grove_peer_open(&peer, h.url, NULL));
    grove_err err = grove_peer_push(peer, req, &resp);
    cr_assert_eq(err, GROVE_EINVAL, "got %s", grove_err_name(err));
    cr_assert_null(resp);
    assert_empty(&h);
    grove_push_request_free(req);

    /* Normal changes still flow: a direct push, then a syncer round. */
    req = fx_lww_push("p", 1, fx_now_ns() - 1000000000LL);
    fx_ok(grove_peer_push(peer, req, &resp));
    cr_assert_eq(resp->merged, 1);
    grove_push_response_free(resp);
    grove_push_request_free(req);
    fx_set(&a, "docs", "a1", "title", "\"normal\"");
    struct grove_sync_report r = fx_sync(&a, 0);
    cr_assert_eq(r.pushed, 1);
    cr_assert_eq(r.pulled, 1);
    fx_assert_row(&h, "docs", "a1", "{\"title\":\"normal\"}");
    fx_assert_row(&a, "docs", "p00000", "{\"title\":0}");

    /* The store refuses it too, however it arrives. */
    req = fx_lww_push("p", 1, fx_now_ns() + 3600LL * 1000000000LL);
    struct grove_apply_report ar;
    err = grove_store_apply(a.node.store, req->changes, 1, "X", &ar);
    cr_assert_eq(err, GROVE_EINVAL, "got %s", grove_err_name(err));
    grove_push_request_free(req);
    fx_assert_row(&a, "docs", "p00000", "{\"title\":0}");

    grove_peer_close(peer);
    fx_close(&a);
    fx_close(&h);
}
