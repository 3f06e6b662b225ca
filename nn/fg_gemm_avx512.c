/*  fg_gemm_avx512.c — the AVX-512F sgemm micro-kernel, MR x NR with NR = 16
    or 32 (one or two zmm per row of the tile; MR accumulators rows), A's
    elements broadcast from the packed panel. Compiled for the generic x86-64
    target; only these functions are built for AVX-512F+FMA (function attribute)
    and fg_gemm.c calls them only when the CPU and the OS support it. Same
    bits as fg_gemm_kernel_portable (fg_gemm_kernels.h).

    The body is written for up to 28 rows; rows >= MR are dead code that the
    compiler removes (MR and NR are compile-time constants).               */

#include <stdbool.h>
#include "fg_gemm_kernels.h"

#if defined (__x86_64__) || defined (__i386__)
#include <immintrin.h>

#define MR FG_GEMM_AVX512_MR
#define NR FG_GEMM_AVX512_NR
#define FG_TARGET __attribute__ ((target ("avx512f,fma")))

_Static_assert (NR == 16 || NR == 32, "AVX-512 kernel: NR is 16 or 32");
_Static_assert (MR >= 1 && MR <= 28, "AVX-512 kernel: MR is 1..28");

//  Writes one finished row of the tile: t = alpha * ab; c = beta == 0 ? t :
//  fma (beta, c, t); vectors when the row is complete and contiguous.
FG_TARGET static inline void
s_row (dim_t n, __m512 x0, __m512 x1, __m512 al, __m512 be, bool beta0,
       float *c, inc_t cs_c)
{
    __m512 t0 = _mm512_mul_ps (al, x0);
    __m512 t1 = _mm512_mul_ps (al, x1);
    if (n == NR && cs_c == 1) {
        if (!beta0)
            t0 = _mm512_fmadd_ps (be, _mm512_loadu_ps (c), t0);
        _mm512_storeu_ps (c, t0);
        if (NR == 32) {
            if (!beta0)
                t1 = _mm512_fmadd_ps (be, _mm512_loadu_ps (c + 16), t1);
            _mm512_storeu_ps (c + 16, t1);
        }
        return;
    }
    float t [32];
    _mm512_storeu_ps (t, t0);
    _mm512_storeu_ps (t + 16, t1);
    __m128 b = _mm512_castps512_ps128 (be);
    for (dim_t j = 0; j < n; j++) {
        float *cj = c + j * cs_c;
        if (beta0)
            *cj = t [j];
        else
            *cj = _mm_cvtss_f32 (_mm_fmadd_ss (b, _mm_set_ss (*cj), _mm_set_ss (t [j])));
    }
}

FG_TARGET FG_GEMM_KERNEL_PROTO (fg_gemm_kernel_avx512)
{
    (void) data;
    (void) cntx;
    __m512 c0_0 = _mm512_setzero_ps (), c0_1 = _mm512_setzero_ps ();
    __m512 c1_0 = _mm512_setzero_ps (), c1_1 = _mm512_setzero_ps ();
    __m512 c2_0 = _mm512_setzero_ps (), c2_1 = _mm512_setzero_ps ();
    __m512 c3_0 = _mm512_setzero_ps (), c3_1 = _mm512_setzero_ps ();
    __m512 c4_0 = _mm512_setzero_ps (), c4_1 = _mm512_setzero_ps ();
    __m512 c5_0 = _mm512_setzero_ps (), c5_1 = _mm512_setzero_ps ();
    __m512 c6_0 = _mm512_setzero_ps (), c6_1 = _mm512_setzero_ps ();
    __m512 c7_0 = _mm512_setzero_ps (), c7_1 = _mm512_setzero_ps ();
    __m512 c8_0 = _mm512_setzero_ps (), c8_1 = _mm512_setzero_ps ();
    __m512 c9_0 = _mm512_setzero_ps (), c9_1 = _mm512_setzero_ps ();
    __m512 c10_0 = _mm512_setzero_ps (), c10_1 = _mm512_setzero_ps ();
    __m512 c11_0 = _mm512_setzero_ps (), c11_1 = _mm512_setzero_ps ();
    __m512 c12_0 = _mm512_setzero_ps (), c12_1 = _mm512_setzero_ps ();
    __m512 c13_0 = _mm512_setzero_ps (), c13_1 = _mm512_setzero_ps ();
    __m512 c14_0 = _mm512_setzero_ps (), c14_1 = _mm512_setzero_ps ();
    __m512 c15_0 = _mm512_setzero_ps (), c15_1 = _mm512_setzero_ps ();
    __m512 c16_0 = _mm512_setzero_ps (), c16_1 = _mm512_setzero_ps ();
    __m512 c17_0 = _mm512_setzero_ps (), c17_1 = _mm512_setzero_ps ();
    __m512 c18_0 = _mm512_setzero_ps (), c18_1 = _mm512_setzero_ps ();
    __m512 c19_0 = _mm512_setzero_ps (), c19_1 = _mm512_setzero_ps ();
    __m512 c20_0 = _mm512_setzero_ps (), c20_1 = _mm512_setzero_ps ();
    __m512 c21_0 = _mm512_setzero_ps (), c21_1 = _mm512_setzero_ps ();
    __m512 c22_0 = _mm512_setzero_ps (), c22_1 = _mm512_setzero_ps ();
    __m512 c23_0 = _mm512_setzero_ps (), c23_1 = _mm512_setzero_ps ();
    __m512 c24_0 = _mm512_setzero_ps (), c24_1 = _mm512_setzero_ps ();
    __m512 c25_0 = _mm512_setzero_ps (), c25_1 = _mm512_setzero_ps ();
    __m512 c26_0 = _mm512_setzero_ps (), c26_1 = _mm512_setzero_ps ();
    __m512 c27_0 = _mm512_setzero_ps (), c27_1 = _mm512_setzero_ps ();
    for (dim_t p = 0; p < k; p++) {
        __m512 b0 = _mm512_loadu_ps (b);
        __m512 b1 = NR == 32? _mm512_loadu_ps (b + 16): b0;
        __m512 x;
#define FG_STEP(i) \
        if (MR > i) { \
            x = _mm512_set1_ps (a [i]); \
            c##i##_0 = _mm512_fmadd_ps (x, b0, c##i##_0); \
            if (NR == 32) \
                c##i##_1 = _mm512_fmadd_ps (x, b1, c##i##_1); \
        }
        FG_STEP (0)
        FG_STEP (1)
        FG_STEP (2)
        FG_STEP (3)
        FG_STEP (4)
        FG_STEP (5)
        FG_STEP (6)
        FG_STEP (7)
        FG_STEP (8)
        FG_STEP (9)
        FG_STEP (10)
        FG_STEP (11)
        FG_STEP (12)
        FG_STEP (13)
        FG_STEP (14)
        FG_STEP (15)
        FG_STEP (16)
        FG_STEP (17)
        FG_STEP (18)
        FG_STEP (19)
        FG_STEP (20)
        FG_STEP (21)
        FG_STEP (22)
        FG_STEP (23)
        FG_STEP (24)
        FG_STEP (25)
        FG_STEP (26)
        FG_STEP (27)
#undef FG_STEP
        a += MR;
        b += NR;
    }
    __m512 al = _mm512_set1_ps (*alpha);
    __m512 be = _mm512_set1_ps (*beta);
    bool beta0 = *beta == 0.0f;
    if (MR > 0 && m > 0) s_row (n, c0_0, c0_1, al, be, beta0, c + 0 * rs_c, cs_c);
    if (MR > 1 && m > 1) s_row (n, c1_0, c1_1, al, be, beta0, c + 1 * rs_c, cs_c);
    if (MR > 2 && m > 2) s_row (n, c2_0, c2_1, al, be, beta0, c + 2 * rs_c, cs_c);
    if (MR > 3 && m > 3) s_row (n, c3_0, c3_1, al, be, beta0, c + 3 * rs_c, cs_c);
    if (MR > 4 && m > 4) s_row (n, c4_0, c4_1, al, be, beta0, c + 4 * rs_c, cs_c);
    if (MR > 5 && m > 5) s_row (n, c5_0, c5_1, al, be, beta0, c + 5 * rs_c, cs_c);
    if (MR > 6 && m > 6) s_row (n, c6_0, c6_1, al, be, beta0, c + 6 * rs_c, cs_c);
    if (MR > 7 && m > 7) s_row (n, c7_0, c7_1, al, be, beta0, c + 7 * rs_c, cs_c);
    if (MR > 8 && m > 8) s_row (n, c8_0, c8_1, al, be, beta0, c + 8 * rs_c, cs_c);
    if (MR > 9 && m > 9) s_row (n, c9_0, c9_1, al, be, beta0, c + 9 * rs_c, cs_c);
    if (MR > 10 && m > 10) s_row (n, c10_0, c10_1, al, be, beta0, c + 10 * rs_c, cs_c);
    if (MR > 11 && m > 11) s_row (n, c11_0, c11_1, al, be, beta0, c + 11 * rs_c, cs_c);
    if (MR > 12 && m > 12) s_row (n, c12_0, c12_1, al, be, beta0, c + 12 * rs_c, cs_c);
    if (MR > 13 && m > 13) s_row (n, c13_0, c13_1, al, be, beta0, c + 13 * rs_c, cs_c);
    if (MR > 14 && m > 14) s_row (n, c14_0, c14_1, al, be, beta0, c + 14 * rs_c, cs_c);
    if (MR > 15 && m > 15) s_row (n, c15_0, c15_1, al, be, beta0, c + 15 * rs_c, cs_c);
    if (MR > 16 && m > 16) s_row (n, c16_0, c16_1, al, be, beta0, c + 16 * rs_c, cs_c);
    if (MR > 17 && m > 17) s_row (n, c17_0, c17_1, al, be, beta0, c + 17 * rs_c, cs_c);
    if (MR > 18 && m > 18) s_row (n, c18_0, c18_1, al, be, beta0, c + 18 * rs_c, cs_c);
    if (MR > 19 && m > 19) s_row (n, c19_0, c19_1, al, be, beta0, c + 19 * rs_c, cs_c);
    if (MR > 20 && m > 20) s_row (n, c20_0, c20_1, al, be, beta0, c + 20 * rs_c, cs_c);
    if (MR > 21 && m > 21) s_row (n, c21_0, c21_1, al, be, beta0, c + 21 * rs_c, cs_c);
    if (MR > 22 && m > 22) s_row (n, c22_0, c22_1, al, be, beta0, c + 22 * rs_c, cs_c);
    if (MR > 23 && m > 23) s_row (n, c23_0, c23_1, al, be, beta0, c + 23 * rs_c, cs_c);
    if (MR > 24 && m > 24) s_row (n, c24_0, c24_1, al, be, beta0, c + 24 * rs_c, cs_c);
    if (MR > 25 && m > 25) s_row (n, c25_0, c25_1, al, be, beta0, c + 25 * rs_c, cs_c);
    if (MR > 26 && m > 26) s_row (n, c26_0, c26_1, al, be, beta0, c + 26 * rs_c, cs_c);
    if (MR > 27 && m > 27) s_row (n, c27_0, c27_1, al, be, beta0, c + 27 * rs_c, cs_c);
    FG_AVX512_CLEAN_UPPER ();
}

#else
//  Not an x86 build: never selected (fg_gemm.c checks the CPU first).
FG_GEMM_KERNEL_PROTO (fg_gemm_kernel_avx512)
{
    (void) m; (void) n; (void) k; (void) alpha; (void) a; (void) b;
    (void) beta; (void) c; (void) rs_c; (void) cs_c; (void) data; (void) cntx;
}
#endif
