/* The built-in audit log (docs/hooks.md, "audit-log"): an after_inbound hook
 * that appends one JSON line per merged change and flushes it, so that a
 * line is in the file once its change is acknowledged. SIGHUP reopens the
 * file at its path, for logrotate's rename-then-signal. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "grove/json.h"
#include "grove/sys/error.h"
#include "hooks.h"

struct groved_audit_log {
    char *path;
    pthread_mutex_t lock; /* hooks run on every listener's and peer's thread */
    FILE *file;
};

static grove_err audit_fopen(const char *path, FILE **out)
{
    *out = fopen(path, "ae"); /* O_APPEND: every line lands whole at the end */
    if (!*out)
        return grove_error_set(GROVE_EINVAL, "cannot open audit log %s: %s", path, strerror(errno));
    return GROVE_OK;
}

grove_err groved_audit_log_open(struct groved_audit_log **out, const char *path)
{
    *out = NULL;
    struct groved_audit_log *log = calloc(1, sizeof *log);
    if (!log || !(log->path = strdup(path))) {
        free(log);
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    }
    grove_err err = audit_fopen(path, &log->file);
    if (err) {
        free(log->path);
        free(log);
        return err;
    }
    pthread_mutex_init(&log->lock, NULL);
    *out = log;
    return GROVE_OK;
}

grove_err groved_audit_log_reopen(struct groved_audit_log *log)
{
    FILE *fresh;
    grove_err err = audit_fopen(log->path, &fresh);
    if (err)
        return err;
    pthread_mutex_lock(&log->lock);
    FILE *old = log->file;
    log->file = fresh;
    pthread_mutex_unlock(&log->lock);
    fclose(old);
    return GROVE_OK;
}

void groved_audit_log_close(struct groved_audit_log *log)
{
    if (!log)
        return;
    fclose(log->file);
    pthread_mutex_destroy(&log->lock);
    free(log->path);
    free(log);
}

static const char *audit_path_name(enum grove_hook_path path)
{
    switch (path) {
    case GROVE_HOOK_PUSH_SERVED:
        return "push_served";
    case GROVE_HOOK_PULL_MADE:
        return "pull_made";
    case GROVE_HOOK_STREAM_APPLIED:
        return "stream_applied";
    default:
        return "other";
    }
}

/* "2026-11-26T07:00:00.123456Z" */
static void audit_now(char *out, size_t size)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, size - n, ".%06ldZ", ts.tv_nsec / 1000);
}

/* ,"key": (no comma after the opening brace). */
static grove_err audit_key(struct grove_buf *b, const char *key)
{
    grove_err err = b->len > 1 ? grove_buf_append(b, ",", 1) : GROVE_OK;
    if (!err)
        err = grove_buf_append(b, "\"", 1);
    if (!err)
        err = grove_buf_append(b, key, strlen(key));
    return err ? err : grove_buf_append(b, "\":", 2);
}

/* ,"key":"value" (null when value is NULL). */
static grove_err audit_string(struct grove_buf *b, const char *key, const char *value)
{
    grove_err err = audit_key(b, key);
    if (!err && value)
        err = grove_json_encode_string(value, strlen(value), b);
    else if (!err)
        err = grove_buf_append(b, "null", 4);
    return err;
}

/* One line: {"time", "path", "peer", "node", "table", "pk", "field",
 * "crdt_type", "tombstone", "hlc", "origin"}. */
static grove_err audit_line(const struct grove_hook_context *ctx, const struct grove_change *c,
                            struct grove_buf *b)
{
    char now[40];
    audit_now(now, sizeof now);
    const char *peer = ctx->peer_addr ? ctx->peer_addr : ctx->peer_url;
    const char *node = ctx->node && *ctx->node ? ctx->node : NULL;
    grove_err err = grove_buf_append(b, "{", 1);
    if (!err)
        err = audit_string(b, "time", now);
    if (!err)
        err = audit_string(b, "path", audit_path_name(ctx->path));
    if (!err)
        err = audit_string(b, "peer", peer);
    if (!err)
        err = audit_string(b, "node", node);
    if (!err)
        err = audit_string(b, "table", c->table);
    if (!err)
        err = audit_string(b, "pk", c->pk);
    if (!err)
        err = audit_string(b, "field", c->field);
    if (!err)
        err = audit_string(b, "crdt_type", grove_crdt_name(c->crdt));
    if (!err)
        err = audit_key(b, "tombstone");
    if (!err)
        err = grove_buf_append(b, c->tombstone ? "true" : "false", c->tombstone ? 4 : 5);
    if (!err)
        err = audit_key(b, "hlc");
    if (!err)
        err = grove_json_encode_hlc(&c->hlc, b);
    if (!err)
        err = audit_string(b, "origin", c->node_id);
    if (!err)
        err = grove_buf_append(b, "}\n", 2);
    return err;
}

static grove_err audit_after_inbound(void *user, const struct grove_hook_context *ctx,
                                     const struct grove_change *change)
{
    struct groved_audit_log *log = user;
    struct grove_buf line = {0};
    grove_err err = audit_line(ctx, change, &line);
    if (!err) {
        pthread_mutex_lock(&log->lock);
        bool written = fwrite(line.data, 1, line.len, log->file) == line.len;
        written = fflush(log->file) == 0 && written;
        int saved = errno;
        pthread_mutex_unlock(&log->lock);
        if (!written)
            err = grove_error_set(GROVE_ESTORE, "audit log %s: %s", log->path, strerror(saved));
    }
    grove_buf_free(&line);
    return err;
}

struct grove_hook groved_audit_log_hook(struct groved_audit_log *log)
{
    return (struct grove_hook){.after_inbound = audit_after_inbound, .user = log};
}
