/* The relay's check of what a client sends on a connection (http_framing.c:
 * every request head, Content-Length and chunked bodies), which decides what
 * libmicrohttpd reads. The input is the bytes a client sends. What must hold:
 * - the outcome does not depend on how the bytes arrive: run over the input
 *   whole, and in pieces of the sizes the input's own bytes pick with a small
 *   bound on what is held (as a slow reader makes it), what is passed on and
 *   the refusal (status and message) are the same;
 * - what is passed on is passed on again unchanged, without a refusal: it is
 *   already checked and in plain form;
 * - a refusal in a chunked body leaves what was passed on at a chunk's end,
 *   where the relay's last chunk fits: with "0\r\n\r\n" after it, all of it
 *   reads as whole requests;
 * - a refusal is one of the statuses libmicrohttpd would send, with a
 *   message of printable ASCII (it goes into a JSON error as it is). */
#include "fuzz.h"
#include "http_internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

/* Runs f over data in pieces of step(at) bytes, moving at most `bound`
 * bytes to out between the reader's turns; out gathers everything. */
static void fuzz_frame(struct grove_http_framing *f, const uint8_t *data, size_t size,
                       size_t (*step)(const uint8_t *, size_t), size_t bound, struct grove_buf *out)
{
    struct grove_buf held = {0};
    for (size_t at = 0; at < size && !f->refused;) {
        size_t room = 0;
        char *into = grove_http_framing_space(f, &room);
        if (!into)
            abort();
        size_t n = step(data, at);
        n = n < room ? n : room;
        n = n < size - at ? n : size - at;
        memcpy(into, data + at, n);
        f->in_len += n;
        at += n;
        /* The reader drains what is held, as the relay's sends would. */
        do {
            held.len = 0;
            if (grove_http_framing_run(f, &held, bound))
                abort();
            if (held.len > 0 && grove_buf_append(out, held.data, held.len))
                abort();
        } while (held.len > 0);
        if (n == 0 && room == 0)
            break; /* `in` is full and nothing moves: the head scan refuses first */
    }
    grove_buf_free(&held);
}

static size_t fuzz_whole(const uint8_t *data, size_t at)
{
    (void)data;
    (void)at;
    return SIZE_MAX;
}

/* 1 to 64 bytes, as the byte at `at` says. */
static size_t fuzz_pieces(const uint8_t *data, size_t at)
{
    return (size_t)(data[at] & 63) + 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct grove_http_framing whole = {0}, pieces = {0}, again = {0};
    struct grove_buf out_whole = {0}, out_pieces = {0}, out_again = {0};
    fuzz_frame(&whole, data, size, fuzz_whole, SIZE_MAX, &out_whole);
    fuzz_frame(&pieces, data, size, fuzz_pieces, 16, &out_pieces);
    if (whole.refused != pieces.refused || strcmp(whole.message, pieces.message) != 0) {
        fprintf(stderr, "fuzz: whole %d \"%s\" against in pieces %d \"%s\"\n", whole.refused,
                whole.message, pieces.refused, pieces.message);
        abort();
    }
    fuzz_same(&out_whole, &out_pieces, "passed on whole, and in pieces");
    if (whole.refused) {
        int s = whole.refused;
        if (s != 400 && s != 413 && s != 414 && s != 431 && s != 501 && s != 505)
            abort();
        for (const char *m = whole.message; *m; m++)
            if (*m < 0x20 || *m > 0x7e)
                abort();
        if (whole.refused_in_body && grove_buf_append(&out_whole, "0\r\n\r\n", 5))
            abort();
    }
    fuzz_frame(&again, (const uint8_t *)out_whole.data, out_whole.len, fuzz_whole, SIZE_MAX,
               &out_again);
    if (again.refused) {
        fprintf(stderr, "fuzz: what was passed on is refused: %d \"%s\"\n", again.refused,
                again.message);
        abort();
    }
    fuzz_same(&out_whole, &out_again, "passed on, and passed on again");
    if (whole.refused && (again.state != FRAMING_HEAD || again.in_len != 0)) {
        fprintf(stderr, "fuzz: a refusal left what was passed on inside a request\n");
        abort();
    }
    grove_http_framing_free(&whole);
    grove_http_framing_free(&pieces);
    grove_http_framing_free(&again);
    grove_buf_free(&out_whole);
    grove_buf_free(&out_pieces);
    grove_buf_free(&out_again);
    return 0;
}
