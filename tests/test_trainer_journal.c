/*  test_trainer_journal.c — a trainer's own journal (fg_tjournal): the unit
    checkpoint put, replaced, read back and deleted; an unacknowledged
    result that outlives the process; a value larger than the map grows
    it; a damaged file (truncated, foreign) refused before it is mapped,
    an empty one taken as a new journal.                                  */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fg_file.h"
#include "fg_test_util.h"
#include "fg_trainer_journal.h"

static char s_tmp [256];

static int
s_setup (void **state)
{
    (void) state;
    return fg_test_tmpdir ("fg-test-tjournal", s_tmp, sizeof s_tmp);
}

static int
s_teardown (void **state)
{
    (void) state;
    return fg_test_rmtree (s_tmp);
}

//  A fresh folder under s_tmp.
static const char *
s_dir (const char *name)
{
    static char path [512];
    snprintf (path, sizeof path, "%s/%s", s_tmp, name);
    mkdir (path, 0755);
    return path;
}

static void
s_expect (fg_tjournal_t *j, const char *key, const void *want, size_t size)
{
    uint8_t *data;
    size_t got;
    fg_error_t err;
    if (fg_tjournal_get (j, key, &data, &got, &err))
        fail_msg ("get %s: %s", key, err.msg);
    assert_int_equal (got, size);
    assert_memory_equal (data, want, size);
    free (data);
}

static void
s_expect_absent (fg_tjournal_t *j, const char *key)
{
    uint8_t *data;
    size_t got;
    fg_error_t err;
    assert_int_equal (fg_tjournal_get (j, key, &data, &got, &err), FG_ENOENT);
    assert_null (data);
    assert_int_equal (got, 0);
    assert_non_null (strstr (err.msg, key));
}

static void
test_checkpoint (void **state)
{
    (void) state;
    fg_error_t err;
    fg_tjournal_t *j = fg_tjournal_open (s_dir ("unit"), &err);
    assert_non_null (j);
    s_expect_absent (j, "unit");
    assert_int_equal (fg_tjournal_put (j, "unit", "epoch 1", 7, &err), 0);
    s_expect (j, "unit", "epoch 1", 7);
    assert_int_equal (fg_tjournal_put (j, "unit", "epoch 2!", 8, &err), 0);     //  replaced
    s_expect (j, "unit", "epoch 2!", 8);
    assert_int_equal (fg_tjournal_put (j, "unit", NULL, 0, &err), 0);           //  empty value
    s_expect (j, "unit", "", 0);
    assert_int_equal (fg_tjournal_del (j, "unit", &err), 0);
    s_expect_absent (j, "unit");
    assert_int_equal (fg_tjournal_del (j, "unit", &err), 0);                    //  absent: fine
    fg_tjournal_close (&j);
    assert_null (j);
    fg_tjournal_close (&j);                                                     //  NULL-safe
}

//  A result put by one process is found by the next (kill -9 loses no
//  commit), until it is deleted once acknowledged.
static void
test_unacknowledged_result (void **state)
{
    (void) state;
    const char *dir = s_dir ("result");
    uint8_t result [3000];
    for (size_t i = 0; i < sizeof result; i++)
        result [i] = (uint8_t) (i * 7 + 3);
    fflush (NULL);
    pid_t pid = fork ();
    assert_true (pid >= 0);
    if (pid == 0) {
        fg_tjournal_t *j = fg_tjournal_open (dir, NULL);
        if (!j || fg_tjournal_put (j, "unit", "u", 1, NULL)
        ||  fg_tjournal_put (j, "result", result, sizeof result, NULL))
            _exit (1);
        kill (getpid (), SIGKILL);                      //  no close, no exit
        _exit (2);
    }
    int status;
    assert_int_equal (waitpid (pid, &status, 0), pid);
    assert_true (WIFSIGNALED (status));
    fg_error_t err;
    fg_tjournal_t *j = fg_tjournal_open (dir, &err);
    assert_non_null (j);
    s_expect (j, "result", result, sizeof result);
    s_expect (j, "unit", "u", 1);
    assert_int_equal (fg_tjournal_del (j, "result", &err), 0);                  //  acknowledged
    fg_tjournal_close (&j);
    j = fg_tjournal_open (dir, &err);
    assert_non_null (j);
    s_expect_absent (j, "result");
    fg_tjournal_close (&j);
}

static void
test_map_growth (void **state)
{
    (void) state;
    fg_error_t err;
    fg_tjournal_t *j = fg_tjournal_open_ex (s_dir ("grow"), 64 << 10, &err);
    assert_non_null (j);
    size_t size = (size_t) 3 << 20;
    uint8_t *big = malloc (size);
    assert_non_null (big);
    for (size_t i = 0; i < size; i++)
        big [i] = (uint8_t) (i >> 7);
    assert_int_equal (fg_tjournal_put (j, "unit", big, size, &err), 0);
    s_expect (j, "unit", big, size);
    fg_tjournal_close (&j);
    j = fg_tjournal_open_ex (s_dir ("grow"), 64 << 10, &err);                   //  reopened
    assert_non_null (j);
    s_expect (j, "unit", big, size);
    fg_tjournal_close (&j);
    free (big);
}

static void
test_damaged_file (void **state)
{
    (void) state;
    fg_error_t err;
    const char *dir = s_dir ("damaged");
    char path [600];
    snprintf (path, sizeof path, "%s/trainer.lmdb", dir);
    fg_tjournal_t *j = fg_tjournal_open (dir, &err);
    assert_non_null (j);
    uint8_t value [20000];
    memset (value, 0x5a, sizeof value);
    assert_int_equal (fg_tjournal_put (j, "unit", value, sizeof value, &err), 0);
    fg_tjournal_close (&j);
    char *whole;
    size_t size;
    assert_int_equal (fg_file_read (path, (size_t) 1 << 30, &whole, &size, &err), 0);
    //  truncated to 8 KiB: refused (it would crash LMDB), naming the file
    assert_int_equal (fg_file_write_atomic (path, whole, 8192, 0644, 0, &err), 0);
    assert_null (fg_tjournal_open (dir, &err));
    assert_int_equal (err.code, FG_EFORMAT);
    assert_non_null (strstr (err.msg, "trainer.lmdb is truncated"));
    //  another kind of file
    assert_int_equal (fg_file_write_atomic (path, "not lmdb at all", 15, 0644, 0, &err), 0);
    assert_null (fg_tjournal_open (dir, &err));
    assert_int_equal (err.code, FG_EFORMAT);
    assert_non_null (strstr (err.msg, "not an LMDB file"));
    //  empty: a new journal (its contents can always be recomputed)
    assert_int_equal (fg_file_write_atomic (path, "", 0, 0644, 0, &err), 0);
    j = fg_tjournal_open (dir, &err);
    assert_non_null (j);
    s_expect_absent (j, "unit");
    fg_tjournal_close (&j);
    //  no such folder
    assert_null (fg_tjournal_open ("/nonexistent/fg-cache", &err));
    assert_int_equal (err.code, FG_ENOENT);
    assert_non_null (strstr (err.msg, "trainer.lmdb"));
    free (whole);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_checkpoint),
        cmocka_unit_test (test_unacknowledged_result),
        cmocka_unit_test (test_map_growth),
        cmocka_unit_test (test_damaged_file),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
