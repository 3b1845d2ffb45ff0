/* The parts of one running node, the one order they open in and the one
 * order they stop in, so that a daemon, the simulator, the benchmarks and
 * the tests cannot each get it slightly wrong. */
#ifndef GROVE_NODE_H
#define GROVE_NODE_H

#include <stddef.h>

#include "grove/data.h"
#include "grove/server.h"
#include "grove/store.h"
#include "grove/syncer.h"
#include "grove/transport.h"

#define GROVE_NODE_LISTENERS_MAX 64

/* Opened by grove_node_open (or zero-initialised and filled part by part);
 * any part may stay NULL. The node owns every part that is set. */
struct grove_node {
    struct grove_store *store;
    struct grove_server *server; /* over store */
    /* listeners[0..listener_count) serve server, in the order they opened;
     * one closed early is set back to NULL and then skipped */
    struct grove_listener *listeners[GROVE_NODE_LISTENERS_MAX];
    size_t listener_count;
    struct grove_syncer *syncer; /* over store; started or not */
};

/* One listener: where, and how (opts borrowed for the call; NULL: defaults). */
struct grove_node_listener {
    const char *url;
    const struct grove_listen_options *opts;
};

/* One peer of the syncer: where, how (opts NULL: defaults) and what (scope
 * NULL: everything, grove/syncer.h). */
struct grove_node_peer {
    const char *url;
    const struct grove_dial_options *opts;
    const struct grove_sync_scope *scope;
};

/* What grove_node_open opens. Borrowed for the call, except what the parts
 * themselves keep (the store's schema). Zero fields take their defaults. */
struct grove_node_options {
    struct grove_store_options store; /* always opened */
    /* A server over the store: when there is a listener, or serve is set
     * (for listeners added later with grove_node_listen). */
    bool serve;
    struct grove_server_options server;
    const struct grove_node_listener *listeners; /* listener_count of them, opened in order */
    size_t listener_count;
    /* A syncer over the store: when there is a peer, or sync is set. */
    bool sync;
    struct grove_syncer_options syncer;
    const struct grove_node_peer *peers; /* peer_count of them, added in order */
    size_t peer_count;
    /* Starts the syncer's background rounds (grove_syncer_start) once
     * everything else is open; report_fn (may be NULL) gets every round. */
    bool start_syncer;
    grove_report_fn report_fn;
    void *report_user;
};

/* Fills node (its previous contents are ignored) in the one order that
 * loses nothing: the store, the server, the listeners (so the node serves
 * before it syncs), the syncer, its peers, and last the syncer's background
 * rounds (none runs on a half-open node). On failure closes what it opened
 * (grove_node_close), leaves node empty and returns the error, its message
 * naming the part (the store's path, the listener's or the peer's URL). */
grove_err grove_node_open(struct grove_node *node, const struct grove_node_options *opts);

/* Opens a listener at url serving node->server and appends it to the node's
 * listeners. GROVE_EINVAL when the node has no server or is full; on failure
 * the node is unchanged. */
grove_err grove_node_listen(struct grove_node *node, const char *url,
                            const struct grove_listen_options *opts);

/* Stops and frees every part that is set, in the order that loses nothing:
 * the syncer (no new rounds), server shutdown (wakes streams, refuses new
 * calls), the listeners in reverse order of opening (joining in-flight
 * calls), the server, and the store last. Leaves every part NULL and
 * listener_count 0, so closing twice is harmless. */
void grove_node_close(struct grove_node *node);

/* The Data API (grove/data.h) on the node's store, for a program that
 * embeds groved: the node's syncer pushes each write to every peer as it
 * commits, and its streams and watches wake. GROVE_EINVAL when the node has
 * no store. */
grove_err grove_node_write(struct grove_node *node, const struct grove_write *write,
                           struct grove_hlc *hlc);
grove_err grove_node_get(struct grove_node *node, const char *table, const char *pk, char **row);
grove_err grove_node_list(struct grove_node *node, const struct grove_list_query *query,
                          struct grove_row_page **page);
grove_err grove_node_watch_open(struct grove_node *node, const struct grove_watch_options *opts,
                                struct grove_watch **out);

#endif
