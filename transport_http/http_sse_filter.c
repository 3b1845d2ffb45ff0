/* The pull filter on the SSE stream's query (docs/protocol.md §6): pk_filter
 * and field_filter once per entry, pk_prefix once; read by the listener,
 * written by the dialer. */
#include <curl/curl.h>
#include <string.h>

#include "grove/sys/error.h"
#include "http_client.h"

/* One entry more than a list may hold is kept, so the check refuses it. */
static bool sse_filter_add(struct grove_pull_request *req, const char ***list, size_t *count,
                           const char *value)
{
    if (*count > GROVE_FILTER_ENTRIES_MAX)
        return true;
    if (!*list && !(*list = grove_msg_alloc(req, (GROVE_FILTER_ENTRIES_MAX + 1) * sizeof **list)))
        return false;
    const char *v = value ? value : "";
    if (!((*list)[*count] = grove_msg_strndup(req, v, strlen(v))))
        return false;
    (*count)++;
    return true;
}

struct sse_filter_args {
    struct grove_pull_request *req;
    bool oom;
};

static enum MHD_Result sse_filter_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    (void)kind;
    struct sse_filter_args *a = cls;
    struct grove_pull_filter *f = &a->req->filter;
    bool ok = true;
    if (strcmp(key, "pk_filter") == 0)
        ok = sse_filter_add(a->req, &f->pks, &f->pk_count, value);
    else if (strcmp(key, "field_filter") == 0)
        ok = sse_filter_add(a->req, &f->fields, &f->field_count, value);
    a->oom = a->oom || !ok;
    return ok ? MHD_YES : MHD_NO;
}

grove_err grove_http_sse_filter_parse(struct MHD_Connection *conn, struct grove_pull_request *req)
{
    struct sse_filter_args a = {.req = req};
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, sse_filter_arg, &a);
    const char *prefix = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "pk_prefix");
    if (prefix && !(req->filter.pk_prefix = grove_msg_strndup(req, prefix, strlen(prefix))))
        a.oom = true;
    if (a.oom)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    return grove_pull_filter_check(&req->filter);
}

static grove_err sse_filter_param(CURL *e, const char *name, const char *value,
                                  struct grove_buf *url)
{
    char *esc = curl_easy_escape(e, value, 0);
    if (!esc)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    grove_err err = grove_buf_append(url, name, strlen(name));
    if (!err)
        err = grove_buf_append(url, esc, strlen(esc));
    curl_free(esc);
    return err;
}

grove_err grove_http_sse_filter_query(CURL *e, const struct grove_pull_filter *f,
                                      struct grove_buf *url)
{
    grove_err err = GROVE_OK;
    for (size_t i = 0; !err && i < f->pk_count; i++)
        err = sse_filter_param(e, "&pk_filter=", f->pks[i], url);
    for (size_t i = 0; !err && i < f->field_count; i++)
        err = sse_filter_param(e, "&field_filter=", f->fields[i], url);
    if (!err && f->pk_prefix && f->pk_prefix[0])
        err = sse_filter_param(e, "&pk_prefix=", f->pk_prefix, url);
    return err;
}
