/* groved's settings from the command line, the environment and a config
 * file. All three become calls of one handler, groved_apply_option, so a
 * config key, a GROVE_* variable and a flag accept exactly the same values
 * and fail with the same message; only the prefix naming the source differs
 * ("--interval", "GROVE_INTERVAL", "groved.conf:7: interval"). Nothing here
 * prints or exits: the message is grove_errmsg(), main decides. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grove/error.h"
#include "grove/model.h"
#include "grove/schema.h"
#include "grove/sys/error.h"
#include "grove/transport.h"

#define GROVED_FILE_MAX (1 << 20) /* a config file is a few dozen lines */

enum {
    OPT_NODE = 256,
    OPT_DB,
    OPT_LISTEN,
    OPT_PEER,
    OPT_TABLE,
    OPT_INTERVAL,
    OPT_TOKEN,
    OPT_PEER_TOKEN,
    OPT_LOG_LEVEL,
    OPT_LOG_FORMAT,
    OPT_ADMIN_LISTEN,
    OPT_ADMIN_TOKEN,
    OPT_TLS_CERT,
    OPT_TLS_KEY,
    OPT_TLS_CA,
    OPT_TLS_CLIENT_CA,
    OPT_TLS_INSECURE,
    OPT_NO_STREAM,
    OPT_MAX_BODY,
    OPT_MAX_CONNECTIONS,
    OPT_COUNTER_DELTAS,
    OPT_CORS_ORIGIN,
    OPT_HOOK,
    OPT_SERVER_HOOK,
    OPT_AUDIT_LOG,
    OPT_RATE_LIMIT,
    OPT_STORE_READERS,
    OPT_STORE_RECENT_MB,
    OPT_IDENTITY,
    OPT_CONFIG,
    OPT_HELP,
    OPT_VERSION,
};

/* The one table of settings: flag names, config keys and GROVE_* variable
 * names all come from it. Booleans take an optional "=true|false" so that a
 * flag can undo what the file or the environment turned on. */
static const struct option groved_options[] = {
    {"node-id", required_argument, NULL, OPT_NODE},
    {"db", required_argument, NULL, OPT_DB},
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"peer", required_argument, NULL, OPT_PEER},
    {"table", required_argument, NULL, OPT_TABLE},
    {"interval", required_argument, NULL, OPT_INTERVAL},
    {"token", required_argument, NULL, OPT_TOKEN},
    {"peer-token", required_argument, NULL, OPT_PEER_TOKEN},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
    {"admin-listen", required_argument, NULL, OPT_ADMIN_LISTEN},
    {"admin-token", required_argument, NULL, OPT_ADMIN_TOKEN},
    {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
    {"tls-key", required_argument, NULL, OPT_TLS_KEY},
    {"tls-ca", required_argument, NULL, OPT_TLS_CA},
    {"tls-client-ca", required_argument, NULL, OPT_TLS_CLIENT_CA},
    {"tls-insecure", optional_argument, NULL, OPT_TLS_INSECURE},
    {"no-stream", optional_argument, NULL, OPT_NO_STREAM},
    {"max-body", required_argument, NULL, OPT_MAX_BODY},
    {"max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS},
    {"counter-deltas", required_argument, NULL, OPT_COUNTER_DELTAS},
    {"cors-origin", required_argument, NULL, OPT_CORS_ORIGIN},
    {"hook", required_argument, NULL, OPT_HOOK},
    {"server-hook", required_argument, NULL, OPT_SERVER_HOOK},
    {"audit-log", required_argument, NULL, OPT_AUDIT_LOG},
    {"rate-limit", required_argument, NULL, OPT_RATE_LIMIT},
    {"store-readers", required_argument, NULL, OPT_STORE_READERS},
    {"store-recent-mb", required_argument, NULL, OPT_STORE_RECENT_MB},
    {"identity", required_argument, NULL, OPT_IDENTITY},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

/* A flag as scanned from argv, applied after the file and the environment. */
struct groved_flag {
    const struct option *option;
    const char *value; /* NULL for a boolean given bare */
};

void groved_config_usage(FILE *out)
{
    fprintf(out,
            "usage: groved --node-id ID --db PATH [options]\n"
            "       groved --help | --version\n"
            "  --config FILE            read settings from FILE: one \"key = value\" per line,\n"
            "                           keys are the flag names below without \"--\"\n"
            "  --node-id ID             this node's id (at most %d bytes)\n"
            "  --db PATH                the SQLite store (created when missing)\n"
            "  --listen URL             serve the sync protocol here (repeatable)\n"
            "  --peer URL               sync with this peer (repeatable); after the URL,\n"
            "                           tables=a,b and prefix=P limit what is synced with it\n"
            "  --table NAME:f=type,...  declare a table; types lww, counter, set (repeatable)\n"
            "  --interval SECONDS       sync period (default 30)\n"
            "  --token TOKEN            bearer token clients must present\n"
            "  --peer-token TOKEN       bearer token sent to peers\n"
            "  --log-level LEVEL        debug, info, warn, error, off (default info)\n"
            "  --log-format FORMAT      logfmt (default) or json, one event per line\n"
            "  --admin-listen URL       an http:// listener for health and the admin API\n"
            "                           only (status, sync, backup; docs/operations.md)\n"
            "  --admin-token TOKEN      bearer token the admin API needs (default: --token)\n"
            "  --tls-cert F --tls-key F certificate and key of https, grpcs and nng+tls+tcp\n"
            "                           listeners\n"
            "  --tls-ca F               CA that signs the peers' certificates\n"
            "  --tls-client-ca F        require client certificates signed by this CA\n"
            "  --tls-insecure[=BOOL]    do not verify peers' certificates (development only)\n"
            "  --no-stream[=BOOL]       only pull/push every interval, no live stream\n"
            "  --max-body BYTES         largest request accepted (default 64 MiB)\n"
            "  --max-connections N      open HTTP connections per listener, streams\n"
            "                           included (default 10000)\n"
            "  --cors-origin ORIGIN     pages from ORIGIN (or * for any) may call the HTTP\n"
            "                           listeners from a browser (repeatable; default off)\n"
            "  --counter-deltas MEANING what a pushed counter_delta is: totals (the origin's\n"
            "                           running totals, default) or operations (each record\n"
            "                           one increment, as Grove's TypeScript client sends)\n"
            "  --hook PATH[:ARG]        load a hook plugin for the server and the syncer\n"
            "                           (repeatable, run in order; docs/hooks.md)\n"
            "  --server-hook PATH[:ARG] a hook plugin for the server only (repeatable)\n"
            "  --audit-log FILE         append one JSON line per merged change (reopened on\n"
            "                           SIGHUP, for log rotation)\n"
            "  --identity SPEC          who may connect, as what (repeatable; docs/operations.md):\n"
            "                           NAME role=peer|client [node=ID] secret=@FILE|env:VAR\n"
            "                           [read=T,..|*] [write=T,..|*] [prefix=P] [admin]\n"
            "  --rate-limit N           changes per second a client address may push; more\n"
            "                           is refused with 429 / RESOURCE_EXHAUSTED\n"
            "  --store-readers N        read-only store connections reads use beside the\n"
            "                           writer, 0 to 64 (default 4; 0: reads share the writer's)\n"
            "  --store-recent-mb N      memory for the newest commits' changes, which pages at\n"
            "                           the head read instead of the file: 0 to 1024 MiB\n"
            "                           (default 8; 0: none)\n"
            "environment: GROVE_<FLAG> (upper case, '-' as '_'), e.g. GROVE_NODE_ID,\n"
            "  GROVE_PEER=URL,URL (lists split on ','), GROVE_TABLE=a:f=lww;b (split on ';'),\n"
            "  GROVE_HOOK=a.so:x;b.so (split on ';'),\n"
            "  GROVE_NO_STREAM=true; GROVE_CONFIG=FILE when --config is not given.\n"
            "precedence: flags > environment > config file > defaults; a list (listen, peer,\n"
            "  table, hook, server-hook) from a higher source replaces the lower one's.\n"
            "transports: %s\n",
            GROVE_NODE_ID_MAX, grove_transport_schemes());
}

/* Records "WHERE: message" (grove_errmsg) and returns GROVED_CONFIG_INVALID. */
__attribute__((format(printf, 2, 3))) static int groved_fail(const char *where, const char *fmt,
                                                             ...)
{
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    if (where)
        grove_error_set(GROVE_EINVAL, "%s: %s", where, message);
    else
        grove_error_set(GROVE_EINVAL, "%s", message);
    return GROVED_CONFIG_INVALID;
}

char *groved_config_own(struct groved_config *cfg, char *text)
{
    char **owned = text ? realloc(cfg->owned, (cfg->owned_count + 1) * sizeof *owned) : NULL;
    if (!owned) {
        free(text);
        return NULL;
    }
    cfg->owned = owned;
    cfg->owned[cfg->owned_count++] = text;
    return text;
}

static char *groved_trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* The option a config key or variable sets; NULL for unknown names. */
static const struct option *groved_option_find(const char *name)
{
    for (const struct option *o = groved_options; o->name; o++)
        if (strcmp(o->name, name) == 0)
            return o;
    return NULL;
}

/* Only the command line chooses the config file or asks for help or the version. */
static bool groved_option_settable(const struct option *o)
{
    return o->val != OPT_CONFIG && o->val != OPT_HELP && o->val != OPT_VERSION;
}

static struct groved_list *groved_list_of(struct groved_config *cfg, int opt)
{
    switch (opt) {
    case OPT_LISTEN:
        return &cfg->listen;
    case OPT_PEER:
        return &cfg->peers;
    case OPT_TABLE:
        return &cfg->tables;
    case OPT_CORS_ORIGIN:
        return &cfg->cors_origins;
    case OPT_HOOK:
        return &cfg->hooks.specs;
    case OPT_SERVER_HOOK:
        return &cfg->server_hooks.specs;
    case OPT_IDENTITY:
        return &cfg->identity_specs;
    default:
        return NULL;
    }
}

/* The first value from a higher source replaces the list of the lower ones. */
static int groved_list_add(struct groved_list *list, enum groved_source source, const char *where,
                           const char *value)
{
    if (source > list->source) {
        list->count = 0;
        list->source = source;
    }
    if (list->count == GROVED_MAX_URLS)
        return groved_fail(where, "too many values (at most %d)", GROVED_MAX_URLS);
    list->items[list->count++] = value;
    return 0;
}

/* Every URL's scheme is checked before anything starts, so a typo costs no
 * half-started node. */
static int groved_check_url(const char *where, const char *url)
{
    if (grove_transport_check_url(url) != GROVE_OK)
        return groved_fail(where, "%s", grove_errmsg()); /* names the built-in schemes */
    return 0;
}

/* The declaration is parsed here only to report a bad one with its source;
 * main declares the tables for real. */
static int groved_check_table(const char *where, const char *spec)
{
    struct grove_schema *schema = NULL;
    grove_err err = grove_schema_new(&schema);
    if (!err)
        err = grove_schema_parse(schema, spec);
    grove_schema_free(schema);
    if (err)
        return groved_fail(where, "%s", grove_errmsg()); /* names the spec */
    return 0;
}

/* A plugin setting, PATH[:ARG], kept with where it was given: the plugin is
 * loaded at start (service/hooks.c), whose messages name the setting. */
static int groved_hook_add(struct groved_config *cfg, struct groved_hook_list *hooks,
                           enum groved_source source, const char *where, const char *value)
{
    if (*value == ':')
        return groved_fail(where, "expected PATH[:ARG], got \"%s\" (no path)", value);
    int rc = groved_list_add(&hooks->specs, source, where, value);
    if (rc)
        return rc;
    if (!(hooks->where[hooks->specs.count - 1] = groved_config_own(cfg, strdup(where))))
        return groved_fail(NULL, "out of memory");
    return 0;
}

/* "URL [tables=a,b] [prefix=p]" (config_peer.h); its tables are checked
 * against the declared ones once every source is read. */
static int groved_peer_add(struct groved_config *cfg, enum groved_source source, const char *where,
                           const char *value)
{
    const char *url;
    struct groved_peer_scope scope;
    char *block;
    grove_err err = groved_peer_parse(value, &url, &scope, &block);
    if (!groved_config_own(cfg, block))
        return groved_fail(NULL, "out of memory");
    if (err)
        return groved_fail(where, "%s", grove_errmsg());
    int rc = groved_check_url(where, url);
    if (!rc)
        rc = groved_list_add(&cfg->peers, source, where, url);
    if (rc)
        return rc;
    if (!(scope.where = groved_config_own(cfg, strdup(where))))
        return groved_fail(NULL, "out of memory");
    cfg->peer_scopes[cfg->peers.count - 1] = scope;
    return 0;
}

/* NULL (a bare flag) is true. *out is set on every path (false on failure):
 * GCC at -O3 cannot tell that groved_fail never returns 0. */
static int groved_parse_bool(const char *where, const char *value, bool *out)
{
    *out = !value || strcmp(value, "true") == 0;
    if (*out || strcmp(value, "false") == 0)
        return 0;
    return groved_fail(where, "expected true or false, got \"%s\"", value);
}

/* One setting from any source. value must outlive cfg; where names the
 * source in messages. Returns 0 or the exit code. */
static int groved_apply_option(struct groved_config *cfg, int opt, const char *value,
                               enum groved_source source, const char *where)
{
    char *end;
    bool flag;
    int rc;
    switch (opt) {
    case OPT_NODE:
        if (strlen(value) > GROVE_NODE_ID_MAX)
            return groved_fail(where, "\"%s\" is too long (at most %d bytes)", value,
                               GROVE_NODE_ID_MAX);
        cfg->node_id = value;
        return 0;
    case OPT_DB:
        cfg->db = value;
        return 0;
    case OPT_LISTEN:
        if ((rc = groved_check_url(where, value)))
            return rc;
        return groved_list_add(&cfg->listen, source, where, value);
    case OPT_PEER:
        return groved_peer_add(cfg, source, where, value);
    case OPT_TABLE:
        if ((rc = groved_check_table(where, value)))
            return rc;
        return groved_list_add(&cfg->tables, source, where, value);
    case OPT_CORS_ORIGIN:
        /* An origin is scheme://host[:port], with no path: what browsers send. */
        if (strcmp(value, "*") != 0 &&
            (!strstr(value, "://") || strchr(strstr(value, "://") + 3, '/')))
            return groved_fail(where,
                               "expected * or an origin like https://app.example.com,"
                               " got \"%s\"",
                               value);
        return groved_list_add(&cfg->cors_origins, source, where, value);
    case OPT_INTERVAL: {
        errno = 0;
        double s = strtod(value, &end);
        if (errno || *end || end == value || !(s > 0) || s > 86400)
            return groved_fail(where, "expected seconds in (0, 86400], got \"%s\"", value);
        cfg->interval_ms = (int)ceil(s * 1000);
        return 0;
    }
    case OPT_TOKEN:
        cfg->token = value;
        return 0;
    case OPT_IDENTITY:
        if ((rc = groved_list_add(&cfg->identity_specs, source, where, value)))
            return rc;
        cfg->identity_count = cfg->identity_specs.count;
        return groved_identity_parse(cfg, where, value, &cfg->identities[cfg->identity_count - 1]);
    case OPT_PEER_TOKEN:
        cfg->peer_token = value;
        return 0;
    case OPT_LOG_LEVEL: {
        int level = grove_log_level_parse(value);
        if (level < 0)
            return groved_fail(where, "expected debug, info, warn, error or off, got \"%s\"",
                               value);
        cfg->log_level = (enum grove_log_level)level;
        return 0;
    }
    case OPT_LOG_FORMAT: {
        int format = grove_log_format_parse(value);
        if (format < 0)
            return groved_fail(where, "expected logfmt or json, got \"%s\"", value);
        cfg->log_format = (enum grove_log_format)format;
        return 0;
    }
    case OPT_ADMIN_LISTEN:
        if ((rc = groved_check_url(where, value)))
            return rc;
        if (strncmp(value, "http://", 7) != 0 && strncmp(value, "https://", 8) != 0)
            return groved_fail(where, "the admin listener is http:// or https://, got \"%s\"",
                               value);
        cfg->admin_listen = value;
        return 0;
    case OPT_ADMIN_TOKEN:
        cfg->admin_token = value;
        return 0;
    case OPT_TLS_CERT:
        cfg->tls_cert = value;
        return 0;
    case OPT_TLS_KEY:
        cfg->tls_key = value;
        return 0;
    case OPT_TLS_CA:
        cfg->tls_ca = value;
        return 0;
    case OPT_TLS_CLIENT_CA:
        cfg->tls_client_ca = value;
        return 0;
    case OPT_TLS_INSECURE:
        if ((rc = groved_parse_bool(where, value, &flag)))
            return rc;
        cfg->tls_insecure = flag;
        return 0;
    case OPT_NO_STREAM:
        if ((rc = groved_parse_bool(where, value, &flag)))
            return rc;
        cfg->stream = !flag;
        return 0;
    case OPT_COUNTER_DELTAS:
        if (strcmp(value, "totals") == 0)
            cfg->counter_deltas = GROVE_COUNTER_DELTAS_TOTALS;
        else if (strcmp(value, "operations") == 0)
            cfg->counter_deltas = GROVE_COUNTER_DELTAS_OPERATIONS;
        else
            return groved_fail(where, "expected totals or operations, got \"%s\"", value);
        return 0;
    case OPT_MAX_BODY: {
        errno = 0;
        unsigned long long v = strtoull(value, &end, 10);
        if (errno || *end || end == value || v == 0 || value[0] == '-')
            return groved_fail(where, "expected a positive byte count, got \"%s\"", value);
        cfg->max_body = (size_t)v;
        return 0;
    }
    case OPT_MAX_CONNECTIONS: {
        errno = 0;
        unsigned long v = strtoul(value, &end, 10);
        if (errno || *end || end == value || v == 0 || v > 1000000 || value[0] == '-')
            return groved_fail(where, "expected a connection count from 1 to 1000000, got \"%s\"",
                               value);
        cfg->max_connections = (unsigned)v;
        return 0;
    }
    case OPT_HOOK:
        return groved_hook_add(cfg, &cfg->hooks, source, where, value);
    case OPT_SERVER_HOOK:
        return groved_hook_add(cfg, &cfg->server_hooks, source, where, value);
    case OPT_AUDIT_LOG:
        cfg->audit_log = value;
        if (!(cfg->audit_log_where = groved_config_own(cfg, strdup(where))))
            return groved_fail(NULL, "out of memory");
        return 0;
    case OPT_RATE_LIMIT: {
        errno = 0;
        double n = strtod(value, &end);
        if (errno || *end || end == value || !(n > 0) || n > 1e9)
            return groved_fail(where, "expected changes per second in (0, 1e9], got \"%s\"", value);
        cfg->rate_limit = n;
        return 0;
    }
    case OPT_STORE_READERS: {
        errno = 0;
        long n = strtol(value, &end, 10);
        if (errno || *end || end == value || n < 0 || n > 64)
            return groved_fail(where, "expected a number of connections in [0, 64], got \"%s\"",
                               value);
        cfg->store_readers = n ? (int)n : -1;
        return 0;
    }
    case OPT_STORE_RECENT_MB: {
        errno = 0;
        long n = strtol(value, &end, 10);
        if (errno || *end || end == value || n < 0 || n > 1024)
            return groved_fail(where, "expected MiB in [0, 1024], got \"%s\"", value);
        cfg->store_recent_bytes = n ? (int64_t)n << 20 : -1;
        return 0;
    }
    default:
        return groved_fail(where, "cannot be set here");
    }
}

/* Scans argv without applying anything: flags override the file and the
 * environment, which are read after. */
static int groved_flags_scan(int argc, char **argv, struct groved_flag *flags, size_t *count,
                             const char **config)
{
    int opt, index = 0;
    opterr = 0;
    optind = 0; /* getopt_long starts over: a process may load more than once */
    while ((opt = getopt_long(argc, argv, ":h", groved_options, &index)) != -1) {
        switch (opt) {
        case 'h':
        case OPT_HELP:
            return GROVED_CONFIG_HELP;
        case OPT_VERSION:
            return GROVED_CONFIG_VERSION;
        case OPT_CONFIG:
            *config = optarg;
            break;
        case ':':
            return groved_fail(NULL, "%s needs a value", argv[optind - 1]);
        case '?':
            return groved_fail(NULL, "unknown flag %s", argv[optind - 1]);
        default:
            flags[(*count)++] = (struct groved_flag){&groved_options[index], optarg};
            break;
        }
    }
    if (optind < argc)
        return groved_fail(NULL, "unexpected argument \"%s\"", argv[optind]);
    return 0;
}

static int groved_file_read(const char *path, char **out)
{
    *out = NULL;
    FILE *f = fopen(path, "r");
    if (!f)
        return groved_fail(NULL, "cannot read config file %s: %s", path, strerror(errno));
    char *text = malloc(GROVED_FILE_MAX + 1);
    if (!text) {
        fclose(f);
        return groved_fail(NULL, "out of memory");
    }
    size_t n = fread(text, 1, GROVED_FILE_MAX + 1, f);
    int read_errno = ferror(f) ? errno : 0;
    fclose(f);
    int rc = 0;
    if (read_errno)
        rc = groved_fail(NULL, "cannot read config file %s: %s", path, strerror(read_errno));
    else if (n > GROVED_FILE_MAX)
        rc = groved_fail(NULL, "config file %s: larger than %d bytes", path, GROVED_FILE_MAX);
    else if (memchr(text, '\0', n))
        rc = groved_fail(NULL, "config file %s: not a text file (it holds NUL bytes)", path);
    if (rc) {
        free(text);
        return rc;
    }
    text[n] = '\0';
    *out = text;
    return 0;
}

/* One line of the file; line is modified (values point into it). */
static int groved_file_line(struct groved_config *cfg, const char *path, size_t lineno, char *line)
{
    char where[4400];
    snprintf(where, sizeof where, "%s:%zu", path, lineno);
    line = groved_trim(line);
    if (*line == '\0' || *line == '#')
        return 0;
    char *eq = strchr(line, '=');
    /* The line is not echoed: it may hold a token. */
    if (!eq || eq == line)
        return groved_fail(where, "expected key = value");
    *eq = '\0';
    char *key = groved_trim(line), *value = groved_trim(eq + 1);
    const struct option *o = groved_option_find(key);
    if (o && o->val == OPT_CONFIG)
        return groved_fail(where, "a config file cannot name another one (\"config\")");
    if (!o || !groved_option_settable(o))
        return groved_fail(where, "unknown key \"%s\"", key);
    snprintf(where, sizeof where, "%s:%zu: %s", path, lineno, key);
    if (*value == '\0')
        return groved_fail(where, "missing value");
    return groved_apply_option(cfg, o->val, value, GROVED_SOURCE_FILE, where);
}

static int groved_file_apply(struct groved_config *cfg, const char *path)
{
    char *text;
    int rc = groved_file_read(path, &text);
    if (rc)
        return rc;
    if (!groved_config_own(cfg, text))
        return groved_fail(NULL, "out of memory");
    cfg->file = path;
    size_t lineno = 0;
    for (char *line = text, *next; line && rc == 0; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        rc = groved_file_line(cfg, path, ++lineno, line);
    }
    return rc;
}

/* "peer-token" -> "GROVE_PEER_TOKEN". */
static void groved_env_name(const char *option, char *out, size_t size)
{
    size_t n = (size_t)snprintf(out, size, "GROVE_%s", option);
    for (size_t i = 6; i < n && i < size; i++)
        out[i] = out[i] == '-' ? '_' : (char)toupper((unsigned char)out[i]);
}

/* A list variable replaces the lower sources' list, even when it only holds
 * separators. Tables and hooks are split on ';' because a table spec holds
 * commas, and a hook's ARG may. */
static int groved_env_list(struct groved_config *cfg, int opt, char *value, const char *name)
{
    struct groved_list *list = groved_list_of(cfg, opt);
    char sep = opt == OPT_TABLE || opt == OPT_HOOK || opt == OPT_SERVER_HOOK ||
                       opt == OPT_IDENTITY
                   ? ';'
                   : ',';
    if (opt == OPT_PEER && strchr(value, ';')) /* peers whose tables= hold commas */
        sep = ';';
    int rc = 0;
    list->count = 0;
    list->source = GROVED_SOURCE_ENV;
    for (char *item = value, *next; item && rc == 0; item = next) {
        next = strchr(item, sep);
        if (next)
            *next++ = '\0';
        item = groved_trim(item);
        if (*item)
            rc = groved_apply_option(cfg, opt, item, GROVED_SOURCE_ENV, name);
    }
    return rc;
}

/* An empty variable counts as unset (compose files often pass "${X}"). */
static int groved_env_apply(struct groved_config *cfg)
{
    char names[1024] = "", name[64];
    size_t used = 0;
    int rc = 0;
    for (const struct option *o = groved_options; o->name && rc == 0; o++) {
        if (!groved_option_settable(o))
            continue;
        groved_env_name(o->name, name, sizeof name);
        const char *raw = getenv(name);
        if (!raw)
            continue;
        char *copy = groved_config_own(cfg, strdup(raw));
        if (!copy)
            return groved_fail(NULL, "out of memory");
        char *value = groved_trim(copy);
        if (*value == '\0')
            continue;
        used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", used ? " " : "", name);
        if (groved_list_of(cfg, o->val))
            rc = groved_env_list(cfg, o->val, value, name);
        else
            rc = groved_apply_option(cfg, o->val, value, GROVED_SOURCE_ENV, name);
    }
    if (rc == 0 && used > 0 && !(cfg->env_names = groved_config_own(cfg, strdup(names))))
        return groved_fail(NULL, "out of memory");
    return rc;
}

/* Whether a table spec (NAME[:field=type,...]) declares name. */
static bool groved_table_declared(const struct groved_config *cfg, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < cfg->tables.count; i++) {
        const char *spec = cfg->tables.items[i];
        if (strncmp(spec, name, n) == 0 && (spec[n] == '\0' || spec[n] == ':'))
            return true;
    }
    return false;
}

/* What no single setting can check: the required ones and the pairs. */
static int groved_config_check(const struct groved_config *cfg)
{
    if (!cfg->node_id || !*cfg->node_id)
        return groved_fail(NULL, "--node-id is required (or GROVE_NODE_ID, or node-id in the "
                                 "config file)");
    if (!cfg->db || !*cfg->db)
        return groved_fail(NULL, "--db is required (or GROVE_DB, or db in the config file)");
    if (cfg->tables.count == 0)
        return groved_fail(NULL, "declare at least one --table NAME[:field=type,...] (or "
                                 "GROVE_TABLE, or table in the config file)");
    if (cfg->listen.count == 0 && cfg->peers.count == 0)
        return groved_fail(NULL, "nothing to do: give --listen and/or --peer (or GROVE_LISTEN, "
                                 "GROVE_PEER, or listen, peer in the config file)");
    for (size_t i = 0; i < cfg->peers.count; i++) {
        const struct groved_peer_scope *scope = &cfg->peer_scopes[i];
        for (size_t t = 0; t < scope->table_count; t++)
            if (!groved_table_declared(cfg, scope->tables[t]))
                return groved_fail(scope->where, "tables=: \"%s\" is not a declared table",
                                   scope->tables[t]);
    }
    if (!cfg->tls_cert != !cfg->tls_key)
        return groved_fail(NULL, "--tls-cert and --tls-key go together");
    return 0;
}

enum groved_config_status groved_config_load(struct groved_config *cfg, int argc, char **argv)
{
    *cfg =
        (struct groved_config){.interval_ms = 30000, .stream = true, .log_level = GROVE_LOG_INFO};
    struct groved_flag *flags = calloc((size_t)argc + 1, sizeof *flags);
    if (!flags)
        return groved_fail(NULL, "out of memory");
    size_t flag_count = 0;
    const char *file = NULL;
    int rc = groved_flags_scan(argc, argv, flags, &flag_count, &file);
    if (rc == GROVED_CONFIG_HELP || rc == GROVED_CONFIG_VERSION) {
        free(flags);
        return rc;
    }
    if (file) {
        cfg->file_origin = "--config";
    } else if (getenv("GROVE_CONFIG") && *getenv("GROVE_CONFIG")) {
        file = getenv("GROVE_CONFIG");
        cfg->file_origin = "GROVE_CONFIG";
    }
    if (rc == 0 && file)
        rc = groved_file_apply(cfg, file);
    if (rc == 0)
        rc = groved_env_apply(cfg);
    for (size_t i = 0; rc == 0 && i < flag_count; i++) {
        char where[64];
        snprintf(where, sizeof where, "--%s", flags[i].option->name);
        rc = groved_apply_option(cfg, flags[i].option->val, flags[i].value, GROVED_SOURCE_FLAG,
                                 where);
    }
    free(flags);
    if (rc == 0)
        rc = groved_config_check(cfg);
    return rc ? GROVED_CONFIG_INVALID : GROVED_CONFIG_OK;
}

void groved_config_log_sources(const struct groved_config *cfg)
{
    if (cfg->file)
        grove_log(GROVE_LOG_INFO, "read config file %s (named by %s)", cfg->file, cfg->file_origin);
    else
        grove_log(GROVE_LOG_INFO, "no config file");
    if (cfg->env_names)
        grove_log(GROVE_LOG_INFO, "environment overrides: %s", cfg->env_names);
}

void groved_config_free(struct groved_config *cfg)
{
    for (size_t i = 0; i < cfg->owned_count; i++)
        free(cfg->owned[i]);
    free(cfg->owned);
    cfg->owned = NULL;
    cfg->owned_count = 0;
}
