/* grove-bench store: remote LWW changes applied to a fresh store, against a
 * bare SQLite upsert of the same rows. grove-bench inproc: the same changes
 * synced between two in-process nodes over inproc (the full wire path). */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "grove/grove.h"

enum { BENCH_BATCH = 10000 };

struct bench_dir {
    char path[64];
};

static void bench_dir_make(struct bench_dir *d)
{
    snprintf(d->path, sizeof d->path, "/tmp/grove-bench-XXXXXX");
    if (!mkdtemp(d->path)) {
        perror("mkdtemp");
        exit(1);
    }
}

static void bench_dir_remove(struct bench_dir *d)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d->path);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", d->path);
}

static void bench_check(grove_err err, const char *what)
{
    if (err) {
        fprintf(stderr, "grove-bench: %s: %s\n", what, grove_errmsg());
        exit(1);
    }
}

static struct grove_store *bench_open(const char *dir, const char *node,
                                      const struct grove_schema *schema)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s.db", dir, node);
    struct grove_store_options o = {.path = path, .node_id = node, .schema = schema};
    struct grove_store *store;
    bench_check(grove_store_open(&store, &o), "open store");
    return store;
}

/* One batch of distinct-row LWW changes from node "client": rows first.. */
static struct grove_push_request *bench_batch(long first, long n, int64_t ts)
{
    struct grove_push_request *req;
    bench_check(grove_push_request_new(&req), "alloc");
    req->node_id = "client";
    req->changes = grove_msg_alloc(req, (size_t)n * sizeof *req->changes);
    for (long i = 0; i < n; i++) {
        struct grove_change *c = &req->changes[i];
        char pk[24], value[40];
        int pk_len = snprintf(pk, sizeof pk, "row-%09ld", first + i);
        int value_len = snprintf(value, sizeof value, "\"value of row %ld\"", first + i);
        c->table = "docs";
        c->pk = grove_msg_strndup(req, pk, (size_t)pk_len);
        c->field = "title";
        c->crdt = GROVE_CRDT_LWW;
        c->hlc.ts = ts;
        c->hlc.c = (uint32_t)(first + i);
        strcpy(c->hlc.node, "client");
        c->node_id = "client";
        c->value.ptr = grove_msg_strndup(req, value, (size_t)value_len);
        c->value.len = (size_t)value_len;
    }
    req->count = (size_t)n;
    return req;
}

static int64_t bench_wall_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* A rate by wall time and by this process's CPU time: on a shared VM the
 * wall figure also measures the disk's fsync latency and the neighbours. */
struct bench_rate {
    double wall, cpu;
};

/* Accumulates the time of one timed section into *elapsed. */
struct bench_timer {
    double wall, cpu;
};

static struct bench_timer bench_timer_start(void)
{
    return (struct bench_timer){bench_now(), bench_cpu_now()};
}

static void bench_timer_add(struct bench_timer start, struct bench_rate *elapsed)
{
    elapsed->wall += bench_now() - start.wall;
    elapsed->cpu += bench_cpu_now() - start.cpu;
}

static struct bench_rate bench_rate_of(long n, struct bench_rate elapsed)
{
    return (struct bench_rate){(double)n / elapsed.wall, (double)n / elapsed.cpu};
}

/* Applies n changes in batches; returns changes per second. */
static struct bench_rate bench_apply(struct grove_store *store, long n)
{
    int64_t ts = bench_wall_ns() / 1000 * 1000;
    struct bench_rate elapsed = {0};
    for (long first = 0; first < n; first += BENCH_BATCH) {
        long count = n - first < BENCH_BATCH ? n - first : BENCH_BATCH;
        struct grove_push_request *batch = bench_batch(first, count, ts);
        struct bench_timer start = bench_timer_start();
        bench_check(grove_store_apply(store, batch->changes, batch->count, "client", NULL),
                    "apply");
        bench_timer_add(start, &elapsed);
        grove_msg_free(batch);
    }
    return bench_rate_of(n, elapsed);
}

/* The store's apply speed on this machine: n changes into a new store of its
 * own (dir/<node>.db), closed afterwards. */
static struct bench_rate bench_apply_new(const char *dir, const char *node,
                                         const struct grove_schema *schema, long n)
{
    struct grove_store *store = bench_open(dir, node, schema);
    struct bench_rate changes_per_s = bench_apply(store, n);
    grove_store_close(store);
    return changes_per_s;
}

/* The same rows upserted into a bare table (SQLite's default rowid layout with
 * a text primary key), same journal and sync settings. */
static struct bench_rate bench_raw_sqlite(const char *dir, long n)
{
    char path[128];
    snprintf(path, sizeof path, "%s/raw.db", dir);
    sqlite3 *db;
    sqlite3_stmt *st;
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                     "CREATE TABLE kv(pk TEXT PRIMARY KEY, value BLOB, ts INTEGER)",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "INSERT INTO kv(pk, value, ts) VALUES(?1, ?2, ?3) ON CONFLICT(pk)"
                           " DO UPDATE SET value = excluded.value, ts = excluded.ts",
                           -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "grove-bench: raw sqlite: %s\n", sqlite3_errmsg(db));
        exit(1);
    }
    struct bench_rate elapsed = {0};
    for (long first = 0; first < n; first += BENCH_BATCH) {
        long count = n - first < BENCH_BATCH ? n - first : BENCH_BATCH;
        struct grove_push_request *batch = bench_batch(first, count, 1);
        struct bench_timer start = bench_timer_start();
        sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
        for (size_t i = 0; i < batch->count; i++) {
            const struct grove_change *c = &batch->changes[i];
            sqlite3_bind_text(st, 1, c->pk, -1, SQLITE_STATIC);
            sqlite3_bind_blob(st, 2, c->value.ptr, (int)c->value.len, SQLITE_STATIC);
            sqlite3_bind_int64(st, 3, c->hlc.ts);
            sqlite3_step(st);
            sqlite3_reset(st);
        }
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        bench_timer_add(start, &elapsed);
        grove_msg_free(batch);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return bench_rate_of(n, elapsed);
}

static struct grove_schema *bench_schema(void)
{
    struct grove_schema *schema;
    bench_check(grove_schema_new(&schema), "schema");
    bench_check(grove_schema_parse(schema, "docs:title=lww"), "schema");
    return schema;
}

static double bench_median(double *v, long n)
{
    bench_sort(v, (size_t)n);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Rounds of the store and the bare upsert, side by side, each into files of
 * its own: the figures are medians, the ratio that of each round's pair
 * (the disk's and the neighbours' moods move slower than a pair). */
int bench_store(int argc, char **argv)
{
    long n = bench_arg_n(argc, argv, 1000000);
    long rounds = bench_arg_long(argc, argv, "rounds", 3, 1);
    struct grove_schema *schema = bench_schema();
    double *v = calloc(4 * (size_t)rounds, sizeof *v);
    if (!v) {
        fprintf(stderr, "grove-bench: out of memory\n");
        return 1;
    }
    double *store = v, *raw = v + rounds, *ratio = v + 2 * rounds, *cpu_ratio = v + 3 * rounds;
    printf("applied %ld remote lww changes (distinct rows, batches of %d), %ld rounds\n", n,
           BENCH_BATCH, rounds);
    for (long r = 0; r < rounds; r++) {
        struct bench_dir dir;
        bench_dir_make(&dir);
        /* Each run starts with the disk's write-back of the one before done
         * (sync), and the two take turns going first. */
        struct bench_rate changes = {0}, upsert = {0};
        for (int run = 0; run < 2; run++) {
            sync();
            if ((run + r) % 2 == 0)
                changes = bench_apply_new(dir.path, "a", schema, n);
            else
                upsert = bench_raw_sqlite(dir.path, n);
        }
        bench_dir_remove(&dir);
        store[r] = changes.wall;
        raw[r] = upsert.wall;
        ratio[r] = changes.wall / upsert.wall;
        cpu_ratio[r] = changes.cpu / upsert.cpu;
        printf("round %ld: store %.0f changes/s (%.0f by CPU time); bare sqlite upsert %.0f rows/s"
               " (%.0f); ratio %.2f (%.2f)\n",
               r + 1, changes.wall, changes.cpu, upsert.wall, upsert.cpu, ratio[r], cpu_ratio[r]);
    }
    printf("RESULT store changes_per_s=%.0f raw_sqlite_per_s=%.0f ratio=%.2f cpu_ratio=%.2f "
           "rounds=%ld\n",
           bench_median(store, rounds), bench_median(raw, rounds), bench_median(ratio, rounds),
           bench_median(cpu_ratio, rounds), rounds);
    free(v);
    grove_schema_free(schema);
    return 0;
}

int bench_inproc(int argc, char **argv)
{
    long n = bench_arg_n(argc, argv, 1000000);
    struct bench_dir dir;
    bench_dir_make(&dir);
    struct grove_schema *schema = bench_schema();

    /* The store's own speed on this machine, in the same run. */
    double apply = bench_apply_new(dir.path, "probe", schema, n).wall;

    /* A serves what it holds; B pulls it through its syncer, one round at a
     * time (driven below, so not started). */
    char a_path[128], b_path[128];
    snprintf(a_path, sizeof a_path, "%s/a.db", dir.path);
    snprintf(b_path, sizeof b_path, "%s/b.db", dir.path);
    struct grove_node a, b;
    bench_check(
        grove_node_open(&a,
                        &(struct grove_node_options){
                            .store = {.path = a_path, .node_id = "a", .schema = schema},
                            .listeners = &(struct grove_node_listener){.url = "inproc://bench-a"},
                            .listener_count = 1,
                        }),
        "node a");
    bench_apply(a.store, n); /* load A; not timed */
    bench_check(grove_node_open(&b,
                                &(struct grove_node_options){
                                    .store = {.path = b_path, .node_id = "b", .schema = schema},
                                    .syncer = {.page_limit = 10000, .mode = GROVE_SYNC_PULL_ONLY},
                                    .peers = &(struct grove_node_peer){.url = "inproc://bench-a"},
                                    .peer_count = 1,
                                }),
                "node b");
    struct grove_sync_report report;
    double start = bench_now();
    grove_syncer_sync_peer(b.syncer, 0, &report);
    double elapsed = bench_now() - start;
    if (report.err || report.merged != (uint64_t)n) {
        fprintf(stderr, "grove-bench: sync moved %llu of %ld: %s\n",
                (unsigned long long)report.merged, n, report.error);
        return 1;
    }
    double synced = (double)n / elapsed;
    printf("synced %ld lww changes A->B over inproc (JSON wire path, pages of 10000)\n", n);
    printf("sync: %.0f changes/s; store apply alone: %.0f changes/s\n", synced, apply);
    printf("RESULT inproc changes_per_s=%.0f store_apply_per_s=%.0f ratio=%.2f\n", synced, apply,
           synced / apply);
    grove_node_close(&b);
    grove_node_close(&a);
    grove_schema_free(schema);
    bench_dir_remove(&dir);
    return 0;
}
