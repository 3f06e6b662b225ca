/*  test_train.c — training step and evaluation: learning, determinism
    (1 vs 2 threads, save/load in the middle), rejections.               */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fg_blob.h"
#include "fg_model_internal.h"
#include "fg_train.h"

//  A learnable synthetic batch: class k lights a k-dependent block of the
//  image on top of noise. images (n, side, side, c), labels (n).
static void
s_batch (uint32_t n, uint32_t side, uint32_t c, uint32_t classes, uint32_t tag,
         float **images, uint16_t **labels)
{
    size_t per = (size_t) side * side * c;
    *images = malloc (n * per * sizeof (float));
    *labels = malloc (n * sizeof (uint16_t));
    fg_rng_t rng;
    fg_rng_init (&rng, 1234, FG_RNG_TEST, tag, 0, 0, 0);
    for (uint32_t i = 0; i < n; i++) {
        uint16_t label = (uint16_t) ((i * 7 + tag) % classes);
        (*labels) [i] = label;
        float *x = *images + i * per;
        for (size_t j = 0; j < per; j++)
            x [j] = 0.3f * (2 * fg_rng_uniform (&rng) - 1);
        uint32_t row = (label * 3) % (side - 4), col = (label * 5) % (side - 4);
        for (uint32_t y = row; y < row + 4; y++)
            for (uint32_t xx = col; xx < col + 4; xx++)
                for (uint32_t ch = 0; ch < c; ch++)
                    x [((size_t) y * side + xx) * c + ch] += 1.5f;
    }
}

typedef struct {
    fg_model_t *model;
    fg_optim_t *optim;
    fg_train_t *train;
} s_rig_t;

static s_rig_t
s_rig (int kind, uint32_t classes, uint32_t side, uint32_t c, uint32_t batch, int threads,
       double lr, double momentum, bool nesterov, double wd)
{
    s_rig_t rig;
    fg_model_spec_t spec = { kind, classes, side, side, c };
    fg_error_t err;
    rig.model = fg_model_new (&spec, &err);
    assert_non_null (rig.model);
    fg_model_init (rig.model, 2024);
    fg_optim_config_t oc;
    memset (&oc, 0, sizeof oc);
    oc.lr = lr;
    oc.momentum = momentum;
    oc.nesterov = nesterov;
    oc.weight_decay = wd;
    oc.schedule = FG_SCHEDULE_STEP;
    oc.milestones_count = 1;
    oc.milestones [0] = 2;
    oc.gamma = 0.5;
    rig.optim = fg_optim_new (&oc, fg_model_state (rig.model), &err);
    assert_non_null (rig.optim);
    rig.train = fg_train_new (rig.model, rig.optim, batch, threads, &err);
    if (!rig.train)
        fail_msg ("fg_train_new: %s", err.msg);
    return rig;
}

static void
s_rig_destroy (s_rig_t *rig)
{
    fg_train_destroy (&rig->train);
    assert_null (rig->train);
    fg_optim_destroy (&rig->optim);
    fg_model_destroy (&rig->model);
}

//  Steps [first, last) of epoch 0 on one batch, lr from the schedule
//  (epoch = step / 2, so the milestone falls inside the run).
static void
s_steps (s_rig_t *rig, const float *x, const uint16_t *y, uint32_t n, uint32_t first,
         uint32_t last, fg_train_result_t *result)
{
    for (uint32_t step = first; step < last; step++) {
        fg_train_keys_t keys = { 77, 3, 5, 0, step };
        double lr = fg_optim_lr (fg_optim_config (rig->optim), step / 2.0);
        fg_error_t err;
        int rc = fg_train_step (rig->train, x, y, n, lr, &keys, result, &err);
        if (rc)
            fail_msg ("step %u: %s", step, err.msg);
    }
}

static void
test_cnn_small_learns (void **state)
{
    (void) state;
    float *x;
    uint16_t *y;
    s_batch (32, 28, 1, 10, 0, &x, &y);
    s_rig_t rig = s_rig (FG_MODEL_CNN_SMALL, 10, 28, 1, 32, 1, 0.05, 0.9, false, 0);
    fg_train_result_t before, after, r;
    assert_int_equal (fg_train_evaluate (rig.train, x, y, 32, 0, &before, NULL), 0);
    s_steps (&rig, x, y, 32, 0, 1, &r);
    double first_loss = r.loss;
    assert_true (fabs (first_loss - log (10.0)) < 0.2);     //  near chance
    assert_int_equal (r.count, 32);
    s_steps (&rig, x, y, 32, 1, 30, &r);
    assert_true (r.loss < 0.25 * first_loss);
    assert_int_equal (fg_train_evaluate (rig.train, x, y, 32, 0, &after, NULL), 0);
    assert_true (after.loss < 0.25 * before.loss);
    assert_true (after.correct > before.correct);
    assert_true (after.correct >= 28);
    assert_int_equal (after.count, 32);
    s_rig_destroy (&rig);
    free (x);
    free (y);
}

//  The whole trained state (weights, running statistics, momentum) after
//  `steps` steps with the given thread count.
static void
s_trained (int kind, uint32_t classes, uint32_t side, uint32_t n, int threads, uint32_t steps,
           float **weights, float **momentum, size_t *size)
{
    float *x;
    uint16_t *y;
    s_batch (n, side, 3, classes, 1, &x, &y);
    s_rig_t rig = s_rig (kind, classes, side, 3, n, threads, 0.02, 0.9, true, 5e-4);
    fg_train_result_t r;
    s_steps (&rig, x, y, n, 0, steps, &r);
    fg_state_t *s = fg_model_state (rig.model);
    *size = s->size;
    *weights = malloc (s->size * sizeof (float));
    memcpy (*weights, s->data, s->size * sizeof (float));
    *momentum = malloc (s->size * sizeof (float));
    memcpy (*momentum, fg_optim_state (rig.optim)->data, s->size * sizeof (float));
    s_rig_destroy (&rig);
    free (x);
    free (y);
}

static void
test_one_and_two_threads_identical (void **state)
{
    (void) state;
    struct { int kind; uint32_t classes, side, n, steps; } cases [] = {
        { FG_MODEL_CNN_SMALL, 10, 28, 16, 4 },
        { FG_MODEL_MOBILENETV3_SMALL, 10, 32, 4, 3 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        float *w [2], *m [2];
        size_t size [2];
        for (int t = 0; t < 2; t++)
            s_trained (cases [i].kind, cases [i].classes, cases [i].side, cases [i].n, t + 1,
                       cases [i].steps, &w [t], &m [t], &size [t]);
        assert_int_equal (size [0], size [1]);
        assert_memory_equal (w [0], w [1], size [0] * sizeof (float));
        assert_memory_equal (m [0], m [1], size [0] * sizeof (float));
        for (int t = 0; t < 2; t++) {
            free (w [t]);
            free (m [t]);
        }
    }
}

//  6 steps straight, against 3 steps, a checkpoint (weights + running
//  statistics + momentum) through the blob codec, a fresh process-like
//  restart (everything destroyed and rebuilt), then 3 more steps.
static void
test_checkpoint_in_the_middle (void **state)
{
    (void) state;
    const uint32_t n = 6;
    float *x;
    uint16_t *y;
    s_batch (n, 16, 3, 5, 2, &x, &y);
    fg_train_result_t r;
    s_rig_t a = s_rig (FG_MX_MODEL_TINY_MNV3, 5, 16, 3, n, 1, 0.05, 0.9, true, 1e-3);
    s_steps (&a, x, y, n, 0, 6, &r);

    s_rig_t b = s_rig (FG_MX_MODEL_TINY_MNV3, 5, 16, 3, n, 2, 0.05, 0.9, true, 1e-3);
    s_steps (&b, x, y, n, 0, 3, &r);
    uint8_t *blob_w, *blob_m;
    size_t size_w, size_m;
    fg_error_t err;
    assert_int_equal (fg_blob_encode (fg_model_state (b.model), NULL, &blob_w, &size_w, &err), 0);
    assert_int_equal (fg_blob_encode (fg_optim_state (b.optim), NULL, &blob_m, &size_m, &err), 0);
    fg_state_t *mid = fg_state_dup (fg_model_state (b.model));
    s_rig_destroy (&b);

    b = s_rig (FG_MX_MODEL_TINY_MNV3, 5, 16, 3, n, 1, 0.05, 0.9, true, 1e-3);
    fg_state_t *w = NULL, *m = NULL;
    assert_int_equal (fg_blob_decode (blob_w, size_w, NULL, &w, &err), 0);
    assert_int_equal (fg_blob_decode (blob_m, size_m, NULL, &m, &err), 0);
    assert_int_equal (fg_state_copy_data (fg_model_state (b.model), w, &err), 0);
    assert_int_equal (fg_state_copy_data (fg_optim_state (b.optim), m, &err), 0);
    s_steps (&b, x, y, n, 3, 6, &r);
    fg_state_t *sa = fg_model_state (a.model), *sb = fg_model_state (b.model);
    assert_memory_equal (sa->data, sb->data, sa->size * sizeof (float));
    char ha [65], hb [65];
    fg_state_hash (sa, ha);
    fg_state_hash (sb, hb);
    assert_string_equal (ha, hb);

    //  restoring the weights without the momentum does not (the test can fail)
    s_rig_t c = s_rig (FG_MX_MODEL_TINY_MNV3, 5, 16, 3, n, 1, 0.05, 0.9, true, 1e-3);
    fg_state_copy_data (fg_model_state (c.model), mid, NULL);
    s_steps (&c, x, y, n, 3, 6, &r);
    assert_true (memcmp (sa->data, fg_model_state (c.model)->data, sa->size * sizeof (float)) != 0);

    s_rig_destroy (&a);
    s_rig_destroy (&b);
    s_rig_destroy (&c);
    fg_state_destroy (&w);
    fg_state_destroy (&m);
    fg_state_destroy (&mid);
    free (blob_w);
    free (blob_m);
    free (x);
    free (y);
}

//  Dropout draws follow the keys: same keys, same weights; another step
//  key, other weights.
static void
test_dropout_follows_keys (void **state)
{
    (void) state;
    float *x;
    uint16_t *y;
    s_batch (4, 16, 3, 5, 3, &x, &y);
    fg_state_t *out [3];
    uint32_t steps [3] = { 9, 9, 10 };
    for (int i = 0; i < 3; i++) {
        s_rig_t rig = s_rig (FG_MX_MODEL_TINY_MNV3, 5, 16, 3, 4, 1, 0.1, 0, false, 0);
        fg_train_keys_t keys = { 77, 1, 2, 3, steps [i] };
        assert_int_equal (fg_train_step (rig.train, x, y, 4, 0.1, &keys, NULL, NULL), 0);
        out [i] = fg_state_dup (fg_model_state (rig.model));
        s_rig_destroy (&rig);
    }
    assert_memory_equal (out [0]->data, out [1]->data, out [0]->size * sizeof (float));
    assert_true (memcmp (out [0]->data, out [2]->data, out [0]->size * sizeof (float)) != 0);
    for (int i = 0; i < 3; i++)
        fg_state_destroy (&out [i]);
    free (x);
    free (y);
}

static void
test_rejections (void **state)
{
    (void) state;
    float *x;
    uint16_t *y;
    s_batch (8, 28, 1, 10, 4, &x, &y);
    s_rig_t rig = s_rig (FG_MODEL_CNN_SMALL, 10, 28, 1, 8, 1, 0.1, 0.9, false, 0);
    fg_train_keys_t keys = { 1, 0, 0, 0, 0 };
    fg_error_t err;
    fg_state_t *before = fg_state_dup (fg_model_state (rig.model));

    y [5] = 10;
    assert_int_equal (fg_train_step (rig.train, x, y, 8, 0.1, &keys, NULL, &err), FG_ERANGE);
    assert_non_null (strstr (err.msg, "image 5"));
    fg_train_result_t r;
    assert_int_equal (fg_train_evaluate (rig.train, x, y, 8, 3, &r, &err), FG_ERANGE);
    assert_non_null (strstr (err.msg, "image 5"));
    y [5] = 3;
    assert_int_equal (fg_train_step (rig.train, x, y, 9, 0.1, &keys, NULL, &err), FG_EINVAL);
    assert_int_equal (fg_train_step (rig.train, x, y, 0, 0.1, &keys, NULL, &err), FG_EINVAL);
    assert_int_equal (fg_train_evaluate (rig.train, x, y, 8, 9, &r, &err), FG_EINVAL);
    //  a NaN pixel: refused, weights unchanged
    x [100] = NAN;
    assert_int_equal (fg_train_step (rig.train, x, y, 8, 0.1, &keys, NULL, &err), FG_ENUMERIC);
    assert_non_null (strstr (err.msg, "image 0"));
    assert_memory_equal (before->data, fg_model_state (rig.model)->data, before->size * sizeof (float));
    x [100] = 0;
    x [6 * 28 * 28 + 3] = INFINITY;
    assert_int_equal (fg_train_evaluate (rig.train, x, y, 8, 4, &r, &err), FG_ENUMERIC);
    assert_non_null (strstr (err.msg, "image 6"));
    x [6 * 28 * 28 + 3] = 0;
    //  huge weights overflow to non-finite logits: refused, nothing updated
    fg_state_t *s = fg_model_state (rig.model);
    const fg_tensor_view_t *w0 = fg_state_find (s, "classifier.2.weight");
    for (uint64_t i = 0; i < w0->count; i++)
        s->data [w0->offset + i] = 3e38f;
    fg_state_t *huge = fg_state_dup (s);
    assert_int_equal (fg_train_step (rig.train, x, y, 8, 0.1, &keys, NULL, &err), FG_ENUMERIC);
    assert_memory_equal (huge->data, s->data, s->size * sizeof (float));
    fg_state_copy_data (s, before, NULL);
    fg_state_destroy (&huge);
    //  an infinite learning rate
    assert_int_equal (fg_train_step (rig.train, x, y, 8, INFINITY, &keys, NULL, &err), FG_ENUMERIC);

    //  evaluation only: no optimiser
    fg_train_t *eval = fg_train_new (rig.model, NULL, 4, 1, &err);
    assert_non_null (eval);
    assert_int_equal (fg_train_step (eval, x, y, 4, 0.1, &keys, NULL, &err), FG_EINVAL);
    fg_train_destroy (&eval);

    //  an optimiser of another model
    fg_model_spec_t spec = { FG_MODEL_CNN_SMALL, 5, 28, 28, 1 };
    fg_model_t *other = fg_model_new (&spec, NULL);
    assert_null (fg_train_new (other, rig.optim, 4, 1, &err));
    assert_int_equal (err.code, FG_EMISMATCH);
    assert_null (fg_train_new (other, NULL, 0, 1, &err));
    assert_int_equal (err.code, FG_EINVAL);
    fg_model_destroy (&other);
    fg_state_destroy (&before);
    s_rig_destroy (&rig);
    free (x);
    free (y);
}

static void
test_evaluate_batches (void **state)
{
    (void) state;
    float *x;
    uint16_t *y;
    s_batch (21, 28, 1, 10, 5, &x, &y);
    s_rig_t rig = s_rig (FG_MODEL_CNN_SMALL, 10, 28, 1, 8, 2, 0.05, 0.9, false, 0);
    s_steps (&rig, x, y, 8, 0, 10, NULL);
    fg_train_result_t a, b, c;
    assert_int_equal (fg_train_evaluate (rig.train, x, y, 21, 8, &a, NULL), 0);
    assert_int_equal (fg_train_evaluate (rig.train, x, y, 21, 5, &b, NULL), 0);
    assert_int_equal (a.count, 21);
    assert_int_equal (a.correct, b.correct);
    assert_true (fabs (a.loss - b.loss) < 1e-6 * a.loss);
    assert_true (a.correct > 2);
    //  nothing to evaluate
    assert_int_equal (fg_train_evaluate (rig.train, NULL, NULL, 0, 0, &c, NULL), 0);
    assert_int_equal (c.count, 0);
    assert_true (c.loss == 0);
    //  evaluation does not change the state
    char h1 [65], h2 [65];
    fg_state_hash (fg_model_state (rig.model), h1);
    assert_int_equal (fg_train_evaluate (rig.train, x, y, 21, 0, &c, NULL), 0);
    fg_state_hash (fg_model_state (rig.model), h2);
    assert_string_equal (h1, h2);
    assert_non_null (fg_train_ws (rig.train));
    fg_train_set_threads (rig.train, 1);
    s_rig_destroy (&rig);
    free (x);
    free (y);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_cnn_small_learns),
        cmocka_unit_test (test_one_and_two_threads_identical),
        cmocka_unit_test (test_checkpoint_in_the_middle),
        cmocka_unit_test (test_dropout_follows_keys),
        cmocka_unit_test (test_rejections),
        cmocka_unit_test (test_evaluate_batches),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
