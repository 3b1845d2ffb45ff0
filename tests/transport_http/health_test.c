/* /healthz and /readyz at the root of an HTTP listener: answered without a
 * token, JSON; readiness follows the node (ready once open, not once its
 * server shuts down) while liveness holds as long as the listener serves. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "transport_http/http_fixture.h"

static void probe(const struct http_node *n, const char *method, const char *path, long want,
                  const char *says)
{
    char url[300];
    /* The probes live at the root of the address, not under the sync base. */
    snprintf(url, sizeof url, "%.*s%s", (int)(strstr(n->url + 8, "/sync") - n->url), n->url, path);
    struct http_raw_reply r;
    http_raw(method, url, NULL, NULL, NULL, 0, &r);
    cr_expect_eq(r.status, want, "%s %s: %ld %s", method, path, r.status, r.body);
    cr_expect_str_eq(r.content_type, "application/json", "%s %s", method, path);
    cr_expect(strstr(r.body, says) != NULL, "%s %s: %s", method, path, r.body);
    http_raw_free(&r);
}

Test(transport_http_health, probes_follow_the_node_and_need_no_token)
{
    struct http_node n;
    http_node_start(&n, &(struct grove_listen_options){.token = "s3cret"});
    probe(&n, "GET", "/healthz", 200, "\"status\":\"ok\"");
    probe(&n, "GET", "/readyz", 200, "\"status\":\"ok\"");
    probe(&n, "POST", "/readyz", 405, "\"error\"");
    grove_server_shutdown(n.node.server); /* as grove_node_close begins */
    probe(&n, "GET", "/readyz", 503, "not ready");
    probe(&n, "GET", "/healthz", 200, "\"status\":\"ok\"");
    http_node_stop(&n);
}
