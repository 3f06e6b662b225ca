/*  fg_augment.c — batches of a dataset: normalisation and augmentation
    (random crop with zero padding, horizontal flip), see fg_dataset.h.

    Draw layout (part of the experiment's meaning: do not change): the
    sample at batch position b reads the stream
        (key.seed, FG_RNG_AUGMENT, key.round, key.shard, key.epoch, key.step)
    from position 4b: top = below (2 pad + 1), left = below (2 pad + 1),
    then one word whose top bit is the flip (drawn even when the set never
    flips, so the layout is the same for every set). A rejection inside
    below () (probability about 1e-9 for pad <= 4) reads on; positions are
    still a pure function of (key, b).                                    */

#include "fg_dataset_internal.h"
#include "fg_rng.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

int
fg_dataset_batch (const fg_dataset_t *self, const uint32_t *indices, size_t n,
                  bool augment, const fg_dataset_key_t *key,
                  float *out, uint16_t *labels, fg_error_t *err)
{
    assert (self);
    assert (indices || n == 0);
    assert (out || n == 0);
    if (augment && !key)
        return fg_error_set (err, FG_EINVAL, "%s: augmented batch without a key", self->name);
    if (n > UINT32_MAX / 4)
        return fg_error_set (err, FG_EINVAL, "%s: batch of %zu samples is too large",
                             self->name, n);
    for (size_t b = 0; b < n; b++)
        if (indices [b] >= self->count)
            return fg_error_set (err, FG_ERANGE, "%s: batch position %zu: sample %u is outside "
                                 "0..%zu", self->name, b, indices [b], self->count - 1);

    const uint32_t H = self->height, W = self->width, C = self->channels;
    const size_t image = (size_t) H * W * C;
    //  an on-demand set decodes each sample into scratch (H x W x C)
    uint8_t *scratch = NULL;
    if (!self->pixels && n > 0 && !(scratch = malloc (image)))
        return fg_error_set (err, FG_ENOMEM, "%s: out of memory for a batch", self->name);
    fg_rng_t rng;
    if (augment)
        fg_rng_init (&rng, key->seed, FG_RNG_AUGMENT, key->round, key->shard,
                     key->epoch, key->step);

    for (size_t b = 0; b < n; b++) {
        const uint8_t *src = fg_dataset_image (self, indices [b], scratch, err);
        if (!src) {
            free (scratch);
            return err && err->code? err->code: FG_EFORMAT;
        }
        float *dst = out + b * image;               //  (H, W, C) of sample b
        if (labels)
            labels [b] = self->labels [indices [b]];
        if (!augment) {
            for (uint32_t p = 0; p < H * W; p++)
                for (uint32_t c = 0; c < C; c++)
                    dst [p * C + c] = self->lut [c][src [p * C + c]];
            continue;
        }
        fg_rng_seek (&rng, 4 * (uint64_t) b);
        uint32_t span = 2 * self->pad + 1;
        int32_t top = (int32_t) fg_rng_below (&rng, span) - (int32_t) self->pad;
        int32_t left = (int32_t) fg_rng_below (&rng, span) - (int32_t) self->pad;
        bool mirror = (fg_rng_u32 (&rng) >> 31) && self->flip;

        //  out (y, x) = padded source (y + top, x' + left), x' = mirror? W-1-x: x
        for (uint32_t y = 0; y < H; y++) {
            int32_t sy = (int32_t) y + top;
            float *row = dst + (size_t) y * W * C;
            if (sy < 0 || sy >= (int32_t) H) {
                for (uint32_t x = 0; x < W; x++)
                    for (uint32_t c = 0; c < C; c++)
                        row [x * C + c] = self->lut [c][0];
                continue;
            }
            const uint8_t *srow = src + (size_t) sy * W * C;
            for (uint32_t x = 0; x < W; x++) {
                int32_t sx = (int32_t) (mirror? W - 1 - x: x) + left;
                if (sx < 0 || sx >= (int32_t) W)
                    for (uint32_t c = 0; c < C; c++)
                        row [x * C + c] = self->lut [c][0];
                else
                    for (uint32_t c = 0; c < C; c++)
                        row [x * C + c] = self->lut [c][srow [(size_t) sx * C + c]];
            }
        }
    }
    free (scratch);
    return 0;
}
