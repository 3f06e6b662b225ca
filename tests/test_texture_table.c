/*  test_texture_table.c — the stored form of the texture set that a
    trainer without the folder fetches (fg_texture.h, nn/fg_texture_table.c
    and the table / piece functions of nn/fg_dataset_texture.c): the image
    table hashes to the set's content hash; a set rebuilt from it and the
    files' pieces gives the folder set's batches bit for bit; a hostile
    table (every field, every truncation, every flipped byte) and files
    that are not what the table promises are refused by name.            */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fg_dataset.h"
#include "fg_file.h"
#include "fg_texture.h"
#include "fg_test_image.h"
#include "fg_test_util.h"

#define S_CLASSES   2
#define S_PER       3
#define S_H         300
#define S_W         420

static char s_dir [4096], s_root [4200];

static const fg_texture_options_t s_opt = { { 128, 64, 2, 32, 512 }, 0.34, 1 << 30 };

static int
s_setup (void **state)
{
    (void) state;
    if (fg_test_tmpdir ("texture-table", s_dir, sizeof s_dir))
        return -1;
    snprintf (s_root, sizeof s_root, "%s/set", s_dir);
    uint8_t *hwc = malloc ((size_t) S_H * S_W * 3);
    if (!hwc)
        return -1;
    char path [4400];
    for (uint32_t c = 0; c < S_CLASSES; c++) {
        snprintf (path, sizeof path, "%s/c%u", s_root, c);
        if (fg_file_mkdirs (path, NULL))
            return -1;
        for (uint32_t k = 0; k < S_PER; k++) {
            //  sizes differ by class: images of 300 x 420 and 300 x 380
            uint32_t w = S_W - 40 * c;
            fg_test_image_pattern (77 * c + k, S_H, w, 3, hwc);
            snprintf (path, sizeof path, "%s/c%u/i%u.%s", s_root, c, k, k % 2? "jpg": "png");
            if (k % 2? fg_test_image_write_jpeg (path, hwc, S_H, w, 3, 85)
                     : fg_test_image_write_png (path, hwc, S_H, w, 3))
                return -1;
        }
    }
    free (hwc);
    return 0;
}

static int
s_teardown (void **state)
{
    (void) state;
    fg_test_rmtree (s_dir);
    return 0;
}

//  The folder's training set
static fg_dataset_t *
s_open (void)
{
    fg_dataset_t *ds = NULL;
    fg_error_t err;
    assert_int_equal (fg_dataset_open_texture (s_root, FG_SPLIT_TRAIN, 0, &s_opt, &ds, &err), 0);
    return ds;
}

//  A set rebuilt from folder's image table, no image given yet
static fg_dataset_t *
s_from_table (const fg_dataset_t *folder)
{
    const uint8_t *table;
    size_t size = fg_dataset_texture_table (folder, &table);
    uint8_t hash [FG_SHA256_SIZE];
    fg_dataset_hash (folder, hash);
    fg_dataset_t *fetched = NULL;
    fg_error_t err;
    assert_int_equal (fg_dataset_texture_from_table (&s_opt.geometry, hash, table, size, 1 << 20,
                                                     &fetched, &err), 0);
    return fetched;
}

//  Image `image`'s file put together from its pieces as the coordinator
//  reads them (a new buffer), checked against piece_info.
static uint8_t *
s_file_of_pieces (const fg_dataset_t *ds, uint32_t image, size_t *size)
{
    uint8_t *file = NULL, piece [FG_TEXTURE_PIECE];
    fg_error_t err;
    for (uint32_t k = 0; k < fg_dataset_texture_pieces (ds); k++) {
        fg_texture_piece_t info;
        assert_int_equal (fg_dataset_texture_piece_info (ds, k, &info), 0);
        if (info.image != image)
            continue;
        uint32_t got = 0;
        assert_int_equal (fg_dataset_texture_piece (ds, k, piece, &got, &err), 0);
        assert_int_equal (got, info.size);
        if (info.offset == 0)
            assert_non_null (file = malloc ((size_t) info.total));
        assert_non_null (file);
        memcpy (file + info.offset, piece, got);
        *size = (size_t) info.total;
    }
    return file;
}

//  The table hashes to the set's content hash; its pieces are the table
//  then every image's file, each file whole and in order.
static void
test_table_and_pieces (void **state)
{
    (void) state;
    fg_dataset_t *ds = s_open ();
    const uint8_t *table;
    size_t size = fg_dataset_texture_table (ds, &table);
    assert_true (size > 12);
    uint8_t digest [FG_SHA256_SIZE], hash [FG_SHA256_SIZE];
    fg_texture_table_hash (&s_opt.geometry, table, size, digest);
    fg_dataset_hash (ds, hash);
    assert_memory_equal (digest, hash, FG_SHA256_SIZE);
    //  4 training images (2 of 3 a class), each file by its pieces
    uint32_t n = 0;
    uint32_t count, classes;
    fg_texture_entry_t *entries;
    fg_error_t err;
    assert_int_equal (fg_texture_table_decode (&s_opt.geometry, table, size, hash, &count,
                                               &classes, &entries, &n, &err), 0);
    assert_int_equal (n, 4);
    assert_int_equal (count, fg_dataset_count (ds));
    assert_int_equal (classes, S_CLASSES);
    uint64_t pieces = fg_texture_pieces (size);
    for (uint32_t i = 0; i < n; i++) {
        char path [4400], *disk;
        size_t disk_size, got_size = 0;
        snprintf (path, sizeof path, "%s/%s", s_root, entries [i].path);
        assert_int_equal (fg_file_read (path, 1 << 26, &disk, &disk_size, &err), 0);
        assert_int_equal (disk_size, entries [i].size);
        uint8_t *file = s_file_of_pieces (ds, i, &got_size);
        assert_int_equal (got_size, disk_size);
        assert_memory_equal (file, disk, disk_size);
        free (file);
        free (disk);
        pieces += fg_texture_pieces (entries [i].size);
    }
    assert_true (pieces > n + 1);                   //  PNGs here take several pieces
    assert_int_equal (fg_dataset_texture_pieces (ds), pieces);
    fg_texture_piece_t info;
    assert_int_equal (fg_dataset_texture_piece_info (ds, 0, &info), 0);
    assert_int_equal (info.image, UINT32_MAX);
    assert_int_equal (info.size, size);
    assert_int_equal (fg_dataset_texture_piece_info (ds, (uint32_t) pieces, &info), FG_ERANGE);
    uint8_t buf [FG_TEXTURE_PIECE];
    uint32_t got;
    assert_int_equal (fg_dataset_texture_piece (ds, (uint32_t) pieces, buf, &got, &err),
                      FG_ERANGE);
    free (entries);
    fg_dataset_destroy (&ds);
}

//  A set rebuilt from the table and the pieces of the images a shard uses
//  gives the folder set's augmented batches bit for bit; a sample of an
//  image not given fails naming it.
static void
test_from_table_same_bits (void **state)
{
    (void) state;
    fg_dataset_t *folder = s_open ();
    fg_dataset_t *fetched = s_from_table (folder);
    fg_error_t err;
    assert_int_equal (fg_dataset_count (fetched), fg_dataset_count (folder));
    assert_memory_equal (fg_dataset_labels (fetched), fg_dataset_labels (folder),
                         fg_dataset_count (folder) * sizeof (uint16_t));
    assert_string_equal (fg_dataset_hash_hex (fetched), fg_dataset_hash_hex (folder));
    //  a shard: the samples of images 0 and 2 only. Images 0 and 2 (class
    //  0, 420 wide) have 30 fragments, 1 and 3 (380 wide) 24, so each of
    //  the layout's first rounds visits 0, 2, 1, 3: g mod 4 in { 0, 1 }
    uint32_t shard [16];
    for (uint32_t i = 0; i < 16; i++)
        shard [i] = 4 * (i / 2) + i % 2;
    uint32_t *runs;
    size_t nruns;
    uint64_t bytes;
    assert_int_equal (fg_dataset_texture_pieces_of (fetched, shard, 16, &runs, &nruns, &bytes,
                                                    &err), 0);
    assert_int_equal (nruns, 2);                    //  images 0 and 2: not adjacent
    fg_texture_piece_t first, last;
    assert_int_equal (fg_dataset_texture_piece_info (fetched, runs [0], &first), 0);
    assert_int_equal (fg_dataset_texture_piece_info (fetched, runs [0] + runs [1] - 1, &last), 0);
    assert_true (first.image == 0 && last.image == 0 && first.offset == 0
              && last.offset + last.size == last.total);
    assert_int_equal (fg_dataset_texture_piece_info (fetched, runs [2], &first), 0);
    assert_int_equal (first.image, 2);
    free (runs);
    for (uint32_t image = 0; image < 4; image += 2) {
        size_t got = 0;
        uint8_t *file = s_file_of_pieces (folder, image, &got);
        assert_int_equal (fg_dataset_texture_give (fetched, image, file, got, &err), 0);
    }
    float *a = malloc (16 * 32 * 32 * 3 * sizeof (float));
    float *b = malloc (16 * 32 * 32 * 3 * sizeof (float));
    assert_true (a && b);
    fg_dataset_key_t key = { 7, 1, 0, 0, 3 };
    assert_int_equal (fg_dataset_batch (folder, shard, 16, true, &key, a, NULL, &err), 0);
    assert_int_equal (fg_dataset_batch (fetched, shard, 16, true, &key, b, NULL, &err), 0);
    assert_memory_equal (a, b, 16 * 32 * 32 * 3 * sizeof (float));
    uint32_t other = 2;                             //  image 1: never given
    assert_int_equal (fg_dataset_batch (fetched, &other, 1, false, NULL, b, NULL, &err),
                      FG_ENOENT);
    assert_non_null (strstr (err.msg, "not fetched"));
    //  a fetched set has no folder to read pieces from; an image is given once
    uint8_t buf [FG_TEXTURE_PIECE];
    uint32_t got;
    assert_int_equal (fg_dataset_texture_piece (fetched, 1, buf, &got, &err), FG_EINVAL);
    uint8_t *again = malloc (1);
    assert_int_equal (fg_dataset_texture_give (fetched, 0, again, 1, &err), FG_EINVAL);
    free (a);
    free (b);
    fg_dataset_destroy (&fetched);
    fg_dataset_destroy (&folder);
}

//  Files that are not what the table promises: another size, another
//  shape (a table made to promise another shape of the same bytes).
static void
test_give_refused (void **state)
{
    (void) state;
    fg_dataset_t *folder = s_open ();
    fg_dataset_t *fetched = s_from_table (folder);
    const uint8_t *table;
    size_t size = fg_dataset_texture_table (folder, &table);
    uint8_t hash [FG_SHA256_SIZE];
    fg_dataset_hash (folder, hash);
    fg_error_t err;
    size_t got = 0;
    uint8_t *file = s_file_of_pieces (folder, 1, &got);
    assert_int_equal (fg_dataset_texture_give (fetched, 1, file, got - 1, &err), FG_EMISMATCH);
    assert_non_null (strstr (err.msg, "the image table promises"));
    file = s_file_of_pieces (folder, 1, &got);
    assert_int_equal (fg_dataset_texture_give (fetched, 9, file, got, &err), FG_ERANGE);
    fg_dataset_destroy (&fetched);
    //  a table promising image 0 to be 300 x 300 (its bytes say 420 wide)
    uint32_t count, classes, n;
    fg_texture_entry_t *entries;
    assert_int_equal (fg_texture_table_decode (&s_opt.geometry, table, size, hash, &count,
                                               &classes, &entries, &n, &err), 0);
    entries [0].width = 300;
    uint8_t *lie;
    size_t lie_size;
    assert_int_equal (fg_texture_table_encode (1, classes, entries, n, &lie, &lie_size, &err), 0);
    fg_texture_table_hash (&s_opt.geometry, lie, lie_size, hash);
    assert_int_equal (fg_dataset_texture_from_table (&s_opt.geometry, hash, lie, lie_size, 1 << 20,
                                                     &fetched, &err), 0);
    file = s_file_of_pieces (folder, 0, &got);
    assert_int_equal (fg_dataset_texture_give (fetched, 0, file, got, &err), FG_EMISMATCH);
    assert_non_null (strstr (err.msg, "promises 300x300"));
    free (lie);
    free (entries);
    fg_dataset_destroy (&fetched);
    fg_dataset_destroy (&folder);
}

//  A table from a peer: every field bounded with a clear error, every
//  truncation and every flipped byte refused, a sound table of another
//  set (or under another geometry) refused as a mismatch.
static void
test_table_hostile (void **state)
{
    (void) state;
    const fg_texture_geometry_t *g = &s_opt.geometry;
    fg_texture_entry_t e [2] = { { 0, 300, 420, 5000, "c0/i0.png" },
                                 { 1, 300, 380, 7000, "c1/i0.png" } };
    const struct { int field; uint64_t value; int code; const char *why; } bad [] = {
        { 0, 2, FG_ERANGE, "label 2, the set has 2 classes" },
        { 1, 0, FG_ERANGE, "smaller than a fragment" },
        { 1, 127, FG_ERANGE, "smaller than a fragment" },
        { 1, 70000, FG_ERANGE, "not 1 .. 65535" },
        { 2, 100, FG_ERANGE, "smaller than a fragment" },
        { 3, 0, FG_ERANGE, "a file of 0 bytes" },
        { 3, ((uint64_t) 64 << 20) + 1, FG_ERANGE, "a file of" },
        { 4, 0, FG_EFORMAT, "a path of 0 bytes" },
        { 5, 0, FG_EFORMAT, "byte 2 of its path is 0x0a" },
        { 6, 0, FG_EFORMAT, "byte 0 of its path is 0x2f" },
        { 7, 0, FG_ERANGE, "a set of 0 fragments" },
        { 7, (1u << 28) + 1, FG_ERANGE, "a set of 268435457 fragments" },
        { 8, 0, FG_ERANGE, "its images hold" },
        { 9, 0, FG_ERANGE, "0 classes" },
        { 10, 0, FG_EFORMAT, "bytes after its last entry" },
    };
    uint32_t whole = (uint32_t) (fg_texture_count (g, 300, 420) + fg_texture_count (g, 300, 380));
    fg_error_t err;
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        fg_texture_entry_t x [2] = { e [0], e [1] };
        uint32_t count = whole, classes = 2;
        switch (bad [i].field) {
            case 0: x [1].label = (uint16_t) bad [i].value; break;
            case 1: x [1].height = (uint32_t) bad [i].value; break;
            case 2: x [1].width = (uint32_t) bad [i].value; break;
            case 3: x [1].size = bad [i].value; break;
            case 4: x [1].path = ""; break;
            case 5: x [1].path = "c1\ni0.png"; break;
            case 6: x [1].path = "/etc/passwd"; break;
            case 7: count = (uint32_t) bad [i].value; break;
            case 8: count = whole + 1; break;
            case 9: classes = 0; break;
            default: break;
        }
        uint8_t *table, *grown;
        size_t size;
        assert_int_equal (fg_texture_table_encode (count, classes, x, 2, &table, &size, &err), 0);
        if (bad [i].field == 10) {                  //  a byte more
            assert_non_null (grown = realloc (table, size + 1));
            table = grown;
            table [size++] = 0;
        }
        uint8_t hash [FG_SHA256_SIZE];
        fg_texture_table_hash (g, table, size, hash);
        uint32_t c, k, n;
        fg_texture_entry_t *out = NULL;
        assert_int_equal (fg_texture_table_decode (g, table, size, hash, &c, &k, &out, &n, &err),
                          bad [i].code);
        if (!strstr (err.msg, bad [i].why))
            fail_msg ("case %zu: '%s' does not say '%s'", i, err.msg, bad [i].why);
        assert_null (out);
        free (table);
    }
    //  a table of 2 images whose first path runs over where the second
    //  entry should be (the fuzzer's find: the paths' room was counted
    //  from the entries the table claims): the second is cut short
    fg_texture_entry_t one = { 0, 300, 420, 5000, "c0/a-name-longer-than-an-entry.png" };
    uint8_t *two;
    size_t two_size;
    assert_int_equal (fg_texture_table_encode (1, 1, &one, 1, &two, &two_size, &err), 0);
    two [8] = 2;                                    //  images
    uint8_t two_hash [FG_SHA256_SIZE];
    fg_texture_table_hash (g, two, two_size, two_hash);
    uint32_t c, k, n;
    fg_texture_entry_t *out = NULL;
    assert_int_equal (fg_texture_table_decode (g, two, two_size, two_hash, &c, &k, &out, &n,
                                               &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, "entry 1 is cut short"));
    free (two);
    //  the sound table: decoded; every truncation and flipped byte refused
    uint8_t *table;
    size_t size;
    assert_int_equal (fg_texture_table_encode (whole, 2, e, 2, &table, &size, &err), 0);
    uint8_t hash [FG_SHA256_SIZE];
    fg_texture_table_hash (g, table, size, hash);
    assert_int_equal (fg_texture_table_decode (g, table, size, hash, &c, &k, &out, &n, &err), 0);
    assert_string_equal (out [1].path, "c1/i0.png");
    assert_int_equal (out [1].size, 7000);
    free (out);
    for (size_t cut = 0; cut < size; cut++)
        assert_int_not_equal (fg_texture_table_decode (g, table, cut, hash, &c, &k, &out, &n,
                                                       &err), 0);
    for (size_t at = 0; at < size; at++) {
        table [at] ^= 0x10;
        assert_int_not_equal (fg_texture_table_decode (g, table, size, hash, &c, &k, &out, &n,
                                                       &err), 0);
        table [at] ^= 0x10;
    }
    //  the same table under another geometry: a mismatch, named
    fg_texture_geometry_t other = *g;
    other.rotations = 4;
    assert_int_equal (fg_texture_table_decode (&other, table, size, hash, &c, &k, &out, &n, &err),
                      FG_EMISMATCH);
    assert_non_null (strstr (err.msg, "does not hash to the TASK's dataset hash"));
    other = *g;
    other.stride = 3;                               //  3 x 32 / 128: not integral
    assert_int_equal (fg_texture_table_decode (&other, table, size, hash, &c, &k, &out, &n, &err),
                      FG_EINVAL);
    free (table);
}

static int
s_run (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_table_and_pieces),
        cmocka_unit_test (test_from_table_same_bits),
        cmocka_unit_test (test_give_refused),
        cmocka_unit_test (test_table_hostile),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}

//  --------------------------------------------------------------------------
//  Seeds for fuzz/fuzz_texture_table.c (its input: byte 0 picks the
//  geometry, the rest is the table; see the harness)

static int
s_seed (const char *dir, const char *name, uint8_t pick, uint32_t count, uint32_t classes,
        const fg_texture_entry_t *e, uint32_t n)
{
    uint8_t *table;
    size_t size;
    fg_error_t err;
    if (fg_texture_table_encode (count, classes, e, n, &table, &size, &err))
        return 1;
    uint8_t *input = malloc (size + 1);
    if (!input)
        return 1;
    input [0] = pick;
    memcpy (input + 1, table, size);
    char path [4096];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    int rc = fg_test_image_write_file (path, input, size + 1);
    free (input);
    free (table);
    return rc;
}

static int
s_corpus (const char *dir)
{
    //  geometry 0: fragment 64, stride 16, 1 rotation (side 32)
    fg_texture_entry_t e [3] = { { 0, 100, 80, 5000, "c0/a.png" },
                                 { 1, 64, 64, 70000, "c1/b.jpg" },
                                 { 0, 200, 90, 131072, "c0/longer name.jpeg" } };
    //  100 x 80: 3 x 2 places; 64 x 64: 1; 200 x 90: 9 x 2
    return s_seed (dir, "one-image", 0, 6, 1, e, 1)
        || s_seed (dir, "three-images", 0, 25, 2, e, 3)
        || s_seed (dir, "limit-rotations", 0x09, 30, 2, e, 3)    //  of 32
        || s_seed (dir, "bad-label", 0, 6, 1, e + 1, 1);
}

int
main (int argc, char *argv [])
{
    if (argc == 3 && strcmp (argv [1], "--corpus") == 0)
        return s_corpus (argv [2]);
    return fg_test_run_tap (s_run);
}
