/* Temporary directories (see tmpdir.h). Criterion runs every test in a child
 * process of its runner: the runner makes one directory per run (report hooks
 * run in the runner) and passes it down in the environment; each test's
 * directories go below it and are removed by the test's own exit handler. */
#include "support/tmpdir.h"

#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SUPPORT_TMPDIR_MAX 64
#define SUPPORT_RUN_DIR    "GROVE_TEST_RUN_DIR" /* the runner's directory, for its tests */

static pthread_mutex_t support_tmpdir_lock = PTHREAD_MUTEX_INITIALIZER;
static char *support_tmpdirs[SUPPORT_TMPDIR_MAX];
static char support_run_dir[PATH_MAX];

static int support_rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return (type == FTW_DP ? rmdir(path) : unlink(path)) == 0 || errno == ENOENT ? 0 : -1;
}

int support_rm_rf(const char *path)
{
    if (access(path, F_OK) != 0 && errno == ENOENT)
        return 0;
    return nftw(path, support_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *support_tmpdir_base(void)
{
    const char *dir = getenv(SUPPORT_RUN_DIR);
    if (!dir || !*dir || access(dir, W_OK) != 0)
        dir = getenv("TMPDIR");
    return dir && *dir ? dir : "/tmp";
}

static void support_tmpdir_remove_all(void)
{
    pthread_mutex_lock(&support_tmpdir_lock);
    for (size_t i = 0; i < SUPPORT_TMPDIR_MAX; i++) {
        if (support_tmpdirs[i] && support_rm_rf(support_tmpdirs[i]) != 0)
            fprintf(stderr, "cannot remove %s: %s\n", support_tmpdirs[i], strerror(errno));
        free(support_tmpdirs[i]);
        support_tmpdirs[i] = NULL;
    }
    pthread_mutex_unlock(&support_tmpdir_lock);
}

const char *support_tmpdir_new(const char *tag)
{
    static bool hooked;
    char *dir = malloc(PATH_MAX);
    cr_assert_not_null(dir);
    snprintf(dir, PATH_MAX, "%s/grove-%s-XXXXXX", support_tmpdir_base(), tag);
    cr_assert_not_null(mkdtemp(dir), "mkdtemp %s: %s", dir, strerror(errno));
    pthread_mutex_lock(&support_tmpdir_lock);
    if (!hooked)
        hooked = atexit(support_tmpdir_remove_all) == 0;
    size_t i = 0;
    while (i < SUPPORT_TMPDIR_MAX && support_tmpdirs[i])
        i++;
    if (i < SUPPORT_TMPDIR_MAX)
        support_tmpdirs[i] = dir;
    pthread_mutex_unlock(&support_tmpdir_lock);
    if (i == SUPPORT_TMPDIR_MAX) {
        support_rm_rf(dir);
        free(dir);
        cr_assert_fail("more than %d temporary directories at once", SUPPORT_TMPDIR_MAX);
    }
    return dir;
}

void support_tmpdir_remove(const char *dir)
{
    char *found = NULL;
    pthread_mutex_lock(&support_tmpdir_lock);
    for (size_t i = 0; i < SUPPORT_TMPDIR_MAX && !found; i++) {
        if (support_tmpdirs[i] == dir) {
            found = support_tmpdirs[i];
            support_tmpdirs[i] = NULL;
        }
    }
    pthread_mutex_unlock(&support_tmpdir_lock);
    if (found && support_rm_rf(found) != 0)
        fprintf(stderr, "cannot remove %s: %s\n", found, strerror(errno));
    free(found);
}

/* In the runner, before any test starts: the run's directory. Failing to make
 * one is not fatal; tests then use $TMPDIR directly. */
ReportHook(PRE_ALL)(struct criterion_test_set *tests)
{
    (void)tests;
    snprintf(support_run_dir, sizeof support_run_dir, "%s/grove-run-XXXXXX", support_tmpdir_base());
    if (mkdtemp(support_run_dir))
        setenv(SUPPORT_RUN_DIR, support_run_dir, 1);
    else
        support_run_dir[0] = '\0';
}

/* In the runner, after the last test: whatever a crashed or killed test left. */
ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    (void)stats;
    if (support_run_dir[0] && support_rm_rf(support_run_dir) != 0)
        fprintf(stderr, "cannot remove %s: %s\n", support_run_dir, strerror(errno));
    support_run_dir[0] = '\0';
    unsetenv(SUPPORT_RUN_DIR);
}
