/* JSON wire decoding (docs/protocol.md §9): the readers of the messages and
 * their change records, over the scan and walker of json_scan.c and the typed
 * readers of json_fields.c. The body is copied once into the message arena:
 * raw values are slices of that copy and strings are unescaped in place, so
 * decoding allocates nothing per token. */
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grove/json.h"
#include "grove/sys/error.h"
#include "json_scan.h"
#include "json_utf8.h"

/* ---- HLC ---- */

enum { HLC_TS, HLC_C, HLC_NODE };
static const char *const jr_hlc_keys[] = {"ts", "c", "node"};

static grove_err jr_hlc_member(struct jr *r, int key, void *arg)
{
    struct grove_hlc *h = arg;
    uint64_t v;
    const char *s;
    size_t n;
    grove_err err;
    switch (key) {
    case HLC_TS:
        if ((err = grove_jr_uint(r, INT64_MAX, "out of range (0..9223372036854775807)", &v)))
            return err;
        h->ts = (int64_t)v;
        return GROVE_OK;
    case HLC_C:
        if ((err = grove_jr_uint(r, UINT32_MAX, "out of range (0..4294967295)", &v)))
            return err;
        h->c = (uint32_t)v;
        return GROVE_OK;
    default:
        if ((err = grove_jr_string(r, &s, &n)))
            return err;
        if (n > GROVE_NODE_ID_MAX)
            return grove_jr_fail(r, "node id longer than %d bytes", GROVE_NODE_ID_MAX);
        memcpy(h->node, s, n + 1);
        return GROVE_OK;
    }
}

/* An HLC object; null (when allowed) or absent keys leave zeros. */
static grove_err jr_hlc(struct jr *r, struct grove_hlc *h, bool allow_null)
{
    bool is_null;
    grove_err err;
    memset(h, 0, sizeof *h);
    if (allow_null && ((err = grove_jr_null(r, &is_null)) || is_null))
        return err;
    return grove_jr_members_required(r, jr_hlc_keys, 3, jr_hlc_member, h, 1u << HLC_TS);
}

/* ---- change records ---- */

enum {
    CH_TABLE,
    CH_PK,
    CH_FIELD,
    CH_CRDT,
    CH_HLC,
    CH_NODE_ID,
    CH_VALUE,
    CH_TOMBSTONE,
    CH_COUNTER,
    CH_SET_OP,
    CH_COUNT
};
static const char *const jr_change_keys[] = {"table",         "pk",      "field", "crdt_type",
                                             "hlc",           "node_id", "value", "tombstone",
                                             "counter_delta", "set_op"};

static const char *const jr_counter_keys[] = {"inc", "dec"};

static grove_err jr_counter_member(struct jr *r, int key, void *arg)
{
    struct grove_change *c = arg;
    uint64_t v;
    grove_err err = grove_jr_uint(r, INT64_MAX, "negative counter total", &v);
    if (err)
        return err;
    *(key == 0 ? &c->counter_inc : &c->counter_dec) = (int64_t)v;
    return GROVE_OK;
}

static const char *const jr_set_keys[] = {"op", "elements"};

static grove_err jr_set_member(struct jr *r, int key, void *arg)
{
    struct grove_change *c = arg;
    const char *s;
    size_t n;
    grove_err err;
    if (key == 1)
        return grove_jr_raw_array(r, &c->elements, &c->element_count);
    if ((err = grove_jr_string(r, &s, &n)))
        return err;
    if (strcmp(s, "add") == 0)
        c->set_op = GROVE_SET_ADD;
    else if (strcmp(s, "remove") == 0)
        c->set_op = GROVE_SET_REMOVE;
    else
        return grove_jr_fail(r, "unknown op \"%.*s\" (expected add or remove)",
                             (int)(n > 32 ? 32 : n), s);
    return GROVE_OK;
}

static grove_err jr_change_member(struct jr *r, int key, void *arg)
{
    struct grove_change *c = arg;
    const char *s;
    size_t n;
    unsigned seen;
    bool is_null;
    grove_err err;
    switch (key) {
    case CH_TABLE:
        return grove_jr_string(r, &c->table, NULL);
    case CH_PK:
        return grove_jr_string(r, &c->pk, NULL);
    case CH_FIELD:
        return grove_jr_string(r, &c->field, NULL);
    case CH_NODE_ID:
        return grove_jr_string(r, &c->node_id, NULL);
    case CH_CRDT:
        if ((err = grove_jr_string(r, &s, &n)))
            return err;
        if (grove_crdt_parse(s, n, &c->crdt))
            return grove_jr_fail(r, "unknown crdt_type \"%.*s\" (expected lww, counter or set)",
                                 (int)(n > 32 ? 32 : n), s);
        return GROVE_OK;
    case CH_HLC:
        return jr_hlc(r, &c->hlc, false);
    case CH_VALUE:
        return grove_jr_raw(r, &c->value);
    case CH_TOMBSTONE:
        return grove_jr_bool(r, &c->tombstone);
    case CH_COUNTER:
        if ((err = grove_jr_null(r, &is_null)) || is_null)
            return err;
        c->has_counter = true;
        return grove_jr_members(r, jr_counter_keys, 2, jr_counter_member, c, &seen);
    default: /* CH_SET_OP */
        if ((err = grove_jr_null(r, &is_null)) || is_null)
            return err;
        return grove_jr_members_required(r, jr_set_keys, 2, jr_set_member, c, 1u);
    }
}

static grove_err jr_change(struct jr *r, struct grove_change *c)
{
    unsigned seen;
    grove_err err;
    memset(c, 0, sizeof *c);
    err = grove_jr_members(r, jr_change_keys, CH_COUNT, jr_change_member, c, &seen);
    if (!err)
        err = grove_jr_missing(r, seen,
                               1u << CH_TABLE | 1u << CH_PK | 1u << CH_HLC | 1u << CH_NODE_ID,
                               jr_change_keys);
    if (err)
        return err;
    /* Only a row delete may leave field and crdt_type empty (Grove's Go
     * server sends "_tombstone" and "", its TS client "" and "lww"). */
    if (!c->tombstone) {
        if ((err = grove_jr_missing(r, seen, 1u << CH_FIELD | 1u << CH_CRDT, jr_change_keys)))
            return err;
        if (c->field[0] == '\0')
            return grove_jr_fail(r, "empty \"field\" on a record that is not a tombstone");
        if (c->crdt == GROVE_CRDT_NONE)
            return grove_jr_fail(r, "empty \"crdt_type\" on a record that is not a tombstone");
    }
    if (!c->field)
        c->field = "";
    return GROVE_OK;
}

/* "changes": an array of records (null reads as empty). */
static grove_err jr_changes(struct jr *r, struct grove_change **out, size_t *count)
{
    struct jr_tok t;
    bool first = true, more, is_null;
    size_t cap = 0, n = 0;
    grove_err err = grove_jr_null(r, &is_null);
    if (err || is_null)
        return err;
    if ((err = grove_jr_expect(r, grove_jr_peek(r), "[", "an array")) ||
        (err = grove_jr_take(r, &t)))
        return err;
    /* The scan counted the elements: size the array once (a record takes
     * over 60 bytes). */
    size_t hint = grove_jr_hint(r, &t, 60);
    if (hint && (err = grove_msg_reserve_changes(r->msg, out, &cap, hint)))
        return err;
    for (;;) {
        if ((err = grove_jr_element(r, &first, &more)))
            return err;
        if (!more)
            break;
        if ((err = grove_msg_reserve_changes(r->msg, out, &cap, n + 1)))
            return err;
        grove_jr_push_index(r, n);
        if ((err = jr_change(r, &(*out)[n])))
            return err;
        grove_jr_pop(r);
        n++;
    }
    *count = n;
    return GROVE_OK;
}

/* ---- messages ---- */

enum { PQ_TABLES, PQ_SINCE, PQ_NODE_ID, PQ_LIMIT, PQ_FILTER };
static const char *const jr_pull_request_keys[] = {"tables", "since", "node_id", "limit", "filter"};

/* An array of strings (null reads as empty), at most max of them (0: any
 * number). */
static grove_err jr_strings(struct jr *r, size_t max, const char ***items, size_t *count)
{
    struct jr_tok t;
    bool first = true, more, is_null;
    size_t cap = 0;
    grove_err err = grove_jr_null(r, &is_null);
    if (err || is_null)
        return err;
    if ((err = grove_jr_expect(r, grove_jr_peek(r), "[", "an array")) ||
        (err = grove_jr_take(r, &t)))
        return err;
    for (;;) {
        if ((err = grove_jr_element(r, &first, &more)))
            return err;
        if (!more)
            return GROVE_OK;
        if (max && *count == max) /* the message of grove_pull_filter_check */
            return grove_jr_fail(r, "more than %zu entries", max);
        if (*count == cap &&
            (err = grove_jr_grow(r, &t, 3, 0, sizeof **items, "strings", (void **)items, &cap)))
            return err;
        grove_jr_push_index(r, *count);
        if ((err = grove_jr_string(r, &(*items)[*count], NULL)))
            return err;
        grove_jr_pop(r);
        (*count)++;
    }
}

/* "filter" (docs/protocol.md §4): its unknown keys are ignored, as the
 * message's are. */
enum { PF_PKS, PF_FIELDS, PF_PREFIX };
static const char *const jr_filter_keys[] = {"pk_filter", "field_filter", "pk_prefix"};

static grove_err jr_filter_member(struct jr *r, int key, void *arg)
{
    struct grove_pull_filter *f = arg;
    bool is_null;
    grove_err err;
    switch (key) {
    case PF_PKS:
        return jr_strings(r, GROVE_FILTER_ENTRIES_MAX, &f->pks, &f->pk_count);
    case PF_FIELDS:
        return jr_strings(r, GROVE_FILTER_ENTRIES_MAX, &f->fields, &f->field_count);
    default:
        if ((err = grove_jr_null(r, &is_null)) || is_null)
            return err;
        return grove_jr_string(r, &f->pk_prefix, NULL);
    }
}

static grove_err jr_filter(struct jr *r, struct grove_pull_filter *f)
{
    unsigned seen;
    bool is_null;
    grove_err err = grove_jr_null(r, &is_null);
    if (err || is_null)
        return err;
    return grove_jr_members(r, jr_filter_keys, 3, jr_filter_member, f, &seen);
}

static grove_err jr_pull_request_member(struct jr *r, int key, void *arg)
{
    struct grove_pull_request *req = arg;
    uint64_t v;
    bool is_null;
    grove_err err;
    switch (key) {
    case PQ_TABLES:
        return jr_strings(r, 0, &req->tables, &req->table_count);
    case PQ_FILTER:
        return jr_filter(r, &req->filter);
    case PQ_SINCE:
        return jr_hlc(r, &req->since, true);
    case PQ_NODE_ID:
        return grove_jr_string(r, &req->node_id, NULL);
    default:
        if ((err = grove_jr_null(r, &is_null)) || is_null)
            return err;
        if ((err = grove_jr_uint(r, UINT32_MAX, "out of range (0..4294967295)", &v)))
            return err;
        req->limit = (uint32_t)v;
        return GROVE_OK;
    }
}

static grove_err jr_pull_request(struct jr *r, void *msg)
{
    return grove_jr_members_required(r, jr_pull_request_keys, 5, jr_pull_request_member, msg,
                                     1u << PQ_TABLES | 1u << PQ_NODE_ID);
}

/* "since" is only on stream batches; a pull response with one is accepted too. */
enum { PR_CHANGES, PR_LATEST, PR_HAS_MORE, PR_SINCE };
static const char *const jr_pull_response_keys[] = {"changes", "latest_hlc", "has_more", "since"};

static grove_err jr_pull_response_member(struct jr *r, int key, void *arg)
{
    struct grove_pull_response *resp = arg;
    switch (key) {
    case PR_CHANGES:
        return jr_changes(r, &resp->changes, &resp->count);
    case PR_LATEST:
        return jr_hlc(r, &resp->latest_hlc, true);
    case PR_SINCE:
        return jr_hlc(r, &resp->since, true);
    default:
        return grove_jr_bool(r, &resp->has_more);
    }
}

static grove_err jr_pull_response(struct jr *r, void *msg)
{
    return grove_jr_members_required(r, jr_pull_response_keys, 4, jr_pull_response_member, msg,
                                     1u << PR_CHANGES | 1u << PR_LATEST);
}

enum { PS_CHANGES, PS_NODE_ID };
static const char *const jr_push_request_keys[] = {"changes", "node_id"};

static grove_err jr_push_request_member(struct jr *r, int key, void *arg)
{
    struct grove_push_request *req = arg;
    if (key == PS_CHANGES)
        return jr_changes(r, &req->changes, &req->count);
    return grove_jr_string(r, &req->node_id, NULL);
}

static grove_err jr_push_request(struct jr *r, void *msg)
{
    return grove_jr_members_required(r, jr_push_request_keys, 2, jr_push_request_member, msg,
                                     1u << PS_CHANGES | 1u << PS_NODE_ID);
}

enum { PP_MERGED, PP_LATEST };
static const char *const jr_push_response_keys[] = {"merged", "latest_hlc"};

static grove_err jr_push_response_member(struct jr *r, int key, void *arg)
{
    struct grove_push_response *resp = arg;
    if (key == PP_MERGED)
        return grove_jr_uint(r, UINT64_MAX, "out of range (0..18446744073709551615)",
                             &resp->merged);
    return jr_hlc(r, &resp->latest_hlc, true);
}

static grove_err jr_push_response(struct jr *r, void *msg)
{
    return grove_jr_members_required(r, jr_push_response_keys, 2, jr_push_response_member, msg,
                                     1u << PP_MERGED | 1u << PP_LATEST);
}

/* A bare array of records, or one record. */
static grove_err jr_bare_changes(struct jr *r, void *msg)
{
    struct grove_pull_response *resp = msg;
    size_t cap = 0;
    grove_err err;
    if (grove_jr_peek(r) == '{') {
        if ((err = grove_msg_reserve_changes(msg, &resp->changes, &cap, 1)))
            return err;
        resp->count = 1;
        return jr_change(r, &resp->changes[0]);
    }
    if (grove_jr_peek(r) == 'n')
        return grove_jr_expect(r, 'n', "[{", "an array or an object");
    return jr_changes(r, &resp->changes, &resp->count);
}

/* Runs one decoder over json; msg is freed on failure. */
static grove_err jr_decode(const char *json, size_t len, void *msg,
                           grove_err (*fn)(struct jr *r, void *msg))
{
    struct jr r;
    grove_err err = grove_jr_begin(&r, json, len, msg);
    if (!err)
        err = fn(&r, msg);
    if (!err)
        err = grove_jr_finish(&r);
    grove_jr_release(&r);
    if (err)
        grove_msg_free(msg);
    return err;
}

/* grove_json_decode_<name>: a new message of `type` decoded by fn; *out is it
 * on success and NULL on failure. */
#define JR_DEFINE_DECODE(name, type, fn)                                                           \
    grove_err grove_json_decode_##name(const char *json, size_t len, struct grove_##type **out)    \
    {                                                                                              \
        struct grove_##type *m;                                                                    \
        grove_err err = grove_##type##_new(&m);                                                    \
        *out = NULL;                                                                               \
        if (!err && !(err = jr_decode(json, len, m, fn)))                                          \
            *out = m;                                                                              \
        return err;                                                                                \
    }
JR_DEFINE_DECODE(pull_request, pull_request, jr_pull_request)
JR_DEFINE_DECODE(pull_response, pull_response, jr_pull_response)
JR_DEFINE_DECODE(stream_batch, pull_response, jr_pull_response)
JR_DEFINE_DECODE(push_request, push_request, jr_push_request)
JR_DEFINE_DECODE(push_response, push_response, jr_push_response)
JR_DEFINE_DECODE(changes, pull_response, jr_bare_changes)

/* The HLC is decoded in a scratch message so its node string has an arena. */
static grove_err jr_standalone_hlc(struct jr *r, void *msg)
{
    struct grove_pull_response *scratch = msg;
    return jr_hlc(r, &scratch->latest_hlc, false);
}

grove_err grove_json_decode_hlc(const char *json, size_t len, struct grove_hlc *out)
{
    struct grove_pull_response *scratch;
    grove_err err = grove_pull_response_new(&scratch);
    if (err)
        return err;
    if ((err = jr_decode(json, len, scratch, jr_standalone_hlc)))
        return err; /* jr_decode freed scratch */
    *out = scratch->latest_hlc;
    grove_msg_free(scratch);
    return GROVE_OK;
}
