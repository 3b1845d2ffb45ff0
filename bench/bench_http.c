/* HTTP sync between two real groved processes.
 *
 * grove-bench http [--n N]: loads N lww changes into node A (pushed in
 * batches), then starts node B with A as its peer and reports how fast B's
 * first sync round pulled them (the round's own duration, from B's log), the
 * pull wire bytes per change, and both processes' peak RSS.
 *
 * grove-bench http-latency [--n N]: B follows A's stream; N single writes are
 * pushed to A one at a time and each is timed until it comes out of B's
 * stream (so one extra loopback hop, B -> observer, is included). */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#ifndef GROVE_BENCH_HTTP

int bench_http(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "grove-bench: built without the HTTP transport or groved\n");
    return 2;
}

int bench_http_latency(int argc, char **argv)
{
    return bench_http(argc, argv);
}

#else

#include <curl/curl.h>

#include "grove/transport.h"
#include "integration/groved_proc.h"
#include "transport_http/transport_http.h"

static char bench_dir[128];

static void bench_http_cleanup(void)
{
    gd_kill_all();
    if (bench_dir[0]) {
        char cmd[200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", bench_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", bench_dir);
    }
}

static int bench_http_setup(void)
{
    snprintf(bench_dir, sizeof bench_dir, "/tmp/grove-bench-XXXXXX");
    if (!mkdtemp(bench_dir)) {
        perror("mkdtemp");
        return -1;
    }
    atexit(bench_http_cleanup);
    return 0;
}

/* The "sync peer=... pulled=N ... duration_ms=D" line of B's first round that
 * pulled anything. */
static bool bench_first_round(const char *log, long *pulled, double *ms)
{
    FILE *f = fopen(log, "r");
    if (!f)
        return false;
    char line[2048];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        const char *p = strstr(line, " pulled=");
        const char *d = strstr(line, " duration_ms=");
        if (!strstr(line, "sync peer=") || !p || !d)
            continue;
        *pulled = strtol(p + 8, NULL, 10);
        *ms = strtod(d + 13, NULL);
        found = *pulled > 0 || strstr(line, "error=none") == NULL;
    }
    fclose(f);
    return found;
}

/* Pull-response bytes per change, paging like the syncer (1000 per page). */
static double bench_wire_bytes(const struct gd *a, long n)
{
    struct grove_peer *peer = NULL;
    if (grove_peer_open(&peer, a->url, NULL) != GROVE_OK)
        return -1;
    struct grove_pull_request req = {.node_id = "bench", .limit = 1000};
    long total = 0, bytes = 0;
    struct grove_buf buf = {0};
    for (;;) {
        struct grove_pull_response *resp = NULL;
        if (grove_peer_pull(peer, &req, &resp) != GROVE_OK)
            break;
        buf.len = 0;
        grove_json_encode_pull_response(resp, &buf); /* the bytes the server sent */
        bytes += (long)buf.len;
        total += (long)resp->count;
        req.since = resp->latest_hlc;
        bool more = resp->has_more;
        grove_msg_free(resp);
        if (!more)
            break;
    }
    grove_buf_free(&buf);
    grove_peer_close(peer);
    return total == n && n > 0 ? (double)bytes / (double)n : -1;
}

int bench_http(int argc, char **argv)
{
    long n = bench_arg_n(argc, argv, 1000000);
    if (bench_http_setup())
        return 1;
    grove_transport_register(grove_transport_http());
    struct gd a, b;
    gd_prepare(&a, "bench-a", bench_dir);
    if (!gd_start(&a)) {
        fprintf(stderr, "node A did not start (%s)\n", a.log);
        return 1;
    }
    double t0 = bench_now();
    if (!gd_push_lww(&a, "loader", "row-", 0, (size_t)n, 5000)) {
        fprintf(stderr, "loading A failed\n");
        return 1;
    }
    double load_s = bench_now() - t0;
    printf("loaded %ld changes into A in %.2f s (%.0f changes/s pushed)\n", n, load_s,
           (double)n / load_s);

    gd_prepare(&b, "bench-b", bench_dir);
    gd_arg(&b, "--peer", a.url);
    gd_arg(&b, "--interval", "3600");
    gd_arg(&b, "--no-stream", NULL);
    t0 = bench_now();
    if (!gd_start(&b)) {
        fprintf(stderr, "node B did not start (%s)\n", b.log);
        return 1;
    }
    long pulled = 0;
    double round_ms = 0;
    while (!bench_first_round(b.log, &pulled, &round_ms)) {
        if (bench_now() - t0 > 3600) {
            fprintf(stderr, "B never finished its first round\n");
            return 1;
        }
        usleep(20000);
    }
    double wall_s = bench_now() - t0;
    long at_b = gd_count(&b);
    double rss_a = gd_peak_rss_mb(a.pid), rss_b = gd_peak_rss_mb(b.pid);
    double t_pull = bench_now();
    double wire = bench_wire_bytes(&a, n);
    t_pull = bench_now() - t_pull;
    /* Reading alone (A's store, HTTP, decoding; no merge) tells where B's time goes. */
    printf("pull-only pass over A: %.2f s (%.0f changes/s incl. re-encoding to count bytes)\n",
           t_pull, (double)n / t_pull);
    printf("B pulled %ld changes in one round of %.1f ms (%.2f s from process start); B holds "
           "%ld\n",
           pulled, round_ms, wall_s, at_b);
    if (pulled != n || at_b != n) {
        fprintf(stderr, "B has %ld of %ld changes\n", at_b, n);
        return 1;
    }
    gd_stop(&b);
    gd_stop(&a);
    printf("RESULT http n=%ld changes_per_s=%.0f bytes_per_change=%.1f rss_mb_a=%.1f "
           "rss_mb_b=%.1f load_changes_per_s=%.0f\n",
           n, (double)n / (round_ms / 1000.0), wire, rss_a, rss_b, (double)n / load_s);
    return 0;
}

/* ---- latency ------------------------------------------------------------- */

struct bench_watch {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    long seen; /* changes that came out of B's stream */
    atomic_bool stop;
    struct grove_peer *peer;
    grove_err result;
};

static grove_err bench_on_batch(void *user, const struct grove_pull_response *batch)
{
    struct bench_watch *w = user;
    pthread_mutex_lock(&w->lock);
    w->seen += (long)batch->count;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    return GROVE_OK;
}

static void *bench_watch_main(void *arg)
{
    struct bench_watch *w = arg;
    static const char *tables[] = {"docs"};
    struct grove_pull_request req = {.tables = tables, .table_count = 1, .node_id = "observer"};
    /* B starts empty, so from the zero cursor every batch is a new write. */
    w->result = grove_peer_subscribe(w->peer, &req, bench_on_batch, w, &w->stop);
    return NULL;
}

static int bench_cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

int bench_http_latency(int argc, char **argv)
{
    long n = bench_arg_n(argc, argv, 1000);
    if (bench_http_setup())
        return 1;
    grove_transport_register(grove_transport_http());
    struct gd a, b;
    gd_prepare(&a, "lat-a", bench_dir);
    gd_prepare(&b, "lat-b", bench_dir);
    gd_arg(&b, "--peer", a.url);
    gd_arg(&b, "--interval", "3600"); /* only the stream can be this fast */
    if (!gd_start(&a) || !gd_start(&b)) {
        fprintf(stderr, "nodes did not start (%s, %s)\n", a.log, b.log);
        return 1;
    }
    struct bench_watch w = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    atomic_init(&w.stop, false);
    if (grove_peer_open(&w.peer, b.url, NULL) != GROVE_OK) {
        fprintf(stderr, "%s\n", grove_errmsg());
        return 1;
    }
    pthread_t thread;
    pthread_create(&thread, NULL, bench_watch_main, &w);
    usleep(300000); /* let B's own subscription to A and ours settle */
    double *lat = calloc((size_t)n, sizeof *lat);
    long failures = 0;
    for (long i = 0; i < n; i++) {
        double t0 = bench_now();
        if (!gd_push_lww(&a, "writer", "lat-", (size_t)i, 1, 1)) {
            fprintf(stderr, "push %ld failed\n", i);
            return 1;
        }
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += 10;
        pthread_mutex_lock(&w.lock);
        while (w.seen < i + 1)
            if (pthread_cond_timedwait(&w.cond, &w.lock, &deadline) != 0)
                break;
        bool arrived = w.seen >= i + 1;
        pthread_mutex_unlock(&w.lock);
        lat[i] = (bench_now() - t0) * 1000.0;
        if (!arrived) {
            failures++;
            fprintf(stderr, "write %ld not seen at B within 10 s\n", i);
            pthread_mutex_lock(&w.lock);
            w.seen = i + 1; /* count it as late and go on */
            pthread_mutex_unlock(&w.lock);
        }
    }
    atomic_store(&w.stop, true);
    pthread_join(thread, NULL);
    grove_peer_close(w.peer);
    qsort(lat, (size_t)n, sizeof *lat, bench_cmp_double);
    double p50 = lat[(size_t)(n * 50 / 100)], p99 = lat[(size_t)((n * 99) / 100)];
    double max = lat[n - 1];
    free(lat);
    gd_stop(&b);
    gd_stop(&a);
    printf("%ld single writes, push to A -> out of B's stream: p50 %.2f ms, p99 %.2f ms, max "
           "%.2f ms, %ld missed\n",
           n, p50, p99, max, failures);
    printf("RESULT http-latency n=%ld p50_ms=%.3f p99_ms=%.3f max_ms=%.3f missed=%ld\n", n, p50,
           p99, max, failures);
    return failures ? 1 : 0;
}

#endif
