/* The HTTP request handling below libmicrohttpd (transport_http): the Data
 * API's request targets (grove_http_data_parse_target, grove_http_data_query
 * and their percent-decoding, http_data.c) and the sync stream's start
 * (grove_http_sse_since_parse, http_server.c). The first byte picks the
 * method; the bytes up to a newline are the target, as MHD hands it over
 * (a C string), the rest the Last-Event-ID header. A target that parses has
 * a table and pk decoded exactly as the escapes say (no NUL, none lost),
 * parses the same way again and, written back canonically, parses to the
 * same request; query values likewise. A stream start that parses writes
 * back to the same HLC. */
#include <inttypes.h>

#include "fuzz.h"
#include "http_internal.h"

static const char *const fuzz_methods[] = {"GET", "PATCH", "DELETE", "POST", "PUT", "OPTIONS"};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static void fuzz_fail(const char *what, const char *target)
{
    fprintf(stderr, "fuzz: %s: \"%s\"\n", what, target);
    abort();
}

static int fuzz_hex(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* What s[0..n) percent-decodes to, by the spec rather than the code under
 * test, into out; false for a bad escape. */
static bool fuzz_unescape(const char *s, size_t n, bool plus, struct grove_buf *out)
{
    out->len = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= n || fuzz_hex(s[i + 1]) < 0 || fuzz_hex(s[i + 2]) < 0)
                return false;
            c = (char)(fuzz_hex(s[i + 1]) << 4 | fuzz_hex(s[i + 2]));
            i += 2;
        } else if (c == '+' && plus) {
            c = ' ';
        }
        fuzz_ok(grove_buf_append(out, &c, 1), "unescaping");
    }
    return true;
}

/* Decoded exactly as the escapes say: same bytes, no NUL, none dropped. */
static void fuzz_decoded(const char *got, const char *s, size_t n, bool plus, const char *target)
{
    struct grove_buf want = {0};
    if (!fuzz_unescape(s, n, plus, &want))
        fuzz_fail("a bad escape was accepted", target);
    if (memchr(want.data, '\0', want.len) || strlen(got) != want.len ||
        memcmp(got, want.data, want.len) != 0)
        fuzz_fail("a segment decoded to other bytes", target);
    grove_buf_free(&want);
}

/* Percent-encodes every byte outside RFC 3986's unreserved set. */
static void fuzz_escape(const char *s, struct grove_buf *out)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char e[4];
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '.' || c == '_' || c == '~';
        int n = plain ? snprintf(e, sizeof e, "%c", c) : snprintf(e, sizeof e, "%%%02X", c);
        fuzz_ok(grove_buf_append(out, e, (size_t)n), "escaping");
    }
}

static void fuzz_put(struct grove_buf *out, const char *s)
{
    fuzz_ok(grove_buf_append(out, s, strlen(s) + 1), "writing a target"); /* keeps it a C string */
    out->len--;
}

static bool fuzz_same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool fuzz_same_request(const struct http_data_request *a, const struct http_data_request *b)
{
    return a->op == b->op && fuzz_same_str(a->table, b->table) && fuzz_same_str(a->pk, b->pk) &&
           fuzz_same_str(a->query, b->query);
}

/* The query names the list and the watch read. */
static const char *const fuzz_names[] = {"limit", "after", "prefix", "since", "snapshot"};
#define FUZZ_NAMES (sizeof fuzz_names / sizeof fuzz_names[0])

static void fuzz_query(const char *query, const char *target)
{
    char *values[FUZZ_NAMES] = {0}, *again[FUZZ_NAMES] = {0};
    if (grove_http_data_query(query, fuzz_names, values, FUZZ_NAMES) == GROVE_OK) {
        struct grove_buf canon = {0};
        fuzz_put(&canon, "");
        for (size_t i = 0; i < FUZZ_NAMES; i++) {
            if (!values[i])
                continue;
            if (canon.len)
                fuzz_put(&canon, "&");
            fuzz_put(&canon, fuzz_names[i]);
            fuzz_put(&canon, "=");
            fuzz_escape(values[i], &canon);
        }
        fuzz_ok(grove_http_data_query(canon.data, fuzz_names, again, FUZZ_NAMES),
                "parsing a query written back");
        for (size_t i = 0; i < FUZZ_NAMES; i++)
            if (!fuzz_same_str(values[i], again[i]))
                fuzz_fail("a query written back parses to other values", target);
        grove_buf_free(&canon);
    }
    for (size_t i = 0; i < FUZZ_NAMES; i++) {
        free(values[i]);
        free(again[i]);
    }
}

/* The target as a client would write it for req. */
static void fuzz_canonical(const struct http_data_request *req, struct grove_buf *out)
{
    fuzz_put(out, "/v1/tables/");
    fuzz_escape(req->table, out);
    if (req->op == DATA_WATCH)
        fuzz_put(out, "/watch");
    else if (req->op != DATA_TABLE)
        fuzz_put(out, "/rows");
    if (req->pk) {
        fuzz_put(out, "/");
        fuzz_escape(req->pk, out);
    }
    if (req->query) {
        fuzz_put(out, "?");
        fuzz_put(out, req->query);
    }
}

static void fuzz_data_target(const char *method, const char *target)
{
    if (!grove_http_data_is_path(target))
        return;
    struct http_data_request *req = calloc(1, sizeof *req), *again = calloc(1, sizeof *again);
    if (!req || !again)
        abort();
    const char *allow = NULL;
    int status = 0;
    grove_err err = grove_http_data_parse_target(method, target, req, &allow, &status);
    if (err) {
        if (status != 400 && status != 404 && !(status == 405 && allow))
            fuzz_fail("a refusal without its status", target);
    } else {
        size_t path_len = strcspn(target, "?");
        const char *table = target + 11; /* after "/v1/tables/" */
        fuzz_decoded(req->table, table, strcspn(table, "/?"), false, target);
        if (req->pk) {
            const char *pk = memchr(table, '/', path_len - 11);
            pk = memchr(pk + 1, '/', (size_t)(target + path_len - pk - 1));
            fuzz_decoded(req->pk, pk + 1, (size_t)(target + path_len - pk - 1), false, target);
        }
        if ((req->pk != NULL) !=
            (req->op == DATA_GET_ROW || req->op == DATA_PATCH_ROW || req->op == DATA_DELETE_ROW))
            fuzz_fail("a pk on an op without one, or none on a row op", target);
        if (grove_http_data_parse_target(method, target, again, &allow, &status) ||
            !fuzz_same_request(req, again))
            fuzz_fail("a target parses another way the second time", target);
        grove_http_data_free(again);
        again = calloc(1, sizeof *again);
        struct grove_buf canon = {0};
        fuzz_canonical(req, &canon);
        if (!again || grove_http_data_parse_target(method, canon.data, again, &allow, &status) ||
            !fuzz_same_request(req, again)) {
            fprintf(stderr, "fuzz: written back as \"%s\"\n", canon.data);
            fuzz_fail("a target written back parses to another request", target);
        }
        grove_buf_free(&canon);
    }
    grove_http_data_free(req);
    grove_http_data_free(again);
}

/* The first value of name in query, decoded as libmicrohttpd does ('+' a
 * space, then %XX); NULL when absent or given without '='. */
static char *fuzz_mhd_value(const char *query, const char *name)
{
    for (const char *p = query; p;) {
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        char *arg = strndup(p, n);
        if (!arg)
            abort();
        char *eq = strchr(arg, '=');
        char *value = eq ? eq + 1 : NULL;
        if (eq)
            *eq = '\0';
        for (char *c = arg; *c; c++)
            *c = *c == '+' ? ' ' : *c;
        for (char *c = value; c && *c; c++)
            *c = *c == '+' ? ' ' : *c;
        MHD_http_unescape(arg);
        if (strcmp(arg, name) == 0) {
            if (!value) { /* MHD has no value for "name" alone */
                free(arg);
                return NULL;
            }
            size_t len = MHD_http_unescape(value);
            memmove(arg, value, len + 1);
            return arg;
        }
        free(arg);
        p = amp ? amp + 1 : NULL;
    }
    return NULL;
}

static bool fuzz_same_hlc(const struct grove_hlc *a, const struct grove_hlc *b)
{
    return a->ts == b->ts && a->c == b->c && strcmp(a->node, b->node) == 0;
}

static void fuzz_stream_start(const char *target, const char *last)
{
    const char *q = strchr(target, '?');
    char *ts = NULL, *c = NULL, *node = NULL;
    if (q) {
        ts = fuzz_mhd_value(q + 1, "since_ts");
        c = fuzz_mhd_value(q + 1, "since_count");
        node = fuzz_mhd_value(q + 1, "since_node");
    }
    struct grove_hlc since, again;
    if (grove_http_sse_since_parse(ts, c, node, last, &since) == GROVE_OK) {
        if (since.ts < 0 || strlen(since.node) > GROVE_NODE_ID_MAX)
            fuzz_fail("a stream start out of range", target);
        char ts_text[32], c_text[16];
        snprintf(ts_text, sizeof ts_text, "%" PRId64, since.ts);
        snprintf(c_text, sizeof c_text, "%" PRIu32, since.c);
        fuzz_ok(grove_http_sse_since_parse(ts_text, c_text, since.node, NULL, &again),
                "a stream start written back as its query");
        if (!fuzz_same_hlc(&since, &again))
            fuzz_fail("a stream start written back as its query differs", target);
        struct grove_buf id = {0};
        fuzz_ok(grove_http_hlc_format(&since, &id), "formatting a stream start");
        fuzz_ok(grove_buf_append(&id, "", 1), "formatting a stream start");
        fuzz_ok(grove_http_sse_since_parse(NULL, NULL, NULL, id.data, &again),
                "a stream start written back as Last-Event-ID");
        if (!fuzz_same_hlc(&since, &again))
            fuzz_fail("a stream start written back as Last-Event-ID differs", target);
        grove_buf_free(&id);
    }
    free(ts);
    free(c);
    free(node);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *method = fuzz_methods[data[0] % (sizeof fuzz_methods / sizeof fuzz_methods[0])];
    const char *rest = (const char *)data + 1;
    size_t n = size - 1;
    const char *nl = memchr(rest, '\n', n);
    size_t target_len = nl ? (size_t)(nl - rest) : n;
    char *target = strndup(rest, target_len);
    char *last = nl ? strndup(nl + 1, n - target_len - 1) : NULL;
    if (!target || (nl && !last))
        abort();
    fuzz_data_target(method, target);
    const char *q = strchr(target, '?');
    fuzz_query(q ? q + 1 : target, target);
    fuzz_stream_start(target, last);
    free(target);
    free(last);
    return 0;
}
