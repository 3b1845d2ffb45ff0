/* The JSON wire codec: golden vectors (tests/vectors), exact integers, raw
 * value passthrough, located errors for malformed input, encoder rules, and a
 * decoding cost linear in the input whatever its nesting. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grove/json.h"
#include "support.h"

/* The decoder is compiled into this test with its work counter, grove_jr_steps
 * (GROVE_JSON_STEPS in core/json_scan.h): the cost tests count steps rather
 * than time them. libgrove's copy of the decoder is then not linked. */
#define GROVE_JSON_STEPS
#include "core/json_read.c"
#include "core/json_scan.c"
#include "core/json_fields.c"

#define VECTORS GROVE_SOURCE_DIR "/tests/vectors/"

static char *read_vector(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, VECTORS "%s", name);
    return support_read_file(path, len);
}

/* Decodes with the decoder that matches the vector's name and re-encodes. */
static grove_err roundtrip(const char *name, const char *json, size_t len, struct grove_buf *out)
{
    grove_err err;
    if (strncmp(name, "pull_request", 12) == 0) {
        struct grove_pull_request *m;
        if ((err = grove_json_decode_pull_request(json, len, &m)))
            return err;
        err = grove_json_encode_pull_request(m, out);
        grove_msg_free(m);
    } else if (strncmp(name, "pull_response", 13) == 0) {
        struct grove_pull_response *m;
        if ((err = grove_json_decode_pull_response(json, len, &m)))
            return err;
        err = grove_json_encode_pull_response(m, out);
        grove_msg_free(m);
    } else if (strncmp(name, "push_request", 12) == 0) {
        struct grove_push_request *m;
        if ((err = grove_json_decode_push_request(json, len, &m)))
            return err;
        err = grove_json_encode_push_request(m, out);
        grove_msg_free(m);
    } else if (strncmp(name, "push_response", 13) == 0) {
        struct grove_push_response *m;
        if ((err = grove_json_decode_push_response(json, len, &m)))
            return err;
        err = grove_json_encode_push_response(m, out);
        grove_msg_free(m);
    } else {
        struct grove_pull_response *m;
        if ((err = grove_json_decode_changes(json, len, &m)))
            return err;
        err = grove_json_encode_changes(m->changes, m->count, out);
        grove_msg_free(m);
    }
    return err;
}

static const char *const canonical[] = {
    "pull_request.json",       "pull_request_limit.json",  "pull_request_filter.json",
    "pull_response_seed.json", "pull_response_mixed.json", "push_request.json",
    "push_response.json",      "push_response_big.json",   "changes.json",
};

Test(core_json, canonical_vectors_encode_to_their_own_bytes)
{
    for (size_t i = 0; i < sizeof canonical / sizeof canonical[0]; i++) {
        size_t len;
        char *json = read_vector(canonical[i], &len);
        struct grove_buf out = {0};
        grove_err err = roundtrip(canonical[i], json, len, &out);
        cr_assert_eq(err, GROVE_OK, "%s: %s", canonical[i], grove_errmsg());
        cr_assert_eq(out.len, len, "%s: %zu bytes back, %zu expected:\n%s", canonical[i], out.len,
                     len, out.data);
        cr_assert(memcmp(out.data, json, len) == 0, "%s differs:\n%s\n%s", canonical[i], out.data,
                  json);
        grove_buf_free(&out);
        free(json);
    }
}

static const char *const shapes[] = {"push_request_go.json", "push_request_ts.json",
                                     "pull_response_go_null.json"};

Test(core_json, foreign_shapes_are_stable_after_one_round_trip)
{
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        size_t len;
        char *json = read_vector(shapes[i], &len);
        struct grove_buf once = {0}, twice = {0};
        cr_assert_eq(roundtrip(shapes[i], json, len, &once), GROVE_OK, "%s: %s", shapes[i],
                     grove_errmsg());
        cr_assert_eq(roundtrip(shapes[i], once.data, once.len, &twice), GROVE_OK, "%s: %s",
                     shapes[i], grove_errmsg());
        cr_assert_str_eq(once.data, twice.data, "%s", shapes[i]);
        grove_buf_free(&once);
        grove_buf_free(&twice);
        free(json);
    }
}

static bool slice_is(struct grove_slice s, const char *text)
{
    return s.ptr && s.len == strlen(text) && memcmp(s.ptr, text, s.len) == 0;
}

Test(core_json, go_server_shapes)
{
    size_t len;
    char *json = read_vector("push_request_go.json", &len);
    struct grove_push_request *req;
    cr_assert_eq(grove_json_decode_push_request(json, len, &req), GROVE_OK, "%s", grove_errmsg());
    cr_assert_eq(req->count, 2);
    const struct grove_change *del = &req->changes[0];
    cr_assert(del->tombstone);
    cr_assert_str_eq(del->field, "_tombstone");
    cr_assert_eq(del->crdt, GROVE_CRDT_NONE);
    cr_assert(!del->has_counter, "counter_delta null is absent");
    cr_assert_eq(del->set_op, GROVE_SET_NONE);
    cr_assert_null(del->value.ptr);
    cr_assert_eq(del->hlc.ts, 1706000003000000000LL);
    cr_assert_eq(del->hlc.c, 2);
    cr_assert_str_eq(del->hlc.node, "go-node");
    /* Go escapes < and > in strings; the raw value keeps its escapes. */
    cr_assert(slice_is(req->changes[1].value, "\"Hello \\u003cb\\u003e\""));
    cr_assert_str_eq(req->node_id, "go-node");
    grove_msg_free(req);
    free(json);

    struct grove_pull_response *resp;
    json = read_vector("pull_response_go_null.json", &len);
    cr_assert_eq(grove_json_decode_pull_response(json, len, &resp), GROVE_OK, "%s", grove_errmsg());
    cr_assert_eq(resp->count, 0);
    struct grove_buf out = {0};
    cr_assert_eq(grove_json_encode_pull_response(resp, &out), GROVE_OK);
    cr_assert(strncmp(out.data, "{\"changes\":[],", 14) == 0, "we encode [], got %s", out.data);
    grove_buf_free(&out);
    grove_msg_free(resp);
    free(json);
}

Test(core_json, ts_client_shapes)
{
    size_t len;
    char *json = read_vector("push_request_ts.json", &len);
    struct grove_push_request *req;
    cr_assert_eq(grove_json_decode_push_request(json, len, &req), GROVE_OK, "%s", grove_errmsg());
    cr_assert_eq(req->count, 3);
    const struct grove_change *set = &req->changes[0];
    cr_assert_eq(set->crdt, GROVE_CRDT_SET);
    cr_assert(slice_is(set->value, "[\"red\",\"blue\"]"), "a set record may carry value");
    cr_assert_eq(set->set_op, GROVE_SET_ADD);
    cr_assert_eq(set->element_count, 1);
    cr_assert(slice_is(set->elements[0], "\"red\""));
    cr_assert_eq(set->hlc.c, 1);
    const struct grove_change *del = &req->changes[1];
    cr_assert(del->tombstone);
    cr_assert_str_eq(del->field, "");
    cr_assert_eq(del->crdt, GROVE_CRDT_LWW);
    const struct grove_change *ctr = &req->changes[2];
    cr_assert(ctr->has_counter);
    cr_assert_eq(ctr->counter_inc, 3);
    cr_assert_eq(ctr->counter_dec, 1);
    cr_assert(!ctr->tombstone);
    grove_msg_free(req);
    free(json);
}

/* Decodes a one-record push request whose hlc and value are given. */
static struct grove_push_request *one_record(const char *hlc, const char *value)
{
    char json[8192];
    snprintf(json, sizeof json,
             "{\"changes\":[{\"table\":\"t\",\"pk\":\"p\",\"field\":\"f\",\"crdt_type\":\"lww\","
             "\"hlc\":%s,\"node_id\":\"n\",\"value\":%s}],\"node_id\":\"n\"}",
             hlc, value);
    struct grove_push_request *req;
    cr_assert_eq(grove_json_decode_push_request(json, strlen(json), &req), GROVE_OK, "%s: %s", json,
                 grove_errmsg());
    return req;
}

/* Encodes req and decodes it again. */
static struct grove_push_request *reencode(const struct grove_push_request *req)
{
    struct grove_buf out = {0};
    struct grove_push_request *back;
    cr_assert_eq(grove_json_encode_push_request(req, &out), GROVE_OK);
    cr_assert_eq(grove_json_decode_push_request(out.data, out.len, &back), GROVE_OK, "%s: %s",
                 out.data, grove_errmsg());
    grove_buf_free(&out);
    return back;
}

Test(core_json, ts_is_exact)
{
    static const struct {
        const char *text;
        int64_t ts;
    } cases[] = {
        {"9223372036854775807", INT64_MAX},
        {"1706000001000000001", 1706000001000000001LL},
        {"1706000001000000002", 1706000001000000002LL},
        {"1000000000000000000", 1000000000000000000LL},
        {"9007199254740993", 9007199254740993LL}, /* 2^53 + 1: a double would lose it */
        {"0", 0},
        {"-0", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char hlc[128];
        snprintf(hlc, sizeof hlc, "{\"ts\":%s,\"c\":0,\"node\":\"n\"}", cases[i].text);
        struct grove_push_request *req = one_record(hlc, "1");
        cr_assert_eq(req->changes[0].hlc.ts, cases[i].ts, "%s", cases[i].text);
        struct grove_push_request *back = reencode(req);
        cr_assert_eq(back->changes[0].hlc.ts, cases[i].ts, "%s after a round trip", cases[i].text);
        grove_msg_free(back);
        grove_msg_free(req);
    }
}

Test(core_json, hlcs_one_ns_apart_keep_their_order)
{
    struct grove_push_request *a =
        one_record("{\"ts\":1706000001000000001,\"c\":0,\"node\":\"n\"}", "1");
    struct grove_push_request *b =
        one_record("{\"ts\":1706000001000000002,\"c\":0,\"node\":\"n\"}", "1");
    cr_assert_lt(grove_hlc_compare(&a->changes[0].hlc, &b->changes[0].hlc), 0);
    struct grove_push_request *a2 = reencode(a), *b2 = reencode(b);
    cr_assert_lt(grove_hlc_compare(&a2->changes[0].hlc, &b2->changes[0].hlc), 0);
    cr_assert_eq(b2->changes[0].hlc.ts - a2->changes[0].hlc.ts, 1);
    grove_msg_free(a);
    grove_msg_free(b);
    grove_msg_free(a2);
    grove_msg_free(b2);
}

Test(core_json, values_pass_through_byte_exact)
{
    static const char *const values[] = {
        "\"a\\u00e9\\n\\\"\\ud83d\\ude00\"",
        "1e400",
        "0.1",
        "-0.0",
        "1.0",
        "1E+2",
        "{ \"z\" : 1,\"a\":{ \"y\":[ ],\"b\" :2 } }",
        "null",
        "true",
        "false",
        "[1, \"two\" ,[3],{}]",
        "\"caf\xc3\xa9 \xf0\x9f\x98\x80 \\/\"",
        "123456789012345678901234567890",
        "{\"dup\":1,\"dup\":2}", /* raw values are RFC JSON: duplicates are the sender's business */
    };
    const char *hlc = "{\"ts\":1,\"c\":0,\"node\":\"n\"}";
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        struct grove_push_request *req = one_record(hlc, values[i]);
        cr_assert(slice_is(req->changes[0].value, values[i]), "value %s came back as %.*s",
                  values[i], (int)req->changes[0].value.len, req->changes[0].value.ptr);
        struct grove_push_request *back = reencode(req);
        cr_assert(slice_is(back->changes[0].value, values[i]), "value %s after a round trip",
                  values[i]);
        grove_msg_free(back);
        grove_msg_free(req);
    }
}

Test(core_json, value_null_is_present_and_absent_is_absent)
{
    const char *hlc = "{\"ts\":1,\"c\":0,\"node\":\"n\"}";
    struct grove_push_request *req = one_record(hlc, "null");
    cr_assert(slice_is(req->changes[0].value, "null"));
    grove_msg_free(req);

    const char *json = "{\"changes\":[{\"table\":\"t\",\"pk\":\"p\",\"field\":\"f\",\"crdt_type\":"
                       "\"counter\",\"hlc\":{\"ts\":1,\"c\":0,\"node\":\"n\"},\"node_id\":\"n\","
                       "\"counter_delta\":{\"inc\":1,\"dec\":0}}],\"node_id\":\"n\"}";
    cr_assert_eq(grove_json_decode_push_request(json, strlen(json), &req), GROVE_OK, "%s",
                 grove_errmsg());
    cr_assert_null(req->changes[0].value.ptr);
    grove_msg_free(req);
}

/* Every file in tests/vectors/invalid is rejected with exactly the message
 * in its .err file. */
Test(core_json, invalid_vectors_are_rejected_with_their_location)
{
    DIR *dir = opendir(VECTORS "invalid");
    cr_assert(dir);
    int checked = 0;
    for (struct dirent *e; (e = readdir(dir));) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".json") != 0)
            continue;
        char path[512], errpath[512];
        snprintf(path, sizeof path, VECTORS "invalid/%s", e->d_name);
        snprintf(errpath, sizeof errpath, VECTORS "invalid/%.*s.err", (int)(n - 5), e->d_name);
        size_t len, elen;
        char *json = support_read_file(path, &len);
        char *expected = support_read_file(errpath, &elen);
        grove_err err;
        if (strncmp(e->d_name, "pull_request", 12) == 0) {
            struct grove_pull_request *m = (void *)1;
            err = grove_json_decode_pull_request(json, len, &m);
            cr_assert_null(m, "%s: *out is NULL on failure", e->d_name);
        } else {
            struct grove_push_request *m = (void *)1;
            err = grove_json_decode_push_request(json, len, &m);
            cr_assert_null(m, "%s: *out is NULL on failure", e->d_name);
        }
        cr_assert_eq(err, GROVE_EINVAL, "%s: accepted or wrong code %s", e->d_name,
                     grove_err_name(err));
        cr_assert_str_eq(grove_errmsg(), expected, "%s", e->d_name);
        free(json);
        free(expected);
        checked++;
    }
    closedir(dir);
    cr_assert_geq(checked, 30, "only %d invalid vectors found", checked);
}

Test(core_json, validate_follows_rfc_8259)
{
    static const char *const good[] = {
        "0",
        "-0",
        "1.5e-7",
        "\"\"",
        "null",
        " [ ] ",
        "{\"a\":1,\"a\":2}",
        "[[[]]]",
        "\"\\u0000\"",
        "\"\\ud83d\\ude00\"",
        "{}",
        "1E400",
        "\t\r\n true \n",
    };
    static const char *const bad[] = {
        "",
        " ",
        "01",
        "1.",
        ".5",
        "+1",
        "1e",
        "--1",
        "[1,]",
        "{,}",
        "[1 2]",
        "{\"a\"}",
        "{\"a\":}",
        "{1:2}",
        "[\"\\ud800\"]",
        "tRue",
        "nulll",
        "\"\\a\"",
        "[",
        "]",
        "{}}",
        "\"\x01\"",
        "'a'",
        "NaN",
        "Infinity",
        "[1]x",
        "\xef\xbb\xbf{}",
        "\"\xc0\x80\"",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        cr_assert_eq(grove_json_validate(good[i], strlen(good[i])), GROVE_OK, "%s: %s", good[i],
                     grove_errmsg());
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(grove_json_validate(bad[i], strlen(bad[i])), GROVE_EINVAL, "%s accepted",
                     bad[i]);
    /* A NUL byte inside the buffer is not the end of the text. */
    cr_assert_eq(grove_json_validate("[1]\0", 4), GROVE_EINVAL);
    cr_assert_eq(grove_json_validate("\"a\0b\"", 5), GROVE_EINVAL);
}

Test(core_json, validate_depth_limit)
{
    char doc[2 * (GROVE_JSON_MAX_DEPTH + 1) + 1];
    for (int depth = GROVE_JSON_MAX_DEPTH; depth <= GROVE_JSON_MAX_DEPTH + 1; depth++) {
        memset(doc, '[', (size_t)depth);
        memset(doc + depth, ']', (size_t)depth);
        grove_err err = grove_json_validate(doc, 2 * (size_t)depth);
        if (depth <= GROVE_JSON_MAX_DEPTH)
            cr_assert_eq(err, GROVE_OK, "depth %d: %s", depth, grove_errmsg());
        else
            cr_assert_str_eq(grove_errmsg(), "nesting deeper than 64"); /* unnamed: a value */
    }
}

Test(core_json, encoder_omits_empty_keys)
{
    struct grove_change c = {
        .table = "t", .pk = "p", .field = "f", .crdt = GROVE_CRDT_LWW, .node_id = "n"};
    c.hlc.ts = 5;
    grove_hlc_set_node(&c.hlc, "n");
    struct grove_buf out = {0};
    cr_assert_eq(grove_json_encode_change(&c, &out), GROVE_OK);
    cr_assert_str_eq(out.data,
                     "{\"table\":\"t\",\"pk\":\"p\",\"field\":\"f\",\"crdt_type\":\"lww\","
                     "\"hlc\":{\"ts\":5,\"c\":0,\"node\":\"n\"},\"node_id\":\"n\"}");
    grove_buf_free(&out);

    struct grove_pull_request req = {0};
    cr_assert_eq(grove_json_encode_pull_request(&req, &out), GROVE_OK);
    cr_assert_str_eq(out.data,
                     "{\"tables\":[],\"since\":{\"ts\":0,\"c\":0,\"node\":\"\"},\"node_id\":\"\"}");
    grove_buf_free(&out);

    struct grove_pull_response resp = {0};
    cr_assert_eq(grove_json_encode_pull_response(&resp, &out), GROVE_OK);
    cr_assert_str_eq(out.data, "{\"changes\":[],\"latest_hlc\":{\"ts\":0,\"c\":0,\"node\":\"\"}}");
    grove_buf_free(&out);

    cr_assert_eq(grove_json_encode_changes(NULL, 0, &out), GROVE_OK);
    cr_assert_str_eq(out.data, "[]");
    grove_buf_free(&out);
}

Test(core_json, encoder_rejects_an_empty_raw_value)
{
    struct grove_change c = {.table = "t", .pk = "p", .field = "f", .crdt = GROVE_CRDT_LWW};
    c.value = (struct grove_slice){"", 0};
    struct grove_buf out = {0};
    cr_assert_eq(grove_json_encode_change(&c, &out), GROVE_EINVAL);
    grove_buf_free(&out);
}

Test(core_json, strings_are_escaped_minimally)
{
    struct grove_buf out = {0};
    const char in[] = "q\"b\\s/\x01\x1f\n\t\x7f\xc3\xa9\xf0\x9f\x98\x80";
    cr_assert_eq(grove_json_encode_string(in, sizeof in - 1, &out), GROVE_OK);
    cr_assert_str_eq(out.data, "\"q\\\"b\\\\s/\\u0001\\u001f\\n\\t\x7f\xc3\xa9\xf0\x9f\x98\x80\"");
    grove_buf_free(&out);

    /* A NUL in the middle is kept as an escape, never truncates. */
    cr_assert_eq(grove_json_encode_string("a\0b", 3, &out), GROVE_OK);
    cr_assert_str_eq(out.data, "\"a\\u0000b\"");
    grove_buf_free(&out);

    /* Malformed UTF-8 (e.g. a cut-off error message) still gives valid JSON. */
    cr_assert_eq(grove_json_encode_string("x\xc3", 2, &out), GROVE_OK);
    cr_assert_str_eq(out.data, "\"x\\ufffd\"");
    cr_assert_eq(grove_json_validate(out.data, out.len), GROVE_OK);
    grove_buf_free(&out);

    cr_assert_eq(grove_json_encode_error("bad \"input\"\n", &out), GROVE_OK);
    cr_assert_str_eq(out.data, "{\"error\":\"bad \\\"input\\\"\\n\"}");
    grove_buf_free(&out);
}

Test(core_json, escaped_strings_decode_to_their_text)
{
    const char *json = "{\"tables\":[\"a\\u00e9\\ud83d\\ude00\",\"t\\\"\\\\\\/\\b\\f\\n\\r\\t\"],"
                       "\"n\\u006fde_id\":\"x\"}";
    struct grove_pull_request *req;
    cr_assert_eq(grove_json_decode_pull_request(json, strlen(json), &req), GROVE_OK, "%s",
                 grove_errmsg());
    cr_assert_eq(req->table_count, 2);
    cr_assert_str_eq(req->tables[0], "a\xc3\xa9\xf0\x9f\x98\x80");
    cr_assert_str_eq(req->tables[1], "t\"\\/\b\f\n\r\t");
    cr_assert_str_eq(req->node_id, "x", "an escaped key is still the key");
    cr_assert(grove_hlc_is_zero(&req->since), "a missing since is the zero HLC");
    cr_assert_eq(req->limit, 0);
    grove_msg_free(req);
}

Test(core_json, since_null_is_zero_and_limit_is_read)
{
    const char *json = "{\"tables\":[],\"since\":null,\"node_id\":\"x\",\"limit\":4294967295}";
    struct grove_pull_request *req;
    cr_assert_eq(grove_json_decode_pull_request(json, strlen(json), &req), GROVE_OK, "%s",
                 grove_errmsg());
    cr_assert(grove_hlc_is_zero(&req->since));
    cr_assert_eq(req->limit, UINT32_MAX);
    grove_msg_free(req);
}

Test(core_json, bare_changes_and_single_change)
{
    size_t len;
    char *json = read_vector("changes.json", &len);
    struct grove_pull_response *resp;
    cr_assert_eq(grove_json_decode_changes(json, len, &resp), GROVE_OK, "%s", grove_errmsg());
    cr_assert_eq(resp->count, 4);
    cr_assert_eq(resp->changes[2].set_op, GROVE_SET_REMOVE);
    grove_msg_free(resp);
    free(json);

    const char *one = "{\"table\":\"t\",\"pk\":\"p\",\"field\":\"f\",\"crdt_type\":\"lww\","
                      "\"hlc\":{\"ts\":1,\"c\":0,\"node\":\"n\"},\"node_id\":\"n\",\"value\":7}";
    cr_assert_eq(grove_json_decode_changes(one, strlen(one), &resp), GROVE_OK, "%s",
                 grove_errmsg());
    cr_assert_eq(resp->count, 1);
    cr_assert(slice_is(resp->changes[0].value, "7"));
    grove_msg_free(resp);

    const char *bad = "[{\"table\":\"t\"}]";
    cr_assert_eq(grove_json_decode_changes(bad, strlen(bad), &resp), GROVE_EINVAL);
    cr_assert_str_eq(grove_errmsg(), "[0]: missing key \"pk\"");
}

Test(core_json, standalone_hlc)
{
    struct grove_hlc h;
    const char *json = " {\"node\":\"node-1\",\"c\":7,\"ts\":1706000000000000123} ";
    cr_assert_eq(grove_json_decode_hlc(json, strlen(json), &h), GROVE_OK, "%s", grove_errmsg());
    cr_assert_eq(h.ts, 1706000000000000123LL);
    cr_assert_eq(h.c, 7);
    cr_assert_str_eq(h.node, "node-1");
    struct grove_buf out = {0};
    cr_assert_eq(grove_json_encode_hlc(&h, &out), GROVE_OK);
    cr_assert_str_eq(out.data, "{\"ts\":1706000000000000123,\"c\":7,\"node\":\"node-1\"}");
    grove_buf_free(&out);
    cr_assert_eq(grove_json_decode_hlc("{\"c\":1}", 7, &h), GROVE_EINVAL);
    cr_assert_str_eq(grove_errmsg(), "body: missing key \"ts\"");
}

Test(core_json, large_body_round_trips)
{
    /* Many records: the container list and the arena grow past their first guesses. */
    enum { N = 5000 };
    struct grove_push_request *req;
    cr_assert_eq(grove_push_request_new(&req), GROVE_OK);
    size_t cap = 0;
    cr_assert_eq(grove_msg_reserve_changes(req, &req->changes, &cap, N), GROVE_OK);
    for (int i = 0; i < N; i++) {
        struct grove_change *c = &req->changes[i];
        c->table = "t";
        c->pk = grove_msg_strndup(req, "pk-with-some-length", 19);
        c->field = "f";
        c->crdt = GROVE_CRDT_COUNTER;
        c->has_counter = true;
        c->counter_inc = i;
        c->hlc.ts = 1706000000000000000LL + i;
        c->node_id = "n";
    }
    req->count = N;
    req->node_id = "n";
    struct grove_push_request *back = reencode(req);
    cr_assert_eq(back->count, N);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(back->changes[i].counter_inc, i);
        cr_assert_eq(back->changes[i].hlc.ts, 1706000000000000000LL + i);
    }
    grove_msg_free(back);
    grove_msg_free(req);
}

/* ---- nesting and cost ---- */

enum { DEEP = 80000 }; /* levels: 480 KB of {"a": took seconds with a quadratic tokenizer */

/* head, then `open` levels times, mid, `close` levels times, then tail. */
static void nest(struct grove_buf *b, const char *head, const char *open, const char *mid,
                 const char *close, size_t levels, const char *tail)
{
    b->len = 0;
    cr_assert_eq(grove_buf_append(b, head, strlen(head)), GROVE_OK);
    for (size_t i = 0; i < levels; i++)
        cr_assert_eq(grove_buf_append(b, open, strlen(open)), GROVE_OK);
    cr_assert_eq(grove_buf_append(b, mid, strlen(mid)), GROVE_OK);
    for (size_t i = 0; i < levels; i++)
        cr_assert_eq(grove_buf_append(b, close, strlen(close)), GROVE_OK);
    cr_assert_eq(grove_buf_append(b, tail, strlen(tail)), GROVE_OK);
}

static const char *const entry_points[] = {
    "validate",      "pull_request", "pull_response", "push_request",
    "push_response", "stream_batch", "changes",       "hlc",
};

/* Runs one decode entry point over json, counting its steps from zero. */
static grove_err decode_as(const char *entry, const struct grove_buf *json)
{
    struct grove_pull_request *pq = NULL;
    struct grove_pull_response *pr = NULL;
    struct grove_push_request *sq = NULL;
    struct grove_push_response *sr = NULL;
    struct grove_hlc h;
    grove_err err;
    grove_jr_steps = 0;
    if (strcmp(entry, "validate") == 0)
        err = grove_json_validate(json->data, json->len);
    else if (strcmp(entry, "pull_request") == 0)
        err = grove_json_decode_pull_request(json->data, json->len, &pq);
    else if (strcmp(entry, "pull_response") == 0)
        err = grove_json_decode_pull_response(json->data, json->len, &pr);
    else if (strcmp(entry, "push_request") == 0)
        err = grove_json_decode_push_request(json->data, json->len, &sq);
    else if (strcmp(entry, "push_response") == 0)
        err = grove_json_decode_push_response(json->data, json->len, &sr);
    else if (strcmp(entry, "stream_batch") == 0)
        err = grove_json_decode_stream_batch(json->data, json->len, &pr);
    else if (strcmp(entry, "changes") == 0)
        err = grove_json_decode_changes(json->data, json->len, &pr);
    else
        err = grove_json_decode_hlc(json->data, json->len, &h);
    grove_msg_free(pq);
    grove_msg_free(pr);
    grove_msg_free(sq);
    grove_msg_free(sr);
    return err;
}

/* Asserts that json is refused with `message` after at most a few steps per
 * byte up to `limit_at`, the byte where the 65th level opens: the decoder
 * stopped there, never read on to the end of the body. */
static void assert_stops_at_limit(const char *entry, const struct grove_buf *json,
                                  const char *message, size_t limit_at)
{
    cr_assert_eq(decode_as(entry, json), GROVE_EINVAL, "%s accepted %zu deep bytes", entry,
                 json->len);
    cr_assert_str_eq(grove_errmsg(), message, "%s", entry);
    cr_assert_leq(grove_jr_steps, 3 * (limit_at + 1), "%s: %zu steps for a limit at byte %zu of %zu",
                  entry, grove_jr_steps, limit_at, json->len);
}

Test(core_json, deep_objects_stop_every_entry_point_at_the_limit)
{
    struct grove_buf b = {0};
    nest(&b, "", "{\"a\":", "1", "}", DEEP, "");
    for (size_t i = 0; i < sizeof entry_points / sizeof entry_points[0]; i++) {
        const char *want = strcmp(entry_points[i], "validate") == 0 ? "nesting deeper than 64"
                                                                    : "a: nesting deeper than 64";
        assert_stops_at_limit(entry_points[i], &b, want, 64 * 5);
    }
    grove_buf_free(&b);
}

Test(core_json, a_megabyte_of_brackets_stops_every_entry_point_at_the_limit)
{
    struct grove_buf b = {0};
    nest(&b, "", "[", "", "", 1 << 20, "");
    for (size_t i = 0; i < sizeof entry_points / sizeof entry_points[0]; i++) {
        const char *entry = entry_points[i];
        /* The typed decoders want an object first; the scan stops at 64 all the same. */
        const char *want = strcmp(entry, "validate") == 0 ? "nesting deeper than 64"
                           : strcmp(entry, "changes") == 0
                               ? "[0]: expected an object, got an array"
                               : "body: expected an object, got an array";
        assert_stops_at_limit(entry, &b, want, 64);
    }
    grove_buf_free(&b);
}

/* An lww record up to its value, and a push or pull body up to there. */
#define RECORD                                                                                     \
    "{\"table\":\"t\",\"pk\":\"p\",\"field\":\"f\",\"crdt_type\":\"lww\","                         \
    "\"hlc\":{\"ts\":1,\"c\":0,\"node\":\"n\"},\"node_id\":\"n\",\"value\":"
#define RECORD_HEAD "{\"changes\":[" RECORD
#define SET_HEAD                                                                                   \
    "{\"changes\":[{\"table\":\"t\",\"pk\":\"p\",\"field\":\"f\",\"crdt_type\":\"set\","           \
    "\"hlc\":{\"ts\":1,\"c\":0,\"node\":\"n\"},\"node_id\":\"n\",\"set_op\":{\"op\":\"add\","      \
    "\"elements\":["

Test(core_json, deep_values_and_elements_stop_at_the_limit)
{
    /* The body, the changes array and the record are three levels, so 61
     * more inside a value reach the limit and the 62nd opens at head + 61
     * pieces; set_op and its elements array take two more. */
    static const struct {
        const char *entry, *head, *open, *mid, *close, *tail, *message;
        size_t free_levels;
    } cases[] = {
        {"push_request", RECORD_HEAD, "[", "", "]", "}],\"node_id\":\"n\"}",
         "changes[0].value: nesting deeper than 64", 61},
        {"push_request", RECORD_HEAD, "{\"a\":", "1", "}", "}],\"node_id\":\"n\"}",
         "changes[0].value: nesting deeper than 64", 61},
        {"pull_response", RECORD_HEAD, "[", "", "]", "}],\"latest_hlc\":null}",
         "changes[0].value: nesting deeper than 64", 61},
        {"stream_batch", RECORD_HEAD, "{\"a\":", "1", "}", "}],\"latest_hlc\":null}",
         "changes[0].value: nesting deeper than 64", 61},
        {"push_request", SET_HEAD, "[", "", "]", "]}}],\"node_id\":\"n\"}",
         "changes[0].set_op.elements[0]: nesting deeper than 64", 59},
    };
    struct grove_buf b = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t head = strlen(cases[i].head), piece = strlen(cases[i].open);
        size_t free_levels = cases[i].free_levels;
        nest(&b, cases[i].head, cases[i].open, cases[i].mid, cases[i].close, DEEP, cases[i].tail);
        assert_stops_at_limit(cases[i].entry, &b, cases[i].message, head + free_levels * piece);
        /* At the limit exactly the record is accepted. */
        nest(&b, cases[i].head, cases[i].open, cases[i].mid, cases[i].close, free_levels,
             cases[i].tail);
        cr_assert_eq(decode_as(cases[i].entry, &b), GROVE_OK, "case %zu: %s", i, grove_errmsg());
        nest(&b, cases[i].head, cases[i].open, cases[i].mid, cases[i].close, free_levels + 1,
             cases[i].tail);
        cr_assert_eq(decode_as(cases[i].entry, &b), GROVE_EINVAL, "case %zu", i);
        cr_assert_str_eq(grove_errmsg(), cases[i].message);
    }
    grove_buf_free(&b);
}

Test(core_json, accepted_bodies_cost_a_few_steps_per_byte)
{
    /* Thousands of records whose values nest to the limit: every close and
     * every comma is O(1), so the steps grow with the bytes and nothing else. */
    enum { RECORDS = 2000 };
    struct grove_buf b = {0}, value = {0};
    nest(&value, "", "[", "\"x\"", "]", 61, "");
    cr_assert_eq(grove_buf_append(&b, "{\"changes\":[", 12), GROVE_OK);
    for (int i = 0; i < RECORDS; i++) {
        if (i)
            cr_assert_eq(grove_buf_append(&b, ",", 1), GROVE_OK);
        cr_assert_eq(grove_buf_append(&b, RECORD, strlen(RECORD)), GROVE_OK);
        cr_assert_eq(grove_buf_append(&b, value.data, value.len), GROVE_OK);
        cr_assert_eq(grove_buf_append(&b, "}", 1), GROVE_OK);
    }
    cr_assert_eq(grove_buf_append(&b, "],\"node_id\":\"n\"}", 16), GROVE_OK);
    cr_assert_eq(decode_as("push_request", &b), GROVE_OK, "%s", grove_errmsg());
    cr_assert_leq(grove_jr_steps, 2 * b.len, "%zu steps for %zu bytes", grove_jr_steps, b.len);
    cr_assert_eq(decode_as("validate", &b), GROVE_OK, "%s", grove_errmsg());
    cr_assert_leq(grove_jr_steps, 2 * b.len, "%zu steps for %zu bytes", grove_jr_steps, b.len);
    grove_buf_free(&value);
    grove_buf_free(&b);
}
