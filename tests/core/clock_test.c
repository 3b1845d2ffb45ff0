#include "core/clock.h"
#include "support.h"

TestSuite(core_clock);

Test(core_clock, ticks_in_microseconds_and_never_repeats)
{
    struct grove_clock clock;
    grove_clock_init(&clock, "n", 0);
    struct grove_hlc prev = {0}, now;
    for (int i = 0; i < 10000; i++) {
        grove_clock_now(&clock, &now);
        cr_assert_eq(now.ts % 1000, 0, "ts %lld is not on the microsecond grid", (long long)now.ts);
        cr_assert_gt(grove_hlc_compare(&now, &prev), 0, "stamp %d did not advance", i);
        cr_assert_str_eq(now.node, "n");
        prev = now;
    }
    grove_clock_destroy(&clock);
}

Test(core_clock, orders_after_observed_remote_stamps)
{
    struct grove_clock clock;
    grove_clock_init(&clock, "n", 0);
    struct grove_hlc remote = {.ts = grove_clock_wall_ns() + 2000000123LL, .c = 7, .node = "zzz"};
    grove_clock_observe(&clock, &remote);
    struct grove_hlc now;
    grove_clock_now(&clock, &now);
    cr_expect_gt(grove_hlc_compare(&now, &remote), 0);
    cr_expect_eq(now.ts % 1000, 0);
    grove_clock_destroy(&clock);
}

Test(core_clock, rejects_stamps_beyond_the_drift)
{
    struct grove_clock clock;
    grove_clock_init(&clock, "n", 0);
    struct grove_hlc ahead = {.ts = grove_clock_wall_ns() + 3600LL * 1000000000LL};
    cr_expect_eq(grove_clock_check_drift(&clock, &ahead), GROVE_EINVAL);
    cr_expect(strstr(grove_errmsg(), "ahead") != NULL, "%s", grove_errmsg());
    struct grove_hlc old = {.ts = 1};
    cr_expect_eq(grove_clock_check_drift(&clock, &old), GROVE_OK, "old stamps are fine");
    grove_clock_destroy(&clock);
}

Test(core_clock, restore_keeps_it_from_going_backwards)
{
    struct grove_clock clock;
    grove_clock_init(&clock, "n", 0);
    int64_t future = grove_clock_wall_ns() + 4000000000LL;
    grove_clock_restore(&clock, future, 5);
    struct grove_hlc now;
    grove_clock_now(&clock, &now);
    cr_expect(now.ts > future || (now.ts == future && now.c > 5));
    grove_clock_destroy(&clock);
}

Test(core_clock, snap_undoes_float64_rounding)
{
    int64_t exact = 1795678178757969000LL;
    int64_t rounded = (int64_t)(double)exact; /* what a JavaScript client holds */
    cr_expect_neq(rounded, exact);
    cr_expect_eq(grove_clock_snap_us(rounded), exact);
}
