/*  fg_gemm_kernels.h — the sgemm micro-kernels behind nn/fg_gemm.c, one
    per instruction set, all computing the same bits. Not installed.

    Contract of every kernel (BLIS 0.9.0 gemm micro-kernel signature):
      a: packed micro-panel of A, MR x k, column by column (a[p*MR + i]);
      b: packed micro-panel of B, k x NR, row by row     (b[p*NR + j]);
      c: the m x n (m <= MR, n <= NR) tile of C at strides (rs_c, cs_c).
    For every element (i < m, j < n), exactly:
        ab = +0.0f;
        for (p = 0; p < k; p++)
            ab = fmaf (a[p*MR + i], b[p*NR + j], ab);
        t = alpha * ab;
        c_ij = beta == 0 ? t : fmaf (beta, c_ij, t);   //  beta == 0: C never read
    Each step is one IEEE operation rounded once, so every kernel, however
    it vectorises, gives the same bits for the same k. Elements outside
    m x n are never touched.                                              */

#ifndef FG_GEMM_KERNELS_H_INCLUDED
#define FG_GEMM_KERNELS_H_INCLUDED

#include <blis.h>

#define FG_GEMM_KERNEL_PROTO(name) \
    void name (dim_t m, dim_t n, dim_t k, float *restrict alpha, \
               float *restrict a, float *restrict b, float *restrict beta, \
               float *restrict c, inc_t rs_c, inc_t cs_c, \
               auxinfo_t *restrict data, cntx_t *restrict cntx)

//  Register tile of each kernel (MR x NR)
#define FG_GEMM_PORTABLE_MR 4
#define FG_GEMM_PORTABLE_NR 16
#define FG_GEMM_AVX2_MR     6
#define FG_GEMM_AVX2_NR     16
#ifndef FG_GEMM_AVX512_MR
#   define FG_GEMM_AVX512_MR   24
#endif
#ifndef FG_GEMM_AVX512_NR
#   define FG_GEMM_AVX512_NR   16
#endif
#ifndef FG_GEMM_AVX512_MC
#   define FG_GEMM_AVX512_MC   192
#endif
#ifndef FG_GEMM_AVX512_NC
#   define FG_GEMM_AVX512_NC   4096
#endif

FG_GEMM_KERNEL_PROTO (fg_gemm_kernel_portable);     //  C, fmaf () from libm
FG_GEMM_KERNEL_PROTO (fg_gemm_kernel_avx2);         //  AVX2 + FMA
FG_GEMM_KERNEL_PROTO (fg_gemm_kernel_avx512);       //  AVX-512F

//  BLIS packm kernels (fg_gemm_pack.c; need AVX2) for panels of 6, 8, 16
//  and 24: p[j*ldp + i] = a[i*inca + j*lda], i < cdim, j < n, zero-filled
//  to mnr x n_max. Pure copies: they never change a result's bits.
#define FG_GEMM_PACKM_PROTO(name) \
    void name (conj_t conja, pack_t schema, dim_t cdim, dim_t n, dim_t n_max, \
               float *restrict kappa, float *restrict a, inc_t inca, \
               inc_t lda, float *restrict p, inc_t ldp, cntx_t *restrict cntx)
FG_GEMM_PACKM_PROTO (fg_gemm_packm_6);
FG_GEMM_PACKM_PROTO (fg_gemm_packm_8);
FG_GEMM_PACKM_PROTO (fg_gemm_packm_16);
FG_GEMM_PACKM_PROTO (fg_gemm_packm_24);

//  Ends every function that used zmm16-31 (AVX-512F target only): zero
//  them, THEN vzeroupper (the compiler's own vzeroupper on return comes too
//  late and covers registers 0-15 only). Without this, the upper state stays
//  dirty after the call and every legacy-SSE instruction that runs later
//  (all our -O2 x86-64 code, libc, BLIS's own kernels) is penalised: BLIS's
//  generic sgemm ran at 7.7 instead of 40 GFLOPS after one call of the GEMM
//  kernel, on this Zen 5.
#define FG_AVX512_CLEAN_UPPER() \
    __asm__ volatile ( \
        "vpxord %%xmm16, %%xmm16, %%xmm16\n\t" "vpxord %%xmm17, %%xmm17, %%xmm17\n\t" \
        "vpxord %%xmm18, %%xmm18, %%xmm18\n\t" "vpxord %%xmm19, %%xmm19, %%xmm19\n\t" \
        "vpxord %%xmm20, %%xmm20, %%xmm20\n\t" "vpxord %%xmm21, %%xmm21, %%xmm21\n\t" \
        "vpxord %%xmm22, %%xmm22, %%xmm22\n\t" "vpxord %%xmm23, %%xmm23, %%xmm23\n\t" \
        "vpxord %%xmm24, %%xmm24, %%xmm24\n\t" "vpxord %%xmm25, %%xmm25, %%xmm25\n\t" \
        "vpxord %%xmm26, %%xmm26, %%xmm26\n\t" "vpxord %%xmm27, %%xmm27, %%xmm27\n\t" \
        "vpxord %%xmm28, %%xmm28, %%xmm28\n\t" "vpxord %%xmm29, %%xmm29, %%xmm29\n\t" \
        "vpxord %%xmm30, %%xmm30, %%xmm30\n\t" "vpxord %%xmm31, %%xmm31, %%xmm31\n\t" \
        "vzeroupper\n\t" \
        ::: "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", \
            "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29", "xmm30", "xmm31")

#endif
