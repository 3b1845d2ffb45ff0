/* A serving node for tests: a grove_node with a store, a server over it and
 * one listener at a URL. */
#ifndef GROVE_TESTS_SUPPORT_NODE_H
#define GROVE_TESTS_SUPPORT_NODE_H

#include <limits.h>
#include <stddef.h>

#include "grove/node.h"

struct support_node_options {
    const char *node_id; /* NULL: "server" */
    /* Where the SQLite file (<node_id>.db) goes; NULL: a temporary directory
     * of the node's own, removed by support_node_stop. */
    const char *dir;
    const struct grove_schema *schema;         /* borrowed; NULL: declare `tables` */
    const char *const *tables;                 /* NULL-terminated table specs, when no schema */
    const struct grove_server_options *server; /* may be NULL */
    const struct grove_listen_options *listen; /* may be NULL */
    /* Where to serve: as given, or with "%d" standing for a free loopback
     * port, a fresh one after each GROVE_EUNAVAIL (port taken). */
    const char *url;
    /* Instead of url: writes the attempt-th URL to try (attempt counts up
     * from 0 after each GROVE_EUNAVAIL). */
    void (*url_fn)(char *url, size_t cap, int attempt);
};

struct support_node {
    char url[256];               /* where it serves */
    char path[PATH_MAX];         /* its SQLite file */
    const char *dir;             /* its own temporary directory; NULL when given one */
    struct grove_schema *schema; /* declared from opts->tables; NULL when given one */
    struct grove_node node;      /* the store, the server and the listener */
};

/* Starts n; asserts (naming the URL) when it cannot. */
void support_node_start(struct support_node *n, const struct support_node_options *opts);
/* Stops the node (grove_node_close), frees its schema and removes its own
 * directory. Stopping twice is harmless. */
void support_node_stop(struct support_node *n);

#endif
