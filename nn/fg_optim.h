/*  fg_optim.h — SGD with momentum, Nesterov and weight decay; learning-rate
    schedules (constant, step, cosine) with linear warm-up.

    The update is torch.optim.SGD's (dampening 0), element by element in
    float32, in this order (every product and sum rounded on its own; the
    library is compiled with -ffp-contract=off):
        d   = g + wd * p                    (weight decay, when wd != 0)
        buf = momentum * buf + d            (when momentum != 0; buf starts 0,
                                             so the first step gives buf = d
                                             exactly as torch's clone)
        d   = nesterov? d + momentum * buf: buf
        p   = p + (-lr) * d
    It applies to every PARAM view (weights, biases, BN weights and biases —
    as torch does with one parameter group); BUFFER views (BN running
    statistics) are left alone.

    The optimiser's state is the momentum buffers: one fg_state_t with the
    model's layout (same names, kinds and shapes; BUFFER views stay zero),
    so a checkpoint saves and restores it like the weights. The schedule is
    a pure function of the (possibly fractional) epoch: there is no hidden
    step counter.                                                          */

#ifndef FG_OPTIM_H_INCLUDED
#define FG_OPTIM_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include "fg_config.h"
#include "fg_error.h"
#include "fg_state.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FG_OPTIM_MILESTONES_MAX FG_CONFIG_ARRAY_MAX

typedef struct {
    double  lr;                 //  base learning rate, > 0
    double  momentum;           //  [0, 1)
    bool    nesterov;           //  needs momentum > 0
    double  weight_decay;       //  >= 0 (L2, added to the gradient)
    int     schedule;           //  fg_schedule_t
    double  warmup_epochs;      //  >= 0; linear warm-up length
    int64_t milestones [FG_OPTIM_MILESTONES_MAX];   //  step: increasing epochs
    int     milestones_count;
    double  gamma;              //  step: factor at each milestone, (0, 1]
    double  horizon;            //  cosine: epochs to reach lr_min, > warm-up
    double  lr_min;             //  cosine: final learning rate (eta_min), >= 0
} fg_optim_config_t;

typedef struct _fg_optim_t fg_optim_t;

//  Fills oc from the [training] section of cfg; horizon is the schedule's
//  length in epochs (training.epochs for fedctl train, rounds for a
//  federated run whose schedule advances per round). lr_min is 0.
void
    fg_optim_config_from (fg_optim_config_t *oc, const fg_config_t *cfg, double horizon);

//  Checks ranges and combinations. Returns 0 or FG_EINVAL (message names
//  the field).
int
    fg_optim_config_check (const fg_optim_config_t *oc, fg_error_t *err);

//  Learning rate at epoch t >= 0 (fractional: epoch + step / steps). With
//  W = warmup_epochs and s(t) the schedule without warm-up:
//      s(t) = lr                                             constant
//             lr * gamma ^ #{milestones m : m <= t}          step
//             lr_min + (lr - lr_min) * (1 + cos (pi * min (1, (t - W) /
//                      (horizon - W)))) / 2   (t >= W)       cosine
//      lr(t) = s(t) * (t + 1) / (W + 1)   when t < W   (linear warm-up
//                                         from s/(W+1), reaching s at t=W)
//      lr(t) = s(t)                       otherwise.
//  (For the cosine schedule s(t) with t < W is lr.)
double
    fg_optim_lr (const fg_optim_config_t *oc, double t);

//  Creates an optimiser for parameters with the layout of `params` (the
//  model's state: its views are copied, not referenced). The momentum
//  buffers start at zero. Caller owns it: fg_optim_destroy.
//  Returns NULL and fills err (FG_EINVAL bad config, FG_ENOMEM).
fg_optim_t *
    fg_optim_new (const fg_optim_config_t *oc, const fg_state_t *params, fg_error_t *err);

//  NULL-safe; nulls *self_p.
void
    fg_optim_destroy (fg_optim_t **self_p);

//  The configuration in use.
const fg_optim_config_t *
    fg_optim_config (const fg_optim_t *self);

//  One SGD step with learning rate lr on every PARAM view of params using
//  grads (same layout as params). Returns 0, FG_EMISMATCH (layout differs
//  from the one given to fg_optim_new) or FG_ENUMERIC (lr not finite/<0).
int
    fg_optim_step (fg_optim_t *self, fg_state_t *params, const fg_state_t *grads,
                   double lr, fg_error_t *err);

//  Threads for the following steps (< 1 is taken as 1; default 1). Each
//  float's update is independent, so the count never changes results.
void
    fg_optim_set_threads (fg_optim_t *self, int threads);

//  The momentum buffers (the optimiser's whole state), owned by self:
//  save its data with the weights; restore with fg_state_copy_data or by
//  writing into ->data. Never NULL.
fg_state_t *
    fg_optim_state (fg_optim_t *self);

//  Zeroes the momentum buffers (a new work unit starts from scratch).
void
    fg_optim_reset (fg_optim_t *self);

#ifdef __cplusplus
}
#endif

#endif
