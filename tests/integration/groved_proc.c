/* Running real groved processes (see groved_proc.h). No Criterion here, so
 * the benchmarks can use it too. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "grove/json.h"
#include "integration/groved_proc.h"
#include "support/port.h"

#ifndef GROVED_PATH
#define GROVED_PATH GROVE_BINARY_DIR "/bin/groved"
#endif

extern char **environ;

static pid_t gd_pids[64];
static size_t gd_pid_count;

static void gd_track(pid_t pid)
{
    size_t i = 0;
    while (i < gd_pid_count && gd_pids[i] > 0)
        i++;
    if (i < sizeof gd_pids / sizeof gd_pids[0]) {
        gd_pids[i] = pid;
        if (i == gd_pid_count)
            gd_pid_count++;
    }
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

void gd_prepare(struct gd *g, const char *node, const char *dir)
{
    memset(g, 0, sizeof *g);
    snprintf(g->node, sizeof g->node, "%s", node);
    snprintf(g->dir, sizeof g->dir, "%s", dir);
    snprintf(g->db, sizeof g->db, "%s/%s.db", dir, node);
    snprintf(g->log, sizeof g->log, "%s/%s.log", dir, node);
    g->port = support_free_port();
    snprintf(g->url, sizeof g->url, "http://127.0.0.1:%d/sync", g->port);
}

void gd_use_tls(struct gd *g, const char *ca, const char *cert, const char *key)
{
    snprintf(g->url, sizeof g->url, "https://127.0.0.1:%d/sync", g->port);
    g->ca = ca;
    gd_arg(g, "--tls-cert", cert);
    gd_arg(g, "--tls-key", key);
    gd_arg(g, "--tls-ca", ca);
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

static bool gd_log_has(const char *log, const char *needle, off_t from)
{
    FILE *f = fopen(log, "r");
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

off_t gd_file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : 0;
}

/* In the child: drops every GROVE_* variable, then sets env's. */
static void gd_child_env(const char *const *env)
{
    for (bool again = true; again;) {
        again = false;
        for (char **e = environ; *e; e++) {
            if (strncmp(*e, "GROVE_", 6) == 0) {
                char name[128];
                snprintf(name, sizeof name, "%.*s", (int)strcspn(*e, "="), *e);
                unsetenv(name);
                again = true;
                break;
            }
        }
    }
    for (size_t i = 0; env && env[i]; i++)
        putenv(strdup(env[i]));
}

pid_t gd_exec(const char *log, const char *const *args, const char *const *env)
{
    const char *argv[GD_MAX_ARGS + 16];
    size_t a = 0;
    argv[a++] = GROVED_PATH;
    for (size_t i = 0; args && args[i] && a + 1 < sizeof argv / sizeof argv[0]; i++)
        argv[a++] = args[i];
    argv[a] = NULL;
    pid_t pid = fork();
    if (pid != 0) {
        if (pid > 0)
            gd_track(pid);
        return pid;
    }
    /* Never outlive the test, even when it crashes. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    gd_child_env(env);
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
    }
    execv(argv[0], (char *const *)argv);
    _exit(127);
}

enum gd_wait gd_wait_ready(pid_t pid, const char *log, off_t from, int timeout_s)
{
    double deadline = gd_now() + timeout_s;
    while (gd_now() < deadline) {
        if (gd_log_has(log, " msg=ready ", from))
            return GD_READY;
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            gd_untrack(pid);
            return GD_EXITED;
        }
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    gd_untrack(pid);
    return GD_TIMEOUT;
}

int gd_wait_exit(pid_t pid, int timeout_s)
{
    double deadline = gd_now() + timeout_s;
    int status = 0;
    pid_t done;
    while ((done = waitpid(pid, &status, WNOHANG)) == 0 && gd_now() < deadline)
        usleep(10000);
    if (done == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    gd_untrack(pid);
    return done == pid && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool gd_start(struct gd *g)
{
    for (int attempt = 0; attempt < 10; attempt++) {
        const char *args[GD_MAX_ARGS + 12];
        size_t a = 0;
        args[a++] = "--node-id";
        args[a++] = g->node;
        args[a++] = "--db";
        args[a++] = g->db;
        args[a++] = "--listen";
        args[a++] = g->url;
        args[a++] = "--table";
        args[a++] = "docs:title=lww,views=counter,tags=set";
        for (size_t i = 0; g->extra[i]; i++)
            args[a++] = g->extra[i];
        args[a] = NULL;
        off_t from = gd_file_size(g->log);
        g->pid = gd_exec(g->log, args, NULL);
        if (g->pid < 0)
            return false;
        enum gd_wait w = gd_wait_ready(g->pid, g->log, from, 30);
        if (w == GD_READY)
            return true;
        g->pid = 0;
        if (w == GD_TIMEOUT || !gd_log_has(g->log, "in use", from))
            return false;
        /* Someone took the port between our probe and the bind: move. */
        g->port = support_free_port();
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

struct gd_status gd_proc_status(pid_t pid)
{
    struct gd_status st = {-1, -1, -1};
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return st;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmHWM:", 6) == 0)
            st.peak_rss_mb = strtod(line + 6, NULL) / 1024.0;
        else if (strncmp(line, "VmRSS:", 6) == 0)
            st.rss_mb = strtod(line + 6, NULL) / 1024.0;
        else if (strncmp(line, "Threads:", 8) == 0)
            st.threads = strtol(line + 8, NULL, 10);
    }
    fclose(f);
    return st;
}
