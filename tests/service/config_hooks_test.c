/* groved's hook settings (service/config.c): hook and server-hook are
 * separate lists kept in order, each entry with where it was given (flag,
 * variable, file:line) for the messages of loading it; GROVE_HOOK splits on
 * ';' (an ARG may hold commas); a higher source replaces the list; bad
 * values of hook and rate-limit are refused with their source. */
#include "service/config.h"
#include "support.h"

#define TABLE    "docs:title=lww"
#define REQUIRED "--node-id", "n", "--db", "n.db", "--table", TABLE, "--listen", "inproc://n"

static const char *hooks_dir;
static struct groved_config hooks_cfg;

extern char **environ;

static void hooks_setup(void)
{
    hooks_dir = support_tmpdir_new("config-hooks");
    for (char **e = environ; *e;) {
        if (strncmp(*e, "GROVE_", 6) == 0 && strncmp(*e, "GROVE_TEST_", 11) != 0) {
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)strcspn(*e, "="), *e);
            unsetenv(name);
        } else {
            e++;
        }
    }
}

static void hooks_teardown(void)
{
    groved_config_free(&hooks_cfg);
    support_tmpdir_remove(hooks_dir);
}

TestSuite(service_config_hooks, .init = hooks_setup, .fini = hooks_teardown);

static enum groved_config_status hooks_load(const char *const *args)
{
    char *argv[64] = {"groved"};
    int argc = 1;
    for (size_t i = 0; args[i]; i++)
        argv[argc++] = (char *)args[i];
    groved_config_free(&hooks_cfg);
    return groved_config_load(&hooks_cfg, argc, argv);
}

/* "spec@where spec@where ..." of a hook list. */
static const char *hooks_items(const struct groved_hook_list *list)
{
    static char out[2048];
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < list->specs.count; i++)
        used += (size_t)snprintf(out + used, sizeof out - used, "%s%s@%s", i ? " " : "",
                                 list->specs.items[i], list->where[i]);
    return out;
}

static const char *hooks_file(const char *text)
{
    static char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/groved.conf", hooks_dir);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
    return path;
}

Test(service_config_hooks, file_lists_keep_order_and_where)
{
    const char *path = hooks_file("hook = /p/a.so:x\n"
                                  "server-hook = /p/s.so\n"
                                  "hook = /p/b.so:k=v,w\n"
                                  "audit-log = /var/log/groved/audit.log\n"
                                  "rate-limit = 2.5\n");
    cr_assert_eq(hooks_load((const char *[]){REQUIRED, "--config", path, NULL}), GROVED_CONFIG_OK,
                 "%s", grove_errmsg());
    char want[3 * PATH_MAX];
    snprintf(want, sizeof want, "/p/a.so:x@%s:1: hook /p/b.so:k=v,w@%s:3: hook", path, path);
    cr_expect_str_eq(hooks_items(&hooks_cfg.hooks), want);
    snprintf(want, sizeof want, "/p/s.so@%s:2: server-hook", path);
    cr_expect_str_eq(hooks_items(&hooks_cfg.server_hooks), want);
    cr_expect_str_eq(hooks_cfg.audit_log, "/var/log/groved/audit.log");
    snprintf(want, sizeof want, "%s:4: audit-log", path);
    cr_expect_str_eq(hooks_cfg.audit_log_where, want);
    cr_expect(hooks_cfg.rate_limit == 2.5, "%g", hooks_cfg.rate_limit);
}

Test(service_config_hooks, environment_splits_on_semicolons_and_flags_replace_it)
{
    const char *path = hooks_file("hook = /p/file.so\n");
    setenv("GROVE_HOOK", "/p/a.so:one,two; /p/b.so", 1);
    cr_assert_eq(hooks_load((const char *[]){REQUIRED, "--config", path, NULL}), GROVED_CONFIG_OK,
                 "%s", grove_errmsg());
    cr_expect_str_eq(hooks_items(&hooks_cfg.hooks),
                     "/p/a.so:one,two@GROVE_HOOK /p/b.so@GROVE_HOOK");
    cr_assert_eq(hooks_load((const char *[]){REQUIRED, "--config", path, "--hook", "/p/c.so",
                                             "--server-hook", "/p/d.so:1", NULL}),
                 GROVED_CONFIG_OK, "%s", grove_errmsg());
    cr_expect_str_eq(hooks_items(&hooks_cfg.hooks), "/p/c.so@--hook");
    cr_expect_str_eq(hooks_items(&hooks_cfg.server_hooks), "/p/d.so:1@--server-hook");
    unsetenv("GROVE_HOOK");
}

Test(service_config_hooks, bad_values_name_their_source)
{
    cr_expect_eq(hooks_load((const char *[]){REQUIRED, "--hook", ":arg", NULL}),
                 GROVED_CONFIG_INVALID);
    cr_expect_str_eq(grove_errmsg(), "--hook: expected PATH[:ARG], got \":arg\" (no path)");
    const char *bad_rates[] = {"0", "-3", "fast", "1e10", "5/s"};
    for (size_t i = 0; i < sizeof bad_rates / sizeof bad_rates[0]; i++) {
        cr_expect_eq(hooks_load((const char *[]){REQUIRED, "--rate-limit", bad_rates[i], NULL}),
                     GROVED_CONFIG_INVALID, "%s", bad_rates[i]);
        char want[128];
        snprintf(want, sizeof want,
                 "--rate-limit: expected changes per second in (0, 1e9], got \"%s\"", bad_rates[i]);
        cr_expect_str_eq(grove_errmsg(), want);
    }
    setenv("GROVE_RATE_LIMIT", "none", 1);
    cr_expect_eq(hooks_load((const char *[]){REQUIRED, NULL}), GROVED_CONFIG_INVALID);
    cr_expect(strncmp(grove_errmsg(), "GROVE_RATE_LIMIT: ", 18) == 0, "%s", grove_errmsg());
    unsetenv("GROVE_RATE_LIMIT");
}

Test(service_config_hooks, no_hooks_by_default)
{
    cr_assert_eq(hooks_load((const char *[]){REQUIRED, NULL}), GROVED_CONFIG_OK);
    cr_expect_eq(hooks_cfg.hooks.specs.count, 0);
    cr_expect_eq(hooks_cfg.server_hooks.specs.count, 0);
    cr_expect_null(hooks_cfg.audit_log);
    cr_expect(hooks_cfg.rate_limit == 0);
}
