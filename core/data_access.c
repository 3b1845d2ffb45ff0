/* The Data API for an admitted caller (grove/data.h, "as a caller"): the
 * same calls, inside the caller's read and write scopes (docs/operations.md,
 * "Identities"), whichever transport serves them. */
#include <stdlib.h>
#include <string.h>

#include "grove/data.h"
#include "grove/sys/error.h"
#include "guard.h"

static grove_err data_access_row(const struct grove_caller *caller, const char *table,
                                 const char *pk, bool write)
{
    grove_err err = grove_caller_check_table(caller, table, write);
    if (!err && !grove_caller_may(caller, table, pk, write))
        err = grove_error_set(GROVE_EFORBIDDEN, "identity %s may not %s %s/%s",
                              grove_caller_name(caller), write ? "write" : "read", table, pk);
    return err;
}

/* The pk prefix a list or a watch of `asked` reads inside the caller's
 * prefix: the narrower of the two, GROVE_EFORBIDDEN when they are apart. */
static grove_err data_access_prefix(const struct grove_caller *caller, const char *table,
                                    const char *asked, const char **out)
{
    const char *own = grove_caller_prefix(caller);
    grove_err err = grove_caller_check_table(caller, table, false);
    *out = asked;
    if (err || !own)
        return err;
    size_t own_len = strlen(own), asked_len = asked ? strlen(asked) : 0;
    if (asked_len >= own_len && strncmp(asked, own, own_len) == 0)
        return GROVE_OK;
    if (asked_len < own_len && (asked_len == 0 || strncmp(own, asked, asked_len) == 0)) {
        *out = own;
        return GROVE_OK;
    }
    return grove_error_set(GROVE_EFORBIDDEN, "identity %s may not read %s rows under \"%s\"",
                           grove_caller_name(caller), table, asked);
}

grove_err grove_data_write_as(struct grove_store *store, const struct grove_caller *caller,
                              const struct grove_write *write, struct grove_hlc *hlc)
{
    for (size_t i = 0; i < write->row_count; i++) {
        grove_err err = data_access_row(caller, write->rows[i].table, write->rows[i].pk, true);
        if (err)
            return grove_error_prefix(err, "rows[%zu]: ", i);
    }
    const char *node = grove_caller_client_node(caller);
    if (!node)
        return grove_data_write(store, write, hlc);
    struct grove_write as = *write;
    as.origin = node;
    return grove_data_write(store, &as, hlc);
}

grove_err grove_data_get_as(struct grove_store *store, const struct grove_caller *caller,
                            const char *table, const char *pk, char **row)
{
    *row = NULL;
    grove_err err = data_access_row(caller, table, pk, false);
    return err ? err : grove_data_get(store, table, pk, row);
}

grove_err grove_data_list_as(struct grove_store *store, const struct grove_caller *caller,
                             const struct grove_list_query *query, struct grove_row_page **page)
{
    *page = NULL;
    struct grove_list_query q = *query;
    grove_err err = data_access_prefix(caller, query->table, query->prefix, &q.prefix);
    return err ? err : grove_data_list(store, &q, page);
}

grove_err grove_data_watch_open_as(struct grove_store *store, const struct grove_caller *caller,
                                   const struct grove_watch_options *opts, struct grove_watch **out)
{
    *out = NULL;
    struct grove_watch_options o = *opts;
    grove_err err = data_access_prefix(caller, opts->table, opts->prefix, &o.prefix);
    return err ? err : grove_data_watch_open(store, &o, out);
}
