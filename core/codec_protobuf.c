/* The protobuf codec (grove/codec.h): proto/grove/sync/v1/sync.proto <-> the
 * core model. Decoding unpacks straight into the grove
 * message's arena (a protobuf-c allocator over grove_msg_alloc), so decoded
 * strings already live in the message and need no second copy; encoding
 * builds the protobuf-c structs in a scratch arena that borrows the model's
 * strings for the duration of the pack. */
#include <stdio.h>
#include <string.h>

#include "codec_protobuf.h"
#include "grove/codec.h"
#include "grove/json.h"
#include "grove/sync/v1/sync.pb-c.h"
#include "grove/sys/error.h"

typedef Grove__Sync__V1__HLC pb_hlc;
typedef Grove__Sync__V1__ChangeRecord pb_change;
typedef Grove__Sync__V1__CounterDelta pb_counter;
typedef Grove__Sync__V1__SetOperation pb_set;

/* ---- decoding ---------------------------------------------------------- */

static void *map_arena_alloc(void *msg, size_t size)
{
    return grove_msg_alloc(msg, size);
}

/* Everything is freed with the message; protobuf-c's frees of a partly
 * unpacked message on error must not touch the arena. */
static void map_arena_free(void *msg, void *ptr)
{
    (void)msg;
    (void)ptr;
}

ProtobufCAllocator grove_pb_allocator(void *msg)
{
    return (ProtobufCAllocator){
        .alloc = map_arena_alloc, .free = map_arena_free, .allocator_data = msg};
}

/* Protobuf-c 1.4 does not check that `string` fields are UTF-8; the JSON
 * side of a mixed mesh would then carry invalid text, so refuse it here. */
static bool map_utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        int extra;
        unsigned min;
        if (c < 0x80) {
            p++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            extra = 1, min = 0x80, c &= 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            extra = 2, min = 0x800, c &= 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            extra = 3, min = 0x10000, c &= 0x07;
        } else {
            return false;
        }
        p++;
        for (int i = 0; i < extra; i++, p++) {
            if ((*p & 0xc0) != 0x80)
                return false;
            c = (c << 6) | (*p & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
            return false;
    }
    return true;
}

static grove_err map_string(const char *s, const char *where, size_t index)
{
    if (!map_utf8_valid(s))
        return grove_error_set(GROVE_EINVAL, "changes[%zu].%s: invalid UTF-8", index, where);
    return GROVE_OK;
}

/* Fills out from a protobuf HLC (NULL: the zero HLC). */
static grove_err map_hlc_from_pb(const pb_hlc *in, struct grove_hlc *out, const char *where)
{
    memset(out, 0, sizeof *out);
    if (!in)
        return GROVE_OK;
    size_t n = strlen(in->node);
    if (n > GROVE_NODE_ID_MAX)
        return grove_error_set(GROVE_EINVAL, "%s.node: longer than %d bytes", where,
                               GROVE_NODE_ID_MAX);
    if (!map_utf8_valid(in->node))
        return grove_error_set(GROVE_EINVAL, "%s.node: invalid UTF-8", where);
    out->ts = in->ts;
    out->c = in->c;
    memcpy(out->node, in->node, n + 1);
    return GROVE_OK;
}

static grove_err map_json_slice(const ProtobufCBinaryData *in, struct grove_slice *out)
{
    out->ptr = NULL;
    out->len = 0;
    if (in->len == 0)
        return GROVE_OK; /* absent: no JSON text is empty */
    grove_err err = grove_json_validate((const char *)in->data, in->len);
    if (err)
        return err;
    out->ptr = (const char *)in->data;
    out->len = in->len;
    return GROVE_OK;
}

static grove_err map_change_from_pb(void *msg, const pb_change *in, size_t i,
                                    struct grove_change *out)
{
    grove_err err;
    if ((err = map_string(in->table, "table", i)) || (err = map_string(in->pk, "pk", i)) ||
        (err = map_string(in->field, "field", i)) || (err = map_string(in->node_id, "node_id", i)))
        return err;
    out->table = in->table;
    out->pk = in->pk;
    out->field = in->field;
    out->node_id = in->node_id;
    err = grove_crdt_parse(in->crdt_type, strlen(in->crdt_type), &out->crdt);
    if (err)
        return grove_error_prefix(err, "changes[%zu].crdt_type: ", i);
    /* The JSON codec's rules: an HLC is required, and only a row delete may
     * leave field and crdt_type empty. */
    if (!in->hlc)
        return grove_error_set(GROVE_EINVAL, "changes[%zu].hlc: missing", i);
    if (!in->tombstone && in->field[0] == '\0')
        return grove_error_set(
            GROVE_EINVAL, "changes[%zu]: empty \"field\" on a record that is not a tombstone", i);
    if (!in->tombstone && out->crdt == GROVE_CRDT_NONE)
        return grove_error_set(
            GROVE_EINVAL, "changes[%zu]: empty \"crdt_type\" on a record that is not a tombstone",
            i);
    char where[48];
    snprintf(where, sizeof where, "changes[%zu].hlc", i);
    if ((err = map_hlc_from_pb(in->hlc, &out->hlc, where)))
        return err;
    if ((err = map_json_slice(&in->value, &out->value)))
        return grove_error_prefix(err, "changes[%zu].value: ", i);
    out->tombstone = in->tombstone;
    if (in->counter_delta) {
        if (in->counter_delta->inc < 0 || in->counter_delta->dec < 0)
            return grove_error_set(GROVE_EINVAL,
                                   "changes[%zu].counter_delta: totals must not be negative", i);
        out->has_counter = true;
        out->counter_inc = in->counter_delta->inc;
        out->counter_dec = in->counter_delta->dec;
    }
    if (in->set_op) {
        const pb_set *s = in->set_op;
        if (strcmp(s->op, "add") == 0)
            out->set_op = GROVE_SET_ADD;
        else if (strcmp(s->op, "remove") == 0)
            out->set_op = GROVE_SET_REMOVE;
        else
            return grove_error_set(GROVE_EINVAL,
                                   "changes[%zu].set_op.op: expected \"add\" or \"remove\"", i);
        if (s->n_elements) {
            out->elements = grove_msg_alloc(msg, s->n_elements * sizeof *out->elements);
            if (!out->elements)
                return grove_error_set(GROVE_ENOMEM, "out of memory");
        }
        for (size_t e = 0; e < s->n_elements; e++) {
            if (s->elements[e].len == 0)
                return grove_error_set(GROVE_EINVAL,
                                       "changes[%zu].set_op.elements[%zu]: empty JSON value", i, e);
            if ((err = map_json_slice(&s->elements[e], &out->elements[e])))
                return grove_error_prefix(err, "changes[%zu].set_op.elements[%zu]: ", i, e);
        }
        out->element_count = s->n_elements;
    }
    return GROVE_OK;
}

static grove_err map_changes_from_pb(void *msg, pb_change *const *in, size_t n,
                                     struct grove_change **out, size_t *count)
{
    *out = NULL;
    *count = 0;
    if (n == 0)
        return GROVE_OK;
    struct grove_change *changes = grove_msg_alloc(msg, n * sizeof *changes);
    if (!changes)
        return grove_error_set(GROVE_ENOMEM, "out of memory for %zu changes", n);
    for (size_t i = 0; i < n; i++) {
        grove_err err = map_change_from_pb(msg, in[i], i, &changes[i]);
        if (err)
            return err;
    }
    *out = changes;
    *count = n;
    return GROVE_OK;
}

/* Reads a varint at *i; false when the wire ends inside it. */
static bool pb_varint(const uint8_t *p, size_t len, size_t *i, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && *i < len; shift += 7) {
        uint8_t b = p[(*i)++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

enum { PB_FIELDS_MAX = 16 }; /* field numbers in sync.proto stay below this */

/* protobuf-c hands `string` fields over as C strings, so a NUL inside one
 * would cut it short without a word ("t\0x" would pass as table "t"). Such
 * strings are refused before unpacking, by walking the wire with the
 * message's descriptor; a malformed wire is left to the unpacker. */
grove_err grove_pb_pack(const ProtobufCMessage *pb, struct grove_buf *out)
{
    size_t size = protobuf_c_message_get_packed_size(pb);
    grove_err err = grove_buf_reserve(out, size);
    if (err)
        return err;
    protobuf_c_message_pack(pb, (uint8_t *)out->data + out->len);
    out->len += size;
    out->data[out->len] = '\0'; /* grove_buf keeps data a C string */
    return GROVE_OK;
}

grove_err grove_pb_refuse_nul(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t len)
{
    /* The wire of our messages seldom holds a zero byte at all (proto3 omits
     * zero values; a varint ends in a zero byte only when it is 0): then no
     * string can hold one, and the walk is skipped. */
    if (!memchr(p, 0, len))
        return GROVE_OK;
    size_t seen[PB_FIELDS_MAX] = {0};
    size_t i = 0;
    while (i < len) {
        uint64_t key, n;
        if (!pb_varint(p, len, &i, &key))
            return GROVE_OK;
        switch (key & 7) {
        case 0:
            if (!pb_varint(p, len, &i, &n))
                return GROVE_OK;
            continue;
        case 1:
            n = 8;
            break;
        case 5:
            n = 4;
            break;
        case 2:
            if (!pb_varint(p, len, &i, &n))
                return GROVE_OK;
            break;
        default:
            return GROVE_OK;
        }
        if (n > len - i)
            return GROVE_OK;
        uint64_t number = key >> 3;
        const ProtobufCFieldDescriptor *f =
            (key & 7) == 2 && number <= UINT32_MAX
                ? protobuf_c_message_descriptor_get_field(desc, (unsigned)number)
                : NULL;
        size_t index = number < PB_FIELDS_MAX ? seen[number]++ : 0;
        grove_err err = GROVE_OK;
        if (f && f->type == PROTOBUF_C_TYPE_STRING && memchr(p + i, '\0', n))
            err = grove_error_set(GROVE_EINVAL, "%s: contains a NUL byte", f->name);
        else if (f && f->type == PROTOBUF_C_TYPE_MESSAGE)
            err = grove_pb_refuse_nul(f->descriptor, p + i, n);
        if (err && f->label == PROTOBUF_C_LABEL_REPEATED)
            return grove_error_prefix(err, "%s[%zu].", f->name, index);
        if (err)
            return f->type == PROTOBUF_C_TYPE_MESSAGE ? grove_error_prefix(err, "%s.", f->name)
                                                      : err;
        i += n;
    }
    return GROVE_OK;
}

static grove_err map_strings_utf8(char **items, size_t count, const char *where)
{
    for (size_t i = 0; i < count; i++)
        if (!map_utf8_valid(items[i]))
            return grove_error_set(GROVE_EINVAL, "%s[%zu]: invalid UTF-8", where, i);
    return GROVE_OK;
}

/* The filter's strings live in the message's arena already. */
static grove_err map_filter_from_pb(const Grove__Sync__V1__PullFilter *in,
                                    struct grove_pull_filter *out)
{
    if (!in)
        return GROVE_OK;
    grove_err err = map_strings_utf8(in->pk_filter, in->n_pk_filter, "filter.pk_filter");
    if (!err)
        err = map_strings_utf8(in->field_filter, in->n_field_filter, "filter.field_filter");
    if (!err && !map_utf8_valid(in->pk_prefix))
        err = grove_error_set(GROVE_EINVAL, "filter.pk_prefix: invalid UTF-8");
    if (err)
        return err;
    out->pks = (const char **)in->pk_filter;
    out->pk_count = in->n_pk_filter;
    out->fields = (const char **)in->field_filter;
    out->field_count = in->n_field_filter;
    out->pk_prefix = in->pk_prefix;
    return GROVE_OK;
}

static grove_err map_unpack_failed(const char *what)
{
    return grove_error_set(GROVE_EINVAL, "malformed protobuf %s", what);
}

static grove_err pb_decode_pull_request(const char *data, size_t len,
                                        struct grove_pull_request **out)
{
    struct grove_pull_request *req = NULL;
    grove_err err = grove_pull_request_new(&req);
    if (err)
        goto fail;
    ProtobufCAllocator alloc = grove_pb_allocator(req);
    if ((err =
             grove_pb_refuse_nul(&grove__sync__v1__pull_request__descriptor, (const uint8_t *)data, len)))
        goto fail;
    Grove__Sync__V1__PullRequest *pb =
        grove__sync__v1__pull_request__unpack(&alloc, len, (const uint8_t *)data);
    if (!pb) {
        err = map_unpack_failed("PullRequest");
        goto fail;
    }
    if ((err = map_strings_utf8(pb->tables, pb->n_tables, "tables")))
        goto fail;
    req->tables = (const char **)pb->tables;
    req->table_count = pb->n_tables;
    if ((err = map_hlc_from_pb(pb->since, &req->since, "since")))
        goto fail;
    if (!map_utf8_valid(pb->node_id)) {
        err = grove_error_set(GROVE_EINVAL, "node_id: invalid UTF-8");
        goto fail;
    }
    req->node_id = pb->node_id;
    req->limit = pb->limit;
    if ((err = map_filter_from_pb(pb->filter, &req->filter)) ||
        (err = grove_pull_request_check(req)))
        goto fail;
    *out = req;
    return GROVE_OK;
fail:
    grove_msg_free(req);
    *out = NULL;
    return err;
}

/* Pull responses and stream batches share the model struct. */
static grove_err map_decode_batch(const char *data, size_t len, bool stream,
                                  struct grove_pull_response **out)
{
    struct grove_pull_response *resp = NULL;
    grove_err err = grove_pull_response_new(&resp);
    if (err)
        goto fail;
    ProtobufCAllocator alloc = grove_pb_allocator(resp);
    pb_change **changes;
    size_t n;
    const pb_hlc *latest;
    if (stream) {
        if ((err = grove_pb_refuse_nul(&grove__sync__v1__stream_batch__descriptor, (const uint8_t *)data,
                                 len)))
            goto fail;
        Grove__Sync__V1__StreamBatch *pb =
            grove__sync__v1__stream_batch__unpack(&alloc, len, (const uint8_t *)data);
        if (!pb) {
            err = map_unpack_failed("StreamBatch");
            goto fail;
        }
        if ((err = map_hlc_from_pb(pb->since, &resp->since, "since")))
            goto fail;
        changes = pb->changes, n = pb->n_changes, latest = pb->latest_hlc;
    } else {
        if ((err = grove_pb_refuse_nul(&grove__sync__v1__pull_response__descriptor, (const uint8_t *)data,
                                 len)))
            goto fail;
        Grove__Sync__V1__PullResponse *pb =
            grove__sync__v1__pull_response__unpack(&alloc, len, (const uint8_t *)data);
        if (!pb) {
            err = map_unpack_failed("PullResponse");
            goto fail;
        }
        resp->has_more = pb->has_more;
        changes = pb->changes, n = pb->n_changes, latest = pb->latest_hlc;
    }
    if ((err = map_changes_from_pb(resp, changes, n, &resp->changes, &resp->count)))
        goto fail;
    if ((err = map_hlc_from_pb(latest, &resp->latest_hlc, "latest_hlc")))
        goto fail;
    if ((err = grove_pull_response_check(resp)))
        goto fail;
    *out = resp;
    return GROVE_OK;
fail:
    grove_msg_free(resp);
    *out = NULL;
    return err;
}

static grove_err pb_decode_pull_response(const char *data, size_t len,
                                         struct grove_pull_response **out)
{
    return map_decode_batch(data, len, false, out);
}

static grove_err pb_decode_stream_batch(const char *data, size_t len,
                                        struct grove_pull_response **out)
{
    return map_decode_batch(data, len, true, out);
}

static grove_err pb_decode_push_request(const char *data, size_t len,
                                        struct grove_push_request **out)
{
    struct grove_push_request *req = NULL;
    grove_err err = grove_push_request_new(&req);
    if (err)
        goto fail;
    ProtobufCAllocator alloc = grove_pb_allocator(req);
    if ((err =
             grove_pb_refuse_nul(&grove__sync__v1__push_request__descriptor, (const uint8_t *)data, len)))
        goto fail;
    Grove__Sync__V1__PushRequest *pb =
        grove__sync__v1__push_request__unpack(&alloc, len, (const uint8_t *)data);
    if (!pb) {
        err = map_unpack_failed("PushRequest");
        goto fail;
    }
    if ((err = map_changes_from_pb(req, pb->changes, pb->n_changes, &req->changes, &req->count)))
        goto fail;
    if (!map_utf8_valid(pb->node_id)) {
        err = grove_error_set(GROVE_EINVAL, "node_id: invalid UTF-8");
        goto fail;
    }
    req->node_id = pb->node_id;
    if ((err = grove_push_request_check(req)))
        goto fail;
    *out = req;
    return GROVE_OK;
fail:
    grove_msg_free(req);
    *out = NULL;
    return err;
}

static grove_err pb_decode_push_response(const char *data, size_t len,
                                         struct grove_push_response **out)
{
    struct grove_push_response *resp = NULL;
    grove_err err = grove_push_response_new(&resp);
    if (err)
        goto fail;
    ProtobufCAllocator alloc = grove_pb_allocator(resp);
    if ((err = grove_pb_refuse_nul(&grove__sync__v1__push_response__descriptor, (const uint8_t *)data,
                             len)))
        goto fail;
    Grove__Sync__V1__PushResponse *pb =
        grove__sync__v1__push_response__unpack(&alloc, len, (const uint8_t *)data);
    if (!pb) {
        err = map_unpack_failed("PushResponse");
        goto fail;
    }
    resp->merged = pb->merged;
    if ((err = map_hlc_from_pb(pb->latest_hlc, &resp->latest_hlc, "latest_hlc")))
        goto fail;
    if ((err = grove_push_response_check(resp)))
        goto fail;
    *out = resp;
    return GROVE_OK;
fail:
    grove_msg_free(resp);
    *out = NULL;
    return err;
}

/* ---- encoding ---------------------------------------------------------- */

/* Scratch arena for the protobuf-c structs of one encode. */
struct map_scratch {
    struct grove_pull_request *arena;
};

static void *map_scratch_alloc(struct map_scratch *s, size_t size)
{
    return grove_msg_alloc(s->arena, size);
}

/* protobuf-c's structs take non-const pointers but packing never writes. */
static char *map_str(const char *s)
{
    return (char *)(s ? s : "");
}

static void map_hlc_to_pb(const struct grove_hlc *in, pb_hlc *out)
{
    grove__sync__v1__hlc__init(out);
    out->ts = in->ts;
    out->c = in->c;
    out->node = (char *)in->node;
}

static grove_err map_changes_to_pb(struct map_scratch *s, const struct grove_change *in, size_t n,
                                   pb_change ***out)
{
    *out = NULL;
    if (n == 0)
        return GROVE_OK;
    pb_change **ptrs = map_scratch_alloc(s, n * sizeof *ptrs);
    pb_change *recs = map_scratch_alloc(s, n * sizeof *recs);
    pb_hlc *hlcs = map_scratch_alloc(s, n * sizeof *hlcs);
    if (!ptrs || !recs || !hlcs)
        return grove_error_set(GROVE_ENOMEM, "out of memory for %zu changes", n);
    for (size_t i = 0; i < n; i++) {
        const struct grove_change *c = &in[i];
        pb_change *r = &recs[i];
        grove__sync__v1__change_record__init(r);
        r->table = map_str(c->table);
        r->pk = map_str(c->pk);
        r->field = map_str(c->field);
        r->crdt_type = (char *)grove_crdt_name(c->crdt);
        map_hlc_to_pb(&c->hlc, &hlcs[i]);
        r->hlc = &hlcs[i];
        r->node_id = map_str(c->node_id);
        if (c->value.ptr) {
            r->value.data = (uint8_t *)c->value.ptr;
            r->value.len = c->value.len;
        }
        r->tombstone = c->tombstone;
        if (c->has_counter) {
            pb_counter *cd = map_scratch_alloc(s, sizeof *cd);
            if (!cd)
                return grove_error_set(GROVE_ENOMEM, "out of memory");
            grove__sync__v1__counter_delta__init(cd);
            cd->inc = c->counter_inc;
            cd->dec = c->counter_dec;
            r->counter_delta = cd;
        }
        if (c->set_op != GROVE_SET_NONE) {
            pb_set *so = map_scratch_alloc(s, sizeof *so);
            ProtobufCBinaryData *el =
                c->element_count ? map_scratch_alloc(s, c->element_count * sizeof *el) : NULL;
            if (!so || (c->element_count && !el))
                return grove_error_set(GROVE_ENOMEM, "out of memory");
            grove__sync__v1__set_operation__init(so);
            so->op = c->set_op == GROVE_SET_ADD ? "add" : "remove";
            for (size_t e = 0; e < c->element_count; e++) {
                el[e].data = (uint8_t *)c->elements[e].ptr;
                el[e].len = c->elements[e].len;
            }
            so->elements = el;
            so->n_elements = c->element_count;
            r->set_op = so;
        }
        ptrs[i] = r;
    }
    *out = ptrs;
    return GROVE_OK;
}

static grove_err map_scratch_open(struct map_scratch *s)
{
    return grove_pull_request_new(&s->arena);
}

static grove_err pb_encode_pull_request(const struct grove_pull_request *req, struct grove_buf *out)
{
    struct map_scratch s;
    grove_err err = map_scratch_open(&s);
    if (err)
        return err;
    Grove__Sync__V1__PullRequest pb = GROVE__SYNC__V1__PULL_REQUEST__INIT;
    pb_hlc since;
    pb.tables = (char **)req->tables;
    pb.n_tables = req->table_count;
    map_hlc_to_pb(&req->since, &since);
    pb.since = &since;
    pb.node_id = map_str(req->node_id);
    pb.limit = req->limit;
    Grove__Sync__V1__PullFilter filter = GROVE__SYNC__V1__PULL_FILTER__INIT;
    const struct grove_pull_filter *f = &req->filter;
    if (grove_pull_filter_active(f)) {
        filter.pk_filter = (char **)f->pks;
        filter.n_pk_filter = f->pk_count;
        filter.field_filter = (char **)f->fields;
        filter.n_field_filter = f->field_count;
        filter.pk_prefix = map_str(f->pk_prefix);
        pb.filter = &filter;
    }
    err = grove_pb_pack(&pb.base, out);
    grove_msg_free(s.arena);
    return err;
}

static grove_err map_encode_batch(const struct grove_pull_response *resp, bool stream,
                                  struct grove_buf *out)
{
    struct map_scratch s;
    grove_err err = map_scratch_open(&s);
    if (err)
        return err;
    pb_change **changes;
    pb_hlc latest, since;
    if ((err = map_changes_to_pb(&s, resp->changes, resp->count, &changes)))
        goto done;
    map_hlc_to_pb(&resp->latest_hlc, &latest);
    if (stream) {
        Grove__Sync__V1__StreamBatch pb = GROVE__SYNC__V1__STREAM_BATCH__INIT;
        map_hlc_to_pb(&resp->since, &since);
        pb.since = &since;
        pb.changes = changes;
        pb.n_changes = resp->count;
        pb.latest_hlc = &latest;
        err = grove_pb_pack(&pb.base, out);
    } else {
        Grove__Sync__V1__PullResponse pb = GROVE__SYNC__V1__PULL_RESPONSE__INIT;
        pb.changes = changes;
        pb.n_changes = resp->count;
        pb.latest_hlc = &latest;
        pb.has_more = resp->has_more;
        err = grove_pb_pack(&pb.base, out);
    }
done:
    grove_msg_free(s.arena);
    return err;
}

static grove_err pb_encode_pull_response(const struct grove_pull_response *resp,
                                         struct grove_buf *out)
{
    return map_encode_batch(resp, false, out);
}

static grove_err pb_encode_stream_batch(const struct grove_pull_response *batch,
                                        struct grove_buf *out)
{
    return map_encode_batch(batch, true, out);
}

static grove_err pb_encode_push_request(const struct grove_push_request *req, struct grove_buf *out)
{
    struct map_scratch s;
    grove_err err = map_scratch_open(&s);
    if (err)
        return err;
    Grove__Sync__V1__PushRequest pb = GROVE__SYNC__V1__PUSH_REQUEST__INIT;
    if ((err = map_changes_to_pb(&s, req->changes, req->count, &pb.changes)))
        goto done;
    pb.n_changes = req->count;
    pb.node_id = map_str(req->node_id);
    err = grove_pb_pack(&pb.base, out);
done:
    grove_msg_free(s.arena);
    return err;
}

static grove_err pb_encode_push_response(const struct grove_push_response *resp,
                                         struct grove_buf *out)
{
    Grove__Sync__V1__PushResponse pb = GROVE__SYNC__V1__PUSH_RESPONSE__INIT;
    pb_hlc latest;
    pb.merged = resp->merged;
    map_hlc_to_pb(&resp->latest_hlc, &latest);
    pb.latest_hlc = &latest;
    return grove_pb_pack(&pb.base, out);
}

const struct grove_codec grove_codec_protobuf = {
    .name = "protobuf",
    .encode_pull_request = pb_encode_pull_request,
    .encode_pull_response = pb_encode_pull_response,
    .encode_push_request = pb_encode_push_request,
    .encode_push_response = pb_encode_push_response,
    .encode_stream_batch = pb_encode_stream_batch,
    .decode_pull_request = pb_decode_pull_request,
    .decode_pull_response = pb_decode_pull_response,
    .decode_push_request = pb_decode_push_request,
    .decode_push_response = pb_decode_push_response,
    .decode_stream_batch = pb_decode_stream_batch,
};
