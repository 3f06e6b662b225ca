/*  fg_coord_check.c — the coordinator's invariants, checked on demand.

    What must hold between any two messages, whatever the peers sent. The
    coordinator fuzz harness (fuzz/fuzz_coordinator.c) calls it after every
    operation and aborts on a violation; nothing here changes the state
    (the journal is only read).

    Always checked (they hold on the state machine as it is):
      - the round: units and shards agree, done == units DONE <= shards;
      - an open unit (pending or running) counts exactly one copy per busy
        node running it (a node whose deadline expired no longer counts),
        at most its attempts; pending: fewer copies and votes than it
        wants (grid.replication, spot checks, disagreements); running:
        enough, and at least one copy still runs; left out only under the
        deadline policy;
      - a busy node runs an open unit of the round, with an attempt issued
        to its node number whose compute is not counted yet (waste,
        fg_coord_waste.c: a copy is counted once, when it ends); a counted
        attempt has ended; the round's waste is within the run's;
      - a done unit's update is in the journal, journaled for the node,
        attempt and sample count the unit records;
      - a node's update buffer holds at most its announced size, its loss
        curve at most FG_WIRE_LOSS_MAX points; two nodes never share one
        ROUTER identity;
      - folding only when the round is complete (exact: every shard).
    With FG_COORD_CHECK_OWNERSHIP, those of ownership and bounds
    (fg_coord_results.c):
      - a done unit's attempt is one the coordinator issued (1..attempts)
        and its sample count is the shard's size;
      - an announced update is within the model's bound (fg_coord_check_
        update_bound), so a node's buffer is bounded.                    */

#include "fg_coordinator_internal.h"

#include <string.h>

uint64_t
fg_coord_check_update_bound (const fg_coord_t *self)
{
    //  the coordinator's own bound of the round (fg_blob_bound of the base)
    return self->base? self->update_bound: 0;
}

//  Busy nodes that count as a running copy of shard.
static uint32_t
s_copies_of (const fg_coord_t *self, uint32_t shard)
{
    uint32_t copies = 0;
    for (size_t i = 0; i < self->nnodes; i++) {
        const fg_coord_node_t *node = self->nodes [i];
        if (node->busy && !node->expired && node->shard == shard)
            copies++;
    }
    return copies;
}

//  A done unit: its journaled update is the one it records.
static int
s_check_done (fg_coord_t *self, uint32_t shard, int flags, fg_error_t *err)
{
    const fg_coord_unit_t *unit = &self->units [shard];
    uint64_t size = self->shards->offset [shard + 1] - self->shards->offset [shard];
    if ((flags & FG_COORD_CHECK_OWNERSHIP)
    &&  (unit->attempt == 0 || unit->attempt > unit->attempts))
        return fg_error_set (err, FG_ESTATE, "round %u shard %u is done with attempt %u, "
                             "but attempts 1..%u were issued", self->round, shard,
                             unit->attempt, unit->attempts);
    if ((flags & FG_COORD_CHECK_OWNERSHIP) && unit->samples != size)
        return fg_error_set (err, FG_ESTATE, "round %u shard %u is done with %llu samples, "
                             "the shard holds %llu", self->round, shard,
                             (unsigned long long) unit->samples, (unsigned long long) size);
    fg_journal_update_t record;
    fg_error_t why;
    int rc = fg_journal_get_update (self->journal, self->round, shard, &record, NULL, NULL,
                                    NULL, NULL, &why);
    if (rc)
        return fg_error_set (err, FG_ESTATE, "round %u shard %u is done but its update "
                             "cannot be read from the journal: %s", self->round, shard, why.msg);
    if (record.node != unit->node || record.attempt != unit->attempt
    ||  record.samples != unit->samples)
        return fg_error_set (err, FG_ESTATE, "round %u shard %u is done by node %u attempt %u "
                             "(%llu samples), the journal holds node %u attempt %u (%llu)",
                             self->round, shard, unit->node, unit->attempt,
                             (unsigned long long) unit->samples, record.node, record.attempt,
                             (unsigned long long) record.samples);
    return 0;
}

//  The units of the round in progress.
static int
s_check_units (fg_coord_t *self, int flags, fg_error_t *err)
{
    if (!self->units || !self->shards || self->shards->nshards != self->nshards
    ||  self->nshards == 0)
        return fg_error_set (err, FG_ESTATE, "round %u runs without units or shards",
                             self->round);
    uint32_t done = 0, left_out = 0;
    for (uint32_t s = 0; s < self->nshards; s++) {
        const fg_coord_unit_t *unit = &self->units [s];
        uint32_t copies = s_copies_of (self, s);
        bool open = unit->state == FG_COORD_UNIT_PENDING || unit->state == FG_COORD_UNIT_RUNNING;
        if (open && (unit->copies != copies || unit->copies > unit->attempts
                  || unit->nvotes > FG_COORD_VOTES_MAX))
            return fg_error_set (err, FG_ESTATE, "round %u shard %u counts %u copies, %u "
                                 "nodes run it, %u attempts issued, %u votes in", self->round,
                                 s, unit->copies, copies, unit->attempts, unit->nvotes);
        //  pending: wants more copies than run and voted (fg_coord_unit_refresh);
        //  running: enough, and at least one still runs (else it waits forever)
        if (unit->state == FG_COORD_UNIT_PENDING && unit->copies + unit->nvotes >= unit->want)
            return fg_error_set (err, FG_ESTATE, "round %u shard %u is pending with %u copies "
                                 "and %u votes of %u wanted", self->round, s, unit->copies,
                                 unit->nvotes, unit->want);
        if (unit->state == FG_COORD_UNIT_RUNNING
        &&  (unit->copies == 0 || unit->copies + unit->nvotes < unit->want))
            return fg_error_set (err, FG_ESTATE, "round %u shard %u is running with %u copies "
                                 "and %u votes of %u wanted", self->round, s, unit->copies,
                                 unit->nvotes, unit->want);
        if (unit->state == FG_COORD_UNIT_DONE) {
            done++;
            int rc = s_check_done (self, s, flags, err);
            if (rc)
                return rc;
        }
        left_out += unit->state == FG_COORD_UNIT_LEFT_OUT;
        for (uint32_t a = 0; a < unit->attempts; a++)
            if (unit->issued [a].counted && !unit->issued [a].ended)
                return fg_error_set (err, FG_ESTATE, "round %u shard %u attempt %u is counted "
                                     "as waste but has not ended", self->round, s, a + 1);
        if (!open && unit->state != FG_COORD_UNIT_DONE && unit->state != FG_COORD_UNIT_LEFT_OUT)
            return fg_error_set (err, FG_ESTATE, "round %u shard %u has state %d",
                                 self->round, s, unit->state);
    }
    if (!(self->waste_s >= 0) || self->waste_s > self->waste_total_s + 1e-6)
        return fg_error_set (err, FG_ESTATE, "round %u wasted %.3f s, the run %.3f s",
                             self->round, self->waste_s, self->waste_total_s);
    if (done != self->done)
        return fg_error_set (err, FG_ESTATE, "round %u counts %u units done, %u are",
                             self->round, self->done, done);
    bool complete = self->cfg.experiment.policy == FG_POLICY_DEADLINE? done >= 1
                                                                     : done == self->nshards;
    if (left_out && self->cfg.experiment.policy != FG_POLICY_DEADLINE)
        return fg_error_set (err, FG_ESTATE, "round %u leaves %u units out under the exact "
                             "policy", self->round, left_out);
    if (self->folding && !complete)
        return fg_error_set (err, FG_ESTATE, "round %u is folded with %u of %u units done",
                             self->round, done, self->nshards);
    return 0;
}

//  One node: the unit it runs and the update it sends.
static int
s_check_node (fg_coord_t *self, const fg_coord_node_t *node, int flags, fg_error_t *err)
{
    if (node->busy && self->units && !self->finished) {
        const fg_coord_unit_t *unit = node->shard < self->nshards? &self->units [node->shard]
                                                                 : NULL;
        bool open = unit && (unit->state == FG_COORD_UNIT_RUNNING
                          || unit->state == FG_COORD_UNIT_PENDING);
        if (!unit || (!node->expired && !open)
        ||  node->attempt == 0 || node->attempt > unit->attempts)
            return fg_error_set (err, FG_ESTATE, "node %s runs round %u shard %u attempt %u, "
                                 "which is not a running unit issued", node->id, self->round,
                                 node->shard, node->attempt);
        const fg_coord_issue_t *issue = &unit->issued [node->attempt - 1];
        if (issue->node != node->number || issue->counted)
            return fg_error_set (err, FG_ESTATE, "node %s runs round %u shard %u attempt %u, "
                                 "issued to node number %u%s", node->id, self->round,
                                 node->shard, node->attempt, issue->node,
                                 issue->counted? ", its compute counted already": "");
    }
    if (node->update? node->update_have > node->update_size: node->update_have != 0)
        return fg_error_set (err, FG_ESTATE, "node %s has %llu bytes of an update of %llu",
                             node->id, (unsigned long long) node->update_have,
                             (unsigned long long) node->update_size);
    if (node->nloss > FG_WIRE_LOSS_MAX)
        return fg_error_set (err, FG_ESTATE, "node %s holds a loss curve of %u points",
                             node->id, node->nloss);
    uint64_t bound = fg_coord_check_update_bound (self);
    if ((flags & FG_COORD_CHECK_OWNERSHIP) && node->update && node->update_size > bound)
        return fg_error_set (err, FG_ESTATE, "node %s holds a buffer for an update of %llu "
                             "bytes; the model's bound is %llu", node->id,
                             (unsigned long long) node->update_size, (unsigned long long) bound);
    return 0;
}

int
fg_coord_check (fg_coord_t *self, int flags, fg_error_t *err)
{
    if (!self->finished) {
        int rc = s_check_units (self, flags, err);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < self->nnodes; i++) {
        const fg_coord_node_t *node = self->nodes [i];
        int rc = s_check_node (self, node, flags, err);
        if (rc)
            return rc;
        for (size_t j = 0; j < i; j++)
            if (zframe_eq (self->nodes [j]->routing, node->routing))
                return fg_error_set (err, FG_ESTATE, "nodes %s and %s share one ROUTER "
                                     "identity", self->nodes [j]->id, node->id);
    }
    if (self->finished && self->round < (uint32_t) self->cfg.experiment.rounds)
        return fg_error_set (err, FG_ESTATE, "finished at round %u of %lld", self->round,
                             (long long) self->cfg.experiment.rounds);
    return 0;
}
