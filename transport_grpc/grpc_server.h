/* Between the gRPC listener's files: grpc_server.c (the completion queue,
 * its workers, unary calls) and grpc_stream.c (Stream and Watch calls, served
 * without a thread each). */
#ifndef GROVE_GRPC_SERVER_H
#define GROVE_GRPC_SERVER_H

#include <pthread.h>

#include <grpc/grpc_security.h>

#include "grpc_internal.h"

/* Unary calls block their worker until the store answers, and a Data API
 * write until its group commits: 16 workers let 16 writers share a commit
 * (with 4, at most 4 did, and 16 clients got a third fewer writes/s). */
enum { GSRV_WORKERS = 16, GSRV_SLOTS_UNARY = 16, GSRV_SLOTS_STREAM = 4 };
/* Stream and Watch calls are bound to queues of their own, one worker each
 * (their callbacks never block), spread round-robin: every completion scans
 * its queue's outstanding tags (libgrpc as packaged here is built with its
 * debug checks), so 10,000 streams on the shared queue cost each completion
 * a walk of 10,000 tags under the queue's lock, for every worker in turn. */
enum { GSRV_STREAM_QUEUES = 4 };

/* GSRV_OTHER: any method we do not serve, answered UNIMPLEMENTED (left
 * unrequested, such calls would hang until their deadline). */
enum gsrv_method {
    GSRV_PULL = GT_PULL,
    GSRV_PUSH = GT_PUSH,
    GSRV_STREAM = GT_STREAM,
    GSRV_OTHER = GT_METHODS
};

/* Every tag on the queue: its callback runs on the worker that dequeued it. */
struct gsrv_tag {
    void (*done)(struct gsrv_tag *tag, bool ok);
};

struct gsrv_pump;

struct gsrv {
    grpc_server *server;
    grpc_completion_queue *cq;
    struct grove_server *core;
    struct grove_guard *guard; /* the core's: who may call */
    void *methods[GT_METHODS];
    pthread_t workers[GSRV_WORKERS];
    size_t worker_count;
    grpc_completion_queue *stream_cqs[GSRV_STREAM_QUEUES];
    pthread_t stream_workers[GSRV_STREAM_QUEUES];
    size_t stream_worker_count;
    atomic_uint next_stream_cq; /* round-robin over stream_cqs */
    struct gsrv_pump *pump; /* wakes the streams with nothing to send on commits */
    atomic_bool stopping;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* streams, calls or shutdown_done changed */
    size_t streams;      /* open Stream and Watch calls */
    size_t calls;        /* live struct gsrv_call, slots included */
    bool shutdown_done;
    struct gsrv_tag shutdown_tag;
    grpc_server_credentials *creds;
};

struct gsrv_call {
    struct gsrv_tag request_tag; /* a new call matched this slot */
    struct gsrv_tag finish_tag;  /* unary: the final batch completed */
    struct gsrv_tag send_tag;    /* stream: one send batch completed */
    struct gsrv_tag close_tag;   /* stream: RECV_CLOSE_ON_SERVER completed */
    struct gsrv *srv;
    enum gsrv_method method;
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array metadata;
    grpc_call_details call_details; /* GSRV_OTHER only */
    grpc_byte_buffer *payload;
    grpc_byte_buffer *reply;
    grpc_slice details;
    bool has_details;
    int cancelled;
    /* GSRV_STREAM, GT_DATA_WATCH (grpc_stream.c) */
    const struct gt_stream_ops *stream_ops;
    void *stream;
    pthread_mutex_t lock; /* guards closed and refs */
    bool closed;          /* RECV_CLOSE_ON_SERVER completed: the client is gone */
    int refs;             /* the close batch's and the stream holder's: freed at 0 */
    /* Only the stream's holder (grpc_stream.c) touches these two. */
    bool ending;               /* the send in flight is the status */
    grpc_byte_buffer *sending; /* the message in flight */
    /* Under the pump's lock: in its list of streams with nothing to send. */
    bool parked;
    struct gsrv_call *parked_next, *parked_prev;
    grpc_metadata cursor_md; /* a Watch's initial metadata, kept until freed */
    bool has_cursor_md;
    int64_t started_us;         /* when the call matched (grove_metrics_now_us) */
    struct grove_caller caller; /* who calls, once admitted */
};

/* grpc_server.c */
void gsrv_call_free(struct gsrv_call *c);
void gsrv_count(const struct gsrv_call *c, grove_err err);
void gsrv_count_subscriber(const struct gsrv_call *c, int delta);
/* Ends a call with `status` (a stream's refusal before it started). */
void gsrv_finish(struct gsrv_call *c, grpc_status_code status, const char *message);

/* grpc_stream.c */
/* Opens the stream a Stream or Watch call asks for and starts serving it. */
void gsrv_stream_start(struct gsrv_call *c, const char *data, size_t len);
/* The pump: one thread that waits for the store's commits and hands each
 * parked stream back to be polled. */
grove_err gsrv_pump_start(struct gsrv *srv);
/* Joins the pump and hands every parked stream back, to see the listener
 * stopping and end. */
void gsrv_pump_stop(struct gsrv *srv);
/* After every stream is gone. */
void gsrv_pump_free(struct gsrv *srv);

#endif
