/* The Data API over HTTP (docs/data-api.md "HTTP"), against a real node with
 * a real listener on 127.0.0.1 (at http://127.0.0.1:<port>/sync, so the Data
 * API is at http://127.0.0.1:<port>/v1/): every operation, each bad request,
 * pks with '/' and spaces, and a 2,500-row list in pages. Watches are in
 * data_watch_test.c. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grove/json.h"
#include "transport_http/data_fixture.h"

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
    struct http_raw_reply r;
    request(&n, "GET", p, NULL, NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    /* Revived, the LWW value byte-exact. */
    cr_assert(strstr(r.body, "\"title\":{\"v\" : [1, 2.50]}"), "%s", r.body);
    http_raw_free(&r);
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
        struct http_raw_reply r;
        request(&n, "GET", path, NULL, NULL, &r);
        cr_assert_eq(r.status, 200, "%s: %s", path, r.body);
        struct grove_buf want = {0};
        cr_assert_eq(grove_json_encode_string(pks[i], strlen(pks[i]), &want), GROVE_OK);
        cr_assert(strstr(r.body, want.data), "%s: %s lacks pk %s", path, r.body, want.data);
        grove_buf_free(&want);
        http_raw_free(&r);
    }
    /* '+' in a path is itself, not a space; an unescaped '/' is a segment. */
    expect_ok(&n, "GET", "/v1/tables/docs/rows/x+y", NULL, NULL);
    expect_error(&n, "GET", "/v1/tables/docs/rows/x%20y", NULL, NULL, 404, "no row docs/x y");
    expect_error(&n, "GET", "/v1/tables/docs/rows/a/b%20c/d", NULL, NULL, 404, "no such path");
    struct http_raw_reply r;
    request(&n, "GET", "/v1/tables/docs/rows?prefix=a%2Fb+c", NULL, NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(r.body,
                     "{\"rows\":[{\"pk\":\"a/b c/d\",\"row\":{\"views\":1}}],\"next\":null}");
    http_raw_free(&r);
    data_node_stop(&n);
}

Test(transport_http_data, write_many_is_all_or_nothing)
{
    struct data_node n;
    data_node_start(&n, NULL);
    struct http_raw_reply r;
    request(&n, "POST", "/v1/tables/docs/rows",
            "{\"rows\": [{\"pk\": \"a\", \"fields\": {\"title\": \"A\"}},"
            "{\"pk\": \"b\", \"fields\": {\"views\": 2, \"tags\": {\"add\": [1]}}}]}",
            NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strncmp(r.body, "{\"table\":\"docs\",\"rows\":2,\"hlc\":{\"ts\":", 37) == 0, "%s",
              r.body);
    http_raw_free(&r);
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
    struct http_raw_reply a, b;
    request(&n, "PATCH", p, "{\"views\": 1}", "Idempotency-Key: k-1", &a);
    request(&n, "PATCH", p, "{\"views\": 1}", "Idempotency-Key: k-1", &b);
    cr_assert_eq(a.status, 200, "%s", a.body);
    cr_assert_eq(b.status, 200, "%s", b.body);
    cr_assert_str_eq(a.body, b.body, "a retry answers the first write's HLC");
    expect_ok(&n, "GET", p, NULL, "{\"table\":\"docs\",\"pk\":\"d1\",\"row\":{\"views\":1}}");
    expect_error(&n, "PATCH", p, "{\"views\": 2}", "Idempotency-Key: k-1", 409, NULL);
    http_raw_free(&a);
    http_raw_free(&b);
    /* A delete honours it too. */
    request(&n, "DELETE", p, NULL, "Idempotency-Key: k-2", &a);
    cr_assert_eq(a.status, 200, "%s", a.body);
    expect_ok(&n, "PATCH", p, "{\"views\": 3}", NULL);
    request(&n, "DELETE", p, NULL, "Idempotency-Key: k-2", &b);
    cr_assert_str_eq(a.body, b.body);
    /* Still revived (a counter keeps its totals across a delete). */
    expect_ok(&n, "GET", p, NULL, "{\"table\":\"docs\",\"pk\":\"d1\",\"row\":{\"views\":4}}");
    http_raw_free(&a);
    http_raw_free(&b);
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
    expect_error(&n, "GET", "/v1/tables/docs/rows/a/b", NULL, NULL, 404, "no such path");
    expect_error(&n, "GET", "/v1/tables/docs/rowz/d1", NULL, NULL, 404, "no such path");
    expect_error(&n, "GET", "/v1/tables/docs/watch/d1", NULL, NULL, 404, "no such path");
    expect_error(&n, "GET", "/v1/tables//rows", NULL, NULL, 404, "no such path");
    expect_error(&n, "GET", "/v1/tables/docs//d1", NULL, NULL, 404, "no such path");
    expect_error(&n, "GET", "/v2/tables/docs/rows", NULL, NULL, 404, "no such path");
    /* A table's declaration, for clients that must know a field's kind. */
    expect_ok(&n, "GET", "/v1/tables/docs", NULL,
              "{\"table\":\"docs\",\"fields\":{\"title\":\"lww\",\"views\":\"counter\","
              "\"tags\":\"set\"},\"spec\":\"docs:title=lww,views=counter,tags=set\"}");
    expect_error(&n, "GET", "/v1/tables/secrets", NULL, NULL, 403, "not declared");
    expect_error(&n, "POST", "/v1/tables/docs", NULL, NULL, 405, "use GET");
    struct http_raw_reply r;
    request(&n, "PUT", p, "{}", NULL, &r);
    cr_assert_eq(r.status, 405, "%s", r.body);
    cr_assert_str_eq(r.allow, "GET, PATCH, DELETE");
    http_raw_free(&r);
    request(&n, "PATCH", "/v1/tables/docs/rows", "{}", NULL, &r);
    cr_assert_eq(r.status, 405, "%s", r.body);
    cr_assert_str_eq(r.allow, "GET, POST");
    http_raw_free(&r);
    request(&n, "POST", "/v1/tables/docs/watch", "{}", NULL, &r);
    cr_assert_eq(r.status, 405, "%s", r.body);
    cr_assert_str_eq(r.allow, "GET");
    http_raw_free(&r);
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
    expect_error(&n, "PATCH", p, "{\"views\":1}", "Content-Type: text/plain", 415,
                 "Content-Type must be application/json");
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
    struct http_raw_reply r;
    request(&n, "PATCH", p, "{\"views\": 1}", "Authorization: Bearer s3cret", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    http_raw_free(&r);
    request(&n, "GET", p, NULL, "Authorization: Bearer s3cret", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    http_raw_free(&r);
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
    struct http_raw_reply r;
    request(&n, "POST", "/v1/tables/docs/rows", body.data, NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strstr(r.body, "\"rows\":2500"), "%s", r.body);
    http_raw_free(&r);
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
        http_raw_free(&r);
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
    http_raw_free(&r);
    request(&n, "GET", "/v1/tables/docs/rows?prefix=r0012&limit=10000", NULL, NULL, &r);
    count = 0;
    page_pks(r.body, pks, &count, next, sizeof next);
    cr_assert_eq(count, 10);
    cr_assert_str_eq(pks[0], "r00120");
    cr_assert_str_eq(next, "");
    http_raw_free(&r);
    data_node_stop(&n);
}

Test(transport_http_data, sync_endpoints_stay_under_the_listener_path)
{
    struct data_node n;
    data_node_start(&n, NULL);
    expect_ok(&n, "PATCH", "/v1/tables/docs/rows/d1", "{\"title\": \"x\"}", NULL);
    struct http_raw_reply r;
    request(&n, "POST", "/sync/pull", "{\"tables\":[\"docs\"],\"node_id\":\"c\"}", NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strstr(r.body, "\"pk\":\"d1\""), "%s", r.body);
    http_raw_free(&r);
    expect_error(&n, "POST", "/pull", "{}", NULL, 404, NULL);
    expect_error(&n, "GET", "/sync/v1/tables/docs/rows", NULL, NULL, 404, NULL);
    data_node_stop(&n);
}
