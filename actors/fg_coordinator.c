/*  fg_coordinator.c — the coordinator actor: owns the experiment.

    One thread, one zpoller over: the owner's pipe, the ROUTER trainers
    connect to (inproc:// for local trainers, tcp:// for remote ones), and
    the aggregator's pipe while a round is being folded. zpoller rather
    than zloop: three sockets and one cadence, and every timeout is derived
    from the nearest deadline (heartbeat, liveness, unit deadlines).

    A round r (1-based; weights version r-1 is its base):
      1. the partitioner gives the round's C shards;
      2. stored updates of round r (a restart) are loaded from the journal;
      3. pending units go to ready trainers, lowest shard first; a trainer
         fetches the base weights in credit-based chunks;
      4. a RESULT starts the pull of its update (XOR-delta blob); when all
         bytes are in and match their SHA-256 it is a vote for its unit
         (fg_coord_vote.c): once a majority of grid.replication distinct
         nodes agree, the winner is decoded, validated, journaled
         (idempotent by (round, shard)) and handed to the aggregator;
      5. when every shard is in (exact) — or a quorum by the round's
         deadline (deadline policy) — the aggregator folds in shard order
         and evaluates, and the round commits in ONE journal transaction;
         the new weights' blob is journaled and served as the next base.
    Faults: a silent trainer (liveness x heartbeat) is dropped and its unit
    re-issued; a unit past its deadline is issued again to another trainer
    (the first valid result wins); when every unit is in flight an idle
    trainer may get a backup copy of a late one (grid.backup,
    fg_coord_waste.c, which also counts the compute of discarded copies); a result that differs from
    an accepted one for the same unit marks its node faulty (outvoted and
    struck when a majority agreed on the accepted one).

    This file holds the actor's loop, the ROUTER dispatch and the round
    state machine; fg_coordinator_internal.h lists the other files (node
    registry, serving weights and samples, the experiment's files,
    start-up and resume).                                                  */

#include "fg_coordinator_internal.h"
#include "fg_blob.h"
#include "fg_clock.h"
#include "fg_crash.h"
#include "fg_log.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void
fg_coord_event (fg_coord_t *self, const char *fmt, ...)
{
    char text [512];
    va_list args;
    va_start (args, fmt);
    vsnprintf (text, sizeof text, fmt, args);
    va_end (args);
    fg_info ("%s", text);
    fg_journal_event_append (self->journal, self->round, text, NULL, NULL);
}

//  --------------------------------------------------------------------------
//  Rounds

void
fg_coord_unit_copy_ends (fg_coord_t *self, fg_coord_node_t *node)
{
    if (!node->busy)
        return;
    node->busy = false;
    fg_coord_unit_t *unit = node->shard < self->nshards && node->r_round == self->round
                          ? &self->units [node->shard]: NULL;
    //  a unit that wants more copies is PENDING while some run
    if (unit && unit->state <= FG_COORD_UNIT_RUNNING && !node->expired) {
        if (unit->copies)
            unit->copies--;
        fg_coord_unit_refresh (unit);
    }
    node->expired = false;
    node->deadline = 0;
}

//  The units of the round in progress and who they were issued to.
static void
s_free_units (fg_coord_t *self)
{
    fg_coord_votes_free (self);
    for (uint32_t s = 0; self->units && s < self->nshards; s++)
        free (self->units [s].issued);
    free (self->units);
    self->units = NULL;
}

void
fg_coord_free_round (fg_coord_t *self)
{
    fg_state_destroy (&self->base);
    free (self->base_blob);
    self->base_blob = NULL;
    fg_shards_destroy (&self->shards);
    s_free_units (self);
    self->nshards = 0;
    self->done = 0;
    self->folding = false;
}

void
fg_coord_set_base (fg_coord_t *self, fg_state_t *weights, uint8_t *blob, size_t size,
                   const uint8_t *hash)
{
    fg_state_destroy (&self->base);
    free (self->base_blob);
    self->base = weights;
    self->base_blob = blob;
    self->base_size = size;
    if (hash)
        memcpy (self->base_hash, hash, FG_SHA256_SIZE);
    else
        fg_sha256 (blob, size, self->base_hash);
}

static int
s_aggregator_call (fg_coord_t *self, fg_error_t *err)
{
    int rc = 0;
    char *message = NULL;
    if (zsock_recv (self->aggregator, "is", &rc, &message) != 0)
        return fg_error_set (err, FG_EINTR, "aggregator: no answer");
    if (rc)
        fg_error_set (err, rc, "%s", message? message: "aggregator failed");
    zstr_free (&message);
    return rc;
}

int
fg_coord_aggregate (fg_coord_t *self, uint32_t shard, uint64_t samples, fg_state_t *update,
                    fg_error_t *err)
{
    zsock_send (self->aggregator, "s48p", "ADD", shard, samples, update);
    return s_aggregator_call (self, err);
}

void
fg_coord_unit_done (fg_coord_t *self, uint32_t shard, const uint8_t *hash, uint32_t node,
                    uint32_t attempt, uint64_t samples, double last_loss)
{
    fg_coord_unit_t *unit = &self->units [shard];
    unit->state = FG_COORD_UNIT_DONE;
    memcpy (unit->hash, hash, FG_SHA256_SIZE);
    unit->node = node;
    unit->attempt = attempt;
    unit->samples = samples;
    unit->last_loss = last_loss;
    self->done++;
    self->train_loss_sum += last_loss * (double) samples;
    self->samples_sum += samples;
}

//  Loads updates of the round already in the journal (after a restart).
static int
s_load_stored_updates (fg_coord_t *self, fg_error_t *err)
{
    uint32_t *shards = NULL;
    size_t count = 0;
    int rc = fg_journal_update_shards (self->journal, self->round, &shards, &count, err);
    for (size_t i = 0; rc == 0 && i < count; i++) {
        uint32_t shard = shards [i];
        if (shard >= self->nshards)
            continue;
        fg_journal_update_t u;
        float *loss = NULL;
        size_t nloss = 0;
        void *blob = NULL;
        size_t size = 0;
        fg_state_t *update = NULL;
        rc = fg_journal_get_update (self->journal, self->round, shard, &u, &loss, &nloss,
                                    &blob, &size, err);
        if (rc == 0)
            rc = fg_blob_decode (blob, size, self->base, &update, err);
        if (rc == 0) {
            uint8_t hash [FG_SHA256_SIZE];
            fg_sha256 (blob, size, hash);
            fg_coord_unit_done (self, shard, hash, u.node, u.attempt, u.samples,
                         nloss? (double) loss [nloss - 1]: 0);
            rc = fg_coord_aggregate (self, shard, u.samples, update, err);
        }
        else
            fg_state_destroy (&update);
        free (loss);
        free (blob);
        if (rc)
            fg_error_prefix (err, "stored update of round %u shard %u", self->round, shard);
    }
    free (shards);
    if (rc == 0 && count)
        fg_info ("coordinator: round %u resumes with %zu stored updates", self->round, count);
    return rc;
}

int
fg_coord_begin_round (fg_coord_t *self, fg_error_t *err)
{
    s_free_units (self);
    fg_shards_destroy (&self->shards);
    self->done = 0;
    self->folding = false;
    self->train_loss_sum = 0;
    self->samples_sum = 0;
    fg_coord_fetched_prune (self);
    zsock_send (self->partitioner, "s4", "SHARDS", self->round);
    int rc = 0;
    char *message = NULL;
    fg_shards_t *shards = NULL;
    if (zsock_recv (self->partitioner, "ips", &rc, &shards, &message) != 0)
        rc = fg_error_set (err, FG_EINTR, "partitioner: no answer");
    else
    if (rc)
        fg_error_set (err, rc, "partitioner: %s", message? message: "failed");
    zstr_free (&message);
    if (rc)
        return rc;
    self->shards = shards;
    self->nshards = shards->nshards;
    self->units = calloc (self->nshards, sizeof (fg_coord_unit_t));
    if (!self->units)
        return fg_error_set (err, FG_ENOMEM, "coordinator: out of memory");
    fg_coord_votes_begin (self);
    //  the largest update a node may announce for this base (fg_blob_bound)
    self->update_bound = fg_blob_bound (self->base);
    //  a round the journal holds open was begun by an earlier run: what
    //  that run issued is not known here (fg_coord_results.c)
    fg_journal_round_t *open = NULL;
    if (fg_journal_round_get (self->journal, self->round, &open, NULL) == 0)
        self->unsure_round = self->round;
    fg_journal_round_destroy (&open);
    rc = fg_journal_round_open (self->journal, self->round, NULL, 0, err);
    if (rc)
        return rc;
    zsock_send (self->aggregator, "s4p", "BEGIN", self->nshards, self->base);
    rc = s_aggregator_call (self, err);
    if (rc == 0)
        rc = s_load_stored_updates (self, err);
    self->round_started = zclock_mono ();
    self->round_deadline = self->round_started + self->cfg.grid.deadline_floor_s * 1000;
    self->round_cpu = fg_clock_s (CLOCK_THREAD_CPUTIME_ID);
    fg_coord_waste_begin (self);
    return rc;
}

bool
fg_coord_round_complete (const fg_coord_t *self)
{
    if (self->done == self->nshards)
        return true;
    if (self->cfg.experiment.policy == FG_POLICY_DEADLINE) {
        uint32_t quorum = (uint32_t) ceil (self->cfg.experiment.quorum * self->nshards);
        uint32_t left_out = 0;
        for (uint32_t s = 0; s < self->nshards; s++)
            left_out += self->units [s].state == FG_COORD_UNIT_LEFT_OUT;
        //  every unit decided: nothing more can come, whatever the quorum
        if (self->done && self->done + left_out == self->nshards)
            return true;
        return self->done >= (quorum? quorum: 1) && zclock_mono () >= self->round_deadline;
    }
    return false;
}

void
fg_coord_start_folding (fg_coord_t *self)
{
    self->folding = true;
    self->fold_started = zclock_mono ();
    zsock_send (self->aggregator, "s", "FINISH");
    zpoller_add (self->poller, self->aggregator);
}

void
fg_coord_maybe_fold (fg_coord_t *self)
{
    if (!self->folding && fg_coord_round_complete (self))
        fg_coord_start_folding (self);
}

//  A unit is done: trainers still running other copies of it drop them
//  (REJECT of their TASK, reason stale) and are free for the next unit.
void
fg_coord_cancel_copies (fg_coord_t *self, uint32_t shard)
{
    for (size_t i = 0; i < self->nnodes; i++) {
        fg_coord_node_t *other = self->nodes [i];
        if (!other->busy || other->shard != shard || other->r_round != self->round)
            continue;
        fg_wire_msg_t about;
        memset (&about, 0, sizeof about);
        about.type = FG_WIRE_TASK;
        about.round = self->round;
        about.shard = shard;
        about.attempt = other->attempt;
        fg_coord_send_reject (self, other->routing, &about, FG_WIRE_REASON_STALE,
                              "another copy of this unit finished first");
        fg_coord_copy_lost (self, other, "stopped");
    }
}

static void
s_round_metrics (const fg_coord_t *self, const fg_aggregator_result_t *result, int64_t wall_ms,
                 fg_journal_metrics_t *metrics)
{
    memset (metrics, 0, sizeof *metrics);
    metrics->updates = self->done;
    metrics->samples = self->samples_sum;
    metrics->train_loss = self->samples_sum? self->train_loss_sum / (double) self->samples_sum
                                           : NAN;
    metrics->test_loss = result->eval.loss;
    metrics->test_accuracy = result->eval.count
                           ? (double) result->eval.correct / (double) result->eval.count: NAN;
    metrics->duration_ms = (uint64_t) wall_ms;
}

//  Journals the round in one transaction: the new weights, the FedAvgM
//  buffer, the metrics and which node's attempt each included shard is.
//  *blob is the weights' blob as journaled (the caller owns it).
static int
s_journal_round (fg_coord_t *self, const fg_aggregator_result_t *result,
                 const fg_journal_metrics_t *metrics, uint8_t **blob, size_t *size,
                 fg_error_t *err)
{
    int rc = 0;
    uint32_t *included = malloc ((self->done? self->done: 1) * sizeof (uint32_t));
    fg_journal_assignment_t *assigned = malloc ((self->done? self->done: 1) * sizeof *assigned);
    uint8_t *mblob = NULL;
    size_t msize = 0;
    *blob = NULL;
    *size = 0;
    if (!included || !assigned)
        rc = fg_error_set (err, FG_ENOMEM, "coordinator: out of memory");
    size_t n = 0;
    for (uint32_t s = 0; rc == 0 && s < self->nshards; s++)
        if (self->units [s].state == FG_COORD_UNIT_DONE) {
            included [n] = s;
            assigned [n].shard = s;
            assigned [n].node = self->units [s].node;
            assigned [n].attempt = self->units [s].attempt;
            n++;
        }
    if (rc == 0)
        rc = fg_blob_encode (result->weights, NULL, blob, size, err);
    if (rc == 0 && result->momentum)    //  FedAvgM: the buffer commits with the weights
        rc = fg_blob_encode (result->momentum, NULL, &mblob, &msize, err);
    if (rc == 0) {
        fg_crash_point ("journal.round.before");
        rc = fg_journal_commit_round_with_optimizer (self->journal, self->round, *blob, *size,
                                                     mblob, msize, metrics, included, n,
                                                     assigned, n, err);
    }
    free (included);
    free (assigned);
    free (mblob);
    if (rc) {
        free (*blob);
        *blob = NULL;
        *size = 0;
    }
    return rc;
}

//  A committed round: its rounds.csv row, and its line to the owner.
static void
s_report_round (fg_coord_t *self, const fg_journal_metrics_t *metrics, int64_t wall_ms,
                const char *hash)
{
    double cpu = fg_clock_s (CLOCK_THREAD_CPUTIME_ID) - self->round_cpu;
    char line [512];
    snprintf (line, sizeof line,
              "round %u/%lld  test %.2f%%  test loss %.4f  train loss %.4f  %u updates  "
              "%.1f s  coordinator %.3f s (%.1f%%)  weights %.16s",
              self->round, (long long) self->cfg.experiment.rounds,
              100 * metrics->test_accuracy, metrics->test_loss, metrics->train_loss,
              metrics->updates, wall_ms / 1000.0, cpu,
              wall_ms? 100.0 * cpu / (wall_ms / 1000.0): 0.0, hash);
    fg_coord_rounds_csv_add (self, self->round, metrics);
    self->waste_last_s = self->waste_s;
    self->last_accuracy = metrics->test_accuracy;
    self->round_seconds_avg = self->round_seconds_avg > 0
                            ? 0.7 * self->round_seconds_avg + 0.3 * wall_ms / 1000.0
                            : wall_ms / 1000.0;
    zsock_send (self->pipe, "ss", "ROUND", line);
}

//  The aggregator answered FINISH: commit the round, and start the next
//  one on the new weights (their blob, as journaled, is its base blob).
static int
s_commit_round (fg_coord_t *self, fg_error_t *err)
{
    zpoller_remove (self->poller, self->aggregator);
    fg_aggregator_result_t *result = NULL;
    self->folding = false;              //  the aggregator has answered
    if (zsock_recv (self->aggregator, "p", &result) != 0 || !result)
        return fg_error_set (err, FG_EINTR, "aggregator: no answer");
    int rc = result->rc;
    if (rc) {
        *err = result->err;
        fg_aggregator_result_destroy (&result);
        return rc;
    }
    int64_t wall_ms = zclock_mono () - self->round_started;
    fg_journal_metrics_t metrics;
    s_round_metrics (self, result, wall_ms, &metrics);
    self->units_s = (double) (self->fold_started - self->round_started) / 1000.0;
    self->aggregate_s = result->fold_seconds;
    self->eval_s = result->eval_seconds;
    uint8_t *blob = NULL;
    size_t size = 0;
    double commit_start = fg_clock_mono_s ();
    rc = s_journal_round (self, result, &metrics, &blob, &size, err);
    self->commit_s = fg_clock_mono_s () - commit_start;
    if (rc) {
        fg_aggregator_result_destroy (&result);
        return rc;
    }
    fg_crash_point ("journal.round.after");
    //  deadline policy: units left out of the round are of no more use
    for (uint32_t s = 0; s < self->nshards; s++)
        if (self->units [s].state != FG_COORD_UNIT_DONE)
            fg_coord_cancel_copies (self, s);
    char hash [65];
    fg_state_hash (result->weights, hash);
    s_report_round (self, &metrics, wall_ms, hash);
    fg_state_t *weights = result->weights;
    result->weights = NULL;
    fg_aggregator_result_destroy (&result);
    if (self->round >= (uint32_t) self->cfg.experiment.rounds) {
        fg_state_destroy (&weights);
        free (blob);
        self->finished = true;
        fg_coord_write_status (self);
        zsock_send (self->pipe, "ss", "DONE", hash);
        return 0;
    }
    //  the journal's mark hashed this very blob (NULL: hash it here)
    uint8_t digest [FG_SHA256_SIZE];
    bool known = fg_journal_weights_sha256 (self->journal, self->round, digest) == 0;
    self->round++;
    fg_coord_set_base (self, weights, blob, size, known? digest: NULL);
    return fg_coord_begin_round (self, err);
}

//  --------------------------------------------------------------------------
//  Assigning units

static void
s_send_task (fg_coord_t *self, fg_coord_node_t *node, uint32_t shard, bool backup)
{
    fg_coord_unit_t *unit = &self->units [shard];
    if (unit->attempts == unit->issued_cap) {
        //  who gets each attempt: a RESULT counts only from its node
        uint32_t cap = unit->issued_cap? 2 * unit->issued_cap: 4;
        fg_coord_issue_t *issued = realloc (unit->issued, cap * sizeof *issued);
        if (!issued) {
            fg_error_log ("coordinator: round %u shard %u: out of memory", self->round, shard);
            return;
        }
        unit->issued = issued;
        unit->issued_cap = cap;
    }
    size_t begin = self->shards->offset [shard], end = self->shards->offset [shard + 1];
    size_t count = end - begin;
    fg_wire_range_t *ranges = NULL;
    uint32_t nranges = 0;
    fg_error_t err;
    if (fg_wire_ranges_from_indices (self->shards->index + begin, count, &ranges, &nranges, &err)) {
        fg_error_log ("coordinator: round %u shard %u: %s", self->round, shard, err.msg);
        return;
    }
    fg_wire_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.type = FG_WIRE_TASK;
    msg.round = self->round;
    msg.shard = shard;
    int kind = fg_coord_copy_kind (unit, backup);  //  (before this attempt counts)
    msg.attempt = ++unit->attempts;
    fg_wire_task_t *t = &msg.task;
    t->weights_version = self->round - 1;
    t->weights_size = self->base_size;
    memcpy (t->weights_hash, self->base_hash, FG_SHA256_SIZE);
    t->seed = (uint64_t) self->cfg.experiment.seed;
    t->local_epochs = (uint32_t) self->cfg.training.local_epochs;
    t->batch_size = (uint32_t) self->cfg.training.batch_size;
    t->lr = fg_optim_lr (&self->optim, (double) (self->round - 1));
    t->momentum = self->cfg.training.momentum;
    t->weight_decay = self->cfg.training.weight_decay;
    t->nesterov = self->cfg.training.nesterov;
    t->augment = self->cfg.data.augment;
    t->model = (uint8_t) self->cfg.model.name;
    t->dataset = (uint8_t) self->cfg.data.dataset;
    memcpy (t->dataset_hash, self->dataset_hash, FG_SHA256_SIZE);
    fg_coord_task_geometry (self, t);
    int64_t now = zclock_mono ();
    //  its measured speed, or the slowest measured for a node not measured yet
    double expected_ms = fg_coord_expected_ms (self, node, count);
    double budget = self->cfg.grid.deadline_factor * expected_ms;
    double floor_ms = (double) self->cfg.grid.deadline_floor_s * 1000.0;
    if (budget < floor_ms)
        budget = floor_ms;
    t->deadline_ms = budget > 4e9? UINT32_MAX: (uint32_t) budget;
    t->sample_count = count;
    t->range_count = nranges;
    t->ranges = ranges;
    int rc = fg_coord_send (self, node, &msg);
    free (ranges);
    if (rc) {
        unit->attempts--;
        return;
    }
    fg_crash_point ("coordinator.task.sent");
    fg_coord_issue_t *issue = &unit->issued [msg.attempt - 1];
    memset (issue, 0, sizeof *issue);
    issue->node = node->number;
    issue->kind = (uint8_t) kind;
    issue->at = now;
    self->backups += backup;
    fg_coord_node_issued (self, node);
    node->ready = false;
    node->busy = true;
    node->shard = shard;
    node->attempt = msg.attempt;
    node->r_round = self->round;
    node->assigned_at = now;
    node->deadline = now + (int64_t) budget;
    node->expected_ms = expected_ms;
    node->expired = false;
    if (unit->copies == 0 && unit->nvotes == 0)
        unit->started_at = now;
    unit->copies++;
    fg_coord_unit_refresh (unit);
    fg_debug ("coordinator: round %u shard %u attempt %u -> %s%s", self->round, shard,
              msg.attempt, node->id, backup? " (backup copy)": "");
}

static void
s_assign (fg_coord_t *self)
{
    if (!self->units || self->folding || self->finished || !fg_coord_units_open (self))
        return;
    int64_t now = zclock_mono ();
    bool backups = fg_coord_backup_begin (self, now);
    if (!backups && !fg_coord_units_pending (self))
        return;                         //  only backups are open, not weighed in this pass
    for (size_t i = 0; i < self->nnodes; i++) {
        fg_coord_node_t *node = self->nodes [i];
        if (!node->ready || node->busy || node->unable || node->quarantined)
            continue;
        uint32_t pick = UINT32_MAX;
        for (uint32_t s = 0; s < self->nshards && pick == UINT32_MAX; s++)
            if (self->units [s].state == FG_COORD_UNIT_PENDING && fg_coord_may_take (self, node, s))
                pick = s;
        bool backup = pick == UINT32_MAX;
        if (backup && backups)          //  everything is in flight (grid.backup)
            pick = fg_coord_backup_pick (self, node, now);
        if (pick == UINT32_MAX)
            continue;                   //  another node may take what this one may not
        s_send_task (self, node, pick, backup);
    }
}

//  A node refused one of our messages.
static void
s_on_reject (fg_coord_t *self, fg_coord_node_t *node, const fg_wire_msg_t *msg)
{
    const fg_wire_reject_t *r = &msg->reject;
    fg_coord_node_info (self, node, "%s refused %s: %s", node->id,
                        fg_wire_type_name (r->of_type), r->text);
    if (r->of_type == FG_WIRE_TASK && node->busy && node->shard == msg->shard)
        fg_coord_unit_copy_ends (self, node);
    if (r->of_type == FG_WIRE_TASK && r->reason == FG_WIRE_REASON_UNKNOWN && !node->unable) {
        node->unable = true;            //  until it announces itself again
        fg_coord_event (self, "node %s cannot run units of this experiment: %s", node->id,
                        r->text);
    }
}

//  A message of a known node of this experiment. Returns 0, or a code
//  that stops the coordinator (journal failure).
static int
s_on_node_message (fg_coord_t *self, fg_coord_node_t *node, fg_wire_msg_t *msg,
                   fg_error_t *fatal)
{
    node->last_seen = zclock_mono ();
    switch (msg->type) {
        case FG_WIRE_READY:
            node->ready = true;
            break;
        case FG_WIRE_WEIGHTS_REQUEST:
            fg_coord_on_weights_request (self, node, msg);
            break;
        case FG_WIRE_RESULT:
            return fg_coord_on_result (self, node, msg, fatal);
        case FG_WIRE_WEIGHTS_CHUNK:
            return fg_coord_on_update_chunk (self, node, msg, fatal);
        case FG_WIRE_ERROR:
            //  a report: nothing to answer; it ends the node's copy when
            //  it is about that copy (only then is it journaled)
            if (node->busy && node->r_round == msg->round && node->shard == msg->shard) {
                fg_coord_node_event (self, node, "node %s failed round %u shard %u: %s",
                                     node->id, msg->round, msg->shard, msg->error.text);
                fg_coord_copy_lost (self, node, "failed");
            }
            else
                fg_coord_node_info (self, node, "node %s failed round %u shard %u, not its "
                                    "unit: %s", node->id, msg->round, msg->shard,
                                    msg->error.text);
            break;
        case FG_WIRE_REJECT:
            s_on_reject (self, node, msg);
            break;
        case FG_WIRE_DATA_REQUEST:
            fg_coord_on_data_request (self, node, msg);
            break;
        case FG_WIRE_BYE:
            fg_coord_node_remove (self, node, "said BYE");
            break;
        case FG_WIRE_HEARTBEAT:
            break;                      //  liveness only
        default:                        //  TASK, DATA-CHUNK, ACK: ours to send
            node->rejected++;
            fg_coord_node_info (self, node, "node %s sent a %s", node->id,
                                fg_wire_type_name (msg->type));
            fg_coord_send_reject (self, node->routing, msg, FG_WIRE_REASON_OTHER,
                                  "a coordinator does not receive this message type");
            break;
    }
    return 0;
}

//  One decoded message from the peer behind routing (fg_coordinator_internal.h).
int
fg_coord_on_message (fg_coord_t *self, zframe_t *routing, fg_wire_msg_t *msg, fg_error_t *fatal)
{
    int rc = 0;
    fg_coord_node_t *node = fg_coord_node_find (self, routing);
    if (node && strcmp (node->key, self->peer_key)) {
        //  a node's routing id (its node id) taken over by a connection of
        //  another CURVE key (ROUTER_HANDOVER): not that node
        fg_coord_node_warn (self, NULL, "a peer of another CURVE key speaks as node %s",
                            node->id);
        fg_coord_send_reject (self, routing, msg, FG_WIRE_REASON_NOT_ALLOWED,
                              "this node id belongs to another CURVE key");
    }
    else
    if (msg->type == FG_WIRE_HELLO)
        fg_coord_on_hello (self, routing, msg);
    else
    if (!node)
        fg_coord_send_reject (self, routing, msg, FG_WIRE_REASON_NOT_ALLOWED, "say HELLO first");
    else
    if (msg->experiment != self->experiment) {
        node->rejected++;
        fg_coord_send_reject (self, routing, msg, FG_WIRE_REASON_EXPERIMENT,
                              "another experiment");
    }
    else
        rc = s_on_node_message (self, node, msg, fatal);
    fg_coord_quarantine_sweep (self);
    if (rc == 0)
        s_assign (self);
    return rc;
}

//  One message from the ROUTER. Returns 0, or a code that stops the
//  coordinator (journal failure).
static int
s_on_router (fg_coord_t *self, fg_error_t *fatal)
{
    zmsg_t *zmsg = zmsg_recv (self->router);
    zframe_t *routing = zmsg? zmsg_pop (zmsg): NULL;
    if (!routing) {
        zmsg_destroy (&zmsg);
        return 0;                       //  interrupted, or no identity: nobody to tell
    }
    //  with CURVE and an allow-list, the sender's public key (the guard's
    //  certificates carry it as metadata), for the limit of nodes per key
    zframe_t *first = zmsg_first (zmsg);
    const char *key = first? zframe_meta (first, FG_SECURITY_KEY_PROPERTY): NULL;
    snprintf (self->peer_key, sizeof self->peer_key, "%s", key? key: "");
    fg_wire_msg_t msg;
    fg_error_t err;
    int rc = fg_wire_decode_zmsg (zmsg, &self->limits, &msg, &err);
    zmsg_destroy (&zmsg);
    if (rc) {
        fg_coord_node_t *node = fg_coord_node_find (self, routing);
        fg_coord_node_warn (self, node, "bad message from %s: %s",
                            node? node->id: "an unknown peer", err.msg);
        if (node)
            node->rejected++;
        fg_coord_send_reject (self, routing, NULL, rc == FG_EVERSION? FG_WIRE_REASON_VERSION
                                                                    : FG_WIRE_REASON_OTHER,
                              err.msg);
        zframe_destroy (&routing);
        return 0;
    }
    rc = fg_coord_on_message (self, routing, &msg, fatal);
    fg_wire_msg_clear (&msg);
    zframe_destroy (&routing);
    self->peer_key [0] = 0;
    return rc;
}

//  Heartbeats, liveness, unit deadlines, the deadline policy.
static void
s_on_timer (fg_coord_t *self)
{
    int64_t now = zclock_mono ();
    int64_t silent = self->cfg.grid.heartbeat_ms * self->cfg.grid.liveness;
    for (size_t i = 0; i < self->nnodes; ) {
        fg_coord_node_t *node = self->nodes [i];
        if (now - node->last_seen > silent) {
            fg_coord_node_remove (self, node, "silent");
            continue;
        }
        if (node->busy && node->deadline && now > node->deadline && !node->expired) {
            fg_coord_unit_t *unit = &self->units [node->shard];
            node->expired = true;       //  keeps running; its result still counts
            unit->lost = true;          //  the next copy is a re-issue
            if (unit->state <= FG_COORD_UNIT_RUNNING && unit->copies) {
                unit->copies--;
                fg_coord_unit_refresh (unit);
            }
            fg_coord_event (self, "round %u shard %u passed its deadline on %s: issued again",
                            self->round, node->shard, node->id);
        }
        i++;
    }
    fg_coord_quarantine_sweep (self);
    fg_coord_nodes_beat (self, now);
    if (!self->folding && self->units && !self->finished && fg_coord_round_complete (self))
        fg_coord_start_folding (self);
    s_assign (self);
    if (now >= self->status_at)
        fg_coord_write_status (self);
}

//  The loop's steps as entry points (fg_coordinator_internal.h), for the
//  coordinator fuzz harness, which has no loop.
int
fg_coord_on_aggregator (fg_coord_t *self, fg_error_t *fatal)
{
    return s_commit_round (self, fatal);
}

void
fg_coord_on_timer (fg_coord_t *self)
{
    s_on_timer (self);
}

//  --------------------------------------------------------------------------
//  The actor

typedef struct {
    const fg_coordinator_args_t *args;
    int status;
    fg_error_t err;
    int port;
} s_start_t;

static void
s_coordinator_actor (zsock_t *pipe, void *arg)
{
    s_start_t *start = (s_start_t *) arg;
    fg_coord_t *self = fg_coord_new (pipe, start->args, &start->port, &start->err);
    start->status = self? 0: (start->err.code? start->err.code: FG_ENOMEM);
    zsock_signal (pipe, 0);
    if (self && self->finished)
        zsock_send (pipe, "ss", "DONE", "already finished");
    fg_error_t fatal;
    fg_error_clear (&fatal);
    while (self && !self->terminated) {
        int64_t now = zclock_mono ();
        int64_t next = self->beat_at < self->status_at? self->beat_at: self->status_at;
        int timeout = next <= now? 0: (int) (next - now);
        if (timeout > 200)
            timeout = 200;              //  liveness and deadline checks
        void *which = zpoller_wait (self->poller, timeout);
        int rc = 0;
        if (which == self->pipe) {
            zmsg_t *msg = zmsg_recv (self->pipe);
            char *command = msg? zmsg_popstr (msg): NULL;
            if (!command || strcmp (command, "$TERM") == 0)
                self->terminated = true;
            zstr_free (&command);
            zmsg_destroy (&msg);
            continue;
        }
        if (which == self->router)
            rc = s_on_router (self, &fatal);
        else
        if (which == self->aggregator && self->folding)
            rc = s_commit_round (self, &fatal);
        if (rc == 0)
            s_on_timer (self);
        if (rc) {
            fg_error_log ("coordinator: %s", fatal.msg);
            zsock_send (self->pipe, "ss", "FAILED", fatal.msg);
            //  wait for $TERM: the owner decides when to stop
            while (!self->terminated) {
                char *command = zstr_recv (self->pipe);
                if (!command || strcmp (command, "$TERM") == 0)
                    self->terminated = true;
                zstr_free (&command);
            }
        }
    }
    if (self && !self->finished) {
        //  the last status.json of a stopped run says what `fedctl status
        //  --json` will say once this process is gone
        self->stopped = true;
        fg_coord_write_status (self);
    }
    fg_coord_destroy (&self);
}

//  --------------------------------------------------------------------------
//  Owner side

struct _fg_coordinator_t {
    zactor_t *actor;
    int port;
};

fg_coordinator_t *
fg_coordinator_new (const fg_coordinator_args_t *args, fg_error_t *err)
{
    fg_coordinator_t *self = calloc (1, sizeof *self);
    if (!self) {
        fg_error_set (err, FG_ENOMEM, "coordinator: out of memory");
        return NULL;
    }
    s_start_t start;
    memset (&start, 0, sizeof start);
    start.args = args;
    self->actor = fg_actor_new (s_coordinator_actor, &start);
    if (!self->actor || start.status) {
        if (err)
            *err = start.err;
        if (!self->actor)
            fg_error_set (err, FG_ENOMEM, "coordinator: cannot start the actor");
        zactor_destroy (&self->actor);
        free (self);
        return NULL;
    }
    self->port = start.port;
    return self;
}

void
fg_coordinator_destroy (fg_coordinator_t **self_p)
{
    if (self_p && *self_p) {
        zactor_destroy (&(*self_p)->actor);
        free (*self_p);
        *self_p = NULL;
    }
}

void *
fg_coordinator_actor (fg_coordinator_t *self)
{
    return self->actor;
}

int
fg_coordinator_port (fg_coordinator_t *self)
{
    return self->port;
}

int
fg_coordinator_event (fg_coordinator_t *self, char **kind, char **text)
{
    *kind = NULL;
    *text = NULL;
    if (zsock_recv (self->actor, "ss", kind, text) != 0)
        return FG_EINTR;
    return 0;
}
