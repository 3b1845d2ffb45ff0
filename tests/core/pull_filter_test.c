/* The pull filter (docs/protocol.md §4, "filter"): both codecs accept,
 * refuse and write it back alike; a served pull or stream returns only the
 * records it lets through, row deletes included, and its cursor moves past
 * the rest; a syncer scoped to a pk prefix pulls and pushes only that. */
#include "grove/sys/transport.h"
#include "support.h"

TestSuite(core_pull_filter, .init = support_setup, .fini = support_teardown);

static const struct grove_codec *const codecs[] = {&grove_codec_json, &grove_codec_protobuf};

/* The JSON request in the codec's own bytes: through the model for protobuf. */
static void request_bytes(const struct grove_codec *codec, const char *json, struct grove_buf *out)
{
    if (codec == &grove_codec_json) {
        cr_assert_eq(grove_buf_append(out, json, strlen(json)), GROVE_OK);
        return;
    }
    struct grove_pull_request *req;
    cr_assert_eq(grove_json_decode_pull_request(json, strlen(json), &req), GROVE_OK, "%s",
                 grove_errmsg());
    cr_assert_eq(codec->encode_pull_request(req, out), GROVE_OK);
    grove_msg_free(req);
}

Test(core_pull_filter, both_codecs_read_and_write_the_filter_back)
{
    static const char canonical[] =
        "{\"tables\":[\"docs\"],\"since\":{\"ts\":0,\"c\":0,\"node\":\"\"},\"node_id\":\"edge\","
        "\"filter\":{\"pk_filter\":[\"doc-1\",\"doc-2\"],\"field_filter\":[\"title\"],"
        "\"pk_prefix\":\"acme/\"}}";
    for (size_t i = 0; i < 2; i++) {
        struct grove_buf in = {0}, back = {0};
        request_bytes(codecs[i], canonical, &in);
        struct grove_pull_request *req;
        cr_assert_eq(codecs[i]->decode_pull_request(in.data, in.len, &req), GROVE_OK, "%s: %s",
                     codecs[i]->name, grove_errmsg());
        cr_assert_eq(req->filter.pk_count, 2);
        cr_expect_str_eq(req->filter.pks[1], "doc-2");
        cr_assert_eq(req->filter.field_count, 1);
        cr_expect_str_eq(req->filter.fields[0], "title");
        cr_expect_str_eq(req->filter.pk_prefix, "acme/");
        cr_assert_eq(grove_json_encode_pull_request(req, &back), GROVE_OK);
        cr_expect_str_eq(back.data, canonical, "%s", codecs[i]->name);
        grove_msg_free(req);
        grove_buf_free(&in);
        grove_buf_free(&back);
    }
}

/* Unknown keys inside the filter are ignored as the message's are; null and
 * empty lists are no filter, and nothing of them is written back. */
Test(core_pull_filter, unknown_keys_null_and_empty_lists_are_no_filter)
{
    static const char *const accepted[] = {
        "{\"tables\":[],\"node_id\":\"\",\"filter\":null}",
        "{\"tables\":[],\"node_id\":\"\",\"filter\":{}}",
        ("{\"tables\":[],\"node_id\":\"\",\"filter\":{\"pk_filter\":[],\"field_filter\":null,"
         "\"pk_prefix\":\"\",\"list_op\":{\"x\":1}}}"),
    };
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
        struct grove_pull_request *req;
        cr_assert_eq(grove_codec_json.decode_pull_request(accepted[i], strlen(accepted[i]), &req),
                     GROVE_OK, "%s: %s", accepted[i], grove_errmsg());
        cr_expect_not(grove_pull_filter_active(&req->filter), "%s", accepted[i]);
        struct grove_buf out = {0};
        cr_assert_eq(grove_json_encode_pull_request(req, &out), GROVE_OK);
        cr_expect_null(strstr(out.data, "filter"), "%s", out.data);
        grove_buf_free(&out);
        grove_msg_free(req);
    }
}

Test(core_pull_filter, json_refuses_a_malformed_filter_with_its_location)
{
    static const struct {
        const char *json, *error;
    } cases[] = {
        {"{\"tables\":[],\"node_id\":\"\",\"filter\":{\"pk_filter\":[\"a\",\"b\",\"c\",4]}}",
         "filter.pk_filter[3]: expected a string, got a number"},
        {"{\"tables\":[],\"node_id\":\"\",\"filter\":[]}",
         "filter: expected an object, got an array"},
        {"{\"tables\":[],\"node_id\":\"\",\"filter\":{\"field_filter\":\"title\"}}",
         "filter.field_filter: expected an array, got a string"},
        {"{\"tables\":[],\"node_id\":\"\",\"filter\":{\"pk_prefix\":7}}",
         "filter.pk_prefix: expected a string, got a number"},
        {"{\"tables\":[],\"node_id\":\"\",\"filter\":{\"pk_filter\":[\"a\"],\"pk_filter\":[]}}",
         "filter: duplicate key \"pk_filter\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct grove_pull_request *req = (void *)1;
        grove_err err =
            grove_codec_json.decode_pull_request(cases[i].json, strlen(cases[i].json), &req);
        cr_expect_eq(err, GROVE_EINVAL, "%s", cases[i].json);
        cr_expect_null(req);
        cr_expect_str_eq(grove_errmsg(), cases[i].error);
    }
}

/* A request built with n pks (or fields), the string at `odd` replaced. */
static struct grove_pull_request *request_with(size_t n, bool fields, size_t odd, const char *s)
{
    struct grove_pull_request *req;
    cr_assert_eq(grove_pull_request_new(&req), GROVE_OK);
    req->node_id = "edge";
    const char **list = grove_msg_alloc(req, n * sizeof *list);
    cr_assert_not_null(list);
    for (size_t i = 0; i < n; i++)
        list[i] = i == odd ? s : "doc";
    if (fields) {
        req->filter.fields = list;
        req->filter.field_count = n;
    } else {
        req->filter.pks = list;
        req->filter.pk_count = n;
    }
    return req;
}

/* Each codec's bytes of req, decoded by that codec: the same refusal. */
Test(core_pull_filter, both_codecs_refuse_bad_entries_with_the_same_message)
{
    static char long_pk[GROVE_FILTER_STRING_MAX + 2];
    memset(long_pk, 'p', GROVE_FILTER_STRING_MAX + 1);
    static const struct {
        size_t n;
        bool fields;
        size_t odd;
        const char *s, *error;
    } cases[] = {
        {5, false, 3, "", "filter.pk_filter[3]: must be 1 to 1024 bytes (got 0)"},
        {2, true, 1, long_pk, "filter.field_filter[1]: must be 1 to 1024 bytes (got 1025)"},
        {GROVE_FILTER_ENTRIES_MAX + 1, false, 0, "doc", "filter.pk_filter: more than 1000 entries"},
        {GROVE_FILTER_ENTRIES_MAX + 1, true, 0, "doc",
         "filter.field_filter: more than 1000 entries"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct grove_pull_request *req =
            request_with(cases[i].n, cases[i].fields, cases[i].odd, cases[i].s);
        for (size_t k = 0; k < 2; k++) {
            struct grove_buf bytes = {0};
            cr_assert_eq(codecs[k]->encode_pull_request(req, &bytes), GROVE_OK);
            struct grove_pull_request *back = (void *)1;
            cr_expect_eq(codecs[k]->decode_pull_request(bytes.data, bytes.len, &back), GROVE_EINVAL,
                         "%s: case %zu accepted", codecs[k]->name, i);
            cr_expect_null(back);
            cr_expect_str_eq(grove_errmsg(), cases[i].error, "%s", codecs[k]->name);
            grove_buf_free(&bytes);
        }
        grove_msg_free(req);
    }
    struct grove_pull_request *req = request_with(1, false, 9, NULL);
    req->filter.pk_prefix = long_pk;
    struct grove_buf bytes = {0};
    for (size_t k = 0; k < 2; k++) {
        bytes.len = 0;
        cr_assert_eq(codecs[k]->encode_pull_request(req, &bytes), GROVE_OK);
        struct grove_pull_request *back;
        cr_expect_eq(codecs[k]->decode_pull_request(bytes.data, bytes.len, &back), GROVE_EINVAL);
        cr_expect_str_eq(grove_errmsg(), "filter.pk_prefix: longer than 1024 bytes");
    }
    grove_buf_free(&bytes);
    grove_msg_free(req);
}

static void set_title(struct grove_store *store, const char *pk, const char *field)
{
    cr_assert_eq(grove_store_set(store, "docs", pk, field, "\"v\"", 3), GROVE_OK, "%s",
                 grove_errmsg());
}

/* doc-1 (title, body, then deleted), doc-2 (title, body), doc-3 (title). */
static struct grove_store *three_docs(void)
{
    struct grove_store *store = support_store(support_dir, "srv", support_docs_schema);
    set_title(store, "doc-1", "title");
    set_title(store, "doc-1", "body");
    set_title(store, "doc-2", "title");
    set_title(store, "doc-2", "body");
    cr_assert_eq(grove_store_delete(store, "docs", "doc-1"), GROVE_OK);
    set_title(store, "doc-3", "title");
    return store;
}

/* "pk/field" of each record, tombstones as "pk/-", joined by spaces. */
static void records(const struct grove_pull_response *resp, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < resp->count; i++)
        used +=
            (size_t)snprintf(out + used, size - used, "%s%s/%s", i ? " " : "", resp->changes[i].pk,
                             resp->changes[i].tombstone ? "-" : resp->changes[i].field);
}

/* Served through each codec from the same JSON request: the same records, a
 * delete included though its field is not "title", and a cursor past all. */
Test(core_pull_filter, a_served_pull_returns_the_filtered_records_and_deletes)
{
    struct grove_store *store = three_docs();
    struct grove_server *server;
    cr_assert_eq(grove_server_new(&server, store, NULL), GROVE_OK);
    struct grove_hlc newest;
    grove_store_latest(store, &newest);
    static const char json[] = "{\"tables\":[\"docs\"],\"node_id\":\"edge\",\"filter\":{"
                               "\"pk_filter\":[\"doc-1\",\"doc-2\"],\"field_filter\":[\"title\"]}}";
    for (size_t k = 0; k < 2; k++) {
        struct grove_buf in = {0}, out = {0};
        request_bytes(codecs[k], json, &in);
        cr_assert_eq(grove_serve(server, codecs[k], GROVE_CALL_PULL, in.data, in.len, &out),
                     GROVE_OK, "%s: %s", codecs[k]->name, grove_errmsg());
        struct grove_pull_response *resp;
        cr_assert_eq(codecs[k]->decode_pull_response(out.data, out.len, &resp), GROVE_OK);
        char got[256];
        records(resp, got, sizeof got);
        cr_expect_str_eq(got, "doc-1/title doc-2/title doc-1/-", "%s", codecs[k]->name);
        cr_expect_eq(grove_hlc_compare(&resp->latest_hlc, &newest), 0,
                     "%s: the cursor passes doc-3, left out, too", codecs[k]->name);
        cr_expect_not(resp->has_more);
        grove_msg_free(resp);
        grove_buf_free(&in);
        grove_buf_free(&out);
    }
    grove_server_free(server);
    grove_store_close(store);
}

/* Pages of one record each: the page that reads only left-out rows comes
 * back empty with has_more, and the cursor has moved past them. */
Test(core_pull_filter, the_cursor_moves_past_rows_left_out)
{
    struct grove_store *store = support_store(support_dir, "srv", support_docs_schema);
    set_title(store, "acme/1", "title");
    for (int i = 0; i < 40; i++) {
        char pk[32];
        snprintf(pk, sizeof pk, "other/%d", i);
        set_title(store, pk, "title");
    }
    set_title(store, "acme/2", "title");
    struct grove_server *server;
    cr_assert_eq(grove_server_new(&server, store, NULL), GROVE_OK);
    struct grove_pull_request req = {
        .node_id = "edge", .limit = 1, .filter = {.pk_prefix = "acme/"}};
    char got[256] = "";
    size_t pages = 0, empty_pages = 0;
    for (bool more = true; more; pages++) {
        cr_assert_lt(pages, 10, "the cursor does not move");
        struct grove_pull_response *resp;
        cr_assert_eq(grove_server_pull(server, &req, &resp), GROVE_OK, "%s", grove_errmsg());
        cr_assert_gt(grove_hlc_compare(&resp->latest_hlc, &req.since), 0);
        for (size_t i = 0; i < resp->count; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s ", resp->changes[i].pk);
        empty_pages += resp->count == 0;
        more = resp->has_more;
        req.since = resp->latest_hlc;
        grove_msg_free(resp);
    }
    cr_expect_str_eq(got, "acme/1 acme/2 ");
    cr_expect_geq(empty_pages, 1, "40 rows left out take more than one page's reading");
    struct grove_hlc newest;
    grove_store_latest(store, &newest);
    cr_expect_eq(grove_hlc_compare(&req.since, &newest), 0);
    grove_server_free(server);
    grove_store_close(store);
}

Test(core_pull_filter, a_stream_sends_only_what_its_filter_lets_through)
{
    struct grove_store *store = support_store(support_dir, "srv", support_docs_schema);
    struct grove_server *server;
    cr_assert_eq(grove_server_new(&server, store, NULL), GROVE_OK);
    const char *fields[] = {"title"};
    struct grove_pull_request req = {
        .node_id = "edge", .filter = {.fields = fields, .field_count = 1, .pk_prefix = "acme/"}};
    struct grove_server_stream *stream;
    cr_assert_eq(grove_server_stream_open(server, &req, &stream), GROVE_OK);
    set_title(store, "other/1", "title");
    set_title(store, "acme/1", "body");
    cr_assert_eq(grove_store_delete(store, "docs", "other/1"), GROVE_OK);
    struct grove_pull_response *batch;
    cr_expect_eq(grove_server_stream_next(stream, 100, &batch), GROVE_ETIMEOUT);
    set_title(store, "acme/1", "title");
    cr_assert_eq(grove_store_delete(store, "docs", "acme/1"), GROVE_OK);
    char got[256] = "";
    while (strcmp(got, "acme/1/title acme/1/-") != 0) {
        cr_assert_eq(grove_server_stream_next(stream, 2000, &batch), GROVE_OK, "%s after %s",
                     grove_errmsg(), got);
        char more[128];
        records(batch, more, sizeof more);
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", got[0] ? " " : "", more);
        grove_msg_free(batch);
        cr_assert_lt(strlen(got), 30, "%s", got);
    }
    grove_server_stream_close(stream);
    grove_server_free(server);
    grove_store_close(store);
}

/* A syncer scoped to acme/ on docs: pulls only acme's rows from a hub that
 * holds two tenants, pushes only its acme rows, and merges nothing outside
 * the scope even from a page that holds some. */
Test(core_pull_filter, a_scoped_syncer_pulls_and_pushes_only_its_tenant)
{
    struct support_node hub;
    support_serve(&hub, "hub", "inproc://filter-hub");
    set_title(hub.node.store, "acme/1", "title");
    set_title(hub.node.store, "other/1", "title");
    cr_assert_eq(grove_store_set(hub.node.store, "notes", "acme/n", "x", "1", 1), GROVE_OK);
    struct grove_store *edge = support_store(support_dir, "edge", support_docs_schema);
    set_title(edge, "acme/2", "title");
    set_title(edge, "beta/2", "title");
    struct grove_syncer *syncer;
    cr_assert_eq(grove_syncer_new(&syncer, edge, NULL), GROVE_OK);
    const char *tables[] = {"docs"};
    struct grove_sync_scope scope = {.tables = tables, .table_count = 1, .pk_prefix = "acme/"};
    cr_assert_eq(grove_syncer_add_peer_scoped(syncer, "inproc://filter-hub", NULL, &scope),
                 GROVE_OK);
    struct grove_sync_report r;
    cr_assert_eq(grove_syncer_sync_peer(syncer, 0, &r), GROVE_OK);
    cr_assert_eq(r.err, GROVE_OK, "%s", r.error);
    cr_expect_eq(r.pulled, 1);
    cr_expect_eq(r.pushed, 1);
    char *row = support_get(edge, "docs", "acme/1");
    cr_expect_str_eq(row, "{\"title\":\"v\"}");
    free(row);
    row = support_get(edge, "docs", "other/1");
    cr_expect_str_eq(row, "");
    free(row);
    row = support_get(edge, "notes", "acme/n");
    cr_expect_str_eq(row, "");
    free(row);
    row = support_get(hub.node.store, "docs", "acme/2");
    cr_expect_str_eq(row, "{\"title\":\"v\"}");
    free(row);
    row = support_get(hub.node.store, "docs", "beta/2");
    cr_expect_str_eq(row, "");
    free(row);
    /* A page from a peer that ignores the filter: the other tenant's row
     * is not merged, the cursor still moves. */
    struct grove_pull_response *page;
    cr_assert_eq(grove_pull_response_new(&page), GROVE_OK);
    struct grove_change c[2] = {{.table = "docs",
                                 .pk = "other/9",
                                 .field = "title",
                                 .crdt = GROVE_CRDT_LWW,
                                 .node_id = "hub",
                                 .value = {"1", 1},
                                 .hlc = {.ts = 1000, .node = "hub"}},
                                {.table = "docs",
                                 .pk = "acme/9",
                                 .field = "title",
                                 .crdt = GROVE_CRDT_LWW,
                                 .node_id = "hub",
                                 .value = {"2", 1},
                                 .hlc = {.ts = 1000, .node = "hub"}}};
    page->changes = c;
    page->count = 2;
    struct grove_peer_cursors before;
    cr_assert_eq(grove_store_cursors_get(edge, "inproc://filter-hub", &before), GROVE_OK);
    page->since = before.pull;
    page->latest_hlc = before.pull;
    page->latest_hlc.ts += 1000;
    cr_assert_eq(grove_syncer_apply_stream_batch(syncer, 0, page), GROVE_OK, "%s", grove_errmsg());
    page->changes = NULL;
    grove_msg_free(page);
    row = support_get(edge, "docs", "other/9");
    cr_expect_str_eq(row, "");
    free(row);
    row = support_get(edge, "docs", "acme/9");
    cr_expect_str_eq(row, "{\"title\":2}");
    free(row);
    grove_syncer_free(syncer);
    grove_store_close(edge);
    support_node_stop(&hub);
}

Test(core_pull_filter, a_scope_names_declared_tables_only)
{
    struct grove_store *edge = support_store(support_dir, "edge", support_docs_schema);
    struct grove_syncer *syncer;
    cr_assert_eq(grove_syncer_new(&syncer, edge, NULL), GROVE_OK);
    const char *tables[] = {"nope"};
    struct grove_sync_scope scope = {.tables = tables, .table_count = 1};
    cr_expect_eq(grove_syncer_add_peer_scoped(syncer, "inproc://x", NULL, &scope), GROVE_EINVAL);
    cr_expect_str_eq(grove_errmsg(), "sync table \"nope\" is not declared");
    cr_expect_eq(grove_syncer_peer_count(syncer), 0);
    grove_syncer_free(syncer);
    grove_store_close(edge);
}

static struct grove_sync_report sync_once(struct grove_store *edge, const char *prefix)
{
    struct grove_syncer *syncer;
    cr_assert_eq(grove_syncer_new(&syncer, edge, NULL), GROVE_OK);
    struct grove_sync_scope scope = {.pk_prefix = prefix};
    cr_assert_eq(grove_syncer_add_peer_scoped(syncer, "inproc://filter-hub", NULL, &scope),
                 GROVE_OK);
    struct grove_sync_report r;
    cr_assert_eq(grove_syncer_sync_peer(syncer, 0, &r), GROVE_OK);
    cr_assert_eq(r.err, GROVE_OK, "%s", r.error);
    grove_syncer_free(syncer);
    return r;
}

/* The cursors passed over the other tenant: a wider scope starts them
 * again, so its rows come (and go) after all; the same scope again does
 * not. */
Test(core_pull_filter, a_widened_scope_syncs_what_the_cursors_passed)
{
    struct support_node hub;
    support_serve(&hub, "hub", "inproc://filter-hub");
    set_title(hub.node.store, "acme/1", "title");
    set_title(hub.node.store, "beta/1", "title");
    struct grove_store *edge = support_store(support_dir, "edge", support_docs_schema);
    set_title(edge, "beta/2", "title");
    struct grove_sync_report r = sync_once(edge, "acme/");
    cr_expect_eq(r.pulled, 1);
    cr_expect_eq(r.pushed, 0);
    r = sync_once(edge, "acme/");
    cr_expect_eq(r.pulled, 0, "the same scope goes on from its cursors");
    r = sync_once(edge, NULL);
    cr_expect_eq(r.pulled, 2, "a wider scope pulls again from the start");
    cr_expect_eq(r.pushed, 1, "and pushes again from the start: beta/2, not the hub's own rows");
    char *row = support_get(edge, "docs", "beta/1");
    cr_expect_str_eq(row, "{\"title\":\"v\"}");
    free(row);
    row = support_get(hub.node.store, "docs", "beta/2");
    cr_expect_str_eq(row, "{\"title\":\"v\"}");
    free(row);
    r = sync_once(edge, NULL);
    cr_expect_eq(r.pulled, 0);
    grove_store_close(edge);
    support_node_stop(&hub);
}

/* A long list is bisected once sorted: the same records as read through. */
Test(core_pull_filter, a_long_pk_list_matches_as_a_short_one)
{
    static char names[GROVE_FILTER_ENTRIES_MAX][16];
    const char *pks[GROVE_FILTER_ENTRIES_MAX];
    for (int i = 0; i < GROVE_FILTER_ENTRIES_MAX; i++) {
        snprintf(names[i], sizeof names[i], "doc-%d", (i * 7919) % 5000); /* unsorted */
        pks[i] = names[i];
    }
    struct grove_pull_filter f = {.pks = pks, .pk_count = GROVE_FILTER_ENTRIES_MAX}, s;
    const char **storage;
    cr_assert_eq(grove_pull_filter_sort(&f, &s, &storage), GROVE_OK);
    cr_assert(s.sorted);
    cr_assert_not_null(storage);
    for (int i = 0; i < 5000; i++) {
        char pk[16];
        snprintf(pk, sizeof pk, "doc-%d", i);
        cr_assert_eq(grove_pull_filter_match(&s, pk, "title", false),
                     grove_pull_filter_match(&f, pk, "title", false), "%s", pk);
    }
    cr_expect(grove_pull_filter_match(&s, names[999], "x", false));
    cr_expect_not(grove_pull_filter_match(&s, "doc-", "x", false));
    free(storage);
    const char *few[] = {"b", "a"};
    struct grove_pull_filter short_f = {.fields = few, .field_count = 2};
    cr_assert_eq(grove_pull_filter_sort(&short_f, &s, &storage), GROVE_OK);
    cr_expect_null(storage, "a short list is read through");
    cr_expect(grove_pull_filter_match(&s, "x", "a", false));
}
