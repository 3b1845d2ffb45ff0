/* The HTTP dialer: pull and push as JSON POSTs through libcurl. One easy
 * handle per peer keeps the connection alive between calls; a mutex
 * serialises its use (a peer is driven by one syncer thread anyway). */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_client.h"
#include "grove/sys/error.h"

/* Bodies above this go out with "Expect: 100-continue", so a server that
 * refuses them (413, 401) answers before we send megabytes it will not read. */
#define HTTP_EXPECT_THRESHOLD (16 * 1024)

static pthread_once_t http_curl_once = PTHREAD_ONCE_INIT;
static CURLcode http_curl_init_rc;

static void http_curl_init(void)
{
    http_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t http_collect(char *data, size_t size, size_t nmemb, void *user)
{
    struct grove_buf *b = user;
    size_t n = size * nmemb;
    if (grove_buf_append(b, data, n))
        return 0;
    return n;
}

grove_err grove_http_map_curl(CURLcode rc, const char *url, const char *detail)
{
    const char *msg = detail && *detail ? detail : curl_easy_strerror(rc);
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return grove_error_set(GROVE_ETIMEOUT, "%s: timed out: %s", url, msg);
    case CURLE_ABORTED_BY_CALLBACK:
        return grove_error_set(GROVE_ESHUTDOWN, "%s: stopped", url);
    case CURLE_OUT_OF_MEMORY:
        return grove_error_set(GROVE_ENOMEM, "%s: out of memory", url);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
        return grove_error_set(GROVE_EAUTH, "%s: TLS: %s", url, msg);
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return grove_error_set(GROVE_EINVAL, "%s: %s", url, msg);
    default:
        return grove_error_set(GROVE_EUNAVAIL, "%s: %s", url, msg);
    }
}

grove_err grove_http_map_status(long status, const char *url, const char *body, size_t len)
{
    char text[512];
    if (!grove_http_error_text(body, len, text, sizeof text)) {
        size_t n = len < sizeof text - 1 ? len : sizeof text - 1;
        memcpy(text, body ? body : "", n);
        text[n] = '\0';
    }
    return grove_error_set_native(grove_err_from_http((int)status), (int)status, "%s: HTTP %ld: %s",
                                  url, status, text);
}

grove_err grove_http_easy_setup(CURL *easy, const struct http_peer *p)
{
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)p->connect_timeout_ms);
    curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, NULL);
    if (p->ca_file)
        curl_easy_setopt(easy, CURLOPT_CAINFO, p->ca_file);
    if (p->cert_file)
        curl_easy_setopt(easy, CURLOPT_SSLCERT, p->cert_file);
    if (p->key_file)
        curl_easy_setopt(easy, CURLOPT_SSLKEY, p->key_file);
    if (p->insecure) {
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    return GROVE_OK;
}

static char *http_strdup_opt(const char *s, bool *failed)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *failed = true;
    return d;
}

void grove_http_dialer_close(void *self)
{
    struct http_peer *p = self;
    if (!p)
        return;
    if (p->easy)
        curl_easy_cleanup(p->easy);
    curl_slist_free_all(p->headers_small);
    curl_slist_free_all(p->headers_big);
    pthread_mutex_destroy(&p->lock);
    free(p->base);
    free(p->pull_url);
    free(p->push_url);
    free(p->stream_url);
    free(p->auth_header);
    free(p->ca_file);
    free(p->cert_file);
    free(p->key_file);
    free(p);
}

static grove_err http_join(char **out, const char *base, const char *suffix)
{
    size_t n = strlen(base) + strlen(suffix) + 1;
    *out = malloc(n);
    if (!*out)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    snprintf(*out, n, "%s%s", base, suffix);
    return GROVE_OK;
}

grove_err grove_http_dialer_open(const struct grove_url *url, const struct grove_dial_options *opts,
                                 const struct grove_codec **codec, void **self_out)
{
    (void)codec;
    struct http_peer *p = NULL;
    grove_err err;
    *self_out = NULL;
    pthread_once(&http_curl_once, http_curl_init);
    if (http_curl_init_rc != CURLE_OK)
        return grove_error_set(GROVE_EUNAVAIL, "curl_global_init: %s",
                               curl_easy_strerror(http_curl_init_rc));
    p = calloc(1, sizeof *p);
    if (!p)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    pthread_mutex_init(&p->lock, NULL);
    /* The base is the URL up to its path, without a #label or trailing slash. */
    size_t n = strcspn(url->text, "#");
    while (n > 0 && url->text[n - 1] == '/')
        n--;
    p->base = strndup(url->text, n);
    if (!p->base) {
        err = grove_error_set(GROVE_ENOMEM, "out of memory");
        goto fail;
    }
    if ((err = http_join(&p->pull_url, p->base, "/pull")) ||
        (err = http_join(&p->push_url, p->base, "/push")) ||
        (err = http_join(&p->stream_url, p->base, "/stream")))
        goto fail;
    p->connect_timeout_ms = opts->connect_timeout_ms;
    p->timeout_ms = opts->timeout_ms;
    p->insecure = opts->insecure;
    bool failed = false;
    p->ca_file = http_strdup_opt(opts->ca_file, &failed);
    p->cert_file = http_strdup_opt(opts->cert_file, &failed);
    p->key_file = http_strdup_opt(opts->key_file, &failed);
    if (opts->token) {
        char *value = grove_bearer_value(opts->token);
        size_t len = value ? strlen(value) + sizeof "Authorization: " : 0;
        if (value && (p->auth_header = malloc(len)))
            snprintf(p->auth_header, len, "Authorization: %s", value);
        else
            failed = true;
        free(value);
    }
    if (failed) {
        err = grove_error_set(GROVE_ENOMEM, "out of memory");
        goto fail;
    }
    for (int big = 0; big < 2; big++) {
        struct curl_slist *h = NULL, *t;
        const char *lines[] = {"Content-Type: application/json", "Accept: application/json",
                               big ? "Expect: 100-continue" : "Expect:", p->auth_header};
        for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
            if (!lines[i])
                continue;
            t = curl_slist_append(h, lines[i]);
            if (!t) {
                curl_slist_free_all(h);
                err = grove_error_set(GROVE_ENOMEM, "out of memory");
                goto fail;
            }
            h = t;
        }
        *(big ? &p->headers_big : &p->headers_small) = h;
    }
    p->easy = curl_easy_init();
    if (!p->easy) {
        err = grove_error_set(GROVE_ENOMEM, "curl_easy_init failed");
        goto fail;
    }
    *self_out = p;
    return GROVE_OK;
fail:
    grove_http_dialer_close(p);
    return err;
}

/* libcurl calls this while a transfer waits (at least once a second): a
 * cancelled peer's call ends here. */
static int http_on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                            curl_off_t ulnow)
{
    const struct http_peer *p = user;
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    return atomic_load(&p->cancelled) ? 1 : 0;
}

void grove_http_dialer_cancel(void *self, bool on)
{
    struct http_peer *p = self;
    atomic_store(&p->cancelled, on);
}

/* POSTs body to url and leaves the answer in *resp on HTTP 200; any other
 * outcome is mapped to a grove_err carrying the status and the server's text. */
static grove_err http_post(struct http_peer *p, const char *url, const struct grove_buf *body,
                           struct grove_buf *resp)
{
    grove_err err = GROVE_OK;
    char errbuf[CURL_ERROR_SIZE] = "";
    pthread_mutex_lock(&p->lock);
    CURL *e = p->easy;
    curl_easy_reset(e); /* keeps live connections and the TLS session cache */
    grove_http_easy_setup(e, p);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)p->timeout_ms);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body->data);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER,
                     body->len > HTTP_EXPECT_THRESHOLD ? p->headers_big : p->headers_small);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, http_collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, http_on_progress);
    curl_easy_setopt(e, CURLOPT_XFERINFODATA, p);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    CURLcode rc = atomic_load(&p->cancelled) ? CURLE_ABORTED_BY_CALLBACK : curl_easy_perform(e);
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, NULL);
    pthread_mutex_unlock(&p->lock);
    if (rc != CURLE_OK && !(status >= 400 && resp->len > 0))
        err = grove_http_map_curl(rc, url, errbuf);
    else if (status != 200)
        err = grove_http_map_status(status, url, resp->data, resp->len);
    return err;
}

grove_err grove_http_dialer_call(void *self, enum grove_call_kind kind,
                                 const struct grove_buf *request, struct grove_reply *reply)
{
    struct http_peer *p = self;
    struct grove_buf answer = {0};
    grove_err err =
        http_post(p, kind == GROVE_CALL_PULL ? p->pull_url : p->push_url, request, &answer);
    if (err) {
        grove_buf_free(&answer);
        return err;
    }
    *reply = (struct grove_reply){
        .data = answer.data, .len = answer.len, .release = free, .owner = answer.data};
    return GROVE_OK;
}
