/* Admission of HTTP requests: the listener checks nothing itself, it hands
 * the core what came with the request (grove_guard_admit): the
 * Authorization header, the client's address and, on https, the names of
 * the client certificate the relay verified against the listener's CA. */
#include <stdlib.h>
#include <string.h>

#include "grove/sys/cert_names.h"
#include "http_internal.h"

grove_err grove_http_authorize(const struct http_listener *l, struct MHD_Connection *conn,
                               const char *op, enum grove_need need, struct grove_caller *caller)
{
    char peer[GROVE_PEER_ADDR_MAX];
    grove_http_peer_addr(conn, peer, sizeof peer);
    const char *auth =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    struct grove_cert_names names = {.count = 0};
    if (l->tls) {
        /* The relay did the handshake (http_relay.c): the names are its. */
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        grove_http_relay_cert_names(l->relay, info ? info->connect_fd : -1, &names);
    }
    struct grove_credentials cred = {.op = op,
                                     .peer_addr = peer[0] ? peer : NULL,
                                     .authorization = auth,
                                     .authorization_len = auth ? strlen(auth) : 0,
                                     .cert = &names};
    return grove_guard_admit(l->guard, &cred, need, caller);
}
