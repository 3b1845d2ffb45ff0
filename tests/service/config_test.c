/* groved's settings (service/config.c) without a daemon: --help returns,
 * errors name their source (flag, variable, file:line), flags beat the
 * environment beat the file, a list from a higher source replaces the lower
 * one's, and token values reach neither a message nor the log. The URLs are
 * inproc:// (always registered), so no transport needs to be linked. */
#include <fcntl.h>
#include <stdarg.h>

#include "service/config.h"
#include "support.h"

#define TABLE  "docs:title=lww,views=counter,tags=set"
#define SECRET "hunter2-never-logged"

static const char *config_dir;
static struct groved_config config_cfg;

extern char **environ;

/* Only the test's own GROVE_* settings count (the support library's run
 * directory, GROVE_TEST_*, is not a setting and stays). */
static void config_setup(void)
{
    config_dir = support_tmpdir_new("config");
    for (char **e = environ; *e;) {
        if (strncmp(*e, "GROVE_", 6) == 0 && strncmp(*e, "GROVE_TEST_", 11) != 0) {
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)strcspn(*e, "="), *e);
            unsetenv(name); /* shifts environ down: look at *e again */
        } else {
            e++;
        }
    }
}

static void config_teardown(void)
{
    groved_config_free(&config_cfg);
    support_tmpdir_remove(config_dir);
}

TestSuite(service_config, .init = config_setup, .fini = config_teardown);

/* Writes config_dir/name and returns its path (static storage, one at a time). */
__attribute__((format(printf, 2, 3))) static const char *config_file(const char *name,
                                                                     const char *fmt, ...)
{
    static char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", config_dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fclose(f);
    return path;
}

/* Loads argv (NULL-terminated, without the program name) into config_cfg. */
static enum groved_config_status config_load(const char *const *args)
{
    char *argv[64] = {"groved"};
    int argc = 1;
    for (size_t i = 0; args && args[i]; i++)
        argv[argc++] = (char *)args[i];
    argv[argc] = NULL;
    groved_config_free(&config_cfg);
    return groved_config_load(&config_cfg, argc, argv);
}

/* Loading args must fail with exactly `want` as the message. */
static void config_expect_error(const char *const *args, const char *want)
{
    enum groved_config_status st = config_load(args);
    cr_expect_eq(st, GROVED_CONFIG_INVALID, "loaded, want \"%s\"", want);
    cr_expect_str_eq(grove_errmsg(), want);
}

/* The items of list, joined by ' '. */
static const char *config_items(const struct groved_list *list)
{
    static char out[1024];
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < list->count; i++)
        used +=
            (size_t)snprintf(out + used, sizeof out - used, "%s%s", i ? " " : "", list->items[i]);
    return out;
}

/* The minimal valid settings, as flags. */
#define CONFIG_REQUIRED "--node-id", "n", "--db", "n.db", "--table", TABLE, "--listen", "inproc://n"

Test(service_config, help_returns_instead_of_exiting)
{
    cr_assert_eq(config_load((const char *[]){"--help", NULL}), GROVED_CONFIG_HELP);
    cr_assert_eq(config_load((const char *[]){"-h", NULL}), GROVED_CONFIG_HELP);
    /* Before anything else is read: a bad flag next to --help does not matter. */
    cr_assert_eq(config_load((const char *[]){"--help", "--interval", "soon", NULL}),
                 GROVED_CONFIG_HELP);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    groved_config_usage(out);
    fclose(out);
    cr_expect(strstr(text, "usage: groved") && strstr(text, "--config FILE"), "%s", text);
    cr_expect(strstr(text, "inproc"), "the transports are listed: %s", text);
    free(text);
}

Test(service_config, loads_flags_twice_in_one_process)
{
    cr_assert_eq(config_load((const char *[]){CONFIG_REQUIRED, NULL}), GROVED_CONFIG_OK, "%s",
                 grove_errmsg());
    cr_assert_eq(config_load((const char *[]){CONFIG_REQUIRED, "--interval", "2", NULL}),
                 GROVED_CONFIG_OK, "%s", grove_errmsg());
    cr_expect_eq(config_cfg.interval_ms, 2000);
    cr_expect_str_eq(config_cfg.node_id, "n");
}

Test(service_config, file_errors_name_the_file_and_line)
{
    static const struct {
        const char *text;
        int line;
        const char *want;
    } cases[] = {
        {"# fine\n\njust some words\n", 3, "expected key = value"},
        {"peers = inproc://x\n", 1, "unknown key \"peers\""},
        {"node-id = a\n  interval = soon\n", 2,
         "interval: expected seconds in (0, 86400], got \"soon\""},
        {"\n\n\n\nmax-body = -5\n", 5, "max-body: expected a positive byte count, got \"-5\""},
        {"log-level = loud\n", 1,
         "log-level: expected debug, info, warn, error or off, got "
         "\"loud\""},
        {"listen = htp://127.0.0.1:1/sync\n", 1,
         "listen: no transport for scheme \"htp\" (built in: inproc)"},
        {"no-stream = yes\n", 1, "no-stream: expected true or false, got \"yes\""},
        {"cors-origin = https://app.example.com/page\n", 1,
         "cors-origin: expected * or an origin like https://app.example.com, got "
         "\"https://app.example.com/page\""},
        {"counter-deltas = sums\n", 1,
         "counter-deltas: expected totals or operations, got \"sums\""},
        {"peer =\n", 1, "peer: missing value"},
        {"config = other.conf\n", 1, "a config file cannot name another one (\"config\")"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[32], want[PATH_MAX + 200];
        snprintf(name, sizeof name, "bad%zu.conf", i);
        const char *path = config_file(name, "%s", cases[i].text);
        snprintf(want, sizeof want, "%s:%d: %s", path, cases[i].line, cases[i].want);
        config_expect_error((const char *[]){"--config", path, CONFIG_REQUIRED, NULL}, want);
    }
    /* The first bad line stops the load: later lines are not read. */
    const char *path = config_file("two.conf", "tokn = x\nalso bad\n");
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "%s:1: unknown key \"tokn\"", path);
    config_expect_error((const char *[]){"--config", path, NULL}, want);
}

Test(service_config, flag_and_environment_errors_name_their_source)
{
    config_expect_error((const char *[]){CONFIG_REQUIRED, "--interval", "0", NULL},
                        "--interval: expected seconds in (0, 86400], got \"0\"");
    config_expect_error((const char *[]){"--db", NULL}, "--db needs a value");
    config_expect_error((const char *[]){"--nope", NULL}, "unknown flag --nope");
    config_expect_error((const char *[]){CONFIG_REQUIRED, "stray", NULL},
                        "unexpected argument \"stray\"");
    setenv("GROVE_INTERVAL", "soon", 1);
    config_expect_error((const char *[]){CONFIG_REQUIRED, NULL},
                        "GROVE_INTERVAL: expected seconds in (0, 86400], got \"soon\"");
    unsetenv("GROVE_INTERVAL");
    setenv("GROVE_PEER", "inproc://a,ftp://x", 1);
    config_expect_error((const char *[]){CONFIG_REQUIRED, NULL},
                        "GROVE_PEER: no transport for scheme \"ftp\" (built in: inproc)");
    unsetenv("GROVE_PEER");
    char missing[PATH_MAX + 64], want[2 * PATH_MAX];
    snprintf(missing, sizeof missing, "%s/missing.conf", config_dir);
    setenv("GROVE_CONFIG", missing, 1);
    snprintf(want, sizeof want, "cannot read config file %s: No such file or directory", missing);
    config_expect_error((const char *[]){CONFIG_REQUIRED, NULL}, want);
}

Test(service_config, what_no_single_setting_checks)
{
    config_expect_error(
        (const char *[]){"--db", "n.db", "--table", TABLE, "--listen", "inproc://n", NULL},
        "--node-id is required (or GROVE_NODE_ID, or node-id in the config file)");
    config_expect_error((const char *[]){"--node-id", "n", "--db", "n.db", "--table", TABLE, NULL},
                        "nothing to do: give --listen and/or --peer (or GROVE_LISTEN, GROVE_PEER, "
                        "or listen, peer in the config file)");
    config_expect_error((const char *[]){CONFIG_REQUIRED, "--tls-cert", "c.pem", NULL},
                        "--tls-cert and --tls-key go together");
}

Test(service_config, flags_beat_environment_beat_file)
{
    const char *path = config_file("p.conf", "node-id = file-node\n"
                                             "db = file.db\n"
                                             "table = " TABLE "\n"
                                             "listen = inproc://f\n"
                                             "interval = 5\n"
                                             "log-level = debug\n"
                                             "counter-deltas = operations\n"
                                             "no-stream = true\n");
    setenv("GROVE_CONFIG", path, 1);
    setenv("GROVE_NODE_ID", "env-node", 1);
    setenv("GROVE_INTERVAL", "7", 1);
    setenv("GROVE_NO_STREAM", "false", 1);
    cr_assert_eq(config_load((const char *[]){"--interval", "2", NULL}), GROVED_CONFIG_OK, "%s",
                 grove_errmsg());
    cr_expect_str_eq(config_cfg.file, path);
    cr_expect_str_eq(config_cfg.file_origin, "GROVE_CONFIG");
    cr_expect_str_eq(config_cfg.db, "file.db", "only the file sets db");
    cr_expect_eq(config_cfg.log_level, GROVE_LOG_DEBUG, "only the file sets log-level");
    cr_expect_eq(config_cfg.counter_deltas, GROVE_COUNTER_DELTAS_OPERATIONS);
    cr_expect_str_eq(config_cfg.node_id, "env-node", "the environment beats the file");
    cr_expect(config_cfg.stream, "GROVE_NO_STREAM=false undoes the file's no-stream");
    cr_expect_eq(config_cfg.interval_ms, 2000, "a flag beats the environment and the file");
    cr_expect_str_eq(config_cfg.env_names, "GROVE_NODE_ID GROVE_INTERVAL GROVE_NO_STREAM");

    /* --config beats GROVE_CONFIG; a bare boolean flag is true. */
    const char *other = config_file("q.conf", "node-id = q\ndb = q.db\ntable = notes\n"
                                              "peer = inproc://q\n");
    unsetenv("GROVE_NODE_ID");
    cr_assert_eq(config_load((const char *[]){"--config", other, "--no-stream", NULL}),
                 GROVED_CONFIG_OK, "%s", grove_errmsg());
    cr_expect_str_eq(config_cfg.file_origin, "--config");
    cr_expect_str_eq(config_cfg.node_id, "q");
    cr_expect_not(config_cfg.stream, "--no-stream beats GROVE_NO_STREAM=false");
    cr_expect_eq(config_cfg.interval_ms, 7000);
}

Test(service_config, a_list_from_a_higher_source_replaces_the_lower_one)
{
    const char *path = config_file("l.conf", "node-id = n\n"
                                             "db = n.db\n"
                                             "table = " TABLE "\n"
                                             "table = notes\n"
                                             "listen = inproc://f1\n"
                                             "listen = inproc://f2\n"
                                             "peer = inproc://p1\n");
    cr_assert_eq(config_load((const char *[]){"--config", path, NULL}), GROVED_CONFIG_OK, "%s",
                 grove_errmsg());
    cr_expect_str_eq(config_items(&config_cfg.listen), "inproc://f1 inproc://f2",
                     "repeated keys in one source add up");
    cr_expect_str_eq(config_items(&config_cfg.tables), TABLE " notes");

    /* Spaces around the commas; GROVE_TABLE splits on ';' (specs hold commas). */
    setenv("GROVE_LISTEN", " inproc://e1 , inproc://e2 ", 1);
    setenv("GROVE_TABLE", TABLE ";other", 1);
    cr_assert_eq(config_load((const char *[]){"--config", path, NULL}), GROVED_CONFIG_OK, "%s",
                 grove_errmsg());
    cr_expect_str_eq(config_items(&config_cfg.listen), "inproc://e1 inproc://e2");
    cr_expect_str_eq(config_items(&config_cfg.tables), TABLE " other");
    cr_expect_str_eq(config_items(&config_cfg.peers), "inproc://p1", "no higher source: kept");

    cr_assert_eq(
        config_load((const char *[]){"--config", path, "--listen", "inproc://c1", "--listen",
                                     "inproc://c2", "--peer", "inproc://c3", NULL}),
        GROVED_CONFIG_OK, "%s", grove_errmsg());
    cr_expect_str_eq(config_items(&config_cfg.listen), "inproc://c1 inproc://c2");
    cr_expect_str_eq(config_items(&config_cfg.peers), "inproc://c3");
    cr_expect_str_eq(config_items(&config_cfg.tables), TABLE " other");

    /* A variable holding only separators still replaces (here: with nothing). */
    setenv("GROVE_PEER", " , ", 1);
    cr_assert_eq(config_load((const char *[]){"--config", path, NULL}), GROVED_CONFIG_OK, "%s",
                 grove_errmsg());
    cr_expect_eq(config_cfg.peers.count, 0);
    /* An empty variable counts as unset. */
    setenv("GROVE_PEER", "", 1);
    cr_assert_eq(config_load((const char *[]){"--config", path, NULL}), GROVED_CONFIG_OK, "%s",
                 grove_errmsg());
    cr_expect_str_eq(config_items(&config_cfg.peers), "inproc://p1");
}

/* Everything the start-up log says about the sources (stderr, captured). */
static char *config_logged_sources(void)
{
    char log[PATH_MAX];
    snprintf(log, sizeof log, "%s/log.txt", config_dir);
    fflush(stderr);
    int saved = dup(2);
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
    grove_log_set_level(GROVE_LOG_DEBUG);
    groved_config_log_sources(&config_cfg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    size_t len;
    return support_read_file(log, &len);
}

Test(service_config, token_values_reach_no_message_and_no_log)
{
    const char *path = config_file("s.conf", "node-id = n\ndb = n.db\ntable = " TABLE "\n"
                                             "listen = inproc://n\ntoken = " SECRET "\n");
    setenv("GROVE_PEER_TOKEN", SECRET "-peer", 1);
    cr_assert_eq(config_load((const char *[]){"--config", path, NULL}), GROVED_CONFIG_OK, "%s",
                 grove_errmsg());
    cr_expect_str_eq(config_cfg.token, SECRET);
    cr_expect_str_eq(config_cfg.peer_token, SECRET "-peer");
    char *log = config_logged_sources();
    cr_expect(strstr(log, "read config file ") && strstr(log, "(named by --config)"), "%s", log);
    cr_expect(strstr(log, "environment overrides: GROVE_PEER_TOKEN\"\n"), "%s", log);
    cr_expect_null(strstr(log, SECRET), "a token was logged:\n%s", log);
    free(log);

    /* A refused line is never echoed: it may hold a token. */
    static const char *const bad[] = {"token = " SECRET "\n= " SECRET "\n", "tokn = " SECRET "\n",
                                      "token " SECRET "\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *bad_path = config_file("bad.conf", "%s", bad[i]);
        cr_expect_eq(config_load((const char *[]){"--config", bad_path, NULL}),
                     GROVED_CONFIG_INVALID);
        cr_expect_null(strstr(grove_errmsg(), SECRET), "case %zu: %s", i, grove_errmsg());
    }
}

Test(service_config, store_readers_takes_a_bounded_count)
{
    cr_assert_eq(config_load((const char *[]){CONFIG_REQUIRED, NULL}), GROVED_CONFIG_OK);
    cr_expect_eq(config_cfg.store_readers, 0, "the store's default");
    cr_assert_eq(config_load((const char *[]){CONFIG_REQUIRED, "--store-readers", "8", NULL}),
                 GROVED_CONFIG_OK, "%s", grove_errmsg());
    cr_expect_eq(config_cfg.store_readers, 8);
    setenv("GROVE_STORE_READERS", "0", 1);
    cr_assert_eq(config_load((const char *[]){CONFIG_REQUIRED, NULL}), GROVED_CONFIG_OK, "%s",
                 grove_errmsg());
    cr_expect_eq(config_cfg.store_readers, -1, "0: no pool, reads share the writer's");
    unsetenv("GROVE_STORE_READERS");
    const char *bad[] = {"-1", "65", "four", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char want[128];
        snprintf(want, sizeof want,
                 "--store-readers: expected a number of connections in [0, 64], got \"%s\"",
                 bad[i]);
        config_expect_error((const char *[]){CONFIG_REQUIRED, "--store-readers", bad[i], NULL},
                            want);
    }
}

Test(service_config, store_recent_mb_takes_bounded_mebibytes)
{
    cr_assert_eq(config_load((const char *[]){CONFIG_REQUIRED, NULL}), GROVED_CONFIG_OK);
    cr_expect_eq(config_cfg.store_recent_bytes, 0, "the store's default");
    cr_assert_eq(config_load((const char *[]){CONFIG_REQUIRED, "--store-recent-mb", "32", NULL}),
                 GROVED_CONFIG_OK, "%s", grove_errmsg());
    cr_expect_eq(config_cfg.store_recent_bytes, (int64_t)32 << 20);
    setenv("GROVE_STORE_RECENT_MB", "0", 1);
    cr_assert_eq(config_load((const char *[]){CONFIG_REQUIRED, NULL}), GROVED_CONFIG_OK, "%s",
                 grove_errmsg());
    cr_expect_eq(config_cfg.store_recent_bytes, -1, "0: nothing kept, pages read the file");
    unsetenv("GROVE_STORE_RECENT_MB");
    const char *bad[] = {"-1", "1025", "8M", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char want[128];
        snprintf(want, sizeof want, "--store-recent-mb: expected MiB in [0, 1024], got \"%s\"",
                 bad[i]);
        config_expect_error((const char *[]){CONFIG_REQUIRED, "--store-recent-mb", bad[i], NULL},
                            want);
    }
}
