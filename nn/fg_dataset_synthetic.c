/*  fg_dataset_synthetic.c — the synthetic dataset of fg_dataset, all
    from a seed: a prototype per class (a random coarse grid upsampled
    bilinearly), balanced shuffled labels, and samples made of their
    prototype, a brightness shift and noise (see fg_dataset.h).           */

#include "fg_dataset_internal.h"
#include "fg_config.h"
#include "fg_rng.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  --------------------------------------------------------------------------
//  Synthetic

#define S_GRID 4                                //  prototype control points per side

//  Bilinear weights in 1/256: position of output coordinate v of n on a
//  grid of S_GRID points.
static void
s_grid_pos (uint32_t v, uint32_t n, uint32_t *i0, uint32_t *i1, uint32_t *frac)
{
    uint32_t g = n > 1? (uint32_t) (((uint64_t) v * (S_GRID - 1) * 256) / (n - 1)): 0;
    *i0 = g >> 8;
    *frac = g & 255;
    if (*i0 >= S_GRID - 1) {
        *i0 = S_GRID - 1;
        *frac = 0;
    }
    *i1 = *i0 + 1 < S_GRID? *i0 + 1: S_GRID - 1;
}

int
fg_dataset_synthetic (uint64_t seed, fg_split_t split, size_t n, uint32_t classes,
                      uint32_t height, uint32_t width, uint32_t channels,
                      fg_dataset_t **out, fg_error_t *err)
{
    *out = NULL;
    if (split != FG_SPLIT_TRAIN && split != FG_SPLIT_TEST)
        return fg_error_set (err, FG_EINVAL, "synthetic: split %d is neither train nor test", split);
    if (n == 0 || n > UINT32_MAX)
        return fg_error_set (err, FG_EINVAL, "synthetic: %zu samples is outside 1..%u", n, UINT32_MAX);
    if (classes < 2 || classes > FG_DATASET_CLASSES_MAX)
        return fg_error_set (err, FG_EINVAL, "synthetic: %u classes is outside 2..%u",
                             classes, FG_DATASET_CLASSES_MAX);
    if (height < 1 || height > FG_DATASET_SIDE_MAX || width < 1 || width > FG_DATASET_SIDE_MAX)
        return fg_error_set (err, FG_EINVAL, "synthetic: image %ux%u is outside 1..%u per side",
                             height, width, FG_DATASET_SIDE_MAX);
    if (channels < 1 || channels > FG_DATASET_CHANNELS_MAX)
        return fg_error_set (err, FG_EINVAL, "synthetic: %u channels is outside 1..%u",
                             channels, FG_DATASET_CHANNELS_MAX);
    size_t image = (size_t) height * width * channels;
    uint8_t *protos = malloc (classes * image);
    uint32_t *order = malloc (n * sizeof (uint32_t));
    int rc = 0;
    if (!protos || !order) {
        rc = fg_error_set (err, FG_ENOMEM, "synthetic: out of memory");
        goto done;
    }
    if ((rc = fg_dataset_alloc (FG_DATASET_SYNTHETIC, split, n, classes,
                                height, width, channels, out, err)))
        goto done;
    fg_dataset_t *self = *out;
    fg_rng_t rng;

    //  Prototypes: a random S_GRID x S_GRID grid per class and channel,
    //  upsampled bilinearly in integers (stream round 0, shard = class).
    for (uint32_t k = 0; k < classes; k++) {
        fg_rng_init (&rng, seed, FG_RNG_SYNTHETIC, 0, k, 0, 0);
        uint8_t grid [FG_DATASET_CHANNELS_MAX][S_GRID][S_GRID];
        for (uint32_t c = 0; c < channels; c++)
            for (int gy = 0; gy < S_GRID; gy++)
                for (int gx = 0; gx < S_GRID; gx++)
                    grid [c][gy][gx] = (uint8_t) (fg_rng_u32 (&rng) >> 24);
        uint8_t *proto = protos + k * image;
        for (uint32_t y = 0; y < height; y++) {
            uint32_t y0, y1, fy;
            s_grid_pos (y, height, &y0, &y1, &fy);
            for (uint32_t x = 0; x < width; x++) {
                uint32_t x0, x1, fx;
                s_grid_pos (x, width, &x0, &x1, &fx);
                for (uint32_t c = 0; c < channels; c++) {
                    uint32_t top = grid [c][y0][x0] * (256 - fx) + grid [c][y0][x1] * fx;
                    uint32_t bot = grid [c][y1][x0] * (256 - fx) + grid [c][y1][x1] * fx;
                    proto [(y * width + x) * channels + c] =
                        (uint8_t) ((top * (256 - fy) + bot * fy + 32768) >> 16);
                }
            }
        }
    }
    //  Balanced labels, shuffled (stream round 1, shard = split)
    for (size_t i = 0; i < n; i++)
        order [i] = (uint32_t) (i % classes);
    fg_rng_init (&rng, seed, FG_RNG_SYNTHETIC, 1, (uint32_t) split, 0, 0);
    fg_rng_shuffle (&rng, order, n);
    //  Samples: prototype + brightness shift + noise (stream round 2,
    //  shard = split, step = sample): each sample is its own stream.
    for (size_t i = 0; i < n; i++) {
        self->labels [i] = (uint16_t) order [i];
        fg_rng_init (&rng, seed, FG_RNG_SYNTHETIC, 2, (uint32_t) split, 0, (uint32_t) i);
        int32_t shift = (int32_t) fg_rng_below (&rng, 65) - 32;
        const uint8_t *proto = protos + (size_t) order [i] * image;
        uint8_t *dst = self->pixels + i * image;
        for (size_t p = 0; p < image; p++) {
            uint32_t u = fg_rng_u32 (&rng);
            //  Irwin–Hall of four bytes: -510..510, std about 148; scaled to about 28
            int32_t noise = (int32_t) ((u & 255) + (u >> 8 & 255) + (u >> 16 & 255) + (u >> 24)) - 510;
            int32_t v = proto [p] + shift + noise * 48 / 256;
            dst [p] = (uint8_t) (v < 0? 0: v > 255? 255: v);
        }
    }
    fg_dataset_finish (self, NULL);
done:
    free (protos);
    free (order);
    return rc;
}
