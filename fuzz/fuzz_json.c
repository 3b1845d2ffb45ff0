/* libFuzzer target for one JSON decode entry point, named at build time by
 * FUZZ_JSON_ENTRY (fuzz/CMakeLists.txt builds one binary per entry point).
 * Whatever the entry point accepts must be valid JSON (grove_json_validate),
 * must encode, and its encoding must decode and encode again to the same
 * bytes. grove_json_validate's target sends each value it accepts through a
 * push request as a record's raw value, which must come back byte-exact. */
#include "fuzz.h"
#include "grove/json.h"

#ifndef FUZZ_JSON_ENTRY
#error "define FUZZ_JSON_ENTRY to the name of a decode entry point"
#endif

/* Accepted by a typed decoder: then the grammar check accepts it too. */
static void fuzz_json_valid(const char *data, size_t len)
{
    fuzz_ok(grove_json_validate(data, len), "grove_json_validate of an accepted message");
}

/* fuzz_json_<name>: decode with grove_json_decode_<name>, then the round trip
 * through grove_json_encode_<name>. */
#define FUZZ_JSON_MESSAGE(name, type)                                                              \
    static void fuzz_json_##name(const char *data, size_t len)                                     \
    {                                                                                              \
        struct grove_##type *m;                                                                    \
        struct grove_buf once = {0}, twice = {0};                                                  \
        if (grove_json_decode_##name(data, len, &m))                                               \
            return;                                                                                \
        fuzz_json_valid(data, len);                                                                \
        fuzz_ok(grove_json_encode_##name(m, &once), "encode " #name);                              \
        grove_msg_free(m);                                                                         \
        fuzz_ok(grove_json_decode_##name(once.data, once.len, &m), "decode our " #name);           \
        fuzz_ok(grove_json_encode_##name(m, &twice), "encode " #name " again");                    \
        fuzz_same(&once, &twice, #name);                                                           \
        grove_msg_free(m);                                                                         \
        grove_buf_free(&once);                                                                     \
        grove_buf_free(&twice);                                                                    \
    }
FUZZ_JSON_MESSAGE(pull_request, pull_request)
FUZZ_JSON_MESSAGE(pull_response, pull_response)
FUZZ_JSON_MESSAGE(push_request, push_request)
FUZZ_JSON_MESSAGE(push_response, push_response)
FUZZ_JSON_MESSAGE(stream_batch, pull_response)

static void fuzz_json_changes(const char *data, size_t len)
{
    struct grove_pull_response *m;
    struct grove_buf once = {0}, twice = {0};
    if (grove_json_decode_changes(data, len, &m))
        return;
    fuzz_json_valid(data, len);
    fuzz_ok(grove_json_encode_changes(m->changes, m->count, &once), "encode changes");
    grove_msg_free(m);
    fuzz_ok(grove_json_decode_changes(once.data, once.len, &m), "decode our changes");
    fuzz_ok(grove_json_encode_changes(m->changes, m->count, &twice), "encode changes again");
    fuzz_same(&once, &twice, "changes");
    grove_msg_free(m);
    grove_buf_free(&once);
    grove_buf_free(&twice);
}

static void fuzz_json_hlc(const char *data, size_t len)
{
    struct grove_hlc h;
    struct grove_buf once = {0}, twice = {0};
    if (grove_json_decode_hlc(data, len, &h))
        return;
    fuzz_json_valid(data, len);
    fuzz_ok(grove_json_encode_hlc(&h, &once), "encode hlc");
    fuzz_ok(grove_json_decode_hlc(once.data, once.len, &h), "decode our hlc");
    fuzz_ok(grove_json_encode_hlc(&h, &twice), "encode hlc again");
    fuzz_same(&once, &twice, "hlc");
    grove_buf_free(&once);
    grove_buf_free(&twice);
}

static bool fuzz_json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* A push request of one lww record whose value is the text given. */
static grove_err fuzz_json_carry(const char *value, size_t len, struct grove_buf *out)
{
    struct grove_push_request req = {.node_id = "n", .count = 1};
    struct grove_change c = {
        .table = "t", .pk = "p", .field = "f", .crdt = GROVE_CRDT_LWW, .node_id = "n"};
    c.hlc.ts = 1;
    c.value = (struct grove_slice){value, len};
    req.changes = &c;
    return grove_json_encode_push_request(&req, out);
}

static void fuzz_json_validate(const char *data, size_t len)
{
    struct grove_push_request *m;
    struct grove_buf once = {0}, twice = {0};
    if (grove_json_validate(data, len))
        return;
    /* A raw value is kept without the whitespace around it. */
    size_t start = 0, end = len;
    while (fuzz_json_space(data[start]))
        start++;
    while (fuzz_json_space(data[end - 1]))
        end--;
    fuzz_ok(fuzz_json_carry(data + start, end - start, &once), "encode a record carrying it");
    grove_err err = grove_json_decode_push_request(once.data, once.len, &m);
    if (err && strstr(grove_errmsg(), "nesting deeper than")) {
        grove_buf_free(&once); /* valid alone, too deep three levels down a push */
        return;
    }
    fuzz_ok(err, "decode the record carrying it");
    const struct grove_slice *v = &m->changes[0].value;
    if (v->len != end - start || memcmp(v->ptr, data + start, v->len) != 0) {
        fprintf(stderr, "fuzz: the value did not come back byte-exact: %.*s\n", (int)v->len,
                v->ptr);
        abort();
    }
    fuzz_ok(grove_json_encode_push_request(m, &twice), "encode the record again");
    fuzz_same(&once, &twice, "record carrying the value");
    grove_msg_free(m);
    grove_buf_free(&once);
    grove_buf_free(&twice);
}

static const struct {
    const char *name;
    void (*run)(const char *data, size_t len);
} fuzz_json_entries[] = {
    {"pull_request", fuzz_json_pull_request},
    {"pull_response", fuzz_json_pull_response},
    {"push_request", fuzz_json_push_request},
    {"push_response", fuzz_json_push_response},
    {"stream_batch", fuzz_json_stream_batch},
    {"changes", fuzz_json_changes},
    {"hlc", fuzz_json_hlc},
    {"validate", fuzz_json_validate},
};

static void (*fuzz_json_run)(const char *data, size_t len);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    for (size_t i = 0; i < sizeof fuzz_json_entries / sizeof fuzz_json_entries[0]; i++)
        if (strcmp(fuzz_json_entries[i].name, FUZZ_JSON_ENTRY) == 0)
            fuzz_json_run = fuzz_json_entries[i].run;
    if (!fuzz_json_run) {
        fprintf(stderr, "fuzz_json: unknown entry point %s\n", FUZZ_JSON_ENTRY);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_json_run((const char *)data, size);
    return 0;
}
