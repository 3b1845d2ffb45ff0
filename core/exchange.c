/* The serving half of the codec exchange, and the decoding of stream frames
 * a dialer receives (grove/sys/transport.h): bytes in, decode, serve, encode,
 * bytes out, the same way for every transport. */
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "grove/log.h"
#include "grove/sys/error.h"
#include "grove/sys/transport.h"
#include "read_pool.h"

static grove_err exchange_pull(struct grove_server *server, const char *peer_addr,
                               const struct grove_caller *caller, const struct grove_codec *codec,
                               const char *data, size_t len, struct grove_buf *out,
                               uint64_t *changes)
{
    struct grove_pull_request *req = NULL;
    struct grove_pull_response *resp = NULL;
    grove_err err = codec->decode_pull_request(data, len, &req);
    if (!err) {
        req->peer_addr = peer_addr;
        req->caller = caller;
        err = grove_server_pull(server, req, &resp);
    }
    if (!err) {
        *changes = resp->count;
        err = codec->encode_pull_response(resp, out);
    }
    grove_msg_free(req);
    grove_msg_free(resp);
    return err;
}

static grove_err exchange_push(struct grove_server *server, const char *peer_addr,
                               const struct grove_caller *caller, const struct grove_codec *codec,
                               const char *data, size_t len, struct grove_buf *out,
                               uint64_t *changes)
{
    struct grove_push_request *req = NULL;
    struct grove_push_response *resp = NULL;
    grove_err err = codec->decode_push_request(data, len, &req);
    if (!err) {
        req->peer_addr = peer_addr;
        req->caller = caller;
        *changes = req->count;
        err = grove_server_push(server, req, &resp);
    }
    if (!err)
        err = codec->encode_push_response(resp, out);
    grove_msg_free(req);
    grove_msg_free(resp);
    return err;
}

static int64_t exchange_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Serves a call on this thread. */
static grove_err exchange_serve_here(struct grove_server *server, const char *peer_addr,
                                     const struct grove_caller *caller,
                                     const struct grove_codec *codec, enum grove_call_kind kind,
                                     const char *data, size_t len, struct grove_buf *out)
{
    size_t had = out->len;
    int64_t started = exchange_now_us();
    uint64_t changes = 0;
    grove_err err = kind == GROVE_CALL_PULL
                        ? exchange_pull(server, peer_addr, caller, codec, data, len, out, &changes)
                        : exchange_push(server, peer_addr, caller, codec, data, len, out, &changes);
    const char *op = kind == GROVE_CALL_PULL ? "pull" : "push";
    if (err) {
        out->len = had; /* nothing half-encoded goes out */
        grove_log_refused(codec->name, op, peer_addr, grove_err_name(err), grove_errmsg());
    } else if (grove_log_enabled(GROVE_LOG_DEBUG)) {
        grove_log_kv(GROVE_LOG_DEBUG, "served",
                     "codec=%s op=%s peer=%s changes=%" PRIu64 " bytes_in=%zu bytes_out=%zu"
                     " duration_ms=%.2f",
                     codec->name, op, peer_addr && *peer_addr ? peer_addr : "-", changes, len,
                     out->len - had, (double)(exchange_now_us() - started) / 1000.0);
    }
    return err;
}

/* A pull on the read threads; its first member is the pool's job, which
 * exchange_job_run casts back. */
struct grove_serve_job {
    struct grove_read_job job;
    struct grove_read_pool *pool;
    struct grove_server *server;
    const char *peer_addr;
    const struct grove_caller *caller;
    const struct grove_codec *codec;
    const char *data;
    size_t len;
    struct grove_buf *out;
    grove_served_fn done;
    void *user;
};

static void exchange_job_run(struct grove_read_job *job)
{
    struct grove_serve_job *j = (struct grove_serve_job *)job;
    grove_err err = exchange_serve_here(j->server, j->peer_addr, j->caller, j->codec,
                                        GROVE_CALL_PULL, j->data, j->len, j->out);
    grove_served_fn done = j->done;
    void *user = j->user;
    free(j);
    done(user, err);
}

static grove_err exchange_job_new(struct grove_serve_job **out, struct grove_server *server,
                                  const char *peer_addr, const struct grove_caller *caller,
                                  const struct grove_codec *codec, const char *data, size_t len,
                                  struct grove_buf *buf, grove_served_fn done, void *user)
{
    *out = NULL;
    struct grove_read_pool *pool = grove_server_read_pool(server);
    if (!pool)
        return grove_error_set(GROVE_ENOTSUP, "the server reads inline");
    struct grove_serve_job *j = malloc(sizeof *j);
    if (!j)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    *j = (struct grove_serve_job){.job.run = exchange_job_run,
                                  .pool = pool,
                                  .server = server,
                                  .peer_addr = peer_addr,
                                  .caller = caller,
                                  .codec = codec,
                                  .data = data,
                                  .len = len,
                                  .out = buf,
                                  .done = done,
                                  .user = user};
    *out = j;
    return GROVE_OK;
}

grove_err grove_serve_pull_new(struct grove_serve_job **job, struct grove_server *server,
                               const struct grove_caller *caller, const struct grove_codec *codec,
                               const char *data, size_t len, struct grove_buf *out,
                               grove_served_fn done, void *user)
{
    const char *peer = caller && caller->peer_addr[0] ? caller->peer_addr : NULL;
    return exchange_job_new(job, server, peer, caller, codec, data, len, out, done, user);
}

void grove_serve_pull_submit(struct grove_serve_job *job)
{
    grove_read_pool_submit(job->pool, &job->job);
}

/* A thread waiting for its pull on the read threads. */
struct exchange_wait {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool finished;
    struct grove_error_record error; /* the read thread's, carried back */
};

static void exchange_wait_done(void *user, grove_err err)
{
    struct exchange_wait *w = user;
    pthread_mutex_lock(&w->lock);
    grove_error_save(err, &w->error);
    w->finished = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

/* Pulls go to the read threads when the server has them, and this thread
 * waits; pushes are served here, at the writer's priority. */
static grove_err exchange_serve(struct grove_server *server, const char *peer_addr,
                                const struct grove_caller *caller, const struct grove_codec *codec,
                                enum grove_call_kind kind, const char *data, size_t len,
                                struct grove_buf *out)
{
    struct exchange_wait w = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    struct grove_serve_job *job = NULL;
    if (kind != GROVE_CALL_PULL || !grove_server_read_pool(server) ||
        exchange_job_new(&job, server, peer_addr, caller, codec, data, len, out, exchange_wait_done,
                         &w))
        return exchange_serve_here(server, peer_addr, caller, codec, kind, data, len, out);
    grove_serve_pull_submit(job);
    pthread_mutex_lock(&w.lock);
    while (!w.finished)
        pthread_cond_wait(&w.cond, &w.lock);
    pthread_mutex_unlock(&w.lock);
    pthread_cond_destroy(&w.cond);
    pthread_mutex_destroy(&w.lock);
    return grove_error_restore(&w.error);
}

grove_err grove_serve_from(struct grove_server *server, const char *peer_addr,
                           const struct grove_codec *codec, enum grove_call_kind kind,
                           const char *data, size_t len, struct grove_buf *out)
{
    return exchange_serve(server, peer_addr, NULL, codec, kind, data, len, out);
}

grove_err grove_serve_as(struct grove_server *server, const struct grove_caller *caller,
                         const struct grove_codec *codec, enum grove_call_kind kind,
                         const char *data, size_t len, struct grove_buf *out)
{
    const char *peer = caller && caller->peer_addr[0] ? caller->peer_addr : NULL;
    return exchange_serve(server, peer, caller, codec, kind, data, len, out);
}

grove_err grove_serve(struct grove_server *server, const struct grove_codec *codec,
                      enum grove_call_kind kind, const char *data, size_t len,
                      struct grove_buf *out)
{
    return grove_serve_from(server, NULL, codec, kind, data, len, out);
}

grove_err grove_serve_stream_open_as(struct grove_server *server, const struct grove_caller *caller,
                                     const struct grove_codec *codec, const char *data, size_t len,
                                     struct grove_server_stream **out)
{
    struct grove_pull_request *req = NULL;
    *out = NULL;
    grove_err err = codec->decode_pull_request(data, len, &req);
    if (!err) {
        req->caller = caller;
        err = grove_server_stream_open(server, req, out);
    }
    grove_msg_free(req);
    return err;
}

grove_err grove_serve_stream_open(struct grove_server *server, const struct grove_codec *codec,
                                  const char *data, size_t len, struct grove_server_stream **out)
{
    return grove_serve_stream_open_as(server, NULL, codec, data, len, out);
}

grove_err grove_stream_deliver(const struct grove_codec *codec, const char *data, size_t len,
                               grove_batch_fn fn, void *user)
{
    struct grove_pull_response *batch = NULL;
    grove_err err = codec->decode_stream_batch(data, len, &batch);
    if (err)
        return grove_error_prefix(GROVE_EPROTO, "bad stream batch: ");
    err = fn(user, batch);
    grove_msg_free(batch);
    return err;
}
