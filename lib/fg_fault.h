/*  fg_fault.h — wrong results on purpose, for tests of replication and
    validation (like fg_crash for crashes).

    FEDGRID_FAULT in a trainer's environment makes it lie in these ways
    (several faults as "a,b": for each part of a result — its weights, its
    blob, its sample count, which unit it is — the first fault of that
    part that applies to the unit wins, so "zero-delta,samples:N" lies
    about both):
        zero-delta          the update is the base weights (no training)
        scale:K             the delta is multiplied by K (K = 0 is refused:
                            that is zero-delta)
        add:X               X is added to every weight of the result
        flip-weight:N       bit N of the result's float block is flipped
                            (weight N / 32, bit N % 32, modulo the size):
                            the update still decodes, plausible but wrong
        flip-blob:N         bit N of the encoded update blob is flipped
                            (modulo its bits), its SHA-256 recomputed: the
                            coordinator's decoder may refuse it
        other-unit          the result of this trainer's previous unit is
                            sent for this one (honest for a first unit)
        samples:N           sample_count says N (N >= 1)
        hello-flood:N       on connecting, N extra HELLOs with other node
                            ids before its own (not a unit fault)
    Selectors, after the fault, each at most once:
        @round=R            only units of round R
        @shard=S            only units of shard S
        @p=F                only a fraction F (0..1) of units, chosen by
                            fg_rng from (seed, FG_RNG_FAULT, round, shard):
                            the same units on every run
    Example: FEDGRID_FAULT="zero-delta@round=2,scale:-3@p=0.5".

    The value is parsed strictly: fg_fault_load refuses a bad one with a
    message naming the bad part (fedctl worker and start check it before
    they run); without FEDGRID_FAULT every call is a no-op.              */

#ifndef FG_FAULT_H_INCLUDED
#define FG_FAULT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "fg_error.h"
#include "fg_state.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FG_FAULT_MAX        8           //  faults in one FEDGRID_FAULT value

typedef enum {
    FG_FAULT_ZERO_DELTA = 1,
    FG_FAULT_SCALE,
    FG_FAULT_ADD,
    FG_FAULT_FLIP_WEIGHT,
    FG_FAULT_FLIP_BLOB,
    FG_FAULT_OTHER_UNIT,
    FG_FAULT_SAMPLES,
    FG_FAULT_HELLO_FLOOD
} fg_fault_kind_t;

typedef struct {
    int      kind;                      //  fg_fault_kind_t
    double   value;                     //  scale K, add X
    uint64_t count;                     //  bit N, samples N, HELLOs N
    int64_t  round;                     //  -1: any
    int64_t  shard;                     //  -1: any
    double   p;                         //  1: every unit
} fg_fault_t;

//  Parses a FEDGRID_FAULT value into faults [0 .. *n). Returns 0, or
//  FG_EINVAL naming the bad part.
int
    fg_fault_parse (const char *spec, fg_fault_t *faults, size_t max, size_t *n,
                    fg_error_t *err);

//  Reads FEDGRID_FAULT once (later calls return the first answer).
//  Returns 0 (also when unset), or FG_EINVAL naming the bad part.
int
    fg_fault_load (fg_error_t *err);

//  The parts of a result a fault changes (kinds masks for fg_fault_for_unit).
#define FG_FAULT_WEIGHTS    ((1u << FG_FAULT_ZERO_DELTA) | (1u << FG_FAULT_SCALE) \
                           | (1u << FG_FAULT_ADD) | (1u << FG_FAULT_FLIP_WEIGHT))
#define FG_FAULT_BLOB       (1u << FG_FAULT_FLIP_BLOB)
#define FG_FAULT_COUNT      (1u << FG_FAULT_SAMPLES)
#define FG_FAULT_UNIT       (1u << FG_FAULT_OTHER_UNIT)

//  The first fault of FEDGRID_FAULT among kinds (a mask of 1 << kind) that
//  applies to unit (round, shard) of an experiment with this seed, or NULL
//  (also when FEDGRID_FAULT is bad).
const fg_fault_t *
    fg_fault_for_unit (uint64_t seed, uint32_t round, uint32_t shard, unsigned kinds);

//  True when FEDGRID_FAULT holds a valid value with a fault.
bool
    fg_fault_armed (void);

//  Extra HELLOs asked for by hello-flood:N, or 0.
uint64_t
    fg_fault_hello_flood (void);

//  Applies a weights fault (zero-delta, scale, add, flip-weight) to the
//  trained result, given its base (same layout). Returns true if it did.
bool
    fg_fault_apply_weights (const fg_fault_t *fault, fg_state_t *result,
                            const fg_state_t *base);

//  Applies flip-blob to an encoded update. Returns true if it did.
bool
    fg_fault_apply_blob (const fg_fault_t *fault, uint8_t *blob, size_t size);

//  Its name in the table ("zero-delta", ...).
const char *
    fg_fault_name (int kind);

#ifdef __cplusplus
}
#endif

#endif
