/* Slow and idle connections cost little and lock nobody out: a request head
 * (or a TLS handshake) that trickles in is cut off at the head deadline, one
 * address holds at most its share of the connections, and a client elsewhere
 * is served meanwhile. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "grove/grove.h"
#include "grove/sys/transport.h"
#include "support/certs.h"
#include "transport_http/http_fixture.h"

TestSuite(transport_http_slowloris, .init = http_fixture_register);

enum { TRICKLERS = 60, TRICKLE_S = 8 };

/* A connection from 127.0.0.2 that has sent `start`: the start of a request
 * head, or of a TLS record. */
static int trickler_open(int port, const char *start, size_t len)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in from = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.2", &from.sin_addr);
    cr_assert_eq(bind(fd, (struct sockaddr *)&from, sizeof from), 0, "%s", strerror(errno));
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&to, sizeof to), 0, "%s", strerror(errno));
    send(fd, start, len, MSG_NOSIGNAL);
    return fd;
}

/* One more header byte; false once the server has closed the connection. */
static bool trickler_alive(int fd)
{
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
        return false;
    return send(fd, "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1 || errno == EAGAIN;
}

static grove_err pull_once(const char *url, const char *ca_file)
{
    struct grove_peer *peer;
    struct grove_dial_options o = {
        .timeout_ms = 3000, .connect_timeout_ms = 2000, .ca_file = ca_file};
    cr_assert_eq(grove_peer_open(&peer, url, &o), GROVE_OK, "%s", grove_errmsg());
    struct grove_pull_request req = {.node_id = "legit"};
    struct grove_pull_response *resp = NULL;
    grove_err err = grove_peer_pull(peer, &req, &resp);
    grove_msg_free(resp);
    grove_peer_close(peer);
    return err;
}

/* TRICKLERS connections that each send start, then a byte at a time, while
 * a client elsewhere pulls (trusting ca_file over https): the tricklers are
 * cut off at the head deadline, the client is served. */
static void trickle(const struct http_node *n, const char *ca_file, const char *start, size_t len)
{
    struct grove_url u;
    cr_assert_eq(grove_url_parse(n->url, &u), GROVE_OK);
    int fds[TRICKLERS];
    bool open[TRICKLERS];
    for (int i = 0; i < TRICKLERS; i++) {
        fds[i] = trickler_open(u.port, start, len);
        open[i] = true;
    }
    /* More tricklers than the whole listener takes: without the share per
     * address, they alone would fill it. */
    int served = 0, tries = 0, still_open = TRICKLERS;
    time_t end = time(NULL) + TRICKLE_S;
    while (time(NULL) < end && still_open > 0) {
        for (int i = 0; i < TRICKLERS; i++)
            if (open[i] && !trickler_alive(fds[i])) {
                open[i] = false;
                still_open--;
            }
        if (tries < 5) {
            tries++;
            served += pull_once(n->url, ca_file) == GROVE_OK;
        }
        usleep(200 * 1000);
    }
    for (int i = 0; i < TRICKLERS; i++)
        close(fds[i]);
    cr_expect_eq(served, tries, "a client elsewhere is served while the heads trickle in");
    cr_expect_eq(still_open, 0,
                 "%d of %d trickling connections were still open after %d s of trickling",
                 still_open, TRICKLERS, TRICKLE_S);
}

static const struct grove_listen_options trickle_limits = {
    .head_timeout_ms = 1000, .max_connections = 48, .max_connections_per_address = 16};

Test(transport_http_slowloris, trickling_heads_are_cut_off_and_others_are_served)
{
    struct http_node n;
    http_node_start(&n, &trickle_limits);
    static const char start[] = "POST /sync/pull HTTP/1.1\r\nHo";
    trickle(&n, NULL, start, sizeof start - 1);
    http_node_stop(&n);
}

/* Over https the same holds for handshakes that trickle: a TLS record's
 * header announcing 512 bytes, then a byte at a time. */
Test(transport_http_slowloris, trickling_tls_handshakes_are_cut_off_and_others_are_served)
{
    http_fixture_register();
    const struct support_certs *certs = support_certs();
    static const char *const tables[] = {"docs:title=lww", NULL};
    struct grove_listen_options lo = trickle_limits;
    lo.cert_file = certs->cert;
    lo.key_file = certs->key;
    struct http_node n;
    support_node_start(&n, &(struct support_node_options){.tables = tables,
                                                          .listen = &lo,
                                                          .url = "https://127.0.0.1:%d/sync"});
    static const char record[] = {0x16, 0x03, 0x01, 0x02, 0x00};
    trickle(&n, certs->ca, record, sizeof record);
    support_node_stop(&n);
}

/* A kept-alive connection waits for its next request under the same
 * deadline as a new one. */
Test(transport_http_slowloris, an_idle_kept_alive_connection_is_closed_at_the_head_deadline)
{
    struct http_node n;
    struct grove_listen_options lo = {.head_timeout_ms = 1000};
    http_node_start(&n, &lo);
    struct grove_url u;
    cr_assert_eq(grove_url_parse(n.url, &u), GROVE_OK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)u.port)};
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&to, sizeof to), 0);
    static const char body[] = "{\"tables\":[\"docs\"],\"node_id\":\"x\"}";
    char req[256];
    int len = snprintf(req, sizeof req,
                       "POST %s/pull HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       "Content-Length: %zu\r\n\r\n%s",
                       u.path, sizeof body - 1, body);
    cr_assert_eq(send(fd, req, (size_t)len, MSG_NOSIGNAL), len);
    struct timeval tv = {.tv_sec = 1};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[4096];
    cr_assert_gt(recv(fd, buf, sizeof buf, 0), 0, "the first request is answered");
    bool closed = false;
    for (time_t end = time(NULL) + TRICKLE_S; !closed && time(NULL) < end;) {
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        closed = r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
    }
    close(fd);
    cr_expect(closed, "the idle connection was still open after %d s", TRICKLE_S);
    http_node_stop(&n);
}
