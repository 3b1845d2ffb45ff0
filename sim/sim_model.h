/* The simulator's reference model: the resolved rows that docs/design.md §2 says the
 * recorded operations must produce, computed without the store's code. */
#ifndef GROVE_SIM_MODEL_H
#define GROVE_SIM_MODEL_H

#include "grove/model.h"

/* The fixed shape every simulated table has. */
enum { SIM_FIELDS = 4, SIM_PKS = 6, SIM_ELEMS = 6, SIM_TABLES_MAX = 8 };
extern const char *const sim_field_names[SIM_FIELDS];
extern const enum grove_crdt sim_field_types[SIM_FIELDS];
extern const char *const sim_elems[SIM_ELEMS];

struct sim_model;

struct sim_model *sim_model_new(int tables);
void sim_model_free(struct sim_model *m);

/* Record one local operation and the HLC the store stamped it with. */
void sim_model_set(struct sim_model *m, int table, int pk, int field, const char *value,
                   const struct grove_hlc *hlc);
void sim_model_increment(struct sim_model *m, int table, int pk, int field, int64_t delta,
                         const struct grove_hlc *hlc);
void sim_model_set_op(struct sim_model *m, int table, int pk, int field, int elem, bool add,
                      const struct grove_hlc *hlc);
void sim_model_delete(struct sim_model *m, int table, int pk, const struct grove_hlc *hlc);

/* The expected resolved row as the store prints it (grove_data_get), or
 * NULL when the row must not be visible. malloc'ed. */
char *sim_model_row(const struct sim_model *m, int table, int pk);

#endif
