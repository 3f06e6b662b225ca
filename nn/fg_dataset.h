/*  fg_dataset.h — the datasets of the network engine.

    A dataset is one split (train or test) of one image-classification set:
    images as uint8 HWC (28x28x1, 32x32x3, 64x64x3, ...), labels as uint16,
    plus what is needed to turn a batch of them into normalised float32
    input: per-channel mean and std and the augmentation policy of the set
    (random crop with zero padding, horizontal flip). The small sets (IDX,
    CIFAR, synthetic) are decoded once into memory; the file-backed sets
    (Tiny-ImageNet, folder) keep an index and each image file's stored
    (compressed) bytes, read on first use, and decode a sample whenever it
    is used.

    Sources (see docs/datasets.md):
      - IDX (MNIST, Fashion-MNIST): a directory holding
        train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
        t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz];
      - CIFAR-10 binary: data_batch_1..5.bin + test_batch.bin (official
        names) or train_1..5.bin + test.bin; CIFAR-100 binary: train.bin,
        test.bin (fine labels). The directory may also be the parent of the
        official cifar-10-batches-bin / cifar-100-binary folder;
      - Tiny-ImageNet-200 in its own layout: wnids.txt,
        train/<wnid>/images/<name>.JPEG, val/images/<name>.JPEG with
        val/val_annotations.txt (the test split);
      - a folder of images as torchvision's ImageFolder reads it:
        train/<class>/<name>.{jpg,jpeg,png} and val/<class>/ (or test/),
        each image resized and centre-cropped to side x side
        (fg_image_fit);
      - a synthetic, learnable set for tests (fg_dataset_synthetic).
    The texture set is not implemented here.

    Every size and header is checked before use: a truncated or wrong file
    gives FG_EFORMAT with a message naming the file, the expected and the
    found size ("...: expected 47040016 bytes, found 47039999"). A damaged
    image file of a file-backed set is found when it is decoded: the call
    that needs it (fg_dataset_batch, fg_dataset_records, ...) fails with
    FG_EFORMAT naming the file.

    Thread safety: a dataset is immutable after it is opened, except that
    a file-backed set publishes each file's stored bytes once, atomically,
    when first read; any number of threads (all trainers of a process) may
    call the const functions below on one dataset at the same time. Only
    destroy needs exclusivity.

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

//  Bounds of the file-backed sets (checked at open, before allocating)
#define FG_DATASET_FILES_MAX    (1u << 24)  //  image files of one split
#define FG_DATASET_FILE_MAX     ((size_t) 64 << 20) //  bytes of one image file
#define FG_DATASET_NAME_MAX     255         //  bytes of a file or class name
#define FG_DATASET_FOLDER_SIDE  64          //  folder: default image side

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
//  FG_EUNSUPPORTED (texture) or FG_ENOMEM. A folder set opened here has
//  FG_DATASET_FOLDER_SIDE (see fg_dataset_open_folder).
//  File-backed sets (Tiny-ImageNet, folder) are opened by indexing
//  (directory listings, file sizes, annotation files): no image is read
//  or decoded here; limit keeps a class-balanced prefix (sample i is the
//  next file of class i mod K, see docs/datasets.md).
int
    fg_dataset_open (int kind, const char *path, fg_split_t split, size_t limit,
                     fg_dataset_t **out, fg_error_t *err);

//  Opens split of a folder of images (FG_DATASET_FOLDER) with images of
//  side x side x 3 (side in 8 .. FG_DATASET_SIDE_MAX; data.image_size).
//  Returns the codes of fg_dataset_open, FG_EINVAL for a bad side.
int
    fg_dataset_open_folder (const char *path, fg_split_t split, size_t limit, uint32_t side,
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
//  owned by the dataset, valid until it is destroyed. fg_dataset_pixels
//  is NULL for a set decoded on demand (Tiny-ImageNet, folder, sets made
//  by fg_dataset_from_stored): use fg_dataset_batch or fg_dataset_records.
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

//  The mean and std fg_dataset_finish gives a set of kind (published
//  values per channel; 0.5 and 0.25 for kinds without them), without
//  opening it: for the metadata of exported weights.
void
    fg_dataset_kind_stats (int kind, double mean [FG_DATASET_CHANNELS_MAX],
                           double std [FG_DATASET_CHANNELS_MAX]);

//  Exact per-channel mean and std (population) of pixel / 255 over the
//  samples held, from integer sums (so the same on every machine). For
//  checking the constants above and for custom sets; C entries each.
//  Decodes every sample of an on-demand set. Returns 0, or the decode
//  error of a sample (FG_EFORMAT naming the file) or FG_ENOMEM.
int
    fg_dataset_compute_stats (const fg_dataset_t *self, double *mean, double *std,
                              fg_error_t *err);

//  Augmentation policy: zero padding of the random crop (0: no crop) and
//  whether horizontal flips (p = 0.5) are drawn.
void
    fg_dataset_augment_policy (const fg_dataset_t *self, uint32_t *pad, bool *flip);

//  Content hash: SHA-256 over the decoded content, independent of file
//  names and compression:
//      "fgds1" | u32le count, classes, H, W, C | labels as u16le | pixels
//  (pixels HWC, in sample order). It covers exactly the samples held
//  (after limit). Trainers announce it in HELLO.
//  File-backed sets (Tiny-ImageNet, folder) hash their index instead,
//  which is cheap at open (no file is read):
//      "fgds2" | u32le count, classes, H, W, C | per sample: u16le label,
//      u64le stored byte size, u16le path length, relative path (bytes,
//      "/"-separated, from the set's root, e.g. "train/n01443537/images/
//      n01443537_0.JPEG")
//  A sample whose bytes differ but whose size does not is caught when it
//  is decoded (if damaged) or by replication and voting, not by the hash
//  (docs/datasets.md). Sets made by fg_dataset_from_stored hash their
//  content: "fgst1" | u32le count, classes, H, W, C | per sample: u16le
//  label, u64le size, SHA-256 of the stored bytes.
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
//  or FG_EINVAL (augment without key, n above UINT32_MAX / 4); for an
//  on-demand set also FG_EFORMAT (a damaged image: names the file),
//  FG_ENOENT / FG_EIO (the file cannot be read), FG_EMISMATCH (a
//  Tiny-ImageNet image that is not 64x64) or FG_ENOMEM.
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
//  synthetic kind: 10 classes of 28x28x1; tiny-imagenet: 200 of 64x64x3).
//  Any pointer may be NULL. Returns 0, FG_EINVAL (not a kind) or
//  FG_EUNSUPPORTED (texture: not implemented; folder: the classes and the
//  side depend on the folder and data.image_size, so they come from the
//  opened set, fg_dataset_classes and fg_dataset_shape).
int
    fg_dataset_kind_geometry (int kind, uint32_t *classes, uint32_t *height,
                              uint32_t *width, uint32_t *channels, fg_error_t *err);

//  Bytes of one record of this dataset: 2 + H x W x C. Records of an
//  on-demand set are decoded pixels too (fg_dataset_records decodes).
size_t
    fg_dataset_record_size (const fg_dataset_t *self);

//  Writes the records of samples [start, start + count) to out (count x
//  record size bytes). Returns 0 or FG_ERANGE (outside the dataset), or
//  a decode error of an on-demand set (see fg_dataset_batch).
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

//  ---- stored (compressed) samples of file-backed sets -----------------------
//
//  A trainer without Tiny-ImageNet or a folder set fetches the stored bytes
//  of its shard's samples (the JPEG / PNG files as they are on disk, ~2.5
//  KB for a Tiny-ImageNet image instead of 12,290 bytes of pixels).

//  True when the set's samples have stored bytes (fg_dataset_stored works).
bool
    fg_dataset_has_stored (const fg_dataset_t *self);

//  Sample i's stored bytes (the image file), owned by the dataset and
//  valid until it is destroyed. The file is read on first use and kept
//  (thread-safe: the first reader publishes the bytes atomically; a
//  racing reader frees its own copy and uses the published one). Not
//  decoded or checked here. Returns 0, FG_ERANGE (i >= count),
//  FG_EUNSUPPORTED (an in-memory set: use fg_dataset_records), FG_ENOENT
//  / FG_EIO (the file cannot be read; names it), FG_EFORMAT (the file's
//  size changed since the set was opened, or is above
//  FG_DATASET_FILE_MAX) or FG_ENOMEM.
int
    fg_dataset_stored (const fg_dataset_t *self, size_t i, const uint8_t **bytes,
                       size_t *size, fg_error_t *err);

//  A dataset of n samples of a file-backed set of kind `kind`
//  (FG_DATASET_TINY_IMAGENET or FG_DATASET_FOLDER) whose content hash is
//  `source`, from their stored bytes: sample i is sample indices [i]
//  (strictly increasing) of that set, with label labels [i] (< classes)
//  and the sizes [i] bytes at bytes [i] (copied). classes and side are
//  the whole set's (fg_dataset_classes, fg_dataset_shape: tiny-imagenet
//  200 and 64). It decodes, normalises and augments exactly as the whole
//  set, so a work unit visiting sample indices [i] of the whole set gives
//  the same bits at position i of this one. Nothing is decoded here: a
//  damaged image fails when it is used, naming "sample <index>".
//  fg_dataset_hash gives the fgst1 hash of the subset (see above),
//  fg_dataset_source_hash gives `source`. Caller owns *out.
//  Returns 0, FG_EINVAL (not a file-backed kind, bad split, n = 0 or above
//  UINT32_MAX, indices not strictly increasing, classes outside 1 ..
//  FG_DATASET_CLASSES_MAX, side outside 8 .. FG_DATASET_SIDE_MAX, or not
//  64 for tiny-imagenet), FG_ERANGE (a label >= classes, a sample of 0 or
//  more than FG_DATASET_FILE_MAX bytes) or FG_ENOMEM.
int
    fg_dataset_from_stored (int kind, fg_split_t split, const uint8_t source [FG_SHA256_SIZE],
                            uint32_t classes, uint32_t side, size_t n, const uint32_t *indices,
                            const uint16_t *labels, const uint8_t *const *bytes,
                            const size_t *sizes, fg_dataset_t **out, fg_error_t *err);

//  True for a dataset made by fg_dataset_from_records or
//  fg_dataset_from_stored.
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
