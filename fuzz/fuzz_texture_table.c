/*  fuzz_texture_table.c — libFuzzer harness for the image table a trainer
    without the texture folder fetches from a peer (nn/fg_texture.h,
    fg_texture_table_decode, fg_dataset_texture_from_table).

    Input: byte 0 picks the geometry (fragment 64, side 32, stride 16, 32
    or 64 by bits 0-1, rotations 1, 2 or 4 by bits 2-3), the rest is the
    table. The expected hash is the input's own fgtx1, so every table that
    is well formed passes the hash check and goes on to the set built from
    it (the committed corpus, fuzz/corpus/texture_table, is written by
    tests/test_texture_table --corpus DIR).
    Invariants: a refusal has a message and leaves *entries NULL; a table
    that decodes encodes back to the same bytes, its labels below its
    classes and its paths of text; the set built from it (tables of at most
    2^20 fragments: a harness cap on the labels' allocation) has its count,
    classes and content hash, and its pieces cover the table and the files.
    A byte flipped in a table that decodes makes it fail (the hash).     */

#include "fg_texture.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define S_COUNT_CAP (1u << 20)

#define S_CHECK(cond) do { if (!(cond)) __builtin_trap (); } while (0)

static void
s_set (const fg_texture_geometry_t *g, const uint8_t *table, size_t size,
       const uint8_t hash [FG_SHA256_SIZE], uint32_t count, uint32_t classes,
       const fg_texture_entry_t *entries, uint32_t n)
{
    fg_dataset_t *ds = NULL;
    fg_error_t err;
    int rc = fg_dataset_texture_from_table (g, hash, table, size, 1 << 20, &ds, &err);
    if (rc) {
        S_CHECK (rc == FG_ENOMEM || rc == FG_ERANGE);
        return;
    }
    S_CHECK (fg_dataset_count (ds) == count && fg_dataset_classes (ds) == classes);
    uint8_t digest [FG_SHA256_SIZE];
    fg_dataset_hash (ds, digest);
    S_CHECK (memcmp (digest, hash, FG_SHA256_SIZE) == 0);
    uint64_t pieces = fg_texture_pieces (size);
    for (uint32_t i = 0; i < n; i++)
        pieces += fg_texture_pieces (entries [i].size);
    S_CHECK (fg_dataset_texture_pieces (ds) == pieces);
    fg_texture_piece_t info;
    S_CHECK (fg_dataset_texture_piece_info (ds, (uint32_t) pieces - 1, &info) == 0);
    S_CHECK (info.image == n - 1 && info.offset + info.size == entries [n - 1].size);
    fg_dataset_destroy (&ds);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const uint32_t strides [4] = { 16, 32, 64, 32 }, rotations [4] = { 1, 2, 4, 2 };
    fg_texture_geometry_t g = { 64, strides [data [0] & 3], rotations [data [0] >> 2 & 3], 32,
                                512 };
    const uint8_t *table = data + 1;
    size -= 1;
    uint8_t hash [FG_SHA256_SIZE] = { 0 };
    if (size >= 12)
        fg_texture_table_hash (&g, table, size, hash);
    uint32_t count = 0, classes = 0, n = 0;
    fg_texture_entry_t *entries = NULL;
    fg_error_t err;
    int rc = fg_texture_table_decode (&g, table, size, hash, &count, &classes, &entries, &n,
                                      &err);
    if (rc) {
        S_CHECK (rc == FG_EFORMAT || rc == FG_ERANGE || rc == FG_ENOMEM);
        S_CHECK (err.code == rc && err.msg [0] && !entries);
        return 0;
    }
    S_CHECK (n >= 1 && classes >= 1 && count >= 1);
    for (uint32_t i = 0; i < n; i++)
        S_CHECK (entries [i].label < classes && strlen (entries [i].path) >= 1);
    uint8_t *again = NULL;
    size_t again_size = 0;
    S_CHECK (fg_texture_table_encode (count, classes, entries, n, &again, &again_size, &err) == 0);
    S_CHECK (again_size == size && memcmp (again, table, size) == 0);
    again [size / 2] ^= 0x01;                   //  any change is refused
    fg_texture_entry_t *other = NULL;
    uint32_t c2, k2, n2;
    S_CHECK (fg_texture_table_decode (&g, again, size, hash, &c2, &k2, &other, &n2, &err) != 0);
    S_CHECK (!other);
    free (again);
    if (count <= S_COUNT_CAP)
        s_set (&g, table, size, hash, count, classes, entries, n);
    free (entries);
    return 0;
}
