/* Helpers for the gRPC transport tests: a served node, raw gRPC calls that
 * send bytes no grove client would, and the names these tests know the
 * support library's ports and certificates by (tests/support). */
#ifndef GROVE_TESTS_GRPC_FIXTURE_H
#define GROVE_TESTS_GRPC_FIXTURE_H

#include "grove/hook.h"
#include "grove/node.h"
#include "grove/server.h"
#include "grove/transport.h"
#include "support/certs.h"
#include "support/node.h"
#include "support/port.h"

/* Registers the gRPC transport once. */
void grpc_fixture_register(void);
/* A port nothing listens on right now (support_free_port; asserts one was found). */
int grpc_fixture_free_port(void);

/* The test certificates: ca, cert/key (server, for 127.0.0.1 and
 * localhost), client_cert/client_key, all signed by ca. */
#define grpc_fixture_tls support_certs

/* A node "srv" declaring documents:title=lww,meta=lww,views=counter,tags=set
 * listening on scheme://127.0.0.1:<free port>: the support fixture's node. */
#define grpc_node support_node
/* opts may be NULL; hooks too. */
void grpc_node_start(struct grpc_node *n, const char *scheme,
                     const struct grove_listen_options *opts, const struct grove_hook_chain *hooks);
void grpc_node_stop(struct grpc_node *n);

/* One unary call with raw request bytes; returns the gRPC status code and
 * copies the status message into details. token may be NULL. */
int grpc_fixture_raw_call(const char *url, const char *method, const void *body, size_t len,
                          const char *token, char *details, size_t cap);

/* A TCP listener that accepts connections and never answers (fd). */
int grpc_fixture_silent_open(int *port);

#endif
