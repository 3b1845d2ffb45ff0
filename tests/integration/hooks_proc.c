/* Helpers of the hooks integration tests (hooks_proc.h). */
#include "integration/hooks_proc.h"

#include <curl/curl.h>
#include <stdarg.h>
#include <strings.h>
#include <time.h>

#include "grove/json.h"
#include "support.h"

void hk_prepare(struct gd *g, const char *node, const char *dir)
{
    gd_prepare(g, node, dir);
    gd_arg(g, "--table", "notes");
    gd_arg(g, "--interval", "3600");
}

void hk_start(struct gd *g)
{
    cr_assert(gd_start(g), "groved %s did not get ready: see %s", g->node, g->log);
}

static size_t hk_body(char *data, size_t size, size_t nmemb, void *user)
{
    struct hk_reply *r = user;
    size_t n = size * nmemb, have = strlen(r->body);
    size_t room = sizeof r->body - 1 - have;
    memcpy(r->body + have, data, n < room ? n : room);
    r->body[have + (n < room ? n : room)] = '\0';
    return n;
}

static size_t hk_header(char *data, size_t size, size_t nmemb, void *user)
{
    struct hk_reply *r = user;
    size_t n = size * nmemb;
    static const char name[] = "Retry-After:";
    if (n > sizeof name && strncasecmp(data, name, sizeof name - 1) == 0) {
        size_t v = sizeof name - 1;
        while (v < n && data[v] == ' ')
            v++;
        size_t end = n;
        while (end > v && (data[end - 1] == '\r' || data[end - 1] == '\n'))
            end--;
        snprintf(r->retry_after, sizeof r->retry_after, "%.*s", (int)(end - v), data + v);
    }
    return n;
}

/* One request to g's HTTP listener at path (after host:port). */
static long hk_http(const struct gd *g, const char *method, const char *path, const char *body,
                    struct hk_reply *r)
{
    memset(r, 0, sizeof *r);
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", g->port, path);
    CURL *e = curl_easy_init();
    cr_assert(e);
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:");
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    if (body)
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, hk_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, hk_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(e);
    return r->status;
}

static void hk_append(struct grove_buf *b, const char *text)
{
    cr_assert_eq(grove_buf_append(b, text, strlen(text)), GROVE_OK);
}

long hk_push(const struct gd *g, const char *node, struct hk_reply *r, ...)
{
    static unsigned tick; /* HLCs of one test process never repeat */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    long long ts = (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
    struct grove_buf body = {0};
    hk_append(&body, "{\"changes\":[");
    va_list ap;
    va_start(ap, r);
    for (const char *pk; (pk = va_arg(ap, const char *));) {
        const char *field = va_arg(ap, const char *), *value = va_arg(ap, const char *);
        if (body.data[body.len - 1] != '[')
            hk_append(&body, ",");
        hk_append(&body, "{\"table\":\"notes\",\"pk\":");
        cr_assert_eq(grove_json_encode_string(pk, strlen(pk), &body), GROVE_OK);
        char rest[512];
        snprintf(rest, sizeof rest,
                 ",\"field\":\"%s\",\"crdt_type\":\"lww\",\"hlc\":{\"ts\":%lld,\"c\":%u,"
                 "\"node\":\"%s\"},\"node_id\":\"%s\",\"value\":%s}",
                 field, ts, tick++, node, node, value);
        hk_append(&body, rest);
    }
    va_end(ap);
    char tail[128];
    snprintf(tail, sizeof tail, "],\"node_id\":\"%s\"}", node);
    hk_append(&body, tail);
    cr_assert_eq(grove_buf_append(&body, "", 1), GROVE_OK);
    long status = hk_http(g, "POST", "/sync/push", body.data, r);
    grove_buf_free(&body);
    return status;
}

long hk_get(const struct gd *g, const char *pk, struct hk_reply *r)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/tables/notes/rows/%s", pk);
    return hk_http(g, "GET", path, NULL, r);
}

long hk_patch(const struct gd *g, const char *pk, const char *fields, struct hk_reply *r)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/tables/notes/rows/%s", pk);
    return hk_http(g, "PATCH", path, fields, r);
}

long hk_pull(const struct gd *g, struct hk_reply *r)
{
    return hk_http(g, "POST", "/sync/pull", "{\"tables\":[],\"node_id\":\"reader\"}", r);
}

static double hk_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

bool hk_wait_row(const struct gd *g, const char *pk, int timeout_s)
{
    struct hk_reply *r = malloc(sizeof *r);
    cr_assert(r);
    double deadline = hk_now() + timeout_s;
    bool found;
    while (!(found = hk_get(g, pk, r) == 200) && hk_now() < deadline)
        usleep(50000);
    free(r);
    return found;
}

void hk_expect_row(const struct gd *g, const char *pk, const char *row)
{
    struct hk_reply *r = malloc(sizeof *r);
    cr_assert(r);
    cr_expect_eq(hk_get(g, pk, r), 200, "%s on %s: %s", pk, g->node, r->body);
    char want[1024];
    snprintf(want, sizeof want, "\"row\":%s}", row);
    cr_expect(strstr(r->body, want), "%s on %s: want row %s, got %s", pk, g->node, row, r->body);
    free(r);
}

/* The whole file ("" when missing); the caller frees. */
static char *hk_read(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return strdup("");
    fclose(f);
    size_t len;
    return support_read_file(path, &len);
}

bool hk_file_has(const char *path, const char *needle)
{
    char *text = hk_read(path);
    bool found = strstr(text, needle) != NULL;
    free(text);
    return found;
}

bool hk_file_has_both(const char *path, const char *a, const char *b)
{
    char *text = hk_read(path);
    bool found = false;
    for (char *line = text, *next; line && *line && !found; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        found = strstr(line, a) && strstr(line, b);
    }
    free(text);
    return found;
}

bool hk_wait_file(const char *path, const char *needle, int timeout_s)
{
    double deadline = hk_now() + timeout_s;
    bool found;
    while (!(found = hk_file_has(path, needle)) && hk_now() < deadline)
        usleep(50000);
    return found;
}

bool hk_wait_file_both(const char *path, const char *a, const char *b, int timeout_s)
{
    double deadline = hk_now() + timeout_s;
    bool found;
    while (!(found = hk_file_has_both(path, a, b)) && hk_now() < deadline)
        usleep(50000);
    return found;
}

void hk_expect_lines_in_order(const char *path, const char *const *want, size_t n)
{
    char *text = hk_read(path);
    const char *at = text;
    for (size_t i = 0; i < n && at; i++) {
        const char *found = strstr(at, want[i]);
        cr_expect(found, "%s: line %zu (%s) missing or out of order in:\n%s", path, i, want[i],
                  text);
        at = found ? strchr(found, '\n') : NULL;
    }
    free(text);
}

size_t hk_count_lines(const char *path, const char *needle)
{
    char *text = hk_read(path);
    size_t n = 0;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        n += strstr(line, needle) != NULL;
    }
    free(text);
    return n;
}

void hk_wait_stream(const struct gd *pub, const struct gd *sub, const char *audit)
{
    struct hk_reply *r = malloc(sizeof *r);
    cr_assert(r);
    for (int i = 0; i < 40; i++) {
        char pk[32], want[48];
        snprintf(pk, sizeof pk, "warm-%d", i);
        snprintf(want, sizeof want, "\"pk\":\"%s\"", pk);
        cr_assert_eq(hk_push(pub, "warmer", r, pk, "title", "0", NULL), 200, "%s", r->body);
        if (!hk_wait_file(audit, want, 5))
            continue;
        if (hk_file_has_both(audit, "\"path\":\"stream_applied\"", want)) {
            free(r);
            return;
        }
        usleep(100000);
    }
    cr_assert_fail("%s never applied a change streamed from %s", sub->node, pub->node);
}
