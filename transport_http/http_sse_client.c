/* The SSE stream client: GET {base}/stream, LF-framed events of unlimited
 * line length, `event: changes` batches whose `id:` is the batch's
 * latest_hlc. Runs on the multi interface so *stop is seen every 100 ms even
 * when nothing arrives. */
#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_client.h"
#include "grove/sys/error.h"

#define HTTP_STOP_CHECK_MS 100
/* A stream that shows no byte (not even a keep-alive) for this long is dead. */
#define HTTP_STREAM_IDLE_S 60

struct http_sse_client {
    grove_batch_fn fn;
    void *user;
    struct grove_hlc since; /* the cursor the next batch starts after */
};

/* A `changes` (or Grove's `change`) event: its id is the batch's latest_hlc. */
static grove_err http_sse_dispatch(void *user, const struct grove_http_sse *e)
{
    struct http_sse_client *c = user;
    bool is_changes = strcmp(e->event, "changes") == 0 || strcmp(e->event, "change") == 0;
    if (!is_changes || !e->has_data)
        return GROVE_OK;
    struct grove_pull_response *batch = NULL;
    grove_err err = grove_json_decode_changes(e->data.data, e->data.len, &batch);
    if (err)
        return grove_error_prefix(GROVE_EPROTO, "bad stream event: ");
    batch->since = c->since;
    /* Without an id (a Grove server) we cannot tell where the batch ends:
     * keep the cursor where it is and let the next pull move it. */
    batch->latest_hlc = e->has_id ? e->id : c->since;
    err = c->fn(c->user, batch);
    if (!err)
        c->since = batch->latest_hlc;
    grove_msg_free(batch);
    return err;
}

static size_t http_sse_download_write(char *data, size_t size, size_t nmemb, void *user)
{
    struct grove_http_sse_download *d = user;
    size_t n = size * nmemb;
    if (d->status == 0)
        curl_easy_getinfo(d->easy, CURLINFO_RESPONSE_CODE, &d->status);
    if (d->status != 200) {
        if (d->errbody.len < 4096 && grove_buf_append(&d->errbody, data, n))
            return 0;
        return n;
    }
    if (d->done)
        return 0;
    grove_err err = grove_http_sse_feed(&d->sse, data, n);
    if (err) {
        d->err = err;
        return 0;
    }
    return d->done ? 0 : n;
}

grove_err grove_http_sse_download_run(struct grove_http_sse_download *d, const char *what,
                                      int poll_ms, const atomic_bool *stop)
{
    curl_easy_setopt(d->easy, CURLOPT_WRITEFUNCTION, http_sse_download_write);
    curl_easy_setopt(d->easy, CURLOPT_WRITEDATA, d);
    curl_easy_setopt(d->easy, CURLOPT_ERRORBUFFER, d->errbuf);
    CURLM *multi = curl_multi_init();
    if (!multi || curl_multi_add_handle(multi, d->easy) != CURLM_OK) {
        if (multi)
            curl_multi_cleanup(multi);
        return grove_error_set(GROVE_ENOMEM, "curl multi init failed");
    }
    grove_err err = GROVE_OK;
    int running = 1;
    while (running && !d->done && !atomic_load(stop)) {
        CURLMcode mc = curl_multi_perform(multi, &running);
        if (mc == CURLM_OK && running)
            mc = curl_multi_poll(multi, NULL, 0, poll_ms, NULL);
        if (mc != CURLM_OK) {
            err = grove_error_set(GROVE_EUNAVAIL, "%s: %s", what, curl_multi_strerror(mc));
            break;
        }
    }
    CURLcode rc = CURLE_OK;
    int left;
    CURLMsg *m;
    while ((m = curl_multi_info_read(multi, &left)))
        if (m->msg == CURLMSG_DONE)
            rc = m->data.result;
    curl_multi_remove_handle(multi, d->easy);
    curl_multi_cleanup(multi);
    curl_easy_setopt(d->easy, CURLOPT_ERRORBUFFER, NULL);
    if (err || d->done || atomic_load(stop))
        return err;
    if (d->err)
        return d->err; /* message already set by whoever failed */
    if (d->status != 0 && d->status != 200)
        return grove_http_map_status(d->status, what, d->errbody.data, d->errbody.len);
    if (rc != CURLE_OK)
        return grove_http_map_curl(rc, what, d->errbuf);
    return grove_error_set(GROVE_EUNAVAIL, "%s: the server ended the stream", what);
}

void grove_http_sse_download_free(struct grove_http_sse_download *d)
{
    if (d->easy)
        curl_easy_cleanup(d->easy);
    d->easy = NULL;
    grove_buf_free(&d->errbody);
    grove_http_sse_free(&d->sse);
}

/* ?tables=a,b&since_ts=..&since_count=..&since_node=..&node_id=..&pk_prefix=.. */
static grove_err http_sse_url(struct http_peer *p, CURL *e, const struct grove_pull_request *req,
                              struct grove_buf *url)
{
    grove_err err = grove_buf_append(url, p->stream_url, strlen(p->stream_url));
    char num[64];
    char sep = '?';
    if (!err && req->table_count > 0) {
        err = grove_buf_append(url, "?tables=", 8);
        sep = '&';
        for (size_t i = 0; !err && i < req->table_count; i++) {
            char *esc = curl_easy_escape(e, req->tables[i], 0);
            if (!esc)
                return grove_error_set(GROVE_ENOMEM, "out of memory");
            if (i > 0)
                err = grove_buf_append(url, ",", 1);
            if (!err)
                err = grove_buf_append(url, esc, strlen(esc));
            curl_free(esc);
        }
    }
    if (!err) {
        int k = snprintf(num, sizeof num, "%csince_ts=%" PRId64 "&since_count=%" PRIu32, sep,
                         req->since.ts, req->since.c);
        err = grove_buf_append(url, num, (size_t)k);
    }
    const char *names[] = {"&since_node=", "&node_id="};
    const char *values[] = {req->since.node, req->node_id};
    for (int i = 0; i < 2 && !err; i++) {
        if (!values[i] || !values[i][0])
            continue;
        char *esc = curl_easy_escape(e, values[i], 0);
        if (!esc)
            return grove_error_set(GROVE_ENOMEM, "out of memory");
        err = grove_buf_append(url, names[i], strlen(names[i]));
        if (!err)
            err = grove_buf_append(url, esc, strlen(esc));
        curl_free(esc);
    }
    if (!err)
        err = grove_http_sse_filter_query(e, &req->filter, url);
    if (!err)
        err = grove_buf_append(url, "", 1);
    return err;
}

grove_err grove_http_dialer_subscribe(void *self, const struct grove_pull_request *req,
                                      grove_batch_fn fn, void *user, const atomic_bool *stop)
{
    struct http_peer *p = self;
    struct http_sse_client c = {.fn = fn, .user = user, .since = req->since};
    struct grove_http_sse_download d = {.sse = {.on_event = http_sse_dispatch, .user = &c}};
    struct grove_buf url = {0};
    struct curl_slist *headers = NULL;
    grove_err err = GROVE_OK;
    d.easy = curl_easy_init();
    if (!d.easy) {
        err = grove_error_set(GROVE_ENOMEM, "curl init failed");
        goto done;
    }
    err = http_sse_url(p, d.easy, req, &url);
    if (err)
        goto done;
    const char *lines[] = {"Accept: text/event-stream", p->auth_header};
    for (size_t i = 0; i < 2; i++) {
        if (!lines[i])
            continue;
        struct curl_slist *t = curl_slist_append(headers, lines[i]);
        if (!t) {
            err = grove_error_set(GROVE_ENOMEM, "out of memory");
            goto done;
        }
        headers = t;
    }
    grove_http_easy_setup(d.easy, p);
    curl_easy_setopt(d.easy, CURLOPT_URL, url.data);
    curl_easy_setopt(d.easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(d.easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(d.easy, CURLOPT_LOW_SPEED_TIME, (long)HTTP_STREAM_IDLE_S);
    err = grove_http_sse_download_run(&d, p->stream_url, HTTP_STOP_CHECK_MS, stop);
done:
    grove_http_sse_download_free(&d);
    curl_slist_free_all(headers);
    grove_buf_free(&url);
    return err;
}
