/* The SSE event parser of the stream client (http_internal.h): LF-framed
 * lines of any length, `event:`, `data:` (joined by LF) and `id:` fields,
 * comments, and an event dispatched at each blank line. Free of curl, so a
 * fuzz target drives it with any bytes in any pieces. */
#include <string.h>

#include "http_internal.h"
#include "grove/sys/error.h"

static void http_sse_reset(struct grove_http_sse *p)
{
    p->event[0] = '\0';
    p->data.len = 0;
    p->has_data = false;
    p->has_id = false;
}

static grove_err http_sse_line(struct grove_http_sse *p, const char *s, size_t n)
{
    if (n == 0) {
        grove_err err = p->on_event(p->user, p);
        http_sse_reset(p);
        return err;
    }
    if (s[0] == ':')
        return GROVE_OK; /* comment: keep-alive */
    const char *colon = memchr(s, ':', n);
    size_t name_len = colon ? (size_t)(colon - s) : n;
    const char *value = colon ? colon + 1 : s + n;
    size_t value_len = (size_t)(s + n - value);
    if (value_len > 0 && value[0] == ' ') {
        value++;
        value_len--;
    }
    if (name_len == 5 && memcmp(s, "event", 5) == 0) {
        size_t k = value_len < sizeof p->event - 1 ? value_len : sizeof p->event - 1;
        memcpy(p->event, value, k);
        p->event[k] = '\0';
    } else if (name_len == 4 && memcmp(s, "data", 4) == 0) {
        grove_err err = GROVE_OK;
        if (p->has_data)
            err = grove_buf_append(&p->data, "\n", 1);
        if (!err)
            err = grove_buf_append(&p->data, value, value_len);
        if (err)
            return err;
        p->has_data = true;
    } else if (name_len == 2 && memcmp(s, "id", 2) == 0 && p->id_opaque) {
        if (value_len >= sizeof p->id_text)
            return grove_error_set(GROVE_EPROTO, "bad stream event id: longer than %zu bytes",
                                   sizeof p->id_text - 1);
        memcpy(p->id_text, value, value_len);
        p->id_text[value_len] = '\0';
        p->has_id = true;
    } else if (name_len == 2 && memcmp(s, "id", 2) == 0) {
        grove_err err = grove_http_hlc_parse(value, value_len, &p->id);
        if (err)
            return grove_error_prefix(GROVE_EPROTO, "bad stream event id: ");
        p->has_id = true;
    }
    return GROVE_OK; /* retry: and unknown fields are ignored, as SSE says */
}

grove_err grove_http_sse_feed(struct grove_http_sse *p, const char *bytes, size_t n)
{
    const char *at = bytes, *end = bytes + n;
    while (at < end) {
        const char *nl = memchr(at, '\n', (size_t)(end - at));
        if (!nl)
            return grove_buf_append(&p->line, at, (size_t)(end - at));
        grove_err err;
        if (p->line.len > 0) {
            /* A line split across reads: assemble it first. */
            err = grove_buf_append(&p->line, at, (size_t)(nl - at));
            if (!err)
                err = http_sse_line(p, p->line.data, p->line.len);
            p->line.len = 0;
        } else {
            err = http_sse_line(p, at, (size_t)(nl - at));
        }
        if (err)
            return err;
        at = nl + 1;
    }
    return GROVE_OK;
}

void grove_http_sse_free(struct grove_http_sse *p)
{
    grove_buf_free(&p->line);
    grove_buf_free(&p->data);
}
