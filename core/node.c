/* A node's parts, the order they open in and the order they stop in (see
 * grove/node.h). Only public calls: the transports behind the listeners and
 * peers stay out of the core. */
#include "grove/node.h"

#include <stdio.h>

#include "grove/error.h"
#include "grove/sys/error.h"

grove_err grove_node_listen(struct grove_node *node, const char *url,
                            const struct grove_listen_options *opts)
{
    if (!node->server)
        return grove_error_set(GROVE_EINVAL, "listen on %s: the node has no server", url);
    if (node->listener_count == GROVE_NODE_LISTENERS_MAX)
        return grove_error_set(GROVE_EINVAL, "listen on %s: a node holds at most %d listeners", url,
                               GROVE_NODE_LISTENERS_MAX);
    grove_err err =
        grove_listener_open(&node->listeners[node->listener_count], url, node->server, opts);
    if (err)
        return err;
    node->listener_count++;
    return GROVE_OK;
}

/* The syncer, its peers, and its background rounds when asked for. */
static grove_err node_open_syncer(struct grove_node *node, const struct grove_node_options *opts)
{
    grove_err err = grove_syncer_new(&node->syncer, node->store, &opts->syncer);
    for (size_t i = 0; !err && i < opts->peer_count; i++) {
        const struct grove_node_peer *p = &opts->peers[i];
        err = grove_syncer_add_peer_scoped(node->syncer, p->url, p->opts, p->scope);
        if (err)
            grove_error_prefix(err, "peer %s: ", p->url);
    }
    if (!err && opts->start_syncer) {
        err = grove_syncer_start(node->syncer, opts->report_fn, opts->report_user);
        if (err)
            grove_error_prefix(err, "cannot start the syncer: ");
    }
    return err;
}

grove_err grove_node_open(struct grove_node *node, const struct grove_node_options *opts)
{
    *node = (struct grove_node){0};
    grove_err err = grove_store_open(&node->store, &opts->store);
    if (err)
        goto fail;
    if (opts->serve || opts->listener_count > 0) {
        err = grove_server_new(&node->server, node->store, &opts->server);
        if (err)
            goto fail;
    }
    for (size_t i = 0; i < opts->listener_count; i++) {
        err = grove_node_listen(node, opts->listeners[i].url, opts->listeners[i].opts);
        if (err)
            goto fail;
    }
    if (opts->sync || opts->peer_count > 0) {
        err = node_open_syncer(node, opts);
        if (err)
            goto fail;
    }
    if (node->server)
        grove_server_set_ready(node->server, true);
    return GROVE_OK;
fail:;
    /* Closing may set messages of its own: err's is the one to keep. */
    char message[1024];
    snprintf(message, sizeof message, "%s", grove_errmsg());
    int native = grove_errnative();
    grove_node_close(node);
    return grove_error_set_native(err, native, "%s", message);
}

void grove_node_close(struct grove_node *node)
{
    /* First, so no new round starts: grove_syncer_free stops a running
     * syncer (joining its threads) and is fine with one never started. */
    grove_syncer_free(node->syncer);
    node->syncer = NULL;
    /* Before the listeners: a listener's close joins its in-flight calls,
     * and an open stream only returns once the server wakes it. */
    if (node->server)
        grove_server_shutdown(node->server);
    for (size_t i = node->listener_count; i > 0; i--) {
        grove_listener_close(node->listeners[i - 1]);
        node->listeners[i - 1] = NULL;
    }
    node->listener_count = 0;
    grove_server_free(node->server);
    node->server = NULL;
    grove_store_close(node->store);
    node->store = NULL;
}

static grove_err node_has_store(const struct grove_node *node)
{
    return node->store ? GROVE_OK : grove_error_set(GROVE_EINVAL, "the node has no store open");
}

grove_err grove_node_write(struct grove_node *node, const struct grove_write *write,
                           struct grove_hlc *hlc)
{
    grove_err err = node_has_store(node);
    return err ? err : grove_data_write(node->store, write, hlc);
}

grove_err grove_node_get(struct grove_node *node, const char *table, const char *pk, char **row)
{
    *row = NULL;
    grove_err err = node_has_store(node);
    return err ? err : grove_data_get(node->store, table, pk, row);
}

grove_err grove_node_list(struct grove_node *node, const struct grove_list_query *query,
                          struct grove_row_page **page)
{
    *page = NULL;
    grove_err err = node_has_store(node);
    return err ? err : grove_data_list(node->store, query, page);
}

grove_err grove_node_watch_open(struct grove_node *node, const struct grove_watch_options *opts,
                                struct grove_watch **out)
{
    *out = NULL;
    grove_err err = node_has_store(node);
    return err ? err : grove_data_watch_open(node->store, opts, out);
}
