/*  fg_unit.h — one work unit: train a model on one shard for a number of
    local epochs, starting from given weights, in mini-batch slices.

    The unit is the computation the design's exactness rests on: its result
    is a pure function of (starting weights, dataset, shard indices, seed,
    round, shard, hyper-parameters) — whoever runs it, with however many
    threads, resumed from a checkpoint or not:
      - epoch e visits the shard in the order of a permutation drawn from
        fg_rng (seed, FG_RNG_BATCH, round, shard, e, 0);
      - batch s of epoch e is augmented with key (seed, round, shard, e, s)
        and its dropout uses the same key;
      - the optimiser's momentum starts at zero for every unit;
      - a trailing batch of a single image is skipped (batch-norm cannot
        normalise one image), so an epoch has floor (n / batch) batches plus
        one for a remainder of 2 or more.
    The learning rate of epoch e is fg_optim_lr (optim, e): a centralised
    run (`fedctl train`) is one unit over the whole training set with round
    0, shard 0, whose schedule runs per epoch; a federated unit has the
    constant schedule at the rate the coordinator's schedule gives its
    round (TASK lr).

    Checkpoints are taken at epoch boundaries (fg_unit_checkpoint) and hold
    the weights, the optimiser state, the completed epochs and their mean
    losses; fg_unit_restore continues from there bit for bit.             */

#ifndef FG_UNIT_H_INCLUDED
#define FG_UNIT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "fg_blob.h"
#include "fg_dataset.h"
#include "fg_error.h"
#include "fg_model.h"
#include "fg_optim.h"
#include "fg_state.h"
#include "fg_train.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const fg_dataset_t *data;       //  training split, shared read-only
    const uint32_t *indices;        //  the shard (copied by fg_unit_new)
    size_t   count;                 //  its size, >= 1
    fg_model_spec_t model;          //  architecture
    fg_optim_config_t optim;        //  hyper-parameters; lr per epoch by its schedule
    uint64_t seed;
    uint32_t round;
    uint32_t shard;
    uint32_t epochs;                //  local epochs, >= 1
    uint32_t batch;                 //  >= 1
    bool     augment;
    int      threads;               //  BLIS threads (never changes results)
} fg_unit_spec_t;

typedef struct _fg_unit_t fg_unit_t;

//  A unit ready to run its first batch from `weights` (copied; its layout
//  must be the model's). Caller owns it: fg_unit_destroy.
//  Returns NULL and fills err: FG_EINVAL (empty shard, an index outside the
//  dataset, bad spec), FG_EMISMATCH (weights of another layout), FG_ENOMEM.
fg_unit_t *
    fg_unit_new (const fg_unit_spec_t *spec, const fg_state_t *weights, fg_error_t *err);

//  As fg_unit_new, reusing the model, optimiser, workspace and buffers of
//  a finished or dropped unit *spare_p (taken: *spare_p is NULL after)
//  when it was built for the same model, image shape, batch, threads,
//  momentum, Nesterov and weight decay; otherwise *spare_p is destroyed
//  and a new unit built. The unit is the one fg_unit_new gives, bit for
//  bit (the weights copied in, momentum zeroed, the epoch's order drawn):
//  a trainer keeps its last unit so the next one skips the start-up (a
//  VGG-16's allocations and page faults). Returns as fg_unit_new.
fg_unit_t *
    fg_unit_renew (fg_unit_t **spare_p, const fg_unit_spec_t *spec,
                   const fg_state_t *weights, fg_error_t *err);

//  NULL-safe; nulls *self_p.
void
    fg_unit_destroy (fg_unit_t **self_p);

//  Runs the next mini-batch (one slice of work: an actor polls between
//  slices). *epoch_done (may be NULL) is set when the batch finished an
//  epoch. Returns 0, FG_ESTATE (already done), or an fg_train_step /
//  fg_dataset_batch code (FG_ENUMERIC: training diverged).
int
    fg_unit_step (fg_unit_t *self, bool *epoch_done, fg_error_t *err);

//  Runs every remaining batch. Returns as fg_unit_step.
int
    fg_unit_run (fg_unit_t *self, fg_error_t *err);

//  True when every epoch is done.
bool
    fg_unit_done (const fg_unit_t *self);

//  Completed epochs, batches per epoch, and the next batch's position.
uint32_t
    fg_unit_epoch (const fg_unit_t *self);
uint32_t
    fg_unit_steps_per_epoch (const fg_unit_t *self);
uint32_t
    fg_unit_next_step (const fg_unit_t *self);

//  Mean training loss and accuracy of each completed epoch (*count
//  entries, owned by the unit).
const double *
    fg_unit_losses (const fg_unit_t *self, uint32_t *count);
const double *
    fg_unit_accuracies (const fg_unit_t *self, uint32_t *count);

//  The model (its state holds the current weights), owned by the unit.
fg_model_t *
    fg_unit_model (fg_unit_t *self);

//  Samples trained on per epoch (the shard minus a skipped single image):
//  the weight of this unit's update in FedAvg.
uint64_t
    fg_unit_samples (const fg_unit_t *self);

//  Serialises the unit at its current epoch boundary: identity (seed,
//  round, shard, shard size), completed epochs and their losses, weights
//  and optimiser state (fg_blob), CRC-32 over everything. Caller owns
//  *bytes (free ()). Returns 0, FG_ESTATE (in the middle of an epoch) or
//  FG_ENOMEM. The states are encoded straight into the one buffer
//  returned (no blob copies besides it).
int
    fg_unit_checkpoint (const fg_unit_t *self, uint8_t **bytes, size_t *size,
                        fg_error_t *err);

//  The same checkpoint bytes handed to write (fg_blob.h) in pieces, each
//  byte once, at most about 8 MiB of buffers alive at a time (one
//  compressed chunk): no copy of the weights or of the optimiser state.
//  *total gets the checkpoint's size. Returns 0, FG_ESTATE, FG_ENOMEM or
//  write's code.
int
    fg_unit_checkpoint_write (const fg_unit_t *self, fg_blob_write_fn *write, void *ctx,
                              uint64_t *total, fg_error_t *err);

//  The same checkpoint bytes written to path atomically (tmp, fsync,
//  rename), streamed: about 8 MiB of buffers whatever the model's size.
//  Returns 0, FG_ESTATE, FG_ENOMEM, FG_EFULL or FG_EIO.
int
    fg_unit_checkpoint_save (const fg_unit_t *self, const char *path, fg_error_t *err);

//  Continues a fresh unit (same spec) from a checkpoint. Returns 0,
//  FG_EFORMAT (truncated or malformed), FG_ECHECKSUM, FG_EMISMATCH (a
//  checkpoint of another unit or model) or FG_ENOMEM; the unit is then
//  unchanged.
int
    fg_unit_restore (fg_unit_t *self, const uint8_t *bytes, size_t size, fg_error_t *err);

//  Evaluates `weights` of model `spec` on count samples of `data` (all
//  when count is 0) in batches of `batch`, with `threads` BLIS threads:
//  mean loss and top-1 count, summed in sample order (the same whatever
//  the batch size up to float rounding of each batch's mean; exactly the
//  same for a given batch). Returns 0 or an fg_model_new / fg_train code.
int
    fg_unit_evaluate (const fg_model_spec_t *spec, const fg_state_t *weights,
                      const fg_dataset_t *data, size_t count, uint32_t batch, int threads,
                      fg_train_result_t *result, fg_error_t *err);

//  fg_unit_evaluate of the unit's current weights, bit for bit, through
//  the unit's own model and training workspace (evaluation reads the
//  batch-norm running statistics and changes nothing the next step
//  reads): no second model, no second workspace. batch (0: 32) at most
//  the unit's batch, else FG_EINVAL (use fg_unit_evaluate); FG_EMISMATCH
//  for images of another shape.
int
    fg_unit_evaluate_own (fg_unit_t *self, const fg_dataset_t *data, size_t count,
                          uint32_t batch, fg_train_result_t *result, fg_error_t *err);

//  The same evaluation with its model, trainer and buffers kept between
//  calls (an aggregator evaluates every round): fg_unit_eval_new builds
//  them for `spec` at `batch` (0: 32) with `threads` BLIS threads (NULL
//  and err: fg_model_new's or fg_train_new's code, FG_ENOMEM);
//  fg_unit_eval_run copies `weights` in and evaluates as fg_unit_evaluate,
//  same bits (FG_EMISMATCH: weights or images of another shape).
typedef struct _fg_unit_eval_t fg_unit_eval_t;

fg_unit_eval_t *
    fg_unit_eval_new (const fg_model_spec_t *spec, uint32_t batch, int threads,
                      fg_error_t *err);
void
    fg_unit_eval_destroy (fg_unit_eval_t **self_p);
int
    fg_unit_eval_run (fg_unit_eval_t *self, const fg_state_t *weights,
                      const fg_dataset_t *data, size_t count, fg_train_result_t *result,
                      fg_error_t *err);

//  The model spec for a configuration's model on a dataset (classes and
//  image shape from the dataset).
void
    fg_unit_model_spec (int model_kind, const fg_dataset_t *data, fg_model_spec_t *spec);

#ifdef __cplusplus
}
#endif

#endif
