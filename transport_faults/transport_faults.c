/* The fault shim: a dialer that wraps another transport's dialer and injects
 * seeded faults (see transport_faults.h). Only the public transport API is
 * used, so it wraps any transport the registry knows. */
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "grove/sys/transport.h"
#include "grove/transport_faults.h"
#include "grove/sys/error.h"

/* One link's settings, random state and counters, kept for the whole process
 * so that a redial (node restart) continues the same sequence. */
struct faults_link {
    struct faults_link *next;
    char *url;
    struct grove_faults cfg;
    uint64_t rng;
    struct grove_fault_stats stats;
    uint64_t calls_since_set; /* for fail_after */
};

static pthread_mutex_t faults_lock = PTHREAD_MUTEX_INITIALIZER;
static struct faults_link *faults_links;
static struct grove_faults faults_default;

/* An open dialer: the inner peer plus the link it draws from. */
struct faults_conn {
    struct grove_peer *inner;
    char *url; /* the full fault+ url: the link key */
};

static uint64_t faults_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static uint64_t faults_seed_rng(const char *url, uint64_t seed)
{
    uint64_t s = seed ^ faults_hash(url);
    return s ? s : 0x9e3779b97f4a7c15ULL;
}

/* splitmix64: tiny, good enough, and identical on every platform. */
static uint64_t faults_next(struct faults_link *link)
{
    uint64_t z = (link->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* True with probability p. Always draws, so a link's sequence does not depend
 * on which probabilities are zero. */
static bool faults_chance(struct faults_link *link, double p)
{
    double r = (double)(faults_next(link) >> 11) / (double)(1ULL << 53);
    return r < p;
}

/* The link for url, created with the default settings. Caller holds the lock. */
static struct faults_link *faults_link_get(const char *url)
{
    for (struct faults_link *l = faults_links; l; l = l->next)
        if (strcmp(l->url, url) == 0)
            return l;
    struct faults_link *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->url = strdup(url);
    if (!l->url) {
        free(l);
        return NULL;
    }
    l->cfg = faults_default;
    l->rng = faults_seed_rng(url, l->cfg.seed);
    l->next = faults_links;
    faults_links = l;
    return l;
}

grove_err grove_faults_set(const char *url, const struct grove_faults *faults)
{
    grove_err err = GROVE_OK;
    pthread_mutex_lock(&faults_lock);
    if (!url) {
        faults_default = *faults;
        for (struct faults_link *l = faults_links; l; l = l->next) {
            l->cfg = *faults;
            l->rng = faults_seed_rng(l->url, faults->seed);
            l->calls_since_set = 0;
        }
        goto done;
    }
    struct faults_link *l = faults_link_get(url);
    if (!l) {
        err = grove_error_set(GROVE_ENOMEM, "fault shim: out of memory");
        goto done;
    }
    l->cfg = *faults;
    l->rng = faults_seed_rng(url, faults->seed);
    l->calls_since_set = 0;
done:
    pthread_mutex_unlock(&faults_lock);
    return err;
}

grove_err grove_faults_partition(const char *url, bool on)
{
    grove_err err = GROVE_OK;
    pthread_mutex_lock(&faults_lock);
    if (!url) {
        faults_default.partition = on;
        for (struct faults_link *l = faults_links; l; l = l->next)
            l->cfg.partition = on;
        goto done;
    }
    struct faults_link *l = faults_link_get(url);
    if (!l) {
        err = grove_error_set(GROVE_ENOMEM, "fault shim: out of memory");
        goto done;
    }
    l->cfg.partition = on;
done:
    pthread_mutex_unlock(&faults_lock);
    return err;
}

static void faults_stats_add(struct grove_fault_stats *to, const struct grove_fault_stats *s)
{
    to->calls += s->calls;
    to->drops += s->drops;
    to->lost_replies += s->lost_replies;
    to->duplicates += s->duplicates;
    to->delays += s->delays;
    to->partitioned += s->partitioned;
    to->batches += s->batches;
    to->stream_drops += s->stream_drops;
    to->stream_dups += s->stream_dups;
    to->stream_reorders += s->stream_reorders;
}

void grove_faults_stats(const char *url, struct grove_fault_stats *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&faults_lock);
    for (struct faults_link *l = faults_links; l; l = l->next)
        if (!url || strcmp(l->url, url) == 0)
            faults_stats_add(out, &l->stats);
    pthread_mutex_unlock(&faults_lock);
}

void grove_faults_reset(void)
{
    pthread_mutex_lock(&faults_lock);
    while (faults_links) {
        struct faults_link *l = faults_links;
        faults_links = l->next;
        free(l->url);
        free(l);
    }
    memset(&faults_default, 0, sizeof faults_default);
    pthread_mutex_unlock(&faults_lock);
}

/* The decisions for one call, drawn together under the lock so that
 * concurrent calls on one link still see a seeded sequence. */
struct faults_plan {
    bool partition;
    bool drop;
    bool lost_reply;
    bool duplicate;
    int delay_ms;
};

static grove_err faults_plan(const char *url, struct faults_plan *plan)
{
    memset(plan, 0, sizeof *plan);
    pthread_mutex_lock(&faults_lock);
    struct faults_link *l = faults_link_get(url);
    if (!l) {
        pthread_mutex_unlock(&faults_lock);
        return grove_error_set(GROVE_ENOMEM, "fault shim: out of memory");
    }
    l->stats.calls++;
    l->calls_since_set++;
    plan->partition =
        l->cfg.partition || (l->cfg.fail_after && l->calls_since_set > l->cfg.fail_after);
    plan->drop = faults_chance(l, l->cfg.drop);
    plan->lost_reply = faults_chance(l, l->cfg.lost_reply);
    plan->duplicate = faults_chance(l, l->cfg.duplicate);
    bool delay = faults_chance(l, l->cfg.delay);
    int max = l->cfg.max_delay_ms > 0 ? l->cfg.max_delay_ms : 3;
    int ms = 1 + (int)(faults_next(l) % (uint64_t)max);
    if (plan->partition) {
        l->stats.partitioned++;
    } else if (plan->drop) {
        l->stats.drops++;
    } else {
        if (delay) {
            plan->delay_ms = ms;
            l->stats.delays++;
        }
    }
    pthread_mutex_unlock(&faults_lock);
    return GROVE_OK;
}

/* Counts a fault that the call actually injected (lost reply, duplicate). */
static void faults_count(const char *url, size_t offset)
{
    pthread_mutex_lock(&faults_lock);
    struct faults_link *l = faults_link_get(url);
    if (l)
        (*(uint64_t *)((char *)&l->stats + offset))++;
    pthread_mutex_unlock(&faults_lock);
}

static void faults_sleep(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Applies the "before the call" part of a plan; non-zero means the call
 * must fail without reaching the peer. */
static grove_err faults_before(const struct faults_conn *c, const struct faults_plan *plan)
{
    if (plan->partition)
        return grove_error_set(GROVE_EUNAVAIL, "fault shim: %s is partitioned", c->url);
    if (plan->drop)
        return grove_error_set(GROVE_EUNAVAIL, "fault shim: call to %s dropped", c->url);
    if (plan->delay_ms > 0)
        faults_sleep(plan->delay_ms);
    return GROVE_OK;
}

static grove_err faults_open(const struct grove_url *url, const struct grove_dial_options *opts,
                             const struct grove_codec **codec, void **self_out)
{
    *self_out = NULL;
    struct faults_conn *c = calloc(1, sizeof *c);
    /* The inner URL: after "fault+", without the #label. */
    const char *inner = url->text + strlen(GROVE_FAULTS_PREFIX);
    char *inner_url = strndup(inner, strcspn(inner, "#"));
    grove_err err;
    if (!c || !inner_url || !(c->url = strdup(url->text))) {
        err = grove_error_set(GROVE_ENOMEM, "fault shim: out of memory");
        goto fail;
    }
    err = grove_peer_open(&c->inner, inner_url, opts);
    if (err)
        goto fail;
    free(inner_url);
    *codec = grove_peer_codec(c->inner);
    *self_out = c;
    return GROVE_OK;
fail:
    if (c)
        free(c->url);
    free(c);
    free(inner_url);
    return err;
}

/* Plans this call's faults and applies those that strike before it is sent
 * (drop, partition, delay). */
static grove_err faults_enter(struct faults_conn *c, struct faults_plan *plan)
{
    grove_err err = faults_plan(c->url, plan);
    return err ? err : faults_before(c, plan);
}

/* The server applied the call but its answer (released here) never arrives. */
static grove_err faults_lose_reply(struct faults_conn *c, struct grove_reply *reply)
{
    grove_reply_release(reply);
    faults_count(c->url, offsetof(struct grove_fault_stats, lost_replies));
    return grove_error_set(GROVE_EUNAVAIL, "fault shim: reply from %s lost", c->url);
}

static grove_err faults_call(void *self, enum grove_call_kind kind, const struct grove_buf *request,
                             struct grove_reply *reply)
{
    struct faults_conn *c = self;
    struct faults_plan plan;
    grove_err err = faults_enter(c, &plan);
    if (!err)
        err = grove_peer_call(c->inner, kind, request, reply);
    if (!err && kind == GROVE_CALL_PUSH && plan.duplicate) {
        /* The second copy is what a retrying network would deliver; the
         * caller hears the first answer, as from a network that duplicated
         * the request after answering it. */
        struct grove_reply again;
        faults_count(c->url, offsetof(struct grove_fault_stats, duplicates));
        err = grove_peer_call(c->inner, kind, request, &again);
        grove_reply_release(&again);
        if (err)
            grove_reply_release(reply);
    }
    if (!err && plan.lost_reply)
        err = faults_lose_reply(c, reply);
    return err;
}

/* A deep copy of a batch, so it can be held back past the callback that
 * lent it to us. */
static grove_err faults_copy_batch(const struct grove_pull_response *b,
                                   struct grove_pull_response **out)
{
    struct grove_pull_response *r = NULL;
    size_t cap = 0;
    grove_err err = grove_pull_response_new(&r);
    if (err)
        goto fail;
    err = grove_msg_reserve_changes(r, &r->changes, &cap, b->count ? b->count : 1);
    if (err)
        goto fail;
    r->since = b->since;
    r->latest_hlc = b->latest_hlc;
    r->has_more = b->has_more;
    r->count = b->count;
    for (size_t i = 0; i < b->count; i++) {
        const struct grove_change *s = &b->changes[i];
        struct grove_change *d = &r->changes[i];
        *d = *s;
        d->table = s->table ? grove_msg_strndup(r, s->table, strlen(s->table)) : NULL;
        d->pk = s->pk ? grove_msg_strndup(r, s->pk, strlen(s->pk)) : NULL;
        d->field = s->field ? grove_msg_strndup(r, s->field, strlen(s->field)) : NULL;
        d->node_id = s->node_id ? grove_msg_strndup(r, s->node_id, strlen(s->node_id)) : NULL;
        if (s->value.ptr) {
            d->value.ptr = grove_msg_strndup(r, s->value.ptr, s->value.len);
            if (!d->value.ptr)
                goto nomem;
        }
        if ((s->table && !d->table) || (s->pk && !d->pk) || (s->field && !d->field) ||
            (s->node_id && !d->node_id))
            goto nomem;
        d->elements = NULL;
        if (s->element_count) {
            d->elements = grove_msg_alloc(r, s->element_count * sizeof *d->elements);
            if (!d->elements)
                goto nomem;
            for (size_t e = 0; e < s->element_count; e++) {
                d->elements[e].len = s->elements[e].len;
                d->elements[e].ptr = grove_msg_strndup(r, s->elements[e].ptr, s->elements[e].len);
                if (!d->elements[e].ptr)
                    goto nomem;
            }
        }
    }
    *out = r;
    return GROVE_OK;
nomem:
    err = grove_error_set(GROVE_ENOMEM, "fault shim: out of memory copying a batch");
fail:
    grove_pull_response_free(r);
    *out = NULL;
    return err;
}

enum { FAULTS_HOLD_MAX = 4 };

/* A subscription in progress: the caller's callback plus batches held back
 * for reordering. */
struct faults_stream {
    struct faults_conn *conn;
    grove_batch_fn fn;
    void *user;
    struct grove_pull_response *held[FAULTS_HOLD_MAX];
    size_t held_count;
};

/* Delivers every held batch, in an order drawn from the link. */
static grove_err faults_release(struct faults_stream *s)
{
    grove_err err = GROVE_OK;
    while (s->held_count > 0) {
        pthread_mutex_lock(&faults_lock);
        struct faults_link *l = faults_link_get(s->conn->url);
        size_t pick = l ? (size_t)(faults_next(l) % s->held_count) : 0;
        pthread_mutex_unlock(&faults_lock);
        struct grove_pull_response *b = s->held[pick];
        s->held[pick] = s->held[--s->held_count];
        if (!err)
            err = s->fn(s->user, b);
        grove_pull_response_free(b);
    }
    return err;
}

static grove_err faults_on_batch(void *user, const struct grove_pull_response *batch)
{
    struct faults_stream *s = user;
    bool drop, dup, hold, release;
    pthread_mutex_lock(&faults_lock);
    struct faults_link *l = faults_link_get(s->conn->url);
    if (!l) {
        pthread_mutex_unlock(&faults_lock);
        return grove_error_set(GROVE_ENOMEM, "fault shim: out of memory");
    }
    l->stats.batches++;
    drop = l->cfg.partition || faults_chance(l, l->cfg.stream_drop);
    dup = faults_chance(l, l->cfg.stream_dup);
    hold = faults_chance(l, l->cfg.stream_reorder);
    release = faults_chance(l, 0.5);
    if (drop)
        l->stats.stream_drops++;
    else if (dup)
        l->stats.stream_dups++;
    if (!drop && hold)
        l->stats.stream_reorders++;
    pthread_mutex_unlock(&faults_lock);

    grove_err err = GROVE_OK;
    if (drop)
        return GROVE_OK;
    if (hold && s->held_count < FAULTS_HOLD_MAX) {
        struct grove_pull_response *copy;
        err = faults_copy_batch(batch, &copy);
        if (err)
            return err;
        s->held[s->held_count++] = copy;
        if (dup && s->held_count < FAULTS_HOLD_MAX) {
            err = faults_copy_batch(batch, &copy);
            if (err)
                return err;
            s->held[s->held_count++] = copy;
        }
        return GROVE_OK;
    }
    /* Held batches go out after this one (that is the reordering), or with
     * it when the hold is full. */
    err = s->fn(s->user, batch);
    if (!err && dup)
        err = s->fn(s->user, batch);
    if (!err && (release || s->held_count == FAULTS_HOLD_MAX))
        err = faults_release(s);
    return err;
}

static grove_err faults_subscribe(void *self, const struct grove_pull_request *req,
                                  grove_batch_fn fn, void *user, const atomic_bool *stop)
{
    struct faults_conn *c = self;
    struct faults_plan plan;
    grove_err err = faults_plan(c->url, &plan);
    if (err)
        return err;
    err = faults_before(c, &plan);
    if (err)
        return err;
    struct faults_stream s = {.conn = c, .fn = fn, .user = user};
    err = grove_peer_subscribe(c->inner, req, faults_on_batch, &s, stop);
    /* Batches still held when the stream ends are lost, as a broken
     * connection would lose them; the next pull repairs the gap. */
    pthread_mutex_lock(&faults_lock);
    struct faults_link *l = faults_link_get(c->url);
    if (l)
        l->stats.stream_drops += s.held_count;
    pthread_mutex_unlock(&faults_lock);
    for (size_t i = 0; i < s.held_count; i++)
        grove_pull_response_free(s.held[i]);
    return err;
}

static void faults_cancel(void *self, bool on)
{
    struct faults_conn *c = self;
    grove_peer_cancel(c->inner, on);
}

static void faults_close(void *self)
{
    struct faults_conn *c = self;
    if (!c)
        return;
    grove_peer_close(c->inner);
    free(c->url);
    free(c);
}

static const struct grove_dialer_ops faults_dialer = {
    .open = faults_open,
    .call = faults_call,
    .subscribe = faults_subscribe,
    .cancel = faults_cancel,
    .close = faults_close,
};

enum { FAULTS_SCHEMES_MAX = 64 };
static char faults_scheme_text[FAULTS_SCHEMES_MAX][48];
static const char *faults_schemes[FAULTS_SCHEMES_MAX + 1];
static const char *faults_path_schemes[FAULTS_SCHEMES_MAX + 1];
static struct grove_transport faults_transport = {
    .name = "fault",
    .schemes = faults_schemes,
    .path_schemes = faults_path_schemes,
    .codec = &grove_codec_json, /* a shim peer speaks the codec of the peer it wraps */
    .dialer = &faults_dialer,
    .listener = NULL,
};
static pthread_once_t faults_schemes_once = PTHREAD_ONCE_INIT;
static pthread_once_t faults_register_once = PTHREAD_ONCE_INIT;
static grove_err faults_register_err;

/* Adds "fault+<scheme>" to the shim's schemes (and to its path schemes when
 * is_path); returns the name, or NULL when there is no room. */
static const char *faults_add_scheme(const char *scheme, bool is_path)
{
    size_t n = 0;
    while (faults_schemes[n])
        n++;
    if (n >= FAULTS_SCHEMES_MAX ||
        strlen(GROVE_FAULTS_PREFIX) + strlen(scheme) >= sizeof faults_scheme_text[0])
        return NULL;
    snprintf(faults_scheme_text[n], sizeof faults_scheme_text[n], "%s%s", GROVE_FAULTS_PREFIX,
             scheme);
    faults_schemes[n] = faults_scheme_text[n];
    if (is_path) {
        size_t k = 0;
        while (faults_path_schemes[k])
            k++;
        faults_path_schemes[k] = faults_scheme_text[n];
    }
    return faults_schemes[n];
}

/* Every scheme of every transport registered so far, except our own. */
static void faults_build_schemes(void)
{
    for (size_t i = 0, n = grove_transport_count(); i < n; i++) {
        const struct grove_transport *t = grove_transport_at(i);
        if (t == &faults_transport)
            continue;
        for (const char *const *s = t->schemes; *s; s++) {
            bool is_path = false;
            for (const char *const *p = t->path_schemes; p && *p; p++)
                is_path = is_path || strcmp(*p, *s) == 0;
            faults_add_scheme(*s, is_path);
        }
    }
}

const struct grove_transport *grove_transport_faults(void)
{
    pthread_once(&faults_schemes_once, faults_build_schemes);
    return &faults_transport;
}

static void faults_register(void)
{
    faults_register_err = grove_transport_register(grove_transport_faults());
}

grove_err grove_transport_faults_register(void)
{
    pthread_once(&faults_register_once, faults_register);
    if (faults_register_err)
        return grove_error_set(faults_register_err, "fault shim: registration failed");
    return GROVE_OK;
}
