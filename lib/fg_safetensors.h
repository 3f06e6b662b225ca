/*  fg_safetensors.h — reading safetensors files (the format of Hugging
    Face's safetensors library, which PyTorch users load with
    safetensors.torch.load_file): an 8-byte little-endian header length N,
    N bytes of JSON, then the tensors' raw bytes. The JSON header is parsed
    by jansson (Debian's libjansson-dev); the writer is
    fg_blob_export_safetensors (fg_blob.h), implemented beside the reader in
    fg_safetensors.c. docs/blob.md, "safetensors", has the format and every
    check.

    A file is outside input: the reader refuses, with FG_EFORMAT and a
    message naming the file and the tensor, a header that lies — a length
    past the file or over FG_SAFETENSORS_HEADER_MAX (checked before
    anything is allocated), JSON that is not an object of tensor entries,
    an entry with other members than dtype, shape and data_offsets, a dtype
    that is not a safetensors dtype, a shape whose element count times the
    dtype's size is not the entry's byte span, offsets outside the data,
    spans that overlap or leave bytes of the data to no tensor. dtype F32
    is the only one fedgrid reads (FG_EUNSUPPORTED for the others). Given
    the model's layout, the file must hold exactly the model's tensors with
    the model's shapes (FG_EMISMATCH naming the first difference).         */

#ifndef FG_SAFETENSORS_H_INCLUDED
#define FG_SAFETENSORS_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include "fg_error.h"
#include "fg_state.h"

#ifdef __cplusplus
extern "C" {
#endif

//  The largest JSON header read (the limit of the safetensors library's
//  own reader): a length above it is refused before allocating.
#define FG_SAFETENSORS_HEADER_MAX 100000000u

//  Decodes the safetensors bytes data [0 .. size) into a new state; name
//  (a path) starts every message. With expect (not NULL: the model's
//  state, e.g. fg_model_state), the file must hold exactly expect's
//  tensors with expect's shapes, and *state_out has expect's layout (view
//  order and kinds) with the file's values. Without it, *state_out has the
//  file's tensors in the order of their data, all FG_TENSOR_PARAM (the
//  file does not record which are buffers). Floats are read as
//  little-endian (the host's order: fedgrid builds on x86-64 and arm64).
//  Caller owns *state_out (NULL on failure).
//  Returns 0, FG_EFORMAT (see above), FG_EUNSUPPORTED (a dtype other than
//  F32, a rank above FG_TENSOR_RANK_MAX or a name fg_state cannot hold),
//  FG_EMISMATCH (not the model's tensors or shapes) or FG_ENOMEM.
int
    fg_safetensors_decode (const uint8_t *data, size_t size, const char *name,
                           const fg_state_t *expect, fg_state_t **state_out,
                           fg_error_t *err);

//  Reads path (bounded: with expect, its exact data size plus the largest
//  header; without, FG_SAFETENSORS_HEADER_MAX plus 4 GiB of data) and
//  decodes it as fg_safetensors_decode. Returns 0, FG_ENOENT, FG_EIO,
//  FG_ERANGE (a larger file), or any code of fg_safetensors_decode.
int
    fg_safetensors_load (const char *path, const fg_state_t *expect,
                         fg_state_t **state_out, fg_error_t *err);

//  One entry of a file's "__metadata__" (a string-to-string map in the
//  format): what a user of the weights needs besides the tensors (model,
//  classes, input shape, normalisation, experiment, round; docs/blob.md).
typedef struct {
    const char *key;
    const char *value;
} fg_safetensors_meta_t;

//  The safetensors bytes of state with "__metadata__" = { "format": "pt",
//  "producer": "fedgrid", then meta [0 .. nmeta) in order }. Keys must be
//  distinct, non-empty, and neither "format" nor "producer"; values
//  non-NULL UTF-8. Returns 0, FG_EINVAL (a bad key or value, or as
//  fg_blob_export_safetensors) or FG_ENOMEM; the caller frees *out.
int
    fg_safetensors_encode_meta (const fg_state_t *state, const fg_safetensors_meta_t *meta,
                                size_t nmeta, uint8_t **out, size_t *size, fg_error_t *err);

//  Writes fg_safetensors_encode_meta's bytes to path (atomically: tmp,
//  fsync, rename). Returns its codes, FG_EIO or FG_ENOSPC, with path in
//  the message.
int
    fg_safetensors_save (const char *path, const fg_state_t *state,
                         const fg_safetensors_meta_t *meta, size_t nmeta, fg_error_t *err);

//  The safetensors bytes of state (what fg_blob_export_safetensors
//  writes: the metadata is format and producer only), in a buffer the
//  caller frees. Returns 0, FG_EINVAL (as
//  fg_blob_export_safetensors) or FG_ENOMEM.
int
    fg_safetensors_encode (const fg_state_t *state, uint8_t **out, size_t *size,
                           fg_error_t *err);

#ifdef __cplusplus
}
#endif

#endif
