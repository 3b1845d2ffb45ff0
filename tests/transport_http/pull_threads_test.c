/* Pulls on the server's read threads over HTTP (transport_http/http_pull.c):
 * the connection is suspended while its page is read, so a node that stops
 * with pulls in flight must resume every one of them before libmicrohttpd
 * stops (which aborts the process if it finds one suspended), and stop. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#include "grove/transport.h"
#include "transport_http/http_fixture.h"

struct puller {
    const char *url;
    atomic_bool *stop;
    atomic_int pages, errors;
};

static void *puller_main(void *arg)
{
    struct puller *p = arg;
    struct grove_peer *peer = NULL;
    if (grove_peer_open(&peer, p->url, NULL) != GROVE_OK)
        return NULL;
    while (!atomic_load(p->stop)) {
        struct grove_pull_request *req = NULL;
        if (grove_pull_request_new(&req) != GROVE_OK)
            break;
        req->node_id = "puller";
        struct grove_pull_response *resp = NULL;
        grove_err err = grove_peer_pull(peer, req, &resp);
        grove_msg_free(req);
        grove_msg_free(resp);
        atomic_fetch_add(err ? &p->errors : &p->pages, 1); /* errors: the node stopped */
    }
    grove_peer_close(peer);
    return NULL;
}

Test(transport_http_pull_threads, a_node_stops_with_pulls_in_flight, .timeout = 60)
{
    enum { ROWS = 3000, PULLERS = 8 };
    struct http_node n;
    http_node_start(&n, NULL);
    for (int i = 0; i < ROWS; i++) {
        char pk[32];
        snprintf(pk, sizeof pk, "row-%05d", i);
        cr_assert_eq(grove_store_set(n.node.store, "docs", pk, "title", "\"a title\"", 9),
                     GROVE_OK, "%s", grove_errmsg());
    }
    atomic_bool stop = false;
    struct puller pullers[PULLERS];
    pthread_t threads[PULLERS];
    for (int i = 0; i < PULLERS; i++) {
        pullers[i] = (struct puller){.url = n.url, .stop = &stop};
        atomic_init(&pullers[i].pages, 0);
        atomic_init(&pullers[i].errors, 0);
        cr_assert_eq(pthread_create(&threads[i], NULL, puller_main, &pullers[i]), 0);
    }
    /* Until every puller has had pages: reads are in flight from then on. */
    for (int tries = 0; tries < 1000; tries++) {
        int ready = 0;
        for (int i = 0; i < PULLERS; i++)
            ready += atomic_load(&pullers[i].pages) > 2;
        if (ready == PULLERS)
            break;
        usleep(10000);
    }
    http_node_stop(&n); /* returns: nothing was left suspended */
    atomic_store(&stop, true);
    int pages = 0;
    for (int i = 0; i < PULLERS; i++) {
        pthread_join(threads[i], NULL);
        pages += atomic_load(&pullers[i].pages);
    }
    cr_assert_gt(pages, PULLERS * 2, "the pullers had pages before the stop");
}
