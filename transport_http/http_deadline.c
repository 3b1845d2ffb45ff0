/* Request deadlines for the HTTP listener. libmicrohttpd times out only a
 * connection that is idle: a client that trickles its request (a header byte
 * every few seconds) is never idle and keeps its connection, and the thread
 * serving it, for as long as it likes; a thousand such clients lock everyone
 * out. So every connection is on a list here with the moment its current
 * request began, and a reaper shuts down the socket of a connection whose
 * request head has not arrived within the head deadline, or whose body has
 * not within the body deadline. An open stream is exempt. */
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "http_internal.h"
#include "grove/sys/error.h"

#define HTTP_REAP_EVERY_MS 250

enum http_phase {
    PHASE_HEAD,   /* waiting for a request head (a new or a kept-alive connection) */
    PHASE_BODY,   /* head in, body arriving */
    PHASE_STREAM, /* an SSE stream: no deadline */
};

struct http_conn {
    struct http_conn *prev, *next;
    int fd;
    enum http_phase phase;
    int64_t since_ms;
    bool reaped;
};

struct grove_http_deadlines {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    bool stopping;
    int head_ms, body_ms;
    struct http_conn list; /* sentinel of a circular list */
};

static int64_t http_deadline_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *http_deadline_reaper(void *arg)
{
    struct grove_http_deadlines *d = arg;
    pthread_mutex_lock(&d->lock);
    while (!d->stopping) {
        int64_t now = http_deadline_now_ms();
        for (struct http_conn *c = d->list.next; c != &d->list; c = c->next) {
            int64_t limit = c->phase == PHASE_HEAD ? d->head_ms : d->body_ms;
            if (c->phase != PHASE_STREAM && !c->reaped && now - c->since_ms > limit) {
                /* The connection's thread sees the end of its socket and
                 * closes it; NOTIFY_CLOSED then takes it off the list, so
                 * the fd is still ours to shut down here. */
                shutdown(c->fd, SHUT_RDWR);
                c->reaped = true;
            }
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += HTTP_REAP_EVERY_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&d->wake, &d->lock, &until);
    }
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

grove_err grove_http_deadlines_start(struct grove_http_deadlines **out, int head_ms, int body_ms)
{
    struct grove_http_deadlines *d = calloc(1, sizeof *d);
    if (!d)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->wake, NULL);
    d->list.next = d->list.prev = &d->list;
    d->head_ms = head_ms;
    d->body_ms = body_ms;
    if (pthread_create(&d->thread, NULL, http_deadline_reaper, d) != 0) {
        pthread_cond_destroy(&d->wake);
        pthread_mutex_destroy(&d->lock);
        free(d);
        return grove_error_set(GROVE_ENOMEM, "cannot start the request deadline thread");
    }
    *out = d;
    return GROVE_OK;
}

void grove_http_deadlines_stop(struct grove_http_deadlines *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->lock);
    d->stopping = true;
    pthread_cond_signal(&d->wake);
    pthread_mutex_unlock(&d->lock);
    pthread_join(d->thread, NULL);
    /* MHD has closed every connection by now: the list is empty. */
    pthread_cond_destroy(&d->wake);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

void grove_http_deadlines_on_connection(void *cls, struct MHD_Connection *conn,
                                        void **socket_context,
                                        enum MHD_ConnectionNotificationCode code)
{
    struct grove_http_deadlines *d = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct http_conn *c = info ? calloc(1, sizeof *c) : NULL;
        if (!c)
            return; /* no deadline for this one; MHD's idle timeout still holds */
        c->fd = info->connect_fd;
        c->since_ms = http_deadline_now_ms();
        pthread_mutex_lock(&d->lock);
        c->next = d->list.next;
        c->prev = &d->list;
        d->list.next->prev = c;
        d->list.next = c;
        pthread_mutex_unlock(&d->lock);
        *socket_context = c;
        return;
    }
    struct http_conn *c = *socket_context;
    if (!c)
        return;
    pthread_mutex_lock(&d->lock);
    c->prev->next = c->next;
    c->next->prev = c->prev;
    pthread_mutex_unlock(&d->lock);
    free(c);
    *socket_context = NULL;
}

/* Starts the connection's current phase now. */
static void http_deadline_phase(struct grove_http_deadlines *d, struct MHD_Connection *conn,
                                enum http_phase phase)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct http_conn *c = info ? info->socket_context : NULL;
    if (!c)
        return;
    pthread_mutex_lock(&d->lock);
    c->phase = phase;
    c->since_ms = http_deadline_now_ms();
    pthread_mutex_unlock(&d->lock);
}

void grove_http_deadlines_enter(struct grove_http_deadlines *d, struct MHD_Connection *conn,
                                bool stream)
{
    http_deadline_phase(d, conn, stream ? PHASE_STREAM : PHASE_BODY);
}

void grove_http_deadlines_leave(struct grove_http_deadlines *d, struct MHD_Connection *conn)
{
    http_deadline_phase(d, conn, PHASE_HEAD); /* a kept-alive connection waits for its next head */
}
