/* Sync between two real groved processes, over HTTP or gRPC: the same
 * measurements and RESULT keys for both, the transport chosen by a
 * struct bench_mesh_ops.
 *
 * grove-bench http|grpc [--n N]: loads N lww changes into node A (pushed
 * over HTTP in batches), then starts node B with A as its peer over the
 * transport and reports how fast B's first sync round pulled them (the
 * round's own duration, from B's log), the pull wire bytes per change (JSON
 * or protobuf), and both processes' peak RSS.
 *
 * grove-bench http-latency|grpc-latency [--n N]: B follows A's stream; N
 * single writes are pushed to A one at a time and each is timed until it
 * comes out of B's stream (so one extra loopback hop, B -> observer, is
 * included).
 *
 * nng, nng-tls and https alike, nng-tls over nng+tls+tcp with certificates
 * made at start (certtool); in nng-tls-latency and https-latency B also asks
 * its dialers (ours) for a client certificate, so B's listener reads their
 * names (tests/tsan). */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

struct bench_mesh_ops;

#ifdef GROVE_BENCH_HTTP

#include "grove/codec.h"
#include "grove/json.h"
#include "grove/transport.h"
#include "grove/transport_http.h"
#include "integration/groved_proc.h"
#include "support/port.h"

#ifdef GROVE_BENCH_GRPC
#include "grove/transport_grpc.h"
#endif
#ifdef GROVE_BENCH_NNG
#include "grove/transport_nng.h"
#endif

/* What differs between the transports; A is always loaded and counted over
 * groved's own HTTP listener (gd_push_lww, gd_count). */
struct bench_mesh_ops {
    const char *name;  /* the RESULT names: "<name>" and "<name>-latency" */
    const char *label; /* the transport in the human-readable lines */
    /* The URL scheme peers dial: "http" is every node's own listener
     * (gd.url); another scheme gets a second listener on a free port. */
    const char *scheme;
    const struct grove_transport *(*transport)(void);
    /* The codec of this transport's wire, to count the bytes of a pull response. */
    const struct grove_codec *codec;
    /* Pushes the single write docs/lat-<i>.title to a; NULL: through a peer
     * kept open on a over the transport. */
    bool (*push_one)(const struct gd *a, long i);
    /* TLS: every node listens with the certificates of bench_mesh_certs. */
    bool tls;
};

static char bench_mesh_dir[128];

/* TLS files in bench_mesh_dir, and how grove-bench dials a TLS node. */
static char bench_mesh_ca[200], bench_mesh_cert[200], bench_mesh_key[200];
static char bench_mesh_client_cert[200], bench_mesh_client_key[200];
static struct grove_dial_options bench_mesh_dial;

static const struct grove_dial_options *bench_mesh_dial_options(const struct bench_mesh_ops *ops)
{
    return ops->tls ? &bench_mesh_dial : NULL;
}

static void bench_mesh_cleanup(void)
{
    gd_kill_all();
    if (bench_mesh_dir[0]) {
        char cmd[200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", bench_mesh_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", bench_mesh_dir);
    }
}

/* A CA, a server certificate for 127.0.0.1 and a client certificate, with
 * certtool (ECDSA: quick to make). */
static int bench_mesh_certs(void)
{
    const char *d = bench_mesh_dir;
    snprintf(bench_mesh_ca, sizeof bench_mesh_ca, "%s/ca.pem", d);
    snprintf(bench_mesh_cert, sizeof bench_mesh_cert, "%s/server.pem", d);
    snprintf(bench_mesh_key, sizeof bench_mesh_key, "%s/server.key", d);
    snprintf(bench_mesh_client_cert, sizeof bench_mesh_client_cert, "%s/client.pem", d);
    snprintf(bench_mesh_client_key, sizeof bench_mesh_client_key, "%s/client.key", d);
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "exec >/dev/null 2>&1; set -e; cd '%s'; "
             "printf 'cn = bench-ca\\nexpiration_days = 2\\nca\\ncert_signing_key\\n' > ca.cfg; "
             "printf 'cn = 127.0.0.1\\nip_address = 127.0.0.1\\nexpiration_days = 2\\n"
             "signing_key\\ntls_www_server\\n' > server.cfg; "
             "printf 'cn = bench-client\\nexpiration_days = 2\\nsigning_key\\n"
             "tls_www_client\\n' > client.cfg; "
             "certtool --generate-privkey --key-type=ecdsa --outfile ca.key; "
             "certtool --generate-self-signed --load-privkey ca.key --template ca.cfg "
             "--outfile ca.pem; "
             "for c in server client; do certtool --generate-privkey --key-type=ecdsa "
             "--outfile $c.key; certtool --generate-certificate --load-privkey $c.key "
             "--template $c.cfg --load-ca-certificate ca.pem --load-ca-privkey ca.key "
             "--outfile $c.pem; done",
             d);
    if (system(cmd) != 0) {
        fprintf(stderr, "certtool failed in %s\n", d);
        return -1;
    }
    bench_mesh_dial = (struct grove_dial_options){.ca_file = bench_mesh_ca,
                                                  .cert_file = bench_mesh_client_cert,
                                                  .key_file = bench_mesh_client_key};
    return 0;
}

static int bench_mesh_setup(const struct bench_mesh_ops *ops)
{
    snprintf(bench_mesh_dir, sizeof bench_mesh_dir, "/tmp/grove-bench-%s-XXXXXX", ops->name);
    if (!mkdtemp(bench_mesh_dir)) {
        perror("mkdtemp");
        return -1;
    }
    atexit(bench_mesh_cleanup);
    grove_transport_register(grove_transport_http()); /* registering twice is harmless */
    grove_transport_register(ops->transport());
    return ops->tls ? bench_mesh_certs() : 0;
}

/* Makes g reachable over the transport before it starts; returns the URL to
 * dial it at (g->url follows a restart on another port, so it is not copied).
 * client_ca: with TLS, g's listener wants a client certificate (only
 * grove-bench dials it: groved's syncer has none). */
static const char *bench_mesh_listen(const struct bench_mesh_ops *ops, struct gd *g, char *url,
                                     size_t cap, bool client_ca)
{
    if (strcmp(ops->scheme, "http") == 0)
        return g->url;
    if (ops->tls) {
        gd_arg(g, "--tls-cert", bench_mesh_cert);
        gd_arg(g, "--tls-key", bench_mesh_key);
        gd_arg(g, "--tls-ca", bench_mesh_ca); /* its syncer verifies its peers */
        if (client_ca)
            gd_arg(g, "--tls-client-ca", bench_mesh_ca);
    }
    int port = support_free_port();
    if (port < 0) {
        perror("free port");
        exit(1);
    }
    snprintf(url, cap, "%s://127.0.0.1:%d", ops->scheme, port);
    gd_arg(g, "--listen", url);
    return url;
}

/* The "sync peer=... pulled=N ... duration_ms=D" line of B's first round that
 * pulled anything. */
static bool bench_mesh_first_round(const char *log, long *pulled, double *ms)
{
    FILE *f = fopen(log, "r");
    if (!f)
        return false;
    char line[2048];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        const char *p = strstr(line, " pulled=");
        const char *d = strstr(line, " duration_ms=");
        if (!strstr(line, "sync peer=") || !p || !d)
            continue;
        *pulled = strtol(p + 8, NULL, 10);
        *ms = strtod(d + 13, NULL);
        found = *pulled > 0 || strstr(line, "error=none") == NULL;
    }
    fclose(f);
    return found;
}

/* Pull-response bytes per change, paging like the syncer (1000 per page). */
static double bench_mesh_wire_bytes(const struct bench_mesh_ops *ops, const char *url, long n)
{
    struct grove_peer *peer = NULL;
    if (grove_peer_open(&peer, url, bench_mesh_dial_options(ops)) != GROVE_OK)
        return -1;
    struct grove_pull_request req = {.node_id = "bench", .limit = 1000};
    long total = 0, bytes = 0;
    struct grove_buf buf = {0};
    for (;;) {
        struct grove_pull_response *resp = NULL;
        if (grove_peer_pull(peer, &req, &resp) != GROVE_OK)
            break;
        buf.len = 0;
        ops->codec->encode_pull_response(resp, &buf); /* the bytes the server sent */
        bytes += (long)buf.len;
        total += (long)resp->count;
        req.since = resp->latest_hlc;
        bool more = resp->has_more;
        grove_msg_free(resp);
        if (!more)
            break;
    }
    grove_buf_free(&buf);
    grove_peer_close(peer);
    return total == n && n > 0 ? (double)bytes / (double)n : -1;
}

static int bench_mesh_sync(const struct bench_mesh_ops *ops, int argc, char **argv)
{
    long n = bench_arg_n(argc, argv, 1000000);
    if (bench_mesh_setup(ops))
        return 1;
    struct gd a, b;
    char a_buf[64];
    gd_prepare(&a, "bench-a", bench_mesh_dir);
    const char *a_url = bench_mesh_listen(ops, &a, a_buf, sizeof a_buf, false);
    if (!gd_start(&a)) {
        fprintf(stderr, "node A did not start (%s)\n", a.log);
        return 1;
    }
    double t0 = bench_now();
    if (!gd_push_lww(&a, "loader", "row-", 0, (size_t)n, 5000)) {
        fprintf(stderr, "loading A failed\n");
        return 1;
    }
    double load_s = bench_now() - t0;
    printf("loaded %ld changes into A in %.2f s (%.0f changes/s pushed)\n", n, load_s,
           (double)n / load_s);

    gd_prepare(&b, "bench-b", bench_mesh_dir);
    gd_arg(&b, "--peer", a_url);
    if (ops->tls) /* B listens on HTTP only, but verifies A */
        gd_arg(&b, "--tls-ca", bench_mesh_ca);
    gd_arg(&b, "--interval", "3600");
    gd_arg(&b, "--no-stream", NULL);
    t0 = bench_now();
    if (!gd_start(&b)) {
        fprintf(stderr, "node B did not start (%s)\n", b.log);
        return 1;
    }
    long pulled = 0;
    double round_ms = 0;
    while (!bench_mesh_first_round(b.log, &pulled, &round_ms)) {
        if (bench_now() - t0 > 3600) {
            fprintf(stderr, "B never finished its first round\n");
            return 1;
        }
        usleep(20000);
    }
    double wall_s = bench_now() - t0;
    long at_b = gd_count(&b);
    double rss_a = gd_proc_status(a.pid).peak_rss_mb, rss_b = gd_proc_status(b.pid).peak_rss_mb;
    double t_pull = bench_now();
    double wire = bench_mesh_wire_bytes(ops, a_url, n);
    t_pull = bench_now() - t_pull;
    /* Reading alone (A's store, the wire, decoding; no merge) tells where B's time goes. */
    printf("pull-only pass over A: %.2f s (%.0f changes/s incl. re-encoding to count bytes)\n",
           t_pull, (double)n / t_pull);
    printf("B pulled %ld changes over %s in one round of %.1f ms (%.2f s from process start); "
           "B holds %ld\n",
           pulled, ops->label, round_ms, wall_s, at_b);
    if (pulled != n || at_b != n) {
        fprintf(stderr, "B has %ld of %ld changes\n", at_b, n);
        return 1;
    }
    gd_stop(&b);
    gd_stop(&a);
    printf("RESULT %s n=%ld changes_per_s=%.0f bytes_per_change=%.1f rss_mb_a=%.1f "
           "rss_mb_b=%.1f load_changes_per_s=%.0f\n",
           ops->name, n, (double)n / (round_ms / 1000.0), wire, rss_a, rss_b, (double)n / load_s);
    return 0;
}

/* ---- latency ------------------------------------------------------------- */

struct bench_mesh_watch {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    long seen; /* changes that came out of B's stream */
    atomic_bool stop;
    struct grove_peer *peer;
    grove_err result;
};

static grove_err bench_mesh_on_batch(void *user, const struct grove_pull_response *batch)
{
    struct bench_mesh_watch *w = user;
    pthread_mutex_lock(&w->lock);
    w->seen += (long)batch->count;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    return GROVE_OK;
}

static void *bench_mesh_watch_main(void *arg)
{
    struct bench_mesh_watch *w = arg;
    static const char *tables[] = {"docs"};
    struct grove_pull_request req = {.tables = tables, .table_count = 1, .node_id = "observer"};
    /* B starts empty, so from the zero cursor every batch is a new write. */
    w->result = grove_peer_subscribe(w->peer, &req, bench_mesh_on_batch, w, &w->stop);
    return NULL;
}

/* One lww write docs/lat-<i>.title pushed through writer. */
static bool bench_mesh_push_peer(struct grove_peer *writer, long i)
{
    struct grove_change c = {.table = "docs",
                             .field = "title",
                             .crdt = GROVE_CRDT_LWW,
                             .node_id = "writer",
                             .value = {"\"latency probe\"", 15}};
    char pk[32];
    snprintf(pk, sizeof pk, "lat-%ld", i);
    c.pk = pk;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    c.hlc.ts = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    grove_hlc_set_node(&c.hlc, "writer");
    struct grove_push_request req = {.changes = &c, .count = 1, .node_id = "writer"};
    struct grove_push_response *resp = NULL;
    grove_err err = grove_peer_push(writer, &req, &resp);
    grove_msg_free(resp);
    if (err)
        fprintf(stderr, "push: %s\n", grove_errmsg());
    return err == GROVE_OK;
}

static int bench_mesh_latency(const struct bench_mesh_ops *ops, int argc, char **argv)
{
    long n = bench_arg_n(argc, argv, 1000);
    if (bench_mesh_setup(ops))
        return 1;
    struct gd a, b;
    char a_buf[64], b_buf[64];
    gd_prepare(&a, "lat-a", bench_mesh_dir);
    gd_prepare(&b, "lat-b", bench_mesh_dir);
    const char *a_url = bench_mesh_listen(ops, &a, a_buf, sizeof a_buf, false);
    const char *b_url = bench_mesh_listen(ops, &b, b_buf, sizeof b_buf, true);
    gd_arg(&b, "--peer", a_url);
    gd_arg(&b, "--interval", "3600"); /* only the stream can be this fast */
    if (!gd_start(&a) || !gd_start(&b)) {
        fprintf(stderr, "nodes did not start (%s, %s)\n", a.log, b.log);
        return 1;
    }
    struct bench_mesh_watch w = {.lock = PTHREAD_MUTEX_INITIALIZER,
                                 .cond = PTHREAD_COND_INITIALIZER};
    atomic_init(&w.stop, false);
    struct grove_peer *writer = NULL;
    const struct grove_dial_options *dial = bench_mesh_dial_options(ops);
    if (grove_peer_open(&w.peer, b_url, dial) != GROVE_OK ||
        (!ops->push_one && grove_peer_open(&writer, a_url, dial) != GROVE_OK)) {
        fprintf(stderr, "%s\n", grove_errmsg());
        return 1;
    }
    pthread_t thread;
    pthread_create(&thread, NULL, bench_mesh_watch_main, &w);
    usleep(300000); /* let B's own subscription to A and ours settle */
    double *lat = calloc((size_t)n, sizeof *lat);
    long failures = 0;
    for (long i = 0; i < n; i++) {
        double t0 = bench_now();
        if (!(ops->push_one ? ops->push_one(&a, i) : bench_mesh_push_peer(writer, i))) {
            fprintf(stderr, "push %ld failed\n", i);
            return 1;
        }
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += 10;
        pthread_mutex_lock(&w.lock);
        while (w.seen < i + 1)
            if (pthread_cond_timedwait(&w.cond, &w.lock, &deadline) != 0)
                break;
        bool arrived = w.seen >= i + 1;
        pthread_mutex_unlock(&w.lock);
        lat[i] = (bench_now() - t0) * 1000.0;
        if (!arrived) {
            failures++;
            fprintf(stderr, "write %ld not seen at B within 10 s\n", i);
            pthread_mutex_lock(&w.lock);
            w.seen = i + 1; /* count it as late and go on */
            pthread_mutex_unlock(&w.lock);
        }
    }
    atomic_store(&w.stop, true);
    pthread_join(thread, NULL);
    grove_peer_close(w.peer);
    if (writer)
        grove_peer_close(writer);
    bench_sort(lat, (size_t)n);
    double p50 = lat[(size_t)(n * 50 / 100)], p99 = lat[(size_t)((n * 99) / 100)];
    double max = lat[n - 1];
    free(lat);
    gd_stop(&b);
    gd_stop(&a);
    printf("%ld single writes, %s push to A -> out of B's %s stream: p50 %.2f ms, p99 %.2f ms, "
           "max %.2f ms, %ld missed\n",
           n, ops->label, ops->label, p50, p99, max, failures);
    printf("RESULT %s-latency n=%ld p50_ms=%.3f p99_ms=%.3f max_ms=%.3f missed=%ld\n", ops->name, n,
           p50, p99, max, failures);
    return failures ? 1 : 0;
}

/* ---- the transports ------------------------------------------------------ */

/* A fresh POST per write, as the HTTP latency has always been measured. */
static bool bench_mesh_http_push_one(const struct gd *a, long i)
{
    return gd_push_lww(a, "writer", "lat-", (size_t)i, 1, 1);
}

static const struct bench_mesh_ops bench_mesh_http = {
    .name = "http",
    .label = "HTTP",
    .scheme = "http",
    .transport = grove_transport_http,
    .codec = &grove_codec_json,
    .push_one = bench_mesh_http_push_one,
};
#define BENCH_MESH_HTTP (&bench_mesh_http)

/* https: each connection through the listener's relay, which does the TLS. */
static const struct bench_mesh_ops bench_mesh_https = {
    .name = "https",
    .label = "HTTPS",
    .scheme = "https",
    .transport = grove_transport_http,
    .codec = &grove_codec_json,
    .push_one = NULL,
    .tls = true,
};
#define BENCH_MESH_HTTPS (&bench_mesh_https)

#ifdef GROVE_BENCH_GRPC
static const struct bench_mesh_ops bench_mesh_grpc = {
    .name = "grpc",
    .label = "gRPC",
    .scheme = "grpc",
    .transport = grove_transport_grpc,
    .codec = &grove_codec_protobuf,
    .push_one = NULL,
};
#define BENCH_MESH_GRPC (&bench_mesh_grpc)
#endif

#ifdef GROVE_BENCH_NNG
static const struct bench_mesh_ops bench_mesh_nng = {
    .name = "nng",
    .label = "nng",
    .scheme = "nng+tcp",
    .transport = grove_transport_nng,
    .codec = &grove_codec_json,
    .push_one = NULL,
};
#define BENCH_MESH_NNG (&bench_mesh_nng)

static const struct bench_mesh_ops bench_mesh_nng_tls = {
    .name = "nng-tls",
    .label = "nng TLS",
    .scheme = "nng+tls+tcp",
    .transport = grove_transport_nng,
    .codec = &grove_codec_json,
    .push_one = NULL,
    .tls = true,
};
#define BENCH_MESH_NNG_TLS (&bench_mesh_nng_tls)
#endif

#endif /* GROVE_BENCH_HTTP */

#ifndef BENCH_MESH_HTTP
#define BENCH_MESH_HTTP  NULL
#define BENCH_MESH_HTTPS NULL
#endif
#ifndef BENCH_MESH_GRPC
#define BENCH_MESH_GRPC NULL
#endif
#ifndef BENCH_MESH_NNG
#define BENCH_MESH_NNG     NULL
#define BENCH_MESH_NNG_TLS NULL
#endif

/* Runs the sync or the latency benchmark over ops; exit status 2 when this
 * grove-bench was built without that transport (ops NULL). */
static int bench_mesh_run(const struct bench_mesh_ops *ops, const char *label, bool latency,
                          int argc, char **argv)
{
#ifdef GROVE_BENCH_HTTP
    if (ops)
        return latency ? bench_mesh_latency(ops, argc, argv) : bench_mesh_sync(ops, argc, argv);
#else
    (void)ops;
    (void)latency;
    (void)argc;
    (void)argv;
#endif
    fprintf(stderr, "grove-bench: built without the %s transport or groved\n", label);
    return 2;
}

int bench_http(int argc, char **argv)
{
    return bench_mesh_run(BENCH_MESH_HTTP, "HTTP", false, argc, argv);
}

int bench_http_latency(int argc, char **argv)
{
    return bench_mesh_run(BENCH_MESH_HTTP, "HTTP", true, argc, argv);
}

int bench_https(int argc, char **argv)
{
    return bench_mesh_run(BENCH_MESH_HTTPS, "HTTP", false, argc, argv);
}

int bench_https_latency(int argc, char **argv)
{
    return bench_mesh_run(BENCH_MESH_HTTPS, "HTTP", true, argc, argv);
}

int bench_grpc(int argc, char **argv)
{
    return bench_mesh_run(BENCH_MESH_GRPC, "gRPC", false, argc, argv);
}

int bench_grpc_latency(int argc, char **argv)
{
    return bench_mesh_run(BENCH_MESH_GRPC, "gRPC", true, argc, argv);
}

int bench_nng(int argc, char **argv)
{
    return bench_mesh_run(BENCH_MESH_NNG, "nng", false, argc, argv);
}

int bench_nng_latency(int argc, char **argv)
{
    return bench_mesh_run(BENCH_MESH_NNG, "nng", true, argc, argv);
}

int bench_nng_tls(int argc, char **argv)
{
    return bench_mesh_run(BENCH_MESH_NNG_TLS, "nng", false, argc, argv);
}

int bench_nng_tls_latency(int argc, char **argv)
{
    return bench_mesh_run(BENCH_MESH_NNG_TLS, "nng", true, argc, argv);
}
