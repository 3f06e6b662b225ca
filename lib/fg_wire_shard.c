/*  fg_wire_shard.c — a shard and its samples as the wire carries them:
    index ranges sorted and merged (fg_wire_ranges_normalize), and sample
    records LZ4-packed for a DATA-CHUNK (fg_wire_data_pack). See
    fg_wire.h.                                                           */

#include "fg_wire.h"

#include <assert.h>
#include <inttypes.h>
#include <lz4.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int
s_range_cmp (const void *a, const void *b)
{
    uint32_t x = ((const fg_wire_range_t *) a)->start;
    uint32_t y = ((const fg_wire_range_t *) b)->start;
    return (x > y) - (x < y);
}

uint64_t
fg_wire_ranges_normalize (fg_wire_range_t *ranges, uint32_t *count)
{
    assert (count);
    assert (ranges || *count == 0);
    uint32_t n = 0;
    for (uint32_t i = 0; i < *count; i++)
        if (ranges [i].count > 0)
            ranges [n++] = ranges [i];
    if (n > 1)
        qsort (ranges, n, sizeof *ranges, s_range_cmp);
    uint32_t out = 0;
    uint64_t covered = 0;
    uint32_t i = 0;
    while (i < n) {
        uint64_t start = ranges [i].start;
        uint64_t end = start + ranges [i].count;
        for (i++; i < n && ranges [i].start <= end; i++) {
            uint64_t e = (uint64_t) ranges [i].start + ranges [i].count;
            if (e > end)
                end = e;
        }
        covered += end - start;
        //  a merged run may exceed a uint32_t count: split it
        while (end - start > UINT32_MAX) {
            ranges [out++] = (fg_wire_range_t) { (uint32_t) start, UINT32_MAX };
            start += UINT32_MAX;
        }
        ranges [out++] = (fg_wire_range_t) { (uint32_t) start, (uint32_t) (end - start) };
    }
    *count = out;
    return covered;
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
