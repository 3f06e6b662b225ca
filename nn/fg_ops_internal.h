/*  fg_ops_internal.h — what the kernel files of nn/ share: the context
    struct, its scratch and the one checked door to BLIS. Not installed.   */

#ifndef FG_OPS_INTERNAL_H_INCLUDED
#define FG_OPS_INTERNAL_H_INCLUDED

#include "fg_ops.h"

//  Our element-wise loops (depthwise conv, batch norm, activations,
//  pooling...) vectorise without changing a single bit: each output keeps
//  its own sequence of IEEE operations (no reassociation of sums, no
//  contraction: -ffp-contract=off). Two gcc defaults stop that at -O2:
//    - the "very cheap" cost model refuses every loop of unknown trip count;
//    - -ftrapping-math forbids evaluating the arithmetic of both sides of a
//      select (the library never looks at FP exception flags), which is
//      what if-conversion of activations and max pooling needs.
//  Lifting both for the kernel files changes no value (NaNs stay honoured:
//  no -ffinite-math-only) and made depthwise conv ~3x and activation
//  backward 2-4x faster. Checked: hashes over every kernel's outputs and
//  gradients (random data; activations also at +-0, +-inf, NaN,
//  subnormals, the kinks) are the same built with -O0, -O2, -O3, -O2
//  -mavx2 and with FG_OPS_NO_PRAGMA (the plain flags).
#if defined (__GNUC__) && !defined (__clang__) && !defined (FG_OPS_NO_PRAGMA)
#   pragma GCC optimize ("vect-cost-model=dynamic", "no-trapping-math")
#endif

//  FG_OPS_WIDE marks the hot element-wise kernels: gcc compiles each one
//  for AVX-512F, AVX2 and the x86-64 baseline, and the loader picks the
//  widest the CPU has (an ifunc). Same argument as above: each output keeps
//  its own sequence of IEEE operations, only more of them run side by side
//  (AVX2 alone enables no FMA, and -ffp-contract=off forbids contraction
//  in the AVX-512 clone), so every clone gives the same bits; the library's
//  baseline flags stay those of any x86-64 PC. Checked: `fedctl train` of
//  mobilenetv3-small (BN, depthwise, hard-swish, SE, pooling) for 20 steps
//  writes the same model SHA-256 built with and without FG_OPS_NO_CLONES.
#if defined (__GNUC__) && !defined (__clang__) && !defined (FG_OPS_NO_PRAGMA) \
    && !defined (FG_OPS_NO_CLONES) && defined (__x86_64__)
#   define FG_OPS_WIDE __attribute__ ((target_clones ("avx512f", "avx2", "default")))
#else
#   define FG_OPS_WIDE
#endif

//  FG_OPS_FMA marks kernels that call fmaf () to redo fg_gemm's arithmetic
//  (nn/fg_gemm.h): clones for AVX-512F and x86-64-v3 (AVX2 + FMA: a
//  vfmadd per fmaf) and the baseline (libm's fmaf, slow but the same
//  correctly rounded value). Every clone gives the same bits.
#if defined (__GNUC__) && !defined (__clang__) && !defined (FG_OPS_NO_PRAGMA) \
    && !defined (FG_OPS_NO_CLONES) && defined (__x86_64__)
#   define FG_OPS_FMA __attribute__ ((target_clones ("avx512f", "arch=x86-64-v3", "default")))
#else
#   define FG_OPS_FMA
#endif

//  FG_PARALLEL_FOR (threads) splits the next for loop's iterations over
//  `threads` OpenMP threads (static schedule; none when threads is 1 or the
//  library is built without OpenMP). Only for loops whose iterations write
//  disjoint outputs, each with the operation sequence it has in the serial
//  loop: then no value depends on the thread count (tests/test_model checks
//  1 and 2 threads give the same bits).
#ifdef _OPENMP
#   define FG_PRAGMA(x) _Pragma (#x)
#   define FG_PARALLEL_FOR(threads) \
        FG_PRAGMA (omp parallel for if ((threads) > 1) num_threads (threads) schedule (static))
#else
#   define FG_PARALLEL_FOR(threads)
#endif

//  Element counts below this run the context forms (fg_act_forward_ctx...)
//  on the calling thread: a parallel region costs more than the work.
#define FG_OPS_PAR_MIN 16384

//  Part t of `parts` of [0, n) in blocks of 16 elements (64 bytes: no two
//  threads write one cache line of a 64-byte aligned buffer): [*begin, *end).
static inline void
fg_ops_part (size_t n, size_t parts, size_t t, size_t *begin, size_t *end)
{
    size_t blocks = (n + 15) / 16, per = (blocks + parts - 1) / parts;
    size_t b = t * per * 16, e = (t + 1) * per * 16;
    *begin = b < n? b: n;
    *end = e < n? e: n;
}

//  Threads for a context form over `work` elements in `items` independent
//  items (images, blocks): 1 when small or single.
static inline int
fg_ops_par_threads (const fg_ops_ctx_t *ctx, size_t work, size_t items);

//  Scratch slots: independent grow-only buffers of the context.
enum {
    FG_SCRATCH_COL  = 0,        //  im2col chunk / depthwise weights
    FG_SCRATCH_DCOL = 1,        //  gradient of the im2col chunk
    FG_SCRATCH_AUX  = 2,        //  small temporaries (SE backward, sums)
    FG_SCRATCH_PAD  = 3,        //  zero-padded input of the direct form
    FG_SCRATCH_PANEL = 4,       //  weights of the direct form
    FG_SCRATCH_SLOTS = 5
};

struct _fg_ops_ctx_t {
    int     threads;                        //  BLIS threads per call
    bool    direct_by_gemm;                 //  tests: direct and few-tap forms
                                            //  through fg_gemm (im2col)
    int     direct_isa;                     //  tests: the direct kernels' ISA (an
                                            //  fg_gemm_variant_t; 0: the process's)
    void   *scratch [FG_SCRATCH_SLOTS];     //  64-byte aligned
    size_t  scratch_size [FG_SCRATCH_SLOTS];//  bytes
};

static inline int
fg_ops_par_threads (const fg_ops_ctx_t *ctx, size_t work, size_t items)
{
    if (!ctx || ctx->threads < 2 || work < FG_OPS_PAR_MIN || items < 2)
        return 1;
    return (size_t) ctx->threads < items? ctx->threads: (int) items;
}

//  Largest element count any tensor argument may have (2^40 floats): keeps
//  every index product far from overflow in size_t and BLIS's dim_t.
#define FG_OPS_MAX_ELEMS ((size_t) 1 << 40)

//  Returns slot's buffer with at least `bytes` bytes (contents undefined),
//  or NULL when out of memory (the old buffer is kept).
void *
    fg_ops_scratch (fg_ops_ctx_t *ctx, int slot, size_t bytes);

//  C = alpha * A * B + beta * C, all row/column strided views:
//    A (m x k) at a with strides (rsa, csa), B (k x n), C (m x n).
//  fg_gemm (nn/fg_gemm.h) with the context's thread count and the process's
//  kernel variant: checks dimensions and strides the way BLIS would (a unit
//  stride on one side and a leading stride covering the other dimension)
//  and returns FG_EINVAL naming `what` instead of letting BLIS abort. m, n
//  or k == 0 is handled without BLIS (C = beta * C).
int
    fg_ops_gemm (fg_ops_ctx_t *ctx, const char *what,
                 size_t m, size_t n, size_t k, float alpha,
                 const float *a, size_t rsa, size_t csa,
                 const float *b, size_t rsb, size_t csb, float beta,
                 float *c, size_t rsc, size_t csc, fg_error_t *err);

//  sum[j] += sum over rows i of x[i*ld + j], j < cols, in double, rows in
//  order; then out[j] += (float) sum[j]. `acc` holds cols doubles.
void
    fg_ops_colsum_acc (size_t rows, size_t cols, const float *x, size_t ld,
                       double *acc, float *out);

//  ---------------------------------------------------------------------------
//  The direct form of a stride-1 convolution (fg_conv.c builds it, by shape
//  only; fg_conv_direct.c has the AVX-512F kernels and their arithmetic,
//  fg_conv_direct_avx2.c the AVX2 ones):
//      y (n, oh, ow, cout) from x_pad (n, hp, wp, ps), the input zero-padded
//      by ph, pw on each side, each pixel's cin values then ps - cin zeros
//      (fg_conv_direct_pixel_stride), oh = hp - kh + 1, ow = wp - kw + 1;
//      panels: cout / 16 panels of (KQ x 16) floats, KQ = kh*kw*cin,
//      panel [kb][q][j] = weight of output channel kb*16+j at
//      q = (ky * kw + kx) * cin + c.
//  x_pad needs FG_DIRECT_SLACK (ps) zero floats after its last image.
typedef struct {
    size_t n, hp, wp, cin;      //  padded input
    size_t ps;                  //  its pixel stride in floats (>= cin)
    size_t ph, pw;              //  its padding
    size_t cout;                //  multiple of FG_DIRECT_COUT_STEP
    size_t kh, kw, oh, ow;
} fg_direct_t;

#define FG_DIRECT_COUT_STEP 16
#define FG_DIRECT_SLACK(ps) (64 * (size_t) (ps))

//  True if d's geometry has a kernel (shape only, the same answer on every
//  machine, so it may choose the arithmetic): cout a multiple of 16, cin one
//  of 16..512 (powers of two) with an output at least 16 wide, or a 3x3
//  kernel on a square 8x8 or 4x4 output with padding 1 and cin one of
//  64..512.
bool
    fg_conv_direct_form (const fg_direct_t *d);

//  The pixel stride the kernel for d's geometry reads x_pad with (d->cin or
//  a little more: a stride of a multiple of 4 KiB would put the tile's
//  pixels in the same few L1 sets).
size_t
    fg_conv_direct_pixel_stride (const fg_direct_t *d);

//  True if the weight-gradient kernel pays off for d (a direct form with an
//  output at least 16 wide). Its bits equal the im2col path's anyway.
bool
    fg_conv_direct_dw_form (const fg_direct_t *d);

//  True if a kernel of the direct form runs for ctx: the AVX-512F kernels
//  when fg_gemm's variant is avx512, the AVX2 ones when it is avx2
//  (FEDGRID_GEMM chooses; ctx->direct_isa overrides it for tests); none
//  for portable (the form then runs through fg_gemm). Same bits anyway.
bool
    fg_conv_direct_kernel_available (const fg_ops_ctx_t *ctx);

//  The kernel (only when available, for a direct form). Overwrites y.
void
    fg_conv_direct_run (const fg_direct_t *d, const float *xpad,
                        const float *panels, float *y, const fg_ops_ctx_t *ctx);

//  The weight gradient from the same padded input (same conditions):
//      dwt (KQ x cout, row q = (ky*kw + kx)*cin + c) += col^T * dy
//  with exactly fg_gemm's arithmetic for the im2col path's
//  dW += dy^T * col (beta 1) over chunks of `chunk` images: per chunk, per
//  block of FG_GEMM_KC pixels, an fma chain from +0, then dwt + ab. Since
//  the k order of that GEMM is the pixels', the bits are the im2col path's.
void
    fg_conv_direct_dw (const fg_direct_t *d, size_t chunk, const float *xpad,
                       const float *dy, float *dwt, const fg_ops_ctx_t *ctx);

//  The weight-gradient kernels' view of one block [r0, r1) of FG_GEMM_KC
//  pixels of the chunk from image n0 (GEMM row order): runs along output
//  rows, each the offsets of its first pixel in x_pad (tap (0, 0), channel
//  0) and in dy, and its length. Returns the number of runs (<= r1 - r0).
typedef struct {
    size_t x, g, len;
} fg_direct_run_t;

size_t
    fg_conv_direct_runs (const fg_direct_t *d, size_t n0, size_t r0, size_t r1,
                         fg_direct_run_t *runs);

//  The AVX2 + FMA kernels (nn/fg_conv_direct_avx2.c; only on a CPU with
//  both): fg_conv_direct_run's for every geometry of fg_conv_direct_form
//  and any ps; and dwt += one block's sums (the runs of
//  fg_conv_direct_runs), which fg_conv_direct_dw calls per block.
void
    fg_conv_direct_run_avx2 (const fg_direct_t *d, const float *xpad,
                             const float *panels, float *y, int threads);
void
    fg_conv_direct_dw_block_avx2 (const fg_direct_t *d, const fg_direct_run_t *runs,
                                  size_t nruns, const float *xpad, const float *dy,
                                  float *dwt, int threads);

//  a * b into *out with overflow and FG_OPS_MAX_ELEMS checks; true if ok.
static inline bool
fg_ops_mul (size_t a, size_t b, size_t *out)
{
    size_t r;
    if (__builtin_mul_overflow (a, b, &r) || r > FG_OPS_MAX_ELEMS)
        return false;
    *out = r;
    return true;
}

#endif
