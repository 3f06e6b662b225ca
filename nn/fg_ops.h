/*  fg_ops.h — the layer kernels of the fedgrid network engine.

    Forward and backward of every layer the models use: convolution (stride,
    padding, groups, depthwise), batch norm, ReLU, ReLU6, hard-swish,
    hard-sigmoid, squeeze-and-excitation, max/average/global-average pooling,
    linear, dropout, flatten, residual add, softmax cross-entropy.

    Layout. Activations are float32, NHWC, densely packed: element (n,h,w,c)
    of a (N,H,W,C) tensor is at ((n*H + h)*W + w)*C + c. A 2-D tensor (N,F)
    (after flatten / global pooling) is row-major. Pixels are the long GEMM
    dimension (DESIGN §7): conv forward is
        Y[(N*OH*OW) x K] = col[(N*OH*OW) x (C/G*KH*KW)] * W^T
    Parameters keep torchvision's shapes and element order, so the flat
    state (fg_state_t) is torchvision's state_dict element for element:
        conv weight     (K, C/groups, KH, KW)     conv bias (K)
        linear weight   (OUT, IN)                 linear bias (OUT)
        batch norm      weight/bias/running_mean/running_var (C)
    (a PyTorch NCHW activation maps to ours by a permutation only; flatten
    produces torch's (C,H,W) order, so the first linear layer after it has
    torchvision's weight layout too.)

    Gradients. Every backward routine
      - OVERWRITES the input gradient dx (dx may be NULL: not computed), and
      - ACCUMULATES (+=) into parameter gradients (dw, db, dgamma, dbeta;
        each may be NULL: not computed), like torch's .grad; the caller zeroes
        them once per step.
    Backward routines take the forward's INPUT x (not its output), plus what
    the forward saved where stated.

    Exactness (DESIGN §3). Results are bit-identical whatever the thread
    count of the context and of the machine: every GEMM is fg_gemm (our
    micro-kernels in BLIS, fixed k blocks, nn/fg_gemm.h), and our own loops run
    in a fixed order with sums per output (double accumulators where a
    reduction is long). Weight gradients of convolution are accumulated over
    fixed chunks of images (a function of the layer's shape only, see
    FG_CONV_CHUNK_FLOATS) in index order with beta = 1.

    Errors. Shape-checked routines return 0 or FG_EINVAL (bad shape, bad
    pointer, overflow), FG_ENOMEM (scratch could not grow), FG_ERANGE (a
    label out of range) and fill the optional err. Shapes are validated
    BEFORE any BLIS call (BLIS aborts on bad arguments). Element-wise
    routines without a failure mode return void.

    Aliasing. Unless a routine says "may alias", outputs must not overlap
    inputs. The caller owns every buffer; kernels allocate nothing per call
    except growing the context's scratch.                                  */

#ifndef FG_OPS_H_INCLUDED
#define FG_OPS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "fg_error.h"
#include "fg_rng.h"

#ifdef __cplusplus
extern "C" {
#endif

//  ---------------------------------------------------------------------------
//  Context: BLIS thread count for this caller and reusable scratch (im2col
//  buffers). One context per trainer; a context is not shared between
//  threads.

typedef struct _fg_ops_ctx_t fg_ops_ctx_t;

//  Creates a context whose BLIS calls use `threads` threads (>= 1; values
//  < 1 are taken as 1). Caller owns it: fg_ops_ctx_destroy. NULL when out of
//  memory.
fg_ops_ctx_t *
    fg_ops_ctx_new (int threads);

//  NULL-safe; frees the scratch and nulls *self_p.
void
    fg_ops_ctx_destroy (fg_ops_ctx_t **self_p);

//  Sets / gets the BLIS thread count (< 1 taken as 1). Never changes results.
void
    fg_ops_ctx_set_threads (fg_ops_ctx_t *self, int threads);
int
    fg_ops_ctx_threads (const fg_ops_ctx_t *self);

//  Bytes of scratch the context currently holds (for logs and tests).
size_t
    fg_ops_ctx_scratch_bytes (const fg_ops_ctx_t *self);

//  The kernels in use, for logs, the journal and HELLO: writes
//  "<identity> <variant> <MR>x<NR> blis-<version>", e.g. "fg-sgemm-fma
//  kc=256 v1 conv-direct v1 avx512 24x16 blis-0.9.0" (< 64 bytes) into buf,
//  NUL-terminated and truncated to size. Returns buf. See
//  fg_ops_kernel_identity ().
char *
    fg_ops_blis_info (char *buf, size_t size);

//  The arithmetic identity of the kernels (FG_OPS_IDENTITY, static): the
//  GEMM's (nn/fg_gemm.h) and the version of the convolution forms (the
//  direct form of fg_conv.c sums in its own order). Two nodes compute the
//  same bits for the same work iff their identities are equal. It is the
//  first five words of fg_ops_blis_info (); the rest names which of the
//  equivalent kernels (portable, avx2, avx512) runs and may differ.
#define FG_OPS_IDENTITY "fg-sgemm-fma kc=256 v1 conv-direct v1"
const char *
    fg_ops_kernel_identity (void);

//  ---------------------------------------------------------------------------
//  Convolution (PyTorch Conv2d: zero padding, no dilation).
//      x (N,H,W,C) -> y (N,OH,OW,K)
//      w (K, C/groups, KH, KW), b (K) or NULL
//      OH = (H + 2*PH - KH) / SH + 1,  OW = (W + 2*PW - KW) / SW + 1
//  C and K must be multiples of groups. groups == C == K is depthwise (own
//  loops); 1x1 stride-1 unpadded is one GEMM on x itself; everything else is
//  im2col + BLIS sgemm per group.

typedef struct {
    int n, h, w, c;             //  input (N,H,W,C)
    int k;                      //  output channels
    int kh, kw;                 //  kernel size
    int sh, sw;                 //  stride (>= 1)
    int ph, pw;                 //  zero padding on each side (>= 0)
    int groups;                 //  >= 1, divides c and k
} fg_conv_shape_t;

//  Images per im2col chunk = max (1, FG_CONV_CHUNK_FLOATS / (OH*OW*C/G*KH*KW)).
//  Part of the arithmetic's definition (it fixes the summation order of dw):
//  never change it within an experiment's lifetime.
#define FG_CONV_CHUNK_FLOATS (1u << 22)

//  Validates the shape and gives the output size. Returns 0 or FG_EINVAL
//  (non-positive size, groups not dividing c/k, kernel larger than the
//  padded input, element counts overflowing).
int
    fg_conv_check (const fg_conv_shape_t *s, int *oh, int *ow, fg_error_t *err);

//  Number of weight floats: K * C/groups * KH * KW (0 if the shape is bad).
size_t
    fg_conv_weight_count (const fg_conv_shape_t *s);

//  y = conv (x, w) + b.  x (N,H,W,C), w (K,C/G,KH,KW), b (K) or NULL
//  -> y (N,OH,OW,K). Returns 0, FG_EINVAL, FG_ENOMEM.
int
    fg_conv_forward (fg_ops_ctx_t *ctx, const fg_conv_shape_t *s,
                     const float *x, const float *w, const float *b,
                     float *y, fg_error_t *err);

//  Backward. x (N,H,W,C), w (K,C/G,KH,KW), dy (N,OH,OW,K)
//  -> dx (N,H,W,C) overwritten (or NULL), dw (K,C/G,KH,KW) += (or NULL),
//     db (K) += (or NULL). Returns 0, FG_EINVAL, FG_ENOMEM.
int
    fg_conv_backward (fg_ops_ctx_t *ctx, const fg_conv_shape_t *s,
                      const float *x, const float *w, const float *dy,
                      float *dx, float *dw, float *db, fg_error_t *err);

//  ---------------------------------------------------------------------------
//  Batch norm over the channel (last) axis of x (M,C), M = N*H*W pixels
//  (BatchNorm2d on NHWC; also BatchNorm1d on (N,C)). PyTorch semantics:
//    training: normalise with the batch mean and BIASED variance; then
//      running_mean = (1-momentum)*running_mean + momentum*mean
//      running_var  = (1-momentum)*running_var  + momentum*var*M/(M-1)
//    eval: normalise with running_mean / running_var.
//  Typical momentum 0.1, eps 1e-5. Sums in double, fixed order.

//  x (M,C) -> y (M,C) (y may alias x if the backward is not needed).
//  gamma, beta (C); running_mean, running_var (C) updated in training
//  (read in eval); save_mean, save_invstd (C): written with the statistics
//  used (batch ones in training, running ones in eval) for the backward.
//  Returns 0, FG_EINVAL (bad sizes, M < 2 in training, momentum outside
//  [0,1], eps <= 0) or FG_ENOMEM (C > 1024 needs heap accumulators).
int
    fg_bn_forward (size_t m, int c, const float *x,
                   const float *gamma, const float *beta,
                   float *running_mean, float *running_var,
                   float momentum, float eps, bool training,
                   float *save_mean, float *save_invstd,
                   float *y, fg_error_t *err);

//  Backward with the statistics the forward saved; `training` as in the
//  forward (eval treats mean/invstd as constants). x, dy (M,C) -> dx (M,C)
//  overwritten (or NULL; may alias dy), dgamma, dbeta (C) += (or NULL).
//  Returns 0, FG_EINVAL or FG_ENOMEM (as the forward).
int
    fg_bn_backward (size_t m, int c, const float *x, const float *gamma,
                    const float *save_mean, const float *save_invstd,
                    bool training, const float *dy,
                    float *dx, float *dgamma, float *dbeta, fg_error_t *err);

//  ---------------------------------------------------------------------------
//  Element-wise activations, PyTorch definitions (and PyTorch's choice of
//  derivative at the kinks):
//    relu      max (0, x)                    d = x > 0
//    relu6     min (max (0, x), 6)           d = 0 < x < 6
//    hardsigmoid  0 (x <= -3), 1 (x >= 3), x/6 + 1/2      d = 1/6 on -3 < x < 3
//    hardswish    0 (x <= -3), x (x >= 3), x*(x+3)/6      d = 0 (x < -3),
//                                              x/3 + 1/2 (-3 <= x <= 3), 1 (x > 3)
//  (hardswish at x = 3 follows PyTorch's scalar kernel; its vectorised CPU
//  loop gives 1 there instead — a measure-zero point either way.) NaN
//  propagates through every activation (and max pooling), as in PyTorch, so
//  a diverged network shows at the loss (FG_ENUMERIC) instead of being
//  silently cut to 0; the gradient at a NaN input is 0 for ReLU.

typedef enum {
    FG_ACT_IDENTITY    = 0,
    FG_ACT_RELU        = 1,
    FG_ACT_RELU6       = 2,
    FG_ACT_HARDSIGMOID = 3,
    FG_ACT_HARDSWISH   = 4
} fg_act_t;

//  Name of an activation ("relu", ...), "unknown" otherwise.
const char *
    fg_act_name (fg_act_t act);

//  x (n) -> y (n); y may alias x. Returns 0 or FG_EINVAL (unknown act).
int
    fg_act_forward (fg_act_t act, size_t n, const float *x, float *y,
                    fg_error_t *err);

//  x = the forward's input (n), dy (n) -> dx (n) overwritten; dx may alias
//  dy (not x). Returns 0 or FG_EINVAL.
int
    fg_act_backward (fg_act_t act, size_t n, const float *x, const float *dy,
                     float *dx, fg_error_t *err);

//  ---------------------------------------------------------------------------
//  Pooling (PyTorch MaxPool2d / AvgPool2d, floor mode, no dilation).
//      x (N,H,W,C) -> y (N,OH,OW,C), OH = (H + 2*PH - KH)/SH + 1 (same for W)
//  Max pooling treats padding as -inf and routes the gradient to the first
//  maximum in window order (row by row; a NaN wins, the last one if several,
//  as in PyTorch); a window must overlap the input
//  (PH <= KH/2 like PyTorch). Average pooling counts padding in the divisor
//  (count_include_pad = True): y = sum / (KH*KW).

typedef struct {
    int n, h, w, c;             //  input (N,H,W,C)
    int kh, kw;                 //  window
    int sh, sw;                 //  stride (>= 1)
    int ph, pw;                 //  padding (>= 0, <= half the window)
} fg_pool_shape_t;

//  Validates and gives the output size. Returns 0 or FG_EINVAL.
int
    fg_pool_check (const fg_pool_shape_t *s, int *oh, int *ow, fg_error_t *err);

//  x (N,H,W,C) -> y (N,OH,OW,C). Returns 0 or FG_EINVAL.
int
    fg_maxpool_forward (const fg_pool_shape_t *s, const float *x, float *y,
                        fg_error_t *err);
//  x (N,H,W,C), dy (N,OH,OW,C) -> dx (N,H,W,C) overwritten. 0, FG_EINVAL
//  or FG_ENOMEM (C > 1024 keeps its running maxima on the heap).
int
    fg_maxpool_backward (const fg_pool_shape_t *s, const float *x,
                         const float *dy, float *dx, fg_error_t *err);

int
    fg_avgpool_forward (const fg_pool_shape_t *s, const float *x, float *y,
                        fg_error_t *err);
//  dy (N,OH,OW,C) -> dx (N,H,W,C) overwritten. 0 or FG_EINVAL.
int
    fg_avgpool_backward (const fg_pool_shape_t *s, const float *dy, float *dx,
                         fg_error_t *err);

//  Global average pooling (AdaptiveAvgPool2d(1) + flatten):
//  x (N,HW,C) -> y (N,C); sums in double.
void
    fg_gap_forward (size_t n, size_t hw, size_t c, const float *x, float *y);
//  dy (N,C) -> dx (N,HW,C) overwritten: dx = dy / HW.
void
    fg_gap_backward (size_t n, size_t hw, size_t c, const float *dy, float *dx);

//  ---------------------------------------------------------------------------
//  Linear (PyTorch Linear): y = x W^T + b.
//      x (N,IN), w (OUT,IN), b (OUT) or NULL -> y (N,OUT)
//  A 1x1 convolution on (N,C) vectors (squeeze-and-excitation's fc1/fc2,
//  weight (OUT,IN,1,1)) is the same call.

//  Returns 0, FG_EINVAL.
int
    fg_linear_forward (fg_ops_ctx_t *ctx, int n, int in, int out,
                       const float *x, const float *w, const float *b,
                       float *y, fg_error_t *err);

//  x (N,IN), w (OUT,IN), dy (N,OUT) -> dx (N,IN) overwritten (or NULL),
//  dw (OUT,IN) += (or NULL), db (OUT) += (or NULL). Returns 0, FG_EINVAL,
//  FG_ENOMEM (scratch for the bias sums).
int
    fg_linear_backward (fg_ops_ctx_t *ctx, int n, int in, int out,
                        const float *x, const float *w, const float *dy,
                        float *dx, float *dw, float *db, fg_error_t *err);

//  ---------------------------------------------------------------------------
//  Dropout (PyTorch Dropout): in training, element i is kept with
//  probability 1-p and scaled by 1/(1-p); dropped elements are 0; in eval
//  y = x. The mask is a pure function of the stream and the layer:
//    the caller initialises `rng` with
//      fg_rng_init (&rng, seed, FG_RNG_DROPOUT, round, shard, epoch, step)
//    and passes each dropout layer its index; element i of layer L is kept
//    iff draw number (L << 40) + i of that stream, as fg_rng_uniform, is
//    >= p. `rng` itself is not advanced (const), so layers may run in any
//    order.

//  x (n) -> y (n) (may alias x), mask (n) written with 1 = kept, 0 = dropped
//  (all 1 in eval; mask may be NULL in eval). p in [0,1]; n < 2^40.
//  Returns 0 or FG_EINVAL.
int
    fg_dropout_forward (size_t n, float p, const fg_rng_t *rng, uint32_t layer,
                        bool training, const float *x, float *y, uint8_t *mask,
                        fg_error_t *err);

//  mask, dy (n) -> dx (n) overwritten (may alias dy): dx = dy*mask/(1-p)
//  (0 where p == 1). Returns 0 or FG_EINVAL.
int
    fg_dropout_backward (size_t n, float p, const uint8_t *mask,
                         const float *dy, float *dx, fg_error_t *err);

//  ---------------------------------------------------------------------------
//  Flatten (PyTorch torch.flatten (x, 1) of the NCHW tensor): NHWC in, the
//  feature order out is (C,H,W) so a following Linear has torchvision's
//  weight layout.   x (N,H,W,C) -> y (N, C*H*W),  y[n, (c*H+h)*W+w] = x[n,h,w,c]
void
    fg_flatten_forward (size_t n, size_t h, size_t w, size_t c,
                        const float *x, float *y);
//  dy (N, C*H*W) -> dx (N,H,W,C) overwritten (the inverse permutation).
void
    fg_flatten_backward (size_t n, size_t h, size_t w, size_t c,
                         const float *dy, float *dx);

//  ---------------------------------------------------------------------------
//  Residual add and gradient plumbing.
//  y = a + b (n); y may alias a or b. Backward: da = db = dy, i.e. the
//  caller passes dy on to both branches and sums where a tensor fed two
//  consumers with fg_acc.
void
    fg_add_forward (size_t n, const float *a, const float *b, float *y);
//  dst (n) += src (n).
void
    fg_acc (size_t n, const float *src, float *dst);

//  ---------------------------------------------------------------------------
//  Per-(image, channel) scaling, the last step of squeeze-and-excitation:
//      x (N,HW,C), s (N,C) -> y (N,HW,C),  y[n,p,c] = x[n,p,c] * s[n,c]
void
    fg_scale_forward (size_t n, size_t hw, size_t c, const float *x,
                      const float *s, float *y);
//  x (N,HW,C), s (N,C), dy (N,HW,C) -> dx (N,HW,C) overwritten (or NULL;
//  may alias dy), ds (N,C) overwritten (sums in double).
void
    fg_scale_backward (size_t n, size_t hw, size_t c, const float *x,
                       const float *s, const float *dy, float *dx, float *ds);

//  Squeeze-and-excitation (torchvision SqueezeExcitation in MobileNetV3):
//      p  = gap (x)                     (N,C)
//      z1 = p W1^T + b1                 (N,CS)   fc1: w1 (CS,C,1,1), b1 (CS)
//      a1 = relu (z1)
//      z2 = a1 W2^T + b2                (N,C)    fc2: w2 (C,CS,1,1), b2 (C)
//      s  = hardsigmoid (z2)
//      y  = x * s                       (N,HW,C)
//  `save` holds p, z1, a1, z2, s for the backward: fg_se_save_floats floats.
size_t
    fg_se_save_floats (int n, int c, int cs);

//  x (N,HW,C) -> y (N,HW,C) (must not alias x), save written.
//  Returns 0 or FG_EINVAL.
int
    fg_se_forward (fg_ops_ctx_t *ctx, int n, int hw, int c, int cs,
                   const float *x, const float *w1, const float *b1,
                   const float *w2, const float *b2, float *save, float *y,
                   fg_error_t *err);

//  x (N,HW,C), save from the forward, dy (N,HW,C) -> dx (N,HW,C)
//  overwritten (or NULL), dw1 (CS,C), db1 (CS), dw2 (C,CS), db2 (C) +=
//  (each may be NULL). Uses the context's scratch. Returns 0, FG_EINVAL,
//  FG_ENOMEM.
int
    fg_se_backward (fg_ops_ctx_t *ctx, int n, int hw, int c, int cs,
                    const float *x, const float *w1, const float *w2,
                    const float *save, const float *dy,
                    float *dx, float *dw1, float *db1, float *dw2, float *db2,
                    fg_error_t *err);

//  ---------------------------------------------------------------------------
//  Eval-mode epilogue of a convolution or linear layer: its bias, then batch
//  norm on the running statistics, then an activation, in one pass over the
//  output, y = act (bn (x + bias)), x and y (M,C). Each element gets the
//  operations the separate layers give it (fg_conv_forward's bias add,
//  fg_bn_forward in eval, fg_act_forward), so the bits are theirs; the
//  model's eval forward runs conv/linear [+ BN] [+ activation] this way.
//  Split by rows over the context's threads.
typedef struct {
    const float *bias;                  //  (C) added first, or NULL
    const float *gamma, *beta;          //  batch norm (C), or gamma NULL: none
    const float *running_mean, *running_var;
    float eps;                          //  > 0 with batch norm
    fg_act_t act;                       //  last (FG_ACT_IDENTITY: none)
} fg_epilogue_t;

//  y may alias x. Returns 0, FG_EINVAL (bad size, NULL, eps, unknown act)
//  or FG_ENOMEM (scratch for 2C coefficients).
int
    fg_epilogue_forward (fg_ops_ctx_t *ctx, size_t m, int c, const fg_epilogue_t *e,
                         const float *x, float *y, fg_error_t *err);

//  Context forms of element-wise layers: the same arguments and the same
//  bits as the plain calls (each output keeps its own operations), split
//  over the context's threads (by blocks of elements, by image for pooling
//  and scaling). Small tensors run on the calling thread.
int
    fg_act_forward_ctx (fg_ops_ctx_t *ctx, fg_act_t act, size_t n, const float *x,
                        float *y, fg_error_t *err);
int
    fg_act_backward_ctx (fg_ops_ctx_t *ctx, fg_act_t act, size_t n, const float *x,
                         const float *dy, float *dx, fg_error_t *err);
int
    fg_maxpool_forward_ctx (fg_ops_ctx_t *ctx, const fg_pool_shape_t *s, const float *x,
                            float *y, fg_error_t *err);
int
    fg_maxpool_backward_ctx (fg_ops_ctx_t *ctx, const fg_pool_shape_t *s, const float *x,
                             const float *dy, float *dx, fg_error_t *err);
void
    fg_gap_forward_ctx (fg_ops_ctx_t *ctx, size_t n, size_t hw, size_t c, const float *x,
                        float *y);
void
    fg_scale_forward_ctx (fg_ops_ctx_t *ctx, size_t n, size_t hw, size_t c, const float *x,
                          const float *s, float *y);
void
    fg_add_forward_ctx (fg_ops_ctx_t *ctx, size_t n, const float *a, const float *b,
                        float *y);

//  ---------------------------------------------------------------------------
//  Softmax cross-entropy, mean over the batch (PyTorch CrossEntropyLoss,
//  reduction 'mean'), with a stable log-sum-exp in double.
//      logits (N,K), labels (N) in [0,K) -> *loss (mean), dlogits (N,K)
//      overwritten with (softmax - onehot) / N (or NULL), *correct = number
//      of rows whose first maximal logit is the label (or NULL).
//  Returns 0, FG_EINVAL (bad sizes), FG_ERANGE (a label outside [0,K); names
//  the row), FG_ENUMERIC (a non-finite logit; names row and column).
int
    fg_softmax_xent (int n, int k, const float *logits, const int32_t *labels,
                     double *loss, float *dlogits, int *correct,
                     fg_error_t *err);

#ifdef __cplusplus
}
#endif

#endif
