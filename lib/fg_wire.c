/*  fg_wire.c — codec of the coordinator-trainer protocol (see fg_wire.h,
    docs/protocol.md for the byte layout).

    Decoding is in three steps: (1) the header and the frame list, before
    any payload byte is read: sizes, magic, version, type, flags, frame
    count, frame bounds, payload length, checksum; (2) the body of the type:
    exact sizes of every frame computed from counts that were bounded
    first, then one allocation (never larger than the payload plus a
    bounded decompressed size) for the variable parts; (3) s_validate, the
    rules shared with the encoder (enumerations, finite numbers, ranges
    sorted, sums, chunk bounds). The encoder runs s_validate first, so
    what it emits always decodes to the same message.                   */

#include "fg_le.h"
#include "fg_wire.h"

#include <assert.h>
#include <inttypes.h>
#include <lz4.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "fg_config.h"

//  Header layout (bytes)
#define H_MAGIC         0
#define H_VERSION       4
#define H_TYPE          6
#define H_FLAGS         7
#define H_EXPERIMENT    8
#define H_ROUND        16
#define H_SHARD        20
#define H_ATTEMPT      24
#define H_PAYLOAD      28
#define H_CHECKSUM     36
#define H_CRC_SPAN     36       //  the checksum covers header [0, 36)

//  Fixed body sizes (bytes) and field offsets, per type.
#define HELLO_FIXED    20
#define READY_SIZE      4
#define TASK_SIZE     140
#define WREQ_SIZE      25
#define WCHUNK_SIZE    57
#define DREQ_SIZE      44
#define DCHUNK_SIZE    52
#define RESULT_SIZE    64
#define ACK_SIZE        1
#define REJECT_FIXED    4
#define ERROR_FIXED     5
#define RANGE_SIZE      8

#define TASK_FLAG_NESTEROV  0x01
#define TASK_FLAG_AUGMENT   0x02
#define TASK_FLAGS_KNOWN    0x03

//  Payload frames (after the header) of each type, indexed by type.
static const uint8_t s_payload_frames [FG_WIRE_TYPE_MAX + 1] = {
    0,      //  (none)
    1,      //  HELLO: body
    1,      //  READY: body
    0,      //  HEARTBEAT
    2,      //  TASK: body, ranges
    1,      //  WEIGHTS-REQUEST: body
    2,      //  WEIGHTS-CHUNK: body, bytes
    2,      //  DATA-REQUEST: body, ranges
    2,      //  DATA-CHUNK: body, LZ4 bytes
    3,      //  RESULT: body, loss curve, update prefix
    1,      //  ACK: body
    1,      //  REJECT: body
    1,      //  ERROR: body
    0       //  BYE
};

static const char *s_type_names [FG_WIRE_TYPE_MAX + 1] = {
    "unknown", "HELLO", "READY", "HEARTBEAT", "TASK", "WEIGHTS-REQUEST",
    "WEIGHTS-CHUNK", "DATA-REQUEST", "DATA-CHUNK", "RESULT", "ACK", "REJECT",
    "ERROR", "BYE"
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
    return s_type_names [type];
}

const char *
fg_wire_reason_name (int reason)
{
    if (reason < 0 || reason > FG_WIRE_REASON_MAX)
        return "unknown";
    return s_reason_names [reason];
}


//  --------------------------------------------------------------------------
//  Little-endian fixed-width access (no alignment assumed)


//  --------------------------------------------------------------------------
//  Error context: "wire decode TASK: frame 1 offset 64 (lr): not finite"

typedef struct {
    const char *op;             //  "encode" or "decode"
    int type;
} s_ctx_t;

static int
s_fail (fg_error_t *err, int code, const s_ctx_t *ctx, size_t frame,
        size_t offset, const char *field, const char *fmt, ...)
    __attribute__ ((format (printf, 7, 8)));

static int
s_fail (fg_error_t *err, int code, const s_ctx_t *ctx, size_t frame,
        size_t offset, const char *field, const char *fmt, ...)
{
    if (!err)
        return code;
    char why [FG_ERROR_MSG_MAX];
    va_list args;
    va_start (args, fmt);
    vsnprintf (why, sizeof why, fmt, args);
    va_end (args);
    return fg_error_set (err, code, "wire %s %s: frame %zu offset %zu (%s): %s",
                         ctx->op, ctx->type >= 1 && ctx->type <= FG_WIRE_TYPE_MAX
                         ? s_type_names [ctx->type]: "message",
                         frame, offset, field, why);
}


//  --------------------------------------------------------------------------
//  Limits

void
fg_wire_limits_default (fg_wire_limits_t *limits)
{
    assert (limits);
    limits->max_frame = FG_WIRE_FRAME_DEFAULT;
    limits->max_chunk = FG_WIRE_CHUNK_DEFAULT;
}

static int
s_limits (const fg_wire_limits_t *in, fg_wire_limits_t *out, fg_error_t *err);

//  Largest LZ4 block for n input bytes (LZ4_compressBound, in size_t).
static size_t
s_lz4_bound (size_t n)
{
    return n + n / 255 + 16;
}

int
fg_wire_limits_check (const fg_wire_limits_t *limits, fg_error_t *err)
{
    assert (limits);
    if (limits->max_frame < FG_WIRE_FRAME_MIN || limits->max_frame > FG_WIRE_FRAME_LIMIT)
        return fg_error_set (err, FG_ERANGE,
            "wire limits: max_frame %zu outside [%u, %u]",
            limits->max_frame, FG_WIRE_FRAME_MIN, FG_WIRE_FRAME_LIMIT);
    if (limits->max_chunk < 1 || limits->max_chunk > limits->max_frame - FG_WIRE_FRAME_MIN)
        return fg_error_set (err, FG_ERANGE,
            "wire limits: max_chunk %zu outside [1, max_frame %zu - %u]",
            limits->max_chunk, limits->max_frame, FG_WIRE_FRAME_MIN);
    return 0;
}

size_t
fg_wire_data_raw_max (const fg_wire_limits_t *limits)
{
    fg_wire_limits_t lim;
    if (s_limits (limits, &lim, NULL))
        return 0;
    //  largest n with s_lz4_bound (n) <= max_frame, from below
    size_t n = (lim.max_frame - 16) / 256 * 255;
    while (s_lz4_bound (n + 1) <= lim.max_frame)
        n++;
    return n < lim.max_chunk? n: lim.max_chunk;
}

static int
s_limits (const fg_wire_limits_t *in, fg_wire_limits_t *out, fg_error_t *err)
{
    if (in)
        *out = *in;
    else
        fg_wire_limits_default (out);
    return fg_wire_limits_check (out, err);
}


//  --------------------------------------------------------------------------
//  Shared validation of a message's fields (encoder before writing,
//  decoder after parsing). Offsets name the field's place in the body.

//  Checks len bytes of a string field: every byte in [lo, '~'] or >= 0x80
//  when high is allowed. Returns the index of the first bad byte or len.
static size_t
s_bad_char (const uint8_t *s, size_t len, uint8_t lo, bool high)
{
    for (size_t i = 0; i < len; i++) {
        uint8_t c = s [i];
        if (c == 0x7f || c < lo || (c > 0x7f && !high))
            return i;
    }
    return len;
}

static int
s_check_text (const s_ctx_t *ctx, size_t offset, const char *field,
              const uint8_t *s, size_t len, size_t min, size_t max,
              uint8_t lo, bool high, fg_error_t *err)
{
    if (len < min || len > max)
        return s_fail (err, FG_ERANGE, ctx, 1, offset, field,
                       "length %zu outside [%zu, %zu]", len, min, max);
    size_t bad = s_bad_char (s, len, lo, high);
    if (bad < len)
        return s_fail (err, FG_EFORMAT, ctx, 1, offset + bad, field,
                       "byte 0x%02x not allowed at position %zu", s [bad], bad);
    return 0;
}

static int
s_check_ranges (const s_ctx_t *ctx, const fg_wire_range_t *ranges,
                uint32_t count, uint64_t sample_count, size_t count_offset,
                fg_error_t *err)
{
    if (count < 1 || count > FG_WIRE_RANGES_MAX)
        return s_fail (err, FG_ERANGE, ctx, 1, count_offset, "range_count",
                       "%u outside [1, %u]", count, FG_WIRE_RANGES_MAX);
    if (!ranges)
        return s_fail (err, FG_EINVAL, ctx, 2, 0, "ranges", "NULL");
    uint64_t sum = 0;
    uint64_t prev_end = 0;
    for (uint32_t i = 0; i < count; i++) {
        uint64_t start = ranges [i].start;
        uint64_t n = ranges [i].count;
        if (n == 0)
            return s_fail (err, FG_ERANGE, ctx, 2, (size_t) i * RANGE_SIZE + 4,
                           "ranges.count", "range %u has count 0", i);
        //  start < 2^32 and n < 2^32: no overflow in 64 bits
        if (start + n > ((uint64_t) 1 << 32))
            return s_fail (err, FG_ERANGE, ctx, 2, (size_t) i * RANGE_SIZE,
                           "ranges", "range %u [%" PRIu64 ", +%" PRIu64
                           ") ends past 2^32", i, start, n);
        if (i > 0 && start < prev_end)
            return s_fail (err, FG_EFORMAT, ctx, 2, (size_t) i * RANGE_SIZE,
                           "ranges.start", "range %u starts at %" PRIu64
                           ", before the end %" PRIu64 " of range %u "
                           "(ranges must be sorted and disjoint)",
                           i, start, prev_end, i - 1);
        prev_end = start + n;
        sum += n;
    }
    if (sum != sample_count)
        return s_fail (err, FG_EFORMAT, ctx, 1, count_offset - 8, "sample_count",
                       "%" PRIu64 " but the ranges hold %" PRIu64,
                       sample_count, sum);
    return 0;
}

static int
s_check_hyper (const s_ctx_t *ctx, size_t offset, const char *field,
               double value, double upper, fg_error_t *err)
{
    if (!isfinite (value))
        return s_fail (err, FG_ENUMERIC, ctx, 1, offset, field, "not finite");
    if (value < 0 || value >= upper)
        return s_fail (err, FG_ERANGE, ctx, 1, offset, field,
                       "%g outside [0, %g)", value, upper);
    return 0;
}

static int
s_check_u32 (const s_ctx_t *ctx, size_t offset, const char *field,
             uint64_t value, uint64_t lo, uint64_t hi, fg_error_t *err)
{
    if (value < lo || value > hi)
        return s_fail (err, FG_ERANGE, ctx, 1, offset, field,
                       "%" PRIu64 " outside [%" PRIu64 ", %" PRIu64 "]",
                       value, lo, hi);
    return 0;
}

static int
s_check_type_ref (const s_ctx_t *ctx, size_t offset, int of_type, fg_error_t *err)
{
    if (of_type < 1 || of_type > FG_WIRE_TYPE_MAX)
        return s_fail (err, FG_ERANGE, ctx, 1, offset, "of_type",
                       "%d is not a message type", of_type);
    return 0;
}

static int
s_validate (const fg_wire_msg_t *msg, const fg_wire_limits_t *lim,
            const s_ctx_t *ctx, fg_error_t *err)
{
    int rc = 0;
    switch (msg->type) {
        case FG_WIRE_HELLO: {
            const fg_wire_hello_t *h = &msg->hello;
            if (h->proto_min < 1 || h->proto_min > h->proto_max)
                return s_fail (err, FG_ERANGE, ctx, 1, 0, "proto_min",
                               "versions [%u, %u] are not 1 <= min <= max",
                               h->proto_min, h->proto_max);
            if ((rc = s_check_u32 (ctx, 4, "cores", h->cores, 1, FG_WIRE_CORES_MAX, err)))
                return rc;
            if (!isfinite (h->speed))
                return s_fail (err, FG_ENUMERIC, ctx, 1, 8, "speed", "not finite");
            if (h->speed < 0)
                return s_fail (err, FG_ERANGE, ctx, 1, 8, "speed",
                               "%g is negative", h->speed);
            if (h->dataset_count > FG_WIRE_DATASETS_MAX)
                return s_fail (err, FG_ERANGE, ctx, 1, 18, "dataset_count",
                               "%u > %u", h->dataset_count, FG_WIRE_DATASETS_MAX);
            //  strings: checked on the wire bytes by the decoder, here for
            //  the encoder (a string must be terminated within its array)
            size_t len = strnlen (h->node_id, sizeof h->node_id);
            if ((rc = s_check_text (ctx, HELLO_FIXED, "node_id",
                                    (const uint8_t *) h->node_id, len, 1,
                                    FG_WIRE_NAME_MAX, '!', false, err)))
                return rc;
            size_t klen = strnlen (h->kernel, sizeof h->kernel);
            return s_check_text (ctx, HELLO_FIXED + len, "kernel",
                                 (const uint8_t *) h->kernel, klen, 0,
                                 FG_WIRE_NAME_MAX, ' ', false, err);
        }
        case FG_WIRE_READY:
            return s_check_u32 (ctx, 0, "slots", msg->ready.slots, 1,
                                FG_WIRE_SLOTS_MAX, err);
        case FG_WIRE_TASK: {
            const fg_wire_task_t *t = &msg->task;
            if ((rc = s_check_u32 (ctx, 56, "local_epochs", t->local_epochs, 1,
                                   FG_WIRE_EPOCHS_MAX, err))
            ||  (rc = s_check_u32 (ctx, 60, "batch_size", t->batch_size, 1,
                                   FG_WIRE_BATCH_MAX, err))
            ||  (rc = s_check_hyper (ctx, 64, "lr", t->lr, INFINITY, err))
            ||  (rc = s_check_hyper (ctx, 72, "momentum", t->momentum, 1.0, err))
            ||  (rc = s_check_hyper (ctx, 80, "weight_decay", t->weight_decay,
                                     INFINITY, err))
            ||  (rc = s_check_u32 (ctx, 89, "model", t->model, 0,
                                   FG_MODEL_MOBILENETV3_LARGE, err))
            ||  (rc = s_check_u32 (ctx, 90, "dataset", t->dataset, 0,
                                   FG_DATASET_SYNTHETIC, err)))
                return rc;
            return s_check_ranges (ctx, t->ranges, t->range_count,
                                   t->sample_count, 136, err);
        }
        case FG_WIRE_WEIGHTS_REQUEST: {
            const fg_wire_weights_request_t *r = &msg->weights_request;
            if ((rc = s_check_u32 (ctx, 16, "credit", r->credit, 1,
                                   FG_WIRE_CREDIT_MAX, err))
            ||  (rc = s_check_u32 (ctx, 20, "chunk_size", r->chunk_size, 1,
                                   lim->max_chunk, err))
            ||  (rc = s_check_u32 (ctx, 24, "blob", r->blob, 0,
                                   FG_WIRE_BLOB_UPDATE, err)))
                return rc;
            return 0;
        }
        case FG_WIRE_WEIGHTS_CHUNK: {
            const fg_wire_weights_chunk_t *c = &msg->weights_chunk;
            if ((rc = s_check_u32 (ctx, 56, "blob", c->blob, 0,
                                   FG_WIRE_BLOB_UPDATE, err)))
                return rc;
            if (c->offset > c->total)
                return s_fail (err, FG_ERANGE, ctx, 1, 8, "offset",
                               "%" PRIu64 " past the blob's size %" PRIu64,
                               c->offset, c->total);
            if (c->size > lim->max_chunk)
                return s_fail (err, FG_ERANGE, ctx, 2, 0, "bytes",
                               "chunk of %zu bytes > max_chunk %zu",
                               c->size, lim->max_chunk);
            if (c->size > c->total - c->offset)
                return s_fail (err, FG_ERANGE, ctx, 2, 0, "bytes",
                               "chunk of %zu bytes at %" PRIu64
                               " runs past the blob's size %" PRIu64,
                               c->size, c->offset, c->total);
            if (c->size == 0 && c->total > 0)
                return s_fail (err, FG_EFORMAT, ctx, 2, 0, "bytes",
                               "empty chunk of a blob of %" PRIu64 " bytes",
                               c->total);
            if (c->size > 0 && !c->data)
                return s_fail (err, FG_EINVAL, ctx, 2, 0, "bytes", "NULL");
            return 0;
        }
        case FG_WIRE_DATA_REQUEST: {
            const fg_wire_data_request_t *r = &msg->data_request;
            return s_check_ranges (ctx, r->ranges, r->range_count,
                                   r->sample_count, 40, err);
        }
        case FG_WIRE_DATA_CHUNK: {
            const fg_wire_data_chunk_t *c = &msg->data_chunk;
            if ((rc = s_check_u32 (ctx, 36, "count", c->count, 1, UINT32_MAX, err)))
                return rc;
            if ((uint64_t) c->start + c->count > ((uint64_t) 1 << 32))
                return s_fail (err, FG_ERANGE, ctx, 1, 32, "start",
                               "samples [%u, +%u) end past 2^32",
                               c->start, c->count);
            if (c->raw_size < 1 || c->raw_size > lim->max_chunk)
                return s_fail (err, FG_ERANGE, ctx, 1, 44, "raw_size",
                               "%" PRIu64 " outside [1, max_chunk %zu]",
                               c->raw_size, lim->max_chunk);
            if (c->record_size > 0
            &&  (uint64_t) c->count * c->record_size != c->raw_size)
                return s_fail (err, FG_EFORMAT, ctx, 1, 44, "raw_size",
                               "%" PRIu64 " is not count %u x record_size %u",
                               c->raw_size, c->count, c->record_size);
            if (c->lz4_size < 1 || c->lz4_size > s_lz4_bound ((size_t) c->raw_size))
                return s_fail (err, FG_EFORMAT, ctx, 2, 0, "lz4",
                               "%zu bytes cannot be an LZ4 block of %" PRIu64
                               " bytes", c->lz4_size, c->raw_size);
            if (!c->lz4)
                return s_fail (err, FG_EINVAL, ctx, 2, 0, "lz4", "NULL");
            return 0;
        }
        case FG_WIRE_RESULT: {
            const fg_wire_result_t *r = &msg->result;
            if (r->sample_count < 1)
                return s_fail (err, FG_ERANGE, ctx, 1, 8, "sample_count", "0");
            if (r->loss_count > FG_WIRE_LOSS_MAX)
                return s_fail (err, FG_ERANGE, ctx, 1, 20, "loss_count",
                               "%u > %u", r->loss_count, FG_WIRE_LOSS_MAX);
            if (r->loss_count > 0 && !r->loss)
                return s_fail (err, FG_EINVAL, ctx, 2, 0, "loss", "NULL");
            if (r->prefix_size > lim->max_chunk)
                return s_fail (err, FG_ERANGE, ctx, 3, 0, "prefix",
                               "%zu bytes > max_chunk %zu",
                               r->prefix_size, lim->max_chunk);
            if (r->prefix_size > r->update_size)
                return s_fail (err, FG_ERANGE, ctx, 3, 0, "prefix",
                               "%zu bytes > update_size %" PRIu64,
                               r->prefix_size, r->update_size);
            if (r->prefix_size > 0 && !r->prefix)
                return s_fail (err, FG_EINVAL, ctx, 3, 0, "prefix", "NULL");
            return 0;
        }
        case FG_WIRE_ACK:
            return s_check_type_ref (ctx, 0, msg->ack.of_type, err);
        case FG_WIRE_REJECT: {
            const fg_wire_reject_t *r = &msg->reject;
            if ((rc = s_check_type_ref (ctx, 0, r->of_type, err))
            ||  (rc = s_check_u32 (ctx, 1, "reason", r->reason, 0,
                                   FG_WIRE_REASON_MAX, err)))
                return rc;
            return s_check_text (ctx, REJECT_FIXED, "text", (const uint8_t *) r->text,
                                 strnlen (r->text, sizeof r->text), 0,
                                 FG_WIRE_TEXT_MAX, ' ', true, err);
        }
        case FG_WIRE_ERROR: {
            const fg_wire_error_t *e = &msg->error;
            if (e->code < FG_ECODE_MIN || e->code > -1)
                return s_fail (err, FG_ERANGE, ctx, 1, 0, "code",
                               "%d is not an FG_E* code", (int) e->code);
            return s_check_text (ctx, ERROR_FIXED, "text", (const uint8_t *) e->text,
                                 strnlen (e->text, sizeof e->text), 0,
                                 FG_WIRE_TEXT_MAX, ' ', true, err);
        }
        case FG_WIRE_HEARTBEAT:
        case FG_WIRE_BYE:
            return 0;
        default:
            return s_fail (err, FG_EINVAL, ctx, 0, H_TYPE, "type",
                           "%d is not a message type", msg->type);
    }
}


//  --------------------------------------------------------------------------
//  Encoder

static void
s_write_ranges (uint8_t *p, const fg_wire_range_t *ranges, uint32_t count)
{
    for (uint32_t i = 0; i < count; i++, p += RANGE_SIZE) {
        fg_le_put32 (p, ranges [i].start);
        fg_le_put32 (p + 4, ranges [i].count);
    }
}

void
fg_wire_frames_clear (fg_wire_frames_t *frames)
{
    if (!frames)
        return;
    free (frames->storage_);
    memset (frames, 0, sizeof *frames);
}

int
fg_wire_encode (const fg_wire_msg_t *msg, const fg_wire_limits_t *limits,
                fg_wire_frames_t *frames, fg_error_t *err)
{
    assert (msg);
    assert (frames);
    memset (frames, 0, sizeof *frames);
    fg_wire_limits_t lim;
    int rc = s_limits (limits, &lim, err);
    if (rc)
        return rc;
    s_ctx_t ctx = { "encode", msg->type };
    if ((rc = s_validate (msg, &lim, &ctx, err)))
        return rc;

    //  Sizes: body, and a converted bulk frame (ranges, floats) if any
    size_t body = 0, bulk = 0;
    switch (msg->type) {
        case FG_WIRE_HELLO:
            body = HELLO_FIXED + strlen (msg->hello.node_id)
                 + strlen (msg->hello.kernel)
                 + (size_t) msg->hello.dataset_count * FG_WIRE_HASH_SIZE;
            break;
        case FG_WIRE_READY:           body = READY_SIZE; break;
        case FG_WIRE_TASK:
            body = TASK_SIZE;
            bulk = (size_t) msg->task.range_count * RANGE_SIZE;
            break;
        case FG_WIRE_WEIGHTS_REQUEST: body = WREQ_SIZE; break;
        case FG_WIRE_WEIGHTS_CHUNK:   body = WCHUNK_SIZE; break;
        case FG_WIRE_DATA_REQUEST:
            body = DREQ_SIZE;
            bulk = (size_t) msg->data_request.range_count * RANGE_SIZE;
            break;
        case FG_WIRE_DATA_CHUNK:      body = DCHUNK_SIZE; break;
        case FG_WIRE_RESULT:
            body = RESULT_SIZE;
            bulk = (size_t) msg->result.loss_count * 4;
            break;
        case FG_WIRE_ACK:             body = ACK_SIZE; break;
        case FG_WIRE_REJECT:          body = REJECT_FIXED + strlen (msg->reject.text); break;
        case FG_WIRE_ERROR:           body = ERROR_FIXED + strlen (msg->error.text); break;
        default:                      break;
    }
    if (bulk > lim.max_frame)
        return s_fail (err, FG_ERANGE, &ctx, 2, 0, "frame",
                       "%zu bytes > max_frame %zu", bulk, lim.max_frame);
    uint8_t *store = (uint8_t *) calloc (1, FG_WIRE_HEADER_SIZE + body + bulk);
    if (!store)
        return fg_error_set (err, FG_ENOMEM, "wire encode %s: out of memory "
                             "for %zu bytes", fg_wire_type_name (msg->type),
                             FG_WIRE_HEADER_SIZE + body + bulk);
    uint8_t *h = store;
    uint8_t *b = store + FG_WIRE_HEADER_SIZE;
    uint8_t *k = b + body;
    frames->storage_ = store;
    frames->frame [0] = (fg_wire_frame_t) { h, FG_WIRE_HEADER_SIZE };
    size_t n = 1;
    if (s_payload_frames [msg->type] >= 1)
        frames->frame [n++] = (fg_wire_frame_t) { b, body };

    switch (msg->type) {
        case FG_WIRE_HELLO: {
            const fg_wire_hello_t *m = &msg->hello;
            size_t nl = strlen (m->node_id), kl = strlen (m->kernel);
            fg_le_put16 (b + 0, m->proto_min);
            fg_le_put16 (b + 2, m->proto_max);
            fg_le_put32 (b + 4, m->cores);
            fg_le_putf64 (b + 8, m->speed);
            b [16] = (uint8_t) nl;
            b [17] = (uint8_t) kl;
            fg_le_put16 (b + 18, (uint16_t) m->dataset_count);
            memcpy (b + HELLO_FIXED, m->node_id, nl);
            memcpy (b + HELLO_FIXED + nl, m->kernel, kl);
            if (m->dataset_count)
                memcpy (b + HELLO_FIXED + nl + kl, m->datasets,
                        (size_t) m->dataset_count * FG_WIRE_HASH_SIZE);
            break;
        }
        case FG_WIRE_READY:
            fg_le_put32 (b, msg->ready.slots);
            break;
        case FG_WIRE_TASK: {
            const fg_wire_task_t *m = &msg->task;
            fg_le_put64 (b + 0, m->weights_version);
            fg_le_put64 (b + 8, m->weights_size);
            memcpy (b + 16, m->weights_hash, FG_WIRE_HASH_SIZE);
            fg_le_put64 (b + 48, m->seed);
            fg_le_put32 (b + 56, m->local_epochs);
            fg_le_put32 (b + 60, m->batch_size);
            fg_le_putf64 (b + 64, m->lr);
            fg_le_putf64 (b + 72, m->momentum);
            fg_le_putf64 (b + 80, m->weight_decay);
            b [88] = (uint8_t) ((m->nesterov? TASK_FLAG_NESTEROV: 0)
                              | (m->augment? TASK_FLAG_AUGMENT: 0));
            b [89] = m->model;
            b [90] = m->dataset;
            b [91] = 0;
            memcpy (b + 92, m->dataset_hash, FG_WIRE_HASH_SIZE);
            fg_le_put32 (b + 124, m->deadline_ms);
            fg_le_put64 (b + 128, m->sample_count);
            fg_le_put32 (b + 136, m->range_count);
            s_write_ranges (k, m->ranges, m->range_count);
            frames->frame [n++] = (fg_wire_frame_t) { k, bulk };
            break;
        }
        case FG_WIRE_WEIGHTS_REQUEST: {
            const fg_wire_weights_request_t *m = &msg->weights_request;
            fg_le_put64 (b + 0, m->version);
            fg_le_put64 (b + 8, m->offset);
            fg_le_put32 (b + 16, m->credit);
            fg_le_put32 (b + 20, m->chunk_size);
            b [24] = m->blob;
            break;
        }
        case FG_WIRE_WEIGHTS_CHUNK: {
            const fg_wire_weights_chunk_t *m = &msg->weights_chunk;
            fg_le_put64 (b + 0, m->version);
            fg_le_put64 (b + 8, m->offset);
            fg_le_put64 (b + 16, m->total);
            memcpy (b + 24, m->hash, FG_WIRE_HASH_SIZE);
            b [56] = m->blob;
            frames->frame [n++] = (fg_wire_frame_t) { m->data, m->size };
            break;
        }
        case FG_WIRE_DATA_REQUEST: {
            const fg_wire_data_request_t *m = &msg->data_request;
            memcpy (b, m->dataset_hash, FG_WIRE_HASH_SIZE);
            fg_le_put64 (b + 32, m->sample_count);
            fg_le_put32 (b + 40, m->range_count);
            s_write_ranges (k, m->ranges, m->range_count);
            frames->frame [n++] = (fg_wire_frame_t) { k, bulk };
            break;
        }
        case FG_WIRE_DATA_CHUNK: {
            const fg_wire_data_chunk_t *m = &msg->data_chunk;
            memcpy (b, m->dataset_hash, FG_WIRE_HASH_SIZE);
            fg_le_put32 (b + 32, m->start);
            fg_le_put32 (b + 36, m->count);
            fg_le_put32 (b + 40, m->record_size);
            fg_le_put64 (b + 44, m->raw_size);
            frames->frame [n++] = (fg_wire_frame_t) { m->lz4, m->lz4_size };
            break;
        }
        case FG_WIRE_RESULT: {
            const fg_wire_result_t *m = &msg->result;
            fg_le_put64 (b + 0, m->weights_version);
            fg_le_put64 (b + 8, m->sample_count);
            fg_le_put32 (b + 16, m->elapsed_ms);
            fg_le_put32 (b + 20, m->loss_count);
            fg_le_put64 (b + 24, m->update_size);
            memcpy (b + 32, m->update_hash, FG_WIRE_HASH_SIZE);
            for (uint32_t i = 0; i < m->loss_count; i++) {
                uint32_t bits;
                memcpy (&bits, &m->loss [i], sizeof bits);
                fg_le_put32 (k + 4 * (size_t) i, bits);
            }
            frames->frame [n++] = (fg_wire_frame_t) { k, bulk };
            frames->frame [n++] = (fg_wire_frame_t) { m->prefix, m->prefix_size };
            break;
        }
        case FG_WIRE_ACK:
            b [0] = msg->ack.of_type;
            break;
        case FG_WIRE_REJECT: {
            size_t len = body - REJECT_FIXED;
            b [0] = msg->reject.of_type;
            fg_le_put16 (b + 1, msg->reject.reason);
            b [3] = (uint8_t) len;
            memcpy (b + REJECT_FIXED, msg->reject.text, len);
            break;
        }
        case FG_WIRE_ERROR: {
            size_t len = body - ERROR_FIXED;
            fg_le_put32 (b, (uint32_t) msg->error.code);
            b [4] = (uint8_t) len;
            memcpy (b + ERROR_FIXED, msg->error.text, len);
            break;
        }
        default:
            break;
    }
    assert (n == 1 + (size_t) s_payload_frames [msg->type]);
    frames->count = n;

    //  Header last: payload length and checksum over what was written
    uint64_t payload = 0;
    for (size_t i = 1; i < n; i++) {
        if (frames->frame [i].size > lim.max_frame) {
            fg_wire_frames_clear (frames);
            return s_fail (err, FG_ERANGE, &ctx, i, 0, "frame",
                           "%zu bytes > max_frame %zu",
                           frames->frame [i].size, lim.max_frame);
        }
        payload += frames->frame [i].size;
    }
    memcpy (h + H_MAGIC, FG_WIRE_MAGIC, 4);
    fg_le_put16 (h + H_VERSION, FG_WIRE_VERSION);
    h [H_TYPE] = (uint8_t) msg->type;
    h [H_FLAGS] = 0;
    fg_le_put64 (h + H_EXPERIMENT, msg->experiment);
    fg_le_put32 (h + H_ROUND, msg->round);
    fg_le_put32 (h + H_SHARD, msg->shard);
    fg_le_put32 (h + H_ATTEMPT, msg->attempt);
    fg_le_put64 (h + H_PAYLOAD, payload);
    uLong crc = crc32_z (0L, h, H_CRC_SPAN);
    for (size_t i = 1; i < n; i++)
        if (frames->frame [i].size)
            crc = crc32_z (crc, frames->frame [i].data, frames->frame [i].size);
    fg_le_put32 (h + H_CHECKSUM, (uint32_t) crc);
    return 0;
}


//  --------------------------------------------------------------------------
//  Decoder

void
fg_wire_msg_clear (fg_wire_msg_t *msg)
{
    if (!msg)
        return;
    free (msg->storage_);
    memset (msg, 0, sizeof *msg);
}

static void
s_read_ranges (fg_wire_range_t *ranges, const uint8_t *p, uint32_t count)
{
    for (uint32_t i = 0; i < count; i++, p += RANGE_SIZE) {
        ranges [i].start = fg_le_get32 (p);
        ranges [i].count = fg_le_get32 (p + 4);
    }
}

//  Checks a body frame's size: exactly `want` bytes.
static int
s_body_size (const s_ctx_t *ctx, const fg_wire_frame_t *f, size_t index,
             size_t want, const char *what, fg_error_t *err)
{
    if (f->size != want)
        return s_fail (err, FG_EFORMAT, ctx, index, f->size < want? f->size: want,
                       what, "frame of %zu bytes, expected %zu", f->size, want);
    return 0;
}

//  Bounded count, then the bulk frame holds exactly count x item bytes.
static int
s_bulk_size (const s_ctx_t *ctx, const fg_wire_frame_t *f, size_t index,
             uint64_t count, uint64_t max, size_t count_offset, const char *count_name,
             size_t item, const char *what, fg_error_t *err)
{
    if (count > max)
        return s_fail (err, FG_ERANGE, ctx, 1, count_offset, count_name,
                       "%" PRIu64 " > %" PRIu64, count, max);
    //  count <= 2^24 and item <= 8: no overflow
    if (f->size != count * item)
        return s_fail (err, FG_EFORMAT, ctx, index, f->size, what,
                       "frame of %zu bytes, %s %" PRIu64 " needs %" PRIu64,
                       f->size, count_name, count, count * item);
    return 0;
}

//  Parses the body frames of a type whose header and frame list were
//  checked. Sets pointers into a new storage block.
static int
s_parse (const fg_wire_frame_t *f, const fg_wire_limits_t *lim,
         const s_ctx_t *ctx, fg_wire_msg_t *msg, fg_error_t *err)
{
    const uint8_t *b = f [1].data;     //  body (types without one return early)
    int rc = 0;
    switch (msg->type) {
        case FG_WIRE_HEARTBEAT:
        case FG_WIRE_BYE:
            return 0;
        case FG_WIRE_HELLO: {
            fg_wire_hello_t *m = &msg->hello;
            if (f [1].size < HELLO_FIXED)
                return s_body_size (ctx, &f [1], 1, HELLO_FIXED, "body", err);
            m->proto_min = fg_le_get16 (b + 0);
            m->proto_max = fg_le_get16 (b + 2);
            m->cores = fg_le_get32 (b + 4);
            m->speed = fg_le_getf64 (b + 8);
            size_t nl = b [16], kl = b [17];
            m->dataset_count = fg_le_get16 (b + 18);
            if (nl < 1 || nl > FG_WIRE_NAME_MAX)
                return s_fail (err, FG_ERANGE, ctx, 1, 16, "node_id_len",
                               "%zu outside [1, %u]", nl, FG_WIRE_NAME_MAX);
            if (kl > FG_WIRE_NAME_MAX)
                return s_fail (err, FG_ERANGE, ctx, 1, 17, "kernel_len",
                               "%zu > %u", kl, FG_WIRE_NAME_MAX);
            if (m->dataset_count > FG_WIRE_DATASETS_MAX)
                return s_fail (err, FG_ERANGE, ctx, 1, 18, "dataset_count",
                               "%u > %u", m->dataset_count, FG_WIRE_DATASETS_MAX);
            size_t want = HELLO_FIXED + nl + kl
                        + (size_t) m->dataset_count * FG_WIRE_HASH_SIZE;
            if ((rc = s_body_size (ctx, &f [1], 1, want, "body", err)))
                return rc;
            //  strings checked on the wire bytes: a NUL would hide the rest
            if ((rc = s_check_text (ctx, HELLO_FIXED, "node_id", b + HELLO_FIXED,
                                    nl, 1, FG_WIRE_NAME_MAX, '!', false, err))
            ||  (rc = s_check_text (ctx, HELLO_FIXED + nl, "kernel",
                                    b + HELLO_FIXED + nl, kl, 0,
                                    FG_WIRE_NAME_MAX, ' ', false, err)))
                return rc;
            memcpy (m->node_id, b + HELLO_FIXED, nl);
            memcpy (m->kernel, b + HELLO_FIXED + nl, kl);
            if (m->dataset_count)
                memcpy (m->datasets, b + HELLO_FIXED + nl + kl,
                        (size_t) m->dataset_count * FG_WIRE_HASH_SIZE);
            return 0;
        }
        case FG_WIRE_READY:
            if ((rc = s_body_size (ctx, &f [1], 1, READY_SIZE, "body", err)))
                return rc;
            msg->ready.slots = fg_le_get32 (b);
            return 0;
        case FG_WIRE_TASK: {
            fg_wire_task_t *m = &msg->task;
            if ((rc = s_body_size (ctx, &f [1], 1, TASK_SIZE, "body", err)))
                return rc;
            m->weights_version = fg_le_get64 (b + 0);
            m->weights_size = fg_le_get64 (b + 8);
            memcpy (m->weights_hash, b + 16, FG_WIRE_HASH_SIZE);
            m->seed = fg_le_get64 (b + 48);
            m->local_epochs = fg_le_get32 (b + 56);
            m->batch_size = fg_le_get32 (b + 60);
            m->lr = fg_le_getf64 (b + 64);
            m->momentum = fg_le_getf64 (b + 72);
            m->weight_decay = fg_le_getf64 (b + 80);
            if (b [88] & ~TASK_FLAGS_KNOWN)
                return s_fail (err, FG_EFORMAT, ctx, 1, 88, "flags",
                               "unknown bits 0x%02x", b [88] & ~TASK_FLAGS_KNOWN);
            m->nesterov = (b [88] & TASK_FLAG_NESTEROV) != 0;
            m->augment = (b [88] & TASK_FLAG_AUGMENT) != 0;
            m->model = b [89];
            m->dataset = b [90];
            if (b [91] != 0)
                return s_fail (err, FG_EFORMAT, ctx, 1, 91, "reserved",
                               "0x%02x, must be 0", b [91]);
            memcpy (m->dataset_hash, b + 92, FG_WIRE_HASH_SIZE);
            m->deadline_ms = fg_le_get32 (b + 124);
            m->sample_count = fg_le_get64 (b + 128);
            m->range_count = fg_le_get32 (b + 136);
            if (m->range_count < 1)
                return s_fail (err, FG_ERANGE, ctx, 1, 136, "range_count", "0");
            if ((rc = s_bulk_size (ctx, &f [2], 2, m->range_count, FG_WIRE_RANGES_MAX,
                                   136, "range_count", RANGE_SIZE, "ranges", err)))
                return rc;
            fg_wire_range_t *ranges = (fg_wire_range_t *) malloc (f [2].size);
            if (!ranges)
                return FG_ENOMEM;
            msg->storage_ = ranges;
            s_read_ranges (ranges, f [2].data, m->range_count);
            m->ranges = ranges;
            return 0;
        }
        case FG_WIRE_WEIGHTS_REQUEST: {
            fg_wire_weights_request_t *m = &msg->weights_request;
            if ((rc = s_body_size (ctx, &f [1], 1, WREQ_SIZE, "body", err)))
                return rc;
            m->version = fg_le_get64 (b + 0);
            m->offset = fg_le_get64 (b + 8);
            m->credit = fg_le_get32 (b + 16);
            m->chunk_size = fg_le_get32 (b + 20);
            m->blob = b [24];
            return 0;
        }
        case FG_WIRE_WEIGHTS_CHUNK: {
            fg_wire_weights_chunk_t *m = &msg->weights_chunk;
            if ((rc = s_body_size (ctx, &f [1], 1, WCHUNK_SIZE, "body", err)))
                return rc;
            m->version = fg_le_get64 (b + 0);
            m->offset = fg_le_get64 (b + 8);
            m->total = fg_le_get64 (b + 16);
            memcpy (m->hash, b + 24, FG_WIRE_HASH_SIZE);
            m->blob = b [56];
            m->size = f [2].size;
            if (m->size > lim->max_chunk)     //  before allocating
                return s_fail (err, FG_ERANGE, ctx, 2, 0, "bytes",
                               "chunk of %zu bytes > max_chunk %zu",
                               m->size, lim->max_chunk);
            if (m->size) {
                uint8_t *copy = (uint8_t *) malloc (m->size);
                if (!copy)
                    return FG_ENOMEM;
                memcpy (copy, f [2].data, m->size);
                msg->storage_ = copy;
                m->data = copy;
            }
            return 0;
        }
        case FG_WIRE_DATA_REQUEST: {
            fg_wire_data_request_t *m = &msg->data_request;
            if ((rc = s_body_size (ctx, &f [1], 1, DREQ_SIZE, "body", err)))
                return rc;
            memcpy (m->dataset_hash, b, FG_WIRE_HASH_SIZE);
            m->sample_count = fg_le_get64 (b + 32);
            m->range_count = fg_le_get32 (b + 40);
            if (m->range_count < 1)
                return s_fail (err, FG_ERANGE, ctx, 1, 40, "range_count", "0");
            if ((rc = s_bulk_size (ctx, &f [2], 2, m->range_count, FG_WIRE_RANGES_MAX,
                                   40, "range_count", RANGE_SIZE, "ranges", err)))
                return rc;
            fg_wire_range_t *ranges = (fg_wire_range_t *) malloc (f [2].size);
            if (!ranges)
                return FG_ENOMEM;
            msg->storage_ = ranges;
            s_read_ranges (ranges, f [2].data, m->range_count);
            m->ranges = ranges;
            return 0;
        }
        case FG_WIRE_DATA_CHUNK: {
            fg_wire_data_chunk_t *m = &msg->data_chunk;
            if ((rc = s_body_size (ctx, &f [1], 1, DCHUNK_SIZE, "body", err)))
                return rc;
            memcpy (m->dataset_hash, b, FG_WIRE_HASH_SIZE);
            m->start = fg_le_get32 (b + 32);
            m->count = fg_le_get32 (b + 36);
            m->record_size = fg_le_get32 (b + 40);
            m->raw_size = fg_le_get64 (b + 44);
            m->lz4_size = f [2].size;
            //  every size check of s_validate before the allocation
            m->lz4 = f [2].data;
            if ((rc = s_validate (msg, lim, ctx, err))) {
                m->lz4 = NULL;
                return rc;
            }
            size_t raw = (size_t) m->raw_size;          //  <= max_chunk
            uint8_t *store = (uint8_t *) malloc (m->lz4_size + raw);
            if (!store) {
                m->lz4 = NULL;
                return FG_ENOMEM;
            }
            msg->storage_ = store;
            memcpy (store, f [2].data, m->lz4_size);
            m->lz4 = store;
            //  lz4_size <= max_frame <= 2^30 and raw <= max_chunk: fit in int
            int got = LZ4_decompress_safe ((const char *) store, (char *) store + m->lz4_size,
                                           (int) m->lz4_size, (int) raw);
            if (got != (int) raw)
                return s_fail (err, FG_EFORMAT, ctx, 2, 0, "lz4",
                               got < 0? "corrupt LZ4 block of %zu bytes"
                                      : "LZ4 block of %zu bytes gives %d bytes, "
                                        "raw_size says otherwise",
                               m->lz4_size, got);
            m->samples = store + m->lz4_size;
            return 0;
        }
        case FG_WIRE_RESULT: {
            fg_wire_result_t *m = &msg->result;
            if ((rc = s_body_size (ctx, &f [1], 1, RESULT_SIZE, "body", err)))
                return rc;
            m->weights_version = fg_le_get64 (b + 0);
            m->sample_count = fg_le_get64 (b + 8);
            m->elapsed_ms = fg_le_get32 (b + 16);
            m->loss_count = fg_le_get32 (b + 20);
            m->update_size = fg_le_get64 (b + 24);
            memcpy (m->update_hash, b + 32, FG_WIRE_HASH_SIZE);
            if ((rc = s_bulk_size (ctx, &f [2], 2, m->loss_count, FG_WIRE_LOSS_MAX,
                                   20, "loss_count", 4, "loss", err)))
                return rc;
            m->prefix_size = f [3].size;
            if (m->prefix_size > lim->max_chunk)
                return s_fail (err, FG_ERANGE, ctx, 3, 0, "prefix",
                               "%zu bytes > max_chunk %zu",
                               m->prefix_size, lim->max_chunk);
            //  floats aligned first, then the prefix bytes
            size_t loss_bytes = f [2].size;
            uint8_t *store = (uint8_t *) malloc (loss_bytes + m->prefix_size + 1);
            if (!store)
                return FG_ENOMEM;
            msg->storage_ = store;
            float *loss = (float *) store;
            for (uint32_t i = 0; i < m->loss_count; i++) {
                uint32_t bits = fg_le_get32 (f [2].data + 4 * (size_t) i);
                memcpy (&loss [i], &bits, sizeof bits);
            }
            m->loss = m->loss_count? loss: NULL;
            if (m->prefix_size) {
                memcpy (store + loss_bytes, f [3].data, m->prefix_size);
                m->prefix = store + loss_bytes;
            }
            return 0;
        }
        case FG_WIRE_ACK:
            if ((rc = s_body_size (ctx, &f [1], 1, ACK_SIZE, "body", err)))
                return rc;
            msg->ack.of_type = b [0];
            return 0;
        case FG_WIRE_REJECT: {
            fg_wire_reject_t *m = &msg->reject;
            if (f [1].size < REJECT_FIXED)
                return s_body_size (ctx, &f [1], 1, REJECT_FIXED, "body", err);
            m->of_type = b [0];
            m->reason = fg_le_get16 (b + 1);
            size_t len = b [3];             //  <= 255 = FG_WIRE_TEXT_MAX
            if ((rc = s_body_size (ctx, &f [1], 1, REJECT_FIXED + len, "body", err))
            ||  (rc = s_check_text (ctx, REJECT_FIXED, "text", b + REJECT_FIXED, len,
                                    0, FG_WIRE_TEXT_MAX, ' ', true, err)))
                return rc;
            memcpy (m->text, b + REJECT_FIXED, len);
            return 0;
        }
        case FG_WIRE_ERROR: {
            fg_wire_error_t *m = &msg->error;
            if (f [1].size < ERROR_FIXED)
                return s_body_size (ctx, &f [1], 1, ERROR_FIXED, "body", err);
            m->code = (int32_t) fg_le_get32 (b);
            size_t len = b [4];
            if ((rc = s_body_size (ctx, &f [1], 1, ERROR_FIXED + len, "body", err))
            ||  (rc = s_check_text (ctx, ERROR_FIXED, "text", b + ERROR_FIXED, len,
                                    0, FG_WIRE_TEXT_MAX, ' ', true, err)))
                return rc;
            memcpy (m->text, b + ERROR_FIXED, len);
            return 0;
        }
        default:
            //  the header check admits only known types
            (void) FG_NEVER (1);
            return s_fail (err, FG_EFORMAT, ctx, 0, H_TYPE, "type", "unknown");
    }
}

int
fg_wire_decode (const fg_wire_frame_t *frames, size_t count,
                const fg_wire_limits_t *limits, fg_wire_msg_t *msg,
                fg_error_t *err)
{
    assert (msg);
    memset (msg, 0, sizeof *msg);
    fg_wire_limits_t lim;
    int rc = s_limits (limits, &lim, err);
    if (rc)
        return rc;
    s_ctx_t ctx = { "decode", 0 };

    //  (1) header and frame list
    if (count < 1 || !frames)
        return s_fail (err, FG_EFORMAT, &ctx, 0, 0, "header", "no frames");
    for (size_t i = 0; i < count; i++)
        if (frames [i].size > 0 && !frames [i].data)
            return s_fail (err, FG_EINVAL, &ctx, i, 0, "frame", "NULL data");
    const uint8_t *h = frames [0].data;
    size_t hsize = frames [0].size;
    if (hsize < H_TYPE)
        return s_fail (err, FG_EFORMAT, &ctx, 0, hsize, "header",
                       "truncated: %zu bytes, expected %d", hsize, FG_WIRE_HEADER_SIZE);
    if (memcmp (h + H_MAGIC, FG_WIRE_MAGIC, 4) != 0)
        return s_fail (err, FG_EFORMAT, &ctx, 0, H_MAGIC, "magic",
                       "%02x %02x %02x %02x is not \"" FG_WIRE_MAGIC "\"",
                       h [0], h [1], h [2], h [3]);
    unsigned version = fg_le_get16 (h + H_VERSION);
    if (version != FG_WIRE_VERSION)
        return s_fail (err, FG_EVERSION, &ctx, 0, H_VERSION, "version",
                       "protocol version %u, this node speaks %d",
                       version, FG_WIRE_VERSION);
    if (hsize != FG_WIRE_HEADER_SIZE)
        return s_fail (err, FG_EFORMAT, &ctx, 0, hsize < FG_WIRE_HEADER_SIZE? hsize
                       : (size_t) FG_WIRE_HEADER_SIZE, "header",
                       "%zu bytes, expected %d", hsize, FG_WIRE_HEADER_SIZE);
    int type = h [H_TYPE];
    if (type < 1 || type > FG_WIRE_TYPE_MAX)
        return s_fail (err, FG_EFORMAT, &ctx, 0, H_TYPE, "type",
                       "unknown message type %d", type);
    ctx.type = type;
    if (h [H_FLAGS] != 0)
        return s_fail (err, FG_EFORMAT, &ctx, 0, H_FLAGS, "flags",
                       "unknown bits 0x%02x", h [H_FLAGS]);
    size_t want = 1 + (size_t) s_payload_frames [type];
    if (count != want)
        return s_fail (err, FG_EFORMAT, &ctx, count < want? count: want, 0, "frames",
                       "%zu frames, a %s has %zu", count, s_type_names [type], want);
    uint64_t payload = 0;
    for (size_t i = 1; i < count; i++) {
        if (frames [i].size > lim.max_frame)
            return s_fail (err, FG_ERANGE, &ctx, i, 0, "frame",
                           "%zu bytes > max_frame %zu", frames [i].size, lim.max_frame);
        payload += frames [i].size;     //  <= 3 x 2^30: no overflow
    }
    uint64_t said = fg_le_get64 (h + H_PAYLOAD);
    if (said != payload)
        return s_fail (err, FG_EFORMAT, &ctx, 0, H_PAYLOAD, "payload_length",
                       "header says %" PRIu64 " bytes, frames hold %" PRIu64,
                       said, payload);
    uLong crc = crc32_z (0L, h, H_CRC_SPAN);
    for (size_t i = 1; i < count; i++)
        if (frames [i].size)
            crc = crc32_z (crc, frames [i].data, frames [i].size);
    uint32_t sum = fg_le_get32 (h + H_CHECKSUM);
    if ((uint32_t) crc != sum)
        return s_fail (err, FG_ECHECKSUM, &ctx, 0, H_CHECKSUM, "checksum",
                       "header says %08x, content gives %08x", sum, (uint32_t) crc);
    msg->type = type;
    msg->experiment = fg_le_get64 (h + H_EXPERIMENT);
    msg->round = fg_le_get32 (h + H_ROUND);
    msg->shard = fg_le_get32 (h + H_SHARD);
    msg->attempt = fg_le_get32 (h + H_ATTEMPT);

    //  (2) body, (3) shared rules
    rc = s_parse (frames, &lim, &ctx, msg, err);
    if (rc == FG_ENOMEM)
        fg_error_set (err, rc, "wire decode %s: out of memory", s_type_names [type]);
    if (rc == 0 && type != FG_WIRE_DATA_CHUNK)
        rc = s_validate (msg, &lim, &ctx, err);
    if (rc)
        fg_wire_msg_clear (msg);
    return rc;
}


//  --------------------------------------------------------------------------
//  Helpers

static int
s_range_cmp (const void *a, const void *b)
{
    uint32_t x = ((const fg_wire_range_t *) a)->start;
    uint32_t y = ((const fg_wire_range_t *) b)->start;
    return (x > y) - (x < y);
}

uint64_t
fg_wire_ranges_normalize (fg_wire_range_t *ranges, uint32_t *count)
{
    assert (count);
    assert (ranges || *count == 0);
    uint32_t n = 0;
    for (uint32_t i = 0; i < *count; i++)
        if (ranges [i].count > 0)
            ranges [n++] = ranges [i];
    if (n > 1)
        qsort (ranges, n, sizeof *ranges, s_range_cmp);
    uint32_t out = 0;
    uint64_t covered = 0;
    uint32_t i = 0;
    while (i < n) {
        uint64_t start = ranges [i].start;
        uint64_t end = start + ranges [i].count;
        for (i++; i < n && ranges [i].start <= end; i++) {
            uint64_t e = (uint64_t) ranges [i].start + ranges [i].count;
            if (e > end)
                end = e;
        }
        covered += end - start;
        //  a merged run may exceed a uint32_t count: split it
        while (end - start > UINT32_MAX) {
            ranges [out++] = (fg_wire_range_t) { (uint32_t) start, UINT32_MAX };
            start += UINT32_MAX;
        }
        ranges [out++] = (fg_wire_range_t) { (uint32_t) start, (uint32_t) (end - start) };
    }
    *count = out;
    return covered;
}

int
fg_wire_data_pack (const void *raw, size_t raw_size, uint8_t **lz4_p,
                   size_t *lz4_size, fg_error_t *err)
{
    assert (raw || raw_size == 0);
    assert (lz4_p);
    assert (lz4_size);
    *lz4_p = NULL;
    *lz4_size = 0;
    if (raw_size < 1 || raw_size > LZ4_MAX_INPUT_SIZE)
        return fg_error_set (err, FG_ERANGE, "wire data pack: %zu bytes outside "
                             "[1, %d]", raw_size, LZ4_MAX_INPUT_SIZE);
    int bound = LZ4_compressBound ((int) raw_size);
    uint8_t *out = (uint8_t *) malloc ((size_t) bound);
    if (!out)
        return fg_error_set (err, FG_ENOMEM, "wire data pack: out of memory "
                             "for %d bytes", bound);
    int n = LZ4_compress_default ((const char *) raw, (char *) out,
                                  (int) raw_size, bound);
    if (FG_NEVER (n <= 0)) {
        free (out);
        return fg_error_set (err, FG_ERANGE, "wire data pack: LZ4 failed on "
                             "%zu bytes", raw_size);
    }
    *lz4_p = out;
    *lz4_size = (size_t) n;
    return 0;
}
