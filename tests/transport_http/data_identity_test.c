/* The Data API and /metrics for identities (docs/operations.md,
 * "Identities"), over a real HTTP listener: a client's writes and reads stay
 * inside its tables and pk prefix, a write with one row outside is refused
 * whole, lists are narrowed to the prefix, and /metrics needs an admin. */
#include <stdio.h>
#include <string.h>

#include "grove/access.h"
#include "transport_http/data_fixture.h"

#define EDGE "Authorization: Bearer edge-secret"
#define OPS  "Authorization: Bearer ops-secret"

static const char *const idh_docs[] = {"docs"};

static void idh_start(struct data_node *n)
{
    struct grove_identity ids[] = {
        {.name = "edge",
         .role = GROVE_ROLE_CLIENT,
         .node = "edge",
         .read = {.tables = idh_docs, .table_count = 1},
         .write = {.tables = idh_docs, .table_count = 1},
         .prefix = "acme/",
         .secrets = {"edge-secret"}},
        {.name = "ops",
         .read.all = true,
         .write.all = true,
         .admin = true,
         .secrets = {"ops-secret"}},
    };
    struct grove_access *a = NULL;
    cr_assert_eq(grove_access_new(&a, ids, 2), GROVE_OK, "%s", grove_errmsg());
    data_node_start(n, &(struct grove_listen_options){.access = a});
    grove_access_unref(a);
}

static long idh_status(const struct data_node *n, const char *method, const char *path,
                       const char *body, const char *auth, char *out, size_t cap)
{
    struct http_raw_reply r;
    request(n, method, path, body, auth, &r);
    long status = r.status;
    if (out)
        snprintf(out, cap, "%s", r.body ? r.body : "");
    http_raw_free(&r);
    return status;
}

Test(transport_http_data_identity, a_client_stays_inside_its_tables_and_prefix)
{
    struct data_node n;
    idh_start(&n);
    char acme[128], globex[128], note[128], body[4096];
    row_path("docs", "acme/1", acme, sizeof acme);
    row_path("docs", "globex/1", globex, sizeof globex);
    row_path("notes", "acme/1", note, sizeof note);
    const char *title = "{\"title\": \"t\"}";
    cr_expect_eq(idh_status(&n, "PATCH", acme, title, NULL, NULL, 0), 401);
    cr_expect_eq(idh_status(&n, "PATCH", acme, title, EDGE, body, sizeof body), 200, "%s", body);
    cr_expect_eq(idh_status(&n, "PATCH", globex, title, EDGE, body, sizeof body), 403);
    cr_expect(strstr(body, "identity edge may not write docs/globex/1"), "%s", body);
    cr_expect_eq(idh_status(&n, "PATCH", note, "{\"x\": 1}", EDGE, NULL, 0), 403);
    cr_expect_eq(idh_status(&n, "DELETE", globex, NULL, EDGE, NULL, 0), 403);
    /* One row outside the prefix: nothing of the write is applied. */
    cr_expect_eq(idh_status(&n, "POST", "/v1/tables/docs/rows",
                            "{\"rows\": [{\"pk\": \"acme/2\", \"fields\": {\"title\": \"A\"}},"
                            "{\"pk\": \"globex/2\", \"fields\": {\"title\": \"G\"}}]}",
                            EDGE, body, sizeof body),
                 403, "%s", body);
    char acme2[128];
    row_path("docs", "acme/2", acme2, sizeof acme2);
    cr_expect_eq(idh_status(&n, "GET", acme2, NULL, OPS, NULL, 0), 404);
    /* Reads: its rows only; a list is narrowed to its prefix. */
    cr_expect_eq(idh_status(&n, "PATCH", globex, title, OPS, NULL, 0), 200);
    cr_expect_eq(idh_status(&n, "GET", globex, NULL, EDGE, NULL, 0), 403);
    cr_expect_eq(idh_status(&n, "GET", acme, NULL, EDGE, NULL, 0), 200);
    cr_expect_eq(idh_status(&n, "GET", "/v1/tables/docs/rows", NULL, EDGE, body, sizeof body), 200);
    cr_expect(strstr(body, "acme/1") && !strstr(body, "globex"), "%s", body);
    cr_expect_eq(idh_status(&n, "GET", "/v1/tables/docs/rows?prefix=globex/", NULL, EDGE, NULL, 0),
                 403);
    cr_expect_eq(idh_status(&n, "GET", "/v1/tables/docs/rows", NULL, OPS, body, sizeof body), 200);
    cr_expect(strstr(body, "acme/1") && strstr(body, "globex/1"), "%s", body);
    cr_expect_eq(idh_status(&n, "GET", "/v1/tables/notes/rows", NULL, EDGE, NULL, 0), 403);
    data_node_stop(&n);
}

Test(transport_http_data_identity, metrics_need_an_admin)
{
    struct data_node n;
    idh_start(&n);
    cr_expect_eq(idh_status(&n, "GET", "/metrics", NULL, NULL, NULL, 0), 401);
    cr_expect_eq(idh_status(&n, "GET", "/metrics", NULL, EDGE, NULL, 0), 403);
    char body[65536];
    cr_expect_eq(idh_status(&n, "GET", "/metrics", NULL, OPS, body, sizeof body), 200);
    /* The refusals are counted by reason. */
    cr_expect(strstr(body, "reason=\"auth\"") || strstr(body, "reason=\"forbidden\""), "%.2000s",
              body);
    data_node_stop(&n);
}
