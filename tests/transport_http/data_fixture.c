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
void request(const struct data_node *n, const char *method, const char *path, const char *body,
             const char *extra, struct reply *out)
{
    memset(out, 0, sizeof *out);
    char url[4096];
    snprintf(url, sizeof url, "%s%s", n->root, path);
    CURL *e = curl_easy_init();
    cr_assert_not_null(e);
    struct curl_slist *h = curl_slist_append(NULL, "Expect:");
    if (!extra || strncasecmp(extra, "Content-Type:", 13) != 0)
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

void reply_free(struct reply *r)
{
    free(r->body);
    memset(r, 0, sizeof *r);
}

/* The request answers 200 with exactly `want`, once its "hlc" member (when
 * it ends the body) is cut off. */
void expect_ok(const struct data_node *n, const char *method, const char *path, const char *body,
               const char *want)
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
void expect_error(const struct data_node *n, const char *method, const char *path, const char *body,
                  const char *extra, long status, const char *says)
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
void row_path(const char *table, const char *pk, char *out, size_t cap)
{
    char *esc = curl_easy_escape(NULL, pk, (int)strlen(pk));
    snprintf(out, cap, "/v1/tables/%s/rows/%s", table, esc);
    curl_free(esc);
}
