/*  fg_linear.c — fully connected layer through BLIS.
        y  (N x OUT)  = x (N x IN) * W^T        W (OUT,IN) row-major: W^T is
                                                 the strided view (1, IN)
        dw (OUT x IN) += dy^T (OUT x N) * x      (beta = 1)
        dx (N x IN)    = dy (N x OUT) * W                                   */

#include "fg_ops_internal.h"

static int
s_check (const char *what, int n, int in, int out, fg_error_t *err)
{
    size_t t;
    if (n < 1 || in < 1 || out < 1
    ||  !fg_ops_mul ((size_t) n, (size_t) in, &t)
    ||  !fg_ops_mul ((size_t) n, (size_t) out, &t)
    ||  !fg_ops_mul ((size_t) in, (size_t) out, &t))
        return fg_error_set (err, FG_EINVAL, "linear: %s: bad size (batch %d, "
                             "in %d, out %d)", what, n, in, out);
    return 0;
}

int
fg_linear_forward (fg_ops_ctx_t *ctx, int n, int in, int out,
                   const float *x, const float *w, const float *b,
                   float *y, fg_error_t *err)
{
    int rc = s_check ("forward", n, in, out, err);
    if (rc)
        return rc;
    if (!ctx || !x || !w || !y)
        return fg_error_set (err, FG_EINVAL, "linear: forward: NULL argument");
    const size_t N = (size_t) n, IN = (size_t) in, OUT = (size_t) out;
    rc = fg_ops_gemm (ctx, "linear forward", N, OUT, IN, 1.0f, x, IN, 1,
                      w, 1, IN, 0.0f, y, OUT, 1, err);
    if (!rc && b)
        for (size_t i = 0; i < N; i++)
            for (size_t j = 0; j < OUT; j++)
                y [i * OUT + j] += b [j];
    return rc;
}

int
fg_linear_backward (fg_ops_ctx_t *ctx, int n, int in, int out,
                    const float *x, const float *w, const float *dy,
                    float *dx, float *dw, float *db, fg_error_t *err)
{
    int rc = s_check ("backward", n, in, out, err);
    if (rc)
        return rc;
    if (!ctx || !x || !w || !dy)
        return fg_error_set (err, FG_EINVAL, "linear: backward: NULL argument");
    const size_t N = (size_t) n, IN = (size_t) in, OUT = (size_t) out;
    if (db) {
        double *acc = fg_ops_scratch (ctx, FG_SCRATCH_AUX, OUT * sizeof (double));
        if (!acc)
            return fg_error_set (err, FG_ENOMEM, "linear: backward: no memory "
                                 "for %zu bias sums", OUT);
        fg_ops_colsum_acc (N, OUT, dy, OUT, acc, db);
    }
    if (dw)
        rc = fg_ops_gemm (ctx, "linear backward dw", OUT, IN, N, 1.0f,
                          dy, 1, OUT, x, IN, 1, 1.0f, dw, IN, 1, err);
    if (!rc && dx)
        rc = fg_ops_gemm (ctx, "linear backward dx", N, IN, OUT, 1.0f,
                          dy, OUT, 1, w, IN, 1, 0.0f, dx, IN, 1, err);
    return rc;
}
