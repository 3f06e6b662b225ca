/*  test_error.c — error codes and messages.                              */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "fg_error.h"
#include "fedgrid.h"

static void
test_strerror_names_every_code (void **state)
{
    for (int code = 0; code >= FG_ECODE_MIN; code--) {
        const char *name = fg_strerror (code);
        assert_non_null (name);
        assert_string_not_equal (name, "unknown error");
    }
    assert_string_equal (fg_strerror (1), "unknown error");
    assert_string_equal (fg_strerror (FG_ECODE_MIN - 1), "unknown error");
    assert_string_equal (fg_strerror (FG_ECHECKSUM), "checksum mismatch");
}

static void
test_set_returns_code_and_formats (void **state)
{
    fg_error_t err;
    assert_int_equal (fg_error_set (&err, FG_ERANGE, "%s:%d: too big", "a.toml", 12), FG_ERANGE);
    assert_int_equal (err.code, FG_ERANGE);
    assert_string_equal (err.msg, "a.toml:12: too big");
    //  NULL err is allowed: the code still comes back
    assert_int_equal (fg_error_set (NULL, FG_EIO, "x"), FG_EIO);
}

static void
test_long_message_is_truncated_with_ellipsis (void **state)
{
    fg_error_t err;
    char big [2 * FG_ERROR_MSG_MAX];
    memset (big, 'x', sizeof big - 1);
    big [sizeof big - 1] = '\0';
    fg_error_set (&err, FG_EINVAL, "%s", big);
    assert_int_equal (strlen (err.msg), FG_ERROR_MSG_MAX - 1);
    assert_string_equal (err.msg + FG_ERROR_MSG_MAX - 4, "...");
}

static void
test_prefix_adds_context (void **state)
{
    fg_error_t err;
    fg_error_set (&err, FG_ECHECKSUM, "tensor 3 'fc.weight'");
    fg_error_prefix (&err, "journal round %d", 7);
    assert_string_equal (err.msg, "journal round 7: tensor 3 'fc.weight'");
    assert_int_equal (err.code, FG_ECHECKSUM);
    fg_error_prefix (NULL, "ignored");
    fg_error_clear (&err);
    assert_int_equal (err.code, FG_OK);
    assert_string_equal (err.msg, "");
}

static void
test_version (void **state)
{
    assert_string_equal (fg_version (), "0.1.0");
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_strerror_names_every_code),
        cmocka_unit_test (test_set_returns_code_and_formats),
        cmocka_unit_test (test_long_message_is_truncated_with_ellipsis),
        cmocka_unit_test (test_prefix_adds_context),
        cmocka_unit_test (test_version),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
