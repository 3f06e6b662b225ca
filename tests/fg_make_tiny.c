/*  fg_make_tiny.c — writes a small Tiny-ImageNet-200 layout of seeded
    JPEGs for the shell tests (tests/fg_test_layouts.h):
        tests/fg_make_tiny ROOT CLASSES TRAIN VAL SEED
    Exit 0, 1 (not written: errno), 64 (usage).                          */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fg_test_layouts.h"

int
main (int argc, char *argv [])
{
    if (argc != 6) {
        fprintf (stderr, "usage: fg_make_tiny ROOT CLASSES TRAIN VAL SEED\n");
        return 64;
    }
    unsigned long n [4];
    for (int i = 0; i < 4; i++) {
        char *end;
        n [i] = strtoul (argv [2 + i], &end, 10);
        if (*end || end == argv [2 + i] || (i < 3 && (n [i] < 1 || n [i] > 10000))) {
            fprintf (stderr, "fg_make_tiny: bad number '%s'\n", argv [2 + i]);
            return 64;
        }
    }
    if (fg_test_tiny_write (argv [1], (uint32_t) n [0], (uint32_t) n [1], (uint32_t) n [2],
                            (uint64_t) n [3])) {
        fprintf (stderr, "fg_make_tiny: %s: %s\n", argv [1], strerror (errno));
        return 1;
    }
    return 0;
}
