/*  gen_blob_corpus.c — writes the seed corpus of fuzz_blob into a folder:
        gen_blob_corpus fuzz/corpus/blob
    Built by make check (so it keeps compiling), run by hand when the
    format or blob_seed.h changes; its outputs are committed.             */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fg_blob.h"
#include "fg_blob_internal.h"
#include "fg_file.h"
#include "blob_seed.h"

static int
s_write (const char *dir, const char *name, const fg_state_t *state,
         const fg_state_t *base, uint32_t chunk_floats)
{
    uint8_t *blob;
    size_t size;
    fg_error_t err;
    char path [4096];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    if (fg_blob_encode_chunked (state, base, chunk_floats, &blob, &size, &err)
    ||  fg_file_write_atomic (path, blob, size, 0644, 0, &err)) {
        fprintf (stderr, "gen_blob_corpus: %s: %s\n", path, err.msg);
        return -1;
    }
    printf ("%s: %zu bytes\n", path, size);
    free (blob);
    return 0;
}

int
main (int argc, char **argv)
{
    if (argc != 2) {
        fprintf (stderr, "usage: gen_blob_corpus DIR\n");
        return 2;
    }
    const char *dir = argv [1];
    fg_state_t *base = s_seed_base ();
    fg_state_t *next = base? s_seed_next (base): NULL;
    fg_state_t *empty = fg_state_new ();
    fg_state_t *one = fg_state_new ();
    uint64_t shape [1] = { 1 };
    if (!next || !empty || !one
    ||  fg_state_add (one, "w", FG_TENSOR_PARAM, 1, shape, NULL))
        return 1;
    one->data [0] = -0.0f;
    //  special patterns: NaN payload, denormal, inf
    fg_state_t *odd = fg_state_dup (next);
    uint32_t bits [3] = { 0x7fc12345, 0x00000001, 0xff800000 };
    for (int i = 0; odd && i < 3; i++)
        memcpy (odd->data + 7 * i, bits + i, 4);
    int rc = odd? 0: 1;
    rc |= s_write (dir, "full.fgb", base, NULL, FG_BLOB_CHUNK_FLOATS);
    rc |= s_write (dir, "full-chunk16.fgb", next, NULL, 16);
    rc |= s_write (dir, "delta.fgb", next, base, FG_BLOB_CHUNK_FLOATS);
    rc |= s_write (dir, "delta-chunk5.fgb", odd, base, 5);
    rc |= s_write (dir, "delta-self.fgb", base, base, FG_BLOB_CHUNK_FLOATS);
    rc |= s_write (dir, "empty.fgb", empty, NULL, FG_BLOB_CHUNK_FLOATS);
    rc |= s_write (dir, "one.fgb", one, NULL, 1);
    fg_state_destroy (&base);
    fg_state_destroy (&next);
    fg_state_destroy (&empty);
    fg_state_destroy (&one);
    fg_state_destroy (&odd);
    return rc? 1: 0;
}
