/* The Data API's watch over HTTP (docs/data-api.md "HTTP"): SSE events of a
 * table or a pk prefix, a snapshot first, heartbeats, and resumes from
 * Last-Event-ID or ?since= that miss nothing and repeat nothing while writes
 * go on. A raw HTTP/1.0 client reads the stream as it comes. */
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "transport_http/data_fixture.h"

/* A raw SSE client: HTTP/1.0, so the stream comes unchunked. */
struct sse {
    int fd;
    char buf[1 << 16];
    size_t len;
    int comments; /* comment lines seen (": ok", ": keep-alive") */
};

struct sse_event {
    char event[32];
    char id[64];
    char data[4096];
    bool has_data;
};

static void sse_open(struct sse *s, const struct data_node *n, const char *path,
                     const char *last_event_id)
{
    memset(s, 0, sizeof *s);
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(s->fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)n->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(s->fd, (struct sockaddr *)&a, sizeof a), 0);
    char req[1024];
    int k = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nAccept: text/event-stream\r\n", path);
    if (last_event_id)
        k += snprintf(req + k, sizeof req - (size_t)k, "Last-Event-ID: %s\r\n", last_event_id);
    k += snprintf(req + k, sizeof req - (size_t)k, "\r\n");
    cr_assert_eq(write(s->fd, req, (size_t)k), k);
}

/* Reads until buf holds `mark`; false when timeout_ms passes first. */
static bool sse_fill(struct sse *s, const char *mark, int timeout_ms)
{
    while (!memmem(s->buf, s->len, mark, strlen(mark))) {
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        if (poll(&p, 1, timeout_ms) <= 0)
            return false;
        cr_assert_lt(s->len, sizeof s->buf - 1, "SSE buffer full");
        ssize_t n = read(s->fd, s->buf + s->len, sizeof s->buf - 1 - s->len);
        if (n <= 0)
            return false;
        s->len += (size_t)n;
    }
    return true;
}

static void sse_consume(struct sse *s, size_t n)
{
    memmove(s->buf, s->buf + n, s->len - n);
    s->len -= n;
}

/* The response head: 200, text/event-stream. */
static void sse_head(struct sse *s)
{
    cr_assert(sse_fill(s, "\r\n\r\n", 5000), "no response head");
    cr_assert(strncmp(s->buf, "HTTP/1.", 7) == 0 && strncmp(s->buf + 9, "200", 3) == 0, "%.*s",
              (int)s->len, s->buf);
    char *end = memmem(s->buf, s->len, "\r\n\r\n", 4);
    cr_assert(memmem(s->buf, (size_t)(end - s->buf), "text/event-stream", 17), "%.*s",
              (int)(end - s->buf), s->buf);
    sse_consume(s, (size_t)(end + 4 - s->buf));
}

/* The next block (up to a blank line); false on timeout. */
static bool sse_block(struct sse *s, struct sse_event *e, int timeout_ms)
{
    memset(e, 0, sizeof *e);
    if (!sse_fill(s, "\n\n", timeout_ms))
        return false;
    char *end = memmem(s->buf, s->len, "\n\n", 2);
    *end = '\0';
    for (char *line = s->buf, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (line[0] == ':')
            s->comments++;
        else if (strncmp(line, "event: ", 7) == 0)
            snprintf(e->event, sizeof e->event, "%s", line + 7);
        else if (strncmp(line, "id: ", 4) == 0)
            snprintf(e->id, sizeof e->id, "%s", line + 4);
        else if (strncmp(line, "data: ", 6) == 0) {
            size_t have = strlen(e->data);
            snprintf(e->data + have, sizeof e->data - have, "%s%s", e->has_data ? "\n" : "",
                     line + 6);
            e->has_data = true;
        }
    }
    sse_consume(s, (size_t)(end + 2 - s->buf));
    return true;
}

/* The next row event, skipping comments and id-only blocks. */
static bool sse_event(struct sse *s, struct sse_event *e, int timeout_ms)
{
    while (sse_block(s, e, timeout_ms))
        if (e->has_data) {
            cr_assert_str_eq(e->event, "row");
            cr_assert_neq(e->id[0], '\0', "an event without id");
            return true;
        }
    return false;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* No row event comes for ms (comments may: keep-alives). */
static void sse_quiet(struct sse *s, int ms)
{
    struct sse_event e;
    int64_t end = now_ms() + ms;
    for (int64_t left = ms; left > 0; left = end - now_ms())
        if (sse_block(s, &e, (int)left))
            cr_assert(!e.has_data, "an unexpected event: %s", e.data);
}

static void sse_close(struct sse *s)
{
    close(s->fd);
}

static void write_views(const struct data_node *n, const char *pk, int views)
{
    char path[128], body[64];
    snprintf(path, sizeof path, "/v1/tables/docs/rows/%s", pk);
    snprintf(body, sizeof body, "{\"views\": %d}", views);
    expect_ok(n, "PATCH", path, body, NULL);
}

Test(transport_http_data_watch, events)
{
    struct data_node n;
    data_node_start(&n, &(struct grove_listen_options){.keepalive_ms = 300});
    struct sse s;
    struct sse_event e;
    sse_open(&s, &n, "/v1/tables/docs/watch?prefix=a", NULL);
    sse_head(&s);
    /* It opens with a comment and the cursor it goes on from. */
    cr_assert(sse_block(&s, &e, 5000));
    cr_assert(!e.has_data);
    cr_assert_neq(e.id[0], '\0');
    cr_assert_eq(s.comments, 1);
    write_views(&n, "b1", 1); /* not under the prefix */
    write_views(&n, "a1", 4);
    cr_assert(sse_event(&s, &e, 5000));
    cr_assert_str_eq(e.data, "{\"pk\":\"a1\",\"row\":{\"views\":4},\"deleted\":false}");
    expect_ok(&n, "DELETE", "/v1/tables/docs/rows/a1", NULL, NULL);
    cr_assert(sse_event(&s, &e, 5000));
    cr_assert_str_eq(e.data, "{\"pk\":\"a1\",\"row\":null,\"deleted\":true}");
    /* A value's raw newline is split over data lines, joined back with LF. */
    expect_ok(&n, "PATCH", "/v1/tables/docs/rows/a2", "{\"title\": [1,\n2]}", NULL);
    cr_assert(sse_event(&s, &e, 5000));
    cr_assert_str_eq(e.data, "{\"pk\":\"a2\",\"row\":{\"title\":[1,\n2]},\"deleted\":false}");
    /* Heartbeats while nothing happens. */
    int before = s.comments;
    sse_quiet(&s, 1000);
    cr_assert_geq(s.comments, before + 2, "keep-alive comments: %d", s.comments - before);
    sse_close(&s);

    /* A snapshot first: every visible row under the prefix, then changes. */
    sse_open(&s, &n, "/v1/tables/docs/watch?prefix=a&snapshot=true", NULL);
    sse_head(&s);
    cr_assert(sse_event(&s, &e, 5000));
    cr_assert_str_eq(e.data, "{\"pk\":\"a2\",\"row\":{\"title\":[1,\n2]},\"deleted\":false}");
    write_views(&n, "a3", 1);
    cr_assert(sse_event(&s, &e, 5000));
    cr_assert(strstr(e.data, "\"pk\":\"a3\""), "%s", e.data);
    sse_close(&s);
    data_node_stop(&n);
}

struct writer {
    const struct data_node *node;
    int from, count;
};

static void *writer_run(void *arg)
{
    struct writer *w = arg;
    for (int i = w->from; i < w->from + w->count; i++) {
        char pk[16];
        snprintf(pk, sizeof pk, "w%04d", i);
        write_views(w->node, pk, i);
    }
    return NULL;
}

/* Records the pk of an event in seen[] and fails on a repeat. */
static void seen_once(const struct sse_event *e, int *seen, int total)
{
    int i = -1;
    cr_assert_eq(sscanf(e->data, "{\"pk\":\"w%d\"", &i), 1, "%s", e->data);
    cr_assert(i >= 0 && i < total, "%s", e->data);
    cr_assert_eq(seen[i], 0, "w%04d repeated after the resume", i);
    seen[i]++;
}

Test(transport_http_data_watch, resumes_without_gap_or_repeat)
{
    enum { TOTAL = 120, CUT_AFTER = 30 };
    struct data_node n;
    data_node_start(&n, NULL);
    int seen[TOTAL] = {0};
    struct sse s;
    struct sse_event e;
    sse_open(&s, &n, "/v1/tables/docs/watch", NULL);
    sse_head(&s);
    cr_assert(sse_block(&s, &e, 5000)); /* the opening cursor */
    /* Writes go on while the watch is cut and reopened. */
    struct writer w = {.node = &n, .from = 0, .count = TOTAL};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, writer_run, &w), 0);
    char last[64] = "";
    for (int got = 0; got < CUT_AFTER;) {
        cr_assert(sse_event(&s, &e, 10000), "event %d did not come", got);
        seen_once(&e, seen, TOTAL);
        snprintf(last, sizeof last, "%s", e.id);
        got++;
    }
    sse_close(&s); /* mid-stream: more events may have been on their way */
    /* The URL's since= is older; Last-Event-ID, newer, wins. */
    char path[160];
    snprintf(path, sizeof path, "/v1/tables/docs/watch?since=%s", "0.0");
    sse_open(&s, &n, path, last);
    sse_head(&s);
    int total = CUT_AFTER;
    while (total < TOTAL) {
        cr_assert(sse_event(&s, &e, 10000), "missing events after the resume: %d of %d", total,
                  TOTAL);
        seen_once(&e, seen, TOTAL);
        total++;
    }
    cr_assert_eq(pthread_join(t, NULL), 0);
    sse_quiet(&s, 300);
    sse_close(&s);
    /* ?since= alone resumes the same way: from the 30th event there are 90. */
    snprintf(path, sizeof path, "/v1/tables/docs/watch?since=%s", last);
    sse_open(&s, &n, path, NULL);
    sse_head(&s);
    memset(seen, 0, sizeof seen);
    for (int i = CUT_AFTER; i < TOTAL; i++) {
        cr_assert(sse_event(&s, &e, 10000), "event %d of the resume by since=", i);
        seen_once(&e, seen, TOTAL);
    }
    sse_quiet(&s, 300);
    sse_close(&s);
    data_node_stop(&n);
}

/* The listener's own path does not move the Data API: sync stays under it. */
