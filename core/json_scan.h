/* The JSON decoder's scan and token walker (json_scan.c), shared with the
 * typed readers of json_read.c: see json_read.c for how they work together. */
#ifndef GROVE_CORE_JSON_SCAN_H
#define GROVE_CORE_JSON_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "grove/model.h"

enum { JR_PATH_MAX = 16 };

/* Work done, counted when a test compiles this file with GROVE_JSON_STEPS
 * (tests/core/json_test.c): a step per byte the scan passes and per value the
 * walker takes, so a test can tell linear from quadratic without a clock. */
#ifdef GROVE_JSON_STEPS
extern size_t grove_jr_steps;
#define JR_STEPS(n) (grove_jr_steps += (n))
#else
#define JR_STEPS(n) ((void)(n))
#endif

/* A container found by the scan: where it opens and how many values (array
 * elements or object members) it holds. */
struct jr_box {
    uint32_t start;
    uint32_t count;
};

/* One step of the location printed in error messages: a key or an index. */
struct jr_seg {
    const char *key; /* NULL for an array index */
    size_t len;
    size_t index;
};

struct jr {
    const char *js; /* the text walked (the arena copy when decoding) */
    char *text;     /* writable alias of js when decoding, else NULL */
    size_t len;
    size_t pos;         /* cursor in js */
    struct jr_box *box; /* every container up to where the scan stopped */
    size_t nbox;
    size_t next;      /* next container to open, in document order */
    bool scan_failed; /* the scan stopped early (too deep, or bad structure) */
    int depth;
    int npath;
    struct jr_seg path[JR_PATH_MAX];
    void *msg;        /* arena owner, NULL when only validating */
    const char *root; /* the whole text's name in messages ("body"; "" unnamed) */
};

enum jr_kind { JR_OBJECT, JR_ARRAY, JR_STRING, JR_NUMBER, JR_TRUE, JR_FALSE, JR_NULL };

/* A consumed token. For strings, [start, end) is the content between quotes. */
struct jr_tok {
    enum jr_kind kind;
    size_t at; /* first byte of the value in js */
    size_t start;
    size_t end;
    size_t size; /* a container's count of values: a capacity hint only */
    bool escaped;
};

/* Scans json (copied into msg's arena when msg is set) and starts the walk. */
grove_err grove_jr_begin(struct jr *r, const char *json, size_t len, void *msg);
/* The next element of the array being walked, or *more false at the end. */
grove_err grove_jr_element(struct jr *r, bool *first, bool *more);
/* Fails with GROVE_EINVAL, the message located at the walker's path and byte. */
grove_err grove_jr_fail(struct jr *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Checks that nothing but white space follows the value. */
grove_err grove_jr_finish(struct jr *r);
/* Reads four hex digits at s[i] (of n bytes) into *out; false when they are not. */
bool grove_jr_hex4(const unsigned char *s, size_t i, size_t n, unsigned *out);
/* The next member of the object being walked: its key, or *more false at the end. */
grove_err grove_jr_member(struct jr *r, bool *first, struct jr_tok *key, bool *more);
/* The next byte after white space, or -1 at the end. */
int grove_jr_peek(struct jr *r);
void grove_jr_pop(struct jr *r);
void grove_jr_push_index(struct jr *r, size_t index);
/* The location path of error messages: a key or an index in, then out. */
void grove_jr_push_key(struct jr *r, const char *key, size_t len);
/* Frees what the walk allocated. */
void grove_jr_release(struct jr *r);
/* Consumes the next value's token (a container is entered, not skipped). */
grove_err grove_jr_take(struct jr *r, struct jr_tok *out);
/* "expected <what>" at byte i. */
grove_err grove_jr_unexpected(struct jr *r, size_t i, const char *expected);
/* Consumes one whole value, checking it; [*start, *end) is its text (may be NULL). */
grove_err grove_jr_value(struct jr *r, size_t *start, size_t *end);

/* Typed readers over the walker (json_fields.c): each consumes one value of
 * its kind at the cursor or fails with a located message. */
typedef grove_err (*jr_member_fn)(struct jr *r, int key, void *arg);
grove_err grove_jr_expect(struct jr *r, int c, const char *accept, const char *what);
grove_err grove_jr_null(struct jr *r, bool *is_null);
grove_err grove_jr_string(struct jr *r, const char **out, size_t *len);
grove_err grove_jr_bool(struct jr *r, bool *out);
grove_err grove_jr_uint(struct jr *r, uint64_t max, const char *negative, uint64_t *out);
size_t grove_jr_hint(const struct jr *r, const struct jr_tok *t, size_t min_bytes);
/* Grows *items (*cap of them, `size` bytes each) in r's arena when full:
 * first to grove_jr_hint's count for the container `open` opened, then
 * doubling, never above max (0: no bound). `what` names the items in an
 * out-of-memory message. */
grove_err grove_jr_grow(struct jr *r, const struct jr_tok *open, size_t min_bytes, size_t max,
                        size_t size, const char *what, void **items, size_t *cap);
grove_err grove_jr_raw(struct jr *r, struct grove_slice *out);
grove_err grove_jr_raw_array(struct jr *r, struct grove_slice **out, size_t *count);
/* A key from grove_jr_member as a string (arena copy, unescaped in place). */
grove_err grove_jr_key(struct jr *r, const struct jr_tok *key, const char **out, size_t *len);
grove_err grove_jr_members(struct jr *r, const char *const *names, int count, jr_member_fn fn,
                           void *arg, unsigned *seen);
grove_err grove_jr_missing(struct jr *r, unsigned seen, unsigned required,
                           const char *const *names);
grove_err grove_jr_members_required(struct jr *r, const char *const *names, int count,
                                    jr_member_fn fn, void *arg, unsigned required);

#endif
