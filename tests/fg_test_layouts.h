/*  fg_test_layouts.h — small file-backed sets for the tests of fetching
    (tests/test_fetch.c; tests/test_worker_files.sh through
    tests/fg_make_tiny): real image files made by libjpeg-turbo's and
    libspng's encoders (tests/fg_test_image.h) from seeded patterns.

    Tiny-ImageNet-200 in its own layout:
        wnids.txt                       one class id a line (n0000000k)
        train/<wnid>/images/<wnid>_<i>.JPEG
        val/images/val_<j>.JPEG + val/val_annotations.txt
    64x64, every 5th image greyscale (the real set has 548 such of 30,000)
    and the quality varying with the image, so the files' sizes differ.

    A folder of images (ImageFolder): train/<class>/img_<i>.{jpg,png} and
    val/<class>/..., classes c0, c1, ...; JPEG and PNG alternate, sides
    vary around 48 (40x56, 56x40, 48x48, 72x60: fg_image_fit crops and
    scales them), every 4th PNG greyscale.                               */

#ifndef FG_TEST_LAYOUTS_H_INCLUDED
#define FG_TEST_LAYOUTS_H_INCLUDED

#include <stdint.h>

//  Writes the Tiny-ImageNet layout under root (created, with its
//  parents): `classes` classes of `train` training and `val` validation
//  images each, patterns from seed. Returns 0, or -1 with errno (a folder
//  or file not made).
int
    fg_test_tiny_write (const char *root, uint32_t classes, uint32_t train, uint32_t val,
                        uint64_t seed);

//  The same for a folder of images.
int
    fg_test_folder_write (const char *root, uint32_t classes, uint32_t train, uint32_t val,
                          uint64_t seed);

#endif
