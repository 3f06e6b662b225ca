/*  test_file.c — whole-file reads, atomic writes, mkdir -p.              */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fg_file.h"
#include "fg_test_util.h"

static char s_dir [64];

static int
s_setup (void **state)
{
    return fg_test_tmpdir ("fg-test-file", s_dir, sizeof s_dir);
}

static int
s_teardown (void **state)
{
    return fg_test_rmtree (s_dir);
}

static void
test_write_then_read (void **state)
{
    char path [128];
    snprintf (path, sizeof path, "%s/a.txt", s_dir);
    fg_error_t err;
    assert_int_equal (fg_file_write_atomic (path, "hello", 5, 0644, 1, &err), 0);
    char *data;
    size_t size;
    assert_int_equal (fg_file_read (path, 100, &data, &size, &err), 0);
    assert_int_equal (size, 5);
    assert_string_equal (data, "hello");
    free (data);
    //  exclusive refuses to replace; non-exclusive replaces
    assert_int_equal (fg_file_write_atomic (path, "x", 1, 0644, 1, &err), FG_EEXIST);
    assert_int_equal (fg_file_write_atomic (path, "bye", 3, 0644, 0, &err), 0);
    assert_int_equal (fg_file_read (path, 100, &data, &size, &err), 0);
    assert_string_equal (data, "bye");
    free (data);
    //  no temporary file is left behind
    DIR *d = opendir (s_dir);
    struct dirent *e;
    int files = 0;
    while ((e = readdir (d)))
        files += e->d_name [0] != '.';
    closedir (d);
    assert_int_equal (files, 1);
}

static void
test_read_errors_name_the_file (void **state)
{
    char path [128];
    fg_error_t err;
    char *data;
    size_t size;
    snprintf (path, sizeof path, "%s/missing", s_dir);
    assert_int_equal (fg_file_read (path, 100, &data, &size, &err), FG_ENOENT);
    assert_non_null (strstr (err.msg, path));
    assert_null (data);
    snprintf (path, sizeof path, "%s/big", s_dir);
    assert_int_equal (fg_file_write_atomic (path, "0123456789", 10, 0644, 0, &err), 0);
    assert_int_equal (fg_file_read (path, 9, &data, &size, &err), FG_ERANGE);
    assert_non_null (strstr (err.msg, "10 bytes"));
    assert_int_equal (fg_file_read (s_dir, 100, &data, &size, &err), FG_EIO);
}

static void
test_write_into_missing_dir_fails_cleanly (void **state)
{
    char path [128];
    fg_error_t err;
    snprintf (path, sizeof path, "%s/no/such/file", s_dir);
    assert_int_equal (fg_file_write_atomic (path, "x", 1, 0644, 0, &err), FG_EIO);
    assert_non_null (strstr (err.msg, "create temporary file"));
}

static void
test_mkdirs (void **state)
{
    char path [128];
    fg_error_t err;
    snprintf (path, sizeof path, "%s/a/b/c", s_dir);
    assert_int_equal (fg_file_mkdirs (path, &err), 0);
    assert_int_equal (fg_file_mkdirs (path, &err), 0);        //  idempotent
    struct stat st;
    assert_int_equal (stat (path, &st), 0);
    assert_true (S_ISDIR (st.st_mode));
    snprintf (path, sizeof path, "%s/file", s_dir);
    assert_int_equal (fg_file_write_atomic (path, "x", 1, 0644, 0, &err), 0);
    assert_int_equal (fg_file_mkdirs (path, &err), FG_EIO);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_write_then_read, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_read_errors_name_the_file, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_write_into_missing_dir_fails_cleanly, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_mkdirs, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
