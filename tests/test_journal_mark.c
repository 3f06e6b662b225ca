/*  test_journal_mark.c — the journal's mark (DIR/journal.mark, the last
    committed round outside the file): written by every commit; a flipped
    byte in LMDB's newer meta page (LMDB falls back to the older one and a
    committed round vanishes) refused by the writer's open, the readers'
    open and verify, naming both rounds; the crash window between the
    commit and the mark (the mark one round behind) accepted and brought up
    to date; an experiment without a mark opened and given one; a damaged
    mark, another experiment's mark and a journal missing beside its mark
    refused; a mark that cannot be written named with its reason while the
    round stays committed. A real LMDB file on disk throughout.           */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fg_file.h"
#include "fg_journal.h"
#include "fg_journal_internal.h"
#include "fg_test_journal.h"
#include "fg_test_util.h"

#define HASH_A FG_TEST_HASH_A
#define CONFIG_A FG_TEST_CONFIG_A
#define BLOB_SIZE 20000

static char s_dir [256];
static char s_mark [300];
static char s_data [300];

static int
s_setup (void **state)
{
    (void) state;
    assert_int_equal (fg_test_tmpdir ("fg-test-mark", s_dir, sizeof s_dir), 0);
    snprintf (s_mark, sizeof s_mark, "%s/%s", s_dir, FG_JOURNAL_MARK_FILE);
    snprintf (s_data, sizeof s_data, "%s/%s", s_dir, FG_JOURNAL_FILE);
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

static uint8_t *
s_blob (uint32_t round)
{
    uint8_t *b = malloc (BLOB_SIZE);
    assert_non_null (b);
    for (size_t i = 0; i < BLOB_SIZE; i++)
        b [i] = (uint8_t) (i * 31 + round * 7);
    return b;
}

//  Opens round, stores one update, commits it; returns commit's code.
static int
s_round (fg_journal_t *j, uint32_t round, fg_error_t *err)
{
    fg_journal_assignment_t a [1] = { { 0, 10, 1 } };
    uint32_t included [1] = { 0 };
    fg_journal_update_t u = { .round = round, .shard = 0, .attempt = 1, .node = 10,
                              .samples = 100 };
    uint8_t *blob = s_blob (round);
    if (fg_journal_round_open (j, round, a, 1, err)
    ||  fg_journal_put_update (j, &u, NULL, 0, blob, 500, NULL, err))
        fail_msg ("round %u: %s", round, err->msg);
    fg_journal_metrics_t m = { 1, 100, 1.0, 1.0, 0.5, 10 };
    int rc = fg_journal_commit_round (j, round, blob, BLOB_SIZE, &m, included, 1, a, 1, err);
    free (blob);
    return rc;
}

static void
s_rounds (fg_journal_t *j, uint32_t from, uint32_t to)
{
    fg_error_t err;
    for (uint32_t r = from; r <= to; r++)
        if (s_round (j, r, &err))
            fail_msg ("commit %u: %s", r, err.msg);
}

static fg_jdb_mark_t
s_mark_read (void)
{
    fg_jdb_mark_t m;
    fg_error_t err;
    if (fg_jdb_mark_read (s_dir, &m, &err))
        fail_msg ("mark: %s", err.msg);
    return m;
}

static char *
s_read (const char *path, size_t *size)
{
    char *text = NULL;
    fg_error_t err;
    int rc = fg_file_read (path, (size_t) 1 << 30, &text, size, &err);
    if (rc)
        print_error ("%s\n", err.msg);
    assert_int_equal (rc, 0);
    return text;
}

static void
s_write (const char *path, const char *data, size_t size)
{
    fg_error_t err;
    if (fg_file_write_atomic (path, data, size, 0644, 0, &err))
        fail_msg ("%s", err.msg);
}

static uint64_t
s_u64 (const uint8_t *p)
{
    uint64_t v;
    memcpy (&v, p, 8);
    return v;
}

//  Lowers the newer meta page's transaction id below the older one's by
//  clearing its highest set bit (one byte changes), as a damaged sector
//  would: LMDB then reads the older meta page. Returns the newer txnid.
static uint64_t
s_flip_newer_meta (void)
{
    size_t size;
    uint8_t *data = (uint8_t *) s_read (s_data, &size);
    uint32_t psize;
    memcpy (&psize, data + 40, 4);          //  the free database's pad: the page size
    assert_true (psize >= 4096 && size >= 2 * (size_t) psize);
    size_t at0 = 144, at1 = psize + 144;    //  page header 16 + txnid at 128
    uint64_t t0 = s_u64 (data + at0), t1 = s_u64 (data + at1);
    size_t at = t1 > t0? at1: at0;
    uint64_t newer = t1 > t0? t1: t0, older = t1 > t0? t0: t1;
    int bit = 63;
    while (!(newer >> bit & 1))
        bit--;
    uint64_t lowered = newer & ~((uint64_t) 1 << bit);
    assert_true (lowered < older);
    memcpy (data + at, &lowered, 8);
    FILE *f = fopen (s_data, "r+b");
    assert_non_null (f);
    assert_int_equal (fwrite (data, 1, size, f), size);
    assert_int_equal (fclose (f), 0);
    free (data);
    return newer;
}

static void
s_verify_ok (void)
{
    fg_test_journal_verify_ok (s_dir);
}

static uint32_t
s_last (fg_journal_t *j)
{
    uint32_t last = 0;
    fg_error_t err;
    if (fg_journal_last_round (j, &last, &err))
        fail_msg ("%s", err.msg);
    return last;
}

//  --------------------------------------------------------------------------

static void
test_commit_writes_mark (void **state)
{
    (void) state;
    fg_journal_t *j = s_open ();
    struct stat st;
    assert_int_not_equal (stat (s_mark, &st), 0);   //  no round yet, no mark
    s_rounds (j, 1, 2);
    fg_jdb_mark_t m = s_mark_read ();
    assert_int_equal (m.round, 2);
    assert_true (m.txnid > 0);
    assert_int_equal (m.weights_size, BLOB_SIZE);
    uint8_t *blob = s_blob (2);
    assert_int_equal (m.weights_crc, fg_jrec_crc (blob, BLOB_SIZE));
    //  the mark's SHA-256 of the blob is kept for the caller, for the round
    //  it names only (the coordinator serves that blob next)
    uint8_t digest [FG_SHA256_SIZE], kept [FG_SHA256_SIZE];
    char hex [2 * FG_SHA256_SIZE + 1];
    fg_sha256 (blob, BLOB_SIZE, digest);
    fg_sha256_hex (digest, hex);
    assert_string_equal (m.weights_sha256, hex);
    assert_int_equal (fg_journal_weights_sha256 (j, 2, kept), 0);
    assert_memory_equal (kept, digest, FG_SHA256_SIZE);
    assert_int_equal (fg_journal_weights_sha256 (j, 1, kept), FG_ENOENT);
    assert_int_equal (fg_journal_weights_sha256 (j, 3, kept), FG_ENOENT);
    free (blob);
    char experiment [33];
    fg_error_t err;
    assert_int_equal (fg_journal_meta (j, NULL, experiment, NULL, &err), 0);
    assert_string_equal (m.experiment, experiment);
    fg_journal_close (&j);
    s_verify_ok ();
}

static void
test_meta_rollback_refused (void **state)
{
    (void) state;
    fg_journal_t *j = s_open ();
    s_rounds (j, 1, 3);
    fg_journal_close (&j);
    uint64_t newer = s_flip_newer_meta ();
    assert_int_equal (s_mark_read ().txnid, newer);     //  the commit was the last txn

    //  The writer: refused, naming both rounds and what to do.
    fg_error_t err;
    assert_int_equal (fg_journal_open (s_dir, CONFIG_A, HASH_A, false, &j, &err), FG_EMISMATCH);
    assert_null (j);
    assert_non_null (strstr (err.msg, "committed rounds up to 2"));
    assert_non_null (strstr (err.msg, "says round 3 was committed"));
    assert_non_null (strstr (err.msg, "Restore the journal from a backup"));
    //  Readers (status, dump, export): refused the same way.
    assert_int_equal (fg_journal_open_readonly (s_dir, &j, &err), FG_EMISMATCH);
    assert_null (j);
    assert_non_null (strstr (err.msg, "says round 3 was committed"));
    //  verify: one problem, under the mark's name.
    fg_test_reports_t r = { .n = 0 };
    size_t problems = 0;
    assert_int_equal (fg_journal_verify (s_dir, fg_test_report_collect, &r, &problems, &err), FG_EMISMATCH);
    assert_int_equal (problems, 1);
    assert_string_equal (r.keys [0], FG_JOURNAL_MARK_FILE);
    assert_non_null (strstr (r.msgs [0], "committed rounds up to 2"));
    //  The way out the message names: remove the mark, resume from round 2.
    assert_int_equal (unlink (s_mark), 0);
    j = s_open ();
    assert_int_equal (s_last (j), 2);
    assert_int_equal (s_mark_read ().round, 2);
    s_rounds (j, 3, 3);
    fg_journal_close (&j);
    assert_int_equal (s_mark_read ().round, 3);
    s_verify_ok ();
}

static void
test_crash_window (void **state)
{
    (void) state;
    //  A crash between round 2's commit and its mark: the mark says 1.
    fg_journal_t *j = s_open ();
    s_rounds (j, 1, 1);
    size_t size;
    char *mark1 = s_read (s_mark, &size);
    s_rounds (j, 2, 2);
    fg_journal_close (&j);
    s_write (s_mark, mark1, size);
    //  The journal ahead of its mark is sound: readers, verify, the writer.
    s_verify_ok ();
    fg_error_t err;
    assert_int_equal (fg_journal_open_readonly (s_dir, &j, &err), 0);
    assert_int_equal (s_last (j), 2);
    fg_journal_close (&j);
    assert_int_equal (s_mark_read ().round, 1);     //  readers never write it
    j = s_open ();
    assert_int_equal (s_mark_read ().round, 2);     //  the writer brings it up to date
    fg_journal_close (&j);
    //  A crash inside the mark's own write leaves its temporary file: ignored.
    char tmp [400];
    snprintf (tmp, sizeof tmp, "%s.tmp.99999", s_mark);
    s_write (tmp, "fedgrid journal mark 1\nexperi", 29);
    j = s_open ();
    s_rounds (j, 3, 3);
    fg_journal_close (&j);
    assert_int_equal (s_mark_read ().round, 3);
    s_verify_ok ();
    free (mark1);
}

static void
test_old_experiment (void **state)
{
    (void) state;
    fg_journal_t *j = s_open ();
    s_rounds (j, 1, 2);
    fg_journal_close (&j);
    //  An experiment written before the mark: readers open it, the writer
    //  creates the mark from the journal.
    assert_int_equal (unlink (s_mark), 0);
    s_verify_ok ();
    fg_error_t err;
    assert_int_equal (fg_journal_open_readonly (s_dir, &j, &err), 0);
    fg_journal_close (&j);
    struct stat st;
    assert_int_not_equal (stat (s_mark, &st), 0);
    j = s_open ();
    fg_journal_close (&j);
    fg_jdb_mark_t m = s_mark_read ();
    assert_int_equal (m.round, 2);
    uint8_t *blob = s_blob (2);
    assert_int_equal (m.weights_crc, fg_jrec_crc (blob, BLOB_SIZE));
    free (blob);
    s_verify_ok ();
}

static void
test_damaged_mark (void **state)
{
    (void) state;
    fg_journal_t *j = s_open ();
    s_rounds (j, 1, 1);
    fg_journal_close (&j);
    size_t size;
    char *text = s_read (s_mark, &size);
    assert_non_null (strstr (text, "round 1"));
    size_t at = (size_t) (strstr (text, "round 1") - text);
    text [at + 6] = '7';                    //  "round 7": the check line disagrees
    s_write (s_mark, text, size);
    fg_error_t err;
    assert_int_equal (fg_journal_open (s_dir, CONFIG_A, HASH_A, false, &j, &err), FG_ECHECKSUM);
    assert_non_null (strstr (err.msg, "journal.mark is damaged"));
    assert_non_null (strstr (err.msg, "fedctl journal verify"));
    assert_int_equal (fg_journal_open_readonly (s_dir, &j, &err), FG_ECHECKSUM);
    fg_test_reports_t r = { .n = 0 };
    size_t problems = 0;
    assert_int_equal (fg_journal_verify (s_dir, fg_test_report_collect, &r, &problems, &err), FG_ECHECKSUM);
    assert_int_equal (problems, 1);
    assert_string_equal (r.keys [0], FG_JOURNAL_MARK_FILE);
    //  Cut short, and not a mark at all.
    s_write (s_mark, text, size / 2);
    assert_int_equal (fg_journal_open (s_dir, CONFIG_A, HASH_A, false, &j, &err), FG_EFORMAT);
    s_write (s_mark, "", 0);
    assert_int_equal (fg_journal_open (s_dir, CONFIG_A, HASH_A, false, &j, &err), FG_EFORMAT);
    free (text);
}

static void
test_other_experiment (void **state)
{
    (void) state;
    fg_journal_t *j = s_open ();
    s_rounds (j, 1, 2);
    fg_journal_close (&j);
    size_t size;
    char *mark = s_read (s_mark, &size);
    //  The same configuration started again in this folder: another
    //  experiment id, so the old mark is not its witness.
    fg_test_rmtree (s_dir);
    assert_int_equal (mkdir (s_dir, 0755), 0);
    j = s_open ();
    s_rounds (j, 1, 3);
    fg_journal_close (&j);
    s_write (s_mark, mark, size);
    fg_error_t err;
    assert_int_equal (fg_journal_open (s_dir, CONFIG_A, HASH_A, false, &j, &err), FG_EMISMATCH);
    assert_non_null (strstr (err.msg, "of experiment"));
    free (mark);
}

static void
test_journal_missing (void **state)
{
    (void) state;
    fg_journal_t *j = s_open ();
    s_rounds (j, 1, 2);
    fg_journal_close (&j);
    //  The journal gone, its mark left: never a silent new experiment.
    char lock [400];
    snprintf (lock, sizeof lock, "%s-lock", s_data);
    assert_int_equal (unlink (s_data), 0);
    unlink (lock);
    fg_error_t err;
    assert_int_equal (fg_journal_open (s_dir, CONFIG_A, HASH_A, true, &j, &err), FG_EMISMATCH);
    assert_non_null (strstr (err.msg, "is missing, but"));
    assert_non_null (strstr (err.msg, "says round 2 was committed"));
    struct stat st;
    assert_int_not_equal (stat (s_data, &st), 0);   //  nothing created
    //  Empty, beside its mark: refused before LMDB sees it.
    s_write (s_data, "", 0);
    assert_int_equal (fg_journal_open (s_dir, CONFIG_A, HASH_A, true, &j, &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, "is empty"));
    assert_non_null (strstr (err.msg, "fedctl start NEW"));
    assert_int_equal (stat (s_data, &st), 0);
    assert_int_equal (st.st_size, 0);
}

static void
test_mark_write_fails (void **state)
{
    (void) state;
    fg_journal_t *j = s_open ();
    s_rounds (j, 1, 1);
    //  The mark's temporary file cannot be created (a folder in its way).
    char tmp [400];
    snprintf (tmp, sizeof tmp, "%s.tmp.%ld", s_mark, (long) getpid ());
    assert_int_equal (mkdir (tmp, 0755), 0);
    fg_error_t err;
    int rc = s_round (j, 2, &err);
    assert_int_equal (rc, FG_EIO);
    assert_non_null (strstr (err.msg, "round 2 is committed, but its mark cannot be written"));
    assert_non_null (strstr (err.msg, "journal.mark: cannot write"));
    assert_non_null (strstr (err.msg, "Is a directory"));
    assert_int_equal (s_last (j), 2);               //  the round stays committed
    assert_int_equal (s_mark_read ().round, 1);
    uint8_t digest [FG_SHA256_SIZE];                //  no mark, no kept digest
    assert_int_equal (fg_journal_weights_sha256 (j, 2, digest), FG_ENOENT);
    assert_int_equal (fg_journal_weights_sha256 (j, 1, digest), FG_ENOENT);
    fg_journal_close (&j);
    assert_int_equal (rmdir (tmp), 0);
    s_verify_ok ();                                 //  one behind: sound
    j = s_open ();
    assert_int_equal (s_mark_read ().round, 2);
    fg_journal_close (&j);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_commit_writes_mark, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_meta_rollback_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_crash_window, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_old_experiment, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_damaged_mark, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_other_experiment, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_journal_missing, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_mark_write_fails, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
