/* A node's parts and the order they stop in (see grove/node.h). Only public
 * calls: the transports behind the listeners stay out of the core. */
#include "grove/node.h"
#include "grove/error.h"

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
