/*  fg_test_util.h — what the unit tests share: a fresh temporary folder
    and its recursive removal, the process's minor page faults. Linked into every test program (Makefile.am:
    tests/libfgtest.la in LDADD).                                          */

#ifndef FG_TEST_UTIL_H_INCLUDED
#define FG_TEST_UTIL_H_INCLUDED

#include <stddef.h>

//  Makes a new, empty folder $TMPDIR/NAME-XXXXXX (/tmp when TMPDIR is
//  unset or empty) and writes its path to dir (size bytes). Returns 0, or
//  -1 when the path does not fit in dir or the folder cannot be made
//  (errno set).
int
    fg_test_tmpdir (const char *name, char *dir, size_t size);

//  Removes path and everything under it, never following a symbolic
//  link. Returns 0, or -1 when something could not be removed.
int
    fg_test_rmtree (const char *path);

//  Minor page faults of this process so far (getrusage): tests count
//  them around code that must not allocate fresh memory.
long
    fg_test_minor_faults (void);

//  Runs a cmocka program's tests (run: its cmocka_run_group_tests call)
//  so that a skipped test reads as TAP's "ok N # SKIP": cmocka 1.1.5
//  prints "not ok N # SKIP", which automake's tap-driver counts as a
//  failure. Under CMOCKA_MESSAGE_OUTPUT=TAP the tests run in a child whose
//  output is passed through with that line rewritten; otherwise run () is
//  called directly. Returns run's exit status.
int
    fg_test_run_tap (int (*run) (void));

#endif
