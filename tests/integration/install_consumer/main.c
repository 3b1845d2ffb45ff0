/* A program that embeds a node, built against an installed libgrove only
 * (tests/integration/install_test.py builds it with pkg-config and with
 * find_package(grove)). It opens a node whose store is DIR/consumer.db,
 * serving on the HTTP URL given (the HTTP transport comes from libgrove too),
 * writes one row through the Data API and prints it as read back.
 *
 *   install_consumer DIR HTTP_LISTEN_URL   -> prints "groved VERSION" and the row */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grove/grove.h"
#include "grove/transport_http.h"
#include "grove/version.h"

static int consumer_fail(const char *what)
{
    fprintf(stderr, "install_consumer: %s: %s\n", what, grove_errmsg());
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: install_consumer DIR HTTP_LISTEN_URL\n");
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/consumer.db", argv[1]);
    printf("groved %s\n", GROVE_VERSION);

    if (grove_transport_register(grove_transport_http()))
        return consumer_fail("registering the HTTP transport");
    struct grove_schema *schema = NULL;
    if (grove_schema_new(&schema) ||
        grove_schema_parse(schema, "documents:title=lww,views=counter,tags=set"))
        return consumer_fail("declaring the table");

    struct grove_node node = {0};
    struct grove_node_listener listener = {.url = argv[2]};
    struct grove_node_options opts = {
        .store = {.path = path, .node_id = "consumer", .schema = schema},
        .listeners = &listener,
        .listener_count = 1,
    };
    if (grove_node_open(&node, &opts)) {
        grove_schema_free(schema);
        return consumer_fail("opening the node");
    }

    const char *title = "\"installed\"";
    const struct grove_slice tag = {"\"red\"", 5};
    const struct grove_field_write fields[] = {
        {.field = "title", .value = {title, strlen(title)}},
        {.field = "views", .delta = 3},
        {.field = "tags", .add = &tag, .add_count = 1},
    };
    const struct grove_row_write row = {
        .table = "documents", .pk = "doc-1", .fields = fields, .field_count = 3};
    const struct grove_write write = {.rows = &row, .row_count = 1};
    char *back = NULL;
    int rc = 0;
    if (grove_node_write(&node, &write, NULL))
        rc = consumer_fail("writing doc-1");
    else if (grove_node_get(&node, "documents", "doc-1", &back))
        rc = consumer_fail("reading doc-1 back");
    else
        printf("%s\n", back);
    free(back);
    grove_node_close(&node);
    grove_schema_free(schema);
    return rc;
}
