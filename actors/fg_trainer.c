/*  fg_trainer.c — the trainer actor: a DEALER to the coordinator's ROUTER.

    States:  CONNECTING  HELLO sent, waiting for its ACK
             IDLE        READY sent, waiting for a TASK
             SAMPLES     pulling the shard's samples it lacks (DATA-REQUEST /
                         DATA-CHUNK) into its sample cache
             FETCHING    pulling the unit's global weights in chunks
             TRAINING    the unit built, trained one mini-batch at a time
                         and encoded by the trainer's compute thread
                         (fg_trainer_compute.c), one job at a time, while
                         this loop keeps beating, reading the coordinator
                         and serving $TERM; a simulated slow PC
                         (args.slowdown F) makes each batch's job F times
                         as long
             UPLOADING   RESULT sent; serving the update's chunks until ACK
    A silent coordinator (liveness x heartbeat) makes the trainer drop its
    socket and reconnect with back-off (250 ms doubling to 8 s), then
    announce itself again; a unit in progress carries on, and a finished
    result is sent again until acknowledged. With a cache directory, the
    trainer keeps its own small LMDB journal (fg_trainer_journal): the unit
    is checkpointed at every epoch boundary, so a restarted trainer given
    the same unit continues from there, and a finished result is kept until
    acknowledged, so a restarted trainer sends it again.

    Its data (the samples, the weights) is fetched by fg_trainer_fetch.c;
    the state both share is fg_trn_t (fg_trainer_internal.h).           */

#include "fg_trainer_internal.h"
#include "fg_actors_internal.h"
#include "fg_blob.h"
#include "fg_crash.h"
#include "fg_file.h"
#include "fg_log.h"
#include "fg_ops.h"

#include <czmq.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define S_BACKOFF_MIN   250         //  ms
#define S_BACKOFF_MAX   8000

int
fg_trn_send (fg_trn_t *self, fg_wire_msg_t *msg)
{
    if (!self->dealer)
        return FG_ESTATE;
    msg->experiment = self->experiment;
    fg_error_t err;
    int rc = fg_wire_send (self->dealer, NULL, msg, &self->limits, &err);
    if (rc)
        fg_warn ("trainer %s: cannot send %s: %s", self->node_id,
                 fg_wire_type_name (msg->type), err.msg);
    return rc;
}

//  A message of `type` about the current unit (round, shard, attempt).
void
fg_trn_unit_msg (const fg_trn_t *self, fg_wire_msg_t *msg, int type)
{
    memset (msg, 0, sizeof *msg);
    msg->type = type;
    msg->experiment = self->experiment;
    msg->round = self->round;
    msg->shard = self->shard;
    msg->attempt = self->attempt;
}

static void
s_send_simple (fg_trn_t *self, int type)
{
    fg_wire_msg_t msg;
    fg_trn_unit_msg (self, &msg, type);
    if (type == FG_WIRE_READY)
        msg.ready.slots = 1;
    fg_trn_send (self, &msg);
}

static void
s_send_hello (fg_trn_t *self)
{
    fg_wire_msg_t msg;
    memset (&msg, 0, sizeof msg);
    msg.type = FG_WIRE_HELLO;
    msg.hello.proto_min = FG_WIRE_VERSION;
    msg.hello.proto_max = FG_WIRE_VERSION;
    msg.hello.cores = (uint32_t) self->threads;
    msg.hello.speed = 0;
    snprintf (msg.hello.node_id, sizeof msg.hello.node_id, "%s", self->node_id);
    fg_ops_blis_info (msg.hello.kernel, sizeof msg.hello.kernel);
    msg.hello.dataset_count = self->train? 1: 0;
    if (self->train)
        memcpy (msg.hello.datasets [0], self->dataset_hash, FG_WIRE_HASH_SIZE);
    fg_trn_send (self, &msg);
    fg_trn_fault_hello_flood (self, &msg);   //  FEDGRID_FAULT hello-flood:N, after its own
}

static void
s_drop_unit (fg_trn_t *self)
{
    fg_unit_destroy (&self->unit);
    fg_wire_msg_clear (&self->task_msg);
    free (self->indices);
    self->indices = NULL;
    self->nindices = 0;
    free (self->want);
    self->want = NULL;
    self->nwant = 0;
    free (self->win_records);
    self->win_records = NULL;
    self->data = NULL;
    self->data_loads = 0;
    free (self->tex_want);
    self->tex_want = NULL;
    fg_dataset_destroy (&self->fetched);
    free (self->fetch);
    self->fetch = NULL;
    free (self->update);
    self->update = NULL;
    free (self->loss);
    self->loss = NULL;
    self->have_task = false;
}

//  The coordinator has the unit's result: checkpoint and result are of
//  no more use.
static void
s_forget_unit (fg_trn_t *self)
{
    if (self->journal) {
        fg_tjournal_del (self->journal, "unit", NULL);
        fg_tjournal_del (self->journal, "result", NULL);
    }
}

//  Result record: u32 magic "FGTR", u32 version 1, u32 round, shard,
//  attempt, u64 weights version, u64 samples, u32 elapsed ms, u32 nloss,
//  f32 loss [nloss], u64 update size, u8 hash [32], update bytes, u32 CRC-32.
#define S_RESULT_MAGIC 0x52544746u

static void
s_save_result (fg_trn_t *self)
{
    if (!self->journal)
        return;
    size_t size = 4 * 5 + 8 * 2 + 4 * 2 + (size_t) self->nloss * 4 + 8 + 32 + self->update_size + 4;
    uint8_t *record = malloc (size), *p = record;
    if (!record)
        return;
    uint32_t head [5] = { S_RESULT_MAGIC, 1, self->round, self->shard, self->attempt };
    uint64_t version = self->task.weights_version, update_size = self->update_size;
    memcpy (p, head, sizeof head);                      p += sizeof head;
    memcpy (p, &version, 8);                            p += 8;
    memcpy (p, &self->samples, 8);                      p += 8;
    memcpy (p, &self->elapsed_ms, 4);                   p += 4;
    memcpy (p, &self->nloss, 4);                        p += 4;
    memcpy (p, self->loss, (size_t) self->nloss * 4);   p += (size_t) self->nloss * 4;
    memcpy (p, &update_size, 8);                        p += 8;
    memcpy (p, self->update_hash, 32);                  p += 32;
    memcpy (p, self->update, self->update_size);        p += self->update_size;
    uint32_t crc = (uint32_t) crc32 (0L, record, (uInt) (p - record));
    memcpy (p, &crc, 4);
    fg_error_t err;
    if (fg_tjournal_put (self->journal, "result", record, size, &err))
        fg_warn ("trainer %s: %s", self->node_id, err.msg);
    fg_tjournal_del (self->journal, "unit", NULL);
    free (record);
}

//  Loads an unacknowledged result kept by a previous run; true when found.
static bool
s_load_result (fg_trn_t *self)
{
    uint8_t *record;
    size_t size;
    if (!self->journal || fg_tjournal_get (self->journal, "result", &record, &size, NULL))
        return false;
    bool ok = false;
    uint32_t head [5], crc, nloss;
    uint64_t version, samples, update_size;
    uint32_t elapsed;
    const size_t fixed = 4 * 5 + 8 * 2 + 4 * 2 + 8 + 32 + 4;
    if (size >= fixed) {
        memcpy (&crc, record + size - 4, 4);
        const uint8_t *p = record;
        memcpy (head, p, sizeof head);                  p += sizeof head;
        memcpy (&version, p, 8);                        p += 8;
        memcpy (&samples, p, 8);                        p += 8;
        memcpy (&elapsed, p, 4);                        p += 4;
        memcpy (&nloss, p, 4);                          p += 4;
        if (crc == (uint32_t) crc32 (0L, record, (uInt) (size - 4))
        &&  head [0] == S_RESULT_MAGIC && head [1] == 1 && nloss <= FG_WIRE_LOSS_MAX
        &&  (size_t) nloss * 4 <= size - fixed) {
            const uint8_t *q = p + (size_t) nloss * 4;
            memcpy (&update_size, q, 8);
            if (update_size == size - fixed - (size_t) nloss * 4) {
                self->loss = malloc ((nloss? nloss: 1) * sizeof (float));
                self->update = malloc (update_size? update_size: 1);
                if (self->loss && self->update) {
                    memcpy (self->loss, p, (size_t) nloss * 4);
                    memcpy (self->update_hash, q + 8, 32);
                    memcpy (self->update, q + 40, update_size);
                    self->nloss = nloss;
                    self->update_size = update_size;
                    self->samples = samples;
                    self->elapsed_ms = elapsed;
                    self->round = head [2];
                    self->shard = head [3];
                    self->attempt = head [4];
                    self->task.weights_version = version;
                    self->have_task = true;
                    self->state = FG_TRN_UPLOADING;
                    ok = true;
                }
            }
        }
    }
    free (record);
    if (!ok)
        fg_tjournal_del (self->journal, "result", NULL);     //  damaged: recomputable
    return ok;
}

void
fg_trn_become_idle (fg_trn_t *self)
{
    if (self->busy) {
        self->idle_pending = true;      //  the unit is the compute thread's
        return;
    }
    if (self->state == FG_TRN_UPLOADING && self->journal)
        fg_tjournal_del (self->journal, "result", NULL);      //  refused or superseded
    s_drop_unit (self);
    self->state = FG_TRN_IDLE;
    s_send_simple (self, FG_WIRE_READY);
}

//  Connects (or reconnects) the DEALER and says HELLO.
void
fg_trn_connect (fg_trn_t *self)
{
    if (self->dealer) {
        if (self->poller)
            zpoller_remove (self->poller, self->dealer);
        zsock_destroy (&self->dealer);
    }
    fg_handshake_destroy (&self->handshake);
    self->heard = false;
    self->dealer = zsock_new (ZMQ_DEALER);
    if (!self->dealer) {
        self->reconnect_at = zclock_mono () + self->backoff_ms;
        return;
    }
    zsock_set_identity (self->dealer, self->node_id);
    zsock_set_maxmsgsize (self->dealer, (int) self->limits.max_frame);
    zsock_set_linger (self->dealer, 0);
    zsock_set_sndhwm (self->dealer, 1000);
    zsock_set_sndtimeo (self->dealer, 1000);    //  never wait for a peer forever
    if (self->server_key [0]) {
        zsock_set_curve_serverkey (self->dealer, self->server_key);
        zsock_set_curve_publickey (self->dealer, self->public_key);
        zsock_set_curve_secretkey (self->dealer, self->secret_key);
    }
    if (strncmp (self->endpoint, "inproc://", 9) != 0)
        self->handshake = fg_handshake_new (self->dealer);
    if (zsock_connect (self->dealer, "%s", self->endpoint)) {
        fg_warn ("trainer %s: cannot connect to %s", self->node_id, self->endpoint);
        zsock_destroy (&self->dealer);
        self->reconnect_at = zclock_mono () + self->backoff_ms;
        return;
    }
    if (self->poller)
        zpoller_add (self->poller, self->dealer);
    self->reconnect_at = 0;
    int64_t now = zclock_mono ();
    self->expires_at = now + (int64_t) self->heartbeat_ms * self->liveness;
    self->beat_at = now + self->heartbeat_ms;
    s_send_hello (self);
    if (self->state == FG_TRN_IDLE || self->state == FG_TRN_CONNECTING)
        self->state = FG_TRN_CONNECTING;
}

//  Builds (or resumes from a checkpoint) the unit of the current task;
//  sends nothing. Returns 0 or fg_unit_new's code (in err).
int
fg_trn_build_unit (fg_trn_t *self, fg_error_t *err)
{
    fg_unit_spec_t spec;
    memset (&spec, 0, sizeof spec);
    spec.data = self->data;
    spec.indices = self->indices;
    spec.count = self->nindices;
    fg_unit_model_spec (self->task.model, self->data, &spec.model);
    //  the coordinator's schedule runs over rounds: one rate for the unit
    spec.optim.lr = self->task.lr;
    spec.optim.schedule = FG_SCHEDULE_CONSTANT;
    spec.optim.momentum = self->task.momentum;
    spec.optim.nesterov = self->task.nesterov;
    spec.optim.weight_decay = self->task.weight_decay;
    spec.seed = self->task.seed;
    spec.round = self->round;
    spec.shard = self->shard;
    spec.epochs = self->task.local_epochs;
    spec.batch = self->task.batch_size;
    spec.augment = self->task.augment;
    spec.threads = self->threads;
    self->unit = fg_unit_renew (&self->spare, &spec, self->weights, err);
    if (!self->unit)
        return err->code? err->code: FG_ENOMEM;
    uint8_t *bytes;
    size_t size;
    fg_error_t restore_err;
    if (self->journal && fg_tjournal_get (self->journal, "unit", &bytes, &size, NULL) == 0) {
        //  a checkpoint of another unit is refused by fg_unit_restore
        if (fg_unit_restore (self->unit, bytes, size, &restore_err) == 0)
            fg_info ("trainer %s: unit (round %u, shard %u) resumes after epoch %u",
                     self->node_id, self->round, self->shard, fg_unit_epoch (self->unit));
        free (bytes);
    }
    self->built_at = zclock_mono ();
    return 0;
}

//  Enters TRAINING for the current task; the unit is built (or resumed
//  from a checkpoint) by whoever runs it: the trainer's compute thread
//  (its first job) or the swarm's pool (defer_unit).
void
fg_trn_start_unit (fg_trn_t *self)
{
    self->started_at = zclock_mono ();
    self->state = FG_TRN_TRAINING;
}

//  Refuses the current TASK for good (reason unknown: the coordinator
//  gives this node no more units) and becomes idle.
void
fg_trn_refuse_task (fg_trn_t *self, const char *why)
{
    fg_warn ("trainer %s: round %u shard %u refused: %s", self->node_id, self->round,
             self->shard, why);
    fg_wire_msg_t reply;
    fg_trn_unit_msg (self, &reply, FG_WIRE_REJECT);
    reply.reject.of_type = FG_WIRE_TASK;
    reply.reject.reason = FG_WIRE_REASON_UNKNOWN;
    snprintf (reply.reject.text, sizeof reply.reject.text, "%.250s", why);
    fg_trn_send (self, &reply);
    fg_trn_become_idle (self);
}

static void
s_on_task (fg_trn_t *self, fg_wire_msg_t *msg)
{
    if (self->state != FG_TRN_IDLE) {
        //  a TASK we did not ask for (we are busy): refuse it
        fg_wire_msg_t reply;
        fg_wire_msg_reply (&reply, FG_WIRE_REJECT, msg);
        reply.reject.of_type = FG_WIRE_TASK;
        reply.reject.reason = FG_WIRE_REASON_BUSY;
        snprintf (reply.reject.text, sizeof reply.reject.text, "busy with another unit");
        fg_trn_send (self, &reply);
        fg_wire_msg_clear (msg);
        return;
    }
    fg_crash_point ("trainer.task.received");
    s_drop_unit (self);
    self->task_at = zclock_mono ();
    self->task_msg = *msg;              //  takes ownership of the ranges
    memset (msg, 0, sizeof *msg);
    self->task = self->task_msg.task;
    self->round = self->task_msg.round;
    self->shard = self->task_msg.shard;
    self->attempt = self->task_msg.attempt;
    self->have_task = true;
    bool local = self->train
              && memcmp (self->task.dataset_hash, self->dataset_hash, FG_SHA256_SIZE) == 0;
    if (!local && !self->cache) {
        fg_trn_refuse_task (self, "this node does not hold the experiment's dataset and has no "
                       "cache directory to fetch it into");
        return;
    }
    fg_error_t err;
    if (fg_wire_ranges_to_indices (self->task.ranges, self->task.range_count,
                                   &self->indices, &self->nindices, &err)) {
        fg_error_log ("trainer %s: round %u shard %u: %s", self->node_id, self->round,
                      self->shard, err.msg);
        fg_trn_become_idle (self);
        return;
    }
    if (local) {
        self->data = self->train;
        fg_trn_samples_ready (self);
    }
    else
        fg_trn_samples_begin (self);
}

static void
s_send_result (fg_trn_t *self)
{
    fg_wire_msg_t msg;
    fg_trn_unit_msg (self, &msg, FG_WIRE_RESULT);
    msg.result.weights_version = self->task.weights_version;
    msg.result.sample_count = self->samples;
    msg.result.elapsed_ms = self->elapsed_ms;
    msg.result.loss_count = self->nloss;
    msg.result.loss = self->loss;
    msg.result.update_size = self->update_size;
    memcpy (msg.result.update_hash, self->update_hash, FG_SHA256_SIZE);
    msg.result.prefix_size = self->update_size < self->limits.max_chunk
                           ? self->update_size: self->limits.max_chunk;
    msg.result.prefix = self->update;
    if (fg_trn_send (self, &msg) == 0)
        fg_crash_point ("trainer.result.sent");
}

int
fg_trn_encode_unit (fg_trn_t *self, fg_error_t *err)
{
    self->trained_at = zclock_mono ();
    fg_state_t *lie = NULL;
    const fg_state_t *final = fg_trn_fault_weights (self, fg_model_state (fg_unit_model (self->unit)),
                                                    &lie);
    int rc = fg_blob_encode (final, self->weights, &self->update, &self->update_size, err);
    fg_state_destroy (&lie);
    if (rc)
        return rc;
    fg_sha256 (self->update, self->update_size, self->update_hash);
    uint32_t n;
    const double *losses = fg_unit_losses (self->unit, &n);
    self->loss = malloc ((n? n: 1) * sizeof (float));
    if (!self->loss)
        return fg_error_set (err, FG_ENOMEM, "trainer %s: out of memory", self->node_id);
    for (uint32_t i = 0; i < n; i++)
        self->loss [i] = (float) losses [i];
    self->nloss = n;
    self->samples = fg_unit_samples (self->unit);
    int64_t elapsed = zclock_mono () - self->started_at;
    self->elapsed_ms = elapsed > UINT32_MAX? UINT32_MAX: (uint32_t) elapsed;
    if (self->defer_unit)
        fg_unit_destroy (&self->unit);
    else {
        fg_unit_destroy (&self->spare);
        self->spare = self->unit;       //  the next unit's shell
        self->unit = NULL;
    }
    fg_trn_fault_result (self);
    self->encoded_at = zclock_mono ();
    return 0;
}

//  The unit's time split, one debug line: what the node spends besides
//  training (bench/round.sh reads "unit time split").
static void
s_log_split (const fg_trn_t *self, int64_t saved_at)
{
    //  a result kept by an earlier run has no split
    if (!self->task_at || self->task_at > self->started_at || self->started_at > self->built_at
    ||  self->built_at > self->trained_at || self->trained_at > self->encoded_at)
        return;
    fg_debug ("trainer %s: round %u shard %u: unit time split: weights %lld ms (TASK to "
              "weights at hand: fetch, SHA-256, decode), start-up %lld ms (model built, "
              "weights copied in), training %lld ms, result %lld ms (encoded, SHA-256), "
              "kept %lld ms (trainer journal)", self->node_id, self->round, self->shard,
              (long long) (self->started_at - self->task_at),
              (long long) (self->built_at - self->started_at),
              (long long) (self->trained_at - self->built_at),
              (long long) (self->encoded_at - self->trained_at),
              (long long) (saved_at - self->encoded_at));
}

void
fg_trn_send_unit (fg_trn_t *self)
{
    self->state = FG_TRN_UPLOADING;
    s_save_result (self);
    s_log_split (self, zclock_mono ());
    s_send_result (self);
}

void
fg_trn_unit_error (fg_trn_t *self, int rc, const fg_error_t *err)
{
    fg_warn ("trainer %s: %s", self->node_id, err->msg);
    fg_wire_msg_t msg;
    fg_trn_unit_msg (self, &msg, FG_WIRE_ERROR);
    msg.error.code = rc;
    snprintf (msg.error.text, sizeof msg.error.text, "%.200s", err->msg);
    fg_trn_send (self, &msg);
    fg_trn_become_idle (self);
}

static void
s_on_update_request (fg_trn_t *self, const fg_wire_msg_t *msg)
{
    const fg_wire_weights_request_t *r = &msg->weights_request;
    if (self->state != FG_TRN_UPLOADING || r->blob != FG_WIRE_BLOB_UPDATE
    ||  msg->round != self->round || msg->shard != self->shard)
        return;
    fg_wire_msg_t header;
    fg_trn_unit_msg (self, &header, FG_WIRE_WEIGHTS_CHUNK);
    fg_error_t err;
    if (fg_wire_send_chunks (self->dealer, NULL, &header, FG_WIRE_BLOB_UPDATE,
                             self->task.weights_version, self->update, self->update_size,
                             self->update_hash, r->offset, r->credit, r->chunk_size,
                             &self->limits, &err))
        fg_warn ("trainer %s: update chunks: %s", self->node_id, err.msg);
}

//  A REJECT: of HELLO, back-off; from a coordinator that forgot this node,
//  HELLO again; of the samples request, fewer stored files asked when they
//  were too many at once, else the TASK refused for good; of the unit or
//  READY, idle.
static void
s_on_reject (fg_trn_t *self, const fg_wire_msg_t *msg, bool about_unit)
{
    //  a unit another copy finished first is routine under backups
    fg_log (msg->reject.reason == FG_WIRE_REASON_STALE? FG_LOG_DEBUG: FG_LOG_INFO,
            "trainer %s: %s refused (%s): %s", self->node_id,
            fg_wire_type_name (msg->reject.of_type),
            fg_wire_reason_name (msg->reject.reason), msg->reject.text);
    if (msg->reject.of_type == FG_WIRE_HELLO)
        self->expires_at = 0;           //  try again after a back-off
    else
    if (msg->reject.reason == FG_WIRE_REASON_NOT_ALLOWED) {
        //  the coordinator forgot us (declared dead, or restarted):
        //  announce again and keep the unit or result we hold
        if (self->state == FG_TRN_IDLE)
            self->state = FG_TRN_CONNECTING;
        s_send_hello (self);
    }
    else
    if (about_unit && msg->reject.of_type == FG_WIRE_DATA_REQUEST
    &&  fg_trn_samples_refused (self, &msg->reject))
        ;                               //  fewer stored files asked at once
    else
    if (about_unit && msg->reject.of_type == FG_WIRE_DATA_REQUEST
    &&  self->state == FG_TRN_SAMPLES) {
        //  asking again would be refused again (another dataset,
        //  limits that do not match): give this unit up for good
        char why [FG_WIRE_TEXT_MAX + 1];
        snprintf (why, sizeof why, "the coordinator refused its samples request: %.180s",
                  msg->reject.text);
        fg_trn_refuse_task (self, why);
    }
    else
    if (about_unit || msg->reject.of_type == FG_WIRE_READY)
        fg_trn_become_idle (self);
}

void
fg_trn_on_peer (fg_trn_t *self)
{
    fg_wire_msg_t msg;
    fg_error_t err;
    int rc = fg_wire_recv (self->dealer, NULL, &self->limits, &msg, &err);
    if (rc) {
        fg_warn ("trainer %s: bad message from the coordinator: %s", self->node_id, err.msg);
        return;
    }
    self->expires_at = zclock_mono () + (int64_t) self->heartbeat_ms * self->liveness;
    self->backoff_ms = S_BACKOFF_MIN;
    self->heard = true;
    bool about_unit = self->have_task && msg.round == self->round && msg.shard == self->shard;
    switch (msg.type) {
        case FG_WIRE_ACK:
            if (msg.ack.of_type == FG_WIRE_HELLO) {
                self->experiment = msg.experiment;
                if (self->state == FG_TRN_UPLOADING)
                    s_send_result (self);       //  not acknowledged yet: again
                else
                if (self->state == FG_TRN_FETCHING)
                    fg_trn_request_chunks (self);
                else
                if (self->state == FG_TRN_SAMPLES)
                    fg_trn_request_samples (self);  //  from the first sample still missing
                else
                if (self->state != FG_TRN_TRAINING)
                    fg_trn_become_idle (self);
            }
            else
            if (msg.ack.of_type == FG_WIRE_RESULT && about_unit
            &&  self->state == FG_TRN_UPLOADING) {
                s_forget_unit (self);
                fg_trn_become_idle (self);
            }
            break;
        case FG_WIRE_REJECT:
            s_on_reject (self, &msg, about_unit);
            break;
        case FG_WIRE_TASK:
            s_on_task (self, &msg);
            break;
        case FG_WIRE_WEIGHTS_CHUNK:
            fg_trn_on_weights_chunk (self, &msg);
            break;
        case FG_WIRE_DATA_CHUNK:
            fg_trn_on_data_chunk (self, &msg);
            break;
        case FG_WIRE_WEIGHTS_REQUEST:
            s_on_update_request (self, &msg);
            break;
        case FG_WIRE_BYE:
            self->expires_at = 0;               //  coordinator leaves: reconnect later
            break;
        default:
            break;                              //  HEARTBEAT: liveness only
    }
    fg_wire_msg_clear (&msg);
}

fg_trn_t *
fg_trn_new (const fg_trainer_args_t *a, fg_error_t *err)
{
    if (!a->endpoint || !a->node_id || !*a->node_id || strlen (a->node_id) > FG_WIRE_NAME_MAX
    ||  strlen (a->endpoint) >= 256 || a->heartbeat_ms <= 0 || a->liveness <= 0
    ||  (a->cache_dir && strlen (a->cache_dir) >= 1024)
    ||  (!a->train && (!a->cache_dir || !*a->cache_dir))) {
        fg_error_set (err, FG_EINVAL, "trainer: bad arguments (endpoint, node id 1..64 bytes, "
                      "heartbeat, liveness; a trainer without a dataset needs a cache directory)");
        return NULL;
    }
    if (!(a->slowdown >= 0 && a->slowdown <= 1000)) {
        fg_error_set (err, FG_EINVAL, "trainer: slowdown %g outside 0..1000", a->slowdown);
        return NULL;
    }
    fg_trn_t *self = calloc (1, sizeof *self);
    if (!self) {
        fg_error_set (err, FG_ENOMEM, "trainer: out of memory");
        return NULL;
    }
    snprintf (self->endpoint, sizeof self->endpoint, "%s", a->endpoint);
    snprintf (self->node_id, sizeof self->node_id, "%s", a->node_id);
    if (a->cache_dir)
        snprintf (self->cache_dir, sizeof self->cache_dir, "%s", a->cache_dir);
    self->train = a->train;
    if (a->train)
        fg_dataset_hash (a->train, self->dataset_hash);
    self->slowdown = a->slowdown;
    self->threads = a->threads > 0? a->threads: 1;
    self->heartbeat_ms = a->heartbeat_ms;
    self->liveness = a->liveness;
    if (a->server_key && *a->server_key) {
        if (strlen (a->server_key) != 40 || !a->public_key || strlen (a->public_key) != 40
        ||  !a->secret_key || strlen (a->secret_key) != 40) {
            free (self);
            fg_error_set (err, FG_EINVAL, "trainer: CURVE keys must be 40 Z85 characters");
            return NULL;
        }
        memcpy (self->server_key, a->server_key, 41);
        memcpy (self->public_key, a->public_key, 41);
        memcpy (self->secret_key, a->secret_key, 41);
    }
    fg_wire_limits_default (&self->limits);
    if (a->max_frame)
        self->limits.max_frame = a->max_frame;
    if (a->chunk_size)
        self->limits.max_chunk = a->chunk_size;
    if (fg_wire_limits_check (&self->limits, err)) {
        free (self);
        return NULL;
    }
    if (self->cache_dir [0]) {
        if (fg_file_mkdirs (self->cache_dir, err)
        ||  !(self->journal = fg_tjournal_open (self->cache_dir, err))
        ||  !(self->cache = fg_sample_cache_open (self->cache_dir, err))) {
            fg_tjournal_close (&self->journal);
            free (self);
            return NULL;
        }
    }
    self->backoff_ms = S_BACKOFF_MIN;
    self->state = FG_TRN_CONNECTING;
    if (s_load_result (self))
        fg_info ("trainer %s: result of round %u shard %u not yet acknowledged: sending it again",
                 self->node_id, self->round, self->shard);
    return self;
}

void
fg_trn_destroy (fg_trn_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fg_trn_t *self = *self_p;
    fg_trn_compute_stop (self);         //  first: it may hold the unit
    if (self->dealer && self->state != FG_TRN_CONNECTING) {
        fg_wire_msg_t bye;
        memset (&bye, 0, sizeof bye);
        bye.type = FG_WIRE_BYE;
        fg_trn_send (self, &bye);
    }
    //  keep the epoch checkpoint on disk: a restarted trainer resumes it
    fg_unit_destroy (&self->unit);
    fg_unit_destroy (&self->spare);
    fg_wire_msg_clear (&self->task_msg);
    free (self->indices);
    free (self->want);
    free (self->win_records);
    free (self->tex_want);
    fg_dataset_destroy (&self->fetched);
    free (self->fetch);
    free (self->update);
    free (self->loss);
    fg_trn_fault_free (self);
    fg_state_destroy (&self->weights);
    fg_tjournal_close (&self->journal);
    fg_sample_cache_close (&self->cache);
    zpoller_destroy (&self->poller);
    zsock_destroy (&self->dealer);
    fg_handshake_destroy (&self->handshake);
    memset (self->secret_key, 0, sizeof self->secret_key);
    free (self);
    *self_p = NULL;
}

typedef struct {
    const fg_trainer_args_t *args;
    int status;
    fg_error_t err;
} s_start_t;

//  When the loop must next wake up for the connection's timers (zclock_mono).
int64_t
fg_trn_wake_at (const fg_trn_t *self)
{
    int64_t next = self->reconnect_at? self->reconnect_at: self->beat_at;
    if (!self->reconnect_at && self->expires_at < next)
        next = self->expires_at;
    if (!self->reconnect_at && self->state == FG_TRN_SAMPLES && self->data_expires < next)
        next = self->data_expires;
    return next;
}

//  The connection's timers at `now`: reconnection, a silent coordinator,
//  a samples window that brought nothing, the heartbeat.
void
fg_trn_tick (fg_trn_t *self, int64_t now)
{
    if (self->reconnect_at && now >= self->reconnect_at)
        fg_trn_connect (self);
    else
    if (!self->reconnect_at && now >= self->expires_at) {
        char key [FG_WIRE_NAME_MAX + 32];
        snprintf (key, sizeof key, "trainer %s: silent", self->node_id);
        fg_log_every (FG_LOG_INFO, key, 60000, "trainer %s: coordinator silent, reconnecting "
                      "in %d ms", self->node_id, self->backoff_ms);
        const char *problem = fg_handshake_problem (self->handshake);
        if (!self->heard && now >= self->hint_at) {
            //  never answered since the connect: say what to check
            fg_warn ("trainer %s: no answer from %s: %s", self->node_id, self->endpoint,
                     problem? problem: self->server_key [0]
                     ? "is the coordinator running and reachable, is --server-key its "
                       "public key, is this worker's key in its grid.allow_keys?"
                     : "is the coordinator running and reachable (and without CURVE: "
                       "grid.curve = false)?");
            self->hint_at = now + (problem? 60000: 30000);
        }
        if (self->poller)
            zpoller_remove (self->poller, self->dealer);
        zsock_destroy (&self->dealer);
        self->reconnect_at = now + self->backoff_ms;
        self->backoff_ms = self->backoff_ms * 2 > S_BACKOFF_MAX? S_BACKOFF_MAX: self->backoff_ms * 2;
    }
    if (self->dealer && !self->reconnect_at && self->state == FG_TRN_SAMPLES
    &&  now >= self->data_expires) {
        fg_info ("trainer %s: no sample chunk for %d ms: asking again from sample %llu of %llu",
                 self->node_id, self->heartbeat_ms * self->liveness,
                 (unsigned long long) self->data_have, (unsigned long long) self->want_total);
        fg_trn_request_samples (self);
    }
    //  heartbeats only on a connection that answered: after a refused
    //  CURVE handshake ZeroMQ drops the DEALER's only pipe, and a send
    //  would wait for a peer that never comes
    if (self->dealer && self->heard && now >= self->beat_at) {
        s_send_simple (self, FG_WIRE_HEARTBEAT);
        self->beat_at = now + self->heartbeat_ms;
    }
}

static void
s_trainer_actor (zsock_t *pipe, void *arg)
{
    s_start_t *start = (s_start_t *) arg;
    fg_trn_t *self = fg_trn_new (start->args, &start->err);
    if (self && fg_trn_compute_start (self, &start->err))
        fg_trn_destroy (&self);
    if (self && !(self->poller = zpoller_new (pipe, self->compute, NULL))) {
        fg_trn_destroy (&self);
        fg_error_set (&start->err, FG_ENOMEM, "trainer: out of memory");
    }
    start->status = self? 0: start->err.code;
    zsock_signal (pipe, 0);             //  start is not touched after this
    if (self) {
        self->pipe = pipe;
        zpoller_set_nonstop (self->poller, true);
        fg_trn_connect (self);
    }
    //  after $TERM, a job still out is waited for (beating all along) and
    //  its outcome handled: an epoch's checkpoint is kept
    while (self && !(self->terminated && !self->busy)) {
        fg_trn_compute_next (self);
        int64_t now = zclock_mono ();
        int64_t next = fg_trn_wake_at (self);
        int timeout = next <= now? 0: (int) (next - now);
        void *which = zpoller_wait (self->poller, timeout);
        if (which == self->pipe) {
            zmsg_t *msg = zmsg_recv (self->pipe);
            char *command = msg? zmsg_popstr (msg): NULL;
            if (!command || strcmp (command, "$TERM") == 0) {
                self->terminated = true;
                fg_trn_compute_hurry (self);
            }
            zstr_free (&command);
            zmsg_destroy (&msg);
            continue;
        }
        if (which && which == self->dealer)
            fg_trn_on_peer (self);
        else
        if (which && which == self->compute)
            fg_trn_compute_done (self);
        fg_trn_tick (self, zclock_mono ());
    }
    fg_trn_destroy (&self);
}

struct _fg_trainer_t {
    zactor_t *actor;
};

fg_trainer_t *
fg_trainer_new (const fg_trainer_args_t *args, fg_error_t *err)
{
    s_start_t start = { args, 0, { 0, "" } };
    fg_trainer_t *self = calloc (1, sizeof *self);
    if (!self) {
        fg_error_set (err, FG_ENOMEM, "trainer: out of memory");
        return NULL;
    }
    self->actor = fg_actor_new (s_trainer_actor, &start);
    if (!self->actor || start.status) {
        if (err)
            *err = start.err;
        if (!self->actor)
            fg_error_set (err, FG_ENOMEM, "trainer: cannot start the actor");
        zactor_destroy (&self->actor);
        free (self);
        return NULL;
    }
    return self;
}

void
fg_trainer_destroy (fg_trainer_t **self_p)
{
    if (self_p && *self_p) {
        zactor_destroy (&(*self_p)->actor);
        free (*self_p);
        *self_p = NULL;
    }
}
