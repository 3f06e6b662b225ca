/*  fuzz_image.c — libFuzzer harness for the image codec (nn/fg_image.h):
    any bytes as a JPEG or PNG file, through probe, decode and fit.

    The input is the whole file (the committed corpus is plain tiny JPEG
    and PNG files, fuzz/corpus/image); the requested channels (1 or 3) and
    the side of fit (1..48) follow from the input's size, so every seed is
    tried both ways as the fuzzer grows and shrinks it.
    Images declaring more than 2^20 pixels are probed, not decoded: a
    harness cap (the bounds themselves allow 2^28, whose decode is a slow
    but legitimate allocation).
    Invariants: a failure has a message naming the file and leaves the
    image zeroed; probe and decode agree on the dimensions; a decode that
    works means the probe worked; fit writes exactly side x side x c bytes
    (ASan sees any other write) and is deterministic.                    */

#include "fg_image.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define S_PIXELS_CAP ((size_t) 1 << 20)

#define S_CHECK(cond) do { if (!(cond)) __builtin_trap (); } while (0)

static volatile uint32_t s_sink;

static void
s_fit (const fg_image_t *image, uint32_t side)
{
    size_t n = (size_t) side * side * image->channels;
    uint8_t *a = malloc (n), *b = malloc (n);
    if (a && b) {
        fg_error_t err;
        S_CHECK (fg_image_fit (image, side, a, &err) == 0);
        S_CHECK (fg_image_fit (image, side, b, &err) == 0);
        S_CHECK (memcmp (a, b, n) == 0);
    }
    free (a);
    free (b);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    uint32_t channels = size % 2? 1: 3;
    uint32_t side = 1 + (uint32_t) (size / 2 % 48);
    fg_error_t err;
    uint32_t h, w, c;
    int probed = fg_image_probe (data, size, "fuzz.img", &h, &w, &c, &err);
    if (probed) {
        S_CHECK (h == 0 && w == 0 && c == 0);
        S_CHECK (err.code == probed && strstr (err.msg, "fuzz.img"));
    }
    else {
        S_CHECK (h >= 1 && w >= 1 && (c == 1 || c == 3));
        S_CHECK ((size_t) h * w <= FG_IMAGE_PIXELS_MAX);
        if ((size_t) h * w > S_PIXELS_CAP)
            return 0;
    }
    fg_image_t image;
    int rc = fg_image_decode (data, size, "fuzz.img", channels, &image, &err);
    if (rc) {
        S_CHECK (rc == FG_EFORMAT || rc == FG_ERANGE || rc == FG_ENOMEM);
        S_CHECK (err.code == rc && strstr (err.msg, "fuzz.img"));
        S_CHECK (!image.pixels && !image.height && !image.width && !image.channels);
        return 0;
    }
    S_CHECK (probed == 0);
    S_CHECK (image.height == h && image.width == w && image.channels == channels);
    uint32_t sum = 0;
    for (size_t i = 0; i < (size_t) h * w * channels; i++)
        sum += image.pixels [i];
    s_sink = sum;
    s_fit (&image, side);
    fg_image_release (&image);
    return 0;
}
