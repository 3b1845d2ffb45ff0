/* Identities and access (docs/operations.md, "Identities"): who a request
 * comes from, which node it may act as, which tables and rows it may read
 * and write, and whether it may call the admin API and /metrics.
 *
 * An access table is made once and never changed: a reload makes a new one
 * and swaps it in (grove_listener_set_access); requests in flight keep the
 * table they started with through their own reference. */
#ifndef GROVE_ACCESS_H
#define GROVE_ACCESS_H

#include <stdbool.h>
#include <stddef.h>

#include "grove/error.h"

enum grove_role {
    /* A mesh node: may relay changes of any origin. */
    GROVE_ROLE_PEER = 0,
    /* An application or edge device acting as one node id: every record it
     * pushes, and every Data API write, carries that id. */
    GROVE_ROLE_CLIENT,
};

/* Tables an identity may read or write: every declared one, or a list. */
struct grove_scope {
    bool all;
    const char *const *tables;
    size_t table_count;
};

#define GROVE_IDENTITY_SECRETS 2 /* valid at once, for rotation */

struct grove_identity {
    const char *name; /* for logs; never a secret */
    enum grove_role role;
    /* The node it acts as: required for a client; NULL for a peer that may
     * name any node (whose node id is then never trusted: see
     * docs/protocol.md, "Echo rule"). */
    const char *node;
    struct grove_scope read, write;
    const char *prefix; /* pks both scopes are limited to; NULL or "": every pk */
    bool admin;         /* the admin API and /metrics */
    /* Bearer tokens (either may be NULL), or the TLS client certificate's
     * subject DN, common name or a SAN (NULL: none). */
    const char *secrets[GROVE_IDENTITY_SECRETS];
    const char *cert_subject;
};

struct grove_access;

/* A table of `count` identities (copied; names unique; each with a secret
 * or a cert_subject, a client with a node). GROVE_EINVAL names a bad one. */
grove_err grove_access_new(struct grove_access **out, const struct grove_identity *identities,
                           size_t count);
/* The table a listener's token and admin_token stand for: NULL both, open
 * (anyone may do anything, as without auth); a token: one peer identity
 * "token" with every scope, which is also the admin unless admin_token is
 * set; admin_token: an identity "admin" with the admin flag alone (sync
 * stays open when there is no token). */
grove_err grove_access_from_tokens(struct grove_access **out, const char *token,
                                   const char *admin_token);
/* Another reference to a table; NULL stays NULL. */
struct grove_access *grove_access_ref(struct grove_access *access);
/* Drops a reference; the last frees the table. NULL is a no-op. */
void grove_access_unref(struct grove_access *access);
size_t grove_access_count(const struct grove_access *access);
/* Borrowed while the table lives. */
const struct grove_identity *grove_access_at(const struct grove_access *access, size_t index);

#endif
