/*  bench_texture.c — the texture set's data pipeline: random batches of
    fragments (decode on miss, scale, cut, contrast, rotate, normalise,
    augment) per second, the cache's hit rate and memory, and the cost of
    one decode and one scale.

        bench/bench_texture [-d DIR] [-n images] [-k classes] [-H h] [-W w]
                            [-s side] [-S stride] [-r rotations] [-c cache_mb]
                            [-b batch] [-B batches] [-t threads] [-k classes]
    Without -d it writes n seeded JPEGs (quality 90) of h x w (default the
    study's 2272 x 1074, 16 images, 4 classes) under $TMPDIR and removes
    them after; -d of a folder that does not exist writes them there and
    keeps them (for several runs on the same images). Defaults: side 64, stride 64, 4 rotations, cache 1024 MiB,
    batch 32, 40 batches, 1 thread; test_share 0 (every image trains).

    Batches: sample indices uniform over the set (fg_rng FG_RNG_TEST),
    augmented, as a trainer's random shard order gives them. Two passes
    over the same batch list: the first with a cold cache (every image
    decoded on its first fragment), the second warm. Per pass: fragments/s
    by the wall clock and per CPU second (getrusage of the process: the
    figure that does not depend on other load), hits / (hits + misses).
    Never run by make check (built only, so it keeps compiling).          */

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "fg_dataset.h"
#include "fg_file.h"
#include "fg_image.h"
#include "fg_rng.h"
#include "fg_texture.h"
#include "fg_test_image.h"
#include "fg_test_util.h"

typedef struct {
    const char *dir;
    uint32_t    images, classes, h, w, side, stride, rotations, batch, batches, threads;
    uint64_t    cache_mb;
} s_opts_t;

static double
s_wall (void)
{
    struct timespec t;
    clock_gettime (CLOCK_MONOTONIC, &t);
    return (double) t.tv_sec + t.tv_nsec * 1e-9;
}

static double
s_cpu (void)
{
    struct rusage u;
    getrusage (RUSAGE_SELF, &u);
    return (double) u.ru_utime.tv_sec + u.ru_utime.tv_usec * 1e-6
         + (double) u.ru_stime.tv_sec + u.ru_stime.tv_usec * 1e-6;
}

//  n seeded JPEGs, class-major, under root/c<k>/; returns the bytes of one
//  file and times one decode and one scale of the last.
static int
s_generate (const s_opts_t *o, const char *root)
{
    uint8_t *hwc = malloc ((size_t) o->h * o->w * 3);
    if (!hwc)
        return -1;
    char path [4400];
    for (uint32_t i = 0; i < o->images; i++) {
        snprintf (path, sizeof path, "%s/c%u", root, i % o->classes);
        if (fg_file_mkdirs (path, NULL))
            return -1;
        fg_test_image_pattern (i, o->h, o->w, 3, hwc);
        snprintf (path, sizeof path, "%s/c%u/img%05u.jpg", root, i % o->classes, i);
        if (fg_test_image_write_jpeg (path, hwc, o->h, o->w, 3, 90))
            return -1;
    }
    free (hwc);
    return 0;
}

//  One decode and one scale of the first image of the set, timed.
static void
s_unit_costs (const s_opts_t *o, const fg_dataset_t *ds, const char *root)
{
    const char *rel;
    fg_texture_place_t place;
    if (fg_dataset_texture_sample (ds, 0, &rel, &place))
        return;
    char path [4600], *file;
    size_t size;
    snprintf (path, sizeof path, "%s/%s", root, rel);
    if (fg_file_read (path, (size_t) 1 << 30, &file, &size, NULL))
        return;
    fg_image_t image;
    double c0 = s_cpu ();
    int reps = 5;
    for (int r = 0; r < reps; r++) {
        if (fg_image_decode ((const uint8_t *) file, size, path, 3, &image, NULL))
            return;
        if (r < reps - 1)
            fg_image_release (&image);
    }
    double decode = (s_cpu () - c0) / reps;
    fg_texture_geometry_t g = { 256, o->stride, o->rotations, o->side, 512 };
    uint32_t sh, sw;
    fg_texture_scaled_shape (&g, image.height, image.width, &sh, &sw);
    uint8_t *scaled = malloc ((size_t) sh * sw * 3);
    c0 = s_cpu ();
    for (int r = 0; r < reps; r++)
        fg_texture_scale (&g, image.pixels, image.height, image.width, 3, scaled, NULL);
    double scale = (s_cpu () - c0) / reps;
    printf ("# one image: %zu bytes of JPEG, %ux%u; decode %.1f ms, scale to %ux%u %.1f ms "
            "(CPU); decoded %.1f MB, scaled %.2f MB\n", size, image.width, image.height,
            decode * 1e3, sw, sh, scale * 1e3, image.height * (double) image.width * 3 / 1e6,
            sh * (double) sw * 3 / 1e6);
    free (scaled);
    fg_image_release (&image);
    free (file);
}

typedef struct {
    const fg_dataset_t *ds;
    const s_opts_t     *o;
    uint32_t            first;
    float              *out;
    int                 rc;
} s_worker_t;

static void *
s_worker (void *arg)
{
    s_worker_t *w = arg;
    uint32_t *indices = malloc (w->o->batch * sizeof (uint32_t));
    uint32_t count = (uint32_t) fg_dataset_count (w->ds);
    for (uint32_t b = w->first; b < w->o->batches && !w->rc; b += w->o->threads) {
        fg_rng_t rng;
        fg_rng_init (&rng, 1, FG_RNG_TEST, 0, 0, 0, b);
        for (uint32_t k = 0; k < w->o->batch; k++)
            indices [k] = fg_rng_below (&rng, count);
        fg_dataset_key_t key = { 1, 0, 0, 0, b };
        fg_error_t err;
        w->rc = fg_dataset_batch (w->ds, indices, w->o->batch, true, &key, w->out, NULL, &err);
        if (w->rc)
            fprintf (stderr, "bench_texture: %s\n", err.msg);
    }
    free (indices);
    return NULL;
}

static int
s_pass (const s_opts_t *o, const fg_dataset_t *ds, const char *what)
{
    uint64_t h0, m0, bytes, peak;
    fg_dataset_texture_stats (ds, &h0, &m0, &bytes, &peak);
    pthread_t tids [64];
    s_worker_t workers [64];
    size_t floats = (size_t) o->batch * o->side * o->side * 3;
    double w0 = s_wall (), c0 = s_cpu ();
    int rc = 0;
    for (uint32_t t = 0; t < o->threads; t++) {
        workers [t] = (s_worker_t) { ds, o, t, malloc (floats * sizeof (float)), 0 };
        pthread_create (&tids [t], NULL, s_worker, &workers [t]);
    }
    for (uint32_t t = 0; t < o->threads; t++) {
        pthread_join (tids [t], NULL);
        rc |= workers [t].rc;
        free (workers [t].out);
    }
    double wall = s_wall () - w0, cpu = s_cpu () - c0;
    uint64_t h1, m1;
    fg_dataset_texture_stats (ds, &h1, &m1, &bytes, &peak);
    double n = (double) o->batch * o->batches;
    printf ("%-5s %8.0f %10.0f %8.1f %7.3f %6llu %9.1f %9.1f\n", what, n / wall, n / cpu,
            wall, (double) (h1 - h0) / (double) ((h1 - h0) + (m1 - m0)),
            (unsigned long long) (m1 - m0), bytes / 1048576.0, peak / 1048576.0);
    return rc;
}

int
main (int argc, char **argv)
{
    s_opts_t o = { NULL, 16, 4, 1074, 2272, 64, 64, 4, 32, 40, 1, 1024 };
    int c;
    while ((c = getopt (argc, argv, "d:n:k:H:W:s:S:r:c:b:B:t:")) != -1) {
        uint32_t v = (uint32_t) strtoul (optarg, NULL, 10);
        switch (c) {
            case 'd': o.dir = optarg; break;
            case 'n': o.images = v; break;
            case 'k': o.classes = v; break;
            case 'H': o.h = v; break;
            case 'W': o.w = v; break;
            case 's': o.side = v; break;
            case 'S': o.stride = v; break;
            case 'r': o.rotations = v; break;
            case 'c': o.cache_mb = v; break;
            case 'b': o.batch = v; break;
            case 'B': o.batches = v; break;
            case 't': o.threads = v < 1? 1: v > 64? 64: v; break;
            default:
                fprintf (stderr, "usage: bench_texture [-d DIR] [-n images] [-k classes] "
                         "[-H h] [-W w] [-s side] [-S stride] [-r rotations] [-c cache_mb] "
                         "[-b batch] [-B batches] [-t threads]\n");
                return 2;
        }
    }
    char tmp [4096] = "", root [4200];
    if (!o.dir) {
        if (fg_test_tmpdir ("bench-texture", tmp, sizeof tmp))
            return 1;
        snprintf (root, sizeof root, "%s/set", tmp);
        double w0 = s_wall ();
        if (s_generate (&o, root)) {
            fprintf (stderr, "bench_texture: cannot write the images under %s\n", root);
            return 1;
        }
        printf ("# wrote %u JPEGs of %ux%u in %.1f s\n", o.images, o.w, o.h, s_wall () - w0);
    }
    else {
        snprintf (root, sizeof root, "%s", o.dir);
        if (access (root, F_OK) != 0) {             //  -d of a new folder: write it, keep it
            if (s_generate (&o, root)) {
                fprintf (stderr, "bench_texture: cannot write the images under %s\n", root);
                return 1;
            }
            printf ("# wrote %u JPEGs of %ux%u under %s (kept)\n", o.images, o.w, o.h, root);
        }
    }
    fg_texture_options_t opt = { { 256, o.stride, o.rotations, o.side, 512 }, 0.0,
                                 o.cache_mb << 20 };
    fg_dataset_t *ds = NULL;
    fg_error_t err;
    double w0 = s_wall ();
    if (fg_dataset_open_texture (root, FG_SPLIT_TRAIN, 0, &opt, &ds, &err)) {
        fprintf (stderr, "bench_texture: %s\n", err.msg);
        return 1;
    }
    printf ("# open (index + headers): %.3f s; %zu fragments of %ux%u from %s; stride %u, "
            "%u rotations, cache %llu MiB, batch %u x %u batches, %u threads\n",
            s_wall () - w0, fg_dataset_count (ds), o.side, o.side, root, o.stride, o.rotations,
            (unsigned long long) o.cache_mb, o.batch, o.batches, o.threads);
    s_unit_costs (&o, ds, root);
    printf ("#pass frag/s  frag/cpu-s   wall_s  hit_rate decodes  held_MiB  peak_MiB\n");
    int rc = s_pass (&o, ds, "cold") | s_pass (&o, ds, "warm");
    fg_dataset_destroy (&ds);
    if (tmp [0])
        fg_test_rmtree (tmp);
    return rc? 1: 0;
}
