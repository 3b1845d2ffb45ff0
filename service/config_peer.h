/* A peer setting, "URL [tables=a,b] [prefix=p]": the URL and what is synced
 * with that peer (docs/operations.md, "Peers that sync part of the data"). */
#ifndef GROVED_CONFIG_PEER_H
#define GROVED_CONFIG_PEER_H

#include <stddef.h>

#include "grove/error.h"
#include "grove/syncer.h"

struct groved_peer_scope {
    const char *spec;    /* the setting as given, to tell a changed one on reload */
    const char *where;   /* where it was given, for messages about its tables */
    const char **tables; /* table_count names; NULL/0: every synced table */
    size_t table_count;
    const char *prefix; /* NULL: every pk */
};

/* Parses value into *url and *scope, their strings in *block (one malloc'ed
 * block the caller frees, also on failure). GROVE_EINVAL names the bad part;
 * the URL itself is checked by the caller. */
grove_err groved_peer_parse(const char *value, const char **url, struct groved_peer_scope *scope,
                            char **block);

/* The scope as the syncer takes it (grove/syncer.h), borrowing scope's strings. */
struct grove_sync_scope groved_peer_sync_scope(const struct groved_peer_scope *scope);

#endif
