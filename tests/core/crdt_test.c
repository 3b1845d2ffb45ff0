/* Property tests of the merge laws: whatever the order, grouping or
 * duplication of delivery, replicas resolve to the same rows. Seeded; the
 * seed is printed on failure. */
#include "core/crdt.h"
#include "support.h"

#include <time.h>

#define CASES   3000
#define CHANGES 24

static const char *const nodes[] = {"a", "b", "c"};
static const char *const fields[] = {"title", "views", "tags"};
static const char *const values[] = {"1", "2", "\"x\"", "null"};
static struct grove_slice elements[] = {{"\"p\"", 3}, {"\"q\"", 3}, {"1", 1}};

static unsigned next_rand(unsigned *state)
{
    *state = *state * 1103515245u + 12345u;
    return (*state >> 8) & 0xffffff;
}

/* Random changes for one row; small stamp space so ties and conflicts happen. */
static void random_changes(unsigned *rs, struct grove_change *out, int64_t counters[3][2])
{
    memset(counters, 0, sizeof(int64_t) * 6);
    for (int i = 0; i < CHANGES; i++) {
        struct grove_change *c = &out[i];
        memset(c, 0, sizeof *c);
        int node = (int)(next_rand(rs) % 3);
        c->table = "docs";
        c->pk = "row";
        c->node_id = nodes[node];
        c->hlc.ts = (int64_t)(next_rand(rs) % 6) * 1000;
        c->hlc.c = next_rand(rs) % 2;
        grove_hlc_set_node(&c->hlc, nodes[next_rand(rs) % 3]);
        switch (next_rand(rs) % 5) {
        case 0:
            c->tombstone = true;
            c->field = "_tombstone";
            break;
        case 1: /* counters: running totals per origin only grow */
            c->field = fields[1];
            c->crdt = GROVE_CRDT_COUNTER;
            c->has_counter = true;
            counters[node][next_rand(rs) % 2] += next_rand(rs) % 4;
            c->counter_inc = counters[node][0];
            c->counter_dec = counters[node][1];
            break;
        case 2:
            c->field = fields[2];
            c->crdt = GROVE_CRDT_SET;
            c->set_op = next_rand(rs) % 2 ? GROVE_SET_ADD : GROVE_SET_REMOVE;
            c->elements = &elements[next_rand(rs) % 3];
            c->element_count = 1;
            break;
        default:
            c->field = fields[0];
            c->crdt = GROVE_CRDT_LWW;
            c->value.ptr = values[next_rand(rs) % 4];
            c->value.len = strlen(c->value.ptr);
            break;
        }
    }
}

static void resolve(struct grove_change *changes, const int *order, int n, struct grove_buf *doc,
                    bool *visible)
{
    struct state_units rows = {0};
    for (int i = 0; i < n; i++) {
        struct state_merge m = {0};
        cr_assert_eq(grove_state_units_merge(&rows, &changes[order[i]], "", &m), GROVE_OK);
    }
    doc->len = 0;
    cr_assert_eq(grove_state_units_resolve(&rows, doc, visible), GROVE_OK);
    grove_state_units_free(&rows);
}

Test(core_crdt, merge_is_commutative_associative_idempotent)
{
    unsigned seed = (unsigned)time(NULL);
    if (getenv("GROVE_SEED"))
        seed = (unsigned)strtoul(getenv("GROVE_SEED"), NULL, 10);
    struct grove_change changes[CHANGES];
    int64_t counters[3][2];
    struct grove_buf want = {0}, got = {0};
    for (int k = 0; k < CASES; k++) {
        unsigned rs = seed + (unsigned)k;
        random_changes(&rs, changes, counters);
        int order[CHANGES * 2];
        for (int i = 0; i < CHANGES; i++)
            order[i] = i;
        bool want_visible, got_visible;
        resolve(changes, order, CHANGES, &want, &want_visible);
        /* Another order, with every change possibly delivered twice. */
        int n = CHANGES;
        for (int i = 0; i < CHANGES; i++)
            if (next_rand(&rs) % 2)
                order[n++] = i;
        for (int i = n - 1; i > 0; i--) {
            int j = (int)(next_rand(&rs) % (unsigned)(i + 1));
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        resolve(changes, order, n, &got, &got_visible);
        cr_assert_str_eq(got.data, want.data, "seed %u case %d: order changed the result", seed, k);
        cr_assert_eq(got_visible, want_visible, "seed %u case %d: visibility differs", seed, k);
    }
    grove_buf_free(&want);
    grove_buf_free(&got);
}

Test(core_crdt, lww_ties_break_on_value_bytes)
{
    struct grove_change a = {.table = "docs",
                             .pk = "r",
                             .field = "title",
                             .crdt = GROVE_CRDT_LWW,
                             .node_id = "a",
                             .value = {"\"a\"", 3},
                             .hlc = {.ts = 5, .node = "a"}};
    struct grove_change b = a;
    b.value.ptr = "\"b\"";
    int ab[] = {0, 1}, ba[] = {1, 0};
    struct grove_change both[] = {a, b};
    struct grove_buf d1 = {0}, d2 = {0};
    bool v;
    resolve(both, ab, 2, &d1, &v);
    resolve(both, ba, 2, &d2, &v);
    cr_expect_str_eq(d1.data, "{\"title\":\"b\"}");
    cr_expect_str_eq(d2.data, "{\"title\":\"b\"}");
    grove_buf_free(&d1);
    grove_buf_free(&d2);
}

Test(core_crdt, tombstone_hides_only_older_writes)
{
    struct grove_change w = {.table = "docs",
                             .pk = "r",
                             .field = "title",
                             .crdt = GROVE_CRDT_LWW,
                             .node_id = "a",
                             .value = {"1", 1},
                             .hlc = {.ts = 2000, .node = "a"}};
    struct grove_change t = {.table = "docs",
                             .pk = "r",
                             .field = "_tombstone",
                             .tombstone = true,
                             .node_id = "b",
                             .hlc = {.ts = 1000, .node = "b"}};
    struct grove_change both[] = {w, t};
    int order[] = {1, 0};
    struct grove_buf doc = {0};
    bool visible;
    resolve(both, order, 2, &doc, &visible);
    cr_expect(visible, "an older tombstone hid a newer write");
    cr_expect_str_eq(doc.data, "{\"title\":1}");
    both[1].hlc.ts = 3000;
    resolve(both, order, 2, &doc, &visible);
    cr_expect(!visible, "a newer tombstone did not hide the row");
    grove_buf_free(&doc);
}

Test(core_crdt, set_adds_win_ties_and_removes_hide)
{
    struct grove_slice el = {"\"x\"", 3};
    struct grove_change add = {.table = "docs",
                               .pk = "r",
                               .field = "tags",
                               .crdt = GROVE_CRDT_SET,
                               .node_id = "a",
                               .set_op = GROVE_SET_ADD,
                               .elements = &el,
                               .element_count = 1,
                               .hlc = {.ts = 1000, .node = "a"}};
    struct grove_change rm = add;
    rm.set_op = GROVE_SET_REMOVE;
    struct grove_change both[] = {add, rm};
    int order[] = {0, 1};
    struct grove_buf doc = {0};
    bool visible;
    resolve(both, order, 2, &doc, &visible);
    cr_expect_str_eq(doc.data, "{\"tags\":[\"x\"]}", "add must win a tie");
    both[1].hlc.ts = 2000;
    resolve(both, order, 2, &doc, &visible);
    cr_expect_str_eq(doc.data, "{\"tags\":[]}");
    grove_buf_free(&doc);
}
