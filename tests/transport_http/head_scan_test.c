/* The head check (grove_http_head_scan) at its limit: a head is judged by
 * where it ends, each header line and query parameter counting
 * GROVE_HTTP_FIELD_COST bytes more, the same whether it arrives whole or a
 * byte at a time (fuzz/fuzz_http_head.c checks this for any input). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "transport_http/http_internal.h"

enum { LIMIT = 256 };

/* The verdict on `text`, given whole (step 0) or `step` bytes at a time. */
static int scan(const char *text, size_t step)
{
    struct grove_http_head h = {0};
    size_t n = strlen(text);
    h.buf = malloc(n + 1);
    h.cap = n + 1;
    cr_assert(h.buf);
    int status = -1;
    for (size_t at = 0; at < n && status < 0;) {
        size_t take = step && step < n - at ? step : n - at;
        memcpy(h.buf + h.len, text + at, take);
        h.len += take;
        at += take;
        status = grove_http_head_scan(&h, LIMIT);
    }
    free(h.buf);
    return status;
}

/* A head of exactly `total` bytes: the request line, one padding header
 * (one field: it counts GROVE_HTTP_FIELD_COST more). */
static char *head_of(size_t total)
{
    const char *line = "GET /sync/pull HTTP/1.1\r\nX-Pad: ";
    size_t fixed = strlen(line) + strlen("\r\n\r\n");
    cr_assert(total > fixed);
    char *s = malloc(total + 1);
    cr_assert(s);
    size_t pad = total - fixed;
    strcpy(s, line);
    memset(s + strlen(line), 'p', pad);
    strcpy(s + strlen(line) + pad, "\r\n\r\n");
    cr_assert_eq(strlen(s), total);
    return s;
}

Test(http_head_scan, a_head_ending_at_the_limit_passes_however_it_arrives)
{
    char *s = head_of(LIMIT - GROVE_HTTP_FIELD_COST);
    cr_assert_eq(scan(s, 0), 0);
    cr_assert_eq(scan(s, 1), 0);
    cr_assert_eq(scan(s, 7), 0);
    free(s);
}

Test(http_head_scan, a_head_one_byte_longer_is_refused_however_it_arrives)
{
    char *s = head_of(LIMIT - GROVE_HTTP_FIELD_COST + 1);
    cr_assert_eq(scan(s, 0), 431);
    cr_assert_eq(scan(s, 1), 431);
    cr_assert_eq(scan(s, 7), 431);
    free(s);
}

Test(http_head_scan, a_long_request_line_is_414_however_it_arrives)
{
    char line[LIMIT + 32];
    memset(line, 0, sizeof line);
    memcpy(line, "GET /", 5);
    memset(line + 5, 'a', LIMIT);
    strcat(line, " HTTP/1.1\r\n\r\n");
    cr_assert_eq(scan(line, 0), 414);
    cr_assert_eq(scan(line, 1), 414);
}

/* libmicrohttpd keeps every header line in its connection's memory: many
 * short ones fill it as a long head does (it answered 431 with its HTML). */
Test(http_head_scan, many_short_header_lines_are_431_however_they_arrive)
{
    char head[LIMIT];
    strcpy(head, "GET /sync/pull HTTP/1.1\r\n");
    for (int i = 0; i < 4; i++)
        strcat(head, "a:b\r\n"); /* 4 fields: over the limit with the request line */
    strcat(head, "\r\n");
    cr_assert_lt(strlen(head), LIMIT / 4);
    cr_assert_eq(scan(head, 0), 431);
    cr_assert_eq(scan(head, 1), 431);
    strcpy(head + strlen("GET /sync/pull HTTP/1.1\r\n") + 3 * 5, "\r\n");
    cr_assert_eq(scan(head, 0), 0, "three fields fit: %s", head);
}

/* So does every query parameter. */
Test(http_head_scan, many_query_parameters_are_414_however_they_arrive)
{
    const char *many = "GET /v1/tables/t/rows?a=1&b=2&c=3&d=4 HTTP/1.1\r\n\r\n";
    cr_assert_eq(scan(many, 0), 414);
    cr_assert_eq(scan(many, 1), 414);
    cr_assert_eq(scan("GET /v1/tables/t/rows?a=1&b=2&c=3 HTTP/1.1\r\n\r\n", 0), 0);
}
