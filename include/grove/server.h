/* The server side of the protocol (Grove's SyncController), free of any
 * network code: transports decode a request, call these, and encode the
 * answer. Every call is thread-safe. */
#ifndef GROVE_SERVER_H
#define GROVE_SERVER_H

#include "grove/hook.h"
#include "grove/store.h"

struct grove_server;

/* What a pushed counter record's counter_delta means. */
enum grove_counter_deltas {
    /* The origin's running totals, the wire's meaning and Grove's Go
     * server's: the highest wins. */
    GROVE_COUNTER_DELTAS_TOTALS = 0,
    /* One operation's own delta, as Grove's TypeScript client sends them:
     * each applied once (grove_store_apply_operations). */
    GROVE_COUNTER_DELTAS_OPERATIONS,
};

struct grove_server_options {
    uint32_t max_page; /* largest pull page; 0: 10000. Requests asking more get this */
    /* Changes in a page when a request gives no limit; 0: 100000. Grove's
     * own clients never send one, ignore has_more and may pull from the
     * start on every sync, so such a pull is bounded by size instead:
     * every row of a store of ordinary size comes in one response. */
    uint32_t default_page;
    size_t page_bytes; /* bytes of records in any page (store.h max_bytes); 0: 8 MiB */
    enum grove_counter_deltas counter_deltas; /* of pushes this server takes */
    const struct grove_hook_chain
        *hooks; /* node-level then server-only hooks; copied; may be NULL */
};

grove_err grove_server_new(struct grove_server **out, struct grove_store *store,
                           const struct grove_server_options *opts);
/* Call grove_server_shutdown first when streams may be open. NULL is a no-op. */
void grove_server_free(struct grove_server *server);
/* Wakes every open stream with GROVE_ESHUTDOWN and refuses new calls. */
void grove_server_shutdown(struct grove_server *server);
struct grove_store *grove_server_store(struct grove_server *server);
/* Readiness, which listeners report (/readyz, gRPC health): grove_node_open
 * sets it once the store, every listener and the syncer are open. A server
 * shutting down is not ready, whatever was set. */
void grove_server_set_ready(struct grove_server *server, bool ready);
bool grove_server_ready(struct grove_server *server);

/* Changes after req->since for the requested (declared) tables; GROVE_EFORBIDDEN
 * names an undeclared table. A `since` stamped by this node is snapped to the
 * nearest µs (clients holding ts in a float64 round it). */
grove_err grove_server_pull(struct grove_server *server, const struct grove_pull_request *req,
                            struct grove_pull_response **out);
/* Validates every change, runs hooks, applies all or nothing. */
grove_err grove_server_push(struct grove_server *server, const struct grove_push_request *req,
                            struct grove_push_response **out);

/* A live subscription: batches in arrival order, each carrying the stamps
 * around it (since = previous batch's latest_hlc). */
struct grove_server_stream;
grove_err grove_server_stream_open(struct grove_server *server,
                                   const struct grove_pull_request *req,
                                   struct grove_server_stream **out);
/* Blocks until changes are committed after the stream's cursor and returns
 * them as a batch (GROVE_ETIMEOUT after timeout_ms with none; GROVE_ESHUTDOWN
 * when the server shuts down). Woken by commits, never polls. */
grove_err grove_server_stream_next(struct grove_server_stream *stream, int timeout_ms,
                                   struct grove_pull_response **out);
void grove_server_stream_close(struct grove_server_stream *stream);

/* Writes a stream batch as bytes appended to out: a codec's
 * encode_stream_batch, or a transport's own framing (SSE events). */
typedef grove_err (*grove_stream_format_fn)(const struct grove_pull_response *batch,
                                            struct grove_buf *out);
/* The next batch without waiting, for a transport that serves many streams
 * from a few threads (docs/design.md "Serving streams"): appends the batch
 * after the stream's cursor, written by format, to out and moves the cursor
 * past it (GROVE_OK); GROVE_ETIMEOUT when nothing is committed after the
 * cursor yet (wait for a commit with grove_store_wait, then poll again);
 * GROVE_ESHUTDOWN when the server shuts down. A commit is read and written
 * once for all the streams at the same cursor with the same tables, node id,
 * batch bound and format, and every one of them gets the same bytes; a
 * stream behind the others reads at its own cursor. On failure out is left
 * as it was. */
grove_err grove_server_stream_poll(struct grove_server_stream *stream,
                                   grove_stream_format_fn format, struct grove_buf *out);
/* Bounds the stream's batches to `bytes` of encoded records (a record
 * bigger than that still goes, alone), for a framing whose readers limit
 * line length: Grove's Go client reads SSE lines of at most 64 KiB. */
void grove_server_stream_set_batch_bytes(struct grove_server_stream *stream, size_t bytes);

#endif
