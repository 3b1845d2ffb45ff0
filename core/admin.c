/* The admin API's answers (grove/admin.h), built from public getters of the
 * node's parts. */
#include "grove/admin.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "grove/json.h"
#include "grove/schema.h"
#include "grove/sys/error.h"

struct grove_admin {
    struct grove_node *node;
    char *version;
    char **listeners;
    size_t listener_count;
    char *admin_listener;
    int64_t started_us; /* monotonic */
    /* Held (read) by every call that uses node->syncer, (write) to swap it. */
    pthread_rwlock_t syncer_lock;
};

static int64_t admin_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static char *admin_strdup(const char *s, bool *failed)
{
    char *copy = s ? strdup(s) : NULL;
    if (s && !copy)
        *failed = true;
    return copy;
}

grove_err grove_admin_new(struct grove_admin **out, struct grove_node *node,
                          const struct grove_admin_options *opts)
{
    *out = NULL;
    struct grove_admin *a = calloc(1, sizeof *a);
    if (!a)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    bool failed = false;
    a->node = node;
    a->started_us = admin_now_us();
    pthread_rwlock_init(&a->syncer_lock, NULL);
    a->version = admin_strdup(opts->version ? opts->version : "", &failed);
    a->admin_listener = admin_strdup(opts->admin_listener, &failed);
    if (opts->listener_count && !(a->listeners = calloc(opts->listener_count, sizeof(char *))))
        failed = true;
    for (size_t i = 0; !failed && i < opts->listener_count; i++)
        a->listeners[a->listener_count++] = admin_strdup(opts->listeners[i], &failed);
    if (failed) {
        grove_admin_free(a);
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    }
    *out = a;
    return GROVE_OK;
}

void grove_admin_free(struct grove_admin *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->listener_count; i++)
        free(a->listeners[i]);
    free(a->listeners);
    free(a->admin_listener);
    free(a->version);
    pthread_rwlock_destroy(&a->syncer_lock);
    free(a);
}

struct grove_syncer *grove_admin_swap_syncer(struct grove_admin *a, struct grove_syncer *syncer)
{
    pthread_rwlock_wrlock(&a->syncer_lock);
    struct grove_syncer *old = a->node->syncer;
    a->node->syncer = syncer;
    pthread_rwlock_unlock(&a->syncer_lock);
    return old;
}

/* ---- JSON building: the first failure sticks, later appends do nothing ---- */

struct admin_json {
    struct grove_buf *out;
    grove_err err;
};

static void aj_raw(struct admin_json *j, const char *s)
{
    if (!j->err)
        j->err = grove_buf_append(j->out, s, strlen(s));
}

static void aj_printf(struct admin_json *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void aj_printf(struct admin_json *j, const char *fmt, ...)
{
    char text[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    aj_raw(j, text);
}

static void aj_string(struct admin_json *j, const char *s)
{
    if (!s)
        aj_raw(j, "null");
    else if (!j->err)
        j->err = grove_json_encode_string(s, strlen(s), j->out);
}

/* ,"key": (no comma before the first member of an object: first) */
static void aj_key(struct admin_json *j, const char *key, bool first)
{
    aj_raw(j, first ? "\"" : ",\"");
    aj_raw(j, key);
    aj_raw(j, "\":");
}

static void aj_time_ms(struct admin_json *j, int64_t ms)
{
    if (ms <= 0) {
        aj_raw(j, "null");
        return;
    }
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    aj_printf(j, "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"", tm.tm_year + 1900, tm.tm_mon + 1,
              tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static void admin_tables(struct admin_json *j, const struct grove_schema *schema)
{
    aj_raw(j, "[");
    for (size_t t = 0; schema && t < grove_schema_table_count(schema); t++) {
        const char *name = grove_schema_table_name(schema, t);
        aj_raw(j, t ? ",{\"name\":" : "{\"name\":");
        aj_string(j, name);
        aj_raw(j, ",\"fields\":[");
        enum grove_crdt crdt;
        const char *field;
        for (size_t f = 0; (field = grove_schema_field_at(schema, name, f, &crdt)); f++) {
            aj_raw(j, f ? ",{\"name\":" : "{\"name\":");
            aj_string(j, field);
            aj_raw(j, ",\"type\":");
            aj_string(j, grove_crdt_name(crdt));
            aj_raw(j, "}");
        }
        aj_raw(j, "]}");
    }
    aj_raw(j, "]");
}

/* The scheme of a URL ("http"), or "" when it has none. */
static void admin_transport(struct admin_json *j, const char *url)
{
    const char *sep = strstr(url, "://");
    char scheme[16] = "";
    if (sep && (size_t)(sep - url) < sizeof scheme)
        snprintf(scheme, sizeof scheme, "%.*s", (int)(sep - url), url);
    aj_string(j, scheme);
}

static void admin_peer(struct admin_json *j, const struct grove_peer_status *p)
{
    aj_key(j, "url", true);
    aj_string(j, p->url);
    aj_key(j, "node_id", false);
    aj_string(j, p->node_id[0] ? p->node_id : NULL);
    aj_key(j, "transport", false);
    admin_transport(j, p->url);
    aj_key(j, "up", false);
    aj_raw(j, p->up ? "true" : "false");
    aj_key(j, "tried", false);
    aj_raw(j, p->tried ? "true" : "false");
    aj_key(j, "last_success", false);
    aj_time_ms(j, p->last_success_ms);
    aj_key(j, "last_error_at", false);
    aj_time_ms(j, p->last_error_ms);
    aj_key(j, "last_error", false);
    aj_string(j, p->last_error_ms ? p->last_error : NULL);
    aj_key(j, "pending", false);
    aj_printf(j, "%" PRIu64, p->pending);
    aj_key(j, "pending_more", false);
    aj_raw(j, p->pending_more ? "true" : "false");
    aj_key(j, "stream", false);
    aj_string(j, grove_stream_state_name(p->stream));
    /* What is synced with it (docs/operations.md, "Peers that sync part of
     * the data"): null for every table, every pk. */
    aj_key(j, "tables", false);
    if (!p->table_count)
        aj_raw(j, "null");
    for (size_t i = 0; i < p->table_count; i++) {
        aj_raw(j, i ? "," : "[");
        aj_string(j, p->tables[i]);
    }
    if (p->table_count)
        aj_raw(j, "]");
    aj_key(j, "pk_prefix", false);
    aj_string(j, p->pk_prefix);
}

grove_err grove_admin_status(struct grove_admin *a, struct grove_buf *out)
{
    struct grove_node *node = a->node;
    if (!node->store)
        return grove_error_set(GROVE_EUNAVAIL, "the node is not open");
    struct admin_json j = {.out = out};
    char restored[40] = "";
    bool was_restored = grove_store_restored(node->store, restored, sizeof restored);
    aj_raw(&j, "{");
    aj_key(&j, "node_id", true);
    aj_string(&j, grove_store_node_id(node->store));
    aj_key(&j, "version", false);
    aj_string(&j, a->version);
    aj_key(&j, "uptime_s", false);
    aj_printf(&j, "%.1f", (double)(admin_now_us() - a->started_us) / 1e6);
    aj_key(&j, "ready", false);
    aj_raw(&j, node->server && grove_server_ready(node->server) ? "true" : "false");
    aj_key(&j, "restored_from_backup", false);
    aj_string(&j, was_restored ? restored : NULL);
    aj_key(&j, "tables", false);
    admin_tables(&j, grove_store_schema(node->store));
    aj_key(&j, "listeners", false);
    aj_raw(&j, "[");
    for (size_t i = 0; i < a->listener_count; i++) {
        aj_raw(&j, i ? "," : "");
        aj_string(&j, a->listeners[i]);
    }
    aj_raw(&j, "]");
    aj_key(&j, "admin_listener", false);
    aj_string(&j, a->admin_listener);
    aj_key(&j, "peers", false);
    aj_raw(&j, "[");
    pthread_rwlock_rdlock(&a->syncer_lock);
    size_t peers = node->syncer ? grove_syncer_peer_count(node->syncer) : 0;
    grove_err err = GROVE_OK;
    for (size_t i = 0; !j.err && !err && i < peers; i++) {
        struct grove_peer_status p;
        err = grove_syncer_peer_status(node->syncer, i, &p);
        if (err)
            break;
        aj_raw(&j, i ? ",{" : "{");
        admin_peer(&j, &p); /* p.url is the syncer's: used before the unlock */
        aj_raw(&j, "}");
    }
    pthread_rwlock_unlock(&a->syncer_lock);
    aj_raw(&j, "]}");
    return err ? err : j.err;
}

static void admin_report(struct admin_json *j, const struct grove_sync_report *r, bool first)
{
    aj_raw(j, first ? "{" : ",{");
    aj_key(j, "url", true);
    aj_string(j, r->peer);
    aj_key(j, "pulled", false);
    aj_printf(j, "%" PRIu64, r->pulled);
    aj_key(j, "pushed", false);
    aj_printf(j, "%" PRIu64, r->pushed);
    aj_key(j, "merged", false);
    aj_printf(j, "%" PRIu64, r->merged);
    aj_key(j, "conflicts", false);
    aj_printf(j, "%" PRIu64, r->conflicts);
    aj_key(j, "error", false);
    aj_string(j, r->err ? grove_err_name(r->err) : NULL);
    aj_key(j, "message", false);
    aj_string(j, r->err ? r->error : NULL);
    aj_key(j, "duration_ms", false);
    aj_printf(j, "%.1f", (double)r->duration_us / 1000.0);
    aj_raw(j, "}");
}

static grove_err admin_sync_locked(struct grove_admin *a, const char *peer, struct grove_buf *out)
{
    struct grove_syncer *syncer = a->node->syncer;
    size_t count = syncer ? grove_syncer_peer_count(syncer) : 0;
    size_t first = 0, last = count;
    if (peer) {
        long i = syncer ? grove_syncer_peer_find(syncer, peer) : -1;
        if (i < 0)
            return grove_error_set(GROVE_ENOTFOUND, "no peer %s", peer);
        first = (size_t)i;
        last = first + 1;
    }
    struct admin_json j = {.out = out};
    aj_raw(&j, "{\"peers\":[");
    for (size_t i = first; !j.err && i < last; i++) {
        struct grove_sync_report r;
        grove_err err = grove_syncer_sync_peer(syncer, i, &r);
        if (err)
            return err;
        admin_report(&j, &r, i == first);
    }
    aj_raw(&j, "]}");
    return j.err;
}

grove_err grove_admin_sync(struct grove_admin *a, const char *peer, struct grove_buf *out)
{
    pthread_rwlock_rdlock(&a->syncer_lock);
    grove_err err = admin_sync_locked(a, peer, out);
    pthread_rwlock_unlock(&a->syncer_lock);
    return err;
}

grove_err grove_admin_backup(struct grove_admin *a, const char *path, int64_t *bytes)
{
    if (!a->node->store)
        return grove_error_set(GROVE_EUNAVAIL, "the node is not open");
    return grove_store_backup(a->node->store, path, bytes);
}
