/* Helpers shared by the HTTP transport tests. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "transport_http/http_fixture.h"
#include "transport_http/transport_http.h"

void http_fixture_register(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    /* EINVAL when already registered in this process: fine. */
    (void)grove_transport_register(grove_transport_http());
    srand((unsigned)getpid() ^ (unsigned)time(NULL));
}

void http_fixture_url(const char *scheme, char *url, size_t cap)
{
    http_fixture_register();
    int port = 20000 + rand() % 40000;
    snprintf(url, cap, "%s://127.0.0.1:%d/sync", scheme, port);
}

void http_fixture_certs(const char **cert, const char **key)
{
    static char dir[64], cert_path[128], key_path[128];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/grove-cert-XXXXXX");
        cr_assert_not_null(mkdtemp(dir));
        snprintf(cert_path, sizeof cert_path, "%s/cert.pem", dir);
        snprintf(key_path, sizeof key_path, "%s/key.pem", dir);
        char tmpl[128], cmd[1024];
        snprintf(tmpl, sizeof tmpl, "%s/cert.cfg", dir);
        FILE *t = fopen(tmpl, "w");
        cr_assert_not_null(t);
        fputs("cn = \"localhost\"\ndns_name = \"localhost\"\nip_address = \"127.0.0.1\"\n"
              "expiration_days = 2\nca\nsigning_key\ncert_signing_key\ntls_www_server\n",
              t);
        fclose(t);
        snprintf(cmd, sizeof cmd,
                 "certtool --generate-privkey --key-type=ecdsa --outfile %s >/dev/null 2>&1 && "
                 "certtool --generate-self-signed --load-privkey %s --template %s --outfile %s "
                 ">/dev/null 2>&1",
                 key_path, key_path, tmpl, cert_path);
        cr_assert_eq(system(cmd), 0, "certtool failed: %s", cmd);
    }
    *cert = cert_path;
    *key = key_path;
}

static int http_fixture_bound_socket(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

void http_fixture_refused_url(char *url, size_t cap)
{
    http_fixture_register();
    int port;
    int fd = http_fixture_bound_socket(&port);
    close(fd); /* bound, never listened: connections are refused */
    snprintf(url, cap, "http://127.0.0.1:%d/sync", port);
}

int http_fixture_silent_open(char *url, size_t cap)
{
    http_fixture_register();
    int port;
    int fd = http_fixture_bound_socket(&port);
    cr_assert_eq(listen(fd, 16), 0);
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

void http_raw(const char *method, const char *url, const char *content_type, const char *token,
              const char *body, size_t len, struct http_raw_reply *out)
{
    memset(out, 0, sizeof *out);
    CURL *e = curl_easy_init();
    cr_assert_not_null(e);
    struct curl_slist *h = NULL;
    char line[512];
    if (content_type) {
        snprintf(line, sizeof line, "Content-Type: %s", content_type);
        h = curl_slist_append(h, line);
    } else {
        h = curl_slist_append(h, "Content-Type:"); /* curl would add a form type */
    }
    if (token) {
        snprintf(line, sizeof line, "Authorization: Bearer %s", token);
        h = curl_slist_append(h, line);
    }
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
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
    http_fixture_url("http", url, cap);
}

static void https_listen_url(char *url, size_t cap, int attempt)
{
    (void)attempt;
    http_fixture_url("https", url, cap);
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
    const char *cert, *key;
    http_fixture_certs(&cert, &key);
    https_listen.cert_file = cert;
    https_listen.key_file = key;
    https_dial.ca_file = cert; /* self-signed: the certificate is its own CA */
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
};

void http_node_start(struct http_node *n, const struct grove_listen_options *opts)
{
    memset(n, 0, sizeof *n);
    http_fixture_register();
    static const char *const tables[] = {
        "docs:title=lww,views=counter,tags=set", "notes", "documents", "comments", "stats", NULL};
    conformance_node_open(n->dir, sizeof n->dir, tables, &n->schema, &n->node);
    grove_err err = GROVE_EUNAVAIL;
    for (int i = 0; i < 50 && err == GROVE_EUNAVAIL; i++) {
        http_fixture_url("http", n->url, sizeof n->url);
        err = grove_node_listen(&n->node, n->url, opts);
    }
    cr_assert_eq(err, GROVE_OK, "%s", grove_errmsg());
}

void http_node_stop(struct http_node *n)
{
    conformance_node_close(n->dir, &n->node, n->schema);
}
