/* The Data service's protobuf requests (core/data_protobuf.c): the first
 * byte picks the call (its value mod 5, in the order of enum
 * grove_data_call), the rest is the request. A write request that decodes
 * decodes the same way twice and holds what the mapping promises (one row
 * for Write and Delete, a Delete's row deleted with no fields, every string
 * there, each field an op of its type). Get and List are served by a store
 * in a temporary directory holding a few rows (writes are only decoded: a
 * commit per input would be slow and grow the store): each answer unpacks,
 * and each row in it is valid JSON. */
#include <ftw.h>
#include <unistd.h>

#include "fuzz_data.h"
#include "grove/data/v1/data.pb-c.h"
#include "grove/store.h"
#include "grove/sys/data_protobuf.h"

static struct grove_schema *fuzz_schema;
static struct grove_store *fuzz_store;
static char fuzz_dir[] = "/tmp/grove-fuzz-data-XXXXXX";

static int fuzz_remove(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void fuzz_cleanup(void)
{
    grove_store_close(fuzz_store);
    grove_schema_free(fuzz_schema);
    nftw(fuzz_dir, fuzz_remove, 8, FTW_DEPTH | FTW_PHYS);
}

/* A few rows, some sharing a prefix, so List pages and Get finds. */
static void fuzz_fill(void)
{
    static const char *const pks[] = {"a", "a/b", "a/b c", "b", "\xc3\xa9t\xc3\xa9", "z"};
    struct grove_slice tags[] = {{"\"red\"", 5}, {"[1,{\"x\":null}]", 14}};
    for (size_t i = 0; i < sizeof pks / sizeof pks[0]; i++) {
        struct grove_field_write typed[] = {{.field = "title", .value = {"{\"t\":\"Hello\"}", 13}},
                                            {.field = "views", .delta = (int64_t)i - 2},
                                            {.field = "tags", .add = tags, .add_count = 2}};
        struct grove_field_write loose[] = {{.field = "any", .value = {"[true,1.5e3]", 12}}};
        struct grove_row_write rows[] = {
            {.table = "docs", .pk = pks[i], .fields = typed, .field_count = 3},
            {.table = "notes", .pk = pks[i], .fields = loose, .field_count = 1}};
        struct grove_write w = {.rows = rows, .row_count = 2};
        fuzz_ok(grove_data_write(fuzz_store, &w, NULL), "writing the rows");
    }
    struct grove_row_write gone = {.table = "docs", .pk = "b", .delete_row = true};
    struct grove_write w = {.rows = &gone, .row_count = 1};
    fuzz_ok(grove_data_write(fuzz_store, &w, NULL), "deleting a row");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_schema = fuzz_data_schema();
    if (!mkdtemp(fuzz_dir)) {
        perror("fuzz: mkdtemp");
        abort();
    }
    char path[sizeof fuzz_dir + 16];
    snprintf(path, sizeof path, "%s/store.db", fuzz_dir);
    struct grove_store_options opts = {.path = path, .node_id = "fuzz", .schema = fuzz_schema};
    fuzz_ok(grove_store_open(&fuzz_store, &opts), "opening the store");
    atexit(fuzz_cleanup);
    fuzz_fill();
    return 0;
}

static void fuzz_fail(const char *what, const struct grove_write *w)
{
    struct grove_buf dump = {0};
    fuzz_data_dump(w, &dump);
    fprintf(stderr, "fuzz: a decoded write %s\n", what);
    fuzz_print("write", &dump);
    abort();
}

static void fuzz_check_write(enum grove_data_call call, const struct grove_write *w)
{
    if (call != GROVE_DATA_CALL_WRITE_MANY && w->row_count != 1)
        fuzz_fail("has the wrong number of rows", w);
    if (!w->idempotency_key)
        fuzz_fail("has no idempotency key string", w);
    for (size_t i = 0; i < w->row_count; i++) {
        const struct grove_row_write *r = &w->rows[i];
        if (!r->table || !r->pk)
            fuzz_fail("has a row without table or pk", w);
        if (call == GROVE_DATA_CALL_DELETE && (!r->delete_row || r->field_count))
            fuzz_fail("is a delete that does not delete", w);
        if (call == GROVE_DATA_CALL_WRITE && r->delete_row)
            fuzz_fail("deletes in a Write", w);
        for (size_t j = 0; j < r->field_count; j++) {
            const struct grove_field_write *f = &r->fields[j];
            bool lww = f->crdt == GROVE_CRDT_LWW, set = f->crdt == GROVE_CRDT_SET;
            if (!f->field || !(lww || set || f->crdt == GROVE_CRDT_COUNTER))
                fuzz_fail("has a field without a name or an op", w);
            if ((f->value.ptr && (!lww || f->value.len == 0)) ||
                (!set && (f->add_count || f->remove_count)) || (f->add_count && !f->add) ||
                (f->remove_count && !f->remove))
                fuzz_fail("mixes ops in a field", w);
        }
    }
}

static void fuzz_write(enum grove_data_call call, const char *data, size_t size)
{
    struct grove_write_msg *once = NULL, *twice = NULL;
    grove_err a = grove_data_pb_decode_write(call, data, size, &once);
    grove_err b = grove_data_pb_decode_write(call, data, size, &twice);
    if (a != b) {
        fprintf(stderr, "fuzz: decoded twice: %s, then %s\n", grove_err_name(a), grove_err_name(b));
        abort();
    }
    if (!a) {
        fuzz_data_same(&once->write, &twice->write, "two decodes of the same request");
        fuzz_check_write(call, &once->write);
    }
    grove_msg_free(once);
    grove_msg_free(twice);
}

static void fuzz_row(const ProtobufCBinaryData *row, const char *what)
{
    fuzz_data_json((const char *)row->data, row->len, false, what);
}

static void fuzz_read(enum grove_data_call call, const char *data, size_t size)
{
    struct grove_buf out = {0};
    if (grove_data_pb_serve(fuzz_store, NULL, call, data, size, &out)) {
        grove_buf_free(&out);
        return;
    }
    const uint8_t *bytes = (const uint8_t *)out.data;
    if (call == GROVE_DATA_CALL_GET) {
        Grove__Data__V1__GetResponse *get =
            grove__data__v1__get_response__unpack(NULL, out.len, bytes);
        if (!get)
            fuzz_ok(GROVE_EPROTO, "unpacking our GetResponse");
        fuzz_row(&get->row, "a row got");
        grove__data__v1__get_response__free_unpacked(get, NULL);
    } else {
        Grove__Data__V1__ListResponse *list =
            grove__data__v1__list_response__unpack(NULL, out.len, bytes);
        if (!list)
            fuzz_ok(GROVE_EPROTO, "unpacking our ListResponse");
        for (size_t i = 0; i < list->n_rows; i++)
            fuzz_row(&list->rows[i]->row, "a row listed");
        if (list->has_next != (list->next[0] != '\0')) {
            fprintf(stderr, "fuzz: a page's next and has_next disagree\n");
            abort();
        }
        grove__data__v1__list_response__free_unpacked(list, NULL);
    }
    grove_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    enum grove_data_call call = (enum grove_data_call)(data[0] % 5);
    const char *req = (const char *)data + 1;
    if (call == GROVE_DATA_CALL_GET || call == GROVE_DATA_CALL_LIST)
        fuzz_read(call, req, size - 1);
    else
        fuzz_write(call, req, size - 1);
    return 0;
}
