/* The Data API's JSON forms (core/data_json.c): the first byte picks the
 * decoder and the table (bit 0: grove_data_json_decode_rows, else _row;
 * bit 1: the loosely typed table; bit 2: a table not declared), the rest is
 * the body; for _row, bytes up to a first newline are the pk. An accepted
 * write decodes the same way twice, holds what the decoder promises the core
 * (the table and pk it was given, each field once, of its declared type or
 * LWW in the loose table, every value and element valid JSON within the
 * size limit), and the answers encoded from it (row, page, event, table) are
 * valid JSON. */
#include "fuzz_data.h"

static struct grove_schema *fuzz_schema;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_schema = fuzz_data_schema();
    return 0;
}

static void fuzz_fail(const char *what, const struct grove_write *w)
{
    struct grove_buf dump = {0};
    fuzz_data_dump(w, &dump);
    fprintf(stderr, "fuzz: an accepted write %s\n", what);
    fuzz_print("write", &dump);
    abort();
}

static void fuzz_check_value(const struct grove_slice *v, const struct grove_write *w)
{
    if (!v->ptr || v->len > GROVE_DATA_VALUE_MAX)
        fuzz_fail("has a missing or oversized value", w);
    fuzz_data_json(v->ptr, v->len, false, "an accepted value");
}

/* What grove_data_write's checks take from the decoder. */
static void fuzz_check_write(const struct grove_write *w, const char *table, const char *pk)
{
    bool typed = grove_schema_has_fields(fuzz_schema, table);
    if ((pk && w->row_count != 1) || w->row_count > GROVE_DATA_ROWS_MAX)
        fuzz_fail("has the wrong number of rows", w);
    for (size_t i = 0; i < w->row_count; i++) {
        const struct grove_row_write *r = &w->rows[i];
        if (!r->table || strcmp(r->table, table) != 0 || !r->pk || (pk && strcmp(r->pk, pk)))
            fuzz_fail("names another table or pk", w);
        if (r->delete_row)
            fuzz_fail("deletes a row", w);
        for (size_t j = 0; j < r->field_count; j++) {
            const struct grove_field_write *f = &r->fields[j];
            if (!f->field)
                fuzz_fail("has a field without a name", w);
            for (size_t k = 0; k < j; k++)
                if (strcmp(r->fields[k].field, f->field) == 0)
                    fuzz_fail("writes a field twice", w);
            enum grove_crdt declared = grove_schema_field_type(fuzz_schema, table, f->field);
            if (typed ? f->crdt != declared : f->crdt != GROVE_CRDT_LWW)
                fuzz_fail("writes a field as another type", w);
            if (f->crdt == GROVE_CRDT_LWW)
                fuzz_check_value(&f->value, w);
            for (size_t k = 0; k < f->add_count; k++)
                fuzz_check_value(&f->add[k], w);
            for (size_t k = 0; k < f->remove_count; k++)
                fuzz_check_value(&f->remove[k], w);
        }
    }
}

/* A row object as grove_data_get would give it for the write: an LWW field
 * as its value, a counter as its delta, a set as the elements added. */
static void fuzz_row_json(const struct grove_row_write *r, struct grove_buf *out)
{
    out->len = 0;
    fuzz_ok(grove_buf_append(out, "{", 1), "row");
    for (size_t j = 0; j < r->field_count; j++) {
        const struct grove_field_write *f = &r->fields[j];
        if (j)
            fuzz_ok(grove_buf_append(out, ",", 1), "row");
        fuzz_ok(grove_json_encode_string(f->field, strlen(f->field), out), "a field name");
        fuzz_ok(grove_buf_append(out, ":", 1), "row");
        if (f->crdt == GROVE_CRDT_COUNTER) {
            char n[32];
            int k = snprintf(n, sizeof n, "%" PRId64, f->delta);
            fuzz_ok(grove_buf_append(out, n, (size_t)k), "row");
        } else if (f->crdt == GROVE_CRDT_SET) {
            fuzz_ok(grove_buf_append(out, "[", 1), "row");
            for (size_t k = 0; k < f->add_count; k++) {
                if (k)
                    fuzz_ok(grove_buf_append(out, ",", 1), "row");
                fuzz_ok(grove_buf_append(out, f->add[k].ptr, f->add[k].len), "row");
            }
            fuzz_ok(grove_buf_append(out, "]", 1), "row");
        } else {
            fuzz_ok(grove_buf_append(out, f->value.ptr, f->value.len), "row");
        }
    }
    fuzz_ok(grove_buf_append(out, "}", 2), "row"); /* with its NUL, for the C string */
    out->len--;
}

static void fuzz_encode(const struct grove_write *w, const char *table)
{
    struct grove_buf row = {0}, out = {0};
    struct grove_hlc hlc = {.ts = 1764547200000000000, .c = 7};
    fuzz_ok(grove_hlc_set_node(&hlc, "fuzz-node"), "an hlc");
    struct grove_row_entry *entries = calloc(w->row_count, sizeof *entries);
    char **rows = calloc(w->row_count, sizeof *rows);
    if (!entries || !rows)
        abort();
    for (size_t i = 0; i < w->row_count; i++) {
        const struct grove_row_write *r = &w->rows[i];
        fuzz_row_json(r, &row);
        /* Values at the depth limit are one or two levels deeper here. */
        fuzz_data_json(row.data, row.len, true, "the row");
        out.len = 0;
        fuzz_ok(grove_data_json_encode_row(r->table, r->pk, row.data, &hlc, &out), "encode_row");
        fuzz_data_json(out.data, out.len, true, "encode_row");
        out.len = 0;
        fuzz_ok(grove_data_json_encode_row(r->table, r->pk, NULL, NULL, &out), "encode_row");
        fuzz_data_json(out.data, out.len, false, "encode_row of a delete");

        struct grove_row_event event = {.pk = r->pk, .row = {row.data, row.len}};
        snprintf(event.cursor, sizeof event.cursor, "c%zu", i);
        out.len = 0;
        fuzz_ok(grove_data_json_encode_event(&event, &out), "encode_event");
        fuzz_data_json(out.data, out.len, true, "encode_event");
        event = (struct grove_row_event){.pk = r->pk, .deleted = true};
        out.len = 0;
        fuzz_ok(grove_data_json_encode_event(&event, &out), "encode_event of a delete");
        fuzz_data_json(out.data, out.len, false, "encode_event of a delete");

        rows[i] = malloc(row.len + 1);
        if (!rows[i])
            abort();
        memcpy(rows[i], row.data, row.len + 1);
        entries[i] = (struct grove_row_entry){.pk = r->pk, .row = {rows[i], row.len}};
    }
    struct grove_row_page page = {.rows = entries, .count = w->row_count};
    for (int last = 0; last < 2; last++) {
        page.next = last ? NULL : w->rows[w->row_count - 1].pk;
        out.len = 0;
        fuzz_ok(grove_data_json_encode_page(&page, &out), "encode_page");
        fuzz_data_json(out.data, out.len, true, "encode_page");
    }
    out.len = 0;
    fuzz_ok(grove_data_json_encode_table(fuzz_schema, table, &out), "encode_table");
    fuzz_data_json(out.data, out.len, false, "encode_table");
    for (size_t i = 0; i < w->row_count; i++)
        free(rows[i]);
    free(rows);
    free(entries);
    grove_buf_free(&row);
    grove_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    unsigned mode = data[0];
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    bool many = mode & 1;
    const char *table = mode & 4 ? "nope" : mode & 2 ? "notes" : "docs";
    char *pk = NULL;
    if (!many) {
        const char *nl = memchr(body, '\n', len < 1100 ? len : 1100);
        size_t n = nl ? (size_t)(nl - body) : 0;
        pk = strndup(nl ? body : "p", nl ? n : 1);
        if (!pk)
            return 0;
        if (nl) {
            len -= n + 1;
            body = nl + 1;
        }
    }
    struct grove_write_msg *once = NULL, *twice = NULL;
    grove_err a = many ? grove_data_json_decode_rows(fuzz_schema, table, body, len, &once)
                       : grove_data_json_decode_row(fuzz_schema, table, pk, body, len, &once);
    grove_err b = many ? grove_data_json_decode_rows(fuzz_schema, table, body, len, &twice)
                       : grove_data_json_decode_row(fuzz_schema, table, pk, body, len, &twice);
    if (a != b) {
        fprintf(stderr, "fuzz: decoded twice: %s, then %s\n", grove_err_name(a), grove_err_name(b));
        abort();
    }
    if (mode & 4 && a != GROVE_EFORBIDDEN) {
        fprintf(stderr, "fuzz: a write to an undeclared table: %s\n", grove_err_name(a));
        abort();
    }
    if (!a) {
        fuzz_data_same(&once->write, &twice->write, "two decodes of the same body");
        fuzz_check_write(&once->write, table, pk);
        if (once->write.row_count)
            fuzz_encode(&once->write, table);
    }
    grove_msg_free(once);
    grove_msg_free(twice);
    free(pk);
    return 0;
}
