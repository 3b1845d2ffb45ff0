/* Admission of HTTP connections: the listener accepts them itself, holds
 * the connection caps, and on plain HTTP looks at each connection's first
 * request head before libmicrohttpd does.
 *
 * libmicrohttpd answers a request it cannot parse (a Content-Length that is
 * not a number or overflows, a request line without an HTTP version, a header
 * line without a colon, a head too big for its memory) with an HTML page of
 * its own, and offers no hook to replace it. So a connection is only peeked
 * at here (MSG_PEEK, nothing consumed) until its head is in: a head that
 * libmicrohttpd would refuse is answered with {"error":"..."} and the status
 * it would have sent, and closed. A good one asking for a stream goes to
 * libmicrohttpd with every byte still queued (MHD_add_connection), its
 * answers marked to close the connection at their end (http_reply.c), so
 * no later head on it goes unchecked; every other connection goes to the
 * relay (http_relay.c), which checks the heads after the first, the chunked
 * bodies, and terminates TLS: a TLS connection goes there at once.
 *
 * One thread waits on every connection whose head is not in yet (poll): a
 * slow client costs a socket and a few bytes, not a thread, and cannot stall
 * the accept loop. The head deadline holds here as it does in MHD
 * (http_deadline.c). The connection caps (in total and per client address)
 * are counted here from accept until MHD reports the connection closed; a
 * connection over one is answered 503 with {"error":"..."} at once and
 * closed once its request is drained, so the client reads why instead of a
 * reset (over TLS it is closed: the answer would need the handshake). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "grove/metrics.h"
#include "grove/sys/error.h"
#include "http_internal.h"

#define HTTP_ADMIT_TICK_MS 250
/* After a refusal the client's unread request is read and dropped for this
 * long (or this much) before the close, so the close does not reset the
 * connection before the client has read the answer. */
#define HTTP_ADMIT_DRAIN_MS    1000
#define HTTP_ADMIT_DRAIN_BYTES ((size_t)1 << 20)
/* Connections over a cap being answered and drained at once at most; more
 * are closed without an answer. */
#define HTTP_ADMIT_REFUSED_MAX 256

/* ---- the head check -------------------------------------------------------- */

/* Lines end at LF, with one CR before it dropped, as libmicrohttpd reads them. */
static size_t http_line_len(const char *line, size_t to_lf)
{
    return to_lf > 0 && line[to_lf - 1] == '\r' ? to_lf - 1 : to_lf;
}

void grove_http_message_vformat(char *out, size_t cap, const char *fmt, va_list ap)
{
    vsnprintf(out, cap, fmt, ap);
    /* The quoted bytes may be anything: the message stays printable ASCII. */
    for (char *c = out; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
            *c = '?';
}

static int http_head_refuse(struct grove_http_head *h, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int http_head_refuse(struct grove_http_head *h, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    grove_http_message_vformat(h->message, sizeof h->message, fmt, ap);
    va_end(ap);
    return status;
}

/* At most this much of what the client sent is quoted back. */
#define QUOTE(n) (int)((n) > 64 ? 64 : (n))

/* The request line as libmicrohttpd splits it: the method up to the first
 * space, the HTTP version after the last one (spaces inside the target are
 * tolerated), the version exactly HTTP/<digit>.<digit> of major 1. */
static int http_head_request_line(struct grove_http_head *h, const char *line, size_t len)
{
    const char *sp = memchr(line, ' ', len);
    if (!sp || sp == line)
        return http_head_refuse(h, 400, "request line \"%.*s\": expected METHOD TARGET HTTP/1.1",
                                QUOTE(len), line);
    const char *end = line + len;
    while (end > sp && end[-1] == ' ')
        end--;
    const char *version = end;
    while (version > sp && version[-1] != ' ')
        version--;
    const char *target = sp;
    while (target < end && *target == ' ')
        target++;
    if (target >= end || version <= target)
        return http_head_refuse(h, 400, "request line \"%.*s\": no HTTP version", QUOTE(len), line);
    /* Each query parameter is a field libmicrohttpd keeps, as a header is. */
    const char *query = memchr(target, '?', (size_t)(version - target));
    for (const char *q = query; q && q < version; q = memchr(q + 1, '&', (size_t)(version - q - 1)))
        if (q + 1 < version && q[1] != ' ')
            h->fields++;
    h->method_off = (size_t)(line - h->buf);
    h->method_len = (size_t)(sp - line);
    h->target_off = (size_t)(target - h->buf);
    h->target_len = (size_t)(version - target);
    while (h->target_len > 0 && target[h->target_len - 1] == ' ')
        h->target_len--;
    size_t vlen = (size_t)(end - version);
    bool shape = vlen == 8 && memcmp(version, "HTTP/", 5) == 0 && version[5] >= '0' &&
                 version[5] <= '9' && version[6] == '.' && version[7] >= '0' && version[7] <= '9';
    if (!shape)
        return http_head_refuse(h, 400, "HTTP version \"%.*s\": expected HTTP/1.1", QUOTE(vlen),
                                version);
    if (version[5] != '1')
        return http_head_refuse(h, 505, "HTTP version \"%.*s\" is not supported: use HTTP/1.1",
                                QUOTE(vlen), version);
    return 0;
}

static bool http_name_is(const char *line, size_t name_len, const char *name)
{
    return strlen(name) == name_len && strncasecmp(line, name, name_len) == 0;
}

/* One header line (not a continuation): its name must end at a colon. */
static int http_head_header(struct grove_http_head *h, const char *line, size_t len)
{
    /* libmicrohttpd looks for the colon as in a C string. */
    size_t text_len = strnlen(line, len);
    const char *colon = memchr(line, ':', text_len);
    h->continues = HEAD_CONTINUES_OTHER;
    if (!colon)
        return http_head_refuse(h, 400, "header line \"%.*s\": no colon", QUOTE(len), line);
    size_t name_len = (size_t)(colon - line);
    const char *value = colon + 1;
    while (value < line + text_len && (*value == ' ' || *value == '\t'))
        value++;
    size_t value_off = (size_t)(value - h->buf);
    size_t value_len = (size_t)(line + text_len - value);
    if (http_name_is(line, name_len, "Content-Length")) {
        bool same = h->cl_len == value_len && memcmp(h->buf + h->cl_off, value, value_len) == 0;
        if (h->has_cl && !same)
            return http_head_refuse(h, 400, "two different Content-Length headers");
        h->has_cl = true;
        h->cl_off = value_off;
        h->cl_len = value_len;
        h->continues = HEAD_CONTINUES_LENGTH;
    } else if (http_name_is(line, name_len, "Transfer-Encoding") && !h->has_te) {
        h->has_te = true;
        h->te_off = value_off;
        h->te_len = value_len;
    }
    return 0;
}

/* The whole head is in: the body's framing, as libmicrohttpd would read it. */
static int http_head_framing(struct grove_http_head *h)
{
    const char *te = h->buf + h->te_off, *cl = h->buf + h->cl_off;
    if (h->has_te) {
        if (h->te_len != 7 || strncasecmp(te, "chunked", 7) != 0)
            return http_head_refuse(h, 501,
                                    "Transfer-Encoding \"%.*s\" is not supported: only chunked",
                                    QUOTE(h->te_len), te);
        if (h->has_cl)
            return http_head_refuse(h, 400, "both Transfer-Encoding and Content-Length");
        return 0;
    }
    if (!h->has_cl)
        return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < h->cl_len; i++) {
        unsigned d = (unsigned)(cl[i] - '0');
        if (d > 9)
            return http_head_refuse(h, 400, "Content-Length \"%.*s\": expected a number of bytes",
                                    QUOTE(h->cl_len), cl);
        if (v > (UINT64_MAX - d) / 10)
            return http_head_refuse(h, 413, "Content-Length %.*s is too large", QUOTE(h->cl_len),
                                    cl);
        v = v * 10 + d;
    }
    if (h->cl_len == 0)
        return http_head_refuse(h, 400, "Content-Length: empty, expected a number of bytes");
    return 0;
}

/* Whether a head through `end` with h->fields fields is over the limit;
 * refused with status then (414: its request line, 431: a header line). */
static int http_head_over(struct grove_http_head *h, size_t end, size_t limit, int status)
{
    if (end + GROVE_HTTP_FIELD_COST * h->fields <= limit)
        return 0;
    if (status == 414)
        return http_head_refuse(h, 414,
                                "request line longer than %zu bytes (a query parameter counts %d)",
                                limit, GROVE_HTTP_FIELD_COST);
    return http_head_refuse(h, 431, "request head longer than %zu bytes (a header line counts %d)",
                            limit, GROVE_HTTP_FIELD_COST);
}

int grove_http_head_scan(struct grove_http_head *h, size_t limit)
{
    for (;;) {
        const char *line = h->buf + h->parsed;
        size_t avail = h->len - h->parsed;
        const char *lf = memchr(line, '\n', avail);
        /* Past the limit by where the head ends, not by what has come so
         * far: the verdict is the same however the bytes arrive. */
        size_t end = lf ? h->parsed + (size_t)(lf - line) + 1 : h->len + 1;
        int status = http_head_over(h, end, limit, h->have_request_line ? 431 : 414);
        if (status)
            return status;
        if (!lf)
            return -1;
        size_t to_lf = (size_t)(lf - line);
        size_t len = http_line_len(line, to_lf);
        h->parsed = end;
        if (!h->have_request_line) {
            if (len == 0)
                continue; /* empty lines before a request are skipped */
            h->have_request_line = true;
            status = http_head_request_line(h, line, len);
            if (!status)
                status = http_head_over(h, end, limit, 414);
        } else if (len == 0) {
            return http_head_framing(h);
        } else if (h->continues != HEAD_CONTINUES_NONE && (line[0] == ' ' || line[0] == '\t')) {
            /* Folded onto the header before: a folded length is no number. */
            if (h->continues == HEAD_CONTINUES_LENGTH)
                return http_head_refuse(h, 400, "Content-Length folded over two lines");
        } else {
            status = http_head_header(h, line, len);
            h->fields++;
            if (!status)
                status = http_head_over(h, end, limit, 431);
        }
        if (status)
            return status;
    }
}

bool grove_http_head_wants_stream(const struct grove_http_head *h, const char *base)
{
    if (h->method_len != 3 || memcmp(h->buf + h->method_off, "GET", 3) != 0)
        return false;
    const char *path = h->buf + h->target_off;
    const char *q = memchr(path, '?', h->target_len);
    size_t len = q ? (size_t)(q - path) : h->target_len;
    size_t base_len = strlen(base);
    if (len == base_len + 7 && memcmp(path, base, base_len) == 0 &&
        memcmp(path + base_len, "/stream", 7) == 0)
        return true;
    static const char tables[] = "/v1/tables/", watch[] = "/watch";
    size_t tl = sizeof tables - 1, wl = sizeof watch - 1;
    if (len <= tl + wl || memcmp(path, tables, tl) != 0 || memcmp(path + len - wl, watch, wl) != 0)
        return false;
    return !memchr(path + tl, '/', len - tl - wl); /* one segment: the table */
}

/* ---- admission --------------------------------------------------------------- */

/* Connections per client address, in a hash table of chains: thousands of
 * clients, each from an address of its own, cost a short walk per accept
 * and close, not a scan of them all. */
#define HTTP_ADMIT_BUCKETS 4096 /* a power of two */

struct http_addr_count {
    struct http_addr_key {
        sa_family_t family;
        unsigned char bytes[16];
    } key;
    unsigned count;
    struct http_addr_count *next; /* in its bucket */
};

/* A connection whose first head is not in yet, or that was refused and is
 * being drained before its close. */
struct http_pending {
    int fd;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    int64_t since_ms;
    struct grove_http_head head;
    bool draining;
    bool counted; /* in the caps (false: refused for being over one) */
};

struct grove_http_admit {
    int listen_fd;
    struct MHD_Daemon *daemon;
    struct grove_http_relay *relay;
    bool tls;
    const char *base;              /* the listener's: its sync endpoints' prefix */
    struct grove_metrics *metrics; /* the node's: refusals are counted */
    unsigned max_total, max_per_address;
    int head_ms;
    int wake[2]; /* a pipe: a byte written asks the thread to stop */
    pthread_t thread;
    /* The counts, also released from MHD's threads (grove_http_admit_release). */
    pthread_mutex_t lock;
    unsigned total;
    struct http_addr_count **buckets; /* HTTP_ADMIT_BUCKETS chains */
    /* The admission thread's own. */
    struct http_pending *pending;
    size_t pending_count, pending_cap;
    size_t refused_count; /* pending entries not counted: draining after a 503 */
};

static int64_t http_admit_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool http_addr_key(const struct sockaddr *sa, struct http_addr_key *key)
{
    memset(key, 0, sizeof *key);
    if (!sa)
        return false;
    key->family = sa->sa_family;
    if (sa->sa_family == AF_INET)
        memcpy(key->bytes, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    else if (sa->sa_family == AF_INET6)
        memcpy(key->bytes, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    else
        return false;
    return true;
}

/* The chain key belongs in (FNV-1a). */
static struct http_addr_count **http_addr_bucket(struct grove_http_admit *a,
                                                 const struct http_addr_key *key)
{
    uint32_t h = 2166136261u ^ (uint32_t)key->family;
    for (size_t i = 0; i < sizeof key->bytes; i++)
        h = (h ^ key->bytes[i]) * 16777619u;
    return &a->buckets[h & (HTTP_ADMIT_BUCKETS - 1)];
}

/* The link that points at key's count (or at the chain's end: *link NULL). */
static struct http_addr_count **http_addr_find(struct grove_http_admit *a,
                                               const struct http_addr_key *key)
{
    struct http_addr_count **link = http_addr_bucket(a, key);
    while (*link && memcmp(&(*link)->key, key, sizeof *key) != 0)
        link = &(*link)->next;
    return link;
}

/* Counts a new connection in, or false when it would pass a cap (which
 * *why says). */
static bool http_admit_take(struct grove_http_admit *a, const struct sockaddr *sa, char *why,
                            size_t why_cap)
{
    struct http_addr_key key;
    bool keyed = http_addr_key(sa, &key);
    bool ok = false;
    pthread_mutex_lock(&a->lock);
    struct http_addr_count **link = keyed ? http_addr_find(a, &key) : NULL;
    struct http_addr_count *c = link ? *link : NULL;
    if (a->total >= a->max_total) {
        snprintf(why, why_cap, "too many connections: this listener serves at most %u",
                 a->max_total);
        goto done;
    }
    if (c && c->count >= a->max_per_address) {
        snprintf(why, why_cap, "too many connections from this address: at most %u",
                 a->max_per_address);
        goto done;
    }
    snprintf(why, why_cap, "out of memory");
    if (keyed && !c) {
        if (!(c = calloc(1, sizeof *c)))
            goto done;
        c->key = key;
        *link = c; /* the chain's end */
    }
    if (c)
        c->count++;
    a->total++;
    ok = true;
done:
    pthread_mutex_unlock(&a->lock);
    return ok;
}

void grove_http_admit_release(struct grove_http_admit *a, const struct sockaddr *sa)
{
    struct http_addr_key key;
    bool keyed = http_addr_key(sa, &key);
    pthread_mutex_lock(&a->lock);
    if (a->total > 0)
        a->total--;
    struct http_addr_count **link = keyed ? http_addr_find(a, &key) : NULL;
    struct http_addr_count *c = link ? *link : NULL;
    if (c && --c->count == 0) {
        *link = c->next;
        free(c);
    }
    pthread_mutex_unlock(&a->lock);
}

/* Stops tracking p (the fd is closed or MHD's now). */
static void http_pending_drop(struct grove_http_admit *a, size_t i, bool close_fd)
{
    struct http_pending *p = &a->pending[i];
    if (close_fd) {
        close(p->fd);
        if (p->counted)
            grove_http_admit_release(a, (struct sockaddr *)&p->addr);
    }
    if (!p->counted)
        a->refused_count--;
    free(p->head.buf);
    a->pending[i] = a->pending[--a->pending_count];
}

static void http_admit_refuse(struct grove_http_admit *a, size_t i, int status);

static void http_admit_accept(struct grove_http_admit *a)
{
    for (int round = 0; round < 64; round++) {
        struct http_pending p = {.addr_len = sizeof p.addr};
        p.fd = accept4(a->listen_fd, (struct sockaddr *)&p.addr, &p.addr_len,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (p.fd < 0)
            return; /* EAGAIN, or out of descriptors: poll says when to retry */
        char why[sizeof p.head.message];
        p.counted = http_admit_take(a, (struct sockaddr *)&p.addr, why, sizeof why);
        if (!p.counted && a->refused_count >= HTTP_ADMIT_REFUSED_MAX) {
            close(p.fd); /* a flood: no answer, but no socket held either */
            continue;
        }
        if (a->tls) {
            /* Encrypted: nothing to peek at. One over a cap is closed. */
            struct sockaddr *addr = (struct sockaddr *)&p.addr;
            if (p.counted && grove_http_relay_add(a->relay, p.fd, addr, p.addr_len))
                continue;
            close(p.fd);
            if (p.counted)
                grove_http_admit_release(a, addr);
            continue;
        }
        /* Peeks go on from the last one (SO_PEEK_OFF), and poll says
         * readable only when more than what was peeked is queued
         * (SO_RCVLOWAT): without either the head cannot be watched cheaply,
         * and the connection goes to MHD unchecked. */
        int zero = 0, one = 1;
        bool peekable = p.counted &&
                        setsockopt(p.fd, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof zero) == 0 &&
                        setsockopt(p.fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one) == 0;
        if (a->pending_count == a->pending_cap) {
            size_t cap = a->pending_cap ? 2 * a->pending_cap : 64;
            struct http_pending *grown = realloc(a->pending, cap * sizeof *grown);
            if (!grown) {
                close(p.fd);
                if (p.counted)
                    grove_http_admit_release(a, (struct sockaddr *)&p.addr);
                continue;
            }
            a->pending = grown;
            a->pending_cap = cap;
        }
        p.since_ms = http_admit_now_ms();
        if (p.counted && !peekable)
            p.head.parsed = SIZE_MAX; /* marks it for handing over at once */
        a->pending[a->pending_count++] = p;
        if (!p.counted) {
            /* Over a cap: a clear answer before the close, not a reset. */
            a->refused_count++;
            snprintf(a->pending[a->pending_count - 1].head.message, sizeof p.head.message, "%s",
                     why);
            http_admit_refuse(a, a->pending_count - 1, 503);
        }
    }
}

/* Hands p on with every byte still queued: a stream to MHD, every other
 * connection to the relay (and one not peeked at to MHD: unchecked). */
static void http_admit_hand_over(struct grove_http_admit *a, size_t i)
{
    struct http_pending *p = &a->pending[i];
    int off = -1, one = 1;
    setsockopt(p->fd, SOL_SOCKET, SO_PEEK_OFF, &off, sizeof off);
    setsockopt(p->fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one);
    struct sockaddr *addr = (struct sockaddr *)&p->addr;
    bool direct = p->head.parsed == SIZE_MAX || grove_http_head_wants_stream(&p->head, a->base);
    if (direct) {
        if (MHD_add_connection(a->daemon, p->fd, addr, p->addr_len) != MHD_YES)
            grove_http_admit_release(a, addr); /* MHD closed the fd */
    } else if (!grove_http_relay_add(a->relay, p->fd, addr, p->addr_len)) {
        /* Out of descriptors, say: answered, not reset. */
        snprintf(p->head.message, sizeof p->head.message, "cannot take the connection now: %s",
                 strerror(errno));
        http_admit_refuse(a, i, 503);
        return;
    }
    http_pending_drop(a, i, false);
}

static const char *http_reason(int status)
{
    switch (status) {
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 431:
        return "Request Header Fields Too Large";
    case 501:
        return "Not Implemented";
    case 505:
        return "HTTP Version Not Supported";
    case 503:
        return "Service Unavailable";
    default:
        return "Bad Request";
    }
}

void grove_http_count_refusal(struct grove_metrics *metrics, int status, const char *peer,
                              const char *message)
{
    /* By what is wrong with the request: a 501 or 505 is the client's too. */
    grove_err why = GROVE_EINVAL;
    if (status == 503)
        why = GROVE_EUNAVAIL;
    else if (status == 413 || status == 414 || status == 431)
        why = GROVE_ETOOBIG;
    grove_metrics_refused(metrics, why);
    char reason[8];
    snprintf(reason, sizeof reason, "%d", status);
    grove_log_refused("http", "-", peer, reason, message);
}

static void http_admit_count_refusal(struct grove_http_admit *a, const struct http_pending *p,
                                     int status)
{
    char peer[GROVE_PEER_ADDR_MAX];
    grove_http_sockaddr_text((const struct sockaddr *)&p->addr, peer, sizeof peer);
    grove_http_count_refusal(a->metrics, status, peer, p->head.message);
}

/* Answers a refused head with {"error":"..."}, then drains the connection
 * until the client closes or the drain time is up. */
static void http_admit_refuse(struct grove_http_admit *a, size_t i, int status)
{
    struct http_pending *p = &a->pending[i];
    struct grove_buf body = {0}, reply = {0};
    char head[320], date[64];
    time_t now = time(NULL);
    struct tm tm;
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&now, &tm));
    if (grove_json_encode_error(p->head.message, &body) == GROVE_OK) {
        int n = snprintf(head, sizeof head,
                         "HTTP/1.1 %d %s\r\nDate: %s\r\nConnection: close\r\n%s"
                         "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                         status, http_reason(status), date,
                         status == 503 ? "Retry-After: 1\r\n" : "", body.len);
        if (grove_buf_append(&reply, head, (size_t)n) == GROVE_OK &&
            grove_buf_append(&reply, body.data, body.len) == GROVE_OK)
            /* A few hundred bytes into an empty socket buffer: they fit. */
            (void)!send(p->fd, reply.data, reply.len, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    grove_buf_free(&body);
    grove_buf_free(&reply);
    http_admit_count_refusal(a, p, status);
    shutdown(p->fd, SHUT_WR);
    int one = 1;
    setsockopt(p->fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one);
    p->draining = true;
    p->since_ms = http_admit_now_ms();
    p->head.len = 0; /* counts the bytes drained from now on */
}

/* p's socket is readable: more of the head, or the end of a drain. */
static void http_admit_step(struct grove_http_admit *a, size_t i)
{
    struct http_pending *p = &a->pending[i];
    if (p->draining) {
        char sink[4096];
        ssize_t n;
        while ((n = recv(p->fd, sink, sizeof sink, MSG_DONTWAIT)) > 0)
            p->head.len += (size_t)n;
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK) ||
            p->head.len > HTTP_ADMIT_DRAIN_BYTES)
            http_pending_drop(a, i, true);
        return;
    }
    struct grove_http_head *h = &p->head;
    size_t want = GROVE_HTTP_HEAD_MAX + 1;
    if (h->len == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 2048;
        cap = cap < want ? cap : want;
        char *grown = realloc(h->buf, cap);
        if (!grown) {
            http_pending_drop(a, i, true);
            return;
        }
        h->buf = grown;
        h->cap = cap;
    }
    ssize_t n = recv(p->fd, h->buf + h->len, h->cap - h->len, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
        http_pending_drop(a, i, true); /* gone before its head was in */
        return;
    }
    if (n < 0)
        return;
    h->len += (size_t)n;
    int status = grove_http_head_scan(h, GROVE_HTTP_HEAD_MAX);
    if (status == 0) {
        http_admit_hand_over(a, i);
    } else if (status > 0) {
        http_admit_refuse(a, i, status);
    } else {
        int lowat = (int)h->len + 1;
        setsockopt(p->fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof lowat);
    }
}

static void *http_admit_loop(void *arg)
{
    struct grove_http_admit *a = arg;
    struct pollfd *fds = NULL;
    size_t fds_cap = 0;
    for (;;) {
        size_t n = a->pending_count;
        if (fds_cap < n + 2) {
            size_t cap = 2 * (n + 2);
            struct pollfd *grown = realloc(fds, cap * sizeof *grown);
            if (!grown) {
                usleep(HTTP_ADMIT_TICK_MS * 1000); /* out of memory: try again later */
                continue;
            }
            fds = grown;
            fds_cap = cap;
        }
        fds[0] = (struct pollfd){.fd = a->wake[0], .events = POLLIN};
        fds[1] = (struct pollfd){.fd = a->listen_fd, .events = POLLIN};
        for (size_t i = 0; i < n; i++)
            fds[i + 2] = (struct pollfd){.fd = a->pending[i].fd, .events = POLLIN};
        if (poll(fds, n + 2, HTTP_ADMIT_TICK_MS) < 0 && errno != EINTR)
            break;
        if (fds[0].revents)
            break;
        /* Backwards: a dropped entry is replaced by the last one, which has
         * been seen already. */
        int64_t now = http_admit_now_ms();
        for (size_t i = n; i-- > 0;) {
            struct http_pending *p = &a->pending[i];
            int64_t limit = p->draining ? HTTP_ADMIT_DRAIN_MS : a->head_ms;
            if (p->head.parsed == SIZE_MAX)
                http_admit_hand_over(a, i);
            else if (now - p->since_ms > limit)
                http_pending_drop(a, i, true); /* late: closed, as MHD's reaper would */
            else if (fds[i + 2].revents)
                http_admit_step(a, i);
        }
        if (fds[1].revents)
            http_admit_accept(a);
    }
    free(fds);
    return NULL;
}

grove_err grove_http_admit_start(struct grove_http_admit **out, int listen_fd,
                                 struct MHD_Daemon *daemon, struct grove_http_relay *relay,
                                 bool tls, const char *base, struct grove_metrics *metrics,
                                 unsigned max_total, unsigned max_per_address, int head_ms)
{
    struct grove_http_admit *a = calloc(1, sizeof *a);
    if (!a)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    a->buckets = calloc(HTTP_ADMIT_BUCKETS, sizeof *a->buckets);
    if (!a->buckets) {
        free(a);
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    }
    a->listen_fd = listen_fd;
    a->daemon = daemon;
    a->relay = relay;
    a->tls = tls;
    a->base = base;
    a->metrics = metrics;
    a->max_total = max_total;
    a->max_per_address = max_per_address;
    a->head_ms = head_ms;
    int flags = fcntl(listen_fd, F_GETFL);
    if (flags < 0 || fcntl(listen_fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
        pipe2(a->wake, O_CLOEXEC) < 0) {
        free(a->buckets);
        free(a);
        return grove_error_set(GROVE_EUNAVAIL, "cannot set up the HTTP listener: %s",
                               strerror(errno));
    }
    pthread_mutex_init(&a->lock, NULL);
    /* Set before the thread starts: MHD's threads read it for the connections it admits. */
    *out = a;
    if (pthread_create(&a->thread, NULL, http_admit_loop, a) != 0) {
        *out = NULL;
        close(a->wake[0]);
        close(a->wake[1]);
        pthread_mutex_destroy(&a->lock);
        free(a->buckets);
        free(a);
        return grove_error_set(GROVE_ENOMEM, "cannot start the HTTP admission thread");
    }
    return GROVE_OK;
}

void grove_http_admit_stop(struct grove_http_admit *a)
{
    if (!a || a->wake[1] < 0)
        return;
    (void)!write(a->wake[1], "x", 1);
    pthread_join(a->thread, NULL);
    close(a->wake[0]);
    close(a->wake[1]);
    a->wake[0] = a->wake[1] = -1;
    while (a->pending_count > 0)
        http_pending_drop(a, a->pending_count - 1, true);
}

void grove_http_admit_free(struct grove_http_admit *a)
{
    if (!a)
        return;
    grove_http_admit_stop(a);
    pthread_mutex_destroy(&a->lock);
    free(a->pending);
    for (size_t i = 0; i < HTTP_ADMIT_BUCKETS; i++)
        for (struct http_addr_count *c = a->buckets[i], *next; c; c = next) {
            next = c->next;
            free(c);
        }
    free(a->buckets);
    free(a);
}
