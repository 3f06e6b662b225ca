/*  fg_wire_types.c — the messages of the coordinator-trainer protocol:
    one descriptor per type (fg_wire_internal.h), read by the validator,
    the encoder and the parser of lib/fg_wire.c. docs/protocol.md gives
    every byte. A new message is a new descriptor here; a rule a table
    cannot say (a sum, a bound between two fields) is a small check
    function referenced from the descriptor.                             */

#include "fg_wire_internal.h"

#include <inttypes.h>
#include <math.h>
#include <stddef.h>

#include "fg_config.h"

#define TASK_NESTEROV   0x01    //  bits of the TASK's flags byte
#define TASK_AUGMENT    0x02

//  offsetof a member, which must have `size` bytes (checked when compiled)
#define S_OFFSET(f, size) (offsetof (fg_wire_msg_t, f) \
    + 0 * sizeof (char [sizeof (((fg_wire_msg_t *) 0)->f) == (size)? 1: -1]))
#define S_WIDTH(k)  ((k) == FG_WIRE_K_U8 || (k) == FG_WIRE_K_BIT? 1 \
                    : (k) == FG_WIRE_K_U16? 2 \
                    : (k) == FG_WIRE_K_U32 || (k) == FG_WIRE_K_I32? 4 \
                    : (k) == FG_WIRE_K_HASH? FG_WIRE_HASH_SIZE: 8)
#define S_ROWS(a)   a, sizeof a / sizeof a [0]

#define F_FIELD(k, nm, off, f, ...) \
    { .name = nm, .kind = k, .at = off, .member = S_OFFSET (f, S_WIDTH (k)), __VA_ARGS__ }
#define F_U8(...)       F_FIELD (FG_WIRE_K_U8, __VA_ARGS__)
#define F_U16(...)      F_FIELD (FG_WIRE_K_U16, __VA_ARGS__)
#define F_U32(...)      F_FIELD (FG_WIRE_K_U32, __VA_ARGS__)
#define F_I32(...)      F_FIELD (FG_WIRE_K_I32, __VA_ARGS__)
#define F_U64(...)      F_FIELD (FG_WIRE_K_U64, __VA_ARGS__)
#define F_F64(...)      F_FIELD (FG_WIRE_K_F64, __VA_ARGS__)
#define F_HASH(...)     F_FIELD (FG_WIRE_K_HASH, __VA_ARGS__)
#define F_BIT(nm, off, f, bit)  F_FIELD (FG_WIRE_K_BIT, nm, off, f, .hi = (bit))
#define F_FLAGS(nm, off, bits) \
    { .name = nm, .kind = FG_WIRE_K_FLAGS, .at = off, .hi = (bits) }
#define F_RESERVED(nm, off)     { .name = nm, .kind = FG_WIRE_K_RESERVED, .at = off }
#define F_STRING(nm, off, f, min, max, lowest, high_ok) \
    { .name = nm, .kind = FG_WIRE_K_STRING, .at = off, .member = offsetof (fg_wire_msg_t, f), \
      .count = sizeof (((fg_wire_msg_t *) 0)->f), .lo = (min), .hi = (max), \
      .count_name = nm "_len", .first = (lowest), .high = (high_ok) }
//  a block of words of member f (an array or struct of u32), present when
//  the bool member `there` is true
//  (short: the words of the short form, 0: none; long_: its bool member)
#define F_WORDS(nm, off, f, there, words, short, long_) \
    { .name = nm, .kind = FG_WIRE_K_WORDS, .at = off, \
      .member = offsetof (fg_wire_msg_t, f) \
        + 0 * sizeof (char [sizeof (((fg_wire_msg_t *) 0)->f) == 4 * (words)? 1: -1]), \
      .count = offsetof (fg_wire_msg_t, there), .hi = (words), .lo = (short), \
      .full = offsetof (fg_wire_msg_t, long_) }
#define F_HASHES(nm, off, f, n, max) \
    { .name = nm, .kind = FG_WIRE_K_HASHES, .at = off, .member = offsetof (fg_wire_msg_t, f), \
      .count = S_OFFSET (n, 4), .hi = (max) }

//  Rules of a field (fg_wire_rule_t)
#define RANGE(l, h)     .rule = FG_WIRE_R_RANGE, .lo = (l), .hi = (h)
#define RANGE_CHUNK(l)  .rule = FG_WIRE_R_RANGE_CHUNK, .lo = (l)
#define NONZERO         .rule = FG_WIRE_R_NONZERO
#define HYPER(h)        .rule = FG_WIRE_R_HYPER, .top = (h)
#define NONNEG          .rule = FG_WIRE_R_NONNEG
#define A_TYPE          .rule = FG_WIRE_R_TYPE
#define A_CODE          .rule = FG_WIRE_R_CODE
#define CHECK(f)        .rule = FG_WIRE_R_FN, .fn = (f)

//  The shard of a TASK or DATA-REQUEST `m`: range_count at count_off,
//  sample_count at sum_off.
#define B_RANGES_OF(m, count_off, sum_off) \
    { .name = "ranges", .kind = FG_WIRE_B_RANGES, .data = offsetof (fg_wire_msg_t, m.ranges), \
      .size = S_OFFSET (m.range_count, 4), .count_at = count_off, \
      .count_name = "range_count", .min = 1, .max = FG_WIRE_RANGES_MAX, \
      .sum = S_OFFSET (m.sample_count, 8), .sum_at = sum_off }


static fg_wire_check_fn s_check_proto, s_check_task, s_check_weights_chunk,
                        s_check_data_chunk, s_check_data_records, s_check_result;

static const fg_wire_field_t s_hello [] = {
    F_U16 ("proto_min", 0, hello.proto_min, CHECK (s_check_proto)),
    F_U16 ("proto_max", 2, hello.proto_max),
    F_U32 ("cores", 4, hello.cores, RANGE (1, FG_WIRE_CORES_MAX)),
    F_F64 ("speed", 8, hello.speed, NONNEG),
    F_STRING ("node_id", 16, hello.node_id, 1, FG_WIRE_NAME_MAX, '!', false),
    F_STRING ("kernel", 17, hello.kernel, 0, FG_WIRE_NAME_MAX, ' ', false),
    F_HASHES ("dataset_count", 18, hello.datasets, hello.dataset_count, FG_WIRE_DATASETS_MAX)
};

static const fg_wire_field_t s_ready [] = {
    F_U32 ("slots", 0, ready.slots, RANGE (1, FG_WIRE_SLOTS_MAX))
};

static const fg_wire_field_t s_task [] = {
    F_U64 ("weights_version", 0, task.weights_version),
    F_U64 ("weights_size", 8, task.weights_size),
    F_HASH ("weights_hash", 16, task.weights_hash),
    F_U64 ("seed", 48, task.seed),
    F_U32 ("local_epochs", 56, task.local_epochs, RANGE (1, FG_WIRE_EPOCHS_MAX)),
    F_U32 ("batch_size", 60, task.batch_size, RANGE (1, FG_WIRE_BATCH_MAX)),
    F_F64 ("lr", 64, task.lr, HYPER (INFINITY)),
    F_F64 ("momentum", 72, task.momentum, HYPER (1.0)),
    F_F64 ("weight_decay", 80, task.weight_decay, HYPER (INFINITY)),
    F_FLAGS ("flags", 88, TASK_NESTEROV | TASK_AUGMENT),
    F_BIT ("nesterov", 88, task.nesterov, TASK_NESTEROV),
    F_BIT ("augment", 88, task.augment, TASK_AUGMENT),
    F_U8 ("model", 89, task.model, RANGE (0, FG_MODEL_MOBILENETV3_LARGE)),
    F_U8 ("dataset", 90, task.dataset, RANGE (0, FG_DATASET_FOLDER)),
    F_WORDS ("geometry", 91, task.geometry, task.has_geometry, 9, 4, task.has_texture),
    F_HASH ("dataset_hash", 92, task.dataset_hash),
    F_U32 ("deadline_ms", 124, task.deadline_ms),
    F_U64 ("sample_count", 128, task.sample_count),
    F_U32 ("range_count", 136, task.range_count)
};
static const fg_wire_bulk_t s_task_bulk [] = { B_RANGES_OF (task, 136, 128) };

static const fg_wire_field_t s_weights_request [] = {
    F_U64 ("version", 0, weights_request.version),
    F_U64 ("offset", 8, weights_request.offset),
    F_U32 ("credit", 16, weights_request.credit, RANGE (1, FG_WIRE_CREDIT_MAX)),
    F_U32 ("chunk_size", 20, weights_request.chunk_size, RANGE_CHUNK (1)),
    F_U8 ("blob", 24, weights_request.blob, RANGE (0, FG_WIRE_BLOB_UPDATE))
};

static const fg_wire_field_t s_weights_chunk [] = {
    F_U64 ("version", 0, weights_chunk.version),
    F_U64 ("offset", 8, weights_chunk.offset),
    F_U64 ("total", 16, weights_chunk.total),
    F_HASH ("hash", 24, weights_chunk.hash),
    F_U8 ("blob", 56, weights_chunk.blob, RANGE (0, FG_WIRE_BLOB_UPDATE))
};
static const fg_wire_bulk_t s_weights_chunk_bulk [] = {
    { .name = "bytes", .kind = FG_WIRE_B_BYTES, .cap = "chunk of ",
      .data = offsetof (fg_wire_msg_t, weights_chunk.data),
      .size = S_OFFSET (weights_chunk.size, sizeof (size_t)) }
};

static const fg_wire_field_t s_data_request [] = {
    F_HASH ("dataset_hash", 0, data_request.dataset_hash),
    F_U64 ("sample_count", 32, data_request.sample_count),
    F_U32 ("range_count", 40, data_request.range_count)
};
static const fg_wire_bulk_t s_data_request_bulk [] = { B_RANGES_OF (data_request, 40, 32) };

static const fg_wire_field_t s_data_chunk [] = {
    F_HASH ("dataset_hash", 0, data_chunk.dataset_hash),
    F_U32 ("start", 32, data_chunk.start),
    F_U32 ("count", 36, data_chunk.count, RANGE (1, UINT32_MAX)),
    F_U32 ("record_size", 40, data_chunk.record_size),
    F_U64 ("raw_size", 44, data_chunk.raw_size)
};
static const fg_wire_bulk_t s_data_chunk_bulk [] = {
    { .name = "lz4", .kind = FG_WIRE_B_LZ4, .data = offsetof (fg_wire_msg_t, data_chunk.lz4),
      .size = S_OFFSET (data_chunk.lz4_size, sizeof (size_t)),
      .raw = S_OFFSET (data_chunk.raw_size, 8),
      .out = offsetof (fg_wire_msg_t, data_chunk.samples) }
};

static const fg_wire_field_t s_result [] = {
    F_U64 ("weights_version", 0, result.weights_version),
    F_U64 ("sample_count", 8, result.sample_count, NONZERO),
    F_U32 ("elapsed_ms", 16, result.elapsed_ms),
    F_U32 ("loss_count", 20, result.loss_count),
    F_U64 ("update_size", 24, result.update_size),
    F_HASH ("update_hash", 32, result.update_hash)
};
static const fg_wire_bulk_t s_result_bulk [] = {
    { .name = "loss", .kind = FG_WIRE_B_FLOATS, .data = offsetof (fg_wire_msg_t, result.loss),
      .size = S_OFFSET (result.loss_count, 4), .count_at = 20,
      .count_name = "loss_count", .max = FG_WIRE_LOSS_MAX },
    { .name = "prefix", .kind = FG_WIRE_B_BYTES, .cap = "",
      .data = offsetof (fg_wire_msg_t, result.prefix),
      .size = S_OFFSET (result.prefix_size, sizeof (size_t)) }
};

static const fg_wire_field_t s_ack [] = {
    F_U8 ("of_type", 0, ack.of_type, A_TYPE)
};

//  of_type 0: a message that could not be decoded (its type unknown)
static const fg_wire_field_t s_reject [] = {
    F_U8 ("of_type", 0, reject.of_type, RANGE (0, FG_WIRE_TYPE_MAX)),
    F_U16 ("reason", 1, reject.reason, RANGE (0, FG_WIRE_REASON_MAX)),
    F_STRING ("text", 3, reject.text, 0, FG_WIRE_TEXT_MAX, ' ', true)
};

static const fg_wire_field_t s_error [] = {
    F_I32 ("code", 0, error.code, A_CODE),
    F_STRING ("text", 4, error.text, 0, FG_WIRE_TEXT_MAX, ' ', true)
};

const fg_wire_desc_t fg_wire_desc [FG_WIRE_TYPE_MAX + 1] = {
    [0]                       = { "unknown" },
    [FG_WIRE_HELLO]           = { "HELLO", 20, S_ROWS (s_hello) },
    [FG_WIRE_READY]           = { "READY", 4, S_ROWS (s_ready) },
    [FG_WIRE_HEARTBEAT]       = { "HEARTBEAT" },
    [FG_WIRE_TASK]            = { "TASK", 140, S_ROWS (s_task), S_ROWS (s_task_bulk),
                                  s_check_task },
    [FG_WIRE_WEIGHTS_REQUEST] = { "WEIGHTS-REQUEST", 25, S_ROWS (s_weights_request) },
    [FG_WIRE_WEIGHTS_CHUNK]   = { "WEIGHTS-CHUNK", 57, S_ROWS (s_weights_chunk),
                                  S_ROWS (s_weights_chunk_bulk), s_check_weights_chunk },
    [FG_WIRE_DATA_REQUEST]    = { "DATA-REQUEST", 44, S_ROWS (s_data_request),
                                  S_ROWS (s_data_request_bulk) },
    [FG_WIRE_DATA_CHUNK]      = { "DATA-CHUNK", 52, S_ROWS (s_data_chunk),
                                  S_ROWS (s_data_chunk_bulk), s_check_data_chunk,
                                  s_check_data_records },
    [FG_WIRE_RESULT]          = { "RESULT", 64, S_ROWS (s_result), S_ROWS (s_result_bulk),
                                  s_check_result },
    [FG_WIRE_ACK]             = { "ACK", 1, S_ROWS (s_ack) },
    [FG_WIRE_REJECT]          = { "REJECT", 4, S_ROWS (s_reject) },
    [FG_WIRE_ERROR]           = { "ERROR", 5, S_ROWS (s_error) },
    [FG_WIRE_BYE]             = { "BYE" }
};

static const char *s_reason_names [FG_WIRE_REASON_MAX + 1] = {
    "other", "version", "experiment", "not allowed", "stale", "duplicate",
    "checksum", "numeric", "shape", "mismatch", "unknown", "busy"
};

const char *
fg_wire_type_name (int type)
{
    if (type < 1 || type > FG_WIRE_TYPE_MAX)
        return "unknown";
    return fg_wire_desc [type].name;
}

const char *
fg_wire_reason_name (int reason)
{
    if (reason < 0 || reason > FG_WIRE_REASON_MAX)
        return "unknown";
    return s_reason_names [reason];
}


//  --------------------------------------------------------------------------
//  The rules a table cannot say

static int
s_check_proto (const fg_wire_msg_t *msg, const fg_wire_limits_t *lim,
               const fg_wire_ctx_t *ctx, fg_error_t *err)
{
    const fg_wire_hello_t *h = &msg->hello;
    if (h->proto_min < 1 || h->proto_min > h->proto_max)
        return fg_wire_fail (err, FG_ERANGE, ctx, 1, 0, "proto_min",
                             "versions [%u, %u] are not 1 <= min <= max",
                             h->proto_min, h->proto_max);
    return 0;
}

//  The texture words of a geometry block (after its 16 bytes, from offset
//  156 of the body): the bounds of fg_wire_geometry_t, which are
//  fg_texture_check's.
static int
s_check_texture (const fg_wire_geometry_t *g, const fg_wire_ctx_t *ctx, fg_error_t *err)
{
    if (g->height != g->width || g->height > FG_WIRE_TEXTURE_SIDE_MAX || g->channels != 3)
        return fg_wire_fail (err, FG_ERANGE, ctx, 1, 144, "geometry.height",
                             "%" PRIu32 " x %" PRIu32 " x %" PRIu32 ": a texture sample is "
                             "square, at most %d, RGB", g->height, g->width, g->channels,
                             FG_WIRE_TEXTURE_SIDE_MAX);
    if (g->fragment < 1 || g->fragment > FG_WIRE_TEXTURE_FRAGMENT_MAX)
        return fg_wire_fail (err, FG_ERANGE, ctx, 1, 156, "geometry.fragment",
                             "%" PRIu32 " outside [1, %d]", g->fragment,
                             FG_WIRE_TEXTURE_FRAGMENT_MAX);
    if (g->stride < 1 || g->stride > FG_WIRE_TEXTURE_FRAGMENT_MAX
    ||  (uint64_t) g->stride * g->height % g->fragment)
        return fg_wire_fail (err, FG_ERANGE, ctx, 1, 160, "geometry.stride",
                             "%" PRIu32 " outside [1, %d] or x side %" PRIu32 " not a multiple "
                             "of the fragment %" PRIu32, g->stride, FG_WIRE_TEXTURE_FRAGMENT_MAX,
                             g->height, g->fragment);
    if (g->rotations != 1 && g->rotations != 2 && g->rotations != 4)
        return fg_wire_fail (err, FG_ERANGE, ctx, 1, 164, "geometry.rotations",
                             "%" PRIu32 ", expected 1, 2 or 4", g->rotations);
    if (g->contrast_q8 > FG_WIRE_TEXTURE_CONTRAST_MAX)
        return fg_wire_fail (err, FG_ERANGE, ctx, 1, 168, "geometry.contrast_q8",
                             "%" PRIu32 " above %d", g->contrast_q8, FG_WIRE_TEXTURE_CONTRAST_MAX);
    if (g->table_size < FG_WIRE_TEXTURE_TABLE_MIN || g->table_size > FG_WIRE_TEXTURE_TABLE_MAX)
        return fg_wire_fail (err, FG_ERANGE, ctx, 1, 172, "geometry.table_size",
                             "%" PRIu32 " outside [%d, %u]", g->table_size,
                             FG_WIRE_TEXTURE_TABLE_MIN, FG_WIRE_TEXTURE_TABLE_MAX);
    return 0;
}

//  The geometry block, when present: the bounds of fg_wire_geometry_t.
static int
s_check_task (const fg_wire_msg_t *msg, const fg_wire_limits_t *lim,
              const fg_wire_ctx_t *ctx, fg_error_t *err)
{
    const fg_wire_task_t *t = &msg->task;
    if (!t->has_geometry && t->has_texture)
        return fg_wire_fail (err, FG_EINVAL, ctx, 1, 91, "geometry",
                             "texture words without the geometry block");
    if (!t->has_geometry)
        return 0;
    const fg_wire_geometry_t *g = &t->geometry;
    if (g->classes < 1 || g->classes > FG_WIRE_CLASSES_MAX)
        return fg_wire_fail (err, FG_ERANGE, ctx, 1, 140, "geometry.classes",
                             "%" PRIu32 " outside [1, %d]", g->classes, FG_WIRE_CLASSES_MAX);
    if (g->height < 1 || g->height > FG_WIRE_SIDE_MAX
    ||  g->width < 1 || g->width > FG_WIRE_SIDE_MAX)
        return fg_wire_fail (err, FG_ERANGE, ctx, 1, 144, "geometry.height",
                             "%" PRIu32 " x %" PRIu32 " outside [1, %d]", g->height, g->width,
                             FG_WIRE_SIDE_MAX);
    if (g->channels != 1 && g->channels != 3)
        return fg_wire_fail (err, FG_ERANGE, ctx, 1, 152, "geometry.channels",
                             "%" PRIu32 ", expected 1 or 3", g->channels);
    if ((uint64_t) g->height * g->width * g->channels > FG_WIRE_PIXELS_MAX)
        return fg_wire_fail (err, FG_ERANGE, ctx, 1, 144, "geometry.height",
                             "%" PRIu32 " x %" PRIu32 " x %" PRIu32 " values > %" PRIu64,
                             g->height, g->width, g->channels, FG_WIRE_PIXELS_MAX);
    return t->has_texture? s_check_texture (g, ctx, err): 0;
}

static int
s_check_weights_chunk (const fg_wire_msg_t *msg, const fg_wire_limits_t *lim,
                       const fg_wire_ctx_t *ctx, fg_error_t *err)
{
    const fg_wire_weights_chunk_t *c = &msg->weights_chunk;
    if (c->offset > c->total)
        return fg_wire_fail (err, FG_ERANGE, ctx, 1, 8, "offset",
                             "%" PRIu64 " past the blob's size %" PRIu64,
                             c->offset, c->total);
    int rc = fg_wire_check_cap (ctx, &s_weights_chunk_bulk [0], 2, c->size, lim, err);
    if (rc)
        return rc;
    if (c->size > c->total - c->offset)
        return fg_wire_fail (err, FG_ERANGE, ctx, 2, 0, "bytes",
                             "chunk of %zu bytes at %" PRIu64
                             " runs past the blob's size %" PRIu64,
                             c->size, c->offset, c->total);
    if (c->size == 0 && c->total > 0)
        return fg_wire_fail (err, FG_EFORMAT, ctx, 2, 0, "bytes",
                             "empty chunk of a blob of %" PRIu64 " bytes", c->total);
    if (c->size > 0 && !c->data)
        return fg_wire_fail (err, FG_EINVAL, ctx, 2, 0, "bytes", "NULL");
    return 0;
}

static int
s_check_data_chunk (const fg_wire_msg_t *msg, const fg_wire_limits_t *lim,
                    const fg_wire_ctx_t *ctx, fg_error_t *err)
{
    const fg_wire_data_chunk_t *c = &msg->data_chunk;
    if ((uint64_t) c->start + c->count > ((uint64_t) 1 << 32))
        return fg_wire_fail (err, FG_ERANGE, ctx, 1, 32, "start",
                             "samples [%u, +%u) end past 2^32", c->start, c->count);
    if (c->raw_size < 1 || c->raw_size > lim->max_chunk)
        return fg_wire_fail (err, FG_ERANGE, ctx, 1, 44, "raw_size",
                             "%" PRIu64 " outside [1, max_chunk %zu]",
                             c->raw_size, lim->max_chunk);
    if (c->record_size > 0 && (uint64_t) c->count * c->record_size != c->raw_size)
        return fg_wire_fail (err, FG_EFORMAT, ctx, 1, 44, "raw_size",
                             "%" PRIu64 " is not count %u x record_size %u",
                             c->raw_size, c->count, c->record_size);
    //  variable records: each at least its head and one byte, so a count
    //  the bytes cannot hold is refused before anything is decompressed
    if (c->record_size == 0 && c->count > c->raw_size / fg_wire_sample_bytes (1))
        return fg_wire_fail (err, FG_EFORMAT, ctx, 1, 36, "count",
                             "%u variable records cannot fit in %" PRIu64 " bytes",
                             c->count, c->raw_size);
    if (c->lz4_size < 1 || c->lz4_size > fg_wire_lz4_bound ((size_t) c->raw_size))
        return fg_wire_fail (err, FG_EFORMAT, ctx, 2, 0, "lz4",
                             "%zu bytes cannot be an LZ4 block of %" PRIu64 " bytes",
                             c->lz4_size, c->raw_size);
    if (!c->lz4)
        return fg_wire_fail (err, FG_EINVAL, ctx, 2, 0, "lz4", "NULL");
    return 0;
}

//  Decoder, after LZ4: variable records fill the chunk exactly.
static int
s_check_data_records (const fg_wire_msg_t *msg, const fg_wire_limits_t *lim,
                      const fg_wire_ctx_t *ctx, fg_error_t *err)
{
    const fg_wire_data_chunk_t *c = &msg->data_chunk;
    if (c->record_size > 0)
        return 0;
    fg_error_t why;
    if (fg_wire_samples_check (c->samples, (size_t) c->raw_size, c->count, &why))
        return fg_wire_fail (err, FG_EFORMAT, ctx, 2, 0, "samples", "%s", why.msg);
    return 0;
}

static int
s_check_result (const fg_wire_msg_t *msg, const fg_wire_limits_t *lim,
                const fg_wire_ctx_t *ctx, fg_error_t *err)
{
    const fg_wire_result_t *r = &msg->result;
    int rc = fg_wire_check_cap (ctx, &s_result_bulk [1], 3, r->prefix_size, lim, err);
    if (rc)
        return rc;
    if (r->prefix_size > r->update_size)
        return fg_wire_fail (err, FG_ERANGE, ctx, 3, 0, "prefix",
                             "%zu bytes > update_size %" PRIu64,
                             r->prefix_size, r->update_size);
    if (r->prefix_size > 0 && !r->prefix)
        return fg_wire_fail (err, FG_EINVAL, ctx, 3, 0, "prefix", "NULL");
    return 0;
}
