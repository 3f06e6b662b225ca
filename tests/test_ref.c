/*  test_ref.c — fedgrid's layer kernels (nn/fg_ops.h) and the cnn-small
    forward/backward against PyTorch 1.13 reference outputs.

    The fixtures tests/ref/<case>.ref are written by tests/ref/gen_refs.py
    (torch in float64 from float32 inputs; see that script for the file
    format) and committed, so this test needs no Python. They are found in
    $srcdir/tests/ref (automake exports srcdir to tests), else
    $top_srcdir/tests/ref, else ./tests/ref.

    Tolerance. For every compared tensor
        max_i |ours_i - ref_i| <= FG_REF_RTOL * max_i |ref_i|
    with FG_REF_RTOL = 1e-5 (i.e. 1e-5 of the tensor's scale; float32's
    unit roundoff is 6e-8, so this leaves room for sums of a few hundred
    terms in another order, and none for a wrong index, kink or layout).
    Scalars (loss, gradient sums) use the same relative bound against
    max(|ref|, 1) or the sum of absolute values. Flatten (a permutation)
    must match exactly. Each comparison prints its ratio
    max|diff| / max|ref| as a TAP comment.

    Kinks. act.ref holds -3, 0, 3, 6 exactly and their float neighbours,
    so torch's choice of derivative there is checked. torch 1.13 is not
    consistent with itself at hardswish x = +3: its vectorised CPU loop
    gives d = 1, its scalar tail (and the documented formula) 1.5; the
    fixture takes the scalar path's 1.5, which fg_ops implements.

    Not covered here (no torch counterpart): dropout masks (our Philox
    stream), fg_add/fg_acc (trivial); test_ops.c covers those.           */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fg_ops.h"
#include "fg_model.h"
#include "fg_train.h"

#define FG_REF_RTOL 1e-5

//  ---------------------------------------------------------------------------
//  Fixture loading

enum { REF_F32 = 0, REF_F64 = 1, REF_I32 = 2, REF_Q8 = 3 };

typedef struct {
    char     name [256];
    int      dtype;             //  as stored
    uint32_t rank;
    uint32_t dims [4];
    size_t   count;
    float   *f;                 //  F32 and Q8 (decoded exactly)
    double  *d;                 //  F64
    int32_t *i;                 //  I32
} s_rec_t;

typedef struct {
    char     path [4096];
    s_rec_t *recs;
    size_t   nrecs;
} s_fixture_t;

static const char *
s_ref_dir (char *buf, size_t size)
{
    const char *srcdir = getenv ("srcdir");
    const char *top = getenv ("top_srcdir");
    snprintf (buf, size, "%s/tests/ref", srcdir? srcdir: top? top: ".");
    return buf;
}

//  Bounded little-endian reader over the file's bytes.
typedef struct {
    const unsigned char *p;
    size_t left;
} s_reader_t;

static void
s_take (s_reader_t *r, void *out, size_t n)
{
    assert_true (n <= r->left);
    memcpy (out, r->p, n);
    r->p += n;
    r->left -= n;
}

static uint32_t
s_u32 (s_reader_t *r)
{
    unsigned char b [4];
    s_take (r, b, 4);
    return (uint32_t) b [0] | (uint32_t) b [1] << 8 | (uint32_t) b [2] << 16
         | (uint32_t) b [3] << 24;
}

static uint8_t
s_u8 (s_reader_t *r)
{
    uint8_t b;
    s_take (r, &b, 1);
    return b;
}

static void
s_fixture_load (s_fixture_t *fx, const char *name)
{
    char dir [4000];
    memset (fx, 0, sizeof *fx);
    snprintf (fx->path, sizeof fx->path, "%s/%s.ref", s_ref_dir (dir, sizeof dir), name);
    FILE *file = fopen (fx->path, "rb");
    if (!file) {
        print_error ("cannot open %s (set srcdir to the source tree)\n", fx->path);
        fail ();
    }
    unsigned char *bytes = malloc (1 << 20);
    assert_non_null (bytes);
    size_t size = fread (bytes, 1, 1 << 20, file);
    fclose (file);
    assert_true (size > 12 && size < (1 << 20));
    s_reader_t r = { bytes, size };
    char magic [8];
    s_take (&r, magic, 8);
    assert_memory_equal (magic, "FGREF001", 8);
    fx->nrecs = s_u32 (&r);
    assert_true (fx->nrecs >= 1 && fx->nrecs <= 256);
    fx->recs = calloc (fx->nrecs, sizeof *fx->recs);
    assert_non_null (fx->recs);
    for (size_t k = 0; k < fx->nrecs; k++) {
        s_rec_t *rec = &fx->recs [k];
        uint8_t len = s_u8 (&r);
        s_take (&r, rec->name, len);
        rec->name [len] = 0;
        rec->dtype = s_u8 (&r);
        rec->rank = s_u8 (&r);
        assert_true (rec->rank <= 4);
        rec->count = 1;
        for (uint32_t j = 0; j < rec->rank; j++) {
            rec->dims [j] = s_u32 (&r);
            assert_true (rec->dims [j] >= 1 && rec->dims [j] <= (1u << 20));
            rec->count *= rec->dims [j];
            assert_true (rec->count <= (1u << 20));
        }
        size_t n = rec->count;
        if (rec->dtype == REF_F32) {
            rec->f = malloc (n * sizeof (float));
            assert_non_null (rec->f);
            s_take (&r, rec->f, n * sizeof (float));         //  x86-64: little-endian
        }
        else
        if (rec->dtype == REF_F64) {
            rec->d = malloc (n * sizeof (double));
            assert_non_null (rec->d);
            s_take (&r, rec->d, n * sizeof (double));
        }
        else
        if (rec->dtype == REF_I32) {
            rec->i = malloc (n * sizeof (int32_t));
            assert_non_null (rec->i);
            s_take (&r, rec->i, n * sizeof (int32_t));
        }
        else
        if (rec->dtype == REF_Q8) {
            int32_t e = (int32_t) s_u32 (&r);
            assert_true (e >= -60 && e <= 60);
            rec->f = malloc (n * sizeof (float));
            assert_non_null (rec->f);
            for (size_t j = 0; j < n; j++) {
                int8_t q;
                s_take (&r, &q, 1);
                rec->f [j] = ldexpf ((float) q, e);         //  exact
            }
        }
        else
            fail_msg ("%s: record %s: unknown dtype %d", fx->path, rec->name, rec->dtype);
    }
    assert_int_equal (r.left, 0);
    free (bytes);
}

static void
s_fixture_free (s_fixture_t *fx)
{
    for (size_t k = 0; k < fx->nrecs; k++) {
        free (fx->recs [k].f);
        free (fx->recs [k].d);
        free (fx->recs [k].i);
    }
    free (fx->recs);
    memset (fx, 0, sizeof *fx);
}

static s_rec_t *
s_find (s_fixture_t *fx, const char *name, int dtype, size_t count)
{
    for (size_t k = 0; k < fx->nrecs; k++) {
        s_rec_t *rec = &fx->recs [k];
        if (strcmp (rec->name, name) == 0) {
            int kind = rec->dtype == REF_Q8? REF_F32: rec->dtype;
            if (kind != dtype || (count && rec->count != count))
                fail_msg ("%s: record %s: dtype %d count %zu, expected dtype %d count %zu",
                          fx->path, name, rec->dtype, rec->count, dtype, count);
            return rec;
        }
    }
    fail_msg ("%s: no record %s", fx->path, name);
    return NULL;
}

//  float32 record `name` with `count` elements (0: any).
static float *
s_f32 (s_fixture_t *fx, const char *name, size_t count)
{
    return s_find (fx, name, REF_F32, count)->f;
}

static const int32_t *
s_i32 (s_fixture_t *fx, const char *name, size_t count)
{
    return s_find (fx, name, REF_I32, count)->i;
}

static double
s_f64_scalar (s_fixture_t *fx, const char *name)
{
    return s_find (fx, name, REF_F64, 1)->d [0];
}

static bool
s_has (const s_fixture_t *fx, const char *name)
{
    for (size_t k = 0; k < fx->nrecs; k++)
        if (strcmp (fx->recs [k].name, name) == 0)
            return true;
    return false;
}

//  Zeroed floats, with a 64-float tail pad: BLIS 0.9.0's `generic` kernels
//  read (never write) just past the end of C when beta != 0 for some shapes
//  (e.g. a row-major 4x27 C; valgrind: "0 bytes after a block"), and the
//  weight-gradient GEMMs accumulate with beta = 1.
static float *
s_zeros (size_t n)
{
    float *p = calloc (n + 64, sizeof (float));
    assert_non_null (p);
    return p;
}

static float *
s_dup (const float *src, size_t n)
{
    float *p = s_zeros (n);
    memcpy (p, src, n * sizeof (float));
    return p;
}

//  ---------------------------------------------------------------------------
//  Comparison: max |got - ref| <= rtol * max |ref| (exact when rtol == 0).

static double s_worst;              //  largest ratio seen, for the summary

//  max |got - ref| / max |ref| (0 when both are all zero, infinity for a
//  NaN or a nonzero difference against an all-zero reference); *at gets
//  the index of the largest difference.
static double
s_ratio (const float *got, const float *ref, size_t n, size_t *at, double *diff_out,
         double *scale_out)
{
    double diff = 0, scale = 0;
    *at = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs ((double) got [i] - (double) ref [i]);
        if (!(d <= diff)) {             //  also catches NaN
            diff = isnan (d)? INFINITY: d;
            *at = i;
        }
        if (fabs ((double) ref [i]) > scale)
            scale = fabs ((double) ref [i]);
    }
    *diff_out = diff;
    *scale_out = scale;
    return scale > 0? diff / scale: diff > 0? INFINITY: 0;
}

static void
s_compare_rtol (const s_fixture_t *fx, const char *what, const float *got, const float *ref,
                size_t n, double rtol)
{
    size_t at;
    double diff, scale;
    double ratio = s_ratio (got, ref, n, &at, &diff, &scale);
    if (ratio > s_worst)
        s_worst = ratio;
    const char *base = strrchr (fx->path, '/');
    print_message ("# %s %s: max|diff| %.3g at %zu, max|ref| %.3g, ratio %.3g (limit %.0e)\n",
                   base? base + 1: fx->path, what, diff, at, scale, ratio, rtol);
    if (!(ratio <= rtol))
        fail_msg ("%s: %s: element %zu is %.9g, torch says %.9g (max|ref| %.6g, limit %g)",
                  fx->path, what, at, (double) got [at], (double) ref [at], scale, rtol * scale);
}

static void
s_compare (const s_fixture_t *fx, const char *what, const float *got, const float *ref, size_t n)
{
    s_compare_rtol (fx, what, got, ref, n, FG_REF_RTOL);
}

static void
s_compare_scalar (const char *what, double got, double ref, double scale)
{
    double diff = fabs (got - ref);
    if (scale < 1)
        scale = 1;
    print_message ("# %s: ours %.10g, torch %.10g, |diff|/scale %.3g (limit %.0e)\n",
                   what, got, ref, diff / scale, FG_REF_RTOL);
    if (diff / scale > s_worst)
        s_worst = diff / scale;
    if (!(diff <= FG_REF_RTOL * scale))
        fail_msg ("%s: ours %.10g, torch %.10g", what, got, ref);
}

//  ---------------------------------------------------------------------------
//  Convolution: forward y, backward dx, dw, db

static void
s_conv_case (const char *name)
{
    s_fixture_t fx;
    s_fixture_load (&fx, name);
    const int32_t *v = s_i32 (&fx, "shape", 12);
    fg_conv_shape_t s = { v [0], v [1], v [2], v [3], v [4], v [5], v [6],
                          v [7], v [8], v [9], v [10], v [11] };
    int oh, ow;
    fg_error_t err;
    assert_int_equal (fg_conv_check (&s, &oh, &ow, &err), 0);
    size_t nx = (size_t) s.n * s.h * s.w * s.c;
    size_t ny = (size_t) s.n * oh * ow * s.k;
    size_t nw = fg_conv_weight_count (&s);
    bool bias = s_has (&fx, "b");
    const float *x = s_f32 (&fx, "x", nx);
    const float *w = s_f32 (&fx, "w", nw);
    const float *b = bias? s_f32 (&fx, "b", (size_t) s.k): NULL;
    const float *dy = s_f32 (&fx, "dy", ny);

    fg_ops_ctx_t *ctx = fg_ops_ctx_new (1);
    assert_non_null (ctx);
    float *y = s_zeros (ny), *dx = s_zeros (nx), *dw = s_zeros (nw);
    float *db = bias? s_zeros ((size_t) s.k): NULL;
    assert_int_equal (fg_conv_forward (ctx, &s, x, w, b, y, &err), 0);
    s_compare (&fx, "y", y, s_f32 (&fx, "y", ny), ny);
    assert_int_equal (fg_conv_backward (ctx, &s, x, w, dy, dx, dw, db, &err), 0);
    s_compare (&fx, "dx", dx, s_f32 (&fx, "dx", nx), nx);
    s_compare (&fx, "dw", dw, s_f32 (&fx, "dw", nw), nw);
    if (bias)
        s_compare (&fx, "db", db, s_f32 (&fx, "db", (size_t) s.k), (size_t) s.k);
    free (y);
    free (dx);
    free (dw);
    free (db);
    fg_ops_ctx_destroy (&ctx);
    s_fixture_free (&fx);
}

static void
test_conv (void **state)
{
    (void) state;
    s_conv_case ("conv_3x3");           //  3x3 stride 1 pad 1, bias
    s_conv_case ("conv_stride_pad");    //  3x2 kernel, stride (2,1), pad (1,0)
    s_conv_case ("conv_groups");        //  groups 2, stride 2
    s_conv_case ("conv_depthwise");     //  5x5 depthwise, stride 2, pad 2, no bias
    s_conv_case ("conv_dw3_s1");        //  3x3 depthwise, stride 1
    s_conv_case ("conv_1x1");           //  1x1 stride 1: the GEMM-on-x path
    s_conv_case ("conv_1x1_s2");        //  1x1 stride 2: im2col path
}

//  ---------------------------------------------------------------------------
//  Batch norm, training and eval

static void
s_bn_case (const char *name, bool training)
{
    s_fixture_t fx;
    s_fixture_load (&fx, name);
    const int32_t *v = s_i32 (&fx, "shape", 2);
    size_t m = (size_t) v [0];
    int c = v [1];
    const float *params = s_f32 (&fx, "params", 2);
    size_t n = m * (size_t) c;
    const float *x = s_f32 (&fx, "x", n);
    const float *gamma = s_f32 (&fx, "gamma", (size_t) c);
    const float *beta = s_f32 (&fx, "beta", (size_t) c);
    float *rm = s_dup (s_f32 (&fx, "running_mean_in", (size_t) c), (size_t) c);
    float *rv = s_dup (s_f32 (&fx, "running_var_in", (size_t) c), (size_t) c);
    float *mean = s_zeros ((size_t) c), *invstd = s_zeros ((size_t) c);
    float *y = s_zeros (n), *dx = s_zeros (n);
    float *dgamma = s_zeros ((size_t) c), *dbeta = s_zeros ((size_t) c);
    fg_error_t err;
    assert_int_equal (fg_bn_forward (m, c, x, gamma, beta, rm, rv, params [0], params [1],
                                     training, mean, invstd, y, &err), 0);
    s_compare (&fx, "y", y, s_f32 (&fx, "y", n), n);
    s_compare (&fx, "running_mean", rm, s_f32 (&fx, "running_mean", (size_t) c), (size_t) c);
    s_compare (&fx, "running_var", rv, s_f32 (&fx, "running_var", (size_t) c), (size_t) c);
    s_compare (&fx, "save_mean", mean, s_f32 (&fx, "save_mean", (size_t) c), (size_t) c);
    s_compare (&fx, "save_invstd", invstd, s_f32 (&fx, "save_invstd", (size_t) c), (size_t) c);
    assert_int_equal (fg_bn_backward (m, c, x, gamma, mean, invstd, training,
                                      s_f32 (&fx, "dy", n), dx, dgamma, dbeta, &err), 0);
    s_compare (&fx, "dx", dx, s_f32 (&fx, "dx", n), n);
    s_compare (&fx, "dgamma", dgamma, s_f32 (&fx, "dgamma", (size_t) c), (size_t) c);
    s_compare (&fx, "dbeta", dbeta, s_f32 (&fx, "dbeta", (size_t) c), (size_t) c);
    free (rm);
    free (rv);
    free (mean);
    free (invstd);
    free (y);
    free (dx);
    free (dgamma);
    free (dbeta);
    s_fixture_free (&fx);
}

static void
test_bn (void **state)
{
    (void) state;
    s_bn_case ("bn_train", true);
    s_bn_case ("bn_eval", false);
}

//  ---------------------------------------------------------------------------
//  Activations (inputs include -3, 0, 3, 6 exactly and their neighbours)

static void
test_act (void **state)
{
    (void) state;
    s_fixture_t fx;
    s_fixture_load (&fx, "act");
    s_rec_t *xr = s_find (&fx, "x", REF_F32, 0);
    size_t n = xr->count;
    const float *dy = s_f32 (&fx, "dy", n);
    static const struct { fg_act_t act; const char *name; } acts [] = {
        { FG_ACT_RELU, "relu" }, { FG_ACT_RELU6, "relu6" },
        { FG_ACT_HARDSIGMOID, "hardsigmoid" }, { FG_ACT_HARDSWISH, "hardswish" } };
    float *y = s_zeros (n), *dx = s_zeros (n);
    char key [64];
    fg_error_t err;
    for (size_t a = 0; a < sizeof acts / sizeof acts [0]; a++) {
        assert_int_equal (fg_act_forward (acts [a].act, n, xr->f, y, &err), 0);
        snprintf (key, sizeof key, "%s.y", acts [a].name);
        s_compare (&fx, key, y, s_f32 (&fx, key, n), n);
        assert_int_equal (fg_act_backward (acts [a].act, n, xr->f, dy, dx, &err), 0);
        snprintf (key, sizeof key, "%s.dx", acts [a].name);
        s_compare (&fx, key, dx, s_f32 (&fx, key, n), n);
    }
    free (y);
    free (dx);
    s_fixture_free (&fx);
}

//  ---------------------------------------------------------------------------
//  Pooling

static void
s_pool_case (const char *name, bool max)
{
    s_fixture_t fx;
    s_fixture_load (&fx, name);
    const int32_t *v = s_i32 (&fx, "shape", 10);
    fg_pool_shape_t s = { v [0], v [1], v [2], v [3], v [4], v [5], v [6], v [7], v [8], v [9] };
    int oh, ow;
    fg_error_t err;
    assert_int_equal (fg_pool_check (&s, &oh, &ow, &err), 0);
    size_t nx = (size_t) s.n * s.h * s.w * s.c;
    size_t ny = (size_t) s.n * oh * ow * s.c;
    const float *x = s_f32 (&fx, "x", nx);
    const float *dy = s_f32 (&fx, "dy", ny);
    float *y = s_zeros (ny), *dx = s_zeros (nx);
    if (max) {
        assert_int_equal (fg_maxpool_forward (&s, x, y, &err), 0);
        assert_int_equal (fg_maxpool_backward (&s, x, dy, dx, &err), 0);
    }
    else {
        assert_int_equal (fg_avgpool_forward (&s, x, y, &err), 0);
        assert_int_equal (fg_avgpool_backward (&s, dy, dx, &err), 0);
    }
    s_compare (&fx, "y", y, s_f32 (&fx, "y", ny), ny);
    s_compare (&fx, "dx", dx, s_f32 (&fx, "dx", nx), nx);
    free (y);
    free (dx);
    s_fixture_free (&fx);
}

static void
test_pool (void **state)
{
    (void) state;
    s_pool_case ("maxpool_2x2", true);
    s_pool_case ("maxpool_3x3_pad", true);
    s_pool_case ("maxpool_ties", true);     //  gradient to the first maximum
    s_pool_case ("avgpool_2x2", false);
    s_pool_case ("avgpool_3x3_pad", false); //  count_include_pad
}

static void
test_gap (void **state)
{
    (void) state;
    s_fixture_t fx;
    s_fixture_load (&fx, "gap");
    const int32_t *v = s_i32 (&fx, "shape", 4);
    size_t n = (size_t) v [0], hw = (size_t) v [1] * (size_t) v [2], c = (size_t) v [3];
    float *y = s_zeros (n * c), *dx = s_zeros (n * hw * c);
    fg_gap_forward (n, hw, c, s_f32 (&fx, "x", n * hw * c), y);
    s_compare (&fx, "y", y, s_f32 (&fx, "y", n * c), n * c);
    fg_gap_backward (n, hw, c, s_f32 (&fx, "dy", n * c), dx);
    s_compare (&fx, "dx", dx, s_f32 (&fx, "dx", n * hw * c), n * hw * c);
    free (y);
    free (dx);
    s_fixture_free (&fx);
}

//  ---------------------------------------------------------------------------
//  Linear, flatten, scale, squeeze-and-excitation, cross-entropy

static void
test_linear (void **state)
{
    (void) state;
    s_fixture_t fx;
    s_fixture_load (&fx, "linear");
    const int32_t *v = s_i32 (&fx, "shape", 3);
    int n = v [0], in = v [1], out = v [2];
    size_t nx = (size_t) n * in, ny = (size_t) n * out, nw = (size_t) out * in;
    const float *x = s_f32 (&fx, "x", nx), *w = s_f32 (&fx, "w", nw);
    fg_ops_ctx_t *ctx = fg_ops_ctx_new (1);
    assert_non_null (ctx);
    float *y = s_zeros (ny), *dx = s_zeros (nx), *dw = s_zeros (nw), *db = s_zeros ((size_t) out);
    fg_error_t err;
    assert_int_equal (fg_linear_forward (ctx, n, in, out, x, w, s_f32 (&fx, "b", (size_t) out),
                                         y, &err), 0);
    s_compare (&fx, "y", y, s_f32 (&fx, "y", ny), ny);
    assert_int_equal (fg_linear_backward (ctx, n, in, out, x, w, s_f32 (&fx, "dy", ny),
                                          dx, dw, db, &err), 0);
    s_compare (&fx, "dx", dx, s_f32 (&fx, "dx", nx), nx);
    s_compare (&fx, "dw", dw, s_f32 (&fx, "dw", nw), nw);
    s_compare (&fx, "db", db, s_f32 (&fx, "db", (size_t) out), (size_t) out);
    free (y);
    free (dx);
    free (dw);
    free (db);
    fg_ops_ctx_destroy (&ctx);
    s_fixture_free (&fx);
}

static void
test_flatten (void **state)
{
    (void) state;
    s_fixture_t fx;
    s_fixture_load (&fx, "flatten");
    const int32_t *v = s_i32 (&fx, "shape", 4);
    size_t n = (size_t) v [0], h = (size_t) v [1], w = (size_t) v [2], c = (size_t) v [3];
    size_t count = n * h * w * c;
    const float *x = s_f32 (&fx, "x", count);
    const float *ref = s_f32 (&fx, "y", count);
    float *y = s_zeros (count), *back = s_zeros (count);
    fg_flatten_forward (n, h, w, c, x, y);
    s_compare_rtol (&fx, "y", y, ref, count, 0);            //  a permutation: exact
    fg_flatten_backward (n, h, w, c, ref, back);            //  its inverse
    s_compare_rtol (&fx, "inverse", back, x, count, 0);
    free (y);
    free (back);
    s_fixture_free (&fx);
}

static void
test_se (void **state)
{
    (void) state;
    s_fixture_t fx;
    s_fixture_load (&fx, "se");
    const int32_t *v = s_i32 (&fx, "shape", 4);
    int n = v [0], hw = v [1], c = v [2], cs = v [3];
    size_t nx = (size_t) n * hw * c, nw = (size_t) c * cs;
    const float *x = s_f32 (&fx, "x", nx);
    const float *w1 = s_f32 (&fx, "w1", nw), *w2 = s_f32 (&fx, "w2", nw);
    const float *dy = s_f32 (&fx, "dy", nx);
    fg_ops_ctx_t *ctx = fg_ops_ctx_new (1);
    assert_non_null (ctx);
    float *save = s_zeros (fg_se_save_floats (n, c, cs));
    float *y = s_zeros (nx), *dx = s_zeros (nx);
    float *dw1 = s_zeros (nw), *dw2 = s_zeros (nw);
    float *db1 = s_zeros ((size_t) cs), *db2 = s_zeros ((size_t) c);
    fg_error_t err;
    assert_int_equal (fg_se_forward (ctx, n, hw, c, cs, x, w1, s_f32 (&fx, "b1", (size_t) cs),
                                     w2, s_f32 (&fx, "b2", (size_t) c), save, y, &err), 0);
    s_compare (&fx, "y", y, s_f32 (&fx, "y", nx), nx);
    assert_int_equal (fg_se_backward (ctx, n, hw, c, cs, x, w1, w2, save, dy,
                                      dx, dw1, db1, dw2, db2, &err), 0);
    s_compare (&fx, "dx", dx, s_f32 (&fx, "dx", nx), nx);
    s_compare (&fx, "dw1", dw1, s_f32 (&fx, "dw1", nw), nw);
    s_compare (&fx, "db1", db1, s_f32 (&fx, "db1", (size_t) cs), (size_t) cs);
    s_compare (&fx, "dw2", dw2, s_f32 (&fx, "dw2", nw), nw);
    s_compare (&fx, "db2", db2, s_f32 (&fx, "db2", (size_t) c), (size_t) c);

    //  fg_scale alone, with torch's s
    size_t ns = (size_t) n * c;
    const float *s = s_f32 (&fx, "scale.s", ns);
    float *ds = s_zeros (ns);
    fg_scale_forward ((size_t) n, (size_t) hw, (size_t) c, x, s, y);
    s_compare (&fx, "scale.y", y, s_f32 (&fx, "scale.y", nx), nx);
    fg_scale_backward ((size_t) n, (size_t) hw, (size_t) c, x, s, dy, dx, ds);
    s_compare (&fx, "scale.dx", dx, s_f32 (&fx, "scale.dx", nx), nx);
    s_compare (&fx, "scale.ds", ds, s_f32 (&fx, "scale.ds", ns), ns);
    free (ds);
    free (save);
    free (y);
    free (dx);
    free (dw1);
    free (dw2);
    free (db1);
    free (db2);
    fg_ops_ctx_destroy (&ctx);
    s_fixture_free (&fx);
}

static void
test_xent (void **state)
{
    (void) state;
    s_fixture_t fx;
    s_fixture_load (&fx, "xent");
    const int32_t *v = s_i32 (&fx, "shape", 2);
    int n = v [0], k = v [1];
    size_t count = (size_t) n * k;
    float *dlogits = s_zeros (count);
    double loss = 0;
    int correct = -1;
    fg_error_t err;
    assert_int_equal (fg_softmax_xent (n, k, s_f32 (&fx, "logits", count),
                                       s_i32 (&fx, "labels", (size_t) n),
                                       &loss, dlogits, &correct, &err), 0);
    s_compare_scalar ("xent loss", loss, s_f64_scalar (&fx, "loss"), fabs (s_f64_scalar (&fx, "loss")));
    s_compare (&fx, "dlogits", dlogits, s_f32 (&fx, "dlogits", count), count);
    assert_int_equal (correct, s_i32 (&fx, "correct", 1) [0]);
    free (dlogits);
    s_fixture_free (&fx);
}

//  ---------------------------------------------------------------------------
//  cnn-small at 16x16x1, 10 classes, weights from the fixture: eval
//  logits, train-mode loss and weight gradients (sum, sum of |.| and every
//  97th element per tensor), and fg_train_evaluate's loss.

static const char *s_cnn_small_names [] = {
    "features.0.weight", "features.0.bias", "features.3.weight", "features.3.bias",
    "classifier.0.weight", "classifier.0.bias", "classifier.2.weight", "classifier.2.bias" };

static void
test_cnn_small (void **state)
{
    (void) state;
    s_fixture_t fx;
    s_fixture_load (&fx, "cnn_small");
    const int32_t *v = s_i32 (&fx, "shape", 5);
    uint32_t n = (uint32_t) v [0], classes = (uint32_t) v [4];
    fg_model_spec_t spec = { FG_MODEL_CNN_SMALL, classes, (uint32_t) v [1], (uint32_t) v [2],
                             (uint32_t) v [3] };
    fg_error_t err;
    fg_model_t *model = fg_model_new (&spec, &err);
    assert_non_null (model);
    fg_state_t *st = fg_model_state (model);
    size_t nnames = sizeof s_cnn_small_names / sizeof s_cnn_small_names [0];
    assert_int_equal (st->nviews, nnames);
    for (size_t t = 0; t < nnames; t++) {
        const fg_tensor_view_t *view = fg_state_find (st, s_cnn_small_names [t]);
        assert_non_null (view);
        const float *w = s_f32 (&fx, s_cnn_small_names [t], (size_t) view->count);
        memcpy (st->data + view->offset, w, view->count * sizeof (float));
    }
    size_t nx = (size_t) n * v [1] * v [2] * v [3];
    const float *x = s_f32 (&fx, "x", nx);
    const int32_t *labels = s_i32 (&fx, "labels", n);
    fg_model_ws_t *ws = fg_model_ws_new (model, n, 1, &err);
    assert_non_null (ws);
    const float *logits = NULL;
    assert_int_equal (fg_model_forward (model, ws, x, n, false, NULL, &logits, &err), 0);
    s_compare (&fx, "eval logits", logits, s_f32 (&fx, "logits", (size_t) n * classes),
               (size_t) n * classes);

    //  training forward (no BN, no dropout: same logits), loss, backward
    assert_int_equal (fg_model_forward (model, ws, x, n, true, NULL, &logits, &err), 0);
    s_compare (&fx, "train logits", logits, s_f32 (&fx, "logits", (size_t) n * classes),
               (size_t) n * classes);
    float *dlogits = s_zeros ((size_t) n * classes);
    double loss;
    assert_int_equal (fg_softmax_xent ((int) n, (int) classes, logits, labels, &loss, dlogits,
                                       NULL, &err), 0);
    double ref_loss = s_f64_scalar (&fx, "loss");
    s_compare_scalar ("cnn-small loss", loss, ref_loss, ref_loss);
    fg_model_zero_grads (model);
    assert_int_equal (fg_model_backward (model, ws, dlogits, &err), 0);
    fg_state_t *grads = fg_model_grads (model);
    char key [160];
    for (size_t t = 0; t < nnames; t++) {
        const fg_tensor_view_t *view = fg_state_find (grads, s_cnn_small_names [t]);
        assert_non_null (view);
        const float *g = grads->data + view->offset;
        double sum = 0, abssum = 0;
        for (size_t i = 0; i < view->count; i++) {
            sum += g [i];
            abssum += fabs (g [i]);
        }
        snprintf (key, sizeof key, "grad.%s.abssum", s_cnn_small_names [t]);
        double ref_abssum = s_f64_scalar (&fx, key);
        s_compare_scalar (key, abssum, ref_abssum, ref_abssum);
        snprintf (key, sizeof key, "grad.%s.sum", s_cnn_small_names [t]);
        s_compare_scalar (key, sum, s_f64_scalar (&fx, key), ref_abssum);
        snprintf (key, sizeof key, "grad.%s.every97", s_cnn_small_names [t]);
        size_t picks = (view->count + 96) / 97;
        float *sample = s_zeros (picks);
        for (size_t i = 0; i < picks; i++)
            sample [i] = g [i * 97];
        s_compare (&fx, key, sample, s_f32 (&fx, key, picks), picks);
        free (sample);
    }
    fg_model_ws_destroy (&ws);

    //  the evaluation loop of fg_train on the same images
    fg_train_t *trainer = fg_train_new (model, NULL, n, 1, &err);
    assert_non_null (trainer);
    uint16_t *labels16 = calloc (n, sizeof *labels16);
    assert_non_null (labels16);
    for (uint32_t i = 0; i < n; i++)
        labels16 [i] = (uint16_t) labels [i];
    fg_train_result_t result;
    assert_int_equal (fg_train_evaluate (trainer, x, labels16, n, 0, &result, &err), 0);
    assert_int_equal (result.count, n);
    s_compare_scalar ("fg_train_evaluate loss", result.loss, ref_loss, ref_loss);
    free (labels16);
    fg_train_destroy (&trainer);
    free (dlogits);
    fg_model_destroy (&model);
    s_fixture_free (&fx);
}

//  The comparison itself: a result off by 3x the tolerance, a NaN, or any
//  change against an all-zero reference is rejected; 0.1x passes.
static void
test_tolerance_bites (void **state)
{
    (void) state;
    s_fixture_t fx;
    s_fixture_load (&fx, "linear");
    s_rec_t *y = s_find (&fx, "y", REF_F32, 0);
    float *copy = s_dup (y->f, y->count);
    size_t at;
    double diff, scale;
    assert_true (s_ratio (copy, y->f, y->count, &at, &diff, &scale) == 0);
    copy [3] = y->f [3] + (float) (0.1 * FG_REF_RTOL * scale);
    assert_true (s_ratio (copy, y->f, y->count, &at, &diff, &scale) <= FG_REF_RTOL);
    copy [3] = y->f [3] + (float) (3 * FG_REF_RTOL * scale);
    assert_true (s_ratio (copy, y->f, y->count, &at, &diff, &scale) > FG_REF_RTOL);
    assert_int_equal (at, 3);
    copy [3] = NAN;
    assert_true (s_ratio (copy, y->f, y->count, &at, &diff, &scale) > FG_REF_RTOL);
    float zero [2] = { 0, 0 }, tiny [2] = { 0, 1e-30f };
    assert_true (s_ratio (tiny, zero, 2, &at, &diff, &scale) > FG_REF_RTOL);
    free (copy);
    s_fixture_free (&fx);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_conv),
        cmocka_unit_test (test_bn),
        cmocka_unit_test (test_act),
        cmocka_unit_test (test_pool),
        cmocka_unit_test (test_gap),
        cmocka_unit_test (test_linear),
        cmocka_unit_test (test_flatten),
        cmocka_unit_test (test_se),
        cmocka_unit_test (test_xent),
        cmocka_unit_test (test_cnn_small),
        cmocka_unit_test (test_tolerance_bites),
    };
    int failed = cmocka_run_group_tests (tests, NULL, NULL);
    print_message ("# worst max|diff|/max|ref| over all comparisons: %.3g (limit %.0e)\n",
                   s_worst, FG_REF_RTOL);
    return failed;
}
