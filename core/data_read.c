/* Data API reads (grove/data.h): a resolved row, pages of rows in pk order,
 * and watches. A row is resolved from its state units as it is read, so a
 * write stores its units only (docs/design.md, "Store layout"). A watch
 * walks the arrival log from its cursor, the way a pull does, and answers
 * each changed row once with its state then. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grove/data.h"
#include "grove/json.h"
#include "grove/sys/error.h"
#include "store_internal.h"

enum {
    WATCH_SCAN = 1024,    /* arrival entries one wait reads at most, in one snapshot */
    WATCH_SNAPSHOT = 500, /* rows per snapshot batch */
};

static grove_err data_check_table(struct grove_store *store, const char *table)
{
    if (!table || !grove_schema_has_table(store->schema, table))
        return grove_error_set(GROVE_EFORBIDDEN, "table \"%s\" is not declared",
                               table ? table : "");
    return GROVE_OK;
}

/* Rows read from a statement over state units in pk order (a reader's
 * get_row or list_rows), each resolved from its units. The statement is
 * one step ahead: after a row it stands on the next row's first unit. */
struct data_rows {
    struct store_reader *r;
    sqlite3_stmt *st;
    int rc;             /* the statement's last step */
    void *unit_strings; /* the current row's, in an arena of their own */
    struct state_units units;
    const char *pk;       /* the current row's, in unit_strings */
    struct grove_buf doc; /* the current row's document */
};

static void data_rows_start(struct data_rows *w, struct store_reader *r, sqlite3_stmt *st)
{
    *w = (struct data_rows){.r = r, .st = st};
    w->rc = sqlite3_step(st);
}

static void data_rows_end(struct data_rows *w)
{
    sqlite3_reset(w->st);
    grove_msg_free(w->unit_strings);
    grove_state_units_free(&w->units);
    grove_buf_free(&w->doc);
}

/* Reads the next row's units and resolves them: *found is false past the
 * last row. A deleted row is passed over, so a walk costs the tombstones
 * in its range too. */
static grove_err data_rows_next(struct data_rows *w, bool *found)
{
    *found = false;
    grove_err err = GROVE_OK;
    while (!err && !*found && w->rc == SQLITE_ROW) {
        grove_msg_free(w->unit_strings);
        w->units.count = 0;
        err = grove_msg_new(1, &w->unit_strings);
        const char *pk = (const char *)sqlite3_column_text(w->st, STORE_COL_PK);
        if (!err && !(w->pk = grove_msg_strndup(w->unit_strings, pk, strlen(pk))))
            err = grove_error_set(GROVE_ENOMEM, "out of memory");
        while (!err && w->rc == SQLITE_ROW &&
               strcmp((const char *)sqlite3_column_text(w->st, STORE_COL_PK), w->pk) == 0) {
            struct state_unit *u = grove_state_units_push(&w->units);
            err = u ? grove_store_read_unit(w->st, w->unit_strings, u)
                    : grove_error_set(GROVE_ENOMEM, "out of memory");
            w->rc = sqlite3_step(w->st);
        }
        w->doc.len = 0;
        if (!err)
            err = grove_state_units_resolve(&w->units, &w->doc, found);
    }
    if (!err && w->rc != SQLITE_ROW && w->rc != SQLITE_DONE)
        err = grove_store_reader_error(w->r, "read rows");
    return err;
}

/* The resolved row at (table, pk), on a reader, moved into *doc (a C
 * string the caller frees): *found is false when absent or deleted. */
static grove_err data_read_doc(struct store_reader *r, const char *table, const char *pk,
                               struct grove_buf *doc, bool *found)
{
    sqlite3_stmt *st = r->get_row;
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, pk, -1, SQLITE_STATIC);
    struct data_rows rows;
    data_rows_start(&rows, r, st);
    grove_err err = data_rows_next(&rows, found);
    *doc = rows.doc;
    rows.doc = (struct grove_buf){0};
    data_rows_end(&rows);
    return err;
}

grove_err grove_data_get(struct grove_store *store, const char *table, const char *pk, char **row)
{
    *row = NULL;
    grove_err err = data_check_table(store, table);
    if (err)
        return err;
    struct store_reader *r;
    err = grove_store_reader_get(store, &r);
    if (err)
        return err;
    struct grove_buf doc = {0};
    bool found;
    err = data_read_doc(r, table, pk, &doc, &found);
    grove_store_reader_put(store, r);
    if (!err && !found)
        err = grove_error_set(GROVE_ENOTFOUND, "no row %s/%s", table, pk);
    if (err)
        grove_buf_free(&doc);
    else
        *row = doc.data;
    return err;
}

/* The smallest text above every text starting with prefix: the prefix with
 * its last byte below 0xff raised by one (n bytes into out, 0 when there is
 * none: the prefix is all 0xff). */
static size_t data_prefix_end(const char *prefix, size_t n, char *out)
{
    memcpy(out, prefix, n);
    while (n && (unsigned char)out[n - 1] == 0xff)
        n--;
    if (n)
        out[n - 1] = (char)((unsigned char)out[n - 1] + 1);
    return n;
}

/* Binds list_rows for rows of table after `after`, starting with prefix. */
static void data_bind_list(sqlite3_stmt *st, const char *table, const char *after,
                           const char *prefix, char *prefix_end)
{
    size_t plen = prefix ? strlen(prefix) : 0;
    size_t end = plen ? data_prefix_end(prefix, plen, prefix_end) : 0;
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, after ? after : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, prefix ? prefix : "", -1, SQLITE_STATIC);
    if (end)
        sqlite3_bind_text(st, 4, prefix_end, (int)end, SQLITE_STATIC);
    else /* a blob sorts above every text: no upper bound */
        sqlite3_bind_blob(st, 4, "", 0, SQLITE_STATIC);
}

/* Up to `limit` rows (table, after `after`, with prefix) appended to *entries
 * in msg's arena; *more when rows remain beyond them. On a reader. */
static grove_err data_read_rows(struct store_reader *r, const char *table, const char *after,
                                const char *prefix, size_t limit, void *msg,
                                struct grove_row_entry **entries, size_t *count, bool *more)
{
    char *prefix_end = prefix && prefix[0] ? malloc(strlen(prefix)) : NULL;
    if (prefix && prefix[0] && !prefix_end)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    *entries = grove_msg_alloc(msg, (limit ? limit : 1) * sizeof **entries);
    if (!*entries) {
        free(prefix_end);
        return grove_error_set(GROVE_ENOMEM, "out of memory for %zu rows", limit);
    }
    sqlite3_stmt *st = r->list_rows;
    data_bind_list(st, table, after, prefix, prefix_end);
    struct data_rows walk;
    data_rows_start(&walk, r, st);
    *count = 0;
    *more = false;
    bool found;
    grove_err err;
    while (!(err = data_rows_next(&walk, &found)) && found) {
        if (*count == limit) {
            *more = true;
            break;
        }
        struct grove_row_entry *e = &(*entries)[*count];
        e->pk = grove_msg_strndup(msg, walk.pk, strlen(walk.pk));
        e->row.ptr = grove_msg_strndup(msg, walk.doc.data, walk.doc.len);
        e->row.len = walk.doc.len;
        if (!e->pk || !e->row.ptr) {
            err = grove_error_set(GROVE_ENOMEM, "out of memory");
            break;
        }
        ++*count;
    }
    data_rows_end(&walk);
    free(prefix_end);
    return err;
}

grove_err grove_data_list(struct grove_store *store, const struct grove_list_query *q,
                          struct grove_row_page **out)
{
    *out = NULL;
    grove_err err = data_check_table(store, q->table);
    if (err)
        return err;
    size_t limit = q->limit ? q->limit : GROVE_DATA_LIST_DEFAULT;
    if (limit > GROVE_DATA_LIST_MAX)
        return grove_error_set(GROVE_EINVAL, "limit: %zu is more than %d", limit,
                               GROVE_DATA_LIST_MAX);
    struct grove_row_page *page;
    err = grove_msg_new(sizeof *page, (void **)&page);
    if (err)
        return err;
    bool more;
    struct store_reader *r;
    err = grove_store_reader_get(store, &r);
    if (!err) {
        err = data_read_rows(r, q->table, q->after, q->prefix, limit, page, &page->rows,
                             &page->count, &more);
        grove_store_reader_put(store, r);
    }
    if (err) {
        grove_msg_free(page);
        return err;
    }
    if (more)
        page->next = page->rows[page->count - 1].pk;
    *out = page;
    return GROVE_OK;
}

/* ---- watches ---------------------------------------------------------------- */

struct grove_watch {
    struct grove_store *store;
    char *table, *prefix;
    size_t prefix_len;
    struct grove_hlc cursor; /* arrival stamp the watch goes on from */
    char cursor_text[GROVE_DATA_CURSOR_MAX];
    bool snapshot;        /* its snapshot is not finished */
    char *snapshot_after; /* the last pk the snapshot sent, NULL before the first */
};

/* A cursor is an arrival stamp of this node: "TS.C". */
static void data_cursor_format(const struct grove_hlc *at, char out[GROVE_DATA_CURSOR_MAX])
{
    snprintf(out, GROVE_DATA_CURSOR_MAX, "%" PRId64 ".%" PRIu32, at->ts, at->c);
}

/* Digits at *p up to max, *p moved past them; false when there are none or
 * the number is above max. */
static bool data_parse_uint(const char **p, uint64_t max, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned digit = (unsigned)(*s - '0');
        if (v > (max - digit) / 10)
            return false;
        v = v * 10 + digit;
    }
    if (s == *p)
        return false;
    *p = s;
    *out = v;
    return true;
}

static grove_err data_cursor_parse(const char *text, struct grove_hlc *out)
{
    memset(out, 0, sizeof *out);
    const char *p = text;
    uint64_t ts, c;
    if (!data_parse_uint(&p, INT64_MAX, &ts) || *p++ != '.' ||
        !data_parse_uint(&p, UINT32_MAX, &c) || *p)
        return grove_error_set(
            GROVE_EINVAL, "cursor: \"%.64s\" is not a watch cursor (TS.C from an event)", text);
    out->ts = (int64_t)ts;
    out->c = (uint32_t)c;
    return GROVE_OK;
}

const char *grove_data_watch_cursor(const struct grove_watch *w)
{
    return w->cursor_text;
}

void grove_data_watch_close(struct grove_watch *w)
{
    if (!w)
        return;
    free(w->table);
    free(w->prefix);
    free(w->snapshot_after);
    free(w);
}

grove_err grove_data_watch_open(struct grove_store *store, const struct grove_watch_options *opts,
                                struct grove_watch **out)
{
    *out = NULL;
    grove_err err = data_check_table(store, opts->table);
    if (err)
        return err;
    struct grove_watch *w = calloc(1, sizeof *w);
    if (!w)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    w->store = store;
    w->snapshot = opts->snapshot;
    w->table = strdup(opts->table);
    w->prefix = strdup(opts->prefix ? opts->prefix : "");
    if (!w->table || !w->prefix) {
        grove_data_watch_close(w);
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    }
    w->prefix_len = strlen(w->prefix);
    if (opts->since && opts->since[0])
        err = data_cursor_parse(opts->since, &w->cursor);
    else
        err = grove_store_latest(store, &w->cursor);
    if (err) {
        grove_data_watch_close(w);
        return err;
    }
    w->cursor.node[0] = '\0';
    data_cursor_format(&w->cursor, w->cursor_text);
    *out = w;
    return GROVE_OK;
}

static grove_err data_batch_new(struct grove_watch_batch **out, size_t cap)
{
    grove_err err = grove_msg_new(sizeof **out, (void **)out);
    if (!err && !((*out)->events = grove_msg_alloc(*out, (cap ? cap : 1) * sizeof *(*out)->events)))
        err = grove_error_set(GROVE_ENOMEM, "out of memory for %zu events", cap);
    if (err) {
        grove_msg_free(*out);
        *out = NULL;
    }
    return err;
}

/* The next snapshot batch: rows as they are, each with the cursor the
 * watch goes on from once the snapshot is sent. */
static grove_err data_watch_snapshot(struct grove_watch *w, struct grove_watch_batch *batch)
{
    struct grove_row_entry *rows;
    size_t count;
    bool more;
    struct store_reader *r;
    grove_err err = grove_store_reader_get(w->store, &r);
    if (err)
        return err;
    err = data_read_rows(r, w->table, w->snapshot_after, w->prefix, WATCH_SNAPSHOT, batch, &rows,
                         &count, &more);
    grove_store_reader_put(w->store, r);
    if (err)
        return err;
    for (size_t i = 0; i < count; i++) {
        struct grove_row_event *e = &batch->events[i];
        e->pk = rows[i].pk;
        e->row = rows[i].row;
        memcpy(e->cursor, w->cursor_text, sizeof e->cursor);
    }
    batch->count = count;
    w->snapshot = more;
    if (more) {
        char *last = strdup(rows[count - 1].pk);
        if (!last)
            return grove_error_set(GROVE_ENOMEM, "out of memory");
        free(w->snapshot_after);
        w->snapshot_after = last;
    }
    return GROVE_OK;
}

/* One changed row found by a scan: its pk and the arrival stamp of its last
 * change in the scan. */
struct watch_hit {
    char *pk;
    struct grove_hlc at;
};

static int watch_hit_cmp_pk(const void *a, const void *b)
{
    const struct watch_hit *x = a, *y = b;
    int n = strcmp(x->pk, y->pk);
    if (n)
        return n;
    return grove_hlc_compare(&x->at, &y->at);
}

static int watch_hit_cmp_at(const void *a, const void *b)
{
    return grove_hlc_compare(&((const struct watch_hit *)a)->at,
                             &((const struct watch_hit *)b)->at);
}

/* Reads what changed after the cursor in w's rows (one WATCH_SCAN at most)
 * into hits, deduplicated to the last change of each row, in arrival
 * order; moves *scanned_to to the last entry read. On a reader; the pks
 * live in arena. */
static grove_err data_watch_scan(struct grove_watch *w, struct store_reader *r, void *arena,
                                 struct watch_hit *hits, size_t *count,
                                 struct grove_hlc *scanned_to)
{
    sqlite3_stmt *st = r->watch_scan;
    sqlite3_int64 seq;
    grove_err err = grove_store_arrivals_after(r, &w->cursor, &seq);
    if (err)
        return err;
    sqlite3_bind_int64(st, 1, w->cursor.ts);
    sqlite3_bind_int64(st, 2, w->cursor.c);
    sqlite3_bind_int(st, 3, WATCH_SCAN);
    sqlite3_bind_int64(st, 4, seq);
    int rc;
    *count = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        scanned_to->ts = sqlite3_column_int64(st, 2);
        scanned_to->c = (uint32_t)sqlite3_column_int64(st, 3);
        const char *table = (const char *)sqlite3_column_text(st, 0);
        const char *pk = (const char *)sqlite3_column_text(st, 1);
        size_t pk_len = (size_t)sqlite3_column_bytes(st, 1);
        if (strcmp(table, w->table) != 0 ||
            (w->prefix_len && (pk_len < w->prefix_len || memcmp(pk, w->prefix, w->prefix_len))))
            continue;
        struct watch_hit *h = &hits[(*count)++];
        h->at = *scanned_to;
        if (!(h->pk = grove_msg_strndup(arena, pk, pk_len))) {
            err = grove_error_set(GROVE_ENOMEM, "out of memory");
            break;
        }
    }
    if (!err && rc != SQLITE_ROW && rc != SQLITE_DONE)
        err = grove_store_reader_error(r, "watch");
    sqlite3_reset(st);
    if (err || *count < 2)
        return err;
    /* One event per row: its last change, which the row's state includes. */
    qsort(hits, *count, sizeof *hits, watch_hit_cmp_pk);
    size_t kept = 0;
    for (size_t i = 0; i < *count; i++)
        if (i + 1 == *count || strcmp(hits[i].pk, hits[i + 1].pk) != 0)
            hits[kept++] = hits[i];
    *count = kept;
    qsort(hits, kept, sizeof *hits, watch_hit_cmp_at);
    return GROVE_OK;
}

/* One scan from the cursor into batch: the rows it found, with their state
 * now. The cursor moves past everything scanned. */
static grove_err data_watch_changes(struct grove_watch *w, struct grove_watch_batch *batch,
                                    struct watch_hit *hits)
{
    struct grove_hlc scanned_to = w->cursor;
    size_t count = 0; /* set by the scan; GCC at -Os cannot tell */
    struct store_reader *r;
    grove_err err = grove_store_reader_get(w->store, &r);
    if (err)
        return err;
    /* One snapshot for the scan and the rows it found. */
    err = grove_store_reader_exec(r, "BEGIN");
    if (!err)
        err = data_watch_scan(w, r, batch, hits, &count, &scanned_to);
    for (size_t i = 0; !err && i < count; i++) {
        struct grove_row_event *e = &batch->events[i];
        struct grove_buf doc = {0};
        bool found;
        err = data_read_doc(r, w->table, hits[i].pk, &doc, &found);
        if (!err && found && !(e->row.ptr = grove_msg_strndup(batch, doc.data, doc.len)))
            err = grove_error_set(GROVE_ENOMEM, "out of memory");
        e->row.len = found ? doc.len : 0;
        grove_buf_free(&doc);
        e->pk = hits[i].pk;
        e->deleted = !found;
        data_cursor_format(&hits[i].at, e->cursor);
    }
    if (!err)
        err = grove_store_reader_exec(r, "COMMIT");
    grove_store_reader_put(w->store, r);
    if (err)
        return err;
    batch->count = count;
    w->cursor = scanned_to;
    data_cursor_format(&w->cursor, w->cursor_text);
    return GROVE_OK;
}

grove_err grove_data_watch_next(struct grove_watch *w, int timeout_ms,
                                struct grove_watch_batch **out)
{
    *out = NULL;
    struct grove_watch_batch *batch;
    grove_err err = data_batch_new(&batch, w->snapshot ? WATCH_SNAPSHOT : WATCH_SCAN);
    if (err)
        return err;
    if (w->snapshot) {
        err = data_watch_snapshot(w, batch);
        if (err || batch->count) {
            if (err)
                grove_msg_free(batch);
            else
                *out = batch;
            return err;
        }
    }
    struct watch_hit *hits = malloc(WATCH_SCAN * sizeof *hits);
    if (!hits) {
        grove_msg_free(batch);
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    }
    for (;;) {
        struct grove_hlc before = w->cursor;
        err = data_watch_changes(w, batch, hits);
        if (err || batch->count)
            break;
        if (grove_hlc_compare(&before, &w->cursor) != 0)
            continue; /* only other rows changed: look on from past them */
        err = grove_store_wait(w->store, &w->cursor, timeout_ms);
        if (err)
            break;
    }
    free(hits);
    if (err) {
        grove_msg_free(batch);
        return err;
    }
    *out = batch;
    return GROVE_OK;
}
