/*  fg_model_zoo.c — the architectures of fg_model: cnn-small, vgg16-bn
    and the MobileNetV3 family (small, large, a tiny one for tests),
    written with the building primitives of fg_model.c.                  */

#include "fg_state.h"
#include "fg_model_internal.h"

#include <stdio.h>

//  ---------------------------------------------------------------------
//  The architectures

//  cnn-small, named as two nn.Sequential: features (0 conv, 1 relu,
//  2 pool, 3 conv, 4 relu, 5 pool) and classifier (0 linear, 1 relu,
//  2 linear). torch's default init (kaiming_uniform a=sqrt(5)).
static int
s_build_cnn_small (fg_model_t *self, int t)
{
    t = fg_mx_conv (self, "features.0", t, 32, 3, 1, 0, 1, true, FG_MX_INIT_UNIFORM_IN);
    t = fg_mx_unary (self, FG_MX_ACT, t, FG_MX_ACT_RELU, 0);
    t = fg_mx_maxpool (self, t);
    t = fg_mx_conv (self, "features.3", t, 64, 3, 1, 0, 1, true, FG_MX_INIT_UNIFORM_IN);
    t = fg_mx_unary (self, FG_MX_ACT, t, FG_MX_ACT_RELU, 0);
    t = fg_mx_maxpool (self, t);
    t = fg_mx_flatten (self, t);
    t = fg_mx_linear (self, "classifier.0", t, 128, FG_MX_INIT_UNIFORM_IN, false);
    t = fg_mx_unary (self, FG_MX_ACT, t, FG_MX_ACT_RELU, 0);
    t = fg_mx_linear (self, "classifier.2", t, self->spec.classes, FG_MX_INIT_UNIFORM_IN, false);
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
            t = fg_mx_maxpool (self, t);
            index += 1;
            continue;
        }
        snprintf (prefix, sizeof prefix, "features.%d", index);
        t = fg_mx_conv (self, prefix, t, (uint32_t) cfg [i], 3, 1, 1, 1, true, FG_MX_INIT_KAIMING_OUT);
        snprintf (prefix, sizeof prefix, "features.%d", index + 1);
        t = fg_mx_bn (self, prefix, t, 1e-5f, 0.1f);
        t = fg_mx_unary (self, FG_MX_ACT, t, FG_MX_ACT_RELU, 0);
        index += 3;
    }
    t = fg_mx_gap (self, t);
    t = fg_mx_linear (self, "classifier", t, self->spec.classes, FG_MX_INIT_NORMAL, false);
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
    t = fg_mx_conv (self, name, t, cout, k, stride, (k - 1) / 2, groups, false, FG_MX_INIT_KAIMING_OUT);
    snprintf (name, sizeof name, "%s.1", prefix);
    t = fg_mx_bn (self, name, t, MNV3_BN_EPS, MNV3_BN_MOMENTUM);
    if (act != FG_MX_ACT_NONE)
        t = fg_mx_unary (self, FG_MX_ACT, t, act, 0);
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
            int s = fg_mx_gap (self, x);
            snprintf (name, sizeof name, "%s.fc1", prefix);
            s = fg_mx_linear (self, name, s, squeeze, FG_MX_INIT_KAIMING_OUT, true);
            s = fg_mx_unary (self, FG_MX_ACT, s, FG_MX_ACT_RELU, 0);
            snprintf (name, sizeof name, "%s.fc2", prefix);
            s = fg_mx_linear (self, name, s, b->expanded, FG_MX_INIT_KAIMING_OUT, true);
            s = fg_mx_unary (self, FG_MX_ACT, s, FG_MX_ACT_HARDSIGMOID, 0);
            t = fg_mx_binary (self, FG_MX_SCALE, x, s);
        }
        snprintf (prefix, sizeof prefix, "features.%zu.block.%d", i + 1, j++);
        t = s_conv_bn_act (self, prefix, t, b->cout, 1, 1, 1, FG_MX_ACT_NONE);
        if (b->stride == 1 && b->cin == b->cout)
            t = fg_mx_binary (self, FG_MX_ADD, t, block_in);
    }
    uint32_t last_in = table [count - 1].cout;
    snprintf (prefix, sizeof prefix, "features.%zu", count + 1);
    t = s_conv_bn_act (self, prefix, t, 6 * last_in, 1, 1, 1, FG_MX_ACT_HARDSWISH);
    t = fg_mx_gap (self, t);
    t = fg_mx_linear (self, "classifier.0", t, last_channel, FG_MX_INIT_NORMAL, false);
    t = fg_mx_unary (self, FG_MX_ACT, t, FG_MX_ACT_HARDSWISH, 0);
    t = fg_mx_unary (self, FG_MX_DROPOUT, t, 0, 0.2f);
    t = fg_mx_linear (self, "classifier.3", t, self->spec.classes, FG_MX_INIT_NORMAL, false);
    return t;
}

//  The architecture of self->spec.kind on input tensor t.
int
fg_mx_build (fg_model_t *self, int t)
{
    const fg_model_spec_t *spec = &self->spec;
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
    return t;
}
