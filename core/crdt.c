#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crdt.h"
#include "grove/json.h"
#include "grove/sys/error.h"

struct state_unit *grove_state_units_push(struct state_units *units)
{
    if (units->count == units->cap) {
        size_t cap = units->cap ? units->cap * 2 : 16;
        struct state_unit *grown = realloc(units->items, cap * sizeof *grown);
        if (!grown)
            return NULL;
        units->items = grown;
        units->cap = cap;
    }
    struct state_unit *r = &units->items[units->count++];
    memset(r, 0, sizeof *r);
    return r;
}

void grove_state_units_free(struct state_units *units)
{
    free(units->items);
    memset(units, 0, sizeof *units);
}

static int slice_compare(struct grove_slice a, struct grove_slice b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int r = n ? memcmp(a.ptr, b.ptr, n) : 0;
    if (r)
        return r;
    return (a.len > b.len) - (a.len < b.len);
}

static struct state_unit *state_find(struct state_units *units, const char *field, int kind,
                                     struct grove_slice sub)
{
    for (size_t i = 0; i < units->count; i++) {
        struct state_unit *r = &units->items[i];
        if (r->kind == kind && strcmp(r->field, field) == 0 && slice_compare(r->sub, sub) == 0)
            return r;
    }
    return NULL;
}

/* Finds the unit or adds an empty one (hlc zero, so any change wins). */
static struct state_unit *state_unit(struct state_units *units, const char *field, int kind,
                                     struct grove_slice sub, bool *fresh)
{
    struct state_unit *r = state_find(units, field, kind, sub);
    *fresh = r == NULL;
    if (!r && (r = grove_state_units_push(units))) {
        r->field = field;
        r->kind = kind;
        r->sub = sub;
    }
    return r;
}

static void state_take(struct state_unit *r, const struct grove_change *c, const char *src)
{
    r->hlc = c->hlc;
    r->origin = c->node_id;
    r->src = src;
    r->dirty = true;
}

grove_err grove_state_units_merge(struct state_units *units, const struct grove_change *c,
                                  const char *src, struct state_merge *out)
{
    static const struct grove_slice none = {"", 0};
    bool fresh;
    struct state_unit *r;
    if (c->tombstone) {
        if (!(r = state_unit(units, "", STATE_TOMBSTONE, none, &fresh)))
            goto nomem;
        if (fresh || grove_hlc_compare(&c->hlc, &r->hlc) > 0) {
            state_take(r, c, src);
            out->changed = true;
        }
        return GROVE_OK;
    }
    switch (c->crdt) {
    case GROVE_CRDT_LWW: {
        if (!(r = state_unit(units, c->field, STATE_LWW, none, &fresh)))
            goto nomem;
        int order = grove_hlc_compare(&c->hlc, &r->hlc);
        int by_value = fresh ? 1 : slice_compare(c->value, r->value);
        if (!fresh && by_value != 0 && strcmp(r->origin, c->node_id) != 0)
            out->conflicts++;
        /* Identical stamps tie-break on the value bytes, so every replica agrees. */
        if (fresh || order > 0 || (order == 0 && by_value > 0)) {
            state_take(r, c, src);
            r->value = c->value;
            out->changed = true;
        }
        return GROVE_OK;
    }
    case GROVE_CRDT_COUNTER: {
        struct grove_slice origin = {c->node_id, strlen(c->node_id)};
        if (!(r = state_unit(units, c->field, STATE_COUNTER, origin, &fresh)))
            goto nomem;
        /* State-based PN-counter: per origin the running totals only grow, so
         * max is the merge (of totals and of the stamp) and re-delivery
         * changes nothing. */
        int64_t inc = c->counter_inc > r->inc ? c->counter_inc : r->inc;
        int64_t dec = c->counter_dec > r->dec ? c->counter_dec : r->dec;
        bool newer = grove_hlc_compare(&c->hlc, &r->hlc) > 0;
        if (fresh || inc != r->inc || dec != r->dec || newer) {
            struct grove_hlc stamp = newer || fresh ? c->hlc : r->hlc;
            state_take(r, c, src);
            r->hlc = stamp;
            r->inc = inc;
            r->dec = dec;
            out->changed = true;
        }
        return GROVE_OK;
    }
    case GROVE_CRDT_SET: {
        int kind = c->set_op == GROVE_SET_ADD ? STATE_SET_ADD : STATE_SET_REMOVE;
        for (size_t i = 0; i < c->element_count; i++) {
            if (!(r = state_unit(units, c->field, kind, c->elements[i], &fresh)))
                goto nomem;
            if (fresh || grove_hlc_compare(&c->hlc, &r->hlc) > 0) {
                state_take(r, c, src);
                out->changed = true;
            }
        }
        return GROVE_OK;
    }
    default:
        return grove_error_set(GROVE_EINVAL, "crdt_type: missing");
    }
nomem:
    return grove_error_set(GROVE_ENOMEM, "out of memory");
}

static int state_unit_order(const void *a, const void *b)
{
    const struct state_unit *x = a, *y = b;
    int n = strcmp(x->field, y->field);
    if (!n)
        n = x->kind - y->kind;
    if (!n)
        n = slice_compare(x->sub, y->sub);
    return n;
}

static const struct grove_hlc *hlc_max(const struct grove_hlc *a, const struct grove_hlc *b)
{
    return grove_hlc_compare(a, b) >= 0 ? a : b;
}

/* Appends "name": to doc, with a comma when not first. */
static grove_err resolve_key(struct grove_buf *doc, const char *name, bool *first)
{
    grove_err err = *first ? GROVE_OK : grove_buf_append(doc, ",", 1);
    *first = false;
    if (!err)
        err = grove_json_encode_string(name, strlen(name), doc);
    return err ? err : grove_buf_append(doc, ":", 1);
}

/* Writes one field's units [begin, end) if its newest write is after the
 * tombstone; *newest receives that write's stamp. */
static grove_err resolve_field(const struct state_unit *begin, const struct state_unit *end,
                               const struct grove_hlc *tomb, struct grove_buf *doc, bool *first,
                               const struct grove_hlc **newest)
{
    static const struct grove_hlc zero;
    const struct grove_hlc *top = &zero;
    for (const struct state_unit *r = begin; r < end; r++)
        top = hlc_max(top, &r->hlc);
    *newest = top;
    if (tomb && grove_hlc_compare(top, tomb) <= 0)
        return GROVE_OK;
    grove_err err = resolve_key(doc, begin->field, first);
    if (err)
        return err;
    switch (begin->kind) {
    case STATE_LWW:
        return grove_buf_append(doc, begin->value.ptr, begin->value.len);
    case STATE_COUNTER: {
        int64_t sum = 0;
        for (const struct state_unit *r = begin; r < end && r->kind == STATE_COUNTER; r++) {
            if (__builtin_add_overflow(sum, r->inc, &sum))
                sum = INT64_MAX;
            if (__builtin_sub_overflow(sum, r->dec, &sum))
                sum = INT64_MIN;
        }
        char num[24];
        int n = snprintf(num, sizeof num, "%" PRId64, sum);
        return grove_buf_append(doc, num, (size_t)n);
    }
    default: { /* set: adds sorted by element, then removes sorted by element */
        const struct state_unit *rm = begin;
        while (rm < end && rm->kind == STATE_SET_ADD)
            rm++;
        const struct state_unit *rm_end = rm;
        while (rm_end < end && rm_end->kind == STATE_SET_REMOVE)
            rm_end++;
        err = grove_buf_append(doc, "[", 1);
        bool first_el = true;
        for (const struct state_unit *add = begin; !err && add < end && add->kind == STATE_SET_ADD;
             add++) {
            while (rm < rm_end && slice_compare(rm->sub, add->sub) < 0)
                rm++;
            bool removed = rm < rm_end && slice_compare(rm->sub, add->sub) == 0 &&
                           grove_hlc_compare(&rm->hlc, &add->hlc) > 0; /* adds win ties */
            if (removed || (tomb && grove_hlc_compare(&add->hlc, tomb) <= 0))
                continue;
            if (!first_el)
                err = grove_buf_append(doc, ",", 1);
            first_el = false;
            if (!err)
                err = grove_buf_append(doc, add->sub.ptr, add->sub.len);
        }
        return err ? err : grove_buf_append(doc, "]", 1);
    }
    }
}

grove_err grove_state_units_resolve(struct state_units *units, struct grove_buf *doc, bool *visible)
{
    qsort(units->items, units->count, sizeof *units->items, state_unit_order);
    const struct grove_hlc *tomb = NULL;
    for (size_t i = 0; i < units->count; i++)
        if (units->items[i].kind == STATE_TOMBSTONE)
            tomb = &units->items[i].hlc;
    bool first = true, any_after_tomb = false;
    grove_err err = grove_buf_append(doc, "{", 1);
    for (size_t i = 0; !err && i < units->count;) {
        const struct state_unit *begin = &units->items[i];
        size_t j = i + 1;
        while (j < units->count && strcmp(units->items[j].field, begin->field) == 0 &&
               (begin->kind == units->items[j].kind ||
                (begin->kind == STATE_SET_ADD && units->items[j].kind == STATE_SET_REMOVE)))
            j++;
        /* A loosely typed field stored under two kinds: only the first is shown. */
        bool shadowed = i > 0 && strcmp(units->items[i - 1].field, begin->field) == 0;
        if (begin->kind != STATE_TOMBSTONE && !shadowed) {
            const struct grove_hlc *newest;
            err = resolve_field(begin, &units->items[j], tomb, doc, &first, &newest);
            if (!tomb || grove_hlc_compare(newest, tomb) > 0)
                any_after_tomb = true;
        }
        i = j;
    }
    if (!err)
        err = grove_buf_append(doc, "}", 1);
    *visible = !tomb || any_after_tomb;
    return err;
}

void grove_state_unit_to_change(const struct state_unit *row, const char *table, const char *pk,
                                struct grove_change *out)
{
    memset(out, 0, sizeof *out);
    out->table = table;
    out->pk = pk;
    out->field = row->field;
    out->hlc = row->hlc;
    out->node_id = row->origin;
    switch (row->kind) {
    case STATE_LWW:
        out->crdt = GROVE_CRDT_LWW;
        out->value = row->value;
        break;
    case STATE_COUNTER:
        out->crdt = GROVE_CRDT_COUNTER;
        out->has_counter = true;
        out->counter_inc = row->inc;
        out->counter_dec = row->dec;
        break;
    case STATE_SET_ADD:
    case STATE_SET_REMOVE:
        out->crdt = GROVE_CRDT_SET;
        out->set_op = row->kind == STATE_SET_ADD ? GROVE_SET_ADD : GROVE_SET_REMOVE;
        break;
    default:
        out->field = STATE_TOMBSTONE_FIELD;
        out->tombstone = true;
        break;
    }
}
