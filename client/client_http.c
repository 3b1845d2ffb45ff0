/* The client over HTTP (docs/data-api.md): JSON requests to /v1/tables/...
 * at the root of the listener's address, through libcurl. One easy handle
 * per client keeps the connection alive between calls (a mutex serialises
 * them); a watch runs an SSE stream on a handle of its own, on the multi
 * interface so that *stop is seen every 100 ms even when nothing arrives. */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"
#include "grove/json.h"
#include "grove/schema.h"
#include "grove/sys/error.h"
#include "http_client.h" /* grove_http_map_curl, grove_http_map_status, the SSE parser */

/* A stream that shows no byte (not even a keep-alive) for this long is dead. */
#define CHTTP_STREAM_IDLE_S 60

struct chttp {
    char *base;           /* "scheme://host:port": the root of the listener's address */
    pthread_mutex_t lock; /* guards easy */
    CURL *easy;
    char *auth_header; /* "Authorization: Bearer ..." or NULL */
    /* The last table whose declaration was read (chttp_check_kinds). */
    char *schema_table;
    struct grove_schema *schema;
};

static pthread_once_t chttp_curl_once = PTHREAD_ONCE_INIT;
static CURLcode chttp_curl_rc;

static void chttp_curl_init(void)
{
    chttp_curl_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void chttp_close(void *self)
{
    struct chttp *h = self;
    if (!h)
        return;
    if (h->easy)
        curl_easy_cleanup(h->easy);
    pthread_mutex_destroy(&h->lock);
    free(h->base);
    free(h->auth_header);
    free(h->schema_table);
    grove_schema_free(h->schema);
    free(h);
}

static grove_err chttp_open(const struct grove_url *url, const char *token, void **self_out)
{
    pthread_once(&chttp_curl_once, chttp_curl_init);
    if (chttp_curl_rc != CURLE_OK)
        return grove_error_set(GROVE_EUNAVAIL, "curl_global_init: %s",
                               curl_easy_strerror(chttp_curl_rc));
    struct chttp *h = calloc(1, sizeof *h);
    if (!h)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    pthread_mutex_init(&h->lock, NULL);
    /* The Data API lives at the root of the address, whatever the path. */
    const char *host_at = strstr(url->text, "://") + 3;
    size_t n = (size_t)(host_at - url->text) + strcspn(host_at, "/#");
    h->base = strndup(url->text, n);
    h->easy = curl_easy_init();
    bool failed = !h->base || !h->easy;
    if (token) {
        char *value = grove_bearer_value(token);
        size_t len = value ? strlen(value) + sizeof "Authorization: " : 0;
        if (value && (h->auth_header = malloc(len)))
            snprintf(h->auth_header, len, "Authorization: %s", value);
        else
            failed = true;
        free(value);
    }
    if (failed) {
        chttp_close(h);
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    }
    *self_out = h;
    return GROVE_OK;
}

/* Appends s as one percent-encoded path segment or query value. */
static grove_err chttp_escape(struct grove_buf *b, const char *s)
{
    char *esc = curl_easy_escape(NULL, s, (int)strlen(s));
    if (!esc)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    grove_err err = grove_buf_append(b, esc, strlen(esc));
    curl_free(esc);
    return err;
}

static grove_err chttp_append(struct grove_buf *b, const char *s)
{
    return grove_buf_append(b, s, strlen(s));
}

/* "/v1/tables/{table}[/<what>[/{pk}]]", NUL-terminated; <what> is "rows" or
 * "watch", NULL for the table itself. */
static grove_err chttp_path(struct grove_buf *path, const char *table, const char *what,
                            const char *pk)
{
    grove_err err = chttp_append(path, "/v1/tables/");
    if (!err)
        err = chttp_escape(path, table);
    if (!err && what && !(err = chttp_append(path, "/")))
        err = chttp_append(path, what);
    if (!err && pk && !(err = chttp_append(path, "/")))
        err = chttp_escape(path, pk);
    return err;
}

/* Appends "?name=value" or "&name=value" when value is set. */
static grove_err chttp_query(struct grove_buf *path, const char *name, const char *value)
{
    if (!value || !*value)
        return GROVE_OK;
    grove_err err = chttp_append(path, memchr(path->data, '?', path->len) ? "&" : "?");
    if (!err)
        err = chttp_append(path, name);
    if (!err)
        err = chttp_append(path, "=");
    return err ? err : chttp_escape(path, value);
}

static size_t chttp_collect(char *data, size_t size, size_t nmemb, void *user)
{
    size_t n = size * nmemb;
    return grove_buf_append(user, data, n) ? 0 : n;
}

static grove_err chttp_headers(const struct chttp *h, const char *const *lines, size_t count,
                               struct curl_slist **out)
{
    struct curl_slist *list = NULL;
    for (size_t i = 0; i < count; i++) {
        if (!lines[i])
            continue;
        struct curl_slist *t = curl_slist_append(list, lines[i]);
        if (!t) {
            curl_slist_free_all(list);
            return grove_error_set(GROVE_ENOMEM, "out of memory");
        }
        list = t;
    }
    if (h->auth_header) {
        struct curl_slist *t = curl_slist_append(list, h->auth_header);
        if (!t) {
            curl_slist_free_all(list);
            return grove_error_set(GROVE_ENOMEM, "out of memory");
        }
        list = t;
    }
    *out = list;
    return GROVE_OK;
}

/* One request: method, path (under base), an optional JSON body and extra
 * header; *answer gets the body of a 200, anything else is an error with
 * the status and the server's message ("GET /v1/...: HTTP 404: ..."). */
static grove_err chttp_request(struct chttp *h, const char *method, const struct grove_buf *path,
                               const struct grove_buf *body, const char *header,
                               struct grove_buf *answer)
{
    struct grove_buf url = {0};
    struct curl_slist *headers = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    char what[160];
    snprintf(what, sizeof what, "%s %.*s", method, (int)(path->len > 140 ? 140 : path->len),
             path->data);
    grove_err err = chttp_append(&url, h->base);
    if (!err)
        err = grove_buf_append(&url, path->data, path->len);
    if (!err)
        err = grove_buf_append(&url, "", 1);
    const char *lines[] = {"Accept: application/json",
                           body ? "Content-Type: application/json" : NULL, "Expect:", header};
    if (!err)
        err = chttp_headers(h, lines, sizeof lines / sizeof lines[0], &headers);
    if (err)
        goto done;
    pthread_mutex_lock(&h->lock);
    CURL *e = h->easy;
    curl_easy_reset(e); /* keeps the live connection */
    curl_easy_setopt(e, CURLOPT_URL, url.data);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)CLIENT_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)CLIENT_CALL_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body->data ? body->data : "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
    } else if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, chttp_collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, answer);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode rc = curl_easy_perform(e);
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
    pthread_mutex_unlock(&h->lock);
    if (rc != CURLE_OK && !(status >= 400 && answer->len > 0))
        err = grove_http_map_curl(rc, what, errbuf);
    else if (status != 200)
        err = grove_http_map_status(status, what, answer->data, answer->len);
done:
    curl_slist_free_all(headers);
    grove_buf_free(&url);
    return err;
}

/* {"field": value, ...}: an LWW value as given, a counter's delta, a set's
 * {"add":[...],"remove":[...]}. */
static grove_err chttp_elements(struct grove_buf *b, const char *name,
                                const struct grove_slice *items, size_t count)
{
    grove_err err = chttp_append(b, name);
    for (size_t i = 0; !err && i < count; i++) {
        if (i > 0)
            err = chttp_append(b, ",");
        if (!err)
            err = grove_buf_append(b, items[i].ptr, items[i].len);
    }
    return err ? err : chttp_append(b, "]");
}

static grove_err chttp_write_body(const struct grove_field_write *fields, size_t count,
                                  struct grove_buf *b)
{
    grove_err err = chttp_append(b, "{");
    for (size_t i = 0; !err && i < count; i++) {
        const struct grove_field_write *f = &fields[i];
        if (i > 0 && (err = chttp_append(b, ",")))
            break;
        if ((err = grove_json_encode_string(f->field, strlen(f->field), b)) ||
            (err = chttp_append(b, ":")))
            break;
        char num[32];
        switch (f->crdt) {
        case GROVE_CRDT_COUNTER:
            snprintf(num, sizeof num, "%" PRId64, f->delta);
            err = chttp_append(b, num);
            break;
        case GROVE_CRDT_SET: /* the empty side left out */
            if (f->add_count)
                err = chttp_elements(b, "{\"add\":[", f->add, f->add_count);
            if (!err && f->remove_count)
                err = chttp_elements(b, f->add_count ? ",\"remove\":[" : "{\"remove\":[", f->remove,
                                     f->remove_count);
            if (!err)
                err = chttp_append(b, "}");
            break;
        default:
            err = grove_buf_append(b, f->value.ptr, f->value.len);
        }
    }
    return err ? err : chttp_append(b, "}");
}

/* Reads table's declaration (GET /v1/tables/{table}) into h->schema, unless
 * it is the one read last. */
static grove_err chttp_read_schema(struct chttp *h, const char *table)
{
    if (h->schema_table && strcmp(h->schema_table, table) == 0)
        return GROVE_OK;
    struct grove_buf path = {0}, answer = {0};
    char *spec = NULL;
    struct grove_schema *schema = NULL;
    grove_err err = chttp_path(&path, table, NULL, NULL);
    if (!err)
        err = chttp_request(h, "GET", &path, NULL, NULL, &answer);
    if (!err)
        err = grove_client_json_table_spec(answer.data, answer.len, &spec);
    if (!err)
        err = grove_schema_new(&schema);
    if (!err && (err = grove_schema_parse(schema, spec)))
        err = grove_error_prefix(GROVE_EPROTO, "unexpected table declaration: ");
    if (!err) {
        char *name = strdup(table);
        if (name) {
            free(h->schema_table);
            grove_schema_free(h->schema);
            h->schema_table = name;
            h->schema = schema;
            schema = NULL;
        } else {
            err = grove_error_set(GROVE_ENOMEM, "out of memory");
        }
    }
    grove_schema_free(schema);
    free(spec);
    grove_buf_free(&path);
    grove_buf_free(&answer);
    return err;
}

/* The HTTP body says no kind of write (an integer is an LWW value or a
 * counter's delta, as the table declares the field), so the kinds asked for
 * are checked against the declaration here, and a write the node would
 * refuse over gRPC is refused alike: incr on an LWW field does not set it. */
static grove_err chttp_check_kinds(struct chttp *h, const char *table,
                                   const struct grove_field_write *fields, size_t count)
{
    grove_err err = chttp_read_schema(h, table);
    for (size_t i = 0; !err && i < count; i++) {
        const struct grove_field_write *f = &fields[i];
        enum grove_crdt declared = grove_schema_field_type(h->schema, table, f->field);
        if (!grove_schema_has_fields(h->schema, table) && f->crdt != GROVE_CRDT_LWW)
            err = grove_error_set_native(GROVE_EINVAL, 400,
                                         "field \"%s\": table \"%s\" is declared without "
                                         "fields, which HTTP writes as lww (gRPC writes %s)",
                                         f->field, table, grove_crdt_name(f->crdt));
        else if (declared != GROVE_CRDT_NONE && declared != f->crdt)
            err = grove_error_set_native(GROVE_EINVAL, 400,
                                         "field \"%s\": declared %s, written as %s", f->field,
                                         grove_crdt_name(declared), grove_crdt_name(f->crdt));
    }
    return err;
}

static grove_err chttp_write(void *self, const char *table, const char *pk,
                             const struct grove_field_write *fields, size_t field_count,
                             const char *idempotency_key, char **row, struct grove_hlc *hlc)
{
    struct chttp *h = self;
    struct grove_buf path = {0}, body = {0}, answer = {0};
    char *header = NULL;
    grove_err err = chttp_check_kinds(h, table, fields, field_count);
    if (!err)
        err = chttp_path(&path, table, "rows", pk);
    if (!err)
        err = chttp_write_body(fields, field_count, &body);
    if (!err && idempotency_key) {
        size_t n = strlen(idempotency_key) + sizeof "Idempotency-Key: ";
        if ((header = malloc(n)))
            snprintf(header, n, "Idempotency-Key: %s", idempotency_key);
        else
            err = grove_error_set(GROVE_ENOMEM, "out of memory");
    }
    if (!err)
        err = chttp_request(h, "PATCH", &path, &body, header, &answer);
    if (!err)
        err = grove_client_json_row(answer.data, answer.len, row, hlc);
    free(header);
    grove_buf_free(&path);
    grove_buf_free(&body);
    grove_buf_free(&answer);
    return err;
}

static grove_err chttp_delete(void *self, const char *table, const char *pk, struct grove_hlc *hlc)
{
    struct chttp *h = self;
    struct grove_buf path = {0}, answer = {0};
    grove_err err = chttp_path(&path, table, "rows", pk);
    if (!err)
        err = chttp_request(h, "DELETE", &path, NULL, NULL, &answer);
    /* The answer's body is optional: read the HLC when there is one. */
    if (!err && answer.len > 0)
        err = grove_client_json_row(answer.data, answer.len, NULL, hlc);
    grove_buf_free(&path);
    grove_buf_free(&answer);
    return err;
}

static grove_err chttp_get(void *self, const char *table, const char *pk, char **row)
{
    struct chttp *h = self;
    struct grove_buf path = {0}, answer = {0};
    grove_err err = chttp_path(&path, table, "rows", pk);
    if (!err)
        err = chttp_request(h, "GET", &path, NULL, NULL, &answer);
    if (!err)
        err = grove_client_json_row(answer.data, answer.len, row, NULL);
    grove_buf_free(&path);
    grove_buf_free(&answer);
    return err;
}

static grove_err chttp_list(void *self, const struct grove_list_query *query,
                            struct grove_row_page **page)
{
    struct chttp *h = self;
    struct grove_buf path = {0}, answer = {0};
    char limit[24] = "";
    if (query->limit)
        snprintf(limit, sizeof limit, "%zu", query->limit);
    grove_err err = chttp_path(&path, query->table, "rows", NULL);
    if (!err)
        err = chttp_query(&path, "limit", limit);
    if (!err)
        err = chttp_query(&path, "after", query->after);
    if (!err)
        err = chttp_query(&path, "prefix", query->prefix);
    if (!err)
        err = chttp_request(h, "GET", &path, NULL, NULL, &answer);
    if (!err)
        err = grove_client_json_page(answer.data, answer.len, page);
    grove_buf_free(&path);
    grove_buf_free(&answer);
    return err;
}

/* ---- watch: `event: row`, `id: CURSOR`, data {"pk","row"|null,"deleted"} ---- */

struct chttp_watch {
    struct grove_http_sse_download d;
    grove_client_event_fn fn;
    void *user;
};

static grove_err chttp_watch_event(void *user, const struct grove_http_sse *sse)
{
    struct chttp_watch *w = user;
    if (strcmp(sse->event, "row") != 0 || !sse->has_data)
        return GROVE_OK;
    struct grove_row_event event = {0};
    void *scratch;
    grove_err err = grove_client_json_event(sse->data.data, sse->data.len, &event, &scratch);
    if (err)
        return err;
    if (sse->has_id) {
        size_t n = strlen(sse->id_text);
        if (n >= sizeof event.cursor) {
            grove_msg_free(scratch);
            return grove_error_set(GROVE_EPROTO, "stream event id: longer than %zu bytes",
                                   sizeof event.cursor - 1);
        }
        memcpy(event.cursor, sse->id_text, n + 1);
    }
    if (!w->fn(w->user, &event))
        w->d.done = true;
    grove_msg_free(scratch);
    return GROVE_OK;
}

static grove_err chttp_watch(void *self, const struct grove_watch_options *opts,
                             grove_client_event_fn fn, void *user, const atomic_bool *stop)
{
    struct chttp *h = self;
    struct chttp_watch w = {.fn = fn, .user = user};
    struct grove_buf path = {0}, url = {0};
    struct curl_slist *headers = NULL;
    char what[160];
    w.d.sse.on_event = chttp_watch_event;
    w.d.sse.user = &w;
    w.d.sse.id_opaque = true;
    grove_err err = GROVE_OK;
    CURL *easy = w.d.easy = curl_easy_init();
    if (!easy) {
        err = grove_error_set(GROVE_ENOMEM, "curl_easy_init failed");
        goto done;
    }
    if ((err = chttp_path(&path, opts->table, "watch", NULL)) ||
        (err = chttp_query(&path, "prefix", opts->prefix)) ||
        (err = chttp_query(&path, "since", opts->since)) ||
        (err = chttp_query(&path, "snapshot", opts->snapshot ? "true" : NULL)) ||
        (err = chttp_append(&url, h->base)) ||
        (err = grove_buf_append(&url, path.data, path.len)) ||
        (err = grove_buf_append(&url, "", 1)))
        goto done;
    snprintf(what, sizeof what, "GET %.*s", (int)(path.len > 140 ? 140 : path.len), path.data);
    const char *lines[] = {"Accept: text/event-stream"};
    if ((err = chttp_headers(h, lines, 1, &headers)))
        goto done;
    curl_easy_setopt(easy, CURLOPT_URL, url.data);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)CLIENT_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, (long)CHTTP_STREAM_IDLE_S);
    err = grove_http_sse_download_run(&w.d, what, CLIENT_STOP_CHECK_MS, stop);
done:
    grove_http_sse_download_free(&w.d);
    curl_slist_free_all(headers);
    grove_buf_free(&path);
    grove_buf_free(&url);
    return err;
}

/* ---- the admin API (docs/operations.md) ---------------------------------- */

/* Where an admin answer goes: a 200's body to sink when set (a backup),
 * anything else (and a 200 without sink) to body. */
struct chttp_admin_out {
    CURL *easy;
    FILE *sink;
    struct grove_buf *body;
    int64_t written;
    bool sink_failed;
};

static size_t chttp_admin_collect(char *data, size_t size, size_t nmemb, void *user)
{
    struct chttp_admin_out *o = user;
    size_t n = size * nmemb;
    long status = 0;
    curl_easy_getinfo(o->easy, CURLINFO_RESPONSE_CODE, &status);
    if (!o->sink || status != 200)
        return grove_buf_append(o->body, data, n) ? 0 : n;
    if (fwrite(data, 1, n, o->sink) != n) {
        o->sink_failed = true;
        return 0;
    }
    o->written += (int64_t)n;
    return n;
}

/* An admin call has no deadline of its own: a sync round or a backup takes
 * as long as it takes (connecting is still bounded). */
static grove_err chttp_admin(void *self, const char *method, const char *path, const char *peer,
                             FILE *sink, struct grove_buf *answer, int64_t *written)
{
    struct chttp *h = self;
    struct grove_buf url = {0};
    struct curl_slist *headers = NULL;
    char errbuf[CURL_ERROR_SIZE] = "";
    char what[160];
    snprintf(what, sizeof what, "%s %s", method, path);
    grove_err err = chttp_append(&url, h->base);
    if (!err)
        err = chttp_append(&url, path);
    if (!err && peer)
        err = chttp_query(&url, "peer", peer);
    if (!err)
        err = grove_buf_append(&url, "", 1);
    const char *lines[] = {sink ? "Accept: application/vnd.sqlite3" : "Accept: application/json",
                           "Expect:"};
    if (!err)
        err = chttp_headers(h, lines, 2, &headers);
    if (err)
        goto done;
    struct chttp_admin_out out = {.sink = sink, .body = answer};
    pthread_mutex_lock(&h->lock);
    CURL *e = out.easy = h->easy;
    curl_easy_reset(e);
    curl_easy_setopt(e, CURLOPT_URL, url.data);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)CLIENT_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
    } else {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, chttp_admin_collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &out);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode rc = curl_easy_perform(e);
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
    pthread_mutex_unlock(&h->lock);
    if (out.sink_failed)
        err = grove_error_set(GROVE_ESTORE, "writing the backup: %s", strerror(errno));
    else if (rc != CURLE_OK && !(status >= 400 && answer->len > 0))
        err = grove_http_map_curl(rc, what, errbuf);
    else if (status != 200)
        err = grove_http_map_status(status, what, answer->data, answer->len);
    if (!err && written)
        *written = out.written;
    if (!err && !sink)
        err = grove_buf_append(answer, "", 1); /* NUL-terminated for the caller */
done:
    curl_slist_free_all(headers);
    grove_buf_free(&url);
    return err;
}

const struct client_ops grove_client_http_ops = {
    .open = chttp_open,
    .write = chttp_write,
    .delete_row = chttp_delete,
    .get = chttp_get,
    .list = chttp_list,
    .watch = chttp_watch,
    .admin = chttp_admin,
    .close = chttp_close,
};
