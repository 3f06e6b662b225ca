/*  test_sample_cache.c — the trainer's cache of fetched samples: what is
    missing, round trips, persistence, datasets kept apart, damaged
    records found and fetched again, bad arguments refused, and a writer
    killed with SIGKILL at random instants leaves whole chunks only.     */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <lmdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fg_clock.h"
#include "fg_sample_cache.h"
#include "fg_test_util.h"

#define RS 10                           //  record size used here

static char s_tmp [256];

static int
s_setup (void **state)
{
    (void) state;
    return fg_test_tmpdir ("fg-test-cache", s_tmp, sizeof s_tmp);
}

static int
s_teardown (void **state)
{
    (void) state;
    return fg_test_rmtree (s_tmp);
}

//  A fresh cache folder under s_tmp.
static const char *
s_dir (const char *name)
{
    static char path [512];
    snprintf (path, sizeof path, "%s/%s", s_tmp, name);
    mkdir (path, 0755);
    return path;
}

//  The record of sample i: every byte a function of (i, byte).
static void
s_record (uint32_t i, uint8_t *out)
{
    for (int b = 0; b < RS; b++)
        out [b] = (uint8_t) (i * 31 + (uint32_t) b * 7 + 1);
}

static void
s_put (fg_sample_cache_t *cache, const uint8_t *hash, uint32_t start, uint32_t count)
{
    uint8_t *records = malloc ((size_t) count * RS);
    assert_non_null (records);
    for (uint32_t i = 0; i < count; i++)
        s_record (start + i, records + (size_t) i * RS);
    fg_error_t err;
    fg_wire_range_t range = { start, count };
    assert_int_equal (fg_sample_cache_put (cache, hash, RS, &range, 1, records,
                                           (size_t) count * RS, &err), 0);
    free (records);
}

static void
test_missing_put_get (void **state)
{
    (void) state;
    fg_error_t err;
    const char *dir = s_dir ("basic");
    fg_sample_cache_t *cache = fg_sample_cache_open (dir, &err);
    assert_non_null (cache);
    uint8_t hash [FG_SHA256_SIZE], other [FG_SHA256_SIZE];
    memset (hash, 0xab, sizeof hash);
    memset (other, 0xac, sizeof other);
    fg_wire_range_t shard [3] = { { 5, 10 }, { 100, 1 }, { 200, 50 } };
    fg_wire_range_t *missing;
    uint32_t nmissing;
    uint64_t samples;
    assert_int_equal (fg_sample_cache_missing (cache, hash, RS, shard, 3, &missing, &nmissing,
                                               &samples, &err), 0);
    assert_int_equal (nmissing, 3);
    assert_int_equal (samples, 61);
    assert_memory_equal (missing, shard, sizeof shard);
    free (missing);

    //  store part of it (and a sample of another dataset at the same index)
    s_put (cache, hash, 7, 3);                  //  7, 8, 9
    s_put (cache, hash, 100, 1);
    s_put (cache, hash, 200, 10);               //  200..209
    s_put (cache, hash, 240, 20);               //  240..259 (past the shard too)
    s_put (cache, other, 5, 10);
    assert_int_equal (fg_sample_cache_count (cache, hash), 34);
    assert_int_equal (fg_sample_cache_count (cache, other), 10);
    assert_int_equal (fg_sample_cache_missing (cache, hash, RS, shard, 3, &missing, &nmissing,
                                               &samples, &err), 0);
    fg_wire_range_t want [3] = { { 5, 2 }, { 10, 5 }, { 210, 30 } };
    assert_int_equal (nmissing, 3);
    assert_int_equal (samples, 37);
    assert_memory_equal (missing, want, sizeof want);
    free (missing);

    //  reading: what is stored comes back; what is not is named
    uint8_t out [20 * RS], expect [RS];
    fg_wire_range_t have [2] = { { 8, 2 }, { 245, 3 } };
    assert_int_equal (fg_sample_cache_get (cache, hash, RS, have, 2, out, &err), 0);
    uint32_t order [5] = { 8, 9, 245, 246, 247 };
    for (int i = 0; i < 5; i++) {
        s_record (order [i], expect);
        assert_memory_equal (out + i * RS, expect, RS);
    }
    assert_int_equal (fg_sample_cache_get (cache, hash, RS, shard, 3, out, &err), FG_ENOENT);
    assert_non_null (strstr (err.msg, "sample 5 "));
    //  another record size: every stored record fails its check
    assert_int_equal (fg_sample_cache_get (cache, hash, RS + 1, have, 1, out, &err), FG_ECHECKSUM);

    //  several ranges in one put, in order
    fg_wire_range_t two [2] = { { 5, 2 }, { 10, 5 } };
    uint8_t seven [7 * RS];
    uint32_t which [7] = { 5, 6, 10, 11, 12, 13, 14 };
    for (int i = 0; i < 7; i++)
        s_record (which [i], seven + i * RS);
    assert_int_equal (fg_sample_cache_put (cache, hash, RS, two, 2, seven, sizeof seven, &err),
                      0);
    memset (out, 0, sizeof out);
    assert_int_equal (fg_sample_cache_get (cache, hash, RS, two, 2, out, &err), 0);
    assert_memory_equal (out, seven, sizeof seven);
    assert_int_equal (fg_sample_cache_count (cache, hash), 41);

    //  persistence
    fg_sample_cache_close (&cache);
    assert_null (cache);
    cache = fg_sample_cache_open (dir, &err);
    assert_non_null (cache);
    fg_wire_range_t all [1] = { { 200, 60 } };
    assert_int_equal (fg_sample_cache_missing (cache, hash, RS, all, 1, &missing, &nmissing,
                                               &samples, &err), 0);
    assert_int_equal (nmissing, 1);
    assert_int_equal (missing [0].start, 210);
    assert_int_equal (missing [0].count, 30);
    free (missing);
    //  everything present: nothing missing, NULL list
    fg_wire_range_t some [1] = { { 240, 20 } };
    assert_int_equal (fg_sample_cache_missing (cache, hash, RS, some, 1, &missing, &nmissing,
                                               &samples, &err), 0);
    assert_null (missing);
    assert_int_equal (nmissing, 0);
    assert_int_equal (samples, 0);
    fg_sample_cache_close (&cache);
    fg_sample_cache_close (&cache);             //  NULL-safe
}

static void
test_bad_arguments (void **state)
{
    (void) state;
    fg_error_t err;
    fg_sample_cache_t *cache = fg_sample_cache_open (s_dir ("bad"), &err);
    assert_non_null (cache);
    uint8_t hash [FG_SHA256_SIZE] = { 1 }, records [2 * RS] = { 0 };
    fg_wire_range_t unsorted [2] = { { 10, 5 }, { 12, 1 } }, empty [1] = { { 3, 0 } };
    fg_wire_range_t past [1] = { { UINT32_MAX, 2 } }, one [1] = { { 0, 1 } };
    assert_int_equal (fg_sample_cache_put (cache, hash, RS, empty, 1, records, RS, &err), FG_EINVAL);
    assert_int_equal (fg_sample_cache_put (cache, hash, RS, one, 0, records, RS, &err), FG_EINVAL);
    assert_int_equal (fg_sample_cache_put (cache, hash, RS, past, 1, records, RS, &err), FG_EINVAL);
    assert_int_equal (fg_sample_cache_put (cache, hash, RS, unsorted, 2, records, RS, &err), FG_EINVAL);
    assert_int_equal (fg_sample_cache_put (cache, hash, RS, one, 1, records, RS + 1, &err),
                      FG_EINVAL);
    //  variable records whose framing is not one record (zero bytes: size 0)
    assert_int_equal (fg_sample_cache_put (cache, hash, 0, one, 1, records, RS, &err), FG_EINVAL);
    assert_int_equal (fg_sample_cache_put (cache, hash, RS, one, 1, NULL, RS, &err), FG_EINVAL);
    assert_int_equal (fg_sample_cache_count (cache, hash), 0);
    fg_wire_range_t *missing;
    uint32_t nmissing;
    uint64_t samples;
    assert_int_equal (fg_sample_cache_missing (cache, hash, RS, unsorted, 2, &missing, &nmissing,
                                               &samples, &err), FG_EINVAL);
    assert_null (missing);
    assert_int_equal (fg_sample_cache_missing (cache, hash, RS, empty, 1, &missing, &nmissing,
                                               &samples, &err), FG_EINVAL);
    assert_int_equal (fg_sample_cache_missing (cache, hash, ((size_t) 1 << 24) + 1, unsorted, 1,
                                               &missing, &nmissing, &samples, &err), FG_EINVAL);
    assert_int_equal (fg_sample_cache_get (cache, hash, RS, unsorted, 2, records, &err), FG_EINVAL);
    fg_sample_cache_close (&cache);
    //  a cache in a folder that does not exist
    char path [512];
    snprintf (path, sizeof path, "%s/no/such/folder", s_tmp);
    assert_null (fg_sample_cache_open (path, &err));
    assert_int_equal (err.code, FG_ENOENT);
    assert_non_null (strstr (err.msg, "samples.lmdb"));
    assert_non_null (strstr (err.msg, "does not exist"));
}

//  A write transaction on dir/samples.lmdb, opened behind the module's
//  back (to damage what it stored).
static void
s_behind_back (const char *dir, MDB_env **env, MDB_txn **txn, MDB_dbi *dbi)
{
    char path [600];
    snprintf (path, sizeof path, "%s/samples.lmdb", dir);
    assert_int_equal (mdb_env_create (env), 0);
    assert_int_equal (mdb_env_open (*env, path, MDB_NOSUBDIR, 0644), 0);
    assert_int_equal (mdb_txn_begin (*env, NULL, 0, txn), 0);
    assert_int_equal (mdb_dbi_open (*txn, NULL, 0, dbi), 0);
}

//  Damage a stored record behind the module's back (wrong bytes, wrong
//  size): it is reported missing, deleted, and then stored afresh.
static void
test_damaged_records (void **state)
{
    (void) state;
    fg_error_t err;
    const char *dir = s_dir ("damaged");
    fg_sample_cache_t *cache = fg_sample_cache_open (dir, &err);
    assert_non_null (cache);
    uint8_t hash [FG_SHA256_SIZE];
    memset (hash, 7, sizeof hash);
    s_put (cache, hash, 0, 20);
    fg_sample_cache_close (&cache);

    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    s_behind_back (dir, &env, &txn, &dbi);
    uint8_t key [FG_SHA256_SIZE + 4];
    memcpy (key, hash, FG_SHA256_SIZE);
    uint8_t value [RS + 4];
    //  sample 3: one flipped bit
    key [32] = 0; key [33] = 0; key [34] = 0; key [35] = 3;
    MDB_val k = { sizeof key, key }, v;
    assert_int_equal (mdb_get (txn, dbi, &k, &v), 0);
    memcpy (value, v.mv_data, sizeof value);
    value [2] ^= 0x10;
    v.mv_data = value;
    v.mv_size = sizeof value;
    assert_int_equal (mdb_put (txn, dbi, &k, &v, 0), 0);
    //  sample 11: truncated
    key [35] = 11;
    v.mv_size = RS;
    assert_int_equal (mdb_put (txn, dbi, &k, &v, 0), 0);
    //  sample 12: sample 13's sound value (a record under the wrong key)
    key [35] = 13;
    assert_int_equal (mdb_get (txn, dbi, &k, &v), 0);
    memcpy (value, v.mv_data, sizeof value);
    key [35] = 12;
    v.mv_data = value;
    v.mv_size = sizeof value;
    assert_int_equal (mdb_put (txn, dbi, &k, &v, 0), 0);
    assert_int_equal (mdb_txn_commit (txn), 0);
    mdb_env_close (env);

    cache = fg_sample_cache_open (dir, &err);
    assert_non_null (cache);
    uint8_t out [20 * RS];
    fg_wire_range_t all [1] = { { 0, 20 } };
    assert_int_equal (fg_sample_cache_get (cache, hash, RS, all, 1, out, &err), FG_ECHECKSUM);
    assert_non_null (strstr (err.msg, "sample 3 "));
    fg_wire_range_t *missing;
    uint32_t nmissing;
    uint64_t samples;
    assert_int_equal (fg_sample_cache_missing (cache, hash, RS, all, 1, &missing, &nmissing,
                                               &samples, &err), 0);
    fg_wire_range_t want [2] = { { 3, 1 }, { 11, 2 } };
    assert_int_equal (nmissing, 2);
    assert_int_equal (samples, 3);
    assert_memory_equal (missing, want, sizeof want);
    free (missing);
    assert_int_equal (fg_sample_cache_count (cache, hash), 17);     //  deleted
    s_put (cache, hash, 3, 1);
    s_put (cache, hash, 11, 2);
    assert_int_equal (fg_sample_cache_get (cache, hash, RS, all, 1, out, &err), 0);
    uint8_t expect [RS];
    for (uint32_t i = 0; i < 20; i++) {
        s_record (i, expect);
        assert_memory_equal (out + i * RS, expect, RS);
    }
    fg_sample_cache_close (&cache);
}

//  Variable records (record_size 0): sample i is a file of s_var_len (i)
//  bytes, one of them over 3 MB (LMDB overflow pages); they round-trip
//  in order, are reported missing until stored, a damaged one is found
//  by its CRC, the loaded total is bounded before allocating, and fixed
//  readers of the same keys see only damage.
static size_t
s_var_len (uint32_t i)
{
    return i == 7? ((size_t) 3 << 20) + 5: 1 + (size_t) i * 977 % 4000;
}

//  The records of samples [start, start + count) into a new buffer.
static uint8_t *
s_var_records (uint32_t start, uint32_t count, size_t *size)
{
    size_t cap = 0;
    for (uint32_t i = start; i < start + count; i++)
        cap += FG_WIRE_SAMPLE_HEAD + s_var_len (i);
    uint8_t *buf = malloc (cap);
    uint8_t *bytes = malloc (s_var_len (7));
    assert_non_null (buf);
    assert_non_null (bytes);
    *size = 0;
    fg_error_t err;
    for (uint32_t i = start; i < start + count; i++) {
        for (size_t b = 0; b < s_var_len (i); b++)
            bytes [b] = (uint8_t) (i * 13 + b * 5 + (b >> 9));
        assert_int_equal (fg_wire_sample_put (buf, cap, size, (uint16_t) (i % 200), bytes,
                                              s_var_len (i), &err), 0);
    }
    free (bytes);
    assert_int_equal (*size, cap);
    return buf;
}

static void
test_variable_records (void **state)
{
    (void) state;
    fg_error_t err;
    fg_sample_cache_t *cache = fg_sample_cache_open (s_dir ("variable"), &err);
    assert_non_null (cache);
    uint8_t hash [FG_SHA256_SIZE];
    memset (hash, 0x5a, sizeof hash);
    fg_wire_range_t shard [2] = { { 0, 12 }, { 30, 8 } };
    fg_wire_range_t *missing;
    uint32_t nmissing;
    uint64_t samples;
    assert_int_equal (fg_sample_cache_missing (cache, hash, 0, shard, 2, &missing, &nmissing,
                                               &samples, &err), 0);
    assert_int_equal (samples, 20);
    free (missing);
    //  two windows, the second of two ranges
    size_t size0, size1, size2;
    uint8_t *w0 = s_var_records (0, 10, &size0);
    fg_wire_range_t r0 = { 0, 10 };
    assert_int_equal (fg_sample_cache_put (cache, hash, 0, &r0, 1, w0, size0, &err), 0);
    uint8_t *w1 = s_var_records (10, 2, &size1);
    uint8_t *w2 = s_var_records (30, 8, &size2);
    uint8_t *both = malloc (size1 + size2);
    assert_non_null (both);
    memcpy (both, w1, size1);
    memcpy (both + size1, w2, size2);
    fg_wire_range_t r1 [2] = { { 10, 2 }, { 30, 8 } };
    //  a framing that says another count is refused, nothing stored
    assert_int_equal (fg_sample_cache_put (cache, hash, 0, r1, 2, both, size1 + size2 - 1, &err),
                      FG_EINVAL);
    assert_int_equal (fg_sample_cache_put (cache, hash, 0, r1, 1, both, size1 + size2, &err),
                      FG_EINVAL);
    assert_int_equal (fg_sample_cache_count (cache, hash), 10);
    assert_int_equal (fg_sample_cache_put (cache, hash, 0, r1, 2, both, size1 + size2, &err), 0);
    assert_int_equal (fg_sample_cache_missing (cache, hash, 0, shard, 2, &missing, &nmissing,
                                               &samples, &err), 0);
    assert_int_equal (samples, 0);
    //  loaded in order: the same bytes
    uint8_t *out;
    size_t size;
    assert_int_equal (fg_sample_cache_load (cache, hash, shard, 2, SIZE_MAX, &out, &size, &err),
                      0);
    assert_int_equal (size, size0 + size1 + size2);
    assert_memory_equal (out, w0, size0);
    assert_memory_equal (out + size0, both, size1 + size2);
    free (out);
    //  bounded: one byte short of the total is refused before allocating
    assert_int_equal (fg_sample_cache_load (cache, hash, shard, 2, size - 1, &out, &size, &err),
                      FG_ERANGE);
    assert_null (out);
    //  fixed readers of the same keys see damage; get refuses variable
    uint8_t fixed [RS];
    assert_int_equal (fg_sample_cache_get (cache, hash, RS, &r0, 1, fixed, &err), FG_ECHECKSUM);
    assert_int_equal (fg_sample_cache_get (cache, hash, 0, &r0, 1, fixed, &err), FG_EINVAL);
    //  a sample not stored
    fg_wire_range_t gap = { 12, 1 };
    assert_int_equal (fg_sample_cache_load (cache, hash, &gap, 1, SIZE_MAX, &out, &size, &err),
                      FG_ENOENT);
    assert_non_null (strstr (err.msg, "sample 12 "));
    //  persistence, then a record damaged behind the module's back: its
    //  size field says one byte more than the value holds
    fg_sample_cache_close (&cache);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    s_behind_back (s_dir ("variable"), &env, &txn, &dbi);
    uint8_t key [FG_SHA256_SIZE + 4] = { 0 };
    memcpy (key, hash, FG_SHA256_SIZE);
    key [35] = 31;
    MDB_val k = { sizeof key, key }, v;
    assert_int_equal (mdb_get (txn, dbi, &k, &v), 0);
    uint8_t *value = malloc (v.mv_size);
    assert_non_null (value);
    memcpy (value, v.mv_data, v.mv_size);
    value [2]++;
    v.mv_data = value;
    assert_int_equal (mdb_put (txn, dbi, &k, &v, 0), 0);
    assert_int_equal (mdb_txn_commit (txn), 0);
    mdb_env_close (env);
    free (value);
    cache = fg_sample_cache_open (s_dir ("variable"), &err);
    assert_non_null (cache);
    assert_int_equal (fg_sample_cache_load (cache, hash, shard, 2, SIZE_MAX, &out, &size, &err),
                      FG_ECHECKSUM);
    assert_non_null (strstr (err.msg, "sample 31 "));
    assert_int_equal (fg_sample_cache_missing (cache, hash, 0, shard, 2, &missing, &nmissing,
                                               &samples, &err), 0);
    assert_int_equal (nmissing, 1);
    assert_int_equal (missing [0].start, 31);
    assert_int_equal (samples, 1);
    free (missing);
    assert_int_equal (fg_sample_cache_count (cache, hash), 19);
    fg_sample_cache_close (&cache);
    free (w0);
    free (w1);
    free (w2);
    free (both);
}

//  A child stores windows of 50 records in a loop and is killed with
//  SIGKILL at a random instant; the cache then holds whole windows only,
//  each record sound, and the next writer carries on.
static void
test_killed_writer (void **state)
{
    (void) state;
    const char *dir = s_dir ("killed");
    uint8_t hash [FG_SHA256_SIZE];
    memset (hash, 9, sizeof hash);
    unsigned seed = (unsigned) fg_clock_ns (CLOCK_MONOTONIC);
    for (int run = 0; run < 6; run++) {
        fflush (NULL);
        pid_t pid = fork ();
        assert_true (pid >= 0);
        if (pid == 0) {
            fg_sample_cache_t *cache = fg_sample_cache_open (dir, NULL);
            if (!cache)
                _exit (2);
            for (uint32_t chunk = 0; chunk < 400; chunk++) {
                //  one window: samples 50c .. 50c + 49 as three ranges
                uint8_t records [50 * RS];
                for (uint32_t i = 0; i < 50; i++)
                    s_record (chunk * 50 + i, records + i * RS);
                fg_wire_range_t window [3] = { { chunk * 50, 10 }, { chunk * 50 + 10, 1 },
                                               { chunk * 50 + 11, 39 } };
                if (fg_sample_cache_put (cache, hash, RS, window, 3, records, sizeof records, NULL))
                    _exit (3);
            }
            fg_sample_cache_close (&cache);
            _exit (0);
        }
        usleep ((useconds_t) (rand_r (&seed) % 40000));
        kill (pid, SIGKILL);
        int status;
        waitpid (pid, &status, 0);
        assert_true (WIFSIGNALED (status) || (WIFEXITED (status) && WEXITSTATUS (status) == 0));

        fg_error_t err;
        fg_sample_cache_t *cache = fg_sample_cache_open (dir, &err);
        assert_non_null (cache);
        fg_wire_range_t all [1] = { { 0, 20000 } };
        fg_wire_range_t *missing;
        uint32_t nmissing;
        uint64_t samples;
        assert_int_equal (fg_sample_cache_missing (cache, hash, RS, all, 1, &missing, &nmissing,
                                                   &samples, &err), 0);
        //  whole chunks only: every missing range starts and ends on a chunk edge
        for (uint32_t i = 0; i < nmissing; i++) {
            assert_int_equal (missing [i].start % 50, 0);
            assert_int_equal (missing [i].count % 50, 0);
        }
        assert_int_equal (fg_sample_cache_count (cache, hash), 20000 - samples);
        free (missing);
        fg_sample_cache_close (&cache);
    }
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_missing_put_get),
        cmocka_unit_test (test_bad_arguments),
        cmocka_unit_test (test_damaged_records),
        cmocka_unit_test (test_variable_records),
        cmocka_unit_test (test_killed_writer),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
