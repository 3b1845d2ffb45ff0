/* JSON wire encoding: a direct writer into grove_buf. Each message computes
 * an upper bound of its size, reserves it once, then writes without further
 * checks, so printing is a few memcpy per field. Keys come in the order of
 * docs/protocol.md §2-§5 and optional keys are omitted when empty (§9). */
#include <string.h>

#include "grove/json.h"
#include "grove/sys/error.h"
#include "json_utf8.h"

/* Worst case of an escaped string: every byte as \u00XX, plus quotes. */
static size_t jw_str_bound(size_t n)
{
    return 2 + 6 * n;
}

static size_t jw_cstr_bound(const char *s)
{
    return jw_str_bound(s ? strlen(s) : 0);
}

static char *jw_lit(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}
#define JW_LIT(p, s) jw_lit(p, s, sizeof(s) - 1)

static char *jw_u64(char *p, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

/* Escapes minimally: quote, backslash and control characters; UTF-8 is kept
 * as it is, but a malformed sequence becomes U+FFFD so the output is always
 * valid JSON (error messages may quote cut-off input). */
static char *jw_str(char *p, const char *str, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    *p++ = '"';
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            *p++ = (char)c;
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t k = json_utf8_seq(s + i, n - i);
            if (k) {
                p = jw_lit(p, (const char *)s + i, k);
                i += k;
            } else {
                p = JW_LIT(p, "\\ufffd");
                i++;
            }
            continue;
        }
        *p++ = '\\';
        switch (c) {
        case '"':
        case '\\':
            *p++ = (char)c;
            break;
        case '\n':
            *p++ = 'n';
            break;
        case '\r':
            *p++ = 'r';
            break;
        case '\t':
            *p++ = 't';
            break;
        case '\b':
            *p++ = 'b';
            break;
        case '\f':
            *p++ = 'f';
            break;
        default:
            p = JW_LIT(p, "u00");
            *p++ = hex[c >> 4];
            *p++ = hex[c & 15];
            break;
        }
        i++;
    }
    *p++ = '"';
    return p;
}

static char *jw_cstr(char *p, const char *s)
{
    return jw_str(p, s ? s : "", s ? strlen(s) : 0);
}

static size_t jw_hlc_bound(const struct grove_hlc *h)
{
    return 32 + 20 + 10 + jw_str_bound(strnlen(h->node, GROVE_NODE_ID_MAX));
}

static char *jw_hlc(char *p, const struct grove_hlc *h)
{
    p = JW_LIT(p, "{\"ts\":");
    if (h->ts < 0) { /* never produced by our clock; keep the output valid */
        *p++ = '-';
        p = jw_u64(p, (uint64_t)0 - (uint64_t)h->ts);
    } else {
        p = jw_u64(p, (uint64_t)h->ts);
    }
    p = JW_LIT(p, ",\"c\":");
    p = jw_u64(p, h->c);
    p = JW_LIT(p, ",\"node\":");
    p = jw_str(p, h->node, strnlen(h->node, GROVE_NODE_ID_MAX));
    *p++ = '}';
    return p;
}

/* Size bound of one record; fails on values that would print invalid JSON. */
static grove_err jw_change_bound(const struct grove_change *c, size_t *out)
{
    size_t n = 320 + jw_cstr_bound(c->table) + jw_cstr_bound(c->pk) + jw_cstr_bound(c->field) +
               jw_cstr_bound(c->node_id) + jw_hlc_bound(&c->hlc);
    if (c->value.ptr) {
        if (c->value.len == 0)
            return grove_error_set(GROVE_EINVAL, "change %s/%s/%s: empty raw value",
                                   c->table ? c->table : "", c->pk ? c->pk : "",
                                   c->field ? c->field : "");
        n += c->value.len;
    }
    if (c->set_op != GROVE_SET_NONE)
        for (size_t i = 0; i < c->element_count; i++) {
            if (!c->elements[i].ptr || c->elements[i].len == 0)
                return grove_error_set(GROVE_EINVAL, "change %s/%s: empty set element",
                                       c->table ? c->table : "", c->pk ? c->pk : "");
            n += c->elements[i].len + 1;
        }
    *out = n;
    return GROVE_OK;
}

static char *jw_i64(char *p, int64_t v)
{
    if (v < 0) {
        *p++ = '-';
        return jw_u64(p, (uint64_t)0 - (uint64_t)v);
    }
    return jw_u64(p, (uint64_t)v);
}

static char *jw_change(char *p, const struct grove_change *c)
{
    p = JW_LIT(p, "{\"table\":");
    p = jw_cstr(p, c->table);
    p = JW_LIT(p, ",\"pk\":");
    p = jw_cstr(p, c->pk);
    p = JW_LIT(p, ",\"field\":");
    p = jw_cstr(p, c->field);
    p = JW_LIT(p, ",\"crdt_type\":");
    p = jw_cstr(p, grove_crdt_name(c->crdt));
    p = JW_LIT(p, ",\"hlc\":");
    p = jw_hlc(p, &c->hlc);
    p = JW_LIT(p, ",\"node_id\":");
    p = jw_cstr(p, c->node_id);
    if (c->value.ptr) {
        p = JW_LIT(p, ",\"value\":");
        p = jw_lit(p, c->value.ptr, c->value.len);
    }
    if (c->tombstone)
        p = JW_LIT(p, ",\"tombstone\":true");
    if (c->has_counter) {
        p = JW_LIT(p, ",\"counter_delta\":{\"inc\":");
        p = jw_i64(p, c->counter_inc);
        p = JW_LIT(p, ",\"dec\":");
        p = jw_i64(p, c->counter_dec);
        *p++ = '}';
    }
    if (c->set_op != GROVE_SET_NONE) {
        p = c->set_op == GROVE_SET_ADD ? JW_LIT(p, ",\"set_op\":{\"op\":\"add\",\"elements\":[")
                                       : JW_LIT(p, ",\"set_op\":{\"op\":\"remove\",\"elements\":[");
        for (size_t i = 0; i < c->element_count; i++) {
            if (i)
                *p++ = ',';
            p = jw_lit(p, c->elements[i].ptr, c->elements[i].len);
        }
        p = JW_LIT(p, "]}");
    }
    *p++ = '}';
    return p;
}

/* Reserves room for `bound` bytes and returns where to write. */
static grove_err jw_begin(struct grove_buf *out, size_t bound, char **p)
{
    grove_err err = grove_buf_reserve(out, bound);
    if (err)
        return err;
    *p = out->data + out->len;
    return GROVE_OK;
}

static void jw_end(struct grove_buf *out, char *p)
{
    out->len = (size_t)(p - out->data);
    out->data[out->len] = '\0'; /* grove_buf keeps data a C string */
}

static grove_err jw_changes_bound(const struct grove_change *changes, size_t count, size_t *out)
{
    size_t total = 2, one;
    for (size_t i = 0; i < count; i++) {
        grove_err err = jw_change_bound(&changes[i], &one);
        if (err)
            return err;
        total += one + 1;
    }
    *out = total;
    return GROVE_OK;
}

static char *jw_changes(char *p, const struct grove_change *changes, size_t count)
{
    *p++ = '[';
    for (size_t i = 0; i < count; i++) {
        if (i)
            *p++ = ',';
        p = jw_change(p, &changes[i]);
    }
    *p++ = ']';
    return p;
}

/* jw_begin with room for the changes array plus extra bytes. */
static grove_err jw_begin_changes(struct grove_buf *out, const struct grove_change *changes,
                                  size_t count, size_t extra, char **p)
{
    size_t bound;
    grove_err err = jw_changes_bound(changes, count, &bound);
    return err ? err : jw_begin(out, bound + extra, p);
}

grove_err grove_json_encode_string(const char *s, size_t len, struct grove_buf *out)
{
    char *p;
    grove_err err = jw_begin(out, jw_str_bound(len), &p);
    if (err)
        return err;
    jw_end(out, jw_str(p, s, len));
    return GROVE_OK;
}

grove_err grove_json_encode_error(const char *message, struct grove_buf *out)
{
    char *p;
    grove_err err = jw_begin(out, 16 + jw_cstr_bound(message), &p);
    if (err)
        return err;
    p = JW_LIT(p, "{\"error\":");
    p = jw_cstr(p, message);
    *p++ = '}';
    jw_end(out, p);
    return GROVE_OK;
}

grove_err grove_json_encode_hlc(const struct grove_hlc *hlc, struct grove_buf *out)
{
    char *p;
    grove_err err = jw_begin(out, jw_hlc_bound(hlc), &p);
    if (err)
        return err;
    jw_end(out, jw_hlc(p, hlc));
    return GROVE_OK;
}

grove_err grove_json_encode_change(const struct grove_change *change, struct grove_buf *out)
{
    size_t bound;
    char *p;
    grove_err err = jw_change_bound(change, &bound);
    if (err || (err = jw_begin(out, bound, &p)))
        return err;
    jw_end(out, jw_change(p, change));
    return GROVE_OK;
}

grove_err grove_json_encode_changes(const struct grove_change *changes, size_t count,
                                    struct grove_buf *out)
{
    char *p;
    grove_err err = jw_begin_changes(out, changes, count, 0, &p);
    if (err)
        return err;
    jw_end(out, jw_changes(p, changes, count));
    return GROVE_OK;
}

static size_t jw_strings_bound(const char *const *items, size_t count)
{
    size_t bound = 2;
    for (size_t i = 0; i < count; i++)
        bound += jw_cstr_bound(items[i]) + 1;
    return bound;
}

static char *jw_strings(char *p, const char *const *items, size_t count)
{
    *p++ = '[';
    for (size_t i = 0; i < count; i++) {
        if (i)
            *p++ = ',';
        p = jw_cstr(p, items[i]);
    }
    *p++ = ']';
    return p;
}

/* The filter's set members only; nothing when none is set. */
static size_t jw_filter_bound(const struct grove_pull_filter *f)
{
    return 64 + jw_strings_bound(f->pks, f->pk_count) +
           jw_strings_bound(f->fields, f->field_count) + jw_cstr_bound(f->pk_prefix);
}

static char *jw_filter(char *p, const struct grove_pull_filter *f)
{
    if (!grove_pull_filter_active(f))
        return p;
    const char *sep = ",\"filter\":{";
    if (f->pk_count) {
        p = jw_lit(p, sep, strlen(sep));
        p = JW_LIT(p, "\"pk_filter\":");
        p = jw_strings(p, f->pks, f->pk_count);
        sep = ",";
    }
    if (f->field_count) {
        p = jw_lit(p, sep, strlen(sep));
        p = JW_LIT(p, "\"field_filter\":");
        p = jw_strings(p, f->fields, f->field_count);
        sep = ",";
    }
    if (f->pk_prefix && f->pk_prefix[0]) {
        p = jw_lit(p, sep, strlen(sep));
        p = JW_LIT(p, "\"pk_prefix\":");
        p = jw_cstr(p, f->pk_prefix);
    }
    *p++ = '}';
    return p;
}

grove_err grove_json_encode_pull_request(const struct grove_pull_request *req,
                                         struct grove_buf *out)
{
    size_t bound = 64 + jw_hlc_bound(&req->since) + jw_cstr_bound(req->node_id) +
                   jw_strings_bound(req->tables, req->table_count) + jw_filter_bound(&req->filter);
    char *p;
    grove_err err = jw_begin(out, bound, &p);
    if (err)
        return err;
    p = JW_LIT(p, "{\"tables\":");
    p = jw_strings(p, req->tables, req->table_count);
    p = JW_LIT(p, ",\"since\":");
    p = jw_hlc(p, &req->since);
    p = JW_LIT(p, ",\"node_id\":");
    p = jw_cstr(p, req->node_id);
    if (req->limit) {
        p = JW_LIT(p, ",\"limit\":");
        p = jw_u64(p, req->limit);
    }
    p = jw_filter(p, &req->filter);
    *p++ = '}';
    jw_end(out, p);
    return GROVE_OK;
}

/* A pull response, with the batch's `since` first when with_since is set. */
static grove_err jw_pull_response(const struct grove_pull_response *resp, bool with_since,
                                  struct grove_buf *out)
{
    char *p;
    size_t extra = 64 + jw_hlc_bound(&resp->latest_hlc) + jw_hlc_bound(&resp->since);
    grove_err err = jw_begin_changes(out, resp->changes, resp->count, extra, &p);
    if (err)
        return err;
    if (with_since) {
        p = JW_LIT(p, "{\"since\":");
        p = jw_hlc(p, &resp->since);
        p = JW_LIT(p, ",\"changes\":");
    } else {
        p = JW_LIT(p, "{\"changes\":");
    }
    p = jw_changes(p, resp->changes, resp->count);
    p = JW_LIT(p, ",\"latest_hlc\":");
    p = jw_hlc(p, &resp->latest_hlc);
    if (resp->has_more)
        p = JW_LIT(p, ",\"has_more\":true");
    *p++ = '}';
    jw_end(out, p);
    return GROVE_OK;
}

grove_err grove_json_encode_pull_response(const struct grove_pull_response *resp,
                                          struct grove_buf *out)
{
    return jw_pull_response(resp, false, out);
}

grove_err grove_json_encode_stream_batch(const struct grove_pull_response *batch,
                                         struct grove_buf *out)
{
    return jw_pull_response(batch, true, out);
}

grove_err grove_json_encode_push_request(const struct grove_push_request *req,
                                         struct grove_buf *out)
{
    char *p;
    grove_err err =
        jw_begin_changes(out, req->changes, req->count, 32 + jw_cstr_bound(req->node_id), &p);
    if (err)
        return err;
    p = JW_LIT(p, "{\"changes\":");
    p = jw_changes(p, req->changes, req->count);
    p = JW_LIT(p, ",\"node_id\":");
    p = jw_cstr(p, req->node_id);
    *p++ = '}';
    jw_end(out, p);
    return GROVE_OK;
}

grove_err grove_json_encode_push_response(const struct grove_push_response *resp,
                                          struct grove_buf *out)
{
    char *p;
    grove_err err = jw_begin(out, 64 + jw_hlc_bound(&resp->latest_hlc), &p);
    if (err)
        return err;
    p = JW_LIT(p, "{\"merged\":");
    p = jw_u64(p, resp->merged);
    p = JW_LIT(p, ",\"latest_hlc\":");
    p = jw_hlc(p, &resp->latest_hlc);
    *p++ = '}';
    jw_end(out, p);
    return GROVE_OK;
}
