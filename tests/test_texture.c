/*  test_texture.c — the texture set: fragment counts against an
    enumeration (and the study's table), places and the round-robin layout
    as bijections, the split by whole image, rotations, contrast
    normalisation, the area resize (scaling the image once = resizing each
    fragment), and the dataset opened on generated folders of large PNG
    and JPEG images.                                                       */

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#include "fg_config.h"
#include "fg_dataset.h"
#include "fg_file.h"
#include "fg_image.h"
#include "fg_rng.h"
#include "fg_texture.h"
#include "fg_test_image.h"
#include "fg_test_util.h"

static fg_texture_geometry_t
s_geometry (uint32_t fragment, uint32_t stride, uint32_t rotations, uint32_t side)
{
    return (fg_texture_geometry_t) { fragment, stride, rotations, side, 512 };
}

//  --------------------------------------------------------------------------
//  Geometry

//  The count formula against an enumeration of every origin that keeps the
//  fragment inside the image, and place <-> index as a bijection onto them.
static void
s_check_enumeration (const fg_texture_geometry_t *g, uint32_t h, uint32_t w)
{
    uint64_t seen = 0;
    for (uint32_t y = 0; y + g->fragment <= h; y += g->stride)
        for (uint32_t x = 0; x + g->fragment <= w; x += g->stride)
            for (uint32_t r = 0; r < g->rotations; r++) {
                fg_texture_place_t p = { y, x, r }, back;
                uint64_t j = fg_texture_place_index (g, h, w, &p);
                assert_int_equal (j, seen);         //  y-major, then x, then rotation
                fg_texture_place (g, h, w, j, &back);
                assert_int_equal (back.y, y);
                assert_int_equal (back.x, x);
                assert_int_equal (back.rotation, r);
                seen++;
            }
    assert_int_equal (fg_texture_count (g, h, w), seen);
}

static void
test_count_enumeration (void **state)
{
    (void) state;
    static const uint32_t shapes [][2] = {
        { 256, 256 }, { 255, 1000 }, { 600, 1000 }, { 1074, 2272 }, { 257, 511 }, { 9, 7 }
    };
    static const uint32_t strides [] = { 256, 128, 100, 64, 33, 16, 8, 1 };
    static const uint32_t rotations [] = { 1, 2, 4 };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes [0]; s++)
        for (size_t t = 0; t < sizeof strides / sizeof strides [0]; t++)
            for (size_t r = 0; r < 3; r++) {
                fg_texture_geometry_t g = s_geometry (256, strides [t], rotations [r], 256);
                if (strides [t] == 1 && shapes [s][0] > 600)
                    continue;                       //  1.6 M places: covered by stride 8
                s_check_enumeration (&g, shapes [s][0], shapes [s][1]);
            }
    //  Small fragments on a small image, every stride
    for (uint32_t stride = 1; stride <= 9; stride++) {
        fg_texture_geometry_t g = s_geometry (4, stride, 2, 4);
        s_check_enumeration (&g, 9, 7);
    }
    fg_texture_geometry_t g = s_geometry (256, 64, 4, 256);
    assert_int_equal (fg_texture_count (&g, 255, 4000), 0);
    assert_int_equal (fg_texture_count (&g, 4000, 255), 0);
}

//  The study's images: 654 of 2272 x 1074, fragment 256. These are the
//  numbers of docs/datasets.md's table; the formula is checked against an
//  enumeration above, so this pins the table to the code.
static void
test_study_table (void **state)
{
    (void) state;
    static const struct { uint32_t stride; uint64_t per_image; } rows [] = {
        { 256, 32 }, { 128, 112 }, { 64, 416 }, { 32, 1664 }, { 16, 6604 }, { 8, 26059 }
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows [0]; i++)
        for (uint32_t r = 1; r <= 4; r *= 2) {
            fg_texture_geometry_t g = s_geometry (256, rows [i].stride, r, 256);
            assert_int_equal (fg_texture_count (&g, 1074, 2272), rows [i].per_image * r);
            s_check_enumeration (&g, 1074, 2272);
        }
}

static void
test_check (void **state)
{
    (void) state;
    fg_error_t err;
    fg_texture_geometry_t g = s_geometry (256, 64, 4, 64);
    assert_int_equal (fg_texture_check (&g, &err), 0);
    g.rotations = 3;
    assert_int_equal (fg_texture_check (&g, &err), FG_EINVAL);
    assert_non_null (strstr (err.msg, "data.texture_rotations"));
    g = s_geometry (256, 2, 1, 64);                 //  2 x 64 / 256 is not an integer
    assert_int_equal (fg_texture_check (&g, &err), FG_EINVAL);
    assert_non_null (strstr (err.msg, "data.texture_stride"));
    g = s_geometry (256, 2, 1, 256);                //  no scaling: any stride
    assert_int_equal (fg_texture_check (&g, &err), 0);
    g = s_geometry (256, 8, 1, 224);                //  8 x 224 / 256 = 7
    assert_int_equal (fg_texture_check (&g, &err), 0);
    g = s_geometry (0, 8, 1, 224);
    assert_int_equal (fg_texture_check (&g, &err), FG_EINVAL);
    g = s_geometry (256, 0, 1, 224);
    assert_int_equal (fg_texture_check (&g, &err), FG_EINVAL);
    g = s_geometry (256, 64, 1, 0);
    assert_int_equal (fg_texture_check (&g, &err), FG_EINVAL);
    g = s_geometry (256, 64, 1, 64);
    g.contrast_q8 = FG_TEXTURE_CONTRAST_MAX + 1;
    assert_int_equal (fg_texture_check (&g, &err), FG_EINVAL);
}

//  The configuration keys: defaults, the options they give, and the
//  cross-key rules checked for the texture set only.
static void
test_config_keys (void **state)
{
    (void) state;
    fg_config_t cfg;
    fg_config_defaults (&cfg);
    fg_texture_options_t opt;
    fg_texture_options_from_config (&cfg, &opt);
    assert_int_equal (opt.geometry.fragment, 256);
    assert_int_equal (opt.geometry.stride, 128);
    assert_int_equal (opt.geometry.rotations, 1);
    assert_int_equal (opt.geometry.side, 64);
    assert_int_equal (opt.geometry.contrast_q8, 512);
    assert_true (opt.test_share == 0.2);
    assert_int_equal (opt.cache_bytes, (uint64_t) 1024 << 20);
    assert_int_equal (fg_texture_check (&opt.geometry, NULL), 0);
    fg_error_t err;
    assert_int_equal (fg_config_set (&cfg, "data.texture_rotations=3", "test", &err), 0);
    assert_int_equal (fg_config_validate (&cfg, &err), 0);          //  not a texture run
    assert_int_equal (fg_config_set (&cfg, "data.dataset=texture", "test", &err), 0);
    assert_int_equal (fg_config_set (&cfg, "data.path=/srv/texture", "test", &err), 0);
    assert_int_equal (fg_config_validate (&cfg, &err), FG_EINVAL);
    assert_non_null (strstr (err.msg, "data.texture_rotations = 3"));
    assert_int_equal (fg_config_set (&cfg, "data.texture_rotations=4", "test", &err), 0);
    assert_int_equal (fg_config_set (&cfg, "data.texture_stride=6", "test", &err), 0);
    assert_int_equal (fg_config_validate (&cfg, &err), FG_EINVAL);
    assert_non_null (strstr (err.msg, "data.texture_stride (6) x data.image_size (64)"));
    assert_int_equal (fg_config_set (&cfg, "data.texture_stride=8", "test", &err), 0);
    assert_int_equal (fg_config_set (&cfg, "data.texture_contrast=1.5", "test", &err), 0);
    assert_int_equal (fg_config_validate (&cfg, &err), 0);
    fg_texture_options_from_config (&cfg, &opt);
    assert_int_equal (opt.geometry.contrast_q8, 384);
    assert_int_equal (fg_texture_check (&opt.geometry, NULL), 0);
    assert_int_equal (fg_config_set (&cfg, "data.texture_contrast=17", "test", &err), FG_ERANGE);
}

//  --------------------------------------------------------------------------
//  Layout

static void
s_check_layout (const uint64_t *counts, size_t n)
{
    fg_texture_layout_t *layout = NULL;
    assert_int_equal (fg_texture_layout_new (counts, n, &layout, NULL), 0);
    uint64_t total = 0, most = 0;
    for (size_t i = 0; i < n; i++) {
        total += counts [i];
        most = counts [i] > most? counts [i]: most;
    }
    assert_int_equal (fg_texture_layout_total (layout), total);
    //  Every (image, j) exactly once, rounds in order: fragment j of any
    //  image comes after every fragment j - 1
    uint8_t *hit = calloc (total, 1);
    uint64_t *next = calloc (n, sizeof (uint64_t));
    assert_non_null (hit);
    assert_non_null (next);
    uint64_t round = 0;
    for (uint64_t g = 0; g < total; g++) {
        uint32_t image;
        uint64_t j;
        fg_texture_layout_locate (layout, g, &image, &j);
        assert_true (image < n);
        assert_int_equal (j, next [image]);         //  an image's fragments in order
        next [image]++;
        assert_true (j >= round);
        round = j;
        assert_int_equal (fg_texture_layout_index (layout, image, j), g);
        assert_int_equal (hit [g], 0);
        hit [g] = 1;
    }
    for (size_t i = 0; i < n; i++)
        assert_int_equal (next [i], counts [i]);
    assert_int_equal (round, most - 1);
    free (hit);
    free (next);
    fg_texture_layout_destroy (&layout);
    assert_null (layout);
}

static void
test_layout (void **state)
{
    (void) state;
    //  Equal counts: sample g is fragment g / n of image g mod n
    uint64_t equal [5] = { 7, 7, 7, 7, 7 };
    s_check_layout (equal, 5);
    fg_texture_layout_t *layout = NULL;
    assert_int_equal (fg_texture_layout_new (equal, 5, &layout, NULL), 0);
    for (uint64_t g = 0; g < 35; g++) {
        uint32_t image;
        uint64_t j;
        fg_texture_layout_locate (layout, g, &image, &j);
        assert_int_equal (image, g % 5);
        assert_int_equal (j, g / 5);
    }
    fg_texture_layout_destroy (&layout);
    //  Unequal: images with fewer fragments drop out; largest first
    uint64_t mixed [6] = { 3, 9, 1, 9, 4, 3 };
    s_check_layout (mixed, 6);
    assert_int_equal (fg_texture_layout_new (mixed, 6, &layout, NULL), 0);
    uint32_t first [6];
    for (uint64_t g = 0; g < 6; g++) {
        uint64_t j;
        fg_texture_layout_locate (layout, g, &first [g], &j);
        assert_int_equal (j, 0);
    }
    static const uint32_t visit [6] = { 1, 3, 4, 0, 5, 2 };
    assert_memory_equal (first, visit, sizeof visit);
    fg_texture_layout_destroy (&layout);
    //  Random counts
    fg_rng_t rng;
    fg_rng_init (&rng, 5, FG_RNG_TEST, 0, 0, 0, 0);
    for (int trial = 0; trial < 20; trial++) {
        size_t n = 1 + fg_rng_below (&rng, 40);
        uint64_t counts [40];
        for (size_t i = 0; i < n; i++)
            counts [i] = 1 + fg_rng_below (&rng, trial % 2? 5: 60);
        s_check_layout (counts, n);
    }
    uint64_t zero [2] = { 3, 0 };
    fg_error_t err;
    assert_int_equal (fg_texture_layout_new (zero, 2, &layout, &err), FG_EINVAL);
    assert_int_equal (fg_texture_layout_new (zero, 0, &layout, &err), FG_EINVAL);
}

//  --------------------------------------------------------------------------
//  Split

static void
test_split (void **state)
{
    (void) state;
    bool a [200], b [200];
    for (uint32_t n = 0; n <= 200; n += 7) {
        assert_int_equal (fg_texture_split (3, n, 0.2, a, NULL), 0);
        assert_int_equal (fg_texture_split (3, n, 0.2, b, NULL), 0);
        assert_memory_equal (a, b, n * sizeof (bool));      //  same on every call
        uint32_t held = 0;
        for (uint32_t i = 0; i < n; i++)
            held += a [i];
        uint32_t want = n < 2? 0: (uint32_t) floor (0.2 * n + 0.5);
        assert_int_equal (held, want);
    }
    //  Classes draw differently; share 0 holds none; at least one image trains
    fg_texture_split (0, 100, 0.3, a, NULL);
    fg_texture_split (1, 100, 0.3, b, NULL);
    assert_memory_not_equal (a, b, 100 * sizeof (bool));
    fg_texture_split (0, 100, 0.0, a, NULL);
    for (int i = 0; i < 100; i++)
        assert_false (a [i]);
    fg_texture_split (0, 4, 1.0, a, NULL);
    assert_int_equal (a [0] + a [1] + a [2] + a [3], 3);
    fg_texture_split (0, 1, 0.9, a, NULL);
    assert_false (a [0]);
}

//  --------------------------------------------------------------------------
//  Pixels

static void
s_pattern (uint64_t seed, uint8_t *p, size_t n)
{
    fg_rng_t rng;
    fg_rng_init (&rng, seed, FG_RNG_TEST, 0, 0, 0, 0);
    for (size_t i = 0; i < n; i++)
        p [i] = (uint8_t) fg_rng_u32 (&rng);
}

static void
test_rotate (void **state)
{
    (void) state;
    enum { N = 17, C = 3 };
    uint8_t in [N * N * C], a [N * N * C], b [N * N * C], c [N * N * C];
    s_pattern (1, in, sizeof in);
    //  Four quarter turns are the identity; two are a half turn
    memcpy (a, in, sizeof a);
    for (int t = 0; t < 4; t++) {
        fg_texture_rotate (a, N, C, 1, b);
        memcpy (a, b, sizeof a);
    }
    assert_memory_equal (a, in, sizeof in);
    fg_texture_rotate (in, N, C, 1, a);
    fg_texture_rotate (a, N, C, 1, b);
    fg_texture_rotate (in, N, C, 2, c);
    assert_memory_equal (b, c, sizeof c);
    fg_texture_rotate (b, N, C, 1, a);
    fg_texture_rotate (in, N, C, 3, c);
    assert_memory_equal (a, c, sizeof c);
    fg_texture_rotate (in, N, C, 4, c);
    assert_memory_equal (in, c, sizeof c);
    //  A marker at row 2, column 15 (near the top right): a counter-clockwise
    //  quarter turn brings it to row N-1-15 = 1, column 2 (numpy.rot90)
    uint8_t marker [N * N] = { 0 }, out [N * N];
    marker [2 * N + 15] = 255;
    fg_texture_rotate (marker, N, 1, 1, out);
    for (int i = 0; i < N * N; i++)
        assert_int_equal (out [i], i == 1 * N + 2? 255: 0);
    fg_texture_rotate (marker, N, 1, 2, out);       //  half turn: row 14, column 1
    assert_int_equal (out [14 * N + 1], 255);
    fg_texture_rotate (marker, N, 1, 3, out);       //  clockwise: row 15, column 14
    assert_int_equal (out [15 * N + 14], 255);
}

static void
test_contrast (void **state)
{
    (void) state;
    //  A constant fragment becomes 128, whatever its level
    uint8_t flat [64 * 64 * 3];
    for (int level = 0; level < 256; level += 51) {
        memset (flat, level, sizeof flat);
        fg_texture_contrast (flat, sizeof flat, 512);
        for (size_t i = 0; i < sizeof flat; i++)
            assert_int_equal (flat [i], 128);
    }
    //  A ramp 0 .. 255: mean 127.5, std sqrt ((256^2 - 1) / 12) = 73.9;
    //  k = 2 maps v to 128 + (v - 127.5) x 128 / (2 x 73.9), within one
    //  level of the real-valued map (isqrt floors the std), monotone, clamped
    uint8_t ramp [256];
    for (int v = 0; v < 256; v++)
        ramp [v] = (uint8_t) v;
    fg_texture_contrast (ramp, 256, 512);
    double sd = sqrt ((256.0 * 256.0 - 1.0) / 12.0);
    for (int v = 0; v < 256; v++) {
        double want = 128.0 + (v - 127.5) * 128.0 / (2.0 * sd);
        want = want < 0? 0: want > 255? 255: want;
        assert_true (fabs (ramp [v] - want) <= 1.0);
        if (v)
            assert_true (ramp [v] >= ramp [v - 1]);
    }
    assert_int_equal (ramp [127], 128);     //  (127 - 127.5) x 128 / 147.8 = -0.43 -> 128
    assert_int_equal (ramp [0], 18);        //  128 - 127.5 x 0.866 = 17.6
    assert_int_equal (ramp [255], 238);
    //  k = 1: the ramp's ends clamp
    for (int v = 0; v < 256; v++)
        ramp [v] = (uint8_t) v;
    fg_texture_contrast (ramp, 256, 256);
    assert_int_equal (ramp [0], 0);
    assert_int_equal (ramp [255], 255);
    assert_int_equal (ramp [128], 129);     //  128 + 0.5 x 1.732 = 128.87
    //  k = 0: unchanged
    for (int v = 0; v < 256; v++)
        ramp [v] = (uint8_t) v;
    fg_texture_contrast (ramp, 256, 0);
    for (int v = 0; v < 256; v++)
        assert_int_equal (ramp [v], v);
    //  A low-contrast fragment is stretched: two levels 100, 102 -> far apart
    uint8_t two [100];
    for (int i = 0; i < 100; i++)
        two [i] = i % 2? 102: 100;
    fg_texture_contrast (two, 100, 512);    //  std 1: 128 -/+ 64
    assert_int_equal (two [0], 64);
    assert_int_equal (two [1], 192);
}

static void
test_area (void **state)
{
    (void) state;
    enum { H = 40, W = 52, C = 3 };
    uint8_t src [H * W * C], out [H * W * C];
    uint64_t scratch [W * C * 2];
    s_pattern (2, src, sizeof src);
    //  p = q: identity
    fg_texture_area (src, H, W, C, 0, 0, H, W, 7, 7, scratch, out, NULL);
    assert_memory_equal (out, src, sizeof src);
    //  1 / 4: the 4 x 4 block average, rounded half up
    fg_texture_area (src, H, W, C, 0, 0, H / 4, W / 4, 64, 256, scratch, out, NULL);
    for (int oy = 0; oy < H / 4; oy++)
        for (int ox = 0; ox < W / 4; ox++)
            for (int c = 0; c < C; c++) {
                unsigned sum = 0;
                for (int y = 0; y < 4; y++)
                    for (int x = 0; x < 4; x++)
                        sum += src [((oy * 4 + y) * W + ox * 4 + x) * C + c];
                assert_int_equal (out [(oy * (W / 4) + ox) * C + c], (sum + 8) / 16);
            }
    //  2 / 3 on a constant image stays constant (weights sum to q^2)
    memset (src, 77, sizeof src);
    fg_texture_area (src, H, W, C, 3, 3, 24, 32, 2, 3, scratch, out, NULL);
    for (int i = 0; i < 24 * 32 * C; i++)
        assert_int_equal (out [i], 77);
}

//  Scaling the whole image once and cutting = resizing the fragment cut at
//  full resolution, for every place; and rotation commutes with the resize.
static void
s_check_scale_once (uint32_t fragment, uint32_t stride, uint32_t side, uint32_t h, uint32_t w)
{
    enum { C = 3 };
    fg_texture_geometry_t g = { fragment, stride, 4, side, 512 };
    assert_int_equal (fg_texture_check (&g, NULL), 0);
    uint8_t *src = malloc ((size_t) h * w * C);
    uint32_t sh, sw;
    fg_texture_scaled_shape (&g, h, w, &sh, &sw);
    uint8_t *scaled = malloc ((size_t) sh * sw * C);
    size_t frag = (size_t) side * side * C;
    uint8_t *tmp = malloc (frag), *cut = malloc (frag), *direct = malloc (frag),
            *full = malloc ((size_t) fragment * fragment * C),
            *turned = malloc ((size_t) fragment * fragment * C);
    uint64_t *scratch = malloc ((size_t) (w > fragment? w: fragment) * C * sizeof (uint64_t));
    assert_true (src && scaled && tmp && cut && direct && full && turned && scratch);
    s_pattern (h * 31 + w, src, (size_t) h * w * C);
    assert_int_equal (fg_texture_scale (&g, src, h, w, C, scaled, NULL), 0);
    uint64_t n = fg_texture_count (&g, h, w);
    assert_true (n > 0);
    for (uint64_t j = 0; j < n; j++) {
        fg_texture_place_t p;
        fg_texture_place (&g, h, w, j, &p);
        fg_texture_cut (&g, scaled, sh, sw, C, &p, tmp, cut);
        //  the definition: cut at full resolution, rotate, resize, normalise
        for (uint32_t r = 0; r < fragment; r++)
            memcpy (full + (size_t) r * fragment * C, src + ((size_t) (p.y + r) * w + p.x) * C,
                    (size_t) fragment * C);
        fg_texture_rotate (full, fragment, C, p.rotation, turned);
        fg_texture_area (turned, fragment, fragment, C, 0, 0, side, side, side, fragment,
                         scratch, direct, NULL);
        fg_texture_contrast (direct, frag, g.contrast_q8);
        assert_memory_equal (cut, direct, frag);
    }
    free (src); free (scaled); free (tmp); free (cut); free (direct); free (full);
    free (turned); free (scratch);
}

static void
test_scale_once (void **state)
{
    (void) state;
    s_check_scale_once (32, 8, 8, 70, 90);          //  1 / 4
    s_check_scale_once (32, 8, 28, 70, 90);         //  7 / 8
    s_check_scale_once (24, 9, 16, 50, 61);         //  2 / 3
    s_check_scale_once (16, 5, 16, 40, 33);         //  identity, any stride
    s_check_scale_once (8, 4, 12, 20, 30);          //  3 / 2: enlarging
}

//  --------------------------------------------------------------------------
//  The dataset on generated folders of large images

#define S_CLASSES 3
#define S_PER     4                     //  images per class
#define S_H       600
#define S_W       1000

//  root/<class>/img<k>.{png,jpg}: class c image k is a seeded pattern,
//  PNG for even k, JPEG (quality 90) for odd k.
static void
s_make_folder (const char *root, uint32_t classes, uint32_t per, uint32_t h, uint32_t w)
{
    uint8_t *hwc = malloc ((size_t) h * w * 3);
    assert_non_null (hwc);
    char path [4400];
    for (uint32_t c = 0; c < classes; c++) {
        snprintf (path, sizeof path, "%s/class%u", root, c);
        assert_int_equal (fg_file_mkdirs (path, NULL), 0);
        for (uint32_t k = 0; k < per; k++) {
            fg_test_image_pattern (1000 * c + k, h, w, 3, hwc);
            snprintf (path, sizeof path, "%s/class%u/img%u.%s", root, c, k, k % 2? "jpg": "png");
            assert_int_equal (k % 2? fg_test_image_write_jpeg (path, hwc, h, w, 3, 90)
                                   : fg_test_image_write_png (path, hwc, h, w, 3), 0);
        }
    }
    free (hwc);
}

static fg_texture_options_t
s_options (uint32_t stride, uint32_t rotations, uint32_t side, double share, uint64_t cache)
{
    fg_texture_options_t opt = { { 256, stride, rotations, side, 512 }, share, cache };
    return opt;
}

static char s_root [4200];              //  the shared generated folder

static int
s_setup (void **state)
{
    (void) state;
    char dir [4096];
    if (fg_test_tmpdir ("texture", dir, sizeof dir))
        return -1;
    snprintf (s_root, sizeof s_root, "%s/set", dir);
    s_make_folder (s_root, S_CLASSES, S_PER, S_H, S_W);
    return 0;
}

static int
s_teardown (void **state)
{
    (void) state;
    char dir [4200];
    snprintf (dir, sizeof dir, "%s", s_root);
    *strrchr (dir, '/') = '\0';
    fg_test_rmtree (dir);
    return 0;
}

//  Counts, labels (class-interleaved), the split by whole image: every
//  image in exactly one split, a class's test images never in training.
static void
test_dataset_split (void **state)
{
    (void) state;
    fg_texture_options_t opt = s_options (128, 2, 64, 0.25, 1 << 30);
    fg_dataset_t *train = NULL, *test = NULL;
    fg_error_t err;
    assert_int_equal (fg_dataset_open_texture (s_root, FG_SPLIT_TRAIN, 0, &opt, &train, &err), 0);
    assert_int_equal (fg_dataset_open_texture (s_root, FG_SPLIT_TEST, 0, &opt, &test, &err), 0);
    //  ny = (600 - 256) / 128 + 1 = 3, nx = (1000 - 256) / 128 + 1 = 6, x 2
    uint64_t per = fg_texture_count (&opt.geometry, S_H, S_W);
    assert_int_equal (per, 36);
    assert_int_equal (fg_dataset_count (train), 9 * per);     //  3 of 4 per class
    assert_int_equal (fg_dataset_count (test), 3 * per);
    assert_int_equal (fg_dataset_classes (train), 3);
    assert_int_equal (fg_dataset_classes (test), 3);
    uint32_t h, w, c;
    fg_dataset_shape (train, &h, &w, &c);
    assert_true (h == 64 && w == 64 && c == 3);
    assert_int_equal (fg_dataset_kind (train), FG_DATASET_TEXTURE);
    assert_null (fg_dataset_pixels (train));
    //  Round 0 visits the 9 images class by class: labels 0 1 2 0 1 2 ...
    const uint16_t *labels = fg_dataset_labels (train);
    for (int i = 0; i < 18; i++)
        assert_int_equal (labels [i], i % 3);
    //  Which image each sample comes from
    char seen [2][S_CLASSES][S_PER];
    memset (seen, 0, sizeof seen);
    fg_dataset_t *sets [2] = { train, test };
    for (int s = 0; s < 2; s++)
        for (size_t i = 0; i < fg_dataset_count (sets [s]); i++) {
            const char *path;
            fg_texture_place_t place;
            assert_int_equal (fg_dataset_texture_sample (sets [s], i, &path, &place), 0);
            unsigned klass, k;
            assert_int_equal (sscanf (path, "class%u/img%u.", &klass, &k), 2);
            assert_true (klass < S_CLASSES && k < S_PER);
            assert_int_equal (fg_dataset_labels (sets [s]) [i], klass);
            assert_true (place.y + 256 <= S_H && place.x + 256 <= S_W && place.rotation < 2);
            seen [s][klass][k] = 1;
        }
    for (int klass = 0; klass < S_CLASSES; klass++) {
        int held = 0;
        for (int k = 0; k < S_PER; k++) {
            assert_int_equal (seen [0][klass][k] + seen [1][klass][k], 1);     //  one split only
            held += seen [1][klass][k];
        }
        assert_int_equal (held, 1);
    }
    //  The held-out image of each class is the one fg_texture_split picks
    for (uint32_t klass = 0; klass < S_CLASSES; klass++) {
        bool pick [S_PER];
        fg_texture_split (klass, S_PER, 0.25, pick, NULL);
        for (int k = 0; k < S_PER; k++)
            assert_int_equal (pick [k], seen [1][klass][k]);
    }
    assert_int_equal (fg_dataset_texture_sample (train, 9 * per, NULL, NULL), FG_ERANGE);
    fg_dataset_destroy (&train);
    fg_dataset_destroy (&test);
}

//  A sample's pixels are the definition applied to the decoded file:
//  cut at full resolution, rotate, area resize, contrast.
static void
test_dataset_pixels (void **state)
{
    (void) state;
    fg_texture_options_t opt = s_options (64, 4, 64, 0.25, 1 << 30);
    fg_dataset_t *train = NULL;
    assert_int_equal (fg_dataset_open_texture (s_root, FG_SPLIT_TRAIN, 0, &opt, &train, NULL), 0);
    size_t record = fg_dataset_record_size (train);
    assert_int_equal (record, 2 + 64 * 64 * 3);
    uint8_t *rec = malloc (record), *full = malloc (256 * 256 * 3), *turned = malloc (256 * 256 * 3),
            *want = malloc (64 * 64 * 3);
    uint64_t scratch [256 * 3];
    assert_true (rec && full && turned && want);
    size_t picks [] = { 0, 1, 17, 400, fg_dataset_count (train) - 1 };
    for (size_t t = 0; t < sizeof picks / sizeof picks [0]; t++) {
        size_t i = picks [t];
        assert_int_equal (fg_dataset_records (train, i, 1, rec, NULL), 0);
        const char *rel;
        fg_texture_place_t p;
        assert_int_equal (fg_dataset_texture_sample (train, i, &rel, &p), 0);
        char path [4500];
        snprintf (path, sizeof path, "%s/%s", s_root, rel);
        char *file;
        size_t size;
        assert_int_equal (fg_file_read (path, 1 << 26, &file, &size, NULL), 0);
        fg_image_t image;
        assert_int_equal (fg_image_decode ((const uint8_t *) file, size, path, 3, &image, NULL), 0);
        free (file);
        for (uint32_t r = 0; r < 256; r++)
            memcpy (full + r * 256 * 3, image.pixels + ((size_t) (p.y + r) * image.width + p.x) * 3,
                    256 * 3);
        fg_image_release (&image);
        fg_texture_rotate (full, 256, 3, p.rotation, turned);
        fg_texture_area (turned, 256, 256, 3, 0, 0, 64, 64, 64, 256, scratch, want, NULL);
        fg_texture_contrast (want, 64 * 64 * 3, 512);
        assert_int_equal (rec [0] | rec [1] << 8, fg_dataset_labels (train) [i]);
        assert_memory_equal (rec + 2, want, 64 * 64 * 3);
    }
    free (rec); free (full); free (turned); free (want);
    fg_dataset_destroy (&train);
}

typedef struct {
    fg_dataset_t *data;
    uint32_t      first;                //  of the batches this thread computes
    uint32_t      every;
    float        *out;                  //  all batches
    int           rc;
} s_worker_t;

#define S_BATCH   16
#define S_BATCHES 10

static void
s_batch_indices (uint32_t b, size_t count, uint32_t *indices)
{
    fg_rng_t rng;
    fg_rng_init (&rng, 9, FG_RNG_TEST, 0, 0, 0, b);
    for (int k = 0; k < S_BATCH; k++)
        indices [k] = fg_rng_below (&rng, (uint32_t) count);
}

static void *
s_worker (void *arg)
{
    s_worker_t *w = arg;
    size_t image = 64 * 64 * 3;
    for (uint32_t b = w->first; b < S_BATCHES && w->rc == 0; b += w->every) {
        uint32_t indices [S_BATCH];
        s_batch_indices (b, fg_dataset_count (w->data), indices);
        fg_dataset_key_t key = { 7, 1, 2, 3, b };
        w->rc = fg_dataset_batch (w->data, indices, S_BATCH, true, &key,
                                  w->out + (size_t) b * S_BATCH * image, NULL, NULL);
    }
    return NULL;
}

//  Random augmented batches: the same floats from two opens, from one
//  thread and from four sharing a set whose cache holds three images (so
//  they evict under each other), and the same content hash.
static void
s_batches (fg_dataset_t *data, int threads, float *out)
{
    pthread_t tids [4];
    s_worker_t workers [4];
    for (int t = 0; t < threads; t++) {
        workers [t] = (s_worker_t) { data, (uint32_t) t, (uint32_t) threads, out, 0 };
        assert_int_equal (pthread_create (&tids [t], NULL, s_worker, &workers [t]), 0);
    }
    for (int t = 0; t < threads; t++) {
        pthread_join (tids [t], NULL);
        assert_int_equal (workers [t].rc, 0);
    }
}

static void
test_dataset_batches (void **state)
{
    (void) state;
    size_t floats = (size_t) S_BATCHES * S_BATCH * 64 * 64 * 3;
    float *a = malloc (floats * sizeof (float)), *b = malloc (floats * sizeof (float));
    assert_true (a && b);
    fg_texture_options_t big = s_options (64, 4, 64, 0.25, 1 << 30);
    fg_texture_options_t small = s_options (64, 4, 64, 0.25, 3 * 150 * 250 * 3);
    fg_dataset_t *one = NULL, *two = NULL;
    assert_int_equal (fg_dataset_open_texture (s_root, FG_SPLIT_TRAIN, 0, &big, &one, NULL), 0);
    assert_int_equal (fg_dataset_open_texture (s_root, FG_SPLIT_TRAIN, 0, &small, &two, NULL), 0);
    assert_string_equal (fg_dataset_hash_hex (one), fg_dataset_hash_hex (two));
    s_batches (one, 1, a);
    s_batches (two, 4, b);
    assert_memory_equal (a, b, floats * sizeof (float));
    //  Cache figures: every fragment cut is a hit or a miss; the big cache
    //  decoded each of the 9 training images once
    uint64_t hits, misses, bytes, peak;
    fg_dataset_texture_stats (one, &hits, &misses, &bytes, &peak);
    assert_int_equal (hits + misses, (uint64_t) S_BATCHES * S_BATCH);
    assert_int_equal (misses, 9);
    assert_int_equal (bytes, 9 * 150 * 250 * 3);        //  600 x 1000 scaled by 1 / 4
    fg_dataset_texture_stats (two, &hits, &misses, &bytes, &peak);
    assert_int_equal (hits + misses, (uint64_t) S_BATCHES * S_BATCH);
    assert_true (misses > 9);
    assert_true (bytes <= 4 * 150 * 250 * 3);           //  bound, or the images pinned
    assert_true (peak <= 4 * 150 * 250 * 3);            //  (by the other three threads)
    fg_dataset_destroy (&two);
    //  Another geometry: another hash
    fg_texture_options_t other = s_options (128, 4, 64, 0.25, 1 << 30);
    assert_int_equal (fg_dataset_open_texture (s_root, FG_SPLIT_TRAIN, 0, &other, &two, NULL), 0);
    assert_string_not_equal (fg_dataset_hash_hex (one), fg_dataset_hash_hex (two));
    fg_dataset_destroy (&two);
    //  limit: a prefix of the same samples, every class in it
    assert_int_equal (fg_dataset_open_texture (s_root, FG_SPLIT_TRAIN, 10, &big, &two, NULL), 0);
    assert_int_equal (fg_dataset_count (two), 10);
    assert_memory_equal (fg_dataset_labels (two), fg_dataset_labels (one), 10 * sizeof (uint16_t));
    uint8_t r1 [2 + 64 * 64 * 3], r2 [2 + 64 * 64 * 3];
    assert_int_equal (fg_dataset_records (one, 9, 1, r1, NULL), 0);
    assert_int_equal (fg_dataset_records (two, 9, 1, r2, NULL), 0);
    assert_memory_equal (r1, r2, sizeof r1);
    fg_dataset_destroy (&two);
    fg_dataset_destroy (&one);
    free (a);
    free (b);
}

//  Errors name what is wrong: an image smaller than a fragment, an empty
//  class, a damaged header (at open), damaged image data (at use), no
//  class folder, a bad geometry.
static void
test_dataset_errors (void **state)
{
    (void) state;
    char dir [4096], path [4200], root [4150];
    assert_int_equal (fg_test_tmpdir ("texture-errors", dir, sizeof dir), 0);
    fg_texture_options_t opt = s_options (128, 2, 64, 0.0, 1 << 30);
    fg_dataset_t *data = NULL;
    fg_error_t err;
    uint8_t *hwc = malloc (400 * 300 * 3);
    assert_non_null (hwc);
    fg_test_image_pattern (5, 300, 400, 3, hwc);

    snprintf (root, sizeof root, "%s/none", dir);
    assert_int_equal (fg_dataset_open_texture (root, FG_SPLIT_TRAIN, 0, &opt, &data, &err), FG_ENOENT);
    assert_non_null (strstr (err.msg, root));

    snprintf (root, sizeof root, "%s/small", dir);
    snprintf (path, sizeof path, "%s/a", root);
    assert_int_equal (fg_file_mkdirs (path, NULL), 0);
    snprintf (path, sizeof path, "%s/a/big.png", root);
    assert_int_equal (fg_test_image_write_png (path, hwc, 300, 400, 3), 0);
    snprintf (path, sizeof path, "%s/a/tiny.png", root);
    assert_int_equal (fg_test_image_write_png (path, hwc, 100, 300, 3), 0);
    assert_int_equal (fg_dataset_open_texture (root, FG_SPLIT_TRAIN, 0, &opt, &data, &err), FG_ERANGE);
    assert_non_null (strstr (err.msg, "a/tiny.png: 300x100 is smaller than a fragment of 256x256"));
    assert_null (data);
    unlink (path);
    assert_int_equal (fg_dataset_open_texture (root, FG_SPLIT_TRAIN, 0, &opt, &data, &err), 0);
    fg_dataset_destroy (&data);

    snprintf (path, sizeof path, "%s/b", root);             //  an empty class
    assert_int_equal (fg_file_mkdirs (path, NULL), 0);
    snprintf (path, sizeof path, "%s/b/notes.txt", root);
    assert_int_equal (fg_test_image_write_file (path, "x", 1), 0);
    assert_int_equal (fg_dataset_open_texture (root, FG_SPLIT_TRAIN, 0, &opt, &data, &err), FG_ENOENT);
    assert_non_null (strstr (err.msg, "/b: no image"));

    snprintf (path, sizeof path, "%s/b/junk.jpg", root);    //  a damaged header
    assert_int_equal (fg_test_image_write_file (path, "not a jpeg at all", 17), 0);
    assert_int_equal (fg_dataset_open_texture (root, FG_SPLIT_TRAIN, 0, &opt, &data, &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, "b/junk.jpg"));

    //  damaged image data: a JPEG cut after its header opens, fails at use
    uint8_t *jpeg;
    size_t size;
    assert_int_equal (fg_test_image_jpeg_bytes (hwc, 300, 400, 3, 90, 0, &jpeg, &size), 0);
    assert_int_equal (fg_test_image_write_file (path, jpeg, size / 3), 0);
    free (jpeg);
    assert_int_equal (fg_dataset_open_texture (root, FG_SPLIT_TRAIN, 0, &opt, &data, &err), 0);
    uint8_t rec [2 + 64 * 64 * 3];
    int failed = 0;
    for (size_t i = 0; i < fg_dataset_count (data); i++) {
        const char *rel;
        fg_texture_place_t p;
        assert_int_equal (fg_dataset_texture_sample (data, i, &rel, &p), 0);
        int rc = fg_dataset_records (data, i, 1, rec, &err);
        if (strcmp (rel, "b/junk.jpg") == 0) {
            assert_int_equal (rc, FG_EFORMAT);
            assert_non_null (strstr (err.msg, "b/junk.jpg"));
            failed++;
        }
        else
            assert_int_equal (rc, 0);
    }
    assert_true (failed > 0);
    fg_dataset_destroy (&data);

    //  no class folder; an empty split; a bad geometry
    snprintf (root, sizeof root, "%s/flat", dir);
    assert_int_equal (fg_file_mkdirs (root, NULL), 0);
    assert_int_equal (fg_dataset_open_texture (root, FG_SPLIT_TRAIN, 0, &opt, &data, &err), FG_ENOENT);
    assert_non_null (strstr (err.msg, "no class folder"));
    snprintf (root, sizeof root, "%s/small", dir);
    assert_int_equal (fg_dataset_open_texture (root, FG_SPLIT_TEST, 0, &opt, &data, &err), FG_ENOENT);
    assert_non_null (strstr (err.msg, "test split holds no image"));
    fg_texture_options_t bad = s_options (6, 2, 64, 0.2, 1 << 30);     //  6 x 64 % 256 = 128
    assert_int_equal (fg_dataset_open_texture (root, FG_SPLIT_TRAIN, 0, &bad, &data, &err), FG_EINVAL);
    assert_non_null (strstr (err.msg, "data.texture_stride"));
    free (hwc);
    fg_test_rmtree (dir);
}

//  `fedctl train` end to end on the generated folder (quick run): it
//  trains, writes its files, and gives the same final weights with 1 and
//  2 BLIS threads.
static void
s_fedctl (const char *args, char *out, size_t size)
{
    const char *fedctl = getenv ("FEDCTL")? getenv ("FEDCTL"): "cli/fedctl";
    char command [9300];
    snprintf (command, sizeof command, "%s %s 2>&1", fedctl, args);
    FILE *pipe = popen (command, "r");
    assert_non_null (pipe);
    size_t used = 0;
    while (used + 1 < size && fgets (out + used, (int) (size - used), pipe))
        used += strlen (out + used);
    out [used] = '\0';
    int status = pclose (pipe);
    if (status != 0)
        fprintf (stderr, "# %s: %s\n", command, out);
    assert_int_equal (status, 0);
}

static void
test_fedctl_train (void **state)
{
    (void) state;
    char dir [4096], args [9000], out [8192], first [128] = "";
    assert_int_equal (fg_test_tmpdir ("texture-train", dir, sizeof dir), 0);
    for (int threads = 1; threads <= 2; threads++) {
        snprintf (args, sizeof args, "init %s/exp%d --preset synthetic-tiny --set data.dataset=texture "
                  "--set data.path=%s --set data.image_size=32 --set data.texture_stride=128 "
                  "--set data.texture_rotations=2 --set data.texture_test_share=0.25 "
                  "--set data.augment=true --set training.epochs=2 --set training.batch_size=16 "
                  "--set data.train_limit=96 --set data.test_limit=32 --set grid.threads=%d",
                  dir, threads, s_root, threads);
        s_fedctl (args, out, sizeof out);
        snprintf (args, sizeof args, "train %s/exp%d", dir, threads);
        s_fedctl (args, out, sizeof out);
        assert_non_null (strstr (out, "on texture train: 96 training, 32 test images"));
        assert_non_null (strstr (out, "epoch 2/2 "));
        const char *sha = strstr (out, "sha256 ");
        assert_non_null (sha);
        if (threads == 1)
            snprintf (first, sizeof first, "%.71s", sha);
        else
            assert_memory_equal (sha, first, 71);
        snprintf (args, sizeof args, "%s/exp%d/train/epochs.csv", dir, threads);
        char *csv;
        size_t size;
        assert_int_equal (fg_file_read (args, 1 << 20, &csv, &size, NULL), 0);
        int lines = 0;
        for (size_t i = 0; i < size; i++)
            lines += csv [i] == '\n';
        assert_int_equal (lines, 3);                //  header + 2 epochs
        free (csv);
    }
    fg_test_rmtree (dir);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_count_enumeration),
        cmocka_unit_test (test_study_table),
        cmocka_unit_test (test_check),
        cmocka_unit_test (test_config_keys),
        cmocka_unit_test (test_layout),
        cmocka_unit_test (test_split),
        cmocka_unit_test (test_rotate),
        cmocka_unit_test (test_contrast),
        cmocka_unit_test (test_area),
        cmocka_unit_test (test_scale_once),
        cmocka_unit_test (test_dataset_split),
        cmocka_unit_test (test_dataset_pixels),
        cmocka_unit_test (test_dataset_batches),
        cmocka_unit_test (test_dataset_errors),
        cmocka_unit_test (test_fedctl_train),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
