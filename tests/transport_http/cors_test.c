/* CORS (grove_listen_options.cors_origins): a page of an allowed origin may
 * call the sync endpoints, the stream and the Data API from a browser; its
 * preflight is answered before the token is checked; another origin's is
 * refused; with CORS off a preflight gets 405, as before. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "transport_http/http_fixture.h"

struct answer {
    long status;
    char headers[4096];
    size_t len;
    char body[512];
    size_t body_len;
};

static size_t on_header(char *data, size_t size, size_t nmemb, void *user)
{
    struct answer *a = user;
    size_t n = size * nmemb;
    if (a->len + n < sizeof a->headers) {
        memcpy(a->headers + a->len, data, n);
        a->len += n;
        a->headers[a->len] = '\0';
    }
    return n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *user)
{
    struct answer *a = user;
    size_t n = size * nmemb;
    size_t room = sizeof a->body - 1 - a->body_len;
    memcpy(a->body + a->body_len, data, n < room ? n : room);
    a->body_len += n < room ? n : room;
    a->body[a->body_len] = '\0';
    return n;
}

/* Headers of the answer; a stream is cut after its first bytes. */
static size_t on_stream_body(char *data, size_t size, size_t nmemb, void *user)
{
    (void)data;
    (void)size;
    (void)nmemb;
    (void)user;
    return 0;
}

static void call(const char *method, const char *url, const char *origin, const char *extra,
                 const char *body, bool stream, struct answer *out)
{
    memset(out, 0, sizeof *out);
    CURL *e = curl_easy_init();
    struct curl_slist *h = NULL;
    char line[256];
    if (origin) {
        snprintf(line, sizeof line, "Origin: %s", origin);
        h = curl_slist_append(h, line);
    }
    if (extra)
        h = curl_slist_append(h, extra);
    if (body)
        h = curl_slist_append(h, "Content-Type: application/json");
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, stream ? on_stream_body : on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 10L);
    if (body)
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    CURLcode rc = curl_easy_perform(e);
    cr_assert(rc == CURLE_OK || (stream && rc == CURLE_WRITE_ERROR), "%s %s: %s", method, url,
              curl_easy_strerror(rc));
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
}

/* The header's value in the answer ("" when absent), names compared without case. */
static const char *header(const struct answer *a, const char *name, char *out, size_t cap)
{
    out[0] = '\0';
    size_t n = strlen(name);
    for (const char *p = a->headers; *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p))
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ')
                v++;
            snprintf(out, cap, "%.*s", (int)strcspn(v, "\r\n"), v);
            break;
        }
    return out;
}

#define APP "https://app.example.com"

Test(transport_http_cors, an_allowed_origin_may_call_every_endpoint)
{
    const char *origins[] = {APP};
    struct grove_listen_options lo = {
        .token = "s3cret", .cors_origins = origins, .cors_origin_count = 1};
    struct http_node n;
    http_node_start(&n, &lo);
    char url[300], v[256];
    struct answer a;

    /* Preflights: before any token, for the sync endpoints and the Data API. */
    const char *paths[] = {"/push", "/pull", "/stream"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(url, sizeof url, "%s%s", n.url, paths[i]);
        call("OPTIONS", url, APP, "Access-Control-Request-Method: POST", NULL, false, &a);
        cr_expect_eq(a.status, 204, "%s: %ld", paths[i], a.status);
        cr_expect_str_eq(header(&a, "Access-Control-Allow-Origin", v, sizeof v), APP);
        cr_expect(strstr(header(&a, "Access-Control-Allow-Headers", v, sizeof v),
                         "Authorization") != NULL,
                  "%s", v);
    }
    char root[200];
    snprintf(root, sizeof root, "%.*s", (int)(strstr(n.url + 8, "/sync") - n.url), n.url);
    snprintf(url, sizeof url, "%s/v1/tables/docs/rows/d1", root);
    call("OPTIONS", url, APP, "Access-Control-Request-Method: PATCH", NULL, false, &a);
    cr_expect_eq(a.status, 204);
    cr_expect(strstr(header(&a, "Access-Control-Allow-Methods", v, sizeof v), "PATCH") != NULL,
              "%s", v);

    /* Another origin's preflight is refused, and its calls get no CORS headers. */
    call("OPTIONS", url, "https://evil.example", "Access-Control-Request-Method: PATCH", NULL,
         false, &a);
    cr_expect_eq(a.status, 403);
    cr_expect_str_eq(header(&a, "Access-Control-Allow-Origin", v, sizeof v), "");

    /* The calls themselves carry the header: a write, an error, the stream. */
    call("PATCH", url, APP, "Authorization: Bearer s3cret", "{\"title\":\"x\"}", false, &a);
    cr_expect_eq(a.status, 200);
    cr_expect_str_eq(header(&a, "Access-Control-Allow-Origin", v, sizeof v), APP);
    cr_expect_str_eq(header(&a, "Vary", v, sizeof v), "Origin");
    call("PATCH", url, APP, NULL, "{\"title\":\"x\"}", false, &a);
    cr_expect_eq(a.status, 401);
    cr_expect_str_eq(header(&a, "Access-Control-Allow-Origin", v, sizeof v), APP,
                     "a browser must be able to read the error");
    call("PATCH", url, "https://evil.example", "Authorization: Bearer s3cret",
         "{\"title\":\"y\"}", false, &a);
    cr_expect_str_eq(header(&a, "Access-Control-Allow-Origin", v, sizeof v), "");
    snprintf(url, sizeof url, "%s/stream", n.url);
    call("GET", url, APP, "Authorization: Bearer s3cret", NULL, true, &a);
    cr_expect_eq(a.status, 200);
    cr_expect_str_eq(header(&a, "Access-Control-Allow-Origin", v, sizeof v), APP);
    http_node_stop(&n);
}

Test(transport_http_cors, any_origin_with_a_star_and_none_when_off)
{
    const char *any[] = {"*"};
    struct grove_listen_options lo = {.cors_origins = any, .cors_origin_count = 1};
    struct http_node n;
    http_node_start(&n, &lo);
    char url[300], v[256];
    struct answer a;
    snprintf(url, sizeof url, "%s/pull", n.url);
    call("OPTIONS", url, "http://localhost:3000", "Access-Control-Request-Method: POST", NULL,
         false, &a);
    cr_expect_eq(a.status, 204);
    cr_expect_str_eq(header(&a, "Access-Control-Allow-Origin", v, sizeof v),
                     "http://localhost:3000");
    http_node_stop(&n);

    http_node_start(&n, NULL);
    snprintf(url, sizeof url, "%s/pull", n.url);
    call("OPTIONS", url, APP, "Access-Control-Request-Method: POST", NULL, false, &a);
    cr_expect_eq(a.status, 405, "CORS off: a preflight is a method the path does not take");
    call("POST", url, APP, NULL, "{\"tables\":[\"docs\"],\"node_id\":\"page\"}", false, &a);
    cr_expect_eq(a.status, 200, "%ld %s", a.status, a.body);
    cr_expect_str_eq(header(&a, "Access-Control-Allow-Origin", v, sizeof v), "");
    http_node_stop(&n);
}
