/*  fg_coordinator_internal.h — the coordinator actor's state, shared by
    its files. Internal to actors/; one thread owns an fg_coord_t, so
    nothing here locks.

    fg_coordinator.c   the actor: its loop, the ROUTER dispatch, the round
                       state machine (units, tasks, results, deadlines,
                       backup copies, commit) and the owner's side
    fg_coord_nodes.c   the node registry: sending to a node, HELLO and
                       admission, liveness and heartbeats, node records
    fg_coord_serve.c   what trainers fetch: the base weights in chunks,
                       samples (DATA-REQUEST) and the bytes served per unit
    fg_coord_results.c a unit's result: whose it is, its bounds, the pull of
                       its update, checks, journal, aggregation
    fg_coord_files.c   the experiment's files: status.json, rounds.csv,
                       clients.csv
    fg_coord_start.c   start-up and resume (fg_coord_new), and tear-down
    fg_coord_trust.c   what a node's word is worth: strikes against nodes
                       that sent what was not theirs to send or not true,
                       quarantine, trust
    fg_coord_vote.c    replication and validation: votes on units'
                       results, verdicts, spot checks
    fg_coord_check.c   the invariants between two messages (the fuzz
                       harness checks them after every operation)
    fg_coord_waste.c   expected times from measured speeds, the backup-copy
                       policy (grid.backup), and the compute of discarded
                       copies (waste) per round                           */

#ifndef FG_COORDINATOR_INTERNAL_H_INCLUDED
#define FG_COORDINATOR_INTERNAL_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "fg_actors.h"
#include "fg_actors_internal.h"
#include "fg_journal.h"
#include "fg_optim.h"
#include "fg_security.h"
#include "fg_sha256.h"
#include "fg_wire_socket.h"

typedef enum {
    FG_COORD_UNIT_PENDING,          //  needs one more copy
    FG_COORD_UNIT_RUNNING,          //  copies running or votes pending
    FG_COORD_UNIT_DONE,             //  accepted
    FG_COORD_UNIT_LEFT_OUT          //  deadline policy: no valid majority
} fg_coord_unit_state_t;

//  Copies of one unit at most, each on a distinct node (fg_coord_vote.c):
//  R, then one more per disagreement or invalid lone result.
#define FG_COORD_VOTES_MAX  5

//  Why a copy of a unit was issued (clients.csv "kind"; fg_coord_waste.c).
typedef enum {
    FG_COORD_COPY_FIRST,            //  the unit's first copy
    FG_COORD_COPY_REPLICA,          //  wanted by replication, a spot check, a disagreement
    FG_COORD_COPY_REISSUE,          //  an earlier copy passed its deadline, failed or vanished
    FG_COORD_COPY_BACKUP            //  a second copy while the first runs (grid.backup)
} fg_coord_copy_kind_t;

//  One attempt of a unit: who it went to, when, why; whether its compute
//  is counted yet (once per attempt: at its result's verdict, or when the
//  copy is stopped, failed or lost).
typedef struct {
    uint32_t node;                  //  node number it went to
    uint8_t  kind;                  //  fg_coord_copy_kind_t
    bool     counted;
    int64_t  at;                    //  zclock_mono when issued
    int64_t  ended;                 //  when its result came or it was stopped; 0: runs
} fg_coord_issue_t;

//  One node's result for a unit, held until the unit's verdict. The bytes
//  are kept for the first result of each digest only.
typedef struct {
    uint32_t node;                  //  node number
    char     id [FG_WIRE_NAME_MAX + 1];
    uint32_t attempt;
    uint8_t  digest [FG_SHA256_SIZE];   //  update SHA-256, sample count, losses
    uint8_t  hash [FG_SHA256_SIZE]; //  update SHA-256
    uint64_t update_size;
    uint8_t *update;                //  NULL: an earlier vote holds these bytes
    float   *loss;
    uint32_t nloss;
    uint64_t samples;
    uint32_t elapsed_ms;
    bool     invalid;               //  refused by validation (a lone result)
} fg_coord_vote_t;

//  One unit (shard) of the round in progress.
typedef struct {
    int      state;                 //  fg_coord_unit_state_t
    uint32_t attempts;              //  issued so far (attempt numbers 1..)
    uint32_t copies;                //  running copies
    int64_t  started_at;            //  first running copy
    uint8_t  hash [FG_SHA256_SIZE]; //  accepted update's SHA-256
    uint32_t node;                  //  accepting node number
    uint32_t attempt;               //  accepted attempt
    uint64_t samples;
    double   last_loss;             //  final local epoch's loss
    //  replication (fg_coord_vote.c)
    uint32_t want;                  //  results wanted: R, + spot check, + disagreements
    uint32_t need;                  //  identical results that make a majority
    bool     checked;               //  spot-checked: a second copy wanted
    uint32_t agreed;                //  accepted: results that agreed
    uint32_t nvotes;
    fg_coord_vote_t votes [FG_COORD_VOTES_MAX];
    bool     lost;                  //  a copy expired, failed or vanished (re-issues)
    fg_coord_issue_t *issued;       //  [attempt - 1]: who it went to, when, why
    uint32_t issued_cap;
} fg_coord_unit_t;

//  A budget of things worth saying about one peer (log lines, journaled
//  events, strikes): a burst at once, then one a second; the rest is
//  counted and reported with the next one said (fg_coord_nodes.c).
typedef struct {
    int64_t  refill_at;
    uint32_t tokens;
    bool     primed;
    uint64_t suppressed;
} fg_coord_quota_t;

//  A connected trainer.
typedef struct {
    char      id [FG_WIRE_NAME_MAX + 1];
    zframe_t *routing;              //  ROUTER identity
    uint32_t  number;               //  journal node number
    int64_t   last_seen;
    bool      ready;                //  waits for a unit
    bool      busy;
    bool      has_dataset;          //  announced it (else it fetches samples)
    bool      unable;               //  refused a TASK as impossible: no units
    uint32_t  shard, attempt;       //  unit it runs (busy)
    int64_t   assigned_at;
    int64_t   deadline;             //  0: none
    bool      expired;              //  its deadline passed, unit re-issued
    double    speed;                //  samples x epochs per second, smoothed, 0: unknown
    double    expected_ms;          //  its unit's expected time at issue, 0: unknown
    uint64_t  accepted, rejected;
    uint32_t  strikes;              //  fg_coord_strike
    uint64_t  agreed;               //  results confirmed by another node
    bool      quarantined;          //  over grid.max_strikes: removed soon
    fg_coord_quota_t quota;         //  what may be said about it now
    bool      journaled;            //  its record is in the journal
    char      joined [256];         //  "joined" event, journaled with its record
    char      key [41];             //  CURVE public key (Z85), "" without CURVE
    uint64_t  dropped;              //  stale update chunks dropped
    uint32_t  weights_round;        //  round of weights_served
    uint64_t  weights_served;       //  base weights bytes served this round
    //  update being pulled
    uint8_t  *update;
    uint64_t  update_size, update_have;
    uint8_t   update_hash [FG_SHA256_SIZE];
    uint32_t  outstanding;
    float    *loss;
    uint32_t  nloss;
    uint64_t  samples;
    uint32_t  elapsed_ms;
    uint32_t  r_round, r_shard, r_attempt;
} fg_coord_node_t;

//  Sample bytes served (DATA-CHUNK LZ4 bytes) to one node for one unit.
typedef struct {
    char     id [FG_WIRE_NAME_MAX + 1];
    uint32_t round, shard;
    uint64_t bytes;
} fg_coord_fetched_t;

typedef struct {
    zsock_t  *pipe;
    zsock_t  *router;
    fg_guard_t *guard;              //  CURVE and allow-lists on tcp, or NULL
    zpoller_t *poller;
    zactor_t *partitioner;
    zactor_t *aggregator;
    bool      terminated;
    bool      finished;
    bool      stopped;          //  the loop has ended before the last round: status.json says so

    char      dir [1024];
    fg_config_t cfg;
    const fg_dataset_t *train;
    const fg_dataset_t *test;
    uint8_t   dataset_hash [FG_SHA256_SIZE];
    fg_model_spec_t model;
    fg_optim_config_t optim;
    fg_journal_t *journal;
    uint64_t  experiment;           //  wire experiment id
    fg_wire_limits_t limits;
    int       port;

    fg_coord_node_t **nodes;
    bool      sweep_due;            //  a live node may be quarantined: the next
                                    //  fg_coord_quarantine_sweep looks
    zhashx_t *by_routing;           //  ROUTER identity -> node of nodes, for
                                    //  fg_coord_node_find (NULL: scan nodes)
    zhash_t  *departed;             //  ROUTER identity (hex) -> node id it was, for
                                    //  nodes removed (one node id per connection)
    size_t    nnodes;
    fg_coord_quota_t strangers;     //  what may be said about unknown peers
    char      peer_key [41];        //  CURVE key of the message's sender, or ""
    uint32_t  next_number;          //  next journal node number

    //  the round in progress
    uint32_t  round;
    fg_state_t *base;               //  weights version round - 1
    uint8_t  *base_blob;            //  its blob, as journaled and served
    size_t    base_size;
    uint8_t   base_hash [FG_SHA256_SIZE];
    fg_shards_t *shards;
    fg_coord_unit_t *units;
    uint32_t  nshards;
    uint32_t  done;
    uint64_t  update_bound;         //  largest update blob (fg_blob_bound of base)
    //  backup copies under grid.backup = "late", weighed at most every
    //  S_BACKUP_EVERY_MS (fg_coord_backup_begin): each unit's single
    //  running copy's node, and the slowest speed measured, found once
    //  per pass over the idle nodes instead of once per idle node and unit
    int64_t   backup_at;
    const fg_coord_node_t **holders; //  [nshards] the single running copy, or NULL
    uint32_t  holders_cap;
    double    backup_slowest;
    uint32_t  unsure_round;         //  begun by an earlier run: its issues unknown
    bool      folding;              //  FINISH sent to the aggregator
    int64_t   round_started;        //  zclock_mono
    int64_t   round_deadline;       //  deadline policy
    double    round_cpu;            //  coordinator thread CPU at round start
    //  the time split of the round being committed (rounds.csv's last
    //  columns, docs/report.md): seconds from the round's start to FINISH,
    //  the aggregator's fold and evaluation, the journal's transaction
    int64_t   fold_started;         //  zclock_mono when FINISH was sent
    double    units_s, aggregate_s, eval_s, commit_s;
    double    train_loss_sum;       //  sample-weighted final local losses
    uint64_t  samples_sum;

    int64_t   beat_at;
    int64_t   status_at;
    int64_t   waiting_logged_at;
    double    last_accuracy;
    double    round_seconds_avg;
    FILE     *clients_csv;
    bool      status_failing;       //  status.json / clients.csv writes fail: warned once
    bool      clients_failing;      //  per streak (a full disk would repeat it every second)
    char     *rounds_csv;           //  rounds.csv as last written
    size_t    rounds_csv_size;

    //  waste (fg_coord_waste.c): compute of discarded copies
    double    waste_s;              //  round in progress: seconds of trainer compute
    uint32_t  wasted_copies;        //  ... and copies discarded
    uint32_t  backups;              //  ... and backup copies issued
    double    waste_last_s;         //  the last committed round's
    double    waste_total_s;        //  every round's (rounds.csv at start, then this run)

    //  per (node, round, shard) of the round in progress, for clients.csv
    fg_coord_fetched_t *fetched;
    size_t    nfetched;
} fg_coord_t;

//  ---- fg_coordinator.c: the round ------------------------------------------

//  Starts round self->round on self->base: shards, units, the aggregator,
//  and the updates the journal already holds for it (a restart).
//  Returns 0 or the partitioner's, aggregator's or journal's code.
int
    fg_coord_begin_round (fg_coord_t *self, fg_error_t *err);

//  Takes over weights and their full blob (malloc'ed, size bytes) as the
//  base of the round in progress; hash is the blob's SHA-256 when known
//  (the journal's mark of the commit hashed it), NULL to hash it here.
void
    fg_coord_set_base (fg_coord_t *self, fg_state_t *weights, uint8_t *blob, size_t size,
                       const uint8_t *hash);

//  Frees the round in progress (units, shards, base).
void
    fg_coord_free_round (fg_coord_t *self);

//  Hands an accepted update to the aggregator (ownership moves). Returns
//  0 or the aggregator's code.
int
    fg_coord_aggregate (fg_coord_t *self, uint32_t shard, uint64_t samples,
                        fg_state_t *update, fg_error_t *err);

//  Marks shard done with an update whose SHA-256 is hash.
void
    fg_coord_unit_done (fg_coord_t *self, uint32_t shard, const uint8_t *hash, uint32_t node,
                        uint32_t attempt, uint64_t samples, double last_loss);

//  Every unit is in (exact), or a quorum by the deadline (deadline policy).
bool
    fg_coord_round_complete (const fg_coord_t *self);

//  Sends FINISH to the aggregator; its answer commits the round.
void
    fg_coord_start_folding (fg_coord_t *self);

//  A unit is done: trainers still running other copies of it drop them
//  (REJECT of their TASK, reason stale) and are free for the next unit.
void
    fg_coord_cancel_copies (fg_coord_t *self, uint32_t shard);

//  True when a unit may be handed out now: one PENDING, or one RUNNING on
//  a single copy (a backup copy's only candidates). When none is, s_assign
//  skips its loop over nodes x shards: with every unit in flight, the
//  heartbeats of a large grid found nothing to assign at O(nodes x shards)
//  each (docs/benchmarks.md). O(shards).
bool
    fg_coord_units_open (const fg_coord_t *self);

//  True when a unit waits for a copy to be handed out (PENDING).
bool
    fg_coord_units_pending (const fg_coord_t *self);

//  A node's running copy of a unit ends (result, failure, death).
void
    fg_coord_unit_copy_ends (fg_coord_t *self, fg_coord_node_t *node);

//  One decoded message from the peer behind routing (a ROUTER identity;
//  the caller keeps both): HELLO, or a known node's message, then units
//  go to ready nodes. The ROUTER loop calls it for every well-formed
//  message; the coordinator fuzz harness drives it directly. Returns 0,
//  or a code that stops the coordinator (journal failure) with fatal set.
int
    fg_coord_on_message (fg_coord_t *self, zframe_t *routing, fg_wire_msg_t *msg,
                         fg_error_t *fatal);

//  Hands an accepted update to the aggregator (ownership moves).
int
    fg_coord_aggregate (fg_coord_t *self, uint32_t shard, uint64_t samples, fg_state_t *update,
                        fg_error_t *err);

//  Marks shard done with an update whose SHA-256 is hash.
void
    fg_coord_unit_done (fg_coord_t *self, uint32_t shard, const uint8_t *hash, uint32_t node,
                        uint32_t attempt, uint64_t samples, double last_loss);

//  A unit is decided: trainers still running copies of it drop them.
void
    fg_coord_cancel_copies (fg_coord_t *self, uint32_t shard);

//  Starts folding when the round is complete.
void
    fg_coord_maybe_fold (fg_coord_t *self);

//  REJECT of node's result in transfer, counted, journaled and listed.
void
    fg_coord_reject_result (fg_coord_t *self, fg_coord_node_t *node, int reason, const char *why);

//  The aggregator answered FINISH: commits the round and starts the next
//  one (the ROUTER loop calls it when the aggregator's pipe is readable;
//  the fuzz harness, to let a round end). Returns 0, or a code that stops
//  the coordinator with fatal set.
int
    fg_coord_on_aggregator (fg_coord_t *self, fg_error_t *fatal);

//  Heartbeats, liveness, unit deadlines, the deadline policy, status.json:
//  what the loop does at every turn.
void
    fg_coord_on_timer (fg_coord_t *self);

//  Journals an event of the round in progress and logs it.
void
    fg_coord_event (fg_coord_t *self, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

//  ---- fg_coord_results.c: results ----------------------------------------

//  RESULT: checks whose unit it is and its bounds, then pulls the update.
//  Returns 0, or a code that stops the coordinator (journal failure).
int
    fg_coord_on_result (fg_coord_t *self, fg_coord_node_t *node, fg_wire_msg_t *msg,
                        fg_error_t *fatal);

//  WEIGHTS-CHUNK of an update being pulled. Returns as fg_coord_on_result.
int
    fg_coord_on_update_chunk (fg_coord_t *self, fg_coord_node_t *node,
                              const fg_wire_msg_t *msg, fg_error_t *fatal);

//  ---- fg_coord_nodes.c: the node registry ---------------------------------

//  Sends msg (stamped with the experiment) to node; a failure other than
//  a gone peer (FG_ENOENT) is logged. Returns fg_wire_send's code.
int
    fg_coord_send (fg_coord_t *self, fg_coord_node_t *node, fg_wire_msg_t *msg);

void
    fg_coord_send_ack (fg_coord_t *self, fg_coord_node_t *node, int of_type, uint32_t round,
                       uint32_t shard, uint32_t attempt);

//  REJECT to a peer identified by its routing frame (node may be unknown;
//  about may be NULL).
void
    fg_coord_send_reject (fg_coord_t *self, zframe_t *routing, const fg_wire_msg_t *about,
                          int reason, const char *text);

fg_coord_node_t *
    fg_coord_node_find (fg_coord_t *self, zframe_t *routing);

//  Drops the update being pulled from node.
void
    fg_coord_node_clear_update (fg_coord_node_t *node);

//  Writes node's record (counters, last seen) to the journal, once the
//  node has been issued a unit or struck (a node that only said HELLO is
//  not journaled: a flood of HELLOs cannot grow the registry).
void
    fg_coord_node_save (fg_coord_t *self, fg_coord_node_t *node);

//  node is issued a unit: from now on it is journaled.
void
    fg_coord_node_issued (fg_coord_t *self, fg_coord_node_t *node);

//  True when something may be said about a peer now (quota of burst);
//  *suppressed receives how many were not said since the last time, and
//  is reset.
bool
    fg_coord_quota_take (fg_coord_quota_t *quota, int64_t now, uint32_t burst,
                         uint64_t *suppressed);

enum {
    FG_COORD_SAY_INFO,              //  a log line
    FG_COORD_SAY_WARN,              //  a warning
    FG_COORD_SAY_EVENT              //  a journaled event (and its log line)
};

//  Says something about node (NULL: an unknown peer) within its quota (a
//  node not journaled yet shares the quota of unknown peers), with how
//  many similar things were suppressed before it.
void
    fg_coord_node_say (fg_coord_t *self, fg_coord_node_t *node, int how, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

#define fg_coord_node_info(self, node, ...) \
    fg_coord_node_say ((self), (node), FG_COORD_SAY_INFO, __VA_ARGS__)
#define fg_coord_node_warn(self, node, ...) \
    fg_coord_node_say ((self), (node), FG_COORD_SAY_WARN, __VA_ARGS__)
#define fg_coord_node_event(self, node, ...) \
    fg_coord_node_say ((self), (node), FG_COORD_SAY_EVENT, __VA_ARGS__)

//  node sent what was not its to send: REJECT (reason, text, about msg)
//  and a strike (fg_coord_strike) within its quota; a lie past the quota
//  is refused and counted as rejected, not struck.
void
    fg_coord_node_lie (fg_coord_t *self, fg_coord_node_t *node, const fg_wire_msg_t *about,
                       int reason, const char *fmt, ...)
    __attribute__ ((format (printf, 5, 6)));

//  Ends node's running copy, saves and frees it (the event says why).
void
    fg_coord_node_remove (fg_coord_t *self, fg_coord_node_t *node, const char *why);

//  HELLO: admits the peer (protocol, GEMM arithmetic) as a node.
void
    fg_coord_on_hello (fg_coord_t *self, zframe_t *routing, fg_wire_msg_t *msg);

//  Sends heartbeats when due; says so now and then when no node is there.
void
    fg_coord_nodes_beat (fg_coord_t *self, int64_t now);

//  Node numbers continue after those the journal knows.
void
    fg_coord_nodes_resume (fg_coord_t *self);

//  Says BYE to every node (while the ROUTER is open) and frees them.
void
    fg_coord_nodes_destroy (fg_coord_t *self);

//  ---- fg_coord_serve.c: weights and samples -------------------------------

void
    fg_coord_on_weights_request (fg_coord_t *self, fg_coord_node_t *node,
                                 const fg_wire_msg_t *msg);

void
    fg_coord_on_data_request (fg_coord_t *self, fg_coord_node_t *node,
                              const fg_wire_msg_t *msg);

//  The TASK's geometry block: the training set's classes and shape when
//  its samples travel as stored files (fg_dataset_has_stored), which a
//  fetching trainer cannot learn from the kind; none otherwise (the
//  TASK's bytes of protocol 1).
void
    fg_coord_task_geometry (const fg_coord_t *self, fg_wire_task_t *task);

//  Sample bytes served to node id for (round, shard); 0 when none.
uint64_t
    fg_coord_fetched_bytes (const fg_coord_t *self, const char *id, uint32_t round,
                            uint32_t shard);

//  Forgets the counters of rounds before the one in progress.
void
    fg_coord_fetched_prune (fg_coord_t *self);

//  ---- fg_coord_files.c: status.json, rounds.csv, clients.csv --------------

//  Replaces status.json and schedules the next refresh.
//  Seconds left for status.json's eta_s: 0 when finished; rounds left x
//  the committed rounds' average; before the first commit, from the first
//  finished units (elapsed x shards / done per round, minus what this
//  round already took); -1 while nothing is measured.
double
    fg_coord_eta (bool finished, uint32_t rounds_left, double round_avg_s, double elapsed_s,
                  size_t done, size_t shards);

void
    fg_coord_write_status (fg_coord_t *self);

//  Rebuilds rounds.csv from the journal's metrics of rounds 1..last.
//  Returns 0, FG_ENOMEM or FG_EIO.
int
    fg_coord_rounds_csv_rebuild (fg_coord_t *self, uint32_t last, fg_error_t *err);

//  Adds the row of a committed round to rounds.csv, with the round's waste
//  (a failure is logged: the file is rebuilt from the journal and
//  clients.csv at the next start).
void
    fg_coord_rounds_csv_add (fg_coord_t *self, uint32_t round, const fg_journal_metrics_t *m);

//  Opens clients.csv to append (an earlier layout is moved aside).
void
    fg_coord_clients_csv_open (fg_coord_t *self);

//  One row of clients.csv: node's result for shard of the round in progress.
void
    fg_coord_clients_csv_add (fg_coord_t *self, const fg_coord_node_t *node, uint32_t shard,
                              uint32_t attempt, const char *outcome);

//  One row of clients.csv for node's running copy that ended without a
//  result (issue: its attempt; held: seconds it held the unit, wasted).
void
    fg_coord_clients_csv_copy (fg_coord_t *self, const fg_coord_node_t *node,
                               const fg_coord_issue_t *issue, const char *outcome, double held);

//  One row of clients.csv for a vote's verdict (its node may be gone).
void
    fg_coord_clients_csv_vote (fg_coord_t *self, const fg_coord_vote_t *vote, uint32_t shard,
                               const char *outcome);

//  ---- fg_coord_waste.c: expected times, backup copies, waste ---------------

//  What the backup policy weighs for one running unit (milliseconds; 0:
//  unknown). Built by fg_coord_backup_pick; a pure function decides.
typedef struct {
    int    mode;                    //  fg_backup_t
    double after;                   //  grid.backup_after
    double held_ms;                 //  the holder has held the unit this long
    double holder_ms;               //  its expected time (its measured speed)
    double bound_ms;                //  expected time at the slowest speed measured
    double left_ms;                 //  until the holder's deadline
    double idle_ms;                 //  the idle node's expected time
} fg_coord_backup_case_t;

//  True when a second copy of the unit should go to the idle node now
//  (fg_coord_waste.c says when, for each grid.backup mode).
bool
    fg_coord_backup_helps (const fg_coord_backup_case_t *c);

//  The unit to copy to idle node as a backup, or UINT32_MAX for none:
//  the running single copy that grid.backup allows and that is latest
//  against its expected time (grid.backup = "always": the oldest).
uint32_t
    fg_coord_backup_pick (fg_coord_t *self, const fg_coord_node_t *idle, int64_t now);

//  Whether s_assign may hand out backup copies in this pass (call once
//  before its loop over the nodes): "always" every pass, "never" none,
//  "late" at most every 200 ms (a backup is a matter of seconds, and
//  s_assign runs after every message), when it also notes each unit's
//  holder and the slowest speed for fg_coord_backup_pick.
bool
    fg_coord_backup_begin (fg_coord_t *self, int64_t now);

//  Slowest speed measured among connected nodes (samples x epochs per
//  second), 0 when none.
double
    fg_coord_slowest_speed (const fg_coord_t *self);

//  Expected milliseconds of a unit of samples on node: its measured speed,
//  or (unknown) the slowest measured one; 0 when no speed is known.
double
    fg_coord_expected_ms (const fg_coord_t *self, const fg_coord_node_t *node,
                          uint64_t samples);

//  Why the next attempt of unit goes out (fg_coord_copy_kind_t).
int
    fg_coord_copy_kind (const fg_coord_unit_t *unit, bool backup);

//  clients.csv name of a copy kind.
const char *
    fg_coord_copy_kind_name (int kind);

//  node's result of its unit (its own attempt, every byte in) measures its
//  speed: samples x epochs over the time it reported, at most the time
//  the coordinator saw it hold the unit; smoothed over its results.
void
    fg_coord_speed_measured (fg_coord_t *self, fg_coord_node_t *node);

//  node's running copy ends without a result (outcome "stopped": another
//  copy decided the unit; "failed": it said ERROR; "lost": it was
//  removed): its time held is counted as waste, with a clients.csv row.
void
    fg_coord_copy_lost (fg_coord_t *self, fg_coord_node_t *node, const char *outcome);

//  The compute of attempt of shard (round in progress) that a clients.csv
//  row with outcome reports: *kind, *held_s, *wasted_s (counted in the
//  round's waste once per attempt). elapsed_ms is what the node reported.
void
    fg_coord_waste_row (fg_coord_t *self, uint32_t round, uint32_t shard, uint32_t attempt,
                        uint32_t elapsed_ms, const char *outcome, const char **kind,
                        double *held_s, double *wasted_s);

//  A new round: its waste counters start at 0.
void
    fg_coord_waste_begin (fg_coord_t *self);

//  ---- fg_coord_trust.c: strikes and quarantine -----------------------------

//  Counts a strike against node: it sent what was not its to send (a
//  unit not issued to it, a false sample count, an oversized update) or a
//  result shown wrong. The event names the node and why. Past
//  grid.max_strikes the node is quarantined (journaled; its HELLO is
//  refused from then on) and marked for removal: node stays valid until
//  fg_coord_quarantine_sweep.
void
    fg_coord_strike (fg_coord_t *self, fg_coord_node_t *node, const char *why);

//  The same against node number (identity id), live or gone: a live node
//  is struck as above, a gone one through its journal record.
void
    fg_coord_strike_number (fg_coord_t *self, uint32_t number, const char *id, const char *why);

//  Credits node number with a result accepted (agreed: confirmed by
//  another node's), live or gone.
void
    fg_coord_credit_number (fg_coord_t *self, uint32_t number, bool agreed);

//  Removes the quarantined nodes still connected (REJECT first, saying why).
void
    fg_coord_quarantine_sweep (fg_coord_t *self);

//  Why node id may not join (quarantined), in text; false if it may.
bool
    fg_coord_quarantined (fg_coord_t *self, const char *id, char *text, size_t size);

//  A node is trusted when not quarantined, never struck, and with at
//  least FG_COORD_TRUST_AFTER results confirmed by another node.
#define FG_COORD_TRUST_AFTER 3
bool
    fg_coord_trusted (const fg_coord_node_t *node);

//  ---- fg_coord_vote.c: replication and validation --------------------------

//  Sets each unit's wanted copies at the start of a round: R, and 2 for
//  the units grid.spot_check picks by fg_rng (seed, round, shard).
void
    fg_coord_votes_begin (fg_coord_t *self);

//  True when the spot check picks unit shard of round (R = 1, p > 0).
bool
    fg_coord_spot_checked (uint64_t seed, uint32_t round, uint32_t shard, double p);

//  Frees the bytes the units' pending votes hold.
void
    fg_coord_votes_free (fg_coord_t *self);

//  True when node may run a copy of shard: no copy of it ran or runs on
//  the same node number.
bool
    fg_coord_may_take (const fg_coord_t *self, const fg_coord_node_t *node, uint32_t shard);

//  PENDING or RUNNING from copies running and votes in.
void
    fg_coord_unit_refresh (fg_coord_unit_t *unit);

//  node's update for a unit not yet done, every byte in and matching its
//  SHA-256 (digest): counted as a vote; a majority decides the unit (its
//  winner is validated, journaled and aggregated), a disagreement asks for
//  one more copy. Returns 0, or a code that stops the coordinator
//  (journal failure; under the exact policy, an agreed result that fails
//  validation or no majority among FG_COORD_VOTES_MAX copies).
int
    fg_coord_vote (fg_coord_t *self, fg_coord_node_t *node, fg_error_t *fatal);

//  ---- fg_coord_check.c: invariants -----------------------------------------

//  fg_coord_check flags: also the invariants of issue 11's ownership and
//  bounds (a done unit's attempt was issued and its sample count is the
//  shard's size; an announced update is within the model's bound).
#define FG_COORD_CHECK_OWNERSHIP    1

//  Checks the invariants that hold between two messages (fg_coord_check.c
//  lists them); reads the journal, changes nothing. Returns 0 or FG_ESTATE
//  with the violated invariant in err.
int
    fg_coord_check (fg_coord_t *self, int flags, fg_error_t *err);

//  Bytes above any encoded update of the round's model (0 without a base).
uint64_t
    fg_coord_check_update_bound (const fg_coord_t *self);

//  ---- fg_coord_start.c: start-up, resume, tear-down -----------------------

//  Opens or resumes the experiment of args, starts the child actors, binds
//  the ROUTER and starts the round to run. *port is the tcp port bound
//  (when args->listen). Returns NULL and fills err on failure.
fg_coord_t *
    fg_coord_new (zsock_t *pipe, const fg_coordinator_args_t *args, int *port,
                  fg_error_t *err);

//  NULL-safe; nulls *self_p.
void
    fg_coord_destroy (fg_coord_t **self_p);

#endif
