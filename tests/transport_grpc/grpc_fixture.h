/* Helpers for the gRPC transport tests: a node (store + server + listener)
 * on a free 127.0.0.1 port, TLS files, and raw gRPC calls that send bytes no
 * grove client would. */
#ifndef GROVE_TESTS_GRPC_FIXTURE_H
#define GROVE_TESTS_GRPC_FIXTURE_H

#include "grove/node.h"
#include "grove/server.h"
#include "grove/transport.h"

/* Registers the gRPC transport once. */
void grpc_fixture_register(void);
/* A port nothing listens on right now (bound and released). */
int grpc_fixture_free_port(void);
/* A fresh temporary directory (mkdtemp) in dir[64]. */
void grpc_fixture_tmpdir(char *dir);

/* TLS files under dir: ca.pem, server.pem/server.key (for 127.0.0.1 and
 * localhost), client.pem/client.key, all signed by ca. Generated once per
 * process with openssl. */
struct grpc_fixture_tls {
    char ca[128], cert[128], key[128], client_cert[128], client_key[128];
};
const struct grpc_fixture_tls *grpc_fixture_tls(void);

struct grpc_node {
    char dir[64];
    char url[96];
    struct grove_schema *schema;
    struct grove_node node; /* serves url */
};
/* Starts a node "srv" declaring documents:title=lww,views=counter,tags=set
 * listening on scheme://127.0.0.1:<free port>. opts may be NULL; hooks too. */
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
