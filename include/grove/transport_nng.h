/* The nng transport (nng+tcp://host:port, nng+tls+tcp://host:port,
 * nng+ipc:///path): req/rep for pull and push, pub/sub for streaming
 * (docs/protocol.md §12).
 * Register it with grove_transport_register(grove_transport_nng()). */
#ifndef GROVE_TRANSPORT_NNG_H
#define GROVE_TRANSPORT_NNG_H

#include "grove/transport.h"

const struct grove_transport *grove_transport_nng(void);

#endif
