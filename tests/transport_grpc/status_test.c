/* The gRPC transport end to end against a real core server: exact values,
 * status codes mapped both ways, auth, TLS, deadlines, streams and shutdown. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "grove/client.h"
#include "grove/codec.h"
#include "grove/store.h"
#include "grpc_fixture.h"

#define VALUE "{\"a\":1,\"b\":[true,null]}"
#define TS    1706000001000000123

static void make_push(struct grove_push_request **out, const char *table, size_t count)
{
    cr_assert_eq(grove_push_request_new(out), GROVE_OK);
    struct grove_push_request *req = *out;
    req->changes = grove_msg_alloc(req, count * sizeof *req->changes);
    for (size_t i = 0; i < count; i++) {
        struct grove_change *c = &req->changes[i];
        char pk[32];
        snprintf(pk, sizeof pk, "doc-%zu", i);
        c->table = table;
        c->pk = grove_msg_strndup(req, pk, strlen(pk));
        c->field = "meta";
        c->crdt = GROVE_CRDT_LWW;
        c->hlc.ts = TS + (int64_t)i;
        grove_hlc_set_node(&c->hlc, "client");
        c->node_id = "client";
        c->value.ptr = VALUE;
        c->value.len = strlen(VALUE);
    }
    req->count = count;
    req->node_id = "client";
}

static grove_err push(struct grove_peer *peer, const char *table, size_t count)
{
    struct grove_push_request *req;
    struct grove_push_response *resp = NULL;
    make_push(&req, table, count);
    grove_err err = grove_peer_push(peer, req, &resp);
    cr_assert(err ? resp == NULL : resp != NULL);
    grove_msg_free(req);
    grove_msg_free(resp);
    return err;
}

static grove_err pull(struct grove_peer *peer, const char *table, struct grove_pull_response **out)
{
    struct grove_pull_request *req;
    cr_assert_eq(grove_pull_request_new(&req), GROVE_OK);
    const char *tables[] = {table};
    req->tables = tables;
    req->table_count = 1;
    req->node_id = "other";
    grove_err err = grove_peer_pull(peer, req, out);
    grove_msg_free(req);
    return err;
}

static struct grove_peer *dial(const char *url, const struct grove_dial_options *opts)
{
    struct grove_peer *peer = NULL;
    cr_assert_eq(grove_peer_open(&peer, url, opts), GROVE_OK, "%s", grove_errmsg());
    return peer;
}

Test(transport_grpc_status, push_pull_exact_values)
{
    struct grpc_node n;
    grpc_node_start(&n, "grpc", NULL, NULL);
    struct grove_peer *peer = dial(n.url, NULL);
    cr_assert_eq(push(peer, "documents", 3), GROVE_OK, "%s", grove_errmsg());
    struct grove_pull_response *resp = NULL;
    cr_assert_eq(pull(peer, "documents", &resp), GROVE_OK, "%s", grove_errmsg());
    cr_assert_eq(resp->count, 3, "count %zu latest %lld", resp->count,
                 (long long)resp->latest_hlc.ts);
    cr_assert_eq(resp->changes[0].hlc.ts, TS);
    cr_assert_eq(resp->changes[2].hlc.ts, TS + 2);
    cr_assert_str_eq(resp->changes[0].hlc.node, "client");
    cr_assert_eq(resp->changes[0].value.len, strlen(VALUE));
    cr_assert(memcmp(resp->changes[0].value.ptr, VALUE, strlen(VALUE)) == 0);
    cr_assert(!grove_hlc_is_zero(&resp->latest_hlc));
    grove_msg_free(resp);
    grove_peer_close(peer);
    grpc_node_stop(&n);
}

Test(transport_grpc_status, bearer_token_required)
{
    struct grpc_node n;
    struct grove_listen_options lo = {.token = "s3cret"};
    grpc_node_start(&n, "grpc", &lo, NULL);
    struct grove_peer *none = dial(n.url, NULL);
    struct grove_peer *wrong = dial(n.url, &(struct grove_dial_options){.token = "s3cre"});
    struct grove_peer *right = dial(n.url, &(struct grove_dial_options){.token = "s3cret"});
    cr_assert_eq(push(none, "documents", 1), GROVE_EAUTH, "%s", grove_errmsg());
    cr_assert(strstr(grove_errmsg(), "UNAUTHENTICATED"), "%s", grove_errmsg());
    cr_assert_eq(push(wrong, "documents", 1), GROVE_EAUTH, "%s", grove_errmsg());
    cr_assert_eq(push(right, "documents", 1), GROVE_OK, "%s", grove_errmsg());
    char details[256];
    cr_assert_eq(grpc_fixture_raw_call(n.url, "/grove.sync.v1.Sync/Pull", "", 0, NULL, details,
                                       sizeof details),
                 16 /* UNAUTHENTICATED */);
    grove_peer_close(none);
    grove_peer_close(wrong);
    grove_peer_close(right);
    grpc_node_stop(&n);
}

Test(transport_grpc_status, undeclared_table_is_permission_denied)
{
    struct grpc_node n;
    grpc_node_start(&n, "grpc", NULL, NULL);
    struct grove_peer *peer = dial(n.url, NULL);
    cr_assert_eq(push(peer, "secrets", 1), GROVE_EFORBIDDEN, "%s", grove_errmsg());
    cr_assert(strstr(grove_errmsg(), "PERMISSION_DENIED"), "%s", grove_errmsg());
    struct grove_pull_response *resp = NULL;
    cr_assert_eq(pull(peer, "secrets", &resp), GROVE_EFORBIDDEN, "%s", grove_errmsg());
    cr_assert_null(resp);
    grove_peer_close(peer);
    grpc_node_stop(&n);
}

Test(transport_grpc_status, bad_bytes_are_invalid_argument)
{
    struct grpc_node n;
    grpc_node_start(&n, "grpc", NULL, NULL);
    char details[512];
    static const char junk[] = "\x0a\xff\xff\xff\xff\x0f";
    cr_assert_eq(grpc_fixture_raw_call(n.url, "/grove.sync.v1.Sync/Push", junk, sizeof junk - 1,
                                       NULL, details, sizeof details),
                 3 /* INVALID_ARGUMENT */);
    cr_assert(strstr(details, "malformed protobuf"), "%s", details);
    /* Well-formed protobuf, invalid JSON value: the codec's located message. */
    static const char bad_value[] = "\x0a\x1c"
                                    "\x0a\x09"
                                    "documents"
                                    "\x12\x01"
                                    "d"
                                    "\x1a\x01"
                                    "t"
                                    "\x22\x03"
                                    "lww"
                                    "\x2a\x00"
                                    "\x3a\x02"
                                    "{]";
    cr_assert_eq(grpc_fixture_raw_call(n.url, "/grove.sync.v1.Sync/Push", bad_value,
                                       sizeof bad_value - 1, NULL, details, sizeof details),
                 3);
    cr_assert(strstr(details, "changes[0].value"), "%s", details);
    cr_assert_eq(grpc_fixture_raw_call(n.url, "/grove.sync.v1.Sync/Nope", "", 0, NULL, details,
                                       sizeof details),
                 12 /* UNIMPLEMENTED */);
    grpc_node_stop(&n);
}

Test(transport_grpc_status, oversize_is_resource_exhausted)
{
    struct grpc_node n;
    struct grove_listen_options lo = {.max_body = 4096};
    grpc_node_start(&n, "grpc", &lo, NULL);
    struct grove_peer *peer = dial(n.url, NULL);
    cr_assert_eq(push(peer, "documents", 200), GROVE_ETOOBIG, "%s", grove_errmsg());
    cr_assert_eq(push(peer, "documents", 2), GROVE_OK, "%s", grove_errmsg());
    grove_peer_close(peer);
    grpc_node_stop(&n);
}

static grove_err slow_hook(void *user, const struct grove_hook_context *ctx,
                           struct grove_change *change, bool *skip)
{
    (void)ctx;
    (void)change;
    (void)skip;
    usleep((useconds_t)(intptr_t)user * 1000);
    return GROVE_OK;
}

Test(transport_grpc_status, deadline_is_etimeout)
{
    struct grove_hook hook = {.before_inbound = slow_hook, .user = (void *)(intptr_t)1500};
    struct grove_hook_chain chain = {.hooks = &hook, .count = 1};
    struct grpc_node n;
    grpc_node_start(&n, "grpc", NULL, &chain);
    struct grove_peer *peer = dial(n.url, &(struct grove_dial_options){.timeout_ms = 200});
    cr_assert_eq(push(peer, "documents", 1), GROVE_ETIMEOUT, "%s", grove_errmsg());
    cr_assert(strstr(grove_errmsg(), "DEADLINE_EXCEEDED"), "%s", grove_errmsg());
    grove_peer_close(peer);
    grpc_node_stop(&n);
}

Test(transport_grpc_status, refused_is_eunavail)
{
    grpc_fixture_register();
    char url[64];
    snprintf(url, sizeof url, "grpc://127.0.0.1:%d", grpc_fixture_free_port());
    struct grove_peer *peer = dial(url, NULL);
    cr_assert_eq(push(peer, "documents", 1), GROVE_EUNAVAIL, "%s", grove_errmsg());
    cr_assert(grove_err_retryable(GROVE_EUNAVAIL));
    grove_peer_close(peer);
}

Test(transport_grpc_status, port_in_use_is_eunavail)
{
    struct grpc_node n;
    grpc_node_start(&n, "grpc", NULL, NULL);
    struct grove_listener *second = NULL;
    cr_assert_eq(grove_listener_open(&second, n.url, n.node.server, NULL), GROVE_EUNAVAIL);
    cr_assert_null(second);
    grpc_node_stop(&n);
}

/* Several calls in flight at once: each push waits 300 ms in a hook, eight
 * run together; all must succeed. */
struct pusher {
    const char *url;
    grove_err err;
    char errmsg[512]; /* grove_errmsg() is per thread */
};

static void *pusher_main(void *arg)
{
    struct pusher *p = arg;
    struct grove_peer *peer = NULL;
    p->err = grove_peer_open(&peer, p->url, NULL);
    if (!p->err)
        p->err = push(peer, "documents", 1);
    if (p->err)
        snprintf(p->errmsg, sizeof p->errmsg, "%s", grove_errmsg());
    grove_peer_close(peer);
    return NULL;
}

Test(transport_grpc_status, concurrent_calls)
{
    struct grove_hook hook = {.before_inbound = slow_hook, .user = (void *)(intptr_t)300};
    struct grove_hook_chain chain = {.hooks = &hook, .count = 1};
    struct grpc_node n;
    grpc_node_start(&n, "grpc", NULL, &chain);
    pthread_t t[8];
    struct pusher p[8];
    for (int i = 0; i < 8; i++) {
        p[i] = (struct pusher){.url = n.url};
        pthread_create(&t[i], NULL, pusher_main, &p[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(p[i].err, GROVE_OK, "push %d: %s: %s", i, grove_err_name(p[i].err),
                     p[i].errmsg);
    }
    grpc_node_stop(&n);
}

/* A served node behind a TCP relay on a port of its own: the relay resets
 * the first connection, as a failed connection attempt ends, and relays
 * the next. */
struct relay {
    struct grpc_node node;
    char url[64]; /* the relay's */
    int listener, port, target;
    atomic_bool stop;
    pthread_t thread;
};

/* Copies what one side has to the other; false once either is done. */
static bool relay_copy(int from, int to)
{
    char buf[16384];
    ssize_t n = read(from, buf, sizeof buf);
    for (ssize_t sent = 0; n > 0 && sent < n;) {
        ssize_t k = write(to, buf + sent, (size_t)(n - sent));
        if (k <= 0)
            return false;
        sent += k;
    }
    return n > 0;
}

static void *relay_main(void *arg)
{
    struct relay *r = arg;
    for (int accepted = 0; !atomic_load(&r->stop);) {
        struct pollfd p = {.fd = r->listener, .events = POLLIN};
        if (poll(&p, 1, 50) != 1)
            continue;
        int client = accept(r->listener, NULL, NULL);
        if (client < 0)
            continue;
        if (accepted++ == 0) {
            struct linger reset = {.l_onoff = 1, .l_linger = 0};
            setsockopt(client, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
            close(client);
            continue;
        }
        int server = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in to = {.sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)r->target),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        bool open = server >= 0 && connect(server, (struct sockaddr *)&to, sizeof to) == 0;
        while (open && !atomic_load(&r->stop)) {
            struct pollfd both[] = {{.fd = client, .events = POLLIN},
                                    {.fd = server, .events = POLLIN}};
            if (poll(both, 2, 50) <= 0)
                continue;
            open = (!both[0].revents || relay_copy(client, server)) &&
                   (!both[1].revents || relay_copy(server, client));
        }
        if (server >= 0)
            close(server);
        close(client);
    }
    return NULL;
}

static void relay_start(struct relay *r)
{
    *r = (struct relay){0};
    grpc_node_start(&r->node, "grpc", NULL, NULL);
    r->listener = grpc_fixture_silent_open(&r->port);
    cr_assert_eq(sscanf(r->node.url, "grpc://127.0.0.1:%d", &r->target), 1, "%s", r->node.url);
    pthread_create(&r->thread, NULL, relay_main, r);
    snprintf(r->url, sizeof r->url, "grpc://127.0.0.1:%d", r->port);
}

static void relay_stop(struct relay *r)
{
    atomic_store(&r->stop, true);
    pthread_join(r->thread, NULL);
    close(r->listener);
    grpc_node_stop(&r->node);
}

/* The channel's first connection attempt is reset, as libgrpc sometimes
 * reports a sound one failed: a sync call waits for the next attempt
 * instead of failing. */
Test(transport_grpc_status, a_call_after_a_failed_connection_attempt_is_made_again)
{
    struct relay r;
    relay_start(&r);
    struct grove_peer *peer = dial(r.url, NULL);
    grove_err err = push(peer, "documents", 1);
    cr_expect_eq(err, GROVE_OK, "%s: %s", grove_err_name(err), err ? grove_errmsg() : "");
    grove_peer_close(peer);
    relay_stop(&r);
}

#ifdef GROVE_TEST_CLIENT
/* The same for a Data API call of the client library. */
Test(transport_grpc_status, a_data_call_after_a_failed_connection_attempt_is_made_again)
{
    struct relay r;
    relay_start(&r);
    struct grove_client *client = NULL;
    cr_assert_eq(grove_client_open(&client, r.url, NULL), GROVE_OK, "%s", grove_errmsg());
    char *row = NULL;
    grove_err err = grove_client_get(client, "documents", "absent", &row);
    cr_expect_eq(err, GROVE_ENOTFOUND, "%s: %s", grove_err_name(err), err ? grove_errmsg() : "");
    free(row);
    grove_client_close(client);
    relay_stop(&r);
}
#endif

/* -- streams -- */

struct sub {
    struct grove_peer *peer;
    atomic_bool stop;
    atomic_int batches;
    atomic_int changes;
    int64_t first_ts;
    grove_err err;
    pthread_t thread;
};

static grove_err sub_batch(void *user, const struct grove_pull_response *batch)
{
    struct sub *s = user;
    if (batch->count && atomic_load(&s->changes) == 0)
        s->first_ts = batch->changes[0].hlc.ts;
    atomic_fetch_add(&s->changes, (int)batch->count);
    atomic_fetch_add(&s->batches, 1);
    return GROVE_OK;
}

static void *sub_main(void *arg)
{
    struct sub *s = arg;
    struct grove_pull_request *req;
    grove_pull_request_new(&req);
    const char *tables[] = {"documents"};
    req->tables = tables;
    req->table_count = 1;
    req->node_id = "watcher";
    s->err = grove_peer_subscribe(s->peer, req, sub_batch, s, &s->stop);
    grove_msg_free(req);
    return NULL;
}

static void wait_changes(struct sub *s, int want)
{
    for (int i = 0; i < 3000 && atomic_load(&s->changes) < want; i++)
        usleep(10000);
    cr_assert_geq(atomic_load(&s->changes), want);
}

Test(transport_grpc_status, stream_delivers_and_stops)
{
    struct grpc_node n;
    grpc_node_start(&n, "grpc", NULL, NULL);
    struct sub s = {.peer = dial(n.url, NULL)};
    cr_assert(grove_peer_can_subscribe(s.peer));
    pthread_create(&s.thread, NULL, sub_main, &s);
    struct grove_peer *writer = dial(n.url, NULL);
    cr_assert_eq(push(writer, "documents", 2), GROVE_OK, "%s", grove_errmsg());
    wait_changes(&s, 2);
    cr_assert_eq(s.first_ts, TS);
    atomic_store(&s.stop, true);
    pthread_join(s.thread, NULL);
    cr_assert_eq(s.err, GROVE_OK, "%s", grove_err_name(s.err));
    grove_peer_close(writer);
    grove_peer_close(s.peer);
    grpc_node_stop(&n);
}

Test(transport_grpc_status, listener_close_ends_open_streams)
{
    struct grpc_node n;
    grpc_node_start(&n, "grpc", NULL, NULL);
    struct sub s = {.peer = dial(n.url, NULL)};
    pthread_create(&s.thread, NULL, sub_main, &s);
    struct grove_peer *writer = dial(n.url, NULL);
    cr_assert_eq(push(writer, "documents", 1), GROVE_OK);
    wait_changes(&s, 1);
    /* Without grove_server_shutdown first: must not hang on the open stream. */
    grove_listener_close(n.node.listeners[0]);
    n.node.listeners[0] = NULL;
    pthread_join(s.thread, NULL);
    cr_assert(s.err == GROVE_EUNAVAIL || s.err == GROVE_ESHUTDOWN, "%s", grove_err_name(s.err));
    grove_peer_close(writer);
    grove_peer_close(s.peer);
    grpc_node_stop(&n);
}

/* -- TLS -- */

Test(transport_grpc_status, tls_with_ca)
{
    const struct grpc_fixture_tls *t = grpc_fixture_tls();
    struct grove_listen_options lo = {.cert_file = t->cert, .key_file = t->key};
    struct grpc_node n;
    grpc_node_start(&n, "grpcs", &lo, NULL);
    struct grove_peer *trusted = dial(n.url, &(struct grove_dial_options){.ca_file = t->ca});
    cr_assert_eq(push(trusted, "documents", 1), GROVE_OK, "%s", grove_errmsg());
    /* System CAs do not know our test CA. */
    struct grove_peer *untrusted = dial(n.url, &(struct grove_dial_options){.timeout_ms = 3000});
    cr_assert_eq(push(untrusted, "documents", 1), GROVE_EUNAVAIL, "%s", grove_errmsg());
    struct grove_peer *insecure = dial(n.url, &(struct grove_dial_options){.insecure = true});
    cr_assert_eq(push(insecure, "documents", 1), GROVE_OK, "%s", grove_errmsg());
    /* Plain gRPC to a TLS port fails too. */
    char plain[sizeof n.url + 32];
    /* The precision bounds the copy to n.url for the compiler's truncation check. */
    snprintf(plain, sizeof plain, "grpc%.*s", (int)sizeof n.url, n.url + strlen("grpcs"));
    struct grove_peer *clear = dial(plain, &(struct grove_dial_options){.timeout_ms = 3000});
    cr_assert_neq(push(clear, "documents", 1), GROVE_OK);
    grove_peer_close(trusted);
    grove_peer_close(untrusted);
    grove_peer_close(insecure);
    grove_peer_close(clear);
    grpc_node_stop(&n);
}

Test(transport_grpc_status, tls_client_certificates)
{
    const struct grpc_fixture_tls *t = grpc_fixture_tls();
    struct grove_listen_options lo = {.cert_file = t->cert, .key_file = t->key, .ca_file = t->ca};
    struct grpc_node n;
    grpc_node_start(&n, "grpcs", &lo, NULL);
    struct grove_peer *anon =
        dial(n.url, &(struct grove_dial_options){.ca_file = t->ca, .timeout_ms = 3000});
    cr_assert_neq(push(anon, "documents", 1), GROVE_OK);
    struct grove_peer *client =
        dial(n.url, &(struct grove_dial_options){
                        .ca_file = t->ca, .cert_file = t->client_cert, .key_file = t->client_key});
    cr_assert_eq(push(client, "documents", 1), GROVE_OK, "%s", grove_errmsg());
    grove_peer_close(anon);
    grove_peer_close(client);
    grpc_node_stop(&n);
}

/* Raw protobuf of a one-change push whose pk and table are given with an
 * 'X' where the caller wants a NUL byte (protobuf strings may hold one). */
static void raw_push_with_nul(struct grove_buf *out, const char *table, const char *pk)
{
    struct grove_push_request *req;
    make_push(&req, table, 1);
    req->changes[0].pk = pk;
    cr_assert_eq(grove_codec_protobuf.encode_push_request(req, out), GROVE_OK);
    grove_msg_free(req);
    for (size_t i = 0; i < out->len; i++)
        if (out->data[i] == 'X')
            out->data[i] = '\0';
}

static size_t stored_rows(struct grpc_node *n, const char *table)
{
    struct grove_peer *peer = dial(n->url, NULL);
    struct grove_pull_response *resp = NULL;
    cr_assert_eq(pull(peer, table, &resp), GROVE_OK, "%s", grove_errmsg());
    size_t count = resp->count;
    grove_msg_free(resp);
    grove_peer_close(peer);
    return count;
}

/* protobuf-c hands strings over as C strings: "nul\0tail" would be stored as
 * "nul", and "documentsX..." would pass the declared-table check as
 * "documents". Both are refused, as HTTP refuses them. */
Test(transport_grpc_status, strings_with_nul_are_invalid_argument)
{
    struct grpc_node n;
    grpc_node_start(&n, "grpc", NULL, NULL);
    char details[512];
    struct grove_buf bytes = {0};
    raw_push_with_nul(&bytes, "documents", "nulXtail");
    cr_assert_eq(grpc_fixture_raw_call(n.url, "/grove.sync.v1.Sync/Push", bytes.data, bytes.len,
                                       NULL, details, sizeof details),
                 3 /* INVALID_ARGUMENT */);
    cr_expect(strstr(details, "changes[0].pk: contains a NUL byte"), "%s", details);
    bytes.len = 0;
    raw_push_with_nul(&bytes, "documentsXx", "doc");
    cr_assert_eq(grpc_fixture_raw_call(n.url, "/grove.sync.v1.Sync/Push", bytes.data, bytes.len,
                                       NULL, details, sizeof details),
                 3);
    cr_expect(strstr(details, "changes[0].table: contains a NUL byte"), "%s", details);
    grove_buf_free(&bytes);
    cr_expect_eq(stored_rows(&n, "documents"), 0, "nothing of either push was stored");
    grpc_node_stop(&n);
}

/* The checks every codec runs: the same refusals as over HTTP. */
Test(transport_grpc_status, the_core_checks_apply_to_protobuf_too)
{
    struct grpc_node n;
    grpc_node_start(&n, "grpc", NULL, NULL);
    char details[512];
    struct grove_buf bytes = {0};
    struct grove_pull_request pull_req = {.node_id = "me", .since = {.ts = -1}};
    cr_assert_eq(grove_codec_protobuf.encode_pull_request(&pull_req, &bytes), GROVE_OK);
    cr_assert_eq(grpc_fixture_raw_call(n.url, "/grove.sync.v1.Sync/Pull", bytes.data, bytes.len,
                                       NULL, details, sizeof details),
                 3);
    cr_expect(strstr(details, "since.ts: negative"), "%s", details);
    static const char *const bad_ids[] = {
        "", "0123456789012345678901234567890123456789012345678901234567890123"};
    for (size_t i = 0; i < 2; i++) {
        struct grove_push_request *req;
        make_push(&req, "documents", 1);
        req->node_id = bad_ids[i];
        bytes.len = 0;
        cr_assert_eq(grove_codec_protobuf.encode_push_request(req, &bytes), GROVE_OK);
        grove_msg_free(req);
        cr_assert_eq(grpc_fixture_raw_call(n.url, "/grove.sync.v1.Sync/Push", bytes.data, bytes.len,
                                           NULL, details, sizeof details),
                     3, "node_id of %zu bytes", strlen(bad_ids[i]));
        cr_expect(strstr(details, "node_id: must be 1 to 63 bytes"), "%s", details);
    }
    grove_buf_free(&bytes);
    cr_expect_eq(stored_rows(&n, "documents"), 0);
    grpc_node_stop(&n);
}
