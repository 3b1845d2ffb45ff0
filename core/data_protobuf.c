/* The Data service of proto/grove/data/v1/data.proto over the Data API
 * (grove/sys/data_protobuf.h). Requests unpack straight into the arena of the
 * decoded message, so the write the Data API gets borrows protobuf-c's
 * strings and bytes without a copy; responses are packed from protobuf-c
 * structs that borrow the Data API's results for the duration of the pack. */
#include <stdlib.h>
#include <string.h>

#include "codec_protobuf.h"
#include "grove/data/v1/data.pb-c.h"
#include "grove/sys/data_protobuf.h"
#include "grove/sys/error.h"

typedef Grove__Data__V1__FieldWrite pb_field_write;
typedef Grove__Data__V1__RowWrite pb_row_write;

/* ---- requests ------------------------------------------------------------- */

/* Unpacks data with desc into msg's arena, NUL bytes in strings refused
 * first; NULL (and *err set) when it does not decode. */
static void *dpb_unpack(void *msg, const ProtobufCMessageDescriptor *desc, const char *data,
                        size_t len, grove_err *err)
{
    const uint8_t *p = (const uint8_t *)data;
    if ((*err = grove_pb_refuse_nul(desc, p, len)))
        return NULL;
    ProtobufCAllocator alloc = grove_pb_allocator(msg);
    ProtobufCMessage *pb = protobuf_c_message_unpack(desc, &alloc, len, p);
    if (!pb)
        *err = grove_error_set(GROVE_EINVAL, "malformed protobuf %s", desc->short_name);
    return pb;
}

static void dpb_slices(const ProtobufCBinaryData *in, size_t n, const struct grove_slice **out,
                       size_t *count, struct grove_slice *slices)
{
    for (size_t i = 0; i < n; i++)
        slices[i] = (struct grove_slice){.ptr = (const char *)in[i].data, .len = in[i].len};
    *out = n ? slices : NULL;
    *count = n;
}

/* One FieldWrite: its op names the CRDT type it writes; the Data API checks
 * that type against the schema. */
static grove_err dpb_field_from_pb(void *msg, const pb_field_write *in,
                                   struct grove_field_write *out)
{
    memset(out, 0, sizeof *out);
    out->field = in->field;
    switch (in->op_case) {
    case GROVE__DATA__V1__FIELD_WRITE__OP_VALUE:
        out->crdt = GROVE_CRDT_LWW;
        /* Empty bytes are no JSON text: the Data API reports it missing. */
        if (in->value.len)
            out->value =
                (struct grove_slice){.ptr = (const char *)in->value.data, .len = in->value.len};
        return GROVE_OK;
    case GROVE__DATA__V1__FIELD_WRITE__OP_DELTA:
        out->crdt = GROVE_CRDT_COUNTER;
        out->delta = in->delta;
        return GROVE_OK;
    case GROVE__DATA__V1__FIELD_WRITE__OP_SET: {
        out->crdt = GROVE_CRDT_SET;
        size_t n = in->set->n_add + in->set->n_remove;
        struct grove_slice *slices = n ? grove_msg_alloc(msg, n * sizeof *slices) : NULL;
        if (n && !slices)
            return grove_error_set(GROVE_ENOMEM, "out of memory");
        dpb_slices(in->set->add, in->set->n_add, &out->add, &out->add_count, slices);
        /* No elements: no slices, and no offset from NULL (undefined). */
        dpb_slices(in->set->remove, in->set->n_remove, &out->remove, &out->remove_count,
                   slices ? slices + in->set->n_add : NULL);
        return GROVE_OK;
    }
    default:
        return grove_error_set(GROVE_EINVAL, "field \"%s\": no value, delta or set", in->field);
    }
}

static grove_err dpb_row_from_pb(void *msg, const char *table, const char *pk,
                                 pb_field_write *const *fields, size_t n,
                                 struct grove_row_write *out)
{
    memset(out, 0, sizeof *out);
    out->table = table;
    out->pk = pk;
    if (n == 0)
        return GROVE_OK;
    struct grove_field_write *writes = grove_msg_alloc(msg, n * sizeof *writes);
    if (!writes)
        return grove_error_set(GROVE_ENOMEM, "out of memory for %zu fields", n);
    for (size_t i = 0; i < n; i++) {
        grove_err err = dpb_field_from_pb(msg, fields[i], &writes[i]);
        if (err)
            return grove_error_prefix(err, "fields[%zu]: ", i);
    }
    out->fields = writes;
    out->field_count = n;
    return GROVE_OK;
}

/* Gives the write `n` rows in msg's arena. */
static grove_err dpb_rows_alloc(struct grove_write_msg *msg, size_t n,
                                struct grove_row_write **rows)
{
    *rows = n ? grove_msg_alloc(msg, n * sizeof **rows) : NULL;
    if (n && !*rows)
        return grove_error_set(GROVE_ENOMEM, "out of memory for %zu rows", n);
    msg->write.rows = *rows;
    msg->write.row_count = n;
    return GROVE_OK;
}

static grove_err dpb_decode_one(struct grove_write_msg *msg, const char *data, size_t len)
{
    grove_err err;
    Grove__Data__V1__WriteRequest *pb =
        dpb_unpack(msg, &grove__data__v1__write_request__descriptor, data, len, &err);
    struct grove_row_write *row;
    if (!pb || (err = dpb_rows_alloc(msg, 1, &row)))
        return err;
    msg->write.idempotency_key = pb->idempotency_key;
    return dpb_row_from_pb(msg, pb->table, pb->pk, pb->fields, pb->n_fields, row);
}

static grove_err dpb_decode_many(struct grove_write_msg *msg, const char *data, size_t len)
{
    grove_err err;
    Grove__Data__V1__WriteManyRequest *pb =
        dpb_unpack(msg, &grove__data__v1__write_many_request__descriptor, data, len, &err);
    struct grove_row_write *rows;
    if (!pb || (err = dpb_rows_alloc(msg, pb->n_rows, &rows)))
        return err;
    msg->write.idempotency_key = pb->idempotency_key;
    for (size_t i = 0; i < pb->n_rows; i++) {
        const pb_row_write *r = pb->rows[i];
        if ((err = dpb_row_from_pb(msg, r->table, r->pk, r->fields, r->n_fields, &rows[i])))
            return grove_error_prefix(err, "rows[%zu].", i);
        rows[i].delete_row = r->delete_row;
    }
    return GROVE_OK;
}

static grove_err dpb_decode_delete(struct grove_write_msg *msg, const char *data, size_t len)
{
    grove_err err;
    Grove__Data__V1__DeleteRequest *pb =
        dpb_unpack(msg, &grove__data__v1__delete_request__descriptor, data, len, &err);
    struct grove_row_write *row;
    if (!pb || (err = dpb_rows_alloc(msg, 1, &row)))
        return err;
    msg->write.idempotency_key = pb->idempotency_key;
    *row = (struct grove_row_write){.table = pb->table, .pk = pb->pk, .delete_row = true};
    return GROVE_OK;
}

grove_err grove_data_pb_decode_write(enum grove_data_call call, const char *data, size_t len,
                                     struct grove_write_msg **out)
{
    *out = NULL;
    struct grove_write_msg *msg;
    grove_err err = grove_msg_new(sizeof *msg, (void **)&msg);
    if (err)
        return err;
    switch (call) {
    case GROVE_DATA_CALL_WRITE:
        err = dpb_decode_one(msg, data, len);
        break;
    case GROVE_DATA_CALL_WRITE_MANY:
        err = dpb_decode_many(msg, data, len);
        break;
    case GROVE_DATA_CALL_DELETE:
        err = dpb_decode_delete(msg, data, len);
        break;
    default:
        err = grove_error_set(GROVE_EINVAL, "not a write call");
    }
    if (err) {
        grove_msg_free(msg);
        return err;
    }
    *out = msg;
    return GROVE_OK;
}

/* ---- responses ------------------------------------------------------------ */

/* protobuf-c's structs take non-const pointers but packing never writes. */
static ProtobufCBinaryData dpb_bytes(const char *data, size_t len)
{
    return (ProtobufCBinaryData){.data = (uint8_t *)data, .len = data ? len : 0};
}

static void dpb_hlc(const struct grove_hlc *in, Grove__Sync__V1__HLC *out)
{
    grove__sync__v1__hlc__init(out);
    out->ts = in->ts;
    out->c = in->c;
    out->node = (char *)in->node;
}

/* ---- serving -------------------------------------------------------------- */

static grove_err dpb_serve_write(struct grove_store *store, const struct grove_caller *caller,
                                 enum grove_data_call call, const char *data, size_t len,
                                 struct grove_buf *out)
{
    struct grove_write_msg *msg;
    grove_err err = grove_data_pb_decode_write(call, data, len, &msg);
    if (err)
        return err;
    struct grove_hlc hlc;
    char *row = NULL;
    if ((err = grove_data_write_as(store, caller, &msg->write, &hlc)))
        goto done;
    Grove__Sync__V1__HLC pb_hlc;
    dpb_hlc(&hlc, &pb_hlc);
    const struct grove_row_write *r = &msg->write.rows[0];
    if (call == GROVE_DATA_CALL_WRITE_MANY) {
        Grove__Data__V1__WriteManyResponse pb = GROVE__DATA__V1__WRITE_MANY_RESPONSE__INIT;
        pb.rows = msg->write.row_count;
        pb.hlc = &pb_hlc;
        err = grove_pb_pack(&pb.base, out);
    } else if (call == GROVE_DATA_CALL_DELETE) {
        Grove__Data__V1__DeleteResponse pb = GROVE__DATA__V1__DELETE_RESPONSE__INIT;
        pb.table = (char *)r->table;
        pb.pk = (char *)r->pk;
        pb.hlc = &pb_hlc;
        err = grove_pb_pack(&pb.base, out);
    } else {
        /* The row as it stands after the write; a delete that committed
         * right after it leaves it empty rather than failing a done write. */
        err = grove_data_get(store, r->table, r->pk, &row);
        if (err && err != GROVE_ENOTFOUND)
            goto done;
        Grove__Data__V1__WriteResponse pb = GROVE__DATA__V1__WRITE_RESPONSE__INIT;
        pb.table = (char *)r->table;
        pb.pk = (char *)r->pk;
        pb.row = dpb_bytes(row, row ? strlen(row) : 0);
        pb.hlc = &pb_hlc;
        err = grove_pb_pack(&pb.base, out);
    }
done:
    free(row);
    grove_msg_free(msg);
    return err;
}

static grove_err dpb_serve_get(struct grove_store *store, const struct grove_caller *caller,
                               const char *data, size_t len, struct grove_buf *out)
{
    void *arena;
    grove_err err = grove_msg_new(0, &arena);
    if (err)
        return err;
    char *row = NULL;
    Grove__Data__V1__GetRequest *req =
        dpb_unpack(arena, &grove__data__v1__get_request__descriptor, data, len, &err);
    if (!req || (err = grove_data_get_as(store, caller, req->table, req->pk, &row)))
        goto done;
    Grove__Data__V1__GetResponse pb = GROVE__DATA__V1__GET_RESPONSE__INIT;
    pb.table = req->table;
    pb.pk = req->pk;
    pb.row = dpb_bytes(row, strlen(row));
    err = grove_pb_pack(&pb.base, out);
done:
    free(row);
    grove_msg_free(arena);
    return err;
}

static grove_err dpb_serve_list(struct grove_store *store, const struct grove_caller *caller,
                                const char *data, size_t len, struct grove_buf *out)
{
    void *arena;
    grove_err err = grove_msg_new(0, &arena);
    if (err)
        return err;
    struct grove_row_page *page = NULL;
    Grove__Data__V1__ListRequest *req =
        dpb_unpack(arena, &grove__data__v1__list_request__descriptor, data, len, &err);
    if (!req)
        goto done;
    struct grove_list_query query = {
        .table = req->table, .prefix = req->prefix, .after = req->after, .limit = req->limit};
    if ((err = grove_data_list_as(store, caller, &query, &page)))
        goto done;
    Grove__Data__V1__Row *rows = grove_msg_alloc(arena, (page->count + 1) * sizeof *rows);
    Grove__Data__V1__Row **ptrs = grove_msg_alloc(arena, (page->count + 1) * sizeof *ptrs);
    if (!rows || !ptrs) {
        err = grove_error_set(GROVE_ENOMEM, "out of memory for %zu rows", page->count);
        goto done;
    }
    for (size_t i = 0; i < page->count; i++) {
        grove__data__v1__row__init(&rows[i]);
        rows[i].pk = (char *)page->rows[i].pk;
        rows[i].row = dpb_bytes(page->rows[i].row.ptr, page->rows[i].row.len);
        ptrs[i] = &rows[i];
    }
    Grove__Data__V1__ListResponse pb = GROVE__DATA__V1__LIST_RESPONSE__INIT;
    pb.rows = ptrs;
    pb.n_rows = page->count;
    pb.next = (char *)(page->next ? page->next : "");
    pb.has_next = page->next != NULL;
    err = grove_pb_pack(&pb.base, out);
done:
    grove_msg_free(page);
    grove_msg_free(arena);
    return err;
}

grove_err grove_data_pb_serve(struct grove_store *store, const struct grove_caller *caller,
                              enum grove_data_call call, const char *data, size_t len,
                              struct grove_buf *out)
{
    switch (call) {
    case GROVE_DATA_CALL_WRITE:
    case GROVE_DATA_CALL_WRITE_MANY:
    case GROVE_DATA_CALL_DELETE:
        return dpb_serve_write(store, caller, call, data, len, out);
    case GROVE_DATA_CALL_GET:
        return dpb_serve_get(store, caller, data, len, out);
    case GROVE_DATA_CALL_LIST:
        return dpb_serve_list(store, caller, data, len, out);
    }
    return grove_error_set(GROVE_EINVAL, "unknown Data call %d", (int)call);
}

grove_err grove_data_pb_watch_open(struct grove_store *store, const struct grove_caller *caller,
                                   const char *data, size_t len, struct grove_watch **out)
{
    *out = NULL;
    void *arena;
    grove_err err = grove_msg_new(0, &arena);
    if (err)
        return err;
    Grove__Data__V1__WatchRequest *req =
        dpb_unpack(arena, &grove__data__v1__watch_request__descriptor, data, len, &err);
    if (req) {
        struct grove_watch_options opts = {.table = req->table,
                                           .prefix = req->prefix,
                                           .since = req->since,
                                           .snapshot = req->snapshot};
        err = grove_data_watch_open_as(store, caller, &opts, out);
    }
    grove_msg_free(arena);
    return err;
}

grove_err grove_data_pb_encode_event(const struct grove_row_event *event, struct grove_buf *out)
{
    Grove__Data__V1__RowEvent pb = GROVE__DATA__V1__ROW_EVENT__INIT;
    pb.pk = (char *)event->pk;
    if (!event->deleted)
        pb.row = dpb_bytes(event->row.ptr, event->row.len);
    pb.deleted = event->deleted;
    pb.cursor = (char *)event->cursor;
    return grove_pb_pack(&pb.base, out);
}
