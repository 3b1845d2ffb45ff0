/* The metrics registry: counts land in their series, label values are
 * escaped, two stores keep two registries. */
#include <string.h>

#include "grove/metrics.h"
#include "support.h"

TestSuite(core_metrics, .init = support_setup, .fini = support_teardown);

static char *render(struct grove_store *store)
{
    struct grove_buf out = {0};
    cr_assert_eq(grove_metrics_render(store, &out), GROVE_OK, "%s", grove_errmsg());
    cr_assert_eq(grove_buf_append(&out, "", 1), GROVE_OK);
    return out.data;
}

static void apply_from(struct grove_store *store, const char *origin, const char *value, int64_t ts)
{
    struct grove_change c = {.table = "docs",
                             .pk = "r",
                             .field = "title",
                             .crdt = GROVE_CRDT_LWW,
                             .node_id = origin,
                             .value = {value, strlen(value)},
                             .hlc = {.ts = ts}};
    cr_assert_eq(grove_hlc_set_node(&c.hlc, origin), GROVE_OK);
    cr_assert_eq(grove_store_apply(store, &c, 1, origin, NULL), GROVE_OK, "%s", grove_errmsg());
}

Test(core_metrics, remote_merges_and_conflicts_count_per_table)
{
    struct grove_store *store = support_store(support_dir, "m", support_docs_schema);
    apply_from(store, "x", "\"a\"", 1000);
    apply_from(store, "y", "\"b\"", 2000); /* another origin's value met x's */
    apply_from(store, "y", "\"b\"", 2000); /* the same again: changes nothing */
    char *text = render(store);
    cr_assert(strstr(text, "grove_changes_merged_total{table=\"docs\"} 2\n"), "%s", text);
    cr_assert(strstr(text, "grove_changes_merged_total{table=\"notes\"} 0\n"), "%s", text);
    cr_assert(strstr(text, "grove_conflicts_total{table=\"docs\"} 1\n"), "%s", text);
    free(text);
    grove_store_close(store);
}

Test(core_metrics, requests_rejections_and_escaped_labels)
{
    struct grove_store *store = support_store(support_dir, "m", support_docs_schema);
    struct grove_store *other = support_store(support_dir, "o", support_docs_schema);
    struct grove_metrics *m = grove_store_metrics(store);
    grove_metrics_request(m, GROVE_METRICS_GRPC, GROVE_METRICS_OP_PUSH, GROVE_OK,
                          grove_metrics_now_us());
    grove_metrics_request(m, GROVE_METRICS_HTTP, GROVE_METRICS_OP_DATA, GROVE_EAUTH, 0);
    grove_metrics_request(m, GROVE_METRICS_HTTP, GROVE_METRICS_OP_DATA, GROVE_ESTORE, 0);
    grove_metrics_subscribers_add(m, GROVE_METRICS_NNG, 1);
    struct grove_metrics_peer *p = grove_metrics_peer_add(m, "inproc://a\"b\\c\nd");
    cr_assert_eq(grove_metrics_peer_add(m, "inproc://a\"b\\c\nd"), p, "one slot per URL");
    grove_metrics_peer_exchange(p, &(struct grove_sync_report){.pulled = 3, .duration_us = 20000},
                                true);
    char *text = render(store);
    cr_assert(strstr(text, "grove_requests_total{transport=\"grpc\",op=\"push\",code=\"OK\"} 1\n"),
              "%s", text);
    cr_assert(strstr(text, "grove_rejected_total{reason=\"auth\"} 1\n"), "%s", text);
    /* A server's own failure is not the client's request refused. */
    cr_assert(strstr(text, "code=\"ESTORE\"} 1\n"), "%s", text);
    cr_assert(strstr(text, "grove_request_seconds_count 1\n"), "only timed requests: %s", text);
    cr_assert(strstr(text, "grove_stream_subscribers{transport=\"nng\"} 1\n"), "%s", text);
    cr_assert(strstr(text, "grove_changes_pulled_total{peer=\"inproc://a\\\"b\\\\c\\nd\"} 3\n"),
              "%s", text);
    cr_assert(strstr(text, "grove_sync_round_seconds_bucket{le=\"0.01\"} 0\n"), "%s", text);
    cr_assert(strstr(text, "grove_sync_round_seconds_bucket{le=\"0.025\"} 1\n"), "%s", text);
    cr_assert(strstr(text, "grove_sync_round_seconds_sum 0.020000\n"), "%s", text);
    free(text);
    char *fresh = render(other);
    cr_assert(strstr(fresh, "grove_rejected_total{reason=\"auth\"} 0\n"), "%s", fresh);
    cr_assert_null(strstr(fresh, "grove_changes_pulled_total{"), "%s", fresh);
    free(fresh);
    grove_store_close(other);
    grove_store_close(store);
}

/* A sync round over inproc: the serving node counts the requests (the
 * round's pull, and the syncer's pull that identifies the peer), the syncing
 * node the round, the changes and the peer, named by its node id once
 * learned. */
Test(core_metrics, a_round_over_inproc_moves_both_nodes_series)
{
    struct support_node server;
    support_serve(&server, "served", "inproc://metrics-round");
    apply_from(server.node.store, "x", "\"a\"", 1000);
    struct grove_store *store = support_store(support_dir, "syncing", support_docs_schema);
    struct grove_syncer *syncer;
    cr_assert_eq(grove_syncer_new(&syncer, store, NULL), GROVE_OK);
    cr_assert_eq(grove_syncer_add_peer(syncer, server.url, NULL), GROVE_OK, "%s", grove_errmsg());
    struct grove_sync_report r;
    cr_assert_eq(grove_syncer_sync_peer(syncer, 0, &r), GROVE_OK);
    cr_assert_eq(r.err, GROVE_OK, "%s", r.error);
    char *served = render(server.node.store);
    cr_assert(strstr(served, "grove_requests_total{transport=\"inproc\",op=\"pull\",code=\"OK\"} "),
              "%s", served);
    free(served);
    char *text = render(store);
    cr_assert(strstr(text, "grove_changes_pulled_total{peer=\"served\"} 1\n"), "%s", text);
    cr_assert(strstr(text, "grove_sync_rounds_total{peer=\"served\",result=\"ok\"} 1\n"), "%s",
              text);
    cr_assert(strstr(text, "grove_peer_up{peer=\"served\"} 1\n"), "%s", text);
    cr_assert(strstr(text, "grove_peer_pending_changes{peer=\"served\"} 0\n"), "%s", text);
    cr_assert(strstr(text, "grove_changes_merged_total{table=\"docs\"} 1\n"), "%s", text);
    cr_assert(strstr(text, "grove_sync_round_seconds_count 1\n"), "%s", text);
    free(text);
    grove_syncer_free(syncer);
    grove_store_close(store);
    support_node_stop(&server);
}
