/*  fg_dataset.c — the common part of fg_dataset (see fg_dataset.h):
    names and published statistics per kind, allocation and the
    normalisation table, the file layer (fg_dataset_open), accessors,
    records and the datasets built from records. The decoders live in
    fg_dataset_idx.c (IDX, gzip), fg_dataset_cifar.c (CIFAR-10/100
    binary) and fg_dataset_synthetic.c; batches and augmentation in
    fg_augment.c.                                                         */

#include "fg_dataset_internal.h"
#include "fg_config.h"
#include "fg_file.h"
#include "fg_rng.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define S_FILE_MAX      ((size_t) 1 << 30)  //  largest file read (compressed)
#define S_DECODED_MAX   ((size_t) 1 << 30)  //  largest decoded IDX file
#define S_PATH_MAX      4096

//  --------------------------------------------------------------------------
//  Names, published statistics and augmentation policies per kind

static const char *s_kind_names [] = {
    "fashion-mnist", "mnist", "cifar10", "cifar100", "tiny-imagenet", "texture", "synthetic",
    "folder"
};

const char *
fg_dataset_kind_name (int kind)
{
    if (kind < 0 || kind >= (int) (sizeof s_kind_names / sizeof s_kind_names [0]))
        return "dataset";
    return s_kind_names [kind];
}

const char *
fg_dataset_split_name (fg_split_t split)
{
    return split == FG_SPLIT_TEST? "test": "train";
}

//  Mean and std of pixel / 255 over the training set, as published and
//  used by the reference implementations (docs/datasets.md gives sources
//  and the values measured on our copies).
static void
s_published_stats (int kind, double *mean, double *std)
{
    switch (kind) {
        case FG_DATASET_FASHION_MNIST:
            mean [0] = 0.2860; std [0] = 0.3530;
            break;
        case FG_DATASET_MNIST:
            mean [0] = 0.1307; std [0] = 0.3081;
            break;
        case FG_DATASET_CIFAR10:
            mean [0] = 0.4914; mean [1] = 0.4822; mean [2] = 0.4465;
            std [0]  = 0.2470; std [1]  = 0.2435; std [2]  = 0.2616;
            break;
        case FG_DATASET_CIFAR100:
            mean [0] = 0.5071; mean [1] = 0.4865; mean [2] = 0.4409;
            std [0]  = 0.2673; std [1]  = 0.2564; std [2]  = 0.2762;
            break;
        case FG_DATASET_TINY_IMAGENET:
        case FG_DATASET_FOLDER:
            //  ImageNet's (torchvision's reference recipes)
            mean [0] = 0.485; mean [1] = 0.456; mean [2] = 0.406;
            std [0]  = 0.229; std [1]  = 0.224; std [2]  = 0.225;
            break;
        default:
            for (int c = 0; c < FG_DATASET_CHANNELS_MAX; c++) {
                mean [c] = 0.5;
                std [c] = 0.25;
            }
            break;
    }
}

void
fg_dataset_kind_stats (int kind, double mean [FG_DATASET_CHANNELS_MAX],
                       double std [FG_DATASET_CHANNELS_MAX])
{
    s_published_stats (kind, mean, std);
}

//  --------------------------------------------------------------------------
//  Construction shared by every source

static void
s_put_u32le (uint8_t *p, uint32_t v)
{
    p [0] = (uint8_t) v;
    p [1] = (uint8_t) (v >> 8);
    p [2] = (uint8_t) (v >> 16);
    p [3] = (uint8_t) (v >> 24);
}

//  A dataset of count samples of h x w x c: labels, and the pixels when
//  in_memory (else they come from a source).
static int
s_alloc (int kind, fg_split_t split, size_t count, uint32_t classes, uint32_t height,
         uint32_t width, uint32_t channels, bool in_memory, fg_dataset_t **out, fg_error_t *err)
{
    *out = NULL;
    size_t image = (size_t) height * width * channels;
    if (count == 0 || count > UINT32_MAX || image == 0 || count > SIZE_MAX / image
    ||  channels > FG_DATASET_CHANNELS_MAX)
        return fg_error_set (err, FG_EINVAL, "%s %s: %zu samples of %ux%ux%u is not a valid size",
                             fg_dataset_kind_name (kind), fg_dataset_split_name (split), count,
                             height, width, channels);
    fg_dataset_t *self = calloc (1, sizeof *self);
    if (self) {
        self->labels = malloc (count * sizeof (uint16_t));
        self->pixels = in_memory? malloc (count * image): NULL;
    }
    if (!self || !self->labels || (in_memory && !self->pixels)) {
        fg_dataset_destroy (&self);
        return fg_error_set (err, FG_ENOMEM, "%s %s: out of memory for %zu samples",
                             fg_dataset_kind_name (kind), fg_dataset_split_name (split), count);
    }
    self->kind = kind;
    self->split = split;
    snprintf (self->name, sizeof self->name, "%s %s", fg_dataset_kind_name (kind), fg_dataset_split_name (split));
    self->count = count;
    self->classes = classes;
    self->height = height;
    self->width = width;
    self->channels = channels;
    *out = self;
    return 0;
}

int
fg_dataset_alloc (int kind, fg_split_t split, size_t count, uint32_t classes,
                  uint32_t height, uint32_t width, uint32_t channels,
                  fg_dataset_t **out, fg_error_t *err)
{
    assert (channels >= 1 && channels <= FG_DATASET_CHANNELS_MAX);
    return s_alloc (kind, split, count, classes, height, width, channels, true, out, err);
}

int
fg_dataset_alloc_source (int kind, fg_split_t split, size_t count, uint32_t classes,
                         uint32_t height, uint32_t width, uint32_t channels,
                         const fg_dataset_source_t *src, fg_dataset_t **out, fg_error_t *err)
{
    assert (src);
    *out = NULL;
    int rc;
    if (!src->image)
        rc = fg_error_set (err, FG_EINVAL, "%s %s: a source without an image callback",
                           fg_dataset_kind_name (kind), fg_dataset_split_name (split));
    else
    if (height > FG_DATASET_SIDE_MAX || width > FG_DATASET_SIDE_MAX)
        rc = fg_error_set (err, FG_EINVAL, "%s %s: %ux%u images are above %u pixels a side",
                           fg_dataset_kind_name (kind), fg_dataset_split_name (split),
                           height, width, FG_DATASET_SIDE_MAX);
    else
        rc = s_alloc (kind, split, count, classes, height, width, channels, false, out, err);
    if (rc) {
        if (src->destroy)
            src->destroy (src->state);
        return rc;
    }
    (*out)->src = *src;
    return 0;
}

const uint8_t *
fg_dataset_image (const fg_dataset_t *self, size_t i, uint8_t *scratch, fg_error_t *err)
{
    assert (self);
    assert (i < self->count);
    size_t image = (size_t) self->height * self->width * self->channels;
    if (self->pixels)
        return self->pixels + i * image;
    assert (scratch);
    if (self->src.image (self, i, scratch, err))
        return NULL;
    return scratch;
}

//  Calls visit (ctx, pixels, H x W x C) for every sample in order, decoding
//  on-demand samples into one scratch buffer. Returns 0 or the first
//  decode error.
static int
s_each_image (const fg_dataset_t *self, void (*visit) (void *, const uint8_t *, size_t),
              void *ctx, fg_error_t *err)
{
    size_t image = (size_t) self->height * self->width * self->channels;
    uint8_t *scratch = self->pixels? NULL: malloc (image);
    if (!self->pixels && !scratch)
        return fg_error_set (err, FG_ENOMEM, "%s: out of memory", self->name);
    for (size_t i = 0; i < self->count; i++) {
        const uint8_t *p = fg_dataset_image (self, i, scratch, err);
        if (!p) {
            free (scratch);
            return err && err->code? err->code: FG_EFORMAT;
        }
        visit (ctx, p, image);
    }
    free (scratch);
    return 0;
}

static void
s_hash_image (void *sha, const uint8_t *pixels, size_t size)
{
    fg_sha256_update (sha, pixels, size);
}

//  "fgds1" | u32le count, classes, H, W, C | labels u16le | pixels: over the
//  decoded content (in-memory sets, and sources without their own hash).
static int
s_hash_pixels (fg_dataset_t *self, fg_error_t *err)
{
    fg_sha256_t sha;
    fg_sha256_init (&sha);
    uint8_t head [5 + 5 * 4];
    memcpy (head, "fgds1", 5);
    s_put_u32le (head + 5, (uint32_t) self->count);
    s_put_u32le (head + 9, self->classes);
    s_put_u32le (head + 13, self->height);
    s_put_u32le (head + 17, self->width);
    s_put_u32le (head + 21, self->channels);
    fg_sha256_update (&sha, head, sizeof head);
    uint8_t chunk [4096];
    size_t used = 0;
    for (size_t i = 0; i < self->count; i++) {
        chunk [used++] = (uint8_t) self->labels [i];
        chunk [used++] = (uint8_t) (self->labels [i] >> 8);
        if (used == sizeof chunk) {
            fg_sha256_update (&sha, chunk, used);
            used = 0;
        }
    }
    fg_sha256_update (&sha, chunk, used);
    size_t image = (size_t) self->height * self->width * self->channels;
    if (self->pixels)
        fg_sha256_update (&sha, self->pixels, self->count * image);
    else {
        int rc = s_each_image (self, s_hash_image, &sha, err);
        if (rc)
            return rc;
    }
    fg_sha256_final (&sha, self->digest);
    return 0;
}

//  Normalisation table, augmentation policy and content hash, once the
//  labels and pixels (or the source) are in place. Fails only for a
//  source without its own hash whose samples cannot all be decoded.
int
fg_dataset_finish (fg_dataset_t *self, fg_error_t *err)
{
    s_published_stats (self->kind, self->mean, self->std);
    for (uint32_t c = 0; c < self->channels; c++)
        for (int v = 0; v < 256; v++)
            self->lut [c][v] = (float) (((double) v / 255.0 - self->mean [c]) / self->std [c]);

    switch (self->kind) {
        case FG_DATASET_CIFAR10:
        case FG_DATASET_CIFAR100:
            self->pad = 4; self->flip = true;
            break;
        case FG_DATASET_FASHION_MNIST:
            self->pad = 2; self->flip = true;
            break;
        case FG_DATASET_MNIST:
            self->pad = 2; self->flip = false;      //  digits are not mirror-symmetric
            break;
        default:
            self->pad = self->height / 8; self->flip = true;
            break;
    }
    if (!self->pixels && self->src.hash)
        self->src.hash (self, self->digest);
    else {
        int rc = s_hash_pixels (self, err);
        if (rc)
            return rc;
    }
    fg_sha256_hex (self->digest, self->hex);
    if (!self->origin)
        memcpy (self->source, self->digest, FG_SHA256_SIZE);
    return 0;
}

//  --------------------------------------------------------------------------
//  File layer

static bool
s_exists (const char *path)
{
    struct stat st;
    return stat (path, &st) == 0 && S_ISREG (st.st_mode);
}

static int
s_join (char *out, size_t size, const char *dir, const char *name, const char *what,
        fg_error_t *err)
{
    int n = snprintf (out, size, "%s/%s", dir, name);
    if (n < 0 || (size_t) n >= size)
        return fg_error_set (err, FG_ERANGE, "%s: path %s/%s is too long", what, dir, name);
    return 0;
}

static int
s_open_idx (int kind, const char *dir, fg_split_t split, size_t limit,
            fg_dataset_t **out, fg_error_t *err)
{
    const char *prefix = split == FG_SPLIT_TRAIN? "train": "t10k";
    char what [64];
    snprintf (what, sizeof what, "%s %s", fg_dataset_kind_name (kind), fg_dataset_split_name (split));
    char paths [2][S_PATH_MAX];
    const char *parts [2] = { "images-idx3-ubyte", "labels-idx1-ubyte" };
    for (int f = 0; f < 2; f++) {
        char name [64];
        snprintf (name, sizeof name, "%s-%s.gz", prefix, parts [f]);
        int rc = s_join (paths [f], S_PATH_MAX, dir, name, what, err);
        if (rc)
            return rc;
        if (!s_exists (paths [f])) {
            paths [f][strlen (paths [f]) - 3] = '\0';
            if (!s_exists (paths [f]))
                return fg_error_set (err, FG_ENOENT, "%s: %s/%s-%s[.gz] not found (an IDX "
                                     "directory holds train-images-idx3-ubyte.gz, "
                                     "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz "
                                     "and t10k-labels-idx1-ubyte.gz, gzipped or not)",
                                     what, dir, prefix, parts [f]);
        }
    }
    char *files [2] = { NULL, NULL };
    size_t sizes [2];
    fg_idx_t idx [2];
    memset (idx, 0, sizeof idx);
    int rc = 0;
    for (int f = 0; f < 2 && !rc; f++) {
        rc = fg_file_read (paths [f], S_FILE_MAX, &files [f], &sizes [f], err);
        if (!rc)
            rc = fg_idx_decode ((const uint8_t *) files [f], sizes [f], paths [f],
                                f? FG_IDX_LABELS_MAGIC: FG_IDX_IMAGES_MAGIC,
                                S_DECODED_MAX, &idx [f], err);
    }
    if (!rc)
        rc = fg_dataset_from_idx (kind, split, &idx [0], paths [0], &idx [1], paths [1],
                                  limit, out, err);
    if (rc)
        fg_error_prefix (err, "%s", what);
    for (int f = 0; f < 2; f++) {
        fg_idx_release (&idx [f]);
        free (files [f]);
    }
    return rc;
}

#define S_CIFAR_FILES_MAX 5

static int
s_open_cifar (int kind, const char *path, fg_split_t split, size_t limit,
              fg_dataset_t **out, fg_error_t *err)
{
    bool c100 = kind == FG_DATASET_CIFAR100;
    size_t record = c100? FG_CIFAR100_RECORD: FG_CIFAR10_RECORD;
    char what [64];
    snprintf (what, sizeof what, "%s %s", fg_dataset_kind_name (kind), fg_dataset_split_name (split));

    //  File name sets, in order of preference, and records per file
    const char *sets [2][S_CIFAR_FILES_MAX];
    size_t nsets, nfiles, per_file;
    if (!c100 && split == FG_SPLIT_TRAIN) {
        static const char *official [] = { "data_batch_1.bin", "data_batch_2.bin",
            "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin" };
        static const char *copy [] = { "train_1.bin", "train_2.bin", "train_3.bin",
            "train_4.bin", "train_5.bin" };
        memcpy (sets [0], official, sizeof official);
        memcpy (sets [1], copy, sizeof copy);
        nsets = 2; nfiles = 5; per_file = 10000;
    }
    else
    if (!c100) {
        sets [0][0] = "test_batch.bin";
        sets [1][0] = "test.bin";
        nsets = 2; nfiles = 1; per_file = 10000;
    }
    else {
        sets [0][0] = split == FG_SPLIT_TRAIN? "train.bin": "test.bin";
        nsets = 1; nfiles = 1; per_file = split == FG_SPLIT_TRAIN? 50000: 10000;
    }
    //  The directory: path itself, or the official archive's folder in it
    const char *subdir = c100? "cifar-100-binary": "cifar-10-batches-bin";
    char dir [S_PATH_MAX] = "", probe [S_PATH_MAX];
    int set = -1;
    for (int d = 0; d < 2 && set < 0; d++) {
        if (d == 0)
            snprintf (dir, sizeof dir, "%s", path);
        else
        if (s_join (dir, sizeof dir, path, subdir, what, err))
            return FG_ERANGE;
        for (size_t s = 0; s < nsets && set < 0; s++) {
            if (s_join (probe, sizeof probe, dir, sets [s][0], what, err))
                return FG_ERANGE;
            if (s_exists (probe))
                set = (int) s;
        }
        if (set < 0)
            dir [0] = '\0';
    }
    if (set < 0) {
        if (nsets == 2)
            return fg_error_set (err, FG_ENOENT, "%s: neither %s nor %s found in %s or %s/%s",
                                 what, sets [0][0], sets [1][0], path, path, subdir);
        return fg_error_set (err, FG_ENOENT, "%s: %s not found in %s or %s/%s",
                             what, sets [0][0], path, path, subdir);
    }
    //  Every file of the set has its exact published size
    char paths [S_CIFAR_FILES_MAX][S_PATH_MAX];
    size_t expected = per_file * record;
    for (size_t f = 0; f < nfiles; f++) {
        if (s_join (paths [f], S_PATH_MAX, dir, sets [set][f], what, err))
            return FG_ERANGE;
        struct stat st;
        if (stat (paths [f], &st))
            return fg_error_set (err, errno == ENOENT? FG_ENOENT: FG_EIO, "%s: %s: %s",
                                 what, paths [f], strerror (errno));
        if (!S_ISREG (st.st_mode))
            return fg_error_set (err, FG_EIO, "%s: %s: not a regular file", what, paths [f]);
        if ((uint64_t) st.st_size != expected)
            return fg_error_set (err, FG_EFORMAT, "%s: %s: expected %zu bytes (%zu records of "
                                 "%zu bytes), found %lld", what, paths [f], expected, per_file,
                                 record, (long long) st.st_size);
    }
    //  Read only the files the limit needs
    size_t needed = limit? (limit + per_file - 1) / per_file: nfiles;
    if (needed > nfiles)
        needed = nfiles;
    char *data [S_CIFAR_FILES_MAX] = { NULL };
    size_t sizes [S_CIFAR_FILES_MAX] = { 0 };
    const char *names [S_CIFAR_FILES_MAX] = { NULL };
    int rc = 0;
    for (size_t f = 0; f < needed && !rc; f++) {
        names [f] = paths [f];
        rc = fg_file_read (paths [f], S_FILE_MAX, &data [f], &sizes [f], err);
    }
    if (!rc)
        rc = fg_dataset_from_cifar (kind, split, needed, (const uint8_t *const *) data, sizes,
                                    names, limit, out, err);
    if (rc)
        fg_error_prefix (err, "%s", what);
    for (size_t f = 0; f < needed; f++)
        free (data [f]);
    return rc;
}

int
fg_dataset_open (int kind, const char *path, fg_split_t split, size_t limit,
                 fg_dataset_t **out, fg_error_t *err)
{
    assert (out);
    *out = NULL;
    if (split != FG_SPLIT_TRAIN && split != FG_SPLIT_TEST)
        return fg_error_set (err, FG_EINVAL, "%s: split %d is neither train nor test",
                             fg_dataset_kind_name (kind), split);
    if (kind == FG_DATASET_SYNTHETIC)
        return fg_dataset_synthetic (FG_DATASET_SYNTHETIC_SEED, split,
                                     limit? limit: split == FG_SPLIT_TRAIN? 10000: 2000,
                                     10, 28, 28, 1, out, err);
    if (kind == FG_DATASET_TEXTURE)
        return fg_error_set (err, FG_EUNSUPPORTED, "%s: this dataset is not implemented yet "
                             "(supported: fashion-mnist, mnist, cifar10, cifar100, "
                             "tiny-imagenet, folder, synthetic)", fg_dataset_kind_name (kind));
    if (kind != FG_DATASET_FASHION_MNIST && kind != FG_DATASET_MNIST
    &&  kind != FG_DATASET_CIFAR10 && kind != FG_DATASET_CIFAR100
    &&  kind != FG_DATASET_TINY_IMAGENET && kind != FG_DATASET_FOLDER)
        return fg_error_set (err, FG_EINVAL, "dataset kind %d is unknown", kind);
    if (!path || !*path) {
        path = fg_dataset_default_path (kind);
        if (!path)
            return fg_error_set (err, FG_EINVAL, "%s: no path given (data.path)",
                                 fg_dataset_kind_name (kind));
    }
    struct stat st;
    if (stat (path, &st))
        return fg_error_set (err, errno == ENOENT? FG_ENOENT: FG_EIO, "%s %s: %s: %s%s",
                             fg_dataset_kind_name (kind), fg_dataset_split_name (split), path, strerror (errno),
                             kind == FG_DATASET_FASHION_MNIST && errno == ENOENT
                             ? " (apt-get install dataset-fashion-mnist)": "");
    if (!S_ISDIR (st.st_mode))
        return fg_error_set (err, FG_EINVAL, "%s %s: %s is not a directory",
                             fg_dataset_kind_name (kind), fg_dataset_split_name (split), path);
    if (kind == FG_DATASET_FASHION_MNIST || kind == FG_DATASET_MNIST)
        return s_open_idx (kind, path, split, limit, out, err);
    if (kind == FG_DATASET_TINY_IMAGENET)
        return fg_dataset_open_tiny (path, split, limit, out, err);
    if (kind == FG_DATASET_FOLDER)
        return fg_dataset_open_folder (path, split, limit, FG_DATASET_FOLDER_SIDE, out, err);
    return s_open_cifar (kind, path, split, limit, out, err);
}

const char *
fg_dataset_default_path (int kind)
{
    return kind == FG_DATASET_FASHION_MNIST? "/usr/share/datasets/fashion-mnist": NULL;
}

//  --------------------------------------------------------------------------
//  Accessors

void
fg_dataset_destroy (fg_dataset_t **self_p)
{
    if (self_p && *self_p) {
        free ((*self_p)->labels);
        free ((*self_p)->pixels);
        free ((*self_p)->origin);
        if ((*self_p)->src.destroy)
            (*self_p)->src.destroy ((*self_p)->src.state);
        free (*self_p);
        *self_p = NULL;
    }
}

int
fg_dataset_kind (const fg_dataset_t *self)
{
    assert (self);
    return self->kind;
}

fg_split_t
fg_dataset_split (const fg_dataset_t *self)
{
    assert (self);
    return self->split;
}

const char *
fg_dataset_name (const fg_dataset_t *self)
{
    assert (self);
    return self->name;
}

size_t
fg_dataset_count (const fg_dataset_t *self)
{
    assert (self);
    return self->count;
}

uint32_t
fg_dataset_classes (const fg_dataset_t *self)
{
    assert (self);
    return self->classes;
}

void
fg_dataset_shape (const fg_dataset_t *self, uint32_t *height, uint32_t *width,
                  uint32_t *channels)
{
    assert (self);
    if (height)
        *height = self->height;
    if (width)
        *width = self->width;
    if (channels)
        *channels = self->channels;
}

const uint16_t *
fg_dataset_labels (const fg_dataset_t *self)
{
    assert (self);
    return self->labels;
}

const uint8_t *
fg_dataset_pixels (const fg_dataset_t *self)
{
    assert (self);
    return self->pixels;
}

const double *
fg_dataset_mean (const fg_dataset_t *self)
{
    assert (self);
    return self->mean;
}

const double *
fg_dataset_std (const fg_dataset_t *self)
{
    assert (self);
    return self->std;
}

typedef struct {
    uint32_t channels;
    uint64_t sum [FG_DATASET_CHANNELS_MAX], sq [FG_DATASET_CHANNELS_MAX];
} s_stats_t;

static void
s_stats_image (void *ctx, const uint8_t *p, size_t size)
{
    s_stats_t *st = ctx;
    for (size_t q = 0; q < size; q += st->channels)
        for (uint32_t c = 0; c < st->channels; c++) {
            st->sum [c] += p [q + c];
            st->sq [c] += (uint64_t) p [q + c] * p [q + c];
        }
}

int
fg_dataset_compute_stats (const fg_dataset_t *self, double *mean, double *std, fg_error_t *err)
{
    assert (self);
    s_stats_t st = { self->channels, { 0 }, { 0 } };
    int rc = s_each_image (self, s_stats_image, &st, err);
    if (rc)
        return rc;
    double pixels = (double) self->count * (double) self->height * (double) self->width;
    for (uint32_t c = 0; c < self->channels; c++) {
        double m = (double) st.sum [c] / pixels;
        double var = (double) st.sq [c] / pixels - m * m;
        mean [c] = m / 255.0;
        std [c] = (var > 0? sqrt (var): 0) / 255.0;
    }
    return 0;
}

void
fg_dataset_augment_policy (const fg_dataset_t *self, uint32_t *pad, bool *flip)
{
    assert (self);
    if (pad)
        *pad = self->pad;
    if (flip)
        *flip = self->flip;
}

void
fg_dataset_hash (const fg_dataset_t *self, uint8_t digest [FG_SHA256_SIZE])
{
    assert (self);
    memcpy (digest, self->digest, FG_SHA256_SIZE);
}

const char *
fg_dataset_hash_hex (const fg_dataset_t *self)
{
    assert (self);
    return self->hex;
}

//  --------------------------------------------------------------------------
//  Records, and datasets built from some samples of a set

int
fg_dataset_kind_geometry (int kind, uint32_t *classes, uint32_t *height, uint32_t *width,
                          uint32_t *channels, fg_error_t *err)
{
    uint32_t k, h, w, c;
    switch (kind) {
        case FG_DATASET_FASHION_MNIST:
        case FG_DATASET_MNIST:
        case FG_DATASET_SYNTHETIC:
            k = 10; h = 28; w = 28; c = 1;
            break;
        case FG_DATASET_CIFAR10:
            k = 10; h = 32; w = 32; c = 3;
            break;
        case FG_DATASET_CIFAR100:
            k = 100; h = 32; w = 32; c = 3;
            break;
        case FG_DATASET_TINY_IMAGENET:
            k = 200; h = 64; w = 64; c = 3;
            break;
        case FG_DATASET_FOLDER:
            return fg_error_set (err, FG_EUNSUPPORTED, "folder: classes and image size depend "
                                 "on the folder and data.image_size (take them from the "
                                 "opened set)");
        case FG_DATASET_TEXTURE:
            return fg_error_set (err, FG_EUNSUPPORTED, "%s: not implemented yet",
                                 fg_dataset_kind_name (kind));
        default:
            return fg_error_set (err, FG_EINVAL, "dataset kind %d is not a kind", kind);
    }
    if (classes)
        *classes = k;
    if (height)
        *height = h;
    if (width)
        *width = w;
    if (channels)
        *channels = c;
    return 0;
}

size_t
fg_dataset_record_size (const fg_dataset_t *self)
{
    assert (self);
    return 2 + (size_t) self->height * self->width * self->channels;
}

int
fg_dataset_records (const fg_dataset_t *self, size_t start, size_t count, uint8_t *out,
                    fg_error_t *err)
{
    assert (self);
    if (start > self->count || count > self->count - start)
        return fg_error_set (err, FG_ERANGE, "%s: samples %zu..%zu outside 0..%zu", self->name,
                             start, start + count, self->count);
    size_t image = (size_t) self->height * self->width * self->channels;
    for (size_t i = 0; i < count; i++, out += 2 + image) {
        uint16_t label = self->labels [start + i];
        out [0] = (uint8_t) label;
        out [1] = (uint8_t) (label >> 8);
        //  an on-demand source decodes straight into the record
        const uint8_t *p = fg_dataset_image (self, start + i, out + 2, err);
        if (!p)
            return err && err->code? err->code: FG_EFORMAT;
        if (p != out + 2)
            memcpy (out + 2, p, image);
    }
    return 0;
}

int
fg_dataset_check_records (int kind, const uint8_t *records, size_t count, size_t record_size,
                          fg_error_t *err)
{
    uint32_t classes, h, w, c;
    int rc = fg_dataset_kind_geometry (kind, &classes, &h, &w, &c, err);
    if (rc)
        return rc;
    size_t expected = 2 + (size_t) h * w * c;
    if (record_size != expected)
        return fg_error_set (err, FG_EMISMATCH, "%s records: %zu bytes each, expected %zu "
                             "(label + %ux%ux%u pixels)", fg_dataset_kind_name (kind), record_size,
                             expected, h, w, c);
    for (size_t i = 0; i < count; i++) {
        const uint8_t *r = records + i * record_size;
        uint32_t label = (uint32_t) r [0] | (uint32_t) r [1] << 8;
        if (label >= classes)
            return fg_error_set (err, FG_ERANGE, "%s records: record %zu: label %u, expected "
                                 "< %u", fg_dataset_kind_name (kind), i, label, classes);
    }
    return 0;
}

int
fg_dataset_from_records (int kind, fg_split_t split, const uint8_t source [FG_SHA256_SIZE],
                         size_t n, const uint32_t *indices, const uint8_t *records,
                         size_t record_size, fg_dataset_t **out, fg_error_t *err)
{
    *out = NULL;
    uint32_t classes, h, w, c;
    int rc = fg_dataset_kind_geometry (kind, &classes, &h, &w, &c, err);
    if (rc)
        return rc;
    if (split != FG_SPLIT_TRAIN && split != FG_SPLIT_TEST)
        return fg_error_set (err, FG_EINVAL, "%s: bad split %d", fg_dataset_kind_name (kind), (int) split);
    if (n == 0 || n > UINT32_MAX || !indices || !records)
        return fg_error_set (err, FG_EINVAL, "%s subset: %zu samples (expected 1..%u)",
                             fg_dataset_kind_name (kind), n, UINT32_MAX);
    for (size_t i = 1; i < n; i++)
        if (indices [i] <= indices [i - 1])
            return fg_error_set (err, FG_EINVAL, "%s subset: index %u at position %zu does "
                                 "not follow %u (indices must be strictly increasing)",
                                 fg_dataset_kind_name (kind), indices [i], i, indices [i - 1]);
    if ((rc = fg_dataset_check_records (kind, records, n, record_size, err)))
        return rc;
    fg_dataset_t *self;
    if ((rc = fg_dataset_alloc (kind, split, n, classes, h, w, c, &self, err)))
        return rc;
    self->origin = malloc (n * sizeof (uint32_t));
    if (!self->origin) {
        fg_dataset_destroy (&self);
        return fg_error_set (err, FG_ENOMEM, "%s subset: out of memory", fg_dataset_kind_name (kind));
    }
    memcpy (self->origin, indices, n * sizeof (uint32_t));
    size_t image = record_size - 2;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *r = records + i * record_size;
        self->labels [i] = (uint16_t) (r [0] | r [1] << 8);
        memcpy (self->pixels + i * image, r + 2, image);
    }
    snprintf (self->name, sizeof self->name, "%s %s subset", fg_dataset_kind_name (kind),
              fg_dataset_split_name (split));
    memcpy (self->source, source, FG_SHA256_SIZE);
    fg_dataset_finish (self, NULL);
    *out = self;
    return 0;
}

int
fg_dataset_position (const fg_dataset_t *self, uint32_t index, size_t *position)
{
    assert (self);
    if (!self->origin) {
        if (index >= self->count)
            return FG_ENOENT;
        *position = index;
        return 0;
    }
    size_t lo = 0, hi = self->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (self->origin [mid] < index)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == self->count || self->origin [lo] != index)
        return FG_ENOENT;
    *position = lo;
    return 0;
}

bool
fg_dataset_is_subset (const fg_dataset_t *self)
{
    assert (self);
    return self->origin != NULL;
}

void
fg_dataset_source_hash (const fg_dataset_t *self, uint8_t digest [FG_SHA256_SIZE])
{
    assert (self);
    memcpy (digest, self->source, FG_SHA256_SIZE);
}

//  --------------------------------------------------------------------------
//  Stored bytes of on-demand sets

bool
fg_dataset_has_stored (const fg_dataset_t *self)
{
    assert (self);
    return !self->pixels && self->src.stored;
}

int
fg_dataset_stored (const fg_dataset_t *self, size_t i, const uint8_t **bytes, size_t *size,
                   fg_error_t *err)
{
    assert (self);
    assert (bytes && size);
    *bytes = NULL;
    *size = 0;
    if (i >= self->count)
        return fg_error_set (err, FG_ERANGE, "%s: sample %zu is outside 0..%zu", self->name, i,
                             self->count - 1);
    if (!fg_dataset_has_stored (self))
        return fg_error_set (err, FG_EUNSUPPORTED, "%s: samples have no stored bytes (an "
                             "in-memory set: use its records)", self->name);
    return self->src.stored (self, i, bytes, size, err);
}
