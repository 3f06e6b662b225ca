/*  fg_aggregate.h — folding a round's updates into new global weights.

    An fg_aggregate_t lives as long as an experiment (it holds the server
    momentum buffer). Each round:
        fg_aggregate_begin  (global weights, shard count)
        fg_aggregate_add    (shard, sample count, update)   any order, any time
        fg_aggregate_finish (-> new global weights)
    Whatever the arrival order, the arithmetic runs in shard order in
    double precision and rounds to float once, so the result is the same
    bits for the same set of accepted updates (DESIGN §3).

    Every update is first validated against the round's global state
    (fg_aggregate_validate): layout, finite values, and its norm against
    the bound (fg_aggregate_bound) — by default max_update_ratio times the
    global weights' norm, which refuses a poisoned update (+1000 on every
    weight) while honest updates stay far below it. Then, per update s with delta
    delta_s = update_s - global (in double):
      clipping   (clip_norm > 0) delta_s *= min (1, clip_norm / |delta_s|)
    and per coordinate i the aggregate delta A [i]:
      fedavg        sum_s n_s delta_s [i] / sum_s n_s, folded in shard order
      median        median of delta_s [i] over the updates (unweighted)
      trimmed mean  mean of delta_s [i] after dropping floor (trim * n)
                    smallest and largest values (unweighted)
    New state, PARAM views:
      beta = 0:  new = global + server_lr * A
      beta > 0:  v = beta * v + (-A)   (v rounded to float: the buffer)
                 new = global - server_lr * v
    BUFFER views (batch-norm running statistics): new = global + A — no
    server learning rate, no momentum. Norms |delta_s| are L2 over the
    PARAM views only. Exact formulas: docs/aggregation.md.              */

#ifndef FG_AGGREGATE_H_INCLUDED
#define FG_AGGREGATE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "fg_config.h"
#include "fg_error.h"
#include "fg_state.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int    rule;                //  fg_aggregation_rule_t
    double trim_fraction;       //  trimmed mean: share cut at each end, [0, 0.5)
    double clip_norm;           //  0: no clipping; else > 0
    double max_update_norm;     //  0: no bound; else updates with a larger norm are rejected
    double max_update_ratio;    //  0: no relative bound; else |delta| <= ratio * global norm
    double ratio_floor_rms;     //  the global norm counts as at least this * sqrt (PARAMs)
    double server_lr;           //  > 0 (1 = plain FedAvg)
    double server_momentum;     //  beta in [0, 1); 0 = no momentum buffer
} fg_aggregate_params_t;

typedef struct fg_aggregate_s fg_aggregate_t;

//  Fills params from cfg->aggregation. Returns 0.
int
    fg_aggregate_params_from_config (fg_aggregate_params_t *params, const fg_config_t *cfg);

//  The largest norm |delta| (L2 over PARAM views) an update may have
//  against `global` under params: the smaller of max_update_norm (when
//  > 0) and max_update_ratio * max (|global|, ratio_floor_rms * sqrt (P))
//  (when max_update_ratio > 0), P the number of PARAM values and |global|
//  the L2 norm of the global PARAM values; INFINITY when both are 0. A
//  pure function of params and global (docs/aggregation.md). Writes
//  |global| to *global_norm when not NULL.
double
    fg_aggregate_bound (const fg_aggregate_params_t *params, const fg_state_t *global,
                        double *global_norm);

//  Checks an update of shard `shard` against the global state: same layout
//  (names, kinds, shapes, offsets), every value finite, and the L2 norm of
//  (update - global) over PARAM views at most fg_aggregate_bound (params,
//  global). params NULL: no norm bound. Writes that norm to *norm when
//  norm is not NULL (also on FG_ERANGE). Returns 0, FG_EMISMATCH (layout;
//  names the shard and the first differing tensor), FG_ENUMERIC (names the
//  shard, tensor and element) or FG_ERANGE (names the shard, the norm, the
//  bound, the tensor contributing most and the key that sets the bound).
int
    fg_aggregate_validate (const fg_state_t *global, const fg_state_t *update,
                           uint32_t shard, const fg_aggregate_params_t *params,
                           double *norm, fg_error_t *err);

//  Creates an aggregator. Returns NULL and fills err with FG_EINVAL (an
//  unknown rule or a parameter out of range, named) or FG_ENOMEM.
//  Caller owns the result: fg_aggregate_destroy.
fg_aggregate_t *
    fg_aggregate_new (const fg_aggregate_params_t *params, fg_error_t *err);

//  NULL-safe; nulls *self_p.
void
    fg_aggregate_destroy (fg_aggregate_t **self_p);

//  Starts a round over `nshards` shards from the global state (copied).
//  Drops what an unfinished previous round had collected. With momentum,
//  the buffer is created (zeros) on the first round and must keep the
//  global state's layout. Returns 0, FG_EINVAL (nshards 0), FG_ENUMERIC
//  (a NaN or Inf in the global state), FG_EMISMATCH (momentum buffer of
//  another layout) or FG_ENOMEM.
int
    fg_aggregate_begin (fg_aggregate_t *self, const fg_state_t *global, uint32_t nshards,
                        fg_error_t *err);

//  Offers shard's update, trained on `samples` samples. Takes ownership of
//  *update_p and sets it to NULL, whatever the outcome. The update is
//  validated (fg_aggregate_validate with the aggregator's params; the
//  bound is computed once per round by begin); a rejected
//  update leaves the round as it was. FedAvg folds updates as soon as all
//  lower shards that will be folded are in, so memory holds only updates
//  that arrived early; median and trimmed mean keep every update until
//  finish. Returns 0, FG_ESTATE (no round begun), FG_EINVAL (shard >=
//  nshards, samples 0), FG_EEXIST (shard already accepted this round),
//  FG_EMISMATCH, FG_ENUMERIC, FG_ERANGE (see validate) or FG_ENOMEM.
int
    fg_aggregate_add (fg_aggregate_t *self, uint32_t shard, uint64_t samples,
                      fg_state_t **update_p, fg_error_t *err);

//  Number of updates accepted this round; whether shard's was.
size_t
    fg_aggregate_count (const fg_aggregate_t *self);
bool
    fg_aggregate_has (const fg_aggregate_t *self, uint32_t shard);

//  Ends the round: folds the accepted updates (in shard order) and writes
//  the new global state to *result_p (caller owns it). Updates the
//  momentum buffer. Returns 0, FG_ESTATE (no round begun, or no update
//  accepted: the round stays open) or FG_ENOMEM (the round stays open).
int
    fg_aggregate_finish (fg_aggregate_t *self, fg_state_t **result_p, fg_error_t *err);

//  The server momentum buffer v (layout of the global state), or NULL
//  without momentum or before the first round. Owned by the aggregator;
//  journal it with the global weights to resume exactly.
const fg_state_t *
    fg_aggregate_momentum (const fg_aggregate_t *self);

//  Restores the momentum buffer from a checkpoint (copied). Returns 0,
//  FG_ESTATE (aggregator without momentum), FG_EMISMATCH (layout differs
//  from the current round's global state, when a round is begun; else
//  checked by the next fg_aggregate_begin), FG_ENUMERIC (NaN or Inf) or
//  FG_ENOMEM.
int
    fg_aggregate_set_momentum (fg_aggregate_t *self, const fg_state_t *buffer,
                               fg_error_t *err);

#ifdef __cplusplus
}
#endif

#endif
