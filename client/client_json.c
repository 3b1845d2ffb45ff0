/* Decoders of the HTTP surface's answers (docs/data-api.md), over the core's
 * JSON walker: strict, located, and tolerant of members they do not know
 * (a newer server may add some). A row is kept as the server's bytes. */
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"
#include "grove/json.h"
#include "json_scan.h"

/* Runs fn over json, in a scratch message whose arena holds the copy. */
static grove_err client_json_walk(const char *json, size_t len,
                                  grove_err (*fn)(struct jr *, void *), void *arg, void **scratch)
{
    struct jr r;
    void *msg;
    *scratch = NULL;
    grove_err err = grove_msg_new(sizeof(int), &msg);
    if (err)
        return err;
    err = grove_jr_begin(&r, json, len, msg);
    if (!err)
        err = fn(&r, arg);
    if (!err)
        err = grove_jr_finish(&r);
    grove_jr_release(&r);
    if (err) {
        grove_msg_free(msg);
        return grove_error_prefix(GROVE_EPROTO, "unexpected answer: ");
    }
    *scratch = msg;
    return GROVE_OK;
}

/* A row: a JSON object, kept raw. */
static grove_err client_json_row_value(struct jr *r, struct grove_slice *out)
{
    grove_err err = grove_jr_expect(r, grove_jr_peek(r), "{", "an object");
    return err ? err : grove_jr_raw(r, out);
}

/* An HLC object, read back through the public decoder. */
static grove_err client_json_hlc(struct jr *r, struct grove_hlc *out)
{
    struct grove_slice raw;
    grove_err err = grove_jr_raw(r, &raw);
    if (!err && (err = grove_json_decode_hlc(raw.ptr, raw.len, out)))
        err = grove_jr_fail(r, "%s", grove_errmsg());
    return err;
}

/* ---- {"table","pk","row","hlc"} ---- */

enum { ROW_ROW, ROW_HLC };
static const char *const client_row_keys[] = {"row", "hlc"};

struct client_row_answer {
    struct grove_slice row;
    struct grove_hlc hlc;
};

static grove_err client_row_member(struct jr *r, int key, void *arg)
{
    struct client_row_answer *a = arg;
    if (key == ROW_ROW)
        return client_json_row_value(r, &a->row);
    bool is_null;
    grove_err err = grove_jr_null(r, &is_null);
    return err || is_null ? err : client_json_hlc(r, &a->hlc);
}

static grove_err client_row_walk(struct jr *r, void *arg)
{
    return grove_jr_members(r, client_row_keys, 2, client_row_member, arg, &(unsigned){0});
}

grove_err grove_client_json_row(const char *json, size_t len, char **row, struct grove_hlc *hlc)
{
    struct client_row_answer a = {0};
    void *scratch;
    grove_err err = client_json_walk(json, len, client_row_walk, &a, &scratch);
    if (err)
        return err;
    if (row && !a.row.ptr)
        err = grove_error_set(GROVE_EPROTO, "unexpected answer: no \"row\"");
    else if (row)
        err = grove_client_strndup(a.row.ptr, a.row.len, row);
    if (!err && hlc)
        *hlc = a.hlc;
    grove_msg_free(scratch);
    return err;
}

/* ---- {"table","fields","spec"} ---- */

static const char *const client_table_keys[] = {"spec"};

static grove_err client_table_member(struct jr *r, int key, void *arg)
{
    (void)key;
    struct grove_slice *spec = arg;
    return grove_jr_string(r, &spec->ptr, &spec->len);
}

static grove_err client_table_walk(struct jr *r, void *arg)
{
    return grove_jr_members_required(r, client_table_keys, 1, client_table_member, arg, 1u);
}

grove_err grove_client_json_table_spec(const char *json, size_t len, char **spec)
{
    struct grove_slice s = {0};
    void *scratch;
    grove_err err = client_json_walk(json, len, client_table_walk, &s, &scratch);
    if (err)
        return err;
    err = grove_client_strndup(s.ptr, s.len, spec);
    grove_msg_free(scratch);
    return err;
}

/* ---- {"rows":[{"pk","row"}...],"next":"PK"|null} ---- */

enum { PAGE_ROWS, PAGE_NEXT };
static const char *const client_page_keys[] = {"rows", "next"};
enum { ENTRY_PK, ENTRY_ROW };
static const char *const client_entry_keys[] = {"pk", "row"};

struct client_entry {
    const char *pk;
    size_t pk_len;
    struct grove_slice row;
};

static grove_err client_entry_member(struct jr *r, int key, void *arg)
{
    struct client_entry *e = arg;
    if (key == ENTRY_PK)
        return grove_jr_string(r, &e->pk, &e->pk_len);
    return client_json_row_value(r, &e->row);
}

static grove_err client_page_rows(struct jr *r, struct client_page_builder *b)
{
    struct jr_tok t;
    bool first = true, more;
    grove_err err = grove_jr_expect(r, grove_jr_peek(r), "[", "an array");
    if (!err)
        err = grove_jr_take(r, &t);
    for (size_t i = 0; !err; i++) {
        if ((err = grove_jr_element(r, &first, &more)) || !more)
            break;
        struct client_entry e = {0};
        grove_jr_push_index(r, i);
        err = grove_jr_members_required(r, client_entry_keys, 2, client_entry_member, &e,
                                        1u << ENTRY_PK | 1u << ENTRY_ROW);
        if (!err)
            err = grove_client_page_add(b, e.pk, e.pk_len, e.row.ptr, e.row.len);
        grove_jr_pop(r);
    }
    return err;
}

static grove_err client_page_member(struct jr *r, int key, void *arg)
{
    struct client_page_builder *b = arg;
    if (key == PAGE_ROWS)
        return client_page_rows(r, b);
    bool is_null;
    const char *next;
    size_t n;
    grove_err err = grove_jr_null(r, &is_null);
    if (err || is_null)
        return err;
    if ((err = grove_jr_string(r, &next, &n)))
        return err;
    return grove_client_page_next(b, next, n);
}

static grove_err client_page_walk(struct jr *r, void *arg)
{
    return grove_jr_members_required(r, client_page_keys, 2, client_page_member, arg,
                                     1u << PAGE_ROWS);
}

grove_err grove_client_json_page(const char *json, size_t len, struct grove_row_page **out)
{
    struct client_page_builder b;
    void *scratch = NULL;
    grove_err err = grove_client_page_start(&b);
    if (!err)
        err = client_json_walk(json, len, client_page_walk, &b, &scratch);
    grove_msg_free(scratch);
    return grove_client_page_finish(&b, err, out);
}

/* ---- {"pk","row"|null,"deleted"} ---- */

enum { EVENT_PK, EVENT_ROW, EVENT_DELETED };
static const char *const client_event_keys[] = {"pk", "row", "deleted"};

static grove_err client_event_member(struct jr *r, int key, void *arg)
{
    struct grove_row_event *e = arg;
    bool is_null;
    grove_err err;
    switch (key) {
    case EVENT_PK:
        return grove_jr_string(r, &e->pk, NULL);
    case EVENT_ROW:
        if ((err = grove_jr_null(r, &is_null)) || is_null)
            return err;
        return client_json_row_value(r, &e->row);
    default:
        return grove_jr_bool(r, &e->deleted);
    }
}

static grove_err client_event_walk(struct jr *r, void *arg)
{
    return grove_jr_members_required(r, client_event_keys, 3, client_event_member, arg,
                                     1u << EVENT_PK);
}

grove_err grove_client_json_event(const char *json, size_t len, struct grove_row_event *event,
                                  void **scratch)
{
    event->pk = NULL;
    event->row = (struct grove_slice){0};
    event->deleted = false;
    grove_err err = client_json_walk(json, len, client_event_walk, event, scratch);
    if (!err && !event->row.ptr)
        event->deleted = true; /* "row": null is a delete, whatever "deleted" says */
    return err;
}
