/* The usual per-test fixture of the unit tests, for
 * TestSuite(x, .init = support_setup, .fini = support_teardown): a temporary
 * directory and the docs/notes schema; and small helpers over stores. */
#ifndef GROVE_TESTS_SUPPORT_FIXTURE_H
#define GROVE_TESTS_SUPPORT_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>

#include "grove/schema.h"
#include "grove/store.h"
#include "support/node.h"

/* Set by support_setup for the test that runs. */
extern const char *support_dir;
extern struct grove_schema *support_docs_schema;

void support_setup(void);
void support_teardown(void);

/* A schema with docs(title lww, body lww, views counter, tags set) and notes (loose). */
struct grove_schema *support_schema(void);
/* Node `node`'s store in dir/<node>.db. */
struct grove_store *support_store(const char *dir, const char *node,
                                  const struct grove_schema *schema);
/* The resolved row as a string ("" when absent); the caller frees. */
char *support_get(struct grove_store *store, const char *table, const char *pk);
/* Waits (bounded: 5 s) until table/pk on store resolves to want. */
bool support_eventually(struct grove_store *store, const char *table, const char *pk,
                        const char *want);
/* Node `node` (its store in support_dir, over support_docs_schema) serving
 * at url; support_node_stop stops it. */
void support_serve(struct support_node *n, const char *node, const char *url);

/* Runs sql on dir/<node>.db with a connection of its own (the store
 * closed): to make a file look as an older groved left it. */
void support_sql_on_store_file(const char *dir, const char *node, const char *sql);
/* Reads a whole file, NUL-terminated; the caller frees. */
char *support_read_file(const char *path, size_t *len);

#endif
