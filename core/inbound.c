#include <stdlib.h>
#include <string.h>

#include "inbound.h"
#include "grove/sys/error.h"

grove_err grove_inbound_apply(struct grove_store *store, const struct grove_hook_chain *hooks,
                              const struct grove_change *changes, size_t count,
                              const struct inbound_source *from, struct grove_apply_report *report)
{
    struct grove_change *edited = NULL;
    grove_err err = GROVE_OK;
    struct grove_hook_context ctx = {.path = from->path,
                                     .peer_addr = from->peer_addr,
                                     .node = from->node,
                                     .peer_url = from->peer,
                                     .count = count};
    if (count && grove_hook_chain_screens_inbound(hooks)) {
        if (!(edited = malloc(count * sizeof *edited)))
            return grove_error_set(GROVE_ENOMEM, "out of memory for %zu changes", count);
        memcpy(edited, changes, count * sizeof *edited);
        err = grove_hook_chain_before_inbound(hooks, &ctx, edited, &count);
        changes = edited;
    }
    if (!err && from->cursors)
        err = grove_store_apply_pulled(store, changes, count, from->peer, from->cursors, report);
    else if (!err && from->counter_operations)
        err = grove_store_apply_operations(store, changes, count, from->node, report);
    else if (!err)
        err = grove_store_apply(store, changes, count, from->node, report);
    if (!err)
        grove_hook_chain_after_inbound(hooks, &ctx, changes, count);
    free(edited);
    return err;
}
