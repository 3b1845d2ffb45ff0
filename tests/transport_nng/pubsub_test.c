/* Streams over nng's pub/sub with a subscriber that loses messages (the
 * transport's test hook discards every 3rd publish frame): every gap is
 * seen from the stamps and repaired with a pull, every change arrives
 * exactly once, and every batch follows on from the one before, so the
 * syncer moves its cursor with each. Writes to a table the subscriber does
 * not ask for are left out and open no gap. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>

#include "nng_internal.h"
#include "support/node.h"
#include "grove/transport_nng.h"
#include "grove/sys/error.h"

#define WRITES 90

struct sub {
    struct grove_peer *peer;
    atomic_bool stop;
    pthread_t thread;
    pthread_mutex_t lock;
    unsigned seen[WRITES]; /* how often each docs pk was handed on */
    size_t total;
    size_t foreign; /* changes of a table not asked for */
    bool contiguous;
    struct grove_hlc cursor;
    bool all_tables; /* subscribe with no tables: every table */
    grove_err result;
};

static grove_err on_batch(void *user, const struct grove_pull_response *batch)
{
    struct sub *s = user;
    pthread_mutex_lock(&s->lock);
    if (grove_hlc_compare(&batch->since, &s->cursor) != 0)
        s->contiguous = false;
    s->cursor = batch->latest_hlc;
    for (size_t i = 0; i < batch->count; i++) {
        unsigned n = 0;
        if (strcmp(batch->changes[i].table, "docs") != 0 ||
            sscanf(batch->changes[i].pk, "doc-%u", &n) != 1 || n >= WRITES) {
            s->foreign++;
            continue;
        }
        s->seen[n]++;
        s->total++;
    }
    pthread_mutex_unlock(&s->lock);
    return GROVE_OK;
}

static void *sub_main(void *arg)
{
    struct sub *s = arg;
    static const char *tables[] = {"docs"};
    struct grove_pull_request req = {
        .tables = tables, .table_count = s->all_tables ? 0 : 1, .node_id = "reader"};
    s->result = grove_peer_subscribe(s->peer, &req, on_batch, s, &s->stop);
    return NULL;
}

/* One change in its own push (so its own commit and batch). */
static void push_one(struct grove_peer *peer, const char *table, unsigned i)
{
    struct grove_push_request *req = NULL;
    cr_assert_eq(grove_push_request_new(&req), GROVE_OK);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    char pk[32];
    snprintf(pk, sizeof pk, "doc-%u", i);
    struct grove_change *c = grove_msg_alloc(req, sizeof *c);
    *c = (struct grove_change){.table = table,
                               .pk = grove_msg_strndup(req, pk, strlen(pk)),
                               .field = "title",
                               .crdt = GROVE_CRDT_LWW,
                               .node_id = "writer",
                               .value = {.ptr = "\"t\"", .len = 3}};
    c->hlc.ts = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    strcpy(c->hlc.node, "writer");
    req->changes = c;
    req->count = 1;
    req->node_id = "writer";
    struct grove_push_response *resp = NULL;
    grove_err err = grove_peer_push(peer, req, &resp);
    cr_assert_eq(err, GROVE_OK, "push: %s", grove_errmsg());
    grove_msg_free(resp);
    grove_msg_free(req);
}

static void run(const char *token, bool all_tables)
{
    grove_transport_register(grove_transport_nng());
    static const char *const tables[] = {"docs:title=lww", "other:title=lww", NULL};
    struct support_node n;
    support_node_start(
        &n, &(struct support_node_options){.tables = tables,
                                           .listen = &(struct grove_listen_options){.token = token},
                                           .url = "nng+tcp://127.0.0.1:%d"});
    struct grove_dial_options dial = {.token = token};
    struct grove_peer *writer = NULL;
    struct sub *s = calloc(1, sizeof *s);
    cr_assert_eq(grove_peer_open(&writer, n.url, &dial), GROVE_OK, "%s", grove_errmsg());
    cr_assert_eq(grove_peer_open(&s->peer, n.url, &dial), GROVE_OK, "%s", grove_errmsg());
    pthread_mutex_init(&s->lock, NULL);
    s->contiguous = true;
    s->all_tables = all_tables;
    atomic_init(&s->stop, false);
    atomic_store(&grove_nng_sub_drop_every, 3);
    atomic_store(&grove_nng_sub_repairs, 0);
    cr_assert_eq(pthread_create(&s->thread, NULL, sub_main, s), 0);
    /* The writes start as the subscription opens (the first may come
     * before it is up); a write to the other table after every fifth. */
    for (unsigned i = 0; i < WRITES; i++) {
        push_one(writer, "docs", i);
        if (i % 5 == 0)
            push_one(writer, "other", i);
        nanosleep(&(struct timespec){0, 3 * 1000000L}, NULL);
    }
    size_t total = 0;
    for (int waited = 0; waited < 20000 && total < WRITES; waited += 50) {
        nanosleep(&(struct timespec){0, 50 * 1000000L}, NULL);
        pthread_mutex_lock(&s->lock);
        total = s->total;
        pthread_mutex_unlock(&s->lock);
    }
    /* Long enough for a duplicate to show up, and for heartbeats. */
    nanosleep(&(struct timespec){2, 500 * 1000000L}, NULL);
    atomic_store(&s->stop, true);
    pthread_join(s->thread, NULL);
    atomic_store(&grove_nng_sub_drop_every, 0);
    cr_assert_eq(s->result, GROVE_OK, "subscribe: %s (%s)", grove_err_name(s->result),
                 grove_errmsg());
    for (unsigned i = 0; i < WRITES; i++)
        cr_assert_eq(s->seen[i], 1, "doc-%u handed on %u times", i, s->seen[i]);
    cr_assert_eq(s->total, WRITES);
    size_t others = all_tables ? (WRITES + 4) / 5 : 0; /* the writes to "other" */
    cr_assert_eq(s->foreign, others, "%zu changes of another table", s->foreign);
    cr_assert(s->contiguous, "a batch did not follow on from the one before");
    cr_assert_gt(atomic_load(&grove_nng_sub_repairs), 0, "no gap was repaired");
    grove_peer_close(s->peer);
    grove_peer_close(writer);
    pthread_mutex_destroy(&s->lock);
    free(s);
    support_node_stop(&n);
}

Test(transport_nng_pubsub, gaps_repaired_nothing_twice, .timeout = 120)
{
    run(NULL, false);
}

/* No tables named: every table's changes, each once. */
Test(transport_nng_pubsub, all_tables, .timeout = 120)
{
    run(NULL, true);
}

/* With a token the pub socket carries stamps only; every batch comes by an
 * authenticated pull. */
Test(transport_nng_pubsub, token_notices_pulled, .timeout = 120)
{
    run("s3cret", false);
}

/* The first frame with changes (or a notice) a raw sub socket at the pub
 * address receives after one write: its kind. */
static char pub_kind_after_write(const struct support_node *n, struct grove_peer *writer,
                                 unsigned i)
{
    struct grove_url u;
    char pub[512];
    cr_assert_eq(grove_url_parse(n->url, &u), GROVE_OK);
    cr_assert_eq(grove_nng_pub_address(&u, pub, sizeof pub), GROVE_OK);
    nng_socket sub;
    cr_assert_eq(nng_sub0_open(&sub), 0);
    cr_assert_eq(nng_socket_set(sub, NNG_OPT_SUB_SUBSCRIBE, "", 0), 0);
    cr_assert_eq(nng_socket_set_ms(sub, NNG_OPT_RECVTIMEO, 500), 0);
    cr_assert_eq(nng_dial(sub, pub, NULL, 0), 0, "dial %s", pub);
    char kind = 0;
    for (int tries = 0; tries < 40 && !kind; tries++) {
        push_one(writer, "docs", i); /* again each time: the sub may have joined late */
        char *buf = NULL;
        size_t len = 0;
        if (nng_recv(sub, &buf, &len, NNG_FLAG_ALLOC) != 0)
            continue;
        /* A heartbeat carries no change either way: wait for a frame that
         * answers a write. */
        bool beat = len > 0 && buf[0] == NNGT_PUB_BATCH && !memmem(buf, len, "doc-", 4);
        if (len > 0 && !beat)
            kind = buf[0];
        nng_free(buf, len);
    }
    nng_close(sub);
    return kind;
}

/* A reload that adds a token (or identities) turns the pub socket to
 * notices at once: no change goes to an unauthenticated subscriber. */
Test(transport_nng_pubsub, a_reload_to_a_token_turns_to_notices, .timeout = 120)
{
    grove_transport_register(grove_transport_nng());
    static const char *const tables[] = {"docs:title=lww", NULL};
    struct support_node n;
    support_node_start(&n, &(struct support_node_options){.tables = tables,
                                                          .url = "nng+tcp://127.0.0.1:%d"});
    struct grove_peer *open_writer = NULL, *writer = NULL;
    cr_assert_eq(grove_peer_open(&open_writer, n.url, NULL), GROVE_OK);
    cr_assert_eq(pub_kind_after_write(&n, open_writer, 1), NNGT_PUB_BATCH, "open: whole batches");
    grove_peer_close(open_writer);
    cr_assert_eq(grove_listener_set_tokens(n.node.listeners[0], "s3cret", NULL), GROVE_OK);
    cr_assert_eq(grove_peer_open(&writer, n.url, &(struct grove_dial_options){.token = "s3cret"}),
                 GROVE_OK);
    cr_assert_eq(pub_kind_after_write(&n, writer, 2), NNGT_PUB_NOTICE, "after the reload");
    grove_peer_close(writer);
    support_node_stop(&n);
}
