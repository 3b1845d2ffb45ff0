/* grove-bench json: parse and print N change records (~180 bytes each, a
 * mix of lww, counter, set and tombstone records) through the JSON codec;
 * then the decoding cost per byte of a body nested far past the depth limit
 * next to a flat body of the same size. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "grove/json.h"

static const char *bench_json_text(struct grove_push_request *req, const char *fmt, long v)
{
    char tmp[128];
    int n = snprintf(tmp, sizeof tmp, fmt, v);
    return grove_msg_strndup(req, tmp, (size_t)n);
}

/* Builds a deterministic, realistic push request of n records. */
static struct grove_push_request *bench_json_build(long n)
{
    static const char *const lww_values[] = {"\"Updated Title\"",
                                             "42",
                                             "{\"w\":1280,\"h\":720}",
                                             "true",
                                             "\"caf\\u00e9 \\\"menu\\\"\"",
                                             "3.14159",
                                             "null",
                                             "[\"a\",\"b\"]"};
    struct grove_push_request *req;
    if (grove_push_request_new(&req))
        return NULL;
    size_t cap = 0;
    if (grove_msg_reserve_changes(req, &req->changes, &cap, (size_t)n))
        goto fail;
    for (long i = 0; i < n; i++) {
        struct grove_change *c = &req->changes[i];
        c->table = i % 3 ? "documents" : "comments";
        c->pk = bench_json_text(req, "doc-%06ld", i / 4);
        c->node_id = bench_json_text(req, "node-%ld", i % 7);
        c->hlc.ts = 1706000001000000000LL + i * 1000;
        c->hlc.c = (uint32_t)(i % 5);
        snprintf(c->hlc.node, sizeof c->hlc.node, "node-%ld", i % 7);
        long kind = i % 20;
        if (kind < 12) {
            c->crdt = GROVE_CRDT_LWW;
            c->field = kind % 2 ? "title" : "body_text";
            const char *v = lww_values[i % 8];
            c->value = (struct grove_slice){v, strlen(v)};
        } else if (kind < 16) {
            c->crdt = GROVE_CRDT_COUNTER;
            c->field = "views";
            c->has_counter = true;
            c->counter_inc = i * 3;
            c->counter_dec = i / 2;
        } else if (kind < 19) {
            static struct grove_slice elems[] = {{"\"urgent\"", 8}, {"\"review\"", 8}, {"17", 2}};
            c->crdt = GROVE_CRDT_SET;
            c->field = "tags";
            c->set_op = kind == 18 ? GROVE_SET_REMOVE : GROVE_SET_ADD;
            c->elements = elems;
            c->element_count = (size_t)(1 + i % 3);
        } else {
            c->field = "_tombstone";
            c->tombstone = true;
        }
    }
    req->count = (size_t)n;
    req->node_id = "node-1";
    return req;
fail:
    grove_msg_free(req);
    return NULL;
}

enum { BENCH_JSON_LEVELS = 80000 }; /* levels of {"a": in the nested body (480 KB) */

static const char bench_json_head[] =
    "{\"changes\":[{\"table\":\"t\",\"pk\":\"p\",\"field\":\"f\",\"crdt_type\":\"lww\","
    "\"hlc\":{\"ts\":1,\"c\":0,\"node\":\"n\"},\"node_id\":\"n\",\"value\":";
static const char bench_json_tail[] = "}],\"node_id\":\"n\"}";

/* A one-record push request whose value is {"a":{"a":...1...}} nested
 * `levels` deep (nested) or [{"a":1},{"a":1},...] padded to the same size
 * (flat). The decoder rejects the first and accepts the second. */
static grove_err bench_json_shaped(bool nested, long levels, struct grove_buf *out)
{
    size_t value_len = 6 * (size_t)levels + 1, k = (value_len - 3) / 8;
    grove_err err = grove_buf_append(out, bench_json_head, sizeof bench_json_head - 1);
    if (!err)
        err = grove_buf_reserve(out, value_len + sizeof bench_json_tail);
    if (err)
        return err;
    char *p = out->data + out->len;
    if (nested) {
        for (long i = 0; i < levels; i++, p += 5)
            memcpy(p, "{\"a\":", 5);
        *p++ = '1';
        memset(p, '}', (size_t)levels);
        p += levels;
    } else {
        *p++ = '[';
        for (size_t i = 0; i < k; i++, p += 8)
            memcpy(p, "{\"a\":1},", 8);
        *p++ = '0';
        memset(p, ' ', value_len - 3 - 8 * k);
        p += value_len - 3 - 8 * k;
        *p++ = ']';
    }
    out->len += value_len;
    return grove_buf_append(out, bench_json_tail, sizeof bench_json_tail - 1);
}

/* Best CPU time per byte, in ns, of decoding body (ok says whether it must be
 * accepted). Rounds stop early once one takes over a second: the quadratic
 * decoder this guards against spent seconds on the nested body. */
static double bench_json_ns_per_byte(const struct grove_buf *body, bool ok)
{
    enum { ROUNDS = 5 };
    double best = 1e9;
    for (int round = 0; round < ROUNDS && (round == 0 || best < 1.0); round++) {
        struct grove_push_request *req;
        double t0 = bench_cpu_now();
        grove_err err = grove_json_decode_push_request(body->data, body->len, &req);
        double t1 = bench_cpu_now();
        grove_msg_free(req);
        if ((err == GROVE_OK) != ok) {
            fprintf(stderr, "grove-bench json: %s body %s: %s\n", ok ? "flat" : "nested",
                    ok ? "rejected" : "accepted", err ? grove_errmsg() : "");
            return -1;
        }
        if (t1 - t0 < best)
            best = t1 - t0;
    }
    return best / (double)body->len * 1e9;
}

int bench_json(int argc, char **argv)
{
    long n = bench_arg_n(argc, argv, 100000);
    enum { ROUNDS = 5 };
    struct grove_buf buf = {0};
    struct grove_buf nested = {0}, flat = {0};
    double best_print = 1e9, best_parse = 1e9, wall_print = 1e9, wall_parse = 1e9;
    int rc = 1;
    struct grove_push_request *req = bench_json_build(n);
    if (!req) {
        fprintf(stderr, "grove-bench json: out of memory\n");
        return 1;
    }
    /* Best of a few rounds, in CPU time: the machine is shared (2 cores), and
     * the minimum CPU time is the codec's own cost. Wall figures are printed too. */
    for (int round = 0; round < ROUNDS; round++) {
        buf.len = 0;
        double w0 = bench_now(), t0 = bench_cpu_now();
        if (grove_json_encode_push_request(req, &buf))
            goto fail;
        double w1 = bench_now(), t1 = bench_cpu_now();
        struct grove_push_request *back;
        if (grove_json_decode_push_request(buf.data, buf.len, &back))
            goto fail;
        double w2 = bench_now(), t2 = bench_cpu_now();
        if (back->count != (size_t)n) {
            fprintf(stderr, "grove-bench json: decoded %zu of %ld records\n", back->count, n);
            grove_msg_free(back);
            goto done;
        }
        grove_msg_free(back);
        if (t1 - t0 < best_print)
            best_print = t1 - t0;
        if (t2 - t1 < best_parse)
            best_parse = t2 - t1;
        if (w1 - w0 < wall_print)
            wall_print = w1 - w0;
        if (w2 - w1 < wall_parse)
            wall_parse = w2 - w1;
    }
    printf("records: %ld, body: %zu bytes (%.0f bytes/record), best of %d rounds\n", n, buf.len,
           (double)buf.len / (double)n, ROUNDS);
    printf("print: %.1f ms CPU, %.1f ms wall (%.0f MB/s CPU)\n", best_print * 1e3, wall_print * 1e3,
           (double)buf.len / best_print / 1e6);
    printf("parse: %.1f ms CPU, %.1f ms wall (%.0f MB/s CPU)\n", best_parse * 1e3, wall_parse * 1e3,
           (double)buf.len / best_parse / 1e6);
    printf("wall: parse %.0f records/s, print %.0f records/s\n", (double)n / wall_parse,
           (double)n / wall_print);
    printf("max RSS: %ld KiB\n", bench_max_rss_kib());

    if (bench_json_shaped(true, BENCH_JSON_LEVELS, &nested) ||
        bench_json_shaped(false, BENCH_JSON_LEVELS, &flat))
        goto fail;
    double nested_ns = bench_json_ns_per_byte(&nested, false);
    double flat_ns = bench_json_ns_per_byte(&flat, true);
    if (nested_ns < 0 || flat_ns < 0)
        goto done;
    printf("nested: %zu bytes, %d levels (rejected at depth %d): %.2f ns/byte CPU\n", nested.len,
           BENCH_JSON_LEVELS, GROVE_JSON_MAX_DEPTH + 1, nested_ns);
    printf("flat: %zu bytes: %.2f ns/byte CPU\n", flat.len, flat_ns);
    printf("RESULT json parse_per_s=%.0f print_per_s=%.0f bytes_per_record=%.0f "
           "nested_ns_per_byte=%.2f flat_ns_per_byte=%.2f\n",
           (double)n / best_parse, (double)n / best_print, (double)buf.len / (double)n, nested_ns,
           flat_ns);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "grove-bench json: %s\n", grove_errmsg());
done:
    grove_buf_free(&nested);
    grove_buf_free(&flat);
    grove_buf_free(&buf);
    grove_msg_free(req);
    return rc;
}
