/* Helpers for the core tests that look inside the store
 * (core/store_internal.h): opening one with its readers and recent commits
 * as a test wants them, reading its arrival log directly. */
#ifndef GROVE_TESTS_CORE_STORE_INSIDE_H
#define GROVE_TESTS_CORE_STORE_INSIDE_H

#include "support.h"

#include "core/store_internal.h"

/* The store at <support_dir>/a.db, node "a", the docs schema; readers and
 * recent as grove_store_options.readers and recent_bytes take them. */
static inline struct grove_store *store_inside_open(int readers, int64_t recent)
{
    char path[512];
    snprintf(path, sizeof path, "%s/a.db", support_dir);
    struct grove_store_options o = {.path = path,
                                    .node_id = "a",
                                    .schema = support_docs_schema,
                                    .readers = readers,
                                    .recent_bytes = recent};
    struct grove_store *s;
    cr_assert_eq(grove_store_open(&s, &o), GROVE_OK, "%s", grove_errmsg());
    return s;
}

/* The stamps of the arrival log's entries in its order, stale ones
 * included: at most max into out, how many returned. */
static inline size_t store_inside_log_stamps(struct grove_store *s, struct grove_hlc *out,
                                             size_t max)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st;
    cr_assert_eq(
        sqlite3_prepare_v2(s->db, "SELECT ats, ac FROM arrivals ORDER BY seq", -1, &st, NULL),
        SQLITE_OK);
    size_t n = 0;
    while (n < max && sqlite3_step(st) == SQLITE_ROW) {
        out[n] = (struct grove_hlc){.ts = sqlite3_column_int64(st, 0),
                                    .c = (uint32_t)sqlite3_column_int64(st, 1)};
        grove_hlc_set_node(&out[n++], grove_store_node_id(s)); /* arrival stamps are its own */
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return n;
}

#endif
