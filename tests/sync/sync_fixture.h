/* Shared fixture of the sync scenario tests: nodes with their own SQLite file
 * in a temporary directory, serving inproc://<pid>-<name>, with a syncer. */
#ifndef GROVE_TESTS_SYNC_FIXTURE_H
#define GROVE_TESTS_SYNC_FIXTURE_H

#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "grove/grove.h"
#include "support/tmpdir.h"
#include "grove/transport_faults.h"

#define FX_TABLES  "docs:title=lww,body=lww,views=counter,tags=set"
#define FX_TABLES2 "notes:text=lww,likes=counter,labels=set"

struct fx_node {
    char name[16];
    char path[PATH_MAX];
    char url[96];           /* where it serves */
    struct grove_node node; /* serves url when fx_serve was called */
    struct grove_syncer_options opts;
};

static const char *fx_dir; /* this test's temporary directory */
static struct grove_schema *fx_schema;

#define fx_ok(expr)                                                                                \
    do {                                                                                           \
        grove_err fx_err_ = (expr);                                                                \
        cr_assert_eq(fx_err_, GROVE_OK, "%s: %s (%s)", #expr, grove_err_name(fx_err_),             \
                     grove_errmsg());                                                              \
    } while (0)

static inline void fx_setup(void)
{
    fx_dir = support_tmpdir_new("sync");
    fx_ok(grove_schema_new(&fx_schema));
    fx_ok(grove_schema_parse(fx_schema, FX_TABLES));
    fx_ok(grove_schema_parse(fx_schema, FX_TABLES2));
    fx_ok(grove_transport_faults_register());
    grove_log_set_level(GROVE_LOG_OFF);
}

static inline void fx_teardown(void)
{
    if (fx_dir)
        support_tmpdir_remove(fx_dir);
    fx_dir = NULL;
    grove_schema_free(fx_schema);
    fx_schema = NULL;
}

/* Opens the node's store (created on first use) under its name. */
static inline void fx_open_store(struct fx_node *n)
{
    struct grove_store_options so = {.path = n->path, .node_id = n->name, .schema = fx_schema};
    fx_ok(grove_store_open(&n->node.store, &so));
}

/* A node with a store; serve and syncer are added by the test as needed. */
static inline void fx_node_init(struct fx_node *n, const char *name)
{
    memset(n, 0, sizeof *n);
    snprintf(n->name, sizeof n->name, "%s", name);
    snprintf(n->path, sizeof n->path, "%s/%s.db", fx_dir, name);
    snprintf(n->url, sizeof n->url, "inproc://%d-%s", (int)getpid(), name);
    fx_open_store(n);
}

static inline void fx_serve(struct fx_node *n)
{
    struct grove_server_options vo = {0};
    fx_ok(grove_server_new(&n->node.server, n->node.store, &vo));
    fx_ok(grove_node_listen(&n->node, n->url, NULL));
}

/* Starts a syncer (no background threads: tests drive the rounds). */
static inline void fx_syncer(struct fx_node *n, const struct grove_syncer_options *opts)
{
    if (opts)
        n->opts = *opts;
    fx_ok(grove_syncer_new(&n->node.syncer, n->node.store, &n->opts));
}

static inline void fx_add_peer(struct fx_node *n, const char *url)
{
    struct grove_dial_options d = {.timeout_ms = 10000};
    fx_ok(grove_syncer_add_peer(n->node.syncer, url, &d));
}

static inline void fx_close(struct fx_node *n)
{
    grove_node_close(&n->node);
}

/* One sync round with peer i; the round must succeed. */
static inline struct grove_sync_report fx_sync(struct fx_node *n, size_t i)
{
    struct grove_sync_report r;
    memset(&r, 0, sizeof r);
    fx_ok(grove_syncer_sync_peer(n->node.syncer, i, &r));
    cr_assert_eq(r.err, GROVE_OK, "%s sync with %s: %s", n->name, r.peer ? r.peer : "?", r.error);
    return r;
}

static inline struct grove_sync_report fx_pull(struct fx_node *n, size_t i)
{
    struct grove_sync_report r;
    memset(&r, 0, sizeof r);
    fx_ok(grove_syncer_pull_peer(n->node.syncer, i, &r));
    cr_assert_eq(r.err, GROVE_OK, "%s pull: %s", n->name, r.error);
    return r;
}

static inline struct grove_sync_report fx_push(struct fx_node *n, size_t i)
{
    struct grove_sync_report r;
    memset(&r, 0, sizeof r);
    fx_ok(grove_syncer_push_peer(n->node.syncer, i, &r));
    cr_assert_eq(r.err, GROVE_OK, "%s push: %s", n->name, r.error);
    return r;
}

static inline void fx_set(struct fx_node *n, const char *table, const char *pk, const char *field,
                          const char *value)
{
    fx_ok(grove_store_set(n->node.store, table, pk, field, value, strlen(value)));
}

/* The resolved row, or "(absent)". The caller frees. */
static inline char *fx_get(struct fx_node *n, const char *table, const char *pk)
{
    char *out = NULL;
    grove_err err = grove_data_get(n->node.store, table, pk, &out);
    if (err == GROVE_ENOTFOUND)
        return strdup("(absent)");
    cr_assert_eq(err, GROVE_OK, "get %s/%s: %s", table, pk, grove_errmsg());
    return out;
}

#define fx_assert_row(node, table, pk, want)                                                       \
    do {                                                                                           \
        char *fx_got_ = fx_get((node), (table), (pk));                                             \
        cr_assert_str_eq(fx_got_, (want), "%s: %s/%s is %s, want %s", (node)->name, (table), (pk), \
                         fx_got_, (want));                                                         \
        free(fx_got_);                                                                             \
    } while (0)

/* Visible rows of a table, counted through grove_data_list pages. */
static inline size_t fx_count_rows(struct fx_node *n, const char *table, size_t page_size)
{
    size_t count = 0;
    char *after = NULL;
    do {
        struct grove_list_query q = {.table = table, .after = after, .limit = page_size};
        struct grove_row_page *page;
        fx_ok(grove_data_list(n->node.store, &q, &page));
        count += page->count;
        free(after);
        after = page->next ? strdup(page->next) : NULL;
        grove_msg_free(page);
    } while (after);
    return count;
}

/* The current time in ns, as HLC ts. */
static inline int64_t fx_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* A push request of n lww changes docs/<prefix>NNNNN.title = N from node "X",
 * stamped ts, ts + 1 µs, ... */
static inline struct grove_push_request *fx_lww_push(const char *prefix, size_t n, int64_t ts)
{
    struct grove_push_request *req = NULL;
    size_t cap = 0;
    fx_ok(grove_push_request_new(&req));
    fx_ok(grove_msg_reserve_changes(req, &req->changes, &cap, n));
    req->count = n;
    req->node_id = "X";
    for (size_t i = 0; i < n; i++) {
        struct grove_change *c = &req->changes[i];
        char pk[32], value[32];
        snprintf(pk, sizeof pk, "%s%05zu", prefix, i);
        snprintf(value, sizeof value, "%zu", i);
        c->table = "docs";
        c->pk = grove_msg_strndup(req, pk, strlen(pk));
        c->field = "title";
        c->crdt = GROVE_CRDT_LWW;
        c->hlc.ts = ts + (int64_t)i * 1000;
        fx_ok(grove_hlc_set_node(&c->hlc, "X"));
        c->node_id = "X";
        c->value.ptr = grove_msg_strndup(req, value, strlen(value));
        c->value.len = strlen(value);
    }
    return req;
}

#endif
