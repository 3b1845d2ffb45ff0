/* The peer setting's options (service/config_peer.c): "URL tables=a,b
 * prefix=p" from the file, a flag or GROVE_PEER, every mistake named with
 * its source. */
#include "service/config.h"
#include "support.h"

#define TABLES "--table", "docs:title=lww", "--table", "notes"

static const char *peer_dir;
static struct groved_config peer_cfg;

static void peer_setup(void)
{
    peer_dir = support_tmpdir_new("config-peer");
    unsetenv("GROVE_PEER");
    unsetenv("GROVE_CONFIG");
}

static void peer_teardown(void)
{
    unsetenv("GROVE_PEER");
    groved_config_free(&peer_cfg);
    support_tmpdir_remove(peer_dir);
}

TestSuite(service_config_peer, .init = peer_setup, .fini = peer_teardown);

static enum groved_config_status peer_load(const char *const *args)
{
    char *argv[32] = {"groved", "--node-id", "n", "--db", "n.db", TABLES};
    int argc = 9;
    for (size_t i = 0; args[i]; i++)
        argv[argc++] = (char *)args[i];
    argv[argc] = NULL;
    groved_config_free(&peer_cfg);
    return groved_config_load(&peer_cfg, argc, argv);
}

/* A config file holding `line`; its path. */
static const char *peer_file(const char *line)
{
    static char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/peer.conf", peer_dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, "# an edge\n%s\n", line);
    fclose(f);
    return path;
}

Test(service_config_peer, a_peer_line_takes_tables_and_a_prefix)
{
    const char *path = peer_file("peer = inproc://hub  tables=docs,notes prefix=acme/");
    cr_assert_eq(peer_load((const char *[]){"--config", path, NULL}), GROVED_CONFIG_OK, "%s",
                 grove_errmsg());
    cr_assert_eq(peer_cfg.peers.count, 1);
    cr_expect_str_eq(peer_cfg.peers.items[0], "inproc://hub");
    const struct groved_peer_scope *scope = &peer_cfg.peer_scopes[0];
    cr_assert_eq(scope->table_count, 2);
    cr_expect_str_eq(scope->tables[0], "docs");
    cr_expect_str_eq(scope->tables[1], "notes");
    cr_expect_str_eq(scope->prefix, "acme/");
    struct grove_sync_scope sync = groved_peer_sync_scope(scope);
    cr_expect_eq(sync.table_count, 2);
    cr_expect_str_eq(sync.pk_prefix, "acme/");
}

Test(service_config_peer, a_flag_or_grove_peer_takes_them_too)
{
    cr_assert_eq(peer_load((const char *[]){"--peer", "inproc://a prefix=t1/", "--peer",
                                            "inproc://b", NULL}),
                 GROVED_CONFIG_OK, "%s", grove_errmsg());
    cr_assert_eq(peer_cfg.peers.count, 2);
    cr_expect_str_eq(peer_cfg.peer_scopes[0].prefix, "t1/");
    cr_expect_eq(peer_cfg.peer_scopes[0].table_count, 0);
    cr_expect_null(peer_cfg.peer_scopes[1].prefix, "a plain peer syncs everything");
    /* ';' separates peers when one's tables= holds a comma. */
    setenv("GROVE_PEER", "inproc://a tables=docs,notes; inproc://b prefix=x", 1);
    cr_assert_eq(peer_load((const char *[]){"--listen", "inproc://n", NULL}), GROVED_CONFIG_OK,
                 "%s", grove_errmsg());
    cr_assert_eq(peer_cfg.peers.count, 2);
    cr_expect_str_eq(peer_cfg.peers.items[1], "inproc://b");
    cr_expect_eq(peer_cfg.peer_scopes[0].table_count, 2);
    cr_expect_str_eq(peer_cfg.peer_scopes[1].prefix, "x");
}

Test(service_config_peer, mistakes_are_named_with_their_line)
{
    static const struct {
        const char *line, *want;
    } cases[] = {
        {"peer = inproc://hub table=docs", "unknown peer option \"table\" (keys: tables, prefix)"},
        {"peer = inproc://hub docs", "expected key=value after the URL, got \"docs\" (keys: "
                                     "tables, prefix)"},
        {"peer = inproc://hub tables=", "tables=: missing value"},
        {"peer = inproc://hub tables=docs,,notes", "tables=: an empty table name"},
        {"peer = inproc://hub prefix=a prefix=b", "prefix= given twice"},
        {"peer = inproc://hub tables=docs tables=notes", "tables= given twice"},
        {"peer = inproc://hub tables=docs,nope", "tables=: \"nope\" is not a declared table"},
        {"peer = ftp://hub tables=docs", "no transport for scheme \"ftp\" (built in: inproc)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *path = peer_file(cases[i].line);
        cr_expect_eq(peer_load((const char *[]){"--config", path, NULL}), GROVED_CONFIG_INVALID,
                     "%s", cases[i].line);
        char want[PATH_MAX + 200];
        snprintf(want, sizeof want, "%s:2: peer: %s", path, cases[i].want);
        cr_expect_str_eq(grove_errmsg(), want);
    }
    cr_expect_eq(peer_load((const char *[]){"--peer", "inproc://a tables=nope", NULL}),
                 GROVED_CONFIG_INVALID);
    cr_expect_str_eq(grove_errmsg(), "--peer: tables=: \"nope\" is not a declared table");
}
