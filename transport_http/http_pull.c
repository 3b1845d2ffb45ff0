/* Pulls on the server's read threads (docs/design.md, "Reads beside
 * writes"). Each of the listener's pool threads serves many connections, so
 * it must not wait for a read: the connection is suspended, the pull goes to
 * the read threads (grove_serve_pull_new), and when it is served the
 * connection is resumed and MHD calls the handler again, which queues the
 * answer. A writer whose connection shares a pool thread with a reader is
 * never held behind that reader's page.
 *
 * A stop waits for every pull in flight (MHD must find no connection
 * suspended when it stops); a pull that comes once the listener is closing
 * is served on its own thread instead. */
#include <stdlib.h>

#include "grove/codec.h"
#include "grove/sys/error.h"
#include "http_internal.h"

struct http_pull {
    struct http_listener *l;
    struct MHD_Connection *conn;
    struct grove_buf out;
    struct grove_error_record error;
    atomic_bool done; /* out and error are written before it, read after */
};

void grove_http_pulls_init(struct http_listener *l)
{
    pthread_mutex_init(&l->pulls_lock, NULL);
    pthread_cond_init(&l->pulls_done, NULL);
}

void grove_http_pulls_destroy(struct http_listener *l)
{
    pthread_cond_destroy(&l->pulls_done);
    pthread_mutex_destroy(&l->pulls_lock);
}

void grove_http_pulls_wait(struct http_listener *l)
{
    pthread_mutex_lock(&l->pulls_lock);
    while (l->pulls_in_flight)
        pthread_cond_wait(&l->pulls_done, &l->pulls_lock);
    pthread_mutex_unlock(&l->pulls_lock);
}

static void http_pulls_leave(struct http_listener *l)
{
    pthread_mutex_lock(&l->pulls_lock);
    if (--l->pulls_in_flight == 0)
        pthread_cond_broadcast(&l->pulls_done);
    pthread_mutex_unlock(&l->pulls_lock);
}

/* On a read thread. Once the connection is resumed, MHD may answer and free
 * the call (and pull) at once: only l is used after. */
static void http_pull_done(void *user, grove_err err)
{
    struct http_pull *pull = user;
    struct http_listener *l = pull->l;
    grove_error_save(err, &pull->error);
    atomic_store_explicit(&pull->done, true, memory_order_release);
    MHD_resume_connection(pull->conn);
    http_pulls_leave(l);
}

bool grove_http_pull_start(struct http_listener *l, struct MHD_Connection *conn,
                           const struct grove_caller *caller, const struct grove_buf *body,
                           struct http_pull **out)
{
    *out = NULL;
    struct http_pull *pull = calloc(1, sizeof *pull);
    if (!pull)
        return false;
    pull->l = l;
    pull->conn = conn;
    atomic_init(&pull->done, false);
    pthread_mutex_lock(&l->pulls_lock);
    bool open = !atomic_load(&l->closing);
    if (open)
        l->pulls_in_flight++;
    pthread_mutex_unlock(&l->pulls_lock);
    struct grove_serve_job *job = NULL;
    if (!open || grove_serve_pull_new(&job, l->server, caller, &grove_codec_json, body->data,
                                      body->len, &pull->out, http_pull_done, pull)) {
        if (open)
            http_pulls_leave(l);
        free(pull);
        return false;
    }
    MHD_suspend_connection(conn);
    grove_serve_pull_submit(job);
    *out = pull;
    return true;
}

enum MHD_Result grove_http_pull_answer(struct http_listener *l, struct MHD_Connection *conn,
                                       struct http_pull *pull)
{
    if (!atomic_load_explicit(&pull->done, memory_order_acquire))
        return MHD_YES; /* not resumed by us: nothing to answer yet */
    if (pull->error.err) {
        grove_err err = grove_error_restore(&pull->error);
        return grove_http_queue_grove_error(l, conn, err);
    }
    return grove_http_queue_json(l, conn, MHD_HTTP_OK, &pull->out);
}

void grove_http_pull_free(struct http_pull *pull)
{
    if (!pull)
        return;
    grove_buf_free(&pull->out);
    free(pull);
}
