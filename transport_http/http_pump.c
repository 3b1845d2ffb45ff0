/* The HTTP listener's stream pump (docs/design.md "Serving streams"): one
 * thread that resumes the SSE connections parked with nothing to send. A
 * stream's content reader (http_sse_server.c) polls its source; when nothing
 * is ready it parks here and suspends its connection, so no thread waits for
 * it. The pump waits for commits on the store (one waiter for every stream)
 * and, on each, resumes every parked connection; MHD then calls their readers
 * again, which poll (one read per distinct subscription, server_stream.c).
 * It also resumes a stream whose keep-alive comment is due, and every stream
 * when the listener stops.
 *
 * A reader suspends its connection while it holds the pump's lock, and the
 * pump takes connections off the list under the same lock before they are
 * resumed: a connection is on the list, or on the chain being resumed, only
 * while it is suspended, so a resume is never lost nor aimed at a connection
 * that is running or freed. The readers that run while a chain is being
 * resumed take their share of it. A commit between a reader's poll and its park is
 * caught by the commit count the reader took before polling. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "grove/sys/error.h"
#include "http_internal.h"

/* How often parked streams' keep-alive deadlines are looked at, and how long
 * a stop waits for the pump thread at most. */
#define HTTP_PUMP_TICK_MS 100
/* Streams resumed at a time, by the pump or by a reader helping it. */
#define HTTP_PUMP_HELP 32

struct grove_http_pump {
    struct grove_store *store;
    pthread_mutex_t lock;
    pthread_t thread;
    bool stopping;
    /* Commits seen, counted under the lock: a reader parks only if none came
     * since its poll. */
    atomic_uint_fast64_t commits;
    struct grove_http_parked parked; /* sentinel of a circular list, oldest first */
    size_t parked_count;
    /* No parked stream's keep-alive is due before this (INT64_MAX: none is
     * parked): a tick walks the list only when one may be due. */
    int64_t next_due_ms;
    /* Taken off the list, still suspended, to be resumed: by the pump, and
     * by every reader that runs meanwhile (grove_http_pump_help), so a
     * commit's resumes go out on every pool thread, not on one. */
    struct grove_http_parked *resuming;
    atomic_bool has_resuming;
    /* Batches taken off the chain and not yet all resumed: a stop waits for
     * them too, since libmicrohttpd must find no connection suspended. */
    unsigned in_flight;
    pthread_cond_t resumed;
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

/* Moves the parked streams (all of them, or those due by now) from the
 * list to the front of the chain to be resumed, oldest first. Under the
 * lock. All of them (every commit) is a splice, not a walk: the chain only
 * follows `next`, and every stream's `prev` is cleared as it is resumed. */
static void http_pump_take(struct grove_http_pump *p, bool all, int64_t now)
{
    if (all && p->parked_count) {
        p->parked.prev->next = p->resuming;
        p->resuming = p->parked.next;
        p->parked.next = p->parked.prev = &p->parked;
        p->parked_count = 0;
        p->next_due_ms = INT64_MAX;
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
        *tail = p->resuming;
        p->resuming = due;
    }
    atomic_store(&p->has_resuming, p->resuming != NULL);
}

/* Resumes up to `max` streams of the chain, outside the lock; false when
 * it was empty. Every stream on the chain is suspended, so none is freed
 * under us; each is left alone from its resume on (it may park again, or
 * end, at once). */
static bool http_pump_resume_some(struct grove_http_pump *p, size_t max)
{
    pthread_mutex_lock(&p->lock);
    struct grove_http_parked *batch = p->resuming, *last = NULL;
    for (size_t n = 0; p->resuming && n < max; n++) {
        last = p->resuming;
        p->resuming = last->next;
    }
    if (last) {
        last->next = NULL;
        p->in_flight++;
    }
    atomic_store(&p->has_resuming, p->resuming != NULL);
    pthread_mutex_unlock(&p->lock);
    if (!last)
        return false;
    while (batch) {
        struct grove_http_parked *e = batch;
        struct MHD_Connection *conn = e->conn;
        batch = e->next;
        e->next = e->prev = NULL;
        MHD_resume_connection(conn);
    }
    pthread_mutex_lock(&p->lock);
    if (--p->in_flight == 0)
        pthread_cond_broadcast(&p->resumed);
    pthread_mutex_unlock(&p->lock);
    return true;
}

void grove_http_pump_help(struct grove_http_pump *p)
{
    if (atomic_load(&p->has_resuming))
        http_pump_resume_some(p, HTTP_PUMP_HELP);
}

static void *http_pump_main(void *arg)
{
    struct grove_http_pump *p = arg;
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
        while (http_pump_resume_some(p, HTTP_PUMP_HELP))
            ;
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
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
    pthread_cond_init(&p->resumed, NULL);
    if (pthread_create(&p->thread, NULL, http_pump_main, p) != 0) {
        pthread_cond_destroy(&p->resumed);
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
        if (due_ms < p->next_due_ms)
            p->next_due_ms = due_ms;
        e->prev = p->parked.prev;
        e->next = &p->parked;
        p->parked.prev->next = e;
        p->parked.prev = e;
        p->parked_count++;
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
    bool running = !p->stopping;
    p->stopping = true;
    http_pump_take(p, true, 0);
    pthread_mutex_unlock(&p->lock);
    while (http_pump_resume_some(p, HTTP_PUMP_HELP))
        ;
    if (running)
        pthread_join(p->thread, NULL);
    /* Readers helping may still hold a batch: it is resumed before we go. */
    pthread_mutex_lock(&p->lock);
    while (p->in_flight > 0 || p->resuming) {
        pthread_mutex_unlock(&p->lock);
        while (http_pump_resume_some(p, HTTP_PUMP_HELP))
            ;
        pthread_mutex_lock(&p->lock);
        if (p->in_flight > 0)
            pthread_cond_wait(&p->resumed, &p->lock);
    }
    pthread_mutex_unlock(&p->lock);
}

void grove_http_pump_free(struct grove_http_pump *p)
{
    if (!p)
        return;
    grove_http_pump_stop(p);
    pthread_cond_destroy(&p->resumed);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
