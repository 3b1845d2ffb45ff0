/* A pull's filter (docs/protocol.md §4, "filter"): matching a record, the
 * checks shared by every codec, and the copy a stream keeps. */
#include <stdlib.h>
#include <string.h>

#include "grove/model.h"
#include "grove/sys/error.h"

bool grove_pull_filter_active(const struct grove_pull_filter *f)
{
    return f && (f->pk_count || f->field_count || (f->pk_prefix && f->pk_prefix[0]));
}

static int filter_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A few entries (a client's documents or fields) are read through; a long
 * list is bisected once sorted, so a 1000-entry filter does not cost 1000
 * comparisons for every row a page passes over. */
static bool filter_has(const char *const *list, size_t count, bool sorted, const char *s)
{
    if (sorted)
        return bsearch(&s, list, count, sizeof *list, filter_cmp) != NULL;
    for (size_t i = 0; i < count; i++)
        if (list[i][0] == s[0] && strcmp(list[i], s) == 0)
            return true;
    return false;
}

/* Lists this short are read through: sorting them would cost more. */
#define FILTER_SORT_FROM 9

grove_err grove_pull_filter_sort(const struct grove_pull_filter *in, struct grove_pull_filter *out,
                                 const char ***storage)
{
    *out = *in;
    *storage = NULL;
    size_t n = in->pk_count + in->field_count;
    if (in->sorted || (in->pk_count < FILTER_SORT_FROM && in->field_count < FILTER_SORT_FROM))
        return GROVE_OK;
    const char **copy = malloc(n * sizeof *copy);
    if (!copy)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    if (in->pk_count)
        memcpy(copy, in->pks, in->pk_count * sizeof *copy);
    if (in->field_count)
        memcpy(copy + in->pk_count, in->fields, in->field_count * sizeof *copy);
    qsort(copy, in->pk_count, sizeof *copy, filter_cmp);
    qsort(copy + in->pk_count, in->field_count, sizeof *copy, filter_cmp);
    out->pks = copy;
    out->fields = copy + in->pk_count;
    out->sorted = true;
    *storage = copy;
    return GROVE_OK;
}

bool grove_pull_filter_match(const struct grove_pull_filter *f, const char *pk, const char *field,
                             bool tombstone)
{
    if (!f)
        return true;
    if (f->pk_prefix && f->pk_prefix[0] && strncmp(pk, f->pk_prefix, strlen(f->pk_prefix)) != 0)
        return false;
    if (f->pk_count && !filter_has(f->pks, f->pk_count, f->sorted, pk))
        return false;
    /* A row delete goes to a field-filtered client too: it hides the row. */
    return tombstone || !f->field_count || filter_has(f->fields, f->field_count, f->sorted, field);
}

static grove_err filter_check_string(const char *s, const char *where, size_t index)
{
    size_t n = strlen(s);
    if (n == 0 || n > GROVE_FILTER_STRING_MAX)
        return grove_error_set(GROVE_EINVAL, "filter.%s[%zu]: must be 1 to %d bytes (got %zu)",
                               where, index, GROVE_FILTER_STRING_MAX, n);
    return GROVE_OK;
}

static grove_err filter_check_list(const char *const *list, size_t count, const char *where)
{
    if (count > GROVE_FILTER_ENTRIES_MAX)
        return grove_error_set(GROVE_EINVAL, "filter.%s: more than %d entries", where,
                               GROVE_FILTER_ENTRIES_MAX);
    for (size_t i = 0; i < count; i++) {
        grove_err err = filter_check_string(list[i], where, i);
        if (err)
            return err;
    }
    return GROVE_OK;
}

grove_err grove_pull_filter_check(const struct grove_pull_filter *f)
{
    grove_err err = filter_check_list(f->pks, f->pk_count, "pk_filter");
    if (!err)
        err = filter_check_list(f->fields, f->field_count, "field_filter");
    if (!err && f->pk_prefix && strlen(f->pk_prefix) > GROVE_FILTER_STRING_MAX)
        err = grove_error_set(GROVE_EINVAL, "filter.pk_prefix: longer than %d bytes",
                              GROVE_FILTER_STRING_MAX);
    return err;
}

static grove_err filter_copy_list(void *msg, const char *const *in, size_t count, const char ***out)
{
    *out = NULL;
    if (!count)
        return GROVE_OK;
    const char **list = grove_msg_alloc(msg, count * sizeof *list);
    if (!list)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    for (size_t i = 0; i < count; i++)
        if (!(list[i] = grove_msg_strndup(msg, in[i], strlen(in[i]))))
            return grove_error_set(GROVE_ENOMEM, "out of memory");
    *out = list;
    return GROVE_OK;
}

grove_err grove_pull_filter_copy(void *msg, const struct grove_pull_filter *in,
                                 struct grove_pull_filter *out)
{
    memset(out, 0, sizeof *out);
    grove_err err = filter_copy_list(msg, in->pks, in->pk_count, &out->pks);
    if (!err)
        err = filter_copy_list(msg, in->fields, in->field_count, &out->fields);
    if (!err && in->pk_prefix && in->pk_prefix[0] &&
        !(out->pk_prefix = grove_msg_strndup(msg, in->pk_prefix, strlen(in->pk_prefix))))
        err = grove_error_set(GROVE_ENOMEM, "out of memory");
    if (err)
        return err;
    out->pk_count = in->pk_count;
    out->sorted = in->sorted;
    out->field_count = in->field_count;
    return GROVE_OK;
}
