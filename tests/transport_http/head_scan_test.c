/* The first head's check (grove_http_head_scan) at its limit: a head is
 * judged by where it ends, the same whether it arrives whole or a byte at a
 * time (fuzz/fuzz_http_head.c checks this for any input). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "transport_http/http_internal.h"

enum { LIMIT = 64 };

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

/* A head of exactly `total` bytes: the request line, one padding header. */
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
    char *s = head_of(LIMIT);
    cr_assert_eq(scan(s, 0), 0);
    cr_assert_eq(scan(s, 1), 0);
    cr_assert_eq(scan(s, 7), 0);
    free(s);
}

Test(http_head_scan, a_head_one_byte_longer_is_refused_however_it_arrives)
{
    char *s = head_of(LIMIT + 1);
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
