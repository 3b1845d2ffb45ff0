/* Differential test: grove_json_validate and jansson must agree on what is
 * valid JSON, over a corpus of tricky documents, random valid documents and
 * thousands of seeded mutations of valid ones. Excluded by design: numbers
 * jansson cannot hold (integers beyond int64, reals that overflow a double),
 * which are valid JSON and which we pass through, "\u0000" in object keys
 * (jansson keys are C strings), nesting deeper than our limit, which jansson
 * allows, and raw NUL bytes, which jansson's reader sometimes skips. GROVE_ORACLE_SEED=<n> replays
 * one seed. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grove/json.h"
#include "support.h"

#define VECTORS GROVE_SOURCE_DIR "/tests/vectors/"

/* xorshift64*: deterministic across platforms, seeded per run. */
static uint64_t rng_state;

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static size_t rng_below(size_t n)
{
    return n ? (size_t)(rng() % n) : 0;
}

static uint64_t oracle_seed(void)
{
    const char *env = getenv("GROVE_ORACLE_SEED");
    return env ? strtoull(env, NULL, 10) : 20240601;
}

/* Compares the two validators on one document; returns false when the case
 * is excluded, asserts on disagreement. */
static bool agree(const char *doc, size_t len, const char *what, uint64_t seed, long iter)
{
    json_error_t jerr;
    json_t *j = json_loadb(doc, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    bool theirs = j != NULL;
    json_decref(j);
    bool ours = grove_json_validate(doc, len) == GROVE_OK;
    if (ours == theirs)
        return true;
    if (ours && (strstr(jerr.text, "too big") || strstr(jerr.text, "overflow") ||
                 strstr(jerr.text, "NUL byte in object key")))
        return false; /* valid JSON that jansson cannot represent */
    if (!ours && strstr(grove_errmsg(), "nesting deeper than"))
        return false;
    if (!ours && memchr(doc, '\0', len))
        return false; /* jansson's reader skips some raw NUL bytes ("1\0,"): its bug */
    char hex[3 * 96 + 1] = "";
    for (size_t i = 0; i < len && i < 96; i++)
        snprintf(hex + 3 * i, 4, "%02x ", (unsigned char)doc[i]);
    char msg[2048];
    snprintf(msg, sizeof msg,
             "%s: grove says %s (%s), jansson says %s (%s)\nseed=%llu iteration=%ld len=%zu\n"
             "doc: %.*s\nhex: %s",
             what, ours ? "valid" : "invalid", ours ? "" : grove_errmsg(),
             theirs ? "valid" : "invalid", theirs ? "" : jerr.text, (unsigned long long)seed, iter,
             len, (int)(len > 300 ? 300 : len), doc, hex);
    cr_assert_fail("%s", msg);
    return false;
}

static const char *const corpus[] = {
    "0",
    "-0",
    "0.0",
    "-0.0e-0",
    "1E+2",
    "1e-2",
    "123456789012345678",
    "9223372036854775807",
    "-9223372036854775808",
    "1.7976931348623157e308",
    "5e-324",
    "1e-400",
    "01",
    "00",
    "-",
    "-a",
    "1.",
    ".1",
    "1e",
    "1e+",
    "+1",
    "0x10",
    "1_000",
    "Infinity",
    "-Infinity",
    "NaN",
    "true",
    "false",
    "null",
    "True",
    "nul",
    "nulll",
    "t",
    "\"\"",
    "\"a\"",
    "\"\\\"\"",
    "\"\\/\"",
    "\"\\u0000\"",
    "\"\\u00e9\"",
    "\"\\uD83D\\uDE00\"",
    "\"\\ud83d\"",
    "\"\\ude00\"",
    "\"\\ud83d\\u0041\"",
    "\"\\u12\"",
    "\"\\u12g4\"",
    "\"\\x\"",
    "\"\\'\"",
    "\"a\tb\"",
    "\"a\x7f b\"",
    "\"\xc3\xa9\"",
    "\"\xc3\"",
    "\"\xc0\x80\"",
    "\"\xe0\x80\xaf\"",
    "\"\xed\xa0\x80\"",
    "\"\xf4\x90\x80\x80\"",
    "\"\xf0\x9f\x98\x80\"",
    "\"\xff\"",
    "\"\xef\xbf\xbf\"",
    "[]",
    "[ ]",
    "[,]",
    "[1,]",
    "[,1]",
    "[1,,2]",
    "[1 2]",
    "[[]",
    "[]]",
    "{}",
    "{ }",
    "{\"a\":1}",
    "{\"a\":1,}",
    "{,\"a\":1}",
    "{\"a\" 1}",
    "{\"a\":}",
    "{\"a\"}",
    "{a:1}",
    "{'a':1}",
    "{\"a\":1 \"b\":2}",
    "{\"a\":1,\"a\":2}",
    "{\"a\":[1,{\"b\":null}]}",
    "{1:1}",
    "{[]:1}",
    "{{}:1}",
    "{\"a\"::1}",
    "{\"a\":1:2}",
    "[\"a\":1]",
    " \t\r\n[] \t\r\n",
    "\f[]",
    "\v[]",
    "[]\x00",
    "\x00",
    "",
    " ",
    "[1]x",
    "[1]]",
    "{}{}",
    "1 2",
    "\"a\" \"b\"",
    "\xef\xbb\xbf[]",
    "[-]",
    "[--1]",
    "[1e5e5]",
    "[1.2.3]",
    "[truefalse]",
    "[true,false]",
    "[\"a\"\"b\"]",
    "[1\"a\"]",
    "[true\"a\"]",
    "{\"a\":true\"b\"}",
    "[\"\\",
    "[\"",
    "\"",
    "{\"",
    "{\"a",
    "{\"a\"",
    "{\"a\":",
    "{\"a\":1",
    "[1",
    "[1,",
    "[{}",
    "[{\"a\":[]},{\"b\":{}}]",
};

Test(json_oracle, tricky_corpus)
{
    for (size_t i = 0; i < sizeof corpus / sizeof corpus[0]; i++)
        agree(corpus[i], strlen(corpus[i]), "corpus", 0, (long)i);
    /* Embedded NUL bytes (not expressible in the C strings above). */
    agree("[1]\0", 4, "nul after", 0, 0);
    agree("[\0]", 3, "nul in array", 0, 0);
    agree("\"a\0\"", 4, "nul in string", 0, 0);
}

/* ---- random valid documents ---- */

struct doc {
    char *data;
    size_t len, cap;
};

static void put(struct doc *d, const char *s, size_t n)
{
    if (d->len + n + 1 > d->cap) {
        d->cap = (d->len + n + 1) * 2;
        d->data = realloc(d->data, d->cap);
        cr_assert(d->data);
    }
    memcpy(d->data + d->len, s, n);
    d->len += n;
    d->data[d->len] = '\0';
}

static void puts_(struct doc *d, const char *s)
{
    put(d, s, strlen(s));
}

static void gen_ws(struct doc *d)
{
    static const char *const ws[] = {"", "", "", " ", "\n", "\t", "\r\n  "};
    puts_(d, ws[rng_below(7)]);
}

static void gen_string(struct doc *d)
{
    static const char *const pieces[] = {"a",
                                         "xyz",
                                         "\\\"",
                                         "\\\\",
                                         "\\/",
                                         "\\n",
                                         "\\u00e9",
                                         "\\ud83d\\ude00",
                                         "\xc3\xa9",
                                         "\xe2\x82\xac",
                                         "\xf0\x9f\x98\x80",
                                         " ",
                                         "\\u0000",
                                         "\\t",
                                         "{}[],:"};
    puts_(d, "\"");
    for (size_t n = rng_below(5); n; n--)
        puts_(d, pieces[rng_below(sizeof pieces / sizeof pieces[0])]);
    puts_(d, "\"");
}

static void gen_number(struct doc *d)
{
    static const char *const nums[] = {"0",    "-0",    "7",        "-12", "3.25",   "1e3",
                                       "2E-5", "0.001", "-1.5e+10", "42",  "1000000"};
    puts_(d, nums[rng_below(sizeof nums / sizeof nums[0])]);
}

static void gen_value(struct doc *d, int depth)
{
    size_t kind = rng_below(depth > 6 ? 5 : 7);
    switch (kind) {
    case 0:
        gen_string(d);
        break;
    case 1:
        gen_number(d);
        break;
    case 2:
        puts_(d, "true");
        break;
    case 3:
        puts_(d, "false");
        break;
    case 4:
        puts_(d, "null");
        break;
    case 5:
        puts_(d, "[");
        for (size_t i = 0, n = rng_below(4); i < n; i++) {
            if (i)
                puts_(d, ",");
            gen_ws(d);
            gen_value(d, depth + 1);
            gen_ws(d);
        }
        puts_(d, "]");
        break;
    default:
        puts_(d, "{");
        for (size_t i = 0, n = rng_below(4); i < n; i++) {
            if (i)
                puts_(d, ",");
            gen_ws(d);
            gen_string(d);
            gen_ws(d);
            puts_(d, ":");
            gen_ws(d);
            gen_value(d, depth + 1);
            gen_ws(d);
        }
        puts_(d, "}");
        break;
    }
}

Test(json_oracle, random_valid_documents)
{
    uint64_t seed = oracle_seed();
    rng_state = seed * 2654435761u + 1;
    struct doc d = {0};
    for (long iter = 0; iter < 3000; iter++) {
        d.len = 0;
        gen_ws(&d);
        gen_value(&d, 0);
        gen_ws(&d);
        agree(d.data, d.len, "generated", seed, iter);
        cr_assert_eq(grove_json_validate(d.data, d.len), GROVE_OK,
                     "generated document rejected (seed=%llu iteration=%ld): %s\n%s",
                     (unsigned long long)seed, iter, grove_errmsg(), d.data);
    }
    free(d.data);
}

/* ---- mutations of valid documents ---- */

static void mutate(struct doc *d, const char *src, size_t len)
{
    static const char interesting[] = "\"{}[],:\\0123456789eE.-+ tfnul\t\n\x00\x80\xbf\xc0\xc3"
                                      "\xed\xf0\xff/ubx";
    d->len = 0;
    put(d, src, len);
    for (size_t k = 1 + rng_below(3); k; k--) {
        size_t at = rng_below(d->len + 1);
        char c = rng_below(4) ? interesting[rng_below(sizeof interesting - 1)] : (char)rng();
        switch (rng_below(5)) {
        case 0: /* overwrite */
            if (at < d->len)
                d->data[at] = c;
            break;
        case 1:            /* insert */
            put(d, "", 1); /* grow by one */
            memmove(d->data + at + 1, d->data + at, d->len - 1 - at);
            d->data[at] = c;
            break;
        case 2: /* delete a short run */
            if (at < d->len) {
                size_t n = 1 + rng_below(3);
                if (n > d->len - at)
                    n = d->len - at;
                memmove(d->data + at, d->data + at + n, d->len - at - n);
                d->len -= n;
            }
            break;
        case 3: /* truncate */
            d->len = at;
            break;
        default: { /* duplicate a short span in place */
            size_t n = 1 + rng_below(8);
            if (at + n <= d->len) {
                char span[8];
                memcpy(span, d->data + at, n);
                put(d, span, n);
                memmove(d->data + at + n, d->data + at, d->len - n - at);
                memcpy(d->data + at, span, n);
            }
            break;
        }
        }
    }
}

Test(json_oracle, mutated_vectors_agree)
{
    uint64_t seed = oracle_seed();
    rng_state = seed * 0x9E3779B97F4A7C15ULL + 7;
    DIR *dir = opendir(VECTORS);
    cr_assert(dir);
    char *docs[32];
    size_t lens[32];
    int ndocs = 0;
    for (struct dirent *e; (e = readdir(dir)) && ndocs < 32;) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".json") != 0)
            continue;
        char path[512];
        snprintf(path, sizeof path, VECTORS "%s", e->d_name);
        docs[ndocs] = support_read_file(path, &lens[ndocs]);
        ndocs++;
    }
    closedir(dir);
    cr_assert_geq(ndocs, 5);

    struct doc d = {0};
    long compared = 0, excluded = 0;
    for (long iter = 0; iter < 20000; iter++) {
        int which = (int)rng_below((size_t)ndocs);
        mutate(&d, docs[which], lens[which]);
        if (agree(d.data, d.len, "mutation", seed, iter))
            compared++;
        else
            excluded++;
        /* The decoders must never accept what the validator rejects, and
         * must survive any input (run under ASan in CI). */
        struct grove_push_request *req;
        struct grove_pull_response *resp;
        bool valid = grove_json_validate(d.data, d.len) == GROVE_OK;
        if (grove_json_decode_push_request(d.data, d.len, &req) == GROVE_OK) {
            cr_assert(valid, "decoder accepted invalid JSON (seed=%llu iteration=%ld)",
                      (unsigned long long)seed, iter);
            grove_msg_free(req);
        }
        if (grove_json_decode_pull_response(d.data, d.len, &resp) == GROVE_OK) {
            cr_assert(valid, "decoder accepted invalid JSON (seed=%llu iteration=%ld)",
                      (unsigned long long)seed, iter);
            grove_msg_free(resp);
        }
    }
    cr_log_info("seed %llu: %ld mutations compared, %ld excluded (numbers jansson cannot hold, NUL "
                "bytes, depth)",
                (unsigned long long)seed, compared, excluded);
    free(d.data);
    for (int i = 0; i < ndocs; i++)
        free(docs[i]);
}
