/*  test_image.c — the image codec (nn/fg_image.h): JPEG and PNG files made
    by the libraries' encoders from seeded patterns decode to the pattern
    (PNG exactly, JPEG at quality 100 within a bound), every PNG colour type
    and bit depth and the channel conversions, probe, the resize rule with
    known answers, and damaged or oversized files refused with the file's
    name.

    Real data: a Tiny-ImageNet JPEG (colour and greyscale) from
    $FG_TINY_IMAGENET_DIR, $top_srcdir/../shared/data/tiny-imagenet-200 or
    /work/shared/data/tiny-imagenet-200, compared with PIL's decode and
    torchvision's Resize + CenterCrop of the same files (fixture
    tests/ref/image_tiny.ref, made by tests/ref/gen_image.py). Skipped (TAP
    "# SKIP") when the files are absent.

    With FG_IMAGE_CORPUS_DIR set, the program only writes the seed corpus
    of fuzz/fuzz_image.c into that folder.                                 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>

#include "fg_file.h"
#include "fg_image.h"
#include "fg_rng.h"
#include "fg_test_image.h"
#include "fg_test_util.h"

//  --------------------------------------------------------------------------
//  Helpers

static char s_tmp [256];

static int
s_setup (void **state)
{
    (void) state;
    return fg_test_tmpdir ("fg-test-image", s_tmp, sizeof s_tmp);
}

static int
s_teardown (void **state)
{
    (void) state;
    return fg_test_rmtree (s_tmp);
}

//  A seeded pattern in a new buffer.
static uint8_t *
s_pattern (uint64_t seed, uint32_t h, uint32_t w, uint32_t c)
{
    uint8_t *hwc = malloc ((size_t) h * w * c);
    assert_non_null (hwc);
    fg_test_image_pattern (seed, h, w, c, hwc);
    return hwc;
}

static void
s_decode_ok (const uint8_t *bytes, size_t size, uint32_t channels, fg_image_t *image)
{
    fg_error_t err;
    int rc = fg_image_decode (bytes, size, "test.img", channels, image, &err);
    if (rc)
        print_message ("# %s\n", err.msg);
    assert_int_equal (rc, 0);
    assert_int_equal (image->channels, channels);
}

static uint8_t
s_luma (const uint8_t *rgb)
{
    return (uint8_t) ((rgb [0] * 19595u + rgb [1] * 38470u + rgb [2] * 7471u + 32768u) >> 16);
}

//  Decoding must fail with `code` and a message naming the file, leaving
//  the image zeroed; probe must fail too unless probe_ok.
static void
s_refused (const uint8_t *bytes, size_t size, int code, int probe_code)
{
    fg_error_t err;
    fg_image_t image = { 7, 7, 7, (uint8_t *) &image };
    assert_int_equal (fg_image_decode (bytes, size, "bad/file.jpg", 3, &image, &err), code);
    assert_non_null (strstr (err.msg, "bad/file.jpg"));
    assert_null (image.pixels);
    assert_int_equal (image.height + image.width + image.channels, 0);
    print_message ("# refused: %s\n", err.msg);
    uint32_t h = 1, w = 1, c = 1;
    int rc = fg_image_probe (bytes, size, "bad/file.jpg", &h, &w, &c, &err);
    if (rc)
        print_message ("# probe: %s\n", err.msg);
    assert_int_equal (rc, probe_code);
    if (probe_code)
        assert_non_null (strstr (err.msg, "bad/file.jpg"));
}

//  --------------------------------------------------------------------------
//  Round trips

static void
test_png_round_trip (void **state)
{
    (void) state;
    //  8-bit RGB, grey, written as files and read back
    for (uint32_t c = 1; c <= 3; c += 2) {
        uint8_t *hwc = s_pattern (11 + c, 37, 53, c);
        char path [512];
        snprintf (path, sizeof path, "%s/round-%u.png", s_tmp, c);
        assert_int_equal (fg_test_image_write_png (path, hwc, 37, 53, c), 0);
        char *bytes;
        size_t size;
        fg_error_t err;
        assert_int_equal (fg_file_read (path, 1 << 20, &bytes, &size, &err), 0);
        fg_image_t image;
        s_decode_ok ((uint8_t *) bytes, size, c, &image);
        assert_int_equal (image.height, 37);
        assert_int_equal (image.width, 53);
        assert_memory_equal (image.pixels, hwc, 37 * 53 * c);
        fg_image_release (&image);
        assert_null (image.pixels);
        //  grey to RGB: replication; RGB to grey: luma
        s_decode_ok ((uint8_t *) bytes, size, c == 1? 3: 1, &image);
        for (size_t i = 0; i < 37 * 53; i++)
            if (c == 1) {
                assert_int_equal (image.pixels [3 * i], hwc [i]);
                assert_int_equal (image.pixels [3 * i + 1], hwc [i]);
                assert_int_equal (image.pixels [3 * i + 2], hwc [i]);
            }
            else
                assert_int_equal (image.pixels [i], s_luma (hwc + 3 * i));
        fg_image_release (&image);
        free (bytes);
        free (hwc);
    }
}

//  Luma known answers (PIL's convert ("L") of pure colours).
static void
test_luma_known (void **state)
{
    (void) state;
    const uint8_t rgb [5][3] = { { 255, 0, 0 }, { 0, 255, 0 }, { 0, 0, 255 },
                                 { 255, 255, 255 }, { 10, 20, 30 } };
    const uint8_t expect [5] = { 76, 150, 29, 255, 18 };
    uint8_t *bytes;
    size_t size;
    assert_int_equal (fg_test_image_png_bytes (rgb, 1, 5, 2, 8, NULL, 0, 0, &bytes, &size), 0);
    fg_image_t image;
    s_decode_ok (bytes, size, 1, &image);
    assert_memory_equal (image.pixels, expect, 5);
    fg_image_release (&image);
    free (bytes);
}

//  JPEG at quality 100 without subsampling stays within a few levels of
//  the pattern; greyscale decodes to 3 equal channels equal to its
//  1-channel decode; colour to 1 channel is the luma of the RGB decode.
static void
test_jpeg_round_trip (void **state)
{
    (void) state;
    for (uint32_t c = 1; c <= 3; c += 2) {
        uint8_t *hwc = s_pattern (21 + c, 48, 64, c);
        uint8_t *bytes;
        size_t size;
        assert_int_equal (fg_test_image_jpeg_bytes (hwc, 48, 64, c, 100, FG_TEST_JPEG_444,
                                                    &bytes, &size), 0);
        fg_image_t image, other;
        s_decode_ok (bytes, size, c, &image);
        assert_int_equal (image.height, 48);
        assert_int_equal (image.width, 64);
        int worst = 0;
        long total = 0;
        for (size_t i = 0; i < 48 * 64 * c; i++) {
            int d = abs ((int) image.pixels [i] - (int) hwc [i]);
            worst = d > worst? d: worst;
            total += d;
        }
        print_message ("# JPEG q100 c=%u: max error %d, mean %.3f\n", c, worst,
                       (double) total / (48 * 64 * c));
        assert_true (worst <= 4);
        assert_true (total <= 48 * 64 * (long) c);          //  mean at most 1
        s_decode_ok (bytes, size, c == 1? 3: 1, &other);
        for (size_t i = 0; i < 48 * 64; i++)
            if (c == 1)
                for (int k = 0; k < 3; k++)
                    assert_int_equal (other.pixels [3 * i + k], image.pixels [i]);
            else
                assert_int_equal (other.pixels [i], s_luma (image.pixels + 3 * i));
        fg_image_release (&image);
        fg_image_release (&other);
        free (bytes);
        free (hwc);
    }
}

//  4:2:0 and progressive files decode to the same image as each other's
//  encoder settings allow: a progressive file is the baseline file's
//  coefficients in other scans, so the pixels are identical.
static void
test_jpeg_progressive (void **state)
{
    (void) state;
    uint8_t *hwc = s_pattern (31, 40, 56, 3);
    uint8_t *base, *prog;
    size_t base_size, prog_size;
    assert_int_equal (fg_test_image_jpeg_bytes (hwc, 40, 56, 3, 90, 0, &base, &base_size), 0);
    assert_int_equal (fg_test_image_jpeg_bytes (hwc, 40, 56, 3, 90, FG_TEST_JPEG_PROGRESSIVE,
                                                &prog, &prog_size), 0);
    fg_image_t a, b;
    s_decode_ok (base, base_size, 3, &a);
    s_decode_ok (prog, prog_size, 3, &b);
    assert_memory_equal (a.pixels, b.pixels, 40 * 56 * 3);
    fg_image_release (&a);
    fg_image_release (&b);
    free (base);
    free (prog);
    free (hwc);
}

//  --------------------------------------------------------------------------
//  PNG colour types and bit depths

static void
test_png_palette (void **state)
{
    (void) state;
    //  4-bit palette of 3 colours, a 2 x 3 image of indices 0 1 2 / 2 1 0
    const uint8_t palette [9] = { 200, 10, 20, 30, 240, 50, 60, 70, 250 };
    const uint8_t packed [4] = { 0x01, 0x20, 0x21, 0x00 };   //  rows: 0 1 2 (pad), 2 1 0 (pad)
    uint8_t *bytes;
    size_t size;
    assert_int_equal (fg_test_image_png_bytes (packed, 2, 3, 3, 4, palette, 3, 0, &bytes, &size),
                      0);
    fg_image_t image;
    s_decode_ok (bytes, size, 3, &image);
    const uint8_t expect [18] = { 200, 10, 20, 30, 240, 50, 60, 70, 250,
                                  60, 70, 250, 30, 240, 50, 200, 10, 20 };
    assert_memory_equal (image.pixels, expect, 18);
    fg_image_release (&image);
    s_decode_ok (bytes, size, 1, &image);
    for (int i = 0; i < 6; i++)
        assert_int_equal (image.pixels [i], s_luma (expect + 3 * i));
    fg_image_release (&image);
    uint32_t h, w, c;
    fg_error_t err;
    assert_int_equal (fg_image_probe (bytes, size, "p.png", &h, &w, &c, &err), 0);
    assert_true (h == 2 && w == 3 && c == 3);
    free (bytes);
}

//  16-bit samples become their high byte (RGB and grey).
static void
test_png_16bit (void **state)
{
    (void) state;
    uint16_t rgb [2 * 2 * 3], grey [2 * 2];
    fg_rng_t rng;
    fg_rng_init (&rng, 5, FG_RNG_TEST, 0, 0, 0, 0);
    for (int i = 0; i < 12; i++)
        rgb [i] = (uint16_t) fg_rng_u32 (&rng);
    for (int i = 0; i < 4; i++)
        grey [i] = (uint16_t) fg_rng_u32 (&rng);
    rgb [0] = 0x12ff;           //  the high byte, not a rounding (0x13)
    grey [0] = 0x7f80;
    uint8_t *bytes;
    size_t size;
    fg_image_t image;
    assert_int_equal (fg_test_image_png_bytes (rgb, 2, 2, 2, 16, NULL, 0, 0, &bytes, &size), 0);
    s_decode_ok (bytes, size, 3, &image);
    for (int i = 0; i < 12; i++)
        assert_int_equal (image.pixels [i], rgb [i] >> 8);
    fg_image_release (&image);
    free (bytes);
    assert_int_equal (fg_test_image_png_bytes (grey, 2, 2, 0, 16, NULL, 0, 0, &bytes, &size), 0);
    s_decode_ok (bytes, size, 1, &image);
    for (int i = 0; i < 4; i++)
        assert_int_equal (image.pixels [i], grey [i] >> 8);
    fg_image_release (&image);
    free (bytes);
}

//  1-, 2- and 4-bit grey are scaled to 0..255 (v * 255 / (2^bits - 1)).
static void
test_png_low_bit_grey (void **state)
{
    (void) state;
    const struct { int bits; uint8_t packed; uint8_t expect [8]; int n; } cases [3] = {
        { 1, 0xa5, { 255, 0, 255, 0, 0, 255, 0, 255 }, 8 },     //  10100101
        { 2, 0x1b, { 0, 85, 170, 255 }, 4 },                    //  00 01 10 11
        { 4, 0x3c, { 51, 204 }, 2 },                            //  3, 12
    };
    for (int k = 0; k < 3; k++) {
        uint8_t *bytes;
        size_t size;
        assert_int_equal (fg_test_image_png_bytes (&cases [k].packed, 1, (uint32_t) cases [k].n,
                                                   0, cases [k].bits, NULL, 0, 0, &bytes, &size),
                          0);
        fg_image_t image;
        s_decode_ok (bytes, size, 1, &image);
        assert_memory_equal (image.pixels, cases [k].expect, (size_t) cases [k].n);
        fg_image_release (&image);
        s_decode_ok (bytes, size, 3, &image);
        for (int i = 0; i < cases [k].n; i++)
            assert_int_equal (image.pixels [3 * i + 2], cases [k].expect [i]);
        fg_image_release (&image);
        free (bytes);
    }
}

//  Alpha is dropped, never composited: RGBA -> its RGB, grey+alpha -> grey.
static void
test_png_alpha_dropped (void **state)
{
    (void) state;
    uint8_t *rgba = s_pattern (41, 9, 7, 4);
    uint8_t *ga = s_pattern (42, 9, 7, 2);
    uint8_t *bytes;
    size_t size;
    fg_image_t image;
    assert_int_equal (fg_test_image_png_bytes (rgba, 9, 7, 6, 8, NULL, 0, 0, &bytes, &size), 0);
    s_decode_ok (bytes, size, 3, &image);
    for (size_t i = 0; i < 63; i++)
        assert_memory_equal (image.pixels + 3 * i, rgba + 4 * i, 3);
    fg_image_release (&image);
    free (bytes);
    assert_int_equal (fg_test_image_png_bytes (ga, 9, 7, 4, 8, NULL, 0, 0, &bytes, &size), 0);
    s_decode_ok (bytes, size, 1, &image);
    for (size_t i = 0; i < 63; i++)
        assert_int_equal (image.pixels [i], ga [2 * i]);
    fg_image_release (&image);
    uint32_t h, w, c;
    fg_error_t err;
    assert_int_equal (fg_image_probe (bytes, size, "ga.png", &h, &w, &c, &err), 0);
    assert_true (h == 9 && w == 7 && c == 1);
    free (bytes);
    free (rgba);
    free (ga);
}

//  An Adam7-interlaced PNG decodes to the same pixels as the plain one.
static void
test_png_interlaced (void **state)
{
    (void) state;
    uint8_t *hwc = s_pattern (51, 13, 17, 3);
    uint8_t *bytes;
    size_t size;
    assert_int_equal (fg_test_image_png_bytes (hwc, 13, 17, 2, 8, NULL, 0, 1, &bytes, &size), 0);
    fg_image_t image;
    s_decode_ok (bytes, size, 3, &image);
    assert_memory_equal (image.pixels, hwc, 13 * 17 * 3);
    fg_image_release (&image);
    free (bytes);
    free (hwc);
}

static void
test_probe (void **state)
{
    (void) state;
    uint8_t *hwc = s_pattern (61, 24, 40, 3);
    uint8_t *bytes;
    size_t size;
    uint32_t h, w, c;
    fg_error_t err;
    for (uint32_t ch = 1; ch <= 3; ch += 2) {
        assert_int_equal (fg_test_image_jpeg_bytes (hwc, 24, 40, ch, 75, 0, &bytes, &size), 0);
        assert_int_equal (fg_image_probe (bytes, size, "a.jpg", &h, &w, &c, &err), 0);
        assert_true (h == 24 && w == 40 && c == ch);
        free (bytes);
    }
    assert_int_equal (fg_test_image_png_bytes (hwc, 24, 40, 2, 8, NULL, 0, 0, &bytes, &size), 0);
    assert_int_equal (fg_image_probe (bytes, size, "a.png", &h, &w, &c, &err), 0);
    assert_true (h == 24 && w == 40 && c == 3);
    free (bytes);
    free (hwc);
    fg_image_t image;
    assert_int_equal (fg_image_decode ((const uint8_t *) "x", 1, "n", 2, &image, &err),
                      FG_EINVAL);
}

//  --------------------------------------------------------------------------
//  The resize rule

static void
test_fit_identity (void **state)
{
    (void) state;
    uint8_t *hwc = s_pattern (71, 32, 32, 3);
    fg_image_t src = { 32, 32, 3, hwc };
    uint8_t out [32 * 32 * 3];
    fg_error_t err;
    assert_int_equal (fg_image_fit (&src, 32, out, &err), 0);
    assert_memory_equal (out, hwc, sizeof out);
    free (hwc);
}

//  A constant image stays that constant at any scale, both ways.
static void
test_fit_constant (void **state)
{
    (void) state;
    const uint32_t sizes [4][3] = { { 300, 200, 50 }, { 77, 131, 64 }, { 10, 12, 97 },
                                    { 5, 1000, 3 } };
    for (int k = 0; k < 4; k++) {
        uint32_t h = sizes [k][0], w = sizes [k][1], side = sizes [k][2];
        uint8_t *hwc = malloc ((size_t) h * w * 3);
        for (size_t i = 0; i < (size_t) h * w; i++) {
            hwc [3 * i] = 0; hwc [3 * i + 1] = 255; hwc [3 * i + 2] = 137;
        }
        fg_image_t src = { h, w, 3, hwc };
        uint8_t *out = malloc ((size_t) side * side * 3);
        fg_error_t err;
        assert_int_equal (fg_image_fit (&src, side, out, &err), 0);
        for (size_t i = 0; i < (size_t) side * side; i++) {
            assert_int_equal (out [3 * i], 0);
            assert_int_equal (out [3 * i + 1], 255);
            assert_int_equal (out [3 * i + 2], 137);
        }
        free (out);
        free (hwc);
    }
}

//  Halving: the triangle of support 2 gives weights 1 3 3 1 / 8, so a
//  ramp 3x becomes 3 (2x + 1/2) + 1/2 rounding = 6x + 2 inside; at the
//  edges the missing input is left out: x = 0 reads 0 3 6 with 3 3 1 / 7
//  (15/7 -> 2), x = 31 reads 183 186 189 with 1 3 3 / 7 (1308/7 -> 187).
static void
test_fit_halving_known (void **state)
{
    (void) state;
    uint8_t hwc [64 * 64];
    for (int y = 0; y < 64; y++)
        for (int x = 0; x < 64; x++)
            hwc [y * 64 + x] = (uint8_t) (3 * x);
    fg_image_t src = { 64, 64, 1, hwc };
    uint8_t out [32 * 32];
    fg_error_t err;
    assert_int_equal (fg_image_fit (&src, 32, out, &err), 0);
    for (int y = 0; y < 32; y++)
        for (int x = 0; x < 32; x++) {
            int expect = x == 0? 2: x == 31? 187: 6 * x + 2;
            assert_int_equal (out [y * 32 + x], expect);
        }
}

//  Doubling is bilinear: outputs at 1/4 and 3/4 between inputs, edges
//  clamped. 2 x 2 [[0, 200], [100, 40]] -> rows [0 50 150 200],
//  [100 85 55 40], then columns the same way (58.75 -> 59 ...).
static void
test_fit_upscale_known (void **state)
{
    (void) state;
    uint8_t hwc [4] = { 0, 200, 100, 40 };
    fg_image_t src = { 2, 2, 1, hwc };
    uint8_t out [16];
    const uint8_t expect [16] = { 0, 50, 150, 200, 25, 59, 126, 160,
                                  75, 76, 79, 80, 100, 85, 55, 40 };
    fg_error_t err;
    assert_int_equal (fg_image_fit (&src, 4, out, &err), 0);
    assert_memory_equal (out, expect, 16);
}

//  Crop only (the short side is already `side`): the offset is torchvision's
//  round ((long - side) / 2) with Python's half-to-even rounding:
//  25 - 10 = 15 -> 7.5 -> 8; 23 - 10 = 13 -> 6.5 -> 6; 12 - 10 -> 1.
static void
test_fit_centre_crop_offsets (void **state)
{
    (void) state;
    const uint32_t longs [3] = { 25, 23, 12 }, offsets [3] = { 8, 6, 1 };
    for (int k = 0; k < 3; k++) {
        for (int portrait = 0; portrait < 2; portrait++) {
            uint32_t h = portrait? longs [k]: 10, w = portrait? 10: longs [k];
            uint8_t *hwc = s_pattern (81, h, w, 3);
            fg_image_t src = { h, w, 3, hwc };
            uint8_t out [10 * 10 * 3];
            fg_error_t err;
            assert_int_equal (fg_image_fit (&src, 10, out, &err), 0);
            uint32_t top = portrait? offsets [k]: 0, left = portrait? 0: offsets [k];
            for (uint32_t y = 0; y < 10; y++)
                assert_memory_equal (out + y * 30, hwc + ((top + y) * w + left) * 3, 30);
            free (hwc);
        }
    }
}

//  Aspect kept, then the centre crop: 40 wide x 100 high to 20 is an exact
//  halving to 20 x 50, top = 15. A 2 x 2 white marker at rows 40-41,
//  columns 14-15 lands on resized pixel (20, 7) -> output (5, 7), with
//  255 x 3/4 = 191 after the rows, 191 x 3/4 = 143 after the columns.
static void
test_fit_aspect_marker (void **state)
{
    (void) state;
    uint8_t *hwc = calloc (100 * 40, 1);
    for (int y = 40; y < 42; y++)
        for (int x = 14; x < 16; x++)
            hwc [y * 40 + x] = 255;
    fg_image_t src = { 100, 40, 1, hwc };
    uint8_t out [20 * 20];
    fg_error_t err;
    assert_int_equal (fg_image_fit (&src, 20, out, &err), 0);
    int best = 0;
    for (int i = 1; i < 400; i++)
        best = out [i] > out [best]? i: best;
    assert_int_equal (best, 5 * 20 + 7);
    assert_int_equal (out [5 * 20 + 7], 143);
    free (hwc);
    //  the same image turned: 100 wide x 40 high, left = 15
    uint8_t *turned = calloc (40 * 100, 1);
    for (int y = 14; y < 16; y++)
        for (int x = 40; x < 42; x++)
            turned [y * 100 + x] = 255;
    fg_image_t src2 = { 40, 100, 1, turned };
    assert_int_equal (fg_image_fit (&src2, 20, out, &err), 0);
    best = 0;
    for (int i = 1; i < 400; i++)
        best = out [i] > out [best]? i: best;
    assert_int_equal (best, 7 * 20 + 5);
    free (turned);
}

static void
test_fit_errors (void **state)
{
    (void) state;
    uint8_t px [3] = { 1, 2, 3 };
    fg_image_t src = { 1, 1, 3, px };
    uint8_t out [3];
    fg_error_t err;
    assert_int_equal (fg_image_fit (&src, 0, out, &err), FG_EINVAL);
    fg_image_t empty = { 0, 1, 3, px };
    assert_int_equal (fg_image_fit (&empty, 1, out, &err), FG_EINVAL);
    assert_int_equal (fg_image_fit (&src, 1, out, &err), 0);
    assert_memory_equal (out, px, 3);
}

//  --------------------------------------------------------------------------
//  Damaged and oversized files

//  Offset of the first byte after a JPEG marker (0xff, code).
static size_t
s_find_marker (const uint8_t *bytes, size_t size, uint8_t code)
{
    for (size_t i = 0; i + 1 < size; i++)
        if (bytes [i] == 0xff && bytes [i + 1] == code)
            return i + 2;
    fail_msg ("marker %02x not found", code);
    return 0;
}

static void
test_damaged_jpeg (void **state)
{
    (void) state;
    uint8_t *hwc = s_pattern (91, 96, 96, 3);
    uint8_t *bytes;
    size_t size;
    assert_int_equal (fg_test_image_jpeg_bytes (hwc, 96, 96, 3, 90, 0, &bytes, &size), 0);
    //  truncated in the middle of the entropy-coded data: the header is
    //  fine (probe works), the pixels are not
    s_refused (bytes, size / 2, FG_EFORMAT, 0);
    //  truncated inside the header
    s_refused (bytes, 40, FG_EFORMAT, FG_EFORMAT);
    //  a corrupted frame header: 0 components
    uint8_t *bad = malloc (size);
    memcpy (bad, bytes, size);
    size_t sof = s_find_marker (bad, size, 0xc0);
    bad [sof + 7] = 0;
    s_refused (bad, size, FG_EFORMAT, FG_EFORMAT);
    //  a corrupted Huffman table
    memcpy (bad, bytes, size);
    size_t dht = s_find_marker (bad, size, 0xc4);
    memset (bad + dht + 3, 0xff, 16);
    s_refused (bad, size, FG_EFORMAT, FG_EFORMAT);
    //  huge declared dimensions: 60000 x 60000, refused from the header
    memcpy (bad, bytes, size);
    bad [sof + 3] = 60000 >> 8; bad [sof + 4] = 60000 & 0xff;
    bad [sof + 5] = 60000 >> 8; bad [sof + 6] = 60000 & 0xff;
    s_refused (bad, size, FG_ERANGE, FG_ERANGE);
    fg_error_t err;
    fg_image_t image;
    assert_int_equal (fg_image_decode (bad, size, "huge.jpg", 3, &image, &err), FG_ERANGE);
    print_message ("# %s\n", err.msg);
    assert_non_null (strstr (err.msg, "60000 x 60000"));
    //  a CMYK JPEG (4 components) is refused by name
    uint8_t *cmyk_px = s_pattern (94, 8, 8, 4), *cmyk;
    size_t cmyk_size;
    assert_int_equal (fg_test_image_jpeg_bytes (cmyk_px, 8, 8, 4, 90, 0, &cmyk, &cmyk_size), 0);
    s_refused (cmyk, cmyk_size, FG_EFORMAT, FG_EFORMAT);
    assert_int_equal (fg_image_decode (cmyk, cmyk_size, "cmyk.jpg", 3, &image, &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, "CMYK"));
    free (cmyk);
    free (cmyk_px);
    free (bad);
    free (bytes);
    free (hwc);
}

//  A PNG's IHDR fields rewritten and its CRC recomputed (zlib's crc32).
static void
s_png_set_size (uint8_t *png, uint32_t h, uint32_t w)
{
    //  signature (8), length (4), "IHDR" (4), width, height at 16 and 20
    uint8_t *ihdr = png + 12;
    uint8_t be [8] = { w >> 24, w >> 16, w >> 8, w, h >> 24, h >> 16, h >> 8, h };
    memcpy (ihdr + 4, be, 8);
    uint32_t crc = (uint32_t) crc32 (0, ihdr, 17);
    uint8_t c [4] = { crc >> 24, crc >> 16, crc >> 8, crc };
    memcpy (ihdr + 17, c, 4);
}

static void
test_damaged_png (void **state)
{
    (void) state;
    uint8_t *hwc = s_pattern (92, 16, 16, 3);
    uint8_t *bytes;
    size_t size;
    assert_int_equal (fg_test_image_png_bytes (hwc, 16, 16, 2, 8, NULL, 0, 0, &bytes, &size), 0);
    uint8_t *bad = malloc (size);
    //  a byte of the image data changed: its chunk's CRC no longer matches
    memcpy (bad, bytes, size);
    bad [size - 12 - 8] ^= 0x40;
    s_refused (bad, size, FG_EFORMAT, 0);
    //  the header's CRC wrong
    memcpy (bad, bytes, size);
    bad [29] ^= 1;
    s_refused (bad, size, FG_EFORMAT, FG_EFORMAT);
    //  truncated: in the image data, in the header
    s_refused (bytes, size - 30, FG_EFORMAT, 0);
    s_refused (bytes, 20, FG_EFORMAT, FG_EFORMAT);
    //  60000 x 60000 (a valid header): too many pixels; 70000 wide: a side
    //  beyond FG_IMAGE_SIDE_MAX; 0 wide: no image
    memcpy (bad, bytes, size);
    s_png_set_size (bad, 60000, 60000);
    s_refused (bad, size, FG_ERANGE, FG_ERANGE);
    s_png_set_size (bad, 1, 70000);
    s_refused (bad, size, FG_ERANGE, FG_ERANGE);
    s_png_set_size (bad, 16, 0);
    s_refused (bad, size, FG_EFORMAT, FG_EFORMAT);
    free (bad);
    free (bytes);
    free (hwc);
}

static void
test_not_an_image (void **state)
{
    (void) state;
    s_refused (NULL, 0, FG_EFORMAT, FG_EFORMAT);
    s_refused ((const uint8_t *) "", 0, FG_EFORMAT, FG_EFORMAT);
    uint8_t noise [4096];
    fg_rng_t rng;
    fg_rng_init (&rng, 93, FG_RNG_TEST, 0, 0, 0, 0);
    for (size_t i = 0; i < sizeof noise; i++)
        noise [i] = (uint8_t) fg_rng_u32 (&rng);
    noise [0] = 'G';            //  neither magic
    s_refused (noise, sizeof noise, FG_EFORMAT, FG_EFORMAT);
    //  random bytes behind each magic
    noise [0] = 0xff; noise [1] = 0xd8; noise [2] = 0xff;
    s_refused (noise, sizeof noise, FG_EFORMAT, FG_EFORMAT);
    const uint8_t magic [8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
    memcpy (noise, magic, 8);
    s_refused (noise, sizeof noise, FG_EFORMAT, FG_EFORMAT);
    //  a GIF
    s_refused ((const uint8_t *) "GIF89a\1\0\1\0", 10, FG_EFORMAT, FG_EFORMAT);
}

//  --------------------------------------------------------------------------
//  Real files against PIL and torchvision

static const char *
s_tiny_dir (void)
{
    static char dir [1024];
    const char *env = getenv ("FG_TINY_IMAGENET_DIR");
    const char *top = getenv ("top_srcdir");
    char candidates [3][1024];
    snprintf (candidates [0], sizeof candidates [0], "%s", env? env: "");
    snprintf (candidates [1], sizeof candidates [1], "%s/../shared/data/tiny-imagenet-200",
              top? top: ".");
    snprintf (candidates [2], sizeof candidates [2], "/work/shared/data/tiny-imagenet-200");
    for (int i = 0; i < 3; i++) {
        char probe [1024 + 16];
        snprintf (probe, sizeof probe, "%.1000s/wnids.txt", candidates [i]);
        if (candidates [i][0] && access (probe, R_OK) == 0) {
            snprintf (dir, sizeof dir, "%.1000s", candidates [i]);
            return dir;
        }
    }
    return NULL;
}

static uint32_t
s_u32 (const uint8_t **p)
{
    uint32_t v = (uint32_t) (*p) [0] | (uint32_t) (*p) [1] << 8 | (uint32_t) (*p) [2] << 16
               | (uint32_t) (*p) [3] << 24;
    *p += 4;
    return v;
}

//  One fixture record against our decode (and fit) of the same file.
//  Decodes must be equal byte for byte; fits within 1 level on at most
//  1% of the values (PIL's weights are rounded floating point).
static void
s_check_record (const char *dir, const char *name, char mode, uint32_t side, uint32_t crop_h,
                uint32_t crop_w, uint32_t h, uint32_t w, uint32_t c, const uint8_t *ref)
{
    char path [2048];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    char *bytes;
    size_t size;
    fg_error_t err;
    assert_int_equal (fg_file_read (path, 1 << 20, &bytes, &size, &err), 0);
    fg_image_t image;
    s_decode_ok ((uint8_t *) bytes, size, mode == 'L'? 1: 3, &image);
    free (bytes);
    if (side == 0) {
        assert_true (image.height == h && image.width == w && image.channels == c);
        assert_memory_equal (image.pixels, ref, (size_t) h * w * c);
        print_message ("# %s (%c): %u x %u x %u equal to PIL's decode byte for byte\n", name,
                       mode, h, w, c);
    }
    else {
        assert_true (h == side && w == side && c == 3);
        assert_true (crop_h <= image.height && crop_w <= image.width);
        uint8_t *part = malloc ((size_t) crop_h * crop_w * 3), *out = malloc ((size_t) h * w * 3);
        for (uint32_t y = 0; y < crop_h; y++)
            memcpy (part + (size_t) y * crop_w * 3, image.pixels + (size_t) y * image.width * 3,
                    (size_t) crop_w * 3);
        fg_image_t src = { crop_h, crop_w, 3, part };
        assert_int_equal (fg_image_fit (&src, side, out, &err), 0);
        size_t n = (size_t) h * w * c, off = 0;
        int worst = 0;
        for (size_t i = 0; i < n; i++) {
            int d = abs ((int) out [i] - (int) ref [i]);
            off += d != 0;
            worst = d > worst? d: worst;
        }
        print_message ("# %s %u x %u fit to %u: %zu of %zu values differ from torchvision's, "
                       "by at most %d\n", name, crop_h, crop_w, side, off, n, worst);
        assert_true (worst <= 1);
        assert_true (off * 100 <= n);
        free (part);
        free (out);
    }
    fg_image_release (&image);
}

static void
test_tiny_imagenet_vs_pil (void **state)
{
    (void) state;
    const char *dir = s_tiny_dir ();
    if (!dir)
        skip ();                //  ../shared/data/tiny-imagenet-200 not there
    const char *top = getenv ("top_srcdir");
    char path [1024];
    snprintf (path, sizeof path, "%s/tests/ref/image_tiny.ref", top? top: ".");
    char *fixture;
    size_t size;
    fg_error_t err;
    assert_int_equal (fg_file_read (path, 1 << 22, &fixture, &size, &err), 0);
    assert_true (size > 12 && memcmp (fixture, "FGIMGREF", 8) == 0);
    const uint8_t *p = (const uint8_t *) fixture + 8, *end = (const uint8_t *) fixture + size;
    uint32_t count = s_u32 (&p);
    assert_true (count >= 4);
    for (uint32_t r = 0; r < count; r++) {
        assert_true (end - p >= 2);
        size_t len = (size_t) p [0] | (size_t) p [1] << 8;
        p += 2;
        assert_true ((size_t) (end - p) >= len + 1 + 24);
        char name [256];
        assert_true (len < sizeof name);
        memcpy (name, p, len);
        name [len] = 0;
        p += len;
        char mode = (char) *p++;
        uint32_t side = s_u32 (&p), crop_h = s_u32 (&p), crop_w = s_u32 (&p);
        uint32_t h = s_u32 (&p), w = s_u32 (&p), c = s_u32 (&p);
        assert_true ((size_t) (end - p) >= (size_t) h * w * c);
        s_check_record (dir, name, mode, side, crop_h, crop_w, h, w, c, p);
        p += (size_t) h * w * c;
    }
    assert_true (p == end);
    free (fixture);
}

//  --------------------------------------------------------------------------
//  The seed corpus of fuzz/fuzz_image.c (FG_IMAGE_CORPUS_DIR)

static int
s_write_seed (const char *dir, const char *name, uint8_t *bytes, size_t size)
{
    char path [1024];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    int rc = bytes? fg_test_image_write_file (path, bytes, size): -1;
    free (bytes);
    if (rc)
        fprintf (stderr, "test_image: cannot write %s\n", path);
    return rc;
}

static int
s_write_corpus (const char *dir)
{
    uint8_t *hwc = malloc (12 * 10 * 4);
    fg_test_image_pattern (1, 12, 10, 4, hwc);
    uint8_t *b;
    size_t n;
    int rc = 0;
    const uint8_t palette [12] = { 250, 0, 0, 0, 250, 0, 0, 0, 250, 90, 90, 90 };
    const uint8_t packed [6] = { 0x01, 0x23, 0x32, 0x10, 0x11, 0x22 };
    uint16_t deep [3 * 5 * 3];
    for (int i = 0; i < 45; i++)
        deep [i] = (uint16_t) (hwc [i] * 257 + i);
    fg_test_image_jpeg_bytes (hwc, 12, 10, 3, 85, 0, &b, &n);
    rc |= s_write_seed (dir, "rgb-420.jpg", b, n);
    fg_test_image_jpeg_bytes (hwc, 9, 11, 1, 85, 0, &b, &n);
    rc |= s_write_seed (dir, "grey.jpg", b, n);
    fg_test_image_jpeg_bytes (hwc, 8, 13, 3, 70, FG_TEST_JPEG_PROGRESSIVE | FG_TEST_JPEG_444,
                              &b, &n);
    rc |= s_write_seed (dir, "progressive-444.jpg", b, n);
    fg_test_image_png_bytes (hwc, 12, 10, 2, 8, NULL, 0, 0, &b, &n);
    rc |= s_write_seed (dir, "rgb.png", b, n);
    fg_test_image_png_bytes (hwc, 6, 5, 0, 8, NULL, 0, 1, &b, &n);
    rc |= s_write_seed (dir, "grey-interlaced.png", b, n);
    fg_test_image_png_bytes (packed, 3, 4, 3, 4, palette, 4, 0, &b, &n);
    rc |= s_write_seed (dir, "palette-4bit.png", b, n);
    fg_test_image_png_bytes (deep, 3, 5, 2, 16, NULL, 0, 0, &b, &n);
    rc |= s_write_seed (dir, "rgb-16bit.png", b, n);
    fg_test_image_png_bytes (hwc, 5, 6, 6, 8, NULL, 0, 0, &b, &n);
    rc |= s_write_seed (dir, "rgba.png", b, n);
    fg_test_image_png_bytes (hwc, 7, 4, 4, 8, NULL, 0, 0, &b, &n);
    rc |= s_write_seed (dir, "grey-alpha.png", b, n);
    free (hwc);
    return rc? 1: 0;
}

static int
s_run (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_png_round_trip),
        cmocka_unit_test (test_luma_known),
        cmocka_unit_test (test_jpeg_round_trip),
        cmocka_unit_test (test_jpeg_progressive),
        cmocka_unit_test (test_png_palette),
        cmocka_unit_test (test_png_16bit),
        cmocka_unit_test (test_png_low_bit_grey),
        cmocka_unit_test (test_png_alpha_dropped),
        cmocka_unit_test (test_png_interlaced),
        cmocka_unit_test (test_probe),
        cmocka_unit_test (test_fit_identity),
        cmocka_unit_test (test_fit_constant),
        cmocka_unit_test (test_fit_halving_known),
        cmocka_unit_test (test_fit_upscale_known),
        cmocka_unit_test (test_fit_centre_crop_offsets),
        cmocka_unit_test (test_fit_aspect_marker),
        cmocka_unit_test (test_fit_errors),
        cmocka_unit_test (test_damaged_jpeg),
        cmocka_unit_test (test_damaged_png),
        cmocka_unit_test (test_not_an_image),
        cmocka_unit_test (test_tiny_imagenet_vs_pil),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}

int
main (void)
{
    const char *corpus = getenv ("FG_IMAGE_CORPUS_DIR");
    if (corpus)
        return s_write_corpus (corpus);
    return fg_test_run_tap (s_run);
}
