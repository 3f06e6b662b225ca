/*  test_journal.c — the coordinator's journal: create and reopen, refusal
    of another configuration or schema, rounds committed and read back,
    idempotent updates (same bytes accepted, different bytes refused), a
    crash between any two writes of every operation (the transaction is
    aborted by the write hook) leaving the previous state, retention of
    checkpoints, map growth from 64 KiB, a full disk, a truncated or empty
    data file refused by every open before LMDB maps it, a flipped byte found
    by verify and refused by open, broken invariants found by verify, the
    writer lock, read-only use and dump, and every rejection path of every
    record decoder.

    kill -9 never loses a committed LMDB transaction (its pages are in the
    OS cache), so neither these tests nor kill tests exercise power loss;
    that rests on LMDB's own durability (full sync by default).           */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <lmdb.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fg_blob.h"
#include "fg_file.h"
#include "fg_journal.h"
#include "fg_journal_internal.h"
#include "fg_le.h"
#include "fg_test_journal.h"
#include "fg_test_util.h"

#define HASH_A FG_TEST_HASH_A
#define HASH_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define CONFIG_A FG_TEST_CONFIG_A

//  --------------------------------------------------------------------------
//  Helpers

static char s_dir [256];

static int
s_setup (void **state)
{
    (void) state;
    assert_int_equal (fg_test_tmpdir ("fg-test-journal", s_dir, sizeof s_dir), 0);
    return 0;
}

static int
s_teardown (void **state)
{
    (void) state;
    fg_test_rmtree (s_dir);
    return 0;
}

static fg_journal_t *
s_open (void)
{
    return fg_test_journal_open (s_dir);
}

static void
s_verify_ok (void)
{
    fg_test_journal_verify_ok (s_dir);
}

//  A blob whose bytes are a function of (tag, i): distinct per record.
static uint8_t *
s_blob (uint32_t tag, size_t size)
{
    return fg_test_blob (tag, size);
}

static fg_journal_metrics_t
s_metrics (uint32_t round)
{
    fg_journal_metrics_t m = { 3, 300 * round, 1.0 / round, 2.0 / round, 0.5, 1000 + round };
    return m;
}

static void
s_metrics_equal (const fg_journal_metrics_t *a, const fg_journal_metrics_t *b)
{
    assert_int_equal (a->updates, b->updates);
    assert_int_equal (a->samples, b->samples);
    assert_memory_equal (&a->train_loss, &b->train_loss, 8);
    assert_memory_equal (&a->test_loss, &b->test_loss, 8);
    assert_memory_equal (&a->test_accuracy, &b->test_accuracy, 8);
    assert_int_equal (a->duration_ms, b->duration_ms);
}

static const float s_curve [4] = { 2.3f, 1.7f, 1.2f, 0.9f };

static void
s_put_update (fg_journal_t *j, uint32_t round, uint32_t shard, size_t size)
{
    fg_test_journal_put_update (j, round, shard, size, s_curve, 4);
}

//  Opens round, stores updates of shards 0..2, commits with a blob of size.
static void
s_round (fg_journal_t *j, uint32_t round, size_t size)
{
    fg_journal_assignment_t a [3] = { { 0, 10, 1 }, { 1, 11, 1 }, { 2, 12, 1 } };
    uint32_t included [3] = { 0, 1, 2 };
    fg_error_t err;
    if (fg_journal_round_open (j, round, a, 3, &err))
        fail_msg ("round_open %u: %s", round, err.msg);
    for (uint32_t s = 0; s < 3; s++)
        s_put_update (j, round, s, 1000 + s);
    uint8_t *blob = s_blob (round, size);
    fg_journal_metrics_t m = s_metrics (round);
    int rc = fg_journal_commit_round (j, round, blob, size, &m, included, 3, a, 3, &err);
    free (blob);
    if (rc)
        fail_msg ("commit %u: %s", round, err.msg);
}

static void
s_check_weights (fg_journal_t *j, uint32_t round, size_t size)
{
    void *blob;
    size_t got;
    uint32_t found;
    fg_error_t err;
    if (fg_journal_get_weights (j, round, false, &found, &blob, &got, &err))
        fail_msg ("get_weights %u: %s", round, err.msg);
    uint8_t *want = s_blob (round, size);
    assert_int_equal (found, round);
    assert_int_equal (got, size);
    assert_memory_equal (blob, want, size);
    free (want);
    free (blob);
}

//  Reads the data file whole.
static uint8_t *
s_file (size_t *size)
{
    char path [512];
    snprintf (path, sizeof path, "%s/%s", s_dir, FG_JOURNAL_FILE);
    char *data;
    fg_error_t err;
    if (fg_file_read (path, (size_t) 1 << 31, &data, size, &err))
        fail_msg ("%s", err.msg);
    return (uint8_t *) data;
}

static void
s_file_write (const uint8_t *data, size_t size)
{
    char path [512];
    snprintf (path, sizeof path, "%s/%s", s_dir, FG_JOURNAL_FILE);
    FILE *f = fopen (path, "r+b");
    assert_non_null (f);
    assert_int_equal (fwrite (data, 1, size, f), size);
    assert_int_equal (fclose (f), 0);
}

//  Flips one byte (at offset `at` of the needle) in every copy of needle
//  in the data file (LMDB may keep stale copies in free pages). Returns
//  the number of copies.
static int
s_flip (const void *needle, size_t nsize, size_t at)
{
    size_t size;
    uint8_t *data = s_file (&size);
    int copies = 0;
    uint8_t *p = data;
    while (p + nsize <= data + size) {
        uint8_t *hit = memmem (p, (size_t) (data + size - p), needle, nsize);
        if (!hit)
            break;
        hit [at] ^= 0x40;
        copies++;
        p = hit + nsize;
    }
    s_file_write (data, size);
    free (data);
    return copies;
}

//  Raw LMDB access to break a journal on purpose.
static void
s_raw (const char *db, const void *key, size_t ksize, const void *value, size_t vsize)
{
    fg_test_journal_raw (s_dir, db, key, ksize, value, vsize);
}

static void
s_key32 (uint8_t *k, uint32_t v)
{
    k [0] = (uint8_t) (v >> 24); k [1] = (uint8_t) (v >> 16);
    k [2] = (uint8_t) (v >> 8); k [3] = (uint8_t) v;
}

//  Write hook: fails the n-th write after arming.
typedef struct {
    bool     armed;
    uint64_t base;
    uint64_t fail_at;                   //  relative, from 1; 0: never
    uint64_t seen;                      //  writes since arming
    char     label [64];
} hook_t;

static int
s_hook (const char *label, uint64_t n, void *arg)
{
    hook_t *h = (hook_t *) arg;
    if (!h->armed) {
        h->armed = true;
        h->base = n - 1;
    }
    h->seen = n - h->base;
    if (h->fail_at && h->seen == h->fail_at) {
        snprintf (h->label, sizeof h->label, "%s", label);
        return EIO;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Opening

static void
test_create_reopen (void **state)
{
    (void) state;
    fg_error_t err;
    fg_journal_t *j = NULL;
    assert_false (fg_journal_exists (s_dir));
    assert_int_equal (fg_journal_open (s_dir, CONFIG_A, HASH_A, false, &j, &err), FG_ENOENT);
    assert_null (j);
    assert_int_equal (fg_journal_open_readonly (s_dir, &j, &err), FG_ENOENT);
    assert_non_null (strstr (err.msg, "fedctl start"));
    assert_int_equal (fg_journal_open ("/nonexistent/fg", CONFIG_A, HASH_A, true, &j, &err),
                      FG_ENOENT);
    assert_int_equal (fg_journal_open (s_dir, CONFIG_A, "xyz", true, &j, &err), FG_EINVAL);

    j = s_open ();
    assert_true (fg_journal_exists (s_dir));
    uint32_t last = 7;
    assert_int_equal (fg_journal_last_round (j, &last, &err), FG_ENOENT);
    assert_int_equal (last, 0);
    char hash [65], id [33], *text;
    uint64_t created;
    assert_int_equal (fg_journal_meta (j, hash, id, &created, &err), 0);
    assert_string_equal (hash, HASH_A);
    assert_int_equal (strlen (id), 32);
    assert_true (created > 0);
    assert_int_equal (fg_journal_config_text (j, &text, &err), 0);
    assert_string_equal (text, CONFIG_A);
    free (text);
    fg_journal_close (&j);
    assert_null (j);
    fg_journal_close (&j);              //  NULL-safe

    //  Reopen without create: same experiment id.
    assert_int_equal (fg_journal_open (s_dir, CONFIG_A, HASH_A, false, &j, &err), 0);
    char id2 [33];
    assert_int_equal (fg_journal_meta (j, NULL, id2, NULL, &err), 0);
    assert_string_equal (id, id2);
    fg_journal_close (&j);

    //  Changed deployment text, same hash: accepted, noted in the log.
    assert_int_equal (fg_journal_open (s_dir, "[grid]\nthreads = 2\n", HASH_A, false, &j, &err), 0);
    fg_journal_close (&j);
    s_verify_ok ();
}

static void
test_config_mismatch (void **state)
{
    (void) state;
    fg_journal_t *j = s_open ();
    fg_journal_close (&j);
    fg_error_t err;
    assert_int_equal (fg_journal_open (s_dir, CONFIG_A, HASH_B, true, &j, &err), FG_EMISMATCH);
    assert_null (j);
    assert_non_null (strstr (err.msg, "another configuration"));
    assert_non_null (strstr (err.msg, "new experiment in a new directory"));
    assert_non_null (strstr (err.msg, "fedgrid.toml"));
    //  Still the original.
    j = s_open ();
    fg_journal_close (&j);
}

static void
test_schema_mismatch (void **state)
{
    (void) state;
    fg_journal_t *j = s_open ();
    fg_journal_close (&j);
    uint8_t rec [FG_JREC_SIZE_SCHEMA];
    fg_jrec_encode_schema (rec, sizeof rec, FG_JOURNAL_SCHEMA_VERSION + 1);
    s_raw ("meta", "schema", 6, rec, sizeof rec);
    fg_error_t err;
    assert_int_equal (fg_journal_open (s_dir, CONFIG_A, HASH_A, true, &j, &err), FG_EVERSION);
    assert_non_null (strstr (err.msg, "schema version 2"));
    assert_non_null (strstr (err.msg, "new directory"));
    assert_int_equal (fg_journal_open_readonly (s_dir, &j, &err), FG_EVERSION);
    fg_test_reports_t r = { .n = 0 };
    assert_int_equal (fg_journal_verify (s_dir, fg_test_report_collect, &r, NULL, &err), FG_EVERSION);
    assert_true (fg_test_reported (&r, "meta/schema", FG_EVERSION));
}

static void
test_never_initialised (void **state)
{
    (void) state;
    //  A crash between creating the file and the first commit leaves an
    //  empty environment: create initialises it, resume refuses it.
    char path [512];
    snprintf (path, sizeof path, "%s/%s", s_dir, FG_JOURNAL_FILE);
    MDB_env *env;
    assert_int_equal (mdb_env_create (&env), 0);
    assert_int_equal (mdb_env_open (env, path, MDB_NOSUBDIR, 0644), 0);
    mdb_env_close (env);
    fg_journal_t *j;
    fg_error_t err;
    assert_int_equal (fg_journal_open (s_dir, CONFIG_A, HASH_A, false, &j, &err), FG_ENOENT);
    assert_non_null (strstr (err.msg, "never initialised"));
    assert_int_equal (fg_journal_open_readonly (s_dir, &j, &err), FG_ENOENT);
    j = s_open ();
    fg_journal_close (&j);
    s_verify_ok ();
    //  Not an LMDB file at all.
    assert_int_equal (fg_file_write_atomic (path, "garbage garbage garbage", 23, 0644, 0, &err), 0);
    assert_int_equal (fg_journal_open (s_dir, CONFIG_A, HASH_A, true, &j, &err), FG_EFORMAT);
}

static void
test_writer_lock (void **state)
{
    (void) state;
    fg_journal_t *j = s_open ();
    fg_journal_close (&j);
    int to_parent [2], to_child [2];
    assert_int_equal (pipe (to_parent), 0);
    assert_int_equal (pipe (to_child), 0);
    pid_t pid = fork ();
    assert_true (pid >= 0);
    if (pid == 0) {
        fg_journal_t *cj = NULL;
        char c = fg_journal_open (s_dir, CONFIG_A, HASH_A, false, &cj, NULL) == 0? 'y': 'n';
        if (write (to_parent [1], &c, 1) != 1 || read (to_child [0], &c, 1) != 1)
            _exit (2);
        fg_journal_close (&cj);
        _exit (0);
    }
    char c;
    assert_int_equal (read (to_parent [0], &c, 1), 1);
    assert_int_equal (c, 'y');
    fg_error_t err;
    assert_int_equal (fg_journal_open (s_dir, CONFIG_A, HASH_A, false, &j, &err), FG_ESTATE);
    assert_non_null (strstr (err.msg, "another process"));
    //  A reader may look meanwhile.
    assert_int_equal (fg_journal_open_readonly (s_dir, &j, &err), 0);
    fg_journal_close (&j);
    assert_int_equal (write (to_child [1], "x", 1), 1);
    int status;
    assert_int_equal (waitpid (pid, &status, 0), pid);
    assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    j = s_open ();
    fg_journal_close (&j);
    close (to_parent [0]); close (to_parent [1]);
    close (to_child [0]); close (to_child [1]);
}

static void
test_remote_fs (void **state)
{
    (void) state;
    assert_string_equal (fg_journal_remote_fs_name (0x6969), "NFS");
    assert_string_equal (fg_journal_remote_fs_name (0xFF534D42), "CIFS");
    assert_string_equal (fg_journal_remote_fs_name (0xFE534D42), "SMB2");
    assert_null (fg_journal_remote_fs_name (0xEF53));     //  ext4
    assert_null (fg_journal_remote_fs_name (0x01021994)); //  tmpfs
}

//  --------------------------------------------------------------------------
//  Rounds and updates

static void
test_rounds (void **state)
{
    (void) state;
    fg_journal_t *j = s_open ();
    fg_error_t err;
    fg_journal_assignment_t a [2] = { { 0, 10, 1 }, { 1, 11, 1 } };
    uint32_t included [2] = { 0, 1 };
    fg_journal_metrics_t m = s_metrics (1);
    uint8_t *blob = s_blob (1, 5000);

    //  Only the next round may be opened or committed.
    assert_int_equal (fg_journal_round_open (j, 2, a, 2, &err), FG_ESTATE);
    assert_int_equal (fg_journal_commit_round (j, 2, blob, 5000, &m, included, 2, a, 2, &err),
                      FG_ESTATE);
    fg_journal_update_t u = { .round = 1, .shard = 0, .attempt = 1, .node = 10, .samples = 5 };
    assert_int_equal (fg_journal_put_update (j, &u, NULL, 0, "x", 1, NULL, &err), FG_ESTATE);
    assert_non_null (strstr (err.msg, "not open"));

    assert_int_equal (fg_journal_round_open (j, 1, a, 2, &err), 0);
    fg_journal_round_t *r;
    assert_int_equal (fg_journal_round_get (j, 1, &r, &err), 0);
    assert_int_equal (r->state, FG_ROUND_OPEN);
    assert_int_equal (r->nassignments, 2);
    assert_int_equal (r->assignments [1].node, 11);
    assert_int_equal (r->nincluded, 0);
    uint64_t opened = r->opened_ns;
    fg_journal_round_destroy (&r);
    assert_null (r);

    //  Re-issue: shard 1 to node 12 attempt 2.
    fg_journal_assignment_t a2 [3] = { { 0, 10, 1 }, { 1, 11, 1 }, { 1, 12, 2 } };
    assert_int_equal (fg_journal_round_open (j, 1, a2, 3, &err), 0);
    assert_int_equal (fg_journal_round_get (j, 1, &r, &err), 0);
    assert_int_equal (r->nassignments, 3);
    assert_int_equal (r->opened_ns, opened);
    fg_journal_round_destroy (&r);

    //  Commit needs every included shard's update.
    s_put_update (j, 1, 0, 700);
    assert_int_equal (fg_journal_commit_round (j, 1, blob, 5000, &m, included, 2, a2, 3, &err),
                      FG_ESTATE);
    assert_non_null (strstr (err.msg, "shard 1"));
    s_put_update (j, 1, 1, 800);
    uint32_t *shards;
    size_t count;
    assert_int_equal (fg_journal_update_shards (j, 1, &shards, &count, &err), 0);
    assert_int_equal (count, 2);
    assert_int_equal (shards [0], 0);
    assert_int_equal (shards [1], 1);
    free (shards);
    //  Bad arguments.
    uint32_t unsorted [2] = { 1, 0 };
    assert_int_equal (fg_journal_commit_round (j, 1, blob, 5000, &m, unsorted, 2, a2, 3, &err),
                      FG_EINVAL);
    assert_int_equal (fg_journal_commit_round (j, 1, NULL, 0, &m, included, 2, a2, 3, &err),
                      FG_EINVAL);
    fg_journal_metrics_t bad = m;
    bad.test_accuracy = 1.5;
    assert_int_equal (fg_journal_commit_round (j, 1, blob, 5000, &bad, included, 2, a2, 3, &err),
                      FG_EINVAL);
    fg_journal_assignment_t a0 = { 0, 1, 0 };
    assert_int_equal (fg_journal_round_open (j, 1, &a0, 1, &err), FG_EINVAL);

    assert_int_equal (fg_journal_commit_round (j, 1, blob, 5000, &m, included, 2, a2, 3, &err), 0);
    uint32_t last;
    assert_int_equal (fg_journal_last_round (j, &last, &err), 0);
    assert_int_equal (last, 1);
    assert_int_equal (fg_journal_round_get (j, 1, &r, &err), 0);
    assert_int_equal (r->state, FG_ROUND_COMMITTED);
    assert_int_equal (r->nincluded, 2);
    assert_int_equal (r->included [1], 1);
    assert_int_equal (r->weights_size, 5000);
    assert_int_equal (r->weights_crc, fg_jrec_crc (blob, 5000));
    assert_int_equal (r->opened_ns, opened);
    assert_true (r->committed_ns >= opened);
    fg_journal_round_destroy (&r);
    fg_journal_metrics_t got;
    assert_int_equal (fg_journal_metrics_get (j, 1, &got, &err), 0);
    s_metrics_equal (&got, &m);
    assert_int_equal (fg_journal_metrics_get (j, 2, &got, &err), FG_ENOENT);
    s_check_weights (j, 1, 5000);
    assert_int_equal (fg_journal_round_get (j, 2, &r, &err), FG_ENOENT);

    //  Updates of a committed round can't be added; the round can't reopen.
    u.shard = 5;
    assert_int_equal (fg_journal_put_update (j, &u, NULL, 0, "x", 1, NULL, &err), FG_ESTATE);
    assert_non_null (strstr (err.msg, "already committed"));
    assert_int_equal (fg_journal_round_open (j, 1, a, 2, &err), FG_ESTATE);

    //  Read an update back.
    fg_journal_update_t ru;
    float *loss;
    size_t nloss, size;
    void *ublob;
    assert_int_equal (fg_journal_get_update (j, 1, 1, &ru, &loss, &nloss, &ublob, &size, &err), 0);
    assert_int_equal (ru.node, 11);
    assert_int_equal (ru.samples, 100);
    assert_int_equal (size, 800);
    assert_int_equal (nloss, 4);
    assert_memory_equal (loss, s_curve, sizeof s_curve);
    uint8_t *want = s_blob (1001, 800);
    assert_memory_equal (ublob, want, 800);
    free (want);
    free (loss);
    free (ublob);
    assert_int_equal (fg_journal_get_update (j, 1, 9, NULL, NULL, NULL, NULL, NULL, &err), FG_ENOENT);

    //  Survives a reopen; verify is clean.
    fg_journal_close (&j);
    j = s_open ();
    assert_int_equal (fg_journal_last_round (j, &last, &err), 0);
    assert_int_equal (last, 1);
    s_round (j, 2, 6000);
    fg_journal_close (&j);
    s_verify_ok ();
    free (blob);
}

static void
test_update_idempotent (void **state)
{
    (void) state;
    fg_journal_t *j = s_open ();
    fg_error_t err;
    fg_journal_assignment_t a [1] = { { 0, 10, 1 } };
    assert_int_equal (fg_journal_round_open (j, 1, a, 1, &err), 0);
    fg_journal_update_t u = { .round = 1, .shard = 0, .attempt = 1, .node = 10, .samples = 64 };
    uint8_t *blob = s_blob (7, 3000);
    bool dup = true;
    assert_int_equal (fg_journal_put_update (j, &u, s_curve, 4, blob, 3000, &dup, &err), 0);
    assert_false (dup);
    //  The same result from another node (a re-issue): accepted, not stored twice.
    u.node = 20;
    u.attempt = 2;
    assert_int_equal (fg_journal_put_update (j, &u, s_curve, 4, blob, 3000, &dup, &err), 0);
    assert_true (dup);
    //  Different bytes: a faulty host.
    blob [1234] ^= 1;
    assert_int_equal (fg_journal_put_update (j, &u, s_curve, 4, blob, 3000, &dup, &err), FG_EMISMATCH);
    assert_non_null (strstr (err.msg, "blob bytes"));
    assert_non_null (strstr (err.msg, "node 20"));
    assert_non_null (strstr (err.msg, "node 10"));
    assert_non_null (strstr (err.msg, "at 1234"));
    blob [1234] ^= 1;
    assert_int_equal (fg_journal_put_update (j, &u, s_curve, 4, blob, 2999, &dup, &err), FG_EMISMATCH);
    u.samples = 65;
    assert_int_equal (fg_journal_put_update (j, &u, s_curve, 4, blob, 3000, &dup, &err), FG_EMISMATCH);
    assert_non_null (strstr (err.msg, "sample count"));
    u.samples = 64;
    float other [4] = { 2.3f, 1.7f, 1.2f, 0.8f };
    assert_int_equal (fg_journal_put_update (j, &u, other, 4, blob, 3000, &dup, &err), FG_EMISMATCH);
    assert_non_null (strstr (err.msg, "loss curve"));
    assert_int_equal (fg_journal_put_update (j, &u, s_curve, 3, blob, 3000, &dup, &err), FG_EMISMATCH);
    //  The stored one is unchanged.
    fg_journal_update_t ru;
    assert_int_equal (fg_journal_get_update (j, 1, 0, &ru, NULL, NULL, NULL, NULL, &err), 0);
    assert_int_equal (ru.node, 10);
    assert_int_equal (ru.attempt, 1);
    //  After commit, a late duplicate is still idempotent.
    uint32_t inc = 0;
    fg_journal_metrics_t m = s_metrics (1);
    assert_int_equal (fg_journal_commit_round (j, 1, blob, 3000, &m, &inc, 1, a, 1, &err), 0);
    assert_int_equal (fg_journal_put_update (j, &u, s_curve, 4, blob, 3000, &dup, &err), 0);
    assert_true (dup);
    //  Bad arguments.
    u.attempt = 0;
    assert_int_equal (fg_journal_put_update (j, &u, s_curve, 4, blob, 3000, &dup, &err), FG_EINVAL);
    u.attempt = 1;
    assert_int_equal (fg_journal_put_update (j, &u, NULL, FG_JOURNAL_LOSS_MAX + 1, blob, 3000, &dup,
                                             &err), FG_EINVAL);
    assert_int_equal (fg_journal_put_update (j, &u, s_curve, FG_JOURNAL_LOSS_MAX + 1, blob, 3000,
                                             &dup, &err), FG_ERANGE);
    free (blob);
    fg_journal_close (&j);
    s_verify_ok ();
}

//  --------------------------------------------------------------------------
//  Crash between any two writes

//  What the journal must show after a failed operation on round 2 (round
//  1 committed, round 2 open with `updates` stored).
static void
s_expect_state (fg_journal_t *j, size_t updates, bool round2_open)
{
    fg_error_t err;
    uint32_t last;
    assert_int_equal (fg_journal_last_round (j, &last, &err), 0);
    assert_int_equal (last, 1);
    fg_journal_round_t *r = NULL;
    int rc = fg_journal_round_get (j, 2, &r, &err);
    if (round2_open) {
        assert_int_equal (rc, 0);
        assert_int_equal (r->state, FG_ROUND_OPEN);
        fg_journal_round_destroy (&r);
    }
    else
        assert_int_equal (rc, FG_ENOENT);
    uint32_t *shards;
    size_t count;
    assert_int_equal (fg_journal_update_shards (j, 2, &shards, &count, &err), 0);
    assert_int_equal (count, updates);
    free (shards);
    void *blob;
    size_t size;
    assert_int_equal (fg_journal_get_weights (j, 2, false, NULL, &blob, &size, &err), FG_ENOENT);
    fg_journal_metrics_t m;
    assert_int_equal (fg_journal_metrics_get (j, 2, &m, &err), FG_ENOENT);
    s_check_weights (j, 1, 4000);
}

static void
test_crash_between_writes (void **state)
{
    (void) state;
    fg_journal_t *j = s_open ();
    fg_error_t err;
    assert_int_equal (fg_journal_set_retention (j, 1, 0, &err), 0);   //  commit 2 drops weights 1
    s_round (j, 1, 4000);
    hook_t hook = { 0 };
    fg_journal_set_write_hook (j, s_hook, &hook);
    fg_journal_assignment_t a [2] = { { 0, 10, 1 }, { 1, 11, 1 } };
    uint32_t included [2] = { 0, 1 };
    fg_journal_metrics_t m = s_metrics (2);
    uint8_t *blob = s_blob (2, 4000);
    fg_journal_update_t u = { .round = 2, .shard = 0, .attempt = 1, .node = 10, .samples = 9 };

    //  Each operation: fail at write k = 1, 2, ... until it succeeds.
    enum { OPEN, UPDATE0, UPDATE1, COMMIT, NOPS };
    size_t writes [NOPS] = { 0 };
    for (int op = 0; op < NOPS; op++) {
        for (uint64_t k = 1; ; k++) {
            hook.armed = false;
            hook.fail_at = k;
            hook.label [0] = 0;
            if (op == OPEN)
                err.code = fg_journal_round_open (j, 2, a, 2, &err);
            else
            if (op == UPDATE0 || op == UPDATE1) {
                u.shard = op == UPDATE0? 0: 1;
                err.code = fg_journal_put_update (j, &u, s_curve, 4, blob, 100 + u.shard, NULL, &err);
            }
            else
                err.code = fg_journal_commit_round (j, 2, blob, 4000, &m, included, 2, a, 2, &err);
            if (err.code == 0) {
                writes [op] = k - 1;
                break;
            }
            assert_int_equal (err.code, FG_EIO);
            assert_true (k <= 8);
            assert_true (hook.label [0] != 0);
            //  The previous state, in this handle, after a reopen, and by verify.
            size_t updates = op <= UPDATE0? 0: op == UPDATE1? 1: 2;
            s_expect_state (j, updates, op != OPEN);
            fg_journal_close (&j);
            s_verify_ok ();
            j = s_open ();
            assert_int_equal (fg_journal_set_retention (j, 1, 0, &err), 0);
            fg_journal_set_write_hook (j, s_hook, &hook);
            s_expect_state (j, updates, op != OPEN);
        }
    }
    //  Writes per operation: open = round + event; update = update + loss +
    //  event; commit = weights + metrics + round + retention + event.
    assert_int_equal (writes [OPEN], 2);
    assert_int_equal (writes [UPDATE0], 3);
    assert_int_equal (writes [UPDATE1], 3);
    assert_int_equal (writes [COMMIT], 5);
    fg_journal_set_write_hook (j, NULL, NULL);
    uint32_t last;
    assert_int_equal (fg_journal_last_round (j, &last, &err), 0);
    assert_int_equal (last, 2);
    s_check_weights (j, 2, 4000);
    void *w;
    size_t size;
    assert_int_equal (fg_journal_get_weights (j, 1, false, NULL, &w, &size, &err), FG_ENOENT);
    fg_journal_close (&j);
    s_verify_ok ();
    free (blob);
}

//  --------------------------------------------------------------------------
//  Retention

static void
s_expect_retained (fg_journal_t *j, const uint32_t *want, size_t n)
{
    uint32_t *rounds;
    size_t count;
    fg_error_t err;
    assert_int_equal (fg_journal_weights_rounds (j, &rounds, &count, &err), 0);
    assert_int_equal (count, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal (rounds [i], want [i]);
    free (rounds);
}

static void
test_retention (void **state)
{
    (void) state;
    fg_journal_t *j = s_open ();
    fg_error_t err;
    assert_int_equal (fg_journal_set_retention (j, -1, 0, &err), FG_ERANGE);
    assert_int_equal (fg_journal_set_retention (j, 2, 5, &err), 0);
    for (uint32_t r = 1; r <= 12; r++)
        s_round (j, r, 2000 + r);
    uint32_t want [] = { 5, 10, 11, 12 };
    s_expect_retained (j, want, 4);
    s_check_weights (j, 10, 2010);
    s_check_weights (j, 12, 2012);
    void *blob;
    size_t size;
    uint32_t found;
    assert_int_equal (fg_journal_get_weights (j, 7, false, &found, &blob, &size, &err), FG_ENOENT);
    assert_non_null (strstr (err.msg, "not retained"));
    assert_int_equal (fg_journal_get_weights (j, 7, true, &found, &blob, &size, &err), 0);
    assert_int_equal (found, 5);
    free (blob);
    assert_int_equal (fg_journal_get_weights (j, 10, true, &found, &blob, &size, &err), 0);
    assert_int_equal (found, 10);
    free (blob);
    assert_int_equal (fg_journal_get_weights (j, 4, true, &found, &blob, &size, &err), FG_ENOENT);
    assert_int_equal (fg_journal_get_weights (j, 99, true, &found, &blob, &size, &err), 0);
    assert_int_equal (found, 12);
    free (blob);
    assert_int_equal (fg_journal_get_weights (j, FG_JOURNAL_LATEST, false, &found, &blob, &size,
                                              &err), 0);
    assert_int_equal (found, 12);
    assert_int_equal (size, 2012);
    free (blob);
    //  Keep only the newest: K = 1 (0 means 1 too), N = 0.
    assert_int_equal (fg_journal_set_retention (j, 0, 0, &err), 0);
    s_round (j, 13, 100);
    uint32_t want2 [] = { 13 };
    s_expect_retained (j, want2, 1);
    //  K = 4, N = 3.
    assert_int_equal (fg_journal_set_retention (j, 4, 3, &err), 0);
    for (uint32_t r = 14; r <= 20; r++)
        s_round (j, r, 100);
    uint32_t want3 [] = { 15, 17, 18, 19, 20 };
    s_expect_retained (j, want3, 5);
    fg_journal_close (&j);
    s_verify_ok ();
}

//  --------------------------------------------------------------------------
//  Map growth and a full disk

static void
test_map_growth (void **state)
{
    (void) state;
    fg_journal_opts_t opts = { 64 << 10, UINT64_MAX };
    fg_journal_t *j;
    fg_error_t err;
    if (fg_journal_open_ex (s_dir, CONFIG_A, HASH_A, true, &opts, &j, &err))
        fail_msg ("%s", err.msg);
    assert_int_equal (fg_journal_mapsize (j), 64 << 10);
    assert_int_equal (fg_journal_set_retention (j, 2, 0, &err), 0);
    for (uint32_t r = 1; r <= 4; r++)
        s_round (j, r, (size_t) 3 << 20);
    assert_true (fg_journal_mapsize (j) >= ((size_t) 6 << 20));
    s_check_weights (j, 3, (size_t) 3 << 20);
    s_check_weights (j, 4, (size_t) 3 << 20);
    fg_journal_close (&j);
    s_verify_ok ();
}

static void
test_disk_full (void **state)
{
    (void) state;
    //  The map cannot grow past the free space: FG_EFULL, state intact.
    fg_journal_opts_t opts = { 64 << 10, 256 << 10 };
    fg_journal_t *j;
    fg_error_t err;
    if (fg_journal_open_ex (s_dir, CONFIG_A, HASH_A, true, &opts, &j, &err))
        fail_msg ("%s", err.msg);
    s_round (j, 1, 4000);
    fg_journal_assignment_t a = { 0, 10, 1 };
    assert_int_equal (fg_journal_round_open (j, 2, &a, 1, &err), 0);
    fg_journal_update_t u = { .round = 2, .shard = 0, .attempt = 1, .node = 10, .samples = 9 };
    uint8_t *big = s_blob (99, (size_t) 1 << 20);
    assert_int_equal (fg_journal_put_update (j, &u, NULL, 0, big, (size_t) 1 << 20, NULL, &err),
                      FG_EFULL);
    assert_non_null (strstr (err.msg, "disk full"));
    assert_non_null (strstr (err.msg, "intact"));
    s_expect_state (j, 0, true);
    fg_journal_close (&j);
    s_verify_ok ();

    //  A write that fails (the file-size limit makes LMDB's write short,
    //  which it reports as EIO; a full disk looks the same): FG_EIO or
    //  FG_EFULL, state intact, the journal usable afterwards.
    j = s_open ();
    struct rlimit old, lim;
    assert_int_equal (getrlimit (RLIMIT_FSIZE, &old), 0);
    void (*prev) (int) = signal (SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = 2 << 20;
    assert_int_equal (setrlimit (RLIMIT_FSIZE, &lim), 0);
    uint8_t *huge = s_blob (98, (size_t) 4 << 20);
    int rc = fg_journal_put_update (j, &u, NULL, 0, huge, (size_t) 4 << 20, NULL, &err);
    assert_int_equal (setrlimit (RLIMIT_FSIZE, &old), 0);
    signal (SIGXFSZ, prev);
    assert_true (rc == FG_EIO || rc == FG_EFULL);
    s_expect_state (j, 0, true);
    assert_int_equal (fg_journal_put_update (j, &u, NULL, 0, big, (size_t) 1 << 20, NULL, &err), 0);
    fg_journal_close (&j);
    j = s_open ();
    s_expect_state (j, 1, true);
    fg_journal_close (&j);
    s_verify_ok ();
    free (big);
    free (huge);
}

//  --------------------------------------------------------------------------
//  A truncated data file: refused by every open before LMDB maps it

//  The journal's page size and the bytes its last commit uses, from LMDB.
static size_t
s_used_bytes (size_t *psize)
{
    char path [512];
    snprintf (path, sizeof path, "%s/%s", s_dir, FG_JOURNAL_FILE);
    MDB_env *env;
    MDB_envinfo info;
    MDB_stat st;
    assert_int_equal (mdb_env_create (&env), 0);
    assert_int_equal (mdb_env_open (env, path, MDB_NOSUBDIR | MDB_RDONLY, 0644), 0);
    assert_int_equal (mdb_env_info (env, &info), 0);
    assert_int_equal (mdb_env_stat (env, &st), 0);
    mdb_env_close (env);
    *psize = st.ms_psize;
    return (info.me_last_pgno + 1) * (size_t) st.ms_psize;
}

//  Every way to open the journal refuses it with FG_EFORMAT naming the file
//  and leaves it as it was (never initialised afresh).
static void
s_expect_refused (const char *words, size_t size)
{
    fg_journal_t *j = NULL;
    fg_error_t err;
    assert_int_equal (fg_journal_open (s_dir, CONFIG_A, HASH_A, true, &j, &err), FG_EFORMAT);
    assert_null (j);
    assert_non_null (strstr (err.msg, FG_JOURNAL_FILE));
    assert_non_null (strstr (err.msg, words));
    assert_int_equal (fg_journal_open (s_dir, CONFIG_A, HASH_A, false, &j, &err), FG_EFORMAT);
    assert_int_equal (fg_journal_open_readonly (s_dir, &j, &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, words));
    size_t problems = 99;
    assert_int_equal (fg_journal_verify (s_dir, NULL, NULL, &problems, &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, words));
    assert_true (fg_journal_exists (s_dir));
    size_t now;
    free (s_file (&now));
    assert_int_equal (now, size);
}

static void
test_truncated (void **state)
{
    (void) state;
    fg_journal_t *j = s_open ();
    for (uint32_t r = 1; r <= 3; r++)
        s_round (j, r, 50000);
    fg_journal_close (&j);
    size_t psize, size;
    size_t used = s_used_bytes (&psize);
    uint8_t *whole = s_file (&size);
    assert_true (used <= size && used > 8 * psize);
    char path [512];
    snprintf (path, sizeof path, "%s/%s", s_dir, FG_JOURNAL_FILE);
    fg_error_t err;
    //  8 KiB, half, one page short, one byte short, 0 bytes
    size_t cuts [5] = { 8192, size / 2, used - psize, used - 1, 0 };
    const char *words [5] = { "truncated", "truncated", "truncated", "truncated", "empty" };
    for (int i = 0; i < 5; i++) {
        assert_int_equal (fg_file_write_atomic (path, whole, cuts [i], 0644, 0, &err), 0);
        s_expect_refused (words [i], cuts [i]);
    }
    //  Shorter than LMDB's two meta pages; shorter than one.
    assert_int_equal (fg_file_write_atomic (path, whole, psize + 100, 0644, 0, &err), 0);
    s_expect_refused ("two meta pages", psize + 100);
    assert_int_equal (fg_file_write_atomic (path, whole, 100, 0644, 0, &err), 0);
    s_expect_refused ("not an LMDB file", 100);
    //  Exactly the pages in use is a sound journal (the free tail is gone).
    assert_int_equal (fg_file_write_atomic (path, whole, used, 0644, 0, &err), 0);
    s_verify_ok ();
    j = s_open ();
    s_check_weights (j, 3, 50000);
    fg_journal_close (&j);
    free (whole);
}

//  --------------------------------------------------------------------------
//  Damage: verify names it, open refuses it

static void
test_flipped_blob_byte (void **state)
{
    (void) state;
    fg_journal_t *j = s_open ();
    s_round (j, 1, 20000);
    s_round (j, 2, 20000);
    fg_journal_close (&j);
    s_verify_ok ();

    //  A byte of an old update blob: verify finds it, resume is allowed
    //  (it does not need it) but reading it is refused.
    uint8_t *ub = s_blob (1 * 1000 + 1, 1001);
    assert_true (s_flip (ub + 200, 64, 10) >= 1);     //  stale copies too
    free (ub);
    fg_test_reports_t r = { .n = 0 };
    size_t problems;
    fg_error_t err;
    assert_int_equal (fg_journal_verify (s_dir, fg_test_report_collect, &r, &problems, &err), FG_ECHECKSUM);
    assert_int_equal (problems, 1);
    assert_true (fg_test_reported (&r, "updates/1/1", FG_ECHECKSUM));
    assert_non_null (strstr (err.msg, "updates/1/1"));
    j = s_open ();
    void *blob;
    size_t size;
    assert_int_equal (fg_journal_get_update (j, 1, 1, NULL, NULL, NULL, &blob, &size, &err),
                      FG_ECHECKSUM);
    assert_non_null (strstr (err.msg, "updates/1/1"));
    fg_journal_close (&j);

    //  A byte of the newest weights: verify finds it, open refuses.
    uint8_t *wb = s_blob (2, 20000);
    assert_true (s_flip (wb + 12345, 64, 7) >= 1);
    free (wb);
    r.n = 0;
    assert_int_equal (fg_journal_verify (s_dir, fg_test_report_collect, &r, &problems, &err), FG_ECHECKSUM);
    assert_int_equal (problems, 2);
    assert_true (fg_test_reported (&r, "weights/2", FG_ECHECKSUM));
    assert_int_equal (fg_journal_open (s_dir, CONFIG_A, HASH_A, false, &j, &err), FG_ECHECKSUM);
    assert_null (j);
    assert_non_null (strstr (err.msg, "weights/2"));
    assert_non_null (strstr (err.msg, "will not resume"));
    assert_non_null (strstr (err.msg, "fedctl journal verify"));
    //  Read-only use (status, dump) still works and shows the damage.
    assert_int_equal (fg_journal_open_readonly (s_dir, &j, &err), 0);
    char *text = NULL;
    size_t tsize = 0;
    FILE *out = open_memstream (&text, &tsize);
    assert_int_equal (fg_journal_dump (j, out, &err), 0);
    fclose (out);
    assert_non_null (strstr (text, "DAMAGED: weights blob: CRC-32"));
    free (text);
    assert_int_equal (fg_journal_get_weights (j, 2, false, NULL, &blob, &size, &err), FG_ECHECKSUM);
    fg_journal_close (&j);
}

static void
test_flipped_record_byte (void **state)
{
    (void) state;
    fg_journal_t *j = s_open ();
    s_round (j, 1, 3000);
    s_round (j, 2, 3000);
    fg_journal_close (&j);
    //  Metrics records have no clock fields: find round 1's by its bytes.
    uint8_t rec [FG_JREC_SIZE_METRICS];
    fg_journal_metrics_t m = s_metrics (1);
    fg_jrec_encode_metrics (rec, sizeof rec, 1, &m);
    assert_true (s_flip (rec, sizeof rec, 20) >= 1);
    fg_test_reports_t r = { .n = 0 };
    fg_error_t err;
    assert_int_equal (fg_journal_verify (s_dir, fg_test_report_collect, &r, NULL, &err), FG_ECHECKSUM);
    assert_true (fg_test_reported (&r, "metrics/1", FG_ECHECKSUM));
    assert_int_equal (fg_journal_open (s_dir, CONFIG_A, HASH_A, false, &j, &err), FG_ECHECKSUM);
    assert_non_null (strstr (err.msg, "metrics/1"));
}

static void
test_broken_invariants (void **state)
{
    (void) state;
    fg_journal_t *j = s_open ();
    fg_error_t err;
    assert_int_equal (fg_journal_set_retention (j, 1, 0, &err), 0);
    for (uint32_t r = 1; r <= 4; r++)
        s_round (j, r, 1000);
    fg_journal_close (&j);
    uint8_t k [8];

    //  An update of a committed round disappears.
    s_key32 (k, 2);
    s_key32 (k + 4, 1);
    s_raw ("updates", k, 8, NULL, 0);
    //  The newest checkpoint disappears.
    s_key32 (k, 4);
    s_raw ("weights", k, 4, NULL, 0);
    //  A round disappears: a gap.
    s_key32 (k, 3);
    s_raw ("rounds", k, 4, NULL, 0);
    //  An event disappears.
    memset (k, 0, 8);
    k [7] = 2;
    s_raw ("events", k, 8, NULL, 0);
    //  A key of the wrong size, and a record under the wrong key.
    s_raw ("nodes", "abc", 3, "x", 1);
    uint8_t rec [FG_JREC_SIZE_METRICS];
    fg_journal_metrics_t m = s_metrics (7);
    fg_jrec_encode_metrics (rec, sizeof rec, 7, &m);
    s_key32 (k, 1);
    s_raw ("metrics", k, 4, rec, sizeof rec);

    fg_test_reports_t r = { .n = 0 };
    size_t problems;
    assert_int_not_equal (fg_journal_verify (s_dir, fg_test_report_collect, &r, &problems, &err), 0);
    assert_true (fg_test_reported (&r, "rounds/2", FG_ESTATE));
    assert_true (fg_test_reported_as (&r, "rounds/2", "included shard 1 has no update"));
    assert_true (fg_test_reported_as (&r, "metrics/2/1", "without its update"));
    assert_true (fg_test_reported_as (&r, "rounds/4", "gap: round 2 is followed by round 4"));
    assert_true (fg_test_reported_as (&r, "rounds/4", "no weights checkpoint"));
    assert_true (fg_test_reported_as (&r, "metrics/3", "not committed"));
    assert_true (fg_test_reported (&r, "events/3", FG_ESTATE));
    assert_true (fg_test_reported_as (&r, "events/3", "follows event 1"));
    assert_true (fg_test_reported (&r, "nodes/0x616263", FG_EFORMAT));
    assert_true (fg_test_reported (&r, "metrics/1", FG_EFORMAT));        //  record of round 7
    assert_int_equal (fg_journal_open (s_dir, CONFIG_A, HASH_A, false, &j, &err), FG_ESTATE);
    assert_non_null (strstr (err.msg, "damaged"));
    //  dump still prints everything it can.
    assert_int_equal (fg_journal_open_readonly (s_dir, &j, &err), 0);
    char *text = NULL;
    size_t tsize = 0;
    FILE *out = open_memstream (&text, &tsize);
    assert_int_equal (fg_journal_dump (j, out, &err), 0);
    fclose (out);
    assert_non_null (strstr (text, "DAMAGED"));
    assert_non_null (strstr (text, "round 4 committed"));
    free (text);
    fg_journal_close (&j);
}

static void
test_open_round_invariants (void **state)
{
    (void) state;
    fg_journal_t *j = s_open ();
    s_round (j, 1, 100);
    s_round (j, 2, 100);
    fg_journal_close (&j);
    //  Round 1 rewritten as OPEN: a committed round follows an open one.
    fg_journal_round_t open = { .round = 1, .state = FG_ROUND_OPEN, .opened_ns = 1 };
    uint8_t rec [256];
    size_t n = fg_jrec_encode_round (rec, sizeof rec, &open);
    uint8_t k [8];
    s_key32 (k, 1);
    s_raw ("rounds", k, 4, rec, n);
    //  An update of a round that was never opened.
    fg_journal_update_t u = { .round = 9, .shard = 0, .attempt = 1 };
    n = fg_jrec_encode_update (rec, sizeof rec, &u);
    s_key32 (k, 9);
    s_key32 (k + 4, 0);
    s_raw ("updates", k, 8, rec, n);
    fg_test_reports_t r = { .n = 0 };
    fg_error_t err;
    assert_int_not_equal (fg_journal_verify (s_dir, fg_test_report_collect, &r, NULL, &err), 0);
    assert_true (fg_test_reported_as (&r, "rounds/2", "follows round 1, which is still open"));
    assert_true (fg_test_reported_as (&r, "updates/9/0", "never opened"));
    assert_true (fg_test_reported_as (&r, "updates/9/0", "loss curve metrics/9/0 is missing"));
    assert_true (fg_test_reported_as (&r, "weights/1", "not committed"));
    assert_true (fg_test_reported_as (&r, "metrics/1", "not committed"));
}

static void
test_missing_meta (void **state)
{
    (void) state;
    fg_journal_t *j = s_open ();
    s_round (j, 1, 100);
    fg_journal_close (&j);
    s_raw ("meta", "config", 6, NULL, 0);
    fg_error_t err;
    fg_test_reports_t r = { .n = 0 };
    assert_int_equal (fg_journal_verify (s_dir, fg_test_report_collect, &r, NULL, &err), FG_EFORMAT);
    assert_true (fg_test_reported (&r, "meta/config", FG_EFORMAT));
    assert_int_equal (fg_journal_open (s_dir, CONFIG_A, HASH_A, false, &j, &err), FG_EFORMAT);
    //  meta/schema gone while data remains: never taken for a new journal.
    s_raw ("meta", "schema", 6, NULL, 0);
    assert_int_equal (fg_journal_open (s_dir, CONFIG_A, HASH_A, true, &j, &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, "damaged"));
}

//  --------------------------------------------------------------------------
//  Nodes, events, read-only use and dump

static int
s_count_node (const fg_journal_node_t *node, void *arg)
{
    (void) node;
    (*(int *) arg)++;
    return 0;
}

static int
s_event_seen (const fg_journal_event_t *ev, void *arg)
{
    char **last = (char **) arg;
    free (*last);
    *last = strdup (ev->text);
    return 0;
}

static void
test_nodes_events (void **state)
{
    (void) state;
    fg_journal_t *j = s_open ();
    fg_error_t err;
    fg_journal_node_t n = { .node = 3, .identity = "pc-lab-3", .speed = 812.5, .trust = 1.0,
                            .accepted = 4, .rejected = 1, .first_seen_ns = 5, .last_seen_ns = 9 };
    assert_int_equal (fg_journal_node_put (j, &n, &err), 0);
    n.accepted = 5;
    n.trust = 0.5;
    assert_int_equal (fg_journal_node_put (j, &n, &err), 0);       //  upsert
    fg_journal_node_t n2 = n;
    n2.node = 1;
    snprintf (n2.identity, sizeof n2.identity, "pc-lab-1");
    assert_int_equal (fg_journal_node_put (j, &n2, &err), 0);
    fg_journal_node_t got;
    assert_int_equal (fg_journal_node_get (j, 3, &got, &err), 0);
    assert_string_equal (got.identity, "pc-lab-3");
    assert_int_equal (got.accepted, 5);
    assert_true (got.trust == 0.5);
    assert_int_equal (fg_journal_node_get (j, 2, &got, &err), FG_ENOENT);
    int count = 0;
    assert_int_equal (fg_journal_nodes_foreach (j, s_count_node, &count, &err), 0);
    assert_int_equal (count, 2);
    n.identity [0] = 0;
    assert_int_equal (fg_journal_node_put (j, &n, &err), FG_EINVAL);
    snprintf (n.identity, sizeof n.identity, "x");
    n.trust = NAN;
    assert_int_equal (fg_journal_node_put (j, &n, &err), FG_EINVAL);
    n.trust = 1;
    n.speed = -1;
    assert_int_equal (fg_journal_node_put (j, &n, &err), FG_EINVAL);

    uint64_t seq1, seq2;
    assert_int_equal (fg_journal_event_append (j, 0, "trainer pc-lab-3 joined", &seq1, &err), 0);
    assert_int_equal (fg_journal_event_append (j, 4, "unit 4/2 re-issued", &seq2, &err), 0);
    assert_int_equal (seq2, seq1 + 1);
    char *last = NULL;
    assert_int_equal (fg_journal_events_foreach (j, seq2, s_event_seen, &last, &err), 0);
    assert_string_equal (last, "unit 4/2 re-issued");
    free (last);
    char *long_text = malloc (FG_JOURNAL_EVENT_MAX + 2);
    memset (long_text, 'a', FG_JOURNAL_EVENT_MAX + 1);
    long_text [FG_JOURNAL_EVENT_MAX + 1] = 0;
    assert_int_equal (fg_journal_event_append (j, 0, long_text, NULL, &err), FG_ERANGE);
    long_text [FG_JOURNAL_EVENT_MAX] = 0;
    assert_int_equal (fg_journal_event_append (j, 0, long_text, NULL, &err), 0);
    free (long_text);
    fg_journal_close (&j);
    s_verify_ok ();
}

//  Reseals a record whose body is now n bytes (length and CRC-32).
static size_t
s_resize_record (uint8_t *rec, size_t n)
{
    fg_le_put32 (rec + 4, (uint32_t) n);
    fg_le_put32 (rec + 8 + n, fg_jrec_crc (rec, 8 + n));
    return 8 + n + 4;
}

//  The node record's trust tail (strikes, quarantine, agreed) round-trips;
//  a record written before the tail reads with zeros; bad tails refused.
static void
test_node_trust_tail (void **state)
{
    (void) state;
    fg_journal_node_t n = { .node = 4, .identity = "liar", .accepted = 1, .strikes = 2,
                            .quarantined = true, .agreed = 7 };
    uint8_t rec [512];
    size_t size = fg_jrec_encode_node (rec, sizeof rec, &n);
    assert_int_equal (size, fg_jrec_size_node (4));
    fg_jrec_node_t got;
    fg_error_t err;
    assert_int_equal (fg_jrec_decode_node (rec, size, &got, &err), 0);
    assert_int_equal (got.node.strikes, 2);
    assert_true (got.node.quarantined);
    assert_int_equal (got.node.agreed, 7);
    //  the layout before the tail: 56 + identity bytes
    size = s_resize_record (rec, 56 + 4);
    assert_int_equal (fg_jrec_decode_node (rec, size, &got, &err), 0);
    assert_string_equal (got.node.identity, "liar");
    assert_int_equal (got.node.accepted, 1);
    assert_int_equal (got.node.strikes, 0);
    assert_false (got.node.quarantined);
    assert_int_equal (got.node.agreed, 0);
    //  unknown flags, quarantine without a strike, a tail cut short
    size = fg_jrec_encode_node (rec, sizeof rec, &n);
    fg_le_put32 (rec + 8 + 60 + 4, 3);
    size = s_resize_record (rec, 56 + 4 + 16);
    assert_int_equal (fg_jrec_decode_node (rec, size, &got, &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, "unknown flags"));
    n.strikes = 0;
    size = fg_jrec_encode_node (rec, sizeof rec, &n);
    assert_int_equal (fg_jrec_decode_node (rec, size, &got, &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, "quarantined without a strike"));
    size = s_resize_record (rec, 56 + 4 + 8);
    assert_int_equal (fg_jrec_decode_node (rec, size, &got, &err), FG_EFORMAT);
}

static void
test_readonly_dump (void **state)
{
    (void) state;
    fg_journal_t *w = s_open ();
    s_round (w, 1, 500);
    fg_journal_assignment_t a = { 0, 10, 1 };
    fg_error_t err;
    assert_int_equal (fg_journal_round_open (w, 2, &a, 1, &err), 0);
    fg_journal_close (&w);

    fg_journal_t *j;
    assert_int_equal (fg_journal_open_readonly (s_dir, &j, &err), 0);
    uint32_t last;
    assert_int_equal (fg_journal_last_round (j, &last, &err), 0);
    assert_int_equal (last, 1);
    assert_int_equal (fg_journal_round_open (j, 2, &a, 1, &err), FG_EINVAL);
    assert_non_null (strstr (err.msg, "read-only"));
    assert_int_equal (fg_journal_event_append (j, 0, "x", NULL, &err), FG_EINVAL);
    size_t problems;
    if (fg_journal_check (j, NULL, NULL, &problems, &err))
        fail_msg ("check: %s", err.msg);
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    assert_int_equal (fg_journal_dump (j, out, &err), 0);
    fclose (out);
    const char *expect [] = {
        "meta (3 records)", "config", HASH_A, "| seed = 1", "rounds (2 records)",
        "committed", "weights 500 bytes", "open, since", "included (3): 0 1 2",
        "0:10#1", "updates (3 records)", "1/2", "node 12 attempt 1, 100 samples",
        "metrics (4 records)", "3 updates, 300 samples", "loss curve, 4 points: 2.3 1.7 1.2 0.9",
        "events", "journal created", "round 1 committed", NULL
    };
    for (int i = 0; expect [i]; i++)
        if (!strstr (text, expect [i]))
            fail_msg ("dump lacks \"%s\":\n%s", expect [i], text);
    free (text);
    fg_journal_close (&j);
}

//  --------------------------------------------------------------------------
//  Server momentum: the optimizer state (FedAvgM momentum buffer) beside
//  each weights checkpoint

#define HASH_M   "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
#define CONFIG_M "[aggregation]\nserver_momentum = 0.9\n"

static fg_journal_t *
s_open_m (void)
{
    fg_journal_t *j = NULL;
    fg_error_t err;
    if (fg_journal_open (s_dir, CONFIG_M, HASH_M, true, &j, &err))
        fail_msg ("open: %s", err.msg);
    return j;
}

//  A small state: "w" (PARAM, 2x3, or 3x2 when `other`) and "bn.var"
//  (BUFFER, 3), values a function of tag; poison puts a NaN in it.
static fg_state_t *
s_state (uint32_t tag, bool other, bool poison)
{
    fg_state_t *s = fg_state_new ();
    assert_non_null (s);
    uint64_t shape_w [2] = { other? 3: 2, other? 2: 3 };
    uint64_t shape_b [1] = { 3 };
    assert_int_equal (fg_state_add (s, "w", FG_TENSOR_PARAM, 2, shape_w, NULL), 0);
    assert_int_equal (fg_state_add (s, "bn.var", FG_TENSOR_BUFFER, 1, shape_b, NULL), 0);
    for (size_t i = 0; i < s->size; i++)
        s->data [i] = (float) tag + 0.125f * (float) i;
    if (poison)
        s->data [4] = NAN;
    return s;
}

static uint8_t *
s_state_blob (uint32_t tag, bool other, bool poison, size_t *size)
{
    fg_state_t *s = s_state (tag, other, poison);
    uint8_t *blob;
    fg_error_t err;
    if (fg_blob_encode (s, NULL, &blob, size, &err))
        fail_msg ("blob: %s", err.msg);
    fg_state_destroy (&s);
    return blob;
}

//  Round with weights s_state (round) and buffer s_state (100 + round).
static int
s_mround_rc (fg_journal_t *j, uint32_t round, bool with_buffer, fg_error_t *err)
{
    fg_journal_assignment_t a [3] = { { 0, 10, 1 }, { 1, 11, 1 }, { 2, 12, 1 } };
    uint32_t included [3] = { 0, 1, 2 };
    if (fg_journal_round_open (j, round, a, 3, err))
        fail_msg ("round_open %u: %s", round, err->msg);
    for (uint32_t s = 0; s < 3; s++)
        s_put_update (j, round, s, 100 + s);
    size_t wsize, osize;
    uint8_t *w = s_state_blob (round, false, false, &wsize);
    uint8_t *o = s_state_blob (100 + round, false, false, &osize);
    fg_journal_metrics_t m = s_metrics (round);
    int rc = fg_journal_commit_round_with_optimizer (j, round, w, wsize, with_buffer? o: NULL,
                                                     osize, &m, included, 3, a, 3, err);
    free (w);
    free (o);
    return rc;
}

static void
s_mround (fg_journal_t *j, uint32_t round)
{
    fg_error_t err;
    if (s_mround_rc (j, round, true, &err))
        fail_msg ("commit %u: %s", round, err.msg);
}

//  The buffer of round is stored with exactly the bytes committed.
static void
s_check_buffer (fg_journal_t *j, uint32_t round)
{
    void *blob;
    size_t size, want_size;
    fg_error_t err;
    if (fg_journal_get_optimizer (j, round, &blob, &size, &err))
        fail_msg ("get_optimizer %u: %s", round, err.msg);
    uint8_t *want = s_state_blob (100 + round, false, false, &want_size);
    assert_int_equal (size, want_size);
    assert_memory_equal (blob, want, size);
    free (want);
    free (blob);
}

static void
s_expect_buffers (fg_journal_t *j, const uint32_t *want, size_t n)
{
    uint32_t *rounds;
    size_t count;
    fg_error_t err;
    assert_int_equal (fg_journal_optimizer_rounds (j, &rounds, &count, &err), 0);
    assert_int_equal (count, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal (rounds [i], want [i]);
        s_check_buffer (j, want [i]);
    }
    free (rounds);
}

static char *
s_dump_text (void)
{
    fg_journal_t *j;
    fg_error_t err;
    assert_int_equal (fg_journal_open_readonly (s_dir, &j, &err), 0);
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    assert_int_equal (fg_journal_dump (j, out, &err), 0);
    fclose (out);
    fg_journal_close (&j);
    return text;
}

static void
test_momentum_round_trip (void **state)
{
    (void) state;
    fg_journal_t *j = s_open_m ();
    fg_error_t err;
    for (uint32_t r = 1; r <= 3; r++)
        s_mround (j, r);
    uint32_t want [] = { 1, 2, 3 };
    s_expect_buffers (j, want, 3);
    void *blob;
    size_t size;
    assert_int_equal (fg_journal_get_optimizer (j, 4, &blob, &size, &err), FG_ENOENT);
    assert_non_null (strstr (err.msg, "round 4"));
    assert_null (blob);
    //  the configuration has momentum: a round without its buffer is refused
    assert_int_equal (s_mround_rc (j, 4, false, &err), FG_EINVAL);
    assert_non_null (strstr (err.msg, "server_momentum = 0.9"));
    assert_non_null (strstr (err.msg, "is required"));
    uint32_t last;
    assert_int_equal (fg_journal_last_round (j, &last, &err), 0);
    assert_int_equal (last, 3);
    fg_journal_close (&j);
    s_verify_ok ();
    //  a reopened writer and a reader see the same
    j = s_open_m ();
    s_expect_buffers (j, want, 3);
    s_mround (j, 4);
    fg_journal_close (&j);
    assert_int_equal (fg_journal_open_readonly (s_dir, &j, &err), 0);
    uint32_t want4 [] = { 2, 3, 4 };    //  default retention: the last 3
    s_expect_buffers (j, want4, 3);
    s_expect_retained (j, want4, 3);
    fg_journal_close (&j);
    char *text = s_dump_text ();
    const char *expect [] = { "optimizer (3 records)", "momentum buffer, blob",
                              "server_momentum = 0.9", "momentum buffer", NULL };
    for (int i = 0; expect [i]; i++)
        if (!strstr (text, expect [i]))
            fail_msg ("dump lacks \"%s\":\n%s", expect [i], text);
    free (text);
    s_verify_ok ();
}

static void
test_momentum_refused_without (void **state)
{
    (void) state;
    //  no momentum in the configuration: a buffer is refused, none stored
    fg_journal_t *j = s_open ();
    fg_error_t err;
    assert_int_equal (s_mround_rc (j, 1, true, &err), FG_EINVAL);
    assert_non_null (strstr (err.msg, "must not be given"));
    assert_int_equal (s_mround_rc (j, 1, false, &err), 0);
    uint32_t *rounds;
    size_t count = 9;
    assert_int_equal (fg_journal_optimizer_rounds (j, &rounds, &count, &err), 0);
    assert_int_equal (count, 0);
    fg_journal_close (&j);
    s_verify_ok ();
}

static void
test_momentum_retention (void **state)
{
    (void) state;
    fg_journal_t *j = s_open_m ();
    fg_error_t err;
    assert_int_equal (fg_journal_set_retention (j, 2, 5, &err), 0);
    for (uint32_t r = 1; r <= 12; r++)
        s_mround (j, r);
    uint32_t want [] = { 5, 10, 11, 12 };
    s_expect_retained (j, want, 4);
    s_expect_buffers (j, want, 4);
    void *blob;
    size_t size;
    assert_int_equal (fg_journal_get_optimizer (j, 7, &blob, &size, &err), FG_ENOENT);
    assert_int_equal (fg_journal_set_retention (j, 1, 0, &err), 0);
    s_mround (j, 13);
    uint32_t want2 [] = { 13 };
    s_expect_retained (j, want2, 1);
    s_expect_buffers (j, want2, 1);
    fg_journal_close (&j);
    s_verify_ok ();
}

//  A crash at every write of a commit with a momentum buffer: nothing of
//  the round is stored, the previous buffer stays; then it succeeds.
static void
test_momentum_crash_between_writes (void **state)
{
    (void) state;
    fg_journal_t *j = s_open_m ();
    fg_error_t err;
    assert_int_equal (fg_journal_set_retention (j, 1, 0, &err), 0);   //  commit 2 drops 1
    s_mround (j, 1);
    fg_journal_assignment_t a [3] = { { 0, 10, 1 }, { 1, 11, 1 }, { 2, 12, 1 } };
    assert_int_equal (fg_journal_round_open (j, 2, a, 3, &err), 0);
    for (uint32_t s = 0; s < 3; s++)
        s_put_update (j, 2, s, 100 + s);
    hook_t hook = { 0 };
    fg_journal_set_write_hook (j, s_hook, &hook);
    uint32_t included [3] = { 0, 1, 2 };
    size_t wsize, osize;
    uint8_t *w = s_state_blob (2, false, false, &wsize);
    uint8_t *o = s_state_blob (102, false, false, &osize);
    fg_journal_metrics_t m = s_metrics (2);
    bool seen_buffer = false, seen_drop = false;
    uint64_t k;
    for (k = 1; ; k++) {
        hook.armed = false;
        hook.fail_at = k;
        hook.label [0] = 0;
        err.code = fg_journal_commit_round_with_optimizer (j, 2, w, wsize, o, osize, &m,
                                                           included, 3, a, 3, &err);
        if (err.code == 0)
            break;
        assert_int_equal (err.code, FG_EIO);
        assert_true (k <= 10);
        seen_buffer |= strcmp (hook.label, "commit_round:optimizer") == 0;
        seen_drop |= strcmp (hook.label, "commit_round:retention-optimizer") == 0;
        for (int pass = 0; pass < 2; pass++) {
            uint32_t last;
            assert_int_equal (fg_journal_last_round (j, &last, &err), 0);
            assert_int_equal (last, 1);
            void *blob;
            size_t size;
            assert_int_equal (fg_journal_get_optimizer (j, 2, &blob, &size, &err), FG_ENOENT);
            uint32_t want [] = { 1 };
            s_expect_buffers (j, want, 1);
            s_expect_retained (j, want, 1);
            if (pass == 0) {
                fg_journal_close (&j);
                s_verify_ok ();
                j = s_open_m ();
                assert_int_equal (fg_journal_set_retention (j, 1, 0, &err), 0);
                fg_journal_set_write_hook (j, s_hook, &hook);
            }
        }
    }
    //  weights, optimizer, metrics, round, retention of weights and of
    //  the buffer, event
    assert_int_equal (k - 1, 7);
    assert_true (seen_buffer && seen_drop);
    fg_journal_set_write_hook (j, NULL, NULL);
    uint32_t want2 [] = { 2 };
    s_expect_buffers (j, want2, 1);
    s_expect_retained (j, want2, 1);
    fg_journal_close (&j);
    s_verify_ok ();
    free (w);
    free (o);
}

static void
s_raw_put_buffer (const char *db, uint32_t round, const uint8_t *blob, size_t size)
{
    uint8_t *v = malloc (FG_JREC_SIZE_OPTIMIZER + size);
    assert_non_null (v);
    fg_jrec_encode_optimizer (v, FG_JREC_SIZE_OPTIMIZER, round, FG_JREC_OPT_MOMENTUM, size,
                              fg_jrec_crc (blob, size));
    memcpy (v + FG_JREC_SIZE_OPTIMIZER, blob, size);
    uint8_t k [4];
    s_key32 (k, round);
    s_raw (db, k, 4, v, FG_JREC_SIZE_OPTIMIZER + size);
    free (v);
}

static void
test_momentum_corruption (void **state)
{
    (void) state;
    fg_journal_t *j = s_open_m ();
    for (uint32_t r = 1; r <= 3; r++)
        s_mround (j, r);
    fg_journal_close (&j);
    s_verify_ok ();
    fg_test_reports_t r = { .n = 0 };
    size_t problems;
    fg_error_t err;

    //  A byte of an old buffer: verify finds it, resume does not need it,
    //  reading it is refused.
    size_t osize;
    uint8_t *o1 = s_state_blob (101, false, false, &osize);
    assert_true (s_flip (o1 + osize - 24, 16, 3) >= 1);
    free (o1);
    assert_int_equal (fg_journal_verify (s_dir, fg_test_report_collect, &r, &problems, &err), FG_ECHECKSUM);
    assert_int_equal (problems, 1);
    assert_true (fg_test_reported (&r, "optimizer/1", FG_ECHECKSUM));
    j = s_open_m ();
    void *blob;
    size_t size;
    assert_int_equal (fg_journal_get_optimizer (j, 1, &blob, &size, &err), FG_ECHECKSUM);
    assert_non_null (strstr (err.msg, "optimizer/1"));
    fg_journal_close (&j);

    //  The newest buffer: open (resume) refuses.
    uint8_t *o3 = s_state_blob (103, false, false, &osize);
    assert_true (s_flip (o3 + osize - 24, 16, 3) >= 1);
    free (o3);
    assert_int_equal (fg_journal_open (s_dir, CONFIG_M, HASH_M, false, &j, &err), FG_ECHECKSUM);
    assert_non_null (strstr (err.msg, "optimizer/3"));
    char *text = s_dump_text ();
    assert_non_null (strstr (text, "DAMAGED: optimizer blob: CRC-32"));
    free (text);
    //  Good buffers again, then one missing: verify and open refuse.
    uint8_t *good = s_state_blob (101, false, false, &osize);
    s_raw_put_buffer ("optimizer", 1, good, osize);
    free (good);
    good = s_state_blob (103, false, false, &osize);
    s_raw_put_buffer ("optimizer", 3, good, osize);
    free (good);
    s_verify_ok ();
    uint8_t k [4];
    s_key32 (k, 2);
    s_raw ("optimizer", k, 4, NULL, 0);
    r.n = 0;
    assert_int_equal (fg_journal_verify (s_dir, fg_test_report_collect, &r, &problems, &err), FG_ESTATE);
    assert_int_equal (problems, 1);
    assert_true (fg_test_reported_as (&r, "optimizer/2", "missing"));
    assert_true (fg_test_reported_as (&r, "optimizer/2", "server_momentum = 0.9"));
    assert_int_equal (fg_journal_open (s_dir, CONFIG_M, HASH_M, false, &j, &err), FG_ESTATE);
    assert_non_null (strstr (err.msg, "optimizer/2"));
    //  A buffer of another layout, one with a NaN, one that is no blob,
    //  one beside no checkpoint, one of a round never committed.
    uint8_t *other = s_state_blob (102, true, false, &osize);
    s_raw_put_buffer ("optimizer", 2, other, osize);
    free (other);
    uint8_t *nan = s_state_blob (101, false, true, &osize);
    s_raw_put_buffer ("optimizer", 1, nan, osize);
    free (nan);
    uint8_t junk [40];
    memset (junk, 0x5a, sizeof junk);
    s_raw_put_buffer ("optimizer", 3, junk, sizeof junk);
    s_key32 (k, 1);
    uint8_t *w1 = s_state_blob (1, false, false, &osize);
    s_raw ("weights", k, 4, NULL, 0);
    free (w1);
    s_raw_put_buffer ("optimizer", 9, junk, sizeof junk);
    r.n = 0;
    assert_int_not_equal (fg_journal_verify (s_dir, fg_test_report_collect, &r, &problems, &err), 0);
    assert_true (fg_test_reported_as (&r, "optimizer/2", "layout differs from weights/2"));
    assert_true (fg_test_reported_as (&r, "optimizer/1", "without its weights checkpoint"));
    assert_true (fg_test_reported_as (&r, "optimizer/3", "not a full weights blob"));
    assert_true (fg_test_reported_as (&r, "optimizer/9", "not committed"));
    assert_int_equal (problems, 4);
    //  the NaN, once its checkpoint is back
    s_key32 (k, 1);
    uint8_t *wrec = malloc (FG_JREC_SIZE_WEIGHTS + 4096);
    w1 = s_state_blob (1, false, false, &osize);
    fg_jrec_encode_weights (wrec, FG_JREC_SIZE_WEIGHTS, 1, osize, fg_jrec_crc (w1, osize));
    memcpy (wrec + FG_JREC_SIZE_WEIGHTS, w1, osize);
    s_raw ("weights", k, 4, wrec, FG_JREC_SIZE_WEIGHTS + osize);
    free (wrec);
    free (w1);
    r.n = 0;
    assert_int_not_equal (fg_journal_verify (s_dir, fg_test_report_collect, &r, &problems, &err), 0);
    assert_true (fg_test_reported_as (&r, "optimizer/1", "holds NaN at float 4"));
}

static void
test_momentum_unexpected_buffer (void **state)
{
    (void) state;
    //  A buffer in a journal whose configuration has no momentum.
    fg_journal_t *j = s_open ();
    s_round (j, 1, 300);
    fg_journal_close (&j);
    size_t osize;
    uint8_t *o = s_state_blob (101, false, false, &osize);
    s_raw_put_buffer ("optimizer", 1, o, osize);
    free (o);
    fg_test_reports_t r = { .n = 0 };
    size_t problems;
    fg_error_t err;
    assert_int_equal (fg_journal_verify (s_dir, fg_test_report_collect, &r, &problems, &err), FG_ESTATE);
    assert_int_equal (problems, 1);
    assert_true (fg_test_reported_as (&r, "optimizer/1", "no server momentum"));
    assert_int_equal (fg_journal_open (s_dir, CONFIG_A, HASH_A, false, &j, &err), FG_ESTATE);
}

//  A journal written before the optimizer database existed (simulated by
//  dropping it): it opens read-only and verifies as it did; a writer
//  adds the database and carries on.
static void
test_momentum_old_journal (void **state)
{
    (void) state;
    fg_journal_t *j = s_open ();
    s_round (j, 1, 300);
    s_round (j, 2, 300);
    fg_journal_close (&j);
    char path [512];
    snprintf (path, sizeof path, "%s/%s", s_dir, FG_JOURNAL_FILE);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal (mdb_env_create (&env), 0);
    assert_int_equal (mdb_env_set_maxdbs (env, 8), 0);
    assert_int_equal (mdb_env_open (env, path, MDB_NOSUBDIR, 0644), 0);
    assert_int_equal (mdb_txn_begin (env, NULL, 0, &txn), 0);
    assert_int_equal (mdb_dbi_open (txn, "optimizer", 0, &dbi), 0);
    assert_int_equal (mdb_drop (txn, dbi, 1), 0);
    assert_int_equal (mdb_txn_commit (txn), 0);
    assert_int_equal (mdb_txn_begin (env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal (mdb_dbi_open (txn, "optimizer", 0, &dbi), MDB_NOTFOUND);
    mdb_txn_abort (txn);
    mdb_env_close (env);

    s_verify_ok ();
    fg_error_t err;
    assert_int_equal (fg_journal_open_readonly (s_dir, &j, &err), 0);
    uint32_t *rounds;
    size_t count = 9;
    assert_int_equal (fg_journal_optimizer_rounds (j, &rounds, &count, &err), 0);
    assert_int_equal (count, 0);
    void *blob;
    size_t size;
    assert_int_equal (fg_journal_get_optimizer (j, 2, &blob, &size, &err), FG_ENOENT);
    s_check_weights (j, 2, 300);
    fg_journal_close (&j);
    char *text = s_dump_text ();
    assert_non_null (strstr (text, "optimizer (0 records: written before"));
    assert_non_null (strstr (text, "round 2 committed"));
    free (text);
    j = s_open ();
    s_round (j, 3, 300);
    fg_journal_close (&j);
    s_verify_ok ();
    text = s_dump_text ();
    assert_non_null (strstr (text, "optimizer (0 records)"));
    free (text);
}

//  --------------------------------------------------------------------------
//  Record decoders

typedef int (decode_fn) (const uint8_t *v, size_t n, fg_error_t *err);

static int d_schema (const uint8_t *v, size_t n, fg_error_t *e) { fg_jrec_schema_t o; return fg_jrec_decode_schema (v, n, &o, e); }
static int d_config (const uint8_t *v, size_t n, fg_error_t *e) { fg_jrec_config_t o; return fg_jrec_decode_config (v, n, &o, e); }
static int d_experiment (const uint8_t *v, size_t n, fg_error_t *e) { fg_jrec_experiment_t o; return fg_jrec_decode_experiment (v, n, &o, e); }
static int d_round (const uint8_t *v, size_t n, fg_error_t *e) { fg_jrec_round_t o; return fg_jrec_decode_round (v, n, &o, e); }
static int d_update (const uint8_t *v, size_t n, fg_error_t *e) { fg_jrec_update_t o; return fg_jrec_decode_update (v, n, true, &o, e); }
static int d_weights (const uint8_t *v, size_t n, fg_error_t *e) { fg_jrec_weights_t o; return fg_jrec_decode_weights (v, n, true, &o, e); }
static int d_optimizer (const uint8_t *v, size_t n, fg_error_t *e) { fg_jrec_optimizer_t o; return fg_jrec_decode_optimizer (v, n, true, &o, e); }
static int d_metrics (const uint8_t *v, size_t n, fg_error_t *e) { fg_jrec_metrics_t o; return fg_jrec_decode_metrics (v, n, &o, e); }
static int d_loss (const uint8_t *v, size_t n, fg_error_t *e) { fg_jrec_loss_t o; return fg_jrec_decode_loss (v, n, &o, e); }
static int d_node (const uint8_t *v, size_t n, fg_error_t *e) { fg_jrec_node_t o; return fg_jrec_decode_node (v, n, &o, e); }
static int d_event (const uint8_t *v, size_t n, fg_error_t *e) { fg_jrec_event_t o; return fg_jrec_decode_event (v, n, &o, e); }

//  Recomputes the record CRC after an edit of the body (blob kinds: the
//  record only, the blob stays after it).
static void
s_reseal (uint8_t *v)
{
    uint32_t n = (uint32_t) v [4] | (uint32_t) v [5] << 8 | (uint32_t) v [6] << 16
               | (uint32_t) v [7] << 24;
    uint32_t crc = fg_jrec_crc (v, 8 + (size_t) n);
    for (int i = 0; i < 4; i++)
        v [8 + n + (uint32_t) i] = (uint8_t) (crc >> (8 * i));
}

static void
s_put_le32 (uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p [i] = (uint8_t) (v >> (8 * i));
}

//  The generic rejections every decoder must make: each truncation, each
//  flipped byte of the record, trailing bytes, wrong kind, version,
//  reserved bytes.
static void
s_generic (decode_fn *decode, const uint8_t *good, size_t size, size_t record, int kind)
{
    fg_error_t err;
    assert_int_equal (decode (good, size, &err), 0);
    assert_int_not_equal (decode (NULL, 0, &err), 0);
    uint8_t *v = malloc (size + 1);
    for (size_t cut = 0; cut < size; cut++) {
        memcpy (v, good, cut);
        err.msg [0] = 0;
        int rc = decode (v, cut, &err);
        assert_true (rc == FG_EFORMAT || rc == FG_ECHECKSUM);
        assert_true (err.msg [0] != 0);
    }
    for (size_t i = 0; i < size; i++) {
        memcpy (v, good, size);
        v [i] ^= 0x01;
        int rc = decode (v, size, &err);
        assert_true (rc == FG_EFORMAT || rc == FG_ECHECKSUM || rc == FG_EVERSION);
    }
    memcpy (v, good, size);
    v [size] = 0;
    assert_int_equal (decode (v, size + 1, &err), FG_EFORMAT);
    //  Resealed edits: the CRC is right, the field is not.
    memcpy (v, good, size);
    v [0] = (uint8_t) (kind == FG_JREC_SCHEMA? FG_JREC_EVENT: FG_JREC_SCHEMA);
    s_reseal (v);
    assert_int_equal (decode (v, size, &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, "expected"));
    memcpy (v, good, size);
    v [1] = 2;
    s_reseal (v);
    assert_int_equal (decode (v, size, &err), FG_EVERSION);
    memcpy (v, good, size);
    v [3] = 1;
    s_reseal (v);
    assert_int_equal (decode (v, size, &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, "reserved"));
    //  A body length that runs past the end.
    memcpy (v, good, size);
    s_put_le32 (v + 4, (uint32_t) size);
    assert_int_equal (decode (v, size, &err), FG_EFORMAT);
    s_put_le32 (v + 4, UINT32_MAX);
    assert_int_equal (decode (v, size, &err), FG_EFORMAT);
    (void) record;
    free (v);
}

//  Edits byte `at` of the body to value (u32 LE), reseals, expects code.
static void
s_field (decode_fn *decode, const uint8_t *good, size_t size, size_t at, uint32_t value,
         int code, const char *words)
{
    uint8_t *v = malloc (size);
    memcpy (v, good, size);
    s_put_le32 (v + 8 + at, value);
    s_reseal (v);
    fg_error_t err;
    err.msg [0] = 0;
    int rc = decode (v, size, &err);
    if (rc != code)
        fail_msg ("field at %zu = %u: got %d (%s), expected %d", at, value, rc, err.msg, code);
    if (words && !strstr (err.msg, words))
        fail_msg ("field at %zu: message \"%s\" lacks \"%s\"", at, err.msg, words);
    free (v);
}

static void
test_decoders (void **state)
{
    (void) state;
    uint8_t buf [4096];
    size_t n;
    fg_error_t err;

    //  schema
    n = fg_jrec_encode_schema (buf, sizeof buf, 1);
    assert_int_equal (n, FG_JREC_SIZE_SCHEMA);
    assert_int_equal (fg_jrec_encode_schema (buf, n - 1, 1), 0);
    fg_jrec_schema_t schema;
    assert_int_equal (fg_jrec_decode_schema (buf, n, &schema, &err), 0);
    assert_int_equal (schema.version, 1);
    s_generic (d_schema, buf, n, n, FG_JREC_SCHEMA);
    s_field (d_schema, buf, n, 0, 0, FG_EFORMAT, "version 0");

    //  config
    n = fg_jrec_encode_config (buf, sizeof buf, HASH_A, CONFIG_A, strlen (CONFIG_A));
    assert_int_equal (n, fg_jrec_size_config (strlen (CONFIG_A)));
    assert_int_equal (fg_jrec_encode_config (buf, sizeof buf, "abc", "x", 1), 0);
    fg_jrec_config_t cfg;
    assert_int_equal (fg_jrec_decode_config (buf, n, &cfg, &err), 0);
    assert_string_equal (cfg.hash, HASH_A);
    assert_int_equal (cfg.length, strlen (CONFIG_A));
    assert_memory_equal (cfg.text, CONFIG_A, cfg.length);
    s_generic (d_config, buf, n, n, FG_JREC_CONFIG);
    s_field (d_config, buf, n, 0, 0x41414141, FG_EFORMAT, "hex");            //  'A'
    s_field (d_config, buf, n, 64, 5, FG_EFORMAT, "body is");
    s_field (d_config, buf, n, 64, FG_JREC_CONFIG_MAX + 1, FG_EFORMAT, "exceeds");
    s_field (d_config, buf, n, 68, 0x00636573, FG_EFORMAT, "NUL");

    //  experiment
    uint8_t id [16] = { 1, 2, 3 };
    n = fg_jrec_encode_experiment (buf, sizeof buf, id, 77, "fedgrid", 7);
    fg_jrec_experiment_t x;
    assert_int_equal (fg_jrec_decode_experiment (buf, n, &x, &err), 0);
    assert_int_equal (x.created_ns, 77);
    assert_int_equal (x.label_length, 7);
    assert_int_equal (x.id [2], 3);
    s_generic (d_experiment, buf, n, n, FG_JREC_EXPERIMENT);
    s_field (d_experiment, buf, n, 24, 8, FG_EFORMAT, "body is");
    s_field (d_experiment, buf, n, 24, 100000, FG_EFORMAT, "exceeds");
    s_field (d_experiment, buf, n, 28, 0x00646566, FG_EFORMAT, "NUL");

    //  round (committed, 2 assignments, 3 included)
    fg_journal_assignment_t a [2] = { { 4, 9, 1 }, { 5, 8, 2 } };
    uint32_t inc [3] = { 1, 4, 5 };
    fg_journal_round_t r = { .round = 6, .state = FG_ROUND_COMMITTED, .opened_ns = 10,
                             .committed_ns = 20, .weights_size = 30, .weights_crc = 40,
                             .nassignments = 2, .nincluded = 3, .assignments = a, .included = inc };
    n = fg_jrec_encode_round (buf, sizeof buf, &r);
    assert_int_equal (n, fg_jrec_size_round (2, 3));
    fg_jrec_round_t rr;
    assert_int_equal (fg_jrec_decode_round (buf, n, &rr, &err), 0);
    assert_int_equal (rr.head.round, 6);
    assert_int_equal (rr.head.weights_crc, 40);
    assert_int_equal (rr.head.nincluded, 3);
    s_generic (d_round, buf, n, n, FG_JREC_ROUND);
    s_field (d_round, buf, n, 0, 0, FG_EFORMAT, "round number 0");
    s_field (d_round, buf, n, 0, UINT32_MAX, FG_EFORMAT, "not allowed");
    s_field (d_round, buf, n, 4, 3, FG_EFORMAT, "state 3");
    s_field (d_round, buf, n, 4, 0x0102, FG_EFORMAT, "padding");
    s_field (d_round, buf, n, 36, 3, FG_EFORMAT, "body is");
    s_field (d_round, buf, n, 36, UINT32_MAX, FG_EFORMAT, "exceed the limits");
    s_field (d_round, buf, n, 40, 0x40000000, FG_EFORMAT, "exceed the limits");
    s_field (d_round, buf, n, 40, 2, FG_EFORMAT, "body is");
    s_field (d_round, buf, n, 44 + 8, 0, FG_EFORMAT, "attempt 0");
    s_field (d_round, buf, n, 44 + 24 + 4, 1, FG_EFORMAT, "strictly increasing");
    s_field (d_round, buf, n, 44 + 24 + 8, 4, FG_EFORMAT, "strictly increasing");
    //  An open round must not carry commit fields.
    fg_journal_round_t o = { .round = 6, .state = FG_ROUND_OPEN, .opened_ns = 10,
                             .nassignments = 2, .assignments = a };
    n = fg_jrec_encode_round (buf, sizeof buf, &o);
    assert_int_equal (fg_jrec_decode_round (buf, n, &rr, &err), 0);
    s_field (d_round, buf, n, 16, 1, FG_EFORMAT, "commit fields");
    s_field (d_round, buf, n, 24, 1, FG_EFORMAT, "commit fields");
    s_field (d_round, buf, n, 32, 1, FG_EFORMAT, "commit fields");
    assert_int_equal (fg_jrec_size_round (FG_JREC_ASSIGN_MAX + 1, 0), 0);

    //  update with a blob
    fg_journal_update_t u = { .round = 3, .shard = 2, .attempt = 1, .node = 7, .samples = 60,
                              .received_ns = 5, .blob_size = 50 };
    uint8_t blob [50];
    for (int i = 0; i < 50; i++)
        blob [i] = (uint8_t) (i * 7);
    u.blob_crc = fg_jrec_crc (blob, 50);
    n = fg_jrec_encode_update (buf, sizeof buf, &u);
    assert_int_equal (n, FG_JREC_SIZE_UPDATE);
    memcpy (buf + n, blob, 50);
    fg_jrec_update_t ur;
    assert_int_equal (fg_jrec_decode_update (buf, n + 50, true, &ur, &err), 0);
    assert_int_equal (ur.head.samples, 60);
    assert_memory_equal (ur.blob, blob, 50);
    buf [n + 10] ^= 4;
    assert_int_equal (fg_jrec_decode_update (buf, n + 50, true, &ur, &err), FG_ECHECKSUM);
    assert_non_null (strstr (err.msg, "update blob"));
    assert_int_equal (fg_jrec_decode_update (buf, n + 50, false, &ur, &err), 0);
    buf [n + 10] ^= 4;
    assert_int_equal (fg_jrec_decode_update (buf, n + 49, true, &ur, &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, "blob length"));
    for (size_t cut = 0; cut < n; cut++)
        assert_int_not_equal (d_update (buf, cut, &err), 0);
    s_field (d_update, buf, n + 50, 0, 0, FG_EFORMAT, "round number 0");
    s_field (d_update, buf, n + 50, 8, 0, FG_EFORMAT, "attempt 0");
    s_field (d_update, buf, n + 50, 32, 51, FG_EFORMAT, "blob length");
    s_field (d_update, buf, n + 50, 36, 1, FG_EFORMAT, "blob length");
    s_field (d_update, buf, n + 50, 40, 0, FG_ECHECKSUM, "CRC");
    //  update without a blob: the generic paths
    fg_journal_update_t u0 = u;
    u0.blob_size = 0;
    u0.blob_crc = 0;
    n = fg_jrec_encode_update (buf, sizeof buf, &u0);
    s_generic (d_update, buf, n, n, FG_JREC_UPDATE);

    //  weights
    n = fg_jrec_encode_weights (buf, sizeof buf, 9, 50, fg_jrec_crc (blob, 50));
    assert_int_equal (n, FG_JREC_SIZE_WEIGHTS);
    memcpy (buf + n, blob, 50);
    fg_jrec_weights_t w;
    assert_int_equal (fg_jrec_decode_weights (buf, n + 50, true, &w, &err), 0);
    assert_int_equal (w.round, 9);
    assert_int_equal (w.blob_size, 50);
    buf [n + 49] ^= 0x80;
    assert_int_equal (fg_jrec_decode_weights (buf, n + 50, true, &w, &err), FG_ECHECKSUM);
    buf [n + 49] ^= 0x80;
    s_field (d_weights, buf, n + 50, 0, 0, FG_EFORMAT, "round number 0");
    s_field (d_weights, buf, n + 50, 4, 49, FG_EFORMAT, "blob length");
    s_field (d_weights, buf, n + 50, 8, 1, FG_EFORMAT, "blob length");
    s_field (d_weights, buf, n + 50, 12, 0, FG_ECHECKSUM, "weights blob");
    n = fg_jrec_encode_weights (buf, sizeof buf, 9, 0, 0);
    s_generic (d_weights, buf, n, n, FG_JREC_WEIGHTS);

    //  optimizer state (momentum buffer)
    n = fg_jrec_encode_optimizer (buf, sizeof buf, 9, FG_JREC_OPT_MOMENTUM, 50,
                                  fg_jrec_crc (blob, 50));
    assert_int_equal (n, FG_JREC_SIZE_OPTIMIZER);
    assert_int_equal (fg_jrec_encode_optimizer (buf, n - 1, 9, 1, 50, 0), 0);
    memcpy (buf + n, blob, 50);
    fg_jrec_optimizer_t opt;
    assert_int_equal (fg_jrec_decode_optimizer (buf, n + 50, true, &opt, &err), 0);
    assert_int_equal (opt.round, 9);
    assert_int_equal (opt.what, FG_JREC_OPT_MOMENTUM);
    assert_int_equal (opt.blob_size, 50);
    assert_ptr_equal (opt.blob, buf + n);
    buf [n + 49] ^= 0x80;
    assert_int_equal (fg_jrec_decode_optimizer (buf, n + 50, true, &opt, &err), FG_ECHECKSUM);
    assert_non_null (strstr (err.msg, "optimizer blob"));
    assert_int_equal (fg_jrec_decode_optimizer (buf, n + 50, false, &opt, &err), 0);
    buf [n + 49] ^= 0x80;
    assert_int_equal (fg_jrec_decode_weights (buf, n + 50, true, &w, &err), FG_EFORMAT);
    s_field (d_optimizer, buf, n + 50, 0, 0, FG_EFORMAT, "round number 0");
    s_field (d_optimizer, buf, n + 50, 0, UINT32_MAX, FG_EFORMAT, "round number");
    s_field (d_optimizer, buf, n + 50, 4, 0, FG_EFORMAT, "state kind 0");
    s_field (d_optimizer, buf, n + 50, 4, 2, FG_EFORMAT, "state kind 2");
    s_field (d_optimizer, buf, n + 50, 8, 49, FG_EFORMAT, "blob length");
    s_field (d_optimizer, buf, n + 50, 12, 1, FG_EFORMAT, "blob length");
    s_field (d_optimizer, buf, n + 50, 16, 0, FG_ECHECKSUM, "optimizer blob");
    n = fg_jrec_encode_optimizer (buf, sizeof buf, 9, FG_JREC_OPT_MOMENTUM, 0, 0);
    s_generic (d_optimizer, buf, n, n, FG_JREC_OPTIMIZER);

    //  metrics
    fg_journal_metrics_t m = { 4, 400, 0.25, 0.5, 0.875, 1234 };
    n = fg_jrec_encode_metrics (buf, sizeof buf, 2, &m);
    fg_jrec_metrics_t mr;
    assert_int_equal (fg_jrec_decode_metrics (buf, n, &mr, &err), 0);
    s_metrics_equal (&mr.m, &m);
    s_generic (d_metrics, buf, n, n, FG_JREC_METRICS);
    s_field (d_metrics, buf, n, 0, 0, FG_EFORMAT, "round number 0");
    s_field (d_metrics, buf, n, 36, 0x3ff80000, FG_EFORMAT, "accuracy");   //  1.5 + low bits
    s_field (d_metrics, buf, n, 36, 0xbff00000, FG_EFORMAT, "accuracy");   //  negative
    m.test_accuracy = NAN;
    n = fg_jrec_encode_metrics (buf, sizeof buf, 2, &m);
    assert_int_equal (fg_jrec_decode_metrics (buf, n, &mr, &err), 0);     //  "not measured"

    //  loss
    n = fg_jrec_encode_loss (buf, sizeof buf, 3, 2, s_curve, 4);
    fg_jrec_loss_t l;
    assert_int_equal (fg_jrec_decode_loss (buf, n, &l, &err), 0);
    assert_int_equal (l.count, 4);
    assert_memory_equal (l.points, s_curve, 16);        //  little-endian host
    s_generic (d_loss, buf, n, n, FG_JREC_LOSS);
    s_field (d_loss, buf, n, 0, 0, FG_EFORMAT, "round number 0");
    s_field (d_loss, buf, n, 8, 5, FG_EFORMAT, "body is");
    s_field (d_loss, buf, n, 8, FG_JOURNAL_LOSS_MAX + 1, FG_EFORMAT, "exceed");
    assert_int_equal (fg_jrec_size_loss (FG_JOURNAL_LOSS_MAX + 1), 0);

    //  node
    fg_journal_node_t nd = { .node = 5, .identity = "host-5", .speed = 10, .trust = 0.75,
                             .accepted = 1, .rejected = 2, .first_seen_ns = 3, .last_seen_ns = 4 };
    n = fg_jrec_encode_node (buf, sizeof buf, &nd);
    fg_jrec_node_t nr;
    assert_int_equal (fg_jrec_decode_node (buf, n, &nr, &err), 0);
    assert_int_equal (nr.node.node, nd.node);
    assert_string_equal (nr.node.identity, nd.identity);
    assert_true (nr.node.speed == nd.speed && nr.node.trust == nd.trust);
    assert_int_equal (nr.node.accepted, nd.accepted);
    assert_int_equal (nr.node.rejected, nd.rejected);
    assert_int_equal (nr.node.first_seen_ns, nd.first_seen_ns);
    assert_int_equal (nr.node.last_seen_ns, nd.last_seen_ns);
    s_generic (d_node, buf, n, n, FG_JREC_NODE);
    s_field (d_node, buf, n, 4, 0, FG_EFORMAT, "identity length 0");
    s_field (d_node, buf, n, 4, FG_JOURNAL_IDENTITY_MAX, FG_EFORMAT, "identity length");
    s_field (d_node, buf, n, 4, 7, FG_EFORMAT, "body is");
    s_field (d_node, buf, n, 44, 0x7ff80000, FG_EFORMAT, "speed");         //  NaN
    s_field (d_node, buf, n, 44, 0xbff00000, FG_EFORMAT, "speed");         //  negative
    s_field (d_node, buf, n, 52, 0x7ff80000, FG_EFORMAT, "trust");
    s_field (d_node, buf, n, 52, 0x40000000, FG_EFORMAT, "trust");         //  2.0
    s_field (d_node, buf, n, 56, 0x00736f68, FG_EFORMAT, "NUL");

    //  event
    n = fg_jrec_encode_event (buf, sizeof buf, 12, 99, 3, "round 3 committed", 17);
    fg_jrec_event_t ev;
    assert_int_equal (fg_jrec_decode_event (buf, n, &ev, &err), 0);
    assert_int_equal (ev.seq, 12);
    assert_int_equal (ev.round, 3);
    assert_memory_equal (ev.text, "round 3 committed", 17);
    s_generic (d_event, buf, n, n, FG_JREC_EVENT);
    s_field (d_event, buf, n, 0, 0, FG_EFORMAT, "sequence number 0");
    s_field (d_event, buf, n, 20, 16, FG_EFORMAT, "body is");
    s_field (d_event, buf, n, 20, FG_JOURNAL_EVENT_MAX + 1, FG_EFORMAT, "exceeds");
    s_field (d_event, buf, n, 24, 0x00646e75, FG_EFORMAT, "NUL");
    assert_int_equal (fg_jrec_encode_event (buf, 10, 1, 1, 1, "x", 1), 0);

    //  kind peek
    assert_int_equal (fg_jrec_kind (buf, n), FG_JREC_EVENT);
    assert_int_equal (fg_jrec_kind (buf, 0), -1);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_create_reopen, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_config_mismatch, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_schema_mismatch, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_never_initialised, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_writer_lock, s_setup, s_teardown),
        cmocka_unit_test (test_remote_fs),
        cmocka_unit_test_setup_teardown (test_rounds, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_update_idempotent, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_crash_between_writes, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_retention, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_map_growth, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_disk_full, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_truncated, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_flipped_blob_byte, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_flipped_record_byte, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_broken_invariants, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_open_round_invariants, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_missing_meta, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_nodes_events, s_setup, s_teardown),
        cmocka_unit_test (test_node_trust_tail),
        cmocka_unit_test_setup_teardown (test_readonly_dump, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_momentum_round_trip, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_momentum_refused_without, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_momentum_retention, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_momentum_crash_between_writes, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_momentum_corruption, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_momentum_unexpected_buffer, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_momentum_old_journal, s_setup, s_teardown),
        cmocka_unit_test (test_decoders),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
