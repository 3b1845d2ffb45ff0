/* Sync hooks (docs/design.md §9, docs/hooks.md). Every member may be NULL,
 * which passes the change through unchanged (Grove's BaseSyncHook). Hooks run
 * in registration order; for before_* hooks the output of one is the input of
 * the next. Every hook is told the request its changes travel in (Grove's
 * context.Context). Hooks are called from several threads at once. */
#ifndef GROVE_HOOK_H
#define GROVE_HOOK_H

#include "grove/model.h"

/* Which request a batch travels in. */
enum grove_hook_path {
    GROVE_HOOK_PUSH_SERVED = 1, /* a client pushed to this node's server */
    GROVE_HOOK_PULL_MADE,       /* the syncer pulled a page from a peer */
    GROVE_HOOK_STREAM_APPLIED,  /* the syncer applies a batch a peer streamed */
    GROVE_HOOK_PUSH_MADE,       /* the syncer pushes local changes to a peer */
    GROVE_HOOK_PULL_SERVED,     /* a client pulls a page from this node's server */
    GROVE_HOOK_STREAM_SERVED,   /* this node's server streams a batch to a client */
};

/* What a hook is told of the request. Borrowed for the call. */
struct grove_hook_context {
    enum grove_hook_path path;
    /* Served requests: the client's address as its transport saw it
     * ("127.0.0.1:40112", "[::1]:40112"); NULL when the transport does not
     * tell (inproc://, and streams). */
    const char *peer_addr;
    /* Served requests: the node id the client named (a push's or a pull's
     * node_id); NULL or "" when it named none. */
    const char *node;
    /* Requests the syncer makes: the peer's URL; NULL on served ones. */
    const char *peer_url;
    size_t count; /* changes in the batch as it arrived, before any hook */
};

struct grove_hook {
    /* Before a remote change is merged. May edit *change in place; a string
     * it puts there must outlive the request (static, or kept by the hook in
     * `user`): the change belongs to a message the hook cannot reach. Set
     * *skip to drop it; an error aborts the whole request, nothing applied. */
    grove_err (*before_inbound)(void *user, const struct grove_hook_context *ctx,
                                struct grove_change *change, bool *skip);
    /* After a remote batch committed, per change. Errors are logged, never abort. */
    grove_err (*after_inbound)(void *user, const struct grove_hook_context *ctx,
                               const struct grove_change *change);
    /* Before a local change is pushed to a peer. Same contract as before_inbound. */
    grove_err (*before_outbound)(void *user, const struct grove_hook_context *ctx,
                                 struct grove_change *change, bool *skip);
    /* Before a pull response or stream batch is returned: may drop entries
     * (compacting the array and lowering *count) or edit them. An error fails
     * the pull. */
    grove_err (*before_outbound_read)(void *user, const struct grove_hook_context *ctx,
                                      struct grove_change *changes, size_t *count);
    /* Before any change of a remote batch is looked at: the whole request,
     * ctx->count changes, admitted or refused (a rate limit, a quota). Every
     * hook's admit_inbound runs, in chain order, before the first
     * before_inbound. An error aborts the request, nothing applied. */
    grove_err (*admit_inbound)(void *user, const struct grove_hook_context *ctx);
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
/* True when some hook of the chain has a before_inbound or admit_inbound. */
bool grove_hook_chain_screens_inbound(const struct grove_hook_chain *chain);

/* Run every hook of the chain's kind over the array, removing skipped changes
 * (compacting in place, *count lowered). On error nothing should be applied.
 * before_inbound runs every admit_inbound first. The caller fills ctx
 * (count: the batch as it arrived); NULL passes a context that tells only
 * the count. */
grove_err grove_hook_chain_before_inbound(const struct grove_hook_chain *chain,
                                          const struct grove_hook_context *ctx,
                                          struct grove_change *changes, size_t *count);
void grove_hook_chain_after_inbound(const struct grove_hook_chain *chain,
                                    const struct grove_hook_context *ctx,
                                    const struct grove_change *changes, size_t count);
grove_err grove_hook_chain_before_outbound(const struct grove_hook_chain *chain,
                                           const struct grove_hook_context *ctx,
                                           struct grove_change *changes, size_t *count);
grove_err grove_hook_chain_before_outbound_read(const struct grove_hook_chain *chain,
                                                const struct grove_hook_context *ctx,
                                                struct grove_change *changes, size_t *count);

#endif
