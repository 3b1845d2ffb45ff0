/* A big batch on the SSE stream goes as several events, each line under
 * 64 KiB (Grove's Go client reads lines with a 64 KiB limit), each event
 * with its own cursor, and together they hold every record. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "grove/data.h"
#include "transport_http/http_fixture.h"

enum { ROWS = 2000, VALUE_BYTES = 500 }; /* one write of about 1 MB of records */

struct sse_lines {
    char *data;
    size_t len;
    size_t records; /* "\"pk\":" seen in data lines */
};

static size_t count_records(const char *s)
{
    size_t n = 0;
    for (const char *p = s; (p = strstr(p, "\"pk\":")) != NULL; p += 5)
        n++;
    return n;
}

static size_t sse_lines_write(char *data, size_t size, size_t nmemb, void *user)
{
    struct sse_lines *c = user;
    size_t n = size * nmemb;
    char *grown = realloc(c->data, c->len + n + 1);
    cr_assert_not_null(grown);
    c->data = grown;
    memcpy(c->data + c->len, data, n);
    c->len += n;
    c->data[c->len] = '\0';
    return count_records(c->data) >= ROWS && strstr(c->data + c->len - 2, "\n\n") ? 0 : n;
}

Test(transport_http_sse, a_megabyte_batch_goes_in_lines_under_64k)
{
    struct http_node n;
    http_node_start(&n, NULL);
    char *value = malloc(VALUE_BYTES);
    cr_assert_not_null(value);
    memset(value, 'v', VALUE_BYTES);
    value[0] = value[VALUE_BYTES - 1] = '"';
    struct grove_field_write field = {.field = "title", .value = {value, VALUE_BYTES}};
    static struct grove_row_write rows[ROWS];
    static char pks[ROWS][32];
    for (int i = 0; i < ROWS; i++) {
        snprintf(pks[i], sizeof pks[i], "row-%04d", i);
        rows[i] = (struct grove_row_write){
            .table = "docs", .pk = pks[i], .fields = &field, .field_count = 1};
    }
    struct grove_write w = {.rows = rows, .row_count = ROWS};
    cr_assert_eq(grove_data_write(n.node.store, &w, NULL), GROVE_OK, "%s", grove_errmsg());
    free(value);

    /* Grove's clients give no limit: the whole store is one batch for them. */
    char url[300];
    snprintf(url, sizeof url, "%s/stream?tables=docs", n.url);
    CURL *e = curl_easy_init();
    struct sse_lines cap = {0};
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sse_lines_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &cap);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 30L);
    CURLcode rc = curl_easy_perform(e);
    curl_easy_cleanup(e);
    cr_assert_eq(rc, CURLE_WRITE_ERROR, "stream ended with %s", curl_easy_strerror(rc));

    size_t events = 0, longest = 0;
    char last_id[128] = "";
    for (char *line = cap.data, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
        size_t len = (size_t)(nl - line);
        if (len > longest)
            longest = len;
        if (strncmp(line, "id: ", 4) == 0) {
            char id[128];
            snprintf(id, sizeof id, "%.*s", (int)(len - 4), line + 4);
            cr_expect_str_neq(id, last_id, "each event has a cursor of its own");
            memcpy(last_id, id, sizeof id);
        }
        events += strncmp(line, "event: changes", 14) == 0;
    }
    cr_expect_eq(count_records(cap.data), ROWS, "every record, once");
    cr_expect_lt(longest, 65536, "the longest line is %zu bytes", longest);
    cr_expect_geq(events, 16, "1 MB in events of at most 60 KiB: %zu events", events);
    free(cap.data);
    http_node_stop(&n);
}
