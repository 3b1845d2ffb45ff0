/* grove-bench fanout --transport nng: the subscribers as nng SUB sockets
 * dialed to the listener's publisher (nng+tcp://h:p publishes on p+1,
 * docs/protocol.md §12), each subscribed to everything. nng hands a socket's
 * messages over through a file descriptor that is readable while one waits
 * (NNG_OPT_RECVFD), so each receiving thread (--receivers) waits on its
 * sockets' descriptors with one epoll set, as the SSE subscribers do, and
 * takes their messages without blocking. Each change's pk
 * ("f<seq>_<send ns>") is found in the frame's JSON and timed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_fanout.h"

#if defined(GROVE_BENCH_CLIENT) && defined(GROVE_BENCH_NNG)

#include <stdatomic.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>

#define FANOUT_NNG_QUEUES_MAX 16

struct fanout_nng {
    nng_socket *socks;
    long count;
    int queues;
    int epfd[FANOUT_NNG_QUEUES_MAX];
    atomic_long connected; /* pipes added: a subscriber is open once its pipe is */
    long reported[FANOUT_NNG_QUEUES_MAX];
};

static void fanout_nng_pipe_added(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
    (void)pipe;
    (void)ev;
    atomic_fetch_add(&((struct fanout_nng *)arg)->connected, 1);
}

bool bench_fanout_nng_open(struct fanout_nng **out, int pub_port, long count, int queues)
{
    struct fanout_nng *g = calloc(1, sizeof *g);
    if (!g || queues < 1 || queues > FANOUT_NNG_QUEUES_MAX ||
        !(g->socks = calloc((size_t)count, sizeof *g->socks))) {
        free(g);
        return false;
    }
    g->queues = queues;
    atomic_init(&g->connected, 0);
    for (int q = 0; q < queues; q++)
        if ((g->epfd[q] = epoll_create1(EPOLL_CLOEXEC)) < 0)
            return false;
    char addr[64];
    snprintf(addr, sizeof addr, "tcp://127.0.0.1:%d", pub_port);
    for (long i = 0; i < count; i++) {
        nng_socket *s = &g->socks[i];
        int fd = -1, rv = nng_sub0_open(s);
        if (!rv)
            rv = nng_pipe_notify(*s, NNG_PIPE_EV_ADD_POST, fanout_nng_pipe_added, g);
        if (!rv)
            rv = nng_socket_set(*s, NNG_OPT_SUB_SUBSCRIBE, "", 0);
        if (!rv)
            rv = nng_dial(*s, addr, NULL, NNG_FLAG_NONBLOCK);
        if (!rv)
            rv = nng_socket_get_int(*s, NNG_OPT_RECVFD, &fd);
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)i};
        if (rv || epoll_ctl(g->epfd[i % queues], EPOLL_CTL_ADD, fd, &ev) != 0) {
            fprintf(stderr, "subscriber %ld: %s\n", i, rv ? nng_strerror(rv) : "epoll");
            g->count = i + 1;
            bench_fanout_nng_close(g);
            return false;
        }
        g->count = i + 1;
    }
    *out = g;
    return true;
}

/* One frame: a kind byte and a JSON stream batch. */
static void fanout_nng_frame(struct fanout *fo, int rx, const char *frame, size_t len, int64_t now)
{
    static const char key[] = "\"pk\":\"f";
    const char *end = frame + len;
    for (const char *p = frame; (p = memmem(p, (size_t)(end - p), key, sizeof key - 1));) {
        p += sizeof key - 1;
        const char *us = memchr(p, '_', (size_t)(end - p));
        if (!us)
            break;
        bench_fanout_record(fo, rx, (double)(now - strtoll(us + 1, NULL, 10)) / 1e6);
    }
}

void bench_fanout_nng_poll(struct fanout_nng *g, int q, struct fanout *fo, int timeout_ms,
                           long *open)
{
    struct epoll_event evs[256];
    int n = epoll_wait(g->epfd[q], evs, 256, timeout_ms);
    for (int i = 0; i < n; i++) {
        nng_socket s = g->socks[evs[i].data.u64];
        for (;;) {
            char *frame = NULL;
            size_t len = 0;
            if (nng_recv(s, &frame, &len, NNG_FLAG_NONBLOCK | NNG_FLAG_ALLOC) != 0)
                break;
            if (fo)
                fanout_nng_frame(fo, q, frame, len, bench_fanout_now_ns());
            nng_free(frame, len);
        }
    }
    /* The subscribers that connected since, reported once by queue 0. */
    if (q == 0) {
        long now = atomic_load(&g->connected);
        *open += now - g->reported[0];
        g->reported[0] = now;
    }
}

void bench_fanout_nng_close(struct fanout_nng *g)
{
    for (long i = 0; i < g->count; i++)
        nng_close(g->socks[i]);
    for (int q = 0; q < g->queues; q++)
        if (g->epfd[q] >= 0)
            close(g->epfd[q]);
    free(g->socks);
    free(g);
}

#endif
