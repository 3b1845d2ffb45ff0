/* Helpers of the HTTP Data API tests (data_http_test.c, data_watch_test.c). */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "transport_http/data_fixture.h"

void data_node_start(struct data_node *n, const struct grove_listen_options *opts)
{
    http_node_start(&n->http, opts);
    cr_assert_eq(sscanf(n->http.url, "http://127.0.0.1:%d/sync", &n->port), 1, "%s", n->http.url);
    snprintf(n->root, sizeof n->root, "http://127.0.0.1:%d", n->port);
}

void data_node_stop(struct data_node *n)
{
    http_node_stop(&n->http);
}

void request(const struct data_node *n, const char *method, const char *path, const char *body,
             const char *extra, struct http_raw_reply *out)
{
    char url[4096];
    snprintf(url, sizeof url, "%s%s", n->root, path);
    bool typed = extra && strncasecmp(extra, "Content-Type:", 13) == 0;
    const char *headers[] = {
        typed ? extra : body ? "Content-Type: application/json" : "Content-Type:",
        typed ? NULL : extra, NULL};
    http_raw_headers(method, url, headers, body, body ? strlen(body) : 0, out);
}

/* The request answers 200 with exactly `want`, once its "hlc" member (when
 * it ends the body) is cut off. */
void expect_ok(const struct data_node *n, const char *method, const char *path, const char *body,
               const char *want)
{
    struct http_raw_reply r;
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
    http_raw_free(&r);
}

/* The request is refused with status and {"error":"..."} holding `says`. */
void expect_error(const struct data_node *n, const char *method, const char *path, const char *body,
                  const char *extra, long status, const char *says)
{
    struct http_raw_reply r;
    request(n, method, path, body, extra, &r);
    cr_assert_eq(r.status, status, "%s %s: %ld, want %ld: %s", method, path, r.status, status,
                 r.body);
    cr_assert_str_eq(r.content_type, "application/json", "%s %s", method, path);
    cr_assert(strncmp(r.body, "{\"error\":\"", 10) == 0, "%s %s: %s", method, path, r.body);
    if (says)
        cr_assert(strstr(r.body, says), "%s %s: %s lacks %s", method, path, r.body, says);
    http_raw_free(&r);
}

/* "/v1/tables/<table>/rows/<pk, percent-encoded>" */
void row_path(const char *table, const char *pk, char *out, size_t cap)
{
    char *esc = curl_easy_escape(NULL, pk, (int)strlen(pk));
    snprintf(out, cap, "/v1/tables/%s/rows/%s", table, esc);
    curl_free(esc);
}
