/*  fg_coord_results.c — a unit's result: whose it is, its bounds, the
    pull of its update, and what is checked before it counts.

    A RESULT names (round, shard, attempt). The coordinator remembers, for
    every unit of the round in progress, which node each attempt went to
    (fg_coord_unit_t.issued), and decides:

      issued to this node in this run     its own: checked and pulled, also
                                          when the copy ended meanwhile (its
                                          deadline passed, the node
                                          reconnected): the result is as
                                          good as any other copy's
      a round already committed, or the   stale: REJECT (stale), or ACK when
      round being folded                  the unit holds the same update;
                                          never a strike (an honest result
                                          may cross the commit)
      the unit is done                    the same SHA-256: ACK without a
                                          transfer; another: pulled and
                                          refused as a mismatch (as before)
      round begun by an earlier run of    stale, no strike: that run's
      the coordinator, attempt not        issues are not known (an honest
      issued in this run to this node     trainer may hold such a result)
      anything else: a round not begun,   a lie: REJECT (unknown) and a
      a shard that does not exist, an     strike (fg_coord_node_lie)
      attempt never issued, another
      node's attempt

    Then, before a byte of the update is asked for: the weights version
    must be the round's base, sample_count the shard's size as the
    coordinator computes it, and update_size between the smallest blob
    and fg_blob_bound of the base (the largest update blob the encoder can
    write for this model) — else REJECT and a strike. So the buffer a node
    makes us allocate is at most that bound, and the chunks are asked
    S_CREDIT at a time.

    A WEIGHTS-CHUNK counts only for the transfer in progress, in order and
    asked for; one that claims to belong to it but breaks it (another hash
    or total, past the end, unasked) is a lie and ends the transfer. A
    chunk of no transfer in progress is dropped silently: up to S_CREDIT
    chunks asked before a transfer ended (refused, acknowledged,
    superseded) are still on their way, and each answered would only be
    noise. So is a chunk of the same update (hash, total) at another
    offset than the next one: the answer to an earlier pull of the same
    result by a node dropped as silent mid-transfer that announced the
    result again (an honest trainer on a loaded PC); counting it as a lie
    quarantined such trainers in a loop.                                */

#include "fg_coordinator_internal.h"
#include "fg_aggregate.h"
#include "fg_blob.h"
#include "fg_blob_internal.h"
#include "fg_crash.h"
#include "fg_log.h"

#include <math.h>
#include <string.h>

#define S_CREDIT        8           //  update chunks asked for at a time

//  REJECT of node's result, listed in clients.csv with outcome.
static void
s_reject_result_as (fg_coord_t *self, fg_coord_node_t *node, int reason, const char *why,
                    const char *outcome)
{
    fg_wire_msg_t about;
    memset (&about, 0, sizeof about);
    about.type = FG_WIRE_RESULT;
    about.round = node->r_round;
    about.shard = node->r_shard;
    about.attempt = node->r_attempt;
    fg_coord_send_reject (self, node->routing, &about, reason, why);
    node->rejected++;
    fg_coord_node_event (self, node, "result of round %u shard %u from %s rejected: %s",
                         node->r_round, node->r_shard, node->id, why);
    fg_coord_clients_csv_add (self, node, node->r_shard, node->r_attempt, outcome);
    fg_coord_node_clear_update (node);
    fg_coord_node_save (self, node);
}

void
fg_coord_reject_result (fg_coord_t *self, fg_coord_node_t *node, int reason, const char *why)
{
    s_reject_result_as (self, node, reason, why, "rejected");
}

//  Every byte of node's update is in: its SHA-256 checked, it is a vote
//  for its unit (fg_coord_vote.c), or late for a unit already decided.
static int
s_complete_update (fg_coord_t *self, fg_coord_node_t *node, fg_error_t *fatal)
{
    uint32_t shard = node->r_shard;
    uint8_t digest [FG_SHA256_SIZE];
    fg_sha256 (node->update, node->update_size, digest);
    if (memcmp (digest, node->update_hash, FG_SHA256_SIZE)) {
        fg_coord_reject_result (self, node, FG_WIRE_REASON_CHECKSUM, "update does not match its SHA-256");
        return 0;
    }
    //  a pull that began before the round committed is not of this round
    if (node->r_round != self->round) {
        fg_coord_reject_result (self, node, FG_WIRE_REASON_STALE, "its round is committed");
        return 0;
    }
    fg_coord_unit_t *unit = &self->units [shard];
    //  deadline policy: a unit left out of a round being folded or
    //  committed (the last) comes too late (the aggregator has FINISH)
    if (unit->state != FG_COORD_UNIT_DONE && (self->folding || self->finished)) {
        fg_coord_reject_result (self, node, FG_WIRE_REASON_STALE, "the round is folded without it");
        return 0;
    }
    if (unit->state == FG_COORD_UNIT_DONE) {
        //  another copy was accepted first: the same bytes or a faulty host
        if (memcmp (unit->hash, digest, FG_SHA256_SIZE) == 0) {
            fg_coord_send_ack (self, node, FG_WIRE_RESULT, node->r_round, shard, node->r_attempt);
            fg_coord_clients_csv_add (self, node, shard, node->r_attempt, "duplicate");
            fg_coord_node_clear_update (node);
        }
        else
        if (unit->agreed >= 2) {
            //  the accepted result is a majority's: this one is outvoted
            s_reject_result_as (self, node, FG_WIRE_REASON_MISMATCH,
                                "differs from the result the majority agreed on", "outvoted");
            fg_coord_strike (self, node, "its result was outvoted by the majority's");
        }
        else
            fg_coord_reject_result (self, node, FG_WIRE_REASON_MISMATCH,
                             "differs from the accepted result of this unit: faulty node");
        return 0;
    }
    if (unit->state == FG_COORD_UNIT_LEFT_OUT) {
        fg_coord_reject_result (self, node, FG_WIRE_REASON_STALE, "this unit was left out of the round");
        return 0;
    }
    return fg_coord_vote (self, node, fatal);
}

static void
s_request_update_chunks (fg_coord_t *self, fg_coord_node_t *node)
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
    fg_coord_send (self, node, &msg);
}

typedef enum {
    S_OWN,                          //  issued to this node in this run
    S_STALE,                        //  an honest node may send it: no strike
    S_LIE                           //  never this node's to send
} s_claim_t;

//  Whose is the unit a RESULT names? why receives the reason of a refusal.
static s_claim_t
s_claim (const fg_coord_t *self, const fg_coord_node_t *node, const fg_wire_msg_t *msg,
         char *why, size_t size)
{
    bool over = msg->round < self->round || (self->finished && msg->round == self->round);
    if (over || (msg->round == self->round && self->folding)) {
        snprintf (why, size, "round %u is %s", msg->round,
                  over? "committed": "being folded");
        return S_STALE;
    }
    if (msg->round > self->round || !self->units) {    //  (units: none before the first)
        snprintf (why, size, "round %u has not begun: round %u is in progress", msg->round,
                  self->round);
        return S_LIE;
    }
    if (msg->shard >= self->nshards) {
        snprintf (why, size, "round %u has no shard %u (%u shards)", msg->round, msg->shard,
                  self->nshards);
        return S_LIE;
    }
    const fg_coord_unit_t *unit = &self->units [msg->shard];
    bool issued = msg->attempt >= 1 && msg->attempt <= unit->attempts;
    if (issued && unit->issued [msg->attempt - 1].node == node->number)
        return S_OWN;
    if (self->unsure_round == msg->round) {
        snprintf (why, size, "round %u shard %u attempt %u was not issued to %s since the "
                  "coordinator restarted", msg->round, msg->shard, msg->attempt, node->id);
        return S_STALE;
    }
    if (issued)
        snprintf (why, size, "round %u shard %u attempt %u was issued to another node",
                  msg->round, msg->shard, msg->attempt);
    else
        snprintf (why, size, "round %u shard %u attempt %u was never issued (%u so far)",
                  msg->round, msg->shard, msg->attempt, unit->attempts);
    return S_LIE;
}

//  What the node says of its own unit, checked before any byte is pulled:
//  its base, its sample count, its size. Returns false after refusing it.
static bool
s_result_bounds (fg_coord_t *self, fg_coord_node_t *node, const fg_wire_msg_t *msg)
{
    const fg_wire_result_t *r = &msg->result;
    uint64_t samples = self->shards->offset [msg->shard + 1] - self->shards->offset [msg->shard];
    if (r->weights_version != (uint64_t) self->round - 1)
        fg_coord_node_lie (self, node, msg, FG_WIRE_REASON_UNKNOWN,
                           "result computed from weights version %llu, the unit's is %u",
                           (unsigned long long) r->weights_version, self->round - 1);
    else
    if (r->sample_count != samples)
        fg_coord_node_lie (self, node, msg, FG_WIRE_REASON_OTHER,
                           "sample count %llu, shard %u holds %llu samples",
                           (unsigned long long) r->sample_count, msg->shard,
                           (unsigned long long) samples);
    else
    if (r->update_size < FG_BLOB_MIN_SIZE || r->update_size > self->update_bound)
        fg_coord_node_lie (self, node, msg, FG_WIRE_REASON_SHAPE,
                           "update of %llu bytes announced; this model's updates take "
                           "%u..%llu bytes", (unsigned long long) r->update_size,
                           FG_BLOB_MIN_SIZE, (unsigned long long) self->update_bound);
    else
        return true;
    return false;
}

//  A RESULT whose unit is not the node's to report, or is over: answered,
//  nothing pulled.
static void
s_result_refused (fg_coord_t *self, fg_coord_node_t *node, const fg_wire_msg_t *msg,
                  s_claim_t claim, const char *why)
{
    bool done = msg->round == self->round && self->units && msg->shard < self->nshards
             && self->units [msg->shard].state == FG_COORD_UNIT_DONE;
    if (claim == S_LIE)
        fg_coord_node_lie (self, node, msg, FG_WIRE_REASON_UNKNOWN, "%s", why);
    else
    if (done && memcmp (self->units [msg->shard].hash, msg->result.update_hash,
                        FG_SHA256_SIZE) == 0)
        fg_coord_send_ack (self, node, FG_WIRE_RESULT, msg->round, msg->shard, msg->attempt);
    else
        fg_coord_send_reject (self, node->routing, msg, FG_WIRE_REASON_STALE, why);
    if (!node->busy && claim != S_LIE)
        node->ready = true;             //  (as before: its copy is over)
}

int
fg_coord_on_result (fg_coord_t *self, fg_coord_node_t *node, fg_wire_msg_t *msg,
                    fg_error_t *fatal)
{
    fg_crash_point ("coordinator.result.received");
    const fg_wire_result_t *r = &msg->result;
    char why [200];
    s_claim_t claim = s_claim (self, node, msg, why, sizeof why);
    bool live = node->busy && node->r_round == msg->round && node->shard == msg->shard
             && node->attempt == msg->attempt;
    if (live)
        fg_coord_unit_copy_ends (self, node);
    if (claim != S_OWN) {
        s_result_refused (self, node, msg, claim, why);
        return 0;
    }
    fg_coord_issue_t *issue = &self->units [msg->shard].issued [msg->attempt - 1];
    if (live && !issue->ended)
        issue->ended = zclock_mono ();  //  the copy's time held ends here
    fg_coord_node_clear_update (node);  //  a new result supersedes a pull
    node->r_round = msg->round;
    node->r_shard = msg->shard;
    node->r_attempt = msg->attempt;
    if (!s_result_bounds (self, node, msg))
        return 0;
    node->samples = r->sample_count;
    node->elapsed_ms = r->elapsed_ms;
    node->update_size = r->update_size;
    memcpy (node->update_hash, r->update_hash, FG_SHA256_SIZE);
    //  a unit already done with the same hash needs no transfer
    if (self->units [msg->shard].state == FG_COORD_UNIT_DONE
    &&  memcmp (self->units [msg->shard].hash, r->update_hash, FG_SHA256_SIZE) == 0) {
        fg_coord_send_ack (self, node, FG_WIRE_RESULT, msg->round, msg->shard, msg->attempt);
        return 0;
    }
    node->update = malloc (r->update_size);
    node->loss = malloc ((r->loss_count? r->loss_count: 1) * sizeof (float));
    if (!node->update || !node->loss) {
        fg_coord_node_clear_update (node);
        return fg_error_set (fatal, FG_ENOMEM, "coordinator: out of memory");
    }
    if (r->loss_count)                  //  (none: the pointers may be NULL)
        memcpy (node->loss, r->loss, r->loss_count * sizeof (float));
    node->nloss = r->loss_count;
    if (r->prefix_size)
        memcpy (node->update, r->prefix, r->prefix_size);
    node->update_have = r->prefix_size;
    if (node->update_have == node->update_size)
        return s_complete_update (self, node, fatal);
    s_request_update_chunks (self, node);
    return 0;
}

int
fg_coord_on_update_chunk (fg_coord_t *self, fg_coord_node_t *node, const fg_wire_msg_t *msg,
                          fg_error_t *fatal)
{
    const fg_wire_weights_chunk_t *c = &msg->weights_chunk;
    if (c->blob != FG_WIRE_BLOB_UPDATE) {
        fg_coord_send_reject (self, node->routing, msg, FG_WIRE_REASON_UNKNOWN,
                              "the coordinator asks for no global weights");
        return 0;
    }
    if (!node->update || msg->round != node->r_round || msg->shard != node->r_shard
    ||  msg->attempt != node->r_attempt) {
        node->dropped++;                //  stale: see the head of this file
        return 0;
    }
    const char *broken = memcmp (c->hash, node->update_hash, FG_SHA256_SIZE)? "another SHA-256"
                       : c->total != node->update_size? "another total size"
                       : c->offset > c->total || c->size > c->total - c->offset? "past the end"
                       : NULL;
    if (!broken && c->offset != node->update_have) {
        //  the same update (hash, total) at another place: an honest
        //  trainer's answer to a request of an earlier pull of this result
        //  (dropped as dead mid-transfer, it said HELLO and RESULT again
        //  while its old chunks were on their way). Dropped, no strike:
        //  the chunk asked for at update_have is still to come.
        node->dropped++;
        return 0;
    }
    if (!broken)
        broken = c->size > node->update_size - node->update_have? "past the end"
               : node->outstanding == 0? "not asked for": NULL;
    if (broken) {
        fg_coord_node_lie (self, node, msg, FG_WIRE_REASON_OTHER,
                           "update chunk at %llu of round %u shard %u: %s",
                           (unsigned long long) c->offset, msg->round, msg->shard, broken);
        fg_coord_clients_csv_add (self, node, node->r_shard, node->r_attempt, "rejected");
        fg_coord_node_clear_update (node);
        return 0;
    }
    memcpy (node->update + node->update_have, c->data, c->size);
    node->update_have += c->size;
    node->outstanding--;
    if (node->update_have == node->update_size)
        return s_complete_update (self, node, fatal);
    if (node->outstanding == 0)
        s_request_update_chunks (self, node);
    return 0;
}
