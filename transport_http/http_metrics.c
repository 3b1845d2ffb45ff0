/* GET /metrics at the root of every HTTP listener (docs/design.md §12): the
 * node's registry (grove/metrics.h) in Prometheus' text format, for an
 * admin identity when the listener has identities or tokens; and the
 * counting of every HTTP request once it has been answered (and, at debug,
 * the Data API request logged). */
#include <stdio.h>
#include <string.h>

#include "grove/metrics.h"
#include "grove/sys/error.h"
#include "http_internal.h"

static struct grove_metrics *http_metrics_of(const struct http_listener *l)
{
    return grove_store_metrics(grove_server_store(l->server));
}

enum MHD_Result grove_http_metrics_serve(const struct http_listener *l, struct MHD_Connection *conn,
                                         const char *method)
{
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return grove_http_queue_error(l, conn, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET", "GET, HEAD");
    struct grove_caller caller;
    grove_err err = grove_http_authorize(l, conn, "metrics", GROVE_NEED_ADMIN, &caller);
    if (err)
        return grove_http_queue_grove_error(l, conn, err);
    grove_caller_release(&caller);
    struct grove_buf body = {0};
    err = grove_metrics_render(grove_server_store(l->server), &body);
    if (err) {
        grove_buf_free(&body);
        return grove_http_queue_grove_error(l, conn, err);
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(body.len, body.data, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        grove_buf_free(&body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, GROVE_METRICS_CONTENT_TYPE);
    return grove_http_queue_response(l, conn, MHD_HTTP_OK, resp);
}

/* "/metrics", with or without a query. */
static bool http_metrics_is_path(const char *target)
{
    return strncmp(target, "/metrics", 8) == 0 && (target[8] == '\0' || target[8] == '?');
}

void grove_http_metrics_count(const struct http_listener *l, struct MHD_Connection *conn,
                              const char *method, const char *target, int op,
                              int64_t started_us)
{
    if (op < 0 && http_metrics_is_path(target))
        op = GROVE_METRICS_OP_METRICS;
    else if (op < 0 && grove_http_data_is_path(target))
        op = GROVE_METRICS_OP_DATA;
    else if (op < 0)
        return; /* health probes, unknown paths */
    bool timed = op != GROVE_METRICS_OP_STREAM && !strstr(target, "/watch");
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_HTTP_STATUS);
    unsigned status = info ? info->http_status : 0;
    /* No status: the client went before an answer was queued. */
    grove_err err = status == 0    ? GROVE_EUNAVAIL
                    : status < 400 ? GROVE_OK
                                   : grove_err_from_http((int)status);
    grove_metrics_request(http_metrics_of(l), GROVE_METRICS_HTTP, (enum grove_metrics_op)op, err,
                          timed ? started_us : 0);
    if (op == GROVE_METRICS_OP_DATA && grove_log_enabled(GROVE_LOG_DEBUG)) {
        char request[560], peer[GROVE_PEER_ADDR_MAX], result[16];
        snprintf(request, sizeof request, "%s %s", method, target);
        grove_http_peer_addr(conn, peer, sizeof peer);
        snprintf(result, sizeof result, "%u", status);
        grove_log_request("http", request, peer, result,
                          (double)(grove_metrics_now_us() - started_us) / 1000.0);
    }
}

void grove_http_metrics_subscribers_add(const struct http_listener *l, int delta)
{
    grove_metrics_subscribers_add(http_metrics_of(l), GROVE_METRICS_HTTP, delta);
}
