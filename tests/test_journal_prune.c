/*  test_journal_prune.c — update retention in the journal: the updates and
    loss curves of committed rounds are deleted by later commits (keep the
    last U rounds, 0, a raised and a lowered value with its 64-round
    catch-up), the open round's never; meta/pruned survives a reopen and a
    resume continues from it; verify reports pruned rounds as pruned and
    finds a stray update or loss curve in a pruned round, a watermark ahead
    of the commits, a damaged watermark, and a missing update of a round
    that was not pruned; a crash between any two writes of a pruning
    commit leaves the previous state (nothing pruned); freed pages are
    reused, so the file stops growing; the PRUNED record's decoder.     */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fg_journal.h"
#include "fg_journal_internal.h"
#include "fg_test_journal.h"
#include "fg_test_util.h"

static char s_dir [256];

static int
s_setup (void **state)
{
    (void) state;
    assert_int_equal (fg_test_tmpdir ("fg-test-journal-prune", s_dir, sizeof s_dir), 0);
    return 0;
}

static int
s_teardown (void **state)
{
    (void) state;
    fg_test_rmtree (s_dir);
    return 0;
}

#define s_blob fg_test_blob

static const float s_curve [3] = { 2.0f, 1.5f, 1.0f };

static void
s_put_update (fg_journal_t *j, uint32_t round, uint32_t shard, size_t size)
{
    fg_test_journal_put_update (j, round, shard, size, s_curve, 3);
}

//  Opens round and stores the updates of shards 0..2 (update_size bytes).
static void
s_open_round (fg_journal_t *j, uint32_t round, size_t update_size)
{
    fg_journal_assignment_t a [3] = { { 0, 10, 1 }, { 1, 11, 1 }, { 2, 12, 1 } };
    fg_error_t err;
    if (fg_journal_round_open (j, round, a, 3, &err))
        fail_msg ("round_open %u: %s", round, err.msg);
    for (uint32_t s = 0; s < 3; s++)
        s_put_update (j, round, s, update_size);
}

static int
s_commit (fg_journal_t *j, uint32_t round, size_t weights_size, fg_error_t *err)
{
    fg_journal_assignment_t a [3] = { { 0, 10, 1 }, { 1, 11, 1 }, { 2, 12, 1 } };
    uint32_t included [3] = { 0, 1, 2 };
    uint8_t *blob = s_blob (round, weights_size);
    fg_journal_metrics_t m = { 3, 300, 1.0, 1.0, 0.5, 1000 };
    int rc = fg_journal_commit_round (j, round, blob, weights_size, &m, included, 3, a, 3, err);
    free (blob);
    return rc;
}

static void
s_round (fg_journal_t *j, uint32_t round, size_t update_size, size_t weights_size)
{
    s_open_round (j, round, update_size);
    fg_error_t err;
    if (s_commit (j, round, weights_size, &err))
        fail_msg ("commit %u: %s", round, err.msg);
}

static size_t
s_updates_of (fg_journal_t *j, uint32_t round)
{
    uint32_t *shards;
    size_t count;
    fg_error_t err;
    if (fg_journal_update_shards (j, round, &shards, &count, &err))
        fail_msg ("update_shards %u: %s", round, err.msg);
    free (shards);
    return count;
}

static uint32_t
s_pruned (fg_journal_t *j)
{
    uint32_t through = 99;
    fg_error_t err;
    if (fg_journal_pruned (j, &through, &err))
        fail_msg ("pruned: %s", err.msg);
    return through;
}

//  Rounds 1..through have no update and no loss curve left; the later
//  ones up to last hold all three with their curves and blobs.
static void
s_expect_pruned (fg_journal_t *j, uint32_t through, uint32_t last)
{
    assert_int_equal (s_pruned (j), through);
    for (uint32_t r = 1; r <= last; r++) {
        assert_int_equal (s_updates_of (j, r), r <= through? 0: 3);
        fg_journal_update_t u;
        float *loss = NULL;
        size_t nloss = 0;
        void *blob = NULL;
        size_t size = 0;
        fg_error_t err;
        int rc = fg_journal_get_update (j, r, 1, &u, &loss, &nloss, &blob, &size, &err);
        if (r <= through) {
            assert_int_equal (rc, FG_ENOENT);
            assert_non_null (strstr (err.msg, "pruned"));
        }
        else {
            assert_int_equal (rc, 0);
            assert_int_equal (nloss, 3);
            uint8_t *want = s_blob (r * 1000 + 1, size);
            assert_memory_equal (blob, want, size);
            free (want);
        }
        free (loss);
        free (blob);
        //  the round itself and its metrics stay
        fg_journal_metrics_t m;
        assert_int_equal (fg_journal_metrics_get (j, r, &m, &err), 0);
    }
}

static void
s_raw (const char *db, const void *key, size_t ksize, const void *value, size_t vsize)
{
    fg_test_journal_raw (s_dir, db, key, ksize, value, vsize);
}

static void *
s_raw_get (const char *db, const void *key, size_t ksize, size_t *vsize)
{
    return fg_test_journal_raw_get (s_dir, db, key, ksize, vsize);
}

static void
s_key (uint8_t *k, uint32_t round, uint32_t shard)
{
    fg_jdb_put_be32 (k, round);
    fg_jdb_put_be32 (k + 4, shard);
}

//  --------------------------------------------------------------------------
//  Retention of updates

static void
test_keep_last_rounds (void **state)
{
    (void) state;
    fg_journal_t *j = fg_test_journal_open (s_dir);
    fg_error_t err;
    assert_int_equal (fg_journal_set_update_retention (j, -1, &err), FG_ERANGE);
    //  Not set: nothing is pruned (the library's default).
    s_round (j, 1, 500, 1000);
    s_round (j, 2, 500, 1000);
    s_expect_pruned (j, 0, 2);
    //  U = 1: each commit keeps its own round's updates, prunes the one before.
    assert_int_equal (fg_journal_set_update_retention (j, 1, &err), 0);
    s_round (j, 3, 500, 1000);
    s_expect_pruned (j, 2, 3);
    s_round (j, 4, 500, 1000);
    s_expect_pruned (j, 3, 4);
    //  The open round is never pruned, whatever U.
    s_open_round (j, 5, 500);
    assert_int_equal (s_updates_of (j, 5), 3);
    fg_journal_close (&j);
    fg_test_journal_verify_ok (s_dir);

    //  A reopen (a resume) knows the watermark: U = 0 prunes round 4 and the
    //  round it commits, and the resumed open round's updates are all there.
    j = fg_test_journal_open (s_dir);
    assert_int_equal (s_pruned (j), 3);
    assert_int_equal (s_updates_of (j, 5), 3);
    assert_int_equal (fg_journal_set_update_retention (j, 0, &err), 0);
    if (s_commit (j, 5, 1000, &err))
        fail_msg ("commit 5: %s", err.msg);
    s_expect_pruned (j, 5, 5);
    //  A raised U prunes nothing until the rounds pass it.
    assert_int_equal (fg_journal_set_update_retention (j, 3, &err), 0);
    for (uint32_t r = 6; r <= 8; r++) {
        s_round (j, r, 500, 1000);
        s_expect_pruned (j, 5, r);
    }
    s_round (j, 9, 500, 1000);
    s_expect_pruned (j, 6, 9);
    //  The event says what each commit pruned.
    bool said = false;
    fg_journal_close (&j);
    assert_int_equal (fg_journal_open_readonly (s_dir, &j, &err), 0);
    char *text = NULL;
    size_t tsize = 0;
    FILE *out = open_memstream (&text, &tsize);
    assert_int_equal (fg_journal_dump (j, out, &err), 0);
    fclose (out);
    said = strstr (text, "round 9 committed") && strstr (text, "updates of round 6 pruned (3, ")
        && strstr (text, "updates of rounds 1..6 pruned");
    free (text);
    assert_true (said);
    fg_journal_close (&j);
    fg_test_journal_verify_ok (s_dir);
}

//  A lowered U (or a first run with pruning over an old journal) catches
//  up 64 rounds per commit.
static void
test_catch_up (void **state)
{
    (void) state;
    fg_journal_t *j = fg_test_journal_open (s_dir);
    fg_error_t err;
    for (uint32_t r = 1; r <= 70; r++)
        s_round (j, r, 40, 100);
    s_expect_pruned (j, 0, 70);
    assert_int_equal (fg_journal_set_update_retention (j, 2, &err), 0);
    s_round (j, 71, 40, 100);                   //  target 69: 1..64 now
    s_expect_pruned (j, 64, 71);
    fg_test_journal_verify_ok (s_dir);
    s_round (j, 72, 40, 100);                   //  65..70
    s_expect_pruned (j, 70, 72);
    fg_journal_close (&j);
    fg_test_journal_verify_ok (s_dir);
}

//  --------------------------------------------------------------------------
//  Verify: pruned is not missing, and what must not be

static void
test_verify_pruned (void **state)
{
    (void) state;
    fg_journal_t *j = fg_test_journal_open (s_dir);
    fg_error_t err;
    assert_int_equal (fg_journal_set_update_retention (j, 1, &err), 0);
    for (uint32_t r = 1; r <= 4; r++)
        s_round (j, r, 300, 800);
    fg_journal_close (&j);
    fg_test_journal_verify_ok (s_dir);           //  rounds 1..3 pruned: not a problem
    uint8_t k [8];
    size_t psize;
    void *pruned = s_raw_get ("meta", "pruned", 6, &psize);

    //  An update (and a loss curve) left in a pruned round.
    s_key (k, 4, 2);
    size_t usize, lsize;
    void *update = s_raw_get ("updates", k, 8, &usize);
    void *loss = s_raw_get ("metrics", k, 8, &lsize);
    //  rewrite it as round 2's: the record must agree with its key
    fg_jrec_update_t u;
    assert_int_equal (fg_jrec_decode_update (update, usize, true, &u, &err), 0);
    fg_journal_update_t head = u.head;
    head.round = 2;
    fg_jrec_encode_update (update, usize, &head);
    fg_jrec_loss_t l;
    assert_int_equal (fg_jrec_decode_loss (loss, lsize, &l, &err), 0);
    float points [3];
    memcpy (points, l.points, sizeof points);
    fg_jrec_encode_loss (loss, lsize, 2, 2, points, 3);
    s_key (k, 2, 2);
    s_raw ("updates", k, 8, update, usize);
    s_raw ("metrics", k, 8, loss, lsize);
    fg_test_reports_t r = { .n = 0 };
    size_t problems;
    assert_int_equal (fg_journal_verify (s_dir, fg_test_report_collect, &r, &problems, &err),
                      FG_ESTATE);
    assert_int_equal (problems, 2);
    assert_true (fg_test_reported_as (&r, "updates/2/2", "were pruned"));
    assert_true (fg_test_reported_as (&r, "metrics/2/2", "were pruned"));
    //  the resume check refuses it too
    assert_int_equal (fg_journal_open (s_dir, FG_TEST_CONFIG_A, FG_TEST_HASH_A, false, &j, &err),
                      FG_ESTATE);
    assert_non_null (strstr (err.msg, "damaged"));
    s_raw ("updates", k, 8, NULL, 0);
    s_raw ("metrics", k, 8, NULL, 0);
    fg_test_journal_verify_ok (s_dir);

    //  Without the watermark, the pruned rounds' updates are missing.
    s_raw ("meta", "pruned", 6, NULL, 0);
    memset (&r, 0, sizeof r);
    assert_int_equal (fg_journal_verify (s_dir, fg_test_report_collect, &r, &problems, &err),
                      FG_ESTATE);
    assert_int_equal (problems, 9);             //  3 rounds x 3 shards
    assert_true (fg_test_reported_as (&r, "rounds/1", "included shard 0 has no update"));
    assert_true (fg_test_reported_as (&r, "rounds/3", "included shard 2 has no update"));

    //  A watermark ahead of the last committed round.
    uint8_t rec [FG_JREC_SIZE_PRUNED];
    fg_jrec_encode_pruned (rec, sizeof rec, 5);
    s_raw ("meta", "pruned", 6, rec, sizeof rec);
    memset (&r, 0, sizeof r);
    assert_int_not_equal (fg_journal_verify (s_dir, fg_test_report_collect, &r, &problems,
                                             &err), 0);
    assert_true (fg_test_reported_as (&r, "meta/pruned", "the last committed round is 4"));
    assert_true (fg_test_reported_as (&r, "updates/4/0", "were pruned"));

    //  A damaged watermark: its CRC.
    ((uint8_t *) pruned) [8] ^= 0x01;
    s_raw ("meta", "pruned", 6, pruned, psize);
    memset (&r, 0, sizeof r);
    assert_int_not_equal (fg_journal_verify (s_dir, fg_test_report_collect, &r, &problems,
                                             &err), 0);
    assert_true (fg_test_reported (&r, "meta/pruned", FG_ECHECKSUM));
    assert_int_equal (fg_journal_open (s_dir, FG_TEST_CONFIG_A, FG_TEST_HASH_A, false, &j, &err),
                      FG_ECHECKSUM);
    assert_non_null (strstr (err.msg, "meta/pruned"));
    //  Restored, all is well again.
    ((uint8_t *) pruned) [8] ^= 0x01;
    s_raw ("meta", "pruned", 6, pruned, psize);
    fg_test_journal_verify_ok (s_dir);
    //  A missing update of a round that was not pruned is still found.
    s_key (k, 4, 0);
    s_raw ("updates", k, 8, NULL, 0);
    memset (&r, 0, sizeof r);
    assert_int_equal (fg_journal_verify (s_dir, fg_test_report_collect, &r, &problems, &err),
                      FG_ESTATE);
    assert_true (fg_test_reported_as (&r, "rounds/4", "included shard 0 has no update"));
    free (pruned);
    free (update);
    free (loss);
}

//  --------------------------------------------------------------------------
//  A crash between any two writes of a pruning commit

typedef struct {
    bool     armed;
    uint64_t base;
    uint64_t fail_at;                   //  relative, from 1; 0: never
    char     labels [32][48];           //  the writes seen since arming
    size_t   nlabels;
} hook_t;

static int
s_hook (const char *label, uint64_t n, void *arg)
{
    hook_t *h = (hook_t *) arg;
    if (!h->armed) {
        h->armed = true;
        h->base = n - 1;
        h->nlabels = 0;
    }
    uint64_t seen = n - h->base;
    if (h->nlabels < 32)
        snprintf (h->labels [h->nlabels++], sizeof h->labels [0], "%s", label);
    return h->fail_at && seen == h->fail_at? EIO: 0;
}

//  Round 3 open with its updates, 1..2 committed, round 1 pruned.
static void
s_expect_before (fg_journal_t *j)
{
    uint32_t last;
    fg_error_t err;
    assert_int_equal (fg_journal_last_round (j, &last, &err), 0);
    assert_int_equal (last, 2);
    s_expect_pruned (j, 1, 2);
    assert_int_equal (s_updates_of (j, 3), 3);
    void *w;
    size_t size;
    assert_int_equal (fg_journal_get_weights (j, 3, false, NULL, &w, &size, &err), FG_ENOENT);
}

static void
test_crash_between_writes (void **state)
{
    (void) state;
    fg_journal_t *j = fg_test_journal_open (s_dir);
    fg_error_t err;
    assert_int_equal (fg_journal_set_update_retention (j, 1, &err), 0);
    assert_int_equal (fg_journal_set_retention (j, 1, 0, &err), 0);
    s_round (j, 1, 200, 600);
    s_round (j, 2, 200, 600);
    s_open_round (j, 3, 200);
    hook_t hook = { 0 };
    fg_journal_set_write_hook (j, s_hook, &hook);
    uint64_t k;
    for (k = 1; ; k++) {
        hook.armed = false;
        hook.fail_at = k;
        int rc = s_commit (j, 3, 600, &err);
        if (rc == 0)
            break;
        assert_int_equal (rc, FG_EIO);
        assert_true (k <= 16);
        //  nothing of the commit: not the round, not the pruning
        s_expect_before (j);
        fg_journal_close (&j);
        fg_test_journal_verify_ok (s_dir);
        j = fg_test_journal_open (s_dir);
        assert_int_equal (fg_journal_set_update_retention (j, 1, &err), 0);
        assert_int_equal (fg_journal_set_retention (j, 1, 0, &err), 0);
        fg_journal_set_write_hook (j, s_hook, &hook);
        s_expect_before (j);
    }
    //  weights, metrics, round, retention (weights/2), 3 updates and their
    //  3 loss curves of round 2, meta/pruned, event
    assert_int_equal (k - 1, 12);
    assert_string_equal (hook.labels [3], "commit_round:retention");
    assert_string_equal (hook.labels [4], "commit_round:prune-update");
    assert_string_equal (hook.labels [7], "commit_round:prune-loss");
    assert_string_equal (hook.labels [10], "commit_round:pruned");
    assert_string_equal (hook.labels [11], "commit_round:event");
    s_expect_pruned (j, 2, 3);
    fg_journal_close (&j);
    fg_test_journal_verify_ok (s_dir);
}

//  --------------------------------------------------------------------------
//  Space: freed pages are reused, the file stops growing

static void
test_space_bounded (void **state)
{
    (void) state;
    fg_journal_t *j = fg_test_journal_open (s_dir);
    fg_error_t err;
    assert_int_equal (fg_journal_set_update_retention (j, 1, &err), 0);
    assert_int_equal (fg_journal_set_retention (j, 2, 0, &err), 0);
    fg_journal_space_t sp;
    uint64_t pages_at [41] = { 0 };
    //  3 updates of 64 KB and a checkpoint of 128 KB per round
    for (uint32_t r = 1; r <= 40; r++) {
        s_round (j, r, 65536, 131072);
        assert_int_equal (fg_journal_space (j, &sp, &err), 0);
        pages_at [r] = sp.pages;
        assert_true (sp.free_pages < sp.pages);
        assert_true (sp.file_bytes >= sp.pages * sp.page_size);
    }
    //  What the journal holds after round r: 2 checkpoints and 1 round of
    //  updates (~0.45 MB) and the small records of every round (round,
    //  metrics, events: ~1 KB a round, never deleted). The file holds a
    //  few rounds' worth more (a freed page is reused once no snapshot
    //  needs it), and it grows by a checkpoint's 33 pages now and then:
    //  a blob needs contiguous free pages, and the small records that
    //  keep coming fragment the free list. Here (deterministic: one
    //  process, the same writes) 1,257,472 bytes at round 20 and
    //  1,392,640 at round 40; without pruning, 40 x 192 KB more.
    uint64_t grown = (pages_at [40] - pages_at [20]) * sp.page_size;
    assert_true (grown < (uint64_t) 20 * 3 * 65536 / 10);
    assert_true (pages_at [40] * sp.page_size < (uint64_t) 3 << 20);
    //  Without pruning it grows by 3 x 64 KB a round.
    fg_journal_close (&j);
    fg_test_rmtree (s_dir);
    assert_int_equal (fg_test_tmpdir ("fg-test-journal-prune", s_dir, sizeof s_dir), 0);
    j = fg_test_journal_open (s_dir);
    assert_int_equal (fg_journal_set_retention (j, 2, 0, &err), 0);
    for (uint32_t r = 1; r <= 40; r++)
        s_round (j, r, 65536, 131072);
    assert_int_equal (fg_journal_space (j, &sp, &err), 0);
    assert_true (sp.pages * sp.page_size > (uint64_t) 40 * 3 * 65536);
    fg_journal_close (&j);
}

//  --------------------------------------------------------------------------
//  The PRUNED record

static void
test_decoder (void **state)
{
    (void) state;
    uint8_t buf [FG_JREC_SIZE_PRUNED + 4];
    fg_error_t err;
    fg_jrec_pruned_t p;
    assert_int_equal (fg_jrec_encode_pruned (buf, FG_JREC_SIZE_PRUNED - 1, 7), 0);
    size_t n = fg_jrec_encode_pruned (buf, sizeof buf, 7);
    assert_int_equal (n, FG_JREC_SIZE_PRUNED);
    assert_int_equal (fg_jrec_decode_pruned (buf, n, &p, &err), 0);
    assert_int_equal (p.through, 7);
    //  every damage is refused with its reason
    assert_int_equal (fg_jrec_decode_pruned (buf, n - 1, &p, &err), FG_EFORMAT);
    buf [n] = 0;
    assert_int_equal (fg_jrec_decode_pruned (buf, n + 1, &p, &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, "stray"));
    buf [9] ^= 1;
    assert_int_equal (fg_jrec_decode_pruned (buf, n, &p, &err), FG_ECHECKSUM);
    buf [9] ^= 1;
    uint8_t schema [FG_JREC_SIZE_SCHEMA];
    fg_jrec_encode_schema (schema, sizeof schema, 1);
    assert_int_equal (fg_jrec_decode_pruned (schema, sizeof schema, &p, &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, "kind 1 (schema)"));
    assert_int_equal (fg_jrec_kind (buf, n), FG_JREC_PRUNED);
    fg_jrec_encode_pruned (buf, sizeof buf, 0);
    assert_int_equal (fg_jrec_decode_pruned (buf, n, &p, &err), FG_EFORMAT);
    assert_non_null (strstr (err.msg, "not a round"));
    fg_jrec_encode_pruned (buf, sizeof buf, UINT32_MAX);
    assert_int_equal (fg_jrec_decode_pruned (buf, n, &p, &err), FG_EFORMAT);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_keep_last_rounds, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_catch_up, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_verify_pruned, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_crash_between_writes, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_space_bounded, s_setup, s_teardown),
        cmocka_unit_test (test_decoder),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
