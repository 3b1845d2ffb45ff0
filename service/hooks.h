/* groved's sync hooks (docs/hooks.md): the plugins named by `hook` and
 * `server-hook`, and the built-in audit log and rate limit, put together into
 * the chains the node's syncer and server run. */
#ifndef GROVED_HOOKS_H
#define GROVED_HOOKS_H

#include <stdint.h>

#include "config.h"
#include "grove/hook.h"

/* What the chains are made of (groved_config's settings). */
struct groved_hooks_options {
    const struct groved_hook_list *hooks;        /* node-level plugins; may be NULL */
    const struct groved_hook_list *server_hooks; /* server-only plugins; may be NULL */
    const char *audit_log;                       /* NULL: none */
    const char *audit_log_where;                 /* the setting that named it, for messages */
    double rate_limit;                           /* changes per second per client; 0: none */
};

struct groved_hooks;

/* Loads every plugin in order and opens the built-ins. On failure nothing
 * stays loaded and the message names the setting ("--hook",
 * "groved.conf:7: hook"), the path and the reason (dlerror's text, the ABI
 * versions, the plugin's own message): groved exits 2 with it. */
grove_err groved_hooks_open(struct groved_hooks **out, const struct groved_hooks_options *opts);
/* The syncer's chain: `hook` plugins in order, then the audit log. */
const struct grove_hook_chain *groved_hooks_node(const struct groved_hooks *hooks);
/* The server's: the syncer's chain, then the rate limit, then `server-hook`
 * plugins in order. */
const struct grove_hook_chain *groved_hooks_server(const struct groved_hooks *hooks);
/* SIGHUP: reopens the audit log at its path (after a rotation renamed it).
 * GROVE_OK without one. On failure the old file stays in use. */
grove_err groved_hooks_reopen(struct groved_hooks *hooks);
/* The audit log's path, or NULL. */
const char *groved_hooks_audit_path(const struct groved_hooks *hooks);
/* After the node closed (no hook runs any more): plugins' fini, in reverse
 * order, then the built-ins. NULL is a no-op. */
void groved_hooks_close(struct groved_hooks *hooks);

/* ---- the built-ins, each a grove_hook of its own -------------------------- */

/* after_inbound: one JSON line per merged change, appended and flushed. */
struct groved_audit_log;
grove_err groved_audit_log_open(struct groved_audit_log **out, const char *path);
struct grove_hook groved_audit_log_hook(struct groved_audit_log *log);
grove_err groved_audit_log_reopen(struct groved_audit_log *log);
void groved_audit_log_close(struct groved_audit_log *log);

/* admit_inbound on pushes served: a token bucket per client address (its
 * host; a client of unknown address shares one bucket with the others) of
 * `per_second` changes per second, holding at most one second's worth. A
 * push is admitted while the bucket holds as many tokens as it has changes
 * (or a full bucket, for a push larger than that) and takes them all, so the
 * bucket may go below zero: a big push is paid for by waiting after it. */
struct groved_rate_limit;
grove_err groved_rate_limit_new(struct groved_rate_limit **out, double per_second);
struct grove_hook groved_rate_limit_hook(struct groved_rate_limit *limit);
/* The decision at now_us (a monotonic clock): GROVE_OK, or GROVE_ERATELIMIT
 * with the seconds to wait in grove_errretry(). */
grove_err groved_rate_limit_admit(struct groved_rate_limit *limit, const char *peer_addr,
                                  size_t count, int64_t now_us);
void groved_rate_limit_free(struct groved_rate_limit *limit);

#endif
