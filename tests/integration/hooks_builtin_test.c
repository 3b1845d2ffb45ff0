/* groved's built-in hooks in real groved processes (docs/hooks.md): the
 * audit log's lines are the changes merged, pushed over each transport (the
 * client's address and node in every line), and survive a rotation (rename,
 * SIGHUP, new lines in a new file); the rate limit refuses a push beyond the
 * rate (429 with Retry-After over HTTP, RESOURCE_EXHAUSTED over gRPC,
 * ERATELIMIT over nng), changes nothing, and recovers. */
#include <signal.h>
#include <time.h>

#include "grove/sys/error.h"
#include "grove/transport_http.h"
#include "integration/hooks_proc.h"
#include "support.h"
#ifdef GROVE_HAVE_GRPC
#include "grove/transport_grpc.h"
#endif
#ifdef GROVE_HAVE_NNG
#include "grove/transport_nng.h"
#endif

static const char *test_dir;

static void builtin_setup(void)
{
    test_dir = support_tmpdir_new("hooks-builtin");
    cr_assert_eq(grove_transport_register(grove_transport_http()), GROVE_OK);
#ifdef GROVE_HAVE_GRPC
    cr_assert_eq(grove_transport_register(grove_transport_grpc()), GROVE_OK);
#endif
#ifdef GROVE_HAVE_NNG
    cr_assert_eq(grove_transport_register(grove_transport_nng()), GROVE_OK);
#endif
}

static void builtin_teardown(void)
{
    gd_kill_all();
    support_tmpdir_remove(test_dir);
}

TestSuite(integration_hooks_builtin, .init = builtin_setup, .fini = builtin_teardown,
          .timeout = 120);

/* The URLs a node serves on, one per transport built (http first). */
struct builtin_urls {
    char url[3][128];
    const char *name[3];
    size_t count;
};

/* Adds a gRPC and an nng listener (when built) to g. */
static void builtin_listen_everywhere(struct gd *g, struct builtin_urls *u)
{
    memset(u, 0, sizeof *u);
    snprintf(u->url[0], sizeof u->url[0], "%s", g->url);
    u->name[u->count++] = "http";
#ifdef GROVE_HAVE_GRPC
    snprintf(u->url[u->count], sizeof u->url[0], "grpc://127.0.0.1:%d", support_free_port());
    gd_arg(g, "--listen", u->url[u->count]);
    u->name[u->count++] = "grpc";
#endif
#ifdef GROVE_HAVE_NNG
    snprintf(u->url[u->count], sizeof u->url[0], "nng+tcp://127.0.0.1:%d", support_free_port());
    gd_arg(g, "--listen", u->url[u->count]);
    u->name[u->count++] = "nng";
#endif
}

static int64_t builtin_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Pushes changes as client `node` through url's transport (libgrove's own
 * dialer); returns what the push returned, its message in grove_errmsg(). */
static grove_err builtin_push(const char *url, const char *node, struct grove_change *changes,
                              size_t n)
{
    struct grove_peer *peer;
    grove_err err = grove_peer_open(&peer, url, NULL);
    cr_assert_eq(err, GROVE_OK, "%s", grove_errmsg());
    struct grove_push_request req = {.changes = changes, .count = n, .node_id = node};
    struct grove_push_response *resp = NULL;
    err = grove_peer_push(peer, &req, &resp);
    char message[1024];
    snprintf(message, sizeof message, "%s", grove_errmsg());
    int native = grove_errnative();
    grove_msg_free(resp);
    grove_peer_close(peer);
    if (err)
        grove_error_set_native(err, native, "%s", message);
    return err;
}

/* n lww title changes notes/<prefix><i> from node, stamped now. */
static void builtin_titles(struct grove_change *out, size_t n, const char *prefix, const char *node,
                           char pks[][32])
{
    int64_t ts = builtin_now_ns();
    for (size_t i = 0; i < n; i++) {
        snprintf(pks[i], 32, "%s%zu", prefix, i);
        out[i] = (struct grove_change){.table = "notes",
                                       .pk = pks[i],
                                       .field = "title",
                                       .crdt = GROVE_CRDT_LWW,
                                       .node_id = node,
                                       .value = {"\"t\"", 3},
                                       .hlc = {.ts = ts, .c = (uint32_t)i}};
        snprintf(out[i].hlc.node, sizeof out[i].hlc.node, "%s", node);
    }
}

/* The audit line of change c pushed by node: its fixed part (after the peer's port). */
static void builtin_audit_tail(const struct grove_change *c, char *out, size_t size)
{
    snprintf(out, size,
             "\",\"node\":\"%s\",\"table\":\"%s\",\"pk\":\"%s\",\"field\":\"%s\","
             "\"crdt_type\":\"%s\",\"tombstone\":%s,\"hlc\":{\"ts\":%lld,\"c\":%u,\"node\":\"%s\"},"
             "\"origin\":\"%s\"}",
             c->node_id, c->table, c->pk, c->field, grove_crdt_name(c->crdt),
             c->tombstone ? "true" : "false", (long long)c->hlc.ts, c->hlc.c, c->hlc.node,
             c->node_id);
}

static void builtin_expect_audited(const char *audit, const struct grove_change *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char tail[512];
        builtin_audit_tail(&c[i], tail, sizeof tail);
        cr_expect(hk_file_has_both(audit, "\"path\":\"push_served\",\"peer\":\"127.0.0.1:", tail),
                  "no audit line ending %s in %s", tail, audit);
    }
}

Test(integration_hooks_builtin, audit_log_lines_are_the_changes_merged_and_survive_rotation)
{
    char audit[PATH_MAX], rotated[PATH_MAX + 8];
    snprintf(audit, sizeof audit, "%s/audit.log", test_dir);
    snprintf(rotated, sizeof rotated, "%s.1", audit);
    struct gd a;
    struct builtin_urls urls;
    hk_prepare(&a, "a", test_dir);
    builtin_listen_everywhere(&a, &urls);
    gd_arg(&a, "--audit-log", audit);
    hk_start(&a);

    /* One push per transport, each as its own client node; the HTTP one holds
     * a counter, a set element and a delete too. */
    size_t lines = 0;
    for (size_t t = 0; t < urls.count; t++) {
        char node[32], pks[4][32];
        snprintf(node, sizeof node, "app-%s", urls.name[t]);
        struct grove_change c[4];
        builtin_titles(c, 2, urls.name[t], node, pks);
        size_t n = 2;
        if (t == 0) {
            static struct grove_slice red = {"\"red\"", 5};
            c[n] = c[0]; /* docs declares views a counter and tags a set */
            c[n].table = "docs", c[n].field = "views", c[n].crdt = GROVE_CRDT_COUNTER;
            c[n].value = (struct grove_slice){0}, c[n].has_counter = true, c[n].counter_inc = 3;
            c[n++].hlc.c = 10;
            c[n] = c[0];
            c[n].table = "docs", c[n].field = "tags", c[n].crdt = GROVE_CRDT_SET;
            c[n].value = (struct grove_slice){0}, c[n].set_op = GROVE_SET_ADD;
            c[n].elements = &red, c[n].element_count = 1;
            c[n++].hlc.c = 11;
        }
        cr_assert_eq(builtin_push(urls.url[t], node, c, n), GROVE_OK, "%s: %s", urls.name[t],
                     grove_errmsg());
        builtin_expect_audited(audit, c, n);
        lines += n;
    }
    cr_expect_eq(hk_count_lines(audit, "\"path\":\"push_served\""), lines,
                 "one line per change merged");

    /* Rotation: rename, SIGHUP, and the next lines go to a new file. */
    cr_assert_eq(rename(audit, rotated), 0);
    cr_assert_eq(kill(a.pid, SIGHUP), 0);
    cr_assert(hk_wait_file(a.log, "received SIGHUP: reopened the audit log", 10), "no reopen in %s",
              a.log);
    char pks[2][32];
    struct grove_change c[2];
    builtin_titles(c, 2, "after", "app-late", pks);
    cr_assert_eq(builtin_push(urls.url[urls.count - 1], "app-late", c, 2), GROVE_OK, "%s",
                 grove_errmsg());
    builtin_expect_audited(audit, c, 2);
    cr_expect_eq(hk_count_lines(audit, "\"path\""), 2, "the new file holds only the new lines");
    cr_expect_eq(hk_count_lines(rotated, "\"path\""), lines, "the rotated file was written on");
    cr_expect_eq(gd_stop(&a), 0, "groved survived SIGHUP and stops cleanly");
}

Test(integration_hooks_builtin, rate_limit_refuses_beyond_the_rate_and_recovers)
{
    struct gd a;
    struct builtin_urls urls;
    hk_prepare(&a, "a", test_dir);
    builtin_listen_everywhere(&a, &urls);
    gd_arg(&a, "--rate-limit", "3");
    hk_start(&a);
    struct hk_reply r;

    /* HTTP: a full bucket pays for 3 changes; 3 more a moment later need a second. */
    cr_assert_eq(
        hk_push(&a, "app", &r, "h1", "title", "1", "h2", "title", "1", "h3", "title", "1", NULL),
        200, "%s", r.body);
    cr_expect_eq(
        hk_push(&a, "app", &r, "h4", "title", "1", "h5", "title", "1", "h6", "title", "1", NULL),
        429, "%s", r.body);
    cr_expect_str_eq(r.retry_after, "1");
    cr_expect(strstr(r.body, "rate limit: 127.0.0.1 pushes more than 3 changes per second"), "%s",
              r.body);
    cr_expect_eq(hk_get(&a, "h4", &r), 404, "a refused push was applied");
    usleep(1200 * 1000);
    cr_expect_eq(
        hk_push(&a, "app", &r, "h4", "title", "1", "h5", "title", "1", "h6", "title", "1", NULL),
        200, "the limit did not recover: %s", r.body);
    cr_expect_eq(hk_get(&a, "h4", &r), 200);

    /* The other transports: the same bucket (one client host), their own statuses. */
    for (size_t t = 1; t < urls.count; t++) {
        usleep(1200 * 1000);
        char pks[3][32];
        struct grove_change c[3];
        builtin_titles(c, 3, urls.name[t], "app", pks);
        cr_expect_eq(builtin_push(urls.url[t], "app", c, 3), GROVE_OK, "%s: %s", urls.name[t],
                     grove_errmsg());
        builtin_titles(c, 3, "refused-", "app", pks);
        grove_err err = builtin_push(urls.url[t], "app", c, 3);
        cr_expect(strstr(grove_errmsg(), "rate limit: 127.0.0.1") &&
                      strstr(grove_errmsg(), "retry after 1 s"),
                  "%s: %s", urls.name[t], grove_errmsg());
        if (strcmp(urls.name[t], "grpc") == 0)
            cr_expect_eq(grove_errnative(), 8, "RESOURCE_EXHAUSTED, got %d", grove_errnative());
        else
            cr_expect_eq(err, GROVE_ERATELIMIT, "%s: %s", urls.name[t], grove_err_name(err));
        cr_expect_eq(hk_get(&a, "refused-0", &r), 404, "%s: a refused push was applied",
                     urls.name[t]);
    }
    usleep(1200 * 1000);
    char pks[3][32];
    struct grove_change c[3];
    builtin_titles(c, 3, "last", "app", pks);
    cr_expect_eq(builtin_push(urls.url[urls.count - 1], "app", c, 3), GROVE_OK, "%s",
                 grove_errmsg());
    cr_expect_eq(gd_stop(&a), 0);
}
