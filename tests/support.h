/* Shared test fixtures: a temporary directory per test and stores in it. */
#ifndef GROVE_TESTS_SUPPORT_H
#define GROVE_TESTS_SUPPORT_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "grove/grove.h"

/* A fresh temporary directory; removed with everything in it. */
static inline char *support_tmpdir(void)
{
    char *dir = strdup("/tmp/grove-test-XXXXXX");
    cr_assert(mkdtemp(dir) != NULL, "mkdtemp failed");
    return dir;
}

static inline void support_rmdir(char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    free(dir);
}

/* Reads a whole file, NUL-terminated; the caller frees. */
static inline char *support_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = malloc((size_t)n + 1);
    cr_assert_not_null(data);
    cr_assert_eq(fread(data, 1, (size_t)n, f), (size_t)n, "short read of %s", path);
    fclose(f);
    data[n] = '\0';
    *len = (size_t)n;
    return data;
}

/* A schema with docs(title lww, body lww, views counter, tags set) and notes (loose). */
static inline struct grove_schema *support_schema(void)
{
    struct grove_schema *schema;
    cr_assert_eq(grove_schema_new(&schema), GROVE_OK);
    cr_assert_eq(grove_schema_parse(schema, "docs:title=lww,body=lww,views=counter,tags=set"),
                 GROVE_OK, "%s", grove_errmsg());
    cr_assert_eq(grove_schema_parse(schema, "notes"), GROVE_OK);
    return schema;
}

static inline struct grove_store *support_store(const char *dir, const char *node,
                                                const struct grove_schema *schema)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s.db", dir, node);
    struct grove_store_options o = {.path = path, .node_id = node, .schema = schema};
    struct grove_store *store;
    cr_assert_eq(grove_store_open(&store, &o), GROVE_OK, "open %s: %s", path, grove_errmsg());
    return store;
}

/* The resolved row as a string ("" when absent); caller frees. */
static inline char *support_get(struct grove_store *store, const char *table, const char *pk)
{
    char *doc = NULL;
    grove_err err = grove_store_get(store, table, pk, &doc);
    if (err == GROVE_ENOTFOUND)
        return strdup("");
    cr_assert_eq(err, GROVE_OK, "get: %s", grove_errmsg());
    return doc;
}

/* A node with a store over schema and a server listening at url (no syncer);
 * grove_node_close stops it. */
static inline void support_serve(struct grove_node *n, const char *dir, const char *node,
                                 const struct grove_schema *schema, const char *url)
{
    *n = (struct grove_node){.store = support_store(dir, node, schema)};
    cr_assert_eq(grove_server_new(&n->server, n->store, NULL), GROVE_OK, "%s", grove_errmsg());
    cr_assert_eq(grove_node_listen(n, url, NULL), GROVE_OK, "listen %s: %s", url, grove_errmsg());
}

/* Waits (bounded: 5 s) until table/pk on store resolves to want. */
static inline bool support_eventually(struct grove_store *store, const char *table, const char *pk,
                                      const char *want)
{
    for (int i = 0; i < 500; i++) {
        char *doc = support_get(store, table, pk);
        bool same = strcmp(doc, want) == 0;
        free(doc);
        if (same)
            return true;
        usleep(10000);
    }
    return false;
}

/* The usual per-test fixture: a temporary directory and the docs/notes
 * schema, for TestSuite(x, .init = support_setup, .fini = support_teardown). */
static char *support_dir;
static struct grove_schema *support_docs_schema;

static inline void support_setup(void)
{
    support_dir = support_tmpdir();
    support_docs_schema = support_schema();
}

static inline void support_teardown(void)
{
    grove_schema_free(support_docs_schema);
    support_rmdir(support_dir);
}

#endif
