/*  fg_model.c — the layer list behind fg_model_t: building primitives
    (views in the state, tensors, layers), the model's life cycle and
    parameter initialisation (see fg_model.h, fg_model_internal.h). The
    architectures are in fg_model_zoo.c, the workspace and the forward
    and backward passes in fg_model_pass.c.                              */

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
//  Building: views in the state, tensors and layers

static int
s_push_tensor (fg_model_t *self, uint32_t h, uint32_t w, uint32_t c)
{
    if (self->ntensors == self->tensors_cap) {
        size_t cap = self->tensors_cap? 2 * self->tensors_cap: 64;
        fg_mx_tensor_t *t = realloc (self->tensors, cap * sizeof *t);
        if (!t)
            return -1;
        self->tensors = t;
        self->tensors_cap = cap;
    }
    self->tensors [self->ntensors] = (fg_mx_tensor_t) { h, w, c };
    return (int) self->ntensors++;
}

static fg_mx_layer_t *
s_push_layer (fg_model_t *self, int op, int in)
{
    if (self->failed || in < 0)
        return NULL;
    if (self->nlayers == self->layers_cap) {
        size_t cap = self->layers_cap? 2 * self->layers_cap: 64;
        fg_mx_layer_t *l = realloc (self->layers, cap * sizeof *l);
        if (!l) {
            self->failed = FG_ENOMEM;
            return NULL;
        }
        self->layers = l;
        self->layers_cap = cap;
    }
    fg_mx_layer_t *layer = &self->layers [self->nlayers++];
    memset (layer, 0, sizeof *layer);
    layer->op = op;
    layer->in = in;
    layer->in2 = -1;
    layer->out = -1;
    layer->w = layer->b = layer->rm = layer->rv = -1;
    return layer;
}

//  Sets layer->out to a new tensor (h, w, c); returns its index or -1.
static int
s_layer_out (fg_model_t *self, fg_mx_layer_t *layer, uint32_t h, uint32_t w, uint32_t c)
{
    int t = s_push_tensor (self, h, w, c);
    if (t < 0) {
        self->failed = FG_ENOMEM;
        return -1;
    }
    layer->out = t;
    return t;
}

//  Adds a view "<prefix>.<leaf>" to the layout; returns its index or -1
//  (self->failed). Only the views grow while the model is built: the
//  data block is allocated once at the end (fg_state_add would copy the
//  whole block once per view: vgg16-bn, 80 copies of up to 59 MB).
static int
s_view (fg_model_t *self, const char *prefix, const char *leaf, fg_tensor_kind_t kind,
        int init, float scale, uint32_t rank, uint64_t d0, uint64_t d1, uint64_t d2, uint64_t d3)
{
    if (self->failed)
        return -1;
    char name [FG_TENSOR_NAME_MAX];
    int len = snprintf (name, sizeof name, "%s.%s", prefix, leaf);
    if (len < 0 || (size_t) len >= sizeof name) {
        self->failed = FG_EINVAL;
        return -1;
    }
    uint64_t shape [4] = { d0, d1, d2, d3 };
    int rc = fg_state_add_view (self->state, name, kind, rank, shape, self->err);
    if (rc) {
        self->failed = rc;
        return -1;
    }
    size_t index = self->state->nviews - 1;
    if (index >= self->inits_cap) {
        size_t cap = self->inits_cap? 2 * self->inits_cap: 64;
        fg_mx_init_t *inits = realloc (self->inits, cap * sizeof *inits);
        if (!inits) {
            self->failed = FG_ENOMEM;
            return -1;
        }
        self->inits = inits;
        self->inits_cap = cap;
    }
    self->inits [index] = (fg_mx_init_t) { init, scale };
    return (int) index;
}

//  Convolution (bias as asked), weight (cout, cin/groups, k, k), `same`
//  padding (k-1)/2 unless pad given.
//      in (h, w, cin) -> out (oh, ow, cout)
int
fg_mx_conv (fg_model_t *self, const char *prefix, int in, uint32_t cout, uint32_t k,
            uint32_t stride, uint32_t pad, uint32_t groups, bool bias, int init)
{
    fg_mx_layer_t *layer = s_push_layer (self, FG_MX_CONV, in);
    if (!layer)
        return -1;
    fg_mx_tensor_t x = self->tensors [in];
    uint32_t cin = x.c;
    assert (groups >= 1 && cin % groups == 0 && cout % groups == 0);
    if (x.h + 2 * pad < k || x.w + 2 * pad < k) {
        self->failed = FG_EINVAL;
        fg_error_set (self->err, FG_EINVAL, "model: %s: input %ux%u is smaller than the %ux%u kernel",
                      prefix, x.h, x.w, k, k);
        return -1;
    }
    uint32_t oh = (x.h + 2 * pad - k) / stride + 1;
    uint32_t ow = (x.w + 2 * pad - k) / stride + 1;
    layer->cin = cin;
    layer->cout = cout;
    layer->k = k;
    layer->stride = stride;
    layer->pad = pad;
    layer->groups = groups;
    uint64_t fan_in = (uint64_t) (cin / groups) * k * k;
    uint64_t fan_out = (uint64_t) cout * k * k;     //  torch: size(0) * receptive field
    float scale = init == FG_MX_INIT_KAIMING_OUT? sqrtf (2.0f) / sqrtf ((float) fan_out)
                : init == FG_MX_INIT_UNIFORM_IN? 1.0f / sqrtf ((float) fan_in): 0;
    layer->w = s_view (self, prefix, "weight", FG_TENSOR_PARAM, init, scale,
                       4, cout, cin / groups, k, k);
    if (bias)
        layer->b = s_view (self, prefix, "bias", FG_TENSOR_PARAM,
                           init == FG_MX_INIT_UNIFORM_IN? FG_MX_INIT_UNIFORM_IN: FG_MX_INIT_ZERO,
                           init == FG_MX_INIT_UNIFORM_IN? scale: 0, 1, cout, 1, 1, 1);
    return s_layer_out (self, layer, oh, ow, cout);
}

//  Linear over the flattened tensor: weight (out, in), bias (out).
//      in (h, w, c) with h*w*c = fan in -> out (1, 1, cout)
//  rank4: weight shaped (out, in, 1, 1) as a 1x1 convolution (SE blocks).
int
fg_mx_linear (fg_model_t *self, const char *prefix, int in, uint32_t cout, int init, bool rank4)
{
    fg_mx_layer_t *layer = s_push_layer (self, FG_MX_LINEAR, in);
    if (!layer)
        return -1;
    fg_mx_tensor_t x = self->tensors [in];
    uint32_t cin = x.h * x.w * x.c;
    layer->cin = cin;
    layer->cout = cout;
    float scale = init == FG_MX_INIT_NORMAL? 0.01f
                : init == FG_MX_INIT_UNIFORM_IN? 1.0f / sqrtf ((float) cin)
                : init == FG_MX_INIT_KAIMING_OUT? sqrtf (2.0f) / sqrtf ((float) cout): 0;
    layer->w = rank4? s_view (self, prefix, "weight", FG_TENSOR_PARAM, init, scale, 4, cout, cin, 1, 1)
                    : s_view (self, prefix, "weight", FG_TENSOR_PARAM, init, scale, 2, cout, cin, 1, 1);
    layer->b = s_view (self, prefix, "bias", FG_TENSOR_PARAM,
                       init == FG_MX_INIT_UNIFORM_IN? FG_MX_INIT_UNIFORM_IN: FG_MX_INIT_ZERO,
                       init == FG_MX_INIT_UNIFORM_IN? scale: 0, 1, cout, 1, 1, 1);
    return s_layer_out (self, layer, 1, 1, cout);
}

//  Batch norm over channels: weight, bias (PARAM), running_mean,
//  running_var (BUFFER).   in (h, w, c) -> out (h, w, c)
int
fg_mx_bn (fg_model_t *self, const char *prefix, int in, float eps, float momentum)
{
    fg_mx_layer_t *layer = s_push_layer (self, FG_MX_BN, in);
    if (!layer)
        return -1;
    fg_mx_tensor_t x = self->tensors [in];
    layer->cin = layer->cout = x.c;
    layer->eps = eps;
    layer->momentum = momentum;
    layer->w = s_view (self, prefix, "weight", FG_TENSOR_PARAM, FG_MX_INIT_ONE, 0, 1, x.c, 1, 1, 1);
    layer->b = s_view (self, prefix, "bias", FG_TENSOR_PARAM, FG_MX_INIT_ZERO, 0, 1, x.c, 1, 1, 1);
    layer->rm = s_view (self, prefix, "running_mean", FG_TENSOR_BUFFER, FG_MX_INIT_ZERO, 0, 1, x.c, 1, 1, 1);
    layer->rv = s_view (self, prefix, "running_var", FG_TENSOR_BUFFER, FG_MX_INIT_ONE, 0, 1, x.c, 1, 1, 1);
    return s_layer_out (self, layer, x.h, x.w, x.c);
}

//  Element-wise layers that keep the shape: activation, dropout.
int
fg_mx_unary (fg_model_t *self, int op, int in, int act, float p)
{
    fg_mx_layer_t *layer = s_push_layer (self, op, in);
    if (!layer)
        return -1;
    fg_mx_tensor_t x = self->tensors [in];
    layer->act = act;
    layer->p = p;
    layer->cin = layer->cout = x.c;
    if (op == FG_MX_DROPOUT)
        self->has_dropout = true;
    return s_layer_out (self, layer, x.h, x.w, x.c);
}

//  Max pool 2x2 stride 2 (floor).   in (h, w, c) -> out (h/2, w/2, c)
int
fg_mx_maxpool (fg_model_t *self, int in)
{
    fg_mx_layer_t *layer = s_push_layer (self, FG_MX_MAXPOOL, in);
    if (!layer)
        return -1;
    fg_mx_tensor_t x = self->tensors [in];
    if (x.h < 2 || x.w < 2) {
        self->failed = FG_EINVAL;
        fg_error_set (self->err, FG_EINVAL, "model: %ux%u feature map too small for a 2x2 max pool",
                      x.h, x.w);
        return -1;
    }
    layer->cin = layer->cout = x.c;
    return s_layer_out (self, layer, x.h / 2, x.w / 2, x.c);
}

//  Global average pool.   in (h, w, c) -> out (1, 1, c)
int
fg_mx_gap (fg_model_t *self, int in)
{
    fg_mx_layer_t *layer = s_push_layer (self, FG_MX_GAP, in);
    if (!layer)
        return -1;
    fg_mx_tensor_t x = self->tensors [in];
    layer->cin = layer->cout = x.c;
    return s_layer_out (self, layer, 1, 1, x.c);
}

//  torch's flatten of an NCHW tensor: in (h, w, c) -> out (1, 1, c*h*w)
//  with element (y, x, ch) at ch*h*w + y*w + x.
int
fg_mx_flatten (fg_model_t *self, int in)
{
    fg_mx_tensor_t x = self->tensors [in];
    if (x.h == 1 && x.w == 1)
        return in;                      //  already flat: no layer
    fg_mx_layer_t *layer = s_push_layer (self, FG_MX_FLATTEN, in);
    if (!layer)
        return -1;
    layer->cin = x.c;
    return s_layer_out (self, layer, 1, 1, x.h * x.w * x.c);
}

//  Binary layers: add (a + b, same shape), scale (a (h,w,c) * s (1,1,c)).
int
fg_mx_binary (fg_model_t *self, int op, int a, int b)
{
    fg_mx_layer_t *layer = s_push_layer (self, op, a);
    if (!layer || b < 0)
        return -1;
    layer->in2 = b;
    fg_mx_tensor_t x = self->tensors [a];
    layer->cin = layer->cout = x.c;
    return s_layer_out (self, layer, x.h, x.w, x.c);
}

const char *
fg_model_kind_name (int kind)
{
    switch (kind) {
        case FG_MODEL_CNN_SMALL:          return "cnn-small";
        case FG_MODEL_VGG16_BN:           return "vgg16-bn";
        case FG_MODEL_MOBILENETV3_SMALL:  return "mobilenetv3-small";
        case FG_MODEL_MOBILENETV3_LARGE:  return "mobilenetv3-large";
        case FG_MX_MODEL_TINY_MNV3:       return "tiny-mnv3 (tests)";
        default:                          return NULL;
    }
}

fg_model_t *
fg_model_new (const fg_model_spec_t *spec, fg_error_t *err)
{
    assert (spec);
    const char *kind = fg_model_kind_name (spec->kind);
    if (!kind) {
        fg_error_set (err, FG_EINVAL, "model: unknown kind %d", spec->kind);
        return NULL;
    }
    if (spec->classes < 2 || spec->classes > 100000) {
        fg_error_set (err, FG_EINVAL, "model %s: %u classes (2 .. 100000)", kind, spec->classes);
        return NULL;
    }
    if (spec->channels < 1 || spec->channels > 64) {
        fg_error_set (err, FG_EINVAL, "model %s: %u input channels (1 .. 64)", kind, spec->channels);
        return NULL;
    }
    uint32_t min_side = spec->kind == FG_MODEL_CNN_SMALL? 10
                      : spec->kind == FG_MX_MODEL_TINY_MNV3? 8: 32;
    if (spec->height < min_side || spec->width < min_side
    ||  spec->height > 4096 || spec->width > 4096) {
        fg_error_set (err, FG_EINVAL, "model %s: input %ux%u (%u .. 4096 per side)",
                      kind, spec->height, spec->width, min_side);
        return NULL;
    }
    fg_model_t *self = (fg_model_t *) calloc (1, sizeof *self);
    if (!self) {
        fg_error_set (err, FG_ENOMEM, "model %s: out of memory", kind);
        return NULL;
    }
    self->spec = *spec;
    self->err = err;
    self->state = fg_state_new ();
    if (!self->state)
        self->failed = FG_ENOMEM;
    int t = self->failed? -1: s_push_tensor (self, spec->height, spec->width, spec->channels);
    if (t < 0)
        self->failed = FG_ENOMEM;
    if (!self->failed) {
        t = fg_mx_build (self, t);
    }
    if (!self->failed && t >= 0) {
        self->output = t;
        self->failed = fg_state_alloc (self->state, err);
    }
    else
    if (!self->failed)
        self->failed = FG_EINVAL;
    if (self->failed) {
        int code = self->failed;
        if (!err || err->code == 0)
            fg_error_set (err, code, "model %s: cannot build (%s)", kind, fg_strerror (code));
        else
            fg_error_prefix (err, "model %s", kind);
        fg_model_destroy (&self);
        return NULL;
    }
    self->err = NULL;
    for (size_t i = 0; i < self->state->nviews; i++)
        if (self->state->views [i].kind == FG_TENSOR_PARAM)
            self->param_count += self->state->views [i].count;
    return self;
}

void
fg_model_destroy (fg_model_t **self_p)
{
    if (self_p && *self_p) {
        fg_model_t *self = *self_p;
        fg_state_destroy (&self->state);
        fg_state_destroy (&self->grads);
        free (self->layers);
        free (self->tensors);
        free (self->inits);
        free (self);
        *self_p = NULL;
    }
}

const fg_model_spec_t *
fg_model_spec (const fg_model_t *self)
{
    assert (self);
    return &self->spec;
}

fg_state_t *
fg_model_state (fg_model_t *self)
{
    assert (self);
    return self->state;
}

fg_state_t *
fg_model_grads (fg_model_t *self)
{
    assert (self);
    //  made at the first use: a model that is only evaluated (the
    //  aggregator's, fedctl's initial weights) never holds them
    if (!self->grads)
        self->grads = fg_state_zeros_like (self->state);
    return self->grads;
}

uint64_t
fg_model_param_count (const fg_model_t *self)
{
    assert (self);
    return self->param_count;
}

void
fg_model_zero_grads (fg_model_t *self)
{
    assert (self);
    if (self->grads && self->grads->size)       //  none yet: zero when made
        memset (self->grads->data, 0, self->grads->size * sizeof (float));
}

//  View i of the state drawn from its own stream (see fg_model_init).
static void
s_init_view (fg_model_t *self, uint64_t seed, size_t i)
{
    const fg_tensor_view_t *view = &self->state->views [i];
    float *data = self->state->data + view->offset;
    fg_mx_init_t init = self->inits [i];
    fg_rng_t rng;
    fg_rng_init (&rng, seed, FG_RNG_INIT, 0, 0, 0, (uint32_t) i);
    if (init.kind == FG_MX_INIT_NORMAL || init.kind == FG_MX_INIT_KAIMING_OUT) {
        double normals [1024];
        for (uint64_t j = 0; j < view->count; j += 1024) {
            size_t n = view->count - j < 1024? (size_t) (view->count - j): 1024;
            fg_rng_normals (&rng, normals, n);
            for (size_t k = 0; k < n; k++)
                data [j + k] = (float) ((double) init.scale * normals [k]);
        }
        return;
    }
    for (uint64_t j = 0; j < view->count; j++) {
        switch (init.kind) {
            case FG_MX_INIT_ZERO:
                data [j] = 0;
                break;
            case FG_MX_INIT_ONE:
                data [j] = 1;
                break;
            case FG_MX_INIT_UNIFORM_IN:
                data [j] = (float) ((double) init.scale * (2 * fg_rng_uniform_double (&rng) - 1));
                break;
            default:
                if (FG_NEVER (true))
                    data [j] = 0;
        }
    }
}

void
fg_model_init (fg_model_t *self, uint64_t seed)
{
    fg_model_init_threads (self, seed, 1);
}

void
fg_model_init_threads (fg_model_t *self, uint64_t seed, int threads)
{
    assert (self);
    //  every view has its own stream and its own floats: the views may be
    //  drawn in any order on any thread, the bits are the same
    long nviews = (long) self->state->nviews;
#ifdef _OPENMP
#   pragma omp parallel for if (threads > 1) num_threads (threads) schedule (dynamic, 1)
#endif
    for (long i = 0; i < nviews; i++)
        s_init_view (self, seed, (size_t) i);
    (void) threads;
}
