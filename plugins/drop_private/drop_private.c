/* drop_private: an example groved hook plugin (docs/hooks.md). Fields whose
 * name starts with a prefix ("_private" by default, or the plugin's ARG) stay
 * on the node where they were written: changes to them are dropped when they
 * arrive from elsewhere (pushes served, pulls made, streams applied), when
 * this node pushes to a peer, and from the pulls and streams it serves.
 *
 *     groved ... --hook /usr/lib/groved/plugins/drop_private.so
 *     groved ... --hook /usr/lib/groved/plugins/drop_private.so:secret_
 *
 * It reaches groved only through the host table, keeps its state in
 * hook->user, and so may be loaded twice with different prefixes. */
#include <stdlib.h>
#include <string.h>

#include "grove/hook_plugin.h"

GROVE_HOOK_PLUGIN_ABI;

struct drop_private {
    char *prefix;
    size_t len;
};

static bool drop_private_matches(const struct drop_private *d, const struct grove_change *c)
{
    return !c->tombstone && c->field && strncmp(c->field, d->prefix, d->len) == 0;
}

/* before_inbound and before_outbound: one change at a time. */
static grove_err drop_private_one(void *user, const struct grove_hook_context *ctx,
                                  struct grove_change *change, bool *skip)
{
    (void)ctx;
    *skip = drop_private_matches(user, change);
    return GROVE_OK;
}

/* before_outbound_read: the whole page, compacted in place. */
static grove_err drop_private_page(void *user, const struct grove_hook_context *ctx,
                                   struct grove_change *changes, size_t *count)
{
    (void)ctx;
    size_t kept = 0;
    for (size_t i = 0; i < *count; i++)
        if (!drop_private_matches(user, &changes[i]))
            changes[kept++] = changes[i];
    *count = kept;
    return GROVE_OK;
}

grove_err grove_hook_plugin_init(const struct grove_hook_host *host, const char *arg,
                                 struct grove_hook *hook)
{
    struct drop_private *d = calloc(1, sizeof *d);
    if (!d || !(d->prefix = strdup(*arg ? arg : "_private"))) {
        free(d);
        return host->error_set(GROVE_ENOMEM, "drop_private: out of memory");
    }
    d->len = strlen(d->prefix);
    hook->before_inbound = drop_private_one;
    hook->before_outbound = drop_private_one;
    hook->before_outbound_read = drop_private_page;
    hook->user = d;
    host->log(GROVE_LOG_INFO, "drop_private: fields starting with \"%s\" stay on this node",
              d->prefix);
    return GROVE_OK;
}

void grove_hook_plugin_fini(void *user)
{
    struct drop_private *d = user;
    free(d->prefix);
    free(d);
}
