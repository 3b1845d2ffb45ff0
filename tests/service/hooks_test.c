/* groved's hooks (service/hooks.c, hook_audit.c, hook_rate_limit.c) without
 * a daemon: plugins that cannot be used fail with a message naming the
 * setting, the path and the cause; the chains hold the plugins and the
 * built-ins in their documented order; drop_private drops by prefix; the
 * audit log writes a line per change and reopens after a rename; the rate
 * limit's token bucket refuses and recovers (on a clock of the test's). */
#include "grove/sys/error.h"
#include "service/hooks.h"
#include "support.h"

#define PLUGINS      GROVE_BINARY_DIR "/tests/plugins/"
#define DROP_PRIVATE GROVE_BINARY_DIR "/plugins/drop_private.so"

static const char *hooks_dir;

static void hooks_setup(void)
{
    hooks_dir = support_tmpdir_new("hooks");
}

static void hooks_teardown(void)
{
    support_tmpdir_remove(hooks_dir);
}

TestSuite(service_hooks, .init = hooks_setup, .fini = hooks_teardown);

/* A plugin list of the given specs, each "given" by the flag `where`. */
static struct groved_hook_list hooks_list(const char *where, const char *const *specs)
{
    struct groved_hook_list list = {0};
    for (size_t i = 0; specs[i]; i++) {
        list.specs.items[i] = specs[i];
        list.where[i] = where;
        list.specs.count++;
    }
    return list;
}

/* Opening with one plugin must fail; returns the message. */
static const char *hooks_refused(const char *spec)
{
    struct groved_hook_list list = hooks_list("groved.conf:3: hook", (const char *[]){spec, NULL});
    struct groved_hooks *hooks = NULL;
    cr_assert_eq(groved_hooks_open(&hooks, &(struct groved_hooks_options){.hooks = &list}),
                 GROVE_EINVAL, "%s loaded", spec);
    cr_assert_null(hooks);
    return grove_errmsg();
}

Test(service_hooks, a_path_that_does_not_load_names_the_setting_and_dlerror)
{
    const char *msg = hooks_refused("/nonexistent/grove/nothing.so:arg");
    cr_expect(strstr(msg, "groved.conf:3: hook: cannot load hook plugin /nonexistent/grove/"
                          "nothing.so: ") == msg,
              "%s", msg);
    cr_expect(strstr(msg, "No such file or directory"), "%s", msg);
}

Test(service_hooks, a_library_that_is_no_plugin_is_refused)
{
    const char *msg = hooks_refused("libm.so.6");
    cr_expect(strstr(msg, "libm.so.6 is no groved hook plugin: it exports no "
                          "grove_hook_plugin_abi"),
              "%s", msg);
}

Test(service_hooks, a_missing_init_is_refused)
{
    const char *msg = hooks_refused(PLUGINS "no_init.so");
    cr_expect(strstr(msg, "no_init.so exports no grove_hook_plugin_init: "), "%s", msg);
}

Test(service_hooks, another_abi_version_is_refused_before_anything_runs)
{
    const char *msg = hooks_refused(PLUGINS "other_abi.so");
    cr_expect(strstr(msg, "other_abi.so was built for hook ABI version 42, this groved runs "
                          "version 1"),
              "%s", msg);
}

Test(service_hooks, a_failed_init_gives_the_plugins_reason)
{
    const char *msg = hooks_refused(PLUGINS "refuse.so");
    cr_expect(strstr(msg, "refuse.so: grove_hook_plugin_init(\"\") failed: refuse: ARG must "
                          "name a pk prefix"),
              "%s", msg);
}

static struct grove_change hooks_change(const char *pk, const char *field)
{
    return (struct grove_change){.table = "docs",
                                 .pk = pk,
                                 .field = field,
                                 .crdt = GROVE_CRDT_LWW,
                                 .node_id = "origin",
                                 .value = {"1", 1},
                                 .hlc = {.ts = 1700000000000000000, .c = 2, .node = "origin"}};
}

Test(service_hooks, chains_hold_plugins_then_built_ins_in_order)
{
    char file[PATH_MAX], one[2 * PATH_MAX], two[2 * PATH_MAX], three[2 * PATH_MAX];
    snprintf(file, sizeof file, "%s/order.log", hooks_dir);
    snprintf(one, sizeof one, PLUGINS "record.so:one@%s", file);
    snprintf(two, sizeof two, PLUGINS "record.so:two@%s", file);
    snprintf(three, sizeof three, PLUGINS "record.so:three@%s", file);
    struct groved_hook_list node = hooks_list("--hook", (const char *[]){one, two, NULL});
    struct groved_hook_list server = hooks_list("--server-hook", (const char *[]){three, NULL});
    struct groved_hooks *hooks;
    cr_assert_eq(groved_hooks_open(&hooks, &(struct groved_hooks_options){.hooks = &node,
                                                                          .server_hooks = &server,
                                                                          .audit_log = file,
                                                                          .rate_limit = 100}),
                 GROVE_OK, "%s", grove_errmsg());
    cr_expect_eq(groved_hooks_node(hooks)->count, 3, "one, two, audit");
    cr_expect_eq(groved_hooks_server(hooks)->count, 5, "one, two, audit, rate, three");
    struct grove_change c = hooks_change("p", "title");
    size_t count = 1;
    struct grove_hook_context ctx = {
        .path = GROVE_HOOK_PUSH_SERVED, .peer_addr = "127.0.0.1:9", .node = "n", .count = 1};
    cr_assert_eq(grove_hook_chain_before_inbound(groved_hooks_server(hooks), &ctx, &c, &count),
                 GROVE_OK, "%s", grove_errmsg());
    grove_hook_chain_after_inbound(groved_hooks_server(hooks), &ctx, &c, count);
    groved_hooks_close(hooks);
    size_t len;
    char *text = support_read_file(file, &len);
    const char *want[] = {"\"one\",\"kind\":\"admit",
                          "\"two\",\"kind\":\"admit",
                          "\"three\",\"kind\":\"admit",
                          "\"one\",\"kind\":\"before",
                          "\"two\",\"kind\":\"before",
                          "\"three\",\"kind\":\"before",
                          "\"one\",\"kind\":\"after",
                          "\"two\",\"kind\":\"after",
                          "\"path\":\"push_served\",\"peer\":\"127.0.0.1:9\"",
                          "\"three\",\"kind\":\"after"};
    const char *at = text;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const char *found = strstr(at, want[i]);
        cr_assert(found, "line %zu (%s) missing or out of order in:\n%s", i, want[i], text);
        at = strchr(found, '\n');
    }
    free(text);
}

/* Runs the node chain of drop_private[:arg] over fields; returns the kept ones. */
static size_t hooks_drop(const char *spec, const char **fields, size_t n, const char **kept)
{
    struct groved_hook_list list = hooks_list("--hook", (const char *[]){spec, NULL});
    struct groved_hooks *hooks;
    cr_assert_eq(groved_hooks_open(&hooks, &(struct groved_hooks_options){.hooks = &list}),
                 GROVE_OK, "%s", grove_errmsg());
    struct grove_change changes[8];
    for (size_t i = 0; i < n; i++)
        changes[i] = hooks_change("p", fields[i]);
    size_t count = n;
    cr_assert_eq(grove_hook_chain_before_inbound(groved_hooks_node(hooks), NULL, changes, &count),
                 GROVE_OK);
    size_t read = n;
    struct grove_change page[8];
    memcpy(page, changes, sizeof page);
    for (size_t i = 0; i < n; i++)
        page[i] = hooks_change("p", fields[i]);
    cr_assert_eq(grove_hook_chain_before_outbound_read(groved_hooks_node(hooks), NULL, page, &read),
                 GROVE_OK);
    cr_expect_eq(read, count, "pulls served keep what pushes served keep");
    for (size_t i = 0; i < count; i++)
        kept[i] = changes[i].field;
    groved_hooks_close(hooks);
    return count;
}

Test(service_hooks, drop_private_drops_its_prefix_default_or_given)
{
    const char *fields[] = {"title", "_private_note", "_privateer", "secret_pin", "_tombstone"};
    const char *kept[8];
    size_t n = hooks_drop(DROP_PRIVATE, fields, 5, kept);
    cr_assert_eq(n, 3);
    cr_expect_str_eq(kept[0], "title");
    cr_expect_str_eq(kept[1], "secret_pin");
    cr_expect_str_eq(kept[2], "_tombstone");
    n = hooks_drop(DROP_PRIVATE ":secret_", fields, 5, kept);
    cr_assert_eq(n, 4);
    cr_expect_str_eq(kept[1], "_private_note");
}

Test(service_hooks, audit_log_lines_and_reopen_after_rename)
{
    char path[PATH_MAX], rotated[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/audit.log", hooks_dir);
    snprintf(rotated, sizeof rotated, "%s.1", path);
    struct groved_audit_log *log;
    cr_assert_eq(groved_audit_log_open(&log, path), GROVE_OK, "%s", grove_errmsg());
    struct grove_hook hook = groved_audit_log_hook(log);
    struct grove_hook_context pushed = {
        .path = GROVE_HOOK_PUSH_SERVED, .peer_addr = "[::1]:5000", .node = "app", .count = 1};
    struct grove_change c = hooks_change("row \"1\"", "title");
    cr_assert_eq(hook.after_inbound(hook.user, &pushed, &c), GROVE_OK);
    cr_assert_eq(rename(path, rotated), 0);
    cr_assert_eq(groved_audit_log_reopen(log), GROVE_OK, "%s", grove_errmsg());
    struct grove_hook_context pulled = {
        .path = GROVE_HOOK_PULL_MADE, .peer_url = "http://b:8080/sync", .count = 1};
    c.tombstone = true;
    cr_assert_eq(hook.after_inbound(hook.user, &pulled, &c), GROVE_OK);
    groved_audit_log_close(log);
    size_t len;
    char *old = support_read_file(rotated, &len), *fresh = support_read_file(path, &len);
    cr_expect(strstr(old, "\"path\":\"push_served\",\"peer\":\"[::1]:5000\",\"node\":\"app\","
                          "\"table\":\"docs\",\"pk\":\"row \\\"1\\\"\",\"field\":\"title\","
                          "\"crdt_type\":\"lww\",\"tombstone\":false,\"hlc\":{\"ts\":"
                          "1700000000000000000,\"c\":2,\"node\":\"origin\"},\"origin\":"
                          "\"origin\"}\n"),
              "%s", old);
    cr_expect(strncmp(old, "{\"time\":\"20", 11) == 0, "%s", old);
    cr_expect_eq(strchr(old, '\n')[1], '\0', "one line before the rotation: %s", old);
    cr_expect(strstr(fresh, "\"path\":\"pull_made\",\"peer\":\"http://b:8080/sync\",\"node\":null"),
              "%s", fresh);
    cr_expect(strstr(fresh, "\"tombstone\":true"), "%s", fresh);
    free(old);
    free(fresh);
}

Test(service_hooks, audit_log_that_cannot_open_names_the_setting)
{
    struct groved_hooks *hooks;
    cr_assert_eq(
        groved_hooks_open(&hooks,
                          &(struct groved_hooks_options){.audit_log = "/nonexistent/dir/audit.log",
                                                         .audit_log_where = "GROVE_AUDIT_LOG"}),
        GROVE_EINVAL);
    cr_expect_str_eq(grove_errmsg(), "GROVE_AUDIT_LOG: cannot open audit log "
                                     "/nonexistent/dir/audit.log: No such file or directory");
}

#define S 1000000 /* µs in a second */

Test(service_hooks, rate_limit_refuses_beyond_the_rate_and_recovers)
{
    struct groved_rate_limit *limit;
    cr_assert_eq(groved_rate_limit_new(&limit, 10), GROVE_OK);
    int64_t t = 100 * (int64_t)S;
    cr_expect_eq(groved_rate_limit_admit(limit, "127.0.0.1:1000", 10, t), GROVE_OK);
    cr_expect_eq(groved_rate_limit_admit(limit, "127.0.0.1:1001", 1, t), GROVE_ERATELIMIT,
                 "another port of the same host shares its bucket");
    cr_expect_eq(grove_errretry(), 1);
    cr_expect(strstr(grove_errmsg(), "127.0.0.1 pushes more than 10 changes per second"), "%s",
              grove_errmsg());
    cr_expect_eq(groved_rate_limit_admit(limit, "127.0.0.2:1000", 10, t), GROVE_OK,
                 "another host has a bucket of its own");
    cr_expect_eq(groved_rate_limit_admit(limit, "127.0.0.1:1000", 1, t + S / 10), GROVE_OK,
                 "a tenth of a second buys one change");
    cr_expect_eq(groved_rate_limit_admit(limit, "127.0.0.1:1000", 1, t + S / 10), GROVE_ERATELIMIT);
    /* A push bigger than the bucket passes when it is full, and is paid after. */
    t += 10 * (int64_t)S;
    cr_expect_eq(groved_rate_limit_admit(limit, "[::1]:7", 25, t), GROVE_OK);
    cr_expect_eq(groved_rate_limit_admit(limit, "[::1]:8", 1, t + S), GROVE_ERATELIMIT);
    cr_expect_eq(grove_errretry(), 1, "-15 + 10 tokens: 6 missing, 0.6 s");
    cr_expect_eq(groved_rate_limit_admit(limit, "[::1]:8", 10, t + 2 * S), GROVE_ERATELIMIT);
    cr_expect_eq(grove_errretry(), 1, "5 tokens of 10");
    cr_expect_eq(groved_rate_limit_admit(limit, "[::1]:8", 10, t + 3 * S), GROVE_OK);
    cr_expect_eq(groved_rate_limit_admit(limit, NULL, 0, t), GROVE_OK, "an empty push is free");
    groved_rate_limit_free(limit);
}

Test(service_hooks, rate_limit_counts_only_pushes_served)
{
    struct groved_rate_limit *limit;
    cr_assert_eq(groved_rate_limit_new(&limit, 1), GROVE_OK);
    struct grove_hook hook = groved_rate_limit_hook(limit);
    struct grove_hook_context pulled = {.path = GROVE_HOOK_PULL_MADE, .count = 100};
    cr_expect_eq(hook.admit_inbound(hook.user, &pulled), GROVE_OK);
    struct grove_hook_context pushed = {
        .path = GROVE_HOOK_PUSH_SERVED, .peer_addr = "10.1.2.3:4", .count = 1};
    cr_expect_eq(hook.admit_inbound(hook.user, &pushed), GROVE_OK);
    cr_expect_eq(hook.admit_inbound(hook.user, &pushed), GROVE_ERATELIMIT);
    cr_expect_eq(grove_errretry(), 1);
    groved_rate_limit_free(limit);
}
