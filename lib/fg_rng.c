/*  fg_rng.c — Philox4x32-10 streams (see fg_rng.h): Random123's block
    function, fedgrid's stream derivation, positioning and distributions. */

#include "fg_rng.h"

#include <assert.h>
#include <math.h>
#include <string.h>
//  Random123 (Debian's librandom123-dev, header-only): the reference
//  implementation of the Philox block function. It compiles cleanly
//  under our -std=c11 -Wall -Wextra -Werror with gcc and clang, so no
//  wrapper is needed. Only the block function comes from it: the stream
//  derivation, seek/tell and the distributions below are ours.
#include <Random123/philox.h>

void
fg_philox4x32_10 (const uint32_t ctr [4], const uint32_t key [2], uint32_t out [4])
{
    philox4x32_ctr_t c = {{ ctr [0], ctr [1], ctr [2], ctr [3] }};
    philox4x32_key_t k = {{ key [0], key [1] }};
    philox4x32_ctr_t r = philox4x32_R (10, c, k);
    out [0] = r.v [0]; out [1] = r.v [1]; out [2] = r.v [2]; out [3] = r.v [3];
}

void
fg_rng_init (fg_rng_t *rng, uint64_t seed, fg_rng_purpose_t purpose,
             uint32_t round, uint32_t shard, uint32_t epoch, uint32_t step)
{
    assert (rng);
    uint32_t ctr [4] = { (uint32_t) purpose, round, shard, epoch };
    uint32_t key [2] = { (uint32_t) seed, (uint32_t) (seed >> 32) };
    uint32_t b1 [4];
    fg_philox4x32_10 (ctr, key, b1);
    uint32_t ctr2 [4] = { step, 0x66656467u, 0, 0 };
    uint32_t key2 [2] = { b1 [0] ^ b1 [2], b1 [1] ^ b1 [3] };
    uint32_t b2 [4];
    fg_philox4x32_10 (ctr2, key2, b2);
    rng->key [0] = b2 [0];
    rng->key [1] = b2 [1];
    rng->tag [0] = b2 [2];
    rng->tag [1] = b2 [3];
    rng->next = 0;
    rng->block_id = UINT64_MAX;
}

uint64_t
fg_rng_tell (const fg_rng_t *rng)
{
    return rng->next;
}

void
fg_rng_seek (fg_rng_t *rng, uint64_t position)
{
    rng->next = position;
}

uint32_t
fg_rng_u32 (fg_rng_t *rng)
{
    uint64_t block_id = rng->next >> 2;
    if (block_id != rng->block_id) {
        uint32_t ctr [4] = { (uint32_t) block_id, (uint32_t) (block_id >> 32),
                             rng->tag [0], rng->tag [1] };
        fg_philox4x32_10 (ctr, rng->key, rng->block);
        rng->block_id = block_id;
    }
    return rng->block [rng->next++ & 3];
}

uint64_t
fg_rng_u64 (fg_rng_t *rng)
{
    uint64_t lo = fg_rng_u32 (rng);
    uint64_t hi = fg_rng_u32 (rng);
    return lo | (hi << 32);
}

float
fg_rng_uniform (fg_rng_t *rng)
{
    return (float) (fg_rng_u32 (rng) >> 8) * 0x1p-24f;
}

double
fg_rng_uniform_double (fg_rng_t *rng)
{
    return (double) (fg_rng_u64 (rng) >> 11) * 0x1p-53;
}

//  Box-Muller's cosine branch on four draws w: two uniform doubles as
//  fg_rng_uniform_double makes them, u1 in (0, 1] so log (u1) is finite.
static inline double
s_normal (const uint32_t w [4])
{
    double u1 = 1.0 - (double) (((uint64_t) w [0] | (uint64_t) w [1] << 32) >> 11) * 0x1p-53;
    double u2 = (double) (((uint64_t) w [2] | (uint64_t) w [3] << 32) >> 11) * 0x1p-53;
    return sqrt (-2.0 * log (u1)) * cos (2.0 * M_PI * u2);
}

double
fg_rng_normal (fg_rng_t *rng)
{
    uint32_t w [4];
    for (int i = 0; i < 4; i++)
        w [i] = fg_rng_u32 (rng);
    return s_normal (w);
}

void
fg_rng_normals (fg_rng_t *rng, double *out, size_t n)
{
    if (rng->next % 4 || n == 0) {      //  values straddle blocks: one by one
        for (size_t i = 0; i < n; i++)
            out [i] = fg_rng_normal (rng);
        return;
    }
    //  value i is block next / 4 + i, whole: the block function inlined
    //  (no call per draw), the same words, the same arithmetic
    philox4x32_key_t key = {{ rng->key [0], rng->key [1] }};
    uint64_t first = rng->next / 4;
    philox4x32_ctr_t r = {{ 0, 0, 0, 0 }};
    for (size_t i = 0; i < n; i++) {
        uint64_t j = first + i;
        philox4x32_ctr_t c = {{ (uint32_t) j, (uint32_t) (j >> 32), rng->tag [0], rng->tag [1] }};
        r = philox4x32_R (10, c, key);
        out [i] = s_normal (r.v);
    }
    rng->next += 4 * (uint64_t) n;
    rng->block_id = first + n - 1;
    memcpy (rng->block, r.v, sizeof rng->block);
}

uint32_t
fg_rng_below (fg_rng_t *rng, uint32_t bound)
{
    assert (bound > 0);
    uint64_t m = (uint64_t) fg_rng_u32 (rng) * bound;
    uint32_t low = (uint32_t) m;
    if (low < bound) {
        uint32_t threshold = (uint32_t) (-bound) % bound;
        while (low < threshold) {
            m = (uint64_t) fg_rng_u32 (rng) * bound;
            low = (uint32_t) m;
        }
    }
    return (uint32_t) (m >> 32);
}

void
fg_rng_shuffle (fg_rng_t *rng, uint32_t *items, size_t n)
{
    assert (n <= UINT32_MAX);
    for (size_t i = n; i > 1; i--) {
        uint32_t j = fg_rng_below (rng, (uint32_t) i);
        uint32_t t = items [i - 1];
        items [i - 1] = items [j];
        items [j] = t;
    }
}

void
fg_rng_permutation (fg_rng_t *rng, uint32_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out [i] = (uint32_t) i;
    fg_rng_shuffle (rng, out, n);
}

double
fg_rng_gamma (fg_rng_t *rng, double shape)
{
    assert (shape > 0);
    if (shape < 1.0) {
        //  Gamma(a) = Gamma(a + 1) * U^(1/a)
        double u = 1.0 - fg_rng_uniform_double (rng);
        return fg_rng_gamma (rng, shape + 1.0) * pow (u, 1.0 / shape);
    }
    double d = shape - 1.0 / 3.0;
    double c = 1.0 / sqrt (9.0 * d);
    for (;;) {
        double x = fg_rng_normal (rng);
        double v = 1.0 + c * x;
        if (v <= 0)
            continue;
        v = v * v * v;
        double u = 1.0 - fg_rng_uniform_double (rng);
        if (log (u) < 0.5 * x * x + d - d * v + d * log (v))
            return d * v;
    }
}
