/*  fg_blob_internal.h — fg_blob's limits and knobs, for tests, the fuzz
    corpus generator and the benchmark (not installed).                    */

#ifndef FG_BLOB_INTERNAL_H_INCLUDED
#define FG_BLOB_INTERNAL_H_INCLUDED

#include "fg_blob.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FG_BLOB_FIXED_SIZE      56      //  fixed header, before the descriptors
#define FG_BLOB_DESC_MIN        33      //  smallest descriptor (rank 1, 1-byte name)
#define FG_BLOB_MIN_SIZE        (FG_BLOB_FIXED_SIZE + 4)  //  + header CRC
#define FG_BLOB_CHUNK_FLOATS    (1u << 18)  //  what fg_blob_encode uses: 1 MiB raw
#define FG_BLOB_CHUNK_FLOATS_MAX (1u << 28) //  1 GiB raw, below LZ4_MAX_INPUT_SIZE
#define FG_BLOB_DIM_MAX         ((uint64_t) 1 << 32)   //  as fg_state_add
#define FG_BLOB_COUNT_MAX       ((uint64_t) 1 << 34)   //  as fg_state_add
#define FG_BLOB_LZ4_EXPANSION   255     //  LZ4 never inflates one byte to more

//  fg_blob_encode with a chosen chunk size (1 .. FG_BLOB_CHUNK_FLOATS_MAX
//  floats; FG_EINVAL otherwise), so tests can make many-chunk tensors from
//  little data. Same returns as fg_blob_encode.
int
    fg_blob_encode_chunked (const fg_state_t *state, const fg_state_t *base,
                            uint32_t chunk_floats, uint8_t **out, size_t *out_size,
                            fg_error_t *err);

//  The checks fg_blob_encode makes of a state (names printable ASCII and
//  unique, kinds, ranks, shapes against counts, views tiling the block in
//  order), for the safetensors writer (fg_safetensors.c). Messages start
//  "blob: ". Returns 0, FG_EINVAL or FG_ENOMEM.
int
    fg_blob_state_check (const fg_state_t *state, fg_error_t *err);

#ifdef __cplusplus
}
#endif

#endif
