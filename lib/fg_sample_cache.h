/*  fg_sample_cache.h — a trainer's cache of fetched samples (internal).

    A trainer that does not hold the experiment's dataset fetches the
    samples of its shard from the coordinator (DATA-REQUEST / DATA-CHUNK)
    and keeps them here, so a later unit over the same samples (the static
    strategy's shard, the kept part of a hybrid one) fetches nothing.

    One LMDB file, CACHE/samples.lmdb, one record per sample:
        key    dataset content hash (32 bytes) | sample index (u32 big-endian)
        value  the sample's record | u32le CRC-32 of key and record
    where a record is, as a DATA-CHUNK carries it, either fixed (record_size
    bytes: u16le label | pixels, fg_dataset.h) or variable (record_size 0:
    u16le label | u32le size | size bytes of the stored image file,
    fg_wire_sample_next; 1 <= size <= FG_WIRE_SAMPLE_MAX). A dataset's
    records are all of one form; a value of the other form fails its check.
    A window of samples (what one DATA-REQUEST asked) is stored in one
    write transaction, so a process killed at any instant leaves every
    window either wholly stored or absent (LMDB commits are atomic; kill -9 never loses a committed one).
    Every record is checked when read: a value of another size or whose
    CRC-32 does not match (disk damage, a record under the wrong key) is
    deleted and counted missing, so it is fetched again. The contents can
    always be fetched again, so the environment is opened with
    MDB_NOMETASYNC (an OS crash may lose the last commit, never integrity).

    The cache keeps every sample it was given (at most the whole training
    set per dataset: Fashion-MNIST 47 MB, CIFAR-10 154 MB, Tiny-ImageNet's
    stored JPEGs ~250 MB); delete the file to reclaim the space.          */

#ifndef FG_SAMPLE_CACHE_H_INCLUDED
#define FG_SAMPLE_CACHE_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include "fg_error.h"
#include "fg_sha256.h"
#include "fg_wire.h"

typedef struct _fg_sample_cache_t fg_sample_cache_t;

//  Opens (creating) dir/samples.lmdb; dir must exist. Returns NULL and
//  fills err (FG_EIO naming the file and LMDB's reason, FG_ENOMEM).
fg_sample_cache_t *
    fg_sample_cache_open (const char *dir, fg_error_t *err);

//  NULL-safe; nulls *self_p.
void
    fg_sample_cache_close (fg_sample_cache_t **self_p);

//  The samples of ranges (sorted and disjoint, as a TASK carries them)
//  that are not in the cache for dataset hash with records of
//  record_size bytes (0: variable records), as sorted ranges in *missing
//  (caller frees; NULL when none), *nmissing of them covering *samples
//  samples. A stored record that fails its check is deleted and reported
//  missing. Returns 0, FG_EINVAL (record_size above 2^24, unsorted
//  ranges), FG_EIO or FG_ENOMEM.
int
    fg_sample_cache_missing (fg_sample_cache_t *self, const uint8_t hash [FG_SHA256_SIZE],
                             size_t record_size, const fg_wire_range_t *ranges,
                             uint32_t nranges, fg_wire_range_t **missing, uint32_t *nmissing,
                             uint64_t *samples, fg_error_t *err);

//  Stores the records of every sample of ranges (sorted and disjoint),
//  in order (records: records_size bytes, sample count x record_size for
//  fixed records, the variable records one after the other for
//  record_size 0), for dataset hash, in ONE transaction: after a crash
//  all of them are stored or none. Replaces any stored before. The caller
//  has checked their content (hash, range, labels). Returns 0, FG_EINVAL
//  (no ranges, unsorted or empty ranges, record_size above 2^24,
//  records_size or the variable records' framing not the ranges' sample
//  count), FG_EFULL (disk or map full) or FG_EIO.
int
    fg_sample_cache_put (fg_sample_cache_t *self, const uint8_t hash [FG_SHA256_SIZE],
                         size_t record_size, const fg_wire_range_t *ranges, uint32_t nranges,
                         const uint8_t *records, size_t records_size, fg_error_t *err);

//  Copies the fixed records of every sample of ranges, in order, to out
//  (sample count x record_size bytes). Returns 0, FG_ENOENT (a sample is
//  not stored: names it), FG_ECHECKSUM (a stored record fails its check:
//  names it), FG_EINVAL (record_size 0: see fg_sample_cache_load), FG_EIO.
int
    fg_sample_cache_get (fg_sample_cache_t *self, const uint8_t hash [FG_SHA256_SIZE],
                         size_t record_size, const fg_wire_range_t *ranges, uint32_t nranges,
                         uint8_t *out, fg_error_t *err);

//  The variable records of every sample of ranges, in order, in one
//  buffer the caller owns (*out, free (); *size bytes), at most max_bytes
//  (their sizes are summed and checked before anything is allocated).
//  Returns 0, FG_ENOENT, FG_ECHECKSUM (as fg_sample_cache_get), FG_ERANGE
//  (more than max_bytes), FG_EINVAL, FG_EIO or FG_ENOMEM.
int
    fg_sample_cache_load (fg_sample_cache_t *self, const uint8_t hash [FG_SHA256_SIZE],
                          const fg_wire_range_t *ranges, uint32_t nranges, size_t max_bytes,
                          uint8_t **out, size_t *size, fg_error_t *err);

//  Number of records stored for dataset hash (checked or not), or 0 on
//  error.
uint64_t
    fg_sample_cache_count (fg_sample_cache_t *self, const uint8_t hash [FG_SHA256_SIZE]);

#endif
