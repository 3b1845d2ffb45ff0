/* Helpers of the HTTP Data API tests: a node served at
 * http://127.0.0.1:<port>/sync (so the Data API is at the root, /v1/) and
 * requests to it, through libcurl. */
#ifndef GROVE_TESTS_HTTP_DATA_FIXTURE_H
#define GROVE_TESTS_HTTP_DATA_FIXTURE_H

#include <criterion/criterion.h>

#include "transport_http/http_fixture.h"

struct data_node {
    struct http_node http;
    char root[128]; /* http://127.0.0.1:<port> */
    int port;
};

void data_node_start(struct data_node *n, const struct grove_listen_options *opts);
void data_node_stop(struct data_node *n);

/* One request to root + path; extra: a header line or NULL. The body (NULL:
 * none) is sent as application/json, unless extra is a Content-Type. */
void request(const struct data_node *n, const char *method, const char *path, const char *body,
             const char *extra, struct http_raw_reply *out);
/* The request answers 200 with JSON, exactly `want` (NULL: anything) once a
 * trailing "hlc" member is cut off. */
void expect_ok(const struct data_node *n, const char *method, const char *path, const char *body,
               const char *want);
/* The request is refused with status and {"error":"..."} holding `says`. */
void expect_error(const struct data_node *n, const char *method, const char *path, const char *body,
                  const char *extra, long status, const char *says);
/* "/v1/tables/<table>/rows/<pk, percent-encoded>" */
void row_path(const char *table, const char *pk, char *out, size_t cap);

#endif
