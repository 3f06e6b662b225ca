/*  fg_dataset_tiny.c — Tiny-ImageNet-200 in its own layout (see
    docs/datasets.md):
        wnids.txt                       class ids, line order = label
        train/<wnid>/images/<name>.JPEG the training split
        val/images/<name>.JPEG          the test split, labelled by
        val/val_annotations.txt         "<file>\t<wnid>\t<x0>\t<y0>\t<x1>\t<y1>"
    Opening indexes (listings, sizes, the two text files); images are
    read and decoded on use by fg_dataset_files.c. Every line of the text
    files is checked; an error names the file and the line.               */

#include "fg_dataset_internal.h"
#include "fg_config.h"
#include "fg_file.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_TEXT_MAX  ((size_t) 16 << 20)     //  largest wnids.txt / val_annotations.txt
#define S_PATH_MAX  4096
#define S_SIDE      64                      //  Tiny-ImageNet images are 64x64x3

static const char *s_extensions [] = { "JPEG", "jpg", NULL };   //  compared without case

//  --------------------------------------------------------------------------
//  Text files (from memory: the fuzz harness calls these)

//  Number of lines of text (a last line without newline counts; a final
//  newline does not open another).
static size_t
s_count_lines (const char *text, size_t size)
{
    size_t lines = 0;
    for (size_t i = 0; i < size; i++)
        lines += text [i] == '\n';
    return lines + (size > 0 && text [size - 1] != '\n');
}

//  Splits the copy of text into lines in place (NUL-terminated, "\r" of
//  "\r\n" dropped); line k starts at starts [k]. A NUL byte inside a line
//  shows as a shorter line, which the callers refuse (it leaves the line's
//  length short of its span: s_line_ok checks).
static void
s_split_lines (char *copy, size_t size, char **starts, size_t *ends)
{
    size_t k = 0, begin = 0;
    for (size_t i = 0; i <= size; i++)
        if (i == size? i > begin: copy [i] == '\n') {
            size_t end = i;
            if (end > begin && copy [end - 1] == '\r')
                end--;
            copy [end] = '\0';
            starts [k] = copy + begin;
            ends [k++] = end - begin;
            begin = i + 1;
        }
}

//  A name field: 1..FG_DATASET_NAME_MAX bytes of printable ASCII, no
//  space or "/", not "." or "..", and (hidden) not starting with "." when
//  no_dot.
static bool
s_name_ok (const char *s, size_t len, bool no_dot)
{
    if (len == 0 || len > FG_DATASET_NAME_MAX || strlen (s) != len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s [i] <= ' ' || s [i] > '~' || s [i] == '/')
            return false;
    if (no_dot && s [0] == '.')
        return false;
    return strcmp (s, ".") && strcmp (s, "..");
}

int
fg_tiny_parse_wnids (const char *text, size_t size, const char *name, char ***wnids,
                     size_t *count, fg_error_t *err)
{
    *wnids = NULL;
    *count = 0;
    size_t lines = s_count_lines (text, size);
    if (lines == 0)
        return fg_error_set (err, FG_EFORMAT, "%s: empty (one class id a line expected)", name);
    if (lines > FG_DATASET_CLASSES_MAX)
        return fg_error_set (err, FG_EFORMAT, "%s: %zu lines, at most %d classes", name, lines,
                             FG_DATASET_CLASSES_MAX);
    //  one block: line pointers, line lengths, the text's copy
    size_t head = lines * (sizeof (char *) + sizeof (size_t));
    char **ids = malloc (head + size + 1);
    if (!ids)
        return fg_error_set (err, FG_ENOMEM, "%s: out of memory", name);
    size_t *lens = (size_t *) (ids + lines);
    char *copy = (char *) ids + head;
    memcpy (copy, text, size);
    copy [size] = '\0';
    s_split_lines (copy, size, ids, lens);
    for (size_t k = 0; k < lines; k++) {
        if (!s_name_ok (ids [k], lens [k], false)) {
            free (ids);
            return fg_error_set (err, FG_EFORMAT, "%s:%zu: not a class id (1..%d printable "
                                 "characters without spaces or /)", name, k + 1,
                                 FG_DATASET_NAME_MAX);
        }
        for (size_t j = 0; j < k; j++)
            if (strcmp (ids [j], ids [k]) == 0) {
                int rc = fg_error_set (err, FG_EFORMAT, "%s:%zu: class %s already on line %zu",
                                       name, k + 1, ids [j], j + 1);
                free (ids);
                return rc;
            }
    }
    *wnids = ids;
    *count = lines;
    return 0;
}

typedef struct {
    const char *id;
    uint32_t    label;
} s_wnid_t;

static int
s_compare_wnid (const void *a, const void *b)
{
    return strcmp (((const s_wnid_t *) a)->id, ((const s_wnid_t *) b)->id);
}

static int
s_compare_annotation (const void *a, const void *b)
{
    const fg_tiny_annotation_t *x = a, *y = b;
    int c = strcmp (x->file, y->file);
    return c? c: (x->line < y->line? -1: x->line > y->line);
}

//  A box coordinate: 1..5 decimal digits, at most 65535
static bool
s_coord_ok (const char *s)
{
    size_t len = strlen (s);
    if (len == 0 || len > 5 || strspn (s, "0123456789") != len)
        return false;
    return atol (s) <= 65535;
}

//  Parses line k (NUL-terminated, len bytes) into *a. Returns 0 or
//  FG_EFORMAT naming file:line.
static int
s_parse_annotation (char *line, size_t len, uint32_t k, const char *name,
                    const s_wnid_t *sorted, size_t count, fg_tiny_annotation_t *a,
                    fg_error_t *err)
{
    if (strlen (line) != len)
        return fg_error_set (err, FG_EFORMAT, "%s:%u: a NUL byte in the line", name, k);
    char *field [6];
    size_t nf = 0;
    for (char *p = line; nf < 6; nf++) {
        field [nf] = p;
        char *tab = strchr (p, '\t');
        if (!tab) {
            nf++;
            break;
        }
        *tab = '\0';
        p = tab + 1;
        if (nf == 5)
            return fg_error_set (err, FG_EFORMAT, "%s:%u: more than 6 tab-separated fields",
                                 name, k);
    }
    if (nf != 6)
        return fg_error_set (err, FG_EFORMAT, "%s:%u: %zu tab-separated fields, expected 6 "
                             "(file, class id, x0, y0, x1, y1)", name, k, nf);
    if (!s_name_ok (field [0], strlen (field [0]), true))
        return fg_error_set (err, FG_EFORMAT, "%s:%u: \"%.64s\" is not a file name", name, k,
                             field [0]);
    s_wnid_t key = { field [1], 0 };
    const s_wnid_t *hit = bsearch (&key, sorted, count, sizeof *sorted, s_compare_wnid);
    if (!hit)
        return fg_error_set (err, FG_EFORMAT, "%s:%u: class %.64s is not in wnids.txt", name, k,
                             field [1]);
    for (int c = 2; c < 6; c++)
        if (!s_coord_ok (field [c]))
            return fg_error_set (err, FG_EFORMAT, "%s:%u: box field %d (\"%.16s\") is not an "
                                 "integer 0..65535", name, k, c - 1, field [c]);
    *a = (fg_tiny_annotation_t) { field [0], hit->label, k };
    return 0;
}

int
fg_tiny_parse_annotations (const char *text, size_t size, const char *name,
                           char *const *wnids, size_t count,
                           fg_tiny_annotation_t **out, size_t *n, fg_error_t *err)
{
    *out = NULL;
    *n = 0;
    size_t lines = s_count_lines (text, size);
    if (lines == 0)
        return fg_error_set (err, FG_EFORMAT, "%s: empty", name);
    if (lines > FG_DATASET_FILES_MAX)
        return fg_error_set (err, FG_EFORMAT, "%s: %zu lines, at most %u", name, lines,
                             FG_DATASET_FILES_MAX);
    //  one block: entries, then the text's copy; scratch: line starts and
    //  lengths, and the class ids sorted for lookup
    size_t head = lines * sizeof (fg_tiny_annotation_t);
    fg_tiny_annotation_t *a = malloc (head + size + 1);
    char **starts = malloc (lines * sizeof *starts);
    size_t *lens = malloc (lines * sizeof *lens);
    s_wnid_t *sorted = malloc ((count? count: 1) * sizeof *sorted);
    int rc = 0;
    if (!a || !starts || !lens || !sorted)
        rc = fg_error_set (err, FG_ENOMEM, "%s: out of memory", name);
    else {
        char *copy = (char *) a + head;
        memcpy (copy, text, size);
        copy [size] = '\0';
        s_split_lines (copy, size, starts, lens);
        for (size_t c = 0; c < count; c++)
            sorted [c] = (s_wnid_t) { wnids [c], (uint32_t) c };
        qsort (sorted, count, sizeof *sorted, s_compare_wnid);
        for (size_t k = 0; k < lines && !rc; k++)
            rc = s_parse_annotation (starts [k], lens [k], (uint32_t) (k + 1), name, sorted,
                                     count, &a [k], err);
    }
    if (!rc) {
        qsort (a, lines, sizeof *a, s_compare_annotation);
        for (size_t k = 1; k < lines && !rc; k++)
            if (strcmp (a [k].file, a [k - 1].file) == 0)
                rc = fg_error_set (err, FG_EFORMAT, "%s:%u: %s already on line %u", name,
                                   a [k].line, a [k].file, a [k - 1].line);
    }
    free (starts);
    free (lens);
    free (sorted);
    if (rc) {
        free (a);
        return rc;
    }
    *out = a;
    *n = lines;
    return 0;
}

//  --------------------------------------------------------------------------
//  The layout on disk

static bool
s_is_image (const fg_dirent_t *e)
{
    return !e->dir && e->name [0] != '.' && fg_files_has_extension (e->name, s_extensions);
}

//  train/<wnid>/images/*.JPEG of every class
static int
s_index_train (const char *root, char *const *wnids, size_t count, fg_files_t *files,
               fg_error_t *err)
{
    int rc = 0;
    for (size_t k = 0; k < count && !rc; k++) {
        char dir [S_PATH_MAX], rel [S_PATH_MAX];
        snprintf (dir, sizeof dir, "%s/train/%s/images", root, wnids [k]);
        fg_dirent_t *list;
        size_t n, images = 0;
        if ((rc = fg_files_list (dir, &list, &n, err)))
            break;
        for (size_t i = 0; i < n && !rc; i++)
            if (s_is_image (&list [i])) {
                snprintf (rel, sizeof rel, "train/%s/images/%s", wnids [k], list [i].name);
                rc = fg_files_add (files, rel, (uint32_t) k, list [i].size, err);
                images++;
            }
        fg_files_list_free (&list, n);
        if (!rc && images == 0)
            rc = fg_error_set (err, FG_ENOENT, "%s: class %zu (%s, wnids.txt line %zu) has no "
                               "*.JPEG image", dir, k, wnids [k], k + 1);
    }
    return rc;
}

//  val/images/*.JPEG labelled by val/val_annotations.txt: every image has
//  exactly one line and every line an image
static int
s_index_val (const char *root, char *const *wnids, size_t count, fg_files_t *files,
             fg_error_t *err)
{
    char path [S_PATH_MAX], dir [S_PATH_MAX], rel [S_PATH_MAX];
    snprintf (path, sizeof path, "%s/val/val_annotations.txt", root);
    snprintf (dir, sizeof dir, "%s/val/images", root);
    char *text = NULL;
    size_t size, n = 0, nlist = 0;
    fg_tiny_annotation_t *a = NULL;
    fg_dirent_t *list = NULL;
    int rc = fg_file_read (path, S_TEXT_MAX, &text, &size, err);
    if (!rc)
        rc = fg_tiny_parse_annotations (text, size, path, wnids, count, &a, &n, err);
    if (!rc)
        rc = fg_files_list (dir, &list, &nlist, err);
    //  both sorted by name (byte order): walk them together
    size_t i = 0, j = 0;
    while (!rc && (i < n || j < nlist)) {
        if (j < nlist && !s_is_image (&list [j])) {
            j++;
            continue;
        }
        int c = i == n? 1: j == nlist? -1: strcmp (a [i].file, list [j].name);
        if (c < 0)
            rc = fg_error_set (err, FG_ENOENT, "%s:%u: %s/%s not found", path, a [i].line,
                               dir, a [i].file);
        else
        if (c > 0)
            rc = fg_error_set (err, FG_EFORMAT, "%s/%s has no line in %s", dir, list [j].name,
                               path);
        else {
            snprintf (rel, sizeof rel, "val/images/%s", a [i].file);
            rc = fg_files_add (files, rel, a [i].label, list [j].size, err);
            i++;
            j++;
        }
    }
    fg_files_list_free (&list, nlist);
    free (a);
    free (text);
    return rc;
}

int
fg_dataset_open_tiny (const char *path, fg_split_t split, size_t limit, fg_dataset_t **out,
                      fg_error_t *err)
{
    *out = NULL;
    //  room for "/train/<wnid>/images/<name>" after the root
    if (strlen (path) > S_PATH_MAX - 2 * FG_DATASET_NAME_MAX - 32)
        return fg_error_set (err, FG_ERANGE, "tiny-imagenet: path %.64s... is too long", path);
    char file [S_PATH_MAX];
    snprintf (file, sizeof file, "%s/wnids.txt", path);
    char *text = NULL, **wnids = NULL;
    size_t size, count = 0;
    fg_files_t *files = NULL;
    int rc = fg_file_read (file, S_TEXT_MAX, &text, &size, err);
    if (rc == FG_ENOENT)
        fg_error_prefix (err, "tiny-imagenet %s: not a Tiny-ImageNet-200 folder (wnids.txt, "
                         "train/, val/ expected)", fg_dataset_split_name (split));
    if (!rc)
        rc = fg_tiny_parse_wnids (text, size, file, &wnids, &count, err);
    if (!rc)
        rc = fg_files_new (path, (uint32_t) count, &files, err);
    if (!rc)
        rc = split == FG_SPLIT_TRAIN? s_index_train (path, wnids, count, files, err)
                                    : s_index_val (path, wnids, count, files, err);
    if (!rc)
        rc = fg_files_build (&files, FG_DATASET_TINY_IMAGENET, split, S_SIDE, false, limit,
                             out, err);
    fg_files_destroy (&files);
    free (wnids);
    free (text);
    return rc;
}
