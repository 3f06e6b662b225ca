/*  fg_dataset.h — the datasets of the network engine.

    A dataset is one split (train or test) of one image-classification set,
    decoded once into memory: images as uint8 HWC (28x28x1, 32x32x3, ...),
    labels as uint16, plus what is needed to turn a batch of them into
    normalised float32 input: per-channel mean and std and the augmentation
    policy of the set (random crop with zero padding, horizontal flip).

    Sources (see docs/datasets.md):
      - IDX (MNIST, Fashion-MNIST): a directory holding
        train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
        t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz];
      - CIFAR-10 binary: data_batch_1..5.bin + test_batch.bin (official
        names) or train_1..5.bin + test.bin; CIFAR-100 binary: train.bin,
        test.bin (fine labels). The directory may also be the parent of the
        official cifar-10-batches-bin / cifar-100-binary folder;
      - a synthetic, learnable set for tests (fg_dataset_synthetic).
    Tiny-ImageNet and the texture set are not implemented yet.

    Every size and header is checked before use: a truncated or wrong file
    gives FG_EFORMAT with a message naming the file, the expected and the
    found size ("...: expected 47040016 bytes, found 47039999").

    Thread safety: a dataset is immutable after it is opened; any number
    of threads (all trainers of a process) may call the const functions
    below on one dataset at the same time. Only destroy needs exclusivity.

    Determinism: fg_dataset_batch is a pure function of the dataset, the
    indices and the key; augmentation draws come from fg_rng purpose
    FG_RNG_AUGMENT, so a batch is the same bytes wherever it is computed. */

#ifndef FG_DATASET_H_INCLUDED
#define FG_DATASET_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "fg_error.h"
#include "fg_sha256.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _fg_dataset_t fg_dataset_t;

typedef enum { FG_SPLIT_TRAIN = 0, FG_SPLIT_TEST = 1 } fg_split_t;

#define FG_DATASET_CHANNELS_MAX 4       //  largest C of an image
#define FG_DATASET_SIDE_MAX     1024    //  largest H or W
#define FG_DATASET_CLASSES_MAX  1000    //  most classes of a set

//  Seed of the synthetic set that fg_dataset_open (FG_DATASET_SYNTHETIC)
//  makes: a fixed seed, so the data do not change with experiment.seed.
#define FG_DATASET_SYNTHETIC_SEED 0x66656467u

//  Where an augmented batch's draws come from: the work unit's tuple. The
//  sample at position b of the batch uses draws 4b .. 4b+3 of the stream
//  (seed, FG_RNG_AUGMENT, round, shard, epoch, step).
typedef struct {
    uint64_t seed;
    uint32_t round;
    uint32_t shard;
    uint32_t epoch;
    uint32_t step;
} fg_dataset_key_t;

//  Opens split of the dataset kind (an fg_dataset_kind_t of fg_config.h)
//  found at path (a directory; see above). limit > 0 keeps only the first
//  limit samples (quick runs); 0 keeps all (a limit above the count keeps
//  all too). For FG_DATASET_SYNTHETIC path is ignored and the set is
//  fg_dataset_synthetic (FG_DATASET_SYNTHETIC_SEED, split, n, 10, 28, 28, 1)
//  with n = limit, or 10000 (train) / 2000 (test) when limit is 0.
//  Caller owns *out and must destroy it.
//  Returns 0, FG_EINVAL (bad kind or split), FG_ENOENT (a file is missing:
//  the message names it and what was looked for), FG_EIO, FG_EFORMAT
//  (truncated or malformed file: names the file, expected and found size,
//  or the offending field), FG_ERANGE (a label out of range), FG_EMISMATCH
//  (well-formed but not this dataset, e.g. 32x32 images for MNIST),
//  FG_EUNSUPPORTED (Tiny-ImageNet, texture) or FG_ENOMEM.
int
    fg_dataset_open (int kind, const char *path, fg_split_t split, size_t limit,
                     fg_dataset_t **out, fg_error_t *err);

//  A learnable synthetic set: every class has a smooth prototype image
//  (random 4x4 grid per channel, bilinearly upsampled, integer arithmetic)
//  and a sample is its class prototype plus integer noise, all drawn from
//  fg_rng purpose FG_RNG_SYNTHETIC. Labels are balanced (i % classes,
//  shuffled). The two splits of one seed share the prototypes and differ
//  in samples. Mean 0.5, std 0.25 per channel; augmentation: pad h/8,
//  flip. Caller owns *out.
//  Returns 0, FG_EINVAL (n = 0 or above UINT32_MAX, classes outside 2 ..
//  FG_DATASET_CLASSES_MAX, a side outside 1 .. FG_DATASET_SIDE_MAX,
//  channels outside 1 .. FG_DATASET_CHANNELS_MAX, bad split) or FG_ENOMEM.
int
    fg_dataset_synthetic (uint64_t seed, fg_split_t split, size_t n, uint32_t classes,
                          uint32_t height, uint32_t width, uint32_t channels,
                          fg_dataset_t **out, fg_error_t *err);

//  Destroys *self_p and sets it to NULL; NULL-safe.
void
    fg_dataset_destroy (fg_dataset_t **self_p);

//  The fg_dataset_kind_t the set was opened as, its split, and a short
//  name ("fashion-mnist train").
int
    fg_dataset_kind (const fg_dataset_t *self);
fg_split_t
    fg_dataset_split (const fg_dataset_t *self);
const char *
    fg_dataset_name (const fg_dataset_t *self);

//  Number of samples (after limit), number of classes, image shape.
size_t
    fg_dataset_count (const fg_dataset_t *self);
uint32_t
    fg_dataset_classes (const fg_dataset_t *self);
void
    fg_dataset_shape (const fg_dataset_t *self, uint32_t *height, uint32_t *width,
                      uint32_t *channels);

//  Labels (count entries) and pixels (count x H x W x C, HWC, uint8),
//  owned by the dataset, valid until it is destroyed.
const uint16_t *
    fg_dataset_labels (const fg_dataset_t *self);
const uint8_t *
    fg_dataset_pixels (const fg_dataset_t *self);

//  Per-channel mean and std (of pixel / 255) used for normalisation:
//  C entries each (C from fg_dataset_shape), owned by the dataset. Real
//  sets use the published values (docs/datasets.md), synthetic sets 0.5
//  and 0.25.
const double *
    fg_dataset_mean (const fg_dataset_t *self);
const double *
    fg_dataset_std (const fg_dataset_t *self);

//  Exact per-channel mean and std (population) of pixel / 255 over the
//  samples held, from integer sums (so the same on every machine). For
//  checking the constants above and for custom sets; C entries each.
void
    fg_dataset_compute_stats (const fg_dataset_t *self, double *mean, double *std);

//  Augmentation policy: zero padding of the random crop (0: no crop) and
//  whether horizontal flips (p = 0.5) are drawn.
void
    fg_dataset_augment_policy (const fg_dataset_t *self, uint32_t *pad, bool *flip);

//  Content hash: SHA-256 over the decoded content, independent of file
//  names and compression:
//      "fgds1" | u32le count, classes, H, W, C | labels as u16le | pixels
//  (pixels HWC, in sample order). It covers exactly the samples held
//  (after limit). Trainers announce it in HELLO.
void
    fg_dataset_hash (const fg_dataset_t *self, uint8_t digest [FG_SHA256_SIZE]);
const char *
    fg_dataset_hash_hex (const fg_dataset_t *self);

//  Fills out (n, H, W, C) with the normalised images of samples
//  indices [0 .. n) and labels (n) with their labels (labels may be NULL).
//  out [.] = (pixel / 255 - mean [c]) / std [c]. With augment, each image
//  is randomly cropped from the image zero-padded by the set's pad (the
//  padding is pixel 0, so it normalises to -mean/std, as in torchvision's
//  RandomCrop before Normalize), then flipped horizontally with p = 0.5;
//  the draws for position b come from key (see fg_dataset_key_t). key may
//  be NULL when augment is false.
//  Returns 0, or FG_ERANGE (an index >= count: out is then unspecified)
//  or FG_EINVAL (augment without key, n above UINT32_MAX / 4).
int
    fg_dataset_batch (const fg_dataset_t *self, const uint32_t *indices, size_t n,
                      bool augment, const fg_dataset_key_t *key,
                      float *out, uint16_t *labels, fg_error_t *err);

//  ---- samples as records, and datasets built from some of them -------------
//
//  A trainer that lacks the experiment's dataset fetches the samples of its
//  shard from the coordinator (DATA-REQUEST / DATA-CHUNK) and trains on a
//  dataset made of just those samples. A sample travels as a record:
//      u16le label | H x W x C pixels (HWC, uint8)
//  so record size = 2 + H x W x C (786 for 28x28x1, 3074 for 32x32x3).

//  Classes and image shape of the sets fg_dataset_open gives for kind (the
//  synthetic kind: 10 classes of 28x28x1). Any pointer may be NULL.
//  Returns 0, FG_EINVAL (not a kind) or FG_EUNSUPPORTED (tiny-imagenet,
//  texture: not implemented).
int
    fg_dataset_kind_geometry (int kind, uint32_t *classes, uint32_t *height,
                              uint32_t *width, uint32_t *channels, fg_error_t *err);

//  Bytes of one record of this dataset: 2 + H x W x C.
size_t
    fg_dataset_record_size (const fg_dataset_t *self);

//  Writes the records of samples [start, start + count) to out (count x
//  record size bytes). Returns 0 or FG_ERANGE (outside the dataset).
int
    fg_dataset_records (const fg_dataset_t *self, size_t start, size_t count,
                        uint8_t *out, fg_error_t *err);

//  Checks count records of a kind's set: record_size must be 2 + H x W x C
//  of fg_dataset_kind_geometry (FG_EMISMATCH) and every label below its
//  classes (FG_ERANGE, naming the record). Returns 0, those codes, or a
//  fg_dataset_kind_geometry code.
int
    fg_dataset_check_records (int kind, const uint8_t *records, size_t count,
                              size_t record_size, fg_error_t *err);

//  A dataset of n samples of the set of kind `kind` whose content hash is
//  `source` (the whole set's, as fg_dataset_hash gives it): sample i is
//  sample indices [i] of that set, with the record records [i x
//  record_size ..]. indices must be strictly increasing. It normalises and
//  augments exactly as the whole set does (published statistics, the
//  kind's pad and flip), so a work unit that visits sample indices [i] of
//  the whole set gives the same bits when it visits position i of this
//  one (fg_dataset_position maps an index to its position).
//  fg_dataset_hash gives the hash of the subset's own content;
//  fg_dataset_source_hash gives `source`. Caller owns *out.
//  Returns 0, FG_EINVAL (n = 0 or above UINT32_MAX, indices not strictly
//  increasing), FG_EMISMATCH / FG_ERANGE (fg_dataset_check_records), a
//  fg_dataset_kind_geometry code, or FG_ENOMEM.
int
    fg_dataset_from_records (int kind, fg_split_t split,
                             const uint8_t source [FG_SHA256_SIZE], size_t n,
                             const uint32_t *indices, const uint8_t *records,
                             size_t record_size, fg_dataset_t **out, fg_error_t *err);

//  Position of sample `index` of the source set in this dataset: index
//  itself for a whole set (when < count), its place in the indices of a
//  subset. Returns 0 or FG_ENOENT (not held).
int
    fg_dataset_position (const fg_dataset_t *self, uint32_t index, size_t *position);

//  True for a dataset made by fg_dataset_from_records.
bool
    fg_dataset_is_subset (const fg_dataset_t *self);

//  Content hash of the whole set this dataset holds samples of: the
//  subset's `source`, or fg_dataset_hash for a whole set.
void
    fg_dataset_source_hash (const fg_dataset_t *self, uint8_t digest [FG_SHA256_SIZE]);

//  The usual install location of a kind's files, or NULL when there is
//  none ("/usr/share/datasets/fashion-mnist" for Fashion-MNIST, from
//  Debian's dataset-fashion-mnist).
const char *
    fg_dataset_default_path (int kind);

#ifdef __cplusplus
}
#endif

#endif
