/* Declared tables and field types. Small and read-mostly: linear scans over
 * a handful of tables and fields beat hashing here. */
#include <stdlib.h>
#include <string.h>

#include "grove/schema.h"
#include "grove/sys/error.h"

#define SCHEMA_NAME_MAX 128

struct schema_field {
    char *name;
    enum grove_crdt crdt;
};

struct schema_table {
    char *name;
    struct schema_field *fields;
    size_t field_count;
};

struct grove_schema {
    struct schema_table *tables;
    size_t table_count;
};

grove_err grove_schema_new(struct grove_schema **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? GROVE_OK : grove_error_set(GROVE_ENOMEM, "out of memory");
}

void grove_schema_free(struct grove_schema *schema)
{
    if (!schema)
        return;
    for (size_t i = 0; i < schema->table_count; i++) {
        struct schema_table *t = &schema->tables[i];
        for (size_t j = 0; j < t->field_count; j++)
            free(t->fields[j].name);
        free(t->fields);
        free(t->name);
    }
    free(schema->tables);
    free(schema);
}

static grove_err schema_check_name(const char *what, const char *name, size_t len)
{
    if (len == 0 || len > SCHEMA_NAME_MAX)
        return grove_error_set(GROVE_EINVAL, "%s name must be 1 to %d bytes", what,
                               SCHEMA_NAME_MAX);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (ch < 0x21 || ch > 0x7e || ch == ':' || ch == ',' || ch == '=')
            return grove_error_set(GROVE_EINVAL,
                                   "%s name \"%.*s\" has a character that is not allowed", what,
                                   (int)len, name);
    }
    return GROVE_OK;
}

static struct schema_table *schema_find(const struct grove_schema *schema, const char *table)
{
    for (size_t i = 0; i < schema->table_count; i++)
        if (strcmp(schema->tables[i].name, table) == 0)
            return &schema->tables[i];
    return NULL;
}

static grove_err schema_add_table_n(struct grove_schema *schema, const char *name, size_t len,
                                    struct schema_table **out)
{
    grove_err err = schema_check_name("table", name, len);
    if (err)
        return err;
    for (size_t i = 0; i < schema->table_count; i++) {
        struct schema_table *t = &schema->tables[i];
        if (strlen(t->name) == len && memcmp(t->name, name, len) == 0) {
            *out = t;
            return GROVE_OK;
        }
    }
    struct schema_table *grown =
        realloc(schema->tables, (schema->table_count + 1) * sizeof *schema->tables);
    if (!grown)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    schema->tables = grown;
    struct schema_table *t = &grown[schema->table_count];
    memset(t, 0, sizeof *t);
    t->name = strndup(name, len);
    if (!t->name)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    schema->table_count++;
    *out = t;
    return GROVE_OK;
}

grove_err grove_schema_add_table(struct grove_schema *schema, const char *table)
{
    struct schema_table *t;
    return schema_add_table_n(schema, table, strlen(table), &t);
}

static grove_err schema_add_field_n(struct schema_table *t, const char *name, size_t len,
                                    enum grove_crdt crdt)
{
    grove_err err = schema_check_name("field", name, len);
    if (err)
        return err;
    if (crdt == GROVE_CRDT_NONE)
        return grove_error_set(GROVE_EINVAL, "field %.*s needs a type: lww, counter or set",
                               (int)len, name);
    for (size_t i = 0; i < t->field_count; i++) {
        if (strlen(t->fields[i].name) == len && memcmp(t->fields[i].name, name, len) == 0) {
            if (t->fields[i].crdt != crdt)
                return grove_error_set(GROVE_EINVAL,
                                       "field %s.%.*s declared twice with different types", t->name,
                                       (int)len, name);
            return GROVE_OK;
        }
    }
    struct schema_field *grown = realloc(t->fields, (t->field_count + 1) * sizeof *t->fields);
    if (!grown)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    t->fields = grown;
    grown[t->field_count].name = strndup(name, len);
    if (!grown[t->field_count].name)
        return grove_error_set(GROVE_ENOMEM, "out of memory");
    grown[t->field_count].crdt = crdt;
    t->field_count++;
    return GROVE_OK;
}

grove_err grove_schema_add_field(struct grove_schema *schema, const char *table, const char *field,
                                 enum grove_crdt crdt)
{
    struct schema_table *t;
    grove_err err = schema_add_table_n(schema, table, strlen(table), &t);
    return err ? err : schema_add_field_n(t, field, strlen(field), crdt);
}

grove_err grove_schema_parse(struct grove_schema *schema, const char *spec)
{
    const char *colon = strchr(spec, ':');
    size_t table_len = colon ? (size_t)(colon - spec) : strlen(spec);
    struct schema_table *t;
    grove_err err = schema_add_table_n(schema, spec, table_len, &t);
    if (err || !colon)
        return err ? grove_error_prefix(err, "table spec \"%s\": ", spec) : GROVE_OK;
    for (const char *p = colon + 1; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (!eq)
            return grove_error_set(GROVE_EINVAL,
                                   "table spec \"%s\": expected field=type, got \"%.*s\"", spec,
                                   (int)len, p);
        enum grove_crdt crdt;
        err = grove_crdt_parse(eq + 1, len - (size_t)(eq + 1 - p), &crdt);
        if (!err)
            err = schema_add_field_n(t, p, (size_t)(eq - p), crdt);
        if (err)
            return grove_error_prefix(err, "table spec \"%s\": ", spec);
        p += len + (end ? 1 : 0);
    }
    return GROVE_OK;
}

bool grove_schema_has_table(const struct grove_schema *schema, const char *table)
{
    return schema_find(schema, table) != NULL;
}

bool grove_schema_has_fields(const struct grove_schema *schema, const char *table)
{
    const struct schema_table *t = schema_find(schema, table);
    return t && t->field_count > 0;
}

enum grove_crdt grove_schema_field_type(const struct grove_schema *schema, const char *table,
                                        const char *field)
{
    const struct schema_table *t = schema_find(schema, table);
    if (t)
        for (size_t i = 0; i < t->field_count; i++)
            if (strcmp(t->fields[i].name, field) == 0)
                return t->fields[i].crdt;
    return GROVE_CRDT_NONE;
}

const char *grove_schema_field_at(const struct grove_schema *schema, const char *table, size_t i,
                                  enum grove_crdt *crdt)
{
    const struct schema_table *t = schema_find(schema, table);
    if (!t || i >= t->field_count)
        return NULL;
    *crdt = t->fields[i].crdt;
    return t->fields[i].name;
}

size_t grove_schema_table_count(const struct grove_schema *schema)
{
    return schema->table_count;
}

const char *grove_schema_table_name(const struct grove_schema *schema, size_t i)
{
    return i < schema->table_count ? schema->tables[i].name : NULL;
}

grove_err grove_schema_check_change(const struct grove_schema *schema,
                                    const struct grove_change *change)
{
    const struct schema_table *t = schema_find(schema, change->table);
    if (!t)
        return grove_error_set(GROVE_EFORBIDDEN, "table \"%s\" is not declared", change->table);
    if (!change->pk || !change->pk[0])
        return grove_error_set(GROVE_EINVAL, "pk: must not be empty");
    if (change->tombstone)
        return GROVE_OK; /* field and crdt_type are informational on row deletes */
    if (!change->field || !change->field[0])
        return grove_error_set(GROVE_EINVAL, "field: must not be empty");
    if (t->field_count) {
        enum grove_crdt declared = grove_schema_field_type(schema, change->table, change->field);
        if (declared == GROVE_CRDT_NONE)
            return grove_error_set(GROVE_EINVAL, "field: %s.%s is not declared", change->table,
                                   change->field);
        if (declared != change->crdt)
            return grove_error_set(GROVE_EINVAL, "crdt_type: %s.%s is declared %s, not \"%s\"",
                                   change->table, change->field, grove_crdt_name(declared),
                                   grove_crdt_name(change->crdt));
    }
    switch (change->crdt) {
    case GROVE_CRDT_LWW:
        if (!change->value.ptr)
            return grove_error_set(GROVE_EINVAL, "value: missing on an lww change");
        break;
    case GROVE_CRDT_COUNTER:
        if (!change->has_counter)
            return grove_error_set(GROVE_EINVAL, "counter_delta: missing on a counter change");
        if (change->counter_inc < 0 || change->counter_dec < 0)
            return grove_error_set(GROVE_EINVAL, "counter_delta: negative counter total");
        break;
    case GROVE_CRDT_SET:
        if (change->set_op == GROVE_SET_NONE)
            return grove_error_set(GROVE_EINVAL, "set_op: missing on a set change");
        break;
    default:
        return grove_error_set(GROVE_EINVAL, "crdt_type: missing on a field change");
    }
    return GROVE_OK;
}
