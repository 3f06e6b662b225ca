/*  replay_main.c — runs a libFuzzer harness over its committed corpus
    (every file of fuzz/corpus/FUZZ_NAME) without libFuzzer, as a TAP test of make check:
    one line per input. A crash or sanitizer report fails the test.         */

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fg_file.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static int
s_compare (const void *a, const void *b)
{
    return strcmp (*(char *const *) a, *(char *const *) b);
}

int
main (int argc, char **argv)
{
    const char *srcdir = getenv ("srcdir");
    char dir [4096];
    if (argc > 1)
        snprintf (dir, sizeof dir, "%s", argv [1]);
    else
        snprintf (dir, sizeof dir, "%s/fuzz/corpus/%s", srcdir? srcdir: ".", FUZZ_NAME);
    DIR *d = opendir (dir);
    if (!d) {
        printf ("1..1\nnot ok 1 - corpus %s cannot be opened\n", dir);
        return 1;
    }
    char *names [4096];
    size_t count = 0;
    struct dirent *entry;
    while ((entry = readdir (d)) && count < 4096)
        if (entry->d_name [0] != '.')
            names [count++] = strdup (entry->d_name);
    closedir (d);
    qsort (names, count, sizeof names [0], s_compare);
    if (count == 0) {
        printf ("1..1\nnot ok 1 - corpus %s is empty\n", dir);
        return 1;
    }
    printf ("1..%zu\n", count);
    int failed = 0;
    for (size_t i = 0; i < count; i++) {
        char path [8192];
        snprintf (path, sizeof path, "%s/%s", dir, names [i]);
        char *data;
        size_t size;
        fg_error_t err;
        if (fg_file_read (path, 64 << 20, &data, &size, &err)) {
            printf ("not ok %zu - %s: %s\n", i + 1, names [i], err.msg);
            failed++;
        }
        else {
            LLVMFuzzerTestOneInput ((const uint8_t *) data, size);
            printf ("ok %zu - %s: %s (%zu bytes)\n", i + 1, FUZZ_NAME, names [i], size);
            free (data);
        }
        free (names [i]);
    }
    return failed? 1: 0;
}
