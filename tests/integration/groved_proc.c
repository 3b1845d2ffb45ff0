/* Running real groved processes (see groved_proc.h). No Criterion here, so
 * the benchmarks can use it too. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "grove/json.h"
#include "integration/groved_proc.h"

#ifndef GROVED_PATH
#define GROVED_PATH GROVE_BINARY_DIR "/bin/groved"
#endif

static pid_t gd_pids[64];
static size_t gd_pid_count;

static void gd_track(pid_t pid)
{
    if (gd_pid_count < sizeof gd_pids / sizeof gd_pids[0])
        gd_pids[gd_pid_count++] = pid;
    static bool hooked;
    if (!hooked) {
        hooked = true;
        atexit(gd_kill_all);
    }
}

static void gd_untrack(pid_t pid)
{
    for (size_t i = 0; i < gd_pid_count; i++)
        if (gd_pids[i] == pid)
            gd_pids[i] = 0;
}

void gd_kill_all(void)
{
    for (size_t i = 0; i < gd_pid_count; i++) {
        if (gd_pids[i] > 0) {
            kill(gd_pids[i], SIGKILL);
            waitpid(gd_pids[i], NULL, 0);
            gd_pids[i] = 0;
        }
    }
}

static int gd_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        if (fd >= 0)
            close(fd);
        return 20000 + (int)(getpid() % 20000);
    }
    close(fd);
    return ntohs(a.sin_port);
}

void gd_prepare(struct gd *g, const char *node, const char *dir)
{
    memset(g, 0, sizeof *g);
    snprintf(g->node, sizeof g->node, "%s", node);
    snprintf(g->dir, sizeof g->dir, "%s", dir);
    snprintf(g->db, sizeof g->db, "%s/%s.db", dir, node);
    snprintf(g->log, sizeof g->log, "%s/%s.log", dir, node);
    g->port = gd_free_port();
    snprintf(g->url, sizeof g->url, "http://127.0.0.1:%d/sync", g->port);
}

void gd_use_tls(struct gd *g, const char *cert, const char *key)
{
    snprintf(g->url, sizeof g->url, "https://127.0.0.1:%d/sync", g->port);
    g->ca = cert;
    gd_arg(g, "--tls-cert", cert);
    gd_arg(g, "--tls-key", key);
    gd_arg(g, "--tls-ca", cert);
}

void gd_arg(struct gd *g, const char *flag, const char *value)
{
    size_t n = 0;
    while (g->extra[n])
        n++;
    if (n + 3 > GD_MAX_ARGS)
        return;
    g->extra[n++] = flag;
    if (value)
        g->extra[n++] = value;
}

static double gd_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool gd_log_has(const struct gd *g, const char *needle, off_t from)
{
    FILE *f = fopen(g->log, "r");
    if (!f)
        return false;
    fseeko(f, from, SEEK_SET);
    char line[4096];
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

static off_t gd_log_size(const struct gd *g)
{
    FILE *f = fopen(g->log, "r");
    if (!f)
        return 0;
    fseeko(f, 0, SEEK_END);
    off_t n = ftello(f);
    fclose(f);
    return n;
}

static pid_t gd_spawn(struct gd *g)
{
    const char *argv[GD_MAX_ARGS + 16];
    size_t a = 0;
    argv[a++] = GROVED_PATH;
    argv[a++] = "--node-id";
    argv[a++] = g->node;
    argv[a++] = "--db";
    argv[a++] = g->db;
    argv[a++] = "--listen";
    argv[a++] = g->url;
    argv[a++] = "--table";
    argv[a++] = "docs:title=lww,views=counter,tags=set";
    for (size_t i = 0; g->extra[i]; i++)
        argv[a++] = g->extra[i];
    argv[a] = NULL;
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    /* Never outlive the test, even when it crashes. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int fd = open(g->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        dup2(fd, 2);
        dup2(fd, 1);
        close(fd);
    }
    execv(argv[0], (char *const *)argv);
    _exit(127);
}

bool gd_start(struct gd *g)
{
    for (int attempt = 0; attempt < 10; attempt++) {
        off_t from = gd_log_size(g);
        g->pid = gd_spawn(g);
        if (g->pid < 0)
            return false;
        gd_track(g->pid);
        double deadline = gd_now() + 30;
        while (gd_now() < deadline) {
            if (gd_log_has(g, " ready ", from))
                return true;
            int status;
            if (waitpid(g->pid, &status, WNOHANG) == g->pid) {
                gd_untrack(g->pid);
                g->pid = 0;
                break;
            }
            usleep(10000);
        }
        if (g->pid > 0) {
            gd_kill(g);
            return false;
        }
        if (!gd_log_has(g, "in use", from))
            return false;
        /* Someone took the port between our probe and the bind: move. */
        g->port = gd_free_port();
        snprintf(g->url, sizeof g->url, "%s://127.0.0.1:%d/sync", g->ca ? "https" : "http",
                 g->port);
    }
    return false;
}

int gd_stop(struct gd *g)
{
    if (g->pid <= 0)
        return -1;
    kill(g->pid, SIGTERM);
    int status = 0;
    waitpid(g->pid, &status, 0);
    gd_untrack(g->pid);
    g->pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void gd_kill(struct gd *g)
{
    if (g->pid <= 0)
        return;
    kill(g->pid, SIGKILL);
    waitpid(g->pid, NULL, 0);
    gd_untrack(g->pid);
    g->pid = 0;
}

struct gd_reply {
    char *data;
    size_t len;
};

static size_t gd_collect(char *data, size_t size, size_t nmemb, void *user)
{
    struct gd_reply *r = user;
    size_t n = size * nmemb;
    char *p = realloc(r->data, r->len + n + 1);
    if (!p)
        return 0;
    r->data = p;
    memcpy(r->data + r->len, data, n);
    r->len += n;
    r->data[r->len] = '\0';
    return n;
}

/* One POST; returns the HTTP status (0 on transport failure). */
static long gd_post(CURL *e, const char *ca, const char *url, const char *body, size_t len,
                    struct gd_reply *r)
{
    static struct curl_slist *headers;
    if (!headers) {
        headers = curl_slist_append(NULL, "Content-Type: application/json");
        headers = curl_slist_append(headers, "Expect:");
    }
    r->len = 0;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, gd_collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    if (ca)
        curl_easy_setopt(e, CURLOPT_CAINFO, ca);
    long status = 0;
    if (curl_easy_perform(e) != CURLE_OK)
        return 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

bool gd_push_lww(const struct gd *g, const char *client, const char *prefix, size_t first, size_t n,
                 size_t batch)
{
    CURL *e = curl_easy_init();
    struct grove_buf body = {0};
    struct gd_reply r = {0};
    char url[200];
    snprintf(url, sizeof url, "%s/push", g->url);
    bool ok = e != NULL;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    long long ts = (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
    for (size_t start = 0; ok && start < n; start += batch) {
        size_t end = start + batch < n ? start + batch : n;
        body.len = 0;
        char item[512];
        grove_buf_append(&body, "{\"changes\":[", 12);
        for (size_t i = start; i < end; i++) {
            int k = snprintf(
                item, sizeof item,
                "%s{\"table\":\"docs\",\"pk\":\"%s%zu\",\"field\":\"title\","
                "\"crdt_type\":\"lww\",\"hlc\":{\"ts\":%lld,\"c\":%zu,\"node\":\"%s\"},"
                "\"node_id\":\"%s\",\"value\":\"title of %s%zu\"}",
                i > start ? "," : "", prefix, first + i, ts, i, client, client, prefix, first + i);
            grove_buf_append(&body, item, (size_t)k);
        }
        int k = snprintf(item, sizeof item, "],\"node_id\":\"%s\"}", client);
        grove_buf_append(&body, item, (size_t)k);
        long status = gd_post(e, g->ca, url, body.data, body.len, &r);
        if (status != 200) {
            fprintf(stderr, "push to %s: HTTP %ld %s\n", url, status, r.data ? r.data : "");
            ok = false;
        }
    }
    grove_buf_free(&body);
    free(r.data);
    if (e)
        curl_easy_cleanup(e);
    return ok;
}

long gd_count(const struct gd *g)
{
    CURL *e = curl_easy_init();
    struct gd_reply r = {0};
    char url[200], body[512];
    snprintf(url, sizeof url, "%s/pull", g->url);
    struct grove_hlc since = {0};
    long total = 0;
    for (;;) {
        int k = snprintf(body, sizeof body,
                         "{\"tables\":[\"docs\"],\"since\":{\"ts\":%lld,\"c\":%u,\"node\":\"%s\"},"
                         "\"node_id\":\"checker\",\"limit\":10000}",
                         (long long)since.ts, since.c, since.node);
        long status = gd_post(e, g->ca, url, body, (size_t)k, &r);
        struct grove_pull_response *resp = NULL;
        if (status != 200 || grove_json_decode_pull_response(r.data, r.len, &resp) != GROVE_OK) {
            total = -1;
            break;
        }
        total += (long)resp->count;
        since = resp->latest_hlc;
        bool more = resp->has_more;
        grove_msg_free(resp);
        if (!more)
            break;
    }
    free(r.data);
    curl_easy_cleanup(e);
    return total;
}

long gd_wait_count(const struct gd *g, long want, int timeout_s)
{
    double deadline = gd_now() + timeout_s;
    long n;
    while ((n = gd_count(g)) != want && gd_now() < deadline)
        usleep(100000);
    return n;
}

double gd_peak_rss_mb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    double mb = -1;
    if (!f)
        return mb;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            mb = strtod(line + 6, NULL) / 1024.0;
    fclose(f);
    return mb;
}
