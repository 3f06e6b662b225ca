/*  fg_trainer_internal.h — the trainer actor's state, shared by its files.
    Internal to actors/; one thread at a time owns an fg_trn_t (and a
    trainer's compute thread only the unit's part, during a job: the
    hand-off is a message each way), so nothing here locks.

    fg_trainer.c        the actor: its loop, connecting and back-off, the
                        coordinator's messages, the TASK, training, and the
                        result (kept in the trainer's journal until ACK)
    fg_trainer_fetch.c  what the trainer fetches for a unit: the global
                        weights in chunks, and the shard's samples it lacks
                        (DATA-REQUEST / DATA-CHUNK) into its sample cache
    fg_trainer_compute.c the trainer actor's compute thread: the unit's
                        build, batches and result, one job at a time     */

#ifndef FG_TRAINER_INTERNAL_H_INCLUDED
#define FG_TRAINER_INTERNAL_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>
#include "fg_actors.h"
#include "fg_security.h"
#include "fg_sha256.h"
#include "fg_unit.h"
#include "fg_wire_socket.h"
#include "fg_trainer_journal.h"
#include "fg_sample_cache.h"

#define FG_TRN_DATA_RANGES  64      //  ranges in one DATA-REQUEST: the coordinator
                                    //  answers each with a chunk at least, and a
                                    //  burst of 256 (a scattered shard) overflowed
                                    //  its send queue (S_PEER_SNDHWM 300: the
                                    //  writer sees the reader's progress late)

typedef enum {
    FG_TRN_CONNECTING, FG_TRN_IDLE, FG_TRN_SAMPLES, FG_TRN_FETCHING, FG_TRN_TRAINING,
    FG_TRN_UPLOADING
} fg_trn_state_t;

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
    fg_trn_state_t state;
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
    fg_unit_t *spare;               //  the last finished unit, whose model and
                                    //  workspace the next one reuses
                                    //  (fg_unit_renew); never in the swarm,
                                    //  whose identities would each keep one
    int64_t   started_at;           //  weights at hand: the unit's clock starts
    //  the unit's time split (zclock_mono, ms), logged at debug when its
    //  result is kept (bench/round.sh reads it): TASK received, unit built
    //  (the start-up: model, weights copied in), trained, encoded and hashed
    int64_t   task_at;
    int64_t   built_at;
    int64_t   trained_at;
    int64_t   encoded_at;
    //  the simulated slow PC (args.slowdown): the compute thread stays
    //  in each batch's job for (slowdown - 1) times the batch's time more
    //  (fg_trainer_compute.c), so the actor sees a batch F times as long
    double    slowdown;
    bool      defer_unit;           //  fg_trn_start_unit leaves the unit to the
                                    //  driving loop (the swarm's pool)

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
    fg_wire_range_t window [FG_TRN_DATA_RANGES];
    uint32_t  nwindow;
    uint64_t  win_total;
    uint64_t  win_have;
    uint32_t  win_range;            //  window [win_range] holds the next sample
    uint32_t  win_offset;
    uint8_t  *win_records;          //  win_total x record_size; variable: win_bytes
    size_t    record_size;          //  0: variable records (the stored files of a
                                    //  file-backed set, fg_wire_sample_next)
    size_t    win_bytes;            //  variable: bytes in win_records
    size_t    win_cap;              //  ... and its capacity
    uint32_t  var_window;           //  variable: samples to ask at once (adapts to
                                    //  the files' sizes: about S_DATA_CREDIT chunks)
    bool      rerequested;          //  asked again since the last good chunk
    int64_t   data_expires;         //  ask again when nothing came by then
    uint64_t  data_bytes;           //  LZ4 bytes received for the unit
    int64_t   data_started;
    int       data_loads;           //  cache read-backs of this unit
    //  the texture set (fg_trainer_fetch.c): pieces of the image table
    //  first (tex_table), then of the images the shard's fragments use
    //  (tex_want, once fetched holds the set built from the table)
    fg_wire_range_t tex_table;
    fg_wire_range_t *tex_want;
    uint32_t  ntex_want;

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

    //  the compute thread (fg_trainer_compute.c; the trainer actor's only,
    //  NULL in the swarm). While a job is out (busy) the unit and all it
    //  reads or writes — unit, spare, weights, data, fetched, indices,
    //  task, the result's fields, prev_*, the journal's "unit" — belong
    //  to that thread; the actor touches none of them until its signal.
    //  The job's outcome: rc and err, the batch ended an epoch, and then
    //  the unit's checkpoint (ckpt, ckpt_size; NULL when none).
    zactor_t *compute;
    bool      busy;
    bool      idle_pending;         //  fg_trn_become_idle asked while busy:
                                    //  done when the job ends
    int       job;                  //  FG_TRN_JOB_*
    int       job_rc;
    fg_error_t job_err;
    bool      job_epoch_done;
    uint8_t  *job_ckpt;
    size_t    job_ckpt_size;

    //  FEDGRID_FAULT (fg_trainer_fault.c): the previous unit's result
    //  for other-unit, and the HELLO flood sent once
    uint8_t  *prev_update;
    size_t    prev_size;
    uint8_t   prev_hash [FG_SHA256_SIZE];
    float    *prev_loss;
    uint32_t  prev_nloss;
    uint64_t  prev_samples;
    bool      flooded;
} fg_trn_t;

//  ---- fg_trainer.c: the actor ----------------------------------------------

//  Sends msg (stamped with the experiment) to the coordinator; a failure is
//  logged. Returns FG_ESTATE when not connected, else fg_wire_send's code.
int
    fg_trn_send (fg_trn_t *self, fg_wire_msg_t *msg);

//  A message of `type` about the current unit (round, shard, attempt).
void
    fg_trn_unit_msg (const fg_trn_t *self, fg_wire_msg_t *msg, int type);

//  Drops the unit (a result not acknowledged is forgotten) and says READY.
void
    fg_trn_become_idle (fg_trn_t *self);

//  Starts (or resumes from a checkpoint) the unit of the current task.
void
    fg_trn_start_unit (fg_trn_t *self);

//  Refuses the current TASK for good (REJECT, reason unknown) and becomes
//  idle.
void
    fg_trn_refuse_task (fg_trn_t *self, const char *why);

//  ---- fg_trainer.c: one connection, driven by a loop ------------------------
//  The trainer actor drives one fg_trn_t; the swarm (fg_swarm.c) drives
//  many from one loop, with their units trained by a pool. Neither locks:
//  the loop's thread owns the fg_trn_t and its DEALER.

//  A connection's state for args (the DEALER is made by fg_trn_connect),
//  without poller or pipe (the driving loop polls). NULL and err on
//  FG_EINVAL (bad arguments), FG_ENOMEM, or the cache directory's errors.
fg_trn_t *
    fg_trn_new (const fg_trainer_args_t *args, fg_error_t *err);

//  Says BYE when connected, frees everything (a unit's checkpoint stays
//  on disk); NULL-safe.
void
    fg_trn_destroy (fg_trn_t **self_p);

//  Connects (or reconnects) the DEALER and says HELLO; on failure, tries
//  again after the back-off (fg_trn_tick).
void
    fg_trn_connect (fg_trn_t *self);

//  Reads and handles one message from the coordinator (the DEALER is
//  readable).
void
    fg_trn_on_peer (fg_trn_t *self);

//  When the connection's timers next need fg_trn_tick (zclock_mono ms).
int64_t
    fg_trn_wake_at (const fg_trn_t *self);

//  The connection's timers at `now`: reconnect, a silent coordinator,
//  asking again for samples, the heartbeat.
void
    fg_trn_tick (fg_trn_t *self, int64_t now);

//  The unit (TRAINING) failed with rc: ERROR to the coordinator, idle.
void
    fg_trn_unit_error (fg_trn_t *self, int rc, const fg_error_t *err);

//  The compute parts, which touch no socket (the swarm's pool runs them,
//  and the trainer's compute thread):
//  the unit built from the TASK and weights (resumed from a checkpoint),
//  and the trained unit encoded, hashed and counted (the unit destroyed).
//  Return 0 or a negative code (in err): fg_unit_new's, fg_blob_encode's,
//  FG_ENOMEM.
int
    fg_trn_build_unit (fg_trn_t *self, fg_error_t *err);
int
    fg_trn_encode_unit (fg_trn_t *self, fg_error_t *err);

//  After fg_trn_encode_unit: UPLOADING, the result kept, RESULT sent.
void
    fg_trn_send_unit (fg_trn_t *self);

//  ---- fg_trainer_compute.c: the trainer actor's compute thread -------------
//  The unit's long parts run on a thread the trainer actor owns, one job
//  at a time, so the actor keeps beating, reading the coordinator and
//  serving $TERM while a batch computes: the unit's build (fg_trn_build_unit),
//  one mini-batch (fg_unit_step, and at an epoch's end the checkpoint's
//  bytes), the result (fg_trn_encode_unit). The actor writes the
//  checkpoint to its journal and sends the RESULT when the job is done.

enum { FG_TRN_JOB_BUILD = 1, FG_TRN_JOB_STEP, FG_TRN_JOB_ENCODE };

//  Starts the compute thread. Returns 0 or FG_ENOMEM (in err).
int
    fg_trn_compute_start (fg_trn_t *self, fg_error_t *err);

//  In TRAINING with no job out, hands the unit's next job to the compute
//  thread: its build, its next batch, or its result.
void
    fg_trn_compute_next (fg_trn_t *self);

//  The compute thread signalled (it is readable): the job's outcome is
//  handled — checkpoint kept, RESULT sent, ERROR, or the idle deferred.
void
    fg_trn_compute_done (fg_trn_t *self);

//  $TERM while busy: a slow PC's idle time in the job ends now (the
//  batch's own computation cannot be cut short).
void
    fg_trn_compute_hurry (fg_trn_t *self);

//  Stops the compute thread (never busy then); NULL-safe.
void
    fg_trn_compute_stop (fg_trn_t *self);

//  ---- fg_trainer_fault.c: wrong results on purpose (FEDGRID_FAULT) ---------

//  The weights to encode as the unit's result: final, or a copy changed as
//  FEDGRID_FAULT says for this unit (in *lie, the caller destroys it).
const fg_state_t *
    fg_trn_fault_weights (fg_trn_t *self, const fg_state_t *final, fg_state_t **lie);

//  After the result is encoded, hashed and counted: a flipped blob bit
//  (hash recomputed), a false sample count, another unit's result.
void
    fg_trn_fault_result (fg_trn_t *self);

//  After the trainer's own HELLO, once per trainer: hello-flood's N
//  HELLOs on the same connection naming other node ids (ID-flood-0 ...),
//  as a hostile node would send to grow the coordinator's registry. The
//  coordinator refuses them (one node id per connection).
void
    fg_trn_fault_hello_flood (fg_trn_t *self, fg_wire_msg_t *hello);

//  Frees the kept previous result.
void
    fg_trn_fault_free (fg_trn_t *self);

//  ---- fg_trainer_fetch.c: weights and samples -------------------------------

//  Asks for the next chunks of the unit's global weights (WEIGHTS-REQUEST).
void
    fg_trn_request_chunks (fg_trn_t *self);

//  Asks for the next window of missing samples (or the current one again).
void
    fg_trn_request_samples (fg_trn_t *self);

//  The samples are at hand: the weights next (fetched unless cached), then
//  training.
void
    fg_trn_samples_ready (fg_trn_t *self);

//  The TASK's dataset is not held: looks up the shard's samples in the
//  sample cache and fetches the missing ones.
void
    fg_trn_samples_begin (fg_trn_t *self);

void
    fg_trn_on_data_chunk (fg_trn_t *self, const fg_wire_msg_t *msg);

//  A REJECT of the samples request: true when it was handled here (the
//  stored files asked were too much at once: a window of half as many
//  asked instead); false when the unit must be given up.
bool
    fg_trn_samples_refused (fg_trn_t *self, const fg_wire_reject_t *reject);

void
    fg_trn_on_weights_chunk (fg_trn_t *self, const fg_wire_msg_t *msg);

#endif
