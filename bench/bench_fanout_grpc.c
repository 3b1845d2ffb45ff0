/* grove-bench fanout --transport grpc: the subscribers as gRPC Stream calls
 * (grove.sync.v1.Sync/Stream, tables=docs), spread over a few channels and
 * over one completion queue per receiving thread (--receivers): one queue
 * for 10,000 calls kept its thread busy with the queue alone (libgrpc as
 * packaged here checks every completion against a list of all the queue's
 * outstanding tags), which measured the bench, not the server. Each
 * message's pks
 * ("f<seq>_<send ns>") are found in its raw bytes and timed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_fanout.h"

#if defined(GROVE_BENCH_CLIENT) && defined(GROVE_BENCH_GRPC)

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "grove/codec.h"
#include "grove/model.h"

#define FANOUT_GRPC_CHANNELS 16
#define FANOUT_GRPC_QUEUES_MAX 16

enum fanout_grpc_kind { FG_START, FG_MESSAGE, FG_STATUS };

struct fanout_grpc_sub;

/* A completion-queue tag: which call, which batch. */
struct fanout_grpc_tag {
    struct fanout_grpc_sub *sub;
    enum fanout_grpc_kind kind;
};

struct fanout_grpc_sub {
    grpc_call *call;
    struct fanout_grpc_tag tags[3];
    grpc_metadata_array initial, trailing;
    grpc_byte_buffer *send, *recv;
    grpc_status_code status;
    grpc_slice details;
    bool open, done; /* initial metadata came; the status came */
};

struct fanout_grpc {
    grpc_completion_queue *cqs[FANOUT_GRPC_QUEUES_MAX];
    long pending[FANOUT_GRPC_QUEUES_MAX]; /* batches not completed yet, per queue */
    int queues;
    grpc_channel *channels[FANOUT_GRPC_CHANNELS];
    struct fanout_grpc_sub *subs;
    long count;
};

static int fanout_grpc_queue_of(const struct fanout_grpc *g, const struct fanout_grpc_sub *s)
{
    return (int)((s - g->subs) % g->queues);
}

static void fanout_grpc_recv(struct fanout_grpc *g, struct fanout_grpc_sub *s)
{
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &s->recv;
    if (grpc_call_start_batch(s->call, &op, 1, &s->tags[FG_MESSAGE], NULL) == GRPC_CALL_OK)
        g->pending[fanout_grpc_queue_of(g, s)]++;
}

bool bench_fanout_grpc_open(struct fanout_grpc **out, int port, long count, long node_ids,
                            int queues)
{
    grpc_init();
    struct fanout_grpc *g = calloc(1, sizeof *g);
    if (!g || !(g->subs = calloc((size_t)count, sizeof *g->subs)))
        return false;
    g->count = count;
    g->queues = queues < 1 ? 1 : queues > FANOUT_GRPC_QUEUES_MAX ? FANOUT_GRPC_QUEUES_MAX : queues;
    for (int q = 0; q < g->queues; q++)
        g->cqs[q] = grpc_completion_queue_create_for_next(NULL);
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%d", port);
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    for (int i = 0; i < FANOUT_GRPC_CHANNELS; i++) {
        /* A channel argument of its own for each: gRPC would share one connection. */
        grpc_arg arg = {.type = GRPC_ARG_INTEGER,
                        .key = GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL,
                        .value.integer = 1};
        grpc_channel_args args = {.num_args = 1, .args = &arg};
        g->channels[i] = grpc_channel_create(target, creds, &args);
    }
    grpc_channel_credentials_release(creds);
    grpc_slice method = grpc_slice_from_static_string("/grove.sync.v1.Sync/Stream");
    for (long i = 0; i < count; i++) {
        struct fanout_grpc_sub *s = &g->subs[i];
        for (int k = 0; k < 3; k++)
            s->tags[k] = (struct fanout_grpc_tag){s, (enum fanout_grpc_kind)k};
        grpc_metadata_array_init(&s->initial);
        grpc_metadata_array_init(&s->trailing);
        s->details = grpc_empty_slice();
        s->call = grpc_channel_create_call(g->channels[i % FANOUT_GRPC_CHANNELS], NULL,
                                           GRPC_PROPAGATE_DEFAULTS, g->cqs[i % g->queues], method,
                                           NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        char node[48] = "";
        if (node_ids)
            snprintf(node, sizeof node, "sub-%ld", i % node_ids);
        const char *tables[] = {"docs"};
        struct grove_pull_request req = {.tables = tables, .table_count = 1, .node_id = node};
        struct grove_buf body = {0};
        if (grove_codec_protobuf.encode_pull_request(&req, &body) != GROVE_OK)
            return false;
        grpc_slice payload = grpc_slice_from_copied_buffer(body.data, body.len);
        grove_buf_free(&body);
        s->send = grpc_raw_byte_buffer_create(&payload, 1);
        grpc_slice_unref(payload);
        grpc_op ops[4];
        memset(ops, 0, sizeof ops);
        ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
        ops[1].op = GRPC_OP_SEND_MESSAGE;
        ops[1].data.send_message.send_message = s->send;
        ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
        ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
        ops[3].data.recv_initial_metadata.recv_initial_metadata = &s->initial;
        if (grpc_call_start_batch(s->call, ops, 4, &s->tags[FG_START], NULL) != GRPC_CALL_OK)
            return false;
        g->pending[i % g->queues]++;
        grpc_op st;
        memset(&st, 0, sizeof st);
        st.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
        st.data.recv_status_on_client.trailing_metadata = &s->trailing;
        st.data.recv_status_on_client.status = &s->status;
        st.data.recv_status_on_client.status_details = &s->details;
        if (grpc_call_start_batch(s->call, &st, 1, &s->tags[FG_STATUS], NULL) != GRPC_CALL_OK)
            return false;
        g->pending[i % g->queues]++;
    }
    grpc_slice_unref(method);
    *out = g;
    return true;
}

/* The send time of a pk "f<seq>_<send ns>" of len bytes at p, or -1 when
 * the bytes are not one. */
static long long fanout_grpc_pk_time(const unsigned char *p, size_t len)
{
    size_t i = 1, digits = 0;
    if (len < 4 || p[0] != 'f')
        return -1;
    while (i < len && p[i] >= '0' && p[i] <= '9')
        i++;
    if (i == 1 || i >= len || p[i] != '_')
        return -1;
    long long ns = 0;
    for (i++; i < len && p[i] >= '0' && p[i] <= '9'; i++, digits++)
        ns = ns * 10 + (p[i] - '0');
    return i == len && digits ? ns : -1;
}

/* One received message: its changes' send times. Only the pks are looked
 * for, in the raw bytes (a ChangeRecord's field 2: tag 0x12, a one-byte
 * length, the pk), instead of decoding every field of the batch: the
 * decode was most of this thread's work, and the reader's cost is added to
 * the latency it measures. */
static void fanout_grpc_message(struct fanout_grpc_sub *s, struct fanout *fo, int rx, int64_t now)
{
    grpc_byte_buffer_reader reader;
    if (!grpc_byte_buffer_reader_init(&reader, s->recv))
        return;
    grpc_slice all = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    const unsigned char *b = GRPC_SLICE_START_PTR(all);
    size_t n = GRPC_SLICE_LENGTH(all);
    for (size_t i = 2; i < n;) {
        const unsigned char *f = memchr(b + i, 'f', n - i);
        if (!f)
            break;
        i = (size_t)(f - b);
        size_t len = b[i - 1];
        long long sent =
            b[i - 2] == 0x12 && len < 128 && i + len <= n ? fanout_grpc_pk_time(b + i, len) : -1;
        if (sent < 0) {
            i++;
            continue;
        }
        bench_fanout_record(fo, rx, (double)(now - sent) / 1e6);
        i += len;
    }
    grpc_slice_unref(all);
}

void bench_fanout_grpc_poll(struct fanout_grpc *g, int q, struct fanout *fo, int timeout_ms,
                            long *open, long *closed)
{
    gpr_timespec until = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                      gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(g->cqs[q], until, NULL);
        if (ev.type != GRPC_OP_COMPLETE)
            return;
        g->pending[q]--;
        struct fanout_grpc_tag *t = ev.tag;
        struct fanout_grpc_sub *s = t->sub;
        if (t->kind == FG_STATUS) {
            s->done = true;
            if (s->open)
                (*open)--;
            (*closed)++;
        } else if (t->kind == FG_START && ev.success && !s->done) {
            s->open = true;
            (*open)++;
            fanout_grpc_recv(g, s);
        } else if (t->kind == FG_MESSAGE && ev.success && s->recv) {
            if (fo)
                fanout_grpc_message(s, fo, q, bench_fanout_now_ns());
            grpc_byte_buffer_destroy(s->recv);
            s->recv = NULL;
            fanout_grpc_recv(g, s);
        }
        /* Later events without waiting: the deadline is now. */
        until = gpr_now(GPR_CLOCK_MONOTONIC);
    }
}

void bench_fanout_grpc_close(struct fanout_grpc *g)
{
    for (long i = 0; i < g->count; i++)
        if (g->subs[i].call)
            grpc_call_cancel(g->subs[i].call, NULL);
    long open = 0, closed = 0;
    for (int q = 0; q < g->queues; q++)
        while (g->pending[q] > 0) {
            long before = g->pending[q];
            bench_fanout_grpc_poll(g, q, NULL, 1000, &open, &closed);
            if (g->pending[q] == before)
                break; /* nothing more comes */
        }
    for (long i = 0; i < g->count; i++) {
        struct fanout_grpc_sub *s = &g->subs[i];
        if (s->recv)
            grpc_byte_buffer_destroy(s->recv);
        if (s->send)
            grpc_byte_buffer_destroy(s->send);
        grpc_metadata_array_destroy(&s->initial);
        grpc_metadata_array_destroy(&s->trailing);
        grpc_slice_unref(s->details);
        if (s->call)
            grpc_call_unref(s->call);
    }
    for (int i = 0; i < FANOUT_GRPC_CHANNELS; i++)
        grpc_channel_destroy(g->channels[i]);
    for (int q = 0; q < g->queues; q++) {
        grpc_completion_queue_shutdown(g->cqs[q]);
        gpr_timespec forever = gpr_inf_future(GPR_CLOCK_REALTIME);
        while (grpc_completion_queue_next(g->cqs[q], forever, NULL).type != GRPC_QUEUE_SHUTDOWN) {
        }
        grpc_completion_queue_destroy(g->cqs[q]);
    }
    free(g->subs);
    free(g);
    grpc_shutdown();
}

#endif
