/*  fg_model.c — model definitions, initialisation, and the network's
    forward and backward passes over the layer kernels (see fg_model.h).  */

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

//  Adds a view "<prefix>.<leaf>"; returns its index or -1 (self->failed).
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
    int rc = fg_state_add (self->state, name, kind, rank, shape, self->err);
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
static int
s_conv (fg_model_t *self, const char *prefix, int in, uint32_t cout, uint32_t k,
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
static int
s_linear (fg_model_t *self, const char *prefix, int in, uint32_t cout, int init, bool rank4)
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
static int
s_bn (fg_model_t *self, const char *prefix, int in, float eps, float momentum)
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
static int
s_unary (fg_model_t *self, int op, int in, int act, float p)
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
static int
s_maxpool (fg_model_t *self, int in)
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
static int
s_gap (fg_model_t *self, int in)
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
static int
s_flatten (fg_model_t *self, int in)
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
static int
s_binary (fg_model_t *self, int op, int a, int b)
{
    fg_mx_layer_t *layer = s_push_layer (self, op, a);
    if (!layer || b < 0)
        return -1;
    layer->in2 = b;
    fg_mx_tensor_t x = self->tensors [a];
    layer->cin = layer->cout = x.c;
    return s_layer_out (self, layer, x.h, x.w, x.c);
}

//  ---------------------------------------------------------------------
//  The architectures

//  cnn-small, named as two nn.Sequential: features (0 conv, 1 relu,
//  2 pool, 3 conv, 4 relu, 5 pool) and classifier (0 linear, 1 relu,
//  2 linear). torch's default init (kaiming_uniform a=sqrt(5)).
static int
s_build_cnn_small (fg_model_t *self, int t)
{
    t = s_conv (self, "features.0", t, 32, 3, 1, 0, 1, true, FG_MX_INIT_UNIFORM_IN);
    t = s_unary (self, FG_MX_ACT, t, FG_MX_ACT_RELU, 0);
    t = s_maxpool (self, t);
    t = s_conv (self, "features.3", t, 64, 3, 1, 0, 1, true, FG_MX_INIT_UNIFORM_IN);
    t = s_unary (self, FG_MX_ACT, t, FG_MX_ACT_RELU, 0);
    t = s_maxpool (self, t);
    t = s_flatten (self, t);
    t = s_linear (self, "classifier.0", t, 128, FG_MX_INIT_UNIFORM_IN, false);
    t = s_unary (self, FG_MX_ACT, t, FG_MX_ACT_RELU, 0);
    t = s_linear (self, "classifier.2", t, self->spec.classes, FG_MX_INIT_UNIFORM_IN, false);
    return t;
}

//  torchvision vgg16_bn features (cfg D), then a global average pool (a
//  no-op at 32x32) and classifier = Linear (512, classes).
static int
s_build_vgg16_bn (fg_model_t *self, int t)
{
    static const int cfg [] = { 64, 64, 0, 128, 128, 0, 256, 256, 256, 0,
                                512, 512, 512, 0, 512, 512, 512, 0 };
    int index = 0;
    char prefix [64];
    for (size_t i = 0; i < sizeof cfg / sizeof cfg [0]; i++) {
        if (cfg [i] == 0) {
            t = s_maxpool (self, t);
            index += 1;
            continue;
        }
        snprintf (prefix, sizeof prefix, "features.%d", index);
        t = s_conv (self, prefix, t, (uint32_t) cfg [i], 3, 1, 1, 1, true, FG_MX_INIT_KAIMING_OUT);
        snprintf (prefix, sizeof prefix, "features.%d", index + 1);
        t = s_bn (self, prefix, t, 1e-5f, 0.1f);
        t = s_unary (self, FG_MX_ACT, t, FG_MX_ACT_RELU, 0);
        index += 3;
    }
    t = s_gap (self, t);
    t = s_linear (self, "classifier", t, self->spec.classes, FG_MX_INIT_NORMAL, false);
    return t;
}

//  torchvision's _make_divisible (v, 8)
static uint32_t
s_make_divisible (uint32_t v, uint32_t divisor)
{
    uint32_t new_v = (v + divisor / 2) / divisor * divisor;
    if (new_v < divisor)
        new_v = divisor;
    if ((double) new_v < 0.9 * v)
        new_v += divisor;
    return new_v;
}

typedef struct {
    uint16_t cin, kernel, expanded, cout;
    bool se, hardswish;
    uint8_t stride;
} s_bneck_t;

//  torchvision models/mobilenetv3.py, _mobilenet_v3_conf, width 1.0,
//  dilation 1, reduced_tail False.
static const s_bneck_t s_mnv3_large [] = {
    {  16, 3,  16,  16, false, false, 1 },
    {  16, 3,  64,  24, false, false, 2 },
    {  24, 3,  72,  24, false, false, 1 },
    {  24, 5,  72,  40, true,  false, 2 },
    {  40, 5, 120,  40, true,  false, 1 },
    {  40, 5, 120,  40, true,  false, 1 },
    {  40, 3, 240,  80, false, true,  2 },
    {  80, 3, 200,  80, false, true,  1 },
    {  80, 3, 184,  80, false, true,  1 },
    {  80, 3, 184,  80, false, true,  1 },
    {  80, 3, 480, 112, true,  true,  1 },
    { 112, 3, 672, 112, true,  true,  1 },
    { 112, 5, 672, 160, true,  true,  2 },
    { 160, 5, 960, 160, true,  true,  1 },
    { 160, 5, 960, 160, true,  true,  1 },
};
static const s_bneck_t s_mnv3_small [] = {
    {  16, 3,  16,  16, true,  false, 2 },
    {  16, 3,  72,  24, false, false, 2 },
    {  24, 3,  88,  24, false, false, 1 },
    {  24, 5,  96,  40, true,  true,  2 },
    {  40, 5, 240,  40, true,  true,  1 },
    {  40, 5, 240,  40, true,  true,  1 },
    {  40, 5, 120,  48, true,  true,  1 },
    {  48, 5, 144,  48, true,  true,  1 },
    {  48, 5, 288,  96, true,  true,  2 },
    {  96, 5, 576,  96, true,  true,  1 },
    {  96, 5, 576,  96, true,  true,  1 },
};

//  FG_MX_MODEL_TINY_MNV3 (tests)
static const s_bneck_t s_mnv3_tiny [] = {
    {   8, 3,  16,  12, false, false, 2 },
    {  12, 5,  24,  12, true,  true,  1 },
};

#define MNV3_BN_EPS      0.001f
#define MNV3_BN_MOMENTUM 0.01f

//  Conv2dNormActivation: <prefix>.0 conv (no bias), <prefix>.1 BN, act.
static int
s_conv_bn_act (fg_model_t *self, const char *prefix, int t, uint32_t cout, uint32_t k,
               uint32_t stride, uint32_t groups, int act)
{
    char name [FG_TENSOR_NAME_MAX];
    snprintf (name, sizeof name, "%s.0", prefix);
    t = s_conv (self, name, t, cout, k, stride, (k - 1) / 2, groups, false, FG_MX_INIT_KAIMING_OUT);
    snprintf (name, sizeof name, "%s.1", prefix);
    t = s_bn (self, name, t, MNV3_BN_EPS, MNV3_BN_MOMENTUM);
    if (act != FG_MX_ACT_NONE)
        t = s_unary (self, FG_MX_ACT, t, act, 0);
    return t;
}

static int
s_build_mnv3 (fg_model_t *self, int t, const s_bneck_t *table, size_t count, uint32_t last_channel)
{
    char prefix [64], name [FG_TENSOR_NAME_MAX];
    t = s_conv_bn_act (self, "features.0", t, table [0].cin, 3, 2, 1, FG_MX_ACT_HARDSWISH);
    for (size_t i = 0; i < count && t >= 0; i++) {
        const s_bneck_t *b = &table [i];
        int act = b->hardswish? FG_MX_ACT_HARDSWISH: FG_MX_ACT_RELU;
        int block_in = t;
        int j = 0;
        if (b->expanded != b->cin) {
            snprintf (prefix, sizeof prefix, "features.%zu.block.%d", i + 1, j++);
            t = s_conv_bn_act (self, prefix, t, b->expanded, 1, 1, 1, act);
        }
        snprintf (prefix, sizeof prefix, "features.%zu.block.%d", i + 1, j++);
        t = s_conv_bn_act (self, prefix, t, b->expanded, b->kernel, b->stride, b->expanded, act);
        if (b->se) {
            uint32_t squeeze = s_make_divisible (b->expanded / 4, 8);
            snprintf (prefix, sizeof prefix, "features.%zu.block.%d", i + 1, j++);
            int x = t;
            int s = s_gap (self, x);
            snprintf (name, sizeof name, "%s.fc1", prefix);
            s = s_linear (self, name, s, squeeze, FG_MX_INIT_KAIMING_OUT, true);
            s = s_unary (self, FG_MX_ACT, s, FG_MX_ACT_RELU, 0);
            snprintf (name, sizeof name, "%s.fc2", prefix);
            s = s_linear (self, name, s, b->expanded, FG_MX_INIT_KAIMING_OUT, true);
            s = s_unary (self, FG_MX_ACT, s, FG_MX_ACT_HARDSIGMOID, 0);
            t = s_binary (self, FG_MX_SCALE, x, s);
        }
        snprintf (prefix, sizeof prefix, "features.%zu.block.%d", i + 1, j++);
        t = s_conv_bn_act (self, prefix, t, b->cout, 1, 1, 1, FG_MX_ACT_NONE);
        if (b->stride == 1 && b->cin == b->cout)
            t = s_binary (self, FG_MX_ADD, t, block_in);
    }
    uint32_t last_in = table [count - 1].cout;
    snprintf (prefix, sizeof prefix, "features.%zu", count + 1);
    t = s_conv_bn_act (self, prefix, t, 6 * last_in, 1, 1, 1, FG_MX_ACT_HARDSWISH);
    t = s_gap (self, t);
    t = s_linear (self, "classifier.0", t, last_channel, FG_MX_INIT_NORMAL, false);
    t = s_unary (self, FG_MX_ACT, t, FG_MX_ACT_HARDSWISH, 0);
    t = s_unary (self, FG_MX_DROPOUT, t, 0, 0.2f);
    t = s_linear (self, "classifier.3", t, self->spec.classes, FG_MX_INIT_NORMAL, false);
    return t;
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
        if (spec->kind == FG_MODEL_CNN_SMALL)
            t = s_build_cnn_small (self, t);
        else
        if (spec->kind == FG_MODEL_VGG16_BN)
            t = s_build_vgg16_bn (self, t);
        else
        if (spec->kind == FG_MODEL_MOBILENETV3_SMALL)
            t = s_build_mnv3 (self, t, s_mnv3_small, sizeof s_mnv3_small / sizeof s_mnv3_small [0], 1024);
        else
        if (spec->kind == FG_MX_MODEL_TINY_MNV3)
            t = s_build_mnv3 (self, t, s_mnv3_tiny, sizeof s_mnv3_tiny / sizeof s_mnv3_tiny [0], 16);
        else
            t = s_build_mnv3 (self, t, s_mnv3_large, sizeof s_mnv3_large / sizeof s_mnv3_large [0], 1280);
    }
    if (!self->failed && t >= 0) {
        self->output = t;
        self->grads = fg_state_dup (self->state);
        if (!self->grads)
            self->failed = FG_ENOMEM;
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
    fg_model_zero_grads (self);
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
    if (self->grads->size)
        memset (self->grads->data, 0, self->grads->size * sizeof (float));
}

void
fg_model_init (fg_model_t *self, uint64_t seed)
{
    assert (self);
    for (size_t i = 0; i < self->state->nviews; i++) {
        const fg_tensor_view_t *view = &self->state->views [i];
        float *data = self->state->data + view->offset;
        fg_mx_init_t init = self->inits [i];
        fg_rng_t rng;
        fg_rng_init (&rng, seed, FG_RNG_INIT, 0, 0, 0, (uint32_t) i);
        for (uint64_t j = 0; j < view->count; j++) {
            switch (init.kind) {
                case FG_MX_INIT_ZERO:
                    data [j] = 0;
                    break;
                case FG_MX_INIT_ONE:
                    data [j] = 1;
                    break;
                case FG_MX_INIT_NORMAL:
                case FG_MX_INIT_KAIMING_OUT:
                    data [j] = (float) ((double) init.scale * fg_rng_normal (&rng));
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
}

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

fg_model_ws_t *
fg_model_ws_new (fg_model_t *model, uint32_t batch, int threads, fg_error_t *err)
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
    size_t largest = 0;
    for (size_t t = 1; t < nt; t++) {
        size_t floats = s_tensor_floats (&model->tensors [t]);
        if (floats > SIZE_MAX / sizeof (float) / batch)
            goto nomem;
        floats *= batch;
        if (floats > largest)
            largest = floats;
        self->act [t] = s_ws_alloc (self, floats * sizeof (float));
        if (!self->act [t])
            goto nomem;
    }
    if (s_ws_grad_buffers (self))
        goto nomem;
    self->tmp = s_ws_alloc (self, largest * sizeof (float));
    self->tmp2 = s_ws_alloc (self, largest * sizeof (float));
    if (!self->tmp || !self->tmp2)
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

void
fg_model_ws_destroy (fg_model_ws_t **self_p)
{
    if (self_p && *self_p) {
        fg_model_ws_t *self = *self_p;
        size_t nt = self->model->ntensors, nl = self->model->nlayers;
        for (size_t t = 0; self->act && t < nt; t++)
            free (self->act [t]);
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
                rc = fg_act_forward (s_act (layer->act), count, in, out, err);
                break;
            case FG_MX_MAXPOOL: {
                fg_pool_shape_t s = s_pool_shape (tx, n);
                rc = fg_maxpool_forward (&s, in, out, err);
                break;
            }
            case FG_MX_GAP:
                fg_gap_forward (n, (size_t) tx->h * tx->w, tx->c, in, out);
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
                fg_scale_forward (n, (size_t) tx->h * tx->w, tx->c, in, in2, out);
                break;
            case FG_MX_ADD:
                fg_add_forward (count, in, in2, out);
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
    fg_state_t *state = self->state, *grads = self->grads;
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
                    rc = fg_act_backward (s_act (layer->act), count, in, dy, dx, err);
                break;
            case FG_MX_MAXPOOL: {
                fg_pool_shape_t s = s_pool_shape (tx, n);
                if (dx)
                    rc = fg_maxpool_backward (&s, in, dy, dx, err);
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
