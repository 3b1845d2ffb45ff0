/* The hook chain (core/hook.c): before_inbound skips, edits and aborts in
 * order, admit_inbound refuses a whole request before any change is looked
 * at, after_inbound errors never abort, before_outbound_read filters pulls,
 * and every hook is told the request it runs for, on each path. */
#include "grove/sys/error.h"
#include "support.h"

TestSuite(core_hook, .init = support_setup, .fini = support_teardown);

static struct grove_change change(const char *pk, const char *value)
{
    struct grove_change c = {.table = "docs",
                             .pk = pk,
                             .field = "title",
                             .crdt = GROVE_CRDT_LWW,
                             .node_id = "peer",
                             .value = {value, strlen(value)},
                             .hlc = {.ts = 1000, .node = "peer"}};
    return c;
}

/* Drops pk "skip", rewrites the value of pk "edit". */
static grove_err filter_inbound(void *user, const struct grove_hook_context *ctx,
                                struct grove_change *c, bool *skip)
{
    (void)ctx;
    (*(int *)user)++;
    if (strcmp(c->pk, "skip") == 0)
        *skip = true;
    if (strcmp(c->pk, "edit") == 0)
        c->value = (struct grove_slice){"\"edited\"", 8};
    return GROVE_OK;
}

static grove_err refuse_bad(void *user, const struct grove_hook_context *ctx,
                            struct grove_change *c, bool *skip)
{
    (void)user;
    (void)ctx;
    (void)skip;
    if (strcmp(c->pk, "bad") == 0)
        return grove_error_set(GROVE_EFORBIDDEN, "tenant check failed for %s", c->pk);
    return GROVE_OK;
}

static grove_err after_fails(void *user, const struct grove_hook_context *ctx,
                             const struct grove_change *c)
{
    (void)ctx;
    (void)c;
    (*(int *)user)++;
    return grove_error_set(GROVE_EINVAL, "audit log unavailable");
}

static grove_err keep_only_a(void *user, const struct grove_hook_context *ctx,
                             struct grove_change *changes, size_t *count)
{
    (void)user;
    (void)ctx;
    size_t kept = 0;
    for (size_t i = 0; i < *count; i++)
        if (changes[i].pk[0] == 'a')
            changes[kept++] = changes[i];
    *count = kept;
    return GROVE_OK;
}

static struct grove_server *server_with(struct grove_store *store, struct grove_hook_chain *chain)
{
    struct grove_server_options o = {.hooks = chain};
    struct grove_server *server;
    cr_assert_eq(grove_server_new(&server, store, &o), GROVE_OK);
    return server;
}

static grove_err push_from(struct grove_server *server, const char *addr,
                           struct grove_change *changes, size_t n)
{
    struct grove_push_request req = {
        .changes = changes, .count = n, .node_id = "peer", .peer_addr = addr};
    struct grove_push_response *resp = NULL;
    grove_err err = grove_server_push(server, &req, &resp);
    grove_msg_free(resp);
    return err;
}

static grove_err push(struct grove_server *server, struct grove_change *changes, size_t n)
{
    return push_from(server, NULL, changes, n);
}

Test(core_hook, before_inbound_skips_and_edits_in_order)
{
    struct grove_store *store = support_store(support_dir, "a", support_docs_schema);
    int calls = 0;
    struct grove_hook_chain chain = {0};
    struct grove_hook h = {.before_inbound = filter_inbound, .user = &calls};
    cr_assert_eq(grove_hook_chain_add(&chain, &h), GROVE_OK);
    struct grove_server *server = server_with(store, &chain);
    struct grove_change batch[] = {change("keep", "1"), change("skip", "2"), change("edit", "3")};
    cr_assert_eq(push(server, batch, 3), GROVE_OK, "%s", grove_errmsg());
    cr_expect_eq(calls, 3);
    char *doc = support_get(store, "docs", "skip");
    cr_expect_str_eq(doc, "", "a skipped change was applied");
    free(doc);
    doc = support_get(store, "docs", "edit");
    cr_expect_str_eq(doc, "{\"title\":\"edited\"}");
    free(doc);
    cr_expect_str_eq(batch[2].value.ptr, "3", "the hook edited the caller's request");
    grove_server_free(server);
    grove_hook_chain_free(&chain);
    grove_store_close(store);
}

Test(core_hook, error_aborts_the_whole_push)
{
    struct grove_store *store = support_store(support_dir, "a", support_docs_schema);
    struct grove_hook_chain chain = {0};
    struct grove_hook h = {.before_inbound = refuse_bad};
    cr_assert_eq(grove_hook_chain_add(&chain, &h), GROVE_OK);
    struct grove_server *server = server_with(store, &chain);
    struct grove_change batch[] = {change("fine", "1"), change("bad", "2")};
    cr_expect_eq(push(server, batch, 2), GROVE_EFORBIDDEN);
    cr_expect(strstr(grove_errmsg(), "changes[1]") && strstr(grove_errmsg(), "tenant check"), "%s",
              grove_errmsg());
    char *doc = support_get(store, "docs", "fine");
    cr_expect_str_eq(doc, "", "part of an aborted push was applied");
    free(doc);
    grove_server_free(server);
    grove_hook_chain_free(&chain);
    grove_store_close(store);
}

Test(core_hook, after_inbound_errors_never_abort)
{
    struct grove_store *store = support_store(support_dir, "a", support_docs_schema);
    int calls = 0;
    struct grove_hook_chain chain = {0};
    struct grove_hook h = {.after_inbound = after_fails, .user = &calls};
    cr_assert_eq(grove_hook_chain_add(&chain, &h), GROVE_OK);
    struct grove_server *server = server_with(store, &chain);
    struct grove_change batch[] = {change("x", "1")};
    cr_expect_eq(push(server, batch, 1), GROVE_OK, "%s", grove_errmsg());
    cr_expect_eq(calls, 1);
    grove_server_free(server);
    grove_hook_chain_free(&chain);
    grove_store_close(store);
}

Test(core_hook, before_outbound_read_filters_pulls)
{
    struct grove_store *store = support_store(support_dir, "a", support_docs_schema);
    struct grove_hook_chain chain = {0};
    struct grove_hook h = {.before_outbound_read = keep_only_a};
    cr_assert_eq(grove_hook_chain_add(&chain, &h), GROVE_OK);
    struct grove_server *server = server_with(store, &chain);
    struct grove_change batch[] = {change("a1", "1"), change("b1", "2"), change("a2", "3")};
    cr_assert_eq(push(server, batch, 3), GROVE_OK);
    struct grove_pull_request req = {.node_id = "reader"};
    struct grove_pull_response *resp;
    cr_assert_eq(grove_server_pull(server, &req, &resp), GROVE_OK);
    cr_expect_eq(resp->count, 2);
    for (size_t i = 0; i < resp->count; i++)
        cr_expect_eq(resp->changes[i].pk[0], 'a');
    grove_msg_free(resp);
    grove_server_free(server);
    grove_hook_chain_free(&chain);
    grove_store_close(store);
}

/* ---- admission and order ----------------------------------------------- */

/* Each hook appends "<name>:<kind>" to a shared log, so a test reads the order. */
struct order_log {
    char text[1024];
};

struct order_hook {
    const char *name;
    struct order_log *log;
    bool refuse; /* admit_inbound refuses */
};

static void order_note(struct order_hook *h, const char *kind, const char *pk)
{
    size_t n = strlen(h->log->text);
    snprintf(h->log->text + n, sizeof h->log->text - n, "%s%s:%s%s%s", n ? " " : "", h->name, kind,
             pk ? "/" : "", pk ? pk : "");
}

static grove_err order_admit(void *user, const struct grove_hook_context *ctx)
{
    struct order_hook *h = user;
    order_note(h, "admit", NULL);
    cr_expect_eq(ctx->count, 2);
    if (h->refuse)
        return grove_error_set_retry(
            grove_error_set(GROVE_ERATELIMIT, "%s refuses %zu changes", h->name, ctx->count), 3);
    return GROVE_OK;
}

static grove_err order_before(void *user, const struct grove_hook_context *ctx,
                              struct grove_change *c, bool *skip)
{
    (void)ctx;
    (void)skip;
    order_note(user, "before", c->pk);
    return GROVE_OK;
}

static grove_err order_after(void *user, const struct grove_hook_context *ctx,
                             const struct grove_change *c)
{
    (void)ctx;
    order_note(user, "after", c->pk);
    return GROVE_OK;
}

static struct grove_hook order_make(struct order_hook *h)
{
    return (struct grove_hook){.admit_inbound = order_admit,
                               .before_inbound = order_before,
                               .after_inbound = order_after,
                               .user = h};
}

Test(core_hook, admission_first_then_each_change_through_the_chain_in_order)
{
    struct grove_store *store = support_store(support_dir, "a", support_docs_schema);
    struct order_log log = {0};
    struct order_hook one = {"one", &log, false}, two = {"two", &log, false};
    struct grove_hook_chain chain = {0};
    struct grove_hook h1 = order_make(&one), h2 = order_make(&two);
    cr_assert_eq(grove_hook_chain_add(&chain, &h1), GROVE_OK);
    cr_assert_eq(grove_hook_chain_add(&chain, &h2), GROVE_OK);
    struct grove_server *server = server_with(store, &chain);
    struct grove_change batch[] = {change("p", "1"), change("q", "2")};
    cr_assert_eq(push(server, batch, 2), GROVE_OK, "%s", grove_errmsg());
    cr_expect_str_eq(log.text, "one:admit two:admit one:before/p two:before/p one:before/q "
                               "two:before/q one:after/p one:after/q two:after/p two:after/q");
    grove_server_free(server);
    grove_hook_chain_free(&chain);
    grove_store_close(store);
}

Test(core_hook, admission_refused_changes_nothing_and_keeps_the_retry)
{
    struct grove_store *store = support_store(support_dir, "a", support_docs_schema);
    struct order_log log = {0};
    struct order_hook one = {"one", &log, true}, two = {"two", &log, false};
    struct grove_hook_chain chain = {0};
    struct grove_hook h1 = order_make(&one), h2 = order_make(&two);
    cr_assert_eq(grove_hook_chain_add(&chain, &h1), GROVE_OK);
    cr_assert_eq(grove_hook_chain_add(&chain, &h2), GROVE_OK);
    struct grove_server *server = server_with(store, &chain);
    struct grove_change batch[] = {change("p", "1"), change("q", "2")};
    cr_expect_eq(push(server, batch, 2), GROVE_ERATELIMIT);
    cr_expect_str_eq(grove_errmsg(), "admit_inbound hook: one refuses 2 changes");
    cr_expect_eq(grove_errretry(), 3);
    cr_expect_str_eq(log.text, "one:admit", "a hook ran after the refusal");
    char *doc = support_get(store, "docs", "p");
    cr_expect_str_eq(doc, "", "a refused push was applied");
    free(doc);
    grove_server_free(server);
    grove_hook_chain_free(&chain);
    grove_store_close(store);
}

/* ---- the context on each path ------------------------------------------ */

/* The context each kind of hook saw last (strings copied). */
struct seen {
    enum grove_hook_path path[6];
    char peer_addr[6][64], node[6][64], peer_url[6][128];
    size_t count[6];
};

enum { SEEN_ADMIT, SEEN_BEFORE, SEEN_AFTER, SEEN_OUT, SEEN_READ };

static void seen_note(struct seen *s, int kind, const struct grove_hook_context *ctx)
{
    s->path[kind] = ctx->path;
    snprintf(s->peer_addr[kind], sizeof s->peer_addr[kind], "%s",
             ctx->peer_addr ? ctx->peer_addr : "-");
    snprintf(s->node[kind], sizeof s->node[kind], "%s", ctx->node ? ctx->node : "-");
    snprintf(s->peer_url[kind], sizeof s->peer_url[kind], "%s",
             ctx->peer_url ? ctx->peer_url : "-");
    s->count[kind] = ctx->count;
}

static grove_err seen_admit(void *user, const struct grove_hook_context *ctx)
{
    seen_note(user, SEEN_ADMIT, ctx);
    return GROVE_OK;
}

static grove_err seen_before(void *user, const struct grove_hook_context *ctx,
                             struct grove_change *c, bool *skip)
{
    (void)c;
    (void)skip;
    seen_note(user, SEEN_BEFORE, ctx);
    return GROVE_OK;
}

static grove_err seen_after(void *user, const struct grove_hook_context *ctx,
                            const struct grove_change *c)
{
    (void)c;
    seen_note(user, SEEN_AFTER, ctx);
    return GROVE_OK;
}

static grove_err seen_out(void *user, const struct grove_hook_context *ctx, struct grove_change *c,
                          bool *skip)
{
    (void)c;
    (void)skip;
    seen_note(user, SEEN_OUT, ctx);
    return GROVE_OK;
}

static grove_err seen_read(void *user, const struct grove_hook_context *ctx,
                           struct grove_change *changes, size_t *count)
{
    (void)changes;
    (void)count;
    seen_note(user, SEEN_READ, ctx);
    return GROVE_OK;
}

static struct grove_hook_chain seen_chain(struct seen *s)
{
    struct grove_hook_chain chain = {0};
    struct grove_hook h = {.admit_inbound = seen_admit,
                           .before_inbound = seen_before,
                           .after_inbound = seen_after,
                           .before_outbound = seen_out,
                           .before_outbound_read = seen_read,
                           .user = s};
    cr_assert_eq(grove_hook_chain_add(&chain, &h), GROVE_OK);
    return chain;
}

Test(core_hook, served_requests_tell_the_client_address_and_node)
{
    struct grove_store *store = support_store(support_dir, "a", support_docs_schema);
    struct seen s = {0};
    struct grove_hook_chain chain = seen_chain(&s);
    struct grove_server *server = server_with(store, &chain);
    struct grove_change batch[] = {change("p", "1"), change("q", "2")};
    cr_assert_eq(push_from(server, "192.0.2.7:4242", batch, 2), GROVE_OK, "%s", grove_errmsg());
    for (int k = SEEN_ADMIT; k <= SEEN_AFTER; k++) {
        cr_expect_eq(s.path[k], GROVE_HOOK_PUSH_SERVED, "kind %d", k);
        cr_expect_str_eq(s.peer_addr[k], "192.0.2.7:4242", "kind %d", k);
        cr_expect_str_eq(s.node[k], "peer", "kind %d", k);
        cr_expect_str_eq(s.peer_url[k], "-", "kind %d", k);
        cr_expect_eq(s.count[k], 2, "kind %d", k);
    }
    struct grove_pull_request req = {.node_id = "reader", .peer_addr = "[2001:db8::1]:80"};
    struct grove_pull_response *resp;
    cr_assert_eq(grove_server_pull(server, &req, &resp), GROVE_OK);
    grove_msg_free(resp);
    cr_expect_eq(s.path[SEEN_READ], GROVE_HOOK_PULL_SERVED);
    cr_expect_str_eq(s.peer_addr[SEEN_READ], "[2001:db8::1]:80");
    cr_expect_str_eq(s.node[SEEN_READ], "reader");
    cr_expect_eq(s.count[SEEN_READ], 2);
    struct grove_server_stream *stream;
    cr_assert_eq(grove_server_stream_open(server, &req, &stream), GROVE_OK);
    cr_assert_eq(grove_server_stream_next(stream, 1000, &resp), GROVE_OK);
    grove_msg_free(resp);
    grove_server_stream_close(stream);
    cr_expect_eq(s.path[SEEN_READ], GROVE_HOOK_STREAM_SERVED);
    cr_expect_str_eq(s.node[SEEN_READ], "reader");
    grove_server_free(server);
    grove_hook_chain_free(&chain);
    grove_store_close(store);
}

Test(core_hook, syncer_requests_tell_the_peer_url_and_their_path)
{
    struct support_node b;
    support_serve(&b, "b", "inproc://hook-context-b");
    cr_assert_eq(grove_store_set(b.node.store, "docs", "from-b", "title", "1", 1), GROVE_OK);
    struct grove_store *a = support_store(support_dir, "a", support_docs_schema);
    struct seen s = {0};
    struct grove_hook_chain chain = seen_chain(&s);
    struct grove_syncer_options o = {.hooks = &chain};
    struct grove_syncer *syncer;
    cr_assert_eq(grove_syncer_new(&syncer, a, &o), GROVE_OK);
    cr_assert_eq(grove_syncer_add_peer(syncer, "inproc://hook-context-b", NULL), GROVE_OK);
    cr_assert_eq(grove_store_set(a, "docs", "from-a", "title", "2", 1), GROVE_OK);
    struct grove_sync_report r;
    cr_assert_eq(grove_syncer_sync_peer(syncer, 0, &r), GROVE_OK);
    cr_assert_eq(r.err, GROVE_OK, "%s", r.error);
    for (int k = SEEN_ADMIT; k <= SEEN_AFTER; k++) {
        cr_expect_eq(s.path[k], GROVE_HOOK_PULL_MADE, "kind %d", k);
        cr_expect_str_eq(s.peer_url[k], "inproc://hook-context-b", "kind %d", k);
        cr_expect_str_eq(s.peer_addr[k], "-", "kind %d", k);
        cr_expect_eq(s.count[k], 1, "kind %d", k);
    }
    cr_expect_eq(s.path[SEEN_OUT], GROVE_HOOK_PUSH_MADE);
    cr_expect_str_eq(s.peer_url[SEEN_OUT], "inproc://hook-context-b");
    struct grove_change streamed[] = {change("streamed", "3")};
    struct grove_pull_response batch = {.changes = streamed, .count = 1};
    cr_assert_eq(grove_syncer_apply_stream_batch(syncer, 0, &batch), GROVE_OK, "%s",
                 grove_errmsg());
    cr_expect_eq(s.path[SEEN_BEFORE], GROVE_HOOK_STREAM_APPLIED);
    cr_expect_eq(s.path[SEEN_AFTER], GROVE_HOOK_STREAM_APPLIED);
    cr_expect_str_eq(s.peer_url[SEEN_AFTER], "inproc://hook-context-b");
    grove_syncer_free(syncer);
    grove_hook_chain_free(&chain);
    grove_store_close(a);
    support_node_stop(&b);
}
