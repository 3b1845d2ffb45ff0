/* The Data service's protobuf mapping (core/data_protobuf.c): requests
 * packed by protobuf-c decode into the Data API's write, what protobuf-c
 * would let through unseen is refused with a located message, and a row
 * written through grove_data_pb_serve reads back through it. The gRPC
 * surface itself is tested against running nodes
 * (tests/integration/data_grpc_*_test.*). */
#include "grove/data/v1/data.pb-c.h"
#include "grove/sys/data_protobuf.h"
#include "support.h"

TestSuite(core_data_protobuf, .init = support_setup, .fini = support_teardown);

static struct grove_buf pack(const ProtobufCMessage *pb)
{
    struct grove_buf buf = {0};
    size_t size = protobuf_c_message_get_packed_size(pb);
    cr_assert_eq(grove_buf_reserve(&buf, size), GROVE_OK);
    protobuf_c_message_pack(pb, (uint8_t *)buf.data);
    buf.len = size;
    return buf;
}

static ProtobufCBinaryData bytes(const char *s)
{
    return (ProtobufCBinaryData){.data = (uint8_t *)s, .len = strlen(s)};
}

Test(core_data_protobuf, a_write_request_decodes_each_op_to_its_crdt)
{
    Grove__Data__V1__SetOps set = GROVE__DATA__V1__SET_OPS__INIT;
    ProtobufCBinaryData add[] = {bytes("\"red\""), bytes("\"blue\"")}, rm[] = {bytes("1")};
    set.add = add, set.n_add = 2, set.remove = rm, set.n_remove = 1;
    Grove__Data__V1__FieldWrite f[3];
    for (int i = 0; i < 3; i++)
        grove__data__v1__field_write__init(&f[i]);
    f[0].field = "title", f[0].op_case = GROVE__DATA__V1__FIELD_WRITE__OP_VALUE;
    f[0].value = bytes("{\"a\":1.0}");
    f[1].field = "views", f[1].op_case = GROVE__DATA__V1__FIELD_WRITE__OP_DELTA;
    f[1].delta = -7;
    f[2].field = "tags", f[2].op_case = GROVE__DATA__V1__FIELD_WRITE__OP_SET, f[2].set = &set;
    Grove__Data__V1__FieldWrite *fields[] = {&f[0], &f[1], &f[2]};
    Grove__Data__V1__WriteRequest req = GROVE__DATA__V1__WRITE_REQUEST__INIT;
    req.table = "docs", req.pk = "a/b c", req.fields = fields, req.n_fields = 3;
    req.idempotency_key = "k-1";
    struct grove_buf wire = pack(&req.base);

    struct grove_write_msg *msg;
    cr_assert_eq(grove_data_pb_decode_write(GROVE_DATA_CALL_WRITE, wire.data, wire.len, &msg),
                 GROVE_OK, "%s", grove_errmsg());
    const struct grove_write *w = &msg->write;
    cr_assert_eq(w->row_count, 1);
    cr_expect_str_eq(w->idempotency_key, "k-1");
    const struct grove_row_write *r = &w->rows[0];
    cr_expect_str_eq(r->table, "docs");
    cr_expect_str_eq(r->pk, "a/b c");
    cr_assert_eq(r->field_count, 3);
    cr_expect_eq(r->fields[0].crdt, GROVE_CRDT_LWW);
    cr_expect_eq(r->fields[0].value.len, 9);
    cr_expect_eq(memcmp(r->fields[0].value.ptr, "{\"a\":1.0}", 9), 0);
    cr_expect_eq(r->fields[1].crdt, GROVE_CRDT_COUNTER);
    cr_expect_eq(r->fields[1].delta, -7);
    cr_expect_eq(r->fields[2].crdt, GROVE_CRDT_SET);
    cr_assert_eq(r->fields[2].add_count, 2);
    cr_assert_eq(r->fields[2].remove_count, 1);
    cr_expect_eq(memcmp(r->fields[2].add[1].ptr, "\"blue\"", 6), 0);
    cr_expect_eq(memcmp(r->fields[2].remove[0].ptr, "1", 1), 0);
    grove_msg_free(msg);
    grove_buf_free(&wire);
}

Test(core_data_protobuf, refusals_are_located)
{
    Grove__Data__V1__FieldWrite f;
    grove__data__v1__field_write__init(&f);
    f.field = "title"; /* no op */
    Grove__Data__V1__FieldWrite *fields[] = {&f};
    Grove__Data__V1__RowWrite rows[2] = {GROVE__DATA__V1__ROW_WRITE__INIT,
                                         GROVE__DATA__V1__ROW_WRITE__INIT};
    rows[0].table = "docs", rows[0].pk = "a", rows[0].delete_row = true;
    rows[1].table = "docs", rows[1].pk = "b", rows[1].fields = fields, rows[1].n_fields = 1;
    Grove__Data__V1__RowWrite *ptrs[] = {&rows[0], &rows[1]};
    Grove__Data__V1__WriteManyRequest many = GROVE__DATA__V1__WRITE_MANY_REQUEST__INIT;
    many.rows = ptrs, many.n_rows = 2;
    struct grove_buf wire = pack(&many.base);
    struct grove_write_msg *msg;
    cr_expect_eq(grove_data_pb_decode_write(GROVE_DATA_CALL_WRITE_MANY, wire.data, wire.len, &msg),
                 GROVE_EINVAL);
    cr_expect_null(msg);
    cr_expect_str_eq(grove_errmsg(), "rows[1].fields[0]: field \"title\": no value, delta or set");
    grove_buf_free(&wire);

    Grove__Data__V1__DeleteRequest del = GROVE__DATA__V1__DELETE_REQUEST__INIT;
    del.table = "docs", del.pk = "b#c"; /* the # becomes a NUL on the wire */
    wire = pack(&del.base);
    char *at = memchr(wire.data, '#', wire.len);
    cr_assert_not_null(at);
    *at = '\0';
    cr_expect_eq(grove_data_pb_decode_write(GROVE_DATA_CALL_DELETE, wire.data, wire.len, &msg),
                 GROVE_EINVAL);
    cr_expect_str_eq(grove_errmsg(), "pk: contains a NUL byte");
    grove_buf_free(&wire);

    cr_expect_eq(grove_data_pb_decode_write(GROVE_DATA_CALL_WRITE, "\xff\xff\xff", 3, &msg),
                 GROVE_EINVAL);
    cr_expect_str_eq(grove_errmsg(), "malformed protobuf WriteRequest");
}

Test(core_data_protobuf, serve_writes_and_reads_back_a_row)
{
    struct grove_store *s = support_store(support_dir, "a", support_docs_schema);
    Grove__Data__V1__FieldWrite f;
    grove__data__v1__field_write__init(&f);
    f.field = "views", f.op_case = GROVE__DATA__V1__FIELD_WRITE__OP_DELTA, f.delta = 5;
    Grove__Data__V1__FieldWrite *fields[] = {&f};
    Grove__Data__V1__WriteRequest req = GROVE__DATA__V1__WRITE_REQUEST__INIT;
    req.table = "docs", req.pk = "p", req.fields = fields, req.n_fields = 1;
    struct grove_buf wire = pack(&req.base), out = {0};
    cr_assert_eq(grove_data_pb_serve(s, NULL, GROVE_DATA_CALL_WRITE, wire.data, wire.len, &out),
                 GROVE_OK, "%s", grove_errmsg());
    Grove__Data__V1__WriteResponse *resp =
        grove__data__v1__write_response__unpack(NULL, out.len, (const uint8_t *)out.data);
    cr_assert_not_null(resp);
    cr_expect_str_eq(resp->pk, "p");
    cr_expect_eq(resp->row.len, strlen("{\"views\":5}"));
    cr_expect_eq(memcmp(resp->row.data, "{\"views\":5}", resp->row.len), 0);
    cr_expect(resp->hlc && resp->hlc->ts > 0);
    grove__data__v1__write_response__free_unpacked(resp, NULL);
    grove_buf_free(&wire);
    grove_buf_free(&out);

    Grove__Data__V1__GetRequest get = GROVE__DATA__V1__GET_REQUEST__INIT;
    get.table = "docs", get.pk = "absent";
    wire = pack(&get.base);
    cr_expect_eq(grove_data_pb_serve(s, NULL, GROVE_DATA_CALL_GET, wire.data, wire.len, &out),
                 GROVE_ENOTFOUND);
    cr_expect_eq(out.len, 0);
    grove_buf_free(&wire);
    grove_buf_free(&out);
    grove_store_close(s);
}
