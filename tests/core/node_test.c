/* grove_node_close: every part a node holds stops, in the one order, even
 * while its syncer runs and a stream is open; an empty node is a no-op. */
#include <stdatomic.h>
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

static void node_count_round(void *user, const struct grove_sync_report *r)
{
    (void)r;
    atomic_fetch_add((atomic_int *)user, 1);
}

/* Adds a started pull-only syncer that streams from peer_url and waits
 * (bounded) for its first round: from then on only the stream moves changes
 * (no push on commit, and the next round is an hour away). */
static void node_stream_from(struct grove_node *n, const char *peer_url, atomic_int *rounds)
{
    struct grove_syncer_options o = {
        .interval_ms = 3600 * 1000, .mode = GROVE_SYNC_PULL_ONLY, .stream = true};
    cr_assert_eq(grove_syncer_new(&n->syncer, n->store, &o), GROVE_OK, "%s", grove_errmsg());
    cr_assert_eq(grove_syncer_add_peer(n->syncer, peer_url, NULL), GROVE_OK, "%s", grove_errmsg());
    cr_assert_eq(grove_syncer_start(n->syncer, node_count_round, rounds), GROVE_OK, "%s",
                 grove_errmsg());
    for (int i = 0; i < 500 && atomic_load(rounds) == 0; i++)
        usleep(10000);
    cr_assert_gt(atomic_load(rounds), 0, "no first round with %s", peer_url);
}

/* Two full nodes, each serving and streaming from the other, with a change
 * streamed each way (so both streams are open when this returns). */
static void node_pair_streaming(struct grove_node *a, struct grove_node *b)
{
    static atomic_int rounds_a, rounds_b; /* outlive the syncers */
    struct support_node served_a, served_b;
    support_serve(&served_a, "a", "inproc://node-a");
    support_serve(&served_b, "b", "inproc://node-b");
    *a = served_a.node;
    *b = served_b.node;
    node_stream_from(a, "inproc://node-b", &rounds_a);
    node_stream_from(b, "inproc://node-a", &rounds_b);
    cr_assert_eq(grove_store_set(b->store, "docs", "to-a", "title", "\"b\"", 3), GROVE_OK);
    cr_assert_eq(grove_store_set(a->store, "docs", "to-b", "title", "\"a\"", 3), GROVE_OK);
    cr_assert(support_eventually(a->store, "docs", "to-a", "{\"title\":\"b\"}"),
              "b's change was not streamed to a");
    cr_assert(support_eventually(b->store, "docs", "to-b", "{\"title\":\"a\"}"),
              "a's change was not streamed to b");
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
    struct support_node n;
    support_serve(&n, "a", "inproc://node-first");
    cr_assert_eq(grove_node_listen(&n.node, "inproc://node-second", NULL), GROVE_OK, "%s",
                 grove_errmsg());
    cr_assert_eq(n.node.listener_count, 2);
    grove_node_close(&n.node);
    cr_assert(node_is_empty(&n.node));
    /* Both addresses are free again: their listeners were closed, not leaked. */
    support_serve(&n, "a", "inproc://node-first");
    cr_assert_eq(grove_node_listen(&n.node, "inproc://node-second", NULL), GROVE_OK, "%s",
                 grove_errmsg());
    support_node_stop(&n);
}

Test(core_node, a_failed_listen_leaves_the_node_unchanged)
{
    struct grove_node empty = {0};
    cr_expect_eq(grove_node_listen(&empty, "inproc://node-x", NULL), GROVE_EINVAL);
    cr_expect(strstr(grove_errmsg(), "no server") != NULL, "%s", grove_errmsg());
    struct support_node n;
    support_serve(&n, "a", "inproc://node-x");
    cr_expect_eq(grove_node_listen(&n.node, "inproc://node-x", NULL), GROVE_EUNAVAIL);
    cr_expect_eq(n.node.listener_count, 1);
    cr_expect_null(n.node.listeners[1]);
    grove_node_close(&n.node);
    cr_assert(node_is_empty(&n.node));
}
