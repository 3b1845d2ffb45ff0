/* Writing a hook plugin for groved (docs/hooks.md): a shared object that
 * `hook = PATH[:ARG]` or `server-hook = PATH[:ARG]` loads at start. It
 * exports two symbols and may export a third:
 *
 *     #include "grove/hook_plugin.h"
 *
 *     GROVE_HOOK_PLUGIN_ABI;   // the ABI version it was built for
 *
 *     GROVE_HOOK_PLUGIN_EXPORT grove_err grove_hook_plugin_init(
 *         const struct grove_hook_host *host, const char *arg, struct grove_hook *hook)
 *     { ... fill *hook from arg ... }
 *
 *     GROVE_HOOK_PLUGIN_EXPORT void grove_hook_plugin_fini(void *user) { ... }  // optional
 *
 * groved refuses to start (exit 2, naming the setting and the path) when the
 * object cannot be loaded, exports no version or a version other than its
 * own, has no init, or init fails. A plugin reaches groved only through
 * `host`: it links nothing of groved. plugins/drop_private is an example. */
#ifndef GROVE_HOOK_PLUGIN_H
#define GROVE_HOOK_PLUGIN_H

#include "grove/hook.h"
#include "grove/log.h"

/* Raised whenever struct grove_hook, grove_hook_context, grove_change or
 * grove_hook_host change their layout or meaning. */
#define GROVE_HOOK_ABI_VERSION 1

#define GROVE_HOOK_PLUGIN_EXPORT __attribute__((visibility("default")))

/* What groved offers a plugin. Borrowed: valid until fini returns. */
struct grove_hook_host {
    unsigned abi_version; /* GROVE_HOOK_ABI_VERSION of the groved that loaded it */
    /* Records the message of an error the plugin returns (from init or a
     * hook) and returns err: `return host->error_set(GROVE_EFORBIDDEN, ...)`.
     * The codes are grove/error.h's; the one returned picks the status the
     * client gets (EFORBIDDEN 403, EINVAL 400, ERATELIMIT 429). */
    grove_err (*error_set)(grove_err err, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
    /* One line of groved's log. */
    void (*log)(enum grove_log_level level, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
};

/* Called once at start, before groved serves or syncs. arg is what followed
 * the first ':' of the setting ("" when none); both are borrowed for the
 * call. Fills *hook (zeroed on entry): NULL members pass changes through;
 * hook->user is what every hook and fini get. A non-zero return (with a
 * message from host->error_set) stops groved. */
typedef grove_err (*grove_hook_plugin_init_fn)(const struct grove_hook_host *host, const char *arg,
                                               struct grove_hook *hook);
/* Optional: called once at shutdown, after the last hook call. */
typedef void (*grove_hook_plugin_fini_fn)(void *user);

#define GROVE_HOOK_PLUGIN_ABI_SYMBOL  "grove_hook_plugin_abi"
#define GROVE_HOOK_PLUGIN_INIT_SYMBOL "grove_hook_plugin_init"
#define GROVE_HOOK_PLUGIN_FINI_SYMBOL "grove_hook_plugin_fini"

/* Defines the exported version; write it once, at file scope. */
#define GROVE_HOOK_PLUGIN_ABI                                                                      \
    GROVE_HOOK_PLUGIN_EXPORT extern const unsigned grove_hook_plugin_abi;                          \
    const unsigned grove_hook_plugin_abi = GROVE_HOOK_ABI_VERSION

/* The symbols' declarations, so that a plugin's definitions are checked. */
GROVE_HOOK_PLUGIN_EXPORT grove_err grove_hook_plugin_init(const struct grove_hook_host *host,
                                                          const char *arg, struct grove_hook *hook);
GROVE_HOOK_PLUGIN_EXPORT void grove_hook_plugin_fini(void *user);

#endif
