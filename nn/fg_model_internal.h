/*  fg_model_internal.h — the layer list behind fg_model_t (for fg_model.c,
    fg_model_zoo.c, fg_model_pass.c and the tests; not installed).

    A model is a list of layers in execution order over numbered tensors.
    Tensor 0 is the input; every layer writes one new tensor; a tensor may
    be read by several layers (residual and squeeze-and-excitation inputs),
    so backward accumulates into input gradients. Shapes are per sample,
    NHWC: a batch of n is n x h x w x c floats.                          */

#ifndef FG_MODEL_INTERNAL_H_INCLUDED
#define FG_MODEL_INTERNAL_H_INCLUDED

#include "fg_model.h"

//  A model kind for tests only: a tiny MobileNetV3 built by the same code
//  as the real ones (stem, a stride-2 block with expansion, a residual
//  block with squeeze-and-excitation and hard-swish, last conv, classifier
//  with dropout), for inputs from 8x8.
#define FG_MX_MODEL_TINY_MNV3 1000

enum {
    FG_MX_CONV,         //  in (h,w,cin) -> (oh,ow,cout); w [b]
    FG_MX_BN,           //  in (h,w,c) -> same; w b rm rv
    FG_MX_ACT,          //  in -> same, act
    FG_MX_MAXPOOL,      //  2x2 stride 2
    FG_MX_GAP,          //  (h,w,c) -> (1,1,c)
    FG_MX_FLATTEN,      //  (h,w,c) -> (1,1,c*h*w), torch's C,H,W order
    FG_MX_LINEAR,       //  (1,1,cin) -> (1,1,cout); w b
    FG_MX_DROPOUT,      //  in -> same, p
    FG_MX_SCALE,        //  in (h,w,c) * in2 (1,1,c) -> (h,w,c)
    FG_MX_ADD           //  in + in2 -> same
};

enum {
    FG_MX_ACT_NONE,
    FG_MX_ACT_RELU,
    FG_MX_ACT_HARDSWISH,
    FG_MX_ACT_HARDSIGMOID
};

enum {
    FG_MX_INIT_ZERO,
    FG_MX_INIT_ONE,
    FG_MX_INIT_NORMAL,          //  N (0, scale^2)  (torch normal_ (0, 0.01))
    FG_MX_INIT_KAIMING_OUT,     //  N (0, scale^2), scale = sqrt (2 / fan_out)
    FG_MX_INIT_UNIFORM_IN       //  U (-scale, scale), scale = 1 / sqrt (fan_in)
};

typedef struct {
    uint32_t h, w, c;
} fg_mx_tensor_t;

typedef struct {
    int kind;
    float scale;
} fg_mx_init_t;

typedef struct {
    int op;                     //  FG_MX_*
    int in, in2, out;           //  tensor indexes (in2 -1 unless binary)
    uint32_t cin, cout;         //  channels (linear: features)
    uint32_t k, stride, pad, groups;
    int act;                    //  FG_MX_ACT_*
    float eps, momentum;        //  BN
    float p;                    //  dropout probability
    int w, b, rm, rv;           //  view indexes in the state, -1 none
} fg_mx_layer_t;

struct _fg_model_t {
    fg_model_spec_t spec;
    fg_state_t *state;
    fg_state_t *grads;
    fg_mx_layer_t *layers;
    size_t nlayers, layers_cap;
    fg_mx_tensor_t *tensors;
    size_t ntensors, tensors_cap;
    fg_mx_init_t *inits;        //  per view
    size_t inits_cap;
    int output;                 //  tensor holding the logits
    bool has_dropout;
    uint64_t param_count;
    int failed;                 //  while building: first error code
    fg_error_t *err;            //  while building
};

//  Building primitives (fg_model.c): each appends one layer reading tensor
//  in (and a, b for binary ones), adds its views to the state, and
//  returns the index of the tensor it writes, or -1 when it cannot
//  (self->failed then holds the first error of the build). See fg_model.c
//  for each one's shapes and views.
int
    fg_mx_conv (fg_model_t *self, const char *prefix, int in, uint32_t cout, uint32_t k,
                uint32_t stride, uint32_t pad, uint32_t groups, bool bias, int init);
int
    fg_mx_linear (fg_model_t *self, const char *prefix, int in, uint32_t cout, int init,
                  bool rank4);
int
    fg_mx_bn (fg_model_t *self, const char *prefix, int in, float eps, float momentum);
int
    fg_mx_unary (fg_model_t *self, int op, int in, int act, float p);
int
    fg_mx_maxpool (fg_model_t *self, int in);
int
    fg_mx_gap (fg_model_t *self, int in);
int
    fg_mx_flatten (fg_model_t *self, int in);
int
    fg_mx_binary (fg_model_t *self, int op, int a, int b);

//  Builds the architecture of self->spec.kind (fg_model_zoo.c) on input
//  tensor t. Returns the tensor holding the logits, or -1.
int
    fg_mx_build (fg_model_t *self, int t);

#endif
