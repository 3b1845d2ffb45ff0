#include "support.h"

TestSuite(core_schema);

Test(core_schema, parses_table_specs)
{
    struct grove_schema *s;
    cr_assert_eq(grove_schema_new(&s), GROVE_OK);
    cr_assert_eq(grove_schema_parse(s, "docs:title=lww,views=counter,tags=set"), GROVE_OK);
    cr_expect_eq(grove_schema_field_type(s, "docs", "views"), GROVE_CRDT_COUNTER);
    cr_expect_eq(grove_schema_field_type(s, "docs", "tags"), GROVE_CRDT_SET);
    cr_expect_eq(grove_schema_field_type(s, "docs", "nope"), GROVE_CRDT_NONE);
    cr_expect(grove_schema_has_table(s, "docs"));
    cr_expect(!grove_schema_has_table(s, "other"));
    cr_expect_eq(grove_schema_table_count(s), 1);
    grove_schema_free(s);
}

Test(core_schema, rejects_bad_specs_with_reasons)
{
    static const struct {
        const char *spec, *reason;
    } bad[] = {
        {"docs:title", "expected field=type"},
        {"docs:title=bogus", "unknown crdt_type"},
        {":title=lww", "table name"},
        {"docs:title=lww,title=set", "different types"},
        {"do cs", "not allowed"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct grove_schema *s;
        cr_assert_eq(grove_schema_new(&s), GROVE_OK);
        cr_expect_eq(grove_schema_parse(s, bad[i].spec), GROVE_EINVAL, "%s", bad[i].spec);
        cr_expect(strstr(grove_errmsg(), bad[i].reason) != NULL, "%s: %s", bad[i].spec,
                  grove_errmsg());
        grove_schema_free(s);
    }
}

Test(core_schema, checks_changes_against_declarations)
{
    struct grove_schema *s = support_schema();
    struct grove_change c = {
        .table = "docs", .pk = "p", .field = "views", .crdt = GROVE_CRDT_LWW, .value = {"1", 1}};
    cr_expect_eq(grove_schema_check_change(s, &c), GROVE_EINVAL);
    c.crdt = GROVE_CRDT_COUNTER;
    cr_expect_eq(grove_schema_check_change(s, &c), GROVE_EINVAL, "counter without counter_delta");
    c.has_counter = true;
    cr_expect_eq(grove_schema_check_change(s, &c), GROVE_OK, "%s", grove_errmsg());
    c.table = "secrets";
    cr_expect_eq(grove_schema_check_change(s, &c), GROVE_EFORBIDDEN);
    struct grove_change tomb = {.table = "docs", .pk = "p", .field = "", .tombstone = true};
    cr_expect_eq(grove_schema_check_change(s, &tomb), GROVE_OK, "TS-client tombstone shape");
    tomb.field = "_tombstone";
    cr_expect_eq(grove_schema_check_change(s, &tomb), GROVE_OK, "Go-server tombstone shape");
    grove_schema_free(s);
}
