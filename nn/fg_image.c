/*  fg_image.c — JPEG (libjpeg-turbo, libjpeg API) and PNG (libspng)
    decoding from memory into uint8 HWC pixels with 1 or 3 channels
    (fg_image.h; the resize rule is in fg_image_fit.c).

    Every decode runs in two steps: the header (dimensions, components),
    checked against FG_IMAGE_SIDE_MAX / FG_IMAGE_PIXELS_MAX, then the
    pixels, into a buffer allocated only after that check. A library error
    never leaves this file as anything but FG_EFORMAT with the file's name
    and the library's reason.                                             */

#include "fg_image.h"

#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <spng.h>
#include <zlib.h>

//  Progressive JPEGs: a file may carry any number of scans, each a full
//  pass over the coefficients; real files have about ten. More than this
//  is refused (a tiny file must not cost minutes of CPU).
#define S_JPEG_SCANS_MAX 500
//  libjpeg's own working memory beyond the output: a progressive file keeps
//  every coefficient (at most 6 bytes per pixel with 3 full-resolution
//  components, plus MCU padding). Capped at this per padded pixel plus a
//  fixed allowance; above it libjpeg fails cleanly ("Backing store not
//  supported") instead of allocating.
#define S_JPEG_MEM_PER_PIXEL 8
#define S_JPEG_MEM_FIXED     ((size_t) 64 << 20)
//  PNG: the largest ancillary chunk and the memory libspng may keep for
//  them (text, ICC profiles; zTXt/iCCP inflate into it). Image data
//  (IDAT) is not subject to these (libspng streams it); libspng requires
//  chunk <= cache.
#define S_PNG_CHUNK_MAX ((size_t) 64 << 20)
#define S_PNG_CACHE_MAX ((size_t) 64 << 20)

static const uint8_t s_png_magic [8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };

//  --------------------------------------------------------------------------
//  Shared checks and conversions

static int
s_check_size (const char *name, uint32_t height, uint32_t width, fg_error_t *err)
{
    if (height == 0 || width == 0)
        return fg_error_set (err, FG_EFORMAT, "%s: image of %u x %u pixels", name, height, width);
    if (height > FG_IMAGE_SIDE_MAX || width > FG_IMAGE_SIDE_MAX
    ||  (size_t) height * width > FG_IMAGE_PIXELS_MAX)
        return fg_error_set (err, FG_ERANGE,
                             "%s: image of %u x %u pixels is beyond the bounds (sides at most %u, "
                             "at most %zu pixels)", name, height, width, FG_IMAGE_SIDE_MAX,
                             (size_t) FG_IMAGE_PIXELS_MAX);
    return 0;
}

//  ITU-R 601-2 luma in 16-bit fixed point (PIL's "L" from RGB).
static inline uint8_t
s_luma (const uint8_t *rgb)
{
    return (uint8_t) ((rgb [0] * 19595u + rgb [1] * 38470u + rgb [2] * 7471u + 0x8000u) >> 16);
}

//  Converts n pixels of `from` channels (1, 3 or 4; the 4th is alpha and
//  dropped) to `to` channels (1 or 3). dst may equal src when to <= from
//  (a forward pass never overwrites a pixel not yet read).
static void
s_convert (const uint8_t *src, uint32_t from, uint8_t *dst, uint32_t to, size_t n)
{
    if (from == 1 && to == 3)
        for (size_t i = n; i-- > 0;) {     //  backwards: dst may extend src in place
            uint8_t v = src [i];
            dst [3 * i] = v; dst [3 * i + 1] = v; dst [3 * i + 2] = v;
        }
    else
    if (to == 1 && from >= 3)
        for (size_t i = 0; i < n; i++)
            dst [i] = s_luma (src + i * from);
    else
    if (to == 3 && from == 4)
        for (size_t i = 0; i < n; i++) {
            dst [3 * i] = src [4 * i];
            dst [3 * i + 1] = src [4 * i + 1];
            dst [3 * i + 2] = src [4 * i + 2];
        }
    else
    if (dst != src)
        memcpy (dst, src, n * to);
}

//  --------------------------------------------------------------------------
//  JPEG

typedef struct {
    struct jpeg_error_mgr pub;          //  first: libjpeg casts cinfo->err to it
    jmp_buf jump;
    char message [JMSG_LENGTH_MAX + 64];
} s_jpeg_error_t;

//  One decode's state, owned by the caller of the function that calls
//  setjmp, so nothing it holds is an indeterminate automatic variable of
//  that function after the longjmp.
typedef struct {
    struct jpeg_decompress_struct cinfo;
    s_jpeg_error_t error;
    struct jpeg_progress_mgr progress;
    uint8_t *pixels;                    //  [h][w][channels] output
    uint8_t *row;                       //  one decoded row when converting
    uint32_t channels;                  //  requested, 1 or 3
    uint32_t height, width, components;
    bool probe_only;
    bool created;
} s_jpeg_t;

static void
s_jpeg_error_exit (j_common_ptr cinfo)
{
    s_jpeg_error_t *error = (s_jpeg_error_t *) cinfo->err;
    (*cinfo->err->format_message) (cinfo, error->message);
    longjmp (error->jump, 1);
}

//  Warnings (level -1) say the data are corrupt ("Corrupt JPEG data: bad
//  Huffman code", "Premature end of JPEG file"): libjpeg would go on and
//  fill the rest with grey. They are errors here, except those that leave
//  the pixels intact (an unknown JFIF revision or Adobe transform code, a
//  bad ICC marker, stray bytes between markers).
static void
s_jpeg_emit_message (j_common_ptr cinfo, int level)
{
    if (level >= 0)
        return;                         //  trace messages
    int code = cinfo->err->msg_code;
    if (code == JWRN_JFIF_MAJOR || code == JWRN_ADOBE_XFORM || code == JWRN_BOGUS_ICC
    ||  code == JWRN_EXTRANEOUS_DATA) {
        cinfo->err->num_warnings++;
        return;
    }
    s_jpeg_error_exit (cinfo);
}

static void
s_jpeg_output_message (j_common_ptr cinfo)
{
    (void) cinfo;                       //  the library prints nothing
}

static void
s_jpeg_progress (j_common_ptr cinfo)
{
    j_decompress_ptr dinfo = (j_decompress_ptr) cinfo;
    if (dinfo->input_scan_number > S_JPEG_SCANS_MAX) {
        s_jpeg_error_t *error = (s_jpeg_error_t *) cinfo->err;
        snprintf (error->message, sizeof error->message, "more than %d progressive scans",
                  S_JPEG_SCANS_MAX);
        longjmp (error->jump, 1);
    }
}

//  Header checks: dimensions, then the colour space (grey or 3-component).
static int
s_jpeg_header (s_jpeg_t *self, const char *name, fg_error_t *err)
{
    struct jpeg_decompress_struct *cinfo = &self->cinfo;
    self->height = cinfo->image_height;
    self->width = cinfo->image_width;
    int rc = s_check_size (name, self->height, self->width, err);
    if (rc)
        return rc;
    bool grey = cinfo->num_components == 1 && cinfo->jpeg_color_space == JCS_GRAYSCALE;
    bool colour = cinfo->num_components == 3
               && (cinfo->jpeg_color_space == JCS_YCbCr || cinfo->jpeg_color_space == JCS_RGB);
    if (!grey && !colour)
        return fg_error_set (err, FG_EFORMAT,
                             "%s: JPEG with %d components (%s): only greyscale and RGB/YCbCr "
                             "JPEGs are supported", name, cinfo->num_components,
                             cinfo->jpeg_color_space == JCS_CMYK? "CMYK":
                             cinfo->jpeg_color_space == JCS_YCCK? "YCCK": "colour space unknown");
    self->components = grey? 1: 3;
    return 0;
}

//  The part that may longjmp back: header, then (unless probing) the
//  pixels. Returns 0, 1 after a libjpeg error (message in self->error),
//  or a negative FG_E* code of our own checks.
static int
s_jpeg_run (s_jpeg_t *self, const uint8_t *bytes, size_t size, const char *name,
            fg_error_t *err)
{
    struct jpeg_decompress_struct *cinfo = &self->cinfo;
    if (setjmp (self->error.jump))
        return 1;
    jpeg_create_decompress (cinfo);
    self->created = true;
    jpeg_mem_src (cinfo, bytes, (unsigned long) size);
    jpeg_read_header (cinfo, TRUE);
    int rc = s_jpeg_header (self, name, err);
    if (rc || self->probe_only)
        return rc;

    size_t padded = ((size_t) self->height + 32) * ((size_t) self->width + 32);
    cinfo->mem->max_memory_to_use = (long) (S_JPEG_MEM_FIXED + S_JPEG_MEM_PER_PIXEL * padded);
    cinfo->progress = &self->progress;
    cinfo->dct_method = JDCT_ISLOW;
    cinfo->do_fancy_upsampling = TRUE;
    cinfo->out_color_space = self->components == 1? JCS_GRAYSCALE: JCS_RGB;
    size_t row_size = (size_t) self->width * self->channels;
    self->pixels = malloc (row_size * self->height);
    if (self->components != self->channels)
        self->row = malloc ((size_t) self->width * self->components);
    if (!self->pixels || (self->components != self->channels && !self->row))
        return fg_error_set (err, FG_ENOMEM, "%s: no memory for %u x %u x %u pixels", name,
                             self->height, self->width, self->channels);
    jpeg_start_decompress (cinfo);
    if (cinfo->output_height != self->height || cinfo->output_width != self->width
    ||  (uint32_t) cinfo->output_components != self->components)
        return fg_error_set (err, FG_EFORMAT, "%s: JPEG decodes to %u x %u x %d, header says "
                             "%u x %u x %u", name, cinfo->output_height, cinfo->output_width,
                             cinfo->output_components, self->height, self->width,
                             self->components);
    while (cinfo->output_scanline < cinfo->output_height) {
        uint8_t *dst = self->pixels + (size_t) cinfo->output_scanline * row_size;
        JSAMPROW target = self->row? self->row: dst;
        if (jpeg_read_scanlines (cinfo, &target, 1) != 1)
            return fg_error_set (err, FG_EFORMAT, "%s: JPEG scanline %u could not be read", name,
                                 cinfo->output_scanline);
        if (self->row)
            s_convert (self->row, self->components, dst, self->channels, self->width);
    }
    jpeg_finish_decompress (cinfo);
    return 0;
}

static int
s_jpeg_decode (s_jpeg_t *self, const uint8_t *bytes, size_t size, const char *name,
               fg_error_t *err)
{
    self->cinfo.err = jpeg_std_error (&self->error.pub);
    self->error.pub.error_exit = s_jpeg_error_exit;
    self->error.pub.emit_message = s_jpeg_emit_message;
    self->error.pub.output_message = s_jpeg_output_message;
    self->progress.progress_monitor = s_jpeg_progress;
    int rc = s_jpeg_run (self, bytes, size, name, err);
    if (rc == 1)
        rc = fg_error_set (err, FG_EFORMAT, "%s: damaged JPEG: %s", name, self->error.message);
    if (self->created)
        jpeg_destroy_decompress (&self->cinfo);
    free (self->row);
    self->row = NULL;
    if (rc) {
        free (self->pixels);
        self->pixels = NULL;
    }
    return rc;
}

//  --------------------------------------------------------------------------
//  PNG

static int
s_png_error (const char *name, const char *step, int code, fg_error_t *err)
{
    if (code == SPNG_EUSER_WIDTH || code == SPNG_EUSER_HEIGHT)
        return fg_error_set (err, FG_ERANGE, "%s: PNG %s: %s (sides at most %u)", name, step,
                             spng_strerror (code), FG_IMAGE_SIDE_MAX);
    if (code == SPNG_EMEM)
        return fg_error_set (err, FG_ENOMEM, "%s: PNG %s: %s", name, step, spng_strerror (code));
    return fg_error_set (err, FG_EFORMAT, "%s: damaged PNG (%s): %s", name, step,
                         spng_strerror (code));
}

//  A decoding context with the limits set and the header read and checked.
static int
s_png_open (const uint8_t *bytes, size_t size, const char *name, spng_ctx **ctx_out,
            struct spng_ihdr *ihdr, fg_error_t *err)
{
    *ctx_out = NULL;
    spng_ctx *ctx = spng_ctx_new (0);
    if (!ctx)
        return fg_error_set (err, FG_ENOMEM, "%s: no memory for a PNG decoder", name);
    int rc = spng_set_image_limits (ctx, FG_IMAGE_SIDE_MAX, FG_IMAGE_SIDE_MAX);
    if (!rc)
        rc = spng_set_chunk_limits (ctx, S_PNG_CHUNK_MAX, S_PNG_CACHE_MAX);
    if (!rc)
        rc = spng_set_crc_action (ctx, SPNG_CRC_ERROR, SPNG_CRC_ERROR);
    if (!rc)
        rc = spng_set_png_buffer (ctx, bytes, size);
    if (rc) {
        spng_ctx_free (ctx);
        return s_png_error (name, "setup", rc, err);
    }
    rc = spng_get_ihdr (ctx, ihdr);
    if (rc) {
        spng_ctx_free (ctx);
        return s_png_error (name, "header", rc, err);
    }
    //  libspng checks IHDR's CRC only when it reads the next chunk: probe
    //  checks it here so a header it reports is one the file vouches for
    //  (signature 8, length 4, "IHDR" 4, fields 13, CRC at 29..32)
    if (size < 33) {
        spng_ctx_free (ctx);
        return fg_error_set (err, FG_EFORMAT, "%s: damaged PNG (header): %zu bytes", name, size);
    }
    uint32_t crc = (uint32_t) bytes [29] << 24 | (uint32_t) bytes [30] << 16
                 | (uint32_t) bytes [31] << 8 | bytes [32];
    if ((uint32_t) crc32 (0, bytes + 12, 17) != crc) {
        spng_ctx_free (ctx);
        return fg_error_set (err, FG_EFORMAT, "%s: damaged PNG (header): IHDR checksum mismatch",
                             name);
    }
    rc = s_check_size (name, ihdr->height, ihdr->width, err);
    if (rc) {
        spng_ctx_free (ctx);
        return rc;
    }
    *ctx_out = ctx;
    return 0;
}

static uint32_t
s_png_components (const struct spng_ihdr *ihdr)
{
    return ihdr->color_type == SPNG_COLOR_TYPE_GRAYSCALE
        || ihdr->color_type == SPNG_COLOR_TYPE_GRAYSCALE_ALPHA? 1: 3;
}

//  Every PNG is decoded as RGBA8 (libspng expands palettes, replicates and
//  scales grey, keeps the high byte of 16-bit samples; no tRNS, no gamma),
//  then reduced in place to the requested channels.
static int
s_png_decode (const uint8_t *bytes, size_t size, const char *name, uint32_t channels,
              fg_image_t *out, fg_error_t *err)
{
    spng_ctx *ctx;
    struct spng_ihdr ihdr;
    int rc = s_png_open (bytes, size, name, &ctx, &ihdr, err);
    if (rc)
        return rc;
    size_t pixels = (size_t) ihdr.height * ihdr.width;
    size_t length;
    rc = spng_decoded_image_size (ctx, SPNG_FMT_RGBA8, &length);
    if (rc || length != 4 * pixels) {
        spng_ctx_free (ctx);
        return rc? s_png_error (name, "size", rc, err):
               fg_error_set (err, FG_EFORMAT, "%s: PNG decodes to %zu bytes for %u x %u pixels",
                             name, length, ihdr.height, ihdr.width);
    }
    uint8_t *rgba = malloc (length);
    if (!rgba) {
        spng_ctx_free (ctx);
        return fg_error_set (err, FG_ENOMEM, "%s: no memory for %u x %u pixels", name,
                             ihdr.height, ihdr.width);
    }
    rc = spng_decode_image (ctx, rgba, length, SPNG_FMT_RGBA8, 0);
    spng_ctx_free (ctx);
    if (rc) {
        free (rgba);
        return s_png_error (name, "image data", rc, err);
    }
    //  grey sources keep R (= the grey value) so 1 channel is not a luma
    //  of three equal values (the same, but this is what it means)
    if (channels == 1 && s_png_components (&ihdr) == 1)
        for (size_t i = 0; i < pixels; i++)
            rgba [i] = rgba [4 * i];
    else
        s_convert (rgba, 4, rgba, channels, pixels);
    uint8_t *shrunk = realloc (rgba, pixels * channels);
    out->pixels = shrunk? shrunk: rgba;
    out->height = ihdr.height;
    out->width = ihdr.width;
    out->channels = channels;
    return 0;
}

//  --------------------------------------------------------------------------
//  Public

static bool
s_is_png (const uint8_t *bytes, size_t size)
{
    return size >= sizeof s_png_magic && memcmp (bytes, s_png_magic, sizeof s_png_magic) == 0;
}

static bool
s_is_jpeg (const uint8_t *bytes, size_t size)
{
    return size >= 3 && bytes [0] == 0xff && bytes [1] == 0xd8 && bytes [2] == 0xff;
}

static int
s_unknown (const uint8_t *bytes, size_t size, const char *name, fg_error_t *err)
{
    if (size == 0)
        return fg_error_set (err, FG_EFORMAT, "%s: empty file, not a JPEG or PNG image", name);
    return fg_error_set (err, FG_EFORMAT, "%s: not a JPEG or PNG image (starts with %02x %02x)",
                         name, bytes [0], size > 1? bytes [1]: 0);
}

int
fg_image_decode (const uint8_t *bytes, size_t size, const char *name, uint32_t channels,
                 fg_image_t *out, fg_error_t *err)
{
    memset (out, 0, sizeof *out);
    if (!name)
        name = "image";
    if (channels != 1 && channels != 3)
        return fg_error_set (err, FG_EINVAL, "%s: %u channels asked for, 1 or 3 supported",
                             name, channels);
    if (!bytes)
        size = 0;
    if (s_is_png (bytes, size))
        return s_png_decode (bytes, size, name, channels, out, err);
    if (!s_is_jpeg (bytes, size))
        return s_unknown (bytes, size, name, err);
    s_jpeg_t self = { .channels = channels };
    int rc = s_jpeg_decode (&self, bytes, size, name, err);
    if (rc == 0) {
        out->pixels = self.pixels;
        out->height = self.height;
        out->width = self.width;
        out->channels = channels;
    }
    return rc;
}

int
fg_image_probe (const uint8_t *bytes, size_t size, const char *name, uint32_t *height,
                uint32_t *width, uint32_t *channels, fg_error_t *err)
{
    *height = *width = *channels = 0;
    if (!name)
        name = "image";
    if (!bytes)
        size = 0;
    if (s_is_png (bytes, size)) {
        spng_ctx *ctx;
        struct spng_ihdr ihdr;
        int rc = s_png_open (bytes, size, name, &ctx, &ihdr, err);
        if (rc)
            return rc;
        spng_ctx_free (ctx);
        *height = ihdr.height;
        *width = ihdr.width;
        *channels = s_png_components (&ihdr);
        return 0;
    }
    if (!s_is_jpeg (bytes, size))
        return s_unknown (bytes, size, name, err);
    s_jpeg_t self = { .probe_only = true };
    int rc = s_jpeg_decode (&self, bytes, size, name, err);
    if (rc == 0) {
        *height = self.height;
        *width = self.width;
        *channels = self.components;
    }
    return rc;
}

void
fg_image_release (fg_image_t *image)
{
    if (!image)
        return;
    free (image->pixels);
    memset (image, 0, sizeof *image);
}
