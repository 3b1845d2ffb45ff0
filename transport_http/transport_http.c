/* The HTTP transport's ops tables and the helpers both roles share. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grove/sys/error.h"
#include "grove/transport_http.h"
#include "http_internal.h"

grove_err grove_http_hlc_format(const struct grove_hlc *hlc, struct grove_buf *out)
{
    char num[48];
    int n = snprintf(num, sizeof num, "%" PRId64 ".%" PRIu32 ".", hlc->ts, hlc->c);
    grove_err err = grove_buf_append(out, num, (size_t)n);
    if (err)
        return err;
    return grove_buf_append(out, hlc->node, strlen(hlc->node));
}

/* Reads a non-negative decimal integer of at most max from [*p, end) up to
 * the next '.', advancing *p. */
static bool http_parse_decimal(const char **p, const char *end, int64_t max, int64_t *out)
{
    const char *s = *p;
    if (s == end || *s < '0' || *s > '9')
        return false;
    int64_t v = 0;
    for (; s < end && *s >= '0' && *s <= '9'; s++) {
        int d = *s - '0';
        if (v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    *p = s;
    return true;
}

grove_err grove_http_hlc_parse(const char *text, size_t len, struct grove_hlc *out)
{
    const char *p = text, *end = text + len;
    int64_t ts, c;
    memset(out, 0, sizeof *out);
    if (!http_parse_decimal(&p, end, INT64_MAX, &ts) || p == end || *p++ != '.' ||
        !http_parse_decimal(&p, end, UINT32_MAX, &c) || p == end || *p++ != '.')
        return grove_error_set(GROVE_EINVAL, "bad stream cursor \"%.*s\" (want ts.c.node)",
                               (int)(len > 80 ? 80 : len), text);
    size_t node_len = (size_t)(end - p);
    if (node_len > GROVE_NODE_ID_MAX)
        return grove_error_set(GROVE_EINVAL, "stream cursor node id longer than %d bytes",
                               GROVE_NODE_ID_MAX);
    out->ts = ts;
    out->c = (uint32_t)c;
    memcpy(out->node, p, node_len);
    out->node[node_len] = '\0';
    return GROVE_OK;
}

/* Enough of a JSON string reader for {"error":"..."}: the server side is ours
 * or Grove's, both of which put the message in a top-level "error" member. */
bool grove_http_error_text(const char *body, size_t len, char *out, size_t cap)
{
    static const char key[] = "\"error\"";
    const char *end = body + len;
    const char *p = memmem(body, len, key, sizeof key - 1);
    if (cap == 0)
        return false;
    out[0] = '\0';
    if (!p)
        return false;
    p += sizeof key - 1;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ':'))
        p++;
    if (p == end || *p != '"')
        return false;
    p++;
    size_t n = 0;
    while (p < end && *p != '"' && n + 1 < cap) {
        char ch = *p++;
        if (ch == '\\' && p < end) {
            char esc = *p++;
            switch (esc) {
            case 'n':
                ch = '\n';
                break;
            case 't':
                ch = '\t';
                break;
            case 'r':
                ch = '\r';
                break;
            case 'b':
            case 'f':
                ch = ' ';
                break;
            case 'u':
                /* Non-ASCII escapes are rare in messages: keep a marker. */
                p += (end - p >= 4) ? 4 : end - p;
                ch = '?';
                break;
            default:
                ch = esc; /* \" \\ \/ */
            }
        }
        out[n++] = ch;
    }
    out[n] = '\0';
    return true;
}

static const char *const http_schemes[] = {"http", "https", NULL};

static const struct grove_dialer_ops http_dialer = {
    .open = grove_http_dialer_open,
    .call = grove_http_dialer_call,
    .subscribe = grove_http_dialer_subscribe,
    .cancel = grove_http_dialer_cancel,
    .close = grove_http_dialer_close,
};

static const struct grove_listener_ops http_listener = {
    .open = grove_http_listener_open,
    .close = grove_http_listener_close,
};

static const struct grove_transport http_transport = {
    .name = "http",
    .schemes = http_schemes,
    .codec = &grove_codec_json,
    .dialer = &http_dialer,
    .listener = &http_listener,
};

const struct grove_transport *grove_transport_http(void)
{
    return &http_transport;
}
