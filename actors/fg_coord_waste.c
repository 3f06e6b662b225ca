/*  fg_coord_waste.c — expected times from measured speeds, the backup-copy
    policy, and the compute spent on copies that were discarded.

    Speed. A node's speed is samples x local epochs per second of its own
    results: what it reported as elapsed_ms, at most the time the
    coordinator saw it hold the unit (a node cannot claim to be slower
    than it was seen to be), smoothed over its results
    (half the last, half the earlier ones). A node without a result yet
    is expected to be as slow as the slowest node measured; with no speed
    measured at all nothing is expected and only grid.deadline_floor_s
    bounds a unit.

    Backup copies. When every unit is in flight an idle node may take a
    second copy of a running single copy (grid.backup):
      always   the oldest such copy, at once (the behaviour before this
               policy: with two trainers, one copy per round thrown away);
      never    none: a late copy waits for its deadline (then re-issued);
      late     (default) only when it is likely to help, from expected
               times (a node's measured speed; unknown: the slowest speed
               measured; nothing measured: no backup):
               - the holder has held the unit longer than grid.backup_after
                 x its expected time (it is late: slowed down, frozen, cut
                 off), and the idle node is expected to finish before the
                 holder's deadline, when the coordinator gives the holder
                 up anyway; or
               - the holder is on time but slow: the idle node's expected
                 time x grid.backup_after is less than what the holder is
                 expected to need still (a fast PC idle while a slow one
                 runs the round's last unit: the round ends sooner, the
                 slow copy is thrown away).
               Among several such copies, the latest against its
               expectation. Equal speeds and holders on time: no backup.
    Replication's copies (unit->want > 1: grid.replication, spot checks,
    disagreements) are not backups: their unit is PENDING until they are
    out, and they go out as such (kind "replica"); a backup is a copy
    beyond what the unit wants.

    Waste. A copy's compute is counted once, when the copy ends:
      a result's verdict   the time the node reported (elapsed_ms), at
                           most the time it held the unit; wasted unless
                           the outcome is "accepted" or "agreed";
      stopped              another copy decided the unit (REJECT stale of
                           its TASK): the time it held the unit, from the
                           TASK to the REJECT (fetching included: the PC
                           was busy with it);
      failed               the node said ERROR about it: the time held;
      lost                 the node was removed (silent, BYE, quarantine)
                           while it ran: the time held.
    So a backup copy that lost is counted as "stopped" (or "duplicate" if
    its result came first), a re-issue whose other copy finished the
    same way, a stale or duplicate result, an outvoted or invalid one by
    its verdict. A result that comes after its copy was counted (stopped
    while it was uploading) adds nothing. The waste of a row is the round
    in progress's when the row is written (its "round" column).           */

#include "fg_coordinator_internal.h"
#include "fg_log.h"

#include <stdlib.h>
#include <string.h>

//  --------------------------------------------------------------------------
//  Speeds and expected times

double
fg_coord_slowest_speed (const fg_coord_t *self)
{
    double slowest = 0;
    for (size_t i = 0; i < self->nnodes; i++) {
        double speed = self->nodes [i]->speed;
        if (speed > 0 && (slowest == 0 || speed < slowest))
            slowest = speed;
    }
    return slowest;
}

//  Expected milliseconds at speed (0: unknown).
static double
s_expected_at (const fg_coord_t *self, double speed, uint64_t samples)
{
    if (!(speed > 0))
        return 0;
    return 1000.0 * (double) samples * (double) self->cfg.training.local_epochs / speed;
}

double
fg_coord_expected_ms (const fg_coord_t *self, const fg_coord_node_t *node, uint64_t samples)
{
    double speed = node && node->speed > 0? node->speed: fg_coord_slowest_speed (self);
    return s_expected_at (self, speed, samples);
}

void
fg_coord_speed_measured (fg_coord_t *self, fg_coord_node_t *node)
{
    double ms = node->elapsed_ms;
    if (node->r_round == self->round && node->r_attempt >= 1
    &&  node->r_attempt <= self->units [node->r_shard].attempts) {
        const fg_coord_issue_t *issue = &self->units [node->r_shard].issued [node->r_attempt - 1];
        double held = (double) ((issue->ended? issue->ended: zclock_mono ()) - issue->at);
        if (held >= 0 && held < ms)
            ms = held;                  //  never slower than it was seen to be
    }
    if (!(ms > 0) || !node->samples)
        return;
    double speed = (double) node->samples * (double) self->cfg.training.local_epochs
                 / (ms / 1000.0);
    node->speed = node->speed > 0? 0.5 * node->speed + 0.5 * speed: speed;
}

//  --------------------------------------------------------------------------
//  Backup copies

bool
fg_coord_backup_helps (const fg_coord_backup_case_t *c)
{
    if (c->mode == FG_BACKUP_ALWAYS)
        return true;
    if (c->mode != FG_BACKUP_LATE)
        return false;
    double expected = c->holder_ms > 0? c->holder_ms: c->bound_ms;
    double idle = c->idle_ms > 0? c->idle_ms: c->bound_ms;
    if (!(expected > 0) || !(idle > 0))
        return false;                   //  nothing to expect either from
    if (c->held_ms > c->after * expected)
        return idle < c->left_ms;       //  late: first before its deadline
    //  on time, but so slow that the idle node is first by a margin
    return c->after * idle < expected - c->held_ms;
}

#define S_BACKUP_EVERY_MS   200

bool
fg_coord_backup_begin (fg_coord_t *self, int64_t now)
{
    int mode = self->cfg.grid.backup;
    if (mode != FG_BACKUP_LATE)
        return mode == FG_BACKUP_ALWAYS;
    if (now < self->backup_at)
        return false;
    self->backup_at = now + S_BACKUP_EVERY_MS;
    if (self->holders_cap < self->nshards) {
        const fg_coord_node_t **holders = realloc (self->holders, self->nshards * sizeof *holders);
        if (!holders)
            return false;               //  no backups this pass; the units run on
        self->holders = holders;
        self->holders_cap = self->nshards;
    }
    //  one pass over the nodes: a unit's running copy (not expired) and
    //  the slowest measured speed
    memset (self->holders, 0, self->nshards * sizeof *self->holders);
    for (size_t i = 0; i < self->nnodes; i++) {
        const fg_coord_node_t *node = self->nodes [i];
        if (node->busy && !node->expired && node->r_round == self->round
        &&  node->shard < self->nshards)
            self->holders [node->shard] = node;
    }
    self->backup_slowest = fg_coord_slowest_speed (self);
    return true;
}

uint32_t
fg_coord_backup_pick (fg_coord_t *self, const fg_coord_node_t *idle, int64_t now)
{
    int mode = self->cfg.grid.backup;
    if (mode == FG_BACKUP_NEVER)
        return UINT32_MAX;
    double slowest = mode == FG_BACKUP_LATE? self->backup_slowest: 0;
    uint32_t pick = UINT32_MAX;
    double best = 0;                    //  late: held / expected; always: -started
    for (uint32_t s = 0; s < self->nshards; s++) {
        fg_coord_unit_t *unit = &self->units [s];
        if (unit->state != FG_COORD_UNIT_RUNNING || unit->copies != 1)
            continue;
        if (mode == FG_BACKUP_ALWAYS) {
            if (!fg_coord_may_take (self, idle, s))
                continue;
            if (pick == UINT32_MAX || -(double) unit->started_at > best) {
                best = -(double) unit->started_at;
                pick = s;
            }
            continue;
        }
        //  noted by fg_coord_backup_begin in this pass (a unit with one
        //  copy has one running node; nodes are not removed during a pass)
        const fg_coord_node_t *holder = self->holders? self->holders [s]: NULL;
        if (!holder)
            continue;
        uint64_t samples = self->shards->offset [s + 1] - self->shards->offset [s];
        fg_coord_backup_case_t c = {
            .mode = mode, .after = self->cfg.grid.backup_after,
            .held_ms = (double) (now - holder->assigned_at),
            .holder_ms = holder->speed > 0? s_expected_at (self, holder->speed, samples): 0,
            .bound_ms = s_expected_at (self, slowest, samples),
            .left_ms = holder->deadline? (double) (holder->deadline - now): 0,
            .idle_ms = idle->speed > 0? s_expected_at (self, idle->speed, samples): 0
        };
        if (!fg_coord_backup_helps (&c))
            continue;
        double expected = c.holder_ms > 0? c.holder_ms: c.bound_ms;
        double lateness = c.held_ms / expected;
        //  fg_coord_may_take scans the nodes: asked only of a unit that
        //  would be the pick, so a pass stays about O(idle nodes x shards)
        if ((pick == UINT32_MAX || lateness > best) && fg_coord_may_take (self, idle, s)) {
            best = lateness;
            pick = s;
        }
    }
    return pick;
}

//  --------------------------------------------------------------------------
//  Copies and their compute

int
fg_coord_copy_kind (const fg_coord_unit_t *unit, bool backup)
{
    if (backup)
        return FG_COORD_COPY_BACKUP;
    if (unit->attempts == 0)
        return FG_COORD_COPY_FIRST;
    return unit->lost? FG_COORD_COPY_REISSUE: FG_COORD_COPY_REPLICA;
}

const char *
fg_coord_copy_kind_name (int kind)
{
    switch (kind) {
        case FG_COORD_COPY_FIRST:   return "first";
        case FG_COORD_COPY_REPLICA: return "replica";
        case FG_COORD_COPY_REISSUE: return "reissue";
        case FG_COORD_COPY_BACKUP:  return "backup";
        default:                    return "";
    }
}

//  Outcomes whose compute went into the weights (or a replica's check).
static bool
s_useful (const char *outcome)
{
    return strcmp (outcome, "accepted") == 0 || strcmp (outcome, "agreed") == 0;
}

void
fg_coord_waste_begin (fg_coord_t *self)
{
    self->waste_s = 0;
    self->wasted_copies = 0;
    self->backups = 0;
}

//  Adds a discarded copy's seconds to the round's and the run's waste.
static void
s_waste_add (fg_coord_t *self, double seconds)
{
    self->waste_s += seconds;
    self->waste_total_s += seconds;
    self->wasted_copies++;
}

//  The attempt record of (round, shard, attempt), or NULL when it is not
//  of the round in progress.
static fg_coord_issue_t *
s_issue (fg_coord_t *self, uint32_t round, uint32_t shard, uint32_t attempt)
{
    if (!self->units || round != self->round || shard >= self->nshards || attempt < 1
    ||  attempt > self->units [shard].attempts)
        return NULL;
    return &self->units [shard].issued [attempt - 1];
}

void
fg_coord_waste_row (fg_coord_t *self, uint32_t round, uint32_t shard, uint32_t attempt,
                    uint32_t elapsed_ms, const char *outcome, const char **kind,
                    double *held_s, double *wasted_s)
{
    *kind = "";
    *held_s = 0;
    *wasted_s = 0;
    fg_coord_issue_t *issue = s_issue (self, round, shard, attempt);
    if (!issue)
        return;                         //  a round committed meanwhile: not known here
    int64_t now = zclock_mono ();
    if (!issue->ended)
        issue->ended = now;
    *kind = fg_coord_copy_kind_name (issue->kind);
    *held_s = (double) (issue->ended - issue->at) / 1000.0;
    if (issue->counted)
        return;                         //  its compute is counted already
    issue->counted = true;
    double compute = elapsed_ms / 1000.0;
    if (compute > *held_s)
        compute = *held_s;              //  a node's word, bounded by what we saw
    if (!s_useful (outcome)) {
        *wasted_s = compute;
        s_waste_add (self, compute);
    }
}

void
fg_coord_copy_lost (fg_coord_t *self, fg_coord_node_t *node, const char *outcome)
{
    if (!node->busy)
        return;
    fg_coord_issue_t *issue = s_issue (self, node->r_round, node->shard, node->attempt);
    if (issue && !issue->counted) {
        int64_t now = zclock_mono ();
        issue->ended = now;
        issue->counted = true;
        double held = (double) (now - issue->at) / 1000.0;
        s_waste_add (self, held);
        fg_coord_clients_csv_copy (self, node, issue, outcome, held);
    }
    //  a copy that failed or vanished makes the unit's next copy a re-issue
    if (strcmp (outcome, "stopped") && self->units && node->r_round == self->round
    &&  node->shard < self->nshards)
        self->units [node->shard].lost = true;
    fg_coord_unit_copy_ends (self, node);
}
