/*  test_dataset_files.c — the file-backed datasets: Tiny-ImageNet-200 in
    its own layout and folders of images (ImageFolder), indexed at open and
    decoded on use; round-robin class order and limits; the fgds2 index
    hash; every line of the index files checked (file and line named);
    damaged images found at decode time (naming the file) while the set
    still opens; stored bytes and datasets built from them (same bits as
    the whole set); several threads sharing one set.

    Images are made by the test with libjpeg-turbo's and libspng's encoders
    (tests/fg_test_image.h) from seeded patterns. The real copy of
    Tiny-ImageNet-200 is read from $FG_TINY_IMAGENET_DIR or
    /work/shared/data/tiny-imagenet-200; when absent that case is skipped
    ("# SKIP"), never failed.                                              */

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "fg_config.h"
#include "fg_dataset_internal.h"
#include "fg_file.h"
#include "fg_image.h"
#include "fg_model.h"
#include "fg_optim.h"
#include "fg_unit.h"
#include "fg_test_image.h"
#include "fg_test_util.h"

#define S_PATH 4096

//  --------------------------------------------------------------------------
//  Helpers

static void
s_path (char *out, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    int n = vsnprintf (out, S_PATH, fmt, args);
    va_end (args);
    assert_true (n > 0 && n < S_PATH);
}

//  mkdir -p of path's folders (not its last part when file)
static void
s_mkdirs (const char *path, bool file)
{
    char buf [S_PATH];
    snprintf (buf, sizeof buf, "%s", path);
    size_t len = strlen (buf);
    for (size_t i = 1; i <= len; i++)
        if (buf [i] == '/' || (buf [i] == '\0' && !file)) {
            char keep = buf [i];
            buf [i] = '\0';
            assert_true (mkdir (buf, 0755) == 0 || errno == EEXIST);
            buf [i] = keep;
        }
}

//  A seeded JPEG of h x w x c at path (folders made)
static void
s_jpeg (const char *path, uint64_t seed, uint32_t h, uint32_t w, uint32_t c)
{
    s_mkdirs (path, true);
    uint8_t *hwc = malloc ((size_t) h * w * c);
    assert_non_null (hwc);
    fg_test_image_pattern (seed, h, w, c, hwc);
    assert_int_equal (fg_test_image_write_jpeg (path, hwc, h, w, c, 90), 0);
    free (hwc);
}

static void
s_png (const char *path, uint64_t seed, uint32_t h, uint32_t w, uint32_t c)
{
    s_mkdirs (path, true);
    uint8_t *hwc = malloc ((size_t) h * w * c);
    assert_non_null (hwc);
    fg_test_image_pattern (seed, h, w, c, hwc);
    assert_int_equal (fg_test_image_write_png (path, hwc, h, w, c), 0);
    free (hwc);
}

static void
s_text (const char *path, const char *text)
{
    s_mkdirs (path, true);
    assert_int_equal (fg_test_image_write_file (path, text, strlen (text)), 0);
}

//  The expected pixels of an image file: decoded to RGB, fitted to side
static void
s_expected (const char *path, uint32_t side, uint8_t *out)
{
    char *bytes;
    size_t size;
    fg_error_t err;
    assert_int_equal (fg_file_read (path, 1 << 26, &bytes, &size, &err), 0);
    fg_image_t image;
    assert_int_equal (fg_image_decode ((uint8_t *) bytes, size, path, 3, &image, &err), 0);
    assert_int_equal (fg_image_fit (&image, side, out, &err), 0);
    fg_image_release (&image);
    free (bytes);
}

//  Sample i's pixels through fg_dataset_records (label checked too)
static void
s_sample (const fg_dataset_t *ds, size_t i, uint8_t *pixels, uint16_t *label)
{
    size_t rs = fg_dataset_record_size (ds);
    uint8_t *rec = malloc (rs);
    fg_error_t err;
    assert_int_equal (fg_dataset_records (ds, i, 1, rec, &err), 0);
    if (label)
        *label = (uint16_t) (rec [0] | rec [1] << 8);
    memcpy (pixels, rec + 2, rs - 2);
    free (rec);
}

static void
s_expect (int rc, const fg_error_t *err, int code, const char *a, const char *b)
{
    if (rc != code || (a && !strstr (err->msg, a)) || (b && !strstr (err->msg, b)))
        fail_msg ("expected code %d with \"%s\" \"%s\", got %d: %s", code, a? a: "",
                  b? b: "", rc, err->msg);
}

//  A generated Tiny-ImageNet: 3 classes (wnids.txt order c, a, b), train
//  images per class 5, 3, 4 (a greyscale one in class 0), val 2 + 1 + 2
static const char *s_wnids [3] = { "n003", "n001", "n002" };
static const int s_per_class [3] = { 5, 3, 4 };

static void
s_make_tiny (const char *root)
{
    char path [S_PATH];
    s_path (path, "%s/wnids.txt", root);
    s_text (path, "n003\nn001\r\nn002");
    for (int k = 0; k < 3; k++)
        for (int j = 0; j < s_per_class [k]; j++) {
            s_path (path, "%s/train/%s/images/%s_%d.JPEG", root, s_wnids [k], s_wnids [k], j);
            s_jpeg (path, 100 * k + j, 64, 64, k == 0 && j == 2? 1: 3);
        }
    //  a boxes file beside images/, as in the real layout: not an image
    s_path (path, "%s/train/n003/n003_boxes.txt", root);
    s_text (path, "n003_0.JPEG\t0\t0\t10\t10\n");
    const char *val [5] = { "val_0.JPEG", "val_1.JPEG", "val_2.JPEG", "val_3.JPEG", "val_4.JPEG" };
    for (int v = 0; v < 5; v++) {
        s_path (path, "%s/val/images/%s", root, val [v]);
        s_jpeg (path, 1000 + v, 64, 64, 3);
    }
    s_path (path, "%s/val/val_annotations.txt", root);
    s_text (path, "val_3.JPEG\tn002\t0\t1\t60\t62\n"
                  "val_0.JPEG\tn001\t0\t32\t44\t62\n"
                  "val_1.JPEG\tn003\t52\t55\t57\t59\n"
                  "val_2.JPEG\tn001\t4\t0\t60\t55\n"
                  "val_4.JPEG\tn003\t1\t2\t3\t4\n");
}

//  --------------------------------------------------------------------------
//  Tiny-ImageNet, generated

static void
test_tiny_generated (void **state)
{
    (void) state;
    char root [S_PATH], path [S_PATH];
    fg_test_tmpdir ("tiny", root, sizeof root);
    s_make_tiny (root);
    fg_error_t err;
    fg_dataset_t *train, *test;
    assert_int_equal (fg_dataset_open (FG_DATASET_TINY_IMAGENET, root, FG_SPLIT_TRAIN, 0,
                                       &train, &err), 0);
    assert_int_equal (fg_dataset_count (train), 12);
    assert_int_equal (fg_dataset_classes (train), 3);
    assert_null (fg_dataset_pixels (train));
    assert_true (fg_dataset_has_stored (train));
    uint32_t h, w, c;
    fg_dataset_shape (train, &h, &w, &c);
    assert_true (h == 64 && w == 64 && c == 3);
    //  round robin: rounds of classes 0,1,2; class 1 (3 files) drops out
    //  after round 2, class 2 (4) after round 3
    static const uint16_t order [12] = { 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 2, 0 };
    static const int file [12] = { 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 4 };
    assert_memory_equal (fg_dataset_labels (train), order, sizeof order);
    uint8_t got [64 * 64 * 3], want [64 * 64 * 3];
    for (size_t i = 0; i < 12; i++) {
        uint16_t label;
        s_sample (train, i, got, &label);
        assert_int_equal (label, order [i]);
        s_path (path, "%s/train/%s/images/%s_%d.JPEG", root, s_wnids [order [i]],
                s_wnids [order [i]], file [i]);
        s_expected (path, 64, want);
        assert_memory_equal (got, want, sizeof got);
        const uint8_t *bytes;
        size_t size;
        assert_int_equal (fg_dataset_stored (train, i, &bytes, &size, &err), 0);
        struct stat st;
        assert_int_equal (stat (path, &st), 0);
        assert_int_equal (size, (size_t) st.st_size);
    }
    //  the greyscale JPEG (class 0, file 2: sample 6) is RGB, R = G = B
    s_sample (train, 6, got, NULL);
    for (size_t p = 0; p < 64 * 64; p++)
        assert_true (got [3 * p] == got [3 * p + 1] && got [3 * p] == got [3 * p + 2]);

    //  the val split: labels from the annotations, files in name order
    assert_int_equal (fg_dataset_open (FG_DATASET_TINY_IMAGENET, root, FG_SPLIT_TEST, 0,
                                       &test, &err), 0);
    assert_int_equal (fg_dataset_count (test), 5);
    //  classes: 0 (n003): val_1, val_4; 1 (n001): val_0, val_2; 2 (n002): val_3
    static const uint16_t vorder [5] = { 0, 1, 2, 0, 1 };
    static const int vfile [5] = { 1, 0, 3, 4, 2 };
    assert_memory_equal (fg_dataset_labels (test), vorder, sizeof vorder);
    for (size_t i = 0; i < 5; i++) {
        s_sample (test, i, got, NULL);
        s_path (path, "%s/val/images/val_%d.JPEG", root, vfile [i]);
        s_expected (path, 64, want);
        assert_memory_equal (got, want, sizeof got);
    }
    //  ImageNet statistics, pad 8, flips
    assert_true (fg_dataset_mean (test) [0] == 0.485 && fg_dataset_std (test) [2] == 0.225);
    uint32_t pad;
    bool flip;
    fg_dataset_augment_policy (test, &pad, &flip);
    assert_true (pad == 8 && flip);

    //  limit keeps the class-balanced prefix, with its own hash
    fg_dataset_t *part;
    assert_int_equal (fg_dataset_open (FG_DATASET_TINY_IMAGENET, root, FG_SPLIT_TRAIN, 4,
                                       &part, &err), 0);
    assert_int_equal (fg_dataset_count (part), 4);
    assert_memory_equal (fg_dataset_labels (part), order, 4 * sizeof order [0]);
    assert_string_not_equal (fg_dataset_hash_hex (part), fg_dataset_hash_hex (train));
    fg_dataset_t *again;
    assert_int_equal (fg_dataset_open (FG_DATASET_TINY_IMAGENET, root, FG_SPLIT_TRAIN, 0,
                                       &again, &err), 0);
    assert_string_equal (fg_dataset_hash_hex (again), fg_dataset_hash_hex (train));
    fg_dataset_destroy (&again);

    //  a file rewritten after open: a set that read it keeps its copy; a
    //  set that had not read it refuses the new size; a set opened now has
    //  another index hash (the size is in it)
    const uint8_t *bytes, *kept;
    size_t size, kept_size;
    assert_int_equal (fg_dataset_stored (train, 7, &kept, &kept_size, &err), 0);
    uint8_t *old = malloc (kept_size);
    memcpy (old, kept, kept_size);
    fg_dataset_t *unread;
    assert_int_equal (fg_dataset_open (FG_DATASET_TINY_IMAGENET, root, FG_SPLIT_TRAIN, 0,
                                       &unread, &err), 0);
    s_path (path, "%s/train/n001/images/n001_2.JPEG", root);
    s_jpeg (path, 4242, 64, 64, 3);
    struct stat st;
    assert_int_equal (stat (path, &st), 0);
    assert_true ((size_t) st.st_size != kept_size);     //  seeds fixed: sizes differ
    assert_int_equal (fg_dataset_stored (train, 7, &bytes, &size, &err), 0);
    assert_true (bytes == kept && size == kept_size);
    assert_memory_equal (bytes, old, size);
    free (old);
    int rc = fg_dataset_stored (unread, 7, &bytes, &size, &err);
    s_expect (rc, &err, FG_EFORMAT, path, "the file changed");
    assert_int_equal (fg_dataset_open (FG_DATASET_TINY_IMAGENET, root, FG_SPLIT_TRAIN, 0,
                                       &again, &err), 0);
    assert_string_not_equal (fg_dataset_hash_hex (again), fg_dataset_hash_hex (train));
    fg_dataset_destroy (&again);
    fg_dataset_destroy (&unread);
    fg_dataset_destroy (&part);
    fg_dataset_destroy (&test);
    fg_dataset_destroy (&train);
    fg_test_rmtree (root);
}

//  Every line of the index files is checked; errors name file and line
static void
test_tiny_index_errors (void **state)
{
    (void) state;
    char root [S_PATH], path [S_PATH], ann [S_PATH];
    fg_test_tmpdir ("tiny-bad", root, sizeof root);
    s_make_tiny (root);
    s_path (ann, "%s/val/val_annotations.txt", root);
    fg_error_t err;
    fg_dataset_t *ds = NULL;
    struct { const char *text; int code; const char *a, *b; } cases [] = {
        { "val_0.JPEG\tn001\t0\t32\t44\t62\nval_1.JPEG\tn999\t0\t0\t1\t1\n", FG_EFORMAT,
          "val_annotations.txt:2", "n999 is not in wnids.txt" },
        { "val_0.JPEG\tn001\t0\t32\t44\t62\nval_0.JPEG\tn002\t0\t0\t1\t1\n", FG_EFORMAT,
          "val_annotations.txt:2", "already on line 1" },
        { "val_0.JPEG\tn001\t0\t32\t44\n", FG_EFORMAT, ":1", "5 tab-separated fields" },
        { "val_0.JPEG\tn001\t0\t32\t44\t6x\n", FG_EFORMAT, ":1", "box field 4" },
        { "../x.JPEG\tn001\t0\t32\t44\t62\n", FG_EFORMAT, ":1", "not a file name" },
        { "", FG_EFORMAT, "val_annotations.txt", "empty" },
        //  a line for a file that is not there
        { "val_0.JPEG\tn001\t0\t32\t44\t62\nval_1.JPEG\tn003\t1\t1\t1\t1\n"
          "val_2.JPEG\tn001\t1\t1\t1\t1\nval_3.JPEG\tn002\t1\t1\t1\t1\n"
          "val_4.JPEG\tn003\t1\t1\t1\t1\nval_9.JPEG\tn003\t1\t1\t1\t1\n", FG_ENOENT,
          "val_annotations.txt:6", "val_9.JPEG not found" },
        //  an image without a line
        { "val_0.JPEG\tn001\t0\t32\t44\t62\nval_1.JPEG\tn003\t1\t1\t1\t1\n"
          "val_2.JPEG\tn001\t1\t1\t1\t1\nval_3.JPEG\tn002\t1\t1\t1\t1\n", FG_EFORMAT,
          "val_4.JPEG has no line", NULL },
    };
    for (size_t t = 0; t < sizeof cases / sizeof cases [0]; t++) {
        s_text (ann, cases [t].text);
        int rc = fg_dataset_open (FG_DATASET_TINY_IMAGENET, root, FG_SPLIT_TEST, 0, &ds, &err);
        s_expect (rc, &err, cases [t].code, cases [t].a, cases [t].b);
        assert_null (ds);
    }
    //  wnids.txt: a duplicate, an empty line, a bad id
    s_path (path, "%s/wnids.txt", root);
    const char *wn [3][3] = { { "n003\nn001\nn003\n", "wnids.txt:3", "already on line 1" },
                              { "n003\n\nn002\n", "wnids.txt:2", "not a class id" },
                              { "n003\nn0 01\n", "wnids.txt:2", "not a class id" } };
    for (int t = 0; t < 3; t++) {
        s_text (path, wn [t][0]);
        int rc = fg_dataset_open (FG_DATASET_TINY_IMAGENET, root, FG_SPLIT_TRAIN, 0, &ds, &err);
        s_expect (rc, &err, FG_EFORMAT, wn [t][1], wn [t][2]);
    }
    //  a class without a folder, a class folder without images
    s_text (path, "n003\nn001\nn002\nn004\n");
    int rc = fg_dataset_open (FG_DATASET_TINY_IMAGENET, root, FG_SPLIT_TRAIN, 0, &ds, &err);
    s_expect (rc, &err, FG_ENOENT, "train/n004/images", NULL);
    s_path (path, "%s/train/n004/images", root);
    s_mkdirs (path, false);
    rc = fg_dataset_open (FG_DATASET_TINY_IMAGENET, root, FG_SPLIT_TRAIN, 0, &ds, &err);
    s_expect (rc, &err, FG_ENOENT, "n004, wnids.txt line 4", "no *.JPEG");
    //  no wnids.txt at all
    rc = fg_dataset_open (FG_DATASET_TINY_IMAGENET, path, FG_SPLIT_TRAIN, 0, &ds, &err);
    s_expect (rc, &err, FG_ENOENT, "wnids.txt", "not a Tiny-ImageNet-200 folder");
    assert_null (ds);
    fg_test_rmtree (root);
}

//  A damaged JPEG: the set opens (decoding is lazy); the batch and the
//  work unit that need it fail naming the file; the others work
static void
test_damaged_image (void **state)
{
    (void) state;
    char root [S_PATH], path [S_PATH];
    fg_test_tmpdir ("tiny-damaged", root, sizeof root);
    s_make_tiny (root);
    //  sample 4 is class 1's file 1: keep its first 200 bytes
    s_path (path, "%s/train/n001/images/n001_1.JPEG", root);
    char *bytes;
    size_t size;
    fg_error_t err;
    assert_int_equal (fg_file_read (path, 1 << 20, &bytes, &size, &err), 0);
    assert_int_equal (fg_test_image_write_file (path, bytes, 200), 0);
    free (bytes);
    //  and sample 5 (class 2, file 1) is 32x32: not Tiny-ImageNet's size
    char small [S_PATH];
    s_path (small, "%s/train/n002/images/n002_1.JPEG", root);
    s_jpeg (small, 77, 32, 32, 3);
    fg_dataset_t *ds;
    assert_int_equal (fg_dataset_open (FG_DATASET_TINY_IMAGENET, root, FG_SPLIT_TRAIN, 0, &ds,
                                       &err), 0);
    float *out = malloc (3 * 64 * 64 * 3 * sizeof (float));
    uint32_t good [3] = { 0, 3, 11 }, bad [2] = { 2, 4 }, wrong [1] = { 5 };
    assert_int_equal (fg_dataset_batch (ds, good, 3, false, NULL, out, NULL, &err), 0);
    int rc = fg_dataset_batch (ds, bad, 2, false, NULL, out, NULL, &err);
    s_expect (rc, &err, FG_EFORMAT, path, NULL);
    rc = fg_dataset_batch (ds, wrong, 1, false, NULL, out, NULL, &err);
    s_expect (rc, &err, FG_EMISMATCH, small, "32x32 image, expected 64x64");
    uint8_t rec [2 + 64 * 64 * 3];
    rc = fg_dataset_records (ds, 4, 1, rec, &err);
    s_expect (rc, &err, FG_EFORMAT, path, NULL);
    double mean [3], std [3];
    rc = fg_dataset_compute_stats (ds, mean, std, &err);
    s_expect (rc, &err, FG_EFORMAT, path, NULL);
    free (out);

    //  a work unit over every sample but the 32x32 one fails with the
    //  damaged file's message
    fg_unit_spec_t spec;
    memset (&spec, 0, sizeof spec);
    uint32_t shard [11];
    for (uint32_t i = 0, n = 0; i < 12; i++)
        if (i != 5)
            shard [n++] = i;
    spec.data = ds;
    spec.indices = shard;
    spec.count = 11;
    fg_unit_model_spec (FG_MODEL_CNN_SMALL, ds, &spec.model);
    fg_config_t cfg;
    fg_config_defaults (&cfg);
    fg_optim_config_from (&spec.optim, &cfg, 1);
    spec.seed = 1;
    spec.epochs = 1;
    spec.batch = 11;
    spec.threads = 1;
    fg_model_t *init = fg_model_new (&spec.model, &err);
    assert_non_null (init);
    fg_model_init (init, 1);
    fg_unit_t *unit = fg_unit_new (&spec, fg_model_state (init), &err);
    assert_non_null (unit);
    rc = fg_unit_run (unit, &err);
    s_expect (rc, &err, FG_EFORMAT, path, NULL);
    fg_unit_destroy (&unit);
    fg_model_destroy (&init);
    fg_dataset_destroy (&ds);
    fg_test_rmtree (root);
}

//  --------------------------------------------------------------------------
//  Folder sets

static void
test_folder (void **state)
{
    (void) state;
    char root [S_PATH], path [S_PATH];
    fg_test_tmpdir ("folder", root, sizeof root);
    //  classes in byte order: "Dog" < "bird" < "cat"
    s_path (path, "%s/train/cat/c1.jpg", root);     s_jpeg (path, 1, 48, 80, 3);
    s_path (path, "%s/train/cat/c0.PNG", root);     s_png (path, 2, 40, 40, 3);
    s_path (path, "%s/train/Dog/d0.jpeg", root);    s_jpeg (path, 3, 100, 60, 1);
    s_path (path, "%s/train/Dog/.hidden.jpg", root); s_jpeg (path, 4, 20, 20, 3);
    s_path (path, "%s/train/Dog/notes.txt", root);  s_text (path, "not an image");
    s_path (path, "%s/train/bird/b0.JPG", root);    s_jpeg (path, 5, 32, 32, 3);
    s_path (path, "%s/train/bird/b1.png", root);    s_png (path, 6, 64, 33, 4);
    s_path (path, "%s/train/bird/b2.jpg", root);    s_jpeg (path, 7, 16, 90, 3);
    s_path (path, "%s/train/README.txt", root);     s_text (path, "top-level file: skipped");
    s_path (path, "%s/train/cat/more/c2.jpg", root); s_jpeg (path, 11, 24, 24, 3);
    s_path (path, "%s/train/cat/.cache/c3.jpg", root); s_jpeg (path, 12, 24, 24, 3);
    s_path (path, "%s/val/cat/v0.jpg", root);       s_jpeg (path, 8, 30, 30, 3);
    s_path (path, "%s/val/bird/v1.png", root);      s_png (path, 9, 31, 29, 3);
    fg_error_t err;
    fg_dataset_t *train, *test;
    assert_int_equal (fg_dataset_open_folder (root, FG_SPLIT_TRAIN, 0, 24, &train, &err), 0);
    assert_int_equal (fg_dataset_count (train), 7);
    assert_int_equal (fg_dataset_classes (train), 3);
    uint32_t h, w, c;
    fg_dataset_shape (train, &h, &w, &c);
    assert_true (h == 24 && w == 24 && c == 3);
    //  round robin over Dog (0), bird (1), cat (2); files in byte order of
    //  their paths, sub-folders walked, hidden ones not
    static const uint16_t order [7] = { 0, 1, 2, 1, 2, 1, 2 };
    static const char *files [7] = { "Dog/d0.jpeg", "bird/b0.JPG", "cat/c0.PNG",
                                     "bird/b1.png", "cat/c1.jpg", "bird/b2.jpg",
                                     "cat/more/c2.jpg" };
    assert_memory_equal (fg_dataset_labels (train), order, sizeof order);
    uint8_t got [24 * 24 * 3], want [24 * 24 * 3];
    for (size_t i = 0; i < 7; i++) {
        s_sample (train, i, got, NULL);
        s_path (path, "%s/train/%s", root, files [i]);
        s_expected (path, 24, want);
        assert_memory_equal (got, want, sizeof got);
    }
    assert_int_equal (fg_dataset_open_folder (root, FG_SPLIT_TEST, 0, 24, &test, &err), 0);
    assert_int_equal (fg_dataset_count (test), 2);
    static const uint16_t vorder [2] = { 1, 2 };
    assert_memory_equal (fg_dataset_labels (test), vorder, sizeof vorder);
    //  fg_dataset_open gives the default side
    fg_dataset_t *ds;
    assert_int_equal (fg_dataset_open (FG_DATASET_FOLDER, root, FG_SPLIT_TRAIN, 2, &ds, &err), 0);
    fg_dataset_shape (ds, &h, NULL, NULL);
    assert_int_equal (h, FG_DATASET_FOLDER_SIDE);
    assert_int_equal (fg_dataset_count (ds), 2);
    fg_dataset_destroy (&ds);
    fg_dataset_destroy (&test);

    //  test/ when there is no val/; a class the training split lacks
    s_path (path, "%s/val", root);
    char moved [S_PATH];
    s_path (moved, "%s/test", root);
    assert_int_equal (rename (path, moved), 0);
    assert_int_equal (fg_dataset_open_folder (root, FG_SPLIT_TEST, 0, 24, &test, &err), 0);
    assert_int_equal (fg_dataset_count (test), 2);
    fg_dataset_destroy (&test);
    s_path (path, "%s/test/fish/f.jpg", root);
    s_jpeg (path, 10, 20, 20, 3);
    int rc = fg_dataset_open_folder (root, FG_SPLIT_TEST, 0, 24, &test, &err);
    s_expect (rc, &err, FG_EFORMAT, "test/fish", "not a class of");
    //  an image file above FG_DATASET_FILE_MAX is refused at open (sparse)
    s_path (path, "%s/train/cat/huge.jpg", root);
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fclose (f);
    assert_int_equal (truncate (path, (off_t) FG_DATASET_FILE_MAX + 1), 0);
    rc = fg_dataset_open_folder (root, FG_SPLIT_TRAIN, 0, 24, &ds, &err);
    s_expect (rc, &err, FG_ERANGE, "huge.jpg", "above the");
    assert_int_equal (unlink (path), 0);
    //  a link loop inside a class folder ends at the depth bound
    s_path (path, "%s/train/cat/more/loop", root);
    char target [S_PATH];
    s_path (target, "%s/train/cat", root);
    assert_int_equal (symlink (target, path), 0);
    rc = fg_dataset_open_folder (root, FG_SPLIT_TRAIN, 0, 24, &ds, &err);
    s_expect (rc, &err, FG_ERANGE, "folder levels", NULL);
    assert_int_equal (unlink (path), 0);
    //  an empty class folder; a bad side; no train/
    s_path (path, "%s/train/eel", root);
    s_mkdirs (path, false);
    rc = fg_dataset_open_folder (root, FG_SPLIT_TRAIN, 0, 24, &ds, &err);
    s_expect (rc, &err, FG_ENOENT, "train/eel", "no image");
    rc = fg_dataset_open_folder (root, FG_SPLIT_TRAIN, 0, 4, &ds, &err);
    s_expect (rc, &err, FG_EINVAL, "data.image_size", NULL);
    rc = fg_dataset_open_folder (path, FG_SPLIT_TRAIN, 0, 24, &ds, &err);
    s_expect (rc, &err, FG_ENOENT, "eel/train", NULL);
    assert_null (ds);
    fg_dataset_destroy (&train);
    fg_test_rmtree (root);
}

//  --------------------------------------------------------------------------
//  Stored bytes, subsets built from them, threads

static void
test_from_stored (void **state)
{
    (void) state;
    char root [S_PATH];
    fg_test_tmpdir ("tiny-stored", root, sizeof root);
    s_make_tiny (root);
    fg_error_t err;
    fg_dataset_t *whole, *sub;
    assert_int_equal (fg_dataset_open (FG_DATASET_TINY_IMAGENET, root, FG_SPLIT_TRAIN, 0,
                                       &whole, &err), 0);
    uint32_t idx [4] = { 1, 4, 6, 11 };
    uint16_t labels [4];
    const uint8_t *bytes [4];
    size_t sizes [4];
    for (int i = 0; i < 4; i++) {
        assert_int_equal (fg_dataset_stored (whole, idx [i], &bytes [i], &sizes [i], &err), 0);
        labels [i] = fg_dataset_labels (whole) [idx [i]];
    }
    uint8_t source [FG_SHA256_SIZE];
    fg_dataset_hash (whole, source);
    assert_int_equal (fg_dataset_from_stored (FG_DATASET_TINY_IMAGENET, FG_SPLIT_TRAIN, source,
                                              3, 64, 4, idx, labels, bytes, sizes, &sub, &err), 0);
    assert_true (fg_dataset_is_subset (sub));
    uint8_t digest [FG_SHA256_SIZE];
    fg_dataset_source_hash (sub, digest);
    assert_memory_equal (digest, source, sizeof digest);
    assert_string_not_equal (fg_dataset_hash_hex (sub), fg_dataset_hash_hex (whole));
    size_t pos;
    assert_int_equal (fg_dataset_position (sub, 6, &pos), 0);
    assert_int_equal (pos, 2);
    assert_int_equal (fg_dataset_position (sub, 5, &pos), FG_ENOENT);
    //  augmented batches: the same bits at the same positions
    fg_dataset_key_t key = { 9, 2, 1, 0, 3 };
    uint32_t pa [4] = { 11, 1, 6, 4 }, pb [4] = { 3, 0, 2, 1 };
    size_t image = 64 * 64 * 3;
    float *a = malloc (4 * image * sizeof (float)), *b = malloc (4 * image * sizeof (float));
    uint16_t la [4], lb [4];
    assert_int_equal (fg_dataset_batch (whole, pa, 4, true, &key, a, la, &err), 0);
    assert_int_equal (fg_dataset_batch (sub, pb, 4, true, &key, b, lb, &err), 0);
    assert_memory_equal (a, b, 4 * image * sizeof (float));
    assert_memory_equal (la, lb, sizeof la);
    //  its stored bytes are its own copies, equal to the whole set's
    const uint8_t *mine;
    size_t size;
    assert_int_equal (fg_dataset_stored (sub, 3, &mine, &size, &err), 0);
    assert_true (mine != bytes [3] && size == sizes [3]);
    assert_memory_equal (mine, bytes [3], size);
    free (a);
    free (b);
    fg_dataset_destroy (&sub);

    //  rejections: nothing made
    uint32_t unordered [4] = { 1, 4, 4, 11 };
    int rc = fg_dataset_from_stored (FG_DATASET_TINY_IMAGENET, FG_SPLIT_TRAIN, source, 3, 64, 4,
                                     unordered, labels, bytes, sizes, &sub, &err);
    s_expect (rc, &err, FG_EINVAL, "strictly increasing", NULL);
    rc = fg_dataset_from_stored (FG_DATASET_TINY_IMAGENET, FG_SPLIT_TRAIN, source, 1, 64, 4,
                                 idx, labels, bytes, sizes, &sub, &err);
    s_expect (rc, &err, FG_ERANGE, "label 1, expected < 1", NULL);
    rc = fg_dataset_from_stored (FG_DATASET_TINY_IMAGENET, FG_SPLIT_TRAIN, source, 3, 32, 4,
                                 idx, labels, bytes, sizes, &sub, &err);
    s_expect (rc, &err, FG_EINVAL, NULL, NULL);
    rc = fg_dataset_from_stored (FG_DATASET_CIFAR10, FG_SPLIT_TRAIN, source, 3, 64, 4,
                                 idx, labels, bytes, sizes, &sub, &err);
    s_expect (rc, &err, FG_EINVAL, "not a set of image files", NULL);
    size_t zero [4] = { sizes [0], 0, sizes [2], sizes [3] };
    rc = fg_dataset_from_stored (FG_DATASET_TINY_IMAGENET, FG_SPLIT_TRAIN, source, 3, 64, 4,
                                 idx, labels, bytes, zero, &sub, &err);
    s_expect (rc, &err, FG_ERANGE, "sample 4", NULL);
    assert_null (sub);

    //  a damaged stored sample fails when used, naming it
    uint8_t junk [64] = { 0xff, 0xd8, 0xff };
    const uint8_t *jb [1] = { junk };
    size_t js [1] = { sizeof junk };
    uint32_t ji [1] = { 7 };
    uint16_t jl [1] = { 0 };
    assert_int_equal (fg_dataset_from_stored (FG_DATASET_TINY_IMAGENET, FG_SPLIT_TRAIN, source,
                                              3, 64, 1, ji, jl, jb, js, &sub, &err), 0);
    float one [64 * 64 * 3];
    uint32_t zero_index = 0;
    rc = fg_dataset_batch (sub, &zero_index, 1, false, NULL, one, NULL, &err);
    s_expect (rc, &err, FG_EFORMAT, "sample 7", NULL);
    fg_dataset_destroy (&sub);

    //  an in-memory set has no stored bytes
    fg_dataset_t *syn;
    assert_int_equal (fg_dataset_open (FG_DATASET_SYNTHETIC, "", FG_SPLIT_TRAIN, 10, &syn, &err), 0);
    assert_false (fg_dataset_has_stored (syn));
    rc = fg_dataset_stored (syn, 0, &mine, &size, &err);
    s_expect (rc, &err, FG_EUNSUPPORTED, NULL, NULL);
    rc = fg_dataset_stored (whole, 12, &mine, &size, &err);
    s_expect (rc, &err, FG_ERANGE, NULL, NULL);
    fg_dataset_destroy (&syn);
    fg_dataset_destroy (&whole);
    fg_test_rmtree (root);
}

typedef struct {
    const fg_dataset_t *ds;
    float *out;
    const uint8_t *bytes [12];
    int rc;
} s_worker_t;

static void *
s_worker (void *arg)
{
    s_worker_t *w = arg;
    uint32_t idx [12] = { 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0 };
    fg_dataset_key_t key = { 5, 1, 0, 0, 0 };
    fg_error_t err;
    size_t size;
    for (size_t i = 0; i < 12 && !w->rc; i++)
        w->rc = fg_dataset_stored (w->ds, i, &w->bytes [i], &size, &err);
    if (!w->rc)
        w->rc = fg_dataset_batch (w->ds, idx, 12, true, &key, w->out, NULL, &err);
    return NULL;
}

//  Threads that read the same files at once all see one published copy
//  and compute the same batch
static void
test_threads_share (void **state)
{
    (void) state;
    char root [S_PATH];
    fg_test_tmpdir ("tiny-threads", root, sizeof root);
    s_make_tiny (root);
    fg_error_t err;
    fg_dataset_t *ds;
    assert_int_equal (fg_dataset_open (FG_DATASET_TINY_IMAGENET, root, FG_SPLIT_TRAIN, 0, &ds,
                                       &err), 0);
    enum { N = 4 };
    s_worker_t w [N];
    pthread_t t [N];
    size_t floats = 12 * 64 * 64 * 3;
    for (int k = 0; k < N; k++) {
        w [k] = (s_worker_t) { .ds = ds, .out = malloc (floats * sizeof (float)) };
        assert_int_equal (pthread_create (&t [k], NULL, s_worker, &w [k]), 0);
    }
    for (int k = 0; k < N; k++)
        pthread_join (t [k], NULL);
    for (int k = 0; k < N; k++) {
        assert_int_equal (w [k].rc, 0);
        assert_memory_equal (w [k].bytes, w [0].bytes, sizeof w [0].bytes);
        assert_memory_equal (w [k].out, w [0].out, floats * sizeof (float));
    }
    for (int k = 0; k < N; k++)
        free (w [k].out);
    fg_dataset_destroy (&ds);
    fg_test_rmtree (root);
}

//  --------------------------------------------------------------------------
//  The real copy

static void
test_tiny_real (void **state)
{
    (void) state;
    const char *dir = getenv ("FG_TINY_IMAGENET_DIR");
    if (!dir)
        dir = "/work/shared/data/tiny-imagenet-200";
    char probe [S_PATH];
    s_path (probe, "%s/wnids.txt", dir);
    if (access (probe, R_OK)) {
        printf ("# SKIP Tiny-ImageNet-200 not found at %s (set FG_TINY_IMAGENET_DIR)\n", dir);
        skip ();
    }
    fg_error_t err;
    fg_dataset_t *train, *test;
    assert_int_equal (fg_dataset_open (FG_DATASET_TINY_IMAGENET, dir, FG_SPLIT_TRAIN, 0, &train,
                                       &err), 0);
    assert_int_equal (fg_dataset_open (FG_DATASET_TINY_IMAGENET, dir, FG_SPLIT_TEST, 0, &test,
                                       &err), 0);
    assert_int_equal (fg_dataset_count (train), 20000);
    assert_int_equal (fg_dataset_count (test), 10000);
    assert_int_equal (fg_dataset_classes (train), 200);
    //  wnids.txt: n02124075 (0), n04067472 (1), n04099969 (3), n03444034
    //  (163). Training sample i: class i mod 200, file i / 200 in byte
    //  order (_0, _1, _10, _11, ...). Val: per class in name order; class
    //  1's first is val_1 (line 2 of val_annotations.txt), class 163's is val_0
    for (size_t i = 0; i < 20000; i += 997)
        assert_int_equal (fg_dataset_labels (train) [i], i % 200);
    assert_int_equal (fg_dataset_labels (test) [1], 1);
    assert_int_equal (fg_dataset_labels (test) [163], 163);
    const uint8_t *bytes;
    size_t size;
    char path [S_PATH];
    struct stat st;
    struct { fg_dataset_t *ds; size_t i; const char *rel; } known [] = {
        { train, 0, "train/n02124075/images/n02124075_0.JPEG" },
        { train, 201, "train/n04067472/images/n04067472_1.JPEG" },
        { train, 400, "train/n02124075/images/n02124075_10.JPEG" },
        { test, 1, "val/images/val_1.JPEG" },
        { test, 163, "val/images/val_0.JPEG" },
    };
    uint8_t got [64 * 64 * 3], want [64 * 64 * 3];
    for (size_t k = 0; k < sizeof known / sizeof known [0]; k++) {
        s_path (path, "%s/%s", dir, known [k].rel);
        assert_int_equal (stat (path, &st), 0);
        assert_int_equal (fg_dataset_stored (known [k].ds, known [k].i, &bytes, &size, &err), 0);
        assert_int_equal (size, (size_t) st.st_size);
        s_sample (known [k].ds, known [k].i, got, NULL);
        s_expected (path, 64, want);
        assert_memory_equal (got, want, sizeof got);
    }
    //  548 greyscale JPEGs over both splits; each decodes to R = G = B
    size_t grey = 0;
    fg_dataset_t *sets [2] = { train, test };
    for (int s = 0; s < 2; s++)
        for (size_t i = 0; i < fg_dataset_count (sets [s]); i++) {
            uint32_t ih, iw, ic;
            assert_int_equal (fg_dataset_stored (sets [s], i, &bytes, &size, &err), 0);
            assert_int_equal (fg_image_probe (bytes, size, "probe", &ih, &iw, &ic, &err), 0);
            assert_true (ih == 64 && iw == 64);
            if (ic == 1 && grey++ % 50 == 0) {
                s_sample (sets [s], i, got, NULL);
                for (size_t p = 0; p < 64 * 64; p++)
                    assert_true (got [3 * p] == got [3 * p + 1] && got [3 * p] == got [3 * p + 2]);
            }
        }
    assert_int_equal (grey, 548);
    fg_dataset_destroy (&test);
    fg_dataset_destroy (&train);
}

static int
s_run (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_tiny_generated),
        cmocka_unit_test (test_tiny_index_errors),
        cmocka_unit_test (test_damaged_image),
        cmocka_unit_test (test_folder),
        cmocka_unit_test (test_from_stored),
        cmocka_unit_test (test_threads_share),
        cmocka_unit_test (test_tiny_real),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}

//  Without the shared copy one test is skipped: reported as TAP
//  "ok N # SKIP" (fg_test_run_tap).
int
main (void)
{
    return fg_test_run_tap (s_run);
}
