/* Multi-process crash tests: groved is SIGKILLed at seeded moments and
 * restarted on the same store. An acknowledged push survives and a batch is
 * stored whole or not at all (docs/design.md §8, §6); a peer killed during its
 * catch-up resumes from its stored pull cursor (docs/design.md §4, §10).
 * GROVE_CRASH_SEED picks other kill moments. Every groved is killed and the
 * temporary directory removed at the end, also on failure. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <curl/curl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "grove/json.h"
#include "integration/groved_proc.h"
#include "support/tmpdir.h"

#define CRASH_SEED 20240611u

#define PUSH_KILLS   5
#define PUSH_BATCH   200  /* changes per pushed batch */
#define PUSH_BATCHES 8192 /* at most this many batches are attempted */

#define CATCHUP_KILLS 4
#define CATCHUP_ROWS  200000
#define SYNCER_PAGE   5000 /* the syncer's default page_limit (include/grove/syncer.h) */
#define PROXY_CONNS   64
#define PROXY_PAGES   1024

#define WAIT_S 90

static const char *test_dir;
static uint64_t crash_rng_state;

static double crash_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void crash_sleep_ms(unsigned ms)
{
    nanosleep(&(struct timespec){ms / 1000, (long)(ms % 1000) * 1000000L}, NULL);
}

static unsigned long crash_seed(void)
{
    const char *env = getenv("GROVE_CRASH_SEED");
    unsigned long seed = env ? strtoul(env, NULL, 10) : CRASH_SEED;
    crash_rng_state = seed * 0x9E3779B97F4A7C15ULL + 1;
    cr_log_info("GROVE_CRASH_SEED=%lu", seed);
    return seed;
}

/* A number in [lo, hi], from the seeded generator (xorshift64*). */
static unsigned crash_rand(unsigned lo, unsigned hi)
{
    crash_rng_state ^= crash_rng_state >> 12;
    crash_rng_state ^= crash_rng_state << 25;
    crash_rng_state ^= crash_rng_state >> 27;
    return lo + (unsigned)((crash_rng_state * 0x2545F4914F6CDD1DULL >> 32) % (hi - lo + 1));
}

static void setup(void)
{
    test_dir = support_tmpdir_new("crash");
}

static void teardown(void)
{
    gd_kill_all(); /* before their directory goes */
    support_tmpdir_remove(test_dir);
}

static void start(struct gd *g)
{
    cr_assert(gd_start(g), "groved %s did not get ready; see %s", g->node, g->log);
}

/* Copies the first line of log after offset `from` that contains needle into
 * line; false when there is none. */
static bool crash_log_line(const char *log, off_t from, const char *needle, char *line, size_t size)
{
    FILE *f = fopen(log, "r");
    bool found = false;
    if (!f)
        return false;
    fseeko(f, from, SEEK_SET);
    while (!found && fgets(line, (int)size, f))
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

/* ---- HTTP ------------------------------------------------------------------ */

static size_t crash_collect(char *data, size_t size, size_t nmemb, void *user)
{
    size_t n = size * nmemb;
    return grove_buf_append(user, data, n) == GROVE_OK ? n : 0;
}

/* POSTs body to url on e; the answer's body goes to *out. Returns the HTTP
 * status, 0 when no answer came. */
static long crash_post(CURL *e, const char *url, const char *body, size_t len,
                       struct grove_buf *out)
{
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:");
    out->len = 0;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, crash_collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    long status = 0;
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    return status;
}

/* Calls fn for every record of table docs at base_url (a node's /sync URL),
 * paging through /pull from the zero cursor. False when a page failed or fn
 * said stop. */
typedef bool (*crash_record_fn)(void *user, const struct grove_change *change);

static bool crash_pull_all(const char *base_url, crash_record_fn fn, void *user)
{
    CURL *e = curl_easy_init();
    struct grove_buf answer = {0};
    char url[200], body[512];
    snprintf(url, sizeof url, "%s/pull", base_url);
    struct grove_hlc since = {0};
    bool ok = e != NULL, more = true;
    while (ok && more) {
        int k = snprintf(body, sizeof body,
                         "{\"tables\":[\"docs\"],\"since\":{\"ts\":%lld,\"c\":%u,\"node\":\"%s\"},"
                         "\"node_id\":\"checker\",\"limit\":10000}",
                         (long long)since.ts, since.c, since.node);
        struct grove_pull_response *resp = NULL;
        ok = crash_post(e, url, body, (size_t)k, &answer) == 200 &&
             grove_json_decode_pull_response(answer.data, answer.len, &resp) == GROVE_OK;
        for (size_t i = 0; ok && i < resp->count; i++)
            ok = fn(user, &resp->changes[i]);
        if (ok) {
            more = resp->has_more;
            ok = !more || grove_hlc_compare(&resp->latest_hlc, &since) > 0;
            since = resp->latest_hlc;
        }
        grove_msg_free(resp);
    }
    grove_buf_free(&answer);
    if (e)
        curl_easy_cleanup(e);
    return ok;
}

/* ---- case 1: SIGKILL during pushes ------------------------------------------ */

/* Pushes batch after batch of PUSH_BATCH changes (batch k writes pks
 * p<k>-0 ... p<k>-199) until paused, and records which were acknowledged. */
struct crash_pusher {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct gd target; /* a copy of the node, refreshed at each resume (its port may move) */
    bool paused, idle, quit;
    size_t count;             /* batches attempted */
    bool acked[PUSH_BATCHES]; /* answered HTTP 200 */
    unsigned char *seen;      /* per batch and index: times pulled, for a check */
    size_t foreign;           /* pulled records that are no batch's */
};

static void *crash_pusher_main(void *arg)
{
    struct crash_pusher *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while ((p->paused || p->count == PUSH_BATCHES) && !p->quit) {
            p->idle = true;
            pthread_cond_broadcast(&p->cond);
            pthread_cond_wait(&p->cond, &p->lock);
        }
        if (p->quit)
            break;
        p->idle = false;
        struct gd target = p->target;
        size_t k = p->count++;
        pthread_mutex_unlock(&p->lock);
        char prefix[32];
        snprintf(prefix, sizeof prefix, "p%zu-", k);
        bool ok = gd_push_lww(&target, "app", prefix, 0, PUSH_BATCH, PUSH_BATCH);
        if (!ok)
            crash_sleep_ms(20); /* groved is down: do not spin */
        pthread_mutex_lock(&p->lock);
        p->acked[k] = ok;
    }
    p->idle = true;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static void crash_pusher_resume(struct crash_pusher *p, const struct gd *g)
{
    pthread_mutex_lock(&p->lock);
    p->target = *g;
    p->paused = false;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

/* Returns once the push in flight (if any) has its outcome recorded. */
static void crash_pusher_pause(struct crash_pusher *p)
{
    pthread_mutex_lock(&p->lock);
    p->paused = true;
    while (!p->idle)
        pthread_cond_wait(&p->cond, &p->lock);
    pthread_mutex_unlock(&p->lock);
}

/* Counts a pulled record against its batch (pk "p<k>-<i>"). */
static bool crash_pusher_saw(void *user, const struct grove_change *change)
{
    struct crash_pusher *p = user;
    char *end = "";
    unsigned long k = change->pk[0] == 'p' ? strtoul(change->pk + 1, &end, 10) : ULONG_MAX;
    unsigned long i = k < p->count && *end == '-' ? strtoul(end + 1, &end, 10) : ULONG_MAX;
    if (i >= PUSH_BATCH || *end != '\0')
        p->foreign++;
    else if (p->seen[k * PUSH_BATCH + i] < UCHAR_MAX)
        p->seen[k * PUSH_BATCH + i]++;
    return true;
}

/* With the pusher paused: every acknowledged batch is there in full, every
 * other batch in full or not at all, each record once. Returns how many
 * unacknowledged batches were there (committed, the answer lost). */
static size_t crash_check_batches(const struct gd *g, struct crash_pusher *p)
{
    memset(p->seen, 0, (size_t)PUSH_BATCHES * PUSH_BATCH);
    p->foreign = 0;
    cr_assert(crash_pull_all(g->url, crash_pusher_saw, p), "cannot pull from %s", g->url);
    cr_assert_eq(p->foreign, 0, "%zu records belong to no batch", p->foreign);
    size_t lost_answers = 0;
    for (size_t k = 0; k < p->count; k++) {
        size_t present = 0;
        for (size_t i = 0; i < PUSH_BATCH; i++) {
            unsigned char n = p->seen[k * PUSH_BATCH + i];
            cr_assert_leq(n, 1, "record p%zu-%zu pulled %u times", k, i, n);
            present += n;
        }
        cr_assert(present == 0 || present == PUSH_BATCH,
                  "batch %zu is partly there: %zu of %d records", k, present, PUSH_BATCH);
        if (p->acked[k])
            cr_assert_eq(present, PUSH_BATCH, "acknowledged batch %zu was lost", k);
        else
            lost_answers += present > 0;
    }
    return lost_answers;
}

TestSuite(integration_crash, .init = setup, .fini = teardown, .timeout = 240);

Test(integration_crash, sigkill_during_pushes_keeps_acknowledged_whole_batches)
{
    unsigned long seed = crash_seed();
    struct crash_pusher *p = calloc(1, sizeof *p);
    cr_assert_not_null(p);
    p->seen = calloc(PUSH_BATCHES, PUSH_BATCH);
    cr_assert_not_null(p->seen);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    p->paused = p->idle = true;

    struct gd g;
    gd_prepare(&g, "crashed", test_dir);
    start(&g);
    pthread_t pusher;
    cr_assert_eq(pthread_create(&pusher, NULL, crash_pusher_main, p), 0);
    size_t acked = 0, lost_answers = 0;
    for (int kill = 0; kill < PUSH_KILLS; kill++) {
        crash_pusher_resume(p, &g);
        crash_sleep_ms(crash_rand(5, 400));
        gd_kill(&g);
        crash_pusher_pause(p);
        start(&g);
        lost_answers = crash_check_batches(&g, p);
    }
    pthread_mutex_lock(&p->lock);
    p->quit = true;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    pthread_join(pusher, NULL);

    for (size_t k = 0; k < p->count; k++)
        acked += p->acked[k];
    cr_log_info("seed %lu: %zu batches attempted, %zu acknowledged, %zu committed unanswered", seed,
                p->count, acked, lost_answers);
    cr_assert_gt(acked, 0, "no push was ever acknowledged");
    cr_assert_eq(gd_stop(&g), 0, "clean exit on SIGTERM");
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p->seen);
    free(p);
}

/* ---- case 2: SIGKILL during a peer's catch-up ------------------------------- */

/* A loopback HTTP relay between the catching-up node and its peer. It
 * forwards each POST as it came and records every /pull the peer answered,
 * whether or not the caller lived to read the answer: groved does not log
 * what it serves, and the report of a killed sync round is never written.
 * A connection belongs to the run (one start of the catching-up node) during
 * which it was accepted, so a killed run's last request is never taken for
 * the next run's. */
struct crash_page {
    struct grove_hlc since, latest;
    size_t count;
};

struct crash_run {
    unsigned long served; /* changes in the /pull answers */
    unsigned long pulls;
    struct grove_hlc first; /* the since of the run's first pull */
};

struct crash_proxy {
    int fd;
    char url[128];      /* what the catching-up node dials */
    char upstream[128]; /* http://127.0.0.1:<the peer's port> */
    pthread_t thread;
    atomic_bool stop;
    atomic_int in_flight; /* requests read and not yet recorded */
    pthread_mutex_t lock; /* guards what follows */
    int run;              /* the run new connections belong to */
    struct crash_run runs[CATCHUP_KILLS + 1];
    unsigned long zero_pulls; /* pulls from the zero cursor */
    struct crash_page pages[PROXY_PAGES];
    size_t page_count;
    int conn_fd[PROXY_CONNS]; /* the accepting thread's */
    pthread_t conn_thread[PROXY_CONNS];
    size_t conns;
};

struct crash_conn {
    struct crash_proxy *proxy;
    int fd, run;
};

static bool crash_send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n <= 0)
            return false;
        data += n;
        len -= (size_t)n;
    }
    return true;
}

/* Reads from fd onto in until it holds at least want bytes; false on EOF. */
static bool crash_recv_until(int fd, struct grove_buf *in, size_t want)
{
    char chunk[65536];
    while (in->len < want) {
        ssize_t n = recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0 || grove_buf_append(in, chunk, (size_t)n) != GROVE_OK)
            return false;
    }
    return true;
}

static void crash_proxy_record(struct crash_proxy *x, int run, const char *req, size_t req_len,
                               const struct grove_buf *answer)
{
    struct grove_pull_request *pull = NULL;
    struct grove_pull_response *resp = NULL;
    if (grove_json_decode_pull_request(req, req_len, &pull) == GROVE_OK &&
        grove_json_decode_pull_response(answer->data, answer->len, &resp) == GROVE_OK) {
        pthread_mutex_lock(&x->lock);
        struct crash_run *r = &x->runs[run];
        if (r->pulls++ == 0)
            r->first = pull->since;
        r->served += resp->count;
        x->zero_pulls += grove_hlc_is_zero(&pull->since);
        if (x->page_count < PROXY_PAGES)
            x->pages[x->page_count++] =
                (struct crash_page){pull->since, resp->latest_hlc, resp->count};
        pthread_mutex_unlock(&x->lock);
    }
    grove_msg_free(pull);
    grove_msg_free(resp);
}

/* One connection: requests one after another (keep-alive). */
static void *crash_conn_main(void *arg)
{
    struct crash_conn c = *(struct crash_conn *)arg;
    free(arg);
    struct crash_proxy *x = c.proxy;
    CURL *e = curl_easy_init();
    struct grove_buf in = {0}, answer = {0};
    for (bool open = e != NULL; open;) {
        char *end = NULL;
        while (!(end = in.len ? memmem(in.data, in.len, "\r\n\r\n", 4) : NULL))
            if (!crash_recv_until(c.fd, &in, in.len + 1))
                goto done;
        size_t head_len = (size_t)(end - in.data) + 4;
        end[2] = '\0'; /* the head as a string, its last line break kept */
        char method[8] = "", path[256] = "", url[512], head[256];
        sscanf(in.data, "%7s %255s", method, path);
        const char *cl = strcasestr(in.data, "\r\nContent-Length:");
        size_t body_len = cl ? strtoull(cl + 17, NULL, 10) : 0;
        if (strcasestr(in.data, "\r\nExpect: 100-continue\r\n"))
            crash_send_all(c.fd, "HTTP/1.1 100 Continue\r\n\r\n", 25);
        if (!crash_recv_until(c.fd, &in, head_len + body_len))
            break;
        const char *body = in.data + head_len;
        size_t plen = strlen(path);
        long status = 404;
        answer.len = 0;
        atomic_fetch_add(&x->in_flight, 1);
        if (strcmp(method, "POST") == 0) {
            snprintf(url, sizeof url, "%s%s", x->upstream, path);
            status = crash_post(e, url, body, body_len, &answer);
            if (status == 200 && plen >= 5 && strcmp(path + plen - 5, "/pull") == 0)
                crash_proxy_record(x, c.run, body, body_len, &answer);
        }
        atomic_fetch_sub(&x->in_flight, 1);
        if (status == 0) /* the peer did not answer: neither do we */
            break;
        int k = snprintf(head, sizeof head,
                         "HTTP/1.1 %ld Relayed\r\nContent-Type: application/json\r\n"
                         "Content-Length: %zu\r\n\r\n",
                         status, answer.len);
        open = crash_send_all(c.fd, head, (size_t)k) &&
               crash_send_all(c.fd, answer.data ? answer.data : "", answer.len);
        in.len -= head_len + body_len;
        memmove(in.data, in.data + head_len + body_len, in.len);
    }
done:
    shutdown(c.fd, SHUT_RDWR); /* closed by crash_proxy_stop, after the join */
    grove_buf_free(&in);
    grove_buf_free(&answer);
    if (e)
        curl_easy_cleanup(e);
    return NULL;
}

static void *crash_proxy_main(void *arg)
{
    struct crash_proxy *x = arg;
    while (!atomic_load(&x->stop)) {
        struct pollfd pfd = {.fd = x->fd, .events = POLLIN};
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        int fd = accept(x->fd, NULL, NULL);
        struct crash_conn *c = fd >= 0 ? malloc(sizeof *c) : NULL;
        if (c && x->conns < PROXY_CONNS) {
            pthread_mutex_lock(&x->lock);
            *c = (struct crash_conn){.proxy = x, .fd = fd, .run = x->run};
            pthread_mutex_unlock(&x->lock);
            if (pthread_create(&x->conn_thread[x->conns], NULL, crash_conn_main, c) == 0) {
                x->conn_fd[x->conns++] = fd;
                continue;
            }
        }
        free(c);
        if (fd >= 0)
            close(fd);
    }
    return NULL;
}

static void crash_proxy_start(struct crash_proxy *x, const struct gd *upstream)
{
    memset(x, 0, sizeof *x);
    pthread_mutex_init(&x->lock, NULL);
    snprintf(x->upstream, sizeof x->upstream, "http://127.0.0.1:%d", upstream->port);
    x->fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(x->fd, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    cr_assert_eq(bind(x->fd, (struct sockaddr *)&addr, len), 0);
    cr_assert_eq(listen(x->fd, 16), 0);
    cr_assert_eq(getsockname(x->fd, (struct sockaddr *)&addr, &len), 0);
    snprintf(x->url, sizeof x->url, "http://127.0.0.1:%d/sync", ntohs(addr.sin_port));
    cr_assert_eq(pthread_create(&x->thread, NULL, crash_proxy_main, x), 0);
}

/* Waits (bounded) until no request is between the relay and the peer. */
static void crash_proxy_settle(struct crash_proxy *x)
{
    double deadline = crash_now() + WAIT_S;
    while (atomic_load(&x->in_flight) > 0 && crash_now() < deadline)
        crash_sleep_ms(5);
    cr_assert_eq(atomic_load(&x->in_flight), 0, "a relayed request never finished");
}

static void crash_proxy_stop(struct crash_proxy *x)
{
    atomic_store(&x->stop, true);
    pthread_join(x->thread, NULL);
    for (size_t i = 0; i < x->conns; i++)
        shutdown(x->conn_fd[i], SHUT_RDWR); /* wakes a thread blocked in recv */
    for (size_t i = 0; i < x->conns; i++) {
        pthread_join(x->conn_thread[i], NULL);
        close(x->conn_fd[i]);
    }
    close(x->fd);
    pthread_mutex_destroy(&x->lock);
}

static struct crash_run crash_proxy_run(struct crash_proxy *x, int run)
{
    pthread_mutex_lock(&x->lock);
    struct crash_run r = x->runs[run];
    pthread_mutex_unlock(&x->lock);
    return r;
}

/* How many of the peer's changes lie up to cursor `at` (its arrival stamp):
 * the counts of the served pages that chain from the zero cursor to it. The
 * peer takes no writes meanwhile, so its pages never change. -1: unknown. */
static long crash_proxy_position(const struct crash_proxy *x, const struct grove_hlc *at, int depth)
{
    if (grove_hlc_is_zero(at))
        return 0;
    for (size_t i = 0; depth < 1000 && i < x->page_count; i++) {
        const struct crash_page *pg = &x->pages[i];
        if (pg->count && grove_hlc_compare(&pg->latest, at) == 0) {
            long before = crash_proxy_position(x, &pg->since, depth + 1);
            return before < 0 ? -1 : before + (long)pg->count;
        }
    }
    return -1;
}

/* What a killed replica's store holds (docs/design.md §6): its pull cursor
 * for peer and its number of rows. Read-only, so the replica's next start
 * still recovers the write-ahead log itself. */
static void crash_read_store(const char *db, const char *peer, struct grove_hlc *cursor, long *rows)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    memset(cursor, 0, sizeof *cursor);
    *rows = -1;
    cr_assert_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK, "%s: %s", db,
                 sqlite3_errmsg(h));
    /* The row is the peer's node's once the URL is bound to it (docs/design.md §4). */
    cr_assert_eq(sqlite3_prepare_v2(h,
                                    "SELECT pull_ts, pull_c, pull_node FROM cursors WHERE peer ="
                                    " coalesce((SELECT node FROM peer_urls WHERE url = ?1), ?1)",
                                    -1, &st, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(h));
    sqlite3_bind_text(st, 1, peer, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        cursor->ts = sqlite3_column_int64(st, 0);
        cursor->c = (uint32_t)sqlite3_column_int64(st, 1);
        snprintf(cursor->node, sizeof cursor->node, "%s", sqlite3_column_text(st, 2));
    }
    sqlite3_finalize(st);
    cr_assert_eq(sqlite3_prepare_v2(h, "SELECT count(DISTINCT pk) FROM state WHERE tbl = 'docs'",
                                    -1, &st, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(h));
    if (sqlite3_step(st) == SQLITE_ROW)
        *rows = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
}

/* Every record of a node as one line (pk, field, value, the change's own
 * stamp), for comparing two nodes. */
struct crash_rows {
    char **items;
    size_t count, cap;
};

static bool crash_rows_add(void *user, const struct grove_change *change)
{
    struct crash_rows *r = user;
    if (r->count == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 1024;
        char **grown = realloc(r->items, cap * sizeof *grown);
        if (!grown)
            return false;
        r->items = grown;
        r->cap = cap;
    }
    const struct grove_slice *v = &change->value;
    char *item;
    if (asprintf(&item, "%s %s %.*s %lld.%u.%s", change->pk, change->field, (int)v->len,
                 v->ptr ? v->ptr : "", (long long)change->hlc.ts, change->hlc.c,
                 change->hlc.node) < 0)
        return false;
    r->items[r->count++] = item;
    return true;
}

static int crash_rows_order(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void crash_rows_read(struct crash_rows *r, const struct gd *g)
{
    cr_assert(crash_pull_all(g->url, crash_rows_add, r), "cannot pull from %s", g->url);
    qsort(r->items, r->count, sizeof *r->items, crash_rows_order);
}

static void crash_rows_free(struct crash_rows *r)
{
    for (size_t i = 0; i < r->count; i++)
        free(r->items[i]);
    free(r->items);
}

/* Starts run `run` of the replica, its connections counted for that run. */
static void crash_replica_start(struct gd *b, struct crash_proxy *x, int run)
{
    pthread_mutex_lock(&x->lock);
    x->run = run;
    pthread_mutex_unlock(&x->lock);
    start(b);
}

/* What the test proves. Let C_k and R_k be the replica's stored pull cursor and
 * row count after kill k (read from its file), and pos(C) the number of the
 * peer's changes up to cursor C (from the pages the relay saw):
 *  - R_k == pos(C_k): the store holds exactly the pages up to its cursor (a
 *    page and its cursor commit together, docs/design.md §4);
 *  - run k+1 asks first from exactly C_k: the restart resumed from its cursor;
 *  - so nothing committed is pulled twice: run k's changes beyond its commits,
 *    served(k) - (R_k - R_k-1), are the pages in flight at the kill, at most
 *    two (the page being merged and the next, fetched meanwhile,
 *    docs/design.md §10), and the last run pulls exactly what was missing.
 * In total the peer served at most CATCHUP_ROWS + 2 pages per kill. */
Test(integration_crash, sigkill_during_catch_up_resumes_from_the_cursor)
{
    unsigned long seed = crash_seed();
    struct gd a, b;
    gd_prepare(&a, "origin", test_dir);
    gd_prepare(&b, "replica", test_dir);
    start(&a);
    cr_assert(gd_push_lww(&a, "app", "r", 0, CATCHUP_ROWS, 5000));

    struct crash_proxy *x = malloc(sizeof *x);
    cr_assert_not_null(x);
    crash_proxy_start(x, &a);
    /* No stream: only pulls move the catch-up, and every one is seen. */
    gd_arg(&b, "--peer", x->url);
    gd_arg(&b, "--interval", "1");
    gd_arg(&b, "--no-stream", NULL);
    struct grove_hlc cursor[CATCHUP_KILLS];
    long rows[CATCHUP_KILLS];
    char line[1024] = "";
    for (int kill = 0; kill < CATCHUP_KILLS; kill++) {
        off_t from = gd_file_size(b.log);
        /* At least three pages into the run, so its first page has committed
         * (the third is asked for only after the first merged). */
        unsigned long threshold = crash_rand(3 * SYNCER_PAGE, 7 * SYNCER_PAGE);
        crash_replica_start(&b, x, kill);
        double deadline = crash_now() + WAIT_S;
        while (crash_proxy_run(x, kill).served < threshold && crash_now() < deadline)
            crash_sleep_ms(2);
        cr_assert_geq(crash_proxy_run(x, kill).served, threshold, "the catch-up stalled");
        crash_sleep_ms(crash_rand(0, 60)); /* somewhere inside a merge or a fetch */
        gd_kill(&b);
        cr_assert(!crash_log_line(b.log, from, "sync peer=", line, sizeof line),
                  "run %d finished its catch-up before the kill: %s", kill, line);
        crash_read_store(b.db, x->url, &cursor[kill], &rows[kill]);
    }
    off_t from = gd_file_size(b.log);
    crash_replica_start(&b, x, CATCHUP_KILLS);
    double deadline = crash_now() + WAIT_S;
    while (!crash_log_line(b.log, from, "sync peer=", line, sizeof line) && crash_now() < deadline)
        crash_sleep_ms(20);
    cr_assert(strstr(line, "sync peer=") && strstr(line, " error=none "),
              "the last run's catch-up round: %s", line);
    unsigned long pulled_last = strtoul(strstr(line, " pulled=") + 8, NULL, 10);

    /* B holds exactly A's records: the same pks, values and change stamps. */
    struct crash_rows rows_a = {0}, rows_b = {0};
    crash_rows_read(&rows_a, &a);
    crash_rows_read(&rows_b, &b);
    cr_assert_eq(rows_a.count, CATCHUP_ROWS);
    cr_assert_eq(rows_b.count, rows_a.count, "the replica holds %zu records of %zu", rows_b.count,
                 rows_a.count);
    for (size_t i = 0; i < rows_a.count; i++)
        cr_assert_str_eq(rows_b.items[i], rows_a.items[i]);
    crash_rows_free(&rows_a);
    crash_rows_free(&rows_b);
    cr_assert_eq(gd_stop(&b), 0, "clean exit on SIGTERM");
    crash_proxy_settle(x);
    crash_proxy_stop(x);

    cr_assert_lt(x->page_count, PROXY_PAGES);
    cr_assert_eq(x->zero_pulls, 1, "%lu pulls from the zero cursor: a restart forgot its cursor",
                 x->zero_pulls);
    unsigned long served = 0;
    for (int k = 0; k <= CATCHUP_KILLS; k++) {
        const struct crash_run *run = &x->runs[k];
        long committed_before = k ? rows[k - 1] : 0;
        served += run->served;
        if (k > 0)
            cr_assert(grove_hlc_compare(&run->first, &cursor[k - 1]) == 0,
                      "run %d pulled from %lld.%u, not from its stored cursor %lld.%u", k,
                      (long long)run->first.ts, run->first.c, (long long)cursor[k - 1].ts,
                      cursor[k - 1].c);
        if (k == CATCHUP_KILLS) {
            cr_assert_eq(run->served, CATCHUP_ROWS - (unsigned long)committed_before,
                         "the last run pulled more than was missing");
            cr_assert_eq(run->served, pulled_last, "the relay and the syncer's report disagree");
            break;
        }
        cr_assert_eq(rows[k], crash_proxy_position(x, &cursor[k], 0),
                     "after kill %d the store holds %ld rows, its cursor says otherwise", k,
                     rows[k]);
        cr_assert_gt(rows[k], committed_before, "run %d committed nothing", k);
        cr_assert_leq(run->served - (unsigned long)(rows[k] - committed_before), 2UL * SYNCER_PAGE,
                      "run %d pulled %lu changes and committed %ld", k, run->served,
                      rows[k] - committed_before);
    }
    unsigned long bound = CATCHUP_ROWS + 2UL * SYNCER_PAGE * CATCHUP_KILLS;
    cr_log_info("seed %lu: the peer served %lu changes for %d rows over %d kills (bound %lu)", seed,
                served, CATCHUP_ROWS, CATCHUP_KILLS, bound);
    cr_assert_leq(served, bound, "the peer served %lu changes for %d rows", served, CATCHUP_ROWS);
    free(x);
    cr_assert_eq(gd_stop(&a), 0);
}
