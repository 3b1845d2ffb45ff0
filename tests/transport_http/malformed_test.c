/* Requests libmicrohttpd cannot parse (a bad or huge Content-Length, no HTTP
 * version, a header line without a colon, a request line or head too long)
 * are answered by the listener with a status and a {"error":"..."} body,
 * never libmicrohttpd's HTML page; good requests, one by one or pipelined on
 * one connection, are served as before. Raw sockets on 127.0.0.1. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "grove/grove.h"
#include "grove/metrics.h"
#include "grove/sys/transport.h"
#include "transport_http/http_fixture.h"

TestSuite(transport_http_malformed, .init = http_fixture_register);

static const char pull_body[] = "{\"tables\":[\"docs\"],\"node_id\":\"x\"}";

static int raw_connect(const char *url)
{
    struct grove_url u;
    cr_assert_eq(grove_url_parse(url, &u), GROVE_OK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)u.port)};
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&to, sizeof to), 0, "%s", strerror(errno));
    return fd;
}

/* Sends what the peer takes (it may refuse the rest and close), then reads
 * until the peer closes, `want` answers have come, or 5 s have passed. */
static char *raw_exchange(const char *url, const char *req, size_t len, int want, size_t *out_len)
{
    int fd = raw_connect(url);
    size_t sent = 0;
    size_t cap = 1 << 16, got = 0;
    char *buf = malloc(cap + 1);
    cr_assert_not_null(buf);
    int64_t end = time(NULL) + 5;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN | (sent < len ? POLLOUT : 0)};
        if (time(NULL) > end || poll(&p, 1, 200) < 0)
            break;
        if ((p.revents & POLLOUT) && sent < len) {
            ssize_t n = send(fd, req + sent, len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0)
                sent += (size_t)n;
            else if (errno != EAGAIN)
                sent = len; /* refused: read what was answered */
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            if (got == cap)
                buf = realloc(buf, (cap *= 2) + 1);
            ssize_t n = recv(fd, buf + got, cap - got, MSG_DONTWAIT);
            if (n <= 0 && !(n < 0 && errno == EAGAIN))
                break;
            if (n > 0)
                got += (size_t)n;
        }
        buf[got] = '\0';
        int answers = 0;
        for (const char *s = buf; (s = strstr(s, "HTTP/1.1 ")); s++)
            answers++;
        /* The last answer's body is in when its Content-Length is. */
        const char *last = buf;
        for (const char *s = buf; (s = strstr(s, "HTTP/1.1 ")); s++)
            last = s;
        const char *cl = strcasestr(last, "\r\nContent-Length: ");
        const char *head_end = strstr(last, "\r\n\r\n");
        if (answers >= want && cl && head_end &&
            (size_t)(buf + got - (head_end + 4)) >= strtoull(cl + 18, NULL, 10))
            break;
    }
    close(fd);
    buf[got] = '\0';
    if (out_len)
        *out_len = got;
    return buf;
}

/* The one answer to req: its status, a JSON Content-Type and an "error"
 * body, never HTML. */
static void expect_json_error(const char *url, const char *name, const char *req, size_t len,
                              int status)
{
    char *reply = raw_exchange(url, req, len, 1, NULL);
    int got = 0;
    sscanf(reply, "HTTP/1.%*d %d", &got);
    const char *body = strstr(reply, "\r\n\r\n");
    cr_expect_eq(got, status, "%s: status %d, want %d: %.300s", name, got, status, reply);
    cr_expect(strcasestr(reply, "\r\nContent-Type: application/json") != NULL,
              "%s: not JSON: %.300s", name, reply);
    cr_expect(body && strncmp(body + 4, "{\"error\":\"", 10) == 0, "%s: body %.300s", name,
              body ? body + 4 : reply);
    cr_expect(strcasestr(reply, "<html") == NULL, "%s: an HTML page: %.300s", name, reply);
    free(reply);
}

static char *request_with(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *request_with(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    cr_assert_geq(vasprintf(&s, fmt, ap), 0);
    va_end(ap);
    return s;
}

static void expect_case(const char *url, const char *name, char *req, int status)
{
    expect_json_error(url, name, req, strlen(req), status);
    free(req);
}

/* `count` bytes of `c` as a string. */
static char *filler(size_t count, char c)
{
    char *s = malloc(count + 1);
    memset(s, c, count);
    s[count] = '\0';
    return s;
}

static void pull_request(const char *path, char *out, size_t cap)
{
    int n = snprintf(out, cap,
                     "POST %s/pull HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     path, sizeof pull_body - 1, pull_body);
    cr_assert(n > 0 && (size_t)n < cap, "request of %d bytes", n);
}

static int count_status(const char *reply, const char *status_line)
{
    int n = 0;
    for (const char *s = reply; (s = strstr(s, status_line)); s++)
        n++;
    return n;
}

Test(transport_http_malformed, every_unparsable_request_gets_a_json_error)
{
    struct http_node n;
    http_node_start(&n, NULL);
    struct grove_url u;
    cr_assert_eq(grove_url_parse(n.url, &u), GROVE_OK);
    const char *p = u.path;
    const char *url = n.url;

    expect_case(url, "Content-Length of 20 digits",
                request_with("POST %s/push HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                             "\r\nContent-Length: 99999999999999999999\r\n\r\n{}",
                             p),
                413);
    expect_case(url, "Content-Length: -1",
                request_with("POST %s/push HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n{}", p),
                400);
    expect_case(url, "Content-Length: abc",
                request_with("POST %s/push HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", p),
                400);
    expect_case(
        url, "Content-Length with a trailing word",
        request_with("POST %s/push HTTP/1.1\r\nHost: x\r\nContent-Length: 2 x\r\n\r\n{}", p), 400);
    expect_case(url, "no HTTP version", request_with("GET %s/stream\r\n\r\n", p), 400);
    expect_case(url, "no HTTP version, one line only", request_with("GET %s/stream\r\n", p), 400);
    expect_case(url, "a method and nothing else", request_with("GET\r\n\r\n"), 400);
    expect_case(url, "not HTTP", request_with("GET %s/pull HTTX/1.1\r\nHost: x\r\n\r\n", p), 400);
    expect_case(url, "HTTP/0.9", request_with("GET %s/pull HTTP/0.9\r\nHost: x\r\n\r\n", p), 505);
    expect_case(url, "HTTP/2.0", request_with("GET %s/pull HTTP/2.0\r\nHost: x\r\n\r\n", p), 505);
    expect_case(url, "a header line without a colon",
                request_with("POST %s/pull HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n", p), 400);
    expect_case(
        url, "a transfer coding other than chunked",
        request_with("POST %s/push HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", p),
        501);
    char *uri = filler(300 << 10, 'a');
    expect_case(url, "a 300 KiB request target",
                request_with("GET %s/%s HTTP/1.1\r\nHost: x\r\n\r\n", p, uri), 414);
    expect_case(url, "300 KiB of headers",
                request_with("GET %s/pull HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", p, uri), 431);
    free(uri);

    /* The listener still serves a good request. */
    char req[512];
    pull_request(p, req, sizeof req);
    char *reply = raw_exchange(url, req, strlen(req), 1, NULL);
    cr_expect(strncmp(reply, "HTTP/1.1 200", 12) == 0, "a good pull: %.300s", reply);
    free(reply);

    /* Each refusal is counted by its reason, as the core's are. */
    struct grove_buf text = {0};
    cr_assert_eq(grove_metrics_render(n.node.store, &text), GROVE_OK);
    cr_assert_eq(grove_buf_append(&text, "", 1), GROVE_OK);
    cr_expect(strstr(text.data, "grove_rejected_total{reason=\"invalid\"} 11\n"), "%s", text.data);
    cr_expect(strstr(text.data, "grove_rejected_total{reason=\"too_big\"} 3\n"), "%s", text.data);
    grove_buf_free(&text);
    http_node_stop(&n);
}

Test(transport_http_malformed, pipelined_good_requests_are_all_answered)
{
    struct http_node n;
    http_node_start(&n, NULL);
    struct grove_url u;
    cr_assert_eq(grove_url_parse(n.url, &u), GROVE_OK);
    char one[512], three[1600];
    pull_request(u.path, one, sizeof one);
    snprintf(three, sizeof three, "%s%s%s", one, one, one);
    char *reply = raw_exchange(n.url, three, strlen(three), 3, NULL);
    cr_expect_eq(count_status(reply, "HTTP/1.1 200"), 3, "three pipelined pulls: %.600s", reply);
    free(reply);
    /* A bad request after a good one on the same connection is refused
     * (by libmicrohttpd itself: only a connection's first head is checked
     * before it is admitted), and the good one is still answered. */
    char mixed[1200];
    snprintf(mixed, sizeof mixed, "%sGET %s/pull HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
             one, u.path);
    reply = raw_exchange(n.url, mixed, strlen(mixed), 2, NULL);
    cr_expect(strncmp(reply, "HTTP/1.1 200", 12) == 0, "the good one first: %.300s", reply);
    /* (libmicrohttpd 0.9.75 sends that answer's status line and headers twice.) */
    cr_expect_geq(count_status(reply, "HTTP/1.1 400"), 1, "then a 400: %.600s", reply);
    free(reply);
    http_node_stop(&n);
}

/* What libmicrohttpd accepts is still accepted: bare LF line ends, empty
 * lines before the request line, a folded header, a target with a space. */
Test(transport_http_malformed, lenient_heads_are_still_served)
{
    struct http_node n;
    http_node_start(&n, NULL);
    struct grove_url u;
    cr_assert_eq(grove_url_parse(n.url, &u), GROVE_OK);
    const char *shapes[] = {
        "POST %s/pull HTTP/1.1\nHost: x\nContent-Length: %zu\n\n%s",
        "\r\n\r\nPOST %s/pull HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n%s",
        "POST %s/pull HTTP/1.1\r\nX-Folded: a\r\n b\r\nContent-Length: %zu\r\n\r\n%s",
        "POST %s/pull HTTP/1.0\r\nContent-Length:%zu\r\n\r\n%s",
    };
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        char req[512];
        snprintf(req, sizeof req, shapes[i], u.path, sizeof pull_body - 1, pull_body);
        char *reply = raw_exchange(n.url, req, strlen(req), 1, NULL);
        cr_expect(strncmp(reply, "HTTP/1.1 200", 12) == 0 ||
                      strncmp(reply, "HTTP/1.0 200", 12) == 0,
                  "shape %zu: %.300s", i, reply);
        free(reply);
    }
    http_node_stop(&n);
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* A head that arrives in pieces is waited for without spinning (the
 * listener runs in this process: its CPU time is ours), then served. */
Test(transport_http_malformed, a_head_in_pieces_is_waited_for_cheaply)
{
    struct http_node n;
    http_node_start(&n, NULL);
    struct grove_url u;
    cr_assert_eq(grove_url_parse(n.url, &u), GROVE_OK);
    char req[512];
    pull_request(u.path, req, sizeof req);
    int fd = raw_connect(n.url);
    size_t half = strlen(req) / 3;
    cr_assert_eq(send(fd, req, half, MSG_NOSIGNAL), (ssize_t)half);
    double before = cpu_seconds();
    usleep(1000 * 1000);
    double spent = cpu_seconds() - before;
    cr_expect_lt(spent, 0.2, "%.2f s of CPU while a partial head waited 1 s", spent);
    size_t rest = strlen(req) - half;
    cr_assert_eq(send(fd, req + half, rest, MSG_NOSIGNAL), (ssize_t)rest);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[1024] = {0};
    cr_expect_gt(recv(fd, buf, sizeof buf - 1, 0), 0, "no answer");
    cr_expect(strncmp(buf, "HTTP/1.1 200", 12) == 0, "%.300s", buf);
    close(fd);
    http_node_stop(&n);
}
