/* The Data API: what applications call to write and read rows, without
 * knowing the sync protocol (docs/data-api.md). A write is stamped with one
 * fresh HLC of the node's clock, merged like any change, committed with
 * synchronous=FULL before it is acknowledged, and then pushed to every peer
 * at once: the node's syncer and every stream and watch wake on each commit.
 * Concurrent writers share commits (group commit).
 *
 * Every function is thread-safe. Errors are located ("rows[2].views: a
 * counter takes an integer delta") and a failed write changes nothing:
 * GROVE_EFORBIDDEN for an undeclared table, GROVE_EINVAL for an undeclared
 * field, a wrong type or a bad argument, GROVE_ETOOBIG for oversized input,
 * GROVE_ECONFLICT for an idempotency key reused with another request. */
#ifndef GROVE_DATA_H
#define GROVE_DATA_H

#include "grove/model.h"
#include "grove/store.h"

#define GROVE_DATA_VALUE_MAX       (16u << 20) /* bytes of one value or element */
#define GROVE_DATA_ROWS_MAX        100000      /* rows in one write */
#define GROVE_DATA_LIST_DEFAULT    100
#define GROVE_DATA_LIST_MAX        10000
#define GROVE_DATA_IDEMPOTENCY_MAX 255 /* bytes of an idempotency key */
#define GROVE_DATA_CURSOR_MAX      48  /* bytes of a watch cursor, with the NUL */

/* One field of a row write. The kind of write is the field's CRDT type: the
 * declared one (crdt may then be NONE, or must agree), or crdt itself for a
 * table declared without fields. */
struct grove_field_write {
    const char *field;
    enum grove_crdt crdt;
    struct grove_slice value; /* LWW: the new value, any JSON, kept byte-exact */
    int64_t delta;            /* COUNTER: added to this node's running totals */
    /* SET: elements (JSON) to add and to remove; each travels as its own
     * record. One element may not be both added and removed. */
    const struct grove_slice *add;
    size_t add_count;
    const struct grove_slice *remove;
    size_t remove_count;
};

/* One row: fields written, or the row deleted (a tombstone: a later write
 * revives it, as the merge rules say). */
struct grove_row_write {
    const char *table;
    const char *pk;  /* any UTF-8 except NUL, 1..GROVE_DATA_PK_MAX bytes */
    bool delete_row; /* then field_count must be 0 */
    const struct grove_field_write *fields;
    size_t field_count;
};
#define GROVE_DATA_PK_MAX 1024

/* One atomic write of one or more rows (a row at most once). */
struct grove_write {
    const struct grove_row_write *rows;
    size_t row_count;
    /* NULL or "": none. A write repeating a key this node has seen in the
     * last 24 hours changes nothing and answers the first write's HLC; the
     * same key with a different request is GROVE_ECONFLICT. */
    const char *idempotency_key;
    /* NULL or "": this node. Else the node the write is made as (its HLC's
     * node and every record's node_id, its counters that node's totals):
     * grove_data_write_as sets it for a client identity. */
    const char *origin;
};

/* Commits the write; *hlc (may be NULL) gets the HLC every field was
 * stamped with. */
grove_err grove_data_write(struct grove_store *store, const struct grove_write *write,
                           struct grove_hlc *hlc);

/* The resolved row as one JSON object of its fields: a counter as an
 * integer, a set as an array sorted by JSON text, an LWW field as its raw
 * value ({"title":"Hello","views":7,"tags":["red"]}). *row is malloc'ed and
 * NUL-terminated; free() it. GROVE_ENOTFOUND when absent or deleted. */
grove_err grove_data_get(struct grove_store *store, const char *table, const char *pk, char **row);

/* Keyset pagination in pk byte order. */
struct grove_list_query {
    const char *table;
    const char *prefix; /* NULL or "": every pk */
    const char *after;  /* NULL or "": from the first; else the last pk of the previous page */
    size_t limit;       /* 0: GROVE_DATA_LIST_DEFAULT; at most GROVE_DATA_LIST_MAX */
};

struct grove_row_entry {
    const char *pk;
    struct grove_slice row; /* the resolved row, as grove_data_get gives it */
};

/* A page of rows. It owns its strings (free with grove_msg_free). */
struct grove_row_page {
    struct grove_row_entry *rows;
    size_t count;
    const char *next; /* the pk to pass as `after` for the next page; NULL on the last */
};

grove_err grove_data_list(struct grove_store *store, const struct grove_list_query *query,
                          struct grove_row_page **page);

/* A watch: resolved-row events for one table (or a pk prefix of it), in
 * commit order. Each event carries a cursor; a watch opened with `since` set
 * to the last cursor received resumes with no gap and no duplicate. */
struct grove_watch_options {
    const char *table;
    const char *prefix; /* NULL or "": every pk */
    const char *since;  /* a cursor from an event; NULL or "": from now */
    /* Starts with one event per visible row (their cursor: where the watch
     * goes on from). A watch cut during its snapshot starts over. */
    bool snapshot;
};

struct grove_row_event {
    const char *pk;
    struct grove_slice row; /* the row after the change; ptr NULL when deleted */
    bool deleted;
    char cursor[GROVE_DATA_CURSOR_MAX];
};

/* Events of one wait. Owns its strings (free with grove_msg_free). */
struct grove_watch_batch {
    struct grove_row_event *events;
    size_t count;
};

struct grove_watch;
/* GROVE_EINVAL names a malformed cursor. */
grove_err grove_data_watch_open(struct grove_store *store, const struct grove_watch_options *opts,
                                struct grove_watch **out);
/* Blocks until rows change after the watch's cursor (woken by commits, no
 * polling) and returns their events; GROVE_ETIMEOUT after timeout_ms with
 * none, GROVE_ESHUTDOWN when the store is woken to close. */
grove_err grove_data_watch_next(struct grove_watch *watch, int timeout_ms,
                                struct grove_watch_batch **batch);
/* The cursor the watch goes on from (for a stream's first line). */
const char *grove_data_watch_cursor(const struct grove_watch *watch);
void grove_data_watch_close(struct grove_watch *watch);

/* ---- As a caller -----------------------------------------------------------
 * The calls above for a request a listener admitted (grove/sys/transport.h):
 * GROVE_EFORBIDDEN when a row or table is outside the caller's scopes
 * (docs/operations.md, "Identities"); a write is refused whole, and a
 * client identity's write is made as its node (grove_write.origin). A list
 * or a watch is narrowed to the caller's pk prefix. A NULL caller is the
 * node itself. */
struct grove_caller;
grove_err grove_data_write_as(struct grove_store *store, const struct grove_caller *caller,
                              const struct grove_write *write, struct grove_hlc *hlc);
grove_err grove_data_get_as(struct grove_store *store, const struct grove_caller *caller,
                            const char *table, const char *pk, char **row);
grove_err grove_data_list_as(struct grove_store *store, const struct grove_caller *caller,
                             const struct grove_list_query *query, struct grove_row_page **page);
grove_err grove_data_watch_open_as(struct grove_store *store, const struct grove_caller *caller,
                                   const struct grove_watch_options *opts,
                                   struct grove_watch **out);

/* ---- The JSON forms of the HTTP surface (docs/data-api.md) ------------------
 * Decoders locate what they refuse ("views: a counter takes an integer
 * delta") and take the field types from the schema: an LWW field takes any
 * JSON value, a counter an integer delta, a set {"add":[...],"remove":[...]}
 * (either may be left out). A table declared without fields takes every
 * field as LWW. */

/* A decoded write: its rows, fields, strings and slices live in its arena
 * (free with grove_msg_free). */
struct grove_write_msg {
    struct grove_write write;
};

/* PATCH body for one row: {"field": value, ...}. table and pk are copied. */
grove_err grove_data_json_decode_row(const struct grove_schema *schema, const char *table,
                                     const char *pk, const char *json, size_t len,
                                     struct grove_write_msg **out);
/* POST body for many rows of one table: {"rows":[{"pk":"...","fields":{...}}, ...]}. */
grove_err grove_data_json_decode_rows(const struct grove_schema *schema, const char *table,
                                      const char *json, size_t len, struct grove_write_msg **out);

/* {"table":..,"pk":..,"row":ROW}, "row" left out when row is NULL (a
 * delete's answer), and "hlc":{HLC} when hlc is not NULL. */
grove_err grove_data_json_encode_row(const char *table, const char *pk, const char *row,
                                     const struct grove_hlc *hlc, struct grove_buf *out);
/* A declared table: {"table":..,"fields":{"title":"lww",...},"spec":SPEC},
 * SPEC as --table takes it ("documents:title=lww,views=counter"); fields {}
 * for a table declared without fields. GROVE_EFORBIDDEN when undeclared. */
grove_err grove_data_json_encode_table(const struct grove_schema *schema, const char *table,
                                       struct grove_buf *out);
/* {"rows":[{"pk":..,"row":..},...],"next":"PK"|null} */
grove_err grove_data_json_encode_page(const struct grove_row_page *page, struct grove_buf *out);
/* {"pk":..,"row":ROW|null,"deleted":bool} */
grove_err grove_data_json_encode_event(const struct grove_row_event *event, struct grove_buf *out);

#endif
