/* A client of a node's Data API (docs/data-api.md) over the network: the
 * operations of grove/data.h, sent to a listener of another process through
 * HTTP (http://, https://) or gRPC (grpc://, grpcs://). The answers and the
 * errors are the same on both: an error carries the server's located message
 * (grove_errmsg) and the native status it came with (grove_errnative: the
 * HTTP status or the gRPC status code).
 *
 * A client may be used from several threads; its calls are serialised,
 * except watches, which each hold a connection of their own. */
#ifndef GROVE_CLIENT_H
#define GROVE_CLIENT_H

#include <stdatomic.h>

#include "grove/data.h"

struct grove_client;

/* Opens a client of the listener at url: "http://h:8080" (an HTTP listener
 * at http://h:8080/sync serves the Data API at the root of its address, so
 * the path is ignored), "https://...", "grpc://h:9090", "grpcs://...". token
 * (NULL or "": none) goes out as "Authorization: Bearer <token>". TLS trusts
 * the system's certificate authorities. Connecting is lazy: an unreachable
 * node is reported by the first call. */
grove_err grove_client_open(struct grove_client **out, const char *url, const char *token);
void grove_client_close(struct grove_client *client);

/* Writes fields of one row atomically (grove_data_write). Every field must
 * name its crdt: LWW takes value, a counter delta, a set add/remove. A kind
 * the table's declaration contradicts is refused alike on both: gRPC sends
 * the kind and the node checks it; HTTP's JSON body cannot tell an LWW
 * number from a delta, so the client reads the declaration (GET
 * /v1/tables/{table}, once per table) and checks it before sending.
 * idempotency_key may be NULL. On success
 * *row (may be NULL) gets the resolved row after the write, malloc'ed and
 * NUL-terminated (free() it), and *hlc (may be NULL) the write's HLC. */
grove_err grove_client_write(struct grove_client *client, const char *table, const char *pk,
                             const struct grove_field_write *fields, size_t field_count,
                             const char *idempotency_key, char **row, struct grove_hlc *hlc);

/* Deletes a row (a tombstone); *hlc (may be NULL) gets the delete's HLC when
 * the server reports it, else stays zero. */
grove_err grove_client_delete(struct grove_client *client, const char *table, const char *pk,
                              struct grove_hlc *hlc);

/* The resolved row (as grove_data_get gives it), malloc'ed and NUL-terminated:
 * free() it. GROVE_ENOTFOUND when absent or deleted. */
grove_err grove_client_get(struct grove_client *client, const char *table, const char *pk,
                           char **row);

/* One page of a table (grove_data_list): free it with grove_msg_free. */
grove_err grove_client_list(struct grove_client *client, const struct grove_list_query *query,
                            struct grove_row_page **page);

/* Called once per event of a watch, which the event is borrowed for. Returns
 * true to go on, false to end the watch. */
typedef bool (*grove_client_event_fn)(void *user, const struct grove_row_event *event);

/* Watches a table (grove_data_watch_open), calling fn for every event in
 * commit order. Blocks until fn returns false or *stop (may be NULL) becomes
 * true, both GROVE_OK (stop is checked at least every 200 ms, and may be set
 * from a signal handler), or until the stream fails: its error, GROVE_EUNAVAIL
 * when the server ended it. To resume without a gap or a duplicate, watch
 * again with since = the cursor of the last event received. */
grove_err grove_client_watch(struct grove_client *client, const struct grove_watch_options *opts,
                             grove_client_event_fn fn, void *user, const atomic_bool *stop);

/* The admin API (docs/operations.md), over HTTP only: gRPC answers
 * GROVE_ENOTSUP. The token must be the node's admin token when it has one.
 * status and sync set *json to the node's JSON answer (malloc'ed,
 * NUL-terminated: free() it); sync runs one round with every peer, or with
 * the one whose URL is peer (NULL: all). backup writes an online copy of
 * the node's store to `file`, created (an existing file is refused), and
 * removed again when the backup fails; *bytes (may be NULL) its size. */
grove_err grove_client_status(struct grove_client *client, char **json);
grove_err grove_client_sync(struct grove_client *client, const char *peer, char **json);
grove_err grove_client_backup(struct grove_client *client, const char *file, int64_t *bytes);

#endif
