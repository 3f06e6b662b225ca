/*  fg_gemm_portable.c — the portable sgemm micro-kernel (plain C, fmaf ()
    from libm, which is correctly rounded: the same bits as a hardware FMA).
    The reference the SIMD kernels are tested against (tests/test_gemm.c).  */

#include <math.h>
#include "fg_gemm_kernels.h"

#define MR FG_GEMM_PORTABLE_MR
#define NR FG_GEMM_PORTABLE_NR

FG_GEMM_KERNEL_PROTO (fg_gemm_kernel_portable)
{
    (void) data;
    (void) cntx;
    float ab [MR * NR];
    for (int e = 0; e < MR * NR; e++)
        ab [e] = 0.0f;
    //  Row i of the tile takes its own sequence of fmas over p, in order
    for (dim_t p = 0; p < k; p++) {
        const float *ap = a + p * MR;
        const float *bp = b + p * NR;
        for (int i = 0; i < MR; i++)
            for (int j = 0; j < NR; j++)
                ab [i * NR + j] = fmaf (ap [i], bp [j], ab [i * NR + j]);
    }
    const float al = *alpha, be = *beta;
    for (dim_t i = 0; i < m; i++)
        for (dim_t j = 0; j < n; j++) {
            float t = al * ab [i * NR + j];
            float *cij = c + i * rs_c + j * cs_c;
            *cij = be == 0.0f? t: fmaf (be, *cij, t);
        }
}
