/*  bench_ops.c — times the convolution kernels of nn/ on the layer shapes
    of the fedgrid models, and the GEMM orientation choice of DESIGN §7.

        bench/bench_ops [threads [reps]]      (defaults: 1 thread, 3 reps)
        bench/bench_ops -g [threads [reps]]   the GEMM kernels table only

    First, the sgemm rate (GFLOPS) of the three GEMMs of each dense conv
    layer as fg_conv calls them (forward on one im2col chunk: col * W^T;
    weight gradient dY^T * col; input gradient dY * W), with BLIS's own
    context for this machine (`blis`, what nn/ used before fg_gemm) and
    with fg_gemm per kernel variant the CPU supports (portable only on the
    square 500^3: it runs at ~1 GFLOPS). With 1 thread the time is the
    process's CPU time (robust to other processes on a shared machine).

    For each layer: best-of-reps wall time of fg_conv_forward and of
    fg_conv_backward (dx and dw), and the GEMM rate they reach. Then, for
    the same GEMM sizes, the three orientations one could choose:
      nhwc-batch   Y (N*OH*OW x K) = col * W^T, one call per chunk (ours)
      nchw-batch   Y (K x N*OH*OW) = W * col^T  (channels first, batched)
      nchw-image   Y_n (K x OH*OW) = W * col_n, one call per image
    Never run by make check (built only, so it keeps compiling).          */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <blis.h>
#include "fg_clock.h"
#include "fg_gemm.h"
#include "fg_ops.h"

static float *
s_fill (size_t n)
{
    float *p = malloc (n * sizeof (float));
    if (!p) {
        fprintf (stderr, "bench_ops: out of memory\n");
        exit (1);
    }
    for (size_t i = 0; i < n; i++)
        p [i] = (float) ((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    return p;
}

typedef struct {
    const char *name;
    fg_conv_shape_t s;
} layer_t;

//  Best-of-reps GFLOPS of C (m x n) = A (m x k) * B (k x n) with the given
//  strides; variant < 0: BLIS's own context (bli_sgemm_ex, NULL cntx).
static double
s_gemm_rate (int variant, int threads, int reps, size_t m, size_t n, size_t k,
             size_t rsa, size_t csa, size_t rsb, size_t csb)
{
    float *a = s_fill (m * k), *b = s_fill (k * n), *c = s_fill (m * n + 16);
    double best = 1e9;
    //  with one thread, the process's CPU time: the GEMM's own time even
    //  when other processes take the core (the machine is shared)
    double (*clock) (void) = threads == 1? fg_clock_cpu_s: fg_clock_mono_s;
    for (int r = 0; r < reps; r++) {
        double t = clock ();
        if (variant < 0) {
            rntm_t rntm = BLIS_RNTM_INITIALIZER;
            bli_rntm_set_num_threads (threads, &rntm);
            float one = 1.0f, zero = 0.0f;
            bli_sgemm_ex (BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, (dim_t) m, (dim_t) n,
                          (dim_t) k, &one, a, (inc_t) rsa, (inc_t) csa, b, (inc_t) rsb,
                          (inc_t) csb, &zero, c, (inc_t) n, 1, NULL, &rntm);
        }
        else
        if (fg_gemm ((fg_gemm_variant_t) variant, threads, "bench", m, n, k, 1.0f,
                     a, rsa, csa, b, rsb, csb, 0.0f, c, n, 1, NULL))
            exit (1);
        t = clock () - t;
        best = t < best? t: best;
    }
    free (a); free (b); free (c);
    return 2.0 * (double) m * (double) n * (double) k / best * 1e-9;
}

static void
s_gemm_row (const char *name, int threads, int reps, bool portable, size_t m, size_t n,
            size_t k, size_t rsa, size_t csa, size_t rsb, size_t csb)
{
    printf ("%-36s %5zu %5zu %5zu %8.1f", name, m, n, k,
            s_gemm_rate (-1, threads, reps, m, n, k, rsa, csa, rsb, csb));
    for (int v = portable? FG_GEMM_PORTABLE: FG_GEMM_AVX2; v < FG_GEMM_VARIANTS; v++)
        if (fg_gemm_supported ((fg_gemm_variant_t) v))
            printf (" %8.1f", s_gemm_rate (v, threads, reps, m, n, k, rsa, csa, rsb, csb));
        else
            printf (" %8s", "-");
    printf ("\n");
}

int
main (int argc, char **argv)
{
    bool gemm_only = argc > 1 && strcmp (argv [1], "-g") == 0;
    if (gemm_only) {
        argc--;
        argv++;
    }
    int threads = argc > 1? atoi (argv [1]): 1;
    int reps = argc > 2? atoi (argv [2]): 3;
    if (threads < 1 || reps < 1) {
        fprintf (stderr, "usage: bench_ops [-g] [threads [reps]]\n");
        return 2;
    }
    const layer_t layers [] = {
        //  n, h, w, c, k, kh, kw, sh, sw, ph, pw, groups
        { "vgg conv1 32x32 3->64",     { 32, 32, 32,   3,  64, 3, 3, 1, 1, 1, 1, 1 } },
        { "vgg conv2 32x32 64->64",    { 32, 32, 32,  64,  64, 3, 3, 1, 1, 1, 1, 1 } },
        { "vgg conv 16x16 128->128",   { 32, 16, 16, 128, 128, 3, 3, 1, 1, 1, 1, 1 } },
        { "vgg conv 8x8 256->256",     { 32,  8,  8, 256, 256, 3, 3, 1, 1, 1, 1, 1 } },
        { "vgg conv 4x4 512->512",     { 32,  4,  4, 512, 512, 3, 3, 1, 1, 1, 1, 1 } },
        { "vgg conv 2x2 512->512",     { 32,  2,  2, 512, 512, 3, 3, 1, 1, 1, 1, 1 } },
        { "mnv3 stem 64x64 3->16 s2",  { 32, 64, 64,   3,  16, 3, 3, 2, 2, 1, 1, 1 } },
        { "mnv3 1x1 16x16 24->72",     { 32, 16, 16,  24,  72, 1, 1, 1, 1, 0, 0, 1 } },
        { "mnv3 dw3x3 16x16 72",       { 32, 16, 16,  72,  72, 3, 3, 1, 1, 1, 1, 72 } },
        { "mnv3 dw5x5 8x8 240",        { 32,  8,  8, 240, 240, 5, 5, 1, 1, 2, 2, 240 } },
        { "mnv3 1x1 4x4 96->576",      { 32,  4,  4,  96, 576, 1, 1, 1, 1, 0, 0, 1 } },
    };
    char info [128];
    printf ("GEMM kernels: %s; GFLOPS, %d thread(s), best of %d\n",
            fg_ops_blis_info (info, sizeof info), threads, reps);
    printf ("%-36s %5s %5s %5s %8s %8s %8s %8s\n", "gemm", "m", "n", "k", "blis",
            "portable", "avx2", "avx512");
    s_gemm_row ("square", threads, reps, true, 500, 500, 500, 500, 1, 500, 1);
    s_gemm_row ("square", threads, reps, false, 2000, 2000, 2000, 2000, 1, 2000, 1);
    for (size_t l = 0; l < sizeof layers / sizeof layers [0]; l++) {
        const fg_conv_shape_t *s = &layers [l].s;
        int oh, ow;
        if (s->groups != 1 || fg_conv_check (s, &oh, &ow, NULL))
            continue;
        size_t pix = (size_t) oh * ow, k = (size_t) s->k;
        size_t kq = (size_t) s->c * s->kh * s->kw;
        size_t per = FG_CONV_CHUNK_FLOATS / (pix * kq);
        size_t images = per < 1? 1: per > (size_t) s->n? (size_t) s->n: per;
        size_t rows = images * pix;
        char name [80];
        snprintf (name, sizeof name, "%s fwd", layers [l].name);
        s_gemm_row (name, threads, reps, false, rows, k, kq, kq, 1, 1, kq);
        snprintf (name, sizeof name, "%s dW", layers [l].name);
        s_gemm_row (name, threads, reps, false, k, kq, rows, 1, k, kq, 1);
        snprintf (name, sizeof name, "%s dX", layers [l].name);
        s_gemm_row (name, threads, reps, false, rows, kq, k, k, 1, kq, 1);
    }
    if (gemm_only)
        return 0;
    printf ("\n");

    fg_ops_ctx_t *ctx = fg_ops_ctx_new (threads);
    printf ("conv kernels: %s, %d thread(s), best of %d\n",
            fg_ops_blis_info (info, sizeof info), threads, reps);
    printf ("%-28s %10s %8s %10s %8s\n", "layer", "fwd ms", "GF/s", "bwd ms", "GF/s");
    for (size_t l = 0; l < sizeof layers / sizeof layers [0]; l++) {
        const fg_conv_shape_t *s = &layers [l].s;
        int oh, ow;
        if (fg_conv_check (s, &oh, &ow, NULL))
            return 1;
        size_t nx = (size_t) s->n * s->h * s->w * s->c, nw = fg_conv_weight_count (s);
        size_t ny = (size_t) s->n * oh * ow * s->k;
        float *x = s_fill (nx), *w = s_fill (nw), *b = s_fill ((size_t) s->k);
        float *y = s_fill (ny), *dx = s_fill (nx), *dw = s_fill (nw), *db = s_fill ((size_t) s->k);
        double flops = 2.0 * (double) ny * (double) nw / (double) s->k;     //  one GEMM
        double fwd = 1e9, bwd = 1e9;
        for (int r = 0; r < reps; r++) {
            double t = fg_clock_mono_s ();
            if (fg_conv_forward (ctx, s, x, w, b, y, NULL))
                return 1;
            t = fg_clock_mono_s () - t;
            fwd = t < fwd? t: fwd;
            t = fg_clock_mono_s ();
            if (fg_conv_backward (ctx, s, x, w, y, dx, dw, db, NULL))
                return 1;
            t = fg_clock_mono_s () - t;
            bwd = t < bwd? t: bwd;
        }
        printf ("%-28s %10.2f %8.1f %10.2f %8.1f\n", layers [l].name, fwd * 1e3,
                flops / fwd * 1e-9, bwd * 1e3, 2 * flops / bwd * 1e-9);
        free (x); free (w); free (b); free (y); free (dx); free (dw); free (db);
    }

    //  GEMM orientation (forward GEMM only, im2col excluded)
    printf ("\nforward GEMM only, ms: %-14s %12s %12s %12s\n", "", "nhwc-batch",
            "nchw-batch", "nchw-image");
    float one = 1.0f, zero = 0.0f;
    for (size_t l = 0; l < sizeof layers / sizeof layers [0]; l++) {
        const fg_conv_shape_t *s = &layers [l].s;
        if (s->groups != 1)
            continue;
        int oh, ow;
        fg_conv_check (s, &oh, &ow, NULL);
        dim_t pix = (dim_t) oh * ow, rows = (dim_t) s->n * pix, k = s->k;
        dim_t kq = (dim_t) s->c * s->kh * s->kw;
        float *col = s_fill ((size_t) rows * kq), *w = s_fill ((size_t) k * kq);
        float *y = s_fill ((size_t) rows * k);
        double best [3] = { 1e9, 1e9, 1e9 };
        for (int r = 0; r < reps; r++) {
            double t = fg_clock_mono_s ();
            fg_gemm (FG_GEMM_AUTO, threads, "b", (size_t) rows, (size_t) k, (size_t) kq,
                     one, col, (size_t) kq, 1, w, 1, (size_t) kq, zero, y, (size_t) k, 1, NULL);
            t = fg_clock_mono_s () - t;
            best [0] = t < best [0]? t: best [0];
            t = fg_clock_mono_s ();
            fg_gemm (FG_GEMM_AUTO, threads, "b", (size_t) k, (size_t) rows, (size_t) kq,
                     one, w, (size_t) kq, 1, col, 1, (size_t) kq, zero, y, (size_t) rows, 1,
                     NULL);
            t = fg_clock_mono_s () - t;
            best [1] = t < best [1]? t: best [1];
            t = fg_clock_mono_s ();
            for (int n = 0; n < s->n; n++)
                fg_gemm (FG_GEMM_AUTO, threads, "b", (size_t) k, (size_t) pix, (size_t) kq,
                         one, w, (size_t) kq, 1, col + (size_t) n * pix * kq, 1, (size_t) kq,
                         zero, y + (size_t) n * pix * k, (size_t) pix, 1, NULL);
            t = fg_clock_mono_s () - t;
            best [2] = t < best [2]? t: best [2];
        }
        printf ("  %-42s %12.2f %12.2f %12.2f\n", layers [l].name, best [0] * 1e3,
                best [1] * 1e3, best [2] * 1e3);
        free (col); free (w); free (y);
    }
    fg_ops_ctx_destroy (&ctx);
    return 0;
}
