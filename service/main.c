/* groved: runs one sync node in the foreground. It serves the sync protocol
 * on every --listen URL and syncs with every --peer URL, until SIGTERM or
 * SIGINT, then shuts down without losing acknowledged writes (a push is only
 * answered after its transaction committed). SIGHUP reopens the audit log
 * (docs/hooks.md); the settings are read only at start. */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>

#include "config.h"
#include "grove/log.h"
#include "grove/node.h"
#include "grove/transport.h"
#include "grove/version.h"
#include "hooks.h"
#include "transports.h"

#ifdef GROVED_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

_Static_assert(GROVED_MAX_URLS <= GROVE_NODE_LISTENERS_MAX, "every --listen fits in a grove_node");

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

/* Tells systemd how start-up and shutdown go (groved.service is Type=notify);
 * nothing happens when NOTIFY_SOCKET is unset, as outside systemd. */
static void groved_notify(const char *state)
{
#ifdef GROVED_HAVE_SYSTEMD
    sd_notify(0, state);
#else
    (void)state;
#endif
}

/* SIGHUP: logrotate renamed the audit log; write on in a new file at its path. */
static void groved_reopen(struct groved_hooks *hooks)
{
    const char *path = groved_hooks_audit_path(hooks);
    if (!path)
        grove_log(GROVE_LOG_INFO, "received SIGHUP: no audit log to reopen (settings are read "
                                  "only at start)");
    else if (groved_hooks_reopen(hooks) != GROVE_OK)
        grove_log(GROVE_LOG_ERROR, "received SIGHUP: %s; still writing to the old file",
                  grove_errmsg());
    else
        grove_log(GROVE_LOG_INFO, "received SIGHUP: reopened the audit log %s", path);
}

int main(int argc, char **argv)
{
    struct groved_config cfg = {0};
    struct grove_schema *schema = NULL;
    struct grove_node node = {0};
    struct groved_hooks *hooks = NULL;
    int exit_code = GROVED_EXIT_USAGE;
    grove_err err;

    grove_log_set_level(GROVE_LOG_INFO);
    err = groved_register_transports();
    if (err) {
        fprintf(stderr, "groved: cannot register transports: %s\n", grove_errmsg());
        return 1;
    }
    switch (groved_config_load(&cfg, argc, argv)) {
    case GROVED_CONFIG_OK:
        break;
    case GROVED_CONFIG_HELP:
        groved_config_usage(stdout);
        groved_config_free(&cfg);
        return 0;
    case GROVED_CONFIG_VERSION:
        printf("groved %s\n", GROVE_VERSION);
        groved_config_free(&cfg);
        return 0;
    case GROVED_CONFIG_INVALID:
        fprintf(stderr, "groved: %s\n(see groved --help)\n", grove_errmsg());
        goto done;
    }
    grove_log_set_level(cfg.log_level);
    groved_config_log_sources(&cfg);

    /* Signals are taken by sigwait in this thread only: every thread started
     * below (a plugin's too) inherits the mask. A peer closing a socket must
     * not kill us. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    err = grove_schema_new(&schema);
    for (size_t i = 0; !err && i < cfg.tables.count; i++) {
        err = grove_schema_parse(schema, cfg.tables.items[i]);
        if (err)
            fprintf(stderr, "groved: %s\n", grove_errmsg()); /* names the spec */
    }
    if (err)
        goto done;
    err = groved_hooks_open(&hooks, &(struct groved_hooks_options){
                                        .hooks = &cfg.hooks,
                                        .server_hooks = &cfg.server_hooks,
                                        .audit_log = cfg.audit_log,
                                        .audit_log_where = cfg.audit_log_where,
                                        .rate_limit = cfg.rate_limit,
                                    });
    if (err) {
        fprintf(stderr, "groved: %s\n", grove_errmsg()); /* names the setting and the plugin */
        goto done;
    }

    struct grove_listen_options listen_opts = {
        .token = cfg.token,
        .cert_file = cfg.tls_cert,
        .key_file = cfg.tls_key,
        .ca_file = cfg.tls_client_ca,
        .max_body = cfg.max_body,
        .cors_origins = cfg.cors_origins.items,
        .cors_origin_count = cfg.cors_origins.count,
    };
    struct grove_dial_options dial_opts = {
        .token = cfg.peer_token,
        .ca_file = cfg.tls_ca,
        .insecure = cfg.tls_insecure,
    };
    struct grove_node_listener listeners[GROVED_MAX_URLS];
    struct grove_node_peer peers[GROVED_MAX_URLS];
    for (size_t i = 0; i < cfg.listen.count; i++)
        listeners[i] = (struct grove_node_listener){cfg.listen.items[i], &listen_opts};
    for (size_t i = 0; i < cfg.peers.count; i++)
        peers[i] = (struct grove_node_peer){cfg.peers.items[i], &dial_opts};
    struct grove_node_options node_opts = {
        .store = {.path = cfg.db, .node_id = cfg.node_id, .schema = schema},
        .listeners = listeners,
        .listener_count = cfg.listen.count,
        .server = {.counter_deltas = cfg.counter_deltas, .hooks = groved_hooks_server(hooks)},
        .syncer = {.interval_ms = cfg.interval_ms,
                   .stream = cfg.stream,
                   .hooks = groved_hooks_node(hooks)},
        .peers = peers,
        .peer_count = cfg.peers.count,
        .start_syncer = true,
        .report_fn = groved_report,
    };
    err = grove_node_open(&node, &node_opts);
    if (err) {
        fprintf(stderr, "groved: %s\n", grove_errmsg()); /* names the path or the URL */
        goto done;
    }
    for (size_t i = 0; i < cfg.listen.count; i++)
        grove_log(GROVE_LOG_INFO, "listening on %s", cfg.listen.items[i]);
    for (size_t i = 0; i < cfg.peers.count; i++)
        grove_log(GROVE_LOG_INFO, "peer %s", cfg.peers.items[i]);
    grove_log(GROVE_LOG_INFO, "ready node=%s db=%s", cfg.node_id, cfg.db);
    groved_notify("READY=1");

    int sig = 0;
    for (;;) {
        if (sigwait(&signals, &sig) != 0)
            continue;
        if (sig != SIGHUP)
            break;
        groved_reopen(hooks);
    }
    grove_log(GROVE_LOG_INFO, "received %s, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    groved_notify("STOPPING=1");
    exit_code = 0;

done:
    grove_node_close(&node);   /* syncer, server, listeners, store: nothing acknowledged is lost */
    groved_hooks_close(hooks); /* after the node: no hook runs any more */
    grove_schema_free(schema);
    groved_config_free(&cfg);
    if (exit_code == 0)
        grove_log(GROVE_LOG_INFO, "stopped");
    return exit_code;
}
