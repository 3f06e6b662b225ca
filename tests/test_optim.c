/*  test_optim.c — SGD (momentum, Nesterov, weight decay) and schedules.  */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fg_optim.h"

#define assert_near(a, b, eps) assert_true (fabs ((double) (a) - (double) (b)) <= (eps))

//  A state of one PARAM view "w" (n floats) and one BUFFER view "rm" (2).
static fg_state_t *
s_state (uint64_t n)
{
    fg_state_t *s = fg_state_new ();
    uint64_t shape [1] = { n }, two [1] = { 2 };
    assert_int_equal (fg_state_add (s, "layer.weight", FG_TENSOR_PARAM, 1, shape, NULL), 0);
    assert_int_equal (fg_state_add (s, "layer.running_mean", FG_TENSOR_BUFFER, 1, two, NULL), 0);
    return s;
}

static fg_optim_config_t
s_config (double lr, double momentum, bool nesterov, double wd)
{
    fg_optim_config_t oc;
    memset (&oc, 0, sizeof oc);
    oc.lr = lr;
    oc.momentum = momentum;
    oc.nesterov = nesterov;
    oc.weight_decay = wd;
    oc.schedule = FG_SCHEDULE_CONSTANT;
    oc.gamma = 0.1;
    oc.horizon = 1;
    return oc;
}

//  Runs `steps` steps with gradient 1 everywhere from p = 1; returns p.
static float
s_run (fg_optim_config_t oc, int steps)
{
    fg_state_t *p = s_state (3), *g = s_state (3);
    for (int i = 0; i < 3; i++) {
        p->data [i] = 1;
        g->data [i] = 1;
    }
    p->data [3] = 7;                //  a buffer: never touched
    g->data [3] = 100;
    fg_optim_t *o = fg_optim_new (&oc, p, NULL);
    assert_non_null (o);
    for (int s = 0; s < steps; s++)
        assert_int_equal (fg_optim_step (o, p, g, oc.lr, NULL), 0);
    assert_true (p->data [3] == 7);
    assert_true (p->data [0] == p->data [1] && p->data [1] == p->data [2]);
    float result = p->data [0];
    fg_optim_destroy (&o);
    assert_null (o);
    fg_state_destroy (&p);
    fg_state_destroy (&g);
    return result;
}

//  Values worked out by hand (p0 = 1, g = 1, lr = 0.1).
static void
test_sgd_hand_computed (void **state)
{
    (void) state;
    //  plain: p = 1 - 0.1 = 0.9, then 0.8
    assert_near (s_run (s_config (0.1, 0, false, 0), 1), 0.9f, 1e-7);
    assert_near (s_run (s_config (0.1, 0, false, 0), 2), 0.8f, 1e-7);
    //  momentum 0.9: buf 1, 1.9, 2.71 -> p 0.9, 0.71, 0.439
    assert_near (s_run (s_config (0.1, 0.9, false, 0), 1), 0.9f, 1e-6);
    assert_near (s_run (s_config (0.1, 0.9, false, 0), 2), 0.71f, 1e-6);
    assert_near (s_run (s_config (0.1, 0.9, false, 0), 3), 0.439f, 1e-6);
    //  Nesterov: d = g + 0.9 buf: 1.9, 2.71 -> p 0.81, 0.539
    assert_near (s_run (s_config (0.1, 0.9, true, 0), 1), 0.81f, 1e-6);
    assert_near (s_run (s_config (0.1, 0.9, true, 0), 2), 0.539f, 1e-6);
    //  weight decay 0.1 with momentum 0.9: d = 1.1, buf 1.1 -> p 0.89;
    //  d = 1 + 0.089 = 1.089, buf = 0.99 + 1.089 = 2.079 -> p 0.6821
    assert_near (s_run (s_config (0.1, 0.9, false, 0.1), 1), 0.89f, 1e-6);
    assert_near (s_run (s_config (0.1, 0.9, false, 0.1), 2), 0.6821f, 1e-6);
    //  weight decay alone: p = 1 - 0.1 * 1.5 = 0.85 with wd 0.5
    assert_near (s_run (s_config (0.1, 0, false, 0.5), 1), 0.85f, 1e-7);
}

//  Bit-exact against the float32 formula of fg_optim.h on mixed values.
static void
test_sgd_matches_formula_bitwise (void **state)
{
    (void) state;
    const int n = 97;
    fg_state_t *p = s_state (n), *g = s_state (n);
    float ref_p [97], ref_buf [97];
    for (int i = 0; i < n; i++) {
        p->data [i] = ref_p [i] = (float) sin (i * 0.37) * 0.5f;
        g->data [i] = (float) cos (i * 1.91) * 0.01f;
        ref_buf [i] = 0;
    }
    fg_optim_config_t oc = s_config (0.05, 0.875, true, 5e-4);
    fg_optim_t *o = fg_optim_new (&oc, p, NULL);
    for (int step = 0; step < 4; step++) {
        double lr = 0.05 / (step + 1);
        assert_int_equal (fg_optim_step (o, p, g, lr, NULL), 0);
        for (int i = 0; i < n; i++) {
            float d = g->data [i] + 5e-4f * ref_p [i];
            float b = 0.875f * ref_buf [i] + d;
            ref_buf [i] = b;
            d = d + 0.875f * b;
            ref_p [i] = ref_p [i] + (-(float) lr) * d;
        }
    }
    assert_memory_equal (p->data, ref_p, n * sizeof (float));
    assert_memory_equal (fg_optim_state (o)->data, ref_buf, n * sizeof (float));
    fg_optim_destroy (&o);
    fg_state_destroy (&p);
    fg_state_destroy (&g);
}

//  Saving the momentum buffers mid-way and restoring them into a fresh
//  optimiser continues bit for bit.
static void
test_state_save_and_restore (void **state)
{
    (void) state;
    fg_state_t *p = s_state (16), *g = s_state (16);
    for (int i = 0; i < 16; i++) {
        p->data [i] = (float) i / 16;
        g->data [i] = (float) (i % 5) - 2;
    }
    fg_state_t *p2 = fg_state_dup (p);
    fg_optim_config_t oc = s_config (0.01, 0.9, false, 1e-4);
    fg_optim_t *a = fg_optim_new (&oc, p, NULL);
    for (int s = 0; s < 6; s++)
        fg_optim_step (a, p, g, 0.01, NULL);

    fg_optim_t *b = fg_optim_new (&oc, p2, NULL);
    for (int s = 0; s < 3; s++)
        fg_optim_step (b, p2, g, 0.01, NULL);
    fg_state_t *mid = fg_state_dup (p2);
    size_t bytes = fg_optim_state (b)->size * sizeof (float);
    float *saved = malloc (bytes);
    memcpy (saved, fg_optim_state (b)->data, bytes);
    fg_optim_destroy (&b);
    b = fg_optim_new (&oc, p2, NULL);
    memcpy (fg_optim_state (b)->data, saved, bytes);
    for (int s = 0; s < 3; s++)
        fg_optim_step (b, p2, g, 0.01, NULL);
    assert_memory_equal (p->data, p2->data, p->size * sizeof (float));

    //  without the saved momentum the result differs (the test can fail)
    fg_optim_reset (b);
    for (int s = 0; s < 3; s++)
        fg_optim_step (b, mid, g, 0.01, NULL);
    assert_true (memcmp (mid->data, p->data, 16 * sizeof (float)) != 0);
    free (saved);
    fg_optim_destroy (&a);
    fg_optim_destroy (&b);
    fg_state_destroy (&p);
    fg_state_destroy (&p2);
    fg_state_destroy (&mid);
    fg_state_destroy (&g);
}

static void
test_step_rejections (void **state)
{
    (void) state;
    fg_state_t *p = s_state (4), *g = s_state (4), *other = s_state (5);
    fg_optim_config_t oc = s_config (0.1, 0.9, false, 0);
    fg_optim_t *o = fg_optim_new (&oc, p, NULL);
    fg_error_t err;
    assert_int_equal (fg_optim_step (o, other, g, 0.1, &err), FG_EMISMATCH);
    assert_int_equal (err.code, FG_EMISMATCH);
    assert_int_equal (fg_optim_step (o, p, other, 0.1, &err), FG_EMISMATCH);
    assert_int_equal (fg_optim_step (o, p, g, NAN, &err), FG_ENUMERIC);
    assert_int_equal (fg_optim_step (o, p, g, -1, &err), FG_ENUMERIC);
    assert_int_equal (fg_optim_step (o, p, g, INFINITY, &err), FG_ENUMERIC);
    assert_true (fg_optim_config (o)->momentum == 0.9);
    fg_optim_destroy (&o);
    fg_optim_destroy (&o);          //  NULL-safe
    fg_state_destroy (&p);
    fg_state_destroy (&g);
    fg_state_destroy (&other);
}

static void
test_config_rejections (void **state)
{
    (void) state;
    fg_state_t *p = s_state (4);
    fg_error_t err;
    fg_optim_config_t oc;
#define REJECT(change, word) do {                                         \
        oc = s_config (0.1, 0.5, false, 0);                               \
        change;                                                           \
        assert_int_equal (fg_optim_config_check (&oc, &err), FG_EINVAL);  \
        assert_non_null (strstr (err.msg, word));                         \
        assert_null (fg_optim_new (&oc, p, NULL));                        \
    } while (0)
    REJECT (oc.lr = 0, "lr");
    REJECT (oc.lr = NAN, "lr");
    REJECT (oc.momentum = 1, "momentum");
    REJECT (oc.momentum = -0.1, "momentum");
    REJECT ((oc.momentum = 0, oc.nesterov = true), "nesterov");
    REJECT (oc.weight_decay = -1, "weight_decay");
    REJECT (oc.warmup_epochs = -1, "warmup");
    REJECT (oc.schedule = 7, "schedule");
    REJECT ((oc.schedule = FG_SCHEDULE_STEP, oc.gamma = 0), "gamma");
    REJECT ((oc.schedule = FG_SCHEDULE_STEP, oc.milestones_count = 2,
             oc.milestones [0] = 5, oc.milestones [1] = 5), "increase");
    REJECT ((oc.schedule = FG_SCHEDULE_STEP, oc.milestones_count = 1,
             oc.milestones [0] = -1), "negative");
    REJECT ((oc.schedule = FG_SCHEDULE_STEP, oc.milestones_count = 99), "milestones");
    REJECT ((oc.schedule = FG_SCHEDULE_COSINE, oc.horizon = 5, oc.warmup_epochs = 5), "horizon");
    REJECT ((oc.schedule = FG_SCHEDULE_COSINE, oc.horizon = 5, oc.lr_min = 1), "lr_min");
#undef REJECT
    oc = s_config (0.1, 0.5, true, 0.1);
    assert_int_equal (fg_optim_config_check (&oc, &err), 0);
    fg_state_destroy (&p);
}

static void
test_schedules (void **state)
{
    (void) state;
    fg_optim_config_t oc = s_config (0.1, 0, false, 0);
    //  constant
    assert_true (fg_optim_lr (&oc, 0) == 0.1);
    assert_true (fg_optim_lr (&oc, 1000) == 0.1);
    //  step at 30 and 60, gamma 0.1
    oc.schedule = FG_SCHEDULE_STEP;
    oc.milestones_count = 2;
    oc.milestones [0] = 30;
    oc.milestones [1] = 60;
    assert_int_equal (fg_optim_config_check (&oc, NULL), 0);
    assert_true (fg_optim_lr (&oc, 0) == 0.1);
    assert_true (fg_optim_lr (&oc, 29.99) == 0.1);
    assert_near (fg_optim_lr (&oc, 30), 0.01, 1e-15);
    assert_near (fg_optim_lr (&oc, 59), 0.01, 1e-15);
    assert_near (fg_optim_lr (&oc, 60), 0.001, 1e-15);
    assert_near (fg_optim_lr (&oc, 500), 0.001, 1e-15);
    //  cosine over 100 epochs
    oc.schedule = FG_SCHEDULE_COSINE;
    oc.horizon = 100;
    assert_int_equal (fg_optim_config_check (&oc, NULL), 0);
    assert_near (fg_optim_lr (&oc, 0), 0.1, 1e-15);
    assert_near (fg_optim_lr (&oc, 50), 0.05, 1e-15);
    assert_near (fg_optim_lr (&oc, 25), 0.05 * (1 + sqrt (0.5)), 1e-15);
    assert_near (fg_optim_lr (&oc, 100), 0, 1e-15);
    assert_near (fg_optim_lr (&oc, 150), 0, 1e-15);
    oc.lr_min = 0.01;
    assert_near (fg_optim_lr (&oc, 50), 0.055, 1e-15);
    assert_near (fg_optim_lr (&oc, 100), 0.01, 1e-15);
    oc.lr_min = 0;
    //  linear warm-up over 4 epochs (constant): lr (t+1)/5 below 4
    oc.schedule = FG_SCHEDULE_CONSTANT;
    oc.warmup_epochs = 4;
    assert_near (fg_optim_lr (&oc, 0), 0.02, 1e-15);
    assert_near (fg_optim_lr (&oc, 3), 0.08, 1e-15);
    assert_near (fg_optim_lr (&oc, 1.5), 0.05, 1e-15);
    assert_true (fg_optim_lr (&oc, 4) == 0.1);
    //  warm-up then cosine: the cosine starts at the end of the warm-up
    oc.schedule = FG_SCHEDULE_COSINE;
    oc.warmup_epochs = 10;
    oc.horizon = 110;
    assert_near (fg_optim_lr (&oc, 0), 0.1 / 11, 1e-15);
    assert_near (fg_optim_lr (&oc, 10), 0.1, 1e-15);
    assert_near (fg_optim_lr (&oc, 60), 0.05, 1e-15);
    assert_near (fg_optim_lr (&oc, 110), 0, 1e-15);
    //  warm-up with a step schedule: milestone applies inside the warm-up
    oc.schedule = FG_SCHEDULE_STEP;
    oc.warmup_epochs = 2;
    oc.milestones_count = 1;
    oc.milestones [0] = 1;
    assert_near (fg_optim_lr (&oc, 0), 0.1 / 3, 1e-15);
    assert_near (fg_optim_lr (&oc, 1), 0.01 * 2 / 3, 1e-15);
    assert_near (fg_optim_lr (&oc, 2), 0.01, 1e-15);
    //  negative or NaN epochs are taken as 0
    assert_near (fg_optim_lr (&oc, -5), 0.1 / 3, 1e-15);
    assert_near (fg_optim_lr (&oc, NAN), 0.1 / 3, 1e-15);
}

static void
test_config_from_experiment (void **state)
{
    (void) state;
    fg_config_t cfg;
    memset (&cfg, 0, sizeof cfg);
    cfg.training.lr = 0.01;
    cfg.training.momentum = 0.9;
    cfg.training.nesterov = true;
    cfg.training.weight_decay = 5e-4;
    cfg.training.schedule = FG_SCHEDULE_STEP;
    cfg.training.warmup_epochs = 2;
    cfg.training.milestones_count = 2;
    cfg.training.milestones [0] = 50;
    cfg.training.milestones [1] = 75;
    cfg.training.gamma = 0.2;
    fg_optim_config_t oc;
    fg_optim_config_from (&oc, &cfg, 90);
    assert_true (oc.lr == 0.01 && oc.momentum == 0.9 && oc.nesterov);
    assert_true (oc.weight_decay == 5e-4 && oc.warmup_epochs == 2 && oc.horizon == 90);
    assert_int_equal (oc.milestones_count, 2);
    assert_int_equal (oc.milestones [1], 75);
    assert_true (oc.gamma == 0.2);
    assert_int_equal (fg_optim_config_check (&oc, NULL), 0);
    assert_near (fg_optim_lr (&oc, 80), 0.01 * 0.2 * 0.2, 1e-15);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_sgd_hand_computed),
        cmocka_unit_test (test_sgd_matches_formula_bitwise),
        cmocka_unit_test (test_state_save_and_restore),
        cmocka_unit_test (test_step_rejections),
        cmocka_unit_test (test_config_rejections),
        cmocka_unit_test (test_schedules),
        cmocka_unit_test (test_config_from_experiment),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
