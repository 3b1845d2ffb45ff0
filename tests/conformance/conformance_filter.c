/* The conformance case of the pull filter (docs/protocol.md §4): a pull and
 * a stream with the same filter return the same records on every transport,
 * row deletes included, and a pull's cursor passes what is left out. */
#include <stdio.h>
#include <string.h>

#include "conformance/conformance.h"
#include "support/node.h"

/* "pk/field" of each record ("pk/-" for a delete), joined by spaces. */
static void filter_append(char *out, size_t size, const struct grove_pull_response *r)
{
    for (size_t i = 0; i < r->count; i++) {
        size_t used = strlen(out);
        snprintf(out + used, size - used, "%s%s/%s", used ? " " : "", r->changes[i].pk,
                 r->changes[i].tombstone ? "-" : r->changes[i].field);
    }
}

static void filter_write(struct grove_store *store, const char *pk, const char *field)
{
    cr_assert_eq(grove_store_set(store, "docs", pk, field, "\"v\"", 3), GROVE_OK, "%s",
                 grove_errmsg());
}

/* The second wave, written once the stream has delivered the first. */
static void filter_second_wave(struct grove_store *store)
{
    filter_write(store, "other/2", "title");
    cr_assert_eq(grove_store_increment(store, "docs", "acme/2", "views", 1), GROVE_OK);
    filter_write(store, "acme/2", "title");
    cr_assert_eq(grove_store_delete(store, "docs", "other/1"), GROVE_OK);
    cr_assert_eq(grove_store_delete(store, "docs", "acme/2"), GROVE_OK);
}

struct filter_stream {
    struct grove_store *store;
    bool wrote;
    char seen[512];
};

static grove_err filter_on_batch(void *user, const struct grove_pull_response *batch)
{
    struct filter_stream *s = user;
    filter_append(s->seen, sizeof s->seen, batch);
    if (!s->wrote && strstr(s->seen, "acme/1/title")) {
        s->wrote = true;
        filter_second_wave(s->store);
    }
    /* Seen enough (the last record): ends the subscription. */
    return strstr(s->seen, "acme/2/-") ? GROVE_ECONFLICT : GROVE_OK;
}

void conformance_filter(const struct conformance_fixture *f)
{
    if (f->setup)
        f->setup();
    static const char *const specs[] = {"docs:title=lww,views=counter,tags=set", NULL};
    struct support_node n;
    support_node_start(&n, &(struct support_node_options){
                               .tables = specs, .listen = f->listen, .url_fn = f->listen_url});
    struct grove_store *store = n.node.store;
    filter_write(store, "acme/1", "title");
    filter_write(store, "other/1", "title");
    struct grove_peer *peer = NULL;
    cr_assert_eq(grove_peer_open(&peer, n.url, f->dial), GROVE_OK, "%s", grove_errmsg());
    const char *tables[] = {"docs"}, *fields[] = {"title"};
    struct grove_pull_request req = {
        .tables = tables,
        .table_count = 1,
        .node_id = "edge",
        .filter = {.fields = fields, .field_count = 1, .pk_prefix = "acme/"}};
    if (grove_peer_can_subscribe(peer)) {
        struct filter_stream s = {.store = store};
        atomic_bool stop = false;
        grove_err err = grove_peer_subscribe(peer, &req, filter_on_batch, &s, &stop);
        cr_expect_eq(err, GROVE_ECONFLICT, "%s: %s", grove_err_name(err), grove_errmsg());
        cr_expect_str_eq(s.seen, "acme/1/title acme/2/title acme/2/-");
    } else {
        filter_second_wave(store);
    }
    struct grove_pull_response *resp = NULL;
    cr_assert_eq(grove_peer_pull(peer, &req, &resp), GROVE_OK, "%s", grove_errmsg());
    char got[512] = "";
    filter_append(got, sizeof got, resp);
    cr_expect_str_eq(got, "acme/1/title acme/2/title acme/2/-");
    struct grove_hlc newest;
    grove_store_latest(store, &newest);
    cr_expect_eq(grove_hlc_compare(&resp->latest_hlc, &newest), 0,
                 "the cursor passes the other tenant's delete, left out");
    grove_msg_free(resp);
    grove_peer_close(peer);
    support_node_stop(&n);
}
