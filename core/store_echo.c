/* The echo rules stated in store_echo.h, all of them: what pages and pushes
 * leave out, and the push cursors that move past a peer's own batches. */
#include <string.h>

#include "store_echo.h"
#include "store_internal.h"

const char *grove_store_echo_pull_exclude(const struct grove_hlc *since, const char *requester)
{
    if (grove_hlc_is_zero(since) || !requester || !requester[0])
        return NULL;
    return requester;
}

const char *grove_store_echo_pull_node(struct grove_store *store, struct grove_peer_cursors *c)
{
    struct grove_hlc own_latest;
    grove_store_latest(store, &own_latest);
    if (grove_hlc_is_zero(&c->pull) && grove_hlc_is_zero(&own_latest))
        c->catching_up = true;
    return c->catching_up ? "" : store->node_id;
}

const char *grove_store_echo_push_exclude(const struct grove_peer_cursors *c)
{
    return c->peer_node[0] ? c->peer_node : NULL;
}

bool grove_store_echo_is(const char *origin, const char *src, const char *exclude)
{
    (void)origin; /* an origin can be claimed by anyone: only the source tells */
    return exclude && strcmp(src, exclude) == 0;
}

/* A push cursor that was at `before`, the newest arrival stamp before the
 * batch, had nothing left to send: for a peer known as `src` (the batch was
 * pushed by it or pulled from it) the batch is all echoes, so the cursor
 * moves past it. */
grove_err grove_store_skip_echoes(struct grove_store *store, const char *src,
                                  const struct grove_hlc *before,
                                  const struct grove_apply_report *report)
{
    if (!src[0] || !report->merged)
        return GROVE_OK;
    sqlite3_stmt *st = store->cursor_skip;
    sqlite3_bind_int64(st, 1, report->latest.ts);
    sqlite3_bind_int64(st, 2, report->latest.c);
    sqlite3_bind_text(st, 3, src, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, before->ts);
    sqlite3_bind_int64(st, 5, before->c);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? GROVE_OK : grove_store_sqlite_error(store, "move push cursors");
}

/* The pulled page's peer is caught up the same way, also while its node id
 * is not known yet. */
grove_err grove_store_pulled_cursors(struct grove_store *store, const struct store_pulled *pulled,
                                     const struct grove_hlc *before,
                                     const struct grove_apply_report *report,
                                     struct grove_peer_cursors *out)
{
    *out = *pulled->cursors;
    if (report->merged && out->push.ts == before->ts && out->push.c == before->c)
        out->push = report->latest;
    return grove_store_write_cursors(store, pulled->peer, out);
}
