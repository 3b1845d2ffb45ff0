/* Multi-process: groved configured by a file (--config, GROVE_CONFIG) and by
 * GROVE_* variables, with flags above the environment above the file. What a
 * node listens on is checked from outside: the URLs it was told to serve
 * answer /pull, the ones a higher source replaced refuse the connection. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "integration/groved_proc.h"
#include "support/tmpdir.h"

#define TABLE       "docs:title=lww,views=counter,tags=set"
#define SYNC_WAIT_S 30
#define SECRET      "hunter2-never-logged"

static const char *test_dir;

static void setup(void)
{
    test_dir = support_tmpdir_new("cfg");
}

static void teardown(void)
{
    gd_kill_all(); /* before their directory goes */
    support_tmpdir_remove(test_dir);
}

TestSuite(integration_config, .init = setup, .fini = teardown, .timeout = 120);

/* The whole file, or "" when it cannot be read (caller frees). */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *text = calloc(1, 1 << 20);
    cr_assert_not_null(text);
    if (f) {
        size_t n = fread(text, 1, (1 << 20) - 1, f);
        text[n] = '\0';
        fclose(f);
    }
    return text;
}

static bool file_has(const char *path, const char *needle)
{
    char *text = slurp(path);
    bool found = strstr(text, needle) != NULL;
    free(text);
    return found;
}

/* Writes test_dir/name and returns its path in out. */
__attribute__((format(printf, 3, 4))) static void write_conf(char *out, const char *name,
                                                             const char *fmt, ...)
{
    snprintf(out, 300, "%s/%s", test_dir, name);
    FILE *f = fopen(out, "w");
    cr_assert_not_null(f, "%s", out);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fclose(f);
}

/* Starts groved as node g (g's log; g->pid) with args and env (see gd_exec)
 * and waits for its "ready" line. */
static void start(struct gd *g, const char *const *args, const char *const *env)
{
    g->pid = gd_exec(g->log, args, env);
    cr_assert_gt(g->pid, 0, "cannot start groved");
    enum gd_wait w = gd_wait_ready(g->pid, g->log, 0, 30);
    if (w == GD_READY)
        return;
    g->pid = 0;
    char *log = slurp(g->log);
    cr_assert_fail("groved %s %s:\n%s", g->node,
                   w == GD_EXITED ? "exited before ready" : "did not get ready", log);
}

static void stop(struct gd *g)
{
    cr_assert_eq(gd_stop(g), 0, "clean exit on SIGTERM");
}

/* Runs groved to its end (bounded); returns the exit code, -1 when it had to
 * be killed. Its output is in log. */
static int run_to_exit(const char *log, const char *const *args, const char *const *env)
{
    pid_t pid = gd_exec(log, args, env);
    cr_assert_gt(pid, 0, "cannot start groved");
    return gd_wait_exit(pid, 10);
}

/* n nodes (for their free port, URL, db and log), all on different ports. */
static void prepare(struct gd *nodes, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bool clash;
        do {
            gd_prepare(&nodes[i], names[i], test_dir);
            clash = false;
            for (size_t j = 0; j < i; j++)
                clash = clash || nodes[j].port == nodes[i].port;
        } while (clash);
    }
}

Test(integration_config, node_from_file_only_syncs)
{
    struct gd n[2];
    prepare(n, (const char *[]){"fa", "fb"}, 2);
    struct gd *a = &n[0], *b = &n[1];
    char a_conf[300], b_conf[300];
    write_conf(a_conf, "a.conf",
               "# node a only serves\n"
               "node-id = fa\n"
               "db = %s\n"
               "listen = %s\n"
               "table = " TABLE "\n",
               a->db, a->url);
    /* Blank lines, comments, indentation and spaces around '=' are fine. */
    write_conf(b_conf, "b.conf",
               "# node b serves and syncs with a\n"
               "\n"
               "   node-id   =   fb   \n"
               "db=%s\n"
               "\t# indented comment\n"
               "listen = %s\n"
               "peer = %s\n"
               "table = " TABLE "\n"
               "interval = 1\n"
               "no-stream = false\n"
               "log-level = info\n",
               b->db, b->url, a->url);
    start(a, (const char *[]){"--config", a_conf, NULL}, NULL);
    start(b, (const char *[]){"--config", b_conf, NULL}, NULL);

    cr_assert(gd_push_lww(a, "app-a", "a", 0, 50, 25));
    cr_assert(gd_push_lww(b, "app-b", "b", 0, 30, 30));
    cr_assert_eq(gd_wait_count(b, 80, SYNC_WAIT_S), 80, "a's writes did not reach b");
    cr_assert_eq(gd_wait_count(a, 80, SYNC_WAIT_S), 80, "b's writes did not reach a");

    char want[400];
    snprintf(want, sizeof want, "read config file %s (named by --config)", b_conf);
    cr_assert(file_has(b->log, want), "no \"%s\" in %s", want, b->log);
    cr_assert(file_has(b->log, "ready node=fb "));
    stop(b);
    stop(a);
}

Test(integration_config, environment_beats_file_and_replaces_its_lists)
{
    struct gd n[4];
    prepare(n, (const char *[]){"env-node", "f1", "f2", "e2"}, 4);
    struct gd *node = &n[0], *f1 = &n[1], *f2 = &n[2], *e2 = &n[3];
    char conf[300];
    write_conf(conf, "env.conf",
               "node-id = file-node\n"
               "db = %s\n"
               "listen = %s\n"
               "listen = %s\n"
               "table = other\n"
               "peer-token = " SECRET "\n",
               node->db, f1->url, f2->url);
    char config_var[400], listen_var[400], db_var[400];
    snprintf(config_var, sizeof config_var, "GROVE_CONFIG=%s", conf);
    /* A comma list with spaces, replacing both of the file's listeners. */
    snprintf(listen_var, sizeof listen_var, "GROVE_LISTEN= %s , %s ", node->url, e2->url);
    snprintf(db_var, sizeof db_var, "GROVE_DB=%s", node->db);
    /* GROVE_TABLE splits on ';': docs keeps its commas. */
    const char *env[] = {config_var,
                         listen_var,
                         db_var,
                         "GROVE_NODE_ID=env-node",
                         "GROVE_TABLE=" TABLE ";other2",
                         "GROVE_TOKEN=",
                         NULL};
    start(node, NULL, env);

    cr_assert_eq(gd_count(node), 0, "GROVE_LISTEN's first URL does not answer");
    cr_assert_eq(gd_count(e2), 0, "GROVE_LISTEN's second URL does not answer");
    cr_assert_eq(gd_count(f1), -1, "the file's listener was kept, not replaced");
    cr_assert_eq(gd_count(f2), -1, "the file's listener was kept, not replaced");
    cr_assert(gd_push_lww(e2, "app", "k", 0, 10, 10));
    cr_assert_eq(gd_count(node), 10);

    char want[400];
    snprintf(want, sizeof want, "read config file %s (named by GROVE_CONFIG)", conf);
    cr_assert(file_has(node->log, want), "no \"%s\" in %s", want, node->log);
    cr_assert(file_has(node->log, "ready node=env-node "));
    /* An empty variable counts as unset, so GROVE_TOKEN is not listed. */
    cr_assert(file_has(node->log,
                       "environment overrides: GROVE_NODE_ID GROVE_DB GROVE_LISTEN GROVE_TABLE\"\n"));
    stop(node);
    cr_assert_not(file_has(node->log, SECRET), "a token reached the log");
}

Test(integration_config, flags_beat_environment)
{
    struct gd n[4];
    prepare(n, (const char *[]){"flag-node", "f1", "e1", "c2"}, 4);
    struct gd *node = &n[0], *f1 = &n[1], *e1 = &n[2], *c2 = &n[3];
    char conf[300];
    write_conf(conf, "flags.conf",
               "node-id = file-node\n"
               "db = %s\n"
               "listen = %s\n"
               "table = " TABLE "\n"
               "interval = 3600\n",
               node->db, f1->url);
    char listen_var[400];
    snprintf(listen_var, sizeof listen_var, "GROVE_LISTEN=%s", e1->url);
    const char *env[] = {listen_var, "GROVE_NODE_ID=env-node", "GROVE_INTERVAL=7", NULL};
    start(node,
          (const char *[]){"--config", conf, "--node-id", "flag-node", "--listen", node->url,
                           "--listen", c2->url, "--interval", "2", NULL},
          env);

    cr_assert_eq(gd_count(node), 0);
    cr_assert_eq(gd_count(c2), 0);
    cr_assert_eq(gd_count(e1), -1, "GROVE_LISTEN was kept despite --listen");
    cr_assert_eq(gd_count(f1), -1, "the file's listener was kept despite --listen");
    cr_assert(file_has(node->log, "ready node=flag-node "));
    stop(node);
}

/* Each file has one bad line followed by a complete, valid configuration:
 * only the bad line can stop groved. */
Test(integration_config, bad_file_exits_2_naming_file_and_line)
{
    static const struct {
        const char *bad;
        int line;
        const char *want;
    } cases[] = {
        {"peers = http://127.0.0.1:1/sync\n", 1, "unknown key \"peers\""},
        {"# fine\n\njust some words\n", 3, "expected key = value"},
        {"token = " SECRET "\n= " SECRET "\n", 2, "expected key = value"},
        {"tokn = " SECRET "\n", 1, "unknown key \"tokn\""},
        {"interval = soon\n", 1, "interval: expected seconds in (0, 86400], got \"soon\""},
        {"\n\n\n\nmax-body = -5\n", 5, "max-body: expected a positive byte count"},
        {"log-level = loud\n", 1, "log-level: expected debug, info, warn, error or off"},
        {"listen = htp://127.0.0.1:1/sync\n", 1, "listen: no transport for scheme \"htp\""},
        {"no-stream = yes\n", 1, "no-stream: expected true or false, got \"yes\""},
        {"table = docs:title=lwww\n", 1, "table: table spec \"docs:title=lwww\""},
        {"peer =\n", 1, "peer: missing value"},
        {"config = other.conf\n", 1, "a config file cannot name another one"},
    };
    struct gd ok;
    gd_prepare(&ok, "ok", test_dir);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char conf[300], name[32], log[320];
        snprintf(name, sizeof name, "bad%zu.conf", i);
        write_conf(conf, name, "%snode-id = ok\ndb = %s\nlisten = %s\ntable = " TABLE "\n",
                   cases[i].bad, ok.db, ok.url);
        snprintf(log, sizeof log, "%s/bad%zu.log", test_dir, i);
        int rc = run_to_exit(log, (const char *[]){"--config", conf, NULL}, NULL);
        char *out = slurp(log);
        char want[600];
        snprintf(want, sizeof want, "groved: %s:%d: %s", conf, cases[i].line, cases[i].want);
        cr_expect_eq(rc, 2, "case %zu: exit %d, output:\n%s", i, rc, out);
        cr_expect(strstr(out, want), "case %zu: no \"%s\" in:\n%s", i, want, out);
        cr_expect_null(strstr(out, SECRET), "case %zu: a token was printed:\n%s", i, out);
        free(out);
    }
}

Test(integration_config, bad_environment_or_missing_file_exits_2)
{
    struct gd ok;
    gd_prepare(&ok, "ok", test_dir);
    char conf[300], log[320];
    write_conf(conf, "good.conf", "node-id = ok\ndb = %s\nlisten = %s\ntable = " TABLE "\n", ok.db,
               ok.url);
    const char *args[] = {"--config", conf, NULL};

    snprintf(log, sizeof log, "%s/env.log", test_dir);
    int rc = run_to_exit(log, args, (const char *[]){"GROVE_INTERVAL=soon", NULL});
    char *out = slurp(log);
    cr_expect_eq(rc, 2, "exit %d:\n%s", rc, out);
    cr_expect(strstr(out, "groved: GROVE_INTERVAL: expected seconds in (0, 86400], got \"soon\""),
              "%s", out);
    free(out);

    snprintf(log, sizeof log, "%s/env-url.log", test_dir);
    rc = run_to_exit(log, args,
                     (const char *[]){"GROVE_PEER=http://127.0.0.1:1/sync,ftp://x", NULL});
    out = slurp(log);
    cr_expect_eq(rc, 2, "exit %d:\n%s", rc, out);
    cr_expect(strstr(out, "groved: GROVE_PEER: no transport for scheme \"ftp\""), "%s", out);
    free(out);

    /* A flag's bad value fails even though the file's value is fine. */
    snprintf(log, sizeof log, "%s/flag.log", test_dir);
    rc = run_to_exit(log, (const char *[]){"--config", conf, "--interval", "0", NULL}, NULL);
    out = slurp(log);
    cr_expect_eq(rc, 2, "exit %d:\n%s", rc, out);
    cr_expect(strstr(out, "groved: --interval: expected seconds"), "%s", out);
    free(out);

    char missing[300], want[600];
    snprintf(missing, sizeof missing, "%s/missing.conf", test_dir);
    snprintf(log, sizeof log, "%s/missing.log", test_dir);
    char config_var[400];
    snprintf(config_var, sizeof config_var, "GROVE_CONFIG=%s", missing);
    rc = run_to_exit(log, NULL, (const char *[]){config_var, NULL});
    out = slurp(log);
    snprintf(want, sizeof want, "groved: cannot read config file %s: No such file or directory",
             missing);
    cr_expect_eq(rc, 2, "exit %d:\n%s", rc, out);
    cr_expect(strstr(out, want), "no \"%s\" in:\n%s", want, out);
    free(out);
}

/* service/groved.conf.example parses; only what a test machine lacks (the
 * store path, the ports, the hub) is overridden by flags. */
Test(integration_config, shipped_example_is_valid)
{
    struct gd n[2];
    prepare(n, (const char *[]){"example", "nobody"}, 2);
    struct gd *node = &n[0];
    start(node,
          (const char *[]){"--config", GROVE_SOURCE_DIR "/service/groved.conf.example", "--db",
                           node->db, "--listen", node->url, "--peer", n[1].url, NULL},
          NULL);
    cr_assert(file_has(node->log, "ready node=edge-1 "));
    stop(node);
}
