/*  fg_make_texture.c — writes a small texture set of seeded large images
    for the shell tests, as tests/test_texture.c makes its own:
        tests/fg_make_texture ROOT CLASSES PER HEIGHT WIDTH
    ROOT/class<c>/img<k>.png (k even) or .jpg (k odd, quality 90), each
    the pattern of seed 1000 c + k (fg_test_image_pattern), RGB.
    Exit 0, 1 (not written), 64 (usage).                                  */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fg_file.h"
#include "fg_test_image.h"

int
main (int argc, char *argv [])
{
    if (argc != 6) {
        fprintf (stderr, "usage: fg_make_texture ROOT CLASSES PER HEIGHT WIDTH\n");
        return 64;
    }
    unsigned long n [4];
    for (int i = 0; i < 4; i++) {
        char *end;
        n [i] = strtoul (argv [2 + i], &end, 10);
        if (*end || end == argv [2 + i] || n [i] < 1 || n [i] > (i < 2? 100: 8192)) {
            fprintf (stderr, "fg_make_texture: bad number '%s'\n", argv [2 + i]);
            return 64;
        }
    }
    uint32_t h = (uint32_t) n [2], w = (uint32_t) n [3];
    uint8_t *hwc = malloc ((size_t) h * w * 3);
    if (!hwc)
        return 1;
    char path [4400];
    for (uint32_t c = 0; c < n [0]; c++) {
        snprintf (path, sizeof path, "%s/class%u", argv [1], c);
        if (fg_file_mkdirs (path, NULL)) {
            fprintf (stderr, "fg_make_texture: %s: cannot create\n", path);
            return 1;
        }
        for (uint32_t k = 0; k < n [1]; k++) {
            fg_test_image_pattern (1000 * c + k, h, w, 3, hwc);
            snprintf (path, sizeof path, "%s/class%u/img%u.%s", argv [1], c, k, k % 2? "jpg": "png");
            if (k % 2? fg_test_image_write_jpeg (path, hwc, h, w, 3, 90)
                     : fg_test_image_write_png (path, hwc, h, w, 3)) {
                fprintf (stderr, "fg_make_texture: %s: not written\n", path);
                return 1;
            }
        }
    }
    free (hwc);
    return 0;
}
