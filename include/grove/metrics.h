/* A node's metrics (docs/design.md §12): counters the store, the
 * syncer, the server and the transports bump where their events happen, and
 * one rendering in Prometheus' text format (exposition format 0.0.4) that a
 * listener serves at GET /metrics. Free of sockets.
 *
 * The registry belongs to the store (grove_store_metrics): the server, the
 * syncer and every listener reach the store already, and two nodes in one
 * process keep two stores, so they never share counters. Counting is a
 * relaxed atomic add into a slot known up front (tables from the schema,
 * peers when the syncer adds them, transports, ops and codes from small
 * enums): nothing is locked or allocated on a hot path. */
#ifndef GROVE_METRICS_H
#define GROVE_METRICS_H

#include <stdint.h>

#include "grove/model.h"
#include "grove/store.h"
#include "grove/syncer.h"

struct grove_metrics;

/* The transport that served a request, the `transport` label. */
enum grove_metrics_transport {
    GROVE_METRICS_HTTP,
    GROVE_METRICS_GRPC,
    GROVE_METRICS_NNG,
    GROVE_METRICS_INPROC,
    GROVE_METRICS_TRANSPORT_COUNT
};

/* What a request asked for, the `op` label: the sync calls, the Data API
 * (every /v1/ or grove.v1.Data call) and the metrics scrape itself. */
enum grove_metrics_op {
    GROVE_METRICS_OP_PULL,
    GROVE_METRICS_OP_PUSH,
    GROVE_METRICS_OP_STREAM,
    GROVE_METRICS_OP_DATA,
    GROVE_METRICS_OP_METRICS,
    GROVE_METRICS_OP_COUNT
};

/* The store's registry (made with the store, freed with it). Never NULL. */
struct grove_metrics *grove_store_metrics(struct grove_store *store);

/* Created by grove_store_open for its schema's tables; NULL when out of memory. */
struct grove_metrics *grove_metrics_new(const struct grove_schema *schema);
void grove_metrics_free(struct grove_metrics *metrics);

/* A monotonic clock in µs, for timing a request from its start. */
int64_t grove_metrics_now_us(void);

/* A request has been answered with err (GROVE_OK or what refused it);
 * started_us: grove_metrics_now_us() when it began, or 0 for one not timed
 * (a stream, whose length is its subscriber's). Counts it in
 * grove_requests_total{transport,op,code} and grove_request_seconds, and a
 * refusal of the client's request (auth, forbidden, invalid, too big, rate
 * limit, unavailable) in grove_rejected_total{reason} too. */
void grove_metrics_request(struct grove_metrics *metrics, enum grove_metrics_transport transport,
                           enum grove_metrics_op op, grove_err err, int64_t started_us);

/* A connection refused before a request was read (a malformed head, a
 * connection cap): counted in grove_rejected_total by err's reason only, as
 * it names no op. */
void grove_metrics_refused(struct grove_metrics *metrics, grove_err err);

/* A stream or watch subscriber opened (+1) or closed (-1) on a transport. */
void grove_metrics_subscribers_add(struct grove_metrics *metrics,
                                   enum grove_metrics_transport transport, int delta);

/* Remote changes of the table at index `table` of the schema that changed
 * local state, and the conflicts among them. */
void grove_metrics_table_merged(struct grove_metrics *metrics, size_t table, uint64_t merged,
                                uint64_t conflicts);

/* A peer's slot, made when the syncer adds the peer (the same URL gets the
 * same slot again, its counts kept across a reload) and freed with the
 * registry. NULL when out of memory: recording into NULL is a no-op. */
struct grove_metrics_peer;
struct grove_metrics_peer *grove_metrics_peer_add(struct grove_metrics *metrics, const char *url);
/* The syncer that added the peer lets go of it; a slot no syncer holds (a
 * peer a reload removed) is left out of the rendered series. NULL: no-op. */
void grove_metrics_peer_release(struct grove_metrics_peer *peer);
/* An exchange with the peer ended: its changes pulled and pushed, up or down
 * by r->err, the time of success. `round`: a full pull-and-push round, also
 * counted in grove_sync_rounds_total and grove_sync_round_seconds. */
void grove_metrics_peer_exchange(struct grove_metrics_peer *peer, const struct grove_sync_report *r,
                                 bool round);
/* Changes pulled from the peer's stream. */
void grove_metrics_peer_streamed(struct grove_metrics_peer *peer, uint64_t pulled);

/* Appends every family to out in the text format, reading the store for
 * what is computed at scrape time: each peer's node id and pending changes
 * (from its push cursor), the store's and the WAL's sizes. */
grove_err grove_metrics_render(struct grove_store *store, struct grove_buf *out);

/* The Content-Type of what grove_metrics_render writes. */
#define GROVE_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
