/*  fg_se.c — squeeze-and-excitation (MobileNetV3's block: global average
    pool, linear, ReLU, linear, hard sigmoid) and the per-channel scaling
    that applies its result.                                              */

#include "fg_ops_internal.h"

//  ---------------------------------------------------------------------------
//  Channel scaling and squeeze-and-excitation

FG_OPS_WIDE void
fg_scale_forward (size_t n, size_t hw, size_t c, const float *x,
                  const float *s, float *y)
{
    for (size_t img = 0; img < n; img++) {
        const float *sc = s + img * c;
        for (size_t p = 0; p < hw; p++) {
            size_t at = (img * hw + p) * c;
            for (size_t j = 0; j < c; j++)
                y [at + j] = x [at + j] * sc [j];
        }
    }
}

FG_OPS_WIDE void
fg_scale_backward (size_t n, size_t hw, size_t c, const float *x,
                   const float *s, const float *dy, float *dx, float *ds)
{
    for (size_t img = 0; img < n; img++) {
        const float *sc = s + img * c;
        float *dsi = ds + img * c;
        for (size_t j = 0; j < c; j++) {
            //  one double accumulator per (image, channel), pixels in order
            double sum = 0.0;
            for (size_t p = 0; p < hw; p++) {
                size_t at = (img * hw + p) * c + j;
                sum += (double) dy [at] * (double) x [at];
            }
            dsi [j] = (float) sum;
        }
        if (dx)
            for (size_t p = 0; p < hw; p++) {
                size_t at = (img * hw + p) * c;
                for (size_t j = 0; j < c; j++)
                    dx [at + j] = dy [at + j] * sc [j];
            }
    }
}

//  save layout: p (N,C) | z1 (N,CS) | a1 (N,CS) | z2 (N,C) | s (N,C)
typedef struct {
    float *p, *z1, *a1, *z2, *s;
} s_se_save_t;

static s_se_save_t
s_se_split (float *save, size_t n, size_t c, size_t cs)
{
    s_se_save_t v;
    v.p  = save;
    v.z1 = v.p + n * c;
    v.a1 = v.z1 + n * cs;
    v.z2 = v.a1 + n * cs;
    v.s  = v.z2 + n * c;
    return v;
}

static int
s_se_check (const char *what, int n, int hw, int c, int cs, fg_error_t *err)
{
    size_t t;
    if (n < 1 || hw < 1 || c < 1 || cs < 1
    ||  !fg_ops_mul ((size_t) n * hw, (size_t) c, &t)
    ||  !fg_ops_mul ((size_t) c, (size_t) cs, &t)
    ||  !fg_ops_mul ((size_t) n, (size_t) (3 * (size_t) c + 2 * (size_t) cs), &t))
        return fg_error_set (err, FG_EINVAL, "squeeze-excitation: %s: bad size "
                             "(batch %d, pixels %d, channels %d, squeeze %d)",
                             what, n, hw, c, cs);
    return 0;
}

size_t
fg_se_save_floats (int n, int c, int cs)
{
    if (s_se_check ("size", n, 1, c, cs, NULL))
        return 0;
    return (size_t) n * (3 * (size_t) c + 2 * (size_t) cs);
}

int
fg_se_forward (fg_ops_ctx_t *ctx, int n, int hw, int c, int cs,
               const float *x, const float *w1, const float *b1,
               const float *w2, const float *b2, float *save, float *y,
               fg_error_t *err)
{
    int rc = s_se_check ("forward", n, hw, c, cs, err);
    if (rc)
        return rc;
    if (!ctx || !x || !w1 || !w2 || !save || !y)
        return fg_error_set (err, FG_EINVAL, "squeeze-excitation: forward: "
                             "NULL argument");
    const size_t N = (size_t) n, HW = (size_t) hw, C = (size_t) c, CS = (size_t) cs;
    s_se_save_t v = s_se_split (save, N, C, CS);
    fg_gap_forward (N, HW, C, x, v.p);
    rc = fg_linear_forward (ctx, n, c, cs, v.p, w1, b1, v.z1, err);
    if (!rc)
        rc = fg_act_forward (FG_ACT_RELU, N * CS, v.z1, v.a1, err);
    if (!rc)
        rc = fg_linear_forward (ctx, n, cs, c, v.a1, w2, b2, v.z2, err);
    if (!rc)
        rc = fg_act_forward (FG_ACT_HARDSIGMOID, N * C, v.z2, v.s, err);
    if (rc) {
        fg_error_prefix (err, "squeeze-excitation");
        return rc;
    }
    fg_scale_forward (N, HW, C, x, v.s, y);
    return 0;
}

int
fg_se_backward (fg_ops_ctx_t *ctx, int n, int hw, int c, int cs,
                const float *x, const float *w1, const float *w2,
                const float *save, const float *dy,
                float *dx, float *dw1, float *db1, float *dw2, float *db2,
                fg_error_t *err)
{
    int rc = s_se_check ("backward", n, hw, c, cs, err);
    if (rc)
        return rc;
    if (!ctx || !x || !w1 || !w2 || !save || !dy)
        return fg_error_set (err, FG_EINVAL, "squeeze-excitation: backward: "
                             "NULL argument");
    const size_t N = (size_t) n, HW = (size_t) hw, C = (size_t) c, CS = (size_t) cs;
    s_se_save_t v = s_se_split ((float *) save, N, C, CS);
    //  temporaries: ds/dz2 (N,C), da1/dz1 (N,CS), dp (N,C) — in the DCOL
    //  slot (fg_linear_backward uses AUX for its bias sums).
    float *tmp = fg_ops_scratch (ctx, FG_SCRATCH_DCOL,
                                 (2 * N * C + N * CS) * sizeof (float));
    if (!tmp)
        return fg_error_set (err, FG_ENOMEM, "squeeze-excitation: backward: "
                             "no memory for temporaries");
    float *dz2 = tmp, *dz1 = dz2 + N * C, *dp = dz1 + N * CS;
    //  y = x * s: the direct path to dx, and ds
    fg_scale_backward (N, HW, C, x, v.s, dy, dx, dz2);
    rc = fg_act_backward (FG_ACT_HARDSIGMOID, N * C, v.z2, dz2, dz2, err);
    if (!rc)
        rc = fg_linear_backward (ctx, n, cs, c, v.a1, w2, dz2, dz1, dw2, db2, err);
    if (!rc)
        rc = fg_act_backward (FG_ACT_RELU, N * CS, v.z1, dz1, dz1, err);
    bool want_dp = dx != NULL;
    if (!rc)
        rc = fg_linear_backward (ctx, n, c, cs, v.p, w1, dz1,
                                 want_dp? dp: NULL, dw1, db1, err);
    if (rc) {
        fg_error_prefix (err, "squeeze-excitation");
        return rc;
    }
    //  the pooled path: dx += dp / HW broadcast over pixels
    if (dx)
        for (size_t img = 0; img < N; img++) {
            const float *g = dp + img * C;
            for (size_t p = 0; p < HW; p++) {
                float *dst = dx + (img * HW + p) * C;
                for (size_t j = 0; j < C; j++)
                    dst [j] += g [j] / (float) HW;
            }
        }
    return 0;
}

//  Context form of fg_scale_forward: by image over threads.
void
fg_scale_forward_ctx (fg_ops_ctx_t *ctx, size_t n, size_t hw, size_t c, const float *x,
                      const float *s, float *y)
{
    int threads = fg_ops_par_threads (ctx, n * hw * c, n);
    const long images = (long) n;
    FG_PARALLEL_FOR (threads)
    for (long img = 0; img < images; img++) {
        size_t at = (size_t) img * hw * c;
        fg_scale_forward (1, hw, c, x + at, s + (size_t) img * c, y + at);
    }
}
