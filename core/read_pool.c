/* The read threads (read_pool.h): a queue and a few threads that lower
 * their own priority when they start. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#ifdef __linux__
#include <sys/resource.h>
#include <sys/syscall.h>
#endif

#include "grove/sys/error.h"
#include "read_pool.h"

/* The read threads' nice value: the lowest priority, so on a machine whose
 * cores are busy a writer gets the CPU first. Beside 16 clients pulling as
 * fast as they can, the writer kept 0.79-0.80 of its rate alone at 19 and
 * 0.71-0.78 at 10 (README, `readers`). Reads still take every idle cycle,
 * and a service's threads share the CPU among themselves first (systemd
 * and container runtimes give each its own cgroup), so this ranks groved's
 * reads below groved's writes, not below other programs. */
#define READ_POOL_NICE 19

struct grove_read_pool {
    pthread_mutex_t lock;
    pthread_cond_t queued;
    struct grove_read_job *head, *tail;
    bool stopping;
    size_t count;
    pthread_t threads[];
};

/* Linux keeps a nice value per thread; elsewhere reads keep the process's
 * priority. Only ever lowered (which needs no privilege): a process started
 * nicer than this keeps its own value. */
static void read_pool_lower_priority(void)
{
#ifdef __linux__
    id_t self = (id_t)syscall(SYS_gettid);
    errno = 0;
    int now = getpriority(PRIO_PROCESS, self);
    if (errno == 0 && now < READ_POOL_NICE)
        (void)setpriority(PRIO_PROCESS, self, READ_POOL_NICE);
#endif
}

static void *read_pool_main(void *arg)
{
    struct grove_read_pool *pool = arg;
    read_pool_lower_priority();
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        struct grove_read_job *job = pool->head;
        if (!job) {
            if (pool->stopping)
                break;
            pthread_cond_wait(&pool->queued, &pool->lock);
            continue;
        }
        if (!(pool->head = job->next))
            pool->tail = NULL;
        pthread_mutex_unlock(&pool->lock);
        job->run(job);
        pthread_mutex_lock(&pool->lock);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

/* At most one thread fewer than the cores (and at least one). Pages are
 * sent at the normal priority (libmicrohttpd's, the relay's, gRPC's and
 * nng's threads), so each read running beside a write takes a core's worth
 * of sending with it: on 2 cores, four read threads left the writer a
 * median 0.78-0.83 of its rate alone, one thread 0.92-0.93 (README,
 * `readers`). A pull beyond them waits in the queue, which costs the
 * readers a tenth to a sixth of their pages, not the writer its rate. */
static size_t read_pool_threads(size_t wanted)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    size_t most = cores > 2 ? (size_t)cores - 1 : 1;
    if (wanted == 0)
        wanted = 1;
    return wanted < most ? wanted : most;
}

grove_err grove_read_pool_new(struct grove_read_pool **out, size_t threads)
{
    *out = NULL;
    threads = read_pool_threads(threads);
    struct grove_read_pool *pool = calloc(1, sizeof *pool + threads * sizeof pool->threads[0]);
    if (!pool)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->queued, NULL);
    for (; pool->count < threads; pool->count++)
        if (pthread_create(&pool->threads[pool->count], NULL, read_pool_main, pool) != 0) {
            grove_read_pool_free(pool);
            return grove_error_set(GROVE_ENOMEM, "cannot start the read threads");
        }
    *out = pool;
    return GROVE_OK;
}

void grove_read_pool_free(struct grove_read_pool *pool)
{
    if (!pool)
        return;
    pthread_mutex_lock(&pool->lock);
    pool->stopping = true;
    pthread_cond_broadcast(&pool->queued);
    pthread_mutex_unlock(&pool->lock);
    for (size_t i = 0; i < pool->count; i++)
        pthread_join(pool->threads[i], NULL);
    pthread_cond_destroy(&pool->queued);
    pthread_mutex_destroy(&pool->lock);
    free(pool);
}

void grove_read_pool_submit(struct grove_read_pool *pool, struct grove_read_job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&pool->lock);
    if (pool->tail)
        pool->tail->next = job;
    else
        pool->head = job;
    pool->tail = job;
    pthread_cond_signal(&pool->queued);
    pthread_mutex_unlock(&pool->lock);
}
