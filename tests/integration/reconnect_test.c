/* Reconnects: a peer stopped and started again on the same port is
 * synced with again within a few seconds on every transport, and a stream
 * refused with 401 is asked for again at the sync interval, not in a loop. */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "integration/groved_proc.h"
#include "support/port.h"
#include "support/tmpdir.h"

static const char *test_dir;

static void setup(void)
{
    test_dir = support_tmpdir_new("reconnect");
}

static void teardown(void)
{
    gd_kill_all(); /* before their directory goes */
    support_tmpdir_remove(test_dir);
}

TestSuite(integration_reconnect, .init = setup, .fini = teardown, .timeout = 240);

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A lenient bound: the aim is about 2 s, the machine is shared. */
#define RETURN_BOUND_S 10.0
#define DOWN_S         8 /* long enough for an unbounded backoff to grow past the bound */

/* A (writes, pushes in real time) syncs with B over `scheme`; B stops, A
 * writes, B comes back on the same port: how long until B has the write. */
static void check_returning_peer(const char *scheme)
{
    char node[32], peer_url[128];
    struct gd a, b;
    snprintf(node, sizeof node, "b-%s", strncmp(scheme, "nng", 3) ? scheme : "nng");
    gd_prepare(&b, node, test_dir);
    if (strcmp(scheme, "http") == 0) {
        snprintf(peer_url, sizeof peer_url, "%s", b.url);
    } else {
        snprintf(peer_url, sizeof peer_url, "%s://127.0.0.1:%d", scheme, support_free_port());
        gd_arg(&b, "--listen", peer_url);
    }
    snprintf(node, sizeof node, "a-%s", strncmp(scheme, "nng", 3) ? scheme : "nng");
    gd_prepare(&a, node, test_dir);
    gd_arg(&a, "--peer", peer_url);
    gd_arg(&a, "--interval", "60"); /* only the retry after a failure brings B back */
    gd_arg(&a, "--no-stream", NULL);
    cr_assert(gd_start(&b), "B did not start; see %s", b.log);
    cr_assert(gd_start(&a), "A did not start; see %s", a.log);

    cr_assert(gd_push_lww(&a, "app", "before", 0, 1, 1));
    cr_assert_eq(gd_wait_count(&b, 1, 20), 1, "%s: B never got A's first write", scheme);

    cr_assert_eq(gd_stop(&b), 0);
    cr_assert(gd_push_lww(&a, "app", "while-down", 0, 1, 1));
    sleep(DOWN_S);
    int port = b.port;
    cr_assert(gd_start(&b), "B did not restart; see %s", b.log);
    cr_assert_eq(b.port, port, "B moved to another port");
    double back = now_s();
    long n = gd_wait_count(&b, 2, 30);
    double took = now_s() - back;
    printf("RESULT reconnect_%s_s=%.2f\n", scheme, took);
    fflush(stdout);
    cr_assert_eq(n, 2, "%s: A never pushed to the returned B; see %s", scheme, a.log);
    cr_expect_lt(took, RETURN_BOUND_S, "%s: B was used again only after %.1f s", scheme, took);
    cr_assert_eq(gd_stop(&a), 0, "A's clean exit on SIGTERM");
    gd_stop(&b);
}

Test(integration_reconnect, a_returning_http_peer_is_used_again_within_seconds)
{
    check_returning_peer("http");
}

Test(integration_reconnect, a_returning_grpc_peer_is_used_again_within_seconds)
{
    check_returning_peer("grpc");
}

Test(integration_reconnect, a_returning_nng_peer_is_used_again_within_seconds)
{
    check_returning_peer("nng+tcp");
}

/* ---- a peer that refuses every request with 401 ------------------------------ */

struct refuser {
    int fd, port;
    bool silent; /* accept and hold every connection, answering nothing */
    int held[64];
    size_t held_count;
    pthread_t thread;
    atomic_bool stop;
    atomic_int streams, others; /* requests refused, by kind */
};

static void *refuser_main(void *arg)
{
    struct refuser *r = arg;
    while (!atomic_load(&r->stop)) {
        struct pollfd pfd = {.fd = r->fd, .events = POLLIN};
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        int c = accept(r->fd, NULL, NULL);
        if (c < 0)
            continue;
        if (r->silent) {
            if (r->held_count < sizeof r->held / sizeof r->held[0])
                r->held[r->held_count++] = c;
            else
                close(c);
            continue;
        }
        char head[4096] = "";
        size_t len = 0;
        while (len < sizeof head - 1 && !strstr(head, "\r\n\r\n")) {
            struct pollfd cp = {.fd = c, .events = POLLIN};
            if (poll(&cp, 1, 2000) <= 0)
                break;
            ssize_t got = recv(c, head + len, sizeof head - 1 - len, 0);
            if (got <= 0)
                break;
            len += (size_t)got;
            head[len] = '\0';
        }
        head[len] = '\0';
        if (strstr(head, "/stream"))
            atomic_fetch_add(&r->streams, 1);
        else if (len)
            atomic_fetch_add(&r->others, 1);
        static const char answer[] = "HTTP/1.1 401 Unauthorized\r\n"
                                     "Content-Type: application/json\r\n"
                                     "Content-Length: 25\r\n"
                                     "Connection: close\r\n\r\n"
                                     "{\"error\":\"unauthorized\"}\n";
        send(c, answer, sizeof answer - 1, MSG_NOSIGNAL);
        close(c);
    }
    return NULL;
}

static void refuser_start(struct refuser *r, bool silent)
{
    memset(r, 0, sizeof *r);
    r->silent = silent;
    r->fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(r->fd, 0);
    int one = 1;
    setsockopt(r->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(r->fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t sl = sizeof sa;
    getsockname(r->fd, (struct sockaddr *)&sa, &sl);
    r->port = ntohs(sa.sin_port);
    cr_assert_eq(listen(r->fd, 16), 0);
    cr_assert_eq(pthread_create(&r->thread, NULL, refuser_main, r), 0);
}

static void refuser_stop(struct refuser *r)
{
    atomic_store(&r->stop, true);
    pthread_join(r->thread, NULL);
    for (size_t i = 0; i < r->held_count; i++)
        close(r->held[i]);
    close(r->fd);
}

Test(integration_reconnect, a_stream_refused_with_401_is_asked_again_at_the_interval)
{
    struct refuser r;
    refuser_start(&r, false);
    char peer_url[96];
    snprintf(peer_url, sizeof peer_url, "http://127.0.0.1:%d/sync", r.port);
    struct gd a;
    gd_prepare(&a, "a-refused", test_dir);
    gd_arg(&a, "--peer", peer_url);
    gd_arg(&a, "--interval", "30");
    cr_assert(gd_start(&a), "A did not start; see %s", a.log);
    sleep(7); /* an unbounded reconnect loop would ask 4 or 5 times by now */
    int streams = atomic_load(&r.streams), others = atomic_load(&r.others);
    printf("RESULT refused_streams_7s=%d refused_other_7s=%d\n", streams, others);
    fflush(stdout);
    cr_assert_eq(gd_stop(&a), 0, "A's clean exit on SIGTERM");
    refuser_stop(&r);
    cr_expect_geq(streams, 1, "A never asked for the stream");
    cr_expect_leq(streams, 1, "the refused stream was asked for %d times in 7 s", streams);
    cr_expect_leq(others, 3, "a round's refused calls: %d (who answers, pull, push)", others);
    long refusals = 0;
    FILE *log = fopen(a.log, "r");
    char line[2048];
    while (log && fgets(line, sizeof line, log))
        refusals += strstr(line, "msg=\"stream refused\"") || strstr(line, "msg=stream refused");
    if (log)
        fclose(log);
    cr_expect_leq(refusals, 1, "the refusal was logged %ld times", refusals);
}

/* A peer that takes connections and never answers: a call waiting on it
 * (its timeout is 30 s) must not hold up shutdown. The bound is lenient,
 * far below that timeout, for a shared machine. */
#define SHUTDOWN_BOUND_S 10.0

static void check_silent_peer(const char *scheme, const char *path)
{
    struct refuser r;
    refuser_start(&r, true);
    char peer_url[96];
    snprintf(peer_url, sizeof peer_url, "%s://127.0.0.1:%d%s", scheme, r.port, path);
    struct gd a;
    gd_prepare(&a, "a-silent", test_dir);
    gd_arg(&a, "--peer", peer_url);
    gd_arg(&a, "--no-stream", NULL); /* only calls: the stream stops on its own flag */
    cr_assert(gd_start(&a), "A did not start; see %s", a.log);
    cr_assert(gd_push_lww(&a, "app", "w", 0, 1, 1)); /* a push waits for the peer too */
    sleep(3);
    double asked = now_s();
    cr_assert_eq(gd_stop(&a), 0, "%s: A's clean exit on SIGTERM", scheme);
    double took = now_s() - asked;
    printf("RESULT shutdown_silent_%s_peer_s=%.2f\n", scheme, took);
    fflush(stdout);
    refuser_stop(&r);
    cr_expect_lt(took, SHUTDOWN_BOUND_S, "%s: shutdown took %.1f s", scheme, took);
}

Test(integration_reconnect, shutdown_is_prompt_while_an_http_peer_never_answers)
{
    check_silent_peer("http", "/sync");
}

Test(integration_reconnect, shutdown_is_prompt_while_a_grpc_peer_never_answers)
{
    check_silent_peer("grpc", "");
}

Test(integration_reconnect, shutdown_is_prompt_while_an_nng_peer_never_answers)
{
    check_silent_peer("nng+tcp", "");
}
