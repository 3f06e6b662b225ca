/*  fg_wire_internal.h — the descriptors the wire codec is driven by (not
    installed).

    lib/fg_wire_types.c holds one descriptor per message type: the fixed
    fields of its body (offset, wire width, struct member, rule), the
    strings and hash lists that follow them, the frames after the body
    (index ranges, floats, bytes, an LZ4 block) and, for what a table
    cannot say, a check function. lib/fg_wire.c's validator, encoder and
    parser read nothing else, so a new message is a new descriptor.     */

#ifndef FG_WIRE_INTERNAL_H_INCLUDED
#define FG_WIRE_INTERNAL_H_INCLUDED

#include "fg_wire.h"

#ifdef __cplusplus
extern "C" {
#endif

//  How a body field sits on the wire.
typedef enum {
    FG_WIRE_K_U8, FG_WIRE_K_U16, FG_WIRE_K_U32, FG_WIRE_K_I32, FG_WIRE_K_U64,
    FG_WIRE_K_F64,
    FG_WIRE_K_HASH,         //  FG_WIRE_HASH_SIZE raw bytes
    FG_WIRE_K_BIT,          //  bool member: bit `hi` of the byte at `at`
    FG_WIRE_K_FLAGS,        //  the byte of K_BIT fields: bits outside `hi` refused
    FG_WIRE_K_RESERVED,     //  a byte that must be 0
    //  the kinds below have bytes after the fixed part (the tail), in
    //  the order of their fields
    FG_WIRE_K_STRING,       //  u8 length at `at`, the string's bytes
    FG_WIRE_K_HASHES,       //  u16 count at `at`, the hashes
    FG_WIRE_K_WORDS         //  u8 length at `at`: 0, or 4 x hi bytes of hi u32le
                            //  words into the u32 array `member`; `count` is
                            //  the offset of the bool member "present"; with
                            //  lo > 0 also 4 x lo bytes (the short form, the
                            //  other words 0), `full` the offset of the bool
                            //  member "the long form"
} fg_wire_kind_t;

//  What the validator checks of a field's value.
typedef enum {
    FG_WIRE_R_NONE,
    FG_WIRE_R_RANGE,        //  lo <= value <= hi
    FG_WIRE_R_RANGE_CHUNK,  //  lo <= value <= limits->max_chunk
    FG_WIRE_R_NONZERO,      //  value >= 1
    FG_WIRE_R_HYPER,        //  finite, 0 <= value < top
    FG_WIRE_R_NONNEG,       //  finite, value >= 0
    FG_WIRE_R_TYPE,         //  a message type
    FG_WIRE_R_CODE,         //  an FG_E* code
    FG_WIRE_R_FN            //  the field's own function
} fg_wire_rule_t;

//  What a frame after the body carries.
typedef enum {
    FG_WIRE_B_RANGES,       //  `count` index ranges (u32le start, u32le count)
    FG_WIRE_B_FLOATS,       //  `count` floats (u32le bits)
    FG_WIRE_B_BYTES,        //  bytes, copied by the decoder
    FG_WIRE_B_LZ4           //  an LZ4 block, copied and decompressed into `out`
} fg_wire_bulk_kind_t;

//  Error context: "wire decode TASK: frame 1 offset 64 (lr): not finite"
typedef struct {
    const char *op;             //  "encode" or "decode"
    int type;
} fg_wire_ctx_t;

//  A rule on a whole message. Returns 0 or an error code (err filled).
typedef int (fg_wire_check_fn) (const fg_wire_msg_t *msg, const fg_wire_limits_t *lim,
                                const fg_wire_ctx_t *ctx, fg_error_t *err);

typedef struct {
    const char *name;
    uint8_t     kind;           //  fg_wire_kind_t
    uint8_t     rule;           //  fg_wire_rule_t
    uint16_t    at;             //  offset in the body
    uint16_t    member;         //  offsetof (fg_wire_msg_t, ...)
    uint16_t    count;          //  K_HASHES: its u32 count member; K_STRING: sizeof the
                                //  array; K_WORDS: its bool "present" member
    uint64_t    lo, hi;         //  R_RANGE bounds; K_BIT, K_FLAGS: bits; K_STRING:
                                //  length bounds; K_HASHES: at most hi; K_WORDS:
                                //  words of the block
    double      top;            //  R_HYPER: upper bound (excluded)
    const char *count_name;     //  K_STRING: name of its length on the wire
    uint8_t     first;          //  K_STRING: lowest byte allowed
    bool        high;           //  K_STRING: bytes >= 0x80 allowed
    fg_wire_check_fn *fn;       //  R_FN
    uint16_t    full;           //  K_WORDS with a short form: its bool "long" member
} fg_wire_field_t;

typedef struct {
    const char *name;
    uint8_t     kind;           //  fg_wire_bulk_kind_t
    uint16_t    data;           //  offsetof the pointer member
    uint16_t    size;           //  offsetof its u32 count (ranges, floats) or size_t size
    uint16_t    count_at;       //  ranges, floats: offset of the count in the body
    const char *count_name;
    uint32_t    min, max;       //  ranges, floats: bounds of the count
    uint16_t    sum, sum_at;    //  ranges: u64 member = sum of the counts, its offset
    const char *cap;            //  bytes: at most max_chunk, message prefix; NULL = no cap
    uint16_t    raw, out;       //  LZ4: u64 decompressed size member, samples member
} fg_wire_bulk_t;

typedef struct {
    const char            *name;
    uint16_t               fixed;   //  bytes of the body's fixed part; 0 = no body
    const fg_wire_field_t *field;
    size_t                 fields;
    const fg_wire_bulk_t  *bulk;    //  frames 2, 3, ...
    size_t                 bulks;
    fg_wire_check_fn      *check;   //  the rules a table cannot say, run last
    fg_wire_check_fn      *inflated;    //  decoder only: rules on the bytes an LZ4
                                        //  frame gave, run after decompressing
} fg_wire_desc_t;

//  One descriptor per message type (index: fg_wire_type_t; [0] is none).
extern const fg_wire_desc_t fg_wire_desc [FG_WIRE_TYPE_MAX + 1];

//  Fills err with "wire <op> <TYPE>: frame F offset O (<field>): <why>"
//  and returns code.
int
    fg_wire_fail (fg_error_t *err, int code, const fg_wire_ctx_t *ctx, size_t frame,
                  size_t offset, const char *field, const char *fmt, ...)
    __attribute__ ((format (printf, 7, 8)));

//  A bytes frame b of `size` bytes against limits->max_chunk. Returns 0
//  or FG_ERANGE.
int
    fg_wire_check_cap (const fg_wire_ctx_t *ctx, const fg_wire_bulk_t *b, size_t frame,
                       size_t size, const fg_wire_limits_t *lim, fg_error_t *err);

//  Largest LZ4 block for n input bytes (LZ4_compressBound, in size_t).
static inline size_t
fg_wire_lz4_bound (size_t n)
{
    return n + n / 255 + 16;
}

#ifdef __cplusplus
}
#endif

#endif
