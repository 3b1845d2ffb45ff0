/* The newest commits' units, kept in memory (docs/design.md, "Pages at the
 * head"): a page whose cursor lies among them is read from here, not from
 * the file. A reader's connection reads the file afresh after every commit
 * (SQLite drops its page cache whenever the file changed), so a page of the
 * commit just made cost a thousand page reads; peers and streams at the
 * head ask for exactly that page.
 *
 * The writer stages each unit it writes (under its lock) and publishes
 * them once the transaction commits; a rollback drops them. Every unit that
 * arrived after `low` is here, in arrival order, each marked stale once
 * written again, so a page read here is the page the arrival log gives. */
#ifndef GROVE_CORE_STORE_RECENT_H
#define GROVE_CORE_STORE_RECENT_H

#include <pthread.h>
#include <stddef.h>

#include "crdt.h"
#include "grove/model.h"

struct store_page;

/* A unit as it was written, with its row, packed in its commit's arena;
 * unit.ats and unit.ac are the arrival stamp it replaced (zero: it was new). */
struct store_recent_unit {
    const char *table, *pk;
    struct state_unit unit;
};

/* A kept unit's place in arrival order. */
struct store_recent_slot {
    int64_t ats;
    uint32_t ac;
    bool stale; /* written again since */
    const struct store_recent_unit *unit;
};

/* A published commit: its units' memory (a message used as an arena). */
struct store_recent_commit {
    struct grove_pull_response *arena;
    size_t units, bytes;
};

struct store_recent {
    pthread_rwlock_t lock; /* readers of pages share it; a publication takes it alone */
    size_t max_bytes;      /* 0: nothing is kept */
    /* Under `lock`: every unit stamped after low is in slots[first..first+count). */
    struct grove_hlc low;
    struct store_recent_slot *slots;
    size_t first, count, cap;
    struct store_recent_commit *commits;
    size_t commits_first, commits_count, commits_cap;
    size_t bytes;
    /* The writer's, under its lock: the newest stamp given, and what the
     * transaction under way wrote. */
    struct grove_hlc newest;
    struct grove_pull_response *arena;
    struct store_recent_slot *staged;
    size_t staged_count, staged_cap, staged_bytes;
    bool lost; /* a unit could not be staged: the next publication starts over */
};

/* Keeps nothing until grove_store_recent_start. */
void grove_store_recent_init(struct store_recent *r);
/* Keeps up to max_bytes of units from now on: those stamped after `latest`
 * (the store's newest stamp). */
void grove_store_recent_start(struct store_recent *r, size_t max_bytes,
                              const struct grove_hlc *latest);
void grove_store_recent_free(struct store_recent *r);

/* Stages a unit written with stamp `arrival` (unit->ats and ac: the stamp it
 * had, zero when new). */
void grove_store_recent_stage(struct store_recent *r, const char *table, const char *pk,
                              const struct state_unit *unit, const struct grove_hlc *arrival);
/* A merge of `units` changes begins: a commit larger than a quarter of what
 * is kept (a bulk apply) would push out most of the rest and cost the apply
 * the copies, so it is not staged; the kept commits start over after it
 * (its pages are read from the log). */
void grove_store_recent_expect(struct store_recent *r, size_t units);
/* How much is staged, and dropping what was staged after it (a savepoint
 * rolled back). */
size_t grove_store_recent_mark(const struct store_recent *r);
void grove_store_recent_rewind(struct store_recent *r, size_t mark);
/* The transaction rolled back: nothing it staged is published. */
void grove_store_recent_rolled_back(struct store_recent *r);
/* The transaction committed: what it staged is read by pages from now on. */
void grove_store_recent_publish(struct store_recent *r);

/* Fills the page from memory when every unit after its cursor is here:
 * *answered false leaves it to the arrival log. */
grove_err grove_store_recent_page(struct store_recent *r, struct store_page *page, bool *answered);

#endif
