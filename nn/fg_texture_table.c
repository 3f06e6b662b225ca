/*  fg_texture_table.c — the image table of a texture set (fg_texture.h,
    "a trainer without the folder"): written by the set that has the
    folder, read by a trainer that fetched it from a peer. The reader
    trusts nothing: every field is bounded before it is used, and the
    whole table must hash, with the TASK's geometry, to the dataset hash
    the TASK promised (fgtx1), so a table that passes is the coordinator's
    index, byte for byte.                                                  */

#include "fg_texture.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define S_HEAD  12              //  u32 count, classes, images
#define S_ENTRY 20              //  u16 label, u32 height, width, u64 size, u16 length

static void
s_put (uint8_t *b, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        b [i] = (uint8_t) (v >> (8 * i));
}

static uint64_t
s_get (const uint8_t *b, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = v << 8 | b [i];
    return v;
}

int
fg_texture_table_encode (uint32_t count, uint32_t classes, const fg_texture_entry_t *entries,
                         uint32_t n, uint8_t **out, size_t *size, fg_error_t *err)
{
    *out = NULL;
    *size = 0;
    uint64_t bytes = S_HEAD;
    for (uint32_t i = 0; i < n; i++) {
        size_t len = strlen (entries [i].path);
        if (len > FG_TEXTURE_PATH_MAX)
            return fg_error_set (err, FG_ERANGE, "%s: a path of %zu bytes in the image table "
                                 "(at most %d)", entries [i].path, len, FG_TEXTURE_PATH_MAX);
        bytes += S_ENTRY + len;
    }
    if (bytes > FG_TEXTURE_TABLE_MAX)
        return fg_error_set (err, FG_ERANGE, "the image table of %u images takes %" PRIu64
                             " bytes, more than %u", n, bytes, FG_TEXTURE_TABLE_MAX);
    uint8_t *b = malloc ((size_t) bytes);
    if (!b)
        return fg_error_set (err, FG_ENOMEM, "out of memory for the image table");
    s_put (b, count, 4);
    s_put (b + 4, classes, 4);
    s_put (b + 8, n, 4);
    uint8_t *at = b + S_HEAD;
    for (uint32_t i = 0; i < n; i++) {
        const fg_texture_entry_t *e = &entries [i];
        size_t len = strlen (e->path);
        s_put (at, e->label, 2);
        s_put (at + 2, e->height, 4);
        s_put (at + 6, e->width, 4);
        s_put (at + 10, e->size, 8);
        s_put (at + 18, len, 2);
        memcpy (at + S_ENTRY, e->path, len);
        at += S_ENTRY + len;
    }
    *out = b;
    *size = (size_t) bytes;
    return 0;
}

void
fg_texture_table_hash (const fg_texture_geometry_t *g, const uint8_t *table, size_t size,
                       uint8_t digest [FG_SHA256_SIZE])
{
    fg_sha256_t sha;
    fg_sha256_init (&sha);
    fg_sha256_update (&sha, "fgtx1", 5);
    uint32_t head [] = { (uint32_t) s_get (table, 4), (uint32_t) s_get (table + 4, 4),
                         g->side, g->side, 3, g->fragment, g->stride, g->rotations,
                         g->contrast_q8, (uint32_t) s_get (table + 8, 4) };
    for (size_t i = 0; i < sizeof head / sizeof head [0]; i++) {
        uint8_t b [4];
        s_put (b, head [i], 4);
        fg_sha256_update (&sha, b, 4);
    }
    fg_sha256_update (&sha, table + S_HEAD, size - S_HEAD);
    fg_sha256_final (&sha, digest);
}

//  Entry i at b (room bytes left): its fixed fields bounded. *len: its
//  path's length.
static int
s_entry (const fg_texture_geometry_t *g, const uint8_t *b, size_t room, uint32_t i,
         uint32_t classes, fg_texture_entry_t *e, size_t *len, fg_error_t *err)
{
    if (room < S_ENTRY)
        return fg_error_set (err, FG_EFORMAT, "image table: entry %u is cut short (%zu bytes "
                             "left, %d needed)", i, room, S_ENTRY);
    e->label = (uint16_t) s_get (b, 2);
    e->height = (uint32_t) s_get (b + 2, 4);
    e->width = (uint32_t) s_get (b + 6, 4);
    e->size = s_get (b + 10, 8);
    *len = (size_t) s_get (b + 18, 2);
    if (e->label >= classes)
        return fg_error_set (err, FG_ERANGE, "image table: entry %u: label %u, the set has %u "
                             "classes", i, e->label, classes);
    if (e->height > 65535 || e->width > 65535 || fg_texture_count (g, e->height, e->width) == 0)
        return fg_error_set (err, FG_ERANGE, "image table: entry %u: %ux%u, not 1 .. 65535 "
                             "or smaller than a fragment of %u", i, e->width, e->height,
                             g->fragment);
    if (e->size < 1 || e->size > FG_DATASET_FILE_MAX)
        return fg_error_set (err, FG_ERANGE, "image table: entry %u: a file of %" PRIu64
                             " bytes, not 1 .. %zu", i, e->size, FG_DATASET_FILE_MAX);
    if (*len < 1 || *len > FG_TEXTURE_PATH_MAX || *len > room - S_ENTRY)
        return fg_error_set (err, FG_EFORMAT, "image table: entry %u: a path of %zu bytes "
                             "(1 .. %d, %zu left)", i, *len, FG_TEXTURE_PATH_MAX,
                             room - S_ENTRY);
    const uint8_t *path = b + S_ENTRY;
    for (size_t k = 0; k < *len; k++)
        if (path [k] < 0x20 || path [k] == 0x7f || (k == 0 && path [k] == '/'))
            return fg_error_set (err, FG_EFORMAT, "image table: entry %u: byte %zu of its "
                                 "path is 0x%02x", i, k, path [k]);
    return 0;
}

int
fg_texture_table_decode (const fg_texture_geometry_t *g, const uint8_t *table, size_t size,
                         const uint8_t expect [FG_SHA256_SIZE], uint32_t *count,
                         uint32_t *classes, fg_texture_entry_t **entries, uint32_t *n,
                         fg_error_t *err)
{
    *entries = NULL;
    int rc = fg_texture_check (g, err);
    if (rc)
        return rc;
    if (size < S_HEAD || size > FG_TEXTURE_TABLE_MAX)
        return fg_error_set (err, FG_EFORMAT, "image table of %zu bytes (%d .. %u)", size,
                             S_HEAD, FG_TEXTURE_TABLE_MAX);
    *count = (uint32_t) s_get (table, 4);
    *classes = (uint32_t) s_get (table + 4, 4);
    *n = (uint32_t) s_get (table + 8, 4);
    if (*count < 1 || *count > FG_TEXTURE_FETCH_COUNT_MAX)
        return fg_error_set (err, FG_ERANGE, "image table: a set of %u fragments (1 .. %u)",
                             *count, FG_TEXTURE_FETCH_COUNT_MAX);
    if (*classes < 1 || *classes > FG_DATASET_CLASSES_MAX)
        return fg_error_set (err, FG_ERANGE, "image table: %u classes (1 .. %d)", *classes,
                             FG_DATASET_CLASSES_MAX);
    if (*n < 1 || *n > FG_DATASET_FILES_MAX || *n > (size - S_HEAD) / (S_ENTRY + 1))
        return fg_error_set (err, FG_ERANGE, "image table: %u images (1 .. %u, and %zu bytes "
                             "hold at most %zu)", *n, FG_DATASET_FILES_MAX, size,
                             (size - S_HEAD) / (S_ENTRY + 1));
    //  one block: the entries, then their NUL-terminated paths (at most
    //  the table's bytes after its head, plus a NUL each: a path may run
    //  over where the next entry should be, which is then found short)
    size_t paths = size - S_HEAD + *n;
    fg_texture_entry_t *e = malloc ((size_t) *n * sizeof *e + paths);
    if (!e)
        return fg_error_set (err, FG_ENOMEM, "out of memory for an image table of %u images",
                             *n);
    char *text = (char *) (e + *n);
    size_t at = S_HEAD;
    uint64_t fragments = 0;
    for (uint32_t i = 0; rc == 0 && i < *n; i++) {
        size_t len = 0;
        rc = s_entry (g, table + at, size - at, i, *classes, &e [i], &len, err);
        if (rc)
            break;
        memcpy (text, table + at + S_ENTRY, len);
        text [len] = '\0';
        e [i].path = text;
        text += len + 1;
        at += S_ENTRY + len;
        //  at most 65535^2 x 4 an image, 2^24 images: no overflow
        fragments += fg_texture_count (g, e [i].height, e [i].width);
    }
    if (rc == 0 && at != size)
        rc = fg_error_set (err, FG_EFORMAT, "image table: %zu bytes after its last entry",
                           size - at);
    if (rc == 0 && *count > fragments)
        rc = fg_error_set (err, FG_ERANGE, "image table: %u fragments, its images hold %" PRIu64,
                           *count, fragments);
    uint8_t digest [FG_SHA256_SIZE];
    if (rc == 0)
        fg_texture_table_hash (g, table, size, digest);
    if (rc == 0 && memcmp (digest, expect, FG_SHA256_SIZE))
        rc = fg_error_set (err, FG_EMISMATCH, "the image table (%u images) does not hash to the "
                           "TASK's dataset hash: not the coordinator's set, or another geometry",
                           *n);
    if (rc)
        free (e);
    else
        *entries = e;
    return rc;
}
