/* The Data API over HTTP (docs/data-api.md "HTTP"), against a real node with
 * a real listener on 127.0.0.1 (at http://127.0.0.1:<port>/sync, so the Data
 * API is at http://127.0.0.1:<port>/v1/): every operation, each bad request,
 * pks with '/' and spaces, a 2,500-row list in pages, and watches that resume
 * from Last-Event-ID missing nothing and repeating nothing. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "grove/json.h"
#include "transport_http/http_fixture.h"

/* ---- a node and requests -------------------------------------------------------- */

struct data_node {
    struct http_node http;
    char root[128]; /* http://127.0.0.1:<port> */
    int port;
};

static void data_node_start(struct data_node *n, const struct grove_listen_options *opts)
{
    http_node_start(&n->http, opts);
    cr_assert_eq(sscanf(n->http.url, "http://127.0.0.1:%d/sync", &n->port), 1, "%s", n->http.url);
    snprintf(n->root, sizeof n->root, "http://127.0.0.1:%d", n->port);
}

static void data_node_stop(struct data_node *n)
{
    http_node_stop(&n->http);
}

struct reply {
    long status;
    char *body;
    size_t len;
    char content_type[128];
    char allow[64];
};

static size_t reply_body(char *data, size_t size, size_t nmemb, void *user)
{
    struct reply *r = user;
    size_t n = size * nmemb;
    r->body = realloc(r->body, r->len + n + 1);
    cr_assert_not_null(r->body);
    memcpy(r->body + r->len, data, n);
    r->len += n;
    r->body[r->len] = '\0';
    return n;
}

static size_t reply_header(char *data, size_t size, size_t nmemb, void *user)
{
    struct reply *r = user;
    size_t n = size * nmemb;
    char *dest = NULL;
    size_t cap = 0, skip = 0;
    if (n > 13 && strncasecmp(data, "Content-Type:", 13) == 0)
        dest = r->content_type, cap = sizeof r->content_type, skip = 13;
    else if (n > 6 && strncasecmp(data, "Allow:", 6) == 0)
        dest = r->allow, cap = sizeof r->allow, skip = 6;
    if (dest) {
        const char *v = data + skip;
        size_t vn = n - skip;
        while (vn && *v == ' ')
            v++, vn--;
        while (vn && (v[vn - 1] == '\r' || v[vn - 1] == '\n'))
            vn--;
        if (vn >= cap)
            vn = cap - 1;
        memcpy(dest, v, vn);
        dest[vn] = '\0';
    }
    return n;
}

/* One request to root + path; extra: a header line or NULL. The body (NULL:
 * none) is sent as application/json. */
static void request(const struct data_node *n, const char *method, const char *path,
                    const char *body, const char *extra, struct reply *out)
{
    memset(out, 0, sizeof *out);
    char url[4096];
    snprintf(url, sizeof url, "%s%s", n->root, path);
    CURL *e = curl_easy_init();
    cr_assert_not_null(e);
    struct curl_slist *h = curl_slist_append(NULL, "Expect:");
    h = curl_slist_append(h, body ? "Content-Type: application/json" : "Content-Type:");
    if (extra)
        h = curl_slist_append(h, extra);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    }
    curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, reply_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, reply_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(e);
    cr_assert_eq(rc, CURLE_OK, "%s %s: %s", method, url, curl_easy_strerror(rc));
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &out->status);
    if (!out->body)
        out->body = calloc(1, 1);
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
}

static void reply_free(struct reply *r)
{
    free(r->body);
    memset(r, 0, sizeof *r);
}

/* The request answers 200 with exactly `want`, once its "hlc" member (when
 * it ends the body) is cut off. */
static void expect_ok(const struct data_node *n, const char *method, const char *path,
                      const char *body, const char *want)
{
    struct reply r;
    request(n, method, path, body, NULL, &r);
    cr_assert_eq(r.status, 200, "%s %s: %ld %s", method, path, r.status, r.body);
    cr_assert_str_eq(r.content_type, "application/json");
    char *hlc = strstr(r.body, ",\"hlc\":{\"ts\":");
    if (hlc) {
        cr_assert_eq(r.body[r.len - 1], '}');
        cr_assert_eq(r.body[r.len - 2], '}', "%s", r.body);
        strcpy(hlc, "}");
    }
    if (want)
        cr_assert_str_eq(r.body, want, "%s %s: %s", method, path, r.body);
    reply_free(&r);
}

/* The request is refused with status and {"error":"..."} holding `says`. */
static void expect_error(const struct data_node *n, const char *method, const char *path,
                         const char *body, const char *extra, long status, const char *says)
{
    struct reply r;
    request(n, method, path, body, extra, &r);
    cr_assert_eq(r.status, status, "%s %s: %ld, want %ld: %s", method, path, r.status, status,
                 r.body);
    cr_assert_str_eq(r.content_type, "application/json", "%s %s", method, path);
    cr_assert(strncmp(r.body, "{\"error\":\"", 10) == 0, "%s %s: %s", method, path, r.body);
    if (says)
        cr_assert(strstr(r.body, says), "%s %s: %s lacks %s", method, path, r.body, says);
    reply_free(&r);
}

/* "/v1/tables/<table>/rows/<pk, percent-encoded>" */
static void row_path(const char *table, const char *pk, char *out, size_t cap)
{
    char *esc = curl_easy_escape(NULL, pk, (int)strlen(pk));
    snprintf(out, cap, "/v1/tables/%s/rows/%s", table, esc);
    curl_free(esc);
}

/* ---- rows ------------------------------------------------------------------------ */

Test(transport_http_data, write_get_delete_revive)
{
    struct data_node n;
    data_node_start(&n, NULL);
    const char *p = "/v1/tables/docs/rows/d1";
    expect_error(&n, "GET", p, NULL, NULL, 404, "no row docs/d1");
    expect_ok(&n, "PATCH", p,
              "{\"title\": \"Hello\", \"views\": 5, \"tags\": {\"add\": [\"red\", \"blue\", "
              "\"green\"]}}",
              "{\"table\":\"docs\",\"pk\":\"d1\",\"row\":{\"tags\":[\"blue\",\"green\",\"red\"],"
              "\"title\":\"Hello\",\"views\":5}}");
    expect_ok(&n, "PATCH", p, "{\"views\": 2, \"tags\": {\"remove\": [\"green\"]}}",
              "{\"table\":\"docs\",\"pk\":\"d1\",\"row\":{\"tags\":[\"blue\",\"red\"],"
              "\"title\":\"Hello\",\"views\":7}}");
    expect_ok(&n, "PATCH", p, "{\"views\": -10}", NULL);
    expect_ok(&n, "GET", p, NULL,
              "{\"table\":\"docs\",\"pk\":\"d1\",\"row\":{\"tags\":[\"blue\",\"red\"],"
              "\"title\":\"Hello\",\"views\":-3}}");
    expect_ok(&n, "DELETE", p, NULL, "{\"table\":\"docs\",\"pk\":\"d1\"}");
    expect_error(&n, "GET", p, NULL, NULL, 404, "no row docs/d1");
    expect_ok(&n, "PATCH", p, "{\"title\": {\"v\" : [1, 2.50]}}", NULL);
    struct reply r;
    request(&n, "GET", p, NULL, NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    /* Revived, the LWW value byte-exact. */
    cr_assert(strstr(r.body, "\"title\":{\"v\" : [1, 2.50]}"), "%s", r.body);
    reply_free(&r);
    /* A loosely typed table takes any field, as LWW. */
    expect_ok(&n, "PATCH", "/v1/tables/notes/rows/n1", "{\"views\": 5, \"x\": null}",
              "{\"table\":\"notes\",\"pk\":\"n1\",\"row\":{\"views\":5,\"x\":null}}");
    data_node_stop(&n);
}

Test(transport_http_data, pks_with_slashes_spaces_and_any_utf8)
{
    struct data_node n;
    data_node_start(&n, NULL);
    const char *pks[] = {"a/b c/d", "x+y", "caf\xc3\xa9 \xe2\x98\x83", "%2F", "/", "?&=#"};
    char path[512];
    for (size_t i = 0; i < sizeof pks / sizeof *pks; i++) {
        row_path("docs", pks[i], path, sizeof path);
        expect_ok(&n, "PATCH", path, "{\"views\": 1}", NULL);
        struct reply r;
        request(&n, "GET", path, NULL, NULL, &r);
        cr_assert_eq(r.status, 200, "%s: %s", path, r.body);
        struct grove_buf want = {0};
        cr_assert_eq(grove_json_encode_string(pks[i], strlen(pks[i]), &want), GROVE_OK);
        cr_assert(strstr(r.body, want.data), "%s: %s lacks pk %s", path, r.body, want.data);
        grove_buf_free(&want);
        reply_free(&r);
    }
    /* '+' in a path is itself, not a space; an unescaped '/' is a segment. */
    expect_ok(&n, "GET", "/v1/tables/docs/rows/x+y", NULL, NULL);
    expect_error(&n, "GET", "/v1/tables/docs/rows/x%20y", NULL, NULL, 404, "no row docs/x y");
    expect_error(&n, "GET", "/v1/tables/docs/rows/a/b%20c/d", NULL, NULL, 404, "no such path");
    struct reply r;
    request(&n, "GET", "/v1/tables/docs/rows?prefix=a%2Fb+c", NULL, NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(r.body,
                     "{\"rows\":[{\"pk\":\"a/b c/d\",\"row\":{\"views\":1}}],\"next\":null}");
    reply_free(&r);
    data_node_stop(&n);
}

Test(transport_http_data, write_many_is_all_or_nothing)
{
    struct data_node n;
    data_node_start(&n, NULL);
    struct reply r;
    request(&n, "POST", "/v1/tables/docs/rows",
            "{\"rows\": [{\"pk\": \"a\", \"fields\": {\"title\": \"A\"}},"
            "{\"pk\": \"b\", \"fields\": {\"views\": 2, \"tags\": {\"add\": [1]}}}]}",
            NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strncmp(r.body, "{\"table\":\"docs\",\"rows\":2,\"hlc\":{\"ts\":", 37) == 0, "%s",
              r.body);
    reply_free(&r);
    expect_ok(&n, "GET", "/v1/tables/docs/rows/b", NULL,
              "{\"table\":\"docs\",\"pk\":\"b\",\"row\":{\"tags\":[1],\"views\":2}}");
    /* One bad row: nothing is written. */
    expect_error(&n, "POST", "/v1/tables/docs/rows",
                 "{\"rows\": [{\"pk\": \"c\", \"fields\": {\"title\": \"C\"}},"
                 "{\"pk\": \"d\", \"fields\": {\"views\": \"1\"}}]}",
                 NULL, 400, "rows[1].fields.views: expected an integer delta");
    expect_error(&n, "POST", "/v1/tables/docs/rows",
                 "{\"rows\": [{\"pk\": \"c\", \"fields\": {\"title\": \"C\"}},"
                 "{\"pk\": \"c\", \"fields\": {\"views\": 1}}]}",
                 NULL, 400, "the same row");
    expect_error(&n, "GET", "/v1/tables/docs/rows/c", NULL, NULL, 404, NULL);
    data_node_stop(&n);
}

Test(transport_http_data, idempotency_key)
{
    struct data_node n;
    data_node_start(&n, NULL);
    const char *p = "/v1/tables/docs/rows/d1";
    struct reply a, b;
    request(&n, "PATCH", p, "{\"views\": 1}", "Idempotency-Key: k-1", &a);
    request(&n, "PATCH", p, "{\"views\": 1}", "Idempotency-Key: k-1", &b);
    cr_assert_eq(a.status, 200, "%s", a.body);
    cr_assert_eq(b.status, 200, "%s", b.body);
    cr_assert_str_eq(a.body, b.body, "a retry answers the first write's HLC");
    expect_ok(&n, "GET", p, NULL, "{\"table\":\"docs\",\"pk\":\"d1\",\"row\":{\"views\":1}}");
    expect_error(&n, "PATCH", p, "{\"views\": 2}", "Idempotency-Key: k-1", 409, NULL);
    reply_free(&a);
    reply_free(&b);
    /* A delete honours it too. */
    request(&n, "DELETE", p, NULL, "Idempotency-Key: k-2", &a);
    cr_assert_eq(a.status, 200, "%s", a.body);
    expect_ok(&n, "PATCH", p, "{\"views\": 3}", NULL);
    request(&n, "DELETE", p, NULL, "Idempotency-Key: k-2", &b);
    cr_assert_str_eq(a.body, b.body);
    /* Still revived (a counter keeps its totals across a delete). */
    expect_ok(&n, "GET", p, NULL, "{\"table\":\"docs\",\"pk\":\"d1\",\"row\":{\"views\":4}}");
    reply_free(&a);
    reply_free(&b);
    data_node_stop(&n);
}

Test(transport_http_data, bad_requests)
{
    struct data_node n;
    data_node_start(&n, &(struct grove_listen_options){.max_body = 4096});
    const char *p = "/v1/tables/docs/rows/d1";
    /* Paths and methods. */
    expect_error(&n, "GET", "/v1", NULL, NULL, 404, "no such path");
    expect_error(&n, "GET", "/v1/tables", NULL, NULL, 404, "no such path");
    expect_error(&n, "GET", "/v1/tables/docs", NULL, NULL, 404, "no such path");
    expect_error(&n, "GET", "/v1/tables/docs/rowz/d1", NULL, NULL, 404, "no such path");
    expect_error(&n, "GET", "/v1/tables/docs/watch/d1", NULL, NULL, 404, "no such path");
    expect_error(&n, "GET", "/v1/tables//rows", NULL, NULL, 404, "no such path");
    expect_error(&n, "GET", "/v2/tables/docs/rows", NULL, NULL, 404, "no such path");
    struct reply r;
    request(&n, "PUT", p, "{}", NULL, &r);
    cr_assert_eq(r.status, 405, "%s", r.body);
    cr_assert_str_eq(r.allow, "GET, PATCH, DELETE");
    reply_free(&r);
    request(&n, "PATCH", "/v1/tables/docs/rows", "{}", NULL, &r);
    cr_assert_eq(r.status, 405, "%s", r.body);
    cr_assert_str_eq(r.allow, "GET, POST");
    reply_free(&r);
    request(&n, "POST", "/v1/tables/docs/watch", "{}", NULL, &r);
    cr_assert_eq(r.status, 405, "%s", r.body);
    cr_assert_str_eq(r.allow, "GET");
    reply_free(&r);
    /* Escapes. */
    expect_error(&n, "GET", "/v1/tables/docs/rows/a%zz", NULL, NULL, 400,
                 "pk: bad percent escape \\\"%zz\\\"");
    expect_error(&n, "GET", "/v1/tables/docs/rows/a%2", NULL, NULL, 400, "pk: bad percent escape");
    expect_error(&n, "GET", "/v1/tables/docs/rows/a%00b", NULL, NULL, 400, "pk: a NUL byte");
    expect_error(&n, "GET", "/v1/tables/do%00cs/rows", NULL, NULL, 400, "table: a NUL byte");
    expect_error(&n, "GET", "/v1/tables/docs/rows?prefix=%g0", NULL, NULL, 400,
                 "prefix: bad percent escape");
    expect_error(&n, "GET", "/v1/tables/docs/rows/", NULL, NULL, 400, "pk: empty");
    /* Schema and types. */
    expect_error(&n, "GET", "/v1/tables/nope/rows/x", NULL, NULL, 403, "table \\\"nope\\\"");
    expect_error(&n, "PATCH", "/v1/tables/nope/rows/x", "{\"a\": 1}", NULL, 403, "nope");
    expect_error(&n, "POST", "/v1/tables/nope/rows", "{\"rows\": []}", NULL, 403, "nope");
    expect_error(&n, "GET", "/v1/tables/nope/rows", NULL, NULL, 403, "nope");
    expect_error(&n, "GET", "/v1/tables/nope/watch", NULL, NULL, 403, "nope");
    expect_error(&n, "PATCH", p, "{\"color\": \"red\"}", NULL, 400,
                 "color: field not declared in table \\\"docs\\\"");
    expect_error(&n, "PATCH", p, "{\"views\": \"5\"}", NULL, 400,
                 "views: expected an integer delta for a counter, got a string");
    expect_error(&n, "PATCH", p, "{\"views\": 1.5}", NULL, 400, "got 1.5");
    expect_error(&n, "PATCH", p, "{\"views\": 9223372036854775808}", NULL, 400, "out of range");
    expect_error(&n, "PATCH", p, "{\"tags\": {\"added\": [1]}}", NULL, 400,
                 "tags: unknown member \\\"added\\\"");
    expect_error(&n, "PATCH", p, "{\"title\": }", NULL, 400, "title: unexpected");
    expect_error(&n, "PATCH", p, "[]", NULL, 400, "body: expected an object");
    expect_error(&n, "PATCH", p, "{}", NULL, 400, "no fields");
    expect_error(&n, "PATCH", p, "", NULL, 400, "empty request body");
    /* Bodies: type and size as for the sync endpoints. */
    struct reply typed;
    memset(&typed, 0, sizeof typed);
    {
        CURL *e = curl_easy_init();
        char url[256];
        snprintf(url, sizeof url, "%s%s", n.root, p);
        struct curl_slist *h = curl_slist_append(NULL, "Content-Type: text/plain");
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PATCH");
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, "{\"views\":1}");
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, reply_body);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &typed);
        cr_assert_eq(curl_easy_perform(e), CURLE_OK);
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &typed.status);
        curl_slist_free_all(h);
        curl_easy_cleanup(e);
    }
    cr_assert_eq(typed.status, 415, "%s", typed.body);
    reply_free(&typed);
    char *big = malloc(8192);
    memset(big, ' ', 8191);
    big[0] = '{';
    memcpy(big + 1, "\"title\":1}", 10);
    big[8191] = '\0';
    expect_error(&n, "PATCH", p, big, NULL, 413, "exceeds the limit of 4096");
    free(big);
    /* Pages. */
    const char *limits[] = {"0", "10001", "abc", "1.5", "-1", "", "99999999999999999999"};
    for (size_t i = 0; i < sizeof limits / sizeof *limits; i++) {
        char path[128];
        snprintf(path, sizeof path, "/v1/tables/docs/rows?limit=%s", limits[i]);
        expect_error(&n, "GET", path, NULL, NULL, 400,
                     "limit: expected an integer from 1 to 10000");
    }
    expect_error(&n, "GET", "/v1/tables/docs/rows?limit=1&limit=2", NULL, NULL, 400,
                 "limit: given twice");
    expect_error(&n, "GET", "/v1/tables/docs/watch?since=nonsense", NULL, NULL, 400, NULL);
    expect_error(&n, "GET", "/v1/tables/docs/watch?snapshot=maybe", NULL, NULL, 400,
                 "snapshot: expected true or false");
    /* Nothing was written by any of it. */
    expect_ok(&n, "GET", "/v1/tables/docs/rows", NULL, "{\"rows\":[],\"next\":null}");
    data_node_stop(&n);
}

Test(transport_http_data, bearer_token)
{
    struct data_node n;
    data_node_start(&n, &(struct grove_listen_options){.token = "s3cret"});
    const char *p = "/v1/tables/docs/rows/d1";
    expect_error(&n, "PATCH", p, "{\"views\": 1}", NULL, 401, NULL);
    expect_error(&n, "GET", p, NULL, "Authorization: Bearer wrong", 401, NULL);
    expect_error(&n, "GET", "/v1/tables/docs/watch", NULL, NULL, 401, NULL);
    /* A path that does not exist is 404 before the token is looked at, as for sync. */
    expect_error(&n, "GET", "/v1/nope", NULL, NULL, 404, NULL);
    struct reply r;
    request(&n, "PATCH", p, "{\"views\": 1}", "Authorization: Bearer s3cret", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    reply_free(&r);
    request(&n, "GET", p, NULL, "Authorization: Bearer s3cret", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    reply_free(&r);
    data_node_stop(&n);
}

/* ---- lists ------------------------------------------------------------------------ */

/* Reads every "pk" of a page body into pks (appended) and its next token. */
static void page_pks(const char *body, char (*pks)[16], size_t *count, char *next, size_t cap)
{
    for (const char *p = body; (p = strstr(p, "{\"pk\":\"")) != NULL; p += 7) {
        const char *end = strchr(p + 7, '"');
        snprintf(pks[*count], 16, "%.*s", (int)(end - p - 7), p + 7);
        (*count)++;
    }
    const char *nx = strstr(body, "\"next\":");
    cr_assert_not_null(nx, "%s", body);
    if (strncmp(nx + 7, "null", 4) == 0)
        next[0] = '\0';
    else
        snprintf(next, cap, "%.*s", (int)(strchr(nx + 8, '"') - nx - 8), nx + 8);
}

Test(transport_http_data, list_of_2500_rows_in_pages)
{
    enum { ROWS = 2500 };
    struct data_node n;
    data_node_start(&n, NULL);
    struct grove_buf body = {0};
    cr_assert_eq(grove_buf_append(&body, "{\"rows\":[", 9), GROVE_OK);
    for (int i = 0; i < ROWS; i++) {
        char row[96];
        int k = snprintf(row, sizeof row, "%s{\"pk\":\"r%05d\",\"fields\":{\"views\":%d}}",
                         i ? "," : "", i, i);
        cr_assert_eq(grove_buf_append(&body, row, (size_t)k), GROVE_OK);
    }
    cr_assert_eq(grove_buf_append(&body, "]}", 2), GROVE_OK);
    struct reply r;
    request(&n, "POST", "/v1/tables/docs/rows", body.data, NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strstr(r.body, "\"rows\":2500"), "%s", r.body);
    reply_free(&r);
    grove_buf_free(&body);

    static char pks[ROWS + 1][16];
    size_t count = 0, pages = 0;
    char next[64] = "", path[160];
    do {
        snprintf(path, sizeof path, "/v1/tables/docs/rows?limit=1000%s%s", next[0] ? "&after=" : "",
                 next);
        request(&n, "GET", path, NULL, NULL, &r);
        cr_assert_eq(r.status, 200, "%s: %s", path, r.body);
        size_t before = count;
        page_pks(r.body, pks, &count, next, sizeof next);
        cr_assert_leq(count - before, 1000);
        reply_free(&r);
        pages++;
        /* A write between pages does not move the rest. */
        if (pages == 1)
            expect_ok(&n, "PATCH", "/v1/tables/docs/rows/r00001", "{\"views\": 1}", NULL);
    } while (next[0] && pages < 10);
    cr_assert_eq(pages, 3);
    cr_assert_eq(count, ROWS);
    for (int i = 0; i < ROWS; i++) {
        char want[16];
        snprintf(want, sizeof want, "r%05d", i);
        cr_assert_str_eq(pks[i], want, "row %d", i);
    }
    /* The default page is 100 rows; a prefix narrows the list. */
    request(&n, "GET", "/v1/tables/docs/rows", NULL, NULL, &r);
    count = 0;
    page_pks(r.body, pks, &count, next, sizeof next);
    cr_assert_eq(count, 100);
    cr_assert_str_eq(next, "r00099");
    reply_free(&r);
    request(&n, "GET", "/v1/tables/docs/rows?prefix=r0012&limit=10000", NULL, NULL, &r);
    count = 0;
    page_pks(r.body, pks, &count, next, sizeof next);
    cr_assert_eq(count, 10);
    cr_assert_str_eq(pks[0], "r00120");
    cr_assert_str_eq(next, "");
    reply_free(&r);
    data_node_stop(&n);
}

/* ---- watch ----------------------------------------------------------------------- */

/* A raw SSE client: HTTP/1.0, so the stream comes unchunked. */
struct sse {
    int fd;
    char buf[1 << 16];
    size_t len;
    int comments; /* comment lines seen (": ok", ": keep-alive") */
};

struct sse_event {
    char event[32];
    char id[64];
    char data[4096];
    bool has_data;
};

static void sse_open(struct sse *s, const struct data_node *n, const char *path,
                     const char *last_event_id)
{
    memset(s, 0, sizeof *s);
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(s->fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)n->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(s->fd, (struct sockaddr *)&a, sizeof a), 0);
    char req[1024];
    int k = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nAccept: text/event-stream\r\n", path);
    if (last_event_id)
        k += snprintf(req + k, sizeof req - (size_t)k, "Last-Event-ID: %s\r\n", last_event_id);
    k += snprintf(req + k, sizeof req - (size_t)k, "\r\n");
    cr_assert_eq(write(s->fd, req, (size_t)k), k);
}

/* Reads until buf holds `mark`; false when timeout_ms passes first. */
static bool sse_fill(struct sse *s, const char *mark, int timeout_ms)
{
    while (!memmem(s->buf, s->len, mark, strlen(mark))) {
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        if (poll(&p, 1, timeout_ms) <= 0)
            return false;
        cr_assert_lt(s->len, sizeof s->buf - 1, "SSE buffer full");
        ssize_t n = read(s->fd, s->buf + s->len, sizeof s->buf - 1 - s->len);
        if (n <= 0)
            return false;
        s->len += (size_t)n;
    }
    return true;
}

static void sse_consume(struct sse *s, size_t n)
{
    memmove(s->buf, s->buf + n, s->len - n);
    s->len -= n;
}

/* The response head: 200, text/event-stream. */
static void sse_head(struct sse *s)
{
    cr_assert(sse_fill(s, "\r\n\r\n", 5000), "no response head");
    cr_assert(strncmp(s->buf, "HTTP/1.", 7) == 0 && strncmp(s->buf + 9, "200", 3) == 0, "%.*s",
              (int)s->len, s->buf);
    char *end = memmem(s->buf, s->len, "\r\n\r\n", 4);
    cr_assert(memmem(s->buf, (size_t)(end - s->buf), "text/event-stream", 17), "%.*s",
              (int)(end - s->buf), s->buf);
    sse_consume(s, (size_t)(end + 4 - s->buf));
}

/* The next block (up to a blank line); false on timeout. */
static bool sse_block(struct sse *s, struct sse_event *e, int timeout_ms)
{
    memset(e, 0, sizeof *e);
    if (!sse_fill(s, "\n\n", timeout_ms))
        return false;
    char *end = memmem(s->buf, s->len, "\n\n", 2);
    *end = '\0';
    for (char *line = s->buf, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (line[0] == ':')
            s->comments++;
        else if (strncmp(line, "event: ", 7) == 0)
            snprintf(e->event, sizeof e->event, "%s", line + 7);
        else if (strncmp(line, "id: ", 4) == 0)
            snprintf(e->id, sizeof e->id, "%s", line + 4);
        else if (strncmp(line, "data: ", 6) == 0) {
            size_t have = strlen(e->data);
            snprintf(e->data + have, sizeof e->data - have, "%s%s", e->has_data ? "\n" : "",
                     line + 6);
            e->has_data = true;
        }
    }
    sse_consume(s, (size_t)(end + 2 - s->buf));
    return true;
}

/* The next row event, skipping comments and id-only blocks. */
static bool sse_event(struct sse *s, struct sse_event *e, int timeout_ms)
{
    while (sse_block(s, e, timeout_ms))
        if (e->has_data) {
            cr_assert_str_eq(e->event, "row");
            cr_assert_neq(e->id[0], '\0', "an event without id");
            return true;
        }
    return false;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* No row event comes for ms (comments may: keep-alives). */
static void sse_quiet(struct sse *s, int ms)
{
    struct sse_event e;
    int64_t end = now_ms() + ms;
    for (int64_t left = ms; left > 0; left = end - now_ms())
        if (sse_block(s, &e, (int)left))
            cr_assert(!e.has_data, "an unexpected event: %s", e.data);
}

static void sse_close(struct sse *s)
{
    close(s->fd);
}

static void write_views(const struct data_node *n, const char *pk, int views)
{
    char path[128], body[64];
    snprintf(path, sizeof path, "/v1/tables/docs/rows/%s", pk);
    snprintf(body, sizeof body, "{\"views\": %d}", views);
    expect_ok(n, "PATCH", path, body, NULL);
}

Test(transport_http_data, watch_events)
{
    struct data_node n;
    data_node_start(&n, &(struct grove_listen_options){.keepalive_ms = 300});
    struct sse s;
    struct sse_event e;
    sse_open(&s, &n, "/v1/tables/docs/watch?prefix=a", NULL);
    sse_head(&s);
    /* It opens with a comment and the cursor it goes on from. */
    cr_assert(sse_block(&s, &e, 5000));
    cr_assert(!e.has_data);
    cr_assert_neq(e.id[0], '\0');
    cr_assert_eq(s.comments, 1);
    write_views(&n, "b1", 1); /* not under the prefix */
    write_views(&n, "a1", 4);
    cr_assert(sse_event(&s, &e, 5000));
    cr_assert_str_eq(e.data, "{\"pk\":\"a1\",\"row\":{\"views\":4},\"deleted\":false}");
    expect_ok(&n, "DELETE", "/v1/tables/docs/rows/a1", NULL, NULL);
    cr_assert(sse_event(&s, &e, 5000));
    cr_assert_str_eq(e.data, "{\"pk\":\"a1\",\"row\":null,\"deleted\":true}");
    /* A value's raw newline is split over data lines, joined back with LF. */
    expect_ok(&n, "PATCH", "/v1/tables/docs/rows/a2", "{\"title\": [1,\n2]}", NULL);
    cr_assert(sse_event(&s, &e, 5000));
    cr_assert_str_eq(e.data, "{\"pk\":\"a2\",\"row\":{\"title\":[1,\n2]},\"deleted\":false}");
    /* Heartbeats while nothing happens. */
    int before = s.comments;
    sse_quiet(&s, 1000);
    cr_assert_geq(s.comments, before + 2, "keep-alive comments: %d", s.comments - before);
    sse_close(&s);

    /* A snapshot first: every visible row under the prefix, then changes. */
    sse_open(&s, &n, "/v1/tables/docs/watch?prefix=a&snapshot=true", NULL);
    sse_head(&s);
    cr_assert(sse_event(&s, &e, 5000));
    cr_assert_str_eq(e.data, "{\"pk\":\"a2\",\"row\":{\"title\":[1,\n2]},\"deleted\":false}");
    write_views(&n, "a3", 1);
    cr_assert(sse_event(&s, &e, 5000));
    cr_assert(strstr(e.data, "\"pk\":\"a3\""), "%s", e.data);
    sse_close(&s);
    data_node_stop(&n);
}

struct writer {
    const struct data_node *node;
    int from, count;
};

static void *writer_run(void *arg)
{
    struct writer *w = arg;
    for (int i = w->from; i < w->from + w->count; i++) {
        char pk[16];
        snprintf(pk, sizeof pk, "w%04d", i);
        write_views(w->node, pk, i);
    }
    return NULL;
}

/* Records the pk of an event in seen[] and fails on a repeat. */
static void seen_once(const struct sse_event *e, int *seen, int total)
{
    int i = -1;
    cr_assert_eq(sscanf(e->data, "{\"pk\":\"w%d\"", &i), 1, "%s", e->data);
    cr_assert(i >= 0 && i < total, "%s", e->data);
    cr_assert_eq(seen[i], 0, "w%04d repeated after the resume", i);
    seen[i]++;
}

Test(transport_http_data, watch_resumes_without_gap_or_repeat)
{
    enum { TOTAL = 120, CUT_AFTER = 30 };
    struct data_node n;
    data_node_start(&n, NULL);
    int seen[TOTAL] = {0};
    struct sse s;
    struct sse_event e;
    sse_open(&s, &n, "/v1/tables/docs/watch", NULL);
    sse_head(&s);
    cr_assert(sse_block(&s, &e, 5000)); /* the opening cursor */
    /* Writes go on while the watch is cut and reopened. */
    struct writer w = {.node = &n, .from = 0, .count = TOTAL};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, writer_run, &w), 0);
    char last[64] = "";
    for (int got = 0; got < CUT_AFTER;) {
        cr_assert(sse_event(&s, &e, 10000), "event %d did not come", got);
        seen_once(&e, seen, TOTAL);
        snprintf(last, sizeof last, "%s", e.id);
        got++;
    }
    sse_close(&s); /* mid-stream: more events may have been on their way */
    /* The URL's since= is older; Last-Event-ID, newer, wins. */
    char path[160];
    snprintf(path, sizeof path, "/v1/tables/docs/watch?since=%s", "0.0");
    sse_open(&s, &n, path, last);
    sse_head(&s);
    int total = CUT_AFTER;
    while (total < TOTAL) {
        cr_assert(sse_event(&s, &e, 10000), "missing events after the resume: %d of %d", total,
                  TOTAL);
        seen_once(&e, seen, TOTAL);
        total++;
    }
    cr_assert_eq(pthread_join(t, NULL), 0);
    sse_quiet(&s, 300);
    sse_close(&s);
    /* ?since= alone resumes the same way: from the 30th event there are 90. */
    snprintf(path, sizeof path, "/v1/tables/docs/watch?since=%s", last);
    sse_open(&s, &n, path, NULL);
    sse_head(&s);
    memset(seen, 0, sizeof seen);
    for (int i = CUT_AFTER; i < TOTAL; i++) {
        cr_assert(sse_event(&s, &e, 10000), "event %d of the resume by since=", i);
        seen_once(&e, seen, TOTAL);
    }
    sse_quiet(&s, 300);
    sse_close(&s);
    data_node_stop(&n);
}

/* The listener's own path does not move the Data API: sync stays under it. */
Test(transport_http_data, sync_endpoints_stay_under_the_listener_path)
{
    struct data_node n;
    data_node_start(&n, NULL);
    expect_ok(&n, "PATCH", "/v1/tables/docs/rows/d1", "{\"title\": \"x\"}", NULL);
    struct reply r;
    request(&n, "POST", "/sync/pull", "{\"tables\":[\"docs\"],\"node_id\":\"c\"}", NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strstr(r.body, "\"pk\":\"d1\""), "%s", r.body);
    reply_free(&r);
    expect_error(&n, "POST", "/pull", "{}", NULL, 404, NULL);
    expect_error(&n, "GET", "/sync/v1/tables/docs/rows", NULL, NULL, 404, NULL);
    data_node_stop(&n);
}
