/*  fg_conv_direct_avx2.c — the AVX2 + FMA kernels of the direct convolution
    form (fg_ops_internal.h, fg_direct_t; nn/fg_conv_direct.c has the form,
    its arithmetic and the AVX-512F kernels). For the PCs of a grid without
    AVX-512 (many Intel client CPUs, AMD before Zen 4), where the form
    otherwise runs as im2col + fg_gemm.

    Same arithmetic as the AVX-512F kernels, so the same bits: every output
    element is the GEMM  y (pixels x COUT) = col (pixels x KQ) * wt (KQ x
    COUT), q = (ky * KW + kx) * CIN + c, with fg_gemm's formula — per block
    of FG_GEMM_KC q's an fma chain from +0 in q order, then y = ab (first
    block) or y + ab. How elements are grouped into tiles and threads never
    changes an element's operations.

    Forward / input gradient tile: 6 output pixels x 16 output channels,
    twelve ymm accumulators, the panel's row of 16 weights in two ymm, the
    pixels' inputs broadcast (8 loads per 12 FMAs). The 6 pixels are any 6:
    each has its own input pointer, so one kernel serves every geometry of
    the form (wide rows, 8x8 and 4x4 images) with real pixels only — no
    thrown-away virtual columns. Pixels run consecutively in (image, row,
    column) order; the weight panels are taken in groups that fit in L2.

    Weight-gradient tile: 6 (or the last 4 / 2) input channels of one tap x
    16 output channels, over one block of FG_GEMM_KC pixels in the im2col
    path's row order, dwt + ab after the block: the im2col path's bits.   */

#include <assert.h>
#include <stdbool.h>
#include "fg_ops_internal.h"
#include "fg_gemm.h"

#if defined (__x86_64__)
#include <immintrin.h>

#define S_R     6                   //  pixels (forward) or channels (dw) per tile
#define S_NR    16                  //  output channels per tile (a panel)
#define FG_TARGET __attribute__ ((target ("avx2,fma")))

_Static_assert (FG_DIRECT_COUT_STEP == S_NR, "panels are S_NR channels wide");

//  Weight panels per group: the group's panels (KQ x 16 floats each) stay
//  in L2 while every tile of the layer runs over them
#define S_GROUP_BYTES ((size_t) 384 * 1024)

//  y = ab on the first k block, y + ab on the others (fmaf (1, y, ab) of
//  fg_gemm: one rounding of the exact sum, which is what the add does)
FG_TARGET static inline void
s_put (float *y, __m256 ab0, __m256 ab1, bool first)
{
    if (!first) {
        ab0 = _mm256_add_ps (_mm256_loadu_ps (y), ab0);
        ab1 = _mm256_add_ps (_mm256_loadu_ps (y + 8), ab1);
    }
    _mm256_storeu_ps (y, ab0);
    _mm256_storeu_ps (y + 8, ab1);
}

//  acc_i += x_i [q's offset] * the panel's 16 weights of row q
#define S_FMA(i) \
    xb = _mm256_broadcast_ss (a##i + p); \
    c##i##0 = _mm256_fmadd_ps (xb, b0, c##i##0); \
    c##i##1 = _mm256_fmadd_ps (xb, b1, c##i##1);

//  One tile: x [i] = x_pad at pixel i's tap (0, 0), channel 0; w: the
//  panel (KQ x 16, q-major); out [i]: where pixel i's 16 outputs go (NULL:
//  a padding pixel of the last tile, computed and dropped).
FG_TARGET static void
s_tile (const fg_direct_t *d, const float *const *x, const float *w,
        float *const *out)
{
    const size_t cin = d->cin, kq = d->kh * d->kw * cin;
    for (size_t q0 = 0; q0 < kq; q0 += FG_GEMM_KC) {
        size_t q1 = q0 + FG_GEMM_KC < kq? q0 + FG_GEMM_KC: kq;
        __m256 c00 = _mm256_setzero_ps (), c01 = c00, c10 = c00, c11 = c00,
               c20 = c00, c21 = c00, c30 = c00, c31 = c00, c40 = c00, c41 = c00,
               c50 = c00, c51 = c00;
        for (size_t q = q0; q < q1; ) {
            //  one run of channels within one tap
            size_t tap = q / cin, ch = q % cin;
            size_t len = cin - ch < q1 - q? cin - ch: q1 - q;
            size_t off = ((tap / d->kw) * d->wp + tap % d->kw) * d->ps + ch;
            const float *a0 = x [0] + off, *a1 = x [1] + off, *a2 = x [2] + off,
                        *a3 = x [3] + off, *a4 = x [4] + off, *a5 = x [5] + off;
            const float *b = w + q * S_NR;
            #pragma GCC unroll 4
            for (size_t p = 0; p < len; p++, b += S_NR) {
                __m256 b0 = _mm256_loadu_ps (b), b1 = _mm256_loadu_ps (b + 8), xb;
                S_FMA (0) S_FMA (1) S_FMA (2) S_FMA (3) S_FMA (4) S_FMA (5)
            }
            q += len;
        }
        bool first = q0 == 0;
        if (out [0]) s_put (out [0], c00, c01, first);
        if (out [1]) s_put (out [1], c10, c11, first);
        if (out [2]) s_put (out [2], c20, c21, first);
        if (out [3]) s_put (out [3], c30, c31, first);
        if (out [4]) s_put (out [4], c40, c41, first);
        if (out [5]) s_put (out [5], c50, c51, first);
    }
}

void
fg_conv_direct_run_avx2 (const fg_direct_t *d, const float *xpad,
                         const float *panels, float *y, int threads)
{
    const size_t kq = d->kh * d->kw * d->cin, pix = d->oh * d->ow;
    const size_t total = d->n * pix, tiles = (total + S_R - 1) / S_R;
    const size_t npanels = d->cout / S_NR, panel_bytes = kq * S_NR * sizeof (float);
    size_t per = S_GROUP_BYTES / panel_bytes;
    per = per < 1? 1: per > npanels? npanels: per;
    const size_t groups = (npanels + per - 1) / per;
    //  group-major: a group's panels serve every tile from L2
    const long work = (long) (groups * tiles);
    FG_PARALLEL_FOR (threads)
    for (long u = 0; u < work; u++) {
        size_t g = (size_t) u / tiles, p0 = ((size_t) u % tiles) * S_R;
        const float *x [S_R];
        float *out [S_R];
        for (size_t i = 0; i < S_R; i++) {
            size_t p = p0 + i < total? p0 + i: total - 1;
            size_t img = p / pix, oy = (p % pix) / d->ow, ox = p % d->ow;
            x [i] = xpad + ((img * d->hp + oy) * d->wp + ox) * d->ps;
            out [i] = p0 + i < total? y + p * d->cout + g * per * S_NR: NULL;
        }
        size_t k1 = (g + 1) * per < npanels? (g + 1) * per: npanels;
        for (size_t kb = g * per; kb < k1; kb++) {
            s_tile (d, x, panels + kb * kq * S_NR, out);
            for (size_t i = 0; i < S_R; i++)
                if (out [i])
                    out [i] += S_NR;
        }
    }
}

//  ---------------------------------------------------------------------------
//  Weight gradient

typedef fg_direct_run_t s_run_t;

//  acc_i += x [pixel][channel c0 + i] * dy [pixel][16 output channels]
#define S_FMA_C(i) \
    if (R > i) { \
        xb = _mm256_broadcast_ss (a + i); \
        c##i##0 = _mm256_fmadd_ps (xb, b0, c##i##0); \
        c##i##1 = _mm256_fmadd_ps (xb, b1, c##i##1); \
    }
#define S_ADD_C(i) \
    if (R > i) { \
        float *o = dwt + i * k; \
        _mm256_storeu_ps (o, _mm256_add_ps (_mm256_loadu_ps (o), c##i##0)); \
        _mm256_storeu_ps (o + 8, _mm256_add_ps (_mm256_loadu_ps (o + 8), c##i##1)); \
    }

//  R input channels (rows q .. q + R - 1 of dwt) x 16 output channels:
//  x: x_pad at the tap's offset, channel c0; g: dy at the tile's first
//  output channel; k: dy's and dwt's row length (cout); ps: x_pad's
//  pixel stride.
#define S_DW_TILE(R_) \
FG_TARGET static void \
s_dw_tile_##R_ (const float *x, const float *g, size_t k, size_t ps, \
                const s_run_t *runs, size_t nruns, float *dwt) \
{ \
    enum { R = R_ }; \
    __m256 c00 = _mm256_setzero_ps (), c01 = c00, c10 = c00, c11 = c00, \
           c20 = c00, c21 = c00, c30 = c00, c31 = c00, c40 = c00, c41 = c00, \
           c50 = c00, c51 = c00; \
    for (size_t r = 0; r < nruns; r++) { \
        const float *a = x + runs [r].x, *b = g + runs [r].g; \
        _Pragma ("GCC unroll 4") \
        for (size_t p = 0; p < runs [r].len; p++, a += ps, b += k) { \
            __m256 b0 = _mm256_loadu_ps (b), b1 = _mm256_loadu_ps (b + 8), xb; \
            S_FMA_C (0) S_FMA_C (1) S_FMA_C (2) S_FMA_C (3) S_FMA_C (4) S_FMA_C (5) \
        } \
    } \
    S_ADD_C (0) S_ADD_C (1) S_ADD_C (2) S_ADD_C (3) S_ADD_C (4) S_ADD_C (5) \
    (void) c00; (void) c01; (void) c10; (void) c11; (void) c20; (void) c21; \
    (void) c30; (void) c31; (void) c40; (void) c41; (void) c50; (void) c51; \
}

S_DW_TILE (6)
S_DW_TILE (4)
S_DW_TILE (2)

void
fg_conv_direct_dw_block_avx2 (const fg_direct_t *d, const fg_direct_run_t *runs,
                              size_t nruns, const float *xpad, const float *dy,
                              float *dwt, int threads)
{
    assert (d->cin % 2 == 0);
    const size_t ctiles = (d->cin + S_R - 1) / S_R, ktiles = d->cout / S_NR;
    const long ntiles = (long) (d->kh * d->kw * ctiles * ktiles);
    FG_PARALLEL_FOR (threads)
    for (long t = 0; t < ntiles; t++) {
        size_t kt = (size_t) t % ktiles, rest = (size_t) t / ktiles;
        size_t c0 = (rest % ctiles) * S_R, tap = rest / ctiles;
        size_t q0 = tap * d->cin + c0, rc = d->cin - c0;
        const float *x = xpad + ((tap / d->kw) * d->wp + tap % d->kw) * d->ps + c0;
        const float *g = dy + kt * S_NR;
        float *o = dwt + q0 * d->cout + kt * S_NR;
        if (rc >= 6)
            s_dw_tile_6 (x, g, d->cout, d->ps, runs, nruns, o);
        else
        if (rc == 4)
            s_dw_tile_4 (x, g, d->cout, d->ps, runs, nruns, o);
        else
            s_dw_tile_2 (x, g, d->cout, d->ps, runs, nruns, o);
    }
}

#else
//  Not an x86-64 build: never called (fg_conv_direct_kernel_available).
void
fg_conv_direct_run_avx2 (const fg_direct_t *d, const float *xpad,
                         const float *panels, float *y, int threads)
{
    (void) d; (void) xpad; (void) panels; (void) y; (void) threads;
    assert (false);
}

void
fg_conv_direct_dw_block_avx2 (const fg_direct_t *d, const fg_direct_run_t *runs,
                              size_t nruns, const float *xpad, const float *dy,
                              float *dwt, int threads)
{
    (void) d; (void) runs; (void) nruns; (void) xpad; (void) dy; (void) dwt;
    (void) threads;
    assert (false);
}
#endif
