/* The client's front: picks the protocol by the URL's scheme, checks the
 * arguments once for both protocols, and prefixes the node's URL to every
 * error (the native status stays as the back end recorded it). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client_internal.h"

struct grove_client {
    const struct client_ops *ops;
    void *self;
    char *url; /* as given, for error messages */
};

static const struct {
    const char *scheme;
    const struct client_ops *ops;
} client_schemes[] = {
    {"http", &grove_client_http_ops},
    {"https", &grove_client_http_ops},
#ifdef GROVE_CLIENT_GRPC
    {"grpc", &grove_client_grpc_ops},
    {"grpcs", &grove_client_grpc_ops},
#endif
};

grove_err grove_client_open(struct grove_client **out, const char *url, const char *token)
{
    struct grove_url u;
    *out = NULL;
    if (!url || !*url)
        return grove_error_set(GROVE_EINVAL, "no node URL");
    grove_err err = grove_url_parse(url, &u);
    if (err)
        return grove_error_prefix(err, "%s: ", url);
    if (!u.host[0])
        return grove_error_set(GROVE_EINVAL, "%s: no host", url);
    const struct client_ops *ops = NULL;
    for (size_t i = 0; i < sizeof client_schemes / sizeof client_schemes[0]; i++)
        if (strcmp(u.scheme, client_schemes[i].scheme) == 0)
            ops = client_schemes[i].ops;
    if (!ops)
        return grove_error_set(GROVE_ENOTSUP, "%s: scheme \"%s\" is not http(s):// or grpc(s)://",
                               url, u.scheme);
    struct grove_client *c = calloc(1, sizeof *c);
    if (!c || !(c->url = strdup(url))) {
        free(c);
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    }
    c->ops = ops;
    if ((err = ops->open(&u, token && *token ? token : NULL, &c->self))) {
        grove_error_prefix(err, "%s: ", url);
        free(c->url);
        free(c);
        return err;
    }
    *out = c;
    return GROVE_OK;
}

void grove_client_close(struct grove_client *client)
{
    if (!client)
        return;
    client->ops->close(client->self);
    free(client->url);
    free(client);
}

static grove_err client_check_row(const char *table, const char *pk)
{
    if (!table || !*table)
        return grove_error_set(GROVE_EINVAL, "no table");
    if (!pk || !*pk)
        return grove_error_set(GROVE_EINVAL, "no pk");
    if (strlen(pk) > GROVE_DATA_PK_MAX)
        return grove_error_set(GROVE_EINVAL, "pk: longer than %d bytes", GROVE_DATA_PK_MAX);
    return GROVE_OK;
}

static grove_err client_check_fields(const struct grove_field_write *fields, size_t count)
{
    if (count == 0)
        return grove_error_set(GROVE_EINVAL, "no field to write");
    for (size_t i = 0; i < count; i++) {
        const struct grove_field_write *f = &fields[i];
        if (!f->field || !*f->field)
            return grove_error_set(GROVE_EINVAL, "fields[%zu]: no field name", i);
        switch (f->crdt) {
        case GROVE_CRDT_LWW:
            if (!f->value.ptr)
                return grove_error_set(GROVE_EINVAL, "%s: an LWW field takes a value", f->field);
            break;
        case GROVE_CRDT_COUNTER:
            break;
        case GROVE_CRDT_SET:
            if (f->add_count + f->remove_count == 0)
                return grove_error_set(GROVE_EINVAL, "%s: no element to add or remove", f->field);
            break;
        default:
            return grove_error_set(GROVE_EINVAL,
                                   "%s: the client needs the field's crdt (lww, counter, set)",
                                   f->field);
        }
    }
    return GROVE_OK;
}

/* The back end's error with the node's URL in front. */
static grove_err client_fail(const struct grove_client *c, grove_err err)
{
    return err ? grove_error_prefix(err, "%s: ", c->url) : err;
}

grove_err grove_client_write(struct grove_client *client, const char *table, const char *pk,
                             const struct grove_field_write *fields, size_t field_count,
                             const char *idempotency_key, char **row, struct grove_hlc *hlc)
{
    grove_err err;
    if (row)
        *row = NULL;
    if ((err = client_check_row(table, pk)) || (err = client_check_fields(fields, field_count)))
        return err;
    if (idempotency_key && strlen(idempotency_key) > GROVE_DATA_IDEMPOTENCY_MAX)
        return grove_error_set(GROVE_EINVAL, "idempotency key: longer than %d bytes",
                               GROVE_DATA_IDEMPOTENCY_MAX);
    struct grove_hlc stamp = {0};
    err = client->ops->write(client->self, table, pk, fields, field_count,
                             idempotency_key && *idempotency_key ? idempotency_key : NULL, row,
                             &stamp);
    if (!err && hlc)
        *hlc = stamp;
    return client_fail(client, err);
}

grove_err grove_client_delete(struct grove_client *client, const char *table, const char *pk,
                              struct grove_hlc *hlc)
{
    grove_err err = client_check_row(table, pk);
    if (err)
        return err;
    struct grove_hlc stamp = {0};
    err = client->ops->delete_row(client->self, table, pk, &stamp);
    if (!err && hlc)
        *hlc = stamp;
    return client_fail(client, err);
}

grove_err grove_client_get(struct grove_client *client, const char *table, const char *pk,
                           char **row)
{
    *row = NULL;
    grove_err err = client_check_row(table, pk);
    if (err)
        return err;
    return client_fail(client, client->ops->get(client->self, table, pk, row));
}

grove_err grove_client_list(struct grove_client *client, const struct grove_list_query *query,
                            struct grove_row_page **page)
{
    *page = NULL;
    if (!query->table || !*query->table)
        return grove_error_set(GROVE_EINVAL, "no table");
    if (query->limit > GROVE_DATA_LIST_MAX)
        return grove_error_set(GROVE_EINVAL, "limit: at most %d", GROVE_DATA_LIST_MAX);
    return client_fail(client, client->ops->list(client->self, query, page));
}

grove_err grove_client_watch(struct grove_client *client, const struct grove_watch_options *opts,
                             grove_client_event_fn fn, void *user, const atomic_bool *stop)
{
    if (!opts->table || !*opts->table)
        return grove_error_set(GROVE_EINVAL, "no table");
    if (opts->since && strlen(opts->since) >= GROVE_DATA_CURSOR_MAX)
        return grove_error_set(GROVE_EINVAL, "since: not a cursor (longer than %d bytes)",
                               GROVE_DATA_CURSOR_MAX - 1);
    static const atomic_bool never = false;
    grove_err err = client->ops->watch(client->self, opts, fn, user, stop ? stop : &never);
    return client_fail(client, err);
}

/* ---- what both back ends build their answers with ---- */

grove_err grove_client_strndup(const char *s, size_t n, char **out)
{
    *out = malloc(n + 1);
    if (!*out)
        return grove_error_set(GROVE_ENOMEM, "out of memory for %zu bytes", n);
    memcpy(*out, s, n);
    (*out)[n] = '\0';
    return GROVE_OK;
}

grove_err grove_client_page_start(struct client_page_builder *b)
{
    void *msg;
    memset(b, 0, sizeof *b);
    grove_err err = grove_msg_new(sizeof *b->page, &msg);
    if (!err)
        b->page = msg;
    return err;
}

grove_err grove_client_page_add(struct client_page_builder *b, const char *pk, size_t pk_len,
                                const char *row, size_t row_len)
{
    struct grove_row_page *page = b->page;
    if (page->count == b->cap) {
        size_t grown = b->cap ? b->cap * 2 : 64;
        struct grove_row_entry *fresh = grove_msg_alloc(page, grown * sizeof *fresh);
        if (!fresh)
            return grove_error_set(GROVE_ENOMEM, "out of memory for %zu rows", grown);
        if (page->count)
            memcpy(fresh, page->rows, page->count * sizeof *fresh);
        page->rows = fresh;
        b->cap = grown;
    }
    struct grove_row_entry *e = &page->rows[page->count];
    char *row_copy = grove_msg_strndup(page, row, row_len);
    e->pk = grove_msg_strndup(page, pk, pk_len);
    if (!e->pk || !row_copy)
        return grove_error_set(GROVE_ENOMEM, "out of memory for a row");
    e->row = (struct grove_slice){.ptr = row_copy, .len = row_len};
    page->count++;
    return GROVE_OK;
}

grove_err grove_client_page_next(struct client_page_builder *b, const char *next, size_t len)
{
    if (!(b->page->next = grove_msg_strndup(b->page, next, len)))
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    return GROVE_OK;
}

grove_err grove_client_page_finish(struct client_page_builder *b, grove_err err,
                                   struct grove_row_page **out)
{
    if (err) {
        grove_msg_free(b->page);
        b->page = NULL;
        return err;
    }
    *out = b->page;
    b->page = NULL;
    return GROVE_OK;
}

/* ---- the admin API ---- */

static grove_err client_admin_ops(const struct grove_client *c)
{
    if (c->ops->admin)
        return GROVE_OK;
    return grove_error_set(GROVE_ENOTSUP,
                           "%s: the admin API (status, sync, backup) is served over HTTP only: "
                           "use the node's http:// listener or its --admin-listen URL",
                           c->url);
}

static grove_err client_admin_json(struct grove_client *c, const char *method, const char *path,
                                   const char *peer, char **json)
{
    *json = NULL;
    grove_err err = client_admin_ops(c);
    if (err)
        return err;
    struct grove_buf answer = {0};
    err = client_fail(c, c->ops->admin(c->self, method, path, peer, NULL, &answer, NULL));
    if (err)
        grove_buf_free(&answer);
    else
        *json = (char *)answer.data;
    return err;
}

grove_err grove_client_status(struct grove_client *client, char **json)
{
    return client_admin_json(client, "GET", "/v1/status", NULL, json);
}

grove_err grove_client_sync(struct grove_client *client, const char *peer, char **json)
{
    return client_admin_json(client, "POST", "/v1/sync", peer && *peer ? peer : NULL, json);
}

grove_err grove_client_backup(struct grove_client *client, const char *file, int64_t *bytes)
{
    grove_err err = client_admin_ops(client);
    if (err)
        return err;
    if (!file || !*file)
        return grove_error_set(GROVE_EINVAL, "backup: no file given");
    int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    FILE *sink = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!sink) {
        err = grove_error_set(GROVE_EINVAL, "backup to %s: %s", file, strerror(errno));
        if (fd >= 0)
            close(fd);
        return err;
    }
    struct grove_buf answer = {0};
    int64_t written = 0;
    err = client->ops->admin(client->self, "POST", "/v1/backup", NULL, sink, &answer, &written);
    /* The copy is on disk before we say so. */
    if (fflush(sink) != 0 || fsync(fileno(sink)) != 0) {
        if (!err)
            err = grove_error_set(GROVE_ESTORE, "backup to %s: %s", file, strerror(errno));
    }
    fclose(sink);
    grove_buf_free(&answer);
    if (err) {
        unlink(file);
        return client_fail(client, err);
    }
    if (bytes)
        *bytes = written;
    return GROVE_OK;
}
