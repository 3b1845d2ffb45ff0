/* A stream client that stops reading: the server keeps at most one batch for
 * it (so its memory stays bounded whatever is written meanwhile), drops the
 * connection once it has made no progress for the connection timeout, and
 * keeps serving everybody else. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "grove/grove.h"
#include "grove/sys/transport.h"
#include "transport_http/http_fixture.h"

TestSuite(transport_http_slow_client, .init = http_fixture_register);

/* Opens a stream with a raw socket and a tiny receive buffer, and never reads. */
static int slow_stream_open(const struct grove_url *u)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)u->port)};
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET %s/stream?tables=docs HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", u->path);
    cr_assert_eq(write(fd, req, (size_t)n), n);
    return fd;
}

/* Reads what the server sent until EOF or the deadline: true on EOF. */
static bool drains_to_eof(int fd, int seconds)
{
    struct timeval tv = {.tv_sec = 1};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    static char buf[65536];
    time_t deadline = time(NULL) + seconds;
    while (time(NULL) < deadline) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n == 0)
            return true;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return true; /* reset: closed as well */
    }
    return false;
}

static void push_big(struct grove_peer *peer, int round)
{
    enum { N = 500 };
    static char value[2050];
    memset(value, 'x', sizeof value - 1);
    value[0] = value[sizeof value - 3] = '"';
    value[sizeof value - 2] = '\0';
    struct grove_push_request *req;
    cr_assert_eq(grove_push_request_new(&req), GROVE_OK);
    req->node_id = "writer";
    req->changes = grove_msg_alloc(req, N * sizeof *req->changes);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    for (int i = 0; i < N; i++) {
        char pk[32];
        snprintf(pk, sizeof pk, "r%d-%d", round, i);
        req->changes[i] =
            (struct grove_change){.table = "docs",
                                  .pk = grove_msg_strndup(req, pk, strlen(pk)),
                                  .field = "title",
                                  .crdt = GROVE_CRDT_LWW,
                                  .node_id = "writer",
                                  .value = {value, strlen(value)},
                                  .hlc = {.ts = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec,
                                          .c = (uint32_t)i,
                                          .node = "writer"}};
    }
    req->count = N;
    struct grove_push_response *resp;
    cr_assert_eq(grove_peer_push(peer, req, &resp), GROVE_OK, "%s", grove_errmsg());
    grove_msg_free(resp);
    grove_msg_free(req);
}

Test(transport_http_slow_client, stalled_stream_is_dropped_and_others_are_served, .timeout = 60)
{
    struct grove_listen_options lo = {.keepalive_ms = 200}; /* connection timeout: 5 s */
    struct http_node node;
    http_node_start(&node, &lo);
    struct grove_url u;
    cr_assert_eq(grove_url_parse(node.url, &u), GROVE_OK);
    int slow = slow_stream_open(&u);
    struct grove_peer *peer;
    cr_assert_eq(grove_peer_open(&peer, node.url, NULL), GROVE_OK);
    /* 10 MB written while the slow client reads nothing. */
    for (int round = 0; round < 10; round++)
        push_big(peer, round);
    /* Everybody else is still served, at once. */
    struct grove_pull_request pr = {.node_id = "reader", .limit = 10};
    struct grove_pull_response *resp;
    cr_assert_eq(grove_peer_pull(peer, &pr, &resp), GROVE_OK, "%s", grove_errmsg());
    cr_expect_eq(resp->count, 10);
    grove_msg_free(resp);
    /* A stalled stream whose FIN waits behind unread data: give the server
     * twice its connection timeout, then drain. A live stream would keep
     * sending keep-alives and never end. */
    sleep(10);
    cr_expect(drains_to_eof(slow, 20), "the server kept a stalled stream open");
    close(slow);
    grove_peer_close(peer);
    http_node_stop(&node);
}
