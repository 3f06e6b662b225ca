/*  fg_conv.c — 2-D convolution, NHWC, forward and backward.

    Five paths, chosen by shape only (so by the experiment, never by the
    deployment):
      depthwise   groups == C == K: own loops, weights transposed to
                  (KH*KW, C) in scratch so the channel loop is contiguous;
      pointwise   1x1, stride 1, no padding: x (N*H*W, C) is the GEMM's A;
      tap         forward of one group, K <= 64, no direct form (first
                  layers, small outputs): the im2col path's arithmetic
                  straight from x, no im2col matrix (s_tap_row);
      direct      stride 1, one group, an output geometry and channel
                  counts the kernels know (s_direct_dims: outputs >= 16
                  wide, 3x3 on 8x8 and 4x4): from the zero-padded input
                  with no im2col matrix (fg_conv_direct.c, and its
                  arithmetic); the input gradient too, as the direct form
                  of the transposed convolution: dy padded by KH-1-PH,
                  KW-1-PW, weights flipped and transposed;
      im2col      everything else, per chunk of images and per group:
                  col (rows, C/G*KH*KW) with column order (c, i, j), which
                  is the order of a torchvision weight row, so W^T is a
                  strided view of the weight (no copy):
                      y_g   (rows x K/G)    = col (rows x Kq) * W_g^T
                      dW_g  (K/G x Kq)     += dy_g^T * col      (beta = 1)
                      dcol  (rows x Kq)     = dy_g * W_g        -> col2im
    Weight gradients are summed over chunks in image order with beta = 1;
    the chunk size depends on the shape only (FG_CONV_CHUNK_FLOATS).      */

#include <assert.h>
#include <math.h>
#include <string.h>
#include "fg_gemm.h"
#include "fg_ops_internal.h"

//  The derived sizes of a checked shape.
typedef struct {
    size_t oh, ow;              //  output size
    size_t cg, kg;              //  channels per group in / out
    size_t kq;                  //  Cg*KH*KW: one weight row, one col row
    size_t khkw;
    size_t pix;                 //  OH*OW
    size_t chunk;               //  images per im2col chunk
} s_dims_t;

static int
s_check (const fg_conv_shape_t *s, s_dims_t *d, fg_error_t *err)
{
    if (!s)
        return fg_error_set (err, FG_EINVAL, "conv: no shape");
    if (s->n < 1 || s->h < 1 || s->w < 1 || s->c < 1 || s->k < 1)
        return fg_error_set (err, FG_EINVAL, "conv: bad size: x (%d,%d,%d,%d), "
                             "k %d: all must be >= 1", s->n, s->h, s->w, s->c, s->k);
    if (s->kh < 1 || s->kw < 1 || s->sh < 1 || s->sw < 1 || s->ph < 0 || s->pw < 0)
        return fg_error_set (err, FG_EINVAL, "conv: bad kernel %dx%d stride %dx%d "
                             "padding %dx%d", s->kh, s->kw, s->sh, s->sw, s->ph, s->pw);
    if (s->groups < 1 || s->c % s->groups != 0 || s->k % s->groups != 0)
        return fg_error_set (err, FG_EINVAL, "conv: groups %d must divide "
                             "in channels %d and out channels %d", s->groups, s->c, s->k);
    int64_t hp = (int64_t) s->h + 2 * (int64_t) s->ph;
    int64_t wp = (int64_t) s->w + 2 * (int64_t) s->pw;
    if (hp < s->kh || wp < s->kw)
        return fg_error_set (err, FG_EINVAL, "conv: kernel %dx%d larger than the "
                             "padded input %lldx%lld", s->kh, s->kw,
                             (long long) hp, (long long) wp);
    d->oh = (size_t) ((hp - s->kh) / s->sh + 1);
    d->ow = (size_t) ((wp - s->kw) / s->sw + 1);
    d->cg = (size_t) (s->c / s->groups);
    d->kg = (size_t) (s->k / s->groups);
    d->khkw = (size_t) s->kh * (size_t) s->kw;
    size_t nx, ny, nw, ncol;
    bool ok = fg_ops_mul (d->cg, d->khkw, &d->kq)
           && fg_ops_mul ((size_t) s->n * s->h, (size_t) s->w * s->c, &nx)
           && fg_ops_mul (d->oh, d->ow, &d->pix)
           && fg_ops_mul ((size_t) s->n * d->pix, (size_t) s->k, &ny)
           && fg_ops_mul ((size_t) s->k, d->kq, &nw)
           && fg_ops_mul (d->pix, d->kq, &ncol);
    if (!ok)
        return fg_error_set (err, FG_EINVAL, "conv: x (%d,%d,%d,%d) k %d kernel "
                             "%dx%d: element count too large", s->n, s->h, s->w,
                             s->c, s->k, s->kh, s->kw);
    d->chunk = ncol >= FG_CONV_CHUNK_FLOATS? 1: FG_CONV_CHUNK_FLOATS / ncol;
    if (d->chunk > (size_t) s->n)
        d->chunk = (size_t) s->n;
    return 0;
}

int
fg_conv_check (const fg_conv_shape_t *s, int *oh, int *ow, fg_error_t *err)
{
    s_dims_t d = { 0 };
    int rc = s_check (s, &d, err);
    if (rc)
        return rc;
    if (d.oh > INT32_MAX || d.ow > INT32_MAX)
        return fg_error_set (err, FG_EINVAL, "conv: output too large");
    if (oh)
        *oh = (int) d.oh;
    if (ow)
        *ow = (int) d.ow;
    return 0;
}

size_t
fg_conv_weight_count (const fg_conv_shape_t *s)
{
    s_dims_t d = { 0 };
    if (s_check (s, &d, NULL))
        return 0;
    return (size_t) s->k * d.kq;
}

static bool
s_is_depthwise (const fg_conv_shape_t *s)
{
    return s->groups == s->c && s->groups == s->k;
}

static bool
s_is_pointwise (const fg_conv_shape_t *s)
{
    return s->kh == 1 && s->kw == 1 && s->sh == 1 && s->sw == 1
        && s->ph == 0 && s->pw == 0;
}

//  ---------------------------------------------------------------------------
//  Direct form (fg_ops_internal.h, fg_direct_t)

//  The direct form's sizes for the forward convolution (flip false: input
//  x, padding PH, PW) or for the input gradient (flip true: input dy,
//  padding KH-1-PH, KW-1-PW, channels swapped). True if this shape takes
//  the direct form: stride 1, one group, not 1x1-unpadded, and a geometry
//  fg_conv_direct_form accepts (shape only, the same on every machine).
static bool
s_direct_dims (const fg_conv_shape_t *s, const s_dims_t *sd, bool flip,
               fg_direct_t *d)
{
    if (s->groups != 1 || s->sh != 1 || s->sw != 1 || s_is_pointwise (s)
    ||  (flip && (s->ph >= s->kh || s->pw >= s->kw)))
        return false;
    const size_t kh = (size_t) s->kh, kw = (size_t) s->kw;
    const size_t ph = flip? kh - 1 - (size_t) s->ph: (size_t) s->ph;
    const size_t pw = flip? kw - 1 - (size_t) s->pw: (size_t) s->pw;
    const size_t ih = flip? sd->oh: (size_t) s->h, iw = flip? sd->ow: (size_t) s->w;
    *d = (fg_direct_t) {
        .n = (size_t) s->n, .hp = ih + 2 * ph, .wp = iw + 2 * pw,
        .cin = flip? (size_t) s->k: (size_t) s->c,
        .cout = flip? (size_t) s->c: (size_t) s->k, .kh = kh, .kw = kw,
        .ph = ph, .pw = pw
    };
    d->oh = d->hp - kh + 1;
    d->ow = d->wp - kw + 1;
    d->ps = d->cin;
    if (!fg_conv_direct_form (d))
        return false;
    d->ps = fg_conv_direct_pixel_stride (d);
    return true;
}

//  The direct form's weight matrix wt (KQ x cout), q = (ky*KW + kx)*cin + c:
//    forward (flip false):        wt [q][k] = w [k][c][ky][kx],  cin = C
//    input gradient (flip true):  wt [q][c] = w [k][c][KH-1-ky][KW-1-kx],
//                                 cin = K, q = (ky*KW + kx)*K + k
//  written as the kernel's panels (panel [o/16][q][o%16]) or row-major.
static void
s_direct_weights (const fg_conv_shape_t *s, const float *w, bool flip,
                  bool panels, float *out, int threads)
{
    const size_t C = (size_t) s->c, K = (size_t) s->k;
    const size_t kh = (size_t) s->kh, kw = (size_t) s->kw;
    const size_t cin = flip? K: C, cout = flip? C: K, kq = kh * kw * cin;
    //  by block of 16 output columns (each written by one iteration); the
    //  block's 16 weight rows stay in cache while the writes run in order
    const size_t step = FG_DIRECT_COUT_STEP, taps = kh * kw;
    const long blocks = (long) (cout / step);
    FG_PARALLEL_FOR (threads)
    for (long bl = 0; bl < blocks; bl++)
        for (size_t b = (size_t) bl, tap = 0; tap < taps; tap++)
            for (size_t r = 0; r < cin; r++) {
                size_t q = tap * cin + r;
                float *dst = panels? out + (b * kq + q) * step: out + q * cout + b * step;
                for (size_t j = 0; j < step; j++) {
                    size_t o = b * step + j;
                    size_t k = flip? r: o, c = flip? o: r, t = flip? taps - 1 - tap: tap;
                    dst [j] = w [(k * C + c) * taps + t];
                }
            }
}

//  in (n, ih, iw, cin) -> xp (n, ih+2*ph, iw+2*pw) pixels of d->ps floats
//  (cin values, then zeros), zero border, then FG_DIRECT_SLACK (ps) zeros.
//  By padded row over threads (disjoint rows).
static void
s_pad (const float *in, const fg_direct_t *d, float *xp, int threads)
{
    const size_t ph = d->ph, pw = d->pw, ps = d->ps;
    const size_t ih = d->hp - 2 * ph, iw = d->wp - 2 * pw, cin = d->cin;
    const long rows = (long) (d->n * d->hp);
    FG_PARALLEL_FOR (threads)
    for (long r = 0; r < rows; r++) {
        size_t img = (size_t) r / d->hp, y = (size_t) r % d->hp;
        float *dst = xp + (size_t) r * d->wp * ps;
        if (y < ph || y >= ph + ih) {
            memset (dst, 0, d->wp * ps * sizeof (float));
            continue;
        }
        memset (dst, 0, pw * ps * sizeof (float));
        const float *src = in + ((img * ih + y - ph) * iw) * cin;
        if (ps == cin)
            memcpy (dst + pw * ps, src, iw * cin * sizeof (float));
        else
            for (size_t x = 0; x < iw; x++) {
                memcpy (dst + (pw + x) * ps, src + x * cin, cin * sizeof (float));
                memset (dst + (pw + x) * ps + cin, 0, (ps - cin) * sizeof (float));
            }
        memset (dst + (pw + iw) * ps, 0, pw * ps * sizeof (float));
    }
    memset (xp + d->n * d->hp * d->wp * ps, 0, FG_DIRECT_SLACK (ps) * sizeof (float));
}

//  The direct form through fg_gemm, the same arithmetic as the kernel: per
//  chunk of images, col (rows x KQ) with columns (ky, kx, c) — cin floats
//  of x_pad per (row, tap) — times wt (KQ x cout).
static int
s_direct_gemm (fg_ops_ctx_t *ctx, const fg_direct_t *d, const float *xp,
               const float *wt, float *y, fg_error_t *err)
{
    const size_t kq = d->kh * d->kw * d->cin, pix = d->oh * d->ow;
    size_t chunk = pix * kq >= FG_CONV_CHUNK_FLOATS? 1: FG_CONV_CHUNK_FLOATS / (pix * kq);
    if (chunk > d->n)
        chunk = d->n;
    float *col = fg_ops_scratch (ctx, FG_SCRATCH_DCOL, chunk * pix * kq * sizeof (float));
    if (!col)
        return fg_error_set (err, FG_ENOMEM, "conv: direct: no memory for %zu x %zu "
                             "x %zu floats", chunk, pix, kq);
    int rc = 0;
    for (size_t n0 = 0; n0 < d->n && !rc; n0 += chunk) {
        size_t nimg = d->n - n0 < chunk? d->n - n0: chunk;
        const long nrows = (long) (nimg * d->oh);
        FG_PARALLEL_FOR (ctx->threads)
        for (long r = 0; r < nrows; r++) {
            size_t img = n0 + (size_t) r / d->oh, oy = (size_t) r % d->oh;
            float *row = col + (size_t) r * d->ow * kq;
            for (size_t ox = 0; ox < d->ow; ox++, row += kq)
                for (size_t i = 0; i < d->kh; i++)
                    for (size_t j = 0; j < d->kw; j++)
                        memcpy (row + (i * d->kw + j) * d->cin,
                                xp + ((img * d->hp + oy + i) * d->wp + ox + j) * d->ps,
                                d->cin * sizeof (float));
        }
        rc = fg_ops_gemm (ctx, "conv direct", nimg * pix, d->cout, kq, 1.0f,
                          col, kq, 1, wt, d->cout, 1, 0.0f,
                          y + n0 * pix * d->cout, d->cout, 1, err);
    }
    return rc;
}

//  The direct form's zero-padded input (FG_SCRATCH_PAD) and a weight
//  buffer of KQ x cout floats (FG_SCRATCH_PANEL).
static int
s_direct_prepare (fg_ops_ctx_t *ctx, const fg_direct_t *d, const float *in,
                  float **xp, float **wt, fg_error_t *err)
{
    size_t npad, nw;
    if (!fg_ops_mul (d->n * d->hp, d->wp * d->ps, &npad)
    ||  !fg_ops_mul (d->kh * d->kw * d->cin, d->cout, &nw))
        return fg_error_set (err, FG_EINVAL, "conv: direct: padded input too large");
    npad += FG_DIRECT_SLACK (d->ps);
    *xp = fg_ops_scratch (ctx, FG_SCRATCH_PAD, npad * sizeof (float));
    *wt = fg_ops_scratch (ctx, FG_SCRATCH_PANEL, nw * sizeof (float));
    if (!*xp || !*wt)
        return fg_error_set (err, FG_ENOMEM, "conv: direct: no memory for the padded "
                             "input (%zu floats) and weights (%zu)", npad, nw);
    s_pad (in, d, *xp, ctx->threads);
    return 0;
}

//  True when the direct kernels run (else the same arithmetic by fg_gemm)
static bool
s_direct_kernel (const fg_ops_ctx_t *ctx)
{
    return !ctx->direct_by_gemm && fg_conv_direct_kernel_available (ctx);
}

//  out = the direct form of the forward convolution (flip false: in = x,
//  out = y) or of the input gradient (flip true: in = dy, out = dx).
static int
s_direct (fg_ops_ctx_t *ctx, const fg_conv_shape_t *s, const fg_direct_t *d,
          bool flip, const float *in, const float *w, float *out, fg_error_t *err)
{
    float *xp, *wt;
    int rc = s_direct_prepare (ctx, d, in, &xp, &wt, err);
    if (rc)
        return rc;
    bool kernel = s_direct_kernel (ctx);
    s_direct_weights (s, w, flip, kernel, wt, ctx->threads);
    if (!kernel)
        return s_direct_gemm (ctx, d, xp, wt, out, err);
    fg_conv_direct_run (d, xp, wt, out, ctx);
    return 0;
}

//  dw += the weight gradient by the AVX-512F kernel (the im2col path's bits):
//  dw (K, C, KH, KW) is copied to the kernel's (KQ x K) layout and back.
static int
s_direct_dw (fg_ops_ctx_t *ctx, const fg_direct_t *d, size_t chunk,
             const fg_conv_shape_t *s, const float *x, const float *dy, float *dw,
             fg_error_t *err)
{
    float *xp, *dwt;
    int rc = s_direct_prepare (ctx, d, x, &xp, &dwt, err);
    if (rc)
        return rc;
    s_direct_weights (s, dw, false, false, dwt, ctx->threads);
    fg_conv_direct_dw (d, chunk, xp, dy, dwt, ctx);
    const size_t C = d->cin, K = d->cout, kh = d->kh, kw = d->kw;
    const long nk = (long) K;
    FG_PARALLEL_FOR (ctx->threads)
    for (long kl = 0; kl < nk; kl++)
        for (size_t k = (size_t) kl, c = 0; c < C; c++)
            for (size_t i = 0; i < kh; i++)
                for (size_t j = 0; j < kw; j++)
                    dw [((k * C + c) * kh + i) * kw + j] = dwt [((i * kw + j) * C + c) * K + k];
    return 0;
}

//  ---------------------------------------------------------------------------
//  Tap form: the forward of one group, K <= 64 output channels (a multiple
//  of 16 or Kq = C*KH*KW <= 32), KH*KW <= 25, not 1x1-unpadded and not a
//  direct form: the first layers (cnn-small 1->32, vgg16-bn 3->64,
//  MobileNetV3's stem 3->16 stride 2) and cnn-small's 32->64 on 13x13,
//  whose im2col matrix costs more to build (and pack) than the GEMM. It
//  runs fg_gemm's arithmetic (nn/fg_gemm.h) for the im2col path's product
//  col (rows x Kq) * W^T, q in (c, i, j) order, alpha 1, beta 0: per k block
//  [q0, q0 + FG_GEMM_KC), ab = +0, ab = fmaf (col_q, w_kq, ab) in q order;
//  the first block's ab is y, each later one is added (fmaf (1, y, ab) =
//  y + ab); then y + b_k. Straight from x: a padding tap reads zeros (its
//  fmaf is done too), so the bits are the im2col path's. By output row over
//  threads.

#define S_TAP_COUT 64
#define S_TAP_TAPS 25           //  KH*KW at most
#define S_TAP_ACC 16            //  AVX-512 accumulators: 16 / NV pixels

//  Only where its AVX-512 kernel runs: the C form alone (FEDGRID_GEMM=avx2
//  or portable, or K not a multiple of 16) is slower than im2col + the
//  AVX2 GEMM (cnn-small inference 0.45-0.54x PyTorch's under AVX2 against
//  0.69-0.78x through im2col, bench/compare.sh -i avx2, 2026-12-07); it
//  still serves the kernel's edge pixels. Same bits either way.
static bool
s_is_tap_form (const fg_conv_shape_t *s, const s_dims_t *d)
{
    return s->groups == 1 && s->k <= S_TAP_COUT && d->khkw <= S_TAP_TAPS
        && s->k % 16 == 0 && !s_is_pointwise (s) && fg_gemm_default () == FG_GEMM_AVX512;
}

//  The C form: one output pixel, tap t of channel c at base [t][c] (a zero
//  row for padding), wt (Kq x K) -> out (K) [+ b]; sums in `acc`.
FG_OPS_FMA static void
s_tap_pixel (size_t K, size_t C, size_t taps, const float *const *base,
             const float *wt, const float *b, float *out)
{
    float acc [S_TAP_COUT];
    const size_t kq = C * taps;
    for (size_t q0 = 0; q0 < kq; q0 += FG_GEMM_KC) {
        for (size_t k = 0; k < K; k++)
            acc [k] = 0.0f;
        size_t q1 = kq - q0 < FG_GEMM_KC? kq: q0 + FG_GEMM_KC;
        for (size_t q = q0; q < q1; q++) {
            const float xv = base [q % taps] [q / taps], *wr = wt + q * K;
            for (size_t k = 0; k < K; k++)
                acc [k] = fmaf (xv, wr [k], acc [k]);
        }
        for (size_t k = 0; k < K; k++)
            out [k] = q0 == 0? acc [k]: out [k] + acc [k];
    }
    if (b)
        for (size_t k = 0; k < K; k++)
            out [k] = out [k] + b [k];
}

#if defined (__GNUC__) && defined (__x86_64__) && !defined (FG_OPS_NO_CLONES)
#   include <immintrin.h>
#   define S_TAP_AVX512 1

//  The same for P pixels side by side, K = 16 * NV (P * NV <= 16
//  accumulators in registers): _mm512_fmadd_ps rounds once, as fmaf. The
//  k blocks' partial sums meet in out (y + ab, in block order).
__attribute__ ((target ("avx512f"), always_inline)) static inline void
s_tap_pixels_avx512 (size_t NV, size_t P, size_t C, size_t taps,
                     const float *const *base, const float *wt, const float *b,
                     float *out)
{
    const size_t K = 16 * NV, kq = C * taps;
    for (size_t q0 = 0; q0 < kq; q0 += FG_GEMM_KC) {
        __m512 acc [S_TAP_ACC];
#pragma GCC unroll 16
        for (size_t a = 0; a < P * NV; a++)
            acc [a] = _mm512_setzero_ps ();
        size_t q1 = kq - q0 < FG_GEMM_KC? kq: q0 + FG_GEMM_KC;
        size_t c = q0 / taps, t = q0 % taps;
        for (size_t q = q0; q < q1; q++) {
            __m512 wv [4];
#pragma GCC unroll 4
            for (size_t v = 0; v < NV; v++)
                wv [v] = _mm512_loadu_ps (wt + q * K + 16 * v);
#pragma GCC unroll 16
            for (size_t p = 0; p < P; p++) {
                __m512 xv = _mm512_set1_ps (base [p * S_TAP_TAPS + t] [c]);
#pragma GCC unroll 4
                for (size_t v = 0; v < NV; v++)
                    acc [p * NV + v] = _mm512_fmadd_ps (xv, wv [v], acc [p * NV + v]);
            }
            if (++t == taps) {
                t = 0;
                c++;
            }
        }
#pragma GCC unroll 16
        for (size_t a = 0; a < P * NV; a++) {
            float *dst = out + (a / NV) * K + 16 * (a % NV);
            if (q0 > 0)
                acc [a] = _mm512_add_ps (_mm512_loadu_ps (dst), acc [a]);
            _mm512_storeu_ps (dst, acc [a]);
        }
    }
    if (b)
#pragma GCC unroll 16
        for (size_t a = 0; a < P * NV; a++) {
            float *dst = out + (a / NV) * K + 16 * (a % NV);
            _mm512_storeu_ps (dst, _mm512_add_ps (_mm512_loadu_ps (dst),
                                                  _mm512_loadu_ps (b + 16 * (a % NV))));
        }
}

//  P = 16 / NV pixels (wide) or 1 (a row's tail); K = 16, 32 or 64.
__attribute__ ((target ("avx512f"))) static void
s_tap_block_avx512 (size_t K, bool wide, size_t C, size_t taps,
                    const float *const *base, const float *wt, const float *b,
                    float *out)
{
    switch (K + wide) {
        case 17: s_tap_pixels_avx512 (1, 16, C, taps, base, wt, b, out); break;
        case 16: s_tap_pixels_avx512 (1, 1, C, taps, base, wt, b, out); break;
        case 33: s_tap_pixels_avx512 (2, 8, C, taps, base, wt, b, out); break;
        case 32: s_tap_pixels_avx512 (2, 1, C, taps, base, wt, b, out); break;
        case 65: s_tap_pixels_avx512 (4, 4, C, taps, base, wt, b, out); break;
        default: s_tap_pixels_avx512 (4, 1, C, taps, base, wt, b, out);
    }
}
#endif

//  Where the taps of output pixel (img, oy, ox) are: base [i*KW + j] is x's
//  pixel (iy, ix), or `zeros` (C zero floats) outside the input.
static void
s_tap_bases (const fg_conv_shape_t *s, const float *x, const float *zeros,
             size_t img, size_t oy, size_t ox, const float **base)
{
    const size_t H = (size_t) s->h, W = (size_t) s->w, C = (size_t) s->c;
    const size_t kh = (size_t) s->kh, kw = (size_t) s->kw;
    for (size_t i = 0; i < kh; i++) {
        long iy = (long) (oy * (size_t) s->sh + i) - s->ph;
        for (size_t j = 0; j < kw; j++) {
            long ix = (long) (ox * (size_t) s->sw + j) - s->pw;
            bool in = iy >= 0 && iy < (long) H && ix >= 0 && ix < (long) W;
            base [i * kw + j] = in? x + ((img * H + (size_t) iy) * W + (size_t) ix) * C
                                  : zeros;
        }
    }
}

//  Output row r = (img, oy) of y.
static void
s_tap_row (const fg_conv_shape_t *s, const s_dims_t *d, const float *x,
           const float *zeros, const float *wt, const float *b, float *y, size_t r)
{
    const size_t K = (size_t) s->k, C = (size_t) s->c, taps = d->khkw;
    const size_t img = r / d->oh, oy = r % d->oh;
    const float *base [S_TAP_ACC * S_TAP_TAPS];
    size_t ox = 0;
#ifdef S_TAP_AVX512
    //  the AVX-512 GEMM's condition (FEDGRID_GEMM=avx2 or portable runs
    //  the C form: tests compare both)
    if (K % 16 == 0 && fg_gemm_default () == FG_GEMM_AVX512) {
        const size_t P = S_TAP_ACC * 16 / K;
        const size_t step = (size_t) s->sw * C;
        for (; ox < d->ow; ) {
            bool wide = ox + P <= d->ow;
            size_t np = wide? P: 1;
            s_tap_bases (s, x, zeros, img, oy, ox, base);
            //  columns inside the input for the whole block: the next
            //  pixels' taps are one stride on (rows of zeros stay)
            long ix0 = (long) (ox * (size_t) s->sw) - s->pw;
            long ix1 = (long) ((ox + np - 1) * (size_t) s->sw + (size_t) s->kw - 1) - s->pw;
            bool inside = ix0 >= 0 && ix1 < s->w;
            for (size_t p = 1; p < np; p++)
                if (inside)
                    for (size_t t = 0; t < taps; t++)
                        base [p * S_TAP_TAPS + t] = base [t] == zeros? zeros
                                                  : base [t] + p * step;
                else
                    s_tap_bases (s, x, zeros, img, oy, ox + p, base + p * S_TAP_TAPS);
            s_tap_block_avx512 (K, wide, C, taps, base, wt, b, y + (r * d->ow + ox) * K);
            ox += np;
        }
    }
#endif
    for (; ox < d->ow; ox++) {
        s_tap_bases (s, x, zeros, img, oy, ox, base);
        s_tap_pixel (K, C, taps, base, wt, b, y + (r * d->ow + ox) * K);
    }
}

//  y = conv (x, w) + b in the tap form; scratch: wt (Kq x K) and C zeros.
static int
s_tap_forward (fg_ops_ctx_t *ctx, const fg_conv_shape_t *s, const s_dims_t *d,
               const float *x, const float *w, const float *b, float *y,
               fg_error_t *err)
{
    const size_t K = (size_t) s->k, kq = d->kq, C = (size_t) s->c;
    float *wt = fg_ops_scratch (ctx, FG_SCRATCH_PANEL, (kq * K + C) * sizeof (float));
    if (!wt)
        return fg_error_set (err, FG_ENOMEM, "conv: tap form: no memory for %zu "
                             "weights", kq * K);
    for (size_t k = 0; k < K; k++)
        for (size_t q = 0; q < kq; q++)
            wt [q * K + k] = w [k * kq + q];
    float *zeros = wt + kq * K;
    memset (zeros, 0, C * sizeof (float));
    const long rows = (long) ((size_t) s->n * d->oh);
    FG_PARALLEL_FOR (ctx->threads)
    for (long r = 0; r < rows; r++)
        s_tap_row (s, d, x, zeros, wt, b, y, (size_t) r);
    return 0;
}

//  x (N,H,W,C) images [n0, n0+nimg), group g
//  -> col (nimg*OH*OW, Kq), row p = (img, oy, ox), column (c, i, j).
//  Split over threads by output row (img, oy): each col row is written by
//  one iteration, so the split never changes a value.
static void
s_im2col (const fg_conv_shape_t *s, const s_dims_t *d, const float *x,
          size_t n0, size_t nimg, size_t g, float *col, int threads)
{
    const size_t H = (size_t) s->h, W = (size_t) s->w, C = (size_t) s->c;
    const size_t kh = (size_t) s->kh, kw = (size_t) s->kw, khkw = d->khkw;
    const long nrows = (long) (nimg * d->oh);
    FG_PARALLEL_FOR (threads)
    for (long r = 0; r < nrows; r++) {
        const size_t img = n0 + (size_t) r / d->oh, oy = (size_t) r % d->oh;
        float *row = col + (size_t) r * d->ow * d->kq;
        for (size_t ox = 0; ox < d->ow; ox++, row += d->kq)
            for (size_t i = 0; i < kh; i++) {
                long iy = (long) (oy * (size_t) s->sh + i) - s->ph;
                for (size_t j = 0; j < kw; j++) {
                    long ix = (long) (ox * (size_t) s->sw + j) - s->pw;
                    float *dst = row + i * kw + j;
                    if (iy < 0 || iy >= (long) H || ix < 0 || ix >= (long) W) {
                        for (size_t c = 0; c < d->cg; c++)
                            dst [c * khkw] = 0.0f;
                    }
                    else {
                        const float *src = x + ((img * H + (size_t) iy) * W
                                                + (size_t) ix) * C + g * d->cg;
                        for (size_t c = 0; c < d->cg; c++)
                            dst [c * khkw] = src [c];
                    }
                }
            }
    }
}

//  dcol (nimg*OH*OW, Kq) of group g -> dx images [n0, n0+nimg) +=. A
//  gather: each input row (img, iy) sums what the output pixels that see
//  it contribute, in increasing (oy, ox) order, so every dx element gets
//  the same sequence of additions whatever the split over threads (by
//  input row; no two iterations write the same element).
static void
s_col2im (const fg_conv_shape_t *s, const s_dims_t *d, const float *dcol,
          size_t n0, size_t nimg, size_t g, float *dx, int threads)
{
    const size_t H = (size_t) s->h, W = (size_t) s->w, C = (size_t) s->c;
    const size_t kh = (size_t) s->kh, kw = (size_t) s->kw, khkw = d->khkw;
    const long nrows = (long) (nimg * H);
    FG_PARALLEL_FOR (threads)
    for (long r = 0; r < nrows; r++) {
        const size_t img = n0 + (size_t) r / H, iy = (size_t) r % H;
        for (size_t oy = 0; oy < d->oh; oy++) {
            long i = (long) iy + s->ph - (long) (oy * (size_t) s->sh);
            if (i < 0 || i >= (long) kh)
                continue;
            const float *row = dcol + ((img - n0) * d->oh + oy) * d->ow * d->kq;
            for (size_t ox = 0; ox < d->ow; ox++, row += d->kq)
                for (size_t j = 0; j < kw; j++) {
                    long ix = (long) (ox * (size_t) s->sw + j) - s->pw;
                    if (ix < 0 || ix >= (long) W)
                        continue;
                    const float *src = row + (size_t) i * kw + j;
                    float *dst = dx + ((img * H + iy) * W + (size_t) ix) * C + g * d->cg;
                    for (size_t c = 0; c < d->cg; c++)
                        dst [c] += src [c * khkw];
                }
        }
    }
}

//  w (C,1,KH,KW) -> wt (KH*KW, C)
static void
s_depthwise_weights (const fg_conv_shape_t *s, const s_dims_t *d,
                     const float *w, float *wt)
{
    const size_t C = (size_t) s->c;
    for (size_t c = 0; c < C; c++)
        for (size_t q = 0; q < d->khkw; q++)
            wt [q * C + c] = w [c * d->khkw + q];
}

//  Image img of the depthwise forward: x (H,W,C) -> y (OH,OW,C), wt (KH*KW, C).
FG_OPS_WIDE static void
s_depthwise_image (const fg_conv_shape_t *s, const s_dims_t *d, const float *x,
                   const float *wt, const float *b, float *y, size_t img)
{
    const size_t H = (size_t) s->h, W = (size_t) s->w, C = (size_t) s->c;
    float *out = y + img * d->pix * C;
    for (size_t oy = 0; oy < d->oh; oy++)
        for (size_t ox = 0; ox < d->ow; ox++, out += C) {
            for (size_t c = 0; c < C; c++)
                out [c] = 0.0f;
            for (size_t i = 0; i < (size_t) s->kh; i++) {
                long iy = (long) (oy * (size_t) s->sh + i) - s->ph;
                if (iy < 0 || iy >= (long) H)
                    continue;
                for (size_t j = 0; j < (size_t) s->kw; j++) {
                    long ix = (long) (ox * (size_t) s->sw + j) - s->pw;
                    if (ix < 0 || ix >= (long) W)
                        continue;
                    const float *src = x + ((img * H + (size_t) iy) * W
                                            + (size_t) ix) * C;
                    const float *wr = wt + (i * (size_t) s->kw + j) * C;
                    for (size_t c = 0; c < C; c++)
                        out [c] += src [c] * wr [c];
                }
            }
            if (b)
                for (size_t c = 0; c < C; c++)
                    out [c] += b [c];
        }
}

//  By image over threads (each output written by one iteration, in the
//  operation order of the serial loop).
static int
s_depthwise_forward (fg_ops_ctx_t *ctx, const fg_conv_shape_t *s,
                     const s_dims_t *d, const float *x, const float *w,
                     const float *b, float *y, fg_error_t *err)
{
    const size_t C = (size_t) s->c;
    float *wt = fg_ops_scratch (ctx, FG_SCRATCH_COL, d->khkw * C * sizeof (float));
    if (!wt)
        return fg_error_set (err, FG_ENOMEM, "conv: depthwise: no memory "
                             "for %zu weights", d->khkw * C);
    s_depthwise_weights (s, d, w, wt);
    const long n = s->n;
    const int threads = fg_ops_par_threads (ctx, (size_t) s->n * d->pix * C * d->khkw,
                                            (size_t) s->n);
    FG_PARALLEL_FOR (threads)
    for (long img = 0; img < n; img++)
        s_depthwise_image (s, d, x, wt, b, y, (size_t) img);
    return 0;
}

FG_OPS_WIDE static int
s_depthwise_backward (fg_ops_ctx_t *ctx, const fg_conv_shape_t *s,
                      const s_dims_t *d, const float *x, const float *w,
                      const float *dy, float *dx, float *dw, fg_error_t *err)
{
    const size_t H = (size_t) s->h, W = (size_t) s->w, C = (size_t) s->c;
    const size_t nq = d->khkw * C;
    float *wt = fg_ops_scratch (ctx, FG_SCRATCH_COL, nq * sizeof (float));
    double *acc = dw? fg_ops_scratch (ctx, FG_SCRATCH_DCOL, nq * sizeof (double)): NULL;
    if (!wt || (dw && !acc))
        return fg_error_set (err, FG_ENOMEM, "conv: depthwise: no memory "
                             "for %zu weights", nq);
    s_depthwise_weights (s, d, w, wt);
    if (acc)
        for (size_t q = 0; q < nq; q++)
            acc [q] = 0.0;
    if (dx)
        memset (dx, 0, (size_t) s->n * H * W * C * sizeof (float));
    const float *g = dy;
    for (size_t img = 0; img < (size_t) s->n; img++)
        for (size_t oy = 0; oy < d->oh; oy++)
            for (size_t ox = 0; ox < d->ow; ox++, g += C)
                for (size_t i = 0; i < (size_t) s->kh; i++) {
                    long iy = (long) (oy * (size_t) s->sh + i) - s->ph;
                    if (iy < 0 || iy >= (long) H)
                        continue;
                    for (size_t j = 0; j < (size_t) s->kw; j++) {
                        long ix = (long) (ox * (size_t) s->sw + j) - s->pw;
                        if (ix < 0 || ix >= (long) W)
                            continue;
                        size_t at = ((img * H + (size_t) iy) * W + (size_t) ix) * C;
                        size_t q = i * (size_t) s->kw + j;
                        if (dx) {
                            const float *wr = wt + q * C;
                            float *dst = dx + at;
                            for (size_t c = 0; c < C; c++)
                                dst [c] += g [c] * wr [c];
                        }
                        if (acc) {
                            const float *src = x + at;
                            double *ar = acc + q * C;
                            for (size_t c = 0; c < C; c++)
                                ar [c] += (double) g [c] * (double) src [c];
                        }
                    }
                }
    if (dw)
        for (size_t c = 0; c < C; c++)
            for (size_t q = 0; q < d->khkw; q++)
                dw [c * d->khkw + q] += (float) acc [q * C + c];
    return 0;
}

int
fg_conv_forward (fg_ops_ctx_t *ctx, const fg_conv_shape_t *s,
                 const float *x, const float *w, const float *b,
                 float *y, fg_error_t *err)
{
    s_dims_t d = { 0 };
    int rc = s_check (s, &d, err);
    if (rc)
        return rc;
    if (!ctx || !x || !w || !y)
        return fg_error_set (err, FG_EINVAL, "conv: forward: NULL context, "
                             "input, weight or output");
    if (s_is_depthwise (s))
        return s_depthwise_forward (ctx, s, &d, x, w, b, y, err);

    const size_t N = (size_t) s->n, C = (size_t) s->c, K = (size_t) s->k;
    const size_t G = (size_t) s->groups;
    fg_direct_t form;
    bool direct = s_direct_dims (s, &d, false, &form);
    if (!direct && s_is_tap_form (s, &d) && !ctx->direct_by_gemm)
        return s_tap_forward (ctx, s, &d, x, w, b, y, err);
    if (direct)
        rc = s_direct (ctx, s, &form, false, x, w, y, err);
    else
    if (s_is_pointwise (s)) {
        size_t rows = N * d.pix;
        for (size_t g = 0; g < G && !rc; g++)
            rc = fg_ops_gemm (ctx, "conv 1x1 forward", rows, d.kg, d.kq, 1.0f,
                              x + g * d.cg, C, 1,
                              w + g * d.kg * d.kq, 1, d.kq, 0.0f,
                              y + g * d.kg, K, 1, err);
    }
    else {
        float *col = fg_ops_scratch (ctx, FG_SCRATCH_COL,
                                     d.chunk * d.pix * d.kq * sizeof (float));
        if (!col)
            return fg_error_set (err, FG_ENOMEM, "conv: forward: no memory for "
                                 "im2col (%zu images x %zu x %zu floats)",
                                 d.chunk, d.pix, d.kq);
        for (size_t n0 = 0; n0 < N && !rc; n0 += d.chunk) {
            size_t nimg = N - n0 < d.chunk? N - n0: d.chunk;
            size_t rows = nimg * d.pix;
            for (size_t g = 0; g < G && !rc; g++) {
                s_im2col (s, &d, x, n0, nimg, g, col, ctx->threads);
                rc = fg_ops_gemm (ctx, "conv forward", rows, d.kg, d.kq, 1.0f,
                                  col, d.kq, 1,
                                  w + g * d.kg * d.kq, 1, d.kq, 0.0f,
                                  y + n0 * d.pix * K + g * d.kg, K, 1, err);
            }
        }
    }
    if (!rc && b) {
        fg_epilogue_t e = { .bias = b, .act = FG_ACT_IDENTITY };
        rc = fg_epilogue_forward (ctx, N * d.pix, s->k, &e, y, y, err);
    }
    return rc;
}

int
fg_conv_backward (fg_ops_ctx_t *ctx, const fg_conv_shape_t *s,
                  const float *x, const float *w, const float *dy,
                  float *dx, float *dw, float *db, fg_error_t *err)
{
    s_dims_t d = { 0 };
    int rc = s_check (s, &d, err);
    if (rc)
        return rc;
    if (!ctx || !x || !w || !dy)
        return fg_error_set (err, FG_EINVAL, "conv: backward: NULL context, "
                             "input, weight or output gradient");
    const size_t N = (size_t) s->n, C = (size_t) s->c, K = (size_t) s->k;
    const size_t G = (size_t) s->groups;
    if (db) {
        double *acc = fg_ops_scratch (ctx, FG_SCRATCH_AUX, K * sizeof (double));
        if (!acc)
            return fg_error_set (err, FG_ENOMEM, "conv: backward: no memory "
                                 "for %zu bias sums", K);
        fg_ops_colsum_acc (N * d.pix, K, dy, K, acc, db);
    }
    if (!dx && !dw)
        return 0;
    if (s_is_depthwise (s))
        return s_depthwise_backward (ctx, s, &d, x, w, dy, dx, dw, err);

    if (s_is_pointwise (s)) {
        size_t rows = N * d.pix;
        for (size_t g = 0; g < G && !rc; g++) {
            const float *dy_g = dy + g * d.kg;
            if (dw)
                rc = fg_ops_gemm (ctx, "conv 1x1 backward dw", d.kg, d.kq, rows,
                                  1.0f, dy_g, 1, K, x + g * d.cg, C, 1, 1.0f,
                                  dw + g * d.kg * d.kq, d.kq, 1, err);
            if (dx && !rc)
                rc = fg_ops_gemm (ctx, "conv 1x1 backward dx", rows, d.kq, d.kg,
                                  1.0f, dy_g, K, 1, w + g * d.kg * d.kq, d.kq, 1,
                                  0.0f, dx + g * d.cg, C, 1, err);
        }
        return rc;
    }

    //  weight gradient first: the input gradient's direct form reuses the
    //  padded-input and weight buffers
    fg_direct_t form;
    if (dw && s_direct_dims (s, &d, false, &form) && fg_conv_direct_dw_form (&form)
    &&  s_direct_kernel (ctx)) {
        rc = s_direct_dw (ctx, &form, d.chunk, s, x, dy, dw, err);
        dw = NULL;
        if (rc || !dx)
            return rc;
    }
    if (dx && s_direct_dims (s, &d, true, &form)) {
        rc = s_direct (ctx, s, &form, true, dy, w, dx, err);
        dx = NULL;
        if (rc || !dw)
            return rc;
    }
    size_t ncol = d.chunk * d.pix * d.kq;
    float *col = dw? fg_ops_scratch (ctx, FG_SCRATCH_COL, ncol * sizeof (float)): NULL;
    float *dcol = dx? fg_ops_scratch (ctx, FG_SCRATCH_DCOL, ncol * sizeof (float)): NULL;
    if ((dw && !col) || (dx && !dcol))
        return fg_error_set (err, FG_ENOMEM, "conv: backward: no memory for "
                             "im2col (%zu images x %zu x %zu floats)",
                             d.chunk, d.pix, d.kq);
    for (size_t n0 = 0; n0 < N && !rc; n0 += d.chunk) {
        size_t nimg = N - n0 < d.chunk? N - n0: d.chunk;
        size_t rows = nimg * d.pix;
        const float *dy_c = dy + n0 * d.pix * K;
        if (dx)
            memset (dx + n0 * (size_t) s->h * s->w * C, 0,
                    nimg * (size_t) s->h * s->w * C * sizeof (float));
        for (size_t g = 0; g < G && !rc; g++) {
            const float *w_g = w + g * d.kg * d.kq;
            if (dw) {
                s_im2col (s, &d, x, n0, nimg, g, col, ctx->threads);
                rc = fg_ops_gemm (ctx, "conv backward dw", d.kg, d.kq, rows, 1.0f,
                                  dy_c + g * d.kg, 1, K, col, d.kq, 1, 1.0f,
                                  dw + g * d.kg * d.kq, d.kq, 1, err);
            }
            if (dx && !rc) {
                rc = fg_ops_gemm (ctx, "conv backward dx", rows, d.kq, d.kg, 1.0f,
                                  dy_c + g * d.kg, K, 1, w_g, d.kq, 1, 0.0f,
                                  dcol, d.kq, 1, err);
                if (!rc)
                    s_col2im (s, &d, dcol, n0, nimg, g, dx, ctx->threads);
            }
        }
    }
    return rc;
}
