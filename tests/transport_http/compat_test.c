/* Compatibility with Grove's own Go server and TypeScript client: their
 * recorded request shapes are accepted, and a client that holds ts in a
 * float64 (JavaScript) gets cursors back exactly (docs/protocol.md §10, §13). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"
#include "transport_http/http_fixture.h"

static char *read_vector(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/tests/vectors/%s", GROVE_SOURCE_DIR, name);
    return support_read_file(path, len);
}

static void post(const struct http_node *n, const char *path, const char *body, size_t len,
                 struct http_raw_reply *r)
{
    char url[300];
    snprintf(url, sizeof url, "%s%s", n->url, path);
    http_raw("POST", url, "application/json", NULL, body, len, r);
}

static struct grove_pull_response *pull_json(const struct http_node *n, const char *body)
{
    struct http_raw_reply r;
    post(n, "/pull", body, strlen(body), &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_not_null(strstr(r.body, "\"changes\":["), "changes is always an array: %s", r.body);
    struct grove_pull_response *resp = NULL;
    cr_assert_eq(grove_json_decode_pull_response(r.body, r.len, &resp), GROVE_OK, "%s",
                 grove_errmsg());
    http_raw_free(&r);
    return resp;
}

Test(transport_http_compat, go_server_push_shape)
{
    struct http_node n;
    http_node_start(&n, NULL);
    size_t len;
    char *body = read_vector("push_request_go.json", &len);
    struct http_raw_reply r;
    post(&n, "/push", body, len, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_not_null(strstr(r.body, "\"merged\":2"), "%s", r.body);
    cr_assert_not_null(strstr(r.body, "\"latest_hlc\":{"), "%s", r.body);
    http_raw_free(&r);
    free(body);

    struct grove_pull_response *resp =
        pull_json(&n, "{\"tables\":[\"documents\"],\"node_id\":\"ts-client\"}");
    cr_assert_eq(resp->count, 2);
    bool title = false, tomb = false;
    for (size_t i = 0; i < resp->count; i++) {
        const struct grove_change *c = &resp->changes[i];
        if (c->tombstone) {
            tomb = true;
            continue;
        }
        title = true;
        const char *want = "\"Hello \\u003cb\\u003e\"";
        cr_assert_eq(c->value.len, strlen(want));
        cr_assert(memcmp(c->value.ptr, want, c->value.len) == 0, "value passed through: %.*s",
                  (int)c->value.len, c->value.ptr);
        cr_assert_eq(c->hlc.ts, INT64_C(1706000003000000001), "ts exact");
    }
    cr_assert(title && tomb);
    grove_msg_free(resp);
    http_node_stop(&n);
}

Test(transport_http_compat, ts_client_push_shape)
{
    struct http_node n;
    http_node_start(&n, NULL);
    size_t len;
    char *body = read_vector("push_request_ts.json", &len);
    struct http_raw_reply r;
    post(&n, "/push", body, len, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    http_raw_free(&r);
    free(body);
    struct grove_pull_response *resp =
        pull_json(&n, "{\"tables\":[\"documents\",\"stats\"],\"node_id\":\"other\"}");
    cr_assert_eq(resp->count, 3, "pulled %zu", resp->count);
    grove_msg_free(resp);
    http_node_stop(&n);
}

Test(transport_http_compat, pull_request_shapes)
{
    struct http_node n;
    http_node_start(&n, NULL);
    const char *vectors[] = {"pull_request.json", "pull_request_limit.json"};
    for (size_t i = 0; i < 2; i++) {
        size_t len;
        char *body = read_vector(vectors[i], &len);
        struct grove_pull_response *resp = pull_json(&n, body);
        cr_assert_eq(resp->count, 0);
        grove_msg_free(resp);
        free(body);
    }
    /* Grove's clients may leave "since" out entirely. */
    struct grove_pull_response *resp =
        pull_json(&n, "{\"tables\":[\"documents\"],\"node_id\":\"n\"}");
    cr_assert_eq(resp->count, 0);
    grove_msg_free(resp);
    http_node_stop(&n);
}

/* What JavaScript does to an int64 it parses: the nearest double. */
static int64_t float64_round(int64_t ts)
{
    return (int64_t)(double)ts;
}

Test(transport_http_compat, float64_cursor_exact)
{
    struct http_node n;
    http_node_start(&n, NULL);
    const size_t total = 40;
    /* Each push is its own transaction: many distinct arrival stamps. */
    for (size_t i = 0; i < total; i++) {
        char body[512];
        int len =
            snprintf(body, sizeof body,
                     "{\"changes\":[{\"table\":\"docs\",\"pk\":\"p%03zu\",\"field\":\"title\","
                     "\"crdt_type\":\"lww\",\"hlc\":{\"ts\":1706000001000000000,\"c\":%zu,"
                     "\"node\":\"js\"},\"node_id\":\"js\",\"value\":%zu}],\"node_id\":\"js\"}",
                     i, i, i);
        struct http_raw_reply r;
        post(&n, "/push", body, (size_t)len, &r);
        cr_assert_eq(r.status, 200, "%s", r.body);
        http_raw_free(&r);
    }
    size_t got = 0, rounded = 0;
    struct grove_hlc since = {0};
    for (int page = 0; page < 100; page++) {
        char body[512];
        snprintf(body, sizeof body,
                 "{\"tables\":[\"docs\"],\"since\":{\"ts\":%" PRId64 ",\"c\":%" PRIu32
                 ",\"node\":\"%s\"},\"node_id\":\"js-client\",\"limit\":3}",
                 float64_round(since.ts), since.c, since.node);
        rounded += float64_round(since.ts) != since.ts;
        struct grove_pull_response *resp = pull_json(&n, body);
        for (size_t i = 0; i < resp->count; i++) {
            char want[16];
            snprintf(want, sizeof want, "p%03zu", got + i);
            cr_assert_str_eq(resp->changes[i].pk, want, "lost or repeated change");
        }
        got += resp->count;
        since = resp->latest_hlc;
        bool more = resp->has_more;
        grove_msg_free(resp);
        if (!more)
            break;
    }
    cr_assert_eq(got, total, "got %zu of %zu", got, total);
    cr_assert(rounded > 0, "no cursor was changed by rounding: the test proved nothing");
    http_node_stop(&n);
}
