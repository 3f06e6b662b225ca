/*  fg_aggregate.c — FedAvg, median, trimmed mean, clipping, server
    momentum (see fg_aggregate.h and docs/aggregation.md).                */

#include "fg_aggregate.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fg_log.h"

//  An update's norm bound and where it comes from (for the message).
typedef struct {
    double bound;                       //  INFINITY: none
    double gnorm;                       //  |global| over PARAM views
    double floor;                       //  ratio_floor_rms * sqrt (PARAM count)
    bool   by_ratio;                    //  max_update_ratio sets it (else max_update_norm)
} s_bound_t;

struct fg_aggregate_s {
    fg_aggregate_params_t p;
    fg_state_t  *momentum;              //  v; NULL without momentum / before round 1
    //  the open round
    bool         open;
    fg_state_t  *global;                //  copy of the round's global state
    uint32_t     nshards;
    fg_state_t **held;                  //  [nshards] accepted, not yet folded
    uint64_t    *samples;               //  [nshards]
    double      *scale;                 //  [nshards] clipping factor (1: none)
    uint8_t     *accepted;              //  [nshards]
    size_t       count;                 //  accepted updates
    //  fedavg: running fold in shard order
    double      *acc;                   //  [size] sum of n_s * delta_s
    uint64_t     total;                 //  sum of n_s folded so far
    uint32_t     next_fold;             //  shards below are folded (or absent)
    s_bound_t    bound;                 //  of the round's updates' norms
};

int
fg_aggregate_params_from_config (fg_aggregate_params_t *params, const fg_config_t *cfg)
{
    assert (params && cfg);
    memset (params, 0, sizeof *params);
    params->rule = cfg->aggregation.rule;
    params->trim_fraction = cfg->aggregation.trim_fraction;
    params->clip_norm = cfg->aggregation.clip_norm;
    params->max_update_norm = cfg->aggregation.max_update_norm;
    params->max_update_ratio = cfg->aggregation.max_update_ratio;
    params->ratio_floor_rms = cfg->aggregation.ratio_floor_rms;
    params->server_lr = cfg->aggregation.server_lr;
    params->server_momentum = cfg->aggregation.server_momentum;
    return 0;
}

//  delta of one coordinate, in double, clipped, zeros made +0
static inline double
s_delta (float u, float g, double scale)
{
    double d = (double) u - (double) g;
    if (scale != 1.0)
        d *= scale;
    return d + 0.0;
}

//  The bound of params over global (see fg_aggregate_bound). The norm is
//  summed view by view in the state's order, like an update's.
static void
s_bound (const fg_aggregate_params_t *p, const fg_state_t *global, s_bound_t *b)
{
    double sum = 0, count = 0;
    for (size_t v = 0; v < global->nviews; v++) {
        const fg_tensor_view_t *view = &global->views [v];
        if (view->kind != FG_TENSOR_PARAM)
            continue;
        const float *g = global->data + view->offset;
        double part = 0;
        for (uint64_t i = 0; i < view->count; i++)
            part += (double) g [i] * (double) g [i];
        sum += part;
        count += (double) view->count;
    }
    b->gnorm = sqrt (sum);
    b->floor = p? p->ratio_floor_rms * sqrt (count): 0;
    b->bound = INFINITY;
    b->by_ratio = false;
    if (p && p->max_update_ratio > 0) {
        b->bound = p->max_update_ratio * (b->gnorm > b->floor? b->gnorm: b->floor);
        b->by_ratio = true;
    }
    if (p && p->max_update_norm > 0 && p->max_update_norm <= b->bound) {
        b->bound = p->max_update_norm;
        b->by_ratio = false;
    }
}

double
fg_aggregate_bound (const fg_aggregate_params_t *params, const fg_state_t *global,
                    double *global_norm)
{
    assert (params && global);
    s_bound_t b;
    s_bound (params, global, &b);
    if (global_norm)
        *global_norm = b.gnorm;
    return b.bound;
}

//  fg_aggregate_validate with the bound computed.
static int
s_validate (const fg_state_t *global, const fg_state_t *update, uint32_t shard,
            const fg_aggregate_params_t *p, const s_bound_t *b, double *norm, fg_error_t *err)
{
    if (norm)
        *norm = 0;
    fg_error_t why = { 0 };
    if (!fg_state_same_layout (global, update, &why))
        return fg_error_set (err, FG_EMISMATCH, "update of shard %u: layout differs from the "
                             "global state: %s", shard, why.msg);
    for (size_t v = 0; v < update->nviews; v++) {
        const fg_tensor_view_t *view = &update->views [v];
        const float *x = update->data + view->offset;
        for (uint64_t i = 0; i < view->count; i++)
            if (!isfinite (x [i]))
                return fg_error_set (err, FG_ENUMERIC, "update of shard %u: tensor '%s' element "
                                     "%llu is %s", shard, view->name, (unsigned long long) i,
                                     isnan (x [i])? "NaN": "infinite");
    }
    double sum = 0, top = -1;
    const char *top_name = "";
    for (size_t v = 0; v < update->nviews; v++) {
        const fg_tensor_view_t *view = &update->views [v];
        if (view->kind != FG_TENSOR_PARAM)
            continue;
        const float *x = update->data + view->offset, *g = global->data + view->offset;
        double part = 0;
        for (uint64_t i = 0; i < view->count; i++) {
            double d = (double) x [i] - (double) g [i];
            part += d * d;
        }
        sum += part;
        if (part > top) {
            top = part;
            top_name = view->name;
        }
    }
    double n = sqrt (sum);
    if (norm)
        *norm = n;
    if (n <= b->bound)
        return 0;
    if (b->by_ratio)
        return fg_error_set (err, FG_ERANGE, "update of shard %u: norm %g exceeds the bound %g "
                             "= aggregation.max_update_ratio %g x max (global norm %g, floor %g) "
                             "(largest part in tensor '%s'); if honest updates are this large, "
                             "raise aggregation.max_update_ratio (0: off)", shard, n, b->bound,
                             p->max_update_ratio, b->gnorm, b->floor, top_name);
    return fg_error_set (err, FG_ERANGE, "update of shard %u: norm %g exceeds the bound %g "
                         "= aggregation.max_update_norm (largest part in tensor '%s')",
                         shard, n, b->bound, top_name);
}

int
fg_aggregate_validate (const fg_state_t *global, const fg_state_t *update, uint32_t shard,
                       const fg_aggregate_params_t *params, double *norm, fg_error_t *err)
{
    assert (global && update);
    s_bound_t b;
    s_bound (params, global, &b);
    return s_validate (global, update, shard, params, &b, norm, err);
}

fg_aggregate_t *
fg_aggregate_new (const fg_aggregate_params_t *params, fg_error_t *err)
{
    assert (params);
    const fg_aggregate_params_t *p = params;
    if (p->rule < FG_AGG_FEDAVG || p->rule > FG_AGG_TRIMMED_MEAN) {
        fg_error_set (err, FG_EINVAL, "aggregation.rule = %d: unknown rule", p->rule);
        return NULL;
    }
    if (p->rule == FG_AGG_TRIMMED_MEAN && !(p->trim_fraction >= 0 && p->trim_fraction < 0.5)) {
        fg_error_set (err, FG_EINVAL, "aggregation.trim_fraction = %g: not in [0, 0.5)",
                      p->trim_fraction);
        return NULL;
    }
    //  bounds and the floor: finite, >= 0 (0 switches the bounds off)
    const struct { const char *key; double value; } nonneg [] = {
        { "clip_norm", p->clip_norm }, { "max_update_norm", p->max_update_norm },
        { "max_update_ratio", p->max_update_ratio }, { "ratio_floor_rms", p->ratio_floor_rms }
    };
    for (size_t i = 0; i < sizeof nonneg / sizeof nonneg [0]; i++)
        if (!(nonneg [i].value >= 0 && isfinite (nonneg [i].value))) {
            fg_error_set (err, FG_EINVAL, "aggregation.%s = %g: must be a finite number >= 0",
                          nonneg [i].key, nonneg [i].value);
            return NULL;
        }
    if (!(p->server_lr > 0 && isfinite (p->server_lr))) {
        fg_error_set (err, FG_EINVAL, "aggregation.server_lr = %g: must be a finite number > 0",
                      p->server_lr);
        return NULL;
    }
    if (!(p->server_momentum >= 0 && p->server_momentum < 1)) {
        fg_error_set (err, FG_EINVAL, "aggregation.server_momentum = %g: not in [0, 1)",
                      p->server_momentum);
        return NULL;
    }
    fg_aggregate_t *self = calloc (1, sizeof *self);
    if (!self) {
        fg_error_set (err, FG_ENOMEM, "aggregator: out of memory");
        return NULL;
    }
    self->p = *p;
    return self;
}

//  Drops everything of the open round.
static void
s_close_round (fg_aggregate_t *self)
{
    if (self->held)
        for (uint32_t s = 0; s < self->nshards; s++)
            fg_state_destroy (&self->held [s]);
    free (self->held);
    free (self->samples);
    free (self->scale);
    free (self->accepted);
    free (self->acc);
    fg_state_destroy (&self->global);
    self->held = NULL;
    self->samples = NULL;
    self->scale = NULL;
    self->accepted = NULL;
    self->acc = NULL;
    self->nshards = 0;
    self->count = 0;
    self->total = 0;
    self->next_fold = 0;
    self->open = false;
}

void
fg_aggregate_destroy (fg_aggregate_t **self_p)
{
    if (self_p && *self_p) {
        fg_aggregate_t *self = *self_p;
        s_close_round (self);
        fg_state_destroy (&self->momentum);
        free (self);
        *self_p = NULL;
    }
}

int
fg_aggregate_begin (fg_aggregate_t *self, const fg_state_t *global, uint32_t nshards,
                    fg_error_t *err)
{
    assert (self && global);
    s_close_round (self);
    if (nshards == 0)
        return fg_error_set (err, FG_EINVAL, "aggregator: a round needs at least one shard");
    for (size_t i = 0; i < global->size; i++)
        if (!isfinite (global->data [i]))
            return fg_error_set (err, FG_ENUMERIC, "aggregator: the global state holds a "
                                 "non-finite value at float %zu", i);
    if (self->momentum) {
        fg_error_t why = { 0 };
        if (!fg_state_same_layout (self->momentum, global, &why))
            return fg_error_set (err, FG_EMISMATCH, "aggregator: momentum buffer does not fit "
                                 "the global state: %s", why.msg);
    }
    else
    if (self->p.server_momentum > 0) {
        self->momentum = fg_state_dup (global);
        if (!self->momentum)
            return fg_error_set (err, FG_ENOMEM, "aggregator: out of memory (momentum buffer)");
        if (self->momentum->size)
            memset (self->momentum->data, 0, self->momentum->size * sizeof (float));
    }
    self->global = fg_state_dup (global);
    self->held = calloc (nshards, sizeof *self->held);
    self->samples = calloc (nshards, sizeof *self->samples);
    self->scale = calloc (nshards, sizeof *self->scale);
    self->accepted = calloc (nshards, 1);
    if (self->p.rule == FG_AGG_FEDAVG)
        self->acc = calloc (global->size? global->size: 1, sizeof *self->acc);
    if (!self->global || !self->held || !self->samples || !self->scale || !self->accepted
    || (self->p.rule == FG_AGG_FEDAVG && !self->acc)) {
        s_close_round (self);
        return fg_error_set (err, FG_ENOMEM, "aggregator: out of memory for %u shards of %zu "
                             "floats", nshards, global->size);
    }
    s_bound (&self->p, global, &self->bound);
    self->nshards = nshards;
    self->open = true;
    return 0;
}

//  FedAvg: acc += n_s * delta_s, coordinates in order.
static void
s_fold (fg_aggregate_t *self, uint32_t s)
{
    const float *u = self->held [s]->data, *g = self->global->data;
    double n = (double) self->samples [s], scale = self->scale [s];
    for (size_t i = 0; i < self->global->size; i++)
        self->acc [i] += n * s_delta (u [i], g [i], scale);
    self->total += self->samples [s];
    fg_state_destroy (&self->held [s]);
}

int
fg_aggregate_add (fg_aggregate_t *self, uint32_t shard, uint64_t samples,
                  fg_state_t **update_p, fg_error_t *err)
{
    assert (self && update_p);
    fg_state_t *update = *update_p;
    *update_p = NULL;
    int rc = 0;
    double norm = 0;
    if (!self->open)
        rc = fg_error_set (err, FG_ESTATE, "aggregator: update of shard %u outside a round", shard);
    else
    if (!update)
        rc = fg_error_set (err, FG_EINVAL, "aggregator: update of shard %u is missing", shard);
    else
    if (shard >= self->nshards)
        rc = fg_error_set (err, FG_EINVAL, "aggregator: update of shard %u: the round has only "
                           "%u shards", shard, self->nshards);
    else
    if (samples == 0 || samples > ((uint64_t) 1 << 53))
        rc = fg_error_set (err, FG_EINVAL, "aggregator: update of shard %u: sample count %llu "
                           "not in 1 .. 2^53", shard, (unsigned long long) samples);
    else
    if (self->accepted [shard])
        rc = fg_error_set (err, FG_EEXIST, "aggregator: update of shard %u already accepted "
                           "this round", shard);
    else
        rc = s_validate (self->global, update, shard, &self->p, &self->bound, &norm, err);
    if (rc) {
        fg_state_destroy (&update);
        return rc;
    }
    double scale = 1.0;
    if (self->p.clip_norm > 0 && norm > self->p.clip_norm)
        scale = self->p.clip_norm / norm;
    self->held [shard] = update;
    self->samples [shard] = samples;
    self->scale [shard] = scale;
    self->accepted [shard] = 1;
    self->count++;
    //  the honest ratios of docs/aggregation.md are measured from these lines
    fg_log (FG_LOG_DEBUG, "aggregator: update of shard %u accepted: norm %.6g, global norm "
            "%.6g, ratio %.6g, bound %g", shard, norm, self->bound.gnorm,
            self->bound.gnorm > 0? norm / self->bound.gnorm: INFINITY, self->bound.bound);
    if (self->p.rule == FG_AGG_FEDAVG)
        while (self->next_fold < self->nshards && self->accepted [self->next_fold])
            s_fold (self, self->next_fold++);
    return 0;
}

size_t
fg_aggregate_count (const fg_aggregate_t *self)
{
    assert (self);
    return self->count;
}

bool
fg_aggregate_has (const fg_aggregate_t *self, uint32_t shard)
{
    assert (self);
    return self->open && shard < self->nshards && self->accepted [shard];
}

static int
s_cmp_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y? -1: x > y;
}

//  Sorts n values ascending (no NaN; zeros are all +0, so equal values are
//  equal bits and any correct sort gives the same sequence).
static void
s_sort (double *x, size_t n)
{
    if (n > 24) {
        qsort (x, n, sizeof *x, s_cmp_double);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        double v = x [i];
        size_t j = i;
        while (j > 0 && x [j - 1] > v) {
            x [j] = x [j - 1];
            j--;
        }
        x [j] = v;
    }
}

int
fg_aggregate_finish (fg_aggregate_t *self, fg_state_t **result_p, fg_error_t *err)
{
    assert (self && result_p);
    *result_p = NULL;
    if (!self->open)
        return fg_error_set (err, FG_ESTATE, "aggregator: finish without a round");
    if (self->count == 0)
        return fg_error_set (err, FG_ESTATE, "aggregator: no update accepted this round");

    const fg_state_t *g = self->global;
    size_t size = g->size, n = self->count;
    fg_state_t *result = fg_state_dup (g);
    double *agg = malloc ((size? size: 1) * sizeof *agg);       //  A
    double *vals = NULL;
    const float **rows = NULL;
    double *scales = NULL;
    if (self->p.rule != FG_AGG_FEDAVG) {
        vals = malloc (n * sizeof *vals);
        rows = malloc (n * sizeof *rows);
        scales = malloc (n * sizeof *scales);
    }
    if (!result || !agg || (self->p.rule != FG_AGG_FEDAVG && (!vals || !rows || !scales))) {
        fg_state_destroy (&result);
        free (agg);
        free (vals);
        free (rows);
        free (scales);
        return fg_error_set (err, FG_ENOMEM, "aggregator: out of memory finishing the round");
    }

    if (self->p.rule == FG_AGG_FEDAVG) {
        //  the rest of the fold, shard order (shards after a missing one)
        for (uint32_t s = self->next_fold; s < self->nshards; s++)
            if (self->accepted [s])
                s_fold (self, s);
        self->next_fold = self->nshards;
        double total = (double) self->total;
        for (size_t i = 0; i < size; i++)
            agg [i] = self->acc [i] / total;
    }
    else {
        size_t k = 0;
        for (uint32_t s = 0; s < self->nshards; s++)
            if (self->accepted [s]) {
                rows [k] = self->held [s]->data;
                scales [k] = self->scale [s];
                k++;
            }
        size_t trim = 0;
        if (self->p.rule == FG_AGG_TRIMMED_MEAN)
            trim = (size_t) floor (self->p.trim_fraction * (double) n);
        for (size_t i = 0; i < size; i++) {
            for (size_t j = 0; j < n; j++)
                vals [j] = s_delta (rows [j][i], g->data [i], scales [j]);
            s_sort (vals, n);
            if (self->p.rule == FG_AGG_MEDIAN)
                agg [i] = n % 2? vals [n / 2]: (vals [n / 2 - 1] + vals [n / 2]) / 2;
            else {
                double sum = 0;
                for (size_t j = trim; j < n - trim; j++)
                    sum += vals [j];
                agg [i] = sum / (double) (n - 2 * trim);
            }
        }
    }

    //  server step
    double lr = self->p.server_lr, beta = self->p.server_momentum;
    for (size_t v = 0; v < g->nviews; v++) {
        const fg_tensor_view_t *view = &g->views [v];
        const float *gv = g->data + view->offset;
        const double *a = agg + view->offset;
        float *out = result->data + view->offset;
        if (view->kind != FG_TENSOR_PARAM)
            for (uint64_t i = 0; i < view->count; i++)
                out [i] = (float) ((double) gv [i] + a [i]);
        else
        if (beta > 0) {
            float *m = self->momentum->data + view->offset;
            for (uint64_t i = 0; i < view->count; i++) {
                m [i] = (float) (beta * (double) m [i] - a [i]);
                out [i] = (float) ((double) gv [i] - lr * (double) m [i]);
            }
        }
        else
            for (uint64_t i = 0; i < view->count; i++)
                out [i] = (float) ((double) gv [i] + lr * a [i]);
    }
    free (agg);
    free (vals);
    free (rows);
    free (scales);
    s_close_round (self);
    *result_p = result;
    return 0;
}

const fg_state_t *
fg_aggregate_momentum (const fg_aggregate_t *self)
{
    assert (self);
    return self->momentum;
}

int
fg_aggregate_set_momentum (fg_aggregate_t *self, const fg_state_t *buffer, fg_error_t *err)
{
    assert (self && buffer);
    if (!(self->p.server_momentum > 0))
        return fg_error_set (err, FG_ESTATE, "aggregator: no server momentum configured");
    fg_error_t why = { 0 };
    if (self->open && !fg_state_same_layout (self->global, buffer, &why))
        return fg_error_set (err, FG_EMISMATCH, "aggregator: momentum buffer does not fit the "
                             "global state: %s", why.msg);
    for (size_t i = 0; i < buffer->size; i++)
        if (!isfinite (buffer->data [i]))
            return fg_error_set (err, FG_ENUMERIC, "aggregator: momentum buffer holds a "
                                 "non-finite value at float %zu", i);
    fg_state_t *copy = fg_state_dup (buffer);
    if (!copy)
        return fg_error_set (err, FG_ENOMEM, "aggregator: out of memory (momentum buffer)");
    fg_state_destroy (&self->momentum);
    self->momentum = copy;
    return 0;
}
