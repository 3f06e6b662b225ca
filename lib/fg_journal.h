/*  fg_journal.h — the coordinator's journal: one LMDB environment per
    experiment directory (DIR/journal.lmdb, lock file DIR/journal.lmdb-lock).

    Everything the coordinator knows that cannot be recomputed lives here,
    in eight named databases (docs/journal.md gives every key and value
    layout and the crash-safety argument):
        meta      schema version, canonical configuration text + hash,
                  experiment id
        rounds    per round: state (open, committed), assignments,
                  included shard set, weights size and CRC
        updates   per (round, shard): the accepted update and its blob
        weights   per round: the global weights checkpoint (retention:
                  the last K committed rounds and every N-th round)
        optimizer per round: the server optimizer state (FedAvgM momentum
                  buffer) beside each weights checkpoint, same retention;
                  only when aggregation.server_momentum > 0
        metrics   per round: global metrics; per (round, shard): the
                  local loss curve
        nodes     per node number: identity, speed, trust, counters
        events    append-only audit log, key = sequence number from 1

    Every value is a small self-describing record (kind, version, length,
    fields in little-endian, CRC-32); weights, updates and optimizer state
    carry their blob after the record, with its own length and CRC-32.
    Every state change is one write transaction, so a crash at any instant
    leaves the last committed state: a round commits its weights, its
    momentum buffer, state, metrics and the retention deletions together.

    One writer per journal: fg_journal_open takes an exclusive lock on the
    data file; read-only handles (fedctl status, journal dump/verify) may
    run beside it. Never open the same journal twice in one process, and
    never carry a handle across fork () (LMDB's rules). A handle belongs to
    one thread at a time.

    Blobs are opaque to the journal when it stores and returns them (the
    coordinator stores fg_blob bytes); only verify decodes a momentum
    buffer and its weights to check that their layouts agree.            */

#ifndef FG_JOURNAL_H_INCLUDED
#define FG_JOURNAL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "fg_error.h"
#include "fg_sha256.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FG_JOURNAL_FILE           "journal.lmdb"
#define FG_JOURNAL_MARK_FILE      "journal.mark"    //  last committed round, beside it
#define FG_JOURNAL_SCHEMA_VERSION 1
#define FG_JOURNAL_IDENTITY_MAX   128       //  node identity incl. NUL
#define FG_JOURNAL_EVENT_MAX      4096      //  event text bytes
#define FG_JOURNAL_LOSS_MAX       65536     //  points in one loss curve
#define FG_JOURNAL_LATEST         UINT32_MAX//  "the newest" for a round arg
#define FG_JOURNAL_KEEP_LAST      3         //  default retention
#define FG_JOURNAL_KEEP_EVERY     10

typedef struct _fg_journal_t fg_journal_t;

//  Round states (the value of fg_journal_round_t.state):
//    OPEN       round_open was called: assignments recorded, updates may
//               be stored; no weights yet. At most one, the round after
//               the last committed one.
//    COMMITTED  commit_round wrote its weights, metrics, included set and
//               state in one transaction. Never changes afterwards.
typedef enum {
    FG_ROUND_OPEN      = 1,
    FG_ROUND_COMMITTED = 2
} fg_round_state_t;

typedef struct {
    uint32_t shard;
    uint32_t node;                      //  node number (nodes database)
    uint32_t attempt;                   //  1 for the first issue of a unit
} fg_journal_assignment_t;

//  A round as stored. Caller owns results of fg_journal_round_get and
//  frees them with fg_journal_round_destroy (one allocation).
typedef struct {
    uint32_t round;                     //  from 1
    uint32_t state;                     //  fg_round_state_t
    uint64_t opened_ns;                 //  wall clock (audit only)
    uint64_t committed_ns;              //  0 while open
    uint64_t weights_size;              //  bytes of the committed blob
    uint32_t weights_crc;               //  CRC-32 of the committed blob
    uint32_t nassignments;
    uint32_t nincluded;
    fg_journal_assignment_t *assignments;   //  [nassignments]
    uint32_t *included;                 //  [nincluded], strictly increasing
} fg_journal_round_t;

//  An update's fixed fields. For fg_journal_put_update the caller fills
//  round, shard, attempt, node, samples (blob_size/blob_crc are computed).
typedef struct {
    uint32_t round;
    uint32_t shard;
    uint32_t attempt;
    uint32_t node;
    uint64_t samples;                   //  training samples behind it
    uint64_t received_ns;               //  wall clock (audit only)
    uint64_t blob_size;
    uint32_t blob_crc;
} fg_journal_update_t;

//  The SHA-256 of the weights blob of `round` as this handle's last
//  commit (or mark catch-up at open) hashed it for DIR/journal.mark, so a
//  caller that serves the blob next need not hash its megabytes again.
//  Returns 0, or FG_ENOENT when this handle wrote no mark for `round`
//  (the caller hashes the blob itself).
int
    fg_journal_weights_sha256 (const fg_journal_t *self, uint32_t round,
                               uint8_t digest [FG_SHA256_SIZE]);

//  Global metrics of a committed round. NaN means "not measured".
typedef struct {
    uint32_t updates;                   //  updates aggregated
    uint64_t samples;                   //  their training samples
    double   train_loss;                //  sample-weighted mean local loss
    double   test_loss;
    double   test_accuracy;             //  0..1
    uint64_t duration_ms;               //  round wall time (audit only)
} fg_journal_metrics_t;

typedef struct {
    uint32_t node;                      //  node number, the key
    char     identity [FG_JOURNAL_IDENTITY_MAX];    //  name or public key, NUL-terminated
    double   speed;                     //  measured samples per second
    double   trust;                     //  0..1
    uint64_t accepted;                  //  results accepted
    uint64_t rejected;                  //  results rejected
    uint64_t first_seen_ns;
    uint64_t last_seen_ns;
    //  what its word is worth (records before these fields read as 0)
    uint32_t strikes;                   //  results shown wrong, units not its own
    bool     quarantined;               //  over grid.max_strikes: HELLO refused
    uint64_t agreed;                    //  results confirmed by another node's
} fg_journal_node_t;

typedef struct {
    uint64_t seq;                       //  from 1, no gaps
    uint64_t time_ns;
    uint32_t round;                     //  0: not about a round
    uint32_t length;                    //  bytes of text
    const char *text;                   //  NUL-terminated, valid during the callback
} fg_journal_event_t;

//  ---- opening ------------------------------------------------------------

//  Opens the journal of experiment directory dir for writing (the
//  coordinator). config_canonical is the configuration's canonical text
//  and config_hash its hash (64 lower-case hex digits, fg_config_hash).
//  With create, a missing or never-initialised journal is created;
//  without, it must exist. An existing journal must have this fedgrid's
//  schema version and the same configuration hash; its small records and
//  invariants are checked in full and the blobs a resume needs (newest
//  weights and momentum buffer, updates of the open round) by CRC: a
//  damaged journal is refused, never guessed around. DIR/journal.mark
//  (the last committed round, written after each commit) must not be
//  ahead of the journal: a journal that lost committed rounds (LMDB fell
//  back to its older meta page, an older copy) is refused, naming both
//  rounds; a missing or lagging mark is written.
//  Caller owns *out: fg_journal_close.
//  Returns 0, FG_EINVAL (arguments), FG_ENOENT (no journal and !create),
//  FG_EMISMATCH (another configuration; behind its mark, or of another
//  experiment than it), FG_EVERSION (another schema),
//  FG_EFORMAT or FG_ECHECKSUM (damaged), FG_ESTATE (locked by another
//  writer), FG_EUNSUPPORTED (network filesystem), FG_EFULL, FG_EIO,
//  FG_ENOMEM.
int
    fg_journal_open (const char *dir, const char *config_canonical,
                     const char *config_hash, bool create,
                     fg_journal_t **out, fg_error_t *err);

//  Opens an existing journal read-only (status, dump), beside a running
//  writer. Checks the schema version, and the journal against its mark
//  as fg_journal_open does (never writing it). Caller owns *out.
//  Returns 0, FG_EINVAL, FG_ENOENT, FG_EVERSION, FG_EFORMAT,
//  FG_ECHECKSUM, FG_EMISMATCH (behind its mark), FG_EUNSUPPORTED, FG_EIO,
//  FG_ENOMEM.
int
    fg_journal_open_readonly (const char *dir, fg_journal_t **out, fg_error_t *err);

//  True when dir holds a journal file (initialised or not).
bool
    fg_journal_exists (const char *dir);

//  Closes the journal; NULL-safe, nulls *self_p.
void
    fg_journal_close (fg_journal_t **self_p);

//  Retention of weights checkpoints, applied by every commit_round: keep
//  the last keep_last committed rounds (at least 1: the newest is never
//  deleted) and every round that is a multiple of keep_every (0: none).
//  Defaults FG_JOURNAL_KEEP_LAST, FG_JOURNAL_KEEP_EVERY.
//  Returns 0 or FG_ERANGE (negative values).
int
    fg_journal_set_retention (fg_journal_t *self, int64_t keep_last, int64_t keep_every,
                              fg_error_t *err);

//  Update retention, applied by every commit_round in its transaction:
//  the updates (blobs and loss curves) of committed rounds older than the
//  last keep_updates committed ones are deleted (0: those of the round
//  just committed too); the open round's are never touched. At most 64
//  rounds are pruned per commit (a lowered value catches up over the next
//  commits). meta/pruned records the last pruned round, which verify
//  reports as pruned, not missing. Default (until called): nothing is
//  pruned. The coordinator sets journal.keep_updates.
//  Returns 0 or FG_ERANGE (negative).
int
    fg_journal_set_update_retention (fg_journal_t *self, int64_t keep_updates,
                                     fg_error_t *err);

//  The last round whose updates were pruned (*through = 0: none).
//  Returns 0, FG_EFORMAT, FG_ECHECKSUM (a damaged meta/pruned), FG_EIO.
int
    fg_journal_pruned (fg_journal_t *self, uint32_t *through, fg_error_t *err);

//  The space the journal takes: the data file's bytes, the pages up to
//  the last one in use (LMDB never shrinks the file) and, of those, the
//  pages on LMDB's free list (freed by deletions, reused by later writes
//  before the file grows).
typedef struct {
    uint64_t file_bytes;
    uint64_t page_size;
    uint64_t pages;                     //  last page in use + 1
    uint64_t free_pages;                //  reusable pages among them
} fg_journal_space_t;

//  Returns 0, FG_EIO.
int
    fg_journal_space (fg_journal_t *self, fg_journal_space_t *out, fg_error_t *err);

//  ---- meta ---------------------------------------------------------------

//  The stored configuration hash (65 bytes with NUL), experiment id (33
//  bytes: 32 hex digits + NUL) and creation time; any pointer may be NULL.
//  Returns 0, FG_EFORMAT, FG_ECHECKSUM, FG_EIO.
int
    fg_journal_meta (fg_journal_t *self, char *config_hash, char *experiment_id,
                     uint64_t *created_ns, fg_error_t *err);

//  The stored canonical configuration text. Caller owns *text (free ()).
//  Returns 0, FG_EFORMAT, FG_ECHECKSUM, FG_EIO, FG_ENOMEM.
int
    fg_journal_config_text (fg_journal_t *self, char **text, fg_error_t *err);

//  ---- rounds -------------------------------------------------------------

//  The last committed round in *round. Returns 0, or FG_ENOENT when no
//  round has been committed yet (*round = 0), FG_EIO.
int
    fg_journal_last_round (fg_journal_t *self, uint32_t *round, fg_error_t *err);

//  Records round as OPEN with its assignments (may be called again for
//  the open round to replace them: re-issues, backup copies). round must
//  be the last committed round + 1. Writer only.
//  Returns 0, FG_EINVAL (read-only handle, count), FG_ESTATE (not the next
//  round), FG_EFULL, FG_EIO, FG_ENOMEM.
int
    fg_journal_round_open (fg_journal_t *self, uint32_t round,
                           const fg_journal_assignment_t *assignments, size_t nassignments,
                           fg_error_t *err);

//  The stored round. Caller owns *out (fg_journal_round_destroy).
//  Returns 0, FG_ENOENT, FG_EFORMAT, FG_ECHECKSUM, FG_EIO, FG_ENOMEM.
int
    fg_journal_round_get (fg_journal_t *self, uint32_t round,
                          fg_journal_round_t **out, fg_error_t *err);

//  NULL-safe; nulls *self_p.
void
    fg_journal_round_destroy (fg_journal_round_t **self_p);

//  Commits round in ONE write transaction: the weights blob, the round's
//  state (COMMITTED with the final assignments and the included shard
//  set, strictly increasing), its metrics, the retention deletions and a
//  "round committed" event. round must be the last committed + 1 (open or
//  not yet opened); every included shard must have a stored update.
//  On any failure of the transaction nothing of it is stored. After it,
//  DIR/journal.mark records the round (docs/journal.md); when that write
//  fails the round stays committed, the error says so and names the file
//  and the reason (a resume writes the mark).
//  Returns 0, FG_EINVAL, FG_ESTATE (wrong round, missing update),
//  FG_EFULL (disk full: the previous state is intact), FG_EIO, FG_ENOMEM.
int
    fg_journal_commit_round (fg_journal_t *self, uint32_t round,
                             const void *blob, size_t size,
                             const fg_journal_metrics_t *metrics,
                             const uint32_t *included, size_t nincluded,
                             const fg_journal_assignment_t *assignments, size_t nassignments,
                             fg_error_t *err);

//  As fg_journal_commit_round, and stores the server optimizer state of
//  the round (FedAvgM: the momentum buffer after this round, an fg_blob of
//  the weights' layout) in the same transaction, beside the weights
//  checkpoint and under its retention. optimizer must be given (size > 0)
//  exactly when the journal's configuration has aggregation.server_momentum
//  > 0, and NULL otherwise (fg_journal_commit_round passes NULL).
//  Returns as fg_journal_commit_round; FG_EINVAL also for an optimizer
//  state given or missing against the configuration.
int
    fg_journal_commit_round_with_optimizer (fg_journal_t *self, uint32_t round,
                                            const void *blob, size_t size,
                                            const void *optimizer, size_t optimizer_size,
                                            const fg_journal_metrics_t *metrics,
                                            const uint32_t *included, size_t nincluded,
                                            const fg_journal_assignment_t *assignments,
                                            size_t nassignments, fg_error_t *err);

//  The SHA-256 of the weights blob of `round` as this handle's last
//  commit (or mark catch-up at open) hashed it for DIR/journal.mark, so a
//  caller that serves the blob next need not hash its megabytes again.
//  Returns 0, or FG_ENOENT when this handle wrote no mark for `round`
//  (the caller hashes the blob itself).
int
    fg_journal_weights_sha256 (const fg_journal_t *self, uint32_t round,
                               uint8_t digest [FG_SHA256_SIZE]);

//  Global metrics of a committed round.
//  Returns 0, FG_ENOENT, FG_EFORMAT, FG_ECHECKSUM, FG_EIO.
int
    fg_journal_metrics_get (fg_journal_t *self, uint32_t round,
                            fg_journal_metrics_t *out, fg_error_t *err);

//  ---- updates ------------------------------------------------------------

//  Stores the update of (u->round, u->shard) with its local loss curve
//  (nloss floats, may be 0) and blob, in one transaction. The round must
//  be OPEN. Idempotent: when the key is already stored with the same
//  samples, loss curve and blob bytes, returns 0 and sets *duplicate (if
//  given); different bytes give FG_EMISMATCH (a faulty host: the message
//  names both nodes). Writer only.
//  Returns 0, FG_EINVAL, FG_ERANGE (loss curve too long), FG_ESTATE
//  (round not open), FG_EMISMATCH, FG_EFULL, FG_EIO, FG_ENOMEM.
int
    fg_journal_put_update (fg_journal_t *self, const fg_journal_update_t *u,
                           const float *loss, size_t nloss,
                           const void *blob, size_t size, bool *duplicate,
                           fg_error_t *err);

//  Reads the update of (round, shard); its blob's CRC is checked. Any
//  output pointer may be NULL. Caller owns *loss and *blob (free ()).
//  Returns 0, FG_ENOENT, FG_EFORMAT, FG_ECHECKSUM, FG_EIO, FG_ENOMEM.
int
    fg_journal_get_update (fg_journal_t *self, uint32_t round, uint32_t shard,
                           fg_journal_update_t *u, float **loss, size_t *nloss,
                           void **blob, size_t *size, fg_error_t *err);

//  Shards with a stored update in round, increasing. Caller owns *shards
//  (free (); NULL when none). Returns 0, FG_EFORMAT, FG_EIO, FG_ENOMEM.
int
    fg_journal_update_shards (fg_journal_t *self, uint32_t round,
                              uint32_t **shards, size_t *count, fg_error_t *err);

//  ---- weights ------------------------------------------------------------

//  Reads a weights checkpoint; its CRC is checked. round FG_JOURNAL_LATEST
//  gives the newest; with or_earlier, the newest retained checkpoint at or
//  before round. *found (if given) is the round read. Caller owns *blob.
//  Returns 0, FG_ENOENT (none retained there), FG_EFORMAT, FG_ECHECKSUM,
//  FG_EIO, FG_ENOMEM.
int
    fg_journal_get_weights (fg_journal_t *self, uint32_t round, bool or_earlier,
                            uint32_t *found, void **blob, size_t *size, fg_error_t *err);

//  Rounds with a retained checkpoint, increasing. Caller owns *rounds.
//  Returns 0, FG_EFORMAT, FG_EIO, FG_ENOMEM.
int
    fg_journal_weights_rounds (fg_journal_t *self, uint32_t **rounds, size_t *count,
                               fg_error_t *err);

//  ---- server optimizer state ------------------------------------------------

//  Reads the optimizer state (momentum buffer blob) stored with round's
//  weights checkpoint; its CRC is checked. Caller owns *blob (free ()).
//  Returns 0, FG_ENOENT (none: no momentum, not committed or not
//  retained, or a journal written before it was stored), FG_EFORMAT,
//  FG_ECHECKSUM, FG_EIO, FG_ENOMEM.
int
    fg_journal_get_optimizer (fg_journal_t *self, uint32_t round, void **blob, size_t *size,
                              fg_error_t *err);

//  Rounds with a stored optimizer state, increasing. Caller owns *rounds.
//  Returns 0, FG_EFORMAT, FG_EIO, FG_ENOMEM.
int
    fg_journal_optimizer_rounds (fg_journal_t *self, uint32_t **rounds, size_t *count,
                                 fg_error_t *err);

//  ---- nodes --------------------------------------------------------------

//  Inserts or replaces node->node's record. identity must be non-empty.
//  Returns 0, FG_EINVAL, FG_EFULL, FG_EIO.
int
    fg_journal_node_put (fg_journal_t *self, const fg_journal_node_t *node, fg_error_t *err);

//  Returns 0, FG_ENOENT, FG_EFORMAT, FG_ECHECKSUM, FG_EIO.
int
    fg_journal_node_get (fg_journal_t *self, uint32_t node, fg_journal_node_t *out,
                         fg_error_t *err);

typedef int (fg_journal_node_fn) (const fg_journal_node_t *node, void *arg);

//  Calls fn for every node in number order; a non-zero return stops the
//  walk and is returned. Returns 0, fn's code, FG_EFORMAT, FG_ECHECKSUM, FG_EIO.
int
    fg_journal_nodes_foreach (fg_journal_t *self, fg_journal_node_fn *fn, void *arg,
                              fg_error_t *err);

//  ---- events -------------------------------------------------------------

//  Appends an event (round 0: not about a round); text is up to
//  FG_JOURNAL_EVENT_MAX bytes without NUL bytes. *seq (if given) is its
//  sequence number. Returns 0, FG_EINVAL, FG_ERANGE, FG_EFULL, FG_EIO.
int
    fg_journal_event_append (fg_journal_t *self, uint32_t round, const char *text,
                             uint64_t *seq, fg_error_t *err);

typedef int (fg_journal_event_fn) (const fg_journal_event_t *event, void *arg);

//  Calls fn for every event with seq >= from in order; non-zero stops.
//  Returns 0, fn's code, FG_EFORMAT, FG_ECHECKSUM, FG_EIO.
int
    fg_journal_events_foreach (fg_journal_t *self, uint64_t from,
                               fg_journal_event_fn *fn, void *arg, fg_error_t *err);

//  ---- verify and dump ----------------------------------------------------

//  One problem found by verify: key names the record ("rounds/7",
//  "updates/7/3", "meta/config"), code is FG_EFORMAT, FG_ECHECKSUM,
//  FG_EVERSION or FG_ESTATE (a broken invariant), message says what.
typedef void (fg_journal_report_fn) (const char *key, int code, const char *message,
                                     void *arg);

//  Checks every record (CRC, layout, key agrees with content), every blob
//  CRC and every invariant (docs/journal.md): rounds 1..n without gaps,
//  at most one open round and it follows the last committed one, every
//  committed round has its metrics and an update for every included
//  shard, weights only for committed rounds and always for the newest,
//  a momentum buffer beside every weights checkpoint when the configuration
//  has server momentum and none otherwise, of the weights' layout (both
//  blobs decoded), loss curves beside their updates, events numbered 1..n.
//  fg_journal_verify also compares the journal with DIR/journal.mark (key
//  "journal.mark": a journal behind it lost committed rounds; a damaged
//  mark), with the newest checkpoint's SHA-256; no mark is no problem.
//  report (may be NULL) is called for each problem; *problems (if given)
//  counts them. Returns 0 when the journal is sound, the code of the first
//  problem when not, or the code of a failure to read it at all.
int
    fg_journal_verify (const char *dir, fg_journal_report_fn *report, void *arg,
                       size_t *problems, fg_error_t *err);

//  As fg_journal_verify on an open handle.
int
    fg_journal_check (fg_journal_t *self, fg_journal_report_fn *report, void *arg,
                      size_t *problems, fg_error_t *err);

//  Prints every database readably to out (blobs as size and CRC; a
//  damaged record as "DAMAGED: why"). Returns 0, FG_EIO.
int
    fg_journal_dump (fg_journal_t *self, FILE *out, fg_error_t *err);

#ifdef __cplusplus
}
#endif

#endif
