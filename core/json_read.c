/* JSON wire decoding (docs/protocol.md §9): a scan finds the containers and
 * how many values each holds, and a walker driven by the text checks
 * everything (grammar, numbers, literals, escapes, control characters, depth,
 * duplicate keys) while it reads the message fields straight from the text.
 * Both are linear in the input whatever its shape, and both stop at the first
 * container deeper than GROVE_JSON_MAX_DEPTH. The body is copied once into the
 * message arena: raw values are slices of that copy and strings are unescaped
 * in place, so decoding allocates nothing per token. */
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grove/json.h"
#include "grove/sys/error.h"
#include "json_utf8.h"

enum { JR_PATH_MAX = 16 };

/* Work done, counted when a test compiles this file with GROVE_JSON_STEPS
 * (tests/core/json_test.c): a step per byte the scan passes and per value the
 * walker takes, so a test can tell linear from quadratic without a clock. */
#ifdef GROVE_JSON_STEPS
static size_t jr_steps;
#define JR_STEPS(n) (jr_steps += (n))
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
    void *msg; /* arena owner, NULL when only validating */
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

/* ---- locations and errors ---- */

static void jr_where(const struct jr *r, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    if (r->npath == 0) {
        snprintf(out, cap, "body");
        return;
    }
    for (int i = 0; i < r->npath && i < JR_PATH_MAX && n < cap; i++) {
        const struct jr_seg *s = &r->path[i];
        int w;
        if (s->key)
            w = snprintf(out + n, cap - n, "%s%.*s", i ? "." : "", (int)(s->len > 40 ? 40 : s->len),
                         s->key);
        else
            w = snprintf(out + n, cap - n, "[%zu]", s->index);
        if (w < 0)
            break;
        n += (size_t)w;
    }
}

static grove_err jr_fail(struct jr *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static grove_err jr_fail(struct jr *r, const char *fmt, ...)
{
    char where[320];
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    jr_where(r, where, sizeof where);
    return grove_error_set(GROVE_EINVAL, "%s: %s", where, what);
}

static void jr_push_key(struct jr *r, const char *key, size_t len)
{
    if (r->npath < JR_PATH_MAX)
        r->path[r->npath] = (struct jr_seg){.key = key, .len = len};
    r->npath++;
}

static void jr_push_index(struct jr *r, size_t index)
{
    if (r->npath < JR_PATH_MAX)
        r->path[r->npath] = (struct jr_seg){.key = NULL, .index = index};
    r->npath++;
}

static void jr_pop(struct jr *r)
{
    r->npath--;
}

/* Describes the byte at i for "unexpected ..." messages. */
static grove_err jr_unexpected(struct jr *r, size_t i, const char *expected)
{
    if (i >= r->len)
        return jr_fail(r, "unexpected end of input, expected %s", expected);
    unsigned char c = (unsigned char)r->js[i];
    if (c > 0x20 && c < 0x7f)
        return jr_fail(r, "unexpected '%c' at byte %zu, expected %s", c, i, expected);
    return jr_fail(r, "unexpected byte 0x%02x at byte %zu, expected %s", c, i, expected);
}

/* ---- lexical checks ---- */

static void jr_ws(struct jr *r)
{
    const char *s = r->js;
    size_t i = r->pos;
    while (i < r->len && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t'))
        i++;
    r->pos = i;
}

/* Next significant byte, or -1 at the end of input. */
static int jr_peek(struct jr *r)
{
    jr_ws(r);
    return r->pos < r->len ? (unsigned char)r->js[r->pos] : -1;
}

static bool jr_is_delim(const struct jr *r, size_t i)
{
    if (i >= r->len)
        return true;
    switch (r->js[i]) {
    case ' ':
    case '\n':
    case '\r':
    case '\t':
    case ',':
    case ']':
    case '}':
    case ':':
        return true;
    default:
        return false;
    }
}

static int jr_hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool jr_hex4(const unsigned char *s, size_t i, size_t n, unsigned *out)
{
    if (n < 4 || i > n - 4)
        return false;
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        int h = jr_hexval(s[i + k]);
        if (h < 0)
            return false;
        v = v << 4 | (unsigned)h;
    }
    *out = v;
    return true;
}

/* Plain string bytes: not a quote, backslash or control character. UTF-8 was
 * checked over the whole body beforehand. */
static const unsigned char jr_plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

/* Scans a string whose opening quote is at `at`: escapes must be valid
 * (surrogates paired), no raw control characters. *end is the closing quote. */
static grove_err jr_scan_string(struct jr *r, size_t at, size_t *end, bool *escaped)
{
    const unsigned char *s = (const unsigned char *)r->js;
    size_t n = r->len;
    size_t i = at + 1;
    bool esc = false;
    for (;;) {
        while (i < n && jr_plain[s[i]])
            i++;
        if (i >= n)
            return jr_fail(r, "unterminated string starting at byte %zu", at);
        unsigned char c = s[i];
        if (c == '"')
            break;
        if (c < 0x20)
            return jr_fail(r, "control character 0x%02x in string at byte %zu", c, i);
        /* backslash */
        esc = true;
        if (i + 1 >= n)
            return jr_fail(r, "unterminated string starting at byte %zu", at);
        switch (s[i + 1]) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
            i += 2;
            continue;
        case 'u': {
            unsigned cp, lo;
            if (!jr_hex4(s, i + 2, n, &cp))
                return jr_fail(r, "invalid \\u escape at byte %zu", i);
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return jr_fail(r, "lone surrogate \\u%04x at byte %zu", cp, i);
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (i + 7 >= n || s[i + 6] != '\\' || s[i + 7] != 'u' ||
                    !jr_hex4(s, i + 8, n, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                    return jr_fail(r, "lone surrogate \\u%04x at byte %zu", cp, i);
                i += 12;
            } else {
                i += 6;
            }
            continue;
        }
        default:
            if (s[i + 1] > 0x20 && s[i + 1] < 0x7f)
                return jr_fail(r, "invalid escape '\\%c' at byte %zu", s[i + 1], i);
            return jr_fail(r, "invalid escape at byte %zu", i);
        }
    }
    *end = i;
    *escaped = esc;
    return GROVE_OK;
}

static bool jr_digit(const struct jr *r, size_t i)
{
    return i < r->len && r->js[i] >= '0' && r->js[i] <= '9';
}

/* RFC 8259 number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static grove_err jr_scan_number(struct jr *r, size_t at, size_t *end)
{
    size_t i = at;
    if (i < r->len && r->js[i] == '-')
        i++;
    if (!jr_digit(r, i))
        goto bad;
    if (r->js[i] == '0') {
        i++;
        if (jr_digit(r, i))
            return jr_fail(r, "invalid number at byte %zu: leading zero", at);
    } else {
        while (jr_digit(r, i))
            i++;
    }
    if (i < r->len && r->js[i] == '.') {
        i++;
        if (!jr_digit(r, i))
            goto bad;
        while (jr_digit(r, i))
            i++;
    }
    if (i < r->len && (r->js[i] == 'e' || r->js[i] == 'E')) {
        i++;
        if (i < r->len && (r->js[i] == '+' || r->js[i] == '-'))
            i++;
        if (!jr_digit(r, i))
            goto bad;
        while (jr_digit(r, i))
            i++;
    }
    if (!jr_is_delim(r, i))
        goto bad;
    *end = i;
    return GROVE_OK;
bad:
    return jr_fail(r, "invalid number at byte %zu", at);
}

/* The scan and the walker disagree: the scan stopped before this value. */
static grove_err jr_syntax(struct jr *r, size_t at)
{
    return jr_fail(r, "syntax error at byte %zu", at);
}

/* Consumes the value token at the cursor, checking it against the text. A
 * container is only opened: the caller walks its members. */
static grove_err jr_take(struct jr *r, struct jr_tok *out)
{
    int c = jr_peek(r);
    size_t at = r->pos;
    grove_err err;

    JR_STEPS(1);
    out->at = at;
    out->escaped = false;
    out->size = 0;
    switch (c) {
    case '{':
    case '[':
        if (r->depth >= GROVE_JSON_MAX_DEPTH)
            return jr_fail(r, "nesting deeper than %d", GROVE_JSON_MAX_DEPTH);
        if (r->next >= r->nbox || r->box[r->next].start != at)
            return jr_syntax(r, at);
        out->kind = c == '{' ? JR_OBJECT : JR_ARRAY;
        out->start = at;
        out->end = at + 1;
        out->size = r->box[r->next++].count;
        r->depth++;
        r->pos = at + 1;
        break;
    case '"': {
        size_t end = 0;
        if ((err = jr_scan_string(r, at, &end, &out->escaped)))
            return err;
        out->kind = JR_STRING;
        out->start = at + 1;
        out->end = end;
        r->pos = end + 1;
        break;
    }
    case 't':
    case 'f':
    case 'n': {
        static const char *const lits[] = {"true", "false", "null"};
        int k = c == 't' ? 0 : c == 'f' ? 1 : 2;
        size_t n = strlen(lits[k]);
        if (r->len - at < n || memcmp(r->js + at, lits[k], n) != 0 || !jr_is_delim(r, at + n))
            return jr_fail(r, "invalid literal at byte %zu", at);
        out->kind = k == 0 ? JR_TRUE : k == 1 ? JR_FALSE : JR_NULL;
        out->start = at;
        out->end = at + n;
        r->pos = at + n;
        break;
    }
    default:
        if (c == '-' || (c >= '0' && c <= '9')) {
            size_t end = 0;
            if ((err = jr_scan_number(r, at, &end)))
                return err;
            out->kind = JR_NUMBER;
            out->start = at;
            out->end = end;
            r->pos = end;
            break;
        }
        return jr_unexpected(r, at, "a value");
    }
    return GROVE_OK;
}

/* Member iteration for an object opened by jr_take. Sets *more to false at
 * the closing brace; otherwise *key is the key token and the cursor is at the
 * member's value. *first must start true. */
static grove_err jr_member(struct jr *r, bool *first, struct jr_tok *key, bool *more)
{
    int c = jr_peek(r);
    if (c == '}' && *first) {
        r->pos++;
        r->depth--;
        *more = false;
        return GROVE_OK;
    }
    if (!*first) {
        if (c == '}') {
            r->pos++;
            r->depth--;
            *more = false;
            return GROVE_OK;
        }
        if (c != ',')
            return jr_unexpected(r, r->pos, "',' or '}'");
        r->pos++;
        c = jr_peek(r);
    }
    *first = false;
    if (c != '"')
        return jr_unexpected(r, r->pos, "a string key");
    grove_err err = jr_take(r, key);
    if (err)
        return err;
    if (jr_peek(r) != ':')
        return jr_unexpected(r, r->pos, "':'");
    r->pos++;
    *more = true;
    return GROVE_OK;
}

/* Element iteration for an array opened by jr_take, like jr_member. */
static grove_err jr_element(struct jr *r, bool *first, bool *more)
{
    int c = jr_peek(r);
    if (c == ']') {
        r->pos++;
        r->depth--;
        *more = false;
        return GROVE_OK;
    }
    if (!*first) {
        if (c != ',')
            return jr_unexpected(r, r->pos, "',' or ']'");
        r->pos++;
    }
    *first = false;
    *more = true;
    return GROVE_OK;
}

/* Validates any value at the cursor (recursively); [*start, *end) spans it. */
static grove_err jr_value(struct jr *r, size_t *start, size_t *end)
{
    struct jr_tok t, key;
    bool first = true, more;
    grove_err err = jr_take(r, &t);
    if (err)
        return err;
    if (t.kind == JR_OBJECT) {
        for (;;) {
            if ((err = jr_member(r, &first, &key, &more)))
                return err;
            if (!more)
                break;
            if ((err = jr_value(r, NULL, NULL)))
                return err;
        }
    } else if (t.kind == JR_ARRAY) {
        for (;;) {
            if ((err = jr_element(r, &first, &more)))
                return err;
            if (!more)
                break;
            /* "[1,]": after a comma a value must follow */
            if ((err = jr_value(r, NULL, NULL)))
                return err;
        }
    }
    if (start)
        *start = t.at;
    if (end)
        *end = r->pos;
    return GROVE_OK;
}

/* ---- set-up ---- */

/* Records a container opening at byte `at`, growing r->box as needed. */
static grove_err jr_box_add(struct jr *r, size_t *cap, size_t at)
{
    if (r->nbox == *cap) {
        size_t grown = *cap ? *cap * 2 : r->len / 32 + 16;
        struct jr_box *fresh = realloc(r->box, grown * sizeof *fresh);
        if (!fresh)
            return grove_error_set(GROVE_ENOMEM, "out of memory for %zu JSON containers", grown);
        r->box = fresh;
        *cap = grown;
    }
    r->box[r->nbox++] = (struct jr_box){.start = (uint32_t)at, .count = 0};
    return GROVE_OK;
}

/* Finds every container in document order and counts its values, in one pass
 * that follows only the structure (strings, brackets, commas) and leaves the
 * grammar to the walker. The open containers are a stack no deeper than
 * GROVE_JSON_MAX_DEPTH, so each byte costs O(1), and the scan ends at the
 * first container too deep or bracket unmatched. Up to there the walker meets
 * the same containers at the same depths, so it fails at that byte at the
 * latest and never needs a container the scan did not record. */
static grove_err jr_scan(struct jr *r)
{
    const unsigned char *s = (const unsigned char *)r->js;
    size_t n = r->len, cap = 0;
    uint32_t open[GROVE_JSON_MAX_DEPTH]; /* r->box index of each open container */
    int depth = 0;
    bool fresh = false; /* the innermost open container has seen nothing yet */
    grove_err err;

    r->scan_failed = true;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        JR_STEPS(1);
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        if (fresh) {
            fresh = false;
            if (c != ']' && c != '}')
                r->box[open[depth - 1]].count = 1;
        }
        switch (c) {
        case '"': {
            size_t from = ++i;
            /* To the closing quote, stepping over escapes; the walker checks them. */
            while (i < n && s[i] != '"') {
                while (i < n && jr_plain[s[i]])
                    i++;
                if (i < n && s[i] != '"')
                    i += s[i] == '\\' ? 2 : 1;
            }
            JR_STEPS(i - from);
            if (i >= n)
                return GROVE_OK;
            break;
        }
        case '{':
        case '[':
            if (depth == GROVE_JSON_MAX_DEPTH)
                return GROVE_OK;
            if ((err = jr_box_add(r, &cap, i)))
                return err;
            open[depth++] = (uint32_t)(r->nbox - 1);
            fresh = true;
            break;
        case '}':
        case ']':
            if (depth == 0)
                return GROVE_OK;
            depth--;
            break;
        case ',':
            if (depth == 0)
                return GROVE_OK;
            r->box[open[depth - 1]].count++;
            break;
        default:
            break;
        }
    }
    r->scan_failed = depth != 0;
    return GROVE_OK;
}

/* Prepares a walk over json. With msg, the text is copied into its arena
 * first so that slices and unescaped strings can live there. */
static grove_err jr_begin(struct jr *r, const char *json, size_t len, void *msg)
{
    memset(r, 0, sizeof *r);
    r->len = len;
    r->js = json;
    r->msg = msg;
    if (len > (size_t)INT_MAX / 2)
        return grove_error_set(GROVE_ETOOBIG, "body: %zu bytes is too large to decode", len);
    if (len == 0)
        return grove_error_set(GROVE_EINVAL, "body: empty");
    size_t bad = json_utf8_check((const unsigned char *)json, len);
    if (bad != len)
        return grove_error_set(GROVE_EINVAL, "body: invalid UTF-8 at byte %zu", bad);
    if (msg) {
        r->text = grove_msg_alloc(msg, len + 1);
        if (!r->text)
            return grove_error_set(GROVE_ENOMEM, "out of memory for a %zu-byte body", len);
        memcpy(r->text, json, len);
        r->text[len] = '\0';
        r->js = r->text;
    }
    return jr_scan(r);
}

/* After the root value only whitespace may follow. */
static grove_err jr_finish(struct jr *r)
{
    r->npath = 0;
    jr_ws(r);
    if (r->pos != r->len)
        return jr_fail(r, "trailing characters at byte %zu", r->pos);
    if (r->scan_failed)
        return jr_syntax(r, r->pos); /* the walker should have caught it first */
    return GROVE_OK;
}

static void jr_release(struct jr *r)
{
    free(r->box);
    r->box = NULL;
}

grove_err grove_json_validate(const char *json, size_t len)
{
    struct jr r;
    grove_err err = jr_begin(&r, json, len, NULL);
    if (!err)
        err = jr_value(&r, NULL, NULL);
    if (!err)
        err = jr_finish(&r);
    jr_release(&r);
    return err;
}

/* ---- typed readers ---- */

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
static grove_err jr_expect(struct jr *r, int c, const char *accept, const char *what)
{
    if (c >= 0 && (accept[0] == c || strchr(accept, c)))
        return GROVE_OK;
    if (!jr_value_start(c))
        return jr_unexpected(r, r->pos, "a value");
    return jr_fail(r, "expected %s, got %s", what, jr_kind_name(c));
}

/* Consumes null when it comes next: optional fields treat it as absent. */
static grove_err jr_null(struct jr *r, bool *is_null)
{
    struct jr_tok t;
    *is_null = false;
    if (jr_peek(r) != 'n')
        return GROVE_OK;
    *is_null = true;
    return jr_take(r, &t);
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
            jr_hex4((const unsigned char *)s, i, n, &cp);
            i += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                jr_hex4((const unsigned char *)s, i + 2, n, &lo);
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
static grove_err jr_string(struct jr *r, const char **out, size_t *len)
{
    struct jr_tok t;
    grove_err err = jr_expect(r, jr_peek(r), "\"", "a string");
    if (!err)
        err = jr_take(r, &t);
    if (err)
        return err;
    char *p = r->text + t.start;
    size_t n = t.end - t.start;
    if (t.escaped) {
        n = jr_unescape(p, n);
        if (memchr(p, '\0', n))
            return jr_fail(r, "NUL character not allowed");
    }
    p[n] = '\0'; /* overwrites the closing quote, which the walker has passed */
    *out = p;
    if (len)
        *len = n;
    return GROVE_OK;
}

static grove_err jr_bool(struct jr *r, bool *out)
{
    struct jr_tok t;
    bool is_null;
    grove_err err = jr_null(r, &is_null);
    if (err || is_null)
        return err;
    if ((err = jr_expect(r, jr_peek(r), "tf", "true or false")) || (err = jr_take(r, &t)))
        return err;
    *out = t.kind == JR_TRUE;
    return GROVE_OK;
}

/* Reads an integer in [0, max] exactly from its text. */
static grove_err jr_uint(struct jr *r, uint64_t max, const char *negative, uint64_t *out)
{
    struct jr_tok t;
    int c = jr_peek(r);
    grove_err err = (c >= '0' && c <= '9') ? GROVE_OK : jr_expect(r, c, "-0123456789", "integer");
    if (!err)
        err = jr_take(r, &t);
    if (err)
        return err;
    const char *s = r->js + t.start;
    size_t n = t.end - t.start, i = 0;
    bool neg = s[0] == '-';
    if (memchr(s, '.', n) || memchr(s, 'e', n) || memchr(s, 'E', n))
        return jr_fail(r, "expected integer, got %.*s", (int)(n > 32 ? 32 : n), s);
    if (neg) {
        if (strspn(s + 1, "0") != n - 1) /* "-0" is zero */
            return jr_fail(r, "%s", negative);
        i = 1;
    }
    uint64_t v = 0;
    for (; i < n; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (max - d) / 10)
            return jr_fail(r, "%.*s out of range (0..%llu)", (int)(n > 32 ? 32 : n), s,
                           (unsigned long long)max);
        v = v * 10 + d;
    }
    *out = v;
    return GROVE_OK;
}

/* The scan's count of values in the container t opened, as a capacity: at
 * most what the rest of the body can hold at min_bytes a value, so that
 * "[1,1,1...]" or "[,,,...]" cannot make us allocate for millions. */
static size_t jr_hint(const struct jr *r, const struct jr_tok *t, size_t min_bytes)
{
    size_t most = (r->len - t->at) / min_bytes + 1;
    return t->size < most ? t->size : most;
}

/* Copies nothing: the raw value is a slice of the arena copy. */
static grove_err jr_raw(struct jr *r, struct grove_slice *out)
{
    size_t start, end;
    grove_err err = jr_value(r, &start, &end);
    if (err)
        return err;
    out->ptr = r->js + start;
    out->len = end - start;
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
    grove_err err = jr_expect(r, jr_peek(r), "{", "an object");
    return err ? err : jr_take(r, &t);
}

/* Walks the members of the object at the cursor, calling fn for known keys
 * (with the key pushed on the path) and validating the others. Rejects
 * duplicate known keys; *seen gets one bit per key present. */
typedef grove_err (*jr_member_fn)(struct jr *r, int key, void *arg);

static grove_err jr_members(struct jr *r, const char *const *names, int count, jr_member_fn fn,
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
        if ((err = jr_member(r, &first, &key, &more)))
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
                    return jr_fail(r, "duplicate key \"%.*s\"", (int)(n > 40 ? 40 : n),
                                   r->js + key.start);
            if (nunknown < UNKNOWN_TRACKED)
                unknown[nunknown++] = key;
            jr_push_key(r, r->js + key.start, n);
            err = jr_value(r, NULL, NULL);
        } else {
            if (*seen & 1u << id)
                return jr_fail(r, "duplicate key \"%s\"", names[id]);
            *seen |= 1u << id;
            jr_push_key(r, names[id], strlen(names[id]));
            err = fn(r, id, arg);
        }
        if (err)
            return err;
        jr_pop(r);
    }
}

static grove_err jr_missing(struct jr *r, unsigned seen, unsigned required,
                            const char *const *names)
{
    for (int i = 0; required >> i; i++)
        if ((required & 1u << i) && !(seen & 1u << i))
            return jr_fail(r, "missing key \"%s\"", names[i]);
    return GROVE_OK;
}

/* An object of the keys in names whose keys in `required` (a bit per key)
 * must all appear. */
static grove_err jr_members_required(struct jr *r, const char *const *names, int count,
                                     jr_member_fn fn, void *arg, unsigned required)
{
    unsigned seen;
    grove_err err = jr_members(r, names, count, fn, arg, &seen);
    return err ? err : jr_missing(r, seen, required, names);
}

/* ---- HLC ---- */

enum { HLC_TS, HLC_C, HLC_NODE };
static const char *const jr_hlc_keys[] = {"ts", "c", "node"};

static grove_err jr_hlc_member(struct jr *r, int key, void *arg)
{
    struct grove_hlc *h = arg;
    uint64_t v;
    const char *s;
    size_t n;
    grove_err err;
    switch (key) {
    case HLC_TS:
        if ((err = jr_uint(r, INT64_MAX, "out of range (0..9223372036854775807)", &v)))
            return err;
        h->ts = (int64_t)v;
        return GROVE_OK;
    case HLC_C:
        if ((err = jr_uint(r, UINT32_MAX, "out of range (0..4294967295)", &v)))
            return err;
        h->c = (uint32_t)v;
        return GROVE_OK;
    default:
        if ((err = jr_string(r, &s, &n)))
            return err;
        if (n > GROVE_NODE_ID_MAX)
            return jr_fail(r, "node id longer than %d bytes", GROVE_NODE_ID_MAX);
        memcpy(h->node, s, n + 1);
        return GROVE_OK;
    }
}

/* An HLC object; null (when allowed) or absent keys leave zeros. */
static grove_err jr_hlc(struct jr *r, struct grove_hlc *h, bool allow_null)
{
    bool is_null;
    grove_err err;
    memset(h, 0, sizeof *h);
    if (allow_null && ((err = jr_null(r, &is_null)) || is_null))
        return err;
    return jr_members_required(r, jr_hlc_keys, 3, jr_hlc_member, h, 1u << HLC_TS);
}

/* ---- change records ---- */

enum {
    CH_TABLE,
    CH_PK,
    CH_FIELD,
    CH_CRDT,
    CH_HLC,
    CH_NODE_ID,
    CH_VALUE,
    CH_TOMBSTONE,
    CH_COUNTER,
    CH_SET_OP,
    CH_COUNT
};
static const char *const jr_change_keys[] = {"table",         "pk",      "field", "crdt_type",
                                             "hlc",           "node_id", "value", "tombstone",
                                             "counter_delta", "set_op"};

static const char *const jr_counter_keys[] = {"inc", "dec"};

static grove_err jr_counter_member(struct jr *r, int key, void *arg)
{
    struct grove_change *c = arg;
    uint64_t v;
    grove_err err = jr_uint(r, INT64_MAX, "negative counter total", &v);
    if (err)
        return err;
    *(key == 0 ? &c->counter_inc : &c->counter_dec) = (int64_t)v;
    return GROVE_OK;
}

/* Reads an array of raw values (set elements) into the arena. */
static grove_err jr_raw_array(struct jr *r, struct grove_slice **out, size_t *count)
{
    struct jr_tok t;
    bool first = true, more, is_null;
    size_t cap = 0, n = 0;
    struct grove_slice *items = NULL;
    grove_err err = jr_null(r, &is_null);
    if (err || is_null)
        return err;
    if ((err = jr_expect(r, jr_peek(r), "[", "an array")) || (err = jr_take(r, &t)))
        return err;
    for (;;) {
        if ((err = jr_element(r, &first, &more)))
            return err;
        if (!more)
            break;
        if (n == cap) {
            size_t hint = jr_hint(r, &t, 2);
            size_t grown = cap ? cap * 2 : hint ? hint : 4;
            struct grove_slice *fresh = grove_msg_alloc(r->msg, grown * sizeof *fresh);
            if (!fresh)
                return grove_error_set(GROVE_ENOMEM, "out of memory for %zu elements", grown);
            if (n)
                memcpy(fresh, items, n * sizeof *items);
            items = fresh;
            cap = grown;
        }
        jr_push_index(r, n);
        err = jr_raw(r, &items[n]);
        if (err)
            return err;
        jr_pop(r);
        n++;
    }
    *out = items;
    *count = n;
    return GROVE_OK;
}

static const char *const jr_set_keys[] = {"op", "elements"};

static grove_err jr_set_member(struct jr *r, int key, void *arg)
{
    struct grove_change *c = arg;
    const char *s;
    size_t n;
    grove_err err;
    if (key == 1)
        return jr_raw_array(r, &c->elements, &c->element_count);
    if ((err = jr_string(r, &s, &n)))
        return err;
    if (strcmp(s, "add") == 0)
        c->set_op = GROVE_SET_ADD;
    else if (strcmp(s, "remove") == 0)
        c->set_op = GROVE_SET_REMOVE;
    else
        return jr_fail(r, "unknown op \"%.*s\" (expected add or remove)", (int)(n > 32 ? 32 : n),
                       s);
    return GROVE_OK;
}

static grove_err jr_change_member(struct jr *r, int key, void *arg)
{
    struct grove_change *c = arg;
    const char *s;
    size_t n;
    unsigned seen;
    bool is_null;
    grove_err err;
    switch (key) {
    case CH_TABLE:
        return jr_string(r, &c->table, NULL);
    case CH_PK:
        return jr_string(r, &c->pk, NULL);
    case CH_FIELD:
        return jr_string(r, &c->field, NULL);
    case CH_NODE_ID:
        return jr_string(r, &c->node_id, NULL);
    case CH_CRDT:
        if ((err = jr_string(r, &s, &n)))
            return err;
        if (grove_crdt_parse(s, n, &c->crdt))
            return jr_fail(r, "unknown crdt_type \"%.*s\" (expected lww, counter or set)",
                           (int)(n > 32 ? 32 : n), s);
        return GROVE_OK;
    case CH_HLC:
        return jr_hlc(r, &c->hlc, false);
    case CH_VALUE:
        return jr_raw(r, &c->value);
    case CH_TOMBSTONE:
        return jr_bool(r, &c->tombstone);
    case CH_COUNTER:
        if ((err = jr_null(r, &is_null)) || is_null)
            return err;
        c->has_counter = true;
        return jr_members(r, jr_counter_keys, 2, jr_counter_member, c, &seen);
    default: /* CH_SET_OP */
        if ((err = jr_null(r, &is_null)) || is_null)
            return err;
        return jr_members_required(r, jr_set_keys, 2, jr_set_member, c, 1u);
    }
}

static grove_err jr_change(struct jr *r, struct grove_change *c)
{
    unsigned seen;
    grove_err err;
    memset(c, 0, sizeof *c);
    err = jr_members(r, jr_change_keys, CH_COUNT, jr_change_member, c, &seen);
    if (!err)
        err = jr_missing(r, seen, 1u << CH_TABLE | 1u << CH_PK | 1u << CH_HLC | 1u << CH_NODE_ID,
                         jr_change_keys);
    if (err)
        return err;
    /* Only a row delete may leave field and crdt_type empty (Grove's Go
     * server sends "_tombstone" and "", its TS client "" and "lww"). */
    if (!c->tombstone) {
        if ((err = jr_missing(r, seen, 1u << CH_FIELD | 1u << CH_CRDT, jr_change_keys)))
            return err;
        if (c->field[0] == '\0')
            return jr_fail(r, "empty \"field\" on a record that is not a tombstone");
        if (c->crdt == GROVE_CRDT_NONE)
            return jr_fail(r, "empty \"crdt_type\" on a record that is not a tombstone");
    }
    if (!c->field)
        c->field = "";
    return GROVE_OK;
}

/* "changes": an array of records (null reads as empty). */
static grove_err jr_changes(struct jr *r, struct grove_change **out, size_t *count)
{
    struct jr_tok t;
    bool first = true, more, is_null;
    size_t cap = 0, n = 0;
    grove_err err = jr_null(r, &is_null);
    if (err || is_null)
        return err;
    if ((err = jr_expect(r, jr_peek(r), "[", "an array")) || (err = jr_take(r, &t)))
        return err;
    /* The scan counted the elements: size the array once (a record takes
     * over 60 bytes). */
    size_t hint = jr_hint(r, &t, 60);
    if (hint && (err = grove_msg_reserve_changes(r->msg, out, &cap, hint)))
        return err;
    for (;;) {
        if ((err = jr_element(r, &first, &more)))
            return err;
        if (!more)
            break;
        if ((err = grove_msg_reserve_changes(r->msg, out, &cap, n + 1)))
            return err;
        jr_push_index(r, n);
        if ((err = jr_change(r, &(*out)[n])))
            return err;
        jr_pop(r);
        n++;
    }
    *count = n;
    return GROVE_OK;
}

/* ---- messages ---- */

enum { PQ_TABLES, PQ_SINCE, PQ_NODE_ID, PQ_LIMIT };
static const char *const jr_pull_request_keys[] = {"tables", "since", "node_id", "limit"};

static grove_err jr_tables(struct jr *r, struct grove_pull_request *req)
{
    struct jr_tok t;
    bool first = true, more, is_null;
    size_t cap = 0;
    grove_err err = jr_null(r, &is_null);
    if (err || is_null)
        return err;
    if ((err = jr_expect(r, jr_peek(r), "[", "an array")) || (err = jr_take(r, &t)))
        return err;
    for (;;) {
        if ((err = jr_element(r, &first, &more)))
            return err;
        if (!more)
            return GROVE_OK;
        if (req->table_count == cap) {
            size_t hint = jr_hint(r, &t, 3);
            size_t grown = cap ? cap * 2 : hint ? hint : 4;
            const char **fresh = grove_msg_alloc(req, grown * sizeof *fresh);
            if (!fresh)
                return grove_error_set(GROVE_ENOMEM, "out of memory for %zu tables", grown);
            if (cap)
                memcpy(fresh, req->tables, cap * sizeof *fresh);
            req->tables = fresh;
            cap = grown;
        }
        jr_push_index(r, req->table_count);
        if ((err = jr_string(r, &req->tables[req->table_count], NULL)))
            return err;
        jr_pop(r);
        req->table_count++;
    }
}

static grove_err jr_pull_request_member(struct jr *r, int key, void *arg)
{
    struct grove_pull_request *req = arg;
    uint64_t v;
    bool is_null;
    grove_err err;
    switch (key) {
    case PQ_TABLES:
        return jr_tables(r, req);
    case PQ_SINCE:
        return jr_hlc(r, &req->since, true);
    case PQ_NODE_ID:
        return jr_string(r, &req->node_id, NULL);
    default:
        if ((err = jr_null(r, &is_null)) || is_null)
            return err;
        if ((err = jr_uint(r, UINT32_MAX, "out of range (0..4294967295)", &v)))
            return err;
        req->limit = (uint32_t)v;
        return GROVE_OK;
    }
}

static grove_err jr_pull_request(struct jr *r, void *msg)
{
    return jr_members_required(r, jr_pull_request_keys, 4, jr_pull_request_member, msg,
                               1u << PQ_TABLES | 1u << PQ_NODE_ID);
}

/* "since" is only on stream batches; a pull response with one is accepted too. */
enum { PR_CHANGES, PR_LATEST, PR_HAS_MORE, PR_SINCE };
static const char *const jr_pull_response_keys[] = {"changes", "latest_hlc", "has_more", "since"};

static grove_err jr_pull_response_member(struct jr *r, int key, void *arg)
{
    struct grove_pull_response *resp = arg;
    switch (key) {
    case PR_CHANGES:
        return jr_changes(r, &resp->changes, &resp->count);
    case PR_LATEST:
        return jr_hlc(r, &resp->latest_hlc, true);
    case PR_SINCE:
        return jr_hlc(r, &resp->since, true);
    default:
        return jr_bool(r, &resp->has_more);
    }
}

static grove_err jr_pull_response(struct jr *r, void *msg)
{
    return jr_members_required(r, jr_pull_response_keys, 4, jr_pull_response_member, msg,
                               1u << PR_CHANGES | 1u << PR_LATEST);
}

enum { PS_CHANGES, PS_NODE_ID };
static const char *const jr_push_request_keys[] = {"changes", "node_id"};

static grove_err jr_push_request_member(struct jr *r, int key, void *arg)
{
    struct grove_push_request *req = arg;
    if (key == PS_CHANGES)
        return jr_changes(r, &req->changes, &req->count);
    return jr_string(r, &req->node_id, NULL);
}

static grove_err jr_push_request(struct jr *r, void *msg)
{
    return jr_members_required(r, jr_push_request_keys, 2, jr_push_request_member, msg,
                               1u << PS_CHANGES | 1u << PS_NODE_ID);
}

enum { PP_MERGED, PP_LATEST };
static const char *const jr_push_response_keys[] = {"merged", "latest_hlc"};

static grove_err jr_push_response_member(struct jr *r, int key, void *arg)
{
    struct grove_push_response *resp = arg;
    if (key == PP_MERGED)
        return jr_uint(r, UINT64_MAX, "out of range (0..18446744073709551615)", &resp->merged);
    return jr_hlc(r, &resp->latest_hlc, true);
}

static grove_err jr_push_response(struct jr *r, void *msg)
{
    return jr_members_required(r, jr_push_response_keys, 2, jr_push_response_member, msg,
                               1u << PP_MERGED | 1u << PP_LATEST);
}

/* A bare array of records, or one record. */
static grove_err jr_bare_changes(struct jr *r, void *msg)
{
    struct grove_pull_response *resp = msg;
    size_t cap = 0;
    grove_err err;
    if (jr_peek(r) == '{') {
        if ((err = grove_msg_reserve_changes(msg, &resp->changes, &cap, 1)))
            return err;
        resp->count = 1;
        return jr_change(r, &resp->changes[0]);
    }
    if (jr_peek(r) == 'n')
        return jr_expect(r, 'n', "[{", "an array or an object");
    return jr_changes(r, &resp->changes, &resp->count);
}

/* Runs one decoder over json; msg is freed on failure. */
static grove_err jr_decode(const char *json, size_t len, void *msg,
                           grove_err (*fn)(struct jr *r, void *msg))
{
    struct jr r;
    grove_err err = jr_begin(&r, json, len, msg);
    if (!err)
        err = fn(&r, msg);
    if (!err)
        err = jr_finish(&r);
    jr_release(&r);
    if (err)
        grove_msg_free(msg);
    return err;
}

/* grove_json_decode_<name>: a new message of `type` decoded by fn; *out is it
 * on success and NULL on failure. */
#define JR_DEFINE_DECODE(name, type, fn)                                                           \
    grove_err grove_json_decode_##name(const char *json, size_t len, struct grove_##type **out)    \
    {                                                                                              \
        struct grove_##type *m;                                                                    \
        grove_err err = grove_##type##_new(&m);                                                    \
        *out = NULL;                                                                               \
        if (!err && !(err = jr_decode(json, len, m, fn)))                                          \
            *out = m;                                                                              \
        return err;                                                                                \
    }
JR_DEFINE_DECODE(pull_request, pull_request, jr_pull_request)
JR_DEFINE_DECODE(pull_response, pull_response, jr_pull_response)
JR_DEFINE_DECODE(stream_batch, pull_response, jr_pull_response)
JR_DEFINE_DECODE(push_request, push_request, jr_push_request)
JR_DEFINE_DECODE(push_response, push_response, jr_push_response)
JR_DEFINE_DECODE(changes, pull_response, jr_bare_changes)

/* The HLC is decoded in a scratch message so its node string has an arena. */
static grove_err jr_standalone_hlc(struct jr *r, void *msg)
{
    struct grove_pull_response *scratch = msg;
    return jr_hlc(r, &scratch->latest_hlc, false);
}

grove_err grove_json_decode_hlc(const char *json, size_t len, struct grove_hlc *out)
{
    struct grove_pull_response *scratch;
    grove_err err = grove_pull_response_new(&scratch);
    if (err)
        return err;
    if ((err = jr_decode(json, len, scratch, jr_standalone_hlc)))
        return err; /* jr_decode freed scratch */
    *out = scratch->latest_hlc;
    grove_msg_free(scratch);
    return GROVE_OK;
}
