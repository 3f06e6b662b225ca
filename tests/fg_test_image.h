/*  fg_test_image.h — image files for the tests, made with the libraries'
    own ENCODERS (libjpeg-turbo's libjpeg API, libspng) from seeded
    patterns: no test ships or hand-writes an image. Linked into every test
    program (Makefile.am: tests/libfgtest.la).

    Pixels are uint8 HWC (height x width x channels, channels interleaved).
    Functions returning int give 0 or -1 (the encoder failed, or a file
    could not be written); *bytes of the _bytes functions is malloc'ed and
    freed by the caller with free ().                                     */

#ifndef FG_TEST_IMAGE_H_INCLUDED
#define FG_TEST_IMAGE_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

//  A seeded pattern: per channel a slow triangle wave in x and y with its
//  own slope and phase, plus noise in -12..12, all drawn from fg_rng
//  (seed, FG_RNG_TEST). Smooth enough that JPEG keeps it well, noisy
//  enough that a shifted or swapped pixel shows. hwc: h x w x c bytes.
void
    fg_test_image_pattern (uint64_t seed, uint32_t h, uint32_t w, uint32_t c, uint8_t *hwc);

//  JPEG encoder options (fg_test_image_jpeg_bytes flags)
#define FG_TEST_JPEG_PROGRESSIVE 1      //  progressive scans (jpeg_simple_progression)
#define FG_TEST_JPEG_444         2      //  no chroma subsampling (default 4:2:0)

//  Encodes h x w x c (c 1: greyscale, 3: YCbCr from RGB, 4: CMYK) at
//  quality 1..100 into a new buffer.
int
    fg_test_image_jpeg_bytes (const uint8_t *hwc, uint32_t h, uint32_t w, uint32_t c,
                              int quality, int flags, uint8_t **bytes, size_t *size);

//  As above, written to path (baseline, 4:2:0).
int
    fg_test_image_write_jpeg (const char *path, const uint8_t *hwc, uint32_t h, uint32_t w,
                              uint32_t c, int quality);

//  Encodes a PNG of any colour type and bit depth libspng writes.
//  samples are in the PNG's own layout: rows of packed samples for bit
//  depths below 8 (each row starting on a byte), host-endian uint16 for 16.
//  color_type: 0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA (PNG's
//  numbers). palette: n RGB triples for color_type 3 (else NULL, 0).
//  interlaced: Adam7.
int
    fg_test_image_png_bytes (const void *samples, uint32_t h, uint32_t w, int color_type,
                             int bit_depth, const uint8_t *palette, uint32_t n, int interlaced,
                             uint8_t **bytes, size_t *size);

//  An 8-bit PNG of h x w x c pixels (c 1 grey, 2 grey+alpha, 3 RGB,
//  4 RGBA) written to path.
int
    fg_test_image_write_png (const char *path, const uint8_t *hwc, uint32_t h, uint32_t w,
                             uint32_t c);

//  Writes size bytes to path (a fresh file). Returns 0 or -1.
int
    fg_test_image_write_file (const char *path, const void *bytes, size_t size);

#endif
