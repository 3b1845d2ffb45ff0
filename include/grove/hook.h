/* Sync hooks (docs/design.md §9). Every member may be NULL, which passes the change
 * through unchanged (Grove's BaseSyncHook). Hooks run in registration order;
 * for before_* hooks the output of one is the input of the next. */
#ifndef GROVE_HOOK_H
#define GROVE_HOOK_H

#include "grove/model.h"

struct grove_hook {
    /* Before a remote change is merged. May edit *change in place; a string
     * it puts there must outlive the request (static, or kept by the hook in
     * `user`): the change belongs to a message the hook cannot reach. Set
     * *skip to drop it; an error aborts the whole request, nothing applied. */
    grove_err (*before_inbound)(void *user, struct grove_change *change, bool *skip);
    /* After a remote change is merged. Errors are logged, never abort. */
    grove_err (*after_inbound)(void *user, const struct grove_change *change);
    /* Before a local change is pushed to a peer. Same contract as before_inbound. */
    grove_err (*before_outbound)(void *user, struct grove_change *change, bool *skip);
    /* Before a pull response is returned: may drop entries (compacting the
     * array and lowering *count) or edit them. An error fails the pull. */
    grove_err (*before_outbound_read)(void *user, struct grove_change *changes, size_t *count);
    void *user;
};

/* An ordered list of hooks. Zero-initialise; the hooks are copied. */
struct grove_hook_chain {
    struct grove_hook *hooks;
    size_t count;
};

grove_err grove_hook_chain_add(struct grove_hook_chain *chain, const struct grove_hook *hook);
/* Appends all of `from` to `chain` (node-level hooks, then server-only ones). */
grove_err grove_hook_chain_extend(struct grove_hook_chain *chain,
                                  const struct grove_hook_chain *from);
void grove_hook_chain_free(struct grove_hook_chain *chain);

/* Run every hook of the chain's kind over the array, removing skipped changes
 * (compacting in place, *count lowered). On error nothing should be applied. */
grove_err grove_hook_chain_before_inbound(const struct grove_hook_chain *chain,
                                          struct grove_change *changes, size_t *count);
void grove_hook_chain_after_inbound(const struct grove_hook_chain *chain,
                                    const struct grove_change *changes, size_t count);
grove_err grove_hook_chain_before_outbound(const struct grove_hook_chain *chain,
                                           struct grove_change *changes, size_t *count);
grove_err grove_hook_chain_before_outbound_read(const struct grove_hook_chain *chain,
                                                struct grove_change *changes, size_t *count);

#endif
