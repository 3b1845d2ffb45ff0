/* grove-bench fanout --subscribers N --writes-per-s R [--seconds S]
 * [--transport http|grpc|nng] [--node-ids K] [--receivers K]: one groved, N
 * SSE subscribers of GET /sync/stream, N gRPC Stream calls
 * (bench_fanout_grpc.c) or N nng SUB sockets (bench_fanout_nng.c) (tables=docs; no node id, as
 * read-only clients such as dashboards, or with --node-ids K one of K node ids each, as K edge
 * nodes would: distinct node ids are distinct subscriptions, read apart),
 * and a writer making R single Data API writes per second for S seconds.
 * Each write's pk carries its send time, so every subscriber's receive
 * latency is measured: p50, p99 and max over all deliveries, and how many of
 * the expected N x writes arrived. groved's RSS and thread count are read
 * from /proc while every subscriber is connected, and its RSS before they
 * came, for the cost of an idle subscriber (docs/design.md "Serving
 * streams").
 *
 * The subscribers are raw non-blocking sockets spread over source addresses
 * 127.1.x.y (bound before connect), at most 50 per address: the listener's
 * per-address share stays as shipped. While the writer runs they are read by
 * --receivers K threads (2 by default), each with an epoll set of its own: a
 * single reader of 10,000 sockets, starved among groved's threads on the
 * same cores, added its own queueing to the latency it measured. Besides the
 * latency as read here, each delivery's arrival in the subscriber's socket is
 * taken from the kernel's receive stamp (SO_TIMESTAMPNS): arrived_p50_ms and
 * arrived_p99_ms are the server's part, without the reader's. The gRPC
 * calls are read the same way: K threads, a completion queue each; the nng
 * sockets too, an epoll set of their descriptors each. */
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

#define FANOUT_PER_ADDRESS   50
#define FANOUT_CONNECTING    512 /* connections in flight at once while opening */
#define FANOUT_RECEIVERS_MAX 16
#define FANOUT_RECEIVERS     "2" /* receiving threads unless --receivers says */

enum fanout_state { SUB_CONNECTING, SUB_WAITING, SUB_OPEN, SUB_CLOSED };

struct fanout_sub {
    int fd;
    enum fanout_state state;
    bool changes_event; /* the current event is `event: changes` */
    char *line;         /* the current, incomplete line */
    size_t line_len, line_cap;
};

/* One receiving thread's share of the SSE subscribers (those whose index
 * is its own modulo the receivers), on an epoll set of its own. */
struct fanout_rx {
    struct fanout *fo;
    int epfd;
    pthread_t thread;
    /* Deliveries, as latencies in ms: as read here, and as the kernel
     * stamped their bytes' arrival on the subscriber's socket (SSE only). */
    double *lat;
    size_t lat_count, lat_cap;
    double *wire;
    size_t wire_count, wire_cap;
};

struct fanout {
    struct fanout_sub *subs;
    long count, open, closed, refused; /* under count_lock while receivers run */
    pthread_mutex_t count_lock;
    struct fanout_rx rx[FANOUT_RECEIVERS_MAX];
    int receivers;
    int epfd; /* every receiver's epoll set, for the phases this thread serves alone */
    atomic_long delivered;
    atomic_bool rx_stop;
    int port;
    char path[64];
    int64_t realtime_less_mono; /* the arrival stamps' clock less ours, in ns */
    long node_ids;              /* subscribers name node ids sub-<i % node_ids>; 0: none */
    struct fanout_grpc *grpc;   /* --transport grpc: the Stream calls; NULL: SSE */
    struct fanout_nng *nng;     /* --transport nng: the SUB sockets */
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

static struct fanout_rx *fanout_rx_of(struct fanout *fo, const struct fanout_sub *s)
{
    return &fo->rx[(s - fo->subs) % fo->receivers];
}

static void fanout_close(struct fanout *fo, struct fanout_sub *s)
{
    if (s->state == SUB_CLOSED)
        return;
    pthread_mutex_lock(&fo->count_lock);
    if (s->state == SUB_OPEN)
        fo->open--;
    fo->closed++;
    pthread_mutex_unlock(&fo->count_lock);
    epoll_ctl(fanout_rx_of(fo, s)->epfd, EPOLL_CTL_DEL, s->fd, NULL);
    close(s->fd);
    s->state = SUB_CLOSED;
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
    int on = 1;
    setsockopt(s->fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
    s->state = SUB_CONNECTING;
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.u64 = (uint64_t)i};
    epoll_ctl(fanout_rx_of(fo, s)->epfd, EPOLL_CTL_ADD, s->fd, &ev);
    return true;
}

static void fanout_push(double **arr, size_t *count, size_t *cap, double ms)
{
    if (*count == *cap) {
        *cap = *cap ? 2 * *cap : 1 << 20;
        *arr = realloc(*arr, *cap * sizeof **arr);
        if (!*arr) {
            perror("realloc");
            exit(1);
        }
    }
    (*arr)[(*count)++] = ms;
}

static void fanout_rx_record(struct fanout_rx *rx, double ms)
{
    fanout_push(&rx->lat, &rx->lat_count, &rx->lat_cap, ms);
    atomic_fetch_add_explicit(&rx->fo->delivered, 1, memory_order_relaxed);
}

void bench_fanout_record(struct fanout *fo, int rx, double ms)
{
    fanout_rx_record(&fo->rx[rx], ms);
}

/* One whole line of subscriber s. Each change's pk is "f<seq>_<send ns>". */
static void fanout_line(struct fanout_rx *rx, struct fanout_sub *s, const char *line, size_t len,
                        int64_t now, int64_t arrived)
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
        pthread_mutex_lock(&rx->fo->count_lock);
        rx->fo->open++;
        pthread_mutex_unlock(&rx->fo->count_lock);
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
        fanout_rx_record(rx, (double)(now - sent_ns) / 1e6);
        if (arrived)
            fanout_push(&rx->wire, &rx->wire_count, &rx->wire_cap,
                        (double)(arrived - sent_ns) / 1e6);
    }
}

static void fanout_bytes(struct fanout_rx *rx, struct fanout_sub *s, const char *data, size_t n,
                         int64_t now, int64_t arrived)
{
    if (s->state == SUB_WAITING && s->line_len == 0 && n >= 12 &&
        memcmp(data, "HTTP/1.1 503", 12) == 0) {
        pthread_mutex_lock(&rx->fo->count_lock);
        rx->fo->refused++;
        pthread_mutex_unlock(&rx->fo->count_lock);
        fanout_close(rx->fo, s);
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
        fanout_line(rx, s, s->line, len, now, arrived);
        s->line_len = 0;
    }
}

/* recv, and when the bytes came (monotonic ns, from the kernel's stamp of
 * the newest segment read; 0 when there was none). */
static ssize_t fanout_recv(const struct fanout *fo, int fd, char *buf, size_t cap, int64_t *arrived)
{
    struct iovec iov = {.iov_base = buf, .iov_len = cap};
    union {
        char space[CMSG_SPACE(sizeof(struct timespec))];
        struct cmsghdr align;
    } control;
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = control.space,
                         .msg_controllen = sizeof control.space};
    ssize_t got = recvmsg(fd, &msg, MSG_DONTWAIT);
    for (struct cmsghdr *c = got > 0 ? CMSG_FIRSTHDR(&msg) : NULL; c; c = CMSG_NXTHDR(&msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(c), sizeof ts);
            *arrived = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec - fo->realtime_less_mono;
        }
    return got;
}

/* Serves the events of rx's sockets for up to timeout_ms. */
static void fanout_poll(struct fanout_rx *rx, int timeout_ms)
{
    struct fanout *fo = rx->fo;
    struct epoll_event evs[256];
    int n = epoll_wait(rx->epfd, evs, 256, timeout_ms);
    char buf[65536];
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
            epoll_ctl(rx->epfd, EPOLL_CTL_MOD, s->fd, &ev);
            continue;
        }
        int64_t now = bench_fanout_now_ns();
        for (;;) {
            int64_t arrived = 0;
            ssize_t got = fanout_recv(fo, s->fd, buf, sizeof buf, &arrived);
            if (got > 0) {
                fanout_bytes(rx, s, buf, (size_t)got, now, arrived);
                /* Short: the socket is drained for now (a further event
                 * says when it is not), with no second call to learn it. */
                if (s->state == SUB_CLOSED || (size_t)got < sizeof buf)
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
        for (int q = 0; q < fo->receivers; q++)
            bench_fanout_grpc_poll(fo->grpc, q, fo, timeout_ms / fo->receivers, &fo->open,
                                   &fo->closed);
        return;
    }
#endif
#ifdef GROVE_BENCH_NNG
    if (fo->nng) {
        for (int q = 0; q < fo->receivers; q++)
            bench_fanout_nng_poll(fo->nng, q, fo, timeout_ms / fo->receivers, &fo->open);
        return;
    }
#endif
    struct epoll_event evs[FANOUT_RECEIVERS_MAX];
    int n = epoll_wait(fo->epfd, evs, FANOUT_RECEIVERS_MAX, timeout_ms);
    for (int i = 0; i < n; i++)
        fanout_poll(&fo->rx[evs[i].data.u32], 0);
}

static void *fanout_rx_main(void *arg)
{
    struct fanout_rx *rx = arg;
    struct fanout *fo = rx->fo;
#ifdef GROVE_BENCH_GRPC
    if (fo->grpc) { /* this thread's completion queue */
        long open = 0, closed = 0;
        while (!atomic_load(&fo->rx_stop))
            bench_fanout_grpc_poll(fo->grpc, (int)(rx - fo->rx), fo, 50, &open, &closed);
        pthread_mutex_lock(&fo->count_lock);
        fo->open += open;
        fo->closed += closed;
        pthread_mutex_unlock(&fo->count_lock);
        return NULL;
    }
#endif
#ifdef GROVE_BENCH_NNG
    if (fo->nng) { /* this thread's sockets */
        long open = 0;
        while (!atomic_load(&fo->rx_stop))
            bench_fanout_nng_poll(fo->nng, (int)(rx - fo->rx), fo, 50, &open);
        return NULL;
    }
#endif
    while (!atomic_load(&fo->rx_stop))
        fanout_poll(rx, 50);
    return NULL;
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
    long receivers = strtol(bench_arg(argc, argv, "receivers", FANOUT_RECEIVERS), NULL, 10);
    bool grpc = strcmp(transport, "grpc") == 0, nng = strcmp(transport, "nng") == 0;
    bool sse = !grpc && !nng;
#ifndef GROVE_BENCH_GRPC
    if (grpc) {
        fprintf(stderr, "grove-bench fanout: built without the gRPC transport\n");
        return 2;
    }
#endif
#ifndef GROVE_BENCH_NNG
    if (nng) {
        fprintf(stderr, "grove-bench fanout: built without the nng transport\n");
        return 2;
    }
#endif
    if (sse && strcmp(transport, "http") != 0) {
        fprintf(stderr, "grove-bench fanout: --transport http, grpc or nng (got %s)\n", transport);
        return 2;
    }
    if (subs <= 0 || subs > 60000 || rate <= 0 || seconds <= 0 || receivers < 1 ||
        receivers > FANOUT_RECEIVERS_MAX) {
        fprintf(stderr,
                "grove-bench fanout: --subscribers 1..60000, --receivers 1..%d, "
                "--writes-per-s and --seconds above 0\n",
                FANOUT_RECEIVERS_MAX);
        return 2;
    }
    rlim_t need = (rlim_t)subs + 64;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < need) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < need) {
        fprintf(stderr,
                "grove-bench fanout: %ld subscribers need %llu open files, more than the "
                "limit of %llu\n",
                subs, (unsigned long long)need, (unsigned long long)rl.rlim_cur);
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
    char nng_url[64]; /* publishes on the next port */
    int nng_port = support_free_port();
    snprintf(nng_url, sizeof nng_url, "nng+tcp://127.0.0.1:%d", nng_port);
    if (nng)
        gd_arg(&g, "--listen", nng_url);
    if (!gd_start(&g)) {
        fprintf(stderr, "groved did not start (%s)\n", g.log);
        return 1;
    }
    struct fanout fo = {.count = subs,
                        .port = g.port,
                        .url = g.url,
                        .rate = rate,
                        .seconds = seconds,
                        .node_ids = node_ids > 0 ? node_ids : 0,
                        .receivers = (int)receivers};
    pthread_mutex_init(&fo.count_lock, NULL);
    const char *path = strstr(g.url + 7, "/");
    snprintf(fo.path, sizeof fo.path, "%s", path ? path : "");
    struct timespec real, mono;
    clock_gettime(CLOCK_REALTIME, &real);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    fo.realtime_less_mono =
        ((int64_t)real.tv_sec - mono.tv_sec) * 1000000000 + (real.tv_nsec - mono.tv_nsec);
    fo.subs = calloc((size_t)subs, sizeof *fo.subs);
    fo.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (!fo.subs || fo.epfd < 0) {
        perror("setup");
        return 1;
    }
    for (int r = 0; r < fo.receivers; r++) {
        fo.rx[r].fo = &fo;
        fo.rx[r].epfd = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)r};
        if (fo.rx[r].epfd < 0 || epoll_ctl(fo.epfd, EPOLL_CTL_ADD, fo.rx[r].epfd, &ev) != 0) {
            perror("setup");
            return 1;
        }
    }
    struct gd_status before = gd_proc_status(g.pid);

    /* Open them all, a few hundred in flight at a time (gRPC: all at once,
     * multiplexed on a few connections). */
    double t_open = bench_now();
#ifdef GROVE_BENCH_GRPC
    if (grpc && !bench_fanout_grpc_open(&fo.grpc, grpc_port, subs, fo.node_ids, fo.receivers)) {
        fprintf(stderr, "cannot start the gRPC streams\n");
        return 1;
    }
#endif
#ifdef GROVE_BENCH_NNG
    if (nng && !bench_fanout_nng_open(&fo.nng, nng_port + 1, subs, fo.receivers)) {
        fprintf(stderr, "cannot start the nng subscribers\n");
        return 1;
    }
#endif
    for (long i = 0; i < subs && sse; i++) {
        while (i - fo.open - fo.closed >= FANOUT_CONNECTING)
            fanout_step(&fo, 100);
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
    struct gd_status idle = gd_proc_status(g.pid);

    pthread_t writer;
    pthread_create(&writer, NULL, fanout_writer, &fo);
    struct gd_status writing = {0};
    double t_write = bench_now(), cpu_server = bench_cpu_of(g.pid), cpu_self = bench_cpu_now();
    /* Each receiver on a thread of its own from here on (its sockets, or
     * its completion queue); this one waits. */
    for (int r = 0; r < fo.receivers; r++)
        pthread_create(&fo.rx[r].thread, NULL, fanout_rx_main, &fo.rx[r]);
    struct timespec tick = {.tv_nsec = 50000000};
    while (!atomic_load(&fo.writer_done)) {
        nanosleep(&tick, NULL);
        if (writing.rss_mb == 0 && bench_now() - t_write > seconds / 2)
            writing = gd_proc_status(g.pid);
    }
    pthread_join(writer, NULL);
    double wall = bench_now() - t_write;
    cpu_server = (bench_cpu_of(g.pid) - cpu_server) / wall;
    cpu_self = (bench_cpu_now() - cpu_self) / wall;
    long expected = atomic_load(&fo.sent) * subs;
    double t_drain = bench_now();
    while (atomic_load(&fo.delivered) < expected && bench_now() - t_drain < 10)
        nanosleep(&tick, NULL);
    atomic_store(&fo.rx_stop, true);
    for (int r = 0; r < fo.receivers; r++)
        pthread_join(fo.rx[r].thread, NULL);
    if (writing.rss_mb == 0)
        writing = gd_proc_status(g.pid);
    long still_open = fo.open;
    /* Stopped with every stream open: they end, and groved exits cleanly. */
    int stop_status = gd_stop(&g);
    if (stop_status != 0)
        fprintf(stderr, "groved did not stop cleanly with %ld streams open (%s)\n", still_open,
                g.log);
    for (long i = 0; i < subs && sse; i++) {
        fanout_close(&fo, &fo.subs[i]);
        free(fo.subs[i].line);
    }
#ifdef GROVE_BENCH_GRPC
    if (fo.grpc)
        bench_fanout_grpc_close(fo.grpc);
#endif
#ifdef GROVE_BENCH_NNG
    if (fo.nng)
        bench_fanout_nng_close(fo.nng);
#endif
    close(fo.epfd);
    free(fo.subs);
    /* Every receiver's deliveries into rx[0]'s arrays. */
    struct fanout_rx *rx0 = &fo.rx[0];
    for (int r = 1; r < fo.receivers; r++) {
        for (size_t k = 0; k < fo.rx[r].lat_count; k++)
            fanout_push(&rx0->lat, &rx0->lat_count, &rx0->lat_cap, fo.rx[r].lat[k]);
        for (size_t k = 0; k < fo.rx[r].wire_count; k++)
            fanout_push(&rx0->wire, &rx0->wire_count, &rx0->wire_cap, fo.rx[r].wire[k]);
        free(fo.rx[r].lat);
        free(fo.rx[r].wire);
    }
    for (int r = 0; r < fo.receivers; r++)
        close(fo.rx[r].epfd);
    pthread_mutex_destroy(&fo.count_lock);

    double p50 = 0, p99 = 0, max = 0, wire50 = 0, wire99 = 0;
    size_t delivered = rx0->lat_count;
    if (delivered) {
        bench_sort(rx0->lat, delivered);
        p50 = rx0->lat[delivered * 50 / 100];
        p99 = rx0->lat[delivered * 99 / 100];
        max = rx0->lat[delivered - 1];
    }
    if (rx0->wire_count) {
        bench_sort(rx0->wire, rx0->wire_count);
        wire50 = rx0->wire[rx0->wire_count * 50 / 100];
        wire99 = rx0->wire[rx0->wire_count * 99 / 100];
    }
    free(rx0->lat);
    free(rx0->wire);
    double idle_kib = (idle.rss_mb - before.rss_mb) * 1024.0 / (double)subs;
    /* SSE only: gRPC's and nng's sockets are their libraries' */
    char in_sockets[96] = "", arrived[96] = "";
    if (sse) {
        snprintf(in_sockets, sizeof in_sockets,
                 "in the subscribers' sockets: p50 %.1f ms, p99 %.1f ms; ", wire50, wire99);
        snprintf(arrived, sizeof arrived, " arrived_p50_ms=%.2f arrived_p99_ms=%.2f", wire50,
                 wire99);
    }
    printf("%ld %s subscribers, %.0f writes/s for %.0f s: %zu of %ld deliveries, p50 %.1f ms, "
           "p99 %.1f ms, max %.1f ms (%s%d receiving threads); groved %.0f MB RSS, %ld threads "
           "(before the subscribers: %.0f MB, %ld threads; idle with them: %.0f MB, %.1f KiB "
           "each); %ld still open; CPU while writing: groved %.2f cores, this bench %.2f\n",
           subs,
           grpc  ? "gRPC Stream"
           : nng ? "nng SUB"
                 : "SSE",
           rate, seconds, delivered, expected, p50, p99, max, in_sockets, fo.receivers,
           writing.rss_mb, writing.threads, before.rss_mb, before.threads, idle.rss_mb, idle_kib,
           still_open, cpu_server, cpu_self);
    printf("RESULT fanout transport=%s subscribers=%ld node_ids=%ld receivers=%d "
           "writes_per_s=%.0f delivered=%zu expected=%ld p50_ms=%.2f p99_ms=%.2f max_ms=%.2f%s "
           "rss_mb=%.1f threads=%ld idle_kib_per_subscriber=%.1f groved_cores=%.2f "
           "bench_cores=%.2f\n",
           transport, subs, fo.node_ids, fo.receivers, rate, delivered, expected, p50, p99, max,
           arrived, writing.rss_mb, writing.threads, idle_kib, cpu_server, cpu_self);
    return atomic_load(&fo.writer_failed) || (long)delivered < expected || stop_status != 0;
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
