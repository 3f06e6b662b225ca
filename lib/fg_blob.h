/*  fg_blob.h — the one binary format of model weights (DESIGN §4).

    A blob is a self-describing, little-endian serialisation of an
    fg_state_t: a header naming every tensor (name, kind, shape, element
    count, stored length, CRC-32), then each tensor's floats byte-shuffled
    (byte plane 0 of every float, then plane 1, 2, 3) and LZ4-compressed in
    bounded chunks. The same bytes travel on the wire, rest in the journal
    and sit in files; docs/blob.md gives the layout byte by byte.

    Two forms:
      full   the state's own float bits;
      delta  the state's bits XOR the bits of a base state both sides hold
             (an update against the global weights it started from). The
             blob records the base's CRC-32, so decoding against any other
             base is refused (FG_EMISMATCH). Lossless: decode gives back the
             encoded state bit for bit, NaN payloads and -0.0 included.

    Data are raw IEEE-754 binary32 in little-endian order: the library
    refuses to build on a big-endian host.                                 */

#ifndef FG_BLOB_H_INCLUDED
#define FG_BLOB_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "fg_error.h"
#include "fg_state.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FG_BLOB_MAGIC        "FGBLOB\0\0"   //  8 bytes, the NULs included
#define FG_BLOB_MAGIC_SIZE   8
#define FG_BLOB_VERSION      1
#define FG_BLOB_FLAG_DELTA   0x1u           //  XOR-delta against a base

//  What fg_blob_check learns from a blob without decoding it into a state.
typedef struct {
    uint32_t version;                   //  FG_BLOB_VERSION
    bool     delta;                     //  true: needs its base to decode
    uint32_t base_crc;                  //  delta: fg_blob_state_crc of the base
    uint32_t data_crc;                  //  fg_blob_state_crc of the decoded state
    size_t   ntensors;
    size_t   total_floats;              //  the decoded state's size
    uint32_t chunk_floats;              //  floats per compressed chunk
    size_t   header_size;               //  bytes before the data section
    size_t   blob_size;                 //  bytes in all
} fg_blob_info_t;

//  Encodes state as a blob: full when base is NULL, else a delta against
//  base (which must have state's layout, fg_state_same_layout). On success
//  *out is a malloc'ed buffer of *out_size bytes; caller owns it and frees
//  it with free (). On failure *out is NULL and *out_size 0.
//  Returns 0,
//    FG_EINVAL    state is malformed (a name empty, too long, not printable
//                 ASCII or repeated; a rank, kind, count or offset that
//                 fg_state_add would not have made),
//    FG_EMISMATCH base's layout differs from state's,
//    FG_ENOMEM.
int
    fg_blob_encode (const fg_state_t *state, const fg_state_t *base,
                    uint8_t **out, size_t *out_size, fg_error_t *err);

//  Where fg_blob_write puts a blob's bytes: size bytes at offset at of the
//  blob. Every byte is written once, the data section in order, the
//  header last at offset 0. Returns 0 or a negative FG_E* code (in err).
typedef int (fg_blob_write_fn) (void *ctx, uint64_t at, const void *data, size_t size,
                                fg_error_t *err);

//  fg_blob_encode's blob, bit for bit, handed to write in pieces (one
//  compressed chunk at a time, then the header) instead of built in one
//  buffer: holds about 8 x 1 MiB whatever the state's size, so a 59 MB
//  state goes to a file without a 59 MB copy. *size gets the blob's bytes,
//  *crc (when not NULL) zlib's CRC-32 of all of them.
//  Returns fg_blob_encode's codes, or write's.
int
    fg_blob_write (const fg_state_t *state, const fg_state_t *base, fg_blob_write_fn *write,
                   void *ctx, uint64_t *size, uint32_t *crc, fg_error_t *err);

//  A fg_blob_write_fn into memory: ctx is a fg_blob_buffer_t; a piece
//  past its capacity is refused (FG_EINVAL).
typedef struct {
    uint8_t *bytes;
    uint64_t capacity;
} fg_blob_buffer_t;

int
    fg_blob_buffer_write (void *ctx, uint64_t at, const void *data, size_t size,
                          fg_error_t *err);

//  A fg_blob_write_fn into a file being written: ctx is a fg_file_out_t
//  (fg_file.h).
int
    fg_blob_file_write (void *ctx, uint64_t at, const void *data, size_t size,
                        fg_error_t *err);

//  The largest blob fg_blob_encode writes for a state of state's layout,
//  full or delta (every chunk stored raw, as when LZ4 cannot shrink it):
//  the exact header, then per tensor 4 * count bytes of planes and 4 bytes
//  per chunk of FG_BLOB_CHUNK_FLOATS floats. What a receiver allows for an
//  update against base before it asks for the first byte. 0 when state is
//  not one fg_state_add could have built (fg_blob_encode says FG_EINVAL).
uint64_t
    fg_blob_bound (const fg_state_t *state);

//  Decodes a blob of size bytes. A delta blob needs the base it was
//  encoded against; for a full blob base is ignored and may be NULL. On
//  success *state_out is a new state that the caller owns (destroy with
//  fg_state_destroy); on failure it is NULL. Never reads outside
//  data [0, size) and allocates at most about 255 times size bytes.
//  Returns 0,
//    FG_EFORMAT   malformed: short, bad magic, a count, length, rank,
//                 shape, name or chunk that is out of range or does not add
//                 up, a chunk that LZ4 cannot decode to its exact size,
//    FG_EVERSION  a format version other than FG_BLOB_VERSION,
//    FG_ECHECKSUM the header, a tensor (message gives its index and name)
//                 or the whole decoded state does not match its CRC-32,
//    FG_EINVAL    a delta blob and base is NULL,
//    FG_EMISMATCH a delta blob and base is not the state it was encoded
//                 against (other layout, or other data: CRC differs),
//    FG_ENOMEM.
int
    fg_blob_decode (const uint8_t *data, size_t size, const fg_state_t *base,
                    fg_state_t **state_out, fg_error_t *err);

//  Decodes a full blob into into, a state of the blob's layout (names,
//  kinds, shapes, counts in order; FG_EMISMATCH otherwise, FG_EINVAL for
//  a delta blob), with one chunk's buffer instead of a new state. With
//  check_only, stops after those checks (nothing written). A blob that
//  fails while decoding (FG_EFORMAT, FG_ECHECKSUM) leaves into partly
//  overwritten: run fg_blob_check first when into must stay as it was.
//  Returns 0 or fg_blob_decode's codes.
int
    fg_blob_decode_into (const uint8_t *data, size_t size, fg_state_t *into, bool check_only,
                         fg_error_t *err);

//  Validates a blob completely except for what needs the base (a delta's
//  base CRC and decoded-state CRC): header, every descriptor, every chunk
//  decompressed and every tensor's CRC-32 (and, for a full blob, the
//  state's), using two chunk-sized buffers (at most 8 * chunk_floats bytes,
//  2 MiB for blobs fg_blob_encode writes) instead of the whole state.
//  Fills info (if not NULL) on success.
//  Returns 0, FG_EFORMAT, FG_EVERSION, FG_ECHECKSUM or FG_ENOMEM.
int
    fg_blob_check (const uint8_t *data, size_t size, fg_blob_info_t *info,
                   fg_error_t *err);

//  Writes state as a full blob to path atomically (tmp + fsync + rename),
//  mode 0644, streamed (fg_blob_write). Returns 0, FG_EINVAL, FG_ENOMEM or FG_EIO.
int
    fg_blob_save (const char *path, const fg_state_t *state, fg_error_t *err);

//  Reads a full blob from path (a delta blob is refused with FG_EINVAL).
//  Caller owns *state_out (NULL on failure). Messages start with path.
//  Returns 0, FG_ENOENT, FG_EIO, FG_ERANGE, FG_ENOMEM or any code of
//  fg_blob_decode.
int
    fg_blob_load (const char *path, fg_state_t **state_out, fg_error_t *err);

//  Writes state to path as a safetensors file (atomically, mode 0644):
//  u64 LE header length, a JSON header with "__metadata__" and, per tensor
//  in state order, {"dtype":"F32","shape":[...],"data_offsets":[b,e]},
//  padded with spaces so the data start 8-byte aligned, then the raw
//  little-endian floats of every tensor in order. The JSON is written by
//  jansson; implemented in fg_safetensors.c beside the reader
//  (fg_safetensors.h).
//  Returns 0, FG_EINVAL (a name that is not printable ASCII, or
//  "__metadata__"), FG_ENOMEM or FG_EIO.
int
    fg_blob_export_safetensors (const char *path, const fg_state_t *state,
                                fg_error_t *err);

//  CRC-32 (zlib's crc32, polynomial 0xEDB88320) of state's whole float
//  block as little-endian bytes; what a delta blob records of its base.
uint32_t
    fg_blob_state_crc (const fg_state_t *state);

#ifdef __cplusplus
}
#endif

#endif
