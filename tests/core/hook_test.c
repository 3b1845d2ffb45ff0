#include "support.h"
#include "grove/sys/error.h"

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
static grove_err filter_inbound(void *user, struct grove_change *c, bool *skip)
{
    (*(int *)user)++;
    if (strcmp(c->pk, "skip") == 0)
        *skip = true;
    if (strcmp(c->pk, "edit") == 0)
        c->value = (struct grove_slice){"\"edited\"", 8};
    return GROVE_OK;
}

static grove_err refuse_bad(void *user, struct grove_change *c, bool *skip)
{
    (void)user;
    (void)skip;
    if (strcmp(c->pk, "bad") == 0)
        return grove_error_set(GROVE_EFORBIDDEN, "tenant check failed for %s", c->pk);
    return GROVE_OK;
}

static grove_err after_fails(void *user, const struct grove_change *c)
{
    (void)c;
    (*(int *)user)++;
    return grove_error_set(GROVE_EINVAL, "audit log unavailable");
}

static grove_err keep_only_a(void *user, struct grove_change *changes, size_t *count)
{
    (void)user;
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

static grove_err push(struct grove_server *server, struct grove_change *changes, size_t n)
{
    struct grove_push_request req = {.changes = changes, .count = n, .node_id = "peer"};
    struct grove_push_response *resp = NULL;
    grove_err err = grove_server_push(server, &req, &resp);
    grove_msg_free(resp);
    return err;
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
