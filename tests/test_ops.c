/*  test_ops.c — the layer kernels of nn/: forward against naive double
    references, backward against central finite differences (inputs AND
    parameters, kinks avoided), bit-identical results with 1 and 2 BLIS
    threads, and every rejection path.

    Finite differences: the scalar is L = sum_i y_i * r_i (r fixed random,
    so dy = r), evaluated in double from the float forward. Each checked
    element is perturbed by +-eps (the actual float difference is used as
    the step) and |analytic - numeric| <= atol + rtol * max(|a|, |n|) is
    required. Linear ops (conv, linear, pooling, flatten...) are exact in
    their inputs, so they use a large eps (little rounding noise); the
    non-linear ones a small eps with inputs kept away from the kinks.    */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fg_ops.h"
#include "fg_gemm.h"
#include "fg_ops_internal.h"

//  ---------------------------------------------------------------------------
//  Helpers

static fg_rng_t s_rng;

static void
s_seed (uint32_t step)
{
    fg_rng_init (&s_rng, 20261127, FG_RNG_TEST, 0, 0, 0, step);
}

static float *
s_alloc (size_t n)
{
    float *p = calloc (n? n: 1, sizeof (float));
    assert_non_null (p);
    return p;
}

//  Uniform in [lo, hi).
static float *
s_random (size_t n, float lo, float hi)
{
    float *p = s_alloc (n);
    for (size_t i = 0; i < n; i++)
        p [i] = lo + (hi - lo) * fg_rng_uniform (&s_rng);
    return p;
}

static float *
s_copy (const float *src, size_t n)
{
    float *p = s_alloc (n);
    memcpy (p, src, n * sizeof (float));
    return p;
}

static double
s_dot (const float *a, const float *b, size_t n)
{
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += (double) a [i] * (double) b [i];
    return sum;
}

//  |got - want| <= atol + rtol * |want| for all elements.
static void
s_expect_close (const char *what, const float *got, const double *want, size_t n,
                double rtol, double atol)
{
    for (size_t i = 0; i < n; i++) {
        double diff = fabs ((double) got [i] - want [i]);
        if (!(diff <= atol + rtol * fabs (want [i]))) {
            print_error ("%s: element %zu: got %.9g want %.9g (diff %.3g)\n",
                         what, i, (double) got [i], want [i], diff);
            fail ();
        }
    }
}

//  One tensor whose gradient is checked: buf is perturbed in place, grad is
//  the analytic gradient the backward produced.
typedef struct {
    const char *name;
    float *buf;
    const float *grad;
    size_t n;
} fd_var_t;

typedef double (*fd_loss_t) (void *arg);

//  Checks every element (or an evenly spread sample of max_checks) of each
//  variable. Returns the number of elements checked.
static size_t
s_fd_check (const char *op, fd_loss_t loss, void *arg, fd_var_t *vars,
            size_t nvars, double eps, double rtol, double atol, size_t max_checks)
{
    size_t checked = 0;
    for (size_t v = 0; v < nvars; v++) {
        fd_var_t *var = &vars [v];
        size_t stride = var->n > max_checks? var->n / max_checks: 1;
        for (size_t i = 0; i < var->n; i += stride) {
            float x0 = var->buf [i];
            float xp = (float) (x0 + eps), xm = (float) (x0 - eps);
            var->buf [i] = xp;
            double lp = loss (arg);
            var->buf [i] = xm;
            double lm = loss (arg);
            var->buf [i] = x0;
            double num = (lp - lm) / ((double) xp - (double) xm);
            double ana = var->grad [i];
            double tol = atol + rtol * fmax (fabs (num), fabs (ana));
            if (!(fabs (num - ana) <= tol)) {
                print_error ("%s: d/d%s[%zu]: analytic %.9g numeric %.9g "
                             "(diff %.3g > tol %.3g)\n", op, var->name, i,
                             ana, num, fabs (num - ana), tol);
                fail ();
            }
            checked++;
        }
    }
    return checked;
}

//  ---------------------------------------------------------------------------
//  Convolution

//  Naive conv in double: x (N,H,W,C), w (K,C/G,KH,KW) -> y (N,OH,OW,K).
static double *
s_conv_ref (const fg_conv_shape_t *s, const float *x, const float *w,
            const float *b, int oh, int ow)
{
    int cg = s->c / s->groups, kg = s->k / s->groups;
    double *y = calloc ((size_t) s->n * oh * ow * s->k, sizeof (double));
    assert_non_null (y);
    for (int n = 0; n < s->n; n++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++)
                for (int k = 0; k < s->k; k++) {
                    int g = k / kg;
                    double sum = b? b [k]: 0.0;
                    for (int c = 0; c < cg; c++)
                        for (int i = 0; i < s->kh; i++)
                            for (int j = 0; j < s->kw; j++) {
                                int iy = oy * s->sh - s->ph + i;
                                int ix = ox * s->sw - s->pw + j;
                                if (iy < 0 || iy >= s->h || ix < 0 || ix >= s->w)
                                    continue;
                                sum += (double) x [((n * s->h + iy) * s->w + ix) * s->c + g * cg + c]
                                     * (double) w [((k * cg + c) * s->kh + i) * s->kw + j];
                            }
                    y [((n * oh + oy) * ow + ox) * s->k + k] = sum;
                }
    return y;
}

//  Naive conv backward in double (the adjoint of s_conv_ref):
//  dy -> dx (N,H,W,C), dw (K,C/G,KH,KW), db (K).
static void
s_conv_ref_backward (const fg_conv_shape_t *s, const float *x, const float *w,
                     const float *dy, int oh, int ow, double *dx, double *dw, double *db)
{
    int cg = s->c / s->groups, kg = s->k / s->groups;
    for (int n = 0; n < s->n; n++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++)
                for (int k = 0; k < s->k; k++) {
                    int g = k / kg;
                    double gy = dy [((n * oh + oy) * ow + ox) * s->k + k];
                    db [k] += gy;
                    for (int c = 0; c < cg; c++)
                        for (int i = 0; i < s->kh; i++)
                            for (int j = 0; j < s->kw; j++) {
                                int iy = oy * s->sh - s->ph + i;
                                int ix = ox * s->sw - s->pw + j;
                                if (iy < 0 || iy >= s->h || ix < 0 || ix >= s->w)
                                    continue;
                                size_t xi = ((size_t) (n * s->h + iy) * s->w + ix) * s->c + g * cg + c;
                                size_t wi = ((size_t) (k * cg + c) * s->kh + i) * s->kw + j;
                                dx [xi] += gy * w [wi];
                                dw [wi] += gy * x [xi];
                            }
                }
}

typedef struct {
    fg_ops_ctx_t *ctx;
    fg_conv_shape_t s;
    float *x, *w, *b, *y, *r;
    size_t ny;
} conv_case_t;

static double
s_conv_loss (void *arg)
{
    conv_case_t *cc = arg;
    assert_int_equal (fg_conv_forward (cc->ctx, &cc->s, cc->x, cc->w, cc->b, cc->y, NULL), 0);
    return s_dot (cc->y, cc->r, cc->ny);
}

//  Forward against the naive reference, then finite differences for x, w
//  and b, then the accumulate/overwrite contract of the backward.
static void
s_conv_case (fg_ops_ctx_t *ctx, fg_conv_shape_t s, bool bias, size_t max_checks)
{
    int oh, ow;
    assert_int_equal (fg_conv_check (&s, &oh, &ow, NULL), 0);
    size_t nx = (size_t) s.n * s.h * s.w * s.c;
    size_t nw = fg_conv_weight_count (&s);
    size_t ny = (size_t) s.n * oh * ow * s.k;
    assert_int_equal (nw, (size_t) s.k * (s.c / s.groups) * s.kh * s.kw);
    conv_case_t cc = { ctx, s, s_random (nx, -1, 1), s_random (nw, -1, 1),
                       bias? s_random ((size_t) s.k, -1, 1): NULL, s_alloc (ny),
                       s_random (ny, -1, 1), ny };
    //  float error of a sum of KQ products of values in [-1, 1]
    double atol = 1e-5 * fmax (1.0, sqrt ((double) (nw / (size_t) s.k) / 100.0));
    char what [160];
    snprintf (what, sizeof what, "conv x(%d,%d,%d,%d) k%d %dx%d s%dx%d p%dx%d g%d",
              s.n, s.h, s.w, s.c, s.k, s.kh, s.kw, s.sh, s.sw, s.ph, s.pw, s.groups);

    //  forward vs reference; y starts as NaN: it must be overwritten, never read
    for (size_t i = 0; i < ny; i++)
        cc.y [i] = NAN;
    assert_int_equal (fg_conv_forward (ctx, &s, cc.x, cc.w, cc.b, cc.y, NULL), 0);
    double *ref = s_conv_ref (&s, cc.x, cc.w, cc.b, oh, ow);
    s_expect_close (what, cc.y, ref, ny, 1e-5, atol);
    free (ref);

    //  backward: dx overwritten (start from garbage), dw/db accumulated
    //  (start from 1: the result must be 1 + gradient)
    float *dx = s_random (nx, 100, 200);
    for (size_t i = 0; i < nx; i += 3)
        dx [i] = NAN;
    float *dw = s_alloc (nw), *db = s_alloc ((size_t) s.k);
    for (size_t i = 0; i < nw; i++)
        dw [i] = 1.0f;
    for (int i = 0; i < s.k; i++)
        db [i] = 1.0f;
    assert_int_equal (fg_conv_backward (ctx, &s, cc.x, cc.w, cc.r, dx, dw,
                                        bias? db: NULL, NULL), 0);
    for (size_t i = 0; i < nw; i++)
        dw [i] -= 1.0f;
    for (int i = 0; i < s.k; i++)
        db [i] -= 1.0f;
    //  against the naive adjoint in double
    double *rdx = calloc (nx, sizeof (double)), *rdw = calloc (nw, sizeof (double));
    double *rdb = calloc ((size_t) s.k, sizeof (double));
    s_conv_ref_backward (&s, cc.x, cc.w, cc.r, oh, ow, rdx, rdw, rdb);
    s_expect_close (what, dx, rdx, nx, 1e-5, atol);
    s_expect_close (what, dw, rdw, nw, 1e-5, atol);
    if (bias)
        s_expect_close (what, db, rdb, (size_t) s.k, 1e-5, 1e-5);
    free (rdx); free (rdw); free (rdb);
    fd_var_t vars [3] = {
        { "x", cc.x, dx, nx }, { "w", cc.w, dw, nw }, { "b", cc.b, db, (size_t) s.k } };
    //  conv is linear in each of x, w, b: a big step has no truncation error
    s_fd_check (what, s_conv_loss, &cc, vars, bias? 3: 2, 0.25, 2e-4, 2e-5, max_checks);

    //  NULL gradients are skipped, and dx alone equals the full call's dx
    float *dx2 = s_random (nx, -9, 9);
    assert_int_equal (fg_conv_backward (ctx, &s, cc.x, cc.w, cc.r, dx2, NULL, NULL, NULL), 0);
    assert_memory_equal (dx, dx2, nx * sizeof (float));
    float *dw2 = s_alloc (nw);
    assert_int_equal (fg_conv_backward (ctx, &s, cc.x, cc.w, cc.r, NULL, dw2, NULL, NULL), 0);
    for (size_t i = 0; i < nw; i++)
        assert_true (fabsf (dw2 [i] - dw [i]) <= 1e-5f * (1 + fabsf (dw [i])));
    free (dx); free (dx2); free (dw); free (dw2); free (db);
    free (cc.x); free (cc.w); free (cc.b); free (cc.y); free (cc.r);
}

static void
test_conv_paths (void **state)
{
    fg_ops_ctx_t *ctx = fg_ops_ctx_new (1);
    assert_non_null (ctx);
    s_seed (1);
    //  n, h, w, c, k, kh, kw, sh, sw, ph, pw, groups
    s_conv_case (ctx, (fg_conv_shape_t) { 2, 5, 6, 3, 4, 3, 3, 1, 1, 1, 1, 1 }, true, 400);
    s_conv_case (ctx, (fg_conv_shape_t) { 2, 7, 7, 4, 6, 3, 3, 2, 2, 1, 1, 1 }, true, 400);
    s_conv_case (ctx, (fg_conv_shape_t) { 1, 6, 5, 2, 3, 2, 3, 2, 1, 0, 2, 1 }, false, 400);
    //  grouped (2 groups), strided and padded
    s_conv_case (ctx, (fg_conv_shape_t) { 2, 6, 6, 4, 6, 3, 3, 2, 2, 1, 1, 2 }, true, 400);
    //  depthwise 3x3 and 5x5 stride 2 (MobileNetV3)
    s_conv_case (ctx, (fg_conv_shape_t) { 2, 6, 6, 5, 5, 3, 3, 1, 1, 1, 1, 5 }, false, 400);
    s_conv_case (ctx, (fg_conv_shape_t) { 2, 9, 8, 3, 3, 5, 5, 2, 2, 2, 2, 3 }, true, 400);
    //  depthwise with a channel multiplier goes through the grouped GEMM
    s_conv_case (ctx, (fg_conv_shape_t) { 1, 5, 5, 3, 6, 3, 3, 1, 1, 1, 1, 3 }, true, 400);
    //  1x1 direct (one GEMM on x), grouped 1x1, strided 1x1 (im2col path)
    s_conv_case (ctx, (fg_conv_shape_t) { 2, 4, 5, 6, 7, 1, 1, 1, 1, 0, 0, 1 }, true, 400);
    s_conv_case (ctx, (fg_conv_shape_t) { 2, 4, 4, 6, 4, 1, 1, 1, 1, 0, 0, 2 }, false, 400);
    s_conv_case (ctx, (fg_conv_shape_t) { 2, 5, 5, 3, 4, 1, 1, 2, 2, 0, 0, 1 }, true, 400);
    //  degenerate shapes that make BLIS views vectors: one in/out channel,
    //  one image, 1x1 output
    s_conv_case (ctx, (fg_conv_shape_t) { 1, 3, 3, 1, 1, 3, 3, 1, 1, 0, 0, 1 }, true, 400);
    s_conv_case (ctx, (fg_conv_shape_t) { 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1 }, true, 400);
    s_conv_case (ctx, (fg_conv_shape_t) { 3, 1, 1, 4, 1, 1, 1, 1, 1, 0, 0, 1 }, true, 400);
    s_conv_case (ctx, (fg_conv_shape_t) { 1, 2, 2, 1, 3, 1, 1, 1, 1, 0, 0, 1 }, true, 400);
    s_conv_case (ctx, (fg_conv_shape_t) { 1, 1, 1, 2, 2, 3, 3, 1, 1, 1, 1, 2 }, true, 400);
    s_conv_case (ctx, (fg_conv_shape_t) { 1, 1, 1, 1, 1, 3, 3, 1, 1, 1, 1, 1 }, true, 400);
    fg_ops_ctx_destroy (&ctx);
    assert_null (ctx);
    fg_ops_ctx_destroy (&ctx);
}

//  A layer big enough for several im2col chunks (FG_CONV_CHUNK_FLOATS):
//  forward against the reference, dw against the reference dw.
static void
test_conv_chunks (void **state)
{
    fg_ops_ctx_t *ctx = fg_ops_ctx_new (2);
    s_seed (2);
    fg_conv_shape_t s = { 5, 50, 50, 40, 8, 3, 3, 1, 1, 1, 1, 1 };
    int oh, ow;
    assert_int_equal (fg_conv_check (&s, &oh, &ow, NULL), 0);
    size_t per_image = (size_t) oh * ow * 40 * 9;
    assert_true (per_image * 2 < FG_CONV_CHUNK_FLOATS && per_image * 5 > FG_CONV_CHUNK_FLOATS);
    size_t nx = (size_t) 5 * 50 * 50 * 40, nw = fg_conv_weight_count (&s);
    size_t ny = (size_t) 5 * oh * ow * 8;
    float *x = s_random (nx, -1, 1), *w = s_random (nw, -1, 1), *y = s_alloc (ny);
    float *dy = s_random (ny, -1, 1), *dw = s_alloc (nw), *dx = s_alloc (nx);
    assert_int_equal (fg_conv_forward (ctx, &s, x, w, NULL, y, NULL), 0);
    double *ref = s_conv_ref (&s, x, w, NULL, oh, ow);
    s_expect_close ("conv chunks forward", y, ref, ny, 1e-5, 1e-5);
    free (ref);
    assert_int_equal (fg_conv_backward (ctx, &s, x, w, dy, dx, dw, NULL, NULL), 0);
    double *dwref = calloc (nw, sizeof (double));
    for (int n = 0; n < 5; n++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++)
                for (int k = 0; k < 8; k++) {
                    double g = dy [((n * oh + oy) * ow + ox) * 8 + k];
                    for (int c = 0; c < 40; c++)
                        for (int i = 0; i < 3; i++)
                            for (int j = 0; j < 3; j++) {
                                int iy = oy - 1 + i, ix = ox - 1 + j;
                                if (iy < 0 || iy >= 50 || ix < 0 || ix >= 50)
                                    continue;
                                dwref [((k * 40 + c) * 3 + i) * 3 + j]
                                    += g * x [((n * 50 + iy) * 50 + ix) * 40 + c];
                            }
                }
    s_expect_close ("conv chunks dw", dw, dwref, nw, 1e-4, 1e-3);
    free (dwref);
    free (x); free (w); free (y); free (dy); free (dw); free (dx);
    fg_ops_ctx_destroy (&ctx);
}

//  The direct form (stride 1, wide output, known channel counts): forward,
//  input and weight gradients from the AVX-512F and the AVX2 kernels (each
//  where the CPU has it; threads 1 or 2) and from the same arithmetic
//  through fg_gemm (ctx->direct_by_gemm; for the weight gradient that is
//  the im2col path) must be memcmp-equal. ref: also check them against
//  the double-precision reference.
static void
s_direct_bits (fg_conv_shape_t s, int threads, bool ref)
{
    int oh, ow;
    assert_int_equal (fg_conv_check (&s, &oh, &ow, NULL), 0);
    size_t nx = (size_t) s.n * s.h * s.w * s.c, nw = fg_conv_weight_count (&s);
    size_t ny = (size_t) s.n * oh * ow * s.k;
    float *x = s_random (nx, -1, 1), *w = s_random (nw, -1, 1), *dy = s_random (ny, -1, 1);
    float *dw0 = s_random (nw, -1, 1);
    //  0: fg_gemm; 1: AVX-512F kernels; 2: AVX2 kernels
    const fg_gemm_variant_t isa [3] = { FG_GEMM_AUTO, FG_GEMM_AVX512, FG_GEMM_AVX2 };
    float *y [3], *dx [3], *dw [3];
    for (int v = 0; v < 3; v++) {
        if (v > 0 && !fg_gemm_supported (isa [v]))
            continue;
        fg_ops_ctx_t *ctx = fg_ops_ctx_new (v > 0? threads: 1);
        assert_non_null (ctx);
        ctx->direct_by_gemm = v == 0;
        ctx->direct_isa = (int) isa [v];
        y [v] = s_alloc (ny);
        dx [v] = s_alloc (nx);
        dw [v] = s_copy (dw0, nw);
        assert_int_equal (fg_conv_forward (ctx, &s, x, w, NULL, y [v], NULL), 0);
        assert_int_equal (fg_conv_backward (ctx, &s, x, w, dy, dx [v], dw [v], NULL, NULL), 0);
        fg_ops_ctx_destroy (&ctx);
        if (v == 0)
            continue;
        assert_memory_equal (y [v], y [0], ny * sizeof (float));
        assert_memory_equal (dx [v], dx [0], nx * sizeof (float));
        assert_memory_equal (dw [v], dw [0], nw * sizeof (float));
        free (y [v]); free (dx [v]); free (dw [v]);
    }
    //  and they are right (dw accumulated onto dw0)
    if (ref) {
        double *rf = s_conv_ref (&s, x, w, NULL, oh, ow);
        s_expect_close ("direct forward", y [0], rf, ny, 1e-5, 1e-4);
        free (rf);
        double *rdx = calloc (nx, sizeof (double)), *rdw = calloc (nw, sizeof (double));
        double *rdb = calloc ((size_t) s.k, sizeof (double));
        s_conv_ref_backward (&s, x, w, dy, oh, ow, rdx, rdw, rdb);
        for (size_t i = 0; i < nw; i++)
            rdw [i] += dw0 [i];
        s_expect_close ("direct dx", dx [0], rdx, nx, 1e-5, 1e-4);
        s_expect_close ("direct dw", dw [0], rdw, nw, 1e-4, 1e-3);
        free (rdx); free (rdw); free (rdb);
    }
    free (y [0]); free (dx [0]); free (dw [0]);
    free (x); free (w); free (dy); free (dw0);
}

static void
test_conv_direct (void **state)
{
    if (!fg_gemm_supported (FG_GEMM_AVX512))
        print_message ("note: no AVX-512F here: its direct kernels are not compared\n");
    if (!fg_gemm_supported (FG_GEMM_AVX2))
        print_message ("note: no AVX2 here: its direct kernels are not compared\n");
    fg_ops_ctx_t *ctx = fg_ops_ctx_new (1);
    assert_non_null (ctx);
    s_seed (7);
    //  n, h, w, c, k, kh, kw, sh, sw, ph, pw, groups: one k block (KQ 144),
    //  two (480, a 3x5 kernel with its transposed padding 1x2), three with no
    //  padding (576: the input gradient pads by 2); then the 16-pixel tiles
    //  of small square outputs: 8x8 (two rows a tile), 4x4 (an image); a
    //  2x2 output goes through im2col (the comparison still holds)
    fg_conv_shape_t shapes [] = {
        { 2, 4, 18, 16, 32, 3, 3, 1, 1, 1, 1, 1 },
        { 1, 5, 20, 32, 16, 3, 5, 1, 1, 1, 2, 1 },
        { 2, 6, 19, 64, 16, 3, 3, 1, 1, 0, 0, 1 },
        { 2, 8, 8, 64, 64, 3, 3, 1, 1, 1, 1, 1 },
        { 2, 4, 4, 128, 64, 3, 3, 1, 1, 1, 1, 1 },
        { 5, 2, 2, 64, 128, 3, 3, 1, 1, 1, 1, 1 },
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes [0]; i++) {
        s_conv_case (ctx, shapes [i], i != 1, 300);
        s_direct_bits (shapes [i], 1, true);
        s_direct_bits (shapes [i], 2, false);
    }
    //  vgg16-bn's layers on 32x32 images (2x2 goes through im2col), with
    //  an odd image count (the AVX2 kernel's last 6-pixel tile is partial
    //  on the 4x4 layers: 3 x 16 = 48 pixels, 8 tiles; 8x8: 192, 32)
    fg_conv_shape_t vgg [] = {
        { 3, 32, 32, 64, 64, 3, 3, 1, 1, 1, 1, 1 },
        { 3, 16, 16, 64, 128, 3, 3, 1, 1, 1, 1, 1 },
        { 3, 16, 16, 128, 128, 3, 3, 1, 1, 1, 1, 1 },
        { 3, 8, 8, 128, 256, 3, 3, 1, 1, 1, 1, 1 },
        { 3, 8, 8, 256, 256, 3, 3, 1, 1, 1, 1, 1 },
        { 3, 4, 4, 256, 512, 3, 3, 1, 1, 1, 1, 1 },
        { 3, 4, 4, 512, 512, 3, 3, 1, 1, 1, 1, 1 },
        { 1, 2, 2, 512, 512, 3, 3, 1, 1, 1, 1, 1 },
    };
    for (size_t i = 0; i < sizeof vgg / sizeof vgg [0]; i++)
        s_direct_bits (vgg [i], 1 + (int) (i % 2), i == 0);
    //  several im2col chunks (one image each): the weight gradient's pixel
    //  blocks restart at every chunk, in both forms
    fg_conv_shape_t big = { 3, 64, 64, 64, 16, 3, 3, 1, 1, 1, 1, 1 };
    assert_true ((size_t) 64 * 64 * 576 >= FG_CONV_CHUNK_FLOATS / 2);
    s_direct_bits (big, 2, true);
    fg_ops_ctx_destroy (&ctx);
}

//  The tap form (forward of one group, K <= 64, no direct form) against
//  the im2col path (ctx->direct_by_gemm) at 1 and 2 threads, with and
//  without bias, inputs with NaN, infinities, -0 and subnormals:
//  memcmp-equal. (FEDGRID_GEMM=avx2 runs its C form instead.)
static void
test_conv_tap_form (void **state)
{
    s_seed (11);
    //  n, h, w, c, k, kh, kw, sh, sw, ph, pw, groups: cnn-small's first
    //  layer, vgg16-bn's, MobileNetV3's stem, a K of no specialised width
    //  (20) with uneven stride and padding, a 5x5 kernel (25 taps); then
    //  several k blocks of FG_GEMM_KC: cnn-small's second layer (Kq 288),
    //  Kq 576 padded, Kq 1000 (5x5, 40 channels)
    fg_conv_shape_t shapes [] = {
        { 3, 28, 28, 1, 32, 3, 3, 1, 1, 0, 0, 1 },
        { 2, 32, 32, 3, 64, 3, 3, 1, 1, 1, 1, 1 },
        { 2, 64, 64, 3, 16, 3, 3, 2, 2, 1, 1, 1 },
        { 2, 9, 7, 2, 20, 3, 3, 1, 2, 1, 0, 1 },
        { 2, 12, 12, 1, 16, 5, 5, 1, 1, 2, 2, 1 },
        { 3, 13, 13, 32, 64, 3, 3, 1, 1, 0, 0, 1 },
        { 2, 9, 9, 64, 32, 3, 3, 1, 1, 1, 1, 1 },
        { 2, 7, 7, 40, 16, 5, 5, 1, 1, 2, 2, 1 },
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes [0]; i++) {
        fg_conv_shape_t sh = shapes [i];
        int oh, ow;
        assert_int_equal (fg_conv_check (&sh, &oh, &ow, NULL), 0);
        size_t nx = (size_t) sh.n * sh.h * sh.w * sh.c, nw = fg_conv_weight_count (&sh);
        size_t ny = (size_t) sh.n * oh * ow * sh.k;
        float *x = s_random (nx, -1, 1), *w = s_random (nw, -1, 1);
        float *b = s_random ((size_t) sh.k, -1, 1);
        x [1] = NAN;
        x [nx / 2] = INFINITY;
        x [nx / 3] = -0.0f;
        x [nx - 2] = 1e-40f;
        w [2] = -0.0f;
        float *y [3];
        for (int v = 0; v < 3; v++) {
            fg_ops_ctx_t *ctx = fg_ops_ctx_new (v == 1? 2: 1);
            ctx->direct_by_gemm = v == 2;
            y [v] = s_alloc (ny);
            assert_int_equal (fg_conv_forward (ctx, &sh, x, w, i % 2? NULL: b, y [v], NULL), 0);
            fg_ops_ctx_destroy (&ctx);
        }
        assert_memory_equal (y [0], y [2], ny * sizeof (float));
        assert_memory_equal (y [1], y [2], ny * sizeof (float));
        for (int v = 0; v < 3; v++)
            free (y [v]);
        free (x); free (w); free (b);
    }
}

//  fg_epilogue_forward (bias, eval batch norm, activation in one pass) gives
//  the bits of the separate steps (conv's bias add, fg_bn_forward eval,
//  fg_act_forward) at 1 and 2 threads, in place and not; inputs at the
//  kinks and non-finite ones; one row wider than the block too.
static void
test_epilogue (void **state)
{
    s_seed (12);
    const size_t ms [] = { 700, 3, 9 };
    const int cs [] = { 40, 24, 5000 };
    const fg_act_t acts [] = { FG_ACT_IDENTITY, FG_ACT_RELU, FG_ACT_RELU6,
                               FG_ACT_HARDSIGMOID, FG_ACT_HARDSWISH };
    for (size_t si = 0; si < 3; si++) {
        size_t m = ms [si], C = (size_t) cs [si], n = m * C;
        float *x = s_random (n, -8, 8), *bias = s_random (C, -1, 1);
        float *gamma = s_random (C, 0.5f, 2), *beta = s_random (C, -1, 1);
        float *rm = s_random (C, -1, 1), *rv = s_random (C, 0.1f, 3);
        const float special [] = { NAN, INFINITY, -INFINITY, -0.0f, 0.0f, 3.0f, -3.0f, 6.0f, 1e-40f };
        for (size_t i = 0; i < 9; i++)
            x [(i * 7919) % n] = special [i];
        float *ref = s_alloc (n), *tmp = s_alloc (n), *y = s_alloc (n);
        float save [2 * 5000];
        for (int variant = 0; variant < 4 * 5; variant++) {
            bool with_bias = variant & 1, with_bn = variant & 2;
            fg_act_t act = acts [variant / 4];
            for (size_t i = 0; i < n; i++)
                tmp [i] = with_bias? x [i] + bias [i % C]: x [i];
            if (with_bn)
                assert_int_equal (fg_bn_forward (m, (int) C, tmp, gamma, beta, rm, rv, 0.1f,
                                                 1e-5f, false, save, save + C, tmp, NULL), 0);
            assert_int_equal (fg_act_forward (act, n, tmp, ref, NULL), 0);
            fg_epilogue_t e = { .bias = with_bias? bias: NULL, .act = act };
            if (with_bn) {
                e.gamma = gamma; e.beta = beta; e.running_mean = rm; e.running_var = rv;
                e.eps = 1e-5f;
            }
            for (int threads = 1; threads <= 2; threads++) {
                fg_ops_ctx_t *ctx = fg_ops_ctx_new (threads);
                assert_int_equal (fg_epilogue_forward (ctx, m, (int) C, &e, x, y, NULL), 0);
                assert_memory_equal (y, ref, n * sizeof (float));
                memcpy (y, x, n * sizeof (float));
                assert_int_equal (fg_epilogue_forward (ctx, m, (int) C, &e, y, y, NULL), 0);
                assert_memory_equal (y, ref, n * sizeof (float));
                fg_ops_ctx_destroy (&ctx);
            }
        }
        free (x); free (bias); free (gamma); free (beta); free (rm); free (rv);
        free (ref); free (tmp); free (y);
    }
    fg_ops_ctx_t *ctx = fg_ops_ctx_new (1);
    fg_error_t err;
    float v [4] = { 0 };
    fg_epilogue_t bad = { .gamma = v, .act = FG_ACT_RELU };     //  no beta
    assert_int_equal (fg_epilogue_forward (ctx, 1, 4, &bad, v, v, &err), FG_EINVAL);
    bad.gamma = NULL;
    bad.act = (fg_act_t) 99;
    assert_int_equal (fg_epilogue_forward (ctx, 1, 4, &bad, v, v, &err), FG_EINVAL);
    fg_ops_ctx_destroy (&ctx);
}

//  The context forms of the element-wise layers at 2 threads equal the
//  plain calls bit for bit (sizes above FG_OPS_PAR_MIN, a tail that is not
//  a multiple of 16).
static void
test_ctx_forms (void **state)
{
    s_seed (13);
    fg_ops_ctx_t *ctx = fg_ops_ctx_new (2);
    const size_t N = 5, H = 20, W = 18, C = 33, n = N * H * W * C;
    float *x = s_random (n, -5, 5), *dy = s_random (n, -1, 1), *b = s_random (n, -1, 1);
    x [3] = NAN;
    float *y0 = s_alloc (n), *y1 = s_alloc (n);
    const fg_act_t acts [] = { FG_ACT_RELU, FG_ACT_RELU6, FG_ACT_HARDSIGMOID, FG_ACT_HARDSWISH };
    for (int a = 0; a < 4; a++) {
        assert_int_equal (fg_act_forward (acts [a], n - 5, x, y0, NULL), 0);
        assert_int_equal (fg_act_forward_ctx (ctx, acts [a], n - 5, x, y1, NULL), 0);
        assert_memory_equal (y0, y1, (n - 5) * sizeof (float));
        assert_int_equal (fg_act_backward (acts [a], n - 5, x, dy, y0, NULL), 0);
        assert_int_equal (fg_act_backward_ctx (ctx, acts [a], n - 5, x, dy, y1, NULL), 0);
        assert_memory_equal (y0, y1, (n - 5) * sizeof (float));
    }
    fg_pool_shape_t ps = { (int) N, (int) H, (int) W, (int) C, 2, 2, 2, 2, 0, 0 };
    size_t np = N * (H / 2) * (W / 2) * C;
    assert_int_equal (fg_maxpool_forward (&ps, x, y0, NULL), 0);
    assert_int_equal (fg_maxpool_forward_ctx (ctx, &ps, x, y1, NULL), 0);
    assert_memory_equal (y0, y1, np * sizeof (float));
    assert_int_equal (fg_maxpool_backward (&ps, x, dy, y0, NULL), 0);
    assert_int_equal (fg_maxpool_backward_ctx (ctx, &ps, x, dy, y1, NULL), 0);
    assert_memory_equal (y0, y1, n * sizeof (float));
    fg_gap_forward (N, H * W, C, x, y0);
    fg_gap_forward_ctx (ctx, N, H * W, C, x, y1);
    assert_memory_equal (y0, y1, N * C * sizeof (float));
    fg_scale_forward (N, H * W, C, x, b, y0);
    fg_scale_forward_ctx (ctx, N, H * W, C, x, b, y1);
    assert_memory_equal (y0, y1, n * sizeof (float));
    fg_add_forward (n - 7, x, b, y0);
    fg_add_forward_ctx (ctx, n - 7, x, b, y1);
    assert_memory_equal (y0, y1, (n - 7) * sizeof (float));
    assert_int_equal (fg_act_forward_ctx (ctx, (fg_act_t) 99, n, x, y1, NULL), FG_EINVAL);
    ps.kh = 0;
    assert_int_equal (fg_maxpool_forward_ctx (ctx, &ps, x, y1, NULL), FG_EINVAL);
    free (x); free (dy); free (b); free (y0); free (y1);
    fg_ops_ctx_destroy (&ctx);
}

//  The same forward/backward with 1 and with 2 BLIS threads: memcmp-equal.
static void
s_determinism_case (fg_conv_shape_t s)
{
    int oh, ow;
    assert_int_equal (fg_conv_check (&s, &oh, &ow, NULL), 0);
    size_t nx = (size_t) s.n * s.h * s.w * s.c, nw = fg_conv_weight_count (&s);
    size_t ny = (size_t) s.n * oh * ow * s.k;
    float *x = s_random (nx, -1, 1), *w = s_random (nw, -1, 1);
    float *b = s_random ((size_t) s.k, -1, 1), *dy = s_random (ny, -1, 1);
    float *y [2], *dx [2], *dw [2], *db [2];
    for (int t = 0; t < 2; t++) {
        fg_ops_ctx_t *ctx = fg_ops_ctx_new (t + 1);
        assert_int_equal (fg_ops_ctx_threads (ctx), t + 1);
        y [t] = s_alloc (ny); dx [t] = s_alloc (nx); dw [t] = s_alloc (nw);
        db [t] = s_alloc ((size_t) s.k);
        assert_int_equal (fg_conv_forward (ctx, &s, x, w, b, y [t], NULL), 0);
        //  twice, so accumulation into dw is covered too
        for (int rep = 0; rep < 2; rep++)
            assert_int_equal (fg_conv_backward (ctx, &s, x, w, dy, dx [t], dw [t],
                                                db [t], NULL), 0);
        fg_ops_ctx_destroy (&ctx);
    }
    assert_memory_equal (y [0], y [1], ny * sizeof (float));
    assert_memory_equal (dx [0], dx [1], nx * sizeof (float));
    assert_memory_equal (dw [0], dw [1], nw * sizeof (float));
    assert_memory_equal (db [0], db [1], (size_t) s.k * sizeof (float));
    for (int t = 0; t < 2; t++) {
        free (y [t]); free (dx [t]); free (dw [t]); free (db [t]);
    }
    free (x); free (w); free (b); free (dy);
}

static void
test_determinism_threads (void **state)
{
    s_seed (3);
    //  3x3 im2col (large enough for BLIS to split work), 1x1 direct,
    //  strided grouped, depthwise
    s_determinism_case ((fg_conv_shape_t) { 8, 16, 16, 32, 64, 3, 3, 1, 1, 1, 1, 1 });
    s_determinism_case ((fg_conv_shape_t) { 8, 16, 16, 64, 96, 1, 1, 1, 1, 0, 0, 1 });
    s_determinism_case ((fg_conv_shape_t) { 4, 16, 16, 32, 64, 3, 3, 2, 2, 1, 1, 2 });
    s_determinism_case ((fg_conv_shape_t) { 4, 16, 16, 48, 48, 5, 5, 1, 1, 2, 2, 48 });
    //  a sweep of random shapes (all paths, BLIS's small-matrix "sup" path
    //  and its large path), 1 vs 2 threads
    for (int i = 0; i < 12; i++) {
        int c = 1 + (int) fg_rng_below (&s_rng, 48), kk = 1 + (int) fg_rng_below (&s_rng, 80);
        int ks = 1 + 2 * (int) fg_rng_below (&s_rng, 3), st = 1 + (int) fg_rng_below (&s_rng, 2);
        int g = i % 4 == 1? c: i % 4 == 2 && c % 2 == 0? 2: 1;
        if (g == c)
            kk = c;
        if (kk % g)
            kk *= g;
        int hw = ks + (int) fg_rng_below (&s_rng, 20);
        s_determinism_case ((fg_conv_shape_t) { 1 + (int) fg_rng_below (&s_rng, 6), hw, hw, c, kk,
                                                ks, ks, st, st, ks / 2, ks / 2, g });
    }
    //  linear, 1 vs 2 threads
    int n = 64, in = 512, out = 200;
    float *x = s_random ((size_t) n * in, -1, 1), *w = s_random ((size_t) out * in, -1, 1);
    float *dy = s_random ((size_t) n * out, -1, 1);
    float *y [2], *dx [2], *dw [2];
    for (int t = 0; t < 2; t++) {
        fg_ops_ctx_t *ctx = fg_ops_ctx_new (t + 1);
        y [t] = s_alloc ((size_t) n * out); dx [t] = s_alloc ((size_t) n * in);
        dw [t] = s_alloc ((size_t) out * in);
        assert_int_equal (fg_linear_forward (ctx, n, in, out, x, w, NULL, y [t], NULL), 0);
        assert_int_equal (fg_linear_backward (ctx, n, in, out, x, w, dy, dx [t], dw [t],
                                              NULL, NULL), 0);
        fg_ops_ctx_destroy (&ctx);
    }
    assert_memory_equal (y [0], y [1], (size_t) n * out * sizeof (float));
    assert_memory_equal (dx [0], dx [1], (size_t) n * in * sizeof (float));
    assert_memory_equal (dw [0], dw [1], (size_t) out * in * sizeof (float));
    for (int t = 0; t < 2; t++) {
        free (y [t]); free (dx [t]); free (dw [t]);
    }
    free (x); free (w); free (dy);
}

static void
test_conv_rejects (void **state)
{
    fg_ops_ctx_t *ctx = fg_ops_ctx_new (0);
    assert_int_equal (fg_ops_ctx_threads (ctx), 1);
    fg_ops_ctx_set_threads (ctx, -3);
    assert_int_equal (fg_ops_ctx_threads (ctx), 1);
    float buf [64] = { 0 };
    fg_error_t err;
    const fg_conv_shape_t good = { 1, 4, 4, 2, 2, 3, 3, 1, 1, 1, 1, 1 };
    assert_int_equal (fg_conv_check (&good, NULL, NULL, NULL), 0);
    fg_conv_shape_t bad [] = {
        { 0, 4, 4, 2, 2, 3, 3, 1, 1, 1, 1, 1 },         //  no images
        { 1, 4, 4, 0, 2, 3, 3, 1, 1, 1, 1, 1 },         //  no channels
        { 1, 4, 4, 2, -1, 3, 3, 1, 1, 1, 1, 1 },        //  negative k
        { 1, 4, 4, 2, 2, 0, 3, 1, 1, 1, 1, 1 },         //  empty kernel
        { 1, 4, 4, 2, 2, 3, 3, 0, 1, 1, 1, 1 },         //  zero stride
        { 1, 4, 4, 2, 2, 3, 3, 1, 1, -1, 1, 1 },        //  negative padding
        { 1, 4, 4, 3, 2, 3, 3, 1, 1, 1, 1, 2 },         //  groups not dividing c
        { 1, 4, 4, 2, 3, 3, 3, 1, 1, 1, 1, 2 },         //  groups not dividing k
        { 1, 4, 4, 2, 2, 3, 3, 1, 1, 1, 1, 0 },         //  zero groups
        { 1, 2, 4, 2, 2, 5, 3, 1, 1, 1, 1, 1 },         //  kernel > padded input
        { 1 << 20, 1 << 20, 1 << 20, 4, 2, 3, 3, 1, 1, 1, 1, 1 },  //  overflow
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        fg_error_clear (&err);
        int oh = -7;
        assert_int_equal (fg_conv_check (&bad [i], &oh, NULL, &err), FG_EINVAL);
        assert_int_equal (err.code, FG_EINVAL);
        assert_non_null (strstr (err.msg, "conv"));
        assert_int_equal (oh, -7);
        assert_int_equal (fg_conv_weight_count (&bad [i]), 0);
        assert_int_equal (fg_conv_forward (ctx, &bad [i], buf, buf, NULL, buf, &err), FG_EINVAL);
        assert_int_equal (fg_conv_backward (ctx, &bad [i], buf, buf, buf, buf, buf, buf, &err),
                          FG_EINVAL);
    }
    assert_int_equal (fg_conv_check (NULL, NULL, NULL, &err), FG_EINVAL);
    fg_error_clear (&err);
    assert_int_equal (fg_conv_check (&bad [6], NULL, NULL, &err), FG_EINVAL);
    assert_non_null (strstr (err.msg, "groups 2"));
    assert_int_equal (fg_conv_forward (ctx, &good, NULL, buf, NULL, buf, &err), FG_EINVAL);
    assert_int_equal (fg_conv_forward (ctx, &good, buf, NULL, NULL, buf, &err), FG_EINVAL);
    assert_int_equal (fg_conv_forward (ctx, &good, buf, buf, NULL, NULL, &err), FG_EINVAL);
    assert_int_equal (fg_conv_forward (NULL, &good, buf, buf, NULL, buf, &err), FG_EINVAL);
    assert_int_equal (fg_conv_backward (ctx, &good, buf, buf, NULL, buf, buf, NULL, &err),
                      FG_EINVAL);
    //  nothing requested: a valid no-op
    assert_int_equal (fg_conv_backward (ctx, &good, buf, buf, buf, NULL, NULL, NULL, &err), 0);
    fg_ops_ctx_destroy (&ctx);
}

//  The checked BLIS door rejects views BLIS would abort on.
static void
test_gemm_views (void **state)
{
    fg_ops_ctx_t *ctx = fg_ops_ctx_new (1);
    float a [6] = { 1, 2, 3, 4, 5, 6 }, b [6] = { 1, 0, 0, 1, 1, 1 }, c [4];
    fg_error_t err;
    //  (2x3) * (3x2), row-major
    assert_int_equal (fg_ops_gemm (ctx, "t", 2, 2, 3, 1.0f, a, 3, 1, b, 2, 1, 0.0f,
                                   c, 2, 1, &err), 0);
    float want [4] = { 1 + 3, 2 + 3, 4 + 6, 5 + 6 };
    assert_memory_equal (c, want, sizeof c);
    //  A^T via strides: (3x2)^T
    assert_int_equal (fg_ops_gemm (ctx, "t", 2, 2, 3, 1.0f, a, 1, 2, b, 2, 1, 0.0f,
                                   c, 2, 1, &err), 0);
    //  bad strides: leading stride too short, both non-unit, zero
    fg_error_clear (&err);
    assert_int_equal (fg_ops_gemm (ctx, "here", 2, 2, 3, 1.0f, a, 2, 1, b, 2, 1, 0.0f,
                                   c, 2, 1, &err), FG_EINVAL);
    assert_non_null (strstr (err.msg, "here"));
    assert_non_null (strstr (err.msg, "A view"));
    assert_int_equal (fg_ops_gemm (ctx, "t", 2, 2, 3, 1.0f, a, 3, 2, b, 2, 1, 0.0f,
                                   c, 2, 1, &err), FG_EINVAL);
    assert_int_equal (fg_ops_gemm (ctx, "t", 2, 2, 3, 1.0f, a, 3, 1, b, 1, 1, 0.0f,
                                   c, 2, 1, &err), FG_EINVAL);
    assert_int_equal (fg_ops_gemm (ctx, "t", 2, 2, 3, 1.0f, a, 3, 1, b, 2, 1, 0.0f,
                                   c, 0, 1, &err), FG_EINVAL);
    assert_int_equal (fg_ops_gemm (ctx, "t", 2, 2, 3, 1.0f, NULL, 3, 1, b, 2, 1, 0.0f,
                                   c, 2, 1, &err), FG_EINVAL);
    assert_int_equal (fg_ops_gemm (ctx, "t", (size_t) 1 << 41, 2, 3, 1.0f, a, 3, 1, b, 2, 1,
                                   0.0f, c, 2, 1, &err), FG_EINVAL);
    //  k == 0: C = beta * C without BLIS
    float c2 [4] = { 1, 2, 3, 4 };
    assert_int_equal (fg_ops_gemm (ctx, "t", 2, 2, 0, 1.0f, NULL, 0, 0, NULL, 0, 0, 2.0f,
                                   c2, 2, 1, &err), 0);
    float want2 [4] = { 2, 4, 6, 8 };
    assert_memory_equal (c2, want2, sizeof c2);
    //  the BLIS kernel is named for the journal
    char info [64];
    fg_ops_blis_info (info, sizeof info);
    assert_true (strlen (info) > 2);
    assert_non_null (strchr (info, ' '));
    //  ... starting with the kernels' identity, which extends the GEMM's
    const char *id = fg_ops_kernel_identity ();
    assert_memory_equal (id, FG_GEMM_IDENTITY " ", strlen (FG_GEMM_IDENTITY) + 1);
    assert_memory_equal (info, id, strlen (id));
    assert_int_equal (info [strlen (id)], ' ');
    assert_true (fg_ops_ctx_scratch_bytes (ctx) == 0);
    assert_non_null (fg_ops_scratch (ctx, FG_SCRATCH_COL, 10000));
    assert_true (fg_ops_ctx_scratch_bytes (ctx) >= 10000);
    fg_ops_ctx_destroy (&ctx);
}

//  ---------------------------------------------------------------------------
//  Batch norm

typedef struct {
    size_t m;
    int c;
    bool training;
    float *x, *gamma, *beta, *rm, *rv, *mean, *invstd, *y, *r;
} bn_case_t;

static double
s_bn_loss (void *arg)
{
    bn_case_t *bc = arg;
    //  the running statistics must not change between evaluations
    size_t C = (size_t) bc->c;
    float rm [64], rv [64];
    assert_true (C <= 64);
    memcpy (rm, bc->rm, C * sizeof (float));
    memcpy (rv, bc->rv, C * sizeof (float));
    assert_int_equal (fg_bn_forward (bc->m, bc->c, bc->x, bc->gamma, bc->beta, rm, rv,
                                     0.1f, 1e-5f, bc->training, bc->mean, bc->invstd,
                                     bc->y, NULL), 0);
    return s_dot (bc->y, bc->r, bc->m * C);
}

static void
s_bn_case (size_t m, int c, bool training)
{
    size_t C = (size_t) c, n = m * C;
    bn_case_t bc = { m, c, training, s_random (n, -2, 3), s_random (C, 0.5f, 1.5f),
                     s_random (C, -1, 1), s_random (C, -0.5f, 0.5f), s_random (C, 0.5f, 2),
                     s_alloc (C), s_alloc (C), s_alloc (n), s_random (n, -1, 1) };
    //  forward against the formula, running statistics against torch's rule
    float *rm0 = s_copy (bc.rm, C), *rv0 = s_copy (bc.rv, C);
    assert_int_equal (fg_bn_forward (m, c, bc.x, bc.gamma, bc.beta, bc.rm, bc.rv, 0.1f,
                                     1e-5f, training, bc.mean, bc.invstd, bc.y, NULL), 0);
    double *want = calloc (n, sizeof (double));
    for (size_t j = 0; j < C; j++) {
        double mean = 0, var = 0;
        for (size_t i = 0; i < m; i++)
            mean += bc.x [i * C + j];
        mean /= (double) m;
        for (size_t i = 0; i < m; i++)
            var += (bc.x [i * C + j] - mean) * (bc.x [i * C + j] - mean);
        double unbiased = var / (double) (m - 1);
        var /= (double) m;
        double um = training? mean: rm0 [j], uv = training? var: rv0 [j];
        for (size_t i = 0; i < m; i++)
            want [i * C + j] = (bc.x [i * C + j] - um) / sqrt (uv + 1e-5) * bc.gamma [j]
                             + bc.beta [j];
        double wrm = training? 0.9 * rm0 [j] + 0.1 * mean: rm0 [j];
        double wrv = training? 0.9 * rv0 [j] + 0.1 * unbiased: rv0 [j];
        assert_true (fabs (bc.rm [j] - wrm) <= 1e-6 * (1 + fabs (wrm)));
        assert_true (fabs (bc.rv [j] - wrv) <= 1e-6 * (1 + fabs (wrv)));
        assert_true (fabs (bc.mean [j] - um) <= 1e-6 * (1 + fabs (um)));
    }
    s_expect_close ("bn forward", bc.y, want, n, 1e-5, 1e-5);
    free (want);
    memcpy (bc.rm, rm0, C * sizeof (float));
    memcpy (bc.rv, rv0, C * sizeof (float));

    //  backward (dgamma/dbeta accumulate from 1) vs finite differences
    s_bn_loss (&bc);
    float *dx = s_random (n, 50, 60), *dg = s_alloc (C), *dbeta = s_alloc (C);
    for (size_t j = 0; j < C; j++)
        dg [j] = dbeta [j] = 1.0f;
    assert_int_equal (fg_bn_backward (m, c, bc.x, bc.gamma, bc.mean, bc.invstd, training,
                                      bc.r, dx, dg, dbeta, NULL), 0);
    for (size_t j = 0; j < C; j++) {
        dg [j] -= 1.0f;
        dbeta [j] -= 1.0f;
    }
    //  against the formulas in double
    double *rdx = calloc (n, sizeof (double)), rdg [64], rdb [64];
    assert_true (C <= 64);
    for (size_t j = 0; j < C; j++) {
        double mean = 0, var = 0;
        for (size_t i = 0; i < m; i++)
            mean += bc.x [i * C + j];
        mean /= (double) m;
        for (size_t i = 0; i < m; i++)
            var += (bc.x [i * C + j] - mean) * (bc.x [i * C + j] - mean);
        var /= (double) m;
        double um = training? mean: rm0 [j], uv = training? var: rv0 [j];
        double is = 1 / sqrt (uv + 1e-5), sdy = 0, sdyxh = 0;
        for (size_t i = 0; i < m; i++) {
            sdy += bc.r [i * C + j];
            sdyxh += bc.r [i * C + j] * (bc.x [i * C + j] - um) * is;
        }
        rdb [j] = sdy;
        rdg [j] = sdyxh;
        for (size_t i = 0; i < m; i++) {
            double xh = (bc.x [i * C + j] - um) * is;
            rdx [i * C + j] = training
                ? bc.gamma [j] * is * (bc.r [i * C + j] - sdy / m - xh * sdyxh / m)
                : bc.gamma [j] * is * bc.r [i * C + j];
        }
    }
    s_expect_close ("bn dx", dx, rdx, n, 1e-5, 1e-5);
    s_expect_close ("bn dgamma", dg, rdg, C, 1e-5, 1e-5);
    s_expect_close ("bn dbeta", dbeta, rdb, C, 1e-5, 1e-5);
    free (rdx);
    fd_var_t vars [3] = { { "x", bc.x, dx, n }, { "gamma", bc.gamma, dg, C },
                          { "beta", bc.beta, dbeta, C } };
    s_fd_check (training? "bn train": "bn eval", s_bn_loss, &bc, vars, 3,
                1e-2, 1e-3, 1e-4, 300);
    //  dx may alias dy
    float *dyx = s_copy (bc.r, n);
    assert_int_equal (fg_bn_backward (m, c, bc.x, bc.gamma, bc.mean, bc.invstd, training,
                                      dyx, dyx, NULL, NULL, NULL), 0);
    assert_memory_equal (dyx, dx, n * sizeof (float));
    free (dyx); free (dx); free (dg); free (dbeta); free (rm0); free (rv0);
    free (bc.x); free (bc.gamma); free (bc.beta); free (bc.rm); free (bc.rv);
    free (bc.mean); free (bc.invstd); free (bc.y); free (bc.r);
}

static void
test_batchnorm (void **state)
{
    s_seed (4);
    s_bn_case (24, 5, true);
    s_bn_case (24, 5, false);
    s_bn_case (7, 3, true);
    s_bn_case (2, 1, true);         //  the smallest batch torch accepts
    //  rejections
    float v [8] = { 0 };
    fg_error_t err;
    assert_int_equal (fg_bn_forward (1, 4, v, v, v, v, v, 0.1f, 1e-5f, true, v, v, v, &err),
                      FG_EINVAL);
    assert_non_null (strstr (err.msg, "more than 1 value"));
    assert_int_equal (fg_bn_forward (1, 4, v, v, v, v, v, 0.1f, 1e-5f, false, v, v, v, &err),
                      0);
    assert_int_equal (fg_bn_forward (2, 0, v, v, v, v, v, 0.1f, 1e-5f, true, v, v, v, &err),
                      FG_EINVAL);
    assert_int_equal (fg_bn_forward (2, 4, v, v, v, v, v, 1.5f, 1e-5f, true, v, v, v, &err),
                      FG_EINVAL);
    assert_int_equal (fg_bn_forward (2, 4, v, v, v, v, v, 0.1f, 0.0f, true, v, v, v, &err),
                      FG_EINVAL);
    assert_int_equal (fg_bn_forward (2, 4, v, v, NULL, v, v, 0.1f, 1e-5f, true, v, v, v, &err),
                      FG_EINVAL);
    assert_int_equal (fg_bn_backward (0, 4, v, v, v, v, true, v, v, v, v, &err), FG_EINVAL);
    assert_int_equal (fg_bn_backward (2, 4, v, v, v, v, true, NULL, v, v, v, &err), FG_EINVAL);
    //  a large channel count (heap accumulators) still agrees with a small one
    size_t C = 1500, m = 3;
    float *x = s_random (m * C, -1, 1), *g = s_random (C, 1, 2), *b = s_random (C, 0, 1);
    float *rm = s_alloc (C), *rv = s_alloc (C), *mean = s_alloc (C), *is = s_alloc (C);
    float *y = s_alloc (m * C), *dx = s_alloc (m * C), *dg = s_alloc (C);
    assert_int_equal (fg_bn_forward (m, (int) C, x, g, b, rm, rv, 0.1f, 1e-5f, true, mean, is,
                                     y, NULL), 0);
    assert_int_equal (fg_bn_backward (m, (int) C, x, g, mean, is, true, y, dx, dg, NULL, NULL), 0);
    float xs [3], ys [3], dxs [3], gs = g [777], bs = b [777], rms = 0, rvs = 0, ms, iss, dgs = 0;
    for (size_t i = 0; i < m; i++)
        xs [i] = x [i * C + 777];
    assert_int_equal (fg_bn_forward (m, 1, xs, &gs, &bs, &rms, &rvs, 0.1f, 1e-5f, true, &ms, &iss,
                                     ys, NULL), 0);
    assert_int_equal (fg_bn_backward (m, 1, xs, &gs, &ms, &iss, true, ys, dxs, &dgs, NULL, NULL), 0);
    for (size_t i = 0; i < m; i++) {
        assert_true (ys [i] == y [i * C + 777]);
        assert_true (dxs [i] == dx [i * C + 777]);
    }
    assert_true (dgs == dg [777]);
    free (x); free (g); free (b); free (rm); free (rv); free (mean); free (is); free (y);
    free (dx); free (dg);
}

//  ---------------------------------------------------------------------------
//  Activations

typedef struct {
    fg_act_t act;
    size_t n;
    float *x, *y, *r;
} act_case_t;

static double
s_act_loss (void *arg)
{
    act_case_t *ac = arg;
    assert_int_equal (fg_act_forward (ac->act, ac->n, ac->x, ac->y, NULL), 0);
    return s_dot (ac->y, ac->r, ac->n);
}

static void
test_activations (void **state)
{
    s_seed (5);
    const fg_act_t acts [] = { FG_ACT_IDENTITY, FG_ACT_RELU, FG_ACT_RELU6,
                               FG_ACT_HARDSIGMOID, FG_ACT_HARDSWISH };
    const float kinks [] = { 0.0f, 6.0f, 3.0f, -3.0f };
    const double eps = 1e-2;
    for (size_t a = 0; a < sizeof acts / sizeof acts [0]; a++) {
        //  inputs over [-8, 8], none within 3*eps of a kink
        size_t n = 400;
        act_case_t ac = { acts [a], n, s_alloc (n), s_alloc (n), s_random (n, -1, 1) };
        for (size_t i = 0; i < n; i++) {
            float v;
            bool near;
            do {
                v = -8.0f + 16.0f * fg_rng_uniform (&s_rng);
                near = false;
                for (size_t k = 0; k < 4; k++)
                    near |= fabsf (v - kinks [k]) < 3 * eps;
            } while (near);
            ac.x [i] = v;
        }
        //  forward against the definition
        assert_int_equal (fg_act_forward (ac.act, n, ac.x, ac.y, NULL), 0);
        for (size_t i = 0; i < n; i++) {
            double v = ac.x [i], want;
            switch (ac.act) {
                case FG_ACT_RELU:        want = fmax (0, v); break;
                case FG_ACT_RELU6:       want = fmin (fmax (0, v), 6); break;
                case FG_ACT_HARDSIGMOID: want = fmin (fmax (v + 3, 0), 6) / 6; break;
                case FG_ACT_HARDSWISH:   want = v * fmin (fmax (v + 3, 0), 6) / 6; break;
                default:                 want = v;
            }
            assert_true (fabs (ac.y [i] - want) <= 1e-6 * (1 + fabs (want)));
        }
        float *dx = s_alloc (n);
        assert_int_equal (fg_act_backward (ac.act, n, ac.x, ac.r, dx, NULL), 0);
        fd_var_t var = { "x", ac.x, dx, n };
        s_fd_check (fg_act_name (ac.act), s_act_loss, &ac, &var, 1, eps, 1e-3, 1e-4, n);
        //  in place: y may alias x, dx may alias dy
        float *inplace = s_copy (ac.x, n);
        assert_int_equal (fg_act_forward (ac.act, n, inplace, inplace, NULL), 0);
        assert_int_equal (fg_act_forward (ac.act, n, ac.x, ac.y, NULL), 0);
        assert_memory_equal (inplace, ac.y, n * sizeof (float));
        float *g = s_copy (ac.r, n);
        assert_int_equal (fg_act_backward (ac.act, n, ac.x, g, g, NULL), 0);
        assert_memory_equal (g, dx, n * sizeof (float));
        free (inplace); free (g); free (dx); free (ac.x); free (ac.y); free (ac.r);
    }
    //  PyTorch's derivative exactly at the kinks
    const float at [] = { -3.0f, 0.0f, 3.0f, 6.0f };
    const float want [5][4] = {
        { 1, 1, 1, 1 },                             //  identity
        { 0, 0, 1, 1 },                             //  relu: x > 0
        { 0, 0, 1, 0 },                             //  relu6: 0 < x < 6
        { 0, 1.0f / 6, 0, 0 },                      //  hardsigmoid: -3 < x < 3
        { -0.5f, 0.5f, 1.5f, 1 },                   //  hardswish: x/3 + 1/2 on [-3,3]
    };
    const float ones [4] = { 1, 1, 1, 1 };
    for (size_t a = 0; a < 5; a++) {
        float dx [4];
        assert_int_equal (fg_act_backward (acts [a], 4, at, ones, dx, NULL), 0);
        for (size_t i = 0; i < 4; i++)
            assert_true (dx [i] == want [a][i]);
    }
    //  NaN propagates (PyTorch), so divergence reaches the loss
    for (size_t a = 0; a < 5; a++) {
        float nan = NAN, y;
        assert_int_equal (fg_act_forward (acts [a], 1, &nan, &y, NULL), 0);
        assert_true (isnan (y));
    }
    float v = 1;
    fg_error_t err;
    assert_int_equal (fg_act_forward ((fg_act_t) 99, 1, &v, &v, &err), FG_EINVAL);
    assert_int_equal (fg_act_backward ((fg_act_t) 99, 1, &v, &v, &v, &err), FG_EINVAL);
    assert_int_equal (fg_act_forward (FG_ACT_RELU, 1, NULL, &v, &err), FG_EINVAL);
    assert_string_equal (fg_act_name ((fg_act_t) 99), "unknown");
    assert_string_equal (fg_act_name (FG_ACT_HARDSWISH), "hardswish");
}

//  ---------------------------------------------------------------------------
//  Pooling

typedef struct {
    fg_pool_shape_t s;
    bool max;
    float *x, *y, *r;
    size_t ny;
} pool_case_t;

static double
s_pool_loss (void *arg)
{
    pool_case_t *pc = arg;
    if (pc->max)
        assert_int_equal (fg_maxpool_forward (&pc->s, pc->x, pc->y, NULL), 0);
    else
        assert_int_equal (fg_avgpool_forward (&pc->s, pc->x, pc->y, NULL), 0);
    return s_dot (pc->y, pc->r, pc->ny);
}

static void
s_pool_case (fg_pool_shape_t s, bool max)
{
    int oh, ow;
    assert_int_equal (fg_pool_check (&s, &oh, &ow, NULL), 0);
    size_t nx = (size_t) s.n * s.h * s.w * s.c, ny = (size_t) s.n * oh * ow * s.c;
    pool_case_t pc = { s, max, s_alloc (nx), s_alloc (ny), s_random (ny, -1, 1), ny };
    //  distinct values 0.05 apart in shuffled order: no ties, and a step of
    //  0.01 never changes which element is the maximum
    uint32_t *perm = malloc (nx * sizeof (uint32_t));
    fg_rng_permutation (&s_rng, perm, nx);
    for (size_t i = 0; i < nx; i++)
        pc.x [i] = 0.05f * (float) perm [i] - 1.0f;
    free (perm);
    assert_int_equal (s_pool_loss (&pc) == s_pool_loss (&pc), 1);
    //  forward against the definition
    double *want = calloc (ny, sizeof (double));
    for (int n = 0; n < s.n; n++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++)
                for (int c = 0; c < s.c; c++) {
                    double acc = max? -INFINITY: 0.0;
                    for (int i = 0; i < s.kh; i++)
                        for (int j = 0; j < s.kw; j++) {
                            int iy = oy * s.sh - s.ph + i, ix = ox * s.sw - s.pw + j;
                            if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w)
                                continue;
                            double v = pc.x [((n * s.h + iy) * s.w + ix) * s.c + c];
                            acc = max? fmax (acc, v): acc + v;
                        }
                    want [((n * oh + oy) * ow + ox) * s.c + c] = max? acc: acc / (s.kh * s.kw);
                }
    s_expect_close (max? "maxpool": "avgpool", pc.y, want, ny, 1e-6, 1e-6);
    free (want);
    float *dx = s_random (nx, 7, 8);
    if (max)
        assert_int_equal (fg_maxpool_backward (&s, pc.x, pc.r, dx, NULL), 0);
    else
        assert_int_equal (fg_avgpool_backward (&s, pc.r, dx, NULL), 0);
    fd_var_t var = { "x", pc.x, dx, nx };
    s_fd_check (max? "maxpool": "avgpool", s_pool_loss, &pc, &var, 1, 0.01, 1e-3, 1e-4, 500);
    free (dx); free (pc.x); free (pc.y); free (pc.r);
}

static void
test_pooling (void **state)
{
    s_seed (6);
    for (int max = 0; max < 2; max++) {
        //  n, h, w, c, kh, kw, sh, sw, ph, pw
        s_pool_case ((fg_pool_shape_t) { 2, 6, 6, 3, 2, 2, 2, 2, 0, 0 }, max);   //  VGG
        s_pool_case ((fg_pool_shape_t) { 2, 7, 7, 2, 3, 3, 2, 2, 1, 1 }, max);   //  overlapping, padded
        s_pool_case ((fg_pool_shape_t) { 1, 5, 6, 4, 2, 3, 1, 2, 1, 0 }, max);
        s_pool_case ((fg_pool_shape_t) { 3, 1, 1, 5, 1, 1, 1, 1, 0, 0 }, max);
    }
    //  max pool ties: the gradient goes to the first maximum in window order
    fg_pool_shape_t s = { 1, 2, 2, 1, 2, 2, 2, 2, 0, 0 };
    float x [4] = { 1, 3, 3, 3 }, dy = 5, dx [4];
    assert_int_equal (fg_maxpool_backward (&s, x, &dy, dx, NULL), 0);
    float want [4] = { 0, 5, 0, 0 };
    assert_memory_equal (dx, want, sizeof dx);
    //  NaN wins (the last NaN of the window, as PyTorch), forward and backward
    float xn [4] = { 1, NAN, 3, NAN }, yn;
    assert_int_equal (fg_maxpool_forward (&s, xn, &yn, NULL), 0);
    assert_true (isnan (yn));
    assert_int_equal (fg_maxpool_backward (&s, xn, &dy, dx, NULL), 0);
    float want_nan [4] = { 0, 0, 0, 5 };
    assert_memory_equal (dx, want_nan, sizeof dx);
    //  many channels (running maxima on the heap) agree with one channel
    {
        fg_pool_shape_t big = { 2, 5, 5, 1100, 3, 3, 2, 2, 1, 1 }, one = big;
        one.c = 1;
        size_t nx = 2 * 25 * 1100, ny = 2 * 9 * 1100;
        float *bx = s_random (nx, -1, 1), *bdy = s_random (ny, -1, 1), *bdx = s_alloc (nx);
        float sx [50], sdy [18], sdx [50];
        assert_int_equal (fg_maxpool_backward (&big, bx, bdy, bdx, NULL), 0);
        for (size_t i = 0; i < 50; i++)
            sx [i] = bx [i * 1100 + 700];
        for (size_t i = 0; i < 18; i++)
            sdy [i] = bdy [i * 1100 + 700];
        assert_int_equal (fg_maxpool_backward (&one, sx, sdy, sdx, NULL), 0);
        for (size_t i = 0; i < 50; i++)
            assert_true (sdx [i] == bdx [i * 1100 + 700]);
        free (bx); free (bdy); free (bdx);
    }
    //  rejections
    fg_error_t err;
    fg_pool_shape_t bad [] = {
        { 0, 2, 2, 1, 2, 2, 2, 2, 0, 0 },
        { 1, 2, 2, 1, 0, 2, 2, 2, 0, 0 },
        { 1, 2, 2, 1, 2, 2, 0, 2, 0, 0 },
        { 1, 2, 2, 1, 2, 2, 2, 2, 2, 0 },           //  padding > half the window
        { 1, 2, 2, 1, 3, 3, 1, 1, 0, 0 },           //  window > input
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        assert_int_equal (fg_pool_check (&bad [i], NULL, NULL, &err), FG_EINVAL);
        assert_int_equal (fg_maxpool_forward (&bad [i], x, dx, &err), FG_EINVAL);
        assert_int_equal (fg_maxpool_backward (&bad [i], x, &dy, dx, &err), FG_EINVAL);
        assert_int_equal (fg_avgpool_forward (&bad [i], x, dx, &err), FG_EINVAL);
        assert_int_equal (fg_avgpool_backward (&bad [i], &dy, dx, &err), FG_EINVAL);
    }
    assert_int_equal (fg_maxpool_forward (&s, NULL, dx, &err), FG_EINVAL);

    //  global average pooling: forward vs mean, backward vs FD (linear)
    size_t n = 2, hw = 9, c = 4;
    float *gx = s_random (n * hw * c, -1, 1), *gy = s_alloc (n * c), *gdx = s_alloc (n * hw * c);
    float *gdy = s_random (n * c, -1, 1);
    fg_gap_forward (n, hw, c, gx, gy);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < c; j++) {
            double sum = 0;
            for (size_t p = 0; p < hw; p++)
                sum += gx [(i * hw + p) * c + j];
            assert_true (fabs (gy [i * c + j] - sum / hw) < 1e-6);
        }
    fg_gap_backward (n, hw, c, gdy, gdx);
    for (size_t i = 0; i < n; i++)
        for (size_t p = 0; p < hw; p++)
            for (size_t j = 0; j < c; j++)
                assert_true (gdx [(i * hw + p) * c + j] == gdy [i * c + j] / (float) hw);
    free (gx); free (gy); free (gdx); free (gdy);
}

//  ---------------------------------------------------------------------------
//  Linear

typedef struct {
    fg_ops_ctx_t *ctx;
    int n, in, out;
    float *x, *w, *b, *y, *r;
} linear_case_t;

static double
s_linear_loss (void *arg)
{
    linear_case_t *lc = arg;
    assert_int_equal (fg_linear_forward (lc->ctx, lc->n, lc->in, lc->out, lc->x, lc->w,
                                         lc->b, lc->y, NULL), 0);
    return s_dot (lc->y, lc->r, (size_t) lc->n * lc->out);
}

static void
s_linear_case (fg_ops_ctx_t *ctx, int n, int in, int out)
{
    size_t nx = (size_t) n * in, nw = (size_t) out * in, ny = (size_t) n * out;
    linear_case_t lc = { ctx, n, in, out, s_random (nx, -1, 1), s_random (nw, -1, 1),
                         s_random ((size_t) out, -1, 1), s_alloc (ny), s_random (ny, -1, 1) };
    s_linear_loss (&lc);
    double *want = calloc (ny, sizeof (double));
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out; o++) {
            double sum = lc.b [o];
            for (int k = 0; k < in; k++)
                sum += (double) lc.x [i * in + k] * lc.w [o * in + k];
            want [i * out + o] = sum;
        }
    s_expect_close ("linear forward", lc.y, want, ny, 1e-5, 1e-5);
    free (want);
    float *dx = s_random (nx, 3, 4), *dw = s_alloc (nw), *db = s_alloc ((size_t) out);
    dx [0] = NAN;                   //  overwritten, never read
    for (size_t i = 0; i < nw; i++)
        dw [i] = 2.0f;
    assert_int_equal (fg_linear_backward (ctx, n, in, out, lc.x, lc.w, lc.r, dx, dw, db,
                                          NULL), 0);
    for (size_t i = 0; i < nw; i++)
        dw [i] -= 2.0f;
    fd_var_t vars [3] = { { "x", lc.x, dx, nx }, { "w", lc.w, dw, nw },
                          { "b", lc.b, db, (size_t) out } };
    s_fd_check ("linear", s_linear_loss, &lc, vars, 3, 0.25, 2e-4, 2e-5, 300);
    free (dx); free (dw); free (db);
    free (lc.x); free (lc.w); free (lc.b); free (lc.y); free (lc.r);
}

static void
test_linear (void **state)
{
    fg_ops_ctx_t *ctx = fg_ops_ctx_new (1);
    s_seed (7);
    s_linear_case (ctx, 4, 7, 5);
    s_linear_case (ctx, 1, 1, 1);
    s_linear_case (ctx, 1, 6, 1);
    s_linear_case (ctx, 5, 1, 3);
    s_linear_case (ctx, 3, 40, 10);
    float v [4] = { 0 };
    fg_error_t err;
    assert_int_equal (fg_linear_forward (ctx, 0, 1, 1, v, v, NULL, v, &err), FG_EINVAL);
    assert_int_equal (fg_linear_forward (ctx, 1, -1, 1, v, v, NULL, v, &err), FG_EINVAL);
    assert_non_null (strstr (err.msg, "linear"));
    assert_int_equal (fg_linear_forward (ctx, 1, 1, 1, v, NULL, NULL, v, &err), FG_EINVAL);
    assert_int_equal (fg_linear_backward (ctx, 1, 1, 0, v, v, v, v, v, v, &err), FG_EINVAL);
    assert_int_equal (fg_linear_backward (ctx, 1, 1, 1, v, v, NULL, v, v, v, &err), FG_EINVAL);
    assert_int_equal (fg_linear_forward (ctx, 1 << 30, 1 << 30, 1 << 20, v, v, NULL, v, &err),
                      FG_EINVAL);
    fg_ops_ctx_destroy (&ctx);
}

//  ---------------------------------------------------------------------------
//  Dropout, flatten, add, scale

static void
test_dropout (void **state)
{
    size_t n = 20000;
    s_seed (8);
    float *x = s_random (n, -1, 1), *y = s_alloc (n), *y2 = s_alloc (n);
    uint8_t *mask = malloc (n), *mask2 = malloc (n);
    fg_rng_t rng;
    fg_rng_init (&rng, 42, FG_RNG_DROPOUT, 3, 1, 0, 17);
    fg_rng_t before = rng;
    assert_int_equal (fg_dropout_forward (n, 0.3f, &rng, 2, true, x, y, mask, NULL), 0);
    assert_memory_equal (&rng, &before, sizeof rng);        //  not advanced
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        kept += mask [i];
        assert_true (mask [i] <= 1);
        assert_true (y [i] == (mask [i]? x [i] * (1.0f / 0.7f): 0.0f));
    }
    //  ~70% kept (binomial sd ~ 65 elements)
    assert_true (kept > 13600 && kept < 14400);
    //  the mask is a pure function of (stream, layer): element i of layer 2
    //  is draw (2 << 40) + i of the stream
    fg_rng_t r = rng;
    fg_rng_seek (&r, (uint64_t) 2 << 40);
    for (size_t i = 0; i < 100; i++)
        assert_int_equal (mask [i], fg_rng_uniform (&r) >= 0.3f);
    assert_int_equal (fg_dropout_forward (n, 0.3f, &rng, 2, true, x, y2, mask2, NULL), 0);
    assert_memory_equal (mask, mask2, n);
    assert_memory_equal (y, y2, n * sizeof (float));
    //  another layer, another step: other masks
    assert_int_equal (fg_dropout_forward (n, 0.3f, &rng, 3, true, x, y2, mask2, NULL), 0);
    assert_true (memcmp (mask, mask2, n) != 0);
    fg_rng_t other;
    fg_rng_init (&other, 42, FG_RNG_DROPOUT, 3, 1, 0, 18);
    assert_int_equal (fg_dropout_forward (n, 0.3f, &other, 2, true, x, y2, mask2, NULL), 0);
    assert_true (memcmp (mask, mask2, n) != 0);
    //  backward: dx = dy * mask / (1-p); it is linear with the mask fixed,
    //  which makes the finite-difference check an identity to verify here
    float *dy = s_random (n, -1, 1), *dx = s_alloc (n);
    assert_int_equal (fg_dropout_backward (n, 0.3f, mask, dy, dx, NULL), 0);
    for (size_t i = 0; i < n; i++)
        assert_true (dx [i] == (mask [i]? dy [i] * (1.0f / 0.7f): 0.0f));
    //  in place
    memcpy (y2, x, n * sizeof (float));
    assert_int_equal (fg_dropout_forward (n, 0.3f, &rng, 2, true, y2, y2, mask2, NULL), 0);
    assert_memory_equal (y2, y, n * sizeof (float));
    //  eval: identity, mask all ones
    assert_int_equal (fg_dropout_forward (n, 0.3f, NULL, 2, false, x, y2, mask2, NULL), 0);
    assert_memory_equal (y2, x, n * sizeof (float));
    for (size_t i = 0; i < n; i++)
        assert_int_equal (mask2 [i], 1);
    //  p = 0 keeps all unscaled, p = 1 drops all
    assert_int_equal (fg_dropout_forward (n, 0.0f, &rng, 0, true, x, y2, mask2, NULL), 0);
    assert_memory_equal (y2, x, n * sizeof (float));
    assert_int_equal (fg_dropout_forward (n, 1.0f, &rng, 0, true, x, y2, mask2, NULL), 0);
    for (size_t i = 0; i < n; i++)
        assert_true (y2 [i] == 0.0f && mask2 [i] == 0);
    assert_int_equal (fg_dropout_backward (n, 1.0f, mask2, dy, dx, NULL), 0);
    for (size_t i = 0; i < n; i++)
        assert_true (dx [i] == 0.0f);
    //  rejections
    fg_error_t err;
    assert_int_equal (fg_dropout_forward (n, 1.5f, &rng, 0, true, x, y2, mask2, &err), FG_EINVAL);
    assert_int_equal (fg_dropout_forward (n, NAN, &rng, 0, true, x, y2, mask2, &err), FG_EINVAL);
    assert_int_equal (fg_dropout_forward (n, 0.5f, NULL, 0, true, x, y2, mask2, &err), FG_EINVAL);
    assert_int_equal (fg_dropout_forward (n, 0.5f, &rng, 0, true, x, y2, NULL, &err), FG_EINVAL);
    assert_int_equal (fg_dropout_forward ((size_t) 1 << 40, 0.5f, &rng, 0, true, x, y2, mask2,
                                          &err), FG_EINVAL);
    assert_int_equal (fg_dropout_backward (n, -0.1f, mask2, dy, dx, &err), FG_EINVAL);
    assert_int_equal (fg_dropout_backward (n, 0.1f, NULL, dy, dx, &err), FG_EINVAL);
    free (x); free (y); free (y2); free (mask); free (mask2); free (dy); free (dx);
}

static void
test_flatten_add_scale (void **state)
{
    s_seed (9);
    size_t n = 2, h = 3, w = 4, c = 5, total = n * h * w * c;
    float *x = s_random (total, -1, 1), *y = s_alloc (total), *back = s_alloc (total);
    fg_flatten_forward (n, h, w, c, x, y);
    //  torch.flatten of the NCHW tensor: feature (c, h, w)
    for (size_t i = 0; i < n; i++)
        for (size_t yy = 0; yy < h; yy++)
            for (size_t xx = 0; xx < w; xx++)
                for (size_t j = 0; j < c; j++)
                    assert_true (y [i * h * w * c + (j * h + yy) * w + xx]
                                 == x [((i * h + yy) * w + xx) * c + j]);
    //  the backward is the inverse permutation (the adjoint of a permutation)
    fg_flatten_backward (n, h, w, c, y, back);
    assert_memory_equal (back, x, total * sizeof (float));

    //  add and acc
    float a [3] = { 1, 2, 3 }, b [3] = { 10, 20, 30 }, s [3];
    fg_add_forward (3, a, b, s);
    assert_true (s [0] == 11 && s [1] == 22 && s [2] == 33);
    fg_add_forward (3, a, b, a);                            //  y aliases a
    assert_memory_equal (a, s, sizeof s);
    fg_acc (3, b, s);
    assert_true (s [0] == 21 && s [1] == 42 && s [2] == 63);

    //  channel scaling: forward exact, backward by finite differences done
    //  by hand (y is bilinear in x and s, so exact up to rounding)
    size_t hw = h * w;
    float *sc = s_random (n * c, 0, 1), *dy = s_random (total, -1, 1);
    float *dx = s_alloc (total), *ds = s_alloc (n * c);
    fg_scale_forward (n, hw, c, x, sc, y);
    for (size_t i = 0; i < n; i++)
        for (size_t p = 0; p < hw; p++)
            for (size_t j = 0; j < c; j++)
                assert_true (y [(i * hw + p) * c + j] == x [(i * hw + p) * c + j] * sc [i * c + j]);
    fg_scale_backward (n, hw, c, x, sc, dy, dx, ds);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < c; j++) {
            double sum = 0;
            for (size_t p = 0; p < hw; p++) {
                size_t at = (i * hw + p) * c + j;
                sum += (double) dy [at] * x [at];
                assert_true (dx [at] == dy [at] * sc [i * c + j]);
            }
            assert_true (fabs (ds [i * c + j] - sum) < 1e-6);
        }
    free (x); free (y); free (back); free (sc); free (dy); free (dx); free (ds);
}

//  Finite differences for the plumbing layers too: global average pooling,
//  flatten, channel scaling (both inputs), residual add (both inputs) and
//  dropout (the mask is a pure function of the stream, so it is the same
//  in every evaluation).
typedef struct {
    int op;                     //  0 gap, 1 flatten, 2 scale, 3 add, 4 dropout
    size_t n, h, w, c;
    float *a, *b, *y, *r;
    uint8_t *mask;
    fg_rng_t rng;
} plumb_case_t;

static size_t
s_plumb_out (const plumb_case_t *pc)
{
    return pc->op == 0? pc->n * pc->c: pc->n * pc->h * pc->w * pc->c;
}

static double
s_plumb_loss (void *arg)
{
    plumb_case_t *pc = arg;
    size_t hw = pc->h * pc->w, total = pc->n * hw * pc->c;
    switch (pc->op) {
        case 0: fg_gap_forward (pc->n, hw, pc->c, pc->a, pc->y); break;
        case 1: fg_flatten_forward (pc->n, pc->h, pc->w, pc->c, pc->a, pc->y); break;
        case 2: fg_scale_forward (pc->n, hw, pc->c, pc->a, pc->b, pc->y); break;
        case 3: fg_add_forward (total, pc->a, pc->b, pc->y); break;
        default:
            assert_int_equal (fg_dropout_forward (total, 0.4f, &pc->rng, 5, true, pc->a, pc->y,
                                                  pc->mask, NULL), 0);
    }
    return s_dot (pc->y, pc->r, s_plumb_out (pc));
}

static void
test_plumbing_gradients (void **state)
{
    s_seed (13);
    const char *names [] = { "gap", "flatten", "scale", "add", "dropout" };
    for (int op = 0; op < 5; op++) {
        plumb_case_t pc;
        memset (&pc, 0, sizeof pc);
        pc.op = op;
        pc.n = 2, pc.h = 3, pc.w = 4, pc.c = 5;
        size_t hw = pc.h * pc.w, total = pc.n * hw * pc.c, nout = s_plumb_out (&pc);
        size_t nb = op == 2? pc.n * pc.c: total;
        pc.a = s_random (total, -1, 1);
        pc.b = s_random (nb, -1, 1);
        pc.y = s_alloc (total);
        pc.r = s_random (nout, -1, 1);
        pc.mask = malloc (total);
        fg_rng_init (&pc.rng, 7, FG_RNG_DROPOUT, 1, 2, 3, 4);
        s_plumb_loss (&pc);
        float *da = s_random (total, 9, 10), *db = s_random (nb, 9, 10);
        switch (op) {
            case 0: fg_gap_backward (pc.n, hw, pc.c, pc.r, da); break;
            case 1: fg_flatten_backward (pc.n, pc.h, pc.w, pc.c, pc.r, da); break;
            case 2: fg_scale_backward (pc.n, hw, pc.c, pc.a, pc.b, pc.r, da, db); break;
            case 3:                     //  da = db = dy
                memcpy (da, pc.r, total * sizeof (float));
                memcpy (db, pc.r, total * sizeof (float));
                break;
            default:
                assert_int_equal (fg_dropout_backward (total, 0.4f, pc.mask, pc.r, da, NULL), 0);
        }
        fd_var_t vars [2] = { { "a", pc.a, da, total }, { "b", pc.b, db, nb } };
        size_t nvars = op == 2 || op == 3? 2: 1;
        //  all of these are linear in each input: a big step is exact
        s_fd_check (names [op], s_plumb_loss, &pc, vars, nvars, 0.25, 2e-4, 2e-5, 1000);
        free (da); free (db); free (pc.a); free (pc.b); free (pc.y); free (pc.r); free (pc.mask);
    }
}

//  ---------------------------------------------------------------------------
//  Squeeze-and-excitation

typedef struct {
    fg_ops_ctx_t *ctx;
    int n, hw, c, cs;
    float *x, *w1, *b1, *w2, *b2, *save, *y, *r;
} se_case_t;

static double
s_se_loss (void *arg)
{
    se_case_t *sc = arg;
    assert_int_equal (fg_se_forward (sc->ctx, sc->n, sc->hw, sc->c, sc->cs, sc->x, sc->w1,
                                     sc->b1, sc->w2, sc->b2, sc->save, sc->y, NULL), 0);
    return s_dot (sc->y, sc->r, (size_t) sc->n * sc->hw * sc->c);
}

static void
test_squeeze_excitation (void **state)
{
    fg_ops_ctx_t *ctx = fg_ops_ctx_new (1);
    s_seed (12);     //  a seed with no SE pre-activation near a kink
    int n = 2, hw = 6, c = 8, cs = 4;
    size_t nx = (size_t) n * hw * c;
    size_t nsave = fg_se_save_floats (n, c, cs);
    assert_int_equal (nsave, (size_t) n * (3 * c + 2 * cs));
    se_case_t sc = { ctx, n, hw, c, cs, s_random (nx, -1, 2), s_random ((size_t) cs * c, -1, 1),
                     s_random ((size_t) cs, -0.5f, 0.5f), s_random ((size_t) c * cs, -2, 2),
                     s_random ((size_t) c, -1, 1), s_alloc (nsave), s_alloc (nx),
                     s_random (nx, -1, 1) };
    s_se_loss (&sc);
    //  forward against the composition of the documented steps
    const float *z1 = sc.save + n * c, *z2 = z1 + 2 * n * cs;
    for (int i = 0; i < n; i++) {
        double p [8], a1 [4];
        for (int j = 0; j < c; j++) {
            p [j] = 0;
            for (int q = 0; q < hw; q++)
                p [j] += sc.x [(i * hw + q) * c + j];
            p [j] /= hw;
        }
        for (int o = 0; o < cs; o++) {
            double z = sc.b1 [o];
            for (int j = 0; j < c; j++)
                z += sc.w1 [o * c + j] * p [j];
            //  the check below relies on no pre-activation near a kink
            assert_true (fabs (z) > 0.05);
            assert_true (fabs (z - z1 [i * cs + o]) < 1e-5);
            a1 [o] = fmax (z, 0);
        }
        for (int j = 0; j < c; j++) {
            double z = sc.b2 [j];
            for (int o = 0; o < cs; o++)
                z += sc.w2 [j * cs + o] * a1 [o];
            assert_true (fabs (fabs (z) - 3) > 0.05);
            assert_true (fabs (z - z2 [i * c + j]) < 1e-5);
            double s = fmin (fmax (z + 3, 0), 6) / 6;
            for (int q = 0; q < hw; q++) {
                size_t at = (size_t) (i * hw + q) * c + j;
                assert_true (fabs (sc.y [at] - sc.x [at] * s) < 1e-5);
            }
        }
    }
    float *dx = s_random (nx, 5, 6), *dw1 = s_alloc ((size_t) cs * c), *db1 = s_alloc ((size_t) cs);
    float *dw2 = s_alloc ((size_t) c * cs), *db2 = s_alloc ((size_t) c);
    assert_int_equal (fg_se_backward (ctx, n, hw, c, cs, sc.x, sc.w1, sc.w2, sc.save, sc.r,
                                      dx, dw1, db1, dw2, db2, NULL), 0);
    fd_var_t vars [5] = {
        { "x", sc.x, dx, nx }, { "w1", sc.w1, dw1, (size_t) cs * c }, { "b1", sc.b1, db1, (size_t) cs },
        { "w2", sc.w2, dw2, (size_t) c * cs }, { "b2", sc.b2, db2, (size_t) c } };
    s_fd_check ("squeeze-excitation", s_se_loss, &sc, vars, 5, 1e-3, 1e-2, 1e-3, 200);
    //  dx NULL: parameter gradients unchanged
    float *dw1b = s_alloc ((size_t) cs * c);
    s_se_loss (&sc);
    assert_int_equal (fg_se_backward (ctx, n, hw, c, cs, sc.x, sc.w1, sc.w2, sc.save, sc.r,
                                      NULL, dw1b, NULL, NULL, NULL, NULL), 0);
    assert_memory_equal (dw1b, dw1, (size_t) cs * c * sizeof (float));
    fg_error_t err;
    assert_int_equal (fg_se_forward (ctx, 0, hw, c, cs, sc.x, sc.w1, sc.b1, sc.w2, sc.b2,
                                     sc.save, sc.y, &err), FG_EINVAL);
    assert_int_equal (fg_se_forward (ctx, n, hw, c, cs, sc.x, NULL, sc.b1, sc.w2, sc.b2,
                                     sc.save, sc.y, &err), FG_EINVAL);
    assert_int_equal (fg_se_backward (ctx, n, hw, c, 0, sc.x, sc.w1, sc.w2, sc.save, sc.r,
                                      dx, NULL, NULL, NULL, NULL, &err), FG_EINVAL);
    assert_int_equal (fg_se_save_floats (n, c, 0), 0);
    free (dw1b); free (dx); free (dw1); free (db1); free (dw2); free (db2);
    free (sc.x); free (sc.w1); free (sc.b1); free (sc.w2); free (sc.b2); free (sc.save);
    free (sc.y); free (sc.r);
    fg_ops_ctx_destroy (&ctx);
}

//  ---------------------------------------------------------------------------
//  Softmax cross-entropy

typedef struct {
    int n, k;
    float *logits;
    int32_t *labels;
} xent_case_t;

static double
s_xent_loss (void *arg)
{
    xent_case_t *xc = arg;
    double loss;
    assert_int_equal (fg_softmax_xent (xc->n, xc->k, xc->logits, xc->labels, &loss, NULL,
                                       NULL, NULL), 0);
    return loss;
}

static void
test_softmax_xent (void **state)
{
    s_seed (11);
    int n = 6, k = 10;
    xent_case_t xc = { n, k, s_random ((size_t) n * k, -4, 4), calloc ((size_t) n, sizeof (int32_t)) };
    for (int i = 0; i < n; i++)
        xc.labels [i] = (int32_t) fg_rng_below (&s_rng, (uint32_t) k);
    double loss;
    int correct = -1;
    float *d = s_alloc ((size_t) n * k);
    assert_int_equal (fg_softmax_xent (n, k, xc.logits, xc.labels, &loss, d, &correct, NULL), 0);
    double want = 0;
    int right = 0;
    for (int i = 0; i < n; i++) {
        double sum = 0;
        int arg = 0;
        for (int j = 0; j < k; j++) {
            sum += exp (xc.logits [i * k + j]);
            if (xc.logits [i * k + j] > xc.logits [i * k + arg])
                arg = j;
        }
        want += log (sum) - xc.logits [i * k + xc.labels [i]];
        right += arg == xc.labels [i];
        //  each row of dlogits sums to 0
        double rs = 0;
        for (int j = 0; j < k; j++)
            rs += d [i * k + j];
        assert_true (fabs (rs) < 1e-6);
    }
    assert_true (fabs (loss - want / n) < 1e-9 * (1 + fabs (want)));
    assert_int_equal (correct, right);
    fd_var_t var = { "logits", xc.logits, d, (size_t) n * k };
    s_fd_check ("softmax xent", s_xent_loss, &xc, &var, 1, 1e-2, 1e-3, 1e-6, 100);

    //  stability: huge logits neither overflow nor lose the answer
    float big [3] = { 10000.0f, 9990.0f, -10000.0f };
    int32_t lab = 1;
    float db [3];
    assert_int_equal (fg_softmax_xent (1, 3, big, &lab, &loss, db, &correct, NULL), 0);
    assert_true (isfinite (loss) && fabs (loss - 10.0000453989) < 1e-6);
    assert_int_equal (correct, 0);
    assert_true (isfinite (db [0]) && db [0] > 0.99f && db [1] < -0.99f);
    //  rejections: label range, non-finite logits, sizes
    fg_error_t err;
    int32_t badlab [2] = { 0, 10 };
    assert_int_equal (fg_softmax_xent (2, 10, xc.logits, badlab, &loss, d, NULL, &err), FG_ERANGE);
    assert_non_null (strstr (err.msg, "row 1"));
    badlab [1] = -1;
    assert_int_equal (fg_softmax_xent (2, 10, xc.logits, badlab, &loss, d, NULL, &err), FG_ERANGE);
    xc.logits [13] = NAN;
    assert_int_equal (fg_softmax_xent (2, 10, xc.logits, xc.labels, &loss, d, NULL, &err),
                      FG_ENUMERIC);
    assert_non_null (strstr (err.msg, "row 1, class 3"));
    xc.logits [13] = INFINITY;
    assert_int_equal (fg_softmax_xent (2, 10, xc.logits, xc.labels, &loss, d, NULL, &err),
                      FG_ENUMERIC);
    assert_int_equal (fg_softmax_xent (0, 10, xc.logits, xc.labels, &loss, d, NULL, &err),
                      FG_EINVAL);
    assert_int_equal (fg_softmax_xent (2, 10, NULL, xc.labels, &loss, d, NULL, &err), FG_EINVAL);
    free (d); free (xc.logits); free (xc.labels);
}

//  ---------------------------------------------------------------------------
//  PyTorch reference tensors (tests/ref/ops_ref.bin, written by
//  tests/ref/gen_ops.py with torch 1.13; see its header for the format).
//  Tolerance: |got - torch| <= 1e-5 + 1e-4 * |torch| (float32 both sides,
//  different summation orders).

typedef struct {
    char name [64];
    uint32_t rank, dims [4];
    size_t count;
    float *data;
} ref_tensor_t;

typedef struct {
    char *bytes;
    ref_tensor_t *t;
    size_t n;
} ref_file_t;

static uint32_t
s_u32 (const unsigned char *p)
{
    return (uint32_t) p [0] | (uint32_t) p [1] << 8 | (uint32_t) p [2] << 16
         | (uint32_t) p [3] << 24;
}

static void
s_ref_load (ref_file_t *rf)
{
    const char *top = getenv ("top_srcdir");
    char path [4096];
    snprintf (path, sizeof path, "%s/tests/ref/ops_ref.bin", top? top: ".");
    FILE *f = fopen (path, "rb");
    if (!f) {
        print_error ("cannot open %s (run from the source tree or set top_srcdir)\n", path);
        fail ();
    }
    fseek (f, 0, SEEK_END);
    long size = ftell (f);
    fseek (f, 0, SEEK_SET);
    assert_true (size > 16 && size < (1 << 24));
    unsigned char *b = malloc ((size_t) size);
    assert_int_equal (fread (b, 1, (size_t) size, f), (size_t) size);
    fclose (f);
    assert_memory_equal (b, "FGOPSREF", 8);
    assert_int_equal (s_u32 (b + 8), 1);
    rf->n = s_u32 (b + 12);
    assert_true (rf->n > 0 && rf->n < 10000);
    rf->t = calloc (rf->n, sizeof (ref_tensor_t));
    rf->bytes = (char *) b;
    size_t at = 16, end = (size_t) size;
    for (size_t i = 0; i < rf->n; i++) {
        ref_tensor_t *t = &rf->t [i];
        assert_true (end - at >= 4);
        uint32_t len = s_u32 (b + at);
        at += 4;
        assert_true (len > 0 && len < sizeof t->name && end - at >= len + 4);
        memcpy (t->name, b + at, len);
        at += len;
        t->rank = s_u32 (b + at);
        at += 4;
        assert_true (t->rank >= 1 && t->rank <= 4 && end - at >= 4 * t->rank);
        t->count = 1;
        for (uint32_t d = 0; d < t->rank; d++, at += 4) {
            t->dims [d] = s_u32 (b + at);
            assert_true (t->dims [d] > 0 && t->dims [d] < 100000);
            t->count *= t->dims [d];
        }
        assert_true (t->count < (1 << 20) && end - at >= 4 * t->count);
        t->data = malloc (t->count * sizeof (float));
        for (size_t k = 0; k < t->count; k++, at += 4) {
            uint32_t u = s_u32 (b + at);
            memcpy (&t->data [k], &u, 4);
        }
    }
    assert_int_equal (at, end);
}

static void
s_ref_free (ref_file_t *rf)
{
    for (size_t i = 0; i < rf->n; i++)
        free (rf->t [i].data);
    free (rf->t);
    free (rf->bytes);
}

//  The tensor called name; its element count must be `count` (0: any).
static float *
s_ref (ref_file_t *rf, const char *name, size_t count)
{
    for (size_t i = 0; i < rf->n; i++)
        if (strcmp (rf->t [i].name, name) == 0) {
            if (count && rf->t [i].count != count) {
                print_error ("%s: %zu elements, expected %zu\n", name, rf->t [i].count, count);
                fail ();
            }
            return rf->t [i].data;
        }
    print_error ("reference tensor %s missing\n", name);
    fail ();
    return NULL;
}

static void
s_ref_expect (ref_file_t *rf, const char *name, const float *got, size_t count)
{
    const float *want = s_ref (rf, name, count);
    for (size_t i = 0; i < count; i++) {
        double diff = fabs ((double) got [i] - want [i]);
        if (!(diff <= 1e-5 + 1e-4 * fabs (want [i]))) {
            print_error ("%s[%zu]: got %.9g, torch %.9g\n", name, i, (double) got [i],
                         (double) want [i]);
            fail ();
        }
    }
}

static void
s_ref_conv (ref_file_t *rf, fg_ops_ctx_t *ctx, const char *name, bool bias)
{
    char key [96];
    snprintf (key, sizeof key, "%s.shape", name);
    const float *sh = s_ref (rf, key, 12);
    fg_conv_shape_t s = { (int) sh [0], (int) sh [1], (int) sh [2], (int) sh [3], (int) sh [4],
                          (int) sh [5], (int) sh [6], (int) sh [7], (int) sh [8], (int) sh [9],
                          (int) sh [10], (int) sh [11] };
    int oh, ow;
    assert_int_equal (fg_conv_check (&s, &oh, &ow, NULL), 0);
    size_t nx = (size_t) s.n * s.h * s.w * s.c, nw = fg_conv_weight_count (&s);
    size_t ny = (size_t) s.n * oh * ow * s.k;
    snprintf (key, sizeof key, "%s.x", name);
    const float *x = s_ref (rf, key, nx);
    snprintf (key, sizeof key, "%s.w", name);
    const float *w = s_ref (rf, key, nw);
    const float *b = NULL;
    if (bias) {
        snprintf (key, sizeof key, "%s.b", name);
        b = s_ref (rf, key, (size_t) s.k);
    }
    snprintf (key, sizeof key, "%s.dy", name);
    const float *dy = s_ref (rf, key, ny);
    float *y = s_alloc (ny), *dx = s_alloc (nx), *dw = s_alloc (nw), *db = s_alloc ((size_t) s.k);
    assert_int_equal (fg_conv_forward (ctx, &s, x, w, b, y, NULL), 0);
    assert_int_equal (fg_conv_backward (ctx, &s, x, w, dy, dx, dw, bias? db: NULL, NULL), 0);
    snprintf (key, sizeof key, "%s.y", name);
    s_ref_expect (rf, key, y, ny);
    snprintf (key, sizeof key, "%s.dx", name);
    s_ref_expect (rf, key, dx, nx);
    snprintf (key, sizeof key, "%s.dw", name);
    s_ref_expect (rf, key, dw, nw);
    if (bias) {
        snprintf (key, sizeof key, "%s.db", name);
        s_ref_expect (rf, key, db, (size_t) s.k);
    }
    free (y); free (dx); free (dw); free (db);
}

static void
test_torch_reference (void **state)
{
    ref_file_t rf;
    s_ref_load (&rf);
    fg_ops_ctx_t *ctx = fg_ops_ctx_new (2);
    s_ref_conv (&rf, ctx, "conv_grouped", true);
    s_ref_conv (&rf, ctx, "conv_depthwise", false);
    s_ref_conv (&rf, ctx, "conv_1x1", true);
    s_ref_conv (&rf, ctx, "conv_rect", true);

    //  batch norm: a training step, then eval with the updated statistics
    {
        size_t m = 4 * 5 * 5, C = 3, n = m * C;
        const float *x = s_ref (&rf, "bn.x", n), *dy = s_ref (&rf, "bn.dy", n);
        const float *g = s_ref (&rf, "bn.gamma", C), *b = s_ref (&rf, "bn.beta", C);
        float *rm = s_copy (s_ref (&rf, "bn.running_mean0", C), C);
        float *rv = s_copy (s_ref (&rf, "bn.running_var0", C), C);
        float mean [3], is [3], dg [3] = { 0 }, dbeta [3] = { 0 };
        float *y = s_alloc (n), *dx = s_alloc (n);
        assert_int_equal (fg_bn_forward (m, 3, x, g, b, rm, rv, 0.1f, 1e-5f, true, mean, is, y,
                                         NULL), 0);
        assert_int_equal (fg_bn_backward (m, 3, x, g, mean, is, true, dy, dx, dg, dbeta, NULL), 0);
        s_ref_expect (&rf, "bn.y", y, n);
        s_ref_expect (&rf, "bn.dx", dx, n);
        s_ref_expect (&rf, "bn.dgamma", dg, C);
        s_ref_expect (&rf, "bn.dbeta", dbeta, C);
        s_ref_expect (&rf, "bn.running_mean1", rm, C);
        s_ref_expect (&rf, "bn.running_var1", rv, C);
        assert_int_equal (fg_bn_forward (m, 3, x, g, b, rm, rv, 0.1f, 1e-5f, false, mean, is, y,
                                         NULL), 0);
        assert_int_equal (fg_bn_backward (m, 3, x, g, mean, is, false, dy, dx, NULL, NULL, NULL), 0);
        s_ref_expect (&rf, "bn.y_eval", y, n);
        s_ref_expect (&rf, "bn.dx_eval", dx, n);
        free (rm); free (rv); free (y); free (dx);
    }
    //  activations, kinks included: PyTorch's derivative choices
    {
        const size_t n = 64;
        const float *x = s_ref (&rf, "act.x", n);
        const char *names [] = { "relu", "relu6", "hardsigmoid", "hardswish" };
        const fg_act_t acts [] = { FG_ACT_RELU, FG_ACT_RELU6, FG_ACT_HARDSIGMOID, FG_ACT_HARDSWISH };
        float y [64], dx [64], ones [64];
        for (size_t i = 0; i < n; i++)
            ones [i] = 1.0f;
        for (size_t a = 0; a < 4; a++) {
            char key [64];
            assert_int_equal (fg_act_forward (acts [a], n, x, y, NULL), 0);
            assert_int_equal (fg_act_backward (acts [a], n, x, ones, dx, NULL), 0);
            snprintf (key, sizeof key, "act.%s.y", names [a]);
            s_ref_expect (&rf, key, y, n);
            snprintf (key, sizeof key, "act.%s.dx", names [a]);
            if (acts [a] == FG_ACT_HARDSWISH) {
                //  torch 1.13 is not consistent at x = 3: its scalar loop
                //  gives 1.5 (x <= 3 branch, our choice), its vectorised
                //  loop 1.0; the file holds the vectorised answer.
                float *want = s_copy (s_ref (&rf, key, n), n);
                for (size_t i = 0; i < n; i++)
                    if (x [i] == 3.0f) {
                        assert_true (want [i] == 1.0f || want [i] == 1.5f);
                        want [i] = 1.5f;
                    }
                for (size_t i = 0; i < n; i++)
                    assert_true (fabs (dx [i] - want [i]) <= 1e-5 + 1e-4 * fabs (want [i]));
                free (want);
            }
            else
                s_ref_expect (&rf, key, dx, n);
        }
    }
    //  pooling 3x3 stride 2 padding 1 on (2,3,7,7)
    {
        fg_pool_shape_t s = { 2, 7, 7, 3, 3, 3, 2, 2, 1, 1 };
        size_t nx = 2 * 7 * 7 * 3, ny = 2 * 4 * 4 * 3;
        float *y = s_alloc (ny), *dx = s_alloc (nx);
        const float *x = s_ref (&rf, "maxpool.x", nx);
        assert_int_equal (fg_maxpool_forward (&s, x, y, NULL), 0);
        assert_int_equal (fg_maxpool_backward (&s, x, s_ref (&rf, "maxpool.dy", ny), dx, NULL), 0);
        s_ref_expect (&rf, "maxpool.y", y, ny);
        s_ref_expect (&rf, "maxpool.dx", dx, nx);
        x = s_ref (&rf, "avgpool.x", nx);
        assert_int_equal (fg_avgpool_forward (&s, x, y, NULL), 0);
        assert_int_equal (fg_avgpool_backward (&s, s_ref (&rf, "avgpool.dy", ny), dx, NULL), 0);
        s_ref_expect (&rf, "avgpool.y", y, ny);
        s_ref_expect (&rf, "avgpool.dx", dx, nx);
        free (y); free (dx);
    }
    //  linear (5,7) -> (5,4)
    {
        const float *x = s_ref (&rf, "linear.x", 35), *w = s_ref (&rf, "linear.w", 28);
        float y [20], dx [35], dw [28] = { 0 }, db [4] = { 0 };
        assert_int_equal (fg_linear_forward (ctx, 5, 7, 4, x, w, s_ref (&rf, "linear.b", 4), y,
                                             NULL), 0);
        assert_int_equal (fg_linear_backward (ctx, 5, 7, 4, x, w, s_ref (&rf, "linear.dy", 20),
                                              dx, dw, db, NULL), 0);
        s_ref_expect (&rf, "linear.y", y, 20);
        s_ref_expect (&rf, "linear.dx", dx, 35);
        s_ref_expect (&rf, "linear.dw", dw, 28);
        s_ref_expect (&rf, "linear.db", db, 4);
    }
    //  flatten: NHWC in, torch's (C,H,W) feature order out
    {
        float y [120];
        fg_flatten_forward (2, 4, 5, 3, s_ref (&rf, "flatten.x", 120), y);
        s_ref_expect (&rf, "flatten.y", y, 120);
    }
    //  squeeze-and-excitation (2,3,3,8), squeeze 4
    {
        size_t nx = 2 * 9 * 8;
        const float *x = s_ref (&rf, "se.x", nx);
        const float *w1 = s_ref (&rf, "se.w1", 32), *w2 = s_ref (&rf, "se.w2", 32);
        float save [64], y [144], dx [144], dw1 [32] = { 0 }, db1 [4] = { 0 };
        float dw2 [32] = { 0 }, db2 [8] = { 0 };
        assert_true (fg_se_save_floats (2, 8, 4) <= 64);
        assert_int_equal (fg_se_forward (ctx, 2, 9, 8, 4, x, w1, s_ref (&rf, "se.b1", 4), w2,
                                         s_ref (&rf, "se.b2", 8), save, y, NULL), 0);
        assert_int_equal (fg_se_backward (ctx, 2, 9, 8, 4, x, w1, w2, save,
                                          s_ref (&rf, "se.dy", nx), dx, dw1, db1, dw2, db2,
                                          NULL), 0);
        s_ref_expect (&rf, "se.y", y, nx);
        s_ref_expect (&rf, "se.dx", dx, nx);
        s_ref_expect (&rf, "se.dw1", dw1, 32);
        s_ref_expect (&rf, "se.db1", db1, 4);
        s_ref_expect (&rf, "se.dw2", dw2, 32);
        s_ref_expect (&rf, "se.db2", db2, 8);
    }
    //  softmax cross-entropy
    {
        const float *lf = s_ref (&rf, "xent.labels", 6);
        int32_t labels [6];
        for (int i = 0; i < 6; i++)
            labels [i] = (int32_t) lf [i];
        double loss;
        float d [60], lossf;
        assert_int_equal (fg_softmax_xent (6, 10, s_ref (&rf, "xent.logits", 60), labels, &loss,
                                           d, NULL, NULL), 0);
        lossf = (float) loss;
        s_ref_expect (&rf, "xent.loss", &lossf, 1);
        s_ref_expect (&rf, "xent.dlogits", d, 60);
    }
    fg_ops_ctx_destroy (&ctx);
    s_ref_free (&rf);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_conv_paths),
        cmocka_unit_test (test_conv_chunks),
        cmocka_unit_test (test_conv_direct),
        cmocka_unit_test (test_conv_tap_form),
        cmocka_unit_test (test_epilogue),
        cmocka_unit_test (test_ctx_forms),
        cmocka_unit_test (test_determinism_threads),
        cmocka_unit_test (test_conv_rejects),
        cmocka_unit_test (test_gemm_views),
        cmocka_unit_test (test_batchnorm),
        cmocka_unit_test (test_activations),
        cmocka_unit_test (test_pooling),
        cmocka_unit_test (test_linear),
        cmocka_unit_test (test_dropout),
        cmocka_unit_test (test_flatten_add_scale),
        cmocka_unit_test (test_plumbing_gradients),
        cmocka_unit_test (test_squeeze_excitation),
        cmocka_unit_test (test_softmax_xent),
        cmocka_unit_test (test_torch_reference),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
