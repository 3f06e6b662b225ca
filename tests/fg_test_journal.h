/*  fg_test_journal.h — what the journal's test programs share (test_journal,
    test_journal_mark, test_journal_prune): a journal of one test
    configuration opened or failing the test, test blobs, raw LMDB access
    to break a journal, verify expected sound, and verify's reports kept
    for assertions. Linked into those programs only (lib/journal.mk).        */

#ifndef FG_TEST_JOURNAL_H_INCLUDED
#define FG_TEST_JOURNAL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "fg_journal.h"

#define FG_TEST_HASH_A   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define FG_TEST_CONFIG_A "[experiment]\nseed = 1\n"

//  Opens (creating) the journal of dir with FG_TEST_CONFIG_A / _HASH_A for
//  writing; a failure fails the test with its message.
fg_journal_t *
    fg_test_journal_open (const char *dir);

//  size bytes that are a function of (tag, i): distinct per record.
//  Caller frees.
uint8_t *
    fg_test_blob (uint32_t tag, size_t size);

//  Stores the update of (round, shard): attempt 1 by node shard + 10, 100
//  samples, the loss curve given, a blob of size bytes fg_test_blob
//  (round * 1000 + shard, size); a failure fails the test.
void
    fg_test_journal_put_update (fg_journal_t *j, uint32_t round, uint32_t shard, size_t size,
                                const float *curve, size_t ncurve);

//  Raw LMDB access to dir's journal, to break it on purpose: puts value
//  under db/key, or deletes db/key when value is NULL.
void
    fg_test_journal_raw (const char *dir, const char *db, const void *key, size_t ksize,
                         const void *value, size_t vsize);

//  A copy of the value of db/key in dir's journal (it must exist; caller
//  frees).
void *
    fg_test_journal_raw_get (const char *dir, const char *db, const void *key, size_t ksize,
                             size_t *vsize);

//  fg_journal_verify of dir must find no problem (else the test fails).
void
    fg_test_journal_verify_ok (const char *dir);

//  The first 16 problems verify reported (fg_test_report_collect is the
//  fg_journal_report_fn; arg is the fg_test_reports_t).
typedef struct {
    char   keys [16][64];
    int    codes [16];
    char   msgs [16][512];
    size_t n;
} fg_test_reports_t;

void
    fg_test_report_collect (const char *key, int code, const char *message, void *arg);

//  Whether key was reported with a message containing words / with code.
bool
    fg_test_reported_as (const fg_test_reports_t *r, const char *key, const char *words);
bool
    fg_test_reported (const fg_test_reports_t *r, const char *key, int code);

#endif
