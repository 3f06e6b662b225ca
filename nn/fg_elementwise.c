/*  fg_elementwise.c — the weightless layers that act element by element:
    dropout, residual add (and gradient accumulation), and flatten (each
    element moved from NHWC to PyTorch's NCHW order). Squeeze-and-
    excitation is in fg_se.c, the loss in fg_loss.c.                     */

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

//  Context form of fg_add_forward: blocks of elements over threads.
void
fg_add_forward_ctx (fg_ops_ctx_t *ctx, size_t n, const float *a, const float *b, float *y)
{
    int threads = fg_ops_par_threads (ctx, n, n / 16);
    FG_PARALLEL_FOR (threads)
    for (long t = 0; t < threads; t++) {
        size_t lo, hi;
        fg_ops_part (n, (size_t) threads, (size_t) t, &lo, &hi);
        fg_add_forward (hi - lo, a + lo, b + lo, y + lo);
    }
}
