/* grove-bench readers [--n N] [--seconds S] [--store-readers K] [--rate P]:
 * reads beside writes on one groved (docs/design.md, "Reads beside writes").
 * Loads N rows (default 200,000), then a writer pushes batches of 500 new
 * rows over HTTP for S seconds (default 5) alone, S seconds while 16 clients
 * pull full pages (1,000 changes) over HTTP, each from the zero cursor
 * through the whole store and round again, and S seconds alone again.
 * RESULT: the writer's changes/s alone (the mean of before and after) and
 * beside the readers, their ratio, and the readers' pages/s. K is passed to
 * groved's --store-readers (0: reads share the writer's connection, as
 * before the pool). --rate paces the readers to about P pages/s in all
 * (each pausing between pages), so the writer is measured beside reads that
 * leave it CPU; 0 (default): as fast as they can. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#ifdef GROVE_BENCH_HTTP

#include <curl/curl.h>

#include "grove/transport.h"
#include "grove/transport_http.h"
#include "integration/groved_proc.h"

enum {
    BENCH_READERS_CLIENTS = 16,
    BENCH_READERS_PAGE = 1000,
    BENCH_READERS_BATCH = 500,
};

static char bench_readers_dir[128];

static void bench_readers_cleanup(void)
{
    gd_kill_all();
    if (bench_readers_dir[0]) {
        char cmd[200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", bench_readers_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", bench_readers_dir);
    }
}

struct bench_readers_run {
    const char *url;
    double page_gap_s; /* each reader's pause between pages (--rate); 0: none */
    atomic_bool stop;
    atomic_long pages, failures;
};

/* The page's body, kept whole: its tail holds the cursor. */
struct bench_readers_body {
    char *data;
    size_t len, cap;
};

static size_t bench_readers_collect(char *data, size_t size, size_t nmemb, void *user)
{
    struct bench_readers_body *b = user;
    size_t n = size * nmemb;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *p = realloc(b->data, cap);
        if (!p)
            return 0;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

/* The page's cursor and has_more, read from the end of its body: the
 * readers stand for clients elsewhere, so this process decodes no more of
 * a page than that (its CPU is the server's to use). */
static bool bench_readers_cursor(const struct bench_readers_body *b, char *since, size_t cap,
                                 bool *more)
{
    size_t tail = b->len < 512 ? b->len : 512;
    const char *end = b->data + b->len;
    const char *at = NULL;
    for (const char *p = end - tail; (p = strstr(p, "\"latest_hlc\":")); p++)
        at = p;
    if (!at)
        return false;
    at += strlen("\"latest_hlc\":");
    const char *close = strchr(at, '}');
    if (!close || (size_t)(close - at + 2) > cap)
        return false;
    snprintf(since, cap, "%.*s", (int)(close - at + 1), at);
    *more = strstr(close, "\"has_more\":true") != NULL;
    return true;
}

/* Pulls full pages from the zero cursor to the end of the store, and again. */
static void *bench_readers_reader(void *arg)
{
    struct bench_readers_run *run = arg;
    CURL *e = curl_easy_init();
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    char url[200], body[512], since[256] = "{\"ts\":0,\"c\":0,\"node\":\"\"}";
    snprintf(url, sizeof url, "%s/pull", run->url);
    struct bench_readers_body page = {0};
    while (e && !atomic_load(&run->stop)) {
        int k = snprintf(body, sizeof body,
                         "{\"tables\":[],\"since\":%s,\"node_id\":\"reader\",\"limit\":%d}", since,
                         BENCH_READERS_PAGE);
        page.len = 0;
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)k);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, bench_readers_collect);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &page);
        curl_easy_setopt(e, CURLOPT_TIMEOUT, 60L);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        long status = 0;
        bool more = false;
        if (curl_easy_perform(e) == CURLE_OK)
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        if (status != 200 || !bench_readers_cursor(&page, since, sizeof since, &more)) {
            fprintf(stderr, "pull: status %ld: %.200s\n", status, page.data ? page.data : "");
            atomic_fetch_add(&run->failures, 1);
            break;
        }
        atomic_fetch_add(&run->pages, 1);
        if (!more)
            snprintf(since, sizeof since, "{\"ts\":0,\"c\":0,\"node\":\"\"}");
        if (run->page_gap_s > 0)
            usleep((useconds_t)(run->page_gap_s * 1e6));
    }
    free(page.data);
    curl_slist_free_all(headers);
    if (e)
        curl_easy_cleanup(e);
    return NULL;
}

/* Pushes batches of new rows docs/w-<i>.title for `seconds`; changes/s, or
 * -1 on a failed push. *next is the first row of the next batch. */
static double bench_readers_write(struct grove_peer *writer, double seconds, long *next)
{
    struct grove_change *batch = calloc(BENCH_READERS_BATCH, sizeof *batch);
    char(*pks)[24] = calloc(BENCH_READERS_BATCH, sizeof *pks);
    long written = 0;
    double t0 = bench_now(), elapsed = 0;
    while ((elapsed = bench_now() - t0) < seconds) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        for (int i = 0; i < BENCH_READERS_BATCH; i++) {
            snprintf(pks[i], sizeof pks[i], "w-%09ld", *next + i);
            batch[i] = (struct grove_change){.table = "docs",
                                             .pk = pks[i],
                                             .field = "title",
                                             .crdt = GROVE_CRDT_LWW,
                                             .node_id = "writer",
                                             .value = {"\"written beside readers\"", 24}};
            batch[i].hlc.ts = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
            batch[i].hlc.c = (uint32_t)i;
            grove_hlc_set_node(&batch[i].hlc, "writer");
        }
        struct grove_push_request req = {
            .changes = batch, .count = BENCH_READERS_BATCH, .node_id = "writer"};
        struct grove_push_response *resp = NULL;
        grove_err err = grove_peer_push(writer, &req, &resp);
        grove_msg_free(resp);
        if (err) {
            fprintf(stderr, "push: %s\n", grove_errmsg());
            written = -1;
            break;
        }
        *next += BENCH_READERS_BATCH;
        written += BENCH_READERS_BATCH;
    }
    free(pks);
    free(batch);
    return written < 0 ? -1 : (double)written / elapsed;
}

int bench_readers(int argc, char **argv)
{
    long n = bench_arg_n(argc, argv, 200000);
    long seconds = bench_arg_long(argc, argv, "seconds", 5, 1);
    long readers = bench_arg_long(argc, argv, "store-readers", -1, 0);
    long rate = bench_arg_long(argc, argv, "rate", 0, 0);
    snprintf(bench_readers_dir, sizeof bench_readers_dir, "/tmp/grove-bench-readers-XXXXXX");
    if (!mkdtemp(bench_readers_dir)) {
        perror("mkdtemp");
        return 1;
    }
    atexit(bench_readers_cleanup);
    grove_transport_register(grove_transport_http());
    struct gd g;
    char readers_arg[24];
    gd_prepare(&g, "readers", bench_readers_dir);
    gd_arg(&g, "--no-stream", NULL);
    if (readers >= 0) {
        snprintf(readers_arg, sizeof readers_arg, "%ld", readers);
        gd_arg(&g, "--store-readers", readers_arg);
    }
    if (!gd_start(&g)) {
        fprintf(stderr, "groved did not start (%s)\n", g.log);
        return 1;
    }
    if (!gd_push_lww(&g, "loader", "row-", 0, (size_t)n, 5000)) {
        fprintf(stderr, "loading failed\n");
        return 1;
    }
    struct grove_peer *writer = NULL;
    if (grove_peer_open(&writer, g.url, NULL) != GROVE_OK) {
        fprintf(stderr, "%s\n", grove_errmsg());
        return 1;
    }
    long next = 0;
    double alone = bench_readers_write(writer, (double)seconds, &next);

    struct bench_readers_run run = {
        .url = g.url, .page_gap_s = rate ? (double)BENCH_READERS_CLIENTS / (double)rate : 0};
    atomic_init(&run.stop, false);
    atomic_init(&run.pages, 0);
    atomic_init(&run.failures, 0);
    pthread_t threads[BENCH_READERS_CLIENTS];
    for (int i = 0; i < BENCH_READERS_CLIENTS; i++)
        pthread_create(&threads[i], NULL, bench_readers_reader, &run);
    usleep(200000); /* every reader at work before the clock starts */
    long pages0 = atomic_load(&run.pages);
    double t0 = bench_now();
    double loaded = bench_readers_write(writer, (double)seconds, &next);
    double pages_per_s = (double)(atomic_load(&run.pages) - pages0) / (bench_now() - t0);
    atomic_store(&run.stop, true);
    for (int i = 0; i < BENCH_READERS_CLIENTS; i++)
        pthread_join(threads[i], NULL);
    /* Alone once more: the mean of before and after, so a drift of the
     * machine's speed over the run does not read as the readers' doing. */
    double after = bench_readers_write(writer, (double)seconds, &next);
    alone = alone < 0 || after < 0 ? -1 : (alone + after) / 2;
    grove_peer_close(writer);
    long at_end = gd_count(&g);
    gd_stop(&g);
    if (alone < 0 || loaded < 0 || atomic_load(&run.failures) || at_end != n + next) {
        fprintf(stderr, "failed: %ld failures; %ld rows, want %ld\n", atomic_load(&run.failures),
                at_end, n + next);
        return 1;
    }
    printf("%ld rows, then a writer pushing batches of %d over HTTP for %ld s beside %d clients "
           "pulling pages of %d, and %ld s alone before and after\n",
           n, BENCH_READERS_BATCH, seconds, BENCH_READERS_CLIENTS, BENCH_READERS_PAGE, seconds);
    printf("writer: %.0f changes/s alone, %.0f beside the readers (%.2f); readers: %.1f pages/s"
           " (%.0f changes/s)\n",
           alone, loaded, loaded / alone, pages_per_s, pages_per_s * BENCH_READERS_PAGE);
    printf("RESULT readers n=%ld clients=%d store_readers=%ld rate=%ld writer_alone_per_s=%.0f "
           "writer_loaded_per_s=%.0f ratio=%.2f pages_per_s=%.1f\n",
           n, BENCH_READERS_CLIENTS, readers < 0 ? 4 : readers, rate, alone, loaded, loaded / alone,
           pages_per_s);
    return 0;
}

#else

int bench_readers(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "grove-bench: built without the HTTP transport or groved\n");
    return 2;
}

#endif
