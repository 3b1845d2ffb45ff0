/* Many streams on one listener (docs/design.md "Serving streams"): streams
 * hold no thread while they wait, a subscriber that never reads holds up no
 * other, one that drops resumes by its cursor with nothing missing, and a
 * connection over the limit is told so (503 with {"error":...}) before its
 * close instead of being reset. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "grove/grove.h"
#include "grove/sys/transport.h"
#include "transport_http/http_fixture.h"

TestSuite(transport_http_fanout, .init = http_fixture_register);

/* A node, its URL and a peer that writes to it. */
static void fanout_node_start(struct http_node *n, struct grove_url *u, struct grove_peer **peer)
{
    http_node_start(n, NULL);
    cr_assert_eq(grove_url_parse(n->url, u), GROVE_OK);
    cr_assert_eq(grove_peer_open(peer, n->url, NULL), GROVE_OK);
}

/* A connection from `from` (NULL: 127.0.0.1) to the listener at u. */
static int fanout_connect(const struct grove_url *u, const char *from, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(fd >= 0);
    if (rcvbuf)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (from) {
        struct sockaddr_in src = {.sin_family = AF_INET};
        inet_pton(AF_INET, from, &src.sin_addr);
        cr_assert_eq(bind(fd, (struct sockaddr *)&src, sizeof src), 0, "%s", strerror(errno));
    }
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)u->port)};
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&to, sizeof to), 0, "%s", strerror(errno));
    return fd;
}

/* GET {base}/stream?tables=docs with an extra header line (may be ""). */
static int fanout_stream_open(const struct grove_url *u, const char *from, const char *header,
                              int rcvbuf)
{
    int fd = fanout_connect(u, from, rcvbuf);
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET %s/stream?tables=docs&node_id=sub HTTP/1.1\r\nHost: x\r\n%s\r\n", u->path,
                     header);
    cr_assert_eq(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
    return fd;
}

struct fanout_text {
    char *data;
    size_t len, cap;
};

/* Appends what fd has within ms to t: 1 when it read, 0 when nothing came,
 * -1 on EOF or an error. */
static int fanout_read_some(int fd, struct fanout_text *t, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, ms) <= 0)
        return 0;
    if (t->cap - t->len < 65537) {
        t->cap = t->cap ? 2 * t->cap : 131072;
        t->data = realloc(t->data, t->cap);
        cr_assert(t->data);
    }
    ssize_t n = recv(fd, t->data + t->len, t->cap - t->len - 1, 0);
    if (n <= 0)
        return -1;
    t->len += (size_t)n;
    t->data[t->len] = '\0';
    return 1;
}

/* Reads fd into t until `needle` is in it, EOF, or timeout_s: true when found. */
static bool fanout_read_until(int fd, struct fanout_text *t, const char *needle, int timeout_s)
{
    time_t end = time(NULL) + timeout_s;
    for (;;) {
        if (t->data && strstr(t->data, needle))
            return true;
        if (time(NULL) > end)
            return false;
        if (fanout_read_some(fd, t, 200) < 0)
            return false;
    }
}

static void fanout_text_free(struct fanout_text *t)
{
    free(t->data);
    memset(t, 0, sizeof *t);
}

/* n LWW changes docs/<prefix><i>.title, each value `size` bytes, in one push. */
static void fanout_push(struct grove_peer *peer, const char *prefix, int n, size_t size)
{
    struct grove_push_request *req;
    cr_assert_eq(grove_push_request_new(&req), GROVE_OK);
    char *value = grove_msg_alloc(req, size + 3);
    memset(value, 'x', size + 2);
    value[0] = value[size + 1] = '"';
    value[size + 2] = '\0';
    req->node_id = "writer";
    req->changes = grove_msg_alloc(req, (size_t)n * sizeof *req->changes);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    for (int i = 0; i < n; i++) {
        char pk[64];
        snprintf(pk, sizeof pk, "%s%d", prefix, i);
        req->changes[i] =
            (struct grove_change){.table = "docs",
                                  .pk = grove_msg_strndup(req, pk, strlen(pk)),
                                  .field = "title",
                                  .crdt = GROVE_CRDT_LWW,
                                  .node_id = "writer",
                                  .value = {value, size + 2},
                                  .hlc = {.ts = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec,
                                          .c = (uint32_t)i,
                                          .node = "writer"}};
    }
    req->count = (size_t)n;
    struct grove_push_response *resp;
    cr_assert_eq(grove_peer_push(peer, req, &resp), GROVE_OK, "%s", grove_errmsg());
    grove_msg_free(resp);
    grove_msg_free(req);
}

static int fanout_threads(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    cr_assert(f);
    char line[256];
    int threads = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &threads) == 1)
            break;
    fclose(f);
    return threads;
}

Test(transport_http_fanout, open_streams_hold_no_thread_each, .timeout = 120)
{
    enum { STREAMS = 200 };
    struct grove_listen_options lo = {.max_connections_per_address = 2 * STREAMS};
    struct http_node n;
    http_node_start(&n, &lo);
    struct grove_url u;
    cr_assert_eq(grove_url_parse(n.url, &u), GROVE_OK);
    int before = fanout_threads();
    int fds[STREAMS];
    struct fanout_text texts[STREAMS] = {0};
    for (int i = 0; i < STREAMS; i++) {
        fds[i] = fanout_stream_open(&u, NULL, "", 0);
        cr_assert(fanout_read_until(fds[i], &texts[i], ": ok", 20), "stream %d did not open", i);
    }
    int during = fanout_threads();
    /* A thread per stream would add STREAMS; the listener's are fixed. */
    cr_expect_lt(during - before, STREAMS / 4, "%d threads before %d open streams, %d with them",
                 before, STREAMS, during);
    /* And every one of them gets the commit. */
    struct grove_peer *peer;
    cr_assert_eq(grove_peer_open(&peer, n.url, NULL), GROVE_OK);
    fanout_push(peer, "all-", 1, 8);
    for (int i = 0; i < STREAMS; i++) {
        cr_expect(fanout_read_until(fds[i], &texts[i], "\"all-0\"", 30),
                  "stream %d missed the change", i);
        close(fds[i]);
        fanout_text_free(&texts[i]);
    }
    grove_peer_close(peer);
    http_node_stop(&n);
}

Test(transport_http_fanout, a_subscriber_that_never_reads_holds_up_no_other, .timeout = 120)
{
    struct http_node n;
    http_node_start(&n, NULL);
    struct grove_url u;
    cr_assert_eq(grove_url_parse(n.url, &u), GROVE_OK);
    int slow = fanout_stream_open(&u, NULL, "", 4096); /* never read */
    int fast = fanout_stream_open(&u, NULL, "", 0);
    struct fanout_text t = {0};
    cr_assert(fanout_read_until(fast, &t, ": ok", 20));
    struct grove_peer *peer;
    cr_assert_eq(grove_peer_open(&peer, n.url, NULL), GROVE_OK);
    /* About 10 MB while the slow one reads nothing: far past its socket's
     * buffers, so its connection waits for room the whole time. */
    for (int round = 0; round < 10; round++) {
        char prefix[32], last[48];
        snprintf(prefix, sizeof prefix, "r%d-", round);
        fanout_push(peer, prefix, 500, 2048);
        snprintf(last, sizeof last, "\"r%d-499\"", round);
        cr_assert(fanout_read_until(fast, &t, last, 30),
                  "round %d did not reach the fast subscriber", round);
        t.len = 0; /* keep only what follows */
        t.data[0] = '\0';
    }
    fanout_text_free(&t);
    close(fast);
    close(slow);
    grove_peer_close(peer);
    http_node_stop(&n);
}

/* Commits sent while a subscriber does not read fill its socket: the pump
 * writes what the socket takes and libmicrohttpd the rest as it reads.
 * Every event must come whole, once and in order across those hand-overs. */
Test(transport_http_fanout, a_paused_subscriber_gets_every_event_whole_and_in_order, .timeout = 120)
{
    struct http_node n;
    struct grove_url u;
    struct grove_peer *peer;
    fanout_node_start(&n, &u, &peer);
    int paused = fanout_stream_open(&u, NULL, "", 4096);
    struct fanout_text t = {0};
    cr_assert(fanout_read_until(paused, &t, ": ok", 20));
    enum { COMMITS = 300, VALUE = 16384 };
    for (int i = 0; i < COMMITS; i++) {
        char prefix[16];
        snprintf(prefix, sizeof prefix, "p%d-", i);
        fanout_push(peer, prefix, 1, VALUE); /* about 5 MB in all */
    }
    cr_assert(fanout_read_until(paused, &t, "\"p299-0\"", 30), "the last commit never came");
    /* and the rest of its event */
    size_t last = (size_t)(strstr(t.data, "\"p299-0\"") - t.data);
    while (!strstr(t.data + last, "\n\n") && fanout_read_some(paused, &t, 5000) > 0)
        ;
    const char *at = t.data;
    for (int i = 0; i < COMMITS; i++) {
        char pk[24];
        snprintf(pk, sizeof pk, "\"p%d-0\"", i);
        const char *found = strstr(at, pk);
        cr_assert(found, "%s is missing or out of order", pk);
        cr_assert(!strstr(found + 1, pk), "%s came twice", pk);
        at = found;
    }
    /* Each event whole: an id line, then a data line of a JSON array, and
     * every value its full length. A stream behind reads several commits
     * into one event. */
    int ids = 0, arrays = 0, values = 0;
    for (const char *p = t.data; (p = strstr(p, "\nid: ")); p++) {
        ids++;
        const char *data = strstr(p, "\ndata: [");
        arrays += data && strstr(data, "]\n\n") && strcspn(p + 1, "\n") < (size_t)(data - p);
    }
    const char *body = strstr(t.data, "\r\n\r\n");
    cr_assert(body);
    for (const char *p = body; (p = strchr(p, 'x'));) {
        size_t run = strspn(p, "x");
        cr_assert_eq(run, VALUE, "a value of %zu bytes, not %d", run, VALUE);
        values++;
        p += run;
    }
    cr_expect_eq(arrays, ids, "%d whole events of %d", arrays, ids);
    cr_expect_eq(values, COMMITS, "%d values for %d commits", values, COMMITS);
    fanout_text_free(&t);
    close(paused);
    grove_peer_close(peer);
    http_node_stop(&n);
}

/* The id of the last event in t ("id: <ts>.<c>.<node>"), into out. */
static void fanout_last_id(const struct fanout_text *t, char *out, size_t cap)
{
    const char *at = NULL;
    for (const char *p = t->data; (p = strstr(p, "\nid: ")); p++)
        at = p + 5;
    cr_assert(at, "no event id in the stream");
    size_t len = strcspn(at, "\r\n");
    cr_assert_lt(len, cap);
    memcpy(out, at, len);
    out[len] = '\0';
}

Test(transport_http_fanout, a_dropped_subscriber_resumes_by_cursor_with_nothing_missing,
     .timeout = 120)
{
    struct http_node n;
    struct grove_url u;
    struct grove_peer *peer;
    fanout_node_start(&n, &u, &peer);
    int fd = fanout_stream_open(&u, NULL, "", 0);
    struct fanout_text t = {0};
    cr_assert(fanout_read_until(fd, &t, ": ok", 20));
    for (int i = 0; i < 5; i++) {
        char prefix[16];
        snprintf(prefix, sizeof prefix, "a%d-", i);
        fanout_push(peer, prefix, 1, 8);
    }
    cr_assert(fanout_read_until(fd, &t, "\"a4-0\"", 30));
    char id[256], header[300];
    fanout_last_id(&t, id, sizeof id);
    close(fd); /* dropped */
    fanout_text_free(&t);
    /* Written while it was away, and after it is back. */
    for (int i = 0; i < 5; i++) {
        char prefix[16];
        snprintf(prefix, sizeof prefix, "b%d-", i);
        fanout_push(peer, prefix, 1, 8);
    }
    snprintf(header, sizeof header, "Last-Event-ID: %s\r\n", id);
    fd = fanout_stream_open(&u, NULL, header, 0);
    cr_assert(fanout_read_until(fd, &t, ": ok", 20));
    fanout_push(peer, "c-", 1, 8);
    cr_assert(fanout_read_until(fd, &t, "\"c-0\"", 30));
    for (int i = 0; i < 5; i++) {
        char pk[16];
        snprintf(pk, sizeof pk, "\"b%d-0\"", i);
        cr_expect(strstr(t.data, pk), "%s, written while the subscriber was away, is missing", pk);
        snprintf(pk, sizeof pk, "\"a%d-0\"", i);
        cr_expect(!strstr(t.data, pk), "%s came again after the cursor", pk);
    }
    fanout_text_free(&t);
    close(fd);
    grove_peer_close(peer);
    http_node_stop(&n);
}

/* The answer on a connection refused at admission: true when it is a 503
 * naming `why` and the connection then ends in an orderly close (a reset
 * would lose the answer). */
static bool fanout_refused(const struct grove_url *u, const char *from, const char *why)
{
    int fd = fanout_stream_open(u, from, "", 0);
    struct fanout_text t = {0};
    bool answered = fanout_read_until(fd, &t, "}", 10);
    bool ok = answered && strncmp(t.data, "HTTP/1.1 503 ", 13) == 0 && strstr(t.data, why) &&
              strstr(t.data, "{\"error\":");
    if (!ok)
        fprintf(stderr, "refusal: %s\n", t.data ? t.data : "(nothing)");
    char c;
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ssize_t n = recv(fd, &c, 1, 0);
    ok = ok && n == 0; /* EOF, not ECONNRESET */
    close(fd);
    fanout_text_free(&t);
    return ok;
}

Test(transport_http_fanout, a_connection_over_the_limit_is_answered_503, .timeout = 120)
{
    struct grove_listen_options lo = {
        .max_connections = 4, .max_connections_per_address = 2, .keepalive_ms = 200};
    struct http_node n;
    http_node_start(&n, &lo);
    struct grove_url u;
    cr_assert_eq(grove_url_parse(n.url, &u), GROVE_OK);
    const char *from[] = {"127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.3"};
    int fds[4];
    for (int i = 0; i < 4; i++) {
        fds[i] = fanout_stream_open(&u, from[i], "", 0);
        struct fanout_text t = {0};
        cr_assert(fanout_read_until(fds[i], &t, ": ok", 20), "stream %d did not open", i);
        fanout_text_free(&t);
    }
    cr_expect(
        fanout_refused(&u, "127.0.0.4", "too many connections: this listener serves at most 4"));
    close(fds[3]);
    /* Its slot comes back once the server sees it gone (at the next
     * keep-alive); then the per-address share is what refuses. */
    bool per_address = false;
    for (int tries = 0; tries < 50 && !per_address; tries++) {
        usleep(200 * 1000);
        per_address = fanout_refused(&u, "127.0.0.2", "too many connections from this address");
    }
    cr_expect(per_address, "a third connection from one address was not refused for its share");
    for (int i = 0; i < 3; i++)
        close(fds[i]);
    http_node_stop(&n);
}
