/*  fg_misc.c — dropout, flatten, residual add, channel scaling,
    squeeze-and-excitation, softmax cross-entropy.                        */

#include <math.h>
#include <string.h>
#include "fg_ops_internal.h"

//  ---------------------------------------------------------------------------
//  Dropout

#define S_DROPOUT_LAYER_SHIFT 40

int
fg_dropout_forward (size_t n, float p, const fg_rng_t *rng, uint32_t layer,
                    bool training, const float *x, float *y, uint8_t *mask,
                    fg_error_t *err)
{
    if (!(p >= 0.0f && p <= 1.0f))
        return fg_error_set (err, FG_EINVAL, "dropout: probability %g outside "
                             "[0,1]", (double) p);
    if (n >= ((uint64_t) 1 << S_DROPOUT_LAYER_SHIFT))
        return fg_error_set (err, FG_EINVAL, "dropout: %zu elements: at most "
                             "2^40 per layer", n);
    if (n > 0 && (!x || !y || (training && (!mask || !rng))))
        return fg_error_set (err, FG_EINVAL, "dropout: NULL argument");
    if (!training) {
        if (y != x)
            memmove (y, x, n * sizeof (float));
        if (mask)
            memset (mask, 1, n);
        return 0;
    }
    fg_rng_t r = *rng;
    fg_rng_seek (&r, (uint64_t) layer << S_DROPOUT_LAYER_SHIFT);
    const float scale = p < 1.0f? 1.0f / (1.0f - p): 0.0f;
    for (size_t i = 0; i < n; i++) {
        uint8_t keep = fg_rng_uniform (&r) >= p;
        mask [i] = keep;
        y [i] = keep? x [i] * scale: 0.0f;
    }
    return 0;
}

int
fg_dropout_backward (size_t n, float p, const uint8_t *mask,
                     const float *dy, float *dx, fg_error_t *err)
{
    if (!(p >= 0.0f && p <= 1.0f))
        return fg_error_set (err, FG_EINVAL, "dropout: backward: probability "
                             "%g outside [0,1]", (double) p);
    if (n > 0 && (!mask || !dy || !dx))
        return fg_error_set (err, FG_EINVAL, "dropout: backward: NULL argument");
    const float scale = p < 1.0f? 1.0f / (1.0f - p): 0.0f;
    for (size_t i = 0; i < n; i++)
        dx [i] = mask [i]? dy [i] * scale: 0.0f;
    return 0;
}

//  ---------------------------------------------------------------------------
//  Flatten, add

void
fg_flatten_forward (size_t n, size_t h, size_t w, size_t c,
                    const float *x, float *y)
{
    size_t hw = h * w;
    for (size_t img = 0; img < n; img++) {
        const float *src = x + img * hw * c;
        float *dst = y + img * hw * c;
        for (size_t p = 0; p < hw; p++)
            for (size_t j = 0; j < c; j++)
                dst [j * hw + p] = src [p * c + j];
    }
}

void
fg_flatten_backward (size_t n, size_t h, size_t w, size_t c,
                     const float *dy, float *dx)
{
    size_t hw = h * w;
    for (size_t img = 0; img < n; img++) {
        const float *src = dy + img * hw * c;
        float *dst = dx + img * hw * c;
        for (size_t p = 0; p < hw; p++)
            for (size_t j = 0; j < c; j++)
                dst [p * c + j] = src [j * hw + p];
    }
}

FG_OPS_WIDE void
fg_add_forward (size_t n, const float *a, const float *b, float *y)
{
    for (size_t i = 0; i < n; i++)
        y [i] = a [i] + b [i];
}

FG_OPS_WIDE void
fg_acc (size_t n, const float *src, float *dst)
{
    for (size_t i = 0; i < n; i++)
        dst [i] += src [i];
}

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

//  ---------------------------------------------------------------------------
//  Softmax cross-entropy

int
fg_softmax_xent (int n, int k, const float *logits, const int32_t *labels,
                 double *loss, float *dlogits, int *correct, fg_error_t *err)
{
    size_t t;
    if (n < 1 || k < 1 || !fg_ops_mul ((size_t) n, (size_t) k, &t))
        return fg_error_set (err, FG_EINVAL, "softmax cross-entropy: bad size "
                             "(batch %d, classes %d)", n, k);
    if (!logits || !labels)
        return fg_error_set (err, FG_EINVAL, "softmax cross-entropy: NULL "
                             "logits or labels");
    const size_t K = (size_t) k;
    for (int i = 0; i < n; i++)
        if (labels [i] < 0 || labels [i] >= k)
            return fg_error_set (err, FG_ERANGE, "softmax cross-entropy: row %d: "
                                 "label %d outside [0,%d)", i, (int) labels [i], k);
    for (size_t i = 0; i < (size_t) n; i++)
        for (size_t j = 0; j < K; j++)
            if (!isfinite (logits [i * K + j]))
                return fg_error_set (err, FG_ENUMERIC, "softmax cross-entropy: "
                                     "row %zu, class %zu: logit is not finite", i, j);
    double total = 0.0;
    int right = 0;
    for (size_t i = 0; i < (size_t) n; i++) {
        const float *row = logits + i * K;
        size_t arg = 0;
        for (size_t j = 1; j < K; j++)
            if (row [j] > row [arg])
                arg = j;
        double mx = row [arg], sum = 0.0;
        for (size_t j = 0; j < K; j++)
            sum += exp ((double) row [j] - mx);
        double lse = mx + log (sum);
        total += lse - (double) row [labels [i]];
        if (arg == (size_t) labels [i])
            right++;
        if (dlogits) {
            float *d = dlogits + i * K;
            for (size_t j = 0; j < K; j++) {
                double pj = exp ((double) row [j] - mx) / sum;
                if (j == (size_t) labels [i])
                    pj -= 1.0;
                d [j] = (float) (pj / (double) n);
            }
        }
    }
    if (loss)
        *loss = total / (double) n;
    if (correct)
        *correct = right;
    return 0;
}
