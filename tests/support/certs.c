/* Test certificates (see certs.h): ECDSA keys, quick to make; valid two days. */
#include "support/certs.h"

#include <criterion/criterion.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "support/tmpdir.h"

static char support_cert_paths[9][PATH_MAX];
static struct support_certs support_cert_files;

/* Writes dir/name with text; returns the path in out. */
static void support_cert_template(const char *dir, const char *name, const char *text, char *out)
{
    snprintf(out, PATH_MAX, "%s/%s", dir, name);
    FILE *f = fopen(out, "w");
    cr_assert_not_null(f, "cannot write %s", out);
    fputs(text, f);
    fclose(f);
}

static void support_certs_make(void)
{
    const char *dir = support_tmpdir_new("certs");
    char ca_cfg[PATH_MAX], server_cfg[PATH_MAX], client_cfg[PATH_MAX], ca_key[PATH_MAX];
    char stranger_cfg[PATH_MAX], rich_cfg[PATH_MAX];
    support_cert_template(dir, "ca.cfg",
                          "cn = \"grove-test-ca\"\nexpiration_days = 2\nca\ncert_signing_key\n",
                          ca_cfg);
    support_cert_template(dir, "server.cfg",
                          "cn = \"localhost\"\ndns_name = \"localhost\"\n"
                          "ip_address = \"127.0.0.1\"\nexpiration_days = 2\n"
                          "signing_key\ntls_www_server\n",
                          server_cfg);
    support_cert_template(dir, "client.cfg",
                          "cn = \"grove-client\"\nexpiration_days = 2\nsigning_key\n"
                          "tls_www_client\n",
                          client_cfg);
    support_cert_template(dir, "stranger.cfg",
                          "cn = \"grove-stranger\"\nexpiration_days = 2\nsigning_key\n"
                          "tls_www_client\n",
                          stranger_cfg);
    /* Two OU attributes make two RDNs: certtool writes no multi-valued one. */
    support_cert_template(dir, "rich.cfg",
                          "cn = \"grove-rich \\\"2\\\" <x>\"\nunit = \"sync\"\nunit = \"edge\"\n"
                          "organization = \"Acme, Inc.\"\ncountry = \"CH\"\n"
                          "dns_name = \"" SUPPORT_RICH_DNS "\"\nemail = \"" SUPPORT_RICH_EMAIL
                          "\"\nuri = \"" SUPPORT_RICH_URI "\"\n"
                          "expiration_days = 2\nsigning_key\ntls_www_client\n",
                          rich_cfg);
    snprintf(ca_key, sizeof ca_key, "%s/ca.key", dir);
    char *ca = support_cert_paths[0], *cert = support_cert_paths[1], *key = support_cert_paths[2],
         *client_cert = support_cert_paths[3], *client_key = support_cert_paths[4],
         *stranger_cert = support_cert_paths[5], *stranger_key = support_cert_paths[6],
         *rich_cert = support_cert_paths[7], *rich_key = support_cert_paths[8];
    snprintf(ca, PATH_MAX, "%s/ca.pem", dir);
    snprintf(cert, PATH_MAX, "%s/server.pem", dir);
    snprintf(key, PATH_MAX, "%s/server.key", dir);
    snprintf(client_cert, PATH_MAX, "%s/client.pem", dir);
    snprintf(client_key, PATH_MAX, "%s/client.key", dir);
    snprintf(stranger_cert, PATH_MAX, "%s/stranger.pem", dir);
    snprintf(stranger_key, PATH_MAX, "%s/stranger.key", dir);
    snprintf(rich_cert, PATH_MAX, "%s/rich.pem", dir);
    snprintf(rich_key, PATH_MAX, "%s/rich.key", dir);

    char cmd[8 * PATH_MAX + 1024];
    snprintf(cmd, sizeof cmd,
             "exec >/dev/null 2>&1; set -e; "
             "certtool --generate-privkey --key-type=ecdsa --outfile '%s'; "
             "certtool --generate-self-signed --load-privkey '%s' --template '%s' --outfile '%s'",
             ca_key, ca_key, ca_cfg, ca);
    cr_assert_eq(system(cmd), 0, "certtool failed: %s", cmd);
    const char *const signed_by_ca[][3] = {{key, server_cfg, cert},
                                           {client_key, client_cfg, client_cert},
                                           {stranger_key, stranger_cfg, stranger_cert},
                                           {rich_key, rich_cfg, rich_cert}};
    for (size_t i = 0; i < sizeof signed_by_ca / sizeof signed_by_ca[0]; i++) {
        snprintf(cmd, sizeof cmd,
                 "exec >/dev/null 2>&1; set -e; "
                 "certtool --generate-privkey --key-type=ecdsa --outfile '%s'; "
                 "certtool --generate-certificate --load-privkey '%s' --template '%s' "
                 "--load-ca-certificate '%s' --load-ca-privkey '%s' --outfile '%s'",
                 signed_by_ca[i][0], signed_by_ca[i][0], signed_by_ca[i][1], ca, ca_key,
                 signed_by_ca[i][2]);
        cr_assert_eq(system(cmd), 0, "certtool failed: %s", cmd);
    }
    support_cert_files = (struct support_certs){.ca = ca,
                                                .cert = cert,
                                                .key = key,
                                                .client_cert = client_cert,
                                                .client_key = client_key,
                                                .stranger_cert = stranger_cert,
                                                .stranger_key = stranger_key,
                                                .rich_cert = rich_cert,
                                                .rich_key = rich_key};
}

const struct support_certs *support_certs(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, support_certs_make);
    return &support_cert_files;
}
