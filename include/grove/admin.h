/* The admin API of a node (docs/operations.md): its status, a sync round
 * now, an online backup. Free of any network code: transports map a request
 * onto these and send the JSON back (transport_http/http_admin.c). */
#ifndef GROVE_ADMIN_H
#define GROVE_ADMIN_H

#include <stdint.h>

#include "grove/node.h"

struct grove_admin;

struct grove_admin_options {
    const char *version;          /* reported as is */
    const char *const *listeners; /* the node's listener URLs, reported */
    size_t listener_count;
    const char *admin_listener; /* the admin-only listener's URL, or NULL */
};

/* An admin over node, which it borrows (a node opened later is fine: the
 * parts are looked at on every call). Strings are copied. */
grove_err grove_admin_new(struct grove_admin **out, struct grove_node *node,
                          const struct grove_admin_options *opts);
void grove_admin_free(struct grove_admin *admin);

/* {"node_id","version","uptime_s","ready","restored","tables":[{"name","fields":[{"name","type"}]}],
 *  "listeners":[..],"admin_listener","peers":[{"url","node_id","transport","up","tried",
 *  "last_success","last_error_at","last_error","pending","pending_more","stream"}]} */
grove_err grove_admin_status(struct grove_admin *admin, struct grove_buf *out);
/* One round with every peer, or only the one whose URL is peer (not NULL;
 * GROVE_ENOTFOUND when none is): {"peers":[{"url","pulled","pushed","merged",
 * "conflicts","error","message","duration_ms"}]}. Waits for a round in
 * flight with that peer first (rounds with one peer never overlap). */
grove_err grove_admin_sync(struct grove_admin *admin, const char *peer, struct grove_buf *out);
/* Puts syncer in node->syncer (a reload's new peers) once no admin call
 * uses the old one, and returns the old one, for the caller to free. */
struct grove_syncer *grove_admin_swap_syncer(struct grove_admin *admin,
                                             struct grove_syncer *syncer);
/* grove_store_backup into path; *bytes gets the copy's size. */
grove_err grove_admin_backup(struct grove_admin *admin, const char *path, int64_t *bytes);

#endif
