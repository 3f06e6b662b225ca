/*  fg_test_image.c — JPEG and PNG files of seeded patterns for the tests,
    through libjpeg-turbo's and libspng's encoders (fg_test_image.h).     */

#include "fg_test_image.h"
#include "fg_rng.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <spng.h>

void
fg_test_image_pattern (uint64_t seed, uint32_t h, uint32_t w, uint32_t c, uint8_t *hwc)
{
    fg_rng_t rng;
    fg_rng_init (&rng, seed, FG_RNG_TEST, 0, 0, 0, 0);
    uint32_t fx [4], fy [4], phase [4];
    for (uint32_t ch = 0; ch < c && ch < 4; ch++) {
        fx [ch] = 1 + fg_rng_below (&rng, 12);
        fy [ch] = 1 + fg_rng_below (&rng, 12);
        phase [ch] = fg_rng_below (&rng, 512);
    }
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++)
            for (uint32_t ch = 0; ch < c; ch++) {
                uint32_t k = ch % 4;
                uint32_t v = (x * fx [k] + y * fy [k] + phase [k]) % 512;
                int tri = (int) (v < 256? v: 511 - v);          //  0..255
                int noise = (int) fg_rng_below (&rng, 25) - 12;
                int p = 16 + tri * 7 / 8 + noise;               //  4..251
                hwc [((size_t) y * w + x) * c + ch] = (uint8_t) (p < 0? 0: p > 255? 255: p);
            }
}

//  --------------------------------------------------------------------------
//  JPEG

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
} s_jerr_t;

static void
s_jerr_exit (j_common_ptr cinfo)
{
    longjmp (((s_jerr_t *) cinfo->err)->jump, 1);
}

typedef struct {
    struct jpeg_compress_struct cinfo;
    s_jerr_t jerr;
    unsigned char *buffer;
    unsigned long length;
} s_jpeg_enc_t;

static int
s_jpeg_encode (s_jpeg_enc_t *self, const uint8_t *hwc, uint32_t h, uint32_t w, uint32_t c,
               int quality, int flags)
{
    if (setjmp (self->jerr.jump))
        return -1;
    jpeg_create_compress (&self->cinfo);
    jpeg_mem_dest (&self->cinfo, &self->buffer, &self->length);
    self->cinfo.image_width = w;
    self->cinfo.image_height = h;
    self->cinfo.input_components = (int) c;
    self->cinfo.in_color_space = c == 1? JCS_GRAYSCALE: c == 3? JCS_RGB: JCS_CMYK;
    jpeg_set_defaults (&self->cinfo);
    jpeg_set_quality (&self->cinfo, quality, TRUE);
    if (flags & FG_TEST_JPEG_444)
        for (int i = 0; i < self->cinfo.num_components; i++)
            self->cinfo.comp_info [i].h_samp_factor = self->cinfo.comp_info [i].v_samp_factor = 1;
    if (flags & FG_TEST_JPEG_PROGRESSIVE)
        jpeg_simple_progression (&self->cinfo);
    jpeg_start_compress (&self->cinfo, TRUE);
    while (self->cinfo.next_scanline < h) {
        JSAMPROW row = (JSAMPROW) (hwc + (size_t) self->cinfo.next_scanline * w * c);
        jpeg_write_scanlines (&self->cinfo, &row, 1);
    }
    jpeg_finish_compress (&self->cinfo);
    return 0;
}

int
fg_test_image_jpeg_bytes (const uint8_t *hwc, uint32_t h, uint32_t w, uint32_t c, int quality,
                          int flags, uint8_t **bytes, size_t *size)
{
    *bytes = NULL;
    *size = 0;
    if (c != 1 && c != 3 && c != 4)
        return -1;
    s_jpeg_enc_t *self = calloc (1, sizeof *self);
    if (!self)
        return -1;
    self->cinfo.err = jpeg_std_error (&self->jerr.pub);
    self->jerr.pub.error_exit = s_jerr_exit;
    int rc = s_jpeg_encode (self, hwc, h, w, c, quality, flags);
    jpeg_destroy_compress (&self->cinfo);
    if (rc == 0) {
        *bytes = self->buffer;
        *size = self->length;
    }
    else
        free (self->buffer);
    free (self);
    return rc;
}

int
fg_test_image_write_file (const char *path, const void *bytes, size_t size)
{
    FILE *file = fopen (path, "wb");
    if (!file)
        return -1;
    int rc = fwrite (bytes, 1, size, file) == size? 0: -1;
    if (fclose (file))
        rc = -1;
    return rc;
}

int
fg_test_image_write_jpeg (const char *path, const uint8_t *hwc, uint32_t h, uint32_t w,
                          uint32_t c, int quality)
{
    uint8_t *bytes;
    size_t size;
    if (fg_test_image_jpeg_bytes (hwc, h, w, c, quality, 0, &bytes, &size))
        return -1;
    int rc = fg_test_image_write_file (path, bytes, size);
    free (bytes);
    return rc;
}

//  --------------------------------------------------------------------------
//  PNG

static size_t
s_png_row_bytes (uint32_t w, int color_type, int bit_depth)
{
    int samples = color_type == 2? 3: color_type == 4? 2: color_type == 6? 4: 1;
    return ((size_t) w * samples * bit_depth + 7) / 8;
}

int
fg_test_image_png_bytes (const void *samples, uint32_t h, uint32_t w, int color_type,
                         int bit_depth, const uint8_t *palette, uint32_t n, int interlaced,
                         uint8_t **bytes, size_t *size)
{
    *bytes = NULL;
    *size = 0;
    spng_ctx *ctx = spng_ctx_new (SPNG_CTX_ENCODER);
    if (!ctx)
        return -1;
    struct spng_ihdr ihdr = {
        .width = w, .height = h, .bit_depth = (uint8_t) bit_depth,
        .color_type = (uint8_t) color_type, .interlace_method = interlaced? 1: 0
    };
    int rc = spng_set_option (ctx, SPNG_ENCODE_TO_BUFFER, 1);
    if (!rc)
        rc = spng_set_ihdr (ctx, &ihdr);
    if (!rc && color_type == 3) {
        struct spng_plte plte = { .n_entries = n };
        for (uint32_t i = 0; i < n && i < 256; i++) {
            plte.entries [i].red = palette [3 * i];
            plte.entries [i].green = palette [3 * i + 1];
            plte.entries [i].blue = palette [3 * i + 2];
        }
        rc = spng_set_plte (ctx, &plte);
    }
    size_t length = s_png_row_bytes (w, color_type, bit_depth) * h;
    if (!rc)
        rc = spng_encode_image (ctx, samples, length, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE);
    if (!rc) {
        int error = 0;
        *bytes = spng_get_png_buffer (ctx, size, &error);
        rc = error || !*bytes? -1: 0;
    }
    spng_ctx_free (ctx);
    return rc? -1: 0;
}

int
fg_test_image_write_png (const char *path, const uint8_t *hwc, uint32_t h, uint32_t w,
                         uint32_t c)
{
    static const int types [5] = { -1, 0, 4, 2, 6 };
    if (c < 1 || c > 4)
        return -1;
    uint8_t *bytes;
    size_t size;
    if (fg_test_image_png_bytes (hwc, h, w, types [c], 8, NULL, 0, 0, &bytes, &size))
        return -1;
    int rc = fg_test_image_write_file (path, bytes, size);
    free (bytes);
    return rc;
}
