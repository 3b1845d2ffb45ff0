/* Loading hook plugins (grove/hook_plugin.h) and putting groved's chains
 * together with the built-ins (docs/hooks.md). Everything here runs at start
 * and at shutdown, on the main thread; only the hooks themselves run later. */
#include "hooks.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "grove/hook_plugin.h"
#include "grove/log.h"
#include "grove/sys/error.h"

/* One loaded plugin: what to call at shutdown, and the handle to close. */
struct hooks_plugin {
    void *handle;
    grove_hook_plugin_fini_fn fini;
    void *user;
};

struct groved_hooks {
    struct grove_hook_chain node;   /* the syncer's */
    struct grove_hook_chain server; /* node, rate limit, server-only plugins */
    struct hooks_plugin plugins[2 * GROVED_MAX_URLS];
    size_t plugin_count;
    struct groved_audit_log *audit;
    const char *audit_path;
    struct groved_rate_limit *rate;
};

/* What every plugin is handed: groved's error record and its log. */
static const struct grove_hook_host hooks_host = {
    .abi_version = GROVE_HOOK_ABI_VERSION,
    .error_set = grove_error_set,
    .log = grove_log,
};

/* Splits "PATH[:ARG]" at the first ':' into path (a copy the caller frees)
 * and arg (into spec; "" when absent). */
static grove_err hooks_split(const char *where, const char *spec, char **path, const char **arg)
{
    const char *colon = strchr(spec, ':');
    size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
    *arg = colon ? colon + 1 : "";
    if (n == 0)
        return grove_error_set(GROVE_EINVAL, "%s: expected PATH[:ARG], got \"%s\"", where, spec);
    if (!(*path = strndup(spec, n)))
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    return GROVE_OK;
}

/* dlopen, the ABI check, dlsym and init, each failure named with its cause. */
static grove_err hooks_plugin_load(struct hooks_plugin *plugin, const char *where, const char *path,
                                   const char *arg, struct grove_hook *hook)
{
    memset(hook, 0, sizeof *hook);
    dlerror();
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!handle)
        return grove_error_set(GROVE_EINVAL, "%s: cannot load hook plugin %s: %s", where, path,
                               dlerror());
    grove_err err = GROVE_OK;
    const unsigned *abi = dlsym(handle, GROVE_HOOK_PLUGIN_ABI_SYMBOL);
    grove_hook_plugin_init_fn init = NULL;
    if (!abi) {
        err = grove_error_set(GROVE_EINVAL,
                              "%s: %s is no groved hook plugin: it exports no %s "
                              "(GROVE_HOOK_PLUGIN_ABI in grove/hook_plugin.h)",
                              where, path, GROVE_HOOK_PLUGIN_ABI_SYMBOL);
    } else if (*abi != GROVE_HOOK_ABI_VERSION) {
        err = grove_error_set(GROVE_EINVAL,
                              "%s: %s was built for hook ABI version %u, this groved runs "
                              "version %u: rebuild it against this groved's grove/hook_plugin.h",
                              where, path, *abi, GROVE_HOOK_ABI_VERSION);
    } else if (!(*(void **)&init = dlsym(handle, GROVE_HOOK_PLUGIN_INIT_SYMBOL))) {
        err = grove_error_set(GROVE_EINVAL, "%s: %s exports no %s: %s", where, path,
                              GROVE_HOOK_PLUGIN_INIT_SYMBOL, dlerror());
    } else {
        grove_error_clear();
        if (init(&hooks_host, arg, hook) != GROVE_OK) {
            const char *why = *grove_errmsg() ? grove_errmsg() : "it gave no reason";
            err = grove_error_set(GROVE_EINVAL, "%s: %s: %s(\"%s\") failed: %s", where, path,
                                  GROVE_HOOK_PLUGIN_INIT_SYMBOL, arg, why);
        }
    }
    if (err) {
        dlclose(handle);
        return err;
    }
    plugin->handle = handle;
    *(void **)&plugin->fini = dlsym(handle, GROVE_HOOK_PLUGIN_FINI_SYMBOL);
    plugin->user = hook->user;
    return GROVE_OK;
}

/* Loads every plugin of list and appends its hook to chain, in order. */
static grove_err hooks_load_list(struct groved_hooks *hooks, const struct groved_hook_list *list,
                                 struct grove_hook_chain *chain)
{
    for (size_t i = 0; list && i < list->specs.count; i++) {
        const char *where = list->where[i] ? list->where[i] : "hook";
        char *path = NULL;
        const char *arg;
        struct grove_hook hook;
        grove_err err = hooks_split(where, list->specs.items[i], &path, &arg);
        if (!err)
            err = hooks_plugin_load(&hooks->plugins[hooks->plugin_count], where, path, arg, &hook);
        if (!err) {
            hooks->plugin_count++;
            grove_log(GROVE_LOG_INFO, "hook plugin %s loaded (%s)", path, where);
            err = grove_hook_chain_add(chain, &hook);
        }
        free(path);
        if (err)
            return err;
    }
    return GROVE_OK;
}

static grove_err hooks_build(struct groved_hooks *hooks, const struct groved_hooks_options *o)
{
    grove_err err = hooks_load_list(hooks, o->hooks, &hooks->node);
    if (!err && o->audit_log) {
        err = groved_audit_log_open(&hooks->audit, o->audit_log);
        if (err)
            return grove_error_prefix(
                err, "%s: ", o->audit_log_where ? o->audit_log_where : "audit-log");
        hooks->audit_path = o->audit_log;
        struct grove_hook audit = groved_audit_log_hook(hooks->audit);
        err = grove_hook_chain_add(&hooks->node, &audit);
    }
    if (!err)
        err = grove_hook_chain_extend(&hooks->server, &hooks->node);
    if (!err && o->rate_limit > 0) {
        err = groved_rate_limit_new(&hooks->rate, o->rate_limit);
        if (!err) {
            struct grove_hook rate = groved_rate_limit_hook(hooks->rate);
            err = grove_hook_chain_add(&hooks->server, &rate);
        }
    }
    if (!err)
        err = hooks_load_list(hooks, o->server_hooks, &hooks->server);
    return err;
}

grove_err groved_hooks_open(struct groved_hooks **out, const struct groved_hooks_options *opts)
{
    *out = NULL;
    struct groved_hooks *hooks = calloc(1, sizeof *hooks);
    if (!hooks)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    grove_err err = hooks_build(hooks, opts);
    if (err) {
        char message[1024]; /* closing may log and set errors of its own */
        snprintf(message, sizeof message, "%s", grove_errmsg());
        groved_hooks_close(hooks);
        return grove_error_set(err, "%s", message);
    }
    *out = hooks;
    return GROVE_OK;
}

const struct grove_hook_chain *groved_hooks_node(const struct groved_hooks *hooks)
{
    return &hooks->node;
}

const struct grove_hook_chain *groved_hooks_server(const struct groved_hooks *hooks)
{
    return &hooks->server;
}

grove_err groved_hooks_reopen(struct groved_hooks *hooks)
{
    return hooks->audit ? groved_audit_log_reopen(hooks->audit) : GROVE_OK;
}

const char *groved_hooks_audit_path(const struct groved_hooks *hooks)
{
    return hooks->audit_path;
}

void groved_hooks_close(struct groved_hooks *hooks)
{
    if (!hooks)
        return;
    for (size_t i = hooks->plugin_count; i-- > 0;) {
        struct hooks_plugin *p = &hooks->plugins[i];
        if (p->fini)
            p->fini(p->user);
        dlclose(p->handle);
    }
    groved_audit_log_close(hooks->audit);
    groved_rate_limit_free(hooks->rate);
    grove_hook_chain_free(&hooks->node);
    grove_hook_chain_free(&hooks->server);
    free(hooks);
}
