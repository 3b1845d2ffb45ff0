/* grove-bench fanout --transport nng: the subscribers as nng SUB sockets
 * dialed to the listener's publisher (nng+tcp://h:p publishes on p+1,
 * docs/protocol.md §12), each subscribed to everything, each with a receive
 * always pending (nng_recv_aio): nng's own threads complete them, so
 * --receivers only splits the deliveries' records (socket i records as
 * receiver i % K, under that receiver's lock). nng's pollable receive
 * descriptor would cost each socket two more files, which 10,000 sockets
 * cannot have under this machine's hard limit. Each change's pk
 * ("f<seq>_<send ns>") is found in the frame's JSON and timed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_fanout.h"

#if defined(GROVE_BENCH_CLIENT) && defined(GROVE_BENCH_NNG)

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>

#define FANOUT_NNG_QUEUES_MAX 16

struct fanout_nng;

struct fanout_nng_sub {
    struct fanout_nng *g;
    nng_socket sock;
    nng_aio *aio;
    int q;
};

struct fanout_nng {
    struct fanout_nng_sub *subs;
    long count;
    int queues;
    /* Where deliveries are recorded (set by the first poll), and the lock of
     * each receiver's records. */
    struct fanout *_Atomic fo;
    pthread_mutex_t locks[FANOUT_NNG_QUEUES_MAX];
    atomic_bool closing;
    atomic_long connected; /* pipes added: a subscriber is open once its pipe is */
    long reported;
};

static void fanout_nng_pipe_added(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
    (void)pipe;
    (void)ev;
    atomic_fetch_add(&((struct fanout_nng *)arg)->connected, 1);
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

/* On one of nng's threads: a message came (or the socket closed). */
static void fanout_nng_received(void *arg)
{
    struct fanout_nng_sub *s = arg;
    struct fanout_nng *g = s->g;
    if (nng_aio_result(s->aio) != 0)
        return; /* closed, or stopped */
    nng_msg *msg = nng_aio_get_msg(s->aio);
    struct fanout *fo = atomic_load(&g->fo);
    if (fo) {
        int64_t now = bench_fanout_now_ns();
        pthread_mutex_lock(&g->locks[s->q]);
        fanout_nng_frame(fo, s->q, nng_msg_body(msg), nng_msg_len(msg), now);
        pthread_mutex_unlock(&g->locks[s->q]);
    }
    nng_msg_free(msg);
    if (!atomic_load(&g->closing))
        nng_recv_aio(s->sock, s->aio);
}

bool bench_fanout_nng_open(struct fanout_nng **out, int pub_port, long count, int queues)
{
    struct fanout_nng *g = calloc(1, sizeof *g);
    if (!g || queues < 1 || queues > FANOUT_NNG_QUEUES_MAX ||
        !(g->subs = calloc((size_t)count, sizeof *g->subs))) {
        free(g);
        return false;
    }
    g->queues = queues;
    atomic_init(&g->fo, NULL);
    atomic_init(&g->closing, false);
    atomic_init(&g->connected, 0);
    for (int q = 0; q < queues; q++)
        pthread_mutex_init(&g->locks[q], NULL);
    char addr[64];
    snprintf(addr, sizeof addr, "tcp://127.0.0.1:%d", pub_port);
    for (long i = 0; i < count; i++) {
        struct fanout_nng_sub *s = &g->subs[i];
        *s = (struct fanout_nng_sub){.g = g, .q = (int)(i % queues)};
        int rv = nng_sub0_open(&s->sock);
        if (!rv)
            rv = nng_pipe_notify(s->sock, NNG_PIPE_EV_ADD_POST, fanout_nng_pipe_added, g);
        if (!rv)
            rv = nng_socket_set(s->sock, NNG_OPT_SUB_SUBSCRIBE, "", 0);
        /* Once groved stops, 10,000 dialers retrying at nng's default
         * pace would keep the closes below waiting on nng's locks. */
        if (!rv)
            rv = nng_socket_set_ms(s->sock, NNG_OPT_RECONNMINT, 10000);
        if (!rv)
            rv = nng_socket_set_ms(s->sock, NNG_OPT_RECONNMAXT, 10000);
        if (!rv)
            rv = nng_aio_alloc(&s->aio, fanout_nng_received, s);
        if (!rv)
            rv = nng_dial(s->sock, addr, NULL, NNG_FLAG_NONBLOCK);
        g->count = i + 1;
        if (rv) {
            fprintf(stderr, "subscriber %ld: %s\n", i, nng_strerror(rv));
            bench_fanout_nng_close(g);
            return false;
        }
        nng_recv_aio(s->sock, s->aio);
    }
    *out = g;
    return true;
}

void bench_fanout_nng_poll(struct fanout_nng *g, int q, struct fanout *fo, int timeout_ms,
                           long *open)
{
    if (fo)
        atomic_store(&g->fo, fo);
    struct timespec wait = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
    nanosleep(&wait, NULL);
    /* The subscribers that connected since, reported once, by queue 0. */
    if (q == 0) {
        long now = atomic_load(&g->connected);
        *open += now - g->reported;
        g->reported = now;
    }
}

void bench_fanout_nng_close(struct fanout_nng *g)
{
    atomic_store(&g->closing, true);
    for (long i = 0; i < g->count; i++)
        if (g->subs[i].aio)
            nng_aio_stop(g->subs[i].aio); /* waits for its callback */
    for (long i = 0; i < g->count; i++) {
        nng_close(g->subs[i].sock);
        if (g->subs[i].aio)
            nng_aio_free(g->subs[i].aio);
    }
    for (int q = 0; q < g->queues; q++)
        pthread_mutex_destroy(&g->locks[q]);
    free(g->subs);
    free(g);
}

#endif
