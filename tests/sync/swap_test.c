/* A link's state belongs to the peer's node id, not to its URL: the same
 * node behind another URL (a transport swap) resumes where it was, and a URL
 * that reaches another node gets that node's own state, with a notice. */
#include "sync_fixture.h"

TestSuite(sync_swap, .init = fx_setup, .fini = fx_teardown, .timeout = 240);

/* Serves n at a second URL as well: the same node on another "transport". */
static void serve_also(struct fx_node *n, const char *url)
{
    fx_ok(grove_node_listen(&n->node, url, NULL));
}

/* n restarted with one peer, url. */
static void restart_with_peer(struct fx_node *n, const char *url)
{
    fx_close(n);
    fx_open_store(n);
    fx_syncer(n, NULL);
    fx_add_peer(n, url);
}

static void apply_from(struct fx_node *n, const char *prefix, size_t count, const char *origin)
{
    struct grove_push_request *req =
        fx_lww_push(prefix, count, fx_now_ns() - 3600LL * 1000000000LL);
    for (size_t i = 0; i < count; i++) {
        fx_ok(grove_hlc_set_node(&req->changes[i].hlc, origin));
        req->changes[i].node_id = origin;
    }
    struct grove_apply_report ar;
    fx_ok(grove_store_apply(n->node.store, req->changes, count, origin, &ar));
    cr_assert_eq(ar.merged, count);
    grove_push_request_free(req);
}

Test(sync_swap, another_url_to_the_same_node_pulls_and_pushes_nothing_old)
{
    enum { BIG = 100000, OURS = 1000 };
    struct fx_node a, b;
    fx_node_init(&b, "B");
    fx_serve(&b);
    char other_url[128];
    snprintf(other_url, sizeof other_url, "%s-grpc", b.url);
    serve_also(&b, other_url);
    apply_from(&b, "b", BIG, "X");

    fx_node_init(&a, "A");
    apply_from(&a, "a", OURS, "Y");
    fx_syncer(&a, NULL);
    fx_add_peer(&a, b.url);
    struct grove_sync_report r = fx_sync(&a, 0);
    cr_assert_eq(r.pulled, BIG, "first round pulled %llu", (unsigned long long)r.pulled);
    cr_assert_eq(r.pushed, OURS, "first round pushed %llu", (unsigned long long)r.pushed);

    restart_with_peer(&a, other_url); /* the peer line edited, groved restarted */
    r = fx_sync(&a, 0);
    printf("after the swap: pulled=%llu pushed=%llu\n", (unsigned long long)r.pulled,
           (unsigned long long)r.pushed);
    cr_expect_eq(r.pulled, 0, "the swap re-pulled %llu", (unsigned long long)r.pulled);
    cr_expect_eq(r.pushed, 0, "the swap re-pushed %llu", (unsigned long long)r.pushed);
    cr_expect_str_eq(r.notice, "");
    struct grove_peer_cursors c;
    fx_ok(grove_store_cursors_get(a.node.store, other_url, &c));
    cr_expect_str_eq(c.peer_node, "B");

    /* The link goes on from there, both ways. */
    fx_set(&a, "docs", "new-a", "title", "\"a\"");
    fx_set(&b, "docs", "new-b", "title", "\"b\"");
    r = fx_sync(&a, 0);
    cr_expect_eq(r.pulled, 1);
    cr_expect_eq(r.pushed, 1);
    fx_assert_row(&a, "docs", "new-b", "{\"title\":\"b\"}");
    fx_assert_row(&b, "docs", "new-a", "{\"title\":\"a\"}");

    /* And back to the first URL, in the same process: nothing old either. */
    restart_with_peer(&a, b.url);
    r = fx_sync(&a, 0);
    cr_expect_eq(r.pulled, 0);
    cr_expect_eq(r.pushed, 0);
    fx_close(&a);
    fx_close(&b);
}

Test(sync_swap, a_url_that_reaches_another_node_gets_its_own_state)
{
    struct fx_node a, b, c;
    fx_node_init(&b, "B");
    fx_serve(&b);
    char url[96];
    snprintf(url, sizeof url, "%s", b.url);
    apply_from(&b, "b", 10, "Z");
    fx_node_init(&a, "A");
    fx_syncer(&a, NULL);
    fx_add_peer(&a, url);
    struct grove_sync_report r = fx_sync(&a, 0);
    cr_assert_eq(r.pulled, 10);

    /* B goes away; C answers at its URL. */
    fx_close(&b);
    fx_node_init(&c, "C");
    snprintf(c.url, sizeof c.url, "%s", url);
    fx_serve(&c);
    apply_from(&c, "c", 5, "W");
    r = fx_sync(&a, 0);
    cr_expect(strstr(r.notice, "answers as node C, no longer B") != NULL, "notice: '%s'",
              r.notice);
    cr_expect_eq(r.pulled, 5, "C's own state starts from zero: pulled %llu",
                 (unsigned long long)r.pulled);
    cr_expect_eq(r.pushed, 10, "B's rows go to C: pushed %llu", (unsigned long long)r.pushed);
    struct grove_peer_cursors cur;
    fx_ok(grove_store_cursors_get(a.node.store, url, &cur));
    cr_expect_str_eq(cur.peer_node, "C");
    r = fx_sync(&a, 0);
    cr_expect_str_eq(r.notice, "", "reported once");
    cr_expect_eq(r.pulled + r.pushed, 0);

    /* B's state was kept: B back at another URL resumes. */
    fx_open_store(&b);
    b.url[sizeof b.url - 6] = '\0';
    strcat(b.url, "-back");
    fx_serve(&b);
    fx_add_peer(&a, b.url);
    r = fx_sync(&a, 1);
    cr_expect_eq(r.pulled, 0, "B re-pulled %llu", (unsigned long long)r.pulled);
    cr_expect_eq(r.pushed, 5, "C's rows go to B: pushed %llu", (unsigned long long)r.pushed);
    fx_close(&a);
    fx_close(&b);
    fx_close(&c);
}
