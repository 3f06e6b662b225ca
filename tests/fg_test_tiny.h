/*  fg_test_tiny.h — a small Tiny-ImageNet-200 layout for the tests of
    fetching (tests/test_fetch.c, tests/test_fetch_files.sh through
    tests/fg_make_tiny): real JPEG files made by libjpeg-turbo's encoder
    (tests/fg_test_image.h) from seeded patterns, in the set's own layout
        wnids.txt                       one class id a line (n0000000k)
        train/<wnid>/images/<wnid>_<i>.JPEG
        val/images/val_<j>.JPEG + val/val_annotations.txt
    64x64, every 5th image greyscale (the real set has 548 such of 30,000)
    and quality varying with the image, so the files' sizes differ.      */

#ifndef FG_TEST_TINY_H_INCLUDED
#define FG_TEST_TINY_H_INCLUDED

#include <stdint.h>

//  Writes the layout under root (created, with its parents): `classes`
//  classes of `train` training and `val` validation images each, patterns
//  from seed. Returns 0, or -1 with errno (a folder or file not made).
int
    fg_test_tiny_write (const char *root, uint32_t classes, uint32_t train, uint32_t val,
                        uint64_t seed);

#endif
