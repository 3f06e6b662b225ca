/*  fg_norm.c — batch norm over the last axis of (M,C), PyTorch semantics.
    Statistics are summed in double, pixel by pixel in index order (one
    accumulator per channel): the same bits whatever the thread count.   */

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "fg_ops_internal.h"

//  Channel counts up to this use stack accumulators; larger use the heap.
#define S_STACK_C 1024

static int
s_check (const char *what, size_t m, int c, fg_error_t *err)
{
    size_t total;
    if (c < 1 || m < 1 || !fg_ops_mul (m, (size_t) c, &total))
        return fg_error_set (err, FG_EINVAL, "batch norm: %s: bad size "
                             "(%zu pixels, %d channels)", what, m, c);
    return 0;
}

FG_OPS_WIDE int
fg_bn_forward (size_t m, int c, const float *x,
               const float *gamma, const float *beta,
               float *running_mean, float *running_var,
               float momentum, float eps, bool training,
               float *save_mean, float *save_invstd,
               float *y, fg_error_t *err)
{
    int rc = s_check ("forward", m, c, err);
    if (rc)
        return rc;
    if (!x || !gamma || !beta || !running_mean || !running_var || !save_mean
    ||  !save_invstd || !y)
        return fg_error_set (err, FG_EINVAL, "batch norm: forward: NULL argument");
    if (!(eps > 0.0f) || !isfinite (eps))
        return fg_error_set (err, FG_EINVAL, "batch norm: forward: eps %g "
                             "must be > 0", (double) eps);
    if (training && !(momentum >= 0.0f && momentum <= 1.0f))
        return fg_error_set (err, FG_EINVAL, "batch norm: forward: momentum %g "
                             "outside [0,1]", (double) momentum);
    if (training && m < 2)
        return fg_error_set (err, FG_EINVAL, "batch norm: forward: training "
                             "needs more than 1 value per channel (got %zu)", m);
    const size_t C = (size_t) c;
    if (training) {
        double stack [2 * S_STACK_C];
        double *sum = C <= S_STACK_C? stack: malloc (2 * C * sizeof (double));
        if (!sum)
            return fg_error_set (err, FG_ENOMEM, "batch norm: forward: no memory "
                                 "for %zu channel sums", C);
        double *sq = sum + C;
        for (size_t j = 0; j < C; j++)
            sum [j] = sq [j] = 0.0;
        for (size_t i = 0; i < m; i++) {
            const float *row = x + i * C;
            for (size_t j = 0; j < C; j++)
                sum [j] += row [j];
        }
        for (size_t j = 0; j < C; j++)
            sum [j] /= (double) m;                  //  now the mean
        for (size_t i = 0; i < m; i++) {
            const float *row = x + i * C;
            for (size_t j = 0; j < C; j++) {
                double dev = row [j] - sum [j];
                sq [j] += dev * dev;
            }
        }
        for (size_t j = 0; j < C; j++) {
            double var = sq [j] / (double) m;
            double unbiased = sq [j] / (double) (m - 1);
            save_mean [j] = (float) sum [j];
            save_invstd [j] = (float) (1.0 / sqrt (var + (double) eps));
            running_mean [j] = (float) ((1.0 - momentum) * running_mean [j]
                                        + (double) momentum * sum [j]);
            running_var [j] = (float) ((1.0 - momentum) * running_var [j]
                                       + (double) momentum * unbiased);
        }
        if (sum != stack)
            free (sum);
    }
    else
        for (size_t j = 0; j < C; j++) {
            save_mean [j] = running_mean [j];
            save_invstd [j] = (float) (1.0 / sqrt ((double) running_var [j]
                                                   + (double) eps));
        }
    //  y = (x - mean) * (invstd * gamma) + beta, per element in float.
    for (size_t i = 0; i < m; i++) {
        const float *row = x + i * C;
        float *out = y + i * C;
        for (size_t j = 0; j < C; j++)
            out [j] = (row [j] - save_mean [j]) * (save_invstd [j] * gamma [j])
                    + beta [j];
    }
    return 0;
}

FG_OPS_WIDE int
fg_bn_backward (size_t m, int c, const float *x, const float *gamma,
                const float *save_mean, const float *save_invstd,
                bool training, const float *dy,
                float *dx, float *dgamma, float *dbeta, fg_error_t *err)
{
    int rc = s_check ("backward", m, c, err);
    if (rc)
        return rc;
    if (!x || !gamma || !save_mean || !save_invstd || !dy)
        return fg_error_set (err, FG_EINVAL, "batch norm: backward: NULL argument");
    const size_t C = (size_t) c;
    double stack [2 * S_STACK_C];
    double *sdy = C <= S_STACK_C? stack: malloc (2 * C * sizeof (double));
    if (!sdy)
        return fg_error_set (err, FG_ENOMEM, "batch norm: backward: no memory "
                             "for %zu channel sums", C);
    double *sdyx = sdy + C;                         //  sum dy * (x - mean)
    for (size_t j = 0; j < C; j++)
        sdy [j] = sdyx [j] = 0.0;
    for (size_t i = 0; i < m; i++) {
        const float *row = x + i * C, *g = dy + i * C;
        for (size_t j = 0; j < C; j++) {
            sdy [j] += g [j];
            sdyx [j] += (double) g [j] * ((double) row [j] - save_mean [j]);
        }
    }
    if (dbeta)
        for (size_t j = 0; j < C; j++)
            dbeta [j] += (float) sdy [j];
    if (dgamma)
        for (size_t j = 0; j < C; j++)
            dgamma [j] += (float) (sdyx [j] * save_invstd [j]);
    if (dx) {
        if (training) {
            //  dx = gamma*invstd * (dy - mean(dy) - xhat * mean(dy*xhat)),
            //  xhat = (x - mean) * invstd; per channel:
            //  dx = a * (dy - mean(dy)) + b * (x - mean).
            float fstack [3 * S_STACK_C];
            float *ca = C <= S_STACK_C? fstack: malloc (3 * C * sizeof (float));
            if (!ca) {
                if (sdy != stack)
                    free (sdy);
                return fg_error_set (err, FG_ENOMEM, "batch norm: backward: "
                                     "no memory for %zu coefficients", C);
            }
            float *cb = ca + C, *cm = cb + C;
            for (size_t j = 0; j < C; j++) {
                double is = save_invstd [j];
                double a = (double) gamma [j] * is;
                double k = sdyx [j] * is * is / (double) m;
                ca [j] = (float) a;
                cb [j] = (float) (-a * k);
                cm [j] = (float) (sdy [j] / (double) m);
            }
            for (size_t i = 0; i < m; i++) {
                const float *row = x + i * C, *g = dy + i * C;
                float *out = dx + i * C;
                for (size_t j = 0; j < C; j++)
                    out [j] = ca [j] * (g [j] - cm [j])
                            + cb [j] * (row [j] - save_mean [j]);
            }
            if (ca != fstack)
                free (ca);
        }
        else
            for (size_t i = 0; i < m; i++) {
                const float *g = dy + i * C;
                float *out = dx + i * C;
                for (size_t j = 0; j < C; j++)
                    out [j] = g [j] * (gamma [j] * save_invstd [j]);
            }
    }
    if (sdy != stack)
        free (sdy);
    return 0;
}

//  ---------------------------------------------------------------------------
//  Eval-mode epilogue (fg_ops.h): bias, batch norm on the running
//  statistics, activation, block by block of rows so the block is still in
//  L1 when the activation (fg_act_forward itself) runs over it.

#define S_EPILOGUE_BLOCK 4096           //  floats per block (16 KiB)

//  rows (rows, C) of x -> y: v = x + bias; v = (v - mean) * scale + beta,
//  scale = invstd * gamma as fg_bn_forward rounds it (each NULL: skipped).
FG_OPS_WIDE static void
s_epilogue_rows (size_t rows, size_t C, const float *x, const float *bias,
                 const float *mean, const float *scale, const float *beta, float *y)
{
    if (bias && scale)
        for (size_t i = 0; i < rows * C; i += C)
            for (size_t j = 0; j < C; j++) {
                float v = x [i + j] + bias [j];
                y [i + j] = (v - mean [j]) * scale [j] + beta [j];
            }
    else
    if (scale)
        for (size_t i = 0; i < rows * C; i += C)
            for (size_t j = 0; j < C; j++)
                y [i + j] = (x [i + j] - mean [j]) * scale [j] + beta [j];
    else
    if (bias)
        for (size_t i = 0; i < rows * C; i += C)
            for (size_t j = 0; j < C; j++)
                y [i + j] = x [i + j] + bias [j];
    else
    if (y != x)
        memmove (y, x, rows * C * sizeof (float));
}

int
fg_epilogue_forward (fg_ops_ctx_t *ctx, size_t m, int c, const fg_epilogue_t *e,
                     const float *x, float *y, fg_error_t *err)
{
    int rc = s_check ("epilogue", m, c, err);
    if (rc)
        return rc;
    if (!ctx || !e || !x || !y || (e->gamma && (!e->beta || !e->running_mean
                                                || !e->running_var)))
        return fg_error_set (err, FG_EINVAL, "epilogue: NULL argument");
    if (e->gamma && (!(e->eps > 0.0f) || !isfinite (e->eps)))
        return fg_error_set (err, FG_EINVAL, "epilogue: batch norm eps %g must be > 0",
                             (double) e->eps);
    rc = fg_act_forward (e->act, 0, NULL, NULL, err);
    if (rc)
        return rc;
    const size_t C = (size_t) c;
    float *mean = NULL, *scale = NULL;
    if (e->gamma) {
        mean = fg_ops_scratch (ctx, FG_SCRATCH_AUX, 2 * C * sizeof (float));
        if (!mean)
            return fg_error_set (err, FG_ENOMEM, "epilogue: no memory for %zu "
                                 "coefficients", 2 * C);
        scale = mean + C;
        for (size_t j = 0; j < C; j++) {
            //  fg_bn_forward's eval statistics, then its per-element factor
            float invstd = (float) (1.0 / sqrt ((double) e->running_var [j]
                                                + (double) e->eps));
            mean [j] = e->running_mean [j];
            scale [j] = invstd * e->gamma [j];
        }
    }
    const size_t rows = C >= S_EPILOGUE_BLOCK? 1: S_EPILOGUE_BLOCK / C;
    const size_t blocks = (m + rows - 1) / rows;
    const int threads = fg_ops_par_threads (ctx, m * C, blocks);
    const long nb = (long) blocks;
    FG_PARALLEL_FOR (threads)
    for (long bl = 0; bl < nb; bl++) {
        size_t r0 = (size_t) bl * rows, nr = m - r0 < rows? m - r0: rows;
        float *out = y + r0 * C;
        s_epilogue_rows (nr, C, x + r0 * C, e->bias, mean, scale,
                         e->beta, out);
        if (e->act != FG_ACT_IDENTITY)
            fg_act_forward (e->act, nr * C, out, out, NULL);
    }
    return 0;
}
