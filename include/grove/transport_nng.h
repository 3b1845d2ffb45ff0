/* The nng transport (nng+tcp://host:port, nng+ipc:///path): req/rep for pull
 * and push, and a long-poll req/rep exchange for streaming (docs/protocol.md §12).
 * Register it with grove_transport_register(grove_transport_nng()). */
#ifndef GROVE_TRANSPORT_NNG_H
#define GROVE_TRANSPORT_NNG_H

#include "grove/transport.h"

const struct grove_transport *grove_transport_nng(void);

#endif
