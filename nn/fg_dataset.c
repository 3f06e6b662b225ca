/*  fg_dataset.c — decoders (IDX, gzip, CIFAR binary), the synthetic set,
    the file layer and the accessors of fg_dataset (see fg_dataset.h).
    Batches and augmentation live in fg_augment.c.                        */

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
    "fashion-mnist", "mnist", "cifar10", "cifar100", "tiny-imagenet", "texture", "synthetic"
};

static const char *
s_kind_name (int kind)
{
    if (kind < 0 || kind >= (int) (sizeof s_kind_names / sizeof s_kind_names [0]))
        return "dataset";
    return s_kind_names [kind];
}

static const char *
s_split_name (fg_split_t split)
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
        default:
            for (int c = 0; c < FG_DATASET_CHANNELS_MAX; c++) {
                mean [c] = 0.5;
                std [c] = 0.25;
            }
            break;
    }
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

//  Allocates a dataset with room for count samples of h x w x c.
static int
s_dataset_new (int kind, fg_split_t split, size_t count, uint32_t classes,
               uint32_t height, uint32_t width, uint32_t channels,
               fg_dataset_t **out, fg_error_t *err)
{
    *out = NULL;
    assert (channels >= 1 && channels <= FG_DATASET_CHANNELS_MAX);
    size_t image = (size_t) height * width * channels;
    if (count == 0 || count > UINT32_MAX || image == 0 || count > SIZE_MAX / image)
        return fg_error_set (err, FG_EINVAL, "%s %s: %zu samples of %ux%ux%u is not a valid size",
                             s_kind_name (kind), s_split_name (split), count,
                             height, width, channels);
    fg_dataset_t *self = calloc (1, sizeof *self);
    if (self) {
        self->labels = malloc (count * sizeof (uint16_t));
        self->pixels = malloc (count * image);
    }
    if (!self || !self->labels || !self->pixels) {
        fg_dataset_destroy (&self);
        return fg_error_set (err, FG_ENOMEM, "%s %s: out of memory for %zu samples",
                             s_kind_name (kind), s_split_name (split), count);
    }
    self->kind = kind;
    self->split = split;
    snprintf (self->name, sizeof self->name, "%s %s", s_kind_name (kind), s_split_name (split));
    self->count = count;
    self->classes = classes;
    self->height = height;
    self->width = width;
    self->channels = channels;
    *out = self;
    return 0;
}

//  Normalisation table, augmentation policy and content hash, once the
//  labels and pixels are in place.
static void
s_dataset_finish (fg_dataset_t *self)
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
    fg_sha256_update (&sha, self->pixels,
                      self->count * self->height * self->width * self->channels);
    fg_sha256_final (&sha, self->digest);
    fg_sha256_hex (self->digest, self->hex);
    if (!self->origin)
        memcpy (self->source, self->digest, FG_SHA256_SIZE);
}

//  --------------------------------------------------------------------------
//  IDX (with or without gzip)

static uint32_t
s_get_u32be (const uint8_t *p)
{
    return (uint32_t) p [0] << 24 | (uint32_t) p [1] << 16 | (uint32_t) p [2] << 8 | p [3];
}

//  A gzip reader over a memory buffer: members are read one after the
//  other; anything after the last member that is not a member is an error.
typedef struct {
    z_stream       zs;
    const uint8_t *src;
    size_t         size;
    size_t         pos;             //  compressed bytes consumed
    bool           ended;           //  the last member ended cleanly
    bool           truncated;       //  input ran out inside a member
    int            zerr;            //  a zlib error (Z_DATA_ERROR...), or Z_OK
    const char    *zmsg;
} s_gz_t;

static int
s_gz_open (s_gz_t *gz, const uint8_t *src, size_t size)
{
    memset (gz, 0, sizeof *gz);
    gz->src = src;
    gz->size = size;
    gz->zerr = Z_OK;
    return inflateInit2 (&gz->zs, 16 + MAX_WBITS) == Z_OK? 0: -1;
}

//  Inflates up to want bytes into dst; returns how many were produced.
//  Fewer than want means the data ended (ended), the input ran out
//  (truncated) or zlib failed (zerr).
static size_t
s_gz_read (s_gz_t *gz, uint8_t *dst, size_t want)
{
    size_t got = 0;
    while (got < want && !gz->ended && !gz->truncated && gz->zerr == Z_OK) {
        size_t in_left = gz->size - gz->pos;
        size_t out_left = want - got;
        gz->zs.next_in = (Bytef *) (gz->src + gz->pos);
        gz->zs.avail_in = (uInt) (in_left > (1u << 30)? (1u << 30): in_left);
        gz->zs.next_out = dst + got;
        gz->zs.avail_out = (uInt) (out_left > (1u << 30)? (1u << 30): out_left);
        uInt avail_in = gz->zs.avail_in, avail_out = gz->zs.avail_out;
        int rc = inflate (&gz->zs, Z_NO_FLUSH);
        gz->pos += avail_in - gz->zs.avail_in;
        got += avail_out - gz->zs.avail_out;
        if (rc == Z_STREAM_END) {
            if (gz->pos == gz->size)
                gz->ended = true;
            else
            if (gz->size - gz->pos >= 2 && gz->src [gz->pos] == 0x1f && gz->src [gz->pos + 1] == 0x8b)
                inflateReset (&gz->zs);     //  another member follows
            else {
                gz->zerr = Z_DATA_ERROR;
                gz->zmsg = "bytes after the end of the gzip stream";
            }
        }
        else
        if (rc == Z_OK || rc == Z_BUF_ERROR) {
            if (avail_in == gz->zs.avail_in && avail_out == gz->zs.avail_out) {
                //  No progress: the input is used up inside a member
                if (gz->pos == gz->size)
                    gz->truncated = true;
                else {
                    gz->zerr = Z_BUF_ERROR;
                    gz->zmsg = "zlib made no progress";
                }
            }
        }
        else {
            gz->zerr = rc;
            gz->zmsg = gz->zs.msg? gz->zs.msg: "zlib error";
        }
    }
    return got;
}

static void
s_gz_close (s_gz_t *gz)
{
    inflateEnd (&gz->zs);
}

//  Why a gzip read stopped early, for messages.
static int
s_gz_fail (s_gz_t *gz, const char *name, size_t expected, size_t found, fg_error_t *err)
{
    if (gz->zerr != Z_OK)
        return fg_error_set (err, FG_EFORMAT, "%s: corrupt gzip data near compressed byte %zu "
                             "(%s); expected %zu bytes after decompression, found %zu so far",
                             name, gz->pos, gz->zmsg, expected, found);
    if (gz->truncated)
        return fg_error_set (err, FG_EFORMAT, "%s: expected %zu bytes after decompression, "
                             "found %zu (the gzip stream is truncated at %zu compressed bytes)",
                             name, expected, found, gz->size);
    return fg_error_set (err, FG_EFORMAT, "%s: expected %zu bytes after decompression, found %zu",
                         name, expected, found);
}

//  Checks the IDX magic in head (4 bytes); returns the header size.
static int
s_idx_magic (const uint8_t *head, const char *name, uint32_t magic, size_t *header_size,
             fg_error_t *err)
{
    uint32_t found = s_get_u32be (head);
    if (found != magic)
        return fg_error_set (err, FG_EFORMAT, "%s: bad magic 0x%08x, expected 0x%08x (IDX %s)",
                             name, found, magic,
                             magic == FG_IDX_IMAGES_MAGIC? "images": "labels");
    *header_size = 4 + 4 * (size_t) (magic & 0xff);
    return 0;
}

//  Parses the dimensions of a complete header; sets the expected total size.
static int
s_idx_dims (const uint8_t *head, const char *name, uint32_t magic, size_t max_size,
            fg_idx_t *idx, size_t *expected, fg_error_t *err)
{
    idx->ndims = magic & 0xff;
    assert (idx->ndims >= 1 && idx->ndims <= 3);
    size_t header = 4 + 4 * (size_t) idx->ndims;
    size_t item = 1;
    for (uint32_t d = 0; d < idx->ndims; d++) {
        idx->dims [d] = s_get_u32be (head + 4 + 4 * d);
        if (idx->dims [d] == 0)
            return fg_error_set (err, FG_EFORMAT, "%s: dimension %u of the IDX header is 0",
                                 name, d);
        if (d > 0) {
            if (idx->dims [d] > FG_DATASET_SIDE_MAX)
                return fg_error_set (err, FG_EFORMAT, "%s: dimension %u of the IDX header is %u, "
                                     "more than %u", name, d, idx->dims [d], FG_DATASET_SIDE_MAX);
            item *= idx->dims [d];
        }
    }
    idx->count = idx->dims [0];
    idx->item_size = item;
    if (idx->count > (max_size - header) / item)
        return fg_error_set (err, FG_ERANGE, "%s: the IDX header announces %zu items of %zu bytes, "
                             "more than the %zu bytes allowed", name, idx->count, item, max_size);
    *expected = header + idx->count * item;
    return 0;
}

int
fg_idx_decode (const uint8_t *file, size_t size, const char *name, uint32_t magic,
               size_t max_size, fg_idx_t *idx, fg_error_t *err)
{
    assert (magic == FG_IDX_IMAGES_MAGIC || magic == FG_IDX_LABELS_MAGIC);
    assert (max_size >= 16);
    memset (idx, 0, sizeof *idx);
    size_t header = 0, expected = 0;
    int rc;

    if (size < 2 || file [0] != 0x1f || file [1] != 0x8b) {
        //  Uncompressed
        if (size < 4)
            return fg_error_set (err, FG_EFORMAT, "%s: expected at least 4 bytes (IDX magic), "
                                 "found %zu", name, size);
        if ((rc = s_idx_magic (file, name, magic, &header, err)))
            return rc;
        if (size < header)
            return fg_error_set (err, FG_EFORMAT, "%s: expected at least %zu bytes (IDX header), "
                                 "found %zu", name, header, size);
        if ((rc = s_idx_dims (file, name, magic, max_size, idx, &expected, err)))
            return rc;
        if (size != expected)
            return fg_error_set (err, FG_EFORMAT, "%s: expected %zu bytes (%zu-byte header + "
                                 "%zu items of %zu bytes), found %zu",
                                 name, expected, header, idx->count, idx->item_size, size);
        idx->data = file + header;
        return 0;
    }

    //  gzip: the header first, then exactly the size it announces
    s_gz_t gz;
    if (s_gz_open (&gz, file, size))
        return fg_error_set (err, FG_ENOMEM, "%s: cannot start zlib", name);
    uint8_t head [16];
    size_t got = s_gz_read (&gz, head, 4);
    if (got < 4) {
        rc = s_gz_fail (&gz, name, 4, got, err);
        goto done;
    }
    if ((rc = s_idx_magic (head, name, magic, &header, err)))
        goto done;
    got += s_gz_read (&gz, head + 4, header - 4);
    if (got < header) {
        rc = s_gz_fail (&gz, name, header, got, err);
        goto done;
    }
    if ((rc = s_idx_dims (head, name, magic, max_size, idx, &expected, err)))
        goto done;
    idx->block = malloc (expected);
    if (!idx->block) {
        rc = fg_error_set (err, FG_ENOMEM, "%s: out of memory for %zu decoded bytes", name, expected);
        goto done;
    }
    memcpy (idx->block, head, header);
    got += s_gz_read (&gz, idx->block + header, expected - header);
    if (got < expected) {
        rc = s_gz_fail (&gz, name, expected, got, err);
        goto done;
    }
    //  Nothing more may come out: count any excess, bounded by max_size
    uint8_t scratch [16384];
    size_t more;
    while ((more = s_gz_read (&gz, scratch, sizeof scratch)) > 0 && got <= max_size)
        got += more;
    if (got > expected) {
        rc = fg_error_set (err, FG_EFORMAT, "%s: expected %zu bytes after decompression, "
                           "found %s%zu", name, expected, got > max_size? "more than ": "", got);
        goto done;
    }
    if (!gz.ended) {
        rc = gz.zerr != Z_OK
           ? fg_error_set (err, FG_EFORMAT, "%s: corrupt gzip data near compressed byte %zu (%s)",
                           name, gz.pos, gz.zmsg)
           : fg_error_set (err, FG_EFORMAT, "%s: the gzip stream is truncated at %zu compressed "
                           "bytes (its trailer is missing)", name, size);
        goto done;
    }
    idx->data = idx->block + header;
    rc = 0;
done:
    s_gz_close (&gz);
    if (rc)
        fg_idx_release (idx);
    return rc;
}

void
fg_idx_release (fg_idx_t *idx)
{
    if (idx) {
        free (idx->block);
        memset (idx, 0, sizeof *idx);
    }
}

int
fg_dataset_from_idx (int kind, fg_split_t split,
                     const fg_idx_t *images, const char *images_name,
                     const fg_idx_t *labels, const char *labels_name,
                     size_t limit, fg_dataset_t **out, fg_error_t *err)
{
    *out = NULL;
    if (kind != FG_DATASET_FASHION_MNIST && kind != FG_DATASET_MNIST)
        return fg_error_set (err, FG_EINVAL, "%s: not an IDX dataset", s_kind_name (kind));
    if (images->ndims != 3 || labels->ndims != 1)
        return fg_error_set (err, FG_EINVAL, "%s: IDX files of the wrong kinds", images_name);
    if (images->count != labels->count)
        return fg_error_set (err, FG_EFORMAT, "%s holds %zu images but %s holds %zu labels",
                             images_name, images->count, labels_name, labels->count);
    if (images->dims [1] != 28 || images->dims [2] != 28)
        return fg_error_set (err, FG_EMISMATCH, "%s: images are %ux%u, %s needs 28x28",
                             images_name, images->dims [1], images->dims [2], s_kind_name (kind));
    for (size_t i = 0; i < labels->count; i++)
        if (labels->data [i] >= 10)
            return fg_error_set (err, FG_ERANGE, "%s: label %u of item %zu (byte offset %zu) "
                                 "is outside 0..9", labels_name, labels->data [i], i, 8 + i);
    size_t count = limit && limit < images->count? limit: images->count;
    int rc = s_dataset_new (kind, split, count, 10, 28, 28, 1, out, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < count; i++)
        (*out)->labels [i] = labels->data [i];
    memcpy ((*out)->pixels, images->data, count * 28 * 28);
    s_dataset_finish (*out);
    return 0;
}

//  --------------------------------------------------------------------------
//  CIFAR-10 / CIFAR-100 binary

int
fg_dataset_from_cifar (int kind, fg_split_t split, size_t nfiles,
                       const uint8_t *const *files, const size_t *sizes,
                       const char *const *names, size_t limit,
                       fg_dataset_t **out, fg_error_t *err)
{
    *out = NULL;
    if (kind != FG_DATASET_CIFAR10 && kind != FG_DATASET_CIFAR100)
        return fg_error_set (err, FG_EINVAL, "%s: not a CIFAR dataset", s_kind_name (kind));
    if (nfiles == 0)
        return fg_error_set (err, FG_EINVAL, "%s: no files", s_kind_name (kind));
    bool c100 = kind == FG_DATASET_CIFAR100;
    size_t record = c100? FG_CIFAR100_RECORD: FG_CIFAR10_RECORD;
    size_t skip = c100? 2: 1;                   //  pixels start here
    uint32_t classes = c100? 100: 10;

    //  Sizes and labels of every file first: nothing is allocated for a bad set
    size_t total = 0;
    for (size_t f = 0; f < nfiles; f++) {
        if (sizes [f] == 0 || sizes [f] % record)
            return fg_error_set (err, FG_EFORMAT, "%s: expected a positive multiple of %zu bytes "
                                 "(records of %s), found %zu", names [f], record,
                                 s_kind_name (kind), sizes [f]);
        size_t n = sizes [f] / record;
        for (size_t r = 0; r < n; r++) {
            const uint8_t *rec = files [f] + r * record;
            if (c100 && rec [0] >= 20)
                return fg_error_set (err, FG_ERANGE, "%s: record %zu (byte offset %zu): coarse "
                                     "label %u is outside 0..19", names [f], r, r * record, rec [0]);
            if (rec [skip - 1] >= classes)
                return fg_error_set (err, FG_ERANGE, "%s: record %zu (byte offset %zu): label %u "
                                     "is outside 0..%u", names [f], r, r * record + skip - 1,
                                     rec [skip - 1], classes - 1);
        }
        if (n > UINT32_MAX - total)
            return fg_error_set (err, FG_EFORMAT, "%s: more than %u records in all",
                                 names [f], UINT32_MAX);
        total += n;
    }
    size_t count = limit && limit < total? limit: total;
    int rc = s_dataset_new (kind, split, count, classes, 32, 32, 3, out, err);
    if (rc)
        return rc;
    fg_dataset_t *self = *out;
    size_t i = 0;
    for (size_t f = 0; f < nfiles && i < count; f++) {
        size_t n = sizes [f] / record;
        for (size_t r = 0; r < n && i < count; r++, i++) {
            const uint8_t *rec = files [f] + r * record;
            self->labels [i] = rec [skip - 1];
            //  planar (C, 32, 32) -> HWC (32, 32, C)
            uint8_t *dst = self->pixels + i * 3072;
            const uint8_t *plane = rec + skip;
            for (size_t p = 0; p < 1024; p++) {
                dst [3 * p]     = plane [p];
                dst [3 * p + 1] = plane [1024 + p];
                dst [3 * p + 2] = plane [2048 + p];
            }
        }
    }
    s_dataset_finish (self);
    return 0;
}

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
    if ((rc = s_dataset_new (FG_DATASET_SYNTHETIC, split, n, classes,
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
    s_dataset_finish (self);
done:
    free (protos);
    free (order);
    return rc;
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
    snprintf (what, sizeof what, "%s %s", s_kind_name (kind), s_split_name (split));
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
    snprintf (what, sizeof what, "%s %s", s_kind_name (kind), s_split_name (split));

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
                             s_kind_name (kind), split);
    if (kind == FG_DATASET_SYNTHETIC)
        return fg_dataset_synthetic (FG_DATASET_SYNTHETIC_SEED, split,
                                     limit? limit: split == FG_SPLIT_TRAIN? 10000: 2000,
                                     10, 28, 28, 1, out, err);
    if (kind == FG_DATASET_TINY_IMAGENET || kind == FG_DATASET_TEXTURE)
        return fg_error_set (err, FG_EUNSUPPORTED, "%s: this dataset is not implemented yet "
                             "(supported: fashion-mnist, mnist, cifar10, cifar100, synthetic)",
                             s_kind_name (kind));
    if (kind != FG_DATASET_FASHION_MNIST && kind != FG_DATASET_MNIST
    &&  kind != FG_DATASET_CIFAR10 && kind != FG_DATASET_CIFAR100)
        return fg_error_set (err, FG_EINVAL, "dataset kind %d is unknown", kind);
    if (!path || !*path) {
        path = fg_dataset_default_path (kind);
        if (!path)
            return fg_error_set (err, FG_EINVAL, "%s: no path given (data.path)",
                                 s_kind_name (kind));
    }
    struct stat st;
    if (stat (path, &st))
        return fg_error_set (err, errno == ENOENT? FG_ENOENT: FG_EIO, "%s %s: %s: %s%s",
                             s_kind_name (kind), s_split_name (split), path, strerror (errno),
                             kind == FG_DATASET_FASHION_MNIST && errno == ENOENT
                             ? " (apt-get install dataset-fashion-mnist)": "");
    if (!S_ISDIR (st.st_mode))
        return fg_error_set (err, FG_EINVAL, "%s %s: %s is not a directory",
                             s_kind_name (kind), s_split_name (split), path);
    if (kind == FG_DATASET_FASHION_MNIST || kind == FG_DATASET_MNIST)
        return s_open_idx (kind, path, split, limit, out, err);
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

void
fg_dataset_compute_stats (const fg_dataset_t *self, double *mean, double *std)
{
    assert (self);
    uint64_t sum [FG_DATASET_CHANNELS_MAX] = { 0 }, sq [FG_DATASET_CHANNELS_MAX] = { 0 };
    size_t pixels = self->count * self->height * self->width;
    const uint8_t *p = self->pixels;
    for (size_t i = 0; i < pixels; i++)
        for (uint32_t c = 0; c < self->channels; c++, p++) {
            sum [c] += *p;
            sq [c] += (uint64_t) *p * *p;
        }
    for (uint32_t c = 0; c < self->channels; c++) {
        double m = (double) sum [c] / (double) pixels;
        double var = (double) sq [c] / (double) pixels - m * m;
        mean [c] = m / 255.0;
        std [c] = (var > 0? sqrt (var): 0) / 255.0;
    }
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
        case FG_DATASET_TEXTURE:
            return fg_error_set (err, FG_EUNSUPPORTED, "%s: not implemented yet",
                                 s_kind_name (kind));
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
        memcpy (out + 2, self->pixels + (start + i) * image, image);
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
                             "(label + %ux%ux%u pixels)", s_kind_name (kind), record_size,
                             expected, h, w, c);
    for (size_t i = 0; i < count; i++) {
        const uint8_t *r = records + i * record_size;
        uint32_t label = (uint32_t) r [0] | (uint32_t) r [1] << 8;
        if (label >= classes)
            return fg_error_set (err, FG_ERANGE, "%s records: record %zu: label %u, expected "
                                 "< %u", s_kind_name (kind), i, label, classes);
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
        return fg_error_set (err, FG_EINVAL, "%s: bad split %d", s_kind_name (kind), (int) split);
    if (n == 0 || n > UINT32_MAX || !indices || !records)
        return fg_error_set (err, FG_EINVAL, "%s subset: %zu samples (expected 1..%u)",
                             s_kind_name (kind), n, UINT32_MAX);
    for (size_t i = 1; i < n; i++)
        if (indices [i] <= indices [i - 1])
            return fg_error_set (err, FG_EINVAL, "%s subset: index %u at position %zu does "
                                 "not follow %u (indices must be strictly increasing)",
                                 s_kind_name (kind), indices [i], i, indices [i - 1]);
    if ((rc = fg_dataset_check_records (kind, records, n, record_size, err)))
        return rc;
    fg_dataset_t *self;
    if ((rc = s_dataset_new (kind, split, n, classes, h, w, c, &self, err)))
        return rc;
    self->origin = malloc (n * sizeof (uint32_t));
    if (!self->origin) {
        fg_dataset_destroy (&self);
        return fg_error_set (err, FG_ENOMEM, "%s subset: out of memory", s_kind_name (kind));
    }
    memcpy (self->origin, indices, n * sizeof (uint32_t));
    size_t image = record_size - 2;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *r = records + i * record_size;
        self->labels [i] = (uint16_t) (r [0] | r [1] << 8);
        memcpy (self->pixels + i * image, r + 2, image);
    }
    snprintf (self->name, sizeof self->name, "%s %s subset", s_kind_name (kind),
              s_split_name (split));
    memcpy (self->source, source, FG_SHA256_SIZE);
    s_dataset_finish (self);
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
