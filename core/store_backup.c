/* Online backups (grove_store_backup) and the restored mark they leave in
 * the copy. The copy is read from a connection of its own inside one read
 * transaction: in WAL mode that snapshot stays fixed while the store's
 * writer commits, so the backup never restarts and never blocks a write. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "grove/sys/error.h"
#include "store_internal.h"

/* Pages per backup step; between steps the source lock is not held. */
#define BACKUP_STEP_PAGES 256

static grove_err backup_sqlite_error(sqlite3 *db, const char *what, const char *path)
{
    return grove_error_set(GROVE_ESTORE, "backup to %s: %s: %s", path, what,
                           db ? sqlite3_errmsg(db) : "out of memory");
}

static grove_err backup_exec(sqlite3 *db, const char *sql, const char *what, const char *path)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK
               ? GROVE_OK
               : backup_sqlite_error(db, what, path);
}

/* The copy's one-line integrity_check answer must be "ok". */
static grove_err backup_check(sqlite3 *dst, const char *path)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(dst, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK)
        return backup_sqlite_error(dst, "integrity_check", path);
    grove_err err = GROVE_OK;
    if (sqlite3_step(st) != SQLITE_ROW)
        err = backup_sqlite_error(dst, "integrity_check", path);
    else if (strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0)
        err = grove_error_set(GROVE_ESTORE, "backup to %s: integrity_check: %s", path,
                              (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return err;
}

/* Marks the copy restored and turns its peers' echo filters off, so that a
 * node opened on it pulls back its own changes made after the copy. */
static grove_err backup_mark(sqlite3 *dst, const char *path)
{
    char sql[256];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    snprintf(sql, sizeof sql,
             "UPDATE cursors SET catching_up = 1;"
             "INSERT OR REPLACE INTO meta(key, value) VALUES('restored_from_backup',"
             " '%04d-%02d-%02dT%02d:%02d:%02dZ');",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return backup_exec(dst, sql, "marking the copy", path);
}

grove_err grove_store_backup(struct grove_store *store, const char *path, int64_t *bytes)
{
    if (!path || !*path)
        return grove_error_set(GROVE_EINVAL, "backup: no file given");
    /* Created here, exclusively: an existing file (the store itself, too)
     * is never overwritten. */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return grove_error_set_native(GROVE_EINVAL, errno, "backup to %s: %s", path,
                                      strerror(errno));
    close(fd);
    const char *source = sqlite3_db_filename(store->db, "main");
    sqlite3 *src = NULL, *dst = NULL;
    sqlite3_backup *b = NULL;
    grove_err err = GROVE_OK;
    if (sqlite3_open_v2(source, &src, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        err = backup_sqlite_error(src, "opening the store", path);
        goto done;
    }
    sqlite3_busy_timeout(src, STORE_BUSY_TIMEOUT_MS);
    if (sqlite3_open_v2(path, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        err = backup_sqlite_error(dst, "opening the copy", path);
        goto done;
    }
    /* The snapshot: every step reads the same committed state. */
    err = backup_exec(src, "BEGIN; SELECT count(*) FROM meta;", "starting a read", path);
    if (err)
        goto done;
    if (!(b = sqlite3_backup_init(dst, "main", src, "main"))) {
        err = backup_sqlite_error(dst, "backup_init", path);
        goto done;
    }
    int rc;
    while ((rc = sqlite3_backup_step(b, BACKUP_STEP_PAGES)) == SQLITE_OK || rc == SQLITE_BUSY ||
           rc == SQLITE_LOCKED)
        if (rc != SQLITE_OK)
            sqlite3_sleep(5);
    sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE) {
        err = grove_error_set(GROVE_ESTORE, "backup to %s: %s", path, sqlite3_errstr(rc));
        goto done;
    }
    sqlite3_exec(src, "COMMIT", NULL, NULL, NULL);
    /* The copy keeps the store's WAL mode; it is closed clean (checkpointed). */
    err = backup_check(dst, path);
    if (!err)
        err = backup_mark(dst, path);
done:
    sqlite3_close(src);
    if (dst && sqlite3_close(dst) != SQLITE_OK && !err)
        err = grove_error_set(GROVE_ESTORE, "backup to %s: closing the copy", path);
    if (err)
        unlink(path);
    if (!err && bytes) {
        struct stat st;
        *bytes = stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
    }
    return err;
}

bool grove_store_restored(struct grove_store *store, char *when, size_t size)
{
    sqlite3_stmt *st = NULL;
    bool restored = false;
    pthread_mutex_lock(&store->lock);
    if (sqlite3_prepare_v2(store->db, "SELECT value FROM meta WHERE key = 'restored_from_backup'",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        restored = true;
        if (when && size)
            snprintf(when, size, "%s", (const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&store->lock);
    return restored;
}

grove_err grove_store_clear_restored(struct grove_store *store)
{
    pthread_mutex_lock(&store->lock);
    grove_err err = grove_store_exec(store, "DELETE FROM meta WHERE key = 'restored_from_backup'");
    pthread_mutex_unlock(&store->lock);
    return err;
}
