/*  fg_conv_direct.c — the AVX-512F kernel of the direct convolution form
    (fg_ops_internal.h, fg_direct_t): a stride-1 convolution computed
    straight from the zero-padded NHWC input, with no im2col matrix.

    Tile: 24 consecutive "virtual" output pixels of one image x 16 output
    channels, 24 zmm accumulators. A virtual pixel v = oy * WP + ox runs over
    the PADDED width WP, so the input of tile row i, tap (ky, kx), channel c
    is at  x + (v0 + i + ky * WP + kx) * CIN + c: one constant stride (CIN)
    down the tile, whatever the row breaks. Columns ox >= OW are computed
    and thrown away (WP - OW of every WP: why the form is kept for wide
    outputs). CIN is a compile-time constant of each instance, so every
    broadcast is one instruction with an immediate offset.

    Arithmetic: exactly fg_gemm's (nn/fg_gemm.h) for the GEMM
        y (pixels x COUT) = col (pixels x KQ) * wt (KQ x COUT),
        col [p][q] = x_pad [pixel p shifted by tap (ky, kx)][c],
        q = (ky * KW + kx) * CIN + c,  KQ = KH * KW * CIN,
    alpha 1, beta 0: per block of FG_GEMM_KC q's, an fma chain from +0, then
    y = ab (first block) or y + ab (= fmaf (1, y, ab)). fg_conv.c computes
    that GEMM through fg_gemm when this kernel cannot run (no AVX-512F, or
    FEDGRID_GEMM forces another variant): the same bits on every machine.
    The split over threads is by tile: each output element is computed by
    one thread with the same operations.                                  */

#include <assert.h>
#include <stdbool.h>
#include "fg_ops_internal.h"
#include "fg_gemm.h"
#include "fg_gemm_kernels.h"

//  The geometries of the 16-pixel tile kernels: 3x3, padding 1, a square
//  S x S output (S = 8: two rows a tile; S = 4: one image). 2x2 outputs
//  stay with im2col: the kernel measured 30 % slower than the GEMM there.
static bool
s_small_form (const fg_direct_t *d)
{
    bool size = d->oh == d->ow && (d->ow == 8 || d->ow == 4);
    bool cin = d->cin == 64 || d->cin == 128 || d->cin == 256 || d->cin == 512;
    return size && cin && d->kh == 3 && d->kw == 3 && d->ph == 1 && d->pw == 1;
}

static bool
s_wide_form (const fg_direct_t *d)
{
    bool cin = d->cin == 16 || d->cin == 32 || d->cin == 64 || d->cin == 128
            || d->cin == 256 || d->cin == 512;
    return cin && d->ow >= 16;
}

bool
fg_conv_direct_form (const fg_direct_t *d)
{
    return d->cout % FG_DIRECT_COUT_STEP == 0 && d->cout > 0
        && (s_wide_form (d) || s_small_form (d));
}

//  Pixel stride of the small-tile kernels' padded input: cin + 16 floats
//  when cin * 4 bytes is a multiple of 1 KiB
#define S_SMALL_PS(cin) ((cin) % 256 == 0? (cin) + 16: (cin))

size_t
fg_conv_direct_pixel_stride (const fg_direct_t *d)
{
    return s_wide_form (d)? d->cin: S_SMALL_PS (d->cin);
}

bool
fg_conv_direct_dw_form (const fg_direct_t *d)
{
    return fg_conv_direct_form (d) && s_wide_form (d);
}

//  The ISA of the direct kernels for ctx (FG_GEMM_PORTABLE: none)
static fg_gemm_variant_t
s_isa (const fg_ops_ctx_t *ctx)
{
    fg_gemm_variant_t v = fg_gemm_default ();
    if (ctx && ctx->direct_isa != FG_GEMM_AUTO
    &&  fg_gemm_supported ((fg_gemm_variant_t) ctx->direct_isa))
        v = (fg_gemm_variant_t) ctx->direct_isa;
    return v == FG_GEMM_AVX512 || v == FG_GEMM_AVX2? v: FG_GEMM_PORTABLE;
}

bool
fg_conv_direct_kernel_available (const fg_ops_ctx_t *ctx)
{
    return s_isa (ctx) != FG_GEMM_PORTABLE;
}

size_t
fg_conv_direct_runs (const fg_direct_t *d, size_t n0, size_t r0, size_t r1,
                     fg_direct_run_t *runs)
{
    const size_t pix = d->oh * d->ow;
    size_t nruns = 0;
    for (size_t r = r0; r < r1; ) {
        size_t p = n0 * pix + r, img = p / pix;
        size_t oy = (p % pix) / d->ow, ox = p % d->ow;
        size_t len = d->ow - ox < r1 - r? d->ow - ox: r1 - r;
        runs [nruns].x = ((img * d->hp + oy) * d->wp + ox) * d->ps;
        runs [nruns].g = p * d->cout;
        runs [nruns].len = len;
        nruns++;
        r += len;
    }
    return nruns;
}

#if defined (__x86_64__)
#include <immintrin.h>

#define S_MR    24                  //  virtual pixels per tile
#define S_NR    16                  //  output channels per tile
#define FG_TARGET __attribute__ ((target ("avx512f,fma")))

_Static_assert (FG_DIRECT_COUT_STEP == S_NR, "panels are S_NR channels wide");

//  acc_i += x [pixel i's offset][channel] * the panel's 16 weights
#define S_FMA(i) c##i = _mm512_fmadd_ps (_mm512_set1_ps (a [(i) * CIN]), bv, c##i)

//  One tile. x: padded input at the tile's first virtual pixel; w: the
//  tile's weight panel (KQ x 16, q-major); out [i]: where row i's 16
//  outputs go, NULL for a thrown-away row.
#define S_TILE(CIN_) \
FG_TARGET static void \
s_tile_##CIN_ (const float *x, size_t wp, size_t kw, size_t kq, \
               const float *w, float *const *out) \
{ \
    enum { CIN = CIN_ }; \
    for (size_t q0 = 0; q0 < kq; q0 += FG_GEMM_KC) { \
        size_t q1 = q0 + FG_GEMM_KC < kq? q0 + FG_GEMM_KC: kq; \
        __m512 c0 = _mm512_setzero_ps (), c1 = c0, c2 = c0, c3 = c0, c4 = c0, \
               c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0, \
               c12 = c0, c13 = c0, c14 = c0, c15 = c0, c16 = c0, c17 = c0, \
               c18 = c0, c19 = c0, c20 = c0, c21 = c0, c22 = c0, c23 = c0; \
        for (size_t q = q0; q < q1; ) { \
            size_t tap = q / CIN, ch = q % CIN; \
            size_t len = CIN - ch < q1 - q? CIN - ch: q1 - q; \
            const float *a = x + ((tap / kw) * wp + tap % kw) * CIN + ch; \
            const float *b = w + q * S_NR; \
            for (size_t p = 0; p < len; p++, a++, b += S_NR) { \
                __m512 bv = _mm512_loadu_ps (b); \
                S_FMA (0);  S_FMA (1);  S_FMA (2);  S_FMA (3);  S_FMA (4);  S_FMA (5); \
                S_FMA (6);  S_FMA (7);  S_FMA (8);  S_FMA (9);  S_FMA (10); S_FMA (11); \
                S_FMA (12); S_FMA (13); S_FMA (14); S_FMA (15); S_FMA (16); S_FMA (17); \
                S_FMA (18); S_FMA (19); S_FMA (20); S_FMA (21); S_FMA (22); S_FMA (23); \
            } \
            q += len; \
        } \
        __m512 acc [S_MR] = { c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, \
                              c12, c13, c14, c15, c16, c17, c18, c19, c20, c21, \
                              c22, c23 }; \
        for (size_t i = 0; i < S_MR; i++) \
            s_put (out [i], acc [i], q0 == 0); \
    } \
    s_clean (); \
}

//  y = ab on the first k block, y + ab on the others (fmaf (1, y, ab): one
//  rounding of the exact sum, which is what the add does)
FG_TARGET static inline void
s_put (float *y, __m512 ab, bool first)
{
    if (y)
        _mm512_storeu_ps (y, first? ab: _mm512_add_ps (_mm512_loadu_ps (y), ab));
}

//  Leave zmm16-31 clean (fg_gemm_kernels.h)
FG_TARGET static inline void
s_clean (void)
{
    FG_AVX512_CLEAN_UPPER ();
}

S_TILE (16)
S_TILE (32)
S_TILE (64)
S_TILE (128)
S_TILE (256)
S_TILE (512)

typedef void (*s_tile_fn) (const float *, size_t, size_t, size_t, const float *,
                           float *const *);

//  The 16-pixel tile of a small square output (s_small_form): pixel i of
//  the tile is image i / (S*S), row (i / S) % S, column i % S from the
//  tile's origin, all compile-time offsets in the padded (S+2)^2 images
//  (the image term is 0 for S = 8 and 4; it keeps the formula general).
//  x: x_pad at the origin; w: the panel; y: the tile's first output (the
//  tile's 16 pixels are consecutive in y); valid: pixels that exist.
#define S_POFF(S, i) ((((i) / ((S) * (S))) * ((S) + 2) + ((i) / (S)) % (S)) * ((S) + 2) \
                      + (i) % (S))
#define S_FMA16(i) \
    c##i = _mm512_fmadd_ps (_mm512_set1_ps (a [S_POFF (S, i) * PS]), bv, c##i)
#define S_TILE16(CIN_, S_) \
FG_TARGET static void \
s_small_##CIN_##_##S_ (const float *x, size_t kq, const float *w, float *y, \
                       size_t cout, size_t valid) \
{ \
    enum { CIN = CIN_, S = S_, WP = S_ + 2, PS = S_SMALL_PS (CIN_) }; \
    for (size_t q0 = 0; q0 < kq; q0 += FG_GEMM_KC) { \
        size_t q1 = q0 + FG_GEMM_KC < kq? q0 + FG_GEMM_KC: kq; \
        __m512 c0 = _mm512_setzero_ps (), c1 = c0, c2 = c0, c3 = c0, c4 = c0, \
               c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0, \
               c12 = c0, c13 = c0, c14 = c0, c15 = c0; \
        for (size_t q = q0; q < q1; ) { \
            size_t tap = q / CIN, ch = q % CIN; \
            size_t len = CIN - ch < q1 - q? CIN - ch: q1 - q; \
            const float *a = x + ((tap / 3) * WP + tap % 3) * PS + ch; \
            const float *b = w + q * S_NR; \
            for (size_t p = 0; p < len; p++, a++, b += S_NR) { \
                __m512 bv = _mm512_loadu_ps (b); \
                S_FMA16 (0);  S_FMA16 (1);  S_FMA16 (2);  S_FMA16 (3); \
                S_FMA16 (4);  S_FMA16 (5);  S_FMA16 (6);  S_FMA16 (7); \
                S_FMA16 (8);  S_FMA16 (9);  S_FMA16 (10); S_FMA16 (11); \
                S_FMA16 (12); S_FMA16 (13); S_FMA16 (14); S_FMA16 (15); \
            } \
            q += len; \
        } \
        bool first = q0 == 0; \
        __m512 acc [16] = { c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, \
                            c12, c13, c14, c15 }; \
        for (size_t i = 0; i < valid; i++) \
            s_put (y + i * cout, acc [i], first); \
    } \
    s_clean (); \
}

//  y = ab on the first k block, y + ab on the others (declared here for
//  the tile macros; defined below)
FG_TARGET static inline void s_put (float *y, __m512 ab, bool first);
FG_TARGET static inline void s_clean (void);

S_TILE16 (64, 8)
S_TILE16 (128, 8)
S_TILE16 (256, 8)
S_TILE16 (512, 8)
S_TILE16 (64, 4)
S_TILE16 (128, 4)
S_TILE16 (256, 4)
S_TILE16 (512, 4)

typedef void (*s_small_fn) (const float *, size_t, const float *, float *, size_t, size_t);

static s_small_fn
s_small_for (size_t cin, size_t size)
{
    static const struct {
        size_t cin, size;
        s_small_fn fn;
    } table [] = {
        { 64, 8, s_small_64_8 },   { 128, 8, s_small_128_8 },
        { 256, 8, s_small_256_8 }, { 512, 8, s_small_512_8 },
        { 64, 4, s_small_64_4 },   { 128, 4, s_small_128_4 },
        { 256, 4, s_small_256_4 }, { 512, 4, s_small_512_4 },
    };
    for (size_t i = 0; i < sizeof table / sizeof table [0]; i++)
        if (table [i].cin == cin && table [i].size == size)
            return table [i].fn;
    return NULL;
}

//  Small square outputs: tiles of 16 consecutive output pixels
static void
s_run_small (const fg_direct_t *d, const float *xpad, const float *panels,
             float *y, int threads)
{
    s_small_fn tile = s_small_for (d->cin, d->ow);
    assert (tile && d->ps == S_SMALL_PS (d->cin));
    const size_t S = d->ow, pix = S * S, kq = d->kh * d->kw * d->cin;
    const size_t total = d->n * pix;
    const size_t tiles = (total + 15) / 16, panels_n = d->cout / S_NR;
    //  panel-major: a panel (KQ x 16 floats) serves every tile from L2
    const long work = (long) (tiles * panels_n);
    FG_PARALLEL_FOR (threads)
    for (long u = 0; u < work; u++) {
        size_t kb = ((size_t) u / tiles) * S_NR, t = (size_t) u % tiles;
        size_t p0 = t * 16, img = p0 / pix, oy = (p0 % pix) / S;
        size_t valid = total - p0 < 16? total - p0: 16;
        const float *x = xpad + ((img * d->hp + oy) * d->wp) * d->ps;
        tile (x, kq, panels + kb * kq, y + p0 * d->cout + kb, d->cout, valid);
    }
}



//  ---------------------------------------------------------------------------
//  Weight gradient: dwt (KQ x K, q-major) += col^T * dy with col's rows taken
//  straight from x_pad. Tile: 16 input channels of one tap x 16 output
//  channels, 16 accumulators, over one block of FG_GEMM_KC pixels.

typedef fg_direct_run_t s_run_t;

//  acc_i += x [pixel][channel c0 + i] * dy [pixel][16 output channels]
#define S_FMA_C(i) c##i = _mm512_fmadd_ps (_mm512_set1_ps (a [i]), bv, c##i)

#define S_DW_TILE(CIN) \
FG_TARGET static void \
s_dw_tile_##CIN (const float *x, const float *g, size_t k, const s_run_t *runs, \
                 size_t nruns, float *dwt) \
{ \
    __m512 c0 = _mm512_setzero_ps (), c1 = c0, c2 = c0, c3 = c0, c4 = c0, \
           c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0, \
           c12 = c0, c13 = c0, c14 = c0, c15 = c0; \
    for (size_t r = 0; r < nruns; r++) { \
        const float *a = x + runs [r].x, *b = g + runs [r].g; \
        for (size_t p = 0; p < runs [r].len; p++, a += CIN, b += k) { \
            __m512 bv = _mm512_loadu_ps (b); \
            S_FMA_C (0);  S_FMA_C (1);  S_FMA_C (2);  S_FMA_C (3); \
            S_FMA_C (4);  S_FMA_C (5);  S_FMA_C (6);  S_FMA_C (7); \
            S_FMA_C (8);  S_FMA_C (9);  S_FMA_C (10); S_FMA_C (11); \
            S_FMA_C (12); S_FMA_C (13); S_FMA_C (14); S_FMA_C (15); \
        } \
    } \
    __m512 acc [16] = { c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, \
                        c12, c13, c14, c15 }; \
    for (size_t i = 0; i < 16; i++) \
        s_put (dwt + i * k, acc [i], false); \
    s_clean (); \
}

S_DW_TILE (16)
S_DW_TILE (32)
S_DW_TILE (64)
S_DW_TILE (128)
S_DW_TILE (256)
S_DW_TILE (512)

typedef void (*s_dw_tile_fn) (const float *, const float *, size_t, const s_run_t *,
                              size_t, float *);

//  The wide-output kernels of one input channel count
typedef struct {
    size_t cin;
    s_tile_fn tile;             //  forward / input gradient
    s_dw_tile_fn dw_tile;       //  weight gradient
} s_wide_t;

//  The kernels for cin (NULL: none)
static const s_wide_t *
s_wide_for (size_t cin)
{
    static const s_wide_t table [] = {
        { 16, s_tile_16, s_dw_tile_16 },    { 32, s_tile_32, s_dw_tile_32 },
        { 64, s_tile_64, s_dw_tile_64 },    { 128, s_tile_128, s_dw_tile_128 },
        { 256, s_tile_256, s_dw_tile_256 }, { 512, s_tile_512, s_dw_tile_512 },
    };
    for (size_t i = 0; i < sizeof table / sizeof table [0]; i++)
        if (table [i].cin == cin)
            return &table [i];
    return NULL;
}

//  dwt += one block's sums (AVX-512F): tiles of 16 input channels of one
//  tap x 16 output channels, split over threads
static void
s_dw_block (const fg_direct_t *d, const s_run_t *runs, size_t nruns,
            const float *xpad, const float *dy, float *dwt, int threads)
{
    assert (s_wide_form (d) && d->ps == d->cin);
    s_dw_tile_fn tile = s_wide_for (d->cin)->dw_tile;
    const size_t ctiles = d->cin / 16, ktiles = d->cout / S_NR;
    const long ntiles = (long) (d->kh * d->kw * ctiles * ktiles);
    FG_PARALLEL_FOR (threads)
    for (long t = 0; t < ntiles; t++) {
        size_t kt = (size_t) t % ktiles, rest = (size_t) t / ktiles;
        size_t ct = rest % ctiles, tap = rest / ctiles;
        size_t q0 = tap * d->cin + ct * 16;
        const float *x = xpad + ((tap / d->kw) * d->wp + tap % d->kw) * d->cin + ct * 16;
        tile (x, dy + kt * S_NR, d->cout, runs, nruns, dwt + q0 * d->cout + kt * S_NR);
    }
}

void
fg_conv_direct_run (const fg_direct_t *d, const float *xpad, const float *panels,
                    float *y, const fg_ops_ctx_t *ctx)
{
    assert (fg_conv_direct_form (d) && fg_conv_direct_kernel_available (ctx));
    const int threads = ctx->threads;
    if (s_isa (ctx) == FG_GEMM_AVX2) {
        fg_conv_direct_run_avx2 (d, xpad, panels, y, threads);
        return;
    }
    if (!s_wide_form (d)) {
        s_run_small (d, xpad, panels, y, threads);
        return;
    }
    s_tile_fn tile = s_wide_for (d->cin)->tile;
    assert (d->ps == d->cin);
    const size_t kq = d->kh * d->kw * d->cin;
    const size_t nv = (d->oh - 1) * d->wp + d->ow;     //  virtual pixels per image
    const size_t tiles = (nv + S_MR - 1) / S_MR;
    const long total = (long) (d->n * tiles);
    FG_PARALLEL_FOR (threads)
    for (long t = 0; t < total; t++) {
        const size_t img = (size_t) t / tiles, v0 = ((size_t) t % tiles) * S_MR;
        const float *x = xpad + (img * d->hp * d->wp + v0) * d->cin;
        float *out [S_MR];
        for (size_t i = 0; i < S_MR; i++) {
            size_t v = v0 + i, oy = v / d->wp, ox = v % d->wp;
            out [i] = v < nv && ox < d->ow
                    ? y + ((img * d->oh + oy) * d->ow + ox) * d->cout: NULL;
        }
        for (size_t kb = 0; kb < d->cout; kb += S_NR) {
            tile (x, d->wp, d->kw, kq, panels + kb * kq, out);
            for (size_t i = 0; i < S_MR; i++)
                if (out [i])
                    out [i] += S_NR;
        }
    }
}

void
fg_conv_direct_dw (const fg_direct_t *d, size_t chunk, const float *xpad,
                   const float *dy, float *dwt, const fg_ops_ctx_t *ctx)
{
    assert (fg_conv_direct_dw_form (d) && chunk >= 1
            && fg_conv_direct_kernel_available (ctx));
    const bool avx2 = s_isa (ctx) == FG_GEMM_AVX2;
    const size_t pix = d->oh * d->ow;
    fg_direct_run_t runs [FG_GEMM_KC];
    //  per chunk, per block of FG_GEMM_KC pixels (the im2col path's k
    //  blocks): every tile of dwt adds the block's sum
    for (size_t n0 = 0; n0 < d->n; n0 += chunk) {
        size_t rows = (d->n - n0 < chunk? d->n - n0: chunk) * pix;
        for (size_t r0 = 0; r0 < rows; r0 += FG_GEMM_KC) {
            size_t r1 = r0 + FG_GEMM_KC < rows? r0 + FG_GEMM_KC: rows;
            size_t nruns = fg_conv_direct_runs (d, n0, r0, r1, runs);
            if (avx2)
                fg_conv_direct_dw_block_avx2 (d, runs, nruns, xpad, dy, dwt,
                                              ctx->threads);
            else
                s_dw_block (d, runs, nruns, xpad, dy, dwt, ctx->threads);
        }
    }
}

#else
//  Not an x86-64 build: never called (fg_conv_direct_kernel_available is
//  false: fg_gemm's variant is portable)
void
fg_conv_direct_dw (const fg_direct_t *d, size_t chunk, const float *xpad,
                   const float *dy, float *dwt, const fg_ops_ctx_t *ctx)
{
    (void) d; (void) chunk; (void) xpad; (void) dy; (void) dwt; (void) ctx;
    assert (!"fg_conv_direct_dw: no kernel in this build");
}

void
fg_conv_direct_run (const fg_direct_t *d, const float *xpad, const float *panels,
                    float *y, const fg_ops_ctx_t *ctx)
{
    (void) d; (void) xpad; (void) panels; (void) y; (void) ctx;
    assert (!"fg_conv_direct_run: no kernel in this build");
}

#endif
