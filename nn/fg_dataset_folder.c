/*  fg_dataset_folder.c — any folder of images, as torchvision's
    ImageFolder reads it (see docs/datasets.md):
        <root>/train/<class>/<name>.{jpg,jpeg,png}     training split
        <root>/val/<class>/...   (or <root>/test/<class>/...)  test split
    Classes are the sub-folders of train/, sorted by name in byte order
    (label = position); the test split uses those labels and may lack a
    class but not add one. Extensions are compared without case. A class
    folder's sub-folders are walked, as ImageFolder does (symbolic links
    followed, at most S_DEPTH_MAX levels, so a link loop ends). Hidden
    entries (names starting with ".") and files of other extensions are
    skipped; so are files directly under train/. Images are decoded on use
    and fitted to side x side x 3 (fg_image_fit: shorter side to side,
    centre crop).                                                         */

#include "fg_dataset_internal.h"
#include "fg_config.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define S_PATH_MAX  4096
#define S_DEPTH_MAX 8               //  folder levels below a class folder

static const char *s_extensions [] = { "jpg", "jpeg", "png", NULL };

//  The class folders of dir (not hidden), sorted. Returns 0, FG_ENOENT
//  (no class), FG_ERANGE (too many) or fg_files_list's codes.
static int
s_classes (const char *dir, fg_dirent_t **list, size_t *n, size_t *classes, fg_error_t *err)
{
    int rc = fg_files_list (dir, list, n, err);
    if (rc)
        return rc;
    //  keep the class folders at the front, in order
    size_t k = 0;
    for (size_t i = 0; i < *n; i++) {
        fg_dirent_t e = (*list) [i];
        if (e.dir && e.name [0] != '.') {
            (*list) [i] = (*list) [k];
            (*list) [k++] = e;
        }
    }
    *classes = k;
    if (k == 0)
        return fg_error_set (err, FG_ENOENT, "%s: no class folder (a folder set holds "
                             "train/<class>/*.jpg|jpeg|png)", dir);
    if (k > FG_DATASET_CLASSES_MAX)
        return fg_error_set (err, FG_ERANGE, "%s: %zu class folders, at most %d", dir, k,
                             FG_DATASET_CLASSES_MAX);
    return 0;
}

//  Adds the images under <root>/<rel> (rel = <split>/<class>[/<sub>...])
//  with label, walking sub-folders to depth; counts them in *images
static int
s_add_tree (const char *root, const char *rel, uint32_t label, int depth, fg_files_t *files,
            size_t *images, fg_error_t *err)
{
    char dir [S_PATH_MAX], sub [S_PATH_MAX];
    snprintf (dir, sizeof dir, "%s/%s", root, rel);
    fg_dirent_t *list;
    size_t n;
    int rc = fg_files_list (dir, &list, &n, err);
    for (size_t i = 0; i < n && !rc; i++) {
        const fg_dirent_t *e = &list [i];
        if (e->name [0] == '.')
            continue;
        if (snprintf (sub, sizeof sub, "%s/%s", rel, e->name) >= (int) sizeof sub - 1)
            rc = fg_error_set (err, FG_ERANGE, "%s/%s: path too long", dir, e->name);
        else
        if (e->dir && depth >= S_DEPTH_MAX)
            rc = fg_error_set (err, FG_ERANGE, "%s/%s: more than %d folder levels in a class "
                               "folder (a link loop?)", dir, e->name, S_DEPTH_MAX);
        else
        if (e->dir)
            rc = s_add_tree (root, sub, label, depth + 1, files, images, err);
        else
        if (fg_files_has_extension (e->name, s_extensions)) {
            rc = fg_files_add (files, sub, label, e->size, err);
            (*images)++;
        }
    }
    fg_files_list_free (&list, n);
    return rc;
}

//  Adds the images of <root>/<split>/<class> with label
static int
s_add_class (const char *root, const char *split, const char *class, uint32_t label,
             fg_files_t *files, fg_error_t *err)
{
    char rel [S_PATH_MAX];
    snprintf (rel, sizeof rel, "%s/%s", split, class);
    size_t images = 0;
    int rc = s_add_tree (root, rel, label, 0, files, &images, err);
    if (!rc && images == 0)
        rc = fg_error_set (err, FG_ENOENT, "%s/%s: no image (*.jpg, *.jpeg, *.png) in class "
                           "folder %s", root, rel, class);
    return rc;
}

static bool
s_is_dir (const char *path)
{
    struct stat st;
    return stat (path, &st) == 0 && S_ISDIR (st.st_mode);
}

//  The test split's classes, each one of train's (sorted: binary search)
static int
s_index_test (const char *root, const fg_dirent_t *train, size_t classes, fg_files_t *files,
              fg_error_t *err)
{
    char dir [S_PATH_MAX];
    const char *split = "val";
    snprintf (dir, sizeof dir, "%s/val", root);
    if (!s_is_dir (dir)) {
        split = "test";
        snprintf (dir, sizeof dir, "%s/test", root);
        if (!s_is_dir (dir))
            return fg_error_set (err, FG_ENOENT, "folder test: neither %s/val nor %s/test is "
                                 "a folder", root, root);
    }
    fg_dirent_t *list;
    size_t n, k;
    int rc = s_classes (dir, &list, &n, &k, err);
    for (size_t i = 0; i < k && !rc; i++) {
        size_t lo = 0, hi = classes;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (strcmp (train [mid].name, list [i].name) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo == classes || strcmp (train [lo].name, list [i].name))
            rc = fg_error_set (err, FG_EFORMAT, "%s/%s: class %s is not a class of %s/train",
                               dir, list [i].name, list [i].name, root);
        else
            rc = s_add_class (root, split, list [i].name, (uint32_t) lo, files, err);
    }
    fg_files_list_free (&list, n);
    return rc;
}

int
fg_dataset_open_folder (const char *path, fg_split_t split, size_t limit, uint32_t side,
                        fg_dataset_t **out, fg_error_t *err)
{
    assert (out);
    *out = NULL;
    if (split != FG_SPLIT_TRAIN && split != FG_SPLIT_TEST)
        return fg_error_set (err, FG_EINVAL, "folder: split %d is neither train nor test", split);
    if (side < 8 || side > FG_DATASET_SIDE_MAX)
        return fg_error_set (err, FG_EINVAL, "folder: image side %u outside 8..%d "
                             "(data.image_size)", side, FG_DATASET_SIDE_MAX);
    if (!path || !*path)
        return fg_error_set (err, FG_EINVAL, "folder: no path given (data.path)");
    //  room for "/train/<class>/<name>" after the root
    if (strlen (path) > S_PATH_MAX - 2 * FG_DATASET_NAME_MAX - 32)
        return fg_error_set (err, FG_ERANGE, "folder: path %.64s... is too long", path);
    char dir [S_PATH_MAX];
    snprintf (dir, sizeof dir, "%s/train", path);
    fg_dirent_t *train = NULL;
    size_t n = 0, classes = 0;
    fg_files_t *files = NULL;
    int rc = s_classes (dir, &train, &n, &classes, err);
    if (!rc)
        rc = fg_files_new (path, (uint32_t) classes, &files, err);
    if (!rc && split == FG_SPLIT_TRAIN)
        for (size_t k = 0; k < classes && !rc; k++)
            rc = s_add_class (path, "train", train [k].name, (uint32_t) k, files, err);
    if (!rc && split == FG_SPLIT_TEST)
        rc = s_index_test (path, train, classes, files, err);
    if (!rc)
        rc = fg_files_build (&files, FG_DATASET_FOLDER, split, side, true, limit, out, err);
    if (rc)
        fg_error_prefix (err, "folder %s", fg_dataset_split_name (split));
    fg_files_destroy (&files);
    fg_files_list_free (&train, n);
    return rc;
}
