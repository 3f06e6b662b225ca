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

#include "fg_journal.h"

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
    FG_JREC_KIND_MAX   = 11
} fg_jrec_kind_t;

//  What an OPTIMIZER record holds (its `what` field).
typedef enum {
    FG_JREC_OPT_MOMENTUM = 1,           //  FedAvgM momentum buffer: a full fg_blob
    FG_JREC_OPT_MAX      = 1            //  of the round's weights layout
} fg_jrec_opt_t;

typedef struct {
    uint32_t version;
} fg_jrec_schema_t;

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
//  or NULL for a local one.
const char *
    fg_journal_remote_fs_name (unsigned long f_type);

#ifdef __cplusplus
}
#endif

#endif
