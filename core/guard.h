/* The core's side of access (grove/access.h): a listener's guard, which
 * turns what a transport received into a caller, and the checks the server
 * and the Data API make against a caller's identity (docs/operations.md,
 * "Identities"; docs/protocol.md, "Echo rule"). A NULL caller is the node
 * itself (a library call, the syncer): nothing is checked. */
#ifndef GROVE_CORE_GUARD_H
#define GROVE_CORE_GUARD_H

#include "grove/access.h"
#include "grove/model.h"
#include "grove/sys/transport.h"

/* Made by grove_listener_open with the listener's table (a reference is
 * taken) and the transport's name (borrowed: a static string). */
grove_err grove_guard_new(struct grove_guard **out, struct grove_access *access,
                          const char *transport);
/* Swaps in another table (a reference is taken) for requests from now on. */
void grove_guard_set(struct grove_guard *guard, struct grove_access *access);
void grove_guard_free(struct grove_guard *guard);

/* Whether the caller's rows are limited at all (a NULL caller, an open table
 * or an identity with every table and no prefix: not). */
bool grove_caller_limited(const struct grove_caller *caller, bool write);
/* The node a pull or stream leaves echoes out for: its identity's node; on
 * a table made from tokens (or open), the node it names (`claimed`), since a
 * false claim there keeps changes only from whoever makes it; else NULL. */
const char *grove_caller_node(const struct grove_caller *caller, const char *claimed);
/* The node recorded as the source of what a caller pushes, which pulls for
 * that node then leave out: its identity's node; the claim only from the
 * node itself (a NULL caller) or an anonymous caller on an open listener;
 * else NULL, nobody: a wrong source would keep the changes from the node it
 * names. */
const char *grove_caller_source(const struct grove_caller *caller, const char *claimed);
/* The node a client identity acts as; NULL for anyone else. */
const char *grove_caller_client_node(const struct grove_caller *caller);
/* GROVE_EFORBIDDEN naming the identity when `table` is outside the read
 * (or write) scope. */
grove_err grove_caller_check_table(const struct grove_caller *caller, const char *table,
                                   bool write);
/* Whether a row is inside the read (or write) scope. */
bool grove_caller_may(const struct grove_caller *caller, const char *table, const char *pk,
                      bool write);
/* A read scope's tables when it lists some: *tables NULL when every one. */
void grove_caller_read_tables(const struct grove_caller *caller, const char *const **tables,
                              size_t *count);
/* Whether the read scope holds every table (a NULL caller, an open table,
 * `read=*`): grove_caller_read_tables answers NULL then, and for none. */
bool grove_caller_reads_every_table(const struct grove_caller *caller);
/* A pk prefix the caller's rows must start with; NULL: none. */
const char *grove_caller_prefix(const struct grove_caller *caller);
/* Checks a whole push: the node it names and every record's origin (a
 * client's must be its node, a bound peer's push must name its node) and
 * every record inside the write scope. GROVE_EFORBIDDEN names the first
 * offence ("changes[3]: ..."), and nothing is applied. */
grove_err grove_caller_check_push(const struct grove_caller *caller,
                                  const struct grove_push_request *req);
/* The serial number of the caller's table, unique in the process (0 for
 * the node): with grove_caller_name, what tells callers' scopes apart. */
uint64_t grove_caller_serial(const struct grove_caller *caller);
/* The identity's name for a message ("edge-1"; "anonymous", "node"). */
const char *grove_caller_name(const struct grove_caller *caller);

#endif
