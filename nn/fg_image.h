/*  fg_image.h — the image codec of the datasets: JPEG and PNG files from
    memory into uint8 HWC pixels, and the one resize rule of the network's
    input (docs/datasets.md, "Image files").

    Libraries (Debian): JPEG through libjpeg-turbo's libjpeg API
    (jpeglib.h, libjpeg62-turbo-dev), PNG through libspng (libspng-dev).
    The libjpeg API rather than TurboJPEG because it is the path PIL takes
    through the same library (so a decode can be compared with PIL's byte
    for byte), and it exposes what a checked decoder needs: the header
    before any pixel buffer exists, the DCT method and upsampling, an error
    manager that returns (setjmp) with libjpeg's message instead of
    exiting, a memory cap and a progress hook that bounds progressive scans.

    Pixels: fg_image_t.pixels is height x width x channels uint8, row-major,
    channels interleaved (HWC), owned by the image (fg_image_release).

    Channel rules (as PIL's convert ("RGB") / convert ("L")):
      - greyscale to 3 channels: the grey value replicated;
      - colour to 1 channel: ITU-R 601-2 luma in fixed point,
          L = (19595 R + 38470 G + 7471 B + 32768) >> 16;
      - alpha (PNG grey+alpha, RGBA, tRNS) is dropped, never composited;
      - palette PNG: the palette's colours; 1/2/4-bit grey scaled to 0..255;
      - 16-bit PNG samples: the high byte (v >> 8);
      - PNG gamma (gAMA) and colour profiles are ignored (as PIL does).
    JPEG: 1-component (greyscale) and 3-component (YCbCr or RGB) files;
    CMYK/YCCK and other component counts are refused (FG_EFORMAT).
    Decoded with JDCT_ISLOW and fancy upsampling (libjpeg's and PIL's
    defaults): integer arithmetic, the same bytes on every x86-64.

    Bounds, checked from the header before any pixel buffer is allocated:
    width and height in 1..FG_IMAGE_SIDE_MAX and width x height at most
    FG_IMAGE_PIXELS_MAX, else FG_ERANGE.

    Thread safety: no shared state; any number of threads may decode at
    once (each call has its own libjpeg/libspng context).               */

#ifndef FG_IMAGE_H_INCLUDED
#define FG_IMAGE_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include "fg_error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint32_t height, width, channels;   //  channels 1 or 3
    uint8_t *pixels;                    //  [height][width][channels], owned
} fg_image_t;

#define FG_IMAGE_SIDE_MAX   65535u
#define FG_IMAGE_PIXELS_MAX ((size_t) 1 << 28)   //  H*W bound checked from the header before allocating

//  Decodes a JPEG or PNG (told apart by their magic bytes) from memory;
//  name is for messages (the file's path). channels is 1 or 3 (the
//  conversions above). Returns 0, FG_EINVAL (channels not 1 or 3),
//  FG_EFORMAT (not JPEG/PNG, damaged or truncated: the message names
//  `name` and the library's reason), FG_ERANGE (dimensions beyond the
//  bounds), FG_ENOMEM. On error *out is zeroed; on success the caller owns
//  out->pixels (fg_image_release).
int
    fg_image_decode (const uint8_t *bytes, size_t size, const char *name,
                     uint32_t channels, fg_image_t *out, fg_error_t *err);

//  Reads the header only: height, width and stored components (1 or 3 for
//  JPEG; for PNG 1 for grey and grey+alpha, 3 for palette, RGB and RGBA —
//  the channel count decode keeps before any conversion). Same codes as
//  fg_image_decode (FG_EFORMAT for a refused colour space). A PNG whose
//  header is fine may still fail to decode (damaged image data).
int
    fg_image_probe (const uint8_t *bytes, size_t size, const char *name,
                    uint32_t *height, uint32_t *width, uint32_t *channels,
                    fg_error_t *err);

//  The documented resize rule (docs/datasets.md): the shorter side to
//  `side`, the longer to floor (side x long / short) (aspect kept, as
//  torchvision's Resize (side)), then the centre side x side crop, top =
//  round-half-even ((H' - side) / 2) (torchvision's CenterCrop). The
//  filter is a triangle (PIL's BILINEAR) widened by the scale when
//  shrinking (antialiased), plain bilinear when enlarging, separable,
//  horizontal pass first, with 22-bit integer weights derived in exact
//  integer arithmetic: the same bytes on every machine. Identity copy when
//  src is already side x side.
//  src: H x W x C uint8 (C any of 1..4); out: side x side x C bytes.
//  Returns 0, FG_EINVAL (side 0 or above FG_IMAGE_SIDE_MAX, empty src,
//  src beyond the bounds), FG_ENOMEM.
int
    fg_image_fit (const fg_image_t *src, uint32_t side, uint8_t *out, fg_error_t *err);

//  Frees the pixels and zeroes the struct; NULL-safe.
void
    fg_image_release (fg_image_t *image);

#ifdef __cplusplus
}
#endif

#endif
