/* Test plugin that states its ABI version but has no init. */
#include "grove/hook_plugin.h"

GROVE_HOOK_PLUGIN_ABI;

GROVE_HOOK_PLUGIN_EXPORT int no_init_placeholder(void);
int no_init_placeholder(void)
{
    return 0;
}
