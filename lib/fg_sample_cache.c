/*  fg_sample_cache.c — a trainer's cache of fetched samples (LMDB).      */

#include "fg_sample_cache.h"
#include "fg_log.h"
#include "fg_lmdb.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define S_GROW_MAX      12
#define S_KEY_SIZE      (FG_SHA256_SIZE + 4)
#define S_RECORD_MAX    ((size_t) 1 << 24)

struct _fg_sample_cache_t {
    fg_lmdb_t *lmdb;
    MDB_dbi    dbi;
    const char *path;                   //  the file's, for messages
};

static void
s_key (uint8_t key [S_KEY_SIZE], const uint8_t hash [FG_SHA256_SIZE], uint32_t index)
{
    memcpy (key, hash, FG_SHA256_SIZE);
    key [FG_SHA256_SIZE + 0] = (uint8_t) (index >> 24);
    key [FG_SHA256_SIZE + 1] = (uint8_t) (index >> 16);
    key [FG_SHA256_SIZE + 2] = (uint8_t) (index >> 8);
    key [FG_SHA256_SIZE + 3] = (uint8_t) index;
}

static uint32_t
s_key_index (const uint8_t *key)
{
    return (uint32_t) key [FG_SHA256_SIZE] << 24 | (uint32_t) key [FG_SHA256_SIZE + 1] << 16
         | (uint32_t) key [FG_SHA256_SIZE + 2] << 8 | key [FG_SHA256_SIZE + 3];
}

static uint32_t
s_crc (const uint8_t key [S_KEY_SIZE], const uint8_t *record, size_t size)
{
    uLong crc = crc32 (0L, key, S_KEY_SIZE);
    return (uint32_t) crc32_z (crc, record, size);
}

//  Bytes of the variable record at p (its head read; the caller knows
//  at least FG_WIRE_SAMPLE_HEAD bytes are there).
static size_t
s_var_size (const uint8_t *p)
{
    uint32_t size = (uint32_t) p [2] | (uint32_t) p [3] << 8 | (uint32_t) p [4] << 16
                  | (uint32_t) p [5] << 24;
    return FG_WIRE_SAMPLE_HEAD + (size_t) size;
}

//  True when value v is a sound record for key: of record_size bytes, or
//  (record_size 0) a variable record whose head says its size.
static bool
s_sound (const uint8_t key [S_KEY_SIZE], const MDB_val *v, size_t record_size)
{
    if (record_size == 0) {
        if (v->mv_size < FG_WIRE_SAMPLE_HEAD + 1 + 4
        ||  v->mv_size > FG_WIRE_SAMPLE_HEAD + FG_WIRE_SAMPLE_MAX + 4
        ||  s_var_size (v->mv_data) != v->mv_size - 4)
            return false;
        record_size = v->mv_size - 4;
    }
    if (v->mv_size != record_size + 4)
        return false;
    const uint8_t *p = (const uint8_t *) v->mv_data + record_size;
    uint32_t stored = (uint32_t) p [0] | (uint32_t) p [1] << 8 | (uint32_t) p [2] << 16
                    | (uint32_t) p [3] << 24;
    return stored == s_crc (key, v->mv_data, record_size);
}

fg_sample_cache_t *
fg_sample_cache_open (const char *dir, fg_error_t *err)
{
    fg_sample_cache_t *self = calloc (1, sizeof *self);
    if (!self) {
        fg_error_set (err, FG_ENOMEM, "sample cache: out of memory");
        return NULL;
    }
    if (fg_lmdb_open_recomputable (dir, "samples.lmdb", 0, S_GROW_MAX, &self->lmdb, &self->dbi,
                                   err)) {
        fg_sample_cache_close (&self);
        return NULL;
    }
    self->path = fg_lmdb_path (self->lmdb);
    return self;
}

void
fg_sample_cache_close (fg_sample_cache_t **self_p)
{
    if (self_p && *self_p) {
        fg_lmdb_close (&(*self_p)->lmdb);
        free (*self_p);
        *self_p = NULL;
    }
}

static int
s_read_txn (fg_sample_cache_t *self, MDB_txn **txn, fg_error_t *err)
{
    return fg_lmdb_read_begin (self->lmdb, txn, err);
}

static int
s_check_ranges (const fg_sample_cache_t *self, size_t record_size, const fg_wire_range_t *ranges,
                uint32_t nranges, fg_error_t *err)
{
    if (record_size > S_RECORD_MAX)
        return fg_error_set (err, FG_EINVAL, "%s: record size %zu above %zu", self->path,
                             record_size, S_RECORD_MAX);
    uint64_t end = 0;
    for (uint32_t r = 0; r < nranges; r++) {
        if (ranges [r].count == 0 || ranges [r].start < end
        ||  (uint64_t) ranges [r].start + ranges [r].count > ((uint64_t) 1 << 32))
            return fg_error_set (err, FG_EINVAL, "%s: range %u (%u, %u) empty, unsorted or past "
                                 "2^32", self->path, r, ranges [r].start, ranges [r].count);
        end = (uint64_t) ranges [r].start + ranges [r].count;
    }
    return 0;
}

//  Appends index to the ranges being built in *out.
static int
s_add_missing (fg_wire_range_t **out, uint32_t *n, size_t *cap, uint32_t start, uint32_t count)
{
    if (*n && (uint64_t) (*out) [*n - 1].start + (*out) [*n - 1].count == start) {
        (*out) [*n - 1].count += count;
        return 0;
    }
    if (*n == *cap) {
        size_t grown = *cap? *cap * 2: 16;
        fg_wire_range_t *more = realloc (*out, grown * sizeof *more);
        if (!more)
            return FG_ENOMEM;
        *out = more;
        *cap = grown;
    }
    (*out) [*n].start = start;
    (*out) [*n].count = count;
    (*n)++;
    return 0;
}

typedef struct {
    fg_sample_cache_t *self;
    const uint8_t *hash;
    const uint32_t *drop;               //  damaged records to delete
    size_t ndrop;
    const fg_wire_range_t *ranges;      //  records to put
    uint32_t nranges;
    size_t record_size;                 //  0: variable records
    const uint8_t *records;
} s_write_t;

//  The record of sample index (record_size bytes, then the CRC-32 of key
//  and record) in the space LMDB reserved.
static void
s_fill (uint8_t *p, const uint8_t key [S_KEY_SIZE], const uint8_t *record, size_t record_size)
{
    memcpy (p, record, record_size);
    uint32_t crc = s_crc (key, record, record_size);
    p [record_size + 0] = (uint8_t) crc;
    p [record_size + 1] = (uint8_t) (crc >> 8);
    p [record_size + 2] = (uint8_t) (crc >> 16);
    p [record_size + 3] = (uint8_t) (crc >> 24);
}

static int
s_write_txn (MDB_txn *txn, void *ctx, fg_error_t *err)
{
    s_write_t *w = (s_write_t *) ctx;
    fg_sample_cache_t *self = w->self;
    uint8_t key [S_KEY_SIZE];
    for (size_t i = 0; i < w->ndrop; i++) {
        s_key (key, w->hash, w->drop [i]);
        MDB_val k = { S_KEY_SIZE, key };
        int rc = mdb_del (txn, self->dbi, &k, NULL);
        if (rc && rc != MDB_NOTFOUND)
            return fg_lmdb_fail (self->lmdb, rc, err, "delete sample %u", w->drop [i]);
    }
    const uint8_t *record = w->records;
    for (uint32_t r = 0; r < w->nranges; r++)
        for (uint32_t i = 0; i < w->ranges [r].count; i++) {
            //  variable records: framing checked by fg_sample_cache_put
            size_t size = w->record_size? w->record_size: s_var_size (record);
            uint32_t index = w->ranges [r].start + i;
            s_key (key, w->hash, index);
            MDB_val k = { S_KEY_SIZE, key }, v = { size + 4, NULL };
            int rc = fg_lmdb_put (self->lmdb, txn, self->dbi, &k, &v, MDB_RESERVE);
            if (rc)
                return fg_lmdb_fail (self->lmdb, rc, err, "put sample %u", index);
            s_fill (v.mv_data, key, record, size);
            record += size;
        }
    return 0;
}

//  One write transaction: deletes the keys of indices drop [0 .. ndrop)
//  (damaged records), then puts the records of ranges (records_size
//  bytes). Grows the map when full (by at least twice the window's
//  records with their keys).
static int
s_write (fg_sample_cache_t *self, const uint8_t hash [FG_SHA256_SIZE], const uint32_t *drop,
         size_t ndrop, const fg_wire_range_t *ranges, uint32_t nranges, size_t record_size,
         const uint8_t *records, size_t records_size, fg_error_t *err)
{
    size_t total = 0;
    for (uint32_t r = 0; r < nranges; r++)
        total += ranges [r].count;
    s_write_t w = { self, hash, drop, ndrop, ranges, nranges, record_size, records };
    return fg_lmdb_write (self->lmdb, "store samples", (records_size + total * 64) * 2,
                          s_write_txn, &w, err);
}

//  What a look-up found so far: the missing ranges (and how many samples
//  they cover) and the damaged records to delete.
typedef struct {
    fg_wire_range_t *out;
    uint32_t n;
    size_t   cap;
    uint64_t count;
    uint32_t *damaged;
    size_t   ndamaged;
    size_t   damaged_cap;
} s_scan_t;

static int
s_scan_missing (s_scan_t *scan, uint64_t start, uint64_t count)
{
    scan->count += count;
    return s_add_missing (&scan->out, &scan->n, &scan->cap, (uint32_t) start, (uint32_t) count);
}

static int
s_scan_damaged (s_scan_t *scan, uint32_t index)
{
    if (scan->ndamaged == scan->damaged_cap) {
        size_t cap = scan->damaged_cap? scan->damaged_cap * 2: 16;
        uint32_t *more = realloc (scan->damaged, cap * sizeof *more);
        if (!more)
            return FG_ENOMEM;
        scan->damaged = more;
        scan->damaged_cap = cap;
    }
    scan->damaged [scan->ndamaged++] = index;
    return s_scan_missing (scan, index, 1);
}

//  Walks the stored keys of range with cursor into scan.
static int
s_scan_range (fg_sample_cache_t *self, MDB_cursor *cursor, const uint8_t hash [FG_SHA256_SIZE],
              size_t record_size, const fg_wire_range_t *range, s_scan_t *scan, fg_error_t *err)
{
    int rc = 0;
    uint64_t next = range->start;               //  first index not yet accounted for
    uint64_t end = next + range->count;
    uint8_t key [S_KEY_SIZE];
    s_key (key, hash, range->start);
    MDB_val k = { S_KEY_SIZE, key }, v;
    int mrc = mdb_cursor_get (cursor, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && mrc == 0 && next < end) {
        if (k.mv_size != S_KEY_SIZE || memcmp (k.mv_data, hash, FG_SHA256_SIZE))
            break;                              //  past this dataset's keys
        uint32_t index = s_key_index (k.mv_data);
        if (index >= end)
            break;
        if (index > next)
            rc = s_scan_missing (scan, next, index - next);
        if (rc == 0 && !s_sound (k.mv_data, &v, record_size))
            rc = s_scan_damaged (scan, index);
        next = (uint64_t) index + 1;
        mrc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT);
    }
    if (mrc && mrc != MDB_NOTFOUND && rc == 0)
        rc = fg_lmdb_fail (self->lmdb, mrc, err, "walk");
    if (rc == 0 && next < end)
        rc = s_scan_missing (scan, next, end - next);
    return rc;
}

int
fg_sample_cache_missing (fg_sample_cache_t *self, const uint8_t hash [FG_SHA256_SIZE],
                         size_t record_size, const fg_wire_range_t *ranges, uint32_t nranges,
                         fg_wire_range_t **missing, uint32_t *nmissing, uint64_t *samples,
                         fg_error_t *err)
{
    *missing = NULL;
    *nmissing = 0;
    *samples = 0;
    int rc = s_check_ranges (self, record_size, ranges, nranges, err);
    if (rc)
        return rc;
    MDB_txn *txn;
    if ((rc = s_read_txn (self, &txn, err)))
        return rc;
    MDB_cursor *cursor;
    int mrc = mdb_cursor_open (txn, self->dbi, &cursor);
    if (mrc) {
        mdb_txn_abort (txn);
        return fg_lmdb_fail (self->lmdb, mrc, err, "open cursor");
    }
    s_scan_t scan;
    memset (&scan, 0, sizeof scan);
    for (uint32_t r = 0; rc == 0 && r < nranges; r++)
        rc = s_scan_range (self, cursor, hash, record_size, &ranges [r], &scan, err);
    mdb_cursor_close (cursor);
    mdb_txn_abort (txn);
    if (rc == FG_ENOMEM)
        fg_error_set (err, FG_ENOMEM, "%s: out of memory", self->path);
    if (rc == 0 && scan.ndamaged) {
        fg_error_t werr;
        if (s_write (self, hash, scan.damaged, scan.ndamaged, NULL, 0, record_size, NULL, 0,
                     &werr) == 0)
            fg_warn ("%s: %zu damaged sample records deleted; fetching them again",
                     self->path, scan.ndamaged);
    }
    free (scan.damaged);
    if (rc) {
        free (scan.out);
        return rc;
    }
    *missing = scan.out;
    *nmissing = scan.n;
    *samples = scan.count;
    return 0;
}

int
fg_sample_cache_put (fg_sample_cache_t *self, const uint8_t hash [FG_SHA256_SIZE],
                     size_t record_size, const fg_wire_range_t *ranges, uint32_t nranges,
                     const uint8_t *records, size_t records_size, fg_error_t *err)
{
    int rc = s_check_ranges (self, record_size, ranges, nranges, err);
    if (rc)
        return rc;
    if (nranges == 0 || !records)
        return fg_error_set (err, FG_EINVAL, "%s: nothing to store", self->path);
    uint64_t count = 0;
    for (uint32_t r = 0; r < nranges; r++)
        count += ranges [r].count;
    fg_error_t why;
    if (record_size && count * record_size != records_size)
        return fg_error_set (err, FG_EINVAL, "%s: %zu bytes of records for %llu samples of "
                             "%zu bytes", self->path, records_size, (unsigned long long) count,
                             record_size);
    if (record_size == 0
    &&  (count > UINT32_MAX
    ||   fg_wire_samples_check (records, records_size, (uint32_t) count, &why)))
        return fg_error_set (err, FG_EINVAL, "%s: not %llu variable records: %s", self->path,
                             (unsigned long long) count, count > UINT32_MAX? "too many": why.msg);
    return s_write (self, hash, NULL, 0, ranges, nranges, record_size, records, records_size,
                    err);
}

//  The sound stored value of sample index into *v (its record is the
//  first v->mv_size - 4 bytes). Returns 0, FG_ENOENT, FG_ECHECKSUM or
//  FG_EIO, naming the sample.
static int
s_lookup (fg_sample_cache_t *self, MDB_txn *txn, const uint8_t hash [FG_SHA256_SIZE],
          uint32_t index, size_t record_size, MDB_val *v, fg_error_t *err)
{
    uint8_t key [S_KEY_SIZE];
    s_key (key, hash, index);
    MDB_val k = { S_KEY_SIZE, key };
    int mrc = mdb_get (txn, self->dbi, &k, v);
    if (mrc == MDB_NOTFOUND)
        return fg_error_set (err, FG_ENOENT, "%s: sample %u is not in the cache", self->path,
                             index);
    if (mrc)
        return fg_lmdb_fail (self->lmdb, mrc, err, "get sample %u", index);
    if (!s_sound (key, v, record_size))
        return fg_error_set (err, FG_ECHECKSUM, "%s: the record of sample %u is damaged "
                             "(%zu bytes, CRC-32)", self->path, index, v->mv_size);
    return 0;
}

int
fg_sample_cache_get (fg_sample_cache_t *self, const uint8_t hash [FG_SHA256_SIZE],
                     size_t record_size, const fg_wire_range_t *ranges, uint32_t nranges,
                     uint8_t *out, fg_error_t *err)
{
    int rc = s_check_ranges (self, record_size, ranges, nranges, err);
    if (rc)
        return rc;
    if (record_size == 0)
        return fg_error_set (err, FG_EINVAL, "%s: variable records are loaded, not copied",
                             self->path);
    MDB_txn *txn;
    if ((rc = s_read_txn (self, &txn, err)))
        return rc;
    for (uint32_t r = 0; rc == 0 && r < nranges; r++)
        for (uint32_t i = 0; rc == 0 && i < ranges [r].count; i++) {
            MDB_val v;
            rc = s_lookup (self, txn, hash, ranges [r].start + i, record_size, &v, err);
            if (rc == 0) {
                memcpy (out, v.mv_data, record_size);
                out += record_size;
            }
        }
    mdb_txn_abort (txn);
    return rc;
}

//  Walks the variable records of ranges in txn: sums their bytes into
//  *total (out NULL), or copies them to out.
static int
s_load_pass (fg_sample_cache_t *self, MDB_txn *txn, const uint8_t hash [FG_SHA256_SIZE],
             const fg_wire_range_t *ranges, uint32_t nranges, uint64_t *total, uint8_t *out,
             fg_error_t *err)
{
    int rc = 0;
    for (uint32_t r = 0; rc == 0 && r < nranges; r++)
        for (uint32_t i = 0; rc == 0 && i < ranges [r].count; i++) {
            MDB_val v;
            rc = s_lookup (self, txn, hash, ranges [r].start + i, 0, &v, err);
            if (rc == 0 && out) {
                memcpy (out, v.mv_data, v.mv_size - 4);
                out += v.mv_size - 4;
            }
            if (rc == 0 && !out)
                *total += v.mv_size - 4;
        }
    return rc;
}

int
fg_sample_cache_load (fg_sample_cache_t *self, const uint8_t hash [FG_SHA256_SIZE],
                      const fg_wire_range_t *ranges, uint32_t nranges, size_t max_bytes,
                      uint8_t **out, size_t *size, fg_error_t *err)
{
    *out = NULL;
    *size = 0;
    int rc = s_check_ranges (self, 0, ranges, nranges, err);
    if (rc)
        return rc;
    MDB_txn *txn;
    if ((rc = s_read_txn (self, &txn, err)))
        return rc;
    uint64_t total = 0;
    rc = s_load_pass (self, txn, hash, ranges, nranges, &total, NULL, err);
    if (rc == 0 && total > max_bytes)
        rc = fg_error_set (err, FG_ERANGE, "%s: the samples hold %llu bytes, more than %zu",
                           self->path, (unsigned long long) total, max_bytes);
    uint8_t *buffer = NULL;
    if (rc == 0 && !(buffer = malloc (total? (size_t) total: 1)))
        rc = fg_error_set (err, FG_ENOMEM, "%s: out of memory for %llu bytes of samples",
                           self->path, (unsigned long long) total);
    if (rc == 0)
        rc = s_load_pass (self, txn, hash, ranges, nranges, NULL, buffer, err);
    mdb_txn_abort (txn);
    if (rc) {
        free (buffer);
        return rc;
    }
    *out = buffer;
    *size = (size_t) total;
    return 0;
}

uint64_t
fg_sample_cache_count (fg_sample_cache_t *self, const uint8_t hash [FG_SHA256_SIZE])
{
    MDB_txn *txn;
    if (s_read_txn (self, &txn, NULL))
        return 0;
    MDB_cursor *cursor;
    uint64_t n = 0;
    if (mdb_cursor_open (txn, self->dbi, &cursor) == 0) {
        uint8_t key [S_KEY_SIZE];
        s_key (key, hash, 0);
        MDB_val k = { S_KEY_SIZE, key }, v;
        int mrc = mdb_cursor_get (cursor, &k, &v, MDB_SET_RANGE);
        while (mrc == 0 && k.mv_size == S_KEY_SIZE && memcmp (k.mv_data, hash, FG_SHA256_SIZE) == 0) {
            n++;
            mrc = mdb_cursor_get (cursor, &k, &v, MDB_NEXT);
        }
        mdb_cursor_close (cursor);
    }
    mdb_txn_abort (txn);
    return n;
}
