/* HTTP specifics: status codes and JSON error bodies, seen through raw libcurl. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transport_http/http_fixture.h"

static const char push_body[] =
    "{\"changes\":[{\"table\":\"docs\",\"pk\":\"d1\",\"field\":\"title\",\"crdt_type\":\"lww\","
    "\"hlc\":{\"ts\":1706000001000000000,\"c\":0,\"node\":\"n2\"},\"node_id\":\"n2\","
    "\"value\":\"Hello\"}],\"node_id\":\"n2\"}";

static void path_url(const struct http_node *n, const char *suffix, char *out, size_t cap)
{
    snprintf(out, cap, "%s%s", n->url, suffix);
}

/* Every error answer is JSON with an "error" member. */
static void assert_json_error(const struct http_raw_reply *r, long status)
{
    cr_assert_eq(r->status, status, "status %ld, want %ld: %s", r->status, status, r->body);
    cr_assert_str_eq(r->content_type, "application/json");
    cr_assert(strncmp(r->body, "{\"error\":\"", 10) == 0, "body %s", r->body);
    cr_assert(r->len > 12, "empty error message");
}

Test(transport_http_status, not_found)
{
    struct http_node n;
    http_node_start(&n, NULL);
    char url[300];
    struct http_raw_reply r;
    const char *paths[] = {"/nope", "/pull/extra", "", "/"};
    for (size_t i = 0; i < 4; i++) {
        path_url(&n, paths[i], url, sizeof url);
        http_raw("POST", url, "application/json", NULL, "{}", 2, &r);
        assert_json_error(&r, 404);
        http_raw_free(&r);
    }
    /* Outside the base path. */
    char root[300];
    snprintf(root, sizeof root, "%.*s/pull", (int)(strlen(n.url) - strlen("/sync")), n.url);
    http_raw("POST", root, "application/json", NULL, push_body, strlen(push_body), &r);
    assert_json_error(&r, 404);
    http_raw_free(&r);
    http_node_stop(&n);
}

Test(transport_http_status, method_not_allowed)
{
    struct http_node n;
    http_node_start(&n, NULL);
    char url[300];
    struct http_raw_reply r;
    path_url(&n, "/pull", url, sizeof url);
    http_raw("GET", url, NULL, NULL, NULL, 0, &r);
    assert_json_error(&r, 405);
    cr_assert_str_eq(r.allow, "POST");
    http_raw_free(&r);
    path_url(&n, "/push", url, sizeof url);
    http_raw("PUT", url, "application/json", NULL, push_body, strlen(push_body), &r);
    assert_json_error(&r, 405);
    http_raw_free(&r);
    path_url(&n, "/stream", url, sizeof url);
    http_raw("POST", url, "application/json", NULL, "{}", 2, &r);
    assert_json_error(&r, 405);
    cr_assert_str_eq(r.allow, "GET");
    http_raw_free(&r);
    http_node_stop(&n);
}

Test(transport_http_status, content_type)
{
    struct http_node n;
    http_node_start(&n, NULL);
    char url[300];
    struct http_raw_reply r;
    path_url(&n, "/push", url, sizeof url);
    http_raw("POST", url, "text/plain", NULL, push_body, strlen(push_body), &r);
    assert_json_error(&r, 415);
    http_raw_free(&r);
    http_raw("POST", url, "application/x-www-form-urlencoded", NULL, push_body, strlen(push_body),
             &r);
    assert_json_error(&r, 415);
    http_raw_free(&r);
    /* A charset parameter and an absent Content-Type are both fine. */
    http_raw("POST", url, "application/json; charset=utf-8", NULL, push_body, strlen(push_body),
             &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    http_raw_free(&r);
    http_raw("POST", url, NULL, NULL, push_body, strlen(push_body), &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(r.content_type, "application/json");
    cr_assert(strstr(r.body, "\"merged\":0"), "%s", r.body); /* already merged above */
    http_raw_free(&r);
    http_node_stop(&n);
}

Test(transport_http_status, too_large)
{
    struct http_node n;
    struct grove_listen_options lo = {.max_body = 1024};
    http_node_start(&n, &lo);
    char url[300];
    struct http_raw_reply r;
    size_t len = 4096;
    char *big = malloc(len);
    memset(big, ' ', len);
    memcpy(big, push_body, strlen(push_body));
    path_url(&n, "/push", url, sizeof url);
    http_raw("POST", url, "application/json", NULL, big, len, &r);
    assert_json_error(&r, 413);
    http_raw_free(&r);
    /* Nothing applied. */
    path_url(&n, "/pull", url, sizeof url);
    const char *pull = "{\"tables\":[\"docs\"],\"node_id\":\"x\"}";
    http_raw("POST", url, "application/json", NULL, pull, strlen(pull), &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strstr(r.body, "\"changes\":[]"), "%s", r.body);
    http_raw_free(&r);
    free(big);
    http_node_stop(&n);
}

Test(transport_http_status, unauthorized)
{
    struct http_node n;
    struct grove_listen_options lo = {.token = "tok-123"};
    http_node_start(&n, &lo);
    char url[300];
    struct http_raw_reply r;
    path_url(&n, "/push", url, sizeof url);
    const char *tokens[] = {NULL, "tok-12", "tok-1234", "TOK-123"};
    for (size_t i = 0; i < 4; i++) {
        http_raw("POST", url, "application/json", tokens[i], push_body, strlen(push_body), &r);
        assert_json_error(&r, 401);
        http_raw_free(&r);
    }
    path_url(&n, "/stream", url, sizeof url);
    http_raw("GET", url, NULL, NULL, NULL, 0, &r);
    assert_json_error(&r, 401);
    http_raw_free(&r);
    path_url(&n, "/push", url, sizeof url);
    http_raw("POST", url, "application/json", "tok-123", push_body, strlen(push_body), &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strstr(r.body, "\"merged\":1"), "%s", r.body);
    http_raw_free(&r);
    http_node_stop(&n);
}

Test(transport_http_status, bad_request_and_forbidden)
{
    struct http_node n;
    http_node_start(&n, NULL);
    char url[300];
    struct http_raw_reply r;
    path_url(&n, "/push", url, sizeof url);
    const char *bad = "{\"changes\":[{\"table\":\"docs\",\"pk\":\"a\",\"field\":\"title\","
                      "\"crdt_type\":\"lww\",\"hlc\":{\"ts\":\"x\",\"c\":0,\"node\":\"n\"},"
                      "\"node_id\":\"n\",\"value\":1}],\"node_id\":\"n\"}";
    http_raw("POST", url, "application/json", NULL, bad, strlen(bad), &r);
    assert_json_error(&r, 400);
    cr_assert(strstr(r.body, "changes[0].hlc.ts"), "the codec's located message: %s", r.body);
    http_raw_free(&r);
    http_raw("POST", url, "application/json", NULL, "", 0, &r);
    assert_json_error(&r, 400);
    http_raw_free(&r);
    const char *unknown_type = "{\"changes\":[{\"table\":\"docs\",\"pk\":\"a\",\"field\":\"t\","
                               "\"crdt_type\":\"mvreg\",\"hlc\":{\"ts\":1,\"c\":0,\"node\":\"n\"},"
                               "\"node_id\":\"n\",\"value\":1}],\"node_id\":\"n\"}";
    http_raw("POST", url, "application/json", NULL, unknown_type, strlen(unknown_type), &r);
    assert_json_error(&r, 400);
    http_raw_free(&r);
    path_url(&n, "/pull", url, sizeof url);
    const char *secret = "{\"tables\":[\"secrets\"],\"node_id\":\"x\"}";
    http_raw("POST", url, "application/json", NULL, secret, strlen(secret), &r);
    assert_json_error(&r, 403);
    http_raw_free(&r);
    path_url(&n, "/stream?tables=secrets", url, sizeof url);
    http_raw("GET", url, NULL, NULL, NULL, 0, &r);
    assert_json_error(&r, 403);
    http_raw_free(&r);
    path_url(&n, "/stream?since_ts=abc", url, sizeof url);
    http_raw("GET", url, NULL, NULL, NULL, 0, &r);
    assert_json_error(&r, 400);
    http_raw_free(&r);
    http_node_stop(&n);
}

/* The checks the core runs on every decoded message, and their SSE
 * counterparts: the same refusals as over gRPC. */
Test(transport_http_status, node_ids_and_negative_stamps_are_refused)
{
    struct http_node n;
    http_node_start(&n, NULL);
    char url[300];
    struct http_raw_reply r;
    path_url(&n, "/push", url, sizeof url);
    static const char *const bad_ids[] = {
        "", "0123456789012345678901234567890123456789012345678901234567890123"};
    for (size_t i = 0; i < 2; i++) {
        char body[512];
        snprintf(body, sizeof body,
                 "{\"changes\":[{\"table\":\"docs\",\"pk\":\"a\",\"field\":\"title\","
                 "\"crdt_type\":\"lww\",\"hlc\":{\"ts\":1,\"c\":0,\"node\":\"n\"},"
                 "\"node_id\":\"n\",\"value\":1}],\"node_id\":\"%s\"}",
                 bad_ids[i]);
        http_raw("POST", url, "application/json", NULL, body, strlen(body), &r);
        assert_json_error(&r, 400);
        cr_expect(strstr(r.body, "node_id: must be 1 to 63 bytes"), "%s", r.body);
        http_raw_free(&r);
    }
    path_url(&n, "/stream?since_ts=-1", url, sizeof url);
    http_raw("GET", url, NULL, NULL, NULL, 0, &r);
    assert_json_error(&r, 400);
    cr_expect(strstr(r.body, "since_ts"), "%s", r.body);
    http_raw_free(&r);
    http_node_stop(&n);
}

/* Raw SSE: reads until the first `event: changes` is complete. */
struct sse_capture {
    char *data;
    size_t len;
};

static size_t sse_capture_write(char *data, size_t size, size_t nmemb, void *user)
{
    struct sse_capture *c = user;
    size_t n = size * nmemb;
    c->data = realloc(c->data, c->len + n + 1);
    memcpy(c->data + c->len, data, n);
    c->len += n;
    c->data[c->len] = '\0';
    char *ev = strstr(c->data, "event: changes\n");
    if (ev && strstr(ev, "\n\n"))
        return 0; /* got one whole event: hang up */
    return n;
}

Test(transport_http_status, sse_framing)
{
    struct http_node n;
    struct grove_listen_options lo = {.keepalive_ms = 100};
    http_node_start(&n, &lo);
    char url[300];
    struct http_raw_reply r;
    path_url(&n, "/push", url, sizeof url);
    /* A value with raw newlines inside (JSON whitespace) must survive SSE. */
    const char *body =
        "{\"changes\":[{\"table\":\"docs\",\"pk\":\"d1\",\"field\":\"title\",\"crdt_type\":\"lww\","
        "\"hlc\":{\"ts\":1706000001000000000,\"c\":0,\"node\":\"n2\"},\"node_id\":\"n2\","
        "\"value\":{\"a\":\n\n1}}],\"node_id\":\"n2\"}";
    http_raw("POST", url, "application/json", NULL, body, strlen(body), &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    http_raw_free(&r);

    path_url(&n, "/stream?tables=docs&since_ts=0&since_count=0", url, sizeof url);
    CURL *e = curl_easy_init();
    struct sse_capture cap = {0};
    struct http_raw_reply hdr = {0};
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sse_capture_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &cap);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 20L);
    CURLcode rc = curl_easy_perform(e);
    cr_assert_eq(rc, CURLE_WRITE_ERROR, "stream ended with %s", curl_easy_strerror(rc));
    long status = 0;
    char *ct = NULL;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ct);
    cr_assert_eq(status, 200);
    cr_assert_str_eq(ct, "text/event-stream");
    cr_assert_null(memchr(cap.data, '\r', cap.len), "CR in the stream: LF framing only");
    char *ev = strstr(cap.data, "event: changes\nid: ");
    cr_assert_not_null(ev, "%s", cap.data);
    cr_assert_not_null(strstr(ev, "\ndata: [{"), "%s", ev);
    /* The value's newlines became separate data lines. */
    cr_assert_not_null(strstr(ev, "\"value\":{\"a\":\ndata: \ndata: 1}"), "%s", ev);
    free(cap.data);
    (void)hdr;
    curl_easy_cleanup(e);

    /* The client side joins them back: the value arrives byte-exact. */
    struct grove_peer *peer = NULL;
    cr_assert_eq(grove_peer_open(&peer, n.url, NULL), GROVE_OK);
    struct grove_pull_response *pulled = NULL;
    struct grove_pull_request req = {.node_id = "x"};
    cr_assert_eq(grove_peer_pull(peer, &req, &pulled), GROVE_OK, "%s", grove_errmsg());
    cr_assert_eq(pulled->count, 1);
    cr_assert_eq(pulled->changes[0].value.len, strlen("{\"a\":\n\n1}"));
    grove_msg_free(pulled);
    grove_peer_close(peer);
    http_node_stop(&n);
}
