/* Multi-process: an edge whose peer line is "peer = HUB tables=docs
 * prefix=acme/" syncs with a hub that holds two tenants and a second table.
 * It ends with only acme's docs (what the hub has and what comes later, over
 * pulls and the stream), its own acme writes reach the hub, and its rows of
 * another tenant stay its own; widened by a reload, it syncs what it passed
 * over before. Every groved is killed at the end. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "grove/json.h"
#include "integration/groved_proc.h"
#include "support/tmpdir.h"

#define SYNC_WAIT_S 60

static const char *test_dir;

static void setup(void)
{
    test_dir = support_tmpdir_new("it-selective");
}

static void teardown(void)
{
    gd_kill_all();
    support_tmpdir_remove(test_dir);
}

TestSuite(integration_selective, .init = setup, .fini = teardown, .timeout = 200);

static size_t collect(char *data, size_t size, size_t n, void *user)
{
    grove_buf_append(user, data, size * n);
    return size * n;
}

/* POSTs body to g's path; the HTTP status, the answer in *out. */
static long post(const struct gd *g, const char *path, const char *body, struct grove_buf *out)
{
    char url[256];
    snprintf(url, sizeof url, "%s/%s", g->url, path);
    CURL *e = curl_easy_init();
    cr_assert_not_null(e);
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    out->len = 0;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    long status = 0;
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(e);
    return status;
}

/* GET /v1/status of g (the admin API at the root of its listener). */
static void status(const struct gd *g, struct grove_buf *out)
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/status", g->port);
    CURL *e = curl_easy_init();
    cr_assert_not_null(e);
    out->len = 0;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    cr_assert_eq(curl_easy_perform(e), CURLE_OK, "%s", url);
    curl_easy_cleanup(e);
    grove_buf_append(out, "", 1);
}

/* Writes `table`/<prefix><i>.title for i < n on g as client node `client`. */
static void write_rows(const struct gd *g, const char *client, const char *table,
                       const char *prefix, int n)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct grove_buf body = {0}, out = {0};
    char item[512];
    grove_buf_append(&body, "{\"changes\":[", 12);
    for (int i = 0; i < n; i++) {
        int k = snprintf(item, sizeof item,
                         "%s{\"table\":\"%s\",\"pk\":\"%s%d\",\"field\":\"title\",\"crdt_type\":"
                         "\"lww\",\"hlc\":{\"ts\":%lld,\"c\":%d,\"node\":\"%s\"},\"node_id\":"
                         "\"%s\",\"value\":\"t\"}",
                         i ? "," : "", table, prefix, i,
                         (long long)now.tv_sec * 1000000000LL + now.tv_nsec, i, client, client);
        grove_buf_append(&body, item, (size_t)k);
    }
    int k = snprintf(item, sizeof item, "],\"node_id\":\"%s\"}", client);
    grove_buf_append(&body, item, (size_t)k + 1);
    long status = post(g, "push", body.data, &out);
    cr_assert_eq(status, 200, "push to %s: %ld %.*s", g->url, status, (int)out.len, out.data);
    grove_buf_free(&body);
    grove_buf_free(&out);
}

/* Records of `table` on g whose pk starts with prefix (asked with the pull
 * filter, page by page); -1 when a pull fails. */
static long count(const struct gd *g, const char *table, const char *prefix)
{
    struct grove_hlc since = {0};
    struct grove_buf out = {0};
    long total = 0;
    for (bool more = true; more;) {
        char body[512];
        snprintf(body, sizeof body,
                 "{\"tables\":[\"%s\"],\"since\":{\"ts\":%lld,\"c\":%u,\"node\":\"%s\"},"
                 "\"node_id\":\"checker\",\"filter\":{\"pk_prefix\":\"%s\"}}",
                 table, (long long)since.ts, since.c, since.node, prefix);
        struct grove_pull_response *resp;
        if (post(g, "pull", body, &out) != 200 ||
            grove_json_decode_pull_response(out.data, out.len, &resp) != GROVE_OK) {
            total = -1;
            break;
        }
        total += (long)resp->count;
        since = resp->latest_hlc;
        more = resp->has_more;
        grove_msg_free(resp);
    }
    grove_buf_free(&out);
    return total;
}

static long wait_count(const struct gd *g, const char *table, const char *prefix, long want)
{
    long n = -1;
    for (int i = 0; i < SYNC_WAIT_S * 10 && (n = count(g, table, prefix)) != want; i++)
        usleep(100000);
    return n;
}

Test(integration_selective, an_edge_scoped_to_one_tenant_holds_only_its_rows)
{
    struct gd hub, edge;
    gd_prepare(&hub, "hub", test_dir);
    gd_prepare(&edge, "edge", test_dir);
    gd_arg(&hub, "--table", "notes");
    gd_arg(&edge, "--table", "notes");
    char conf[512];
    snprintf(conf, sizeof conf, "%s/edge.conf", test_dir);
    FILE *f = fopen(conf, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "# an edge that holds one tenant\npeer = %s tables=docs prefix=acme/\n"
            "interval = 1\n",
            hub.url);
    fclose(f);
    gd_arg(&edge, "--config", conf);
    cr_assert(gd_start(&hub), "hub did not start: %s", hub.log);
    write_rows(&hub, "app-h", "docs", "acme/h", 50);
    write_rows(&hub, "app-h", "docs", "beta/h", 50);
    write_rows(&hub, "app-h", "notes", "acme/n", 5);
    cr_assert(gd_start(&edge), "edge did not start: %s", edge.log);
    /* The edge's rows of another tenant first, then its own: once its own
     * reached the hub, the push has passed the others. */
    write_rows(&edge, "app-e", "docs", "beta/e", 5);
    write_rows(&edge, "app-e", "docs", "acme/e", 20);
    cr_assert_eq(wait_count(&edge, "docs", "acme/h", 50), 50, "the hub's acme rows reach the edge");
    cr_assert_eq(wait_count(&hub, "docs", "acme/e", 20), 20, "the edge's acme rows reach the hub");
    /* Written on the hub while the edge streams from it (the stream carries
     * the prefix too). */
    write_rows(&hub, "app-h", "docs", "beta/late", 10);
    write_rows(&hub, "app-h", "docs", "acme/late", 10);
    cr_assert_eq(wait_count(&edge, "docs", "acme/late", 10), 10);
    cr_expect_eq(count(&edge, "docs", "beta/"), 5, "only the edge's own beta rows");
    cr_expect_eq(count(&edge, "docs", ""), 50 + 20 + 10 + 5);
    cr_expect_eq(count(&edge, "notes", ""), 0, "notes is not synced with the hub");
    cr_expect_eq(count(&hub, "docs", "beta/e"), 0, "the edge's beta rows stay on the edge");
    cr_expect_eq(count(&hub, "docs", ""), 50 + 50 + 20 + 10 + 10);
    struct grove_buf st = {0};
    status(&edge, &st);
    cr_expect(strstr(st.data, "\"tables\":[\"docs\"],\"pk_prefix\":\"acme/\""),
              "the status names the peer's scope: %s", st.data);
    cr_expect(strstr(st.data, "\"pending\":0,"), "the beta rows are not pending: %s", st.data);
    grove_buf_free(&st);
    /* Widened on SIGHUP: the scope changed, so the cursors start again and
     * what they passed over comes after all, both ways. */
    f = fopen(conf, "w");
    cr_assert_not_null(f);
    fprintf(f, "peer = %s tables=docs,notes\ninterval = 1\n", hub.url);
    fclose(f);
    cr_assert_eq(kill(edge.pid, SIGHUP), 0);
    cr_expect_eq(wait_count(&edge, "docs", "beta/", 5 + 50 + 10), 5 + 50 + 10, "see %s", edge.log);
    cr_expect_eq(wait_count(&edge, "notes", "", 5), 5);
    cr_expect_eq(wait_count(&hub, "docs", "beta/e", 5), 5);
    cr_assert_eq(gd_stop(&edge), 0, "clean exit on SIGTERM");
    cr_assert_eq(gd_stop(&hub), 0);
}
