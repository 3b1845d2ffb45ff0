/* What the gRPC dialer and listener share: the method paths and the moving of
 * bytes between grove buffers and gRPC byte buffers. */
#ifndef GROVE_GRPC_INTERNAL_H
#define GROVE_GRPC_INTERNAL_H

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>
#include <stdatomic.h>

#include "grove/sys/transport.h"

/* The methods of grove.sync.v1.Sync, then of grove.data.v1.Data, indexing
 * grove_grpc_method_paths. */
enum gt_method {
    GT_PULL,
    GT_PUSH,
    GT_STREAM,
    GT_DATA_WRITE,
    GT_DATA_WRITE_MANY,
    GT_DATA_DELETE,
    GT_DATA_GET,
    GT_DATA_LIST,
    GT_DATA_WATCH,
    GT_HEALTH_CHECK, /* grpc.health.v1.Health/Check (grpc_health.c) */
    GT_METHODS
};
extern const char *const grove_grpc_method_paths[GT_METHODS];

/* The messages of one server stream: the sync service's Stream or the Data
 * service's Watch. */
struct gt_stream_ops {
    /* Appends the next message to out without waiting: GROVE_ETIMEOUT when
     * nothing is committed for it yet (the listener polls again after the
     * next commit), GROVE_ESHUTDOWN when the server closes. */
    grove_err (*poll)(void *self, struct grove_buf *out);
    /* The value of the stream's "grove-cursor" initial metadata, or NULL. */
    const char *(*cursor)(void *self);
    void (*close)(void *self);
};

/* The Data service (grpc_data.c): a unary Data method served on the
 * server's store, and a Watch opened for its stream. */
grove_err grove_grpc_data_serve(struct grove_server *server, const struct grove_caller *caller,
                                enum gt_method method, const char *data, size_t len,
                                struct grove_buf *out);
grove_err grove_grpc_watch_open(struct grove_server *server, const struct grove_caller *caller,
                                const char *data, size_t len, const struct gt_stream_ops **ops,
                                void **self);

/* One client call, unary (a pluck queue) or a server stream (a next queue),
 * from creation to release (grpc_call.c): the sync dialer's and the Data
 * API client's. */
struct grove_grpc_call {
    grpc_completion_queue *cq;
    grpc_call *call;
    grpc_byte_buffer *send; /* the request message */
    grpc_byte_buffer *recv; /* the last message received */
    grpc_metadata md;       /* the bearer token, when md_count is 1 */
    size_t md_count;
    grpc_metadata_array initial, trailing;
    grpc_status_code status;
    grpc_slice details;
    bool stream;
};
/* authorization ("Bearer ...", or NULL) is borrowed for the call's life;
 * the call owns send. */
void grove_grpc_call_open(struct grove_grpc_call *x, grpc_channel *channel, void *method,
                          bool stream, gpr_timespec deadline, const char *authorization,
                          grpc_byte_buffer *send);
/* Fills ops[0..3]: initial metadata with the token, the request, the close
 * and the answer's initial metadata. Returns 4. */
size_t grove_grpc_call_request_ops(struct grove_grpc_call *x, grpc_op *ops);
void grove_grpc_call_recv_op(struct grove_grpc_call *x, grpc_op *op);
void grove_grpc_call_status_op(struct grove_grpc_call *x, grpc_op *op);
/* The call's status as a grove_err, with the status name and details. */
grove_err grove_grpc_call_error(const struct grove_grpc_call *x);
/* Releases the call and its queue, once nothing of it is pending. */
void grove_grpc_call_close(struct grove_grpc_call *x);
/* One unary call of method on channel with request's bytes (borrowed),
 * within timeout_ms; *answer (unref it) is the reply's message. A set
 * *cancelled (may be NULL) ends the wait with GROVE_ESHUTDOWN. A call that
 * found no connection is made once more after the channel's next attempt:
 * libgrpc 1.51 now and then reports an attempt that was only under way as
 * failed (it reads errno after calls that may change it: "connect: No such
 * file or directory", seen under load), and a channel whose last attempt
 * failed refuses calls at once; nothing of such a call reached the peer. */
grove_err grove_grpc_unary(grpc_channel *channel, void *method, int timeout_ms,
                           const char *authorization, grpc_slice request,
                           const atomic_bool *cancelled, grpc_slice *answer);
/* The channel's first reconnect comes this long after a failed attempt. */
#define GROVE_GRPC_RECONNECT_MS 200
/* One message of a server stream; *more = false ends the stream. */
typedef grove_err (*grove_grpc_message_fn)(void *user, const char *data, size_t len, bool *more);
/* Runs a stream call (grove_grpc_call_open with stream set): sends the
 * request and hands each message to fn, looking at *stop every poll_ms.
 * GROVE_OK once *stop is set or fn ends it; fn's error; else the status the
 * server ended it with (GROVE_EUNAVAIL "the server ended the <what>" when
 * that was OK). The caller closes the call. */
grove_err grove_grpc_call_read_stream(struct grove_grpc_call *x, int poll_ms,
                                      const atomic_bool *stop, grove_grpc_message_fn fn, void *user,
                                      const char *what);

/* grpc.health.v1.Health/Check (grpc_health.c): SERVING while the server is
 * ready (grove_server_ready), NOT_SERVING while it starts or shuts down, for
 * the whole server ("") or one of its services; GROVE_ENOTFOUND for another
 * service. The request's bytes, possibly none; the answer appended to out. */
grove_err grove_grpc_health_check(struct grove_server *server, const char *data, size_t len,
                                  struct grove_buf *out);

/* Hands a grove_buf's bytes to gRPC without a copy, as a message or as a
 * slice (unref it); buf is left empty. */
grpc_byte_buffer *grove_grpc_buffer_take(struct grove_buf *buf);
grpc_slice grove_grpc_slice_take(struct grove_buf *buf);
/* The received message as one slice (no copy when it arrived in one piece).
 * The caller unrefs the slice. */
bool grove_grpc_buffer_slice(grpc_byte_buffer *bb, grpc_slice *out);
/* A monotonic deadline ms from now. */
gpr_timespec grove_grpc_deadline_ms(int ms);
/* "host:port" for gRPC, with brackets back around an IPv6 literal. */
void grove_grpc_target(const struct grove_url *u, char *out, size_t size);
/* A channel to url ("grpc://" or "grpcs://"; grpc_init done), as every
 * groved client dials: TLS from opts' CA, certificate, key and insecure
 * (no CA: the system's roots), reconnect backoff bounded near a second,
 * no limit on received messages. Freed with grpc_channel_destroy. */
grove_err grove_grpc_channel_open(const struct grove_url *url, const struct grove_dial_options *opts,
                                  grpc_channel **out);

/* The completion queue hands a tag from the thread that started a batch to
 * the thread that dequeues it. libgrpc is not built with ThreadSanitizer, so
 * that hand-off is invisible to it; under TSan these say it explicitly. */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GT_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__) || defined(GT_TSAN)
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define GT_TAG_SENT(tag)     __tsan_release(tag)
#define GT_TAG_RECEIVED(tag) __tsan_acquire(tag)
#else
#define GT_TAG_SENT(tag)     ((void)(tag))
#define GT_TAG_RECEIVED(tag) ((void)(tag))
#endif

/* grpc_call_start_batch and the completion-queue waits, with the hand-off
 * of their tags made visible. */
grpc_call_error grove_grpc_start_batch(grpc_call *call, const grpc_op *ops, size_t n, void *tag);
grpc_event grove_grpc_cq_next(grpc_completion_queue *cq, gpr_timespec deadline);
grpc_event grove_grpc_cq_pluck(grpc_completion_queue *cq, void *tag, gpr_timespec deadline);

extern const struct grove_dialer_ops grove_grpc_dialer_ops;
extern const struct grove_listener_ops grove_grpc_listener_ops;

#endif
