/* The pull filter on the SSE stream (docs/protocol.md §6): the dialer puts
 * it in the query, the listener sends only what it lets through (row
 * deletes pass the field filter), and a bad one is refused before the
 * stream starts. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "grove/sys/transport.h"
#include "transport_http/http_fixture.h"

struct sse_seen {
    char records[256];
};

/* Collects "pk/field" ("pk/-" for a delete) until the delete of acme/1. */
static grove_err sse_collect(void *user, const struct grove_pull_response *batch)
{
    struct sse_seen *s = user;
    for (size_t i = 0; i < batch->count; i++) {
        const struct grove_change *c = &batch->changes[i];
        size_t used = strlen(s->records);
        snprintf(s->records + used, sizeof s->records - used, "%s%s/%s", used ? " " : "", c->pk,
                 c->tombstone ? "-" : c->field);
        if (c->tombstone && strcmp(c->pk, "acme/1") == 0)
            return GROVE_ECONFLICT; /* seen enough: ends the subscription */
    }
    return GROVE_OK;
}

Test(transport_http_sse_filter, the_stream_sends_only_what_the_filter_lets_through)
{
    struct http_node n;
    http_node_start(&n, NULL);
    struct grove_store *store = n.node.store;
    cr_assert_eq(grove_store_set(store, "notes", "other/1", "title", "1", 1), GROVE_OK);
    cr_assert_eq(grove_store_set(store, "notes", "acme/1", "body", "2", 1), GROVE_OK);
    cr_assert_eq(grove_store_set(store, "notes", "acme/1", "title", "3", 1), GROVE_OK);
    cr_assert_eq(grove_store_delete(store, "notes", "other/1"), GROVE_OK);
    cr_assert_eq(grove_store_delete(store, "notes", "acme/1"), GROVE_OK);
    struct grove_peer *peer;
    cr_assert_eq(grove_peer_open(&peer, n.url, NULL), GROVE_OK, "%s", grove_errmsg());
    const char *tables[] = {"notes"}, *fields[] = {"title"};
    struct grove_pull_request req = {
        .tables = tables,
        .table_count = 1,
        .node_id = "edge",
        .filter = {.fields = fields, .field_count = 1, .pk_prefix = "acme/"}};
    struct sse_seen seen = {0};
    atomic_bool stop = false;
    cr_expect_eq(grove_peer_subscribe(peer, &req, sse_collect, &seen, &stop), GROVE_ECONFLICT, "%s",
                 grove_errmsg());
    cr_expect_str_eq(seen.records, "acme/1/title acme/1/-");
    grove_peer_close(peer);
    http_node_stop(&n);
}

Test(transport_http_sse_filter, a_bad_filter_is_refused_before_the_stream)
{
    struct http_node n;
    http_node_start(&n, NULL);
    static const struct {
        const char *query, *error;
    } cases[] = {
        {"pk_filter=a&pk_filter=", "filter.pk_filter[1]: must be 1 to 1024 bytes (got 0)"},
        {"field_filter", "filter.field_filter[0]: must be 1 to 1024 bytes (got 0)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char url[400];
        snprintf(url, sizeof url, "%s/stream?tables=docs&%s", n.url, cases[i].query);
        struct http_raw_reply r;
        http_raw("GET", url, NULL, NULL, NULL, 0, &r);
        cr_expect_eq(r.status, 400, "%s: %ld %s", cases[i].query, r.status, r.body);
        cr_expect(strstr(r.body, cases[i].error), "%s: %s", cases[i].query, r.body);
        http_raw_free(&r);
    }
    http_node_stop(&n);
}
