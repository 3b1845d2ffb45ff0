/* CRDT behaviour across replicas through a hub (scenario tests 5-7). */
#include "sync_fixture.h"

TestSuite(sync_crdt, .init = fx_setup, .fini = fx_teardown);

/* A hub H and three edges that each sync with it. */
struct fx_star {
    struct fx_node h, e[3];
};

static void star_open(struct fx_star *s)
{
    const char *names[] = {"A", "B", "C"};
    fx_node_init(&s->h, "H");
    fx_serve(&s->h);
    for (int i = 0; i < 3; i++) {
        fx_node_init(&s->e[i], names[i]);
        fx_syncer(&s->e[i], NULL);
        fx_add_peer(&s->e[i], s->h.url);
    }
}

/* Two rounds of every edge: enough for anything to reach everyone. */
static void star_settle(struct fx_star *s)
{
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 3; i++)
            fx_sync(&s->e[i], 0);
}

static void star_close(struct fx_star *s)
{
    for (int i = 0; i < 3; i++)
        fx_close(&s->e[i]);
    fx_close(&s->h);
}

static void star_assert_row(struct fx_star *s, const char *table, const char *pk, const char *want)
{
    fx_assert_row(&s->h, table, pk, want);
    for (int i = 0; i < 3; i++)
        fx_assert_row(&s->e[i], table, pk, want);
}

static void set_add(struct fx_node *n, const char *pk, const char *el)
{
    fx_ok(grove_store_set_add(n->node.store, "docs", pk, "tags", el, strlen(el)));
}

/* 5. Each element travels on its own: B's remove of "x" reaches A and C,
 * while C's concurrent add of "z" and A's "y" survive. */
Test(sync_crdt, set_add_remove_add_through_hub)
{
    struct fx_star s;
    star_open(&s);
    struct fx_node *a = &s.e[0], *b = &s.e[1], *c = &s.e[2];

    set_add(a, "r", "\"x\"");
    set_add(a, "r", "\"y\"");
    fx_sync(a, 0);
    fx_sync(b, 0);
    fx_assert_row(b, "docs", "r", "{\"tags\":[\"x\",\"y\"]}");
    fx_ok(grove_store_set_remove(b->node.store, "docs", "r", "tags", "\"x\"", 3));
    set_add(c, "r", "\"z\""); /* C has seen nothing yet */
    fx_sync(b, 0);
    fx_sync(c, 0);
    star_settle(&s);
    star_assert_row(&s, "docs", "r", "{\"tags\":[\"y\",\"z\"]}");

    /* A later add of the removed element wins over the older remove. */
    set_add(c, "r", "\"x\"");
    star_settle(&s);
    star_assert_row(&s, "docs", "r", "{\"tags\":[\"x\",\"y\",\"z\"]}");
    star_close(&s);
}

/* 6. Counters are per-origin running totals: the sum is exact on every
 * replica, and delivering every record again (twice) merges nothing. */
Test(sync_crdt, counter_sum_relayed_and_redelivered)
{
    struct fx_star s;
    star_open(&s);
    int64_t deltas[3][3] = {{5, 1, -2}, {7, 7, -1}, {-4, 10, 100}};
    for (int i = 0; i < 3; i++) {
        for (int k = 0; k < 3; k++) {
            fx_ok(grove_store_increment(s.e[i].node.store, "docs", "c", "views", deltas[i][k]));
            fx_sync(&s.e[i], 0); /* interleaved with syncs */
        }
    }
    star_settle(&s);
    star_assert_row(&s, "docs", "c", "{\"views\":123}");

    /* Re-deliver every record the hub holds, twice, to every replica. */
    struct grove_store_query q = {.limit = 100000};
    struct grove_pull_response *all = NULL;
    fx_ok(grove_store_changes(s.h.node.store, &q, &all));
    cr_assert_geq(all->count, 3);
    struct fx_node *nodes[] = {&s.h, &s.e[0], &s.e[1], &s.e[2]};
    for (int rep = 0; rep < 2; rep++) {
        for (int i = 0; i < 4; i++) {
            struct grove_apply_report ar;
            memset(&ar, 0, sizeof ar);
            fx_ok(grove_store_apply(nodes[i]->node.store, all->changes, all->count, "Z", &ar));
            cr_assert_eq(ar.merged, 0, "%s merged %llu re-delivered records", nodes[i]->name,
                         (unsigned long long)ar.merged);
        }
    }
    grove_pull_response_free(all);
    star_settle(&s);
    star_assert_row(&s, "docs", "c", "{\"views\":123}");
    star_close(&s);
}

/* 7. A delete hides only what it has seen: a concurrent (newer) field write
 * keeps the row visible with that field alone; a newer delete hides it. */
Test(sync_crdt, tombstone_vs_concurrent_write)
{
    struct fx_star s;
    star_open(&s);
    struct fx_node *a = &s.e[0], *b = &s.e[1];

    fx_set(a, "docs", "r", "title", "\"t\"");
    star_settle(&s);
    star_assert_row(&s, "docs", "r", "{\"title\":\"t\"}");

    fx_ok(grove_store_delete(b->node.store, "docs", "r")); /* B deletes... */
    fx_set(a, "docs", "r", "body", "\"later\"");           /* ...A writes after, unaware */
    fx_assert_row(b, "docs", "r", "(absent)");
    star_settle(&s);
    star_assert_row(&s, "docs", "r", "{\"body\":\"later\"}");

    fx_ok(grove_store_delete(b->node.store, "docs", "r")); /* newer than every write */
    star_settle(&s);
    star_assert_row(&s, "docs", "r", "(absent)");

    /* And a write after that revives it, with only the new field. */
    fx_ok(grove_store_increment(s.e[2].node.store, "docs", "r", "views", 2));
    star_settle(&s);
    star_assert_row(&s, "docs", "r", "{\"views\":2}");
    star_close(&s);
}
