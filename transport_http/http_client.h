/* The dialer's per-peer state, shared by the request client and the SSE client. */
#ifndef GROVE_HTTP_CLIENT_H
#define GROVE_HTTP_CLIENT_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>

#include "http_internal.h"

struct http_peer {
    char *base; /* the peer URL without trailing slash */
    char *pull_url;
    char *push_url;
    char *stream_url;
    pthread_mutex_t lock; /* guards easy */
    CURL *easy;           /* reused for pull/push: keeps the connection alive */
    struct curl_slist *headers_small;
    struct curl_slist *headers_big; /* same, with Expect: 100-continue */
    char *auth_header;              /* "Authorization: Bearer ..." or NULL */
    int connect_timeout_ms;
    int timeout_ms;
    char *ca_file;
    char *cert_file;
    char *key_file;
    bool insecure;
    atomic_bool cancelled; /* grove_http_dialer_cancel */
};

/* An SSE response downloaded by libcurl, for the sync stream's subscriber
 * and the Data API client's watch: a 200's bytes go to the parser `sse`
 * (the caller sets its on_event and user; on_event may set `done` to end the
 * download), another status's body is kept for the error. The caller sets
 * up `easy` (URL, headers, timeouts); the run installs the write callback. */
struct grove_http_sse_download {
    CURL *easy;
    struct grove_http_sse sse;
    bool done;
    long status;              /* 0 until the first bytes are in */
    struct grove_buf errbody; /* the first 4 KiB of a non-200 answer */
    grove_err err;            /* why on_event failed */
    char errbuf[CURL_ERROR_SIZE];
};
/* Runs the download until `done` or *stop is set (GROVE_OK), looking at
 * *stop every poll_ms; or until it fails: on_event's error, the HTTP
 * status's, curl's, or "the server ended the stream", each naming `what`. */
grove_err grove_http_sse_download_run(struct grove_http_sse_download *d, const char *what,
                                      int poll_ms, const atomic_bool *stop);
/* Frees easy, the parser and the error body. */
void grove_http_sse_download_free(struct grove_http_sse_download *d);

/* Applies the options every request shares (timeouts, TLS). */
grove_err grove_http_easy_setup(CURL *easy, const struct http_peer *p);
/* A curl failure as a grove_err: timeouts ETIMEOUT, TLS trust EAUTH, else EUNAVAIL. */
grove_err grove_http_map_curl(CURLcode rc, const char *url, const char *detail);
/* The pull filter as stream query parameters, each "&name=value"
 * (http_sse_filter.c). */
grove_err grove_http_sse_filter_query(CURL *e, const struct grove_pull_filter *f,
                                      struct grove_buf *url);
/* A non-200 answer as a grove_err with the status and the server's error text. */
grove_err grove_http_map_status(long status, const char *url, const char *body, size_t len);

#endif
