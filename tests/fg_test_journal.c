/*  fg_test_journal.c — helpers of the journal's tests (fg_test_journal.h). */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
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
