/*  fg_ops.c — kernel context, scratch, the door to fg_gemm (BLIS).        */

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fg_gemm.h"
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
    char gemm [64];
    fg_gemm_info (gemm, sizeof gemm);
    //  fg_gemm_info starts with FG_GEMM_IDENTITY: put ours in its place
    if (size > 0)
        snprintf (buf, size, "%s%s", FG_OPS_IDENTITY, gemm + strlen (FG_GEMM_IDENTITY));
    return buf;
}

const char *
fg_ops_kernel_identity (void)
{
    return FG_OPS_IDENTITY;
}

int
fg_ops_gemm (fg_ops_ctx_t *ctx, const char *what,
             size_t m, size_t n, size_t k, float alpha,
             const float *a, size_t rsa, size_t csa,
             const float *b, size_t rsb, size_t csb, float beta,
             float *c, size_t rsc, size_t csc, fg_error_t *err)
{
    assert (ctx);
    return fg_gemm (FG_GEMM_AUTO, ctx->threads, what, m, n, k, alpha,
                    a, rsa, csa, b, rsb, csb, beta, c, rsc, csc, err);
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
