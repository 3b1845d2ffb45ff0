/* The SSE parser of the HTTP stream client (transport_http/http_sse_parse.c):
 * any bytes, fed whole and fed in two pieces split where the first byte
 * says, give the same events; each `changes` event's data goes to the JSON
 * decoder as the client would hand it on. */
#include <inttypes.h>

#include "fuzz.h"
#include "grove/json.h"
#include "http_internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

/* Writes each event down, so two feeds can be compared. */
static grove_err fuzz_sse_event(void *user, const struct grove_http_sse *e)
{
    struct grove_buf *log = user;
    char head[160];
    int n =
        snprintf(head, sizeof head, "[%s|%d|%" PRId64 ".%" PRIu32 ".%s|", e->event, e->has_id,
                 e->has_id ? e->id.ts : 0, e->has_id ? e->id.c : 0, e->has_id ? e->id.node : "");
    fuzz_ok(grove_buf_append(log, head, (size_t)n), "logging an event");
    fuzz_ok(grove_buf_append(log, e->data.data ? e->data.data : "", e->data.len), "logging");
    fuzz_ok(grove_buf_append(log, "]", 1), "logging an event");
    if (strcmp(e->event, "changes") == 0 && e->has_data) {
        struct grove_pull_response *batch = NULL;
        grove_json_decode_changes(e->data.data, e->data.len, &batch);
        grove_msg_free(batch);
    }
    return GROVE_OK;
}

static grove_err fuzz_sse_feed(const char *bytes, size_t size, size_t split, struct grove_buf *log)
{
    struct grove_http_sse p = {.on_event = fuzz_sse_event, .user = log};
    grove_err err = grove_http_sse_feed(&p, bytes, split);
    if (!err)
        err = grove_http_sse_feed(&p, bytes + split, size - split);
    grove_http_sse_free(&p);
    return err;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *bytes = (const char *)data;
    size_t split = size ? (unsigned char)bytes[0] % (size + 1) : 0;
    struct grove_buf whole = {0}, pieces = {0};
    grove_err a = fuzz_sse_feed(bytes, size, size, &whole);
    grove_err b = fuzz_sse_feed(bytes, size, split, &pieces);
    if (a != b) {
        fprintf(stderr, "fuzz: fed whole: %s, in two pieces at %zu: %s\n", grove_err_name(a), split,
                grove_err_name(b));
        abort();
    }
    fuzz_same(&whole, &pieces, "events fed whole and in two pieces");
    grove_buf_free(&whole);
    grove_buf_free(&pieces);
    return 0;
}
