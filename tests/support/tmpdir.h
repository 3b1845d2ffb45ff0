/* Temporary directories for tests: each is made under one directory per test
 * run and removed, with everything in it, when the test ends, whether it
 * passed or failed. */
#ifndef GROVE_TESTS_SUPPORT_TMPDIR_H
#define GROVE_TESTS_SUPPORT_TMPDIR_H

/* A fresh directory <run dir>/grove-<tag>-XXXXXX. The run dir is the one the
 * Criterion runner made for this executable (removed when the runner ends,
 * so even a crashed or timed-out test leaves nothing), else $TMPDIR, else
 * /tmp. The path is borrowed until support_tmpdir_remove; whatever is left
 * is removed when the process exits (Criterion runs a test's fini and exit
 * handlers after a failed assertion). Asserts on failure. */
const char *support_tmpdir_new(const char *tag);

/* Removes dir (from support_tmpdir_new) with everything in it, now. */
void support_tmpdir_remove(const char *dir);

/* Removes path and, for a directory, everything below it (not following
 * symbolic links). Returns 0, or -1 with errno set; a missing path is 0. */
int support_rm_rf(const char *path);

#endif
