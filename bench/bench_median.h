/*  bench_median.h — the median the bench programs report (bench_nn,
    bench_loader): of n repetitions' figures, sorted in place.          */

#ifndef BENCH_MEDIAN_H_INCLUDED
#define BENCH_MEDIAN_H_INCLUDED

#include <stdlib.h>

static int
bench_cmp_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y? -1: x > y? 1: 0;
}

//  Median of v [0 .. n), n >= 1; sorts v.
static inline double
bench_median (double *v, int n)
{
    qsort (v, (size_t) n, sizeof *v, bench_cmp_double);
    return n % 2? v [n / 2]: 0.5 * (v [n / 2 - 1] + v [n / 2]);
}

#endif
