/* groved's hooks in real groved processes (docs/hooks.md): two plugins and
 * the audit log run in their order, server-only hooks only on the server;
 * drop_private skips on pushes served, pulls made and streams applied; a
 * refusing plugin aborts the request on each of those paths; a plugin that
 * cannot be used stops groved at start with exit 2 and its reason. The
 * built-ins (audit log, rate limit) are in hooks_builtin_test.c. */
#include "integration/hooks_proc.h"
#include "support.h"

static const char *test_dir;

static void hooks_setup(void)
{
    test_dir = support_tmpdir_new("hooks");
}

static void hooks_teardown(void)
{
    gd_kill_all(); /* before their directory goes */
    support_tmpdir_remove(test_dir);
}

TestSuite(integration_hooks, .init = hooks_setup, .fini = hooks_teardown, .timeout = 120);

/* test_dir/name, in static storage (one of four at a time). */
static const char *hooks_path(const char *name)
{
    static char paths[4][PATH_MAX];
    static int next;
    char *p = paths[next++ % 4];
    snprintf(p, PATH_MAX, "%s/%s", test_dir, name);
    return p;
}

/* "<plugin>:<arg>" in static storage (one of four at a time). */
static const char *hooks_spec(const char *plugin, const char *arg)
{
    static char specs[4][2 * PATH_MAX];
    static int next;
    char *s = specs[next++ % 4];
    snprintf(s, 2 * PATH_MAX, "%s%s%s", plugin, arg ? ":" : "", arg ? arg : "");
    return s;
}

Test(integration_hooks, chain_runs_two_plugins_and_the_audit_log_in_order)
{
    char f[PATH_MAX], one[PATH_MAX + 8], two[PATH_MAX + 8], three[PATH_MAX + 8];
    snprintf(f, sizeof f, "%s", hooks_path("a-order.log"));
    snprintf(one, sizeof one, "one@%s", f);
    snprintf(two, sizeof two, "two@%s", f);
    snprintf(three, sizeof three, "three@%s", f);
    struct gd a;
    hk_prepare(&a, "a", test_dir);
    gd_arg(&a, "--hook", hooks_spec(HK_RECORD, one));
    gd_arg(&a, "--hook", hooks_spec(HK_RECORD, two));
    gd_arg(&a, "--audit-log", f);
    gd_arg(&a, "--server-hook", hooks_spec(HK_RECORD, three));
    gd_arg(&a, "--rate-limit", "1000");
    hk_start(&a);
    struct hk_reply r;
    cr_assert_eq(hk_push(&a, "app", &r, "o1", "title", "\"x\"", NULL), 200, "%s", r.body);
    /* Admission first (the rate limit has no record), then each change
     * through the chain, then after_inbound hook by hook. */
    const char *want[] = {
        "\"hook\":\"one\",\"kind\":\"admit_inbound\",\"path\":\"push_served\"",
        "\"hook\":\"two\",\"kind\":\"admit_inbound\"",
        "\"hook\":\"three\",\"kind\":\"admit_inbound\"",
        "\"hook\":\"one\",\"kind\":\"before_inbound\",\"path\":\"push_served\",\"pk\":\"o1\"",
        "\"hook\":\"two\",\"kind\":\"before_inbound\"",
        "\"hook\":\"three\",\"kind\":\"before_inbound\"",
        "\"hook\":\"one\",\"kind\":\"after_inbound\"",
        "\"hook\":\"two\",\"kind\":\"after_inbound\"",
        "\"path\":\"push_served\",\"peer\":\"127.0.0.1:", /* the audit log's line */
        "\"hook\":\"three\",\"kind\":\"after_inbound\"",
    };
    hk_expect_lines_in_order(f, want, sizeof want / sizeof want[0]);

    /* B pulls o1 from A: its syncer runs the node-level chain only. */
    char g[PATH_MAX], b_one[PATH_MAX + 8], b_three[PATH_MAX + 8];
    snprintf(g, sizeof g, "%s", hooks_path("b-order.log"));
    snprintf(b_one, sizeof b_one, "one@%s", g);
    snprintf(b_three, sizeof b_three, "three@%s", g);
    struct gd b;
    hk_prepare(&b, "b", test_dir);
    gd_arg(&b, "--hook", hooks_spec(HK_RECORD, b_one));
    gd_arg(&b, "--audit-log", g);
    gd_arg(&b, "--server-hook", hooks_spec(HK_RECORD, b_three));
    gd_arg(&b, "--peer", a.url);
    gd_arg(&b, "--no-stream", NULL);
    hk_start(&b);
    cr_assert(hk_wait_row(&b, "o1", 15), "o1 never pulled by b");
    /* after_inbound runs after the commit that made o1 visible: its lines
     * (the audit log's last) come a moment later. */
    cr_expect(hk_wait_file(g, "\"path\":\"pull_made\",\"peer\":\"http://127.0.0.1:", 15));
    const char *pulled[] = {
        "\"hook\":\"one\",\"kind\":\"admit_inbound\",\"path\":\"pull_made\"",
        "\"hook\":\"one\",\"kind\":\"before_inbound\",\"path\":\"pull_made\",\"pk\":\"o1\"",
        "\"hook\":\"one\",\"kind\":\"after_inbound\",\"path\":\"pull_made\"",
        "\"path\":\"pull_made\",\"peer\":\"http://127.0.0.1:",
    };
    hk_expect_lines_in_order(g, pulled, sizeof pulled / sizeof pulled[0]);
    cr_expect(!hk_file_has(g, "\"hook\":\"three\""), "a server-only hook ran on b's syncer");
    cr_expect_eq(gd_stop(&b), 0);
    cr_expect_eq(gd_stop(&a), 0);
}

Test(integration_hooks, drop_private_skips_on_pushes_served_pulls_made_and_streams)
{
    struct gd a, b;
    hk_prepare(&a, "a", test_dir);
    hk_start(&a);
    struct hk_reply r;
    cr_assert_eq(hk_push(&a, "app", &r, "pulled", "title", "\"t\"", "pulled", "_private_note",
                         "\"secret\"", NULL),
                 200, "%s", r.body);
    const char *audit = hooks_path("b-audit.log");
    hk_prepare(&b, "b", test_dir);
    gd_arg(&b, "--hook", HK_DROP_PRIVATE);
    gd_arg(&b, "--audit-log", audit);
    gd_arg(&b, "--peer", a.url);
    hk_start(&b);

    /* Pull made: b's first round. */
    cr_assert(hk_wait_row(&b, "pulled", 15), "b never pulled the row");
    hk_expect_row(&b, "pulled", "{\"title\":\"t\"}");
    /* The audit line is written after the commit that made the row visible. */
    cr_expect(hk_wait_file_both(audit, "\"path\":\"pull_made\"", "\"pk\":\"pulled\"", 15));

    /* Push served. */
    cr_assert_eq(hk_push(&b, "app", &r, "pushed", "title", "\"t\"", "pushed", "_private_x", "1",
                         "pushed", "_privateer", "2", NULL),
                 200, "%s", r.body);
    hk_expect_row(&b, "pushed", "{\"title\":\"t\"}");

    /* Stream applied: once b's stream from a is live, a change pushed to a
     * comes through it (rounds are an hour apart). */
    hk_wait_stream(&a, &b, audit);
    cr_assert_eq(hk_push(&a, "app", &r, "streamed", "title", "\"s\"", "streamed", "_private_note",
                         "\"secret\"", NULL),
                 200, "%s", r.body);
    cr_assert(hk_wait_row(&b, "streamed", 15), "the stream never brought the row");
    hk_expect_row(&b, "streamed", "{\"title\":\"s\"}");
    cr_expect(hk_wait_file_both(audit, "\"path\":\"stream_applied\"", "\"pk\":\"streamed\"", 15));
    cr_expect(!hk_file_has(audit, "_private"), "a dropped change reached the audit log");

    /* What b writes itself stays on b: not pushed to a, not served. */
    cr_assert_eq(hk_patch(&b, "local", "{\"title\":\"l\",\"_private_note\":\"mine\"}", &r), 200,
                 "%s", r.body);
    cr_assert(hk_wait_row(&a, "local", 15), "b's write never reached a");
    hk_expect_row(&a, "local", "{\"title\":\"l\"}");
    hk_expect_row(&b, "local", "{\"_private_note\":\"mine\",\"title\":\"l\"}");
    cr_assert_eq(hk_pull(&b, &r), 200);
    cr_expect(strstr(r.body, "\"local\"") && !strstr(r.body, "_private"), "%s", r.body);
    cr_expect_eq(gd_stop(&b), 0);
    cr_expect_eq(gd_stop(&a), 0);
}

Test(integration_hooks, a_refusal_aborts_the_request_on_every_path)
{
    const char *refuse = hooks_spec(HK_REFUSE, "bad-");
    struct gd a, b;
    hk_prepare(&a, "a", test_dir);
    hk_start(&a);
    struct hk_reply r;
    cr_assert_eq(
        hk_push(&a, "app", &r, "ok-pulled", "title", "1", "bad-pulled", "title", "2", NULL), 200,
        "%s", r.body);

    /* Pull made: b's first page holds the refused change, so none of it lands. */
    hk_prepare(&b, "b", test_dir);
    gd_arg(&b, "--hook", refuse);
    gd_arg(&b, "--peer", a.url);
    gd_arg(&b, "--no-stream", NULL);
    hk_start(&b);
    cr_assert(hk_wait_file(b.log, "error=EFORBIDDEN", 15), "b's pull was not refused");
    cr_expect(hk_file_has(b.log, "refuse: pk \\\"bad-pulled\\\"") ||
                  hk_file_has(b.log, "refuse: pk \"bad-pulled\""),
              "b's log does not name the refusal");
    cr_expect_eq(hk_get(&b, "ok-pulled", &r), 404, "part of a refused page was applied");

    /* Push served: 403 with the located message, nothing applied. */
    cr_expect_eq(
        hk_push(&b, "app", &r, "ok-pushed", "title", "1", "bad-pushed", "title", "2", NULL), 403);
    cr_expect(strstr(r.body, "changes[1]: before_inbound hook: refuse: pk \\\"bad-pushed\\\""),
              "%s", r.body);
    cr_expect_eq(hk_get(&b, "ok-pushed", &r), 404, "part of a refused push was applied");

    /* Stream applied: c streams from a fresh node; a refused batch lands not at all. */
    struct gd a2, c;
    hk_prepare(&a2, "a2", test_dir);
    hk_start(&a2);
    const char *audit = hooks_path("c-audit.log");
    hk_prepare(&c, "c", test_dir);
    gd_arg(&c, "--hook", refuse);
    gd_arg(&c, "--audit-log", audit);
    gd_arg(&c, "--peer", a2.url);
    hk_start(&c);
    hk_wait_stream(&a2, &c, audit);
    cr_assert_eq(
        hk_push(&a2, "app", &r, "ok-streamed", "title", "1", "bad-streamed", "title", "2", NULL),
        200, "%s", r.body);
    cr_assert(hk_wait_file(c.log, "refuse: pk", 15), "c's stream did not refuse the batch");
    cr_expect(hk_file_has(c.log, "stream from "), "the refusal is not the stream's");
    cr_expect_eq(hk_get(&c, "ok-streamed", &r), 404, "part of a refused batch was applied");
    cr_expect(!hk_file_has(audit, "ok-streamed"));
    for (struct gd *g = &a; g; g = g == &a ? &b : g == &b ? &a2 : g == &a2 ? &c : NULL)
        cr_expect_eq(gd_stop(g), 0, "%s", g->node);
}

/* groved with one more setting must exit 2 at start, its log holding want. */
static void hooks_fails_to_start(const char *flag, const char *value, const char *const *env,
                                 const char *want)
{
    const char *log = hooks_path("refused.log");
    unlink(log);
    const char *args[] = {"--node-id", "x",    "--db",     hooks_path("x.db"),
                          "--table",   "docs", "--listen", "http://127.0.0.1:1/sync",
                          flag,        value,  NULL};
    pid_t pid = gd_exec(log, args, env);
    cr_assert_gt(pid, 0);
    cr_expect_eq(gd_wait_exit(pid, 20), 2, "%s %s", flag ? flag : "", value ? value : "");
    size_t len;
    char *text = support_read_file(log, &len);
    cr_expect(strstr(text, want), "want \"%s\" in:\n%s", want, text);
    cr_expect(!strstr(text, " msg=ready "), "%s", text);
    free(text);
}

Test(integration_hooks, unusable_plugins_fail_start_with_exit_2)
{
    hooks_fails_to_start("--hook", "/nonexistent/plugin.so", NULL,
                         "groved: --hook: cannot load hook plugin /nonexistent/plugin.so: "
                         "/nonexistent/plugin.so: cannot open shared object file: No such file "
                         "or directory");
    hooks_fails_to_start("--server-hook", HK_NO_INIT, NULL,
                         "groved: --server-hook: " HK_NO_INIT " exports no grove_hook_plugin_init");
    hooks_fails_to_start("--hook", HK_OTHER_ABI, NULL,
                         "groved: --hook: " HK_OTHER_ABI " was built for hook ABI version 42, "
                         "this groved runs version 1");
    hooks_fails_to_start(NULL, NULL, (const char *const[]){"GROVE_HOOK=" HK_REFUSE, NULL},
                         "groved: GROVE_HOOK: " HK_REFUSE ": grove_hook_plugin_init(\"\") failed: "
                         "refuse: ARG must name a pk prefix");
    const char *conf = hooks_path("groved.conf");
    FILE *f = fopen(conf, "w");
    cr_assert(f);
    fprintf(f, "# hooks\naudit-log = %s\nhook = %s\n", hooks_path("audit.log"), HK_OTHER_ABI);
    fclose(f);
    char where[PATH_MAX + 32];
    snprintf(where, sizeof where, "groved: %s:3: hook: " HK_OTHER_ABI " was built for", conf);
    hooks_fails_to_start("--config", conf, NULL, where);
    hooks_fails_to_start("--audit-log", "/nonexistent/dir/audit.log", NULL,
                         "groved: --audit-log: cannot open audit log /nonexistent/dir/audit.log: "
                         "No such file or directory");
}
