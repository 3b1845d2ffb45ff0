/* grove-bench fanout --subscribers N --writes-per-s R [--seconds S]
 * [--transport http|grpc] [--node-ids K]: one groved, N SSE subscribers of GET
 * /sync/stream, or N gRPC Stream calls (bench_fanout_grpc.c) (tables=docs; no node id, as read-only clients such as
 * dashboards, or with --node-ids K one of K node ids each, as K edge nodes
 * would: distinct node ids are distinct subscriptions, read apart), and a
 * writer making R single Data API writes per second for S seconds. Each
 * write's pk carries its send time, so every subscriber's receive latency is
 * measured: p50, p99 and max over all deliveries, and how many of the
 * expected N x writes arrived. groved's RSS and thread count are read from
 * /proc while every subscriber is connected, and its RSS before they came,
 * for the cost of an idle subscriber (docs/design.md "Serving streams").
 *
 * The subscribers are raw non-blocking sockets on one epoll loop in this
 * thread, spread over source addresses 127.1.x.y (bound before connect), at
 * most 50 per address: the listener's per-address share stays as shipped. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "bench_fanout.h"

#ifdef GROVE_BENCH_CLIENT

#include "grove/client.h"
#include "grove/error.h"
#include "integration/groved_proc.h"
#include "support/port.h"

#define FANOUT_PER_ADDRESS 50
#define FANOUT_CONNECTING  512 /* connections in flight at once while opening */

enum fanout_state { SUB_CONNECTING, SUB_WAITING, SUB_OPEN, SUB_CLOSED };

struct fanout_sub {
    int fd;
    enum fanout_state state;
    bool changes_event; /* the current event is `event: changes` */
    char *line;         /* the current, incomplete line */
    size_t line_len, line_cap;
};

struct fanout {
    struct fanout_sub *subs;
    long count, open, closed, refused;
    int epfd;
    int port;
    char path[64];
    /* Deliveries, as latencies in ms. */
    double *lat;
    size_t lat_count, lat_cap;
    long node_ids; /* subscribers name node ids sub-<i % node_ids>; 0: none */
    struct fanout_grpc *grpc; /* --transport grpc: the Stream calls; NULL: SSE */
    /* The writer. */
    const char *url;
    double rate, seconds;
    atomic_long sent;
    atomic_bool writer_done, writer_failed;
};

int64_t bench_fanout_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}


/* VmRSS in MiB and Threads of a process, from /proc/<pid>/status. */
static void fanout_proc_status(pid_t pid, double *rss_mb, long *threads)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    *rss_mb = 0;
    *threads = 0;
    if (!f)
        return;
    long kb;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            *rss_mb = (double)kb / 1024.0;
        sscanf(line, "Threads: %ld", threads);
    }
    fclose(f);
}

static void fanout_close(struct fanout *fo, struct fanout_sub *s)
{
    if (s->state == SUB_CLOSED)
        return;
    if (s->state == SUB_OPEN)
        fo->open--;
    epoll_ctl(fo->epfd, EPOLL_CTL_DEL, s->fd, NULL);
    close(s->fd);
    s->state = SUB_CLOSED;
    fo->closed++;
}

/* Subscriber i's connection from 127.1.x.y. */
static bool fanout_connect(struct fanout *fo, long i)
{
    struct fanout_sub *s = &fo->subs[i];
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0) {
        perror("socket");
        return false;
    }
    long k = i / FANOUT_PER_ADDRESS;
    char from[32];
    snprintf(from, sizeof from, "127.1.%ld.%ld", k / 250, k % 250 + 1);
    struct sockaddr_in src = {.sin_family = AF_INET};
    inet_pton(AF_INET, from, &src.sin_addr);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)fo->port)};
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    if (bind(s->fd, (struct sockaddr *)&src, sizeof src) != 0 ||
        (connect(s->fd, (struct sockaddr *)&to, sizeof to) != 0 && errno != EINPROGRESS)) {
        fprintf(stderr, "subscriber %ld from %s: %s\n", i, from, strerror(errno));
        close(s->fd);
        return false;
    }
    s->state = SUB_CONNECTING;
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.u64 = (uint64_t)i};
    epoll_ctl(fo->epfd, EPOLL_CTL_ADD, s->fd, &ev);
    return true;
}

void bench_fanout_record(struct fanout *fo, double ms)
{
    if (fo->lat_count == fo->lat_cap) {
        fo->lat_cap = fo->lat_cap ? 2 * fo->lat_cap : 1 << 20;
        fo->lat = realloc(fo->lat, fo->lat_cap * sizeof *fo->lat);
        if (!fo->lat) {
            perror("realloc");
            exit(1);
        }
    }
    fo->lat[fo->lat_count++] = ms;
}

/* One whole line of subscriber s. Each change's pk is "f<seq>_<send ns>". */
static void fanout_line(struct fanout *fo, struct fanout_sub *s, const char *line, size_t len,
                        int64_t now)
{
    if (len == 0) {
        s->changes_event = false;
        return;
    }
    if (len >= 7 && memcmp(line, "event: ", 7) == 0) {
        s->changes_event = len == 14 && memcmp(line + 7, "changes", 7) == 0;
        return;
    }
    if (strncmp(line, ": ok", 4) == 0 && s->state == SUB_WAITING) {
        s->state = SUB_OPEN;
        fo->open++;
        return;
    }
    if (!s->changes_event || len < 6 || memcmp(line, "data: ", 6) != 0)
        return;
    static const char key[] = "\"pk\":\"f";
    for (const char *p = line; (p = memmem(p, len - (size_t)(p - line), key, sizeof key - 1));) {
        p += sizeof key - 1;
        const char *us = memchr(p, '_', len - (size_t)(p - line));
        if (!us)
            break;
        long long sent_ns = strtoll(us + 1, NULL, 10);
        bench_fanout_record(fo, (double)(now - sent_ns) / 1e6);
    }
}

static void fanout_bytes(struct fanout *fo, struct fanout_sub *s, const char *data, size_t n,
                         int64_t now)
{
    if (s->state == SUB_WAITING && s->line_len == 0 && n >= 12 &&
        memcmp(data, "HTTP/1.1 503", 12) == 0) {
        fo->refused++;
        fanout_close(fo, s);
        return;
    }
    for (size_t i = 0; i < n;) {
        const char *nl = memchr(data + i, '\n', n - i);
        size_t piece = nl ? (size_t)(nl - (data + i)) : n - i;
        if (s->line_len + piece + 1 > s->line_cap) {
            s->line_cap = (s->line_len + piece + 1) * 2;
            s->line = realloc(s->line, s->line_cap);
            if (!s->line) {
                perror("realloc");
                exit(1);
            }
        }
        memcpy(s->line + s->line_len, data + i, piece);
        s->line_len += piece;
        i += piece;
        if (!nl)
            break;
        i++; /* the LF */
        size_t len = s->line_len;
        if (len > 0 && s->line[len - 1] == '\r')
            len--;
        s->line[len] = '\0';
        /* Chunked framing: a chunk-size line is hex digits only; skip it. */
        fanout_line(fo, s, s->line, len, now);
        s->line_len = 0;
    }
}

/* Serves the sockets' events for up to timeout_ms. */
static void fanout_poll(struct fanout *fo, int timeout_ms)
{
    struct epoll_event evs[256];
    int n = epoll_wait(fo->epfd, evs, 256, timeout_ms);
    static char buf[65536];
    for (int e = 0; e < n; e++) {
        struct fanout_sub *s = &fo->subs[evs[e].data.u64];
        if (s->state == SUB_CONNECTING) {
            int err = 0;
            socklen_t len = sizeof err;
            getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err) {
                fanout_close(fo, s);
                continue;
            }
            char req[256], node[48] = "";
            if (fo->node_ids)
                snprintf(node, sizeof node, "&node_id=sub-%ld",
                         (long)(evs[e].data.u64 % (uint64_t)fo->node_ids));
            int rn = snprintf(req, sizeof req,
                              "GET %s/stream?tables=docs%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                              fo->path, node);
            if (send(s->fd, req, (size_t)rn, MSG_NOSIGNAL) != rn) {
                fanout_close(fo, s);
                continue;
            }
            s->state = SUB_WAITING;
            struct epoll_event ev = {.events = EPOLLIN, .data.u64 = evs[e].data.u64};
            epoll_ctl(fo->epfd, EPOLL_CTL_MOD, s->fd, &ev);
            continue;
        }
        int64_t now = bench_fanout_now_ns();
        for (;;) {
            ssize_t got = recv(s->fd, buf, sizeof buf, MSG_DONTWAIT);
            if (got > 0) {
                fanout_bytes(fo, s, buf, (size_t)got, now);
                if (s->state == SUB_CLOSED)
                    break;
                continue;
            }
            if (got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
                fanout_close(fo, s);
            break;
        }
    }
}

/* The subscribers' events for up to timeout_ms, whichever transport. */
static void fanout_step(struct fanout *fo, int timeout_ms)
{
#ifdef GROVE_BENCH_GRPC
    if (fo->grpc) {
        bench_fanout_grpc_poll(fo->grpc, fo, timeout_ms, &fo->open, &fo->closed);
        return;
    }
#endif
    fanout_poll(fo, timeout_ms);
}

static void *fanout_writer(void *arg)
{
    struct fanout *fo = arg;
    struct grove_client *c = NULL;
    if (grove_client_open(&c, fo->url, NULL) != GROVE_OK) {
        fprintf(stderr, "writer: %s\n", grove_errmsg());
        atomic_store(&fo->writer_failed, true);
        atomic_store(&fo->writer_done, true);
        return NULL;
    }
    long total = (long)(fo->rate * fo->seconds);
    int64_t start = bench_fanout_now_ns();
    for (long k = 0; k < total; k++) {
        int64_t at = start + (int64_t)((double)k * 1e9 / fo->rate);
        int64_t now = bench_fanout_now_ns();
        if (at > now) {
            struct timespec d = {.tv_sec = (at - now) / 1000000000,
                                 .tv_nsec = (at - now) % 1000000000};
            nanosleep(&d, NULL);
        }
        char pk[64];
        snprintf(pk, sizeof pk, "f%ld_%lld", k, (long long)bench_fanout_now_ns());
        struct grove_field_write f = {
            .field = "title", .crdt = GROVE_CRDT_LWW, .value = {"\"x\"", 3}};
        if (grove_client_write(c, "docs", pk, &f, 1, NULL, NULL, NULL) != GROVE_OK) {
            fprintf(stderr, "write %ld: %s\n", k, grove_errmsg());
            atomic_store(&fo->writer_failed, true);
            break;
        }
        atomic_fetch_add(&fo->sent, 1);
    }
    grove_client_close(c);
    atomic_store(&fo->writer_done, true);
    return NULL;
}

static int fanout_cmp(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static char fanout_dir[128];

static void fanout_cleanup(void)
{
    gd_kill_all();
    if (fanout_dir[0]) {
        char cmd[200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", fanout_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", fanout_dir);
    }
}

int bench_fanout(int argc, char **argv)
{
    long subs = strtol(bench_arg(argc, argv, "subscribers", "1000"), NULL, 10);
    double rate = strtod(bench_arg(argc, argv, "writes-per-s", "10"), NULL);
    double seconds = strtod(bench_arg(argc, argv, "seconds", "10"), NULL);
    const char *transport = bench_arg(argc, argv, "transport", "http");
    long node_ids = strtol(bench_arg(argc, argv, "node-ids", "0"), NULL, 10);
    bool grpc = strcmp(transport, "grpc") == 0;
#ifndef GROVE_BENCH_GRPC
    if (grpc) {
        fprintf(stderr, "grove-bench fanout: built without the gRPC transport\n");
        return 2;
    }
#endif
    if (!grpc && strcmp(transport, "http") != 0) {
        fprintf(stderr, "grove-bench fanout: --transport http or grpc (got %s)\n", transport);
        return 2;
    }
    if (subs <= 0 || subs > 60000 || rate <= 0 || seconds <= 0) {
        fprintf(stderr, "grove-bench fanout: --subscribers 1..60000, --writes-per-s and "
                        "--seconds above 0\n");
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)subs + 64) {
        fprintf(stderr,
                "grove-bench fanout: %ld subscribers need more than the open-file limit "
                "of %llu\n",
                subs, (unsigned long long)rl.rlim_cur);
        return 1;
    }
    snprintf(fanout_dir, sizeof fanout_dir, "/tmp/grove-bench-fanout-XXXXXX");
    if (!mkdtemp(fanout_dir)) {
        perror("mkdtemp");
        return 1;
    }
    atexit(fanout_cleanup);
    struct gd g;
    gd_prepare(&g, "fanout", fanout_dir);
    char max_conn[32];
    snprintf(max_conn, sizeof max_conn, "%ld", subs + 64);
    gd_arg(&g, "--max-connections", max_conn);
    char grpc_url[64];
    int grpc_port = support_free_port();
    snprintf(grpc_url, sizeof grpc_url, "grpc://127.0.0.1:%d", grpc_port);
    if (grpc)
        gd_arg(&g, "--listen", grpc_url);
    if (!gd_start(&g)) {
        fprintf(stderr, "groved did not start (%s)\n", g.log);
        return 1;
    }
    struct fanout fo = {.count = subs,
                        .port = g.port,
                        .url = g.url,
                        .rate = rate,
                        .seconds = seconds,
                        .node_ids = node_ids > 0 ? node_ids : 0};
    const char *path = strstr(g.url + 7, "/");
    snprintf(fo.path, sizeof fo.path, "%s", path ? path : "");
    fo.subs = calloc((size_t)subs, sizeof *fo.subs);
    fo.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (!fo.subs || fo.epfd < 0) {
        perror("setup");
        return 1;
    }
    double rss_before;
    long threads_before;
    fanout_proc_status(g.pid, &rss_before, &threads_before);

    /* Open them all, a few hundred in flight at a time (gRPC: all at once,
     * multiplexed on a few connections). */
    double t_open = bench_now();
#ifdef GROVE_BENCH_GRPC
    if (grpc && !bench_fanout_grpc_open(&fo.grpc, grpc_port, subs, fo.node_ids)) {
        fprintf(stderr, "cannot start the gRPC streams\n");
        return 1;
    }
#endif
    for (long i = 0; i < subs && !grpc; i++) {
        while (i - fo.open - fo.closed >= FANOUT_CONNECTING)
            fanout_poll(&fo, 100);
        if (!fanout_connect(&fo, i))
            return 1;
    }
    while (fo.open + fo.closed < subs && bench_now() - t_open < 120)
        fanout_step(&fo, 100);
    double open_s = bench_now() - t_open;
    printf("%ld of %ld subscribers open in %.1f s (%ld refused, %ld failed)\n", fo.open, subs,
           open_s, fo.refused, fo.closed - fo.refused);
    if (fo.open < subs) {
        fprintf(stderr, "not every subscriber got its stream (%s)\n", g.log);
        return 1;
    }
    /* Idle: a second with nothing written. */
    double t_idle = bench_now();
    while (bench_now() - t_idle < 1)
        fanout_step(&fo, 100);
    double rss_idle;
    long threads_idle;
    fanout_proc_status(g.pid, &rss_idle, &threads_idle);

    pthread_t writer;
    pthread_create(&writer, NULL, fanout_writer, &fo);
    double rss_mb = 0;
    long threads = 0;
    double t_write = bench_now(), cpu_server = bench_cpu_of(g.pid), cpu_self = bench_cpu_now();
    while (!atomic_load(&fo.writer_done)) {
        fanout_step(&fo, 50);
        if (rss_mb == 0 && bench_now() - t_write > seconds / 2)
            fanout_proc_status(g.pid, &rss_mb, &threads);
    }
    pthread_join(writer, NULL);
    double wall = bench_now() - t_write;
    cpu_server = (bench_cpu_of(g.pid) - cpu_server) / wall;
    cpu_self = (bench_cpu_now() - cpu_self) / wall;
    long expected = atomic_load(&fo.sent) * subs;
    double t_drain = bench_now();
    while ((long)fo.lat_count < expected && bench_now() - t_drain < 10)
        fanout_step(&fo, 50);
    if (rss_mb == 0)
        fanout_proc_status(g.pid, &rss_mb, &threads);
    long still_open = fo.open;
    /* Stopped with every stream open: they end, and groved exits cleanly. */
    int stop_status = gd_stop(&g);
    if (stop_status != 0)
        fprintf(stderr, "groved did not stop cleanly with %ld streams open (%s)\n", still_open,
                g.log);
    for (long i = 0; i < subs && !grpc; i++) {
        fanout_close(&fo, &fo.subs[i]);
        free(fo.subs[i].line);
    }
#ifdef GROVE_BENCH_GRPC
    if (fo.grpc)
        bench_fanout_grpc_close(fo.grpc);
#endif
    close(fo.epfd);
    free(fo.subs);

    double p50 = 0, p99 = 0, max = 0;
    if (fo.lat_count) {
        qsort(fo.lat, fo.lat_count, sizeof *fo.lat, fanout_cmp);
        p50 = fo.lat[fo.lat_count * 50 / 100];
        p99 = fo.lat[fo.lat_count * 99 / 100];
        max = fo.lat[fo.lat_count - 1];
    }
    free(fo.lat);
    double idle_kib = (rss_idle - rss_before) * 1024.0 / (double)subs;
    printf(
        "%ld %s subscribers, %.0f writes/s for %.0f s: %zu of %ld deliveries, p50 %.1f ms, "
        "p99 %.1f ms, max %.1f ms; groved %.0f MB RSS, %ld threads (before the subscribers: "
        "%.0f MB, %ld threads; idle with them: %.0f MB, %.1f KiB each); %ld still open; CPU while "
        "writing: groved %.2f cores, this bench %.2f\n",
        subs, grpc ? "gRPC Stream" : "SSE", rate, seconds, fo.lat_count, expected, p50, p99, max,
        rss_mb, threads, rss_before,
        threads_before, rss_idle, idle_kib, still_open, cpu_server, cpu_self);
    printf("RESULT fanout transport=%s subscribers=%ld node_ids=%ld writes_per_s=%.0f "
           "delivered=%zu "
           "expected=%ld p50_ms=%.2f p99_ms=%.2f max_ms=%.2f rss_mb=%.1f threads=%ld "
           "idle_kib_per_subscriber=%.1f groved_cores=%.2f bench_cores=%.2f\n",
           transport, subs, fo.node_ids, rate, fo.lat_count, expected, p50, p99, max, rss_mb,
           threads, idle_kib, cpu_server, cpu_self);
    return atomic_load(&fo.writer_failed) || (long)fo.lat_count < expected || stop_status != 0;
}

#else /* !GROVE_BENCH_CLIENT */

int bench_fanout(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "grove-bench: built without the client library or groved\n");
    return 2;
}

#endif
