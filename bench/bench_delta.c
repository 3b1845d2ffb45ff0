/* grove-bench delta [--rows N] [--rounds R] [--page-size B]: small deltas
 * after many rows.
 * Node A is loaded with N rows (default 1,000,000) and node B (A as its
 * peer over HTTP, no stream, rounds an hour apart) pulls them all. Then, R
 * times (default 5), 1,000 existing rows spread over the whole key space are
 * updated on A and one round of B's is run (POST /v1/sync): the warm round,
 * B's process and caches as they were. Then 1,000 more updates, B is
 * restarted and its first round (at start) brings them: the cold round (B's
 * own caches empty; the OS page cache is as the machine left it). RESULT:
 * the median warm round and the cold round in ms, and changes/s of each.
 * --page-size makes both stores' files with pages of B bytes first (as an
 * older groved did: 8192), to compare page sizes in the same minutes. */
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#ifdef GROVE_BENCH_CLIENT

#include "grove/client.h"
#include "grove/error.h"
#include "grove/transport.h"
#include "grove/transport_http.h"
#include "integration/groved_proc.h"

enum { BENCH_DELTA_UPDATES = 1000 };

static char bench_delta_dir[128];

static void bench_delta_cleanup(void)
{
    gd_kill_all();
    if (bench_delta_dir[0]) {
        char cmd[200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", bench_delta_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", bench_delta_dir);
    }
}


/* An empty SQLite file at path with pages of `bytes`. */
static bool bench_delta_make_file(const char *path, long bytes)
{
    sqlite3 *db = NULL;
    char sql[128];
    snprintf(sql, sizeof sql,
             "PRAGMA page_size=%ld; PRAGMA journal_mode=WAL; CREATE TABLE x(a);"
             " DROP TABLE x;",
             bytes);
    bool ok = sqlite3_open(path, &db) == SQLITE_OK &&
              sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK;
    if (!ok)
        fprintf(stderr, "%s: %s\n", path, db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_close(db);
    return ok;
}

/* Updates 1,000 existing rows of A (row-<i>, as gd_push_lww names them),
 * spread evenly over the n rows, shifted by `round` so rounds touch
 * different rows. */
static bool bench_delta_update(struct grove_peer *a, long n, long round)
{
    struct grove_change *batch = calloc(BENCH_DELTA_UPDATES, sizeof *batch);
    char(*pks)[32] = calloc(BENCH_DELTA_UPDATES, sizeof *pks);
    long step = n / BENCH_DELTA_UPDATES > 0 ? n / BENCH_DELTA_UPDATES : 1;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    for (long i = 0; i < BENCH_DELTA_UPDATES; i++) {
        snprintf(pks[i], sizeof pks[i], "row-%ld", (i * step + round * 7) % n);
        batch[i] = (struct grove_change){.table = "docs",
                                         .pk = pks[i],
                                         .field = "title",
                                         .crdt = GROVE_CRDT_LWW,
                                         .node_id = "editor",
                                         .value = {"\"edited title\"", 14}};
        batch[i].hlc.ts = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
        batch[i].hlc.c = (uint32_t)i;
        grove_hlc_set_node(&batch[i].hlc, "editor");
    }
    struct grove_push_request req = {
        .changes = batch, .count = BENCH_DELTA_UPDATES, .node_id = "editor"};
    struct grove_push_response *resp = NULL;
    grove_err err = grove_peer_push(a, &req, &resp);
    bool ok = !err && resp->merged == BENCH_DELTA_UPDATES;
    if (err)
        fprintf(stderr, "push: %s\n", grove_errmsg());
    else if (!ok)
        fprintf(stderr, "push merged %llu of %d\n", (unsigned long long)resp->merged,
                BENCH_DELTA_UPDATES);
    grove_msg_free(resp);
    free(pks);
    free(batch);
    return ok;
}

/* The number after "key": in text, or -1. */
static double bench_delta_number(const char *text, const char *key)
{
    const char *p = strstr(text, key);
    return p ? strtod(p + strlen(key), NULL) : -1;
}

/* One round of B's now: its duration in ms, -1 when it did not pull
 * exactly the 1,000 updates. */
static double bench_delta_round(struct grove_client *b)
{
    char *json = NULL;
    if (grove_client_sync(b, NULL, &json) != GROVE_OK) {
        fprintf(stderr, "sync: %s\n", grove_errmsg());
        return -1;
    }
    double pulled = bench_delta_number(json, "\"pulled\":");
    double ms = bench_delta_number(json, "\"duration_ms\":");
    if (pulled != BENCH_DELTA_UPDATES)
        fprintf(stderr, "round: %s\n", json);
    free(json);
    return pulled == BENCH_DELTA_UPDATES ? ms : -1;
}

/* The duration of B's first round that pulled anything, from its log after
 * offset `from`; -1 when it did not pull `want` changes, or none came in
 * an hour. */
static double bench_delta_first_round(const char *log, off_t from, long want)
{
    for (int tries = 0; tries < 360000; tries++, usleep(10000)) {
        FILE *f = fopen(log, "r");
        if (!f)
            continue;
        fseeko(f, from, SEEK_SET);
        char line[2048];
        double ms = -1;
        while (ms < 0 && fgets(line, sizeof line, f)) {
            const char *p = strstr(line, " pulled=");
            const char *d = strstr(line, " duration_ms=");
            if (strstr(line, "sync peer=") && p && d && strtol(p + 8, NULL, 10) > 0)
                ms = strtol(p + 8, NULL, 10) == want ? strtod(d + 13, NULL) : -2;
        }
        fclose(f);
        if (ms != -1)
            return ms < 0 ? -1 : ms;
    }
    return -1;
}

int bench_delta(int argc, char **argv)
{
    long n = bench_arg_long(argc, argv, "rows", 1000000, 1);
    long rounds = bench_arg_long(argc, argv, "rounds", 5, 1);
    long page_size = bench_arg_long(argc, argv, "page-size", 0, 1);
    snprintf(bench_delta_dir, sizeof bench_delta_dir, "/tmp/grove-bench-delta-XXXXXX");
    if (!mkdtemp(bench_delta_dir)) {
        perror("mkdtemp");
        return 1;
    }
    atexit(bench_delta_cleanup);
    grove_transport_register(grove_transport_http());
    struct gd a, b;
    gd_prepare(&a, "delta-a", bench_delta_dir);
    gd_prepare(&b, "delta-b", bench_delta_dir);
    if (page_size &&
        (!bench_delta_make_file(a.db, page_size) || !bench_delta_make_file(b.db, page_size)))
        return 1;
    gd_arg(&a, "--no-stream", NULL);
    if (!gd_start(&a) || !gd_push_lww(&a, "loader", "row-", 0, (size_t)n, 5000)) {
        fprintf(stderr, "loading A failed (%s)\n", a.log);
        return 1;
    }
    gd_arg(&b, "--peer", a.url);
    gd_arg(&b, "--interval", "3600");
    gd_arg(&b, "--no-stream", NULL);
    if (!gd_start(&b) || bench_delta_first_round(b.log, 0, n) < 0) {
        fprintf(stderr, "B did not catch up (%s)\n", b.log);
        return 1;
    }
    struct grove_peer *writer = NULL;
    struct grove_client *client = NULL;
    if (grove_peer_open(&writer, a.url, NULL) != GROVE_OK ||
        grove_client_open(&client, b.url, NULL) != GROVE_OK) {
        fprintf(stderr, "%s\n", grove_errmsg());
        return 1;
    }
    double *warm = calloc((size_t)rounds, sizeof *warm);
    for (long r = 0; r < rounds; r++)
        if (!bench_delta_update(writer, n, r) || (warm[r] = bench_delta_round(client)) < 0)
            return 1;
    grove_client_close(client);
    if (!bench_delta_update(writer, n, rounds))
        return 1;
    gd_stop(&b);
    off_t from = gd_file_size(b.log);
    if (!gd_start(&b)) {
        fprintf(stderr, "B did not restart (%s)\n", b.log);
        return 1;
    }
    double cold = bench_delta_first_round(b.log, from, BENCH_DELTA_UPDATES);
    grove_peer_close(writer);
    gd_stop(&b);
    gd_stop(&a);
    if (cold < 0) {
        fprintf(stderr, "B's first round after the restart was not found (%s)\n", b.log);
        return 1;
    }
    printf("%ld rows on A and B; rounds of B bringing %d updates of existing rows:", n,
           BENCH_DELTA_UPDATES);
    for (long r = 0; r < rounds; r++)
        printf(" %.1f", warm[r]);
    bench_sort(warm, (size_t)rounds);
    double median = warm[rounds / 2];
    printf(" ms (median %.1f); after a restart %.1f ms\n", median, cold);
    printf("RESULT delta rows=%ld updates=%d page_size=%ld round_ms=%.1f changes_per_s=%.0f "
           "cold_round_ms=%.1f "
           "cold_changes_per_s=%.0f\n",
           n, BENCH_DELTA_UPDATES, page_size ? page_size : 4096, median,
           BENCH_DELTA_UPDATES / (median / 1000.0), cold, BENCH_DELTA_UPDATES / (cold / 1000.0));
    free(warm);
    return 0;
}

#else

int bench_delta(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "grove-bench: built without the client library, HTTP or groved\n");
    return 2;
}

#endif
