/*  test_wire_samples.c — tests of what the wire carries for samples whose
    stored form has no fixed size (lib/fg_wire_shard.c, lib/fg_wire_types.c):
    variable records of a DATA-CHUNK (record_size 0: u16le label | u32le
    size | bytes), built by fg_wire_sample_put, read by fg_wire_sample_next,
    checked whole by the decoder; and the geometry block of a TASK (the
    training set's classes and image shape, for a trainer that builds its
    dataset from fetched files).

    Every refusal of the framing and of the geometry with its code and the
    field named; a chunk truncated at every byte of its records; the same
    bytes after a round trip. `test_wire_samples --corpus DIR` writes the
    fuzz seeds of the two new forms (fuzz/corpus/wire/).                   */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fg_le.h"
#include "fg_wire.h"
#include "../fuzz/fuzz_frames.h"

static void
s_fill (uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        p [i] = (uint8_t) (seed + i * 7 + (i >> 5));
}

//  raw: `count` records of sizes 1, 2, ... (labels 10, 11, ...); returns
//  the bytes used.
static size_t
s_records (uint8_t *raw, size_t cap, uint32_t count)
{
    uint8_t bytes [512];
    s_fill (bytes, sizeof bytes, 9);
    size_t used = 0;
    fg_error_t err;
    for (uint32_t i = 0; i < count; i++)
        assert_int_equal (fg_wire_sample_put (raw, cap, &used, (uint16_t) (10 + i), bytes,
                                              1 + i * 37 % 500, &err), 0);
    return used;
}

static void
s_chunk (fg_wire_msg_t *m, uint8_t *raw, size_t raw_size, uint32_t count, uint8_t **lz4)
{
    fg_error_t err;
    size_t lz4_size;
    assert_int_equal (fg_wire_data_pack (raw, raw_size, lz4, &lz4_size, &err), 0);
    fg_wire_msg_reply (m, FG_WIRE_DATA_CHUNK, NULL);
    m->round = 3;
    s_fill (m->data_chunk.dataset_hash, FG_WIRE_HASH_SIZE, 77);
    m->data_chunk.start = 1000;
    m->data_chunk.count = count;
    m->data_chunk.record_size = 0;
    m->data_chunk.raw_size = raw_size;
    m->data_chunk.lz4 = *lz4;
    m->data_chunk.lz4_size = lz4_size;
}

//  Encodes m, decodes it; returns the encoder's code when it refuses m
//  (its rules are the decoder's), else the decoder's (err filled).
static int
s_round_trip (const fg_wire_msg_t *m, fg_wire_msg_t *out, fg_error_t *err)
{
    fg_wire_frames_t f;
    int rc = fg_wire_encode (m, NULL, &f, err);
    if (rc)
        return rc;
    rc = fg_wire_decode (f.frame, f.count, NULL, out, err);
    fg_wire_frames_clear (&f);
    return rc;
}

static void
test_put_next (void **state)
{
    uint8_t raw [4096];
    size_t used = s_records (raw, sizeof raw, 5);
    fg_error_t err;
    assert_int_equal (fg_wire_samples_check (raw, used, 5, &err), 0);
    size_t at = 0;
    for (uint32_t i = 0; i < 5; i++) {
        fg_wire_sample_t s;
        assert_int_equal (fg_wire_sample_next (raw, used, &at, &s, &err), 0);
        assert_int_equal (s.label, 10 + i);
        assert_int_equal (s.size, 1 + i * 37 % 500);
        assert_true (s.bytes == raw + at - s.size);
    }
    assert_int_equal (at, used);
    //  refusals of put: empty, over the maximum, no room (nothing written)
    uint8_t one = 1;
    size_t before = used;
    assert_int_equal (fg_wire_sample_put (raw, sizeof raw, &used, 0, &one, 0, &err), FG_ERANGE);
    assert_int_equal (fg_wire_sample_put (raw, sizeof raw, &used, 0, raw,
                                          (size_t) FG_WIRE_SAMPLE_MAX + 1, &err), FG_ERANGE);
    assert_int_equal (fg_wire_sample_put (raw, used + FG_WIRE_SAMPLE_HEAD, &used, 0, &one, 1,
                                          &err), FG_EFULL);
    assert_int_equal (used, before);
    assert_int_equal (fg_wire_sample_put (raw, used + FG_WIRE_SAMPLE_HEAD + 1, &used, 0, &one, 1,
                                          &err), 0);
    assert_int_equal (used, before + FG_WIRE_SAMPLE_HEAD + 1);
}

static void
test_framing_refused (void **state)
{
    uint8_t raw [4096];
    size_t used = s_records (raw, sizeof raw, 3);
    fg_error_t err;
    //  too few, too many records; bytes after the last
    assert_int_equal (fg_wire_samples_check (raw, used, 2, &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, "end at offset"));
    assert_int_equal (fg_wire_samples_check (raw, used, 4, &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, "head"));
    //  every truncation of the records
    for (size_t n = 0; n < used; n++)
        assert_int_equal (fg_wire_samples_check (raw, n, 3, &err), FG_EFORMAT);
    //  size 0; size over the maximum; size past the end
    uint8_t bad [64] = { 1, 0, 0, 0, 0, 0 };
    size_t at = 0;
    fg_wire_sample_t s;
    assert_int_equal (fg_wire_sample_next (bad, sizeof bad, &at, &s, &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, "size 0"));
    uint32_t over = FG_WIRE_SAMPLE_MAX + 1;
    bad [2] = (uint8_t) over;
    bad [3] = (uint8_t) (over >> 8);
    bad [4] = (uint8_t) (over >> 16);
    bad [5] = (uint8_t) (over >> 24);
    assert_int_equal (fg_wire_sample_next (bad, sizeof bad, &at, &s, &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, "outside"));
    bad [2] = 59;
    bad [3] = bad [4] = bad [5] = 0;
    assert_int_equal (fg_wire_sample_next (bad, sizeof bad, &at, &s, &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, "past the end"));
    assert_int_equal (at, 0);
    bad [2] = 58;
    assert_int_equal (fg_wire_sample_next (bad, sizeof bad, &at, &s, &err), 0);
    assert_int_equal (at, sizeof bad);
    //  a size near 2^32 cannot wrap the bound
    bad [2] = bad [3] = bad [4] = bad [5] = 0xff;
    at = 0;
    assert_int_equal (fg_wire_sample_next (bad, sizeof bad, &at, &s, &err), FG_EFORMAT);
}

static void
test_chunk_decode (void **state)
{
    uint8_t raw [8192];
    size_t used = s_records (raw, sizeof raw, 12);
    uint8_t *lz4;
    fg_wire_msg_t m, out;
    s_chunk (&m, raw, used, 12, &lz4);
    fg_error_t err;
    assert_int_equal (s_round_trip (&m, &out, &err), 0);
    assert_int_equal (out.data_chunk.record_size, 0);
    assert_int_equal (out.data_chunk.count, 12);
    assert_memory_equal (out.data_chunk.samples, raw, used);
    fg_wire_msg_clear (&out);
    //  a count the bytes cannot hold: refused before LZ4, by the encoder too
    m.data_chunk.count = (uint32_t) (used / 7 + 1);
    fg_wire_frames_t f;
    assert_int_equal (fg_wire_encode (&m, NULL, &f, &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, "(count)"));
    //  one record more or fewer than the bytes make: refused after LZ4
    m.data_chunk.count = 13;
    assert_int_equal (s_round_trip (&m, &out, &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, "DATA-CHUNK: frame 2 offset 0 (samples)"));
    m.data_chunk.count = 11;
    assert_int_equal (s_round_trip (&m, &out, &err), FG_EFORMAT);
    free (lz4);
    //  the records truncated at every byte (raw_size follows the bytes):
    //  refused, never read past
    for (size_t n = 7; n < used; n++) {
        s_chunk (&m, raw, n, 12, &lz4);
        int rc = s_round_trip (&m, &out, &err);
        assert_int_equal (rc, FG_EFORMAT);
        free (lz4);
    }
    //  fixed records are unchanged by any of this: their bytes are not framed
    s_chunk (&m, raw, 100, 4, &lz4);
    m.data_chunk.record_size = 25;
    assert_int_equal (s_round_trip (&m, &out, &err), 0);
    fg_wire_msg_clear (&out);
    free (lz4);
}

static void
s_task (fg_wire_msg_t *m, fg_wire_range_t *ranges)
{
    fg_wire_msg_reply (m, FG_WIRE_TASK, NULL);
    m->round = 2;
    m->task.weights_version = 1;
    m->task.local_epochs = 1;
    m->task.batch_size = 8;
    m->task.lr = 0.1;
    m->task.dataset = 3;
    s_fill (m->task.dataset_hash, FG_WIRE_HASH_SIZE, 5);
    ranges [0] = (fg_wire_range_t) { 4, 10 };
    m->task.range_count = 1;
    m->task.ranges = ranges;
    m->task.sample_count = 10;
    m->task.has_geometry = true;
    m->task.geometry = (fg_wire_geometry_t) { .classes = 200, .height = 64, .width = 48,
                                              .channels = 3 };
}

//  The decoder on a sound TASK's frames f whose body byte `at` is set to
//  value (the header fixed after): code, and err naming `what`; 0 when
//  code is 0. at = SIZE_MAX: every truncation of the body is refused.
static void
s_damaged (const fg_wire_frames_t *f, size_t at, uint8_t value, int code, const char *what)
{
    uint8_t header [FG_WIRE_HEADER_SIZE], body [256];
    assert_true (f->frame [1].size <= sizeof body);
    memcpy (header, f->frame [0].data, sizeof header);
    memcpy (body, f->frame [1].data, f->frame [1].size);
    fg_wire_frame_t frames [3] = { { header, sizeof header }, { body, f->frame [1].size },
                                   f->frame [2] };
    fg_wire_msg_t out;
    fg_error_t err;
    if (at == SIZE_MAX) {
        for (size_t n = 0; n < f->frame [1].size; n++) {
            frames [1].size = n;
            fuzz_frames_fix (header, frames, 3);
            assert_int_not_equal (fg_wire_decode (frames, 3, NULL, &out, &err), 0);
        }
        return;
    }
    body [at] = value;
    fuzz_frames_fix (header, frames, 3);
    assert_int_equal (fg_wire_decode (frames, 3, NULL, &out, &err), code);
    if (code)
        assert_non_null (strstr (err.msg, what));
    else
        fg_wire_msg_clear (&out);
}

static void
test_task_geometry (void **state)
{
    fg_wire_range_t ranges [1];
    fg_wire_msg_t m, out;
    s_task (&m, ranges);
    fg_error_t err;
    fg_wire_frames_t f;
    assert_int_equal (fg_wire_encode (&m, NULL, &f, &err), 0);
    assert_int_equal (f.frame [1].size, 156);
    assert_int_equal (f.frame [1].data [91], 16);
    //  classes, height, width, channels as u32le after the fixed part
    assert_int_equal (f.frame [1].data [140], 200);
    assert_int_equal (f.frame [1].data [144], 64);
    assert_int_equal (f.frame [1].data [148], 48);
    assert_int_equal (f.frame [1].data [152], 3);
    assert_int_equal (fg_wire_decode (f.frame, f.count, NULL, &out, &err), 0);
    assert_true (out.task.has_geometry);
    assert_int_equal (out.task.geometry.classes, 200);
    assert_int_equal (out.task.geometry.height, 64);
    assert_int_equal (out.task.geometry.width, 48);
    assert_int_equal (out.task.geometry.channels, 3);
    fg_wire_msg_clear (&out);
    fg_wire_frames_clear (&f);
    //  without: the body of protocol 1, byte 91 zero
    m.task.has_geometry = false;
    assert_int_equal (fg_wire_encode (&m, NULL, &f, &err), 0);
    assert_int_equal (f.frame [1].size, 140);
    assert_int_equal (f.frame [1].data [91], 0);
    assert_int_equal (fg_wire_decode (f.frame, f.count, NULL, &out, &err), 0);
    assert_false (out.task.has_geometry);
    fg_wire_msg_clear (&out);
    fg_wire_frames_clear (&f);
    //  every bound, refused by the encoder (and so by the decoder, which
    //  runs the same rules)
#define G(k, h, w, c) { .classes = k, .height = h, .width = w, .channels = c }
    const struct { fg_wire_geometry_t g; const char *field; } bad [] = {
        { G (0, 64, 64, 3), "geometry.classes" },
        { G (65537, 64, 64, 3), "geometry.classes" },
        { G (10, 0, 64, 3), "geometry.height" },
        { G (10, 64, 65536, 3), "geometry.height" },
        { G (10, 64, 64, 2), "geometry.channels" },
        { G (10, 64, 64, 0), "geometry.channels" },
        { G (10, 65535, 65535, 3), "geometry.height" },
    };
#undef G
    m.task.has_geometry = true;
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        m.task.geometry = bad [i].g;
        assert_int_equal (fg_wire_encode (&m, NULL, &f, &err), FG_ERANGE);
        assert_non_null (strstr (err.msg, bad [i].field));
    }
    //  the decoder, on a sound TASK's bytes damaged: a block of another
    //  size; a value out of bounds; every truncation
    s_task (&m, ranges);
    assert_int_equal (fg_wire_encode (&m, NULL, &f, &err), 0);
    s_damaged (&f, 91, 8, FG_EFORMAT, "offset 91 (geometry): block of 8 bytes");
    s_damaged (&f, 152, 4, FG_ERANGE, "offset 152 (geometry.channels)");
    s_damaged (&f, 152, 3, 0, NULL);
    s_damaged (&f, SIZE_MAX, 0, 0, NULL);
    fg_wire_frames_clear (&f);
}

//  A TASK of the texture set: the geometry block with its texture words.
static void
s_task_texture (fg_wire_msg_t *m, fg_wire_range_t *ranges)
{
    s_task (m, ranges);
    m->task.dataset = 5;
    m->task.has_texture = true;
    m->task.geometry = (fg_wire_geometry_t) { 3, 64, 64, 3, 256, 128, 2, 512, 4321 };
}

static void
test_task_texture (void **state)
{
    (void) state;
    fg_wire_range_t ranges [1];
    fg_wire_msg_t m, out;
    s_task_texture (&m, ranges);
    fg_error_t err;
    fg_wire_frames_t f;
    assert_int_equal (fg_wire_encode (&m, NULL, &f, &err), 0);
    assert_int_equal (f.frame [1].size, 140 + 36);
    assert_int_equal (f.frame [1].data [91], 36);
    //  fragment, stride, rotations, contrast_q8, table_size after the 16
    assert_int_equal (fg_le_get32 (f.frame [1].data + 156), 256);
    assert_int_equal (fg_le_get32 (f.frame [1].data + 160), 128);
    assert_int_equal (fg_le_get32 (f.frame [1].data + 164), 2);
    assert_int_equal (fg_le_get32 (f.frame [1].data + 168), 512);
    assert_int_equal (fg_le_get32 (f.frame [1].data + 172), 4321);
    assert_int_equal (fg_wire_decode (f.frame, f.count, NULL, &out, &err), 0);
    assert_true (out.task.has_geometry && out.task.has_texture);
    assert_memory_equal (&out.task.geometry, &m.task.geometry, sizeof m.task.geometry);
    fg_wire_msg_clear (&out);
    fg_wire_frames_clear (&f);
    //  the short block leaves the texture words 0 and has_texture false
    m.task.has_texture = false;
    assert_int_equal (fg_wire_encode (&m, NULL, &f, &err), 0);
    assert_int_equal (f.frame [1].data [91], 16);
    assert_int_equal (fg_wire_decode (f.frame, f.count, NULL, &out, &err), 0);
    assert_true (out.task.has_geometry && !out.task.has_texture);
    assert_int_equal (out.task.geometry.fragment, 0);
    assert_int_equal (out.task.geometry.table_size, 0);
    fg_wire_msg_clear (&out);
    fg_wire_frames_clear (&f);
    //  texture words without the block
    s_task_texture (&m, ranges);
    m.task.has_geometry = false;
    assert_int_equal (fg_wire_encode (&m, NULL, &f, &err), FG_EINVAL);
    assert_non_null (strstr (err.msg, "texture words without"));
    //  every bound of the texture words
    const struct { uint32_t at, value; const char *field; } bad [] = {
        { 1, 32, "geometry.height" },           //  not square
        { 3, 1, "geometry.height" },            //  not RGB
        { 4, 0, "geometry.fragment" },
        { 4, 8193, "geometry.fragment" },
        { 5, 0, "geometry.stride" },
        { 5, 8193, "geometry.stride" },
        { 5, 7, "geometry.stride" },            //  7 x 64 / 256 not integral
        { 6, 3, "geometry.rotations" },
        { 6, 0, "geometry.rotations" },
        { 7, 4097, "geometry.contrast_q8" },
        { 8, 11, "geometry.table_size" },
        { 8, (1u << 26) + 1, "geometry.table_size" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        s_task_texture (&m, ranges);
        ((uint32_t *) &m.task.geometry) [bad [i].at] = bad [i].value;
        if (bad [i].at == 1)
            m.task.geometry.width = 64, m.task.geometry.height = 32;
        assert_int_equal (fg_wire_encode (&m, NULL, &f, &err), FG_ERANGE);
        assert_non_null (strstr (err.msg, bad [i].field));
    }
    //  the decoder: a block of 20 (neither 16 nor 36) is refused by name,
    //  a damaged word by its field, every truncation refused
    s_task_texture (&m, ranges);
    assert_int_equal (fg_wire_encode (&m, NULL, &f, &err), 0);
    assert_int_equal (f.frame [1].size, 176);
    s_damaged (&f, 91, 20, FG_EFORMAT, "block of 20 bytes, expected 0, 16 or 36");
    s_damaged (&f, 164, 3, FG_ERANGE, "offset 164 (geometry.rotations)");
    s_damaged (&f, 164, 4, 0, NULL);
    s_damaged (&f, SIZE_MAX, 0, 0, NULL);
    fg_wire_frames_clear (&f);
}

//  --------------------------------------------------------------------------
//  Seeds for fuzz/fuzz_wire.c (its input format: byte 0 = frame count |
//  0x80 "recompute payload length and checksum"; each frame but the last
//  as u16le length + bytes; the last frame is the rest)

static int
s_write_seed (const char *dir, const char *name, const fg_wire_frames_t *f, uint8_t flags)
{
    char path [4096];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    return fuzz_frames_write (path, f, flags);
}

static int
s_seed (const char *dir, const char *name, const fg_wire_msg_t *m)
{
    fg_wire_frames_t f;
    fg_error_t err;
    if (fg_wire_encode (m, NULL, &f, &err)) {
        fprintf (stderr, "%s\n", err.msg);
        return 1;
    }
    char fixed [80];
    snprintf (fixed, sizeof fixed, "%s-fix", name);
    int rc = s_write_seed (dir, name, &f, 0) || s_write_seed (dir, fixed, &f, 0x80);
    fg_wire_frames_clear (&f);
    if (rc)
        perror (name);
    return rc;
}

static int
s_corpus (const char *dir)
{
    fg_wire_range_t ranges [1];
    fg_wire_msg_t m;
    s_task (&m, ranges);
    if (s_seed (dir, "04-task-geometry", &m))
        return 1;
    s_task_texture (&m, ranges);
    if (s_seed (dir, "04-task-texture", &m))
        return 1;
    uint8_t raw [2048];
    uint8_t bytes [200];
    s_fill (bytes, sizeof bytes, 3);
    size_t used = 0;
    fg_error_t err;
    for (uint16_t i = 0; i < 6; i++)
        if (fg_wire_sample_put (raw, sizeof raw, &used, i, bytes, 20 + 30 * i, &err))
            return 1;
    uint8_t *lz4 = NULL;
    size_t lz4_size;
    if (fg_wire_data_pack (raw, used, &lz4, &lz4_size, &err))
        return 1;
    fg_wire_msg_reply (&m, FG_WIRE_DATA_CHUNK, NULL);
    s_fill (m.data_chunk.dataset_hash, FG_WIRE_HASH_SIZE, 77);
    m.data_chunk.start = 40;
    m.data_chunk.count = 6;
    m.data_chunk.raw_size = used;
    m.data_chunk.lz4 = lz4;
    m.data_chunk.lz4_size = lz4_size;
    int rc = s_seed (dir, "08-data-chunk-variable", &m);
    free (lz4);
    return rc;
}

int
main (int argc, char *argv [])
{
    if (argc == 3 && strcmp (argv [1], "--corpus") == 0)
        return s_corpus (argv [2]);
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_put_next),
        cmocka_unit_test (test_framing_refused),
        cmocka_unit_test (test_chunk_decode),
        cmocka_unit_test (test_task_geometry),
        cmocka_unit_test (test_task_texture),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
