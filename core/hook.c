/* The sync hook chain (docs/design.md §9, docs/hooks.md). */
#include <stdlib.h>
#include <string.h>

#include "grove/hook.h"
#include "grove/log.h"
#include "grove/sys/error.h"

grove_err grove_hook_chain_add(struct grove_hook_chain *chain, const struct grove_hook *hook)
{
    struct grove_hook *grown = realloc(chain->hooks, (chain->count + 1) * sizeof *grown);
    if (!grown)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    grown[chain->count++] = *hook;
    chain->hooks = grown;
    return GROVE_OK;
}

grove_err grove_hook_chain_extend(struct grove_hook_chain *chain,
                                  const struct grove_hook_chain *from)
{
    for (size_t i = 0; from && i < from->count; i++) {
        grove_err err = grove_hook_chain_add(chain, &from->hooks[i]);
        if (err)
            return err;
    }
    return GROVE_OK;
}

void grove_hook_chain_free(struct grove_hook_chain *chain)
{
    free(chain->hooks);
    chain->hooks = NULL;
    chain->count = 0;
}

bool grove_hook_chain_screens_inbound(const struct grove_hook_chain *chain)
{
    for (size_t i = 0; chain && i < chain->count; i++)
        if (chain->hooks[i].before_inbound || chain->hooks[i].admit_inbound)
            return true;
    return false;
}

/* The caller's context, or one that tells only the batch's size. */
static const struct grove_hook_context *hook_context(const struct grove_hook_context *ctx,
                                                     struct grove_hook_context *local, size_t count)
{
    if (ctx)
        return ctx;
    *local = (struct grove_hook_context){.count = count};
    return local;
}

/* The two hooks that see one change at a time, as the same kind of function. */
enum hook_per_change { HOOK_BEFORE_INBOUND, HOOK_BEFORE_OUTBOUND };

typedef grove_err (*hook_change_fn)(void *user, const struct grove_hook_context *ctx,
                                    struct grove_change *change, bool *skip);

static hook_change_fn hook_select(const struct grove_hook *hook, enum hook_per_change kind)
{
    return kind == HOOK_BEFORE_INBOUND ? hook->before_inbound : hook->before_outbound;
}

static const char *const hook_names[] = {
    [HOOK_BEFORE_INBOUND] = "before_inbound",
    [HOOK_BEFORE_OUTBOUND] = "before_outbound",
};

/* Runs one per-change hook kind over the array, dropping skipped changes. */
static grove_err hook_run_each(const struct grove_hook_chain *chain, enum hook_per_change kind,
                               const struct grove_hook_context *ctx, struct grove_change *changes,
                               size_t *count)
{
    if (!chain || !chain->count)
        return GROVE_OK;
    size_t kept = 0;
    for (size_t i = 0; i < *count; i++) {
        bool skip = false;
        for (size_t h = 0; h < chain->count && !skip; h++) {
            hook_change_fn fn = hook_select(&chain->hooks[h], kind);
            if (!fn)
                continue;
            grove_err err = fn(chain->hooks[h].user, ctx, &changes[i], &skip);
            if (err)
                return grove_error_prefix(err, "changes[%zu]: %s hook: ", i, hook_names[kind]);
        }
        if (!skip)
            changes[kept++] = changes[i];
    }
    *count = kept;
    return GROVE_OK;
}

/* Every admit_inbound, in chain order: the first refusal refuses the request. */
static grove_err hook_admit(const struct grove_hook_chain *chain,
                            const struct grove_hook_context *ctx)
{
    for (size_t h = 0; chain && h < chain->count; h++) {
        if (!chain->hooks[h].admit_inbound)
            continue;
        grove_err err = chain->hooks[h].admit_inbound(chain->hooks[h].user, ctx);
        if (err)
            return grove_error_prefix(err, "admit_inbound hook: ");
    }
    return GROVE_OK;
}

grove_err grove_hook_chain_before_inbound(const struct grove_hook_chain *chain,
                                          const struct grove_hook_context *ctx,
                                          struct grove_change *changes, size_t *count)
{
    struct grove_hook_context local;
    ctx = hook_context(ctx, &local, *count);
    grove_err err = hook_admit(chain, ctx);
    return err ? err : hook_run_each(chain, HOOK_BEFORE_INBOUND, ctx, changes, count);
}

grove_err grove_hook_chain_before_outbound(const struct grove_hook_chain *chain,
                                           const struct grove_hook_context *ctx,
                                           struct grove_change *changes, size_t *count)
{
    struct grove_hook_context local;
    ctx = hook_context(ctx, &local, *count);
    return hook_run_each(chain, HOOK_BEFORE_OUTBOUND, ctx, changes, count);
}

void grove_hook_chain_after_inbound(const struct grove_hook_chain *chain,
                                    const struct grove_hook_context *ctx,
                                    const struct grove_change *changes, size_t count)
{
    struct grove_hook_context local;
    ctx = hook_context(ctx, &local, count);
    for (size_t h = 0; chain && h < chain->count; h++) {
        if (!chain->hooks[h].after_inbound)
            continue;
        for (size_t i = 0; i < count; i++)
            if (chain->hooks[h].after_inbound(chain->hooks[h].user, ctx, &changes[i]))
                grove_log(GROVE_LOG_WARN, "after_inbound hook failed on %s/%s/%s: %s",
                          changes[i].table, changes[i].pk, changes[i].field, grove_errmsg());
    }
}

grove_err grove_hook_chain_before_outbound_read(const struct grove_hook_chain *chain,
                                                const struct grove_hook_context *ctx,
                                                struct grove_change *changes, size_t *count)
{
    struct grove_hook_context local;
    ctx = hook_context(ctx, &local, *count);
    for (size_t h = 0; chain && h < chain->count; h++) {
        if (!chain->hooks[h].before_outbound_read)
            continue;
        size_t before = *count;
        grove_err err =
            chain->hooks[h].before_outbound_read(chain->hooks[h].user, ctx, changes, count);
        if (err)
            return grove_error_prefix(err, "before_outbound_read hook: ");
        if (*count > before)
            return grove_error_set(GROVE_EINVAL, "before_outbound_read hook grew the batch");
    }
    return GROVE_OK;
}
