/* libFuzzer target for the protobuf codec (grove/codec.h, core/codec_protobuf.c).
 * The first byte picks the message (FUZZ_PB_KINDS, by its value mod 5), the
 * rest is the protobuf payload. Whatever the codec accepts must encode, and
 * its encoding must decode and encode again to the same bytes. It must also
 * cross to the JSON codec: JSON-encoded, the JSON codec accepts it. */
#include "fuzz_protobuf.h"
#include "fuzz.h"
#include "grove/codec.h"

/* fuzz_pb_<name>: the round trip through the protobuf codec, then the JSON one. */
#define FUZZ_PB_MESSAGE(name, type)                                                                \
    static void fuzz_pb_##name(const char *data, size_t len)                                       \
    {                                                                                              \
        const struct grove_codec *pb = &grove_codec_protobuf, *json = &grove_codec_json;           \
        struct grove_##type *m, *back;                                                             \
        struct grove_buf once = {0}, twice = {0}, text = {0};                                      \
        if (pb->decode_##name(data, len, &m))                                                      \
            return;                                                                                \
        fuzz_ok(pb->encode_##name(m, &once), "protobuf encode " #name);                            \
        fuzz_ok(pb->decode_##name(once.data, once.len, &back), "protobuf decode our " #name);      \
        fuzz_ok(pb->encode_##name(back, &twice), "protobuf encode " #name " again");               \
        fuzz_same(&once, &twice, "protobuf " #name);                                               \
        grove_msg_free(back);                                                                      \
        fuzz_ok(json->encode_##name(m, &text), "JSON encode a protobuf " #name);                   \
        fuzz_ok(json->decode_##name(text.data, text.len, &back), "JSON decode a protobuf " #name); \
        grove_msg_free(back);                                                                      \
        grove_msg_free(m);                                                                         \
        grove_buf_free(&once);                                                                     \
        grove_buf_free(&twice);                                                                    \
        grove_buf_free(&text);                                                                     \
    }
FUZZ_PB_MESSAGE(pull_request, pull_request)
FUZZ_PB_MESSAGE(pull_response, pull_response)
FUZZ_PB_MESSAGE(push_request, push_request)
FUZZ_PB_MESSAGE(push_response, push_response)
FUZZ_PB_MESSAGE(stream_batch, pull_response)

static void (*const fuzz_pb_run[FUZZ_PB_KINDS])(const char *data, size_t len) = {
    [FUZZ_PB_PULL_REQUEST] = fuzz_pb_pull_request, [FUZZ_PB_PULL_RESPONSE] = fuzz_pb_pull_response,
    [FUZZ_PB_PUSH_REQUEST] = fuzz_pb_push_request, [FUZZ_PB_PUSH_RESPONSE] = fuzz_pb_push_response,
    [FUZZ_PB_STREAM_BATCH] = fuzz_pb_stream_batch,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    fuzz_pb_run[data[0] % FUZZ_PB_KINDS]((const char *)data + 1, size - 1);
    return 0;
}
