/* The HTTP listener's stream pump (docs/design.md "Serving streams"): a few
 * threads that deliver each commit to the SSE connections parked with
 * nothing to send. A stream's content reader (http_sse_server.c) polls its
 * source; when nothing is ready it parks here and suspends its connection,
 * so no thread waits for it. The pump waits for commits on the store (one
 * waiter for every stream); on each, its threads take the parked streams in
 * batches and call each one's deliver, which polls the source (one read per
 * distinct subscription, server_stream.c) and writes the events to the
 * connection's socket itself. A stream whose socket took them all stays
 * parked and suspended: libmicrohttpd does no work for it. One that deliver
 * hands back (its socket took only part, it is behind, it failed) is
 * resumed, and libmicrohttpd calls its reader again, which sends the rest at
 * the socket's pace. Streams whose keep-alive is due are delivered the same
 * way, and every stream is resumed when the listener stops.
 *
 * A connection is on the list, on the chain being delivered, or in a batch
 * a thread holds only while it is suspended, so no thread delivers to or
 * resumes a stream that is running or freed. A reader suspends its
 * connection under the pump's lock, and a batch goes back to the list under
 * it. A commit between a poll and its park is caught by the commit count
 * taken before polling: the reader's, or the batch's. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "grove/sys/error.h"
#include "http_internal.h"

/* How often parked streams' keep-alive deadlines are looked at, and how long
 * a stop waits for the pump thread at most. */
#define HTTP_PUMP_TICK_MS 100
/* Streams a thread takes off the chain at a time. */
#define HTTP_PUMP_BATCH 32
/* Delivery threads at most (one per core up to this): a commit's sends to
 * thousands of sockets are the listener's largest burst of work. */
#define HTTP_PUMP_THREADS_MAX 4

struct grove_http_pump {
    struct grove_store *store;
    pthread_mutex_t lock;
    pthread_t threads[HTTP_PUMP_THREADS_MAX]; /* [0] waits for commits, the rest help */
    unsigned thread_count;
    bool stopping;
    /* Commits seen, counted under the lock: a stream parks only if none came
     * since its poll. */
    atomic_uint_fast64_t commits;
    struct grove_http_parked parked; /* sentinel of a circular list, oldest first */
    size_t parked_count;
    /* No parked stream's keep-alive is due before this (INT64_MAX: none is
     * parked): a tick walks the list only when one may be due. */
    int64_t next_due_ms;
    /* Taken off the list, still suspended, to be delivered (or, once
     * stopping, resumed) by every pump thread. */
    struct grove_http_parked *chain;
    pthread_cond_t work; /* the chain has streams, or stopping */
};

static int64_t http_pump_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void http_pump_unlink(struct grove_http_pump *p, struct grove_http_parked *e)
{
    e->prev->next = e->next;
    e->next->prev = e->prev;
    e->next = e->prev = NULL;
    p->parked_count--;
}

/* Appends a suspended stream to the list. Under the lock. */
static void http_pump_link(struct grove_http_pump *p, struct grove_http_parked *e)
{
    if (e->due_ms < p->next_due_ms)
        p->next_due_ms = e->due_ms;
    e->prev = p->parked.prev;
    e->next = &p->parked;
    p->parked.prev->next = e;
    p->parked.prev = e;
    p->parked_count++;
}

/* Puts the singly linked streams from first to *last_next at the front of
 * the chain and wakes the helpers. Under the lock. */
static void http_pump_chain(struct grove_http_pump *p, struct grove_http_parked *first,
                            struct grove_http_parked **last_next)
{
    if (!first)
        return;
    *last_next = p->chain;
    p->chain = first;
    pthread_cond_broadcast(&p->work);
}

/* Moves the parked streams (all of them, or those due by now) from the
 * list to the chain, oldest first. Under the lock. All of them (every
 * commit) is a splice, not a walk: the chain only follows `next`, and every
 * stream's `prev` is cleared as it is taken. */
static void http_pump_take(struct grove_http_pump *p, bool all, int64_t now)
{
    if (all && p->parked_count) {
        struct grove_http_parked *first = p->parked.next, *last = p->parked.prev;
        p->parked.next = p->parked.prev = &p->parked;
        p->parked_count = 0;
        p->next_due_ms = INT64_MAX;
        http_pump_chain(p, first, &last->next);
    } else if (!all && now >= p->next_due_ms) {
        struct grove_http_parked *due = NULL, **tail = &due;
        p->next_due_ms = INT64_MAX;
        for (struct grove_http_parked *e = p->parked.next, *next; e != &p->parked; e = next) {
            next = e->next;
            if (e->due_ms <= now) {
                http_pump_unlink(p, e);
                *tail = e;
                tail = &e->next;
            } else if (e->due_ms < p->next_due_ms) {
                p->next_due_ms = e->due_ms;
            }
        }
        http_pump_chain(p, due, tail);
    }
}

/* Delivers (or, once stopping, resumes) up to HTTP_PUMP_BATCH streams of
 * the chain, outside the lock; false when it was empty. Every stream on the
 * chain is suspended, so none is freed under us. Those deliver keeps go
 * back to the list, or to the chain when a commit came since the batch was
 * taken (their polls may have missed it); the others are resumed and left
 * alone from then on. */
static bool http_pump_deliver_some(struct grove_http_pump *p, struct grove_buf *scratch)
{
    pthread_mutex_lock(&p->lock);
    struct grove_http_parked *batch = p->chain, *last = NULL;
    for (size_t n = 0; p->chain && n < HTTP_PUMP_BATCH; n++) {
        last = p->chain;
        p->chain = last->next;
    }
    if (last)
        last->next = NULL;
    bool stopping = p->stopping;
    uint64_t commits = atomic_load(&p->commits);
    pthread_mutex_unlock(&p->lock);
    if (!last)
        return false;

    struct grove_http_parked *kept = NULL, **kept_tail = &kept;
    while (batch) {
        struct grove_http_parked *e = batch;
        batch = e->next;
        e->next = e->prev = NULL;
        if (!stopping && e->deliver(e, scratch)) {
            *kept_tail = e;
            kept_tail = &e->next;
        } else {
            MHD_resume_connection(e->conn);
        }
    }

    pthread_mutex_lock(&p->lock);
    struct grove_http_parked *resume = NULL;
    if (p->stopping) {
        resume = kept;
    } else if (atomic_load(&p->commits) != commits) {
        http_pump_chain(p, kept, kept_tail);
    } else {
        for (struct grove_http_parked *e = kept, *next; e; e = next) {
            next = e->next;
            http_pump_link(p, e);
        }
    }
    pthread_mutex_unlock(&p->lock);
    for (struct grove_http_parked *e = resume, *next; e; e = next) {
        next = e->next;
        e->next = NULL;
        MHD_resume_connection(e->conn);
    }
    return true;
}

/* The first thread: waits for commits and keep-alive deadlines, puts the
 * streams they concern on the chain, and delivers with the others. */
static void *http_pump_main(void *arg)
{
    struct grove_http_pump *p = arg;
    struct grove_buf scratch = {0};
    struct grove_commit_wait commits;
    grove_commit_wait_init(&commits, p->store);
    pthread_mutex_lock(&p->lock);
    while (!p->stopping) {
        pthread_mutex_unlock(&p->lock);
        grove_err err = grove_commit_wait_next(&commits, HTTP_PUMP_TICK_MS);
        pthread_mutex_lock(&p->lock);
        /* A commit, or the server shutting down (the streams end when they
         * poll): everyone looks. */
        bool all = err != GROVE_ETIMEOUT;
        if (all)
            atomic_fetch_add(&p->commits, 1);
        http_pump_take(p, all, http_pump_now_ms());
        pthread_mutex_unlock(&p->lock);
        while (http_pump_deliver_some(p, &scratch))
            ;
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    grove_buf_free(&scratch);
    return NULL;
}

static void *http_pump_helper(void *arg)
{
    struct grove_http_pump *p = arg;
    struct grove_buf scratch = {0};
    pthread_mutex_lock(&p->lock);
    while (!p->stopping) {
        if (!p->chain) {
            pthread_cond_wait(&p->work, &p->lock);
            continue;
        }
        pthread_mutex_unlock(&p->lock);
        while (http_pump_deliver_some(p, &scratch))
            ;
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    grove_buf_free(&scratch);
    return NULL;
}

grove_err grove_http_pump_start(struct grove_http_pump **out, struct grove_store *store)
{
    struct grove_http_pump *p = calloc(1, sizeof *p);
    if (!p)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    p->store = store;
    p->parked.next = p->parked.prev = &p->parked;
    p->next_due_ms = INT64_MAX;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->work, NULL);
    unsigned want = grove_http_threads_per_core(HTTP_PUMP_THREADS_MAX);
    while (p->thread_count < want &&
           pthread_create(&p->threads[p->thread_count], NULL,
                          p->thread_count ? http_pump_helper : http_pump_main, p) == 0)
        p->thread_count++;
    if (p->thread_count == 0) {
        pthread_cond_destroy(&p->work);
        pthread_mutex_destroy(&p->lock);
        free(p);
        return grove_error_set(GROVE_ENOMEM, "cannot start the HTTP stream thread");
    }
    *out = p;
    return GROVE_OK;
}

uint64_t grove_http_pump_commits(struct grove_http_pump *p)
{
    return atomic_load(&p->commits);
}

bool grove_http_pump_park(struct grove_http_pump *p, struct grove_http_parked *e, uint64_t commits,
                          int64_t due_ms)
{
    pthread_mutex_lock(&p->lock);
    bool park = !p->stopping && atomic_load(&p->commits) == commits;
    if (park) {
        MHD_suspend_connection(e->conn);
        e->due_ms = due_ms;
        http_pump_link(p, e);
    }
    pthread_mutex_unlock(&p->lock);
    return park;
}

void grove_http_pump_forget(struct grove_http_pump *p, struct grove_http_parked *e)
{
    pthread_mutex_lock(&p->lock);
    if (e->next)
        http_pump_unlink(p, e);
    pthread_mutex_unlock(&p->lock);
}

void grove_http_pump_stop(struct grove_http_pump *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    unsigned running = p->stopping ? 0 : p->thread_count;
    p->stopping = true;
    http_pump_take(p, true, 0);
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->lock);
    for (unsigned i = 0; i < running; i++)
        pthread_join(p->threads[i], NULL);
    /* libmicrohttpd must find no connection suspended: what the threads
     * left on the chain is resumed here (no stream parks any more). */
    while (http_pump_deliver_some(p, NULL))
        ;
}

void grove_http_pump_free(struct grove_http_pump *p)
{
    if (!p)
        return;
    grove_http_pump_stop(p);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
