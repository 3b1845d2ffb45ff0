/* CRDT state of one row and its merge rules (docs/design.md §2), free of storage:
 * the store loads a row's state units, merges changes into them here, writes
 * back the dirty ones and stores the resolved document built here.
 * Words, here and in the store: a row is one (table, pk); a unit is one piece
 * of its state (a field's LWW value, one origin's counter totals, one set
 * element's add or remove, the row's tombstone); a doc is the row's resolved
 * JSON, as reads return it. */
#ifndef GROVE_CORE_CRDT_H
#define GROVE_CORE_CRDT_H

#include "grove/model.h"

/* The field name under which row deletes travel (Grove's Go server form). */
#define STATE_TOMBSTONE_FIELD "_tombstone"

enum state_kind {
    STATE_LWW = 1,
    STATE_COUNTER = 2,    /* sub = origin node */
    STATE_SET_ADD = 3,    /* sub = element */
    STATE_SET_REMOVE = 4, /* sub = element */
    STATE_TOMBSTONE = 5,  /* field = "", sub = "" */
};

/* One unit of state: one wire record when read back. */
struct state_unit {
    const char *field;
    int kind;
    struct grove_slice sub;
    struct grove_hlc hlc;     /* newest change merged in */
    const char *origin;       /* node that made it */
    const char *src;          /* peer it arrived from ("" = local) */
    struct grove_slice value; /* lww value; ptr NULL otherwise */
    int64_t inc, dec;         /* counter totals of origin */
    int64_t ats;              /* the arrival stamp it is stored with (0: not stored) */
    uint32_t ac;
    bool dirty; /* changed by this merge: write it back */
};

struct state_units {
    struct state_unit *items;
    size_t count, cap;
};

struct state_merge {
    bool changed;
    uint64_t conflicts;
};

/* A zeroed slot at the end; NULL when out of memory. */
struct state_unit *grove_state_units_push(struct state_units *units);
void grove_state_units_free(struct state_units *units);

/* Merges one validated change into the row's units. Pointers of the change
 * are kept in the units: the change must outlive the units' use. */
grove_err grove_state_units_merge(struct state_units *units, const struct grove_change *change,
                                  const char *src, struct state_merge *out);

/* Builds the resolved document ({"field": value, ...}, fields by name, set
 * elements by bytes) into doc; *visible is false when the row is deleted.
 * Rules: a row is hidden iff its tombstone is newer than every write in it; a
 * field (a set element) whose newest write is not newer than the tombstone is
 * not shown. Sorts units->items. */
grove_err grove_state_units_resolve(struct state_units *units, struct grove_buf *doc,
                                    bool *visible);

/* Fills a wire record from a stored unit (strings borrowed from the unit). */
void grove_state_unit_to_change(const struct state_unit *row, const char *table, const char *pk,
                                struct grove_change *out);

#endif
