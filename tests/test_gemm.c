/*  test_gemm.c — fg_gemm: every kernel variant this CPU can run gives the
    bits of the defined arithmetic (nn/fg_gemm.h), checked element by
    element against a direct scalar implementation of the formula, and the
    same bits as the portable variant (memcmp), for shapes from 1 to beyond
    MC/NC/KC and not multiples of any register tile, transposed operands (as
    conv backward uses them), beta 0 / 1 / 0.5, alpha 1 / 1.5, strided and
    column-major C, 1, 2 and 3 threads; NaN in C with beta 0 never
    propagates and elements outside the C view are never written; results
    are within the classic error bound of a double-precision product;
    FEDGRID_GEMM selects the variant; every rejection path. End to end:
    training vgg16-bn, mobilenetv3-small and cnn-small for a few steps
    gives the same weights SHA-256 with FEDGRID_GEMM=portable, avx2 and
    avx512 (each the CPU has), 1 and 2 threads.                           */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fg_gemm.h"
#include "fg_model.h"
#include "fg_rng.h"
#include "fg_state.h"
#include "fg_train.h"

static fg_rng_t s_rng;

static float *
s_alloc (size_t n)
{
    float *p = malloc ((n + 16) * sizeof (float) + 64);     //  + BLIS tail pad
    assert_non_null (p);
    return p;
}

static void
s_fill (float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x [i] = 2.0f * fg_rng_uniform (&s_rng) - 1.0f;
}

//  The arithmetic of fg_gemm.h, written out with fmaf, with a given k block
static void
s_formula (size_t kc, size_t m, size_t n, size_t k, float alpha,
           const float *a, size_t rsa, size_t csa,
           const float *b, size_t rsb, size_t csb, float beta,
           float *c, size_t rsc, size_t csc)
{
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            float *cij = c + i * rsc + j * csc;
            for (size_t p0 = 0, q = 0; p0 < k; p0 += kc, q++) {
                size_t p1 = p0 + kc < k? p0 + kc: k;
                float ab = 0.0f;
                for (size_t p = p0; p < p1; p++)
                    ab = fmaf (a [i * rsa + p * csa], b [p * rsb + j * csb], ab);
                float t = alpha * ab;
                if (q == 0 && beta == 0.0f)
                    *cij = t;
                else
                    *cij = fmaf (q == 0? beta: 1.0f, *cij, t);
            }
        }
}

typedef struct {
    size_t m, n, k;
} s_shape_t;

//  MR/NR: 4x16, 6x16, 24x16; MC 128/144/192; NC 4080/4096; KC 256
static const s_shape_t s_shapes [] = {
    { 1, 1, 1 }, { 1, 17, 1 }, { 5, 1, 7 }, { 3, 5, 2 }, { 7, 33, 19 },
    { 25, 17, 255 }, { 24, 16, 256 }, { 23, 15, 257 }, { 49, 31, 300 },
    { 200, 40, 70 },            //  m > MC of every variant
    { 130, 90, 600 },           //  3 k blocks, the last short
    { 2, 4111, 9 },             //  n > NC
    { 3, 4100, 260 },           //  n > NC and k > KC
};

//  Layouts of A, B and C: row-major, column-stored (a transposed operand,
//  as conv backward passes dY^T and W^T), C with padded rows or columns
enum { S_ROW, S_COL, S_ROW_PAD, S_COL_PAD, S_LAYOUTS };

static void
s_strides (int layout, size_t rows, size_t cols, size_t *rs, size_t *cs, size_t *size)
{
    switch (layout) {
        case S_ROW:     *rs = cols; *cs = 1; break;
        case S_COL:     *rs = 1; *cs = rows; break;
        case S_ROW_PAD: *rs = cols + 3; *cs = 1; break;
        default:        *rs = 1; *cs = rows + 5; break;
    }
    *size = (rows - 1) * *rs + (cols - 1) * *cs + 1 + 8;    //  + sentinels
}

//  One case: every variant and thread count against the formula and the
//  portable variant; the untouched sentinels around C are checked too.
static void
s_check_case (s_shape_t s, int la, int lb, int lc, float alpha, float beta, bool nan_c)
{
    size_t rsa, csa, na, rsb, csb, nb, rsc, csc, nc;
    s_strides (la, s.m, s.k, &rsa, &csa, &na);
    s_strides (lb, s.k, s.n, &rsb, &csb, &nb);
    s_strides (lc, s.m, s.n, &rsc, &csc, &nc);
    float *a = s_alloc (na), *b = s_alloc (nb);
    float *c0 = s_alloc (nc), *want = s_alloc (nc), *port = s_alloc (nc), *got = s_alloc (nc);
    s_fill (a, na);
    s_fill (b, nb);
    s_fill (c0, nc);
    if (nan_c)
        for (size_t i = 0; i < nc; i++)
            c0 [i] = NAN;
    memcpy (want, c0, nc * sizeof (float));
    s_formula (FG_GEMM_KC, s.m, s.n, s.k, alpha, a, rsa, csa, b, rsb, csb, beta, want, rsc, csc);
    bool have_port = false;
    for (int v = FG_GEMM_PORTABLE; v < FG_GEMM_VARIANTS; v++) {
        if (!fg_gemm_supported ((fg_gemm_variant_t) v))
            continue;
        for (int threads = 1; threads <= 2; threads++) {
            memcpy (got, c0, nc * sizeof (float));
            int rc = fg_gemm ((fg_gemm_variant_t) v, threads, "test", s.m, s.n, s.k, alpha,
                              a, rsa, csa, b, rsb, csb, beta, got, rsc, csc, NULL);
            assert_int_equal (rc, 0);
            if (memcmp (got, want, nc * sizeof (float)) != 0) {
                for (size_t i = 0; i < nc; i++)
                    if (memcmp (got + i, want + i, sizeof (float)) != 0) {
                        fprintf (stderr, "variant %s threads %d shape %zux%zux%zu layouts %d%d%d "
                                 "alpha %g beta %g: element %zu is %a, formula %a\n",
                                 fg_gemm_variant_name ((fg_gemm_variant_t) v), threads,
                                 s.m, s.n, s.k, la, lb, lc, alpha, beta, i, got [i], want [i]);
                        break;
                    }
                fail ();
            }
            if (v == FG_GEMM_PORTABLE) {
                memcpy (port, got, nc * sizeof (float));
                have_port = true;
            }
            else
                assert_memory_equal (got, port, nc * sizeof (float));
        }
    }
    assert_true (have_port);
    if (nan_c && beta == 0.0f)
        for (size_t i = 0; i < s.m; i++)
            for (size_t j = 0; j < s.n; j++)
                assert_false (isnan (got [i * rsc + j * csc]));
    free (a);
    free (b);
    free (c0);
    free (want);
    free (port);
    free (got);
}

static void
test_variants_match_formula (void **state)
{
    (void) state;
    fg_rng_init (&s_rng, 20261127, FG_RNG_TEST, 1, 0, 0, 0);
    size_t shapes = sizeof s_shapes / sizeof s_shapes [0];
    for (size_t i = 0; i < shapes; i++) {
        s_shape_t s = s_shapes [i];
        //  Conv's orientations: forward (A row, B = W^T column-stored),
        //  dW (A = dY^T column-stored, B row), dX (both row)
        s_check_case (s, S_ROW, S_COL, S_ROW, 1.0f, 0.0f, false);
        s_check_case (s, S_COL, S_ROW, S_ROW, 1.0f, 1.0f, false);
        s_check_case (s, S_ROW, S_ROW, S_ROW, 1.0f, 0.0f, true);
        //  The rest on the smaller shapes only (the portable kernel is slow)
        if (s.m * s.n * s.k > 2000000)
            continue;
        s_check_case (s, S_COL, S_COL, S_COL, 1.5f, 0.5f, false);
        s_check_case (s, S_ROW, S_ROW, S_ROW_PAD, 1.0f, 1.0f, false);
        s_check_case (s, S_COL, S_ROW, S_COL_PAD, 1.5f, 0.0f, true);
    }
}

//  Thread counts beyond the cores do not change a bit either
static void
test_threads (void **state)
{
    (void) state;
    fg_rng_init (&s_rng, 20261127, FG_RNG_TEST, 2, 0, 0, 0);
    size_t m = 301, n = 77, k = 530;
    float *a = s_alloc (m * k), *b = s_alloc (k * n), *c1 = s_alloc (m * n), *c = s_alloc (m * n);
    s_fill (a, m * k);
    s_fill (b, k * n);
    assert_int_equal (fg_gemm (FG_GEMM_AUTO, 1, "t", m, n, k, 1.0f, a, k, 1, b, n, 1, 0.0f,
                               c1, n, 1, NULL), 0);
    for (int threads = 2; threads <= 4; threads++) {
        assert_int_equal (fg_gemm (FG_GEMM_AUTO, threads, "t", m, n, k, 1.0f, a, k, 1, b, n, 1,
                                   0.0f, c, n, 1, NULL), 0);
        assert_memory_equal (c, c1, m * n * sizeof (float));
    }
    free (a);
    free (b);
    free (c1);
    free (c);
}

//  The comparison with the formula can fail: another k block (or a plain
//  one-block sum) gives other bits on a k > KC shape.
static void
test_formula_bites (void **state)
{
    (void) state;
    fg_rng_init (&s_rng, 20261127, FG_RNG_TEST, 3, 0, 0, 0);
    size_t m = 16, n = 16, k = 700;
    float *a = s_alloc (m * k), *b = s_alloc (k * n), *c = s_alloc (m * n), *w = s_alloc (m * n);
    s_fill (a, m * k);
    s_fill (b, k * n);
    assert_int_equal (fg_gemm (FG_GEMM_AUTO, 1, "t", m, n, k, 1.0f, a, k, 1, b, n, 1, 0.0f,
                               c, n, 1, NULL), 0);
    s_formula (FG_GEMM_KC, m, n, k, 1.0f, a, k, 1, b, n, 1, 0.0f, w, n, 1);
    assert_memory_equal (c, w, m * n * sizeof (float));
    s_formula (FG_GEMM_KC / 2, m, n, k, 1.0f, a, k, 1, b, n, 1, 0.0f, w, n, 1);
    assert_memory_not_equal (c, w, m * n * sizeof (float));
    s_formula (k, m, n, k, 1.0f, a, k, 1, b, n, 1, 0.0f, w, n, 1);
    assert_memory_not_equal (c, w, m * n * sizeof (float));
    free (a);
    free (b);
    free (c);
    free (w);
}

//  Within the standard bound of a double-precision product:
//  |c - exact| <= gamma_(k+2) * sum_p |a_ip b_pj| (+ |beta c| terms)
static void
test_against_double (void **state)
{
    (void) state;
    fg_rng_init (&s_rng, 20261127, FG_RNG_TEST, 4, 0, 0, 0);
    size_t m = 57, n = 70, k = 1100;
    float *a = s_alloc (m * k), *b = s_alloc (k * n), *c = s_alloc (m * n), *c0 = s_alloc (m * n);
    s_fill (a, m * k);
    s_fill (b, k * n);
    s_fill (c0, m * n);
    double worst = 0.0;
    for (int v = FG_GEMM_PORTABLE; v < FG_GEMM_VARIANTS; v++) {
        if (!fg_gemm_supported ((fg_gemm_variant_t) v))
            continue;
        memcpy (c, c0, m * n * sizeof (float));
        assert_int_equal (fg_gemm ((fg_gemm_variant_t) v, 1, "t", m, n, k, 1.5f, a, k, 1,
                                   b, n, 1, 0.5f, c, n, 1, NULL), 0);
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++) {
                double exact = 0.5 * c0 [i * n + j], mag = fabs (exact);
                for (size_t p = 0; p < k; p++) {
                    double t = 1.5 * (double) a [i * k + p] * (double) b [p * n + j];
                    exact += t;
                    mag += fabs (t);
                }
                double gamma = (k + 4) * (double) FLT_EPSILON / 2;
                double err = fabs ((double) c [i * n + j] - exact);
                assert_true (err <= gamma * mag);
                if (err / mag > worst)
                    worst = err / mag;
            }
    }
    //  and far inside it in practice (random signs): a sanity bound
    assert_true (worst < 1e-5);
    free (a);
    free (b);
    free (c);
    free (c0);
}

static void
test_api (void **state)
{
    (void) state;
    assert_string_equal (fg_gemm_identity (), "fg-sgemm-fma kc=256 v1");
    char info [65];
    fg_gemm_info (info, sizeof info);
    assert_true (strlen (info) < 64);
    assert_memory_equal (info, FG_GEMM_IDENTITY " ", strlen (FG_GEMM_IDENTITY) + 1);
    assert_non_null (strstr (info, fg_gemm_variant_name (fg_gemm_default ())));
    fg_gemm_info (info, 5);
    assert_string_equal (info, "fg-s");
    fg_gemm_variant_t v;
    assert_int_equal (fg_gemm_variant_parse ("avx2", &v), 0);
    assert_int_equal (v, FG_GEMM_AVX2);
    assert_int_equal (fg_gemm_variant_parse ("portable", &v), 0);
    assert_int_equal (v, FG_GEMM_PORTABLE);
    assert_int_equal (fg_gemm_variant_parse ("AVX2", &v), FG_EINVAL);
    assert_int_equal (fg_gemm_variant_parse (NULL, &v), FG_EINVAL);
    assert_null (fg_gemm_variant_name ((fg_gemm_variant_t) 9));
    assert_true (fg_gemm_supported (FG_GEMM_PORTABLE));
    assert_false (fg_gemm_supported ((fg_gemm_variant_t) 9));
    assert_int_not_equal (fg_gemm_default (), FG_GEMM_AUTO);

    float a [6] = { 1, 2, 3, 4, 5, 6 }, b [6] = { 1, 0, 0, 1, 1, 1 };
    float c [4 + 16];
    fg_error_t err;
    //  rejections (BLIS would abort)
    assert_int_equal (fg_gemm ((fg_gemm_variant_t) 9, 1, "t", 2, 2, 3, 1.0f, a, 3, 1, b, 2, 1,
                               0.0f, c, 2, 1, &err), FG_EUNSUPPORTED);
    assert_int_equal (fg_gemm (FG_GEMM_AUTO, 1, "t", 2, 2, 3, 1.0f, a, 3, 1, b, 2, 1, 0.0f,
                               c, 1, 1, &err), FG_EINVAL);
    assert_non_null (strstr (err.msg, "t: gemm: bad C view"));
    assert_int_equal (fg_gemm (FG_GEMM_AUTO, 1, "t", 2, 2, 3, 1.0f, a, 2, 1, b, 2, 1, 0.0f,
                               c, 2, 1, &err), FG_EINVAL);
    assert_int_equal (fg_gemm (FG_GEMM_AUTO, 1, "t", 2, 2, 3, 1.0f, a, 3, 1, b, 2, 2, 0.0f,
                               c, 2, 1, &err), FG_EINVAL);
    assert_int_equal (fg_gemm (FG_GEMM_AUTO, 1, "t", 2, 2, 3, 1.0f, NULL, 3, 1, b, 2, 1, 0.0f,
                               c, 2, 1, &err), FG_EINVAL);
    assert_int_equal (fg_gemm (FG_GEMM_AUTO, 1, "t", 2, 2, 3, 1.0f, a, 3, 1, NULL, 2, 1, 0.0f,
                               c, 2, 1, &err), FG_EINVAL);
    assert_int_equal (fg_gemm (FG_GEMM_AUTO, 1, "t", 2, 2, 3, 1.0f, a, 3, 1, b, 2, 1, 0.0f,
                               NULL, 2, 1, &err), FG_EINVAL);
    assert_int_equal (fg_gemm (FG_GEMM_AUTO, 1, NULL, (size_t) 1 << 41, 2, 3, 1.0f, a, 3, 1,
                               b, 2, 1, 0.0f, c, 2, 1, &err), FG_EINVAL);
    //  m or n == 0: nothing, not even C checked
    assert_int_equal (fg_gemm (FG_GEMM_AUTO, 1, "t", 0, 2, 3, 1.0f, NULL, 0, 0, NULL, 0, 0,
                               0.0f, NULL, 0, 0, &err), 0);
    //  k == 0 and alpha == 0: C = beta * C (beta 0: zeros, NaN not kept)
    float c2 [4] = { 1, 2, 3, NAN };
    assert_int_equal (fg_gemm (FG_GEMM_AUTO, 1, "t", 2, 2, 0, 1.0f, NULL, 0, 0, NULL, 0, 0,
                               2.0f, c2, 2, 1, &err), 0);
    assert_true (c2 [0] == 2 && c2 [1] == 4 && c2 [2] == 6 && isnan (c2 [3]));
    assert_int_equal (fg_gemm (FG_GEMM_AUTO, 1, "t", 2, 2, 3, 0.0f, a, 3, 1, b, 2, 1, 0.0f,
                               c2, 2, 1, &err), 0);
    assert_true (c2 [0] == 0 && c2 [1] == 0 && c2 [2] == 0 && c2 [3] == 0);
    //  a small product, exactly
    assert_int_equal (fg_gemm (FG_GEMM_AUTO, 1, "t", 2, 2, 3, 1.0f, a, 3, 1, b, 2, 1, 0.0f,
                               c, 2, 1, &err), 0);
    float want [4] = { 4, 5, 10, 11 };
    assert_memory_equal (c, want, sizeof want);
}

static fg_gemm_variant_t
s_variant_of (const char *name)
{
    fg_gemm_variant_t v = FG_GEMM_AUTO;
    assert_int_equal (fg_gemm_variant_parse (name, &v), 0);
    return v;
}

//  FEDGRID_GEMM is read once per process: each case in a fresh child
static int
s_child_default (const char *env)
{
    pid_t pid = fork ();
    assert_true (pid >= 0);
    if (pid == 0) {
        if (env)
            setenv ("FEDGRID_GEMM", env, 1);
        else
            unsetenv ("FEDGRID_GEMM");
        _exit ((int) fg_gemm_default ());
    }
    int status;
    assert_int_equal (waitpid (pid, &status, 0), pid);
    assert_true (WIFEXITED (status));
    return WEXITSTATUS (status);
}

static void
test_env (void **state)
{
    (void) state;
    //  children first: the parent must not have initialised fg_gemm yet
    int best = s_child_default (NULL);
    int portable = s_child_default ("portable");
    int automatic = s_child_default ("auto");
    int bogus = s_child_default ("bogus");                      //  warned, ignored
    int avx2 = s_child_default ("avx2");
    int avx512 = s_child_default ("avx512");
    assert_int_equal (best, fg_gemm_default ());
    assert_true (best >= FG_GEMM_PORTABLE && best < FG_GEMM_VARIANTS);
    assert_int_equal (portable, FG_GEMM_PORTABLE);
    assert_int_equal (automatic, best);
    assert_int_equal (bogus, best);
    //  a variant the CPU lacks is ignored
    assert_int_equal (avx2, fg_gemm_supported (FG_GEMM_AVX2)? FG_GEMM_AVX2: best);
    assert_int_equal (avx512, fg_gemm_supported (FG_GEMM_AVX512)? FG_GEMM_AVX512: best);
}

//  Whole training, in a fresh process (FEDGRID_GEMM is read once per
//  process, and this one has read it): this program run as
//      test_gemm --train KIND SIDE C BATCH STEPS THREADS
//  does `steps` SGD steps (momentum, weight decay) of the model on a random
//  batch and prints the SHA-256 of the trained weights (fg_state_hash).
//  Every GEMM, the direct convolution kernels (AVX-512F, AVX2, or the form
//  through fg_gemm for portable) and the rest follow FEDGRID_GEMM.
static int
s_train_main (char **argv)
{
    int kind = atoi (argv [0]), threads = atoi (argv [5]);
    uint32_t side = (uint32_t) atoi (argv [1]), c = (uint32_t) atoi (argv [2]);
    uint32_t batch = (uint32_t) atoi (argv [3]), steps = (uint32_t) atoi (argv [4]);
    fg_model_spec_t spec = { kind, 10, side, side, c };
    fg_model_t *model = fg_model_new (&spec, NULL);
    fg_optim_config_t oc = { .lr = 0.02, .momentum = 0.9, .weight_decay = 5e-4 };
    fg_optim_t *optim = model? fg_optim_new (&oc, fg_model_state (model), NULL): NULL;
    fg_train_t *train = optim? fg_train_new (model, optim, batch, threads, NULL): NULL;
    size_t n = (size_t) batch * side * side * c;
    float *x = malloc (n * sizeof (float));
    uint16_t *y = malloc (batch * sizeof (uint16_t));
    if (!train || !x || !y)
        return 1;
    fg_model_init (model, 2024);
    fg_rng_t rng;
    fg_rng_init (&rng, 99, FG_RNG_TEST, 0, 0, 0, 0);
    for (size_t i = 0; i < n; i++)
        x [i] = (float) (2 * fg_rng_uniform (&rng) - 1);
    for (uint32_t i = 0; i < batch; i++)
        y [i] = (uint16_t) (i % 10);
    for (uint32_t step = 0; step < steps; step++) {
        fg_train_keys_t keys = { 77, 1, 2, 0, step };
        fg_train_result_t r;
        if (fg_train_step (train, x, y, batch, 0.02, &keys, &r, NULL))
            return 2;
    }
    char hex [65];
    fg_state_hash (fg_model_state (model), hex);
    printf ("%s %s\n", hex, fg_gemm_variant_name (fg_gemm_default ()));
    fg_train_destroy (&train);
    fg_optim_destroy (&optim);
    fg_model_destroy (&model);
    free (x);
    free (y);
    return 0;
}

//  Runs s_train_main in a child with FEDGRID_GEMM=env; hex: its hash
static void
s_child_train (const char *env, int threads, int kind, uint32_t side, uint32_t c,
               uint32_t batch, uint32_t steps, char hex [65])
{
    int fd [2];
    assert_int_equal (pipe (fd), 0);
    pid_t pid = fork ();
    assert_true (pid >= 0);
    if (pid == 0) {
        close (fd [0]);
        dup2 (fd [1], 1);
        setenv ("FEDGRID_GEMM", env, 1);
        char args [6][16];
        unsigned vals [6] = { (unsigned) kind, side, c, batch, steps, (unsigned) threads };
        for (int i = 0; i < 6; i++)
            snprintf (args [i], sizeof args [i], "%u", vals [i]);
        execl ("/proc/self/exe", "test_gemm", "--train", args [0], args [1], args [2],
               args [3], args [4], args [5], (char *) NULL);
        _exit (127);
    }
    close (fd [1]);
    char line [128] = "";
    ssize_t got = 0;
    while (got < (ssize_t) sizeof line - 1) {
        ssize_t r = read (fd [0], line + got, sizeof line - 1 - (size_t) got);
        if (r <= 0)
            break;
        got += r;
    }
    close (fd [0]);
    int status;
    assert_int_equal (waitpid (pid, &status, 0), pid);
    if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
        fail_msg ("training child FEDGRID_GEMM=%s threads %d: status %d", env, threads,
                  status);
    //  "<64 hex> <variant>": the child ran the variant asked for
    char variant [16] = "";
    if (sscanf (line, "%64s %15s", hex, variant) != 2 || strlen (hex) != 64
    ||  strcmp (variant, env) != 0)
        fail_msg ("training child FEDGRID_GEMM=%s: printed '%s'", env, line);
}

static void
test_training_same_bits (void **state)
{
    (void) state;
    //  vgg16-bn at 32x32 takes every form: the 3-channel im2col layer, the
    //  direct form's wide (32x32, 16x16) and small (8x8, 4x4) kernels and
    //  its weight-gradient kernel, 2x2 im2col, 1x1 and linear GEMMs;
    //  mobilenetv3-small the depthwise, 1x1, SE and strided paths
    struct { int kind; uint32_t side, c, batch, steps; } cases [] = {
        { FG_MODEL_VGG16_BN, 32, 3, 2, 2 },
        { FG_MODEL_MOBILENETV3_SMALL, 32, 3, 2, 2 },
        { FG_MODEL_CNN_SMALL, 28, 1, 10, 3 },
    };
    const char *envs [] = { "portable", "avx2", "avx512" };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        char first [65] = "", hex [65];
        for (size_t e = 0; e < 3; e++) {
            if (!fg_gemm_supported (s_variant_of (envs [e])))
                continue;
            for (int threads = 1; threads <= 2; threads++) {
                s_child_train (envs [e], threads, cases [i].kind, cases [i].side,
                               cases [i].c, cases [i].batch, cases [i].steps, hex);
                if (!*first)
                    memcpy (first, hex, 65);
                else
                if (strcmp (first, hex) != 0)
                    fail_msg ("model %d: FEDGRID_GEMM=%s, %d threads: weights %s, "
                              "portable 1 thread: %s", cases [i].kind, envs [e], threads,
                              hex, first);
            }
        }
    }
}

int
main (int argc, char **argv)
{
    if (argc == 8 && strcmp (argv [1], "--train") == 0)
        return s_train_main (argv + 2);
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_env),
        cmocka_unit_test (test_api),
        cmocka_unit_test (test_formula_bites),
        cmocka_unit_test (test_threads),
        cmocka_unit_test (test_against_double),
        cmocka_unit_test (test_variants_match_formula),
        cmocka_unit_test (test_training_same_bits),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
