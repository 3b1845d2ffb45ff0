/* The syncer: pulls from and pushes to each peer (docs/design.md §10). Peers are
 * synced independently; cursors persist in the store, so a restart resumes. */
#ifndef GROVE_SYNCER_H
#define GROVE_SYNCER_H

#include "grove/hook.h"
#include "grove/store.h"
#include "grove/transport.h"

struct grove_syncer;

enum grove_sync_mode {
    GROVE_SYNC_BOTH = 0,
    GROVE_SYNC_PULL_ONLY,
    GROVE_SYNC_PUSH_ONLY,
};

struct grove_syncer_options {
    const char *const *tables; /* NULL/0: every declared table */
    size_t table_count;
    int interval_ms;     /* background loop period; 0: 30000 */
    uint32_t page_limit; /* pull page size asked for; 0: 5000 (one commit per page) */
    uint32_t push_batch; /* changes per push request; 0: 1000 */
    enum grove_sync_mode mode;
    bool stream;                          /* subscribe to peers that can stream */
    const struct grove_hook_chain *hooks; /* copied; may be NULL */
    int backoff_min_ms;                   /* first retry delay; 0: 500 */
    int backoff_max_ms;                   /* 0: 30000 */
};

struct grove_sync_report {
    const char *peer; /* the peer's URL, borrowed */
    uint64_t pulled;  /* changes received */
    uint64_t pushed;  /* changes sent */
    uint64_t merged;  /* changes that changed local state */
    uint64_t conflicts;
    grove_err err;   /* GROVE_OK or what failed */
    char error[256]; /* message when err != GROVE_OK */
    /* Said once, not an error: e.g. the URL now answers as another node id
     * (it gets its own cursors); "" when nothing. */
    char notice[192];
    int64_t duration_us;
};

grove_err grove_syncer_new(struct grove_syncer **out, struct grove_store *store,
                           const struct grove_syncer_options *opts);
/* Stops the background loop and closes the peers. NULL is a no-op. */
void grove_syncer_free(struct grove_syncer *syncer);

/* What one peer syncs, when not everything (an edge that holds one tenant):
 * only these tables and pks, both ways. Its pulls ask the peer to filter
 * (docs/protocol.md §4, "filter") and what comes anyway is not merged; its
 * pushes send only local changes inside the scope. The cursors pass over
 * the rest, so when the store recorded another scope for the peer's URL,
 * the first round starts its cursors again from zero. */
struct grove_sync_scope {
    const char *const *tables; /* NULL/0: the syncer's tables; else declared ones */
    size_t table_count;
    const char *pk_prefix; /* NULL or "": every pk */
};

/* Adds a peer by URL (dialed through the transport registry). */
grove_err grove_syncer_add_peer(struct grove_syncer *syncer, const char *url,
                                const struct grove_dial_options *opts);
/* The same, syncing only `scope` (copied; NULL: everything). */
grove_err grove_syncer_add_peer_scoped(struct grove_syncer *syncer, const char *url,
                                       const struct grove_dial_options *opts,
                                       const struct grove_sync_scope *scope);
size_t grove_syncer_peer_count(const struct grove_syncer *syncer);

enum grove_stream_state {
    GROVE_STREAM_OFF = 0,    /* not streaming from this peer (off, or it cannot) */
    GROVE_STREAM_CONNECTING, /* subscribing, or between two attempts */
    GROVE_STREAM_OPEN,       /* a batch or the subscription's start came in */
};

/* What the syncer knows of peer i, for an operator (grovectl status). */
struct grove_peer_status {
    const char *url;                     /* borrowed */
    char node_id[GROVE_NODE_ID_MAX + 1]; /* the peer's, once learned; else "" */
    bool up;                             /* the last round succeeded */
    bool tried;                          /* a round has run at all */
    int64_t last_success_ms;             /* Unix ms of the last good round; 0: none */
    int64_t last_error_ms;               /* Unix ms of the last failed round; 0: none */
    grove_err last_err;                  /* of the last failed round */
    char last_error[256];
    uint64_t pending;  /* local changes not yet pushed to it (counted up to pending_cap) */
    bool pending_more; /* more than pending */
    enum grove_stream_state stream;
    /* Its scope (grove_sync_scope), borrowed from the syncer: the tables
     * synced with it (table_count 0: every declared table) and the pk
     * prefix (NULL: every pk). */
    const char *const *tables;
    size_t table_count;
    const char *pk_prefix;
};
/* Fills *out for peer i; GROVE_EINVAL past the last peer. Never waits for a
 * round in flight. */
grove_err grove_syncer_peer_status(struct grove_syncer *syncer, size_t i,
                                   struct grove_peer_status *out);
const char *grove_stream_state_name(enum grove_stream_state state);
/* The index of the peer added with url, or -1. */
long grove_syncer_peer_find(const struct grove_syncer *syncer, const char *url);

/* One sync round with every peer, one after another. reports[i] is for peer i;
 * `reports` must hold grove_syncer_peer_count() entries (NULL: not wanted).
 * Returns GROVE_OK even when a peer failed: see the reports. */
grove_err grove_syncer_sync(struct grove_syncer *syncer, struct grove_sync_report *reports);
/* One sync round with peer i only. */
grove_err grove_syncer_sync_peer(struct grove_syncer *syncer, size_t i,
                                 struct grove_sync_report *report);

/* Only the pull half, or only the push half, with peer i (used by tests and
 * the simulator to drive directions). */
grove_err grove_syncer_pull_peer(struct grove_syncer *syncer, size_t i,
                                 struct grove_sync_report *report);
grove_err grove_syncer_push_peer(struct grove_syncer *syncer, size_t i,
                                 struct grove_sync_report *report);

/* Applies one streamed batch from peer i: merges it, and moves the pull
 * cursor only when batch->since equals the cursor (contiguous); a gap is left
 * for the next pull to repair. */
grove_err grove_syncer_apply_stream_batch(struct grove_syncer *syncer, size_t i,
                                          const struct grove_pull_response *batch);

/* Seed §Real-Time Push: pushes every not yet pushed local change (including
 * one just written) to all peers at once. */
grove_err grove_syncer_push_now(struct grove_syncer *syncer);

/* Starts background threads: one per peer, syncing at start and then every
 * interval (with backoff on retryable errors), plus stream consumers when
 * opts.stream is set, and an immediate push after each local commit.
 * report_fn, when not NULL, is called after every round (from peer threads). */
typedef void (*grove_report_fn)(void *user, const struct grove_sync_report *report);
grove_err grove_syncer_start(struct grove_syncer *syncer, grove_report_fn report_fn, void *user);
/* Changes the background period (a config reload): the next wait of each
 * peer's loop takes it. ms <= 0 is ignored. */
void grove_syncer_set_interval(struct grove_syncer *syncer, int ms);

/* Stops and joins the background threads (in-flight calls finish or time out). */
void grove_syncer_stop(struct grove_syncer *syncer);

#endif
