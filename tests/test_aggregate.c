/*  test_aggregate.c — arrival-order independence (bit for bit), hand-
    computed FedAvg / median / trimmed mean / clipping / FedAvgM, the
    momentum checkpoint round trip, every rejection path, and the default
    norm bound (its arithmetic; a poisoned update against real models).  */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fg_aggregate.h"
#include "fg_model.h"
#include "fg_rng.h"

//  A small model: conv.weight (2,3), conv.bias (2) [PARAM],
//  bn.running_mean (2), bn.running_var (2) [BUFFER]; 12 floats.
//  With `wide`, fc.weight (64,64) [PARAM] follows: 4108 floats.
static fg_state_t *
s_model (bool wide)
{
    fg_state_t *st = fg_state_new ();
    assert_non_null (st);
    uint64_t w [2] = { 2, 3 }, b [1] = { 2 }, fc [2] = { 64, 64 };
    assert_int_equal (fg_state_add (st, "conv.weight", FG_TENSOR_PARAM, 2, w, NULL), 0);
    assert_int_equal (fg_state_add (st, "conv.bias", FG_TENSOR_PARAM, 1, b, NULL), 0);
    assert_int_equal (fg_state_add (st, "bn.running_mean", FG_TENSOR_BUFFER, 1, b, NULL), 0);
    assert_int_equal (fg_state_add (st, "bn.running_var", FG_TENSOR_BUFFER, 1, b, NULL), 0);
    if (wide)
        assert_int_equal (fg_state_add (st, "fc.weight", FG_TENSOR_PARAM, 2, fc, NULL), 0);
    return st;
}

static fg_state_t *
s_filled (bool wide, float value)
{
    fg_state_t *st = s_model (wide);
    for (size_t i = 0; i < st->size; i++)
        st->data [i] = value;
    return st;
}

static fg_aggregate_params_t
s_params (int rule)
{
    fg_aggregate_params_t p = {
        .rule = rule, .trim_fraction = 0.2, .clip_norm = 0, .max_update_norm = 0,
        .server_lr = 1.0, .server_momentum = 0
    };
    return p;
}

static fg_aggregate_t *
s_new (const fg_aggregate_params_t *p)
{
    fg_error_t err = { 0 };
    fg_aggregate_t *agg = fg_aggregate_new (p, &err);
    if (!agg)
        fprintf (stderr, "fg_aggregate_new: %s\n", err.msg);
    assert_non_null (agg);
    return agg;
}

static void
s_add (fg_aggregate_t *agg, uint32_t shard, uint64_t samples, const fg_state_t *update)
{
    fg_state_t *copy = fg_state_dup (update);
    assert_non_null (copy);
    fg_error_t err = { 0 };
    int rc = fg_aggregate_add (agg, shard, samples, &copy, &err);
    if (rc)
        fprintf (stderr, "fg_aggregate_add: %s\n", err.msg);
    assert_int_equal (rc, 0);
    assert_null (copy);
}

static fg_state_t *
s_finish (fg_aggregate_t *agg)
{
    fg_state_t *out = NULL;
    fg_error_t err = { 0 };
    int rc = fg_aggregate_finish (agg, &out, &err);
    if (rc)
        fprintf (stderr, "fg_aggregate_finish: %s\n", err.msg);
    assert_int_equal (rc, 0);
    assert_non_null (out);
    return out;
}

static void
s_expect_values (const fg_state_t *st, const char *name, const float *want)
{
    const fg_tensor_view_t *v = fg_state_find (st, name);
    assert_non_null (v);
    for (uint64_t i = 0; i < v->count; i++) {
        if (st->data [v->offset + i] != want [i])
            fprintf (stderr, "%s [%llu] = %.9g, want %.9g\n", name, (unsigned long long) i,
                     st->data [v->offset + i], want [i]);
        assert_true (st->data [v->offset + i] == want [i]);
    }
}

//  --------------------------------------------------------------------
//  Arrival-order independence

#define NSHARDS 12

typedef struct {
    fg_state_t *global;
    fg_state_t *update [NSHARDS];
    uint64_t    samples [NSHARDS];
} s_round_t;

//  Updates with spread magnitudes (so float sums depend on order).
static void
s_make_round (s_round_t *r, uint32_t round)
{
    fg_rng_t rng;
    fg_rng_init (&rng, 7, FG_RNG_TEST, round, 0, 0, 0);
    r->global = s_model (true);
    for (size_t i = 0; i < r->global->size; i++)
        r->global->data [i] = (float) fg_rng_normal (&rng);
    for (uint32_t s = 0; s < NSHARDS; s++) {
        r->update [s] = fg_state_dup (r->global);
        assert_non_null (r->update [s]);
        double mag = ldexp (1.0, (int) fg_rng_below (&rng, 20) - 10);
        for (size_t i = 0; i < r->global->size; i++)
            r->update [s]->data [i] += (float) (mag * fg_rng_normal (&rng));
        r->samples [s] = 1 + fg_rng_below (&rng, 5000);
    }
    //  shards 3 and 8 carry cancelling deltas of 2^60 on every 7th float:
    //  a double sum then loses what was added before them, so the result
    //  depends on the order of the fold (an arrival-order fold would show)
    r->samples [3] = r->samples [8] = 100;
    for (size_t i = 0; i < r->global->size; i += 7) {
        r->update [3]->data [i] += 0x1p60f;
        r->update [8]->data [i] -= 0x1p60f;
    }
}

static void
s_free_round (s_round_t *r)
{
    fg_state_destroy (&r->global);
    for (uint32_t s = 0; s < NSHARDS; s++)
        fg_state_destroy (&r->update [s]);
}

//  Aggregates two rounds (the second from the first's result, so
//  momentum carries over) with updates offered in `order`; shards with
//  skip [s] set are never offered. An update over the norm bound is
//  refused (FG_ERANGE) and marked in refused [round][shard]. Returns round
//  2's result.
static fg_state_t *
s_run (const fg_aggregate_params_t *p, s_round_t *rounds, const uint32_t *order,
       const bool *skip, bool refused [2][NSHARDS])
{
    fg_aggregate_t *agg = s_new (p);
    fg_state_t *global = fg_state_dup (rounds [0].global);
    memset (refused, 0, 2 * NSHARDS * sizeof (bool));
    for (int r = 0; r < 2; r++) {
        assert_int_equal (fg_aggregate_begin (agg, global, NSHARDS, NULL), 0);
        for (uint32_t k = 0; k < NSHARDS; k++) {
            uint32_t s = order [k];
            if (skip [s])
                continue;
            fg_state_t *copy = fg_state_dup (rounds [r].update [s]);
            int rc = fg_aggregate_add (agg, s, rounds [r].samples [s], &copy, NULL);
            assert_true (rc == 0 || (rc == FG_ERANGE && p->max_update_ratio > 0));
            refused [r][s] = rc == FG_ERANGE;
        }
        fg_state_destroy (&global);
        global = s_finish (agg);
    }
    fg_aggregate_destroy (&agg);
    return global;
}

static void
test_order_independence (void **state)
{
    (void) state;
    s_round_t rounds [2];
    s_make_round (&rounds [0], 0);
    s_make_round (&rounds [1], 1);

    //  the data is order-sensitive: a float sum in two orders differs
    size_t differ = 0;
    for (size_t i = 0; i < rounds [0].global->size; i++) {
        float up = 0, down = 0;
        for (int s = 0; s < NSHARDS; s++)
            up += rounds [0].update [s]->data [i] * (float) rounds [0].samples [s];
        for (int s = NSHARDS - 1; s >= 0; s--)
            down += rounds [0].update [s]->data [i] * (float) rounds [0].samples [s];
        differ += up != down;
    }
    printf ("# naive float sums differ between two orders in %zu of %zu coordinates\n",
            differ, rounds [0].global->size);
    assert_true (differ > 0);

    //  rule, clip_norm, server_momentum, server_lr, max_update_ratio; the
    //  last two: the relative norm bound refuses the large updates (the
    //  2^60 ones among them), the same ones in every order
    static const struct { int rule; double clip, beta, lr, ratio; } spec [8] = {
        { FG_AGG_FEDAVG, 0, 0, 1, 0 }, { FG_AGG_MEDIAN, 0, 0, 1, 0 },
        { FG_AGG_TRIMMED_MEAN, 0, 0, 1, 0 }, { FG_AGG_FEDAVG, 5, 0, 1, 0 },
        { FG_AGG_FEDAVG, 0, 0.9, 0.7, 0 }, { FG_AGG_TRIMMED_MEAN, 3, 0.5, 1, 0 },
        { FG_AGG_FEDAVG, 0, 0, 1, 10 }, { FG_AGG_MEDIAN, 0, 0.5, 1, 4 }
    };
    fg_aggregate_params_t cases [8];
    for (int c = 0; c < 8; c++) {
        cases [c] = s_params (spec [c].rule);
        cases [c].clip_norm = spec [c].clip;
        cases [c].server_momentum = spec [c].beta;
        cases [c].server_lr = spec [c].lr;
        cases [c].max_update_ratio = spec [c].ratio;
    }
    cases [6].ratio_floor_rms = 0.01;
    bool none [NSHARDS] = { false }, some [NSHARDS] = { false };
    some [0] = some [5] = some [6] = true;          //  deadline round: 3 missing
    for (int c = 0; c < 8; c++)
    for (int missing = 0; missing < 2; missing++) {
        const bool *skip = missing? some: none;
        uint32_t order [NSHARDS];
        for (uint32_t k = 0; k < NSHARDS; k++)
            order [k] = k;
        bool ref_refused [2][NSHARDS], got_refused [2][NSHARDS];
        fg_state_t *ref = s_run (&cases [c], rounds, order, skip, ref_refused);
        size_t nrefused = 0;
        for (int r = 0; r < 2; r++)
            for (int s = 0; s < NSHARDS; s++)
                nrefused += ref_refused [r][s];
        if (cases [c].max_update_ratio > 0) {
            printf ("# case %d (%s): %zu of %d offered updates refused by the bound\n", c,
                    missing? "3 missing": "all shards", nrefused, missing? 18: 24);
            assert_true (nrefused > 0 && nrefused < (missing? 18u: 24u));
            assert_true (ref_refused [0][3] && ref_refused [0][8]);
        }
        else
            assert_int_equal (nrefused, 0);
        char ref_hash [65];
        fg_state_hash (ref, ref_hash);
        //  reversed, then 8 shuffles
        for (int trial = 0; trial < 9; trial++) {
            if (trial == 0)
                for (uint32_t k = 0; k < NSHARDS; k++)
                    order [k] = NSHARDS - 1 - k;
            else {
                fg_rng_t rng;
                fg_rng_init (&rng, 3, FG_RNG_TEST, (uint32_t) c, (uint32_t) trial, 0, 0);
                fg_rng_permutation (&rng, order, NSHARDS);
            }
            fg_state_t *got = s_run (&cases [c], rounds, order, skip, got_refused);
            assert_memory_equal (ref_refused, got_refused, sizeof ref_refused);
            assert_true (fg_state_same_layout (ref, got, NULL));
            assert_memory_equal (ref->data, got->data, ref->size * sizeof (float));
            fg_state_destroy (&got);
        }
        //  and the rule did something: differs from round 0's global
        assert_memory_not_equal (ref->data, rounds [0].global->data, ref->size * sizeof (float));
        fg_state_destroy (&ref);
    }
    s_free_round (&rounds [0]);
    s_free_round (&rounds [1]);
}

//  --------------------------------------------------------------------
//  Hand-computed cases

//  g = 1 everywhere; shard 0 (n = 1) = 2, shard 1 (n = 3) = 4:
//  A = (1 * 1 + 3 * 3) / 4 = 2.5, new = 3.5 in every view, buffers too.
static void
test_fedavg_hand (void **state)
{
    (void) state;
    fg_aggregate_params_t p = s_params (FG_AGG_FEDAVG);
    fg_aggregate_t *agg = s_new (&p);
    fg_state_t *g = s_filled (false, 1), *u0 = s_filled (false, 2), *u1 = s_filled (false, 4);
    assert_int_equal (fg_aggregate_begin (agg, g, 2, NULL), 0);
    s_add (agg, 1, 3, u1);
    assert_int_equal (fg_aggregate_count (agg), 1);
    assert_true (fg_aggregate_has (agg, 1));
    assert_false (fg_aggregate_has (agg, 0));
    s_add (agg, 0, 1, u0);
    fg_state_t *out = s_finish (agg);
    float want [6] = { 3.5f, 3.5f, 3.5f, 3.5f, 3.5f, 3.5f };
    s_expect_values (out, "conv.weight", want);
    s_expect_values (out, "conv.bias", want);
    s_expect_values (out, "bn.running_mean", want);
    s_expect_values (out, "bn.running_var", want);
    assert_int_equal (fg_aggregate_count (agg), 0);
    assert_null (fg_aggregate_momentum (agg));
    fg_state_destroy (&out);

    //  one update alone gives exactly that update; server_lr 0.5 halves
    //  the step of PARAM views only
    assert_int_equal (fg_aggregate_begin (agg, g, 5, NULL), 0);
    s_add (agg, 4, 17, u1);
    out = s_finish (agg);
    assert_memory_equal (out->data, u1->data, u1->size * sizeof (float));
    fg_state_destroy (&out);
    fg_aggregate_destroy (&agg);
    p.server_lr = 0.5;
    agg = s_new (&p);
    assert_int_equal (fg_aggregate_begin (agg, g, 1, NULL), 0);
    s_add (agg, 0, 1, u1);
    out = s_finish (agg);
    float half [6] = { 2.5f, 2.5f, 2.5f, 2.5f, 2.5f, 2.5f }, full [2] = { 4, 4 };
    s_expect_values (out, "conv.weight", half);
    s_expect_values (out, "bn.running_var", full);
    fg_state_destroy (&out);
    fg_aggregate_destroy (&agg);
    fg_state_destroy (&g);
    fg_state_destroy (&u0);
    fg_state_destroy (&u1);
}

//  Per-coordinate values v [k] for update k at every float of the state.
static fg_aggregate_t *
s_coordinate_round (int rule, double trim, const float *v, size_t n, const uint64_t *samples)
{
    fg_aggregate_params_t p = s_params (rule);
    p.trim_fraction = trim;
    fg_aggregate_t *agg = s_new (&p);
    fg_state_t *g = s_filled (false, 0);
    assert_int_equal (fg_aggregate_begin (agg, g, (uint32_t) n, NULL), 0);
    for (size_t k = 0; k < n; k++) {
        fg_state_t *u = s_filled (false, v [k]);
        s_add (agg, (uint32_t) (n - 1 - k), samples [k], u);
        fg_state_destroy (&u);
    }
    fg_state_destroy (&g);
    return agg;
}

static float
s_first (fg_aggregate_t *agg)
{
    fg_state_t *out = s_finish (agg);
    float x = out->data [0];
    for (size_t i = 1; i < out->size; i++)
        assert_true (out->data [i] == x);
    fg_state_destroy (&out);
    return x;
}

static void
test_median_hand (void **state)
{
    (void) state;
    uint64_t ones [5] = { 1, 1, 1, 1, 1 }, skewed [5] = { 1000, 1, 1, 1, 1 };
    float odd [3] = { 1, -2, 7 }, even [4] = { 1, 100, 3, 2 };
    fg_aggregate_t *agg = s_coordinate_round (FG_AGG_MEDIAN, 0, odd, 3, ones);
    assert_true (s_first (agg) == 1.0f);
    fg_aggregate_destroy (&agg);
    agg = s_coordinate_round (FG_AGG_MEDIAN, 0, even, 4, ones);
    assert_true (s_first (agg) == 2.5f);
    fg_aggregate_destroy (&agg);
    //  unweighted: a huge sample count does not move the median
    agg = s_coordinate_round (FG_AGG_MEDIAN, 0, even, 4, skewed);
    assert_true (s_first (agg) == 2.5f);
    fg_aggregate_destroy (&agg);
}

static void
test_trimmed_mean_hand (void **state)
{
    (void) state;
    uint64_t ones [5] = { 1, 1, 1, 1, 1 };
    float v [5] = { 1000, 1, -100, 3, 2 };
    //  trim 0.2 of 5: one from each end -> mean (1, 2, 3) = 2
    fg_aggregate_t *agg = s_coordinate_round (FG_AGG_TRIMMED_MEAN, 0.2, v, 5, ones);
    assert_true (s_first (agg) == 2.0f);
    fg_aggregate_destroy (&agg);
    //  trim 0.1 of 5: floor (0.5) = 0 -> plain mean 906 / 5
    agg = s_coordinate_round (FG_AGG_TRIMMED_MEAN, 0.1, v, 5, ones);
    assert_true (s_first (agg) == (float) (906.0 / 5));
    fg_aggregate_destroy (&agg);
    //  trim 0.49 of 5: two from each end -> the median
    agg = s_coordinate_round (FG_AGG_TRIMMED_MEAN, 0.49, v, 5, ones);
    assert_true (s_first (agg) == 2.0f);
    fg_aggregate_destroy (&agg);
}

//  clip_norm 1; delta over PARAM views = (3, 4, 0, ...), norm 5: the
//  update is pulled toward the global state by the factor 1/5, every view
//  alike (the buffer's delta 10 becomes 2), but only PARAM views count in
//  the norm.
static void
test_clipping_hand (void **state)
{
    (void) state;
    fg_aggregate_params_t p = s_params (FG_AGG_FEDAVG);
    p.clip_norm = 1;
    fg_aggregate_t *agg = s_new (&p);
    fg_state_t *g = s_filled (false, 0), *u = s_filled (false, 0);
    u->data [0] = 3;
    u->data [1] = 4;
    const fg_tensor_view_t *bn = fg_state_find (u, "bn.running_var");
    u->data [bn->offset] = 10;
    double norm = 0;
    assert_int_equal (fg_aggregate_validate (g, u, 0, NULL, &norm, NULL), 0);
    assert_true (norm == 5.0);                      //  the buffer's 10 is not in it
    assert_int_equal (fg_aggregate_begin (agg, g, 1, NULL), 0);
    s_add (agg, 0, 1, u);
    fg_state_t *out = s_finish (agg);
    float w [6] = { 0.6f, 0.8f, 0, 0, 0, 0 }, var [2] = { 2, 0 };
    s_expect_values (out, "conv.weight", w);
    s_expect_values (out, "bn.running_var", var);
    fg_state_destroy (&out);
    //  below the bound: untouched
    assert_int_equal (fg_aggregate_begin (agg, g, 1, NULL), 0);
    u->data [0] = 0.3f;
    u->data [1] = 0.4f;
    s_add (agg, 0, 1, u);
    out = s_finish (agg);
    assert_memory_equal (out->data, u->data, u->size * sizeof (float));
    fg_state_destroy (&out);
    fg_aggregate_destroy (&agg);
    fg_state_destroy (&g);
    fg_state_destroy (&u);
}

//  FedAvgM, beta 0.9, server_lr 1:
//  round 1: g = 0, update 1 -> A = 1, v = -1, new = 0 - (-1) = 1;
//  round 2: g = 1, update 1.5 -> A = 0.5, v = 0.9 * -1 - 0.5 = -1.4,
//           new = 1 - (-1.4) = 2.4. Buffers: g + A (1, then 1.5).
//  A checkpointed buffer restored in a new aggregator gives the same bits.
static void
test_fedavgm_hand (void **state)
{
    (void) state;
    fg_aggregate_params_t p = s_params (FG_AGG_FEDAVG);
    p.server_momentum = 0.9;
    fg_aggregate_t *agg = s_new (&p);
    assert_null (fg_aggregate_momentum (agg));
    fg_state_t *g0 = s_filled (false, 0), *u1 = s_filled (false, 1), *u2 = s_filled (false, 1.5f);
    assert_int_equal (fg_aggregate_begin (agg, g0, 1, NULL), 0);
    s_add (agg, 0, 10, u1);
    fg_state_t *g1 = s_finish (agg);
    float one [6] = { 1, 1, 1, 1, 1, 1 }, minus1 [6] = { -1, -1, -1, -1, -1, -1 }, zero [2] = { 0, 0 };
    s_expect_values (g1, "conv.weight", one);
    s_expect_values (g1, "bn.running_mean", one);
    s_expect_values (fg_aggregate_momentum (agg), "conv.weight", minus1);
    s_expect_values (fg_aggregate_momentum (agg), "bn.running_mean", zero);
    fg_state_t *saved = fg_state_dup (fg_aggregate_momentum (agg));

    assert_int_equal (fg_aggregate_begin (agg, g1, 1, NULL), 0);
    s_add (agg, 0, 10, u2);
    fg_state_t *g2 = s_finish (agg);
    float v2 = (float) (0.9 * -1.0 - 0.5);
    float n2 = (float) (1.0 - (double) v2);
    float wv [6] = { v2, v2, v2, v2, v2, v2 }, wn [6] = { n2, n2, n2, n2, n2, n2 };
    float buf [2] = { 1.5f, 1.5f };
    s_expect_values (fg_aggregate_momentum (agg), "conv.weight", wv);
    s_expect_values (g2, "conv.weight", wn);
    s_expect_values (g2, "bn.running_var", buf);
    assert_true (fabsf (n2 - 2.4f) < 1e-6f);

    //  resume from the checkpoint: same round 2, same bits
    fg_aggregate_t *again = s_new (&p);
    assert_int_equal (fg_aggregate_set_momentum (again, saved, NULL), 0);
    assert_int_equal (fg_aggregate_begin (again, g1, 1, NULL), 0);
    s_add (again, 0, 10, u2);
    fg_state_t *g2b = s_finish (again);
    assert_memory_equal (g2->data, g2b->data, g2->size * sizeof (float));
    assert_memory_equal (fg_aggregate_momentum (agg)->data, fg_aggregate_momentum (again)->data,
                         g2->size * sizeof (float));
    //  ... and without the restored buffer the result differs
    fg_aggregate_t *fresh = s_new (&p);
    assert_int_equal (fg_aggregate_begin (fresh, g1, 1, NULL), 0);
    s_add (fresh, 0, 10, u2);
    fg_state_t *g2c = s_finish (fresh);
    assert_memory_not_equal (g2->data, g2c->data, g2->size * sizeof (float));

    fg_state_destroy (&g2c);
    fg_state_destroy (&g2b);
    fg_aggregate_destroy (&fresh);
    fg_aggregate_destroy (&again);
    fg_state_destroy (&saved);
    fg_state_destroy (&g0);
    fg_state_destroy (&g1);
    fg_state_destroy (&g2);
    fg_state_destroy (&u1);
    fg_state_destroy (&u2);
    fg_aggregate_destroy (&agg);
}

//  --------------------------------------------------------------------
//  Rejections

static void
s_expect_add_fails (fg_aggregate_t *agg, uint32_t shard, uint64_t samples, fg_state_t *update,
                    int code, const char *needle1, const char *needle2)
{
    fg_error_t err = { 0 };
    fg_state_t *u = update;
    assert_int_equal (fg_aggregate_add (agg, shard, samples, &u, &err), code);
    assert_null (u);                                //  consumed even when refused
    if (!strstr (err.msg, needle1) || (needle2 && !strstr (err.msg, needle2)))
        fprintf (stderr, "message '%s' lacks '%s' or '%s'\n", err.msg, needle1,
                 needle2? needle2: "");
    assert_non_null (strstr (err.msg, needle1));
    if (needle2)
        assert_non_null (strstr (err.msg, needle2));
}

static void
test_rejections (void **state)
{
    (void) state;
    fg_aggregate_params_t p = s_params (FG_AGG_FEDAVG);
    p.max_update_norm = 10;
    fg_aggregate_t *agg = s_new (&p);
    fg_state_t *g = s_filled (false, 0), *good = s_filled (false, 1), *bad;
    fg_error_t err = { 0 };

    //  outside a round
    s_expect_add_fails (agg, 0, 1, fg_state_dup (good), FG_ESTATE, "outside a round", NULL);
    fg_state_t *out = NULL;
    assert_int_equal (fg_aggregate_finish (agg, &out, &err), FG_ESTATE);
    assert_null (out);
    assert_int_equal (fg_aggregate_begin (agg, g, 0, &err), FG_EINVAL);

    assert_int_equal (fg_aggregate_begin (agg, g, 4, NULL), 0);
    assert_int_equal (fg_aggregate_finish (agg, &out, &err), FG_ESTATE);
    assert_non_null (strstr (err.msg, "no update"));
    s_expect_add_fails (agg, 4, 1, fg_state_dup (good), FG_EINVAL, "shard 4", "only 4 shards");
    s_expect_add_fails (agg, 1, 0, fg_state_dup (good), FG_EINVAL, "shard 1", "sample count 0");
    s_expect_add_fails (agg, 1, 1, NULL, FG_EINVAL, "shard 1", "missing");

    //  NaN and Inf name the shard, the tensor and the element
    bad = fg_state_dup (good);
    bad->data [fg_state_find (bad, "conv.bias")->offset + 1] = NAN;
    s_expect_add_fails (agg, 2, 5, bad, FG_ENUMERIC, "shard 2", "'conv.bias' element 1 is NaN");
    bad = fg_state_dup (good);
    bad->data [fg_state_find (bad, "bn.running_var")->offset] = -INFINITY;
    s_expect_add_fails (agg, 3, 5, bad, FG_ENUMERIC, "shard 3", "'bn.running_var' element 0 is infinite");

    //  layout: another shape, another name, one tensor more
    bad = fg_state_new ();
    uint64_t w [2] = { 3, 2 }, b [1] = { 2 };
    fg_state_add (bad, "conv.weight", FG_TENSOR_PARAM, 2, w, NULL);
    fg_state_add (bad, "conv.bias", FG_TENSOR_PARAM, 1, b, NULL);
    fg_state_add (bad, "bn.running_mean", FG_TENSOR_BUFFER, 1, b, NULL);
    fg_state_add (bad, "bn.running_var", FG_TENSOR_BUFFER, 1, b, NULL);
    s_expect_add_fails (agg, 1, 5, bad, FG_EMISMATCH, "shard 1", "conv.weight");
    bad = fg_state_new ();
    uint64_t w2 [2] = { 2, 3 };
    fg_state_add (bad, "conv.weight", FG_TENSOR_PARAM, 2, w2, NULL);
    fg_state_add (bad, "conv.bias", FG_TENSOR_PARAM, 1, b, NULL);
    fg_state_add (bad, "bn.mean", FG_TENSOR_BUFFER, 1, b, NULL);
    fg_state_add (bad, "bn.running_var", FG_TENSOR_BUFFER, 1, b, NULL);
    s_expect_add_fails (agg, 1, 5, bad, FG_EMISMATCH, "shard 1", "bn.mean");
    bad = s_model (true);
    s_expect_add_fails (agg, 1, 5, bad, FG_EMISMATCH, "shard 1", NULL);

    //  norm above the bound: delta (11, 0, ...) in conv.bias
    bad = s_filled (false, 0);
    bad->data [fg_state_find (bad, "conv.bias")->offset] = 11;
    s_expect_add_fails (agg, 0, 5, bad, FG_ERANGE, "shard 0", "'conv.bias'");
    double norm = 0;
    bad = s_filled (false, 0);
    bad->data [fg_state_find (bad, "conv.bias")->offset] = 11;
    assert_int_equal (fg_aggregate_validate (g, bad, 0, &p, &norm, &err), FG_ERANGE);
    assert_true (norm == 11.0);
    assert_non_null (strstr (err.msg, "aggregation.max_update_norm"));
    assert_int_equal (fg_aggregate_validate (g, bad, 0, NULL, &norm, &err), 0);   //  no bound
    fg_state_destroy (&bad);

    //  none of that touched the round: accept one, a duplicate is refused
    assert_int_equal (fg_aggregate_count (agg), 0);
    s_add (agg, 2, 3, good);
    s_expect_add_fails (agg, 2, 3, fg_state_dup (good), FG_EEXIST, "shard 2", "already");
    out = s_finish (agg);
    assert_memory_equal (out->data, good->data, good->size * sizeof (float));
    fg_state_destroy (&out);

    //  a global state with a NaN is refused
    fg_state_t *gnan = fg_state_dup (g);
    gnan->data [3] = NAN;
    assert_int_equal (fg_aggregate_begin (agg, gnan, 2, &err), FG_ENUMERIC);
    fg_state_destroy (&gnan);

    //  momentum: not configured here
    assert_int_equal (fg_aggregate_set_momentum (agg, g, &err), FG_ESTATE);
    fg_aggregate_destroy (&agg);
    fg_aggregate_destroy (&agg);                   //  NULL-safe
    assert_null (agg);

    //  momentum buffer of another layout
    p = s_params (FG_AGG_FEDAVG);
    p.server_momentum = 0.5;
    agg = s_new (&p);
    fg_state_t *wide = s_filled (true, 0);
    assert_int_equal (fg_aggregate_set_momentum (agg, wide, NULL), 0);
    assert_int_equal (fg_aggregate_begin (agg, g, 2, &err), FG_EMISMATCH);
    assert_non_null (strstr (err.msg, "momentum"));
    assert_int_equal (fg_aggregate_begin (agg, wide, 2, NULL), 0);
    assert_int_equal (fg_aggregate_set_momentum (agg, g, &err), FG_EMISMATCH);
    wide->data [0] = INFINITY;
    assert_int_equal (fg_aggregate_set_momentum (agg, wide, &err), FG_ENUMERIC);
    fg_state_destroy (&wide);
    fg_aggregate_destroy (&agg);

    fg_state_destroy (&g);
    fg_state_destroy (&good);
}

//  --------------------------------------------------------------------
//  The norm bound: max_update_ratio x max (|global|, floor), max_update_norm

//  Offers u as shard 0 of a one-shard round over g; returns add's code and
//  leaves the message in err.
static int
s_offer (const fg_aggregate_params_t *p, const fg_state_t *g, const fg_state_t *u,
         fg_error_t *err)
{
    fg_aggregate_t *agg = s_new (p);
    assert_int_equal (fg_aggregate_begin (agg, g, 1, NULL), 0);
    fg_state_t *copy = fg_state_dup (u);
    int rc = fg_aggregate_add (agg, 0, 1, &copy, err);
    fg_aggregate_destroy (&agg);
    return rc;
}

//  By hand on the wide model: 4104 PARAM values (conv.weight 6, conv.bias
//  2, fc.weight 4096) and 4 BUFFER values.
static void
test_bound_arithmetic (void **state)
{
    (void) state;
    fg_aggregate_params_t p = s_params (FG_AGG_FEDAVG);
    double gnorm = -1;
    fg_state_t *g = s_filled (true, 0);
    //  both off: no bound
    assert_true (fg_aggregate_bound (&p, g, &gnorm) == INFINITY);
    assert_true (gnorm == 0);

    //  zero weights: the floor, 0.01 x sqrt (4104), whatever the buffers hold
    p.max_update_ratio = 10;
    p.ratio_floor_rms = 0.01;
    double floor = 0.01 * sqrt (4104.0);
    assert_true (fg_aggregate_bound (&p, g, &gnorm) == 10 * floor);
    g->data [fg_state_find (g, "bn.running_var")->offset] = 1e6f;
    assert_true (fg_aggregate_bound (&p, g, &gnorm) == 10 * floor);
    assert_true (gnorm == 0);

    //  weights of norm 5 in one tensor, the others zero: 10 x 5 = 50 (the
    //  floor, 0.64, is below)
    g->data [0] = 3;
    g->data [1] = 4;
    assert_true (fg_aggregate_bound (&p, g, &gnorm) == 50);
    assert_true (gnorm == 5);

    //  at the bound passes, a hair above is refused naming the shard, the
    //  norm, the bound, the tensor and the key
    fg_state_t *u = fg_state_dup (g);
    const fg_tensor_view_t *fc = fg_state_find (u, "fc.weight");
    u->data [fc->offset] = 30;
    u->data [fc->offset + 1] = 40;                  //  |delta| = 50 exactly
    fg_error_t err = { 0 };
    assert_int_equal (s_offer (&p, g, u, &err), 0);
    u->data [fc->offset + 1] = nextafterf (40, 41);
    assert_int_equal (s_offer (&p, g, u, &err), FG_ERANGE);
    assert_non_null (strstr (err.msg, "shard 0: norm 50"));
    assert_non_null (strstr (err.msg, "exceeds the bound 50 = aggregation.max_update_ratio 10 "
                                      "x max (global norm 5, floor 0.64"));
    assert_non_null (strstr (err.msg, "'fc.weight'"));
    assert_non_null (strstr (err.msg, "raise aggregation.max_update_ratio (0: off)"));
    //  buffers are not in the norm: a large running statistic passes
    u->data [fc->offset + 1] = 40;
    u->data [fg_state_find (u, "bn.running_mean")->offset] = 1e6f;
    assert_int_equal (s_offer (&p, g, u, &err), 0);

    //  max_update_norm below the relative bound sets it, and is named
    p.max_update_norm = 20;
    assert_true (fg_aggregate_bound (&p, g, NULL) == 20);
    assert_int_equal (s_offer (&p, g, u, &err), FG_ERANGE);
    assert_non_null (strstr (err.msg, "exceeds the bound 20 = aggregation.max_update_norm"));
    p.max_update_norm = 100;
    assert_true (fg_aggregate_bound (&p, g, NULL) == 50);
    p.max_update_ratio = 0;
    assert_true (fg_aggregate_bound (&p, g, NULL) == 100);
    assert_int_equal (s_offer (&p, g, u, &err), 0);

    //  no floor over zero weights: only a zero delta passes
    p = s_params (FG_AGG_FEDAVG);
    p.max_update_ratio = 10;
    fg_state_destroy (&g);
    fg_state_destroy (&u);
    g = s_filled (true, 0);
    u = s_filled (true, 0);
    assert_true (fg_aggregate_bound (&p, g, NULL) == 0);
    assert_int_equal (s_offer (&p, g, u, &err), 0);
    u->data [fg_state_find (u, "fc.weight")->offset + 7] = 1e-30f;
    assert_int_equal (s_offer (&p, g, u, &err), FG_ERANGE);
    fg_state_destroy (&g);
    fg_state_destroy (&u);
}

//  A real model's initial weights as the global state, with the default
//  configuration: the poisoned update (+1000 on every value) is refused;
//  updates just under the default bound pass, just over it are refused.
static void
s_check_model (const fg_aggregate_params_t *p, fg_model_spec_t spec)
{
    fg_error_t err = { 0 };
    fg_model_t *model = fg_model_new (&spec, &err);
    assert_non_null (model);
    fg_model_init (model, 1);
    const fg_state_t *g = fg_model_state (model);
    double gnorm = 0, bound = fg_aggregate_bound (p, g, &gnorm);
    fg_state_t *u = fg_state_dup (g);
    for (size_t i = 0; i < u->size; i++)
        u->data [i] += 1000;
    double norm = 0;
    assert_int_equal (fg_aggregate_validate (g, u, 3, p, &norm, &err), FG_ERANGE);
    printf ("# %s: global norm %.4g, bound %.4g; +1000 update: norm %.4g refused\n",
            fg_model_kind_name (spec.kind), gnorm, bound, norm);
    assert_non_null (strstr (err.msg, "update of shard 3: norm"));
    assert_non_null (strstr (err.msg, "aggregation.max_update_ratio"));
    assert_int_equal (s_offer (p, g, u, &err), FG_ERANGE);

    //  a random direction scaled to a share of the bound (the buffers move
    //  too, as batch norm's running statistics do, and are not counted)
    fg_rng_t rng;
    fg_rng_init (&rng, 5, FG_RNG_TEST, (uint32_t) spec.kind, 0, 0, 0);
    double *dir = malloc (g->size * sizeof *dir), sum = 0;
    assert_non_null (dir);
    for (size_t i = 0; i < g->size; i++)
        dir [i] = fg_rng_normal (&rng);
    for (size_t v = 0; v < g->nviews; v++)
        if (g->views [v].kind == FG_TENSOR_PARAM)
            for (uint64_t i = 0; i < g->views [v].count; i++)
                sum += dir [g->views [v].offset + i] * dir [g->views [v].offset + i];
    double shares [2] = { 0.999, 1.001 };
    for (int k = 0; k < 2; k++) {
        double scale = shares [k] * bound / sqrt (sum);
        for (size_t i = 0; i < g->size; i++)
            u->data [i] = (float) ((double) g->data [i] + scale * dir [i]);
        assert_int_equal (fg_aggregate_validate (g, u, 0, NULL, &norm, NULL), 0);
        assert_true (k == 0? norm < bound: norm > bound);
        assert_int_equal (s_offer (p, g, u, &err), k == 0? 0: FG_ERANGE);
    }
    free (dir);
    fg_state_destroy (&u);
    fg_model_destroy (&model);
}

static void
test_poisoned_default (void **state)
{
    (void) state;
    fg_config_t cfg;
    fg_config_defaults (&cfg);
    fg_aggregate_params_t p;
    fg_aggregate_params_from_config (&p, &cfg);
    assert_true (p.max_update_norm == 0 && p.max_update_ratio > 0 && p.ratio_floor_rms > 0);
    //  every preset keeps the bound on
    const char *name;
    for (size_t i = 0; (name = fg_config_preset_name (i, NULL)); i++) {
        fg_config_t preset;
        assert_int_equal (fg_config_preset (&preset, name, NULL), 0);
        assert_true (preset.aggregation.max_update_ratio == cfg.aggregation.max_update_ratio);
    }
    s_check_model (&p, (fg_model_spec_t) { FG_MODEL_CNN_SMALL, 10, 28, 28, 1 });
    s_check_model (&p, (fg_model_spec_t) { FG_MODEL_VGG16_BN, 10, 32, 32, 3 });
    s_check_model (&p, (fg_model_spec_t) { FG_MODEL_MOBILENETV3_LARGE, 200, 64, 64, 3 });
}

static void
s_expect_new_fails (fg_aggregate_params_t p, const char *needle)
{
    fg_error_t err = { 0 };
    assert_null (fg_aggregate_new (&p, &err));
    assert_int_equal (err.code, FG_EINVAL);
    assert_non_null (strstr (err.msg, needle));
}

static void
test_params (void **state)
{
    (void) state;
    fg_aggregate_params_t p;
    p = s_params (FG_AGG_FEDAVG); p.rule = 3;
    s_expect_new_fails (p, "aggregation.rule");
    p = s_params (FG_AGG_TRIMMED_MEAN); p.trim_fraction = 0.5;
    s_expect_new_fails (p, "aggregation.trim_fraction");
    p = s_params (FG_AGG_TRIMMED_MEAN); p.trim_fraction = -0.1;
    s_expect_new_fails (p, "aggregation.trim_fraction");
    p = s_params (FG_AGG_FEDAVG); p.clip_norm = -1;
    s_expect_new_fails (p, "aggregation.clip_norm");
    p = s_params (FG_AGG_FEDAVG); p.max_update_norm = INFINITY;
    s_expect_new_fails (p, "aggregation.max_update_norm");
    p = s_params (FG_AGG_FEDAVG); p.max_update_ratio = -1;
    s_expect_new_fails (p, "aggregation.max_update_ratio");
    p = s_params (FG_AGG_FEDAVG); p.max_update_ratio = INFINITY;
    s_expect_new_fails (p, "aggregation.max_update_ratio");
    p = s_params (FG_AGG_FEDAVG); p.ratio_floor_rms = NAN;
    s_expect_new_fails (p, "aggregation.ratio_floor_rms");
    p = s_params (FG_AGG_FEDAVG); p.server_lr = 0;
    s_expect_new_fails (p, "aggregation.server_lr");
    p = s_params (FG_AGG_FEDAVG); p.server_lr = NAN;
    s_expect_new_fails (p, "aggregation.server_lr");
    p = s_params (FG_AGG_FEDAVG); p.server_momentum = 1;
    s_expect_new_fails (p, "aggregation.server_momentum");

    fg_config_t cfg;
    memset (&cfg, 0, sizeof cfg);
    cfg.aggregation.rule = FG_AGG_MEDIAN;
    cfg.aggregation.trim_fraction = 0.1;
    cfg.aggregation.clip_norm = 2;
    cfg.aggregation.max_update_norm = 50;
    cfg.aggregation.max_update_ratio = 7;
    cfg.aggregation.ratio_floor_rms = 0.02;
    cfg.aggregation.server_lr = 0.8;
    cfg.aggregation.server_momentum = 0.3;
    assert_int_equal (fg_aggregate_params_from_config (&p, &cfg), 0);
    assert_int_equal (p.rule, FG_AGG_MEDIAN);
    assert_true (p.trim_fraction == 0.1 && p.clip_norm == 2 && p.max_update_norm == 50
              && p.server_lr == 0.8 && p.server_momentum == 0.3 && p.max_update_ratio == 7
              && p.ratio_floor_rms == 0.02);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_order_independence),
        cmocka_unit_test (test_fedavg_hand),
        cmocka_unit_test (test_median_hand),
        cmocka_unit_test (test_trimmed_mean_hand),
        cmocka_unit_test (test_clipping_hand),
        cmocka_unit_test (test_fedavgm_hand),
        cmocka_unit_test (test_rejections),
        cmocka_unit_test (test_bound_arithmetic),
        cmocka_unit_test (test_poisoned_default),
        cmocka_unit_test (test_params),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
