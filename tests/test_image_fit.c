/*  test_image_fit.c — the resize rule of image files (nn/fg_image_fit.c,
    fg_image_fit): identity, constants kept at any scale, known answers of
    halving (weights 1 3 3 1 / 8) and doubling (bilinear), torchvision's
    centre-crop offsets (Python's round half to even), aspect and crop
    checked by a marker pixel, argument errors. The comparison with
    torchvision's Resize + CenterCrop on real images is in test_image.c.  */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>

#include "fg_image.h"
#include "fg_test_image.h"

static void
test_fit_identity (void **state)
{
    (void) state;
    uint8_t *hwc = fg_test_image_pattern_new (71, 32, 32, 3);
    assert_non_null (hwc);
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
            uint8_t *hwc = fg_test_image_pattern_new (81, h, w, 3);
            assert_non_null (hwc);
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

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_fit_identity),
        cmocka_unit_test (test_fit_constant),
        cmocka_unit_test (test_fit_halving_known),
        cmocka_unit_test (test_fit_upscale_known),
        cmocka_unit_test (test_fit_centre_crop_offsets),
        cmocka_unit_test (test_fit_aspect_marker),
        cmocka_unit_test (test_fit_errors),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
