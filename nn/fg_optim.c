/*  fg_optim.c — SGD and learning-rate schedules (see fg_optim.h).        */

#include "fg_optim.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct _fg_optim_t {
    fg_optim_config_t config;
    fg_state_t *momentum;           //  model layout; NULL data use if momentum 0
    int threads;                    //  for the update loop
};

void
fg_optim_config_from (fg_optim_config_t *oc, const fg_config_t *cfg, double horizon)
{
    assert (oc && cfg);
    memset (oc, 0, sizeof *oc);
    oc->lr = cfg->training.lr;
    oc->momentum = cfg->training.momentum;
    oc->nesterov = cfg->training.nesterov;
    oc->weight_decay = cfg->training.weight_decay;
    oc->schedule = cfg->training.schedule;
    oc->warmup_epochs = (double) cfg->training.warmup_epochs;
    int64_t count = cfg->training.milestones_count;
    if (count < 0)
        count = 0;
    if (count > FG_OPTIM_MILESTONES_MAX)
        count = FG_OPTIM_MILESTONES_MAX;
    for (int64_t i = 0; i < count; i++)
        oc->milestones [i] = cfg->training.milestones [i];
    oc->milestones_count = (int) count;
    oc->gamma = cfg->training.gamma;
    oc->horizon = horizon;
    oc->lr_min = 0;
}

int
fg_optim_config_check (const fg_optim_config_t *oc, fg_error_t *err)
{
    assert (oc);
    if (!(isfinite (oc->lr) && oc->lr > 0))
        return fg_error_set (err, FG_EINVAL, "optimiser: lr %g must be finite and > 0", oc->lr);
    if (!(oc->momentum >= 0 && oc->momentum < 1))
        return fg_error_set (err, FG_EINVAL, "optimiser: momentum %g not in [0, 1)", oc->momentum);
    if (oc->nesterov && oc->momentum == 0)
        return fg_error_set (err, FG_EINVAL, "optimiser: nesterov needs momentum > 0");
    if (!(isfinite (oc->weight_decay) && oc->weight_decay >= 0))
        return fg_error_set (err, FG_EINVAL, "optimiser: weight_decay %g must be finite and >= 0",
                             oc->weight_decay);
    if (!(isfinite (oc->warmup_epochs) && oc->warmup_epochs >= 0))
        return fg_error_set (err, FG_EINVAL, "optimiser: warmup_epochs %g must be >= 0",
                             oc->warmup_epochs);
    switch (oc->schedule) {
        case FG_SCHEDULE_CONSTANT:
            break;
        case FG_SCHEDULE_STEP:
            if (!(oc->gamma > 0 && oc->gamma <= 1))
                return fg_error_set (err, FG_EINVAL, "optimiser: step gamma %g not in (0, 1]", oc->gamma);
            if (oc->milestones_count < 0 || oc->milestones_count > FG_OPTIM_MILESTONES_MAX)
                return fg_error_set (err, FG_EINVAL, "optimiser: %d milestones (at most %d)",
                                     oc->milestones_count, FG_OPTIM_MILESTONES_MAX);
            for (int i = 0; i < oc->milestones_count; i++) {
                if (oc->milestones [i] < 0)
                    return fg_error_set (err, FG_EINVAL, "optimiser: milestone %d (%lld) is negative",
                                         i, (long long) oc->milestones [i]);
                if (i > 0 && oc->milestones [i] <= oc->milestones [i - 1])
                    return fg_error_set (err, FG_EINVAL,
                                         "optimiser: milestones must increase (%lld after %lld)",
                                         (long long) oc->milestones [i],
                                         (long long) oc->milestones [i - 1]);
            }
            break;
        case FG_SCHEDULE_COSINE:
            if (!(isfinite (oc->horizon) && oc->horizon > oc->warmup_epochs))
                return fg_error_set (err, FG_EINVAL,
                                     "optimiser: cosine horizon %g must exceed warm-up %g",
                                     oc->horizon, oc->warmup_epochs);
            if (!(isfinite (oc->lr_min) && oc->lr_min >= 0 && oc->lr_min <= oc->lr))
                return fg_error_set (err, FG_EINVAL, "optimiser: lr_min %g not in [0, lr]", oc->lr_min);
            break;
        default:
            return fg_error_set (err, FG_EINVAL, "optimiser: unknown schedule %d", oc->schedule);
    }
    return 0;
}

double
fg_optim_lr (const fg_optim_config_t *oc, double t)
{
    assert (oc);
    if (!(t >= 0))
        t = 0;
    double w = oc->warmup_epochs;
    double s = oc->lr;
    if (oc->schedule == FG_SCHEDULE_STEP) {
        for (int i = 0; i < oc->milestones_count; i++)
            if ((double) oc->milestones [i] <= t)
                s *= oc->gamma;
    }
    else
    if (oc->schedule == FG_SCHEDULE_COSINE && t >= w) {
        double span = oc->horizon - w;
        double x = span > 0? (t - w) / span: 1;
        if (x > 1)
            x = 1;
        s = oc->lr_min + (oc->lr - oc->lr_min) * (1 + cos (M_PI * x)) / 2;
    }
    if (t < w)
        s = s * (t + 1) / (w + 1);
    return s;
}

fg_optim_t *
fg_optim_new (const fg_optim_config_t *oc, const fg_state_t *params, fg_error_t *err)
{
    assert (oc && params);
    if (fg_optim_config_check (oc, err))
        return NULL;
    fg_optim_t *self = (fg_optim_t *) calloc (1, sizeof *self);
    if (self) {
        self->config = *oc;
        self->threads = 1;
        self->momentum = fg_state_dup (params);
    }
    if (!self || !self->momentum) {
        fg_optim_destroy (&self);
        fg_error_set (err, FG_ENOMEM, "optimiser: out of memory for %zu momentum floats",
                      params->size);
        return NULL;
    }
    fg_optim_reset (self);
    return self;
}

void
fg_optim_destroy (fg_optim_t **self_p)
{
    if (self_p && *self_p) {
        fg_state_destroy (&(*self_p)->momentum);
        free (*self_p);
        *self_p = NULL;
    }
}

const fg_optim_config_t *
fg_optim_config (const fg_optim_t *self)
{
    assert (self);
    return &self->config;
}

void
fg_optim_set_threads (fg_optim_t *self, int threads)
{
    assert (self);
    self->threads = threads < 1? 1: threads;
}

fg_state_t *
fg_optim_state (fg_optim_t *self)
{
    assert (self);
    return self->momentum;
}

void
fg_optim_reset (fg_optim_t *self)
{
    assert (self);
    if (self->momentum->size)
        memset (self->momentum->data, 0, self->momentum->size * sizeof (float));
}

//  p, g, buf [n]: the update of fg_optim.h on one view.
static void
s_sgd (float *p, const float *g, float *buf, size_t n, float lr, float momentum,
       float wd, bool nesterov)
{
    float minus_lr = -lr;
    for (size_t i = 0; i < n; i++) {
        float d = g [i];
        if (wd != 0)
            d = d + wd * p [i];
        if (momentum != 0) {
            float b = momentum * buf [i] + d;
            buf [i] = b;
            d = nesterov? d + momentum * b: b;
        }
        p [i] = p [i] + minus_lr * d;
    }
}

int
fg_optim_step (fg_optim_t *self, fg_state_t *params, const fg_state_t *grads,
               double lr, fg_error_t *err)
{
    assert (self && params && grads);
    if (!(isfinite (lr) && lr >= 0))
        return fg_error_set (err, FG_ENUMERIC, "optimiser: learning rate %g", lr);
    if (!fg_state_same_layout (params, self->momentum, err)
    ||  !fg_state_same_layout (grads, self->momentum, err)) {
        fg_error_prefix (err, "optimiser step");
        return FG_EMISMATCH;
    }
    const fg_optim_config_t *oc = &self->config;
    //  Memory-bound (five streams of the model's size): split every view
    //  into blocks of S_BLOCK floats over the threads. No float's sequence
    //  of operations depends on the split.
    const size_t S_BLOCK = 1 << 16;
    for (size_t v = 0; v < params->nviews; v++) {
        const fg_tensor_view_t *view = &params->views [v];
        if (view->kind != FG_TENSOR_PARAM)
            continue;
        const long blocks = (long) ((view->count + S_BLOCK - 1) / S_BLOCK);
        const int threads = blocks > 1? self->threads: 1;
#ifdef _OPENMP
#       pragma omp parallel for if (threads > 1) num_threads (threads) schedule (static)
#endif
        for (long b = 0; b < blocks; b++) {
            size_t at = view->offset + (size_t) b * S_BLOCK;
            size_t n = view->count - (size_t) b * S_BLOCK;
            s_sgd (params->data + at, grads->data + at, self->momentum->data + at,
                   n < S_BLOCK? n: S_BLOCK, (float) lr, (float) oc->momentum,
                   (float) oc->weight_decay, oc->nesterov);
        }
        (void) threads;
    }
    return 0;
}
