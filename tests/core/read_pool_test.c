/* The read threads (core/read_pool.h): every job runs, a free runs what is
 * queued first, and the threads run below the writers' priority. */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#ifdef __linux__
#include <sys/resource.h>
#include <sys/syscall.h>
#endif

#include "support.h"

#include "core/read_pool.h"

TestSuite(core_read_pool);

struct counted_job {
    struct grove_read_job job;
    atomic_int *ran;
    int nice; /* the thread's, as the job saw it */
};

static void counted_run(struct grove_read_job *job)
{
    struct counted_job *j = (struct counted_job *)job;
#ifdef __linux__
    j->nice = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
#endif
    usleep(200);
    atomic_fetch_add(j->ran, 1);
}

Test(core_read_pool, every_job_runs_and_a_free_runs_what_is_queued)
{
    enum { JOBS = 200 };
    static struct counted_job jobs[JOBS];
    atomic_int ran = 0;
    struct grove_read_pool *pool = NULL;
    cr_assert_eq(grove_read_pool_new(&pool, 3), GROVE_OK);
    for (int i = 0; i < JOBS; i++) {
        jobs[i] = (struct counted_job){.job.run = counted_run, .ran = &ran, .nice = -100};
        grove_read_pool_submit(pool, &jobs[i].job);
    }
    /* Most are still queued: the free must run them, not drop them. */
    grove_read_pool_free(pool);
    cr_assert_eq(atomic_load(&ran), JOBS);
#ifdef __linux__
    int base = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
    for (int i = 0; i < JOBS; i++)
        cr_assert(jobs[i].nice >= base && jobs[i].nice >= 10,
                  "job %d ran at nice %d, the test at %d", i, jobs[i].nice, base);
#endif
}

Test(core_read_pool, a_pool_of_no_threads_has_one)
{
    atomic_int ran = 0;
    struct counted_job job = {.job.run = counted_run, .ran = &ran};
    struct grove_read_pool *pool = NULL;
    cr_assert_eq(grove_read_pool_new(&pool, 0), GROVE_OK);
    grove_read_pool_submit(pool, &job.job);
    grove_read_pool_free(pool);
    cr_assert_eq(atomic_load(&ran), 1);
}
