/* Small settings of the store's own, in its meta table beside the node id,
 * for the parts above it (the syncer's record of what it syncs with each
 * peer: grove/syncer.h, grove_sync_scope). Keys are namespaced by their
 * user ("syncer.scope ..."). */
#include <stdio.h>

#include "grove/sys/error.h"
#include "store_internal.h"

grove_err grove_store_setting_get(struct grove_store *store, const char *key, char *out,
                                  size_t size)
{
    out[0] = '\0';
    pthread_mutex_lock(&store->lock);
    sqlite3_stmt *st = NULL;
    grove_err err = GROVE_OK;
    if (sqlite3_prepare_v2(store->db, "SELECT value FROM meta WHERE key = ?1", -1, &st, NULL) !=
        SQLITE_OK) {
        err = grove_store_sqlite_error(store, "prepare setting");
    } else {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            snprintf(out, size, "%s", (const char *)sqlite3_column_text(st, 0));
        else if (rc != SQLITE_DONE)
            err = grove_store_sqlite_error(store, "read setting");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&store->lock);
    return err;
}

grove_err grove_store_setting_set(struct grove_store *store, const char *key, const char *value)
{
    pthread_mutex_lock(&store->lock);
    sqlite3_stmt *st = NULL;
    grove_err err = GROVE_OK;
    if (sqlite3_prepare_v2(store->db, "INSERT OR REPLACE INTO meta(key, value) VALUES(?1, ?2)", -1,
                           &st, NULL) != SQLITE_OK) {
        err = grove_store_sqlite_error(store, "prepare setting");
    } else {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            err = grove_store_sqlite_error(store, "write setting");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&store->lock);
    return err;
}
