/* Polled streams (grove_server_stream_poll): streams at the same place share
 * one batch's bytes, and everything that decides the bytes keeps streams
 * apart (echoes, pull filter, tables), also when they sit at the same
 * cursor. */
#include <stdatomic.h>

#include "core/guard.h"
#include "grove/sys/transport.h"
#include "support.h"

TestSuite(core_server_stream, .init = support_setup, .fini = support_teardown);

static void apply_from(struct grove_store *store, const char *origin, const char *pk, int64_t ts)
{
    struct grove_change c = {.table = "docs",
                             .pk = pk,
                             .field = "title",
                             .crdt = GROVE_CRDT_LWW,
                             .node_id = origin,
                             .value = {"1", 1},
                             .hlc = {.ts = ts}};
    cr_assert_eq(grove_hlc_set_node(&c.hlc, origin), GROVE_OK);
    cr_assert_eq(grove_store_apply(store, &c, 1, origin, NULL), GROVE_OK, "%s", grove_errmsg());
}

/* The batch's pks, comma-separated, for comparing. */
static grove_err format_pks(const struct grove_pull_response *batch, struct grove_buf *out)
{
    grove_err err = GROVE_OK;
    for (size_t i = 0; !err && i < batch->count; i++) {
        err = grove_buf_append(out, batch->changes[i].pk, strlen(batch->changes[i].pk));
        if (!err)
            err = grove_buf_append(out, ",", 1);
    }
    return err;
}

static struct grove_server_stream *open_stream(struct grove_server *server,
                                               struct grove_pull_request *req)
{
    struct grove_server_stream *s;
    cr_assert_eq(grove_server_stream_open(server, req, &s), GROVE_OK, "%s", grove_errmsg());
    return s;
}

/* The next batch as format writes it, as text ("" and GROVE_ETIMEOUT when none). */
static grove_err poll_as(struct grove_server_stream *s, grove_stream_format_fn format, char *out,
                         size_t cap)
{
    struct grove_buf b = {0};
    grove_err err = grove_server_stream_poll(s, format, &b);
    snprintf(out, cap, "%.*s", (int)b.len, b.data ? b.data : "");
    grove_buf_free(&b);
    return err;
}

/* The next batch's pks. */
static grove_err poll_text(struct grove_server_stream *s, char *out, size_t cap)
{
    return poll_as(s, format_pks, out, cap);
}

/* A server over a fresh store holding one row, and the cursor after it:
 * streams start past the zero cursor, since a pull from zero is not
 * echo-filtered (docs/design.md, "Echo rules"). */
struct seeded {
    struct grove_store *store;
    struct grove_server *server;
    struct grove_hlc since;
};

static void seeded_open(struct seeded *f, const struct grove_server_options *opts)
{
    f->store = support_store(support_dir, "srv", support_docs_schema);
    cr_assert_eq(grove_server_new(&f->server, f->store, opts), GROVE_OK);
    apply_from(f->store, "y", "seed", 500);
    grove_store_latest(f->store, &f->since);
}

static void seeded_close(struct seeded *f)
{
    grove_server_free(f->server);
    grove_store_close(f->store);
}

Test(core_server_stream, streams_at_one_place_share_bytes_and_differ_by_what_decides_them)
{
    struct seeded f;
    seeded_open(&f, NULL);
    struct grove_store *store = f.store;
    struct grove_server *server = f.server;
    struct grove_hlc since = f.since;
    struct grove_pull_request plain = {.node_id = "sub", .since = since};
    struct grove_pull_request other = {.node_id = "sub", .since = since};
    struct grove_pull_request echo = {.node_id = "x", .since = since};
    struct grove_pull_request only_a = {
        .node_id = "sub", .since = since, .filter = {.pk_prefix = "a"}};
    struct grove_server_stream *s1 = open_stream(server, &plain);
    struct grove_server_stream *s2 = open_stream(server, &other);
    struct grove_server_stream *se = open_stream(server, &echo);
    struct grove_server_stream *sa = open_stream(server, &only_a);
    char text[256];
    cr_expect_eq(poll_text(s1, text, sizeof text), GROVE_ETIMEOUT, "nothing is committed yet");
    apply_from(store, "x", "a1", 1000);
    apply_from(store, "y", "b1", 1001);
    cr_assert_eq(poll_text(s1, text, sizeof text), GROVE_OK, "%s", grove_errmsg());
    cr_expect_str_eq(text, "a1,b1,");
    cr_assert_eq(poll_text(s2, text, sizeof text), GROVE_OK);
    cr_expect_str_eq(text, "a1,b1,", "a second stream at the same place gets the same bytes");
    cr_assert_eq(poll_text(se, text, sizeof text), GROVE_OK);
    cr_expect_str_eq(text, "b1,", "x's own change is an echo for x");
    cr_assert_eq(poll_text(sa, text, sizeof text), GROVE_OK);
    cr_expect_str_eq(text, "a1,", "the prefix filter holds at the same cursor");
    /* At the head: nothing, without a read. */
    cr_expect_eq(poll_text(s1, text, sizeof text), GROVE_ETIMEOUT);
    cr_expect_eq(poll_text(se, text, sizeof text), GROVE_ETIMEOUT);
    /* Only changes the filtered stream leaves out: still nothing for it. */
    apply_from(store, "y", "b2", 1002);
    cr_expect_eq(poll_text(sa, text, sizeof text), GROVE_ETIMEOUT);
    cr_expect_eq(poll_text(sa, text, sizeof text), GROVE_ETIMEOUT);
    apply_from(store, "y", "a2", 1003);
    cr_assert_eq(poll_text(sa, text, sizeof text), GROVE_OK);
    cr_expect_str_eq(text, "a2,");
    cr_assert_eq(poll_text(s2, text, sizeof text), GROVE_OK);
    cr_expect_str_eq(text, "b2,a2,");
    grove_server_shutdown(server);
    cr_expect_eq(poll_text(s1, text, sizeof text), GROVE_ESHUTDOWN);
    grove_server_stream_close(s1);
    grove_server_stream_close(s2);
    grove_server_stream_close(se);
    grove_server_stream_close(sa);
    seeded_close(&f);
}

/* format_pks, counting its calls: one per batch read. */
static atomic_int batches_formatted;
static grove_err format_pks_counted(const struct grove_pull_response *batch, struct grove_buf *out)
{
    atomic_fetch_add(&batches_formatted, 1);
    return format_pks(batch, out);
}

/* Edge nodes each name a node of their own: a commit is still read and
 * written once for all of them, and the node it came from reads its own
 * batch, without its echo. */
Test(core_server_stream, streams_of_different_nodes_share_a_batch_without_their_echoes)
{
    enum { STREAMS = 50 };
    struct seeded f;
    seeded_open(&f, NULL);
    struct grove_store *store = f.store;
    struct grove_server *server = f.server;
    struct grove_hlc since = f.since;
    char nodes[STREAMS][8];
    struct grove_server_stream *s[STREAMS];
    for (int i = 0; i < STREAMS; i++) {
        snprintf(nodes[i], sizeof nodes[i], "e%02d", i);
        s[i] =
            open_stream(server, &(struct grove_pull_request){.node_id = nodes[i], .since = since});
    }
    const struct {
        const char *from, *pk;
        int formatted; /* batches written for all 50 */
    } commits[] = {
        {"y", "b1", 1},   /* one batch for every node */
        {"e07", "c1", 1}, /* e07's own read leaves its echo out: nothing to write */
        {"y", "d1", 2},   /* e07's last batch ended elsewhere: a batch of its own */
        {"y", "f1", 1},   /* all at one place again */
    };
    for (size_t k = 0; k < sizeof commits / sizeof commits[0]; k++) {
        apply_from(store, commits[k].from, commits[k].pk, 1000 + (int64_t)k);
        atomic_store(&batches_formatted, 0);
        for (int i = 0; i < STREAMS; i++) {
            char text[64], want[64];
            grove_err err = poll_as(s[i], format_pks_counted, text, sizeof text);
            if (strcmp(nodes[i], commits[k].from) == 0) {
                cr_expect_eq(err, GROVE_ETIMEOUT, "%s got its own change: %s", nodes[i], text);
                continue;
            }
            snprintf(want, sizeof want, "%s,", commits[k].pk);
            cr_assert_eq(err, GROVE_OK, "%s: %s", nodes[i], grove_errmsg());
            cr_expect_str_eq(text, want, "%s", nodes[i]);
        }
        cr_expect_eq(atomic_load(&batches_formatted), commits[k].formatted, "commit %zu", k);
    }
    for (int i = 0; i < STREAMS; i++)
        grove_server_stream_close(s[i]);
    seeded_close(&f);
}

/* A caller admitted with `secret` by g (a bearer token). */
static void admit(struct grove_guard *g, const char *secret, struct grove_caller *out)
{
    char auth[64];
    snprintf(auth, sizeof auth, "Bearer %s", secret);
    struct grove_cert_names none = {0};
    struct grove_credentials cred = {
        .op = "stream", .authorization = auth, .authorization_len = strlen(auth), .cert = &none};
    cr_assert_eq(grove_guard_admit(g, &cred, GROVE_NEED_SYNC, out), GROVE_OK, "%s", grove_errmsg());
}

/* A client identity of node `name` reading the docs under `prefix`. */
static struct grove_identity edge_identity(const char *name, const char *prefix, const char *secret)
{
    static const char *const docs[] = {"docs"};
    return (struct grove_identity){.name = name,
                                   .role = GROVE_ROLE_CLIENT,
                                   .node = name,
                                   .read = {.tables = docs, .table_count = 1},
                                   .prefix = prefix,
                                   .secrets = {secret}};
}

/* Identities of their own with equal read scopes share a batch; a scope
 * that differs keeps its own, and each sees only its rows. */
Test(core_server_stream, identities_with_equal_read_scopes_share_a_batch)
{
    const struct grove_identity ids[] = {
        edge_identity("e1", "t1/", "s1"),
        edge_identity("e2", "t1/", "s2"),
        edge_identity("e3", "t2/", "s3"),
        {.name = "hub", .node = "hub", .read = {.all = true}, .secrets = {"s4"}},
    };
    enum { IDS = sizeof ids / sizeof ids[0] };
    struct grove_access *access = NULL;
    cr_assert_eq(grove_access_new(&access, ids, IDS), GROVE_OK, "%s", grove_errmsg());
    struct grove_guard *g = NULL;
    cr_assert_eq(grove_guard_new(&g, access, "test"), GROVE_OK);
    grove_access_unref(access);
    struct seeded f;
    seeded_open(&f, NULL);
    struct grove_store *store = f.store;
    struct grove_server *server = f.server;
    struct grove_hlc since = f.since;
    struct grove_caller callers[IDS];
    struct grove_server_stream *s[IDS];
    for (int i = 0; i < IDS; i++) {
        admit(g, ids[i].secrets[0], &callers[i]);
        s[i] =
            open_stream(server, &(struct grove_pull_request){
                                    .node_id = ids[i].node, .since = since, .caller = &callers[i]});
    }
    apply_from(store, "y", "t1/a", 1000);
    atomic_store(&batches_formatted, 0);
    const char *want[IDS] = {"t1/a,", "t1/a,", NULL, "t1/a,"};
    for (int i = 0; i < IDS; i++) {
        char text[64];
        grove_err err = poll_as(s[i], format_pks_counted, text, sizeof text);
        if (!want[i]) {
            cr_expect_eq(err, GROVE_ETIMEOUT, "%s got %s", ids[i].name, text);
            continue;
        }
        cr_assert_eq(err, GROVE_OK, "%s: %s", ids[i].name, grove_errmsg());
        cr_expect_str_eq(text, want[i], "%s", ids[i].name);
    }
    /* e1 and e2 one batch, the hub its own; e3's scope holds nothing of it. */
    cr_expect_eq(atomic_load(&batches_formatted), 2);
    for (int i = 0; i < IDS; i++) {
        grove_server_stream_close(s[i]);
        grove_caller_release(&callers[i]);
    }
    seeded_close(&f);
    grove_guard_free(g);
}

/* More distinct subscriptions than the cache holds, each at its own cursor:
 * every one still gets exactly its own changes. */
Test(core_server_stream, more_subscriptions_than_the_cache_holds)
{
    enum { STREAMS = 100 };
    struct grove_store *store = support_store(support_dir, "srv", support_docs_schema);
    struct grove_server *server;
    cr_assert_eq(grove_server_new(&server, store, NULL), GROVE_OK);
    struct grove_server_stream *s[STREAMS];
    char prefixes[STREAMS][16];
    for (int i = 0; i < STREAMS; i++) {
        snprintf(prefixes[i], sizeof prefixes[i], "p%03d-", i);
        struct grove_pull_request req = {.node_id = "sub", .filter = {.pk_prefix = prefixes[i]}};
        s[i] = open_stream(server, &req);
    }
    for (int i = 0; i < STREAMS; i++) {
        char pk[32];
        snprintf(pk, sizeof pk, "p%03d-row", i);
        apply_from(store, "y", pk, 1000 + i);
    }
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < STREAMS; i++) {
            char text[64], want[64];
            grove_err err = poll_text(s[i], text, sizeof text);
            if (round == 0) {
                snprintf(want, sizeof want, "p%03d-row,", i);
                cr_assert_eq(err, GROVE_OK, "stream %d: %s", i, grove_errmsg());
                cr_expect_str_eq(text, want);
            } else {
                cr_expect_eq(err, GROVE_ETIMEOUT, "stream %d got %s again", i, text);
            }
        }
    for (int i = 0; i < STREAMS; i++)
        grove_server_stream_close(s[i]);
    grove_server_free(server);
    grove_store_close(store);
}

static grove_err count_reads(void *user, const struct grove_hook_context *ctx,
                             struct grove_change *changes, size_t *count)
{
    (void)ctx;
    (void)changes;
    (void)count;
    atomic_fetch_add((atomic_int *)user, 1);
    return GROVE_OK;
}

/* A stream of one table, after a commit to another: both ways of waiting
 * wait for the next commit instead of reading again and again until their
 * timeout (the store is past the stream's cursor the whole time, so a wait
 * from the cursor ends at once: without the fix it never timed out at all).
 * Counted by the reads the server's hooks see, not by time. */
Test(core_server_stream, a_commit_to_another_table_is_read_once_not_spun_on, .timeout = 30)
{
    atomic_int reads = 0;
    struct grove_hook_chain hooks = {0};
    cr_assert_eq(
        grove_hook_chain_add(
            &hooks, &(struct grove_hook){.before_outbound_read = count_reads, .user = &reads}),
        GROVE_OK);
    struct seeded f;
    seeded_open(&f, &(struct grove_server_options){.hooks = &hooks});
    grove_hook_chain_free(&hooks);
    struct grove_store *store = f.store;
    struct grove_server *server = f.server;
    struct grove_hlc since = f.since;
    const char *notes[] = {"notes"};
    struct grove_pull_request req = {
        .node_id = "sub", .since = since, .tables = notes, .table_count = 1};
    struct grove_server_stream *s = open_stream(server, &req);
    apply_from(store, "y", "other-table", 1000); /* docs, not notes */
    struct grove_pull_response *batch = NULL;
    cr_expect_eq(grove_server_stream_next(s, 300, &batch), GROVE_ETIMEOUT);
    cr_expect_leq(atomic_load(&reads), 2, "grove_server_stream_next read %d times in 300 ms",
                  atomic_load(&reads));
    atomic_store(&reads, 0);
    struct grove_buf out = {0};
    cr_expect_eq(grove_serve_stream_next(s, &grove_codec_json, 300, &out), GROVE_ETIMEOUT);
    cr_expect_leq(atomic_load(&reads), 2, "grove_serve_stream_next read %d times in 300 ms",
                  atomic_load(&reads));
    grove_buf_free(&out);
    grove_server_stream_close(s);
    seeded_close(&f);
}
