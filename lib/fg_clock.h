/*  fg_clock.h — reading the clocks, one definition for every timer in the
    tree (internal). Intervals use CLOCK_MONOTONIC, which never jumps;
    timestamps that are stored (journal records, rounds.csv) use the wall
    clock; CPU time uses the process or thread CPU clocks. Times are only
    ever measured and recorded: no result of training depends on them.   */

#ifndef FG_CLOCK_H_INCLUDED
#define FG_CLOCK_H_INCLUDED

#include <stdint.h>
#include <time.h>

//  Seconds on clock (CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID,
//  CLOCK_THREAD_CPUTIME_ID, ...), from an unspecified origin.
static inline double
fg_clock_s (clockid_t clock)
{
    struct timespec ts;
    clock_gettime (clock, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

//  Nanoseconds on clock.
static inline uint64_t
fg_clock_ns (clockid_t clock)
{
    struct timespec ts;
    clock_gettime (clock, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

//  Monotonic seconds: the difference of two readings is an interval.
static inline double
fg_clock_mono_s (void)
{
    return fg_clock_s (CLOCK_MONOTONIC);
}

//  CPU seconds of the whole process (all its threads).
static inline double
fg_clock_cpu_s (void)
{
    return fg_clock_s (CLOCK_PROCESS_CPUTIME_ID);
}

//  Wall-clock nanoseconds since the Unix epoch.
static inline uint64_t
fg_clock_wall_ns (void)
{
    return fg_clock_ns (CLOCK_REALTIME);
}

#endif
