/*  fg_trainer.c — the trainer actor: a DEALER to the coordinator's ROUTER.

    States:  CONNECTING  HELLO sent, waiting for its ACK
             IDLE        READY sent, waiting for a TASK
             SAMPLES     pulling the shard's samples it lacks (DATA-REQUEST /
                         DATA-CHUNK) into its sample cache
             FETCHING    pulling the unit's global weights in chunks
             TRAINING    one mini-batch per loop turn (fg_unit_step), then
                         a poll with timeout 0, so $TERM and heartbeats never
                         wait longer than a batch
             UPLOADING   RESULT sent; serving the update's chunks until ACK
    A silent coordinator (liveness x heartbeat) makes the trainer drop its
    socket and reconnect with back-off (250 ms doubling to 8 s), then
    announce itself again; a unit in progress carries on, and a finished
    result is sent again until acknowledged. With a cache directory, the
    trainer keeps its own small LMDB journal (fg_trainer_journal): the unit
    is checkpointed at every epoch boundary, so a restarted trainer given
    the same unit continues from there, and a finished result is kept until
    acknowledged, so a restarted trainer sends it again.

    Data. A trainer that holds the experiment's dataset (same content hash
    as the TASK's) reads it locally. One that lacks it (created without a
    dataset, or with another copy) needs a cache directory: it looks up
    which of the shard's samples its sample cache (fg_sample_cache) holds,
    asks the coordinator for the others a window at a time (at most
    S_DATA_CREDIT chunks' worth and S_DATA_RANGES ranges per DATA-REQUEST;
    the next window when the current one is in), checks every DATA-CHUNK
    against what it asked (hash, first index, count, record size, labels)
    and stores it in one transaction before counting it, then trains on a
    dataset made of the shard's samples (fg_dataset_from_records), which
    gives the same bits as the whole set. A chunk that does not fit is
    dropped with a log line and the window is asked again from the first
    sample still missing; so is a window that brings nothing for
    liveness x heartbeat.                                                 */

#include "fg_actors.h"
#include "fg_blob.h"
#include "fg_crash.h"
#include "fg_file.h"
#include "fg_log.h"
#include "fg_ops.h"
#include "fg_security.h"
#include "fg_sha256.h"
#include "fg_unit.h"
#include "fg_wire_socket.h"
#include "fg_trainer_journal.h"
#include "fg_sample_cache.h"

#include <czmq.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define S_CREDIT        8           //  chunks asked for at a time
#define S_BACKOFF_MIN   250         //  ms
#define S_BACKOFF_MAX   8000
#define S_DATA_CREDIT   8           //  data chunks' worth asked for at a time
#define S_DATA_RANGES   256         //  ranges in one DATA-REQUEST

typedef enum { S_CONNECTING, S_IDLE, S_SAMPLES, S_FETCHING, S_TRAINING, S_UPLOADING } s_state_t;

typedef struct {
    //  configuration (copied from the arguments)
    char      endpoint [256];
    char      node_id [FG_WIRE_NAME_MAX + 1];
    char      cache_dir [1024];
    fg_tjournal_t *journal;         //  NULL without a cache directory
    fg_sample_cache_t *cache;       //  fetched samples; NULL without a cache directory
    const fg_dataset_t *train;      //  NULL: fetches every sample
    uint8_t   dataset_hash [FG_SHA256_SIZE];
    int       threads;
    int       heartbeat_ms;
    int       liveness;
    fg_wire_limits_t limits;

    zsock_t  *pipe;
    zsock_t  *dealer;
    zpoller_t *poller;
    bool      terminated;
    s_state_t state;
    int64_t   beat_at;              //  next heartbeat (zclock_mono)
    int64_t   expires_at;           //  coordinator declared silent after this
    int64_t   reconnect_at;         //  0: connected
    int       backoff_ms;
    //  CURVE: Z85 keys, server_key "" when the transport is plain
    char      server_key [FG_SECURITY_KEY_TEXT];
    char      public_key [FG_SECURITY_KEY_TEXT];
    char      secret_key [FG_SECURITY_KEY_TEXT];
    fg_handshake_t *handshake;      //  the DEALER's handshake failures (tcp)
    bool      heard;                //  a message since the last connect
    int64_t   hint_at;              //  next "no answer" warning

    //  global weights cache: the last version fetched
    uint64_t  weights_version;
    uint8_t   weights_hash [FG_SHA256_SIZE];
    fg_state_t *weights;            //  decoded, NULL when none

    //  the unit: TASK header and body
    bool      have_task;
    uint32_t  round, shard, attempt;
    uint64_t  experiment;
    fg_wire_task_t task;            //  ranges freed with task_msg
    fg_wire_msg_t task_msg;
    uint32_t *indices;              //  into data
    size_t    nindices;
    const fg_dataset_t *data;       //  train, or fetched
    fg_dataset_t *fetched;          //  the shard's samples from the cache
    fg_unit_t *unit;
    int64_t   started_at;

    //  samples transfer in progress: want = the shard's samples missing
    //  from the cache (sorted ranges), data_have of them stored; window =
    //  the ranges of the last DATA-REQUEST, win_have of its win_total
    //  samples received (in win_records, stored when all are in)
    fg_wire_range_t *want;
    uint32_t  nwant;
    uint64_t  want_total;
    uint64_t  data_have;
    uint32_t  cursor_range;         //  want [cursor_range] holds sample data_have
    uint32_t  cursor_offset;        //  its offset in that range
    fg_wire_range_t window [S_DATA_RANGES];
    uint32_t  nwindow;
    uint64_t  win_total;
    uint64_t  win_have;
    uint32_t  win_range;            //  window [win_range] holds the next sample
    uint32_t  win_offset;
    uint8_t  *win_records;          //  win_total x record_size
    size_t    record_size;
    bool      rerequested;          //  asked again since the last good chunk
    int64_t   data_expires;         //  ask again when nothing came by then
    uint64_t  data_bytes;           //  LZ4 bytes received for the unit
    int64_t   data_started;
    int       data_loads;           //  cache read-backs of this unit

    //  weights transfer in progress
    uint8_t  *fetch;
    uint64_t  fetch_total;
    uint64_t  fetch_have;
    uint32_t  fetch_outstanding;

    //  result waiting for its ACK
    uint8_t  *update;
    size_t    update_size;
    uint8_t   update_hash [FG_SHA256_SIZE];
    float    *loss;
    uint32_t  nloss;
    uint64_t  samples;
    uint32_t  elapsed_ms;
} s_self_t;

static int
s_send (s_self_t *self, fg_wire_msg_t *msg)
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
static void
s_unit_msg (const s_self_t *self, fg_wire_msg_t *msg, int type)
{
    memset (msg, 0, sizeof *msg);
    msg->type = type;
    msg->experiment = self->experiment;
    msg->round = self->round;
    msg->shard = self->shard;
    msg->attempt = self->attempt;
}

static void
s_send_simple (s_self_t *self, int type)
{
    fg_wire_msg_t msg;
    s_unit_msg (self, &msg, type);
    if (type == FG_WIRE_READY)
        msg.ready.slots = 1;
    s_send (self, &msg);
}

static void
s_send_hello (s_self_t *self)
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
    s_send (self, &msg);
}

static void
s_drop_unit (s_self_t *self)
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
s_forget_unit (s_self_t *self)
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
s_save_result (s_self_t *self)
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
s_load_result (s_self_t *self)
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
                    self->state = S_UPLOADING;
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

static void
s_become_idle (s_self_t *self)
{
    if (self->state == S_UPLOADING && self->journal)
        fg_tjournal_del (self->journal, "result", NULL);      //  refused or superseded
    s_drop_unit (self);
    self->state = S_IDLE;
    s_send_simple (self, FG_WIRE_READY);
}

//  Connects (or reconnects) the DEALER and says HELLO.
static void
s_connect (s_self_t *self)
{
    if (self->dealer) {
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
    zpoller_add (self->poller, self->dealer);
    self->reconnect_at = 0;
    int64_t now = zclock_mono ();
    self->expires_at = now + (int64_t) self->heartbeat_ms * self->liveness;
    self->beat_at = now + self->heartbeat_ms;
    s_send_hello (self);
    if (self->state == S_IDLE || self->state == S_CONNECTING)
        self->state = S_CONNECTING;
}

//  Starts (or resumes from a checkpoint) the unit of the current task.
static void
s_start_unit (s_self_t *self)
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
    fg_error_t err;
    self->unit = fg_unit_new (&spec, self->weights, &err);
    if (!self->unit) {
        fg_warn ("trainer %s: unit (round %u, shard %u): %s", self->node_id, self->round,
                 self->shard, err.msg);
        fg_wire_msg_t msg;
        s_unit_msg (self, &msg, FG_WIRE_ERROR);
        msg.error.code = err.code;
        snprintf (msg.error.text, sizeof msg.error.text, "%.200s", err.msg);
        s_send (self, &msg);
        s_become_idle (self);
        return;
    }
    uint8_t *bytes;
    size_t size;
    if (self->journal && fg_tjournal_get (self->journal, "unit", &bytes, &size, NULL) == 0) {
        //  a checkpoint of another unit is refused by fg_unit_restore
        if (fg_unit_restore (self->unit, bytes, size, &err) == 0)
            fg_info ("trainer %s: unit (round %u, shard %u) resumes after epoch %u",
                     self->node_id, self->round, self->shard, fg_unit_epoch (self->unit));
        free (bytes);
    }
    self->started_at = zclock_mono ();
    self->state = S_TRAINING;
}

static void
s_request_chunks (s_self_t *self)
{
    fg_wire_msg_t msg;
    s_unit_msg (self, &msg, FG_WIRE_WEIGHTS_REQUEST);
    msg.weights_request.blob = FG_WIRE_BLOB_GLOBAL;
    msg.weights_request.version = self->task.weights_version;
    msg.weights_request.offset = self->fetch_have;
    msg.weights_request.credit = S_CREDIT;
    msg.weights_request.chunk_size = (uint32_t) self->limits.max_chunk;
    self->fetch_outstanding = S_CREDIT;
    s_send (self, &msg);
}

//  Refuses the current TASK for good (reason unknown: the coordinator
//  gives this node no more units) and becomes idle.
static void
s_refuse_task (s_self_t *self, const char *why)
{
    fg_warn ("trainer %s: round %u shard %u refused: %s", self->node_id, self->round,
             self->shard, why);
    fg_wire_msg_t reply;
    s_unit_msg (self, &reply, FG_WIRE_REJECT);
    reply.reject.of_type = FG_WIRE_TASK;
    reply.reject.reason = FG_WIRE_REASON_UNKNOWN;
    snprintf (reply.reject.text, sizeof reply.reject.text, "%.250s", why);
    s_send (self, &reply);
    s_become_idle (self);
}

//  The unit cannot go on (I/O error...): ERROR to the coordinator, idle.
static void
s_unit_failed (s_self_t *self, const fg_error_t *err)
{
    fg_warn ("trainer %s: round %u shard %u: %s", self->node_id, self->round, self->shard,
             err->msg);
    fg_wire_msg_t msg;
    s_unit_msg (self, &msg, FG_WIRE_ERROR);
    msg.error.code = err->code < 0? err->code: FG_EIO;
    snprintf (msg.error.text, sizeof msg.error.text, "%.200s", err->msg);
    s_send (self, &msg);
    s_become_idle (self);
}

//  The samples are at hand (self->data, self->indices into it): the
//  weights next, then training.
static void
s_samples_ready (s_self_t *self)
{
    if (self->weights && self->weights_version == self->task.weights_version
    &&  memcmp (self->weights_hash, self->task.weights_hash, FG_SHA256_SIZE) == 0) {
        s_start_unit (self);
        return;
    }
    self->fetch = malloc (self->task.weights_size? self->task.weights_size: 1);
    if (!self->fetch) {
        s_become_idle (self);
        return;
    }
    self->fetch_total = self->task.weights_size;
    self->fetch_have = 0;
    self->state = S_FETCHING;
    s_request_chunks (self);
}

//  Asks for the next window of missing samples, from sample data_have of
//  want: at most S_DATA_CREDIT chunks' worth and S_DATA_RANGES ranges,
//  each range at most one chunk (fg_wire_data_raw_max of this node).
//  Also asks a window again from its start (what it brought so far is
//  dropped: it is stored only whole).
static void
s_request_samples (s_self_t *self)
{
    size_t per_chunk = fg_wire_data_raw_max (&self->limits) / self->record_size;
    uint64_t budget = (uint64_t) S_DATA_CREDIT * (per_chunk? per_chunk: 1);
    uint32_t nwindow = 0;
    uint64_t asked = 0;
    uint32_t r = self->cursor_range, offset = self->cursor_offset;
    while (r < self->nwant && nwindow < S_DATA_RANGES && asked < budget) {
        //  a range of at most one chunk of ours: whatever chunk size the
        //  coordinator cuts at, its chunks fit this node's limits
        uint64_t left = self->want [r].count - offset;
        uint64_t take = left < budget - asked? left: budget - asked;
        if (per_chunk && take > per_chunk)
            take = per_chunk;
        self->window [nwindow].start = self->want [r].start + offset;
        self->window [nwindow].count = (uint32_t) take;
        nwindow++;
        asked += take;
        offset += (uint32_t) take;
        if (offset == self->want [r].count) {
            r++;
            offset = 0;
        }
    }
    self->nwindow = nwindow;
    self->win_total = asked;
    self->win_have = 0;
    self->win_range = 0;
    self->win_offset = 0;
    self->data_expires = zclock_mono () + (int64_t) self->heartbeat_ms * self->liveness;
    free (self->win_records);
    self->win_records = nwindow? malloc ((size_t) asked * self->record_size): NULL;
    if (!self->win_records)
        return;                         //  nothing left; or asked again at data_expires
    fg_wire_msg_t msg;
    s_unit_msg (self, &msg, FG_WIRE_DATA_REQUEST);
    memcpy (msg.data_request.dataset_hash, self->task.dataset_hash, FG_WIRE_HASH_SIZE);
    msg.data_request.sample_count = asked;
    msg.data_request.range_count = nwindow;
    msg.data_request.ranges = self->window;
    fg_debug ("trainer %s: asking for samples %u.. (%llu in %u ranges)", self->node_id,
              self->window [0].start, (unsigned long long) asked, nwindow);
    s_send (self, &msg);
}

static void s_samples_begin (s_self_t *self);

//  Every sample of the shard is in the cache: read them back (each record
//  checked) and make the unit's dataset of them.
static void
s_samples_load (s_self_t *self)
{
    fg_error_t err;
    size_t n = self->nindices;
    if (n > SIZE_MAX / self->record_size) {
        fg_error_set (&err, FG_ENOMEM, "shard of %zu samples too large", n);
        s_unit_failed (self, &err);
        return;
    }
    uint8_t *records = malloc (n * self->record_size);
    if (!records) {
        fg_error_set (&err, FG_ENOMEM, "out of memory for %zu samples", n);
        s_unit_failed (self, &err);
        return;
    }
    int rc = fg_sample_cache_get (self->cache, self->task.dataset_hash, self->record_size,
                                  self->task.ranges, self->task.range_count, records, &err);
    if (rc == 0)
        rc = fg_dataset_from_records (self->task.dataset, FG_SPLIT_TRAIN, self->task.dataset_hash,
                                      n, self->indices, records, self->record_size,
                                      &self->fetched, &err);
    free (records);
    if ((rc == FG_ENOENT || rc == FG_ECHECKSUM) && self->data_loads < 3) {
        //  damaged (or lost) since it was looked up: fetch what is missing again
        fg_warn ("trainer %s: %s; fetching again", self->node_id, err.msg);
        s_samples_begin (self);
        return;
    }
    if (rc) {
        s_unit_failed (self, &err);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        size_t position;
        fg_dataset_position (self->fetched, self->indices [i], &position);
        self->indices [i] = (uint32_t) position;
    }
    self->data = self->fetched;
    s_samples_ready (self);
}

//  The TASK's dataset is not held: look up the shard's samples in the
//  cache and fetch the missing ones.
static void
s_samples_begin (s_self_t *self)
{
    fg_error_t err;
    self->data_loads++;
    uint32_t classes, h, w, c;
    if (fg_dataset_kind_geometry (self->task.dataset, &classes, &h, &w, &c, &err)) {
        s_refuse_task (self, err.msg);
        return;
    }
    self->record_size = 2 + (size_t) h * w * c;
    if (self->record_size > fg_wire_data_raw_max (&self->limits)) {
        s_refuse_task (self, "a sample is larger than a data chunk (grid.chunk_size)");
        return;
    }
    free (self->want);
    self->want = NULL;
    uint64_t missing = 0;
    if (fg_sample_cache_missing (self->cache, self->task.dataset_hash, self->record_size,
                                 self->task.ranges, self->task.range_count, &self->want,
                                 &self->nwant, &missing, &err)) {
        s_unit_failed (self, &err);
        return;
    }
    self->want_total = missing;
    self->data_have = 0;
    self->cursor_range = 0;
    self->cursor_offset = 0;
    self->rerequested = false;
    self->data_bytes = 0;
    self->data_started = zclock_mono ();
    if (missing == 0) {
        fg_info ("trainer %s: round %u shard %u: all %zu samples in the cache", self->node_id,
                 self->round, self->shard, self->nindices);
        s_samples_load (self);
        return;
    }
    fg_info ("trainer %s: round %u shard %u: fetching %llu of %zu samples", self->node_id,
             self->round, self->shard, (unsigned long long) missing, self->nindices);
    self->state = S_SAMPLES;
    s_request_samples (self);
}

//  A DATA-CHUNK: kept when it is exactly the next run of samples of the
//  window and sound; otherwise dropped, logged, and the window asked again.
//  A window whose samples are all in is stored in one transaction.
static void
s_on_data_chunk (s_self_t *self, const fg_wire_msg_t *msg)
{
    const fg_wire_data_chunk_t *c = &msg->data_chunk;
    if (self->state != S_SAMPLES || msg->round != self->round || msg->shard != self->shard) {
        fg_debug ("trainer %s: DATA-CHUNK of samples %u.. not asked for: dropped",
                  self->node_id, c->start);
        return;
    }
    fg_error_t err;
    int rc = 0;
    const fg_wire_range_t *at = self->win_records && self->win_range < self->nwindow
                              ? &self->window [self->win_range]: NULL;
    if (memcmp (c->dataset_hash, self->task.dataset_hash, FG_SHA256_SIZE))
        rc = fg_error_set (&err, FG_EMISMATCH, "samples of another dataset");
    else
    if (c->record_size != self->record_size)
        rc = fg_error_set (&err, FG_EMISMATCH, "records of %u bytes, expected %zu",
                           c->record_size, self->record_size);
    else
    if (!at || c->start != at->start + self->win_offset
    ||  c->count > at->count - self->win_offset)
        rc = fg_error_set (&err, FG_ESTATE, "samples %u..%llu, expected the next run from %llu",
                           c->start, (unsigned long long) c->start + c->count - 1,
                           at? (unsigned long long) at->start + self->win_offset: 0ull);
    else
    if (c->raw_size != (uint64_t) c->count * self->record_size)
        rc = fg_error_set (&err, FG_EFORMAT, "%llu bytes for %u records",
                           (unsigned long long) c->raw_size, c->count);
    else
        rc = fg_dataset_check_records (self->task.dataset, c->samples, c->count,
                                       self->record_size, &err);
    if (rc) {
        fg_warn ("trainer %s: DATA-CHUNK of samples %u.. dropped: %s%s", self->node_id,
                 c->start, err.msg, self->rerequested? "": "; asking again");
        if (!self->rerequested) {
            self->rerequested = true;
            s_request_samples (self);
        }
        return;
    }
    self->rerequested = false;
    memcpy (self->win_records + self->win_have * self->record_size, c->samples, c->raw_size);
    self->win_have += c->count;
    self->win_offset += c->count;
    if (self->win_offset == at->count) {
        self->win_range++;
        self->win_offset = 0;
    }
    self->data_bytes += c->lz4_size;
    self->data_expires = zclock_mono () + (int64_t) self->heartbeat_ms * self->liveness;
    if (self->win_have < self->win_total)
        return;
    rc = fg_sample_cache_put (self->cache, self->task.dataset_hash, self->record_size,
                              self->window, self->nwindow, self->win_records, &err);
    if (rc) {
        s_unit_failed (self, &err);
        return;
    }
    fg_crash_point ("trainer.data.stored");
    //  the committed cursor moves past the window
    uint64_t left = self->win_total;
    while (left) {
        uint64_t room = self->want [self->cursor_range].count - self->cursor_offset;
        uint64_t step = left < room? left: room;
        self->cursor_offset += (uint32_t) step;
        left -= step;
        if (self->cursor_offset == self->want [self->cursor_range].count) {
            self->cursor_range++;
            self->cursor_offset = 0;
        }
    }
    self->data_have += self->win_total;
    free (self->win_records);
    self->win_records = NULL;
    if (self->data_have < self->want_total) {
        s_request_samples (self);
        return;
    }
    fg_info ("trainer %s: round %u shard %u: fetched %llu samples (%llu bytes) in %lld ms",
             self->node_id, self->round, self->shard, (unsigned long long) self->want_total,
             (unsigned long long) self->data_bytes,
             (long long) (zclock_mono () - self->data_started));
    s_samples_load (self);
}

static void
s_on_task (s_self_t *self, fg_wire_msg_t *msg)
{
    if (self->state != S_IDLE) {
        //  a TASK we did not ask for (we are busy): refuse it
        fg_wire_msg_t reply;
        fg_wire_msg_reply (&reply, FG_WIRE_REJECT, msg);
        reply.reject.of_type = FG_WIRE_TASK;
        reply.reject.reason = FG_WIRE_REASON_BUSY;
        snprintf (reply.reject.text, sizeof reply.reject.text, "busy with another unit");
        s_send (self, &reply);
        fg_wire_msg_clear (msg);
        return;
    }
    fg_crash_point ("trainer.task.received");
    s_drop_unit (self);
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
        s_refuse_task (self, "this node does not hold the experiment's dataset and has no "
                       "cache directory to fetch it into");
        return;
    }
    fg_error_t err;
    if (fg_wire_ranges_to_indices (self->task.ranges, self->task.range_count,
                                   &self->indices, &self->nindices, &err)) {
        fg_error_log ("trainer %s: round %u shard %u: %s", self->node_id, self->round,
                      self->shard, err.msg);
        s_become_idle (self);
        return;
    }
    if (local) {
        self->data = self->train;
        s_samples_ready (self);
    }
    else
        s_samples_begin (self);
}

static void
s_on_weights_chunk (s_self_t *self, const fg_wire_msg_t *msg)
{
    const fg_wire_weights_chunk_t *c = &msg->weights_chunk;
    if (self->state != S_FETCHING || c->blob != FG_WIRE_BLOB_GLOBAL
    ||  c->version != self->task.weights_version || c->offset != self->fetch_have
    ||  c->total != self->fetch_total || c->size > self->fetch_total - self->fetch_have)
        return;                         //  stale or out of order: ignored
    memcpy (self->fetch + self->fetch_have, c->data, c->size);
    self->fetch_have += c->size;
    if (self->fetch_outstanding)
        self->fetch_outstanding--;
    if (self->fetch_have < self->fetch_total) {
        if (self->fetch_outstanding == 0)
            s_request_chunks (self);
        return;
    }
    uint8_t digest [FG_SHA256_SIZE];
    fg_sha256 (self->fetch, self->fetch_total, digest);
    fg_state_t *weights = NULL;
    fg_error_t err;
    int rc = memcmp (digest, self->task.weights_hash, FG_SHA256_SIZE)
           ? fg_error_set (&err, FG_ECHECKSUM, "weights %llu do not match their hash",
                           (unsigned long long) c->version)
           : fg_blob_decode (self->fetch, self->fetch_total, NULL, &weights, &err);
    free (self->fetch);
    self->fetch = NULL;
    if (rc) {
        fg_warn ("trainer %s: %s; asking again", self->node_id, err.msg);
        s_become_idle (self);
        return;
    }
    fg_state_destroy (&self->weights);
    self->weights = weights;
    self->weights_version = self->task.weights_version;
    memcpy (self->weights_hash, self->task.weights_hash, FG_SHA256_SIZE);
    s_start_unit (self);
}

static void
s_send_result (s_self_t *self)
{
    fg_wire_msg_t msg;
    s_unit_msg (self, &msg, FG_WIRE_RESULT);
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
    if (s_send (self, &msg) == 0)
        fg_crash_point ("trainer.result.sent");
}

static void
s_finish_unit (s_self_t *self)
{
    fg_error_t err;
    const fg_state_t *final = fg_model_state (fg_unit_model (self->unit));
    int rc = fg_blob_encode (final, self->weights, &self->update, &self->update_size, &err);
    if (rc) {
        fg_warn ("trainer %s: cannot encode the update: %s", self->node_id, err.msg);
        s_become_idle (self);
        return;
    }
    fg_sha256 (self->update, self->update_size, self->update_hash);
    uint32_t n;
    const double *losses = fg_unit_losses (self->unit, &n);
    self->loss = malloc ((n? n: 1) * sizeof (float));
    if (!self->loss) {
        s_become_idle (self);
        return;
    }
    for (uint32_t i = 0; i < n; i++)
        self->loss [i] = (float) losses [i];
    self->nloss = n;
    self->samples = fg_unit_samples (self->unit);
    int64_t elapsed = zclock_mono () - self->started_at;
    self->elapsed_ms = elapsed > UINT32_MAX? UINT32_MAX: (uint32_t) elapsed;
    fg_unit_destroy (&self->unit);
    self->state = S_UPLOADING;
    s_save_result (self);
    s_send_result (self);
}

static void
s_train_step (s_self_t *self)
{
    bool epoch_done = false;
    fg_error_t err;
    int rc = fg_unit_step (self->unit, &epoch_done, &err);
    if (rc) {
        fg_warn ("trainer %s: %s", self->node_id, err.msg);
        fg_wire_msg_t msg;
        s_unit_msg (self, &msg, FG_WIRE_ERROR);
        msg.error.code = rc;
        snprintf (msg.error.text, sizeof msg.error.text, "%.200s", err.msg);
        s_send (self, &msg);
        s_become_idle (self);
        return;
    }
    if (epoch_done && self->journal && !fg_unit_done (self->unit)) {
        uint8_t *bytes;
        size_t size;
        if (fg_unit_checkpoint (self->unit, &bytes, &size, &err) == 0) {
            if (fg_tjournal_put (self->journal, "unit", bytes, size, &err))
                fg_warn ("trainer %s: checkpoint: %s", self->node_id, err.msg);
            free (bytes);
            fg_crash_point ("trainer.epoch.checkpoint");
        }
    }
    if (fg_unit_done (self->unit))
        s_finish_unit (self);
}

static void
s_on_update_request (s_self_t *self, const fg_wire_msg_t *msg)
{
    const fg_wire_weights_request_t *r = &msg->weights_request;
    if (self->state != S_UPLOADING || r->blob != FG_WIRE_BLOB_UPDATE
    ||  msg->round != self->round || msg->shard != self->shard)
        return;
    fg_wire_msg_t header;
    s_unit_msg (self, &header, FG_WIRE_WEIGHTS_CHUNK);
    fg_error_t err;
    if (fg_wire_send_chunks (self->dealer, NULL, &header, FG_WIRE_BLOB_UPDATE,
                             self->task.weights_version, self->update, self->update_size,
                             self->update_hash, r->offset, r->credit, r->chunk_size,
                             &self->limits, &err))
        fg_warn ("trainer %s: update chunks: %s", self->node_id, err.msg);
}

static void
s_on_peer (s_self_t *self)
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
                if (self->state == S_UPLOADING)
                    s_send_result (self);       //  not acknowledged yet: again
                else
                if (self->state == S_FETCHING)
                    s_request_chunks (self);
                else
                if (self->state == S_SAMPLES)
                    s_request_samples (self);   //  from the first sample still missing
                else
                if (self->state != S_TRAINING)
                    s_become_idle (self);
            }
            else
            if (msg.ack.of_type == FG_WIRE_RESULT && about_unit && self->state == S_UPLOADING) {
                s_forget_unit (self);
                s_become_idle (self);
            }
            break;
        case FG_WIRE_REJECT:
            fg_info ("trainer %s: %s refused (%s): %s", self->node_id,
                     fg_wire_type_name (msg.reject.of_type),
                     fg_wire_reason_name (msg.reject.reason), msg.reject.text);
            if (msg.reject.of_type == FG_WIRE_HELLO)
                self->expires_at = 0;           //  try again after a back-off
            else
            if (msg.reject.reason == FG_WIRE_REASON_NOT_ALLOWED) {
                //  the coordinator forgot us (declared dead, or restarted):
                //  announce again and keep the unit or result we hold
                if (self->state == S_IDLE)
                    self->state = S_CONNECTING;
                s_send_hello (self);
            }
            else
            if (about_unit && msg.reject.of_type == FG_WIRE_DATA_REQUEST
            &&  self->state == S_SAMPLES) {
                //  asking again would be refused again (another dataset,
                //  limits that do not match): give this unit up for good
                char why [FG_WIRE_TEXT_MAX + 1];
                snprintf (why, sizeof why, "the coordinator refused its samples request: %.180s",
                          msg.reject.text);
                s_refuse_task (self, why);
            }
            else
            if (about_unit || msg.reject.of_type == FG_WIRE_READY)
                s_become_idle (self);
            break;
        case FG_WIRE_TASK:
            s_on_task (self, &msg);
            break;
        case FG_WIRE_WEIGHTS_CHUNK:
            s_on_weights_chunk (self, &msg);
            break;
        case FG_WIRE_DATA_CHUNK:
            s_on_data_chunk (self, &msg);
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

static s_self_t *
s_self_new (zsock_t *pipe, const fg_trainer_args_t *a, fg_error_t *err)
{
    if (!a->endpoint || !a->node_id || !*a->node_id || strlen (a->node_id) > FG_WIRE_NAME_MAX
    ||  strlen (a->endpoint) >= 256 || a->heartbeat_ms <= 0 || a->liveness <= 0
    ||  (a->cache_dir && strlen (a->cache_dir) >= 1024)
    ||  (!a->train && (!a->cache_dir || !*a->cache_dir))) {
        fg_error_set (err, FG_EINVAL, "trainer: bad arguments (endpoint, node id 1..64 bytes, "
                      "heartbeat, liveness; a trainer without a dataset needs a cache directory)");
        return NULL;
    }
    s_self_t *self = calloc (1, sizeof *self);
    if (!self) {
        fg_error_set (err, FG_ENOMEM, "trainer: out of memory");
        return NULL;
    }
    self->pipe = pipe;
    snprintf (self->endpoint, sizeof self->endpoint, "%s", a->endpoint);
    snprintf (self->node_id, sizeof self->node_id, "%s", a->node_id);
    if (a->cache_dir)
        snprintf (self->cache_dir, sizeof self->cache_dir, "%s", a->cache_dir);
    self->train = a->train;
    if (a->train)
        fg_dataset_hash (a->train, self->dataset_hash);
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
    self->poller = zpoller_new (pipe, NULL);
    if (!self->poller) {
        fg_tjournal_close (&self->journal);
        fg_sample_cache_close (&self->cache);
        free (self);
        fg_error_set (err, FG_ENOMEM, "trainer: out of memory");
        return NULL;
    }
    zpoller_set_nonstop (self->poller, true);
    self->state = S_CONNECTING;
    if (s_load_result (self))
        fg_info ("trainer %s: result of round %u shard %u not yet acknowledged: sending it again",
                 self->node_id, self->round, self->shard);
    return self;
}

static void
s_self_destroy (s_self_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    s_self_t *self = *self_p;
    if (self->dealer && self->state != S_CONNECTING) {
        fg_wire_msg_t bye;
        memset (&bye, 0, sizeof bye);
        bye.type = FG_WIRE_BYE;
        s_send (self, &bye);
    }
    //  keep the epoch checkpoint on disk: a restarted trainer resumes it
    fg_unit_destroy (&self->unit);
    fg_wire_msg_clear (&self->task_msg);
    free (self->indices);
    free (self->want);
    free (self->win_records);
    fg_dataset_destroy (&self->fetched);
    free (self->fetch);
    free (self->update);
    free (self->loss);
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

static void
s_trainer_actor (zsock_t *pipe, void *arg)
{
    s_start_t *start = (s_start_t *) arg;
    s_self_t *self = s_self_new (pipe, start->args, &start->err);
    start->status = self? 0: start->err.code;
    zsock_signal (pipe, 0);             //  start is not touched after this
    if (self)
        s_connect (self);
    while (self && !self->terminated) {
        int64_t now = zclock_mono ();
        int timeout;
        if (self->state == S_TRAINING)
            timeout = 0;
        else {
            int64_t next = self->reconnect_at? self->reconnect_at: self->beat_at;
            if (!self->reconnect_at && self->expires_at < next)
                next = self->expires_at;
            if (!self->reconnect_at && self->state == S_SAMPLES && self->data_expires < next)
                next = self->data_expires;
            timeout = next <= now? 0: (int) (next - now);
        }
        void *which = zpoller_wait (self->poller, timeout);
        if (which == self->pipe) {
            zmsg_t *msg = zmsg_recv (self->pipe);
            char *command = msg? zmsg_popstr (msg): NULL;
            if (!command || strcmp (command, "$TERM") == 0)
                self->terminated = true;
            zstr_free (&command);
            zmsg_destroy (&msg);
            continue;
        }
        if (which && which == self->dealer)
            s_on_peer (self);
        now = zclock_mono ();
        if (self->reconnect_at && now >= self->reconnect_at)
            s_connect (self);
        else
        if (!self->reconnect_at && now >= self->expires_at) {
            fg_info ("trainer %s: coordinator silent, reconnecting in %d ms",
                     self->node_id, self->backoff_ms);
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
            zpoller_remove (self->poller, self->dealer);
            zsock_destroy (&self->dealer);
            self->reconnect_at = now + self->backoff_ms;
            self->backoff_ms = self->backoff_ms * 2 > S_BACKOFF_MAX? S_BACKOFF_MAX: self->backoff_ms * 2;
        }
        if (self->dealer && !self->reconnect_at && self->state == S_SAMPLES
        &&  now >= self->data_expires) {
            fg_info ("trainer %s: no sample chunk for %d ms: asking again from sample %llu of %llu",
                     self->node_id, self->heartbeat_ms * self->liveness,
                     (unsigned long long) self->data_have, (unsigned long long) self->want_total);
            s_request_samples (self);
        }
        //  heartbeats only on a connection that answered: after a refused
        //  CURVE handshake ZeroMQ drops the DEALER's only pipe, and a send
        //  would wait for a peer that never comes
        if (self->dealer && self->heard && now >= self->beat_at) {
            s_send_simple (self, FG_WIRE_HEARTBEAT);
            self->beat_at = now + self->heartbeat_ms;
        }
        if (self->state == S_TRAINING && self->unit && which == NULL)
            s_train_step (self);
    }
    s_self_destroy (&self);
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
    self->actor = zactor_new (s_trainer_actor, &start);
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
