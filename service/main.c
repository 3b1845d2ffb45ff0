/* groved: runs one sync node in the foreground. It serves the sync protocol
 * on every --listen URL and syncs with every --peer URL, until SIGTERM or
 * SIGINT, then shuts down without losing acknowledged writes (a push is only
 * answered after its transaction committed). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grove/log.h"
#include "grove/server.h"
#include "grove/syncer.h"
#include "grove/transport.h"
#include "transports.h"

#define GROVED_EXIT_USAGE 2 /* bad flags, bad config, cannot start */
#define GROVED_MAX_URLS   64

struct groved_config {
    const char *node_id;
    const char *db;
    const char *listen[GROVED_MAX_URLS];
    size_t listen_count;
    const char *peers[GROVED_MAX_URLS];
    size_t peer_count;
    const char *tables[GROVED_MAX_URLS];
    size_t table_count;
    int interval_ms;
    const char *token;
    const char *peer_token;
    const char *tls_cert;
    const char *tls_key;
    const char *tls_ca;
    const char *tls_client_ca;
    bool tls_insecure;
    bool stream;
    size_t max_body;
};

static void groved_usage(FILE *out)
{
    fprintf(out,
            "usage: groved --node-id ID --db PATH [options]\n"
            "  --node-id ID             this node's id (at most %d bytes)\n"
            "  --db PATH                the SQLite store (created when missing)\n"
            "  --listen URL             serve the sync protocol here (repeatable)\n"
            "  --peer URL               sync with this peer (repeatable)\n"
            "  --table NAME:f=type,...  declare a table; types lww, counter, set (repeatable)\n"
            "  --interval SECONDS       sync period (default 30)\n"
            "  --token TOKEN            bearer token clients must present\n"
            "  --peer-token TOKEN       bearer token sent to peers\n"
            "  --log-level LEVEL        debug, info, warn, error, off (default info)\n"
            "  --tls-cert F --tls-key F certificate and key of https listeners\n"
            "  --tls-ca F               CA that signs the peers' certificates\n"
            "  --tls-client-ca F        require client certificates signed by this CA\n"
            "  --tls-insecure           do not verify peers' certificates (development only)\n"
            "  --no-stream              only pull/push every interval, no live stream\n"
            "  --max-body BYTES         largest request accepted (default 64 MiB)\n"
            "transports: %s\n",
            GROVE_NODE_ID_MAX, grove_transport_schemes());
}

static int groved_fail_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "groved: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(see groved --help)\n");
    return GROVED_EXIT_USAGE;
}

static int groved_add_url(const char **list, size_t *count, const char *flag, const char *url)
{
    if (*count == GROVED_MAX_URLS)
        return groved_fail_usage("too many %s flags", flag);
    list[(*count)++] = url;
    return 0;
}

/* Returns 0, or the exit code. */
static int groved_parse(int argc, char **argv, struct groved_config *cfg)
{
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
        OPT_TLS_CERT,
        OPT_TLS_KEY,
        OPT_TLS_CA,
        OPT_TLS_CLIENT_CA,
        OPT_TLS_INSECURE,
        OPT_NO_STREAM,
        OPT_MAX_BODY,
        OPT_HELP,
    };
    static const struct option options[] = {
        {"node-id", required_argument, NULL, OPT_NODE},
        {"db", required_argument, NULL, OPT_DB},
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"peer", required_argument, NULL, OPT_PEER},
        {"table", required_argument, NULL, OPT_TABLE},
        {"interval", required_argument, NULL, OPT_INTERVAL},
        {"token", required_argument, NULL, OPT_TOKEN},
        {"peer-token", required_argument, NULL, OPT_PEER_TOKEN},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
        {"tls-key", required_argument, NULL, OPT_TLS_KEY},
        {"tls-ca", required_argument, NULL, OPT_TLS_CA},
        {"tls-client-ca", required_argument, NULL, OPT_TLS_CLIENT_CA},
        {"tls-insecure", no_argument, NULL, OPT_TLS_INSECURE},
        {"no-stream", no_argument, NULL, OPT_NO_STREAM},
        {"max-body", required_argument, NULL, OPT_MAX_BODY},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    int rc = 0, opt;
    char *end;
    opterr = 0;
    while (rc == 0 && (opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case OPT_NODE:
            cfg->node_id = optarg;
            break;
        case OPT_DB:
            cfg->db = optarg;
            break;
        case OPT_LISTEN:
            rc = groved_add_url(cfg->listen, &cfg->listen_count, "--listen", optarg);
            break;
        case OPT_PEER:
            rc = groved_add_url(cfg->peers, &cfg->peer_count, "--peer", optarg);
            break;
        case OPT_TABLE:
            rc = groved_add_url(cfg->tables, &cfg->table_count, "--table", optarg);
            break;
        case OPT_INTERVAL: {
            errno = 0;
            double s = strtod(optarg, &end);
            if (errno || *end || end == optarg || !(s > 0) || s > 86400)
                return groved_fail_usage("--interval: expected seconds in (0, 86400], got \"%s\"",
                                         optarg);
            cfg->interval_ms = (int)ceil(s * 1000);
            break;
        }
        case OPT_TOKEN:
            cfg->token = optarg;
            break;
        case OPT_PEER_TOKEN:
            cfg->peer_token = optarg;
            break;
        case OPT_LOG_LEVEL: {
            int level = grove_log_level_parse(optarg);
            if (level < 0)
                return groved_fail_usage(
                    "--log-level: expected debug, info, warn, error or off, got \"%s\"", optarg);
            grove_log_set_level((enum grove_log_level)level);
            break;
        }
        case OPT_TLS_CERT:
            cfg->tls_cert = optarg;
            break;
        case OPT_TLS_KEY:
            cfg->tls_key = optarg;
            break;
        case OPT_TLS_CA:
            cfg->tls_ca = optarg;
            break;
        case OPT_TLS_CLIENT_CA:
            cfg->tls_client_ca = optarg;
            break;
        case OPT_TLS_INSECURE:
            cfg->tls_insecure = true;
            break;
        case OPT_NO_STREAM:
            cfg->stream = false;
            break;
        case OPT_MAX_BODY: {
            errno = 0;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (errno || *end || end == optarg || v == 0 || optarg[0] == '-')
                return groved_fail_usage("--max-body: expected a positive byte count, got \"%s\"",
                                         optarg);
            cfg->max_body = (size_t)v;
            break;
        }
        case OPT_HELP:
        case 'h':
            groved_usage(stdout);
            exit(0);
        case ':':
            return groved_fail_usage("%s needs a value", argv[optind - 1]);
        default:
            return groved_fail_usage("unknown flag %s", argv[optind - 1]);
        }
    }
    if (rc)
        return rc;
    if (optind < argc)
        return groved_fail_usage("unexpected argument \"%s\"", argv[optind]);
    if (!cfg->node_id || !*cfg->node_id)
        return groved_fail_usage("%s is required", "--node-id");
    if (strlen(cfg->node_id) > GROVE_NODE_ID_MAX)
        return groved_fail_usage("--node-id \"%s\" is too long", cfg->node_id);
    if (!cfg->db || !*cfg->db)
        return groved_fail_usage("%s is required", "--db");
    if (cfg->table_count == 0)
        return groved_fail_usage("%s", "declare at least one --table NAME[:field=type,...]");
    if (cfg->listen_count == 0 && cfg->peer_count == 0)
        return groved_fail_usage("%s", "nothing to do: give --listen and/or --peer");
    if (!cfg->tls_cert != !cfg->tls_key)
        return groved_fail_usage("%s", "--tls-cert and --tls-key go together");
    return 0;
}

/* Every URL's scheme is checked before anything starts, so a typo costs no
 * half-started node. */
static int groved_check_schemes(const struct groved_config *cfg)
{
    const char *const *lists[] = {cfg->listen, cfg->peers};
    size_t counts[] = {cfg->listen_count, cfg->peer_count};
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < counts[k]; i++) {
            const struct grove_transport *t;
            if (grove_transport_find(lists[k][i], &t) != GROVE_OK) {
                /* The registry's message names the built-in schemes. */
                fprintf(stderr, "groved: %s: %s\n", lists[k][i], grove_errmsg());
                return GROVED_EXIT_USAGE;
            }
        }
    }
    return 0;
}

static void groved_report(void *user, const struct grove_sync_report *r)
{
    (void)user;
    enum grove_log_level level = r->err ? GROVE_LOG_WARN : GROVE_LOG_INFO;
    grove_log(level,
              "sync peer=%s pulled=%" PRIu64 " pushed=%" PRIu64 " merged=%" PRIu64
              " conflicts=%" PRIu64 " error=%s%s%s duration_ms=%.1f",
              r->peer, r->pulled, r->pushed, r->merged, r->conflicts,
              r->err ? grove_err_name(r->err) : "none", r->err ? " message=" : "",
              r->err ? r->error : "", (double)r->duration_us / 1000.0);
}

int main(int argc, char **argv)
{
    struct groved_config cfg = {.interval_ms = 30000, .stream = true};
    struct grove_schema *schema = NULL;
    struct grove_store *store = NULL;
    struct grove_server *server = NULL;
    struct grove_syncer *syncer = NULL;
    struct grove_listener *listeners[GROVED_MAX_URLS] = {0};
    size_t listener_count = 0;
    int exit_code = GROVED_EXIT_USAGE;
    grove_err err;

    grove_log_set_level(GROVE_LOG_INFO);
    err = groved_register_transports();
    if (err) {
        fprintf(stderr, "groved: cannot register transports: %s\n", grove_errmsg());
        return 1;
    }
    int rc = groved_parse(argc, argv, &cfg);
    if (rc)
        return rc;
    if ((rc = groved_check_schemes(&cfg)))
        return rc;

    /* Signals are taken by sigwait in this thread only: every thread started
     * below inherits the mask. A peer closing a socket must not kill us. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    err = grove_schema_new(&schema);
    for (size_t i = 0; !err && i < cfg.table_count; i++) {
        err = grove_schema_parse(schema, cfg.tables[i]);
        if (err)
            fprintf(stderr, "groved: --table %s: %s\n", cfg.tables[i], grove_errmsg());
    }
    if (err)
        goto done;

    struct grove_store_options store_opts = {
        .path = cfg.db, .node_id = cfg.node_id, .schema = schema};
    err = grove_store_open(&store, &store_opts);
    if (err) {
        fprintf(stderr, "groved: %s\n", grove_errmsg()); /* names the path */
        goto done;
    }
    struct grove_server_options server_opts = {0};
    err = grove_server_new(&server, store, &server_opts);
    if (err) {
        fprintf(stderr, "groved: %s\n", grove_errmsg());
        goto done;
    }

    struct grove_listen_options listen_opts = {
        .token = cfg.token,
        .cert_file = cfg.tls_cert,
        .key_file = cfg.tls_key,
        .ca_file = cfg.tls_client_ca,
        .max_body = cfg.max_body,
    };
    for (size_t i = 0; i < cfg.listen_count; i++) {
        err = grove_listener_open(&listeners[i], cfg.listen[i], server, &listen_opts);
        if (err) {
            fprintf(stderr, "groved: %s\n", grove_errmsg()); /* names the URL */
            goto done;
        }
        listener_count++;
        grove_log(GROVE_LOG_INFO, "listening on %s", cfg.listen[i]);
    }

    if (cfg.peer_count > 0) {
        struct grove_syncer_options sync_opts = {.interval_ms = cfg.interval_ms,
                                                 .stream = cfg.stream};
        err = grove_syncer_new(&syncer, store, &sync_opts);
        if (err) {
            fprintf(stderr, "groved: %s\n", grove_errmsg());
            goto done;
        }
        struct grove_dial_options dial_opts = {
            .token = cfg.peer_token,
            .ca_file = cfg.tls_ca,
            .insecure = cfg.tls_insecure,
        };
        for (size_t i = 0; i < cfg.peer_count; i++) {
            err = grove_syncer_add_peer(syncer, cfg.peers[i], &dial_opts);
            if (err) {
                fprintf(stderr, "groved: --peer %s: %s\n", cfg.peers[i], grove_errmsg());
                goto done;
            }
            grove_log(GROVE_LOG_INFO, "peer %s", cfg.peers[i]);
        }
        err = grove_syncer_start(syncer, groved_report, NULL);
        if (err) {
            fprintf(stderr, "groved: cannot start the syncer: %s\n", grove_errmsg());
            goto done;
        }
    }
    grove_log(GROVE_LOG_INFO, "ready node=%s db=%s", cfg.node_id, cfg.db);

    int sig = 0;
    while (sigwait(&stop_signals, &sig) != 0)
        ;
    grove_log(GROVE_LOG_INFO, "received %s, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    exit_code = 0;

done:
    /* Order matters: no new rounds, then wake streams and refuse new calls,
     * then close the sockets (joining in-flight calls), then the store. */
    if (syncer) {
        grove_syncer_stop(syncer);
        grove_syncer_free(syncer);
    }
    if (server)
        grove_server_shutdown(server);
    for (size_t i = listener_count; i > 0; i--)
        grove_listener_close(listeners[i - 1]);
    grove_server_free(server);
    grove_store_close(store);
    grove_schema_free(schema);
    if (exit_code == 0)
        grove_log(GROVE_LOG_INFO, "stopped");
    return exit_code;
}
