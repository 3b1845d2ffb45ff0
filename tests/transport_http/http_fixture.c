/* Helpers shared by the HTTP transport tests. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "grove/sys/error.h"
#include "grove/transport_http.h"
#include "support/certs.h"
#include "support/port.h"
#include "transport_http/http_fixture.h"

void http_fixture_register(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    /* EINVAL when already registered in this process: fine. */
    (void)grove_transport_register(grove_transport_http());
}

void http_fixture_refused_url(char *url, size_t cap)
{
    http_fixture_register();
    int port = support_free_port();
    cr_assert_gt(port, 0, "no free loopback port");
    snprintf(url, cap, "http://127.0.0.1:%d/sync", port);
}

int http_fixture_silent_open(char *url, size_t cap)
{
    http_fixture_register();
    int port;
    int fd = support_silent_listener(&port);
    cr_assert_geq(fd, 0, "no silent listener");
    snprintf(url, cap, "http://127.0.0.1:%d/sync", port);
    return fd;
}

void http_fixture_silent_close(int fd)
{
    close(fd);
}

static size_t http_raw_collect(char *data, size_t size, size_t nmemb, void *user)
{
    struct http_raw_reply *r = user;
    size_t n = size * nmemb;
    r->body = realloc(r->body, r->len + n + 1);
    memcpy(r->body + r->len, data, n);
    r->len += n;
    r->body[r->len] = '\0';
    return n;
}

static size_t http_raw_header(char *data, size_t size, size_t nmemb, void *user)
{
    struct http_raw_reply *r = user;
    size_t n = size * nmemb;
    const char *names[] = {"Content-Type:", "Allow:"};
    char *dests[] = {r->content_type, r->allow};
    size_t caps[] = {sizeof r->content_type, sizeof r->allow};
    for (int i = 0; i < 2; i++) {
        size_t k = strlen(names[i]);
        if (n > k && strncasecmp(data, names[i], k) == 0) {
            const char *v = data + k;
            size_t vn = n - k;
            while (vn && (*v == ' '))
                v++, vn--;
            while (vn && (v[vn - 1] == '\r' || v[vn - 1] == '\n'))
                vn--;
            if (vn >= caps[i])
                vn = caps[i] - 1;
            memcpy(dests[i], v, vn);
            dests[i][vn] = '\0';
        }
    }
    return n;
}

void http_raw_headers(const char *method, const char *url, const char *const *headers,
                      const char *body, size_t len, struct http_raw_reply *out)
{
    memset(out, 0, sizeof *out);
    CURL *e = curl_easy_init();
    cr_assert_not_null(e);
    struct curl_slist *h = curl_slist_append(NULL, "Expect:");
    for (size_t i = 0; headers && headers[i]; i++)
        h = curl_slist_append(h, headers[i]);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L); /* "/../" and "//" reach the server as sent */
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, http_raw_collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, http_raw_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(e);
    cr_assert_eq(rc, CURLE_OK, "%s %s: %s", method, url, curl_easy_strerror(rc));
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &out->status);
    if (!out->body)
        out->body = calloc(1, 1);
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
}

void http_raw(const char *method, const char *url, const char *content_type, const char *token,
              const char *body, size_t len, struct http_raw_reply *out)
{
    char type[512], auth[512];
    /* Without a Content-Type line curl would add a form type. */
    snprintf(type, sizeof type, "Content-Type:%s%s", content_type ? " " : "",
             content_type ? content_type : "");
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token ? token : "");
    const char *headers[] = {type, token ? auth : NULL, NULL};
    http_raw_headers(method, url, headers, body, len, out);
}

void http_raw_free(struct http_raw_reply *r)
{
    free(r->body);
    memset(r, 0, sizeof *r);
}

grove_err http_fixture_status_err(long status)
{
    switch (status) {
    case 200:
        return GROVE_OK;
    case 400:
        return GROVE_EINVAL;
    case 401:
        return GROVE_EAUTH;
    case 403:
        return GROVE_EFORBIDDEN;
    case 404:
        return GROVE_ENOTFOUND;
    case 413:
        return GROVE_ETOOBIG;
    case 500:
        return GROVE_ESTORE;
    default:
        return status >= 500 ? GROVE_EUNAVAIL : GROVE_EPROTO;
    }
}

/* ---- conformance fixtures ------------------------------------------------- */

static void http_listen_url(char *url, size_t cap, int attempt)
{
    (void)attempt;
    http_fixture_register();
    snprintf(url, cap, "http://127.0.0.1:%d/sync", support_free_port());
}

static void https_listen_url(char *url, size_t cap, int attempt)
{
    (void)attempt;
    http_fixture_register();
    snprintf(url, cap, "https://127.0.0.1:%d/sync", support_free_port());
}

static grove_err http_send_raw_push(const char *url, const char *body, size_t len)
{
    char push[600];
    snprintf(push, sizeof push, "%s/push", url);
    struct http_raw_reply r;
    http_raw("POST", push, "application/json", NULL, body, len, &r);
    grove_err err = http_fixture_status_err(r.status);
    if (err)
        grove_error_set(err, "HTTP %ld: %s", r.status, r.body);
    http_raw_free(&r);
    return err;
}

static struct grove_listen_options https_listen;
static struct grove_dial_options https_dial;

static void https_setup(void)
{
    http_fixture_register();
    const struct support_certs *certs = support_certs();
    https_listen.cert_file = certs->cert;
    https_listen.key_file = certs->key;
    https_dial.ca_file = certs->ca;
}

const struct conformance_fixture http_conformance = {
    .setup = http_fixture_register,
    .listen_url = http_listen_url,
    .refused_url = http_fixture_refused_url,
    .silent_open = http_fixture_silent_open,
    .silent_close = http_fixture_silent_close,
    .send_raw_push = http_send_raw_push,
};

const struct conformance_fixture https_conformance = {
    .setup = https_setup,
    .listen_url = https_listen_url,
    .listen = &https_listen,
    .dial = &https_dial,
    .refused_url = http_fixture_refused_url,
    .silent_open = http_fixture_silent_open,
    .silent_close = http_fixture_silent_close,
    .cert_identities = true,
};

void http_node_start(struct http_node *n, const struct grove_listen_options *opts)
{
    http_fixture_register();
    static const char *const tables[] = {
        "docs:title=lww,views=counter,tags=set", "notes", "documents", "comments", "stats", NULL};
    support_node_start(n, &(struct support_node_options){
                              .tables = tables,
                              .listen = opts,
                              .url = "http://127.0.0.1:%d/sync",
                          });
}

void http_node_stop(struct http_node *n)
{
    support_node_stop(n);
}
