/* Identities in the core (core/access.c, core/data_access.c): who a
 * credential is, what an admin call needs, and the Data API inside a
 * caller's scopes, for the protobuf surface the gRPC listener serves as
 * for the calls the HTTP listener makes. */
#include "core/guard.h"
#include "grove/data/v1/data.pb-c.h"
#include "grove/sys/data_protobuf.h"
#include "support.h"

TestSuite(core_access, .init = support_setup, .fini = support_teardown);

static const char *const acc_docs[] = {"docs"};

static struct grove_guard *acc_guard(void)
{
    struct grove_identity ids[] = {
        {.name = "edge",
         .role = GROVE_ROLE_CLIENT,
         .node = "edge",
         .read = {.tables = acc_docs, .table_count = 1},
         .write = {.tables = acc_docs, .table_count = 1},
         .prefix = "acme/",
         .secrets = {"edge-old", "edge-new"}},
        {.name = "ops", .admin = true, .cert_subject = "CN=ops,O=Acme"},
    };
    struct grove_access *a = NULL;
    cr_assert_eq(grove_access_new(&a, ids, 2), GROVE_OK, "%s", grove_errmsg());
    struct grove_guard *g = NULL;
    cr_assert_eq(grove_guard_new(&g, a, "test"), GROVE_OK);
    grove_access_unref(a);
    return g;
}

static grove_err acc_admit(struct grove_guard *g, const char *auth, const char *cert,
                           enum grove_need need, struct grove_caller *out)
{
    struct grove_cert_names names = {.count = cert ? 1 : 0};
    if (cert)
        snprintf(names.text[0], sizeof names.text[0], "%s", cert);
    struct grove_credentials cred = {.op = "pull",
                                     .authorization = auth,
                                     .authorization_len = auth ? strlen(auth) : 0,
                                     .cert = &names};
    return grove_guard_admit(g, &cred, need, out);
}

Test(core_access, credentials_name_an_identity_or_nobody)
{
    struct grove_guard *g = acc_guard();
    struct grove_caller c;
    cr_expect_eq(acc_admit(g, NULL, NULL, GROVE_NEED_SYNC, &c), GROVE_EAUTH);
    cr_expect_str_eq(grove_errmsg(), "missing bearer token");
    cr_expect_eq(acc_admit(g, "Bearer edge", NULL, GROVE_NEED_SYNC, &c), GROVE_EAUTH);
    cr_expect_eq(acc_admit(g, "Basic edge-old", NULL, GROVE_NEED_SYNC, &c), GROVE_EAUTH);
    cr_expect_null(c.access, "nothing held after a refusal");
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(
            acc_admit(g, i ? "bearer  edge-new" : "Bearer edge-old", NULL, GROVE_NEED_SYNC, &c),
            GROVE_OK, "both secrets are valid");
        cr_expect_str_eq(c.identity->name, "edge");
        cr_expect_str_eq(grove_caller_node(&c, "someone"), "edge", "bound: the claim is not used");
        cr_expect_str_eq(grove_caller_source(&c, "someone"), "edge");
        grove_caller_release(&c);
    }
    cr_expect_eq(acc_admit(g, "Bearer edge-old", NULL, GROVE_NEED_ADMIN, &c), GROVE_EFORBIDDEN);
    cr_expect_str_eq(grove_errmsg(), "identity edge may not call the admin API");
    cr_expect_eq(acc_admit(g, NULL, "CN=other", GROVE_NEED_ADMIN, &c), GROVE_EAUTH);
    cr_assert_eq(acc_admit(g, NULL, "CN=ops,O=Acme", GROVE_NEED_ADMIN, &c), GROVE_OK);
    cr_expect_str_eq(c.identity->name, "ops");
    cr_expect_null(grove_caller_node(&c, "ops"), "unbound, in a table of identities: nobody");
    cr_expect_null(grove_caller_source(&c, "ops"));
    /* A reload: the caller admitted before keeps its table. */
    struct grove_access *tokens = NULL;
    cr_assert_eq(grove_access_from_tokens(&tokens, "tok", NULL), GROVE_OK);
    grove_guard_set(g, tokens);
    grove_access_unref(tokens);
    cr_expect_str_eq(c.identity->name, "ops");
    grove_caller_release(&c);
    cr_expect_eq(acc_admit(g, "Bearer edge-old", NULL, GROVE_NEED_SYNC, &c), GROVE_EAUTH);
    cr_assert_eq(acc_admit(g, "Bearer tok", NULL, GROVE_NEED_ADMIN, &c), GROVE_OK);
    cr_expect_str_eq(grove_caller_node(&c, "claimed"), "claimed", "tokens: a pull's claim");
    cr_expect_null(grove_caller_source(&c, "claimed"), "a shared token proves no pusher's node");
    grove_caller_release(&c);
    /* Open: anyone, as anything. */
    struct grove_access *open = NULL;
    cr_assert_eq(grove_access_from_tokens(&open, NULL, NULL), GROVE_OK);
    grove_guard_set(g, open);
    grove_access_unref(open);
    cr_assert_eq(acc_admit(g, "Bearer whatever", NULL, GROVE_NEED_ADMIN, &c), GROVE_OK);
    cr_expect_null(c.identity);
    cr_expect_str_eq(grove_caller_source(&c, "claimed"), "claimed", "open: as before identities");
    grove_caller_release(&c);
    grove_guard_free(g);
}

static struct grove_buf acc_pack(const ProtobufCMessage *pb)
{
    struct grove_buf b = {0};
    cr_assert_eq(grove_buf_reserve(&b, protobuf_c_message_get_packed_size(pb)), GROVE_OK);
    b.len = protobuf_c_message_pack(pb, (uint8_t *)b.data);
    return b;
}

static grove_err acc_pb_write(struct grove_store *s, const struct grove_caller *c, char *pk)
{
    Grove__Data__V1__FieldWrite f;
    grove__data__v1__field_write__init(&f);
    f.field = "views", f.op_case = GROVE__DATA__V1__FIELD_WRITE__OP_DELTA, f.delta = 1;
    Grove__Data__V1__FieldWrite *fields[] = {&f};
    Grove__Data__V1__WriteRequest req = GROVE__DATA__V1__WRITE_REQUEST__INIT;
    req.table = "docs", req.pk = pk, req.fields = fields, req.n_fields = 1;
    struct grove_buf wire = acc_pack(&req.base), out = {0};
    grove_err err = grove_data_pb_serve(s, c, GROVE_DATA_CALL_WRITE, wire.data, wire.len, &out);
    grove_buf_free(&wire);
    grove_buf_free(&out);
    return err;
}

Test(core_access, the_data_api_stays_inside_the_callers_scopes)
{
    struct grove_store *s = support_store(support_dir, "a", support_docs_schema);
    struct grove_guard *g = acc_guard();
    struct grove_caller edge;
    cr_assert_eq(acc_admit(g, "Bearer edge-new", NULL, GROVE_NEED_SYNC, &edge), GROVE_OK);
    /* The protobuf surface (gRPC's Data service). */
    cr_expect_eq(acc_pb_write(s, &edge, "acme/1"), GROVE_OK, "%s", grove_errmsg());
    cr_expect_eq(acc_pb_write(s, &edge, "globex/1"), GROVE_EFORBIDDEN);
    cr_expect_str_eq(grove_errmsg(), "rows[0]: identity edge may not write docs/globex/1");
    cr_expect_eq(acc_pb_write(s, NULL, "globex/1"), GROVE_OK, "the node itself: unchecked");
    /* The calls themselves; a client's write is made as its node. */
    struct grove_field_write title = {.field = "title", .value = {.ptr = "\"t\"", .len = 3}};
    struct grove_row_write rw = {
        .table = "docs", .pk = "acme/2", .fields = &title, .field_count = 1};
    struct grove_hlc hlc;
    cr_assert_eq(
        grove_data_write_as(s, &edge, &(struct grove_write){.rows = &rw, .row_count = 1}, &hlc),
        GROVE_OK, "%s", grove_errmsg());
    cr_expect_str_eq(hlc.node, "edge");
    /* Its idempotency key: replayed as the same write, the same stamp; the
     * node's own write under that key is another write. */
    struct grove_write keyed = {.rows = &rw, .row_count = 1, .idempotency_key = "k1"};
    struct grove_hlc first, again;
    cr_assert_eq(grove_data_write_as(s, &edge, &keyed, &first), GROVE_OK, "%s", grove_errmsg());
    cr_assert_eq(grove_data_write_as(s, &edge, &keyed, &again), GROVE_OK, "%s", grove_errmsg());
    cr_expect(grove_hlc_compare(&first, &again) == 0, "%s vs %s", first.node, again.node);
    cr_expect_eq(grove_data_write_as(s, NULL, &keyed, &again), GROVE_ECONFLICT);
    struct grove_pull_response *changes = NULL;
    cr_assert_eq(grove_store_changes(s, &(struct grove_store_query){.limit = 100}, &changes),
                 GROVE_OK);
    cr_assert_eq(changes->count, 3, "acme/2 written over, once per write");
    cr_expect_str_eq(changes->changes[2].pk, "acme/2");
    cr_expect_str_eq(changes->changes[2].hlc.node, "edge");
    cr_expect_str_eq(changes->changes[2].node_id, "edge");
    cr_expect_str_eq(changes->changes[1].node_id, "a", "the node's own write: its id");
    grove_msg_free(changes);
    char *row = NULL;
    cr_expect_eq(grove_data_get_as(s, &edge, "docs", "globex/1", &row), GROVE_EFORBIDDEN);
    cr_expect_eq(grove_data_get_as(s, &edge, "docs", "acme/1", &row), GROVE_OK);
    free(row);
    struct grove_row_page *page = NULL;
    cr_assert_eq(grove_data_list_as(s, &edge, &(struct grove_list_query){.table = "docs"}, &page),
                 GROVE_OK);
    cr_expect_eq(page->count, 2, "narrowed to acme/");
    cr_expect_str_eq(page->rows[0].pk, "acme/1");
    grove_msg_free(page);
    cr_expect_eq(grove_data_list_as(s, &edge,
                                    &(struct grove_list_query){.table = "docs", .prefix = "acme/1"},
                                    &page),
                 GROVE_OK, "a narrower prefix is fine");
    grove_msg_free(page);
    cr_expect_eq(grove_data_list_as(
                     s, &edge, &(struct grove_list_query){.table = "docs", .prefix = "glo"}, &page),
                 GROVE_EFORBIDDEN);
    struct grove_watch *w = NULL;
    cr_expect_eq(grove_data_watch_open_as(
                     s, &edge, &(struct grove_watch_options){.table = "docs", .prefix = "x"}, &w),
                 GROVE_EFORBIDDEN);
    cr_assert_eq(
        grove_data_watch_open_as(s, &edge, &(struct grove_watch_options){.table = "docs"}, &w),
        GROVE_OK);
    grove_data_watch_close(w);
    grove_caller_release(&edge);
    grove_guard_free(g);
    grove_store_close(s);
}

/* Streams at one cursor share the batches read for them (core/server_stream.c)
 * only when they would get the same bytes: never across identities. */
Test(core_access, streams_of_two_identities_share_no_batch)
{
    struct grove_store *s = support_store(support_dir, "a", support_docs_schema);
    struct grove_server *server = NULL;
    cr_assert_eq(grove_server_new(&server, s, NULL), GROVE_OK);
    cr_assert_eq(grove_store_set(s, "docs", "acme/1", "title", "\"a\"", 3), GROVE_OK);
    cr_assert_eq(grove_store_set(s, "docs", "globex/1", "title", "\"g\"", 3), GROVE_OK);
    struct grove_guard *g = acc_guard();
    struct grove_caller edge;
    cr_assert_eq(acc_admit(g, "Bearer edge-old", NULL, GROVE_NEED_SYNC, &edge), GROVE_OK);
    struct grove_pull_request *req = NULL;
    cr_assert_eq(grove_pull_request_new(&req), GROVE_OK);
    req->node_id = "x";
    struct grove_server_stream *all = NULL, *scoped = NULL;
    cr_assert_eq(grove_server_stream_open(server, req, &all), GROVE_OK);
    req->caller = &edge;
    cr_assert_eq(grove_server_stream_open(server, req, &scoped), GROVE_OK);
    grove_msg_free(req);
    grove_caller_release(&edge); /* the stream holds its own */
    struct grove_buf a = {0}, b = {0};
    cr_assert_eq(grove_serve_stream_next(all, &grove_codec_json, 1000, &a), GROVE_OK);
    cr_assert_eq(grove_serve_stream_next(scoped, &grove_codec_json, 1000, &b), GROVE_OK);
    cr_expect(memmem(a.data, a.len, "globex/1", 8), "%.*s", (int)a.len, a.data);
    cr_expect(memmem(b.data, b.len, "acme/1", 6), "%.*s", (int)b.len, b.data);
    cr_expect(!memmem(b.data, b.len, "globex/1", 8), "%.*s", (int)b.len, b.data);
    grove_buf_free(&a);
    grove_buf_free(&b);
    grove_server_stream_close(all);
    grove_server_stream_close(scoped);
    grove_server_shutdown(server);
    grove_server_free(server);
    grove_guard_free(g);
    grove_store_close(s);
}
