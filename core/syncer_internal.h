/* The syncer's insides, shared by syncer.c (peers, rounds, status) and
 * syncer_loop.c (the background threads). */
#ifndef GROVE_CORE_SYNCER_INTERNAL_H
#define GROVE_CORE_SYNCER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "grove/metrics.h"
#include "grove/syncer.h"

struct syncer_peer {
    struct grove_syncer *syncer;
    size_t index; /* in syncer->peers */
    char *url;
    /* Its slot in the store's metrics registry. */
    struct grove_metrics_peer *metrics;
    struct grove_peer *conn;        /* pulls and pushes */
    struct grove_peer *stream_conn; /* the stream, on its own connection */
    /* What is synced with it (grove_sync_scope): its tables, table_count and
     * filter (a pk prefix) are those of every request to it and every read
     * of what to push. Owned. */
    struct grove_pull_request *scope;
    bool scoped_tables;             /* the scope named its tables (else: the syncer's) */
    bool scope_settled;             /* under lock: grove_syncer_scope_settle ran */
    pthread_mutex_t lock;           /* one exchange with this peer at a time */
    /* Under lock: the node behind the URL was checked this round and not
     * failed since (syncer_identify), so its cursors are the ones in use. */
    bool identified;
    pthread_t thread, stream_thread;
    bool has_thread, has_stream_thread;
    unsigned rand_state;
    /* What grove_syncer_peer_status reports, under its own lock: `lock`
     * is held for a whole round, which a status call must not wait for. */
    pthread_mutex_t status_lock;
    bool tried, up;
    int64_t last_success_ms, last_error_ms;
    grove_err last_err;
    char last_error[256];
    enum grove_stream_state stream;
};

struct grove_syncer {
    struct grove_store *store;
    struct grove_syncer_options opts;
    const char **tables;
    size_t table_count;
    struct grove_hook_chain hooks;
    struct syncer_peer **peers;
    size_t peer_count;
    atomic_bool stop;
    atomic_int interval_ms; /* opts.interval_ms, changed by grove_syncer_set_interval */
    bool running;
    grove_report_fn report_fn;
    void *report_user;
};

/* The filter of the peer's scope, NULL when it has none. */
static inline const struct grove_pull_filter *grove_syncer_peer_filter(const struct syncer_peer *p)
{
    return grove_pull_filter_active(&p->scope->filter) ? &p->scope->filter : NULL;
}

/* syncer_scope.c: a peer's scope. The request holding its tables and
 * filter (checked: its tables declared). */
grove_err grove_syncer_scope_new(struct grove_syncer *s, const struct grove_sync_scope *scope,
                                 struct grove_pull_request **out);
/* Leaves out of *changes what is beyond p's scope: *changes and *count then
 * describe *kept (malloc'ed; NULL when nothing was left out). */
grove_err grove_syncer_scope_keep(const struct syncer_peer *p, const struct grove_change **changes,
                                  size_t *count, struct grove_change **kept);
/* Once per peer, under its lock: when its scope is not the one the store
 * recorded for it, its cursors start again from zero. */
grove_err grove_syncer_scope_settle(struct grove_syncer *s, struct syncer_peer *p);

/* Halves of a round, for grove_syncer_exchange. */
enum syncer_half { SYNCER_PULL = 1, SYNCER_PUSH = 2 };

/* One round with peer i: the halves asked for, under the peer's lock. */
grove_err grove_syncer_exchange(struct grove_syncer *s, size_t i, int halves,
                                struct grove_sync_report *out);
/* Records the peer's stream state for grove_syncer_peer_status. */
void grove_syncer_note_stream(struct syncer_peer *p, enum grove_stream_state state);

static inline int64_t grove_syncer_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

#endif
