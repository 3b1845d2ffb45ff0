/* Between grove-bench fanout (bench_fanout.c, SSE subscribers on an epoll
 * set per receiving thread) and its gRPC subscribers (bench_fanout_grpc.c,
 * Stream calls on a completion queue per thread) and nng subscribers
 * (bench_fanout_nng.c, SUB sockets on an epoll set per thread). */
#ifndef GROVE_BENCH_FANOUT_H
#define GROVE_BENCH_FANOUT_H

#include <stdbool.h>
#include <stdint.h>

struct fanout;
/* Monotonic nanoseconds: the clock each write's pk carries. */
int64_t bench_fanout_now_ns(void);
/* One delivery, ms after its write was sent, seen by receiving thread rx. */
void bench_fanout_record(struct fanout *fo, int rx, double ms);

/* count Stream calls to 127.0.0.1:port for tables=docs (node id sub-<i %
 * node_ids>, none when 0), all started, call i on completion queue i %
 * queues; false when gRPC refuses one. */
struct fanout_grpc;
bool bench_fanout_grpc_open(struct fanout_grpc **out, int port, long count, long node_ids,
                            int queues);
/* Serves the events of queue q for up to timeout_ms: *open counts calls
 * whose stream started, *closed those that ended; deliveries go to fo as
 * receiver q (fo NULL: dropped). Each queue is served by one thread at a
 * time. */
void bench_fanout_grpc_poll(struct fanout_grpc *g, int q, struct fanout *fo, int timeout_ms,
                            long *open, long *closed);
/* Cancels every call and frees them. */
void bench_fanout_grpc_close(struct fanout_grpc *g);

/* count nng SUB sockets dialed to the publisher at 127.0.0.1:pub_port, each
 * subscribed to everything, socket i recording as receiver i % queues; false
 * when one cannot be made. */
struct fanout_nng;
bool bench_fanout_nng_open(struct fanout_nng **out, int pub_port, long count, int queues);
/* Waits timeout_ms while nng's threads take the messages, recorded in fo
 * from the first call with fo set (before: dropped); *open grows by the
 * subscribers that connected since (counted by queue 0). */
void bench_fanout_nng_poll(struct fanout_nng *g, int q, struct fanout *fo, int timeout_ms,
                           long *open);
void bench_fanout_nng_close(struct fanout_nng *g);

#endif
