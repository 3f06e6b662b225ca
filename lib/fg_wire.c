/*  fg_wire.c — codec of the coordinator-trainer protocol (see fg_wire.h,
    docs/protocol.md for the byte layout).

    Driven by the message descriptors of fg_wire_types.c (one per type,
    fg_wire_internal.h): the validator, the encoder and the parser below
    know no message by name, only kinds of fields and frames.

    Decoding is in three steps: (1) the header and the frame list, before
    any payload byte is read: sizes, magic, version, type, flags, frame
    count, frame bounds, payload length, checksum; (2) the body: the fixed
    fields with what only the wire can get wrong (flag bits, reserved
    bytes, string lengths, counts bounded before they size anything), the
    exact size of every frame, then one allocation (never larger than the
    payload plus a bounded decompressed size) for the bulk frames;
    (3) s_validate, the rules shared with the encoder (enumerations, finite
    numbers, ranges sorted, sums, chunk bounds). The encoder runs
    s_validate first, so what it emits always decodes to the same message.
    A type with an LZ4 frame is validated before (2) allocates: its
    decompressed size is one of the fields validated; its decompressed
    bytes are then checked by the type's `inflated` rule (DATA-CHUNK's
    variable records).                                                   */

#include "fg_le.h"
#include "fg_wire_internal.h"

#include <assert.h>
#include <inttypes.h>
#include <lz4.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

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

#define RANGE_SIZE      8       //  an index range on the wire (and in memory)

//  A member of msg by its offset: its address, its value as a u32, u64, size_t
#define S_MEMBER(msg, offset)   ((void *) ((uint8_t *) (msg) + (offset)))
#define S_CMEMBER(msg, offset)  ((const void *) ((const uint8_t *) (msg) + (offset)))
#define S_U32(msg, offset)      (*(const uint32_t *) S_CMEMBER (msg, offset))
#define S_U64(msg, offset)      (*(const uint64_t *) S_CMEMBER (msg, offset))
#define S_SIZE(msg, offset)     (*(const size_t *) S_CMEMBER (msg, offset))

//  Pointer members are read and written as bytes: they have other types.
static const void *
s_get_ptr (const fg_wire_msg_t *msg, uint16_t offset)
{
    const void *ptr;
    memcpy (&ptr, (const uint8_t *) msg + offset, sizeof ptr);
    return ptr;
}

static void
s_set_ptr (fg_wire_msg_t *msg, uint16_t offset, const void *ptr)
{
    memcpy ((uint8_t *) msg + offset, &ptr, sizeof ptr);
}

//  Payload frames of a type: its body, then its bulk frames.
static size_t
s_payload_frames (const fg_wire_desc_t *t)
{
    return (t->fixed? 1: 0) + t->bulks;
}


//  --------------------------------------------------------------------------
//  Errors

int
fg_wire_fail (fg_error_t *err, int code, const fg_wire_ctx_t *ctx, size_t frame,
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
                         ? fg_wire_desc [ctx->type].name: "message",
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

static int
s_limits (const fg_wire_limits_t *in, fg_wire_limits_t *out, fg_error_t *err)
{
    if (in)
        *out = *in;
    else
        fg_wire_limits_default (out);
    return fg_wire_limits_check (out, err);
}

size_t
fg_wire_data_raw_max (const fg_wire_limits_t *limits)
{
    fg_wire_limits_t lim;
    if (s_limits (limits, &lim, NULL))
        return 0;
    //  largest n with fg_wire_lz4_bound (n) <= max_frame, from below
    size_t n = (lim.max_frame - 16) / 256 * 255;
    while (fg_wire_lz4_bound (n + 1) <= lim.max_frame)
        n++;
    return n < lim.max_chunk? n: lim.max_chunk;
}


//  --------------------------------------------------------------------------
//  Checks shared by the validator and the parser. Offsets name the
//  field's place in its frame.

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
s_check_text (const fg_wire_ctx_t *ctx, size_t offset, const fg_wire_field_t *f,
              const uint8_t *s, size_t len, fg_error_t *err)
{
    if (len < f->lo || len > f->hi)
        return fg_wire_fail (err, FG_ERANGE, ctx, 1, offset, f->name,
                             "length %zu outside [%zu, %zu]",
                             len, (size_t) f->lo, (size_t) f->hi);
    size_t bad = s_bad_char (s, len, f->first, f->high);
    if (bad < len)
        return fg_wire_fail (err, FG_EFORMAT, ctx, 1, offset + bad, f->name,
                             "byte 0x%02x not allowed at position %zu", s [bad], bad);
    return 0;
}

static int
s_check_range (const fg_wire_ctx_t *ctx, size_t frame, size_t offset, const char *field,
               uint64_t value, uint64_t lo, uint64_t hi, fg_error_t *err)
{
    if (value < lo || value > hi)
        return fg_wire_fail (err, FG_ERANGE, ctx, frame, offset, field,
                             "%" PRIu64 " outside [%" PRIu64 ", %" PRIu64 "]",
                             value, lo, hi);
    return 0;
}

static int
s_check_most (const fg_wire_ctx_t *ctx, size_t offset, const char *field,
              uint64_t value, uint64_t max, fg_error_t *err)
{
    if (value > max)
        return fg_wire_fail (err, FG_ERANGE, ctx, 1, offset, field,
                             "%" PRIu64 " > %" PRIu64, value, max);
    return 0;
}

int
fg_wire_check_cap (const fg_wire_ctx_t *ctx, const fg_wire_bulk_t *b, size_t frame,
                   size_t size, const fg_wire_limits_t *lim, fg_error_t *err)
{
    if (size > lim->max_chunk)
        return fg_wire_fail (err, FG_ERANGE, ctx, frame, 0, b->name,
                             "%s%zu bytes > max_chunk %zu", b->cap, size, lim->max_chunk);
    return 0;
}

static int
s_check_ranges (const fg_wire_ctx_t *ctx, const fg_wire_bulk_t *b, size_t frame,
                const fg_wire_msg_t *msg, fg_error_t *err)
{
    const fg_wire_range_t *ranges = (const fg_wire_range_t *) s_get_ptr (msg, b->data);
    uint32_t count = S_U32 (msg, b->size);
    uint64_t sample_count = S_U64 (msg, b->sum);
    int rc = s_check_range (ctx, 1, b->count_at, b->count_name, count, b->min, b->max, err);
    if (rc)
        return rc;
    if (!ranges)
        return fg_wire_fail (err, FG_EINVAL, ctx, frame, 0, b->name, "NULL");
    uint64_t sum = 0;
    uint64_t prev_end = 0;
    for (uint32_t i = 0; i < count; i++) {
        uint64_t start = ranges [i].start;
        uint64_t n = ranges [i].count;
        if (n == 0)
            return fg_wire_fail (err, FG_ERANGE, ctx, frame, (size_t) i * RANGE_SIZE + 4,
                                 "ranges.count", "range %u has count 0", i);
        //  start < 2^32 and n < 2^32: no overflow in 64 bits
        if (start + n > ((uint64_t) 1 << 32))
            return fg_wire_fail (err, FG_ERANGE, ctx, frame, (size_t) i * RANGE_SIZE,
                                 "ranges", "range %u [%" PRIu64 ", +%" PRIu64
                                 ") ends past 2^32", i, start, n);
        if (i > 0 && start < prev_end)
            return fg_wire_fail (err, FG_EFORMAT, ctx, frame, (size_t) i * RANGE_SIZE,
                                 "ranges.start", "range %u starts at %" PRIu64
                                 ", before the end %" PRIu64 " of range %u "
                                 "(ranges must be sorted and disjoint)",
                                 i, start, prev_end, i - 1);
        prev_end = start + n;
        sum += n;
    }
    if (sum != sample_count)
        return fg_wire_fail (err, FG_EFORMAT, ctx, 1, b->sum_at, "sample_count",
                             "%" PRIu64 " but the ranges hold %" PRIu64,
                             sample_count, sum);
    return 0;
}


//  --------------------------------------------------------------------------
//  Validation of a message's fields (encoder before writing, decoder after
//  parsing): the fields' rules in row order, the strings, the bulk frames,
//  then the type's own check.

//  A field's value as an unsigned integer (for the range and non-zero rules).
static uint64_t
s_uint (const fg_wire_field_t *f, const void *p)
{
    switch (f->kind) {
        case FG_WIRE_K_U8:  return *(const uint8_t *) p;
        case FG_WIRE_K_U16: return *(const uint16_t *) p;
        case FG_WIRE_K_U32: return *(const uint32_t *) p;
        default:            return *(const uint64_t *) p;
    }
}

static int
s_check_number (const fg_wire_ctx_t *ctx, const fg_wire_field_t *f, double value,
                fg_error_t *err)
{
    if (!isfinite (value))
        return fg_wire_fail (err, FG_ENUMERIC, ctx, 1, f->at, f->name, "not finite");
    if (f->rule == FG_WIRE_R_NONNEG && value < 0)
        return fg_wire_fail (err, FG_ERANGE, ctx, 1, f->at, f->name, "%g is negative", value);
    if (f->rule == FG_WIRE_R_HYPER && (value < 0 || value >= f->top))
        return fg_wire_fail (err, FG_ERANGE, ctx, 1, f->at, f->name,
                             "%g outside [0, %g)", value, f->top);
    return 0;
}

static int
s_check_field (const fg_wire_msg_t *msg, const fg_wire_field_t *f, const fg_wire_limits_t *lim,
               const fg_wire_ctx_t *ctx, fg_error_t *err)
{
    const void *p = S_CMEMBER (msg, f->member);
    switch (f->rule) {
        case FG_WIRE_R_RANGE:
            return s_check_range (ctx, 1, f->at, f->name, s_uint (f, p), f->lo, f->hi, err);
        case FG_WIRE_R_RANGE_CHUNK:
            return s_check_range (ctx, 1, f->at, f->name, s_uint (f, p), f->lo,
                                  lim->max_chunk, err);
        case FG_WIRE_R_NONZERO:
            if (s_uint (f, p) == 0)
                return fg_wire_fail (err, FG_ERANGE, ctx, 1, f->at, f->name, "0");
            return 0;
        case FG_WIRE_R_HYPER:
        case FG_WIRE_R_NONNEG:
            return s_check_number (ctx, f, *(const double *) p, err);
        case FG_WIRE_R_TYPE: {
            int type = *(const uint8_t *) p;
            if (type < 1 || type > FG_WIRE_TYPE_MAX)
                return fg_wire_fail (err, FG_ERANGE, ctx, 1, f->at, f->name,
                                     "%d is not a message type", type);
            return 0;
        }
        case FG_WIRE_R_CODE: {
            int32_t code = *(const int32_t *) p;
            if (code < FG_ECODE_MIN || code > -1)
                return fg_wire_fail (err, FG_ERANGE, ctx, 1, f->at, f->name,
                                     "%d is not an FG_E* code", (int) code);
            return 0;
        }
        case FG_WIRE_R_FN:
            return f->fn (msg, lim, ctx, err);
        default:
            break;
    }
    if (f->kind == FG_WIRE_K_HASHES)
        return s_check_most (ctx, f->at, f->name, S_U32 (msg, f->count), f->hi, err);
    return 0;
}

static int
s_check_bulk (const fg_wire_msg_t *msg, const fg_wire_bulk_t *b, size_t frame,
              const fg_wire_ctx_t *ctx, fg_error_t *err)
{
    if (b->kind == FG_WIRE_B_RANGES)
        return s_check_ranges (ctx, b, frame, msg, err);
    if (b->kind == FG_WIRE_B_FLOATS) {
        uint32_t count = S_U32 (msg, b->size);
        int rc = s_check_most (ctx, b->count_at, b->count_name, count, b->max, err);
        if (rc == 0 && count > 0 && !s_get_ptr (msg, b->data))
            rc = fg_wire_fail (err, FG_EINVAL, ctx, frame, 0, b->name, "NULL");
        return rc;
    }
    return 0;                           //  bytes: the type's check
}

static int
s_validate (const fg_wire_msg_t *msg, const fg_wire_limits_t *lim,
            const fg_wire_ctx_t *ctx, fg_error_t *err)
{
    if (msg->type < 1 || msg->type > FG_WIRE_TYPE_MAX)
        return fg_wire_fail (err, FG_EINVAL, ctx, 0, H_TYPE, "type",
                             "%d is not a message type", msg->type);
    const fg_wire_desc_t *t = &fg_wire_desc [msg->type];
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < t->fields; i++)
        rc = s_check_field (msg, &t->field [i], lim, ctx, err);
    //  strings: checked on the wire bytes by the parser, here for the
    //  encoder (a string must be terminated within its array)
    size_t at = t->fixed;
    for (size_t i = 0; rc == 0 && i < t->fields; i++) {
        const fg_wire_field_t *f = &t->field [i];
        if (f->kind != FG_WIRE_K_STRING)
            continue;
        const char *s = (const char *) S_CMEMBER (msg, f->member);
        size_t len = strnlen (s, f->count);
        rc = s_check_text (ctx, at, f, (const uint8_t *) s, len, err);
        at += len;
    }
    for (size_t i = 0; rc == 0 && i < t->bulks; i++)
        rc = s_check_bulk (msg, &t->bulk [i], 2 + i, ctx, err);
    if (rc == 0 && t->check)
        rc = t->check (msg, lim, ctx, err);
    return rc;
}

//  --------------------------------------------------------------------------
//  Encoder

void
fg_wire_frames_clear (fg_wire_frames_t *frames)
{
    if (!frames)
        return;
    free (frames->storage_);
    memset (frames, 0, sizeof *frames);
}

//  Words a K_WORDS field of msg carries: 0 (absent), its short form's
//  lo or its hi.
static size_t
s_words (const fg_wire_msg_t *msg, const fg_wire_field_t *f)
{
    if (!*(const bool *) S_CMEMBER (msg, f->count))
        return 0;
    return f->lo && !*(const bool *) S_CMEMBER (msg, f->full)? (size_t) f->lo: (size_t) f->hi;
}

//  Bytes of the strings and hash lists after the body's fixed part.
static size_t
s_tail_size (const fg_wire_msg_t *msg, const fg_wire_desc_t *t)
{
    size_t size = 0;
    for (size_t i = 0; i < t->fields; i++) {
        const fg_wire_field_t *f = &t->field [i];
        if (f->kind == FG_WIRE_K_STRING)
            size += strlen ((const char *) S_CMEMBER (msg, f->member));
        if (f->kind == FG_WIRE_K_HASHES)
            size += (size_t) S_U32 (msg, f->count) * FG_WIRE_HASH_SIZE;
        if (f->kind == FG_WIRE_K_WORDS)
            size += s_words (msg, f) * 4;
    }
    return size;
}

//  Writes the body into b (zeroed): fixed fields, then the tail.
static void
s_write_body (uint8_t *b, const fg_wire_msg_t *msg, const fg_wire_desc_t *t)
{
    uint8_t *tail = b + t->fixed;
    for (size_t i = 0; i < t->fields; i++) {
        const fg_wire_field_t *f = &t->field [i];
        const void *p = S_CMEMBER (msg, f->member);
        uint8_t *at = b + f->at;
        switch (f->kind) {
            case FG_WIRE_K_U8:  *at = *(const uint8_t *) p; break;
            case FG_WIRE_K_U16: fg_le_put16 (at, *(const uint16_t *) p); break;
            case FG_WIRE_K_U32:
            case FG_WIRE_K_I32: fg_le_put32 (at, *(const uint32_t *) p); break;
            case FG_WIRE_K_U64: fg_le_put64 (at, *(const uint64_t *) p); break;
            case FG_WIRE_K_F64: fg_le_putf64 (at, *(const double *) p); break;
            case FG_WIRE_K_HASH: memcpy (at, p, FG_WIRE_HASH_SIZE); break;
            case FG_WIRE_K_BIT:
                if (*(const bool *) p)
                    *at |= (uint8_t) f->hi;
                break;
            case FG_WIRE_K_STRING: {
                size_t len = strlen ((const char *) p);     //  <= 255, validated
                *at = (uint8_t) len;
                memcpy (tail, p, len);
                tail += len;
                break;
            }
            case FG_WIRE_K_HASHES: {
                uint32_t n = S_U32 (msg, f->count);     //  <= 16, validated
                fg_le_put16 (at, (uint16_t) n);
                memcpy (tail, p, (size_t) n * FG_WIRE_HASH_SIZE);
                tail += (size_t) n * FG_WIRE_HASH_SIZE;
                break;
            }
            case FG_WIRE_K_WORDS: {
                size_t words = s_words (msg, f);
                *at = (uint8_t) (words * 4);
                for (size_t w = 0; w < words; w++, tail += 4)
                    fg_le_put32 (tail, ((const uint32_t *) p) [w]);
                break;
            }
            default:                    //  FG_WIRE_K_FLAGS, FG_WIRE_K_RESERVED: zero
                break;
        }
    }
}

//  Bytes the encoder writes for a bulk frame it converts (ranges,
//  floats); 0 for bytes it borrows from the message.
static size_t
s_bulk_size (const fg_wire_msg_t *msg, const fg_wire_bulk_t *b)
{
    if (b->kind == FG_WIRE_B_RANGES)
        return (size_t) S_U32 (msg, b->size) * RANGE_SIZE;
    if (b->kind == FG_WIRE_B_FLOATS)
        return (size_t) S_U32 (msg, b->size) * 4;
    return 0;
}

//  A bulk frame: converted into k, or the message's bytes. Ranges and
//  floats are both arrays of 32-bit words, little-endian on the wire
//  (written byte by byte here, which compilers merge into one store: a
//  call of fg_le_put32 in this loop was not, and took 3x as long).
static fg_wire_frame_t
s_write_bulk (uint8_t *k, const fg_wire_msg_t *msg, const fg_wire_bulk_t *b)
{
    const uint8_t *data = (const uint8_t *) s_get_ptr (msg, b->data);
    size_t size = s_bulk_size (msg, b);
    if (b->kind != FG_WIRE_B_RANGES && b->kind != FG_WIRE_B_FLOATS)
        return (fg_wire_frame_t) { data, S_SIZE (msg, b->size) };
    for (size_t i = 0; i < size; i += 4) {
        uint32_t word;
        memcpy (&word, data + i, sizeof word);
        k [i] = (uint8_t) word;
        k [i + 1] = (uint8_t) (word >> 8);
        k [i + 2] = (uint8_t) (word >> 16);
        k [i + 3] = (uint8_t) (word >> 24);
    }
    return (fg_wire_frame_t) { k, size };
}

static uint32_t
s_checksum (const uint8_t *header, const fg_wire_frame_t *payload, size_t count)
{
    uLong crc = crc32_z (0L, header, H_CRC_SPAN);
    for (size_t i = 0; i < count; i++)
        if (payload [i].size)
            crc = crc32_z (crc, payload [i].data, payload [i].size);
    return (uint32_t) crc;
}

//  Writes the header last, over the payload frames written: their
//  length and checksum. Checks every frame against max_frame.
static int
s_write_header (uint8_t *h, const fg_wire_msg_t *msg, fg_wire_frames_t *frames,
                const fg_wire_limits_t *lim, const fg_wire_ctx_t *ctx, fg_error_t *err)
{
    uint64_t payload = 0;
    for (size_t i = 1; i < frames->count; i++) {
        if (frames->frame [i].size > lim->max_frame) {
            size_t size = frames->frame [i].size;
            fg_wire_frames_clear (frames);
            return fg_wire_fail (err, FG_ERANGE, ctx, i, 0, "frame",
                                 "%zu bytes > max_frame %zu", size, lim->max_frame);
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
    fg_le_put32 (h + H_CHECKSUM, s_checksum (h, frames->frame + 1, frames->count - 1));
    return 0;
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
    fg_wire_ctx_t ctx = { "encode", msg->type };
    if ((rc = s_validate (msg, &lim, &ctx, err)))
        return rc;
    const fg_wire_desc_t *t = &fg_wire_desc [msg->type];

    //  Sizes: body, and the bulk frames converted (before allocating them)
    size_t body = t->fixed? t->fixed + s_tail_size (msg, t): 0;
    size_t converted = 0;
    for (size_t i = 0; i < t->bulks; i++) {
        size_t size = s_bulk_size (msg, &t->bulk [i]);
        if (size > lim.max_frame)
            return fg_wire_fail (err, FG_ERANGE, &ctx, 2 + i, 0, "frame",
                                 "%zu bytes > max_frame %zu", size, lim.max_frame);
        converted += size;
    }
    size_t total = FG_WIRE_HEADER_SIZE + body + converted;
    uint8_t *store = (uint8_t *) calloc (1, total);
    if (!store)
        return fg_error_set (err, FG_ENOMEM, "wire encode %s: out of memory "
                             "for %zu bytes", t->name, total);
    frames->storage_ = store;
    frames->frame [0] = (fg_wire_frame_t) { store, FG_WIRE_HEADER_SIZE };
    size_t n = 1;
    uint8_t *b = store + FG_WIRE_HEADER_SIZE;
    if (t->fixed) {
        s_write_body (b, msg, t);
        frames->frame [n++] = (fg_wire_frame_t) { b, body };
    }
    uint8_t *k = b + body;
    for (size_t i = 0; i < t->bulks; i++) {
        fg_wire_frame_t frame = s_write_bulk (k, msg, &t->bulk [i]);
        if (frame.data == k)
            k += frame.size;
        frames->frame [n++] = frame;
    }
    assert (n == 1 + s_payload_frames (t));
    frames->count = n;
    return s_write_header (store, msg, frames, &lim, &ctx, err);
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

//  Checks a frame's size: exactly `want` bytes.
static int
s_frame_size (const fg_wire_ctx_t *ctx, const fg_wire_frame_t *f, size_t index,
              size_t want, const char *what, fg_error_t *err)
{
    if (f->size != want)
        return fg_wire_fail (err, FG_EFORMAT, ctx, index, f->size < want? f->size: want,
                             what, "frame of %zu bytes, expected %zu", f->size, want);
    return 0;
}

//  Reads a fixed field of body b into msg, with what only the wire can get
//  wrong; strings and hash lists add their bytes to *want.
static int
s_read_field (const uint8_t *b, const fg_wire_field_t *f, fg_wire_msg_t *msg, size_t *want,
              const fg_wire_ctx_t *ctx, fg_error_t *err)
{
    void *p = S_MEMBER (msg, f->member);
    const uint8_t *at = b + f->at;
    switch (f->kind) {
        case FG_WIRE_K_U8:  *(uint8_t *) p = *at; break;
        case FG_WIRE_K_U16: *(uint16_t *) p = fg_le_get16 (at); break;
        case FG_WIRE_K_U32:
        case FG_WIRE_K_I32: *(uint32_t *) p = fg_le_get32 (at); break;
        case FG_WIRE_K_U64: *(uint64_t *) p = fg_le_get64 (at); break;
        case FG_WIRE_K_F64: *(double *) p = fg_le_getf64 (at); break;
        case FG_WIRE_K_HASH: memcpy (p, at, FG_WIRE_HASH_SIZE); break;
        case FG_WIRE_K_BIT: *(bool *) p = (*at & f->hi) != 0; break;
        case FG_WIRE_K_FLAGS:
            if (*at & ~f->hi)
                return fg_wire_fail (err, FG_EFORMAT, ctx, 1, f->at, f->name,
                                     "unknown bits 0x%02x", (unsigned) (*at & ~f->hi));
            break;
        case FG_WIRE_K_RESERVED:
            if (*at)
                return fg_wire_fail (err, FG_EFORMAT, ctx, 1, f->at, f->name,
                                     "0x%02x, must be 0", *at);
            break;
        case FG_WIRE_K_STRING:
            *want += *at;
            return f->lo? s_check_range (ctx, 1, f->at, f->count_name, *at, f->lo, f->hi, err)
                        : s_check_most (ctx, f->at, f->count_name, *at, f->hi, err);
        case FG_WIRE_K_HASHES: {
            uint32_t n = fg_le_get16 (at);
            *(uint32_t *) S_MEMBER (msg, f->count) = n;
            *want += (size_t) n * FG_WIRE_HASH_SIZE;
            return s_check_most (ctx, f->at, f->name, n, f->hi, err);
        }
        case FG_WIRE_K_WORDS:
            //  a block of exactly one of its sizes, or none
            if (*at != 0 && *at != f->hi * 4 && (f->lo == 0 || *at != f->lo * 4)) {
                if (f->lo)
                    return fg_wire_fail (err, FG_EFORMAT, ctx, 1, f->at, f->name,
                                         "block of %u bytes, expected 0, %u or %u",
                                         (unsigned) *at, (unsigned) (f->lo * 4),
                                         (unsigned) (f->hi * 4));
                return fg_wire_fail (err, FG_EFORMAT, ctx, 1, f->at, f->name,
                                     "block of %u bytes, expected 0 or %u",
                                     (unsigned) *at, (unsigned) (f->hi * 4));
            }
            *(bool *) S_MEMBER (msg, f->count) = *at != 0;
            if (f->lo)
                *(bool *) S_MEMBER (msg, f->full) = *at == f->hi * 4;
            memset (S_MEMBER (msg, f->member), 0, f->hi * 4);
            *want += *at;
            break;
        default:
            break;
    }
    return 0;
}

//  Parses the body frame: fixed fields, exact size, then the tail.
static int
s_read_body (const fg_wire_frame_t *f, const fg_wire_desc_t *t, fg_wire_msg_t *msg,
             const fg_wire_ctx_t *ctx, fg_error_t *err)
{
    bool tail = false;
    for (size_t i = 0; i < t->fields; i++)
        tail |= t->field [i].kind >= FG_WIRE_K_STRING;
    //  a body without strings or hash lists is its fixed part, no more
    if (f->size < t->fixed || (!tail && f->size != t->fixed))
        return s_frame_size (ctx, f, 1, t->fixed, "body", err);
    size_t want = t->fixed;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < t->fields; i++)
        rc = s_read_field (f->data, &t->field [i], msg, &want, ctx, err);
    if (rc || (rc = s_frame_size (ctx, f, 1, want, "body", err)))
        return rc;
    size_t at = t->fixed;
    for (size_t i = 0; rc == 0 && i < t->fields; i++) {
        const fg_wire_field_t *fi = &t->field [i];
        size_t len = fi->kind == FG_WIRE_K_STRING? f->data [fi->at]: 0;
        if (fi->kind == FG_WIRE_K_HASHES)
            len = (size_t) S_U32 (msg, fi->count) * FG_WIRE_HASH_SIZE;
        if (fi->kind == FG_WIRE_K_WORDS)
            len = f->data [fi->at];
        //  strings checked on the wire bytes: a NUL would hide the rest
        if (fi->kind == FG_WIRE_K_STRING)
            rc = s_check_text (ctx, at, fi, f->data + at, len, err);
        if (fi->kind == FG_WIRE_K_WORDS)
            for (size_t w = 0; w < len / 4; w++)
                ((uint32_t *) S_MEMBER (msg, fi->member)) [w] = fg_le_get32 (f->data + at + 4 * w);
        else
        if (rc == 0 && len)
            memcpy (S_MEMBER (msg, fi->member), f->data + at, len);
        at += len;
    }
    return rc;
}

//  Bounded count, then the bulk frame holds exactly count x item bytes.
static int
s_read_bulk_size (const fg_wire_ctx_t *ctx, const fg_wire_frame_t *f, size_t index,
                  const fg_wire_bulk_t *b, const fg_wire_msg_t *msg, fg_error_t *err)
{
    uint64_t count = S_U32 (msg, b->size);
    uint64_t item = b->kind == FG_WIRE_B_RANGES? RANGE_SIZE: 4;
    if (count < b->min)
        return fg_wire_fail (err, FG_ERANGE, ctx, 1, b->count_at, b->count_name,
                             "%" PRIu64, count);
    int rc = s_check_most (ctx, b->count_at, b->count_name, count, b->max, err);
    //  count <= 2^24 and item <= 8: no overflow
    if (rc == 0 && f->size != count * item)
        rc = fg_wire_fail (err, FG_EFORMAT, ctx, index, f->size, b->name,
                           "frame of %zu bytes, %s %" PRIu64 " needs %" PRIu64,
                           f->size, b->count_name, count, count * item);
    return rc;
}

//  Checks a bulk frame's size before anything is allocated for it; bytes
//  and LZ4 frames set their size member.
static int
s_read_bulk (const fg_wire_frame_t *f, size_t index, const fg_wire_bulk_t *b,
             const fg_wire_limits_t *lim, const fg_wire_ctx_t *ctx, fg_wire_msg_t *msg,
             fg_error_t *err)
{
    if (b->kind == FG_WIRE_B_RANGES || b->kind == FG_WIRE_B_FLOATS)
        return s_read_bulk_size (ctx, f, index, b, msg, err);
    *(size_t *) S_MEMBER (msg, b->size) = f->size;
    if (b->kind == FG_WIRE_B_LZ4)
        s_set_ptr (msg, b->data, f->data);  //  validated before it is copied
    return b->cap? fg_wire_check_cap (ctx, b, index, f->size, lim, err): 0;
}

static int
s_inflate (const fg_wire_ctx_t *ctx, size_t frame, const uint8_t *lz4, size_t lz4_size,
           uint8_t *out, size_t raw, fg_error_t *err)
{
    //  lz4_size <= max_frame <= 2^30 and raw <= max_chunk: fit in int
    int got = LZ4_decompress_safe ((const char *) lz4, (char *) out,
                                   (int) lz4_size, (int) raw);
    if (got < 0)
        return fg_wire_fail (err, FG_EFORMAT, ctx, frame, 0, "lz4",
                             "corrupt LZ4 block of %zu bytes", lz4_size);
    if (got != (int) raw)
        return fg_wire_fail (err, FG_EFORMAT, ctx, frame, 0, "lz4",
                             "LZ4 block of %zu bytes gives %d bytes, raw_size says otherwise",
                             lz4_size, got);
    return 0;
}

#define S_ALIGN(n)  (((n) + 7) & ~(size_t) 7)

//  One allocation for the bulk frames (converted, copied, decompressed);
//  points the message's members into it.
static int
s_read_store (const fg_wire_frame_t *f, const fg_wire_desc_t *t, const fg_wire_ctx_t *ctx,
              fg_wire_msg_t *msg, fg_error_t *err)
{
    size_t total = 0;
    for (size_t i = 0; i < t->bulks; i++)
        total += S_ALIGN (f [i].size) + (t->bulk [i].kind == FG_WIRE_B_LZ4
              ? (size_t) S_U64 (msg, t->bulk [i].raw): 0);
    if (total == 0)
        return 0;
    uint8_t *store = (uint8_t *) malloc (total);
    if (!store)
        return FG_ENOMEM;
    msg->storage_ = store;
    for (size_t i = 0; i < t->bulks; i++) {
        const fg_wire_bulk_t *b = &t->bulk [i];
        const uint8_t *data = f [i].data;
        size_t size = f [i].size;
        if (b->kind == FG_WIRE_B_RANGES || b->kind == FG_WIRE_B_FLOATS) {
            for (size_t w = 0; w < size; w += 4) {      //  32-bit words
                uint32_t word = fg_le_get32 (data + w);
                memcpy (store + w, &word, sizeof word);
            }
        }
        else
        if (size)
            memcpy (store, data, size);
        s_set_ptr (msg, b->data, size? store: NULL);
        if (b->kind == FG_WIRE_B_LZ4) {
            size_t raw = (size_t) S_U64 (msg, b->raw);
            uint8_t *out = store + S_ALIGN (size);
            s_set_ptr (msg, b->out, out);
            int rc = s_inflate (ctx, 2 + i, store, size, out, raw, err);
            if (rc)
                return rc;
            store += raw;
        }
        store += S_ALIGN (size);
    }
    return 0;
}

//  Parses the body and bulk frames of a type whose header and frame list
//  were checked, then validates them.
static int
s_parse (const fg_wire_frame_t *f, const fg_wire_limits_t *lim,
         const fg_wire_ctx_t *ctx, fg_wire_msg_t *msg, fg_error_t *err)
{
    const fg_wire_desc_t *t = &fg_wire_desc [msg->type];
    if (!t->fixed)
        return 0;
    int rc = s_read_body (&f [1], t, msg, ctx, err);
    bool lz4 = false;
    for (size_t i = 0; rc == 0 && i < t->bulks; i++) {
        rc = s_read_bulk (&f [2 + i], 2 + i, &t->bulk [i], lim, ctx, msg, err);
        lz4 |= t->bulk [i].kind == FG_WIRE_B_LZ4;
    }
    //  an LZ4 frame's decompressed size is validated before the allocation
    if (rc == 0 && lz4)
        rc = s_validate (msg, lim, ctx, err);
    if (rc == 0)
        rc = s_read_store (&f [2], t, ctx, msg, err);
    if (rc == 0 && !lz4)
        rc = s_validate (msg, lim, ctx, err);
    if (rc == 0 && t->inflated)
        rc = t->inflated (msg, lim, ctx, err);
    return rc;
}

//  The header and the frame list, before any payload byte is read; sets
//  ctx->type.
static int
s_read_header (const fg_wire_frame_t *frames, size_t count, const fg_wire_limits_t *lim,
               fg_wire_ctx_t *ctx, fg_error_t *err)
{
    if (count < 1 || !frames)
        return fg_wire_fail (err, FG_EFORMAT, ctx, 0, 0, "header", "no frames");
    for (size_t i = 0; i < count; i++)
        if (frames [i].size > 0 && !frames [i].data)
            return fg_wire_fail (err, FG_EINVAL, ctx, i, 0, "frame", "NULL data");
    const uint8_t *h = frames [0].data;
    size_t hsize = frames [0].size;
    if (hsize < H_TYPE)
        return fg_wire_fail (err, FG_EFORMAT, ctx, 0, hsize, "header",
                             "truncated: %zu bytes, expected %d", hsize, FG_WIRE_HEADER_SIZE);
    if (memcmp (h + H_MAGIC, FG_WIRE_MAGIC, 4) != 0)
        return fg_wire_fail (err, FG_EFORMAT, ctx, 0, H_MAGIC, "magic",
                             "%02x %02x %02x %02x is not \"" FG_WIRE_MAGIC "\"",
                             h [0], h [1], h [2], h [3]);
    unsigned version = fg_le_get16 (h + H_VERSION);
    if (version != FG_WIRE_VERSION)
        return fg_wire_fail (err, FG_EVERSION, ctx, 0, H_VERSION, "version",
                             "protocol version %u, this node speaks %d",
                             version, FG_WIRE_VERSION);
    if (hsize != FG_WIRE_HEADER_SIZE)
        return fg_wire_fail (err, FG_EFORMAT, ctx, 0, hsize < FG_WIRE_HEADER_SIZE? hsize
                             : (size_t) FG_WIRE_HEADER_SIZE, "header",
                             "%zu bytes, expected %d", hsize, FG_WIRE_HEADER_SIZE);
    int type = h [H_TYPE];
    if (type < 1 || type > FG_WIRE_TYPE_MAX)
        return fg_wire_fail (err, FG_EFORMAT, ctx, 0, H_TYPE, "type",
                             "unknown message type %d", type);
    ctx->type = type;
    if (h [H_FLAGS] != 0)
        return fg_wire_fail (err, FG_EFORMAT, ctx, 0, H_FLAGS, "flags",
                             "unknown bits 0x%02x", h [H_FLAGS]);
    size_t want = 1 + s_payload_frames (&fg_wire_desc [type]);
    if (count != want)
        return fg_wire_fail (err, FG_EFORMAT, ctx, count < want? count: want, 0, "frames",
                             "%zu frames, a %s has %zu",
                             count, fg_wire_desc [type].name, want);
    uint64_t payload = 0;
    for (size_t i = 1; i < count; i++) {
        if (frames [i].size > lim->max_frame)
            return fg_wire_fail (err, FG_ERANGE, ctx, i, 0, "frame",
                                 "%zu bytes > max_frame %zu", frames [i].size, lim->max_frame);
        payload += frames [i].size;     //  <= 3 x 2^30: no overflow
    }
    uint64_t said = fg_le_get64 (h + H_PAYLOAD);
    if (said != payload)
        return fg_wire_fail (err, FG_EFORMAT, ctx, 0, H_PAYLOAD, "payload_length",
                             "header says %" PRIu64 " bytes, frames hold %" PRIu64,
                             said, payload);
    uint32_t crc = s_checksum (h, frames + 1, count - 1);
    uint32_t sum = fg_le_get32 (h + H_CHECKSUM);
    if (crc != sum)
        return fg_wire_fail (err, FG_ECHECKSUM, ctx, 0, H_CHECKSUM, "checksum",
                             "header says %08x, content gives %08x", sum, crc);
    return 0;
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
    fg_wire_ctx_t ctx = { "decode", 0 };
    if ((rc = s_read_header (frames, count, &lim, &ctx, err)))
        return rc;
    const uint8_t *h = frames [0].data;
    msg->type = ctx.type;
    msg->experiment = fg_le_get64 (h + H_EXPERIMENT);
    msg->round = fg_le_get32 (h + H_ROUND);
    msg->shard = fg_le_get32 (h + H_SHARD);
    msg->attempt = fg_le_get32 (h + H_ATTEMPT);
    rc = s_parse (frames, &lim, &ctx, msg, err);
    if (rc == FG_ENOMEM)
        fg_error_set (err, rc, "wire decode %s: out of memory", fg_wire_desc [ctx.type].name);
    if (rc)
        fg_wire_msg_clear (msg);
    return rc;
}


//  --------------------------------------------------------------------------
//  Helpers

void
fg_wire_msg_reply (fg_wire_msg_t *reply, int type, const fg_wire_msg_t *to)
{
    assert (reply);
    memset (reply, 0, sizeof *reply);
    reply->type = type;
    if (to) {
        reply->experiment = to->experiment;
        reply->round = to->round;
        reply->shard = to->shard;
        reply->attempt = to->attempt;
    }
}

