/*  fuzz_coordinator.c — libFuzzer harness of the coordinator's message
    handling: sequences of decoded messages from a few peers driven into
    the round state machine in-process (fg_coord_on_message), with the
    coordinator's invariants (fg_coord_check) and the harness's own checked
    after every operation.

    One coordinator per input, so an input replays on its own (a reset
    coordinator would be faster but carry its journal from input to input):
    a fresh experiment folder (tmpfs when there is one), synthetic 10x10
    data of 2 classes (64 training, 16 test samples), cnn-small (27 k
    weights), 1 to 4 shards, 1 or 2 rounds, 1 KiB chunks. Time is the
    harness's: the coordinator's zclock_mono calls are linked to
    __wrap_zclock_mono, one millisecond per operation and more by the timer
    operation, so deadlines, liveness and the order of backup copies never
    depend on the machine's speed.
    fuzz-ldflags: -Wl,--wrap=zclock_mono

    Peers: three DEALER sockets connected to the coordinator's inproc
    ROUTER (its replies are real and read back after every operation: the
    harness learns the TASKs it was issued and the update chunks asked for)
    and a fourth routing identity with no socket behind it. Input:
        byte 0      the experiment: shards 1 + (b & 3), deadline policy
                    (b & 4), rounds 1 + (b >> 3 & 1), quorum (b >> 4 & 3),
                    grid.backup (b >> 6: always, late, never, late)
        then ops    one byte each, peer = op & 3, kind = op >> 2 & 15,
                    followed by the kind's parameter bytes (s_op_*); a
                    missing byte reads as 0. At most S_OPS_MAX operations.
    Kinds: HELLO, READY, HEARTBEAT, WEIGHTS-REQUEST, RESULT (built near
    what was issued: the unit of a TASK this peer or another received, an
    honest update, the base blob, bytes; sizes, sample counts, hashes and
    prefixes near the true ones), the next update chunk, every chunk asked
    for, ERROR, REJECT, DATA-REQUEST, BYE, raw frames through the decoder
    (fuzz_wire's layout), the aggregator's answer (a round commits), the
    timer (or a long wait while chosen peers beat), an honest step (what a correct trainer does next), a replayed
    RESULT. Structured messages go through fg_wire_encode and
    fg_wire_decode first, as the ROUTER loop only passes decoded messages.

    Checks (abort, so libFuzzer reports the input):
      - fg_coord_check after every operation;
      - no message of a peer makes the coordinator return a fatal code;
      - every reply decodes; a TASK names a unit of the round with the
        shard's size; an ACK of a RESULT names a unit that is done; a
        weights chunk carries the base blob's bytes;
    and with S_OWNERSHIP (issue 11's ownership and identity; off on the
    code before that work, where they fail — FG_FUZZ_OWNERSHIP=1 or =0 in
    the environment overrides):
      - fg_coord_check's FG_COORD_CHECK_OWNERSHIP invariants;
      - a unit becomes done only by a result of the peer it was issued to
        (a TASK of that round, shard and attempt the peer received; when an
        issue stops being live is the coordinator's rule, not checked);
      - the journal's node registry grows by at most one node per peer;
    without it, RESULTs announcing more than S_SIZE_CAP bytes are not
    sent (the coordinator would allocate them: a known fault, not news).  */

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fg_blob.h"
#include "fg_coordinator_internal.h"
#include "fg_log.h"
#include "fg_ops.h"
#include "fuzz_frames.h"

#ifndef S_OWNERSHIP
#define S_OWNERSHIP     1           //  ownership and identity checks (fg_coord_results.c)
#endif
#define S_PEERS         4           //  peer 3 has no socket behind its identity
#define S_SOCKETS       3
#define S_OPS_MAX       96
#define S_SIZE_CAP      (4u << 20)  //  largest update size announced without S_OWNERSHIP
#define S_CLOCK_START   1000000
#define S_SHARDS_MAX    4           //  grid.nodes is 1 + (byte 0 & 3)
#define S_ISSUED_MAX    256         //  TASKs a peer can receive in one input

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
//  Runs one input; *commits and *accepted (may be NULL) say how far it
//  went: rounds committed, units that became done. For the corpus generator.
void fuzz_coordinator_run (const uint8_t *data, size_t size, uint32_t *commits,
                           uint32_t *accepted);

//  --------------------------------------------------------------------------
//  The harness's clock: the coordinator's zclock_mono

static int64_t s_clock = S_CLOCK_START;

int64_t __wrap_zclock_mono (void);

int64_t
__wrap_zclock_mono (void)
{
    return s_clock;
}

//  --------------------------------------------------------------------------
//  State

//  What one peer knows: its identity, the last TASK it received, the
//  update it announced, the chunks the coordinator asked for, and the
//  units it sent a RESULT for while running them (ownership).
typedef struct {
    uint32_t  round, shard, attempt;
} s_unit_id_t;

typedef struct {
    zsock_t  *dealer;               //  NULL: nobody behind this identity
    zframe_t *routing;
    bool      task;                 //  holds an unanswered TASK
    uint32_t  t_round, t_shard, t_attempt;
    uint64_t  t_samples;
    uint8_t  *blob;                 //  the update it holds, blob_size bytes,
    uint64_t  blob_size;            //  of which it announced `announced`
    uint64_t  announced;            //  (zeros past blob_size)
    uint8_t   hash [FG_SHA256_SIZE];//  the hash it announced
    bool      asked;                //  update chunks asked for, from ask_offset
    uint64_t  ask_offset;
    uint32_t  ask_credit, ask_chunk;
    fg_wire_msg_t last;             //  its last RESULT (fields; replayed)
    bool      has_last;
    s_unit_id_t issued [S_ISSUED_MAX];  //  every TASK it received
    size_t    nissued;
} s_peer_t;

typedef struct {
    const uint8_t *data;
    size_t    size;
} s_input_t;

typedef struct {
    fg_coord_t *coord;
    s_peer_t  peer [S_PEERS];
    s_input_t in;
    int       flags;                //  fg_coord_check flags
    bool      ownership;
    uint32_t  commits;              //  rounds committed (for the corpus check)
    uint32_t  accepted;             //  units that became done
} s_run_t;

static fg_dataset_t *s_train, *s_test;
static zsock_t *s_pipe_read, *s_pipe_write;
static char s_dir [512];
static int s_serial;
static bool s_trace;                //  FG_FUZZ_TRACE=1: one line per operation

static void
s_fail (const char *fmt, ...) __attribute__ ((format (printf, 1, 2), noreturn));

static void
s_fail (const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    fprintf (stderr, "fuzz_coordinator: invariant violated: ");
    vfprintf (stderr, fmt, args);
    fprintf (stderr, "\n");
    va_end (args);
    abort ();
}

static uint8_t
s_u8 (s_input_t *in)
{
    if (in->size == 0)
        return 0;
    in->size--;
    return *in->data++;
}

static uint32_t
s_u16 (s_input_t *in)
{
    uint32_t lo = s_u8 (in);
    return lo | (uint32_t) s_u8 (in) << 8;
}

static uint64_t
s_u32 (s_input_t *in)
{
    uint64_t lo = s_u16 (in);
    return lo | (uint64_t) s_u16 (in) << 16;
}

//  --------------------------------------------------------------------------
//  Once per process: data, the folder, the pipe the coordinator reports on

static void s_remove_tree (const char *path);

//  At exit: the process's folder goes (a crash leaves it for the post-mortem).
static void
s_cleanup (void)
{
    s_remove_tree (s_dir);
}

static void
s_init (void)
{
    if (s_train)
        return;
    zsys_init ();
    zsys_handler_set (NULL);            //  libFuzzer owns the signals
    zsys_set_logstream (NULL);
    const char *level = getenv ("FG_FUZZ_LOG");
    fg_log_level_t parsed = FG_LOG_ERROR;
    if (level)
        fg_log_level_parse (level, &parsed);
    fg_log_set_level (parsed);
    s_trace = getenv ("FG_FUZZ_TRACE") && atoi (getenv ("FG_FUZZ_TRACE"));
    fg_error_t err;
    //  cnn-small's smallest input (10x10, 2 classes): 27 k weights, so an
    //  update is encoded, hashed and decoded in a fraction of a millisecond
    if (fg_dataset_synthetic (FG_DATASET_SYNTHETIC_SEED, FG_SPLIT_TRAIN, 64, 2, 10, 10, 1,
                              &s_train, &err)
    ||  fg_dataset_synthetic (FG_DATASET_SYNTHETIC_SEED, FG_SPLIT_TEST, 16, 2, 10, 10, 1,
                              &s_test, &err)) {
        fprintf (stderr, "fuzz_coordinator: %s\n", err.msg);
        abort ();
    }
    const char *base = access ("/dev/shm", W_OK) == 0? "/dev/shm"
                     : getenv ("TMPDIR")? getenv ("TMPDIR"): "/tmp";
    snprintf (s_dir, sizeof s_dir, "%s/fuzz-coordinator-%d-XXXXXX", base, (int) getpid ());
    if (!mkdtemp (s_dir)) {
        perror ("fuzz_coordinator: mkdtemp");
        abort ();
    }
    atexit (s_cleanup);
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "inproc://fuzz-coordinator-pipe-%d", (int) getpid ());
    s_pipe_read = zsock_new (ZMQ_PAIR);
    s_pipe_write = zsock_new (ZMQ_PAIR);
    if (!s_pipe_read || !s_pipe_write || zsock_bind (s_pipe_read, "%s", endpoint) != 0
    ||  zsock_connect (s_pipe_write, "%s", endpoint) != 0) {
        fprintf (stderr, "fuzz_coordinator: cannot open %s\n", endpoint);
        abort ();
    }
    zsock_set_rcvtimeo (s_pipe_read, 0);
}

static int
s_remove_entry (const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void) st; (void) type; (void) ftw;
    return remove (path);
}

static void
s_remove_tree (const char *path)
{
    nftw (path, s_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

//  --------------------------------------------------------------------------
//  Update blobs

//  An update a trainer could have sent for shard of the round: the base
//  with a few weights moved, keyed by (round, shard, seed) so two honest
//  peers of one unit send the very same bytes. Caller frees *blob.
static int
s_update_blob (const fg_coord_t *c, uint32_t shard, uint32_t seed, uint8_t **blob,
               size_t *size)
{
    fg_state_t *update = fg_state_dup (c->base);
    if (!update)
        return FG_ENOMEM;
    uint64_t x = ((uint64_t) c->round << 40) ^ ((uint64_t) shard << 20) ^ seed ^ 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 16; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        update->data [(x >> 17) % update->size] += 0.001f * (float) (i + 1);
    }
    fg_error_t err;
    int rc = fg_blob_encode (update, c->base, blob, size, &err);
    fg_state_destroy (&update);
    return rc;
}

//  Bytes [offset, offset + n) of what peer announced: its blob, then zeros.
static void
s_announced_bytes (const s_peer_t *peer, uint64_t offset, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
            out [i] = offset + i < peer->blob_size? peer->blob [offset + i]: 0;
}

static void
s_peer_forget_update (s_peer_t *peer)
{
    free (peer->blob);
    peer->blob = NULL;
    peer->blob_size = 0;
    peer->announced = 0;
    peer->asked = false;
}

//  --------------------------------------------------------------------------
//  Replies: what the coordinator sent to each peer since the last operation

static void
s_on_task (s_run_t *run, s_peer_t *peer, const fg_wire_msg_t *msg)
{
    fg_coord_t *c = run->coord;
    const fg_wire_task_t *t = &msg->task;
    if (msg->round != c->round || msg->shard >= c->nshards || msg->attempt == 0
    ||  msg->attempt > c->units [msg->shard].attempts)
        s_fail ("TASK of round %u shard %u attempt %u: not a unit issued in round %u",
                msg->round, msg->shard, msg->attempt, c->round);
    uint64_t size = c->shards->offset [msg->shard + 1] - c->shards->offset [msg->shard];
    if (t->sample_count != size || t->weights_version != (uint64_t) c->round - 1
    ||  t->weights_size != c->base_size || memcmp (t->weights_hash, c->base_hash, FG_SHA256_SIZE))
        s_fail ("TASK of round %u shard %u: %llu samples (shard: %llu), weights %llu",
                msg->round, msg->shard, (unsigned long long) t->sample_count,
                (unsigned long long) size, (unsigned long long) t->weights_version);
    if (peer->nissued < S_ISSUED_MAX)
        peer->issued [peer->nissued++] = (s_unit_id_t) { msg->round, msg->shard, msg->attempt };
    peer->task = true;
    peer->t_round = msg->round;
    peer->t_shard = msg->shard;
    peer->t_attempt = msg->attempt;
    peer->t_samples = t->sample_count;
}

static void
s_on_reply (s_run_t *run, s_peer_t *peer, const fg_wire_msg_t *msg)
{
    fg_coord_t *c = run->coord;
    switch (msg->type) {
        case FG_WIRE_TASK:
            s_on_task (run, peer, msg);
            break;
        case FG_WIRE_WEIGHTS_REQUEST:
            if (msg->weights_request.blob == FG_WIRE_BLOB_UPDATE) {
                peer->asked = true;
                peer->ask_offset = msg->weights_request.offset;
                peer->ask_credit = msg->weights_request.credit;
                peer->ask_chunk = msg->weights_request.chunk_size;
            }
            break;
        case FG_WIRE_ACK:
            if (msg->ack.of_type == FG_WIRE_RESULT && msg->round == c->round && c->units
            && (msg->shard >= c->nshards || c->units [msg->shard].state != FG_COORD_UNIT_DONE))
                s_fail ("ACK of the RESULT of round %u shard %u, a unit not done", msg->round,
                        msg->shard);
            if (msg->ack.of_type == FG_WIRE_RESULT)
                peer->asked = false;
            break;
        case FG_WIRE_REJECT:
            if (msg->reject.reason > FG_WIRE_REASON_MAX || msg->reject.text [0] == 0)
                s_fail ("REJECT of a %s with reason %u and text '%s'",
                        fg_wire_type_name (msg->reject.of_type), msg->reject.reason,
                        msg->reject.text);
            if (msg->reject.of_type == FG_WIRE_TASK && msg->reject.reason == FG_WIRE_REASON_STALE
            &&  msg->shard == peer->t_shard && msg->round == peer->t_round)
                peer->task = false;
            if (msg->reject.of_type == FG_WIRE_RESULT)
                peer->asked = false;
            break;
        case FG_WIRE_WEIGHTS_CHUNK: {
            const fg_wire_weights_chunk_t *w = &msg->weights_chunk;
            if (w->blob != FG_WIRE_BLOB_GLOBAL || w->version != (uint64_t) c->round - 1)
                break;
            if (w->total != c->base_size || w->offset + w->size > c->base_size
            ||  memcmp (w->hash, c->base_hash, FG_SHA256_SIZE)
            ||  (w->size && memcmp (w->data, c->base_blob + w->offset, w->size)))
                s_fail ("WEIGHTS-CHUNK at %llu (%zu bytes of %llu): not the base blob's",
                        (unsigned long long) w->offset, w->size, (unsigned long long) w->total);
            break;
        }
        default:
            break;                      //  DATA-CHUNK, HEARTBEAT, BYE
    }
}

//  What the coordinator told its owner: "ROUND" after a commit, "DONE".
static void
s_drain_pipe (uint32_t *commits)
{
    char *kind;
    while ((kind = zstr_recv (s_pipe_read))) {
        if (strcmp (kind, "ROUND") == 0)
            (*commits)++;
        zstr_free (&kind);
        zsock_flush (s_pipe_read);
    }
}

static void
s_drain (s_run_t *run)
{
    for (int p = 0; p < S_SOCKETS; p++) {
        s_peer_t *peer = &run->peer [p];
        for (;;) {
            fg_wire_msg_t msg;
            fg_error_t err;
            int rc = fg_wire_recv (peer->dealer, NULL, &run->coord->limits, &msg, &err);
            if (rc == FG_ETIMEOUT)
                break;
            if (rc)
                s_fail ("a message to peer %d does not decode: %s", p, err.msg);
            s_on_reply (run, peer, &msg);
            fg_wire_msg_clear (&msg);
        }
    }
    s_drain_pipe (&run->commits);
}

//  --------------------------------------------------------------------------
//  Checks after every operation

static bool
s_was_issued (const s_peer_t *peer, uint32_t round, uint32_t shard, uint32_t attempt)
{
    for (size_t i = 0; i < peer->nissued; i++)
        if (peer->issued [i].round == round && peer->issued [i].shard == shard
        &&  peer->issued [i].attempt == attempt)
            return true;
    return false;
}

//  Counts the journal's node records (node numbers handed out to nodes
//  never journaled are not records).
static int
s_count_record (const fg_journal_node_t *record, void *arg)
{
    (void) record;
    (*(uint32_t *) arg)++;
    return 0;
}

static void
s_check (s_run_t *run, int p, const int *before, uint32_t round)
{
    fg_coord_t *c = run->coord;
    fg_error_t err;
    if (fg_coord_check (c, run->flags, &err))
        s_fail ("%s", err.msg);
    if (c->nnodes > S_PEERS)
        s_fail ("%zu nodes from %d peers", c->nnodes, S_PEERS);
    uint32_t records = 0;
    if (run->ownership
    &&  fg_journal_nodes_foreach (c->journal, s_count_record, &records, NULL) == 0
    &&  records > S_PEERS)
        s_fail ("%u node records from %d peers: the registry grows by a flood",
                records, S_PEERS);
    if (!before || c->round != round || !c->units)
        return;
    for (uint32_t s = 0; s < c->nshards; s++) {
        const fg_coord_unit_t *unit = &c->units [s];
        if (before [s] == FG_COORD_UNIT_DONE || unit->state != FG_COORD_UNIT_DONE)
            continue;
        run->accepted++;
        if (p < 0)
            s_fail ("round %u shard %u became done without a message", round, s);
        if (run->ownership && !s_was_issued (&run->peer [p], round, s, unit->attempt))
            s_fail ("round %u shard %u was completed as attempt %u by peer %d, to which that "
                    "attempt was not issued", round, s, unit->attempt, p);
    }
}

//  One decoded message of peer p into the coordinator, then the checks.
static void
s_feed (s_run_t *run, int p, fg_wire_msg_t *msg)
{
    fg_coord_t *c = run->coord;
    s_peer_t *peer = &run->peer [p];
    if (msg->type == FG_WIRE_RESULT && !run->ownership && msg->result.update_size > S_SIZE_CAP)
        return;                         //  known: allocated as announced
    int before [S_SHARDS_MAX];
    uint32_t round = c->round;
    for (uint32_t s = 0; s < S_SHARDS_MAX; s++)
        before [s] = c->units && s < c->nshards? c->units [s].state: FG_COORD_UNIT_PENDING;
    fg_error_t fatal;
    fg_error_clear (&fatal);
    int rc = fg_coord_on_message (c, peer->routing, msg, &fatal);
    if (rc)
        s_fail ("a %s from peer %d stopped the coordinator: %s", fg_wire_type_name (msg->type),
                p, fatal.msg);
    s_drain (run);
    s_check (run, p, before, round);
}

//  A structured message: encoded and decoded as the ROUTER loop would get
//  it (a message the codec refuses is not sent: no peer could).
static void
s_send (s_run_t *run, int p, fg_wire_msg_t *msg, bool other_experiment)
{
    fg_coord_t *c = run->coord;
    msg->experiment = c->experiment ^ (other_experiment? 1: 0);
    fg_wire_frames_t frames;
    fg_error_t err;
    if (fg_wire_encode (msg, &c->limits, &frames, &err))
        return;
    fg_wire_msg_t decoded;
    if (fg_wire_decode (frames.frame, frames.count, &c->limits, &decoded, &err))
        s_fail ("a %s encodes but does not decode: %s", fg_wire_type_name (msg->type), err.msg);
    s_feed (run, p, &decoded);
    fg_wire_msg_clear (&decoded);
    fg_wire_frames_clear (&frames);
}

//  --------------------------------------------------------------------------
//  Operations: each reads its parameter bytes

static void
s_header (fg_wire_msg_t *msg, int type, uint32_t round, uint32_t shard, uint32_t attempt)
{
    memset (msg, 0, sizeof *msg);
    msg->type = type;
    msg->round = round;
    msg->shard = shard;
    msg->attempt = attempt;
}

static void
s_op_hello (s_run_t *run, int p, uint8_t v)
{
    fg_wire_msg_t msg;
    s_header (&msg, FG_WIRE_HELLO, 0, 0, 0);
    fg_wire_hello_t *h = &msg.hello;
    h->proto_min = h->proto_max = (v & 0x10)? 2: 1;
    h->cores = 1;
    int which = v & 7;
    if (which < 6)
        snprintf (h->node_id, sizeof h->node_id, "node-%d", which);
    else
    if (which == 6)
        snprintf (h->node_id, sizeof h->node_id, "peer-%d", p);
    else {
        size_t n = s_u8 (&run->in) % FG_WIRE_NAME_MAX + 1;
        for (size_t i = 0; i < n; i++)
            h->node_id [i] = (char) ('!' + s_u8 (&run->in) % 94);
    }
    snprintf (h->kernel, sizeof h->kernel, "%s%s", fg_ops_kernel_identity (),
              (v & 0x20)? "x": " fuzz");
    if (!(v & 8)) {
        h->dataset_count = 1;
        memcpy (h->datasets [0], run->coord->dataset_hash, FG_SHA256_SIZE);
    }
    s_send (run, p, &msg, v & 0x40);
}

static void
s_op_weights_request (s_run_t *run, int p, uint8_t v)
{
    fg_coord_t *c = run->coord;
    s_peer_t *peer = &run->peer [p];
    fg_wire_msg_t msg;
    s_header (&msg, FG_WIRE_WEIGHTS_REQUEST, c->round, peer->t_shard, peer->t_attempt);
    fg_wire_weights_request_t *r = &msg.weights_request;
    r->blob = (v & 0x20)? FG_WIRE_BLOB_UPDATE: FG_WIRE_BLOB_GLOBAL;
    r->version = (uint64_t) c->round - 1 + ((v & 0x10)? 1: 0);
    switch (v & 3) {
        case 0: r->offset = 0; break;
        case 1: r->offset = c->base_size - s_u8 (&run->in); break;
        case 2: r->offset = 16 * (uint64_t) s_u16 (&run->in); break;
        default: r->offset = c->base_size; break;
    }
    r->credit = 1u << ((v >> 2) & 3);
    r->chunk_size = (v & 0x40)? s_u16 (&run->in) % c->limits.max_chunk + 1
                              : (uint32_t) c->limits.max_chunk;
    s_send (run, p, &msg, v & 0x80);
}

//  The unit a RESULT is about (param bits 0-1): this peer's TASK, another
//  peer's, any shard and attempt, or this peer's in another round.
static void
s_result_unit (s_run_t *run, int p, uint8_t v, fg_wire_msg_t *msg)
{
    fg_coord_t *c = run->coord;
    const s_peer_t *own = &run->peer [p];
    const s_peer_t *other = &run->peer [(p + 1) % S_SOCKETS];
    uint32_t round = own->t_round, shard = own->t_shard, attempt = own->t_attempt;
    if ((v & 3) == 1) {
        round = other->t_round;
        shard = other->t_shard;
        attempt = other->t_attempt;
    }
    else
    if ((v & 3) == 2) {
        round = c->round;
        shard = s_u8 (&run->in) % (c->nshards + 1);
        attempt = s_u8 (&run->in) % 4;
    }
    else
    if ((v & 3) == 3)
        round = c->round + s_u8 (&run->in) % 3 - 1;
    if (round == 0)
        round = c->round;
    s_header (msg, FG_WIRE_RESULT, round, shard, attempt? attempt: 1);
}

//  The update the peer holds (param bits 2-3): an honest one, another
//  update of the base, bytes, or the base blob itself (a full blob).
static int
s_result_blob (s_run_t *run, s_peer_t *peer, uint8_t v, uint32_t shard)
{
    fg_coord_t *c = run->coord;
    s_peer_forget_update (peer);
    size_t size = 0;
    int rc = 0;
    switch ((v >> 2) & 3) {
        case 0: rc = s_update_blob (c, shard, 0, &peer->blob, &size); break;
        case 1: rc = s_update_blob (c, shard, 1 + s_u8 (&run->in), &peer->blob, &size); break;
        case 2:
            size = s_u16 (&run->in) % 8192 + 1;
            peer->blob = malloc (size);
            for (size_t i = 0; peer->blob && i < size; i++)
                peer->blob [i] = (uint8_t) (i * 131 + size);
            rc = peer->blob? 0: FG_ENOMEM;
            break;
        default:
            peer->blob = malloc (c->base_size);
            if (peer->blob)
                memcpy (peer->blob, c->base_blob, c->base_size);
            size = c->base_size;
            rc = peer->blob? 0: FG_ENOMEM;
            break;
    }
    peer->blob_size = size;
    return rc;
}

//  Sends RESULT msg of peer with the first prefix_size bytes it announced.
static void
s_send_result (s_run_t *run, int p, fg_wire_msg_t *msg, bool other_experiment)
{
    s_peer_t *peer = &run->peer [p];
    fg_wire_result_t *r = &msg->result;
    uint8_t *prefix = malloc (r->prefix_size? r->prefix_size: 1);
    if (!prefix)
        return;
    s_announced_bytes (peer, 0, prefix, r->prefix_size);
    r->prefix = prefix;
    peer->last = *msg;
    peer->last.result.loss_count = 0;
    peer->last.result.loss = NULL;
    peer->last.result.prefix = NULL;
    peer->has_last = true;
    s_send (run, p, msg, other_experiment);
    free (prefix);
}

//  RESULT: param bytes v (unit, blob, announced size, hash, experiment)
//  and w (sample count, loss curve, weights version, prefix).
static void
s_op_result (s_run_t *run, int p, uint8_t v, uint8_t w)
{
    fg_coord_t *c = run->coord;
    s_peer_t *peer = &run->peer [p];
    fg_wire_msg_t msg;
    s_result_unit (run, p, v, &msg);
    if (s_result_blob (run, peer, v, msg.shard))
        return;
    fg_wire_result_t *r = &msg.result;
    switch ((v >> 4) & 3) {
        case 0: peer->announced = peer->blob_size; break;
        case 1: peer->announced = peer->blob_size + (uint64_t) (int8_t) s_u8 (&run->in); break;
        case 2: peer->announced = s_u32 (&run->in) * (uint64_t) (1 + s_u8 (&run->in)); break;
        default: peer->announced = 0; break;
    }
    r->update_size = peer->announced;
    fg_sha256 (peer->blob, peer->blob_size, peer->hash);
    if (v & 0x40)
        peer->hash [s_u8 (&run->in) % FG_SHA256_SIZE] ^= 1;
    memcpy (r->update_hash, peer->hash, FG_SHA256_SIZE);
    uint64_t size = msg.shard < c->nshards? c->shards->offset [msg.shard + 1]
                                          - c->shards->offset [msg.shard]: 1;
    switch (w & 3) {
        case 0: r->sample_count = size; break;
        case 1: r->sample_count = 0; break;
        case 2: r->sample_count = size + (uint64_t) (int8_t) s_u8 (&run->in); break;
        default: r->sample_count = s_u32 (&run->in) * 1000003ull; break;
    }
    float loss [3] = { 2.0f, 1.0f, (w & 0x10)? NAN: 0.5f };
    r->loss_count = (w >> 2) & 3;
    r->loss = loss + 3 - r->loss_count;
    r->weights_version = (uint64_t) c->round - 1 + ((w & 0x20)? 1: 0);
    r->elapsed_ms = 1000;
    uint64_t most = peer->announced < c->limits.max_chunk? peer->announced: c->limits.max_chunk;
    switch (w >> 6) {
        case 0: r->prefix_size = 0; break;
        case 2: r->prefix_size = s_u16 (&run->in) % (most + 1); break;
        default: r->prefix_size = most; break;
    }
    if ((v & 3) == 0)
        peer->task = false;             //  answered
    s_send_result (run, p, &msg, v & 0x80);
}

//  One chunk of the update peer announced, at the offset asked or off it:
//  param bits 0-1 offset, 2 total, 3 hash, 4 round, 5 shard, 6 blob kind,
//  7 size.
static void
s_op_chunk (s_run_t *run, int p, uint8_t v)
{
    fg_coord_t *c = run->coord;
    s_peer_t *peer = &run->peer [p];
    const fg_wire_msg_t *last = &peer->last;
    fg_wire_msg_t msg;
    s_header (&msg, FG_WIRE_WEIGHTS_CHUNK, last->round + ((v & 0x10)? 1: 0),
              last->shard + ((v & 0x20)? 1: 0), last->attempt);
    fg_wire_weights_chunk_t *k = &msg.weights_chunk;
    k->blob = (v & 0x40)? FG_WIRE_BLOB_GLOBAL: FG_WIRE_BLOB_UPDATE;
    k->version = (uint64_t) c->round - 1;
    switch (v & 3) {
        case 0: k->offset = peer->ask_offset; break;
        case 1: k->offset = peer->ask_offset + 1; break;
        case 2: k->offset = s_u16 (&run->in); break;
        default: k->offset = 0; break;
    }
    k->total = peer->announced + ((v & 4)? 1: 0);
    memcpy (k->hash, peer->hash, FG_SHA256_SIZE);
    if (v & 8)
        k->hash [0] ^= 0x80;
    uint64_t chunk = peer->ask_chunk? peer->ask_chunk: c->limits.max_chunk;
    uint64_t left = k->total > k->offset? k->total - k->offset: 0;
    k->size = (v & 0x80)? s_u16 (&run->in) % (c->limits.max_chunk + 1)
                        : (size_t) (left < chunk? left: chunk);
    uint8_t *data = malloc (k->size? k->size: 1);
    if (!data)
        return;
    s_announced_bytes (peer, k->offset, data, k->size);
    k->data = data;
    if (v == 0 && peer->asked && peer->ask_credit && --peer->ask_credit == 0)
        peer->asked = false;            //  the coordinator asks again when all are in
    if (v == 0)
        peer->ask_offset += k->size;
    s_send (run, p, &msg, false);
    free (data);
}

//  Every chunk asked for, in order, as an honest peer sends them.
static void
s_op_chunks (s_run_t *run, int p)
{
    s_peer_t *peer = &run->peer [p];
    for (int i = 0; i < 64 && peer->asked && peer->ask_offset < peer->announced; i++)
        s_op_chunk (run, p, 0);
}

//  READY, HEARTBEAT, ERROR, REJECT, BYE: param bits 0-3 their fields, 7
//  another experiment.
static void
s_op_short (s_run_t *run, int p, int type, uint8_t v)
{
    s_peer_t *peer = &run->peer [p];
    fg_wire_msg_t msg;
    uint32_t shard = (v & 1)? s_u8 (&run->in) % (S_SHARDS_MAX + 1): peer->t_shard;
    s_header (&msg, type, (v & 2)? run->coord->round + 1: run->coord->round, shard,
              peer->t_attempt);
    if (type == FG_WIRE_READY)
        msg.ready.slots = 1;
    if (type == FG_WIRE_ERROR) {
        msg.error.code = FG_EIO;
        snprintf (msg.error.text, sizeof msg.error.text, "disk full");
        if (v & 4)
            peer->task = false;
    }
    if (type == FG_WIRE_REJECT) {
        msg.reject.of_type = (v & 4)? (uint8_t) (s_u8 (&run->in) % FG_WIRE_TYPE_MAX + 1)
                                    : FG_WIRE_TASK;
        msg.reject.reason = (v & 8)? FG_WIRE_REASON_UNKNOWN: FG_WIRE_REASON_BUSY;
        snprintf (msg.reject.text, sizeof msg.reject.text, "cannot run it");
    }
    s_send (run, p, &msg, v & 0x80);
}

//  DATA-REQUEST: param bit 0 the samples of this peer's shard, else one
//  range from the input; bit 1 another dataset; bit 7 another experiment.
static void
s_op_data_request (s_run_t *run, int p, uint8_t v)
{
    fg_coord_t *c = run->coord;
    s_peer_t *peer = &run->peer [p];
    fg_wire_msg_t msg;
    s_header (&msg, FG_WIRE_DATA_REQUEST, c->round, peer->t_shard, peer->t_attempt);
    fg_wire_data_request_t *d = &msg.data_request;
    memcpy (d->dataset_hash, c->dataset_hash, FG_SHA256_SIZE);
    if (v & 2)
        d->dataset_hash [5] ^= 1;
    fg_wire_range_t one = { s_u8 (&run->in) % 80, s_u8 (&run->in) % 20 + 1 };
    fg_wire_range_t *ranges = NULL;
    uint32_t nranges = 0;
    fg_error_t err;
    uint32_t shard = peer->t_shard < c->nshards? peer->t_shard: 0;
    size_t begin = c->shards->offset [shard], end = c->shards->offset [shard + 1];
    if ((v & 1) && fg_wire_ranges_from_indices (c->shards->index + begin, end - begin, &ranges,
                                                &nranges, &err) == 0) {
        d->ranges = ranges;
        d->range_count = nranges;
        d->sample_count = end - begin;
    }
    else {
        d->ranges = &one;
        d->range_count = 1;
        d->sample_count = one.count;
    }
    s_send (run, p, &msg, v & 0x80);
    free (ranges);
}

//  Raw frames through the decoder (fuzz_wire's layout: param = frame count
//  (bits 0-2, at most 4) | 0x80 payload length and checksum made right |
//  0x40 this experiment),
//  then a u16 length of the bytes that follow.
static void
s_op_raw (s_run_t *run, int p, uint8_t v)
{
    fg_coord_t *c = run->coord;
    size_t size = s_u16 (&run->in) % 2048;
    if (size > run->in.size)
        size = run->in.size;
    const uint8_t *data = run->in.data;
    run->in.data += size;
    run->in.size -= size;
    size_t count = (v & 7) < FG_WIRE_FRAMES_MAX? (size_t) (v & 7): FG_WIRE_FRAMES_MAX;
    uint8_t *copy [FG_WIRE_FRAMES_MAX] = { NULL };
    fg_wire_frame_t frames [FG_WIRE_FRAMES_MAX];
    if (fuzz_frames_split (data, size, count, copy, frames))
        goto done;
    if (count && frames [0].size >= FG_WIRE_HEADER_SIZE) {
        if (v & 0x40)
            fuzz_frames_put (copy [0] + 8, c->experiment, 8);
        if (v & 0x80)
            fuzz_frames_fix (copy [0], frames, count);
    }
    fg_wire_msg_t msg;
    fg_error_t err;
    if (fg_wire_decode (frames, count, &c->limits, &msg, &err) == 0) {
        s_feed (run, p, &msg);
        fg_wire_msg_clear (&msg);
    }
done:
    for (size_t i = 0; i < FG_WIRE_FRAMES_MAX; i++)
        free (copy [i]);
}

//  The aggregator's answer, when a round is being folded: it commits.
static void
s_op_aggregator (s_run_t *run)
{
    fg_coord_t *c = run->coord;
    if (!c->folding)
        return;
    //  as the loop does: only once the answer is there (a blocking receive
    //  would be cut short by libFuzzer's timer signal)
    zpoller_t *poller = zpoller_new (c->aggregator, NULL);
    void *which = NULL;
    for (int i = 0; i < 600 && !which; i++)
        which = zpoller_wait (poller, 100);
    zpoller_destroy (&poller);
    if (!which)
        s_fail ("round %u: the aggregator does not answer FINISH within a minute", c->round);
    fg_error_t fatal;
    fg_error_clear (&fatal);
    if (fg_coord_on_aggregator (c, &fatal))
        s_fail ("round %u cannot commit: %s", c->round, fatal.msg);
    s_drain (run);
    s_check (run, -1, NULL, 0);
}

//  Time passes (param bits 0-1: a few milliseconds, a heartbeat, a node's
//  liveness, a unit's deadline), then the loop's timer runs.
static void
s_op_timer (s_run_t *run, uint8_t v)
{
    fg_coord_t *c = run->coord;
    int before [S_SHARDS_MAX];
    for (uint32_t s = 0; s < S_SHARDS_MAX; s++)
        before [s] = c->units && s < c->nshards? c->units [s].state: FG_COORD_UNIT_PENDING;
    switch (v & 3) {
        case 0: s_clock += v >> 2; break;
        case 1: s_clock += c->cfg.grid.heartbeat_ms; break;
        case 2: s_clock += c->cfg.grid.heartbeat_ms * c->cfg.grid.liveness + 1; break;
        default: s_clock += c->cfg.grid.deadline_floor_s * 1000 + 1; break;
    }
    fg_coord_on_timer (c);
    s_drain (run);
    s_check (run, -1, before, c->round);    //  no unit is done by time alone
}

//  Seconds pass while the peers of mask (param bits 0-3) beat as trainers
//  at work do: 1 + (bits 4-7) x 4 heartbeats, each one a HEARTBEAT of
//  every such peer, then the timer (units pass their deadlines, nodes
//  outside mask fall silent).
static void
s_op_wait (s_run_t *run, uint8_t v)
{
    int steps = 1 + 4 * (v >> 4);
    for (int i = 0; i < steps; i++) {
        for (int p = 0; p < S_PEERS; p++)
            if ((v >> p) & 1)
                s_op_short (run, p, FG_WIRE_HEARTBEAT, 0);
        s_op_timer (run, 1);
    }
}

//  What a correct trainer does next: HELLO, the chunks asked for, the
//  RESULT of its TASK (the honest update, every field true), or READY.
static void
s_op_honest (s_run_t *run, int p)
{
    fg_coord_t *c = run->coord;
    s_peer_t *peer = &run->peer [p];
    if (!fg_coord_node_find (c, peer->routing))
        s_op_hello (run, p, 6);
    else
    if (peer->asked && peer->ask_offset < peer->announced)
        s_op_chunks (run, p);
    else
    if (peer->task) {
        fg_wire_msg_t msg;
        s_header (&msg, FG_WIRE_RESULT, peer->t_round, peer->t_shard, peer->t_attempt);
        size_t size;
        s_peer_forget_update (peer);
        if (s_update_blob (c, peer->t_shard, 0, &peer->blob, &size))
            return;
        peer->blob_size = peer->announced = size;
        fg_sha256 (peer->blob, size, peer->hash);
        fg_wire_result_t *r = &msg.result;
        r->weights_version = (uint64_t) c->round - 1;
        r->sample_count = peer->t_samples;
        r->elapsed_ms = 1000;
        float loss = 0.5f;
        r->loss_count = 1;
        r->loss = &loss;
        r->update_size = size;
        memcpy (r->update_hash, peer->hash, FG_SHA256_SIZE);
        r->prefix_size = size < c->limits.max_chunk? size: c->limits.max_chunk;
        peer->task = false;
        s_send_result (run, p, &msg, false);
    }
    else
        s_op_short (run, p, FG_WIRE_READY, 0);
}

//  The peer's last RESULT again (a duplicate, or a retry after a REJECT).
static void
s_op_replay (s_run_t *run, int p)
{
    s_peer_t *peer = &run->peer [p];
    if (!peer->has_last)
        return;
    fg_wire_msg_t msg = peer->last;
    s_send_result (run, p, &msg, false);
}

static void
s_op (s_run_t *run, uint8_t op)
{
    int p = op & 3;
    int kind = (op >> 2) & 15;
    s_clock++;
    if (s_trace) {
        fg_coord_t *c = run->coord;
        fprintf (stderr, "fuzz_coordinator: op %2d peer %d | round %u done %u/%u%s nodes %zu\n",
                 kind, p, c->round, c->done, c->nshards, c->folding? " folding": "", c->nnodes);
    }
    switch (kind) {
        case 0:  s_op_hello (run, p, s_u8 (&run->in)); break;
        case 1:  s_op_short (run, p, FG_WIRE_READY, s_u8 (&run->in)); break;
        case 2:  s_op_short (run, p, FG_WIRE_HEARTBEAT, s_u8 (&run->in)); break;
        case 3:  s_op_weights_request (run, p, s_u8 (&run->in)); break;
        case 4: {
            uint8_t v = s_u8 (&run->in);
            s_op_result (run, p, v, s_u8 (&run->in));
            break;
        }
        case 5:  s_op_chunk (run, p, s_u8 (&run->in)); break;
        case 6:  s_op_chunks (run, p); break;
        case 7:  s_op_short (run, p, FG_WIRE_ERROR, s_u8 (&run->in)); break;
        case 8:  s_op_short (run, p, FG_WIRE_REJECT, s_u8 (&run->in)); break;
        case 9:  s_op_data_request (run, p, s_u8 (&run->in)); break;
        case 10: s_op_short (run, p, FG_WIRE_BYE, s_u8 (&run->in)); break;
        case 11: s_op_raw (run, p, s_u8 (&run->in)); break;
        case 12: s_op_aggregator (run); break;
        case 13: {
            uint8_t v = s_u8 (&run->in);
            if ((v & 7) == 7)           //  a unit's deadline, jumped to: a long wait
                s_op_wait (run, s_u8 (&run->in));
            else
                s_op_timer (run, v);
            break;
        }
        case 14: s_op_honest (run, p); break;
        default: s_op_replay (run, p); break;
    }
}

//  --------------------------------------------------------------------------
//  One input: a coordinator, its peers, the operations, the tear-down

static fg_coord_t *
s_coordinator_new (uint8_t b, const char *dir, const char *inproc)
{
    fg_config_t cfg;
    fg_error_t err;
    if (fg_config_preset (&cfg, "synthetic-tiny", &err))
        s_fail ("preset: %s", err.msg);
    cfg.data.synthetic_train = 64;
    cfg.data.synthetic_test = 16;
    cfg.grid.nodes = 1 + (b & 3);
    cfg.experiment.policy = (b & 4)? FG_POLICY_DEADLINE: FG_POLICY_EXACT;
    cfg.experiment.rounds = 1 + ((b >> 3) & 1);
    cfg.experiment.quorum = 0.25 * (1 + ((b >> 4) & 3));
    //  grid.backup: 0 always (the corpus from before the policy), 1 and 3
    //  late, 2 never (the harness's clock makes "late" replayable)
    cfg.grid.backup = (b >> 6) == 0? FG_BACKUP_ALWAYS: (b >> 6) == 2? FG_BACKUP_NEVER
                    : FG_BACKUP_LATE;
    cfg.training.test_batch_size = 16;
    cfg.grid.heartbeat_ms = 100;
    cfg.grid.liveness = 3;
    cfg.grid.deadline_floor_s = 1;
    cfg.grid.max_frame = 65536;
    cfg.grid.chunk_size = 1024;
    if (fg_config_validate (&cfg, &err))
        s_fail ("configuration: %s", err.msg);
    fg_coordinator_args_t args = {
        .dir = dir, .cfg = &cfg, .train = s_train, .test = s_test, .inproc = inproc,
        .eval_threads = 1
    };
    int port = 0;
    fg_coord_t *c = fg_coord_new ((zsock_t *) s_pipe_write, &args, &port, &err);
    if (!c)
        s_fail ("the coordinator does not start: %s", err.msg);
    return c;
}

//  The peers: three DEALERs (each says one frame, so the ROUTER knows its
//  identity before the first reply) and an identity with no socket.
static void
s_peers_new (s_run_t *run, const char *inproc)
{
    for (int p = 0; p < S_PEERS; p++) {
        s_peer_t *peer = &run->peer [p];
        char identity [16];
        snprintf (identity, sizeof identity, "peer-%d", p);
        peer->routing = zframe_new (identity, strlen (identity));
        if (p >= S_SOCKETS)
            continue;
        peer->dealer = zsock_new (ZMQ_DEALER);
        assert (peer->dealer);
        zsock_set_identity (peer->dealer, identity);
        zsock_set_linger (peer->dealer, 0);
        zsock_set_rcvtimeo (peer->dealer, 0);
        zsock_set_maxmsgsize (peer->dealer, (int) run->coord->limits.max_frame);
        if (zsock_connect (peer->dealer, "inproc://%s", inproc) != 0)
            s_fail ("peer %d cannot connect to inproc://%s", p, inproc);
        zstr_send (peer->dealer, "hi");
        zmsg_t *hi = zmsg_recv (run->coord->router);
        zmsg_destroy (&hi);
    }
}

static void
s_peers_destroy (s_run_t *run)
{
    for (int p = 0; p < S_PEERS; p++) {
        s_peer_t *peer = &run->peer [p];
        zsock_destroy (&peer->dealer);
        zframe_destroy (&peer->routing);
        s_peer_forget_update (peer);
    }
}

void
fuzz_coordinator_run (const uint8_t *data, size_t size, uint32_t *commits, uint32_t *accepted)
{
    //  libFuzzer's timer (SIGALRM) waits until the input is over, in this
    //  thread and in the actors it starts: a signal cuts short CZMQ's
    //  handshakes (zactor_new ignores the interrupted wait and returns
    //  before the actor has read its arguments), which is not what is
    //  fuzzed here; a slow input is still reported when the signal comes
    sigset_t alarm, mask;
    sigemptyset (&alarm);
    sigaddset (&alarm, SIGALRM);
    pthread_sigmask (SIG_BLOCK, &alarm, &mask);
    s_init ();
    static s_run_t run;
    memset (&run, 0, sizeof run);
    run.in = (s_input_t) { data, size };
    const char *env = getenv ("FG_FUZZ_OWNERSHIP");
    run.ownership = env? atoi (env) != 0: S_OWNERSHIP;
    run.flags = run.ownership? FG_COORD_CHECK_OWNERSHIP: 0;
    char dir [600], inproc [64];
    snprintf (dir, sizeof dir, "%s/exp", s_dir);
    snprintf (inproc, sizeof inproc, "fuzz-coordinator-%d-%d", (int) getpid (), s_serial++);
    s_remove_tree (dir);
    if (mkdir (dir, 0755))
        s_fail ("cannot create %s", dir);
    s_clock = S_CLOCK_START;
    run.coord = s_coordinator_new (s_u8 (&run.in), dir, inproc);
    s_peers_new (&run, inproc);
    s_drain (&run);
    s_check (&run, -1, NULL, 0);
    for (int n = 0; n < S_OPS_MAX && run.in.size; n++)
        s_op (&run, s_u8 (&run.in));
    fg_coord_destroy (&run.coord);
    s_drain_pipe (&run.commits);
    s_peers_destroy (&run);
    s_remove_tree (dir);
    if (commits)
        *commits = run.commits;
    if (accepted)
        *accepted = run.accepted;
    pthread_sigmask (SIG_SETMASK, &mask, NULL);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    fuzz_coordinator_run (data, size, NULL, NULL);
    return 0;
}
