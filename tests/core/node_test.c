/* grove_node_close: every part a node holds stops, in the one order, even
 * while its syncer runs and a stream is open; an empty node is a no-op.
 * grove_node_open: the parts open in order, and a failure closes what was
 * opened before it. */
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

/* ---- grove_node_open ---------------------------------------------------- */

/* Node "a"'s store in support_dir, for grove_node_open. */
static struct grove_store_options node_store_a(char *path, size_t cap)
{
    snprintf(path, cap, "%s/a.db", support_dir);
    return (struct grove_store_options){
        .path = path, .node_id = "a", .schema = support_docs_schema};
}

/* Whether the store's SQLite file is open: in WAL mode its -wal file exists
 * exactly while a connection is open (the last close removes it). */
static bool node_store_is_open(const char *path)
{
    char wal[PATH_MAX + 8];
    snprintf(wal, sizeof wal, "%s-wal", path);
    return access(wal, F_OK) == 0;
}

/* Whether nothing listens at url: a listener can be opened there. */
static bool node_url_is_free(const char *url)
{
    struct grove_node probe;
    struct grove_node_listener l = {.url = url};
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/probe.db", support_dir);
    grove_err err = grove_node_open(
        &probe, &(struct grove_node_options){
                    .store = {.path = path, .node_id = "probe", .schema = support_docs_schema},
                    .listeners = &l,
                    .listener_count = 1});
    grove_node_close(&probe);
    return err == GROVE_OK;
}

Test(core_node, open_with_a_bad_listener_url_closes_what_it_opened)
{
    char path[PATH_MAX];
    struct grove_store_options store = node_store_a(path, sizeof path);
    struct grove_node n;
    cr_assert_eq(grove_node_open(&n, &(struct grove_node_options){.store = store}), GROVE_OK, "%s",
                 grove_errmsg());
    cr_assert(node_store_is_open(path), "an open store has its -wal file");
    grove_node_close(&n);
    cr_assert_not(node_store_is_open(path));

    struct grove_node_listener listeners[] = {{.url = "inproc://open-first"},
                                              {.url = "carrier-pigeon://open-second"}};
    struct grove_node_peer peer = {.url = "inproc://open-peer"};
    grove_err err = grove_node_open(&n, &(struct grove_node_options){.store = store,
                                                                     .listeners = listeners,
                                                                     .listener_count = 2,
                                                                     .peers = &peer,
                                                                     .peer_count = 1});
    cr_assert_eq(err, GROVE_ENOTSUP, "%s", grove_errmsg());
    cr_expect(strstr(grove_errmsg(), "carrier-pigeon") != NULL, "names the URL: %s",
              grove_errmsg());
    cr_assert(node_is_empty(&n), "a failed open leaves the node empty");
    cr_expect_not(node_store_is_open(path), "the store was closed");
    cr_expect(node_url_is_free("inproc://open-first"), "the first listener was closed");
}

Test(core_node, open_with_a_bad_peer_or_store_closes_what_it_opened)
{
    char path[PATH_MAX];
    struct grove_store_options store = node_store_a(path, sizeof path);
    struct grove_node_listener listener = {.url = "inproc://open-served"};
    struct grove_node_peer peers[] = {{.url = "inproc://open-fine"}, {.url = "nowhere://x"}};
    struct grove_node n;
    grove_err err = grove_node_open(&n, &(struct grove_node_options){.store = store,
                                                                     .listeners = &listener,
                                                                     .listener_count = 1,
                                                                     .peers = peers,
                                                                     .peer_count = 2,
                                                                     .start_syncer = true});
    cr_assert_eq(err, GROVE_ENOTSUP, "%s", grove_errmsg());
    cr_expect(strstr(grove_errmsg(), "peer nowhere://x: ") == grove_errmsg(), "%s", grove_errmsg());
    cr_assert(node_is_empty(&n));
    cr_expect_not(node_store_is_open(path));
    cr_expect(node_url_is_free("inproc://open-served"), "the listener was closed");

    char missing[PATH_MAX + 32];
    snprintf(missing, sizeof missing, "%s/no/such/dir/a.db", support_dir);
    store.path = missing;
    err = grove_node_open(&n, &(struct grove_node_options){
                                  .store = store, .listeners = &listener, .listener_count = 1});
    cr_assert_neq(err, GROVE_OK);
    cr_expect(strstr(grove_errmsg(), missing) != NULL, "names the path: %s", grove_errmsg());
    cr_assert(node_is_empty(&n));
    cr_expect(node_url_is_free("inproc://open-served"), "nothing was opened after the store");
}

Test(core_node, open_keeps_listeners_and_peers_in_order, .timeout = 60)
{
    struct support_node b, c;
    support_serve(&b, "b", "inproc://order-b");
    support_serve(&c, "c", "inproc://order-c");
    char path[PATH_MAX];
    struct grove_node_listener listeners[] = {{.url = "inproc://order-a1"},
                                              {.url = "inproc://order-a2"}};
    struct grove_node_peer peers[] = {{.url = "inproc://order-c"}, {.url = "inproc://order-b"}};
    struct grove_node a;
    cr_assert_eq(grove_node_open(&a,
                                 &(struct grove_node_options){
                                     .store = node_store_a(path, sizeof path),
                                     .listeners = listeners,
                                     .listener_count = 2,
                                     .peers = peers,
                                     .peer_count = 2,
                                 }),
                 GROVE_OK, "%s", grove_errmsg());
    cr_assert(a.store && a.server && a.syncer);
    cr_assert_eq(a.listener_count, 2);
    cr_assert_eq(grove_syncer_peer_count(a.syncer), 2);
    /* Peers are synced in the order given. */
    struct grove_sync_report reports[2];
    cr_assert_eq(grove_syncer_sync(a.syncer, reports), GROVE_OK);
    cr_expect_str_eq(reports[0].peer, "inproc://order-c");
    cr_expect_str_eq(reports[1].peer, "inproc://order-b");
    /* listeners[i] serves the i-th URL: closing the first frees only it. */
    grove_listener_close(a.listeners[0]);
    a.listeners[0] = NULL;
    cr_expect(node_url_is_free("inproc://order-a1"));
    cr_expect_not(node_url_is_free("inproc://order-a2"));
    node_close_bounded(&a, "a");
    cr_expect(node_url_is_free("inproc://order-a2"));
    support_node_stop(&c);
    support_node_stop(&b);
}

Test(core_node, open_makes_only_the_parts_asked_for, .timeout = 60)
{
    char path[PATH_MAX];
    struct grove_store_options store = node_store_a(path, sizeof path);
    struct grove_node n;
    cr_assert_eq(grove_node_open(&n, &(struct grove_node_options){.store = store}), GROVE_OK);
    cr_expect(n.store && !n.server && !n.syncer && n.listener_count == 0);
    grove_node_close(&n);
    /* serve and sync without listeners or peers: for grove_node_listen and
     * grove_syncer_add_peer later. */
    cr_assert_eq(grove_node_open(
                     &n, &(struct grove_node_options){.store = store, .serve = true, .sync = true}),
                 GROVE_OK, "%s", grove_errmsg());
    cr_expect(n.store && n.server && n.syncer && n.listener_count == 0);
    cr_expect_eq(grove_node_listen(&n, "inproc://later", NULL), GROVE_OK, "%s", grove_errmsg());
    grove_node_close(&n);

    /* start_syncer: the background rounds report through report_fn. */
    static atomic_int rounds;
    struct support_node b;
    support_serve(&b, "b", "inproc://started-b");
    struct grove_node_peer peer = {.url = "inproc://started-b"};
    cr_assert_eq(grove_node_open(&n,
                                 &(struct grove_node_options){
                                     .store = store,
                                     .syncer = {.interval_ms = 3600 * 1000},
                                     .peers = &peer,
                                     .peer_count = 1,
                                     .start_syncer = true,
                                     .report_fn = node_count_round,
                                     .report_user = &rounds,
                                 }),
                 GROVE_OK, "%s", grove_errmsg());
    for (int i = 0; i < 500 && atomic_load(&rounds) == 0; i++)
        usleep(10000);
    cr_expect_gt(atomic_load(&rounds), 0, "no background round was reported");
    node_close_bounded(&n, "a");
    support_node_stop(&b);
}
