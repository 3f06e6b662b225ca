/*  test_crash.c — crash points kill the process on the n-th pass, and only
    then; bad FEDGRID_CRASH values are refused with a clear message.      */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fg_crash.h"

//  Runs `passes` passes of point in a child with FEDGRID_CRASH=spec;
//  returns the number of passes survived, or -1 if killed by SIGKILL.
static int
s_child (const char *spec, const char *point, int passes)
{
    int fds [2];
    assert_int_equal (pipe (fds), 0);
    pid_t pid = fork ();
    assert_true (pid >= 0);
    if (pid == 0) {
        close (fds [0]);
        setenv ("FEDGRID_CRASH", spec, 1);
        for (int i = 0; i < passes; i++) {
            fg_crash_point (point);
            char byte = 1;
            if (write (fds [1], &byte, 1) != 1)
                _exit (3);
        }
        _exit (0);
    }
    close (fds [1]);
    int survived = 0;
    char byte;
    while (read (fds [0], &byte, 1) == 1)
        survived++;
    close (fds [0]);
    int status;
    assert_int_equal (waitpid (pid, &status, 0), pid);
    if (WIFSIGNALED (status) && WTERMSIG (status) == SIGKILL)
        return -1 - survived;
    assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    return survived;
}

static void
test_dies_on_the_nth_pass (void **state)
{
    assert_int_equal (s_child ("test.alpha:3", "test.alpha", 5), -1 - 2);
    assert_int_equal (s_child ("test.alpha:1", "test.alpha", 5), -1 - 0);
    //  another point, or a later pass than reached: no death
    assert_int_equal (s_child ("test.beta:1", "test.alpha", 5), 5);
    assert_int_equal (s_child ("test.alpha:9", "test.alpha", 5), 5);
    //  several points armed at once
    assert_int_equal (s_child ("test.alpha:9,test.beta:2", "test.beta", 5), -1 - 1);
}

static void
test_bad_specs_are_refused_and_ignored (void **state)
{
    fg_error_t err;
    assert_int_equal (fg_crash_parse ("test.alpha:2", &err), 0);
    assert_int_equal (fg_crash_parse ("", &err), 0);
    assert_int_equal (fg_crash_parse ("nope:1", &err), FG_EINVAL);
    assert_non_null (strstr (err.msg, "unknown crash point 'nope'"));
    assert_int_equal (fg_crash_parse ("test.alpha", &err), FG_EINVAL);
    assert_int_equal (fg_crash_parse ("test.alpha:0", &err), FG_EINVAL);
    assert_int_equal (fg_crash_parse ("test.alpha:2x", &err), FG_EINVAL);
    //  a bad value never kills: the process warns and runs on
    assert_int_equal (s_child ("test.alpha:x", "test.alpha", 3), 3);
}

static void
test_table_lists_points (void **state)
{
    size_t n = 0;
    const char *description;
    for (const char *name; (name = fg_crash_point_name (n, &description)); n++) {
        assert_true (strlen (name) > 0);
        assert_true (strlen (description) > 0);
    }
    assert_true (n >= 4);
    assert_null (fg_crash_point_name (n, NULL));
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_dies_on_the_nth_pass),
        cmocka_unit_test (test_bad_specs_are_refused_and_ignored),
        cmocka_unit_test (test_table_lists_points),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
