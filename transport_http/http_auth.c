/* Admission of HTTP requests: the listener checks nothing itself, it hands
 * the core what came with the request (grove_guard_admit): the
 * Authorization header, the client's address and, on https, the names of
 * the client certificate GnuTLS verified against the listener's CA. */
#include <stdlib.h>
#include <string.h>

#ifdef GROVE_HTTP_GNUTLS
#include <gnutls/gnutls.h>
#endif

#include "grove/sys/cert_names.h"
#include "http_internal.h"

#ifdef GROVE_HTTP_GNUTLS
/* The names of the client certificate GnuTLS verified (core/cert_names.c
 * makes them, as for every transport); none when there is no certificate or
 * it does not verify. */
static void http_cert_names(struct MHD_Connection *conn, struct grove_cert_names *n)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    gnutls_session_t session = info ? (gnutls_session_t)info->tls_session : NULL;
    unsigned status = 0, count = 0;
    if (!session || gnutls_certificate_verify_peers2(session, &status) != GNUTLS_E_SUCCESS ||
        status != 0)
        return;
    const gnutls_datum_t *peers = gnutls_certificate_get_peers(session, &count);
    if (peers && count > 0 && grove_cert_names_der(n, peers[0].data, peers[0].size))
        n->count = 0;
}
#endif

grove_err grove_http_authorize(const struct http_listener *l, struct MHD_Connection *conn,
                               const char *op, enum grove_need need, struct grove_caller *caller)
{
    char peer[GROVE_PEER_ADDR_MAX];
    grove_http_peer_addr(conn, peer, sizeof peer);
    const char *auth =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    struct grove_cert_names names = {.count = 0};
#ifdef GROVE_HTTP_GNUTLS
    if (l->tls)
        http_cert_names(conn, &names);
#endif
    struct grove_credentials cred = {.op = op,
                                     .peer_addr = peer[0] ? peer : NULL,
                                     .authorization = auth,
                                     .authorization_len = auth ? strlen(auth) : 0,
                                     .cert = &names};
    return grove_guard_admit(l->guard, &cred, need, caller);
}
