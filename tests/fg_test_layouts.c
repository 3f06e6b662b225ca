/*  fg_test_layouts.c — a small Tiny-ImageNet-200 layout (fg_test_layouts.h).  */

#include "fg_test_layouts.h"
#include "fg_test_image.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define S_SIDE 64

static int
s_mkdir (const char *path)
{
    return mkdir (path, 0755) == 0 || errno == EEXIST? 0: -1;
}

//  mkdir -p path
static int
s_mkdirs (const char *path)
{
    char buf [4096];
    if (snprintf (buf, sizeof buf, "%s", path) >= (int) sizeof buf)
        return -1;
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (s_mkdir (buf))
                return -1;
            *p = '/';
        }
    return s_mkdir (buf);
}

//  Image `seed` as a JPEG at path: greyscale every 5th, quality 60..95.
static int
s_image (const char *path, uint64_t seed)
{
    uint32_t c = seed % 5 == 4? 1: 3;
    uint8_t hwc [S_SIDE * S_SIDE * 3];
    fg_test_image_pattern (seed, S_SIDE, S_SIDE, c, hwc);
    return fg_test_image_write_jpeg (path, hwc, S_SIDE, S_SIDE, c, 60 + (int) (seed * 7 % 36));
}

int
fg_test_tiny_write (const char *root, uint32_t classes, uint32_t train, uint32_t val,
                    uint64_t seed)
{
    char path [4096];
    snprintf (path, sizeof path, "%s/val/images", root);
    if (s_mkdirs (path))
        return -1;
    snprintf (path, sizeof path, "%s/wnids.txt", root);
    FILE *wnids = fopen (path, "w");
    snprintf (path, sizeof path, "%s/val/val_annotations.txt", root);
    FILE *notes = fopen (path, "w");
    int rc = wnids && notes? 0: -1;
    for (uint32_t k = 0; rc == 0 && k < classes; k++) {
        char wnid [16];
        snprintf (wnid, sizeof wnid, "n%08u", 1000 + k);
        fprintf (wnids, "%s\n", wnid);
        snprintf (path, sizeof path, "%s/train/%s/images", root, wnid);
        rc = s_mkdirs (path);
        for (uint32_t i = 0; rc == 0 && i < train; i++) {
            snprintf (path, sizeof path, "%s/train/%s/images/%s_%u.JPEG", root, wnid, wnid, i);
            rc = s_image (path, seed + (uint64_t) k * 100003 + i);
        }
        for (uint32_t i = 0; rc == 0 && i < val; i++) {
            uint32_t j = k * val + i;
            snprintf (path, sizeof path, "%s/val/images/val_%u.JPEG", root, j);
            rc = s_image (path, seed + 7777777 + j);
            fprintf (notes, "val_%u.JPEG\t%s\t0\t0\t63\t63\n", j, wnid);
        }
    }
    if (wnids && fclose (wnids))
        rc = -1;
    if (notes && fclose (notes))
        rc = -1;
    return rc;
}

//  Folder image `seed` at base + extension: JPEG or PNG, one of four
//  shapes, greyscale every 4th PNG.
static int
s_folder_image (const char *base, uint64_t seed)
{
    static const uint32_t shapes [4][2] = { { 40, 56 }, { 56, 40 }, { 48, 48 }, { 72, 60 } };
    uint32_t h = shapes [seed % 4][0], w = shapes [seed % 4][1];
    bool png = seed % 2 == 1;
    uint32_t c = png && seed % 8 == 7? 1: 3;
    uint8_t hwc [72 * 60 * 3];
    fg_test_image_pattern (seed, h, w, c, hwc);
    char path [4096];
    snprintf (path, sizeof path, "%.4000s.%s", base, png? "png": "jpg");
    return png? fg_test_image_write_png (path, hwc, h, w, c)
              : fg_test_image_write_jpeg (path, hwc, h, w, c, 85);
}

int
fg_test_folder_write (const char *root, uint32_t classes, uint32_t train, uint32_t val,
                      uint64_t seed)
{
    static const char *splits [2] = { "train", "val" };
    int rc = 0;
    for (int s = 0; s < 2; s++)
        for (uint32_t k = 0; rc == 0 && k < classes; k++) {
            char path [4096];
            snprintf (path, sizeof path, "%s/%s/c%u", root, splits [s], k);
            rc = s_mkdirs (path);
            uint32_t n = s == 0? train: val;
            for (uint32_t i = 0; rc == 0 && i < n; i++) {
                snprintf (path, sizeof path, "%s/%s/c%u/img_%u", root, splits [s], k, i);
                rc = s_folder_image (path, seed + (uint64_t) s * 5000011 + k * 1009 + i);
            }
        }
    return rc;
}
