/* Admission of HTTP requests: the listener checks nothing itself, it hands
 * the core what came with the request (grove_guard_admit): the
 * Authorization header, the client's address and, on https, the names of
 * the client certificate GnuTLS verified against the listener's CA. */
#include <stdlib.h>
#include <string.h>

#ifdef GROVE_HTTP_GNUTLS
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#endif

#include "http_internal.h"

#define HTTP_CERT_NAMES    8 /* subject DN, common name, SANs: the first ones */
#define HTTP_CERT_NAME_MAX 256

struct http_cert_names {
    char text[HTTP_CERT_NAMES][HTTP_CERT_NAME_MAX];
    const char *names[HTTP_CERT_NAMES];
    size_t count;
};

#ifdef GROVE_HTTP_GNUTLS
static void http_cert_add(struct http_cert_names *n, const char *s, size_t len)
{
    if (n->count == HTTP_CERT_NAMES || len == 0 || len >= HTTP_CERT_NAME_MAX)
        return;
    memcpy(n->text[n->count], s, len);
    n->text[n->count][len] = '\0';
    n->names[n->count] = n->text[n->count];
    n->count++;
}

/* The verified client certificate's names; none when there is no
 * certificate or it does not verify. */
static void http_cert_names(struct MHD_Connection *conn, struct http_cert_names *n)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    gnutls_session_t session = info ? (gnutls_session_t)info->tls_session : NULL;
    unsigned status = 0, count = 0;
    if (!session || gnutls_certificate_verify_peers2(session, &status) != GNUTLS_E_SUCCESS ||
        status != 0)
        return;
    const gnutls_datum_t *peers = gnutls_certificate_get_peers(session, &count);
    gnutls_x509_crt_t crt;
    if (!peers || count == 0 || gnutls_x509_crt_init(&crt) != GNUTLS_E_SUCCESS)
        return;
    if (gnutls_x509_crt_import(crt, &peers[0], GNUTLS_X509_FMT_DER) == GNUTLS_E_SUCCESS) {
        char buf[HTTP_CERT_NAME_MAX];
        size_t size = sizeof buf;
        if (gnutls_x509_crt_get_dn(crt, buf, &size) == GNUTLS_E_SUCCESS)
            http_cert_add(n, buf, strlen(buf));
        size = sizeof buf;
        if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, buf, &size) ==
            GNUTLS_E_SUCCESS)
            http_cert_add(n, buf, strlen(buf));
        for (unsigned seq = 0;; seq++) {
            size = sizeof buf;
            int type = gnutls_x509_crt_get_subject_alt_name(crt, seq, buf, &size, NULL);
            if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
                break;
            if (type == GNUTLS_SAN_DNSNAME || type == GNUTLS_SAN_RFC822NAME ||
                type == GNUTLS_SAN_URI)
                http_cert_add(n, buf, size);
        }
    }
    gnutls_x509_crt_deinit(crt);
}
#endif

grove_err grove_http_authorize(const struct http_listener *l, struct MHD_Connection *conn,
                               const char *op, enum grove_need need, struct grove_caller *caller)
{
    char peer[GROVE_PEER_ADDR_MAX];
    grove_http_peer_addr(conn, peer, sizeof peer);
    const char *auth =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    struct http_cert_names names = {.count = 0};
#ifdef GROVE_HTTP_GNUTLS
    if (l->tls)
        http_cert_names(conn, &names);
#endif
    struct grove_credentials cred = {.op = op,
                                     .peer_addr = peer[0] ? peer : NULL,
                                     .authorization = auth,
                                     .authorization_len = auth ? strlen(auth) : 0,
                                     .cert_names = names.names,
                                     .cert_name_count = names.count};
    return grove_guard_admit(l->guard, &cred, need, caller);
}
