/* Reads of pages of changes by arrival stamp (docs/design.md, "Arrival
 * stamps and cursors"); resolved rows are read in data_read.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grove/json.h"
#include "grove/sys/error.h"
#include "store_echo.h"
#include "store_internal.h"

grove_err grove_store_changes_sql(struct grove_store *store, const struct grove_store_query *q,
                                  struct grove_buf *sql)
{
    /* The page walks the arrival log from the cursor's seq (?4, found by
     * grove_store_arrivals_after) and stops after what it may read, so it
     * costs the entries it returns or passes over, whatever tables it names.
     * The stamp condition keeps a cursor ahead of every entry (a peer's
     * clock running fast) from reading what comes after it. */
    static const char head[] = "SELECT " STORE_UNIT_COLUMNS ", ats, ac FROM arrived"
                               " WHERE seq >= ?4 AND (ats, ac) > (?1, ?2)";
    grove_err err = grove_buf_append(sql, head, sizeof head - 1);
    for (size_t i = 0; !err && i < q->table_count; i++) {
        if (!grove_schema_has_table(store->schema, q->tables[i]))
            return grove_error_set(GROVE_EFORBIDDEN, "table \"%s\" is not declared", q->tables[i]);
        /* Numbered: a bare "?" here would take number 3, the LIMIT's. */
        char param[32];
        int n = snprintf(param, sizeof param, "%s?%zu", i ? "," : " AND tbl IN (", i + 5);
        err = grove_buf_append(sql, param, (size_t)n);
    }
    if (!err && q->table_count)
        err = grove_buf_append(sql, ")", 1);
    if (!err)
        err = grove_buf_append(sql, " ORDER BY seq LIMIT ?3", 22);
    return err;
}

/* Copies an entry into the response's arena as a wire record. */
static grove_err store_page_copy(struct grove_pull_response *resp, const struct store_page_entry *e,
                                 struct grove_change *out)
{
    struct state_unit bare = *e->unit, u;
    bare.src = ""; /* a record does not carry it */
    const char *table = grove_msg_strndup(resp, e->table, strlen(e->table));
    const char *pk = grove_msg_strndup(resp, e->pk, strlen(e->pk));
    grove_err err = grove_store_copy_unit(resp, &bare, &u);
    if (!err && (!table || !pk))
        err = grove_error_set(GROVE_ENOMEM, "out of memory");
    if (err)
        return err;
    grove_state_unit_to_change(&u, table, pk, out);
    if (out->set_op != GROVE_SET_NONE) {
        out->elements = grove_msg_alloc(resp, sizeof *out->elements);
        if (!out->elements)
            return grove_error_set(GROVE_ENOMEM, "out of memory");
        out->elements[0] = u.sub;
        out->element_count = 1;
    }
    return GROVE_OK;
}

/* What a record weighs against a page's byte bound: at least its JSON
 * form's length, so a bound holds for the encoded page (an SSE line under
 * a client's limit). Strings count six bytes a byte (the most escaping
 * makes of one: \u00XX), raw JSON (value, element) as it is, and names,
 * numbers and punctuation at their longest. */
static size_t store_record_bytes(const struct store_page_entry *e)
{
    const struct state_unit *u = e->unit;
    size_t strings = strlen(e->table) + strlen(e->pk) + strlen(u->field) + strlen(u->hlc.node) +
                     strlen(u->origin);
    return 320 + u->sub.len + u->value.len + 6 * strings;
}

/* Adds the record's source to q->sources, once. */
static grove_err store_note_source(const char *src, struct grove_store_sources *sources,
                                   struct grove_pull_response *resp)
{
    for (size_t i = 0; i < sources->count; i++)
        if (strcmp(sources->nodes[i], src) == 0)
            return GROVE_OK;
    if (sources->count == GROVE_STORE_SOURCES_MAX) {
        sources->more = true;
        return GROVE_OK;
    }
    if (!(sources->nodes[sources->count] = grove_msg_strndup(resp, src, strlen(src))))
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    sources->count++;
    return GROVE_OK;
}

/* Changes a page returns at most, and rows it may read: echoes are passed
 * over without counting against the page, up to a bound that keeps a read
 * short, so a peer's own changes cost no round trips to skip. */
static size_t store_page_limit(const struct grove_store_query *q, size_t *scan_max)
{
    size_t limit = q->limit ? q->limit : 1000;
    *scan_max = limit * STORE_ECHO_SCAN;
    return limit;
}

void grove_store_page_start(struct store_page *p, const struct grove_store *store,
                            const struct grove_store_query *q, struct grove_pull_response *resp)
{
    *p = (struct store_page){.q = q, .resp = resp, .node_id = store->node_id};
    p->limit = store_page_limit(q, &p->scan_max);
}

bool grove_store_page_names(const struct store_page *p, const char *table)
{
    for (size_t i = 0; i < p->q->table_count; i++)
        if (strcmp(p->q->tables[i], table) == 0)
            return true;
    return p->q->table_count == 0;
}

bool grove_store_page_wants(struct store_page *p, const struct store_page_entry *e, bool *full)
{
    const struct grove_store_query *q = p->q;
    struct grove_pull_response *resp = p->resp;
    *full = resp->count == p->limit || p->scanned == p->scan_max ||
            (q->max_bytes && p->bytes >= q->max_bytes);
    if (*full) {
        resp->has_more = true;
        return false;
    }
    p->scanned++;
    /* The cursor moves past echoes too (store_echo.h). */
    resp->latest_hlc.ts = e->ats;
    resp->latest_hlc.c = e->ac;
    memcpy(resp->latest_hlc.node, p->node_id, sizeof resp->latest_hlc.node);
    const struct state_unit *u = e->unit;
    return !grove_store_echo_is(u->origin, u->src, q->exclude_node) &&
           (!q->filter ||
            grove_pull_filter_match(q->filter, e->pk, u->field, u->kind == STATE_TOMBSTONE));
}

grove_err grove_store_page_add(struct store_page *p, const struct store_page_entry *e)
{
    struct grove_pull_response *resp = p->resp;
    grove_err err = grove_msg_reserve_changes(resp, &resp->changes, &p->cap, resp->count + 1);
    if (!err)
        err = store_page_copy(resp, e, &resp->changes[resp->count]);
    if (!err && p->q->sources)
        err = store_note_source(e->unit->src, p->q->sources, resp);
    if (err)
        return err;
    resp->count++;
    if (p->q->max_bytes)
        p->bytes += store_record_bytes(e);
    return GROVE_OK;
}

grove_err grove_store_changes_prepare(struct store_reader *r, const struct grove_store_query *q,
                                      const struct grove_buf *sql, sqlite3_stmt **out)
{
    /* The SQL depends only on the number of tables named: pages of the
     * same shape reuse the reader's statement, bound afresh. */
    sqlite3_stmt **kept =
        q->table_count < STORE_READER_PAGE_SHAPES ? &r->changes[q->table_count] : NULL;
    sqlite3_stmt *st = kept ? *kept : NULL;
    if (!st && sqlite3_prepare_v3(r->db, sql->data, (int)sql->len,
                                  kept ? SQLITE_PREPARE_PERSISTENT : 0, &st, NULL) != SQLITE_OK)
        return grove_store_reader_error(r, "prepare changes query");
    if (kept)
        *kept = st;
    sqlite3_int64 seq;
    grove_err err = grove_store_arrivals_after(r, &q->since, &seq);
    if (err) {
        grove_store_changes_done(r, st);
        return err;
    }
    size_t scan_max;
    store_page_limit(q, &scan_max);
    sqlite3_bind_int64(st, 1, q->since.ts);
    sqlite3_bind_int64(st, 2, q->since.c);
    /* One row beyond what may be read tells whether more remain. */
    sqlite3_bind_int64(st, 3, (sqlite3_int64)scan_max + 1);
    sqlite3_bind_int64(st, 4, seq);
    for (size_t i = 0; i < q->table_count; i++)
        sqlite3_bind_text(st, 5 + (int)i, q->tables[i], -1, SQLITE_STATIC);
    *out = st;
    return GROVE_OK;
}

/* Steps a search of the arrival log: SQLITE_ROW with the entry's seq and
 * whether it is stamped after `since`, SQLITE_DONE when there is none. */
static int store_arrival_row(sqlite3_stmt *st, const struct grove_hlc *since, sqlite3_int64 *seq,
                             bool *after)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *seq = sqlite3_column_int64(st, 0);
        sqlite3_int64 ts = sqlite3_column_int64(st, 1), c = sqlite3_column_int64(st, 2);
        *after = ts > since->ts || (ts == since->ts && c > (sqlite3_int64)since->c);
    }
    sqlite3_reset(st);
    return rc;
}

grove_err grove_store_arrivals_after(struct store_reader *r, const struct grove_hlc *since,
                                     sqlite3_int64 *seq)
{
    *seq = 0;
    if (since->ts <= 0 && since->c == 0)
        return GROVE_OK; /* from the start */
    bool after = false;
    sqlite3_int64 hi;
    int rc = store_arrival_row(r->arrival_last, since, &hi, &after);
    if (rc == SQLITE_DONE || (rc == SQLITE_ROW && !after)) {
        *seq = rc == SQLITE_DONE ? 0 : hi + 1; /* nothing after the cursor */
        return GROVE_OK;
    }
    /* A search over seqs (they have gaps where entries were swept): every
     * entry before lo is stamped at or before `since`, the first one from hi
     * on after it. Cursors are most often near the log's end, so the search
     * first steps back from it in growing steps (the pages it reads there
     * are those the page will read), then halves what is left. */
    sqlite3_int64 lo = 0, step = 1;
    bool galloping = true;
    while (rc == SQLITE_ROW && lo < hi) {
        sqlite3_int64 mid = galloping && hi - step > lo ? hi - step : lo + (hi - lo) / 2, found;
        sqlite3_bind_int64(r->arrival_at, 1, mid);
        rc = store_arrival_row(r->arrival_at, since, &found, &after);
        if (rc == SQLITE_ROW && after) {
            hi = mid; /* no entry lies between mid and found */
            step *= 2;
        } else if (rc == SQLITE_ROW) {
            lo = found + 1; /* entries before found are stamped before it */
            galloping = false;
        }
    }
    if (rc != SQLITE_ROW)
        return grove_store_reader_error(r, "search the arrival log");
    *seq = lo;
    return GROVE_OK;
}

void grove_store_changes_done(struct store_reader *r, sqlite3_stmt *st)
{
    for (size_t i = 0; i < STORE_READER_PAGE_SHAPES; i++)
        if (st && r->changes[i] == st) {
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            return;
        }
    sqlite3_finalize(st);
}

/* The entry at the statement's row, its key and source borrowed from its
 * columns (valid until the next step). */
static grove_err store_borrow_entry(sqlite3_stmt *st, struct state_unit *u,
                                    struct store_page_entry *e)
{
    e->table = (const char *)sqlite3_column_text(st, STORE_COL_TABLE);
    e->pk = (const char *)sqlite3_column_text(st, STORE_COL_PK);
    e->unit = u;
    e->ats = sqlite3_column_int64(st, STORE_COL_ATS);
    e->ac = (uint32_t)sqlite3_column_int64(st, STORE_COL_AC);
    grove_err err = grove_store_borrow_unit_key(st, u);
    if (!err && (!e->table || !e->pk))
        err = grove_error_set(GROVE_ENOMEM, "out of memory");
    return err;
}

grove_err grove_store_changes_read(struct grove_store *store, struct store_reader *r,
                                   sqlite3_stmt *st, const struct grove_store_query *q,
                                   struct grove_pull_response *resp)
{
    struct store_page page;
    grove_store_page_start(&page, store, q, resp);
    grove_err err = GROVE_OK;
    bool full = false;
    int rc = SQLITE_DONE;
    while (!err && !full && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct state_unit unit;
        struct store_page_entry e;
        err = store_borrow_entry(st, &unit, &e);
        if (!err && grove_store_page_wants(&page, &e, &full)) {
            grove_store_borrow_unit_rest(st, &unit);
            err = grove_store_page_add(&page, &e);
        }
    }
    if (!err && !full && rc != SQLITE_DONE)
        err = grove_store_reader_error(r, "read changes");
    return err;
}

grove_err grove_store_changes(struct grove_store *store, const struct grove_store_query *q,
                              struct grove_pull_response **out)
{
    *out = NULL;
    struct grove_buf sql = {0};
    struct grove_pull_response *resp = NULL;
    sqlite3_stmt *st = NULL;
    grove_err err = grove_store_changes_sql(store, q, &sql);
    if (!err)
        err = grove_pull_response_new(&resp);
    if (err)
        goto done;
    resp->since = q->since;
    resp->latest_hlc = q->since;
    /* A page at the head is read from memory (store_recent.h). */
    struct store_page page;
    grove_store_page_start(&page, store, q, resp);
    bool answered;
    err = grove_store_recent_page(&store->recent, &page, &answered);
    if (err || answered)
        goto done;
    /* One statement, one snapshot: a page sees a prefix of the arrival
     * stamps, since each is assigned inside the transaction that commits it
     * and writes commit one at a time (docs/design.md, "Reads beside
     * writes"). */
    struct store_reader *r;
    err = grove_store_reader_get(store, &r);
    if (err)
        goto done;
    err = grove_store_changes_prepare(r, q, &sql, &st);
    if (!err)
        err = grove_store_changes_read(store, r, st, q, resp);
    grove_store_changes_done(r, st);
    grove_store_reader_put(store, r);
done:
    grove_buf_free(&sql);
    if (err) {
        grove_msg_free(resp);
        return err;
    }
    *out = resp;
    return GROVE_OK;
}
