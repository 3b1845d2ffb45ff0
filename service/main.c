/* groved: runs one sync node in the foreground. It serves the sync protocol
 * on every --listen URL and syncs with every --peer URL, until SIGTERM or
 * SIGINT, then shuts down without losing acknowledged writes (a push is only
 * answered after its transaction committed). SIGHUP reopens the audit log
 * (docs/hooks.md) and reloads the config file (docs/operations.md). A node
 * opened on a backup catches up from its peers before it listens. */
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "config.h"
#include "grove/admin.h"
#include "grove/log.h"
#include "grove/node.h"
#include "grove/sys/error.h"
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
    char message[300] = "";
    if (r->err) {
        char quoted[290];
        snprintf(message, sizeof message, " message=%s",
                 grove_log_quote(quoted, sizeof quoted, r->error));
    }
    grove_log_kv(level, "sync",
                 "peer=%s pulled=%" PRIu64 " pushed=%" PRIu64 " merged=%" PRIu64
                 " conflicts=%" PRIu64 " error=%s duration_ms=%.1f%s",
                 r->peer, r->pulled, r->pushed, r->merged, r->conflicts,
                 r->err ? grove_err_name(r->err) : "none", (double)r->duration_us / 1000.0,
                 message);
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

/* Every connection is a descriptor, three when it goes through the HTTP
 * listener's relay (all but a stream's, and every https one:
 * transport_http/http_relay.c): the soft limit goes as high as the hard one
 * allows, and the log says what that leaves for connections. */
static void groved_raise_nofile(unsigned max_connections)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t had = rl.rlim_cur;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            rl.rlim_cur = had;
    }
    /* Room for the store, logs and peers beside the connections. */
    unsigned long long room = rl.rlim_cur == RLIM_INFINITY ? ULLONG_MAX : rl.rlim_cur;
    if (room < 3ull * max_connections + 64)
        grove_log_kv(GROVE_LOG_WARN, "open files",
                     "limit=%llu was=%llu max_connections=%u note=\"below three per connection"
                     " (HTTP requests other than streams pass through a socketpair): connections"
                     " past the limit are refused\"",
                     room, (unsigned long long)had, max_connections);
    else
        grove_log_kv(GROVE_LOG_INFO, "open files", "limit=%llu was=%llu max_connections=%u", room,
                     (unsigned long long)had, max_connections);
}

/* SIGHUP: logrotate renamed the audit log; write on in a new file at its path. */
static void groved_reopen(struct groved_hooks *hooks)
{
    const char *path = groved_hooks_audit_path(hooks);
    if (!path)
        return;
    if (groved_hooks_reopen(hooks) != GROVE_OK)
        grove_log(GROVE_LOG_ERROR, "received SIGHUP: %s; still writing to the old file",
                  grove_errmsg());
    else
        grove_log(GROVE_LOG_INFO, "received SIGHUP: reopened the audit log %s", path);
}

static bool groved_same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool groved_same_list(const struct groved_list *a, const struct groved_list *b)
{
    if (a->count != b->count)
        return false;
    for (size_t i = 0; i < a->count; i++)
        if (strcmp(a->items[i], b->items[i]) != 0)
            return false;
    return true;
}

/* One line per peer, with what is synced with it when not everything. */
static void groved_log_peers(const struct groved_config *cfg)
{
    for (size_t i = 0; i < cfg->peers.count; i++) {
        const struct groved_peer_scope *scope = &cfg->peer_scopes[i];
        char tables[512] = "*";
        for (size_t t = 0, used = 0; t < scope->table_count && used < sizeof tables; t++)
            used += (size_t)snprintf(tables + used, sizeof tables - used, "%s%s", t ? "," : "",
                                     scope->tables[t]);
        char prefix[300];
        grove_log_kv(GROVE_LOG_INFO, "peer", "url=%s tables=%s prefix=%s", cfg->peers.items[i],
                     tables,
                     grove_log_quote(prefix, sizeof prefix, scope->prefix ? scope->prefix : ""));
    }
}

/* The same peers with the same options (a peer line's tables= or prefix=). */
static bool groved_same_peers(const struct groved_config *a, const struct groved_config *b)
{
    if (!groved_same_list(&a->peers, &b->peers))
        return false;
    for (size_t i = 0; i < a->peers.count; i++)
        if (strcmp(a->peer_scopes[i].spec, b->peer_scopes[i].spec) != 0)
            return false;
    return true;
}

/* What a reload needs: the command line to read again, the parts it
 * changes, and every config read so far (hooks and the syncer point into
 * their strings, so they live until exit). */
struct groved_kept {
    struct groved_config cfg;
    struct groved_kept *next;
};

struct groved_reload {
    int argc;
    char **argv;
    struct grove_node *node;
    struct grove_admin *admin;
    const struct grove_hook_chain *node_hooks;
    const struct groved_config *current;
    struct groved_kept *kept;
};

/* A syncer with cfg's peers, peer token and interval, not started. */
static grove_err groved_syncer_open(const struct groved_config *cfg, struct grove_store *store,
                                    const struct grove_hook_chain *hooks, struct grove_syncer **out)
{
    struct grove_syncer_options opts = {
        .interval_ms = cfg->interval_ms, .stream = cfg->stream, .hooks = hooks};
    struct grove_dial_options dial = {
        .token = cfg->peer_token, .ca_file = cfg->tls_ca, .insecure = cfg->tls_insecure};
    grove_err err = grove_syncer_new(out, store, &opts);
    for (size_t i = 0; !err && i < cfg->peers.count; i++) {
        struct grove_sync_scope scope = groved_peer_sync_scope(&cfg->peer_scopes[i]);
        if ((err = grove_syncer_add_peer_scoped(*out, cfg->peers.items[i], &dial, &scope)))
            grove_error_prefix(err, "peer %s: ", cfg->peers.items[i]);
    }
    if (err) {
        grove_syncer_free(*out);
        *out = NULL;
    }
    return err;
}

/* The listeners' identities (and tokens), for requests from now on, on
 * every transport; open streams go on with the identity they were opened
 * by. Secrets are read again, so a rotated secret file takes effect. */
static void groved_reload_access(struct grove_node *node, struct grove_access *access)
{
    size_t swapped = 0;
    for (size_t i = 0; i < node->listener_count; i++)
        if (node->listeners[i]) {
            grove_listener_set_access(node->listeners[i], access);
            swapped++;
        }
    grove_log_kv(GROVE_LOG_INFO, "identities reloaded", "listeners=%zu identities=%zu", swapped,
                 grove_access_count(access));
}

static void groved_reload_refused(void)
{
    char quoted[1100];
    grove_log_kv(GROVE_LOG_ERROR, "reload refused: the old settings stay", "error=%s",
                 grove_log_quote(quoted, sizeof quoted, grove_errmsg()));
}

/* SIGHUP: reads every source again (the same flags and environment, the
 * file anew). A bad file is refused with its located error and nothing
 * changes. A good one applies the log level and format and the interval at
 * once; changed peers or peer token replace the syncer (its rounds stop
 * and the new one starts from the cursors in the store; listeners and the
 * streams they serve stay). Identities and tokens go to every listener. */
static void groved_reload(struct groved_reload *st)
{
    struct groved_kept *kept = calloc(1, sizeof *kept);
    if (!kept) {
        grove_log(GROVE_LOG_ERROR, "reload refused: out of memory");
        return;
    }
    struct groved_config *fresh = &kept->cfg;
    const struct groved_config *cur = st->current;
    struct grove_node *node = st->node;
    if (groved_config_load(fresh, st->argc, st->argv) != GROVED_CONFIG_OK) {
        groved_reload_refused();
        groved_config_free(fresh);
        free(kept);
        return;
    }
    struct grove_access *access = NULL;
    if (groved_config_access(fresh, &access)) {
        groved_reload_refused();
        groved_config_free(fresh);
        free(kept);
        return;
    }
    bool new_peers =
        !groved_same_peers(cur, fresh) || !groved_same(cur->peer_token, fresh->peer_token);
    struct grove_syncer *syncer = NULL;
    if (new_peers && groved_syncer_open(fresh, node->store, st->node_hooks, &syncer)) {
        groved_reload_refused();
        grove_access_unref(access);
        groved_config_free(fresh);
        free(kept);
        return;
    }
    grove_log_set_level(fresh->log_level);
    grove_log_set_format(fresh->log_format);
    if (new_peers) {
        grove_syncer_free(grove_admin_swap_syncer(st->admin, syncer)); /* stops its rounds */
        if (grove_syncer_start(syncer, groved_report, NULL))
            grove_log(GROVE_LOG_ERROR, "reload: cannot start the syncer: %s", grove_errmsg());
        groved_log_peers(fresh);
    } else if (node->syncer) {
        grove_syncer_set_interval(node->syncer, fresh->interval_ms);
    }
    grove_log_kv(GROVE_LOG_INFO, "reloaded",
                 "file=%s log_level=%d interval_ms=%d peers=%zu peers_changed=%s",
                 fresh->file ? fresh->file : "none", (int)fresh->log_level, fresh->interval_ms,
                 fresh->peers.count, new_peers ? "true" : "false");
    groved_reload_access(node, access);
    grove_access_unref(access);
    kept->next = st->kept;
    st->kept = kept;
    st->current = fresh;
}

/* A store opened on a backup (grove_store_backup) lacks what the node did
 * after the copy; its peers have it. Pull it back from every peer before
 * serving, for at most GROVED_CATCH_UP_S; the mark stays for the next
 * start when a peer could not be reached. */
#define GROVED_CATCH_UP_S 60

static void groved_catch_up(struct grove_node *node)
{
    char when[40] = "";
    if (!grove_store_restored(node->store, when, sizeof when))
        return;
    size_t count = node->syncer ? grove_syncer_peer_count(node->syncer) : 0;
    grove_log_kv(GROVE_LOG_INFO, "restored from a backup: catching up before serving",
                 "backup_time=%s peers=%zu", when, count);
    bool done[GROVED_MAX_URLS] = {0};
    size_t left = count;
    time_t deadline = time(NULL) + GROVED_CATCH_UP_S;
    while (left > 0 && time(NULL) < deadline) {
        for (size_t i = 0; i < count; i++) {
            struct grove_sync_report r;
            if (done[i] || grove_syncer_sync_peer(node->syncer, i, &r) != GROVE_OK)
                continue;
            groved_report(NULL, &r);
            if (!r.err) {
                done[i] = true;
                left--;
            }
        }
        if (left > 0)
            nanosleep(&(struct timespec){1, 0}, NULL);
    }
    if (left == 0 && grove_store_clear_restored(node->store) == GROVE_OK)
        grove_log_kv(GROVE_LOG_INFO, "caught up", "peers=%zu", count);
    else
        grove_log_kv(GROVE_LOG_WARN,
                     "serving before every peer was reached; a write the old "
                     "node made may come back only when they are",
                     "peers_left=%zu", left);
}

/* Whether the store at path is a backup not yet caught up: read from a
 * store opened and closed here (false when it cannot be opened: the node's
 * own open then says why). */
static bool groved_store_restored(const char *path, const char *node_id,
                                  const struct grove_schema *schema)
{
    struct grove_store *store = NULL;
    struct grove_store_options opts = {.path = path, .node_id = node_id, .schema = schema};
    bool restored =
        grove_store_open(&store, &opts) == GROVE_OK && grove_store_restored(store, NULL, 0);
    grove_store_close(store);
    return restored;
}

/* Syncer, server, listeners, store: nothing acknowledged is lost. The
 * syncer is taken from the admin API first, under its lock, so an admin
 * sync still running (POST /v1/sync) ends before the syncer is freed. */
static void groved_close_node(struct grove_node *node, struct grove_admin *admin)
{
    if (admin)
        grove_syncer_free(grove_admin_swap_syncer(admin, NULL));
    grove_node_close(node);
}

int main(int argc, char **argv)
{
    struct groved_config cfg = {0};
    struct grove_schema *schema = NULL;
    struct grove_node node = {0};
    struct groved_hooks *hooks = NULL;
    struct grove_admin *admin = NULL;
    struct grove_access *access = NULL;
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
    grove_log_set_format(cfg.log_format);
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
    groved_raise_nofile(cfg.max_connections ? cfg.max_connections : GROVE_LISTEN_MAX_CONNECTIONS);

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

    err = grove_admin_new(&admin, &node,
                          &(struct grove_admin_options){.version = GROVE_VERSION,
                                                        .listeners = cfg.listen.items,
                                                        .listener_count = cfg.listen.count,
                                                        .admin_listener = cfg.admin_listen});
    if (err) {
        fprintf(stderr, "groved: %s\n", grove_errmsg());
        goto done;
    }
    if ((err = groved_config_access(&cfg, &access))) {
        fprintf(stderr, "groved: %s\n", grove_errmsg());
        goto done;
    }
    struct grove_listen_options listen_opts = {
        .access = access,
        .admin = admin,
        .admin_token = cfg.admin_token,
        .token = cfg.token,
        .cert_file = cfg.tls_cert,
        .key_file = cfg.tls_key,
        .ca_file = cfg.tls_client_ca,
        .max_body = cfg.max_body,
        .max_connections = cfg.max_connections,
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
    struct grove_sync_scope scopes[GROVED_MAX_URLS];
    for (size_t i = 0; i < cfg.listen.count; i++)
        listeners[i] = (struct grove_node_listener){cfg.listen.items[i], &listen_opts};
    for (size_t i = 0; i < cfg.peers.count; i++) {
        scopes[i] = groved_peer_sync_scope(&cfg.peer_scopes[i]);
        peers[i] = (struct grove_node_peer){cfg.peers.items[i], &dial_opts, &scopes[i]};
    }
    /* Listeners open after the catch-up of a restored store: until then it
     * takes no write. Its mark is read from the store before the node opens. */
    bool restored = groved_store_restored(cfg.db, cfg.node_id, schema);
    struct grove_node_options node_opts = {
        .store = {.path = cfg.db,
                  .node_id = cfg.node_id,
                  .schema = schema,
                  .readers = cfg.store_readers,
                  .recent_bytes = cfg.store_recent_bytes},
        .serve = true,
        .listeners = listeners,
        .listener_count = restored ? 0 : cfg.listen.count,
        .server = {.counter_deltas = cfg.counter_deltas, .hooks = groved_hooks_server(hooks)},
        .syncer = {.interval_ms = cfg.interval_ms,
                   .stream = cfg.stream,
                   .hooks = groved_hooks_node(hooks)},
        .peers = peers,
        .peer_count = cfg.peers.count,
        .start_syncer = !restored,
        .report_fn = groved_report,
    };
    err = grove_node_open(&node, &node_opts);
    if (!err && restored) {
        groved_catch_up(&node);
        for (size_t i = 0; !err && i < cfg.listen.count; i++)
            err = grove_node_listen(&node, cfg.listen.items[i], &listen_opts);
        if (!err && node.syncer)
            err = grove_syncer_start(node.syncer, groved_report, NULL);
    }
    if (!err && cfg.admin_listen) {
        struct grove_listen_options admin_opts = listen_opts;
        admin_opts.admin_only = true;
        admin_opts.cors_origin_count = 0;
        err = grove_node_listen(&node, cfg.admin_listen, &admin_opts);
        if (err)
            grove_error_prefix(err, "admin-listen %s: ", cfg.admin_listen);
    }
    if (err) {
        fprintf(stderr, "groved: %s\n", grove_errmsg()); /* names the path or the URL */
        goto done;
    }
    for (size_t i = 0; i < cfg.listen.count; i++)
        grove_log_kv(GROVE_LOG_INFO, "listening", "url=%s", cfg.listen.items[i]);
    if (cfg.admin_listen)
        grove_log_kv(GROVE_LOG_INFO, "listening", "url=%s admin=true", cfg.admin_listen);
    groved_log_peers(&cfg);
    grove_log_kv(GROVE_LOG_INFO, "ready", "node=%s db=%s", cfg.node_id, cfg.db);
    groved_notify("READY=1");

    struct groved_reload reload = {.argc = argc,
                                   .argv = argv,
                                   .node = &node,
                                   .admin = admin,
                                   .node_hooks = groved_hooks_node(hooks),
                                   .current = &cfg};
    int sig = 0;
    for (;;) {
        if (sigwait(&signals, &sig) != 0)
            continue;
        if (sig != SIGHUP)
            break;
        groved_notify("RELOADING=1");
        groved_reopen(hooks);
        groved_reload(&reload);
        groved_notify("READY=1");
    }
    grove_log_kv(GROVE_LOG_INFO, "shutting down", "signal=%s",
                 sig == SIGINT ? "SIGINT" : "SIGTERM");
    groved_notify("STOPPING=1");
    exit_code = 0;
    groved_close_node(&node, admin); /* before the configs the syncer points into */
    for (struct groved_kept *k = reload.kept, *next; k; k = next) {
        next = k->next;
        groved_config_free(&k->cfg);
        free(k);
    }

done:
    groved_close_node(&node, admin);
    groved_hooks_close(hooks); /* after the node: no hook runs any more */
    grove_admin_free(admin);
    grove_access_unref(access);
    grove_schema_free(schema);
    groved_config_free(&cfg);
    if (exit_code == 0)
        grove_log(GROVE_LOG_INFO, "stopped");
    return exit_code;
}
