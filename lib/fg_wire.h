/*  fg_wire.h — the one codec of the coordinator-trainer protocol.

    A message is a ZeroMQ multipart message: one fixed 40-byte header frame
    (magic "FGW1", protocol version, type, flags, experiment id, round,
    shard, attempt, payload length, checksum) followed by a fixed number of
    payload frames per type: a fixed-layout body and, where needed, bulk
    frames (index ranges, loss curve, blob bytes, LZ4 sample bytes). Every
    integer is little-endian and fixed-width. docs/protocol.md gives every
    byte and the message flow.

    The codec knows nothing of sockets: fg_wire_encode turns a message into
    frames, fg_wire_decode turns any array of (pointer, length) frames into
    a message or a typed error naming the message type, frame, offset and
    field. Sockets are actors/fg_wire_socket.h's business (fg_wire_send,
    fg_wire_recv, fg_wire_send_chunks).

    Decoding checks, in this order: frame count >= 1, header size, magic
    (FG_EFORMAT), version (FG_EVERSION), type and flags, the payload frame
    count of the type, every frame against limits->max_frame (FG_ERANGE),
    payload length, checksum (FG_ECHECKSUM), then every body field and
    every count against its bound (FG_ERANGE) and against the bytes present
    (FG_EFORMAT) before it is used. Nothing is read past a frame's end.

    Not checked here (the caller's business): that the experiment id is
    the caller's, that the sender is a known node, that a message is valid
    in the current protocol state, that loss values are finite.          */

#ifndef FG_WIRE_H_INCLUDED
#define FG_WIRE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "fg_error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FG_WIRE_MAGIC           "FGW1"
#define FG_WIRE_VERSION         1           //  protocol version spoken here
#define FG_WIRE_HEADER_SIZE     40          //  bytes of the header frame
#define FG_WIRE_FRAMES_MAX      4           //  header + at most 3 payload frames
#define FG_WIRE_HASH_SIZE       32          //  SHA-256, raw bytes

//  Bounds (also see fg_wire_limits_t, which the configuration sets).
#define FG_WIRE_NAME_MAX        64          //  node id, kernel string (bytes)
#define FG_WIRE_TEXT_MAX        255         //  REJECT / ERROR text (bytes)
#define FG_WIRE_DATASETS_MAX    16          //  dataset hashes in a HELLO
#define FG_WIRE_RANGES_MAX      (1u << 24)  //  index ranges in a TASK / DATA-REQUEST
#define FG_WIRE_LOSS_MAX        (1u << 20)  //  points of a RESULT's loss curve
#define FG_WIRE_CREDIT_MAX      256         //  chunks asked by one WEIGHTS-REQUEST
#define FG_WIRE_CORES_MAX       65536
#define FG_WIRE_SLOTS_MAX       1024        //  units a READY node can take
#define FG_WIRE_EPOCHS_MAX      100000
#define FG_WIRE_BATCH_MAX       (1u << 24)
#define FG_WIRE_FRAME_MIN       4096        //  smallest acceptable max_frame
#define FG_WIRE_FRAME_LIMIT     (1u << 30)  //  largest acceptable max_frame
#define FG_WIRE_FRAME_DEFAULT   (4u << 20)  //  = grid.max_frame default
#define FG_WIRE_CHUNK_DEFAULT   (1u << 20)  //  = grid.chunk_size default
#define FG_WIRE_SAMPLE_HEAD     6           //  variable record: u16le label | u32le size
#define FG_WIRE_SAMPLE_MAX      (1u << 26)  //  bytes of one variable record's sample
                                            //  (a stored image file); also <= a chunk
#define FG_WIRE_CLASSES_MAX     65536       //  TASK geometry: labels are u16
#define FG_WIRE_SIDE_MAX        65535       //  TASK geometry: height, width
#define FG_WIRE_PIXELS_MAX      ((uint64_t) 1 << 28)    //  H x W x C of a TASK's geometry
#define FG_WIRE_TEXTURE_FRAGMENT_MAX 8192   //  TASK texture: fragment, stride (FG_TEXTURE_*)
#define FG_WIRE_TEXTURE_SIDE_MAX 1024       //  ... side (= height = width)
#define FG_WIRE_TEXTURE_CONTRAST_MAX 4096   //  ... contrast_q8
#define FG_WIRE_TEXTURE_TABLE_MIN 12        //  ... bytes of the image table
#define FG_WIRE_TEXTURE_TABLE_MAX (1u << 26)

typedef enum {
    FG_WIRE_HELLO           =  1,   //  node -> coordinator: who I am, what I have
    FG_WIRE_READY           =  2,   //  node -> coordinator: I can take units
    FG_WIRE_HEARTBEAT       =  3,   //  both ways: I am alive
    FG_WIRE_TASK            =  4,   //  coordinator -> node: a work unit
    FG_WIRE_WEIGHTS_REQUEST =  5,   //  receiver of a blob -> its holder: send chunks
    FG_WIRE_WEIGHTS_CHUNK   =  6,   //  holder -> receiver: bytes of a blob
    FG_WIRE_DATA_REQUEST    =  7,   //  node -> coordinator: send these samples
    FG_WIRE_DATA_CHUNK      =  8,   //  coordinator -> node: LZ4 sample bytes
    FG_WIRE_RESULT          =  9,   //  node -> coordinator: a unit's result
    FG_WIRE_ACK             = 10,   //  accepted (names the acknowledged type)
    FG_WIRE_REJECT          = 11,   //  refused, with a reason
    FG_WIRE_ERROR           = 12,   //  the sender failed (FG_E* code + text)
    FG_WIRE_BYE             = 13,   //  the sender leaves
    FG_WIRE_TYPE_MAX        = 13
} fg_wire_type_t;

//  What a WEIGHTS-REQUEST / WEIGHTS-CHUNK transfers.
typedef enum {
    FG_WIRE_BLOB_GLOBAL = 0,        //  global weights of `version`
    FG_WIRE_BLOB_UPDATE = 1         //  the update of (round, shard, attempt)
} fg_wire_blob_t;                   //  in the header, based on `version`

//  Reasons of a REJECT.
typedef enum {
    FG_WIRE_REASON_OTHER        = 0,
    FG_WIRE_REASON_VERSION      = 1,    //  protocol version not spoken
    FG_WIRE_REASON_EXPERIMENT   = 2,    //  wrong experiment id
    FG_WIRE_REASON_NOT_ALLOWED  = 3,    //  node not admitted
    FG_WIRE_REASON_STALE        = 4,    //  round already committed / unit reassigned
    FG_WIRE_REASON_DUPLICATE    = 5,    //  already have this result
    FG_WIRE_REASON_CHECKSUM     = 6,    //  blob does not match its hash
    FG_WIRE_REASON_NUMERIC      = 7,    //  NaN or Inf in an update or loss
    FG_WIRE_REASON_SHAPE        = 8,    //  update of the wrong model shape
    FG_WIRE_REASON_MISMATCH     = 9,    //  disagrees with another copy of the unit
    FG_WIRE_REASON_UNKNOWN      = 10,   //  unknown weights version, dataset, unit
    FG_WIRE_REASON_BUSY         = 11,   //  try again later
    FG_WIRE_REASON_MAX          = 11
} fg_wire_reason_t;

//  A shard is a list of index ranges [start, start + count), sorted and
//  disjoint (fg_wire_ranges_from_indices makes them from a shard's indices).
typedef struct {
    uint32_t start;
    uint32_t count;                 //  >= 1; start + count <= 2^32
} fg_wire_range_t;

typedef struct {
    uint16_t proto_min;             //  protocol versions the node speaks,
    uint16_t proto_max;             //  1 <= min <= max
    uint32_t cores;                 //  1 .. FG_WIRE_CORES_MAX
    double   speed;                 //  measured samples/s (finite, >= 0)
    char     node_id [FG_WIRE_NAME_MAX + 1];    //  1..64 bytes, '!'..'~'
    char     kernel [FG_WIRE_NAME_MAX + 1];     //  BLIS "version arch", 0..64 bytes, ' '..'~'
    uint32_t dataset_count;         //  0 .. FG_WIRE_DATASETS_MAX
    uint8_t  datasets [FG_WIRE_DATASETS_MAX][FG_WIRE_HASH_SIZE];
} fg_wire_hello_t;

typedef struct {
    uint32_t slots;                 //  1 .. FG_WIRE_SLOTS_MAX
} fg_wire_ready_t;

//  The training set's geometry, for a trainer that builds its dataset from
//  fetched samples and cannot learn it from the dataset kind (folder...).
//  A texture set adds its fragment geometry (fg_texture_geometry_t, side =
//  height) and the bytes of its image table (fg_texture.h): the block is
//  then 36 bytes instead of 16, which a node of before refuses by name.
typedef struct {
    uint32_t classes;               //  1 .. FG_WIRE_CLASSES_MAX
    uint32_t height;                //  1 .. FG_WIRE_SIDE_MAX
    uint32_t width;                 //  1 .. FG_WIRE_SIDE_MAX
    uint32_t channels;              //  1 or 3; H x W x C <= FG_WIRE_PIXELS_MAX
    //  has_texture only (else 0): height = width <= FG_WIRE_TEXTURE_SIDE_MAX,
    //  channels 3
    uint32_t fragment;              //  1 .. FG_WIRE_TEXTURE_FRAGMENT_MAX
    uint32_t stride;                //  1 .. FG_WIRE_TEXTURE_FRAGMENT_MAX; stride x
                                    //  height a multiple of fragment
    uint32_t rotations;             //  1, 2 or 4
    uint32_t contrast_q8;           //  0 .. FG_WIRE_TEXTURE_CONTRAST_MAX
    uint32_t table_size;            //  FG_WIRE_TEXTURE_TABLE_MIN .. _MAX
} fg_wire_geometry_t;

typedef struct {
    uint64_t weights_version;       //  global weights to start from
    uint64_t weights_size;          //  bytes of that weights blob
    uint8_t  weights_hash [FG_WIRE_HASH_SIZE];
    uint64_t seed;                  //  experiment seed (RNG root)
    uint32_t local_epochs;          //  1 .. FG_WIRE_EPOCHS_MAX
    uint32_t batch_size;            //  1 .. FG_WIRE_BATCH_MAX
    double   lr;                    //  learning rate of this unit, finite >= 0
    double   momentum;              //  finite, 0 <= m < 1
    double   weight_decay;          //  finite >= 0
    bool     nesterov;
    bool     augment;
    uint8_t  model;                 //  fg_model_kind_t
    uint8_t  dataset;               //  fg_dataset_kind_t
    uint8_t  dataset_hash [FG_WIRE_HASH_SIZE];
    uint32_t deadline_ms;           //  expected budget of the unit; 0 = none
    uint64_t sample_count;          //  sum of the ranges' counts
    uint32_t range_count;           //  1 .. FG_WIRE_RANGES_MAX
    const fg_wire_range_t *ranges;  //  the shard
    bool     has_geometry;          //  the body carries geometry (16 bytes
    fg_wire_geometry_t geometry;    //  after the fixed part); false: the
                                    //  TASK's bytes are those of protocol 1
    bool     has_texture;           //  ... with the texture words (36 bytes);
                                    //  implies has_geometry
} fg_wire_task_t;

typedef struct {
    uint8_t  blob;                  //  fg_wire_blob_t
    uint64_t version;               //  weights version (of the base, for an update)
    uint64_t offset;                //  first byte wanted
    uint32_t credit;                //  chunks the requester accepts: 1 .. FG_WIRE_CREDIT_MAX
    uint32_t chunk_size;            //  bytes per chunk: 1 .. limits->max_chunk
} fg_wire_weights_request_t;

typedef struct {
    uint8_t  blob;                  //  fg_wire_blob_t
    uint64_t version;
    uint64_t offset;                //  of data [0] in the blob
    uint64_t total;                 //  size of the whole blob
    uint8_t  hash [FG_WIRE_HASH_SIZE];  //  SHA-256 of the whole blob
    size_t   size;                  //  <= max_chunk; offset + size <= total;
    const uint8_t *data;            //  0 only for an empty blob
} fg_wire_weights_chunk_t;

typedef struct {
    uint8_t  dataset_hash [FG_WIRE_HASH_SIZE];
    uint64_t sample_count;          //  sum of the ranges' counts
    uint32_t range_count;           //  1 .. FG_WIRE_RANGES_MAX
    const fg_wire_range_t *ranges;
} fg_wire_data_request_t;

typedef struct {
    uint8_t  dataset_hash [FG_WIRE_HASH_SIZE];
    uint32_t start;                 //  samples [start, start + count)
    uint32_t count;                 //  >= 1
    uint32_t record_size;           //  bytes per sample; 0 = variable records
                                    //  (u16le label | u32le size | size bytes,
                                    //  fg_wire_sample_next), checked when decoded
    uint64_t raw_size;              //  decompressed bytes: 1 .. max_chunk,
                                    //  = count * record_size when fixed
    size_t   lz4_size;              //  LZ4 block (fg_wire_data_pack)
    const uint8_t *lz4;
    const uint8_t *samples;         //  decode only: raw_size decompressed bytes
} fg_wire_data_chunk_t;

typedef struct {
    uint64_t weights_version;       //  the weights the unit started from
    uint64_t sample_count;          //  samples trained on (FedAvg weight)
    uint32_t elapsed_ms;            //  training time (speed estimate)
    uint32_t loss_count;            //  0 .. FG_WIRE_LOSS_MAX
    const float *loss;              //  local loss curve (any float, not checked)
    uint64_t update_size;           //  bytes of the update blob
    uint8_t  update_hash [FG_WIRE_HASH_SIZE];
    size_t   prefix_size;           //  first bytes of the update carried here:
    const uint8_t *prefix;          //  <= max_chunk, <= update_size; the rest
                                    //  is pulled with WEIGHTS-REQUEST (UPDATE)
} fg_wire_result_t;

typedef struct {
    uint8_t  of_type;               //  fg_wire_type_t acknowledged
} fg_wire_ack_t;

typedef struct {
    uint8_t  of_type;               //  fg_wire_type_t refused; 0: a message
                                    //  that could not be decoded
    uint16_t reason;                //  fg_wire_reason_t
    char     text [FG_WIRE_TEXT_MAX + 1];   //  bytes >= ' ' except DEL
} fg_wire_reject_t;

typedef struct {
    int32_t  code;                  //  an FG_E* code (< 0)
    char     text [FG_WIRE_TEXT_MAX + 1];
} fg_wire_error_t;

//  One message. Header fields, then the body of `type` (HEARTBEAT and BYE
//  have none). Pointers are borrowed when encoding; after fg_wire_decode
//  they point into memory the message owns (fg_wire_msg_clear frees it).
typedef struct {
    int      type;                  //  fg_wire_type_t
    uint64_t experiment;            //  derived from the configuration hash
    uint32_t round;
    uint32_t shard;
    uint32_t attempt;
    union {
        fg_wire_hello_t           hello;
        fg_wire_ready_t           ready;
        fg_wire_task_t            task;
        fg_wire_weights_request_t weights_request;
        fg_wire_weights_chunk_t   weights_chunk;
        fg_wire_data_request_t    data_request;
        fg_wire_data_chunk_t      data_chunk;
        fg_wire_result_t          result;
        fg_wire_ack_t             ack;
        fg_wire_reject_t          reject;
        fg_wire_error_t           error;
    };
    void    *storage_;              //  private: owned by decoded messages
} fg_wire_msg_t;

//  Bounds set from the configuration ([grid] max_frame, chunk_size).
typedef struct {
    size_t max_frame;               //  largest frame sent or accepted
                                    //  (ZMQ_MAXMSGSIZE of every socket)
    size_t max_chunk;               //  largest blob chunk, update prefix,
                                    //  decompressed data chunk
} fg_wire_limits_t;

//  A borrowed frame.
typedef struct {
    const uint8_t *data;
    size_t size;
} fg_wire_frame_t;

//  Encoded frames: frame [0] is the header. Frames point into storage_
//  (header, body, converted ranges / floats) or into the encoded message's
//  byte buffers, which must outlive them. fg_wire_frames_clear frees.
typedef struct {
    size_t          count;
    fg_wire_frame_t frame [FG_WIRE_FRAMES_MAX];
    void           *storage_;
} fg_wire_frames_t;

//  Name of a message type ("TASK", "WEIGHTS-CHUNK"), or "unknown" for a
//  value that is not a type. Never NULL.
const char *
    fg_wire_type_name (int type);

//  Name of a reject reason ("stale"), or "unknown". Never NULL.
const char *
    fg_wire_reason_name (int reason);

//  Fills limits with FG_WIRE_FRAME_DEFAULT and FG_WIRE_CHUNK_DEFAULT.
void
    fg_wire_limits_default (fg_wire_limits_t *limits);

//  Checks FG_WIRE_FRAME_MIN <= max_frame <= FG_WIRE_FRAME_LIMIT and
//  1 <= max_chunk <= max_frame - FG_WIRE_FRAME_MIN (the configuration's
//  rule for grid.chunk_size). Returns 0 or FG_ERANGE.
int
    fg_wire_limits_check (const fg_wire_limits_t *limits, fg_error_t *err);

//  Largest raw_size a DATA-CHUNK sender should use: max_chunk, or less when
//  LZ4's worst case for max_chunk bytes (n + n/255 + 16) would not fit in
//  max_frame. limits NULL = defaults; 0 for invalid limits.
size_t
    fg_wire_data_raw_max (const fg_wire_limits_t *limits);

//  Encodes msg into frames (overwritten; clear them with
//  fg_wire_frames_clear). msg is validated with the decoder's rules first;
//  limits NULL = defaults. Returns 0, FG_EINVAL (unknown type), FG_ERANGE
//  (a field or count out of bounds, a frame over max_frame), FG_EFORMAT
//  (ranges unsorted or overlapping, a bad character in a string, a sum
//  that does not match), FG_ENUMERIC (NaN/Inf hyper-parameter) or
//  FG_ENOMEM. On error frames holds nothing.
int
    fg_wire_encode (const fg_wire_msg_t *msg, const fg_wire_limits_t *limits,
                    fg_wire_frames_t *frames, fg_error_t *err);

//  Frees what frames owns and empties it; NULL-safe.
void
    fg_wire_frames_clear (fg_wire_frames_t *frames);

//  Decodes count frames (header first) into msg, which is overwritten
//  without being freed; limits NULL = defaults. On success the caller owns
//  msg's memory and must call fg_wire_msg_clear; on error msg is empty.
//  Returns 0, FG_EFORMAT (truncated or malformed: size, magic, type,
//  flags, frame count, lengths, strings, ranges, LZ4 data), FG_EVERSION,
//  FG_ECHECKSUM, FG_ERANGE (a frame, count, chunk or value out of bounds),
//  FG_ENUMERIC (NaN/Inf hyper-parameter) or FG_ENOMEM. The message names
//  the type, frame, offset and field.
int
    fg_wire_decode (const fg_wire_frame_t *frames, size_t count,
                    const fg_wire_limits_t *limits, fg_wire_msg_t *msg,
                    fg_error_t *err);

//  Frees what a decoded msg owns and zeroes it; NULL-safe. Harmless on a
//  message built by hand for encoding (zeroes it, frees nothing).
void
    fg_wire_msg_clear (fg_wire_msg_t *msg);

//  Makes reply the header of an answer to `to`: zeroed, of `type`, with
//  to's experiment, round, shard and attempt (all 0 when to is NULL).
void
    fg_wire_msg_reply (fg_wire_msg_t *reply, int type, const fg_wire_msg_t *to);

//  The ranges of a TASK's shard from its sample indices (any order; a
//  sorted array, as fg_partition gives, is not copied): consecutive
//  indices merged, sorted. *ranges_p receives an array the caller owns
//  (free ()), *range_count its length; the TASK's sample_count is count.
//  Returns 0, FG_ERANGE (count 0 or over UINT32_MAX, more than
//  FG_WIRE_RANGES_MAX ranges), FG_EFORMAT (an index given twice) or
//  FG_ENOMEM.
int
    fg_wire_ranges_from_indices (const uint32_t *indices, size_t count,
                                 fg_wire_range_t **ranges_p, uint32_t *range_count,
                                 fg_error_t *err);

//  The reverse, for the node: the sample indices of ranges as a decoded
//  TASK holds them (validated: sorted, disjoint), in order. *indices_p
//  receives an array the caller owns (free ()), *count its length (the
//  TASK's sample_count). Returns 0, FG_ERANGE (no index at all, or more
//  than fit in memory) or FG_ENOMEM.
int
    fg_wire_ranges_to_indices (const fg_wire_range_t *ranges, uint32_t range_count,
                               uint32_t **indices_p, size_t *count, fg_error_t *err);

//  LZ4-compresses raw_size bytes for a DATA-CHUNK. *lz4_p receives a
//  buffer the caller owns (free ()), *lz4_size its length. Returns 0,
//  FG_ERANGE (raw_size 0 or over LZ4's limit) or FG_ENOMEM.
int
    fg_wire_data_pack (const void *raw, size_t raw_size, uint8_t **lz4_p,
                       size_t *lz4_size, fg_error_t *err);

//  ---- variable records (DATA-CHUNK record_size 0) ---------------------------
//
//  A sample whose stored form has no fixed size (a JPEG or PNG file)
//  travels as u16le label | u32le size | size bytes, 1 <= size <=
//  FG_WIRE_SAMPLE_MAX; a chunk's raw bytes are exactly `count` of them.

typedef struct {
    uint16_t label;
    uint32_t size;                  //  1 .. FG_WIRE_SAMPLE_MAX
    const uint8_t *bytes;           //  into the chunk's raw bytes
} fg_wire_sample_t;

//  Appends one record to buf (cap bytes, *used of them in use; *used
//  grows). Returns 0, FG_ERANGE (size 0 or over FG_WIRE_SAMPLE_MAX) or
//  FG_EFULL (does not fit in cap: nothing written).
int
    fg_wire_sample_put (uint8_t *buf, size_t cap, size_t *used, uint16_t label,
                        const uint8_t *bytes, size_t size, fg_error_t *err);

//  Bytes one record of a size-byte sample takes: FG_WIRE_SAMPLE_HEAD + size.
static inline uint64_t
fg_wire_sample_bytes (uint64_t size)
{
    return FG_WIRE_SAMPLE_HEAD + size;
}

//  Reads the record at raw [*at] (raw: raw_size bytes) into out and moves
//  *at past it. Every length is checked against the bytes left before it
//  is used. Returns 0 or FG_EFORMAT (truncated head, size 0, over
//  FG_WIRE_SAMPLE_MAX, or past the end: names the offset).
int
    fg_wire_sample_next (const uint8_t *raw, size_t raw_size, size_t *at,
                         fg_wire_sample_t *out, fg_error_t *err);

//  Checks that raw holds exactly count records (the decoder runs it on
//  every DATA-CHUNK of record_size 0). Returns 0 or FG_EFORMAT.
int
    fg_wire_samples_check (const uint8_t *raw, size_t raw_size, uint32_t count,
                           fg_error_t *err);

#ifdef __cplusplus
}
#endif

#endif
