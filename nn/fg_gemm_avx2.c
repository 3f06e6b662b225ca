/*  fg_gemm_avx2.c — the AVX2 + FMA sgemm micro-kernel, 6 x 16: twelve
    ymm accumulators, B's row in two ymm, A's elements broadcast. Compiled
    for the generic x86-64 target; only this function is built for
    AVX2+FMA (function attribute), and fg_gemm.c calls it only when the CPU
    has both. Same bits as fg_gemm_kernel_portable (fg_gemm_kernels.h).    */

#include <stdbool.h>
#include "fg_gemm_kernels.h"

#if defined (__x86_64__) || defined (__i386__)
#include <immintrin.h>

#define MR FG_GEMM_AVX2_MR
#define NR FG_GEMM_AVX2_NR
#define FG_TARGET __attribute__ ((target ("avx2,fma")))

//  Writes a finished tile row by row: t = alpha * ab; c = beta == 0 ? t :
//  fma (beta, c, t), vectorised when the row is complete and contiguous.
FG_TARGET static inline void
s_row (dim_t n, __m256 x0, __m256 x1, __m256 al, __m256 be, bool beta0,
       float *c, inc_t cs_c)
{
    __m256 t0 = _mm256_mul_ps (al, x0);
    __m256 t1 = _mm256_mul_ps (al, x1);
    if (n == NR && cs_c == 1) {
        if (!beta0) {
            t0 = _mm256_fmadd_ps (be, _mm256_loadu_ps (c), t0);
            t1 = _mm256_fmadd_ps (be, _mm256_loadu_ps (c + 8), t1);
        }
        _mm256_storeu_ps (c, t0);
        _mm256_storeu_ps (c + 8, t1);
        return;
    }
    float t [NR];
    _mm256_storeu_ps (t, t0);
    _mm256_storeu_ps (t + 8, t1);
    __m128 b = _mm256_castps256_ps128 (be);
    for (dim_t j = 0; j < n; j++) {
        float *cj = c + j * cs_c;
        if (beta0)
            *cj = t [j];
        else
            *cj = _mm_cvtss_f32 (_mm_fmadd_ss (b, _mm_set_ss (*cj), _mm_set_ss (t [j])));
    }
}

FG_TARGET FG_GEMM_KERNEL_PROTO (fg_gemm_kernel_avx2)
{
    (void) data;
    (void) cntx;
    __m256 c00 = _mm256_setzero_ps (), c01 = _mm256_setzero_ps ();
    __m256 c10 = _mm256_setzero_ps (), c11 = _mm256_setzero_ps ();
    __m256 c20 = _mm256_setzero_ps (), c21 = _mm256_setzero_ps ();
    __m256 c30 = _mm256_setzero_ps (), c31 = _mm256_setzero_ps ();
    __m256 c40 = _mm256_setzero_ps (), c41 = _mm256_setzero_ps ();
    __m256 c50 = _mm256_setzero_ps (), c51 = _mm256_setzero_ps ();
    for (dim_t p = 0; p < k; p++) {
        __m256 b0 = _mm256_loadu_ps (b);
        __m256 b1 = _mm256_loadu_ps (b + 8);
        __m256 x;
#define FG_STEP(i) \
        x = _mm256_broadcast_ss (a + i); \
        c##i##0 = _mm256_fmadd_ps (x, b0, c##i##0); \
        c##i##1 = _mm256_fmadd_ps (x, b1, c##i##1);
        FG_STEP (0) FG_STEP (1) FG_STEP (2) FG_STEP (3) FG_STEP (4) FG_STEP (5)
#undef FG_STEP
        a += MR;
        b += NR;
    }
    __m256 al = _mm256_broadcast_ss (alpha);
    __m256 be = _mm256_broadcast_ss (beta);
    bool beta0 = *beta == 0.0f;
    if (m > 0) s_row (n, c00, c01, al, be, beta0, c + 0 * rs_c, cs_c);
    if (m > 1) s_row (n, c10, c11, al, be, beta0, c + 1 * rs_c, cs_c);
    if (m > 2) s_row (n, c20, c21, al, be, beta0, c + 2 * rs_c, cs_c);
    if (m > 3) s_row (n, c30, c31, al, be, beta0, c + 3 * rs_c, cs_c);
    if (m > 4) s_row (n, c40, c41, al, be, beta0, c + 4 * rs_c, cs_c);
    if (m > 5) s_row (n, c50, c51, al, be, beta0, c + 5 * rs_c, cs_c);
}

#else
//  Not an x86 build: never selected (fg_gemm.c checks the CPU first).
FG_GEMM_KERNEL_PROTO (fg_gemm_kernel_avx2)
{
    (void) m; (void) n; (void) k; (void) alpha; (void) a; (void) b;
    (void) beta; (void) c; (void) rs_c; (void) cs_c; (void) data; (void) cntx;
}
#endif
