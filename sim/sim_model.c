/* Reference model of docs/design.md §2, kept deliberately naive: it remembers, per
 * field and per set element, the newest operation and the counter sum, and
 * resolves a row only when asked. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_model.h"

const char *const sim_field_names[SIM_FIELDS] = {"a", "b", "n", "s"};
const enum grove_crdt sim_field_types[SIM_FIELDS] = {GROVE_CRDT_LWW, GROVE_CRDT_LWW,
                                                     GROVE_CRDT_COUNTER, GROVE_CRDT_SET};
/* A few element spellings whose byte order differs from their type order. */
const char *const sim_elems[SIM_ELEMS] = {"\"a\"", "\"b\"", "1", "20", "{\"k\":1}", "\"\\u00e9\""};

struct model_elem {
    bool added, removed;
    struct grove_hlc add, rem; /* newest add, newest remove */
};

struct model_field {
    bool written;
    struct grove_hlc hlc; /* newest write of any kind */
    char *value;          /* lww: the winning value */
    struct grove_hlc value_hlc;
    int64_t sum; /* counter */
    struct model_elem elems[SIM_ELEMS];
};

struct model_row {
    bool deleted;
    struct grove_hlc tomb; /* newest delete */
    struct model_field fields[SIM_FIELDS];
};

struct sim_model {
    int tables;
    struct model_row rows[SIM_TABLES_MAX][SIM_PKS];
};

struct sim_model *sim_model_new(int tables)
{
    struct sim_model *m = calloc(1, sizeof *m);
    if (m)
        m->tables = tables;
    return m;
}

void sim_model_free(struct sim_model *m)
{
    if (!m)
        return;
    for (int t = 0; t < SIM_TABLES_MAX; t++)
        for (int p = 0; p < SIM_PKS; p++)
            for (int f = 0; f < SIM_FIELDS; f++)
                free(m->rows[t][p].fields[f].value);
    free(m);
}

static bool model_newer(const struct grove_hlc *a, const struct grove_hlc *b)
{
    return grove_hlc_compare(a, b) > 0;
}

static void model_touch(struct model_field *f, const struct grove_hlc *hlc)
{
    if (!f->written || model_newer(hlc, &f->hlc))
        f->hlc = *hlc;
    f->written = true;
}

void sim_model_set(struct sim_model *m, int table, int pk, int field, const char *value,
                   const struct grove_hlc *hlc)
{
    struct model_field *f = &m->rows[table][pk].fields[field];
    int c = f->value ? grove_hlc_compare(hlc, &f->value_hlc) : 1;
    /* Identical HLCs (only possible for re-delivery) tie-break on the bytes. */
    if (c > 0 || (c == 0 && strcmp(value, f->value) > 0)) {
        free(f->value);
        f->value = strdup(value);
        f->value_hlc = *hlc;
    }
    model_touch(f, hlc);
}

void sim_model_increment(struct sim_model *m, int table, int pk, int field, int64_t delta,
                         const struct grove_hlc *hlc)
{
    struct model_field *f = &m->rows[table][pk].fields[field];
    f->sum += delta;
    model_touch(f, hlc);
}

void sim_model_set_op(struct sim_model *m, int table, int pk, int field, int elem, bool add,
                      const struct grove_hlc *hlc)
{
    struct model_field *f = &m->rows[table][pk].fields[field];
    struct model_elem *e = &f->elems[elem];
    if (add) {
        if (!e->added || model_newer(hlc, &e->add))
            e->add = *hlc;
        e->added = true;
    } else {
        if (!e->removed || model_newer(hlc, &e->rem))
            e->rem = *hlc;
        e->removed = true;
    }
    model_touch(f, hlc);
}

void sim_model_delete(struct sim_model *m, int table, int pk, const struct grove_hlc *hlc)
{
    struct model_row *r = &m->rows[table][pk];
    if (!r->deleted || model_newer(hlc, &r->tomb))
        r->tomb = *hlc;
    r->deleted = true;
}

/* A write is visible when no delete is newer than it. */
static bool model_alive(const struct model_row *r, const struct grove_hlc *hlc)
{
    return !r->deleted || model_newer(hlc, &r->tomb);
}

static int model_elem_cmp(const void *a, const void *b)
{
    const char *x = sim_elems[*(const int *)a], *y = sim_elems[*(const int *)b];
    size_t lx = strlen(x), ly = strlen(y);
    int c = memcmp(x, y, lx < ly ? lx : ly);
    if (c)
        return c;
    return (lx > ly) - (lx < ly);
}

/* Appends to a malloc'ed string; the model is small, so simplicity wins. */
static void model_cat(char **s, size_t *len, const char *add)
{
    size_t n = strlen(add);
    char *p = realloc(*s, *len + n + 1);
    if (!p)
        abort();
    memcpy(p + *len, add, n + 1);
    *s = p;
    *len += n;
}

char *sim_model_row(const struct sim_model *m, int table, int pk)
{
    const struct model_row *r = &m->rows[table][pk];
    bool visible = false;
    for (int f = 0; f < SIM_FIELDS; f++)
        if (r->fields[f].written && model_alive(r, &r->fields[f].hlc))
            visible = true;
    if (!visible)
        return NULL;
    char *out = NULL;
    size_t len = 0;
    char num[32];
    bool first = true;
    model_cat(&out, &len, "{");
    /* Field names are declared in byte order already. */
    for (int f = 0; f < SIM_FIELDS; f++) {
        const struct model_field *fd = &r->fields[f];
        if (!fd->written || !model_alive(r, &fd->hlc))
            continue;
        if (!first)
            model_cat(&out, &len, ",");
        first = false;
        model_cat(&out, &len, "\"");
        model_cat(&out, &len, sim_field_names[f]);
        model_cat(&out, &len, "\":");
        switch (sim_field_types[f]) {
        case GROVE_CRDT_LWW:
            model_cat(&out, &len, fd->value);
            break;
        case GROVE_CRDT_COUNTER:
            snprintf(num, sizeof num, "%lld", (long long)fd->sum);
            model_cat(&out, &len, num);
            break;
        case GROVE_CRDT_SET: {
            int present[SIM_ELEMS], n = 0;
            for (int e = 0; e < SIM_ELEMS; e++) {
                const struct model_elem *el = &fd->elems[e];
                if (!el->added || !model_alive(r, &el->add))
                    continue;
                if (el->removed && model_newer(&el->rem, &el->add))
                    continue;
                present[n++] = e;
            }
            qsort(present, (size_t)n, sizeof present[0], model_elem_cmp);
            model_cat(&out, &len, "[");
            for (int i = 0; i < n; i++) {
                if (i)
                    model_cat(&out, &len, ",");
                model_cat(&out, &len, sim_elems[present[i]]);
            }
            model_cat(&out, &len, "]");
            break;
        }
        default:
            break;
        }
    }
    model_cat(&out, &len, "}");
    return out;
}
