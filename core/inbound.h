/* The one path by which remote changes enter the store, for the server's
 * push handler and the syncer's pulls and streams alike. */
#ifndef GROVE_CORE_INBOUND_H
#define GROVE_CORE_INBOUND_H

#include "grove/hook.h"
#include "grove/store.h"

/* Where a batch comes from: a client's push names its node (and its address,
 * when the transport told it); a page pulled or streamed from a peer names
 * the peer and carries its cursors, which are stored with the page
 * (grove_store_apply_pulled). The hooks are told all of it. */
struct inbound_source {
    enum grove_hook_path path;
    const char *node;
    const char *peer_addr;
    const char *peer;
    struct grove_peer_cursors *cursors;
    bool counter_operations; /* a push whose counter records are operations (store.h) */
};

/* Runs before_inbound hooks (on a copy, and only when one is registered: the
 * caller's array is never edited), applies the survivors in one transaction,
 * then runs after_inbound hooks. */
grove_err grove_inbound_apply(struct grove_store *store, const struct grove_hook_chain *hooks,
                              const struct grove_change *changes, size_t count,
                              const struct inbound_source *from, struct grove_apply_report *report);

#endif
