/* The transport conformance cases (see conformance.h). */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conformance/conformance.h"
#include "conformance/conformance_support.h"
#include "support/node.h"

#define CONF_WAIT_S 20 /* bound on waiting for streamed changes */

void conf_node_start(struct support_node *n, const struct conformance_fixture *f,
                     const struct grove_listen_options *extra)
{
    static const char *const tables[] = {CONF_TABLES, CONF_OTHER_TABLE, NULL};
    struct grove_listen_options lo = {0};
    if (f->listen)
        lo = *f->listen;
    if (extra) {
        if (extra->token)
            lo.token = extra->token;
        if (extra->max_body)
            lo.max_body = extra->max_body;
        if (extra->keepalive_ms)
            lo.keepalive_ms = extra->keepalive_ms;
        if (extra->access)
            lo.access = extra->access;
        if (extra->ca_file)
            lo.ca_file = extra->ca_file;
    }
    support_node_start(n, &(struct support_node_options){
                              .tables = tables, .listen = &lo, .url_fn = f->listen_url});
}

struct grove_peer *conf_dial(const struct conformance_fixture *f, const char *url,
                             const char *token, int timeout_ms)
{
    struct grove_dial_options d = {0};
    if (f->dial)
        d = *f->dial;
    if (token)
        d.token = token;
    if (timeout_ms)
        d.timeout_ms = timeout_ms;
    struct grove_peer *peer = NULL;
    cr_assert_eq(grove_peer_open(&peer, url, &d), GROVE_OK, "dial %s: %s", url, grove_errmsg());
    return peer;
}

void conf_setup(const struct conformance_fixture *f)
{
    if (f->setup)
        f->setup();
}

static int64_t conf_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct grove_push_request *conf_push_lww(size_t first, size_t n, size_t value_pad)
{
    struct grove_push_request *req = NULL;
    cr_assert_eq(grove_push_request_new(&req), GROVE_OK);
    req->node_id = "client";
    req->changes = grove_msg_alloc(req, n * sizeof *req->changes);
    cr_assert(n == 0 || req->changes);
    int64_t now = conf_now_ns();
    char *pad = malloc(value_pad + 1);
    memset(pad, 'x', value_pad);
    pad[value_pad] = '\0';
    for (size_t i = 0; i < n; i++) {
        struct grove_change *c = &req->changes[i];
        char pk[32], value[64];
        snprintf(pk, sizeof pk, "doc-%08zu", first + i);
        int vlen = snprintf(value, sizeof value, "\"title %zu ", first + i);
        char *v = grove_msg_alloc(req, (size_t)vlen + value_pad + 2);
        memcpy(v, value, (size_t)vlen);
        memcpy(v + vlen, pad, value_pad);
        memcpy(v + vlen + value_pad, "\"", 2);
        c->table = "docs";
        c->pk = grove_msg_strndup(req, pk, strlen(pk));
        c->field = "title";
        c->crdt = GROVE_CRDT_LWW;
        c->hlc.ts = now;
        c->hlc.c = (uint32_t)i;
        strcpy(c->hlc.node, "client");
        c->node_id = "client";
        c->value.ptr = v;
        c->value.len = strlen(v);
    }
    free(pad);
    req->count = n;
    return req;
}

static void conf_push_ok(struct grove_peer *peer, struct grove_push_request *req, uint64_t merged)
{
    struct grove_push_response *resp = NULL;
    grove_err err = grove_peer_push(peer, req, &resp);
    cr_assert_eq(err, GROVE_OK, "push: %s (%s)", grove_err_name(err), grove_errmsg());
    cr_assert_eq(resp->merged, merged, "merged %" PRIu64 ", want %" PRIu64, resp->merged, merged);
    cr_assert(!grove_hlc_is_zero(&resp->latest_hlc));
    grove_msg_free(resp);
}

/* Pushes rows first..first+n-1 (conf_push_lww) and asserts all n merged. */
static void conf_push_rows(struct grove_peer *peer, size_t first, size_t n)
{
    struct grove_push_request *req = conf_push_lww(first, n, 0);
    conf_push_ok(peer, req, n);
    grove_msg_free(req);
}

struct grove_pull_response *conf_pull(struct grove_peer *peer, const struct grove_hlc *since,
                                      uint32_t limit)
{
    struct grove_pull_request *req = NULL;
    cr_assert_eq(grove_pull_request_new(&req), GROVE_OK);
    static const char *tables[] = {"docs"};
    req->tables = tables;
    req->table_count = 1;
    req->node_id = "reader";
    req->limit = limit;
    if (since)
        req->since = *since;
    struct grove_pull_response *resp = NULL;
    grove_err err = grove_peer_pull(peer, req, &resp);
    grove_msg_free(req);
    cr_assert_eq(err, GROVE_OK, "pull: %s (%s)", grove_err_name(err), grove_errmsg());
    cr_assert_not_null(resp);
    return resp;
}

/* Pulls page by page from zero; checks that pks come in order
 * doc-<first>.. without gap or repeat; returns how many. */
static size_t conf_pull_all(struct grove_peer *peer, uint32_t limit, size_t *pages)
{
    struct grove_hlc since = {0};
    size_t total = 0;
    *pages = 0;
    for (;;) {
        struct grove_pull_response *resp = conf_pull(peer, &since, limit);
        (*pages)++;
        for (size_t i = 0; i < resp->count; i++) {
            char want[32];
            snprintf(want, sizeof want, "doc-%08zu", total + i);
            cr_assert_str_eq(resp->changes[i].pk, want);
        }
        total += resp->count;
        if (resp->count > 0)
            cr_assert(grove_hlc_compare(&resp->latest_hlc, &since) > 0);
        since = resp->latest_hlc;
        bool more = resp->has_more;
        grove_msg_free(resp);
        if (!more)
            break;
        cr_assert(*pages < 1000000, "pagination does not end");
    }
    return total;
}

void conformance_round_trip(const struct conformance_fixture *f)
{
    conf_setup(f);
    struct support_node n;
    conf_node_start(&n, f, NULL);
    struct grove_peer *peer = conf_dial(f, n.url, NULL, 0);

    /* One change of each CRDT kind, with values that must come back byte-exact. */
    struct grove_push_request *req = conf_push_lww(0, 1, 0);
    struct grove_change *c = &req->changes[0];
    c->value.ptr = "{\"b\": 1.0, \"a\":[1e400, \"\\u00e9\"]}";
    c->value.len = strlen(c->value.ptr);
    req->changes = grove_msg_alloc(req, 3 * sizeof *req->changes);
    req->changes[0] = *c;
    struct grove_change *k = &req->changes[1];
    *k = req->changes[0];
    k->field = "views";
    k->crdt = GROVE_CRDT_COUNTER;
    k->value = (struct grove_slice){0};
    k->has_counter = true;
    k->counter_inc = 7;
    k->counter_dec = 2;
    k->hlc.c = 1;
    struct grove_change *s = &req->changes[2];
    *s = req->changes[0];
    s->field = "tags";
    s->crdt = GROVE_CRDT_SET;
    s->value = (struct grove_slice){0};
    s->set_op = GROVE_SET_ADD;
    s->elements = grove_msg_alloc(req, 2 * sizeof *s->elements);
    s->elements[0] = (struct grove_slice){"\"red\"", 5};
    s->elements[1] = (struct grove_slice){"{\"x\":1}", 7};
    s->element_count = 2;
    s->hlc.c = 2;
    req->count = 3;
    conf_push_ok(peer, req, 3);

    /* A set travels one element per record (docs/design.md §2): 1 + 1 + 2. */
    struct grove_pull_response *resp = conf_pull(peer, NULL, 0);
    cr_assert_eq(resp->count, 4, "pulled %zu records", resp->count);
    cr_assert(!resp->has_more);
    for (size_t i = 0; i < 3; i++) {
        const struct grove_change *want = &req->changes[i], *got = NULL;
        for (size_t j = 0; j < resp->count; j++)
            if (strcmp(resp->changes[j].field, want->field) == 0)
                got = &resp->changes[j];
        cr_assert_not_null(got, "field %s missing", want->field);
        cr_assert_str_eq(got->table, "docs");
        cr_assert_str_eq(got->pk, want->pk);
        cr_assert_eq(got->crdt, want->crdt);
        cr_assert_eq(grove_hlc_compare(&got->hlc, &want->hlc), 0);
        cr_assert_str_eq(got->node_id, "client");
        cr_assert_eq(got->value.len, want->value.len);
        if (want->value.len)
            cr_assert(memcmp(got->value.ptr, want->value.ptr, want->value.len) == 0, "value %.*s",
                      (int)got->value.len, got->value.ptr);
    }
    size_t elements = 0;
    for (size_t j = 0; j < resp->count; j++) {
        const struct grove_change *got = &resp->changes[j];
        if (got->crdt == GROVE_CRDT_COUNTER) {
            cr_assert(got->has_counter);
            cr_assert_eq(got->counter_inc, 7);
            cr_assert_eq(got->counter_dec, 2);
        } else if (got->crdt == GROVE_CRDT_SET) {
            cr_assert_eq(got->set_op, GROVE_SET_ADD);
            cr_assert_eq(got->element_count, 1);
            const struct grove_slice *e = &got->elements[0];
            bool red = e->len == 5 && memcmp(e->ptr, "\"red\"", 5) == 0;
            bool obj = e->len == 7 && memcmp(e->ptr, "{\"x\":1}", 7) == 0;
            cr_assert(red || obj, "element %.*s", (int)e->len, e->ptr);
            elements += 1 + obj * 10;
        }
    }
    cr_assert_eq(elements, 12, "want both set elements once each");
    /* Nothing new after the returned cursor. */
    struct grove_hlc cursor = resp->latest_hlc;
    grove_msg_free(resp);
    resp = conf_pull(peer, &cursor, 0);
    cr_assert_eq(resp->count, 0);
    cr_assert_eq(grove_hlc_compare(&resp->latest_hlc, &cursor), 0);
    grove_msg_free(resp);

    /* Pushing the same changes again is harmless (idempotent). */
    conf_push_ok(peer, req, 0);
    grove_msg_free(req);
    grove_peer_close(peer);
    support_node_stop(&n);
}

void conformance_empty_pull(const struct conformance_fixture *f)
{
    conf_setup(f);
    struct support_node n;
    conf_node_start(&n, f, NULL);
    struct grove_peer *peer = conf_dial(f, n.url, NULL, 0);
    struct grove_pull_response *resp = conf_pull(peer, NULL, 0);
    cr_assert_eq(resp->count, 0);
    cr_assert(!resp->has_more);
    cr_assert(grove_hlc_is_zero(&resp->latest_hlc));
    grove_msg_free(resp);
    grove_peer_close(peer);
    support_node_stop(&n);
}

void conformance_pagination(const struct conformance_fixture *f)
{
    conf_setup(f);
    struct support_node n;
    conf_node_start(&n, f, NULL);
    struct grove_peer *peer = conf_dial(f, n.url, NULL, 0);
    conf_push_rows(peer, 0, 250);
    struct grove_pull_response *first = conf_pull(peer, NULL, 100);
    cr_assert_eq(first->count, 100);
    cr_assert(first->has_more);
    grove_msg_free(first);
    size_t pages = 0;
    cr_assert_eq(conf_pull_all(peer, 100, &pages), 250);
    cr_assert_eq(pages, 3);
    grove_peer_close(peer);
    support_node_stop(&n);
}

void conformance_big_batch(const struct conformance_fixture *f)
{
    conf_setup(f);
    struct support_node n;
    conf_node_start(&n, f, NULL);
    struct grove_peer *peer = conf_dial(f, n.url, NULL, 60000);
    const size_t count = 20000;
    struct grove_push_request *req = conf_push_lww(0, count, 64);
    conf_push_ok(peer, req, count);
    grove_msg_free(req);
    size_t pages = 0;
    cr_assert_eq(conf_pull_all(peer, 10000, &pages), count);
    grove_peer_close(peer);
    support_node_stop(&n);
}

void conformance_refused(const struct conformance_fixture *f)
{
    conf_setup(f);
    char url[512];
    f->refused_url(url, sizeof url);
    struct grove_peer *peer = conf_dial(f, url, NULL, 5000);
    struct grove_pull_request *req = NULL;
    cr_assert_eq(grove_pull_request_new(&req), GROVE_OK);
    req->node_id = "reader";
    struct grove_pull_response *resp = NULL;
    grove_err err = grove_peer_pull(peer, req, &resp);
    cr_assert_eq(err, GROVE_EUNAVAIL, "got %s: %s", grove_err_name(err), grove_errmsg());
    cr_assert_null(resp);
    struct grove_push_request *push = conf_push_lww(0, 1, 0);
    struct grove_push_response *presp = NULL;
    err = grove_peer_push(peer, push, &presp);
    cr_assert_eq(err, GROVE_EUNAVAIL, "got %s: %s", grove_err_name(err), grove_errmsg());
    cr_assert_null(presp);
    grove_msg_free(push);
    grove_msg_free(req);
    grove_peer_close(peer);
}

void conformance_timeout(const struct conformance_fixture *f)
{
    if (!f->silent_open)
        cr_skip_test("this transport has no silent server to time out against");
    conf_setup(f);
    char url[512];
    int handle = f->silent_open(url, sizeof url);
    cr_assert(handle >= 0);
    struct grove_peer *peer = conf_dial(f, url, NULL, 500);
    struct grove_pull_request *req = NULL;
    cr_assert_eq(grove_pull_request_new(&req), GROVE_OK);
    req->node_id = "reader";
    struct grove_pull_response *resp = NULL;
    grove_err err = grove_peer_pull(peer, req, &resp);
    cr_assert_eq(err, GROVE_ETIMEOUT, "got %s: %s", grove_err_name(err), grove_errmsg());
    cr_assert_null(resp);
    grove_msg_free(req);
    grove_peer_close(peer);
    f->silent_close(handle);
}

void conformance_auth(const struct conformance_fixture *f)
{
    conf_setup(f);
    struct support_node n;
    struct grove_listen_options lo = {.token = "s3cret-token"};
    conf_node_start(&n, f, &lo);
    const char *tokens[] = {NULL, "wrong-token", "s3cret-toke", "s3cret-token"};
    for (size_t i = 0; i < 4; i++) {
        struct grove_peer *peer = conf_dial(f, n.url, tokens[i], 0);
        struct grove_push_request *req = conf_push_lww(i, 1, 0);
        struct grove_push_response *resp = NULL;
        grove_err err = grove_peer_push(peer, req, &resp);
        grove_err want = i < 3 ? GROVE_EAUTH : GROVE_OK;
        cr_assert_eq(err, want, "token %s: got %s: %s", tokens[i] ? tokens[i] : "(none)",
                     grove_err_name(err), grove_errmsg());
        grove_msg_free(resp);
        grove_msg_free(req);
        grove_peer_close(peer);
    }
    /* Only the authorised push got in. */
    struct grove_peer *peer = conf_dial(f, n.url, "s3cret-token", 0);
    struct grove_pull_response *resp = conf_pull(peer, NULL, 0);
    cr_assert_eq(resp->count, 1);
    cr_assert_str_eq(resp->changes[0].pk, "doc-00000003");
    grove_msg_free(resp);
    grove_peer_close(peer);
    support_node_stop(&n);
}

void conformance_oversize(const struct conformance_fixture *f)
{
    conf_setup(f);
    struct support_node n;
    struct grove_listen_options lo = {.max_body = 8192};
    conf_node_start(&n, f, &lo);
    struct grove_peer *peer = conf_dial(f, n.url, NULL, 0);
    /* Small (one socket write) and big (streamed) requests over the limit. */
    size_t sizes[] = {100, 2000};
    for (size_t i = 0; i < 2; i++) {
        struct grove_push_request *req = conf_push_lww(0, sizes[i], 32);
        struct grove_push_response *resp = NULL;
        grove_err err = grove_peer_push(peer, req, &resp);
        cr_assert_eq(err, GROVE_ETOOBIG, "got %s: %s", grove_err_name(err), grove_errmsg());
        cr_assert_null(resp);
        grove_msg_free(req);
    }
    /* Nothing was applied, and the connection still works for small requests. */
    struct grove_pull_response *pulled = conf_pull(peer, NULL, 0);
    cr_assert_eq(pulled->count, 0);
    grove_msg_free(pulled);
    conf_push_rows(peer, 0, 2);
    grove_peer_close(peer);
    support_node_stop(&n);
}

void conformance_malformed(const struct conformance_fixture *f)
{
    if (!f->send_raw_push)
        cr_skip_test("this transport cannot send raw bytes");
    conf_setup(f);
    struct support_node n;
    conf_node_start(&n, f, NULL);
    const char *bodies[] = {
        "{not json",
        "{\"changes\":[{\"table\":1}],\"node_id\":\"x\"}",
        "{\"changes\":[{\"table\":\"docs\",\"pk\":\"a\",\"field\":\"title\",\"crdt_type\":\"lww\","
        "\"hlc\":{\"ts\":\"soon\",\"c\":0,\"node\":\"x\"},\"node_id\":\"x\",\"value\":1}],"
        "\"node_id\":\"x\"}",
        "\xff\xfe",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        grove_err err = f->send_raw_push(n.url, bodies[i], strlen(bodies[i]));
        cr_assert_eq(err, GROVE_EINVAL, "body %zu: got %s: %s", i, grove_err_name(err),
                     grove_errmsg());
    }
    support_node_stop(&n);
}

void conformance_forbidden_table(const struct conformance_fixture *f)
{
    conf_setup(f);
    struct support_node n;
    conf_node_start(&n, f, NULL);
    struct grove_peer *peer = conf_dial(f, n.url, NULL, 0);
    struct grove_push_request *req = conf_push_lww(0, 2, 0);
    req->changes[1].table = "secrets";
    struct grove_push_response *resp = NULL;
    grove_err err = grove_peer_push(peer, req, &resp);
    cr_assert_eq(err, GROVE_EFORBIDDEN, "got %s: %s", grove_err_name(err), grove_errmsg());
    grove_msg_free(req);
    /* All or nothing: the valid first change was not applied either. */
    struct grove_pull_response *pulled = conf_pull(peer, NULL, 0);
    cr_assert_eq(pulled->count, 0);
    grove_msg_free(pulled);
    grove_peer_close(peer);
    support_node_stop(&n);
}

/* ---- streams ------------------------------------------------------------- */

struct conf_sub {
    const struct conformance_fixture *f;
    struct grove_peer *peer;
    struct grove_hlc start;
    atomic_bool stop;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    char **pks; /* every pk received, in order */
    size_t count;
    size_t cap;
    size_t batches;
    bool contiguous; /* every batch's since was the previous latest */
    struct grove_hlc cursor;
    grove_err result;
    bool done;
};

static grove_err conf_on_batch(void *user, const struct grove_pull_response *batch)
{
    struct conf_sub *s = user;
    pthread_mutex_lock(&s->lock);
    if (grove_hlc_compare(&batch->since, &s->cursor) != 0)
        s->contiguous = false;
    s->cursor = batch->latest_hlc;
    s->batches++;
    for (size_t i = 0; i < batch->count; i++) {
        if (s->count == s->cap) {
            s->cap = s->cap ? 2 * s->cap : 64;
            s->pks = realloc(s->pks, s->cap * sizeof *s->pks);
        }
        s->pks[s->count++] = strdup(batch->changes[i].pk);
    }
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    return GROVE_OK;
}

static void *conf_sub_main(void *arg)
{
    struct conf_sub *s = arg;
    struct grove_pull_request *req = NULL;
    grove_err err = grove_pull_request_new(&req);
    if (!err) {
        static const char *tables[] = {"docs"};
        req->tables = tables;
        req->table_count = 1;
        req->node_id = "reader";
        req->since = s->start;
        err = grove_peer_subscribe(s->peer, req, conf_on_batch, s, &s->stop);
    }
    grove_msg_free(req);
    pthread_mutex_lock(&s->lock);
    s->result = err;
    s->done = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

static void conf_sub_start(struct conf_sub *s, const struct conformance_fixture *f, const char *url,
                           const struct grove_hlc *start)
{
    memset(s, 0, sizeof *s);
    s->f = f;
    s->peer = conf_dial(f, url, NULL, 0);
    cr_assert(grove_peer_can_subscribe(s->peer), "the transport cannot stream");
    if (start)
        s->start = *start;
    s->cursor = s->start;
    s->contiguous = true;
    atomic_init(&s->stop, false);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    cr_assert_eq(pthread_create(&s->thread, NULL, conf_sub_main, s), 0);
}

/* Waits (bounded) until `want` pks arrived or the subscription ended. */
static size_t conf_sub_wait(struct conf_sub *s, size_t want)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += CONF_WAIT_S;
    pthread_mutex_lock(&s->lock);
    while (s->count < want && !s->done)
        if (pthread_cond_timedwait(&s->cond, &s->lock, &deadline) != 0)
            break;
    size_t got = s->count;
    pthread_mutex_unlock(&s->lock);
    return got;
}

static grove_err conf_sub_stop(struct conf_sub *s)
{
    atomic_store(&s->stop, true);
    pthread_join(s->thread, NULL);
    grove_peer_close(s->peer);
    return s->result;
}

static void conf_sub_free(struct conf_sub *s)
{
    for (size_t i = 0; i < s->count; i++)
        free(s->pks[i]);
    free(s->pks);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
}

void conformance_stream_delivery(const struct conformance_fixture *f)
{
    conf_setup(f);
    struct support_node n;
    struct grove_listen_options lo = {.keepalive_ms = 300}; /* keep-alives interleave */
    conf_node_start(&n, f, &lo);
    struct grove_peer *writer = conf_dial(f, n.url, NULL, 0);
    struct conf_sub s;
    conf_sub_start(&s, f, n.url, NULL);
    /* Three separate commits while the subscriber listens. */
    for (size_t b = 0; b < 3; b++) {
        conf_push_rows(writer, b * 10, 10);
        cr_assert_eq(conf_sub_wait(&s, (b + 1) * 10), (b + 1) * 10, "stream delivered %zu",
                     s.count);
    }
    grove_err err = conf_sub_stop(&s);
    cr_assert_eq(err, GROVE_OK, "subscribe ended with %s: %s", grove_err_name(err), grove_errmsg());
    cr_assert_eq(s.count, 30);
    for (size_t i = 0; i < s.count; i++) {
        char want[32];
        snprintf(want, sizeof want, "doc-%08zu", i);
        cr_assert_str_eq(s.pks[i], want);
    }
    cr_assert(s.contiguous, "a batch did not start where the previous one ended");
    /* The stream's cursor is a pull cursor: nothing remains after it. */
    struct grove_pull_response *rest = conf_pull(writer, &s.cursor, 0);
    cr_assert_eq(rest->count, 0);
    grove_msg_free(rest);
    conf_sub_free(&s);
    grove_peer_close(writer);
    support_node_stop(&n);
}

void conformance_stream_resume(const struct conformance_fixture *f)
{
    conf_setup(f);
    struct support_node n;
    conf_node_start(&n, f, NULL);
    struct grove_peer *writer = conf_dial(f, n.url, NULL, 0);
    conf_push_rows(writer, 0, 10);

    struct conf_sub s;
    conf_sub_start(&s, f, n.url, NULL);
    cr_assert_eq(conf_sub_wait(&s, 10), 10);
    cr_assert_eq(conf_sub_stop(&s), GROVE_OK, "%s", grove_errmsg());
    struct grove_hlc cursor = s.cursor;
    cr_assert_eq(s.count, 10);
    conf_sub_free(&s);

    /* Written while disconnected. */
    conf_push_rows(writer, 10, 5);

    conf_sub_start(&s, f, n.url, &cursor);
    cr_assert_eq(conf_sub_wait(&s, 5), 5);
    /* A last write proves nothing older is still on its way: the stream is in
     * arrival order, so a repeat would come before it. */
    conf_push_rows(writer, 15, 1);
    conf_sub_wait(&s, 6);
    cr_assert_eq(conf_sub_stop(&s), GROVE_OK, "%s", grove_errmsg());
    cr_assert_eq(s.count, 6, "resumed stream delivered %zu, want exactly 6", s.count);
    for (size_t i = 0; i < s.count; i++) {
        char want[32];
        snprintf(want, sizeof want, "doc-%08zu", 10 + i);
        cr_assert_str_eq(s.pks[i], want);
    }
    cr_assert(s.contiguous);
    conf_sub_free(&s);
    grove_peer_close(writer);
    support_node_stop(&n);
}

/* One of several clients writing and reading at the same time. */
struct conf_client {
    const struct conformance_fixture *f;
    const char *url;
    size_t first, n;
    grove_err push_err, pull_err;
    char message[256];
};

static void *conf_client_main(void *arg)
{
    struct conf_client *c = arg;
    struct grove_dial_options d = {0};
    if (c->f->dial)
        d = *c->f->dial;
    struct grove_peer *peer = NULL;
    c->push_err = grove_peer_open(&peer, c->url, &d);
    struct grove_push_request *req = conf_push_lww(c->first, c->n, 0);
    struct grove_push_response *resp = NULL;
    if (!c->push_err)
        c->push_err = grove_peer_push(peer, req, &resp);
    struct grove_pull_request pr = {.node_id = "reader", .limit = 50};
    struct grove_pull_response *pulled = NULL;
    c->pull_err = c->push_err ? c->push_err : grove_peer_pull(peer, &pr, &pulled);
    if (c->push_err || c->pull_err)
        snprintf(c->message, sizeof c->message, "%s", grove_errmsg());
    grove_msg_free(pulled);
    grove_msg_free(resp);
    grove_msg_free(req);
    grove_peer_close(peer);
    return NULL;
}

void conformance_concurrent_clients(const struct conformance_fixture *f)
{
    enum { CLIENTS = 8, ROWS = 200 };
    conf_setup(f);
    struct support_node n;
    conf_node_start(&n, f, NULL);
    /* An open stream must not hold up anybody. */
    struct conf_sub s;
    conf_sub_start(&s, f, n.url, NULL);
    struct conf_client clients[CLIENTS];
    pthread_t threads[CLIENTS];
    for (size_t i = 0; i < CLIENTS; i++) {
        clients[i] = (struct conf_client){.f = f, .url = n.url, .first = i * ROWS, .n = ROWS};
        cr_assert_eq(pthread_create(&threads[i], NULL, conf_client_main, &clients[i]), 0);
    }
    for (size_t i = 0; i < CLIENTS; i++)
        pthread_join(threads[i], NULL);
    for (size_t i = 0; i < CLIENTS; i++) {
        cr_expect_eq(clients[i].push_err, GROVE_OK, "client %zu push: %s", i, clients[i].message);
        cr_expect_eq(clients[i].pull_err, GROVE_OK, "client %zu pull: %s", i, clients[i].message);
    }
    cr_expect_eq(conf_sub_wait(&s, CLIENTS * ROWS), CLIENTS * ROWS, "stream delivered %zu",
                 s.count);
    cr_expect_eq(conf_sub_stop(&s), GROVE_OK, "%s", grove_errmsg());
    conf_sub_free(&s);
    /* Commits interleave, so rows arrive in no pk order: count them. */
    struct grove_peer *reader = conf_dial(f, n.url, NULL, 0);
    struct grove_hlc since = {0};
    size_t total = 0;
    for (bool more = true; more;) {
        struct grove_pull_response *resp = conf_pull(reader, &since, 1000);
        total += resp->count;
        since = resp->latest_hlc;
        more = resp->has_more;
        grove_msg_free(resp);
    }
    cr_expect_eq(total, CLIENTS * ROWS);
    grove_peer_close(reader);
    support_node_stop(&n);
}
