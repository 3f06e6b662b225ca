/*  fg_journal_internal.h — journal record codecs and test hooks (not
    installed). Record layout (docs/journal.md, all little-endian):

        0  u8   kind          fg_jrec_kind_t
        1  u8   version       FG_JREC_VERSION
        2  u16  reserved      0
        4  u32  body length   n
        8  n    body          per kind
      8+n  u32  CRC-32        (zlib) of bytes [0, 8+n)
     12+n  ...  blob          weights, updates and optimizer state only: the body gives
                              its length and CRC-32; nothing else may follow

    One decoder per kind checks the whole value: lengths against the bytes
    there are, every count before it is used, the CRC, the kind, the
    version and each field's range. Decoded views point into the value.  */

#ifndef FG_JOURNAL_INTERNAL_H_INCLUDED
#define FG_JOURNAL_INTERNAL_H_INCLUDED

#include <lmdb.h>
#include "fg_journal.h"
#include "fg_lmdb.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FG_JREC_VERSION     1
#define FG_JREC_HEAD        8           //  kind, version, reserved, length
#define FG_JREC_OVERHEAD    12          //  head + CRC
#define FG_JREC_ID_SIZE     16          //  experiment id bytes
#define FG_JREC_HASH_HEX    64          //  config hash hex digits
#define FG_JREC_CONFIG_MAX  (1u << 20)  //  canonical configuration text
#define FG_JREC_LABEL_MAX   256
#define FG_JREC_ASSIGN_MAX  (1u << 20)  //  assignments in a round
#define FG_JREC_SHARDS_MAX  (1u << 20)  //  included shards in a round

typedef enum {
    FG_JREC_SCHEMA     = 1,
    FG_JREC_CONFIG     = 2,
    FG_JREC_EXPERIMENT = 3,
    FG_JREC_ROUND      = 4,
    FG_JREC_UPDATE     = 5,
    FG_JREC_WEIGHTS    = 6,
    FG_JREC_METRICS    = 7,
    FG_JREC_LOSS       = 8,
    FG_JREC_NODE       = 9,
    FG_JREC_EVENT      = 10,
    FG_JREC_OPTIMIZER  = 11,
    FG_JREC_PRUNED     = 12,
    FG_JREC_KIND_MAX   = 12
} fg_jrec_kind_t;

//  What an OPTIMIZER record holds (its `what` field).
typedef enum {
    FG_JREC_OPT_MOMENTUM = 1,           //  FedAvgM momentum buffer: a full fg_blob
    FG_JREC_OPT_MAX      = 1            //  of the round's weights layout
} fg_jrec_opt_t;

typedef struct {
    uint32_t version;
} fg_jrec_schema_t;

//  meta/pruned: the updates and loss curves of rounds 1..through were
//  deleted after their rounds committed (update retention).
typedef struct {
    uint32_t through;
} fg_jrec_pruned_t;

typedef struct {
    char        hash [FG_JREC_HASH_HEX + 1];
    const char *text;                   //  not NUL-terminated
    uint32_t    length;
} fg_jrec_config_t;

typedef struct {
    uint8_t     id [FG_JREC_ID_SIZE];
    uint64_t    created_ns;
    const char *label;                  //  fedgrid version, not NUL-terminated
    uint32_t    label_length;
} fg_jrec_experiment_t;

typedef struct {
    fg_journal_round_t head;            //  arrays NULL: use the views below
    const uint8_t *assignments;         //  [nassignments] x (shard, node, attempt) u32
    const uint8_t *included;            //  [nincluded] u32
} fg_jrec_round_t;

typedef struct {
    fg_journal_update_t head;
    const uint8_t *blob;                //  [head.blob_size]
} fg_jrec_update_t;

typedef struct {
    uint32_t round;
    uint64_t blob_size;
    uint32_t blob_crc;
    const uint8_t *blob;
} fg_jrec_weights_t;

typedef struct {
    uint32_t round;
    uint32_t what;                      //  fg_jrec_opt_t
    uint64_t blob_size;
    uint32_t blob_crc;
    const uint8_t *blob;
} fg_jrec_optimizer_t;

typedef struct {
    uint32_t round;
    fg_journal_metrics_t m;
} fg_jrec_metrics_t;

typedef struct {
    uint32_t round;
    uint32_t shard;
    uint32_t count;
    const uint8_t *points;              //  [count] f32
} fg_jrec_loss_t;

typedef struct {
    fg_journal_node_t node;
} fg_jrec_node_t;

typedef struct {
    uint64_t seq;
    uint64_t time_ns;
    uint32_t round;
    uint32_t length;
    const char *text;                   //  not NUL-terminated
} fg_jrec_event_t;

//  CRC-32 (zlib polynomial) of size bytes; size may exceed UINT_MAX.
uint32_t
    fg_jrec_crc (const void *data, size_t size);

//  Reads the kind of a value without checking anything else; -1 when too short.
int
    fg_jrec_kind (const void *value, size_t size);

//  Decoders: value is a whole stored value. check_blob also checks the
//  blob CRC (weights, updates, optimizer state). Return 0, FG_EFORMAT (truncated, bad
//  length, wrong kind, bad field), FG_EVERSION (record version) or
//  FG_ECHECKSUM (record or blob CRC).
int fg_jrec_decode_schema     (const void *value, size_t size, fg_jrec_schema_t *out, fg_error_t *err);
int fg_jrec_decode_config     (const void *value, size_t size, fg_jrec_config_t *out, fg_error_t *err);
int fg_jrec_decode_experiment (const void *value, size_t size, fg_jrec_experiment_t *out, fg_error_t *err);
int fg_jrec_decode_round      (const void *value, size_t size, fg_jrec_round_t *out, fg_error_t *err);
int fg_jrec_decode_update     (const void *value, size_t size, bool check_blob, fg_jrec_update_t *out, fg_error_t *err);
int fg_jrec_decode_weights    (const void *value, size_t size, bool check_blob, fg_jrec_weights_t *out, fg_error_t *err);
int fg_jrec_decode_optimizer  (const void *value, size_t size, bool check_blob, fg_jrec_optimizer_t *out, fg_error_t *err);
int fg_jrec_decode_metrics    (const void *value, size_t size, fg_jrec_metrics_t *out, fg_error_t *err);
int fg_jrec_decode_loss       (const void *value, size_t size, fg_jrec_loss_t *out, fg_error_t *err);
int fg_jrec_decode_node       (const void *value, size_t size, fg_jrec_node_t *out, fg_error_t *err);
int fg_jrec_decode_event      (const void *value, size_t size, fg_jrec_event_t *out, fg_error_t *err);
int fg_jrec_decode_pruned     (const void *value, size_t size, fg_jrec_pruned_t *out, fg_error_t *err);

//  Encoders write into buf (capacity cap) and return the bytes written,
//  or 0 when cap is too small; fg_jrec_size_* give the exact size first.
//  Blob records (update, weights, optimizer) encode the record only: the caller
//  appends the blob bytes (whose length and CRC are in the record).
size_t fg_jrec_size_config     (size_t text_length);
size_t fg_jrec_size_experiment (size_t label_length);
size_t fg_jrec_size_round      (size_t nassignments, size_t nincluded);
size_t fg_jrec_size_loss       (size_t count);
size_t fg_jrec_size_node       (size_t identity_length);
size_t fg_jrec_size_event      (size_t text_length);
#define FG_JREC_SIZE_SCHEMA   (FG_JREC_OVERHEAD + 4)
#define FG_JREC_SIZE_UPDATE   (FG_JREC_OVERHEAD + 44)
#define FG_JREC_SIZE_WEIGHTS  (FG_JREC_OVERHEAD + 16)
#define FG_JREC_SIZE_METRICS  (FG_JREC_OVERHEAD + 48)
#define FG_JREC_SIZE_OPTIMIZER (FG_JREC_OVERHEAD + 20)
#define FG_JREC_SIZE_PRUNED   (FG_JREC_OVERHEAD + 4)

size_t fg_jrec_encode_schema     (uint8_t *buf, size_t cap, uint32_t version);
size_t fg_jrec_encode_config     (uint8_t *buf, size_t cap, const char *hash,
                                  const char *text, size_t length);
size_t fg_jrec_encode_experiment (uint8_t *buf, size_t cap, const uint8_t id [FG_JREC_ID_SIZE],
                                  uint64_t created_ns, const char *label, size_t label_length);
size_t fg_jrec_encode_round      (uint8_t *buf, size_t cap, const fg_journal_round_t *r);
size_t fg_jrec_encode_update     (uint8_t *buf, size_t cap, const fg_journal_update_t *u);
size_t fg_jrec_encode_weights    (uint8_t *buf, size_t cap, uint32_t round,
                                  uint64_t blob_size, uint32_t blob_crc);
size_t fg_jrec_encode_optimizer  (uint8_t *buf, size_t cap, uint32_t round, uint32_t what,
                                  uint64_t blob_size, uint32_t blob_crc);
size_t fg_jrec_encode_metrics    (uint8_t *buf, size_t cap, uint32_t round,
                                  const fg_journal_metrics_t *m);
size_t fg_jrec_encode_loss       (uint8_t *buf, size_t cap, uint32_t round, uint32_t shard,
                                  const float *points, size_t count);
size_t fg_jrec_encode_node       (uint8_t *buf, size_t cap, const fg_journal_node_t *n);
size_t fg_jrec_encode_event      (uint8_t *buf, size_t cap, uint64_t seq, uint64_t time_ns,
                                  uint32_t round, const char *text, size_t length);
size_t fg_jrec_encode_pruned     (uint8_t *buf, size_t cap, uint32_t through);

//  ---- test hooks -----------------------------------------------------------

//  Called before every write (put or delete) with a label naming it
//  ("commit_round:weights", "retention:delete"...) and the count of writes
//  in this process so far. Non-zero (an errno value, e.g. EIO) makes the
//  write fail with that error, which aborts the transaction: a crash
//  between two writes. The actor's crash points (FEDGRID_CRASH) hang here.
typedef int (fg_journal_write_hook_fn) (const char *label, uint64_t n, void *arg);
void
    fg_journal_set_write_hook (fg_journal_t *self, fg_journal_write_hook_fn *fn, void *arg);

//  Options for tests: initial map size (0: default) and a pretend count
//  of free disk bytes for the map-growth check (UINT64_MAX: ask statvfs).
typedef struct {
    size_t   mapsize;
    uint64_t free_bytes;
} fg_journal_opts_t;

int
    fg_journal_open_ex (const char *dir, const char *config_canonical,
                        const char *config_hash, bool create,
                        const fg_journal_opts_t *opts,
                        fg_journal_t **out, fg_error_t *err);

//  Current map size in bytes (0 when unknown).
size_t
    fg_journal_mapsize (fg_journal_t *self);

//  Name of a network filesystem type (statfs f_type) the journal refuses,
//  or NULL for a local one (fg_lmdb_remote_fs_name).
const char *
    fg_journal_remote_fs_name (unsigned long f_type);

//  ---- the journal's own internals, shared by its files -------------------
//
//  fg_journal.c         opening and resuming, the write path (every put and
//                       delete, the test hook, events inside a transaction),
//                       the one record reader
//  fg_journal_rounds.c  rounds: open, commit (weights, momentum, metrics,
//                       retention), read back
//  fg_journal_tables.c  meta, updates, weights, optimizer state, nodes, events
//  fg_journal_verify.c  the invariants (verify, and the check at resume)
//  fg_journal_dump.c    the readable dump
//  fg_journal_mark.c    the mark: the last committed round, outside the file
//  fg_journal_prune.c   update retention (meta/pruned), the space taken
//  fg_journal_rec.c     the record codecs above

#define FG_JDB_PATH_MAX 4096

//  The databases. FG_JDB_OPTIMIZER came last (no schema change): a journal
//  written before it has no such database until a writer opens it;
//  read-only handles then see it as empty (have_optimizer false).
enum { FG_JDB_META, FG_JDB_ROUNDS, FG_JDB_UPDATES, FG_JDB_WEIGHTS, FG_JDB_METRICS,
       FG_JDB_NODES, FG_JDB_EVENTS, FG_JDB_OPTIMIZER, FG_JDB_COUNT };
extern const char *const fg_jdb_names [FG_JDB_COUNT];

struct _fg_journal_t {
    fg_lmdb_t *lmdb;
    MDB_dbi  db [FG_JDB_COUNT];
    bool     readonly;
    bool     have_optimizer;            //  the optimizer database exists
    bool     momentum;                  //  writer: the configuration has server momentum
    double   beta;                      //  writer: its aggregation.server_momentum
    char     dir [FG_JDB_PATH_MAX];
    char     path [FG_JDB_PATH_MAX];
    bool     have_last;                 //  writer: a committed round exists
    uint32_t last;                      //  writer: last committed round
    uint64_t keep_last;
    uint64_t keep_every;
    uint64_t keep_updates;              //  update retention: the last U committed rounds
    uint32_t pruned;                    //  meta/pruned: updates of rounds 1..pruned deleted
    fg_journal_write_hook_fn *hook;
    void    *hook_arg;
    uint64_t writes;
    //  the SHA-256 of the weights blob the last mark written by this
    //  handle names (fg_journal_weights_sha256): the coordinator serves
    //  that blob next, and hashing 55 MB twice cost 0.3 s a round
    bool     have_mark_digest;
    uint32_t mark_round;
    uint8_t  mark_digest [FG_SHA256_SIZE];
};

//  Keys are big-endian, so LMDB's byte order is number order.
static inline void
fg_jdb_put_be32 (uint8_t *p, uint32_t v)
{
    p [0] = (uint8_t) (v >> 24); p [1] = (uint8_t) (v >> 16);
    p [2] = (uint8_t) (v >> 8); p [3] = (uint8_t) v;
}

static inline void
fg_jdb_put_be64 (uint8_t *p, uint64_t v)
{
    fg_jdb_put_be32 (p, (uint32_t) (v >> 32));
    fg_jdb_put_be32 (p + 4, (uint32_t) v);
}

static inline uint32_t
fg_jdb_get_be32 (const void *key)
{
    const uint8_t *p = (const uint8_t *) key;
    return (uint32_t) p [0] << 24 | (uint32_t) p [1] << 16 | (uint32_t) p [2] << 8 | p [3];
}

static inline uint64_t
fg_jdb_get_be64 (const void *key)
{
    return (uint64_t) fg_jdb_get_be32 (key) << 32 | fg_jdb_get_be32 ((const uint8_t *) key + 4);
}

//  The name of a key in messages and reports: "rounds/7", "updates/7/3",
//  "meta/config", "events/12"; a key of the wrong shape in hex.
void
    fg_jdb_key_name (int db, const void *key, size_t size, char *out, size_t cap);

//  Whether db exists in this environment (see FG_JDB_OPTIMIZER).
bool
    fg_jdb_have (const fg_journal_t *self, int db);

//  An LMDB/errno failure: "journal PATH: what: why" (fg_lmdb_fail).
int
    fg_jdb_fail (fg_journal_t *self, int rc, fg_error_t *err, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

//  A read transaction that takes up a map another process grew.
int
    fg_jdb_read_begin (fg_journal_t *self, MDB_txn **txn, fg_error_t *err);

//  The one place every write goes through: the test hook runs first (its
//  label names the write), then the put or delete. With MDB_RESERVE,
//  *reserved receives the space to fill; with MDB_NOOVERWRITE an existing
//  key gives FG_EEXIST (no message) and *reserved the stored value.
int
    fg_jdb_put (fg_journal_t *self, MDB_txn *txn, int db, const char *label,
                const void *key, size_t ksize, const void *value, size_t vsize,
                unsigned flags, MDB_val *reserved, fg_error_t *err);
int
    fg_jdb_del (fg_journal_t *self, MDB_txn *txn, int db, const char *label,
                const void *key, size_t ksize, fg_error_t *err);

//  Gets a value; FG_ENOENT (no message) when absent.
int
    fg_jdb_get (fg_journal_t *self, MDB_txn *txn, int db, const void *key, size_t ksize,
                MDB_val *value, fg_error_t *err);

//  The body of one write transaction (repeatable: it may run again after
//  the map grew).
typedef int (fg_jdb_txn_fn) (fg_journal_t *self, MDB_txn *txn, void *ctx, fg_error_t *err);

//  Runs fn in one write transaction (fg_lmdb_write); a read-only handle
//  gives FG_EINVAL.
int
    fg_jdb_write (fg_journal_t *self, const char *what, fg_jdb_txn_fn *fn, void *ctx,
                  fg_error_t *err);

//  Refuses writes on a read-only handle before anything else is checked
//  (in a function with an `err` argument).
#define FG_JDB_WRITABLE(self, what) do { \
    if ((self)->readonly) \
        return fg_error_set (err, FG_EINVAL, "journal %s: %s: the journal is open read-only", \
                             (self)->path, what); \
} while (0)

//  Appends an event inside txn; *seq_out (if given) is its number.
int
    fg_jdb_event_put (fg_journal_t *self, MDB_txn *txn, const char *label, uint32_t round,
                      const char *text, size_t length, uint64_t *seq_out, fg_error_t *err);
int
    fg_jdb_eventf (fg_journal_t *self, MDB_txn *txn, const char *label, uint32_t round,
                   fg_error_t *err, const char *fmt, ...)
    __attribute__ ((format (printf, 6, 7)));

//  What one commit's update retention did (fg_journal_prune.c).
typedef struct {
    uint32_t from;                      //  first round pruned now (0: none)
    uint32_t through;                   //  meta/pruned after the commit
    size_t   updates;                   //  updates deleted now
    uint64_t bytes;                     //  their bytes (records + blobs)
} fg_jdb_pruned_t;

//  Update retention inside the commit transaction of `round` (after its
//  included-updates check): deletes the updates and loss curves of the
//  rounds self->pruned + 1 .. round - keep_updates (at most 64 rounds)
//  and writes meta/pruned. The caller sets self->pruned = out->through
//  once the transaction is durable.
int
    fg_jdb_prune (fg_journal_t *self, MDB_txn *txn, uint32_t round, fg_jdb_pruned_t *out,
                  fg_error_t *err);

//  meta/pruned in txn (*through = 0 when absent).
int
    fg_jdb_pruned_read (fg_journal_t *self, MDB_txn *txn, uint32_t *through, fg_error_t *err);

//  Any decoded record (the view fg_jdb_read fills: pointers into the
//  transaction's pages, valid while it lives).
typedef union {
    fg_jrec_schema_t     schema;
    fg_jrec_config_t     config;
    fg_jrec_experiment_t experiment;
    fg_jrec_round_t      round;
    fg_jrec_update_t     update;
    fg_jrec_weights_t    weights;
    fg_jrec_optimizer_t  optimizer;
    fg_jrec_metrics_t    metrics;
    fg_jrec_loss_t       loss;
    fg_jrec_node_t       node;
    fg_jrec_event_t      event;
    fg_jrec_pruned_t     pruned;
} fg_jrec_any_t;

//  Decodes a value as a record of kind (check_blob: the blob CRC too, for
//  the blob kinds). Returns as the fg_jrec_decode_* functions.
int
    fg_jrec_decode_kind (int kind, bool check_blob, const void *value, size_t size,
                         fg_jrec_any_t *out, fg_error_t *err);

//  fg_jdb_read's flags.
#define FG_JDB_BLOB  1                  //  check the blob's CRC
#define FG_JDB_KEY   2                  //  the record's round/shard/node must be its key's

//  Decodes the value v of key k in db as a record of kind: a failure is
//  prefixed "journal PATH: KEY"; with FG_JDB_KEY a record of another key
//  gives FG_EFORMAT "journal PATH: KEY: record is of round R".
//  Returns 0, FG_EFORMAT, FG_EVERSION, FG_ECHECKSUM.
int
    fg_jdb_decode (fg_journal_t *self, int db, const MDB_val *k, const MDB_val *v, int kind,
                   unsigned flags, fg_jrec_any_t *out, fg_error_t *err);

//  Gets db/key in txn and decodes it (fg_jdb_decode). FG_ENOENT (no
//  message) when absent.
int
    fg_jdb_read (fg_journal_t *self, MDB_txn *txn, int db, const void *key, size_t ksize,
                 int kind, unsigned flags, fg_jrec_any_t *out, fg_error_t *err);

//  As fg_jdb_read in a read transaction of its own, left open in *txn on
//  success (the caller copies from *out, then aborts it); on failure no
//  transaction is left.
int
    fg_jdb_lookup (fg_journal_t *self, int db, const void *key, size_t ksize, int kind,
                   unsigned flags, MDB_txn **txn, fg_jrec_any_t *out, fg_error_t *err);

//  meta/NAME decoded as kind; a missing one is FG_EFORMAT (damaged).
int
    fg_jdb_meta_read (fg_journal_t *self, MDB_txn *txn, const char *name, int kind,
                      fg_jrec_any_t *out, fg_error_t *err);

//  rounds/round decoded and of that round; FG_ENOENT (no message) if absent.
int
    fg_jdb_round_read (fg_journal_t *self, MDB_txn *txn, uint32_t round, fg_jrec_round_t *r,
                       fg_error_t *err);

//  The last committed round, read from the rounds database.
int
    fg_jdb_scan_last (fg_journal_t *self, MDB_txn *txn, bool *have, uint32_t *last,
                      fg_error_t *err);

//  Walks db calling fn (key, value) for each record; an absent database is
//  an empty one. Returns 0 or an FG code when the walk itself fails.
typedef void (fg_jdb_walk_fn) (fg_journal_t *self, MDB_txn *txn, const MDB_val *k,
                               const MDB_val *v, void *ctx);
int
    fg_jdb_walk (fg_journal_t *self, MDB_txn *txn, int db, fg_jdb_walk_fn *fn, void *ctx,
                 fg_error_t *err);

//  Read-only open; check_schema false lets verify look at a damaged meta.
int
    fg_jdb_open_readonly (const char *dir, bool check_schema, fg_journal_t **out,
                          fg_error_t *err);

//  The problems a check found: the first one's code, key and message, and
//  how many (report, if set, hears each of the first FG_JDB_REPORT_MAX).
#define FG_JDB_REPORT_MAX 1000
typedef struct {
    fg_journal_report_fn *fn;
    void    *arg;
    size_t   count;
    int      first;
    char     first_key [64];
    char     first_msg [FG_ERROR_MSG_MAX];
} fg_jdb_report_t;

//  Which blobs a check reads: all (verify) or those a resume needs (the
//  newest weights and momentum buffer, the open round's updates).
typedef enum { FG_JDB_BLOBS_ALL, FG_JDB_BLOBS_RESUME } fg_jdb_blobs_t;

//  Checks every record and invariant (fg_journal_check) into rep; on a
//  readable configuration sets self->momentum and self->beta.
//  Returns 0 (problems or not) or the FG code of a failure to read.
int
    fg_jdb_check (fg_journal_t *self, fg_jdb_blobs_t blobs, fg_jdb_report_t *rep,
                  fg_error_t *err);

//  ---- the mark (fg_journal_mark.c, docs/journal.md) ----------------------------

//  DIR/journal.mark as read, or the journal's side of it.
typedef struct {
    char     experiment [2 * FG_JREC_ID_SIZE + 1];  //  hex
    uint32_t round;                     //  last committed round
    uint64_t txnid;                     //  LMDB's transaction id after that commit
                                        //  (diagnosis only: mdb_copy -c restarts them)
    uint64_t weights_size;              //  that round's weights checkpoint:
    uint32_t weights_crc;               //  bytes, CRC-32 and SHA-256 of the blob
    char     weights_sha256 [FG_JREC_HASH_HEX + 1];
} fg_jdb_mark_t;

//  Reads DIR/journal.mark. Call it before the read transaction that it is
//  compared with (a writer beside us only moves the journal ahead of it).
//  Returns 0, FG_ENOENT (none; no message), FG_EFORMAT or FG_ECHECKSUM
//  (damaged), FG_EVERSION, FG_EIO.
int
    fg_jdb_mark_read (const char *dir, fg_jdb_mark_t *mark, fg_error_t *err);

//  Compares a mark with the journal in a read transaction of its own:
//  same experiment; last committed round not behind the mark's; for the
//  mark's round, the same weights size and CRC (with blob, the
//  checkpoint's SHA-256 too). A journal ahead of its mark is sound. Returns 0, FG_EMISMATCH (the message names both rounds and what
//  to do) or the code of a failure to read.
int
    fg_jdb_mark_check (fg_journal_t *self, const fg_jdb_mark_t *mark, bool blob,
                       fg_error_t *err);

//  Writes the mark of round (the last committed, whose checkpoint is
//  blob) atomically. Writer only. Returns 0, FG_EFULL, FG_EIO (the
//  message names the file and the reason), or a code of LMDB's.
int
    fg_jdb_mark_write (fg_journal_t *self, uint32_t round, const void *blob, size_t size,
                       fg_error_t *err);

//  The writer's open, after the resume check: mark_rc and *mark are
//  fg_jdb_mark_read's (mark_err its message); a damaged mark or a journal
//  behind it is refused, a missing or lagging mark (re)written.
int
    fg_jdb_mark_open (fg_journal_t *self, int mark_rc, const fg_jdb_mark_t *mark,
                      const fg_error_t *mark_err, fg_error_t *err);

//  After commit_round's transaction: the crash point journal.mark.before,
//  then the mark. Returns as fg_jdb_mark_write.
int
    fg_jdb_mark_after_commit (fg_journal_t *self, uint32_t round, const void *blob,
                              size_t size, fg_error_t *err);

#ifdef __cplusplus
}
#endif

#endif
