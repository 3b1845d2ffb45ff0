/* The built-in rate limit (docs/hooks.md, "rate-limit"): an admit_inbound
 * hook on the server that keeps a token bucket per client address and
 * refuses a push the bucket cannot pay for with GROVE_ERATELIMIT (429 with
 * Retry-After, RESOURCE_EXHAUSTED) before any change is looked at, so a
 * refused push changes nothing. Clients are told apart by their host alone:
 * a new connection gets no fresh bucket. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "grove/sys/error.h"
#include "grove/sys/transport.h"
#include "hooks.h"

/* Buckets past this many are swept of the full ones (which hold no state:
 * a new bucket starts full), so a stream of addresses cannot grow memory. */
#define RATE_SWEEP_AT 4096

struct rate_bucket {
    char host[GROVE_PEER_ADDR_MAX];
    double tokens;
    int64_t at_us; /* when tokens was last brought up to date */
};

struct groved_rate_limit {
    double per_second;
    double burst; /* the most a bucket holds: one second's worth, at least one change */
    pthread_mutex_t lock;
    struct rate_bucket *buckets;
    size_t count, cap;
};

grove_err groved_rate_limit_new(struct groved_rate_limit **out, double per_second)
{
    *out = NULL;
    if (!(per_second > 0))
        return grove_error_set(GROVE_EINVAL, "rate-limit: expected a positive rate");
    struct groved_rate_limit *limit = calloc(1, sizeof *limit);
    if (!limit)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    limit->per_second = per_second;
    limit->burst = per_second < 1 ? 1 : per_second;
    pthread_mutex_init(&limit->lock, NULL);
    *out = limit;
    return GROVE_OK;
}

void groved_rate_limit_free(struct groved_rate_limit *limit)
{
    if (!limit)
        return;
    pthread_mutex_destroy(&limit->lock);
    free(limit->buckets);
    free(limit);
}

/* "127.0.0.1:40112" -> "127.0.0.1", "[::1]:40112" -> "[::1]"; NULL -> "". */
static void rate_host(const char *addr, char *out, size_t size)
{
    size_t n = 0;
    if (addr && addr[0] == '[') {
        const char *close = strchr(addr, ']');
        n = close ? (size_t)(close - addr) + 1 : strlen(addr);
    } else if (addr) {
        const char *colon = strrchr(addr, ':');
        n = colon ? (size_t)(colon - addr) : strlen(addr);
    }
    if (n >= size)
        n = size - 1;
    memcpy(out, addr ? addr : "", n);
    out[n] = '\0';
}

static void rate_refill(const struct groved_rate_limit *limit, struct rate_bucket *b,
                        int64_t now_us)
{
    if (now_us > b->at_us) {
        b->tokens += limit->per_second * (double)(now_us - b->at_us) / 1e6;
        if (b->tokens > limit->burst)
            b->tokens = limit->burst;
    }
    b->at_us = now_us;
}

/* Drops the buckets that are full by now: they would start the same anew. */
static void rate_sweep(struct groved_rate_limit *limit, int64_t now_us)
{
    size_t kept = 0;
    for (size_t i = 0; i < limit->count; i++) {
        rate_refill(limit, &limit->buckets[i], now_us);
        if (limit->buckets[i].tokens < limit->burst)
            limit->buckets[kept++] = limit->buckets[i];
    }
    limit->count = kept;
}

/* The host's bucket, a full new one when it has none; NULL when out of memory. */
static struct rate_bucket *rate_bucket_of(struct groved_rate_limit *limit, const char *host,
                                          int64_t now_us)
{
    for (size_t i = 0; i < limit->count; i++)
        if (strcmp(limit->buckets[i].host, host) == 0)
            return &limit->buckets[i];
    if (limit->count >= RATE_SWEEP_AT)
        rate_sweep(limit, now_us);
    if (limit->count == limit->cap) {
        size_t cap = limit->cap ? limit->cap * 2 : 16;
        struct rate_bucket *grown = realloc(limit->buckets, cap * sizeof *grown);
        if (!grown)
            return NULL;
        limit->buckets = grown;
        limit->cap = cap;
    }
    struct rate_bucket *b = &limit->buckets[limit->count++];
    snprintf(b->host, sizeof b->host, "%s", host);
    b->tokens = limit->burst;
    b->at_us = now_us;
    return b;
}

grove_err groved_rate_limit_admit(struct groved_rate_limit *limit, const char *peer_addr,
                                  size_t count, int64_t now_us)
{
    if (count == 0)
        return GROVE_OK;
    char host[GROVE_PEER_ADDR_MAX];
    rate_host(peer_addr, host, sizeof host);
    pthread_mutex_lock(&limit->lock);
    struct rate_bucket *b = rate_bucket_of(limit, host, now_us);
    if (!b) {
        pthread_mutex_unlock(&limit->lock);
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    }
    rate_refill(limit, b, now_us);
    double need = (double)count < limit->burst ? (double)count : limit->burst;
    double missing = need - b->tokens;
    if (missing <= 0)
        b->tokens -= (double)count;
    pthread_mutex_unlock(&limit->lock);
    if (missing <= 0)
        return GROVE_OK;
    double wait_s = ceil(missing / limit->per_second);
    unsigned retry = wait_s < 1 ? 1 : wait_s > 86400 ? 86400 : (unsigned)wait_s;
    grove_error_set(GROVE_ERATELIMIT,
                    "rate limit: %s pushes more than %g changes per second (%zu in this push); "
                    "retry after %u s",
                    *host ? host : "a client of unknown address", limit->per_second, count, retry);
    return grove_error_set_retry(GROVE_ERATELIMIT, retry);
}

static grove_err rate_admit_inbound(void *user, const struct grove_hook_context *ctx)
{
    if (ctx->path != GROVE_HOOK_PUSH_SERVED)
        return GROVE_OK; /* what the syncer fetched itself is never limited */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t now_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    return groved_rate_limit_admit(user, ctx->peer_addr, ctx->count, now_us);
}

struct grove_hook groved_rate_limit_hook(struct groved_rate_limit *limit)
{
    return (struct grove_hook){.admit_inbound = rate_admit_inbound, .user = limit};
}
