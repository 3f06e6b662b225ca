/*  fg_gemm_pack.c — BLIS packm kernels for the SIMD variants (AVX2, used on
    AVX2 and AVX-512 machines): pack a cdim x n block of A (or B^T) into an
    mnr-wide micro-panel p[j*ldp + i], zero-filling rows cdim..mnr-1 and
    columns n..n_max-1, exactly as BLIS's reference packm kernels do.

    Packing only copies (kappa == 1 for native real gemm; another kappa is
    one rounded multiply per element, as in BLIS's kernels), so it never
    changes a bit of the result: it only has to be fast. The case that
    matters is the operand stored with k contiguous (a row-major A, e.g. the
    im2col matrix, or a column-stored B, e.g. W^T): BLIS's reference kernel
    then reads mnr streams one float at a time; here 8x8 blocks are loaded
    row by row and transposed in registers.                                 */

#include <stdbool.h>
#include "fg_gemm_kernels.h"

#if defined (__x86_64__) || defined (__i386__)
#include <immintrin.h>

#define FG_TARGET __attribute__ ((target ("avx2,fma")))

//  The scalar path: any strides, any kappa
static void
s_pack_scalar (dim_t mnr, dim_t cdim, dim_t n, float kappa,
               const float *a, inc_t inca, inc_t lda, float *p, inc_t ldp)
{
    for (dim_t j = 0; j < n; j++) {
        const float *aj = a + j * lda;
        float *pj = p + j * ldp;
        if (kappa == 1.0f)
            for (dim_t i = 0; i < cdim; i++)
                pj [i] = aj [i * inca];
        else
            for (dim_t i = 0; i < cdim; i++)
                pj [i] = kappa * aj [i * inca];
        for (dim_t i = cdim; i < mnr; i++)
            pj [i] = 0.0f;
    }
}

FG_TARGET static inline void
s_transpose8 (__m256 r [8])
{
    __m256 t0 = _mm256_unpacklo_ps (r [0], r [1]);
    __m256 t1 = _mm256_unpackhi_ps (r [0], r [1]);
    __m256 t2 = _mm256_unpacklo_ps (r [2], r [3]);
    __m256 t3 = _mm256_unpackhi_ps (r [2], r [3]);
    __m256 t4 = _mm256_unpacklo_ps (r [4], r [5]);
    __m256 t5 = _mm256_unpackhi_ps (r [4], r [5]);
    __m256 t6 = _mm256_unpacklo_ps (r [6], r [7]);
    __m256 t7 = _mm256_unpackhi_ps (r [6], r [7]);
    __m256 s0 = _mm256_shuffle_ps (t0, t2, 0x44);
    __m256 s1 = _mm256_shuffle_ps (t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps (t1, t3, 0x44);
    __m256 s3 = _mm256_shuffle_ps (t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps (t4, t6, 0x44);
    __m256 s5 = _mm256_shuffle_ps (t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps (t5, t7, 0x44);
    __m256 s7 = _mm256_shuffle_ps (t5, t7, 0xEE);
    r [0] = _mm256_permute2f128_ps (s0, s4, 0x20);
    r [1] = _mm256_permute2f128_ps (s1, s5, 0x20);
    r [2] = _mm256_permute2f128_ps (s2, s6, 0x20);
    r [3] = _mm256_permute2f128_ps (s3, s7, 0x20);
    r [4] = _mm256_permute2f128_ps (s0, s4, 0x31);
    r [5] = _mm256_permute2f128_ps (s1, s5, 0x31);
    r [6] = _mm256_permute2f128_ps (s2, s6, 0x31);
    r [7] = _mm256_permute2f128_ps (s3, s7, 0x31);
}

FG_TARGET static void
s_pack (dim_t mnr, dim_t cdim, dim_t n, dim_t n_max, const float *kappa,
        const float *a, inc_t inca, inc_t lda, float *p, inc_t ldp)
{
    if (*kappa != 1.0f || (inca != 1 && lda != 1) || cdim < 1 || cdim > mnr)
        s_pack_scalar (mnr, cdim, n, *kappa, a, inca, lda, p, ldp);
    else
    if (inca == 1) {
        //  Panel columns are contiguous in the source: plain copies
        for (dim_t j = 0; j < n; j++) {
            const float *aj = a + j * lda;
            float *pj = p + j * ldp;
            for (dim_t i = 0; i < cdim; i++)
                pj [i] = aj [i];
            for (dim_t i = cdim; i < mnr; i++)
                pj [i] = 0.0f;
        }
    }
    else {
        //  k contiguous in the source (lda == 1): 8x8 register transposes
        dim_t j0 = 0;
        for (; j0 + 8 <= n; j0 += 8)
            for (dim_t i0 = 0; i0 < mnr; i0 += 8) {
                __m256 r [8];
                const float *ai = a + i0 * inca + j0;
                if (i0 + 8 <= cdim) {
                    //  the common case, unrolled so r stays in registers;
                    //  prefetch the same rows 64 columns (256 bytes) ahead.
                    //  On the 7168x64x576 conv forward GEMM packing had been
                    //  ~50% of the time: 106 -> 147 GFLOPS (a prefetch never
                    //  faults, past the end of a row or buffer included)
#define S_ROW(q) \
                    r [q] = _mm256_loadu_ps (ai + q * inca); \
                    _mm_prefetch ((const char *) (ai + q * inca + 64), _MM_HINT_T0);
                    S_ROW (0) S_ROW (1) S_ROW (2) S_ROW (3)
                    S_ROW (4) S_ROW (5) S_ROW (6) S_ROW (7)
#undef S_ROW
                }
                else
                    for (int q = 0; q < 8; q++)
                        r [q] = i0 + q < cdim? _mm256_loadu_ps (ai + q * inca)
                                             : _mm256_setzero_ps ();
                s_transpose8 (r);
                dim_t rows = mnr - i0 < 8? mnr - i0: 8;
                if (rows == 8)
                    for (int q = 0; q < 8; q++)
                        _mm256_storeu_ps (p + (j0 + q) * ldp + i0, r [q]);
                else {
                    __m256i mask = _mm256_cmpgt_epi32 (_mm256_set1_epi32 ((int) rows),
                                   _mm256_setr_epi32 (0, 1, 2, 3, 4, 5, 6, 7));
                    for (int q = 0; q < 8; q++)
                        _mm256_maskstore_ps (p + (j0 + q) * ldp + i0, mask, r [q]);
                }
            }
        if (j0 < n)
            s_pack_scalar (mnr, cdim, n - j0, 1.0f, a + j0, inca, 1, p + j0 * ldp, ldp);
    }
    for (dim_t j = n; j < n_max; j++)
        for (dim_t i = 0; i < mnr; i++)
            p [j * ldp + i] = 0.0f;
}

#define S_PACKM(mnr) \
FG_TARGET void \
fg_gemm_packm_##mnr (conj_t conja, pack_t schema, dim_t cdim, dim_t n, \
                     dim_t n_max, float *restrict kappa, float *restrict a, \
                     inc_t inca, inc_t lda, float *restrict p, inc_t ldp, \
                     cntx_t *restrict cntx) \
{ \
    (void) conja; (void) schema; (void) cntx; \
    s_pack (mnr, cdim, n, n_max, kappa, a, inca, lda, p, ldp); \
}

#else
#define S_PACKM(mnr) \
void \
fg_gemm_packm_##mnr (conj_t conja, pack_t schema, dim_t cdim, dim_t n, \
                     dim_t n_max, float *restrict kappa, float *restrict a, \
                     inc_t inca, inc_t lda, float *restrict p, inc_t ldp, \
                     cntx_t *restrict cntx) \
{ \
    (void) conja; (void) schema; (void) cdim; (void) n; (void) n_max; \
    (void) kappa; (void) a; (void) inca; (void) lda; (void) p; (void) ldp; \
    (void) cntx; \
}
#endif

S_PACKM (6)
S_PACKM (8)
S_PACKM (16)
S_PACKM (24)
