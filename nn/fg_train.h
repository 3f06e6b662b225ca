/*  fg_train.h — one SGD step on a mini-batch, and evaluation over a set of
    images, on plain arrays:
        images  (n, H, W, C) float32, NHWC, already normalised
        labels  (n) uint16 in [0, classes)
    so the dataset module, the trainer actor and `fedctl train` all drive
    the same code. A step is a pure function of (weights, optimiser state,
    batch, learning rate, keys): the keys (seed, round, shard, epoch, step)
    select the dropout stream (FG_RNG_DROPOUT), nothing else is random.
    Loss: softmax cross-entropy, mean over the batch (torch's
    CrossEntropyLoss).                                                    */

#ifndef FG_TRAIN_H_INCLUDED
#define FG_TRAIN_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "fg_error.h"
#include "fg_model.h"
#include "fg_optim.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint64_t seed;              //  experiment seed
    uint32_t round;             //  federated round (0 for centralised)
    uint32_t shard;             //  work unit's shard
    uint32_t epoch;             //  local epoch
    uint32_t step;              //  mini-batch within the epoch
} fg_train_keys_t;

typedef struct {
    double   loss;              //  mean cross-entropy over the images
    uint64_t correct;           //  images whose top-1 class is the label
    uint64_t count;             //  images seen
} fg_train_result_t;

typedef struct _fg_train_t fg_train_t;

//  A trainer of `model` (not owned; must outlive it) with `optim` (not
//  owned; may be NULL for evaluation only), for batches of up to `batch`
//  images, using `threads` BLIS threads. Holds the model's workspace (an
//  inference one without optim: several evaluators may share a model).
//  Caller owns it: fg_train_destroy. Returns NULL and fills err: FG_EINVAL
//  (batch out of range, optimiser of another layout), FG_ENOMEM.
fg_train_t *
    fg_train_new (fg_model_t *model, fg_optim_t *optim, uint32_t batch, int threads,
                  fg_error_t *err);

//  NULL-safe; nulls *self_p.
void
    fg_train_destroy (fg_train_t **self_p);

//  Thread count for the following calls (never changes results).
void
    fg_train_set_threads (fg_train_t *self, int threads);

//  The workspace (for byte counts in logs).
fg_model_ws_t *
    fg_train_ws (fg_train_t *self);

//  One step: zero grads, forward (train mode, dropout from keys), loss,
//  backward, SGD update with learning rate lr. result (may be NULL) gets
//  the batch's loss and top-1 count (before the update).
//  Returns 0 or FG_EINVAL (n out of range, no optimiser), FG_ERANGE (a
//  label >= classes; names the image), FG_ENUMERIC (a non-finite pixel —
//  names the image —, logit, loss, gradient or learning rate: the weights
//  and momentum are left unchanged; BN running statistics may have moved
//  when the forward ran).
int
    fg_train_step (fg_train_t *self, const float *images, const uint16_t *labels, uint32_t n,
                   double lr, const fg_train_keys_t *keys, fg_train_result_t *result,
                   fg_error_t *err);

//  Evaluation (BN running statistics, no dropout) of count images in
//  batches of `batch` (1 .. the trainer's capacity; 0 = capacity): mean
//  loss and top-1 count over all of them (sums in double, in image order).
//  Returns 0 or FG_EINVAL, FG_ERANGE, FG_ENUMERIC as fg_train_step.
int
    fg_train_evaluate (fg_train_t *self, const float *images, const uint16_t *labels,
                       size_t count, uint32_t batch, fg_train_result_t *result,
                       fg_error_t *err);

#ifdef __cplusplus
}
#endif

#endif
