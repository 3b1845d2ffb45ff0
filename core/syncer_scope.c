/* A peer's scope (grove_sync_scope, docs/operations.md "Peers that sync
 * part of the data"): the request it is kept in, what is left out of pages
 * from a peer that ignores the filter, and a fresh start of the cursors when
 * the scope changed since the store last synced with that peer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grove/log.h"
#include "grove/sys/error.h"
#include "syncer_internal.h"

/* The peer's scope as a request's tables and filter, in its own arena: the
 * syncer's tables unless the scope names some (declared ones). */
grove_err grove_syncer_scope_new(struct grove_syncer *s, const struct grove_sync_scope *scope,
                                 struct grove_pull_request **out)
{
    struct grove_pull_request *req;
    grove_err err = grove_pull_request_new(&req);
    if (err)
        return err;
    const char *const *tables = s->tables;
    size_t n = s->table_count;
    if (scope && scope->table_count) {
        tables = scope->tables;
        n = scope->table_count;
    }
    if (n && !(req->tables = grove_msg_alloc(req, n * sizeof *req->tables)))
        err = grove_error_set(GROVE_ENOMEM, "out of memory");
    for (size_t i = 0; !err && i < n; i++) {
        if (!grove_schema_has_table(grove_store_schema(s->store), tables[i]))
            err = grove_error_set(GROVE_EINVAL, "sync table \"%s\" is not declared", tables[i]);
        else if (!(req->tables[i] = grove_msg_strndup(req, tables[i], strlen(tables[i]))))
            err = grove_error_set(GROVE_ENOMEM, "out of memory");
    }
    req->table_count = n;
    const char *prefix = scope ? scope->pk_prefix : NULL;
    if (!err && prefix && prefix[0] &&
        !(req->filter.pk_prefix = grove_msg_strndup(req, prefix, strlen(prefix))))
        err = grove_error_set(GROVE_ENOMEM, "out of memory");
    if (!err)
        err = grove_pull_filter_check(&req->filter);
    if (err) {
        grove_msg_free(req);
        return err;
    }
    *out = req;
    return GROVE_OK;
}

/* A peer that does not know the filter (Grove's servers, an older groved)
 * or a stream that cannot filter (nng's pub/sub) sends rows outside the
 * peer's scope: they are left out here, *kept holding the rest (malloc'ed,
 * NULL when nothing is left out). */
grove_err grove_syncer_scope_keep(const struct syncer_peer *p, const struct grove_change **changes,
                                  size_t *count, struct grove_change **kept)
{
    const struct grove_pull_filter *f = grove_syncer_peer_filter(p);
    size_t i = 0, n = 0;
    while (i < *count && grove_pull_filter_match(f, (*changes)[i].pk, (*changes)[i].field,
                                                 (*changes)[i].tombstone))
        i++;
    if (i == *count)
        return GROVE_OK;
    if (!(*kept = malloc(*count * sizeof **kept)))
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    for (i = 0; i < *count; i++)
        if (grove_pull_filter_match(f, (*changes)[i].pk, (*changes)[i].field,
                                    (*changes)[i].tombstone))
            (*kept)[n++] = (*changes)[i];
    *changes = *kept;
    *count = n;
    return GROVE_OK;
}

/* The scope as the store records it: "" for everything, else a hash of its
 * tables and prefix (a record of fixed size whatever the prefix). */
static void scope_fingerprint(const struct syncer_peer *p, bool scoped_tables, char *out,
                              size_t size)
{
    const char *prefix = p->scope->filter.pk_prefix;
    out[0] = '\0';
    if (!scoped_tables && !(prefix && prefix[0]))
        return;
    uint64_t h = 14695981039346656037ull; /* FNV-1a */
    for (size_t i = 0; scoped_tables && i <= p->scope->table_count; i++) {
        const char *s = i < p->scope->table_count ? p->scope->tables[i] : "";
        for (const char *c = s;; c++) { /* the NUL too: "a","bc" is not "ab","c" */
            h = (h ^ (unsigned char)*c) * 1099511628211ull;
            if (!*c)
                break;
        }
    }
    for (const char *c = prefix ? prefix : ""; *c; c++)
        h = (h ^ (unsigned char)*c) * 1099511628211ull;
    snprintf(out, size, "%016llx", (unsigned long long)h);
}

/* The cursors passed over what was outside the old scope: with a wider one
 * those rows would never come or go. Both start again from zero (a page
 * merged twice changes nothing); the cursors are reset before the new scope
 * is recorded, so a crash in between only resets them again. */
grove_err grove_syncer_scope_settle(struct grove_syncer *s, struct syncer_peer *p)
{
    if (p->scope_settled)
        return GROVE_OK;
    size_t key_len = strlen(p->url) + 16;
    char *key = malloc(key_len), want[32], had[32];
    if (!key)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    snprintf(key, key_len, "syncer.scope %s", p->url);
    scope_fingerprint(p, p->scoped_tables, want, sizeof want);
    grove_err err = grove_store_setting_get(s->store, key, had, sizeof had);
    if (!err && strcmp(had, want) != 0) {
        struct grove_peer_cursors c;
        err = grove_store_cursors_get(s->store, p->url, &c);
        bool moved = !err && (!grove_hlc_is_zero(&c.pull) || c.push.ts || c.push.c);
        if (moved) {
            memset(&c.pull, 0, sizeof c.pull);
            c.push.ts = 0;
            c.push.c = 0;
            c.catching_up = false;
            err = grove_store_cursors_set(s->store, p->url, &c);
        }
        if (!err)
            err = grove_store_setting_set(s->store, key, want);
        if (!err && moved)
            grove_log_kv(GROVE_LOG_INFO, "peer scope changed", "peer=%s resync=true", p->url);
    }
    free(key);
    if (!err)
        p->scope_settled = true;
    return err;
}
