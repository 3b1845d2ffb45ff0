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
    struct http_peer *peer;
    CURL *easy;
    grove_batch_fn fn;
    void *user;
    long status;              /* 0 until the headers are in */
    struct grove_buf errbody; /* the body of a non-200 answer */
    struct grove_http_sse sse;
    struct grove_hlc since; /* the cursor the next batch starts after */
    grove_err fn_err;       /* why we aborted from the write callback */
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

static size_t http_sse_write(char *data, size_t size, size_t nmemb, void *user)
{
    struct http_sse_client *c = user;
    size_t n = size * nmemb;
    if (c->status == 0)
        curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &c->status);
    if (c->status != 200) {
        if (c->errbody.len < 4096 && grove_buf_append(&c->errbody, data, n))
            return 0;
        return n;
    }
    grove_err err = grove_http_sse_feed(&c->sse, data, n);
    if (err) {
        c->fn_err = err;
        return 0;
    }
    return n;
}

/* ?tables=a,b&since_ts=..&since_count=..&since_node=..&node_id=.. */
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
        err = grove_buf_append(url, "", 1);
    return err;
}

grove_err grove_http_dialer_subscribe(void *self, const struct grove_pull_request *req,
                                      grove_batch_fn fn, void *user, const atomic_bool *stop)
{
    struct http_peer *p = self;
    struct http_sse_client c = {.peer = p, .fn = fn, .user = user, .since = req->since};
    c.sse.on_event = http_sse_dispatch;
    c.sse.user = &c;
    struct grove_buf url = {0};
    struct curl_slist *headers = NULL;
    CURLM *multi = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    grove_err err = GROVE_OK;
    bool added = false;
    c.easy = curl_easy_init();
    multi = curl_multi_init();
    if (!c.easy || !multi) {
        err = grove_error_set(GROVE_ENOMEM, "curl init failed");
        goto fail;
    }
    err = http_sse_url(p, c.easy, req, &url);
    if (err)
        goto fail;
    const char *lines[] = {"Accept: text/event-stream", p->auth_header};
    for (size_t i = 0; i < 2; i++) {
        if (!lines[i])
            continue;
        struct curl_slist *t = curl_slist_append(headers, lines[i]);
        if (!t) {
            err = grove_error_set(GROVE_ENOMEM, "out of memory");
            goto fail;
        }
        headers = t;
    }
    grove_http_easy_setup(c.easy, p);
    curl_easy_setopt(c.easy, CURLOPT_URL, url.data);
    curl_easy_setopt(c.easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c.easy, CURLOPT_WRITEFUNCTION, http_sse_write);
    curl_easy_setopt(c.easy, CURLOPT_WRITEDATA, &c);
    curl_easy_setopt(c.easy, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c.easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c.easy, CURLOPT_LOW_SPEED_TIME, (long)HTTP_STREAM_IDLE_S);
    if (curl_multi_add_handle(multi, c.easy) != CURLM_OK) {
        err = grove_error_set(GROVE_ENOMEM, "curl_multi_add_handle failed");
        goto fail;
    }
    added = true;
    int running = 1;
    while (running) {
        if (atomic_load(stop))
            goto fail; /* asked to stop: GROVE_OK */
        CURLMcode mc = curl_multi_perform(multi, &running);
        if (mc == CURLM_OK && running)
            mc = curl_multi_poll(multi, NULL, 0, HTTP_STOP_CHECK_MS, NULL);
        if (mc != CURLM_OK) {
            err = grove_error_set(GROVE_EUNAVAIL, "%s: %s", p->stream_url, curl_multi_strerror(mc));
            goto fail;
        }
    }
    CURLcode rc = CURLE_OK;
    int left;
    CURLMsg *m;
    while ((m = curl_multi_info_read(multi, &left)))
        if (m->msg == CURLMSG_DONE)
            rc = m->data.result;
    if (c.fn_err)
        err = c.fn_err; /* message already set by whoever failed */
    else if (c.status != 0 && c.status != 200)
        err = grove_http_map_status(c.status, p->stream_url, c.errbody.data, c.errbody.len);
    else if (rc != CURLE_OK)
        err = grove_http_map_curl(rc, p->stream_url, errbuf);
    else
        err = grove_error_set(GROVE_EUNAVAIL, "%s: the server ended the stream", p->stream_url);
fail:
    if (added)
        curl_multi_remove_handle(multi, c.easy);
    if (multi)
        curl_multi_cleanup(multi);
    if (c.easy)
        curl_easy_cleanup(c.easy);
    curl_slist_free_all(headers);
    grove_buf_free(&url);
    grove_buf_free(&c.errbody);
    grove_http_sse_free(&c.sse);
    return err;
}
