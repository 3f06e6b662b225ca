/*  fg_dataset_internal.h — the decoders of fg_dataset behind the file
    layer, reachable from memory buffers (tests, fuzz harness), and the
    dataset structure and helpers shared by fg_dataset.c (common part),
    fg_dataset_idx.c, fg_dataset_cifar.c, fg_dataset_synthetic.c and
    fg_augment.c.                                                         */

#ifndef FG_DATASET_INTERNAL_H_INCLUDED
#define FG_DATASET_INTERNAL_H_INCLUDED

#include "fg_dataset.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FG_IDX_IMAGES_MAGIC 0x00000803u     //  unsigned byte, 3 dims
#define FG_IDX_LABELS_MAGIC 0x00000801u     //  unsigned byte, 1 dim
#define FG_CIFAR10_RECORD   3073u           //  label + 3 x 1024 planar pixels
#define FG_CIFAR100_RECORD  3074u           //  coarse, fine + 3 x 1024

//  A source of samples decoded on demand (file-backed sets, the texture
//  set): the dataset holds labels and the index, and the source writes a
//  sample's pixels when they are needed. Every callback must be safe to
//  call from several threads at once on one dataset (trainers share it).
typedef struct {
    //  Writes sample i's H x W x C pixels (HWC, uint8) to out. Returns 0 or
    //  an FG_ code with err set, naming the file or sample (a damaged
    //  JPEG gives FG_EFORMAT naming it).
    int  (*image) (const fg_dataset_t *self, size_t i, uint8_t *out, fg_error_t *err);
    //  Optional (NULL: FG_EUNSUPPORTED): sample i's stored, compressed
    //  bytes (a JPEG or PNG file), owned by the dataset.
    int  (*stored) (const fg_dataset_t *self, size_t i, const uint8_t **bytes, size_t *size,
                    fg_error_t *err);
    //  Optional: the content hash of the set (fgds2: over the index, see
    //  fg_dataset.h). NULL: fgds1 over the decoded pixels of every sample.
    void (*hash) (const fg_dataset_t *self, uint8_t digest [FG_SHA256_SIZE]);
    //  Optional: frees state when the dataset is destroyed.
    void (*destroy) (void *state);
    void  *state;
} fg_dataset_source_t;

struct _fg_dataset_t {
    int        kind;                        //  fg_dataset_kind_t
    fg_split_t split;
    char       name [48];                   //  "cifar10 train"
    size_t     count;
    uint32_t   classes;
    uint32_t   height, width, channels;
    uint16_t  *labels;                      //  count
    uint8_t   *pixels;                      //  count x H x W x C; NULL when on demand
    fg_dataset_source_t src;                //  on demand (pixels NULL): the source
    double     mean [FG_DATASET_CHANNELS_MAX];
    double     std [FG_DATASET_CHANNELS_MAX];
    float      lut [FG_DATASET_CHANNELS_MAX][256];  //  normalised value of a byte
    uint32_t   pad;                         //  random crop padding (0: none)
    bool       flip;                        //  horizontal flips
    uint8_t    digest [FG_SHA256_SIZE];
    char       hex [FG_SHA256_HEX_SIZE];
    //  a subset (fg_dataset_from_records): sample i is sample origin [i]
    //  (strictly increasing) of the set whose content hash is source;
    //  origin is NULL for a whole set, whose source is its own digest
    uint32_t  *origin;                      //  count, or NULL
    uint8_t    source [FG_SHA256_SIZE];
};

//  The name of a dataset kind ("cifar10"; "dataset" when unknown) and of
//  a split ("train", "test"), for names and messages.
const char *
    fg_dataset_kind_name (int kind);
const char *
    fg_dataset_split_name (fg_split_t split);

//  Allocates a dataset with room for count samples of height x width x
//  channels (labels and pixels uninitialised). Returns 0, FG_EINVAL (no
//  sample, or too many) or FG_ENOMEM.
int
    fg_dataset_alloc (int kind, fg_split_t split, size_t count, uint32_t classes,
                      uint32_t height, uint32_t width, uint32_t channels,
                      fg_dataset_t **out, fg_error_t *err);

//  Allocates a dataset of count samples whose pixels come from src on
//  demand (labels uninitialised, pixels NULL). The dataset owns src.state
//  from the call on (src.destroy runs on failure too). Returns 0,
//  FG_EINVAL (no sample, too many, a side or channel count out of range,
//  no image callback) or FG_ENOMEM.
int
    fg_dataset_alloc_source (int kind, fg_split_t split, size_t count, uint32_t classes,
                             uint32_t height, uint32_t width, uint32_t channels,
                             const fg_dataset_source_t *src, fg_dataset_t **out,
                             fg_error_t *err);

//  Sample i's pixels (H x W x C, HWC, uint8): a pointer into the
//  in-memory pixels of a decoded set (scratch untouched), or scratch (H x
//  W x C bytes, the caller's) filled by the source. i must be < count.
//  Returns NULL with err set when the source fails (damaged file, ...).
const uint8_t *
    fg_dataset_image (const fg_dataset_t *self, size_t i, uint8_t *scratch, fg_error_t *err);

//  Once the labels and pixels (or the source) are in place: the
//  normalisation table, the augmentation policy and the content hash
//  (the source's own hash, or fgds1 over the decoded pixels). Returns 0;
//  only a source without a hash callback can fail (a sample that does
//  not decode: its code). err may be NULL for in-memory sets.
int
    fg_dataset_finish (fg_dataset_t *self, fg_error_t *err);

//  A decoded IDX file: its dimensions and its payload (dims[0] items of
//  item_size bytes). data points into block when the file was gzipped,
//  else into the caller's buffer.
typedef struct {
    uint8_t       *block;                   //  owned; NULL when data is borrowed
    const uint8_t *data;
    uint32_t       ndims;
    uint32_t       dims [3];
    size_t         count;                   //  dims [0]
    size_t         item_size;               //  product of dims [1 ..]
} fg_idx_t;

//  Decodes an IDX file held in memory (file, size), gzip-compressed (any
//  number of members) or not. magic is FG_IDX_IMAGES_MAGIC or
//  FG_IDX_LABELS_MAGIC; name is used in messages; max_size bounds the
//  decoded size (before anything is allocated). The decoded size must be
//  exactly header + product of dims. On success the caller releases idx
//  with fg_idx_release (and keeps file alive while idx borrows it).
//  Returns 0, FG_EFORMAT (bad magic, zero dimension, truncated, too long,
//  corrupt gzip), FG_ERANGE (announces more than max_size) or FG_ENOMEM.
int
    fg_idx_decode (const uint8_t *file, size_t size, const char *name, uint32_t magic,
                   size_t max_size, fg_idx_t *idx, fg_error_t *err);

//  Frees what idx owns and zeroes it; NULL-safe.
void
    fg_idx_release (fg_idx_t *idx);

//  Builds a dataset from a decoded images and labels pair (MNIST family).
//  Checks equal counts, a 28x28 image shape, labels < 10. limit as for
//  fg_dataset_open. Returns 0, FG_EFORMAT, FG_EMISMATCH, FG_ERANGE,
//  FG_EINVAL or FG_ENOMEM.
int
    fg_dataset_from_idx (int kind, fg_split_t split,
                         const fg_idx_t *images, const char *images_name,
                         const fg_idx_t *labels, const char *labels_name,
                         size_t limit, fg_dataset_t **out, fg_error_t *err);

//  Builds a CIFAR-10 (kind FG_DATASET_CIFAR10) or CIFAR-100 dataset from
//  nfiles files held in memory, in order. Each must be a non-empty
//  multiple of the record size; labels in range (CIFAR-100: coarse < 20,
//  fine < 100; the fine label is kept). Returns 0, FG_EFORMAT, FG_ERANGE,
//  FG_EINVAL or FG_ENOMEM.
int
    fg_dataset_from_cifar (int kind, fg_split_t split, size_t nfiles,
                           const uint8_t *const *files, const size_t *sizes,
                           const char *const *names, size_t limit,
                           fg_dataset_t **out, fg_error_t *err);

//  ---- file-backed sets (fg_dataset_files.c) ---------------------------------

//  One entry of a directory listing
typedef struct {
    char     *name;                         //  owned
    uint64_t  size;                         //  bytes (regular files)
    bool      dir;
} fg_dirent_t;

//  Lists dir (following symbolic links): regular files and directories
//  only, "." and ".." left out, sorted by name in byte order (strcmp).
//  Bounds: FG_DATASET_FILES_MAX entries, FG_DATASET_NAME_MAX bytes a
//  name. Caller frees with fg_files_list_free. Returns 0, FG_ENOENT (no
//  such dir), FG_EIO, FG_ERANGE (a bound) or FG_ENOMEM; messages name dir.
int
    fg_files_list (const char *dir, fg_dirent_t **entries, size_t *count, fg_error_t *err);
void
    fg_files_list_free (fg_dirent_t **entries_p, size_t count);

//  True when name ends in "." and one of extensions (NULL-terminated,
//  compared without case), and is not only an extension.
bool
    fg_files_has_extension (const char *name, const char *const *extensions);

//  A table of image files under root being filled: add every file with
//  its label (< classes) and size, then build the dataset.
typedef struct _fg_files_t fg_files_t;

//  Returns 0 or FG_ENOMEM.
int
    fg_files_new (const char *root, uint32_t classes, fg_files_t **out, fg_error_t *err);
void
    fg_files_destroy (fg_files_t **self_p);

//  Adds relpath (from root, "/"-separated) with label and size. Returns 0,
//  FG_ERANGE (path above 1024 bytes, label >= classes, size above
//  FG_DATASET_FILE_MAX, more than FG_DATASET_FILES_MAX files) or
//  FG_ENOMEM.
int
    fg_files_add (fg_files_t *self, const char *relpath, uint32_t label, uint64_t size,
                  fg_error_t *err);

//  Takes *files_p (NULL afterwards, even on failure) and makes the dataset:
//  samples in round-robin class order (docs/datasets.md), the first limit
//  kept (0: all), side x side x 3 images, each decoded on use and fitted
//  to side (fit) or required to be side x side (FG_EMISMATCH otherwise);
//  content hash fgds2. Returns 0, FG_ENOENT (no file), FG_EFORMAT (a path
//  added twice), fg_dataset_alloc_source's codes or FG_ENOMEM.
int
    fg_files_build (fg_files_t **files_p, int kind, fg_split_t split, uint32_t side, bool fit,
                    size_t limit, fg_dataset_t **out, fg_error_t *err);

//  ---- Tiny-ImageNet-200 (fg_dataset_tiny.c) ----------------------------------

//  The class ids of wnids.txt (text, size bytes; name for messages), one a
//  line in label order: each 1..FG_DATASET_NAME_MAX bytes of printable
//  ASCII without spaces or "/", not "." or "..", no duplicate, 1 ..
//  FG_DATASET_CLASSES_MAX lines; "\r\n" accepted, a last line without
//  newline accepted, empty lines refused. *wnids is one allocation (free
//  it) holding count pointers and the strings. Returns 0, FG_EFORMAT
//  (names the file and line) or FG_ENOMEM.
int
    fg_tiny_parse_wnids (const char *text, size_t size, const char *name, char ***wnids,
                         size_t *count, fg_error_t *err);

//  One line of val_annotations.txt
typedef struct {
    const char *file;                       //  points into the parsed copy
    uint32_t    label;
    uint32_t    line;
} fg_tiny_annotation_t;

//  Parses val_annotations.txt: per line "<file>\t<wnid>\t<x0>\t<y0>\t<x1>
//  \t<y1>" (the box: integers 0..65535), file a plain name (no "/", not
//  hidden) given once, wnid one of wnids (count, in label order). *out is
//  one allocation (free it) of *n entries sorted by file name in byte
//  order, their names inside it. Returns 0, FG_EFORMAT (names the file and
//  line: a missing field, an unknown wnid, a duplicate, a bad box) or
//  FG_ENOMEM.
int
    fg_tiny_parse_annotations (const char *text, size_t size, const char *name,
                               char *const *wnids, size_t count,
                               fg_tiny_annotation_t **out, size_t *n, fg_error_t *err);

//  Opens split of Tiny-ImageNet-200 at path (see fg_dataset_open).
int
    fg_dataset_open_tiny (const char *path, fg_split_t split, size_t limit, fg_dataset_t **out,
                          fg_error_t *err);

#ifdef __cplusplus
}
#endif

#endif
