/* The protobuf mapping: every JSON vector goes JSON -> model -> protobuf ->
 * bytes -> protobuf -> model -> JSON and must come back identical; bad
 * protobuf and invalid content fail with GROVE_EINVAL and a located message. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grove/codec.h"
#include "grove/json.h"
#include "support.h"

enum kind { PULL_REQUEST, PULL_RESPONSE, PUSH_REQUEST, PUSH_RESPONSE, STREAM_BATCH };

/* Canonical JSON of the message after a trip through protobuf. */
static void round_trip(enum kind kind, const char *json, size_t len, struct grove_buf *direct,
                       struct grove_buf *via)
{
    struct grove_buf pb = {0};
    grove_err err;
    switch (kind) {
    case PULL_REQUEST: {
        struct grove_pull_request *a = NULL, *b = NULL;
        cr_assert_eq(grove_json_decode_pull_request(json, len, &a), GROVE_OK, "%s", grove_errmsg());
        cr_assert_eq(grove_json_encode_pull_request(a, direct), GROVE_OK);
        cr_assert_eq(grove_codec_protobuf.encode_pull_request(a, &pb), GROVE_OK);
        err = grove_codec_protobuf.decode_pull_request(pb.data, pb.len, &b);
        cr_assert_eq(err, GROVE_OK, "%s", grove_errmsg());
        cr_assert_eq(grove_json_encode_pull_request(b, via), GROVE_OK);
        grove_msg_free(a);
        grove_msg_free(b);
        break;
    }
    case PULL_RESPONSE:
    case STREAM_BATCH: {
        struct grove_pull_response *a = NULL, *b = NULL;
        cr_assert_eq(grove_json_decode_pull_response(json, len, &a), GROVE_OK, "%s",
                     grove_errmsg());
        cr_assert_eq(grove_json_encode_pull_response(a, direct), GROVE_OK);
        if (kind == PULL_RESPONSE) {
            cr_assert_eq(grove_codec_protobuf.encode_pull_response(a, &pb), GROVE_OK);
            err = grove_codec_protobuf.decode_pull_response(pb.data, pb.len, &b);
        } else {
            a->since = a->latest_hlc;
            a->since.c = 7;
            a->has_more = false; /* not carried by stream batches */
            grove_buf_free(direct);
            cr_assert_eq(grove_json_encode_pull_response(a, direct), GROVE_OK);
            cr_assert_eq(grove_codec_protobuf.encode_stream_batch(a, &pb), GROVE_OK);
            err = grove_codec_protobuf.decode_stream_batch(pb.data, pb.len, &b);
        }
        cr_assert_eq(err, GROVE_OK, "%s", grove_errmsg());
        if (kind == STREAM_BATCH)
            cr_assert_eq(grove_hlc_compare(&a->since, &b->since), 0);
        cr_assert_eq(grove_json_encode_pull_response(b, via), GROVE_OK);
        grove_msg_free(a);
        grove_msg_free(b);
        break;
    }
    case PUSH_REQUEST: {
        struct grove_push_request *a = NULL, *b = NULL;
        cr_assert_eq(grove_json_decode_push_request(json, len, &a), GROVE_OK, "%s", grove_errmsg());
        cr_assert_eq(grove_json_encode_push_request(a, direct), GROVE_OK);
        cr_assert_eq(grove_codec_protobuf.encode_push_request(a, &pb), GROVE_OK);
        err = grove_codec_protobuf.decode_push_request(pb.data, pb.len, &b);
        cr_assert_eq(err, GROVE_OK, "%s", grove_errmsg());
        cr_assert_eq(grove_json_encode_push_request(b, via), GROVE_OK);
        grove_msg_free(a);
        grove_msg_free(b);
        break;
    }
    case PUSH_RESPONSE: {
        struct grove_push_response *a = NULL, *b = NULL;
        cr_assert_eq(grove_json_decode_push_response(json, len, &a), GROVE_OK, "%s",
                     grove_errmsg());
        cr_assert_eq(grove_json_encode_push_response(a, direct), GROVE_OK);
        cr_assert_eq(grove_codec_protobuf.encode_push_response(a, &pb), GROVE_OK);
        err = grove_codec_protobuf.decode_push_response(pb.data, pb.len, &b);
        cr_assert_eq(err, GROVE_OK, "%s", grove_errmsg());
        cr_assert_eq(grove_json_encode_push_response(b, via), GROVE_OK);
        grove_msg_free(a);
        grove_msg_free(b);
        break;
    }
    }
    grove_buf_free(&pb);
}

static void check_identical(enum kind kind, const char *json, size_t len, const char *name)
{
    struct grove_buf direct = {0}, via = {0};
    round_trip(kind, json, len, &direct, &via);
    cr_assert_eq(direct.len, via.len, "%s: %s\n!=\n%s", name, direct.data, via.data);
    cr_assert(memcmp(direct.data, via.data, direct.len) == 0, "%s: %s\n!=\n%s", name, direct.data,
              via.data);
    grove_buf_free(&direct);
    grove_buf_free(&via);
}

static const char push_vector[] =
    "{\"changes\":["
    "{\"table\":\"documents\",\"pk\":\"doc-1\",\"field\":\"title\",\"crdt_type\":\"lww\","
    "\"hlc\":{\"ts\":1706000001000000123,\"c\":4294967295,\"node\":\"node-2\"},"
    "\"node_id\":\"node-2\",\"value\":\"\\\"Updated Title\\\"\"},"
    "{\"table\":\"documents\",\"pk\":\"doc-1\",\"field\":\"meta\",\"crdt_type\":\"lww\","
    "\"hlc\":{\"ts\":1706000001000000124,\"c\":0,\"node\":\"n\\u00e9\"},"
    "\"node_id\":\"node-2\",\"value\":{\"a\":1,\"b\":[true,null],\"f\":0.1,\"e\":1e400}},"
    "{\"table\":\"documents\",\"pk\":\"doc-1\",\"field\":\"gone\",\"crdt_type\":\"lww\","
    "\"hlc\":{\"ts\":1,\"c\":0,\"node\":\"x\"},\"node_id\":\"x\",\"value\":null},"
    "{\"table\":\"documents\",\"pk\":\"doc-2\",\"field\":\"views\",\"crdt_type\":\"counter\","
    "\"hlc\":{\"ts\":9223372036854775807,\"c\":1,\"node\":\"a\"},\"node_id\":\"a\","
    "\"counter_delta\":{\"inc\":9223372036854775807,\"dec\":0}},"
    "{\"table\":\"documents\",\"pk\":\"doc-2\",\"field\":\"tags\",\"crdt_type\":\"set\","
    "\"hlc\":{\"ts\":5,\"c\":0,\"node\":\"a\"},\"node_id\":\"a\","
    "\"set_op\":{\"op\":\"add\",\"elements\":[\"x\",{\"k\":[1,2]},3.25,null]}},"
    "{\"table\":\"documents\",\"pk\":\"doc-2\",\"field\":\"tags\",\"crdt_type\":\"set\","
    "\"hlc\":{\"ts\":6,\"c\":0,\"node\":\"a\"},\"node_id\":\"a\","
    "\"set_op\":{\"op\":\"remove\",\"elements\":[]}},"
    "{\"table\":\"documents\",\"pk\":\"doc-3\",\"field\":\"_tombstone\",\"crdt_type\":\"\","
    "\"hlc\":{\"ts\":7,\"c\":0,\"node\":\"a\"},\"node_id\":\"a\",\"tombstone\":true},"
    "{\"table\":\"documents\",\"pk\":\"doc-4\",\"field\":\"\",\"crdt_type\":\"lww\","
    "\"hlc\":{\"ts\":8,\"c\":0,\"node\":\"a\"},\"node_id\":\"a\",\"tombstone\":true}"
    "],\"node_id\":\"node-1\"}";

Test(core_codec_protobuf, push_request_round_trip)
{
    check_identical(PUSH_REQUEST, push_vector, strlen(push_vector), "push");
}

Test(core_codec_protobuf, pull_response_and_stream_batch_round_trip)
{
    /* The same records as a pull response with has_more. */
    char json[sizeof push_vector + 200];
    const char *arr = strchr(push_vector, '[');
    const char *end = strrchr(push_vector, ']');
    snprintf(json, sizeof json,
             "{\"changes\":%.*s,\"latest_hlc\":{\"ts\":1706000002000000000,\"c\":3,"
             "\"node\":\"node-2\"},\"has_more\":true}",
             (int)(end - arr + 1), arr);
    check_identical(PULL_RESPONSE, json, strlen(json), "pull response");
    check_identical(STREAM_BATCH, json, strlen(json), "stream batch");
    static const char empty[] = "{\"changes\":[],\"latest_hlc\":{\"ts\":0,\"c\":0,\"node\":\"\"}}";
    check_identical(PULL_RESPONSE, empty, strlen(empty), "empty pull response");
}

Test(core_codec_protobuf, pull_request_and_push_response_round_trip)
{
    static const char pull[] = "{\"tables\":[\"documents\",\"comments\"],\"since\":{\"ts\":"
                               "1706000000000000001,\"c\":2,\"node\":\"node-1\"},\"node_id\":"
                               "\"node-1\",\"limit\":50}";
    static const char pull_min[] = "{\"tables\":[],\"node_id\":\"\"}";
    static const char push_resp[] =
        "{\"merged\":5,\"latest_hlc\":{\"ts\":1706000002000000000,\"c\":0,\"node\":\"node-2\"}}";
    check_identical(PULL_REQUEST, pull, strlen(pull), "pull request");
    check_identical(PULL_REQUEST, pull_min, strlen(pull_min), "minimal pull request");
    check_identical(PUSH_RESPONSE, push_resp, strlen(push_resp), "push response");
}

/* Two HLCs 1 ns apart keep their order through protobuf (docs/protocol.md). */
Test(core_codec_protobuf, hlc_one_ns_apart_keeps_order)
{
    struct grove_pull_request *req = NULL, *back = NULL;
    cr_assert_eq(grove_pull_request_new(&req), GROVE_OK);
    req->since.ts = 1706000001000000123;
    struct grove_buf pb = {0};
    cr_assert_eq(grove_codec_protobuf.encode_pull_request(req, &pb), GROVE_OK);
    cr_assert_eq(grove_codec_protobuf.decode_pull_request(pb.data, pb.len, &back), GROVE_OK);
    cr_assert_eq(back->since.ts, 1706000001000000123);
    struct grove_hlc later = back->since;
    later.ts++;
    cr_assert_lt(grove_hlc_compare(&back->since, &later), 0);
    grove_buf_free(&pb);
    grove_msg_free(req);
    grove_msg_free(back);
}

/* Golden vectors shared with the JSON codec, when present. The message type
 * comes from the file name. */
static bool kind_of(const char *name, enum kind *out)
{
    static const struct {
        const char *key;
        enum kind kind;
    } map[] = {{"pull_request", PULL_REQUEST},
               {"pull_response", PULL_RESPONSE},
               {"push_request", PUSH_REQUEST},
               {"push_response", PUSH_RESPONSE}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        if (strstr(name, map[i].key)) {
            *out = map[i].kind;
            return true;
        }
    }
    return false;
}

Test(core_codec_protobuf, golden_vectors_round_trip)
{
    const char *dir_path = GROVE_SOURCE_DIR "/tests/vectors";
    DIR *dir = opendir(dir_path);
    if (!dir)
        cr_skip_test("no %s yet", dir_path);
    struct dirent *e;
    int checked = 0;
    while ((e = readdir(dir))) {
        enum kind kind;
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 5, ".json") != 0 || !kind_of(e->d_name, &kind))
            continue;
        /* Vectors meant to be rejected have no valid protobuf form. */
        if (strstr(e->d_name, "invalid") || strstr(e->d_name, "bad"))
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir_path, e->d_name);
        size_t len;
        char *json = support_read_file(path, &len);
        check_identical(kind, json, len, e->d_name);
        free(json);
        checked++;
    }
    closedir(dir);
    cr_log_info("%d golden vectors", checked);
}

static grove_err decode_push(const void *data, size_t len)
{
    struct grove_push_request *req = NULL;
    grove_err err = grove_codec_protobuf.decode_push_request(data, len, &req);
    cr_assert(err ? req == NULL : req != NULL);
    grove_msg_free(req);
    return err;
}

Test(core_codec_protobuf, malformed_bytes_are_einval)
{
    static const unsigned char junk[] = {0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f};
    cr_assert_eq(decode_push(junk, sizeof junk), GROVE_EINVAL);
    cr_assert(strstr(grove_errmsg(), "malformed protobuf PushRequest"), "%s", grove_errmsg());
}

/* Encodes a push request with one change edited by `edit`, then decodes it. */
static grove_err push_with(void (*edit)(struct grove_change *c))
{
    struct grove_push_request *req = NULL;
    cr_assert_eq(grove_json_decode_push_request(push_vector, strlen(push_vector), &req), GROVE_OK);
    edit(&req->changes[1]);
    struct grove_buf pb = {0};
    cr_assert_eq(grove_codec_protobuf.encode_push_request(req, &pb), GROVE_OK);
    grove_err err = decode_push(pb.data, pb.len);
    grove_buf_free(&pb);
    grove_msg_free(req);
    return err;
}

static void bad_value(struct grove_change *c)
{
    c->value.ptr = "{\"a\":";
    c->value.len = 5;
}
static void bad_crdt_field(struct grove_change *c)
{
    c->field = "";
}
static void bad_utf8(struct grove_change *c)
{
    c->pk = "\xc3\x28";
}
static void bad_element(struct grove_change *c)
{
    static struct grove_slice el = {"tru", 3};
    c->set_op = GROVE_SET_ADD;
    c->elements = &el;
    c->element_count = 1;
}

Test(core_codec_protobuf, invalid_content_is_einval_with_location)
{
    cr_assert_eq(push_with(bad_value), GROVE_EINVAL);
    cr_assert(strstr(grove_errmsg(), "changes[1].value"), "%s", grove_errmsg());
    cr_assert_eq(push_with(bad_crdt_field), GROVE_EINVAL);
    cr_assert(strstr(grove_errmsg(), "changes[1]"), "%s", grove_errmsg());
    cr_assert_eq(push_with(bad_utf8), GROVE_EINVAL);
    cr_assert(strstr(grove_errmsg(), "changes[1].pk"), "%s", grove_errmsg());
    cr_assert_eq(push_with(bad_element), GROVE_EINVAL);
    cr_assert(strstr(grove_errmsg(), "changes[1].set_op.elements[0]"), "%s", grove_errmsg());
}

/* An unknown crdt_type is refused, as by the JSON codec. */
Test(core_codec_protobuf, unknown_crdt_type_is_einval)
{
    /* ChangeRecord{crdt_type:"mvr", hlc:{}} inside PushRequest.changes. */
    static const unsigned char rec[] = {0x0a, 0x07, 0x22, 0x03, 'm', 'v', 'r', 0x2a, 0x00};
    cr_assert_eq(decode_push(rec, sizeof rec), GROVE_EINVAL);
    cr_assert(strstr(grove_errmsg(), "crdt_type"), "%s", grove_errmsg());
}
