/*  fg_wire_shard.c — a shard and its samples as the wire carries them:
    the index ranges of a TASK from the shard's sample indices and back
    (fg_wire_ranges_from_indices, fg_wire_ranges_to_indices), and sample
    records LZ4-packed for a DATA-CHUNK (fg_wire_data_pack), and the
    framing of variable records (fg_wire_sample_put, fg_wire_sample_next,
    fg_wire_samples_check). See fg_wire.h.                               */

#include "fg_wire.h"

#include <assert.h>
#include <inttypes.h>
#include <lz4.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int
s_index_cmp (const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *) a;
    uint32_t y = *(const uint32_t *) b;
    return (x > y) - (x < y);
}

int
fg_wire_ranges_from_indices (const uint32_t *indices, size_t count,
                             fg_wire_range_t **ranges_p, uint32_t *range_count,
                             fg_error_t *err)
{
    assert (indices || count == 0);
    assert (ranges_p);
    assert (range_count);
    *ranges_p = NULL;
    *range_count = 0;
    if (count < 1 || count > UINT32_MAX)
        return fg_error_set (err, FG_ERANGE, "wire ranges: %zu indices, a shard "
                             "holds 1 .. %" PRIu32, count, UINT32_MAX);
    //  a partition's shard is sorted already: used as it is, else a sorted copy
    uint32_t *sorted = NULL;
    const uint32_t *index = indices;
    for (size_t i = 1; i < count && !sorted; i++)
        if (indices [i] <= indices [i - 1]) {
            sorted = (uint32_t *) malloc (count * sizeof *sorted);
            if (!sorted)
                return fg_error_set (err, FG_ENOMEM, "wire ranges: out of memory "
                                     "for %zu indices", count);
            memcpy (sorted, indices, count * sizeof *sorted);
            qsort (sorted, count, sizeof *sorted, s_index_cmp);
            index = sorted;
        }
    uint32_t runs = 1;
    int rc = 0;
    for (size_t i = 1; i < count && rc == 0; i++) {
        if (index [i] == index [i - 1])
            rc = fg_error_set (err, FG_EFORMAT, "wire ranges: index %" PRIu32
                               " appears twice", index [i]);
        runs += index [i] != index [i - 1] + 1;
    }
    if (rc == 0 && runs > FG_WIRE_RANGES_MAX)
        rc = fg_error_set (err, FG_ERANGE, "wire ranges: %" PRIu32 " ranges > %u",
                           runs, FG_WIRE_RANGES_MAX);
    fg_wire_range_t *ranges = rc? NULL: (fg_wire_range_t *) malloc (runs * sizeof *ranges);
    if (rc == 0 && !ranges)
        rc = fg_error_set (err, FG_ENOMEM, "wire ranges: out of memory for %" PRIu32
                           " ranges", runs);
    for (size_t i = 0, n = 0; rc == 0 && i < count; i++) {
        if (i > 0 && index [i] == index [i - 1] + 1)
            ranges [n - 1].count++;
        else
            ranges [n++] = (fg_wire_range_t) { index [i], 1 };
    }
    free (sorted);
    if (rc == 0) {
        *ranges_p = ranges;
        *range_count = runs;
    }
    return rc;
}

int
fg_wire_ranges_to_indices (const fg_wire_range_t *ranges, uint32_t range_count,
                           uint32_t **indices_p, size_t *count, fg_error_t *err)
{
    assert (ranges || range_count == 0);
    assert (indices_p);
    assert (count);
    *indices_p = NULL;
    *count = 0;
    uint64_t total = 0;
    for (uint32_t r = 0; r < range_count; r++)
        total += ranges [r].count;
    if (total < 1 || total > SIZE_MAX / sizeof (uint32_t))
        return fg_error_set (err, FG_ERANGE, "wire ranges: %" PRIu64 " indices, "
                             "expected 1 .. %zu", total, SIZE_MAX / sizeof (uint32_t));
    uint32_t *indices = (uint32_t *) malloc ((size_t) total * sizeof *indices);
    if (!indices)
        return fg_error_set (err, FG_ENOMEM, "wire ranges: out of memory for %"
                             PRIu64 " indices", total);
    size_t n = 0;
    for (uint32_t r = 0; r < range_count; r++)
        for (uint32_t i = 0; i < ranges [r].count; i++)
            indices [n++] = ranges [r].start + i;
    *indices_p = indices;
    *count = n;
    return 0;
}

int
fg_wire_data_pack (const void *raw, size_t raw_size, uint8_t **lz4_p,
                   size_t *lz4_size, fg_error_t *err)
{
    assert (raw || raw_size == 0);
    assert (lz4_p);
    assert (lz4_size);
    *lz4_p = NULL;
    *lz4_size = 0;
    if (raw_size < 1 || raw_size > LZ4_MAX_INPUT_SIZE)
        return fg_error_set (err, FG_ERANGE, "wire data pack: %zu bytes outside "
                             "[1, %d]", raw_size, LZ4_MAX_INPUT_SIZE);
    int bound = LZ4_compressBound ((int) raw_size);
    uint8_t *out = (uint8_t *) malloc ((size_t) bound);
    if (!out)
        return fg_error_set (err, FG_ENOMEM, "wire data pack: out of memory "
                             "for %d bytes", bound);
    int n = LZ4_compress_default ((const char *) raw, (char *) out,
                                  (int) raw_size, bound);
    if (FG_NEVER (n <= 0)) {
        free (out);
        return fg_error_set (err, FG_ERANGE, "wire data pack: LZ4 failed on "
                             "%zu bytes", raw_size);
    }
    *lz4_p = out;
    *lz4_size = (size_t) n;
    return 0;
}


//  --------------------------------------------------------------------------
//  Variable records: u16le label | u32le size | size bytes

int
fg_wire_sample_put (uint8_t *buf, size_t cap, size_t *used, uint16_t label,
                    const uint8_t *bytes, size_t size, fg_error_t *err)
{
    assert (used && *used <= cap);
    assert (bytes || size == 0);
    if (size < 1 || size > FG_WIRE_SAMPLE_MAX)
        return fg_error_set (err, FG_ERANGE, "wire sample: %zu bytes outside [1, %u]",
                             size, FG_WIRE_SAMPLE_MAX);
    if (fg_wire_sample_bytes (size) > cap - *used)
        return fg_error_set (err, FG_EFULL, "wire sample: %zu bytes do not fit in the %zu "
                             "left", size, cap - *used);
    uint8_t *p = buf + *used;
    p [0] = (uint8_t) label;
    p [1] = (uint8_t) (label >> 8);
    p [2] = (uint8_t) size;
    p [3] = (uint8_t) (size >> 8);
    p [4] = (uint8_t) (size >> 16);
    p [5] = (uint8_t) (size >> 24);
    memcpy (p + FG_WIRE_SAMPLE_HEAD, bytes, size);
    *used += FG_WIRE_SAMPLE_HEAD + size;
    return 0;
}

int
fg_wire_sample_next (const uint8_t *raw, size_t raw_size, size_t *at,
                     fg_wire_sample_t *out, fg_error_t *err)
{
    assert (at && out);
    size_t left = *at <= raw_size? raw_size - *at: 0;
    if (left < FG_WIRE_SAMPLE_HEAD)
        return fg_error_set (err, FG_EFORMAT, "variable record at offset %zu: %zu bytes "
                             "left, a record's head is %d", *at, left, FG_WIRE_SAMPLE_HEAD);
    const uint8_t *p = raw + *at;
    uint32_t size = (uint32_t) p [2] | (uint32_t) p [3] << 8 | (uint32_t) p [4] << 16
                  | (uint32_t) p [5] << 24;
    if (size < 1 || size > FG_WIRE_SAMPLE_MAX)
        return fg_error_set (err, FG_EFORMAT, "variable record at offset %zu: size %" PRIu32
                             " outside [1, %u]", *at, size, FG_WIRE_SAMPLE_MAX);
    if (size > left - FG_WIRE_SAMPLE_HEAD)
        return fg_error_set (err, FG_EFORMAT, "variable record at offset %zu: size %" PRIu32
                             " runs past the end (%zu bytes left)", *at, size,
                             left - FG_WIRE_SAMPLE_HEAD);
    out->label = (uint16_t) (p [0] | p [1] << 8);
    out->size = size;
    out->bytes = p + FG_WIRE_SAMPLE_HEAD;
    *at += FG_WIRE_SAMPLE_HEAD + (size_t) size;
    return 0;
}

int
fg_wire_samples_check (const uint8_t *raw, size_t raw_size, uint32_t count, fg_error_t *err)
{
    assert (raw || raw_size == 0);
    size_t at = 0;
    fg_wire_sample_t sample;
    for (uint32_t i = 0; i < count; i++) {
        int rc = fg_wire_sample_next (raw, raw_size, &at, &sample, err);
        if (rc)
            return rc;
    }
    if (at != raw_size)
        return fg_error_set (err, FG_EFORMAT, "%" PRIu32 " variable records end at offset "
                             "%zu, the chunk has %zu bytes", count, at, raw_size);
    return 0;
}
