/*  fg_test_journal.h — what the journal's test programs share (test_journal,
    test_journal_mark): a journal of one test configuration opened or
    failing the test, verify expected sound, and verify's reports kept for
    assertions. Linked into those programs only (lib/journal.mk).        */

#ifndef FG_TEST_JOURNAL_H_INCLUDED
#define FG_TEST_JOURNAL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include "fg_journal.h"

#define FG_TEST_HASH_A   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define FG_TEST_CONFIG_A "[experiment]\nseed = 1\n"

//  Opens (creating) the journal of dir with FG_TEST_CONFIG_A / _HASH_A for
//  writing; a failure fails the test with its message.
fg_journal_t *
    fg_test_journal_open (const char *dir);

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
