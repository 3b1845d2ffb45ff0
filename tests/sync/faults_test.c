/* The fault shim itself: each fault does what it says, and is seeded. */
#include "sync_fixture.h"

TestSuite(sync_faults, .init = fx_setup, .fini = fx_teardown);

static struct grove_push_request *one_change(const char *pk)
{
    struct grove_push_request *req = NULL;
    size_t cap = 0;
    fx_ok(grove_push_request_new(&req));
    fx_ok(grove_msg_reserve_changes(req, &req->changes, &cap, 1));
    req->count = 1;
    req->node_id = "X";
    struct grove_change *c = &req->changes[0];
    c->table = "docs";
    c->pk = grove_msg_strndup(req, pk, strlen(pk));
    c->field = "title";
    c->crdt = GROVE_CRDT_LWW;
    c->hlc.ts = fx_now_ns() - 1000000000LL;
    fx_ok(grove_hlc_set_node(&c->hlc, "X"));
    c->node_id = "X";
    c->value.ptr = "1";
    c->value.len = 1;
    return req;
}

static grove_err push_one(const char *url, const char *pk, uint64_t *merged)
{
    struct grove_peer *peer = NULL;
    fx_ok(grove_peer_open(&peer, url, NULL));
    struct grove_push_request *req = one_change(pk);
    struct grove_push_response *resp = NULL;
    grove_err err = grove_peer_push(peer, req, &resp);
    if (!err) {
        cr_assert_not_null(resp);
        *merged = resp->merged;
    } else {
        cr_assert_null(resp);
    }
    grove_push_response_free(resp);
    grove_push_request_free(req);
    grove_peer_close(peer);
    return err;
}

/* Serves node H and puts the faults f on a link to it ("#label" tells
 * links to the same node apart; "" for none). */
static void faulty_link(struct fx_node *h, const char *label, const struct grove_faults *f,
                        char *url, size_t cap)
{
    fx_node_init(h, "H");
    fx_serve(h);
    snprintf(url, cap, "fault+%s%s", h->url, label);
    fx_ok(grove_faults_set(url, f));
}

static bool has_row(struct fx_node *n, const char *pk)
{
    char *row = fx_get(n, "docs", pk);
    bool found = strcmp(row, "(absent)") != 0;
    free(row);
    return found;
}

Test(sync_faults, drop_never_reaches_the_server)
{
    struct fx_node h;
    char url[160];
    struct grove_faults f = {.seed = 1, .drop = 1.0};
    faulty_link(&h, "#drop", &f, url, sizeof url);
    uint64_t merged = 0;
    cr_assert_eq(push_one(url, "p", &merged), GROVE_EUNAVAIL);
    cr_assert_not(has_row(&h, "p"));
    struct grove_fault_stats st;
    grove_faults_stats(url, &st);
    cr_assert_eq(st.calls, 1);
    cr_assert_eq(st.drops, 1);
    fx_close(&h);
}

Test(sync_faults, lost_reply_applies_but_fails)
{
    struct fx_node h;
    char url[160];
    struct grove_faults f = {.seed = 1, .lost_reply = 1.0};
    faulty_link(&h, "#lost", &f, url, sizeof url);
    uint64_t merged = 0;
    cr_assert_eq(push_one(url, "p", &merged), GROVE_EUNAVAIL);
    cr_assert(has_row(&h, "p"));
    struct grove_fault_stats st;
    grove_faults_stats(url, &st);
    cr_assert_eq(st.lost_replies, 1);
    fx_close(&h);
}

Test(sync_faults, duplicate_push_is_sent_twice)
{
    struct fx_node h;
    char url[160];
    struct grove_faults f = {.seed = 1, .duplicate = 1.0};
    faulty_link(&h, "", &f, url, sizeof url);
    uint64_t merged = 99;
    cr_assert_eq(push_one(url, "p", &merged), GROVE_OK);
    cr_assert_eq(merged, 1, "the first answer is the one returned");
    struct grove_fault_stats st;
    grove_faults_stats(url, &st);
    cr_assert_eq(st.duplicates, 1);
    fx_close(&h);
}

Test(sync_faults, partition_and_fail_after)
{
    struct fx_node h;
    fx_node_init(&h, "H");
    fx_serve(&h);
    char url[160];
    snprintf(url, sizeof url, "fault+%s", h.url);
    uint64_t merged;
    fx_ok(grove_faults_partition(url, true));
    cr_assert_eq(push_one(url, "p1", &merged), GROVE_EUNAVAIL);
    fx_ok(grove_faults_partition(url, false));
    cr_assert_eq(push_one(url, "p2", &merged), GROVE_OK);
    cr_assert_not(has_row(&h, "p1"));

    struct grove_faults f = {.fail_after = 2};
    fx_ok(grove_faults_set(url, &f));
    cr_assert_eq(push_one(url, "p3", &merged), GROVE_OK);
    cr_assert_eq(push_one(url, "p4", &merged), GROVE_OK);
    cr_assert_eq(push_one(url, "p5", &merged), GROVE_EUNAVAIL);
    cr_assert_not(has_row(&h, "p5"));
    fx_close(&h);
}

/* Outcomes of 64 calls on a link with 50% drops, as a bit mask. */
static uint64_t drop_pattern(const char *url, uint64_t seed)
{
    struct grove_faults f = {.seed = seed, .drop = 0.5};
    fx_ok(grove_faults_set(url, &f));
    struct grove_peer *peer = NULL;
    fx_ok(grove_peer_open(&peer, url, NULL));
    const char *tables[] = {"docs"};
    struct grove_pull_request req = {.tables = tables, .table_count = 1, .node_id = "X"};
    uint64_t mask = 0;
    for (int i = 0; i < 64; i++) {
        struct grove_pull_response *resp = NULL;
        if (grove_peer_pull(peer, &req, &resp) == GROVE_OK)
            mask |= 1ULL << i;
        grove_pull_response_free(resp);
    }
    grove_peer_close(peer);
    return mask;
}

Test(sync_faults, seeded_and_per_link)
{
    struct fx_node h;
    fx_node_init(&h, "H");
    fx_serve(&h);
    char u1[160], u2[160];
    snprintf(u1, sizeof u1, "fault+%s#one", h.url);
    snprintf(u2, sizeof u2, "fault+%s#two", h.url);
    uint64_t first = drop_pattern(u1, 7);
    cr_assert_eq(drop_pattern(u1, 7), first, "same link and seed, same faults");
    cr_assert_neq(drop_pattern(u2, 7), first, "another link draws its own sequence");
    cr_assert_neq(drop_pattern(u1, 8), first, "another seed, other faults");
    cr_assert_neq(first, 0);
    cr_assert_neq(first, ~0ULL);
    fx_close(&h);
}

/* Stream faults: with everything held back and repeated, batches still all
 * arrive (some twice, out of order) or are counted as dropped. */
struct stream_seen {
    int batches;
    int changes;
    atomic_bool stop;
};

static grove_err on_batch(void *user, const struct grove_pull_response *b)
{
    struct stream_seen *s = user;
    s->batches++;
    s->changes += (int)b->count;
    if (s->changes >= 6)
        atomic_store(&s->stop, true);
    return GROVE_OK;
}

Test(sync_faults, stream_batches_dup_and_reorder)
{
    struct fx_node h, w;
    char url[160];
    struct grove_faults f = {.seed = 3, .stream_dup = 1.0};
    faulty_link(&h, "", &f, url, sizeof url);
    fx_node_init(&w, "W");
    fx_set(&h, "docs", "s1", "title", "1");
    fx_set(&h, "docs", "s2", "title", "2");
    fx_set(&h, "docs", "s3", "title", "3");

    struct grove_peer *peer = NULL;
    fx_ok(grove_peer_open(&peer, url, NULL));
    cr_assert(grove_peer_can_subscribe(peer));
    const char *tables[] = {"docs"};
    struct grove_pull_request req = {.tables = tables, .table_count = 1, .node_id = "W"};
    struct stream_seen seen = {0};
    atomic_init(&seen.stop, false);
    fx_ok(grove_peer_subscribe(peer, &req, on_batch, &seen, &seen.stop));
    cr_assert_eq(seen.changes, 6, "every batch twice: %d changes", seen.changes);
    struct grove_fault_stats st;
    grove_faults_stats(url, &st);
    cr_assert_geq(st.stream_dups, 1);
    grove_peer_close(peer);
    fx_close(&w);
    fx_close(&h);
}
