/* Typed readers over the JSON walker (json_scan.h): strings unescaped in
 * place, exact unsigned integers, raw values as slices, booleans, null, and
 * objects read member by member against a list of known keys, for the
 * message readers of json_read.c. */
#include <stdio.h>
#include <string.h>

#include "grove/sys/error.h"
#include "json_scan.h"
#include "json_utf8.h"

static const char *jr_kind_name(int c)
{
    switch (c) {
    case '{':
        return "an object";
    case '[':
        return "an array";
    case '"':
        return "a string";
    case 't':
    case 'f':
        return "a boolean";
    case 'n':
        return "null";
    default:
        return "a number";
    }
}

static bool jr_value_start(int c)
{
    return c == '{' || c == '[' || c == '"' || c == 't' || c == 'f' || c == 'n' || c == '-' ||
           (c >= '0' && c <= '9');
}

/* Fails with "expected <what>" when the next value does not start with one
 * of the accepted characters; a byte that starts no value is a syntax error. */
grove_err grove_jr_expect(struct jr *r, int c, const char *accept, const char *what)
{
    if (c >= 0 && (accept[0] == c || strchr(accept, c)))
        return GROVE_OK;
    if (!jr_value_start(c))
        return grove_jr_unexpected(r, r->pos, "a value");
    return grove_jr_fail(r, "expected %s, got %s", what, jr_kind_name(c));
}

/* Consumes null when it comes next: optional fields treat it as absent. */
grove_err grove_jr_null(struct jr *r, bool *is_null)
{
    struct jr_tok t;
    *is_null = false;
    if (grove_jr_peek(r) != 'n')
        return GROVE_OK;
    *is_null = true;
    return grove_jr_take(r, &t);
}

/* Unescapes validated string content in place; returns the new length. */
static size_t jr_unescape(char *s, size_t n)
{
    size_t i = 0, o = 0;
    while (i < n) {
        char c = s[i];
        if (c != '\\') {
            s[o++] = c;
            i++;
            continue;
        }
        char e = s[i + 1];
        i += 2;
        switch (e) {
        case 'b':
            s[o++] = '\b';
            break;
        case 'f':
            s[o++] = '\f';
            break;
        case 'n':
            s[o++] = '\n';
            break;
        case 'r':
            s[o++] = '\r';
            break;
        case 't':
            s[o++] = '\t';
            break;
        case 'u': {
            unsigned cp = 0, lo = 0;
            grove_jr_hex4((const unsigned char *)s, i, n, &cp);
            i += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                grove_jr_hex4((const unsigned char *)s, i + 2, n, &lo);
                i += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            if (cp < 0x80) {
                s[o++] = (char)cp;
            } else if (cp < 0x800) {
                s[o++] = (char)(0xC0 | cp >> 6);
                s[o++] = (char)(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                s[o++] = (char)(0xE0 | cp >> 12);
                s[o++] = (char)(0x80 | (cp >> 6 & 0x3F));
                s[o++] = (char)(0x80 | (cp & 0x3F));
            } else {
                s[o++] = (char)(0xF0 | cp >> 18);
                s[o++] = (char)(0x80 | (cp >> 12 & 0x3F));
                s[o++] = (char)(0x80 | (cp >> 6 & 0x3F));
                s[o++] = (char)(0x80 | (cp & 0x3F));
            }
            break;
        }
        default: /* '"', '\\', '/' stand for themselves */
            s[o++] = e;
            break;
        }
    }
    return o;
}

/* Reads a string into the arena copy (in place, NUL-terminated). */
grove_err grove_jr_string(struct jr *r, const char **out, size_t *len)
{
    struct jr_tok t;
    grove_err err = grove_jr_expect(r, grove_jr_peek(r), "\"", "a string");
    if (!err)
        err = grove_jr_take(r, &t);
    if (err)
        return err;
    char *p = r->text + t.start;
    size_t n = t.end - t.start;
    if (t.escaped) {
        n = jr_unescape(p, n);
        if (memchr(p, '\0', n))
            return grove_jr_fail(r, "NUL character not allowed");
    }
    p[n] = '\0'; /* overwrites the closing quote, which the walker has passed */
    *out = p;
    if (len)
        *len = n;
    return GROVE_OK;
}

grove_err grove_jr_bool(struct jr *r, bool *out)
{
    struct jr_tok t;
    bool is_null;
    grove_err err = grove_jr_null(r, &is_null);
    if (err || is_null)
        return err;
    if ((err = grove_jr_expect(r, grove_jr_peek(r), "tf", "true or false")) ||
        (err = grove_jr_take(r, &t)))
        return err;
    *out = t.kind == JR_TRUE;
    return GROVE_OK;
}

/* Reads an integer in [0, max] exactly from its text. */
grove_err grove_jr_uint(struct jr *r, uint64_t max, const char *negative, uint64_t *out)
{
    struct jr_tok t;
    int c = grove_jr_peek(r);
    grove_err err =
        (c >= '0' && c <= '9') ? GROVE_OK : grove_jr_expect(r, c, "-0123456789", "integer");
    if (!err)
        err = grove_jr_take(r, &t);
    if (err)
        return err;
    const char *s = r->js + t.start;
    size_t n = t.end - t.start, i = 0;
    bool neg = s[0] == '-';
    if (memchr(s, '.', n) || memchr(s, 'e', n) || memchr(s, 'E', n))
        return grove_jr_fail(r, "expected integer, got %.*s", (int)(n > 32 ? 32 : n), s);
    if (neg) {
        if (strspn(s + 1, "0") != n - 1) /* "-0" is zero */
            return grove_jr_fail(r, "%s", negative);
        i = 1;
    }
    uint64_t v = 0;
    for (; i < n; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (max - d) / 10)
            return grove_jr_fail(r, "%.*s out of range (0..%llu)", (int)(n > 32 ? 32 : n), s,
                                 (unsigned long long)max);
        v = v * 10 + d;
    }
    *out = v;
    return GROVE_OK;
}

/* The scan's count of values in the container t opened, as a capacity: at
 * most what the rest of the body can hold at min_bytes a value, so that
 * "[1,1,1...]" or "[,,,...]" cannot make us allocate for millions. */
size_t grove_jr_hint(const struct jr *r, const struct jr_tok *t, size_t min_bytes)
{
    size_t most = (r->len - t->at) / min_bytes + 1;
    return t->size < most ? t->size : most;
}

grove_err grove_jr_grow(struct jr *r, const struct jr_tok *open, size_t min_bytes, size_t max,
                        size_t size, const char *what, void **items, size_t *cap)
{
    size_t hint = grove_jr_hint(r, open, min_bytes);
    size_t grown = *cap ? *cap * 2 : hint ? hint : 4;
    if (max && grown > max)
        grown = max;
    void *fresh = grove_msg_alloc(r->msg, grown * size);
    if (!fresh)
        return grove_error_set(GROVE_ENOMEM, "out of memory for %zu %s", grown, what);
    if (*cap)
        memcpy(fresh, *items, *cap * size);
    *items = fresh;
    *cap = grown;
    return GROVE_OK;
}

/* Copies nothing: the raw value is a slice of the arena copy. */
grove_err grove_jr_raw(struct jr *r, struct grove_slice *out)
{
    size_t start, end;
    grove_err err = grove_jr_value(r, &start, &end);
    if (err)
        return err;
    out->ptr = r->js + start;
    out->len = end - start;
    return GROVE_OK;
}

/* Reads an array of raw values (set elements) into the arena; null reads as
 * empty. */
grove_err grove_jr_raw_array(struct jr *r, struct grove_slice **out, size_t *count)
{
    struct jr_tok t;
    bool first = true, more, is_null;
    size_t cap = 0, n = 0;
    struct grove_slice *items = NULL;
    grove_err err = grove_jr_null(r, &is_null);
    if (err || is_null)
        return err;
    if ((err = grove_jr_expect(r, grove_jr_peek(r), "[", "an array")) ||
        (err = grove_jr_take(r, &t)))
        return err;
    for (;;) {
        if ((err = grove_jr_element(r, &first, &more)))
            return err;
        if (!more)
            break;
        if (n == cap && (err = grove_jr_grow(r, &t, 2, 0, sizeof *items, "elements",
                                             (void **)&items, &cap)))
            return err;
        grove_jr_push_index(r, n);
        err = grove_jr_raw(r, &items[n]);
        if (err)
            return err;
        grove_jr_pop(r);
        n++;
    }
    *out = items;
    *count = n;
    return GROVE_OK;
}

/* An object key consumed by grove_jr_member, unescaped in place and
 * NUL-terminated like grove_jr_string (the walker has passed its closing
 * quote). */
grove_err grove_jr_key(struct jr *r, const struct jr_tok *key, const char **out, size_t *len)
{
    char *p = r->text + key->start;
    size_t n = key->end - key->start;
    if (key->escaped) {
        n = jr_unescape(p, n);
        if (memchr(p, '\0', n))
            return grove_jr_fail(r, "NUL character not allowed in a key");
    }
    p[n] = '\0';
    *out = p;
    if (len)
        *len = n;
    return GROVE_OK;
}

/* Looks a key up in names[]; -1 when unknown. Escaped keys are compared
 * after unescaping into a small buffer. */
static int jr_key_find(struct jr *r, const struct jr_tok *key, const char *const *names, int count)
{
    const char *k = r->js + key->start;
    size_t n = key->end - key->start;
    char buf[96];
    if (key->escaped) {
        if (n > sizeof buf)
            return -1; /* unescaped it would still be longer than any name we know */
        memcpy(buf, k, n);
        n = jr_unescape(buf, n);
        k = buf;
    }
    for (int i = 0; i < count; i++)
        if (n && names[i][0] == k[0] && strlen(names[i]) == n && memcmp(names[i], k, n) == 0)
            return i;
    return -1;
}

/* Opens an object member loop: the next value must be an object. */
static grove_err jr_object(struct jr *r)
{
    struct jr_tok t;
    grove_err err = grove_jr_expect(r, grove_jr_peek(r), "{", "an object");
    return err ? err : grove_jr_take(r, &t);
}

/* Walks the members of the object at the cursor, calling fn for known keys
 * (with the key pushed on the path) and validating the others. Rejects
 * duplicate known keys; *seen gets one bit per key present. */

grove_err grove_jr_members(struct jr *r, const char *const *names, int count, jr_member_fn fn,
                           void *arg, unsigned *seen)
{
    enum { UNKNOWN_TRACKED = 8 };
    struct jr_tok key, unknown[UNKNOWN_TRACKED];
    int nunknown = 0;
    bool first = true, more;
    grove_err err = jr_object(r);
    *seen = 0;
    if (err)
        return err;
    for (;;) {
        if ((err = grove_jr_member(r, &first, &key, &more)))
            return err;
        if (!more)
            return GROVE_OK;
        int id = jr_key_find(r, &key, names, count);
        if (id < 0) {
            /* Unknown keys are ignored, but not twice: compared as sent
             * (escapes included), the first few per object. */
            size_t n = key.end - key.start;
            for (int i = 0; i < nunknown; i++)
                if (unknown[i].end - unknown[i].start == n &&
                    memcmp(r->js + unknown[i].start, r->js + key.start, n) == 0)
                    return grove_jr_fail(r, "duplicate key \"%.*s\"", (int)(n > 40 ? 40 : n),
                                         r->js + key.start);
            if (nunknown < UNKNOWN_TRACKED)
                unknown[nunknown++] = key;
            grove_jr_push_key(r, r->js + key.start, n);
            err = grove_jr_value(r, NULL, NULL);
        } else {
            if (*seen & 1u << id)
                return grove_jr_fail(r, "duplicate key \"%s\"", names[id]);
            *seen |= 1u << id;
            grove_jr_push_key(r, names[id], strlen(names[id]));
            err = fn(r, id, arg);
        }
        if (err)
            return err;
        grove_jr_pop(r);
    }
}

grove_err grove_jr_missing(struct jr *r, unsigned seen, unsigned required, const char *const *names)
{
    for (int i = 0; required >> i; i++)
        if ((required & 1u << i) && !(seen & 1u << i))
            return grove_jr_fail(r, "missing key \"%s\"", names[i]);
    return GROVE_OK;
}

/* An object of the keys in names whose keys in `required` (a bit per key)
 * must all appear. */
grove_err grove_jr_members_required(struct jr *r, const char *const *names, int count,
                                    jr_member_fn fn, void *arg, unsigned required)
{
    unsigned seen;
    grove_err err = grove_jr_members(r, names, count, fn, arg, &seen);
    return err ? err : grove_jr_missing(r, seen, required, names);
}
