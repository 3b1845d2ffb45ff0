/* The peer setting's options (config_peer.h): split on white space, each
 * option key=value, every problem named. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "config_peer.h"
#include "grove/sys/error.h"

static char *peer_token(char **p)
{
    while (isspace((unsigned char)**p))
        (*p)++;
    if (!**p)
        return NULL;
    char *start = *p;
    while (**p && !isspace((unsigned char)**p))
        (*p)++;
    if (**p)
        *(*p)++ = '\0';
    return start;
}

/* "a,b" into scope->tables (room for every comma's name was made). */
static grove_err peer_tables(char *list, struct groved_peer_scope *scope)
{
    if (scope->table_count)
        return grove_error_set(GROVE_EINVAL, "tables= given twice");
    for (char *name = list, *next; name; name = next) {
        next = strchr(name, ',');
        if (next)
            *next++ = '\0';
        if (!*name)
            return grove_error_set(GROVE_EINVAL, "tables=: an empty table name");
        scope->tables[scope->table_count++] = name;
    }
    return GROVE_OK;
}

static grove_err peer_option(char *option, struct groved_peer_scope *scope)
{
    char *eq = strchr(option, '=');
    if (!eq)
        return grove_error_set(GROVE_EINVAL,
                               "expected key=value after the URL, got \"%.64s\" (keys: tables, "
                               "prefix)",
                               option);
    *eq = '\0';
    char *value = eq + 1;
    if (!*value)
        return grove_error_set(GROVE_EINVAL, "%.32s=: missing value", option);
    if (strcmp(option, "tables") == 0)
        return peer_tables(value, scope);
    if (strcmp(option, "prefix") != 0)
        return grove_error_set(GROVE_EINVAL, "unknown peer option \"%.32s\" (keys: tables, prefix)",
                               option);
    if (scope->prefix)
        return grove_error_set(GROVE_EINVAL, "prefix= given twice");
    if (strlen(value) > GROVE_FILTER_STRING_MAX)
        return grove_error_set(GROVE_EINVAL, "prefix=: longer than %d bytes",
                               GROVE_FILTER_STRING_MAX);
    scope->prefix = value;
    return GROVE_OK;
}

grove_err groved_peer_parse(const char *value, const char **url, struct groved_peer_scope *scope,
                            char **block)
{
    size_t n = strlen(value) + 1, names = 1;
    for (const char *c = value; *c; c++)
        names += *c == ',';
    memset(scope, 0, sizeof *scope);
    /* The table pointers, the copy cut into tokens, and the spec as given. */
    char *b = *block = calloc(1, names * sizeof(char *) + 2 * n);
    if (!b)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    scope->tables = (const char **)(void *)b;
    char *text = b + names * sizeof(char *);
    memcpy(text, value, n);
    scope->spec = memcpy(text + n, value, n);
    char *p = text;
    *url = peer_token(&p);
    if (!*url)
        return grove_error_set(GROVE_EINVAL, "missing URL");
    grove_err err = GROVE_OK;
    for (char *option; !err && (option = peer_token(&p));)
        err = peer_option(option, scope);
    return err;
}

struct grove_sync_scope groved_peer_sync_scope(const struct groved_peer_scope *scope)
{
    return (struct grove_sync_scope){
        .tables = scope->tables, .table_count = scope->table_count, .pk_prefix = scope->prefix};
}
