/*  test_dataset.c — datasets: real files parse (Fashion-MNIST, CIFAR-10),
    truncated and corrupted files are rejected with a message naming the
    file, the expected and the found size; synthetic set; normalisation;
    augmentation determinism and correctness; sharing between threads.

    Real data: Fashion-MNIST from $FG_FASHION_MNIST_DIR or
    /usr/share/datasets/fashion-mnist (Debian dataset-fashion-mnist);
    CIFAR-10 from $FG_CIFAR10_DIR, $top_srcdir/../shared/data/cifar10 or
    /work/shared/data/cifar10. When absent those cases are skipped (TAP
    "# SKIP"), never failed.

    With FG_DATASET_CORPUS_DIR set, the program only writes the seed
    corpus of fuzz/fuzz_dataset.c into that folder (test_write_corpus).                       */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <setjmp.h>
#include <cmocka.h>

#include "fg_config.h"
#include "fg_dataset_internal.h"
#include "fg_rng.h"
#include "fg_test_util.h"

//  --------------------------------------------------------------------------
//  Helpers

static char s_tmp [256];

static int
s_setup (void **state)
{
    (void) state;
    return fg_test_tmpdir ("fg-test-dataset", s_tmp, sizeof s_tmp);
}

static int
s_teardown (void **state)
{
    (void) state;
    return fg_test_rmtree (s_tmp);
}

//  Path in a fresh subfolder of the temp dir.
static char *
s_dir (const char *name)
{
    static char paths [8][512];
    static int next = 0;
    char *path = paths [next++ % 8];
    snprintf (path, 512, "%s/%s", s_tmp, name);
    mkdir (path, 0700);
    return path;
}

static void
s_write (const char *dir, const char *name, const void *data, size_t size)
{
    char path [600];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen (path, "wb");
    assert_non_null (f);
    assert_int_equal (fwrite (data, 1, size, f), size);
    assert_int_equal (fclose (f), 0);
}

//  A sparse file of size bytes, zeros unless data given at offset 0.
static void
s_sparse (const char *dir, const char *name, size_t size, const void *data, size_t data_size)
{
    char path [600];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true (fd >= 0);
    if (data_size)
        assert_int_equal (write (fd, data, data_size), (ssize_t) data_size);
    assert_int_equal (ftruncate (fd, (off_t) size), 0);
    assert_int_equal (close (fd), 0);
}

//  gzip of data (one member) into a malloc'ed buffer.
static uint8_t *
s_gzip (const uint8_t *data, size_t size, size_t *out_size)
{
    z_stream zs;
    memset (&zs, 0, sizeof zs);
    assert_int_equal (deflateInit2 (&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound (&zs, size) + 64;
    uint8_t *out = malloc (cap);
    assert_non_null (out);
    zs.next_in = (Bytef *) data;
    zs.avail_in = (uInt) size;
    zs.next_out = out;
    zs.avail_out = (uInt) cap;
    assert_int_equal (deflate (&zs, Z_FINISH), Z_STREAM_END);
    *out_size = zs.total_out;
    deflateEnd (&zs);
    return out;
}

static void
s_put_u32be (uint8_t *p, uint32_t v)
{
    p [0] = (uint8_t) (v >> 24);
    p [1] = (uint8_t) (v >> 16);
    p [2] = (uint8_t) (v >> 8);
    p [3] = (uint8_t) v;
}

//  IDX images file: n images of h x w, pixel (i, y, x) = (i * 7 + y * w + x) & 255.
static uint8_t *
s_idx_images (uint32_t n, uint32_t h, uint32_t w, size_t *size)
{
    *size = 16 + (size_t) n * h * w;
    uint8_t *buf = malloc (*size);
    assert_non_null (buf);
    s_put_u32be (buf, FG_IDX_IMAGES_MAGIC);
    s_put_u32be (buf + 4, n);
    s_put_u32be (buf + 8, h);
    s_put_u32be (buf + 12, w);
    for (size_t i = 0; i < (size_t) n * h * w; i++)
        buf [16 + i] = (uint8_t) ((i / ((size_t) h * w)) * 7 + i % ((size_t) h * w));
    return buf;
}

//  IDX labels file: label i = i % 10.
static uint8_t *
s_idx_labels (uint32_t n, size_t *size)
{
    *size = 8 + (size_t) n;
    uint8_t *buf = malloc (*size);
    assert_non_null (buf);
    s_put_u32be (buf, FG_IDX_LABELS_MAGIC);
    s_put_u32be (buf + 4, n);
    for (uint32_t i = 0; i < n; i++)
        buf [8 + i] = (uint8_t) (i % 10);
    return buf;
}

//  CIFAR records: n records, label i % classes (fine), pixel bytes a
//  function of (record, plane, position).
static uint8_t *
s_cifar_records (bool c100, size_t n, size_t *size)
{
    size_t record = c100? FG_CIFAR100_RECORD: FG_CIFAR10_RECORD;
    *size = n * record;
    uint8_t *buf = malloc (*size);
    assert_non_null (buf);
    for (size_t r = 0; r < n; r++) {
        uint8_t *rec = buf + r * record;
        if (c100) {
            rec [0] = (uint8_t) ((r * 3) % 20);
            rec [1] = (uint8_t) (r % 100);
        }
        else
            rec [0] = (uint8_t) (r % 10);
        uint8_t *pix = rec + (c100? 2: 1);
        for (size_t p = 0; p < 3072; p++)
            pix [p] = (uint8_t) (r * 31 + p * 5 + (p / 1024) * 77);
    }
    return buf;
}

//  Asserts rc == code and that the message contains every given needle.
static void
s_expect_error (int rc, const fg_error_t *err, int code, ...)
{
    if (rc != code)
        fail_msg ("expected code %d, got %d: %s", code, rc, err->msg);
    va_list args;
    va_start (args, code);
    const char *needle;
    while ((needle = va_arg (args, const char *)))
        if (!strstr (err->msg, needle))
            fail_msg ("message \"%s\" lacks \"%s\"", err->msg, needle);
    va_end (args);
}

static const char *
s_fmnist_dir (void)
{
    const char *env = getenv ("FG_FASHION_MNIST_DIR");
    const char *dir = env && *env? env: "/usr/share/datasets/fashion-mnist";
    static char probe [600];
    snprintf (probe, sizeof probe, "%s/train-labels-idx1-ubyte.gz", dir);
    return access (probe, R_OK) == 0? dir: NULL;
}

static const char *
s_cifar10_dir (void)
{
    static char dir [600];
    const char *env = getenv ("FG_CIFAR10_DIR");
    const char *top = getenv ("top_srcdir");
    const char *candidates [3] = { env, NULL, "/work/shared/data/cifar10" };
    char from_top [600];
    if (top && *top) {
        snprintf (from_top, sizeof from_top, "%s/../shared/data/cifar10", top);
        candidates [1] = from_top;
    }
    for (int i = 0; i < 3; i++) {
        if (!candidates [i] || !*candidates [i])
            continue;
        char probe [700];
        snprintf (probe, sizeof probe, "%s/test.bin", candidates [i]);
        if (access (probe, R_OK) == 0) {
            snprintf (dir, sizeof dir, "%s", candidates [i]);
            return dir;
        }
    }
    return NULL;
}

static void
s_class_counts (const fg_dataset_t *ds, size_t *counts, size_t classes)
{
    memset (counts, 0, classes * sizeof *counts);
    for (size_t i = 0; i < fg_dataset_count (ds); i++) {
        assert_true (fg_dataset_labels (ds) [i] < classes);
        counts [fg_dataset_labels (ds) [i]]++;
    }
}

//  --------------------------------------------------------------------------
//  Real files

static void
test_fashion_mnist_real (void **state)
{
    (void) state;
    const char *dir = s_fmnist_dir ();
    if (!dir)
        skip ();            //  dataset-fashion-mnist not installed
    fg_error_t err;
    fg_dataset_t *train = NULL, *test = NULL;
    assert_int_equal (fg_dataset_open (FG_DATASET_FASHION_MNIST, dir, FG_SPLIT_TRAIN, 0,
                                       &train, &err), 0);
    assert_int_equal (fg_dataset_open (FG_DATASET_FASHION_MNIST, dir, FG_SPLIT_TEST, 0,
                                       &test, &err), 0);
    assert_int_equal (fg_dataset_count (train), 60000);
    assert_int_equal (fg_dataset_count (test), 10000);
    uint32_t h, w, c;
    fg_dataset_shape (train, &h, &w, &c);
    assert_int_equal (h, 28);
    assert_int_equal (w, 28);
    assert_int_equal (c, 1);
    assert_int_equal (fg_dataset_classes (train), 10);
    assert_string_equal (fg_dataset_name (train), "fashion-mnist train");
    //  First labels of the published files
    static const uint16_t train_first [] = { 9, 0, 0, 3, 0, 2, 7, 2, 5, 5, 0, 9, 5, 5, 7, 9 };
    static const uint16_t test_first [] = { 9, 2, 1, 1, 6, 1, 4, 6, 5, 7, 4, 5, 7, 3, 4, 1 };
    assert_memory_equal (fg_dataset_labels (train), train_first, sizeof train_first);
    assert_memory_equal (fg_dataset_labels (test), test_first, sizeof test_first);
    size_t counts [10];
    s_class_counts (train, counts, 10);
    for (int k = 0; k < 10; k++)
        assert_int_equal (counts [k], 6000);
    s_class_counts (test, counts, 10);
    for (int k = 0; k < 10; k++)
        assert_int_equal (counts [k], 1000);
    //  The published statistics match the training set
    double mean, std;
    assert_int_equal (fg_dataset_compute_stats (train, &mean, &std, NULL), 0);
    assert_true (fabs (mean - fg_dataset_mean (train) [0]) < 0.0005);
    assert_true (fabs (std - fg_dataset_std (train) [0]) < 0.0005);
    //  Limit keeps a prefix; the hash covers what is held
    fg_dataset_t *part = NULL;
    assert_int_equal (fg_dataset_open (FG_DATASET_FASHION_MNIST, dir, FG_SPLIT_TRAIN, 1000,
                                       &part, &err), 0);
    assert_int_equal (fg_dataset_count (part), 1000);
    assert_memory_equal (fg_dataset_pixels (part), fg_dataset_pixels (train), 1000 * 784);
    assert_string_not_equal (fg_dataset_hash_hex (part), fg_dataset_hash_hex (train));
    fg_dataset_destroy (&part);
    fg_dataset_destroy (&train);
    fg_dataset_destroy (&test);
    assert_null (train);
}

static void
test_fashion_mnist_truncated_real (void **state)
{
    (void) state;
    const char *src = s_fmnist_dir ();
    if (!src)
        skip ();
    //  A copy whose gzipped labels file lost its last 100 bytes
    char *dir = s_dir ("fmnist-cut");
    static const char *names [] = { "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz" };
    for (int f = 0; f < 2; f++) {
        char path [600];
        snprintf (path, sizeof path, "%s/%s", src, names [f]);
        FILE *in = fopen (path, "rb");
        assert_non_null (in);
        static uint8_t buf [8 << 20];
        size_t n = fread (buf, 1, sizeof buf, in);
        fclose (in);
        assert_true (n > 200 && n < sizeof buf);
        s_write (dir, names [f], buf, f? n - 100: n);
    }
    fg_error_t err;
    fg_dataset_t *ds = NULL;
    int rc = fg_dataset_open (FG_DATASET_FASHION_MNIST, dir, FG_SPLIT_TEST, 0, &ds, &err);
    s_expect_error (rc, &err, FG_EFORMAT, "t10k-labels-idx1-ubyte.gz",
                    "expected 10008 bytes after decompression", "found ", NULL);
    assert_null (ds);
}

static void
test_cifar10_real (void **state)
{
    (void) state;
    const char *dir = s_cifar10_dir ();
    if (!dir)
        skip ();            //  ../shared/data/cifar10 not there
    fg_error_t err;
    fg_dataset_t *test = NULL, *train = NULL;
    assert_int_equal (fg_dataset_open (FG_DATASET_CIFAR10, dir, FG_SPLIT_TEST, 0, &test, &err), 0);
    assert_int_equal (fg_dataset_count (test), 10000);
    uint32_t h, w, c;
    fg_dataset_shape (test, &h, &w, &c);
    assert_int_equal (h, 32);
    assert_int_equal (w, 32);
    assert_int_equal (c, 3);
    static const uint16_t first [] = { 3, 8, 8, 0, 6, 6, 1, 6, 3, 1 };
    assert_memory_equal (fg_dataset_labels (test), first, sizeof first);
    size_t counts [10];
    s_class_counts (test, counts, 10);
    for (int k = 0; k < 10; k++)
        assert_int_equal (counts [k], 1000);

    //  train_1.bin alone (limit 10000): the README's per-class counts
    assert_int_equal (fg_dataset_open (FG_DATASET_CIFAR10, dir, FG_SPLIT_TRAIN, 10000,
                                       &train, &err), 0);
    static const size_t train_1 [10] = { 1005, 992, 1007, 992, 984, 1019, 1047, 1013, 959, 982 };
    s_class_counts (train, counts, 10);
    assert_memory_equal (counts, train_1, sizeof train_1);
    fg_dataset_destroy (&train);

    //  The whole training split: 5000 per class; published statistics close
    //  (our copy went through JPEG, which lowers the std a little)
    assert_int_equal (fg_dataset_open (FG_DATASET_CIFAR10, dir, FG_SPLIT_TRAIN, 0, &train, &err), 0);
    assert_int_equal (fg_dataset_count (train), 50000);
    s_class_counts (train, counts, 10);
    for (int k = 0; k < 10; k++)
        assert_int_equal (counts [k], 5000);
    double mean [3], std [3];
    assert_int_equal (fg_dataset_compute_stats (train, mean, std, NULL), 0);
    for (int k = 0; k < 3; k++) {
        assert_true (fabs (mean [k] - fg_dataset_mean (train) [k]) < 0.002);
        assert_true (fabs (std [k] - fg_dataset_std (train) [k]) < 0.003);
    }

    //  The official file names give the same content and hash
    char *official = s_dir ("cifar-official");
    char target [700], link [700];
    for (int f = 1; f <= 5; f++) {
        snprintf (target, sizeof target, "%s/train_%d.bin", dir, f);
        snprintf (link, sizeof link, "%s/data_batch_%d.bin", official, f);
        assert_int_equal (symlink (target, link), 0);
    }
    snprintf (target, sizeof target, "%s/test.bin", dir);
    snprintf (link, sizeof link, "%s/test_batch.bin", official);
    assert_int_equal (symlink (target, link), 0);
    fg_dataset_t *again = NULL;
    assert_int_equal (fg_dataset_open (FG_DATASET_CIFAR10, official, FG_SPLIT_TEST, 0,
                                       &again, &err), 0);
    assert_string_equal (fg_dataset_hash_hex (again), fg_dataset_hash_hex (test));
    fg_dataset_destroy (&again);
    assert_int_equal (fg_dataset_open (FG_DATASET_CIFAR10, official, FG_SPLIT_TRAIN, 0,
                                       &again, &err), 0);
    assert_string_equal (fg_dataset_hash_hex (again), fg_dataset_hash_hex (train));
    fg_dataset_destroy (&again);
    fg_dataset_destroy (&train);
    fg_dataset_destroy (&test);
}

//  --------------------------------------------------------------------------
//  IDX from generated files

static void
test_idx_files (void **state)
{
    (void) state;
    size_t isize, lsize, igz, lgz;
    uint8_t *images = s_idx_images (50, 28, 28, &isize);
    uint8_t *labels = s_idx_labels (50, &lsize);
    uint8_t *images_gz = s_gzip (images, isize, &igz);
    uint8_t *labels_gz = s_gzip (labels, lsize, &lgz);
    fg_error_t err;

    //  Raw names and gzipped names hold the same content: same hash
    char *raw = s_dir ("idx-raw");
    s_write (raw, "t10k-images-idx3-ubyte", images, isize);
    s_write (raw, "t10k-labels-idx1-ubyte", labels, lsize);
    char *gz = s_dir ("idx-gz");
    s_write (gz, "t10k-images-idx3-ubyte.gz", images_gz, igz);
    s_write (gz, "t10k-labels-idx1-ubyte.gz", labels_gz, lgz);
    fg_dataset_t *a = NULL, *b = NULL;
    assert_int_equal (fg_dataset_open (FG_DATASET_MNIST, raw, FG_SPLIT_TEST, 0, &a, &err), 0);
    assert_int_equal (fg_dataset_open (FG_DATASET_MNIST, gz, FG_SPLIT_TEST, 0, &b, &err), 0);
    assert_int_equal (fg_dataset_count (a), 50);
    assert_memory_equal (fg_dataset_pixels (a), images + 16, 50 * 784);
    for (int i = 0; i < 50; i++)
        assert_int_equal (fg_dataset_labels (a) [i], i % 10);
    assert_string_equal (fg_dataset_hash_hex (a), fg_dataset_hash_hex (b));
    assert_int_equal (strlen (fg_dataset_hash_hex (a)), 64);
    //  MNIST never flips; Fashion-MNIST does
    uint32_t pad;
    bool flip;
    fg_dataset_augment_policy (a, &pad, &flip);
    assert_int_equal (pad, 2);
    assert_false (flip);
    fg_dataset_destroy (&a);
    fg_dataset_destroy (&b);

    //  The train split is not there
    int rc = fg_dataset_open (FG_DATASET_MNIST, s_dir ("idx-gz"), FG_SPLIT_TRAIN, 0, &a, &err);
    s_expect_error (rc, &err, FG_ENOENT, "train-images-idx3-ubyte", NULL);
    assert_null (a);

    //  One pixel changed: another hash
    images [100] ^= 1;
    char *dir = s_dir ("idx-changed");
    s_write (dir, "t10k-images-idx3-ubyte", images, isize);
    s_write (dir, "t10k-labels-idx1-ubyte", labels, lsize);
    assert_int_equal (fg_dataset_open (FG_DATASET_FASHION_MNIST, dir, FG_SPLIT_TEST, 0, &a, &err), 0);
    assert_int_equal (fg_dataset_open (FG_DATASET_FASHION_MNIST, s_dir ("idx-gz"), FG_SPLIT_TEST, 0,
                                       &b, &err), 0);
    assert_string_not_equal (fg_dataset_hash_hex (a), fg_dataset_hash_hex (b));
    fg_dataset_augment_policy (a, &pad, &flip);
    assert_true (flip);
    fg_dataset_destroy (&a);
    fg_dataset_destroy (&b);

    free (images);
    free (labels);
    free (images_gz);
    free (labels_gz);
}

static void
test_idx_truncated (void **state)
{
    (void) state;
    size_t isize, lsize, igz, lgz;
    uint8_t *images = s_idx_images (20, 28, 28, &isize);
    uint8_t *labels = s_idx_labels (20, &lsize);
    uint8_t *images_gz = s_gzip (images, isize, &igz);
    uint8_t *labels_gz = s_gzip (labels, lsize, &lgz);
    fg_error_t err;
    fg_dataset_t *ds = NULL;
    char expected [64], found [64];
    snprintf (expected, sizeof expected, "expected %zu bytes", isize);

    //  Raw images file one byte short
    char *dir = s_dir ("idx-short");
    s_write (dir, "train-images-idx3-ubyte", images, isize - 1);
    s_write (dir, "train-labels-idx1-ubyte", labels, lsize);
    snprintf (found, sizeof found, "found %zu", isize - 1);
    int rc = fg_dataset_open (FG_DATASET_FASHION_MNIST, dir, FG_SPLIT_TRAIN, 0, &ds, &err);
    s_expect_error (rc, &err, FG_EFORMAT, "fashion-mnist train: ", "/idx-short/train-images-idx3-ubyte",
                    expected, found, NULL);
    assert_null (ds);

    //  Raw images file one byte long
    dir = s_dir ("idx-long");
    uint8_t *longer = malloc (isize + 1);
    memcpy (longer, images, isize);
    longer [isize] = 0;
    s_write (dir, "train-images-idx3-ubyte", longer, isize + 1);
    s_write (dir, "train-labels-idx1-ubyte", labels, lsize);
    snprintf (found, sizeof found, "found %zu", isize + 1);
    rc = fg_dataset_open (FG_DATASET_FASHION_MNIST, dir, FG_SPLIT_TRAIN, 0, &ds, &err);
    s_expect_error (rc, &err, FG_EFORMAT, "train-images-idx3-ubyte", expected, found, NULL);

    //  Header cut (10 bytes)
    dir = s_dir ("idx-header");
    s_write (dir, "train-images-idx3-ubyte", images, 10);
    s_write (dir, "train-labels-idx1-ubyte", labels, lsize);
    rc = fg_dataset_open (FG_DATASET_FASHION_MNIST, dir, FG_SPLIT_TRAIN, 0, &ds, &err);
    s_expect_error (rc, &err, FG_EFORMAT, "train-images-idx3-ubyte",
                    "expected at least 16 bytes", "found 10", NULL);

    //  Gzipped labels cut inside the deflate data, then inside the trailer
    dir = s_dir ("gz-short");
    s_write (dir, "train-images-idx3-ubyte.gz", images_gz, igz);
    s_write (dir, "train-labels-idx1-ubyte.gz", labels_gz, lgz - 12);
    snprintf (expected, sizeof expected, "expected %zu bytes after decompression", lsize);
    rc = fg_dataset_open (FG_DATASET_FASHION_MNIST, dir, FG_SPLIT_TRAIN, 0, &ds, &err);
    s_expect_error (rc, &err, FG_EFORMAT, "train-labels-idx1-ubyte.gz", expected, "found ",
                    "truncated", NULL);
    dir = s_dir ("gz-trailer");
    s_write (dir, "train-images-idx3-ubyte.gz", images_gz, igz - 3);
    s_write (dir, "train-labels-idx1-ubyte.gz", labels_gz, lgz);
    snprintf (found, sizeof found, "truncated at %zu compressed bytes", igz - 3);
    rc = fg_dataset_open (FG_DATASET_FASHION_MNIST, dir, FG_SPLIT_TRAIN, 0, &ds, &err);
    s_expect_error (rc, &err, FG_EFORMAT, "train-images-idx3-ubyte.gz", found, NULL);

    //  Gzip stream that decompresses to one byte too many
    size_t big_gz;
    uint8_t *big = s_gzip (longer, isize + 1, &big_gz);
    dir = s_dir ("gz-long");
    s_write (dir, "train-images-idx3-ubyte.gz", big, big_gz);
    s_write (dir, "train-labels-idx1-ubyte.gz", labels_gz, lgz);
    snprintf (expected, sizeof expected, "expected %zu bytes after decompression, found %zu",
              isize, isize + 1);
    rc = fg_dataset_open (FG_DATASET_FASHION_MNIST, dir, FG_SPLIT_TRAIN, 0, &ds, &err);
    s_expect_error (rc, &err, FG_EFORMAT, "train-images-idx3-ubyte.gz", expected, NULL);
    assert_null (ds);

    free (big);
    free (longer);
    free (images);
    free (labels);
    free (images_gz);
    free (labels_gz);
}

static void
test_idx_corrupt (void **state)
{
    (void) state;
    size_t isize, lsize, igz;
    uint8_t *images = s_idx_images (20, 28, 28, &isize);
    uint8_t *labels = s_idx_labels (20, &lsize);
    fg_error_t err;
    fg_idx_t idx;
    const size_t max = 1 << 24;

    //  Good ones decode
    assert_int_equal (fg_idx_decode (images, isize, "img", FG_IDX_IMAGES_MAGIC, max, &idx, &err), 0);
    assert_int_equal (idx.count, 20);
    assert_int_equal (idx.item_size, 784);
    assert_ptr_equal (idx.data, images + 16);
    assert_null (idx.block);
    fg_idx_release (&idx);

    //  Bad magic: a labels file given as images, and garbage
    int rc = fg_idx_decode (labels, lsize, "x/labels", FG_IDX_IMAGES_MAGIC, max, &idx, &err);
    s_expect_error (rc, &err, FG_EFORMAT, "x/labels", "bad magic 0x00000801",
                    "expected 0x00000803", NULL);
    uint8_t junk [64] = "PK\x03\x04 not an idx file";
    rc = fg_idx_decode (junk, sizeof junk, "junk", FG_IDX_LABELS_MAGIC, max, &idx, &err);
    s_expect_error (rc, &err, FG_EFORMAT, "junk", "bad magic 0x504b0304", NULL);
    rc = fg_idx_decode (junk, 3, "tiny", FG_IDX_LABELS_MAGIC, max, &idx, &err);
    s_expect_error (rc, &err, FG_EFORMAT, "tiny", "expected at least 4 bytes", "found 3", NULL);

    //  A zero dimension, a huge dimension, a count beyond max_size
    uint8_t copy [16 + 784 * 20];
    memcpy (copy, images, isize);
    s_put_u32be (copy + 8, 0);
    rc = fg_idx_decode (copy, isize, "zero", FG_IDX_IMAGES_MAGIC, max, &idx, &err);
    s_expect_error (rc, &err, FG_EFORMAT, "zero", "dimension 1", "is 0", NULL);
    s_put_u32be (copy + 8, 5000);
    rc = fg_idx_decode (copy, isize, "wide", FG_IDX_IMAGES_MAGIC, max, &idx, &err);
    s_expect_error (rc, &err, FG_EFORMAT, "wide", "5000", NULL);
    memcpy (copy, images, isize);
    s_put_u32be (copy + 4, 0xffffffffu);
    rc = fg_idx_decode (copy, isize, "many", FG_IDX_IMAGES_MAGIC, max, &idx, &err);
    s_expect_error (rc, &err, FG_ERANGE, "many", "4294967295 items", NULL);

    //  Inconsistent counts between images and labels
    char *dir = s_dir ("idx-counts");
    s_write (dir, "train-images-idx3-ubyte", images, isize);
    uint8_t *fewer = s_idx_labels (19, &lsize);
    s_write (dir, "train-labels-idx1-ubyte", fewer, lsize);
    fg_dataset_t *ds = NULL;
    rc = fg_dataset_open (FG_DATASET_FASHION_MNIST, dir, FG_SPLIT_TRAIN, 0, &ds, &err);
    s_expect_error (rc, &err, FG_EFORMAT, "train-images-idx3-ubyte holds 20 images",
                    "train-labels-idx1-ubyte holds 19 labels", NULL);
    assert_null (ds);
    free (fewer);

    //  Label out of range (item 7 says 10)
    labels [8 + 7] = 10;
    dir = s_dir ("idx-label");
    s_write (dir, "train-images-idx3-ubyte", images, isize);
    s_write (dir, "train-labels-idx1-ubyte", labels, 8 + 20);
    rc = fg_dataset_open (FG_DATASET_FASHION_MNIST, dir, FG_SPLIT_TRAIN, 0, &ds, &err);
    s_expect_error (rc, &err, FG_ERANGE, "train-labels-idx1-ubyte", "label 10 of item 7",
                    "byte offset 15", NULL);
    labels [8 + 7] = 7;

    //  Images of the wrong shape (32x32) for an MNIST-family set
    size_t wsize;
    uint8_t *wide = s_idx_images (20, 32, 32, &wsize);
    dir = s_dir ("idx-shape");
    s_write (dir, "train-images-idx3-ubyte", wide, wsize);
    s_write (dir, "train-labels-idx1-ubyte", labels, 8 + 20);
    rc = fg_dataset_open (FG_DATASET_FASHION_MNIST, dir, FG_SPLIT_TRAIN, 0, &ds, &err);
    s_expect_error (rc, &err, FG_EMISMATCH, "32x32", "28x28", NULL);
    free (wide);

    //  Corrupt gzip: a flipped byte in the deflate data, trailing junk
    uint8_t *gz = s_gzip (images, isize, &igz);
    gz [igz / 2] ^= 0x55;
    rc = fg_idx_decode (gz, igz, "bad.gz", FG_IDX_IMAGES_MAGIC, max, &idx, &err);
    s_expect_error (rc, &err, FG_EFORMAT, "bad.gz", NULL);
    assert_null (idx.block);
    gz [igz / 2] ^= 0x55;
    gz [igz - 6] ^= 0x01;          //  CRC-32 of the trailer
    rc = fg_idx_decode (gz, igz, "crc.gz", FG_IDX_IMAGES_MAGIC, max, &idx, &err);
    s_expect_error (rc, &err, FG_EFORMAT, "crc.gz", "corrupt gzip data", NULL);
    gz [igz - 6] ^= 0x01;
    uint8_t *tail = malloc (igz + 4);
    memcpy (tail, gz, igz);
    memcpy (tail + igz, "junk", 4);
    rc = fg_idx_decode (tail, igz + 4, "tail.gz", FG_IDX_IMAGES_MAGIC, max, &idx, &err);
    s_expect_error (rc, &err, FG_EFORMAT, "tail.gz", "bytes after the end of the gzip stream", NULL);

    //  Two gzip members (as `cat a.gz b.gz`) are one stream
    size_t half = isize / 2, g1, g2;
    uint8_t *m1 = s_gzip (images, half, &g1);
    uint8_t *m2 = s_gzip (images + half, isize - half, &g2);
    uint8_t *both = malloc (g1 + g2);
    memcpy (both, m1, g1);
    memcpy (both + g1, m2, g2);
    assert_int_equal (fg_idx_decode (both, g1 + g2, "two.gz", FG_IDX_IMAGES_MAGIC, max, &idx, &err), 0);
    assert_non_null (idx.block);
    assert_memory_equal (idx.data, images + 16, isize - 16);
    fg_idx_release (&idx);
    assert_null (idx.block);

    //  A gzipped file larger than max_size is refused before allocation
    rc = fg_idx_decode (gz, igz, "cap.gz", FG_IDX_IMAGES_MAGIC, 1000, &idx, &err);
    s_expect_error (rc, &err, FG_ERANGE, "cap.gz", "more than the 1000 bytes allowed", NULL);

    free (both);
    free (m1);
    free (m2);
    free (tail);
    free (gz);
    free (images);
    free (labels);
}

//  --------------------------------------------------------------------------
//  CIFAR from generated files

static void
test_cifar_memory (void **state)
{
    (void) state;
    fg_error_t err;
    fg_dataset_t *ds = NULL;
    size_t s1, s2;
    uint8_t *f1 = s_cifar_records (false, 3, &s1);
    uint8_t *f2 = s_cifar_records (false, 2, &s2);
    const uint8_t *files [2] = { f1, f2 };
    size_t sizes [2] = { s1, s2 };
    const char *names [2] = { "one.bin", "two.bin" };
    assert_int_equal (fg_dataset_from_cifar (FG_DATASET_CIFAR10, FG_SPLIT_TRAIN, 2, files, sizes,
                                             names, 0, &ds, &err), 0);
    assert_int_equal (fg_dataset_count (ds), 5);
    assert_int_equal (fg_dataset_classes (ds), 10);
    //  Planar -> HWC: pixel (y, x) channel c of record r
    const uint8_t *pix = fg_dataset_pixels (ds);
    for (size_t r = 0; r < 5; r++) {
        const uint8_t *rec = (r < 3? f1 + r * 3073: f2 + (r - 3) * 3073);
        assert_int_equal (fg_dataset_labels (ds) [r], rec [0]);
        for (size_t y = 0; y < 32; y += 7)
            for (size_t x = 0; x < 32; x += 5)
                for (size_t c = 0; c < 3; c++)
                    assert_int_equal (pix [r * 3072 + (y * 32 + x) * 3 + c],
                                      rec [1 + c * 1024 + y * 32 + x]);
    }
    fg_dataset_destroy (&ds);

    //  Limit
    assert_int_equal (fg_dataset_from_cifar (FG_DATASET_CIFAR10, FG_SPLIT_TRAIN, 2, files, sizes,
                                             names, 4, &ds, &err), 0);
    assert_int_equal (fg_dataset_count (ds), 4);
    fg_dataset_destroy (&ds);

    //  Not a multiple of the record size
    sizes [1] = s2 - 1;
    int rc = fg_dataset_from_cifar (FG_DATASET_CIFAR10, FG_SPLIT_TRAIN, 2, files, sizes, names, 0,
                                    &ds, &err);
    s_expect_error (rc, &err, FG_EFORMAT, "two.bin", "expected a positive multiple of 3073 bytes",
                    "found 6145", NULL);
    sizes [1] = 0;
    rc = fg_dataset_from_cifar (FG_DATASET_CIFAR10, FG_SPLIT_TRAIN, 2, files, sizes, names, 0,
                                &ds, &err);
    s_expect_error (rc, &err, FG_EFORMAT, "two.bin", "found 0", NULL);
    sizes [1] = s2;

    //  Label out of range in record 1 of two.bin
    f2 [3073] = 10;
    rc = fg_dataset_from_cifar (FG_DATASET_CIFAR10, FG_SPLIT_TRAIN, 2, files, sizes, names, 0,
                                &ds, &err);
    s_expect_error (rc, &err, FG_ERANGE, "two.bin", "record 1", "byte offset 3073", "label 10",
                    NULL);
    assert_null (ds);
    free (f1);
    free (f2);

    //  CIFAR-100: fine labels kept; coarse and fine ranges checked
    uint8_t *h = s_cifar_records (true, 4, &s1);
    files [0] = h;
    sizes [0] = s1;
    assert_int_equal (fg_dataset_from_cifar (FG_DATASET_CIFAR100, FG_SPLIT_TEST, 1, files, sizes,
                                             names, 0, &ds, &err), 0);
    assert_int_equal (fg_dataset_classes (ds), 100);
    assert_int_equal (fg_dataset_labels (ds) [3], 3);
    assert_int_equal (fg_dataset_pixels (ds) [3 * 3072 + 2], h [3 * 3074 + 2 + 2048]);
    fg_dataset_destroy (&ds);
    h [3074 + 1] = 100;
    rc = fg_dataset_from_cifar (FG_DATASET_CIFAR100, FG_SPLIT_TEST, 1, files, sizes, names, 0,
                                &ds, &err);
    s_expect_error (rc, &err, FG_ERANGE, "one.bin", "label 100", "outside 0..99", NULL);
    h [3074 + 1] = 1;
    h [2 * 3074] = 20;
    rc = fg_dataset_from_cifar (FG_DATASET_CIFAR100, FG_SPLIT_TEST, 1, files, sizes, names, 0,
                                &ds, &err);
    s_expect_error (rc, &err, FG_ERANGE, "one.bin", "coarse label 20", NULL);
    //  A CIFAR-10 file is not a CIFAR-100 file (3073 does not divide by 3074)
    sizes [0] = 3073 * 4;
    rc = fg_dataset_from_cifar (FG_DATASET_CIFAR100, FG_SPLIT_TEST, 1, files, sizes, names, 0,
                                &ds, &err);
    s_expect_error (rc, &err, FG_EFORMAT, "multiple of 3074", "found 12292", NULL);
    free (h);
}

static void
test_cifar_files (void **state)
{
    (void) state;
    fg_error_t err;
    fg_dataset_t *ds = NULL;
    const size_t full = 10000 * 3073;
    size_t rs;
    uint8_t *records = s_cifar_records (false, 10, &rs);

    //  The copy's names, sparse files of the right size (zeros: label 0)
    char *dir = s_dir ("cifar-copy");
    for (int f = 1; f <= 5; f++) {
        char name [32];
        snprintf (name, sizeof name, "train_%d.bin", f);
        s_sparse (dir, name, full, records, rs);
    }
    s_sparse (dir, "test.bin", full, records, rs);
    assert_int_equal (fg_dataset_open (FG_DATASET_CIFAR10, dir, FG_SPLIT_TEST, 0, &ds, &err), 0);
    assert_int_equal (fg_dataset_count (ds), 10000);
    assert_int_equal (fg_dataset_labels (ds) [9], 9);
    assert_int_equal (fg_dataset_labels (ds) [10], 0);
    fg_dataset_destroy (&ds);
    //  Limit 10005 reads train_1 and train_2 only
    assert_int_equal (fg_dataset_open (FG_DATASET_CIFAR10, dir, FG_SPLIT_TRAIN, 10005, &ds, &err), 0);
    assert_int_equal (fg_dataset_count (ds), 10005);
    assert_int_equal (fg_dataset_labels (ds) [10003], 3);
    fg_dataset_destroy (&ds);

    //  A truncated file is named with the expected and the found size
    s_sparse (dir, "train_3.bin", full - 1, records, rs);
    int rc = fg_dataset_open (FG_DATASET_CIFAR10, dir, FG_SPLIT_TRAIN, 0, &ds, &err);
    s_expect_error (rc, &err, FG_EFORMAT, "cifar10 train: ", "/cifar-copy/train_3.bin",
                    "expected 30730000 bytes", "found 30729999", NULL);
    //  ... even when the limit would not read it
    rc = fg_dataset_open (FG_DATASET_CIFAR10, dir, FG_SPLIT_TRAIN, 10, &ds, &err);
    s_expect_error (rc, &err, FG_EFORMAT, "train_3.bin", "found 30729999", NULL);
    //  Cut at a record boundary: still the wrong size
    s_sparse (dir, "train_3.bin", full - 3073, records, rs);
    rc = fg_dataset_open (FG_DATASET_CIFAR10, dir, FG_SPLIT_TRAIN, 0, &ds, &err);
    s_expect_error (rc, &err, FG_EFORMAT, "train_3.bin", "found 30726927", NULL);
    //  Missing
    char path [700];
    snprintf (path, sizeof path, "%s/train_3.bin", dir);
    assert_int_equal (unlink (path), 0);
    rc = fg_dataset_open (FG_DATASET_CIFAR10, dir, FG_SPLIT_TRAIN, 0, &ds, &err);
    s_expect_error (rc, &err, FG_ENOENT, "train_3.bin", NULL);
    //  A bad label in the test file
    uint8_t bad [3073 * 2];
    memcpy (bad, records, sizeof bad);
    bad [3073] = 200;
    s_sparse (dir, "test.bin", full, bad, sizeof bad);
    rc = fg_dataset_open (FG_DATASET_CIFAR10, dir, FG_SPLIT_TEST, 0, &ds, &err);
    s_expect_error (rc, &err, FG_ERANGE, "test.bin", "record 1", "label 200", NULL);
    assert_null (ds);

    //  The official archive folder inside the given directory
    char *top = s_dir ("cifar-top");
    char sub [700];
    snprintf (sub, sizeof sub, "%s/cifar-10-batches-bin", top);
    assert_int_equal (mkdir (sub, 0700), 0);
    s_sparse (sub, "test_batch.bin", full, records, rs);
    assert_int_equal (fg_dataset_open (FG_DATASET_CIFAR10, s_dir ("cifar-top"), FG_SPLIT_TEST, 0,
                                       &ds, &err), 0);
    assert_int_equal (fg_dataset_labels (ds) [4], 4);
    fg_dataset_destroy (&ds);
    rc = fg_dataset_open (FG_DATASET_CIFAR10, s_dir ("cifar-top"), FG_SPLIT_TRAIN, 0, &ds, &err);
    s_expect_error (rc, &err, FG_ENOENT, "data_batch_1.bin", "train_1.bin", NULL);

    //  CIFAR-100: train.bin of 50000 records
    dir = s_dir ("cifar100");
    size_t hs;
    uint8_t *h = s_cifar_records (true, 3, &hs);
    s_sparse (dir, "train.bin", 50000 * 3074, h, hs);
    s_sparse (dir, "test.bin", 10000 * 3074 + 1, h, hs);
    assert_int_equal (fg_dataset_open (FG_DATASET_CIFAR100, dir, FG_SPLIT_TRAIN, 0, &ds, &err), 0);
    assert_int_equal (fg_dataset_count (ds), 50000);
    assert_int_equal (fg_dataset_labels (ds) [2], 2);
    fg_dataset_destroy (&ds);
    rc = fg_dataset_open (FG_DATASET_CIFAR100, dir, FG_SPLIT_TEST, 0, &ds, &err);
    s_expect_error (rc, &err, FG_EFORMAT, "cifar100 test: ", "test.bin",
                    "expected 30740000 bytes", "found 30740001", NULL);
    free (h);
    free (records);
}

static void
test_open_rejects (void **state)
{
    (void) state;
    fg_error_t err;
    fg_dataset_t *ds = NULL;
    int rc = fg_dataset_open (FG_DATASET_TINY_IMAGENET, "/nonexistent", FG_SPLIT_TRAIN, 0, &ds, &err);
    s_expect_error (rc, &err, FG_ENOENT, "/nonexistent", NULL);
    rc = fg_dataset_open (FG_DATASET_TEXTURE, "/nonexistent", FG_SPLIT_TRAIN, 0, &ds, &err);
    s_expect_error (rc, &err, FG_EUNSUPPORTED, "texture", NULL);
    rc = fg_dataset_open (FG_DATASET_CIFAR10, "/nonexistent/cifar", FG_SPLIT_TRAIN, 0, &ds, &err);
    s_expect_error (rc, &err, FG_ENOENT, "/nonexistent/cifar", NULL);
    rc = fg_dataset_open (FG_DATASET_MNIST, "", FG_SPLIT_TRAIN, 0, &ds, &err);
    s_expect_error (rc, &err, FG_EINVAL, "no path", NULL);
    rc = fg_dataset_open (99, "/tmp", FG_SPLIT_TRAIN, 0, &ds, &err);
    s_expect_error (rc, &err, FG_EINVAL, "unknown", NULL);
    rc = fg_dataset_open (FG_DATASET_CIFAR10, "/tmp", (fg_split_t) 7, 0, &ds, &err);
    s_expect_error (rc, &err, FG_EINVAL, "split", NULL);
    char *dir = s_dir ("empty");
    rc = fg_dataset_open (FG_DATASET_CIFAR100, dir, FG_SPLIT_TEST, 0, &ds, &err);
    s_expect_error (rc, &err, FG_ENOENT, "test.bin", "cifar-100-binary", NULL);
    assert_null (ds);
    assert_string_equal (fg_dataset_default_path (FG_DATASET_FASHION_MNIST),
                         "/usr/share/datasets/fashion-mnist");
    assert_null (fg_dataset_default_path (FG_DATASET_CIFAR10));
    fg_dataset_destroy (&ds);   //  NULL-safe
    fg_dataset_destroy (NULL);
}

//  --------------------------------------------------------------------------
//  Synthetic

static void
test_synthetic (void **state)
{
    (void) state;
    fg_error_t err;
    fg_dataset_t *a = NULL, *b = NULL, *c = NULL, *t = NULL;
    assert_int_equal (fg_dataset_synthetic (1, FG_SPLIT_TRAIN, 100, 10, 8, 8, 3, &a, &err), 0);
    assert_int_equal (fg_dataset_synthetic (1, FG_SPLIT_TRAIN, 100, 10, 8, 8, 3, &b, &err), 0);
    assert_int_equal (fg_dataset_synthetic (2, FG_SPLIT_TRAIN, 100, 10, 8, 8, 3, &c, &err), 0);
    assert_int_equal (fg_dataset_synthetic (1, FG_SPLIT_TEST, 100, 10, 8, 8, 3, &t, &err), 0);
    //  Pure function of its arguments (a known answer pins the generator
    //  across machines), seeds and splits differ
    assert_string_equal (fg_dataset_hash_hex (a), fg_dataset_hash_hex (b));
    assert_string_equal (fg_dataset_hash_hex (a),
                         "5dc879469e748a0bd6a27c89cdd4a51f880ace9065645ad3302d334f4b9b4b0b");
    assert_string_not_equal (fg_dataset_hash_hex (a), fg_dataset_hash_hex (c));
    assert_string_not_equal (fg_dataset_hash_hex (a), fg_dataset_hash_hex (t));
    assert_int_equal (fg_dataset_kind (a), FG_DATASET_SYNTHETIC);
    assert_int_equal (fg_dataset_split (t), FG_SPLIT_TEST);
    assert_string_equal (fg_dataset_name (t), "synthetic test");
    //  Balanced labels
    size_t counts [10];
    s_class_counts (a, counts, 10);
    for (int k = 0; k < 10; k++)
        assert_int_equal (counts [k], 10);
    //  Learnable: a nearest-class-mean classifier fit on train classifies
    //  the test split (same prototypes) almost perfectly
    double means [10][192] = {{ 0 }};
    for (size_t i = 0; i < 100; i++)
        for (int p = 0; p < 192; p++)
            means [fg_dataset_labels (a) [i]][p] += fg_dataset_pixels (a) [i * 192 + p] / 10.0;
    int right = 0;
    for (size_t i = 0; i < 100; i++) {
        int best = -1;
        double best_d = 1e300;
        for (int k = 0; k < 10; k++) {
            double d = 0;
            for (int p = 0; p < 192; p++) {
                double e = fg_dataset_pixels (t) [i * 192 + p] - means [k][p];
                d += e * e;
            }
            if (d < best_d) {
                best_d = d;
                best = k;
            }
        }
        right += best == fg_dataset_labels (t) [i];
    }
    assert_true (right >= 95);
    //  Normalisation constants and policy
    assert_true (fg_dataset_mean (a) [2] == 0.5);
    assert_true (fg_dataset_std (a) [2] == 0.25);
    uint32_t pad;
    bool flip;
    fg_dataset_augment_policy (a, &pad, &flip);
    assert_int_equal (pad, 1);
    assert_true (flip);
    fg_dataset_destroy (&a);
    fg_dataset_destroy (&b);
    fg_dataset_destroy (&c);
    fg_dataset_destroy (&t);

    //  Through fg_dataset_open: 28x28x1, default counts or the limit
    assert_int_equal (fg_dataset_open (FG_DATASET_SYNTHETIC, NULL, FG_SPLIT_TEST, 0, &a, &err), 0);
    assert_int_equal (fg_dataset_count (a), 2000);
    uint32_t h, w, ch;
    fg_dataset_shape (a, &h, &w, &ch);
    assert_true (h == 28 && w == 28 && ch == 1);
    fg_dataset_destroy (&a);
    assert_int_equal (fg_dataset_open (FG_DATASET_SYNTHETIC, NULL, FG_SPLIT_TRAIN, 500, &a, &err), 0);
    assert_int_equal (fg_dataset_count (a), 500);
    fg_dataset_destroy (&a);

    //  Rejections
    int rc = fg_dataset_synthetic (1, FG_SPLIT_TRAIN, 0, 10, 8, 8, 3, &a, &err);
    s_expect_error (rc, &err, FG_EINVAL, "0 samples", NULL);
    rc = fg_dataset_synthetic (1, FG_SPLIT_TRAIN, 10, 1, 8, 8, 3, &a, &err);
    s_expect_error (rc, &err, FG_EINVAL, "1 classes", NULL);
    rc = fg_dataset_synthetic (1, FG_SPLIT_TRAIN, 10, 10, 0, 8, 3, &a, &err);
    s_expect_error (rc, &err, FG_EINVAL, "0x8", NULL);
    rc = fg_dataset_synthetic (1, FG_SPLIT_TRAIN, 10, 10, 8, 8, 5, &a, &err);
    s_expect_error (rc, &err, FG_EINVAL, "5 channels", NULL);
    rc = fg_dataset_synthetic (1, (fg_split_t) 3, 10, 10, 8, 8, 3, &a, &err);
    s_expect_error (rc, &err, FG_EINVAL, "split", NULL);
    assert_null (a);
}

//  --------------------------------------------------------------------------
//  Batches: normalisation and augmentation

//  A 32x32x3 CIFAR-10 set of n records whose pixels are distinct per
//  (y, x) within a channel (so a crop offset and flip can be recovered).
static fg_dataset_t *
s_cifar_set (size_t n)
{
    size_t size = n * 3073;
    uint8_t *buf = malloc (size);
    assert_non_null (buf);
    for (size_t r = 0; r < n; r++) {
        uint8_t *rec = buf + r * 3073;
        rec [0] = (uint8_t) (r % 10);
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < 1024; p++)
                rec [1 + c * 1024 + p] = (uint8_t) (1 + ((p / 32) * 8 + (p % 32) + r * 13 + c * 50) % 255);
    }
    const uint8_t *files [1] = { buf };
    const char *names [1] = { "mem" };
    fg_dataset_t *ds = NULL;
    fg_error_t err;
    assert_int_equal (fg_dataset_from_cifar (FG_DATASET_CIFAR10, FG_SPLIT_TRAIN, 1, files, &size,
                                             names, 0, &ds, &err), 0);
    free (buf);
    return ds;
}

static float
s_norm (const fg_dataset_t *ds, int c, int v)
{
    return (float) (((double) v / 255.0 - fg_dataset_mean (ds) [c]) / fg_dataset_std (ds) [c]);
}

static void
test_batch_plain (void **state)
{
    (void) state;
    fg_dataset_t *ds = s_cifar_set (8);
    //  Published CIFAR-10 constants
    assert_true (fg_dataset_mean (ds) [0] == 0.4914 && fg_dataset_std (ds) [2] == 0.2616);
    uint32_t idx [3] = { 5, 0, 5 };
    float out [3 * 3072];
    uint16_t labels [3];
    fg_error_t err;
    assert_int_equal (fg_dataset_batch (ds, idx, 3, false, NULL, out, labels, &err), 0);
    assert_int_equal (labels [0], 5);
    assert_int_equal (labels [1], 0);
    const uint8_t *pix = fg_dataset_pixels (ds);
    for (int b = 0; b < 3; b++)
        for (int p = 0; p < 3072; p++)
            assert_true (out [b * 3072 + p] == s_norm (ds, p % 3, pix [idx [b] * 3072 + p]));
    //  Spot values: byte 0 and 255 of channel 0
    assert_true (fabsf (s_norm (ds, 0, 0) - (float) (-0.4914 / 0.2470)) < 1e-6f);
    assert_true (fabsf (s_norm (ds, 0, 255) - (float) ((1 - 0.4914) / 0.2470)) < 1e-6f);
    //  Rejections
    idx [2] = 8;
    int rc = fg_dataset_batch (ds, idx, 3, false, NULL, out, labels, &err);
    s_expect_error (rc, &err, FG_ERANGE, "batch position 2", "sample 8", NULL);
    rc = fg_dataset_batch (ds, idx, 2, true, NULL, out, NULL, &err);
    s_expect_error (rc, &err, FG_EINVAL, "without a key", NULL);
    assert_int_equal (fg_dataset_batch (ds, idx, 0, false, NULL, out, NULL, &err), 0);
    fg_dataset_destroy (&ds);
}

//  Recomputes the documented draw layout for position b.
static void
s_draws (const fg_dataset_key_t *key, size_t b, uint32_t pad, int *top, int *left, bool *mirror)
{
    fg_rng_t rng;
    fg_rng_init (&rng, key->seed, FG_RNG_AUGMENT, key->round, key->shard, key->epoch, key->step);
    fg_rng_seek (&rng, 4 * (uint64_t) b);
    *top = (int) fg_rng_below (&rng, 2 * pad + 1) - (int) pad;
    *left = (int) fg_rng_below (&rng, 2 * pad + 1) - (int) pad;
    *mirror = fg_rng_u32 (&rng) >> 31;
}

static void
test_augment (void **state)
{
    (void) state;
    fg_dataset_t *ds = s_cifar_set (64);
    enum { N = 64, IMG = 3072 };
    uint32_t idx [N];
    for (int b = 0; b < N; b++)
        idx [b] = (uint32_t) ((b * 37) % 64);
    static float out1 [N * IMG], out2 [N * IMG], out3 [N * IMG];
    fg_dataset_key_t key = { .seed = 42, .round = 3, .shard = 7, .epoch = 1, .step = 5 };
    fg_error_t err;
    assert_int_equal (fg_dataset_batch (ds, idx, N, true, &key, out1, NULL, &err), 0);
    assert_int_equal (fg_dataset_batch (ds, idx, N, true, &key, out2, NULL, &err), 0);
    assert_memory_equal (out1, out2, sizeof out1);            //  same key: same bytes
    key.step = 6;
    assert_int_equal (fg_dataset_batch (ds, idx, N, true, &key, out3, NULL, &err), 0);
    assert_memory_not_equal (out1, out3, sizeof out1);        //  next step: other draws
    key.step = 5;

    //  Every output is the documented crop + flip of its source
    const uint8_t *pix = fg_dataset_pixels (ds);
    int flips = 0, shifted = 0, offsets [9] = { 0 };
    for (int b = 0; b < N; b++) {
        int top, left;
        bool mirror;
        s_draws (&key, (size_t) b, 4, &top, &left, &mirror);
        flips += mirror;
        shifted += top != 0 || left != 0;
        offsets [top + 4]++;
        const uint8_t *src = pix + idx [b] * IMG;
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++) {
                int sy = y + top, sx = (mirror? 31 - x: x) + left;
                for (int c = 0; c < 3; c++) {
                    int v = (sy < 0 || sy > 31 || sx < 0 || sx > 31)? 0: src [(sy * 32 + sx) * 3 + c];
                    assert_true (out1 [b * IMG + (y * 32 + x) * 3 + c] == s_norm (ds, c, v));
                }
            }
    }
    //  The draws are spread (64 samples: flips and offsets both vary)
    assert_true (flips > 16 && flips < 48);
    assert_true (shifted > 48);
    for (int o = 0; o < 9; o++)
        assert_true (offsets [o] > 0);

    //  Position-keyed: a sample's augmentation does not depend on the other
    //  members of the batch, nor on how the batch is split
    uint32_t other [3] = { 9, idx [1], 11 };
    float part [3 * IMG];
    assert_int_equal (fg_dataset_batch (ds, other, 3, true, &key, part, NULL, &err), 0);
    assert_memory_equal (part + IMG, out1 + IMG, IMG * sizeof (float));

    //  A pure flip is a mirror: find a sample drawn with offset (0, 0) and
    //  a flip, and compare with the plain batch read backwards
    bool seen = false;
    float plain [IMG];
    for (int b = 0; b < N && !seen; b++) {
        int top, left;
        bool mirror;
        s_draws (&key, (size_t) b, 4, &top, &left, &mirror);
        if (top || left || !mirror)
            continue;
        seen = true;
        assert_int_equal (fg_dataset_batch (ds, &idx [b], 1, false, NULL, plain, NULL, &err), 0);
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++)
                for (int c = 0; c < 3; c++)
                    assert_true (out1 [b * IMG + (y * 32 + x) * 3 + c] == plain [(y * 32 + 31 - x) * 3 + c]);
    }
    //  Or build one: search steps for a (0, 0, flip) draw at position 0
    for (uint32_t step = 100; !seen; step++) {
        fg_dataset_key_t k = key;
        k.step = step;
        int top, left;
        bool mirror;
        s_draws (&k, 0, 4, &top, &left, &mirror);
        if (top || left || !mirror)
            continue;
        seen = true;
        assert_int_equal (fg_dataset_batch (ds, idx, 1, true, &k, out2, NULL, &err), 0);
        assert_int_equal (fg_dataset_batch (ds, idx, 1, false, NULL, plain, NULL, &err), 0);
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++)
                for (int c = 0; c < 3; c++)
                    assert_true (out2 [(y * 32 + x) * 3 + c] == plain [(y * 32 + 31 - x) * 3 + c]);
    }
    //  A crop shifts: with no flip and offset (top, left), output (y, x) is
    //  source (y + top, x + left), padding elsewhere
    for (uint32_t step = 200;; step++) {
        fg_dataset_key_t k = key;
        k.step = step;
        int top, left;
        bool mirror;
        s_draws (&k, 0, 4, &top, &left, &mirror);
        if (mirror || top != 3 || left != -2)
            continue;
        assert_int_equal (fg_dataset_batch (ds, idx, 1, true, &k, out2, NULL, &err), 0);
        assert_int_equal (fg_dataset_batch (ds, idx, 1, false, NULL, plain, NULL, &err), 0);
        assert_true (out2 [(0 * 32 + 5) * 3] == plain [(3 * 32 + 3) * 3]);
        assert_true (out2 [(28 * 32 + 2) * 3 + 1] == plain [(31 * 32 + 0) * 3 + 1]);
        assert_true (out2 [(29 * 32 + 10) * 3 + 2] == s_norm (ds, 2, 0));     //  below the image
        assert_true (out2 [(10 * 32 + 1) * 3] == s_norm (ds, 0, 0));           //  left of it
        break;
    }
    fg_dataset_destroy (&ds);
}

static void
test_augment_mnist_never_flips (void **state)
{
    (void) state;
    size_t isize, lsize;
    uint8_t *images = s_idx_images (16, 28, 28, &isize);
    uint8_t *labels = s_idx_labels (16, &lsize);
    fg_idx_t ii, li;
    fg_error_t err;
    assert_int_equal (fg_idx_decode (images, isize, "i", FG_IDX_IMAGES_MAGIC, 1 << 20, &ii, &err), 0);
    assert_int_equal (fg_idx_decode (labels, lsize, "l", FG_IDX_LABELS_MAGIC, 1 << 20, &li, &err), 0);
    fg_dataset_t *ds = NULL;
    assert_int_equal (fg_dataset_from_idx (FG_DATASET_MNIST, FG_SPLIT_TRAIN, &ii, "i", &li, "l", 0,
                                           &ds, &err), 0);
    assert_true (fg_dataset_mean (ds) [0] == 0.1307 && fg_dataset_std (ds) [0] == 0.3081);
    uint32_t idx [16];
    for (int b = 0; b < 16; b++)
        idx [b] = (uint32_t) b;
    float out [16 * 784];
    fg_dataset_key_t key = { .seed = 1 };
    //  Check over several steps that every output is an unflipped crop (pad 2)
    for (key.step = 0; key.step < 8; key.step++) {
        assert_int_equal (fg_dataset_batch (ds, idx, 16, true, &key, out, NULL, &err), 0);
        for (int b = 0; b < 16; b++) {
            int top, left;
            bool mirror;
            s_draws (&key, (size_t) b, 2, &top, &left, &mirror);
            for (int y = 0; y < 28; y++)
                for (int x = 0; x < 28; x++) {
                    int sy = y + top, sx = x + left;
                    int v = (sy < 0 || sy > 27 || sx < 0 || sx > 27)? 0: images [16 + b * 784 + sy * 28 + sx];
                    assert_true (out [b * 784 + y * 28 + x] == s_norm (ds, 0, v));
                }
        }
    }
    fg_dataset_destroy (&ds);
    fg_idx_release (&ii);
    fg_idx_release (&li);
    free (images);
    free (labels);
}

//  Known answer: the bytes of an augmented batch are pinned, so a change of
//  the draw layout, the RNG, the synthetic generator or the normalisation
//  (anything that would change an experiment's result) is caught. Float
//  bytes as stored on a little-endian host.
static void
test_augment_known_answer (void **state)
{
    (void) state;
    fg_dataset_t *ds = NULL;
    fg_error_t err;
    assert_int_equal (fg_dataset_synthetic (1, FG_SPLIT_TRAIN, 32, 10, 32, 32, 3, &ds, &err), 0);
    uint32_t idx [16];
    for (int b = 0; b < 16; b++)
        idx [b] = (uint32_t) ((b * 5) % 32);
    static float out [16 * 3072];
    uint16_t labels [16];
    fg_dataset_key_t key = { .seed = 7, .round = 1, .shard = 2, .epoch = 3, .step = 4 };
    assert_int_equal (fg_dataset_batch (ds, idx, 16, true, &key, out, labels, &err), 0);
    uint8_t digest [FG_SHA256_SIZE];
    char hex [FG_SHA256_HEX_SIZE];
    fg_sha256 (out, sizeof out, digest);
    fg_sha256_hex (digest, hex);
    assert_string_equal (hex, "176df65ea1ad24dccb7c09269469f9f67c4189bae1e451ae33dd0bd2734fe2a4");
    fg_dataset_destroy (&ds);
}

//  One dataset shared read-only by threads gives the same batches as one thread.
typedef struct {
    const fg_dataset_t *ds;
    uint32_t step;
    float *out;
    int rc;
} s_job_t;

static void *
s_worker (void *arg)
{
    s_job_t *job = arg;
    uint32_t idx [32];
    for (int b = 0; b < 32; b++)
        idx [b] = (uint32_t) ((b * 7 + job->step) % 64);
    fg_dataset_key_t key = { .seed = 9, .step = job->step };
    job->rc = 0;
    for (int rep = 0; rep < 20 && !job->rc; rep++)
        job->rc = fg_dataset_batch (job->ds, idx, 32, true, &key, job->out, NULL, NULL);
    return NULL;
}

static void
test_shared_threads (void **state)
{
    (void) state;
    fg_dataset_t *ds = s_cifar_set (64);
    enum { T = 4, SIZE = 32 * 3072 };
    float *outs = malloc (sizeof (float) * SIZE * T * 2);
    assert_non_null (outs);
    s_job_t jobs [T];
    pthread_t threads [T];
    for (int t = 0; t < T; t++) {
        jobs [t] = (s_job_t) { ds, (uint32_t) t % 2, outs + t * SIZE, -1 };
        assert_int_equal (pthread_create (&threads [t], NULL, s_worker, &jobs [t]), 0);
    }
    for (int t = 0; t < T; t++) {
        pthread_join (threads [t], NULL);
        assert_int_equal (jobs [t].rc, 0);
    }
    for (int t = 0; t < T; t++) {
        s_job_t alone = { ds, (uint32_t) t % 2, outs + (T + t) * SIZE, -1 };
        s_worker (&alone);
        assert_memory_equal (outs + t * SIZE, alone.out, SIZE * sizeof (float));
    }
    assert_memory_equal (outs, outs + 2 * SIZE, SIZE * sizeof (float));
    free (outs);
    fg_dataset_destroy (&ds);
}

//  --------------------------------------------------------------------------
//  Seed corpus of fuzz/fuzz_dataset.c (first byte: decoder; see there)

static void
s_corpus_file (const char *dir, const char *name, uint8_t mode, const uint8_t *a, size_t as,
               const uint8_t *b, size_t bs)
{
    size_t size = 1 + (b? 4: 0) + as + bs;
    uint8_t *buf = malloc (size);
    assert_non_null (buf);
    buf [0] = mode;
    size_t at = 1;
    if (b) {
        buf [1] = (uint8_t) as;
        buf [2] = (uint8_t) (as >> 8);
        buf [3] = (uint8_t) (as >> 16);
        buf [4] = (uint8_t) (as >> 24);
        at = 5;
    }
    memcpy (buf + at, a, as);
    if (b)
        memcpy (buf + at + as, b, bs);
    s_write (dir, name, buf, size);
    free (buf);
}

//  Records and subsets: a dataset made of some samples' records batches
//  exactly like the whole set at those samples; every bad input is refused.
static void
test_records_subset (void **state)
{
    (void) state;
    fg_dataset_t *full = NULL, *sub = NULL;
    fg_error_t err;
    assert_int_equal (fg_dataset_open (FG_DATASET_SYNTHETIC, "", FG_SPLIT_TRAIN, 500, &full, &err), 0);
    size_t rs = fg_dataset_record_size (full);
    assert_int_equal (rs, 2 + 28 * 28);
    uint32_t classes, h, w, c;
    assert_int_equal (fg_dataset_kind_geometry (FG_DATASET_CIFAR100, &classes, &h, &w, &c, &err), 0);
    assert_true (classes == 100 && h == 32 && w == 32 && c == 3);
    assert_int_equal (fg_dataset_kind_geometry (FG_DATASET_TEXTURE, NULL, NULL, NULL, NULL, &err),
                      FG_EUNSUPPORTED);
    assert_int_equal (fg_dataset_kind_geometry (FG_DATASET_FOLDER, NULL, NULL, NULL, NULL, &err),
                      FG_EUNSUPPORTED);
    assert_int_equal (fg_dataset_kind_geometry (FG_DATASET_TINY_IMAGENET, &classes, &h, &w, &c,
                                                &err), 0);
    assert_true (classes == 200 && h == 64 && w == 64 && c == 3);
    assert_int_equal (fg_dataset_kind_geometry (99, NULL, NULL, NULL, NULL, &err), FG_EINVAL);

    //  indices 3, 10..19, 499: records from the whole set
    uint32_t idx [12];
    idx [0] = 3;
    for (int i = 0; i < 10; i++)
        idx [1 + i] = 10 + (uint32_t) i;
    idx [11] = 499;
    uint8_t *rec = malloc (12 * rs);
    assert_non_null (rec);
    for (int i = 0; i < 12; i++)
        assert_int_equal (fg_dataset_records (full, idx [i], 1, rec + i * rs, &err), 0);
    uint8_t block [10 * (2 + 28 * 28)];
    assert_int_equal (fg_dataset_records (full, 10, 10, block, &err), 0);
    assert_memory_equal (block, rec + rs, 10 * rs);
    assert_int_equal (fg_dataset_records (full, 495, 6, block, &err), FG_ERANGE);
    assert_int_equal (fg_dataset_records (full, 501, 0, block, &err), FG_ERANGE);

    uint8_t source [FG_SHA256_SIZE], got [FG_SHA256_SIZE];
    fg_dataset_hash (full, source);
    fg_dataset_source_hash (full, got);
    assert_memory_equal (source, got, FG_SHA256_SIZE);
    assert_false (fg_dataset_is_subset (full));
    assert_int_equal (fg_dataset_from_records (FG_DATASET_SYNTHETIC, FG_SPLIT_TRAIN, source, 12,
                                               idx, rec, rs, &sub, &err), 0);
    assert_true (fg_dataset_is_subset (sub));
    assert_int_equal (fg_dataset_count (sub), 12);
    assert_int_equal (fg_dataset_classes (sub), 10);
    fg_dataset_source_hash (sub, got);
    assert_memory_equal (source, got, FG_SHA256_SIZE);
    fg_dataset_hash (sub, got);
    assert_memory_not_equal (source, got, FG_SHA256_SIZE);     //  its own content
    size_t pos;
    assert_int_equal (fg_dataset_position (sub, 499, &pos), 0);
    assert_int_equal (pos, 11);
    assert_int_equal (fg_dataset_position (sub, 12, &pos), 0);
    assert_int_equal (pos, 3);
    assert_int_equal (fg_dataset_position (sub, 4, &pos), FG_ENOENT);
    assert_int_equal (fg_dataset_position (sub, 500, &pos), FG_ENOENT);
    assert_int_equal (fg_dataset_position (full, 499, &pos), 0);
    assert_int_equal (pos, 499);
    assert_int_equal (fg_dataset_position (full, 500, &pos), FG_ENOENT);
    uint32_t pad_a, pad_b;
    bool flip_a, flip_b;
    fg_dataset_augment_policy (full, &pad_a, &flip_a);
    fg_dataset_augment_policy (sub, &pad_b, &flip_b);
    assert_true (pad_a == pad_b && flip_a == flip_b);
    assert_memory_equal (fg_dataset_mean (full), fg_dataset_mean (sub), sizeof (double));
    assert_memory_equal (fg_dataset_std (full), fg_dataset_std (sub), sizeof (double));

    //  the same batch, augmented, from either
    uint32_t bf [5] = { 499, 3, 15, 10, 19 }, bs [5];
    for (int i = 0; i < 5; i++) {
        assert_int_equal (fg_dataset_position (sub, bf [i], &pos), 0);
        bs [i] = (uint32_t) pos;
    }
    fg_dataset_key_t key = { 7, 2, 1, 0, 4 };
    float *xa = malloc (5 * 784 * sizeof (float)), *xb = malloc (5 * 784 * sizeof (float));
    uint16_t la [5], lb [5];
    assert_int_equal (fg_dataset_batch (full, bf, 5, true, &key, xa, la, &err), 0);
    assert_int_equal (fg_dataset_batch (sub, bs, 5, true, &key, xb, lb, &err), 0);
    assert_memory_equal (xa, xb, 5 * 784 * sizeof (float));
    assert_memory_equal (la, lb, sizeof la);
    free (xa);
    free (xb);
    fg_dataset_destroy (&sub);

    //  rejections: nothing is made
    assert_int_equal (fg_dataset_from_records (FG_DATASET_SYNTHETIC, FG_SPLIT_TRAIN, source, 12,
                                               idx, rec, rs - 1, &sub, &err), FG_EMISMATCH);
    assert_null (sub);
    assert_non_null (strstr (err.msg, "expected 786"));
    assert_int_equal (fg_dataset_from_records (FG_DATASET_CIFAR10, FG_SPLIT_TRAIN, source, 12,
                                               idx, rec, rs, &sub, &err), FG_EMISMATCH);
    assert_int_equal (fg_dataset_from_records (FG_DATASET_SYNTHETIC, FG_SPLIT_TRAIN, source, 0,
                                               idx, rec, rs, &sub, &err), FG_EINVAL);
    assert_int_equal (fg_dataset_from_records (FG_DATASET_TEXTURE, FG_SPLIT_TRAIN, source, 12,
                                               idx, rec, rs, &sub, &err), FG_EUNSUPPORTED);
    uint32_t unsorted [12];
    memcpy (unsorted, idx, sizeof unsorted);
    unsorted [5] = unsorted [4];                            //  a duplicate
    assert_int_equal (fg_dataset_from_records (FG_DATASET_SYNTHETIC, FG_SPLIT_TRAIN, source, 12,
                                               unsorted, rec, rs, &sub, &err), FG_EINVAL);
    assert_non_null (strstr (err.msg, "strictly increasing"));
    rec [7 * rs] = 10;                                      //  label 10 of 10 classes
    rec [7 * rs + 1] = 0;
    assert_int_equal (fg_dataset_check_records (FG_DATASET_SYNTHETIC, rec, 12, rs, &err), FG_ERANGE);
    assert_non_null (strstr (err.msg, "record 7"));
    assert_int_equal (fg_dataset_from_records (FG_DATASET_SYNTHETIC, FG_SPLIT_TRAIN, source, 12,
                                               idx, rec, rs, &sub, &err), FG_ERANGE);
    rec [7 * rs] = 0;
    rec [7 * rs + 1] = 1;                                   //  label 256
    assert_int_equal (fg_dataset_check_records (FG_DATASET_SYNTHETIC, rec, 12, rs, &err), FG_ERANGE);
    assert_null (sub);
    free (rec);
    fg_dataset_destroy (&full);
}

static void
test_write_corpus (void **state)
{
    (void) state;
    const char *dir = getenv ("FG_DATASET_CORPUS_DIR");
    size_t is, ls, igz, lgz, c10, c100;
    uint8_t *images = s_idx_images (2, 28, 28, &is);
    uint8_t *labels = s_idx_labels (2, &ls);
    uint8_t *images_gz = s_gzip (images, is, &igz);
    uint8_t *labels_gz = s_gzip (labels, ls, &lgz);
    uint8_t *cifar10 = s_cifar_records (false, 2, &c10);
    uint8_t *cifar100 = s_cifar_records (true, 2, &c100);
    s_corpus_file (dir, "idx-images", 0, images, is, NULL, 0);
    s_corpus_file (dir, "idx-images-gz", 0, images_gz, igz, NULL, 0);
    s_corpus_file (dir, "idx-images-short", 0, images, is - 1, NULL, 0);
    s_corpus_file (dir, "idx-labels", 1, labels, ls, NULL, 0);
    s_corpus_file (dir, "idx-labels-gz", 1, labels_gz, lgz, NULL, 0);
    s_corpus_file (dir, "idx-labels-gz-short", 1, labels_gz, lgz - 5, NULL, 0);
    s_corpus_file (dir, "idx-pair", 2, images, is, labels, ls);
    s_corpus_file (dir, "idx-pair-gz", 2, images_gz, igz, labels_gz, lgz);
    labels [9] = 12;
    s_corpus_file (dir, "idx-pair-bad-label", 2, images, is, labels, ls);
    s_corpus_file (dir, "cifar10", 3, cifar10, c10, NULL, 0);
    s_corpus_file (dir, "cifar10-short", 3, cifar10, c10 - 1, NULL, 0);
    s_corpus_file (dir, "cifar100", 4, cifar100, c100, NULL, 0);
    free (images);
    free (labels);
    free (images_gz);
    free (labels_gz);
    free (cifar10);
    free (cifar100);
}

static int
s_run (void)
{
    const char *corpus = getenv ("FG_DATASET_CORPUS_DIR");
    if (corpus && *corpus) {
        const struct CMUnitTest write [] = { cmocka_unit_test (test_write_corpus) };
        return cmocka_run_group_tests (write, s_setup, s_teardown);
    }
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_fashion_mnist_real),
        cmocka_unit_test (test_fashion_mnist_truncated_real),
        cmocka_unit_test (test_cifar10_real),
        cmocka_unit_test (test_idx_files),
        cmocka_unit_test (test_idx_truncated),
        cmocka_unit_test (test_idx_corrupt),
        cmocka_unit_test (test_cifar_memory),
        cmocka_unit_test (test_cifar_files),
        cmocka_unit_test (test_open_rejects),
        cmocka_unit_test (test_synthetic),
        cmocka_unit_test (test_batch_plain),
        cmocka_unit_test (test_augment),
        cmocka_unit_test (test_augment_mnist_never_flips),
        cmocka_unit_test (test_records_subset),
        cmocka_unit_test (test_augment_known_answer),
        cmocka_unit_test (test_shared_threads),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}

//  Skipped tests reported as TAP "ok N # SKIP" (fg_test_run_tap).
int
main (void)
{
    return fg_test_run_tap (s_run);
}
