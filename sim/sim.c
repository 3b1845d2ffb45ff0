/* grove-sim: N nodes in one process, each with its own SQLite store, served
 * over inproc and linked by a topology through the fault shim. Random local
 * operations interleave with random sync rounds under injected faults; then
 * the links heal, the nodes sync to quiescence, and every replica must equal
 * every other and the reference model (sim_model.c). */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "grove/grove.h"
#include "grove/transport_faults.h"
#include "grove/sys/error.h"
#include "sim_model.h"

enum { SIM_NODES_MAX = 64 };

enum sim_topology { TOPO_HUB, TOPO_P2P, TOPO_CHAIN, TOPO_RING, TOPO_RANDOM };
static const char *const sim_topology_names[] = {"hub", "p2p", "chain", "ring", "random"};

enum {
    FAULT_DROP = 1 << 0,
    FAULT_DUP = 1 << 1,
    FAULT_DELAY = 1 << 2,
    FAULT_REORDER = 1 << 3,
    FAULT_LOST_REPLY = 1 << 4,
    FAULT_RESTART = 1 << 5,
    FAULT_PARTITION = 1 << 6,
};
static const struct {
    const char *name;
    int bit;
} sim_fault_names[] = {
    {"drop", FAULT_DROP},
    {"dup", FAULT_DUP},
    {"delay", FAULT_DELAY},
    {"reorder", FAULT_REORDER},
    {"lost-reply", FAULT_LOST_REPLY},
    {"restart", FAULT_RESTART},
    {"partition", FAULT_PARTITION},
};

/* One syncer peer of a node: the node it dials and the fault link URL. */
struct sim_link {
    int to;
    char url[128];
    char stream_url[128]; /* a separate fault link for streamed batches */
};

struct sim_node {
    char name[16];
    char path[PATH_MAX];
    char listen_url[64];
    struct grove_node node; /* its one listener serves listen_url */
    struct sim_link links[SIM_NODES_MAX];
    size_t link_count;
    int down_steps; /* > 0 while restarting */
};

struct sim_partition {
    int u, v;
    int steps_left;
};

struct sim_stats {
    uint64_t sets, increments, adds, removes, deletes, unrecorded;
    uint64_t rounds, heal_rounds, streams, stream_batches;
    uint64_t pulled, pushed, merged, conflicts, sync_errors, heal_errors;
    uint64_t restarts, partitions;
    uint64_t rows_checked, rows_visible;
};

struct sim {
    int nodes;
    enum sim_topology topology;
    long ops;
    uint64_t seed;
    int faults;
    int tables;
    enum grove_sync_mode mode;
    bool verbose;
    bool keep;
    bool threads;       /* background syncer loops and streams instead of explicit rounds */
    bool loops_running; /* start the loops when a node (re)opens */

    uint64_t rng;
    char dir[256];
    struct grove_schema *schema;
    const char *table_names[SIM_TABLES_MAX];
    char table_text[SIM_TABLES_MAX][16];
    struct grove_syncer_options syncer_opts;
    struct sim_node node[SIM_NODES_MAX];
    struct sim_model *model;
    struct sim_partition parts[SIM_NODES_MAX];
    int part_count;
    struct sim_stats st;
};

static uint64_t sim_next(struct sim *s)
{
    uint64_t z = (s->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int sim_rand(struct sim *s, int n)
{
    return (int)(sim_next(s) % (uint64_t)n);
}

static bool sim_chance(struct sim *s, double p)
{
    return (double)(sim_next(s) >> 11) / (double)(1ULL << 53) < p;
}

static void sim_fail(const char *what)
{
    fprintf(stderr, "grove-sim: %s: %s\n", what, grove_errmsg());
}

/* ---- node life cycle -------------------------------------------------- */

static pthread_mutex_t sim_report_lock = PTHREAD_MUTEX_INITIALIZER;

/* Background rounds (--threads) report here, from the syncers' threads. */
static void sim_on_report(void *user, const struct grove_sync_report *r)
{
    struct sim *s = user;
    pthread_mutex_lock(&sim_report_lock);
    s->st.rounds++;
    s->st.pulled += r->pulled;
    s->st.pushed += r->pushed;
    s->st.merged += r->merged;
    s->st.conflicts += r->conflicts;
    s->st.sync_errors += r->err != GROVE_OK;
    pthread_mutex_unlock(&sim_report_lock);
}

static grove_err sim_node_open(struct sim *s, int i)
{
    struct sim_node *n = &s->node[i];
    /* Peers in the same order every time: cursors are keyed by URL anyway. */
    struct grove_dial_options dopts = {.timeout_ms = 5000};
    struct grove_node_peer peers[SIM_NODES_MAX];
    for (size_t l = 0; l < n->link_count; l++)
        peers[l] = (struct grove_node_peer){.url = n->links[l].url, .opts = &dopts};
    struct grove_node_listener listener = {n->listen_url, NULL};
    struct grove_node_options o = {
        .store = {.path = n->path, .node_id = n->name, .schema = s->schema},
        .listeners = &listener,
        .listener_count = 1,
        .sync = true, /* every node has a syncer, links or not: sim_heal stops each one */
        .syncer = s->syncer_opts,
        .peers = peers,
        .peer_count = n->link_count,
        .start_syncer = s->loops_running,
        .report_fn = sim_on_report,
        .report_user = s,
    };
    grove_err err = grove_node_open(&n->node, &o);
    if (err)
        grove_error_prefix(err, "node %s: ", n->name);
    return err;
}

static bool sim_node_up(const struct sim_node *n)
{
    return n->node.store != NULL;
}

/* ---- topology --------------------------------------------------------- */

static void sim_edges(struct sim *s, bool edge[SIM_NODES_MAX][SIM_NODES_MAX])
{
    int n = s->nodes;
    memset(edge, 0, sizeof(bool) * SIM_NODES_MAX * SIM_NODES_MAX);
    for (int i = 0; i < n; i++) {
        for (int j = i + 1; j < n; j++) {
            bool e = false;
            switch (s->topology) {
            case TOPO_HUB:
                e = i == 0;
                break;
            case TOPO_P2P:
                e = true;
                break;
            case TOPO_CHAIN:
                e = j == i + 1;
                break;
            case TOPO_RING:
                e = j == i + 1 || (i == 0 && j == n - 1 && n > 2);
                break;
            case TOPO_RANDOM:
                break;
            }
            edge[i][j] = edge[j][i] = e;
        }
    }
    if (s->topology == TOPO_RANDOM) {
        /* A random spanning tree keeps it connected; a few extra edges add cycles. */
        for (int j = 1; j < n; j++) {
            int i = sim_rand(s, j);
            edge[i][j] = edge[j][i] = true;
        }
        for (int k = 0; k < n / 2; k++) {
            int i = sim_rand(s, n), j = sim_rand(s, n);
            if (i != j)
                edge[i][j] = edge[j][i] = true;
        }
    }
}

/* Who runs the syncer on each edge. With both directions a node that only
 * pulls (or only pushes) would never learn what its passive peer knows, so
 * pull-only and push-only runs dial both ways. */
static void sim_links(struct sim *s)
{
    bool edge[SIM_NODES_MAX][SIM_NODES_MAX];
    sim_edges(s, edge);
    for (int u = 0; u < s->nodes; u++) {
        for (int v = u + 1; v < s->nodes; v++) {
            if (!edge[u][v])
                continue;
            int who = s->mode == GROVE_SYNC_BOTH ? sim_rand(s, 3) : 2;
            int from[2] = {u, v}, to[2] = {v, u};
            for (int k = 0; k < 2; k++) {
                if (who != 2 && who != k)
                    continue;
                struct sim_node *n = &s->node[from[k]];
                struct sim_link *l = &n->links[n->link_count++];
                char target[64], self[16]; /* copies: snprintf into s from s */
                memcpy(target, s->node[to[k]].listen_url, sizeof target);
                memcpy(self, n->name, sizeof self);
                l->to = to[k];
                snprintf(l->url, sizeof l->url, "%s%s#%s", GROVE_FAULTS_PREFIX, target, self);
                snprintf(l->stream_url, sizeof l->stream_url, "%s%s#%s~stream", GROVE_FAULTS_PREFIX,
                         target, self);
            }
        }
    }
}

static struct grove_faults sim_fault_settings(const struct sim *s)
{
    struct grove_faults f = {.seed = s->seed};
    if (s->faults & FAULT_DROP)
        f.drop = 0.1, f.stream_drop = 0.1;
    if (s->faults & FAULT_LOST_REPLY)
        f.lost_reply = 0.1;
    if (s->faults & FAULT_DUP)
        f.duplicate = 0.2, f.stream_dup = 0.2;
    if (s->faults & FAULT_DELAY)
        f.delay = 0.05, f.max_delay_ms = 2;
    if (s->faults & FAULT_REORDER)
        f.stream_reorder = 0.4;
    return f;
}

static void sim_set_faults(struct sim *s, bool on)
{
    struct grove_faults f = {.seed = s->seed};
    if (on)
        f = sim_fault_settings(s);
    for (int i = 0; i < s->nodes; i++) {
        for (size_t l = 0; l < s->node[i].link_count; l++) {
            grove_faults_set(s->node[i].links[l].url, &f);
            grove_faults_set(s->node[i].links[l].stream_url, &f);
        }
    }
}

/* Every link between u and v, both directions. */
static void sim_partition_links(struct sim *s, int u, int v, bool on)
{
    int a[2] = {u, v}, b[2] = {v, u};
    for (int k = 0; k < 2; k++) {
        struct sim_node *n = &s->node[a[k]];
        for (size_t l = 0; l < n->link_count; l++) {
            if (n->links[l].to == b[k]) {
                grove_faults_partition(n->links[l].url, on);
                grove_faults_partition(n->links[l].stream_url, on);
            }
        }
    }
}

/* ---- operations ------------------------------------------------------- */

static void sim_value(struct sim *s, char *buf, size_t size)
{
    int k = sim_rand(s, 1000);
    switch (sim_rand(s, 8)) {
    case 0:
        snprintf(buf, size, "%d", k - 500);
        break;
    case 1:
        snprintf(buf, size, "\"v%d\"", k);
        break;
    case 2:
        snprintf(buf, size, "{\"z\":%d,\"a\":[1,\"x\"]}", k);
        break;
    case 3:
        snprintf(buf, size, "%d.50", k);
        break;
    case 4:
        snprintf(buf, size, "1e%d", k % 300);
        break;
    case 5:
        snprintf(buf, size, "\"caf\\u00e9 %d\"", k);
        break;
    case 6:
        snprintf(buf, size, "%s", k % 2 ? "true" : "false");
        break;
    default:
        snprintf(buf, size, "[%d, {\"q\": null}]", k);
        break;
    }
}

/* The HLC the store stamped on the change a local write just made to
 * table/pk. The write API does not return it, so read back what arrived
 * after `before`: the newest change of that row made by this node (remote
 * changes may be merged meanwhile by background syncers). */
static bool sim_stamp(struct sim_node *n, const struct grove_hlc *before, const char *table,
                      const char *pk, struct grove_hlc *out)
{
    struct grove_store_query q = {.since = *before, .limit = 1000};
    bool found = false, more = true;
    while (more) {
        struct grove_pull_response *r = NULL;
        if (grove_store_changes(n->node.store, &q, &r) != GROVE_OK) {
            sim_fail("reading back a local write");
            return false;
        }
        for (size_t i = 0; i < r->count; i++) {
            const struct grove_change *c = &r->changes[i];
            if (strcmp(c->node_id, n->name) == 0 && strcmp(c->table, table) == 0 &&
                strcmp(c->pk, pk) == 0 && (!found || grove_hlc_compare(&c->hlc, out) > 0)) {
                *out = c->hlc;
                found = true;
            }
        }
        more = r->has_more;
        q.since = r->latest_hlc;
        grove_pull_response_free(r);
    }
    return found;
}

static void sim_local_op(struct sim *s)
{
    int up[SIM_NODES_MAX], nup = 0;
    for (int i = 0; i < s->nodes; i++)
        if (sim_node_up(&s->node[i]))
            up[nup++] = i;
    if (nup == 0)
        return;
    struct sim_node *n = &s->node[up[sim_rand(s, nup)]];
    int t = sim_rand(s, s->tables), p = sim_rand(s, SIM_PKS);
    const char *table = s->table_names[t];
    char pk[16], value[96];
    snprintf(pk, sizeof pk, "p%d", p);
    struct grove_hlc before, hlc;
    if (grove_store_latest(n->node.store, &before)) {
        sim_fail("grove_store_latest");
        exit(2);
    }
    int kind = sim_rand(s, 100);
    grove_err err;
    if (kind < 35) {
        int f = sim_rand(s, 2); /* a or b */
        sim_value(s, value, sizeof value);
        err = grove_store_set(n->node.store, table, pk, sim_field_names[f], value, strlen(value));
        if (!err && sim_stamp(n, &before, table, pk, &hlc)) {
            sim_model_set(s->model, t, p, f, value, &hlc);
            s->st.sets++;
            return;
        }
    } else if (kind < 55) {
        int64_t delta = sim_rand(s, 2) ? 1 + sim_rand(s, 9) : -(1 + sim_rand(s, 9));
        err = grove_store_increment(n->node.store, table, pk, "n", delta);
        if (!err && sim_stamp(n, &before, table, pk, &hlc)) {
            sim_model_increment(s->model, t, p, 2, delta, &hlc);
            s->st.increments++;
            return;
        }
    } else if (kind < 92) {
        bool add = kind < 75;
        int e = sim_rand(s, SIM_ELEMS);
        const char *el = sim_elems[e];
        err = add ? grove_store_set_add(n->node.store, table, pk, "s", el, strlen(el))
                  : grove_store_set_remove(n->node.store, table, pk, "s", el, strlen(el));
        if (!err && sim_stamp(n, &before, table, pk, &hlc)) {
            sim_model_set_op(s->model, t, p, 3, e, add, &hlc);
            if (add)
                s->st.adds++;
            else
                s->st.removes++;
            return;
        }
    } else {
        err = grove_store_delete(n->node.store, table, pk);
        if (!err && sim_stamp(n, &before, table, pk, &hlc)) {
            sim_model_delete(s->model, t, p, &hlc);
            s->st.deletes++;
            return;
        }
    }
    if (err && err != GROVE_ENOTFOUND) {
        sim_fail("local write");
        exit(2);
    }
    /* A write that stored nothing (deleting a missing row, say) has no
     * stamp; the model must not see it either. */
    s->st.unrecorded++;
}

/* ---- sync ------------------------------------------------------------- */

static void sim_account(struct sim *s, const struct grove_sync_report *r, bool heal)
{
    s->st.pulled += r->pulled;
    s->st.pushed += r->pushed;
    s->st.merged += r->merged;
    s->st.conflicts += r->conflicts;
    if (r->err) {
        if (heal) {
            s->st.heal_errors++;
            fprintf(stderr, "grove-sim: heal: %s: %s\n", r->peer ? r->peer : "?", r->error);
        } else {
            s->st.sync_errors++;
            if (s->verbose)
                fprintf(stderr, "grove-sim: %s: %s\n", r->peer ? r->peer : "?", r->error);
        }
    }
}

/* One call in the run's direction policy: pull, push or both halves. */
static uint64_t sim_sync_link(struct sim *s, int i, size_t l, int how, bool heal)
{
    struct sim_node *n = &s->node[i];
    struct grove_sync_report r;
    memset(&r, 0, sizeof r);
    grove_err err;
    if (how == 0)
        err = grove_syncer_pull_peer(n->node.syncer, l, &r);
    else if (how == 1)
        err = grove_syncer_push_peer(n->node.syncer, l, &r);
    else
        err = grove_syncer_sync_peer(n->node.syncer, l, &r);
    if (err && !r.err) {
        r.err = err;
        snprintf(r.error, sizeof r.error, "%s", grove_errmsg());
    }
    sim_account(s, &r, heal);
    return r.pulled + r.pushed;
}

static int sim_direction(struct sim *s)
{
    if (s->mode == GROVE_SYNC_PULL_ONLY)
        return 0;
    if (s->mode == GROVE_SYNC_PUSH_ONLY)
        return 1;
    return sim_rand(s, 3);
}

struct sim_stream_ctx {
    struct grove_syncer *syncer;
    size_t peer;
    int left;
    atomic_bool stop;
    uint64_t batches;
    grove_err err;
};

static grove_err sim_on_batch(void *user, const struct grove_pull_response *batch)
{
    struct sim_stream_ctx *c = user;
    c->batches++;
    grove_err err = grove_syncer_apply_stream_batch(c->syncer, c->peer, batch);
    if (err && !c->err)
        c->err = err;
    if (--c->left <= 0)
        atomic_store(&c->stop, true);
    return GROVE_OK;
}

static void *sim_stream_watchdog(void *arg)
{
    struct sim_stream_ctx *c = arg;
    struct timespec ms = {.tv_sec = 0, .tv_nsec = 1000000L};
    /* An idle stream has nothing to deliver: end it after ~30 ms. */
    for (int i = 0; i < 30 && !atomic_load(&c->stop); i++)
        nanosleep(&ms, NULL);
    atomic_store(&c->stop, true);
    return NULL;
}

/* A short subscription on one link, its batches (dropped, repeated and
 * reordered by the shim) applied through the syncer's stream path. */
static void sim_stream_step(struct sim *s, int i, size_t l)
{
    struct sim_node *n = &s->node[i];
    struct sim_link *link = &n->links[l];
    struct grove_peer_cursors cur;
    if (grove_store_cursors_get(n->node.store, link->url, &cur)) {
        sim_fail("grove_store_cursors_get");
        return;
    }
    struct grove_peer *peer = NULL;
    struct grove_dial_options dopts = {.timeout_ms = 5000};
    if (grove_peer_open(&peer, link->stream_url, &dopts)) {
        s->st.sync_errors++;
        return;
    }
    if (!grove_peer_can_subscribe(peer)) {
        grove_peer_close(peer);
        return;
    }
    struct grove_pull_request req = {
        .tables = s->table_names,
        .table_count = (size_t)s->tables,
        .since = cur.pull,
        .node_id = n->name,
        .limit = (uint32_t)(1 + sim_rand(s, 5)), /* a backlog comes as several batches */
    };
    struct sim_stream_ctx c = {.syncer = n->node.syncer, .peer = l, .left = 1 + sim_rand(s, 8)};
    atomic_init(&c.stop, false);
    pthread_t watchdog;
    bool timed = pthread_create(&watchdog, NULL, sim_stream_watchdog, &c) == 0;
    if (!timed)
        atomic_store(&c.stop, true);
    grove_err err = grove_peer_subscribe(peer, &req, sim_on_batch, &c, &c.stop);
    atomic_store(&c.stop, true);
    if (timed)
        pthread_join(watchdog, NULL);
    grove_peer_close(peer);
    s->st.streams++;
    s->st.stream_batches += c.batches;
    if (err || c.err) {
        s->st.sync_errors++;
        if (s->verbose)
            fprintf(stderr, "grove-sim: stream %s: %s\n", link->stream_url, grove_errmsg());
    }
}

static void sim_sync_step(struct sim *s)
{
    int i = sim_rand(s, s->nodes);
    struct sim_node *n = &s->node[i];
    if (!sim_node_up(n) || n->link_count == 0)
        return;
    size_t l = (size_t)sim_rand(s, (int)n->link_count);
    s->st.rounds++;
    if ((s->faults & FAULT_REORDER) && s->mode != GROVE_SYNC_PUSH_ONLY && sim_chance(s, 0.1) &&
        s->st.streams < 25) {
        sim_stream_step(s, i, l);
        return;
    }
    sim_sync_link(s, i, l, sim_direction(s), false);
}

/* ---- faults over time ------------------------------------------------- */

static void sim_tick_faults(struct sim *s)
{
    for (int i = 0; i < s->nodes; i++) {
        struct sim_node *n = &s->node[i];
        if (n->down_steps > 0 && --n->down_steps == 0) {
            if (sim_node_open(s, i)) {
                sim_fail("restart");
                exit(2);
            }
        }
    }
    for (int k = 0; k < s->part_count;) {
        if (--s->parts[k].steps_left <= 0) {
            sim_partition_links(s, s->parts[k].u, s->parts[k].v, false);
            s->parts[k] = s->parts[--s->part_count];
        } else {
            k++;
        }
    }
    if ((s->faults & FAULT_RESTART) && sim_chance(s, 0.02)) {
        int i = sim_rand(s, s->nodes);
        if (sim_node_up(&s->node[i])) {
            grove_node_close(&s->node[i].node);
            s->node[i].down_steps = 1 + sim_rand(s, 10);
            s->st.restarts++;
        }
    }
    if ((s->faults & FAULT_PARTITION) && sim_chance(s, 0.03) && s->part_count < SIM_NODES_MAX) {
        int i = sim_rand(s, s->nodes);
        struct sim_node *n = &s->node[i];
        if (n->link_count > 0) {
            int v = n->links[sim_rand(s, (int)n->link_count)].to;
            sim_partition_links(s, i, v, true);
            s->parts[s->part_count++] = (struct sim_partition){i, v, 5 + sim_rand(s, 40)};
            s->st.partitions++;
        }
    }
}

static void sim_heal(struct sim *s)
{
    s->loops_running = false;
    for (int i = 0; i < s->nodes; i++)
        if (sim_node_up(&s->node[i]))
            grove_syncer_stop(s->node[i].node.syncer);
    sim_set_faults(s, false);
    s->part_count = 0;
    for (int i = 0; i < s->nodes; i++) {
        if (!sim_node_up(&s->node[i])) {
            s->node[i].down_steps = 0;
            if (sim_node_open(s, i)) {
                sim_fail("restart");
                exit(2);
            }
        }
    }
}

/* Full rounds over every link until one moves nothing. */
static bool sim_quiesce(struct sim *s)
{
    int max_rounds = 20 + 4 * s->nodes;
    int how = s->mode == GROVE_SYNC_PULL_ONLY ? 0 : s->mode == GROVE_SYNC_PUSH_ONLY ? 1 : 2;
    for (int round = 0; round < max_rounds; round++) {
        uint64_t moved = 0;
        uint64_t errors = s->st.heal_errors;
        s->st.heal_rounds++;
        for (int i = 0; i < s->nodes; i++)
            for (size_t l = 0; l < s->node[i].link_count; l++)
                moved += sim_sync_link(s, i, l, how, true);
        if (moved == 0 && errors == s->st.heal_errors)
            return true;
    }
    return false;
}

/* ---- checking --------------------------------------------------------- */

/* The whole table through grove_data_list, paging with a small limit, as
 * {"pk":..,"fields":..} objects joined by commas. */
static char *sim_list_table(struct sim_node *n, const char *table)
{
    struct grove_buf all = {0};
    struct grove_list_query q = {.table = table, .limit = 2};
    char *after = NULL;
    for (;;) {
        struct grove_row_page *page;
        q.after = after;
        if (grove_data_list(n->node.store, &q, &page)) {
            sim_fail("grove_data_list");
            break;
        }
        for (size_t i = 0; i < page->count; i++) {
            const struct grove_row_entry *e = &page->rows[i];
            if ((all.len && grove_buf_append(&all, ",", 1)) ||
                grove_buf_append(&all, "{\"pk\":", 6) ||
                grove_json_encode_string(e->pk, strlen(e->pk), &all) ||
                grove_buf_append(&all, ",\"fields\":", 10) ||
                grove_buf_append(&all, e->row.ptr, e->row.len) || grove_buf_append(&all, "}", 1))
                abort();
        }
        free(after);
        after = page->next ? strdup(page->next) : NULL;
        grove_msg_free(page);
        if (!after)
            break;
    }
    free(after);
    return all.data ? all.data : calloc(1, 1);
}

static bool sim_check(struct sim *s)
{
    bool ok = true;
    int shown = 0;
    s->st.rows_checked = 0;
    s->st.rows_visible = 0;
    for (int t = 0; t < s->tables; t++) {
        const char *table = s->table_names[t];
        for (int p = 0; p < SIM_PKS; p++) {
            char pk[16];
            snprintf(pk, sizeof pk, "p%d", p);
            char *want = sim_model_row(s->model, t, p);
            s->st.rows_checked++;
            s->st.rows_visible += want != NULL;
            for (int i = 0; i < s->nodes; i++) {
                char *got = NULL;
                grove_err err = grove_data_get(s->node[i].node.store, table, pk, &got);
                if (err && err != GROVE_ENOTFOUND) {
                    sim_fail("grove_data_get");
                    got = NULL;
                }
                bool same = (!want && !got) || (want && got && strcmp(want, got) == 0);
                if (!same) {
                    ok = false;
                    if (shown++ < 10)
                        printf("differs: %s/%s model %s, node %s %s\n", table, pk,
                               want ? want : "(absent)", s->node[i].name, got ? got : "(absent)");
                }
                free(got);
            }
            free(want);
        }
        char *first = sim_list_table(&s->node[0], table);
        for (int i = 1; i < s->nodes; i++) {
            char *other = sim_list_table(&s->node[i], table);
            if (!first || !other || strcmp(first, other) != 0) {
                ok = false;
                if (shown++ < 10)
                    printf("differs: list %s: node %s [%s], node %s [%s]\n", table, s->node[0].name,
                           first ? first : "?", s->node[i].name, other ? other : "?");
            }
            free(other);
        }
        free(first);
    }
    return ok;
}

/* ---- setup and main --------------------------------------------------- */

static void sim_usage(FILE *f)
{
    fprintf(
        f,
        "usage: grove-sim --nodes N --topology hub|p2p|chain|ring|random --ops K --seed S\n"
        "                 [--faults drop,dup,delay,reorder,lost-reply,restart,partition|all]\n"
        "                 [--tables T] [--mode both|pull|push] [--threads] [--verbose] [--keep]\n"
        "--threads: background syncer loops (and streams) run while the ops are made,\n"
        "           instead of explicit rounds; not reproducible from the seed.\n");
}

static int sim_parse_faults(const char *list)
{
    int bits = 0;
    char *copy = strdup(list), *save = NULL;
    if (!copy)
        return -1;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        bool found = false;
        if (strcmp(tok, "all") == 0) {
            for (size_t k = 0; k < sizeof sim_fault_names / sizeof sim_fault_names[0]; k++)
                bits |= sim_fault_names[k].bit;
            found = true;
        }
        for (size_t k = 0; k < sizeof sim_fault_names / sizeof sim_fault_names[0]; k++) {
            if (strcmp(tok, sim_fault_names[k].name) == 0) {
                bits |= sim_fault_names[k].bit;
                found = true;
            }
        }
        if (!found && strcmp(tok, "none") != 0) {
            fprintf(stderr, "grove-sim: unknown fault \"%s\"\n", tok);
            bits = -1;
            break;
        }
    }
    free(copy);
    return bits;
}

static int sim_parse_args(struct sim *s, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"nodes", required_argument, NULL, 'n'},  {"topology", required_argument, NULL, 't'},
        {"ops", required_argument, NULL, 'o'},    {"seed", required_argument, NULL, 's'},
        {"faults", required_argument, NULL, 'f'}, {"tables", required_argument, NULL, 'T'},
        {"mode", required_argument, NULL, 'm'},   {"verbose", no_argument, NULL, 'v'},
        {"keep", no_argument, NULL, 'k'},         {"threads", no_argument, NULL, 'x'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    s->nodes = 4;
    s->topology = TOPO_HUB;
    s->ops = 200;
    s->seed = 1;
    s->tables = 2;
    s->mode = GROVE_SYNC_BOTH;
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'n':
            s->nodes = atoi(optarg);
            break;
        case 't': {
            int found = -1;
            for (int k = 0; k < 5; k++)
                if (strcmp(optarg, sim_topology_names[k]) == 0)
                    found = k;
            if (found < 0) {
                fprintf(stderr, "grove-sim: unknown topology \"%s\"\n", optarg);
                return -1;
            }
            s->topology = (enum sim_topology)found;
            break;
        }
        case 'o':
            s->ops = atol(optarg);
            break;
        case 's':
            s->seed = strtoull(optarg, NULL, 10);
            break;
        case 'f':
            s->faults = sim_parse_faults(optarg);
            if (s->faults < 0)
                return -1;
            break;
        case 'T':
            s->tables = atoi(optarg);
            break;
        case 'm':
            if (strcmp(optarg, "both") == 0)
                s->mode = GROVE_SYNC_BOTH;
            else if (strcmp(optarg, "pull") == 0)
                s->mode = GROVE_SYNC_PULL_ONLY;
            else if (strcmp(optarg, "push") == 0)
                s->mode = GROVE_SYNC_PUSH_ONLY;
            else {
                fprintf(stderr, "grove-sim: unknown mode \"%s\"\n", optarg);
                return -1;
            }
            break;
        case 'v':
            s->verbose = true;
            break;
        case 'k':
            s->keep = true;
            break;
        case 'x':
            s->threads = true;
            break;
        case 'h':
            sim_usage(stdout);
            exit(0);
        default:
            sim_usage(stderr);
            return -1;
        }
    }
    if (optind != argc || s->nodes < 2 || s->nodes > SIM_NODES_MAX || s->ops < 0 || s->tables < 1 ||
        s->tables > SIM_TABLES_MAX) {
        fprintf(stderr, "grove-sim: need 2..%d nodes and 1..%d tables\n", SIM_NODES_MAX,
                SIM_TABLES_MAX);
        sim_usage(stderr);
        return -1;
    }
    return 0;
}

static grove_err sim_setup(struct sim *s)
{
    grove_err err = grove_transport_faults_register();
    if (err)
        return err;
    err = grove_schema_new(&s->schema);
    if (err)
        return err;
    for (int t = 0; t < s->tables; t++) {
        snprintf(s->table_text[t], sizeof s->table_text[t], "t%d", t);
        s->table_names[t] = s->table_text[t];
        err = grove_schema_add_table(s->schema, s->table_names[t]);
        for (int f = 0; !err && f < SIM_FIELDS; f++)
            err = grove_schema_add_field(s->schema, s->table_names[t], sim_field_names[f],
                                         sim_field_types[f]);
        if (err)
            return err;
    }
    s->model = sim_model_new(s->tables);
    if (!s->model)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    snprintf(s->dir, sizeof s->dir, "%s/grove-sim-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(s->dir))
        return grove_error_set(GROVE_ESTORE, "mkdtemp %s: %s", s->dir, strerror(errno));
    /* Small, odd page and batch sizes so pagination is always exercised. */
    s->syncer_opts.page_limit = (uint32_t)(1 + sim_rand(s, 40));
    s->syncer_opts.push_batch = (uint32_t)(1 + sim_rand(s, 40));
    s->syncer_opts.mode = s->mode;
    if (s->threads) {
        s->syncer_opts.interval_ms = 5 + sim_rand(s, 30);
        s->syncer_opts.stream = s->mode != GROVE_SYNC_PUSH_ONLY;
        s->syncer_opts.backoff_min_ms = 2;
        s->syncer_opts.backoff_max_ms = 40;
        s->loops_running = true;
    }
    for (int i = 0; i < s->nodes; i++) {
        struct sim_node *n = &s->node[i];
        /* Via locals: GCC at -O0 cannot tell that s->dir and n->path never overlap. */
        char name[sizeof n->name], path[sizeof n->path];
        snprintf(name, sizeof name, "n%d", i);
        snprintf(path, sizeof path, "%s/%s.db", s->dir, name);
        memcpy(n->name, name, sizeof name);
        memcpy(n->path, path, sizeof path);
        snprintf(n->listen_url, sizeof n->listen_url, "inproc://sim-%s", name);
    }
    sim_links(s);
    sim_set_faults(s, true);
    for (int i = 0; i < s->nodes; i++) {
        err = sim_node_open(s, i);
        if (err)
            return err;
    }
    return GROVE_OK;
}

static void sim_teardown(struct sim *s)
{
    for (int i = 0; i < s->nodes; i++)
        if (sim_node_up(&s->node[i]))
            grove_node_close(&s->node[i].node);
    sim_model_free(s->model);
    grove_schema_free(s->schema);
    if (s->dir[0] && !s->keep) {
        DIR *d = opendir(s->dir);
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char path[PATH_MAX + 256];
            snprintf(path, sizeof path, "%s/%s", s->dir, e->d_name);
            unlink(path);
        }
        if (d)
            closedir(d);
        rmdir(s->dir);
    }
}

static void sim_summary(struct sim *s)
{
    struct grove_fault_stats f;
    grove_faults_stats(NULL, &f);
    printf("grove-sim: nodes=%d topology=%s ops=%ld seed=%" PRIu64
           " tables=%d mode=%s page=%u batch=%u%s\n",
           s->nodes, sim_topology_names[s->topology], s->ops, s->seed, s->tables,
           s->mode == GROVE_SYNC_BOTH        ? "both"
           : s->mode == GROVE_SYNC_PULL_ONLY ? "pull"
                                             : "push",
           s->syncer_opts.page_limit, s->syncer_opts.push_batch, s->threads ? " threads" : "");
    printf("ops: set=%" PRIu64 " increment=%" PRIu64 " set_add=%" PRIu64 " set_remove=%" PRIu64
           " delete=%" PRIu64 " unrecorded=%" PRIu64 "\n",
           s->st.sets, s->st.increments, s->st.adds, s->st.removes, s->st.deletes,
           s->st.unrecorded);
    printf("rounds: random=%" PRIu64 " streams=%" PRIu64 " (batches %" PRIu64 ") heal=%" PRIu64
           "\n",
           s->st.rounds, s->st.streams, s->st.stream_batches, s->st.heal_rounds);
    printf("faults: calls=%" PRIu64 " drops=%" PRIu64 " lost_replies=%" PRIu64
           " duplicates=%" PRIu64 " delays=%" PRIu64 " partitioned_calls=%" PRIu64
           " stream_drops=%" PRIu64 " stream_dups=%" PRIu64 " stream_reorders=%" PRIu64
           " restarts=%" PRIu64 " partitions=%" PRIu64 "\n",
           f.calls, f.drops, f.lost_replies, f.duplicates, f.delays, f.partitioned, f.stream_drops,
           f.stream_dups, f.stream_reorders, s->st.restarts, s->st.partitions);
    printf("moved: pulled=%" PRIu64 " pushed=%" PRIu64 " merged=%" PRIu64 " conflicts=%" PRIu64
           " failed_calls=%" PRIu64 " heal_errors=%" PRIu64 "\n",
           s->st.pulled, s->st.pushed, s->st.merged, s->st.conflicts, s->st.sync_errors,
           s->st.heal_errors);
    printf("rows: checked=%" PRIu64 " visible=%" PRIu64 " on each of %d replicas\n",
           s->st.rows_checked, s->st.rows_visible, s->nodes);
}

int main(int argc, char **argv)
{
    static struct sim s; /* large: keep it off the stack */
    if (sim_parse_args(&s, argc, argv))
        return 2;
    s.rng = s.seed ^ 0x5851f42d4c957f2dULL;
    grove_log_set_level(s.verbose ? GROVE_LOG_INFO : GROVE_LOG_OFF);
    if (sim_setup(&s)) {
        sim_fail("setup");
        sim_teardown(&s);
        return 2;
    }
    for (long k = 0; k < s.ops; k++) {
        sim_local_op(&s);
        if (s.threads) {
            struct timespec pause = {.tv_sec = 0, .tv_nsec = sim_rand(&s, 2000) * 1000L};
            nanosleep(&pause, NULL);
        } else {
            int syncs = sim_rand(&s, 3);
            for (int j = 0; j < syncs; j++)
                sim_sync_step(&s);
        }
        sim_tick_faults(&s);
    }
    sim_heal(&s);
    bool quiet = sim_quiesce(&s);
    bool same = quiet && sim_check(&s);
    if (!quiet)
        printf("differs: no quiescence after %" PRIu64 " heal rounds\n", s.st.heal_rounds);
    sim_summary(&s);
    sim_teardown(&s);
    printf("converged: %s\n", same ? "yes" : "no");
    return same ? 0 : 1;
}
