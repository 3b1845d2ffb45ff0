/* Test plugin: ARG PREFIX. Its before_inbound refuses (EFORBIDDEN) a change
 * whose pk starts with PREFIX, which aborts the whole request; without an
 * ARG its init fails. */
#include <stdlib.h>
#include <string.h>

#include "grove/hook_plugin.h"

GROVE_HOOK_PLUGIN_ABI;

static const struct grove_hook_host *refuse_host;

static grove_err refuse_before(void *user, const struct grove_hook_context *ctx,
                               struct grove_change *c, bool *skip)
{
    (void)ctx;
    (void)skip;
    const char *prefix = user;
    if (strncmp(c->pk, prefix, strlen(prefix)) == 0)
        return refuse_host->error_set(GROVE_EFORBIDDEN, "refuse: pk \"%s\" starts with \"%s\"",
                                      c->pk, prefix);
    return GROVE_OK;
}

grove_err grove_hook_plugin_init(const struct grove_hook_host *host, const char *arg,
                                 struct grove_hook *hook)
{
    if (!*arg)
        return host->error_set(GROVE_EINVAL, "refuse: ARG must name a pk prefix");
    refuse_host = host;
    char *prefix = strdup(arg);
    if (!prefix)
        return host->error_set(GROVE_ENOMEM, "refuse: out of memory");
    *hook = (struct grove_hook){.before_inbound = refuse_before, .user = prefix};
    return GROVE_OK;
}

void grove_hook_plugin_fini(void *user)
{
    free(user);
}
