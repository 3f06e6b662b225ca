/*  fg_test_tiny.c — a small Tiny-ImageNet-200 layout (fg_test_tiny.h).  */

#include "fg_test_tiny.h"
#include "fg_test_image.h"

#include <errno.h>
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
