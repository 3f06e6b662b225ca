/*  fg_test_journal.c — helpers of the journal's tests (fg_test_journal.h). */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fg_test_journal.h"

fg_journal_t *
fg_test_journal_open (const char *dir)
{
    fg_journal_t *j = NULL;
    fg_error_t err;
    if (fg_journal_open (dir, FG_TEST_CONFIG_A, FG_TEST_HASH_A, true, &j, &err))
        fail_msg ("open: %s", err.msg);
    return j;
}

uint8_t *
fg_test_blob (uint32_t tag, size_t size)
{
    uint8_t *b = malloc (size? size: 1);
    assert_non_null (b);
    uint64_t x = 0x9E3779B97F4A7C15ull * (tag + 1);
    for (size_t i = 0; i < size; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        b [i] = (uint8_t) x;
    }
    return b;
}

void
fg_test_journal_put_update (fg_journal_t *j, uint32_t round, uint32_t shard, size_t size,
                            const float *curve, size_t ncurve)
{
    fg_journal_update_t u = { .round = round, .shard = shard, .attempt = 1, .node = shard + 10,
                              .samples = 100 };
    uint8_t *blob = fg_test_blob (round * 1000 + shard, size);
    fg_error_t err;
    int rc = fg_journal_put_update (j, &u, curve, ncurve, blob, size, NULL, &err);
    free (blob);
    if (rc)
        fail_msg ("put_update %u/%u: %s", round, shard, err.msg);
}

//  An environment on dir's journal and a transaction in db.
static MDB_env *
s_raw_begin (const char *dir, const char *db, bool rdonly, MDB_txn **txn, MDB_dbi *dbi)
{
    char path [512];
    snprintf (path, sizeof path, "%s/%s", dir, FG_JOURNAL_FILE);
    MDB_env *env;
    assert_int_equal (mdb_env_create (&env), 0);
    assert_int_equal (mdb_env_set_maxdbs (env, 8), 0);
    assert_int_equal (mdb_env_open (env, path, MDB_NOSUBDIR | (rdonly? MDB_RDONLY: 0), 0644), 0);
    assert_int_equal (mdb_txn_begin (env, NULL, rdonly? MDB_RDONLY: 0, txn), 0);
    assert_int_equal (mdb_dbi_open (*txn, db, 0, dbi), 0);
    return env;
}

void
fg_test_journal_raw (const char *dir, const char *db, const void *key, size_t ksize,
                     const void *value, size_t vsize)
{
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_env *env = s_raw_begin (dir, db, false, &txn, &dbi);
    MDB_val k = { ksize, (void *) key };
    if (value) {
        MDB_val v = { vsize, (void *) value };
        assert_int_equal (mdb_put (txn, dbi, &k, &v, 0), 0);
    }
    else
        assert_int_equal (mdb_del (txn, dbi, &k, NULL), 0);
    assert_int_equal (mdb_txn_commit (txn), 0);
    mdb_env_close (env);
}

void *
fg_test_journal_raw_get (const char *dir, const char *db, const void *key, size_t ksize,
                         size_t *vsize)
{
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_env *env = s_raw_begin (dir, db, true, &txn, &dbi);
    MDB_val k = { ksize, (void *) key }, v;
    assert_int_equal (mdb_get (txn, dbi, &k, &v), 0);
    void *copy = malloc (v.mv_size);
    assert_non_null (copy);
    memcpy (copy, v.mv_data, v.mv_size);
    *vsize = v.mv_size;
    mdb_txn_abort (txn);
    mdb_env_close (env);
    return copy;
}

void
fg_test_journal_verify_ok (const char *dir)
{
    fg_error_t err;
    size_t problems = 99;
    if (fg_journal_verify (dir, NULL, NULL, &problems, &err))
        fail_msg ("verify: %s", err.msg);
    assert_int_equal (problems, 0);
}

void
fg_test_report_collect (const char *key, int code, const char *message, void *arg)
{
    fg_test_reports_t *r = (fg_test_reports_t *) arg;
    if (r->n < 16) {
        snprintf (r->keys [r->n], sizeof r->keys [0], "%s", key);
        r->codes [r->n] = code;
        snprintf (r->msgs [r->n], sizeof r->msgs [0], "%s", message);
        r->n++;
    }
}

bool
fg_test_reported_as (const fg_test_reports_t *r, const char *key, const char *words)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp (r->keys [i], key) == 0 && strstr (r->msgs [i], words))
            return true;
    return false;
}

bool
fg_test_reported (const fg_test_reports_t *r, const char *key, int code)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp (r->keys [i], key) == 0 && r->codes [i] == code)
            return true;
    return false;
}
