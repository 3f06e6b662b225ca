/*  test_rng.c — Philox4x32-10 known answers, stream derivation, draws.   */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fg_rng.h"

//  Random123 tests/kat_vectors, the three "philox4x32 10" lines.
static void
test_philox_known_answers (void **state)
{
    static const struct { uint32_t ctr [4], key [2], out [4]; } kat [] = {
        { { 0, 0, 0, 0 }, { 0, 0 },
          { 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8 } },
        { { 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff }, { 0xffffffff, 0xffffffff },
          { 0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd } },
        { { 0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344 }, { 0xa4093822, 0x299f31d0 },
          { 0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1 } },
    };
    for (size_t i = 0; i < sizeof kat / sizeof kat [0]; i++) {
        uint32_t out [4];
        fg_philox4x32_10 (kat [i].ctr, kat [i].key, out);
        assert_memory_equal (out, kat [i].out, sizeof out);
    }
}

//  Stream derivation as documented in fg_rng.h; expected words computed by
//  an independent implementation of that text (a Python script, not this C).
static void
test_stream_known_answers (void **state)
{
    static const uint32_t want_a [6] = {
        0xea321c39, 0xe1290f02, 0x2e3ecacf, 0x3a20a722, 0xea31d8f2, 0x46c24b9b };
    static const uint32_t want_b [6] = {
        0x67feb599, 0x1bb9e6d8, 0x292505a6, 0xa83d971f, 0x2d3fa4de, 0x7fd74d0a };
    fg_rng_t rng;
    fg_rng_init (&rng, 1, FG_RNG_INIT, 0, 0, 0, 0);
    for (int i = 0; i < 6; i++)
        assert_int_equal (fg_rng_u32 (&rng), want_a [i]);
    fg_rng_init (&rng, 0x123456789abcdefULL, FG_RNG_BATCH, 7, 3, 2, 99);
    for (int i = 0; i < 6; i++)
        assert_int_equal (fg_rng_u32 (&rng), want_b [i]);
}

static void
test_every_key_field_matters (void **state)
{
    fg_rng_t base, other;
    fg_rng_init (&base, 5, FG_RNG_BATCH, 1, 2, 3, 4);
    uint64_t first = fg_rng_u64 (&base);
    const uint32_t variants [6][6] = {
        { 6, FG_RNG_BATCH, 1, 2, 3, 4 }, { 5, FG_RNG_AUGMENT, 1, 2, 3, 4 },
        { 5, FG_RNG_BATCH, 9, 2, 3, 4 }, { 5, FG_RNG_BATCH, 1, 9, 3, 4 },
        { 5, FG_RNG_BATCH, 1, 2, 9, 4 }, { 5, FG_RNG_BATCH, 1, 2, 3, 9 },
    };
    for (int i = 0; i < 6; i++) {
        const uint32_t *v = variants [i];
        fg_rng_init (&other, v [0], (fg_rng_purpose_t) v [1], v [2], v [3], v [4], v [5]);
        assert_true (fg_rng_u64 (&other) != first);
    }
    //  the 64-bit seed's high word matters too
    fg_rng_init (&other, 5 | (1ULL << 40), FG_RNG_BATCH, 1, 2, 3, 4);
    assert_true (fg_rng_u64 (&other) != first);
}

static void
test_seek_and_tell (void **state)
{
    fg_rng_t a, b;
    fg_rng_init (&a, 42, FG_RNG_TEST, 0, 0, 0, 0);
    uint32_t words [23];
    for (int i = 0; i < 23; i++)
        words [i] = fg_rng_u32 (&a);
    assert_int_equal (fg_rng_tell (&a), 23);
    //  a resumed stream continues bit for bit from any position
    for (uint64_t pos = 0; pos < 23; pos++) {
        fg_rng_init (&b, 42, FG_RNG_TEST, 0, 0, 0, 0);
        fg_rng_seek (&b, pos);
        for (uint64_t i = pos; i < 23; i++)
            assert_int_equal (fg_rng_u32 (&b), words [i]);
    }
    //  seeking backwards after use
    fg_rng_seek (&a, 5);
    assert_int_equal (fg_rng_u32 (&a), words [5]);
}

static void
test_uniform_ranges_and_moments (void **state)
{
    fg_rng_t rng;
    fg_rng_init (&rng, 7, FG_RNG_TEST, 0, 0, 0, 0);
    double sum = 0, sum_d = 0;
    const int n = 200000;
    for (int i = 0; i < n; i++) {
        float u = fg_rng_uniform (&rng);
        double d = fg_rng_uniform_double (&rng);
        assert_true (u >= 0.0f && u < 1.0f);
        assert_true (d >= 0.0 && d < 1.0);
        sum += u;
        sum_d += d;
    }
    //  mean 0.5, standard error sqrt(1/12/n) = 0.00065: 6 sigma bound
    assert_true (fabs (sum / n - 0.5) < 0.004);
    assert_true (fabs (sum_d / n - 0.5) < 0.004);
}

static void
test_normal_moments (void **state)
{
    fg_rng_t rng;
    fg_rng_init (&rng, 11, FG_RNG_TEST, 0, 0, 0, 0);
    const int n = 200000;
    double sum = 0, sum2 = 0;
    for (int i = 0; i < n; i++) {
        double x = fg_rng_normal (&rng);
        assert_true (isfinite (x));
        sum += x;
        sum2 += x * x;
    }
    double mean = sum / n, var = sum2 / n - mean * mean;
    assert_true (fabs (mean) < 0.015);          //  se 0.0022
    assert_true (fabs (var - 1.0) < 0.02);      //  se 0.0032
    //  four draws per value, no hidden cache: position alone decides
    assert_int_equal (fg_rng_tell (&rng), 4 * (uint64_t) n);
}

static void
test_below_is_unbiased_and_bounded (void **state)
{
    fg_rng_t rng;
    fg_rng_init (&rng, 3, FG_RNG_TEST, 0, 0, 0, 0);
    //  bound 3 does not divide 2^32: the rejection step must keep it uniform
    int counts [3] = { 0 };
    const int n = 300000;
    for (int i = 0; i < n; i++) {
        uint32_t x = fg_rng_below (&rng, 3);
        assert_true (x < 3);
        counts [x]++;
    }
    for (int k = 0; k < 3; k++)
        assert_true (abs (counts [k] - n / 3) < 1500);     //  ~6 sigma
    assert_int_equal (fg_rng_below (&rng, 1), 0);
    //  a huge bound where rejection is frequent
    for (int i = 0; i < 1000; i++)
        assert_true (fg_rng_below (&rng, 0x80000001u) < 0x80000001u);
}

static void
test_permutation (void **state)
{
    fg_rng_t rng;
    fg_rng_init (&rng, 9, FG_RNG_PARTITION, 0, 0, 0, 0);
    enum { N = 1000 };
    uint32_t perm [N];
    fg_rng_permutation (&rng, perm, N);
    char seen [N] = { 0 };
    int fixed = 0;
    for (int i = 0; i < N; i++) {
        assert_true (perm [i] < N);
        assert_false (seen [perm [i]]);
        seen [perm [i]] = 1;
        fixed += perm [i] == (uint32_t) i;
    }
    assert_true (fixed < 10);                   //  expected 1
    //  pure function of the key
    uint32_t again [N];
    fg_rng_init (&rng, 9, FG_RNG_PARTITION, 0, 0, 0, 0);
    fg_rng_permutation (&rng, again, N);
    assert_memory_equal (perm, again, sizeof perm);
    //  every position of a 3-permutation is uniform over many keys
    int first [3] = { 0 };
    for (uint32_t s = 0; s < 30000; s++) {
        uint32_t small [3];
        fg_rng_init (&rng, s, FG_RNG_PARTITION, 0, 0, 0, 0);
        fg_rng_permutation (&rng, small, 3);
        first [small [0]]++;
    }
    for (int k = 0; k < 3; k++)
        assert_true (abs (first [k] - 10000) < 500);
}

static void
test_gamma_mean (void **state)
{
    fg_rng_t rng;
    fg_rng_init (&rng, 13, FG_RNG_DIRICHLET, 0, 0, 0, 0);
    const double shapes [] = { 0.3, 1.0, 4.5 };
    for (int s = 0; s < 3; s++) {
        double sum = 0;
        const int n = 50000;
        for (int i = 0; i < n; i++) {
            double g = fg_rng_gamma (&rng, shapes [s]);
            assert_true (g >= 0 && isfinite (g));
            sum += g;
        }
        //  mean = shape, sd = sqrt (shape / n)
        assert_true (fabs (sum / n - shapes [s]) < 6 * sqrt (shapes [s] / n) + 1e-3);
    }
}

//  fg_rng_normals is n calls of fg_rng_normal, bit for bit, from a block
//  boundary and from inside a block, and leaves the stream where they do.
static void
test_normals_in_bulk (void **state)
{
    for (uint32_t skip = 0; skip < 3; skip++) {
        fg_rng_t a, b;
        fg_rng_init (&a, 11, FG_RNG_TEST, 0, 0, 0, 4);
        fg_rng_init (&b, 11, FG_RNG_TEST, 0, 0, 0, 4);
        for (uint32_t i = 0; i < skip; i++)
            assert_int_equal (fg_rng_u32 (&a), fg_rng_u32 (&b));
        double one [300], bulk [300];
        for (int i = 0; i < 300; i++)
            one [i] = fg_rng_normal (&a);
        fg_rng_normals (&b, bulk, 7);
        fg_rng_normals (&b, bulk + 7, 0);
        fg_rng_normals (&b, bulk + 7, 293);
        assert_memory_equal (one, bulk, sizeof one);
        assert_int_equal (fg_rng_tell (&a), fg_rng_tell (&b));
        assert_int_equal (fg_rng_u32 (&a), fg_rng_u32 (&b));
    }
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_philox_known_answers),
        cmocka_unit_test (test_stream_known_answers),
        cmocka_unit_test (test_every_key_field_matters),
        cmocka_unit_test (test_seek_and_tell),
        cmocka_unit_test (test_uniform_ranges_and_moments),
        cmocka_unit_test (test_normal_moments),
        cmocka_unit_test (test_below_is_unbiased_and_bounded),
        cmocka_unit_test (test_permutation),
        cmocka_unit_test (test_gamma_mean),
        cmocka_unit_test (test_normals_in_bulk),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
