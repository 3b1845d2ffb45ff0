/* The newest commits' units in memory, as store_recent.h says: staged by
 * the writer, published at commit, read by pages at the head, dropped
 * oldest commit first past max_bytes. */
#include <stdlib.h>
#include <string.h>

#include "grove/sys/error.h"
#include "store_internal.h"
#include "store_recent.h"

/* The unit's strings, each with its NUL. */
static size_t recent_strings_bytes(const char *table, const char *pk, const struct state_unit *u)
{
    return strlen(table) + strlen(pk) + strlen(u->field) + u->sub.len + strlen(u->origin) +
           strlen(u->src) + u->value.len + 7;
}

/* Copies n bytes to *at as a string, moving *at past it. */
static const char *recent_put(char **at, const void *bytes, size_t n)
{
    char *s = *at;
    if (n)
        memcpy(s, bytes, n);
    s[n] = '\0';
    *at += n + 1;
    return s;
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
    const struct store_recent_slot *last = &r->slots[r->first + c->units - 1];
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
    for (size_t i = 0; i < r->commits_count; i++)
        grove_msg_free(r->commits[r->commits_first + i].arena);
    r->first = r->count = r->commits_first = r->commits_count = r->bytes = 0;
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
    free(r->slots);
    free(r->commits);
    free(r->staged);
    pthread_rwlock_destroy(&r->lock);
}

/* What keeping a unit whose strings take `strings` bytes costs. */
static size_t recent_cost(size_t strings)
{
    return sizeof(struct store_recent_unit) + strings + sizeof(struct store_recent_slot);
}

void grove_store_recent_stage(struct store_recent *r, const char *table, const char *pk,
                              const struct state_unit *unit, const struct grove_hlc *arrival)
{
    if (!r->max_bytes)
        return;
    r->newest = *arrival;
    if (r->lost)
        return;
    size_t strings = recent_strings_bytes(table, pk, unit);
    if (r->staged_bytes + recent_cost(strings) > r->max_bytes / 4)
        goto lost; /* a bulk apply after all (grove_store_recent_expect) */
    if (r->staged_count == r->staged_cap) {
        size_t cap = r->staged_cap ? r->staged_cap * 2 : 256;
        struct store_recent_slot *grown = realloc(r->staged, cap * sizeof *grown);
        if (!grown)
            goto lost;
        r->staged = grown;
        r->staged_cap = cap;
    }
    if (!r->arena && grove_pull_response_new(&r->arena))
        goto lost;
    /* The unit and its strings in one piece. */
    struct store_recent_unit *u = grove_msg_alloc(r->arena, sizeof *u + strings);
    if (!u)
        goto lost;
    char *at = (char *)(u + 1);
    u->table = recent_put(&at, table, strlen(table));
    u->pk = recent_put(&at, pk, strlen(pk));
    u->unit = *unit;
    u->unit.field = recent_put(&at, unit->field, strlen(unit->field));
    u->unit.sub.ptr = recent_put(&at, unit->sub.ptr, unit->sub.len);
    u->unit.origin = recent_put(&at, unit->origin, strlen(unit->origin));
    u->unit.src = recent_put(&at, unit->src, strlen(unit->src));
    if (unit->value.ptr)
        u->unit.value.ptr = recent_put(&at, unit->value.ptr, unit->value.len);
    r->staged[r->staged_count++] =
        (struct store_recent_slot){.ats = arrival->ts, .ac = arrival->c, .unit = u};
    r->staged_bytes += recent_cost(strings);
    return;
lost:
    r->lost = true;
}

void grove_store_recent_expect(struct store_recent *r, size_t units)
{
    if (r->max_bytes && units > r->max_bytes / 4 / recent_cost(0))
        r->lost = true;
}

size_t grove_store_recent_mark(const struct store_recent *r)
{
    return r->staged_count;
}

void grove_store_recent_rewind(struct store_recent *r, size_t mark)
{
    /* Their strings stay in the arena until the transaction ends; a unit
     * lost before the savepoint is lost still. */
    if (mark < r->staged_count)
        r->staged_count = mark;
}

void grove_store_recent_rolled_back(struct store_recent *r)
{
    recent_drop_staged(r);
}

/* The slot of the kept unit stamped (ts, c), or the first one stamped after
 * it when there is none. */
static size_t recent_find(const struct store_recent *r, int64_t ts, uint32_t c)
{
    size_t lo = r->first, hi = r->first + r->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (recent_cmp(r->slots[mid].ats, r->slots[mid].ac, ts, c) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* An array of `size`-byte items holding count from *first, with room for n
 * more at its end: moved to its front when that makes room, else grown to
 * twice what it must hold (so moves copy an item twice at most). NULL when
 * out of memory, the array left as it was. */
static void *recent_room(void *items, size_t size, size_t *first, size_t count, size_t *cap,
                         size_t n)
{
    if (*first + count + n <= *cap)
        return items;
    if (*first && count + n <= *cap / 2) {
        memmove(items, (char *)items + *first * size, count * size);
        *first = 0;
        return items;
    }
    size_t grown_cap = 2 * (count + n) > 1024 ? 2 * (count + n) : 1024;
    char *grown = malloc(grown_cap * size);
    if (!grown)
        return NULL;
    if (count)
        memcpy(grown, (char *)items + *first * size, count * size);
    free(items);
    *first = 0;
    *cap = grown_cap;
    return grown;
}

/* Appends the staged units in order, marking what each replaced stale:
 * false when something does not hold (a unit stamped out of order, or a
 * replaced one that should be here and is not), and then nothing here can
 * be trusted. */
static bool recent_append(struct store_recent *r)
{
    if (r->lost)
        return false;
    struct store_recent_slot *slots =
        recent_room(r->slots, sizeof *slots, &r->first, r->count, &r->cap, r->staged_count);
    if (slots)
        r->slots = slots;
    struct store_recent_commit *commits =
        slots ? recent_room(r->commits, sizeof *commits, &r->commits_first, r->commits_count,
                            &r->commits_cap, 1)
              : NULL;
    if (!commits)
        return false;
    r->commits = commits;
    for (size_t i = 0; i < r->staged_count; i++) {
        const struct store_recent_slot *s = &r->staged[i];
        size_t end = r->first + r->count;
        const struct store_recent_slot *last = r->count ? &r->slots[end - 1] : NULL;
        if (recent_cmp(s->ats, s->ac, r->low.ts, r->low.c) <= 0 ||
            (last && recent_cmp(s->ats, s->ac, last->ats, last->ac) <= 0))
            return false;
        const struct store_recent_unit *u = s->unit;
        const struct state_unit *replaced = &u->unit; /* its stamp, the one it replaced */
        if (recent_cmp(replaced->ats, replaced->ac, r->low.ts, r->low.c) > 0) {
            size_t at = recent_find(r, replaced->ats, replaced->ac);
            if (at == end ||
                recent_cmp(r->slots[at].ats, r->slots[at].ac, replaced->ats, replaced->ac))
                return false;
            r->slots[at].stale = true;
        }
        r->slots[end] = *s;
        r->count++;
    }
    r->commits[r->commits_first + r->commits_count++] = (struct store_recent_commit){
        .arena = r->arena, .units = r->staged_count, .bytes = r->staged_bytes};
    r->bytes += r->staged_bytes;
    r->arena = NULL; /* the commit's now */
    while (r->bytes > r->max_bytes)
        recent_drop_oldest(r);
    return true;
}

void grove_store_recent_publish(struct store_recent *r)
{
    if (!r->staged_count && !r->lost) {
        if (r->arena) /* what savepoints rolled back */
            recent_drop_staged(r);
        return;
    }
    pthread_rwlock_wrlock(&r->lock);
    if (!recent_append(r)) {
        /* Start over after everything committed so far. */
        recent_drop_all(r);
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
        if (i < end && recent_cmp(r->slots[i].ats, r->slots[i].ac, since->ts, since->c) == 0)
            i++;
        for (bool full = false; !err && !full && i < end; i++) {
            const struct store_recent_slot *s = &r->slots[i];
            if (s->stale || !grove_store_page_names(page, s->unit->table))
                continue;
            struct store_page_entry e = {s->unit->table, s->unit->pk, &s->unit->unit, s->ats,
                                         s->ac};
            if (grove_store_page_wants(page, &e, &full))
                err = grove_store_page_add(page, &e);
        }
    }
    pthread_rwlock_unlock(&r->lock);
    return err;
}
