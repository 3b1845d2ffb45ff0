/* The parts of one running node and the one order they stop in, so that a
 * daemon, the simulator and the tests cannot each get it slightly wrong. */
#ifndef GROVE_NODE_H
#define GROVE_NODE_H

#include <stddef.h>

#include "grove/server.h"
#include "grove/store.h"
#include "grove/syncer.h"
#include "grove/transport.h"

#define GROVE_NODE_LISTENERS_MAX 64

/* Zero-initialise, then open the parts the node needs into it; any part may
 * stay NULL. The node owns every part that is set. */
struct grove_node {
    struct grove_store *store;
    struct grove_server *server; /* over store */
    /* listeners[0..listener_count) serve server, in the order they opened;
     * one closed early is set back to NULL and then skipped */
    struct grove_listener *listeners[GROVE_NODE_LISTENERS_MAX];
    size_t listener_count;
    struct grove_syncer *syncer; /* over store; started or not */
};

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

#endif
