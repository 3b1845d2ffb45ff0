/* The JSON forms of the Data API's HTTP surface (grove/data.h,
 * docs/data-api.md): the PATCH and POST bodies decoded into a grove_write
 * over the JSON walker of json_scan.h, the way json_read.c decodes the wire
 * messages (one arena copy of the body; values are slices of it, strings are
 * unescaped in place), and the replies encoded. Field types come from the
 * schema, so a decoded write already says what each field is. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grove/data.h"
#include "grove/json.h"
#include "grove/schema.h"
#include "grove/sys/error.h"
#include "json_scan.h"

/* What the decoder of one row's fields needs to know of the table. */
struct dj_table {
    const struct grove_schema *schema;
    const char *table;
    bool typed; /* declared with fields: only those are taken */
};

/* ---- field values ------------------------------------------------------------ */

/* A counter's delta: an integer token in int64, read exactly from its text. */
static grove_err dj_delta(struct jr *r, int64_t *out)
{
    static const char what[] = "an integer delta for a counter";
    struct jr_tok t;
    int c = grove_jr_peek(r);
    grove_err err = grove_jr_expect(r, c, "-0123456789", what);
    if (err || (err = grove_jr_take(r, &t)))
        return err;
    const char *s = r->js + t.start;
    size_t n = t.end - t.start, i = s[0] == '-';
    int shown = (int)(n > 32 ? 32 : n);
    if (memchr(s, '.', n) || memchr(s, 'e', n) || memchr(s, 'E', n))
        return grove_jr_fail(r, "expected %s, got %.*s", what, shown, s);
    /* Accumulated negative, where int64 has room for INT64_MIN. */
    int64_t v = 0;
    for (; i < n; i++) {
        int d = s[i] - '0';
        if (v < (INT64_MIN + d) / 10)
            return grove_jr_fail(r, "%.*s is out of range for a counter delta (64-bit)", shown, s);
        v = v * 10 - d;
    }
    if (s[0] != '-') {
        if (v == INT64_MIN)
            return grove_jr_fail(r, "%.*s is out of range for a counter delta (64-bit)", shown, s);
        v = -v;
    }
    *out = v;
    return GROVE_OK;
}

static grove_err dj_check_size(struct jr *r, const struct grove_slice *v)
{
    if (v->len <= GROVE_DATA_VALUE_MAX)
        return GROVE_OK;
    /* The located message of grove_jr_fail, with the code of oversized input. */
    grove_jr_fail(r, "%zu bytes, more than the limit of %u", v->len, GROVE_DATA_VALUE_MAX);
    return GROVE_ETOOBIG;
}

/* Elements of a set op's "add" or "remove", each one a JSON value. */
static grove_err dj_elements(struct jr *r, const struct grove_slice **out, size_t *count)
{
    struct grove_slice *items = NULL;
    grove_err err = grove_jr_raw_array(r, &items, count);
    if (err)
        return err;
    for (size_t i = 0; i < *count; i++) {
        grove_jr_push_index(r, i);
        if ((err = dj_check_size(r, &items[i])))
            return err;
        grove_jr_pop(r);
    }
    *out = items;
    return GROVE_OK;
}

/* {"add":[...],"remove":[...]}, either left out. Unlike the wire messages,
 * an unknown member is refused: "ad" for "add" would otherwise write nothing. */
static grove_err dj_set_op(struct jr *r, struct grove_field_write *f)
{
    struct jr_tok t, key;
    bool first = true, more, seen_add = false, seen_remove = false;
    grove_err err =
        grove_jr_expect(r, grove_jr_peek(r), "{", "a set op {\"add\":[...],\"remove\":[...]}");
    if (err || (err = grove_jr_take(r, &t)))
        return err;
    for (;;) {
        if ((err = grove_jr_member(r, &first, &key, &more)))
            return err;
        if (!more)
            return GROVE_OK;
        const char *name = NULL; /* set by grove_jr_key: GCC at -O3 cannot tell */
        size_t n = 0;
        if ((err = grove_jr_key(r, &key, &name, &n)))
            return err;
        bool is_add = strcmp(name, "add") == 0;
        if (!is_add && strcmp(name, "remove") != 0)
            return grove_jr_fail(r, "unknown member \"%.*s\" (a set takes \"add\" and \"remove\")",
                                 (int)(n > 40 ? 40 : n), name);
        bool *seen = is_add ? &seen_add : &seen_remove;
        if (*seen)
            return grove_jr_fail(r, "duplicate key \"%s\"", name);
        *seen = true;
        grove_jr_push_key(r, name, n);
        err = is_add ? dj_elements(r, &f->add, &f->add_count)
                     : dj_elements(r, &f->remove, &f->remove_count);
        if (err)
            return err;
        grove_jr_pop(r);
    }
}

/* One member of a row's fields: the value read as the field's type. */
static grove_err dj_field(struct jr *r, const struct dj_table *t, struct grove_field_write *f)
{
    enum grove_crdt declared = grove_schema_field_type(t->schema, t->table, f->field);
    if (declared == GROVE_CRDT_NONE && t->typed)
        return grove_jr_fail(r, "field not declared in table \"%s\"", t->table);
    /* A table declared without fields takes every field as LWW. */
    f->crdt = declared == GROVE_CRDT_NONE ? GROVE_CRDT_LWW : declared;
    switch (f->crdt) {
    case GROVE_CRDT_COUNTER:
        return dj_delta(r, &f->delta);
    case GROVE_CRDT_SET:
        return dj_set_op(r, f);
    default: {
        grove_err err = grove_jr_raw(r, &f->value);
        return err ? err : dj_check_size(r, &f->value);
    }
    }
}

static int dj_cmp_field(const void *a, const void *b)
{
    return strcmp(((const struct grove_field_write *)a)->field,
                  ((const struct grove_field_write *)b)->field);
}

/* A field named twice. Sorting a copy keeps it O(n log n) for a loosely
 * typed table, whose rows may hold any number of fields. */
static grove_err dj_unique_fields(struct jr *r, const struct grove_field_write *fields, size_t n)
{
    if (n < 2)
        return GROVE_OK;
    struct grove_field_write *sorted = malloc(n * sizeof *sorted);
    if (!sorted)
        return grove_error_set(GROVE_ENOMEM, "out of memory for %zu fields", n);
    memcpy(sorted, fields, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, dj_cmp_field);
    grove_err err = GROVE_OK;
    for (size_t i = 1; !err && i < n; i++)
        if (strcmp(sorted[i - 1].field, sorted[i].field) == 0)
            err = grove_jr_fail(r, "duplicate key \"%.40s\"", sorted[i].field);
    free(sorted);
    return err;
}

/* {"field": value, ...} into row->fields, in the order sent. */
static grove_err dj_fields(struct jr *r, const struct dj_table *t, struct grove_row_write *row)
{
    struct jr_tok open, key;
    bool first = true, more;
    size_t cap = 0, n = 0;
    struct grove_field_write *fields = NULL;
    grove_err err = grove_jr_expect(r, grove_jr_peek(r), "{", "an object of fields");
    if (err || (err = grove_jr_take(r, &open)))
        return err;
    for (;;) {
        if ((err = grove_jr_member(r, &first, &key, &more)))
            return err;
        if (!more)
            break;
        /* "a":1 is the shortest member: at most one per 5 bytes left. */
        if (n == cap && (err = grove_jr_grow(r, &open, 5, 0, sizeof *fields, "fields",
                                             (void **)&fields, &cap)))
            return err;
        struct grove_field_write *f = &fields[n];
        size_t len = 0;
        if ((err = grove_jr_key(r, &key, &f->field, &len)))
            return err;
        grove_jr_push_key(r, f->field, len);
        if ((err = dj_field(r, t, f)))
            return err;
        grove_jr_pop(r);
        n++;
    }
    if ((err = dj_unique_fields(r, fields, n)))
        return err;
    row->fields = fields;
    row->field_count = n;
    return GROVE_OK;
}

/* ---- rows -------------------------------------------------------------------- */

struct dj_rows {
    const struct dj_table *table;
    struct grove_write_msg *msg;
    struct grove_row_write *row; /* the row being read */
    const char *table_name;      /* the arena copy every row points to */
};

enum { DJ_ROW_PK, DJ_ROW_FIELDS };
static const char *const dj_row_keys[] = {"pk", "fields"};

static grove_err dj_row_member(struct jr *r, int key, void *arg)
{
    struct dj_rows *d = arg;
    if (key == DJ_ROW_PK)
        return grove_jr_string(r, &d->row->pk, NULL);
    return dj_fields(r, d->table, d->row);
}

/* "rows": [{"pk": ..., "fields": {...}}, ...] */
static grove_err dj_rows(struct jr *r, int key, void *arg)
{
    (void)key;
    struct dj_rows *d = arg;
    struct grove_write *w = &d->msg->write;
    struct grove_row_write *rows = NULL;
    struct jr_tok open;
    bool first = true, more;
    size_t cap = 0, n = 0;
    grove_err err = grove_jr_expect(r, grove_jr_peek(r), "[", "an array of rows");
    if (err || (err = grove_jr_take(r, &open)))
        return err;
    for (;;) {
        if ((err = grove_jr_element(r, &first, &more)))
            return err;
        if (!more)
            break;
        if (n == GROVE_DATA_ROWS_MAX) {
            grove_jr_fail(r, "more than %d rows in one write", GROVE_DATA_ROWS_MAX);
            return GROVE_ETOOBIG;
        }
        /* {"pk":"","fields":{}} is the shortest row. */
        if (n == cap && (err = grove_jr_grow(r, &open, 22, GROVE_DATA_ROWS_MAX, sizeof *rows,
                                             "rows", (void **)&rows, &cap)))
            return err;
        d->row = &rows[n];
        d->row->table = d->table_name;
        grove_jr_push_index(r, n);
        if ((err = grove_jr_members_required(r, dj_row_keys, 2, dj_row_member, d,
                                             1u << DJ_ROW_PK | 1u << DJ_ROW_FIELDS)))
            return err;
        grove_jr_pop(r);
        n++;
    }
    w->rows = rows;
    w->row_count = n;
    return GROVE_OK;
}

/* ---- decoding ---------------------------------------------------------------- */

/* A new write message for table, whose name is copied into it; refuses an
 * undeclared table before the body is read. */
static grove_err dj_begin(const struct grove_schema *schema, const char *table, struct dj_table *t,
                          struct grove_write_msg **msg, const char **name)
{
    *msg = NULL;
    if (!table || !grove_schema_has_table(schema, table))
        return grove_error_set(GROVE_EFORBIDDEN, "table \"%s\" is not declared",
                               table ? table : "");
    *t = (struct dj_table){
        .schema = schema, .table = table, .typed = grove_schema_has_fields(schema, table)};
    grove_err err = grove_msg_new(sizeof **msg, (void **)msg);
    if (err)
        return err;
    if (!(*name = grove_msg_strndup(*msg, table, strlen(table)))) {
        grove_msg_free(*msg);
        *msg = NULL;
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    }
    return GROVE_OK;
}

static grove_err dj_end(struct jr *r, grove_err err, struct grove_write_msg **msg)
{
    if (!err)
        err = grove_jr_finish(r);
    grove_jr_release(r);
    if (err) {
        grove_msg_free(*msg);
        *msg = NULL;
    }
    return err;
}

grove_err grove_data_json_decode_row(const struct grove_schema *schema, const char *table,
                                     const char *pk, const char *json, size_t len,
                                     struct grove_write_msg **out)
{
    struct dj_table t;
    struct grove_write_msg *msg;
    const char *name;
    struct jr r;
    *out = NULL;
    grove_err err = dj_begin(schema, table, &t, &msg, &name);
    if (err)
        return err;
    struct grove_row_write *row = grove_msg_alloc(msg, sizeof *row);
    if (!row || !(row->pk = grove_msg_strndup(msg, pk ? pk : "", pk ? strlen(pk) : 0))) {
        grove_msg_free(msg);
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    }
    row->table = name;
    msg->write = (struct grove_write){.rows = row, .row_count = 1};
    err = grove_jr_begin(&r, json, len, msg);
    if (!err)
        err = dj_fields(&r, &t, row);
    if ((err = dj_end(&r, err, &msg)))
        return err;
    *out = msg;
    return GROVE_OK;
}

grove_err grove_data_json_decode_rows(const struct grove_schema *schema, const char *table,
                                      const char *json, size_t len, struct grove_write_msg **out)
{
    static const char *const keys[] = {"rows"};
    struct dj_table t;
    struct grove_write_msg *msg;
    const char *name;
    struct jr r;
    *out = NULL;
    grove_err err = dj_begin(schema, table, &t, &msg, &name);
    if (err)
        return err;
    struct dj_rows d = {.table = &t, .msg = msg, .table_name = name};
    err = grove_jr_begin(&r, json, len, msg);
    if (!err)
        err = grove_jr_members_required(&r, keys, 1, dj_rows, &d, 1u);
    if ((err = dj_end(&r, err, &msg)))
        return err;
    *out = msg;
    return GROVE_OK;
}

/* ---- encoding ---------------------------------------------------------------- */

static grove_err dj_put(struct grove_buf *out, const char *lit)
{
    return grove_buf_append(out, lit, strlen(lit));
}

static grove_err dj_put_string(struct grove_buf *out, const char *s)
{
    return grove_json_encode_string(s, strlen(s), out);
}

grove_err grove_data_json_encode_row(const char *table, const char *pk, const char *row,
                                     const struct grove_hlc *hlc, struct grove_buf *out)
{
    grove_err err = dj_put(out, "{\"table\":");
    if (!err)
        err = dj_put_string(out, table);
    if (!err)
        err = dj_put(out, ",\"pk\":");
    if (!err)
        err = dj_put_string(out, pk);
    if (!err && row) {
        if (!(err = dj_put(out, ",\"row\":")))
            err = dj_put(out, row);
    }
    if (!err && hlc) {
        if (!(err = dj_put(out, ",\"hlc\":")))
            err = grove_json_encode_hlc(hlc, out);
    }
    return err ? err : dj_put(out, "}");
}

grove_err grove_data_json_encode_table(const struct grove_schema *schema, const char *table,
                                       struct grove_buf *out)
{
    if (!grove_schema_has_table(schema, table))
        return grove_error_set(GROVE_EFORBIDDEN, "table \"%s\" is not declared", table);
    struct grove_buf spec = {0};
    grove_err err = grove_buf_append(&spec, table, strlen(table));
    if (!err)
        err = dj_put(out, "{\"table\":");
    if (!err)
        err = dj_put_string(out, table);
    if (!err)
        err = dj_put(out, ",\"fields\":{");
    enum grove_crdt crdt;
    const char *name;
    for (size_t i = 0; !err && (name = grove_schema_field_at(schema, table, i, &crdt)); i++) {
        const char *type = grove_crdt_name(crdt);
        if (!(err = dj_put(out, i ? "," : "")) && !(err = dj_put_string(out, name)) &&
            !(err = dj_put(out, ":")))
            err = dj_put_string(out, type);
        if (!err)
            err = grove_buf_append(&spec, i ? "," : ":", 1);
        if (!err && !(err = grove_buf_append(&spec, name, strlen(name))) &&
            !(err = grove_buf_append(&spec, "=", 1)))
            err = grove_buf_append(&spec, type, strlen(type));
    }
    if (!err)
        err = dj_put(out, "},\"spec\":");
    if (!err)
        err = dj_put_string(out, spec.data);
    grove_buf_free(&spec);
    return err ? err : dj_put(out, "}");
}

grove_err grove_data_json_encode_page(const struct grove_row_page *page, struct grove_buf *out)
{
    grove_err err = dj_put(out, "{\"rows\":[");
    for (size_t i = 0; !err && i < page->count; i++) {
        const struct grove_row_entry *e = &page->rows[i];
        err = dj_put(out, i ? ",{\"pk\":" : "{\"pk\":");
        if (!err)
            err = dj_put_string(out, e->pk);
        if (!err)
            err = dj_put(out, ",\"row\":");
        if (!err)
            err = grove_buf_append(out, e->row.ptr, e->row.len);
        if (!err)
            err = dj_put(out, "}");
    }
    if (!err)
        err = dj_put(out, "],\"next\":");
    if (!err)
        err = page->next ? dj_put_string(out, page->next) : dj_put(out, "null");
    return err ? err : dj_put(out, "}");
}

grove_err grove_data_json_encode_event(const struct grove_row_event *event, struct grove_buf *out)
{
    grove_err err = dj_put(out, "{\"pk\":");
    if (!err)
        err = dj_put_string(out, event->pk);
    if (!err)
        err = dj_put(out, ",\"row\":");
    if (!err)
        err = event->row.ptr ? grove_buf_append(out, event->row.ptr, event->row.len)
                             : dj_put(out, "null");
    if (!err)
        err = dj_put(out, event->deleted ? ",\"deleted\":true}" : ",\"deleted\":false}");
    return err;
}
