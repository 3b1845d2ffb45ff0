/* The HTTP transport (http://, https://): libcurl dialer with an SSE stream
 * client, libmicrohttpd listener with an SSE stream server (docs/protocol.md).
 * Register it with grove_transport_register(grove_transport_http()). */
#ifndef GROVE_TRANSPORT_HTTP_H
#define GROVE_TRANSPORT_HTTP_H

#include "grove/transport.h"

const struct grove_transport *grove_transport_http(void);

#endif
