/* grove_node_close: every part a node holds stops, in the one order, even
 * while its syncer runs and a stream is open; an empty node is a no-op. */
#include <time.h>
#include <unistd.h>

#include "support.h"

TestSuite(core_node, .init = support_setup, .fini = support_teardown);

/* Whether every part is NULL and no listener is counted. */
static bool node_is_empty(const struct grove_node *n)
{
    for (size_t i = 0; i < GROVE_NODE_LISTENERS_MAX; i++)
        if (n->listeners[i])
            return false;
    return !n->store && !n->server && !n->syncer && n->listener_count == 0;
}

/* A node with a store and a server listening at url. */
static void node_serve(struct grove_node *n, const char *name, const char *url)
{
    *n = (struct grove_node){.store = support_store(support_dir, name, support_docs_schema)};
    cr_assert_eq(grove_server_new(&n->server, n->store, NULL), GROVE_OK, "%s", grove_errmsg());
    cr_assert_eq(grove_node_listen(n, url, NULL), GROVE_OK, "%s", grove_errmsg());
}

/* Adds a started syncer that streams from peer_url; only commits and the
 * stream move changes (the interval is an hour). */
static void node_sync_from(struct grove_node *n, const char *peer_url)
{
    struct grove_syncer_options o = {.interval_ms = 3600 * 1000, .stream = true};
    cr_assert_eq(grove_syncer_new(&n->syncer, n->store, &o), GROVE_OK, "%s", grove_errmsg());
    cr_assert_eq(grove_syncer_add_peer(n->syncer, peer_url, NULL), GROVE_OK, "%s", grove_errmsg());
    cr_assert_eq(grove_syncer_start(n->syncer, NULL, NULL), GROVE_OK, "%s", grove_errmsg());
}

/* Waits (bounded) until docs/pk on store resolves to want. */
static bool node_eventually(struct grove_store *store, const char *pk, const char *want)
{
    for (int i = 0; i < 500; i++) {
        char *doc = support_get(store, "docs", pk);
        bool same = strcmp(doc, want) == 0;
        free(doc);
        if (same)
            return true;
        usleep(10000);
    }
    return false;
}

/* Two full nodes, each serving and streaming from the other, with a change
 * streamed each way (so both streams are open when this returns). */
static void node_pair_streaming(struct grove_node *a, struct grove_node *b)
{
    node_serve(a, "a", "inproc://node-a");
    node_serve(b, "b", "inproc://node-b");
    node_sync_from(a, "inproc://node-b");
    node_sync_from(b, "inproc://node-a");
    usleep(100000); /* let the first rounds finish: later changes can only stream */
    cr_assert_eq(grove_store_set(b->store, "docs", "to-a", "title", "\"b\"", 3), GROVE_OK);
    cr_assert_eq(grove_store_set(a->store, "docs", "to-b", "title", "\"a\"", 3), GROVE_OK);
    cr_assert(node_eventually(a->store, "to-a", "{\"title\":\"b\"}"), "b's change did not reach a");
    cr_assert(node_eventually(b->store, "to-b", "{\"title\":\"a\"}"), "a's change did not reach b");
}

static double node_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Closes n, asserting it took less than 10 s and left nothing set. */
static void node_close_bounded(struct grove_node *n, const char *name)
{
    double start = node_now_s();
    grove_node_close(n);
    double took = node_now_s() - start;
    cr_expect_lt(took, 10.0, "closing %s took %.1f s", name, took);
    cr_assert(node_is_empty(n), "%s still holds a part after closing", name);
}

Test(core_node, closing_an_empty_node_is_a_no_op)
{
    struct grove_node n = {0};
    grove_node_close(&n);
    cr_assert(node_is_empty(&n));
    grove_node_close(&n);
    cr_assert(node_is_empty(&n));
}

Test(core_node, closes_the_server_side_of_open_streams_first, .timeout = 60)
{
    struct grove_node a, b;
    node_pair_streaming(&a, &b);
    node_close_bounded(&b, "b"); /* a's syncer still streams from b */
    node_close_bounded(&a, "a");
}

Test(core_node, closes_the_syncing_side_of_open_streams_first, .timeout = 60)
{
    struct grove_node a, b;
    node_pair_streaming(&a, &b);
    node_close_bounded(&a, "a"); /* b's syncer still streams from a */
    node_close_bounded(&b, "b");
}

Test(core_node, closes_every_listener_and_frees_their_addresses)
{
    struct grove_node n;
    node_serve(&n, "a", "inproc://node-first");
    cr_assert_eq(grove_node_listen(&n, "inproc://node-second", NULL), GROVE_OK, "%s",
                 grove_errmsg());
    cr_assert_eq(n.listener_count, 2);
    grove_node_close(&n);
    cr_assert(node_is_empty(&n));
    /* Both addresses are free again: their listeners were closed, not leaked. */
    node_serve(&n, "a", "inproc://node-first");
    cr_assert_eq(grove_node_listen(&n, "inproc://node-second", NULL), GROVE_OK, "%s",
                 grove_errmsg());
    grove_node_close(&n);
}

Test(core_node, a_failed_listen_leaves_the_node_unchanged)
{
    struct grove_node n = {0};
    cr_expect_eq(grove_node_listen(&n, "inproc://node-x", NULL), GROVE_EINVAL);
    cr_expect(strstr(grove_errmsg(), "no server") != NULL, "%s", grove_errmsg());
    node_serve(&n, "a", "inproc://node-x");
    cr_expect_eq(grove_node_listen(&n, "inproc://node-x", NULL), GROVE_EUNAVAIL);
    cr_expect_eq(n.listener_count, 1);
    cr_expect_null(n.listeners[1]);
    grove_node_close(&n);
    cr_assert(node_is_empty(&n));
}
