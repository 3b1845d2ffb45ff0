/* The metrics registry and its text rendering (grove/metrics.h). Counters are
 * relaxed atomics in slots fixed up front; only adding a peer and rendering
 * take the registry's lock. Histograms keep one count per bucket (the first
 * bound a value fits under) and are made cumulative when rendered. */
#include "grove/metrics.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "grove/sys/error.h"
#include "grove/version.h"
#include "store_echo.h"
#include "store_internal.h"

typedef atomic_uint_fast64_t metrics_counter;

#define METRICS_CODE_COUNT   (GROVE_ERATELIMIT + 1)
#define METRICS_BUCKET_COUNT 13
/* Pending changes are counted up to this many: a scrape reads at most this
 * many index entries per peer. */
#define METRICS_PENDING_MAX 100000

/* Upper bounds in µs. */
static const int64_t metrics_round_bounds[METRICS_BUCKET_COUNT] = {
    1000,   5000,    10000,   25000,   50000,    100000,  250000,
    500000, 1000000, 2500000, 5000000, 10000000, 30000000};
static const int64_t metrics_request_bounds[METRICS_BUCKET_COUNT] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000, 5000000};

struct metrics_histogram {
    const int64_t *bounds;
    metrics_counter buckets[METRICS_BUCKET_COUNT + 1]; /* the last: above every bound */
    metrics_counter sum_us;
};

struct metrics_table {
    metrics_counter merged, conflicts;
};

struct grove_metrics_peer {
    struct grove_metrics *metrics;
    char *url;
    size_t users; /* syncers holding the slot (under the registry's lock): 0, not rendered */
    metrics_counter pulled, pushed, rounds_ok, rounds_error;
    atomic_int up;                       /* -1 before the first exchange, then 0 or 1 */
    atomic_int_fast64_t last_success_us; /* wall clock; 0: never */
};

struct grove_metrics {
    const struct grove_schema *schema;
    struct metrics_table *tables; /* one per declared table, in schema order */
    metrics_counter requests[GROVE_METRICS_TRANSPORT_COUNT][GROVE_METRICS_OP_COUNT]
                            [METRICS_CODE_COUNT];
    struct metrics_histogram request_seconds, round_seconds;
    atomic_int_fast64_t subscribers[GROVE_METRICS_TRANSPORT_COUNT];
    metrics_counter rejected[METRICS_CODE_COUNT];
    pthread_mutex_t lock; /* the peer list */
    struct grove_metrics_peer **peers;
    size_t peer_count;
};

static const char *const metrics_transport_names[GROVE_METRICS_TRANSPORT_COUNT] = {"http", "grpc",
                                                                                   "nng", "inproc"};
static const char *const metrics_op_names[GROVE_METRICS_OP_COUNT] = {"pull", "push", "stream",
                                                                     "data", "metrics"};

/* The `reason` of a refused request, by its code; NULL: not a refusal of
 * the client's request (a server fault or no error). */
static const char *metrics_reason(grove_err err)
{
    switch (err) {
    case GROVE_EAUTH:
        return "auth";
    case GROVE_EFORBIDDEN:
        return "forbidden";
    case GROVE_EINVAL:
    case GROVE_EPROTO:
        return "invalid";
    case GROVE_ETOOBIG:
        return "too_big";
    case GROVE_ERATELIMIT:
        return "rate_limit";
    case GROVE_EUNAVAIL:
    case GROVE_ESHUTDOWN:
        return "unavailable";
    default:
        return NULL;
    }
}

struct grove_metrics *grove_metrics_new(const struct grove_schema *schema)
{
    struct grove_metrics *m = calloc(1, sizeof *m);
    size_t n = grove_schema_table_count(schema);
    if (!m || !(m->tables = calloc(n + 1, sizeof *m->tables))) {
        free(m);
        return NULL;
    }
    m->schema = schema;
    m->request_seconds.bounds = metrics_request_bounds;
    m->round_seconds.bounds = metrics_round_bounds;
    pthread_mutex_init(&m->lock, NULL);
    return m;
}

void grove_metrics_free(struct grove_metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->peer_count; i++) {
        free(m->peers[i]->url);
        free(m->peers[i]);
    }
    free(m->peers);
    free(m->tables);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

int64_t grove_metrics_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void metrics_add(metrics_counter *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static uint64_t metrics_read(metrics_counter *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static void metrics_observe(struct metrics_histogram *h, int64_t us)
{
    if (us < 0)
        us = 0;
    size_t b = 0;
    while (b < METRICS_BUCKET_COUNT && us > h->bounds[b])
        b++;
    metrics_add(&h->buckets[b], 1);
    metrics_add(&h->sum_us, (uint64_t)us);
}

void grove_metrics_request(struct grove_metrics *m, enum grove_metrics_transport transport,
                           enum grove_metrics_op op, grove_err err, int64_t started_us)
{
    size_t code = (unsigned)err < METRICS_CODE_COUNT ? (size_t)err : GROVE_EPROTO;
    metrics_add(&m->requests[transport][op][code], 1);
    if (started_us > 0)
        metrics_observe(&m->request_seconds, grove_metrics_now_us() - started_us);
    if (metrics_reason(err))
        metrics_add(&m->rejected[code], 1);
}

void grove_metrics_refused(struct grove_metrics *m, grove_err err)
{
    size_t code = (unsigned)err < METRICS_CODE_COUNT ? (size_t)err : GROVE_EPROTO;
    if (metrics_reason(err))
        metrics_add(&m->rejected[code], 1);
}

void grove_metrics_subscribers_add(struct grove_metrics *m, enum grove_metrics_transport transport,
                                   int delta)
{
    atomic_fetch_add_explicit(&m->subscribers[transport], delta, memory_order_relaxed);
}

void grove_metrics_table_merged(struct grove_metrics *m, size_t table, uint64_t merged,
                                uint64_t conflicts)
{
    if (table >= grove_schema_table_count(m->schema))
        return;
    if (merged)
        metrics_add(&m->tables[table].merged, merged);
    if (conflicts)
        metrics_add(&m->tables[table].conflicts, conflicts);
}

struct grove_metrics_peer *grove_metrics_peer_add(struct grove_metrics *m, const char *url)
{
    pthread_mutex_lock(&m->lock);
    struct grove_metrics_peer *p = NULL;
    for (size_t i = 0; i < m->peer_count && !p; i++)
        if (strcmp(m->peers[i]->url, url) == 0)
            p = m->peers[i];
    struct grove_metrics_peer **grown = NULL;
    if (!p && (grown = realloc(m->peers, (m->peer_count + 1) * sizeof *grown))) {
        m->peers = grown;
        p = calloc(1, sizeof *p);
        if (p && !(p->url = strdup(url))) {
            free(p);
            p = NULL;
        }
        if (p) {
            p->metrics = m;
            atomic_init(&p->up, -1);
            m->peers[m->peer_count++] = p;
        }
    }
    if (p)
        p->users++;
    pthread_mutex_unlock(&m->lock);
    return p;
}

void grove_metrics_peer_release(struct grove_metrics_peer *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->metrics->lock);
    p->users--;
    pthread_mutex_unlock(&p->metrics->lock);
}

static int64_t metrics_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void grove_metrics_peer_exchange(struct grove_metrics_peer *p, const struct grove_sync_report *r,
                                 bool round)
{
    if (!p)
        return;
    metrics_add(&p->pulled, r->pulled);
    metrics_add(&p->pushed, r->pushed);
    atomic_store_explicit(&p->up, r->err ? 0 : 1, memory_order_relaxed);
    if (!r->err)
        atomic_store_explicit(&p->last_success_us, metrics_wall_us(), memory_order_relaxed);
    if (round) {
        metrics_add(r->err ? &p->rounds_error : &p->rounds_ok, 1);
        metrics_observe(&p->metrics->round_seconds, r->duration_us);
    }
}

void grove_metrics_peer_streamed(struct grove_metrics_peer *p, uint64_t pulled)
{
    if (p && pulled)
        metrics_add(&p->pulled, pulled);
}

/* ---- rendering ------------------------------------------------------------ */

static grove_err metrics_printf(struct grove_buf *out, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return grove_error_set(GROVE_EINVAL, "metrics: bad format");
    if ((size_t)n < sizeof line)
        return grove_buf_append(out, line, (size_t)n);
    char *big = malloc((size_t)n + 1);
    if (!big)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    grove_err err = grove_buf_append(out, big, (size_t)n);
    free(big);
    return err;
}

/* A label value with \, " and newlines escaped, as the format asks. */
static grove_err metrics_label_value(struct grove_buf *out, const char *v)
{
    grove_err err = GROVE_OK;
    for (const char *c = v; !err && *c; c++) {
        if (*c == '\\')
            err = grove_buf_append(out, "\\\\", 2);
        else if (*c == '"')
            err = grove_buf_append(out, "\\\"", 2);
        else if (*c == '\n')
            err = grove_buf_append(out, "\\n", 2);
        else
            err = grove_buf_append(out, c, 1);
    }
    return err;
}

static grove_err metrics_family(struct grove_buf *out, const char *name, const char *type,
                                const char *help)
{
    return metrics_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One sample: name{key="value",...} number. labels: key, value pairs,
 * NULL-terminated. */
static grove_err metrics_sample(struct grove_buf *out, const char *name, const char *const *labels,
                                const char *value)
{
    grove_err err = grove_buf_append(out, name, strlen(name));
    for (size_t i = 0; !err && labels && labels[i]; i += 2) {
        err = metrics_printf(out, "%s%s=\"", i ? "," : "{", labels[i]);
        if (!err)
            err = metrics_label_value(out, labels[i + 1]);
        if (!err)
            err = grove_buf_append(out, "\"", 1);
    }
    if (!err && labels && labels[0])
        err = grove_buf_append(out, "}", 1);
    if (!err)
        err = metrics_printf(out, " %s\n", value);
    return err;
}

static grove_err metrics_sample_u64(struct grove_buf *out, const char *name,
                                    const char *const *labels, uint64_t v)
{
    char text[32];
    snprintf(text, sizeof text, "%" PRIu64, v);
    return metrics_sample(out, name, labels, text);
}

static grove_err metrics_sample_seconds(struct grove_buf *out, const char *name,
                                        const char *const *labels, int64_t us)
{
    char text[48];
    snprintf(text, sizeof text, "%" PRId64 ".%06" PRId64, us / 1000000, us % 1000000);
    return metrics_sample(out, name, labels, text);
}

static grove_err metrics_histogram_render(struct grove_buf *out, const char *name, const char *help,
                                          struct metrics_histogram *h)
{
    char bucket[128], le[32];
    snprintf(bucket, sizeof bucket, "%s_bucket", name);
    grove_err err = metrics_family(out, name, "histogram", help);
    uint64_t total = 0;
    for (size_t b = 0; !err && b <= METRICS_BUCKET_COUNT; b++) {
        total += metrics_read(&h->buckets[b]);
        if (b < METRICS_BUCKET_COUNT)
            snprintf(le, sizeof le, "%g", (double)h->bounds[b] / 1e6);
        else
            snprintf(le, sizeof le, "+Inf");
        err = metrics_sample_u64(out, bucket, (const char *const[]){"le", le, NULL}, total);
    }
    char sum[128], count[128];
    snprintf(sum, sizeof sum, "%s_sum", name);
    snprintf(count, sizeof count, "%s_count", name);
    if (!err)
        err = metrics_sample_seconds(out, sum, NULL, (int64_t)metrics_read(&h->sum_us));
    if (!err)
        err = metrics_sample_u64(out, count, NULL, total);
    return err;
}

static grove_err metrics_render_tables(struct grove_metrics *m, struct grove_buf *out)
{
    size_t n = grove_schema_table_count(m->schema);
    grove_err err = metrics_family(out, "grove_changes_merged_total", "counter",
                                   "Remote changes that changed local state, per table.");
    for (size_t i = 0; !err && i < n; i++)
        err = metrics_sample_u64(
            out, "grove_changes_merged_total",
            (const char *const[]){"table", grove_schema_table_name(m->schema, i), NULL},
            metrics_read(&m->tables[i].merged));
    if (!err)
        err = metrics_family(out, "grove_conflicts_total", "counter",
                             "Remote LWW changes that met a concurrent value, per table.");
    for (size_t i = 0; !err && i < n; i++)
        err = metrics_sample_u64(
            out, "grove_conflicts_total",
            (const char *const[]){"table", grove_schema_table_name(m->schema, i), NULL},
            metrics_read(&m->tables[i].conflicts));
    return err;
}

static grove_err metrics_render_requests(struct grove_metrics *m, struct grove_buf *out)
{
    grove_err err = metrics_family(out, "grove_requests_total", "counter",
                                   "Requests served, by transport, operation and result code.");
    for (size_t t = 0; !err && t < GROVE_METRICS_TRANSPORT_COUNT; t++)
        for (size_t o = 0; !err && o < GROVE_METRICS_OP_COUNT; o++)
            for (size_t c = 0; !err && c < METRICS_CODE_COUNT; c++) {
                uint64_t v = metrics_read(&m->requests[t][o][c]);
                if (v == 0)
                    continue; /* codes never answered stay out: 5 x 5 x 15 series otherwise */
                err = metrics_sample_u64(out, "grove_requests_total",
                                         (const char *const[]){"transport",
                                                               metrics_transport_names[t], "op",
                                                               metrics_op_names[o], "code",
                                                               grove_err_name((grove_err)c), NULL},
                                         v);
            }
    if (!err)
        err = metrics_histogram_render(out, "grove_request_seconds",
                                       "Time to serve a request, from its head to its answer.",
                                       &m->request_seconds);
    if (!err)
        err = metrics_family(out, "grove_stream_subscribers", "gauge",
                             "Open sync streams and Data API watches, by transport.");
    for (size_t t = 0; !err && t < GROVE_METRICS_TRANSPORT_COUNT; t++)
        err = metrics_sample_u64(
            out, "grove_stream_subscribers",
            (const char *const[]){"transport", metrics_transport_names[t], NULL},
            (uint64_t)atomic_load_explicit(&m->subscribers[t], memory_order_relaxed));
    if (!err)
        err = metrics_family(out, "grove_rejected_total", "counter",
                             "Requests refused, by reason (auth, forbidden, invalid, too_big, "
                             "rate_limit, unavailable).");
    /* Each reason once, summing the codes that map to it. */
    static const grove_err reasons[] = {GROVE_EAUTH,   GROVE_EFORBIDDEN, GROVE_EINVAL,
                                        GROVE_ETOOBIG, GROVE_ERATELIMIT, GROVE_EUNAVAIL};
    for (size_t r = 0; !err && r < sizeof reasons / sizeof reasons[0]; r++) {
        uint64_t v = 0;
        for (size_t c = 0; c < METRICS_CODE_COUNT; c++)
            if (metrics_reason((grove_err)c) == metrics_reason(reasons[r]))
                v += metrics_read(&m->rejected[c]);
        err = metrics_sample_u64(out, "grove_rejected_total",
                                 (const char *const[]){"reason", metrics_reason(reasons[r]), NULL},
                                 v);
    }
    return err;
}

/* Local changes the peer has not been pushed: arrivals after its push
 * cursor that the push would not leave out as echoes, counted up to
 * METRICS_PENDING_MAX. */
static grove_err metrics_pending(struct grove_store *store, const struct grove_peer_cursors *c,
                                 uint64_t *out)
{
    static const char sql[] =
        "SELECT count(*) FROM (SELECT 1 FROM arrived WHERE seq >= ?5 AND (ats, ac) > (?1, ?2)"
        " AND (?3 IS NULL OR (origin != ?3 AND src != ?3)) LIMIT ?4)";
    const char *exclude = grove_store_echo_push_exclude(c);
    *out = 0;
    /* On a reader (docs/design.md, "Reads beside writes"): a scrape's count
     * holds no write back. */
    struct store_reader *r;
    grove_err err = grove_store_reader_get(store, &r);
    if (err)
        return err;
    sqlite3_stmt *st = NULL;
    sqlite3_int64 seq;
    err = grove_store_arrivals_after(r, &c->push, &seq);
    if (!err && sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK)
        err = grove_store_reader_error(r, "count pending changes");
    if (!err) {
        sqlite3_bind_int64(st, 1, c->push.ts);
        sqlite3_bind_int64(st, 2, c->push.c);
        if (exclude)
            sqlite3_bind_text(st, 3, exclude, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, METRICS_PENDING_MAX);
        sqlite3_bind_int64(st, 5, seq);
        if (sqlite3_step(st) == SQLITE_ROW)
            *out = (uint64_t)sqlite3_column_int64(st, 0);
        else
            err = grove_store_reader_error(r, "count pending changes");
    }
    sqlite3_finalize(st);
    grove_store_reader_put(store, r);
    return err;
}

/* What a scrape shows of one peer, read once: its name (node id once
 * learned, else URL), its counters and its pending changes. */
struct metrics_peer_view {
    char name[GROVE_NODE_ID_MAX + 1];
    const char *url;
    uint64_t pulled, pushed, rounds_ok, rounds_error, pending;
    bool up;
    int64_t last_success_us;
};

static grove_err metrics_peer_view(struct grove_store *store, struct grove_metrics_peer *p,
                                   struct metrics_peer_view *v)
{
    struct grove_peer_cursors c;
    grove_err err = grove_store_cursors_get(store, p->url, &c);
    if (!err)
        err = metrics_pending(store, &c, &v->pending);
    if (err)
        return err;
    memcpy(v->name, c.peer_node, sizeof v->name);
    v->url = p->url;
    v->pulled = metrics_read(&p->pulled);
    v->pushed = metrics_read(&p->pushed);
    v->rounds_ok = metrics_read(&p->rounds_ok);
    v->rounds_error = metrics_read(&p->rounds_error);
    v->up = atomic_load_explicit(&p->up, memory_order_relaxed) == 1;
    v->last_success_us = atomic_load_explicit(&p->last_success_us, memory_order_relaxed);
    return GROVE_OK;
}

static grove_err metrics_render_peer_families(const struct metrics_peer_view *views, size_t n,
                                              struct grove_buf *out)
{
    static const struct {
        const char *name, *type, *help;
    } families[] = {
        {"grove_changes_pulled_total", "counter", "Changes received from the peer."},
        {"grove_changes_pushed_total", "counter", "Changes sent to the peer."},
        {"grove_sync_rounds_total", "counter", "Sync rounds with the peer, by result."},
        {"grove_peer_up", "gauge", "1 when the last exchange with the peer succeeded."},
        {"grove_peer_last_success_timestamp_seconds", "gauge",
         "Unix time of the last successful exchange with the peer (0: never)."},
        {"grove_peer_pending_changes", "gauge", "Local changes not yet pushed to the peer."},
    };
    grove_err err = GROVE_OK;
    for (size_t f = 0; !err && f < sizeof families / sizeof families[0]; f++) {
        const char *name = families[f].name;
        err = metrics_family(out, name, families[f].type, families[f].help);
        for (size_t i = 0; !err && i < n; i++) {
            const struct metrics_peer_view *v = &views[i];
            const char *peer = v->name[0] ? v->name : v->url;
            const char *const labels[] = {"peer", peer, NULL};
            switch (f) {
            case 0:
                err = metrics_sample_u64(out, name, labels, v->pulled);
                break;
            case 1:
                err = metrics_sample_u64(out, name, labels, v->pushed);
                break;
            case 2:
                err = metrics_sample_u64(out, name,
                                         (const char *const[]){"peer", peer, "result", "ok", NULL},
                                         v->rounds_ok);
                if (!err)
                    err = metrics_sample_u64(
                        out, name, (const char *const[]){"peer", peer, "result", "error", NULL},
                        v->rounds_error);
                break;
            case 3:
                err = metrics_sample_u64(out, name, labels, v->up);
                break;
            case 4:
                err = metrics_sample_seconds(out, name, labels, v->last_success_us);
                break;
            default:
                err = metrics_sample_u64(out, name, labels, v->pending);
            }
        }
    }
    return err;
}

static grove_err metrics_render_peers(struct grove_store *store, struct grove_metrics *m,
                                      struct grove_buf *out)
{
    pthread_mutex_lock(&m->lock);
    struct metrics_peer_view *views = calloc(m->peer_count + 1, sizeof *views);
    grove_err err = views ? GROVE_OK : grove_error_set(GROVE_ENOMEM, "out of memory");
    size_t n = 0;
    for (size_t i = 0; !err && i < m->peer_count; i++)
        if (m->peers[i]->users > 0) /* a peer a reload removed has no series */
            err = metrics_peer_view(store, m->peers[i], &views[n++]);
    /* The views borrow the peers' URLs, which live as long as the registry. */
    pthread_mutex_unlock(&m->lock);
    if (!err)
        err = metrics_render_peer_families(views, n, out);
    free(views);
    return err;
}

/* The store's main file and its WAL, by their sizes on disk. */
static grove_err metrics_render_files(struct grove_store *store, struct grove_buf *out)
{
    const char *path = sqlite3_db_filename(store->db, "main");
    char wal[4096];
    snprintf(wal, sizeof wal, "%s-wal", path ? path : "");
    struct stat st;
    uint64_t main_bytes = path && stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
    uint64_t wal_bytes = path && stat(wal, &st) == 0 ? (uint64_t)st.st_size : 0;
    grove_err err = metrics_family(out, "grove_store_bytes", "gauge",
                                   "Size of the store's SQLite file in bytes.");
    if (!err)
        err = metrics_sample_u64(out, "grove_store_bytes", NULL, main_bytes);
    if (!err)
        err = metrics_family(out, "grove_wal_bytes", "gauge",
                             "Size of the store's write-ahead log in bytes.");
    if (!err)
        err = metrics_sample_u64(out, "grove_wal_bytes", NULL, wal_bytes);
    return err;
}

grove_err grove_metrics_render(struct grove_store *store, struct grove_buf *out)
{
    struct grove_metrics *m = grove_store_metrics(store);
    size_t had = out->len;
    grove_err err = metrics_family(out, "grove_build_info", "gauge",
                                   "Always 1; the version of groved in its label.");
    if (!err)
        err = metrics_sample(out, "grove_build_info",
                             (const char *const[]){"version", GROVE_VERSION, NULL}, "1");
    if (!err)
        err = metrics_render_tables(m, out);
    if (!err)
        err = metrics_render_peers(store, m, out);
    if (!err)
        err = metrics_histogram_render(out, "grove_sync_round_seconds",
                                       "Duration of a full sync round with one peer.",
                                       &m->round_seconds);
    if (!err)
        err = metrics_render_requests(m, out);
    if (!err)
        err = metrics_render_files(store, out);
    if (err)
        out->len = had;
    return err;
}
