/* Test plugin built for another hook ABI version: groved must refuse it
 * before calling anything in it. */
#include <stdlib.h>

#include "grove/hook_plugin.h"

GROVE_HOOK_PLUGIN_EXPORT extern const unsigned grove_hook_plugin_abi;
const unsigned grove_hook_plugin_abi = GROVE_HOOK_ABI_VERSION + 41;

grove_err grove_hook_plugin_init(const struct grove_hook_host *host, const char *arg,
                                 struct grove_hook *hook)
{
    (void)host;
    (void)arg;
    (void)hook;
    abort(); /* never called */
}
