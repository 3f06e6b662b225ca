/*  bench_blob.c — compression ratio and speed of the weights blob on a
    VGG-16-bn (CIFAR-10) sized state: 14.7 M floats, 59 MB.
        bench/bench_blob [repeats]
    Data (all from the test RNG stream, so every run measures the same
    bytes): "init" = He-normal conv weights N(0, 2/fan_in), conv biases 0,
    BN weight 1, bias 0, running mean 0, var 1, classifier N(0, 1/512);
    "trained-like" = init + N(0, (0.05*std)^2) on every float, so that the
    values fill their mantissas; "step r" = trained-like + an SGD-like
    step N(0, (r*std)^2) per float (std = the tensor's init std, 1 for BN).
    Full blobs are measured on trained-like weights, deltas against them.
    Not part of make check: it takes about a minute on one core.          */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lz4.h>

#include "fg_blob.h"
#include "fg_clock.h"
#include "fg_rng.h"
#include "fg_state.h"

static void
s_add (fg_state_t *s, const char *name, fg_tensor_kind_t kind, uint32_t rank,
       uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
    uint64_t shape [4] = { a, b, c, d };
    fg_error_t err;
    if (fg_state_add (s, name, kind, rank, shape, &err)) {
        fprintf (stderr, "bench_blob: %s\n", err.msg);
        exit (1);
    }
}

//  torchvision vgg16_bn feature names, CIFAR head Linear (512, 10)
static fg_state_t *
s_vgg16_bn (void)
{
    static const int cfg [] = { 64, 64, 0, 128, 128, 0, 256, 256, 256, 0,
                                512, 512, 512, 0, 512, 512, 512, 0 };
    fg_state_t *s = fg_state_new ();
    int in = 3, index = 0;
    char name [96];
    for (size_t i = 0; i < sizeof cfg / sizeof cfg [0]; i++) {
        if (cfg [i] == 0) {             //  max pool
            index++;
            continue;
        }
        int out = cfg [i];
        snprintf (name, sizeof name, "features.%d.weight", index);
        s_add (s, name, FG_TENSOR_PARAM, 4, out, in, 3, 3);
        snprintf (name, sizeof name, "features.%d.bias", index);
        s_add (s, name, FG_TENSOR_PARAM, 1, out, 1, 1, 1);
        const char *bn [5] = { "weight", "bias", "running_mean", "running_var", "num_batches_tracked" };
        for (int k = 0; k < 5; k++) {
            snprintf (name, sizeof name, "features.%d.%s", index + 1, bn [k]);
            s_add (s, name, k < 2? FG_TENSOR_PARAM: FG_TENSOR_BUFFER, 1, k == 4? 1: out, 1, 1, 1);
        }
        index += 3;                     //  conv, bn, relu
        in = out;
    }
    s_add (s, "classifier.weight", FG_TENSOR_PARAM, 2, 10, 512, 1, 1);
    s_add (s, "classifier.bias", FG_TENSOR_PARAM, 1, 10, 1, 1, 1);
    return s;
}

//  init values, and each float's scale for perturbations
static void
s_init (fg_state_t *s, float *scale)
{
    fg_rng_t rng;
    fg_rng_init (&rng, 16, FG_RNG_TEST, 0, 0, 0, 0);
    for (size_t i = 0; i < s->nviews; i++) {
        const fg_tensor_view_t *v = &s->views [i];
        float *x = s->data + v->offset;
        const char *leaf = strrchr (v->name, '.') + 1;
        bool conv = v->rank == 4, fc = strncmp (v->name, "classifier.weight", 17) == 0;
        double std = conv? sqrt (2.0 / (double) (v->shape [1] * 9)): fc? sqrt (1.0 / 512): 1.0;
        for (size_t k = 0; k < v->count; k++) {
            if (conv || fc)
                x [k] = (float) (std * fg_rng_normal (&rng));
            else
                x [k] = strcmp (leaf, "weight") == 0 || strcmp (leaf, "running_var") == 0? 1.0f: 0.0f;
            scale [v->offset + k] = (float) (conv || fc? std: 0.1);
        }
    }
}

static void
s_perturb (fg_state_t *s, const float *scale, double r, uint32_t stream)
{
    fg_rng_t rng;
    fg_rng_init (&rng, 16, FG_RNG_TEST, stream, 0, 0, 0);
    for (size_t i = 0; i < s->size; i++)
        s->data [i] += (float) (r * scale [i] * fg_rng_normal (&rng));
}

static void
s_measure (const char *what, const fg_state_t *s, const fg_state_t *base, int repeats)
{
    double mb = (double) s->size * 4 / 1e6, enc = 1e9, dec = 1e9;
    size_t size = 0;
    for (int r = 0; r < repeats; r++) {
        uint8_t *blob;
        fg_error_t err;
        double t0 = fg_clock_mono_s ();
        if (fg_blob_encode (s, base, &blob, &size, &err)) {
            fprintf (stderr, "bench_blob: %s\n", err.msg);
            exit (1);
        }
        double t1 = fg_clock_mono_s ();
        fg_state_t *back;
        if (fg_blob_decode (blob, size, base, &back, &err)) {
            fprintf (stderr, "bench_blob: %s\n", err.msg);
            exit (1);
        }
        double t2 = fg_clock_mono_s ();
        if (memcmp (back->data, s->data, s->size * 4)) {
            fprintf (stderr, "bench_blob: %s: round trip differs\n", what);
            exit (1);
        }
        enc = t1 - t0 < enc? t1 - t0: enc;
        dec = t2 - t1 < dec? t2 - t1: dec;
        fg_state_destroy (&back);
        free (blob);
    }
    printf ("%-34s %8.2f MB -> %8.2f MB  ratio %5.3f  encode %6.0f MB/s  decode %6.0f MB/s\n",
            what, mb, (double) size / 1e6, mb * 1e6 / (double) size, mb / enc, mb / dec);
}

//  for reference: plain LZ4 of the unshuffled floats, 1 MiB blocks
static void
s_plain_lz4 (const char *what, const fg_state_t *s)
{
    size_t bytes = s->size * 4, out = 0, block = 1 << 20;
    char *dst = malloc ((size_t) LZ4_compressBound ((int) block));
    for (size_t at = 0; at < bytes; at += block) {
        size_t n = bytes - at < block? bytes - at: block;
        out += (size_t) LZ4_compress_default ((const char *) s->data + at, dst, (int) n,
                                              LZ4_compressBound ((int) n));
    }
    free (dst);
    printf ("%-34s %8.2f MB -> %8.2f MB  ratio %5.3f\n", what, (double) bytes / 1e6,
            (double) out / 1e6, (double) bytes / (double) out);
}

int
main (int argc, char **argv)
{
    int repeats = argc > 1? atoi (argv [1]): 3;
    if (repeats < 1)
        repeats = 1;
    fg_state_t *init = s_vgg16_bn ();
    float *scale = malloc (init->size * sizeof (float));
    s_init (init, scale);
    printf ("VGG-16-bn (CIFAR-10 head): %zu tensors, %zu floats; LZ4 %s; best of %d\n",
            init->nviews, init->size, LZ4_versionString (), repeats);
    fg_state_t *trained = fg_state_dup (init);
    s_perturb (trained, scale, 0.05, 1);
    s_plain_lz4 ("plain LZ4, no shuffle (trained-like)", trained);
    s_measure ("full, init weights", init, NULL, repeats);
    s_measure ("full, trained-like weights", trained, NULL, repeats);
    const double steps [3] = { 1e-2, 1e-3, 1e-4 };
    for (int i = 0; i < 3; i++) {
        fg_state_t *next = fg_state_dup (trained);
        s_perturb (next, scale, steps [i], 2 + (uint32_t) i);
        char what [64];
        snprintf (what, sizeof what, "delta, step %.0e of std", steps [i]);
        s_measure (what, next, trained, repeats);
        fg_state_destroy (&next);
    }
    fg_state_destroy (&init);
    fg_state_destroy (&trained);
    free (scale);
    return 0;
}
