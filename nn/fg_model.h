/*  fg_model.h — the networks fedgrid trains, and their forward/backward.

    A model is a fixed list of layers over tensors in NHWC layout, and ONE
    fg_state_t holding its weights (PARAM views) and batch-norm running
    statistics (BUFFER views), named and shaped exactly as torchvision's
    state_dict for the same architecture (weights in torch's own layouts:
    conv (K, C/groups, KH, KW), linear (out, in) with `in` in torch's
    flatten order C,H,W), so the flat block exports to PyTorch as is. BN's
    num_batches_tracked (an int64 counter torch uses only when momentum is
    None) is not kept: load with strict=False or add it (docs/models.md).

    Models (docs/models.md gives the tables, names and counts):
      cnn-small          conv3x3 32 - ReLU - maxpool2 - conv3x3 64 - ReLU -
                         maxpool2 - linear 128 - ReLU - linear classes
                         (225,034 parameters at 28x28x1, 10 classes)
      vgg16-bn           torchvision vgg16_bn's features (cfg D with BN),
                         global average pool, classifier Linear(512, classes)
                         (14,728,266 parameters at 10 classes)
      mobilenetv3-small  torchvision mobilenet_v3_small / _large, any input
      mobilenetv3-large  from 32x32 (2,542,856 / 5,483,032 at 1000 classes)

    Gradients live in a second fg_state_t with the same layout. Activations
    live in a workspace (fg_model_ws_t) preallocated per (model, batch) and
    reused every step. The results of forward and backward do not depend on
    the workspace's thread count (bit for bit).                           */

#ifndef FG_MODEL_H_INCLUDED
#define FG_MODEL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "fg_config.h"
#include "fg_error.h"
#include "fg_rng.h"
#include "fg_state.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int      kind;              //  fg_model_kind_t (fg_config.h)
    uint32_t classes;           //  2 .. 100000
    uint32_t height;            //  input image, NHWC
    uint32_t width;
    uint32_t channels;          //  1 .. 64
} fg_model_spec_t;

typedef struct _fg_model_t fg_model_t;
typedef struct _fg_model_ws_t fg_model_ws_t;

//  The configuration name of a model kind ("cnn-small", "vgg16-bn",
//  "mobilenetv3-small", "mobilenetv3-large"), or NULL.
const char *
    fg_model_kind_name (int kind);

//  Builds the layer list and the (zero) state of a model. Weights are zero
//  until fg_model_init. Caller owns the model: fg_model_destroy.
//  Returns NULL and fills err: FG_EINVAL (unknown kind, classes or
//  channels out of range, input too small for the architecture — e.g.
//  below 32x32 for vgg16-bn and MobileNetV3) or FG_ENOMEM.
fg_model_t *
    fg_model_new (const fg_model_spec_t *spec, fg_error_t *err);

//  NULL-safe; nulls *self_p.
void
    fg_model_destroy (fg_model_t **self_p);

const fg_model_spec_t *
    fg_model_spec (const fg_model_t *self);

//  The weights and buffers (owned by the model; callers may read and write
//  ->data, never add views). Never NULL.
fg_state_t *
    fg_model_state (fg_model_t *self);

//  The gradients: same layout as the state, BUFFER views stay zero.
//  Owned by the model; made (zero) at the first call, so a model that is
//  never trained does not hold them. NULL only when out of memory then.
fg_state_t *
    fg_model_grads (fg_model_t *self);

//  Number of trainable floats (sum of PARAM views): torch's
//  sum (p.numel () for p in model.parameters ()).
uint64_t
    fg_model_param_count (const fg_model_t *self);

//  Initialises every view as torchvision does for the architecture
//  (docs/models.md), drawing tensor i of the state from the stream
//  fg_rng_init (seed, FG_RNG_INIT, 0, 0, 0, i). Running means 0, running
//  variances 1.
void
    fg_model_init (fg_model_t *self, uint64_t seed);

//  fg_model_init with the views drawn on `threads` threads: the same bits
//  (each view's stream and floats are its own).
void
    fg_model_init_threads (fg_model_t *self, uint64_t seed, int threads);

//  Zeroes the gradients.
void
    fg_model_zero_grads (fg_model_t *self);

//  Activation buffers for batches of up to `batch` images, and `threads`
//  (>= 1) BLIS threads for the GEMMs. Caller owns it (fg_model_ws_destroy);
//  the model must outlive it. Returns NULL and fills err: FG_EINVAL,
//  FG_ENOMEM.
fg_model_ws_t *
    fg_model_ws_new (fg_model_t *model, uint32_t batch, int threads, fg_error_t *err);

//  The same for evaluation only: tensors whose forward lifetimes do not
//  overlap share activation buffers, and there are no gradient buffers
//  (vgg16-bn at batch 32: 17 MB instead of 150). Train forwards are
//  refused (FG_EINVAL), so backward has nothing to go back through.
fg_model_ws_t *
    fg_model_ws_new_inference (fg_model_t *model, uint32_t batch, int threads, fg_error_t *err);

//  NULL-safe; nulls *self_p.
void
    fg_model_ws_destroy (fg_model_ws_t **self_p);

//  Largest batch and bytes held.
uint32_t
    fg_model_ws_batch (const fg_model_ws_t *self);
size_t
    fg_model_ws_bytes (const fg_model_ws_t *self);

//  Changes the thread count (does not change results).
void
    fg_model_ws_set_threads (fg_model_ws_t *self, int threads);

//  Forward pass over n <= batch images
//      x (n, H, W, C) float32 -> logits (n, classes)
//  train: batch statistics in BN (running statistics updated in the
//  state, torch's momentum rule, unbiased variance) and dropout drawn from
//  `dropout` (an FG_RNG_DROPOUT stream keyed by the caller; may be NULL
//  only when the model has no dropout or train is false); otherwise
//  running statistics and no dropout. *logits points into the workspace,
//  valid until the next call. Returns 0 or FG_EINVAL (n out of range, a
//  workspace of another model, dropout stream missing).
int
    fg_model_forward (fg_model_t *self, fg_model_ws_t *ws, const float *x, uint32_t n,
                      bool train, fg_rng_t *dropout, const float **logits, fg_error_t *err);

//  Backward pass of the last forward (which must have been a train one):
//      dlogits (n, classes) -> grads += d loss / d weights
//  Accumulates into fg_model_grads (zero them first for a fresh step).
//  Returns 0, FG_ESTATE (no train forward to go back through) or
//  FG_ENOMEM (no memory for the gradients).
int
    fg_model_backward (fg_model_t *self, fg_model_ws_t *ws, const float *dlogits,
                       fg_error_t *err);

#ifdef __cplusplus
}
#endif

#endif
