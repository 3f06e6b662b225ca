/*  fg_dataset_texture.c — the texture set as an fg_dataset source: an
    index of large images (class folders, split by whole image), their
    fragments in layout order (fg_texture.h), and a bounded cache of the
    images decoded and scaled to the model's resolution.

    Why a cache of scaled images: decoding a 2272x1074 JPEG costs ~25 ms,
    and a random batch touches fragments of as many images as it has
    samples, so decoding per fragment would cap a trainer at ~40
    fragments/s. An image scaled by side / fragment (fg_texture_scale) is
    1 / 16 of its decoded size at 64 / 256 (0.46 MB instead of 7.3 MB), so
    the study's 654 images fit in 0.3 GB and every fragment after the first
    of its image is a copy, a contrast stretch and a rotation. Cutting from
    the scaled image is bit for bit the fragment resized on its own
    (fg_texture.h), so the cache changes speed, never results.

    Thread safety: one mutex guards the cache; a miss marks its slot
    loading, decodes outside the lock, then publishes (other threads that
    want that image wait on a condition variable instead of decoding it
    again). A slot in use is pinned and never evicted, so the bound is
    max (texture_cache_mb, the images in use at once).                     */

#include "fg_dataset_internal.h"
#include "fg_file.h"
#include "fg_image.h"
#include "fg_texture.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_PATH_MAX  4096
#define S_HEAD      ((size_t) 256 << 10)    //  bytes read to probe a header first

static const char *s_extensions [] = { "png", "jpg", "jpeg", NULL };

//  One source image
typedef struct {
    char     *path;                 //  relative to the root: "<class>/<name>"
    uint64_t  size;                 //  file bytes at open
    uint32_t  height, width;        //  source pixels
    uint16_t  label;
} s_image_t;

//  Its cache slot
typedef struct {
    uint8_t  *pixels;               //  scaled image, or NULL
    size_t    bytes;
    uint64_t  used;                 //  tick of the last use (LRU)
    uint32_t  pins;                 //  cuts in progress
    bool      loading;
} s_slot_t;

typedef struct {
    char                 *root;     //  NULL: a set from a fetched table
    fg_texture_geometry_t g;
    uint32_t              nimages;
    s_image_t            *images;
    fg_texture_layout_t  *layout;
    uint8_t              *table;    //  the image table (fg_texture.h)
    size_t                table_size;
    uint64_t             *first;    //  nimages + 1: image i's first piece;
                                    //  [nimages] = pieces of the set
    uint8_t             **given;    //  root NULL: each image's stored bytes
                                    //  (fg_dataset_texture_give), or NULL
    pthread_mutex_t       lock;
    pthread_cond_t        loaded;
    s_slot_t             *slots;
    uint64_t              tick, hits, misses;
    size_t                held, peak, bound;
} s_texture_t;

static void
s_texture_free (void *state)
{
    s_texture_t *self = state;
    if (!self)
        return;
    for (uint32_t i = 0; i < self->nimages; i++) {
        free (self->images [i].path);
        if (self->slots)
            free (self->slots [i].pixels);
        if (self->given)
            free (self->given [i]);
    }
    free (self->given);
    free (self->table);
    free (self->first);
    free (self->images);
    free (self->slots);
    free (self->root);
    fg_texture_layout_destroy (&self->layout);
    pthread_mutex_destroy (&self->lock);
    pthread_cond_destroy (&self->loaded);
    free (self);
}

//  --------------------------------------------------------------------------
//  Options

void
fg_texture_options_from_config (const fg_config_t *cfg, fg_texture_options_t *opt)
{
    memset (opt, 0, sizeof *opt);
    opt->geometry.fragment = (uint32_t) cfg->data.texture_fragment;
    opt->geometry.stride = (uint32_t) cfg->data.texture_stride;
    opt->geometry.rotations = (uint32_t) cfg->data.texture_rotations;
    opt->geometry.side = (uint32_t) cfg->data.image_size;
    opt->geometry.contrast_q8 = (uint32_t) floor (cfg->data.texture_contrast * 256.0 + 0.5);
    opt->test_share = cfg->data.texture_test_share;
    opt->cache_bytes = (uint64_t) cfg->data.texture_cache_mb << 20;
}

//  --------------------------------------------------------------------------
//  Reading and decoding an image

//  Reads up to max bytes of path (the whole file when max >= size).
static int
s_read (const char *path, uint64_t size, size_t max, uint8_t **out, size_t *got,
        fg_error_t *err)
{
    *out = NULL;
    size_t want = size < max? (size_t) size: max;
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fg_error_set (err, fg_file_errno_code (errno), "%s: %s", path,
                             fg_file_strerror (errno));
    uint8_t *buf = malloc (want? want: 1);
    if (!buf) {
        close (fd);
        return fg_error_set (err, FG_ENOMEM, "%s: out of memory for %zu bytes", path, want);
    }
    size_t done = 0;
    while (done < want) {
        ssize_t n = pread (fd, buf + done, want - done, (off_t) done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = errno;
            close (fd);
            free (buf);
            if (n == 0)
                return fg_error_set (err, FG_EFORMAT, "%s: the file shrank since the set was "
                                     "opened (%zu bytes, %llu expected)", path, done,
                                     (unsigned long long) size);
            return fg_error_set (err, FG_EIO, "%s: %s", path, fg_file_strerror (e));
        }
        done += (size_t) n;
    }
    close (fd);
    *out = buf;
    *got = done;
    return 0;
}

//  Decodes image i and scales it: *pixels (owned) of scaled h x w x 3.
static int
s_load (const s_texture_t *self, uint32_t i, uint8_t **pixels, size_t *bytes, fg_error_t *err)
{
    const s_image_t *im = &self->images [i];
    char path [S_PATH_MAX];
    uint8_t *file = NULL;
    size_t size = 0;
    int rc = 0;
    if (self->root) {
        snprintf (path, sizeof path, "%s/%s", self->root, im->path);
        rc = s_read (path, im->size, (size_t) im->size, &file, &size, err);
    }
    else {                          //  fetched: the bytes given (never changed once given)
        snprintf (path, sizeof path, "texture image %u (%s)", i, im->path);
        if (!self->given [i])
            rc = fg_error_set (err, FG_ENOENT, "%s: not fetched", path);
        size = (size_t) im->size;
    }
    if (rc)
        return rc;
    fg_image_t image;
    rc = fg_image_decode (self->root? file: self->given [i], size, path, 3, &image, err);
    free (file);
    if (rc)
        return rc;
    if (image.height != im->height || image.width != im->width) {
        fg_image_release (&image);
        return fg_error_set (err, FG_EFORMAT, "%s: decodes to %ux%u, its header said %ux%u",
                             path, image.width, image.height, im->width, im->height);
    }
    uint32_t sh, sw;
    fg_texture_scaled_shape (&self->g, im->height, im->width, &sh, &sw);
    *bytes = (size_t) sh * sw * 3;
    *pixels = malloc (*bytes);
    if (!*pixels)
        rc = fg_error_set (err, FG_ENOMEM, "%s: out of memory for the scaled image", path);
    else
        rc = fg_texture_scale (&self->g, image.pixels, im->height, im->width, 3, *pixels, err);
    fg_image_release (&image);
    if (rc) {
        free (*pixels);
        *pixels = NULL;
    }
    return rc;
}

//  --------------------------------------------------------------------------
//  The cache

//  Under the lock: evicts least recently used, unpinned images until
//  `need` more bytes fit under the bound (or nothing more can go).
static void
s_evict (s_texture_t *self, size_t need)
{
    while (self->held + need > self->bound) {
        uint32_t victim = UINT32_MAX;
        for (uint32_t i = 0; i < self->nimages; i++) {
            const s_slot_t *s = &self->slots [i];
            if (s->pixels && !s->pins
            &&  (victim == UINT32_MAX || s->used < self->slots [victim].used))
                victim = i;
        }
        if (victim == UINT32_MAX)
            return;
        s_slot_t *s = &self->slots [victim];
        free (s->pixels);
        s->pixels = NULL;
        self->held -= s->bytes;
        s->bytes = 0;
    }
}

//  Pins image i's scaled pixels (decoding them on a miss); the caller
//  unpins with s_unpin. Returns 0 or the decode error.
static int
s_pin (s_texture_t *self, uint32_t i, const uint8_t **pixels, fg_error_t *err)
{
    s_slot_t *slot = &self->slots [i];
    pthread_mutex_lock (&self->lock);
    while (slot->loading)
        pthread_cond_wait (&self->loaded, &self->lock);
    if (slot->pixels) {
        self->hits++;
        slot->pins++;
        slot->used = ++self->tick;
        *pixels = slot->pixels;
        pthread_mutex_unlock (&self->lock);
        return 0;
    }
    self->misses++;
    slot->loading = true;
    pthread_mutex_unlock (&self->lock);

    uint8_t *loaded = NULL;
    size_t bytes = 0;
    int rc = s_load (self, i, &loaded, &bytes, err);

    pthread_mutex_lock (&self->lock);
    slot->loading = false;
    if (rc == 0) {
        s_evict (self, bytes);
        slot->pixels = loaded;
        slot->bytes = bytes;
        slot->pins++;
        slot->used = ++self->tick;
        self->held += bytes;
        if (self->held > self->peak)
            self->peak = self->held;
        *pixels = loaded;
    }
    pthread_cond_broadcast (&self->loaded);
    pthread_mutex_unlock (&self->lock);
    return rc;
}

static void
s_unpin (s_texture_t *self, uint32_t i)
{
    pthread_mutex_lock (&self->lock);
    assert (self->slots [i].pins > 0);
    self->slots [i].pins--;
    pthread_mutex_unlock (&self->lock);
}

//  The source's image callback: fragment i of the set into out.
static int
s_image (const fg_dataset_t *ds, size_t i, uint8_t *out, fg_error_t *err)
{
    s_texture_t *self = ds->src.state;
    uint32_t image;
    uint64_t j;
    fg_texture_layout_locate (self->layout, i, &image, &j);
    const s_image_t *im = &self->images [image];
    fg_texture_place_t place;
    fg_texture_place (&self->g, im->height, im->width, j, &place);
    const uint8_t *pixels;
    int rc = s_pin (self, image, &pixels, err);
    if (rc)
        return rc;
    uint32_t sh, sw;
    fg_texture_scaled_shape (&self->g, im->height, im->width, &sh, &sw);
    size_t frag = (size_t) self->g.side * self->g.side * 3;
    uint8_t stack [64 * 64 * 3];
    uint8_t *tmp = frag <= sizeof stack? stack: malloc (frag);
    if (tmp)
        fg_texture_cut (&self->g, pixels, sh, sw, 3, &place, tmp, out);
    s_unpin (self, image);
    if (!tmp)
        return fg_error_set (err, FG_ENOMEM, "texture: out of memory for a fragment");
    if (tmp != stack)
        free (tmp);
    return 0;
}

//  --------------------------------------------------------------------------
//  Content hash: the index, cheap at open (no pixel is decoded): fgtx1 of
//  the image table (fg_texture.h), which a fetching trainer rebuilds

static void
s_hash (const fg_dataset_t *ds, uint8_t digest [FG_SHA256_SIZE])
{
    const s_texture_t *self = ds->src.state;
    fg_texture_table_hash (&self->g, self->table, self->table_size, digest);
}

void
fg_dataset_texture_stats (const fg_dataset_t *ds, uint64_t *hits, uint64_t *misses,
                          uint64_t *bytes, uint64_t *peak_bytes)
{
    *hits = *misses = *bytes = *peak_bytes = 0;
    if (!ds || ds->kind != FG_DATASET_TEXTURE || ds->pixels || !ds->src.state)
        return;
    s_texture_t *self = ds->src.state;
    pthread_mutex_lock (&self->lock);
    *hits = self->hits;
    *misses = self->misses;
    *bytes = self->held;
    *peak_bytes = self->peak;
    pthread_mutex_unlock (&self->lock);
}

//  --------------------------------------------------------------------------
//  Opening: the index

//  Reads image i's header (the first S_HEAD bytes, the whole file when
//  that is not enough) for its size; refuses an image smaller than a
//  fragment.
static int
s_probe (s_texture_t *self, uint32_t i, fg_error_t *err)
{
    s_image_t *im = &self->images [i];
    char path [S_PATH_MAX];
    snprintf (path, sizeof path, "%s/%s", self->root, im->path);
    uint32_t h = 0, w = 0, c = 0;
    int rc = FG_EFORMAT;
    for (int pass = 0; pass < 2 && rc == FG_EFORMAT; pass++) {
        if (pass == 1 && im->size <= S_HEAD)
            break;
        uint8_t *head = NULL;
        size_t got = 0;
        rc = s_read (path, im->size, pass? (size_t) im->size: S_HEAD, &head, &got, err);
        if (rc == 0)
            rc = fg_image_probe (head, got, path, &h, &w, &c, err);
        free (head);
    }
    if (rc)
        return rc;
    im->height = h;
    im->width = w;
    if (fg_texture_count (&self->g, h, w) == 0)
        return fg_error_set (err, FG_ERANGE, "%s: %ux%u is smaller than a fragment of %ux%u "
                             "(data.texture_fragment)", path, w, h, self->g.fragment,
                             self->g.fragment);
    return 0;
}

//  The images of one class folder that belong to split, appended to
//  *list (relative paths) in byte order of name.
static int
s_class_images (s_texture_t *self, const char *klass, uint32_t label, fg_split_t split,
                double share, s_image_t **list, size_t *count, fg_error_t *err)
{
    char dir [S_PATH_MAX];
    if (snprintf (dir, sizeof dir, "%s/%s", self->root, klass) >= (int) sizeof dir)
        return fg_error_set (err, FG_ERANGE, "%s/%s: path too long", self->root, klass);
    fg_dirent_t *entries = NULL;
    size_t nentries = 0, n = 0;
    int rc = fg_files_list (dir, &entries, &nentries, err);
    if (rc)
        return rc;
    for (size_t e = 0; e < nentries; e++)           //  keep the images, in place
        if (!entries [e].dir && entries [e].name [0] != '.'
        &&  fg_files_has_extension (entries [e].name, s_extensions))
            entries [n++] = entries [e];
        else
            free (entries [e].name);
    bool *test = NULL;
    s_image_t *grown = NULL;
    if (n == 0)
        rc = fg_error_set (err, FG_ENOENT, "%s: no image (.png, .jpg, .jpeg) in this class "
                           "folder", dir);
    else
    if (n > UINT32_MAX || !(test = malloc (n * sizeof (bool)))
    ||  !(grown = realloc (*list, (*count + n) * sizeof **list)))
        rc = fg_error_set (err, FG_ENOMEM, "%s: out of memory for %zu images", dir, n);
    else {
        *list = grown;
        rc = fg_texture_split (label, (uint32_t) n, share, test, err);
    }
    for (size_t e = 0; e < n; e++) {
        if (rc == 0 && entries [e].size > FG_DATASET_FILE_MAX)
            rc = fg_error_set (err, FG_ERANGE, "%s/%s: %llu bytes, above the %zu MiB an image "
                               "file may have", dir, entries [e].name,
                               (unsigned long long) entries [e].size, FG_DATASET_FILE_MAX >> 20);
        if (rc == 0 && test [e] == (split == FG_SPLIT_TEST)) {
            s_image_t *im = &(*list) [*count];
            memset (im, 0, sizeof *im);
            im->label = (uint16_t) label;
            im->size = entries [e].size;
            size_t len = strlen (klass) + 1 + strlen (entries [e].name) + 1;
            if (!(im->path = malloc (len)))
                rc = fg_error_set (err, FG_ENOMEM, "%s: out of memory", dir);
            else {
                snprintf (im->path, len, "%s/%s", klass, entries [e].name);
                (*count)++;
            }
        }
        free (entries [e].name);
    }
    free (entries);
    free (test);
    return rc;
}

//  Lists the classes and their images of split, class-interleaved.
static int
s_index (s_texture_t *self, fg_split_t split, double share, uint32_t *classes,
         fg_error_t *err)
{
    fg_dirent_t *entries = NULL;
    size_t nentries = 0, k = 0;
    int rc = fg_files_list (self->root, &entries, &nentries, err);
    if (rc)
        return rc;
    s_image_t *list = NULL;
    size_t count = 0;
    size_t *starts = calloc (nentries + 1, sizeof (size_t));
    if (!starts)
        rc = fg_error_set (err, FG_ENOMEM, "%s: out of memory", self->root);
    for (size_t e = 0; e < nentries && rc == 0; e++) {
        if (!entries [e].dir || entries [e].name [0] == '.')
            continue;
        if (k == FG_DATASET_CLASSES_MAX)
            rc = fg_error_set (err, FG_ERANGE, "%s: more than %d class folders", self->root,
                               FG_DATASET_CLASSES_MAX);
        else {
            starts [k] = count;
            rc = s_class_images (self, entries [e].name, (uint32_t) k, split, share, &list,
                                 &count, err);
            k++;
        }
    }
    fg_files_list_free (&entries, nentries);
    if (rc == 0 && k == 0)
        rc = fg_error_set (err, FG_ENOENT, "%s: no class folder (the texture set is "
                           "<class>/<image>.{png,jpg,jpeg})", self->root);
    if (rc == 0 && count == 0)
        rc = fg_error_set (err, FG_ENOENT, "%s: the %s split holds no image "
                           "(data.texture_test_share = %g)", self->root,
                           fg_dataset_split_name (split), share);
    if (rc == 0 && !(self->images = malloc (count * sizeof (s_image_t))))
        rc = fg_error_set (err, FG_ENOMEM, "%s: out of memory", self->root);
    if (rc == 0) {
        //  Round-robin over classes: image i is the next of class i mod K
        starts [k] = count;
        size_t *next = starts;                      //  advanced in place
        size_t *ends = malloc (k * sizeof (size_t));
        if (!ends)
            rc = fg_error_set (err, FG_ENOMEM, "%s: out of memory", self->root);
        for (size_t c = 0; ends && c < k; c++)
            ends [c] = starts [c + 1];
        while (ends && self->nimages < count)
            for (size_t c = 0; c < k; c++)
                if (next [c] < ends [c])
                    self->images [self->nimages++] = list [next [c]++];
        free (ends);
    }
    if (rc)
        for (size_t i = 0; i < count; i++)
            free (list [i].path);
    free (list);
    free (starts);
    *classes = (uint32_t) k;
    return rc;
}

//  --------------------------------------------------------------------------
//  Opening

static int
s_check_options (const char *path, fg_split_t split, const fg_texture_options_t *opt,
                 fg_error_t *err)
{
    if (split != FG_SPLIT_TRAIN && split != FG_SPLIT_TEST)
        return fg_error_set (err, FG_EINVAL, "texture: split %d is neither train nor test", split);
    if (!path || !*path)
        return fg_error_set (err, FG_EINVAL, "texture: no path given (data.path)");
    if (strlen (path) > S_PATH_MAX / 2)
        return fg_error_set (err, FG_ERANGE, "texture: data.path is too long");
    if (!(opt->test_share >= 0 && opt->test_share <= 1))
        return fg_error_set (err, FG_EINVAL, "texture: data.texture_test_share = %g is outside "
                             "0 .. 1", opt->test_share);
    return fg_texture_check (&opt->geometry, err);
}

//  The image table of the samples kept (count of them, classes) and the
//  pieces of the set: the table's, then each image's (fg_texture.h).
static int
s_table (s_texture_t *self, uint32_t count, uint32_t classes, fg_error_t *err)
{
    fg_texture_entry_t *entries = malloc (self->nimages * sizeof *entries);
    self->first = malloc ((self->nimages + (size_t) 1) * sizeof (uint64_t));
    if (!entries || !self->first) {
        free (entries);
        return fg_error_set (err, FG_ENOMEM, "texture: out of memory for the image table");
    }
    for (uint32_t i = 0; i < self->nimages; i++) {
        const s_image_t *im = &self->images [i];
        entries [i] = (fg_texture_entry_t) { im->label, im->height, im->width, im->size,
                                             im->path };
    }
    int rc = self->table? 0: fg_texture_table_encode (count, classes, entries, self->nimages,
                                                     &self->table, &self->table_size, err);
    free (entries);
    if (rc)
        return rc;
    uint64_t pieces = fg_texture_pieces (self->table_size);
    for (uint32_t i = 0; i < self->nimages; i++) {
        self->first [i] = pieces;
        pieces += fg_texture_pieces (self->images [i].size);
    }
    self->first [self->nimages] = pieces;
    if (pieces > UINT32_MAX)
        return fg_error_set (err, FG_ERANGE, "texture: %llu pieces of %u bytes, more than %u "
                             "(the images are too large to be fetched)",
                             (unsigned long long) pieces, FG_TEXTURE_PIECE, UINT32_MAX);
    return 0;
}

//  The layout of the indexed images, the labels of the samples kept, and
//  the dataset around the source.
static int
s_build (s_texture_t **self_p, fg_split_t split, uint32_t classes, size_t limit,
         fg_dataset_t **out, fg_error_t *err)
{
    s_texture_t *self = *self_p;
    const char *where = self->root? self->root: "texture (fetched table)";
    uint64_t *counts = malloc (self->nimages * sizeof (uint64_t));
    self->slots = calloc (self->nimages, sizeof (s_slot_t));
    if (!counts || !self->slots) {
        free (counts);
        return fg_error_set (err, FG_ENOMEM, "%s: out of memory", where);
    }
    for (uint32_t i = 0; i < self->nimages; i++)
        counts [i] = fg_texture_count (&self->g, self->images [i].height, self->images [i].width);
    int rc = fg_texture_layout_new (counts, self->nimages, &self->layout, err);
    free (counts);
    if (rc)
        return rc;
    uint64_t total = fg_texture_layout_total (self->layout);
    uint64_t count = limit && limit < total? limit: total;
    if (count > UINT32_MAX)
        return fg_error_set (err, FG_ERANGE, "%s: %llu fragments, more than %u (raise "
                             "data.texture_stride or set data.train_limit)", where,
                             (unsigned long long) count, UINT32_MAX);
    if ((rc = s_table (self, (uint32_t) count, classes, err)))
        return rc;
    fg_dataset_source_t src = { s_image, NULL, s_hash, s_texture_free, self };
    *self_p = NULL;                                 //  the dataset owns it from here
    fg_dataset_t *ds = NULL;
    rc = fg_dataset_alloc_source (FG_DATASET_TEXTURE, split, (size_t) count, classes,
                                  self->g.side, self->g.side, 3, &src, &ds, err);
    if (rc)
        return rc;
    for (uint64_t g = 0; g < count; g++) {
        uint32_t image;
        uint64_t j;
        fg_texture_layout_locate (self->layout, g, &image, &j);
        ds->labels [g] = self->images [image].label;
    }
    rc = fg_dataset_finish (ds, err);
    if (rc) {
        fg_dataset_destroy (&ds);
        return rc;
    }
    *out = ds;
    return 0;
}

static s_texture_t *
s_texture_new (const fg_texture_geometry_t *g, uint64_t cache_bytes)
{
    s_texture_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->loaded, NULL);
    self->g = *g;
    self->bound = cache_bytes > SIZE_MAX? SIZE_MAX: (size_t) cache_bytes;
    return self;
}

int
fg_dataset_open_texture (const char *path, fg_split_t split, size_t limit,
                         const fg_texture_options_t *opt, fg_dataset_t **out, fg_error_t *err)
{
    assert (out && opt);
    *out = NULL;
    int rc = s_check_options (path, split, opt, err);
    if (rc)
        return rc;
    s_texture_t *self = s_texture_new (&opt->geometry, opt->cache_bytes);
    if (!self)
        return fg_error_set (err, FG_ENOMEM, "texture: out of memory");
    self->root = strdup (path);
    uint32_t classes = 0;
    if (!self->root)
        rc = fg_error_set (err, FG_ENOMEM, "texture: out of memory");
    if (rc == 0)
        rc = s_index (self, split, opt->test_share, &classes, err);
    for (uint32_t i = 0; i < self->nimages && rc == 0; i++)
        rc = s_probe (self, i, err);
    if (rc == 0)
        rc = s_build (&self, split, classes, limit, out, err);
    s_texture_free (self);                          //  NULL once the dataset owns it
    if (rc)
        fg_error_prefix (err, "texture %s", fg_dataset_split_name (split));
    return rc;
}

int
fg_dataset_texture_sample (const fg_dataset_t *ds, size_t i, const char **path,
                           fg_texture_place_t *place)
{
    if (!ds || ds->kind != FG_DATASET_TEXTURE || ds->pixels || !ds->src.state)
        return FG_EINVAL;
    if (i >= ds->count)
        return FG_ERANGE;
    const s_texture_t *self = ds->src.state;
    uint32_t image;
    uint64_t j;
    fg_texture_layout_locate (self->layout, i, &image, &j);
    const s_image_t *im = &self->images [image];
    *path = im->path;
    fg_texture_place (&self->g, im->height, im->width, j, place);
    return 0;
}

//  --------------------------------------------------------------------------
//  The stored form: image table and pieces (fg_texture.h)

//  The texture state of ds, or NULL.
static s_texture_t *
s_of (const fg_dataset_t *ds)
{
    return ds && ds->kind == FG_DATASET_TEXTURE && !ds->pixels? ds->src.state: NULL;
}

int
fg_dataset_texture_geometry (const fg_dataset_t *ds, fg_texture_geometry_t *g)
{
    const s_texture_t *self = s_of (ds);
    if (!self)
        return FG_EINVAL;
    *g = self->g;
    return 0;
}

size_t
fg_dataset_texture_table (const fg_dataset_t *ds, const uint8_t **table)
{
    const s_texture_t *self = s_of (ds);
    *table = self? self->table: NULL;
    return self? self->table_size: 0;
}

uint32_t
fg_dataset_texture_pieces (const fg_dataset_t *ds)
{
    const s_texture_t *self = s_of (ds);
    return self? (uint32_t) self->first [self->nimages]: 0;
}

int
fg_dataset_texture_piece_info (const fg_dataset_t *ds, uint32_t k, fg_texture_piece_t *info)
{
    const s_texture_t *self = s_of (ds);
    if (!self)
        return FG_EINVAL;
    if (k >= self->first [self->nimages])
        return FG_ERANGE;
    if (k < self->first [0]) {
        info->image = UINT32_MAX;
        info->label = 0;
        info->total = self->table_size;
        info->offset = (uint64_t) k * FG_TEXTURE_PIECE;
        info->name = "the image table";
    }
    else {
        uint32_t lo = 0, hi = self->nimages;        //  first [lo] <= k < first [hi]
        while (hi - lo > 1) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (self->first [mid] <= k)
                lo = mid;
            else
                hi = mid;
        }
        info->image = lo;
        info->label = self->images [lo].label;
        info->total = self->images [lo].size;
        info->offset = (k - self->first [lo]) * FG_TEXTURE_PIECE;
        info->name = self->images [lo].path;
    }
    uint64_t left = info->total - info->offset;
    info->size = left < FG_TEXTURE_PIECE? (uint32_t) left: FG_TEXTURE_PIECE;
    return 0;
}

int
fg_dataset_texture_piece (const fg_dataset_t *ds, uint32_t k, uint8_t *out, uint32_t *size,
                          fg_error_t *err)
{
    const s_texture_t *self = s_of (ds);
    fg_texture_piece_t info;
    if (!self || !self->root)
        return fg_error_set (err, FG_EINVAL, "texture: piece %u asked of a set without its "
                             "folder", k);
    if (fg_dataset_texture_piece_info (ds, k, &info))
        return fg_error_set (err, FG_ERANGE, "texture: piece %u of %llu", k,
                             (unsigned long long) self->first [self->nimages]);
    *size = info.size;
    if (info.image == UINT32_MAX) {
        memcpy (out, self->table + info.offset, info.size);
        return 0;
    }
    char path [S_PATH_MAX];
    snprintf (path, sizeof path, "%s/%s", self->root, info.name);
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fg_error_set (err, fg_file_errno_code (errno), "%s: %s", path,
                             fg_file_strerror (errno));
    size_t done = 0;
    int rc = 0;
    while (rc == 0 && done < info.size) {
        ssize_t n = pread (fd, out + done, info.size - done, (off_t) (info.offset + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            rc = fg_error_set (err, FG_EIO, "%s: %s", path, fg_file_strerror (errno));
        else
        if (n == 0)
            rc = fg_error_set (err, FG_EFORMAT, "%s: the file shrank since the set was opened "
                               "(%llu bytes expected)", path, (unsigned long long) info.total);
        else
            done += (size_t) n;
    }
    close (fd);
    return rc;
}

static int
s_compare_u32 (const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
    return x < y? -1: x > y;
}

int
fg_dataset_texture_pieces_of (const fg_dataset_t *ds, const uint32_t *indices, size_t n,
                              uint32_t **runs, size_t *nruns, uint64_t *bytes, fg_error_t *err)
{
    const s_texture_t *self = s_of (ds);
    *runs = NULL;
    *nruns = 0;
    *bytes = 0;
    if (!self)
        return fg_error_set (err, FG_EINVAL, "not a texture set");
    uint32_t *images = malloc ((n? n: 1) * sizeof *images);
    if (!images)
        return fg_error_set (err, FG_ENOMEM, "out of memory for %zu samples", n);
    for (size_t i = 0; i < n; i++) {
        if (indices [i] >= ds->count) {
            free (images);
            return fg_error_set (err, FG_ERANGE, "sample %u of a texture set of %zu",
                                 indices [i], ds->count);
        }
        uint64_t j;
        fg_texture_layout_locate (self->layout, indices [i], &images [i], &j);
    }
    qsort (images, n, sizeof *images, s_compare_u32);
    //  distinct images in order; consecutive images' pieces are one run
    uint32_t *out = malloc ((n? n: 1) * 2 * sizeof *out);
    if (!out) {
        free (images);
        return fg_error_set (err, FG_ENOMEM, "out of memory for %zu samples", n);
    }
    size_t r = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t im = images [i];
        if (i > 0 && images [i - 1] == im)
            continue;
        *bytes += self->images [im].size;
        uint32_t first = (uint32_t) self->first [im];
        uint32_t count = (uint32_t) (self->first [im + 1] - first);
        if (r > 0 && out [2 * r - 2] + out [2 * r - 1] == first)
            out [2 * r - 1] += count;
        else {
            out [2 * r] = first;
            out [2 * r + 1] = count;
            r++;
        }
    }
    free (images);
    *runs = out;
    *nruns = r;
    return 0;
}

int
fg_dataset_texture_from_table (const fg_texture_geometry_t *g,
                               const uint8_t hash [FG_SHA256_SIZE], const uint8_t *table,
                               size_t size, uint64_t cache_bytes, fg_dataset_t **out,
                               fg_error_t *err)
{
    *out = NULL;
    uint32_t count, classes, n;
    fg_texture_entry_t *entries = NULL;
    int rc = fg_texture_table_decode (g, table, size, hash, &count, &classes, &entries, &n, err);
    if (rc)
        return rc;
    s_texture_t *self = s_texture_new (g, cache_bytes);
    if (!self || !(self->images = calloc (n, sizeof (s_image_t)))
    ||  !(self->given = calloc (n, sizeof (uint8_t *))) || !(self->table = malloc (size)))
        rc = fg_error_set (err, FG_ENOMEM, "texture: out of memory for %u images", n);
    else {
        memcpy (self->table, table, size);
        self->table_size = size;
    }
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        s_image_t *im = &self->images [i];
        *im = (s_image_t) { strdup (entries [i].path), entries [i].size, entries [i].height,
                            entries [i].width, entries [i].label };
        self->nimages++;
        if (!im->path)
            rc = fg_error_set (err, FG_ENOMEM, "texture: out of memory");
    }
    free (entries);
    if (rc == 0)
        rc = s_build (&self, FG_SPLIT_TRAIN, classes, count, out, err);
    s_texture_free (self);                          //  NULL once the dataset owns it
    return rc;
}

int
fg_dataset_texture_give (fg_dataset_t *ds, uint32_t image, uint8_t *bytes, size_t size,
                         fg_error_t *err)
{
    s_texture_t *self = s_of (ds);
    int rc = 0;
    if (!self || self->root || image >= self->nimages || self->given [image])
        rc = fg_error_set (err, !self || self->root? FG_EINVAL
                                : image >= self->nimages? FG_ERANGE: FG_EINVAL,
                           "texture: image %u cannot be given to this set", image);
    const s_image_t *im = rc? NULL: &self->images [image];
    uint32_t h = 0, w = 0, c = 0;
    if (rc == 0 && size != im->size)
        rc = fg_error_set (err, FG_EMISMATCH, "texture image %u (%s): %zu bytes, the image "
                           "table promises %llu", image, im->path, size,
                           (unsigned long long) im->size);
    if (rc == 0 && (rc = fg_image_probe (bytes, size, im->path, &h, &w, &c, err)) == 0
    &&  (h != im->height || w != im->width))
        rc = fg_error_set (err, FG_EMISMATCH, "texture image %u (%s): %ux%u, the image table "
                           "promises %ux%u", image, im->path, w, h, im->width, im->height);
    if (rc) {
        free (bytes);
        return rc;
    }
    self->given [image] = bytes;
    return 0;
}
