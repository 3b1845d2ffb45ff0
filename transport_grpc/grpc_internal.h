/* What the gRPC dialer and listener share: the method paths and the moving of
 * bytes between grove buffers and gRPC byte buffers. */
#ifndef GROVE_GRPC_INTERNAL_H
#define GROVE_GRPC_INTERNAL_H

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include "grove/sys/transport.h"

/* The methods of grove.sync.v1.Sync, indexing gt_method_paths. */
enum gt_method { GT_PULL, GT_PUSH, GT_STREAM, GT_METHODS };
extern const char *const gt_method_paths[GT_METHODS];

/* Hands a grove_buf's bytes to gRPC without a copy; buf is left empty. */
grpc_byte_buffer *gt_buffer_take(struct grove_buf *buf);
/* The received message as one slice (no copy when it arrived in one piece).
 * The caller unrefs the slice. */
bool gt_buffer_slice(grpc_byte_buffer *bb, grpc_slice *out);
/* A monotonic deadline ms from now. */
gpr_timespec gt_deadline_ms(int ms);
/* "host:port" for gRPC, with brackets back around an IPv6 literal. */
void gt_target(const struct grove_url *u, char *out, size_t size);

extern const struct grove_dialer_ops gt_dialer_ops;
extern const struct grove_listener_ops gt_listener_ops;

#endif
