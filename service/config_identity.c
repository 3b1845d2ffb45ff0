/* `identity = NAME key=value ...` lines (docs/operations.md, "Identities"):
 * each parsed when it is read, its secrets read from their files or
 * variables then, so a bad line or an unreadable secret fails the load (a
 * reload keeps the old settings) with its location, and never with a
 * secret in the message. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "grove/sys/error.h"
#include "grove/sys/transport.h"

static int groved_identity_fail(const char *where, const char *name, const char *message)
{
    if (name && *name)
        grove_error_set(GROVE_EINVAL, "%s: identity %s: %s", where, name, message);
    else
        grove_error_set(GROVE_EINVAL, "%s: %s", where, message);
    return GROVED_CONFIG_INVALID;
}

/* "a,b,c" or "*" as a scope; the list's strings point into `text`. */
static int groved_identity_scope(struct groved_config *cfg, char *text, struct grove_scope *out)
{
    memset(out, 0, sizeof *out);
    if (strcmp(text, "*") == 0) {
        out->all = true;
        return 0;
    }
    size_t n = 1;
    for (const char *p = text; *p; p++)
        n += *p == ',';
    const char **tables = calloc(n, sizeof *tables);
    if (!tables || !groved_config_own(cfg, (char *)tables))
        return -1;
    for (char *item = text, *next; item; item = next) {
        next = strchr(item, ',');
        if (next)
            *next++ = '\0';
        if (!*item)
            return 1;
        tables[out->table_count++] = item;
    }
    out->tables = tables;
    return 0;
}

/* The secret a `secret=` value names: @FILE (its first line) or env:VAR. */
static int groved_identity_secret(struct groved_config *cfg, const char *where, const char *name,
                                  const char *spec, const char **out)
{
    char *text = NULL;
    if (spec[0] == '@') {
        size_t len;
        if (grove_file_read(spec + 1, "secret file", &text, &len))
            return groved_identity_fail(where, name, grove_errmsg());
    } else if (strncmp(spec, "env:", 4) == 0) {
        const char *v = getenv(spec + 4);
        if (!v || !*v)
            return groved_identity_fail(where, name, "the secret's variable is not set");
        text = strdup(v);
    } else {
        return groved_identity_fail(where, name,
                                    "secret takes @FILE or env:VAR (never the secret itself)");
    }
    if (!text || !groved_config_own(cfg, text))
        return groved_identity_fail(where, name, "out of memory");
    text[strcspn(text, "\r\n")] = '\0';
    if (!*text)
        return groved_identity_fail(where, name, "the secret is empty");
    *out = text;
    return 0;
}

int groved_identity_parse(struct groved_config *cfg, const char *where, const char *value,
                          struct grove_identity *out)
{
    memset(out, 0, sizeof *out);
    char *text = groved_config_own(cfg, strdup(value));
    if (!text)
        return groved_identity_fail(where, "", "out of memory");
    char *save = NULL;
    char *name = strtok_r(text, " \t", &save);
    if (!name || strchr(name, '='))
        return groved_identity_fail(where, "", "expected a name first");
    out->name = name;
    int secrets = 0, rc = 0;
    bool role = false;
    for (char *kv; rc == 0 && (kv = strtok_r(NULL, " \t", &save));) {
        char *eq = strchr(kv, '=');
        if (!eq && strcmp(kv, "admin") == 0) {
            out->admin = true;
            continue;
        }
        if (!eq || !eq[1]) {
            char message[128];
            snprintf(message, sizeof message, "expected key=value, got \"%.60s\"", kv);
            return groved_identity_fail(where, name, message);
        }
        *eq = '\0';
        char *v = eq + 1;
        if (strcmp(kv, "role") == 0) {
            role = true;
            if (strcmp(v, "peer") == 0)
                out->role = GROVE_ROLE_PEER;
            else if (strcmp(v, "client") == 0)
                out->role = GROVE_ROLE_CLIENT;
            else
                return groved_identity_fail(where, name, "role is peer or client");
        } else if (strcmp(kv, "node") == 0) {
            out->node = v;
        } else if (strcmp(kv, "read") == 0 || strcmp(kv, "write") == 0) {
            rc = groved_identity_scope(cfg, v, kv[0] == 'r' ? &out->read : &out->write);
            if (rc)
                return groved_identity_fail(
                    where, name, rc < 0 ? "out of memory" : "expected * or comma-separated tables");
        } else if (strcmp(kv, "prefix") == 0) {
            out->prefix = v;
        } else if (strcmp(kv, "cert-subject") == 0) {
            out->cert_subject = v;
        } else if (strcmp(kv, "secret") == 0) {
            if (secrets == GROVE_IDENTITY_SECRETS)
                return groved_identity_fail(where, name, "at most two secrets (for rotation)");
            rc = groved_identity_secret(cfg, where, name, v, &out->secrets[secrets++]);
        } else {
            char message[128];
            snprintf(message, sizeof message, "unknown key \"%.40s\"", kv);
            return groved_identity_fail(where, name, message);
        }
    }
    if (rc)
        return rc;
    if (!role)
        return groved_identity_fail(where, name, "role=peer or role=client is required");
    /* The rest (a secret or a subject, a client's node) as the core checks it. */
    struct grove_access *check = NULL;
    if (grove_access_new(&check, out, 1))
        return groved_identity_fail(where, name, strchr(grove_errmsg(), ':') + 2);
    grove_access_unref(check);
    return 0;
}

grove_err groved_config_access(const struct groved_config *cfg, struct grove_access **out)
{
    *out = NULL;
    size_t n = cfg->identity_specs.count;
    if (n == 0)
        return grove_access_from_tokens(out, cfg->token, cfg->admin_token);
    struct grove_identity ids[GROVED_MAX_URLS + 2];
    memcpy(ids, cfg->identities, n * sizeof *ids);
    /* --token and --admin-token go on working beside the identities. */
    if (cfg->token)
        ids[n++] = (struct grove_identity){.name = "token",
                                           .read.all = true,
                                           .write.all = true,
                                           .admin = !cfg->admin_token,
                                           .secrets = {cfg->token}};
    if (cfg->admin_token)
        ids[n++] =
            (struct grove_identity){.name = "admin", .admin = true, .secrets = {cfg->admin_token}};
    return grove_access_new(out, ids, n);
}
