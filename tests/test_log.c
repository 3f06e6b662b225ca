/*  test_log.c — levels, sink, NO_COLOR.                                  */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fg_error.h"
#include "fg_log.h"

typedef struct { int calls; fg_log_level_t level; char line [256]; } s_capture_t;

static void
s_sink (fg_log_level_t level, const char *line, void *arg)
{
    s_capture_t *capture = (s_capture_t *) arg;
    capture->calls++;
    capture->level = level;
    snprintf (capture->line, sizeof capture->line, "%s", line);
}

static void
test_level_filters (void **state)
{
    s_capture_t capture = { 0 };
    fg_log_set_sink (s_sink, &capture);
    fg_log_set_level (FG_LOG_WARN);
    fg_info ("hidden %d", 1);
    assert_int_equal (capture.calls, 0);
    fg_warn ("shown %d", 2);
    assert_int_equal (capture.calls, 1);
    assert_int_equal (capture.level, FG_LOG_WARN);
    assert_string_equal (capture.line, "shown 2");
    fg_log_set_level (FG_LOG_TRACE);
    fg_trace ("deep");
    assert_int_equal (capture.calls, 2);
    fg_log_set_sink (NULL, NULL);
}

static void
test_level_parse (void **state)
{
    fg_log_level_t level = FG_LOG_INFO;
    assert_int_equal (fg_log_level_parse ("debug", &level), 0);
    assert_int_equal (level, FG_LOG_DEBUG);
    assert_int_equal (fg_log_level_parse ("loud", &level), FG_EINVAL);
    assert_int_equal (level, FG_LOG_DEBUG);
    assert_int_equal (fg_log_level_parse (NULL, &level), FG_EINVAL);
}

static void
test_no_color_is_respected (void **state)
{
    setenv ("NO_COLOR", "1", 1);
    assert_false (fg_log_color_allowed (0));
    assert_false (fg_log_color_allowed (2));
    unsetenv ("NO_COLOR");
    //  not a terminal under make check: still no colour
    int fd = fileno (tmpfile ());
    assert_false (fg_log_color_allowed (fd));
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_level_filters),
        cmocka_unit_test (test_level_parse),
        cmocka_unit_test (test_no_color_is_respected),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
