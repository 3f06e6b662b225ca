/*  gen_safetensors_corpus.c — writes the seed corpus of fuzz_safetensors
    into a folder:
        gen_safetensors_corpus fuzz/corpus/safetensors
    The seeds are our own exports (fg_blob_export_safetensors) of the
    states of blob_seed.h, of an empty state and of a one-tensor state,
    and exports edited to lie (a span one float short, overlapping spans,
    a hole, an F16 dtype, a header length past the file), so mutations
    start from every refusal path. Built by make check (so it keeps
    compiling), run by hand when the format or blob_seed.h changes; its
    outputs are committed.                                                 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fg_blob.h"
#include "fg_file.h"
#include "fg_le.h"
#include "fg_safetensors.h"
#include "blob_seed.h"

static int
s_write (const char *dir, const char *name, const uint8_t *bytes, size_t size)
{
    char path [4096];
    fg_error_t err;
    snprintf (path, sizeof path, "%s/%s", dir, name);
    if (fg_file_write_atomic (path, bytes, size, 0644, 0, &err)) {
        fprintf (stderr, "gen_safetensors_corpus: %s\n", err.msg);
        return -1;
    }
    printf ("%s: %zu bytes\n", path, size);
    return 0;
}

//  An export of state with the first occurrence of from in its header
//  replaced by to (same length, so offsets stay where they are).
static int
s_write_edited (const char *dir, const char *name, const fg_state_t *state,
                const char *from, const char *to)
{
    uint8_t *bytes;
    size_t size;
    fg_error_t err;
    if (fg_safetensors_encode (state, &bytes, &size, &err))
        return -1;
    size_t header = (size_t) fg_le_get64 (bytes);
    char *at = NULL;
    for (size_t i = 8; !at && i + strlen (from) <= 8 + header; i++)
        if (memcmp (bytes + i, from, strlen (from)) == 0)
            at = (char *) bytes + i;
    int rc = at && strlen (from) == strlen (to)? 0: -1;
    if (rc == 0) {
        memcpy (at, to, strlen (to));
        rc = s_write (dir, name, bytes, size);
    }
    else
        fprintf (stderr, "gen_safetensors_corpus: %s: '%s' not in the header\n", name, from);
    free (bytes);
    return rc;
}

int
main (int argc, char **argv)
{
    if (argc != 2) {
        fprintf (stderr, "usage: gen_safetensors_corpus DIR\n");
        return 2;
    }
    const char *dir = argv [1];
    fg_state_t *model = s_seed_base (), *other = s_seed_state (7), *empty = fg_state_new ();
    fg_state_t *one = fg_state_new ();
    uint64_t shape [1] = { 1 };
    if (!model || !other || !empty || !one
    ||  fg_state_add (one, "w", FG_TENSOR_PARAM, 1, shape, NULL))
        return 1;
    const struct { const char *name; const fg_state_t *state; } exports [] = {
        { "model.safetensors", model }, { "other.safetensors", other },
        { "empty.safetensors", empty }, { "one.safetensors", one }
    };
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof exports / sizeof exports [0]; i++) {
        uint8_t *bytes;
        size_t size;
        fg_error_t err;
        rc = fg_safetensors_encode (exports [i].state, &bytes, &size, &err);
        if (rc == 0)
            rc = s_write (dir, exports [i].name, bytes, size);
        free (bytes);
    }
    //  the seed model's first tensor is 72 floats at [0, 288), the next 4
    //  at [288, 304)
    if (rc == 0)
        rc = s_write_edited (dir, "lie-short.safetensors", model, "[0,288]", "[0,284]");
    if (rc == 0)
        rc = s_write_edited (dir, "lie-overlap.safetensors", model, "[288,304]", "[284,300]");
    if (rc == 0)
        rc = s_write_edited (dir, "lie-hole.safetensors", model, "[0,288]", "[4,292]");
    if (rc == 0)
        rc = s_write_edited (dir, "lie-dtype.safetensors", model, "\"F32\"", "\"F16\"");
    if (rc == 0)
        rc = s_write_edited (dir, "lie-shape.safetensors", model, "[4,2,3,3]", "[4,2,3,4]");
    if (rc == 0)
        rc = s_write_edited (dir, "lie-name.safetensors", model, "classifier.bias",
                             "classifier.bast");
    if (rc == 0) {
        //  a header length one past the file
        uint8_t *bytes;
        size_t size;
        fg_error_t err;
        rc = fg_safetensors_encode (one, &bytes, &size, &err);
        if (rc == 0) {
            fg_le_put64 (bytes, size - 7);
            rc = s_write (dir, "lie-length.safetensors", bytes, size);
        }
        free (bytes);
    }
    fg_state_destroy (&model);
    fg_state_destroy (&other);
    fg_state_destroy (&empty);
    fg_state_destroy (&one);
    return rc? 1: 0;
}
