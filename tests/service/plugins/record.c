/* Test plugin: ARG "NAME@FILE". Appends one JSON line to FILE for each call
 * of its admit_inbound, before_inbound and after_inbound, so that a test
 * reads the order hooks ran in (the audit log may share the file: every
 * line is one O_APPEND write). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "grove/hook_plugin.h"

GROVE_HOOK_PLUGIN_ABI;

struct record {
    char name[64];
    int fd;
};

static const char *record_path_name(enum grove_hook_path path)
{
    static const char *const names[] = {
        [GROVE_HOOK_PUSH_SERVED] = "push_served",
        [GROVE_HOOK_PULL_MADE] = "pull_made",
        [GROVE_HOOK_STREAM_APPLIED] = "stream_applied",
        [GROVE_HOOK_PUSH_MADE] = "push_made",
        [GROVE_HOOK_PULL_SERVED] = "pull_served",
        [GROVE_HOOK_STREAM_SERVED] = "stream_served",
    };
    return path > 0 && path <= GROVE_HOOK_STREAM_SERVED ? names[path] : "?";
}

static void record_line(struct record *r, const char *kind, const struct grove_hook_context *ctx,
                        const char *pk)
{
    char line[512];
    int n = snprintf(line, sizeof line,
                     "{\"hook\":\"%s\",\"kind\":\"%s\",\"path\":\"%s\",\"pk\":\"%s\","
                     "\"peer\":\"%s\",\"count\":%zu}\n",
                     r->name, kind, record_path_name(ctx->path), pk ? pk : "",
                     ctx->peer_addr  ? ctx->peer_addr
                     : ctx->peer_url ? ctx->peer_url
                                     : "",
                     ctx->count);
    if (n > 0 && (size_t)n < sizeof line && write(r->fd, line, (size_t)n) < 0)
        return; /* a test reading the file sees the line missing */
}

static grove_err record_admit(void *user, const struct grove_hook_context *ctx)
{
    record_line(user, "admit_inbound", ctx, NULL);
    return GROVE_OK;
}

static grove_err record_before(void *user, const struct grove_hook_context *ctx,
                               struct grove_change *c, bool *skip)
{
    (void)skip;
    record_line(user, "before_inbound", ctx, c->pk);
    return GROVE_OK;
}

static grove_err record_after(void *user, const struct grove_hook_context *ctx,
                              const struct grove_change *c)
{
    record_line(user, "after_inbound", ctx, c->pk);
    return GROVE_OK;
}

grove_err grove_hook_plugin_init(const struct grove_hook_host *host, const char *arg,
                                 struct grove_hook *hook)
{
    const char *at = strchr(arg, '@');
    if (!at || at == arg || (size_t)(at - arg) >= sizeof((struct record *)0)->name)
        return host->error_set(GROVE_EINVAL, "record: expected NAME@FILE, got \"%s\"", arg);
    struct record *r = calloc(1, sizeof *r);
    if (!r)
        return host->error_set(GROVE_ENOMEM, "record: out of memory");
    memcpy(r->name, arg, (size_t)(at - arg));
    r->fd = open(at + 1, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (r->fd < 0) {
        free(r);
        return host->error_set(GROVE_EINVAL, "record: cannot open %s", at + 1);
    }
    *hook = (struct grove_hook){.admit_inbound = record_admit,
                                .before_inbound = record_before,
                                .after_inbound = record_after,
                                .user = r};
    return GROVE_OK;
}

void grove_hook_plugin_fini(void *user)
{
    struct record *r = user;
    close(r->fd);
    free(r);
}
