/* What the conformance cases share (conformance.c, conformance_identity.c). */
#ifndef GROVE_TESTS_CONFORMANCE_SUPPORT_H
#define GROVE_TESTS_CONFORMANCE_SUPPORT_H

#include "conformance/conformance.h"
#include "support/node.h"

#define CONF_TABLES      "docs:title=lww,views=counter,tags=set"
#define CONF_OTHER_TABLE "notes:body=lww" /* declared, for scopes that leave it out */

/* A serving node on a fresh store of its own, listening where the fixture
 * says, with the fixture's listen options and `extra`'s non-zero ones
 * (token, max_body, keepalive_ms, access, ca_file). */
void conf_node_start(struct support_node *n, const struct conformance_fixture *f,
                     const struct grove_listen_options *extra);
struct grove_peer *conf_dial(const struct conformance_fixture *f, const char *url,
                             const char *token, int timeout_ms);
void conf_setup(const struct conformance_fixture *f);
/* A push of n lww changes to docs/<pk>.title from node "client", pks
 * doc-<first>..doc-<first+n-1> (zero-padded, so pk order is numeric order). */
struct grove_push_request *conf_push_lww(size_t first, size_t n, size_t value_pad);
/* A pull of docs after since by node "reader"; asserts it succeeds. */
struct grove_pull_response *conf_pull(struct grove_peer *peer, const struct grove_hlc *since,
                                      uint32_t limit);

#endif
