/* --counter-deltas operations (core/store_counter_ops.c): Grove's
 * TypeScript client pushes one counter record per increment, each with its
 * own HLC and that increment's delta, and re-sends pending records on later
 * syncs. A server taking pushes as operations sums them once each; what it
 * relays is the state-based form, so a node in the default mode converges. */
#include <time.h>

#include "support.h"

TestSuite(core_counter_ops, .init = support_setup, .fini = support_teardown);

/* A push as the TS client sends it: one record per operation. */
static const char *ts_record(char *out, size_t cap, const char *client, int64_t ts, int inc,
                             int dec)
{
    snprintf(out, cap,
             "{\"table\":\"docs\",\"pk\":\"d\",\"field\":\"views\",\"crdt_type\":\"counter\","
             "\"hlc\":{\"ts\":%lld,\"c\":0,\"node\":\"%s\"},\"node_id\":\"%s\","
             "\"counter_delta\":{\"inc\":%d,\"dec\":%d}}",
             (long long)ts, client, client, inc, dec);
    return out;
}

static void push(struct grove_server *server, const char *client, const int (*ops)[2], size_t n,
                 int64_t ts0)
{
    struct grove_buf body = {0};
    char rec[512];
    cr_assert_eq(grove_buf_append(&body, "{\"changes\":[", 12), GROVE_OK);
    for (size_t i = 0; i < n; i++) {
        ts_record(rec, sizeof rec, client, ts0 + (int64_t)i * 1000, ops[i][0], ops[i][1]);
        if (i)
            cr_assert_eq(grove_buf_append(&body, ",", 1), GROVE_OK);
        cr_assert_eq(grove_buf_append(&body, rec, strlen(rec)), GROVE_OK);
    }
    snprintf(rec, sizeof rec, "],\"node_id\":\"%s\"}", client);
    cr_assert_eq(grove_buf_append(&body, rec, strlen(rec)), GROVE_OK);
    struct grove_push_request *req;
    cr_assert_eq(grove_json_decode_push_request(body.data, body.len, &req), GROVE_OK, "%s",
                 grove_errmsg());
    struct grove_push_response *resp;
    cr_assert_eq(grove_server_push(server, req, &resp), GROVE_OK, "%s", grove_errmsg());
    grove_msg_free(resp);
    grove_msg_free(req);
    grove_buf_free(&body);
}

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec / 1000 * 1000;
}

static void expect_views(struct grove_store *s, const char *want)
{
    char *row = support_get(s, "docs", "d");
    cr_expect_str_eq(row, want);
    free(row);
}

static struct grove_server *server_over(struct grove_store *s, enum grove_counter_deltas mode)
{
    struct grove_server_options o = {.counter_deltas = mode};
    struct grove_server *server;
    cr_assert_eq(grove_server_new(&server, s, &o), GROVE_OK);
    return server;
}

Test(core_counter_ops, operations_are_summed_once_each_however_often_resent)
{
    struct grove_store *s = support_store(support_dir, "hub", support_docs_schema);
    struct grove_server *server = server_over(s, GROVE_COUNTER_DELTAS_OPERATIONS);
    const int three_up_one_down[][2] = {{1, 0}, {1, 0}, {1, 0}, {0, 1}};
    int64_t t = now_ns();
    push(server, "ts-a", three_up_one_down, 4, t);
    expect_views(s, "{\"views\":2}");
    push(server, "ts-a", three_up_one_down, 4, t); /* the client's re-send */
    expect_views(s, "{\"views\":2}");
    const int plus5_plus2[][2] = {{5, 0}, {2, 0}};
    push(server, "ts-b", plus5_plus2, 2, t + 10000000);
    expect_views(s, "{\"views\":9}");
    /* Re-sent again, now with one more operation pending. */
    const int plus5_plus2_plus1[][2] = {{5, 0}, {2, 0}, {1, 0}};
    push(server, "ts-b", plus5_plus2_plus1, 3, t + 10000000);
    expect_views(s, "{\"views\":10}");
    grove_server_free(server);
    grove_store_close(s);
}

Test(core_counter_ops, the_default_reads_totals_as_the_wire_says)
{
    struct grove_store *s = support_store(support_dir, "hub", support_docs_schema);
    struct grove_server *server = server_over(s, GROVE_COUNTER_DELTAS_TOTALS);
    const int ops[][2] = {{1, 0}, {1, 0}, {1, 0}, {0, 1}};
    push(server, "ts-a", ops, 4, now_ns());
    expect_views(s, "{\"views\":0}"); /* totals: the highest inc (1) and dec (1) */
    grove_server_free(server);
    grove_store_close(s);
}

/* A hub taking operations relays totals: another node in the default mode
 * pulling from it reads the sum; the hub's own writes add to it. */
Test(core_counter_ops, the_mesh_converges_on_the_sum)
{
    struct grove_store *hub = support_store(support_dir, "hub", support_docs_schema);
    struct grove_store *edge = support_store(support_dir, "edge", support_docs_schema);
    struct grove_server *server = server_over(hub, GROVE_COUNTER_DELTAS_OPERATIONS);
    const int two[][2] = {{1, 0}, {1, 0}}, one[][2] = {{1, 0}};
    int64_t t = now_ns();
    push(server, "ts-a", two, 2, t);
    push(server, "ts-b", one, 1, t + 5000000);
    push(server, "ts-a", two, 2, t);
    cr_assert_eq(grove_store_increment(hub, "docs", "d", "views", 10), GROVE_OK);
    expect_views(hub, "{\"views\":13}");
    struct grove_pull_request req = {.node_id = "edge"};
    struct grove_pull_response *page;
    cr_assert_eq(grove_server_pull(server, &req, &page), GROVE_OK);
    cr_assert_eq(grove_store_apply(edge, page->changes, page->count, "hub", NULL), GROVE_OK, "%s",
                 grove_errmsg());
    grove_msg_free(page);
    expect_views(edge, "{\"views\":13}");
    grove_server_free(server);
    grove_store_close(edge);
    grove_store_close(hub);
}
