/* Echo rules (docs/design.md, "Echo rules"): what a page or a push leaves
 * out, and the cursor moves that spare reading echoes back.
 *
 * A change is never sent back to the peer it came from; every other change
 * travels on (a change c made and b passed to us goes to every peer but b,
 * c included: its origin could have been claimed by anyone, and c merging a
 * change it holds changes nothing). A page that leaves echoes out still moves its
 * cursor past them: the peer has them already. Exception: a pull from the
 * zero cursor is not echo-filtered, so a replica rebuilt under its old node
 * id gets its own rows back; an empty store pulling from the zero cursor
 * names no node on any page until that catch-up has paged to the end. And a
 * batch from node X moves the caught-up push cursor of every peer known as X
 * past it (a pulled page moves its peer's even before the peer's node id is
 * known), so what came from X is not read back only to be filtered out. */
#ifndef GROVE_CORE_STORE_ECHO_H
#define GROVE_CORE_STORE_ECHO_H

#include "grove/store.h"

/* The node whose echoes a page for `requester` (a pull or a stream) leaves
 * out, reading after `since`: NULL, no filter, from the zero cursor or when
 * the requester names no node. */
const char *grove_store_echo_pull_exclude(const struct grove_hlc *since, const char *requester);

/* The node id our pulls from the peer of `c` name: "" while catching up (a
 * zero c->pull into an empty store sets c->catching_up; the puller clears it
 * after the last page), our own otherwise. Takes the store's lock. */
const char *grove_store_echo_pull_node(struct grove_store *store, struct grove_peer_cursors *c);

/* The node whose echoes a push to the peer of `c` leaves out: the peer's once
 * learned, else NULL. */
const char *grove_store_echo_push_exclude(const struct grove_peer_cursors *c);

/* Whether a stored change made by `origin` and received from `src` ("" when
 * local) is an echo for `exclude` (NULL: nothing is): received from it. */
bool grove_store_echo_is(const char *origin, const char *src, const char *exclude);

#endif
