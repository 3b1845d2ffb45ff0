/* Subscriptions that end while batches are arriving: a writer commits as
 * fast as it can, so the listener publishes all the time, and a subscriber
 * opens, takes one batch and closes, 400 times. nng 1.5.2 can hang for good
 * closing a socket whose connection is in the middle of a read
 * (transport_nng/nng_quiet.h says how and what groved does about it); that
 * shows here as the timeout: without the quiet close, each of 4 runs hung.
 * Over TLS the listener's side of the same flaw (a subscriber leaving in the
 * middle of a frame sent to it) makes such a test hang at times whatever
 * the client does, so it runs over tcp. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "grove/sys/error.h"
#include "grove/transport_nng.h"
#include "support/node.h"
#include "support/tmpdir.h"

#define SUBSCRIPTIONS 400

struct writer {
    struct grove_peer *peer;
    atomic_bool stop;
    unsigned pushed;
    char message[256]; /* the last push's error */
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    while (!atomic_load(&w->stop)) {
        struct grove_push_request *req = NULL;
        if (grove_push_request_new(&req))
            return NULL;
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        char pk[32];
        snprintf(pk, sizeof pk, "doc-%u", w->pushed % 100);
        struct grove_change *c = grove_msg_alloc(req, sizeof *c);
        *c = (struct grove_change){
            .table = "docs",
            .pk = pk,
            .field = "title",
            .crdt = GROVE_CRDT_LWW,
            .node_id = "writer",
            .value = {.ptr = "\"x\"", .len = 3},
            .hlc = {.ts = now.tv_sec * 1000000000LL + now.tv_nsec, .node = "writer"}};
        req->node_id = "writer";
        req->changes = c;
        req->count = 1;
        struct grove_push_response *resp = NULL;
        if (grove_peer_push(w->peer, req, &resp))
            snprintf(w->message, sizeof w->message, "%s", grove_errmsg());
        else
            w->pushed++;
        grove_msg_free(resp);
        grove_msg_free(req);
    }
    return NULL;
}

static grove_err stop_after_one(void *user, const struct grove_pull_response *batch)
{
    (void)batch;
    atomic_store((atomic_bool *)user, true);
    return GROVE_OK;
}

#if defined(__SANITIZE_ADDRESS__)
#define CLOSE_TEST_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CLOSE_TEST_UNDER_ASAN 1
#endif
#endif

Test(transport_nng_close, subscriptions_end_while_batches_arrive, .timeout = 120)
{
#ifdef CLOSE_TEST_UNDER_ASAN
    /* Hundreds of subscribers leaving while the listener publishes make nng
     * 1.5.2 lose publish messages queued for them (a send refused after a
     * pipe's close does not free its message; fixed in nng 1.6), which
     * LeakSanitizer reports at exit. */
    cr_skip_test("nng 1.5.2 leaks messages published to leaving subscribers");
#endif
    grove_transport_register(grove_transport_nng());
    static const char *const tables[] = {"docs:title=lww", NULL};
    const char *dir = support_tmpdir_new("close");
    struct support_node n;
    support_node_start(&n, &(struct support_node_options){
                               .tables = tables, .url = "nng+tcp://127.0.0.1:%d", .dir = dir});
    struct writer w = {.stop = false};
    cr_assert_eq(grove_peer_open(&w.peer, n.url, NULL), GROVE_OK, "%s", grove_errmsg());
    pthread_t thread;
    cr_assert_eq(pthread_create(&thread, NULL, writer_main, &w), 0);
    static const char *sub_tables[] = {"docs"};
    for (int i = 0; i < SUBSCRIPTIONS; i++) {
        struct grove_peer *sub = NULL;
        cr_assert_eq(grove_peer_open(&sub, n.url, NULL), GROVE_OK, "%s", grove_errmsg());
        struct grove_pull_request req = {.tables = sub_tables, .table_count = 1, .node_id = "r"};
        grove_store_latest(n.node.store, &req.since); /* only what is published from now */
        atomic_bool stop = false;
        grove_err err = grove_peer_subscribe(sub, &req, stop_after_one, &stop, &stop);
        cr_assert_eq(err, GROVE_OK, "subscription %d: %s", i, grove_errmsg());
        grove_peer_close(sub);
    }
    atomic_store(&w.stop, true);
    pthread_join(thread, NULL);
    cr_assert_gt(w.pushed, 0, "the writer's pushes failed: %s", w.message);
    grove_peer_close(w.peer);
    support_node_stop(&n);
    support_tmpdir_remove(dir);
}
