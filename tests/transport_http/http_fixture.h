/* Helpers shared by the HTTP transport tests: a served node, raw requests and
 * the conformance fixtures (ports, certificates and temporary directories
 * come from tests/support). */
#ifndef GROVE_TESTS_HTTP_FIXTURE_H
#define GROVE_TESTS_HTTP_FIXTURE_H

#include <stddef.h>

#include "conformance/conformance.h"
#include "support/node.h"

/* Registers the HTTP transport (once per process). */
void http_fixture_register(void);
/* A loopback URL nobody listens on. */
void http_fixture_refused_url(char *url, size_t cap);
/* A socket that accepts connections (in the kernel) and never answers. */
int http_fixture_silent_open(char *url, size_t cap);
void http_fixture_silent_close(int fd);

struct http_raw_reply {
    long status;
    char *body; /* malloc'ed, NUL-terminated */
    size_t len;
    char content_type[128];
    char allow[64];
};
/* Sends one raw request with libcurl. content_type NULL: no Content-Type
 * header; token NULL: no Authorization header. */
void http_raw(const char *method, const char *url, const char *content_type, const char *token,
              const char *body, size_t len, struct http_raw_reply *out);
/* The same with the header lines given (NULL-terminated; NULL: none). The
 * path goes out as written, dot segments and empty ones included. */
void http_raw_headers(const char *method, const char *url, const char *const *headers,
                      const char *body, size_t len, struct http_raw_reply *out);
void http_raw_free(struct http_raw_reply *r);
/* The grove_err an HTTP status stands for (the client's mapping). */
grove_err http_fixture_status_err(long status);

/* One HTTP-served node on a fresh store (tables docs, notes, documents,
 * comments, stats) at http://127.0.0.1:<free port>/sync: the support
 * fixture's node, under the name the HTTP tests use. */
#define http_node support_node
void http_node_start(struct http_node *n, const struct grove_listen_options *opts);
void http_node_stop(struct http_node *n);

extern const struct conformance_fixture http_conformance;
extern const struct conformance_fixture https_conformance;

#endif
