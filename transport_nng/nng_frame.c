/* The nng transport's framing (nng_internal.h): splitting request frames,
 * writing and reading reply frames. Pure functions over bytes, so both roles
 * and the fuzz target use the same code. */
#include <stdio.h>
#include <string.h>

#include "nng_internal.h"
#include "grove/sys/error.h"

grove_err grove_nng_request_parse(const char *frame, size_t len, struct grove_nng_request *out)
{
    const char *nl = len >= 3 && frame[1] == '\n' ? memchr(frame + 2, '\n', len - 2) : NULL;
    if (!nl)
        return grove_error_set(GROVE_EINVAL, "malformed request frame");
    out->op = frame[0];
    out->auth = frame + 2;
    out->auth_len = (size_t)(nl - out->auth);
    out->json = nl + 1;
    out->json_len = len - (size_t)(out->json - frame);
    return GROVE_OK;
}

grove_err grove_nng_reply_error(grove_err err, struct grove_buf *out)
{
    if (err == GROVE_ESHUTDOWN)
        err = GROVE_EUNAVAIL; /* for the client, a closing server is unavailable */
    char head[32];
    int n = snprintf(head, sizeof head, "%c%d\n", NNGT_REPLY_ERROR, (int)err);
    const char *msg = grove_errmsg();
    out->len = 0;
    grove_err e = grove_buf_append(out, head, (size_t)n);
    return e ? e : grove_buf_append(out, msg, strlen(msg));
}

/* An error frame ('E' code '\n' message) as the grove_err it carries. */
static grove_err nng_reply_error_read(const char *frame, size_t len)
{
    size_t i = 1;
    int code = 0;
    while (i < len && frame[i] >= '0' && frame[i] <= '9' && code < 1000)
        code = code * 10 + (frame[i++] - '0');
    if (i == 1 || i >= len || frame[i] != '\n' || code <= GROVE_OK ||
        code > GROVE_ERATELIMIT /* the last code */)
        return grove_error_set(GROVE_EPROTO, "malformed error reply");
    i++;
    int msg_len = len - i > 1000 ? 1000 : (int)(len - i);
    return grove_error_set_native((grove_err)code, code, "%.*s", msg_len, frame + i);
}

grove_err grove_nng_reply_parse(const char *frame, size_t len, const char **json, size_t *json_len,
                                bool *idle)
{
    *idle = false;
    if (len >= 1 && frame[0] == NNGT_REPLY_OK) {
        *json = frame + 1;
        *json_len = len - 1;
        return GROVE_OK;
    }
    if (len == 1 && frame[0] == NNGT_REPLY_IDLE) {
        *idle = true;
        return GROVE_OK;
    }
    if (len >= 1 && frame[0] == NNGT_REPLY_ERROR)
        return nng_reply_error_read(frame, len);
    return grove_error_set(GROVE_EPROTO, "unexpected reply (%zu bytes)", len);
}
