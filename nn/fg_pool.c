/*  fg_pool.c — max, average and global average pooling, NHWC.            */

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "fg_ops_internal.h"

typedef struct {
    size_t oh, ow;
} s_dims_t;

static int
s_check (const char *what, const fg_pool_shape_t *s, s_dims_t *d, fg_error_t *err)
{
    if (!s)
        return fg_error_set (err, FG_EINVAL, "%s: no shape", what);
    if (s->n < 1 || s->h < 1 || s->w < 1 || s->c < 1)
        return fg_error_set (err, FG_EINVAL, "%s: bad input size (%d,%d,%d,%d)",
                             what, s->n, s->h, s->w, s->c);
    if (s->kh < 1 || s->kw < 1 || s->sh < 1 || s->sw < 1 || s->ph < 0 || s->pw < 0
    ||  s->ph > s->kh / 2 || s->pw > s->kw / 2)
        return fg_error_set (err, FG_EINVAL, "%s: bad window %dx%d stride %dx%d "
                             "padding %dx%d (padding must be <= half the window)",
                             what, s->kh, s->kw, s->sh, s->sw, s->ph, s->pw);
    int64_t hp = (int64_t) s->h + 2 * (int64_t) s->ph;
    int64_t wp = (int64_t) s->w + 2 * (int64_t) s->pw;
    if (hp < s->kh || wp < s->kw)
        return fg_error_set (err, FG_EINVAL, "%s: window %dx%d larger than the "
                             "padded input %lldx%lld", what, s->kh, s->kw,
                             (long long) hp, (long long) wp);
    d->oh = (size_t) ((hp - s->kh) / s->sh + 1);
    d->ow = (size_t) ((wp - s->kw) / s->sw + 1);
    size_t nx;
    if (!fg_ops_mul ((size_t) s->n * s->h, (size_t) s->w * s->c, &nx)
    ||  (size_t) s->h * (size_t) s->w > UINT32_MAX)
        return fg_error_set (err, FG_EINVAL, "%s: input too large", what);
    return 0;
}

int
fg_pool_check (const fg_pool_shape_t *s, int *oh, int *ow, fg_error_t *err)
{
    s_dims_t d = { 0 };
    int rc = s_check ("pool", s, &d, err);
    if (rc)
        return rc;
    if (oh)
        *oh = (int) d.oh;
    if (ow)
        *ow = (int) d.ow;
    return 0;
}

//  The window of output (oy, ox) clipped to the input: rows [y0, y1),
//  columns [x0, x1). Never empty since padding <= half the window.
static void
s_window (const fg_pool_shape_t *s, size_t oy, size_t ox,
          size_t *y0, size_t *y1, size_t *x0, size_t *x1)
{
    long ys = (long) (oy * (size_t) s->sh) - s->ph;
    long xs = (long) (ox * (size_t) s->sw) - s->pw;
    long ye = ys + s->kh, xe = xs + s->kw;
    *y0 = (size_t) (ys < 0? 0: ys);
    *x0 = (size_t) (xs < 0? 0: xs);
    *y1 = (size_t) (ye > s->h? s->h: ye);
    *x1 = (size_t) (xe > s->w? s->w: xe);
}

//  Whether v replaces the running maximum m: larger, or NaN (PyTorch's
//  rule, so NaN propagates and the backward picks the same element).
static inline bool
s_beats (float v, float m)
{
    return v > m || v != v;
}

FG_OPS_WIDE int
fg_maxpool_forward (const fg_pool_shape_t *s, const float *x, float *y,
                    fg_error_t *err)
{
    s_dims_t d = { 0 };
    int rc = s_check ("max pool: forward", s, &d, err);
    if (rc)
        return rc;
    if (!x || !y)
        return fg_error_set (err, FG_EINVAL, "max pool: forward: NULL input or output");
    const size_t H = (size_t) s->h, W = (size_t) s->w, C = (size_t) s->c;
    float *out = y;
    for (size_t img = 0; img < (size_t) s->n; img++)
        for (size_t oy = 0; oy < d.oh; oy++)
            for (size_t ox = 0; ox < d.ow; ox++, out += C) {
                size_t y0, y1, x0, x1;
                s_window (s, oy, ox, &y0, &y1, &x0, &x1);
                for (size_t c = 0; c < C; c++)
                    out [c] = -INFINITY;
                for (size_t iy = y0; iy < y1; iy++)
                    for (size_t ix = x0; ix < x1; ix++) {
                        const float *src = x + ((img * H + iy) * W + ix) * C;
                        for (size_t c = 0; c < C; c++) {
                            float v = src [c], m = out [c];
                            out [c] = s_beats (v, m)? v: m;
                        }
                    }
            }
    return 0;
}

//  Channel counts up to this keep the running maxima on the stack.
#define S_STACK_C 1024

FG_OPS_WIDE int
fg_maxpool_backward (const fg_pool_shape_t *s, const float *x,
                     const float *dy, float *dx, fg_error_t *err)
{
    s_dims_t d = { 0 };
    int rc = s_check ("max pool: backward", s, &d, err);
    if (rc)
        return rc;
    if (!x || !dy || !dx)
        return fg_error_set (err, FG_EINVAL, "max pool: backward: NULL argument");
    const size_t H = (size_t) s->h, W = (size_t) s->w, C = (size_t) s->c;
    //  per channel: the running maximum and the pixel holding it
    float vstack [S_STACK_C];
    uint32_t istack [S_STACK_C];
    float *bestv = vstack;
    uint32_t *besti = istack;
    if (C > S_STACK_C) {
        bestv = malloc (C * sizeof (float));
        besti = malloc (C * sizeof (uint32_t));
        if (!bestv || !besti) {
            free (bestv);
            free (besti);
            return fg_error_set (err, FG_ENOMEM, "max pool: backward: no memory "
                                 "for %zu channels", C);
        }
    }
    memset (dx, 0, (size_t) s->n * H * W * C * sizeof (float));
    const float *g = dy;
    for (size_t img = 0; img < (size_t) s->n; img++) {
        const float *xi = x + img * H * W * C;
        float *dxi = dx + img * H * W * C;
        for (size_t oy = 0; oy < d.oh; oy++)
            for (size_t ox = 0; ox < d.ow; ox++, g += C) {
                size_t y0, y1, x0, x1;
                s_window (s, oy, ox, &y0, &y1, &x0, &x1);
                //  the first maximum in window order, as the forward found it
                //  (a window holds < 2^32 pixels of one image: checked shape)
                uint32_t first = (uint32_t) (y0 * W + x0);
                for (size_t c = 0; c < C; c++) {
                    bestv [c] = xi [(size_t) first * C + c];
                    besti [c] = first;
                }
                for (size_t iy = y0; iy < y1; iy++)
                    for (size_t ix = x0; ix < x1; ix++) {
                        uint32_t at = (uint32_t) (iy * W + ix);
                        const float *src = xi + (size_t) at * C;
                        for (size_t c = 0; c < C; c++) {
                            float v = src [c];
                            bool beats = s_beats (v, bestv [c]);
                            bestv [c] = beats? v: bestv [c];
                            besti [c] = beats? at: besti [c];
                        }
                    }
                for (size_t c = 0; c < C; c++)
                    dxi [(size_t) besti [c] * C + c] += g [c];
            }
    }
    if (bestv != vstack) {
        free (bestv);
        free (besti);
    }
    return 0;
}

int
fg_avgpool_forward (const fg_pool_shape_t *s, const float *x, float *y,
                    fg_error_t *err)
{
    s_dims_t d = { 0 };
    int rc = s_check ("avg pool: forward", s, &d, err);
    if (rc)
        return rc;
    if (!x || !y)
        return fg_error_set (err, FG_EINVAL, "avg pool: forward: NULL input or output");
    const size_t H = (size_t) s->h, W = (size_t) s->w, C = (size_t) s->c;
    const float div = (float) (s->kh * s->kw);
    float *out = y;
    for (size_t img = 0; img < (size_t) s->n; img++)
        for (size_t oy = 0; oy < d.oh; oy++)
            for (size_t ox = 0; ox < d.ow; ox++, out += C) {
                size_t y0, y1, x0, x1;
                s_window (s, oy, ox, &y0, &y1, &x0, &x1);
                for (size_t c = 0; c < C; c++)
                    out [c] = 0.0f;
                for (size_t iy = y0; iy < y1; iy++)
                    for (size_t ix = x0; ix < x1; ix++) {
                        const float *src = x + ((img * H + iy) * W + ix) * C;
                        for (size_t c = 0; c < C; c++)
                            out [c] += src [c];
                    }
                for (size_t c = 0; c < C; c++)
                    out [c] /= div;
            }
    return 0;
}

int
fg_avgpool_backward (const fg_pool_shape_t *s, const float *dy, float *dx,
                     fg_error_t *err)
{
    s_dims_t d = { 0 };
    int rc = s_check ("avg pool: backward", s, &d, err);
    if (rc)
        return rc;
    if (!dy || !dx)
        return fg_error_set (err, FG_EINVAL, "avg pool: backward: NULL argument");
    const size_t H = (size_t) s->h, W = (size_t) s->w, C = (size_t) s->c;
    const float div = (float) (s->kh * s->kw);
    memset (dx, 0, (size_t) s->n * H * W * C * sizeof (float));
    const float *g = dy;
    for (size_t img = 0; img < (size_t) s->n; img++)
        for (size_t oy = 0; oy < d.oh; oy++)
            for (size_t ox = 0; ox < d.ow; ox++, g += C) {
                size_t y0, y1, x0, x1;
                s_window (s, oy, ox, &y0, &y1, &x0, &x1);
                for (size_t iy = y0; iy < y1; iy++)
                    for (size_t ix = x0; ix < x1; ix++) {
                        float *dst = dx + ((img * H + iy) * W + ix) * C;
                        for (size_t c = 0; c < C; c++)
                            dst [c] += g [c] / div;
                    }
            }
    return 0;
}

FG_OPS_WIDE void
fg_gap_forward (size_t n, size_t hw, size_t c, const float *x, float *y)
{
    for (size_t img = 0; img < n; img++) {
        float *out = y + img * c;
        for (size_t j = 0; j < c; j++) {
            //  one double accumulator per channel, pixels in order
            double sum = 0.0;
            const float *src = x + img * hw * c + j;
            for (size_t p = 0; p < hw; p++)
                sum += src [p * c];
            out [j] = (float) (sum / (double) hw);
        }
    }
}

FG_OPS_WIDE void
fg_gap_backward (size_t n, size_t hw, size_t c, const float *dy, float *dx)
{
    for (size_t img = 0; img < n; img++) {
        const float *g = dy + img * c;
        float *dst = dx + img * hw * c;
        for (size_t p = 0; p < hw; p++)
            for (size_t j = 0; j < c; j++)
                dst [p * c + j] = g [j] / (float) hw;
    }
}

//  ---------------------------------------------------------------------------
//  Context forms: by image over threads (images are independent; each runs
//  the plain loop on a shape of one image)

//  `fn` on images [0, s->n) split over threads; the shape is checked first.
static int
s_pool_by_image (fg_ops_ctx_t *ctx, const char *what, const fg_pool_shape_t *s,
                 const float *x, const float *dy, float *out, bool forward,
                 fg_error_t *err)
{
    s_dims_t d = { 0 };
    int rc = s_check (what, s, &d, err);
    if (rc)
        return rc;
    size_t in_img = (size_t) s->h * s->w * s->c, out_img = d.oh * d.ow * (size_t) s->c;
    int threads = fg_ops_par_threads (ctx, (size_t) s->n * in_img, (size_t) s->n);
    if (threads < 2 || !x || !out || (!forward && !dy))
        return forward? fg_maxpool_forward (s, x, out, err)
                      : fg_maxpool_backward (s, x, dy, out, err);
    fg_pool_shape_t one = *s;
    one.n = 1;
    int failed = 0;
    const long n = (long) s->n;
    FG_PARALLEL_FOR (threads)
    for (long img = 0; img < n; img++) {
        const float *xi = x + (size_t) img * in_img;
        int r = forward? fg_maxpool_forward (&one, xi, out + (size_t) img * out_img, NULL)
                       : fg_maxpool_backward (&one, xi, dy + (size_t) img * out_img,
                                              out + (size_t) img * in_img, NULL);
        if (r) {
#ifdef _OPENMP
#           pragma omp atomic write
#endif
            failed = r;
        }
    }
    if (failed)
        return fg_error_set (err, failed, "%s: out of memory", what);
    return 0;
}

int
fg_maxpool_forward_ctx (fg_ops_ctx_t *ctx, const fg_pool_shape_t *s, const float *x,
                        float *y, fg_error_t *err)
{
    return s_pool_by_image (ctx, "max pool: forward", s, x, NULL, y, true, err);
}

int
fg_maxpool_backward_ctx (fg_ops_ctx_t *ctx, const fg_pool_shape_t *s, const float *x,
                         const float *dy, float *dx, fg_error_t *err)
{
    return s_pool_by_image (ctx, "max pool: backward", s, x, dy, dx, false, err);
}

void
fg_gap_forward_ctx (fg_ops_ctx_t *ctx, size_t n, size_t hw, size_t c, const float *x,
                    float *y)
{
    int threads = fg_ops_par_threads (ctx, n * hw * c, n);
    const long images = (long) n;
    FG_PARALLEL_FOR (threads)
    for (long img = 0; img < images; img++)
        fg_gap_forward (1, hw, c, x + (size_t) img * hw * c, y + (size_t) img * c);
}
