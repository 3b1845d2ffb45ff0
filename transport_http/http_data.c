/* The Data API over HTTP (docs/data-api.md "HTTP"), under /v1/ at the root of
 * every HTTP listener's address:
 *
 *   PATCH  /v1/tables/{table}/rows/{pk}   write one row's fields
 *   GET    /v1/tables/{table}/rows/{pk}   get a row
 *   DELETE /v1/tables/{table}/rows/{pk}   delete a row
 *   POST   /v1/tables/{table}/rows        write many rows, all or nothing
 *   GET    /v1/tables/{table}/rows        list rows (?limit=&after=&prefix=)
 *   GET    /v1/tables/{table}/watch       watch rows, SSE (?prefix=&since=&snapshot=)
 *   GET    /v1/tables/{table}             the table's declared fields
 *
 * The listener (http_server.c) hands over the request target as the client
 * sent it, so that a pk holding '/' (sent as %2F) stays one segment; this
 * file decodes it, and the core does the rest: bodies are decoded by
 * core/data_json.c against the schema and served by the Data API. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grove/data.h"
#include "grove/server.h"
#include "grove/sys/error.h"
#include "http_internal.h"

/* ---- request targets ------------------------------------------------------- */

/* Percent-decodes s[0..n) into a new string ('+' is a space when plus_space:
 * in a query). A bad escape or a NUL is GROVE_EINVAL naming `what`. */
static grove_err http_data_unescape(const char *s, size_t n, bool plus_space, const char *what,
                                    char **out)
{
    char *d = malloc(n + 1);
    if (!d)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            int hi = i + 2 < n ? grove_http_hex_digit(s[i + 1]) : -1;
            int lo = i + 2 < n ? grove_http_hex_digit(s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                free(d);
                return grove_error_set(GROVE_EINVAL, "%s: bad percent escape \"%.*s\" at byte %zu",
                                       what, (int)(n - i < 3 ? n - i : 3), s + i, i);
            }
            c = (char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && plus_space) {
            c = ' ';
        }
        if (c == '\0') {
            free(d);
            return grove_error_set(GROVE_EINVAL, "%s: a NUL byte (%%00) is not allowed", what);
        }
        d[o++] = c;
    }
    d[o] = '\0';
    *out = d;
    return GROVE_OK;
}

bool grove_http_data_is_path(const char *target)
{
    return strncmp(target, "/v1", 3) == 0 &&
           (target[3] == '/' || target[3] == '\0' || target[3] == '?');
}

void grove_http_data_free(struct http_data_request *req)
{
    if (!req)
        return;
    free(req->table);
    free(req->pk);
    free(req->query);
    free(req);
}

/* The op of a method on a path shape, or -1 with the methods it allows. */
static int http_data_op_of(const char *method, const char *what, bool has_pk, const char **allow)
{
    bool get = strcmp(method, "GET") == 0;
    if (!what[0]) { /* "/v1/tables/t" or ".../t/", not ".../t//x" */
        *allow = "GET";
        return has_pk ? -2 : get ? DATA_TABLE : -1;
    }
    if (strcmp(what, "watch") == 0) {
        *allow = "GET";
        return has_pk ? -2 : get ? DATA_WATCH : -1;
    }
    if (strcmp(what, "rows") != 0)
        return -2;
    if (has_pk) {
        *allow = "GET, PATCH, DELETE";
        return get                             ? DATA_GET_ROW
               : strcmp(method, "PATCH") == 0  ? DATA_PATCH_ROW
               : strcmp(method, "DELETE") == 0 ? DATA_DELETE_ROW
                                               : -1;
    }
    *allow = "GET, POST";
    return get ? DATA_LIST : strcmp(method, "POST") == 0 ? DATA_WRITE_MANY : -1;
}

/* "/v1/tables/{table}/{rows|watch}[/{pk}]": the segments between slashes. */
grove_err grove_http_data_parse_target(const char *method, const char *target,
                                       struct http_data_request *req, const char **allow,
                                       int *status)
{
    const char *q = strchr(target, '?');
    size_t path_len = q ? (size_t)(q - target) : strlen(target);
    const char *seg[6];
    size_t len[6], count = 0;
    *status = 404;
    for (const char *p = target + 1, *end = target + path_len; p <= end && count < 6;) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        seg[count] = p;
        len[count++] = slash ? (size_t)(slash - p) : (size_t)(end - p);
        if (!slash)
            break;
        p = slash + 1;
    }
    bool has_pk = count == 5, is_table = count == 3;
    if ((count != 4 && !has_pk && !is_table) || len[1] != 6 || memcmp(seg[1], "tables", 6) != 0 ||
        len[2] == 0 || (!is_table && len[3] > 5) ||
        (has_pk && seg[4] + len[4] != target + path_len))
        return grove_error_set(GROVE_ENOTFOUND, "no such path: %.*s", (int)path_len, target);
    char what[8] = "";
    if (!is_table) {
        memcpy(what, seg[3], len[3]);
        what[len[3]] = '\0';
    }
    int op = http_data_op_of(method, what, has_pk, allow);
    if (op == -2)
        return grove_error_set(GROVE_ENOTFOUND, "no such path: %.*s", (int)path_len, target);
    if (op == -1) {
        *status = 405;
        return grove_error_set(GROVE_EINVAL, "use %s on %.*s", *allow, (int)path_len, target);
    }
    req->op = (enum http_data_op)op;
    *status = 400;
    grove_err err = http_data_unescape(seg[2], len[2], false, "table", &req->table);
    if (!err && has_pk) {
        if (len[4] == 0)
            return grove_error_set(GROVE_EINVAL, "pk: empty path segment");
        err = http_data_unescape(seg[4], len[4], false, "pk", &req->pk);
    }
    if (!err && q && !(req->query = strdup(q + 1)))
        err = grove_error_set(GROVE_ENOMEM, "out of memory");
    return err;
}

enum MHD_Result grove_http_data_route(const struct http_listener *l, struct MHD_Connection *conn,
                                      const char *method, const char *target,
                                      struct http_data_request **out)
{
    const char *allow = NULL;
    int status;
    *out = NULL;
    struct http_data_request *req = calloc(1, sizeof *req);
    if (!req)
        return MHD_NO;
    grove_err err = grove_http_data_parse_target(method, target, req, &allow, &status);
    if (err) {
        grove_http_data_free(req);
        if (err == GROVE_ENOMEM)
            return grove_http_queue_grove_error(l, conn, err);
        return grove_http_queue_error(l, conn, status, grove_errmsg(),
                                      status == 405 ? allow : NULL);
    }
    *out = req;
    return MHD_YES;
}

bool grove_http_data_takes_body(const struct http_data_request *req)
{
    return req->op == DATA_PATCH_ROW || req->op == DATA_WRITE_MANY;
}

/* ---- query parameters -------------------------------------------------------- */

/* The decoded values of the query parameters named in names[] (NULL when
 * absent); others are ignored, one given twice is refused. */
grove_err grove_http_data_query(const char *query, const char *const *names, char **values,
                                size_t count)
{
    for (const char *p = query; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', n);
        size_t name_len = eq ? (size_t)(eq - p) : n;
        char *name = NULL;
        grove_err err = http_data_unescape(p, name_len, true, "query", &name);
        if (err)
            return err;
        for (size_t i = 0; !err && i < count; i++) {
            if (strcmp(name, names[i]) != 0)
                continue;
            if (values[i])
                err = grove_error_set(GROVE_EINVAL, "%s: given twice", names[i]);
            else if (eq)
                err = http_data_unescape(eq + 1, n - name_len - 1, true, names[i], &values[i]);
            else if (!(values[i] = strdup("")))
                err = grove_error_set(GROVE_ENOMEM, "out of memory");
        }
        free(name);
        if (err)
            return err;
        p = amp ? amp + 1 : NULL;
    }
    return GROVE_OK;
}

static void http_data_query_free(char **values, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(values[i]);
}

static grove_err http_data_limit(const char *text, size_t *out)
{
    *out = GROVE_DATA_LIST_DEFAULT;
    if (!text)
        return GROVE_OK;
    size_t n = strlen(text), v = 0;
    bool ok = n > 0 && n <= 5 && strspn(text, "0123456789") == n;
    for (size_t i = 0; ok && i < n; i++)
        v = v * 10 + (size_t)(text[i] - '0');
    if (!ok || v < 1 || v > GROVE_DATA_LIST_MAX)
        return grove_error_set(GROVE_EINVAL,
                               "limit: expected an integer from 1 to %d, got \"%.40s\"",
                               GROVE_DATA_LIST_MAX, text);
    *out = v;
    return GROVE_OK;
}

static grove_err http_data_bool(const char *name, const char *text, bool *out)
{
    *out = false;
    if (!text || strcmp(text, "false") == 0 || strcmp(text, "0") == 0)
        return GROVE_OK;
    if (strcmp(text, "true") == 0 || strcmp(text, "1") == 0 || text[0] == '\0') {
        *out = true;
        return GROVE_OK;
    }
    return grove_error_set(GROVE_EINVAL, "%s: expected true or false, got \"%.40s\"", name, text);
}

/* ---- the operations ------------------------------------------------------------ */

static struct grove_store *http_data_store(const struct http_listener *l)
{
    return grove_server_store(l->server);
}

static const char *http_data_idempotency_key(struct MHD_Connection *conn)
{
    return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Idempotency-Key");
}

static grove_err http_data_get(struct http_listener *l, const struct http_data_request *req,
                               struct grove_buf *out)
{
    char *row = NULL;
    grove_err err = grove_data_get_as(http_data_store(l), req->caller, req->table, req->pk, &row);
    if (!err)
        err = grove_data_json_encode_row(req->table, req->pk, row, NULL, out);
    free(row);
    return err;
}

/* Commits a decoded write with the request's idempotency key. */
static grove_err http_data_commit(struct http_listener *l, struct MHD_Connection *conn,
                                  const struct http_data_request *req, struct grove_write *write,
                                  struct grove_hlc *hlc)
{
    write->idempotency_key = http_data_idempotency_key(conn);
    return grove_data_write_as(http_data_store(l), req->caller, write, hlc);
}

/* PATCH: the reply holds the row as it stands after the write (null if a
 * later delete has already hidden it). */
static grove_err http_data_patch(struct http_listener *l, struct MHD_Connection *conn,
                                 const struct http_data_request *req, const char *body, size_t len,
                                 struct grove_buf *out)
{
    struct grove_store *store = http_data_store(l);
    struct grove_write_msg *msg = NULL;
    struct grove_hlc hlc;
    char *row = NULL;
    grove_err err =
        grove_data_json_decode_row(grove_store_schema(store), req->table, req->pk, body, len, &msg);
    if (!err)
        err = http_data_commit(l, conn, req, &msg->write, &hlc);
    if (!err && (err = grove_data_get(store, req->table, req->pk, &row)) == GROVE_ENOTFOUND)
        err = GROVE_OK;
    if (!err)
        err = grove_data_json_encode_row(req->table, req->pk, row ? row : "null", &hlc, out);
    free(row);
    grove_msg_free(msg);
    return err;
}

static grove_err http_data_delete(struct http_listener *l, struct MHD_Connection *conn,
                                  const struct http_data_request *req, struct grove_buf *out)
{
    struct grove_row_write row = {.table = req->table, .pk = req->pk, .delete_row = true};
    struct grove_write write = {.rows = &row, .row_count = 1};
    struct grove_hlc hlc;
    grove_err err = http_data_commit(l, conn, req, &write, &hlc);
    return err ? err : grove_data_json_encode_row(req->table, req->pk, NULL, &hlc, out);
}

/* POST: {"table":..,"rows":N,"hlc":{HLC}} */
static grove_err http_data_write_many(struct http_listener *l, struct MHD_Connection *conn,
                                      const struct http_data_request *req, const char *body,
                                      size_t len, struct grove_buf *out)
{
    struct grove_write_msg *msg = NULL;
    struct grove_hlc hlc;
    char count[32];
    grove_err err = grove_data_json_decode_rows(grove_store_schema(http_data_store(l)), req->table,
                                                body, len, &msg);
    if (!err)
        err = http_data_commit(l, conn, req, &msg->write, &hlc);
    if (!err)
        err = grove_buf_append(out, "{\"table\":", 9);
    if (!err)
        err = grove_json_encode_string(req->table, strlen(req->table), out);
    if (!err) {
        int n = snprintf(count, sizeof count, ",\"rows\":%zu,\"hlc\":", msg->write.row_count);
        err = grove_buf_append(out, count, (size_t)n);
    }
    if (!err)
        err = grove_json_encode_hlc(&hlc, out);
    if (!err)
        err = grove_buf_append(out, "}", 1);
    grove_msg_free(msg);
    return err;
}

static grove_err http_data_list(struct http_listener *l, const struct http_data_request *req,
                                struct grove_buf *out)
{
    static const char *const names[] = {"limit", "after", "prefix"};
    char *values[3] = {0};
    struct grove_row_page *page = NULL;
    struct grove_list_query query = {.table = req->table};
    grove_err err = grove_http_data_query(req->query, names, values, 3);
    if (!err)
        err = http_data_limit(values[0], &query.limit);
    if (!err) {
        query.after = values[1];
        query.prefix = values[2];
        err = grove_data_list_as(http_data_store(l), req->caller, &query, &page);
    }
    if (!err)
        err = grove_data_json_encode_page(page, out);
    grove_msg_free(page);
    http_data_query_free(values, 3);
    return err;
}

/* ---- watch ----------------------------------------------------------------------- */

/* `event: row`, `id: CURSOR`, `data: {"pk","row"|null,"deleted"}`: one SSE
 * event per row event, a batch of them per wait. */
static grove_err http_data_watch_poll(void *self, struct grove_buf *out)
{
    struct grove_watch_batch *batch = NULL;
    struct grove_buf json = {0};
    grove_err err = grove_data_watch_next(self, 0, &batch); /* 0: no wait */
    if (err)
        return err;
    if (batch->count == 0)
        err = GROVE_ETIMEOUT;
    for (size_t i = 0; !err && i < batch->count; i++) {
        const struct grove_row_event *e = &batch->events[i];
        json.len = 0;
        err = grove_data_json_encode_event(e, &json);
        if (!err)
            err = grove_buf_append(out, "event: row\nid: ", 15);
        if (!err)
            err = grove_buf_append(out, e->cursor, strlen(e->cursor));
        if (!err)
            err = grove_buf_append(out, "\n", 1);
        if (!err)
            err = grove_http_sse_append_data(out, json.data, json.len);
        if (!err)
            err = grove_buf_append(out, "\n", 1);
    }
    grove_buf_free(&json);
    grove_msg_free(batch);
    return err;
}

static void http_data_watch_close(void *self)
{
    grove_data_watch_close(self);
}

/* Where the watch starts: Last-Event-ID (sent by a client reconnecting on
 * its own, so newer than the URL it reuses) wins over ?since=. */
static enum MHD_Result http_data_watch(struct http_listener *l, struct MHD_Connection *conn,
                                       const struct http_data_request *req)
{
    static const char *const names[] = {"prefix", "since", "snapshot"};
    char *values[3] = {0};
    struct grove_watch *watch = NULL;
    struct grove_watch_options opts = {.table = req->table};
    grove_err err = grove_http_data_query(req->query, names, values, 3);
    if (!err)
        err = http_data_bool("snapshot", values[2], &opts.snapshot);
    if (!err) {
        const char *last = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Last-Event-ID");
        opts.prefix = values[0];
        opts.since = last && *last ? last : values[1];
        err = grove_data_watch_open_as(http_data_store(l), req->caller, &opts, &watch);
    }
    http_data_query_free(values, 3);
    if (err)
        return grove_http_queue_grove_error(l, conn, err);
    /* The first block names where the watch goes on from (an id with no
     * data is no event, but EventSource keeps the id), so that a client cut
     * before its first event still resumes without a gap. */
    char first[GROVE_DATA_CURSOR_MAX + 16];
    int n = snprintf(first, sizeof first, ": ok\nid: %s\n\n", grove_data_watch_cursor(watch));
    struct grove_http_sse_source src = {
        .poll = http_data_watch_poll, .close = http_data_watch_close, .self = watch};
    grove_http_deadlines_enter(l->deadlines, conn, true);
    return grove_http_sse_respond(l, conn, &src, first, (size_t)n);
}

enum MHD_Result grove_http_data_serve(struct http_listener *l, struct MHD_Connection *conn,
                                      struct http_data_request *req, const char *body, size_t len)
{
    struct grove_buf out = {0};
    grove_err err;
    switch (req->op) {
    case DATA_TABLE:
        err =
            grove_data_json_encode_table(grove_store_schema(http_data_store(l)), req->table, &out);
        break;
    case DATA_GET_ROW:
        err = http_data_get(l, req, &out);
        break;
    case DATA_PATCH_ROW:
        err = http_data_patch(l, conn, req, body, len, &out);
        break;
    case DATA_DELETE_ROW:
        err = http_data_delete(l, conn, req, &out);
        break;
    case DATA_WRITE_MANY:
        err = http_data_write_many(l, conn, req, body, len, &out);
        break;
    case DATA_LIST:
        err = http_data_list(l, req, &out);
        break;
    default: /* DATA_WATCH: answered with the stream, or refused before it */
        return http_data_watch(l, conn, req);
    }
    if (err) {
        grove_buf_free(&out);
        return grove_http_queue_grove_error(l, conn, err);
    }
    return grove_http_queue_json(l, conn, MHD_HTTP_OK, &out);
}
