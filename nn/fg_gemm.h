/*  fg_gemm.h — fedgrid's single-precision GEMM: BLIS's packing, blocking
    and threading (typed expert API) driven by OUR context: our own
    micro-kernels and fixed blocksizes, so that the bits of C are the same
    on every x86-64 machine, with every kernel variant and any thread count.

    Arithmetic (the identity nodes compare, fg_gemm_identity ()). For every
    element of C (m x n) = alpha * A (m x k) * B (k x n) + beta * C, with
    KC = FG_GEMM_KC, the k range is cut into blocks [0,KC), [KC,2KC), ...
    (the last one shorter), and for block number q:
        ab = +0.0f;  for p in the block, in order: ab = fmaf (a_ip, b_pj, ab);
        t  = alpha * ab;
        c  = (q == 0 && beta == 0) ? t : fmaf (q == 0 ? beta : 1, c, t);
    (beta == 0: C is never read, so NaN in C does not propagate). Every step
    is one correctly rounded IEEE operation, so the portable C kernel
    (fmaf () from libm), the AVX2+FMA and the AVX-512F kernels agree to the
    bit; their register tiles (MR x NR) and cache blocks (MC, NC) differ and
    do not matter. KC and this formula do: they are the identity.

    Thread count never matters: BLIS parallelises the loops over m and n
    only, each element is computed by one thread with the k blocks above.

    Variant choice: the best the CPU has (AVX-512F, else AVX2+FMA, else
    portable), or the environment variable FEDGRID_GEMM=portable|avx2|avx512
    read once per process (an unknown or unsupported value is ignored with a
    warning). Per call, a specific variant may be requested (tests, bench). */

#ifndef FG_GEMM_H_INCLUDED
#define FG_GEMM_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include "fg_error.h"

#ifdef __cplusplus
extern "C" {
#endif

//  The k block of the arithmetic: part of the identity, the same for every
//  variant. Changing it (or the formula) changes the identity string.
#define FG_GEMM_KC          256
#define FG_GEMM_IDENTITY    "fg-sgemm-fma kc=256 v1"

typedef enum {
    FG_GEMM_AUTO     = 0,       //  the process default (see above)
    FG_GEMM_PORTABLE = 1,       //  C + fmaf (), any CPU
    FG_GEMM_AVX2     = 2,       //  AVX2 + FMA (x86-64-v3)
    FG_GEMM_AVX512   = 3        //  AVX-512F
} fg_gemm_variant_t;

#define FG_GEMM_VARIANTS 4

//  The arithmetic identity "fg-sgemm-fma kc=256 v1" (static string). Two
//  nodes produce the same bits for the same work iff these strings are
//  equal (and so are the rest of fedgrid's kernels: same fedgrid version).
const char *
    fg_gemm_identity (void);

//  True if the CPU (and OS) can run variant v; AUTO and PORTABLE: always.
bool
    fg_gemm_supported (fg_gemm_variant_t v);

//  The variant AUTO resolves to in this process (never AUTO).
fg_gemm_variant_t
    fg_gemm_default (void);

//  "auto", "portable", "avx2", "avx512" (static); NULL for other values.
const char *
    fg_gemm_variant_name (fg_gemm_variant_t v);

//  Parses one of the names above into *v. Returns 0 or FG_EINVAL.
int
    fg_gemm_variant_parse (const char *name, fg_gemm_variant_t *v);

//  For logs and the HELLO message: "<identity> <variant> <MR>x<NR> blis-<ver>"
//  of the default variant, e.g. "fg-sgemm-fma kc=256 v1 avx512 24x16
//  blis-0.9.0" (< 64 bytes); NUL-terminated, truncated to size. Only the
//  identity part (the first three words) must match between nodes; the rest
//  says which of the equivalent kernels runs. Returns buf.
char *
    fg_gemm_info (char *buf, size_t size);

//  C = alpha * A * B + beta * C (the arithmetic above), strided views:
//    A (m x k) at a, strides (rsa, csa); B (k x n) at b; C (m x n) at c.
//  Each view needs one unit stride and the other covering the opposite
//  dimension (BLIS's rule; checked here: BLIS would abort). A and B must not
//  overlap C. BLIS may read (never write) up to FG_BLIS_TAIL_PAD bytes past
//  the last element of C when beta != 0: callers pad their buffers.
//  m or n == 0: nothing. k == 0 or alpha == 0: C = beta == 0 ? 0 : beta * C.
//  threads < 1 is taken as 1. `what` names the caller in error messages.
//  Returns 0, FG_EINVAL (bad view or dimension > 2^40, naming `what`) or
//  FG_EUNSUPPORTED (variant not available on this CPU).
int
    fg_gemm (fg_gemm_variant_t variant, int threads, const char *what,
             size_t m, size_t n, size_t k, float alpha,
             const float *a, size_t rsa, size_t csa,
             const float *b, size_t rsb, size_t csb, float beta,
             float *c, size_t rsc, size_t csc, fg_error_t *err);

#ifdef __cplusplus
}
#endif

#endif
