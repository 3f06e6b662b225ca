/*  fuzz_dataset.c — libFuzzer harness for the dataset decoders, from
    memory buffers (fg_dataset_internal.h).

    Input: one mode byte, then the payload.
      mode % 7 == 0  IDX images file (raw or gzip)        fg_idx_decode
                 1  IDX labels file (raw or gzip)        fg_idx_decode
                 2  u32le n, n bytes of an images file, the rest a labels
                    file -> fg_dataset_from_idx (Fashion-MNIST), batches
                 3  a CIFAR-10 binary file  -> fg_dataset_from_cifar, batches
                 4  a CIFAR-100 binary file -> fg_dataset_from_cifar, batches
                 5  a Tiny-ImageNet wnids.txt -> fg_tiny_parse_wnids
                 6  u32le n, n bytes of a wnids.txt, the rest a
                    val_annotations.txt -> fg_tiny_parse_annotations
    Decoded sizes are capped at 4 MiB so a gzip bomb costs little.
    Invariants: a failure leaves a non-empty message and no output; a
    success gives counts, labels and sizes that agree with the input.  */

#include "fg_config.h"
#include "fg_dataset_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX ((size_t) 1 << 22)

#define S_CHECK(cond) do { if (!(cond)) __builtin_trap (); } while (0)

static volatile uint32_t s_sink;

//  Reads every byte of a decoded IDX payload (ASan sees any over-read).
static void
s_touch (const fg_idx_t *idx)
{
    uint32_t sum = 0;
    for (size_t i = 0; i < idx->count * idx->item_size; i++)
        sum += idx->data [i];
    s_sink = sum;
}

//  Plain and augmented batches of the first and last samples.
static void
s_exercise (const fg_dataset_t *ds)
{
    uint32_t h, w, c;
    fg_dataset_shape (ds, &h, &w, &c);
    size_t count = fg_dataset_count (ds);
    S_CHECK (count > 0);
    for (size_t i = 0; i < count; i++)
        S_CHECK (fg_dataset_labels (ds) [i] < fg_dataset_classes (ds));
    uint32_t idx [2] = { 0, (uint32_t) (count - 1) };
    float *out = malloc (2 * (size_t) h * w * c * sizeof (float));
    if (!out)
        return;
    uint16_t labels [2];
    fg_dataset_key_t key = { .seed = count, .step = (uint32_t) count };
    fg_error_t err;
    S_CHECK (fg_dataset_batch (ds, idx, 2, false, NULL, out, labels, &err) == 0);
    S_CHECK (fg_dataset_batch (ds, idx, 2, true, &key, out, labels, &err) == 0);
    idx [1] = (uint32_t) count;
    S_CHECK (fg_dataset_batch (ds, idx, 2, false, NULL, out, labels, &err) == FG_ERANGE);
    free (out);
    S_CHECK (strlen (fg_dataset_hash_hex (ds)) == 64);
}

//  The Tiny-ImageNet index parsers: a success gives ids and annotations
//  that satisfy what the parsers promise
static void
s_tiny (int mode, const uint8_t *data, size_t size)
{
    size_t n = size;
    if (mode == 6) {
        if (size < 4)
            return;
        n = (size_t) data [0] | (size_t) data [1] << 8 | (size_t) data [2] << 16
          | (size_t) data [3] << 24;
        data += 4;
        size -= 4;
        if (n > size)
            return;
    }
    fg_error_t err;
    char **wnids;
    size_t count;
    int rc = fg_tiny_parse_wnids ((const char *) data, n, "wnids.txt", &wnids, &count, &err);
    if (rc) {
        S_CHECK (err.code == rc && err.msg [0] && !wnids && !count);
        return;
    }
    S_CHECK (count >= 1 && count <= FG_DATASET_CLASSES_MAX);
    for (size_t k = 0; k < count; k++) {
        size_t len = strlen (wnids [k]);
        S_CHECK (len >= 1 && len <= FG_DATASET_NAME_MAX && !strchr (wnids [k], '/'));
    }
    if (mode == 6) {
        fg_tiny_annotation_t *a;
        size_t lines;
        rc = fg_tiny_parse_annotations ((const char *) data + n, size - n, "val_annotations.txt",
                                        wnids, count, &a, &lines, &err);
        if (rc == 0) {
            for (size_t k = 0; k < lines; k++) {
                S_CHECK (a [k].label < count && a [k].line >= 1);
                S_CHECK (k == 0 || strcmp (a [k - 1].file, a [k].file) < 0);
                S_CHECK (a [k].file [0] != '.' && !strchr (a [k].file, '/'));
            }
            free (a);
        }
        else
            S_CHECK (err.code == rc && err.msg [0] && !a);
    }
    free (wnids);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int mode = data [0] % 7;
    data++;
    size--;
    fg_error_t err;
    fg_idx_t images, labels;
    fg_dataset_t *ds = NULL;
    int rc;

    switch (mode) {
        case 0:
        case 1:
            rc = fg_idx_decode (data, size, "fuzz", mode? FG_IDX_LABELS_MAGIC: FG_IDX_IMAGES_MAGIC,
                                S_MAX, &images, &err);
            if (rc == 0) {
                S_CHECK (images.ndims == (mode? 1u: 3u));
                S_CHECK (images.count * images.item_size <= S_MAX);
                s_touch (&images);
                fg_idx_release (&images);
            }
            else
                S_CHECK (err.code == rc && err.msg [0] && !images.block);
            break;
        case 2: {
            if (size < 4)
                break;
            size_t n = (size_t) data [0] | (size_t) data [1] << 8 | (size_t) data [2] << 16
                     | (size_t) data [3] << 24;
            data += 4;
            size -= 4;
            if (n > size)
                break;
            if (fg_idx_decode (data, n, "images", FG_IDX_IMAGES_MAGIC, S_MAX, &images, &err))
                break;
            rc = fg_idx_decode (data + n, size - n, "labels", FG_IDX_LABELS_MAGIC, S_MAX,
                                &labels, &err);
            if (rc == 0) {
                rc = fg_dataset_from_idx (FG_DATASET_FASHION_MNIST, FG_SPLIT_TRAIN, &images,
                                          "images", &labels, "labels", labels.count / 2 + 1,
                                          &ds, &err);
                if (rc == 0) {
                    S_CHECK (fg_dataset_count (ds) <= labels.count);
                    s_exercise (ds);
                    fg_dataset_destroy (&ds);
                }
                else
                    S_CHECK (!ds && err.msg [0]);
                fg_idx_release (&labels);
            }
            fg_idx_release (&images);
            break;
        }
        case 5:
        case 6:
            s_tiny (mode, data, size);
            break;
        default: {
            int kind = mode == 3? FG_DATASET_CIFAR10: FG_DATASET_CIFAR100;
            const uint8_t *files [1] = { data };
            const char *names [1] = { "fuzz.bin" };
            rc = fg_dataset_from_cifar (kind, FG_SPLIT_TEST, 1, files, &size, names, 0, &ds, &err);
            if (rc == 0) {
                size_t record = mode == 3? FG_CIFAR10_RECORD: FG_CIFAR100_RECORD;
                S_CHECK (fg_dataset_count (ds) * record == size);
                s_exercise (ds);
                fg_dataset_destroy (&ds);
            }
            else
                S_CHECK (!ds && err.msg [0]);
            break;
        }
    }
    return 0;
}
