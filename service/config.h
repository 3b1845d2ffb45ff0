/* groved's settings. Four sources, the later overriding the earlier:
 * defaults, a config file (--config or GROVE_CONFIG), the environment
 * (GROVE_<FLAG>), the command line. Every source goes through the same
 * option handler, so a value is checked the same way wherever it comes from. */
#ifndef GROVED_CONFIG_H
#define GROVED_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config_peer.h"
#include "grove/access.h"
#include "grove/log.h"
#include "grove/server.h"

#define GROVED_EXIT_USAGE 2 /* bad flags, bad config, cannot start */
#define GROVED_MAX_URLS   64

enum groved_source {
    GROVED_SOURCE_DEFAULT,
    GROVED_SOURCE_FILE,
    GROVED_SOURCE_ENV,
    GROVED_SOURCE_FLAG,
};

/* A repeatable setting: a source above `source` replaces the whole list. */
struct groved_list {
    const char *items[GROVED_MAX_URLS];
    size_t count;
    enum groved_source source;
};

/* Hook plugins, "PATH[:ARG]" each, with where each was given ("--hook",
 * "GROVE_HOOK", "groved.conf:7: hook") for the messages of loading them. */
struct groved_hook_list {
    struct groved_list specs;
    const char *where[GROVED_MAX_URLS];
};

struct groved_config {
    const char *node_id;
    const char *db;
    struct groved_list listen;
    struct groved_list peers;                              /* their URLs */
    struct groved_peer_scope peer_scopes[GROVED_MAX_URLS]; /* peers.items[i]'s is [i] */
    struct groved_list tables;
    struct groved_list cors_origins;
    int interval_ms;
    const char *token;
    const char *peer_token;
    enum grove_log_level log_level;
    enum grove_log_format log_format;
    const char *admin_listen; /* NULL: no admin-only listener */
    const char *admin_token;  /* NULL: admin calls take the token */
    const char *tls_cert;
    const char *tls_key;
    const char *tls_ca;
    const char *tls_client_ca;
    bool tls_insecure;
    bool stream;
    size_t max_body;
    unsigned max_connections; /* per HTTP listener; 0: the default */
    enum grove_counter_deltas counter_deltas;
    struct groved_hook_list hooks;        /* node-level: the server's and the syncer's */
    struct groved_hook_list server_hooks; /* the server's only */
    const char *audit_log;                /* NULL: none */
    const char *audit_log_where;
    double rate_limit; /* changes per second per client address; 0: no limit */
    int store_readers; /* grove_store_options.readers: 0 the default, -1 none */
    int64_t store_recent_bytes; /* grove_store_options.recent_bytes: 0 the default, -1 none */
    /* `identity` lines (config_identity.c), parsed, their secrets read. */
    struct groved_list identity_specs;
    struct grove_identity identities[GROVED_MAX_URLS];
    size_t identity_count;
    /* Where the settings came from, for the start-up log. */
    const char *file;        /* the config file read, or NULL */
    const char *file_origin; /* "--config" or "GROVE_CONFIG" */
    char *env_names;         /* "GROVE_A GROVE_B" that were applied, or NULL */
    /* Strings the settings point into (the file's text, copies of the
     * environment); freed by groved_config_free. */
    char **owned;
    size_t owned_count;
};

enum groved_config_status {
    GROVED_CONFIG_OK = 0,
    GROVED_CONFIG_HELP,    /* --help or -h: nothing else was read */
    GROVED_CONFIG_INVALID, /* grove_errmsg() says why */
    GROVED_CONFIG_VERSION, /* --version: nothing else was read */
};

/* Fills cfg from every source. GROVED_CONFIG_INVALID leaves the reason in
 * grove_errmsg(), prefixed with the flag, the variable or file:line that
 * caused it, and never with a value given for a token. Nothing is printed.
 * Free cfg with groved_config_free whatever the status. */
enum groved_config_status groved_config_load(struct groved_config *cfg, int argc, char **argv);
/* The --help text (--version prints "groved GROVE_VERSION", grove/version.h). */
void groved_config_usage(FILE *out);
/* Logs (info) the config file and the variables that were read; never values. */
void groved_config_log_sources(const struct groved_config *cfg);
void groved_config_free(struct groved_config *cfg);

/* The identity table the settings stand for: the identities with --token
 * and --admin-token beside them, or, without identities, what the tokens
 * stand for (grove_access_from_tokens). */
grove_err groved_config_access(const struct groved_config *cfg, struct grove_access **out);
/* For config_identity.c: one `identity` value into *out (its strings owned
 * by cfg); 0 or GROVED_CONFIG_INVALID with a located message. */
int groved_identity_parse(struct groved_config *cfg, const char *where, const char *value,
                          struct grove_identity *out);
/* cfg takes text (NULL is out of memory); returns it, or NULL after freeing it. */
char *groved_config_own(struct groved_config *cfg, char *text);

#endif
