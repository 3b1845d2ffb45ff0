/* The syncer's own behaviour over inproc: push-now to every peer, reports,
 * the background loop (push on commit, streams) and refused peers. */
#include <unistd.h>

#include "grove/sys/transport.h"
#include "support.h"

TestSuite(core_syncer, .init = support_setup, .fini = support_teardown);

Test(core_syncer, push_now_reaches_every_peer_for_each_crdt)
{
    struct support_node b, c;
    support_serve(&b, "b", "inproc://syncer-b");
    support_serve(&c, "c", "inproc://syncer-c");
    struct grove_store *a = support_store(support_dir, "a", support_docs_schema);
    struct grove_syncer *syncer;
    cr_assert_eq(grove_syncer_new(&syncer, a, NULL), GROVE_OK);
    cr_assert_eq(grove_syncer_add_peer(syncer, "inproc://syncer-b", NULL), GROVE_OK);
    cr_assert_eq(grove_syncer_add_peer(syncer, "inproc://syncer-c", NULL), GROVE_OK);
    cr_assert_eq(grove_store_increment(a, "docs", "d", "views", 3), GROVE_OK);
    cr_assert_eq(grove_store_set_add(a, "docs", "d", "tags", "\"x\"", 3), GROVE_OK);
    cr_assert_eq(grove_store_set(a, "docs", "d", "title", "\"t\"", 3), GROVE_OK);
    cr_assert_eq(grove_syncer_push_now(syncer), GROVE_OK);
    const char *want = "{\"tags\":[\"x\"],\"title\":\"t\",\"views\":3}";
    char *doc = support_get(b.node.store, "docs", "d");
    cr_expect_str_eq(doc, want);
    free(doc);
    doc = support_get(c.node.store, "docs", "d");
    cr_expect_str_eq(doc, want);
    free(doc);
    grove_syncer_free(syncer);
    grove_store_close(a);
    support_node_stop(&b);
    support_node_stop(&c);
}

Test(core_syncer, a_dead_peer_is_reported_and_does_not_stop_the_others)
{
    struct support_node b;
    support_serve(&b, "b", "inproc://syncer-live");
    struct grove_store *a = support_store(support_dir, "a", support_docs_schema);
    struct grove_syncer *syncer;
    cr_assert_eq(grove_syncer_new(&syncer, a, NULL), GROVE_OK);
    cr_assert_eq(grove_syncer_add_peer(syncer, "inproc://nobody-here", NULL), GROVE_OK);
    cr_assert_eq(grove_syncer_add_peer(syncer, "inproc://syncer-live", NULL), GROVE_OK);
    cr_assert_eq(grove_store_set(a, "docs", "d", "title", "1", 1), GROVE_OK);
    struct grove_sync_report reports[2];
    cr_assert_eq(grove_syncer_sync(syncer, reports), GROVE_OK);
    cr_expect_eq(reports[0].err, GROVE_EUNAVAIL);
    cr_expect(strstr(reports[0].error, "nobody-here") != NULL, "%s", reports[0].error);
    cr_expect_eq(reports[1].err, GROVE_OK, "%s", reports[1].error);
    cr_expect_eq(reports[1].pushed, 1);
    cr_expect_str_eq(reports[1].peer, "inproc://syncer-live");
    grove_syncer_free(syncer);
    grove_store_close(a);
    support_node_stop(&b);
}

Test(core_syncer, unknown_scheme_names_the_registered_ones)
{
    struct grove_store *a = support_store(support_dir, "a", support_docs_schema);
    struct grove_syncer *syncer;
    cr_assert_eq(grove_syncer_new(&syncer, a, NULL), GROVE_OK);
    cr_expect_eq(grove_syncer_add_peer(syncer, "carrier-pigeon://x", NULL), GROVE_ENOTSUP);
    cr_expect(strstr(grove_errmsg(), "inproc") != NULL, "%s", grove_errmsg());
    grove_syncer_free(syncer);
    grove_store_close(a);
}

Test(core_syncer, background_loop_pushes_on_commit_and_streams_in)
{
    struct support_node b;
    support_serve(&b, "b", "inproc://syncer-bg");
    struct grove_store *a = support_store(support_dir, "a", support_docs_schema);
    /* A long interval: only commit wake-ups and the stream can move changes. */
    struct grove_syncer_options o = {.interval_ms = 3600 * 1000, .stream = true};
    struct grove_syncer *syncer;
    cr_assert_eq(grove_syncer_new(&syncer, a, &o), GROVE_OK);
    cr_assert_eq(grove_syncer_add_peer(syncer, "inproc://syncer-bg", NULL), GROVE_OK);
    cr_assert_eq(grove_syncer_start(syncer, NULL, NULL), GROVE_OK);
    usleep(100000); /* let the first round finish */
    cr_assert_eq(grove_store_set(a, "docs", "out", "title", "\"pushed\"", 8), GROVE_OK);
    cr_expect(support_eventually(b.node.store, "docs", "out", "{\"title\":\"pushed\"}"),
              "local commit not pushed");
    cr_assert_eq(grove_store_set(b.node.store, "docs", "in", "title", "\"streamed\"", 10),
                 GROVE_OK);
    cr_expect(support_eventually(a, "docs", "in", "{\"title\":\"streamed\"}"),
              "peer change not streamed in");
    grove_syncer_stop(syncer);
    grove_syncer_free(syncer);
    grove_store_close(a);
    support_node_stop(&b);
}

/* A stand-in for Grove's Go server (a mock inside this unit test): its pull
 * answers with latest_hlc equal to the last change's own stamp, whose node is
 * that change's origin, and its push counts what it receives. */
static size_t gostyle_pushed_via_hub;

static grove_err gostyle_open(const struct grove_url *url, const struct grove_dial_options *o,
                              const struct grove_codec **codec, void **self)
{
    (void)url;
    (void)o;
    (void)codec;
    *self = NULL;
    return GROVE_OK;
}

static grove_err gostyle_pull(const struct grove_pull_request *req, struct grove_buf *out)
{
    struct grove_pull_response r = {0};
    struct grove_change change = {.table = "docs",
                                  .pk = "from-go",
                                  .field = "title",
                                  .crdt = GROVE_CRDT_LWW,
                                  .node_id = "x",
                                  .value = {"1", 1},
                                  .hlc = {.ts = 5000, .node = "x"}};
    if (grove_hlc_is_zero(&req->since)) { /* one change, then nothing */
        r.changes = &change;
        r.count = 1;
        r.latest_hlc = change.hlc;
    }
    return grove_codec_json.encode_pull_response(&r, out);
}

static grove_err gostyle_push(const struct grove_push_request *req, struct grove_buf *out)
{
    for (size_t i = 0; i < req->count; i++)
        gostyle_pushed_via_hub += strcmp(req->changes[i].pk, "via-hub") == 0;
    struct grove_push_response r = {.latest_hlc = {.ts = 9000, .node = "go-server"}};
    return grove_codec_json.encode_push_response(&r, out);
}

/* Answers as Grove's Go server would, from the JSON bytes it is sent. */
static grove_err gostyle_call(void *self, enum grove_call_kind kind,
                              const struct grove_buf *request, struct grove_reply *reply)
{
    (void)self;
    struct grove_buf out = {0};
    if (kind == GROVE_CALL_PULL) {
        struct grove_pull_request *req;
        cr_assert_eq(grove_codec_json.decode_pull_request(request->data, request->len, &req),
                     GROVE_OK);
        cr_assert_eq(gostyle_pull(req, &out), GROVE_OK);
        grove_msg_free(req);
    } else {
        struct grove_push_request *req;
        cr_assert_eq(grove_codec_json.decode_push_request(request->data, request->len, &req),
                     GROVE_OK);
        cr_assert_eq(gostyle_push(req, &out), GROVE_OK);
        grove_msg_free(req);
    }
    *reply =
        (struct grove_reply){.data = out.data, .len = out.len, .release = free, .owner = out.data};
    return GROVE_OK;
}

static void gostyle_close(void *self)
{
    (void)self;
}

static const struct grove_dialer_ops gostyle_dialer = {
    .open = gostyle_open, .call = gostyle_call, .close = gostyle_close};
static const char *const gostyle_schemes[] = {"gostyle", NULL};
static const struct grove_transport gostyle = {.name = "gostyle",
                                               .schemes = gostyle_schemes,
                                               .codec = &grove_codec_json,
                                               .dialer = &gostyle_dialer};

Test(core_syncer, a_change_stamp_cursor_does_not_pass_for_the_peer_id)
{
    cr_assert_eq(grove_transport_register(&gostyle), GROVE_OK, "%s", grove_errmsg());
    struct grove_store *a = support_store(support_dir, "a", support_docs_schema);
    /* A change made by x that reached us from elsewhere: the Go peer lacks it. */
    struct grove_change other = {.table = "docs",
                                 .pk = "via-hub",
                                 .field = "title",
                                 .crdt = GROVE_CRDT_LWW,
                                 .node_id = "x",
                                 .value = {"2", 1},
                                 .hlc = {.ts = 4000, .node = "x"}};
    cr_assert_eq(grove_store_apply(a, &other, 1, "hub", NULL), GROVE_OK);
    struct grove_syncer *syncer;
    cr_assert_eq(grove_syncer_new(&syncer, a, NULL), GROVE_OK);
    cr_assert_eq(grove_syncer_add_peer(syncer, "gostyle://peer", NULL), GROVE_OK);
    struct grove_sync_report r;
    cr_assert_eq(grove_syncer_sync_peer(syncer, 0, &r), GROVE_OK);
    cr_assert_eq(r.err, GROVE_OK, "%s", r.error);
    cr_expect_eq(r.pulled, 1);
    cr_expect_eq(gostyle_pushed_via_hub, 1,
                 "x's change from the hub was not pushed to the Go peer");
    struct grove_peer_cursors c;
    cr_assert_eq(grove_store_cursors_get(a, "gostyle://peer", &c), GROVE_OK);
    cr_expect_str_eq(c.peer_node, "go-server");
    grove_syncer_free(syncer);
    grove_store_close(a);
}
