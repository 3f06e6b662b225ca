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
         bytes are in: SHA-256, decode, validate, journal (idempotent by
         (round, shard)), ACK, hand to the aggregator;
      5. when every shard is in (exact) — or a quorum by the round's
         deadline (deadline policy) — the aggregator folds in shard order
         and evaluates, and the round commits in ONE journal transaction.
    Faults: a silent trainer (liveness x heartbeat) is dropped and its unit
    re-issued; a unit past its deadline is issued again to another trainer
    (the first valid result wins); when every unit is in flight an idle
    trainer gets a backup copy of the oldest; a result that differs from
    an accepted one for the same unit marks its node faulty.
    Data: every node gets units; one that lacks the dataset fetches its
    shard's samples with DATA-REQUEST, which the coordinator answers from
    its training set with DATA-CHUNKs (records of label + pixels, LZ4), at
    most S_DATA_WINDOW chunks' worth and S_DATA_RANGES ranges per request
    (the requester asks for the next window when one is in), so neither
    side buffers more than a window. Bytes served are counted per (node,
    round, shard) and written to clients.csv (fetched_bytes).             */

#include "fg_actors.h"
#include "fg_actors_internal.h"
#include "fg_blob.h"
#include "fg_crash.h"
#include "fg_file.h"
#include "fg_journal.h"
#include "fg_log.h"
#include "fg_ops.h"
#include "fg_optim.h"
#include "fg_security.h"
#include "fg_sha256.h"
#include "fg_unit.h"
#include "fg_wire_socket.h"

#include <czmq.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define S_CREDIT        8           //  update chunks asked for at a time
#define S_STATUS_MS     1000        //  status.json refresh
#define S_WAIT_LOG_MS   10000       //  "waiting for trainers" reminder
#define S_DATA_WINDOW   16          //  data chunks' worth one DATA-REQUEST may ask
#define S_DATA_RANGES   256         //  ranges one DATA-REQUEST may hold
#define S_CLIENTS_HEADER "round,shard,node,attempt,samples,local_losses,seconds,update_bytes," \
                         "outcome,fetched_bytes\n"

typedef enum { U_PENDING, U_RUNNING, U_DONE } s_unit_state_t;

typedef struct {
    int      state;                 //  s_unit_state_t
    uint32_t attempts;              //  issued so far (attempt numbers 1..)
    uint32_t copies;                //  running copies
    int64_t  started_at;            //  first running copy
    uint8_t  hash [FG_SHA256_SIZE]; //  accepted update's SHA-256
    uint32_t node;                  //  accepting node number
    uint32_t attempt;               //  accepted attempt
    uint64_t samples;
    double   last_loss;             //  final local epoch's loss
} s_unit_t;

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
    double    speed;                //  samples x epochs per second, 0: unknown
    uint64_t  accepted, rejected;
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
} s_node_t;

typedef struct {
    zsock_t  *pipe;
    zsock_t  *router;
    fg_guard_t *guard;              //  CURVE and allow-lists on tcp, or NULL
    zpoller_t *poller;
    zactor_t *partitioner;
    zactor_t *aggregator;
    bool      terminated;
    bool      finished;

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

    s_node_t **nodes;
    size_t    nnodes;
    uint32_t  next_number;          //  next journal node number

    //  the round in progress
    uint32_t  round;
    fg_state_t *base;               //  weights version round - 1
    uint8_t  *base_blob;
    size_t    base_size;
    uint8_t   base_hash [FG_SHA256_SIZE];
    fg_shards_t *shards;
    s_unit_t *units;
    uint32_t  nshards;
    uint32_t  done;
    bool      folding;              //  FINISH sent to the aggregator
    int64_t   round_started;        //  zclock_mono
    int64_t   round_deadline;       //  deadline policy
    double    round_cpu;            //  coordinator thread CPU at round start
    double    train_loss_sum;       //  sample-weighted final local losses
    uint64_t  samples_sum;

    int64_t   beat_at;
    int64_t   status_at;
    int64_t   waiting_logged_at;
    double    last_accuracy;
    double    round_seconds_avg;
    FILE     *clients_csv;

    //  sample bytes served (DATA-CHUNK LZ4 bytes) per (node, round, shard)
    //  of the round in progress, for clients.csv
    struct s_fetched {
        char     id [FG_WIRE_NAME_MAX + 1];
        uint32_t round, shard;
        uint64_t bytes;
    } *fetched;
    size_t    nfetched;
} s_self_t;

static double
s_thread_cpu (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

static uint64_t
s_wall_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

//  --------------------------------------------------------------------------
//  Sending

static int
s_send (s_self_t *self, s_node_t *node, fg_wire_msg_t *msg)
{
    msg->experiment = self->experiment;
    fg_error_t err;
    int rc = fg_wire_send (self->router, node->routing, msg, &self->limits, &err);
    if (rc && rc != FG_ENOENT)
        fg_warn ("coordinator: %s to %s: %s", fg_wire_type_name (msg->type), node->id, err.msg);
    return rc;
}

static void
s_send_ack (s_self_t *self, s_node_t *node, int of_type, uint32_t round, uint32_t shard,
            uint32_t attempt)
{
    fg_wire_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.type = FG_WIRE_ACK;
    msg.round = round;
    msg.shard = shard;
    msg.attempt = attempt;
    msg.ack.of_type = (uint8_t) of_type;
    s_send (self, node, &msg);
}

//  REJECT to a peer identified by its routing frame (node may be unknown).
static void
s_send_reject (s_self_t *self, zframe_t *routing, const fg_wire_msg_t *about, int reason,
               const char *text)
{
    fg_wire_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.type = FG_WIRE_REJECT;
    msg.experiment = self->experiment;
    msg.round = about? about->round: 0;
    msg.shard = about? about->shard: 0;
    msg.attempt = about? about->attempt: 0;
    msg.reject.of_type = about? (uint8_t) about->type: 0;
    msg.reject.reason = (uint16_t) reason;
    snprintf (msg.reject.text, sizeof msg.reject.text, "%.250s", text);
    fg_wire_send (self->router, routing, &msg, &self->limits, NULL);
}

//  --------------------------------------------------------------------------
//  Files: status.json (atomic), rounds.csv (rebuilt from the journal),
//  clients.csv (appended)

static size_t
s_alive (const s_self_t *self)
{
    return self->nnodes;
}

static uint32_t
s_in_flight (const s_self_t *self)
{
    uint32_t n = 0;
    for (uint32_t s = 0; s < self->nshards; s++)
        n += self->units [s].state == U_RUNNING;
    return n;
}

static void
s_write_status (s_self_t *self)
{
    char text [1024], path [1100];
    double eta = -1;
    uint32_t left = (uint32_t) self->cfg.experiment.rounds - (self->round? self->round - 1: 0);
    if (self->round_seconds_avg > 0)
        eta = self->round_seconds_avg * left;
    int n = snprintf (text, sizeof text,
        "{\"state\": \"%s\", \"round\": %u, \"rounds\": %lld, \"nodes_alive\": %zu, "
        "\"units_in_flight\": %u, \"units_done\": %u, \"shards\": %u, "
        "\"last_accuracy\": %.6f, \"eta_s\": %.1f, \"pid\": %ld, \"port\": %d, "
        "\"updated_ns\": %llu}\n",
        self->finished? "finished": s_alive (self)? "running": "waiting for trainers",
        self->round, (long long) self->cfg.experiment.rounds, s_alive (self),
        s_in_flight (self), self->done, self->nshards, self->last_accuracy, eta,
        (long) getpid (), self->port, (unsigned long long) s_wall_ns ());
    snprintf (path, sizeof path, "%s/status.json", self->dir);
    fg_file_write_atomic (path, text, (size_t) n, 0644, 0, NULL);
    self->status_at = zclock_mono () + S_STATUS_MS;
}

static void
s_csv_round (FILE *csv, uint32_t round, const fg_journal_metrics_t *m)
{
    fprintf (csv, "%u,%.6f,%.6f,%.6f,%u,%llu,%.3f\n", round, m->test_accuracy, m->test_loss,
             m->train_loss, m->updates, (unsigned long long) m->samples,
             (double) m->duration_ms / 1000.0);
}

//  rounds.csv is derived data: rebuilt from the journal at start, so a
//  crash between a commit and the line never loses or doubles a row.
static int
s_rebuild_rounds_csv (s_self_t *self, uint32_t last, fg_error_t *err)
{
    char path [1100], tmp [1200];
    snprintf (path, sizeof path, "%s/rounds.csv", self->dir);
    snprintf (tmp, sizeof tmp, "%s.tmp", path);
    FILE *csv = fopen (tmp, "w");
    if (!csv)
        return fg_error_set (err, FG_EIO, "%s: cannot write", tmp);
    fprintf (csv, "round,test_accuracy,test_loss,train_loss,updates,samples,seconds\n");
    for (uint32_t r = 1; r <= last; r++) {
        fg_journal_metrics_t m;
        if (fg_journal_metrics_get (self->journal, r, &m, NULL) == 0)
            s_csv_round (csv, r, &m);
    }
    int rc = fflush (csv) || fsync (fileno (csv));
    rc |= fclose (csv);
    if (rc || rename (tmp, path))
        return fg_error_set (err, FG_EIO, "%s: cannot write", path);
    return 0;
}

//  The counter of (node id, round, shard); NULL when none (create: a new
//  one, or NULL when out of memory).
static struct s_fetched *
s_fetched_find (s_self_t *self, const char *id, uint32_t round, uint32_t shard, bool create)
{
    for (size_t i = 0; i < self->nfetched; i++)
        if (self->fetched [i].round == round && self->fetched [i].shard == shard
        &&  strcmp (self->fetched [i].id, id) == 0)
            return &self->fetched [i];
    if (!create)
        return NULL;
    struct s_fetched *more = realloc (self->fetched, (self->nfetched + 1) * sizeof *more);
    if (!more)
        return NULL;
    self->fetched = more;
    struct s_fetched *entry = &self->fetched [self->nfetched++];
    snprintf (entry->id, sizeof entry->id, "%s", id);
    entry->round = round;
    entry->shard = shard;
    entry->bytes = 0;
    return entry;
}

//  Counters of rounds before the one in progress are of no more use.
static void
s_fetched_prune (s_self_t *self)
{
    size_t kept = 0;
    for (size_t i = 0; i < self->nfetched; i++)
        if (self->fetched [i].round >= self->round)
            self->fetched [kept++] = self->fetched [i];
    self->nfetched = kept;
}

static void
s_csv_client (s_self_t *self, const s_node_t *node, uint32_t shard, uint32_t attempt,
              const char *outcome)
{
    if (!self->clients_csv)
        return;
    fprintf (self->clients_csv, "%u,%u,%s,%u,%llu,", self->round, shard, node->id, attempt,
             (unsigned long long) node->samples);
    for (uint32_t i = 0; i < node->nloss; i++)
        fprintf (self->clients_csv, "%s%.6f", i? ";": "", node->loss [i]);
    const struct s_fetched *fetched = s_fetched_find (self, node->id, self->round, shard, false);
    fprintf (self->clients_csv, ",%.3f,%llu,%s,%llu\n", node->elapsed_ms / 1000.0,
             (unsigned long long) node->update_size, outcome,
             (unsigned long long) (fetched? fetched->bytes: 0));
    fflush (self->clients_csv);
}

static void
s_event (s_self_t *self, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_event (s_self_t *self, const char *fmt, ...)
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
//  Nodes

static s_node_t *
s_node_find (s_self_t *self, zframe_t *routing)
{
    for (size_t i = 0; i < self->nnodes; i++)
        if (zframe_eq (self->nodes [i]->routing, routing))
            return self->nodes [i];
    return NULL;
}

static void
s_node_clear_update (s_node_t *node)
{
    free (node->update);
    node->update = NULL;
    node->update_size = node->update_have = 0;
    node->outstanding = 0;
    free (node->loss);
    node->loss = NULL;
    node->nloss = 0;
}

static void
s_node_save (s_self_t *self, const s_node_t *node)
{
    fg_journal_node_t record;
    memset (&record, 0, sizeof record);
    record.node = node->number;
    snprintf (record.identity, sizeof record.identity, "%s", node->id);
    record.accepted = node->accepted;
    record.rejected = node->rejected;
    record.last_seen_ns = s_wall_ns ();
    record.first_seen_ns = record.last_seen_ns;
    fg_journal_node_put (self->journal, &record, NULL);
}

//  A node's running copy of a unit ends (result, failure, death).
static void
s_unit_copy_ends (s_self_t *self, s_node_t *node)
{
    if (!node->busy)
        return;
    node->busy = false;
    s_unit_t *unit = node->shard < self->nshards && node->r_round == self->round
                   ? &self->units [node->shard]: NULL;
    if (unit && unit->state == U_RUNNING && !node->expired) {
        if (unit->copies)
            unit->copies--;
        if (unit->copies == 0)
            unit->state = U_PENDING;
    }
    node->expired = false;
    node->deadline = 0;
}

static void
s_node_remove (s_self_t *self, s_node_t *node, const char *why)
{
    s_event (self, "node %s removed: %s", node->id, why);
    s_unit_copy_ends (self, node);
    s_node_save (self, node);
    for (size_t i = 0; i < self->nnodes; i++)
        if (self->nodes [i] == node) {
            memmove (&self->nodes [i], &self->nodes [i + 1],
                     (self->nnodes - i - 1) * sizeof (s_node_t *));
            self->nnodes--;
            break;
        }
    s_node_clear_update (node);
    zframe_destroy (&node->routing);
    free (node);
}

static int
s_number_of (const fg_journal_node_t *record, void *arg)
{
    s_node_t *node = (s_node_t *) arg;
    if (strcmp (record->identity, node->id) == 0) {
        node->number = record->node;
        node->accepted = record->accepted;
        node->rejected = record->rejected;
        return 1;
    }
    return 0;
}

static int
s_max_number (const fg_journal_node_t *record, void *arg)
{
    uint32_t *max = (uint32_t *) arg;
    if (record->node >= *max)
        *max = record->node + 1;
    return 0;
}

//  --------------------------------------------------------------------------
//  Rounds

static int s_begin_round (s_self_t *self, fg_error_t *err);

static void
s_free_round (s_self_t *self)
{
    fg_state_destroy (&self->base);
    free (self->base_blob);
    self->base_blob = NULL;
    fg_shards_destroy (&self->shards);
    free (self->units);
    self->units = NULL;
    self->nshards = 0;
    self->done = 0;
    self->folding = false;
}

//  Takes over `weights` as the base of round `round`.
static int
s_set_base (s_self_t *self, fg_state_t *weights, fg_error_t *err)
{
    fg_state_destroy (&self->base);
    free (self->base_blob);
    self->base = weights;
    self->base_blob = NULL;
    int rc = fg_blob_encode (weights, NULL, &self->base_blob, &self->base_size, err);
    if (rc == 0)
        fg_sha256 (self->base_blob, self->base_size, self->base_hash);
    return rc;
}

static int
s_aggregator_call (s_self_t *self, fg_error_t *err)
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

//  Hands an accepted update to the aggregator (ownership moves).
static int
s_aggregate (s_self_t *self, uint32_t shard, uint64_t samples, fg_state_t *update,
             fg_error_t *err)
{
    zsock_send (self->aggregator, "s48p", "ADD", shard, samples, update);
    return s_aggregator_call (self, err);
}

//  Marks shard done with an update whose SHA-256 is hash.
static void
s_unit_done (s_self_t *self, uint32_t shard, const uint8_t *hash, uint32_t node,
             uint32_t attempt, uint64_t samples, double last_loss)
{
    s_unit_t *unit = &self->units [shard];
    unit->state = U_DONE;
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
s_load_stored_updates (s_self_t *self, fg_error_t *err)
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
            s_unit_done (self, shard, hash, u.node, u.attempt, u.samples,
                         nloss? (double) loss [nloss - 1]: 0);
            rc = s_aggregate (self, shard, u.samples, update, err);
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

static int
s_begin_round (s_self_t *self, fg_error_t *err)
{
    fg_shards_destroy (&self->shards);
    free (self->units);
    self->units = NULL;
    self->done = 0;
    self->folding = false;
    self->train_loss_sum = 0;
    self->samples_sum = 0;
    s_fetched_prune (self);
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
    self->units = calloc (self->nshards, sizeof (s_unit_t));
    if (!self->units)
        return fg_error_set (err, FG_ENOMEM, "coordinator: out of memory");
    rc = fg_journal_round_open (self->journal, self->round, NULL, 0, err);
    if (rc)
        return rc;
    zsock_send (self->aggregator, "s4p", "BEGIN", self->nshards, self->base);
    rc = s_aggregator_call (self, err);
    if (rc == 0)
        rc = s_load_stored_updates (self, err);
    self->round_started = zclock_mono ();
    self->round_deadline = self->round_started + self->cfg.grid.deadline_floor_s * 1000;
    self->round_cpu = s_thread_cpu ();
    return rc;
}

static bool
s_round_complete (const s_self_t *self)
{
    if (self->done == self->nshards)
        return true;
    if (self->cfg.experiment.policy == FG_POLICY_DEADLINE) {
        uint32_t quorum = (uint32_t) ceil (self->cfg.experiment.quorum * self->nshards);
        return self->done >= (quorum? quorum: 1) && zclock_mono () >= self->round_deadline;
    }
    return false;
}

static void
s_start_folding (s_self_t *self)
{
    self->folding = true;
    zsock_send (self->aggregator, "s", "FINISH");
    zpoller_add (self->poller, self->aggregator);
}

//  A unit is done: trainers still running other copies of it drop them
//  (REJECT of their TASK, reason stale) and are free for the next unit.
static void
s_cancel_copies (s_self_t *self, uint32_t shard)
{
    for (size_t i = 0; i < self->nnodes; i++) {
        s_node_t *other = self->nodes [i];
        if (!other->busy || other->shard != shard || other->r_round != self->round)
            continue;
        fg_wire_msg_t about;
        memset (&about, 0, sizeof about);
        about.type = FG_WIRE_TASK;
        about.round = self->round;
        about.shard = shard;
        about.attempt = other->attempt;
        s_send_reject (self, other->routing, &about, FG_WIRE_REASON_STALE,
                       "another copy of this unit finished first");
        s_unit_copy_ends (self, other);
    }
}

//  The aggregator answered FINISH: commit the round.
static int
s_commit_round (s_self_t *self, fg_error_t *err)
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
    fg_journal_metrics_t metrics;
    memset (&metrics, 0, sizeof metrics);
    metrics.updates = self->done;
    metrics.samples = self->samples_sum;
    metrics.train_loss = self->samples_sum? self->train_loss_sum / (double) self->samples_sum: NAN;
    metrics.test_loss = result->eval.loss;
    metrics.test_accuracy = result->eval.count
                          ? (double) result->eval.correct / (double) result->eval.count: NAN;
    int64_t wall_ms = zclock_mono () - self->round_started;
    metrics.duration_ms = (uint64_t) wall_ms;
    uint32_t *included = malloc ((self->done? self->done: 1) * sizeof (uint32_t));
    fg_journal_assignment_t *assigned = malloc ((self->done? self->done: 1) * sizeof *assigned);
    uint8_t *blob = NULL, *mblob = NULL;
    size_t size = 0, msize = 0;
    if (!included || !assigned)
        rc = fg_error_set (err, FG_ENOMEM, "coordinator: out of memory");
    size_t n = 0;
    for (uint32_t s = 0; rc == 0 && s < self->nshards; s++)
        if (self->units [s].state == U_DONE) {
            included [n] = s;
            assigned [n].shard = s;
            assigned [n].node = self->units [s].node;
            assigned [n].attempt = self->units [s].attempt;
            n++;
        }
    if (rc == 0)
        rc = fg_blob_encode (result->weights, NULL, &blob, &size, err);
    if (rc == 0 && result->momentum)    //  FedAvgM: the buffer commits with the weights
        rc = fg_blob_encode (result->momentum, NULL, &mblob, &msize, err);
    if (rc == 0) {
        fg_crash_point ("journal.round.before");
        rc = fg_journal_commit_round_with_optimizer (self->journal, self->round, blob, size,
                                                     mblob, msize, &metrics, included, n,
                                                     assigned, n, err);
    }
    free (included);
    free (assigned);
    free (blob);
    free (mblob);
    if (rc) {
        fg_aggregator_result_destroy (&result);
        return rc;
    }
    fg_crash_point ("journal.round.after");
    //  deadline policy: units left out of the round are of no more use
    for (uint32_t s = 0; s < self->nshards; s++)
        if (self->units [s].state != U_DONE)
            s_cancel_copies (self, s);
    double cpu = s_thread_cpu () - self->round_cpu;
    char hash [65];
    fg_state_hash (result->weights, hash);
    char line [512];
    snprintf (line, sizeof line,
              "round %u/%lld  test %.2f%%  test loss %.4f  train loss %.4f  %u updates  "
              "%.1f s  coordinator %.3f s (%.1f%%)  weights %.16s",
              self->round, (long long) self->cfg.experiment.rounds,
              100 * metrics.test_accuracy, metrics.test_loss, metrics.train_loss,
              metrics.updates, wall_ms / 1000.0, cpu,
              wall_ms? 100.0 * cpu / (wall_ms / 1000.0): 0.0, hash);
    char path [1100];
    snprintf (path, sizeof path, "%s/rounds.csv", self->dir);
    FILE *csv = fopen (path, "a");
    if (csv) {
        s_csv_round (csv, self->round, &metrics);
        fclose (csv);
    }
    self->last_accuracy = metrics.test_accuracy;
    self->round_seconds_avg = self->round_seconds_avg > 0
                            ? 0.7 * self->round_seconds_avg + 0.3 * wall_ms / 1000.0
                            : wall_ms / 1000.0;
    zsock_send (self->pipe, "ss", "ROUND", line);
    fg_state_t *weights = result->weights;
    result->weights = NULL;
    fg_aggregator_result_destroy (&result);
    if (self->round >= (uint32_t) self->cfg.experiment.rounds) {
        fg_state_destroy (&weights);
        self->finished = true;
        s_write_status (self);
        zsock_send (self->pipe, "ss", "DONE", hash);
        return 0;
    }
    self->round++;
    rc = s_set_base (self, weights, err);
    if (rc == 0)
        rc = s_begin_round (self, err);
    return rc;
}

//  --------------------------------------------------------------------------
//  Assigning units

static void
s_send_task (s_self_t *self, s_node_t *node, uint32_t shard, bool backup)
{
    s_unit_t *unit = &self->units [shard];
    size_t begin = self->shards->offset [shard], end = self->shards->offset [shard + 1];
    size_t count = end - begin;
    fg_wire_range_t *ranges = malloc ((count? count: 1) * sizeof *ranges);
    if (!ranges)
        return;
    uint32_t nranges = 0;
    for (size_t i = begin; i < end; i++) {
        uint32_t index = self->shards->index [i];
        if (nranges && ranges [nranges - 1].start + ranges [nranges - 1].count == index)
            ranges [nranges - 1].count++;
        else {
            ranges [nranges].start = index;
            ranges [nranges].count = 1;
            nranges++;
        }
    }
    fg_wire_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.type = FG_WIRE_TASK;
    msg.round = self->round;
    msg.shard = shard;
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
    int64_t now = zclock_mono ();
    double work = (double) count * (double) self->cfg.training.local_epochs;
    double expected_ms = node->speed > 0? 1000.0 * work / node->speed: 0;
    double budget = self->cfg.grid.deadline_factor * expected_ms;
    double floor_ms = (double) self->cfg.grid.deadline_floor_s * 1000.0;
    if (budget < floor_ms)
        budget = floor_ms;
    t->deadline_ms = budget > 4e9? UINT32_MAX: (uint32_t) budget;
    t->sample_count = count;
    t->range_count = nranges;
    t->ranges = ranges;
    int rc = s_send (self, node, &msg);
    free (ranges);
    if (rc) {
        unit->attempts--;
        return;
    }
    fg_crash_point ("coordinator.task.sent");
    node->ready = false;
    node->busy = true;
    node->shard = shard;
    node->attempt = msg.attempt;
    node->r_round = self->round;
    node->assigned_at = now;
    node->deadline = now + (int64_t) budget;
    node->expired = false;
    if (unit->state != U_RUNNING) {
        unit->state = U_RUNNING;
        unit->started_at = now;
    }
    unit->copies++;
    fg_debug ("coordinator: round %u shard %u attempt %u -> %s%s", self->round, shard,
              msg.attempt, node->id, backup? " (backup copy)": "");
}

static void
s_assign (s_self_t *self)
{
    if (!self->units || self->folding || self->finished)
        return;
    for (size_t i = 0; i < self->nnodes; i++) {
        s_node_t *node = self->nodes [i];
        if (!node->ready || node->busy || node->unable)
            continue;
        uint32_t pick = UINT32_MAX;
        for (uint32_t s = 0; s < self->nshards && pick == UINT32_MAX; s++)
            if (self->units [s].state == U_PENDING)
                pick = s;
        bool backup = false;
        if (pick == UINT32_MAX) {
            //  everything is in flight: a backup copy of the oldest single copy
            int64_t oldest = INT64_MAX;
            for (uint32_t s = 0; s < self->nshards; s++) {
                s_unit_t *unit = &self->units [s];
                if (unit->state == U_RUNNING && unit->copies == 1 && unit->started_at < oldest) {
                    oldest = unit->started_at;
                    pick = s;
                }
            }
            backup = true;
        }
        if (pick == UINT32_MAX)
            return;
        s_send_task (self, node, pick, backup);
    }
}

//  --------------------------------------------------------------------------
//  Results

static void
s_reject_result (s_self_t *self, s_node_t *node, int reason, const char *why)
{
    fg_wire_msg_t about;
    memset (&about, 0, sizeof about);
    about.type = FG_WIRE_RESULT;
    about.round = node->r_round;
    about.shard = node->r_shard;
    about.attempt = node->r_attempt;
    s_send_reject (self, node->routing, &about, reason, why);
    node->rejected++;
    s_event (self, "result of round %u shard %u from %s rejected: %s", node->r_round,
             node->r_shard, node->id, why);
    s_csv_client (self, node, node->r_shard, node->r_attempt, "rejected");
    s_node_clear_update (node);
    s_node_save (self, node);
}

//  Every byte of node's update is in: check, store, acknowledge, aggregate.
static int
s_complete_update (s_self_t *self, s_node_t *node, fg_error_t *fatal)
{
    uint32_t shard = node->r_shard;
    uint8_t digest [FG_SHA256_SIZE];
    fg_sha256 (node->update, node->update_size, digest);
    if (memcmp (digest, node->update_hash, FG_SHA256_SIZE)) {
        s_reject_result (self, node, FG_WIRE_REASON_CHECKSUM, "update does not match its SHA-256");
        return 0;
    }
    s_unit_t *unit = &self->units [shard];
    if (unit->state == U_DONE) {
        //  another copy was accepted first: the same bytes or a faulty host
        if (memcmp (unit->hash, digest, FG_SHA256_SIZE) == 0) {
            s_send_ack (self, node, FG_WIRE_RESULT, node->r_round, shard, node->r_attempt);
            s_csv_client (self, node, shard, node->r_attempt, "duplicate");
            s_node_clear_update (node);
        }
        else
            s_reject_result (self, node, FG_WIRE_REASON_MISMATCH,
                             "differs from the accepted result of this unit: faulty node");
        return 0;
    }
    fg_error_t err;
    fg_state_t *update = NULL;
    int rc = fg_blob_decode (node->update, node->update_size, self->base, &update, &err);
    if (rc == 0)
        rc = fg_aggregate_validate (self->base, update, shard,
                                    self->cfg.aggregation.max_update_norm, NULL, &err);
    for (uint32_t i = 0; rc == 0 && i < node->nloss; i++)
        if (!isfinite (node->loss [i]))
            rc = fg_error_set (&err, FG_ENUMERIC, "local loss %u is not finite", i);
    if (rc) {
        fg_state_destroy (&update);
        s_reject_result (self, node, rc == FG_ENUMERIC? FG_WIRE_REASON_NUMERIC:
                                     rc == FG_EMISMATCH? FG_WIRE_REASON_SHAPE: FG_WIRE_REASON_OTHER,
                         err.msg);
        return 0;
    }
    fg_journal_update_t record;
    memset (&record, 0, sizeof record);
    record.round = self->round;
    record.shard = shard;
    record.attempt = node->r_attempt;
    record.node = node->number;
    record.samples = node->samples;
    fg_crash_point ("journal.update.before");
    bool duplicate = false;
    rc = fg_journal_put_update (self->journal, &record, node->loss, node->nloss,
                                node->update, node->update_size, &duplicate, fatal);
    if (rc == FG_EMISMATCH) {
        fg_state_destroy (&update);
        s_reject_result (self, node, FG_WIRE_REASON_MISMATCH, fatal->msg);
        fg_error_clear (fatal);
        return 0;
    }
    if (rc) {
        fg_state_destroy (&update);
        return rc;                      //  the journal failed: stop, resume later
    }
    fg_crash_point ("journal.update.after");
    s_unit_done (self, shard, digest, node->number, node->r_attempt, node->samples,
                 node->nloss? (double) node->loss [node->nloss - 1]: 0);
    s_cancel_copies (self, shard);
    node->accepted++;
    if (node->elapsed_ms && node->samples)
        node->speed = (double) node->samples * (double) self->cfg.training.local_epochs
                    / (node->elapsed_ms / 1000.0);
    s_send_ack (self, node, FG_WIRE_RESULT, self->round, shard, node->r_attempt);
    s_csv_client (self, node, shard, node->r_attempt, "accepted");
    s_node_clear_update (node);
    rc = s_aggregate (self, shard, record.samples, update, fatal);
    if (rc)
        return rc;
    if (s_round_complete (self))
        s_start_folding (self);
    return 0;
}

static void
s_request_update_chunks (s_self_t *self, s_node_t *node)
{
    fg_wire_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.type = FG_WIRE_WEIGHTS_REQUEST;
    msg.round = node->r_round;
    msg.shard = node->r_shard;
    msg.attempt = node->r_attempt;
    msg.weights_request.blob = FG_WIRE_BLOB_UPDATE;
    msg.weights_request.version = self->round - 1;
    msg.weights_request.offset = node->update_have;
    msg.weights_request.credit = S_CREDIT;
    msg.weights_request.chunk_size = (uint32_t) self->limits.max_chunk;
    node->outstanding = S_CREDIT;
    s_send (self, node, &msg);
}

static int
s_on_result (s_self_t *self, s_node_t *node, fg_wire_msg_t *msg, fg_error_t *fatal)
{
    fg_crash_point ("coordinator.result.received");
    const fg_wire_result_t *r = &msg->result;
    bool mine = node->busy && node->shard == msg->shard && node->r_round == msg->round;
    if (mine)
        s_unit_copy_ends (self, node);
    if (msg->round != self->round || msg->shard >= self->nshards || self->folding
    ||  r->weights_version != self->round - 1) {
        bool done = msg->round == self->round && msg->shard < self->nshards
                 && self->units [msg->shard].state == U_DONE;
        if (done && memcmp (self->units [msg->shard].hash, r->update_hash, FG_SHA256_SIZE) == 0)
            s_send_ack (self, node, FG_WIRE_RESULT, msg->round, msg->shard, msg->attempt);
        else
            s_send_reject (self, node->routing, msg, FG_WIRE_REASON_STALE,
                           "not a unit of the round in progress");
        if (!node->busy)
            node->ready = true;
        return 0;
    }
    s_node_clear_update (node);
    node->r_round = msg->round;
    node->r_shard = msg->shard;
    node->r_attempt = msg->attempt;
    node->samples = r->sample_count;
    node->elapsed_ms = r->elapsed_ms;
    node->update_size = r->update_size;
    memcpy (node->update_hash, r->update_hash, FG_SHA256_SIZE);
    if (r->update_size > ((uint64_t) 1 << 34) || r->sample_count == 0) {
        s_reject_result (self, node, FG_WIRE_REASON_OTHER, "update size or sample count out of range");
        return 0;
    }
    //  a unit already done with the same hash needs no transfer
    if (self->units [msg->shard].state == U_DONE
    &&  memcmp (self->units [msg->shard].hash, r->update_hash, FG_SHA256_SIZE) == 0) {
        s_send_ack (self, node, FG_WIRE_RESULT, msg->round, msg->shard, msg->attempt);
        return 0;
    }
    node->update = malloc (r->update_size? r->update_size: 1);
    node->loss = malloc ((r->loss_count? r->loss_count: 1) * sizeof (float));
    if (!node->update || !node->loss) {
        s_node_clear_update (node);
        return fg_error_set (fatal, FG_ENOMEM, "coordinator: out of memory");
    }
    memcpy (node->loss, r->loss, r->loss_count * sizeof (float));
    node->nloss = r->loss_count;
    memcpy (node->update, r->prefix, r->prefix_size);
    node->update_have = r->prefix_size;
    if (node->update_have == node->update_size)
        return s_complete_update (self, node, fatal);
    s_request_update_chunks (self, node);
    return 0;
}

static int
s_on_update_chunk (s_self_t *self, s_node_t *node, const fg_wire_msg_t *msg, fg_error_t *fatal)
{
    const fg_wire_weights_chunk_t *c = &msg->weights_chunk;
    if (!node->update || c->blob != FG_WIRE_BLOB_UPDATE || msg->round != node->r_round
    ||  msg->shard != node->r_shard || c->offset != node->update_have
    ||  c->total != node->update_size || c->size > node->update_size - node->update_have
    ||  memcmp (c->hash, node->update_hash, FG_SHA256_SIZE))
        return 0;                       //  stale or out of order
    memcpy (node->update + node->update_have, c->data, c->size);
    node->update_have += c->size;
    if (node->outstanding)
        node->outstanding--;
    if (node->update_have == node->update_size)
        return s_complete_update (self, node, fatal);
    if (node->outstanding == 0)
        s_request_update_chunks (self, node);
    return 0;
}

static void
s_on_weights_request (s_self_t *self, s_node_t *node, const fg_wire_msg_t *msg)
{
    const fg_wire_weights_request_t *r = &msg->weights_request;
    if (r->blob != FG_WIRE_BLOB_GLOBAL || r->version != (uint64_t) self->round - 1
    ||  !self->base_blob) {
        s_send_reject (self, node->routing, msg, FG_WIRE_REASON_UNKNOWN,
                       "unknown weights version");
        return;
    }
    fg_wire_msg_t header;
    memset (&header, 0, sizeof header);
    header.experiment = self->experiment;
    header.round = msg->round;
    header.shard = msg->shard;
    header.attempt = msg->attempt;
    fg_error_t err;
    if (fg_wire_send_chunks (self->router, node->routing, &header, FG_WIRE_BLOB_GLOBAL,
                             r->version, self->base_blob, self->base_size, self->base_hash,
                             r->offset, r->credit, r->chunk_size, &self->limits, &err))
        fg_warn ("coordinator: weights to %s: %s", node->id, err.msg);
}

//  DATA-REQUEST: the samples of the ranges asked, as DATA-CHUNKs of
//  consecutive records (u16le label | pixels) of one range each, at most
//  fg_wire_data_raw_max bytes raw. Refused (REJECT, nothing changes): an
//  unknown dataset, ranges outside the training set, more than a window.
static void
s_on_data_request (s_self_t *self, s_node_t *node, const fg_wire_msg_t *msg)
{
    const fg_wire_data_request_t *r = &msg->data_request;
    size_t count = fg_dataset_count (self->train);
    size_t record = fg_dataset_record_size (self->train);
    size_t raw_max = fg_wire_data_raw_max (&self->limits);
    size_t per_chunk = raw_max / record;
    char why [200];
    why [0] = 0;
    int reason = FG_WIRE_REASON_OTHER;
    const fg_wire_range_t *last = r->range_count? &r->ranges [r->range_count - 1]: NULL;
    if (memcmp (r->dataset_hash, self->dataset_hash, FG_SHA256_SIZE)) {
        reason = FG_WIRE_REASON_UNKNOWN;
        snprintf (why, sizeof why, "unknown dataset: this experiment trains on %.16s...",
                  fg_dataset_hash_hex (self->train));
    }
    else
    if (!last || (uint64_t) last->start + last->count > count)
        snprintf (why, sizeof why, "samples up to %llu asked, the training set holds %zu",
                  last? (unsigned long long) last->start + last->count: 0ull, count);
    else
    if (per_chunk == 0)
        snprintf (why, sizeof why, "a sample (%zu bytes) does not fit in a data chunk", record);
    else
    if (r->range_count > S_DATA_RANGES || r->sample_count > (uint64_t) S_DATA_WINDOW * per_chunk)
        snprintf (why, sizeof why, "%u ranges of %llu samples asked at once; at most %d ranges "
                  "of %zu samples", r->range_count, (unsigned long long) r->sample_count,
                  S_DATA_RANGES, (size_t) S_DATA_WINDOW * per_chunk);
    if (why [0]) {
        fg_info ("coordinator: DATA-REQUEST from %s refused: %s", node->id, why);
        s_send_reject (self, node->routing, msg, reason, why);
        return;
    }
    uint8_t *raw = malloc (per_chunk * record);
    if (!raw) {
        s_send_reject (self, node->routing, msg, FG_WIRE_REASON_BUSY, "out of memory");
        return;
    }
    uint64_t bytes = 0;
    fg_error_t err;
    fg_error_clear (&err);
    int rc = 0;
    for (uint32_t i = 0; rc == 0 && i < r->range_count; i++)
        for (uint32_t done = 0; rc == 0 && done < r->ranges [i].count; ) {
            uint32_t left = r->ranges [i].count - done;
            uint32_t n = left < per_chunk? left: (uint32_t) per_chunk;
            uint32_t start = r->ranges [i].start + done;
            uint8_t *lz4 = NULL;
            size_t lz4_size = 0;
            rc = fg_dataset_records (self->train, start, n, raw, &err);
            if (rc == 0)
                rc = fg_wire_data_pack (raw, (size_t) n * record, &lz4, &lz4_size, &err);
            if (rc == 0) {
                fg_wire_msg_t chunk;
                memset (&chunk, 0, sizeof chunk);
                chunk.type = FG_WIRE_DATA_CHUNK;
                chunk.round = msg->round;
                chunk.shard = msg->shard;
                chunk.attempt = msg->attempt;
                memcpy (chunk.data_chunk.dataset_hash, self->dataset_hash, FG_SHA256_SIZE);
                chunk.data_chunk.start = start;
                chunk.data_chunk.count = n;
                chunk.data_chunk.record_size = (uint32_t) record;
                chunk.data_chunk.raw_size = (uint64_t) n * record;
                chunk.data_chunk.lz4_size = lz4_size;
                chunk.data_chunk.lz4 = lz4;
                rc = s_send (self, node, &chunk);
                if (rc == 0)
                    bytes += lz4_size;
            }
            free (lz4);
            done += n;
        }
    free (raw);
    if (rc && err.msg [0])              //  (a failed send is logged by s_send)
        fg_warn ("coordinator: samples to %s: %s", node->id, err.msg);
    fg_debug ("coordinator: %llu samples (%llu bytes) to %s for round %u shard %u",
              (unsigned long long) r->sample_count, (unsigned long long) bytes, node->id,
              msg->round, msg->shard);
    //  counted for the unit it is about (a request about none is served
    //  but not counted: the table stays bounded by nodes x shards)
    if (bytes && msg->round == self->round && msg->shard < self->nshards) {
        struct s_fetched *entry = s_fetched_find (self, node->id, msg->round, msg->shard, true);
        if (entry)
            entry->bytes += bytes;
    }
}

static void
s_on_hello (s_self_t *self, zframe_t *routing, fg_wire_msg_t *msg)
{
    const fg_wire_hello_t *h = &msg->hello;
    if (h->proto_min > FG_WIRE_VERSION || h->proto_max < FG_WIRE_VERSION) {
        s_send_reject (self, routing, msg, FG_WIRE_REASON_VERSION, "protocol version not spoken");
        return;
    }
    //  a node whose GEMM computes other bits would make a unit's result
    //  depend on where it ran: only the arithmetic identity (the first
    //  words of its kernel string) must match, not the SIMD variant
    const char *identity = fg_ops_kernel_identity ();
    size_t idlen = strlen (identity);
    if (strncmp (h->kernel, identity, idlen) || (h->kernel [idlen] && h->kernel [idlen] != ' ')) {
        char text [FG_WIRE_TEXT_MAX + 1];
        snprintf (text, sizeof text, "its GEMM arithmetic \"%.64s\" is not this grid's \"%s\": "
                  "run the same fedgrid release", h->kernel, identity);
        fg_warn ("coordinator: refused node %s: %s", h->node_id, text);
        s_send_reject (self, routing, msg, FG_WIRE_REASON_NOT_ALLOWED, text);
        return;
    }
    s_node_t *node = s_node_find (self, routing);
    if (node)
        s_node_remove (self, node, "announced itself again");
    node = calloc (1, sizeof *node);
    s_node_t **nodes = realloc (self->nodes, (self->nnodes + 1) * sizeof *nodes);
    if (!node || !nodes) {
        free (node);
        if (nodes)
            self->nodes = nodes;
        return;
    }
    self->nodes = nodes;
    snprintf (node->id, sizeof node->id, "%s", h->node_id);
    node->routing = zframe_dup (routing);
    node->last_seen = zclock_mono ();
    for (uint32_t i = 0; i < h->dataset_count; i++)
        if (memcmp (h->datasets [i], self->dataset_hash, FG_SHA256_SIZE) == 0)
            node->has_dataset = true;
    node->number = UINT32_MAX;
    fg_journal_nodes_foreach (self->journal, s_number_of, node, NULL);
    if (node->number == UINT32_MAX)
        node->number = self->next_number++;
    self->nodes [self->nnodes++] = node;
    s_node_save (self, node);
    s_event (self, "node %s joined (%u cores, kernel %s)%s", node->id, h->cores, h->kernel,
             node->has_dataset? "": "; it lacks the dataset and fetches samples");
    s_send_ack (self, node, FG_WIRE_HELLO, self->round, 0, 0);
}

//  One message from the ROUTER. Returns 0, or a code that stops the
//  coordinator (journal failure).
static int
s_on_router (s_self_t *self, fg_error_t *fatal)
{
    zframe_t *routing = NULL;
    fg_wire_msg_t msg;
    fg_error_t err;
    int rc = fg_wire_recv (self->router, &routing, &self->limits, &msg, &err);
    if (rc) {
        s_node_t *node = routing? s_node_find (self, routing): NULL;
        fg_warn ("coordinator: bad message from %s: %s", node? node->id: "an unknown peer", err.msg);
        if (node)
            node->rejected++;
        if (routing)
            s_send_reject (self, routing, NULL, rc == FG_EVERSION? FG_WIRE_REASON_VERSION:
                           FG_WIRE_REASON_OTHER, err.msg);
        zframe_destroy (&routing);
        return 0;
    }
    s_node_t *node = s_node_find (self, routing);
    if (msg.type == FG_WIRE_HELLO)
        s_on_hello (self, routing, &msg);
    else
    if (!node)
        s_send_reject (self, routing, &msg, FG_WIRE_REASON_NOT_ALLOWED, "say HELLO first");
    else
    if (msg.experiment != self->experiment) {
        node->rejected++;
        s_send_reject (self, routing, &msg, FG_WIRE_REASON_EXPERIMENT, "another experiment");
    }
    else {
        node->last_seen = zclock_mono ();
        switch (msg.type) {
            case FG_WIRE_READY:
                node->ready = true;
                break;
            case FG_WIRE_WEIGHTS_REQUEST:
                s_on_weights_request (self, node, &msg);
                break;
            case FG_WIRE_RESULT:
                rc = s_on_result (self, node, &msg, fatal);
                break;
            case FG_WIRE_WEIGHTS_CHUNK:
                rc = s_on_update_chunk (self, node, &msg, fatal);
                break;
            case FG_WIRE_ERROR:
                s_event (self, "node %s failed round %u shard %u: %s", node->id, msg.round,
                         msg.shard, msg.error.text);
                if (node->busy && node->shard == msg.shard)
                    s_unit_copy_ends (self, node);
                break;
            case FG_WIRE_REJECT:
                fg_info ("coordinator: %s refused %s: %s", node->id,
                         fg_wire_type_name (msg.reject.of_type), msg.reject.text);
                if (msg.reject.of_type == FG_WIRE_TASK && node->busy && node->shard == msg.shard)
                    s_unit_copy_ends (self, node);
                if (msg.reject.of_type == FG_WIRE_TASK && msg.reject.reason == FG_WIRE_REASON_UNKNOWN
                &&  !node->unable) {
                    node->unable = true;        //  until it announces itself again
                    s_event (self, "node %s cannot run units of this experiment: %s", node->id,
                             msg.reject.text);
                }
                break;
            case FG_WIRE_DATA_REQUEST:
                s_on_data_request (self, node, &msg);
                break;
            case FG_WIRE_BYE:
                s_node_remove (self, node, "said BYE");
                node = NULL;
                break;
            default:
                break;                  //  HEARTBEAT: liveness only
        }
    }
    fg_wire_msg_clear (&msg);
    zframe_destroy (&routing);
    if (rc == 0)
        s_assign (self);
    return rc;
}

//  Heartbeats, liveness, unit deadlines, the deadline policy.
static void
s_on_timer (s_self_t *self)
{
    int64_t now = zclock_mono ();
    int64_t silent = self->cfg.grid.heartbeat_ms * self->cfg.grid.liveness;
    for (size_t i = 0; i < self->nnodes; ) {
        s_node_t *node = self->nodes [i];
        if (now - node->last_seen > silent) {
            s_node_remove (self, node, "silent");
            continue;
        }
        if (node->busy && node->deadline && now > node->deadline && !node->expired) {
            s_unit_t *unit = &self->units [node->shard];
            node->expired = true;       //  keeps running; its result still counts
            if (unit->state == U_RUNNING && unit->copies && --unit->copies == 0)
                unit->state = U_PENDING;
            s_event (self, "round %u shard %u passed its deadline on %s: issued again",
                     self->round, node->shard, node->id);
        }
        i++;
    }
    if (now >= self->beat_at) {
        for (size_t i = 0; i < self->nnodes; i++) {
            fg_wire_msg_t beat;
            memset (&beat, 0, sizeof beat);
            beat.type = FG_WIRE_HEARTBEAT;
            beat.round = self->round;
            if (s_send (self, self->nodes [i], &beat) == FG_ENOENT)
                self->nodes [i]->last_seen = 0;     //  gone: removed next turn
        }
        self->beat_at = now + self->cfg.grid.heartbeat_ms;
    }
    if (self->nnodes == 0 && !self->finished && now >= self->waiting_logged_at) {
        if (self->port)
            fg_warn ("coordinator: round %u waits: no live trainer (listening on port %d)",
                     self->round, self->port);
        else
            fg_warn ("coordinator: round %u waits: no live trainer", self->round);
        self->waiting_logged_at = now + S_WAIT_LOG_MS;
    }
    if (!self->folding && self->units && !self->finished && s_round_complete (self))
        s_start_folding (self);
    s_assign (self);
    if (now >= self->status_at)
        s_write_status (self);
}

//  --------------------------------------------------------------------------
//  Construction

//  FedAvgM: the momentum buffer journaled with round `last`, for the
//  aggregator to continue exactly where the uninterrupted run would be.
static int
s_load_momentum (s_self_t *self, uint32_t last, fg_state_t **buffer, fg_error_t *err)
{
    void *blob = NULL;
    size_t size = 0;
    int rc = fg_journal_get_optimizer (self->journal, last, &blob, &size, err);
    if (rc == 0)
        rc = fg_blob_decode (blob, size, NULL, buffer, err);
    free (blob);
    if (rc)
        fg_error_prefix (err, "cannot resume the server momentum (aggregation.server_momentum "
                         "= %g) from round %u of the journal in %s",
                         self->cfg.aggregation.server_momentum, last, self->dir);
    return rc;
}

typedef struct {
    const fg_coordinator_args_t *args;
    int status;
    fg_error_t err;
    int port;
} s_start_t;

static void s_self_destroy (s_self_t **self_p);

static s_self_t *
s_self_new (zsock_t *pipe, const fg_coordinator_args_t *a, int *port, fg_error_t *err)
{
    s_self_t *self = calloc (1, sizeof *self);
    if (!self) {
        fg_error_set (err, FG_ENOMEM, "coordinator: out of memory");
        return NULL;
    }
    self->pipe = pipe;
    self->cfg = *a->cfg;
    self->train = a->train;
    self->test = a->test;
    snprintf (self->dir, sizeof self->dir, "%s", a->dir);
    fg_dataset_hash (a->train, self->dataset_hash);
    fg_unit_model_spec (self->cfg.model.name, a->train, &self->model);
    fg_optim_config_from (&self->optim, &self->cfg, (double) self->cfg.experiment.rounds);
    self->limits.max_frame = (size_t) self->cfg.grid.max_frame;
    self->limits.max_chunk = (size_t) self->cfg.grid.chunk_size;
    self->last_accuracy = NAN;
    int rc = fg_wire_limits_check (&self->limits, err);
    if (rc == 0)
        rc = fg_optim_config_check (&self->optim, err);
    //  journal: create or resume
    char *canonical = rc? NULL: fg_config_canonical (&self->cfg, false);
    char hash [FG_SHA256_HEX_SIZE];
    fg_config_hash (&self->cfg, hash);
    if (rc == 0 && !canonical)
        rc = fg_error_set (err, FG_ENOMEM, "coordinator: out of memory");
    if (rc == 0)
        rc = fg_journal_open (self->dir, canonical, hash, true, &self->journal, err);
    free (canonical);
    if (rc == 0)
        rc = fg_journal_set_retention (self->journal, self->cfg.journal.keep_last,
                                       self->cfg.journal.keep_every, err);
    self->experiment = strtoull ((char []) { hash [0], hash [1], hash [2], hash [3], hash [4],
                                             hash [5], hash [6], hash [7], hash [8], hash [9],
                                             hash [10], hash [11], hash [12], hash [13],
                                             hash [14], hash [15], 0 }, NULL, 16);
    uint32_t last = 0;
    if (rc == 0) {
        rc = fg_journal_last_round (self->journal, &last, err);
        if (rc == FG_ENOENT) {
            rc = 0;
            last = 0;
        }
    }
    if (rc == 0)
        fg_journal_nodes_foreach (self->journal, s_max_number, &self->next_number, NULL);
    if (rc == 0)
        rc = s_rebuild_rounds_csv (self, last, err);
    //  child actors
    fg_partitioner_args_t pargs;
    memset (&pargs, 0, sizeof pargs);
    pargs.train = a->train;
    if (rc == 0)
        rc = fg_partition_params_from_config (&pargs.params, &self->cfg, err);
    if (rc == 0) {
        self->partitioner = zactor_new (fg_partitioner_actor, &pargs);
        if (!self->partitioner || pargs.status)
            rc = pargs.status? (*err = pargs.err, pargs.status)
                             : fg_error_set (err, FG_ENOMEM, "partitioner: cannot start");
    }
    fg_aggregator_args_t aargs;
    memset (&aargs, 0, sizeof aargs);
    fg_state_t *momentum = NULL;        //  FedAvgM: the buffer of round `last`
    if (rc == 0 && last && self->cfg.aggregation.server_momentum > 0)
        rc = s_load_momentum (self, last, &momentum, err);
    if (rc == 0) {
        fg_aggregate_params_from_config (&aargs.params, &self->cfg);
        aargs.momentum = momentum;
        aargs.test = a->test;
        aargs.test_count = 0;
        aargs.model = self->model;
        aargs.eval_batch = (uint32_t) self->cfg.training.test_batch_size;
        aargs.threads = a->eval_threads > 0? a->eval_threads: 1;
        self->aggregator = zactor_new (fg_aggregator_actor, &aargs);
        if (!self->aggregator || aargs.status)
            rc = aargs.status? (*err = aargs.err, aargs.status)
                             : fg_error_set (err, FG_ENOMEM, "aggregator: cannot start");
    }
    fg_state_destroy (&momentum);       //  the aggregator keeps its own copy
    //  sockets
    if (rc == 0) {
        self->router = zsock_new (ZMQ_ROUTER);
        if (!self->router)
            rc = fg_error_set (err, FG_ENOMEM, "coordinator: cannot create a socket");
    }
    if (rc == 0) {
        zsock_set_router_mandatory (self->router, 1);
        zsock_set_router_handover (self->router, 1);
        zsock_set_maxmsgsize (self->router, (int) self->limits.max_frame);
        zsock_set_handshake_ivl (self->router, 10000);
        zsock_set_linger (self->router, 0);
        zsock_set_sndtimeo (self->router, 1000);
        //  before any bind: CURVE server and zauth (inproc peers skip both)
        rc = fg_guard_open (&self->guard, self->router, &self->cfg, self->dir, a->listen,
                            NULL, err);
    }
    if (rc == 0) {
        if (a->inproc && *a->inproc && zsock_bind (self->router, "inproc://%s", a->inproc) != 0)
            rc = fg_error_set (err, FG_EINVAL, "cannot bind inproc://%s", a->inproc);
    }
    if (rc == 0 && a->listen && *a->listen) {
        int bound = zsock_bind (self->router, "%s", a->listen);
        if (bound < 0)
            rc = fg_error_set (err, FG_EINVAL, "cannot listen on %s (address in use or malformed)",
                               a->listen);
        else
            self->port = *port = bound;
    }
    if (rc == 0) {
        char path [1100];
        snprintf (path, sizeof path, "%s/clients.csv", self->dir);
        bool fresh = access (path, F_OK) != 0;
        if (!fresh) {
            //  a file of an earlier layout (no fetched_bytes) is kept aside
            char head [256] = "";
            FILE *old = fopen (path, "r");
            if (old) {
                if (!fgets (head, sizeof head, old))
                    head [0] = 0;
                fclose (old);
            }
            if (strcmp (head, S_CLIENTS_HEADER)) {
                char aside [1200];
                snprintf (aside, sizeof aside, "%s/clients-old.csv", self->dir);
                fresh = rename (path, aside) == 0;
            }
        }
        self->clients_csv = fopen (path, "a");
        if (self->clients_csv && fresh)
            fprintf (self->clients_csv, "%s", S_CLIENTS_HEADER);
        self->poller = zpoller_new (pipe, self->router, NULL);
        if (!self->poller)
            rc = fg_error_set (err, FG_ENOMEM, "coordinator: out of memory");
        else
            zpoller_set_nonstop (self->poller, true);
    }
    //  the round to run
    if (rc == 0 && last >= (uint32_t) self->cfg.experiment.rounds) {
        self->finished = true;
        self->round = last;
    }
    else
    if (rc == 0) {
        fg_state_t *weights = NULL;
        if (last == 0) {
            fg_model_t *model = fg_model_new (&self->model, err);
            if (model) {
                fg_model_init (model, (uint64_t) self->cfg.experiment.seed);
                weights = fg_state_dup (fg_model_state (model));
                fg_model_destroy (&model);
                if (!weights)
                    rc = fg_error_set (err, FG_ENOMEM, "coordinator: out of memory");
            }
            else
                rc = err->code;
        }
        else {
            void *blob = NULL;
            size_t size = 0;
            rc = fg_journal_get_weights (self->journal, last, false, NULL, &blob, &size, err);
            if (rc == 0)
                rc = fg_blob_decode (blob, size, NULL, &weights, err);
            free (blob);
            if (rc == 0 && !fg_state_same_layout (weights, weights, err))
                rc = FG_EFORMAT;
            if (rc)
                fg_error_prefix (err, "cannot resume from round %u of the journal in %s",
                                 last, self->dir);
        }
        self->round = last + 1;
        if (rc == 0)
            rc = s_set_base (self, weights, err);
        else
            fg_state_destroy (&weights);
        if (rc == 0)
            rc = s_begin_round (self, err);
        if (rc == 0 && last)
            fg_info ("coordinator: resuming %s after round %u", self->dir, last);
    }
    if (rc) {
        s_self_destroy (&self);
        return NULL;
    }
    self->beat_at = zclock_mono () + self->cfg.grid.heartbeat_ms;
    s_write_status (self);
    return self;
}

static void
s_self_destroy (s_self_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    s_self_t *self = *self_p;
    while (self->nnodes) {
        s_node_t *node = self->nodes [self->nnodes - 1];
        if (self->router) {
            fg_wire_msg_t bye;
            memset (&bye, 0, sizeof bye);
            bye.type = FG_WIRE_BYE;
            s_send (self, node, &bye);
        }
        self->nnodes--;
        s_node_clear_update (node);
        zframe_destroy (&node->routing);
        free (node);
    }
    free (self->nodes);
    if (self->folding) {
        //  the aggregator answers FINISH before it reads $TERM
        fg_aggregator_result_t *result = NULL;
        zsock_recv (self->aggregator, "p", &result);
        fg_aggregator_result_destroy (&result);
    }
    zactor_destroy (&self->partitioner);
    zactor_destroy (&self->aggregator);
    s_free_round (self);
    zpoller_destroy (&self->poller);
    zsock_destroy (&self->router);
    fg_guard_destroy (&self->guard);
    if (self->clients_csv)
        fclose (self->clients_csv);
    free (self->fetched);
    fg_journal_close (&self->journal);
    free (self);
    *self_p = NULL;
}

static void
s_coordinator_actor (zsock_t *pipe, void *arg)
{
    s_start_t *start = (s_start_t *) arg;
    s_self_t *self = s_self_new (pipe, start->args, &start->port, &start->err);
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
    s_self_destroy (&self);
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
    self->actor = zactor_new (s_coordinator_actor, &start);
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
