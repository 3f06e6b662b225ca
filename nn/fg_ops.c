/*  fg_ops.c — kernel context, scratch, the checked BLIS door.            */

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <blis.h>
#include "fg_ops_internal.h"
#include "fg_state.h"

fg_ops_ctx_t *
fg_ops_ctx_new (int threads)
{
    fg_ops_ctx_t *self = calloc (1, sizeof (*self));
    if (!self)
        return NULL;
    self->threads = threads < 1? 1: threads;
    return self;
}

void
fg_ops_ctx_destroy (fg_ops_ctx_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fg_ops_ctx_t *self = *self_p;
    for (int i = 0; i < FG_SCRATCH_SLOTS; i++)
        free (self->scratch [i]);
    free (self);
    *self_p = NULL;
}

void
fg_ops_ctx_set_threads (fg_ops_ctx_t *self, int threads)
{
    assert (self);
    self->threads = threads < 1? 1: threads;
}

int
fg_ops_ctx_threads (const fg_ops_ctx_t *self)
{
    assert (self);
    return self->threads;
}

size_t
fg_ops_ctx_scratch_bytes (const fg_ops_ctx_t *self)
{
    assert (self);
    size_t total = 0;
    for (int i = 0; i < FG_SCRATCH_SLOTS; i++)
        total += self->scratch_size [i];
    return total;
}

void *
fg_ops_scratch (fg_ops_ctx_t *ctx, int slot, size_t bytes)
{
    assert (ctx && slot >= 0 && slot < FG_SCRATCH_SLOTS);
    if (bytes <= ctx->scratch_size [slot] && ctx->scratch [slot])
        return ctx->scratch [slot];
    //  Grow to the request rounded up to 64 bytes (and at least 4 KiB);
    //  contents need not survive, so free first to keep the peak low.
    size_t size = bytes < 4096? 4096: bytes;
    if (size > SIZE_MAX - 63 - FG_BLIS_TAIL_PAD)
        return NULL;
    size = ((size + 63) & ~(size_t) 63) + FG_BLIS_TAIL_PAD;
    void *block = NULL;
    if (posix_memalign (&block, 64, size) != 0)
        return NULL;
    free (ctx->scratch [slot]);
    ctx->scratch [slot] = block;
    ctx->scratch_size [slot] = size - FG_BLIS_TAIL_PAD;    //  usable bytes
    return block;
}

char *
fg_ops_blis_info (char *buf, size_t size)
{
    assert (buf || size == 0);
    if (size > 0)
        snprintf (buf, size, "%s %s", bli_info_get_version_str (),
                  bli_arch_string (bli_arch_query_id ()));
    return buf;
}

//  A (rows x cols) view with strides (rs, cs) is acceptable to BLIS when
//  one stride is 1 and the other covers the opposite dimension.
static bool
s_view_ok (size_t rows, size_t cols, size_t rs, size_t cs)
{
    if (rs < 1 || cs < 1 || rs > FG_OPS_MAX_ELEMS || cs > FG_OPS_MAX_ELEMS)
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
fg_ops_gemm (fg_ops_ctx_t *ctx, const char *what,
             size_t m, size_t n, size_t k, float alpha,
             const float *a, size_t rsa, size_t csa,
             const float *b, size_t rsb, size_t csb, float beta,
             float *c, size_t rsc, size_t csc, fg_error_t *err)
{
    assert (ctx);
    if (m > FG_OPS_MAX_ELEMS || n > FG_OPS_MAX_ELEMS || k > FG_OPS_MAX_ELEMS)
        return fg_error_set (err, FG_EINVAL, "%s: gemm: dimension too large "
                             "(m %zu, n %zu, k %zu)", what, m, n, k);
    if (m == 0 || n == 0)
        return 0;
    if (!c || !s_view_ok (m, n, rsc, csc))
        return fg_error_set (err, FG_EINVAL, "%s: gemm: bad C view %zux%zu "
                             "strides (%zu,%zu)", what, m, n, rsc, csc);
    if (k == 0) {
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
    bli_rntm_set_num_threads (ctx->threads, &rntm);
    float alpha_v = alpha, beta_v = beta;
    bli_sgemm_ex (BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE,
                  (dim_t) m, (dim_t) n, (dim_t) k, &alpha_v,
                  (float *) a, (inc_t) rsa, (inc_t) csa,
                  (float *) b, (inc_t) rsb, (inc_t) csb, &beta_v,
                  c, (inc_t) rsc, (inc_t) csc, NULL, &rntm);
    return 0;
}

void
fg_ops_colsum_acc (size_t rows, size_t cols, const float *x, size_t ld,
                   double *acc, float *out)
{
    for (size_t j = 0; j < cols; j++)
        acc [j] = 0.0;
    for (size_t i = 0; i < rows; i++) {
        const float *row = x + i * ld;
        for (size_t j = 0; j < cols; j++)
            acc [j] += row [j];
    }
    for (size_t j = 0; j < cols; j++)
        out [j] += (float) acc [j];
}
