/* The check of a connection's first request head (grove_http_head_scan,
 * http_admit.c), which sees the head as it arrives. The input is the bytes
 * a client sends; the head limit is small (FUZZ_HEAD_LIMIT) so that heads
 * past it are reached too. What must hold:
 * - the verdict does not depend on how the bytes arrive: scanned whole,
 *   byte by byte and in pieces of the sizes the input's own bytes pick, the
 *   answer (incomplete, whole or the refusal's status and message) and the
 *   framing read (Content-Length, Transfer-Encoding) are the same;
 * - bytes after a whole head (a body, a pipelined request) change nothing;
 * - a refusal is one of the statuses libmicrohttpd would send, with a
 *   message of printable ASCII (it goes into a JSON error as it is). */
#include "fuzz.h"
#include "http_internal.h"

#define FUZZ_HEAD_LIMIT 1024

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

struct fuzz_verdict {
    int status;
    struct grove_http_head head;
};

/* Scans data as it would arrive in pieces of `step(i)` bytes; the head is
 * the caller's to free (head.buf). */
static struct fuzz_verdict fuzz_scan(const uint8_t *data, size_t size,
                                     size_t (*step)(const uint8_t *, size_t, size_t))
{
    struct fuzz_verdict v = {.status = -1};
    struct grove_http_head *h = &v.head;
    h->cap = size + 1;
    h->buf = malloc(h->cap);
    if (!h->buf)
        abort();
    for (size_t at = 0; at < size && v.status < 0;) {
        size_t n = step(data, size, at);
        if (n > size - at)
            n = size - at;
        memcpy(h->buf + h->len, data + at, n);
        h->len += n;
        at += n;
        v.status = grove_http_head_scan(h, FUZZ_HEAD_LIMIT);
    }
    return v;
}

static size_t fuzz_whole(const uint8_t *data, size_t size, size_t at)
{
    (void)data;
    return size - at;
}

static size_t fuzz_bytewise(const uint8_t *data, size_t size, size_t at)
{
    (void)data;
    (void)size;
    (void)at;
    return 1;
}

/* 1 to 64 bytes, as the byte at `at` says. */
static size_t fuzz_pieces(const uint8_t *data, size_t size, size_t at)
{
    (void)size;
    return (size_t)(data[at] & 63) + 1;
}

static void fuzz_fail(const char *what, const struct fuzz_verdict *a, const struct fuzz_verdict *b)
{
    fprintf(stderr, "fuzz: %s: status %d \"%s\" against %d \"%s\"\n", what, a->status,
            a->head.message, b->status, b->head.message);
    abort();
}

/* The framing values the scan read, as text. */
static bool fuzz_same_framing(const struct fuzz_verdict *a, const struct fuzz_verdict *b)
{
    const struct grove_http_head *x = &a->head, *y = &b->head;
    if (x->has_cl != y->has_cl || x->has_te != y->has_te)
        return false;
    if (x->has_cl &&
        (x->cl_len != y->cl_len || memcmp(x->buf + x->cl_off, y->buf + y->cl_off, x->cl_len) != 0))
        return false;
    return !x->has_te || (x->te_len == y->te_len &&
                          memcmp(x->buf + x->te_off, y->buf + y->te_off, x->te_len) == 0);
}

static void fuzz_same_verdict(const char *what, const struct fuzz_verdict *a,
                              const struct fuzz_verdict *b)
{
    if (a->status != b->status || strcmp(a->head.message, b->head.message) != 0)
        fuzz_fail(what, a, b);
    if (a->status == 0 && !fuzz_same_framing(a, b))
        fuzz_fail(what, a, b);
}

static void fuzz_refusal_shape(const struct fuzz_verdict *v)
{
    static const int statuses[] = {400, 413, 414, 431, 501, 505};
    bool known = v->status <= 0;
    for (size_t i = 0; i < sizeof statuses / sizeof *statuses; i++)
        known = known || v->status == statuses[i];
    if (!known || (v->status > 0 && !v->head.message[0]))
        fuzz_fail("a refusal libmicrohttpd would not send", v, v);
    for (const char *c = v->head.message; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
            fuzz_fail("a message byte that is not printable ASCII", v, v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_verdict whole = fuzz_scan(data, size, fuzz_whole);
    struct fuzz_verdict bytewise = fuzz_scan(data, size, fuzz_bytewise);
    struct fuzz_verdict pieces = fuzz_scan(data, size, fuzz_pieces);
    fuzz_refusal_shape(&whole);
    fuzz_same_verdict("byte by byte", &whole, &bytewise);
    fuzz_same_verdict("in pieces", &whole, &pieces);
    if (whole.status == 0) {
        /* What follows the head, doubled: the verdict stays. */
        uint8_t *more = malloc(2 * size);
        if (!more)
            abort();
        memcpy(more, data, size);
        memcpy(more + size, data, size);
        struct fuzz_verdict followed = fuzz_scan(more, 2 * size, fuzz_whole);
        fuzz_same_verdict("with bytes after the head", &whole, &followed);
        free(followed.head.buf);
        free(more);
    }
    free(whole.head.buf);
    free(bytewise.head.buf);
    free(pieces.head.buf);
    return 0;
}
