/*  gen_image_corpus.c — writes the seed corpus of fuzz_image into a folder:
        gen_image_corpus fuzz/corpus/image
    Nine tiny files made by the libraries' encoders (tests/fg_test_image.h):
    baseline 4:2:0, greyscale and progressive 4:4:4 JPEG; PNG RGB, grey
    (Adam7), palette 4-bit, RGB 16-bit, RGBA, grey + alpha. Built by make
    check (so it keeps compiling), run by hand; its outputs are committed,
    and tests/ref/image_corpus.ref holds PIL's decode of them
    (tests/ref/gen_image.py).                                             */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fg_test_image.h"

static int
s_write_seed (const char *dir, const char *name, uint8_t *bytes, size_t size)
{
    char path [1024];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    int rc = bytes? fg_test_image_write_file (path, bytes, size): -1;
    free (bytes);
    if (rc)
        fprintf (stderr, "gen_image_corpus: cannot write %s\n", path);
    return rc;
}

int
main (int argc, char **argv)
{
    if (argc != 2) {
        fprintf (stderr, "usage: gen_image_corpus DIR\n");
        return 2;
    }
    const char *dir = argv [1];
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

