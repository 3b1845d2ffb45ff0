/* The listener's answers: every one goes through grove_http_queue_response,
 * which adds the CORS headers a listed origin gets; errors are JSON
 * ({"error": "..."}) with their status, and refusals an operator wants to
 * see are logged with the client's address. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>

#include "grove/log.h"
#include "grove/sys/error.h"
#include "http_internal.h"

void grove_http_sockaddr_text(const struct sockaddr *sa, char *out, size_t size)
{
    if (sa && sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        grove_peer_addr_format(out, size, &in->sin_addr, 4, ntohs(in->sin_port));
    } else if (sa && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        grove_peer_addr_format(out, size, &in6->sin6_addr, 16, ntohs(in6->sin6_port));
    } else if (size) {
        out[0] = '\0';
    }
}

/* The client's address, for the server's hooks (grove_serve_from). */
void grove_http_peer_addr(struct MHD_Connection *conn, char *out, size_t size)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    grove_http_sockaddr_text(info ? info->client_addr : NULL, out, size);
}

/* The origin of this request when the listener lets it call (CORS), else
 * NULL: "*" lets every origin. */
static const char *http_cors_origin(const struct http_listener *l, struct MHD_Connection *conn)
{
    const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    for (size_t i = 0; origin && i < l->cors_origin_count; i++)
        if (strcmp(l->cors_origins[i], "*") == 0 || strcmp(l->cors_origins[i], origin) == 0)
            return origin;
    return NULL;
}

enum MHD_Result grove_http_queue_response(const struct http_listener *l,
                                          struct MHD_Connection *conn, int status,
                                          struct MHD_Response *resp)
{
    const char *origin = http_cors_origin(l, conn);
    if (origin) {
        /* The origin itself, not "*": a page's fetch may send its token. */
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Origin");
        MHD_add_response_header(resp, "Access-Control-Expose-Headers", "Retry-After");
    }
    /* A connection libmicrohttpd reads directly (a stream's) serves one
     * request: a later head on it would go unchecked (http_admit.c). */
    if (!grove_http_conn_is_relayed(conn))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* A CORS preflight (OPTIONS with Access-Control-Request-Method): allowed
 * origins get what they may send, others 403; with CORS off, 405 as for any
 * method a path does not take. Answered before the token is checked:
 * browsers send none on a preflight. */
enum MHD_Result grove_http_preflight(const struct http_listener *l, struct MHD_Connection *conn)
{
    if (l->cors_origin_count == 0)
        return grove_http_queue_error(l, conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                                      "OPTIONS: CORS is off on this listener", NULL);
    const char *origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
    if (!http_cors_origin(l, conn)) {
        char msg[320];
        snprintf(msg, sizeof msg, "origin \"%.256s\" may not call this listener",
                 origin ? origin : "");
        return grove_http_queue_error(l, conn, MHD_HTTP_FORBIDDEN, msg, NULL);
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_METHODS,
                            "GET, POST, PATCH, DELETE, OPTIONS");
    MHD_add_response_header(resp, "Access-Control-Allow-Headers",
                            "Authorization, Content-Type, Idempotency-Key, Last-Event-ID");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCESS_CONTROL_MAX_AGE, "600");
    return grove_http_queue_response(l, conn, MHD_HTTP_NO_CONTENT, resp);
}

enum MHD_Result grove_http_queue_json(const struct http_listener *l, struct MHD_Connection *conn,
                                      int status, struct grove_buf *body)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(body->len, body->data, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        grove_buf_free(body);
        return MHD_NO;
    }
    /* MHD owns the bytes now. */
    body->data = NULL;
    body->len = body->cap = 0;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    return grove_http_queue_response(l, conn, status, resp);
}

/* {"error": message} with its status; NULL when out of memory. */
static struct MHD_Response *http_error_response(int status, const char *message, const char *allow)
{
    struct grove_buf body = {0};
    if (grove_json_encode_error(message, &body) != GROVE_OK) {
        grove_buf_free(&body);
        return NULL;
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(body.len, body.data, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        grove_buf_free(&body);
        return NULL;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    char retry[16];
    if (status == MHD_HTTP_TOO_MANY_REQUESTS && grove_errretry()) { /* GROVE_ERATELIMIT */
        snprintf(retry, sizeof retry, "%u", grove_errretry());
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, retry);
    }
    if (allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    return resp;
}

enum MHD_Result grove_http_queue_error(const struct http_listener *l, struct MHD_Connection *conn,
                                       int status, const char *message, const char *allow)
{
    if (status == MHD_HTTP_UNAUTHORIZED || status == MHD_HTTP_FORBIDDEN ||
        status == MHD_HTTP_TOO_MANY_REQUESTS) { /* refusals an operator wants to see */
        char peer[GROVE_PEER_ADDR_MAX], code[8];
        grove_http_peer_addr(conn, peer, sizeof peer);
        snprintf(code, sizeof code, "%d", status);
        grove_log_refused("http", "request", peer, code, message);
    }
    struct MHD_Response *resp = http_error_response(status, message, allow);
    return resp ? grove_http_queue_response(l, conn, status, resp) : MHD_NO;
}

enum MHD_Result grove_http_queue_refusal(const struct http_listener *l, struct MHD_Connection *conn,
                                         int status, const char *message)
{
    struct MHD_Response *resp = http_error_response(status, message, NULL);
    if (!resp)
        return MHD_NO;
    /* What came after it on the connection is not read. */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    return grove_http_queue_response(l, conn, status, resp);
}

enum MHD_Result grove_http_queue_grove_error(const struct http_listener *l,
                                             struct MHD_Connection *conn, grove_err err)
{
    return grove_http_queue_error(l, conn, grove_err_to_http(err), grove_errmsg(), NULL);
}
