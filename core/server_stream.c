/* Serving streams without a thread each (docs/design.md "Serving streams"):
 * grove_server_stream_poll never waits, so a transport can hold thousands of
 * streams on a few threads and poll them when a commit is announced; the
 * blocking grove_serve_stream_next of the transports that keep a thread per
 * stream (gRPC, nng, inproc) is built on it.
 *
 * When a commit lands, every subscriber at the head polls from the same
 * cursor. The first to come reads the batch from the store and writes it in
 * its format; the others find it in a small cache keyed by what decides the
 * bytes (format, tables, the caller's read scope, pull filter, batch bound,
 * limit, and the cursor and the previous batch's end, which the batch
 * names), and copy the same bytes. A subscriber behind the head polls at
 * its own cursor: a miss, read at its own pace, that holds nobody else up.
 * A batch cached for a cursor stays right for it: later commits have later
 * arrival stamps, so they only ever follow it.
 *
 * Subscribers that name different nodes (edge nodes do, each its own) share
 * a batch too: it is read without an echo filter, with the nodes its records
 * came from, and serves every subscriber that is none of them. The one it
 * would echo to (the node that pushed the commit) reads its own batch, with
 * its echoes left out. Only when a hook reads batches (it is told the node)
 * are the node and the caller's identity part of the key. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "grove/sys/error.h"
#include "grove/sys/transport.h"
#include "guard.h"
#include "server_stream.h"

/* Entries kept: distinct subscriptions at the head at once, plus room for
 * those catching up. Each holds one batch's bytes. */
#define STREAM_CACHE_ENTRIES 64

enum stream_entry_state { ENTRY_FREE, ENTRY_FILLING, ENTRY_READY };

struct stream_entry {
    enum stream_entry_state state;
    uint64_t used; /* the cache's clock at the last hit: the oldest goes first */
    /* The key: the stream's key string, its format and where it is. */
    grove_stream_format_fn format;
    struct grove_hlc cursor, sent;
    char *key;
    size_t key_len;
    /* The batch read there. */
    struct grove_hlc latest; /* its end: where the stream goes on from */
    size_t count;            /* its changes; 0: only echoes or filtered ones were passed */
    struct grove_buf bytes;  /* as format wrote it (empty when count is 0) */
    /* Read without an echo filter: the nodes its changes came from, each
     * followed by a NUL, and whether there were more than were kept. */
    bool unfiltered;
    struct grove_buf sources;
    bool sources_more;
};

struct grove_server_stream_cache {
    pthread_mutex_t lock;
    pthread_cond_t filled; /* an entry left ENTRY_FILLING */
    uint64_t clock;
    struct stream_entry entries[STREAM_CACHE_ENTRIES];
};

grove_err grove_server_stream_cache_new(struct grove_server_stream_cache **out)
{
    struct grove_server_stream_cache *c = calloc(1, sizeof *c);
    if (!c)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->filled, NULL);
    *out = c;
    return GROVE_OK;
}

static void stream_entry_clear(struct stream_entry *e)
{
    free(e->key);
    grove_buf_free(&e->bytes);
    grove_buf_free(&e->sources);
    memset(e, 0, sizeof *e);
}

/* Appends a string and its NUL (no piece holds a NUL: the key reads back
 * one way only). */
static grove_err stream_key_add(struct grove_buf *k, const char *tag, const char *text)
{
    grove_err err = grove_buf_append(k, tag, strlen(tag));
    if (!err)
        err = grove_buf_append(k, text ? text : "", (text ? strlen(text) : 0) + 1);
    return err;
}

static grove_err stream_key_list(struct grove_buf *k, const char *tag, const char *const *items,
                                 size_t count)
{
    char n[32];
    snprintf(n, sizeof n, "%zu", count);
    grove_err err = stream_key_add(k, tag, n);
    for (size_t i = 0; !err && i < count; i++)
        err = grove_buf_append(k, items[i], strlen(items[i]) + 1);
    return err;
}

/* s->key, built once. */
static grove_err stream_key(struct grove_server_stream *s)
{
    if (s->key)
        return GROVE_OK;
    const struct grove_pull_request *r = s->req;
    struct grove_buf k = {0};
    char num[64];
    snprintf(num, sizeof num, "%" PRIu32 ".%zu", r->limit, s->batch_bytes);
    grove_err err = stream_key_add(&k, "bounds=", num);
    if (!err && grove_server_stream_shares_echoes(s)) {
        /* Of the caller, a shared batch depends on its read scope only:
         * identities with equal ones (the nodes' echoes apart) share it. */
        const char *const *tables;
        size_t count;
        grove_caller_read_tables(r->caller, &tables, &count);
        err = stream_key_add(&k, "reads=", grove_caller_reads_every_table(r->caller) ? "*" : "");
        if (!err)
            err = stream_key_list(&k, "read-tables=", tables, count);
        if (!err)
            err = stream_key_add(&k, "read-prefix=", grove_caller_prefix(r->caller));
    } else {
        /* The node, its scopes and the node it is believed to be (core/guard.h). */
        err = stream_key_add(&k, "node=", r->node_id);
        snprintf(num, sizeof num, "%" PRIu64, grove_caller_serial(r->caller));
        if (!err)
            err = stream_key_add(&k, "access=", num);
        if (!err)
            err = stream_key_add(&k, "identity=", grove_caller_name(r->caller));
    }
    if (!err)
        err = stream_key_list(&k, "tables=", (const char *const *)r->tables, r->table_count);
    if (!err)
        err = stream_key_list(&k, "pks=", r->filter.pks, r->filter.pk_count);
    if (!err)
        err = stream_key_list(&k, "fields=", r->filter.fields, r->filter.field_count);
    if (!err)
        err = stream_key_add(&k, "prefix=", r->filter.pk_prefix);
    if (!err && !(s->key = grove_msg_alloc(s->req, k.len ? k.len : 1)))
        err = grove_error_set(GROVE_ENOMEM, "out of memory");
    if (!err) {
        memcpy(s->key, k.data, k.len);
        s->key_len = k.len;
    }
    grove_buf_free(&k);
    return err;
}

void grove_server_stream_cache_free(struct grove_server_stream_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < STREAM_CACHE_ENTRIES; i++)
        stream_entry_clear(&c->entries[i]);
    pthread_cond_destroy(&c->filled);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static bool stream_hlc_equal(const struct grove_hlc *a, const struct grove_hlc *b)
{
    return grove_hlc_compare(a, b) == 0;
}

static bool stream_entry_matches(const struct stream_entry *e, const struct grove_server_stream *s,
                                 grove_stream_format_fn format)
{
    /* The stamps first: they tell most entries apart. */
    return e->state != ENTRY_FREE && e->cursor.ts == s->cursor.ts && e->cursor.c == s->cursor.c &&
           e->format == format && e->key_len == s->key_len &&
           stream_hlc_equal(&e->cursor, &s->cursor) && stream_hlc_equal(&e->sent, &s->sent) &&
           memcmp(e->key, s->key, s->key_len) == 0;
}

/* Takes a slot for s's key (the oldest ready one when all are taken), or
 * NULL when every slot is being filled or memory is short: the caller then
 * reads without the cache. */
static struct stream_entry *stream_entry_claim(struct grove_server_stream_cache *c,
                                               const struct grove_server_stream *s,
                                               grove_stream_format_fn format)
{
    struct stream_entry *e = NULL;
    for (size_t i = 0; i < STREAM_CACHE_ENTRIES; i++) {
        struct stream_entry *x = &c->entries[i];
        if (x->state == ENTRY_FREE) {
            e = x;
            break;
        }
        if (x->state == ENTRY_READY && (!e || x->used < e->used))
            e = x;
    }
    if (!e)
        return NULL;
    char *key = malloc(s->key_len);
    if (!key)
        return NULL;
    stream_entry_clear(e);
    memcpy(key, s->key, s->key_len);
    e->state = ENTRY_FILLING;
    e->format = format;
    e->cursor = s->cursor;
    e->sent = s->sent;
    e->key = key;
    e->key_len = s->key_len;
    return e;
}

/* Reads the batch at s's cursor and writes it into e (not yet ready):
 * `unfiltered`, for every node (grove_server_stream_shares_echoes), or with
 * s's echoes left out. */
static grove_err stream_entry_fill(struct stream_entry *e, struct grove_server_stream *s,
                                   grove_stream_format_fn format, bool unfiltered)
{
    struct grove_pull_response *batch = NULL;
    struct grove_store_sources sources = {0};
    grove_err err = grove_server_stream_read(s, unfiltered ? &sources : NULL, &batch);
    if (err)
        return err;
    e->unfiltered = unfiltered;
    e->sources_more = sources.more;
    for (size_t i = 0; !err && i < sources.count; i++)
        err = grove_buf_append(&e->sources, sources.nodes[i], strlen(sources.nodes[i]) + 1);
    e->latest = batch->latest_hlc;
    e->count = batch->count;
    if (!err && batch->count) {
        /* What the cursor passed over since the last batch (echoes, hooks'
         * drops) is nothing the subscriber needs: the batch follows on from
         * the last one, so it sees no gap. */
        batch->since = s->sent;
        err = format(batch, &e->bytes);
    }
    grove_msg_free(batch);
    return err;
}

/* Whether e's batch is right for s: read with s's filter, or read for
 * every node and holding none of s's echoes. */
static bool stream_entry_serves(const struct stream_entry *e, const struct grove_server_stream *s)
{
    const char *echoes = e->unfiltered ? grove_server_stream_echoes_of(s) : NULL;
    if (!echoes)
        return true;
    if (e->sources_more)
        return false;
    for (size_t at = 0; at < e->sources.len; at += strlen(e->sources.data + at) + 1)
        if (strcmp(e->sources.data + at, echoes) == 0)
            return false;
    return true;
}

/* Moves s past the entry's batch and appends its bytes; true when it held
 * changes. */
static bool stream_take(struct grove_server_stream *s, const struct stream_entry *e,
                        struct grove_buf *out, grove_err *err)
{
    s->cursor = e->latest;
    *err = GROVE_OK;
    if (!e->count)
        return false;
    *err = grove_buf_append(out, e->bytes.data, e->bytes.len);
    if (!*err)
        s->sent = e->latest;
    return true;
}

/* One step at s's cursor: *had_changes when bytes were appended, *moved when
 * the cursor went on (over echoes only, when there were no changes). */
static grove_err stream_step(struct grove_server_stream *s, grove_stream_format_fn format,
                             struct grove_buf *out, bool *had_changes, bool *moved)
{
    struct grove_server_stream_cache *c = grove_server_stream_cache_of(s);
    struct grove_hlc before = s->cursor;
    bool unfiltered = grove_server_stream_shares_echoes(s), served = false;
    grove_err err = GROVE_OK;
    pthread_mutex_lock(&c->lock);
    for (;;) {
        struct stream_entry *e = NULL;
        for (size_t i = 0; i < STREAM_CACHE_ENTRIES && !e; i++)
            if (stream_entry_matches(&c->entries[i], s, format))
                e = &c->entries[i];
        if (e && e->state == ENTRY_FILLING) {
            pthread_cond_wait(&c->filled, &c->lock);
            continue; /* filled, or dropped after a failure: look again */
        }
        if (e && (served = stream_entry_serves(e, s))) {
            e->used = ++c->clock;
            *had_changes = stream_take(s, e, out, &err);
        }
        if (e)
            break;
        e = stream_entry_claim(c, s, format);
        pthread_mutex_unlock(&c->lock);
        struct stream_entry own = {0}, *filled = e ? e : &own;
        err = stream_entry_fill(filled, s, format, unfiltered);
        pthread_mutex_lock(&c->lock);
        if (!err && (served = stream_entry_serves(filled, s)))
            *had_changes = stream_take(s, filled, out, &err);
        if (e && !err) {
            e->state = ENTRY_READY;
            e->used = ++c->clock;
        } else if (e) {
            stream_entry_clear(e);
        }
        stream_entry_clear(&own);
        pthread_cond_broadcast(&c->filled);
        break;
    }
    pthread_mutex_unlock(&c->lock);
    if (!err && !served) {
        /* The shared batch holds this node's echoes: a batch of its own. */
        struct stream_entry own = {0};
        err = stream_entry_fill(&own, s, format, false);
        if (!err)
            *had_changes = stream_take(s, &own, out, &err);
        stream_entry_clear(&own);
    }
    *moved = !stream_hlc_equal(&before, &s->cursor);
    return err;
}

static grove_err stream_nothing_yet(void)
{
    return grove_error_set(GROVE_ETIMEOUT, "nothing committed after the cursor yet");
}

grove_err grove_server_stream_poll(struct grove_server_stream *s, grove_stream_format_fn format,
                                   struct grove_buf *out)
{
    size_t had = out->len;
    struct grove_store *store = grove_server_store(s->server);
    for (;;) {
        if (grove_server_stream_closing(s))
            return grove_error_set(GROVE_ESHUTDOWN, "server is shutting down");
        /* At the head (the usual case for a live subscriber) no read at all,
         * and no lock when no commit came since the last look: a commit's
         * fan-out polls every stream once more after its batch, and
         * thousands of them would queue on the store's lock. */
        uint64_t commits = grove_store_commits(store);
        if (s->idle && s->idle_commits == commits)
            return stream_nothing_yet();
        s->idle = false;
        struct grove_hlc latest;
        grove_store_latest(store, &latest);
        if (grove_hlc_compare(&latest, &s->cursor) <= 0 ||
            grove_hlc_compare(&latest, &s->checked) <= 0) {
            s->idle = true;
            s->idle_commits = commits;
            return stream_nothing_yet();
        }
        bool had_changes = false, moved = false;
        grove_err err = stream_key(s);
        if (!err)
            err = stream_step(s, format, out, &had_changes, &moved);
        if (err) {
            out->len = had;
            return err;
        }
        if (had_changes)
            return GROVE_OK;
        if (!moved) {
            /* Read after `latest` was taken: nothing of ours up to it. */
            s->checked = latest;
            s->idle = true;
            s->idle_commits = commits;
            return stream_nothing_yet();
        }
        /* only echoes or filtered changes: look again from the new cursor */
    }
}

/* ---- the codec exchange's streams (grove/sys/transport.h) ----------------------- */

grove_err grove_serve_stream_poll(struct grove_server_stream *stream,
                                  const struct grove_codec *codec, struct grove_buf *out)
{
    return grove_server_stream_poll(stream, codec->encode_stream_batch, out);
}

grove_err grove_serve_stream_next(struct grove_server_stream *stream,
                                  const struct grove_codec *codec, int timeout_ms,
                                  struct grove_buf *out)
{
    struct timespec now, until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    for (;;) {
        grove_err err = grove_serve_stream_poll(stream, codec, out);
        if (err != GROVE_ETIMEOUT)
            return err;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t left_ms =
            (int64_t)(until.tv_sec - now.tv_sec) * 1000 + (until.tv_nsec - now.tv_nsec) / 1000000;
        if (left_ms <= 0)
            return grove_error_set(GROVE_ETIMEOUT, "no change within %d ms", timeout_ms);
        /* Woken by the next commit after the cursor, never polls. */
        const struct grove_hlc *after = grove_hlc_compare(&stream->checked, &stream->cursor) > 0
                                            ? &stream->checked
                                            : &stream->cursor;
        err = grove_store_wait(grove_server_store(stream->server), after, (int)left_ms);
        if (err)
            return err;
    }
}
