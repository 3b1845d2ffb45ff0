/* grove-bench filter: what the pull filter costs the serving side. A store
 * holds N rows of 10 tenants ("t0/" ... "t9/"), written interleaved, as a
 * hub's are; a puller reads everything, one tenant (pk_prefix), 10 and 1000
 * named rows (pk_filter), each from the zero cursor in pages of 5000, as a
 * new edge's first sync does. A prefix is not an index: the page walks the
 * arrival order and passes over the other tenants (docs/protocol.md §4). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "grove/grove.h"

enum { FILTER_BATCH = 10000, FILTER_TENANTS = 10, FILTER_PAGE = 5000 };

static void filter_check(grove_err err, const char *what)
{
    if (err) {
        fprintf(stderr, "grove-bench filter: %s: %s\n", what, grove_errmsg());
        exit(1);
    }
}

/* Rows first.. of node "client", row i in tenant i % 10. */
static void filter_fill(struct grove_store *store, long n)
{
    struct grove_change *c = calloc(FILTER_BATCH, sizeof *c);
    char(*pks)[32] = calloc(FILTER_BATCH, sizeof *pks);
    if (!c || !pks)
        exit(1);
    for (long first = 0; first < n; first += FILTER_BATCH) {
        long k = n - first < FILTER_BATCH ? n - first : FILTER_BATCH;
        for (long i = 0; i < k; i++) {
            long row = first + i;
            snprintf(pks[i], sizeof pks[i], "t%ld/row-%09ld", row % FILTER_TENANTS, row);
            c[i] = (struct grove_change){.table = "docs",
                                         .pk = pks[i],
                                         .field = "title",
                                         .crdt = GROVE_CRDT_LWW,
                                         .hlc = {.ts = 1700000000000000000LL, .c = (uint32_t)row},
                                         .node_id = "client",
                                         .value = {"\"a title\"", 9}};
            strcpy(c[i].hlc.node, "client");
        }
        struct grove_apply_report r;
        filter_check(grove_store_apply(store, c, (size_t)k, "client", &r), "apply");
    }
    free(pks);
    free(c);
}

/* Pages from the zero cursor until has_more is false: records returned,
 * pages and seconds. */
static void filter_read(struct grove_server *server, const struct grove_pull_filter *f,
                        long *records, long *pages, double *seconds)
{
    static const char *tables[] = {"docs"};
    struct grove_pull_request req = {
        .tables = tables, .table_count = 1, .node_id = "edge", .limit = FILTER_PAGE};
    if (f)
        req.filter = *f;
    *records = *pages = 0;
    double t0 = bench_now();
    for (bool more = true; more; (*pages)++) {
        struct grove_pull_response *resp;
        filter_check(grove_server_pull(server, &req, &resp), "pull");
        *records += (long)resp->count;
        more = resp->has_more;
        req.since = resp->latest_hlc;
        grove_msg_free(resp);
    }
    *seconds = bench_now() - t0;
}

int bench_filter(int argc, char **argv)
{
    long n = bench_arg_n(argc, argv, 1000000);
    char dir[] = "/tmp/grove-bench-filter-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char path[128];
    snprintf(path, sizeof path, "%s/hub.db", dir);
    struct grove_schema *schema;
    filter_check(grove_schema_new(&schema), "schema");
    filter_check(grove_schema_parse(schema, "docs:title=lww"), "schema");
    struct grove_store *store;
    struct grove_store_options o = {.path = path, .node_id = "hub", .schema = schema};
    filter_check(grove_store_open(&store, &o), "open");
    filter_fill(store, n);
    struct grove_server *server;
    filter_check(grove_server_new(&server, store, NULL), "server");

    long all, all_pages, tenant, tenant_pages, named, named_pages;
    double all_s, tenant_s, named_s;
    filter_read(server, NULL, &all, &all_pages, &all_s);
    struct grove_pull_filter prefix = {.pk_prefix = "t3/"};
    filter_read(server, &prefix, &tenant, &tenant_pages, &tenant_s);
    char names[FILTER_TENANTS][32];
    const char *pks[FILTER_TENANTS];
    for (int i = 0; i < FILTER_TENANTS; i++) {
        snprintf(names[i], sizeof names[i], "t3/row-%09ld", (n / FILTER_TENANTS) * i + 3);
        pks[i] = names[i];
    }
    struct grove_pull_filter named_f = {.pks = pks, .pk_count = FILTER_TENANTS};
    filter_read(server, &named_f, &named, &named_pages, &named_s);
    /* The longest list a request may hold (bisected by the server). */
    static char many_names[GROVE_FILTER_ENTRIES_MAX][32];
    static const char *many[GROVE_FILTER_ENTRIES_MAX];
    for (int i = 0; i < GROVE_FILTER_ENTRIES_MAX; i++) {
        long row = (n / GROVE_FILTER_ENTRIES_MAX) * i;
        snprintf(many_names[i], sizeof many_names[i], "t%ld/row-%09ld", row % FILTER_TENANTS, row);
        many[i] = many_names[i];
    }
    struct grove_pull_filter many_f = {.pks = many, .pk_count = GROVE_FILTER_ENTRIES_MAX};
    long many_records, many_pages;
    double many_s;
    filter_read(server, &many_f, &many_records, &many_pages, &many_s);

    printf("all:        %ld records in %ld pages, %.2f s (%.0f records/s)\n", all, all_pages, all_s,
           (double)all / all_s);
    printf("pk_prefix:  %ld records in %ld pages, %.2f s (%.0f rows passed over/s)\n", tenant,
           tenant_pages, tenant_s, (double)n / tenant_s);
    printf("pk_filter:  %ld records in %ld pages, %.2f s\n", named, named_pages, named_s);
    printf("pk_filter of %d: %ld records in %ld pages, %.2f s\n", GROVE_FILTER_ENTRIES_MAX,
           many_records, many_pages, many_s);
    printf("RESULT filter n=%ld all_s=%.3f prefix_records=%ld prefix_s=%.3f prefix_pages=%ld"
           " prefix_ratio=%.2f pks_records=%ld pks_s=%.3f pks1000_records=%ld pks1000_s=%.3f\n",
           n, all_s, tenant, tenant_s, tenant_pages, tenant_s / all_s, named, named_s, many_records,
           many_s);
    grove_server_free(server);
    grove_store_close(store);
    grove_schema_free(schema);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 && tenant == n / FILTER_TENANTS && all == n ? 0 : 1;
}
