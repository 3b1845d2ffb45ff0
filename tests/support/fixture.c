/* The unit tests' fixture (see fixture.h). */
#include "support/fixture.h"

#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "grove/data.h"
#include "grove/error.h"
#include "support/tmpdir.h"

const char *support_dir;
struct grove_schema *support_docs_schema;

void support_setup(void)
{
    support_dir = support_tmpdir_new("test");
    support_docs_schema = support_schema();
}

void support_teardown(void)
{
    grove_schema_free(support_docs_schema);
    support_docs_schema = NULL;
    if (support_dir)
        support_tmpdir_remove(support_dir);
    support_dir = NULL;
}

struct grove_schema *support_schema(void)
{
    struct grove_schema *schema;
    cr_assert_eq(grove_schema_new(&schema), GROVE_OK);
    cr_assert_eq(grove_schema_parse(schema, "docs:title=lww,body=lww,views=counter,tags=set"),
                 GROVE_OK, "%s", grove_errmsg());
    cr_assert_eq(grove_schema_parse(schema, "notes"), GROVE_OK);
    return schema;
}

struct grove_store *support_store(const char *dir, const char *node,
                                  const struct grove_schema *schema)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s.db", dir, node);
    struct grove_store_options o = {.path = path, .node_id = node, .schema = schema};
    struct grove_store *store;
    cr_assert_eq(grove_store_open(&store, &o), GROVE_OK, "open %s: %s", path, grove_errmsg());
    return store;
}

char *support_get(struct grove_store *store, const char *table, const char *pk)
{
    char *doc = NULL;
    grove_err err = grove_data_get(store, table, pk, &doc);
    if (err == GROVE_ENOTFOUND)
        return strdup("");
    cr_assert_eq(err, GROVE_OK, "get: %s", grove_errmsg());
    return doc;
}

bool support_eventually(struct grove_store *store, const char *table, const char *pk,
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

void support_serve(struct support_node *n, const char *node, const char *url)
{
    support_node_start(n, &(struct support_node_options){
                              .node_id = node,
                              .dir = support_dir,
                              .schema = support_docs_schema,
                              .url = url,
                          });
}

void support_sql_on_store_file(const char *dir, const char *node, const char *sql)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s.db", dir, node);
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK, "open %s", path);
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK, "%s: %s", sql,
                 sqlite3_errmsg(db));
    sqlite3_close(db);
}

char *support_read_file(const char *path, size_t *len)
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
