/*  fg_coord_vote.c — replication and validation of units' results.

    fedgrid's arithmetic is bit-exact: honest nodes that compute the same
    unit send the same update, byte for byte. So a unit is computed by
    R = grid.replication distinct nodes (distinct node numbers: two
    connections of one node id are one node) and their results compared
    by digest — SHA-256 of the update's SHA-256, the sample count and the
    local loss curve. A unit is accepted when `need` results agree
    (R / 2 + 1: 1 of 1, 2 of 2, 2 of 3); while they disagree another copy
    goes to another node, up to FG_COORD_VOTES_MAX copies.

    Order: majority first, then the winner is decoded and validated
    (finite, within the norm bound of docs/aggregation.md), journaled and folded;
    nodes whose result lost get a strike. A lone result refused by
    validation (need 1) is a strike and the unit goes to another node,
    never to the same one again. A result that two or more nodes agree on
    and that fails validation has no honest alternative: the exact policy
    stops with an error naming the unit, the deadline policy leaves the
    unit out of the round and journals why.

    Adaptive replication (R = 1, grid.spot_check = p > 0): the units that
    fg_rng draws below p from (seed, FG_RNG_SPOT_CHECK, round, shard) want
    two copies from the start; so does a unit whose first result comes
    from a node not yet trusted (fg_coord_trusted). Which units got a
    second copy may depend on timing; the committed weights never do:
    under the exact policy a unit's accepted bytes are the majority's,
    which with honest majorities are the calm run's.

    Pending votes live in memory: each distinct digest keeps its first
    blob (at most FG_COORD_VOTES_MAX blobs per unit); only the accepted
    one is journaled. A coordinator restarted mid-vote recomputes the
    unit (honest results are bit-identical, so nothing changes).         */

#include "fg_coordinator_internal.h"
#include "fg_aggregate.h"
#include "fg_blob.h"
#include "fg_crash.h"
#include "fg_le.h"
#include "fg_log.h"
#include "fg_rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

bool
fg_coord_spot_checked (uint64_t seed, uint32_t round, uint32_t shard, double p)
{
    if (!(p > 0))
        return false;
    fg_rng_t rng;
    fg_rng_init (&rng, seed, FG_RNG_SPOT_CHECK, round, shard, 0, 0);
    return fg_rng_uniform_double (&rng) < p;
}

void
fg_coord_votes_begin (fg_coord_t *self)
{
    uint32_t r = (uint32_t) self->cfg.grid.replication;
    for (uint32_t s = 0; s < self->nshards; s++) {
        fg_coord_unit_t *unit = &self->units [s];
        unit->want = r;
        unit->need = r / 2 + 1;
        if (r == 1 && fg_coord_spot_checked ((uint64_t) self->cfg.experiment.seed, self->round,
                                             s, self->cfg.grid.spot_check)) {
            unit->want = unit->need = 2;
            unit->checked = true;
        }
    }
}

static void
s_votes_clear (fg_coord_unit_t *unit)
{
    for (uint32_t i = 0; i < unit->nvotes; i++) {
        free (unit->votes [i].update);
        free (unit->votes [i].loss);
    }
    memset (unit->votes, 0, sizeof unit->votes);
    unit->nvotes = 0;
}

void
fg_coord_votes_free (fg_coord_t *self)
{
    for (uint32_t s = 0; self->units && s < self->nshards; s++)
        s_votes_clear (&self->units [s]);
}

bool
fg_coord_may_take (const fg_coord_t *self, const fg_coord_node_t *node, uint32_t shard)
{
    const fg_coord_unit_t *unit = &self->units [shard];
    for (uint32_t i = 0; i < unit->nvotes; i++)
        if (unit->votes [i].node == node->number)
            return false;
    for (size_t i = 0; i < self->nnodes; i++) {
        const fg_coord_node_t *other = self->nodes [i];
        if (other != node && other->number == node->number && other->busy
        &&  other->shard == shard && other->r_round == self->round)
            return false;
    }
    return true;
}

void
fg_coord_unit_refresh (fg_coord_unit_t *unit)
{
    if (unit->state == FG_COORD_UNIT_DONE || unit->state == FG_COORD_UNIT_LEFT_OUT)
        return;
    unit->state = unit->copies + unit->nvotes < unit->want? FG_COORD_UNIT_PENDING
                                                           : FG_COORD_UNIT_RUNNING;
}

//  What a vote says: the update's SHA-256, the sample count, the losses.
static void
s_digest (const fg_coord_node_t *node, uint8_t digest [FG_SHA256_SIZE])
{
    fg_sha256_t ctx;
    fg_sha256_init (&ctx);
    fg_sha256_update (&ctx, node->update_hash, FG_SHA256_SIZE);
    uint8_t word [8];
    fg_le_put64 (word, node->samples);
    fg_sha256_update (&ctx, word, 8);
    for (uint32_t i = 0; i < node->nloss; i++) {
        uint32_t bits;
        memcpy (&bits, &node->loss [i], 4);
        fg_le_put32 (word, bits);
        fg_sha256_update (&ctx, word, 4);
    }
    fg_sha256_final (&ctx, digest);
}

//  The first vote with digest (the one holding its bytes) and how many agree.
static fg_coord_vote_t *
s_first (fg_coord_unit_t *unit, const uint8_t *digest, uint32_t *count)
{
    fg_coord_vote_t *first = NULL;
    *count = 0;
    for (uint32_t i = 0; i < unit->nvotes; i++)
        if (memcmp (unit->votes [i].digest, digest, FG_SHA256_SIZE) == 0) {
            if (!first)
                first = &unit->votes [i];
            (*count)++;
        }
    return first;
}

//  Decodes and validates the bytes of vote. Returns 0 with *update, or the
//  refusal's code in err.
static int
s_validate (fg_coord_t *self, uint32_t shard, const fg_coord_vote_t *vote, fg_state_t **update,
            fg_error_t *err)
{
    *update = NULL;
    int rc = fg_blob_decode (vote->update, vote->update_size, self->base, update, err);
    fg_aggregate_params_t params;
    fg_aggregate_params_from_config (&params, &self->cfg);
    if (rc == 0)
        rc = fg_aggregate_validate (self->base, *update, shard, &params, NULL, err);
    for (uint32_t i = 0; rc == 0 && i < vote->nloss; i++)
        if (!isfinite (vote->loss [i]))
            rc = fg_error_set (err, FG_ENUMERIC, "local loss %u is not finite", i);
    if (rc)
        fg_state_destroy (update);
    return rc;
}

//  The unit ends without an accepted result: the exact policy stops (set
//  in fatal), the deadline policy leaves it out of the round.
static int
s_give_up (fg_coord_t *self, uint32_t shard, int code, const char *why, fg_error_t *fatal)
{
    fg_coord_unit_t *unit = &self->units [shard];
    if (self->cfg.experiment.policy != FG_POLICY_DEADLINE)
        return fg_error_set (fatal, code, "round %u shard %u: %s; under experiment.policy = "
                             "\"exact\" the run cannot go on without it", self->round, shard, why);
    unit->state = FG_COORD_UNIT_LEFT_OUT;
    fg_coord_event (self, "round %u shard %u left out of the round: %s", self->round, shard, why);
    fg_coord_cancel_copies (self, shard);
    s_votes_clear (unit);
    fg_coord_maybe_fold (self);
    return 0;
}

//  One more copy on another node after a disagreement or a lone invalid
//  result, or no majority within the bound.
static int
s_one_more (fg_coord_t *self, uint32_t shard, fg_error_t *fatal)
{
    fg_coord_unit_t *unit = &self->units [shard];
    if (unit->want >= FG_COORD_VOTES_MAX) {
        char why [256];
        snprintf (why, sizeof why, "no %u of its %u results agree (grid.replication = %lld; "
                  "at most %d copies per unit)", unit->need, unit->nvotes,
                  (long long) self->cfg.grid.replication, FG_COORD_VOTES_MAX);
        return s_give_up (self, shard, FG_EMISMATCH, why, fatal);
    }
    unit->want++;
    fg_coord_event (self, "round %u shard %u: %u results, no %u agree: one more copy on "
                    "another node", self->round, shard, unit->nvotes, unit->need);
    fg_coord_unit_refresh (unit);
    return 0;
}

//  A lone result (need 1) refused by validation: strike, and the unit goes
//  to another node.
static int
s_lone_invalid (fg_coord_t *self, uint32_t shard, fg_coord_node_t *node, fg_coord_vote_t *vote,
                int rc, const fg_error_t *err, fg_error_t *fatal)
{
    vote->invalid = true;
    fg_wire_msg_t about;
    memset (&about, 0, sizeof about);
    about.type = FG_WIRE_RESULT;
    about.round = self->round;
    about.shard = shard;
    about.attempt = vote->attempt;
    fg_coord_send_reject (self, node->routing, &about,
                          rc == FG_ENUMERIC? FG_WIRE_REASON_NUMERIC:
                          rc == FG_EMISMATCH? FG_WIRE_REASON_SHAPE: FG_WIRE_REASON_OTHER, err->msg);
    node->rejected++;
    fg_coord_clients_csv_vote (self, vote, shard, "invalid");
    char why [FG_WIRE_TEXT_MAX + 64];
    snprintf (why, sizeof why, "round %u shard %u: its result was refused: %.200s", self->round,
              shard, err->msg);
    fg_coord_strike (self, node, why);
    return s_one_more (self, shard, fatal);
}

//  The majority's result is valid: journal it, the verdicts, fold it.
static int
s_accept (fg_coord_t *self, uint32_t shard, fg_coord_node_t *node, fg_coord_vote_t *winner,
          uint32_t agreed, fg_state_t *update, fg_error_t *fatal)
{
    fg_coord_unit_t *unit = &self->units [shard];
    fg_journal_update_t record;
    memset (&record, 0, sizeof record);
    record.round = self->round;
    record.shard = shard;
    record.attempt = winner->attempt;
    record.node = winner->node;
    record.samples = winner->samples;
    fg_crash_point ("journal.update.before");
    bool duplicate = false;
    int rc = fg_journal_put_update (self->journal, &record, winner->loss, winner->nloss,
                                    winner->update, winner->update_size, &duplicate, fatal);
    if (rc == FG_EMISMATCH) {
        //  the journal holds another result of this unit
        fg_state_destroy (&update);
        fg_coord_send_reject (self, node->routing, NULL, FG_WIRE_REASON_MISMATCH, fatal->msg);
        fg_coord_event (self, "round %u shard %u: %s", self->round, shard, fatal->msg);
        fg_error_clear (fatal);
        return 0;
    }
    if (rc) {
        fg_state_destroy (&update);
        return rc;                      //  the journal failed: stop, resume later
    }
    fg_crash_point ("journal.update.after");
    fg_coord_unit_done (self, shard, winner->hash, winner->node, winner->attempt, winner->samples,
                        winner->nloss? (double) winner->loss [winner->nloss - 1]: 0);
    unit->agreed = agreed;
    for (uint32_t i = 0; i < unit->nvotes; i++) {
        fg_coord_vote_t *vote = &unit->votes [i];
        if (memcmp (vote->digest, winner->digest, FG_SHA256_SIZE) == 0) {
            fg_coord_credit_number (self, vote->node, agreed >= 2);
            fg_coord_clients_csv_vote (self, vote, shard, agreed >= 2? "agreed": "accepted");
        }
        else
        if (!vote->invalid) {
            char why [160];
            snprintf (why, sizeof why, "round %u shard %u: its result was outvoted (%u nodes "
                      "agree on another)", self->round, shard, agreed);
            fg_coord_clients_csv_vote (self, vote, shard, "outvoted");
            fg_coord_strike_number (self, vote->node, vote->id, why);
        }
    }
    if (unit->nvotes > 1)
        fg_coord_event (self, "round %u shard %u: %u of %u results agree: accepted", self->round,
                        shard, agreed, unit->nvotes);
    fg_coord_cancel_copies (self, shard);
    fg_coord_send_ack (self, node, FG_WIRE_RESULT, self->round, shard, node->r_attempt);
    uint64_t samples = winner->samples;
    s_votes_clear (unit);
    rc = fg_coord_aggregate (self, shard, samples, update, fatal);
    if (rc == 0)
        fg_coord_maybe_fold (self);
    return rc;
}

//  The votes of shard after one more: a verdict, or wait, or one more copy.
static int
s_tally (fg_coord_t *self, uint32_t shard, fg_coord_node_t *node, fg_error_t *fatal)
{
    fg_coord_unit_t *unit = &self->units [shard];
    fg_coord_vote_t *last = &unit->votes [unit->nvotes - 1];
    uint32_t count;
    fg_coord_vote_t *first = s_first (unit, last->digest, &count);
    if (count >= unit->need || first->invalid) {
        fg_state_t *update = NULL;
        fg_error_t err;
        int rc = s_validate (self, shard, first, &update, &err);
        if (rc == 0)
            return s_accept (self, shard, node, first, count, update, fatal);
        if (count == 1)
            return s_lone_invalid (self, shard, node, last, rc, &err, fatal);
        char why [FG_WIRE_TEXT_MAX + 256];
        snprintf (why, sizeof why, "the result %u nodes agree on fails validation (%.200s): "
                  "there is no honest alternative; a result that is not finite asks for a "
                  "lower training.lr, one over the bound for aggregation.max_update_ratio "
                  "or aggregation.max_update_norm",
                  count, err.msg);
        fg_coord_send_ack (self, node, FG_WIRE_RESULT, self->round, shard, node->r_attempt);
        return s_give_up (self, shard, rc, why, fatal);
    }
    fg_coord_send_ack (self, node, FG_WIRE_RESULT, self->round, shard, node->r_attempt);
    if (unit->nvotes >= unit->want)
        return s_one_more (self, shard, fatal);
    fg_coord_unit_refresh (unit);
    return 0;
}

int
fg_coord_vote (fg_coord_t *self, fg_coord_node_t *node, fg_error_t *fatal)
{
    uint32_t shard = node->r_shard;
    fg_coord_unit_t *unit = &self->units [shard];
    if (!fg_coord_may_take (self, node, shard) || unit->nvotes == FG_COORD_VOTES_MAX) {
        //  one vote per node; never more than the bound
        fg_coord_send_ack (self, node, FG_WIRE_RESULT, self->round, shard, node->r_attempt);
        fg_coord_clients_csv_add (self, node, shard, node->r_attempt, "duplicate");
        fg_coord_node_clear_update (node);
        return 0;
    }
    fg_coord_speed_measured (self, node);
    fg_coord_vote_t *vote = &unit->votes [unit->nvotes++];
    memset (vote, 0, sizeof *vote);
    vote->node = node->number;
    snprintf (vote->id, sizeof vote->id, "%s", node->id);
    vote->attempt = node->r_attempt;
    s_digest (node, vote->digest);
    memcpy (vote->hash, node->update_hash, FG_SHA256_SIZE);
    vote->update_size = node->update_size;
    vote->samples = node->samples;
    vote->elapsed_ms = node->elapsed_ms;
    vote->loss = node->loss;
    vote->nloss = node->nloss;
    node->loss = NULL;
    node->nloss = 0;
    uint32_t count;
    if (s_first (unit, vote->digest, &count) == vote) {
        vote->update = node->update;    //  the first of its digest keeps the bytes
        node->update = NULL;
    }
    fg_coord_node_clear_update (node);
    //  spot checks on: a node not yet trusted has its results checked
    if (unit->nvotes == 1 && !unit->checked && self->cfg.grid.replication == 1
    &&  self->cfg.grid.spot_check > 0 && !fg_coord_trusted (node)) {
        unit->want = unit->need = 2;
        unit->checked = true;
    }
    return s_tally (self, shard, node, fatal);
}
