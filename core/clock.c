#include <string.h>
#include <time.h>

#include "clock.h"
#include "grove/sys/error.h"

int64_t grove_clock_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t grove_clock_snap_us(int64_t ts)
{
    int64_t rem = ts % 1000;
    if (rem >= 500 && ts <= INT64_MAX - 1000)
        return ts - rem + 1000;
    return ts - rem;
}

void grove_clock_init(struct grove_clock *clock, const char *node, int64_t max_drift_ns)
{
    memset(clock, 0, sizeof *clock);
    pthread_mutex_init(&clock->lock, NULL);
    clock->max_drift_ns = max_drift_ns > 0 ? max_drift_ns : GROVE_CLOCK_DEFAULT_DRIFT_NS;
    strncpy(clock->node, node, GROVE_NODE_ID_MAX);
}

void grove_clock_destroy(struct grove_clock *clock)
{
    pthread_mutex_destroy(&clock->lock);
}

static void clock_advance_locked(struct grove_clock *clock, int64_t ts, uint32_t c)
{
    if (ts > clock->last_ts || (ts == clock->last_ts && c > clock->last_c)) {
        clock->last_ts = ts;
        clock->last_c = c;
    }
}

void grove_clock_restore(struct grove_clock *clock, int64_t ts, uint32_t c)
{
    pthread_mutex_lock(&clock->lock);
    clock_advance_locked(clock, ts, c);
    pthread_mutex_unlock(&clock->lock);
}

void grove_clock_now(struct grove_clock *clock, struct grove_hlc *out)
{
    int64_t physical = grove_clock_wall_ns() / 1000 * 1000;
    pthread_mutex_lock(&clock->lock);
    if (physical > clock->last_ts) {
        clock->last_ts = physical;
        clock->last_c = 0;
    } else if (clock->last_c == UINT32_MAX) {
        clock->last_ts += 1000; /* counter exhausted: borrow the next microsecond */
        clock->last_c = 0;
    } else {
        clock->last_c++;
    }
    out->ts = clock->last_ts;
    out->c = clock->last_c;
    pthread_mutex_unlock(&clock->lock);
    memcpy(out->node, clock->node, sizeof out->node);
}

void grove_clock_observe(struct grove_clock *clock, const struct grove_hlc *remote)
{
    /* Round up to our microsecond grid; a stamp strictly above the remote's
     * microsecond then starts its counter at 0. */
    int64_t up = remote->ts % 1000 ? remote->ts - remote->ts % 1000 + 1000 : remote->ts;
    if (remote->ts < 0 || up < remote->ts)
        return;
    pthread_mutex_lock(&clock->lock);
    clock_advance_locked(clock, up, up == remote->ts ? remote->c : 0);
    pthread_mutex_unlock(&clock->lock);
}

grove_err grove_clock_check_drift(const struct grove_clock *clock, const struct grove_hlc *remote)
{
    int64_t now = grove_clock_wall_ns();
    if (remote->ts > now && remote->ts - now > clock->max_drift_ns)
        return grove_error_set(GROVE_EINVAL,
                               "hlc.ts: stamped %.3f s ahead of this node's clock (limit %.3f s)",
                               (double)(remote->ts - now) / 1e9, (double)clock->max_drift_ns / 1e9);
    return GROVE_OK;
}
