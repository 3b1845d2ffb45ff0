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

struct overlap_job {
    struct grove_read_job job;
    atomic_int *running, *most;
};

static void overlap_run(struct grove_read_job *job)
{
    struct overlap_job *j = (struct overlap_job *)job;
    int now = atomic_fetch_add(j->running, 1) + 1;
    for (int seen = atomic_load(j->most); now > seen;)
        if (atomic_compare_exchange_weak(j->most, &seen, now))
            break;
    usleep(5000);
    atomic_fetch_sub(j->running, 1);
}

/* However many are asked for, pulls leave a core to the writer and the
 * threads that send the pages. */
Test(core_read_pool, pulls_run_at_most_one_fewer_than_the_cores_at_once)
{
    enum { JOBS = 64 };
    static struct overlap_job jobs[JOBS];
    atomic_int running = 0, most = 0;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int cap = cores > 2 ? (int)cores - 1 : 1;
    if (cap > JOBS)
        cap = JOBS;
    struct grove_read_pool *pool = NULL;
    cr_assert_eq(grove_read_pool_new(&pool, JOBS), GROVE_OK);
    for (int i = 0; i < JOBS; i++) {
        jobs[i] = (struct overlap_job){.job.run = overlap_run, .running = &running, .most = &most};
        grove_read_pool_submit(pool, &jobs[i].job);
    }
    grove_read_pool_free(pool);
    cr_assert_eq(atomic_load(&most), cap, "%d ran at once on %ld cores", atomic_load(&most), cores);
}
