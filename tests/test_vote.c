/*  test_vote.c — the coordinator's replication choices that need no
    sockets: which units the spot check picks (exact: a function of
    (seed, round, shard) only), how many copies each unit wants and how
    many must agree, that no node number computes a unit twice, and when
    a unit needs one more copy. The votes themselves are tested with real
    processes in tests/test_replication.sh.                               */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "fg_coordinator_internal.h"

static void
test_spot_check_is_exact_and_fair (void **state)
{
    unsigned picked = 0, total = 0;
    for (uint32_t round = 1; round <= 50; round++)
        for (uint32_t shard = 0; shard < 100; shard++) {
            bool a = fg_coord_spot_checked (7, round, shard, 0.1);
            assert_int_equal (a, fg_coord_spot_checked (7, round, shard, 0.1));
            //  a larger p picks a superset: the draw is the same number
            if (a)
                assert_true (fg_coord_spot_checked (7, round, shard, 0.5));
            assert_false (fg_coord_spot_checked (7, round, shard, 0));
            assert_true (fg_coord_spot_checked (7, round, shard, 1));
            picked += a;
            total++;
        }
    assert_in_range (picked, total / 10 - 100, total / 10 + 100);     //  5000 draws, p = 0.1
    //  another seed picks other units
    unsigned same = 0;
    for (uint32_t shard = 0; shard < 1000; shard++)
        same += fg_coord_spot_checked (7, 1, shard, 0.5) == fg_coord_spot_checked (8, 1, shard, 0.5);
    assert_in_range (same, 400, 600);
}

static fg_coord_t *
s_coord (int64_t replication, double spot_check, uint32_t nshards)
{
    fg_coord_t *self = calloc (1, sizeof *self);
    assert_non_null (self);
    fg_config_defaults (&self->cfg);
    self->cfg.grid.replication = replication;
    self->cfg.grid.spot_check = spot_check;
    self->round = 3;
    self->nshards = nshards;
    self->units = calloc (nshards, sizeof (fg_coord_unit_t));
    assert_non_null (self->units);
    fg_coord_votes_begin (self);
    return self;
}

static void
s_coord_free (fg_coord_t **self_p)
{
    fg_coord_votes_free (*self_p);
    free ((*self_p)->units);
    free ((*self_p)->nodes);
    free (*self_p);
    *self_p = NULL;
}

static void
test_copies_wanted_and_majority (void **state)
{
    struct { int64_t r; uint32_t want, need; } cases [] = { { 1, 1, 1 }, { 2, 2, 2 }, { 3, 3, 2 } };
    for (size_t i = 0; i < 3; i++) {
        fg_coord_t *self = s_coord (cases [i].r, 0, 8);
        for (uint32_t s = 0; s < 8; s++) {
            assert_int_equal (self->units [s].want, cases [i].want);
            assert_int_equal (self->units [s].need, cases [i].need);
            assert_false (self->units [s].checked);
        }
        s_coord_free (&self);
    }
    //  spot checks: the picked units of replication 1 want two agreeing copies
    fg_coord_t *self = s_coord (1, 0.3, 200);
    unsigned checked = 0;
    for (uint32_t s = 0; s < 200; s++) {
        const fg_coord_unit_t *unit = &self->units [s];
        bool picked = fg_coord_spot_checked ((uint64_t) self->cfg.experiment.seed, 3, s, 0.3);
        assert_int_equal (unit->checked, picked);
        assert_int_equal (unit->want, picked? 2: 1);
        assert_int_equal (unit->need, picked? 2: 1);
        checked += picked;
    }
    assert_in_range (checked, 30, 90);
    s_coord_free (&self);
    //  replication 2 or 3 has no spot checks: every unit is replicated
    self = s_coord (2, 1.0, 4);
    assert_false (self->units [0].checked);
    s_coord_free (&self);
}

static void
test_distinct_nodes (void **state)
{
    fg_coord_t *self = s_coord (2, 0, 2);
    fg_coord_node_t a, b, a2;
    memset (&a, 0, sizeof a);
    memset (&b, 0, sizeof b);
    a.number = 1;
    b.number = 2;
    a2 = a;                             //  a second connection of node 1
    fg_coord_node_t *nodes [3] = { &a, &b, &a2 };
    self->nodes = malloc (sizeof nodes);
    memcpy (self->nodes, nodes, sizeof nodes);
    self->nnodes = 3;
    assert_true (fg_coord_may_take (self, &a, 0));
    //  node 1 runs shard 0 on one connection: not on its other one
    a.busy = true;
    a.shard = 0;
    a.r_round = self->round;
    assert_false (fg_coord_may_take (self, &a2, 0));
    assert_true (fg_coord_may_take (self, &a2, 1));
    assert_true (fg_coord_may_take (self, &b, 0));
    //  node 1 voted on shard 0: never again on it, whatever its connection
    a.busy = false;
    fg_coord_unit_t *unit = &self->units [0];
    unit->votes [0].node = 1;
    unit->nvotes = 1;
    assert_false (fg_coord_may_take (self, &a, 0));
    assert_false (fg_coord_may_take (self, &a2, 0));
    assert_true (fg_coord_may_take (self, &b, 0));
    s_coord_free (&self);
}

static void
test_pending_until_enough_copies (void **state)
{
    fg_coord_t *self = s_coord (2, 0, 1);
    fg_coord_unit_t *unit = &self->units [0];
    fg_coord_unit_refresh (unit);
    assert_int_equal (unit->state, FG_COORD_UNIT_PENDING);
    unit->copies = 1;
    fg_coord_unit_refresh (unit);
    assert_int_equal (unit->state, FG_COORD_UNIT_PENDING);     //  wants a second copy
    unit->copies = 2;
    fg_coord_unit_refresh (unit);
    assert_int_equal (unit->state, FG_COORD_UNIT_RUNNING);
    //  one result in, one copy running
    unit->copies = 1;
    unit->nvotes = 1;
    fg_coord_unit_refresh (unit);
    assert_int_equal (unit->state, FG_COORD_UNIT_RUNNING);
    //  that copy's node died: pending again
    unit->copies = 0;
    fg_coord_unit_refresh (unit);
    assert_int_equal (unit->state, FG_COORD_UNIT_PENDING);
    //  two results that disagree ask for a third (fg_coord_vote raises want)
    unit->nvotes = 2;
    unit->want = 3;
    fg_coord_unit_refresh (unit);
    assert_int_equal (unit->state, FG_COORD_UNIT_PENDING);
    //  decided units stay decided
    unit->state = FG_COORD_UNIT_LEFT_OUT;
    fg_coord_unit_refresh (unit);
    assert_int_equal (unit->state, FG_COORD_UNIT_LEFT_OUT);
    unit->nvotes = 0;
    s_coord_free (&self);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_spot_check_is_exact_and_fair),
        cmocka_unit_test (test_copies_wanted_and_majority),
        cmocka_unit_test (test_distinct_nodes),
        cmocka_unit_test (test_pending_until_enough_copies),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
