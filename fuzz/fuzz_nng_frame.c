/* The nng transport's frames (transport_nng/nng_frame.c): any bytes as a
 * request frame and as a reply frame. A split request's parts lie inside the
 * frame and add up to it; its JSON goes to the codec as the server would
 * hand it on; an error reply read back is written again and reads the same. */
#include "fuzz.h"
#include "grove/codec.h"
#include "grove/sys/error.h"
#include "nng_internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static void fuzz_request(const char *frame, size_t size)
{
    struct grove_nng_request req;
    if (grove_nng_request_parse(frame, size, &req) != GROVE_OK)
        return;
    if (req.auth != frame + 2 || req.auth + req.auth_len + 1 != req.json ||
        req.json + req.json_len != frame + size) {
        fprintf(stderr, "fuzz: the parts of a request frame do not add up to it\n");
        abort();
    }
    grove_bearer_check("s3cret", req.auth_len ? req.auth : NULL, req.auth_len);
    if (req.op == NNGT_OP_PUSH) {
        struct grove_push_request *push = NULL;
        grove_codec_json.decode_push_request(req.json, req.json_len, &push);
        grove_msg_free(push);
    } else {
        struct grove_pull_request *pull = NULL;
        grove_codec_json.decode_pull_request(req.json, req.json_len, &pull);
        grove_msg_free(pull);
    }
}

static void fuzz_reply(const char *frame, size_t size)
{
    const char *json = NULL;
    size_t len = 0;
    bool idle;
    grove_err err = grove_nng_reply_parse(frame, size, &json, &len, &idle);
    if (!err && !idle) {
        struct grove_pull_response *batch = NULL;
        grove_codec_json.decode_stream_batch(json, len, &batch);
        grove_msg_free(batch);
        return;
    }
    if (err == GROVE_EPROTO || !(size > 0 && frame[0] == NNGT_REPLY_ERROR))
        return;
    /* An error frame: written again from what was read, it reads the same. */
    char message[1100];
    snprintf(message, sizeof message, "%s", grove_errmsg());
    struct grove_buf again = {0};
    grove_error_set(err, "%s", message);
    fuzz_ok(grove_nng_reply_error(err, &again), "writing an error frame");
    grove_err back = grove_nng_reply_parse(again.data, again.len, &json, &len, &idle);
    grove_err want = err == GROVE_ESHUTDOWN ? GROVE_EUNAVAIL : err;
    if (back != want || strcmp(grove_errmsg(), message) != 0) {
        fprintf(stderr, "fuzz: error frame %s \"%s\" read back as %s \"%s\"\n",
                grove_err_name(want), message, grove_err_name(back), grove_errmsg());
        abort();
    }
    grove_buf_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_request((const char *)data, size);
    fuzz_reply((const char *)data, size);
    return 0;
}
