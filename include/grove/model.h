/* The sync data model: hybrid logical clocks, field-level change records and
 * the four wire messages (docs/protocol.md §2-§5). Messages decoded or produced by libgrove
 * live in one arena each: every string and array they point to is freed with
 * the message by grove_msg_free(). */
#ifndef GROVE_MODEL_H
#define GROVE_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "grove/error.h"

#define GROVE_NODE_ID_MAX 63 /* bytes, without the NUL */

/* Hybrid logical clock value. Ordered by ts, then c, then node (byte-wise).
 * The zero HLC (all zero, node "") sorts first and means "from the start". */
struct grove_hlc {
    int64_t ts; /* nanoseconds since the Unix epoch; this node ticks in µs */
    uint32_t c; /* orders events within one tick */
    char node[GROVE_NODE_ID_MAX + 1];
};

int grove_hlc_compare(const struct grove_hlc *a, const struct grove_hlc *b);
bool grove_hlc_is_zero(const struct grove_hlc *h);
/* Fails with GROVE_EINVAL when node is longer than GROVE_NODE_ID_MAX. */
grove_err grove_hlc_set_node(struct grove_hlc *h, const char *node);

enum grove_crdt {
    GROVE_CRDT_NONE = 0, /* only on tombstones: Grove's Go server sends "" */
    GROVE_CRDT_LWW,
    GROVE_CRDT_COUNTER,
    GROVE_CRDT_SET,
};
/* "lww", "counter", "set", or "" for NONE. */
const char *grove_crdt_name(enum grove_crdt crdt);
/* Parses a crdt_type; "" gives GROVE_CRDT_NONE. GROVE_EINVAL when unknown. */
grove_err grove_crdt_parse(const char *text, size_t len, enum grove_crdt *out);

enum grove_set_op {
    GROVE_SET_NONE = 0,
    GROVE_SET_ADD,
    GROVE_SET_REMOVE,
};

/* Raw JSON text, passed through byte-exact. Not NUL-terminated in general. */
struct grove_slice {
    const char *ptr;
    size_t len;
};

/* One field-level change. A row delete has tombstone = true; its field and
 * crdt are then informational ("_tombstone"/"" or ""/"lww"). */
struct grove_change {
    const char *table;
    const char *pk;
    const char *field;
    enum grove_crdt crdt;
    struct grove_hlc hlc;
    const char *node_id;      /* the node that made the change */
    struct grove_slice value; /* raw JSON; ptr NULL when absent */
    bool tombstone;
    bool has_counter;    /* counter_delta present */
    int64_t counter_inc; /* origin's running totals, never negative */
    int64_t counter_dec;
    enum grove_set_op set_op; /* GROVE_SET_NONE when absent */
    struct grove_slice *elements;
    size_t element_count;
};

/* Which records a pull or a stream returns (docs/protocol.md §4, "filter"):
 * exact pks, exact fields and a pk prefix (a groved extension), each
 * ignored when empty. Row deletes pass the field filter whatever their
 * field, so a field-filtered client still sees rows go. The cursor moves
 * past what is left out, as past echoes. */
struct grove_pull_filter {
    const char **pks;
    size_t pk_count;
    const char **fields;
    size_t field_count;
    const char *pk_prefix; /* NULL or "": none */
    /* pks and fields are in strcmp order (grove_pull_filter_sort): a look-up
     * bisects instead of comparing every entry. */
    bool sorted;
};
#define GROVE_FILTER_ENTRIES_MAX 1000 /* per list */
#define GROVE_FILTER_STRING_MAX  1024 /* bytes of a pk, a field or the prefix */

/* Whether the filter is set at all (f may be NULL). */
bool grove_pull_filter_active(const struct grove_pull_filter *f);
/* Whether a record of `pk` and `field` (tombstone: a row delete) passes f
 * (NULL passes everything). */
bool grove_pull_filter_match(const struct grove_pull_filter *f, const char *pk, const char *field,
                             bool tombstone);
/* GROVE_EINVAL with a located message ("filter.pk_filter[3]: ...") for an
 * empty or too long string or too many entries: the checks every codec's
 * decoded pull request passes. */
grove_err grove_pull_filter_check(const struct grove_pull_filter *f);
/* *out as `in` with its lists sorted, in *storage (malloc'ed, the caller
 * frees it; NULL when the lists are short enough to be read through). */
grove_err grove_pull_filter_sort(const struct grove_pull_filter *in, struct grove_pull_filter *out,
                                 const char ***storage);
/* Deep copy of `in` into msg's arena. */
grove_err grove_pull_filter_copy(void *msg, const struct grove_pull_filter *in,
                                 struct grove_pull_filter *out);

struct grove_caller; /* grove/sys/transport.h */

struct grove_pull_request {
    const char **tables;
    size_t table_count;
    struct grove_hlc since;
    const char *node_id;
    uint32_t limit; /* 0: the server's default page size */
    struct grove_pull_filter filter;
    /* Not on the wire: the client's address, as the serving transport told
     * grove_serve_from ("127.0.0.1:40112"); NULL when unknown. Borrowed. */
    const char *peer_addr;
    /* Not on the wire: who asks (grove/sys/transport.h); NULL: the node
     * itself, unchecked. Borrowed. */
    const struct grove_caller *caller;
};

/* A pull response, and also a streamed batch: `since` is the cursor the batch
 * starts after, so a receiver can tell whether it follows on from what it has. */
struct grove_pull_response {
    struct grove_change *changes;
    size_t count;
    struct grove_hlc since; /* not on the JSON pull wire; used by streams */
    struct grove_hlc latest_hlc;
    bool has_more;
};

struct grove_push_request {
    struct grove_change *changes;
    size_t count;
    const char *node_id;
    const char *peer_addr;             /* not on the wire: as in grove_pull_request */
    const struct grove_caller *caller; /* not on the wire: as in grove_pull_request */
};

struct grove_push_response {
    uint64_t merged;
    struct grove_hlc latest_hlc;
};

/* Message allocation. Each grove_*_new returns a zeroed message that owns an
 * arena; grove_msg_alloc/strndup allocate inside it, so producers (codecs,
 * transports, the store) build messages without separate frees. */
grove_err grove_pull_request_new(struct grove_pull_request **out);
grove_err grove_pull_response_new(struct grove_pull_response **out);
grove_err grove_push_request_new(struct grove_push_request **out);
grove_err grove_push_response_new(struct grove_push_response **out);
/* Any other message: `size` zeroed bytes heading an arena of their own. */
grove_err grove_msg_new(size_t size, void **out);

/* Allocates size zeroed bytes (8-aligned) owned by msg; NULL when out of memory. */
void *grove_msg_alloc(void *msg, size_t size);
/* Copies n bytes plus a NUL into msg's arena; NULL when out of memory. */
char *grove_msg_strndup(void *msg, const char *s, size_t n);
/* Grows an array of changes owned by msg to hold at least `want` entries,
 * keeping what is there. *changes and *cap are updated. */
grove_err grove_msg_reserve_changes(void *msg, struct grove_change **changes, size_t *cap,
                                    size_t want);
/* Frees a message from grove_*_new and everything allocated in it. NULL is a no-op. */
void grove_msg_free(void *msg);

#define grove_pull_request_free(m)  grove_msg_free(m)
#define grove_pull_response_free(m) grove_msg_free(m)
#define grove_push_request_free(m)  grove_msg_free(m)
#define grove_push_response_free(m) grove_msg_free(m)

/* Growable byte buffer for encoders. Zero-initialise; free with grove_buf_free. */
struct grove_buf {
    char *data;
    size_t len;
    size_t cap;
};
grove_err grove_buf_reserve(struct grove_buf *b, size_t extra);
grove_err grove_buf_append(struct grove_buf *b, const void *data, size_t len);
void grove_buf_free(struct grove_buf *b);

#endif
