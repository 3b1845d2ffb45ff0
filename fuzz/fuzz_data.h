/* What the Data API targets (fuzz_data_json.c, fuzz_data_protobuf.c) share:
 * the schema they decode against and a decoded write written down as text,
 * so two decodes of the same bytes can be compared byte for byte. */
#ifndef GROVE_FUZZ_DATA_H
#define GROVE_FUZZ_DATA_H

#include <inttypes.h>

#include "fuzz.h"
#include "grove/data.h"
#include "grove/json.h"
#include "grove/schema.h"

/* "docs" declares one field of each type; "notes" is loosely typed (no
 * fields: any field, of the type the write names). */
#define FUZZ_DATA_SCHEMA_TYPED "docs:title=lww,views=counter,tags=set"
#define FUZZ_DATA_SCHEMA_LOOSE "notes"

static inline struct grove_schema *fuzz_data_schema(void)
{
    struct grove_schema *schema = NULL;
    fuzz_ok(grove_schema_new(&schema), "grove_schema_new");
    fuzz_ok(grove_schema_parse(schema, FUZZ_DATA_SCHEMA_TYPED), "the typed table");
    fuzz_ok(grove_schema_parse(schema, FUZZ_DATA_SCHEMA_LOOSE), "the loose table");
    return schema;
}

static inline void fuzz_data_put(struct grove_buf *out, const char *s, size_t n)
{
    fuzz_ok(grove_buf_append(out, s, n), "writing a write down");
}

/* A length and the bytes, so that no two writes read the same. */
static inline void fuzz_data_put_bytes(struct grove_buf *out, const char *s, size_t n)
{
    char head[32];
    int k = snprintf(head, sizeof head, "[%zu]", n);
    fuzz_data_put(out, head, (size_t)k);
    if (n)
        fuzz_data_put(out, s, n);
}

static inline void fuzz_data_put_str(struct grove_buf *out, const char *s)
{
    if (!s) {
        fuzz_data_put(out, "(null)", 6);
        return;
    }
    fuzz_data_put_bytes(out, s, strlen(s));
}

static inline void fuzz_data_put_slices(struct grove_buf *out, const struct grove_slice *s,
                                        size_t n)
{
    char head[32];
    int k = snprintf(head, sizeof head, "{%zu}", n);
    fuzz_data_put(out, head, (size_t)k);
    for (size_t i = 0; i < n; i++)
        fuzz_data_put_bytes(out, s[i].ptr, s[i].ptr ? s[i].len : 0);
}

static inline void fuzz_data_dump(const struct grove_write *w, struct grove_buf *out)
{
    char head[64];
    int k = snprintf(head, sizeof head, "rows %zu key ", w->row_count);
    fuzz_data_put(out, head, (size_t)k);
    fuzz_data_put_str(out, w->idempotency_key);
    for (size_t i = 0; i < w->row_count; i++) {
        const struct grove_row_write *r = &w->rows[i];
        k = snprintf(head, sizeof head, "\nrow %d %zu ", r->delete_row, r->field_count);
        fuzz_data_put(out, head, (size_t)k);
        fuzz_data_put_str(out, r->table);
        fuzz_data_put_str(out, r->pk);
        for (size_t j = 0; j < r->field_count; j++) {
            const struct grove_field_write *f = &r->fields[j];
            k = snprintf(head, sizeof head, "\n field %d %" PRId64 " ", (int)f->crdt, f->delta);
            fuzz_data_put(out, head, (size_t)k);
            fuzz_data_put_str(out, f->field);
            fuzz_data_put(out, f->value.ptr ? "v" : "-", 1);
            fuzz_data_put_bytes(out, f->value.ptr, f->value.ptr ? f->value.len : 0);
            fuzz_data_put_slices(out, f->add, f->add_count);
            fuzz_data_put_slices(out, f->remove, f->remove_count);
        }
    }
}

/* Decoded the same way twice: the same write. */
static inline void fuzz_data_same(const struct grove_write *a, const struct grove_write *b,
                                  const char *what)
{
    struct grove_buf x = {0}, y = {0};
    fuzz_data_dump(a, &x);
    fuzz_data_dump(b, &y);
    fuzz_same(&x, &y, what);
    grove_buf_free(&x);
    grove_buf_free(&y);
}

/* Valid JSON, or too deep only because of where it was put (a value the
 * decoder took at the depth limit, wrapped in an answer's object). */
static inline void fuzz_data_json(const char *json, size_t len, bool wrapped, const char *what)
{
    grove_err err = grove_json_validate(json, len);
    if (err && wrapped && strstr(grove_errmsg(), "nesting deeper than"))
        return;
    if (err) {
        struct grove_buf b = {(char *)json, len, len};
        fprintf(stderr, "fuzz: %s is not valid JSON: %s\n", what, grove_errmsg());
        fuzz_print("json", &b);
        abort();
    }
}

#endif
