/* The node's hybrid logical clock (docs/design.md §3, docs/protocol.md §10).
 * It ticks in microseconds expressed in nanoseconds, so clients that hold ts
 * in a float64 keep it exact, and the counter orders events within one
 * microsecond. */
#ifndef GROVE_CORE_CLOCK_H
#define GROVE_CORE_CLOCK_H

#include <pthread.h>

#include "grove/model.h"

#define GROVE_CLOCK_DEFAULT_DRIFT_NS (5LL * 1000000000LL)

struct grove_clock {
    pthread_mutex_t lock;
    int64_t last_ts;
    uint32_t last_c;
    int64_t max_drift_ns;
    char node[GROVE_NODE_ID_MAX + 1];
};

void grove_clock_init(struct grove_clock *clock, const char *node, int64_t max_drift_ns);
void grove_clock_destroy(struct grove_clock *clock);
/* Never hand out a stamp at or below (ts, c), the newest one the store holds. */
void grove_clock_restore(struct grove_clock *clock, int64_t ts, uint32_t c);
/* A fresh stamp, strictly greater than every earlier one and every observed one. */
void grove_clock_now(struct grove_clock *clock, struct grove_hlc *out);
/* Folds a remote stamp in, so later local stamps order after it. */
void grove_clock_observe(struct grove_clock *clock, const struct grove_hlc *remote);
/* GROVE_EINVAL when remote is stamped further ahead of the wall clock than allowed. */
grove_err grove_clock_check_drift(const struct grove_clock *clock, const struct grove_hlc *remote);
/* Rounds ts to the nearest microsecond (undoes a float64 client's rounding). */
int64_t grove_clock_snap_us(int64_t ts);
int64_t grove_clock_wall_ns(void);

#endif
