/*  fg_gemm.c — our BLIS contexts (one per kernel variant) and the checked
    door to bli_sgemm_ex. See fg_gemm.h for the arithmetic.

    How a context is made (BLIS 0.9.0): a copy of BLIS's global context for
    this machine, with, for float only,
      - our micro-kernel as the native (and virtual) gemm kernel, row
        preferring (it broadcasts A and loads rows of B);
      - our blocksizes MR, NR, KC, MC, NC, each with max == default:
        BLIS merges a short trailing block into the previous one when
        remaining <= max, so max == default makes the k partition exactly
        [0,KC), [KC,2KC), ... on every machine (KC is the identity);
        MR/NR max is also the packed panel's leading dimension;
      - the small-matrix ("sup") thresholds at 0 and sup disabled in the
        rntm: sup has its own per-machine kernels;
    Packing stays BLIS's: for native real gemm it packs with kappa = 1 (a
    copy; alpha is applied by the micro-kernel), with the context's packm
    kernel for the panel size if there is one, else its scal2m loop; either
    is a copy, the same bits on any machine.                              */

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <blis.h>
#include "fg_gemm.h"
#include "fg_gemm_kernels.h"
#include "fg_log.h"

//  Largest dimension or stride accepted (2^40, as FG_OPS_MAX_ELEMS)
#define S_MAX_DIM ((size_t) 1 << 40)

typedef struct {
    const char *name;
    void_fp     kernel;
    dim_t       mr, nr, mc, nc;     //  KC is FG_GEMM_KC for all
    bool        own_packm;          //  our AVX2 packm kernels (fg_gemm_pack.c)
} s_variant_t;

//  Our packm kernels by panel size
static const struct {
    dim_t   size;
    void_fp kernel;
} s_packm [] = {
    {  6, (void_fp) fg_gemm_packm_6 },
    {  8, (void_fp) fg_gemm_packm_8 },
    { 16, (void_fp) fg_gemm_packm_16 },
    { 24, (void_fp) fg_gemm_packm_24 },
};

//  MC (A block, L2) and NC (B block, L3) per variant; MC a multiple of MR,
//  NC of NR. KC = 256: the B micro-panel (KC x NR) stays in a 32-48 KiB L1.
static const s_variant_t s_variants [FG_GEMM_VARIANTS] = {
    [FG_GEMM_AUTO]     = { "auto", NULL, 0, 0, 0, 0, false },
    [FG_GEMM_PORTABLE] = { "portable", (void_fp) fg_gemm_kernel_portable,
                           FG_GEMM_PORTABLE_MR, FG_GEMM_PORTABLE_NR, 128, 4096,
                           false },
    [FG_GEMM_AVX2]     = { "avx2", (void_fp) fg_gemm_kernel_avx2,
                           FG_GEMM_AVX2_MR, FG_GEMM_AVX2_NR, 144, 4080, true },
    [FG_GEMM_AVX512]   = { "avx512", (void_fp) fg_gemm_kernel_avx512,
                           FG_GEMM_AVX512_MR, FG_GEMM_AVX512_NR,
                           FG_GEMM_AVX512_MC, FG_GEMM_AVX512_NC, true },
};

static pthread_once_t s_once = PTHREAD_ONCE_INIT;
static cntx_t s_cntx [FG_GEMM_VARIANTS];
static bool s_supported [FG_GEMM_VARIANTS];
static fg_gemm_variant_t s_default = FG_GEMM_PORTABLE;

static void
s_set_blksz (cntx_t *cntx, bszid_t id, dim_t value)
{
    bli_cntx_set_blksz_def_dt (BLIS_FLOAT, id, value, cntx);
    bli_cntx_set_blksz_max_dt (BLIS_FLOAT, id, value, cntx);
}

static void
s_cntx_init (cntx_t *cntx, const s_variant_t *v)
{
    *cntx = *bli_gks_query_cntx ();
    func_t ukr;
    ukr = *bli_cntx_get_l3_nat_ukrs (BLIS_GEMM_UKR, cntx);
    bli_func_set_dt (v->kernel, BLIS_FLOAT, &ukr);
    bli_cntx_set_l3_nat_ukr (BLIS_GEMM_UKR, &ukr, cntx);
    bli_cntx_set_l3_vir_ukr (BLIS_GEMM_UKR, &ukr, cntx);
    mbool_t prefs = *bli_cntx_get_l3_nat_ukr_prefs (BLIS_GEMM_UKR, cntx);
    bli_mbool_set_dt (TRUE, BLIS_FLOAT, &prefs);
    bli_cntx_set_l3_nat_ukr_prefs (BLIS_GEMM_UKR, &prefs, cntx);
    s_set_blksz (cntx, BLIS_MR, v->mr);
    s_set_blksz (cntx, BLIS_NR, v->nr);
    s_set_blksz (cntx, BLIS_KR, 1);
    s_set_blksz (cntx, BLIS_KC, FG_GEMM_KC);
    s_set_blksz (cntx, BLIS_MC, v->mc);
    s_set_blksz (cntx, BLIS_NC, v->nc);
    for (size_t i = 0; v->own_packm && i < sizeof s_packm / sizeof s_packm [0]; i++)
        if (s_packm [i].size == v->mr || s_packm [i].size == v->nr)
            bli_cntx_set_packm_ker_dt (s_packm [i].kernel, BLIS_FLOAT,
                                       (l1mkr_t) s_packm [i].size, cntx);
    for (int i = 0; i < BLIS_NUM_THRESH; i++) {
        bli_blksz_set_def (0, BLIS_FLOAT, &cntx->l3_sup_thresh [i]);
        bli_blksz_set_max (0, BLIS_FLOAT, &cntx->l3_sup_thresh [i]);
    }
}

static void
s_init (void)
{
    s_supported [FG_GEMM_AUTO] = true;
    s_supported [FG_GEMM_PORTABLE] = true;
#if defined (__x86_64__) || defined (__i386__)
    __builtin_cpu_init ();
    s_supported [FG_GEMM_AVX2] = __builtin_cpu_supports ("avx2")
                              && __builtin_cpu_supports ("fma");
    s_supported [FG_GEMM_AVX512] = __builtin_cpu_supports ("avx512f")
                                && __builtin_cpu_supports ("fma");
#endif
    for (int v = FG_GEMM_PORTABLE; v < FG_GEMM_VARIANTS; v++)
        s_cntx_init (&s_cntx [v], &s_variants [v]);
    s_default = s_supported [FG_GEMM_AVX512]? FG_GEMM_AVX512
              : s_supported [FG_GEMM_AVX2]? FG_GEMM_AVX2: FG_GEMM_PORTABLE;
    const char *env = getenv ("FEDGRID_GEMM");
    if (env && *env) {
        fg_gemm_variant_t v;
        if (fg_gemm_variant_parse (env, &v) != 0)
            fg_warn ("FEDGRID_GEMM=%s: unknown (portable, avx2, avx512): "
                     "using %s", env, s_variants [s_default].name);
        else
        if (!s_supported [v])
            fg_warn ("FEDGRID_GEMM=%s: not supported by this CPU: using %s",
                     env, s_variants [s_default].name);
        else
        if (v != FG_GEMM_AUTO)
            s_default = v;
    }
}

const char *
fg_gemm_identity (void)
{
    return FG_GEMM_IDENTITY;
}

bool
fg_gemm_supported (fg_gemm_variant_t v)
{
    pthread_once (&s_once, s_init);
    return (int) v >= 0 && v < FG_GEMM_VARIANTS && s_supported [v];
}

fg_gemm_variant_t
fg_gemm_default (void)
{
    pthread_once (&s_once, s_init);
    return s_default;
}

const char *
fg_gemm_variant_name (fg_gemm_variant_t v)
{
    return (int) v >= 0 && v < FG_GEMM_VARIANTS? s_variants [v].name: NULL;
}

int
fg_gemm_variant_parse (const char *name, fg_gemm_variant_t *v)
{
    assert (v);
    for (int i = 0; name && i < FG_GEMM_VARIANTS; i++)
        if (strcmp (name, s_variants [i].name) == 0) {
            *v = (fg_gemm_variant_t) i;
            return 0;
        }
    return FG_EINVAL;
}

char *
fg_gemm_info (char *buf, size_t size)
{
    assert (buf || size == 0);
    const s_variant_t *v = &s_variants [fg_gemm_default ()];
    if (size > 0)
        snprintf (buf, size, "%s %s %dx%d blis-%s", FG_GEMM_IDENTITY,
                  v->name, (int) v->mr, (int) v->nr, bli_info_get_version_str ());
    return buf;
}

//  A (rows x cols) view with strides (rs, cs) is acceptable to BLIS when
//  one stride is 1 and the other covers the opposite dimension.
static bool
s_view_ok (size_t rows, size_t cols, size_t rs, size_t cs)
{
    if (rs < 1 || cs < 1 || rs > S_MAX_DIM || cs > S_MAX_DIM)
        return false;
    if (rs == 1 && cs == 1)
        return rows == 1 || cols == 1;
    if (rs == 1)
        return cs >= rows;
    if (cs == 1)
        return rs >= cols;
    return false;
}

int
fg_gemm (fg_gemm_variant_t variant, int threads, const char *what,
         size_t m, size_t n, size_t k, float alpha,
         const float *a, size_t rsa, size_t csa,
         const float *b, size_t rsb, size_t csb, float beta,
         float *c, size_t rsc, size_t csc, fg_error_t *err)
{
    pthread_once (&s_once, s_init);
    if (!what)
        what = "gemm";
    if ((int) variant < 0 || variant >= FG_GEMM_VARIANTS || !s_supported [variant])
        return fg_error_set (err, FG_EUNSUPPORTED, "%s: gemm: variant %d "
                             "not available on this CPU", what, (int) variant);
    if (variant == FG_GEMM_AUTO)
        variant = s_default;
    if (m > S_MAX_DIM || n > S_MAX_DIM || k > S_MAX_DIM)
        return fg_error_set (err, FG_EINVAL, "%s: gemm: dimension too large "
                             "(m %zu, n %zu, k %zu)", what, m, n, k);
    if (m == 0 || n == 0)
        return 0;
    if (!c || !s_view_ok (m, n, rsc, csc))
        return fg_error_set (err, FG_EINVAL, "%s: gemm: bad C view %zux%zu "
                             "strides (%zu,%zu)", what, m, n, rsc, csc);
    if (k == 0 || alpha == 0.0f) {
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++)
                c [i * rsc + j * csc] = beta == 0.0f? 0.0f: beta * c [i * rsc + j * csc];
        return 0;
    }
    if (!a || !s_view_ok (m, k, rsa, csa))
        return fg_error_set (err, FG_EINVAL, "%s: gemm: bad A view %zux%zu "
                             "strides (%zu,%zu)", what, m, k, rsa, csa);
    if (!b || !s_view_ok (k, n, rsb, csb))
        return fg_error_set (err, FG_EINVAL, "%s: gemm: bad B view %zux%zu "
                             "strides (%zu,%zu)", what, k, n, rsb, csb);
    rntm_t rntm = BLIS_RNTM_INITIALIZER;
    bli_rntm_set_num_threads (threads < 1? 1: threads, &rntm);
    bli_rntm_disable_l3_sup (&rntm);
    float alpha_v = alpha, beta_v = beta;
    //  A private copy per call (5 KB): BLIS takes a non-const cntx_t, and
    //  trainers call concurrently; the shared ones stay untouched.
    cntx_t cntx = s_cntx [variant];
    bli_sgemm_ex (BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE,
                  (dim_t) m, (dim_t) n, (dim_t) k, &alpha_v,
                  (float *) a, (inc_t) rsa, (inc_t) csa,
                  (float *) b, (inc_t) rsb, (inc_t) csb, &beta_v,
                  c, (inc_t) rsc, (inc_t) csc, &cntx, &rntm);
    return 0;
}
