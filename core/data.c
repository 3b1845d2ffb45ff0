/* Data API writes (grove/data.h): a write is checked whole against the
 * schema, turned into change records stamped with one fresh HLC, and merged
 * like a remote batch. Writers queue their writes and one of them commits
 * every queued write in one transaction (group commit), each in a savepoint
 * of its own so that one failing write leaves the others alone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "grove/data.h"
#include "grove/json.h"
#include "grove/sys/error.h"
#include "json_utf8.h"
#include "store_internal.h"

enum { DATA_IDEMPOTENCY_KEEP_S = 24 * 3600 };

/* ---- checking a write -------------------------------------------------------- */

/* Where an error is: "rows[2]: " in a write of many rows, nothing in one. */
static grove_err data_locate(grove_err err, const struct grove_write *w, size_t row)
{
    return w->row_count > 1 ? grove_error_prefix(err, "rows[%zu]: ", row) : err;
}

static bool data_utf8(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t k = json_utf8_seq(p + i, n - i);
        if (!k)
            return false;
        i += k;
    }
    return true;
}

static grove_err data_check_json(const struct grove_slice *v, const char *what)
{
    if (!v->ptr)
        return grove_error_set(GROVE_EINVAL, "%s: missing", what);
    if (v->len > GROVE_DATA_VALUE_MAX)
        return grove_error_set(GROVE_ETOOBIG, "%s: %zu bytes, more than %u", what, v->len,
                               GROVE_DATA_VALUE_MAX);
    grove_err err = grove_json_validate(v->ptr, v->len);
    return err ? grove_error_prefix(err, "%s: ", what) : GROVE_OK;
}

static bool data_slice_eq(const struct grove_slice *a, const struct grove_slice *b)
{
    return a->len == b->len && memcmp(a->ptr, b->ptr, a->len) == 0;
}

/* The field's CRDT type: the declared one, or the write's own in a table
 * declared without fields (LWW when it names none). */
static grove_err data_field_type(const struct grove_schema *schema, const char *table,
                                 const struct grove_field_write *f, enum grove_crdt *out)
{
    enum grove_crdt declared = grove_schema_field_type(schema, table, f->field);
    if (declared == GROVE_CRDT_NONE && grove_schema_has_fields(schema, table))
        return grove_error_set(GROVE_EINVAL, "field \"%s\": not declared in table \"%s\"",
                               f->field, table);
    if (declared != GROVE_CRDT_NONE && f->crdt != GROVE_CRDT_NONE && f->crdt != declared)
        return grove_error_set(GROVE_EINVAL, "field \"%s\": declared %s, written as %s", f->field,
                               grove_crdt_name(declared), grove_crdt_name(f->crdt));
    *out = declared != GROVE_CRDT_NONE ? declared
           : f->crdt != GROVE_CRDT_NONE ? f->crdt
                                        : GROVE_CRDT_LWW;
    return GROVE_OK;
}

/* One element of a set write: where it is, for sorting by its bytes. */
struct data_element {
    const struct grove_slice *text;
    bool add;
    size_t index;
};

static int data_cmp_element(const void *a, const void *b)
{
    const struct data_element *x = a, *y = b;
    size_t n = x->text->len < y->text->len ? x->text->len : y->text->len;
    int c = memcmp(x->text->ptr, y->text->ptr, n);
    if (!c)
        c = (x->text->len > y->text->len) - (x->text->len < y->text->len);
    return c ? c : (int)y->add - (int)x->add; /* equal: adds first */
}

/* No element both added and removed: sorted, so big writes cost n log n. */
static grove_err data_check_add_remove(const struct grove_field_write *f)
{
    if (!f->add_count || !f->remove_count)
        return GROVE_OK;
    size_t n = f->add_count + f->remove_count;
    struct data_element *all = malloc(n * sizeof *all);
    if (!all)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        bool add = i < f->add_count;
        size_t index = add ? i : i - f->add_count;
        all[i] = (struct data_element){add ? &f->add[index] : &f->remove[index], add, index};
    }
    qsort(all, n, sizeof *all, data_cmp_element);
    grove_err err = GROVE_OK;
    for (size_t i = 1; !err && i < n; i++)
        if (all[i - 1].add && !all[i].add && data_slice_eq(all[i - 1].text, all[i].text))
            err = grove_error_set(GROVE_EINVAL,
                                  "field \"%s\": remove[%zu] is also added (add[%zu])", f->field,
                                  all[i].index, all[i - 1].index);
    free(all);
    return err;
}

static grove_err data_check_set(const struct grove_field_write *f)
{
    if (f->add_count + f->remove_count == 0)
        return grove_error_set(GROVE_EINVAL, "field \"%s\": a set write adds or removes elements",
                               f->field);
    char what[160];
    for (size_t i = 0; i < f->add_count; i++) {
        snprintf(what, sizeof what, "field \"%s\": add[%zu]", f->field, i);
        grove_err err = data_check_json(&f->add[i], what);
        if (err)
            return err;
    }
    for (size_t i = 0; i < f->remove_count; i++) {
        snprintf(what, sizeof what, "field \"%s\": remove[%zu]", f->field, i);
        grove_err err = data_check_json(&f->remove[i], what);
        if (err)
            return err;
    }
    return data_check_add_remove(f);
}

static grove_err data_check_field(const struct grove_schema *schema, const char *table,
                                  const struct grove_field_write *f, enum grove_crdt *type)
{
    size_t n = f->field ? strlen(f->field) : 0;
    if (n == 0 || n > 128 || !data_utf8(f->field, n))
        return grove_error_set(GROVE_EINVAL, "field name: must be 1 to 128 bytes of UTF-8");
    if (strcmp(f->field, STATE_TOMBSTONE_FIELD) == 0)
        return grove_error_set(GROVE_EINVAL, "field \"%s\": reserved for row deletes", f->field);
    grove_err err = data_field_type(schema, table, f, type);
    if (err)
        return err;
    char what[160];
    switch (*type) {
    case GROVE_CRDT_LWW:
        snprintf(what, sizeof what, "field \"%s\"", f->field);
        return data_check_json(&f->value, what);
    case GROVE_CRDT_SET:
        return data_check_set(f);
    default: /* a counter: any int64 delta */
        return GROVE_OK;
    }
}

static int data_cmp_row(const void *a, const void *b)
{
    const struct grove_row_write *x = *(const struct grove_row_write *const *)a;
    const struct grove_row_write *y = *(const struct grove_row_write *const *)b;
    int n = strcmp(x->table, y->table);
    return n ? n : strcmp(x->pk, y->pk);
}

/* A row may appear once: its fields share the write's one HLC, so two
 * writes of one field in one call would tie. */
static grove_err data_check_unique_rows(const struct grove_write *w)
{
    if (w->row_count < 2)
        return GROVE_OK;
    const struct grove_row_write **sorted = malloc(w->row_count * sizeof *sorted);
    if (!sorted)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    for (size_t i = 0; i < w->row_count; i++)
        sorted[i] = &w->rows[i];
    qsort(sorted, w->row_count, sizeof *sorted, data_cmp_row);
    grove_err err = GROVE_OK;
    for (size_t i = 1; !err && i < w->row_count; i++)
        if (data_cmp_row(&sorted[i - 1], &sorted[i]) == 0)
            err = grove_error_set(GROVE_EINVAL, "rows[%zu] and rows[%zu]: the same row %s/%s",
                                  (size_t)(sorted[i - 1] - w->rows), (size_t)(sorted[i] - w->rows),
                                  sorted[i]->table, sorted[i]->pk);
    free(sorted);
    return err;
}

static int data_cmp_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A field may be written once per row; sorted, so a loosely typed table's
 * thousands of fields cost n log n. Names were checked non-NULL. */
static grove_err data_check_unique_fields(const struct grove_row_write *r)
{
    if (r->field_count < 2)
        return GROVE_OK;
    const char **names = malloc(r->field_count * sizeof *names);
    if (!names)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    for (size_t i = 0; i < r->field_count; i++)
        names[i] = r->fields[i].field;
    qsort(names, r->field_count, sizeof *names, data_cmp_name);
    grove_err err = GROVE_OK;
    for (size_t i = 1; !err && i < r->field_count; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            err = grove_error_set(GROVE_EINVAL, "field \"%s\": written twice", names[i]);
    free(names);
    return err;
}

static grove_err data_check_row(const struct grove_schema *schema, const struct grove_row_write *r,
                                size_t *changes)
{
    if (!r->table || !grove_schema_has_table(schema, r->table))
        return grove_error_set(GROVE_EFORBIDDEN, "table \"%s\" is not declared",
                               r->table ? r->table : "");
    size_t n = r->pk ? strlen(r->pk) : 0;
    if (n == 0 || n > GROVE_DATA_PK_MAX || !data_utf8(r->pk, n))
        return grove_error_set(GROVE_EINVAL, "pk: must be 1 to %d bytes of UTF-8",
                               GROVE_DATA_PK_MAX);
    if (r->delete_row) {
        if (r->field_count)
            return grove_error_set(GROVE_EINVAL, "a delete writes no fields");
        *changes += 1;
        return GROVE_OK;
    }
    if (r->field_count == 0)
        return grove_error_set(GROVE_EINVAL, "no fields to write");
    for (size_t i = 0; i < r->field_count; i++) {
        const struct grove_field_write *f = &r->fields[i];
        enum grove_crdt type;
        grove_err err = data_check_field(schema, r->table, f, &type);
        if (err)
            return err;
        *changes += type == GROVE_CRDT_SET ? f->add_count + f->remove_count : 1;
    }
    return data_check_unique_fields(r);
}

/* Checks the whole write; *changes gets the number of records it makes. */
static grove_err data_check_write(const struct grove_schema *schema, const struct grove_write *w,
                                  size_t *changes)
{
    *changes = 0;
    if (w->row_count == 0)
        return grove_error_set(GROVE_EINVAL, "no rows to write");
    if (w->row_count > GROVE_DATA_ROWS_MAX)
        return grove_error_set(GROVE_ETOOBIG, "%zu rows in one write, more than %d", w->row_count,
                               GROVE_DATA_ROWS_MAX);
    if (w->idempotency_key && strlen(w->idempotency_key) > GROVE_DATA_IDEMPOTENCY_MAX)
        return grove_error_set(GROVE_EINVAL, "idempotency key: longer than %d bytes",
                               GROVE_DATA_IDEMPOTENCY_MAX);
    for (size_t i = 0; i < w->row_count; i++) {
        grove_err err = data_check_row(schema, &w->rows[i], changes);
        if (err)
            return data_locate(err, w, i);
    }
    return data_check_unique_rows(w);
}

/* ---- the records of a write ------------------------------------------------- */

/* A checked write as change records, in the order of its rows and fields,
 * every record stamped later with the write's HLC. */
struct data_records {
    struct grove_change *changes;
    size_t count;
};

static void data_add_record(struct data_records *out, const struct grove_row_write *r,
                            const char *field, enum grove_crdt crdt)
{
    out->changes[out->count++] = (struct grove_change){
        .table = r->table, .pk = r->pk, .field = field, .crdt = crdt};
}

static void data_build_records(const struct grove_schema *schema, const struct grove_write *w,
                               struct data_records *out)
{
    out->count = 0;
    for (size_t i = 0; i < w->row_count; i++) {
        const struct grove_row_write *r = &w->rows[i];
        if (r->delete_row) {
            data_add_record(out, r, STATE_TOMBSTONE_FIELD, GROVE_CRDT_NONE);
            out->changes[out->count - 1].tombstone = true;
            continue;
        }
        for (size_t k = 0; k < r->field_count; k++) {
            const struct grove_field_write *f = &r->fields[k];
            enum grove_crdt type;
            data_field_type(schema, r->table, f, &type); /* checked already */
            if (type == GROVE_CRDT_LWW) {
                data_add_record(out, r, f->field, type);
                out->changes[out->count - 1].value = f->value;
            } else if (type == GROVE_CRDT_COUNTER) {
                data_add_record(out, r, f->field, type);
                out->changes[out->count - 1].has_counter = true;
                /* the delta, until data_fold_counters makes it a running total */
                out->changes[out->count - 1].counter_inc = f->delta;
            }
            for (size_t e = 0; type == GROVE_CRDT_SET && e < f->add_count + f->remove_count;
                 e++) {
                bool add = e < f->add_count;
                data_add_record(out, r, f->field, type);
                struct grove_change *c = &out->changes[out->count - 1];
                c->set_op = add ? GROVE_SET_ADD : GROVE_SET_REMOVE;
                c->elements = (struct grove_slice *)(add ? &f->add[e]
                                                         : &f->remove[e - f->add_count]);
                c->element_count = 1;
            }
        }
    }
}

/* A 64-bit FNV-1a over everything the write says, so a key reused for
 * another write is told apart from a retry. */
static void data_hash(uint64_t *h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        *h = (*h ^ p[i]) * 0x100000001b3ull;
    *h = (*h ^ 0xff) * 0x100000001b3ull; /* a separator, so "ab","c" differs from "a","bc" */
}

static int64_t data_fingerprint(const struct data_records *recs, const char *origin)
{
    uint64_t h = 0xcbf29ce484222325ull;
    if (origin) /* made as another node: not the same write as the node's own */
        data_hash(&h, origin, strlen(origin) + 1);
    for (size_t i = 0; i < recs->count; i++) {
        const struct grove_change *c = &recs->changes[i];
        data_hash(&h, c->table, strlen(c->table));
        data_hash(&h, c->pk, strlen(c->pk));
        data_hash(&h, c->field, strlen(c->field));
        unsigned char kind[2] = {(unsigned char)c->crdt, (unsigned char)c->set_op};
        data_hash(&h, kind, sizeof kind);
        if (c->value.ptr)
            data_hash(&h, c->value.ptr, c->value.len);
        if (c->has_counter)
            data_hash(&h, &c->counter_inc, sizeof c->counter_inc);
        if (c->element_count)
            data_hash(&h, c->elements[0].ptr, c->elements[0].len);
    }
    return (int64_t)h;
}

/* ---- committing, under the store's lock ------------------------------------- */

/* Turns each counter record's delta into this node's running totals for
 * the field (what a counter change carries: concurrent increments on other
 * nodes then add up). Read inside the transaction, so writes committed in
 * the same group are counted. */
static grove_err data_fold_counters(struct grove_store *store, struct data_records *recs,
                                    const char *origin)
{
    for (size_t i = 0; i < recs->count; i++) {
        struct grove_change *c = &recs->changes[i];
        if (!c->has_counter)
            continue;
        int64_t delta = c->counter_inc;
        grove_err err =
            grove_store_counter_totals(store, c, origin, &c->counter_inc, &c->counter_dec);
        if (err)
            return err;
        int64_t *total = delta >= 0 ? &c->counter_inc : &c->counter_dec;
        if (delta == INT64_MIN || __builtin_add_overflow(*total, delta >= 0 ? delta : -delta, total))
            return grove_error_set(GROVE_EINVAL, "field \"%s\": the counter's total would overflow",
                                   c->field);
    }
    return GROVE_OK;
}

static int64_t data_now_s(void)
{
    return grove_clock_wall_ns() / 1000000000;
}

/* A key seen before: *seen, with the HLC its write got, when it was the
 * same write; GROVE_ECONFLICT when it was another. */
static grove_err data_idempotency_find(struct grove_store *store, const char *key,
                                       int64_t fingerprint, bool *seen, struct grove_hlc *hlc)
{
    *seen = false;
    sqlite3_stmt *st = store->idem_get;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    grove_err err = GROVE_OK;
    if (rc == SQLITE_ROW) {
        if (sqlite3_column_int64(st, 0) != fingerprint) {
            err = grove_error_set(GROVE_ECONFLICT,
                                  "idempotency key \"%s\" was used for another write", key);
        } else {
            *seen = true;
            memset(hlc, 0, sizeof *hlc);
            hlc->ts = sqlite3_column_int64(st, 1);
            hlc->c = (uint32_t)sqlite3_column_int64(st, 2);
            memcpy(hlc->node, store->node_id, sizeof hlc->node);
        }
    } else if (rc != SQLITE_DONE) {
        err = grove_store_sqlite_error(store, "read idempotency key");
    }
    sqlite3_reset(st);
    return err;
}

static grove_err data_idempotency_keep(struct grove_store *store, const char *key,
                                       int64_t fingerprint, const struct grove_hlc *hlc)
{
    int64_t now = data_now_s();
    /* Pruned at most once a minute: a day's keys go in one indexed delete. */
    if (now - store->idem_pruned_at >= 60) {
        sqlite3_stmt *st = store->idem_prune;
        sqlite3_bind_int64(st, 1, now - DATA_IDEMPOTENCY_KEEP_S);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return grove_store_sqlite_error(store, "prune idempotency keys");
        store->idem_pruned_at = now;
    }
    sqlite3_stmt *st = store->idem_put;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, fingerprint);
    sqlite3_bind_int64(st, 3, hlc->ts);
    sqlite3_bind_int64(st, 4, hlc->c);
    sqlite3_bind_int64(st, 5, now);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? GROVE_OK : grove_store_sqlite_error(store, "keep idempotency key");
}

/* One queued write and its outcome. */
struct store_write_job {
    const char *key;    /* NULL: none */
    const char *origin; /* the node the write is made as (grove_write.origin) */
    struct data_records recs;
    int64_t fingerprint;
    struct grove_hlc hlc;
    grove_err err;
    char message[1024];
    bool done;
    struct store_write_job *next;
};

/* Merges one job inside the group's transaction. */
static grove_err data_commit_job(struct grove_store *store, struct store_write_job *job,
                                 struct grove_apply_report *report)
{
    memset(report, 0, sizeof *report);
    if (job->key) {
        bool seen;
        grove_err err = data_idempotency_find(store, job->key, job->fingerprint, &seen, &job->hlc);
        if (!err && seen)
            err = grove_hlc_set_node(&job->hlc, job->origin);
        if (err || seen)
            return err;
    }
    grove_err err = data_fold_counters(store, &job->recs, job->origin);
    if (err)
        return err;
    grove_clock_now(&store->clock, &job->hlc);
    /* This node's clock, the origin's id: no other write has this stamp. */
    if ((err = grove_hlc_set_node(&job->hlc, job->origin)))
        return err;
    for (size_t i = 0; i < job->recs.count; i++) {
        job->recs.changes[i].hlc = job->hlc;
        job->recs.changes[i].node_id = job->origin;
    }
    err = grove_store_merge_locked(store, job->recs.changes, job->recs.count, "", false, report);
    if (!err && job->key)
        err = data_idempotency_keep(store, job->key, job->fingerprint, &job->hlc);
    return err;
}

static void data_job_fail(struct store_write_job *job, grove_err err)
{
    job->err = err;
    snprintf(job->message, sizeof job->message, "%s", grove_errmsg());
}

/* Commits a group of jobs in one transaction, each in its own savepoint. */
static void data_commit_group(struct grove_store *store, struct store_write_job *group)
{
    pthread_mutex_lock(&store->lock);
    struct grove_hlc latest = {0};
    grove_err err = grove_store_exec(store, "BEGIN IMMEDIATE");
    for (struct store_write_job *job = group; !err && job; job = job->next) {
        struct grove_apply_report report;
        size_t staged = grove_store_recent_mark(&store->recent);
        grove_err job_err = grove_store_exec(store, "SAVEPOINT data_write");
        if (!job_err)
            job_err = data_commit_job(store, job, &report);
        if (job_err) {
            data_job_fail(job, job_err);
            grove_store_recent_rewind(&store->recent, staged);
            err = grove_store_exec(store, "ROLLBACK TO data_write");
        } else if (report.merged) {
            latest = report.latest;
        }
        if (!err)
            err = grove_store_exec(store, "RELEASE data_write");
    }
    if (!err)
        err = grove_store_exec(store, "COMMIT");
    if (err) {
        sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
        for (struct store_write_job *job = group; job; job = job->next)
            if (!job->err)
                data_job_fail(job, err);
    } else if (!grove_hlc_is_zero(&latest)) {
        grove_store_commit_notify(store, &latest);
    }
    pthread_mutex_unlock(&store->lock);
}

/* Queues the job and waits until a leader (this thread, or another) has
 * committed it. */
static void data_commit(struct grove_store *store, struct store_write_job *job)
{
    struct store_write_queue *q = &store->writes;
    pthread_mutex_lock(&q->lock);
    if (q->tail)
        q->tail->next = job;
    else
        q->head = job;
    q->tail = job;
    while (!job->done) {
        if (q->leading) {
            pthread_cond_wait(&q->done, &q->lock);
            continue;
        }
        /* Lead: take everything queued; what queues meanwhile waits for
         * the next group, which one of its writers leads. */
        q->leading = true;
        struct store_write_job *group = q->head;
        q->head = q->tail = NULL;
        pthread_mutex_unlock(&q->lock);
        data_commit_group(store, group);
        pthread_mutex_lock(&q->lock);
        for (struct store_write_job *j = group; j; j = j->next)
            j->done = true;
        q->leading = false;
        pthread_cond_broadcast(&q->done);
    }
    pthread_mutex_unlock(&q->lock);
}

grove_err grove_data_write(struct grove_store *store, const struct grove_write *write,
                           struct grove_hlc *hlc)
{
    size_t count;
    grove_err err = data_check_write(store->schema, write, &count);
    if (err)
        return err;
    struct store_write_job job = {
        .key = write->idempotency_key && write->idempotency_key[0] ? write->idempotency_key : NULL,
        .origin = write->origin && write->origin[0] ? write->origin : store->node_id};
    job.recs.changes = malloc(count * sizeof *job.recs.changes);
    if (!job.recs.changes)
        return grove_error_set(GROVE_ENOMEM, "out of memory for %zu changes", count);
    data_build_records(store->schema, write, &job.recs);
    job.fingerprint =
        data_fingerprint(&job.recs, job.origin == store->node_id ? NULL : job.origin);
    data_commit(store, &job);
    free(job.recs.changes);
    if (job.err)
        return grove_error_set(job.err, "%s", job.message);
    if (hlc)
        *hlc = job.hlc;
    return GROVE_OK;
}

/* ---- one-field writes (grove/store.h) --------------------------------------- */

static grove_err data_write_field(struct grove_store *store, const char *table, const char *pk,
                                  const struct grove_field_write *field)
{
    struct grove_row_write row = {
        .table = table, .pk = pk, .fields = field, .field_count = field ? 1 : 0,
        .delete_row = !field};
    struct grove_write w = {.rows = &row, .row_count = 1};
    return grove_data_write(store, &w, NULL);
}

grove_err grove_store_set(struct grove_store *store, const char *table, const char *pk,
                          const char *field, const char *value, size_t value_len)
{
    struct grove_field_write f = {
        .field = field, .crdt = GROVE_CRDT_LWW, .value = {value, value_len}};
    return data_write_field(store, table, pk, &f);
}

grove_err grove_store_increment(struct grove_store *store, const char *table, const char *pk,
                                const char *field, int64_t delta)
{
    struct grove_field_write f = {.field = field, .crdt = GROVE_CRDT_COUNTER, .delta = delta};
    return data_write_field(store, table, pk, &f);
}

grove_err grove_store_set_add(struct grove_store *store, const char *table, const char *pk,
                              const char *field, const char *element, size_t element_len)
{
    struct grove_slice el = {element, element_len};
    struct grove_field_write f = {.field = field, .crdt = GROVE_CRDT_SET, .add = &el, .add_count = 1};
    return data_write_field(store, table, pk, &f);
}

grove_err grove_store_set_remove(struct grove_store *store, const char *table, const char *pk,
                                 const char *field, const char *element, size_t element_len)
{
    struct grove_slice el = {element, element_len};
    struct grove_field_write f = {
        .field = field, .crdt = GROVE_CRDT_SET, .remove = &el, .remove_count = 1};
    return data_write_field(store, table, pk, &f);
}

grove_err grove_store_delete(struct grove_store *store, const char *table, const char *pk)
{
    return data_write_field(store, table, pk, NULL);
}
