/*  fg_partition.h — how the training set is cut into shards (DESIGN §6).

    A shard is the list of training-sample indices one work unit trains on.
    Its content is a pure function of (seed, round, shard, strategy,
    distribution, the dataset's labels, the parameters below) and, for the
    hybrid strategy, of the shard's previous-round content — the same on
    any machine, whoever asks, in whatever order. The only randomness is
    fg_rng streams (purposes PARTITION, SAMPLE, SKEW, DIRICHLET); the exact
    construction, stream keys and exhaustion rules are in
    docs/partitioning.md.

    Shard sizes: d_s = D / C, plus one for the first D % C shards, so the
    sizes add up to D. Indices in a shard are distinct and sorted
    ascending (the trainer orders mini-batches itself, FG_RNG_BATCH).

    Strategies:
      stochastic  each round, each shard independently draws d_s distinct
                  indices (shards may overlap);
      static      one disjoint partition (round key 0) reused every round;
      dynamic     a new disjoint partition every round (round key r);
      hybrid      round 0 is the static partition; in round r a shard keeps
                  exactly round (keep_fraction * d_s) of its round r-1
                  samples and draws the rest anew from samples it did not
                  hold (shards stop being disjoint after round 0).
    Distributions: iid; skew (a share `balance` of each shard from its
    dominant classes); dirichlet (each shard's class mix ~ Dir(alpha)).

    An fg_partition_t caches the last disjoint partition it built, so it is
    not thread-safe: one object per thread/actor.                         */

#ifndef FG_PARTITION_H_INCLUDED
#define FG_PARTITION_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "fg_config.h"
#include "fg_error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FG_PARTITION_CLASSES_MAX 65536  //  labels are uint16

typedef struct {
    int      strategy;          //  fg_strategy_t
    int      distribution;      //  fg_distribution_t
    double   balance;           //  skew: b in [0, 1], share from dominant classes
    uint32_t dominant_classes;  //  skew: m in [1, K-1]; 0 = auto: max (1, ceil (K / C))
    double   alpha;             //  dirichlet: concentration, > 0
    double   keep_fraction;     //  hybrid: in [0, 1]
    uint32_t nodes;             //  C: shards per round, 1 <= C <= D
    uint64_t seed;              //  experiment seed
} fg_partition_params_t;

typedef struct fg_partition_s fg_partition_t;

//  A whole round: shard s is index [offset [s] .. offset [s + 1]).
typedef struct {
    uint32_t  nshards;
    size_t   *offset;           //  [nshards + 1]
    uint32_t *index;            //  [offset [nshards]]
} fg_shards_t;

//  Fills params from a configuration ([data] strategy, distribution,
//  balance, dominant_classes, alpha, keep_fraction; [grid] nodes;
//  [experiment] seed). Values are copied as they are; fg_partition_new
//  checks them. Returns 0, or FG_ERANGE when nodes or dominant_classes
//  does not fit in 32 bits or is negative.
int
    fg_partition_params_from_config (fg_partition_params_t *params,
                                     const fg_config_t *cfg, fg_error_t *err);

//  Creates a partitioner over `count` samples whose labels (class index
//  per sample, < classes) are copied. Returns NULL and fills err with
//  FG_EINVAL (count 0 or > UINT32_MAX, classes 0 or > 65536, a label out
//  of range — the message names the sample —, unknown strategy or
//  distribution, C = 0 or C > D, balance/keep_fraction outside [0, 1] or
//  not finite, alpha <= 0 or not finite for dirichlet, dominant classes
//  outside [1, K-1] or K < 2 for skew) or FG_ENOMEM.
//  Caller owns the result: fg_partition_destroy.
fg_partition_t *
    fg_partition_new (const uint16_t *labels, size_t count, uint32_t classes,
                      const fg_partition_params_t *params, fg_error_t *err);

//  NULL-safe; nulls *self_p.
void
    fg_partition_destroy (fg_partition_t **self_p);

//  Number of shards C.
uint32_t
    fg_partition_nshards (const fg_partition_t *self);

//  d_s: samples in shard s (0 when s >= C).
size_t
    fg_partition_shard_size (const fg_partition_t *self, uint32_t shard);

//  The dominant classes m of skewed shards (0 for other distributions),
//  and writes shard s's dominant classes to out [0 .. m) when out is not
//  NULL (nothing when the distribution is not skew).
uint32_t
    fg_partition_dominant (const fg_partition_t *self, uint32_t shard, uint32_t *out);

//  Writes the d_s indices of shard s in round r, sorted ascending, to out
//  (room for fg_partition_shard_size (self, shard)).
//  Hybrid, r > 0: prev is the shard's round r-1 content (prev_count must be
//  d_s, indices < D, distinct, any order); with prev NULL the shard is
//  rebuilt from round 0 (cost O(r * D)), with the same result.
//  Other strategies ignore prev. Static and dynamic build (and cache) the
//  round's whole partition, O(D); stochastic and hybrid touch one shard.
//  Returns 0, FG_EINVAL (shard >= C, bad prev) or FG_ENOMEM.
int
    fg_partition_shard (fg_partition_t *self, uint32_t round, uint32_t shard,
                        const uint32_t *prev, size_t prev_count, uint32_t *out,
                        fg_error_t *err);

//  All C shards of round r into *shards_p (caller owns it:
//  fg_shards_destroy). Hybrid, r > 0: prev is round r-1's result (or NULL
//  to rebuild from round 0). Returns 0, FG_EINVAL (prev with another shard
//  count or bad content) or FG_ENOMEM.
int
    fg_partition_round (fg_partition_t *self, uint32_t round, const fg_shards_t *prev,
                        fg_shards_t **shards_p, fg_error_t *err);

//  NULL-safe; nulls *self_p.
void
    fg_shards_destroy (fg_shards_t **self_p);

#ifdef __cplusplus
}
#endif

#endif
