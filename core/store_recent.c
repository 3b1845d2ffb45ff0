/* The newest commits' units in memory, as store_recent.h says: staged by
 * the writer, published at commit, read by pages at the head, dropped
 * oldest commit first past max_bytes. */
#include <stdlib.h>
#include <string.h>

#include "grove/sys/error.h"
#include "store_internal.h"
#include "store_recent.h"

/* What a kept unit costs: its slot and its strings in the arena. */
static size_t recent_unit_bytes(const char *table, const char *pk, const struct state_unit *u)
{
    return sizeof(struct store_recent_unit) + strlen(table) + strlen(pk) + strlen(u->field) +
           u->sub.len + strlen(u->origin) + strlen(u->src) + u->value.len +
           7 * 16 /* each string's NUL and the arena's rounding */;
}

static int recent_cmp(int64_t ts, uint32_t c, int64_t ats, uint32_t ac)
{
    return ts != ats ? (ts > ats) - (ts < ats) : (c > ac) - (c < ac);
}

void grove_store_recent_init(struct store_recent *r)
{
    memset(r, 0, sizeof *r);
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    /* A publication waits for the page copies under way, never behind new ones. */
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&r->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
}

void grove_store_recent_start(struct store_recent *r, size_t max_bytes,
                              const struct grove_hlc *latest)
{
    r->max_bytes = max_bytes;
    r->low = *latest;
    r->newest = *latest;
}

/* Drops the oldest commit; the units it held are no longer all here. */
static void recent_drop_oldest(struct store_recent *r)
{
    struct store_recent_commit *c = &r->commits[r->commits_first];
    const struct store_recent_unit *last = &r->units[r->first + c->units - 1];
    r->low.ts = last->ats;
    r->low.c = last->ac;
    r->first += c->units;
    r->count -= c->units;
    r->bytes -= c->bytes;
    grove_msg_free(c->arena);
    r->commits_first++;
    r->commits_count--;
}

static void recent_drop_all(struct store_recent *r)
{
    while (r->commits_count)
        recent_drop_oldest(r);
    r->first = r->commits_first = 0;
}

static void recent_drop_staged(struct store_recent *r)
{
    grove_msg_free(r->arena);
    r->arena = NULL;
    r->staged_count = r->staged_bytes = 0;
    r->lost = false;
}

void grove_store_recent_free(struct store_recent *r)
{
    recent_drop_all(r);
    recent_drop_staged(r);
    free(r->units);
    free(r->commits);
    free(r->staged);
    pthread_rwlock_destroy(&r->lock);
}

void grove_store_recent_stage(struct store_recent *r, const char *table, const char *pk,
                              const struct state_unit *unit, const struct grove_hlc *arrival)
{
    if (!r->max_bytes)
        return;
    r->newest = *arrival;
    if (r->lost)
        return;
    if (r->staged_count == r->staged_cap) {
        size_t cap = r->staged_cap ? r->staged_cap * 2 : 256;
        struct store_recent_unit *grown = realloc(r->staged, cap * sizeof *grown);
        if (!grown) {
            r->lost = true;
            return;
        }
        r->staged = grown;
        r->staged_cap = cap;
    }
    if (!r->arena && grove_pull_response_new(&r->arena)) {
        r->lost = true;
        return;
    }
    struct store_recent_unit *u = &r->staged[r->staged_count];
    u->table = grove_msg_strndup(r->arena, table, strlen(table));
    u->pk = grove_msg_strndup(r->arena, pk, strlen(pk));
    u->ats = arrival->ts;
    u->ac = arrival->c;
    u->replaced_ts = unit->ats;
    u->replaced_c = unit->ac;
    u->stale = false;
    if (!u->table || !u->pk || grove_store_copy_unit(r->arena, unit, &u->unit)) {
        r->lost = true;
        return;
    }
    r->staged_bytes += recent_unit_bytes(table, pk, unit);
    r->staged_count++;
}

size_t grove_store_recent_mark(const struct store_recent *r)
{
    return r->staged_count;
}

void grove_store_recent_rewind(struct store_recent *r, size_t mark)
{
    if (mark == 0)
        recent_drop_staged(r);
    else if (mark < r->staged_count)
        r->staged_count = mark; /* their strings stay in the arena until it goes */
}

/* The slot of the kept unit stamped (ts, c), or the first one stamped after
 * it when there is none. */
static size_t recent_find(const struct store_recent *r, int64_t ts, uint32_t c)
{
    size_t lo = r->first, hi = r->first + r->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (recent_cmp(r->units[mid].ats, r->units[mid].ac, ts, c) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Room for n more units and one more commit, moving what is kept to the
 * front of its arrays first. */
static bool recent_make_room(struct store_recent *r, size_t n)
{
    if (r->first) {
        memmove(r->units, r->units + r->first, r->count * sizeof *r->units);
        r->first = 0;
    }
    if (r->commits_first) {
        memmove(r->commits, r->commits + r->commits_first, r->commits_count * sizeof *r->commits);
        r->commits_first = 0;
    }
    if (r->count + n > r->cap) {
        size_t cap = r->cap ? r->cap : 1024;
        while (cap < r->count + n)
            cap *= 2;
        struct store_recent_unit *grown = realloc(r->units, cap * sizeof *grown);
        if (!grown)
            return false;
        r->units = grown;
        r->cap = cap;
    }
    if (r->commits_count == r->commits_cap) {
        size_t cap = r->commits_cap ? r->commits_cap * 2 : 64;
        struct store_recent_commit *grown = realloc(r->commits, cap * sizeof *grown);
        if (!grown)
            return false;
        r->commits = grown;
        r->commits_cap = cap;
    }
    return true;
}

/* Appends the staged units in order, marking what each replaced stale:
 * false when something does not hold (a unit stamped out of order, or a
 * replaced one that should be here and is not), and then nothing here can
 * be trusted. */
static bool recent_append(struct store_recent *r)
{
    if (r->lost || r->staged_bytes > r->max_bytes || !recent_make_room(r, r->staged_count))
        return false;
    for (size_t i = 0; i < r->staged_count; i++) {
        const struct store_recent_unit *u = &r->staged[i];
        const struct store_recent_unit *last = r->count ? &r->units[r->count - 1] : NULL;
        if (recent_cmp(u->ats, u->ac, r->low.ts, r->low.c) <= 0 ||
            (last && recent_cmp(u->ats, u->ac, last->ats, last->ac) <= 0))
            return false;
        if (recent_cmp(u->replaced_ts, u->replaced_c, r->low.ts, r->low.c) > 0) {
            size_t at = recent_find(r, u->replaced_ts, u->replaced_c);
            if (at == r->count ||
                recent_cmp(r->units[at].ats, r->units[at].ac, u->replaced_ts, u->replaced_c))
                return false;
            r->units[at].stale = true;
        }
        r->units[r->count++] = *u;
    }
    r->commits[r->commits_count++] = (struct store_recent_commit){
        .arena = r->arena, .units = r->staged_count, .bytes = r->staged_bytes};
    r->bytes += r->staged_bytes;
    r->arena = NULL; /* the commit's now */
    while (r->bytes > r->max_bytes)
        recent_drop_oldest(r);
    return true;
}

void grove_store_recent_publish(struct store_recent *r)
{
    if (!r->max_bytes || (!r->staged_count && !r->lost))
        return;
    pthread_rwlock_wrlock(&r->lock);
    size_t kept = r->count;
    if (!recent_append(r)) {
        /* Start over after everything committed so far. */
        r->count = kept;
        recent_drop_all(r);
        r->count = 0;
        r->low = r->newest;
    }
    pthread_rwlock_unlock(&r->lock);
    recent_drop_staged(r);
}

grove_err grove_store_recent_page(struct store_recent *r, struct store_page *page, bool *answered)
{
    *answered = false;
    if (!r->max_bytes)
        return GROVE_OK;
    const struct grove_hlc *since = &page->q->since;
    grove_err err = GROVE_OK;
    pthread_rwlock_rdlock(&r->lock);
    if (recent_cmp(since->ts, since->c, r->low.ts, r->low.c) >= 0) {
        *answered = true;
        size_t end = r->first + r->count;
        /* The first unit stamped after the cursor. */
        size_t i = recent_find(r, since->ts, since->c);
        if (i < end && recent_cmp(r->units[i].ats, r->units[i].ac, since->ts, since->c) == 0)
            i++;
        for (bool full = false; !err && !full && i < end; i++) {
            const struct store_recent_unit *u = &r->units[i];
            if (u->stale || !grove_store_page_names(page, u->table))
                continue;
            struct store_page_entry e = {u->table, u->pk, &u->unit, u->ats, u->ac};
            err = grove_store_page_take(page, &e, &full);
        }
    }
    pthread_rwlock_unlock(&r->lock);
    return err;
}
