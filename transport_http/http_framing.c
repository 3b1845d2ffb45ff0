/* A connection's requests as the client sends them, checked before
 * libmicrohttpd reads a byte (for the relay, http_relay.c): each head
 * whole (grove_http_head_scan), a Content-Length body as it comes, a
 * chunked body re-framed in plain chunks after its framing is checked
 * (RFC 9112 7.1: chunk extensions and trailers are dropped). What comes out
 * is what libmicrohttpd reads; it is also what this parser would pass on
 * unchanged (fuzz/fuzz_http_framing.c). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_internal.h"

/* A chunk-size line (and a trailer line) at most; `in` is never smaller. */
#define FRAMING_LINE_MAX    4096
#define FRAMING_TRAILER_MAX 8192
/* What `in` grows to: a whole head and its blank line, one byte over the
 * limit so the scan can tell. */
#define FRAMING_IN_MAX (GROVE_HTTP_HEAD_MAX + 1)

/* What was consumed goes: the rest moves to the front, once per read (a
 * memmove for each request or chunk would cost the square of a read). */
static void framing_compact(struct grove_http_framing *f)
{
    if (f->in != f->base && f->in_len > 0)
        memmove(f->base, f->in, f->in_len);
    f->in = f->base;
}

char *grove_http_framing_space(struct grove_http_framing *f, size_t *room)
{
    framing_compact(f);
    /* A head grows `in` as it needs; a body longer than its room takes it
     * whole at once: a large push then crosses in a few reads and sends,
     * not one per 4 KiB. */
    bool long_body = (f->state == FRAMING_BODY || f->state == FRAMING_CHUNK_DATA) &&
                     f->left > f->in_cap - f->in_len;
    if ((f->in_len == f->in_cap || long_body) && f->in_cap < FRAMING_IN_MAX) {
        size_t cap = long_body ? FRAMING_IN_MAX : f->in_cap ? 2 * f->in_cap : FRAMING_LINE_MAX;
        cap = cap > FRAMING_IN_MAX ? FRAMING_IN_MAX : cap;
        char *grown = realloc(f->base, cap);
        if (!grown)
            return NULL;
        f->base = f->in = grown;
        f->in_cap = cap;
    }
    *room = f->in_cap - f->in_len;
    return f->in + f->in_len;
}

void grove_http_framing_free(struct grove_http_framing *f)
{
    free(f->base);
    memset(f, 0, sizeof *f);
}

static void framing_refuse(struct grove_http_framing *f, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void framing_refuse(struct grove_http_framing *f, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    grove_http_message_vformat(f->message, sizeof f->message, fmt, ap);
    va_end(ap);
    f->refused = status;
    f->refused_in_body = f->state != FRAMING_HEAD;
    f->state = FRAMING_REFUSED;
    f->in_len = 0;
}

static void framing_consume(struct grove_http_framing *f, size_t n)
{
    f->in += n;
    f->in_len -= n;
}

/* Passes the first n bytes of `in` on. */
static grove_err framing_pass(struct grove_http_framing *f, struct grove_buf *out, size_t n)
{
    grove_err err = grove_buf_append(out, f->in, n);
    if (!err)
        framing_consume(f, n);
    return err;
}

static grove_err framing_emit(struct grove_buf *out, const char *text)
{
    return grove_buf_append(out, text, strlen(text));
}

/* The line at the start of `in` (through its LF), or 0 while it is not
 * in; its length without the line end in *len. */
static size_t framing_line(const struct grove_http_framing *f, size_t *len)
{
    const char *lf = memchr(f->in, '\n', f->in_len);
    if (!lf)
        return 0;
    size_t to_lf = (size_t)(lf - f->in);
    *len = to_lf > 0 && f->in[to_lf - 1] == '\r' ? to_lf - 1 : to_lf;
    return to_lf + 1;
}

int grove_http_hex_digit(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* A head: passed on as it came once it is whole, then its body's framing.
 * *moved: something happened (false: wait for more). */
static grove_err framing_head(struct grove_http_framing *f, struct grove_buf *out, bool *moved)
{
    struct grove_http_head *h = &f->head;
    h->buf = f->in;
    h->len = h->cap = f->in_len;
    int status = grove_http_head_scan(h, GROVE_HTTP_HEAD_MAX);
    *moved = status >= 0;
    if (status > 0) {
        char message[sizeof h->message];
        memcpy(message, h->message, sizeof message);
        memset(h, 0, sizeof *h);
        framing_refuse(f, status, "%s", message);
    }
    if (status != 0)
        return GROVE_OK;
    size_t end = h->parsed;
    bool chunked = h->has_te; /* the scan lets no other coding through */
    uint64_t length = 0;
    for (size_t i = 0; h->has_cl && i < h->cl_len; i++)
        length = length * 10 + (uint64_t)(h->buf[h->cl_off + i] - '0');
    memset(h, 0, sizeof *h);
    f->state = chunked ? FRAMING_CHUNK_SIZE : length ? FRAMING_BODY : FRAMING_HEAD;
    f->left = length;
    f->trailer_len = 0;
    return framing_pass(f, out, end);
}

/* A chunk-size line: hex digits, then extensions after ';'. */
static grove_err framing_chunk_size(struct grove_http_framing *f, struct grove_buf *out,
                                    bool *moved)
{
    size_t len = 0, whole = framing_line(f, &len);
    *moved = whole > 0 || f->in_len >= FRAMING_LINE_MAX;
    if (!whole) {
        if (f->in_len >= FRAMING_LINE_MAX)
            framing_refuse(f, 400, "chunked body: a chunk-size line longer than %d bytes",
                           FRAMING_LINE_MAX);
        return GROVE_OK;
    }
    uint64_t size = 0;
    size_t digits = 0;
    while (digits < len && digits < 15 && grove_http_hex_digit(f->in[digits]) >= 0)
        size = size * 16 + (uint64_t)grove_http_hex_digit(f->in[digits++]);
    size_t rest = digits;
    while (rest < len && (f->in[rest] == ' ' || f->in[rest] == '\t'))
        rest++;
    if (digits == 0 || (rest < len && f->in[rest] != ';') ||
        (digits < len && grove_http_hex_digit(f->in[digits]) >= 0)) {
        framing_refuse(f, 400, "chunked body: chunk size \"%.*s\" is not a hexadecimal number",
                       (int)(len > 64 ? 64 : len), f->in);
        return GROVE_OK;
    }
    framing_consume(f, whole);
    if (size == 0) {
        f->state = FRAMING_TRAILER;
        return GROVE_OK;
    }
    char line[24];
    snprintf(line, sizeof line, "%" PRIx64 "\r\n", size);
    f->state = FRAMING_CHUNK_DATA;
    f->left = size;
    return framing_emit(out, line);
}

/* The line end after a chunk's data. */
static grove_err framing_chunk_end(struct grove_http_framing *f, struct grove_buf *out, bool *moved)
{
    size_t skip = f->in_len >= 1 && f->in[0] == '\n'                       ? 1
                  : f->in_len >= 2 && f->in[0] == '\r' && f->in[1] == '\n' ? 2
                                                                           : 0;
    bool wrong = skip == 0 && (f->in_len >= 2 || (f->in_len == 1 && f->in[0] != '\r'));
    *moved = skip > 0 || wrong;
    if (!*moved)
        return GROVE_OK;
    /* The chunk ends in out either way: a refusal follows a whole chunk. */
    grove_err err = framing_emit(out, "\r\n");
    if (wrong)
        framing_refuse(f, 400, "chunked body: a chunk's data is not followed by CRLF");
    else
        framing_consume(f, skip);
    if (!wrong)
        f->state = FRAMING_CHUNK_SIZE;
    return err;
}

/* A trailer line, or the blank line that ends the body (trailers dropped). */
static grove_err framing_trailer(struct grove_http_framing *f, struct grove_buf *out, bool *moved)
{
    size_t len = 0, whole = framing_line(f, &len);
    size_t upto = whole ? whole : f->in_len;
    *moved = true;
    if (f->trailer_len + upto > FRAMING_TRAILER_MAX || (!whole && f->in_len >= FRAMING_LINE_MAX)) {
        framing_refuse(f, 431, "chunked body: a trailer longer than %d bytes",
                       f->trailer_len + upto > FRAMING_TRAILER_MAX ? FRAMING_TRAILER_MAX
                                                                   : FRAMING_LINE_MAX);
        return GROVE_OK;
    }
    if (!whole) {
        *moved = false;
        return GROVE_OK;
    }
    if (len > 0 && !memchr(f->in, ':', len)) {
        framing_refuse(f, 400, "chunked body: trailer line \"%.*s\": no colon",
                       (int)(len > 64 ? 64 : len), f->in);
        return GROVE_OK;
    }
    framing_consume(f, whole);
    f->trailer_len += whole;
    if (len > 0)
        return GROVE_OK;
    f->state = FRAMING_HEAD;
    return framing_emit(out, "0\r\n\r\n");
}

grove_err grove_http_framing_run(struct grove_http_framing *f, struct grove_buf *out, size_t max)
{
    bool moved = true;
    grove_err err = GROVE_OK;
    while (!err && moved && out->len < max && f->in_len > 0) {
        switch (f->state) {
        case FRAMING_HEAD:
            err = framing_head(f, out, &moved);
            break;
        case FRAMING_BODY:
        case FRAMING_CHUNK_DATA: {
            size_t n = f->in_len < f->left ? f->in_len : (size_t)f->left;
            err = framing_pass(f, out, n);
            f->left -= n;
            if (f->left == 0)
                f->state = f->state == FRAMING_BODY ? FRAMING_HEAD : FRAMING_CHUNK_END;
            break;
        }
        case FRAMING_CHUNK_SIZE:
            err = framing_chunk_size(f, out, &moved);
            break;
        case FRAMING_CHUNK_END:
            err = framing_chunk_end(f, out, &moved);
            break;
        case FRAMING_TRAILER:
            err = framing_trailer(f, out, &moved);
            break;
        case FRAMING_REFUSED:
            f->in_len = 0;
            break;
        }
    }
    /* Between requests `in` goes back: an idle connection holds none. */
    if (f->state == FRAMING_HEAD && f->in_len == 0) {
        free(f->base);
        f->base = f->in = NULL;
        f->in_cap = 0;
    }
    return err;
}
