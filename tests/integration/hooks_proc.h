/* What tests/integration/hooks_*_test.c share: groved nodes with a loose
 * table "notes", pushes of hand-made change records, Data API reads and
 * waits on files, over groved_proc.h. Assertions are Criterion's. */
#ifndef GROVE_TESTS_HOOKS_PROC_H
#define GROVE_TESTS_HOOKS_PROC_H

#include <stdbool.h>
#include <stddef.h>

#include "integration/groved_proc.h"

#define HK_PLUGINS      GROVE_BINARY_DIR "/tests/plugins/"
#define HK_RECORD       HK_PLUGINS "record.so"
#define HK_REFUSE       HK_PLUGINS "refuse.so"
#define HK_NO_INIT      HK_PLUGINS "no_init.so"
#define HK_OTHER_ABI    HK_PLUGINS "other_abi.so"
#define HK_DROP_PRIVATE GROVE_BINARY_DIR "/plugins/drop_private.so"

/* An HTTP answer: status, Retry-After ("" when absent), body (NUL-ended). */
struct hk_reply {
    long status;
    char retry_after[32];
    char body[65536];
};

/* gd_prepare, plus the table "notes" (any field) and rounds an hour apart,
 * so that only live paths (streams, pushes on commit) move changes after
 * the first round. */
void hk_prepare(struct gd *g, const char *node, const char *dir);
/* gd_start, asserting that g got ready (its log is named). */
void hk_start(struct gd *g);

/* Pushes lww changes to notes as client `node`: (pk, field, JSON value)
 * triples, NULL-terminated, each with a fresh HLC. Returns the status. */
long hk_push(const struct gd *g, const char *node, struct hk_reply *r, ...);
/* GET /v1/tables/notes/rows/<pk>: 200 or 404. */
long hk_get(const struct gd *g, const char *pk, struct hk_reply *r);
/* PATCH /v1/tables/notes/rows/<pk> with a JSON object of fields. */
long hk_patch(const struct gd *g, const char *pk, const char *fields, struct hk_reply *r);
/* POST /sync/pull of every table from the start, as node "reader". */
long hk_pull(const struct gd *g, struct hk_reply *r);
/* Polls hk_get until 200 or timeout_s. */
bool hk_wait_row(const struct gd *g, const char *pk, int timeout_s);
/* Expects the row's resolved form to be exactly `row` (a JSON object). */
void hk_expect_row(const struct gd *g, const char *pk, const char *row);

bool hk_file_has(const char *path, const char *needle);
/* Some line of path holds both. */
bool hk_file_has_both(const char *path, const char *a, const char *b);
bool hk_wait_file(const char *path, const char *needle, int timeout_s);
/* Polls until some line of path holds both, or timeout_s: for what a hook
 * writes after the commit that made a row visible (after_inbound). */
bool hk_wait_file_both(const char *path, const char *a, const char *b, int timeout_s);
/* Lines of path holding want[0], want[1], ... in this order (others between). */
void hk_expect_lines_in_order(const char *path, const char *const *want, size_t n);
/* Lines of path holding needle. */
size_t hk_count_lines(const char *path, const char *needle);
/* Returns once `sub` applied a change from `pub` through its stream (its
 * audit log, at audit, says stream_applied): pushes warm-up rows to pub. */
void hk_wait_stream(const struct gd *pub, const struct gd *sub, const char *audit);

#endif
