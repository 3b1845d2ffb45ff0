/* `identity` lines (service/config_identity.c): parsed with their secrets
 * read from files or the environment, bad ones refused with their file and
 * line, secrets in no message; the table they make (groved_config_access),
 * --token beside them. */
#include <stdarg.h>

#include "service/config.h"
#include "support.h"

#define SECRET "edge-secret-never-logged"

static const char *idc_dir;
static struct groved_config idc_cfg;

static void idc_setup(void)
{
    idc_dir = support_tmpdir_new("config-identity");
    unsetenv("GROVE_IDENTITY");
    unsetenv("GROVE_TOKEN");
    unsetenv("GROVE_ADMIN_TOKEN");
}

static void idc_teardown(void)
{
    groved_config_free(&idc_cfg);
    unsetenv("IDC_SECRET");
    support_tmpdir_remove(idc_dir);
}

TestSuite(service_config_identity, .init = idc_setup, .fini = idc_teardown);

/* Writes idc_dir/name; returns its path (static storage, one at a time). */
__attribute__((format(printf, 2, 3))) static const char *idc_file(const char *name, const char *fmt,
                                                                  ...)
{
    static char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", idc_dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fclose(f);
    return path;
}

/* Loads a config file holding `body` (with the required settings). */
static enum groved_config_status idc_load(const char *body)
{
    const char *conf =
        idc_file("groved.conf",
                 "node-id = n\ndb = %s/n.db\ntable = docs:title=lww\nlisten = inproc://idc\n%s",
                 idc_dir, body);
    char *argv[] = {"groved", "--config", (char *)conf, NULL};
    groved_config_free(&idc_cfg);
    return groved_config_load(&idc_cfg, 3, argv);
}

static void idc_expect_error(const char *body, const char *want)
{
    cr_expect_eq(idc_load(body), GROVED_CONFIG_INVALID, "loaded: %s", body);
    char full[512];
    snprintf(full, sizeof full, "%s/groved.conf:5: identity: %s", idc_dir, want);
    cr_expect_str_eq(grove_errmsg(), full);
    cr_expect_null(strstr(grove_errmsg(), SECRET), "a secret in the message");
}

Test(service_config_identity, parses_every_key_and_reads_secrets)
{
    const char *secret = idc_file("edge.secret", SECRET "\n");
    char body[PATH_MAX + 512];
    setenv("IDC_SECRET", "rotated-" SECRET, 1);
    snprintf(body, sizeof body,
             "identity = edge-1 role=client node=edge-1 secret=@%s secret=env:IDC_SECRET"
             " read=documents,docs write=docs prefix=acme/\n"
             "identity = ops role=peer read=* write=* admin cert-subject=CN=ops\n",
             secret);
    cr_assert_eq(idc_load(body), GROVED_CONFIG_OK, "%s", grove_errmsg());
    cr_assert_eq(idc_cfg.identity_specs.count, 2);
    const struct grove_identity *id = &idc_cfg.identities[0];
    cr_expect_str_eq(id->name, "edge-1");
    cr_expect_eq(id->role, GROVE_ROLE_CLIENT);
    cr_expect_str_eq(id->node, "edge-1");
    cr_expect_str_eq(id->secrets[0], SECRET, "the file's first line, without its newline");
    cr_expect_str_eq(id->secrets[1], "rotated-" SECRET);
    cr_expect(!id->read.all);
    cr_assert_eq(id->read.table_count, 2);
    cr_expect_str_eq(id->read.tables[1], "docs");
    cr_expect_str_eq(id->prefix, "acme/");
    cr_expect(!id->admin);
    id = &idc_cfg.identities[1];
    cr_expect(id->read.all && id->write.all && id->admin);
    cr_expect_str_eq(id->cert_subject, "CN=ops");
    cr_expect_null(id->node);

    /* The table: the two, and --token beside them as a peer of every scope. */
    snprintf(body, sizeof body, "token = tok\nidentity = e role=client node=e secret=@%s\n",
             secret);
    cr_assert_eq(idc_load(body), GROVED_CONFIG_OK, "%s", grove_errmsg());
    struct grove_access *a = NULL;
    cr_assert_eq(groved_config_access(&idc_cfg, &a), GROVE_OK, "%s", grove_errmsg());
    cr_assert_eq(grove_access_count(a), 2);
    cr_expect_str_eq(grove_access_at(a, 1)->name, "token");
    cr_expect(grove_access_at(a, 1)->read.all && grove_access_at(a, 1)->admin);
    grove_access_unref(a);
}

Test(service_config_identity, bad_lines_are_refused_with_their_location)
{
    const char *secret = idc_file("s", SECRET);
    char line[3 * PATH_MAX + 100];
    idc_expect_error("identity = role=peer\n", "expected a name first");
    idc_expect_error("identity = e role=admin secret=env:IDC_SECRET\n",
                     "identity e: role is peer or client");
    idc_expect_error("identity = e secret=env:IDC_SECRET\n",
                     "identity e: the secret's variable is not set");
    setenv("IDC_SECRET", SECRET, 1);
    idc_expect_error("identity = e secret=env:IDC_SECRET\n",
                     "identity e: role=peer or role=client is required");
    idc_expect_error("identity = e role=peer secret=" SECRET "\n",
                     "identity e: secret takes @FILE or env:VAR (never the secret itself)");
    idc_expect_error("identity = e role=client secret=env:IDC_SECRET\n",
                     "identity e: a client needs a node");
    idc_expect_error("identity = e role=peer\n", "identity e: no secret and no cert-subject");
    idc_expect_error("identity = e role=peer colour=red secret=env:IDC_SECRET\n",
                     "identity e: unknown key \"colour\"");
    idc_expect_error("identity = e role=peer read=a,,b secret=env:IDC_SECRET\n",
                     "identity e: expected * or comma-separated tables");
    snprintf(line, sizeof line, "identity = e role=peer secret=@%s secret=@%s secret=@%s\n", secret,
             secret, secret);
    idc_expect_error(line, "identity e: at most two secrets (for rotation)");
    char missing[PATH_MAX + 32];
    snprintf(missing, sizeof missing, "%s/none", idc_dir);
    snprintf(line, sizeof line, "identity = e role=peer secret=@%s\n", missing);
    char want[PATH_MAX + 128];
    snprintf(want, sizeof want, "identity e: cannot read secret file %s: No such file or directory",
             missing);
    idc_expect_error(line, want);
    /* Two identities of one name: the table refuses them. */
    cr_assert_eq(idc_load("identity = e role=peer secret=env:IDC_SECRET\n"
                          "identity = e role=peer secret=env:IDC_SECRET\n"),
                 GROVED_CONFIG_OK);
    struct grove_access *a = NULL;
    cr_expect_eq(groved_config_access(&idc_cfg, &a), GROVE_EINVAL);
    cr_expect_str_eq(grove_errmsg(), "identity e: given twice");
}
