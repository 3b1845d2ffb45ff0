/* The client over gRPC (proto/grove/data/v1/data.proto): the Data service's
 * messages packed and unpacked with protobuf-c, moved by the gRPC C core.
 * One channel per client; each unary call has its own pluck queue and a
 * deadline; Watch is read with short cq_next waits so *stop is honoured
 * within 100 ms. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"
#include "codec_protobuf.h" /* grove_pb_pack */
#include "grove/data/v1/data.pb-c.h"
#include "grpc_internal.h" /* byte buffers, deadlines, the target, batches */

typedef Grove__Data__V1__FieldWrite pb_field_write;
typedef Grove__Data__V1__SetOps pb_set_ops;

/* The Data methods a client calls, and their paths in the transport's table. */
enum cgrpc_method { CG_WRITE, CG_DELETE, CG_GET, CG_LIST, CG_WATCH, CG_METHODS };
static const enum gt_method cgrpc_methods[CG_METHODS] = {
    [CG_WRITE] = GT_DATA_WRITE, [CG_DELETE] = GT_DATA_DELETE, [CG_GET] = GT_DATA_GET,
    [CG_LIST] = GT_DATA_LIST,   [CG_WATCH] = GT_DATA_WATCH,
};

struct cgrpc {
    grpc_channel *channel;
    void *methods[CG_METHODS];
    char *authorization; /* "Bearer <token>" or NULL */
};

static void cgrpc_close(void *self)
{
    struct cgrpc *c = self;
    if (!c)
        return;
    if (c->channel)
        grpc_channel_destroy(c->channel);
    free(c->authorization);
    free(c);
    grpc_shutdown();
}

static grove_err cgrpc_open(const struct grove_url *url, const char *token, void **self_out)
{
    if (url->port == 0)
        return grove_error_set(GROVE_EINVAL, "a gRPC node needs a port");
    grpc_init();
    struct cgrpc *c = calloc(1, sizeof *c);
    if (!c || (token && !(c->authorization = grove_bearer_value(token)))) {
        free(c);
        grpc_shutdown();
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    }
    /* grpcs:// trusts the system's roots, as curl does for https://. */
    const struct grove_dial_options opts = {.connect_timeout_ms = CLIENT_CONNECT_TIMEOUT_MS};
    grove_err err = grove_grpc_channel_open(url, &opts, &c->channel);
    if (err) {
        cgrpc_close(c);
        return err;
    }
    for (int m = 0; m < CG_METHODS; m++)
        c->methods[m] = grpc_channel_register_call(
            c->channel, grove_grpc_method_paths[cgrpc_methods[m]], NULL, NULL);
    *self_out = c;
    return GROVE_OK;
}

/* Packs a request into bytes gRPC takes over. */
static grove_err cgrpc_pack(const ProtobufCMessage *msg, grpc_slice *out)
{
    struct grove_buf buf = {0};
    grove_err err = grove_pb_pack(msg, &buf);
    if (!err)
        *out = grove_grpc_slice_take(&buf);
    grove_buf_free(&buf);
    return err;
}

/* Unpacks an answer; *out is freed with protobuf_c_message_free_unpacked. */
static grove_err cgrpc_unpack(const ProtobufCMessageDescriptor *desc, const grpc_slice *body,
                              ProtobufCMessage **out)
{
    *out = protobuf_c_message_unpack(desc, NULL, GRPC_SLICE_LENGTH(*body),
                                     GRPC_SLICE_START_PTR(*body));
    if (!*out)
        return grove_error_set(GROVE_EPROTO, "unexpected answer: not a %s", desc->short_name);
    return GROVE_OK;
}

/* One unary call: request packed out, the answer unpacked with desc. */
static grove_err cgrpc_unary(struct cgrpc *c, enum cgrpc_method m, const ProtobufCMessage *request,
                             const ProtobufCMessageDescriptor *desc, ProtobufCMessage **answer)
{
    grpc_slice payload, body;
    grove_err err = cgrpc_pack(request, &payload);
    if (err)
        return err;
    err = grove_grpc_unary(c->channel, c->methods[m], CLIENT_CALL_TIMEOUT_MS, c->authorization,
                           payload, NULL, &body);
    grpc_slice_unref(payload);
    if (!err) {
        err = cgrpc_unpack(desc, &body, answer);
        grpc_slice_unref(body);
    }
    return err;
}

static void cgrpc_hlc(const Grove__Sync__V1__HLC *in, struct grove_hlc *out)
{
    memset(out, 0, sizeof *out);
    if (!in)
        return;
    out->ts = in->ts;
    out->c = in->c;
    if (grove_hlc_set_node(out, in->node ? in->node : ""))
        out->node[0] = '\0'; /* a longer node id is no HLC of ours: keep ts and c */
}

static grove_err cgrpc_row_copy(const ProtobufCBinaryData *row, char **out)
{
    if (!row->len)
        return grove_error_set(GROVE_EPROTO, "unexpected answer: no row");
    return grove_client_strndup((const char *)row->data, row->len, out);
}

/* ---- unary calls ---- */

static grove_err cgrpc_write(void *self, const char *table, const char *pk,
                             const struct grove_field_write *fields, size_t field_count,
                             const char *idempotency_key, char **row, struct grove_hlc *hlc)
{
    pb_field_write *pb = calloc(field_count, sizeof *pb);
    pb_field_write **ptrs = calloc(field_count, sizeof *ptrs);
    pb_set_ops *sets = calloc(field_count, sizeof *sets);
    /* ProtobufCBinaryData and grove_slice differ in layout: copy each element. */
    size_t elements = 0;
    for (size_t i = 0; i < field_count; i++)
        elements += fields[i].add_count + fields[i].remove_count;
    ProtobufCBinaryData *bins = calloc(elements ? elements : 1, sizeof *bins);
    grove_err err = GROVE_OK;
    if (!pb || !ptrs || !sets || !bins) {
        err = grove_error_set(GROVE_ENOMEM, "out of memory");
        goto done;
    }
    ProtobufCBinaryData *next = bins;
    for (size_t i = 0; i < field_count; i++) {
        const struct grove_field_write *f = &fields[i];
        grove__data__v1__field_write__init(&pb[i]);
        ptrs[i] = &pb[i];
        pb[i].field = (char *)f->field;
        switch (f->crdt) {
        case GROVE_CRDT_COUNTER:
            pb[i].op_case = GROVE__DATA__V1__FIELD_WRITE__OP_DELTA;
            pb[i].delta = f->delta;
            break;
        case GROVE_CRDT_SET:
            grove__data__v1__set_ops__init(&sets[i]);
            sets[i].add = next;
            sets[i].n_add = f->add_count;
            for (size_t k = 0; k < f->add_count; k++)
                *next++ = (ProtobufCBinaryData){f->add[k].len, (uint8_t *)f->add[k].ptr};
            sets[i].remove = next;
            sets[i].n_remove = f->remove_count;
            for (size_t k = 0; k < f->remove_count; k++)
                *next++ = (ProtobufCBinaryData){f->remove[k].len, (uint8_t *)f->remove[k].ptr};
            pb[i].op_case = GROVE__DATA__V1__FIELD_WRITE__OP_SET;
            pb[i].set = &sets[i];
            break;
        default:
            pb[i].op_case = GROVE__DATA__V1__FIELD_WRITE__OP_VALUE;
            pb[i].value = (ProtobufCBinaryData){f->value.len, (uint8_t *)f->value.ptr};
        }
    }
    Grove__Data__V1__WriteRequest req = GROVE__DATA__V1__WRITE_REQUEST__INIT;
    req.table = (char *)table;
    req.pk = (char *)pk;
    req.fields = ptrs;
    req.n_fields = field_count;
    if (idempotency_key)
        req.idempotency_key = (char *)idempotency_key;
    ProtobufCMessage *answer;
    err = cgrpc_unary(self, CG_WRITE, &req.base, &grove__data__v1__write_response__descriptor,
                      &answer);
    if (!err) {
        Grove__Data__V1__WriteResponse *resp = (Grove__Data__V1__WriteResponse *)answer;
        if (row)
            err = cgrpc_row_copy(&resp->row, row);
        cgrpc_hlc(resp->hlc, hlc);
        protobuf_c_message_free_unpacked(answer, NULL);
    }
done:
    free(pb);
    free(ptrs);
    free(sets);
    free(bins);
    return err;
}

static grove_err cgrpc_delete(void *self, const char *table, const char *pk, struct grove_hlc *hlc)
{
    Grove__Data__V1__DeleteRequest req = GROVE__DATA__V1__DELETE_REQUEST__INIT;
    req.table = (char *)table;
    req.pk = (char *)pk;
    ProtobufCMessage *answer;
    grove_err err = cgrpc_unary(self, CG_DELETE, &req.base,
                                &grove__data__v1__delete_response__descriptor, &answer);
    if (!err) {
        cgrpc_hlc(((Grove__Data__V1__DeleteResponse *)answer)->hlc, hlc);
        protobuf_c_message_free_unpacked(answer, NULL);
    }
    return err;
}

static grove_err cgrpc_get(void *self, const char *table, const char *pk, char **row)
{
    Grove__Data__V1__GetRequest req = GROVE__DATA__V1__GET_REQUEST__INIT;
    req.table = (char *)table;
    req.pk = (char *)pk;
    ProtobufCMessage *answer;
    grove_err err =
        cgrpc_unary(self, CG_GET, &req.base, &grove__data__v1__get_response__descriptor, &answer);
    if (!err) {
        err = cgrpc_row_copy(&((Grove__Data__V1__GetResponse *)answer)->row, row);
        protobuf_c_message_free_unpacked(answer, NULL);
    }
    return err;
}

static grove_err cgrpc_list(void *self, const struct grove_list_query *query,
                            struct grove_row_page **page)
{
    Grove__Data__V1__ListRequest req = GROVE__DATA__V1__LIST_REQUEST__INIT;
    req.table = (char *)query->table;
    if (query->prefix)
        req.prefix = (char *)query->prefix;
    if (query->after)
        req.after = (char *)query->after;
    req.limit = (uint32_t)query->limit;
    ProtobufCMessage *answer;
    grove_err err =
        cgrpc_unary(self, CG_LIST, &req.base, &grove__data__v1__list_response__descriptor, &answer);
    if (err)
        return err;
    Grove__Data__V1__ListResponse *resp = (Grove__Data__V1__ListResponse *)answer;
    struct client_page_builder b;
    err = grove_client_page_start(&b);
    for (size_t i = 0; !err && i < resp->n_rows; i++) {
        const Grove__Data__V1__Row *r = resp->rows[i];
        err =
            grove_client_page_add(&b, r->pk, strlen(r->pk), (const char *)r->row.data, r->row.len);
    }
    if (!err && resp->has_next)
        err = grove_client_page_next(&b, resp->next, strlen(resp->next));
    protobuf_c_message_free_unpacked(answer, NULL);
    return grove_client_page_finish(&b, err, page);
}

/* ---- Watch: a server stream of RowEvents ---- */

/* The watcher's event fn, for each RowEvent of the stream. */
struct cgrpc_watch {
    grove_client_event_fn fn;
    void *user;
};

static grove_err cgrpc_deliver(void *user, const char *data, size_t len, bool *go_on)
{
    const struct cgrpc_watch *w = user;
    ProtobufCMessage *msg = protobuf_c_message_unpack(&grove__data__v1__row_event__descriptor,
                                                      NULL, len, (const uint8_t *)data);
    if (!msg)
        return grove_error_set(GROVE_EPROTO, "unexpected answer: not a RowEvent");
    grove_err err = GROVE_OK;
    const Grove__Data__V1__RowEvent *pb = (const Grove__Data__V1__RowEvent *)msg;
    struct grove_row_event event = {.pk = pb->pk, .deleted = pb->deleted || pb->row.len == 0};
    if (!event.deleted)
        event.row = (struct grove_slice){(const char *)pb->row.data, pb->row.len};
    if (strlen(pb->cursor) >= sizeof event.cursor)
        err = grove_error_set(GROVE_EPROTO, "event cursor: longer than %zu bytes",
                              sizeof event.cursor - 1);
    else
        strcpy(event.cursor, pb->cursor);
    if (!err)
        *go_on = w->fn(w->user, &event);
    protobuf_c_message_free_unpacked(msg, NULL);
    return err;
}

static grove_err cgrpc_watch(void *self, const struct grove_watch_options *opts,
                             grove_client_event_fn fn, void *user, const atomic_bool *stop)
{
    struct cgrpc *c = self;
    Grove__Data__V1__WatchRequest req = GROVE__DATA__V1__WATCH_REQUEST__INIT;
    req.table = (char *)opts->table;
    if (opts->prefix)
        req.prefix = (char *)opts->prefix;
    if (opts->since)
        req.since = (char *)opts->since;
    req.snapshot = opts->snapshot;
    grpc_slice payload;
    grove_err err = cgrpc_pack(&req.base, &payload);
    if (err)
        return err;
    struct grove_grpc_call x;
    grove_grpc_call_open(&x, c->channel, c->methods[CG_WATCH], true,
                         gpr_inf_future(GPR_CLOCK_REALTIME), c->authorization,
                         grpc_raw_byte_buffer_create(&payload, 1));
    grpc_slice_unref(payload);
    struct cgrpc_watch w = {fn, user};
    err = grove_grpc_call_read_stream(&x, CLIENT_STOP_CHECK_MS, stop, cgrpc_deliver, &w, "watch");
    grove_grpc_call_close(&x);
    return err;
}

const struct client_ops grove_client_grpc_ops = {
    .open = cgrpc_open,
    .write = cgrpc_write,
    .delete_row = cgrpc_delete,
    .get = cgrpc_get,
    .list = cgrpc_list,
    .watch = cgrpc_watch,
    .close = cgrpc_close,
};
