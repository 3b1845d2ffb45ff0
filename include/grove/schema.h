/* Declared tables and the CRDT type of each field. Changes for undeclared
 * tables are refused; a change whose crdt_type contradicts the declaration is
 * rejected. A table declared with no fields accepts any field of any type
 * (loosely typed: for tables whose fields are not known in advance). */
#ifndef GROVE_SCHEMA_H
#define GROVE_SCHEMA_H

#include "grove/model.h"

struct grove_schema;

grove_err grove_schema_new(struct grove_schema **out);
void grove_schema_free(struct grove_schema *schema);

/* Declares a table; declaring it again is harmless. Names are 1..128 bytes of
 * printable ASCII without space, ':', ',' or '='. They reach SQL only as bound
 * parameters, never as SQL text. */
grove_err grove_schema_add_table(struct grove_schema *schema, const char *table);
grove_err grove_schema_add_field(struct grove_schema *schema, const char *table, const char *field,
                                 enum grove_crdt crdt);
/* Parses "documents:title=lww,views=counter,tags=set" (the --table flag). */
grove_err grove_schema_parse(struct grove_schema *schema, const char *spec);

bool grove_schema_has_table(const struct grove_schema *schema, const char *table);
/* True when the table is declared with fields (then only those are taken). */
bool grove_schema_has_fields(const struct grove_schema *schema, const char *table);
/* The declared type of table.field; GROVE_CRDT_NONE when not declared. */
enum grove_crdt grove_schema_field_type(const struct grove_schema *schema, const char *table,
                                        const char *field);
/* The i-th declared field of table, in declaration order (borrowed name;
 * *crdt its type), or NULL past the last. */
const char *grove_schema_field_at(const struct grove_schema *schema, const char *table, size_t i,
                                  enum grove_crdt *crdt);
size_t grove_schema_table_count(const struct grove_schema *schema);
/* Borrowed name of the i-th table, in declaration order. */
const char *grove_schema_table_name(const struct grove_schema *schema, size_t i);

/* GROVE_EFORBIDDEN when the change's table is not declared, GROVE_EINVAL when
 * its crdt_type contradicts the field's declaration or it is inconsistent
 * (an lww change without a value, a counter without counter_delta, ...). */
grove_err grove_schema_check_change(const struct grove_schema *schema,
                                    const struct grove_change *change);

#endif
