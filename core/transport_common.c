/* What every transport needs the same way (grove/sys/transport.h): URL
 * parsing, the status mapping, bearer tokens, reading certificate files,
 * clients' addresses. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "grove/sys/transport.h"
#include "grove/sys/error.h"

grove_err grove_url_parse(const char *url, struct grove_url *out)
{
    memset(out, 0, sizeof *out);
    out->text = url;
    for (const unsigned char *c = (const unsigned char *)url; *c; c++)
        if (*c <= ' ' || *c == 0x7f)
            return grove_error_set(GROVE_EINVAL,
                                   "\"%s\": a URL has no spaces or control characters", url);
    const char *sep = strstr(url, "://");
    if (!sep || sep == url || (size_t)(sep - url) >= sizeof out->scheme)
        return grove_error_set(GROVE_EINVAL, "\"%s\" is not a URL (expected scheme://...)", url);
    memcpy(out->scheme, url, (size_t)(sep - url));
    const char *host = sep + 3;
    const char *label = strchr(host, '#');
    size_t rest_len = label ? (size_t)(label - host) : strlen(host);
    if (label) {
        if (strlen(label + 1) >= sizeof out->label)
            return grove_error_set(GROVE_EINVAL, "%s: #label too long", url);
        memcpy(out->label, label + 1, strlen(label + 1));
    }
    if (memchr(host, '?', rest_len))
        return grove_error_set(GROVE_EINVAL, "%s: a URL here takes no query string", url);
    const char *path = memchr(host, '/', rest_len);
    size_t hostport_len = path ? (size_t)(path - host) : rest_len;
    if (memchr(host, '@', hostport_len))
        return grove_error_set(
            GROVE_EINVAL, "%s: credentials in the URL are not supported (use a token option)", url);
    const char *hostport_end = host + hostport_len;
    const char *port = NULL;
    size_t host_len = hostport_len;
    if (host[0] == '[') {
        const char *close = memchr(host, ']', hostport_len);
        if (!close)
            return grove_error_set(GROVE_EINVAL, "%s: unterminated [ in host", url);
        if (close + 1 < hostport_end && close[1] != ':')
            return grove_error_set(GROVE_EINVAL, "%s: bad port", url);
        port = close + 1 < hostport_end ? close + 2 : NULL;
        host_len = (size_t)(close - host - 1);
        host++;
    } else {
        const char *colon = memchr(host, ':', hostport_len);
        if (colon) {
            host_len = (size_t)(colon - host);
            port = colon + 1;
        }
    }
    if (host_len >= sizeof out->host)
        return grove_error_set(GROVE_EINVAL, "%s: host too long", url);
    memcpy(out->host, host, host_len);
    if (port) {
        long p = 0;
        const char *d = port;
        for (; d < hostport_end && *d >= '0' && *d <= '9' && p <= 65535; d++)
            p = p * 10 + (*d - '0');
        if (d == port || d != hostport_end || p > 65535)
            return grove_error_set(GROVE_EINVAL, "%s: bad port", url);
        out->port = (int)p;
    }
    if (path) {
        size_t n = rest_len - (size_t)(path - (sep + 3));
        while (n > 0 && path[n - 1] == '/')
            n--; /* "http://h/sync/" and "http://h/sync" are the same base */
        if (n >= sizeof out->path)
            return grove_error_set(GROVE_EINVAL, "%s: path too long", url);
        memcpy(out->path, path, n);
    }
    return GROVE_OK;
}

/* One row per code: the status a server answers for it, and the statuses a
 * client reads back as it (the first row with the status). Rows marked
 * `reverse` only map back. A gRPC RESOURCE_EXHAUSTED reads back as ETOOBIG,
 * even when a rate limit answered it: gRPC answers it for an oversized
 * message too, which no retry cures. */
static const struct status_row {
    grove_err err;
    int http;
    int grpc;
    bool reverse;
} status_rows[] = {
    {GROVE_OK, 200, 0, false},         {GROVE_EINVAL, 400, 3, false}, /* INVALID_ARGUMENT */
    {GROVE_EAUTH, 401, 16, false},                                    /* UNAUTHENTICATED */
    {GROVE_EFORBIDDEN, 403, 7, false},                                /* PERMISSION_DENIED */
    {GROVE_ENOTFOUND, 404, 5, false},                                 /* NOT_FOUND */
    {GROVE_ETOOBIG, 413, 8, false},                                   /* RESOURCE_EXHAUSTED */
    {GROVE_ENOTSUP, 501, 12, false},                                  /* UNIMPLEMENTED */
    {GROVE_ECONFLICT, 409, 6, false},                                 /* ALREADY_EXISTS */
    {GROVE_ERATELIMIT, 429, 8, false},                                /* RESOURCE_EXHAUSTED */
    {GROVE_ESTORE, 500, 13, false},                                   /* INTERNAL */
    {GROVE_EUNAVAIL, 503, 14, false},                                 /* UNAVAILABLE */
    {GROVE_ESHUTDOWN, 503, 14, false}, /* a closing server is unavailable to its clients */
    {GROVE_ETIMEOUT, 504, 4, false},   /* DEADLINE_EXCEEDED */
    {GROVE_EINVAL, 405, 11, true},     /* method not allowed; OUT_OF_RANGE */
    {GROVE_EINVAL, 415, 9, true},      /* unsupported media type; FAILED_PRECONDITION */
    {GROVE_EINVAL, 422, -1, true},     {GROVE_EUNAVAIL, -1, 1, true}, /* CANCELLED */
    {GROVE_EUNAVAIL, -1, 10, true},                                   /* ABORTED */
};

#define STATUS_ROWS (sizeof status_rows / sizeof status_rows[0])

int grove_err_to_http(grove_err err)
{
    for (size_t i = 0; i < STATUS_ROWS; i++)
        if (!status_rows[i].reverse && status_rows[i].err == err)
            return status_rows[i].http;
    return 500; /* memory, protocol: worth a retry */
}

grove_err grove_err_from_http(int status)
{
    for (size_t i = 0; i < STATUS_ROWS; i++)
        if (status_rows[i].http == status)
            return status_rows[i].err;
    return status >= 500 ? GROVE_EUNAVAIL : GROVE_EPROTO;
}

int grove_err_to_grpc(grove_err err)
{
    for (size_t i = 0; i < STATUS_ROWS; i++)
        if (!status_rows[i].reverse && status_rows[i].err == err)
            return status_rows[i].grpc;
    return 13; /* INTERNAL */
}

grove_err grove_err_from_grpc(int code)
{
    for (size_t i = 0; i < STATUS_ROWS; i++)
        if (status_rows[i].grpc == code)
            return status_rows[i].err;
    return GROVE_EPROTO;
}

const char *grove_grpc_status_name(int code)
{
    static const char *const names[] = {
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    };
    if (code >= 0 && (size_t)code < sizeof names / sizeof names[0])
        return names[code];
    return "UNKNOWN";
}

bool grove_token_equal(const char *expected, const char *presented, size_t presented_len)
{
    size_t expected_len = strlen(expected);
    /* Compare every byte whatever the lengths, so timing tells nothing. */
    unsigned char diff = expected_len != presented_len;
    for (size_t i = 0; i < presented_len; i++)
        diff |= (unsigned char)(presented[i] ^ expected[expected_len ? i % expected_len : 0]);
    return diff == 0 && expected_len == presented_len;
}

char *grove_bearer_value(const char *token)
{
    size_t n = strlen(token) + sizeof "Bearer ";
    char *v = malloc(n);
    if (v)
        snprintf(v, n, "Bearer %s", token);
    return v;
}

grove_err grove_bearer_check(const char *expected, const char *value, size_t len)
{
    static const char scheme[] = "Bearer ";
    const size_t scheme_len = sizeof scheme - 1;
    if (!expected)
        return GROVE_OK;
    if (!value)
        return grove_error_set(GROVE_EAUTH, "missing bearer token");
    if (len <= scheme_len || strncasecmp(value, scheme, scheme_len) != 0)
        return grove_error_set(GROVE_EAUTH, "expected \"Bearer <token>\" credentials");
    size_t skip = scheme_len;
    while (skip < len && value[skip] == ' ')
        skip++;
    if (!grove_token_equal(expected, value + skip, len - skip))
        return grove_error_set(GROVE_EAUTH, "wrong bearer token");
    return GROVE_OK;
}

grove_err grove_file_read(const char *path, const char *what, char **out, size_t *len)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return grove_error_set(GROVE_EINVAL, "cannot read %s %s: %s", what, path, strerror(errno));
    struct grove_buf b = {0};
    char chunk[4096];
    size_t n;
    grove_err err = GROVE_OK;
    while (!err && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        err = grove_buf_append(&b, chunk, n);
    if (!err && ferror(f))
        err = grove_error_set(GROVE_EINVAL, "cannot read %s %s", what, path);
    if (!err && b.len == 0)
        err = grove_error_set(GROVE_EINVAL, "%s %s is empty", what, path);
    if (!err)
        err = grove_buf_reserve(&b, 1);
    fclose(f);
    if (err) {
        grove_buf_free(&b);
        return err;
    }
    b.data[b.len] = '\0';
    *out = b.data;
    if (len)
        *len = b.len;
    return GROVE_OK;
}

void grove_peer_addr_format(char *out, size_t size, const void *addr, size_t addr_len,
                            unsigned port)
{
    char host[INET6_ADDRSTRLEN] = "";
    if (size)
        out[0] = '\0';
    if (addr_len == 4 && inet_ntop(AF_INET, addr, host, sizeof host))
        snprintf(out, size, "%s:%u", host, port);
    else if (addr_len == 16 && inet_ntop(AF_INET6, addr, host, sizeof host))
        snprintf(out, size, "[%s]:%u", host, port);
}

static int peer_addr_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

void grove_peer_addr_from_uri(char *out, size_t size, const char *uri)
{
    if (!size)
        return;
    const char *rest = uri;
    if (strncmp(uri, "ipv4:", 5) == 0 || strncmp(uri, "ipv6:", 5) == 0)
        rest = uri + 5;
    size_t n = 0;
    for (const char *c = rest; *c && n + 1 < size; c++) {
        if (c[0] == '%' && peer_addr_hex(c[1]) >= 0 && peer_addr_hex(c[2]) >= 0) {
            out[n++] = (char)(peer_addr_hex(c[1]) * 16 + peer_addr_hex(c[2]));
            c += 2;
        } else {
            out[n++] = *c;
        }
    }
    out[n] = '\0';
}
