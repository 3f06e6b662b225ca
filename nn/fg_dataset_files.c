/*  fg_dataset_files.c — the file-backed source of fg_dataset: a table of
    image files (relative path, label, size at open), each file's stored
    bytes read on first use and kept, every sample decoded when it is used
    (fg_image_decode, then fg_image_fit or an exact-size check). Shared by
    Tiny-ImageNet (fg_dataset_tiny.c), folder sets (fg_dataset_folder.c)
    and the sets built from stored bytes received over the wire
    (fg_dataset_from_stored). Also the bounded directory listing those
    openers use.

    Thread safety: the table is immutable once built except for each
    sample's stored-bytes pointer, which goes from NULL to the bytes once
    (C11 atomic compare-and-swap, acquire/release): two trainers that read
    the same file at once both read it, one publishes, the other frees its
    copy. Nothing else is written after the build, so any number of
    threads may decode at once.                                            */

#include "fg_dataset_internal.h"
#include "fg_config.h"
#include "fg_file.h"
#include "fg_image.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define S_REL_MAX   1024            //  bytes of a relative path
#define S_PATH_MAX  4096            //  bytes of root + "/" + relative path

//  A sample while the table is being filled (sorted, then interleaved)
typedef struct {
    char     *path;                 //  relative path, owned
    uint64_t  size;                 //  bytes at open
    uint16_t  label;
} s_entry_t;

//  A sample of the built table
typedef struct {
    char     *path;                 //  relative path (or "sample N"), owned
    uint64_t  size;
    _Atomic (uint8_t *) bytes;      //  stored bytes, NULL until first read
    uint32_t  label;
} s_sample_t;

struct _fg_files_t {
    char       *root;               //  NULL for a set of stored bytes
    uint32_t    classes;
    s_entry_t  *entries;            //  while filling
    size_t      nentries, room;
    s_sample_t *samples;            //  once built
    size_t      count;
    bool        fit;                //  fg_image_fit to the side, else exact size
    bool        stored_hash;        //  fgst1 (content of stored bytes), else fgds2
};

//  --------------------------------------------------------------------------
//  Directory listing

static int
s_compare_dirent (const void *a, const void *b)
{
    return strcmp (((const fg_dirent_t *) a)->name, ((const fg_dirent_t *) b)->name);
}

void
fg_files_list_free (fg_dirent_t **entries_p, size_t count)
{
    if (entries_p && *entries_p) {
        for (size_t i = 0; i < count; i++)
            free ((*entries_p) [i].name);
        free (*entries_p);
        *entries_p = NULL;
    }
}

//  Adds one directory entry (stat through symbolic links); skips what is
//  neither a regular file nor a directory.
static int
s_list_add (int dirfd, const char *dir, const char *name, fg_dirent_t **entries, size_t *count,
            size_t *room, fg_error_t *err)
{
    size_t len = strlen (name);
    if (len > FG_DATASET_NAME_MAX)
        return fg_error_set (err, FG_ERANGE, "%s: an entry's name has %zu bytes (at most %d): "
                             "%.64s...", dir, len, FG_DATASET_NAME_MAX, name);
    struct stat st;
    if (fstatat (dirfd, name, &st, 0))
        return fg_error_set (err, FG_EIO, "%s/%s: %s", dir, name, strerror (errno));
    if (!S_ISREG (st.st_mode) && !S_ISDIR (st.st_mode))
        return 0;
    if (*count == FG_DATASET_FILES_MAX)
        return fg_error_set (err, FG_ERANGE, "%s: more than %u entries", dir,
                             FG_DATASET_FILES_MAX);
    if (*count == *room) {
        size_t room2 = *room? *room * 2: 64;
        fg_dirent_t *grown = realloc (*entries, room2 * sizeof *grown);
        if (!grown)
            return fg_error_set (err, FG_ENOMEM, "%s: out of memory", dir);
        *entries = grown;
        *room = room2;
    }
    char *copy = strdup (name);
    if (!copy)
        return fg_error_set (err, FG_ENOMEM, "%s: out of memory", dir);
    (*entries) [*count].name = copy;
    (*entries) [*count].size = (uint64_t) st.st_size;
    (*entries) [*count].dir = S_ISDIR (st.st_mode);
    (*count)++;
    return 0;
}

int
fg_files_list (const char *dir, fg_dirent_t **entries, size_t *count, fg_error_t *err)
{
    *entries = NULL;
    *count = 0;
    DIR *d = opendir (dir);
    if (!d)
        return fg_error_set (err, errno == ENOENT? FG_ENOENT: FG_EIO, "%s: %s", dir,
                             strerror (errno));
    size_t room = 0;
    int rc = 0;
    struct dirent *e;
    errno = 0;
    while (rc == 0 && (e = readdir (d))) {
        if (strcmp (e->d_name, ".") && strcmp (e->d_name, ".."))
            rc = s_list_add (dirfd (d), dir, e->d_name, entries, count, &room, err);
        errno = 0;
    }
    if (rc == 0 && errno)
        rc = fg_error_set (err, FG_EIO, "%s: %s", dir, strerror (errno));
    closedir (d);
    if (rc) {
        fg_files_list_free (entries, *count);
        *count = 0;
        return rc;
    }
    if (*count)
        qsort (*entries, *count, sizeof **entries, s_compare_dirent);
    return 0;
}

bool
fg_files_has_extension (const char *name, const char *const *extensions)
{
    const char *dot = strrchr (name, '.');
    if (!dot || dot == name)
        return false;
    for (size_t e = 0; extensions [e]; e++)
        if (strcasecmp (dot + 1, extensions [e]) == 0)
            return true;
    return false;
}

//  --------------------------------------------------------------------------
//  Building the table

int
fg_files_new (const char *root, uint32_t classes, fg_files_t **out, fg_error_t *err)
{
    *out = NULL;
    fg_files_t *self = calloc (1, sizeof *self);
    if (self && root && !(self->root = strdup (root))) {
        free (self);
        self = NULL;
    }
    if (!self)
        return fg_error_set (err, FG_ENOMEM, "%s: out of memory", root? root: "stored samples");
    self->classes = classes;
    *out = self;
    return 0;
}

static void
s_files_free (void *state)
{
    fg_files_t *self = state;
    if (!self)
        return;
    for (size_t i = 0; i < self->nentries; i++)
        free (self->entries [i].path);
    free (self->entries);
    for (size_t i = 0; i < self->count; i++) {
        free (self->samples [i].path);
        free (atomic_load_explicit (&self->samples [i].bytes, memory_order_relaxed));
    }
    free (self->samples);
    free (self->root);
    free (self);
}

void
fg_files_destroy (fg_files_t **self_p)
{
    if (self_p && *self_p) {
        s_files_free (*self_p);
        *self_p = NULL;
    }
}

int
fg_files_add (fg_files_t *self, const char *relpath, uint32_t label, uint64_t size,
              fg_error_t *err)
{
    assert (self && !self->samples);
    const char *root = self->root? self->root: "stored samples";
    size_t len = strlen (relpath);
    if (len == 0 || len > S_REL_MAX)
        return fg_error_set (err, FG_ERANGE, "%s: relative path of %zu bytes (1..%d)", root,
                             len, S_REL_MAX);
    if (label >= self->classes)
        return fg_error_set (err, FG_ERANGE, "%s/%s: label %u, expected < %u", root, relpath,
                             label, self->classes);
    if (size > FG_DATASET_FILE_MAX)
        return fg_error_set (err, FG_ERANGE, "%s/%s: %llu bytes, above the %zu of an image file",
                             root, relpath, (unsigned long long) size, FG_DATASET_FILE_MAX);
    if (self->nentries == FG_DATASET_FILES_MAX)
        return fg_error_set (err, FG_ERANGE, "%s: more than %u image files", root,
                             FG_DATASET_FILES_MAX);
    if (self->nentries == self->room) {
        size_t room = self->room? self->room * 2: 256;
        s_entry_t *grown = realloc (self->entries, room * sizeof *grown);
        if (!grown)
            return fg_error_set (err, FG_ENOMEM, "%s: out of memory", root);
        self->entries = grown;
        self->room = room;
    }
    char *copy = strdup (relpath);
    if (!copy)
        return fg_error_set (err, FG_ENOMEM, "%s: out of memory", root);
    self->entries [self->nentries++] = (s_entry_t) { copy, size, (uint16_t) label };
    return 0;
}

static int
s_compare_entry (const void *a, const void *b)
{
    const s_entry_t *x = a, *y = b;
    if (x->label != y->label)
        return x->label < y->label? -1: 1;
    return strcmp (x->path, y->path);
}

//  Moves the entries into the sample table in round-robin class order:
//  round r takes the r-th file (byte order of path) of every class that
//  has one, classes in label order; the first `keep` samples are kept.
static int
s_interleave (fg_files_t *self, size_t keep, fg_error_t *err)
{
    qsort (self->entries, self->nentries, sizeof *self->entries, s_compare_entry);
    for (size_t i = 1; i < self->nentries; i++)
        if (self->entries [i].label == self->entries [i - 1].label
        &&  strcmp (self->entries [i].path, self->entries [i - 1].path) == 0)
            return fg_error_set (err, FG_EFORMAT, "%s: %s is listed twice", self->root,
                                 self->entries [i].path);
    size_t *start = calloc ((size_t) self->classes + 1, sizeof *start);
    self->samples = calloc (keep, sizeof *self->samples);
    if (!start || !self->samples) {
        free (start);
        return fg_error_set (err, FG_ENOMEM, "%s: out of memory for %zu samples", self->root, keep);
    }
    for (size_t i = 0; i < self->nentries; i++)
        start [self->entries [i].label + 1]++;
    for (uint32_t k = 0; k < self->classes; k++)
        start [k + 1] += start [k];
    for (size_t round = 0; self->count < keep; round++)
        for (uint32_t k = 0; k < self->classes && self->count < keep; k++)
            if (start [k] + round < start [k + 1]) {
                s_entry_t *e = &self->entries [start [k] + round];
                s_sample_t *s = &self->samples [self->count++];
                s->path = e->path;
                s->size = e->size;
                s->label = e->label;
                atomic_init (&s->bytes, NULL);
                e->path = NULL;
            }
    free (start);
    for (size_t i = 0; i < self->nentries; i++)
        free (self->entries [i].path);
    free (self->entries);
    self->entries = NULL;
    self->nentries = 0;
    return 0;
}

//  --------------------------------------------------------------------------
//  The source callbacks

//  The name of sample i in messages: its full path, or "<set> sample N"
static void
s_sample_name (const fg_dataset_t *ds, size_t i, char *name, size_t size)
{
    const fg_files_t *self = ds->src.state;
    if (self->root)
        snprintf (name, size, "%s/%s", self->root, self->samples [i].path);
    else
        snprintf (name, size, "%s sample %u", ds->name, ds->origin? ds->origin [i]: (uint32_t) i);
}

static int
s_stored (const fg_dataset_t *ds, size_t i, const uint8_t **bytes, size_t *size,
          fg_error_t *err)
{
    const fg_files_t *self = ds->src.state;
    s_sample_t *s = &self->samples [i];
    uint8_t *have = atomic_load_explicit (&s->bytes, memory_order_acquire);
    if (!have) {
        char path [S_PATH_MAX];
        s_sample_name (ds, i, path, sizeof path);
        char *data;
        size_t got;
        int rc = fg_file_read (path, FG_DATASET_FILE_MAX, &data, &got, err);
        if (rc)
            return rc;
        if (got != s->size) {
            free (data);
            return fg_error_set (err, FG_EFORMAT, "%s: %zu bytes, %llu when the set was opened "
                                 "(the file changed)", path, got, (unsigned long long) s->size);
        }
        uint8_t *expected = NULL;
        if (atomic_compare_exchange_strong_explicit (&s->bytes, &expected, (uint8_t *) data,
                                                     memory_order_acq_rel, memory_order_acquire))
            have = (uint8_t *) data;
        else {
            free (data);                //  another thread published first
            have = expected;
        }
    }
    *bytes = have;
    *size = (size_t) s->size;
    return 0;
}

static int
s_image (const fg_dataset_t *ds, size_t i, uint8_t *out, fg_error_t *err)
{
    const fg_files_t *self = ds->src.state;
    const uint8_t *bytes;
    size_t size;
    int rc = s_stored (ds, i, &bytes, &size, err);
    if (rc)
        return rc;
    char name [S_PATH_MAX];
    s_sample_name (ds, i, name, sizeof name);
    fg_image_t image;
    rc = fg_image_decode (bytes, size, name, ds->channels, &image, err);
    if (rc)
        return rc;
    if (self->fit)
        rc = fg_image_fit (&image, ds->height, out, err);
    else
    if (image.height != ds->height || image.width != ds->width)
        rc = fg_error_set (err, FG_EMISMATCH, "%s: %ux%u image, expected %ux%u", name,
                           image.width, image.height, ds->width, ds->height);
    else
        memcpy (out, image.pixels, (size_t) ds->height * ds->width * ds->channels);
    fg_image_release (&image);
    return rc;
}

static void
s_put_le (fg_sha256_t *sha, uint64_t v, int bytes)
{
    uint8_t b [8];
    for (int k = 0; k < bytes; k++)
        b [k] = (uint8_t) (v >> (8 * k));
    fg_sha256_update (sha, b, (size_t) bytes);
}

//  fgds2 (over the index) or fgst1 (over the stored bytes), fg_dataset.h
static void
s_hash (const fg_dataset_t *ds, uint8_t digest [FG_SHA256_SIZE])
{
    const fg_files_t *self = ds->src.state;
    fg_sha256_t sha;
    fg_sha256_init (&sha);
    fg_sha256_update (&sha, self->stored_hash? "fgst1": "fgds2", 5);
    s_put_le (&sha, ds->count, 4);
    s_put_le (&sha, ds->classes, 4);
    s_put_le (&sha, ds->height, 4);
    s_put_le (&sha, ds->width, 4);
    s_put_le (&sha, ds->channels, 4);
    for (size_t i = 0; i < self->count; i++) {
        const s_sample_t *s = &self->samples [i];
        s_put_le (&sha, s->label, 2);
        s_put_le (&sha, s->size, 8);
        if (self->stored_hash) {
            uint8_t inner [FG_SHA256_SIZE];
            fg_sha256 (atomic_load_explicit (&s->bytes, memory_order_acquire), s->size, inner);
            fg_sha256_update (&sha, inner, sizeof inner);
        }
        else {
            size_t len = strlen (s->path);
            s_put_le (&sha, len, 2);
            fg_sha256_update (&sha, s->path, len);
        }
    }
    fg_sha256_final (&sha, digest);
}

//  --------------------------------------------------------------------------
//  The dataset

int
fg_files_build (fg_files_t **files_p, int kind, fg_split_t split, uint32_t side, bool fit,
                size_t limit, fg_dataset_t **out, fg_error_t *err)
{
    fg_files_t *self = *files_p;
    *files_p = NULL;
    *out = NULL;
    const char *root = self->root? self->root: "stored samples";
    if (self->nentries == 0) {
        int rc = fg_error_set (err, FG_ENOENT, "%s: no image file for the %s split", root,
                               fg_dataset_split_name (split));
        s_files_free (self);
        return rc;
    }
    size_t keep = limit && limit < self->nentries? limit: self->nentries;
    int rc = s_interleave (self, keep, err);
    if (rc) {
        s_files_free (self);
        return rc;
    }
    self->fit = fit;
    fg_dataset_source_t src = { s_image, s_stored, s_hash, s_files_free, self };
    fg_dataset_t *ds;
    rc = fg_dataset_alloc_source (kind, split, self->count, self->classes, side, side, 3, &src,
                                  &ds, err);
    if (rc)
        return rc;                      //  the source is freed
    for (size_t i = 0; i < self->count; i++)
        ds->labels [i] = (uint16_t) self->samples [i].label;
    fg_dataset_finish (ds, NULL);
    *out = ds;
    return 0;
}

int
fg_dataset_from_stored (int kind, fg_split_t split, const uint8_t source [FG_SHA256_SIZE],
                        uint32_t classes, uint32_t side, size_t n, const uint32_t *indices,
                        const uint16_t *labels, const uint8_t *const *bytes,
                        const size_t *sizes, fg_dataset_t **out, fg_error_t *err)
{
    *out = NULL;
    const char *kname = fg_dataset_kind_name (kind);
    if (kind != FG_DATASET_TINY_IMAGENET && kind != FG_DATASET_FOLDER)
        return fg_error_set (err, FG_EINVAL, "%s: not a set of image files", kname);
    if (split != FG_SPLIT_TRAIN && split != FG_SPLIT_TEST)
        return fg_error_set (err, FG_EINVAL, "%s: bad split %d", kname, (int) split);
    if (n == 0 || n > UINT32_MAX || !indices || !labels || !bytes || !sizes)
        return fg_error_set (err, FG_EINVAL, "%s subset: %zu samples (expected 1..%u)", kname,
                             n, UINT32_MAX);
    if (classes == 0 || classes > FG_DATASET_CLASSES_MAX || side < 8
    ||  side > FG_DATASET_SIDE_MAX || (kind == FG_DATASET_TINY_IMAGENET && side != 64))
        return fg_error_set (err, FG_EINVAL, "%s subset: %u classes of %ux%u images is not "
                             "a set of this kind", kname, classes, side, side);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && indices [i] <= indices [i - 1])
            return fg_error_set (err, FG_EINVAL, "%s subset: index %u at position %zu does "
                                 "not follow %u (indices must be strictly increasing)",
                                 kname, indices [i], i, indices [i - 1]);
        if (labels [i] >= classes)
            return fg_error_set (err, FG_ERANGE, "%s subset: sample %u: label %u, expected "
                                 "< %u", kname, indices [i], labels [i], classes);
        if (sizes [i] == 0 || sizes [i] > FG_DATASET_FILE_MAX || !bytes [i])
            return fg_error_set (err, FG_ERANGE, "%s subset: sample %u: %zu stored bytes "
                                 "(1..%zu)", kname, indices [i], sizes [i], FG_DATASET_FILE_MAX);
    }
    fg_files_t *self;
    int rc = fg_files_new (NULL, classes, &self, err);
    if (rc)
        return rc;
    self->samples = calloc (n, sizeof *self->samples);
    uint32_t *origin = malloc (n * sizeof *origin);
    for (size_t i = 0; self->samples && origin && i < n; i++, self->count++) {
        s_sample_t *s = &self->samples [i];
        uint8_t *copy = malloc (sizes [i]);
        if (!copy)
            break;
        memcpy (copy, bytes [i], sizes [i]);
        atomic_init (&s->bytes, copy);
        s->size = sizes [i];
        s->label = labels [i];
        origin [i] = indices [i];
    }
    if (self->count < n) {
        free (origin);
        s_files_free (self);
        return fg_error_set (err, FG_ENOMEM, "%s subset: out of memory for %zu samples", kname, n);
    }
    self->fit = kind == FG_DATASET_FOLDER;
    self->stored_hash = true;
    fg_dataset_source_t src = { s_image, s_stored, s_hash, s_files_free, self };
    fg_dataset_t *ds;
    rc = fg_dataset_alloc_source (kind, split, n, classes, side, side, 3, &src, &ds, err);
    if (rc) {
        free (origin);
        return rc;
    }
    ds->origin = origin;
    for (size_t i = 0; i < n; i++)
        ds->labels [i] = labels [i];
    snprintf (ds->name, sizeof ds->name, "%s %s subset", kname, fg_dataset_split_name (split));
    memcpy (ds->source, source, FG_SHA256_SIZE);
    fg_dataset_finish (ds, NULL);
    *out = ds;
    return 0;
}
