/* gRPC sync between two real groved processes: the same measurements and
 * RESULT keys as bench_http.c, with the peer link over grpc://.
 *
 * grove-bench grpc [--n N]: loads N lww changes into node A, then starts
 * node B with grpc://A as its peer and reports how fast B's first sync round
 * pulled them (the round's own duration, from B's log), the protobuf pull
 * bytes per change, and both processes' peak RSS.
 *
 * grove-bench grpc-latency [--n N]: B follows A's gRPC stream; N single
 * writes are pushed to A over gRPC one at a time and each is timed until it
 * comes out of B's gRPC stream (one extra loopback hop, B -> observer). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#ifndef GROVE_BENCH_GRPC

int bench_grpc(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "grove-bench: built without the gRPC transport or groved\n");
    return 2;
}

int bench_grpc_latency(int argc, char **argv)
{
    return bench_grpc(argc, argv);
}

#else

#include "grove/transport.h"
#include "integration/groved_proc.h"
#include "mapping.h"
#include "transport_grpc.h"
#include "transport_http/transport_http.h"

static char bgrpc_dir[128];

static void bgrpc_cleanup(void)
{
    gd_kill_all();
    if (bgrpc_dir[0]) {
        char cmd[200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", bgrpc_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", bgrpc_dir);
    }
}

static int bgrpc_setup(void)
{
    snprintf(bgrpc_dir, sizeof bgrpc_dir, "/tmp/grove-bench-grpc-XXXXXX");
    if (!mkdtemp(bgrpc_dir)) {
        perror("mkdtemp");
        return -1;
    }
    atexit(bgrpc_cleanup);
    grove_transport_register(grove_transport_http()); /* gd_* load and count over HTTP */
    grove_transport_register(grove_transport_grpc());
    return 0;
}

/* Adds a grpc:// listener on a free port to g; url gets its address. */
static void bgrpc_listen(struct gd *g, char *url, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        perror("free port");
        exit(1);
    }
    close(fd);
    snprintf(url, cap, "grpc://127.0.0.1:%d", ntohs(a.sin_port));
    gd_arg(g, "--listen", url);
}

/* The "sync peer=... pulled=N ... duration_ms=D" line of B's first round that
 * pulled anything (as in bench_http.c). */
static bool bgrpc_first_round(const char *log, long *pulled, double *ms)
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

/* Protobuf pull-response bytes per change, paging like the syncer. */
static double bgrpc_wire_bytes(const char *url, long n)
{
    struct grove_peer *peer = NULL;
    if (grove_peer_open(&peer, url, NULL) != GROVE_OK)
        return -1;
    struct grove_pull_request req = {.node_id = "bench", .limit = 1000};
    long total = 0, bytes = 0;
    struct grove_buf buf = {0};
    for (;;) {
        struct grove_pull_response *resp = NULL;
        if (grove_peer_pull(peer, &req, &resp) != GROVE_OK)
            break;
        buf.len = 0;
        grove_grpc_encode_pull_response(resp, &buf); /* the bytes the server sent */
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

int bench_grpc(int argc, char **argv)
{
    long n = bench_arg_n(argc, argv, 1000000);
    if (bgrpc_setup())
        return 1;
    struct gd a, b;
    char a_grpc[64];
    gd_prepare(&a, "bench-a", bgrpc_dir);
    bgrpc_listen(&a, a_grpc, sizeof a_grpc);
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
    printf("loaded %ld changes into A in %.2f s\n", n, load_s);

    gd_prepare(&b, "bench-b", bgrpc_dir);
    gd_arg(&b, "--peer", a_grpc);
    gd_arg(&b, "--interval", "3600");
    gd_arg(&b, "--no-stream", NULL);
    t0 = bench_now();
    if (!gd_start(&b)) {
        fprintf(stderr, "node B did not start (%s)\n", b.log);
        return 1;
    }
    long pulled = 0;
    double round_ms = 0;
    while (!bgrpc_first_round(b.log, &pulled, &round_ms)) {
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
    double wire = bgrpc_wire_bytes(a_grpc, n);
    t_pull = bench_now() - t_pull;
    /* Reading alone (A's store, gRPC, decoding; no merge) tells where B's time goes. */
    printf("pull-only pass over A: %.2f s (%.0f changes/s incl. re-encoding to count bytes)\n",
           t_pull, (double)n / t_pull);
    printf("B pulled %ld changes over gRPC in one round of %.1f ms (%.2f s from process start); "
           "B holds %ld\n",
           pulled, round_ms, wall_s, at_b);
    if (pulled != n || at_b != n) {
        fprintf(stderr, "B has %ld of %ld changes\n", at_b, n);
        return 1;
    }
    gd_stop(&b);
    gd_stop(&a);
    printf("RESULT grpc n=%ld changes_per_s=%.0f bytes_per_change=%.1f rss_mb_a=%.1f "
           "rss_mb_b=%.1f load_changes_per_s=%.0f\n",
           n, (double)n / (round_ms / 1000.0), wire, rss_a, rss_b, (double)n / load_s);
    return 0;
}

/* ---- latency ------------------------------------------------------------- */

struct bgrpc_watch {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    long seen;
    atomic_bool stop;
    struct grove_peer *peer;
    grove_err result;
};

static grove_err bgrpc_on_batch(void *user, const struct grove_pull_response *batch)
{
    struct bgrpc_watch *w = user;
    pthread_mutex_lock(&w->lock);
    w->seen += (long)batch->count;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    return GROVE_OK;
}

static void *bgrpc_watch_main(void *arg)
{
    struct bgrpc_watch *w = arg;
    static const char *tables[] = {"docs"};
    struct grove_pull_request req = {.tables = tables, .table_count = 1, .node_id = "observer"};
    w->result = grove_peer_subscribe(w->peer, &req, bgrpc_on_batch, w, &w->stop);
    return NULL;
}

static int bgrpc_cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* One lww write docs/lat-<i>.title pushed over gRPC. */
static bool bgrpc_push_one(struct grove_peer *peer, long i)
{
    struct grove_change c = {.table = "docs",
                             .field = "title",
                             .crdt = GROVE_CRDT_LWW,
                             .node_id = "writer",
                             .value = {"\"latency probe\"", 15}};
    char pk[32];
    snprintf(pk, sizeof pk, "lat-%ld", i);
    c.pk = pk;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    c.hlc.ts = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    grove_hlc_set_node(&c.hlc, "writer");
    struct grove_push_request req = {.changes = &c, .count = 1, .node_id = "writer"};
    struct grove_push_response *resp = NULL;
    grove_err err = grove_peer_push(peer, &req, &resp);
    grove_msg_free(resp);
    if (err)
        fprintf(stderr, "push: %s\n", grove_errmsg());
    return err == GROVE_OK;
}

int bench_grpc_latency(int argc, char **argv)
{
    long n = bench_arg_n(argc, argv, 1000);
    if (bgrpc_setup())
        return 1;
    struct gd a, b;
    char a_grpc[64], b_grpc[64];
    gd_prepare(&a, "lat-a", bgrpc_dir);
    gd_prepare(&b, "lat-b", bgrpc_dir);
    bgrpc_listen(&a, a_grpc, sizeof a_grpc);
    bgrpc_listen(&b, b_grpc, sizeof b_grpc);
    gd_arg(&b, "--peer", a_grpc);
    gd_arg(&b, "--interval", "3600"); /* only the stream can be this fast */
    if (!gd_start(&a) || !gd_start(&b)) {
        fprintf(stderr, "nodes did not start (%s, %s)\n", a.log, b.log);
        return 1;
    }
    struct bgrpc_watch w = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    atomic_init(&w.stop, false);
    struct grove_peer *writer = NULL;
    if (grove_peer_open(&w.peer, b_grpc, NULL) != GROVE_OK ||
        grove_peer_open(&writer, a_grpc, NULL) != GROVE_OK) {
        fprintf(stderr, "%s\n", grove_errmsg());
        return 1;
    }
    pthread_t thread;
    pthread_create(&thread, NULL, bgrpc_watch_main, &w);
    usleep(300000); /* let B's own subscription to A and ours settle */
    double *lat = calloc((size_t)n, sizeof *lat);
    long failures = 0;
    for (long i = 0; i < n; i++) {
        double t0 = bench_now();
        if (!bgrpc_push_one(writer, i)) {
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
            w.seen = i + 1;
            pthread_mutex_unlock(&w.lock);
        }
    }
    atomic_store(&w.stop, true);
    pthread_join(thread, NULL);
    grove_peer_close(w.peer);
    grove_peer_close(writer);
    qsort(lat, (size_t)n, sizeof *lat, bgrpc_cmp_double);
    double p50 = lat[(size_t)(n * 50 / 100)], p99 = lat[(size_t)((n * 99) / 100)];
    double max = lat[n - 1];
    free(lat);
    gd_stop(&b);
    gd_stop(&a);
    printf("%ld single writes, gRPC push to A -> out of B's gRPC stream: p50 %.2f ms, p99 %.2f "
           "ms, max %.2f ms, %ld missed\n",
           n, p50, p99, max, failures);
    printf("RESULT grpc-latency n=%ld p50_ms=%.3f p99_ms=%.3f max_ms=%.3f missed=%ld\n", n, p50,
           p99, max, failures);
    return failures ? 1 : 0;
}

#endif
