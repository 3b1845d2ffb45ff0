/* The Data API's JSON forms (core/data_json.c): PATCH and POST bodies decoded
 * against the schema, with located errors for what they refuse, and the reply
 * encoders. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grove/data.h"
#include "grove/schema.h"
#include "support.h"

/* The decoder is compiled in with its work counter (GROVE_JSON_STEPS, see
 * tests/core/json_test.c), so the cost test counts steps instead of timing. */
#define GROVE_JSON_STEPS
#include "core/data_json.c"
#include "core/json_fields.c"
#include "core/json_scan.c"

static struct grove_schema *schema;

static void schema_setup(void)
{
    cr_assert_eq(grove_schema_new(&schema), GROVE_OK);
    cr_assert_eq(grove_schema_parse(schema, "docs:title=lww,views=counter,tags=set"), GROVE_OK);
    cr_assert_eq(grove_schema_add_table(schema, "notes"), GROVE_OK);
}

static void schema_teardown(void)
{
    grove_schema_free(schema);
}

TestSuite(core_data_json, .init = schema_setup, .fini = schema_teardown);

static struct grove_write_msg *decode_row(const char *table, const char *pk, const char *json)
{
    struct grove_write_msg *m = NULL;
    grove_err err = grove_data_json_decode_row(schema, table, pk, json, strlen(json), &m);
    cr_assert_eq(err, GROVE_OK, "%s: %s", json, grove_errmsg());
    cr_assert_not_null(m);
    return m;
}

/* Decoding fails with err and a message starting with `where`. */
static void refuse_row(const char *json, grove_err err, const char *where)
{
    struct grove_write_msg *m = (void *)1;
    grove_err got = grove_data_json_decode_row(schema, "docs", "d1", json, strlen(json), &m);
    cr_assert_eq(got, err, "%.80s: got %s (%s)", json, grove_err_name(got), grove_errmsg());
    cr_assert_null(m, "%.80s: a failed decode leaves *out NULL", json);
    cr_assert(strncmp(grove_errmsg(), where, strlen(where)) == 0,
              "%.80s: message \"%s\", want \"%s\"", json, grove_errmsg(), where);
}

static void refuse_rows(const char *json, grove_err err, const char *where)
{
    struct grove_write_msg *m = (void *)1;
    grove_err got = grove_data_json_decode_rows(schema, "docs", json, strlen(json), &m);
    cr_assert_eq(got, err, "%.80s: got %s (%s)", json, grove_err_name(got), grove_errmsg());
    cr_assert_null(m);
    cr_assert(strncmp(grove_errmsg(), where, strlen(where)) == 0,
              "%.80s: message \"%s\", want \"%s\"", json, grove_errmsg(), where);
}

static void assert_slice(struct grove_slice s, const char *want)
{
    cr_assert_eq(s.len, strlen(want), "\"%.*s\" is not \"%s\"", (int)s.len, s.ptr, want);
    cr_assert(memcmp(s.ptr, want, s.len) == 0, "\"%.*s\" is not \"%s\"", (int)s.len, s.ptr, want);
}

Test(core_data_json, row_of_every_type)
{
    struct grove_write_msg *m =
        decode_row("docs", "a/b c",
                   "{\"title\": {\"x\" : [1, 2.50]}, \"views\": -2,"
                   "\"tags\": {\"add\": [\"red\", {\"k\":1}], \"remove\": [\"blue\"]}}");
    const struct grove_write *w = &m->write;
    cr_assert_eq(w->row_count, 1);
    const struct grove_row_write *r = &w->rows[0];
    cr_assert_str_eq(r->table, "docs");
    cr_assert_str_eq(r->pk, "a/b c");
    cr_assert(!r->delete_row);
    cr_assert_eq(r->field_count, 3);
    cr_assert_str_eq(r->fields[0].field, "title");
    cr_assert_eq(r->fields[0].crdt, GROVE_CRDT_LWW);
    assert_slice(r->fields[0].value, "{\"x\" : [1, 2.50]}"); /* byte-exact */
    cr_assert_str_eq(r->fields[1].field, "views");
    cr_assert_eq(r->fields[1].crdt, GROVE_CRDT_COUNTER);
    cr_assert_eq(r->fields[1].delta, -2);
    cr_assert_eq(r->fields[2].crdt, GROVE_CRDT_SET);
    cr_assert_eq(r->fields[2].add_count, 2);
    assert_slice(r->fields[2].add[0], "\"red\"");
    assert_slice(r->fields[2].add[1], "{\"k\":1}");
    cr_assert_eq(r->fields[2].remove_count, 1);
    assert_slice(r->fields[2].remove[0], "\"blue\"");
    grove_msg_free(m);
}

Test(core_data_json, set_op_halves_may_be_left_out)
{
    struct grove_write_msg *m = decode_row("docs", "d1", "{\"tags\":{\"remove\":[1]}}");
    cr_assert_eq(m->write.rows[0].fields[0].add_count, 0);
    cr_assert_eq(m->write.rows[0].fields[0].remove_count, 1);
    grove_msg_free(m);
}

Test(core_data_json, loose_table_takes_every_field_as_lww)
{
    /* An escaped key is unescaped: "\u00e9t\u00e9" is the field "été". */
    struct grove_write_msg *m =
        decode_row("notes", "n1", "{\"views\": 5, \"\\u00e9t\\u00e9\": \"x\"}");
    const struct grove_row_write *r = &m->write.rows[0];
    cr_assert_eq(r->field_count, 2);
    cr_assert_eq(r->fields[0].crdt, GROVE_CRDT_LWW);
    assert_slice(r->fields[0].value, "5");
    cr_assert_str_eq(r->fields[1].field, "\xc3\xa9t\xc3\xa9");
    grove_msg_free(m);
}

Test(core_data_json, counter_deltas_are_exact_int64)
{
    struct grove_write_msg *m = decode_row("docs", "d", "{\"views\": 9223372036854775807}");
    cr_assert_eq(m->write.rows[0].fields[0].delta, INT64_MAX);
    grove_msg_free(m);
    m = decode_row("docs", "d", "{\"views\": -9223372036854775808}");
    cr_assert_eq(m->write.rows[0].fields[0].delta, INT64_MIN);
    grove_msg_free(m);
    m = decode_row("docs", "d", "{\"views\": -0}");
    cr_assert_eq(m->write.rows[0].fields[0].delta, 0);
    grove_msg_free(m);
}

Test(core_data_json, counter_refuses_what_is_not_an_int64)
{
    refuse_row("{\"views\": 9223372036854775808}", GROVE_EINVAL, "views: 9223372036854775808 is");
    refuse_row("{\"views\": -9223372036854775809}", GROVE_EINVAL, "views: -9223372036854775809 is");
    refuse_row("{\"views\": 1.5}", GROVE_EINVAL,
               "views: expected an integer delta for a counter, got 1.5");
    refuse_row("{\"views\": 1e3}", GROVE_EINVAL, "views: expected an integer delta");
    refuse_row("{\"views\": \"5\"}", GROVE_EINVAL,
               "views: expected an integer delta for a counter, got a string");
    refuse_row("{\"views\": null}", GROVE_EINVAL, "views: expected an integer delta");
    refuse_row("{\"views\": [1]}", GROVE_EINVAL, "views: expected an integer delta");
}

Test(core_data_json, set_op_refusals)
{
    refuse_row("{\"tags\": [\"red\"]}", GROVE_EINVAL, "tags: expected a set op");
    refuse_row("{\"tags\": {\"add\": [1], \"ad\": [2]}}", GROVE_EINVAL,
               "tags: unknown member \"ad\"");
    refuse_row("{\"tags\": {\"add\": [1], \"add\": [2]}}", GROVE_EINVAL,
               "tags: duplicate key \"add\"");
    refuse_row("{\"tags\": {\"add\": \"red\"}}", GROVE_EINVAL, "tags.add: expected an array");
    refuse_row("{\"tags\": {\"add\": [1, ]}}", GROVE_EINVAL, "tags.add[1]: unexpected ']'");
}

Test(core_data_json, undeclared_table_and_field)
{
    struct grove_write_msg *m = (void *)1;
    grove_err err = grove_data_json_decode_row(schema, "nope", "d", "{}", 2, &m);
    cr_assert_eq(err, GROVE_EFORBIDDEN);
    cr_assert_null(m);
    cr_assert_str_eq(grove_errmsg(), "table \"nope\" is not declared");
    err = grove_data_json_decode_rows(schema, "nope", "{\"rows\":[]}", 11, &m);
    cr_assert_eq(err, GROVE_EFORBIDDEN);
    refuse_row("{\"title\": 1, \"color\": \"red\"}", GROVE_EINVAL,
               "color: field not declared in table \"docs\"");
}

Test(core_data_json, malformed_bodies)
{
    refuse_row("", GROVE_EINVAL, "body: empty");
    refuse_row("[1]", GROVE_EINVAL, "body: expected an object of fields, got an array");
    refuse_row("{\"title\": 1} x", GROVE_EINVAL, "body: trailing characters");
    refuse_row("{\"title\": tru}", GROVE_EINVAL, "title: invalid literal");
    refuse_row("{\"title\": 1, \"title\": 2}", GROVE_EINVAL, "body: duplicate key \"title\"");
    refuse_row("{\"title\": 1, \"t\\u0069tle\": 2}", GROVE_EINVAL, "body: duplicate key \"title\"");
    refuse_row("{\"ti\\u0000tle\": 1}", GROVE_EINVAL, "body: NUL character not allowed");
    refuse_row("{\"title\": \"\xff\"}", GROVE_EINVAL, "body: invalid UTF-8");
    /* Nesting deeper than GROVE_JSON_MAX_DEPTH. */
    char deep[256] = "{\"title\":";
    for (int i = 0; i < 80; i++)
        strcat(deep, "[");
    refuse_row(deep, GROVE_EINVAL, "title");
    cr_assert(strstr(grove_errmsg(), "nesting deeper than 64"), "%s", grove_errmsg());
}

Test(core_data_json, oversized_value_is_too_big)
{
    size_t n = GROVE_DATA_VALUE_MAX + 16;
    char *body = malloc(n + 32);
    cr_assert_not_null(body);
    size_t at = (size_t)sprintf(body, "{\"title\":\"");
    memset(body + at, 'a', n);
    strcpy(body + at + n, "\"}");
    refuse_row(body, GROVE_ETOOBIG, "title: ");
    at = (size_t)sprintf(body, "{\"tags\":{\"add\":[1,\"");
    memset(body + at, 'a', n);
    strcpy(body + at + n, "\"]}}");
    refuse_row(body, GROVE_ETOOBIG, "tags.add[1]: ");
    free(body);
}

Test(core_data_json, many_rows)
{
    const char *json = "{\"rows\": [{\"pk\": \"a\", \"fields\": {\"title\": \"A\"}},"
                       "{\"fields\": {\"views\": 3}, \"pk\": \"b/\\u00e9\"}]}";
    struct grove_write_msg *m = NULL;
    cr_assert_eq(grove_data_json_decode_rows(schema, "docs", json, strlen(json), &m), GROVE_OK,
                 "%s", grove_errmsg());
    cr_assert_eq(m->write.row_count, 2);
    cr_assert_str_eq(m->write.rows[0].table, "docs");
    cr_assert_str_eq(m->write.rows[0].pk, "a");
    assert_slice(m->write.rows[0].fields[0].value, "\"A\"");
    cr_assert_str_eq(m->write.rows[1].table, "docs");
    cr_assert_str_eq(m->write.rows[1].pk, "b/\xc3\xa9");
    cr_assert_eq(m->write.rows[1].fields[0].delta, 3);
    cr_assert_null(m->write.idempotency_key);
    grove_msg_free(m);
}

Test(core_data_json, many_rows_refusals)
{
    refuse_rows("{}", GROVE_EINVAL, "body: missing key \"rows\"");
    refuse_rows("{\"rows\": {}}", GROVE_EINVAL, "rows: expected an array of rows");
    refuse_rows("{\"rows\": [{\"pk\": \"a\"}]}", GROVE_EINVAL, "rows[0]: missing key \"fields\"");
    refuse_rows("{\"rows\": [{\"pk\": \"a\", \"fields\": {}}, {\"pk\": 7, \"fields\": {}}]}",
                GROVE_EINVAL, "rows[1].pk: expected a string");
    refuse_rows("{\"rows\": [{\"pk\": \"a\", \"fields\": {\"views\": \"1\"}}]}", GROVE_EINVAL,
                "rows[0].fields.views: expected an integer delta");
}

Test(core_data_json, too_many_rows)
{
    size_t cap = 16 + (GROVE_DATA_ROWS_MAX + 1) * 32;
    char *body = malloc(cap);
    cr_assert_not_null(body);
    size_t n = (size_t)sprintf(body, "{\"rows\":[");
    for (int i = 0; i <= GROVE_DATA_ROWS_MAX; i++)
        n += (size_t)sprintf(body + n, "%s{\"pk\":\"%d\",\"fields\":{}}", i ? "," : "", i);
    strcpy(body + n, "]}");
    refuse_rows(body, GROVE_ETOOBIG, "rows: more than 100000 rows in one write");
    free(body);
}

/* Decoding costs steps linear in the body, however many fields it holds. */
Test(core_data_json, cost_is_linear)
{
    size_t per_byte[2];
    for (int round = 0; round < 2; round++) {
        int count = round ? 40000 : 4000;
        struct grove_buf b = {0};
        cr_assert_eq(grove_buf_append(&b, "{", 1), GROVE_OK);
        for (int i = 0; i < count; i++) {
            char member[48];
            int k = snprintf(member, sizeof member, "%s\"f%d\":[%d]", i ? "," : "", i, i);
            cr_assert_eq(grove_buf_append(&b, member, (size_t)k), GROVE_OK);
        }
        cr_assert_eq(grove_buf_append(&b, "}", 1), GROVE_OK);
        struct grove_write_msg *m = NULL;
        grove_jr_steps = 0;
        cr_assert_eq(grove_data_json_decode_row(schema, "notes", "n", b.data, b.len, &m), GROVE_OK,
                     "%s", grove_errmsg());
        cr_assert_eq(m->write.rows[0].field_count, (size_t)count);
        per_byte[round] = grove_jr_steps * 100 / b.len;
        grove_msg_free(m);
        grove_buf_free(&b);
    }
    cr_assert_leq(per_byte[1], per_byte[0] + 10, "steps per 100 bytes: %zu then %zu", per_byte[0],
                  per_byte[1]);
}

Test(core_data_json, encoders)
{
    struct grove_buf b = {0};
    struct grove_hlc hlc = {.ts = 1706000001000000000, .c = 2};
    strcpy(hlc.node, "n1");
    cr_assert_eq(grove_data_json_encode_row("docs", "a/\"b\"", "{\"views\":7}", &hlc, &b),
                 GROVE_OK);
    cr_assert_str_eq(b.data, "{\"table\":\"docs\",\"pk\":\"a/\\\"b\\\"\",\"row\":{\"views\":7},"
                             "\"hlc\":{\"ts\":1706000001000000000,\"c\":2,\"node\":\"n1\"}}");
    b.len = 0;
    cr_assert_eq(grove_data_json_encode_row("docs", "d", "{}", NULL, &b), GROVE_OK);
    cr_assert_str_eq(b.data, "{\"table\":\"docs\",\"pk\":\"d\",\"row\":{}}");
    b.len = 0;
    struct grove_row_entry rows[] = {{.pk = "a", .row = {"{\"x\":1}", 7}},
                                     {.pk = "b", .row = {"{}", 2}}};
    struct grove_row_page page = {.rows = rows, .count = 2, .next = "b"};
    cr_assert_eq(grove_data_json_encode_page(&page, &b), GROVE_OK);
    cr_assert_str_eq(b.data,
                     "{\"rows\":[{\"pk\":\"a\",\"row\":{\"x\":1}},{\"pk\":\"b\",\"row\":{}}],"
                     "\"next\":\"b\"}");
    b.len = 0;
    page = (struct grove_row_page){0};
    cr_assert_eq(grove_data_json_encode_page(&page, &b), GROVE_OK);
    cr_assert_str_eq(b.data, "{\"rows\":[],\"next\":null}");
    b.len = 0;
    struct grove_row_event ev = {.pk = "a", .row = {"{\"x\":1}", 7}};
    cr_assert_eq(grove_data_json_encode_event(&ev, &b), GROVE_OK);
    cr_assert_str_eq(b.data, "{\"pk\":\"a\",\"row\":{\"x\":1},\"deleted\":false}");
    b.len = 0;
    ev = (struct grove_row_event){.pk = "a", .deleted = true};
    cr_assert_eq(grove_data_json_encode_event(&ev, &b), GROVE_OK);
    cr_assert_str_eq(b.data, "{\"pk\":\"a\",\"row\":null,\"deleted\":true}");
    grove_buf_free(&b);
}
