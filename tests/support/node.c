/* The serving-node fixture (see node.h). */
#include "support/node.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "grove/error.h"
#include "grove/schema.h"
#include "support/port.h"
#include "support/tmpdir.h"

#define SUPPORT_NODE_TRIES 50

static void support_node_url(struct support_node *n, const struct support_node_options *opts,
                             int attempt)
{
    if (opts->url_fn) {
        opts->url_fn(n->url, sizeof n->url, attempt);
    } else if (strstr(opts->url, "%d")) {
        int port = support_free_port();
        cr_assert_gt(port, 0, "no free loopback port");
        snprintf(n->url, sizeof n->url, opts->url, port);
    } else {
        snprintf(n->url, sizeof n->url, "%s", opts->url);
    }
}

void support_node_start(struct support_node *n, const struct support_node_options *opts)
{
    memset(n, 0, sizeof *n);
    const char *node_id = opts->node_id ? opts->node_id : "server";
    const char *dir = opts->dir;
    if (!dir)
        dir = n->dir = support_tmpdir_new("node");
    snprintf(n->path, sizeof n->path, "%s/%s.db", dir, node_id);
    const struct grove_schema *schema = opts->schema;
    if (!schema) {
        cr_assert_eq(grove_schema_new(&n->schema), GROVE_OK);
        for (const char *const *t = opts->tables; t && *t; t++)
            cr_assert_eq(grove_schema_parse(n->schema, *t), GROVE_OK, "%s", grove_errmsg());
        schema = n->schema;
    }
    /* A taken port fails the whole open (which closes what it opened), so
     * each try opens the node afresh. */
    struct grove_node_listener listener = {.url = n->url, .opts = opts->listen};
    struct grove_node_options o = {
        .store = {.path = n->path, .node_id = node_id, .schema = schema},
        .listeners = &listener,
        .listener_count = 1,
    };
    if (opts->server)
        o.server = *opts->server;
    grove_err err = GROVE_EUNAVAIL;
    for (int attempt = 0; attempt < SUPPORT_NODE_TRIES && err == GROVE_EUNAVAIL; attempt++) {
        support_node_url(n, opts, attempt);
        err = grove_node_open(&n->node, &o);
    }
    cr_assert_eq(err, GROVE_OK, "serve on %s: %s", n->url, grove_errmsg());
}

void support_node_stop(struct support_node *n)
{
    grove_node_close(&n->node);
    grove_schema_free(n->schema);
    n->schema = NULL;
    if (n->dir)
        support_tmpdir_remove(n->dir);
    n->dir = NULL;
}
