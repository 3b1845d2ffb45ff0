/* The node's store: one SQLite file (WAL) holding the compacted CRDT state
 * per (table, pk, field [, origin | element]), which rows are resolved from
 * as they are read, the clock and the per-peer cursors (docs/design.md,
 * "Store layout" and "Arrival stamps and cursors"). A store is safe to use
 * from many threads; each call is one transaction. */
#ifndef GROVE_STORE_H
#define GROVE_STORE_H

#include "grove/model.h"
#include "grove/schema.h"

struct grove_store;

struct grove_store_options {
    const char *path;                  /* SQLite file; created when missing */
    const char *node_id;               /* must match the id the file was created with */
    const struct grove_schema *schema; /* borrowed; must outlive the store */
    int64_t max_drift_ns;              /* 0: 5 s. Changes stamped further ahead are rejected */
    /* Read-only connections reads use, so they never wait for a write nor a
     * write for them (docs/design.md, "Reads beside writes"): opened as
     * concurrent reads need them, up to this many (0: 4; at most 64); below
     * 0, or a file not in WAL mode: none, reads share the writer's. */
    int readers;
    /* The WAL's size that calls for a checkpoint, copying it back into the
     * file (docs/design.md, "Store layout"); 0: 128 MiB. */
    size_t checkpoint_bytes;
    /* Memory for the units of the newest commits, which pages at the head
     * read instead of the file (docs/design.md, "Pages at the head"), on a
     * store with readers' connections; 0: 8 MiB; below 0: none. */
    int64_t recent_bytes;
};

grove_err grove_store_open(struct grove_store **out, const struct grove_store_options *opts);
/* Waits for in-flight calls, checkpoints and closes. NULL is a no-op. */
void grove_store_close(struct grove_store *store);

/* An online, consistent copy of the store into a new file at path (refused
 * when it exists), with SQLite's backup API in small steps from a read
 * snapshot of its own: writes go on meanwhile, and the copy holds every
 * change committed before the call began. The copy passes PRAGMA
 * integrity_check (checked here) and is marked restored: a node opened on
 * it pulls its own changes back from its peers (echo filter off) and
 * grove_store_restored says so until grove_store_clear_restored.
 * *bytes (may be NULL) gets the copy's size. */
grove_err grove_store_backup(struct grove_store *store, const char *path, int64_t *bytes);
/* True when the store was opened on a copy made by grove_store_backup and
 * has not caught up since; *when (may be NULL, size > 0) gets when the copy
 * was made (ISO 8601 UTC). */
bool grove_store_restored(struct grove_store *store, char *when, size_t size);
grove_err grove_store_clear_restored(struct grove_store *store);

const char *grove_store_node_id(const struct grove_store *store);
const struct grove_schema *grove_store_schema(const struct grove_store *store);

/* Local writes of one field (grove_data_write, grove/data.h, with one row
 * of one field): each is committed stamped with one fresh HLC. `value` and
 * `element` are JSON text (validated). GROVE_EFORBIDDEN for an undeclared
 * table, GROVE_EINVAL for a field declared with another CRDT type. */
grove_err grove_store_set(struct grove_store *store, const char *table, const char *pk,
                          const char *field, const char *value, size_t value_len);
grove_err grove_store_increment(struct grove_store *store, const char *table, const char *pk,
                                const char *field, int64_t delta);
grove_err grove_store_set_add(struct grove_store *store, const char *table, const char *pk,
                              const char *field, const char *element, size_t element_len);
grove_err grove_store_set_remove(struct grove_store *store, const char *table, const char *pk,
                                 const char *field, const char *element, size_t element_len);
grove_err grove_store_delete(struct grove_store *store, const char *table, const char *pk);

/* Reading resolved rows, and writes of many fields at once: grove/data.h. */

struct grove_apply_report {
    uint64_t merged;         /* changes that changed state */
    uint64_t conflicts;      /* lww changes that met a concurrent value from another node */
    struct grove_hlc latest; /* arrival stamp of the last stored change (or zero) */
};

/* Merges remote changes in one transaction: every change is checked first
 * (schema, drift, consistency); any failure leaves the store unchanged and
 * names the offending index. `from_node` is the peer they came from (never
 * sent back to it). */
grove_err grove_store_apply(struct grove_store *store, const struct grove_change *changes,
                            size_t count, const char *from_node, struct grove_apply_report *report);

/* The nodes the records of a page were received from ("" for local writes),
 * each once: a page read without an echo filter serves every reader whose
 * echoes it holds none of (a stream's shared batch, core/server_stream.c). */
enum { GROVE_STORE_SOURCES_MAX = 8 };
struct grove_store_sources {
    const char *nodes[GROVE_STORE_SOURCES_MAX]; /* in the page's arena */
    size_t count;
    bool more; /* past GROVE_STORE_SOURCES_MAX: any node may be among them */
};

struct grove_store_query {
    const char *const *tables; /* NULL/0: every declared table */
    size_t table_count;
    struct grove_hlc since; /* arrival stamp to read after */
    size_t limit;           /* changes at most; 0: 1000 */
    /* Bytes of records a page holds at most (table, pk, field, value and
     * elements, plus a record's fixed share); the first record always fits.
     * 0: no bound. */
    size_t max_bytes;
    /* Changes received from this node are left out (echoes:
     * docs/design.md, "Echo rules"). NULL: none. */
    const char *exclude_node;
    /* Only records passing it are returned; the others are passed over as
     * echoes are (the cursor moves past them). NULL: every record. */
    const struct grove_pull_filter *filter;
    /* When set, filled with the sources of the records returned. */
    struct grove_store_sources *sources;
};

/* Changes with arrival stamp after q->since, in arrival order. The response's
 * latest_hlc is the arrival stamp of the last change read (echo-filtered and
 * q->filter's left-out ones included, so a cursor moves past them), `since`
 * when none; has_more when more remain. What is left out does not count
 * against the limit: a page reads up to 16 rows per change it may return. */
grove_err grove_store_changes(struct grove_store *store, const struct grove_store_query *q,
                              struct grove_pull_response **out);

/* The newest arrival stamp in the store (zero when empty). */
grove_err grove_store_latest(struct grove_store *store, struct grove_hlc *out);
/* How many commits have been published, without a lock: while it stays the
 * same, so does grove_store_latest (a stream at the head looks no further). */
uint64_t grove_store_commits(struct grove_store *store);
/* How many read-only connections reads may use at once (--store-readers);
 * 0 when reads share the writer's connection (a store not in WAL mode). */
size_t grove_store_readers(const struct grove_store *store);

/* One waiter for every stream a transport serves from a few threads
 * (docs/design.md "Serving streams"): it follows the newest stamp, so each
 * commit is seen once whichever streams it concerns. */
struct grove_commit_wait {
    struct grove_store *store;
    struct grove_hlc seen;
    bool shut_down;
};
/* Starts at the store's newest stamp. */
void grove_commit_wait_init(struct grove_commit_wait *w, struct grove_store *store);
/* Waits up to timeout_ms for a commit after the last one seen: GROVE_OK (the
 * streams should poll), GROVE_ETIMEOUT (none came), or GROVE_ESHUTDOWN once
 * when the server shuts down (the streams poll, and end); after that every
 * call sleeps timeout_ms and answers GROVE_ETIMEOUT. */
grove_err grove_commit_wait_next(struct grove_commit_wait *w, int timeout_ms);

/* Blocks until the newest arrival stamp is after *after, the timeout passes
 * (GROVE_ETIMEOUT) or grove_store_wake_all is called (GROVE_ESHUTDOWN).
 * After grove_store_wake_all (the node is closing: its server shut down)
 * every wait, present or later, ends with GROVE_ESHUTDOWN; writes and reads
 * go on.
 * Commits signal waiters: no polling. */
grove_err grove_store_wait(struct grove_store *store, const struct grove_hlc *after,
                           int timeout_ms);
void grove_store_wake_all(struct grove_store *store);

/* grove_store_apply for a client that sends counter records as operations
 * (Grove's TypeScript client: each record one increment's own delta, sent
 * again until acknowledged): each counter record is applied once by its
 * (origin, HLC), added to the origin's running totals, and stored, so
 * relayed, in the state-based form. Other records merge as they are. */
grove_err grove_store_apply_operations(struct grove_store *store,
                                       const struct grove_change *changes, size_t count,
                                       const char *from_node, struct grove_apply_report *report);

/* Persistent per-peer sync state. It belongs to the peer's node id once that
 * is known (a URL is bound to the node it answered as), so the same peer
 * behind another URL (another transport) resumes where it was; a peer not
 * identified yet keeps its state under its URL. Calls name the URL. */
struct grove_peer_cursors {
    struct grove_hlc pull;                 /* the peer's latest_hlc we have merged up to */
    struct grove_hlc push;                 /* our arrival stamp we have pushed up to */
    char peer_node[GROVE_NODE_ID_MAX + 1]; /* the peer's node id once learned, else "" */
    /* An empty store's first pull (from the zero cursor) is still paging: its
     * pages are asked without echo filtering, so a replica rebuilt under its
     * old node id gets its own rows back. */
    bool catching_up;
};
/* Zero cursors when the peer is unknown. */
grove_err grove_store_cursors_get(struct grove_store *store, const char *peer,
                                  struct grove_peer_cursors *out);
grove_err grove_store_cursors_set(struct grove_store *store, const char *peer,
                                  const struct grove_peer_cursors *cursors);
/* Binds url to node, the node id it answered as, and sets *out to that node's
 * state: the URL's own state moves to the node the first time (merged with
 * what the node has from another URL: the later cursors); a URL bound to
 * another node before leaves that state to its node, and the new node's is
 * zero unless known. Writing cursors whose peer_node differs from the URL's
 * binding binds it the same way, in the writer's transaction. */
grove_err grove_store_cursors_bind(struct grove_store *store, const char *url, const char *node,
                                   struct grove_peer_cursors *out);

/* Applies a page pulled or streamed from `peer` (from node
 * cursors->peer_node) and stores *cursors in the same transaction, so the page
 * and the cursor past it commit together. When nothing else was stored since
 * cursors->push, the push cursor moves past the page as well: what came from
 * the peer is not read back only to be echo-filtered. *cursors is updated on
 * success and left alone on failure. */
grove_err grove_store_apply_pulled(struct grove_store *store, const struct grove_change *changes,
                                   size_t count, const char *peer,
                                   struct grove_peer_cursors *cursors,
                                   struct grove_apply_report *report);

/* A small setting kept in the store (its meta table), for the parts above
 * it: *out (size > 0) gets "" when the key was never set. Keys are
 * namespaced by their user ("syncer. ..."). */
grove_err grove_store_setting_get(struct grove_store *store, const char *key, char *out,
                                  size_t size);
grove_err grove_store_setting_set(struct grove_store *store, const char *key, const char *value);

/* A fresh HLC from this node's clock. The clock restarts after the newest
 * stored stamp, so what the store holds never sees it go backwards. */
grove_err grove_store_now(struct grove_store *store, struct grove_hlc *out);

#endif
