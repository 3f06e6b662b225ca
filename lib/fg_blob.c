/*  fg_blob.c — the weights blob codec (see fg_blob.h, docs/blob.md).

    Layout (all integers little-endian):
        fixed header      56 bytes (magic .. data_crc)
        descriptors       one per tensor, variable size
        header CRC        u32, CRC-32 of every byte before it
        data section      per tensor, per chunk: u32 clen + clen bytes

    Decoding runs in two stages: s_parse checks the header and every
    descriptor against each other and against the blob's size (nothing is
    allocated from an unchecked count); then s_tensor_decode walks a
    tensor's chunks, decompressing each into a bounded buffer.           */

#include "fg_le.h"
#include "fg_state.h"
#include "fg_blob.h"
#include "fg_blob_internal.h"
#include "fg_file.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lz4.h>
#include <zlib.h>

#if defined (__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#   error "fg_blob stores floats as raw little-endian bytes: big-endian hosts are not supported"
#endif
#if !defined (__BYTE_ORDER__)
#   error "fg_blob needs __BYTE_ORDER__ to check that the host is little-endian"
#endif
_Static_assert (sizeof (float) == 4, "fg_blob needs 4-byte IEEE-754 floats");
_Static_assert (FG_BLOB_CHUNK_FLOATS_MAX * 4ull < LZ4_MAX_INPUT_SIZE,
                "a chunk must fit one LZ4 block");

//  One tensor descriptor as parsed (or as about to be written).
typedef struct {
    char     name [FG_TENSOR_NAME_MAX];
    uint32_t name_len;
    uint32_t kind;
    uint32_t rank;
    uint64_t shape [FG_TENSOR_RANK_MAX];
    uint64_t count;                     //  floats
    uint64_t stored;                    //  bytes in the data section
    uint32_t crc;                       //  CRC-32 of the payload bits
    uint64_t data_at;                   //  offset of its first chunk in the blob
} s_desc_t;

//  The fixed header as parsed.
typedef struct {
    uint32_t version;
    uint32_t flags;
    uint32_t ntensors;
    uint32_t chunk_floats;
    uint64_t total_floats;
    uint64_t header_size;
    uint64_t blob_size;
    uint32_t base_crc;
    uint32_t data_crc;
} s_header_t;


//  --------------------------------------------------------------------------
//  Little-endian integers


//  --------------------------------------------------------------------------
//  CRC-32 over any size (zlib's crc32_z takes a size_t)

static uint32_t
s_crc (uint32_t crc, const void *data, size_t size)
{
    return (uint32_t) crc32_z (crc, (const Bytef *) data, size);
}

static uint32_t
s_crc_combine (uint32_t crc1, uint32_t crc2, uint64_t size2)
{
    return (uint32_t) crc32_combine64 (crc1, crc2, (z_off64_t) size2);
}

uint32_t
fg_blob_state_crc (const fg_state_t *state)
{
    assert (state);
    return state->size? s_crc (0, state->data, state->size * sizeof (float)): 0;
}


//  --------------------------------------------------------------------------
//  Byte shuffle: n floats (as 32-bit words) <-> 4 planes of n bytes

//  src [n] words -> dst [4n] planes
static void
s_shuffle (const float *src, size_t n, uint8_t *dst)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t x;
        memcpy (&x, src + i, 4);
        dst [i]         = (uint8_t) x;
        dst [n + i]     = (uint8_t) (x >> 8);
        dst [2 * n + i] = (uint8_t) (x >> 16);
        dst [3 * n + i] = (uint8_t) (x >> 24);
    }
}

//  src [4n] planes -> dst [n] words
static void
s_unshuffle (const uint8_t *src, size_t n, float *dst)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t x = (uint32_t) src [i] | ((uint32_t) src [n + i] << 8)
                   | ((uint32_t) src [2 * n + i] << 16) | ((uint32_t) src [3 * n + i] << 24);
        memcpy (dst + i, &x, 4);
    }
}

//  dst [n] ^= base [n], bit-wise
static void
s_xor (float *dst, const float *base, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t x, b;
        memcpy (&x, dst + i, 4);
        memcpy (&b, base + i, 4);
        x ^= b;
        memcpy (dst + i, &x, 4);
    }
}


//  --------------------------------------------------------------------------
//  Names: 1 .. FG_TENSOR_NAME_MAX-1 bytes of printable ASCII, unique

static bool
s_name_ok (const char *name, size_t len)
{
    if (len < 1 || len >= FG_TENSOR_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char) name [i] < 0x20 || (unsigned char) name [i] > 0x7e)
            return false;
    return true;
}

//  Returns 0, or dup_code naming both holders of a repeated name, or
//  FG_ENOMEM. A merge sort of indices (qsort has no context argument)
//  keeps it O(n log n) for hostile tensor counts.
static int
s_names_unique (const s_desc_t *descs, uint32_t n, int dup_code, fg_error_t *err)
{
    if (n < 2)
        return 0;
    uint32_t *index = malloc (n * sizeof *index);
    uint32_t *tmp = malloc (n * sizeof *tmp);
    if (!index || !tmp) {
        free (index);
        free (tmp);
        return fg_error_set (err, FG_ENOMEM, "blob: out of memory checking %u names", n);
    }
    for (uint32_t i = 0; i < n; i++)
        index [i] = i;
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n? lo + width: n;
            size_t hi = mid + width < n? mid + width: n;
            size_t a = lo, b = mid, k = lo;
            while (a < mid && b < hi)
                tmp [k++] = strcmp (descs [index [a]].name, descs [index [b]].name) <= 0
                          ? index [a++]: index [b++];
            while (a < mid)
                tmp [k++] = index [a++];
            while (b < hi)
                tmp [k++] = index [b++];
        }
        uint32_t *swap = index;
        index = tmp;
        tmp = swap;
    }
    int rc = 0;
    for (uint32_t i = 1; i < n && rc == 0; i++)
        if (strcmp (descs [index [i - 1]].name, descs [index [i]].name) == 0) {
            uint32_t x = index [i - 1] < index [i]? index [i - 1]: index [i];
            uint32_t y = index [i - 1] < index [i]? index [i]: index [i - 1];
            rc = fg_error_set (err, dup_code, "blob: tensor %u '%s': name already used by tensor %u",
                               y, descs [y].name, x);
        }
    free (index);
    free (tmp);
    return rc;
}


//  --------------------------------------------------------------------------
//  Shape arithmetic shared by encoder and decoder: returns the product of
//  shape [0 .. rank) or 0 when a dimension is 0 or the limits are passed.

static uint64_t
s_shape_count (const uint64_t *shape, uint32_t rank, uint32_t *bad_dim)
{
    uint64_t count = 1;
    for (uint32_t d = 0; d < rank; d++) {
        if (shape [d] == 0 || shape [d] > FG_BLOB_DIM_MAX
        ||  count > FG_BLOB_COUNT_MAX / shape [d]) {
            *bad_dim = d;
            return 0;
        }
        count *= shape [d];
    }
    return count;
}

static uint64_t
s_nchunks (uint64_t count, uint32_t chunk_floats)
{
    return count / chunk_floats + (count % chunk_floats? 1: 0);
}


//  --------------------------------------------------------------------------
//  Parsing: header and descriptors, every count checked before use

#define S_DESC(i)  (i), descs [i].name

static int
s_parse (const uint8_t *data, size_t size, s_header_t *h, s_desc_t **descs_p,
         fg_error_t *err)
{
    *descs_p = NULL;
    memset (h, 0, sizeof *h);
    if (!data && size)
        return fg_error_set (err, FG_EINVAL, "blob: NULL data of %zu bytes", size);
    size_t magic_have = size < FG_BLOB_MAGIC_SIZE? size: FG_BLOB_MAGIC_SIZE;
    if (memcmp (data? (const void *) data: "", FG_BLOB_MAGIC, magic_have))
        return fg_error_set (err, FG_EFORMAT, "blob: bad magic (not a fedgrid weights blob)");
    if (size < FG_BLOB_MIN_SIZE)
        return fg_error_set (err, FG_EFORMAT, "blob: truncated: %zu bytes, a blob has at least %d",
                             size, FG_BLOB_MIN_SIZE);
    h->version      = fg_le_get32 (data + 8);
    h->flags        = fg_le_get32 (data + 12);
    h->ntensors     = fg_le_get32 (data + 16);
    h->chunk_floats = fg_le_get32 (data + 20);
    h->total_floats = fg_le_get64 (data + 24);
    h->header_size  = fg_le_get64 (data + 32);
    h->blob_size    = fg_le_get64 (data + 40);
    h->base_crc     = fg_le_get32 (data + 48);
    h->data_crc     = fg_le_get32 (data + 52);

    if (h->version != FG_BLOB_VERSION)
        return fg_error_set (err, FG_EVERSION, "blob: format version %u, this build reads version %d",
                             h->version, FG_BLOB_VERSION);
    if (h->flags & ~FG_BLOB_FLAG_DELTA)
        return fg_error_set (err, FG_EFORMAT, "blob: unknown flags 0x%x (byte 12)",
                             h->flags & ~FG_BLOB_FLAG_DELTA);
    if (h->blob_size != size)
        return fg_error_set (err, FG_EFORMAT, "blob: %zu bytes, its header (byte 40) says %llu: %s",
                             size, (unsigned long long) h->blob_size,
                             size < h->blob_size? "truncated": "trailing bytes");
    if (h->header_size < FG_BLOB_MIN_SIZE || h->header_size > size)
        return fg_error_set (err, FG_EFORMAT, "blob: header size %llu (byte 32) not in %d..%zu",
                             (unsigned long long) h->header_size, FG_BLOB_MIN_SIZE, size);
    if (h->chunk_floats < 1 || h->chunk_floats > FG_BLOB_CHUNK_FLOATS_MAX)
        return fg_error_set (err, FG_EFORMAT, "blob: chunk size %u floats (byte 20) not in 1..%u",
                             h->chunk_floats, FG_BLOB_CHUNK_FLOATS_MAX);
    if (!(h->flags & FG_BLOB_FLAG_DELTA) && h->base_crc != 0)
        return fg_error_set (err, FG_EFORMAT, "blob: full blob with a base CRC (byte 48) 0x%08x",
                             h->base_crc);
    size_t desc_end = (size_t) h->header_size - 4;      //  header CRC follows
    if (h->ntensors > (desc_end - FG_BLOB_FIXED_SIZE) / FG_BLOB_DESC_MIN)
        return fg_error_set (err, FG_EFORMAT, "blob: %u tensors (byte 16) cannot fit a %llu-byte header",
                             h->ntensors, (unsigned long long) h->header_size);

    s_desc_t *descs = calloc (h->ntensors? h->ntensors: 1, sizeof *descs);
    if (!descs)
        return fg_error_set (err, FG_ENOMEM, "blob: out of memory for %u descriptors", h->ntensors);
    int rc = 0;
    size_t off = FG_BLOB_FIXED_SIZE;
    uint64_t data_at = h->header_size;
    uint64_t total = 0;
    for (uint32_t i = 0; i < h->ntensors; i++) {
        s_desc_t *d = &descs [i];
        if (desc_end - off < 4) {
            rc = fg_error_set (err, FG_EFORMAT, "blob: tensor %u: descriptor truncated at byte %zu", i, off);
            goto fail;
        }
        d->kind = data [off];
        d->rank = data [off + 1];
        d->name_len = fg_le_get16 (data + off + 2);
        off += 4;
        if (d->name_len < 1 || d->name_len >= FG_TENSOR_NAME_MAX) {
            rc = fg_error_set (err, FG_EFORMAT, "blob: tensor %u: name length %u (byte %zu) not in 1..%d",
                               i, d->name_len, off - 2, FG_TENSOR_NAME_MAX - 1);
            goto fail;
        }
        if (desc_end - off < d->name_len) {
            rc = fg_error_set (err, FG_EFORMAT, "blob: tensor %u: name truncated at byte %zu", i, off);
            goto fail;
        }
        memcpy (d->name, data + off, d->name_len);
        d->name [d->name_len] = '\0';
        if (!s_name_ok ((const char *) data + off, d->name_len)) {
            //  print only the harmless prefix
            for (uint32_t k = 0; k < d->name_len; k++)
                if ((unsigned char) d->name [k] < 0x20 || (unsigned char) d->name [k] > 0x7e) {
                    d->name [k] = '\0';
                    rc = fg_error_set (err, FG_EFORMAT, "blob: tensor %u '%s...': name byte %u (byte %zu) "
                                       "is 0x%02x, not printable ASCII", i, d->name, k, off + k,
                                       (unsigned) data [off + k]);
                    break;
                }
            goto fail;
        }
        off += d->name_len;
        if (d->kind != FG_TENSOR_PARAM && d->kind != FG_TENSOR_BUFFER) {
            rc = fg_error_set (err, FG_EFORMAT, "blob: tensor %u '%s': kind %u not 0 (param) or 1 (buffer)",
                               S_DESC (i), d->kind);
            goto fail;
        }
        if (d->rank < 1 || d->rank > FG_TENSOR_RANK_MAX) {
            rc = fg_error_set (err, FG_EFORMAT, "blob: tensor %u '%s': rank %u not in 1..%d",
                               S_DESC (i), d->rank, FG_TENSOR_RANK_MAX);
            goto fail;
        }
        if (desc_end - off < 8 * (size_t) d->rank + 20) {
            rc = fg_error_set (err, FG_EFORMAT, "blob: tensor %u '%s': descriptor truncated at byte %zu",
                               S_DESC (i), off);
            goto fail;
        }
        for (uint32_t k = 0; k < FG_TENSOR_RANK_MAX; k++)
            d->shape [k] = k < d->rank? fg_le_get64 (data + off + 8 * k): 1;
        off += 8 * (size_t) d->rank;
        d->count  = fg_le_get64 (data + off);
        d->stored = fg_le_get64 (data + off + 8);
        d->crc    = fg_le_get32 (data + off + 16);
        off += 20;
        uint32_t bad_dim = 0;
        uint64_t count = s_shape_count (d->shape, d->rank, &bad_dim);
        if (count == 0) {
            rc = fg_error_set (err, FG_EFORMAT, "blob: tensor %u '%s': dimension %u is %llu "
                               "(zero, above 2^32, or the product above 2^34)",
                               S_DESC (i), bad_dim, (unsigned long long) d->shape [bad_dim]);
            goto fail;
        }
        if (d->count != count) {
            rc = fg_error_set (err, FG_EFORMAT, "blob: tensor %u '%s': element count %llu, its shape makes %llu",
                               S_DESC (i), (unsigned long long) d->count, (unsigned long long) count);
            goto fail;
        }
        uint64_t nchunks = s_nchunks (count, h->chunk_floats);
        if (d->stored > size - data_at) {
            rc = fg_error_set (err, FG_EFORMAT, "blob: tensor %u '%s': %llu stored bytes at byte %llu "
                               "run past the blob's end (%zu)", S_DESC (i), (unsigned long long) d->stored,
                               (unsigned long long) data_at, size);
            goto fail;
        }
        //  every chunk is a 4-byte length + at least one byte, and LZ4
        //  turns one byte into at most 255: refuse sizes no blob can have
        //  before anyone allocates count floats.
        if (d->stored < 5 * nchunks
        ||  (count * 4 + FG_BLOB_LZ4_EXPANSION - 1) / FG_BLOB_LZ4_EXPANSION > d->stored - 4 * nchunks) {
            rc = fg_error_set (err, FG_EFORMAT, "blob: tensor %u '%s': %llu stored bytes in %llu chunks "
                               "cannot hold %llu floats", S_DESC (i), (unsigned long long) d->stored,
                               (unsigned long long) nchunks, (unsigned long long) count);
            goto fail;
        }
        d->data_at = data_at;
        data_at += d->stored;
        total += count;
    }
    if (off != desc_end) {
        rc = fg_error_set (err, FG_EFORMAT, "blob: %zu unexplained bytes after the last descriptor (byte %zu)",
                           desc_end - off, off);
        goto fail;
    }
    if (data_at != size) {
        rc = fg_error_set (err, FG_EFORMAT, "blob: the tensors' data end at byte %llu, the blob at byte %zu",
                           (unsigned long long) data_at, size);
        goto fail;
    }
    if (total != h->total_floats) {
        rc = fg_error_set (err, FG_EFORMAT, "blob: header (byte 24) says %llu floats, the tensors hold %llu",
                           (unsigned long long) h->total_floats, (unsigned long long) total);
        goto fail;
    }
    if (total > SIZE_MAX / sizeof (float) - 64) {
        rc = fg_error_set (err, FG_EFORMAT, "blob: %llu floats do not fit this host's memory",
                           (unsigned long long) total);
        goto fail;
    }
    rc = s_names_unique (descs, h->ntensors, FG_EFORMAT, err);
    if (rc)
        goto fail;
    uint32_t want = fg_le_get32 (data + desc_end);
    uint32_t have = s_crc (0, data, desc_end);
    if (want != have) {
        rc = fg_error_set (err, FG_ECHECKSUM, "blob: header CRC-32 0x%08x (byte %zu), the header's bytes give 0x%08x",
                           want, desc_end, have);
        goto fail;
    }
    *descs_p = descs;
    return 0;
fail:
    free (descs);
    return rc;
}


//  --------------------------------------------------------------------------
//  Decoding one tensor's chunks.
//  out: [count] floats receiving the payload bits, or NULL (check only:
//  each chunk goes to scratch [chunk_floats]). planes: [4 * chunk_floats]
//  bytes. When base (delta) and out, out is XORed with base after its CRC
//  is taken; *data_crc accumulates the CRC of what lands in out.

static int
s_tensor_decode (const uint8_t *data, uint32_t index, const s_desc_t *d,
                 uint32_t chunk_floats, float *out, const float *base, float *scratch,
                 uint8_t *planes, uint32_t *data_crc, fg_error_t *err)
{
    const uint8_t *p = data + d->data_at;
    uint64_t left = d->stored;
    uint64_t done = 0;
    uint32_t crc = 0;
    for (uint64_t chunk = 0; done < d->count; chunk++) {
        size_t n = d->count - done < chunk_floats? (size_t) (d->count - done): chunk_floats;
        size_t raw = 4 * n;
        if (left < 4)
            return fg_error_set (err, FG_EFORMAT, "blob: tensor %u '%s': chunk %llu: length truncated",
                                 index, d->name, (unsigned long long) chunk);
        uint32_t clen = fg_le_get32 (p);
        p += 4;
        left -= 4;
        if (clen > left || clen > raw || clen == 0)
            return fg_error_set (err, FG_EFORMAT, "blob: tensor %u '%s': chunk %llu: stored length %u "
                                 "not in 1..%zu (raw size) or past the tensor's %llu remaining bytes",
                                 index, d->name, (unsigned long long) chunk, clen, raw,
                                 (unsigned long long) left);
        const uint8_t *src = p;
        if (clen < raw) {
            int got = LZ4_decompress_safe ((const char *) p, (char *) planes, (int) clen, (int) raw);
            if (got != (int) raw)
                return fg_error_set (err, FG_EFORMAT, "blob: tensor %u '%s': chunk %llu: LZ4 data %s "
                                     "(%zu bytes expected)", index, d->name, (unsigned long long) chunk,
                                     got < 0? "corrupt": "decode to the wrong size", raw);
            src = planes;
        }
        float *dst = out? out + done: scratch;
        s_unshuffle (src, n, dst);
        uint32_t c = s_crc (0, dst, raw);
        crc = s_crc_combine (crc, c, raw);
        if (out && base) {
            s_xor (dst, base + done, n);
            c = s_crc (0, dst, raw);
        }
        if (data_crc)
            *data_crc = s_crc_combine (*data_crc, c, raw);
        p += clen;
        left -= clen;
        done += n;
    }
    if (left)
        return fg_error_set (err, FG_EFORMAT, "blob: tensor %u '%s': %llu bytes left after its last chunk",
                             index, d->name, (unsigned long long) left);
    if (crc != d->crc)
        return fg_error_set (err, FG_ECHECKSUM, "blob: tensor %u '%s': data CRC-32 0x%08x, descriptor says 0x%08x",
                             index, d->name, crc, d->crc);
    return 0;
}

static void
s_fill_info (const s_header_t *h, fg_blob_info_t *info)
{
    if (!info)
        return;
    memset (info, 0, sizeof *info);
    info->version      = h->version;
    info->delta        = (h->flags & FG_BLOB_FLAG_DELTA) != 0;
    info->base_crc     = h->base_crc;
    info->data_crc     = h->data_crc;
    info->ntensors     = h->ntensors;
    info->total_floats = (size_t) h->total_floats;
    info->chunk_floats = h->chunk_floats;
    info->header_size  = (size_t) h->header_size;
    info->blob_size    = (size_t) h->blob_size;
}

//  Floats of a chunk buffer for a parsed blob: one chunk, bounded by the
//  largest tensor (a small blob may claim a huge chunk size).
static size_t
s_chunk_buffer_floats (const s_header_t *h, const s_desc_t *descs)
{
    uint64_t largest = 0;
    for (uint32_t i = 0; i < h->ntensors; i++)
        largest = descs [i].count > largest? descs [i].count: largest;
    return (size_t) (largest < h->chunk_floats? largest: h->chunk_floats);
}

int
fg_blob_check (const uint8_t *data, size_t size, fg_blob_info_t *info, fg_error_t *err)
{
    s_header_t h;
    s_desc_t *descs;
    int rc = s_parse (data, size, &h, &descs, err);
    if (rc)
        return rc;
    size_t floats = s_chunk_buffer_floats (&h, descs);
    float *scratch = malloc (floats? 4 * floats: 4);
    uint8_t *planes = malloc (floats? 4 * floats: 4);
    if (!scratch || !planes)
        rc = fg_error_set (err, FG_ENOMEM, "blob: out of memory for a %zu-float chunk", floats);
    uint32_t data_crc = 0;
    for (uint32_t i = 0; i < h.ntensors && rc == 0; i++)
        rc = s_tensor_decode (data, i, &descs [i], h.chunk_floats, NULL, NULL, scratch, planes,
                              &data_crc, err);
    if (rc == 0 && !(h.flags & FG_BLOB_FLAG_DELTA) && data_crc != h.data_crc)
        rc = fg_error_set (err, FG_ECHECKSUM, "blob: data CRC-32 0x%08x, header (byte 52) says 0x%08x",
                           data_crc, h.data_crc);
    if (rc == 0)
        s_fill_info (&h, info);
    free (scratch);
    free (planes);
    free (descs);
    return rc;
}

//  FG_EMISMATCH (naming what, e.g. "a delta", and whose, e.g. "base")
//  unless state has the blob's tensors: names, kinds, shapes, counts, in
//  order, tiling its block.
static int
s_layout_matches (const s_header_t *h, const s_desc_t *descs, const fg_state_t *state,
                  const char *what, const char *whose, fg_error_t *err)
{
    if (state->nviews != h->ntensors || state->size != h->total_floats)
        return fg_error_set (err, FG_EMISMATCH, "blob: %s of %u tensors (%llu floats) against a %s "
                             "of %zu tensors (%zu floats)", what, h->ntensors,
                             (unsigned long long) h->total_floats, whose, state->nviews, state->size);
    uint64_t offset = 0;
    for (uint32_t i = 0; i < h->ntensors; i++) {
        const fg_tensor_view_t *v = &state->views [i];
        const s_desc_t *d = &descs [i];
        if (strcmp (v->name, d->name) || v->kind != d->kind || v->rank != d->rank
        ||  memcmp (v->shape, d->shape, sizeof v->shape) || v->offset != offset || v->count != d->count)
            return fg_error_set (err, FG_EMISMATCH, "blob: tensor %u '%s': %s has '%s' of another "
                                 "kind, shape or offset there", i, d->name, whose, v->name);
        offset += d->count;
    }
    return 0;
}

//  The data section of a parsed blob into out (out's views at the blob's
//  offsets; base's for a delta, else NULL), one chunk's buffer at a
//  time, then the decoded bits against the header's data CRC.
static int
s_decode_data (const uint8_t *data, const s_header_t *h, const s_desc_t *descs,
               fg_state_t *out, const fg_state_t *base, fg_error_t *err)
{
    size_t floats = s_chunk_buffer_floats (h, descs);
    uint8_t *planes = malloc (floats? 4 * floats: 4);
    if (!planes)
        return fg_error_set (err, FG_ENOMEM, "blob: out of memory for a chunk of %zu floats",
                             floats);
    int rc = 0;
    uint32_t data_crc = 0;
    for (uint32_t i = 0; i < h->ntensors && rc == 0; i++)
        rc = s_tensor_decode (data, i, &descs [i], h->chunk_floats,
                              out->data + out->views [i].offset,
                              base? base->data + out->views [i].offset: NULL,
                              NULL, planes, &data_crc, err);
    if (rc == 0 && data_crc != h->data_crc)
        rc = fg_error_set (err, FG_ECHECKSUM, "blob: decoded weights have CRC-32 0x%08x, header (byte 52) "
                           "says 0x%08x", data_crc, h->data_crc);
    free (planes);
    return rc;
}

//  The base must have exactly the blob's layout.
static int
s_base_matches (const s_header_t *h, const s_desc_t *descs, const fg_state_t *base,
                fg_error_t *err)
{
    int rc = s_layout_matches (h, descs, base, "a delta", "base", err);
    if (rc)
        return rc;
    uint32_t crc = fg_blob_state_crc (base);
    if (crc != h->base_crc)
        return fg_error_set (err, FG_EMISMATCH, "blob: delta against weights with CRC-32 0x%08x, "
                             "the base given has 0x%08x", h->base_crc, crc);
    return 0;
}

int
fg_blob_decode (const uint8_t *data, size_t size, const fg_state_t *base,
                fg_state_t **state_out, fg_error_t *err)
{
    assert (state_out);
    *state_out = NULL;
    s_header_t h;
    s_desc_t *descs;
    int rc = s_parse (data, size, &h, &descs, err);
    if (rc)
        return rc;
    bool delta = (h.flags & FG_BLOB_FLAG_DELTA) != 0;
    fg_state_t *state = NULL;
    if (delta && !base) {
        rc = fg_error_set (err, FG_EINVAL, "blob: a delta blob needs the base it was encoded against");
        goto done;
    }
    if (delta && (rc = s_base_matches (&h, descs, base, err)))
        goto done;

    //  the state, built in one allocation (fg_state_add would copy the
    //  block once per tensor)
    state = fg_state_new ();
    size_t bytes = ((size_t) h.total_floats * sizeof (float) + 63) & ~(size_t) 63;
    if (state) {
        state->views = calloc (h.ntensors? h.ntensors: 1, sizeof *state->views);
        state->data = aligned_alloc (64, bytes + FG_BLIS_TAIL_PAD);
    }
    if (!state || !state->views || !state->data) {
        rc = fg_error_set (err, FG_ENOMEM, "blob: out of memory for %u tensors of %llu floats",
                           h.ntensors, (unsigned long long) h.total_floats);
        goto done;
    }
    memset ((uint8_t *) state->data + h.total_floats * sizeof (float), 0,
            (bytes? bytes: 64) - h.total_floats * sizeof (float));
    state->nviews = h.ntensors;
    state->size = (size_t) h.total_floats;
    uint64_t offset = 0;
    for (uint32_t i = 0; i < h.ntensors; i++) {
        fg_tensor_view_t *v = &state->views [i];
        memcpy (v->name, descs [i].name, sizeof v->name);
        v->kind = descs [i].kind;
        v->rank = descs [i].rank;
        memcpy (v->shape, descs [i].shape, sizeof v->shape);
        v->offset = offset;
        v->count = descs [i].count;
        offset += v->count;
    }
    rc = s_decode_data (data, &h, descs, state, delta? base: NULL, err);
done:
    free (descs);
    if (rc)
        fg_state_destroy (&state);
    *state_out = state;
    return rc;
}

int
fg_blob_decode_into (const uint8_t *data, size_t size, fg_state_t *into, bool check_only,
                     fg_error_t *err)
{
    assert (into);
    s_header_t h;
    s_desc_t *descs;
    int rc = s_parse (data, size, &h, &descs, err);
    if (rc)
        return rc;
    if (h.flags & FG_BLOB_FLAG_DELTA)
        rc = fg_error_set (err, FG_EINVAL, "blob: a delta blob cannot be decoded in place");
    if (rc == 0)
        rc = s_layout_matches (&h, descs, into, "a blob", "state", err);
    if (rc == 0 && !check_only)
        rc = s_decode_data (data, &h, descs, into, NULL, err);
    free (descs);
    return rc;
}


//  --------------------------------------------------------------------------
//  Encoding

//  A state made by hand could break what fg_state_add guarantees: check.
static int
s_state_valid (const fg_state_t *state, s_desc_t **descs_p, fg_error_t *err)
{
    *descs_p = NULL;
    if (state->nviews > UINT32_MAX / 2)
        return fg_error_set (err, FG_EINVAL, "blob: %zu tensors are too many", state->nviews);
    if (state->nviews && !state->views)
        return fg_error_set (err, FG_EINVAL, "blob: state has %zu views but no view table", state->nviews);
    if (state->size && !state->data)
        return fg_error_set (err, FG_EINVAL, "blob: state of %zu floats has no data", state->size);
    s_desc_t *descs = calloc (state->nviews? state->nviews: 1, sizeof *descs);
    if (!descs)
        return fg_error_set (err, FG_ENOMEM, "blob: out of memory for %zu descriptors", state->nviews);
    int rc = 0;
    uint64_t offset = 0;
    for (size_t i = 0; i < state->nviews && rc == 0; i++) {
        const fg_tensor_view_t *v = &state->views [i];
        s_desc_t *d = &descs [i];
        size_t len = strnlen (v->name, FG_TENSOR_NAME_MAX);
        uint32_t bad_dim = 0;
        if (!s_name_ok (v->name, len))
            rc = fg_error_set (err, FG_EINVAL, "blob: tensor %zu: name is empty, longer than %d bytes "
                               "or not printable ASCII", i, FG_TENSOR_NAME_MAX - 1);
        else
        if (v->kind != FG_TENSOR_PARAM && v->kind != FG_TENSOR_BUFFER)
            rc = fg_error_set (err, FG_EINVAL, "blob: tensor %zu '%s': kind %u", i, v->name, v->kind);
        else
        if (v->rank < 1 || v->rank > FG_TENSOR_RANK_MAX)
            rc = fg_error_set (err, FG_EINVAL, "blob: tensor %zu '%s': rank %u", i, v->name, v->rank);
        else
        if (s_shape_count (v->shape, v->rank, &bad_dim) != v->count || v->count == 0)
            rc = fg_error_set (err, FG_EINVAL, "blob: tensor %zu '%s': count %llu does not match its shape",
                               i, v->name, (unsigned long long) v->count);
        else
        if (v->offset != offset)
            rc = fg_error_set (err, FG_EINVAL, "blob: tensor %zu '%s': offset %llu, %llu expected "
                               "(views must tile the block in order)", i, v->name,
                               (unsigned long long) v->offset, (unsigned long long) offset);
        if (rc)
            break;
        memcpy (d->name, v->name, len);
        d->name_len = (uint32_t) len;
        d->kind = v->kind;
        d->rank = v->rank;
        for (uint32_t k = 0; k < FG_TENSOR_RANK_MAX; k++)
            d->shape [k] = k < v->rank? v->shape [k]: 1;
        d->count = v->count;
        offset += v->count;
    }
    if (rc == 0 && offset != state->size)
        rc = fg_error_set (err, FG_EINVAL, "blob: views hold %llu floats, the state %zu",
                           (unsigned long long) offset, state->size);
    if (rc == 0)
        rc = s_names_unique (descs, (uint32_t) state->nviews, FG_EINVAL, err);
    if (rc)
        free (descs);
    else
        *descs_p = descs;
    return rc;
}

int
fg_blob_state_check (const fg_state_t *state, fg_error_t *err)
{
    s_desc_t *descs;
    int rc = s_state_valid (state, &descs, err);
    free (descs);
    return rc;
}

//  fg_blob_bound for chunks of chunk_floats; 0 for a state s_state_valid
//  refuses.
static uint64_t
s_bound (const fg_state_t *state, uint32_t chunk_floats)
{
    s_desc_t *descs;
    if (s_state_valid (state, &descs, NULL))
        return 0;
    uint64_t size = FG_BLOB_MIN_SIZE;
    for (size_t i = 0; i < state->nviews; i++)
        size += 4 + descs [i].name_len + 8 * (uint64_t) descs [i].rank + 20
              + 4 * s_nchunks (descs [i].count, chunk_floats) + 4 * descs [i].count;
    free (descs);
    return size;
}

//  The header (fixed part, descriptors, header CRC) into h [header_size].
static void
s_put_header (uint8_t *blob, const s_desc_t *descs, uint32_t n, const fg_state_t *state,
              const fg_state_t *base, uint32_t chunk_floats, uint64_t header_size,
              uint64_t size, uint32_t data_crc)
{
    memcpy (blob, FG_BLOB_MAGIC, FG_BLOB_MAGIC_SIZE);
    fg_le_put32 (blob + 8, FG_BLOB_VERSION);
    fg_le_put32 (blob + 12, base? FG_BLOB_FLAG_DELTA: 0);
    fg_le_put32 (blob + 16, n);
    fg_le_put32 (blob + 20, chunk_floats);
    fg_le_put64 (blob + 24, state->size);
    fg_le_put64 (blob + 32, header_size);
    fg_le_put64 (blob + 40, size);
    fg_le_put32 (blob + 48, base? fg_blob_state_crc (base): 0);
    fg_le_put32 (blob + 52, data_crc);
    uint8_t *h = blob + FG_BLOB_FIXED_SIZE;
    for (uint32_t i = 0; i < n; i++) {
        const s_desc_t *d = &descs [i];
        h [0] = (uint8_t) d->kind;
        h [1] = (uint8_t) d->rank;
        fg_le_put16 (h + 2, (uint16_t) d->name_len);
        memcpy (h + 4, d->name, d->name_len);
        h += 4 + d->name_len;
        for (uint32_t k = 0; k < d->rank; k++, h += 8)
            fg_le_put64 (h, d->shape [k]);
        fg_le_put64 (h, d->count);
        fg_le_put64 (h + 8, d->stored);
        fg_le_put32 (h + 16, d->crc);
        h += 20;
    }
    assert (h + 4 == blob + header_size);
    fg_le_put32 (h, s_crc (0, blob, (size_t) header_size - 4));
}

//  What s_encode writes with: the chunk buffers and the running sums.
typedef struct {
    uint8_t *planes;                    //  [4 * chunk] shuffled payload
    uint8_t *packed;                    //  [4 + 4 * chunk] u32 clen + chunk
    float   *xored;                     //  [chunk] delta payload, or NULL
    uint64_t at;                        //  next data byte's offset in the blob
    uint32_t data_crc;                  //  CRC-32 of the state's bits so far
    uint32_t bytes_crc;                 //  CRC-32 of the data section so far
} s_enc_t;

//  Tensor i's chunks, each compressed into e->packed and written at e->at;
//  fills descs [i].stored and .crc. Returns 0 or write's code.
static int
s_encode_tensor (const fg_state_t *state, const fg_state_t *base, uint32_t i, s_desc_t *d,
                 uint32_t chunk_floats, s_enc_t *e, fg_blob_write_fn *write, void *ctx,
                 bool want_crc, fg_error_t *err)
{
    const float *src = state->data + state->views [i].offset;
    const float *bsrc = base? base->data + state->views [i].offset: NULL;
    uint64_t start = e->at;
    uint32_t crc = 0;
    for (uint64_t done = 0; done < d->count; ) {
        size_t cn = d->count - done < chunk_floats? (size_t) (d->count - done): chunk_floats;
        size_t raw = 4 * cn;
        //  payload: the state's bits, or their XOR with the base's
        const float *payload = src + done;
        if (bsrc) {
            memcpy (e->xored, payload, raw);
            s_xor (e->xored, bsrc + done, cn);
            payload = e->xored;
        }
        s_shuffle (payload, cn, e->planes);
        uint32_t c_state = s_crc (0, src + done, raw);
        uint32_t c_payload = bsrc? s_crc (0, payload, raw): c_state;
        crc = s_crc_combine (crc, c_payload, raw);
        e->data_crc = s_crc_combine (e->data_crc, c_state, raw);
        int clen = LZ4_compress_default ((const char *) e->planes, (char *) e->packed + 4,
                                         (int) raw, (int) raw - 1);
        if (clen <= 0) {                //  does not shrink: store the planes
            memcpy (e->packed + 4, e->planes, raw);
            clen = (int) raw;
        }
        fg_le_put32 (e->packed, (uint32_t) clen);
        size_t piece = 4 + (size_t) clen;
        int rc = write (ctx, e->at, e->packed, piece, err);
        if (rc)
            return rc;
        if (want_crc)
            e->bytes_crc = s_crc_combine (e->bytes_crc, s_crc (0, e->packed, piece), piece);
        e->at += piece;
        done += cn;
    }
    d->stored = e->at - start;
    d->crc = crc;
    return 0;
}

//  Encodes state (against base when not NULL) through write: the data
//  section chunk by chunk, then the header at offset 0. Holds the chunk
//  buffers and the header only. *size gets the blob's bytes, *crc (when
//  not NULL) the CRC-32 of all of them.
static int
s_encode (const fg_state_t *state, const fg_state_t *base, uint32_t chunk_floats,
          fg_blob_write_fn *write, void *ctx, uint64_t *size, uint32_t *crc, fg_error_t *err)
{
    *size = 0;
    if (chunk_floats < 1 || chunk_floats > FG_BLOB_CHUNK_FLOATS_MAX)
        return fg_error_set (err, FG_EINVAL, "blob: chunk size %u floats not in 1..%u",
                             chunk_floats, FG_BLOB_CHUNK_FLOATS_MAX);
    s_desc_t *descs;
    int rc = s_state_valid (state, &descs, err);
    if (rc)
        return rc;
    if (base && !fg_state_same_layout (state, base, err)) {
        free (descs);
        fg_error_prefix (err, "blob: delta base");
        return FG_EMISMATCH;
    }
    uint32_t n = (uint32_t) state->nviews;
    uint64_t header_size = FG_BLOB_MIN_SIZE;
    size_t largest = 0;
    for (uint32_t i = 0; i < n; i++) {
        header_size += 4 + descs [i].name_len + 8 * (uint64_t) descs [i].rank + 20;
        if (descs [i].count > largest)
            largest = (size_t) descs [i].count;
    }
    size_t floats = largest < chunk_floats? largest: chunk_floats;
    s_enc_t e = { .at = header_size };
    e.planes = malloc (floats? 4 * floats: 4);
    e.packed = malloc (4 + (floats? 4 * floats: 4));
    e.xored = base? malloc (floats? 4 * floats: 4): NULL;
    uint8_t *header = header_size <= SIZE_MAX? malloc ((size_t) header_size): NULL;
    if (!e.planes || !e.packed || (base && !e.xored) || !header)
        rc = fg_error_set (err, FG_ENOMEM, "blob: out of memory for a chunk of %zu floats", floats);
    for (uint32_t i = 0; rc == 0 && i < n; i++)
        rc = s_encode_tensor (state, base, i, &descs [i], chunk_floats, &e, write, ctx,
                              crc != NULL, err);
    if (rc == 0) {
        s_put_header (header, descs, n, state, base, chunk_floats, header_size, e.at, e.data_crc);
        rc = write (ctx, 0, header, (size_t) header_size, err);
    }
    if (rc == 0) {
        *size = e.at;
        if (crc)
            *crc = s_crc_combine (s_crc (0, header, (size_t) header_size), e.bytes_crc,
                                  e.at - header_size);
    }
    free (header);
    free (e.planes);
    free (e.packed);
    free (e.xored);
    free (descs);
    return rc;
}

int
fg_blob_buffer_write (void *ctx, uint64_t at, const void *data, size_t size, fg_error_t *err)
{
    fg_blob_buffer_t *mem = (fg_blob_buffer_t *) ctx;
    if (at > mem->capacity || size > mem->capacity - at)     //  beyond fg_blob_bound's
        return fg_error_set (err, FG_EINVAL, "blob: %zu bytes at %llu past a %llu-byte buffer",
                             size, (unsigned long long) at, (unsigned long long) mem->capacity);
    memcpy (mem->bytes + at, data, size);
    return 0;
}

int
fg_blob_encode_chunked (const fg_state_t *state, const fg_state_t *base,
                        uint32_t chunk_floats, uint8_t **out, size_t *out_size,
                        fg_error_t *err)
{
    assert (state && out && out_size);
    *out = NULL;
    *out_size = 0;
    if (chunk_floats < 1 || chunk_floats > FG_BLOB_CHUNK_FLOATS_MAX)
        return fg_error_set (err, FG_EINVAL, "blob: chunk size %u floats not in 1..%u",
                             chunk_floats, FG_BLOB_CHUNK_FLOATS_MAX);
    //  the whole blob at worst (every chunk stored raw); only the pages
    //  written are touched, and the buffer shrinks to the blob after
    uint64_t worst = s_bound (state, chunk_floats);
    if (worst == 0)
        return s_encode (state, base, chunk_floats, fg_blob_buffer_write, NULL, &worst, NULL, err);
    if (worst > SIZE_MAX)
        return fg_error_set (err, FG_EINVAL, "blob: %zu floats do not fit this host's memory",
                             state->size);
    fg_blob_buffer_t mem = { malloc ((size_t) worst), worst };
    if (!mem.bytes)
        return fg_error_set (err, FG_ENOMEM, "blob: out of memory for a %llu-byte blob",
                             (unsigned long long) worst);
    uint64_t size;
    int rc = s_encode (state, base, chunk_floats, fg_blob_buffer_write, &mem, &size, NULL, err);
    if (rc) {
        free (mem.bytes);
        return rc;
    }
    uint8_t *shrunk = realloc (mem.bytes, (size_t) size);
    *out = shrunk? shrunk: mem.bytes;
    *out_size = (size_t) size;
    return 0;
}

int
fg_blob_write (const fg_state_t *state, const fg_state_t *base, fg_blob_write_fn *write,
               void *ctx, uint64_t *size, uint32_t *crc, fg_error_t *err)
{
    assert (state && write && size);
    return s_encode (state, base, FG_BLOB_CHUNK_FLOATS, write, ctx, size, crc, err);
}

uint64_t
fg_blob_bound (const fg_state_t *state)
{
    assert (state);
    return s_bound (state, FG_BLOB_CHUNK_FLOATS);
}

int
fg_blob_encode (const fg_state_t *state, const fg_state_t *base,
                uint8_t **out, size_t *out_size, fg_error_t *err)
{
    return fg_blob_encode_chunked (state, base, FG_BLOB_CHUNK_FLOATS, out, out_size, err);
}


//  --------------------------------------------------------------------------
//  Files

int
fg_blob_file_write (void *ctx, uint64_t at, const void *data, size_t size, fg_error_t *err)
{
    return fg_file_out_write ((fg_file_out_t *) ctx, at, data, size, err);
}

int
fg_blob_save (const char *path, const fg_state_t *state, fg_error_t *err)
{
    assert (path && state);
    //  streamed: a chunk's buffers in memory, not the whole blob
    fg_file_out_t *out;
    int rc = fg_file_out_open (path, 0644, &out, err);
    if (rc)
        return rc;
    uint64_t size;
    rc = fg_blob_write (state, NULL, fg_blob_file_write, out, &size, NULL, err);
    if (rc == FG_EINVAL || rc == FG_ENOMEM)
        fg_error_prefix (err, "%s", path);
    return fg_file_out_close (&out, rc, err);
}

int
fg_blob_load (const char *path, fg_state_t **state_out, fg_error_t *err)
{
    assert (path && state_out);
    *state_out = NULL;
    char *data;
    size_t size;
    int rc = fg_file_read (path, SIZE_MAX / 2, &data, &size, err);
    if (rc)
        return rc;
    rc = fg_blob_decode ((const uint8_t *) data, size, NULL, state_out, err);
    if (rc)
        fg_error_prefix (err, "%s", path);
    free (data);
    return rc;
}
