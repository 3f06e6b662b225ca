/*  test_blob.c — the weights blob codec: round trips bit for bit (full and
    XOR-delta, NaN payloads, -0.0, denormals, many chunks, a VGG-sized
    tensor), every rejection path of the decoder (every truncation, every
    flipped byte, each bad field). The safetensors export is tested in
    test_safetensors.c.                                                   */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "fg_blob.h"
#include "fg_blob_internal.h"
#include "fg_file.h"
#include "fg_rng.h"
#include "fg_state.h"
#include "fg_test_util.h"

//  --------------------------------------------------------------------------
//  Helpers

static uint32_t
s_bits (float f)
{
    uint32_t x;
    memcpy (&x, &f, 4);
    return x;
}

static float
s_float (uint32_t x)
{
    float f;
    memcpy (&f, &x, 4);
    return f;
}

static void
s_put32 (uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p [i] = (uint8_t) (v >> (8 * i));
}

static uint32_t
s_get32 (const uint8_t *p)
{
    return (uint32_t) p [0] | ((uint32_t) p [1] << 8) | ((uint32_t) p [2] << 16)
         | ((uint32_t) p [3] << 24);
}

static uint64_t
s_get64 (const uint8_t *p)
{
    return (uint64_t) s_get32 (p) | ((uint64_t) s_get32 (p + 4) << 32);
}

//  bit patterns a lossy or value-comparing codec would lose
static const uint32_t s_specials [] = {
    0x7fc12345,     //  quiet NaN with a payload
    0xffc00001,     //  negative quiet NaN with a payload
    0x7f800001,     //  signalling NaN
    0x80000000,     //  -0.0
    0x00000000,     //  +0.0
    0x00000001,     //  smallest denormal
    0x807fffff,     //  largest negative denormal
    0x7f800000,     //  +inf
    0xff800000,     //  -inf
    0x7f7fffff,     //  FLT_MAX
};
#define S_NSPECIALS (sizeof s_specials / sizeof s_specials [0])

//  A small model: conv, bias, BN buffers, a linear layer; normal-ish
//  values from the test RNG stream, with the special patterns planted.
static fg_state_t *
s_model (uint32_t stream)
{
    fg_state_t *s = fg_state_new ();
    assert_non_null (s);
    uint64_t w [4] = { 4, 3, 3, 3 }, b [1] = { 4 }, fc [2] = { 10, 37 }, one [1] = { 1 };
    assert_int_equal (fg_state_add (s, "features.0.weight", FG_TENSOR_PARAM, 4, w, NULL), 0);
    assert_int_equal (fg_state_add (s, "features.0.bias", FG_TENSOR_PARAM, 1, b, NULL), 0);
    assert_int_equal (fg_state_add (s, "features.1.running_mean", FG_TENSOR_BUFFER, 1, b, NULL), 0);
    assert_int_equal (fg_state_add (s, "features.1.num_batches_tracked", FG_TENSOR_BUFFER, 1, one, NULL), 0);
    assert_int_equal (fg_state_add (s, "classifier.weight", FG_TENSOR_PARAM, 2, fc, NULL), 0);
    fg_rng_t rng;
    fg_rng_init (&rng, 42, FG_RNG_TEST, stream, 0, 0, 0);
    for (size_t i = 0; i < s->size; i++)
        s->data [i] = (float) (0.05 * fg_rng_normal (&rng));
    for (size_t i = 0; i < S_NSPECIALS; i++)
        s->data [(i * 37) % s->size] = s_float (s_specials [i]);
    return s;
}

static void
s_assert_same (const fg_state_t *a, const fg_state_t *b)
{
    fg_error_t err;
    bool same = fg_state_same_layout (a, b, &err);
    if (!same)
        fail_msg ("layouts differ: %s", err.msg);
    assert_int_equal (a->size, b->size);
    if (a->size)
        assert_memory_equal (a->data, b->data, a->size * sizeof (float));
    char ha [65], hb [65];
    fg_state_hash (a, ha);
    fg_state_hash (b, hb);
    assert_string_equal (ha, hb);
}

static void
s_encode (const fg_state_t *s, const fg_state_t *base, uint32_t chunk,
          uint8_t **blob, size_t *size)
{
    fg_error_t err;
    int rc = fg_blob_encode_chunked (s, base, chunk, blob, size, &err);
    if (rc)
        fail_msg ("encode: %s", err.msg);
}

//  re-seal the header after a deliberate edit, so the edit itself is what
//  the decoder sees
static void
s_reseal (uint8_t *blob)
{
    size_t header_size = (size_t) s_get64 (blob + 32);
    uLong crc = crc32 (0, blob, (uInt) (header_size - 4));
    s_put32 (blob + header_size - 4, (uint32_t) crc);
}

//  expects a refusal with code and a message containing what
static void
s_assert_refused (const uint8_t *blob, size_t size, const fg_state_t *base,
                  int code, const char *what)
{
    fg_state_t *out = (fg_state_t *) 1;
    fg_error_t err;
    int rc = fg_blob_decode (blob, size, base, &out, &err);
    if (rc != code || !strstr (err.msg, what))
        fail_msg ("expected %d '%s', got %d '%s'", code, what, rc, rc? err.msg: "");
    assert_null (out);
    assert_int_equal (err.code, code);
}


//  --------------------------------------------------------------------------
//  Round trips

//  fg_blob_decode_into: the same bits into a state of the layout, nothing
//  written with check_only or for another layout or a delta; and
//  fg_blob_write hands over fg_blob_encode's bytes with their CRC-32.
static void
test_decode_into_and_write_pieces (void **unused)
{
    fg_state_t *s = s_model (1), *into = s_model (2), *other = s_model (3);
    fg_error_t err;
    uint8_t *blob;
    size_t size;
    assert_int_equal (fg_blob_encode (s, NULL, &blob, &size, &err), 0);
    fg_state_t *before = fg_state_dup (into);
    assert_non_null (before);
    assert_int_equal (fg_blob_decode_into (blob, size, into, true, &err), 0);
    s_assert_same (before, into);
    assert_int_equal (fg_blob_decode_into (blob, size, into, false, &err), 0);
    s_assert_same (s, into);
    uint64_t shape [1] = { 2 };
    assert_int_equal (fg_state_add (other, "extra", FG_TENSOR_PARAM, 1, shape, NULL), 0);
    fg_state_t *other_before = fg_state_dup (other);
    assert_int_equal (fg_blob_decode_into (blob, size, other, false, &err), FG_EMISMATCH);
    s_assert_same (other_before, other);
    uint8_t *delta;
    size_t delta_size;
    assert_int_equal (fg_blob_encode (s, before, &delta, &delta_size, &err), 0);
    assert_int_equal (fg_blob_decode_into (delta, delta_size, into, false, &err), FG_EINVAL);
    s_assert_same (s, into);

    fg_blob_buffer_t buffer = { malloc (fg_blob_bound (s)), fg_blob_bound (s) };
    assert_non_null (buffer.bytes);
    uint64_t written;
    uint32_t crc;
    assert_int_equal (fg_blob_write (s, NULL, fg_blob_buffer_write, &buffer, &written, &crc,
                                     &err), 0);
    assert_int_equal (written, size);
    assert_memory_equal (buffer.bytes, blob, size);
    assert_int_equal (crc, (uint32_t) crc32 (0L, blob, (uInt) size));
    buffer.capacity = size - 1;         //  a buffer too small is refused
    assert_int_equal (fg_blob_write (s, NULL, fg_blob_buffer_write, &buffer, &written, NULL,
                                     &err), FG_EINVAL);
    free (buffer.bytes);
    free (delta);
    free (blob);
    fg_state_destroy (&s);
    fg_state_destroy (&into);
    fg_state_destroy (&other);
    fg_state_destroy (&before);
    fg_state_destroy (&other_before);
}

static void
test_full_round_trip_is_bit_exact (void **unused)
{
    fg_state_t *s = s_model (1);
    uint8_t *blob;
    size_t size;
    fg_error_t err;
    assert_int_equal (fg_blob_encode (s, NULL, &blob, &size, &err), 0);
    assert_memory_equal (blob, FG_BLOB_MAGIC, FG_BLOB_MAGIC_SIZE);
    fg_state_t *back = NULL;
    int rc = fg_blob_decode (blob, size, NULL, &back, &err);
    if (rc)
        fail_msg ("%s", err.msg);
    s_assert_same (s, back);
    //  the special patterns survived as patterns
    for (size_t i = 0; i < S_NSPECIALS; i++)
        assert_int_equal (s_bits (back->data [(i * 37) % s->size]), s_specials [i]);
    assert_int_equal (back->views [2].kind, FG_TENSOR_BUFFER);
    assert_int_equal (back->views [4].rank, 2);
    assert_int_equal ((uintptr_t) back->data % 64, 0);
    //  a decoded state is an ordinary state: it grows like one
    uint64_t extra [1] = { 3 };
    assert_int_equal (fg_state_add (back, "extra", FG_TENSOR_PARAM, 1, extra, NULL), 0);
    //  check agrees, and reports what it saw
    fg_blob_info_t info;
    assert_int_equal (fg_blob_check (blob, size, &info, &err), 0);
    assert_false (info.delta);
    assert_int_equal (info.ntensors, 5);
    assert_int_equal (info.total_floats, s->size);
    assert_int_equal (info.blob_size, size);
    assert_int_equal (info.data_crc, fg_blob_state_crc (s));
    assert_int_equal (info.chunk_floats, FG_BLOB_CHUNK_FLOATS);
    //  a base given with a full blob is ignored
    fg_state_t *other = s_model (9), *again = NULL;
    assert_int_equal (fg_blob_decode (blob, size, other, &again, &err), 0);
    s_assert_same (s, again);
    //  encoding is deterministic
    uint8_t *blob2;
    size_t size2;
    assert_int_equal (fg_blob_encode (s, NULL, &blob2, &size2, &err), 0);
    assert_int_equal (size, size2);
    assert_memory_equal (blob, blob2, size);
    free (blob);
    free (blob2);
    fg_state_destroy (&s);
    fg_state_destroy (&back);
    fg_state_destroy (&other);
    fg_state_destroy (&again);
}

static void
test_many_chunks_round_trip (void **unused)
{
    fg_state_t *s = s_model (2);
    fg_state_t *base = s_model (3);
    uint32_t chunks [] = { 1, 2, 7, 108, 109, 370, 371 };
    for (size_t c = 0; c < sizeof chunks / sizeof chunks [0]; c++)
        for (int delta = 0; delta < 2; delta++) {
            uint8_t *blob;
            size_t size;
            s_encode (s, delta? base: NULL, chunks [c], &blob, &size);
            fg_state_t *back = NULL;
            fg_error_t err;
            if (fg_blob_decode (blob, size, delta? base: NULL, &back, &err))
                fail_msg ("chunk %u delta %d: %s", chunks [c], delta, err.msg);
            s_assert_same (s, back);
            assert_int_equal (fg_blob_check (blob, size, NULL, &err), 0);
            free (blob);
            fg_state_destroy (&back);
        }
    fg_error_t err;
    uint8_t *blob;
    size_t size;
    assert_int_equal (fg_blob_encode_chunked (s, NULL, 0, &blob, &size, &err), FG_EINVAL);
    assert_int_equal (fg_blob_encode_chunked (s, NULL, FG_BLOB_CHUNK_FLOATS_MAX + 1, &blob, &size, &err),
                      FG_EINVAL);
    assert_null (blob);
    fg_state_destroy (&s);
    fg_state_destroy (&base);
}

static void
test_empty_state_round_trip (void **unused)
{
    fg_state_t *s = fg_state_new ();
    uint8_t *blob;
    size_t size;
    fg_error_t err;
    assert_int_equal (fg_blob_encode (s, NULL, &blob, &size, &err), 0);
    assert_int_equal (size, FG_BLOB_MIN_SIZE);
    fg_state_t *back = NULL;
    assert_int_equal (fg_blob_decode (blob, size, NULL, &back, &err), 0);
    assert_int_equal (back->nviews, 0);
    assert_int_equal (back->size, 0);
    free (blob);
    fg_state_destroy (&s);
    fg_state_destroy (&back);
}

//  Zeros compress about 250:1 (the decoder's LZ4 expansion bound must let
//  them through); random bits do not compress (chunks stored as planes).
static void
test_compressible_and_incompressible (void **unused)
{
    fg_state_t *s = fg_state_new ();
    uint64_t big [2] = { 1024, 1024 }, noise [1] = { 100000 };
    assert_int_equal (fg_state_add (s, "zeros", FG_TENSOR_PARAM, 2, big, NULL), 0);
    assert_int_equal (fg_state_add (s, "noise", FG_TENSOR_PARAM, 1, noise, NULL), 0);
    fg_rng_t rng;
    fg_rng_init (&rng, 7, FG_RNG_TEST, 0, 0, 0, 0);
    const fg_tensor_view_t *v = fg_state_find (s, "noise");
    for (size_t i = 0; i < v->count; i++) {
        uint32_t x = fg_rng_u32 (&rng);
        memcpy (s->data + v->offset + i, &x, 4);
    }
    uint8_t *blob;
    size_t size;
    fg_error_t err;
    assert_int_equal (fg_blob_encode (s, NULL, &blob, &size, &err), 0);
    //  4 MiB of zeros in 4 chunks: each ~4 KiB; noise: 400 kB + 4 bytes
    assert_true (size < 400000 + 4 + 4 * 5000 + 200);
    assert_true (size > 400000);
    fg_state_t *back = NULL;
    assert_int_equal (fg_blob_decode (blob, size, NULL, &back, &err), 0);
    s_assert_same (s, back);
    free (blob);
    fg_state_destroy (&back);
    fg_state_destroy (&s);
}

//  A tensor as large as the largest of VGG-16 (9.4 M floats), in the
//  default chunks, full and as a delta.
static void
test_large_tensor (void **unused)
{
    fg_state_t *s = fg_state_new ();
    uint64_t shape [2] = { 4096, 2304 }, b [1] = { 4096 };
    assert_int_equal (fg_state_add (s, "classifier.0.weight", FG_TENSOR_PARAM, 2, shape, NULL), 0);
    assert_int_equal (fg_state_add (s, "classifier.0.bias", FG_TENSOR_PARAM, 1, b, NULL), 0);
    assert_int_equal (s->size, 9437184 + 4096);
    fg_rng_t rng;
    fg_rng_init (&rng, 5, FG_RNG_TEST, 0, 0, 0, 0);
    for (size_t i = 0; i < s->size; i++)
        s->data [i] = (fg_rng_uniform (&rng) - 0.5f) * 0.02f;
    fg_state_t *next = fg_state_dup (s);
    for (size_t i = 0; i < s->size; i += 3)
        next->data [i] -= 1e-4f * s->data [i];
    uint8_t *blob;
    size_t size;
    fg_error_t err;
    assert_int_equal (fg_blob_encode (s, NULL, &blob, &size, &err), 0);
    fg_state_t *back = NULL;
    assert_int_equal (fg_blob_decode (blob, size, NULL, &back, &err), 0);
    s_assert_same (s, back);
    fg_state_destroy (&back);
    free (blob);
    assert_int_equal (fg_blob_encode (next, s, &blob, &size, &err), 0);
    assert_true (size < next->size * 4);
    fg_blob_info_t info;
    assert_int_equal (fg_blob_check (blob, size, &info, &err), 0);
    assert_true (info.delta);
    assert_int_equal (info.base_crc, fg_blob_state_crc (s));
    assert_int_equal (fg_blob_decode (blob, size, s, &back, &err), 0);
    s_assert_same (next, back);
    fg_state_destroy (&back);
    free (blob);
    fg_state_destroy (&s);
    fg_state_destroy (&next);
}


//  --------------------------------------------------------------------------
//  XOR-delta

static void
test_delta_round_trip (void **unused)
{
    fg_state_t *base = s_model (4);
    fg_state_t *s = fg_state_dup (base);
    //  an SGD-like step, plus the special patterns on both sides
    for (size_t i = 0; i < s->size; i++)
        s->data [i] -= 0.01f * s->data [i];
    s->data [3] = s_float (0x7fc00bad);
    base->data [5] = s_float (0x80000000);
    s->data [5] = 0.0f;
    uint8_t *blob;
    size_t size;
    fg_error_t err;
    assert_int_equal (fg_blob_encode (s, base, &blob, &size, &err), 0);
    fg_state_t *back = NULL;
    if (fg_blob_decode (blob, size, base, &back, &err))
        fail_msg ("%s", err.msg);
    s_assert_same (s, back);
    assert_int_equal (s_bits (back->data [3]), 0x7fc00bad);
    assert_int_equal (s_bits (back->data [5]), 0);
    fg_blob_info_t info;
    assert_int_equal (fg_blob_check (blob, size, &info, &err), 0);
    assert_true (info.delta);
    assert_int_equal (info.base_crc, fg_blob_state_crc (base));
    assert_int_equal (info.data_crc, fg_blob_state_crc (s));
    //  a delta against itself is all zero bits
    uint8_t *zero;
    size_t zsize;
    assert_int_equal (fg_blob_encode (base, base, &zero, &zsize, &err), 0);
    fg_state_destroy (&back);
    assert_int_equal (fg_blob_decode (zero, zsize, base, &back, &err), 0);
    s_assert_same (base, back);
    assert_true (zsize < size);
    free (zero);
    free (blob);
    fg_state_destroy (&back);
    fg_state_destroy (&s);
    fg_state_destroy (&base);
}

//  fg_blob_bound: the worst update a node can honestly send (every XOR
//  word random, so LZ4 shrinks no chunk) fits exactly; a calm update and
//  a full blob of the same layout fit under it; anything larger is not an
//  encoding of this layout.
static void
test_update_bound (void **unused)
{
    fg_state_t *base = fg_state_new ();
    uint64_t big [2] = { 700, 1000 }, small [1] = { 7 };
    assert_int_equal (fg_state_add (base, "features.0.weight", FG_TENSOR_PARAM, 2, big, NULL), 0);
    assert_int_equal (fg_state_add (base, "bn.running_mean", FG_TENSOR_BUFFER, 1, small, NULL), 0);
    fg_rng_t rng;
    fg_rng_init (&rng, 11, FG_RNG_TEST, 0, 0, 0, 0);
    for (size_t i = 0; i < base->size; i++)
        base->data [i] = fg_rng_normal (&rng);
    fg_state_t *worst = fg_state_dup (base);
    for (size_t i = 0; i < worst->size; i++) {
        uint32_t bits = s_bits (base->data [i]) ^ fg_rng_u32 (&rng);
        worst->data [i] = s_float (bits);
    }
    uint64_t bound = fg_blob_bound (base);
    //  the big tensor spans 3 chunks of 2^18 floats, the small one 1
    uint64_t header = 60 + (4 + 17 + 16 + 20) + (4 + 15 + 8 + 20);
    assert_int_equal (bound, header + 4 * base->size + 4 * (3 + 1));
    uint8_t *blob;
    size_t size;
    fg_error_t err;
    assert_int_equal (fg_blob_encode (worst, base, &blob, &size, &err), 0);
    assert_int_equal (size, bound);             //  tight: nothing compressed
    free (blob);
    for (size_t i = 0; i < worst->size; i++)
        worst->data [i] = base->data [i] * 0.99f;
    assert_int_equal (fg_blob_encode (worst, base, &blob, &size, &err), 0);
    assert_true (size < bound);
    free (blob);
    assert_int_equal (fg_blob_encode (worst, NULL, &blob, &size, &err), 0);
    assert_true (size <= bound);
    free (blob);
    assert_int_equal (fg_blob_bound (worst), bound);    //  depends on the layout only
    //  a state fg_state_add could not have built has no bound
    worst->views [1].offset = 3;
    assert_int_equal (fg_blob_bound (worst), 0);
    worst->views [1].offset = 700000;
    fg_state_destroy (&worst);
    fg_state_destroy (&base);
}

static void
test_delta_wrong_base_is_refused (void **unused)
{
    fg_state_t *base = s_model (5);
    fg_state_t *s = s_model (6);
    uint8_t *blob;
    size_t size;
    s_encode (s, base, FG_BLOB_CHUNK_FLOATS, &blob, &size);
    //  no base
    s_assert_refused (blob, size, NULL, FG_EINVAL, "needs the base");
    //  same layout, one bit different
    fg_state_t *wrong = fg_state_dup (base);
    uint32_t x = s_bits (wrong->data [100]) ^ 1;
    wrong->data [100] = s_float (x);
    s_assert_refused (blob, size, wrong, FG_EMISMATCH, "CRC-32");
    //  other layouts
    fg_state_t *small = fg_state_new ();
    uint64_t one [1] = { 1 };
    assert_int_equal (fg_state_add (small, "features.0.weight", FG_TENSOR_PARAM, 1, one, NULL), 0);
    s_assert_refused (blob, size, small, FG_EMISMATCH, "against a base of 1 tensors");
    fg_state_t *renamed = fg_state_dup (base);
    strcpy (renamed->views [1].name, "features.0.beta");
    s_assert_refused (blob, size, renamed, FG_EMISMATCH, "tensor 1 'features.0.bias'");
    //  the encoder refuses a base of another layout
    fg_error_t err;
    uint8_t *none;
    size_t nsize;
    assert_int_equal (fg_blob_encode (s, small, &none, &nsize, &err), FG_EMISMATCH);
    assert_null (none);
    assert_int_equal (nsize, 0);
    assert_non_null (strstr (err.msg, "delta base"));
    free (blob);
    fg_state_destroy (&base);
    fg_state_destroy (&s);
    fg_state_destroy (&wrong);
    fg_state_destroy (&small);
    fg_state_destroy (&renamed);
}


//  --------------------------------------------------------------------------
//  Rejections

//  Every prefix of a blob, full and delta, is refused (never a crash,
//  never an over-read: run under ASan/valgrind to see the latter).
static void
test_every_truncation_is_refused (void **unused)
{
    fg_state_t *base = s_model (7);
    fg_state_t *s = s_model (8);
    for (int delta = 0; delta < 2; delta++) {
        uint8_t *blob;
        size_t size;
        s_encode (s, delta? base: NULL, 100, &blob, &size);
        for (size_t n = 0; n < size; n++) {
            //  an exact-size copy, so a read past n would leave the block
            uint8_t *cut = malloc (n? n: 1);
            memcpy (cut, blob, n);
            fg_state_t *out = (fg_state_t *) 1;
            fg_error_t err;
            int rc = fg_blob_decode (cut, n, delta? base: NULL, &out, &err);
            if (rc != FG_EFORMAT)
                fail_msg ("prefix of %zu bytes: rc %d (%s)", n, rc, rc? err.msg: "accepted");
            assert_null (out);
            assert_int_equal (fg_blob_check (cut, n, NULL, &err), FG_EFORMAT);
            free (cut);
        }
        //  and one byte too many
        uint8_t *longer = malloc (size + 1);
        memcpy (longer, blob, size);
        longer [size] = 0;
        s_assert_refused (longer, size + 1, delta? base: NULL, FG_EFORMAT, "trailing bytes");
        free (longer);
        free (blob);
    }
    fg_state_destroy (&base);
    fg_state_destroy (&s);
}

//  Every single flipped bit (0x01 and 0x80 of every byte) is refused or,
//  inside LZ4 data, decodes to exactly the original bits.
static void
test_every_flipped_byte_is_refused (void **unused)
{
    fg_state_t *base = s_model (9);
    fg_state_t *s = s_model (10);
    for (int delta = 0; delta < 2; delta++) {
        uint8_t *blob;
        size_t size;
        s_encode (s, delta? base: NULL, 64, &blob, &size);
        size_t harmless = 0;
        for (size_t i = 0; i < size; i++)
            for (int mask = 0x01; mask <= 0x80; mask <<= 7) {
                blob [i] ^= (uint8_t) mask;
                fg_state_t *out = (fg_state_t *) 1;
                fg_error_t err;
                int rc = fg_blob_decode (blob, size, delta? base: NULL, &out, &err);
                if (rc == 0) {
                    //  LZ4 has redundancy: a match offset may move to an
                    //  identical run. Accepted means the same bits.
                    s_assert_same (s, out);
                    fg_state_destroy (&out);
                    assert_true (i >= FG_BLOB_FIXED_SIZE);
                    harmless++;
                }
                else {
                    assert_null (out);
                    assert_true (rc == FG_EFORMAT || rc == FG_ECHECKSUM || rc == FG_EVERSION
                              || rc == FG_EMISMATCH);
                }
                blob [i] ^= (uint8_t) mask;
            }
        //  but rarely: almost every flip is caught
        print_message ("# %s blob of %zu bytes: %zu of %zu bit flips decode to the same bits\n",
                       delta? "delta": "full", size, harmless, 2 * size);
        assert_true (harmless * 50 < 2 * size);
        free (blob);
    }
    fg_state_destroy (&base);
    fg_state_destroy (&s);
}

//  A flipped byte in a stored (incompressible) chunk decodes fine and is
//  caught by the CRC of its tensor, named by index and name.
static void
test_flipped_data_names_the_tensor (void **unused)
{
    fg_state_t *s = fg_state_new ();
    uint64_t a [1] = { 16 }, b [2] = { 8, 8 };
    assert_int_equal (fg_state_add (s, "first", FG_TENSOR_PARAM, 1, a, NULL), 0);
    assert_int_equal (fg_state_add (s, "layer.2.weight", FG_TENSOR_PARAM, 2, b, NULL), 0);
    fg_rng_t rng;
    fg_rng_init (&rng, 3, FG_RNG_TEST, 0, 0, 0, 0);
    for (size_t i = 0; i < s->size; i++) {
        uint32_t x = fg_rng_u32 (&rng);
        memcpy (s->data + i, &x, 4);
    }
    uint8_t *blob;
    size_t size;
    s_encode (s, NULL, FG_BLOB_CHUNK_FLOATS, &blob, &size);
    //  the last tensor is one chunk stored raw: u32 length = 256, 256 bytes
    assert_int_equal (s_get32 (blob + size - 260), 256);
    blob [size - 10] ^= 0x20;
    s_assert_refused (blob, size, NULL, FG_ECHECKSUM, "tensor 1 'layer.2.weight': data CRC-32");
    fg_error_t err;
    assert_int_equal (fg_blob_check (blob, size, NULL, &err), FG_ECHECKSUM);
    assert_non_null (strstr (err.msg, "tensor 1 'layer.2.weight'"));
    free (blob);
    fg_state_destroy (&s);
}

//  Fields broken one at a time, with the header CRC re-sealed so each
//  check is reached on its own.
static void
test_bad_fields_are_named (void **unused)
{
    fg_state_t *s = fg_state_new ();
    uint64_t a [2] = { 3, 5 }, b [1] = { 3 };
    assert_int_equal (fg_state_add (s, "fc.w", FG_TENSOR_PARAM, 2, a, NULL), 0);
    assert_int_equal (fg_state_add (s, "fc.b", FG_TENSOR_PARAM, 1, b, NULL), 0);
    for (size_t i = 0; i < s->size; i++)
        s->data [i] = (float) i;
    uint8_t *good;
    size_t size;
    s_encode (s, NULL, FG_BLOB_CHUNK_FLOATS, &good, &size);
    uint8_t *blob = malloc (size);
    //  descriptor 0 at 56: kind, rank, u16 name length, "fc.w", 2 dims,
    //  count, stored, crc; descriptor 1 at 56 + 4 + 4 + 16 + 20 = 100
    const size_t d0 = FG_BLOB_FIXED_SIZE, d1 = d0 + 44;
    assert_int_equal (good [d1 + 4], 'f');
    assert_int_equal (good [d1 + 7], 'b');
    struct {
        size_t at;
        uint8_t value;
        bool reseal;
        int code;
        const char *what;
    } cases [] = {
        { 0,      'X',  false, FG_EFORMAT,   "bad magic" },
        { 7,      1,    false, FG_EFORMAT,   "bad magic" },
        { 8,      2,    false, FG_EVERSION,  "format version 2" },
        { 12,     2,    true,  FG_EFORMAT,   "unknown flags 0x2" },
        { 16,     9,    true,  FG_EFORMAT,   "9 tensors (byte 16) cannot fit" },
        { 22,     0,    true,  FG_EFORMAT,   "chunk size 0 floats" },
        { 24,     19,   true,  FG_EFORMAT,   "says 19 floats" },
        { 32,     20,   true,  FG_EFORMAT,   "header size 20 (byte 32)" },
        { 40,     0,    false, FG_EFORMAT,   "its header (byte 40) says" },
        { 48,     1,    true,  FG_EFORMAT,   "full blob with a base CRC" },
        { 52,     1,    true,  FG_ECHECKSUM, "decoded weights have CRC-32" },
        { d0,     2,    true,  FG_EFORMAT,   "tensor 0 'fc.w': kind 2" },
        { d0 + 1, 0,    true,  FG_EFORMAT,   "tensor 0 'fc.w': rank 0 not in 1..4" },
        { d0 + 1, 5,    true,  FG_EFORMAT,   "tensor 0 'fc.w': rank 5 not in 1..4" },
        { d0 + 2, 0,    true,  FG_EFORMAT,   "tensor 0: name length 0" },
        { d0 + 2, 96,   true,  FG_EFORMAT,   "tensor 0: name length 96" },
        { d0 + 6, '\n', true,  FG_EFORMAT,   "tensor 0 'fc...': name byte 2" },
        { d0 + 6, 0,    true,  FG_EFORMAT,   "not printable ASCII" },
        { d0 + 6, '_',  false, FG_ECHECKSUM, "header CRC-32" },
        { d0 + 8, 4,    true,  FG_EFORMAT,   "tensor 0 'fc.w': element count 15, its shape makes 20" },
        { d0 + 8, 0,    true,  FG_EFORMAT,   "tensor 0 'fc.w': dimension 0 is 0" },
        { d0 + 24, 16,  true,  FG_EFORMAT,   "tensor 0 'fc.w': element count 16" },
        { d0 + 32, 200, true,  FG_EFORMAT,   "tensor 0 'fc.w': 200 stored bytes" },
        { d0 + 32, 4,   true,  FG_EFORMAT,   "4 stored bytes in 1 chunks cannot hold 15 floats" },
        { d0 + 40, 0,   true,  FG_ECHECKSUM, "tensor 0 'fc.w': data CRC-32" },
        { d1 + 7, 'w',  true,  FG_EFORMAT,   "tensor 1 'fc.w': name already used by tensor 0" },
        { size - 5, 0xff, false, FG_ECHECKSUM, "tensor 1 'fc.b': data CRC-32" },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases [0]; c++) {
        memcpy (blob, good, size);
        blob [cases [c].at] = cases [c].value;
        if (cases [c].reseal)
            s_reseal (blob);
        fg_state_t *out = (fg_state_t *) 1;
        fg_error_t err;
        int rc = fg_blob_decode (blob, size, NULL, &out, &err);
        if (rc != cases [c].code || !strstr (err.msg, cases [c].what))
            fail_msg ("case %zu (byte %zu = %u): expected %d '%s', got %d '%s'", c, cases [c].at,
                      cases [c].value, cases [c].code, cases [c].what, rc, rc? err.msg: "");
        assert_null (out);
    }
    //  a 64-bit dimension beyond 2^32
    memcpy (blob, good, size);
    blob [d0 + 8 + 4] = 1;
    s_reseal (blob);
    s_assert_refused (blob, size, NULL, FG_EFORMAT, "tensor 0 'fc.w': dimension 0 is 4294967299");
    //  a huge count in few bytes is refused before any allocation
    memcpy (blob, good, size);
    blob [d0 + 8] = 0;
    blob [d0 + 8 + 3] = 1;      //  shape (16777216, 5)
    blob [d0 + 24] = 0;
    blob [d0 + 24 + 3] = 5;     //  count 83886080
    s_reseal (blob);
    s_assert_refused (blob, size, NULL, FG_EFORMAT, "cannot hold 83886080 floats");
    //  NULL with a size
    s_assert_refused (NULL, 10, NULL, FG_EINVAL, "NULL data");
    free (blob);
    free (good);
    fg_state_destroy (&s);
}

//  The encoder refuses states fg_state_add would not have built.
static void
test_encoder_refuses_bad_states (void **unused)
{
    fg_state_t *s = s_model (11);
    uint8_t *blob;
    size_t size;
    fg_error_t err;
    char saved = s->views [1].name [0];
    s->views [1].name [0] = '\t';
    assert_int_equal (fg_blob_encode (s, NULL, &blob, &size, &err), FG_EINVAL);
    assert_non_null (strstr (err.msg, "tensor 1: name"));
    s->views [1].name [0] = saved;
    strcpy (s->views [2].name, s->views [0].name);
    assert_int_equal (fg_blob_encode (s, NULL, &blob, &size, &err), FG_EINVAL);
    assert_non_null (strstr (err.msg, "name already used by tensor 0"));
    strcpy (s->views [2].name, "features.1.running_mean");
    s->views [3].offset++;
    assert_int_equal (fg_blob_encode (s, NULL, &blob, &size, &err), FG_EINVAL);
    assert_non_null (strstr (err.msg, "views must tile"));
    s->views [3].offset--;
    s->views [4].count++;
    assert_int_equal (fg_blob_encode (s, NULL, &blob, &size, &err), FG_EINVAL);
    assert_non_null (strstr (err.msg, "does not match its shape"));
    s->views [4].count--;
    s->views [4].rank = 5;
    assert_int_equal (fg_blob_encode (s, NULL, &blob, &size, &err), FG_EINVAL);
    s->views [4].rank = 2;
    assert_int_equal (fg_blob_encode (s, NULL, &blob, &size, &err), 0);
    free (blob);
    fg_state_destroy (&s);
}


//  --------------------------------------------------------------------------
//  Files: save/load, in a temporary folder (safetensors: test_safetensors.c)

static char s_dir [64];

static int
s_setup (void **unused)
{
    return fg_test_tmpdir ("fg-test-blob", s_dir, sizeof s_dir);
}

static int
s_teardown (void **unused)
{
    return fg_test_rmtree (s_dir);
}

static void
test_save_and_load (void **unused)
{
    fg_state_t *s = s_model (12);
    char path [128];
    snprintf (path, sizeof path, "%s/w.fgb", s_dir);
    fg_error_t err;
    assert_int_equal (fg_blob_save (path, s, &err), 0);
    fg_state_t *back = NULL;
    assert_int_equal (fg_blob_load (path, &back, &err), 0);
    s_assert_same (s, back);
    fg_state_destroy (&back);
    //  missing file
    char missing [140];
    snprintf (missing, sizeof missing, "%s/none.fgb", s_dir);
    assert_int_equal (fg_blob_load (missing, &back, &err), FG_ENOENT);
    assert_null (back);
    //  a delta blob is not a weights file
    uint8_t *blob;
    size_t size;
    fg_state_t *base = s_model (13);
    s_encode (s, base, FG_BLOB_CHUNK_FLOATS, &blob, &size);
    assert_int_equal (fg_file_write_atomic (path, blob, size, 0644, 0, &err), 0);
    assert_int_equal (fg_blob_load (path, &back, &err), FG_EINVAL);
    assert_non_null (strstr (err.msg, path));
    //  a corrupt file names itself
    blob [size - 1] ^= 1;
    assert_int_equal (fg_file_write_atomic (path, blob, size, 0644, 0, &err), 0);
    assert_int_equal (fg_blob_load (path, &back, &err), FG_EINVAL);
    blob [12] = 0;              //  now a full blob with a base CRC
    assert_int_equal (fg_file_write_atomic (path, blob, size, 0644, 0, &err), 0);
    assert_true (fg_blob_load (path, &back, &err) < 0);
    assert_null (back);
    assert_non_null (strstr (err.msg, path));
    free (blob);
    fg_state_destroy (&s);
    fg_state_destroy (&base);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_full_round_trip_is_bit_exact),
        cmocka_unit_test (test_decode_into_and_write_pieces),
        cmocka_unit_test (test_many_chunks_round_trip),
        cmocka_unit_test (test_empty_state_round_trip),
        cmocka_unit_test (test_compressible_and_incompressible),
        cmocka_unit_test (test_large_tensor),
        cmocka_unit_test (test_delta_round_trip),
        cmocka_unit_test (test_update_bound),
        cmocka_unit_test (test_delta_wrong_base_is_refused),
        cmocka_unit_test (test_every_truncation_is_refused),
        cmocka_unit_test (test_every_flipped_byte_is_refused),
        cmocka_unit_test (test_flipped_data_names_the_tensor),
        cmocka_unit_test (test_bad_fields_are_named),
        cmocka_unit_test (test_encoder_refuses_bad_states),
        cmocka_unit_test (test_save_and_load),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
