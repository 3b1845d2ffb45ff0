/* What the libFuzzer targets in fuzz/ share: a failed check prints what
 * differed and aborts, which libFuzzer reports as a crash with the input. */
#ifndef GROVE_FUZZ_H
#define GROVE_FUZZ_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grove/error.h"
#include "grove/model.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts unless err is GROVE_OK: what must not fail, did. */
static inline void fuzz_ok(grove_err err, const char *what)
{
    if (err == GROVE_OK)
        return;
    fprintf(stderr, "fuzz: %s failed: %s: %s\n", what, grove_err_name(err), grove_errmsg());
    abort();
}

/* Prints up to 2000 bytes of b, a '.' for each byte that is not printable ASCII. */
static inline void fuzz_print(const char *label, const struct grove_buf *b)
{
    fprintf(stderr, "  %s (%zu bytes): ", label, b->len);
    for (size_t i = 0; i < b->len && i < 2000; i++)
        fputc(b->data[i] >= 0x20 && b->data[i] < 0x7f ? b->data[i] : '.', stderr);
    fputc('\n', stderr);
}

/* Aborts unless the two encodings are the same bytes. */
static inline void fuzz_same(const struct grove_buf *a, const struct grove_buf *b, const char *what)
{
    /* memcmp first: a loop of ours would be traced byte by byte. */
    if (a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0))
        return;
    size_t i = 0;
    while (i < a->len && i < b->len && a->data[i] == b->data[i])
        i++;
    if (i == a->len && i == b->len)
        return;
    fprintf(stderr, "fuzz: %s: the encodings differ from byte %zu\n", what, i);
    fuzz_print("first ", a);
    fuzz_print("second", b);
    abort();
}

#endif
