/* The first half of JSON decoding (docs/protocol.md §9): the scan that finds
 * every container and how many values it holds, and the token walker that
 * checks the text (grammar, numbers, literals, escapes, control characters,
 * depth, duplicate keys) as json_read.c's typed readers consume it. Both are
 * linear in the input whatever its shape, and both stop at the first
 * container deeper than GROVE_JSON_MAX_DEPTH. */
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grove/json.h"
#include "grove/sys/error.h"
#include "json_scan.h"
#include "json_utf8.h"

#ifdef GROVE_JSON_STEPS
size_t grove_jr_steps;
#endif

/* ---- locations and errors ---- */

static void jr_where(const struct jr *r, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    if (r->npath == 0) {
        snprintf(out, cap, "%s", r->root);
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

grove_err grove_jr_fail(struct jr *r, const char *fmt, ...)
{
    char where[320];
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    jr_where(r, where, sizeof where);
    return grove_error_set(GROVE_EINVAL, "%s%s%s", where, where[0] ? ": " : "", what);
}

void grove_jr_push_key(struct jr *r, const char *key, size_t len)
{
    if (r->npath < JR_PATH_MAX)
        r->path[r->npath] = (struct jr_seg){.key = key, .len = len};
    r->npath++;
}

void grove_jr_push_index(struct jr *r, size_t index)
{
    if (r->npath < JR_PATH_MAX)
        r->path[r->npath] = (struct jr_seg){.key = NULL, .index = index};
    r->npath++;
}

void grove_jr_pop(struct jr *r)
{
    r->npath--;
}

/* Describes the byte at i for "unexpected ..." messages. */
grove_err grove_jr_unexpected(struct jr *r, size_t i, const char *expected)
{
    if (i >= r->len)
        return grove_jr_fail(r, "unexpected end of input, expected %s", expected);
    unsigned char c = (unsigned char)r->js[i];
    if (c > 0x20 && c < 0x7f)
        return grove_jr_fail(r, "unexpected '%c' at byte %zu, expected %s", c, i, expected);
    return grove_jr_fail(r, "unexpected byte 0x%02x at byte %zu, expected %s", c, i, expected);
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
int grove_jr_peek(struct jr *r)
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

bool grove_jr_hex4(const unsigned char *s, size_t i, size_t n, unsigned *out)
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
            return grove_jr_fail(r, "unterminated string starting at byte %zu", at);
        unsigned char c = s[i];
        if (c == '"')
            break;
        if (c < 0x20)
            return grove_jr_fail(r, "control character 0x%02x in string at byte %zu", c, i);
        /* backslash */
        esc = true;
        if (i + 1 >= n)
            return grove_jr_fail(r, "unterminated string starting at byte %zu", at);
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
            if (!grove_jr_hex4(s, i + 2, n, &cp))
                return grove_jr_fail(r, "invalid \\u escape at byte %zu", i);
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return grove_jr_fail(r, "lone surrogate \\u%04x at byte %zu", cp, i);
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (i + 7 >= n || s[i + 6] != '\\' || s[i + 7] != 'u' ||
                    !grove_jr_hex4(s, i + 8, n, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                    return grove_jr_fail(r, "lone surrogate \\u%04x at byte %zu", cp, i);
                i += 12;
            } else {
                i += 6;
            }
            continue;
        }
        default:
            if (s[i + 1] > 0x20 && s[i + 1] < 0x7f)
                return grove_jr_fail(r, "invalid escape '\\%c' at byte %zu", s[i + 1], i);
            return grove_jr_fail(r, "invalid escape at byte %zu", i);
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
            return grove_jr_fail(r, "invalid number at byte %zu: leading zero", at);
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
    return grove_jr_fail(r, "invalid number at byte %zu", at);
}

/* The scan and the walker disagree: the scan stopped before this value. */
static grove_err jr_syntax(struct jr *r, size_t at)
{
    return grove_jr_fail(r, "syntax error at byte %zu", at);
}

/* Consumes the value token at the cursor, checking it against the text. A
 * container is only opened: the caller walks its members. */
grove_err grove_jr_take(struct jr *r, struct jr_tok *out)
{
    int c = grove_jr_peek(r);
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
            return grove_jr_fail(r, "nesting deeper than %d", GROVE_JSON_MAX_DEPTH);
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
            return grove_jr_fail(r, "invalid literal at byte %zu", at);
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
        return grove_jr_unexpected(r, at, "a value");
    }
    return GROVE_OK;
}

/* Member iteration for an object opened by grove_jr_take. Sets *more to false at
 * the closing brace; otherwise *key is the key token and the cursor is at the
 * member's value. *first must start true. */
grove_err grove_jr_member(struct jr *r, bool *first, struct jr_tok *key, bool *more)
{
    int c = grove_jr_peek(r);
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
            return grove_jr_unexpected(r, r->pos, "',' or '}'");
        r->pos++;
        c = grove_jr_peek(r);
    }
    *first = false;
    if (c != '"')
        return grove_jr_unexpected(r, r->pos, "a string key");
    grove_err err = grove_jr_take(r, key);
    if (err)
        return err;
    if (grove_jr_peek(r) != ':')
        return grove_jr_unexpected(r, r->pos, "':'");
    r->pos++;
    *more = true;
    return GROVE_OK;
}

/* Element iteration for an array opened by grove_jr_take, like grove_jr_member. */
grove_err grove_jr_element(struct jr *r, bool *first, bool *more)
{
    int c = grove_jr_peek(r);
    if (c == ']') {
        r->pos++;
        r->depth--;
        *more = false;
        return GROVE_OK;
    }
    if (!*first) {
        if (c != ',')
            return grove_jr_unexpected(r, r->pos, "',' or ']'");
        r->pos++;
    }
    *first = false;
    *more = true;
    return GROVE_OK;
}

/* Validates any value at the cursor (recursively); [*start, *end) spans it. */
grove_err grove_jr_value(struct jr *r, size_t *start, size_t *end)
{
    struct jr_tok t, key;
    bool first = true, more;
    grove_err err = grove_jr_take(r, &t);
    if (err)
        return err;
    if (t.kind == JR_OBJECT) {
        for (;;) {
            if ((err = grove_jr_member(r, &first, &key, &more)))
                return err;
            if (!more)
                break;
            if ((err = grove_jr_value(r, NULL, NULL)))
                return err;
        }
    } else if (t.kind == JR_ARRAY) {
        for (;;) {
            if ((err = grove_jr_element(r, &first, &more)))
                return err;
            if (!more)
                break;
            /* "[1,]": after a comma a value must follow */
            if ((err = grove_jr_value(r, NULL, NULL)))
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
static grove_err jr_begin(struct jr *r, const char *json, size_t len, void *msg, const char *root)
{
    memset(r, 0, sizeof *r);
    r->len = len;
    r->js = json;
    r->msg = msg;
    r->root = root;
    const char *sep = root[0] ? ": " : "";
    if (len > (size_t)INT_MAX / 2)
        return grove_error_set(GROVE_ETOOBIG, "%s%s%zu bytes is too large to decode", root, sep,
                               len);
    if (len == 0)
        return grove_error_set(GROVE_EINVAL, "%s%sempty", root, sep);
    size_t bad = json_utf8_check((const unsigned char *)json, len);
    if (bad != len)
        return grove_error_set(GROVE_EINVAL, "%s%sinvalid UTF-8 at byte %zu", root, sep, bad);
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

grove_err grove_jr_begin(struct jr *r, const char *json, size_t len, void *msg)
{
    return jr_begin(r, json, len, msg, "body");
}

/* After the root value only whitespace may follow. */
grove_err grove_jr_finish(struct jr *r)
{
    r->npath = 0;
    jr_ws(r);
    if (r->pos != r->len)
        return grove_jr_fail(r, "trailing characters at byte %zu", r->pos);
    if (r->scan_failed)
        return jr_syntax(r, r->pos); /* the walker should have caught it first */
    return GROVE_OK;
}

void grove_jr_release(struct jr *r)
{
    free(r->box);
    r->box = NULL;
}

grove_err grove_json_validate(const char *json, size_t len)
{
    struct jr r;
    /* Unnamed: callers say which value it is ("field \"title\": ..."). */
    grove_err err = jr_begin(&r, json, len, NULL, "");
    if (!err)
        err = grove_jr_value(&r, NULL, NULL);
    if (!err)
        err = grove_jr_finish(&r);
    grove_jr_release(&r);
    return err;
}
