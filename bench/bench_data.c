/* The Data API against real groved processes, through the C client
 * (grove/client.h), which speaks HTTP and gRPC.
 *
 * grove-bench write [--n N]: one groved with an HTTP and a gRPC listener.
 * Single-row writes (an LWW field and a counter +1 on a row of the writer's
 * own) from 1 client (N/4 writes) and from 16 concurrent clients (N writes
 * in all), over HTTP and over gRPC: writes/s over the wall time, and the
 * p50 and p99 of one write's latency. Then bulk writes over HTTP: requests
 * of 1,000 rows x 3 fields (an LWW, a counter, a set add) posted one after
 * another (POST /v1/tables/docs/rows): field writes/s.
 *
 * grove-bench watch [--n N] [--via http|grpc|nng+tcp]: A and B, B peering A
 * over the transport (rounds an hour apart: only the live stream counts); N
 * single writes on A one at a time, each timed from the write call until
 * its event comes out of a watch on B (both through HTTP). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#ifdef GROVE_BENCH_CLIENT

#include <curl/curl.h>

#include "grove/client.h"
#include "grove/error.h"
#include "integration/groved_proc.h"
#include "support/port.h"

#define BENCH_DATA_WRITERS   16
#define BENCH_DATA_BULK_ROWS 1000
#define BENCH_DATA_BULK_REQS 100

static char bench_data_dir[128];

static void bench_data_cleanup(void)
{
    gd_kill_all();
    if (bench_data_dir[0]) {
        char cmd[200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", bench_data_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", bench_data_dir);
    }
}

static int bench_data_setup(const char *name)
{
    snprintf(bench_data_dir, sizeof bench_data_dir, "/tmp/grove-bench-%s-XXXXXX", name);
    if (!mkdtemp(bench_data_dir)) {
        perror("mkdtemp");
        return -1;
    }
    atexit(bench_data_cleanup);
    return 0;
}

/* Gives g one more listener, scheme://127.0.0.1:<free port>, written to url. */
static void bench_data_listen(struct gd *g, const char *scheme, char *url, size_t cap)
{
    int port = support_free_port();
    if (port < 0) {
        perror("free port");
        exit(1);
    }
    snprintf(url, cap, "%s://127.0.0.1:%d", scheme, port);
    gd_arg(g, "--listen", url);
}

/* Sorts lat (n > 0 values in ms) and reads its p50, p99. */
static void bench_data_percentiles(double *lat, size_t n, double *p50, double *p99)
{
    bench_sort(lat, n);
    *p50 = lat[n * 50 / 100];
    *p99 = lat[n * 99 / 100];
}

/* ---- write: single rows -------------------------------------------------- */

struct bench_data_writer {
    const char *url;
    int id;
    long writes;
    double *lat; /* ms, one per write */
    bool failed;
};

/* One write: docs/w<id>-<i>: title (LWW) and views +1. */
static grove_err bench_data_write_one(struct grove_client *c, int id, long i)
{
    char pk[48];
    snprintf(pk, sizeof pk, "w%d-%ld", id, i);
    struct grove_field_write fields[] = {
        {.field = "title", .crdt = GROVE_CRDT_LWW, .value = {"\"bench\"", 7}},
        {.field = "views", .crdt = GROVE_CRDT_COUNTER, .delta = 1},
    };
    return grove_client_write(c, "docs", pk, fields, 2, NULL, NULL, NULL);
}

static void *bench_data_writer_main(void *arg)
{
    struct bench_data_writer *w = arg;
    struct grove_client *c = NULL;
    if (grove_client_open(&c, w->url, NULL) != GROVE_OK) {
        fprintf(stderr, "client %d: %s\n", w->id, grove_errmsg());
        w->failed = true;
        return NULL;
    }
    for (long i = 0; i < w->writes; i++) {
        double t0 = bench_now();
        if (bench_data_write_one(c, w->id, i) != GROVE_OK) {
            fprintf(stderr, "client %d, write %ld: %s\n", w->id, i, grove_errmsg());
            w->failed = true;
            break;
        }
        w->lat[i] = (bench_now() - t0) * 1000.0;
    }
    grove_client_close(c);
    return NULL;
}

struct bench_data_rate {
    double writes_per_s, p50_ms, p99_ms;
    double server_cpu_us, client_cpu_us; /* CPU per write: groved's, this process's */
};

/* total writes spread over `clients` threads, each with a client of its own. */
static bool bench_data_writers(const char *url, pid_t server, int clients, long total, int first_id,
                               struct bench_data_rate *out)
{
    struct bench_data_writer w[BENCH_DATA_WRITERS];
    pthread_t threads[BENCH_DATA_WRITERS];
    long per = total / clients;
    double *lat = calloc((size_t)(per * clients), sizeof *lat);
    if (!lat)
        return false;
    double t0 = bench_now(), server_cpu = bench_cpu_of(server), client_cpu = bench_cpu_now();
    for (int i = 0; i < clients; i++) {
        w[i] = (struct bench_data_writer){
            .url = url, .id = first_id + i, .writes = per, .lat = lat + per * i};
        pthread_create(&threads[i], NULL, bench_data_writer_main, &w[i]);
    }
    bool ok = true;
    for (int i = 0; i < clients; i++) {
        pthread_join(threads[i], NULL);
        ok = ok && !w[i].failed;
    }
    double wall = bench_now() - t0;
    server_cpu = bench_cpu_of(server) - server_cpu;
    client_cpu = bench_cpu_now() - client_cpu;
    if (ok) {
        out->writes_per_s = (double)(per * clients) / wall;
        out->server_cpu_us = server_cpu * 1e6 / (double)(per * clients);
        out->client_cpu_us = client_cpu * 1e6 / (double)(per * clients);
        bench_data_percentiles(lat, (size_t)(per * clients), &out->p50_ms, &out->p99_ms);
    }
    free(lat);
    return ok;
}

/* ---- write: bulk over HTTP ------------------------------------------------ */

static size_t bench_data_discard(char *p, size_t size, size_t n, void *user)
{
    (void)p;
    (void)user;
    return size * n;
}

/* {"rows":[{"pk":"b<req>-<r>","fields":{"title":"row <r>","views":1,
 *                                        "tags":{"add":["t<r%8>"]}}},...]} */
static char *bench_data_bulk_body(int req, int rows)
{
    size_t cap = (size_t)rows * 128 + 32, len = 0;
    char *body = malloc(cap);
    if (!body)
        return NULL;
    len += (size_t)snprintf(body + len, cap - len, "{\"rows\":[");
    for (int r = 0; r < rows; r++)
        len += (size_t)snprintf(body + len, cap - len,
                                "%s{\"pk\":\"b%d-%d\",\"fields\":{\"title\":\"row %d\",\"views\":1,"
                                "\"tags\":{\"add\":[\"t%d\"]}}}",
                                r ? "," : "", req, r, r, r % 8);
    snprintf(body + len, cap - len, "]}");
    return body;
}

/* Posts BENCH_DATA_BULK_REQS requests one after another to the node's
 * listener at http_port; *field_writes_per_s over the wall time. */
static bool bench_data_bulk(int http_port, double *field_writes_per_s, double *p50, double *p99)
{
    char url[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/tables/docs/rows", http_port);
    CURL *curl = curl_easy_init();
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    double lat[BENCH_DATA_BULK_REQS];
    char *bodies[BENCH_DATA_BULK_REQS] = {0};
    bool ok = curl && headers;
    for (int i = 0; ok && i < BENCH_DATA_BULK_REQS; i++)
        ok = (bodies[i] = bench_data_bulk_body(i, BENCH_DATA_BULK_ROWS)) != NULL;
    if (ok) {
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, bench_data_discard);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
    }
    double t0 = bench_now();
    for (int i = 0; ok && i < BENCH_DATA_BULK_REQS; i++) {
        double t1 = bench_now();
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, bodies[i]);
        CURLcode rc = curl_easy_perform(curl);
        long status = 0;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        if (rc != CURLE_OK || status != 200) {
            fprintf(stderr, "bulk request %d: %s, HTTP %ld\n", i, curl_easy_strerror(rc), status);
            ok = false;
        }
        lat[i] = (bench_now() - t1) * 1000.0;
    }
    double wall = bench_now() - t0;
    if (ok) {
        *field_writes_per_s = (double)BENCH_DATA_BULK_REQS * BENCH_DATA_BULK_ROWS * 3 / wall;
        bench_data_percentiles(lat, BENCH_DATA_BULK_REQS, p50, p99);
    }
    for (int i = 0; i < BENCH_DATA_BULK_REQS; i++)
        free(bodies[i]);
    curl_slist_free_all(headers);
    if (curl)
        curl_easy_cleanup(curl);
    return ok;
}

int bench_write(int argc, char **argv)
{
    long n = bench_arg_n(argc, argv, 8000);
    if (bench_data_setup("write"))
        return 1;
    struct gd g;
    char grpc_url[64] = "";
    gd_prepare(&g, "write", bench_data_dir);
#ifdef GROVE_BENCH_GRPC
    bench_data_listen(&g, "grpc", grpc_url, sizeof grpc_url);
#endif
    if (!gd_start(&g)) {
        fprintf(stderr, "groved did not start (%s)\n", g.log);
        return 1;
    }
    struct {
        const char *name, *url;
        int clients;
        long writes;
        struct bench_data_rate r;
    } runs[] = {
        {.name = "http1", .url = g.url, .clients = 1, .writes = n / 4},
        {.name = "http16", .url = g.url, .clients = BENCH_DATA_WRITERS, .writes = n},
        {.name = "grpc1", .url = grpc_url, .clients = 1, .writes = n / 4},
        {.name = "grpc16", .url = grpc_url, .clients = BENCH_DATA_WRITERS, .writes = n},
    };
    size_t run_count = grpc_url[0] ? 4 : 2;
    for (size_t i = 0; i < run_count; i++) {
        /* Writer ids differ between runs, so every write makes a new row. */
        if (!bench_data_writers(runs[i].url, g.pid, runs[i].clients, runs[i].writes,
                                (int)i * BENCH_DATA_WRITERS, &runs[i].r))
            return 1;
        printf("%-6s %2d client(s), %5ld single-row writes: %7.0f writes/s, p50 %.2f ms, "
               "p99 %.2f ms; CPU per write: groved %.0f us, clients %.0f us\n",
               runs[i].name, runs[i].clients, runs[i].writes, runs[i].r.writes_per_s,
               runs[i].r.p50_ms, runs[i].r.p99_ms, runs[i].r.server_cpu_us,
               runs[i].r.client_cpu_us);
    }
    double bulk = 0, bulk_p50 = 0, bulk_p99 = 0;
    if (!bench_data_bulk(g.port, &bulk, &bulk_p50, &bulk_p99))
        return 1;
    printf("bulk   %d requests of %d rows x 3 fields over HTTP: %.0f field writes/s, "
           "p50 %.1f ms, p99 %.1f ms per request\n",
           BENCH_DATA_BULK_REQS, BENCH_DATA_BULK_ROWS, bulk, bulk_p50, bulk_p99);
    if (gd_stop(&g) != 0)
        fprintf(stderr, "groved did not stop cleanly (%s)\n", g.log);
    printf("RESULT write n=%ld", n);
    for (size_t i = 0; i < run_count; i++)
        printf(" %s_writes_per_s=%.0f %s_p50_ms=%.3f %s_p99_ms=%.3f", runs[i].name,
               runs[i].r.writes_per_s, runs[i].name, runs[i].r.p50_ms, runs[i].name,
               runs[i].r.p99_ms);
    printf(" bulk_field_writes_per_s=%.0f bulk_p50_ms=%.1f\n", bulk, bulk_p50);
    return 0;
}

/* ---- watch ---------------------------------------------------------------- */

struct bench_data_watch {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    long seen; /* the highest i of an event lat-<i> seen, plus one */
    atomic_bool stop;
    struct grove_client *client;
    grove_err result;
};

static bool bench_data_on_event(void *user, const struct grove_row_event *event)
{
    struct bench_data_watch *w = user;
    long i = strncmp(event->pk, "lat-", 4) == 0 ? strtol(event->pk + 4, NULL, 10) : -1;
    pthread_mutex_lock(&w->lock);
    if (i + 1 > w->seen)
        w->seen = i + 1;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    return true;
}

static void *bench_data_watch_main(void *arg)
{
    struct bench_data_watch *w = arg;
    struct grove_watch_options opts = {.table = "docs", .prefix = "lat-"};
    w->result = grove_client_watch(w->client, &opts, bench_data_on_event, w, &w->stop);
    return NULL;
}

/* Waits up to timeout_s for the event of write i; false when it did not come. */
static bool bench_data_wait_seen(struct bench_data_watch *w, long i, int timeout_s)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_s;
    pthread_mutex_lock(&w->lock);
    while (w->seen < i + 1)
        if (pthread_cond_timedwait(&w->cond, &w->lock, &deadline) != 0)
            break;
    bool arrived = w->seen >= i + 1;
    pthread_mutex_unlock(&w->lock);
    return arrived;
}

static bool bench_data_write_lat(struct grove_client *c, long i)
{
    char pk[32];
    snprintf(pk, sizeof pk, "lat-%ld", i);
    struct grove_field_write f = {.field = "title", .crdt = GROVE_CRDT_LWW, .value = {"\"x\"", 3}};
    if (grove_client_write(c, "docs", pk, &f, 1, NULL, NULL, NULL) == GROVE_OK)
        return true;
    fprintf(stderr, "write %ld on A: %s\n", i, grove_errmsg());
    return false;
}

int bench_watch(int argc, char **argv)
{
    long n = bench_arg_n(argc, argv, 200);
    const char *via = bench_arg(argc, argv, "via", "http");
    if (strcmp(via, "http") && strcmp(via, "grpc") && strcmp(via, "nng+tcp")) {
        fprintf(stderr, "grove-bench watch: --via http, grpc or nng+tcp, got %s\n", via);
        return 2;
    }
    if (bench_data_setup("watch"))
        return 1;
    struct gd a, b;
    char link[sizeof a.url];
    gd_prepare(&a, "watch-a", bench_data_dir);
    gd_prepare(&b, "watch-b", bench_data_dir);
    if (strcmp(via, "http") == 0)
        snprintf(link, sizeof link, "%s", a.url);
    else
        bench_data_listen(&a, via, link, sizeof link);
    gd_arg(&a, "--interval", "3600");
    gd_arg(&b, "--interval", "3600");
    gd_arg(&b, "--peer", link);
    if (!gd_start(&a) || !gd_start(&b)) {
        fprintf(stderr, "nodes did not start (%s, %s)\n", a.log, b.log);
        return 1;
    }
    struct bench_data_watch w = {.lock = PTHREAD_MUTEX_INITIALIZER,
                                 .cond = PTHREAD_COND_INITIALIZER};
    atomic_init(&w.stop, false);
    struct grove_client *writer = NULL;
    if (grove_client_open(&w.client, b.url, NULL) != GROVE_OK ||
        grove_client_open(&writer, a.url, NULL) != GROVE_OK) {
        fprintf(stderr, "%s\n", grove_errmsg());
        return 1;
    }
    pthread_t thread;
    pthread_create(&thread, NULL, bench_data_watch_main, &w);
    /* Write 0 is not timed: it waits until B follows A and our watch is open. */
    bool ready = false;
    for (int tries = 0; !ready && tries < 50; tries++)
        ready = bench_data_write_lat(writer, 0) && bench_data_wait_seen(&w, 0, 1);
    if (!ready) {
        fprintf(stderr, "no event on B's watch after a write on A (%s, %s)\n", a.log, b.log);
        return 1;
    }
    double *lat = calloc((size_t)n, sizeof *lat);
    long missed = 0;
    for (long i = 1; i <= n; i++) {
        double t0 = bench_now();
        if (!bench_data_write_lat(writer, i))
            return 1;
        bool arrived = bench_data_wait_seen(&w, i, 10);
        lat[i - 1] = (bench_now() - t0) * 1000.0;
        if (!arrived) {
            missed++;
            fprintf(stderr, "write %ld not on B's watch within 10 s\n", i);
        }
    }
    atomic_store(&w.stop, true);
    pthread_join(thread, NULL);
    if (w.result != GROVE_OK)
        fprintf(stderr, "B's watch ended: %s\n", grove_errmsg());
    grove_client_close(w.client);
    grove_client_close(writer);
    double p50, p99;
    bench_data_percentiles(lat, (size_t)n, &p50, &p99);
    double max = lat[n - 1];
    free(lat);
    gd_stop(&b);
    gd_stop(&a);
    printf("%ld single writes on A (HTTP) -> out of B's watch (HTTP SSE), A-B over %s: "
           "p50 %.2f ms, p99 %.2f ms, max %.2f ms, %ld missed\n",
           n, via, p50, p99, max, missed);
    printf("RESULT watch via=%s n=%ld p50_ms=%.3f p99_ms=%.3f max_ms=%.3f missed=%ld\n", via, n,
           p50, p99, max, missed);
    return missed ? 1 : 0;
}

#else /* !GROVE_BENCH_CLIENT */

static int bench_data_missing(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "grove-bench: built without the client library or groved\n");
    return 2;
}

int bench_write(int argc, char **argv)
{
    return bench_data_missing(argc, argv);
}

int bench_watch(int argc, char **argv)
{
    return bench_data_missing(argc, argv);
}

#endif
