/*  fg_model_pass.c — the workspace of fg_model (activations, gradient
    buffers shared by lifetime) and the network's forward and backward
    passes over the layer kernels (see fg_model.h).                      */

#include "fg_state.h"
#include "fg_model.h"
#include "fg_model_internal.h"
#include "fg_ops.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  ---------------------------------------------------------------------
//  Workspace and the passes

struct _fg_model_ws_t {
    fg_model_t *model;
    uint32_t batch;             //  capacity
    uint32_t n;                 //  images in the last forward
    bool trained;               //  last forward was a train one
    fg_ops_ctx_t *ctx;
    const float *x;             //  input of the last forward
    float **act;                //  [ntensors] (act [0] unused: the input)
    float **abufs;              //  inference: [nabufs] activation buffers
    size_t nabufs;              //  shared like gbufs (else act owns each)
    bool inference;             //  no gradients, no train forward
    float **grad;               //  [ntensors] (grad [0] unused), into gbufs
    float **gbufs;              //  [ngbufs] gradient buffers shared by
    size_t ngbufs;              //  tensors whose lifetimes do not overlap
    bool *grad_set;             //  [ntensors] holds a gradient already
    float *tmp, *tmp2;          //  [largest tensor] gradient temporaries
    float **save;               //  [nlayers] BN: mean then invstd (2C)
    uint8_t **mask;             //  [nlayers] dropout masks
    uint32_t *dropout_index;    //  [nlayers] ordinal among dropout layers
    size_t bytes;
};

static size_t
s_tensor_floats (const fg_mx_tensor_t *t)
{
    return (size_t) t->h * t->w * t->c;
}

static void *
s_ws_alloc (fg_model_ws_t *self, size_t bytes)
{
    size_t rounded = ((bytes + 63) & ~(size_t) 63) + FG_BLIS_TAIL_PAD;
    void *p = aligned_alloc (64, rounded);
    if (p)
        self->bytes += rounded;
    return p;
}

//  Gradient buffers. Going backward, the gradient of tensor t is written
//  first at its last consumer (layer c) and read last at its producer
//  (layer p): it lives over layers [p, c]. Tensors whose intervals do not
//  overlap share a buffer (greedy, in the order backward creates them,
//  best fit, growing a free buffer when none is large enough). The
//  logits' gradient lives from the start (c = nlayers). Returns 0 or -1.
static int
s_ws_grad_buffers (fg_model_ws_t *self)
{
    const fg_model_t *model = self->model;
    size_t nt = model->ntensors, nl = model->nlayers;
    size_t *producer = calloc (nt, sizeof *producer);
    size_t *consumer = calloc (nt, sizeof *consumer);
    size_t *order = calloc (nt, sizeof *order);
    size_t *owner = calloc (nt, sizeof *owner);        //  buffer -> tensor holding it
    size_t *size = calloc (nt, sizeof *size);          //  buffer -> floats
    size_t *assigned = calloc (nt, sizeof *assigned);  //  tensor -> buffer
    int rc = -1;
    if (!producer || !consumer || !order || !owner || !size || !assigned)
        goto done;
    for (size_t l = 0; l < nl; l++) {
        const fg_mx_layer_t *layer = &model->layers [l];
        producer [layer->out] = l;
        consumer [layer->in] = l;       //  layers in order: the last one wins
        if (layer->in2 >= 0)
            consumer [layer->in2] = l;
    }
    consumer [model->output] = nl;
    //  tensors 1 .. nt-1 by decreasing birth (consumer), then producer
    size_t count = 0;
    for (size_t t = 1; t < nt; t++)
        order [count++] = t;
    for (size_t i = 1; i < count; i++)
        for (size_t j = i; j > 0; j--) {
            size_t a = order [j - 1], b = order [j];
            if (consumer [a] > consumer [b]
            || (consumer [a] == consumer [b] && producer [a] >= producer [b]))
                break;
            order [j - 1] = b;
            order [j] = a;
        }
    size_t nbufs = 0;
    for (size_t i = 0; i < count; i++) {
        size_t t = order [i];
        size_t floats = s_tensor_floats (&model->tensors [t]) * self->batch;
        size_t best = SIZE_MAX, grow = SIZE_MAX;
        for (size_t b = 0; b < nbufs; b++) {
            if (producer [owner [b]] <= consumer [t])
                continue;                   //  its holder is still alive
            if (size [b] >= floats && (best == SIZE_MAX || size [b] < size [best]))
                best = b;
            if (grow == SIZE_MAX || size [b] > size [grow])
                grow = b;
        }
        if (best == SIZE_MAX && grow != SIZE_MAX) {
            best = grow;
            size [best] = floats;
        }
        if (best == SIZE_MAX) {
            best = nbufs++;
            size [best] = floats;
        }
        owner [best] = t;
        assigned [t] = best;
    }
    self->gbufs = calloc (nbufs? nbufs: 1, sizeof *self->gbufs);
    if (!self->gbufs)
        goto done;
    self->ngbufs = nbufs;
    for (size_t b = 0; b < nbufs; b++) {
        self->gbufs [b] = s_ws_alloc (self, size [b] * sizeof (float));
        if (!self->gbufs [b])
            goto done;
    }
    for (size_t t = 1; t < nt; t++)
        self->grad [t] = self->gbufs [assigned [t]];
    rc = 0;
done:
    free (producer);
    free (consumer);
    free (order);
    free (owner);
    free (size);
    free (assigned);
    return rc;
}

//  True if tensor t is read by layer `reader` only (and is not the logits).
static bool
s_single_reader (const fg_model_t *self, int t, size_t reader)
{
    if (t == self->output)
        return false;
    for (size_t l = 0; l < self->nlayers; l++)
        if (l != reader && (self->layers [l].in == t || self->layers [l].in2 == t))
            return false;
    return true;
}

//  Eval only: the last layer of the group layer l starts and
//  s_forward_fused runs in one pass — a conv or linear layer, then the
//  batch norm and / or the activation that alone read its output — or l
//  when l starts none. Structural (the layers, never the data), so the
//  inference workspace plans its buffers by it.
static size_t
s_fusion_end (const fg_model_t *self, size_t l)
{
    const fg_mx_layer_t *layer = &self->layers [l];
    if (layer->op != FG_MX_CONV && layer->op != FG_MX_LINEAR)
        return l;
    size_t last = l;
    if (l + 1 < self->nlayers && self->layers [l + 1].op == FG_MX_BN
    &&  self->layers [l + 1].in == layer->out && s_single_reader (self, layer->out, l + 1))
        last = l + 1;
    const fg_mx_layer_t *prev = &self->layers [last];
    if (last + 1 < self->nlayers && self->layers [last + 1].op == FG_MX_ACT
    &&  self->layers [last + 1].in == prev->out && s_single_reader (self, prev->out, last + 1))
        last++;
    return last;
}

//  Inference activation buffers. Going forward, tensor t is written at
//  its producer (layer p) and read last at its last consumer (layer c): it
//  lives over layers [p, c] (the logits to the end). Tensors whose
//  intervals do not overlap share a buffer (greedy in layer order, best
//  fit, growing a free buffer when none is large enough): vgg16-bn's chain
//  needs two buffers where training keeps every activation for backward.
//  This holds as long as a layer reads only the tensors its layer entry
//  names. A fused group (s_fusion_end) writes its last tensor while its
//  first layer still reads its input: a tensor produced in a group is
//  placed as if produced at the group's first layer. Returns 0 or -1.
static int
s_ws_act_shared (fg_model_ws_t *self)
{
    const fg_model_t *model = self->model;
    size_t nt = model->ntensors, nl = model->nlayers;
    size_t *last = calloc (nt, sizeof *last);          //  tensor -> last reader
    size_t *owner = calloc (nt, sizeof *owner);        //  buffer -> tensor holding it
    size_t *size = calloc (nt, sizeof *size);          //  buffer -> floats
    size_t *assigned = calloc (nt, sizeof *assigned);  //  tensor -> buffer
    size_t *start = calloc (nl? nl: 1, sizeof *start); //  layer -> its group's first
    size_t nbufs = 0;
    int rc = -1;
    if (!last || !owner || !size || !assigned || !start)
        goto done;
    for (size_t l = 0; l < nl; ) {
        size_t end = s_fusion_end (model, l);
        for (size_t k = l; k <= end; k++)
            start [k] = l;
        l = end + 1;
    }
    for (size_t l = 0; l < nl; l++) {
        const fg_mx_layer_t *layer = &model->layers [l];
        last [layer->in] = l;
        if (layer->in2 >= 0)
            last [layer->in2] = l;
    }
    last [model->output] = nl;
    for (size_t l = 0; l < nl; l++) {
        size_t t = (size_t) model->layers [l].out;
        size_t floats = s_tensor_floats (&model->tensors [t]) * self->batch;
        size_t best = SIZE_MAX, grow = SIZE_MAX;
        for (size_t b = 0; b < nbufs; b++) {
            if (last [owner [b]] >= start [l])
                continue;                   //  its holder is still read
            if (size [b] >= floats && (best == SIZE_MAX || size [b] < size [best]))
                best = b;
            if (grow == SIZE_MAX || size [b] > size [grow])
                grow = b;
        }
        if (best == SIZE_MAX)
            best = grow != SIZE_MAX? grow: nbufs++;
        if (size [best] < floats)
            size [best] = floats;
        owner [best] = t;
        assigned [t] = best;
    }
    self->abufs = calloc (nbufs? nbufs: 1, sizeof *self->abufs);
    if (!self->abufs)
        goto done;
    self->nabufs = nbufs;
    for (size_t b = 0; b < nbufs; b++)
        if (!(self->abufs [b] = s_ws_alloc (self, size [b] * sizeof (float))))
            goto done;
    for (size_t l = 0; l < nl; l++)
        self->act [model->layers [l].out] = self->abufs [assigned [model->layers [l].out]];
    rc = 0;
done:
    free (last);
    free (owner);
    free (size);
    free (assigned);
    free (start);
    return rc;
}

//  Activations for every tensor (training keeps them all for backward),
//  the gradient buffers and temporaries. Returns 0 or -1.
static int
s_ws_train_buffers (fg_model_ws_t *self)
{
    const fg_model_t *model = self->model;
    size_t largest = 0;
    for (size_t t = 1; t < model->ntensors; t++) {
        size_t floats = s_tensor_floats (&model->tensors [t]) * self->batch;
        if (floats > largest)
            largest = floats;
        if (!(self->act [t] = s_ws_alloc (self, floats * sizeof (float))))
            return -1;
    }
    if (s_ws_grad_buffers (self))
        return -1;
    self->tmp = s_ws_alloc (self, largest * sizeof (float));
    self->tmp2 = s_ws_alloc (self, largest * sizeof (float));
    return self->tmp && self->tmp2? 0: -1;
}

static fg_model_ws_t *
s_ws_new (fg_model_t *model, uint32_t batch, int threads, bool inference, fg_error_t *err)
{
    assert (model);
    const char *kind = fg_model_kind_name (model->spec.kind);
    if (batch < 1 || batch > 65536) {
        fg_error_set (err, FG_EINVAL, "model %s workspace: batch %u (1 .. 65536)", kind, batch);
        return NULL;
    }
    fg_model_ws_t *self = (fg_model_ws_t *) calloc (1, sizeof *self);
    if (!self)
        goto nomem;
    self->model = model;
    self->batch = batch;
    self->ctx = fg_ops_ctx_new (threads < 1? 1: threads);
    size_t nt = model->ntensors, nl = model->nlayers;
    self->act = calloc (nt, sizeof *self->act);
    self->grad = calloc (nt, sizeof *self->grad);
    self->grad_set = calloc (nt, sizeof *self->grad_set);
    self->save = calloc (nl, sizeof *self->save);
    self->mask = calloc (nl, sizeof *self->mask);
    self->dropout_index = calloc (nl, sizeof *self->dropout_index);
    if (!self->ctx || !self->act || !self->grad || !self->grad_set || !self->save
    ||  !self->mask || !self->dropout_index)
        goto nomem;
    for (size_t t = 1; t < nt; t++)
        if (s_tensor_floats (&model->tensors [t]) > SIZE_MAX / sizeof (float) / batch)
            goto nomem;
    self->inference = inference;
    if (inference? s_ws_act_shared (self): s_ws_train_buffers (self))
        goto nomem;
    uint32_t dropouts = 0;
    for (size_t l = 0; l < nl; l++) {
        const fg_mx_layer_t *layer = &model->layers [l];
        if (layer->op == FG_MX_BN) {
            self->save [l] = s_ws_alloc (self, 2 * (size_t) layer->cout * sizeof (float));
            if (!self->save [l])
                goto nomem;
        }
        else
        if (layer->op == FG_MX_DROPOUT) {
            self->mask [l] = s_ws_alloc (self, s_tensor_floats (&model->tensors [layer->out]) * batch);
            if (!self->mask [l])
                goto nomem;
            self->dropout_index [l] = dropouts++;
        }
    }
    return self;
nomem:
    fg_model_ws_destroy (&self);
    fg_error_set (err, FG_ENOMEM, "model %s workspace: out of memory for batch %u", kind, batch);
    return NULL;
}

fg_model_ws_t *
fg_model_ws_new (fg_model_t *model, uint32_t batch, int threads, fg_error_t *err)
{
    return s_ws_new (model, batch, threads, false, err);
}

fg_model_ws_t *
fg_model_ws_new_inference (fg_model_t *model, uint32_t batch, int threads, fg_error_t *err)
{
    return s_ws_new (model, batch, threads, true, err);
}

void
fg_model_ws_destroy (fg_model_ws_t **self_p)
{
    if (self_p && *self_p) {
        fg_model_ws_t *self = *self_p;
        size_t nt = self->model->ntensors, nl = self->model->nlayers;
        for (size_t t = 0; self->act && !self->abufs && t < nt; t++)
            free (self->act [t]);
        for (size_t b = 0; self->abufs && b < self->nabufs; b++)
            free (self->abufs [b]);
        free (self->abufs);
        for (size_t b = 0; self->gbufs && b < self->ngbufs; b++)
            free (self->gbufs [b]);
        free (self->gbufs);
        for (size_t l = 0; self->save && l < nl; l++)
            free (self->save [l]);
        for (size_t l = 0; self->mask && l < nl; l++)
            free (self->mask [l]);
        free (self->act);
        free (self->grad);
        free (self->grad_set);
        free (self->save);
        free (self->mask);
        free (self->dropout_index);
        free (self->tmp);
        free (self->tmp2);
        fg_ops_ctx_destroy (&self->ctx);
        free (self);
        *self_p = NULL;
    }
}

uint32_t
fg_model_ws_batch (const fg_model_ws_t *self)
{
    assert (self);
    return self->batch;
}

size_t
fg_model_ws_bytes (const fg_model_ws_t *self)
{
    assert (self);
    return self->bytes + fg_ops_ctx_scratch_bytes (self->ctx);
}

void
fg_model_ws_set_threads (fg_model_ws_t *self, int threads)
{
    assert (self);
    fg_ops_ctx_set_threads (self->ctx, threads < 1? 1: threads);
}

static fg_act_t
s_act (int act)
{
    switch (act) {
        case FG_MX_ACT_RELU:        return FG_ACT_RELU;
        case FG_MX_ACT_HARDSWISH:   return FG_ACT_HARDSWISH;
        case FG_MX_ACT_HARDSIGMOID: return FG_ACT_HARDSIGMOID;
        default:                    return FG_ACT_IDENTITY;
    }
}

static fg_conv_shape_t
s_conv_shape (const fg_mx_layer_t *layer, const fg_mx_tensor_t *x, uint32_t n)
{
    fg_conv_shape_t s = {
        .n = (int) n, .h = (int) x->h, .w = (int) x->w, .c = (int) x->c,
        .k = (int) layer->cout, .kh = (int) layer->k, .kw = (int) layer->k,
        .sh = (int) layer->stride, .sw = (int) layer->stride,
        .ph = (int) layer->pad, .pw = (int) layer->pad, .groups = (int) layer->groups
    };
    return s;
}

static fg_pool_shape_t
s_pool_shape (const fg_mx_tensor_t *x, uint32_t n)
{
    fg_pool_shape_t s = {
        .n = (int) n, .h = (int) x->h, .w = (int) x->w, .c = (int) x->c,
        .kh = 2, .kw = 2, .sh = 2, .sw = 2, .ph = 0, .pw = 0
    };
    return s;
}

//  The view's floats in the state (or grads), NULL for index -1.
static float *
s_param (fg_state_t *state, int view)
{
    return view < 0? NULL: state->data + state->views [view].offset;
}

//  Eval only: conv or linear layer l, then the batch norm and / or the
//  activation that alone read its output, in one fg_epilogue_forward pass
//  (the bits of the separate layers; docs/ops.md). Writes the last fused
//  layer's tensor and returns how many layers it ran, 0 when l is not such
//  a start (then the layers run one by one).
static size_t
s_forward_fused (fg_model_t *self, fg_model_ws_t *ws, size_t l, const float *in,
                 uint32_t n, int *rc, fg_error_t *err)
{
    const fg_mx_layer_t *layer = &self->layers [l];
    size_t last = s_fusion_end (self, l);
    if (last == l)
        return 0;
    fg_state_t *state = self->state;
    fg_epilogue_t e = { .bias = s_param (state, layer->b), .act = FG_ACT_IDENTITY };
    for (size_t k = l + 1; k <= last; k++) {
        const fg_mx_layer_t *next = &self->layers [k];
        if (next->op == FG_MX_BN) {
            e.gamma = s_param (state, next->w);
            e.beta = s_param (state, next->b);
            e.running_mean = s_param (state, next->rm);
            e.running_var = s_param (state, next->rv);
            e.eps = next->eps;
        }
        else
            e.act = s_act (next->act);
    }
    const fg_mx_tensor_t *tx = &self->tensors [layer->in];
    const fg_mx_tensor_t *ty = &self->tensors [layer->out];
    float *out = ws->act [self->layers [last].out];
    if (layer->op == FG_MX_CONV) {
        fg_conv_shape_t s = s_conv_shape (layer, tx, n);
        *rc = fg_conv_forward (ws->ctx, &s, in, s_param (state, layer->w), NULL, out, err);
    }
    else
        *rc = fg_linear_forward (ws->ctx, (int) n, (int) layer->cin, (int) layer->cout, in,
                                 s_param (state, layer->w), NULL, out, err);
    if (*rc == 0)
        *rc = fg_epilogue_forward (ws->ctx, (size_t) n * ty->h * ty->w, (int) ty->c, &e,
                                   out, out, err);
    return last - l + 1;
}

int
fg_model_forward (fg_model_t *self, fg_model_ws_t *ws, const float *x, uint32_t n,
                  bool train, fg_rng_t *dropout, const float **logits, fg_error_t *err)
{
    assert (self && ws && x && logits);
    const char *kind = fg_model_kind_name (self->spec.kind);
    if (ws->model != self)
        return fg_error_set (err, FG_EINVAL, "model %s forward: workspace of another model", kind);
    if (n < 1 || n > ws->batch)
        return fg_error_set (err, FG_EINVAL, "model %s forward: %u images (workspace holds 1 .. %u)",
                             kind, n, ws->batch);
    if (train && ws->inference)
        return fg_error_set (err, FG_EINVAL, "model %s forward: training in an inference workspace",
                             kind);
    if (train && self->has_dropout && !dropout)
        return fg_error_set (err, FG_EINVAL, "model %s forward: training needs a dropout stream", kind);
    ws->trained = false;
    ws->n = n;
    ws->x = x;
    fg_state_t *state = self->state;
    int rc = 0;
    for (size_t l = 0; l < self->nlayers && rc == 0; l++) {
        const fg_mx_layer_t *layer = &self->layers [l];
        const fg_mx_tensor_t *tx = &self->tensors [layer->in];
        const float *in = layer->in == 0? x: ws->act [layer->in];
        const float *in2 = layer->in2 < 0? NULL: layer->in2 == 0? x: ws->act [layer->in2];
        float *out = ws->act [layer->out];
        size_t count = (size_t) n * s_tensor_floats (tx);
        size_t fused = train? 0: s_forward_fused (self, ws, l, in, n, &rc, err);
        if (fused) {
            if (rc)
                fg_error_prefix (err, "model %s forward: layers %zu-%zu", kind, l, l + fused - 1);
            l += fused - 1;
            continue;
        }
        switch (layer->op) {
            case FG_MX_CONV: {
                fg_conv_shape_t s = s_conv_shape (layer, tx, n);
                rc = fg_conv_forward (ws->ctx, &s, in, s_param (state, layer->w),
                                      s_param (state, layer->b), out, err);
                break;
            }
            case FG_MX_BN: {
                float *save = ws->save [l];
                rc = fg_bn_forward ((size_t) n * tx->h * tx->w, (int) tx->c, in,
                                    s_param (state, layer->w), s_param (state, layer->b),
                                    s_param (state, layer->rm), s_param (state, layer->rv),
                                    layer->momentum, layer->eps, train,
                                    save, save + tx->c, out, err);
                break;
            }
            case FG_MX_ACT:
                rc = fg_act_forward_ctx (ws->ctx, s_act (layer->act), count, in, out, err);
                break;
            case FG_MX_MAXPOOL: {
                fg_pool_shape_t s = s_pool_shape (tx, n);
                rc = fg_maxpool_forward_ctx (ws->ctx, &s, in, out, err);
                break;
            }
            case FG_MX_GAP:
                fg_gap_forward_ctx (ws->ctx, n, (size_t) tx->h * tx->w, tx->c, in, out);
                break;
            case FG_MX_FLATTEN:
                fg_flatten_forward (n, tx->h, tx->w, tx->c, in, out);
                break;
            case FG_MX_LINEAR:
                rc = fg_linear_forward (ws->ctx, (int) n, (int) layer->cin, (int) layer->cout, in,
                                        s_param (state, layer->w), s_param (state, layer->b),
                                        out, err);
                break;
            case FG_MX_DROPOUT:
                rc = fg_dropout_forward (count, layer->p, dropout, ws->dropout_index [l], train,
                                         in, out, ws->mask [l], err);
                break;
            case FG_MX_SCALE:
                fg_scale_forward_ctx (ws->ctx, n, (size_t) tx->h * tx->w, tx->c, in, in2, out);
                break;
            case FG_MX_ADD:
                fg_add_forward_ctx (ws->ctx, count, in, in2, out);
                break;
            default:
                if (FG_NEVER (true))
                    rc = fg_error_set (err, FG_EINVAL, "unknown layer op %d", layer->op);
        }
        if (rc)
            fg_error_prefix (err, "model %s forward: layer %zu", kind, l);
    }
    if (rc)
        return rc;
    ws->trained = train;
    *logits = ws->act [self->output];
    return 0;
}

//  Where the gradient of tensor t goes: straight into its buffer the first
//  time, else into a temporary that s_grad_done adds.
static float *
s_grad_target (fg_model_ws_t *ws, int t, float *tmp)
{
    if (t == 0)
        return NULL;                    //  the input: not needed
    return ws->grad_set [t]? tmp: ws->grad [t];
}

static void
s_grad_done (fg_model_ws_t *ws, int t, float *tmp, size_t count)
{
    if (t == 0)
        return;
    if (ws->grad_set [t])
        fg_acc (count, tmp, ws->grad [t]);
    ws->grad_set [t] = true;
}

int
fg_model_backward (fg_model_t *self, fg_model_ws_t *ws, const float *dlogits, fg_error_t *err)
{
    assert (self && ws && dlogits);
    const char *kind = fg_model_kind_name (self->spec.kind);
    if (ws->model != self)
        return fg_error_set (err, FG_EINVAL, "model %s backward: workspace of another model", kind);
    if (!ws->trained)
        return fg_error_set (err, FG_ESTATE, "model %s backward: no train forward to go back through",
                             kind);
    uint32_t n = ws->n;
    fg_state_t *state = self->state, *grads = fg_model_grads (self);
    if (!grads)
        return fg_error_set (err, FG_ENOMEM, "model %s backward: out of memory for the gradients",
                             kind);
    memset (ws->grad_set, 0, self->ntensors * sizeof *ws->grad_set);
    memcpy (ws->grad [self->output], dlogits,
            (size_t) n * s_tensor_floats (&self->tensors [self->output]) * sizeof (float));
    ws->grad_set [self->output] = true;
    int rc = 0;
    for (size_t l = self->nlayers; l-- > 0 && rc == 0; ) {
        const fg_mx_layer_t *layer = &self->layers [l];
        const fg_mx_tensor_t *tx = &self->tensors [layer->in];
        const float *in = layer->in == 0? ws->x: ws->act [layer->in];
        const float *in2 = layer->in2 < 0? NULL: layer->in2 == 0? ws->x: ws->act [layer->in2];
        if (FG_NEVER (!ws->grad_set [layer->out])) {
            rc = fg_error_set (err, FG_ESTATE, "tensor %d has no gradient", layer->out);
            break;
        }
        const float *dy = ws->grad [layer->out];
        size_t count = (size_t) n * s_tensor_floats (tx);
        float *dx = s_grad_target (ws, layer->in, ws->tmp);
        switch (layer->op) {
            case FG_MX_CONV: {
                fg_conv_shape_t s = s_conv_shape (layer, tx, n);
                rc = fg_conv_backward (ws->ctx, &s, in, s_param (state, layer->w), dy, dx,
                                       s_param (grads, layer->w), s_param (grads, layer->b), err);
                break;
            }
            case FG_MX_BN: {
                const float *save = ws->save [l];
                rc = fg_bn_backward ((size_t) n * tx->h * tx->w, (int) tx->c, in,
                                     s_param (state, layer->w), save, save + tx->c, true, dy,
                                     dx, s_param (grads, layer->w), s_param (grads, layer->b), err);
                break;
            }
            case FG_MX_ACT:
                if (dx)
                    rc = fg_act_backward_ctx (ws->ctx, s_act (layer->act), count, in, dy, dx, err);
                break;
            case FG_MX_MAXPOOL: {
                fg_pool_shape_t s = s_pool_shape (tx, n);
                if (dx)
                    rc = fg_maxpool_backward_ctx (ws->ctx, &s, in, dy, dx, err);
                break;
            }
            case FG_MX_GAP:
                if (dx)
                    fg_gap_backward (n, (size_t) tx->h * tx->w, tx->c, dy, dx);
                break;
            case FG_MX_FLATTEN:
                if (dx)
                    fg_flatten_backward (n, tx->h, tx->w, tx->c, dy, dx);
                break;
            case FG_MX_LINEAR:
                rc = fg_linear_backward (ws->ctx, (int) n, (int) layer->cin, (int) layer->cout, in,
                                         s_param (state, layer->w), dy, dx,
                                         s_param (grads, layer->w), s_param (grads, layer->b), err);
                break;
            case FG_MX_DROPOUT:
                if (dx)
                    rc = fg_dropout_backward (count, layer->p, ws->mask [l], dy, dx, err);
                break;
            case FG_MX_SCALE: {
                float *ds = s_grad_target (ws, layer->in2, ws->tmp2);
                float *ds_buf = ds? ds: ws->tmp2;
                fg_scale_backward (n, (size_t) tx->h * tx->w, tx->c, in, in2, dy, dx, ds_buf);
                s_grad_done (ws, layer->in2, ws->tmp2, (size_t) n * tx->c);
                break;
            }
            case FG_MX_ADD: {
                if (dx)
                    memcpy (dx, dy, count * sizeof (float));
                float *db = s_grad_target (ws, layer->in2, ws->tmp2);
                if (db)
                    memcpy (db, dy, count * sizeof (float));
                s_grad_done (ws, layer->in2, ws->tmp2, count);
                break;
            }
            default:
                if (FG_NEVER (true))
                    rc = fg_error_set (err, FG_EINVAL, "unknown layer op %d", layer->op);
        }
        if (rc)
            fg_error_prefix (err, "model %s backward: layer %zu", kind, l);
        else
            s_grad_done (ws, layer->in, ws->tmp, count);
    }
    return rc;
}
