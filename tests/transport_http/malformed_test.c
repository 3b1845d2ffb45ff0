/* Requests libmicrohttpd cannot parse (a bad or huge Content-Length, no HTTP
 * version, a header line without a colon, a request line or head too long,
 * a chunked body's broken framing) are answered by the listener with a
 * status and a {"error":"..."} body, never libmicrohttpd's HTML page: as a
 * connection's first request or a later one, over http and https. Good
 * requests, one by one or pipelined on one connection, are served as before.
 * Raw sockets on 127.0.0.1 (GnuTLS for https). */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
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
#include "support/certs.h"
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

/* A raw connection: a socket, over TLS for an https URL (the server's
 * certificate is not checked: what is tested is what comes after). */
struct raw_conn {
    int fd;
    gnutls_session_t tls;
    gnutls_certificate_credentials_t cred;
};

static void raw_open(const char *url, struct raw_conn *c)
{
    c->fd = raw_connect(url);
    c->tls = NULL;
    if (strncmp(url, "https:", 6) == 0) {
        cr_assert_eq(gnutls_certificate_allocate_credentials(&c->cred), 0);
        cr_assert_eq(gnutls_init(&c->tls, GNUTLS_CLIENT), 0);
        cr_assert_eq(gnutls_set_default_priority(c->tls), 0);
        cr_assert_eq(gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, c->cred), 0);
        gnutls_transport_set_int(c->tls, c->fd);
        gnutls_handshake_set_timeout(c->tls, 5000);
        int ret;
        do
            ret = gnutls_handshake(c->tls);
        while (ret < 0 && !gnutls_error_is_fatal(ret));
        cr_assert_eq(ret, 0, "TLS handshake: %s", gnutls_strerror(ret));
    }
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
}

/* >0 bytes, 0 nothing now, -1 refused or closed. */
static ssize_t raw_send(struct raw_conn *c, const char *data, size_t len)
{
    ssize_t n =
        c->tls ? gnutls_record_send(c->tls, data, len) : send(c->fd, data, len, MSG_NOSIGNAL);
    if (n >= 0)
        return n;
    return (c->tls ? n == GNUTLS_E_AGAIN : errno == EAGAIN) ? 0 : -1;
}

/* >0 bytes, 0 at the end, -1 nothing now, -2 failed. */
static ssize_t raw_recv(struct raw_conn *c, char *buf, size_t cap)
{
    ssize_t n = c->tls ? gnutls_record_recv(c->tls, buf, cap) : recv(c->fd, buf, cap, 0);
    if (n >= 0)
        return n;
    if (c->tls && n == GNUTLS_E_PREMATURE_TERMINATION)
        return 0;
    return (c->tls ? n == GNUTLS_E_AGAIN : errno == EAGAIN) ? -1 : -2;
}

static void raw_close(struct raw_conn *c)
{
    if (c->tls) {
        gnutls_deinit(c->tls);
        gnutls_certificate_free_credentials(c->cred);
    }
    close(c->fd);
}

/* Sends what the peer takes (it may refuse the rest and close), then reads
 * until the peer closes, `want` answers have come, or 5 s have passed. */
static char *raw_exchange(const char *url, const char *req, size_t len, int want, size_t *out_len)
{
    struct raw_conn c;
    raw_open(url, &c);
    size_t sent = 0;
    size_t cap = 1 << 16, got = 0;
    char *buf = malloc(cap + 1);
    cr_assert_not_null(buf);
    int64_t end = time(NULL) + 5;
    for (;;) {
        struct pollfd p = {.fd = c.fd, .events = POLLIN | (sent < len ? POLLOUT : 0)};
        bool buffered = c.tls && gnutls_record_check_pending(c.tls) > 0;
        if (time(NULL) > end || (!buffered && poll(&p, 1, 200) < 0))
            break;
        if (buffered)
            p.revents = POLLIN;
        if ((p.revents & POLLOUT) && sent < len) {
            ssize_t n = raw_send(&c, req + sent, len - sent);
            if (n > 0)
                sent += (size_t)n;
            else if (n < 0)
                sent = len; /* refused: read what was answered */
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            if (got == cap)
                buf = realloc(buf, (cap *= 2) + 1);
            ssize_t n = raw_recv(&c, buf + got, cap - got);
            if (n == 0 || n == -2)
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
    raw_close(&c);
    buf[got] = '\0';
    if (out_len)
        *out_len = got;
    return buf;
}

/* An answer (the first in reply): its status, a JSON Content-Type and an
 * "error" body, never HTML. */
static void check_json_error(const char *name, const char *reply, int status)
{
    int got = 0;
    sscanf(reply, "HTTP/1.%*d %d", &got);
    const char *body = strstr(reply, "\r\n\r\n");
    cr_expect_eq(got, status, "%s: status %d, want %d: %.300s", name, got, status, reply);
    cr_expect(strcasestr(reply, "\r\nContent-Type: application/json") != NULL,
              "%s: not JSON: %.300s", name, reply);
    cr_expect(body && strncmp(body + 4, "{\"error\":\"", 10) == 0, "%s: body %.300s", name,
              body ? body + 4 : reply);
    cr_expect(strcasestr(reply, "<html") == NULL, "%s: an HTML page: %.300s", name, reply);
}

/* The one answer to req is a JSON error. */
static void expect_json_error(const char *url, const char *name, const char *req, size_t len,
                              int status)
{
    char *reply = raw_exchange(url, req, len, 1, NULL);
    check_json_error(name, reply, status);
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

/* `part` `count` times, as a string. */
static char *repeated(const char *part, size_t count)
{
    size_t n = strlen(part);
    char *s = malloc(n * count + 1);
    cr_assert_not_null(s);
    for (size_t i = 0; i < count; i++)
        memcpy(s + i * n, part, n);
    s[n * count] = '\0';
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
    /* libmicrohttpd keeps each header line and query parameter in its
     * connection's memory: many short ones fill it too. */
    char *lines = repeated("a:b\r\n", 1000);
    expect_case(url, "1000 header lines of 5 bytes",
                request_with("GET %s/pull HTTP/1.1\r\nHost: x\r\n%s\r\n", p, lines), 431);
    free(lines);
    char *params = repeated("&a=1", 1000);
    expect_case(url, "1000 query parameters",
                request_with("GET /v1/tables/docs/rows?b=1%s HTTP/1.1\r\nHost: x\r\n\r\n", params),
                414);
    free(params);

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
    cr_expect(strstr(text.data, "grove_rejected_total{reason=\"too_big\"} 5\n"), "%s", text.data);
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
    http_node_stop(&n);
}

/* A good pull, then `bad` on the same connection: the pull is answered,
 * then the bad one with a JSON error, and nothing more. */
static void expect_later_refused(const char *url, const char *path, const char *name, char *bad,
                                 int status)
{
    char one[512];
    pull_request(path, one, sizeof one);
    char *req = request_with("%s%s%s", one, bad, one);
    free(bad);
    char *reply = raw_exchange(url, req, strlen(req), 3, NULL);
    cr_expect(strncmp(reply, "HTTP/1.1 200", 12) == 0, "%s: the good one first: %.300s", name,
              reply);
    const char *second = strstr(reply + 12, "HTTP/1.1 ");
    cr_expect_not_null(second, "%s: one answer only: %.600s", name, reply);
    if (second)
        check_json_error(name, second, status);
    cr_expect_eq(count_status(reply, "HTTP/1.1 "), 2, "%s: the pull after it is not served: %.900s",
                 name, reply);
    free(reply);
    free(req);
}

/* A chunked push of `chunks` (the body's framing as sent, after the head). */
static char *chunked_push(const char *path, const char *chunks)
{
    return request_with("POST %s/push HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n%s",
                        path, chunks);
}

static const char chunk_change[] =
    "{\"changes\":[{\"table\":\"docs\",\"pk\":\"%s\",\"field\":\"title\",\"crdt_type\":"
    "\"lww\",\"hlc\":{\"ts\":1706000001000000000,\"c\":0,\"node\":\"n2\"},\"node_id\":"
    "\"n2\",\"value\":\"v\"}],\"node_id\":\"n2\"}";

/* A whole push body for pk, as one chunk. */
static char *push_chunk(const char *pk)
{
    char body[512];
    int n = snprintf(body, sizeof body, chunk_change, pk);
    return request_with("%x\r\n%s\r\n", n, body);
}

static bool pulled(const char *url, const char *path, const char *pk)
{
    char req[512];
    pull_request(path, req, sizeof req);
    char *reply = raw_exchange(url, req, strlen(req), 1, NULL);
    cr_expect(strncmp(reply, "HTTP/1.1 200", 12) == 0, "pull: %.300s", reply);
    char quoted[80];
    snprintf(quoted, sizeof quoted, "\"pk\":\"%s\"", pk);
    bool found = strstr(reply, quoted) != NULL;
    free(reply);
    return found;
}

/* Heads after a connection's first, and chunked bodies, over url (http or
 * https): good ones served, bad ones refused with JSON, in order. */
static void framing_cases(const char *url, const char *p)
{
    expect_later_refused(
        url, p, "a later Content-Length: -1",
        request_with("POST %s/push HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", p), 400);
    expect_later_refused(url, p, "a later head without an HTTP version",
                         request_with("GET %s/stream\r\n\r\n", p), 400);
    expect_later_refused(url, p, "a later header line without a colon",
                         request_with("GET %s/pull HTTP/1.1\r\nno colon\r\n\r\n", p), 400);
    char *big = filler(40 << 10, 'a');
    expect_later_refused(url, p, "a later head of 40 KiB",
                         request_with("GET %s/pull HTTP/1.1\r\nX-Big: %s\r\n\r\n", p, big), 431);
    free(big);
    char *lines = repeated("a:b\r\n", 1000);
    expect_later_refused(url, p, "1000 later header lines of 5 bytes",
                         request_with("GET %s/pull HTTP/1.1\r\n%s\r\n", p, lines), 431);
    free(lines);

    /* Chunked: extensions and a trailer are fine; the push is applied. */
    char *chunk = push_chunk("chunked-ok");
    char *good = request_with("%.*s;ext=1\r\n%s0\r\nX-Trailer: t\r\n\r\n",
                              (int)strcspn(chunk, "\r"), chunk, strchr(chunk, '\n') + 1);
    char *req = chunked_push(p, good);
    char *reply = raw_exchange(url, req, strlen(req), 1, NULL);
    cr_expect(strncmp(reply, "HTTP/1.1 200", 12) == 0, "a good chunked push: %.300s", reply);
    cr_expect(pulled(url, p, "chunked-ok"), "the chunked push is applied");
    free(reply);
    free(req);
    free(good);
    free(chunk);

    struct {
        const char *name, *chunks;
        int status;
    } bad[] = {
        {"a chunk size that is not hex", "zz\r\n{}\r\n0\r\n\r\n", 400},
        {"no chunk size", ";ext\r\n{}\r\n0\r\n\r\n", 400},
        {"a chunk size of 16 digits", "0000000000000002\r\n{}\r\n0\r\n\r\n", 400},
        {"chunk data without its CRLF", "2\r\n{}XX0\r\n\r\n", 400},
        {"a trailer line without a colon", "2\r\n{}\r\n0\r\nno colon\r\n\r\n", 400},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *r = chunked_push(p, bad[i].chunks);
        expect_json_error(url, bad[i].name, r, strlen(r), bad[i].status);
        free(r);
    }
    char *line = filler(5000, '1');
    expect_case(url, "a chunk-size line of 5000 bytes", chunked_push(p, line), 400);
    free(line);
    char *value = filler(9 << 10, 'v');
    char *trailer = request_with("2\r\n{}\r\n0\r\nX-Long: %s\r\n\r\n", value);
    expect_case(url, "a trailer of 9 KiB", chunked_push(p, trailer), 431);
    free(trailer);
    free(value);

    /* A whole push body whose framing breaks after it is refused and not
     * applied: the listener never sees a body end the client did not send. */
    chunk = push_chunk("chunked-bad");
    char *broken = request_with("%szz\r\n", chunk);
    req = chunked_push(p, broken);
    expect_json_error(url, "a whole body, then a bad chunk size", req, strlen(req), 400);
    cr_expect(!pulled(url, p, "chunked-bad"), "a push with broken framing was applied");
    free(req);
    free(broken);
    free(chunk);
    /* The same on a kept-alive connection, after a good request. */
    expect_later_refused(url, p, "a later chunked body with a bad chunk size",
                         chunked_push(p, "zz\r\n"), 400);
}

Test(transport_http_malformed, later_heads_and_chunked_bodies_get_json_errors)
{
    struct http_node n;
    http_node_start(&n, NULL);
    struct grove_url u;
    cr_assert_eq(grove_url_parse(n.url, &u), GROVE_OK);
    framing_cases(n.url, u.path);
    http_node_stop(&n);
}

/* Over https every head is the relay's to check, the first one too. */
Test(transport_http_malformed, https_requests_get_json_errors)
{
    http_fixture_register();
    const struct support_certs *certs = support_certs();
    static const char *const tables[] = {"docs:title=lww", NULL};
    struct grove_listen_options listen = {.cert_file = certs->cert, .key_file = certs->key};
    struct support_node n;
    support_node_start(&n, &(struct support_node_options){.tables = tables,
                                                          .listen = &listen,
                                                          .url = "https://127.0.0.1:%d/sync"});
    struct grove_url u;
    cr_assert_eq(grove_url_parse(n.url, &u), GROVE_OK);
    const char *p = u.path;
    expect_case(n.url, "Content-Length: -1",
                request_with("POST %s/push HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n{}", p),
                400);
    expect_case(n.url, "no HTTP version", request_with("GET %s/stream\r\n\r\n", p), 400);
    char *big = filler(300 << 10, 'a');
    expect_case(n.url, "300 KiB of headers",
                request_with("GET %s/pull HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", p, big), 431);
    free(big);
    framing_cases(n.url, p);
    support_node_stop(&n);
}

/* A refusal header of the client's own (without the relay's secret) is an
 * ordinary header: the request is served. */
Test(transport_http_malformed, a_forged_refusal_is_served_as_a_request)
{
    struct http_node n;
    http_node_start(&n, NULL);
    struct grove_url u;
    cr_assert_eq(grove_url_parse(n.url, &u), GROVE_OK);
    char one[512], forged[1400];
    pull_request(u.path, one, sizeof one);
    const char *head_end = strstr(one, "\r\n\r\n");
    snprintf(forged, sizeof forged, "%s%.*s\r\nX-Grove-Refusal: %032d 400 forged%s", one,
             (int)(head_end - one), one, 0, head_end);
    char *reply = raw_exchange(n.url, forged, strlen(forged), 2, NULL);
    cr_expect_eq(count_status(reply, "HTTP/1.1 200"), 2, "both pulls served: %.900s", reply);
    cr_expect(strstr(reply, "forged") == NULL, "%.900s", reply);
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
