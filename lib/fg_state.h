/*  fg_state.h — a model's state as one flat float32 block with named views.

    Every module that touches weights speaks this type: the network engine
    (nn/) trains it, the blob codec (fg_blob) serialises it, the aggregator
    averages it, the journal stores it. Views are in a fixed order (the
    model's definition order, torchvision's state_dict names), so two
    states of the same model can be folded element by element.
        data:  [size] float32, view i at data [views[i].offset .. + count) */

#ifndef FG_STATE_H_INCLUDED
#define FG_STATE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "fg_error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FG_TENSOR_NAME_MAX 96           //  including the NUL
#define FG_TENSOR_RANK_MAX 4

//  Bytes allocated past the end of every float block BLIS may touch:
//  BLIS 0.9.0 reads (never writes) just past the end of C when beta != 0.
#define FG_BLIS_TAIL_PAD 64

typedef enum {
    FG_TENSOR_PARAM  = 0,               //  trained by SGD (weights, biases)
    FG_TENSOR_BUFFER = 1                //  running statistics (BN mean/var)
} fg_tensor_kind_t;

typedef struct {
    char     name [FG_TENSOR_NAME_MAX]; //  e.g. "features.0.weight"
    uint32_t kind;                      //  fg_tensor_kind_t
    uint32_t rank;                      //  1 .. FG_TENSOR_RANK_MAX
    uint64_t shape [FG_TENSOR_RANK_MAX];//  unused dims are 1
    uint64_t offset;                    //  first float in the flat block
    uint64_t count;                     //  product of shape
} fg_tensor_view_t;

typedef struct {
    fg_tensor_view_t *views;            //  [nviews]
    size_t   nviews;
    float   *data;                      //  [size], 64-byte aligned
    size_t   size;                      //  floats in all views
} fg_state_t;

//  Creates an empty state (no views). Caller owns it: fg_state_destroy.
fg_state_t *
    fg_state_new (void);

//  NULL-safe; nulls *self_p.
void
    fg_state_destroy (fg_state_t **self_p);

//  Appends a view of the given shape after the last one (data is
//  reallocated and the new floats are zero). Returns 0, FG_EINVAL (bad
//  name, rank, empty or overflowing shape, duplicate name) or FG_ENOMEM.
int
    fg_state_add (fg_state_t *self, const char *name, fg_tensor_kind_t kind,
                  uint32_t rank, const uint64_t *shape, fg_error_t *err);

//  Appends a view like fg_state_add but leaves data as it is, no longer
//  covering the state: for building a layout of many views, whose block
//  fg_state_alloc then allocates once (fg_state_add copies the block at
//  every view). Same errors as fg_state_add.
int
    fg_state_add_view (fg_state_t *self, const char *name, fg_tensor_kind_t kind,
                       uint32_t rank, const uint64_t *shape, fg_error_t *err);

//  Replaces data with a zeroed block covering every view. Returns 0 or
//  FG_ENOMEM (data unchanged).
int
    fg_state_alloc (fg_state_t *self, fg_error_t *err);

//  The same views with zero data. Caller owns it; NULL when out of memory.
fg_state_t *
    fg_state_zeros_like (const fg_state_t *self);

//  Deep copy (views and data). Caller owns it; NULL when out of memory.
fg_state_t *
    fg_state_dup (const fg_state_t *self);

//  The view called name, or NULL.
const fg_tensor_view_t *
    fg_state_find (const fg_state_t *self, const char *name);

//  True when both have the same views (names, kinds, shapes, offsets) in
//  the same order: their blocks can be combined element-wise. When not,
//  and err is given, it names the first difference.
bool
    fg_state_same_layout (const fg_state_t *a, const fg_state_t *b, fg_error_t *err);

//  Copies b's data into a; layouts must match (FG_EMISMATCH otherwise).
int
    fg_state_copy_data (fg_state_t *a, const fg_state_t *b, fg_error_t *err);

//  SHA-256 (hex) of the layout and the data's little-endian bytes: the
//  fingerprint `fedctl status` shows for committed weights.
void
    fg_state_hash (const fg_state_t *self, char hex [65]);

#ifdef __cplusplus
}
#endif

#endif
