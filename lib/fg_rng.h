/*  fg_rng.h — the counter-based random number generator of fedgrid.

    Philox4x32-10 (Salmon et al., SC'11: "Parallel random numbers: as easy
    as 1, 2, 3"). A stream is keyed by the tuple
        (seed, purpose, round, shard, epoch, step)
    so every draw in the system is a pure function of where it is made,
    never of a global generator, the clock, a thread or arrival order.
    Within a stream, draw i is word (i % 4) of philox (counter i / 4), so a
    stream can be positioned anywhere in O(1) (fg_rng_seek) — a checkpoint
    stores fg_rng_tell () and a resumed unit continues bit for bit.

    Derivation of a stream (documented so any implementation agrees):
        b1  = philox (ctr = {purpose, round, shard, epoch},
                      key = {seed & 0xffffffff, seed >> 32})
        b2  = philox (ctr = {step, 0x66656467 ("fedg"), 0, 0},
                      key = {b1[0] ^ b1[2], b1[1] ^ b1[3]})
        draw block j = philox (ctr = {j & 0xffffffff, j >> 32, b2[2], b2[3]},
                               key = {b2[0], b2[1]})                        */

#ifndef FG_RNG_H_INCLUDED
#define FG_RNG_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

//  What a stream is for. The numbers are part of the experiment's meaning:
//  never renumber, only append.
typedef enum {
    FG_RNG_INIT       = 1,      //  initial weights of the model
    FG_RNG_PARTITION  = 2,      //  shard formation (static/dynamic/hybrid)
    FG_RNG_SAMPLE     = 3,      //  stochastic shards: independent draws
    FG_RNG_BATCH      = 4,      //  mini-batch order within a local epoch
    FG_RNG_AUGMENT    = 5,      //  crop offsets and flips
    FG_RNG_DROPOUT    = 6,      //  dropout masks
    FG_RNG_SYNTHETIC  = 7,      //  the synthetic dataset's samples
    FG_RNG_DIRICHLET  = 8,      //  Dirichlet label proportions
    FG_RNG_SKEW       = 9,      //  dominant classes of skewed shards
    FG_RNG_BACKUP     = 10,     //  choice of backup units / tie breaks
    FG_RNG_FAULT      = 11,     //  tests: units a FEDGRID_FAULT @p= lies on
    FG_RNG_SPOT_CHECK = 12,     //  units of trusted nodes computed twice
    FG_RNG_CHAOS      = 13,     //  tests: the chaos proxy's per-connection schedule
    FG_RNG_GRID_SIM   = 14,     //  tests: chaos-grid's crash and freeze schedules
    FG_RNG_TEXTURE    = 15,     //  the texture set's test/train split of whole images
    FG_RNG_TEST       = 100     //  tests only
} fg_rng_purpose_t;

typedef struct {
    uint32_t key [2];           //  stream key (from the tuple)
    uint32_t tag [2];           //  high counter words (from the tuple)
    uint64_t next;              //  index of the next 32-bit draw
    uint32_t block [4];         //  philox output of block next / 4
    uint64_t block_id;          //  which block `block` holds; UINT64_MAX: none
} fg_rng_t;

//  Philox4x32-10 block function: out = philox (ctr, key), Random123's
//  philox4x32_R (10, ctr, key) (Debian's librandom123-dev). Exposed for the
//  known-answer tests (Random123's tests/kat_vectors).
void
    fg_philox4x32_10 (const uint32_t ctr [4], const uint32_t key [2], uint32_t out [4]);

//  Positions rng at draw 0 of the stream keyed by the tuple.
void
    fg_rng_init (fg_rng_t *rng, uint64_t seed, fg_rng_purpose_t purpose,
                 uint32_t round, uint32_t shard, uint32_t epoch, uint32_t step);

//  Position (number of 32-bit words drawn so far) and re-positioning.
uint64_t
    fg_rng_tell (const fg_rng_t *rng);
void
    fg_rng_seek (fg_rng_t *rng, uint64_t position);

//  Uniform 32-bit and 64-bit words (a 64-bit word is two draws, low first).
uint32_t
    fg_rng_u32 (fg_rng_t *rng);
uint64_t
    fg_rng_u64 (fg_rng_t *rng);

//  Uniform float in [0, 1) with 24 random bits (one draw).
float
    fg_rng_uniform (fg_rng_t *rng);

//  Uniform double in [0, 1) with 53 random bits (two draws).
double
    fg_rng_uniform_double (fg_rng_t *rng);

//  Standard normal N(0, 1) by Box–Muller in double precision, using the
//  cosine branch only (four draws per value, no cached second value, so a
//  stream position alone determines the next value).
double
    fg_rng_normal (fg_rng_t *rng);

//  The next n values of fg_rng_normal, bit for bit, at a fraction of the
//  cost (model initialisation draws millions).
void
    fg_rng_normals (fg_rng_t *rng, double *out, size_t n);

//  Unbiased integer in [0, bound) (Lemire's multiply-and-reject); bound > 0.
uint32_t
    fg_rng_below (fg_rng_t *rng, uint32_t bound);

//  Fisher–Yates shuffle of items [0, n) in place (n <= UINT32_MAX).
void
    fg_rng_shuffle (fg_rng_t *rng, uint32_t *items, size_t n);

//  Writes a uniformly random permutation of 0 .. n-1 into out.
void
    fg_rng_permutation (fg_rng_t *rng, uint32_t *out, size_t n);

//  Gamma(shape, 1) draw (Marsaglia–Tsang), shape > 0; for Dirichlet splits.
double
    fg_rng_gamma (fg_rng_t *rng, double shape);

#ifdef __cplusplus
}
#endif

#endif
