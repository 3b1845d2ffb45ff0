/* Helpers shared by the HTTP transport tests: ports, certificates, raw requests. */
#ifndef GROVE_TESTS_HTTP_FIXTURE_H
#define GROVE_TESTS_HTTP_FIXTURE_H

#include <stddef.h>

#include "conformance/conformance.h"

/* Registers the HTTP transport (once per process). */
void http_fixture_register(void);
/* http://127.0.0.1:<random high port>/sync (scheme "http" or "https"). */
void http_fixture_url(const char *scheme, char *url, size_t cap);
/* A self-signed certificate for 127.0.0.1/localhost, made once per process
 * with certtool; paths stay valid for the process. */
void http_fixture_certs(const char **cert, const char **key);
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
void http_raw_free(struct http_raw_reply *r);
/* The grove_err an HTTP status stands for (the client's mapping). */
grove_err http_fixture_status_err(long status);

/* One HTTP-served node on a fresh store (tables docs, notes, documents,
 * comments, stats). */
struct http_node {
    char dir[256];
    char url[256]; /* http://127.0.0.1:<port>/sync */
    struct grove_schema *schema;
    struct grove_node node; /* serves url */
};
void http_node_start(struct http_node *n, const struct grove_listen_options *opts);
void http_node_stop(struct http_node *n);

extern const struct conformance_fixture http_conformance;
extern const struct conformance_fixture https_conformance;

#endif
