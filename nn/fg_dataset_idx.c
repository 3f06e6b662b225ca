/*  fg_dataset_idx.c — the IDX decoder of fg_dataset (MNIST family),
    gzipped (any number of members) or not, and the dataset built from a
    decoded images and labels pair (see fg_dataset_internal.h).           */

#include "fg_dataset_internal.h"
#include "fg_config.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

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
        return fg_error_set (err, FG_EINVAL, "%s: not an IDX dataset", fg_dataset_kind_name (kind));
    if (images->ndims != 3 || labels->ndims != 1)
        return fg_error_set (err, FG_EINVAL, "%s: IDX files of the wrong kinds", images_name);
    if (images->count != labels->count)
        return fg_error_set (err, FG_EFORMAT, "%s holds %zu images but %s holds %zu labels",
                             images_name, images->count, labels_name, labels->count);
    if (images->dims [1] != 28 || images->dims [2] != 28)
        return fg_error_set (err, FG_EMISMATCH, "%s: images are %ux%u, %s needs 28x28",
                             images_name, images->dims [1], images->dims [2], fg_dataset_kind_name (kind));
    for (size_t i = 0; i < labels->count; i++)
        if (labels->data [i] >= 10)
            return fg_error_set (err, FG_ERANGE, "%s: label %u of item %zu (byte offset %zu) "
                                 "is outside 0..9", labels_name, labels->data [i], i, 8 + i);
    size_t count = limit && limit < images->count? limit: images->count;
    int rc = fg_dataset_alloc (kind, split, count, 10, 28, 28, 1, out, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < count; i++)
        (*out)->labels [i] = labels->data [i];
    memcpy ((*out)->pixels, images->data, count * 28 * 28);
    fg_dataset_finish (*out, NULL);
    return 0;
}
