/*  fg_texture.h — the geometry and pixel work of the texture set: large
    images cut into square fragments on demand, never stored.

    A fragment is named by (image, y, x, rotation): the fragment x fragment
    square of the source image whose top-left pixel is (y, x), rotated
    counter-clockwise by rotation x 360 / rotations degrees. Origins step
    by `stride` from (0, 0); a fragment never leaves the image, so an image
    of H x W holds
        ny = (H - fragment) / stride + 1,  nx = (W - fragment) / stride + 1
        count = ny x nx x rotations        (0 when H or W < fragment)
    fragments (integer division; the last (H - fragment) mod stride rows
    and columns are never covered). Fragment j of an image is
        j = ((yi x nx) + xi) x rotations + r,  y = yi x stride, x = xi x stride.

    What the model sees of a fragment (side x side x C, uint8, side =
    data.image_size), defined exactly so every machine makes the same bits:
      1. area resize (box filter) of the fragment by side / fragment: with
         side / fragment = p / q in lowest terms, output pixel o covers the
         source interval [o q / p, (o + 1) q / p) in each axis; each source
         pixel counts by its overlap with that interval. Integer weights,
         sum / q^2 rounded half up. Identity when side = fragment.
      2. contrast normalisation (fg_texture_contrast): a linear stretch of
         the side x side x C values mapping mean -/+ k std to 0 .. 256,
         clamped to 0 .. 255, in integer arithmetic.
      3. rotation by a multiple of 90 degrees (exact; rotation commutes with
         1 and 2 since the box grid of a square is symmetric).
    Because the box filter is local, resizing a fragment is the same as
    resizing the whole image once (fg_texture_scale) and cutting the
    side x side square at (y p / q, x p / q) from it — bit for bit, when
    stride x side is a multiple of fragment (fg_texture_check demands it).
    The dataset (fg_dataset_texture.c) keeps scaled images, 1 / 16 of the
    decoded size for 64 / 256.

    Pure functions of their arguments; no allocation except the layout.   */

#ifndef FG_TEXTURE_H_INCLUDED
#define FG_TEXTURE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "fg_config.h"
#include "fg_dataset.h"
#include "fg_error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FG_TEXTURE_FRAGMENT_MAX 8192    //  largest fragment side (source pixels)
#define FG_TEXTURE_SIDE_MAX     1024    //  largest model side (FG_DATASET_SIDE_MAX)
#define FG_TEXTURE_CONTRAST_MAX 4096    //  largest k x 256 (k = 16)

typedef struct {
    uint32_t fragment;          //  side of a fragment in source pixels (256)
    uint32_t stride;            //  step between fragment origins (source pixels)
    uint32_t rotations;         //  1, 2 or 4: angles r x 360 / rotations, r < rotations
    uint32_t side;              //  side the model sees (data.image_size)
    uint32_t contrast_q8;       //  k x 256 of the contrast stretch; 0: none
} fg_texture_geometry_t;

//  Where a fragment is: origin in source pixels and rotation index r
//  (counter-clockwise r x 360 / rotations degrees).
typedef struct {
    uint32_t y, x;
    uint32_t rotation;
} fg_texture_place_t;

//  Checks a geometry: fragment 1 .. FG_TEXTURE_FRAGMENT_MAX, stride >= 1,
//  rotations 1, 2 or 4, side 1 .. FG_TEXTURE_SIDE_MAX, stride x side a
//  multiple of fragment (so fragment origins fall on scaled pixels),
//  contrast_q8 <= FG_TEXTURE_CONTRAST_MAX. Returns 0 or FG_EINVAL naming
//  the data.texture_* key.
int
    fg_texture_check (const fg_texture_geometry_t *g, fg_error_t *err);

//  Fragments of an image of height x width (formula above); 0 when a side
//  is below g->fragment.
uint64_t
    fg_texture_count (const fg_texture_geometry_t *g, uint32_t height, uint32_t width);

//  Fragment j (< fg_texture_count) of an image of height x width, and back.
void
    fg_texture_place (const fg_texture_geometry_t *g, uint32_t height, uint32_t width,
                      uint64_t j, fg_texture_place_t *place);
uint64_t
    fg_texture_place_index (const fg_texture_geometry_t *g, uint32_t height, uint32_t width,
                            const fg_texture_place_t *place);

//  ---- the order of fragments across images ---------------------------------
//
//  The set's sample g walks the images round-robin: round k visits, in
//  "visit order", every image with more than k fragments and takes its
//  fragment k. Visit order is by fragment count, largest first, ties in
//  image order; so when all images have the same size (the study's case)
//  sample g is fragment g / n of image g mod n, and a prefix of the set
//  (data.train_limit) takes fragments of every image (and so of every
//  class, images being class-interleaved).

typedef struct _fg_texture_layout_t fg_texture_layout_t;

//  A layout of n images (1 .. UINT32_MAX) with counts [i] fragments each
//  (every count >= 1). Returns 0, FG_EINVAL (n = 0, a count of 0, a total
//  above 2^62) or FG_ENOMEM. Caller destroys *out.
int
    fg_texture_layout_new (const uint64_t *counts, size_t n, fg_texture_layout_t **out,
                           fg_error_t *err);
void
    fg_texture_layout_destroy (fg_texture_layout_t **self_p);

//  Total fragments (sum of counts).
uint64_t
    fg_texture_layout_total (const fg_texture_layout_t *self);

//  Sample g (< total) is fragment *j of image *image; and back
//  (j < counts [image]). O(log n).
void
    fg_texture_layout_locate (const fg_texture_layout_t *self, uint64_t g, uint32_t *image,
                              uint64_t *j);
uint64_t
    fg_texture_layout_index (const fg_texture_layout_t *self, uint32_t image, uint64_t j);

//  ---- the test/train split by whole image ----------------------------------

//  Marks which of a class's n images are held out for testing:
//  test [i] = true for round (share x n) of them (half up; at most n - 1,
//  so a class keeps a training image), chosen by a permutation from
//  fg_rng (FG_TEXTURE_SPLIT_SEED, FG_RNG_TEXTURE, round 0, shard class,
//  0, 0): the first of a partial Fisher–Yates shuffle (fg_rng_below) are
//  held out. Depends on class position, n and share only, never on the
//  experiment, so every node agrees. Returns 0 or FG_ENOMEM.
#define FG_TEXTURE_SPLIT_SEED 0x74657874u   //  "text"
int
    fg_texture_split (uint32_t klass, uint32_t n, double share, bool *test, fg_error_t *err);

//  ---- pixels ----------------------------------------------------------------

//  Shape of an image of height x width scaled by side / fragment:
//  floor (height x side / fragment) x floor (width x side / fragment).
void
    fg_texture_scaled_shape (const fg_texture_geometry_t *g, uint32_t height, uint32_t width,
                             uint32_t *scaled_height, uint32_t *scaled_width);

//  Area resize by p / q (lowest terms not required) of the region of src
//  (height x width x channels, HWC) starting at (y0, x0): out_h x out_w x
//  channels pixels where output pixel (oy, ox) averages the source square
//  [y0 + oy q / p, y0 + (oy + 1) q / p) x [x0 + ...). The region must lie
//  inside src. scratch holds out_w x channels uint64. Exact integers.
//  Returns 0 or FG_ENOMEM (the tap tables).
int
    fg_texture_area (const uint8_t *src, uint32_t height, uint32_t width, uint32_t channels,
                     uint32_t y0, uint32_t x0, uint32_t out_h, uint32_t out_w,
                     uint32_t p, uint32_t q, uint64_t *scratch, uint8_t *out, fg_error_t *err);

//  The whole image (height x width x channels) scaled by side / fragment
//  into out (fg_texture_scaled_shape). Returns 0 or FG_ENOMEM.
int
    fg_texture_scale (const fg_texture_geometry_t *g, const uint8_t *src, uint32_t height,
                      uint32_t width, uint32_t channels, uint8_t *out, fg_error_t *err);

//  Contrast normalisation in place of n values (one fragment, all
//  channels together), with S1 = sum v, S2 = sum v^2, V = n S2 - S1^2,
//  s = max (isqrt (V), n) (std x n, at least one grey level):
//      v' = clamp (128 + round_half_up ((v n - S1) x 32768 / (k256 x s)), 0, 255)
//  i.e. mean -> 128, mean +/- k std -> 256 / 0 (k256 = k x 256). A
//  constant fragment becomes 128. k256 = 0 leaves the values unchanged.
//  n <= 2^24.
void
    fg_texture_contrast (uint8_t *values, size_t n, uint32_t k256);

//  out = in (side x side x channels) rotated counter-clockwise by
//  quarter_turns x 90 degrees: one turn maps in [r][c] to
//  out [side - 1 - c][r] (numpy.rot90). in and out must not overlap.
void
    fg_texture_rotate (const uint8_t *in, uint32_t side, uint32_t channels,
                       uint32_t quarter_turns, uint8_t *out);

//  The fragment at place (source coordinates) from an image already scaled
//  by fg_texture_scale (scaled_h x scaled_w x channels): side x side x
//  channels bytes into out, contrast-normalised and rotated. tmp holds
//  side x side x channels bytes.
void
    fg_texture_cut (const fg_texture_geometry_t *g, const uint8_t *scaled, uint32_t scaled_h,
                    uint32_t scaled_w, uint32_t channels, const fg_texture_place_t *place,
                    uint8_t *tmp, uint8_t *out);

//  ---- the dataset (fg_dataset_texture.c) -----------------------------------

typedef struct {
    fg_texture_geometry_t geometry;
    double   test_share;        //  share of each class's images held out (0 .. 1)
    uint64_t cache_bytes;       //  bound of the scaled-image cache (bytes)
} fg_texture_options_t;

//  The data.texture_* keys and data.image_size of cfg as options.
void
    fg_texture_options_from_config (const fg_config_t *cfg, fg_texture_options_t *opt);

//  Opens split of the texture set at path: path/<class>/<name>.{png,jpg,
//  jpeg} (extensions without case; classes are the sub-folders sorted by
//  name in byte order, label = position; hidden entries and other files
//  are ignored). Each class's images are split by whole image
//  (fg_texture_split, opt->test_share); images are class-interleaved
//  (image i is the next file of class i mod K, files in byte order of
//  name) and the samples are the fragments in layout order (above); limit
//  > 0 keeps the first limit. Opening reads each image's header only;
//  pixels are decoded on first use and kept, scaled, in a cache bounded
//  by opt->cache_bytes (least recently used image evicted; at least the
//  images in use stay). Samples are side x side x 3 (greyscale images
//  replicated). Mean 0.5, std 0.25 (what the contrast stretch with k = 2
//  gives); augmentation: pad side / 8, flips. Content hash "fgtx1" (see
//  docs/datasets.md). Caller owns *out (fg_dataset_destroy).
//  Returns 0, FG_EINVAL (bad geometry: names the key), FG_ENOENT (no
//  such folder, no class folder, a class without images, an empty split),
//  FG_EIO, FG_EFORMAT (an image whose header is damaged: names it),
//  FG_ERANGE (an image smaller than a fragment: names it and its size;
//  more than UINT32_MAX fragments; bounds of the listing) or FG_ENOMEM.
//  Sample access (fg_dataset_batch, fg_dataset_records) returns
//  FG_EFORMAT naming the file when an image fails to decode.
int
    fg_dataset_open_texture (const char *path, fg_split_t split, size_t limit,
                             const fg_texture_options_t *opt, fg_dataset_t **out,
                             fg_error_t *err);

//  Where sample i (< count) of a texture set comes from: its image's path
//  relative to the set's root ("<class>/<name>", owned by the set) and
//  its place. Returns 0, FG_EINVAL (not a texture set) or FG_ERANGE.
int
    fg_dataset_texture_sample (const fg_dataset_t *self, size_t i, const char **path,
                               fg_texture_place_t *place);

//  Cache figures of a texture set: images decoded (misses), fragments cut
//  from a cached image (hits), bytes held now and at most. Zeros for
//  other sets.
void
    fg_dataset_texture_stats (const fg_dataset_t *self, uint64_t *hits,
                              uint64_t *misses, uint64_t *bytes, uint64_t *peak_bytes);

//  ---- a trainer without the folder: the image table and pieces -----------
//
//  A trainer that lacks the set fetches its stored form over DATA-REQUEST
//  (docs/actors.md, "The texture set"): first the IMAGE TABLE, then the
//  source files of the images its shard's fragments use, both cut into
//  PIECES of FG_TEXTURE_PIECE bytes (the last piece of each shorter), so a
//  file of any size travels in chunks of the usual size. The pieces are
//  numbered once for the set: the table's first, then each training
//  image's in layout (interleaved) order; sample k of such a DATA-REQUEST
//  is piece k, a variable record whose label is its image's (0 for the
//  table) and whose bytes are that part of the file as it is on disk.
//
//  The table (all integers little-endian):
//      u32 count (fragments of the set, after data.train_limit) | u32
//      classes | u32 images | per image in layout order: u16 label, u32
//      height, u32 width, u64 file size, u16 path length, path
//      ("<class>/<name>", bytes 0x20..0x7e and >= 0x80, no "/" first)
//  The set's content hash (fgtx1) is SHA-256 of "fgtx1" | u32 count,
//  classes, side, side, 3, fragment, stride, rotations, contrast_q8,
//  images | the table's per-image part: a trainer that rebuilds it from a
//  fetched table and the TASK's geometry knows the table is the one the
//  TASK's dataset hash promises.

#define FG_TEXTURE_PIECE        ((uint32_t) 64 << 10)   //  bytes of a piece
#define FG_TEXTURE_TABLE_MAX    ((uint32_t) 64 << 20)   //  bytes of an image table
#define FG_TEXTURE_PATH_MAX     1024                    //  bytes of a table path
#define FG_TEXTURE_FETCH_COUNT_MAX (1u << 28)   //  fragments of a fetched table: bounds
                                                //  the labels a peer makes us keep
                                                //  (512 MiB; the study at stride 8 with
                                                //  4 rotations has 68 M)

//  One image of a table (path NUL-terminated, owned by whoever made it)
typedef struct {
    uint16_t    label;
    uint32_t    height, width;
    uint64_t    size;               //  bytes of the stored file
    const char *path;
} fg_texture_entry_t;

//  Pieces of bytes (ceil (bytes / FG_TEXTURE_PIECE); 0 for 0).
static inline uint64_t
fg_texture_pieces (uint64_t bytes)
{
    return bytes / FG_TEXTURE_PIECE + (bytes % FG_TEXTURE_PIECE? 1: 0);
}

//  The table of n entries into *out (malloc'ed, *size bytes). Returns 0,
//  FG_ERANGE (a path longer than FG_TEXTURE_PATH_MAX, more than
//  FG_TEXTURE_TABLE_MAX bytes) or FG_ENOMEM.
int
    fg_texture_table_encode (uint32_t count, uint32_t classes, const fg_texture_entry_t *entries,
                             uint32_t n, uint8_t **out, size_t *size, fg_error_t *err);

//  The fgtx1 hash of the set whose table is table (size bytes, at least
//  its 12-byte head; its framing unchecked) under geometry g.
void
    fg_texture_table_hash (const fg_texture_geometry_t *g, const uint8_t *table, size_t size,
                           uint8_t digest [FG_SHA256_SIZE]);

//  Parses a table from outside (a peer's bytes): every field bounded
//  (count 1 .. FG_TEXTURE_FETCH_COUNT_MAX, classes 1 .. FG_DATASET_CLASSES_MAX, images 1 ..
//  FG_DATASET_FILES_MAX, a label below classes, height and width 1 ..
//  65535 and each image at least a fragment, a size 1 ..
//  FG_DATASET_FILE_MAX, a path 1 .. FG_TEXTURE_PATH_MAX bytes of text,
//  count <= the fragments of the images, nothing after the last entry),
//  then its hash against expect (g: the TASK's geometry). *entries
//  (malloc'ed, one block with the paths: free (*entries)). Returns 0,
//  FG_EFORMAT / FG_ERANGE naming the entry and field, FG_EMISMATCH (a
//  well-formed table whose hash is not expect) or FG_ENOMEM.
int
    fg_texture_table_decode (const fg_texture_geometry_t *g, const uint8_t *table, size_t size,
                             const uint8_t expect [FG_SHA256_SIZE], uint32_t *count,
                             uint32_t *classes, fg_texture_entry_t **entries, uint32_t *n,
                             fg_error_t *err);

//  Where piece k of a texture set is
typedef struct {
    uint32_t    image;              //  UINT32_MAX: a piece of the image table
    uint16_t    label;              //  the image's (0 for the table)
    uint32_t    size;               //  bytes of this piece (1 .. FG_TEXTURE_PIECE)
    uint64_t    offset;             //  of the piece in its file (table)
    uint64_t    total;              //  bytes of the file (table)
    const char *name;               //  "<class>/<name>" or "the image table"
} fg_texture_piece_t;

//  The set's fragment geometry into *g. Returns 0 or FG_EINVAL (not a
//  texture set).
int
    fg_dataset_texture_geometry (const fg_dataset_t *self, fg_texture_geometry_t *g);

//  The set's image table (owned by the set) and its byte count; 0 and
//  NULL for other sets.
size_t
    fg_dataset_texture_table (const fg_dataset_t *self, const uint8_t **table);

//  Pieces of the set (the table's and every image's); 0 for other sets.
uint32_t
    fg_dataset_texture_pieces (const fg_dataset_t *self);

//  Piece k's place. Returns 0, FG_EINVAL (not a texture set) or FG_ERANGE.
int
    fg_dataset_texture_piece_info (const fg_dataset_t *self, uint32_t k,
                                   fg_texture_piece_t *info);

//  Piece k's bytes into out (FG_TEXTURE_PIECE bytes of room), *size of
//  them, read from the file (the coordinator: nothing kept). Returns 0,
//  FG_EINVAL (a set without a folder), FG_ERANGE, FG_ENOENT / FG_EIO,
//  FG_EFORMAT (the file shrank since the set was opened).
int
    fg_dataset_texture_piece (const fg_dataset_t *self, uint32_t k, uint8_t *out,
                              uint32_t *size, fg_error_t *err);

//  The pieces of the images samples indices [0 .. n) (any order, each <
//  count) are cut from, as *nruns sorted, disjoint runs of consecutive
//  pieces (runs [2r] = first piece, runs [2r + 1] = count; malloc'ed;
//  the table's pieces not included), and their bytes (file sizes). Returns
//  0, FG_EINVAL (not a texture set), FG_ERANGE (an index past the set) or
//  FG_ENOMEM.
int
    fg_dataset_texture_pieces_of (const fg_dataset_t *self, const uint32_t *indices, size_t n,
                                  uint32_t **runs, size_t *nruns, uint64_t *bytes,
                                  fg_error_t *err);

//  The training set of a trainer without the folder, from a fetched table
//  (fg_texture_table_decode against hash under geometry g): the same
//  samples, labels, layout and content hash as the set the coordinator
//  opened, whose images have no bytes until fg_dataset_texture_give gives
//  them (a sample of an image not given fails, naming it). Decoding,
//  scaling, the cache (cache_bytes) and the fragments are the folder
//  set's own, so a unit gives the same bits. Returns 0, the codes of
//  fg_texture_check and fg_texture_table_decode, or FG_ENOMEM.
int
    fg_dataset_texture_from_table (const fg_texture_geometry_t *g,
                                   const uint8_t hash [FG_SHA256_SIZE], const uint8_t *table,
                                   size_t size, uint64_t cache_bytes, fg_dataset_t **out,
                                   fg_error_t *err);

//  Gives image `image` of a set made by fg_dataset_texture_from_table its
//  stored bytes (taken: freed by the set, also on failure). They must be
//  what the table promises: size bytes exactly, a header of its height x
//  width. Returns 0, FG_EINVAL (not such a set, an image already given),
//  FG_ERANGE (no such image), FG_EMISMATCH (naming the image: another
//  size or shape), FG_EFORMAT (no readable header).
int
    fg_dataset_texture_give (fg_dataset_t *self, uint32_t image, uint8_t *bytes, size_t size,
                             fg_error_t *err);

#ifdef __cplusplus
}
#endif

#endif
