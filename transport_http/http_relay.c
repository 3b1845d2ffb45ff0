/* The relay: the connections libmicrohttpd must not read from directly.
 *
 * libmicrohttpd answers a request it cannot parse with an HTML page of its
 * own and offers no hook to replace it. Admission (http_admit.c) checks a
 * connection's first head before libmicrohttpd sees it; the relay checks
 * every later one, and the framing of chunked bodies, and terminates TLS
 * (libmicrohttpd's own TLS would leave nothing to check). Each relayed
 * connection is joined to libmicrohttpd by a socketpair (MHD_add_connection
 * with the client's address), and one of the relay's threads (a lane per
 * core, at most 4; a connection stays on the lane it was given) moves the
 * bytes both ways. libmicrohttpd only ever reads what was checked
 * (http_framing.c): each head whole and as sent, a body of Content-Length
 * bytes as it comes, a chunked body re-framed in plain chunks (extensions
 * and trailers dropped).
 *
 * A request the relay refuses is answered by the listener, in order after
 * the requests before it, with {"error":"..."} and a close: in place of a bad
 * head the relay sends a request of its own, a bad chunked body ends in a
 * last chunk, each carrying an X-Grove-Refusal header (grove_http_relay_refusal)
 * with the listener's secret token, the status and the message. Nothing
 * after the refused request is passed on.
 *
 * Deadlines and idle timeouts are libmicrohttpd's (http_deadline.c): when it
 * closes its end, the relay sends the client what is left and closes too. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifdef GROVE_HTTP_GNUTLS
#include <gnutls/gnutls.h>
#endif

#include "grove/sys/error.h"
#include "http_internal.h"

/* Bytes held each way per connection before reading from that side stops.
 * libmicrohttpd's end of a pair wakes for writing only once its queue is
 * down to a quarter (AF_UNIX): a relay that takes little at a time keeps it
 * waiting, and 64 KiB halved the sync benchmark's throughput. What the
 * client takes at once is never held. */
#define RELAY_BUF_MAX ((size_t)1 << 20)
/* After the answer, what the client still sends is read and dropped for this
 * long (or this much) before the close, so the close does not reset the
 * connection before the client has read the answer. */
#define RELAY_DRAIN_MS    1000
#define RELAY_DRAIN_BYTES ((size_t)1 << 20)
#define RELAY_TICK_MS     250
/* Lanes at most. One thread would carry every relayed byte and do all the
 * TLS work of the listener on one core, whatever the machine has. */
#define RELAY_LANES_MAX 4

struct relay_lane;

struct relay_conn {
    struct relay_lane *lane;
    struct relay_conn *prev, *next; /* the lane's list */
    struct relay_conn *next_new;    /* added, not yet taken in by the lane */
    int client, mhd;                /* the client's socket; our end of the pair */
    int mhd_end;                    /* libmicrohttpd's end: its number keys the cert names */
#ifdef GROVE_HTTP_GNUTLS
    gnutls_session_t tls; /* NULL: plain HTTP */
    size_t tls_sending;   /* a record GnuTLS has not finished sending: its size */
#endif
    bool handshaken;
    bool tls_wants_write;
    struct grove_http_framing framing; /* what the client sent, not yet passed on */
    bool refusal_sent;
    struct grove_buf to_mhd, to_client;
    size_t to_mhd_off, to_client_off;
    bool client_eof, mhd_eof, mhd_shut;
    bool closing; /* the answer is out: draining the client before the close */
    int64_t closing_ms;
    size_t drained;
    uint32_t client_events, mhd_events; /* what epoll watches for */
};

struct cert_entry {
    const struct relay_conn *owner;
    struct grove_cert_names names;
};

/* A thread and the connections it moves. */
struct relay_lane {
    struct grove_http_relay *relay;
    int epfd, wake; /* wake: an eventfd, for new connections and the stop */
    pthread_t thread;
    bool running;
    struct relay_conn *new_conns; /* under the relay's lock */
    struct relay_conn list;       /* the thread's: a circular list's sentinel */
    char *scratch;                /* the thread's: RELAY_BUF_MAX bytes read from libmicrohttpd */
};

struct grove_http_relay {
    struct MHD_Daemon *daemon;
    struct relay_lane lanes[RELAY_LANES_MAX];
    unsigned lane_count;
    atomic_uint next_lane; /* round robin over the lanes */
    char token[33];        /* hex: proves an X-Grove-Refusal header is ours */
    pthread_mutex_t lock;  /* the lanes' new_conns, stopping, certs */
    bool stopping;
    struct cert_entry **certs; /* by libmicrohttpd's end of the pair */
    size_t certs_cap;
#ifdef GROVE_HTTP_GNUTLS
    gnutls_certificate_credentials_t cred; /* NULL: plain HTTP */
    bool verify;                           /* a CA was given: client certificates are asked for */
#endif
};

static int64_t relay_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t relay_pending(const struct grove_buf *b, size_t off)
{
    return b->len - off;
}

/* ---- the client certificate's names, for http_auth.c ------------------------ */

static void relay_certs_set(struct grove_http_relay *r, const struct relay_conn *c,
                            const struct grove_cert_names *names)
{
    size_t fd = (size_t)c->mhd_end;
    pthread_mutex_lock(&r->lock);
    if (fd >= r->certs_cap) {
        size_t cap = r->certs_cap ? r->certs_cap : 64;
        while (cap <= fd)
            cap *= 2;
        struct cert_entry **grown = realloc(r->certs, cap * sizeof *grown);
        if (grown) {
            memset(grown + r->certs_cap, 0, (cap - r->certs_cap) * sizeof *grown);
            r->certs = grown;
            r->certs_cap = cap;
        }
    }
    struct cert_entry *e = fd < r->certs_cap ? r->certs[fd] : NULL;
    if (fd < r->certs_cap && !e)
        e = r->certs[fd] = malloc(sizeof *e);
    if (e) {
        e->owner = c;
        e->names = *names;
    }
    pthread_mutex_unlock(&r->lock);
}

/* libmicrohttpd may close its end, and the number be reused for another
 * pair, before this connection ends: only its own entry is cleared. */
static void relay_certs_clear(struct grove_http_relay *r, const struct relay_conn *c)
{
    size_t fd = (size_t)c->mhd_end;
    pthread_mutex_lock(&r->lock);
    if (fd < r->certs_cap && r->certs[fd] && r->certs[fd]->owner == c) {
        free(r->certs[fd]);
        r->certs[fd] = NULL;
    }
    pthread_mutex_unlock(&r->lock);
}

void grove_http_relay_cert_names(struct grove_http_relay *r, int mhd_fd,
                                 struct grove_cert_names *out)
{
    out->count = 0;
    if (!r || mhd_fd < 0)
        return;
    pthread_mutex_lock(&r->lock);
    if ((size_t)mhd_fd < r->certs_cap && r->certs[mhd_fd])
        *out = r->certs[mhd_fd]->names;
    pthread_mutex_unlock(&r->lock);
}

#ifdef GROVE_HTTP_GNUTLS
/* The names of the client certificate, when it verifies against the CA
 * (core/cert_names.c makes them, as for every transport). */
static void relay_tls_names(struct grove_http_relay *r, struct relay_conn *c)
{
    struct grove_cert_names names = {.count = 0};
    unsigned status = 0, count = 0;
    if (r->verify && gnutls_certificate_verify_peers2(c->tls, &status) == GNUTLS_E_SUCCESS &&
        status == 0) {
        const gnutls_datum_t *peers = gnutls_certificate_get_peers(c->tls, &count);
        if (peers && count > 0 && grove_cert_names_der(&names, peers[0].data, peers[0].size))
            names.count = 0;
    }
    relay_certs_set(r, c, &names);
}
#endif

/* ---- refusals --------------------------------------------------------------- */

#define REFUSAL_HEADER "X-Grove-Refusal"

bool grove_http_relay_refusal(const struct grove_http_relay *r, const char *value, int *status,
                              const char **message)
{
    if (!r || !value)
        return false;
    /* Compared in full whatever differs: the token is the listener's secret. */
    unsigned diff = strlen(value) < sizeof r->token ? 1u : 0u;
    for (size_t i = 0; !diff && i < sizeof r->token - 1; i++)
        diff |= (unsigned)(value[i] ^ r->token[i]);
    if (diff || value[sizeof r->token - 1] != ' ')
        return false;
    char *end = NULL;
    long code = strtol(value + sizeof r->token, &end, 10);
    if (code < 400 || code > 599 || *end != ' ')
        return false;
    *status = (int)code;
    *message = end + 1;
    return true;
}

/* Ends what was passed on with a refusal the listener answers in order: a
 * request of its own in place of a bad head, a last chunk with the refusal
 * as its trailer for a bad chunked body. */
static void relay_refuse(struct grove_http_relay *r, struct relay_conn *c)
{
    const struct grove_http_framing *f = &c->framing;
    char text[512];
    int n = f->refused_in_body
                ? snprintf(text, sizeof text, "0\r\n" REFUSAL_HEADER ": %s %d %s\r\n\r\n", r->token,
                           f->refused, f->message)
                : snprintf(text, sizeof text,
                           "GET / HTTP/1.1\r\nHost: groved\r\nConnection: close\r\n" REFUSAL_HEADER
                           ": %s %d %s\r\n\r\n",
                           r->token, f->refused, f->message);
    if (n < 0 || (size_t)n >= sizeof text || grove_buf_append(&c->to_mhd, text, (size_t)n))
        c->mhd_eof = true; /* no answer but the close */
    c->refusal_sent = true;
}

/* ---- moving bytes ----------------------------------------------------------- */

/* Reads from the client into buf: >0 bytes, 0 at its end, -1 nothing now,
 * -2 a failure. */
static ssize_t relay_client_read(struct relay_conn *c, char *buf, size_t cap)
{
#ifdef GROVE_HTTP_GNUTLS
    if (c->tls) {
        c->tls_wants_write = false;
        ssize_t n = gnutls_record_recv(c->tls, buf, cap);
        if (n >= 0)
            return n;
        if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) {
            c->tls_wants_write = gnutls_record_get_direction(c->tls) == 1;
            return -1;
        }
        return n == GNUTLS_E_PREMATURE_TERMINATION ? 0 : -2;
    }
#endif
    ssize_t n = recv(c->client, buf, cap, MSG_DONTWAIT);
    if (n >= 0)
        return n;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -1 : -2;
}

/* Writes to the client from data (the front of to_client, or what was just
 * read when nothing is held): >0 bytes, -1 nothing now, -2 a failure. */
static ssize_t relay_client_write(struct relay_conn *c, const char *data, size_t n)
{
#ifdef GROVE_HTTP_GNUTLS
    if (c->tls) {
        /* A record GnuTLS could not finish is offered again as it was. */
        size_t len = c->tls_sending ? c->tls_sending : n < 16384 ? n : 16384;
        ssize_t sent = gnutls_record_send(c->tls, data, len);
        if (sent > 0) {
            c->tls_sending = 0;
            return sent;
        }
        if (sent == GNUTLS_E_AGAIN || sent == GNUTLS_E_INTERRUPTED) {
            c->tls_sending = len;
            return -1;
        }
        return -2;
    }
#endif
    ssize_t sent = send(c->client, data, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent >= 0)
        return sent;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -1 : -2;
}

static void relay_buf_taken(struct grove_buf *b, size_t *off, size_t n)
{
    *off += n;
    if (*off == b->len) {
        *off = b->len = 0;
        grove_buf_free(b); /* an idle connection holds none */
    }
}

/* One pass over what can move; false when the connection is done with. */
static bool relay_step(struct grove_http_relay *r, struct relay_conn *c, bool *progress)
{
    *progress = false;
#ifdef GROVE_HTTP_GNUTLS
    if (c->tls && !c->handshaken) {
        int ret = gnutls_handshake(c->tls);
        if (ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED) {
            c->tls_wants_write = gnutls_record_get_direction(c->tls) == 1;
            /* libmicrohttpd's deadline for the first head covers the
             * handshake: its end of the pair closed ends this too. */
            char probe;
            ssize_t n = recv(c->mhd, &probe, 1, MSG_PEEK | MSG_DONTWAIT);
            return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
        }
        if (ret < 0)
            return false; /* not TLS, or it failed: nothing to answer in */
        c->handshaken = true;
        c->tls_wants_write = false;
        relay_tls_names(r, c);
        *progress = true;
    }
#endif
    /* From the client. */
    struct grove_http_framing *f = &c->framing;
    if (!c->client_eof) {
        bool dropping = c->closing || f->refused;
        char sink[4096];
        size_t room = sizeof sink;
        char *into = dropping ? sink : grove_http_framing_space(f, &room);
        if (!into)
            return false;
        if (!dropping && relay_pending(&c->to_mhd, c->to_mhd_off) >= RELAY_BUF_MAX)
            room = 0;
        if (room > 0) {
            ssize_t n = relay_client_read(c, into, room);
            if (n == -2)
                return false;
            if (n == 0)
                c->client_eof = true;
            if (n >= 0)
                *progress = true;
            if (n > 0 && dropping && (c->drained += (size_t)n) > RELAY_DRAIN_BYTES)
                return false;
            if (n > 0 && !dropping)
                f->in_len += (size_t)n;
        }
    }
    if (c->closing)
        return !c->client_eof;
    if (grove_http_framing_run(f, &c->to_mhd, c->to_mhd_off + RELAY_BUF_MAX))
        return false;
    if (f->refused && !c->refusal_sent)
        relay_refuse(r, c);
    /* To libmicrohttpd. */
    size_t out = relay_pending(&c->to_mhd, c->to_mhd_off);
    if (out > 0 && !c->mhd_eof) {
        ssize_t n = send(c->mhd, c->to_mhd.data + c->to_mhd_off, out, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            relay_buf_taken(&c->to_mhd, &c->to_mhd_off, (size_t)n);
            *progress = true;
        } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            c->mhd_eof = true; /* it closed: what it answered is still read */
        }
    }
    /* The client's end, passed on once what it sent is (libmicrohttpd reads
     * a half-closed connection as it would the client's own). */
    if (c->client_eof && !c->mhd_shut && relay_pending(&c->to_mhd, c->to_mhd_off) == 0) {
        shutdown(c->mhd, SHUT_WR);
        c->mhd_shut = true;
    }
    /* From libmicrohttpd: what the client takes at once goes from the
     * thread's scratch buffer; only the rest is held. */
    size_t held = relay_pending(&c->to_client, c->to_client_off);
    if (!c->mhd_eof && held < RELAY_BUF_MAX) {
        char *scratch = c->lane->scratch;
        ssize_t n = recv(c->mhd, scratch, RELAY_BUF_MAX - held, MSG_DONTWAIT);
        if (n > 0) {
            size_t sent = 0;
            while (held == 0 && sent < (size_t)n) {
                ssize_t w = relay_client_write(c, scratch + sent, (size_t)n - sent);
                if (w == -2)
                    return false;
                if (w < 0)
                    break;
                sent += (size_t)w;
            }
            if (sent < (size_t)n &&
                grove_buf_append(&c->to_client, scratch + sent, (size_t)n - sent))
                return false;
            *progress = true;
        } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            c->mhd_eof = true;
            *progress = true;
        }
    }
    /* To the client. */
    if (relay_pending(&c->to_client, c->to_client_off) > 0) {
        ssize_t n = relay_client_write(c, c->to_client.data + c->to_client_off,
                                       relay_pending(&c->to_client, c->to_client_off));
        if (n == -2)
            return false;
        if (n > 0) {
            relay_buf_taken(&c->to_client, &c->to_client_off, (size_t)n);
            *progress = true;
        }
    }
    /* libmicrohttpd is done and the client has all it said: close after a
     * drain (or at once when the client has gone too). */
    if (c->mhd_eof && relay_pending(&c->to_client, c->to_client_off) == 0) {
        if (c->client_eof)
            return false;
#ifdef GROVE_HTTP_GNUTLS
        if (c->tls)
            gnutls_bye(c->tls, GNUTLS_SHUT_WR); /* one try: the close follows anyway */
#endif
        shutdown(c->client, SHUT_WR);
        c->closing = true;
        c->closing_ms = relay_now_ms();
        *progress = true;
    }
    return true;
}

/* ---- the thread ------------------------------------------------------------- */

static void relay_conn_free(struct grove_http_relay *r, struct relay_conn *c)
{
    if (c->prev) {
        c->prev->next = c->next;
        c->next->prev = c->prev;
    }
    relay_certs_clear(r, c);
    if (c->client >= 0)
        close(c->client);
    close(c->mhd);
#ifdef GROVE_HTTP_GNUTLS
    if (c->tls)
        gnutls_deinit(c->tls);
#endif
    grove_http_framing_free(&c->framing);
    grove_buf_free(&c->to_mhd);
    grove_buf_free(&c->to_client);
    free(c);
}

/* epoll's data: the connection, its low bit telling libmicrohttpd's side.
 * A side with nothing to wait for is taken out: a closed peer would
 * otherwise wake the thread again and again. */
static void relay_watch(struct relay_conn *c, bool mhd_side, uint32_t want)
{
    int fd = mhd_side ? c->mhd : c->client;
    uint32_t *now = mhd_side ? &c->mhd_events : &c->client_events;
    if (want == *now)
        return;
    struct epoll_event ev = {.events = want, .data.ptr = (char *)c + mhd_side};
    int op = !want ? EPOLL_CTL_DEL : *now ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    epoll_ctl(c->lane->epfd, op, fd, &ev);
    *now = want;
}

/* Runs c until nothing moves; then watches for what would move it next. */
static void relay_service(struct grove_http_relay *r, struct relay_conn *c)
{
    bool progress = true;
    while (progress)
        if (!relay_step(r, c, &progress)) {
            relay_conn_free(r, c);
            return;
        }
    bool reading = !c->client_eof && (c->closing || c->framing.refused ||
                                      relay_pending(&c->to_mhd, c->to_mhd_off) < RELAY_BUF_MAX);
    uint32_t client = reading ? EPOLLIN : 0;
    if (relay_pending(&c->to_client, c->to_client_off) > 0 || c->tls_wants_write)
        client |= EPOLLOUT;
    uint32_t mhd = 0;
    if (!c->closing && !c->mhd_eof) {
        if (relay_pending(&c->to_client, c->to_client_off) < RELAY_BUF_MAX)
            mhd |= EPOLLIN;
        if (relay_pending(&c->to_mhd, c->to_mhd_off) > 0)
            mhd |= EPOLLOUT;
    }
    relay_watch(c, false, client);
    relay_watch(c, true, mhd);
}

/* Connections added to the lane since the last look, into its list. */
static bool relay_take_new(struct relay_lane *lane)
{
    struct grove_http_relay *r = lane->relay;
    uint64_t count;
    (void)!read(lane->wake, &count, sizeof count);
    pthread_mutex_lock(&r->lock);
    struct relay_conn *c = lane->new_conns;
    lane->new_conns = NULL;
    bool stopping = r->stopping;
    pthread_mutex_unlock(&r->lock);
    while (c) {
        struct relay_conn *next = c->next_new;
        c->prev = &lane->list;
        c->next = lane->list.next;
        lane->list.next->prev = c;
        lane->list.next = c;
        relay_service(r, c);
        c = next;
    }
    return !stopping;
}

static void *relay_loop(void *arg)
{
    struct relay_lane *lane = arg;
    struct grove_http_relay *r = lane->relay;
    prctl(PR_SET_NAME, "grove-relay"); /* as top and perf show it */
    struct epoll_event events[64];
    int64_t last_tick = relay_now_ms();
    for (;;) {
        int n = epoll_wait(lane->epfd, events, 64, RELAY_TICK_MS);
        if (n < 0 && errno != EINTR)
            break;
        bool stop = false;
        /* Serviced once per wakeup even when both its sides are ready: the
         * first pass moves everything, the second finds nothing, but a
         * connection freed by the first must not be touched again. */
        for (int i = 0; i < n; i++) {
            if (!events[i].data.ptr) {
                stop = !relay_take_new(lane) || stop;
                continue;
            }
            struct relay_conn *c = (void *)((uintptr_t)events[i].data.ptr & ~(uintptr_t)1);
            for (int j = i + 1; j < n; j++)
                if (((uintptr_t)events[j].data.ptr & ~(uintptr_t)1) == (uintptr_t)c)
                    events[j].data.ptr = (void *)(uintptr_t)1; /* seen: skipped below */
            if ((uintptr_t)c != 0)
                relay_service(r, c);
        }
        if (stop)
            break;
        int64_t now = relay_now_ms();
        if (now - last_tick >= RELAY_TICK_MS) {
            last_tick = now;
            for (struct relay_conn *c = lane->list.next, *next; c != &lane->list; c = next) {
                next = c->next;
                if (c->closing && now - c->closing_ms > RELAY_DRAIN_MS)
                    relay_conn_free(r, c);
            }
        }
    }
    return NULL;
}

/* ---- start, add, stop ------------------------------------------------------- */

bool grove_http_relay_add(struct grove_http_relay *r, int fd, const struct sockaddr *addr,
                          socklen_t addr_len)
{
    struct relay_conn *c = calloc(1, sizeof *c);
    int pair[2];
    if (!c || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) < 0) {
        int why = errno;
        free(c);
        errno = why;
        return false;
    }
    /* The relay writes an answer in as many pieces as it reads: Nagle would
     * hold the last small one for the client's delayed ACK. */
    int nodelay = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, sizeof nodelay);
    c->client = fd;
    c->mhd = pair[0];
    c->mhd_end = pair[1];
    bool ready = true;
    c->handshaken = true;
#ifdef GROVE_HTTP_GNUTLS
    if (ready && r->cred) {
        c->handshaken = false;
        ready = gnutls_init(&c->tls, GNUTLS_SERVER | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL) >= 0;
        if (!ready)
            c->tls = NULL;
        ready = ready && gnutls_set_default_priority(c->tls) >= 0 &&
                gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, r->cred) >= 0;
        if (ready && r->verify)
            gnutls_certificate_server_set_request(c->tls, GNUTLS_CERT_REQUEST);
        if (ready)
            gnutls_transport_set_int(c->tls, fd);
    }
#endif
    /* MHD takes its end whatever happens (closed on failure). */
    if (!ready)
        close(pair[1]);
    if (!ready || MHD_add_connection(r->daemon, pair[1], addr, addr_len) != MHD_YES) {
        c->client = -1; /* still the caller's */
        relay_conn_free(r, c);
        errno = ENOMEM;
        return false;
    }
    struct relay_lane *lane = &r->lanes[atomic_fetch_add(&r->next_lane, 1) % r->lane_count];
    c->lane = lane;
    pthread_mutex_lock(&r->lock);
    c->next_new = lane->new_conns;
    lane->new_conns = c;
    pthread_mutex_unlock(&r->lock);
    uint64_t one = 1;
    (void)!write(lane->wake, &one, sizeof one);
    return true;
}

grove_err grove_http_relay_start(struct grove_http_relay **out, struct MHD_Daemon *daemon,
                                 const char *cert_pem, const char *key_pem, const char *ca_pem)
{
    *out = NULL;
    struct grove_http_relay *r = calloc(1, sizeof *r);
    if (!r)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    r->daemon = daemon;
    r->lane_count = grove_http_threads_per_core(RELAY_LANES_MAX);
    for (unsigned i = 0; i < RELAY_LANES_MAX; i++) {
        struct relay_lane *lane = &r->lanes[i];
        lane->relay = r;
        lane->list.next = lane->list.prev = &lane->list;
        lane->epfd = lane->wake = -1;
    }
    pthread_mutex_init(&r->lock, NULL);
    grove_err err = GROVE_OK;
    unsigned char secret[16];
    if (getrandom(secret, sizeof secret, 0) != (ssize_t)sizeof secret) {
        err = grove_error_set(GROVE_EUNAVAIL, "no random bytes for the relay: %s", strerror(errno));
        goto fail;
    }
    for (size_t i = 0; i < sizeof secret; i++)
        snprintf(r->token + 2 * i, 3, "%02x", secret[i]);
#ifdef GROVE_HTTP_GNUTLS
    if (cert_pem) {
        gnutls_datum_t cert = {(unsigned char *)cert_pem, (unsigned)strlen(cert_pem)};
        gnutls_datum_t key = {(unsigned char *)key_pem, (unsigned)strlen(key_pem)};
        int ret = gnutls_certificate_allocate_credentials(&r->cred);
        if (ret >= 0)
            ret = gnutls_certificate_set_x509_key_mem(r->cred, &cert, &key, GNUTLS_X509_FMT_PEM);
        if (ret < 0) {
            err = grove_error_set(GROVE_EINVAL, "cannot use the certificate and key: %s",
                                  gnutls_strerror(ret));
            goto fail;
        }
        if (ca_pem) {
            gnutls_datum_t ca = {(unsigned char *)ca_pem, (unsigned)strlen(ca_pem)};
            ret = gnutls_certificate_set_x509_trust_mem(r->cred, &ca, GNUTLS_X509_FMT_PEM);
            if (ret <= 0) {
                err = grove_error_set(GROVE_EINVAL, "cannot use the CA file: %s",
                                      ret < 0 ? gnutls_strerror(ret) : "no certificate in it");
                goto fail;
            }
            r->verify = true;
        }
    }
#else
    (void)key_pem;
    (void)ca_pem;
    if (cert_pem) {
        err = grove_error_set(GROVE_ENOTSUP, "groved was built without GnuTLS: no https");
        goto fail;
    }
#endif
    for (unsigned i = 0; i < r->lane_count; i++) {
        struct relay_lane *lane = &r->lanes[i];
        lane->scratch = malloc(RELAY_BUF_MAX);
        lane->epfd = epoll_create1(EPOLL_CLOEXEC);
        lane->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
        if (!lane->scratch || lane->epfd < 0 || lane->wake < 0 ||
            epoll_ctl(lane->epfd, EPOLL_CTL_ADD, lane->wake, &ev) < 0) {
            err = grove_error_set(GROVE_EUNAVAIL, "cannot set up the HTTP relay: %s",
                                  strerror(errno));
            goto fail;
        }
        if (pthread_create(&lane->thread, NULL, relay_loop, lane) != 0) {
            err = grove_error_set(GROVE_ENOMEM, "cannot start the HTTP relay thread");
            goto fail;
        }
        lane->running = true;
    }
    *out = r;
    return GROVE_OK;
fail:
    grove_http_relay_free(r);
    return err;
}

void grove_http_relay_stop(struct grove_http_relay *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->stopping = true;
    pthread_mutex_unlock(&r->lock);
    for (unsigned i = 0; i < r->lane_count; i++) {
        struct relay_lane *lane = &r->lanes[i];
        if (!lane->running)
            continue;
        uint64_t one = 1;
        (void)!write(lane->wake, &one, sizeof one);
        pthread_join(lane->thread, NULL);
        lane->running = false;
        while (lane->list.next != &lane->list)
            relay_conn_free(r, lane->list.next);
        for (struct relay_conn *c = lane->new_conns, *next; c; c = next) {
            next = c->next_new;
            relay_conn_free(r, c);
        }
        lane->new_conns = NULL;
    }
}

void grove_http_relay_free(struct grove_http_relay *r)
{
    if (!r)
        return;
    grove_http_relay_stop(r);
    for (unsigned i = 0; i < r->lane_count; i++) {
        struct relay_lane *lane = &r->lanes[i];
        if (lane->epfd >= 0)
            close(lane->epfd);
        if (lane->wake >= 0)
            close(lane->wake);
        free(lane->scratch);
    }
    for (size_t i = 0; i < r->certs_cap; i++)
        free(r->certs[i]);
    free(r->certs);
#ifdef GROVE_HTTP_GNUTLS
    if (r->cred)
        gnutls_certificate_free_credentials(r->cred);
#endif
    pthread_mutex_destroy(&r->lock);
    free(r);
}

bool grove_http_conn_is_relayed(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct sockaddr_storage local;
    socklen_t len = sizeof local;
    return info && getsockname(info->connect_fd, (struct sockaddr *)&local, &len) == 0 &&
           local.ss_family == AF_UNIX;
}
