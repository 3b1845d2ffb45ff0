/* The gRPC transport (grpc://host:port, grpcs://host:port): service
 * grove.sync.v1.Sync from proto/grove/sync/v1/sync.proto on the gRPC C core.
 * Register it with grove_transport_register(grove_transport_grpc()). */
#ifndef GROVE_TRANSPORT_GRPC_H
#define GROVE_TRANSPORT_GRPC_H

#include "grove/transport.h"

const struct grove_transport *grove_transport_grpc(void);

#endif
