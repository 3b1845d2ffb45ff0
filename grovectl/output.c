/* grovectl's printing: JSON lines for programs, aligned text on a terminal.
 * Rows are printed as the server sent them (values byte-exact); the text
 * form only splits a row into its fields, with the core's JSON walker. */
#include <stdlib.h>
#include <string.h>

#include "grove/json.h"
#include "grove/sys/error.h"
#include "grovectl.h"
#include "json_scan.h"

/* Columns a UTF-8 string takes, roughly: one per code point. */
static size_t ctl_width(const char *s, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        w += ((unsigned char)s[i] & 0xC0) != 0x80;
    return w;
}

static void ctl_pad(FILE *f, size_t used, size_t width)
{
    for (size_t i = used; i < width + 2; i++)
        fputc(' ', f);
}

static void ctl_json_string(FILE *f, const char *s)
{
    struct grove_buf b = {0};
    if (grove_json_encode_string(s, strlen(s), &b) == GROVE_OK)
        fwrite(b.data, 1, b.len, f);
    grove_buf_free(&b);
}

/* One field of a row in the text form: its key as sent (between the
 * quotes) and its value. */
struct ctl_field {
    const char *key;
    size_t key_len;
    struct grove_slice value;
};

struct ctl_fields {
    struct ctl_field *items;
    size_t count, cap;
};

static grove_err ctl_fields_walk(struct jr *r, struct ctl_fields *out)
{
    struct jr_tok t, key;
    bool first = true, more;
    grove_err err = grove_jr_expect(r, grove_jr_peek(r), "{", "an object");
    if (!err)
        err = grove_jr_take(r, &t);
    while (!err && !(err = grove_jr_member(r, &first, &key, &more)) && more) {
        if (out->count == out->cap) {
            size_t grown = out->cap ? out->cap * 2 : 16;
            struct ctl_field *fresh = realloc(out->items, grown * sizeof *fresh);
            if (!fresh)
                return grove_error_set(GROVE_ENOMEM, "out of memory");
            out->items = fresh;
            out->cap = grown;
        }
        struct ctl_field *f = &out->items[out->count++];
        f->key = r->js + key.start;
        f->key_len = key.end - key.start;
        err = grove_jr_raw(r, &f->value);
    }
    return err ? err : grove_jr_finish(r);
}

void ctl_print_row(const struct ctl_out *out, const char *row, size_t len)
{
    struct ctl_fields fields = {0};
    struct jr r;
    if (!out->text || grove_jr_begin(&r, row, len, NULL) != GROVE_OK) {
        fprintf(out->f, "%.*s\n", (int)len, row);
        return;
    }
    grove_err err = ctl_fields_walk(&r, &fields);
    grove_jr_release(&r);
    if (err) {
        fprintf(out->f, "%.*s\n", (int)len, row);
    } else if (fields.count == 0) {
        fprintf(out->f, "(no fields)\n");
    } else {
        size_t width = 0;
        for (size_t i = 0; i < fields.count; i++) {
            size_t w = ctl_width(fields.items[i].key, fields.items[i].key_len);
            width = w > width ? w : width;
        }
        for (size_t i = 0; i < fields.count; i++) {
            const struct ctl_field *f = &fields.items[i];
            fwrite(f->key, 1, f->key_len, out->f);
            ctl_pad(out->f, ctl_width(f->key, f->key_len), width);
            fprintf(out->f, "%.*s\n", (int)f->value.len, f->value.ptr);
        }
    }
    free(fields.items);
}

/* Text rows are aligned on their pks, up to a width past which a long pk
 * just pushes its own row out. */
#define CTL_PK_WIDTH_MAX 40

void ctl_print_page(const struct ctl_out *out, const struct grove_row_page *page)
{
    size_t width = 0;
    for (size_t i = 0; out->text && i < page->count; i++) {
        size_t w = ctl_width(page->rows[i].pk, strlen(page->rows[i].pk));
        if (w <= CTL_PK_WIDTH_MAX && w > width)
            width = w;
    }
    for (size_t i = 0; i < page->count; i++) {
        const struct grove_row_entry *e = &page->rows[i];
        if (out->text) {
            fputs(e->pk, out->f);
            ctl_pad(out->f, ctl_width(e->pk, strlen(e->pk)), width);
            fprintf(out->f, "%.*s\n", (int)e->row.len, e->row.ptr);
            continue;
        }
        fputs("{\"pk\":", out->f);
        ctl_json_string(out->f, e->pk);
        fprintf(out->f, ",\"row\":%.*s}\n", (int)e->row.len, e->row.ptr);
    }
}

/* Watch events arrive one at a time: a fixed pk column. */
#define CTL_EVENT_PK_WIDTH 20

void ctl_print_event(const struct ctl_out *out, const struct grove_row_event *e)
{
    if (out->text) {
        fputs(e->pk, out->f);
        ctl_pad(out->f, ctl_width(e->pk, strlen(e->pk)), CTL_EVENT_PK_WIDTH);
        if (e->deleted)
            fputs("(deleted)\n", out->f);
        else
            fprintf(out->f, "%.*s\n", (int)e->row.len, e->row.ptr);
    } else {
        fputs("{\"pk\":", out->f);
        ctl_json_string(out->f, e->pk);
        if (e->deleted)
            fputs(",\"row\":null", out->f);
        else
            fprintf(out->f, ",\"row\":%.*s", (int)e->row.len, e->row.ptr);
        fprintf(out->f, ",\"deleted\":%s,\"cursor\":", e->deleted ? "true" : "false");
        ctl_json_string(out->f, e->cursor);
        fputs("}\n", out->f);
    }
    fflush(out->f);
}

/* ---- admin answers on a terminal: nested "key: value" lines ---- */

struct ctl_tree {
    FILE *f;
    bool dash; /* the next line opens an array element: "- " in place of its indent's end */
};

static void ctl_tree_indent(struct ctl_tree *t, int indent)
{
    for (int i = 0; i < indent - (t->dash ? 2 : 0); i++)
        fputc(' ', t->f);
    if (t->dash)
        fputs("- ", t->f);
    t->dash = false;
}

/* A scalar as people read it: strings without quotes, null as "-". */
static void ctl_tree_scalar(struct ctl_tree *t, const struct grove_slice *v)
{
    if (v->len >= 2 && v->ptr[0] == '"')
        fprintf(t->f, "%.*s\n", (int)(v->len - 2), v->ptr + 1);
    else if (v->len == 4 && memcmp(v->ptr, "null", 4) == 0)
        fputs("-\n", t->f);
    else
        fprintf(t->f, "%.*s\n", (int)v->len, v->ptr);
}

static grove_err ctl_tree_value(struct ctl_tree *t, struct jr *r, int indent, const char *key,
                                size_t key_len);

static grove_err ctl_tree_container(struct ctl_tree *t, struct jr *r, int indent, bool object)
{
    struct jr_tok tok, key;
    bool first = true, more = true;
    grove_err err = grove_jr_take(r, &tok);
    size_t n = 0;
    while (!err) {
        if (object)
            err = grove_jr_member(r, &first, &key, &more);
        else
            err = grove_jr_element(r, &first, &more);
        if (err || !more)
            break;
        if (!object)
            t->dash = true;
        err = ctl_tree_value(t, r, object ? indent : indent + 2, object ? r->js + key.start : NULL,
                             object ? key.end - key.start : 0);
        n++;
    }
    if (!err && n == 0) {
        ctl_tree_indent(t, indent);
        fputs(object ? "(none)\n" : "(none)\n", t->f);
    }
    return err;
}

static grove_err ctl_tree_value(struct ctl_tree *t, struct jr *r, int indent, const char *key,
                                size_t key_len)
{
    int c = grove_jr_peek(r);
    if (c == '{' || c == '[') {
        if (key) {
            ctl_tree_indent(t, indent);
            fprintf(t->f, "%.*s:\n", (int)key_len, key);
            indent += 2;
        } else if (!t->dash) {
            /* the top level */
        }
        return ctl_tree_container(t, r, indent, c == '{');
    }
    struct grove_slice v;
    grove_err err = grove_jr_raw(r, &v);
    if (err)
        return err;
    ctl_tree_indent(t, indent);
    if (key)
        fprintf(t->f, "%.*s: ", (int)key_len, key);
    ctl_tree_scalar(t, &v);
    return GROVE_OK;
}

void ctl_print_tree(const struct ctl_out *out, const char *json, size_t len)
{
    struct jr r;
    if (!out->text || grove_jr_begin(&r, json, len, NULL) != GROVE_OK) {
        fprintf(out->f, "%.*s\n", (int)len, json);
        return;
    }
    struct ctl_tree t = {.f = out->f};
    if (ctl_tree_value(&t, &r, 0, NULL, 0) != GROVE_OK)
        fprintf(out->f, "%.*s\n", (int)len, json);
    grove_jr_release(&r);
}
